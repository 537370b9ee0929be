#!/bin/bash
# F8: the owner token cannot be saved in the state directory (here its name is taken by a
# directory, as a full state directory refuses the file), then kill -9: the restart derives
# the same token and is not refused for the rest of the lease (exit 69, EX_UNAVAILABLE); counts stay exact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
LOG=$T/mail.log
append "$LOG" 0 500
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[redis]" "lease = 60s" "[source mail]" "path = $LOG"
mkdir -p "$T/state/redis-owner"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
grep -q "cannot save the owner token" "$AGENT_ERR" || fail "no warning about the owner token"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
append "$LOG" 500 300
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
grep -q "held by another live agent" "$AGENT_ERR" && fail "restart refused"
stop_agent
# Another state directory (another host) with the same agent id is still refused.
sed "s|^state_dir = .*|state_dir = $T/state2|" "$T/smtpmon.conf" > "$T/other.conf"
start_agent -f "$T/smtpmon.conf"
"$SMTPMON" -f "$T/other.conf" 2> "$T/other.err"
rc=$?
[ "$rc" = 69 ] || fail "a second owner exited $rc, want 69 (EX_UNAVAILABLE: the id is held by a live agent)"
stop_agent
exit 0
