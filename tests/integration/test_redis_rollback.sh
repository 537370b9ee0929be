#!/bin/bash
# Redis C7: Redis restarted from an older snapshot loses the last commits, counts and cursor
# together. The agent's next commit is refused with GAP; it drops what it had read of that
# source, reads the committed cursor again and re-reads the lost bytes: `query` equals `scan`
# of every line and the cursor equals the file size, without restarting the agent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

# restart_redis_from_snapshot: kill -9, then start on the same port from $T/dump.rdb.
restart_redis_from_snapshot() {
    cp "$T/snap.rdb" "$T/dump.rdb"
    stop_redis
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$T" --dbfilename dump.rdb --daemonize no >> "$T/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_for 10 "rcli ping 2>/dev/null | grep -q PONG" || fail "redis-server did not restart"
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-agent $_agent > /dev/null
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-dashboard $_dash > /dev/null
    load_scripts
}

start_redis
LOG=$T/mail.log
append "$LOG" 0 1000
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
rcli SAVE > /dev/null && cp "$T/dump.rdb" "$T/snap.rdb" || fail "SAVE"
snap_off=$(committed_offset)
append "$LOG" 1000 800
wait_query_exact 20
[ "$(committed_offset)" -gt "$snap_off" ] || fail "no commit after the snapshot"
restart_redis_from_snapshot
[ "$(committed_offset)" = "$snap_off" ] || fail "the snapshot did not roll the cursor back"
append "$LOG" 1800 200
wait_query_exact 30
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"
grep -q "refused with GAP" "$AGENT_ERR" || fail "the rollback was not noticed"
kill -0 "$AGENT_PID" || fail "the agent exited"
stop_agent
exit 0
