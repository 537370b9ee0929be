#!/bin/bash
# D1-D3: a 10 MB line without a newline, then normal lines; a 10 MB line with its newline;
# NUL bytes, invalid UTF-8, CRLF and empty lines. Overlong lines are skipped and counted, the
# agent survives, memory stays bounded, and the normal lines are counted exactly.
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
append "$LOG" 0 100
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_exact 10

head -c 10000000 /dev/zero | tr '\0' 'x' >> "$LOG"     # D1: no newline yet
append "$LOG" 100 50    # the first of these ends the overlong line: it is lost with it
n_lost=1
wait_for 10 "[ \$(metric overlong) -eq 1 ]" || fail "overlong line not counted"

{ head -c 10000000 /dev/zero | tr '\0' 'y'; echo; } >> "$LOG"     # D2
append "$LOG" 150 50
wait_for 10 "[ \$(metric overlong) -eq 2 ]" || fail "second overlong line not counted"

# D3: NUL bytes, invalid UTF-8, CR LF, bare CR, empty lines.
printf 'abc\0def\n\xff\xfe\xc3\x28 invalid utf-8 said: 550 5.1.1\n\r\n\n\0\0\0\n' >> "$LOG"
gen 200 20 | sed 's/$/\r/' >> "$LOG"          # CRLF lines are counted like LF ones
gen 200 20 >> "$T/written.log"
append "$LOG" 220 30
extra=5     # lines of the printf above
want=$(( $(wc -l < "$T/written.log") - n_lost + extra ))
wait_for 10 "[ \$(total_lines) -ge $want ]" || fail "counted $(total_lines) of $want lines"
[ "$(total_lines)" -eq "$want" ] || fail "counted $(total_lines), want $want"
kill -0 "$AGENT_PID" || fail "agent died"
rss=$(awk '/VmHWM/ {print $2}' /proc/$AGENT_PID/status)
[ "$rss" -lt 60000 ] || fail "peak RSS ${rss} kB: memory not bounded"
stop_agent
exit 0
