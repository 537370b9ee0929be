#!/bin/bash
# A Redis Cluster node that redirects without end (hostile_redis.py, modes moved and ask: it
# serves every slot by CLUSTER SLOTS and answers every command with MOVED, or ASK, to itself).
# The agent ([redis] cluster = yes) follows at most a few redirections per step, then says
# so once ("the cluster's slot map does not settle") and connects again after a back-off; it
# keeps every line (nothing acknowledged), stays responsive and stops on SIGTERM within its
# stop_timeout. `smtpmon query` gives up within its timeout with exit 69 and the reason.
. "$(dirname "$0")/lib.sh"
need python3

start_hostile "moved late"
export SMTPMON_REDIS_BACKOFF_MAX_MS=300

LOG=$T/mail.log
append "$LOG" 0 200
write_conf "$T/smtpmon.conf" "[redis]" "url = redis://127.0.0.1:$PORT" "cluster = yes" \
    "timeout = 1s" "connect_timeout = 1s" "[agent]" "agent_id = hostile1" \
    "[source mail]" "path = $LOG"
sed -i -e '/^output = /d' -e 's/^stop_timeout = .*/stop_timeout = 1s/' "$T/smtpmon.conf"

for mode in moved ask; do
    echo "$mode late" > "$CTL"
    start_agent -f "$T/smtpmon.conf"
    wait_for 15 "grep -q 'slot map does not settle' '$AGENT_ERR'" ||
        fail "$mode: the agent did not give up the redirections: $(tail -n 5 "$AGENT_ERR")"
    grep -m1 'slot map does not settle' "$AGENT_ERR" >&2
    # still redirected, still trying, said once
    sleep 2
    kill -0 "$AGENT_PID" 2>/dev/null || fail "$mode: the agent died"
    [ "$(grep -c 'slot map does not settle' "$AGENT_ERR")" -le 2 ] ||
        fail "$mode: the error is repeated: $(grep -c 'slot map does not settle' "$AGENT_ERR") times"
    t0=$(date +%s%N)
    stop_agent
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$ms" -lt 4000 ] || fail "$mode: the agent took $ms ms to stop"
    echo "ok $mode: agent stopped in $ms ms" >&2

    t0=$(date +%s%N)
    "$SMTPMON" query -f "$T/smtpmon.conf" --agent hostile1 > "$T/q.out" 2> "$T/q.err"
    rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$rc" = 69 ] || fail "$mode: query exited $rc: $(cat "$T/q.err")"
    grep -q 'still redirected after' "$T/q.err" || fail "$mode: query said: $(cat "$T/q.err")"
    [ "$ms" -lt 3000 ] || fail "$mode: query took $ms ms"
    echo "ok $mode: query exits 69 in $ms ms: $(cat "$T/q.err")" >&2
done
exit 0
