#!/bin/bash
# smtpmon top in a real terminal: tmux (send-keys, capture-pane) against a real Redis during a
# replay with a spike of outbound 5.7.1. The numbers on the screen equal `smtpmon query`
# (lines, classes, class.subjects, directions, direction x class.subject, then reasons and
# statuses), the screen follows the replay by itself, the spike's alert shows firing, keys
# switch the view (r, a, s, c) and q quits with exit 0. `--once` with TERM=dumb prints one
# plain-ASCII frame. The frames are saved under build/test-output/top/.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need tmux python3

OUT=$ROOT/build/test-output/top
mkdir -p "$OUT"
export TZ=UTC
start_redis
rcli ACL SETUSER smtpmon-serve on ">serve-pw-$$" resetkeys resetchannels -@all +ping +auth +hello \
    +select +scan +hget +hgetall +xrevrange '%R~smtpmon:*' | grep -q OK || fail "ACL serve user"
printf 'serve-pw-%s\n' "$$" > "$T/serve-password"
chmod 600 "$T/serve-password"
URL="redis://smtpmon-serve:@127.0.0.1:$REDIS_PORT"

awk -v minutes=390 -v spike_start=300 -v spike_end=320 -f "$ROOT/tests/data/alerts/gen.awk" > "$T/day.log"
LOG=$T/mail.log
awk '$1 < "2024-11-28T05:06"' "$T/day.log" > "$LOG"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 30 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" || fail "the log was not committed"

SOCK=$T/tmux.sock
tm() { tmux -S "$SOCK" "$@"; }
trap '_rc=$?; tm kill-server 2>/dev/null; (exit $_rc); _redis_cleanup' EXIT
tm -f /dev/null new-session -d -s top -x 150 -y 48 \
    "TERM=xterm-256color '$SMTPMON' top -f '$NO_CONF' --redis '$URL' --password-file '$T/serve-password' --fleet --interval 1 2> '$T/top.err'; echo \$? > '$T/top.rc'" ||
    fail "tmux did not start"
screen() { tm capture-pane -p -t top > "$T/screen.txt" 2> /dev/null; }

