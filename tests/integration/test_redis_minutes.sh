#!/bin/bash
# Redis: per-minute buckets are exact. Lines spread unevenly over a dozen log minutes (some
# without a time, which count in the minute of the line before them) are written at once, so
# that without the minute rule one batch would span several minutes. For every minute M,
# `query --since M` (the sum of the minute hashes from M on) equals `scan` of the lines of M
# and later, and each minute hash holds exactly the lines of its minute.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

start_redis
LOG=$T/mail.log
base=$(( $(date +%s) / 60 * 60 - 20 * 60 ))
# gen_minutes BASE: lines of minutes BASE, BASE+60, ... with 1..97 lines each and untimed
# lines after some of them; one line per minute per entry of $T/minutes ("epoch first_line").
awk -v base="$base" -v out="$T/minutes" 'BEGIN {
    srand(7); n = 0
    for (m = 0; m < 12; m++) {
        k = 1 + int(rand() * 97); t0 = base + 60 * m
        printf "%d %d\n", t0, n + 1 > out
        for (j = 0; j < k; j++) {
            ts = strftime("%Y-%m-%dT%H:%M:%S+00:00", t0 + int(j * 60 / k), 1)
            if (n % 7 == 0) {
                printf "%s mx1 postfix/smtp[%d]: %08X: to=<u%d@example.com>, relay=mx.example.com[198.18.0.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.com[198.18.0.1] said: 550 5.1.1 <u%d@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n", ts, 100 + n, n, n, n
            } else {
                printf "%s mx1 postfix/smtp[%d]: %08X: to=<u%d@example.com>, relay=mx.example.com[198.18.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK %d)\n", ts, 100 + n, n, n, n
            }
            n++
            if (n % 13 == 0) {
                print "continuation line without a time"; n++
            }
        }
    }
}' > "$T/gen.log"
cp "$T/gen.log" "$T/written.log"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "batch_lines = 100000" "[source mail]" "path = $LOG"
sed -i 's/^flush_interval = .*/flush_interval = 5s/' "$T/smtpmon.conf"
start_agent -f "$T/smtpmon.conf"
cat "$T/gen.log" > "$LOG"
wait_query_exact 20
[ "$(committed_offset)" = "$(stat -c %s "$LOG")" ] || fail "cursor $(committed_offset) != size"

total=$(wc -l < "$T/gen.log")
nkeys=$(rcli --scan --pattern "smtpmon:{$AGENT_ID}:c:m:*" | wc -l)
[ "$nkeys" = 12 ] || fail "expected 12 minute hashes, found $nkeys"
while read -r t0 first; do
    # Lines of minute t0 and later: from its first line to the end.
    tail -n +"$first" "$T/gen.log" > "$T/suffix.log"
    "$SMTPMON" scan --format json "$T/suffix.log" | jq -S . > "$T/exp.json" || fail "scan"
    query_json --agent="$AGENT_ID" --since "$t0" | jq -S . > "$T/got.json" || fail "query"
    diff "$T/exp.json" "$T/got.json" > "$T/diff.txt" ||
        fail "minute $t0: query --since differs from scan: $(head -c 1500 "$T/diff.txt")"
    # The minute's own hash: exactly the lines from its first line to the next minute's.
    next=$(awk -v f="$first" '$2 > f {print $2; exit}' "$T/minutes")
    want=$(( ${next:-$((total + 1))} - first ))
    got=$(rcli HGET "smtpmon:{$AGENT_ID}:c:m:$t0" "m|lines")
    [ "$got" = "$want" ] || fail "minute $t0 holds $got lines, expected $want"
done < "$T/minutes"
# The streams: one entry per closed minute (all but the last) with every non-zero dimension of
# its minute hash, for the agent and the fleet.
for a in "$AGENT_ID" fleet; do
    [ "$(rcli XLEN "smtpmon:{$a}:ts")" = 11 ] || fail "{$a}:ts has $(rcli XLEN "smtpmon:{$a}:ts") entries"
    head -n 11 "$T/minutes" | while read -r t0 first; do
        rcli HGETALL "smtpmon:{$a}:c:m:$t0" | paste - - |
            grep -E '^(m|cl|sj|st|rp|di|oc|dc|rs|ru|dm|a|ds)\|' | awk -F'\t' '$2 != "0"' |
            sort > "$T/h.txt"
        rcli XRANGE "smtpmon:{$a}:ts" "${t0}000" "${t0}000" | tail -n +2 | paste - - |
            grep '|' | sort > "$T/x.txt"
        [ -s "$T/h.txt" ] && grep -q '^ds|outbound|2.0' "$T/x.txt" ||
            fail "{$a}:ts minute $t0: no ds| field"
        diff "$T/h.txt" "$T/x.txt" > /dev/null || fail "{$a}:ts minute $t0 differs from its hash: $(diff "$T/h.txt" "$T/x.txt" | head -20)"
    done || exit 1
done
stop_agent
exit 0
