#!/bin/bash
# A6: the file is deleted and recreated under the same name while the agent runs (the old one
# is drained), and again while the agent is stopped, where ext4 tends to reuse the inode: a
# reused inode with other content is not mistaken for the old file.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 1000
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_exact 10

rm -f "$LOG"
append "$LOG" 1000 500
wait_exact 10

stop_agent
old_ino=$(stat -c %i "$LOG")
rm -f "$LOG"
append "$LOG" 1500 2000     # larger than the saved offset
new_ino=$(stat -c %i "$LOG")
start_agent -f "$T/smtpmon.conf"
wait_exact 10
if [ "$old_ino" = "$new_ino" ]; then
    grep -q "truncated or replaced while stopped" "$AGENT_ERR" ||
        fail "reused inode $new_ino not detected"
fi
stop_agent
exit 0
