#!/bin/bash
# JSON strings: lines with IDN domains (exämple.com, 例え.jp, their xn-- forms), invalid UTF-8
# (\xff, \xc3\x28, a lone \xe2\x82) and control characters, through `scan --format json`,
# `scan --alerts`, the agent's JSON lines (from a file whose path is not UTF-8) and `query`
# from a real redis-server. Every output is parsed by jq and by Python: UTF-8 comes back as it
# was written, and every invalid byte comes back from its \udcXX escape with
# json.loads(s).encode('utf-8', 'surrogateescape'). jq reads those escapes as U+FFFD.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

need python3
start_redis

# Eight lines: IDN deliveries and a domain with invalid bytes (matched, so in by.domain);
# two lines with a code that no rule matches (so in unmatched_samples, byte for byte).
idn_lines() {
    _s="Nov 28 14:00:0$1 mx1 postfix/smtp[10$1]: 0A1B2C3D0$1:"
    printf '%s to=<u1@ex\xc3\xa4mple.com>, relay=mx.ex\xc3\xa4mple.com[198.18.0.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.ex\xc3\xa4mple.com[198.18.0.1] said: 550 5.1.1 <u1@ex\xc3\xa4mple.com>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n' "$_s"
    printf '%s to=<u2@ex\xc3\xa4mple.com>, relay=mx.ex\xc3\xa4mple.com[198.18.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n' "$_s"
    printf '%s to=<u3@\xe4\xbe\x8b\xe3\x81\x88.jp>, relay=mx.\xe4\xbe\x8b\xe3\x81\x88.jp[198.18.0.2]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n' "$_s"
    printf '%s to=<u4@xn--exmple-cua.com>, relay=mx.xn--exmple-cua.com[198.18.0.3]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n' "$_s"
    printf '%s to=<u5@xn--r8jz45g.jp>, relay=mx.xn--r8jz45g.jp[198.18.0.4]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n' "$_s"
    printf '%s to=<u6@bad\xff\xc3\x28.example>, relay=mx.bad.example[198.18.0.5]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.bad.example[198.18.0.5] said: 550 5.1.1 User unknown)\n' "$_s"
    printf 'Nov 28 14:00:0%s mx1 weird[20%s]: odd \xff \xc3\x28 \xe2\x82 ctl\x01\x1b\x7f tab\there said: 554 5.7.1 go away\n' "$1" "$1"
    printf 'Nov 28 14:00:0%s mx1 weird[30%s]: cut short said: 421 4.7.0 \xe2\x82\n' "$1" "$1"
}

# The Python side: pycheck FILE LOG NEEDLE...: FILE holds JSON objects, one a line. Every string
# (keys too) must decode back to bytes with surrogateescape; a string that held an invalid byte
# must occur in LOG as it is; each NEEDLE (a Python bytes literal body, e.g. 'ex\xc3\xa4mple')
# must be one of the strings, or (with a leading ~) inside one of them.
cat > "$T/check.py" <<'PY'
import codecs, json, sys

path, log = sys.argv[1], open(sys.argv[2], 'rb').read()
found = []

def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
    elif isinstance(v, str):
        b = v.encode('utf-8', 'surrogateescape')  # fails on anything but U+DC80..U+DCFF
        try:
            b.decode('utf-8')
        except UnicodeDecodeError:
            assert b in log, 'invalid bytes not from the log: %r' % b
        found.append(b)

n = 0
for line in open(path, 'rb'):
    walk(json.loads(line))
    n += 1
assert n > 0, 'no JSON in ' + path
for arg in sys.argv[3:]:
    part = arg.startswith('~')
    want = codecs.escape_decode(arg.lstrip('~'))[0]
    ok = any(want in b for b in found) if part else want in found
    assert ok, '%r not in %s: %r' % (want, path, found[:40])
PY

pycheck() {
    python3 "$T/check.py" "$@" 2> "$T/py.err" || fail "python: $1: $(tail -n 3 "$T/py.err")"
}

