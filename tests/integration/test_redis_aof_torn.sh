#!/bin/bash
# Redis C10: Redis killed while it writes a commit to its AOF. The commit script's effects are
# one MULTI/EXEC block in the AOF; a kill -9 (or a power cut) in the middle of it leaves a torn
# block. redis-server 7.0 with aof-load-truncated (the default) cuts the file after the last
# whole command, inside the block, so the block stays open: that load does not apply it, but
# the next commit appended to the file is queued into the same block at the following load
# ("MULTI calls can not be nested"), and both are applied together. Counts written as
# increments (HINCRBY) were then counted twice; the script writes absolute values (HSET of the
# sum it computed), so applying the torn part again before the whole commit changes nothing.
# The tear is made deterministic: the AOF is cut inside the last commit's block, after its
# first counters, as a kill -9 during the write would leave it: first the agent's commit, then the
# fleet delta's block.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need python3

# restart_redis_aof: kill -9, then start on the same port from the AOF in $T/appendonlydir.
restart_redis_aof() {
    stop_redis
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
        --appendfsync always --aof-load-truncated yes --dir "$T" --daemonize no \
        >> "$T/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_for 10 "rcli ping 2>/dev/null | grep -q PONG" ||
        fail "redis-server did not restart: $(tail -n 5 "$T/redis.log")"
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-agent $_agent > /dev/null
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-dashboard $_dash > /dev/null
    load_scripts
}

start_redis
rcli CONFIG SET appendfsync always | grep -q OK || fail "CONFIG SET appendfsync"
rcli CONFIG SET appendonly yes | grep -q OK || fail "CONFIG SET appendonly"
wait_for 20 "rcli INFO persistence | grep -q 'aof_rewrite_in_progress:0' &&
             rcli INFO persistence | grep -q 'aof_rewrite_scheduled:0' &&
             ls $T/appendonlydir/*.incr.aof > /dev/null 2>&1" || fail "the AOF was not started"

LOG=$T/mail.log
append "$LOG" 0 200
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "batch_lines = 20" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
stop_agent

# tear_last_block KEY: cut the AOF inside the last MULTI/EXEC block that starts with a write to
# KEY (the owner key: the agent's commit; `{fleet}:seen`: the fleet delta), after the command
# that writes m|lines and the next one, in the middle of the third; drop the rest of the file.
tear_last_block() {
    python3 - "$1" "$T"/appendonlydir/*.incr.aof >> "$T/tear.out" <<'PY' || fail "cannot tear the AOF"
import sys
key, path = sys.argv[1].encode(), sys.argv[2]
d = open(path, 'rb').read()
m, pos = -1, 0
multi = b'*1\r\n$5\r\nMULTI\r\n'
while True:
    k = d.find(multi, pos)
    if k < 0:
        break
    end = d.find(b'*1\r\n$4\r\nEXEC\r\n', k)
    if end > 0 and key in d[k:end] and b'm|lines' in d[k:end]:
        m = k
    pos = k + 1
if m < 0:
    sys.exit('no block with %s in %s' % (key.decode(), path))
cut = d.find(b'm|lines', m)
cut = d.find(b'\r\n*', cut) + 2      # the end of the command that writes m|lines
cut = d.find(b'\r\n*', cut) + 2      # and of the next one
cut += 20                            # and a torn piece of the third
open(path, 'r+b').truncate(cut)
print(key.decode(), len(d), cut)
PY
}

# The agent's last commit (the fleet delta's block follows it): its block holds the owner key.
stop_redis
tear_last_block "smtpmon:{$AGENT_ID}:owner"
restart_redis_aof
grep -q "Truncating the AOF" "$T/redis.log" || fail "redis-server did not truncate the torn AOF"
got=$(query_lines)
[ "$got" -lt 200 ] || fail "the torn commit was applied ($got lines)"
[ "$(committed_offset)" -lt "$(stat -c %s "$LOG")" ] || fail "the cursor was not rolled back"

# The agent commits the lost batch again; Redis writes it after the open block.
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
stop_agent

# The next load applies the torn part and the whole commit together.
restart_redis_aof
if grep -q "MULTI calls can not be nested" "$T/redis.log"; then
    echo "redis-server merged the torn block with the next commit (redis-server 7.0 behaviour)"
else
    echo "redis-server did not merge the torn block (a version that cuts before MULTI)"
fi
assert_query_is_scan
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"

# The same with the fleet delta's block torn: the agent's counts are whole, the fleet's are
# not; the agent re-sends the delta it kept (the pending hash) at its next commit.
append "$LOG" 200 200
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
stop_agent
stop_redis
n=$(grep -c "Truncating the AOF" "$T/redis.log")
tear_last_block "smtpmon:{fleet}:seen"
restart_redis_aof
[ "$(grep -c "Truncating the AOF" "$T/redis.log")" -gt "$n" ] ||
    fail "redis-server did not truncate the torn fleet block"
[ "$(query_lines)" = 400 ] || fail "the agent's counts are not whole: $(query_lines)"
[ "$(query_lines --fleet)" -lt 400 ] || fail "the torn fleet block was applied"
# The kept delta goes again when the next commit finds it pending: give the agent one.
append "$LOG" 400 20
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
grep -q "re-sending the fleet delta" "$AGENT_ERR" || fail "the fleet delta was not sent again"
stop_agent
restart_redis_aof
assert_query_is_scan
exit 0
