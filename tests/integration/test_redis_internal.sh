#!/bin/bash
# Direction internal (#13): hand-offs to a content filter on the loopback address
# (relay=127.0.0.1[127.0.0.1]:10024) and to a relay of [agent] internal_relays (a CIDR and a
# host name) are counted as internal, never as outbound: in scan, in the Redis counters of an
# agent replaying the log (read back by query, equal to scan with the same configuration), in
# serve's metrics, and in the alerts (the outbound rules do not see a burst of 5.7.1 refusals
# by the local filter; a rule on direction internal does). smtpmon -n names a bad list with its
# file and line. A reload (SIGHUP) takes a changed list from the next line on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need jq curl

# 150 minutes: each minute 4 deliveries to a remote MX, 4 hand-offs to amavis on 127.0.0.1,
# 2 to a filter at 10.1.2.3 (internal_relays 10.0.0.0/8) and 1 to relay.int.example.net
# (internal_relays .int.example.net); minutes 100..109 add 10 refusals by amavis (554 5.7.1).
LOG=$T/mail.log
awk 'BEGIN {
    q = 0
    for (m = 0; m < 150; m++) {
        t = sprintf("Dec  1 %02d:%02d", 8 + int(m / 60), m % 60)
        for (i = 0; i < 4; i++) {
            printf "%s:%02d mx1 postfix/smtp[100]: Q%07dA: to=<u%d@example.org>, relay=mx.example.org[203.0.113.5]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as R%07d)\n", t, i, ++q, i, q
            printf "%s:%02d mx1 postfix/smtp[101]: Q%07dB: to=<u%d@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.5, delays=0.1/0/0/0.4, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as S%07d)\n", t, 10 + i, ++q, i, q
        }
        for (i = 0; i < 2; i++) {
            printf "%s:%02d mx1 postfix/smtp[102]: Q%07dC: to=<v%d@example.net>, relay=filter.example.com[10.1.2.3]:10026, delay=0.3, delays=0.1/0/0/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as T%07d)\n", t, 20 + i, ++q, i, q
        }
        printf "%s:30 mx1 postfix/relay[103]: Q%07dD: to=<w@example.com>, relay=relay.int.example.net[192.0.2.77]:25, delay=0.3, delays=0.1/0/0/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as U%07d)\n", t, ++q, q
        if (m >= 100 && m < 110) {
            for (i = 0; i < 10; i++) {
                printf "%s:%02d mx1 postfix/smtp[104]: Q%07dE: to=<x%d@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.5, delays=0.1/0/0/0.4, dsn=5.7.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 554 5.7.1 id=1234-05 - Rejected by next-hop MTA on relaying, from MTA(smtp:[127.0.0.1]:10025): 554 5.7.1 Blocked SPAM (in reply to end of DATA command))\n", t, 40 + i, ++q, i
            }
        }
    }
}' > "$T/written.log"
N=$(wc -l < "$T/written.log")
RELAYS="10.0.0.0/8 fd00::/8 .int.example.net"

# smtpmon -n: a bad word is named with the file and line; a good list passes.
write_conf "$T/bad.conf" "internal_relays = 10.0.0.0/8 10.0.0.0/40" "[source mail]" "path = $LOG"
"$SMTPMON" -n -f "$T/bad.conf" > "$T/n.out" 2>&1 && fail "smtpmon -n accepted a bad internal_relays"
grep -q "^$T/bad.conf:9: \[agent\] internal_relays: '10.0.0.0/40': the prefix length must be 0..32" \
    "$T/n.out" || fail "smtpmon -n: no file:line error: $(cat "$T/n.out")"

# scan: without the list only loopback is internal; with it the filter and the relay too.
"$SMTPMON" scan --format json "$T/written.log" > "$T/lo.json" || fail "scan"
[ "$(jq -c .by.direction "$T/lo.json")" = '{"internal":700,"outbound":1050}' ] ||
    fail "scan, loopback only: $(jq -c .by.direction "$T/lo.json")"
"$SMTPMON" scan --format json --internal-relays "$RELAYS" "$T/written.log" > "$T/all.json" ||
    fail "scan --internal-relays"
[ "$(jq -c .by.direction "$T/all.json")" = '{"internal":1150,"outbound":600}' ] ||
    fail "scan --internal-relays: $(jq -c .by.direction "$T/all.json")"
if [ "$(jq '.by.direction_subject["internal/5.7"]' "$T/all.json")" != 100 ] ||
    [ "$(jq '.by.direction_subject["outbound/5.7"] // 0' "$T/all.json")" != 0 ]; then
    fail "5.7 refusals of the filter: $(jq -c .by.direction_subject "$T/all.json")"
fi

# Alerts: the default outbound-5.7 stays quiet over the filter's refusals; a rule on internal
# fires on them.
write_conf "$T/alerts.conf" "internal_relays = $RELAYS" "[alert filter-5.7]" "direction = internal" \
    "status = 5.7.*" "min_count = 20" "min_share = 0"