# jqcheck FILE FILTER: jq parses FILE and FILTER holds for every object.
jqcheck() {
    jq -e "$2" "$1" > "$T/jq.out" 2>&1 || fail "jq: $1: '$2': $(head -c 600 "$T/jq.out")"
    ! grep -qx false "$T/jq.out" || fail "jq: $1: '$2' is false: $(head -c 600 "$1")"
}

# The needles, as Python bytes literals.
EX='ex\xc3\xa4mple.com'
JP='\xe4\xbe\x8b\xe3\x81\x88.jp'
BAD='bad\xff\xc3(.example'
ODD='~odd \xff \xc3( \xe2\x82 ctl\x01\x1b\x7f tab\there said: 554 5.7.1 go away'
CUT='~cut short said: 421 4.7.0 \xe2\x82'

# --- scan
idn_lines 1 > "$T/idn.log"
"$SMTPMON" scan --format json --top 64 "$T/idn.log" > "$T/scan.json" 2> "$T/scan.err" ||
    fail "scan: $(cat "$T/scan.err")"
[ "$(wc -l < "$T/scan.json")" = 1 ] || fail "scan printed more than one line"
grep -q 'ex\\u00c3' "$T/scan.json" && fail "UTF-8 written as Latin-1: $(cat "$T/scan.json")"
grep -q '"ex\\u00e4\|\\ufffd' "$T/scan.json" && fail "escaped or replaced: $(cat "$T/scan.json")"
grep -q '\\udcff\\udcc3(' "$T/scan.json" || fail "no \\udcXX escapes: $(cat "$T/scan.json")"
grep -q 'ctl\\u0001\\u001b\\u007f tab\\there' "$T/scan.json" || fail "control characters"
jqcheck "$T/scan.json" '.lines == 8 and .matched == 6 and .unmatched_with_code == 2'
jqcheck "$T/scan.json" '.by.domain["exämple.com"] == 2 and .by.domain["例え.jp"] == 1
    and .by.domain["xn--exmple-cua.com"] == 1 and .by.domain["xn--r8jz45g.jp"] == 1'
# jq 1.6 reads each \udcXX as U+FFFD, without an error
jqcheck "$T/scan.json" '.by.domain["bad\ufffd\ufffd(.example"] == 1'
jqcheck "$T/scan.json" '.unmatched_samples | length == 2 and all(contains("\ufffd"))'
pycheck "$T/scan.json" "$T/idn.log" "$EX" "$JP" xn--exmple-cua.com xn--r8jz45g.jp "$BAD" \
    "$ODD" "$CUT"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
lines = open(sys.argv[2], "rb").read().split(b"\n")
s = [x.encode("utf-8", "surrogateescape") for x in d["unmatched_samples"]]
assert s == [l for l in lines if b"weird" in l], s
' "$T/scan.json" "$T/idn.log" || fail "unmatched samples are not the lines, byte for byte"

# --- scan --alerts: a spike of 5.7.1 bounces to exämple.com, with invalid bytes in its text
awk -v minutes=400 -v spike_start=300 -v spike_end=320 -f "$ROOT/tests/data/alerts/gen.awk" |
    sed 's/gmail\.com/ex\xc3\xa4mple.com/g; s/unsolicited mail/unsolicited \xff\xc3\x28 m\x01il \xe2\x82/' \
    > "$T/spike.log"
TZ=UTC "$SMTPMON" scan --alerts "$T/spike.log" > "$T/alerts.json" 2> "$T/alerts.err" ||
    fail "scan --alerts: $(cat "$T/alerts.err")"
