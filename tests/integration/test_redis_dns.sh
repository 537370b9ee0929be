#!/bin/bash
# serial: rewrites /etc/hosts
# C10: the Redis host is a name, resolved again on every connection. When its address changes
# the agent follows it on the next connection; while the name does not resolve the agent says
# so, keeps retrying and reading up to its bound (the log is the buffer), and when the name
# comes back every line is counted exactly once. Needs root: the name lives in /etc/hosts for
# the test (written in place, restored at exit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to give a name an address in /etc/hosts"
NAME=smtpmon-c10-$$.test
cp /etc/hosts "$T/hosts.orig" || fail "cannot read /etc/hosts"
restore_hosts() {
    cat "$T/hosts.orig" > /etc/hosts
}
trap '_hrc=$?; restore_hosts; (exit $_hrc); _redis_cleanup' EXIT
# name_at ADDRESS: /etc/hosts maps NAME to ADDRESS (none: NAME does not resolve).
name_at() {
    if [ "$1" = none ]; then
        restore_hosts
    else
        { cat "$T/hosts.orig"; printf '%s %s\n' "$1" "$NAME"; } > /etc/hosts
    fi
}
# The local address of the agent's connection, as Redis sees it.
agent_laddr() {
    rcli CLIENT LIST 2>/dev/null | grep ' user=smtpmon-agent ' | grep -o 'laddr=[0-9.]*' |
        head -n 1 | cut -d= -f2
}

REDIS_BIND="127.0.0.1 127.0.0.2 127.0.0.3" start_redis
name_at 127.0.0.2
getent hosts "$NAME" | grep -q '^127\.0\.0\.2 ' || skip "/etc/hosts is not used to resolve names here"

LOG=$T/mail.log
append "$LOG" 0 500
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
sed -i "s|^url = .*|url = redis://smtpmon-agent:@$NAME:$REDIS_PORT|" "$T/smtpmon.conf"
start_agent -f "$T/smtpmon.conf"
wait_for 20 "[ \"\$(query_lines)\" = 500 ]" || fail "the first 500 lines were not committed"
[ "$(agent_laddr)" = 127.0.0.2 ] || fail "agent connected to '$(agent_laddr)', not 127.0.0.2"

# The address changes: the next connection goes to the new one.
name_at 127.0.0.3
rcli CLIENT KILL USER smtpmon-agent > /dev/null
append "$LOG" 500 500
wait_for 20 "[ \"\$(query_lines)\" = 1000 ]" || fail "lines after the address change not committed"
[ "$(agent_laddr)" = 127.0.0.3 ] || fail "agent reconnected to '$(agent_laddr)', not 127.0.0.3"

# The name stops resolving: the agent says so and waits; nothing is lost or doubled.
name_at none
rcli CLIENT KILL USER smtpmon-agent > /dev/null
append "$LOG" 1000 2000
wait_for 20 "grep -q \"$NAME\" '$AGENT_ERR'" || fail "no log line names the unresolvable host"
grep "$NAME" "$AGENT_ERR" | tail -n 1 >&2
[ "$(query_lines)" = 1000 ] || fail "lines committed while the name did not resolve?"
kill -0 "$AGENT_PID" || fail "agent exited while the name did not resolve"
name_at 127.0.0.2
wait_for 30 "[ \"\$(query_lines)\" = 3000 ]" || fail "no catch-up after the name came back"
[ "$(agent_laddr)" = 127.0.0.2 ] || fail "agent reconnected to '$(agent_laddr)', not 127.0.0.2"
assert_query_is_scan
stop_agent
