#!/bin/bash
# A4: truncate -s 0, then fewer bytes than the old offset: detected, read from 0.
# A5: truncate, then more bytes than the old offset before the agent looks (agent stopped with
# SIGSTOP meanwhile): detected by the content marker, not a seek into the new content.
# B6: the file rewritten while the agent is stopped (same inode): read from the start.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 2000
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_exact 10

# A4
truncate -s 0 "$LOG"
append "$LOG" 2000 100
wait_exact 10

# A5: the agent sees neither the truncation nor the size going down.
kill -STOP "$AGENT_PID"
truncate -s 0 "$LOG"
append "$LOG" 2100 3000
kill -CONT "$AGENT_PID"
wait_exact 10
[ "$(metric truncations)" -eq 2 ] || fail "truncations metric $(metric truncations), want 2"

# B6: rewritten while stopped: same inode, other content, larger than the saved offset.
stop_agent
ino=$(stat -c %i "$LOG")
truncate -s 0 "$LOG"
append "$LOG" 5100 4000
[ "$(stat -c %i "$LOG")" = "$ino" ] || fail "inode changed"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
grep -q "truncated or replaced while stopped" "$AGENT_ERR" || fail "no message about the rewrite"
stop_agent
exit 0
