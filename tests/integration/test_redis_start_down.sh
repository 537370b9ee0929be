#!/bin/bash
# Redis: the agent starts without waiting for Redis. With the proxy refusing (or stalling)
# connections it sends READY=1 and WATCHDOG=1 (configuration and state loaded), and SIGTERM
# ends it with status 0 within 2 s. Started again with Redis down, then Redis brought up,
# every line is counted exactly once. The Redis settings come from the configuration file
# ([redis] password_file, connect_timeout, backoff_max, lease, top_domains, fleet), not from
# the environment, and the password appears neither in the logs nor on the command line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need python3

unset CREDENTIALS_DIRECTORY SMTPMON_REDIS_BACKOFF_MAX_MS
start_redis
start_proxy
SOCK=$T/notify.sock
start_notify_listener "$SOCK" "$T/notify.log"
LOG=$T/mail.log
append "$LOG" 0 500
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
keys="password_file = $T/cred/redis-password\nconnect_timeout = 1s\nbackoff_max = 300ms"
keys="$keys\nlease = 10s\ntop_domains = 50\nfleet = yes"
sed -i "/^\[redis\]/a $keys" "$T/smtpmon.conf"
"$SMTPMON" -n -f "$T/smtpmon.conf" > /dev/null 2>&1 || fail "configuration refused"

for mode in refuse stall; do
    proxy "$mode"
    : > "$T/notify.log"
    NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=400000 start_agent -f "$T/smtpmon.conf"
    wait_for 5 "grep -q 'READY=1' '$T/notify.log'" || fail "$mode: no READY=1 with Redis down"
    wait_for 5 "grep -q 'WATCHDOG=1' '$T/notify.log'" || fail "$mode: no WATCHDOG=1"
    tr '\0' ' ' < "/proc/$AGENT_PID/cmdline" | grep -q "$REDIS_PW" && fail "password in argv"
    t0=$(date +%s%N)
    kill -TERM "$AGENT_PID"
    wait_for 2 "! kill -0 $AGENT_PID 2>/dev/null" || fail "$mode: SIGTERM not honoured in 2 s"
    wait "$AGENT_PID"
    rc=$?
    AGENT_PID=
    echo "$mode: stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
    [ "$rc" = 0 ] || fail "$mode: exit status $rc on SIGTERM"
done

# Down at start, then up: exact.
proxy refuse
append "$LOG" 500 700
start_agent -f "$T/smtpmon.conf"
wait_for 10 "grep -q 'redis: cannot connect\|redis: connection lost' '$AGENT_ERR'" ||
    fail "no connection failure logged"
append "$LOG" 1200 300
proxy forward
wait_query_exact 20
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"
grep -q "$REDIS_PW" "$T"/agent*.err && fail "the password was logged"
stop_agent
exit 0
