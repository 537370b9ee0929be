#!/bin/bash
# copytruncate with a writer without O_APPEND: the writer goes on at its old offset, leaving a
# hole of NUL bytes (here 1 MiB, more than the maximum line) before its next line. The NUL run
# is padding: the line after it is counted, nothing is overlong, in the agent and in scan.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 100
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
cp "$LOG" "$LOG.1"
: > "$LOG"
gen 100 100 | tee -a "$T/written.log" |
    dd of="$LOG" bs=1M seek=1 conv=notrunc status=none
[ "$(stat -c %s "$LOG")" -gt 1048576 ] || fail "no hole written"
wait_exact 10
[ "$(metric overlong)" = 0 ] || fail "overlong lines counted by the agent: $(metric overlong)"
"$SMTPMON" scan --format json "$LOG" > "$T/scan.json" || fail "scan failed"
[ "$(jq .overlong "$T/scan.json")" = 0 ] || fail "scan counted overlong lines"
[ "$(jq .lines "$T/scan.json")" = 100 ] || fail "scan counted $(jq .lines "$T/scan.json") lines"
stop_agent
exit 0
