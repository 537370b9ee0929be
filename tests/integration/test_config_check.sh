#!/bin/bash
# smtpmon -n: "configuration OK" and exit 0, or every error as file:line: message and exit 78
# (EX_CONFIG); the agent refuses to start with the same messages. Patterns are checked too.
. "$(dirname "$0")/lib.sh"

C=$T/smtpmon.conf
write_conf "$C" "[redis]" "url = redis://127.0.0.1:6379/0" \
    "[source mail]" "path = $T/mail.log" "pack = postfix" \
    "[source journal]" "type = journal" \
    "[alert bounces]" "select = outcome:bounced" "threshold = 50" "window = 10m"
out=$("$SMTPMON" -n -f "$C" 2>&1)
[ $? = 0 ] || fail "good configuration rejected: $out"
[ "$out" = "configuration OK" ] || fail "unexpected output: $out"
[ ! -e "$T/state" ] || fail "-n created the state directory"

cat > "$C" <<CONF
[agent]
flush_interval = 5 parsecs
queue_batches = 0
read_from = middle
no equals sign here
[redis]
url = http://127.0.0.1
[source mail]
path = $T/mail.log
pack = nosuchpack
[source mail]
path = $T/other.log
[source b]
path = $T/mail.log
[alert x]
threshold = -1
[bogus]
CONF
"$SMTPMON" -n -f "$C" > "$T/check.out" 2>&1
rc=$?
[ "$rc" = 78 ] || fail "-n exited $rc, want 78"
for want in \
    "$C:2: bad duration '5 parsecs'" \
    "$C:3: queue_batches = 0 is out of range" \
    "$C:4: bad value 'middle' for read_from (one of: head|tail)" \
    "$C:5: expected 'key = value' or '\[section\]'" \
    "$C:7: bad Redis URL 'http://127.0.0.1'" \
    "$C:11: duplicate source 'mail' (first at line 8)" \
    "$C:14: source 'b': path $T/mail.log is already read by source 'mail'" \
    "$C:16: threshold = -1 is out of range" \
    "$C:15: alert 'x': missing key 'select'" \
    "$C:17: unknown section \[bogus\]"; do
    grep -q "^$want" "$T/check.out" || fail "missing message: $want"
done
# The agent refuses to start with the same messages.
"$SMTPMON" -f "$C" > "$T/start.out" 2>&1
[ $? = 78 ] || fail "agent started with a bad configuration"
cmp -s "$T/check.out" "$T/start.out" || fail "start and -n messages differ"

# Pattern-dependent checks run once the file is clean.
write_conf "$C" "[source mail]" "path = $T/mail.log" "pack = nosuchpack"
"$SMTPMON" -n -f "$C" > "$T/check.out" 2>&1
[ $? = 78 ] || fail "unknown pack accepted"
grep -q "^$C:11: source 'mail': unknown pack 'nosuchpack' (known: auto, " "$T/check.out" ||
    fail "no message for the unknown pack: $(cat "$T/check.out")"

# A quick start without a file: options are checked the same way.
"$SMTPMON" -n --follow "$T/mail.log" --redis redis://host:99999 > "$T/check.out" 2>&1
[ $? = 78 ] || fail "bad --redis accepted"
grep -q "port must be 1..65535" "$T/check.out" || fail "no message for the bad port"
"$SMTPMON" -n --follow "$T/mail.log" --redis redis://127.0.0.1:6379 --agent-id mx1 \
    --state-dir "$T/state" > "$T/check.out" 2>&1 || fail "quick start rejected: $(cat "$T/check.out")"
exit 0
