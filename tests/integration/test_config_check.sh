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

# Pattern-dependent checks (the pack) run in the same pass as the file's own: the unknown pack
# of the file above is reported with the rest.
grep -q "^$C:10: source 'mail': unknown pack 'nosuchpack' (known: auto, " "$T/check.out" ||
    fail "no message for the unknown pack: $(cat "$T/check.out")"
[ "$(sort "$T/check.out" | uniq -d)" = "" ] || fail "an error is repeated: $(cat "$T/check.out")"

# Several errors at once, each once with file:line, among them an unreadable password_file and
# a rediss:// URL.
printf 'secret\n' > "$T/pw"
chmod 000 "$T/pw"
cat > "$C" <<CONF
[agent]
batch_lines = lots
[redis]
url = rediss://127.0.0.1:6379
password_file = $T/no-such-password
timeout = 0s
[source mail]
path = relative.log
pack = nosuchpack
[alert a]
select = status:5.7.*
window = 90s
[source other]
path = $T/mail.log
read_from = middle
CONF
"$SMTPMON" -n -f "$C" > "$T/check.out" 2>&1
rc=$?
[ "$rc" = 78 ] || fail "-n exited $rc, want 78"
for want in \
    "$C:2: bad " \
    "$C:4: rediss:// (TLS) is not supported by this build's hiredis; use stunnel" \
    "$C:5: password_file $T/no-such-password: cannot read: No such file or directory" \
    "$C:6: timeout = 0s is out of range" \
    "$C:8: source 'mail': path 'relative.log' is not absolute" \
    "$C:9: source 'mail': unknown pack 'nosuchpack'" \
    "$C:12: alert 'a': window must be whole minutes" \
    "$C:15: bad value 'middle' for read_from"; do
    grep -q "^$want" "$T/check.out" || fail "missing message: $want; got: $(cat "$T/check.out")"
done
[ "$(sort "$T/check.out" | uniq -d)" = "" ] || fail "an error is repeated: $(cat "$T/check.out")"
# An empty password_file is found in the same run as the other errors.
: > "$T/empty-pw"
sed -e "s|^url = .*|url = redis://127.0.0.1:6379|" -e "s|^password_file = .*|password_file = $T/empty-pw|" \
    "$C" > "$T/empty.conf"
"$SMTPMON" -n -f "$T/empty.conf" > "$T/check.out" 2>&1
[ $? = 78 ] || fail "empty password_file accepted"
grep -q "^$T/empty.conf: redis: the password file $T/empty-pw is empty or too long" "$T/check.out" ||
    fail "empty password_file: $(cat "$T/check.out")"
grep -q "^$T/empty.conf:9: source 'mail': unknown pack" "$T/check.out" ||
    fail "empty password_file: the other errors are missing: $(cat "$T/check.out")"
# A password_file that exists but may not be read (not as root: root reads it anyway).
sed -i "s|^url = .*|url = redis://127.0.0.1:6379|; s|^password_file = .*|password_file = $T/pw|" "$C"
"$SMTPMON" -n -f "$C" > "$T/check.out" 2>&1
if [ "$(id -u)" != 0 ]; then
    grep -q "^$C:5: password_file $T/pw: cannot read: Permission denied" "$T/check.out" ||
        fail "unreadable password_file: $(cat "$T/check.out")"
fi
! grep -q "password_file" "$T/check.out" || [ "$(id -u)" != 0 ] ||
    fail "root cannot read the password file? $(cat "$T/check.out")"

# A quick start without a file: options are checked the same way.
"$SMTPMON" -n --follow "$T/mail.log" --redis redis://host:99999 > "$T/check.out" 2>&1
[ $? = 78 ] || fail "bad --redis accepted"
grep -q "port '99999' is not 1..65535" "$T/check.out" || fail "no message for the bad port"
"$SMTPMON" -n --follow "$T/mail.log" --redis redis://127.0.0.1:6379 --agent-id mx1 \
    --state-dir "$T/state" > "$T/check.out" 2>&1 || fail "quick start rejected: $(cat "$T/check.out")"
exit 0
