#!/bin/bash
# [redis] fleet_shards: five agents with fleet_shards = 4 write their fleet deltas under
# {fleet:K} (K = FNV-1a of the agent id mod 4); `query --fleet` (all-time totals, the minute
# buckets of --since, the top lists) equals `scan` of every line written, so do serve's
# /metrics fleet series, /api/summary and /api/series and `top --once`; the keys exist under
# at least two tags. One agent runs as the per-host ACL user of packaging/redis/users.acl
# (its selector reaches {fleet:K}). With fleet_shards = 1 the key names are those of the
# README's schema. Then one agent is restarted with fleet_shards = 1 while its last fleet
# delta is still pending in its slot: it is applied to the shard the commit named (DUP there),
# not counted again in {fleet}. A bad value is refused naming it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need curl

start_redis
IDS="$AGENT_ID s-two s-three s-four s-five"
export SMTPMON_REDIS_FLEET_SHARDS=4
i=0
for id in $IDS; do
    i=$((i + 1))
    append "$T/log$i" $((i * 100000)) 400
    if [ "$id" = "$AGENT_ID" ]; then
        url="redis://smtpmon-agent:@127.0.0.1:$REDIS_PORT"
    else
        url="redis://127.0.0.1:$REDIS_PORT"
    fi
    cat > "$T/a$i.conf" <<CONF
[agent]
agent_id = $id
state_dir = $T/state$i
flush_interval = 100ms
rescan_interval = 1s
stop_timeout = 2s
read_from = head
[redis]
url = $url
timeout = 1s
fleet_shards = 4
[source mail]
path = $T/log$i
CONF
    if [ "$id" = "$AGENT_ID" ]; then
        start_agent -f "$T/a$i.conf"
    else
        env -u CREDENTIALS_DIRECTORY "$SMTPMON" -f "$T/a$i.conf" 2> "$T/agent-$id.err" &
        track_pid $!
        eval "PID_$i=$!"
    fi
done
ACL_PID=$AGENT_PID
# more lines while they run
i=0
for id in $IDS; do
    i=$((i + 1))
    append "$T/log$i" $((i * 100000 + 400)) 300
done
n=$(wc -l < "$T/written.log")
wait_for 30 "[ \"\$(query_lines --fleet)\" -ge $n ]" ||
    fail "Redis holds $(query_lines --fleet) of $n lines (fleet): $(tail -n 3 "$T"/agent*.err)"
grep -v 'config|get\|SCRIPT LOAD' "$AGENT_ERR" | grep -q 'NOPERM' &&
    fail "the ACL user was refused: $(grep -v 'config|get\|SCRIPT LOAD' "$AGENT_ERR" | grep -m1 NOPERM)"

