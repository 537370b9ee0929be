#!/bin/bash
# systemd notifications: READY=1 after start-up, STATUS= lines, RELOADING=1 around a reload,
# STOPPING=1 on SIGTERM, WATCHDOG=1 when WATCHDOG_USEC is set; received on a datagram socket
# standing in for systemd's NOTIFY_SOCKET, sent by libsystemd's sd_notify (loaded by the agent
# when NOTIFY_SOCKET is set, never otherwise): an abstract socket name (@...) works too, and a
# WATCHDOG_PID naming another process turns the watchdog off (sd_watchdog_enabled(3)).
. "$(dirname "$0")/lib.sh"
need python3

SOCK=$T/notify.sock
start_notify_listener "$SOCK" "$T/notify.log"
append "$T/mail.log" 0 100
write_conf "$T/smtpmon.conf" "[source mail]" "path = $T/mail.log"
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=400000 start_agent -f "$T/smtpmon.conf"
wait_exact 10
wait_for 5 "grep -q 'READY=1' '$T/notify.log'" || fail "no READY=1"
wait_for 5 "grep -q 'WATCHDOG=1' '$T/notify.log'" || fail "no WATCHDOG=1"
kill -HUP "$AGENT_PID"
wait_for 5 "grep -q 'RELOADING=1' '$T/notify.log'" || fail "no RELOADING=1"
wait_for 5 "[ \$(grep -c 'READY=1' '$T/notify.log') -ge 2 ]" || fail "no READY=1 after reload"
stop_agent
wait_for 5 "grep -q 'STOPPING=1' '$T/notify.log'" || fail "no STOPPING=1"
grep -q 'STATUS=' "$T/notify.log" || fail "no STATUS="

ABS=@smtpmon-it-notify-$$-$RANDOM
start_notify_listener "$ABS" "$T/notify2.log"
NOTIFY_SOCKET=$ABS WATCHDOG_USEC=200000 WATCHDOG_PID=1 start_agent -f "$T/smtpmon.conf"
wait_for 5 "grep -q 'READY=1' '$T/notify2.log'" || fail "no READY=1 on an abstract socket"
sleep 1
grep -q 'WATCHDOG=1' "$T/notify2.log" && fail "WATCHDOG=1 sent though WATCHDOG_PID is another process"
grep -q 'libsystemd' "/proc/$AGENT_PID/maps" || fail "READY=1 arrived but libsystemd is not mapped"
stop_agent
wait_for 5 "grep -q 'STOPPING=1' '$T/notify2.log'" || fail "no STOPPING=1 on an abstract socket"

# Without NOTIFY_SOCKET (an agent started by hand), libsystemd is not loaded at all.
# (the test itself may run under a NOTIFY_SOCKET, as inside systemd-nspawn: not the agent)
unset NOTIFY_SOCKET
WATCHDOG_USEC=200000 start_agent -f "$T/smtpmon.conf"
sleep 0.5
! grep -q 'libsystemd' "/proc/$AGENT_PID/maps" || fail "the agent without NOTIFY_SOCKET loaded libsystemd"
stop_agent
exit 0
