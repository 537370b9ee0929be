#!/bin/bash
# An alert rule's program: started with a fixed argv (no shell) and the alert JSON on stdin for
# the alert and for its recovery; a program that outlives program_timeout is killed, logged,
# and the agent goes on.
. "$(dirname "$0")/lib.sh"

GEN=$ROOT/tests/data/alerts/gen.awk
awk -v minutes=480 -v spike_start=300 -v spike_end=320 -f "$GEN" > "$T/mail.log"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $T/mail.log" \
    "[alert spike]" "direction = outbound" "status = 5.7.*" "window = 10m" "min_count = 20" \
    "factor = 3" "min_share = 2%" "program = /usr/bin/tee -a $T/program.out" \
    "[alert stuck]" "direction = outbound" "status = 5.7.*" "window = 10m" "min_count = 20" \
    "factor = 3" "min_share = 2%" "program = /bin/sleep 600" "program_timeout = 1s"
export TZ=UTC
start_agent -f "$T/smtpmon.conf"
wait_for 20 "[ \"\$(grep -c '\"type\":\"recovery\"' '$T/program.out' 2>/dev/null)\" = 1 ]" ||
    fail "the program did not receive alert and recovery: $(cat "$T/program.out" 2>/dev/null)"
# Each alert runs its own program, so the two may finish in either order.
[ "$(jq -r '.type + " " + .rule' "$T/program.out" | sort | tr '\n' ' ')" = \
  "alert spike recovery spike " ] || fail "program input: $(cat "$T/program.out")"
jq -r 'select(.type == "alert") | .time' "$T/program.out" | grep -q 'T05:00:' ||
    fail "alert time: $(cat "$T/program.out")"
# The same alerts as scan --alerts over the same lines and rules.
"$SMTPMON" scan --alerts --config "$T/smtpmon.conf" "$T/mail.log" |
    jq -c 'select(.rule == "spike") | del(.host)' | sort > "$T/scan.out"
jq -c 'del(.host)' "$T/program.out" | sort > "$T/program.cmp"
cmp -s "$T/scan.out" "$T/program.cmp" || fail "program input differs from scan --alerts"
wait_for 10 "grep -q 'rule=stuck program pid=[0-9]* timed out: killing it' '$AGENT_ERR'" ||
    fail "the stuck program was not killed: $(grep stuck "$AGENT_ERR")"
kill -0 "$AGENT_PID" || fail "the agent died"
stop_agent
exit 0
