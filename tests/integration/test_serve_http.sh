#!/bin/bash
# smtpmon serve at its HTTP edge and with Redis failing: unknown paths (404), other methods
# (405 with Allow), HEAD, a 100 KB header (431), 200 slow clients and 1,000 idle connections
# while a scrape still answers (and the idle ones are closed by the server), hostile hash
# contents that cannot break the exposition, a stalled Redis (503 within the timeout), Redis
# killed (503 with the reason) and back (200 again, without a restart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need curl promtool python3

start_redis
start_proxy
# Counts as an agent leaves them, and fields no agent writes: a label with a quote, a
# backslash and a newline, a value that is not a number, a name without a subject.
rcli HSET 'smtpmon:{h1}:c:total' 'm|lines' 12 'ds|outbound|5.7' 3 'st|5.7.1' 3 \
    'rs|say "hi" \ there' 1 $'rp|55\n0' 1 'oc|bounced' x 'ds|inbound' 4 > /dev/null
rcli HSET 'smtpmon:{h1}:meta' 'g|lag_bytes|mail' 42 updated_ms "$(($(date +%s) * 1000))" > /dev/null
rcli HSET 'smtpmon:{h1}:alerts:outbound-5.7' state $'v 1\nfiring 1 0 0 0\nend\n' > /dev/null
# Keys of the wrong type leave out what they would hold, not the rest.
rcli SET 'smtpmon:{h3}:c:total' x > /dev/null
rcli HSET 'smtpmon:{h4}:c:total' 'm|lines' 2 > /dev/null
rcli SET 'smtpmon:{h4}:meta' x > /dev/null
rcli SET 'smtpmon:{h4}:alerts:inbound-5.7' x > /dev/null

: > "$T/empty.conf"
cat > "$T/serve.conf" <<EOF
[redis]
url = redis://127.0.0.1:$PROXY_PORT
timeout = 1s
connect_timeout = 1s
EOF
SERVE_PORT=$(free_port)
env -u CREDENTIALS_DIRECTORY "$SMTPMON" serve -f "$T/serve.conf" --listen "127.0.0.1:$SERVE_PORT" 2> "$T/serve.err" &
SERVE_PID=$!
trap '_rc=$?; kill "$SERVE_PID" 2>/dev/null; (exit $_rc); _redis_cleanup' EXIT
B=http://127.0.0.1:$SERVE_PORT
wait_for 10 "curl -sf -o /dev/null $B/metrics || ! kill -0 $SERVE_PID" || fail "serve did not answer"
kill -0 "$SERVE_PID" || fail "serve exited: $(cat "$T/serve.err")"

code() { # code CURL-ARGS...: the status code
    curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "$@"
}

[ "$(code "$B/metrics")" = 200 ] || fail "GET /metrics"
promtool check metrics < "$T/body" > "$T/promtool.out" 2>&1 && [ ! -s "$T/promtool.out" ] ||
    fail "promtool check metrics: $(cat "$T/promtool.out")"
grep -qx 'smtpmon_events_total{agent="h1",direction="outbound",class="5",subject="5.7"} 3' "$T/body" ||
    fail "events: $(grep events_total "$T/body")"
grep -qx 'smtpmon_reason_total{agent="h1",reason="say \\"hi\\" \\\\ there"} 1' "$T/body" ||
    fail "escaped label: $(grep reason_total "$T/body")"
