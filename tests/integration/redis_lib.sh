# Helpers of the Redis tests (sourced after lib.sh): a real redis-server on a free loopback
# port in $T, the fault-injecting proxy in front of it, the ACL users of
# packaging/redis/users.acl, and the oracle: `smtpmon query` equals `smtpmon scan` of every
# line written, and the committed cursor equals the file size.

need redis-server redis-cli cc

REDIS_PW=agent-secret-$$
# query and alerts read /etc/smtpmon/smtpmon.conf when given no -f: never the host's file.
NO_CONF=$T/empty.conf
: > "$NO_CONF"
DASH_PW=dash-secret-$$
AGENT_ID=it-host1

rcli() {
    redis-cli -p "$REDIS_PORT" --no-auth-warning "$@"
}

# The per-host agent user of packaging/redis/users.acl (written for the host mx1), for $1.
host_acl() {
    grep '^user smtpmon-mx1 ' "$ROOT/packaging/redis/users.acl" |
        sed "s/#REPLACE-WITH-SHA256-OF-PASSWORD/>$REDIS_PW/; s/^user smtpmon-mx1 //; s/mx1/$1/g"
}

# The administrator's step: SCRIPT LOAD of the commit scripts, which the agent users may only
# call (EVALSHA). Needed again after every start of a redis-server. load_scripts [PORT]
load_scripts() {
    env -u CREDENTIALS_DIRECTORY "$SMTPMON" query -f "$NO_CONF" --load-scripts \
        --redis "redis://127.0.0.1:${1:-$REDIS_PORT}" > /dev/null ||
        fail "cannot load the scripts"
}

# Starts redis-server, creates the users of the shipped ACL (the agent user 'smtpmon-agent'
# with the rules of the per-host user, for $AGENT_ID) and loads the scripts.
start_redis() {
    # A port found free may be taken before redis-server binds it: then try another one.
    for _try in 1 2 3 4 5; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind ${REDIS_BIND:-127.0.0.1} --save '' --appendonly no \
            --dir "$T" --daemonize no > "$T/redis.log" 2>&1 &
        REDIS_PID=$!
        wait_for 10 "rcli ping 2>/dev/null | grep -q PONG || ! kill -0 $REDIS_PID 2>/dev/null"
        rcli ping 2>/dev/null | grep -q PONG && break
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    done
    rcli ping 2>/dev/null | grep -q PONG ||
        fail "redis-server did not start: $(tail -n 5 "$T/redis.log")"
    _acl=$ROOT/packaging/redis/users.acl
    _agent=$(host_acl "$AGENT_ID")
    _dash=$(grep '^user smtpmon-dashboard ' "$_acl" | sed "s/#REPLACE-WITH-SHA256-OF-PASSWORD/>$DASH_PW/; s/^user smtpmon-dashboard //")
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-agent $_agent | grep -q OK || fail "ACL agent user"
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-dashboard $_dash | grep -q OK || fail "ACL dashboard user"
    load_scripts
    mkdir -p "$T/cred"
    printf '%s\n' "$REDIS_PW" > "$T/cred/redis-password"
    printf '%s\n' "$DASH_PW" > "$T/dash-password"
    chmod 600 "$T/cred/redis-password" "$T/dash-password"
}

stop_redis() {
    [ -n "${REDIS_PID:-}" ] || return 0
    kill -9 "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=
}

# The proxy: $ROOT/build/test-proxy, built once.
start_proxy() {
    _bin=$ROOT/build/test-proxy
    if [ ! -x "$_bin" ] || [ "$ROOT/tests/integration/proxy.c" -nt "$_bin" ]; then
        cc -O2 -D_GNU_SOURCE -o "$_bin.$$" "$ROOT/tests/integration/proxy.c" &&
            mv "$_bin.$$" "$_bin" || fail "cannot build the proxy"
    fi
    PROXY_CTL=$T/proxy.mode
    echo forward > "$PROXY_CTL"
    for _try in 1 2 3 4 5; do
        PROXY_PORT=$(free_port)
        "$_bin" "$PROXY_PORT" "$REDIS_PORT" "$PROXY_CTL" 2>"$T/proxy.err" &
        PROXY_PID=$!
        wait_for 5 "(exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT) 2>/dev/null || ! kill -0 $PROXY_PID" &&
            kill -0 "$PROXY_PID" 2>/dev/null && return 0
        kill -9 "$PROXY_PID" 2>/dev/null
    done
    fail "proxy did not start: $(cat "$T/proxy.err")"
}

proxy() {
    echo "$1" > "$PROXY_CTL"
}

# The master name known to the sentinel of start_sentinel (empty when it does not know it).
sentinel_master() {
    redis-cli -p "$PS" SENTINEL get-master-addr-by-name m 2>/dev/null | tail -n 1
}

# start_sentinel MASTER_PORT: one sentinel (quorum 1, short timeouts) monitoring the master on
# MASTER_PORT under the name 'm', on a free port PS (PID_S, killed at the end of the test).
start_sentinel() {
    for _try in 1 2 3 4 5; do
        PS=$(free_port)
        cat > "$T/sentinel.conf" <<CONF
port $PS
bind 127.0.0.1
dir $T
sentinel monitor m 127.0.0.1 $1 1
sentinel down-after-milliseconds m 400
sentinel failover-timeout m 2000
CONF
        redis-server "$T/sentinel.conf" --sentinel > "$T/sentinel.log" 2>&1 &
        PID_S=$!
        track_pid "$PID_S"
        wait_for 10 "[ \"\$(sentinel_master)\" = $1 ] || ! kill -0 $PID_S 2>/dev/null"
        [ "$(sentinel_master)" = "$1" ] && return 0
        kill -9 "$PID_S" 2>/dev/null
    done
    fail "sentinel does not know the master: $(tail -n 5 "$T/sentinel.log")"
}