# compare QUERY.json SECTION:DIMENSION...: every row of these sections of the screen equals
# query's count, and the head line's lines too.
compare() {
    screen
    python3 - "$T/screen.txt" "$@" <<'PY'
import json, re, sys
screen = open(sys.argv[1]).read().splitlines()
q = json.load(open(sys.argv[2]))
bad = []
head = [l for l in screen if l.startswith("lines ")]
if not head or int(head[0].split()[1]) != q["lines"]:
    bad.append(f"lines: {head} != {q['lines']}")
for spec in sys.argv[3:]:
    title, dim = spec.split(":")
    rows, on = {}, False
    for l in screen:
        if l.startswith(title + " ") and "LAST MIN" in l:
            on = True
            continue
        if on and not l.startswith("  "):
            break
        if on and l.strip() != "(none)":
            m = re.match(r"  (\S+)\s+(\d+)\s+(\d+)\s*$", l)
            if not m:
                bad.append(f"{title}: cannot read {l!r}")
                continue
            rows[m.group(1)] = int(m.group(3))
    if not rows:
        bad.append(f"{title}: no rows")
    for k, v in rows.items():
        if q["by"][dim].get(k) != v:
            bad.append(f"{title} {k}: top {v} != query {q['by'][dim].get(k)}")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
query_json --fleet --top 64 > "$T/q1.json"
wait_for 15 "compare '$T/q1.json' CLASS:class CLASS.SUBJECT:subject DIRECTION:direction DIRECTION/CLASS.SUBJECT:direction_subject 2> '$T/cmp.err'" ||
    fail "top differs from query: $(cat "$T/cmp.err"; cat "$T/screen.txt"; cat "$T/top.err")"
grep -q "^FIRING: $AGENT_ID: outbound-5.7" "$T/screen.txt" || fail "the spike's alert: $(grep FIRING "$T/screen.txt")"
cp "$T/screen.txt" "$OUT/classes.txt"
echo "top = query: $(grep '^lines' "$T/screen.txt")"

# The replay goes on: the screen follows without a key.
awk '$1 >= "2024-11-28T05:06" && $1 < "2024-11-28T06:00"' "$T/day.log" >> "$LOG"
wait_for 30 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" || fail "the rest was not committed"
query_json --fleet --top 64 > "$T/q2.json"
[ "$(jq .lines "$T/q2.json")" -gt "$(jq .lines "$T/q1.json")" ] || fail "no new lines"
wait_for 15 "compare '$T/q2.json' CLASS:class CLASS.SUBJECT:subject DIRECTION:direction DIRECTION/CLASS.SUBJECT:direction_subject 2> '$T/cmp.err'" ||
    fail "top did not follow: $(cat "$T/cmp.err")"
echo "followed: $(grep '^lines' "$T/screen.txt")"

# r: reasons, statuses, domains.
tm send-keys -t top r
wait_for 10 "screen && grep -q '^REASON ' '$T/screen.txt'" || fail "r did not switch: $(cat "$T/screen.txt")"
wait_for 10 "compare '$T/q2.json' REASON:reason STATUS:status 2> '$T/cmp.err'" ||
    fail "reasons differ: $(cat "$T/cmp.err")"
grep -q '^CLASS ' "$T/screen.txt" && fail "r: the classes still shown"
cp "$T/screen.txt" "$OUT/reasons.txt"
# a: agents by failures; s: by lag.
tm send-keys -t top a
wait_for 10 "screen && grep -q '^AGENTS by failures' '$T/screen.txt'" || fail "a did not switch: $(cat "$T/screen.txt")"
want=$(query_json --agent="$AGENT_ID" | jq -r '[.lines, (.by.class["4"] // 0) + (.by.class["5"] // 0), .unmatched_with_code] | map(tostring) | join(" ")')
wait_for 10 "screen && grep -qE '^  $AGENT_ID +$(echo "$want" | sed 's/ / +/g') ' '$T/screen.txt'" ||
    fail "agent row: want $want: $(grep "$AGENT_ID" "$T/screen.txt")"
cp "$T/screen.txt" "$OUT/agents.txt"
tm send-keys -t top s
wait_for 10 "screen && grep -q '^AGENTS by lag' '$T/screen.txt'" || fail "s did not sort by lag"
tm send-keys -t top c
wait_for 10 "screen && grep -q '^CLASS ' '$T/screen.txt'" || fail "c did not switch back"
tm send-keys -t top q
wait_for 10 "[ -s '$T/top.rc' ]" || fail "q did not quit"
[ "$(cat "$T/top.rc")" = 0 ] || fail "top exited $(cat "$T/top.rc"): $(cat "$T/top.err")"
[ ! -s "$T/top.err" ] || fail "top wrote to stderr: $(cat "$T/top.err")"
echo "keys r a s c q: switched and quit with 0"

# --once with a dumb terminal: one plain ASCII frame.
TERM=dumb "$SMTPMON" top -f "$NO_CONF" --redis "$URL" --password-file "$T/serve-password" \
    --agent "$AGENT_ID" --once > "$T/once.txt" 2> "$T/once.err" || fail "--once exited $?: $(cat "$T/once.err")"
LC_ALL=C grep -q $'[\x1b\x80-\xff]' "$T/once.txt" && fail "--once is not plain ASCII"
grep -q "^lines $(query_json --agent="$AGENT_ID" | jq .lines) " "$T/once.txt" || fail "--once: $(head -5 "$T/once.txt")"
cp "$T/once.txt" "$OUT/once.txt"
"$SMTPMON" top -f "$NO_CONF" --redis "$URL" --password-file "$T/serve-password" --agent nobody \
    --once > /dev/null 2> "$T/nobody.err"
[ $? = 66 ] || fail "unknown agent: not 66"
"$SMTPMON" top -f "$NO_CONF" --redis "redis://127.0.0.1:$(free_port)" --once > /dev/null 2> "$T/down.err"
[ $? = 69 ] || fail "Redis down: not 69: $(cat "$T/down.err")"
grep -q '^smtpmon top: redis: ' "$T/down.err" || fail "no reason: $(cat "$T/down.err")"
"$SMTPMON" top --agent a --fleet > /dev/null 2>&1
[ $? = 64 ] || fail "--agent with --fleet: not 64"
"$SMTPMON" top --interval 0 > /dev/null 2>&1
[ $? = 64 ] || fail "--interval 0: not 64"
echo "frames: $OUT/"
exit 0
