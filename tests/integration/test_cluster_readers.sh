#!/bin/bash
# The commands that read Redis, on a Redis Cluster (start_cluster of lib.sh; cluster = yes in
# their configuration): counts of six agents spread over the three masters (and the fleet's)
# are read by `query` (each agent, the fleet, the list of agents found by SCAN on every
# master), `query --load-scripts` loads the scripts on every master, and `serve` exports every
# agent in /metrics; after a slot is moved to another master (MOVED to a reader whose map is
# older), the next scrape still has every agent; `alerts --follow` sees alerts published on
# every node.
. "$(dirname "$0")/lib.sh"
need curl

start_cluster 3
C() { redis-cli -c -p "$CLUSTER_SEED" "$@" > /dev/null; }
masters=
for i in 1 2 3 4 5 6; do
    C HSET "smtpmon:{h$i}:c:total" 'm|lines' "$((i * 10))" 'rp|550' "$i"
    C HSET "smtpmon:{h$i}:meta" 'g|lag_bytes|mail' "$i" updated_ms "$(($(date +%s) * 1000))"
    masters="$masters $(cluster_master_of "$(cluster_slot "h$i")")"
done
C HSET 'smtpmon:{fleet}:c:total' 'm|lines' 210 'rp|550' 21
[ "$(echo $masters | tr ' ' '\n' | sort -u | wc -l)" -ge 2 ] || fail "the agents are all on one master"
{ cluster_redis_conf; printf 'timeout = 1s\nconnect_timeout = 1s\n'; } > "$T/r.conf"

for i in 1 2 3 4 5 6; do
    got=$("$SMTPMON" query -f "$T/r.conf" --agent "h$i" --format json | jq -r '.lines')
    [ "$got" = $((i * 10)) ] || fail "query h$i: $got lines"
done
got=$("$SMTPMON" query -f "$T/r.conf" --fleet --format json | jq -r '.lines')
[ "$got" = 210 ] || fail "query --fleet: $got lines"
"$SMTPMON" query -f "$T/r.conf" --agent nobody > /dev/null 2> "$T/list.err"
[ $? = 66 ] || fail "query of an unknown agent: $(cat "$T/list.err")"
grep -q 'h1, h2, h3, h4, h5, h6$' "$T/list.err" || fail "agents listed: $(cat "$T/list.err")"
echo "ok query: six agents on $(echo $masters | tr ' ' '\n' | sort -u | wc -l) masters, the fleet, the list" >&2

"$SMTPMON" query -f "$T/r.conf" --load-scripts > "$T/shas" || fail "--load-scripts"
sha=$(awk '$1 == "commit" {print $2}' "$T/shas")
n=0
for p in $CLUSTER_PORTS; do
    cluster_cli "$p" ROLE | head -n 1 | grep -q master || continue
    [ "$(cluster_cli "$p" SCRIPT EXISTS "$sha")" = 1 ] || fail "the commit script is not on master $p"
    n=$((n + 1))
done
[ "$n" = 3 ] || fail "$n masters"
echo "ok --load-scripts: on the $n masters" >&2

SERVE_PORT=$(free_port)
"$SMTPMON" serve -f "$T/r.conf" --listen "127.0.0.1:$SERVE_PORT" 2> "$T/serve.err" &
SERVE_PID=$!
track_pid "$SERVE_PID"
B=http://127.0.0.1:$SERVE_PORT
wait_for 10 "curl -sf -o /dev/null $B/metrics || ! kill -0 $SERVE_PID" || fail "serve did not answer"
scrape_ok() {
    curl -sf --max-time 10 "$B/metrics" > "$T/body" || fail "GET /metrics: $(tail -n 3 "$T/serve.err")"
    for i in 1 2 3 4 5 6; do
        grep -qx "smtpmon_lines_total{agent=\"h$i\"} $((i * 10))" "$T/body" ||
            fail "$1: h$i: $(grep "h$i" "$T/body" | head -n 3)"
    done
}
scrape_ok "first scrape"
# move h1's slot to another master, by hand
S=$(cluster_slot h1)
SRC=$(cluster_master_of "$S")
for p in $CLUSTER_PORTS; do
    [ "$p" != "$SRC" ] && cluster_cli "$p" ROLE | head -n 1 | grep -q master && { DST=$p; break; }
done
SRC_ID=$(cluster_cli "$SRC" CLUSTER MYID) DST_ID=$(cluster_cli "$DST" CLUSTER MYID)
cluster_cli "$DST" CLUSTER SETSLOT "$S" IMPORTING "$SRC_ID" > /dev/null
cluster_cli "$SRC" CLUSTER SETSLOT "$S" MIGRATING "$DST_ID" > /dev/null
mapfile -t keys < <(cluster_cli "$SRC" CLUSTER GETKEYSINSLOT "$S" 100)
cluster_cli "$SRC" MIGRATE 127.0.0.1 "$DST" "" 0 5000 KEYS "${keys[@]}" | grep -q OK || fail MIGRATE
for p in $CLUSTER_PORTS; do
    cluster_cli "$p" ROLE | head -n 1 | grep -q master && cluster_cli "$p" CLUSTER SETSLOT "$S" NODE "$DST_ID" > /dev/null
done
wait_for 20 cluster_ok || fail "the cluster did not settle"
scrape_ok "after h1's slot moved from $SRC to $DST"
echo "ok serve: every agent in /metrics, before and after a slot moved" >&2

# alerts --follow subscribes on one master; an alert published on each of the other nodes
# reaches it (a cluster forwards PUBLISH to every node)
"$SMTPMON" alerts --follow -f "$T/r.conf" --count 6 > "$T/follow.out" 2> "$T/follow.err" &
FOLLOW=$!
track_pid "$FOLLOW"
wait_for 10 "grep -q subscribed '$T/follow.err'" || fail "alerts --follow: $(cat "$T/follow.err")"
i=0
for p in $CLUSTER_PORTS; do
    i=$((i + 1))
    cluster_cli "$p" PUBLISH "smtpmon:alerts:h$i" "{\"type\":\"alert\",\"host\":\"h$i\"}" > /dev/null
done
wait_for 10 "! kill -0 $FOLLOW 2>/dev/null" || fail "alerts --follow saw: $(cat "$T/follow.out")"
[ "$(jq -r .host "$T/follow.out" | sort | tr '\n' ' ')" = "h1 h2 h3 h4 h5 h6 " ] ||
    fail "alerts --follow printed: $(cat "$T/follow.out")"
echo "ok alerts --follow: an alert published on each of the six nodes" >&2
exit 0
