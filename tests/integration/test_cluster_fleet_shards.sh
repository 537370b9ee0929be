#!/bin/bash
# [redis] fleet_shards on a Redis Cluster (start_cluster of lib.sh): five agents with
# fleet_shards = 4 spread the fleet's keys over the tags {fleet:0}..{fleet:3}, whose slots
# (CLUSTER KEYSLOT) are on different masters; each agent's fleet script goes to the master of
# its shard; `query --fleet` and serve's /metrics read every shard on its master and equal
# `scan` of every line written.
. "$(dirname "$0")/lib.sh"
need curl

start_cluster 3
export SMTPMON_REDIS_BACKOFF_MAX_MS=500 SMTPMON_REDIS_FLEET_SHARDS=4
masters=
for k in 0 1 2 3; do
    m=$(cluster_master_of "$(cluster_slot "fleet:$k")")
    echo "{fleet:$k}: slot $(cluster_slot "fleet:$k") on master $m" >&2
    masters="$masters $m"
done
nm=$(echo $masters | tr ' ' '\n' | sort -u | wc -l)
[ "$nm" -ge 2 ] || fail "the four shards are all on one master: $masters"

{ cluster_redis_conf; printf 'timeout = 1s\nconnect_timeout = 1s\nfleet_shards = 4\n'; } > "$T/r.conf"
PIDS=
i=0
for id in mx1 mx2 mx3 mx4 mx5; do
    i=$((i + 1))
    append "$T/$id.log" $((i * 100000)) 300
    write_conf "$T/$id.conf" "$(cat "$T/r.conf")" "[agent]" "agent_id = $id" \
        "[source mail]" "path = $T/$id.log"
    sed -i '/^output = /d; s/^state_dir = .*/state_dir = '"$(printf '%s' "$T/state-$id" | sed 's/[\/&]/\\&/g')"'/' "$T/$id.conf"
    "$SMTPMON" -f "$T/$id.conf" 2> "$T/$id.err" &
    track_pid $!
    PIDS="$PIDS $!"
done
i=0
for id in mx1 mx2 mx3 mx4 mx5; do
    i=$((i + 1))
    append "$T/$id.log" $((i * 100000 + 300)) 200
done
n=$(wc -l < "$T/written.log")
fleet_lines() {
    "$SMTPMON" query -f "$T/r.conf" --fleet --format json 2>/dev/null | jq -r '.lines // 0'
}
wait_for 40 "[ \"\$(fleet_lines)\" = $n ]" ||
    fail "query --fleet: $(fleet_lines) of $n lines: $(tail -n 3 "$T"/mx*.err)"
# mx1..mx5 hash (FNV-1a mod 4) to the shards 3, 2, 1, 0, 3
shards=0 wm=
for k in 0 1 2 3; do
    m=$(echo $masters | cut -d' ' -f$((k + 1)))
    # the key is on the master of its slot, not on another
    [ "$(cluster_cli "$m" EXISTS "smtpmon:{fleet:$k}:c:total")" = 1 ] || fail "{fleet:$k} not on master $m"
    shards=$((shards + 1)) wm="$wm $m"
done
nm=$(echo $wm | tr ' ' '\n' | sort -u | wc -l)
[ "$nm" -ge 2 ] || fail "the shards written are all on one master: $wm"
[ "$(redis-cli -c -p "$CLUSTER_SEED" EXISTS 'smtpmon:{fleet}:c:total')" = 0 ] || fail "{fleet} written"
"$SMTPMON" scan --format json "$T/written.log" | jq -S . > "$T/scan.json"
"$SMTPMON" query -f "$T/r.conf" --fleet --format json | jq -S . > "$T/fleet.json" || fail "query"
diff "$T/scan.json" "$T/fleet.json" > "$T/diff.txt" ||
    fail "query --fleet differs from scan: $(head -c 1500 "$T/diff.txt")"
echo "ok query: $n lines over $shards shards on $nm masters" >&2

SERVE_PORT=$(free_port)
"$SMTPMON" serve -f "$T/r.conf" --listen "127.0.0.1:$SERVE_PORT" 2> "$T/serve.err" &
track_pid $!
wait_for 10 "curl -sf -o /dev/null http://127.0.0.1:$SERVE_PORT/metrics" || fail "serve: $(cat "$T/serve.err")"
curl -sf "http://127.0.0.1:$SERVE_PORT/metrics" > "$T/metrics" || fail "GET /metrics"
got=$(awk '/^smtpmon_lines_total\{agent="_fleet"\}/ {print $2}' "$T/metrics")
[ "$got" = "$n" ] || fail "/metrics fleet lines: '$got', want $n"
echo "ok serve: /metrics fleet $got lines" >&2
for p in $PIDS; do
    kill "$p"
    wait "$p"
done
exit 0
