#!/bin/bash
# A committed cursor in Redis that does not parse (seq not a number): the agent refuses to
# count that source and ends with EX_DATAERR (65) after its one cleanup, naming the source and
# the reason; nothing is committed past the bad cursor and the lock is released, so a second
# start after the cursor is repaired counts the file from the head.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
LOG=$T/mail.log
append "$LOG" 0 200
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
rcli HSET "smtpmon:{$AGENT_ID}:cursor:mail" seq not-a-number offset 0 > /dev/null

"$SMTPMON" -f "$T/smtpmon.conf" 2> "$T/bad.err" &
pid=$!
wait_for 15 "! kill -0 $pid 2>/dev/null" || { kill -9 $pid; fail "agent did not end on a malformed cursor"; }
wait $pid
rc=$?
[ "$rc" = 65 ] || fail "exit status $rc, not 65 (EX_DATAERR): $(cat "$T/bad.err")"
grep -q "source=mail refusing to start: the committed cursor is malformed" "$T/bad.err" ||
    fail "no clear error: $(cat "$T/bad.err")"
[ "$(rcli HGET "smtpmon:{$AGENT_ID}:cursor:mail" seq)" = not-a-number ] ||
    fail "the bad cursor was overwritten"

# Repaired (deleted): the next start takes the state lock again and counts every line.
rcli DEL "smtpmon:{$AGENT_ID}:cursor:mail" > /dev/null
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
stop_agent
exit 0
