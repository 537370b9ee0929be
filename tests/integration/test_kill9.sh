#!/bin/bash
# B1: kill -9 at random points while lines are written, then restart: no line is lost. With
# the JSON-lines exporter a kill between the write of a batch and the save of its cursor may
# count that one batch twice (known limit, fixed by the Redis exporter's atomic commit): the
# test asserts no loss and at most one duplicated batch per kill.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
: > "$LOG"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_writer "$LOG" 0 50000 250
kills=0
for i in 1 2 3 4 5; do
    start_agent -f "$T/smtpmon.conf"
    sleep 0.$((RANDOM % 5 + 1))     # a random point: not a synchronisation
    kill -9 "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
    kills=$((kills + 1))
done
wait_writer 60
start_agent -f "$T/smtpmon.conf"
n=$(wc -l < "$T/written.log")
wait_for 20 "[ \$(total_lines) -ge $n ]" || fail "lost lines: counted $(total_lines) of $n"
stop_agent
got=$(total_lines)
# Every byte range of the file is covered by the batches; overlaps come from re-sent batches.
dups=$(jq -s '[.[] | select(.counts.lines > 0)] | group_by(.cursor.ino) |
    map(sort_by(.cursor.start) | . as $b | [range(1; length) |
        select($b[.].cursor.start < $b[. - 1].cursor.offset)] | length) | add // 0' \
    "$T/out.jsonl")
[ "$dups" -le "$kills" ] || fail "$dups duplicated batches for $kills kills"
echo "kill9: $kills kills, $((got - n)) lines counted twice in $dups batches (known limit)" >&2
exit 0
