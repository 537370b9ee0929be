#!/bin/bash
# A log that is not text (NUL bytes after the start of a line: a compressed or binary file) is
# named in one warning per file with the offset of the first such NUL byte, and the text goes
# on being counted: a line is read from after its last NUL byte (what remains of a binary line is
# an empty line). A leading NUL run (copytruncate with a writer without O_APPEND) is dropped
# silently. Checked for scan (plain, gzip, standard input, several workers) and for the agent
# following a file, with equal counts.
. "$(dirname "$0")/lib.sh"

need gzip bzip2
# junk FILE: three binary lines (each with NUL bytes and nothing after the last one: three
# empty lines for the oracle), then a NUL run directly followed by a real log line.
junk() {
    printf 'PK\003\004\024\000\010\000\000\000\nabc\000\000\000\000\n\000\000\000\000\n' >> "$1"
    head -c 300 /dev/zero >> "$1"
    printf '\n\n\n' >> "$T/written.log"
}

LOG=$T/mail.log
append "$LOG" 0 200
size0=$(stat -c %s "$LOG")
junk "$LOG"
append "$LOG" 200 1
append "$LOG" 201 199

# scan: one warning, with the file and the first NUL's offset; counts equal to the text alone.
"$SMTPMON" scan --format json "$T/written.log" > "$T/want.json" || fail "scan of the text"
"$SMTPMON" scan --format json "$LOG" > "$T/got.json" 2> "$T/scan.err" || fail "scan exited $?"
want_off=$((size0 + 5))
[ "$(grep -c 'not text' "$T/scan.err")" = 1 ] || fail "not one warning: $(cat "$T/scan.err")"
grep -q "$LOG: not text (NUL bytes at offset $want_off); lines with NUL bytes are read from after their last NUL byte" \
    "$T/scan.err" || fail "unexpected warning: $(cat "$T/scan.err")"
cmp -s "$T/want.json" "$T/got.json" || fail "counts differ from the text's: $(diff "$T/want.json" "$T/got.json" | head)"
[ "$(jq .lines "$T/got.json")" = 403 ] || fail "lines: $(jq .lines "$T/got.json"), want 403"
# A large file read by several workers: still one warning, at the first NUL byte.
for i in 1 2 3 4 5 6 7 8; do cat "$LOG"; done > "$T/big.log"
"$SMTPMON" scan --jobs 4 --format json "$T/big.log" > /dev/null 2> "$T/scan.err"
[ "$(grep -c 'not text' "$T/scan.err")" = 1 ] || fail "big file: $(cat "$T/scan.err")"
grep -q "offset $want_off)" "$T/scan.err" || fail "big file offset: $(cat "$T/scan.err")"
# gzip: the offset is in the decompressed data; standard input is named so.
gzip -c "$LOG" > "$T/mail.log.1.gz"
"$SMTPMON" scan --format json "$T/mail.log.1.gz" > "$T/got.json" 2> "$T/scan.err"
grep -q "mail.log.1.gz: not text (NUL bytes at offset $want_off of the decompressed data)" \
    "$T/scan.err" || fail "gzip: $(cat "$T/scan.err")"
cmp -s "$T/want.json" "$T/got.json" || fail "gzip: counts differ"
"$SMTPMON" scan --format json - < "$LOG" > /dev/null 2> "$T/scan.err"
grep -q "standard input: not text (NUL bytes at offset $want_off)" "$T/scan.err" ||
    fail "stdin: $(cat "$T/scan.err")"
# A compressed file scan cannot decompress (bzip2): named, not fatal.
bzip2 -c "$T/written.log" > "$T/mail.log.2.bz2"
"$SMTPMON" scan "$T/mail.log.2.bz2" > /dev/null 2> "$T/scan.err" || fail "scan of bzip2 failed"
[ "$(grep -c 'mail.log.2.bz2: not text (NUL bytes at offset' "$T/scan.err")" = 1 ] ||
    fail "bzip2: $(cat "$T/scan.err")"
# Text only: no warning.
"$SMTPMON" scan "$T/written.log" > /dev/null 2> "$T/scan.err"
! grep -q 'not text' "$T/scan.err" || fail "a text file was called not text"

# The agent: the same file followed live, junk appended while it runs.
LOG2=$T/live.log
: > "$T/written.log"
append "$LOG2" 0 100
write_conf "$T/smtpmon.conf" "[source mail]" "path = $LOG2"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
off=$(( $(stat -c %s "$LOG2") + 5 ))
junk "$LOG2"
append "$LOG2" 100 50
wait_exact 10
junk "$LOG2"
append "$LOG2" 150 50
wait_exact 10
[ "$(grep -c 'not text' "$AGENT_ERR")" = 1 ] || fail "agent: not one warning: $(grep 'not text' "$AGENT_ERR")"
grep -q "$LOG2: not text (NUL bytes at offset $off); lines with NUL bytes are read from after their last NUL byte" \
    "$AGENT_ERR" || fail "agent: $(grep 'not text' "$AGENT_ERR")"
kill -0 "$AGENT_PID" || fail "the agent exited"
# After rotation the new file is another file: named again if it is not text either.
mv "$LOG2" "$LOG2.1"
junk "$LOG2"
append "$LOG2" 200 20
wait_exact 15
[ "$(grep -c 'not text' "$AGENT_ERR")" = 2 ] || fail "rotated: $(grep 'not text' "$AGENT_ERR")"
stop_agent

# A gzip file given to the agent to follow: named once (its header's flags byte is NUL), the
# agent keeps running.
gzip -n -c < "$LOG" > "$T/mail.log.1.gz"
write_conf "$T/gz.conf" "[source gz]" "path = $T/mail.log.1.gz"
sed -i "s|^state_dir = .*|state_dir = $T/state-gz|; s|^output = .*|output = $T/gz.jsonl|" "$T/gz.conf"
start_agent -f "$T/gz.conf"
wait_for 10 "grep -q 'not text' '$AGENT_ERR'" || fail "gzip followed: no warning"
grep -q "$T/mail.log.1.gz: not text (NUL bytes at offset 3); .*a compressed log?" "$AGENT_ERR" ||
    fail "gzip followed: $(grep 'not text' "$AGENT_ERR")"
gzip -n -c < "$LOG" >> "$T/mail.log.1.gz"
gzsize=$(stat -c %s "$T/mail.log.1.gz")
wait_for 10 "[ \$(metric bytes_read '$T/gz.jsonl') -ge $gzsize ]" ||
    fail "gzip followed: read $(metric bytes_read "$T/gz.jsonl") of $gzsize bytes"
[ "$(grep -c 'not text' "$AGENT_ERR")" = 1 ] || fail "gzip followed: not one warning"
stop_agent
exit 0
