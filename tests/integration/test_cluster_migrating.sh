#!/bin/bash
# serial: a Redis Cluster with a 1 s node timeout
# A slot migration held half-way, by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE of some
# keys), first for the agent's slot, then for {fleet}'s, while the agent commits:
#   no key moved yet: the scripts run on the source (none may write a key it deleted);
#   half the slot's keys moved: the source answers ASK, the target (after ASKING) TRYAGAIN
#     (a script's declared keys are split): nothing is applied, the batch is retried;
#   every key moved: the commits go to the target after ASKING (its INFO counts them), and
#     query == scan while the slot is still migrating;
#   SETSLOT NODE: MOVED, the map is read again.
# Then query == scan (agent and fleet), the cursor == the file size, and the source holds no
# key of the slot: no script ran on the source with keys it did not declare. Last, SCRIPT
# FLUSH on every master: the agent loads the scripts where NOSCRIPT was answered.
. "$(dirname "$0")/lib.sh"

start_cluster 3
export SMTPMON_REDIS_BACKOFF_MAX_MS=300
ID=mig1
LOG=$T/mail.log
: > "$LOG"
write_conf "$T/smtpmon.conf" "[redis]" "url = redis://127.0.0.1:$CLUSTER_SEED" "cluster = yes" \
    "cluster_seeds = $(printf '127.0.0.1:%s ' $CLUSTER_PORTS)" "timeout = 1s" \
    "[agent]" "agent_id = $ID" "[source mail]" "path = $LOG"
sed -i '/^output = /d; s/^flush_interval = .*/flush_interval = 50ms/' "$T/smtpmon.conf"

q() { "$SMTPMON" query -f "$T/smtpmon.conf" "$@" --format json; }
qlines() { _l=$(q "$@" 2>/dev/null | jq -r '.lines // 0' 2>/dev/null); echo "${_l:-0}"; }
check() {
    _n=$(wc -l < "$T/written.log")
    wait_for 30 "[ \"\$(qlines --agent=$ID)\" -ge $_n ] && [ \"\$(qlines --fleet)\" -ge $_n ]" ||
        fail "$1: Redis holds $(qlines --agent=$ID) (fleet $(qlines --fleet)) of $_n lines"
    "$SMTPMON" scan --format json "$T/written.log" | jq -S . > "$T/scan.json"
    for who in "--agent=$ID" --fleet; do
        q "$who" | jq -S . > "$T/query.json" || fail "$1: query $who"
        diff "$T/scan.json" "$T/query.json" > "$T/diff.txt" ||
            fail "$1: query $who differs from scan: $(head -c 1500 "$T/diff.txt")"
    done
    off=$(redis-cli -c -p "$CLUSTER_SEED" HGET "smtpmon:{$ID}:cursor:mail" offset)
    [ "$off" = "$(stat -c %s "$LOG")" ] || fail "$1: cursor $off != size $(stat -c %s "$LOG")"
    echo "ok $1: $_n lines" >&2
}
# more START COUNT: lines numbered from START (gen: a new log minute every 60 numbers).
more() { append "$LOG" "$1" "$2"; }
asking_calls() {
    cluster_cli "$1" INFO commandstats | awk -F'[=,:]' '/^cmdstat_asking:/ {print $3}' | tr -d '\r'
}
tryagains() { grep -c 'TRYAGAIN' "$AGENT_ERR"; }

start_agent -f "$T/smtpmon.conf"
more 0 600
check "before"

