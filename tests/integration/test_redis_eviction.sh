#!/bin/bash
# Redis C8: an evicted cursor whose counters survive makes its bytes count twice. With
# maxmemory-policy allkeys-lru (readable: the test grants +config|get) the agent refuses to
# commit and says why; once the policy is noeviction it commits exactly. Then the hazard
# itself: the cursor deleted as an eviction would, the agent restarted, every line counts twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
rcli CONFIG SET maxmemory-policy allkeys-lru | grep -q OK || fail "CONFIG SET"
rcli ACL SETUSER smtpmon-agent +config\|get | grep -q OK || fail "ACL"
LOG=$T/mail.log
append "$LOG" 0 600
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 10 "grep -q 'maxmemory-policy is allkeys-lru.*refusing to commit' '$AGENT_ERR'" ||
    fail "eviction policy not refused"
[ -z "$(committed_offset)" ] || fail "committed despite the eviction policy"
rcli CONFIG SET maxmemory-policy noeviction | grep -q OK || fail "CONFIG SET"
wait_query_exact 20
stop_agent

# The hazard: cursor gone, counters kept.
rcli DEL "smtpmon:{$AGENT_ID}:cursor:mail" > /dev/null
start_agent -f "$T/smtpmon.conf"
n=$(wc -l < "$T/written.log")
wait_for 20 "[ \"\$(query_lines)\" -ge $((2 * n)) ]" || fail "expected a double count"
[ "$(query_lines)" = $((2 * n)) ] || fail "expected exactly $((2 * n)) lines, got $(query_lines)"
stop_agent
exit 0
