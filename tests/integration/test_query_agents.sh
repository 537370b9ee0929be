#!/bin/bash
# smtpmon query for an agent id without counts in Redis: says so on stderr, lists the agent ids
# that have counts (SCAN for P:{*}:c:total, or the fleet's seen hash for the dashboard user,
# who may not SCAN), prints nothing on stdout and exits 66 (EX_NOINPUT); the same for --fleet
# before any commit and for a prefix nobody writes under.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

AGENT_ID=mx1
start_redis
DASH="redis://smtpmon-dashboard:@127.0.0.1:$REDIS_PORT"
q() {
    "$SMTPMON" query --redis "$DASH" --password-file "$T/dash-password" "$@"
}

# Nothing committed yet: the fleet has no counts either.
q --fleet > "$T/q.out" 2> "$T/q.err"
rc=$?
[ "$rc" = 66 ] || fail "query --fleet on an empty Redis exited $rc, want 66"
grep -q "^smtpmon query: no fleet counts in Redis (no key smtpmon:{fleet}:c:total)" "$T/q.err" ||
    fail "no clear message for the fleet: $(cat "$T/q.err")"
grep -q "no agent has counts under prefix 'smtpmon'" "$T/q.err" ||
    fail "empty Redis: no 'no agent' message: $(cat "$T/q.err")"

LOG=$T/mail.log
append "$LOG" 0 300
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 20
stop_agent
# A second agent's totals, as another host would have written them.
rcli HSET 'smtpmon:{edge-2.example}:c:total' 'm|lines' 7 > /dev/null
rcli HSET 'smtpmon:{fleet}:seen' 'edge-2.example|mail' 1 > /dev/null
# One that never committed fleet totals: only a SCAN finds it.
rcli HSET 'smtpmon:{solo}:c:total' 'm|lines' 3 > /dev/null

q --agent mx9 --format json > "$T/q.out" 2> "$T/q.err"
rc=$?
[ "$rc" = 66 ] || fail "query of an unknown agent exited $rc, want 66"
[ ! -s "$T/q.out" ] || fail "query of an unknown agent printed counts: $(cat "$T/q.out")"
grep -q "^smtpmon query: agent 'mx9' has no counts in Redis (no key smtpmon:{mx9}:c:total)$" \
    "$T/q.err" || fail "no clear message: $(cat "$T/q.err")"
grep -q "^smtpmon query: agents with counts under prefix 'smtpmon': edge-2.example, mx1$" \
    "$T/q.err" || fail "the agents found are not listed: $(cat "$T/q.err")"

# A user that may SCAN (the default one here) finds every agent with totals.
env -u CREDENTIALS_DIRECTORY "$SMTPMON" query --redis "redis://127.0.0.1:$REDIS_PORT" \
    --agent mx9 > /dev/null 2> "$T/q.err"
[ $? = 66 ] || fail "query of an unknown agent (default user) did not exit 66"
grep -q "^smtpmon query: agents with counts under prefix 'smtpmon': edge-2.example, mx1, solo$" \
    "$T/q.err" || fail "SCAN: the agents found are not listed: $(cat "$T/q.err")"

# The agents found are the same with --since.
q --agent mx9 --since 1h > /dev/null 2> "$T/q.err"
[ $? = 66 ] || fail "query --since of an unknown agent did not exit 66"
grep -q "edge-2.example, mx1$" "$T/q.err" || fail "--since: agents not listed: $(cat "$T/q.err")"

# Another prefix: nobody writes there (the default user: the dashboard's may read smtpmon:*
# only, and is refused with 69).
q --agent mx1 --prefix 'other*' > /dev/null 2> "$T/q.err"
[ $? = 69 ] || fail "query under a prefix the ACL denies did not exit 69"
grep -q "NOPERM" "$T/q.err" || fail "no NOPERM: $(cat "$T/q.err")"
env -u CREDENTIALS_DIRECTORY "$SMTPMON" query --redis "redis://127.0.0.1:$REDIS_PORT" --agent mx1 \
    --prefix 'other*' \
    > /dev/null 2> "$T/q.err"
[ $? = 66 ] || fail "query under an empty prefix did not exit 66"
grep -q "no agent has counts under prefix 'other\*'" "$T/q.err" ||
    fail "empty prefix: $(cat "$T/q.err")"

# The agent that committed is read as before, exit 0, nothing on stderr.
q --agent mx1 --format json > "$T/q.out" 2> "$T/q.err" || fail "query of mx1 failed: $(cat "$T/q.err")"
[ "$(jq -r .lines "$T/q.out")" = 300 ] || fail "mx1: $(cat "$T/q.out")"
[ ! -s "$T/q.err" ] || fail "query of mx1 wrote to stderr: $(cat "$T/q.err")"

# Redis unreachable is another status: 69 (EX_UNAVAILABLE).
stop_redis
q --agent mx1 > /dev/null 2> "$T/q.err"
[ $? = 69 ] || fail "query with Redis down did not exit 69: $(cat "$T/q.err")"
exit 0
