#!/bin/bash
# The matching engines give the same counts: with and without JIT (the interpreter runs under
# the packaged unit's MemoryDenyWriteExecute=yes), with and without the native scanners, on one
# thread or several, on the busy relay log of the benchmark generator and on the sample log.
. "$(dirname "$0")/lib.sh"

# Recipient domains are a space-saving top-N (agent/core/stats.h: STATS_DOMAINS kept a worker):
# exact while fewer distinct domains were seen, else each count may be over by at most the
# smallest kept count (<= events / capacity), and merging the workers' tables adds as much again.
# One worker reads the lines in one order, so with --jobs 1 the counts are equal to the byte;
# several workers take pieces in the order they finish, so their domain counts are compared
# within that bound and everything else to the byte.
CAP=$(sed -n 's/^#define STATS_DOMAINS \([0-9]*\).*/\1/p' "$ROOT/agent/core/stats.h")
[ -n "$CAP" ] || fail "no STATS_DOMAINS in agent/core/stats.h"
same_counts() { # REF CMP: exit 0 when equal (domains within the bound when threads were used)
    local ref=$1 cmp=$2 threads=$3
    if [ "$threads" = 0 ]; then
        diff -u "$ref" "$cmp" > "$T/diff"
        return
    fi
    diff -u <(jq -S 'del(.by.domain)' "$ref") <(jq -S 'del(.by.domain)' "$cmp") > "$T/diff" ||
        return 1
    jq -n --argjson cap "$CAP" --slurpfile a "$ref" --slurpfile b "$cmp" '
        ($a[0].by.domain // {}) as $x | ($b[0].by.domain // {}) as $y
        | ([$x[]] | add // 0) as $n
        | (2 * $n / $cap | ceil) as $tol
        | ([$x | to_entries[] | select(.key != "other") | .value] | min // 0) as $xmin
        | ([$y | to_entries[] | select(.key != "other") | .value] | min // 0) as $ymin
        | if $n != ([$y[]] | add // 0) then "domain totals \($n) and \([$y[]] | add)"
          else [ ($x | to_entries[] | select(.key != "other")
                  | if $y[.key] == null then
                        (if .value > $ymin + $tol then "\(.key): \(.value), missing" else empty end)
                    elif (.value - $y[.key]) | fabs > $tol then "\(.key): \(.value) and \($y[.key])"
                    else empty end),
                 ($y | to_entries[] | select(.key != "other" and $x[.key] == null and .value > $xmin + $tol)
                  | "\(.key): missing, \(.value)") ]
               | if length == 0 then empty else "beyond \($tol): " + join(", ") end
          end' > "$T/domdiff" || return 1
    if [ -s "$T/domdiff" ]; then
        cat "$T/domdiff" > "$T/diff"
        return 1
    fi
}

GEN=$T/gen
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" "$ROOT/tests/bench/gen.c" || fail "cannot build gen"
"$GEN" 300000 11 > "$T/relay.log"
cp "$ROOT/tests/data/sample/mail.log" "$T/sample.log"

for f in relay sample; do
    # one worker: every engine gives the same bytes
    "$SMTPMON" scan --format json --top 64 --jobs 1 "$T/$f.log" | jq -S . > "$T/$f.ref.json" ||
        fail "scan $f"
    [ "$(jq '.matched' "$T/$f.ref.json")" -gt 0 ] || fail "nothing matched in $f"
    for opts in "--jobs 1 --no-jit" "--jobs 1 --no-scanners" "--jobs 1 --no-jit --no-scanners" \
        "" "--no-jit" "--jobs 2 --no-jit --no-scanners"; do
        # shellcheck disable=SC2086
        "$SMTPMON" scan --format json --top 64 $opts "$T/$f.log" | jq -S . > "$T/$f.cmp.json" ||
            fail "scan $opts $f"
        threads=1
        case $opts in "--jobs 1"*) threads=0 ;; esac
        same_counts "$T/$f.ref.json" "$T/$f.cmp.json" "$threads" ||
            { head -n 40 "$T/diff" >&2; fail "scan $opts differs on $f"; }
    done
done
echo "relay: $(jq '.lines' "$T/relay.ref.json") lines, $(jq '.matched' "$T/relay.ref.json") events, equal under every engine" >&2

# The relay log in 200 files (every tenth gzip-compressed, as a rotation set) gives the counts,
# samples and top lists of the one file: to the byte on one thread, and on several (the workers
# read whole files in turn and merge their counts) with the domains within the bound above.
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
    threads=1
    [ "$opts" = "--jobs 1" ] && threads=0
    same_counts "$T/joined.json" "$T/split.json" "$threads" ||
        { head -n 40 "$T/diff" >&2; fail "scan $opts of 200 files differs from the one file"; }
done
echo "200 files: equal to the one file with --jobs 1, --jobs 2 and the default" >&2

# The bound check itself fails on a count moved beyond it.
jq '.by.domain["gmail.com"] += 1000 | .by.domain.other -= 1000' "$T/joined.json" > "$T/moved.json"
! same_counts "$T/joined.json" "$T/moved.json" 1 || fail "a domain count 1000 off passed the bound"