# write_rconf FILE PORT [extra lines]: an agent configuration that commits to Redis.
write_rconf() {
    _f=$1 _port=$2
    shift 2
    write_conf "$_f" "[redis]" "url = redis://smtpmon-agent:@127.0.0.1:$_port" \
        "timeout = 1s" "[agent]" "agent_id = $AGENT_ID" "$@"
    sed -i '/^output = /d' "$_f"
}

export CREDENTIALS_DIRECTORY
CREDENTIALS_DIRECTORY=$T/cred
export SMTPMON_REDIS_BACKOFF_MAX_MS=500

# The counts read back by the read-only dashboard user, as JSON.
query_json() {
    "$SMTPMON" query -f "$NO_CONF" --redis "redis://smtpmon-dashboard:@127.0.0.1:$REDIS_PORT" \
        --password-file "$T/dash-password" "${@:---agent=$AGENT_ID}" --format json
}

# 0 while nothing is committed (query then exits EX_NOINPUT with nothing on stdout).
query_lines() {
    _l=$(query_json "$@" 2>/dev/null | jq -r '.lines // 0' 2>/dev/null)
    echo "${_l:-0}"
}

committed_offset() {
    rcli --user smtpmon-dashboard --pass "$DASH_PW" HGET "smtpmon:{$AGENT_ID}:cursor:${1:-mail}" offset
}

# The oracle: query (agent and fleet) == scan of every line written, exactly.
# QUERY_FILTER (a jq program, default '.') is applied to both sides: the recipient domains are
# a top-N of each Redis hash, so with more distinct domains than that they are approximate.
assert_query_is_scan() {
    "$SMTPMON" scan --format json "$T/written.log" | jq -S "${QUERY_FILTER:-.}" > "$T/scan.json" ||
        fail "scan failed"
    query_json | jq -S "${QUERY_FILTER:-.}" > "$T/query.json" || fail "query failed"
    diff "$T/scan.json" "$T/query.json" > "$T/diff.txt" ||
        fail "query differs from scan: $(head -c 1500 "$T/diff.txt")"
    query_json --fleet | jq -S "${QUERY_FILTER:-.}" > "$T/fleet.json" ||
        fail "query --fleet failed"
    diff "$T/scan.json" "$T/fleet.json" > "$T/diff.txt" ||
        fail "fleet query differs from scan: $(head -c 1500 "$T/diff.txt")"
}

# Waits until Redis holds every written line, then checks the oracle.
wait_query_exact() {
    _n=$(wc -l < "$T/written.log")
    wait_for "${1:-30}" "[ \"\$(query_lines)\" -ge $_n ] && [ \"\$(query_lines --fleet)\" -ge $_n ]" ||
        fail "timeout: Redis holds $(query_lines) (fleet $(query_lines --fleet)) of $_n lines"
    assert_query_is_scan
}

# The alert tests' day of mail (tests/data/alerts/gen.awk; alert_day passes its arguments to
# awk: -v minutes=480 -v spike_start=300 ...) in $T/day.log; alert_log FROM TO appends the
# lines from FROM up to TO (exclusive; "2024-11-28T05:00"; an empty one: no bound) to $LOG.
alert_day() {
    awk "$@" -f "$ROOT/tests/data/alerts/gen.awk" > "$T/day.log"
}
alert_log() {
    awk -v a="$1" -v b="$2" '(a == "" || $1 >= a) && (b == "" || $1 < b)' "$T/day.log" >> "$LOG"
}
# alert_follow N [NAME]: `smtpmon alerts --follow` of $URL for N alerts into $T/NAME.out (NAME
# follow by default; FOLLOW is its pid), once it has subscribed.
alert_follow() {
    _f=${2:-follow}
    "$SMTPMON" alerts --follow --redis "$URL" --count "$1" > "$T/$_f.out" 2> "$T/$_f.err" &
    FOLLOW=$!
    wait_for 10 "grep -q subscribed '$T/$_f.err'" ||
        fail "alerts --follow did not subscribe: $(cat "$T/$_f.err")"
}
# agent_reads_log CONF: starts the agent on CONF (log times in UTC) and waits until all of $LOG
# is committed.
agent_reads_log() {
    export TZ=UTC
    start_agent -f "$1"
    wait_for 20 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" || fail "the history was not read"
}

# The fault tests' log: more N appends N more generated lines to $LOG (and the oracle);
# check_committed WHAT [SECONDS] waits for the oracle, then checks that the committed cursor is
# the size of $LOG.
_more_n=0
more() {
    append "$LOG" "$_more_n" "$1"
    _more_n=$((_more_n + $1))
}
check_committed() {
    wait_query_exact "${2:-30}"
    [ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] ||
        fail "$1: cursor $(committed_offset) != size $(stat -c %s "$LOG")"
    echo "ok $1" >&2
}

# Keeps the test's exit status: cleanup reads it from $?.
_redis_cleanup() {
    _redis_rc=$?
    if [ -n "${PROXY_PID:-}" ]; then
        kill -9 "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true # reaped here: no "Killed" notice from the shell
    fi
    stop_redis
    (exit "$_redis_rc")
    cleanup
}
trap _redis_cleanup EXIT