n=600
for tag in "$ID" fleet; do
    S=$(cluster_slot "$tag")
    SRC=$(cluster_master_of "$S")
    DST=
    for p in $CLUSTER_PORTS; do
        [ "$p" != "$SRC" ] && cluster_cli "$p" ROLE | head -n 1 | grep -q master && { DST=$p; break; }
    done
    SRC_ID=$(cluster_cli "$SRC" CLUSTER MYID) DST_ID=$(cluster_cli "$DST" CLUSTER MYID)
    cluster_cli "$DST" CLUSTER SETSLOT "$S" IMPORTING "$SRC_ID" | grep -q OK || fail "IMPORTING"
    cluster_cli "$SRC" CLUSTER SETSLOT "$S" MIGRATING "$DST_ID" | grep -q OK || fail "MIGRATING"
    # migrating, no key moved yet: the scripts run on the source, where every key they
    # declare is (a script that deleted a key and wrote it again was refused there half-way:
    # "Script attempted to access a non local key", its first writes applied twice)
    last=$(( (n - 1) - (n - 1) % 60 ))
    more "$last" 30
    check "{$tag}: slot $S migrating, no key moved"
    grep -q 'non local key' "$AGENT_ERR" && fail "{$tag}: $(grep -m1 'non local key' "$AGENT_ERR")"
    mapfile -t keys < <(cluster_cli "$SRC" CLUSTER GETKEYSINSLOT "$S" 1000)
    [ "${#keys[@]}" -ge 4 ] || fail "{$tag}: only ${#keys[@]} keys in slot $S"
    # half of them, the totals hash among them (a key every script declares)
    total="smtpmon:{$tag}:c:total"
    mapfile -t keys < <(printf '%s\n' "$total" "${keys[@]}" | awk '!seen[$0]++')
    half=$(( ${#keys[@]} / 2 ))
    cluster_cli "$SRC" MIGRATE 127.0.0.1 "$DST" "" 0 5000 KEYS "${keys[@]:0:$half}" | grep -q OK ||
        fail "MIGRATE of half the keys"
    # half moved: commits refused (ASK, then TRYAGAIN on the target), the lines wait. They are
    # lines of the last log minute, whose hashes exist (a new minute's hash would be missing on
    # both nodes: TRYAGAIN until the slot is done)
    t0=$(tryagains)
    last=$(( (n - 1) - (n - 1) % 60 ))
    more "$last" 40
    wait_for 10 "[ \$(tryagains) -gt $t0 ]" || fail "{$tag}: no TRYAGAIN while the keys are split"
    sleep 1
    mapfile -t keys < <(cluster_cli "$SRC" CLUSTER GETKEYSINSLOT "$S" 1000)
    cluster_cli "$SRC" MIGRATE 127.0.0.1 "$DST" "" 0 5000 KEYS "${keys[@]}" | grep -q OK ||
        fail "MIGRATE of the other keys"
    # every key on the target, the slot still migrating: the source answers ASK, the target
    # runs the scripts after ASKING (its INFO counts them), and query (following ASK too) sees
    # every line
    a0=$(asking_calls "$DST")
    check "{$tag}: every key moved, slot $S still migrating"
    [ "$(asking_calls "$DST")" -gt "${a0:-0}" ] || fail "{$tag}: no ASKING on the target"
    echo "{$tag}: slot $S from $SRC to $DST: $(tryagains) TRYAGAIN so far, ASKING $(asking_calls "$DST") times on the target" >&2
    for p in $CLUSTER_PORTS; do
        cluster_cli "$p" ROLE | head -n 1 | grep -q master &&
            cluster_cli "$p" CLUSTER SETSLOT "$S" NODE "$DST_ID" > /dev/null
    done
    wait_for 20 cluster_ok || fail "the cluster did not settle after moving slot $S"
    more "$n" 200
    n=$((n + 200))
    check "slot of {$tag} migrated"
    left=$(cluster_cli "$SRC" CLUSTER COUNTKEYSINSLOT "$S")
    [ "$left" = 0 ] || fail "{$tag}: $left keys of slot $S left on the source: $(cluster_cli "$SRC" CLUSTER GETKEYSINSLOT "$S" 10 | tr '\n' ' ')"
done
# every master forgets the scripts (SCRIPT FLUSH; a promoted replica has none either): the
# agent loads them again on the master that answers NOSCRIPT, on the same connection
for p in $CLUSTER_PORTS; do
    cluster_cli "$p" ROLE | head -n 1 | grep -q master && cluster_cli "$p" SCRIPT FLUSH > /dev/null
done
more "$n" 100
n=$((n + 100))
check "after SCRIPT FLUSH on every master"
grep -q 'scripts are missing on .* (NOSCRIPT): loading them there' "$AGENT_ERR" ||
    fail "NOSCRIPT not answered on the node: $(grep -i script "$AGENT_ERR" | tail -n 3)"
stop_agent
exit 0
