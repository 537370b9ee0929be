#!/bin/bash
# Redis URLs with a real redis-server: an ACL user whose password holds '@', '/', ':' and '%'
# (percent-encoded in the URL) commits exactly; `requirepass` with such characters works for
# query and alerts; a bad escape is refused naming the part, not the password; rediss:// is
# refused by every command with the one stunnel message, never tried in plaintext.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
AGENT_PW='p@ss/w:rd%x'
AGENT_ENC='p%40ss%2Fw%3Ard%25x'
rcli ACL SETUSER smtpmon-agent resetpass ">$AGENT_PW" | grep -q OK || fail "ACL resetpass"
# No credential to fall back on: the URL's password must be the one used.
rm -f "$T/cred/redis-password"

LOG=$T/mail.log
append "$LOG" 0 400
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
sed -i "s|^url = .*|url = redis://smtpmon-agent:$AGENT_ENC@127.0.0.1:$REDIS_PORT/0|" \
    "$T/smtpmon.conf"
"$SMTPMON" -n -f "$T/smtpmon.conf" > "$T/check.out" 2>&1 || fail "-n: $(cat "$T/check.out")"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
stop_agent
! grep -q "$AGENT_PW\|$AGENT_ENC" "$AGENT_ERR" || fail "the agent logged its password"

# The same user from the command line, raw '@' and ':' (the last '@' ends the password).
"$SMTPMON" query --redis "redis://smtpmon-dashboard:@127.0.0.1:$REDIS_PORT" \
    --password-file "$T/dash-password" --agent "$AGENT_ID" --format json > "$T/ref.json" ||
    fail "reference query"
rcli ACL SETUSER smtpmon-dashboard resetpass '>d@sh:b/rd' | grep -q OK || fail "ACL dash"
"$SMTPMON" query --redis "redis://smtpmon-dashboard:d@sh:b%2Frd@127.0.0.1:$REDIS_PORT" \
    --agent "$AGENT_ID" --format json > "$T/q.json" 2> "$T/q.err" ||
    fail "query with a raw '@' and ':' in the password: $(cat "$T/q.err")"
cmp -s "$T/ref.json" "$T/q.json" || fail "query with the encoded password differs"

# A bad escape: usage error naming the part and position, not the password.
"$SMTPMON" query --redis "redis://smtpmon-dashboard:s3cret%zz@127.0.0.1:$REDIS_PORT" \
    --agent "$AGENT_ID" > /dev/null 2> "$T/q.err"
[ $? = 64 ] || fail "bad escape not refused with 64"
grep -q "password: bad percent-escape at character 7" "$T/q.err" || fail "bad escape: $(cat "$T/q.err")"
! grep -q s3cret "$T/q.err" || fail "the error shows the password"
"$SMTPMON" query --redis "redis://127.0.0.1:$REDIS_PORT/1%" > /dev/null 2> "$T/q.err"
[ $? = 64 ] || fail "bad database escape not refused"
grep -q "database '1%': bad percent-escape '%'" "$T/q.err" || fail "bad db: $(cat "$T/q.err")"

# requirepass (the default user) with the same characters, for query and alerts.
REQ='r:e@q/u%ire'
REQ_ENC='r%3Ae%40q%2Fu%25ire'
rcli CONFIG SET requirepass "$REQ" | grep -q OK || fail "CONFIG SET requirepass"
"$SMTPMON" query --redis "redis://:$REQ_ENC@127.0.0.1:$REDIS_PORT" --agent "$AGENT_ID" \
    --format json > "$T/q.json" 2> "$T/q.err" || fail "query with requirepass: $(cat "$T/q.err")"
cmp -s "$T/ref.json" "$T/q.json" || fail "query with requirepass differs"
"$SMTPMON" alerts --follow --count 1 --redis "redis://:$REQ_ENC@127.0.0.1:$REDIS_PORT" \
    > "$T/alerts.out" 2> "$T/alerts.err" &
apid=$!
wait_for 10 "grep -q subscribed '$T/alerts.err' || ! kill -0 $apid 2>/dev/null" ||
    fail "alerts did not subscribe"
redis-cli -p "$REDIS_PORT" --no-auth-warning -a "$REQ" PUBLISH smtpmon:alerts:mx1 '{"type":"alert","host":"mx1"}' \
    > /dev/null
wait_for 10 "! kill -0 $apid 2>/dev/null" || { kill $apid; fail "alerts did not exit"; }
wait $apid || fail "alerts with requirepass: $(cat "$T/alerts.err")"
[ "$(cat "$T/alerts.out")" = '{"type":"alert","host":"mx1"}' ] || fail "alerts printed $(cat "$T/alerts.out")"
"$SMTPMON" query --redis "redis://:wrong@127.0.0.1:$REDIS_PORT" --agent "$AGENT_ID" \
    > /dev/null 2> "$T/q.err"
[ $? = 69 ] || fail "a wrong password did not exit 69"

# rediss:// is refused everywhere, before any connection.
msg="rediss:// (TLS) is not supported by this build's hiredis; use stunnel, see packaging/redis/README.md"
tls="rediss://:$REQ_ENC@127.0.0.1:$REDIS_PORT"
"$SMTPMON" query --redis "$tls" --agent "$AGENT_ID" > /dev/null 2> "$T/e1"
[ $? = 64 ] || fail "query accepted rediss://"
"$SMTPMON" alerts --follow --count 1 --redis "$tls" > /dev/null 2> "$T/e2"
[ $? = 64 ] || fail "alerts accepted rediss://"
"$SMTPMON" -n --follow "$LOG" --redis "$tls" > "$T/e3" 2>&1
[ $? = 78 ] || fail "-n accepted rediss://"
"$SMTPMON" --follow "$LOG" --redis "$tls" --state-dir "$T/state3" > /dev/null 2> "$T/e4"
[ $? = 78 ] || fail "the agent accepted rediss://"
sed "s|^url = .*|url = $tls|" "$T/smtpmon.conf" > "$T/tls.conf"
"$SMTPMON" -n -f "$T/tls.conf" > "$T/e5" 2>&1
[ $? = 78 ] || fail "-n -f accepted rediss://"
grep -q "^$T/tls.conf:[0-9]*: $msg" "$T/e5" || fail "-n -f: no file:line: $(cat "$T/e5")"
for f in e1 e2 e3 e4 e5; do
    grep -qF "$msg" "$T/$f" || fail "$f: $(cat "$T/$f")"
    [ "$(grep -cF 'rediss://' "$T/$f")" = 1 ] || fail "$f: not one message: $(cat "$T/$f")"
    ! grep -q "$REQ_ENC" "$T/$f" || fail "$f shows the password"
done
exit 0
