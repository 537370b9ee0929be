#!/bin/bash
# packaging/prometheus/smtpmon-rules.yml: promtool checks it and runs its unit tests
# (tests/data/prometheus/smtpmon-rules.test.yml: spikes fire once per agent and rule; steady
# counts, a high steady count, a new agent in its warm-up and the fleet-wide series do not).
. "$(dirname "$0")/lib.sh"
need promtool

promtool check rules "$ROOT/packaging/prometheus/smtpmon-rules.yml" > "$T/check.out" 2>&1 ||
    fail "promtool check rules: $(cat "$T/check.out")"
grep -q 'SUCCESS: 11 rules found' "$T/check.out" || fail "expected 11 rules: $(cat "$T/check.out")"
(cd "$ROOT/tests/data/prometheus" && promtool test rules smtpmon-rules.test.yml) > "$T/test.out" 2>&1 ||
    fail "promtool test rules: $(head -40 "$T/test.out")"
exit 0
