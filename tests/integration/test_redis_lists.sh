#!/bin/bash
# Which list blocks us (#13): refusals that name a blocklist or a receiver's filter are counted
# by that name, top-N, in scan ('list'), in Redis (fields bl|NAME of the totals, the minute
# buckets and the per-minute stream; at most 64 names a hash, the rest as bl|other), in query
# (equal to scan), in serve's smtpmon_list_total and in an alert's cause (top_list): a spike of
# outbound 5.7.1 refusals by Spamhaus ZEN and Microsoft's S3150 fires outbound-5.7 with them,
# and a rule with 'list = spamhaus-*' on the Spamhaus refusals alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need jq curl

# 150 minutes of 10 outbound deliveries a minute; minutes 100..109 add 6 refusals naming
# zen.spamhaus.org, 3 naming S3150 and 1 naming a list of its own.
LOG=$T/mail.log
awk 'BEGIN {
    q = 0
    for (m = 0; m < 150; m++) {
        t = sprintf("Dec  1 %02d:%02d", 8 + int(m / 60), m % 60)
        for (i = 0; i < 10; i++) {
            printf "%s:%02d mx1 postfix/smtp[100]: Q%07dA: to=<u%d@example.org>, relay=mx.example.org[203.0.113.5]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as R%07d)\n", t, i, ++q, i, q
        }
        if (m >= 100 && m < 110) {
            for (i = 0; i < 6; i++) {
                printf "%s:%02d mx1 postfix/smtp[101]: Q%07dB: to=<v%d@example.com>, relay=mx.example.com[203.0.113.20]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.7.1, status=bounced (host mx.example.com[203.0.113.20] said: 554 5.7.1 Service unavailable; Client host [198.51.100.25] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/198.51.100.25 (in reply to RCPT TO command))\n", t, 20 + i, ++q, i
            }
            for (i = 0; i < 3; i++) {
                printf "%s:%02d mx1 postfix/smtp[102]: Q%07dC: to=<w%d@outlook.com>, relay=outlook-com.olc.protection.outlook.com[192.0.2.40]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.7.1, status=bounced (host outlook-com.olc.protection.outlook.com[192.0.2.40] said: 550 5.7.1 Unfortunately, messages from [198.51.100.25] weren%ct sent. Please contact your Internet service provider since part of their network is on our block list (S3150). (in reply to MAIL FROM command))\n", t, 30 + i, ++q, i, 39
            }
            printf "%s:40 mx1 postfix/smtp[103]: Q%07dD: to=<x@example.net>, relay=mx.example.net[203.0.113.50]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.7.1, status=bounced (host mx.example.net[203.0.113.50] said: 550 5.7.1 Rejected: 198.51.100.25 listed at bl.example-dnsbl.org (in reply to RCPT TO command))\n", t, ++q
        }
    }
}' > "$T/written.log"
N=$(wc -l < "$T/written.log")
WANT='{"bl.example-dnsbl.org":10,"microsoft-s3150":30,"spamhaus-zen":60}'

"$SMTPMON" scan --format json "$T/written.log" > "$T/scan.json" || fail "scan"
[ "$(jq -cS .by.list "$T/scan.json")" = "$WANT" ] || fail "scan: $(jq -c .by.list "$T/scan.json")"

# The default outbound-5.7 fires; its cause names the lists.
"$SMTPMON" scan --alerts "$T/written.log" > "$T/alerts.out" || fail "scan --alerts"
first=$(grep -m1 '"type":"alert","rule":"outbound-5.7"' "$T/alerts.out") ||
    fail "outbound-5.7 did not fire: $(cat "$T/alerts.out")"
[ "$(jq -r '.top_list | keys_unsorted[0]' <<< "$first")" = spamhaus-zen ] ||
    fail "alert cause: $(jq -c .top_list <<< "$first")"
jq -e '.top_list["microsoft-s3150"] > 0' <<< "$first" > /dev/null ||
    fail "alert cause lacks microsoft-s3150: $(jq -c .top_list <<< "$first")"