[ "$(wc -l < "$T/alerts.json")" = 2 ] || fail "want an alert and a recovery: $(cat "$T/alerts.json")"
grep -q '\\ufffd' "$T/alerts.json" && fail "invalid bytes replaced: $(head -n 1 "$T/alerts.json")"
jqcheck "$T/alerts.json" '.type == "alert" or .type == "recovery"'
jqcheck "$T/alerts.json" '.type == "recovery" or (.top_domain | keys_unsorted[0] == "exämple.com")'
jqcheck "$T/alerts.json" '.sample | contains("unsolicited \ufffd\ufffd( m\u0001il \ufffd\ufffd.")'
pycheck "$T/alerts.json" "$T/spike.log" "$EX" '~unsolicited \xff\xc3( m\x01il \xe2\x82.'
python3 -c '
import json, sys
lines = open(sys.argv[2], "rb").read().split(b"\n")
for l in open(sys.argv[1]):
    s = json.loads(l)["sample"].encode("utf-8", "surrogateescape")
    assert s in lines, s
' "$T/alerts.json" "$T/spike.log" || fail "the alert sample is not a line of the log"

# --- the agent's JSON lines, from a file whose path is not UTF-8 either
LOG=$(printf '%s/m\xe4il-ex\xc3\xa4mple.log' "$T")
idn_lines 2 > "$LOG"
idn_lines 2 > "$T/written.log"
write_conf "$T/smtpmon.conf"
start_agent -f "$T/smtpmon.conf" --follow "$LOG"
wait_for 10 "[ \"\$(total_lines)\" -ge 8 ]" || fail "the agent counted $(total_lines) of 8 lines"
stop_agent
grep -q 'ex\\u00c3' "$T/out.jsonl" && fail "UTF-8 written as Latin-1: $(head -c 800 "$T/out.jsonl")"
jqcheck "$T/out.jsonl" '.counts.by.domain["exämple.com"] == 2 and .counts.by.domain["例え.jp"] == 1'
jqcheck "$T/out.jsonl" '.cursor.path | endswith("/m\ufffdil-exämple.log")'
grep -q "$(printf '/m\\\\udce4il-ex\xc3\xa4mple.log"')" "$T/out.jsonl" ||
    fail "path: $(head -c 400 "$T/out.jsonl")"
{ cat "$LOG"; printf '%s\n' "$LOG"; } > "$T/bytes"
pycheck "$T/out.jsonl" "$T/bytes" "$EX" "$JP" "$BAD" "$ODD" "$CUT" \
    "$T/m\\xe4il-ex\\xc3\\xa4mple.log"

# --- query from Redis: the same strings, and query equals scan. The unmatched samples (at most 5,
# in no particular order) are kept per agent, not fleet-wide: compared below, as sets.
: > "$T/written.log"
LOG=$T/mail.log
for i in 3 4; do idn_lines "$i"; done | tee "$T/written.log" > "$LOG"
write_rconf "$T/redis.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/redis.conf"
QUERY_FILTER='del(.unmatched_samples)' wait_query_exact 20
stop_agent
query_json > "$T/query.json" 2> "$T/query.err" || fail "query: $(cat "$T/query.err")"
grep -q 'ex\\u00c3' "$T/query.json" && fail "UTF-8 written as Latin-1: $(cat "$T/query.json")"
jqcheck "$T/query.json" '.lines == 16 and .by.domain["exämple.com"] == 4
    and .by.domain["例え.jp"] == 2 and .by.domain["bad\ufffd\ufffd(.example"] == 2'
pycheck "$T/query.json" "$LOG" "$EX" "$JP" xn--exmple-cua.com xn--r8jz45g.jp "$BAD" "$ODD" "$CUT"
# byte for byte (jq's comparison above sees U+FFFD): Redis gives back what scan counts
"$SMTPMON" scan --format json "$LOG" > "$T/scan2.json" || fail "scan of the Redis log"
python3 -c '
import json, sys
q, s = (json.load(open(f)) for f in sys.argv[1:3])
assert q["by"]["domain"] == s["by"]["domain"], (q["by"], s["by"])
assert sorted(q["unmatched_samples"]) == sorted(s["unmatched_samples"]), (q, s)
assert len(q["unmatched_samples"]) == 4, q
assert "bad\udcff\udcc3(.example" in q["by"]["domain"], q
assert "ex\u00e4mple.com" in q["by"]["domain"], q
' "$T/query.json" "$T/scan2.json" || fail "query differs from scan: $(cat "$T/query.json")"
exit 0
