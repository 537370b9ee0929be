#!/bin/bash
# The agent with a real redis-server: a spike of outbound 5.7.1 bounces appended to a followed
# log fires one alert and one recovery, seen by `smtpmon alerts --follow` (PUBLISH), in the
# stream P:{A}:alerts (XADD) and in the log; the learned baseline is saved to
# P:{A}:alerts:RULE on SIGTERM and restored on start, so that a second spike soon after the
# restart (before a fresh detector would have warmed up) fires too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
# The shipped ACL users: the agent publishes on its own channel smtpmon:alerts:AGENT, the
# dashboard user subscribes to the pattern smtpmon:alerts:*.
URL=redis://smtpmon-dashboard:$DASH_PW@127.0.0.1:$REDIS_PORT
alert_day -v minutes=600 -v spike_start=300 -v spike_end=320 -v spike2_start=500 -v spike2_end=520
LOG=$T/mail.log
alert_log "" 2024-11-28T05:00
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"

alert_follow 2
agent_reads_log "$T/smtpmon.conf"
[ ! -s "$T/follow.out" ] || fail "alert during the steady part: $(cat "$T/follow.out")"

# The spike and what follows it, up to 08:00.
alert_log 2024-11-28T05:00 2024-11-28T08:00
wait_for 20 "! kill -0 $FOLLOW 2>/dev/null" || fail "follow saw: $(cat "$T/follow.out")"
[ "$(wc -l < "$T/follow.out")" = 2 ] || fail "follow printed: $(cat "$T/follow.out")"
[ "$(sed -n 1p "$T/follow.out" | jq -r '.type + " " + .rule + " " + .host')" = \
  "alert outbound-5.7 $AGENT_ID" ] || fail "first: $(sed -n 1p "$T/follow.out")"
sed -n 1p "$T/follow.out" | jq -r .time | grep -q '^2024-11-28T05:00:' ||
    fail "alert time: $(sed -n 1p "$T/follow.out")"
[ "$(sed -n 2p "$T/follow.out" | jq -r .type)" = recovery ] || fail "second: $(cat "$T/follow.out")"
# The same as scan --alerts over the same lines.
"$SMTPMON" scan --alerts "$LOG" | jq -c 'del(.host)' > "$T/scan.out"
jq -c 'del(.host)' "$T/follow.out" > "$T/follow.cmp"
cmp -s "$T/scan.out" "$T/follow.cmp" || fail "agent and scan differ: $(cat "$T/scan.out")"

STREAM="smtpmon:{$AGENT_ID}:alerts"
[ "$(rcli XLEN "$STREAM")" = 2 ] || fail "stream has $(rcli XLEN "$STREAM") entries"
rcli XRANGE "$STREAM" - + | grep -q '"type":"alert"' || fail "no alert JSON in the stream"
grep -q "alerts: ALERT rule=outbound-5.7" "$AGENT_ERR" || fail "alert not logged"

# Restart: the baseline is saved on SIGTERM and restored on start.
stop_agent
KEY="smtpmon:{$AGENT_ID}:alerts:outbound-5.7"
rcli HGET "$KEY" state | head -n 1 | grep -q '^smtpmon-alerts-state 1$' ||
    fail "no saved baseline in $KEY"
alert_follow 1 follow2
start_agent -f "$T/smtpmon.conf"
grep -q "rule=outbound-5.7 baseline restored" "$AGENT_ERR" || fail "baseline not restored"
alert_log 2024-11-28T08:00 ""
wait_for 20 "! kill -0 $FOLLOW 2>/dev/null" || fail "no alert after the restart"
sed -n 1p "$T/follow2.out" | jq -r '.type + " " + .time' | grep -q '^alert 2024-11-28T08:20:' ||
    fail "second spike: $(cat "$T/follow2.out")"
stop_agent
exit 0
