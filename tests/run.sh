#!/usr/bin/env bash
# 'make run': the agent in the foreground on a real log, committing to Redis, with the counts
# it committed shown every few seconds (smtpmon query).
#
#   LOG=/var/log/mail.log   follow that log instead of a growing copy of the shipped sample
#   REDIS=redis://host:port use that Redis; by default a private redis-server is started on a
#                           free loopback port in a temporary directory and stopped at the end
#   EVERY=5                 seconds between two displays of the counts
#   ONCE=1                  stop by itself after the first display that shows counts
# Ctrl-C stops everything in order: the agent gets SIGTERM and commits what it read, then the
# private redis-server stops, the temporary directory is removed, and the exit status is 0.
set -eu

# Ctrl-C makes the terminal signal its whole foreground process group, which includes make (it
# would die of SIGINT whatever this script does) and every process started here. So on a
# terminal this script runs itself again as a job of its own (set -m gives it a process group and
# the terminal), and starts the agent and redis-server in sessions of their own (setsid): the
# SIGINT reaches only this script, which stops the others in order.
if [ -z "${SMTPMON_RUN_JOB:-}" ] && [ -t 0 ] && [ -t 1 ]; then
    set -m
    rc=0
    SMTPMON_RUN_JOB=1 bash "$0" "$@" || rc=$?
    exit "$rc"
fi

root=$(cd "$(dirname "$0")/.." && pwd)
smtpmon=$root/build/smtpmon
sample=$root/tests/data/sample/mail.log
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpmon-run.XXXXXX")
writer= agent= redis_pid=

# Waits up to $2 tenths of a second for process $1 to end; its status is in $waited.
wait_for() {
    local i=0
    waited=
    while kill -0 "$1" 2>/dev/null && [ "$i" -lt "$2" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null
    fi
    waited=0
    wait "$1" 2>/dev/null || waited=$?
}

cleanup() {
    trap - EXIT INT TERM HUP
    echo >&2
    [ -n "$writer" ] && kill "$writer" 2>/dev/null
    if [ -n "$agent" ]; then
        kill -TERM "$agent" 2>/dev/null
        wait_for "$agent" 100
        echo "== agent stopped (exit status $waited); its last lines:" >&2
        tail -n 3 "$tmp/agent.log" | sed 's/^/   /' >&2
    fi
    if [ -n "$redis_pid" ]; then
        kill -TERM "$redis_pid" 2>/dev/null
        wait_for "$redis_pid" 100
        echo "== private redis-server stopped" >&2
    fi
    rm -rf "$tmp"
    echo "== removed $tmp" >&2
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

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
    setsid redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
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
    setsid bash -c '
        while :; do
            while IFS= read -r line; do
                printf "%s\n" "$line" >> "$2"
                sleep "${DELAY:-0.05}"
            done < "$1"
        done' writer "$sample" "$log" &
    writer=$!
    echo "== following a copy of $sample that keeps growing" >&2
fi

setsid "$smtpmon" --follow "$log" $from --redis "$url" --agent-id run --state-dir "$tmp/state" \
    --flush-interval 1s 2> "$tmp/agent.log" &
agent=$!
echo "== agent running (pid $agent, log $tmp/agent.log); counts every ${EVERY:-5}s, Ctrl-C to stop" >&2
while kill -0 "$agent" 2>/dev/null; do
    sleep "${EVERY:-5}"
    kill -0 "$agent" 2>/dev/null || break
    [ -t 1 ] && printf '\033[H\033[2J'
    echo "== $(date '+%H:%M:%S') smtpmon query --redis $url --agent run"
    out=$("$smtpmon" query --redis "$url" --agent run --format table --top 5 2>&1) || true
    printf '%s\n' "$out"
    if [ "${ONCE:-0}" = 1 ] && printf '%s\n' "$out" | grep -q '^lines *[1-9]'; then
        exit 0
    fi
done
echo "make run: the agent stopped:" >&2
tail -n 20 "$tmp/agent.log" >&2
exit 1
