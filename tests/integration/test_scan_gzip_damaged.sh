#!/bin/bash
# A gzip-compressed log that is damaged (cut short by a full disk or an interrupted copy, or with
# a corrupted byte) is named in a warning that says what is wrong, scan exits 66, and the lines
# before the damage are counted: exactly those zlib can decompress, checked against Python's
# zlib at random cut points. A whole file, and several gzip members one after another (what
# `cat a.gz b.gz` and some rotation tools write), give no warning.
. "$(dirname "$0")/lib.sh"

need gzip python3

LOG=$T/mail.log
append "$LOG" 0 3000
gzip -n -c "$LOG" > "$T/whole.gz"
size=$(stat -c %s "$T/whole.gz")

# whole, and two members in a row: no warning, the counts of the text
"$SMTPMON" scan --format json "$LOG" > "$T/want.json" || fail "scan of the text"
"$SMTPMON" scan --format json "$T/whole.gz" > "$T/got.json" 2> "$T/scan.err" ||
    fail "whole file: exit $?: $(cat "$T/scan.err")"
[ ! -s "$T/scan.err" ] || fail "whole file warned: $(cat "$T/scan.err")"
cmp -s "$T/want.json" "$T/got.json" || fail "whole file: counts differ"
cat "$T/whole.gz" "$T/whole.gz" > "$T/twice.gz"
cat "$LOG" "$LOG" > "$T/twice.log"
"$SMTPMON" scan --format json "$T/twice.log" > "$T/want.json"
"$SMTPMON" scan --format json "$T/twice.gz" > "$T/got.json" 2> "$T/scan.err" ||
    fail "two members: exit $?: $(cat "$T/scan.err")"
[ ! -s "$T/scan.err" ] || fail "two members warned: $(cat "$T/scan.err")"
cmp -s "$T/want.json" "$T/got.json" || fail "two members: counts differ"

# prefix GZ N OUT: what zlib decompresses of the first N bytes of GZ
prefix() {
    python3 - "$1" "$2" "$3" << 'EOF'
import sys, zlib
data = open(sys.argv[1], 'rb').read()[:int(sys.argv[2])]
d = zlib.decompressobj(wbits=31)
open(sys.argv[3], 'wb').write(d.decompress(data))
EOF
}

# Cut at random places after the header, and just before the 8-byte trailer (all the text, no
# checksum) and its last byte.
cuts="$((size - 8)) $((size - 1))"
for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
    cuts="$cuts $((20 + (RANDOM * 32768 + RANDOM) % (size - 28)))"
done
for n in $cuts; do
    head -c "$n" "$T/whole.gz" > "$T/cut.gz"
    prefix "$T/whole.gz" "$n" "$T/cut.log"
    "$SMTPMON" scan --format json "$T/cut.log" > "$T/want.json"
    rc=0
    "$SMTPMON" scan --format json "$T/cut.gz" > "$T/got.json" 2> "$T/scan.err" || rc=$?
    [ "$rc" = 66 ] || fail "cut at $n of $size: exit $rc, want 66: $(cat "$T/scan.err")"
    grep -q "scan: read error file=$T/cut.gz: unexpected end of file (truncated gzip data; counts up to there are kept)" \
        "$T/scan.err" || fail "cut at $n: warning: $(cat "$T/scan.err")"
    cmp -s "$T/want.json" "$T/got.json" ||
        fail "cut at $n: counts differ from zlib's prefix ($(jq .lines "$T/got.json") lines, want $(jq .lines "$T/want.json"))"
    # the same through a pipe
    rc=0
    "$SMTPMON" scan --format json - < "$T/cut.gz" > "$T/got.json" 2> "$T/scan.err" || rc=$?
    [ "$rc" = 66 ] || fail "cut at $n, standard input: exit $rc"
    grep -q "file=-: unexpected end of file (truncated gzip data; counts" "$T/scan.err" ||
        fail "cut at $n, standard input: $(cat "$T/scan.err")"
    cmp -s "$T/want.json" "$T/got.json" || fail "cut at $n, standard input: counts differ"
done

# A corrupted byte in the compressed data, and in the trailer's checksum: an error, named.
python3 - "$T/whole.gz" "$T/bad.gz" "$T/badcrc.gz" << 'EOF'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
mid = bytearray(data)
mid[len(mid) // 2] ^= 0xff
open(sys.argv[2], 'wb').write(mid)
crc = bytearray(data)
crc[-8] ^= 0x01
open(sys.argv[3], 'wb').write(crc)
EOF
for f in bad badcrc; do
    rc=0
    "$SMTPMON" scan --format json "$T/$f.gz" > /dev/null 2> "$T/scan.err" || rc=$?
    [ "$rc" = 66 ] || fail "$f.gz: exit $rc, want 66"
    grep -q "scan: read error file=$T/$f.gz: .* (damaged gzip data; counts up to there are kept, but for the lines of up to 256 KiB before the damage: 'zcat $T/$f.gz | smtpmon scan -' counts all that gzip can read)" "$T/scan.err" ||
        fail "$f.gz: warning: $(cat "$T/scan.err")"
done
# what the warning advises for the checksum error: every line counted
got=$(gzip -dc < "$T/badcrc.gz" 2> /dev/null | "$SMTPMON" scan --format json - | jq .lines)
[ "$got" = 3000 ] || fail "zcat badcrc.gz | scan -: $got lines, want 3000"
echo "PASS: $TEST_NAME"
