#!/bin/bash
# A7: the file is missing at start: "waiting for file", then read from 0 once it appears.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
start_agent --follow "$LOG" --state-dir "$T/state" --output "$T/out.jsonl" \
    --flush-interval 100ms
wait_for 5 "grep -q 'file=$LOG waiting for file' '$AGENT_ERR'" || fail "no 'waiting for file'"
append "$LOG" 0 700
wait_exact 10
stop_agent
exit 0
