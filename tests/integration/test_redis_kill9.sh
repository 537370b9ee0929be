#!/bin/bash
# B1 with Redis: the agent is killed with SIGKILL at random points (before a commit, with a
# commit in flight, after it and before the local state write) while a writer appends and the
# log is rotated (rename + create); each restart reads its cursor from Redis. At the end:
# query == scan of every line written (zero lost, zero counted twice), for the agent and the
# fleet, and the committed cursor equals the size of the current file.
# KILL9_ITERATIONS (default 100) sets the number of kills; e.g. 1000 for a long local run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

iters=${KILL9_ITERATIONS:-100}
start_redis
start_proxy
LOG=$T/mail.log
: > "$LOG"
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "batch_lines = 200" "[source mail]" "path = $LOG"
start_writer "$LOG" 0 $((iters * 150)) 50
rot=0
for i in $(seq 1 "$iters"); do
    "$SMTPMON" -f "$T/smtpmon.conf" 2>>"$T/agent-loop.err" &
    pid=$!
    # a random point: 0..60 ms after the start, not a synchronisation
    sleep "0.0$((RANDOM % 7))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ $((i % 25)) = 0 ]; then
        # rotate while the agent runs, and let it drain the old file before the next kills
        start_agent -f "$T/smtpmon.conf"
        rot=$((rot + 1))
        # logrotate's numbering: the older files move one number up, the log becomes .1
        for k in $(seq $((rot - 1)) -1 1); do
            mv "$LOG.$k" "$LOG.$((k + 1))"
        done
        mv "$LOG" "$LOG.1"
        : > "$LOG"
        reopen_writer
        ino=$(stat -c %i "$LOG")
        wait_for 30 "[ \"\$(rcli HGET 'smtpmon:{$AGENT_ID}:cursor:mail' ino)\" = $ino ]" ||
            fail "rotation $rot: the agent did not move to the new file"
        kill -9 "$AGENT_PID"
        wait "$AGENT_PID" 2>/dev/null
        AGENT_PID=
    fi
done
wait_writer 120
start_agent -f "$T/smtpmon.conf"
wait_query_exact 60
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"
grep -q "GAP\|BADARG" "$T/agent-loop.err" && fail "GAP or BADARG during the kill loop"
echo "kill9: $iters kills, $rot rotations, $(wc -l < "$T/written.log") lines, exact" >&2
stop_agent
exit 0
