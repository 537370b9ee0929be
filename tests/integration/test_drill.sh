#!/bin/bash
# The fault drill (tests/integration/model/drill.py): a writer appends 120,000 lines over 60 s
# while the agent is killed with SIGKILL 15 times, logrotate rotates 12 times (create and
# copytruncate) and Redis is killed with SIGKILL twice (append-only file); query must equal
# scan of every line written within two minutes of the last write. A new seed each run (printed;
# SEED=N replays its events, DRILL_ARGS adds options, e.g. "--lines 600000 --kills 60").
. "$(dirname "$0")/lib.sh"
need python3 redis-server redis-cli logrotate

# shellcheck disable=SC2086
python3 "$ROOT/tests/integration/model/drill.py" ${SEED:+--seed "$SEED"} ${DRILL_ARGS:-} \
    >"$T/drill.out" 2>&1
rc=$?
cat "$T/drill.out" >&2
[ "$rc" = 77 ] && skip "$(head -n 1 "$T/drill.out")"
[ "$rc" = 0 ] || fail "the fault drill failed (replay with the seed printed above)"
exit 0
