#!/bin/bash
# Redis refusing commits for a while (RELIABILITY.md C9), with a real redis-server:
#   OOM      maxmemory far below the used memory (noeviction): the commit script is refused
#            before its first write
#   BUSY     a script of another client runs for 3 s (busy-reply-threshold 100 ms)
#   LOADING  the proxy answers every command as a Redis loading its data set
# Each time the batches are kept and sent again with back-off, the refusal is logged once, and
# afterwards query equals scan of every line written (nothing lost, nothing counted twice) and
# the committed cursor equals the file size.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
start_proxy
LOG=$T/mail.log
# refused WORD: the refusal was logged exactly once, and the recovery once per episode.
refused() {
    [ "$(grep -c "Redis refuses for now: $1" "$AGENT_ERR")" = 1 ] ||
        fail "$1: refusal logged $(grep -c "Redis refuses for now: $1" "$AGENT_ERR") times"
    [ "$(grep -c 'Redis accepts commands again' "$AGENT_ERR")" = "$2" ] ||
        fail "$1: recovery logged $(grep -c 'Redis accepts commands again' "$AGENT_ERR") times"
}
more 500
write_rconf "$T/smtpmon.conf" "$PROXY_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
check_committed start

# OOM: nothing can be written for 3 s while lines arrive.
rcli CONFIG SET maxmemory 1 | grep -q OK || fail "CONFIG SET maxmemory"
before=$(query_lines)
more 300
wait_for 10 "grep -q 'Redis refuses for now: OOM' '$AGENT_ERR'" || fail "OOM: no refusal logged"
sleep 3
[ "$(query_lines)" = "$before" ] || fail "OOM: something was committed under OOM"
more 200
sleep 1
rcli CONFIG SET maxmemory 0 | grep -q OK || fail "CONFIG SET maxmemory 0"
check_committed OOM
refused OOM 1

# BUSY: another client's script holds Redis for 3 s.
rcli CONFIG SET busy-reply-threshold 100 | grep -q OK || fail "CONFIG SET busy-reply-threshold"
rcli EVAL "local t = redis.call('TIME')[1] + 3
           while tonumber(redis.call('TIME')[1]) < t do end
           return 1" 0 > "$T/busy.out" 2>&1 &
BUSY=$!
sleep 0.3
more 300
wait_for 10 "grep -q 'Redis refuses for now: BUSY' '$AGENT_ERR'" || fail "BUSY: no refusal logged"
wait "$BUSY"
check_committed BUSY
refused BUSY 2

# LOADING: every command is answered LOADING for 3 s.
proxy loading
more 300
wait_for 10 "grep -q 'Redis refuses for now: LOADING' '$AGENT_ERR'" ||
    fail "LOADING: no refusal logged"
sleep 2
more 100
sleep 1
proxy forward
check_committed LOADING
refused LOADING 3

grep -q 'connection lost\|command timed out' "$AGENT_ERR" &&
    fail "a refusal cost the connection: $(grep 'connection lost\|timed out' "$AGENT_ERR")"
stop_agent
exit 0
