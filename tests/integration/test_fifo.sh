#!/bin/bash
# A FIFO at the log path: the agent does not block opening it (it starts, says the path is no
# regular file, and stops on SIGTERM in time); once a regular file replaces it, it is read.
. "$(dirname "$0")/lib.sh"

mkfifo "$T/mail.log"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $T/mail.log"
start_agent -f "$T/smtpmon.conf"
wait_for 5 "grep -q 'mail.log is not a regular file' '$AGENT_ERR'" ||
    fail "no log line about the FIFO"
rm "$T/mail.log"
append "$T/mail.log" 0 300
wait_exact 15
stop_agent

mkfifo "$T/other.log"
write_conf "$T/fifo.conf" "[source other]" "path = $T/other.log"
sed -i "s|^state_dir = .*|state_dir = $T/state2|; s|^output = .*|output = $T/out2.jsonl|" "$T/fifo.conf"
start_agent -f "$T/fifo.conf"
stop_agent
exit 0
