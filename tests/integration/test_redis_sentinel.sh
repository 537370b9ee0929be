#!/bin/bash
# Redis Sentinel: a master A, a replica B and one sentinel (quorum 1, short timeouts). The
# agent finds the master through the sentinel ([redis] sentinels, master_name). Lines are
# written, A is killed with SIGKILL while more are written, the sentinel promotes B; the agent
# asks the sentinel again on reconnection and commits to B. Writes A acknowledged but had not
# yet replicated are lost by Redis together with their cursor: the agent's next commit gets
# GAP and it re-reads them (whether this happens depends on replication timing: the GAP path
# itself is forced in test_redis_rollback.sh; a sentinel rewrites a replica that replicates
# through a proxy, so the loss cannot be forced here). Oracle on B: query == scan of every
# line, cursor == file size.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
PA=$REDIS_PORT
PID_B= PID_S=
trap 'kill -9 $PID_B $PID_S 2>/dev/null; _redis_cleanup' EXIT
# A port found free may be taken before the server binds it: then another one is tried.
for _try in 1 2 3 4 5; do
    PB=$(free_port)
    redis-server --port "$PB" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
        --dbfilename b.rdb --replicaof 127.0.0.1 "$PA" --daemonize no > "$T/redis-b.log" 2>&1 &
    PID_B=$!
    wait_for 10 "redis-cli -p $PB ping 2>/dev/null | grep -q PONG || ! kill -0 $PID_B 2>/dev/null"
    redis-cli -p "$PB" ping 2>/dev/null | grep -q PONG && break
    kill -9 "$PID_B" 2>/dev/null
done
redis-cli -p "$PB" ping 2>/dev/null | grep -q PONG || fail "replica did not start"
# ACL users are not replicated: the same users on B.
# shellcheck disable=SC2086
redis-cli -p "$PB" ACL SETUSER smtpmon-agent $_agent | grep -q OK || fail "ACL on B"
# shellcheck disable=SC2086
redis-cli -p "$PB" ACL SETUSER smtpmon-dashboard $_dash | grep -q OK || fail "ACL on B"
load_scripts "$PB"
start_sentinel "$PA"
wait_for 10 "redis-cli -p $PB INFO replication | grep -q 'master_link_status:up'" ||
    fail "replica not linked"

LOG=$T/mail.log
append "$LOG" 0 1500
write_rconf "$T/smtpmon.conf" 1 "[source mail]" "path = $LOG"
sed -i "/^\[redis\]/a sentinels = 127.0.0.1:$PS\nmaster_name = m" "$T/smtpmon.conf"
sed -i 's/^flush_interval = .*/flush_interval = 50ms/' "$T/smtpmon.conf"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
# Keep writing while the master dies.
for i in 0 1 2 3 4 5 6 7 8 9; do
    append "$LOG" $((1500 + i * 100)) 100
    [ "$i" = 3 ] && stop_redis
    sleep 0.05
done
t0=$(date +%s%N)
wait_for 20 "[ \"\$(sentinel_master)\" = $PB ]" || fail "no failover"
echo "failover seen by the sentinel after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
append "$LOG" 2500 300
REDIS_PORT=$PB
wait_query_exact 30
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"
echo "GAPs after the failover: $(grep -c 'refused with GAP' "$AGENT_ERR")" >&2
stop_agent
exit 0
