#!/bin/bash
# The matching engines give the same counts: with and without JIT (the interpreter runs under
# the packaged unit's MemoryDenyWriteExecute=yes), with and without the native scanners, on one
# thread or several, on the busy relay log of the benchmark generator and on the sample log.
. "$(dirname "$0")/lib.sh"

GEN=$T/gen
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" "$ROOT/tests/bench/gen.c" || fail "cannot build gen"
"$GEN" 300000 11 > "$T/relay.log"
cp "$ROOT/tests/data/sample/mail.log" "$T/sample.log"

for f in relay sample; do
    "$SMTPMON" scan --format json --top 64 "$T/$f.log" | jq -S . > "$T/$f.ref.json" ||
        fail "scan $f"
    [ "$(jq '.matched' "$T/$f.ref.json")" -gt 0 ] || fail "nothing matched in $f"
    for opts in "--no-jit" "--no-scanners" "--no-jit --no-scanners" "--jobs 1" "--jobs 2 --no-jit"; do
        # shellcheck disable=SC2086
        "$SMTPMON" scan --format json --top 64 $opts "$T/$f.log" | jq -S . > "$T/$f.cmp.json" ||
            fail "scan $opts $f"
        diff -u "$T/$f.ref.json" "$T/$f.cmp.json" > "$T/diff" ||
            { head -n 40 "$T/diff" >&2; fail "scan $opts differs on $f"; }
    done
done
echo "relay: $(jq '.lines' "$T/relay.ref.json") lines, $(jq '.matched' "$T/relay.ref.json") events, equal under every engine" >&2

# The relay log in 200 files (every tenth gzip-compressed, as a rotation set) gives the counts,
# samples and top lists of the one file, on one thread and on several: the workers read whole
# files in turn and their counts are merged as if the files had been read one after another.
mkdir "$T/split"
split -n l/200 -a 3 -d "$T/relay.log" "$T/split/relay.log."
for f in "$T"/split/relay.log.*0; do
    gzip "$f"
done
[ "$(find "$T/split" -type f | wc -l)" -eq 200 ] || fail "split did not make 200 files"
touch -r "$T/relay.log" "$T"/split/*
for opts in "" "--jobs 1" "--jobs 2 --no-jit"; do
    # shellcheck disable=SC2086
    "$SMTPMON" scan --format json --top 64 $opts "$T/relay.log" | jq -S . > "$T/joined.json" ||
        fail "scan $opts relay"
    # shellcheck disable=SC2086
    "$SMTPMON" scan --format json --top 64 $opts "$T"/split/relay.log.* | jq -S . > "$T/split.json" ||
        fail "scan $opts of the 200 files"
    diff -u "$T/joined.json" "$T/split.json" > "$T/diff" ||
        { head -n 40 "$T/diff" >&2; fail "scan $opts of 200 files differs from the one file"; }
done
echo "200 files: equal to the one file with --jobs 1, --jobs 2 and the default" >&2
