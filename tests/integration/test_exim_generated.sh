#!/bin/bash
# A generated Exim main log (tests/bench/gen-exim.c: receptions, deliveries, remote bounces and
# deferrals, retries until delivery or retry timeout, frozen bounce messages, ACL refusals,
# refused SMTP AUTH, lines without a reply) gives in 'scan --format json' exactly the counts the
# generator tallied while writing it: lines, matched, implied, and by class, reply, status,
# direction, outcome, reason and rule. Two seeds, with and without JIT, the second gzipped.
. "$(dirname "$0")/lib.sh"

GEN=$T/gen-exim
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" "$ROOT/tests/bench/gen-exim.c" ||
    fail "cannot build gen-exim"

pick='{lines, matched, implied, by: {class: .by.class, reply: .by.reply, status: .by.status,
       direction: .by.direction, outcome: .by.outcome, reason: .by.reason, rule: .by.rule}}'
for seed in 3 17; do
    "$GEN" 60000 "$seed" "$T/tally.$seed.json" > "$T/main.$seed.log" || fail "gen-exim $seed"
    log=$T/main.$seed.log
    if [ "$seed" = 17 ]; then
        gzip "$log" && log=$log.gz
    fi
    jq -S . "$T/tally.$seed.json" > "$T/want.$seed.json" || fail "tally $seed is not JSON"
    [ "$(jq '.matched' "$T/want.$seed.json")" -gt 10000 ] || fail "tally $seed: too few events"
    for opts in "" "--no-jit"; do
        # shellcheck disable=SC2086
        "$SMTPMON" scan --format json $opts "$log" > "$T/scan.json" 2> "$T/scan.err" ||
            fail "scan $opts seed $seed: $(cat "$T/scan.err")"
        [ "$(jq '.unmatched_with_code' "$T/scan.json")" = 0 ] ||
            fail "seed $seed: lines with an unmatched code: $(jq -c .unmatched_samples "$T/scan.json")"
        jq -S "$pick" "$T/scan.json" > "$T/got.json" || fail "scan output is not JSON"
        diff -u "$T/want.$seed.json" "$T/got.json" > "$T/diff" ||
            fail "seed $seed $opts: scan differs from the generator's tally: $(head -n 40 "$T/diff")"
    done
done
exit 0
