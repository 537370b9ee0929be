#!/bin/bash
# Redis faults (RELIABILITY.md part C), one after the other on one agent, each followed by the
# exact oracle (query == scan of every line written, for the agent and the fleet; committed
# cursor == file size):
#   C2 reply lost after the batch was applied (proxy forwards EVALSHA, drops its reply)
#   C3 connection cut with a batch outstanding
#   C4 Redis stalls longer than the command timeout
#   C1 Redis unreachable while lines accumulate (reading pauses at the queue bound), then back
#   C6 NOSCRIPT after SCRIPT FLUSH (the administrator loads the scripts again)
#   C5 AUTH refused (password changed), then fixed
#   C9 READONLY (the server became a replica), then a master again
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
start_proxy
LOG=$T/mail.log
more 500
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "queue_batches = 4" "batch_lines = 1000" \
    "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
check_committed start 20

# C2: the reply of the next commit is lost; the retry is acknowledged as DUP.
proxy dropreply
more 300
wait_for 20 "grep -q 'dropped_replies [1-9]' '$PROXY_CTL.stats'" || fail "C2: no reply dropped"
check_committed C2 30
grep -q "already committed (DUP)" "$AGENT_ERR" || fail "C2: the retry was not a DUP"

# C3: cut while batches are outstanding.
more 2000
proxy cut
check_committed C3 30

# C4: stalled longer than the 1 s command timeout.
proxy stall
more 300
wait_for 20 "grep -q 'timed out' '$AGENT_ERR'" || fail "C4: no timeout"
proxy forward
check_committed C4 30

# C1: unreachable while 20000 lines arrive; nothing is committed meanwhile, all after.
downs=$(grep -c 'cannot connect\|connection lost' "$AGENT_ERR")
proxy refuse
wait_for 20 "[ \$(grep -c 'cannot connect\|connection lost' '$AGENT_ERR') -gt $downs ]" ||
    fail "C1: no outage seen"
before=$(query_lines)
for i in 1 2 3 4; do more 5000; done
wait_for 20 "grep -q 'batch_lines\|paus' '$AGENT_ERR' || [ \$(stat -c %s '$LOG') -gt 0 ]"
[ "$(query_lines)" = "$before" ] || fail "C1: counts moved while Redis was unreachable"
proxy forward
check_committed C1 60

# C6: the scripts vanish; the agent user may not load them: nothing is committed until the
# administrator loads them again.
rcli SCRIPT FLUSH > /dev/null
before=$(query_lines)
more 300
wait_for 20 "grep -q 'not loaded in Redis (NOSCRIPT)' '$AGENT_ERR'" || fail "C6: NOSCRIPT not said"
[ "$(query_lines)" = "$before" ] || fail "C6: counts moved without the scripts"
load_scripts
check_committed C6 30

# C5: the password is refused; nothing is committed until it is accepted again.
rcli ACL SETUSER smtpmon-agent resetpass '>another' > /dev/null
proxy cut
more 300
wait_for 20 "grep -q 'WRONGPASS\|invalid username-password' '$AGENT_ERR'" || fail "C5: AUTH not refused"
grep -q "$REDIS_PW" "$AGENT_ERR" && fail "C5: the password was logged"
rcli ACL SETUSER smtpmon-agent resetpass ">$REDIS_PW" > /dev/null
check_committed C5 60

# C9: READONLY (a replica of an unreachable master keeps its data and refuses writes).
rcli REPLICAOF 127.0.0.1 1 > /dev/null
more 300
wait_for 20 "grep -q READONLY '$AGENT_ERR'" || fail "C9: READONLY not seen"
rcli REPLICAOF NO ONE > /dev/null
check_committed C9 30
stop_agent
exit 0
