#!/bin/sh
# Runs every tests/integration/test_*.sh against build/smtpmon; prints PASS, FAIL or SKIP per
# test and one summary line. Exit status: non-zero if any test failed.
# Environment: SMTPMON (binary), ONLY (a substring: run matching tests only), KEEP_TMP=1,
# JOBS (tests run at once, default 1). Each test has its own temporary directory and ports;
# a test whose file has a line '# serial' (it rewrites /etc/hosts, drives make run, or
# measures time and memory) runs alone, after the others.

# wait -n (bash) lets JOBS tests run at once.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

dir=$(cd "$(dirname "$0")" && pwd)
jobs=${JOBS:-1}
res=$(mktemp -d "${TMPDIR:-/tmp}/smtpmon-run.XXXXXX")
trap 'rm -rf "$res"' EXIT
pass=0
failed=0
skipped=0

# run_one NAME FILE: the test under a 120 s timeout, its output and status kept in $res.
run_one() {
    start=$(date +%s)
    timeout 120 bash "$2" > "$res/$1.out" 2>&1
    echo "$? $(( $(date +%s) - start ))" > "$res/$1.rc"
}

report() {
    read -r rc secs < "$res/$1.rc"
    out=$(cat "$res/$1.out")
    if [ "$rc" = 0 ]; then
        echo "PASS $1 (${secs}s)"
        pass=$((pass + 1))
    elif [ "$rc" = 77 ]; then
        echo "SKIP $1: $(printf '%s\n' "$out" | grep '^SKIP' | head -n 1 | sed 's/^SKIP: [^:]*: //')"
        skipped=$((skipped + 1))
    else
        echo "FAIL $1 (${secs}s, exit $rc)"
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
    rm -f "$res/$1.rc" "$res/$1.out"
}

# Reports the tests that have ended, in the order they were started.
drain() {
    keep=
    for n in $running; do
        if [ -f "$res/$n.rc" ]; then report "$n"; else keep="$keep $n"; fi
    done
    running=$keep
}

parallel=
serial=
for t in "$dir"/test_*.sh; do
    name=$(basename "$t" .sh)
    case "$name" in *"${ONLY:-}"*) ;; *) continue ;; esac
    if [ "$jobs" -gt 1 ] && grep -q '^# serial' "$t"; then
        serial="$serial $name"
    else
        parallel="$parallel $name"
    fi
done

running=
for name in $parallel; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
        drain
    done
    run_one "$name" "$dir/$name.sh" &
    running="$running $name"
    [ "$jobs" -gt 1 ] || { wait; drain; }
done
wait
drain
for name in $serial; do
    run_one "$name" "$dir/$name.sh"
    running=$name
    drain
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "integration: $pass passed, $failed failed"
[ "$failed" = 0 ]
