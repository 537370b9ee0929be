#!/bin/sh
# Runs every tests/integration/test_*.sh against build/smtpmon; prints PASS, FAIL or SKIP per
# test and one summary line. Exit status: non-zero if any test failed.
# Environment: SMTPMON (binary), ONLY (a substring: run matching tests only), KEEP_TMP=1.

dir=$(cd "$(dirname "$0")" && pwd)
pass=0
failed=0
skipped=0
for t in "$dir"/test_*.sh; do
    name=$(basename "$t" .sh)
    case "$name" in *"${ONLY:-}"*) ;; *) continue ;; esac
    start=$(date +%s)
    out=$(timeout 120 bash "$t" 2>&1)
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ "$rc" = 0 ]; then
        echo "PASS $name (${secs}s)"
        pass=$((pass + 1))
    elif [ "$rc" = 77 ]; then
        echo "SKIP $name: $(printf '%s\n' "$out" | grep '^SKIP' | head -n 1 | sed 's/^SKIP: [^:]*: //')"
        skipped=$((skipped + 1))
    else
        echo "FAIL $name (${secs}s, exit $rc)"
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "integration: $pass passed, $failed failed"
[ "$failed" = 0 ]
