#!/bin/bash
# What the per-minute streams cost in Redis: replays MINUTES minutes (default 1440, a day) of
# RATE classified lines a minute (default 40, cycled from the sample log's lines with a code)
# through the agent into a scratch redis-server, then prints XLEN, MEMORY USAGE and the mean
# fields per entry of P:{A}:ts and P:{fleet}:ts.
#   tests/bench/stream_memory.sh [RATE] [MINUTES]     (SMTPMON=path/to/smtpmon to compare)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SMTPMON=${SMTPMON:-$ROOT/build/smtpmon}
RATE=${1:-40}
MINUTES=${2:-1440}
T=$(mktemp -d)
PORT=$((20000 + RANDOM % 30000))
trap 'kill "$APID" 2>/dev/null || true; redis-cli -p "$PORT" shutdown nosave > /dev/null 2>&1; rm -rf "$T"' EXIT
APID=
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
    --daemonize yes --logfile "$T/redis.log"
until redis-cli -p "$PORT" ping 2> /dev/null | grep -q PONG; do sleep 0.1; done

# Lines with a code, their time replaced: RATE per minute from 10 days ago on.
grep -E 'dsn=|[: ][245][0-9][0-9][ -]' "$ROOT/tests/data/sample/mail.log" | cut -d' ' -f4- > "$T/lines"
start=$(( ($(date +%s) - 10 * 86400) / 60 * 60 ))
awk -v rate="$RATE" -v minutes="$MINUTES" -v start="$start" '
    { l[n++] = $0 }
    END { k = 0
        for (m = 0; m < minutes; m++)
            for (j = 0; j < rate; j++)
                print strftime("%b %e %H:%M:%S", start + 60 * m + int(j * 60 / rate), 1), l[k++ % n] }' \
    "$T/lines" > "$T/mail.log"
cat > "$T/smtpmon.conf" <<CONF
[agent]
state_dir = $T/state
flush_interval = 100ms
read_from = head
agent_id = bench1
[redis]
url = redis://127.0.0.1:$PORT
[source mail]
path = $T/mail.log
CONF
"$SMTPMON" -f "$T/smtpmon.conf" 2> "$T/agent.err" &
APID=$!
size=$(stat -c %s "$T/mail.log")
until [ "$(redis-cli -p "$PORT" HGET 'smtpmon:{bench1}:cursor:mail' offset)" = "$size" ]; do
    kill -0 "$APID" || { cat "$T/agent.err"; exit 1; }
    sleep 0.2
done
echo "replayed $(wc -l < "$T/mail.log") lines, $MINUTES minutes at $RATE lines a minute"
for k in 'smtpmon:{bench1}:ts' 'smtpmon:{fleet}:ts'; do
    n=$(redis-cli -p "$PORT" XLEN "$k")
    mem=$(redis-cli -p "$PORT" MEMORY USAGE "$k" SAMPLES 0)
    fields=$(redis-cli -p "$PORT" XRANGE "$k" - + | grep -c '|' || true)
    echo "$k: $n entries, $mem bytes ($((mem / (n > 0 ? n : 1))) per entry), $((fields / (n > 0 ? n : 1))) dimension fields per entry"
done
