#!/bin/bash
# SIGHUP with a good configuration (a second source is added, the first keeps its position)
# and with a bad one (the errors are logged as file:line, the old configuration keeps running).
. "$(dirname "$0")/lib.sh"

LOG=$T/mail.log
LOG2=$T/other.log
append "$LOG" 0 300
append "$LOG2" 300 200
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
want=300
wait_for 10 "[ \$(total_lines) -eq $want ]" || fail "first file not counted"

printf '[source other]\npath = %s\n' "$LOG2" >> "$T/smtpmon.conf"
kill -HUP "$AGENT_PID"
wait_for 10 "grep -q 'reload: done: 2 sources' '$AGENT_ERR'" || fail "good reload not done"
append "$LOG" 500 100
wait_exact 10       # other.log read from 0 (new source), mail.log not re-read

cp "$T/smtpmon.conf" "$T/good.conf"
printf '[agent]\nbatch_lines = many\n[source bad]\npath = relative.log\nbogus = 1\n' \
    >> "$T/smtpmon.conf"
kill -HUP "$AGENT_PID"
wait_for 10 "grep -q 'reload: failed' '$AGENT_ERR'" || fail "bad reload not reported"
grep -q "smtpmon.conf:[0-9]*: bad number 'many' for batch_lines" "$AGENT_ERR" ||
    fail "no file:line message for the bad number"
grep -q "smtpmon.conf:[0-9]*: unknown key 'bogus' in \[source\]" "$AGENT_ERR" ||
    fail "no file:line message for the unknown key"
grep -q "smtpmon.conf:[0-9]*: source 'bad': path 'relative.log' is not absolute" \
    "$AGENT_ERR" || fail "no file:line message for the relative path"
# The same messages as smtpmon -n.
"$SMTPMON" -n -f "$T/smtpmon.conf" > "$T/check.out" 2>&1
[ $? = 78 ] || fail "-n did not exit 78"
grep -o "$T/smtpmon.conf:.*" "$T/check.out" | sort > "$T/a"
grep -o "$T/smtpmon.conf:.*" "$AGENT_ERR" | sort > "$T/b"
cmp -s "$T/a" "$T/b" || fail "reload and -n messages differ"
kill -0 "$AGENT_PID" || fail "agent died on a bad reload"
append "$LOG" 600 100
append "$LOG2" 700 100
wait_exact 10
stop_agent
exit 0
