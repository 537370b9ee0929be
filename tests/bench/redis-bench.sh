#!/bin/bash
# Cost of the Redis exporter: commands and bytes sent to Redis per million log lines, commits
# per second at sustained load, and the catch-up rate after an outage (the proxy refuses
# connections while OUTAGE_LINES accumulate, as in a 10-minute outage of a busy host).
# BENCH_LINES (default 1000000), OUTAGE_LINES (default 300000). The log is the busy relay of
# tests/bench/gen.c (about 200 lines per second of log time, a third with a code). The agent's
# catch-up is timed from its start on the pre-written log until Redis holds every line, with its
# peak RSS (VmHWM) against the target of 8 MiB, with and without JIT.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPMON=${SMTPMON:-$ROOT/build/smtpmon}
N=${BENCH_LINES:-1000000}
M=${OUTAGE_LINES:-300000}
# Reuse the integration helpers (temp dir, gen, the proxy, Redis with ACL users).
. "$ROOT/tests/integration/lib.sh"
. "$ROOT/tests/integration/redis_lib.sh"

ms() { echo $(( $(date +%s%N) / 1000000 )); }
peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$AGENT_PID/status"; }
RSS_TARGET_KIB=8192
rss_verdict() { [ "$1" -le "$RSS_TARGET_KIB" ] && echo PASS || echo MISS; }
stat_of() { rcli INFO "$1" | tr -d '\r' | awk -F'[:=,]' -v k="$2" '$1 == k {print $2; exit} $1 == "cmdstat_" k {print $3; exit}'; }

GEN=$ROOT/build/bench/gen
if [ ! -x "$GEN" ] || [ "$GEN" -ot "$ROOT/tests/bench/gen.c" ] ||
    [ "$GEN" -ot "$ROOT/tests/bench/rng.h" ]; then
    mkdir -p "$ROOT/build/bench"
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" "$ROOT/tests/bench/gen.c" || exit 1
fi
start_redis
start_proxy
LOG=$T/mail.log
"$GEN" $((N + M)) 7 > "$T/all.log"
head -n "$N" "$T/all.log" > "$LOG"
cp "$LOG" "$T/written.log"
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
rcli CONFIG RESETSTAT > /dev/null
in0=$(stat_of stats total_net_input_bytes)
t0=$(ms)
start_agent -f "$T/smtpmon.conf"
wait_for 600 "[ \"\$(query_lines)\" -ge $N ]" || fail "not all lines committed"
t1=$(ms)
in1=$(stat_of stats total_net_input_bytes)
calls=$(rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ && !/hgetall|ping|info|config/ {s += $3} END {print s}')
evals=$(rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_evalsha:/ {print $3}')
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 1000}')
rss1=$(peak_kib)
echo "redis-bench: $N lines committed in ${secs}s ($(awk -v n="$N" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') lines/s)," \
     "agent peak RSS $(awk -v k="$rss1" 'BEGIN {printf "%.1f", k / 1024}') MiB"
echo "redis-bench: per million lines: $(awk -v c="$calls" -v n="$N" 'BEGIN {printf "%.0f", c * 1e6 / n}') commands" \
     "(incl. the scripts' inner calls: see INFO), $(awk -v c="$evals" -v n="$N" 'BEGIN {printf "%.0f", c * 1e6 / n}') EVALSHA," \
     "$(awk -v b="$((in1 - in0))" -v n="$N" 'BEGIN {printf "%.1f", b * 1e6 / n / 1024}') KiB sent"
echo "redis-bench: commits (EVALSHA) per second at sustained load: $(awk -v e="$evals" -v s="$secs" 'BEGIN {printf "%.1f", e / s}')"

# Outage: refuse while M lines accumulate, then measure the catch-up.
proxy refuse
wait_for 20 "grep -q 'cannot connect\|connection lost' '$AGENT_ERR'" || fail "no outage seen"
tail -n +$((N + 1)) "$T/all.log" | tee -a "$T/written.log" >> "$LOG"
t2=$(ms)
proxy forward
wait_for 600 "[ \"\$(query_lines)\" -ge $((N + M)) ]" || fail "no catch-up"
t3=$(ms)
echo "redis-bench: catch-up after the outage: $M lines in $(( t3 - t2 )) ms" \
     "($(awk -v n="$M" -v a="$t2" -v b="$t3" 'BEGIN {printf "%.0f", n * 1000 / (b - a)}') lines/s)"
# The generated relay has about a million distinct recipient domains: the top domains of each
# Redis hash are kept and the rest counted as "other", so domains are compared only in total.
QUERY_FILTER='.by.domain |= ([.[]] | add)' assert_query_is_scan
echo "redis-bench: query == scan after the outage (every count; domains as their total)"
rss2=$(peak_kib)
stop_agent
# The agent without JIT, as under the packaged unit's MemoryDenyWriteExecute=yes: a second agent
# (its own id and state) counts the same first N lines from their start.
AGENT_ID=bench-nojit
# The agent user's keys and channel are those of one agent id: give it the new one's.
# shellcheck disable=SC2046
rcli ACL SETUSER smtpmon-agent reset $(host_acl "$AGENT_ID") | grep -q OK || fail "ACL for $AGENT_ID"
head -n "$N" "$T/all.log" > "$T/first.log"
sed -e "s|^state_dir = .*|state_dir = $T/state-nojit|" -e "s|^path = .*|path = $T/first.log|" \
    -e "s|^agent_id = .*|agent_id = $AGENT_ID\njit = no|" "$T/smtpmon.conf" > "$T/nojit.conf"
t4=$(ms)
start_agent -f "$T/nojit.conf"
wait_for 600 "[ \"\$(query_lines)\" -ge $N ]" || fail "not all lines committed without JIT"
t5=$(ms)
secs2=$(awk -v a="$t4" -v b="$t5" 'BEGIN {printf "%.2f", (b - a) / 1000}')
echo "redis-bench: without JIT (jit = no): $N lines committed in ${secs2}s" \
     "($(awk -v n="$N" -v s="$secs2" 'BEGIN {printf "%.0f", n / s}') lines/s; with JIT above: ${secs}s)"
rss3=$(peak_kib)
stop_agent
echo "redis-bench: targets"
for r in "catch-up from the start, JIT:$rss1" "after the outage, JIT:$rss2" "catch-up from the start, no JIT:$rss3"; do
    printf '  agent peak RSS, %-40s %6s MiB <= %s MiB %s\n' "${r%%:*}" \
        "$(awk -v k="${r##*:}" 'BEGIN {printf "%.1f", k / 1024}')" $((RSS_TARGET_KIB / 1024)) "$(rss_verdict "${r##*:}")"
done
