#!/bin/bash
# Alert delivery bounds its connect time by [redis] connect_timeout, as the exporter does. The
# agent commits through the proxy; then the proxy accepts no new connection (a connect waits
# unanswered) while a spike of outbound 5.7.1 bounces fires an alert: the delivery gives up
# after connect_timeout (1 s) and says so, the exporter's connection open before goes on
# committing. With the proxy accepting again, the alert of a second spike reaches the stream
# P:{A}:alerts (the delivery connected again after its back-off).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
start_proxy
alert_day -v minutes=480 -v spike_start=300 -v spike_end=320 -v spike2_start=400 -v spike2_end=420
LOG=$T/mail.log
alert_log "" 2024-11-28T05:00
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
sed -i '/^\[redis\]/a connect_timeout = 1s' "$T/smtpmon.conf"

export TZ=UTC
start_agent -f "$T/smtpmon.conf"
wait_for 20 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" || fail "the history was not read"

proxy noaccept
# The proxy reads its mode every 20 ms: a probe that cannot connect says it took effect.
wait_for 10 "! timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT' 2>/dev/null" ||
    fail "the proxy still accepts"
t0=$(date +%s%N)
alert_log 2024-11-28T05:00 2024-11-28T06:00
wait_for 15 "grep -q 'alerts: redis connect failed: timed out after 1000 ms' '$AGENT_ERR'" ||
    fail "no connect timeout: $(grep alerts: "$AGENT_ERR" | tail -n 5)"
echo "alert delivery gave up after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
grep -q "alerts: ALERT rule=outbound-5.7" "$AGENT_ERR" || fail "no alert logged"
wait_for 20 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" ||
    fail "the exporter stopped committing: cursor $(committed_offset)"
STREAM="smtpmon:{$AGENT_ID}:alerts"
[ "$(rcli XLEN "$STREAM")" = 0 ] || fail "delivered without a connection: $(rcli XRANGE "$STREAM" - +)"

proxy forward
alert_log 2024-11-28T06:00 ""
wait_for 20 "rcli XRANGE '$STREAM' - + | grep -q '\"type\":\"alert\".*\"time\":\"2024-11-28T06:4'" ||
    fail "the second spike's alert was not delivered: $(rcli XRANGE "$STREAM" - +);" \
        "$(grep alerts: "$AGENT_ERR" | tail -n 5)"
stop_agent
exit 0
