#!/bin/sh
# Runs the agent in the foreground on a log that keeps growing, so that a user sees the
# batches of counts it produces (one JSON object per line on stdout, logs on stderr).
#
# By default it copies tests/data/sample/mail.log into a temporary directory and appends the
# sample's lines to the copy again, slowly, in the background. LOG=/path/to/mail.log follows
# that file instead (nothing is written to it). Ctrl-C stops everything.
# Environment: SMTPMON (binary, default build/smtpmon), FLUSH (default 2s), DELAY (seconds
# between appended lines, default 0.2).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
smtpmon=${SMTPMON:-$root/build/smtpmon}
sample=$root/tests/data/sample/mail.log
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpmon-run.XXXXXX")
writer=

cleanup() {
    [ -n "$writer" ] && kill "$writer" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

if [ ! -x "$smtpmon" ]; then
    echo "run-agent: build $smtpmon first (make build/smtpmon)" >&2
    exit 1
fi
if [ -n "${LOG:-}" ]; then
    log=$LOG
    echo "== following $log (state in $tmp/state)" >&2
else
    if [ ! -r "$sample" ]; then
        echo "run-agent: cannot read $sample (set LOG=/path/to/mail.log)" >&2
        exit 1
    fi
    log=$tmp/mail.log
    cp "$sample" "$log"
    (
        while :; do
            while IFS= read -r line; do
                printf '%s\n' "$line" >> "$log"
                sleep "${DELAY:-0.2}"
            done < "$sample"
        done
    ) &
    writer=$!
    echo "== following a copy of $sample that grows by a line every ${DELAY:-0.2}s" >&2
fi
echo "== one JSON object per batch below; Ctrl-C to stop" >&2
"$smtpmon" --follow "$log" --from-beginning --state-dir "$tmp/state" --output - \
    --flush-interval "${FLUSH:-2s}" &
agent=$!
wait "$agent"
