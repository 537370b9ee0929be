#!/bin/bash
# serial: a Redis Cluster with a 1 s node timeout, reshards and failovers timed by the test
# Redis Cluster for real: six redis-server --cluster-enabled yes (three masters, a replica each,
# start_cluster of lib.sh). Two agents commit to it ([redis] cluster = yes, the URL a seed
# node, wait_replicas = 1) while lines keep arriving, and after each event `smtpmon query`
# (through the slot map) equals `smtpmon scan` for each agent and for the fleet, and each
# committed cursor equals its file's size:
#   1. plain commits, the agents' slots and {fleet} on three different masters;
#   2. redis-cli --cluster reshard moves the slot of the first agent's {tag} to another master,
#      then the slots up to {fleet}'s, while both agents write (MOVED, ASK, TRYAGAIN);
#   3. kill -9 of the master now serving the first agent, its replica promoted (a new node
#      joins as its replica); then the same for the master serving {fleet}.
. "$(dirname "$0")/lib.sh"

start_cluster 3
cli() { cluster_cli "$@"; }
# A live node to ask.
alive() {
    for _p in $CLUSTER_PORTS; do
        kill -0 "$(cluster_pid "$_p")" 2>/dev/null && { echo "$_p"; return; }
    done
}
node_id() { cli "$1" CLUSTER MYID; }

# Agent ids whose slot is near the start of a master's range (reshard moves the lowest slots
# first): A on the second master, B on the third.
A= B=
for i in $(seq 0 2000); do
    s=$(cli "$CLUSTER_SEED" CLUSTER KEYSLOT "h$i")
    if [ -z "$A" ] && [ "$s" -ge 5461 ] && [ "$s" -lt 5480 ]; then A=h$i SA=$s; fi
    if [ -z "$B" ] && [ "$s" -ge 10923 ] && [ "$s" -lt 10950 ]; then B=h$i SB=$s; fi
    [ -n "$A" ] && [ -n "$B" ] && break
done
[ -n "$A" ] && [ -n "$B" ] || fail "no agent ids found for the slots wanted"
SF=$(cli "$CLUSTER_SEED" CLUSTER KEYSLOT fleet)
echo "agents $A (slot $SA) and $B (slot $SB), {fleet} slot $SF" >&2

for a in A B; do
    id=${!a}
    : > "$T/$id.log"
    : > "$T/$id.written"
    write_conf "$T/$id.conf" "[redis]" "url = redis://127.0.0.1:$CLUSTER_SEED" "cluster = yes" \
        "cluster_seeds = $(printf '127.0.0.1:%s ' $CLUSTER_PORTS)" \
        "timeout = 1s" "wait_replicas = 1" "[agent]" "agent_id = $id" \
        "[source mail]" "path = $T/$id.log"
    sed -i '/^output = /d; s/^flush_interval = .*/flush_interval = 50ms/; s/^state_dir = .*/state_dir = '"$(printf '%s' "$T/state-$id" | sed 's/[\/&]/\\&/g')"'/' "$T/$id.conf"
done
export SMTPMON_REDIS_BACKOFF_MAX_MS=500

# A writer per agent: 50 lines every 20 ms until $T/stop exists (lines numbered from START).
writer() {
    _id=$1 _i=$2
    while [ -d "$T" ] && [ ! -e "$T/stop" ]; do
        gen "$_i" 50 | tee -a "$T/$_id.written" >> "$T/$_id.log"
        _i=$((_i + 50))
        sleep 0.02
    done
}
WPIDS=
start_writers() {
    rm -f "$T/stop"
    writer "$A" "$1" & WPIDS="$WPIDS $!"
    track_pid $!
    writer "$B" "$(( $1 + 5000000 ))" & WPIDS="$WPIDS $!"
    track_pid $!
}
stop_writers() {
    touch "$T/stop"
    for _p in $WPIDS; do wait "$_p" 2>/dev/null; done
    WPIDS=
}

q() { # q AGENT|--fleet: query as JSON through the slot map
    "$SMTPMON" query -f "$T/$A.conf" "$([ "$1" = --fleet ] && echo --fleet || echo "--agent=$1")" \
        --format json
}
qlines() { _l=$(q "$1" 2>/dev/null | jq -r '.lines // 0' 2>/dev/null); echo "${_l:-0}"; }
check() { # check WHAT: waits for every line, then query == scan, per agent and fleet; cursors
    _na=$(wc -l < "$T/$A.written") _nb=$(wc -l < "$T/$B.written")
    wait_for 60 "[ \"\$(qlines $A)\" -ge $_na ] && [ \"\$(qlines $B)\" -ge $_nb ] && [ \"\$(qlines --fleet)\" -ge $((_na + _nb)) ]" ||
        fail "$1: Redis holds $(qlines "$A") of $_na ($A), $(qlines "$B") of $_nb ($B), fleet $(qlines --fleet); query says: $(q "$B" 2>&1 >/dev/null | head -n 2); nodes: $(cluster_cli "$(alive)" CLUSTER NODES)"
    for id in $A $B; do
        "$SMTPMON" scan --format json "$T/$id.written" | jq -S . > "$T/scan.json" || fail "scan"
        q "$id" | jq -S . > "$T/query.json" || fail "$1: query $id failed"
        diff "$T/scan.json" "$T/query.json" > "$T/diff.txt" ||
            fail "$1: query $id differs from scan: $(head -c 1500 "$T/diff.txt")"
        off=$(redis-cli -c -p "$(alive)" HGET "smtpmon:{$id}:cursor:mail" offset)
        [ "$off" = "$(stat -c %s "$T/$id.log")" ] ||
            fail "$1: $id cursor $off != size $(stat -c %s "$T/$id.log")"
    done
    cat "$T/$A.written" "$T/$B.written" > "$T/all.written"
    "$SMTPMON" scan --format json "$T/all.written" | jq -S . > "$T/scan.json"
    q --fleet | jq -S . > "$T/query.json" || fail "$1: query --fleet failed"
    diff "$T/scan.json" "$T/query.json" > "$T/diff.txt" ||
        fail "$1: fleet query differs from scan: $(head -c 1500 "$T/diff.txt")"
    echo "ok $1: $_na + $_nb lines" >&2
}

