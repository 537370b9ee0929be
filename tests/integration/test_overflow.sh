#!/bin/bash
# A10: inotify queue overflow (the queue is made tiny for the agent's inotify instance) and
# no inotify at all (LIBEV_FLAGS=EVFLAG_NOINOTIFY): the stat re-scan and the safety-net timer
# keep every line counted.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
append "$LOG" 0 100

# 1. Without inotify: ev_stat polls and the safety-net timer see everything.
LIBEV_FLAGS=$((0x00100000)) start_agent -f "$T/smtpmon.conf"
wait_exact 10
for i in $(seq 1 20); do
    append "$LOG" $((100 + i * 50)) 50
done
wait_exact 15
stop_agent
rm -f "$T/written.log" "$T/out.jsonl"
: > "$T/written.log"

# 2. A queue of 16 events: alternating writes and attribute changes (which inotify does not
# coalesce) overflow it while the agent is stopped.
q=/proc/sys/fs/inotify/max_queued_events
if [ -w "$q" ] && old=$(cat "$q"); then
    echo 16 > "$q"
    start_agent -f "$T/smtpmon.conf"
    echo "$old" > "$q"
    kill -STOP "$AGENT_PID"
    for i in $(seq 1 100); do
        append "$LOG" $((10000 + i * 10)) 10
        chmod 644 "$LOG"; chmod 640 "$LOG"
    done
    kill -CONT "$AGENT_PID"
    wait_exact 15
    stop_agent
else
    echo "note: $q not writable: overflow part not run" >&2
fi
exit 0
