#!/bin/bash
# A copytruncate while the truncated file waits its turn, empty, behind its first copy (found
# by the soak, seed 2127217416): the agent reads the rest of the file from the copy made by a
# first copytruncate; meanwhile the copy is compressed away, lines are written to the file and a
# second copytruncate moves them into a new mail.log.1. Nothing of the file had been seen when
# it was queued (it was empty), so no fingerprint finds that copy: the rotated files born since
# it was queued are read before it, as when the same happens between two looks at the file
# being read (test_copytruncate_unseen).
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
# the agent stays on a finished copy for rotate_wait: long enough to act meanwhile
sed -i 's/^rotate_wait = .*/rotate_wait = 3s/' "$T/smtpmon.conf"

append "$LOG" 0 300
start_agent -f "$T/smtpmon.conf"
wait_exact 10

# copytruncate with 20 lines not read yet: their rest is read from the copy
kill -STOP "$AGENT_PID"
append "$LOG" 300 20
cp "$LOG" "$LOG.1"
: > "$LOG"
kill -CONT "$AGENT_PID"
wait_for 10 "grep -q 'was copied before it was truncated' '$AGENT_ERR'" ||
    fail "the first copy was not named: $(cat "$AGENT_ERR")"
kill -STOP "$AGENT_PID"
grep -q "closed at offset" "$AGENT_ERR" && fail "the copy was closed before the test could act"

# while the agent is on the copy: compress it away, write to the file, copytruncate again
gzip "$LOG.1"
sleep 0.05 # a later file-system time stamp than the truncation's
append "$LOG" 320 1000
cp "$LOG" "$LOG.1"
: > "$LOG"
append "$LOG" 1320 3
kill -CONT "$AGENT_PID"
wait_exact 15
grep -q "changed before any of it was read" "$AGENT_ERR" ||
    fail "the second copy was not named: $(cat "$AGENT_ERR")"
stop_agent
exit 0
