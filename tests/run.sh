#!/usr/bin/env bash
# 'make run': the agent in the foreground on a real log, committing to Redis, with the counts
# it committed shown every few seconds (smtpmon query).
#
#   LOG=/var/log/mail.log   follow that log instead of a growing copy of the shipped sample
#   REDIS=redis://host:port use that Redis; by default a private redis-server is started on a
#                           free loopback port in a temporary directory and stopped at the end
#   EVERY=5                 seconds between two displays of the counts
# Ctrl-C stops everything.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
smtpmon=$root/build/smtpmon
sample=$root/tests/data/sample/mail.log
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpmon-run.XXXXXX")
writer= agent= redis_pid=

cleanup() {
    trap - EXIT INT TERM
    [ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
    [ -n "$writer" ] && kill "$writer" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() {
    p=$((20000 + $$ % 20000))
    while (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null || \
        ss -ltn 2>/dev/null | grep -q "127.0.0.1:$p "; do
        p=$((p + 1))
    done
    echo "$p"
}

if [ -n "${REDIS:-}" ]; then
    url=$REDIS
    echo "== using Redis at $url" >&2
else
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "make run: redis-server is missing (apt-get install redis-server), or set REDIS=URL" >&2
        exit 1
    fi
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$tmp" --daemonize no --loglevel warning > "$tmp/redis.log" 2>&1 &
    redis_pid=$!
    i=0
    until redis-cli -p "$port" ping > /dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "make run: redis-server did not start:" >&2
            cat "$tmp/redis.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    url=redis://127.0.0.1:$port
    echo "== started a private redis-server on 127.0.0.1:$port (data in $tmp)" >&2
fi

if [ -n "${LOG:-}" ]; then
    log=$LOG
    from=
    echo "== following $log from its end" >&2
else
    log=$tmp/mail.log
    from=--from-beginning
    cp "$sample" "$log"
    (
        while :; do
            while IFS= read -r line; do
                printf '%s\n' "$line" >> "$log"
                sleep "${DELAY:-0.05}"
            done < "$sample"
        done
    ) &
    writer=$!
    echo "== following a copy of $sample that keeps growing" >&2
fi

"$smtpmon" --follow "$log" $from --redis "$url" --agent-id run --state-dir "$tmp/state" \
    --flush-interval 1s 2> "$tmp/agent.log" &
agent=$!
echo "== agent running (pid $agent, log $tmp/agent.log); counts every ${EVERY:-5}s, Ctrl-C to stop" >&2
while kill -0 "$agent" 2>/dev/null; do
    sleep "${EVERY:-5}"
    kill -0 "$agent" 2>/dev/null || break
    [ -t 1 ] && printf '\033[H\033[2J'
    echo "== $(date '+%H:%M:%S') smtpmon query --redis $url --agent run"
    "$smtpmon" query --redis "$url" --agent run --format table --top 5 || true
done
echo "make run: the agent stopped:" >&2
tail -n 20 "$tmp/agent.log" >&2
exit 1
