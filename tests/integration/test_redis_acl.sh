#!/bin/bash
# Redis per-host ACL (packaging/redis/users.acl, user smtpmon-mx1: keys smtpmon:{mx1}:* and
# smtpmon:{fleet}:*): the agent mx1 commits exactly; an agent started as mx2 with the same
# user gets NOPERM, says so clearly, keeps running and commits nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
HOST_PW=host-secret-$$
_host=$(grep '^user smtpmon-mx1 ' "$ROOT/packaging/redis/users.acl" |
    sed "s/#REPLACE-WITH-SHA256-OF-PASSWORD/>$HOST_PW/; s/^user smtpmon-mx1 //")
# shellcheck disable=SC2086
rcli ACL SETUSER smtpmon-mx1 $_host | grep -q OK || fail "ACL host user"
printf '%s\n' "$HOST_PW" > "$T/host-password"
LOG=$T/mail.log
append "$LOG" 0 800
AGENT_ID=mx1
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
url="url = redis://127.0.0.1:$REDIS_PORT"
sed -i "s|^url = .*|$url\nuser = smtpmon-mx1\npassword_file = $T/host-password|" "$T/smtpmon.conf"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"
stop_agent

# The wrong id under the same user.
AGENT_ID=mx2
sed -e "s/^agent_id = .*/agent_id = mx2/" -e "s|^state_dir = .*|state_dir = $T/state2|" \
    "$T/smtpmon.conf" > "$T/mx2.conf"
start_agent -f "$T/mx2.conf"
wait_for 10 "grep -q 'refused by the ACL.*NOPERM' '$AGENT_ERR'" || fail "no clear NOPERM error"
grep -q "agent id 'mx2'" "$AGENT_ERR" || fail "the error does not name the agent id"
kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited"
[ "$(rcli --scan --pattern 'smtpmon:{mx2}:*' | wc -l)" = 0 ] || fail "mx2 committed something"
[ "$(grep -c 'refused by the ACL' "$AGENT_ERR")" = 1 ] || fail "the error is repeated"
stop_agent
exit 0
