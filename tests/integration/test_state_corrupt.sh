#!/bin/bash
# B4: a truncated, garbage or empty state file is detected by its checksum and ignored with a
# warning (the file is then read as on a first start); the agent does not crash.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 100
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
stop_agent
st=$T/state/mail.cursor
[ -s "$st" ] || fail "no state file"
cp "$st" "$T/good.cursor"
for kind in truncated garbage empty flipped; do
    case $kind in
        truncated) head -c 60 "$T/good.cursor" > "$st" ;;
        garbage) head -c 300 /dev/urandom > "$st" ;;
        empty) : > "$st" ;;
        flipped) sed 's/^offset \([0-9]*\)/offset 1\1/' "$T/good.cursor" > "$st" ;;
    esac
    start_agent -f "$T/smtpmon.conf"
    wait_for 5 "grep -q 'ignoring the saved cursor' '$AGENT_ERR'" || fail "$kind: no warning"
    stop_agent
done
grep -h "ignoring the saved cursor" "$T"/agent*.err | grep -q "checksum mismatch" ||
    fail "no checksum message"
exit 0
