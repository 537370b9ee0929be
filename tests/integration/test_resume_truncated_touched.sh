#!/bin/bash
# The saved cursor's file copytruncated and rotated while the agent was stopped, its copy then
# removed (all its lines were committed), and an older rotated file touched (found by the soak,
# seed 1673772126): at the start the cursor's inode is still among the rotated names, empty.
# What came after it is told by the names, not by modification times, which the touch made
# later than the cursor's: the older rotated file (read before) must not be read again.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"

append "$LOG" 0 100
start_agent -f "$T/smtpmon.conf"
wait_exact 10
# copytruncate while running: the copy (mail.log.1) holds lines the agent has read
cp "$LOG" "$LOG.1"
: > "$LOG"
append "$LOG" 100 50
wait_exact 10
sleep 0.5 # the cursor committed after the last line
stop_agent

# stopped: copytruncate, then a rotation by rename, then lines in the new file
mv "$LOG.1" "$LOG.2"
cp "$LOG" "$LOG.1"
: > "$LOG"
mv "$LOG.2" "$LOG.3"
mv "$LOG.1" "$LOG.2"
mv "$LOG" "$LOG.1"
append "$LOG" 150 10
# the copy is removed (everything in it was counted); the older rotated file is touched
rm "$LOG.2"
sleep 0.05
touch "$LOG.3"

start_agent -f "$T/smtpmon.conf"
wait_exact 10
sleep 1 # anything read twice would be counted by now
assert_exact
stop_agent
exit 0
