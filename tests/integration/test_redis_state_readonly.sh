#!/bin/bash
# B5: the state directory stops being writable (disk full, EROFS, a wrong mode) while the agent
# commits to Redis. Counting goes on, because the cursor in Redis is the authority and the local
# state file only a hint; the failed writes are logged with errno, not once per batch; nothing
# crashes; a restart resumes from the Redis cursor and every line is counted exactly once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need setpriv
[ "$(id -u)" = 0 ] || skip "needs root to run the agent as user nobody"

start_redis
LOG=$T/mail.log
append "$LOG" 0 300
chmod 644 "$LOG"
mkdir "$T/state"
chown nobody:nogroup "$T/state" "$T/cred" "$T/cred/redis-password"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
chmod 644 "$T/smtpmon.conf"
chmod 755 "$T"
copy_for_nobody
run_agent() {
    AGENT_N=$((AGENT_N + 1))
    AGENT_ERR=$T/agent$AGENT_N.err
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMTPMON_REAL" \
        -f "$T/smtpmon.conf" 2>"$AGENT_ERR" &
    AGENT_PID=$!
    wait_for 10 "grep -q 'agent: id=.* started' '$AGENT_ERR'" || fail "agent did not start"
}
run_agent
wait_query_exact 20
[ -n "$(ls "$T/state"/*.cursor 2>/dev/null)" ] || fail "no local state hint written"

chmod 500 "$T/state"
for i in 1 2 3 4 5; do
    append "$LOG" $((300 + (i - 1) * 200)) 200
    wait_query_exact 20
done
grep -q "state.*Permission denied" "$AGENT_ERR" ||
    fail "state write failure not logged: $(grep -i state "$AGENT_ERR" | tail -3)"
[ "$(grep -c 'state.*Permission denied' "$AGENT_ERR")" -le 2 ] ||
    fail "state write failure logged for every batch"
kill -0 "$AGENT_PID" || fail "the agent died"
stop_agent

# The hint on disk is old now; Redis holds the truth.
append "$LOG" 1300 100
run_agent
wait_query_exact 20
stop_agent
exit 0