# A rule on the list: spamhaus-* fires on the Spamhaus refusals alone, uceprotect-* never.
write_conf "$T/alerts.conf" "[alert spamhaus]" "list = spamhaus-*" "min_count = 20" \
    "min_share = 0" "[alert uceprotect]" "list = UCEPROTECT-*" "min_count = 1" "min_share = 0"
"$SMTPMON" scan --alerts --config "$T/alerts.conf" "$T/written.log" > "$T/alerts2.out" ||
    fail "scan --alerts --config"
sp=$(grep -m1 '"type":"alert","rule":"spamhaus"' "$T/alerts2.out") ||
    fail "the list rule did not fire: $(cat "$T/alerts2.out")"
[ "$(jq -c '.top_list | keys' <<< "$sp")" = '["spamhaus-zen"]' ] ||
    fail "list rule cause: $(jq -c .top_list <<< "$sp")"
grep -q '"rule":"uceprotect"' "$T/alerts2.out" && fail "a rule on an unnamed list fired"

# An agent commits the log to a real Redis: query equals scan; the fields and the stream.
start_redis
cp "$T/written.log" "$LOG"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 30 "[ \"\$(query_lines)\" -ge $N ]" || fail "Redis holds $(query_lines) of $N lines"
[ "$(query_json | jq -cS .by.list)" = "$WANT" ] || fail "query: $(query_json | jq -c .by.list)"
[ "$(query_json --fleet | jq -cS .by.list)" = "$WANT" ] ||
    fail "query --fleet: $(query_json --fleet | jq -c .by.list)"
[ "$(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'bl|spamhaus-zen')" = 60 ] ||
    fail "bl|spamhaus-zen: $(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'bl|spamhaus-zen')"
rcli XRANGE "smtpmon:{$AGENT_ID}:ts" - + > "$T/stream.txt"
grep -qx 'bl|microsoft-s3150' "$T/stream.txt" || fail "no bl| field in the stream entries"
# The agent's own alert, in Redis, names the lists too.
wait_for 10 "[ \"\$(rcli XLEN 'smtpmon:{$AGENT_ID}:alerts')\" -ge 1 ]" || fail "no alert in Redis"
rcli XRANGE "smtpmon:{$AGENT_ID}:alerts" - + > "$T/ralerts.txt"
grep -q '"top_list":{"spamhaus-zen":' "$T/ralerts.txt" || fail "Redis alert: $(head -c 600 "$T/ralerts.txt")"
stop_agent

# At most 64 list names a hash: 70 more distinct zones in one more minute go to bl|other.
awk 'BEGIN { for (i = 0; i < 70; i++) printf "Dec  1 10:40:%02d mx1 postfix/smtp[104]: Z%07dE: to=<y@example.net>, relay=mx.example.net[203.0.113.50]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.7.1, status=bounced (host mx.example.net[203.0.113.50] said: 550 5.7.1 blocked using bl%d.example-dnsbl.org (in reply to RCPT TO command))\n", i % 60, i, i }' >> "$LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 30 "[ \"\$(query_lines)\" -ge $((N + 70)) ]" || fail "Redis holds $(query_lines) of $((N + 70)) lines"
stop_agent
names=$(rcli HKEYS "smtpmon:{$AGENT_ID}:c:total" | grep -c '^bl|' )
[ "$names" -le 65 ] || fail "$names bl| fields in the totals (cap 64 + other)"
[ "$(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'bl|other')" -ge 9 ] ||
    fail "bl|other: $(rcli HGET "smtpmon:{$AGENT_ID}:c:total" 'bl|other')"
[ "$(query_json | jq '[.by.list[]] | add')" = 170 ] || fail "query: the lists do not add up"

# serve: smtpmon_list_total by list.
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
grep -q "^smtpmon_list_total{agent=\"$AGENT_ID\",list=\"spamhaus-zen\"} 60\$" "$T/metrics.txt" ||
    fail "serve: $(grep smtpmon_list "$T/metrics.txt" | head -5)"
exit 0