grep -q 'reply=' "$T/body" && fail "a label with a newline was exported"
grep -q 'outcome="bounced"' "$T/body" && fail "a value that is not a number was exported"
grep -q 'direction="inbound"' "$T/body" && fail "a field without a subject was exported"
grep -qx 'smtpmon_lag_bytes{agent="h1",source="mail"} 42' "$T/body" || fail "lag gauge"
grep -qx 'smtpmon_alert_firing{agent="h1",rule="outbound-5.7"} 1' "$T/body" || fail "alert gauge"
grep -qx 'smtpmon_alerts_firing{agent="h1"} 1' "$T/body" || fail "alerts firing"
grep -q '^smtpmon_last_commit_age_seconds{agent="h1"} [0-9]' "$T/body" || fail "commit age"
grep -qx 'smtpmon_lines_total{agent="h4"} 2' "$T/body" || fail "h4 left out: $(grep h4 "$T/body")"
grep -q 'agent="h3"' "$T/body" && fail "h3 (not a hash) exported: $(grep h3 "$T/body")"

# A second serve on the same address: refused (69), not sharing the port.
timeout 10 env -u CREDENTIALS_DIRECTORY "$SMTPMON" serve -f "$T/empty.conf" \
    --listen "127.0.0.1:$SERVE_PORT" > /dev/null 2> "$T/serve3.err"
rc=$?
[ "$rc" = 69 ] || fail "second serve on the same port: exit $rc, $(cat "$T/serve3.err")"
grep -q 'Address already in use' "$T/serve3.err" || fail "second serve: $(cat "$T/serve3.err")"

# A user whose ACL lacks HGET: 503 with Redis's NOPERM, not metrics without the alerts.
rcli ACL SETUSER nohget on '>nohget-pw' resetkeys -@all +ping +auth +hello +scan +hgetall \
    '%R~smtpmon:*' | grep -q OK || fail "ACL nohget"
P2=$(free_port)
env -u CREDENTIALS_DIRECTORY "$SMTPMON" serve -f "$T/empty.conf" --listen "127.0.0.1:$P2" \
    --redis "redis://nohget:nohget-pw@127.0.0.1:$REDIS_PORT" 2> "$T/serve2.err" &
S2=$!
wait_for 10 "curl -s -o /dev/null http://127.0.0.1:$P2/ || ! kill -0 $S2" || fail "serve 2"
[ "$(code "http://127.0.0.1:$P2/metrics")" = 503 ] || fail "NOPERM: not 503"
grep -q '^redis: NOPERM' "$T/body" || fail "NOPERM: $(cat "$T/body")"
kill "$S2"
wait "$S2"

[ "$(code "$B/nope")" = 404 ] || fail "unknown path: not 404"
[ "$(code "$B/metrics/x")" = 404 ] || fail "/metrics/x: not 404"
[ "$(code -X POST --data x=1 "$B/metrics")" = 405 ] || fail "POST: not 405"
[ "$(code -X DELETE "$B/metrics")" = 405 ] || fail "DELETE: not 405"
curl -s -D "$T/h405" -o /dev/null -X PUT "$B/metrics"
grep -qi '^allow: GET, HEAD' "$T/h405" || fail "405 without Allow: $(cat "$T/h405")"
[ "$(code -I "$B/metrics")" = 200 ] || fail "HEAD"
grep -q '^smtpmon_' "$T/body" && fail "HEAD with a body"
big=$(head -c 100000 /dev/zero | tr '\0' a)
c=$(code -H "X-Big: $big" "$B/metrics")
case $c in 431 | 413 | 400) ;; *) fail "100 KB header: $c" ;; esac
[ "$(code "$B/metrics")" = 200 ] || fail "GET after the big header"

# 200 slow clients (a request line, then nothing) and 1,000 idle connections, held open while
# a scrape must still answer within 5 s; the server then closes them itself (idle timeout).
python3 - "$SERVE_PORT" "$T/held" <<'PY' &
import resource, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
socks = []
for i in range(1200):
    s = socket.create_connection(("127.0.0.1", port))
    if i < 200:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    socks.append(s)
open(flag, "w").write("%d\n" % len(socks))
deadline, closed = time.time() + 40, 0
for s in socks:
    try:
        while True:
            s.settimeout(max(0.1, deadline - time.time()))
            if not s.recv(4096):
                closed += 1
                break
    except ConnectionResetError:
        closed += 1
    except socket.timeout:
        pass
