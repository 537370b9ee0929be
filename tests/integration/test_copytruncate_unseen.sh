#!/bin/bash
# copytruncate of lines the agent has not read, with the agent stopped by SIGSTOP so that the
# copy and the truncation happen between two of its looks (found by the model-based test):
#  1. after a restart, with only a partial line read past the saved cursor: the cursor's
#     fingerprint must still find the copy (its bytes are no longer in the read-ahead);
#  2. a file of which nothing was read yet (offset 0, no fingerprint): the rotated file born
#     since the last look is the copy, read before the file from 0;
#  3. the same, and the file then rotated by rename before the next look (copytruncate, lines,
#     then a rename rotation: found by the soak): the rotated file born since that is older than
#     it by name is the copy; the new file at the path is read after it.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"

# 1: a cursor at a line end, a partial line after it.
append "$LOG" 0 500
gen 500 1 > "$T/one"
head -c 60 "$T/one" | tee -a "$T/written.log" >> "$LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 10 '[ "$(total_lines)" -ge 500 ]' || fail "timeout: counted $(total_lines) of 500 lines"
stop_agent
start_agent -f "$T/smtpmon.conf"
sleep 0.5 # the partial line is read past the cursor
kill -STOP "$AGENT_PID"
tail -c +61 "$T/one" | tee -a "$T/written.log" >> "$LOG"
append "$LOG" 501 200
cp "$LOG" "$LOG.1"
: > "$LOG"
append "$LOG" 701 3
kill -CONT "$AGENT_PID"
wait_exact 10
grep -q "was copied before it was truncated" "$AGENT_ERR" ||
    fail "the copy was not named: $(cat "$AGENT_ERR")"

# 2: the file at path empty and read to 0; lines written and copied away between two looks.
n=$(grep -c 'opened dev=' "$AGENT_ERR")
mv "$LOG" "$LOG.0"
: > "$LOG"
wait_for 10 "[ \$(grep -c 'opened dev=' '$AGENT_ERR') -gt $n ]" ||
    fail "the new file was not opened: $(cat "$AGENT_ERR")"
wait_exact 10
sleep 1 # LOG.0 finished (rotate_wait)
rm -f "$LOG.0" "$LOG.1"
kill -STOP "$AGENT_PID"
sleep 0.05 # a later file-system time stamp than the empty file's
append "$LOG" 1000 300
cp "$LOG" "$LOG.1"
: > "$LOG"
kill -CONT "$AGENT_PID"
wait_exact 10
grep -q "changed before any of it was read" "$AGENT_ERR" ||
    fail "the copy was not named: $(cat "$AGENT_ERR")"

# 3: as 2, then mail.log.1 -> mail.log.2 and mail.log -> mail.log.1, a new mail.log.
sleep 1 # LOG.1 finished (rotate_wait)
rm -f "$LOG.1"
kill -STOP "$AGENT_PID"
sleep 0.05
append "$LOG" 2000 300
cp "$LOG" "$LOG.1"
: > "$LOG"
append "$LOG" 2300 5
mv "$LOG.1" "$LOG.2"
mv "$LOG" "$LOG.1"
append "$LOG" 2305 4
kill -CONT "$AGENT_PID"
wait_exact 10
[ "$(grep -c "changed before any of it was read" "$AGENT_ERR")" -ge 2 ] ||
    fail "the copy renamed away was not named: $(cat "$AGENT_ERR")"
stop_agent
exit 0
