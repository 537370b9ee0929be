#!/bin/bash
# The shipped ACL holds (packaging/redis/users.acl, loaded with `aclfile` by a real
# redis-server 7): per-host users smtpmon-mx1 and smtpmon-mx2 (the mx1 line copied for mx2),
# the read-only smtpmon-dashboard and smtpmon-scripts, which loads the scripts. Two agents
# commit as their per-host users and query (as the dashboard) equals scan for each and for the
# fleet. Then every forbidden command is tried as each user and must be refused with NOPERM:
# another host's keys, the fleet keys outside the scripts (DEL, SET), keys outside the prefix,
# EVAL and SCRIPT LOAD of code of one's own, PUBLISH on another host's channel, SCAN and KEYS,
# administration. What the ACL cannot express (a host adding to the fleet totals directly)
# is checked to be what packaging/redis/README.md says it is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

ACL=$T/users.acl
PW=acl-secret-$$
{ sed "s/#REPLACE-WITH-SHA256-OF-PASSWORD/>$PW/" "$ROOT/packaging/redis/users.acl"
  grep '^user smtpmon-mx1 ' "$ROOT/packaging/redis/users.acl" |
      sed "s/#REPLACE-WITH-SHA256-OF-PASSWORD/>$PW/; s/mx1/mx2/g"; } > "$ACL"
grep -q '^#' "$ROOT/packaging/redis/users.acl" && fail "users.acl has comment lines"
for _try in 1 2 3 4 5; do
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
        --aclfile "$ACL" --daemonize no > "$T/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_for 10 "rcli ping 2>/dev/null | grep -q PONG || ! kill -0 $REDIS_PID 2>/dev/null"
    rcli ping 2>/dev/null | grep -q PONG && break
    grep -q 'Address already in use' "$T/redis.log" || break
done
rcli ping 2>/dev/null | grep -q PONG || fail "redis-server refused the aclfile: $(tail -n 5 "$T/redis.log")"
printf '%s\n' "$PW" > "$T/pw"
chmod 600 "$T/pw"

as() {
    _u=$1
    shift
    timeout 3 redis-cli -p "$REDIS_PORT" --user "$_u" --pass "$PW" --no-auth-warning "$@" 2>&1
}

# The agents' user may not load scripts: smtpmon-scripts does.
"$SMTPMON" query -f "$NO_CONF" --load-scripts --redis "redis://smtpmon-scripts:@127.0.0.1:$REDIS_PORT" \
    --password-file "$T/pw" > "$T/shas" || fail "smtpmon-scripts cannot load the scripts"
COMMIT_SHA=$(awk '$1 == "commit" {print $2}' "$T/shas")

# Two agents, each as its own user.
for h in mx1 mx2; do
    gen "$([ $h = mx1 ] && echo 0 || echo 100000)" 700 > "$T/$h.log"
    write_conf "$T/$h.conf" "[redis]" "url = redis://smtpmon-$h:@127.0.0.1:$REDIS_PORT" \
        "password_file = $T/pw" "timeout = 1s" "[agent]" "agent_id = $h" \
        "[source mail]" "path = $T/$h.log"
    sed -i -e '/^output = /d' -e "s|^state_dir = .*|state_dir = $T/state-$h|" "$T/$h.conf"
done
PID1= PID2=
trap '_rc0=$?; kill -9 $PID1 $PID2 2>/dev/null; (exit $_rc0); _redis_cleanup' EXIT
start_agent -f "$T/mx1.conf"
PID1=$AGENT_PID ERR1=$AGENT_ERR
start_agent -f "$T/mx2.conf"
PID2=$AGENT_PID ERR2=$AGENT_ERR
dq() {
    "$SMTPMON" query -f "$NO_CONF" --redis "redis://smtpmon-dashboard:@127.0.0.1:$REDIS_PORT" \
        --password-file "$T/pw" --format json "$@"
}
for h in mx1 mx2 fleet; do
    if [ $h = fleet ]; then cat "$T/mx1.log" "$T/mx2.log" > "$T/fleet.log"; sel=--fleet
    else sel=--agent=$h; fi
    n=$(wc -l < "$T/$h.log")
    wait_for 20 "[ \"\$(dq $sel 2>/dev/null | jq -r .lines)\" = $n ]" ||
        fail "$h: query has $(dq $sel | jq -r .lines) of $n lines"
    "$SMTPMON" scan --format json "$T/$h.log" | jq -S . > "$T/scan-$h.json"
    dq $sel | jq -S . > "$T/query-$h.json"
    diff "$T/scan-$h.json" "$T/query-$h.json" > /dev/null || fail "$h: query differs from scan"
done
grep -q 'may not load scripts' "$ERR1" || fail "mx1 did not notice it may not load scripts"
grep -q 'refused' "$ERR1" "$ERR2" && fail "an agent was refused: $(grep -h 'refused' "$ERR1" "$ERR2")"

# denied USER COMMAND...: refused with NOPERM.
denied() {
    _out=$(as "$@")
    case "$_out" in
    *NOPERM*) ;;
    *) fail "$1 may run '${*:2}': $_out" ;;
    esac
}
# allowed USER COMMAND...: not refused.
allowed() {
    _out=$(as "$@")
    case "$_out" in
    *NOPERM* | *ERR*) fail "$1 may not run '${*:2}': $_out" ;;
    esac
}

