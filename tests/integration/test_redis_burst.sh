#!/bin/bash
# D7: a burst far above what the agent commits per second (BURST_LINES lines, default 200,000,
# written as fast as awk writes them, about 40 MB). The agent's memory stays bounded (reading
# pauses while the batch queue is full), its lag rises and falls back to 0, and at the end the
# oracle is exact: query == scan of every line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

n=${BURST_LINES:-200000}
start_redis
LOG=$T/mail.log
: > "$LOG"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "batch_lines = 5000" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
rss0=$(awk '/^VmRSS/ {print $2}' /proc/"$AGENT_PID"/status)

# The whole burst in chunks of 50,000 lines, back to back.
for i in $(seq 0 50000 $((n - 1))); do
    append "$LOG" "$i" 50000
done
size=$(stat -c %s "$LOG")
lagkey="smtpmon:{$AGENT_ID}:meta"
maxlag=0
deadline=$(( $(date +%s) + 120 ))
while [ "$(query_lines)" -lt "$n" ]; do
    lag=$(rcli HGET "$lagkey" 'g|lag_bytes|mail' 2>/dev/null)
    [ -n "$lag" ] && [ "$lag" -gt "$maxlag" ] && maxlag=$lag
    [ "$(date +%s)" -lt "$deadline" ] || fail "timeout: Redis holds $(query_lines) of $n lines"
    sleep 0.2
done
wait_query_exact 30
hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$AGENT_PID"/status)
wait_for 10 "[ \"\$(rcli HGET '$lagkey' 'g|lag_bytes|mail')\" = 0 ]" ||
    fail "lag did not fall back to 0: $(rcli HGET "$lagkey" 'g|lag_bytes|mail')"
echo "burst: $n lines ($size bytes); peak lag seen $maxlag bytes; RSS $rss0 kB at start, peak $hwm kB"
[ "$maxlag" -gt 0 ] || fail "the lag never rose during the burst"
# Bounded: the queue holds at most a fixed number of batches, whatever the burst. Sanitizer
# builds keep freed memory in quarantine, so their ceiling is higher.
limit=65536
case "$SMTPMON" in *asan*) limit=1048576 ;; esac
[ "$hwm" -lt "$limit" ] || fail "peak RSS $hwm kB over $limit kB"
stop_agent
