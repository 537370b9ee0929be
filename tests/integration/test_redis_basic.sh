#!/bin/bash
# Redis: the agent runs as the ACL user of packaging/redis/users.acl (password from a systemd
# credential), commits through the proxy; `query` (read-only dashboard user) equals `scan` of
# the same lines for the agent and the fleet, the cursor equals the file size, minute buckets
# carry a TTL and the cursor none, the stream has one entry per closed minute; a second agent
# claiming the same id is refused; a clean restart resumes at the committed cursor.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
start_proxy
LOG=$T/mail.log
append "$LOG" 0 3000
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"
grep -q "$REDIS_PW" "$AGENT_ERR" && fail "the password was logged"
# The dashboard user may not SCAN: it finds a minute by the open minute in meta, as Grafana does.
om=$(rcli --user smtpmon-dashboard --pass "$DASH_PW" HGET "smtpmon:{$AGENT_ID}:meta" om)
key="smtpmon:{$AGENT_ID}:c:m:$om"
ttl=$(rcli --user smtpmon-dashboard --pass "$DASH_PW" PTTL "$key")
[ "$ttl" -gt 0 ] || fail "minute bucket without TTL ($ttl)"
[ "$(rcli PTTL "smtpmon:{$AGENT_ID}:cursor:mail")" = -1 ] || fail "cursor has a TTL"

# A second agent with the same id (another host: its own state dir) is refused.
write_rconf "$T/other.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
sed -i "s|^state_dir = .*|state_dir = $T/state2|" "$T/other.conf"
"$SMTPMON" -f "$T/other.conf" 2> "$T/other.err" &
other=$!
wait_for 10 "! kill -0 $other 2>/dev/null" || { kill -9 $other; fail "duplicate id not refused"; }
wait $other
rc=$?
[ "$rc" != 0 ] || fail "duplicate agent exited 0"
grep -q "held by another live agent" "$T/other.err" || fail "no clear error: $(cat "$T/other.err")"

# Clean restart: resumes at the committed cursor, nothing counted twice.
stop_agent
append "$LOG" 3000 500
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
grep -q "resuming at the committed cursor" "$AGENT_ERR" || fail "did not resume from Redis"
[ "$(rcli XLEN "smtpmon:{$AGENT_ID}:ts")" -ge 1 ] || fail "no time-series entry"
[ "$(rcli XLEN "smtpmon:{fleet}:ts")" -ge 1 ] || fail "no fleet time-series entry"
stop_agent
exit 0