# A per-host user: its own keys only, the fleet keys only for what the fleet script does.
denied smtpmon-mx1 HGETALL 'smtpmon:{mx2}:c:total'
denied smtpmon-mx1 HINCRBY 'smtpmon:{mx2}:c:total' 'm|lines' 1
denied smtpmon-mx1 HSET 'smtpmon:{mx2}:cursor:mail' seq 1
denied smtpmon-mx1 DEL 'smtpmon:{mx2}:owner'
denied smtpmon-mx1 DEL 'smtpmon:{fleet}:c:total'
denied smtpmon-mx1 DEL 'smtpmon:{fleet}:seen'
denied smtpmon-mx1 SET 'smtpmon:{fleet}:c:total' x
denied smtpmon-mx1 GET 'smtpmon:{fleet}:seen'
denied smtpmon-mx1 SET other:key 1
denied smtpmon-mx1 GET other:key
denied smtpmon-mx1 SET 'smtpmon:x' 1
denied smtpmon-mx1 PUBLISH smtpmon:alerts:mx2 '{"type":"alert","host":"mx2"}'
denied smtpmon-mx1 PUBLISH smtpmon:alerts '{"type":"alert"}'
denied smtpmon-mx1 PUBLISH other x
denied smtpmon-mx1 EVAL 'while true do end' 0
denied smtpmon-mx1 EVAL 'return 1' 0
denied smtpmon-mx1 SCRIPT LOAD 'while true do end'
denied smtpmon-mx1 SCRIPT FLUSH
denied smtpmon-mx1 FUNCTION LOAD "#!lua name=x
redis.register_function('f', function() while true do end end)"
denied smtpmon-mx1 FCALL f 0
denied smtpmon-mx1 EVALSHA "$COMMIT_SHA" 7 'smtpmon:{mx2}:cursor:mail' 'smtpmon:{mx2}:owner' \
    'smtpmon:{mx2}:c:total' 'smtpmon:{mx2}:c:m:0' 'smtpmon:{mx2}:fleet:mail' 'smtpmon:{mx2}:ts' \
    'smtpmon:{mx2}:meta' x
denied smtpmon-mx1 KEYS '*'
denied smtpmon-mx1 SCAN 0
denied smtpmon-mx1 FLUSHALL
denied smtpmon-mx1 CONFIG SET maxmemory 1
denied smtpmon-mx1 ACL LIST
denied smtpmon-mx1 SUBSCRIBE smtpmon:alerts:mx2
allowed smtpmon-mx1 HGET 'smtpmon:{mx1}:c:total' 'm|lines'
allowed smtpmon-mx1 PUBLISH smtpmon:alerts:mx1 '{"type":"test","host":"mx1"}'
# The limit the ACL cannot express (packaging/redis/README.md): the fleet script's own commands
# on the fleet keys are allowed outside the script too.
allowed smtpmon-mx1 HINCRBY 'smtpmon:{fleet}:c:total' 'x|acl-test' 1

# The dashboard: reads the prefix, nothing else.
denied smtpmon-dashboard SCAN 0
denied smtpmon-dashboard KEYS '*'
denied smtpmon-dashboard GET other:key
denied smtpmon-dashboard HGETALL other:key
denied smtpmon-dashboard HSET 'smtpmon:{mx1}:c:total' 'm|lines' 0
denied smtpmon-dashboard DEL 'smtpmon:{fleet}:c:total'
denied smtpmon-dashboard PUBLISH smtpmon:alerts:mx1 x
denied smtpmon-dashboard SUBSCRIBE other
denied smtpmon-dashboard PSUBSCRIBE '*'
denied smtpmon-dashboard EVAL 'return 1' 0
denied smtpmon-dashboard EVALSHA "$COMMIT_SHA" 0
denied smtpmon-dashboard INFO
denied smtpmon-dashboard CONFIG GET '*'
allowed smtpmon-dashboard HKEYS 'smtpmon:{fleet}:seen'
allowed smtpmon-dashboard XRANGE 'smtpmon:{mx1}:ts' - +

# The script loader: loads, runs nothing, reads nothing.
denied smtpmon-scripts EVAL 'return 1' 0
denied smtpmon-scripts EVALSHA "$COMMIT_SHA" 0
denied smtpmon-scripts GET 'smtpmon:{mx1}:owner'
denied smtpmon-scripts SCRIPT FLUSH

# The dashboard follows the alerts of every host; an alert naming another host than its
# channel's is dropped.
SMTPMON_REDIS_PASSWORD_FILE=$T/pw "$SMTPMON" alerts --follow -f "$NO_CONF" \
    --redis "redis://smtpmon-dashboard:@127.0.0.1:$REDIS_PORT" --count 1 > "$T/follow.out" \
    2> "$T/follow.err" &
FOLLOW=$!
wait_for 10 "grep -q subscribed '$T/follow.err'" || fail "alerts --follow: $(cat "$T/follow.err")"
as smtpmon-mx1 PUBLISH smtpmon:alerts:mx1 '{"type":"alert","host":"mx2"}' > /dev/null
as smtpmon-mx1 PUBLISH smtpmon:alerts:mx1 '{"type":"alert","host":"mx1"}' > /dev/null
wait_for 10 "! kill -0 $FOLLOW 2>/dev/null" || fail "alerts --follow saw nothing"
[ "$(jq -r .host "$T/follow.out")" = mx1 ] || fail "follow printed $(cat "$T/follow.out")"
grep -q 'names another host' "$T/follow.err" || fail "the forged alert was not reported"

AGENT_PID=$PID2
stop_agent
AGENT_PID=$PID1
stop_agent
exit 0
