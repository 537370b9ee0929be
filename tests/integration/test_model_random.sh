#!/bin/bash
# F1-F8 in combination: the model-based random test (tests/integration/model/driver.py) on a
# fixed set of seeds: random sequences of appends (with partial lines), rotations (logrotate
# create and copytruncate, rename, cp + truncate, several while the agent is down), gzip and
# deletion of old rotations, truncation in place, kill -9, SIGHUP and SIGTERM of the agent,
# kill -9 of Redis (append-only file) and Redis restarted empty, log time across minutes;
# after each: query == scan of every line written, less the admitted loss computed exactly.
# SEED=N (with OPS=M) replays one sequence; make soak runs new seeds for SECONDS.
. "$(dirname "$0")/lib.sh"
need python3 redis-server redis-cli

if [ -n "${SEED:-}" ]; then
    seeds="--seed $SEED"
else
    seeds=""
    for s in ${MODEL_SEEDS:-11 23 37 41 59 71}; do
        seeds="$seeds --seed $s"
    done
fi
# shellcheck disable=SC2086
python3 "$ROOT/tests/integration/model/driver.py" $seeds --ops "${OPS:-40}" >"$T/model.out" 2>&1
rc=$?
cat "$T/model.out" >&2
[ "$rc" = 77 ] && skip "$(head -n 1 "$T/model.out")"
[ "$rc" = 0 ] || fail "model-based random test failed (replay with the SEED printed above)"
exit 0
