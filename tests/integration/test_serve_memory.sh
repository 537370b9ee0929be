#!/bin/bash
# serve's memory for a scrape of many agents stays bounded: each agent's totals are cut down to
# the fields /metrics exports as soon as their reply is read, not once every agent's reply has
# been (a thousand agents' whole totals took 250 MB). tests/bench/serve-bench.sh with 400
# copies of one real agent (the top recipient domains of 60,000 relay lines in its totals): one
# scrape, serve's peak RSS under 40 MiB (the whole replies took about 100 MiB).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/integration/lib.sh"
need curl
need redis-server
case "$SMTPMON" in *asan*) skip "a sanitizer build's memory is not the binary's" ;; esac

out=$(SERVE_AGENTS=400 SERVE_SCRAPES=1 SERVE_LINES=60000 bash "$ROOT/tests/bench/serve-bench.sh" 2>&1) ||
    fail "serve-bench failed: $out"
row=$(printf '%s\n' "$out" | grep '^| 400 |') || fail "no row for 400 agents: $out"
hwm=$(printf '%s\n' "$row" | awk -F'|' '{ gsub(/[^0-9.]/, "", $6); print $6 }')
fields=$(printf '%s\n' "$out" | sed -n 's/.*after [0-9]* relay lines (\([0-9]*\) fields.*/\1/p')
[ -n "$hwm" ] || fail "no peak RSS in: $row"
[ "${fields:-0}" -ge 500 ] || fail "the seed agent's totals hold ${fields:-no} fields: too few to tell"
awk -v m="$hwm" 'BEGIN { exit !(m < 40) }' ||
    fail "serve's peak RSS for a scrape of 400 agents: $hwm MiB (bound 40 MiB): $row"
echo "serve scraped 400 agents ($fields fields each) in $hwm MiB peak RSS"
exit 0
