#!/bin/bash
# Redis: slow but alive. The proxy holds every reply 600 ms while the agent's [redis] timeout
# is 400 ms: the first connection times out, the next one waits twice as long (logged once),
# and the agent commits every line exactly once instead of reconnecting without end. The
# scripts are loaded once: connections cut afterwards call them by their SHAs (SCRIPT LOAD
# calls in INFO commandstats do not grow with reconnections). Replies in time again bring the
# deadline back to [redis] timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need jq

start_redis
start_proxy
LOG=$T/mail.log
more 300
# a user that may load the scripts (the ACL users' NOPERM path is test_redis_acl's)
rcli ACL SETUSER loader on ">$REDIS_PW" '~*' '&*' +@all | grep -q OK || fail "ACL loader user"
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
sed -i "s|^url = .*|url = redis://loader:@127.0.0.1:$PROXY_PORT|; s|^timeout = .*|timeout = 400ms|" \
    "$T/smtpmon.conf"

script_loads() {
    rcli INFO commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_script|load:calls=\([0-9]*\),.*/\1/p; s/^cmdstat_script:calls=\([0-9]*\),.*/\1/p'
}
connections() { # (read again while the proxy rewrites its file)
    for _i in 1 2 3 4 5 6 7 8 9 10; do
        _c=$(sed -n 's/^connections \([0-9]*\) .*/\1/p' "$PROXY_CTL.stats")
        [ -n "$_c" ] && break
        sleep 0.01
    done
    echo "${_c:-0}"
}

loads0=$(script_loads)
proxy "delay 600"
start_agent -f "$T/smtpmon.conf"
check_committed "replies held 600 ms, timeout 400 ms" 60
more 200
check_committed "more lines, still slow" 30
conns=$(connections)
loads=$(( $(script_loads) - loads0 ))
echo "slow: $conns connections, $loads SCRIPT LOAD, $(grep -c 'timed out\|connection lost' "$AGENT_ERR") drops logged" >&2
n=$(grep -c 'redis: replies slower than 400 ms: waiting up to 800 ms' "$AGENT_ERR")
[ "$n" = 1 ] || fail "the longer deadline logged $n times: $(grep redis: "$AGENT_ERR" | head)"
grep -q 'waiting up to 1.6 s' "$AGENT_ERR" && fail "the deadline grew past what the replies need"
# two of the exporter's, and the blocking ones of the alerts (the baselines read at start)
[ "$conns" -le 5 ] || fail "$conns connections for a Redis 600 ms slow (a retry storm)"
# The first connection's SCRIPT LOADs ran in Redis although their replies came too late.
[ "$loads" -le 6 ] || fail "$loads SCRIPT LOAD for $conns connections"

# Connections cut: connected again to the same server, the scripts are called by their SHAs.
for i in 1 2 3; do
    proxy cut
    wait_for 10 "[ \"\$(connections)\" -gt $conns ]" || fail "cut $i: no new connection"
    conns=$(connections)
    more 50
    check_committed "cut $i" 30
done
loads2=$(( $(script_loads) - loads0 ))
echo "after 3 cuts: $conns connections, $loads2 SCRIPT LOAD" >&2
[ "$loads2" = "$loads" ] || fail "SCRIPT LOAD went from $loads to $loads2 over 3 reconnections"

# SCRIPT FLUSH: NOSCRIPT loads them again, nothing lost.
rcli SCRIPT FLUSH > /dev/null
more 50
check_committed "script flush" 30
[ $(( $(script_loads) - loads0 )) -gt "$loads2" ] || fail "scripts not loaded again after SCRIPT FLUSH"

# Replies in time again: back to [redis] timeout.
proxy forward
for i in $(seq 1 40); do
    more 5
    sleep 0.2
    grep -q 'redis: replies within 400 ms again: waiting up to 400 ms' "$AGENT_ERR" && break
done
grep -q 'redis: replies within 400 ms again' "$AGENT_ERR" ||
    fail "the deadline did not come back to 400 ms: $(grep redis: "$AGENT_ERR" | tail -n 5)"
check_committed "fast again" 30
stop_agent
exit 0
