#!/bin/bash
# The sample outputs in README.md are what the commands really print on the shipped sample
# (tests/readme/examples.py; 'make readme' rewrites them after a deliberate change).
. "$(dirname "$0")/lib.sh"
need python3
cd "$ROOT" || fail "no project root"
SMTPMON=$SMTPMON python3 tests/readme/examples.py README.md ||
    fail "README.md shows output that the commands no longer print (make readme updates it)"
