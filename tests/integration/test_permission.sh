#!/bin/bash
# A11: the agent runs as an unprivileged user and the log is not readable: it starts, logs the
# path with the hint about group adm, keeps retrying (no exit, no crash loop), and reads the
# file once it becomes readable.
. "$(dirname "$0")/lib.sh"
need setpriv
[ "$(id -u)" = 0 ] || skip "needs root to switch to user nobody"

LOG=$T/mail.log
append "$LOG" 0 400
chmod 600 "$LOG"
mkdir "$T/state"
chown nobody:nogroup "$T/state"
: > "$T/out.jsonl"
chown nobody:nogroup "$T/out.jsonl"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
chmod 644 "$T/smtpmon.conf"
copy_for_nobody
SMTPMON="setpriv --reuid=nobody --regid=nogroup --clear-groups $SMTPMON_REAL"
AGENT_N=$((AGENT_N + 1))
AGENT_ERR=$T/agent$AGENT_N.err
setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMTPMON_REAL" -f "$T/smtpmon.conf" \
    2>"$AGENT_ERR" &
AGENT_PID=$!
wait_for 10 "grep -q 'cannot open: Permission denied.*group adm' '$AGENT_ERR' 2>/dev/null" ||
    fail "no permission message with the hint"
grep -q "file=$LOG" "$AGENT_ERR" || fail "message without the path"
# Retried on the safety-net timer (1 s), logged once.
wait_for 5 "kill -0 $AGENT_PID && [ \$(grep -c 'Permission denied' '$AGENT_ERR') -eq 1 ]" ||
    fail "permission message repeated or agent gone"
chmod 644 "$LOG"
wait_exact 10
grep -q "readable again" "$AGENT_ERR" || fail "no 'readable again' message"
[ "$(metric reopen_failures)" -ge 1 ] || fail "reopen_failures metric not counted"
stop_agent
exit 0
