#!/bin/bash
# fallback = journal: a file source whose path names no file reads the journal (its
# identifiers and journal_dir) instead; a reload after the file appears follows the file, and a
# start after it went away reads the journal again. A switch starts the other kind as a first
# start does (read_from, head here) and goes on with the source's batch sequence.
. "$(dirname "$0")/lib.sh"
need_journal

# No file: the journal.
journal_file one 0 300
write_conf "$T/smtpmon.conf" "[source mail]" "path = $T/mail.log" "fallback = journal" \
    "journal_dir = $T/journal"
start_agent -f "$T/smtpmon.conf"
grep -q "source=mail: $T/mail.log names no file: reading the journal instead" "$AGENT_ERR" ||
    fail "no message about the journal fallback"
wait_exact 10
[ "$(jq -s -r 'last.cursor.kind' "$T/out.jsonl")" = journal ] || fail "no journal cursor"

# The file appears (rsyslog installed): a reload follows it (from its head here).
append "$T/mail.log" 300 200
kill -HUP "$AGENT_PID"
wait_for 10 "grep -q 'reload: source=mail switched from the journal to the file' '$AGENT_ERR'" ||
    fail "the reload did not switch to the file: $(tail -n 5 "$AGENT_ERR")"
grep -q "source=mail: following $T/mail.log" "$AGENT_ERR" || fail "no message about the file"
wait_exact 10
append "$T/mail.log" 500 100
wait_exact 10
stop_agent
[ "$(jq -s -r 'last.cursor.kind' "$T/out.jsonl")" = file ] || fail "no file cursor"

# One sequence across both kinds: 1, 2, 3, ... with no number twice.
jq -s -e '[.[].seq] as $s | $s == [range(1; ($s | length) + 1)]' "$T/out.jsonl" > /dev/null ||
    fail "batch sequence not 1..N: $(jq -s -c '[.[].seq]' "$T/out.jsonl")"

# The file goes away (rsyslog removed): the next start reads the journal again; the saved
# cursor, of the file, is not resumed in it.
rm "$T/mail.log"
start_agent -f "$T/smtpmon.conf"
grep -q "source=mail: $T/mail.log names no file: reading the journal instead" "$AGENT_ERR" ||
    fail "no message about the journal fallback after the restart"
grep -q 'journal: source=mail the saved cursor is in the file: reading the journal from its head' \
    "$AGENT_ERR" || fail "no message about the saved cursor of the other kind: $(tail -n 5 "$AGENT_ERR")"
stop_agent
exit 0
