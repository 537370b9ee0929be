#!/bin/bash
# E4: SIGHUP with a good configuration whose patterns change the classification. Every line is
# counted exactly once, by the rules in force when it was read: the batch in flight is sealed
# with the old rules, nothing is reset or counted twice. The local override below turns
# postfix.smtp.delivery's direction from inbound (before) to outbound (after).
# E5: a storm of 100 SIGHUPs within a second, while lines arrive, then SIGTERM during a reload:
# the reloads are coalesced or run one by one, the counts stay exact, and no descriptor leaks.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
mkdir -p "$T/local"
rules() {
    { echo "pack postfix"
      awk '/^rule postfix.smtp.delivery$/ {p = 1} p && /^$/ {exit} p' "$ROOT/patterns/postfix.rules" |
          sed "s/^  direction outbound\$/  direction $1/"
    } > "$T/local/local.rules.new"
    mv "$T/local/local.rules.new" "$T/local/local.rules"
}
dir_sum() {
    jq -s "map(.counts.by.direction.$1 // 0) | add // 0" "$T/out.jsonl"
}

rules inbound
append "$LOG" 0 2000
write_conf "$T/smtpmon.conf" "patterns_override = $T/local" "[source mail]" "path = $LOG"
# patterns_override belongs to [agent], the first section write_conf writes.
start_agent -f "$T/smtpmon.conf"
wait_exact 15
[ "$(dir_sum inbound)" = 2000 ] || fail "the override was not used: $(dir_sum inbound) inbound"

# E4: lines in flight while the rules change.
rules outbound
append "$LOG" 2000 3000
kill -HUP "$AGENT_PID"
wait_for 10 "grep -q 'reload: done' '$AGENT_ERR'" || fail "reload not done"
append "$LOG" 5000 1000
wait_exact 15
in=$(dir_sum inbound)
out=$(dir_sum outbound)
[ $((in + out)) = 6000 ] || fail "directions add up to $((in + out)), not 6000"
[ "$in" -ge 2000 ] && [ "$out" -ge 1000 ] ||
    fail "inbound $in (>= 2000 read before the reload), outbound $out (>= 1000 after)"
echo "E4: $in lines by the old rules, $out by the new, none twice"

# E5: 100 SIGHUPs in about a second while a writer appends.
fds_before=$(ls /proc/"$AGENT_PID"/fd | wc -l)
start_writer "$LOG" 6000 20000 500
for _ in $(seq 1 100); do
    kill -HUP "$AGENT_PID" || fail "agent died during the SIGHUP storm"
    sleep 0.01
done
wait_writer 60
wait_exact 30
reloads=$(grep -c 'reload: done' "$AGENT_ERR")
fds_after=$(ls /proc/"$AGENT_PID"/fd | wc -l)
[ "$fds_after" -le "$fds_before" ] || fail "descriptors grew from $fds_before to $fds_after"
echo "E5: 100 SIGHUPs gave $((reloads - 1)) reloads; descriptors $fds_before -> $fds_after"

# SIGTERM while reloading: the agent stops, exits 0, and a restart counts nothing twice.
append "$LOG" 26000 3000
kill -HUP "$AGENT_PID"
stop_agent
start_agent -f "$T/smtpmon.conf"
wait_exact 15
stop_agent
