#!/bin/bash
# A8: two rotations while the agent is stopped (mail.log -> .1 -> .2.gz, with delaycompress):
# the cursor's file is found again as mail.log.1 and resumed at its offset, the new mail.log
# is read from 0; a cursor whose file was compressed meanwhile is reported, never parsed.
. "$(dirname "$0")/lib.sh"
need logrotate gzip

LOG=$T/mail.log
append "$LOG" 0 1000
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
cat > "$T/logrotate.conf" <<CONF
$LOG {
    create 0644
    rotate 5
    compress
    delaycompress
}
CONF
start_agent -f "$T/smtpmon.conf"
wait_exact 10
stop_agent

# One rotation while stopped, with lines both before and after it.
append "$LOG" 1000 200
logrotate -f -s "$T/lr.state" "$T/logrotate.conf"
append "$LOG" 1200 300
start_agent -f "$T/smtpmon.conf"
wait_exact 10
grep -q "resuming rotated file=$LOG.1" "$AGENT_ERR" || fail "did not resume mail.log.1"
stop_agent

# Two rotations while stopped: the cursor's file is now mail.log.2.gz.
append "$LOG" 1500 100
lost=100
logrotate -f -s "$T/lr.state" "$T/logrotate.conf"
append "$LOG" 1600 200
logrotate -f -s "$T/lr.state" "$T/logrotate.conf"
append "$LOG" 1800 300
[ -f "$LOG.2.gz" ] || fail "no compressed rotation"
start_agent -f "$T/smtpmon.conf"
want=$(( $(wc -l < "$T/written.log") - lost ))
wait_for 10 "[ \$(total_lines) -ge $want ]" || fail "counted $(total_lines) of $want"
[ "$(total_lines)" -eq "$want" ] || fail "counted $(total_lines), want $want"
grep -q "compressed rotated files are not read" "$AGENT_ERR" || fail "no message about .gz"
stop_agent
exit 0
