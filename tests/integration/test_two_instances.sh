#!/bin/bash
# B8: a second agent on the same state directory refuses to start (flock on STATE_DIR/lock).
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 10
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
"$SMTPMON" -f "$T/smtpmon.conf" --output "$T/out2.jsonl" 2>"$T/second.err" &
pid2=$!
wait_for 10 "! kill -0 $pid2 2>/dev/null" || { kill -9 $pid2; fail "second instance runs"; }
wait $pid2
rc=$?
[ "$rc" != 0 ] || fail "second instance exited 0"
grep -q "is locked by another smtpmon" "$T/second.err" || fail "no lock message"
wait_exact 10
stop_agent
exit 0
