#!/bin/bash
# Alerts delivered through Redis Sentinel: the [redis] URL names a port nobody listens on, and
# only the sentinel knows the master. A spike of outbound 5.7.1 bounces fires one alert and one
# recovery; both reach the master's stream P:{A}:alerts (XADD over the async connection, found
# through the sentinel as the exporter's is), the counts are committed there too, and the
# baseline saved on SIGTERM (the blocking connection) is in P:{A}:alerts:RULE.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
start_sentinel "$REDIS_PORT"
alert_day -v minutes=480 -v spike_start=300 -v spike_end=320
LOG=$T/mail.log
alert_log "" 2024-11-28T05:00
write_rconf "$T/smtpmon.conf" 1 "[source mail]" "path = $LOG"
sed -i "/^\[redis\]/a sentinels = 127.0.0.1:$PS\nmaster_name = m" "$T/smtpmon.conf"

export TZ=UTC
start_agent -f "$T/smtpmon.conf"
wait_for 20 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" ||
    fail "the history was not committed through the sentinel"
STREAM="smtpmon:{$AGENT_ID}:alerts"
[ "$(rcli XLEN "$STREAM")" = 0 ] || fail "alert during the steady part: $(rcli XRANGE "$STREAM" - +)"

alert_log 2024-11-28T05:00 ""
wait_for 20 "[ \"\$(rcli XLEN '$STREAM')\" = 2 ]" ||
    fail "stream has $(rcli XLEN "$STREAM") entries; agent: $(grep alerts: "$AGENT_ERR" | tail -n 5)"
[ "$(rcli XRANGE "$STREAM" - + | grep -o '"type":"[a-z]*"' | tr '\n' ' ')" = \
  '"type":"alert" "type":"recovery" ' ] || fail "stream: $(rcli XRANGE "$STREAM" - +)"
! grep -q "alerts: redis connect failed\|not delivered to Redis" "$AGENT_ERR" ||
    fail "delivery failed: $(grep alerts: "$AGENT_ERR" | tail -n 5)"

stop_agent
rcli HGET "smtpmon:{$AGENT_ID}:alerts:outbound-5.7" state | head -n 1 |
    grep -q '^smtpmon-alerts-state 1$' || fail "no saved baseline"
exit 0