"$SMTPMON" scan --alerts "$T/written.log" > "$T/alerts.out" || fail "scan --alerts"
[ -s "$T/alerts.out" ] && fail "an outbound rule saw internal events: $(head -2 "$T/alerts.out")"
"$SMTPMON" scan --alerts --config "$T/alerts.conf" "$T/written.log" > "$T/alerts2.out" ||
    fail "scan --alerts --config"
grep -q '"type":"alert","rule":"filter-5.7"' "$T/alerts2.out" ||
    fail "the internal rule did not fire: $(cat "$T/alerts2.out")"

# The agent commits to a real Redis: query equals scan with the same configuration.
start_redis
cp "$T/written.log" "$LOG"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "internal_relays = $RELAYS" "[source mail]" \
    "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 30 "[ \"\$(query_lines)\" -ge $N ]" || fail "Redis holds $(query_lines) of $N lines"
query_json | jq -S '{direction: .by.direction, dc: .by.direction_class,
    ds: .by.direction_subject}' > "$T/q.json" || fail "query"
"$SMTPMON" scan --format json --config "$T/smtpmon.conf" "$T/written.log" |
    jq -S '{direction: .by.direction, dc: .by.direction_class, ds: .by.direction_subject}' \
    > "$T/s.json" || fail "scan --config"
diff -u "$T/s.json" "$T/q.json" > "$T/diff" || fail "query differs from scan: $(cat "$T/diff")"
[ "$(jq -c .direction "$T/q.json")" = '{"internal":1150,"outbound":600}' ] ||
    fail "query: $(jq -c .direction "$T/q.json")"
[ "$(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'ds|internal|5.7')" = 100 ] ||
    fail "Redis ds|internal|5.7: $(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'ds|internal|5.7')"
[ -z "$(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'ds|outbound|5.7')" ] ||
    fail "Redis ds|outbound|5.7 is set"
query_json --fleet | jq -c .by.direction > "$T/fleet.txt"
[ "$(cat "$T/fleet.txt")" = '{"internal":1150,"outbound":600}' ] || fail "fleet: $(cat "$T/fleet.txt")"

# SIGHUP: a configuration without the list counts the next minute's filter and relay hops as
# outbound (loopback stays internal); with the list back, the minute after as internal.
minute() { # minute MM: one minute of the four kinds of hops, at 11:MM
    grep "^Dec  1 08:00:" "$T/written.log" | sed "s/^Dec  1 08:00:/Dec  1 11:$1:/"
}
sed -i '/^internal_relays = /d' "$T/smtpmon.conf"
kill -HUP "$AGENT_PID"
wait_for 10 "grep -q 'reload: done' '$AGENT_ERR'" || fail "reload 1 not done"
minute 00 >> "$LOG"
wait_for 20 "[ \"\$(query_lines)\" -ge $((N + 11)) ]" || fail "reload 1: $(query_lines) lines"
[ "$(query_json | jq -c .by.direction)" = '{"internal":1154,"outbound":607}' ] ||
    fail "after a reload without the list: $(query_json | jq -c .by.direction)"
sed -i "s|^agent_id = .*|&\ninternal_relays = $RELAYS|" "$T/smtpmon.conf"
kill -HUP "$AGENT_PID"
wait_for 10 "[ \$(grep -c 'reload: done' '$AGENT_ERR') -ge 2 ]" || fail "reload 2 not done"
minute 01 >> "$LOG"
wait_for 20 "[ \"\$(query_lines)\" -ge $((N + 22)) ]" || fail "reload 2: $(query_lines) lines"
[ "$(query_json | jq -c .by.direction)" = '{"internal":1161,"outbound":611}' ] ||
    fail "after a reload with the list: $(query_json | jq -c .by.direction)"
stop_agent

# serve: the direction label of smtpmon_events_total carries internal.
SERVE_PORT=$(free_port)
: > "$T/empty.conf"
env -u CREDENTIALS_DIRECTORY "$SMTPMON" serve -f "$T/empty.conf" \
    --listen "127.0.0.1:$SERVE_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" 2> "$T/serve.err" &
SERVE_PID=$!
M=http://127.0.0.1:$SERVE_PORT/metrics
wait_for 10 "curl -sf -o /dev/null $M || ! kill -0 $SERVE_PID" || fail "serve did not answer"
curl -sf "$M" > "$T/metrics.txt" || fail "GET /metrics"
kill "$SERVE_PID"
wait "$SERVE_PID"
grep -q "^smtpmon_events_total{agent=\"$AGENT_ID\",direction=\"internal\",class=\"5\",subject=\"5.7\"} 100\$" \
    "$T/metrics.txt" || fail "serve: $(grep 'events_total.*agent="'"$AGENT_ID"'"' "$T/metrics.txt")"
grep -q "^smtpmon_events_total{agent=\"$AGENT_ID\",direction=\"outbound\",class=\"5\"" \
    "$T/metrics.txt" && fail "serve: outbound 5.x.x events"
exit 0
