#!/bin/bash
# A journal source (sd_journal on a journal directory written by systemd-journal-remote from
# the export format): entries of the configured identifiers become syslog-like lines for the
# same pipeline, others are skipped; a restart resumes after the saved cursor (no line lost or
# repeated); entries of a journal file that appears while running are read too.
. "$(dirname "$0")/lib.sh"
JR=/lib/systemd/systemd-journal-remote
[ -x "$JR" ] || skip "needs systemd-journal-remote (apt-get install systemd-journal-remote)"

mkdir "$T/journal"
BASE=$(( $(date +%s) * 1000000 ))

# journal_file NAME START COUNT: a journal file with COUNT postfix entries and a few others.
journal_file() {
    gen "$2" "$3" | tee -a "$T/written.log" | awk -v base="$BASE" -v s="$2" '{
        i = s + NR - 1
        prog = $5; sub(/\[.*/, "", prog)
        msg = $0; sub(/^[^]]*\]: /, "", msg)
        printf "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n", base + i * 1000, i + 1
        printf "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx1\n"
        printf "SYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%d\nMESSAGE=%s\n\n", prog, 100 + i % 900, msg
        if (i % 100 == 0) {
            printf "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n", base + i * 1000 + 1, i + 1
            printf "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx1\n"
            printf "SYSLOG_IDENTIFIER=cron\nMESSAGE=(root) CMD said: 550 5.1.1 not mail\n\n"
        }
    }' > "$T/export.txt"
    "$JR" --output="$T/journal/$1.journal" - < "$T/export.txt" 2>/dev/null ||
        fail "systemd-journal-remote failed"
}

journal_file one 0 500
write_conf "$T/smtpmon.conf" "[source j]" "type = journal" "journal_dir = $T/journal"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
grep -q 'reading identifiers="postfix/\*' "$AGENT_ERR" || fail "no journal start message"
stop_agent

journal_file two 500 300
start_agent -f "$T/smtpmon.conf"
wait_exact 10
journal_file three 800 200     # appears while the agent runs
wait_exact 15
stop_agent
[ "$(jq -s 'last.cursor.kind' "$T/out.jsonl")" = '"journal"' ] || fail "no journal cursor"
exit 0
