#!/bin/bash
# A Redis Cluster whose masters close the agent's connections (CLIENT KILL TYPE normal on each,
# three times): the agent ([redis] cluster = yes, its own slot and the fleet's on different
# masters) connects again to every master and calls the scripts by their SHAs, loaded once a
# master (SCRIPT LOAD calls in INFO commandstats of the masters do not grow); every line is
# counted exactly once.
. "$(dirname "$0")/lib.sh"
need jq

start_cluster 3
export SMTPMON_REDIS_BACKOFF_MAX_MS=300
# an agent id whose slot is not on the master of the fleet's
fleet_master=$(cluster_master_of "$(cluster_slot fleet)")
for i in $(seq 1 50); do
    id=rc$i
    [ "$(cluster_master_of "$(cluster_slot "$id")")" != "$fleet_master" ] && break
done
LOG=$T/mail.log
append "$LOG" 0 300
write_conf "$T/smtpmon.conf" "[redis]" "url = redis://127.0.0.1:$CLUSTER_SEED" "cluster = yes" \
    "cluster_seeds = $(printf '127.0.0.1:%s ' $CLUSTER_PORTS)" \
    "timeout = 2s" "connect_timeout = 1s" "[agent]" "agent_id = $id" "[source mail]" "path = $LOG"
sed -i '/^output = /d' "$T/smtpmon.conf"
cluster_redis_conf > "$T/r.conf"

lines() {
    "$SMTPMON" query -f "$T/r.conf" "$@" --format json 2>/dev/null | jq -r '.lines // 0'
}
exact() {
    _n=$(wc -l < "$T/written.log")
    wait_for 30 "[ \"\$(lines --agent $id)\" = $_n ] && [ \"\$(lines --fleet)\" = $_n ]" ||
        fail "$1: Redis holds $(lines --agent "$id") (fleet $(lines --fleet)) of $_n lines"
    "$SMTPMON" scan --format json "$T/written.log" | jq -S . > "$T/scan.json"
    "$SMTPMON" query -f "$T/r.conf" --agent "$id" --format json | jq -S . > "$T/query.json"
    diff "$T/scan.json" "$T/query.json" > /dev/null || fail "$1: query differs from scan"
    echo "ok $1" >&2
}
loads() {
    _s=0
    for _p in $CLUSTER_PORTS; do
        _c=$(cluster_cli "$_p" INFO commandstats | tr -d '\r' |
            sed -n 's/^cmdstat_script|load:calls=\([0-9]*\),.*/\1/p')
        _s=$((_s + ${_c:-0}))
    done
    echo "$_s"
}

start_agent -f "$T/smtpmon.conf"
exact "first commits"
l0=$(loads)
n=300
for k in 1 2 3; do
    again=$(grep -c 'redis: connected again' "$AGENT_ERR")
    for p in $CLUSTER_PORTS; do
        cluster_cli "$p" CLIENT KILL TYPE normal > /dev/null
    done
    append "$LOG" "$n" 1 # (a commit finds the connections closed)
    n=$((n + 1))
    wait_for 10 "[ \$(grep -c 'redis: connected again' '$AGENT_ERR') -gt $again ]" ||
        fail "kill $k: the agent did not connect again"
    append "$LOG" "$n" 100
    n=$((n + 100))
    exact "connections closed, $k"
done
l1=$(loads)
echo "SCRIPT LOAD on the masters: $l0 after the first connection, $l1 after 3 reconnections" >&2
[ "$l1" = "$l0" ] || fail "SCRIPT LOAD went from $l0 to $l1 over 3 reconnections"
stop_agent
exit 0