tags=$(rcli --scan --pattern 'smtpmon:{fleet*}:c:total' | sort)
echo "fleet totals keys: $(echo $tags)" >&2
[ -z "$(rcli EXISTS 'smtpmon:{fleet}:c:total' | grep -v '^0$')" ] || fail "{fleet} written with fleet_shards = 4"
[ "$(echo "$tags" | grep -c '{fleet:[0-3]}')" -ge 2 ] || fail "fewer than two shards: $tags"
# each agent's shard: FNV-1a 32 of its id mod 4, as the README says
for id in $IDS; do
    k=$(python3 -c 'import sys
h = 2166136261
for b in sys.argv[1].encode():
    h = ((h ^ b) * 16777619) & 0xffffffff
print(h % 4)' "$id")
    rcli HEXISTS "smtpmon:{fleet:$k}:seen" "$id|mail" | grep -q '^1$' ||
        fail "$id not in the seen hash of {fleet:$k}"
done

"$SMTPMON" scan --format json "$T/written.log" | jq -S . > "$T/scan.json" || fail "scan"
query_json --fleet | jq -S . > "$T/fleet.json" || fail "query --fleet"
diff "$T/scan.json" "$T/fleet.json" > "$T/diff.txt" ||
    fail "query --fleet differs from scan: $(head -c 1500 "$T/diff.txt")"
# the minute buckets of every shard, summed (the samples are in the all-time hashes only)
# (from the day before the lines' Nov 28, in the year the agents gave them: the last Nov 28 not
# in the future; --since 2000 would read 14 million empty minutes a shard, two minutes of work)
SINCE=$(python3 -c 'import datetime
now = datetime.datetime.now()
y = now.year if datetime.datetime(now.year, 11, 28) <= now else now.year - 1
print("%d-11-27T00:00" % y)')
query_json --fleet --since "$SINCE" | jq -S 'del(.unmatched_samples)' > "$T/fleet-m.json" ||
    fail "query --fleet --since"
jq -S 'del(.unmatched_samples)' "$T/scan.json" > "$T/scan-m.json"
diff "$T/scan-m.json" "$T/fleet-m.json" > "$T/diff.txt" ||
    fail "query --fleet --since differs from scan: $(head -c 1500 "$T/diff.txt")"
# the top lists: summed over the shards, then ranked
"$SMTPMON" scan --top 3 "$T/written.log" | sed -n '/^reply/,$p' > "$T/scan-top.txt"
env -u CREDENTIALS_DIRECTORY "$SMTPMON" query -f "$NO_CONF" --redis "redis://127.0.0.1:$REDIS_PORT" --fleet --top 3 |
    sed -n '/^reply/,$p' > "$T/query-top.txt"
diff "$T/scan-top.txt" "$T/query-top.txt" > "$T/diff.txt" ||
    fail "query --fleet --top 3 differs from scan --top 3: $(head -c 1500 "$T/diff.txt")"
# a reader with fleet_shards = 1 does not see the shards: no counts, said so
SMTPMON_REDIS_FLEET_SHARDS=1 query_json --fleet > /dev/null 2> "$T/q1.err"
[ $? = 66 ] || fail "query --fleet with fleet_shards = 1 over shards: $(cat "$T/q1.err")"
echo "ok query: --fleet, --since and --top equal scan of $n lines over $(echo "$tags" | wc -l) shards" >&2

# serve: the fleet of /metrics, /api/summary and /api/series; top --once
SERVE_PORT=$(free_port)
env -u CREDENTIALS_DIRECTORY "$SMTPMON" serve -f "$NO_CONF" --redis "redis://127.0.0.1:$REDIS_PORT" \
    --listen "127.0.0.1:$SERVE_PORT" 2> "$T/serve.err" &
track_pid $!
B=http://127.0.0.1:$SERVE_PORT
wait_for 10 "curl -sf -o /dev/null $B/metrics" || fail "serve did not answer: $(cat "$T/serve.err")"
curl -sf "$B/metrics" > "$T/metrics" || fail "GET /metrics"
got=$(awk '/^smtpmon_lines_total\{agent="_fleet"\}/ {print $2}' "$T/metrics")
[ "$got" = "$n" ] || fail "/metrics fleet lines: '$got', want $n"
grep -q 'agent="fleet:' "$T/metrics" && fail "a shard exported as an agent"
want550=$(jq -r '.by.reply["550"]' "$T/scan.json")
got=$(awk '/^smtpmon_reply_total\{agent="_fleet",reply="550"\}/ {print $2}' "$T/metrics")
[ "$got" = "$want550" ] || fail "/metrics fleet 550: '$got', want $want550"
curl -sf "$B/api/summary" > "$T/summary.json" || fail "GET /api/summary"
[ "$(jq -r '.fleet.lines // .fleet["m|lines"] // empty' "$T/summary.json")" = "$n" ] ||
    fail "/api/summary fleet: $(jq -c .fleet "$T/summary.json" | head -c 300)"
curl -sf "$B/api/series?agent=fleet&minutes=120" > "$T/series.json" ||
    curl -sf "$B/api/series/fleet?minutes=120" > "$T/series.json" || fail "GET /api/series"
# the minutes each shard closed, summed: every minute but the last open one of each agent
sum=$(jq '[.points[].f.lines | tonumber] | add // 0' "$T/series.json")
[ "$sum" -gt 0 ] && [ "$sum" -le "$n" ] || fail "/api/series fleet: $sum lines of $n"
dup=$(jq '[.points[].t] | length - (unique | length)' "$T/series.json")
[ "$dup" = 0 ] || fail "/api/series fleet: $dup minutes twice"
env -u CREDENTIALS_DIRECTORY "$SMTPMON" top -f "$NO_CONF" --redis "redis://127.0.0.1:$REDIS_PORT" --once > "$T/top.txt" 2>&1 ||
    fail "top --once: $(head -c 500 "$T/top.txt")"
grep -q "$n" "$T/top.txt" || fail "top --once shows no fleet total of $n: $(head -c 800 "$T/top.txt")"
echo "ok serve: /metrics, /api/summary, /api/series ($sum lines in closed minutes), top" >&2

# A change of N across a restart: the agent's last fleet delta stays pending in its slot
# (the commit names its shard in the cursor); with fleet_shards = 1 it is re-sent to that
# shard (DUP) and the new batches go to {fleet}: the sum stays exact.
stop_agent
k=$(rcli HGET "smtpmon:{$AGENT_ID}:cursor:mail" fleet)
case $k in fleet:[0-3]) ;; *) fail "the cursor names no shard: '$k'" ;; esac
[ "$(rcli HGET "smtpmon:{$AGENT_ID}:fleet:mail" seq)" -ge 1 ] || fail "no pending delta"
sed -i 's/^fleet_shards = 4$/fleet_shards = 1/' "$T/a1.conf"
SMTPMON_REDIS_FLEET_SHARDS=1 start_agent -f "$T/a1.conf"
append "$T/log1" 100700 200
n=$(wc -l < "$T/written.log")
wait_for 30 "[ \"\$(rcli HGET 'smtpmon:{fleet}:c:total' 'm|lines')\" = 200 ]" ||
    fail "{fleet} holds $(rcli HGET 'smtpmon:{fleet}:c:total' 'm|lines') lines of the 200 after the change"
