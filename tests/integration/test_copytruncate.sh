#!/bin/bash
# A3: logrotate copytruncate. Lines written before the copy are counted once, lines written
# after the truncation are counted from 0, and the copy mail.log.1 is not read again.
. "$(dirname "$0")/lib.sh"
need logrotate

LOG=$T/mail.log
append "$LOG" 0 3000
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
cat > "$T/logrotate.conf" <<CONF
$LOG {
    copytruncate
    rotate 5
    nocompress
}
CONF
start_agent -f "$T/smtpmon.conf"
wait_exact 10
for k in 1 2 3; do
    logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" || fail "logrotate failed"
    [ -f "$LOG.1" ] || fail "no copy"
    append "$LOG" $((k * 3000)) $((1000 * k))
    wait_exact 10
done
tr=$(metric truncations)
[ "$tr" -eq 3 ] || fail "truncations metric $tr, want 3"
size=$(stat -c %s "$LOG")
wait_for 5 "[ \$(jq -s 'last.cursor.offset' '$T/out.jsonl') -eq $size ]" || fail "cursor != size"
stop_agent
exit 0
