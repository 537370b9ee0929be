#!/bin/bash
# Follows a file from the beginning; a partial last line is counted once, after its newline
# arrives, also across a restart (B3); the cursor ends at the file size.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 500
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_exact 10

append "$LOG" 500 300
wait_exact 10

# Ten lines and the head of an eleventh in one write: the ten are counted, the partial one
# is not, and the cursor stops at its start.
gen 800 10 > "$T/ten"
gen 810 1 > "$T/one"
cat "$T/ten" >> "$T/written.log"
{ cat "$T/ten"; head -c 100 "$T/one"; } >> "$LOG"
wait_for 5 "[ \$(total_lines) -ge 810 ] && \
    [ \$(jq -s 'last.cursor.offset' '$T/out.jsonl') -eq \$(( \$(stat -c %s '$LOG') - 100 )) ]" ||
    fail "cursor not at the start of the partial line"
[ "$(total_lines)" -eq 810 ] || fail "partial line counted before its newline"

# Restart with the partial line pending, then complete it: counted exactly once.
stop_agent
tail -c +101 "$T/one" >> "$LOG"
cat "$T/one" >> "$T/written.log"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
append "$LOG" 811 89
wait_exact 10
size=$(stat -c %s "$LOG")
wait_for 5 "[ \$(jq -s 'last.cursor.offset' '$T/out.jsonl') -eq $size ]" ||
    fail "last cursor offset != file size $size"
grep -q "resuming dev=" "$AGENT_ERR" || fail "second start did not resume from the cursor"
# seq numbers continue across the restart
jq -s -e '[.[].seq] | . == (sort | unique)' "$T/out.jsonl" >/dev/null || fail "seq not increasing"
stop_agent
exit 0