grep -q "goes to {$k}, the shard of its commit" "$AGENT_ERR" ||
    fail "the pending delta was not sent to {$k}: $(grep -m2 fleet "$AGENT_ERR")"
"$SMTPMON" scan --format json "$T/written.log" | jq -S . > "$T/scan.json"
query_json --fleet | jq -S . > "$T/fleet.json" || fail "query --fleet"
diff "$T/scan.json" "$T/fleet.json" > "$T/diff.txt" ||
    fail "query --fleet ({fleet} and the shards) differs from scan after the change: $(head -c 1500 "$T/diff.txt")"
stop_agent
for i in 2 3 4 5; do
    eval "kill \$PID_$i; wait \$PID_$i"
done
echo "ok fleet_shards 4 -> 1 across a restart: the pending delta applied once, $n lines exact" >&2

# fleet_shards = 1: the key names of the README's schema
stop_redis 2>/dev/null || kill "$REDIS_PID"
start_redis
sed -i 's/^fleet_shards = 4$/fleet_shards = 1/; s/^path = .*/path = '"${T//\//\\/}"'\/log2/; s/^state_dir = .*/state_dir = '"${T//\//\\/}"'\/state-one/; s/:[0-9]*$/:'"$REDIS_PORT"'/' "$T/a2.conf"
SMTPMON_REDIS_FLEET_SHARDS=1 env -u CREDENTIALS_DIRECTORY "$SMTPMON" -f "$T/a2.conf" 2> "$T/one.err" &
ONE=$!
track_pid $ONE
want=$(wc -l < "$T/log2")
wait_for 20 "[ \"\$(rcli HGET 'smtpmon:{fleet}:c:total' 'm|lines')\" = $want ]" ||
    fail "fleet_shards = 1: {fleet} holds $(rcli HGET 'smtpmon:{fleet}:c:total' 'm|lines') of $want: $(tail -n 3 "$T/one.err")"
kill "$ONE"
rcli --scan --pattern 'smtpmon:*' | sed 's/:c:m:[0-9]*$/:c:m:MINUTE/; s/^smtpmon:{s-two}:/smtpmon:{A}:/' |
    sort -u > "$T/keys.txt"
for key in 'smtpmon:{A}:c:total' 'smtpmon:{fleet}:c:total' 'smtpmon:{A}:c:m:MINUTE' \
    'smtpmon:{fleet}:c:m:MINUTE' 'smtpmon:{A}:ts' 'smtpmon:{fleet}:ts' 'smtpmon:{A}:cursor:mail' \
    'smtpmon:{A}:meta' 'smtpmon:{A}:owner' 'smtpmon:{fleet}:seen'; do
    grep -qxF "$key" "$T/keys.txt" || fail "fleet_shards = 1: no key $key: $(tr '\n' ' ' < "$T/keys.txt")"
    k2=${key//MINUTE/<epoch-minute>}
    k2=${k2/cursor:mail/cursor:SOURCE}
    grep -qF "\`P:${k2#smtpmon:}\`" "$ROOT/README.md" ||
        [ "$key" = 'smtpmon:{fleet}:seen' ] || fail "$key is not in the README's schema"
done
grep -q '{fleet:' "$T/keys.txt" && fail "fleet_shards = 1 wrote a shard: $(grep '{fleet:' "$T/keys.txt")"
[ -z "$(rcli HGET 'smtpmon:{s-two}:cursor:mail' fleet)" ] || fail "fleet_shards = 1 names a shard in the cursor"
echo "ok fleet_shards = 1: the keys of the schema ($(wc -l < "$T/keys.txt") names)" >&2

# a bad value is refused, naming it
printf '[redis]\nfleet_shards = 65\n' > "$T/bad.conf"
"$SMTPMON" -n -f "$T/bad.conf" > /dev/null 2> "$T/bad.err" && fail "fleet_shards = 65 accepted"
grep -q 'fleet_shards = 65' "$T/bad.err" || fail "the error does not name the value: $(cat "$T/bad.err")"
SMTPMON_REDIS_FLEET_SHARDS=0 env -u CREDENTIALS_DIRECTORY "$SMTPMON" query -f "$NO_CONF" --redis "redis://127.0.0.1:$REDIS_PORT" --fleet \
    > /dev/null 2> "$T/bad.err" && fail "SMTPMON_REDIS_FLEET_SHARDS=0 accepted"
grep -q 'SMTPMON_REDIS_FLEET_SHARDS=0' "$T/bad.err" || fail "the error does not name the value: $(cat "$T/bad.err")"
echo "ok bad values refused: $(head -n 1 "$T/bad.err")" >&2
exit 0
