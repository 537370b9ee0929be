#!/bin/bash
# Where a file is first seen: from its end on a first start (read_from = tail, the default),
# at a line boundary (a line being written is counted once complete); from the saved cursor
# on every later start.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
gen 0 100 > "$LOG"                  # history: not counted
gen 100 1 > "$T/one"
head -c 80 "$T/one" >> "$LOG"       # a line being written at the first start
start_agent --follow "$LOG" --state-dir "$T/state" --output "$T/out.jsonl" \
    --flush-interval 100ms
wait_for 5 "[ -s '$T/out.jsonl' ]" || fail "no start cursor"
[ "$(total_lines)" = 0 ] || fail "history counted"
tail -c +81 "$T/one" >> "$LOG"
cat "$T/one" >> "$T/written.log"
append "$LOG" 101 49
wait_exact 10
stop_agent
append "$LOG" 150 50                # written while stopped: counted after the restart
start_agent --follow "$LOG" --state-dir "$T/state" --output "$T/out.jsonl" \
    --flush-interval 100ms
wait_exact 10
stop_agent
exit 0
