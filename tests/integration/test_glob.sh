#!/bin/bash
# A source whose path is a glob: every match is followed with its own cursor, a file that
# starts matching later is read from 0, rotated names (x.log.1, x.log.2.gz) are not matched.
. "$(dirname "$0")/lib.sh"

mkdir "$T/logs"
append "$T/logs/a.log" 0 300
append "$T/logs/b.log" 300 200
gen 9000 50 > "$T/logs/a.log.1"         # not counted: a rotated name
write_conf "$T/smtpmon.conf" "[source mta]" "path = $T/logs/*.log"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
append "$T/logs/c.log" 500 100          # found by the rescan (1 s)
wait_exact 10
append "$T/logs/a.log" 600 50
wait_exact 10
[ "$(jq -s '[.[].source] | unique | length' "$T/out.jsonl")" = 3 ] || fail "not 3 streams"
stop_agent
ls "$T/state"/mta-*.cursor > /dev/null || fail "no per-file cursors"
exit 0
