#!/bin/bash
# smtpmon scan --alerts: on a generated Postfix day with a 20-minute spike of outbound 5.7.1
# bounces at 05:00, exactly one alert in minute 05:00 and one recovery after the spike; the
# same day without the spike, nothing; a burst of SMTP AUTH failures fires inbound-auth once;
# the same log again gives the same output (replay); an [alert NAME] rule from --config replaces
# the shipped ones; a bad rule is refused.
. "$(dirname "$0")/lib.sh"

GEN=$ROOT/tests/data/alerts/gen.awk
awk -v minutes=480 -v spike_start=300 -v spike_end=320 -f "$GEN" > "$T/spike.log"
awk -v minutes=480 -f "$GEN" > "$T/steady.log"

TZ=UTC "$SMTPMON" scan --alerts "$T/spike.log" > "$T/spike.out" 2> "$T/spike.err" ||
    fail "scan --alerts failed: $(cat "$T/spike.err")"
[ "$(wc -l < "$T/spike.out")" = 2 ] || fail "want 2 lines, got: $(cat "$T/spike.out")"
jq -e . "$T/spike.out" > /dev/null || fail "not JSON: $(cat "$T/spike.out")"
first=$(sed -n 1p "$T/spike.out")
second=$(sed -n 2p "$T/spike.out")
[ "$(jq -r .type <<< "$first")" = alert ] || fail "first is not an alert: $first"
[ "$(jq -r .rule <<< "$first")" = outbound-5.7 ] || fail "wrong rule: $first"
[ "$(jq -r .host <<< "$first")" = mx1 ] || fail "wrong host: $first"
case "$(jq -r .time <<< "$first")" in
2024-11-28T05:00:*Z) ;;
*) fail "alert not in minute 05:00: $first" ;;
esac
[ "$(jq -r '.top_domain | keys_unsorted[0]' <<< "$first")" = gmail.com ] ||
    fail "top domain is not gmail.com: $first"
[ "$(jq -r '.top_status | keys_unsorted[0]' <<< "$first")" = 5.7.1 ] || fail "top status: $first"
jq -e '.count >= 20 and .baseline > 0 and .share > 0 and .total > .count and .window_s == 600
       and (.sample | test("dsn=5.7.1"))' <<< "$first" > /dev/null || fail "fields: $first"
[ "$(jq -r .type <<< "$second")" = recovery ] || fail "second is not a recovery: $second"
[ "$(jq -r .since <<< "$second")" = "$(jq -r .time <<< "$first")" ] || fail "since: $second"
case "$(jq -r .time <<< "$second")" in
2024-11-28T05:[2-5]?:*Z) ;;
*) fail "recovery not between 05:20 and 06:00: $second" ;;
esac

TZ=UTC "$SMTPMON" scan --alerts "$T/steady.log" > "$T/steady.out" || fail "steady scan failed"
[ ! -s "$T/steady.out" ] || fail "a steady log fired: $(cat "$T/steady.out")"

# Replay: the same alerts at the same moments, also through a pipe.
TZ=UTC "$SMTPMON" scan --alerts - < "$T/spike.log" > "$T/again.out" || fail "stdin scan failed"
cmp -s "$T/spike.out" "$T/again.out" || fail "a replay differs"

# Password guessing: SMTP AUTH failures (Postfix logs no code; the pack implies 535 5.7.8) at
# 60 a minute from 05:00 to 05:10 over a background of 0 to 2 a minute fire inbound-auth once in
# minute 05:00, and recover (a burst this large is also most of the inbound 5.7.x, so
# inbound-5.7 may fire too); the same background without the burst fires nothing.
awk -v minutes=480 -v auth_start=300 -v auth_end=310 -f "$GEN" > "$T/auth.log"
awk -v minutes=480 -v auth_start=-1 -f "$GEN" > "$T/auth-steady.log"
TZ=UTC "$SMTPMON" scan --alerts "$T/auth.log" > "$T/auth.all" || fail "auth scan failed"
jq -c 'select(.rule == "inbound-auth")' "$T/auth.all" > "$T/auth.out"
[ "$(wc -l < "$T/auth.out")" = 2 ] || fail "auth: want 2 lines, got: $(cat "$T/auth.all")"
first=$(sed -n 1p "$T/auth.out")
jq -e '.type == "alert" and .rule == "inbound-auth" and (.time | startswith("2024-11-28T05:00:"))
       and (.sample | test("SASL LOGIN authentication failed")) and .top_reason["auth-failed"] > 0' \
    <<< "$first" > /dev/null || fail "auth alert: $first"
[ "$(sed -n 2p "$T/auth.out" | jq -r '.type + " " + .rule')" = "recovery inbound-auth" ] ||
    fail "auth recovery: $(sed -n 2p "$T/auth.out")"
TZ=UTC "$SMTPMON" scan --alerts "$T/auth-steady.log" > "$T/auth-steady.out" || fail "auth steady"
[ ! -s "$T/auth-steady.out" ] || fail "a steady AUTH background fired: $(cat "$T/auth-steady.out")"

# Configured rules replace the defaults.
write_conf "$T/rules.conf" "[alert deferrals]" "direction = outbound" "status = 4.*.*" \
    "window = 5m" "min_count = 5" "factor = 0" "min_share = 0"
TZ=UTC "$SMTPMON" scan --alerts --config "$T/rules.conf" "$T/spike.log" > "$T/conf.out" ||
    fail "scan with --config failed"
[ -s "$T/conf.out" ] || fail "the configured rule never fired"
jq -e -s 'all(.[]; .rule == "deferrals")' "$T/conf.out" > /dev/null ||
    fail "other rules fired: $(head -n 3 "$T/conf.out")"

write_conf "$T/bad.conf" "[alert x]" "status = 5.7.*" "factor = lots" "reason = nosuch"
TZ=UTC "$SMTPMON" scan --alerts --config "$T/bad.conf" "$T/spike.log" > /dev/null \
    2> "$T/bad.err" && fail "a bad rule was accepted"
grep -q "factor must be a number" "$T/bad.err" || fail "no factor message: $(cat "$T/bad.err")"
grep -q "unknown reason 'nosuch'" "$T/bad.err" || fail "no reason message: $(cat "$T/bad.err")"
exit 0
