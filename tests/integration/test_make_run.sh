#!/bin/bash
# serial: drives make run (tmux, a Redis of its own)
# 'make run' as a user runs it, on a terminal (tmux): the live query shows counts, then Ctrl-C.
# The terminal's SIGINT must stop everything in order: the agent gets SIGTERM and ends without
# waiting for its stop timeout, the private redis-server stops after it (so the agent never sees
# the connection drop), the temporary directory is removed, and make exits 0.
. "$(dirname "$0")/lib.sh"
need tmux make redis-server

sock=smtpmon-it-$$
tm() { tmux -L "$sock" "$@"; }
trap 'tm kill-server 2>/dev/null; cleanup' EXIT

# SMTPMON is not passed on: 'make run' builds and runs build/smtpmon itself.
# The output stays on the terminal (run.sh behaves differently without one); pipe-pane copies it.
tm new-session -d -x 200 -y 60 \
    "sleep 0.5; cd '$ROOT' && EVERY=1 DELAY=0.01 make --no-print-directory run; \
     echo \$? > '$T/exit'; sleep 600"
tm pipe-pane -o "cat >> '$T/screen.raw'"
# The screen as text (CR LF become LF); cat above, as a filter there would buffer.
snap() { tr -d '\r' < "$T/screen.raw" > "$T/screen"; }
wait_for 90 "snap; grep -q '^lines *[1-9]' '$T/screen'" || { cat "$T/screen" >&2; fail "no counts shown"; }
tmpdir=$(sed -n 's/.*(data in \(.*\))$/\1/p' "$T/screen" | head -n 1)
port=$(sed -n 's/.*redis-server on 127.0.0.1:\([0-9]*\) .*/\1/p' "$T/screen" | head -n 1)
[ -n "$tmpdir" ] && [ -d "$tmpdir" ] || fail "no temporary directory named in the output"
[ -n "$port" ] || fail "no Redis port named in the output"

tm send-keys C-c
wait_for 30 "[ -s '$T/exit' ]" || { snap; tail -n 20 "$T/screen" >&2; fail "make run did not end on Ctrl-C"; }
sleep 0.2
snap
tail -n 8 "$T/screen"
[ "$(cat "$T/exit")" = 0 ] || fail "make run exited $(cat "$T/exit") on Ctrl-C"
grep -q 'agent stopped (exit status 0)' "$T/screen" || fail "the agent did not exit 0"
grep -q 'agent: stopped' "$T/screen" || fail "the agent did not log its stop"
if grep -q 'stop timeout\|connection lost\|cannot save' "$T/screen"; then
    fail "the agent did not stop cleanly: $(grep 'stop timeout\|connection lost\|cannot save' "$T/screen")"
fi
grep -q 'private redis-server stopped' "$T/screen" || fail "redis-server not stopped"
[ ! -e "$tmpdir" ] || fail "$tmpdir left behind"
if redis-cli -p "$port" ping > /dev/null 2>&1; then
    fail "redis-server still answers on port $port"
fi
if pgrep -f "smtpmon --follow $tmpdir" > /dev/null; then
    fail "the agent is still running"
fi
echo "make run: counts shown, Ctrl-C ended it with exit 0 and nothing left behind"
