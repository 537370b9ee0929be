#!/bin/bash
# B2/B3: SIGTERM during heavy writing flushes and exits 0 in time; after a restart the totals
# over all batches equal the lines written, exactly (no line lost, none counted twice), also
# with a partial last line pending at the stop.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
: > "$LOG"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
start_writer "$LOG" 0 60000 500
wait_for 20 "[ \$(total_lines) -ge 10000 ]" || fail "nothing counted"
stop_agent                                  # while the writer goes on
start_agent -f "$T/smtpmon.conf"
wait_for 20 "[ \$(total_lines) -ge 30000 ]" || fail "nothing counted after restart"
stop_agent
wait_writer 60
gen 60000 1 | head -c 50 >> "$LOG"          # a partial line at the next start
start_agent -f "$T/smtpmon.conf"
wait_exact 20
stop_agent
gen 60000 1 | tail -c +51 >> "$LOG"
gen 60000 1 >> "$T/written.log"
start_agent -f "$T/smtpmon.conf"
wait_exact 20
stop_agent
exit 0
