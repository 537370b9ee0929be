#!/bin/bash
# make test-fresh: the README's two commands, exactly as written, on a Debian 12 machine that has
# nothing but make. A minimal root built by mmdebstrap (tests/fresh/mkroot.sh, cached) gets a copy
# of 'git archive HEAD' in /root/smtpmon (a plain clone: no ../shared beside it) and runs, as root
# inside systemd-nspawn, with an empty apt cache:
#   1. 'make run' on a terminal (tmux on this side, the container's console on the other) until
#      the live query shows counts, then Ctrl-C: it must exit 0 and leave nothing behind;
#   2. 'make test': it must exit 0 and say that the corpus tests did not run.
# Prints how long each took. Needs root, mmdebstrap, systemd-nspawn (systemd-container), tmux,
# git, and the Debian archive. FRESH_KEEP=1 keeps the root for a look.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)

[ "$(id -u)" -eq 0 ] || { echo "test-fresh: needs root (mmdebstrap, systemd-nspawn)" >&2; exit 1; }
for c in mmdebstrap systemd-nspawn tmux git; do
    command -v "$c" > /dev/null || {
        echo "test-fresh: needs $c (apt-get install mmdebstrap systemd-container tmux git)" >&2
        exit 1
    }
done

tarball=$(bash tests/fresh/mkroot.sh)
work=$(mktemp -d /var/tmp/smtpmon-fresh.XXXXXX)
root=$work/root
sock=smtpmon-fresh-$$
cleanup() {
    tmux -L "$sock" kill-server 2> /dev/null || true
    if [ "${FRESH_KEEP:-0}" = 1 ]; then
        echo "test-fresh: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

mkdir -p "$root"
tar -x -f "$tarball" -C "$root"
# An empty apt cache: the first command must fetch the package lists itself.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
mkdir -p "$root/var/lib/apt/lists/partial" "$root/root/smtpmon"
git archive HEAD | tar -x -C "$root/root/smtpmon"
echo "== test-fresh: Debian 12 minbase root in $root, smtpmon at $(git rev-parse --short HEAD)"

nspawn=(systemd-nspawn -q -D "$root" --as-pid2 --register=no --keep-unit
    --chdir=/root/smtpmon -E TERM=xterm -E HOME=/root -E LANG=C.UTF-8)

# 0. Before anything is installed, a user without root: 'make' and 'make run' stop at once with
#    the packages to install and the command, not with a compiler or linker error.
"${nspawn[@]}" --pipe /bin/bash -c '
    set -e
    useradd -m stranger
    cp -r /root/smtpmon /home/stranger/smtpmon
    chown -R stranger: /home/stranger/smtpmon' < /dev/null
for target in all run; do
    rc=0
    "${nspawn[@]}" --pipe --chdir=/home/stranger/smtpmon --user=stranger /bin/bash -c \
        "make $target" < /dev/null > "$work/user-$target.log" 2>&1 || rc=$?
    if [ "$rc" = 0 ] || ! grep -q 'apt-get install -y.*libhiredis-dev' "$work/user-$target.log" ||
        grep -q 'undefined reference\|fatal error:' "$work/user-$target.log"; then
        echo "test-fresh: FAIL: 'make $target' as a user on a bare machine (exit $rc):" >&2
        cat "$work/user-$target.log" >&2
        exit 1
    fi
done
echo "== make and make run without root, before the packages: stopped with the apt-get command"
sed 's/^/   /' "$work/user-all.log"

# 1. make run, on a terminal, then Ctrl-C.
screen=$work/run.screen
: > "$screen"
t0=$(date +%s)
tmux -L "$sock" new-session -d -x 200 -y 60 \
    "sleep 0.5; ${nspawn[*]} /bin/bash -c 'make run; echo make-run-exit=\$?'; sleep 3600"
# cat, not a filter: its output reaches the file as it comes (tr would buffer 4 KiB).
tmux -L "$sock" pipe-pane -o "cat >> '$screen.raw'"
# The screen as text: the terminal's CR LF become LF.
snap() { tr -d '\r' < "$screen.raw" > "$screen"; }
shown=
for _ in $(seq 1 1800); do
    snap
    if grep -q '^lines *[1-9]' "$screen"; then
        shown=$(( $(date +%s) - t0 ))
        break
    fi
    if grep -q '^make-run-exit=' "$screen"; then
        break
    fi
    sleep 1
done
if [ -z "$shown" ]; then
    echo "test-fresh: FAIL: 'make run' showed no counts; its last output:" >&2
    tail -n 40 "$screen" >&2
    exit 1
fi
sleep 3
tmux -L "$sock" send-keys C-c
for _ in $(seq 1 60); do
    snap
    grep -q '^make-run-exit=' "$screen" && break
    sleep 0.5
done
rc=$(sed -n 's/^make-run-exit=//p' "$screen" | head -n 1)
stopped=$(( $(date +%s) - t0 - shown ))
echo "== make run: counts shown after ${shown} s (installing packages, building, starting Redis)"
grep '^== \|^lines ' "$screen" | tail -n 6 | sed 's/^/   /'
if [ "$rc" != 0 ]; then
    echo "test-fresh: FAIL: 'make run' exited '${rc:-(still running)}' after Ctrl-C:" >&2
    tail -n 20 "$screen" >&2
    exit 1
fi
left=$(ls -d "$root"/tmp/smtpmon-run.* 2> /dev/null || true)
if [ -n "$left" ]; then
    echo "test-fresh: FAIL: 'make run' left $left behind" >&2
    exit 1
fi
if grep -q 'stop timeout\|connection lost' "$screen"; then
    echo "test-fresh: FAIL: the agent did not stop cleanly:" >&2
    grep 'stop timeout\|connection lost' "$screen" >&2
    exit 1
fi
echo "== make run: Ctrl-C ended it with exit 0 in ${stopped} s, nothing left behind"

# 2. make test, in the same root (the packages make run installed stay, as on a user's machine).
t0=$(date +%s)
rc=0
"${nspawn[@]}" --pipe /bin/bash -c 'make test' < /dev/null > "$work/test.log" 2>&1 || rc=$?
took=$(( $(date +%s) - t0 ))
grep -E '^== |passed|failed|Synthesis|^FAIL|^SKIP' "$work/test.log" | sed 's/^/   /' | tail -n 60
if [ "$rc" != 0 ]; then
    echo "test-fresh: FAIL: 'make test' exited $rc after ${took} s; its last lines:" >&2
    tail -n 60 "$work/test.log" >&2
    exit 1
fi
if ! grep -q '^== corpus tests: not run' "$work/test.log"; then
    echo "test-fresh: FAIL: 'make test' on a plain clone did not say that the corpus tests did not run" >&2
    exit 1
fi
echo "== make test: passed in ${took} s"
echo "test-fresh: 2 passed, 0 failed (make run ${shown} s to counts; make test ${took} s)"