AGENT_PIDS=
for id in $A $B; do
    start_agent -f "$T/$id.conf"
    AGENT_PIDS="$AGENT_PIDS $AGENT_PID"
    track_pid "$AGENT_PID"
done
AGENT_PID=

# 1. plain commits
start_writers 0
sleep 1
stop_writers
check "commits to three masters"

# 2. reshard while writing: A's slot from the second master to the first, then the slots up
# to {fleet}'s from the third to the second
M1=$(cluster_master_of 0) M2=$(cluster_master_of "$SA") M3=$(cluster_master_of "$SF")
start_writers 100000
t0=$(date +%s%N)
redis-cli --cluster reshard "127.0.0.1:$M1" --cluster-from "$(node_id "$M2")" \
    --cluster-to "$(node_id "$M1")" --cluster-slots $((SA - 5461 + 1)) --cluster-yes \
    > "$T/reshard1.log" 2>&1 || fail "reshard of $A's slot: $(tail -n 5 "$T/reshard1.log")"
[ "$(cluster_master_of "$SA")" = "$M1" ] || fail "slot $SA not moved"
sleep 0.5
redis-cli --cluster reshard "127.0.0.1:$M1" --cluster-from "$(node_id "$M3")" \
    --cluster-to "$(node_id "$M2")" --cluster-slots $((SF - 10923 + 1)) --cluster-yes \
    > "$T/reshard2.log" 2>&1 || fail "reshard of {fleet}: $(tail -n 5 "$T/reshard2.log")"
[ "$(cluster_master_of "$SF")" = "$M2" ] || fail "slot $SF not moved"
echo "reshards took $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
sleep 0.5
stop_writers
check "reshard of $A's slot and {fleet}'s while writing"
echo "agents said: $(cat "$T"/agent*.err | grep -c 'TRYAGAIN') TRYAGAIN, $(cat "$T"/agent*.err | grep -c 'redirected') redirections given up" >&2

# 3. failover: kill -9 the master of A's slot while writing, then the master of {fleet}
for what in "$A's master:$SA" "{fleet}'s master:$SF"; do
    slot=${what##*:}
    victim=$(cluster_master_of "$slot")
    start_writers $(( $(date +%s) % 100000 * 100 + 200000 ))
    sleep 0.3
    kill -9 "$(cluster_pid "$victim")"
    t0=$(date +%s%N)
    wait_for 30 "[ -n \"\$(cluster_master_of $slot)\" ] && [ \"\$(cluster_master_of $slot)\" != $victim ] && cli \$(alive) CLUSTER INFO | grep -q cluster_state:ok" ||
        fail "no failover of $victim"
    echo "${what%:*} ($victim) replaced by $(cluster_master_of "$slot") after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
    # a new node takes the old master's place as the new one's replica (wait_replicas = 1 needs
    # one), once every other node knows of the failover (the old master started again, with its
    # nodes.conf and no data, sometimes left the new master in cluster_state:fail for good)
    wait_for 30 cluster_ok || fail "the cluster did not settle after the failover of $victim"
    cluster_replace "$victim" "$(cluster_master_of "$slot")"
    wait_for 30 cluster_ok ||
        fail "the cluster did not settle after $victim was replaced: $(cluster_cli "$(alive)" CLUSTER NODES; for p in $CLUSTER_PORTS; do echo "$p: $(cluster_cli "$p" CLUSTER INFO 2>&1 | grep cluster_state)"; done; redis-cli --cluster check "127.0.0.1:$(alive)" 2>&1 | grep -v '^\[OK\]\|^M:\|^S:\|slots:\|replica')"
    sleep 0.5
    stop_writers
    check "failover of ${what%:*}"
done
for p in $AGENT_PIDS; do
    kill -TERM "$p"
    wait_for 10 "! kill -0 $p 2>/dev/null" || fail "agent $p did not stop"
done
echo "GAPs: $(cat "$T"/agent*.err | grep -c 'refused with GAP'), DUPs: $(cat "$T"/agent*.err | grep -c '(DUP)')" >&2
exit 0
