#!/bin/sh
# One line saying whether the tests on the real-log corpus will run. With REQUIRE_CORPUS=1 (CI),
# a missing corpus is an error.
corpus=${SMTPMON_CORPUS:-../shared/corpus}
if [ -d "$corpus" ]; then
    echo "== corpus tests: run on $corpus"
    exit 0
fi
if [ "${REQUIRE_CORPUS:-0}" = 1 ]; then
    echo "== corpus tests: REQUIRED but no corpus at $corpus" >&2
    exit 1
fi
echo "== corpus tests: not run (no corpus at $corpus; set SMTPMON_CORPUS=DIR to run them)"
