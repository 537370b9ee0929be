#!/bin/bash
# SIGHUP reads the [alert] sections again: an agent running with a threshold that a spike of
# outbound 5.7.1 bounces does not reach is reloaded with a lower one; the spike that follows
# fires once and recovers once, with the baseline learned before the reload (saved and restored
# on the way), so the agent's alerts are those of `scan --alerts` with the new configuration
# over the whole log. Without Redis (nowhere to save a baseline) the same.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
URL=redis://smtpmon-dashboard:$DASH_PW@127.0.0.1:$REDIS_PORT
alert_day -v minutes=480 -v spike_start=360 -v spike_end=380
LOG=$T/mail.log
alert_log "" 2024-11-28T05:00

# rule NAME MIN_COUNT: an outbound 5.7.* rule as the shipped outbound-5.7.
rule() {
    printf '%s\n' "[alert $1]" "direction = outbound" "status = 5.7.*" "window = 10m" \
        "min_count = $2" "factor = 3" "min_share = 2%"
}
mapfile -t before < <(rule outbound-5.7 100000)
mapfile -t after < <(rule outbound-5.7 20)
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG" "${before[@]}"
write_rconf "$T/after.conf" "$REDIS_PORT" "[source mail]" "path = $LOG" "${after[@]}"
# What scan says of the whole log with the configuration after the reload.
"$SMTPMON" scan --alerts --config "$T/after.conf" "$T/day.log" | jq -c 'del(.host)' > "$T/want" ||
    fail "scan --alerts failed"
[ "$(jq -r '.type + " " + .rule' "$T/want" | sort | tr '\n' ,)" = \
  "alert outbound-5.7,recovery outbound-5.7," ] ||
    fail "scan --alerts with the new rules: $(cat "$T/want")"

alert_follow 2
agent_reads_log "$T/smtpmon.conf"

# The new rules, then the rest of the day with the spike.
cp "$T/after.conf" "$T/smtpmon.conf"
kill -HUP "$AGENT_PID"
wait_for 10 "grep -q 'reload: done' '$AGENT_ERR'" || fail "reload not done: $(cat "$AGENT_ERR")"
grep -q "rule=outbound-5.7 keeps its window, baseline and state" "$AGENT_ERR" ||
    fail "the baseline was not carried over the reload: $(grep alerts "$AGENT_ERR")"
alert_log 2024-11-28T05:00 ""
wait_for 30 "! kill -0 $FOLLOW 2>/dev/null" || fail "follow saw: $(cat "$T/follow.out")"
jq -c 'del(.host)' "$T/follow.out" | sort > "$T/got"
sort "$T/want" > "$T/want.sorted"
diff "$T/want.sorted" "$T/got" > "$T/diff" ||
    fail "the agent's alerts after the reload are not scan's: $(head -c 1500 "$T/diff")"
stop_agent

# Without Redis: the alerts go to the log alone, and the reload loses nothing either.
: > "$LOG"
alert_log "" 2024-11-28T05:00
write_conf "$T/plain.conf" "[source mail]" "path = $LOG" "${before[@]}"
sed -i "s|^state_dir = .*|state_dir = $T/state2|" "$T/plain.conf"
write_conf "$T/plain-after.conf" "[source mail]" "path = $LOG" "${after[@]}"
sed -i "s|^state_dir = .*|state_dir = $T/state2|" "$T/plain-after.conf"
start_agent -f "$T/plain.conf"
wait_for 20 "[ \"\$(jq -s 'map(.counts.lines) | add' '$T/out.jsonl' 2>/dev/null)\" = $(wc -l < "$LOG") ]" ||
    fail "the history was not read (without Redis)"
cp "$T/plain-after.conf" "$T/plain.conf"
kill -HUP "$AGENT_PID"
wait_for 10 "[ \"\$(grep -c 'reload: done' '$AGENT_ERR')\" = 1 ]" || fail "reload not done"
grep -q "rule=outbound-5.7 keeps its window, baseline and state" "$AGENT_ERR" ||
    fail "the rule's state was not kept over the reload (without Redis)"
alert_log 2024-11-28T05:00 ""
wait_for 30 "[ \"\$(grep -c 'alerts: recovery rule=' '$AGENT_ERR')\" = 1 ]" ||
    fail "no recovery without Redis: $(grep 'alerts:' "$AGENT_ERR")"
grep -E 'alerts: (ALERT|recovery) rule=' "$AGENT_ERR" | sed 's/^[^{]*//' | jq -c 'del(.host)' |
    sort > "$T/got2"
diff "$T/want.sorted" "$T/got2" > "$T/diff" ||
    fail "without Redis, the alerts after the reload are not scan's: $(head -c 1500 "$T/diff")"
stop_agent
exit 0
