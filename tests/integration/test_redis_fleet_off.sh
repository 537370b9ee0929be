#!/bin/bash
# [redis] fleet = no: the agent commits its own keys with one EVALSHA a batch and never writes
# the {fleet} keys (the commit script's pending fleet delta is marked done at once, not sent
# afterwards); switched from fleet = yes, the fleet totals keep what was counted before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
LOG=$T/mail.log
append "$LOG" 0 2000
write_rconf "$T/on.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/on.conf"
wait_query_exact 20
stop_agent
fleet_before=$(query_json --fleet | jq -S .)

sed 's/^\[redis\]$/[redis]\nfleet = no/' "$T/on.conf" > "$T/off.conf"
grep -q '^fleet = no$' "$T/off.conf" || fail "no fleet = no in $T/off.conf"
rcli CONFIG RESETSTAT > /dev/null
start_agent -f "$T/off.conf"
for i in 1 2 3 4 5; do
    append "$LOG" $((2000 + (i - 1) * 300)) 300
    sleep 0.3
done
n=$(wc -l < "$T/written.log")
wait_for 20 "[ \"\$(query_lines)\" -ge $n ]" || fail "Redis holds $(query_lines) of $n lines"
"$SMTPMON" scan --format json "$T/written.log" | jq -S . > "$T/scan.json"
query_json | jq -S . > "$T/query.json"
diff "$T/scan.json" "$T/query.json" > "$T/diff.txt" || fail "query differs from scan: $(head -c 1500 "$T/diff.txt")"
[ "$(query_json --fleet | jq -S .)" = "$fleet_before" ] || fail "fleet = no changed the fleet totals"
grep -q 're-sending the fleet delta' "$AGENT_ERR" && fail "fleet = no sent a fleet delta: $(grep -m1 fleet "$AGENT_ERR")"
stats=$(rcli INFO commandstats | tr -d '\r')
seq0=$(grep -o 'resuming at the committed cursor seq=[0-9]*' "$AGENT_ERR" | grep -o '[0-9]*$')
seq=$(rcli HGET "smtpmon:{$AGENT_ID}:cursor:mail" seq)
evals=$(awk -F'[:=,]' '$1 == "cmdstat_evalsha" {print $3}' <<< "$stats")
# One EVALSHA a batch, and at most two more: the first commit after the restart is answered
# PENDING (the delta of the fleet = yes run) and sent again. Before, every batch took two.
echo "fleet = no: $((seq - seq0)) batches, $evals EVALSHA"
[ "$evals" -le $((seq - seq0 + 2)) ] || fail "$evals EVALSHA for $((seq - seq0)) batches: more than one a batch"
stop_agent
exit 0
