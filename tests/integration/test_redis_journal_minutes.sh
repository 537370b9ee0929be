#!/bin/bash
# Redis: per-minute buckets are exact for a journal source too, across a kill -9. Entries of a
# dozen log minutes (1 to 97 each, with entries of other identifiers between them) are in the
# journal before the agent starts, so that without the minute rule one batch would span several
# minutes. Each minute hash holds exactly the entries of its minute, and every entry is counted
# once, also when the agent is killed with the last minute read but not committed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need_journal

start_redis
base=$(( $(date +%s) / 60 * 60 - 20 * 60 ))
# The schedule: "minute_epoch count" per minute, 1..97 entries each.
awk -v base="$base" 'BEGIN { srand(11); for (m = 0; m < 12; m++) printf "%d %d\n", base + 60 * m, 1 + int(rand() * 97) }' \
    > "$T/minutes"
total=$(awk '{ s += $2 } END { print s }' "$T/minutes")
gen 0 "$total" > "$T/written.log"
# Journal export format: entry i gets a time inside its minute; a cron entry after every 10th.
awk -v sched="$T/minutes" 'BEGIN {
        n = 0
        while ((getline line < sched) > 0) { split(line, f, " "); for (j = 0; j < f[2]; j++) { t[n] = f[1]; k[n] = j; c[n] = f[2]; n++ } }
    }
    {
        i = NR - 1
        us = (t[i] + int(k[i] * 59 / c[i])) * 1000000 + i
        prog = $5; sub(/\[.*/, "", prog)
        msg = $0; sub(/^[^]]*\]: /, "", msg)
        printf "__REALTIME_TIMESTAMP=%.0f\n__MONOTONIC_TIMESTAMP=%d\n", us, i + 1
        printf "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx1\n"
        printf "SYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%d\nMESSAGE=%s\n\n", prog, 100 + i % 900, msg
        if (i % 10 == 0) {
            printf "__REALTIME_TIMESTAMP=%.0f\n__MONOTONIC_TIMESTAMP=%d\n", us + 1, i + 1
            printf "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx1\n"
            printf "SYSLOG_IDENTIFIER=cron\nMESSAGE=(root) CMD said: 550 5.1.1 not mail\n\n"
        }
    }' "$T/written.log" > "$T/export.txt"
"$JR" --output="$T/journal/one.journal" - < "$T/export.txt" 2>/dev/null ||
    fail "systemd-journal-remote failed"

write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "batch_lines = 100000" \
    "[source j]" "type = journal" "journal_dir = $T/journal"
sed -i 's/^flush_interval = .*/flush_interval = 60s/' "$T/smtpmon.conf"
# The eleven first minutes are committed at once (each batch ends where the next minute
# starts); the last one waits for the flush. Killed then, the agent resumes after the cursor of
# the eleventh minute's last entry: the twelfth minute's entries are read again, once.
first11=$(( total - $(tail -n 1 "$T/minutes" | cut -d' ' -f2) ))
start_agent -f "$T/smtpmon.conf"
wait_for 30 "[ \"\$(query_lines)\" -ge $first11 ]" || fail "Redis holds $(query_lines) of $first11 entries"
[ "$(query_lines)" = "$first11" ] || fail "Redis holds $(query_lines) entries, expected $first11"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
start_agent -f "$T/smtpmon.conf"
wait_for 10 "grep -q 'from the saved cursor' '$AGENT_ERR'" || fail "did not resume from the cursor"
stop_agent # flushes the open batch
[ "$(query_lines)" = "$total" ] || fail "Redis holds $(query_lines) entries, written $total"

nkeys=$(rcli --scan --pattern "smtpmon:{$AGENT_ID}:c:m:*" | wc -l)
[ "$nkeys" = 12 ] || fail "expected 12 minute hashes, found $nkeys"
while read -r t0 want; do
    got=$(rcli HGET "smtpmon:{$AGENT_ID}:c:m:$t0" "m|lines")
    [ "$got" = "$want" ] || fail "minute $t0 holds $got entries, expected $want"
done < "$T/minutes"
# The agent reads the journal's own times and a line rebuilt from the entry: the counts must
# equal scan of the generated lines, their bytes and times cannot.
QUERY_FILTER='del(.bytes, .first_time, .last_time)' assert_query_is_scan
exit 0