open(flag + ".closed", "w").write("%d\n" % closed)
PY
HOLD_PID=$!
wait_for 30 "[ -s '$T/held' ]" || fail "could not open the connections"
start=$(date +%s%N)
[ "$(code --max-time 5 "$B/metrics")" = 200 ] || fail "scrape with 1,200 connections held: no 200"
grep -q '^smtpmon_lines_total{agent="h1"} 12$' "$T/body" || fail "scrape body while held"
[ "$(code --max-time 5 "$B/nope")" = 404 ] || fail "404 with 1,200 connections held"
echo "scrape with 1,200 held connections: $(( ($(date +%s%N) - start) / 1000000 )) ms"
wait_for 45 "[ -s '$T/held.closed' ]" || fail "held connections not closed by the server"
[ "$(cat "$T/held.closed")" = 1200 ] || fail "server closed $(cat "$T/held.closed") of 1200"
wait "$HOLD_PID"
kill -0 "$SERVE_PID" || fail "serve died: $(tail "$T/serve.err")"

# Redis stalled: 503 within the command timeout (1 s), never a hung scrape; other requests
# are answered at once meanwhile (the scrape thread waits, the HTTP threads do not).
proxy stall
start=$(date +%s)
pids=
for i in 1 2 3; do
    curl -s -o "$T/stall$i.body" -w '%{http_code}' --max-time 10 "$B/metrics" > "$T/stall$i.code" &
    pids="$pids $!"
done
sleep 0.3
t0=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8; do
    [ "$(code --max-time 5 "$B/nope")" = 404 ] || fail "404 while Redis stalls"
done
[ "$(code --max-time 5 "$B/")" = 200 ] || fail "/ while Redis stalls"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1000 ] || fail "9 requests took $ms ms while a scrape waited for Redis"
# shellcheck disable=SC2086
wait $pids
for i in 1 2 3; do
    [ "$(cat "$T/stall$i.code")" = 503 ] || fail "stalled Redis: scrape $i: $(cat "$T/stall$i.code")"
    grep -q '^redis: ' "$T/stall$i.body" || fail "503 without a reason: $(cat "$T/stall$i.body")"
done
# Three scrapes, one after the other, each bounded by the 1 s timeouts.
[ $(($(date +%s) - start)) -le 8 ] || fail "stalled Redis: the scrapes took $(($(date +%s) - start)) s"
echo "while a scrape waited for Redis: 9 other requests in $ms ms"
proxy forward
wait_for 10 "[ \"\$(code $B/metrics)\" = 200 ]" || fail "no 200 after the stall"

# Redis killed: 503 with the reason; back on its port: 200 again, the same process.
stop_redis
[ "$(code "$B/metrics")" = 503 ] || fail "Redis down: not 503"
grep -q '^redis: ' "$T/body" || fail "503 without a reason: $(cat "$T/body")"
echo "503 body: $(cat "$T/body")"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
    > "$T/redis2.log" 2>&1 &
REDIS_PID=$!
wait_for 10 "rcli ping 2>/dev/null | grep -q PONG" || fail "redis did not restart"
rcli HSET 'smtpmon:{h2}:c:total' 'm|lines' 7 > /dev/null
wait_for 10 "[ \"\$(code $B/metrics)\" = 200 ]" || fail "no 200 after Redis came back"
grep -q '^smtpmon_lines_total{agent="h2"} 7$' "$T/body" || fail "counts after Redis came back"
kill -0 "$SERVE_PID" || fail "serve died"
# A lasting error is logged once, and the recovery once.
[ "$(grep -c 'answers 503' "$T/serve.err")" -le 4 ] || fail "errors logged again and again"
grep -q 'readable again' "$T/serve.err" || fail "recovery not logged"
kill "$SERVE_PID"
wait "$SERVE_PID" || fail "serve exited $? on SIGTERM"
SERVE_PID=
exit 0
