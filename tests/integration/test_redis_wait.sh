#!/bin/bash
# Redis: wait_replicas = 1. Each batch leaves the agent only once a replica holds it (WAIT).
# With the replica stopped (SIGSTOP) the master applies the batches but WAIT comes back short:
# the agent says so once, keeps the batches and sends them again every second (the script
# acknowledges a repeat as DUP). When the replica runs again everything is acknowledged and the
# counts are exact: nothing lost, nothing doubled.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

REPLICA_PID=
trap '_hrc=$?; [ -n "$REPLICA_PID" ] && kill -CONT "$REPLICA_PID" 2>/dev/null &&
    kill -9 "$REPLICA_PID" 2>/dev/null; (exit $_hrc); _redis_cleanup' EXIT
start_redis
mkdir "$T/replica"
for _try in 1 2 3 4 5; do
    RPORT=$(free_port)
    redis-server --port "$RPORT" --bind 127.0.0.1 --replicaof 127.0.0.1 "$REDIS_PORT" \
        --save '' --appendonly no --dir "$T/replica" > "$T/replica.log" 2>&1 &
    REPLICA_PID=$!
    wait_for 10 "rcli INFO replication | grep -q '^connected_slaves:1' || ! kill -0 $REPLICA_PID" &&
        kill -0 "$REPLICA_PID" 2>/dev/null && break
    kill -9 "$REPLICA_PID" 2>/dev/null
    REPLICA_PID=
done
[ -n "$REPLICA_PID" ] || fail "the replica did not start: $(tail -n 5 "$T/replica.log")"

LOG=$T/mail.log
append "$LOG" 0 500
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
sed -i "/^\[redis\]/a wait_replicas = 1" "$T/smtpmon.conf"
"$SMTPMON" -n -f "$T/smtpmon.conf" > /dev/null || fail "configuration refused"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20

kill -STOP "$REPLICA_PID"
append "$LOG" 500 500
wait_for 20 "grep -q 'is held by 0 of 1 replicas' '$AGENT_ERR'" || fail "no word of the short WAIT"
wait_for 20 "grep -q 'was already committed (DUP)' '$AGENT_ERR'" || fail "the batch was not sent again"
[ "$(grep -c 'is held by 0 of 1 replicas' "$AGENT_ERR")" = 1 ] || fail "the short WAIT was logged more than once"
kill -CONT "$REPLICA_PID"
wait_query_exact 30
wait_for 20 "grep -q 'replicas hold the commits again' '$AGENT_ERR'" || fail "no word of the recovery"
stop_agent
exit 0
