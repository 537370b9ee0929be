#!/bin/bash
# A1/A2: logrotate 'create' (rename + new file) three times while a writer that holds its fd
# (like rsyslog, reopening after postrotate's SIGHUP) writes at full speed: every line of the
# old files is read to their end, the new files are followed from 0, nothing is lost or
# counted twice.
. "$(dirname "$0")/lib.sh"
need logrotate

LOG=$T/mail.log
: > "$LOG"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
cat > "$T/logrotate.conf" <<CONF
$LOG {
    create 0644
    rotate 10
    nocompress
    postrotate
        touch $T/writer.reopen
    endscript
}
CONF
start_agent -f "$T/smtpmon.conf"
start_writer "$LOG" 0 100000 1000
for k in 1 2 3; do
    wait_for 120 "[ \$(wc -l < '$T/written.log') -ge $((k * 25000)) ]" || fail "writer too slow"
    logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" || fail "logrotate failed"
done
wait_writer 60
wait_exact 30
[ -f "$LOG.3" ] || fail "logrotate did not rotate three times"
rot=$(metric rotations)
[ "$rot" -ge 3 ] || fail "rotations metric $rot < 3"
# Batches never span two files: each batch's bytes lie within one file (start <= offset).
jq -s -e 'all(.[]; .cursor.start <= .cursor.offset)' "$T/out.jsonl" >/dev/null ||
    fail "a batch spans two files"
stop_agent
exit 0
