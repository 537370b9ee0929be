#!/bin/bash
# Cost of a Prometheus scrape of `smtpmon serve`: the time of one GET /metrics and the serve
# process's peak RSS for 1, 100 and 1,000 agents (SERVE_AGENTS, default "1 100 1000").
# One real agent (id seed) commits SERVE_LINES (default 200000) lines of the busy relay of
# tests/bench/gen.c to a real redis-server, with the five default alert rules; its keys
# (c:total, meta, alerts:RULE) are then copied under the ids bench-2 ... bench-N with
# DUMP/RESTORE inside one Lua script, so every simulated agent holds what a busy host holds
# (about 300 fields in its totals: the top 50 recipient domains among them). serve reads
# Redis as the read-only user of the README (SCAN, HGETALL, HGET). For each N a fresh serve
# answers SERVE_SCRAPES (default 5) scrapes; the median time and VmHWM after them are printed,
# with PASS or MISS against the target at 1,000 agents (1 s, 64 MiB).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPMON=${SMTPMON:-$ROOT/build/smtpmon}
LINES=${SERVE_LINES:-200000}
SCRAPES=${SERVE_SCRAPES:-5}
AGENTS=${SERVE_AGENTS:-1 100 1000}
. "$ROOT/tests/integration/lib.sh"
. "$ROOT/tests/integration/redis_lib.sh"
AGENT_ID=seed
need curl

GEN=$ROOT/build/bench/gen
if [ ! -x "$GEN" ] || [ "$GEN" -ot "$ROOT/tests/bench/gen.c" ] ||
    [ "$GEN" -ot "$ROOT/tests/bench/rng.h" ]; then
    mkdir -p "$ROOT/build/bench"
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" "$ROOT/tests/bench/gen.c" || exit 1
fi
start_redis
"$GEN" "$LINES" 7 > "$T/mail.log"
cp "$T/mail.log" "$T/written.log"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $T/mail.log"
start_agent -f "$T/smtpmon.conf"
wait_for 300 "[ \"\$(query_lines)\" -ge $LINES ]" || fail "the seed agent did not commit its lines"
stop_agent
SERVE_PW=serve-secret-$$
rcli ACL SETUSER smtpmon-serve on ">$SERVE_PW" resetkeys resetchannels -@all +ping +auth +hello \
    +select +scan +hget +hgetall '%R~smtpmon:*' | grep -q OK || fail "ACL SETUSER smtpmon-serve"
printf '%s\n' "$SERVE_PW" > "$T/serve-password"
fields=$(rcli HLEN 'smtpmon:{seed}:c:total')
rules=$(rcli --scan --pattern 'smtpmon:{seed}:alerts:*' | wc -l)

# copy N: the seed's keys under bench-2 ... bench-N (those already there are kept).
COPY='local n = tonumber(ARGV[1])
local keys = redis.call("KEYS", "smtpmon:{seed}:*")
local made = 0
for i = 2, n do
    for _, k in ipairs(keys) do
        local t = redis.call("TYPE", k)["ok"]
        if t == "hash" then
            local nk = string.gsub(k, "^smtpmon:{seed}:", "smtpmon:{bench-" .. i .. "}:")
            if redis.call("EXISTS", nk) == 0 then
                redis.call("RESTORE", nk, 0, redis.call("DUMP", k))
                made = made + 1
            end
        end
    end
end
return made'

SERVE_PID=
stop_serve() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=
}
trap '_st=$?; stop_serve; (exit "$_st"); _redis_cleanup' EXIT
: > "$T/empty.conf"
rows=""
for n in $AGENTS; do
    rcli EVAL "$COPY" 0 "$n" > /dev/null || fail "cannot copy the seed's keys"
    have=$(rcli --scan --pattern 'smtpmon:{*}:c:total' | grep -vc '{fleet}')
    [ "$have" -ge "$n" ] || fail "$have agents in Redis, wanted $n"
    for _try in 1 2 3 4 5; do
        port=$(free_port)
        "$SMTPMON" serve -f "$T/empty.conf" --listen "127.0.0.1:$port" \
            --redis "redis://smtpmon-serve:@127.0.0.1:$REDIS_PORT" --password-file "$T/serve-password" \
            2> "$T/serve-$n.err" &
        SERVE_PID=$!
        wait_for 10 "curl -s -o /dev/null http://127.0.0.1:$port/ 2>/dev/null || ! kill -0 $SERVE_PID" &&
            kill -0 "$SERVE_PID" 2> /dev/null && break
        SERVE_PID=
    done
    [ -n "$SERVE_PID" ] || fail "serve did not start: $(cat "$T/serve-$n.err")"
    rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status")
    : > "$T/times"
    rcpu0=$(rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { print s }')
    for _i in $(seq "$SCRAPES"); do
        code=$(curl -s -o "$T/metrics" -w '%{http_code} %{time_total}' "http://127.0.0.1:$port/metrics")
        [ "${code%% *}" = 200 ] || fail "scrape of $n agents: HTTP $code: $(head -c 300 "$T/metrics")"
        echo "${code#* }" >> "$T/times"
    done
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
    # CPU seconds a scrape, of serve (utime + stime) and of redis-server.
    scpu=$(awk -v n="$SCRAPES" -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz / n }' "/proc/$SERVE_PID/stat")
    rcpu=$(rcli INFO cpu | tr -d '\r' | awk -F: -v a="$rcpu0" -v n="$SCRAPES" '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", (s - a) / n }')
    stop_serve
    series=$(grep -vc '^#' "$T/metrics")
    agents=$(grep -o 'agent="[^"]*"' "$T/metrics" | sort -u | grep -vc '_fleet')
    [ "$agents" = "$n" ] || fail "the scrape shows $agents agents, Redis holds $n"
    med=$(sort -n "$T/times" | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }')
    max=$(sort -n "$T/times" | tail -n 1)
    rows+="$n $med $max $hwm $rss0 $series $(stat -c %s "$T/metrics") $scpu $rcpu
"
done
echo "serve-bench: one /metrics scrape (median and slowest of $SCRAPES), serve's peak RSS (VmHWM);"
echo "serve-bench: each agent a copy of a real one after $LINES relay lines ($fields fields in its totals, $rules alert rules)"
printf '| agents | scrape (median) | slowest | CPU a scrape: serve, redis | peak RSS | RSS before | series | bytes |\n|---|---|---|---|---|---|---|---|\n'
printf '%s' "$rows" | while read -r n med max hwm rss0 series bytes scpu rcpu; do
    printf '| %s | %s s | %.3f s | %s s, %s s | %.1f MiB | %.1f MiB | %s | %s |\n' "$n" "$med" "$max" "$scpu" "$rcpu" \
        "$(awk -v k="$hwm" 'BEGIN {print k / 1024}')" "$(awk -v k="$rss0" 'BEGIN {print k / 1024}')" "$series" "$bytes"
done
last=$(printf '%s' "$rows" | awk '$1 == 1000')
if [ -n "$last" ]; then
    read -r _ med _ hwm _ <<< "$last"
    verdict=$(awk -v t="$med" -v m="$hwm" 'BEGIN { print (t < 1 && m < 65536) ? "PASS" : "MISS" }')
    echo "serve-bench: 1,000 agents: scrape ${med} s (target < 1 s), peak RSS $((hwm / 1024)) MiB (target < 64 MiB): $verdict"
fi
exit 0
