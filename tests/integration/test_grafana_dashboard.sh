#!/bin/bash
# The Grafana dashboard (packaging/grafana/smtpmon-redis.json) against what real agents wrote.
# Two agents replay 80 minutes of log into a real redis-server, minute by minute: mx1 with an
# outbound 5.7.x burst over six minutes (and inbound 5.7.x, deferrals, auth failures, an
# unmatched line, an overlong line, an alert), mx2 quiet (deliveries, and eight outbound 5.7.x
# in three minutes). Every query of the dashboard (panels, template variables, the annotation)
# is run as redis-datasource 2.x sends it, after the substitution of the template variables,
# as the read-only user smtpmon-dashboard; its reply becomes the data frame the data source
# builds (XRANGE: $streamId, $time and one field per entry field, 0 where an entry lacks it)
# and the panel's transformations (filterFieldsByName, renameByRegex) run on it. For the busy
# agent and the fleet every key and field a query names must exist; for the quiet agent a
# missing one is accepted only where the panel shows 0 for no data
# (fieldConfig.defaults.noValue "0"). Then the series of "Outbound 5.7.x a minute" (agent
# mx1, agent All = the fleet, mx2, and the per-host panel) must equal, minute by minute, both
# `smtpmon scan` of that minute's lines and the difference of `smtpmon query --since` at that
# minute and the next.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need python3

DASH=$ROOT/packaging/grafana/smtpmon-redis.json
jq -e '.panels | length > 0' "$DASH" > /dev/null || fail "$DASH: not a dashboard"
AGENT_ID=mx1
start_redis
MINUTES=80
base=$(( $(date +%s) / 60 * 60 - (MINUTES + 10) * 60 ))
# gen HOST BURST: HOST's log, one file; BURST=1 adds mx1's incidents.
gen() {
    awk -v base="$base" -v host="$1" -v burst="$2" -v minutes="$MINUTES" 'BEGIN {
        split("4 18 33 27 12 6", b, " ")
        n = 0
        for (m = 0; m < minutes; m++) {
            t0 = base + 60 * m
            ts = strftime("%Y-%m-%dT%H:%M:%S+00:00", t0 + 5, 1)
            for (j = 0; j < 2 + m % 3; j++) {
                n++
                printf "%s %s postfix/smtp[%d]: %08X: to=<u%d@example.com>, relay=mx.example.com[198.18.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK %d)\n", ts, host, 100 + n, n, n, n
            }
            if (!burst) {
                # The quiet host: a few outbound 5.7.x of its own, so that the fleet is not mx1.
                k = m == 71 ? 2 : m == 74 ? 5 : m == 78 ? 1 : 0
                for (j = 0; j < k; j++) {
                    n++
                    printf "%s %s postfix/smtp[%d]: %08X: to=<q%d@outlook.com>, relay=outlook-com.olc.protection.outlook.com[192.0.2.40]:25, delay=1.1, delays=0.19/0.02/0.4/0.49, dsn=5.7.1, status=bounced (host outlook-com.olc.protection.outlook.com[192.0.2.40] said: 550 5.7.1 Unfortunately, messages from [198.51.100.25] were not sent. Please contact your Internet service provider since part of their network is on our block list (S3150). (in reply to MAIL FROM command))\n", strftime("%Y-%m-%dT%H:%M:%S+00:00", t0 + 7 + j, 1), host, 100 + n, n, n
                }
                continue
            }
            if (m % 7 == 3) {
                n++
                printf "%s %s postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[203.0.113.157]: 554 5.7.1 <v%d@example.biz>: Relay access denied; from=<a@promo.example> to=<v%d@example.biz> proto=ESMTP helo=<ylmf-pc>\n", ts, host, 100 + n, n, n
            }
            if (m % 11 == 5 || m == minutes - 1) {
                n++
                printf "%s %s postfix/smtp[%d]: %08X: to=<x%d@defunct.example>, relay=none, delay=300, delays=270/0.02/30/0, dsn=4.4.1, status=deferred (connect to mx.defunct.example[203.0.113.250]:25: Connection timed out)\n", ts, host, 100 + n, n, n
            }
            if (m % 9 == 4) {
                n++
                printf "%s %s postfix/smtpd[%d]: NOQUEUE: reject: RCPT from mail.spammy.example[203.0.113.110]: 450 4.7.1 <g%d@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html; from=<a@spammy.example> to=<g%d@example.net> proto=ESMTP helo=<mail.spammy.example>\n", ts, host, 100 + n, n, n
            }
            if (m % 13 == 2) {
                n++
                printf "%s %s postfix/submission/smtpd[%d]: warning: unknown[203.0.113.31]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=test@example.net\n", ts, host, 100 + n
            }
            if (m == 20) {
                printf "%s %s postfix/smtpd[4242]: NOQUEUE: something new: 554 5.7.9 Unheard-of policy reply\n", ts, host
                printf "%s %s postfix/smtp[4243]: ", ts, host
                for (k = 0; k < 500; k++) printf "xxxxxxxxxx"
                printf "\n"
            }
            if (m == minutes - 1) {
                n++
                printf "%s %s postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[203.0.113.157]: 554 5.7.1 <v%d@example.biz>: Relay access denied; from=<a@promo.example> to=<v%d@example.biz> proto=ESMTP helo=<ylmf-pc>\n", ts, host, 100 + n, n, n
            }
            if (m >= 70 && m < 76)
                for (j = 0; j < b[m - 69]; j++) {
                    n++
                    printf "%s %s postfix/smtp[%d]: %08X: to=<j%d@outlook.com>, relay=outlook-com.olc.protection.outlook.com[192.0.2.40]:25, delay=1.1, delays=0.19/0.02/0.4/0.49, dsn=5.7.1, status=bounced (host outlook-com.olc.protection.outlook.com[192.0.2.40] said: 550 5.7.1 Unfortunately, messages from [198.51.100.25] were not sent. Please contact your Internet service provider since part of their network is on our block list (S3150). (in reply to MAIL FROM command))\n", strftime("%Y-%m-%dT%H:%M:%S+00:00", t0 + 6 + j, 1), host, 100 + n, n, n
                }
        }
    }'
}
gen mx1 1 > "$T/mx1.gen"
gen mx2 0 > "$T/mx2.gen"
[ "$(grep -c 'dsn=5.7.1' "$T/mx1.gen")" = 100 ] || fail "the generated burst is not 100 lines"
[ "$(grep -c 'dsn=5.7.1' "$T/mx2.gen")" = 8 ] || fail "the quiet host's 5.7.x are not 8 lines"

write_rconf "$T/mx1.conf" "$REDIS_PORT" "batch_lines = 100000" "max_line = 4K" \
    "[source mail]" "path = $T/mx1.log" \
    "[alert burst]" "direction = outbound" "status = 5.7.*" "min_count = 10" "factor = 0" "window = 5m"
sed -i 's/^flush_interval = .*/flush_interval = 100ms/' "$T/mx1.conf"
# mx2 commits as its own per-host user of the shipped ACL.
# shellcheck disable=SC2046
rcli ACL SETUSER smtpmon-mx2 $(host_acl mx2) | grep -q OK || fail "ACL SETUSER smtpmon-mx2"
write_conf "$T/mx2.conf" "[redis]" "url = redis://smtpmon-mx2:@127.0.0.1:$REDIS_PORT" "timeout = 1s" \
    "[agent]" "agent_id = mx2" "batch_lines = 100000" "[source mail]" "path = $T/mx2.log"
sed -i "s|^state_dir = .*|state_dir = $T/state2|; /^output = /d; s/^flush_interval = .*/flush_interval = 100ms/" "$T/mx2.conf"
start_agent -f "$T/mx1.conf"
MX1_PID=$AGENT_PID
start_agent -f "$T/mx2.conf"
MX2_PID=$AGENT_PID
AGENT_PID=$MX1_PID
# The test's exit status goes through to _redis_cleanup, which reads it from $?.
trap '_st=$?; kill -9 "$MX2_PID" 2>/dev/null; (exit "$_st"); _redis_cleanup' EXIT
# Minute by minute, both hosts in step, as in live operation: the {fleet} stream closes a
# minute when any agent commits a later one, so a line that reaches the fleet after that is in
# the fleet's minute hash but not in its stream entry (README, the per-minute streams).
: > "$T/mx1.log"
: > "$T/mx2.log"
for m in $(seq 0 $((MINUTES - 1))); do
    pre=$(date -u -d "@$((base + 60 * m))" +%Y-%m-%dT%H:%M)
    grep -h "^$pre" "$T/mx1.gen" >> "$T/mx1.log"
    grep -h "^$pre" "$T/mx2.gen" >> "$T/mx2.log"
    for a in mx1 mx2; do
        size=$(stat -c %s "$T/$a.log")
        wait_for 20 "[ \"\$(rcli HGET 'smtpmon:{$a}:cursor:mail' offset)\" = $size ]" ||
            fail "$a committed $(rcli HGET "smtpmon:{$a}:cursor:mail" offset) of $size bytes"
    done
    nlines=$(( $(query_lines --agent=mx1) + $(query_lines --agent=mx2) ))
    wait_for 20 "[ \"\$(query_lines --fleet)\" = $nlines ]" ||
        fail "the fleet holds $(query_lines --fleet) of $nlines lines"
done
cmp -s "$T/mx1.gen" "$T/mx1.log" && cmp -s "$T/mx2.gen" "$T/mx2.log" || fail "the logs were not written whole"
stop_agent
AGENT_PID=$MX2_PID
stop_agent
cat "$T/mx1.gen" > "$T/written.log"
assert_query_is_scan() { :; }
[ "$(rcli XLEN 'smtpmon:{mx1}:alerts')" -ge 1 ] || fail "mx1 raised no alert in the burst"

# The data source's side, in Python: variables, frames, transformations, checks.
python3 - "$DASH" "$REDIS_PORT" "$DASH_PW" "$base" "$(( $(date +%s) + 60 ))" > "$T/dash.out" 2> "$T/dash.err" << 'PY'
import json, re, shlex, subprocess, sys
dash_file, port, pw, base, now = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
dash = json.load(open(dash_file))
# The time range of the dashboard: from the replay's first minute to now (alert ids are wall-clock).
FROM, TO = base * 1000, now * 1000
errors = []

def redis(*args):
    """One command as the read-only dashboard user, RESP2 as the data source reads it."""
    r = subprocess.run(["redis-cli", "-2", "--json", "-p", port, "--user", "smtpmon-dashboard",
                        "--pass", pw, "--no-auth-warning"] + [str(a) for a in args],
                       capture_output=True, text=True)
    if r.returncode != 0 or r.stdout.startswith('"ERR') or r.stdout.startswith('"NOPERM'):
        raise RuntimeError(f"{' '.join(map(str, args))}: {r.stdout.strip()} {r.stderr.strip()}")
    return json.loads(r.stdout)

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def frame_range(reply):
    """pkg/redis-stream.go createFrameFromRangeResponse: $streamId, $time, one field per name,
    0 (or "") where an entry lacks it; the type is that of the field's first value."""
    f = {"$streamId": [], "$time": []}
    for eid, kv in reply:
        f["$streamId"].append(eid)
        f["$time"].append(int(eid.split("-")[0]))
        seen = set()
        for i in range(0, len(kv), 2):
            k, v = kv[i], kv[i + 1]
            if k not in f:
                f[k] = [0.0 if num(v) is not None else ""] * (len(f["$streamId"]) - 1)
            f[k].append(num(v) if isinstance(f[k][0] if f[k] else 0.0, float) and num(v) is not None else v)
            seen.add(k)
        for k in f:
            if k not in seen and k not in ("$streamId", "$time"):
                f[k].append(0.0 if (f[k] and isinstance(f[k][0], float)) else "")
    return f

def run(t, scope):
    """The command redis-datasource sends for target t (pkg/query.go), and its frame."""
    sub = lambda s: re.sub(r"\$(\w+)", lambda m: scope.get(m.group(1), m.group(0)), s or "")
    key = sub(t.get("keyName"))
    if t.get("query"):
        q = shlex.split(sub(t["query"]))
        r = redis(*q)
        return " ".join(q), q[1] if len(q) > 1 else "", {"value": r if isinstance(r, list) else [r]}
    c = t["command"]
    if c in ("xrange", "xrevrange"):
        start = t.get("start") or f"{FROM}-0"
        end = t.get("end") or f"{TO}-0"
        args = [key, start, end] if c == "xrange" else [key, end, start]
        if t.get("count"):
            args += ["COUNT", t["count"]]
        return f"{c.upper()} {' '.join(map(str, args))}", key, frame_range(redis(c.upper(), *args))
    if c == "hgetall":
        r = redis("HGETALL", key)
        return f"HGETALL {key}", key, {r[i]: [num(r[i + 1]) if num(r[i + 1]) is not None else r[i + 1]] for i in range(0, len(r), 2)}
    if c == "hget":
        return f"HGET {key} {sub(t['field'])}", key, {sub(t["field"]): [redis("HGET", key, sub(t["field"]))]}
    raise RuntimeError(f"command {c} not modelled")

def transform(p, f):
    names, pats = [], []
    for tr in p.get("transformations", []):
        if tr["id"] == "filterFieldsByName":
            inc = tr["options"]["include"]
            names += inc.get("names", [])
            if inc.get("pattern"):
                pats.append(inc["pattern"])
            f = {k: v for k, v in f.items()
                 if k in inc.get("names", []) or (inc.get("pattern") and re.search(inc["pattern"], k))}
        elif tr["id"] == "renameByRegex":
            rx = tr["options"]["regex"]
            f = {re.sub(rx, tr["options"]["renamePattern"].replace("$1", r"\1"), k) if re.search(rx, k) else k: v
                 for k, v in f.items()}
    return names, pats, f

KEYTYPE = {"xrange": "stream", "xrevrange": "stream", "hgetall": "hash", "hget": "hash"}

# Variables.
scope0 = {"prefix": next(v["query"] for v in dash["templating"]["list"] if v["name"] == "prefix")}
agents = []
for v in dash["templating"]["list"]:
    if v["type"] != "query":
        continue
    q = re.sub(r"\$prefix", scope0["prefix"], v["query"])
    if "$agent" in q:
        continue
    vals = redis(*shlex.split(q))
    rx = v.get("regex", "").strip("/")
    got = sorted({re.search(rx, x).group(1) for x in vals if re.search(rx, x)}) if rx else vals
    if got != ["mx1", "mx2"]:
        errors.append(f"variable {v['name']}: {q} gives {got}, want mx1, mx2")
checked = 0
series = {}
for agent, host, busy in (("mx1", "mx1", True), ("fleet", "mx1", True), ("mx2", "mx2", False)):
    scope = dict(scope0, agent=agent, host=host)
    omv = next(v for v in dash["templating"]["list"] if v["name"] == "om")
    scope["om"] = str(redis(*shlex.split(re.sub(r"\$(\w+)", lambda m: scope[m.group(1)], omv["query"]))))
    if not scope["om"].isdigit():
        errors.append(f"variable om for {agent}: {scope['om']}")
    targets = [(p, t) for p in dash["panels"] for t in p.get("targets", [])]
    # Alerts are per agent: with agent All (the fleet) the annotation has no stream to read.
    targets += [({"title": "annotation " + a["name"], "per_agent": True, "fieldConfig": {"defaults": {"noValue": "0"}},
                  "transformations": [{"id": "filterFieldsByName", "options": {"include": {
                      "names": [m["value"] for m in a["mappings"].values()]}}}]}, a["target"])
                for a in dash["annotations"]["list"] if "target" in a]
    for p, t in targets:
        what = f"panel '{p['title']}' ({agent})"
        zero_ok = (not busy or (agent == "fleet" and p.get("per_agent"))) and \
            p.get("fieldConfig", {}).get("defaults", {}).get("noValue") == "0"
        try:
            cmd, key, f = run(t, scope)
        except RuntimeError as e:
            errors.append(f"{what}: {e}")
            continue
        checked += 1
        ktype = redis("TYPE", key)
        if ktype != KEYTYPE[t["command"]]:
            if not (ktype == "none" and zero_ok):
                errors.append(f"{what}: {cmd}: {key} is {ktype}, the query needs a {KEYTYPE[t['command']]}")
            continue
        names, pats, out = transform(p, f)
        for n in names:
            if n not in f and n not in ("$time",) and not zero_ok:
                errors.append(f"{what}: {cmd}: no field {n}")
        for pat in pats:
            if not any(re.search(pat, k) for k in f if k not in ("$time", "$streamId")) and not zero_ok:
                errors.append(f"{what}: {cmd}: no field matches /{pat}/")
        values = [k for k in out if k not in ("$time", "$streamId")]
        if not values and p.get("type") != "table" and not zero_ok:
            errors.append(f"{what}: {cmd}: no data left after the transformations")
        if not values and p.get("fieldConfig", {}).get("defaults", {}).get("noValue") != "0" and p.get("type") != "row":
            errors.append(f"{what}: {cmd}: shows 'No data', not 0 (no fieldConfig.defaults.noValue)")
        if "ds|outbound|5.7" in names and "$time" in f:
            col = f.get("ds|outbound|5.7", [0.0] * len(f["$time"]))
            series[f"{p['title']} (agent={agent}) {key}"] = {str(ts // 1000): int(v) for ts, v in zip(f["$time"], col)}
print(json.dumps({"checked": checked, "errors": errors, "series": series}))
PY
[ -s "$T/dash.out" ] || fail "the dashboard check failed: $(tail -n 5 "$T/dash.err")"
errs=$(jq -r '.errors[]' "$T/dash.out")
[ -z "$errs" ] || fail "dashboard queries:
$errs"
checked=$(jq .checked "$T/dash.out")
[ "$checked" -ge 40 ] || fail "only $checked queries checked"
nseries=$(jq '.series | length' "$T/dash.out")
[ "$nseries" = 6 ] || fail "expected 6 outbound 5.7.x series (2 panels x 3 agents), found $nseries: $(jq -c '.series | keys' "$T/dash.out")"

# The oracles, minute by minute: scan of the minute's lines, and query --since M minus --since M+60.
# Each oracle must give a number: a command that failed (empty output) would otherwise compare
# equal to another that failed.
ds57() {
    _v=$(jq '.by.direction_subject["outbound/5.7"] // 0')
    case "$_v" in '' | *[!0-9]*) return 1 ;; esac
    echo "$_v"
}
q57() {
    query_json "$1" --since "$2" 2>"$T/q57.err" | ds57 ||
        fail "query $1 --since $2 gave no count: $(head -c 300 "$T/q57.err")"
}
s57() {
    "$SMTPMON" scan --top 64 --format json "$1" 2>"$T/s57.err" | ds57 ||
        fail "scan $1 gave no count: $(head -c 300 "$T/s57.err")"
}
: > "$T/expect.txt"
for m in $(seq 0 $((MINUTES - 1))); do
    t0=$((base + 60 * m))
    pre=$(date -u -d "@$t0" +%Y-%m-%dT%H:%M)
    grep -h "^$pre" "$T/mx1.gen" > "$T/m1.log"
    grep -h "^$pre" "$T/mx1.gen" "$T/mx2.gen" > "$T/mf.log"
    [ -s "$T/m1.log" ] || fail "no line of minute $pre in mx1's log"
    s1=$(s57 "$T/m1.log") || exit 1
    sf=$(s57 "$T/mf.log") || exit 1
    a=$(q57 --agent=mx1 "$t0") && b=$(q57 --agent=mx1 $((t0 + 60))) || exit 1
    q1=$((a - b))
    a=$(q57 --fleet "$t0") && b=$(q57 --fleet $((t0 + 60))) || exit 1
    qf=$((a - b))
    a=$(q57 --agent=mx2 "$t0") && b=$(q57 --agent=mx2 $((t0 + 60))) || exit 1
    q2=$((a - b))
    [ "$s1" = "$q1" ] || fail "minute $t0: scan $s1, query --since $q1 (mx1)"
    [ "$sf" = "$qf" ] || fail "minute $t0: scan $sf, query --since $qf (fleet)"
    echo "$t0 $s1 $sf $q2" >> "$T/expect.txt"
done
[ "$(awk '{ s += $2 } END { print s }' "$T/expect.txt")" = 100 ] || fail "scan counts $(awk '{ s += $2 } END { print s }' "$T/expect.txt") of the 100 burst lines"
[ "$(awk '{ s += $3 } END { print s }' "$T/expect.txt")" = 108 ] || fail "scan counts $(awk '{ s += $3 } END { print s }' "$T/expect.txt") of the fleet's 108 lines"
# The last minute is still open: in the minute hashes, not yet in the stream.
last=$((base + 60 * (MINUTES - 1)))
while read -r title; do
    # The expected column is that of the key the query read (the per-host panel reads $host).
    case $title in
    *"{mx1}:ts") col=2 ;;
    *"{fleet}:ts") col=3 ;;
    *"{mx2}:ts") col=4 ;;
    *) fail "series '$title': which agent's key?" ;;
    esac
    jq -r --arg t "$title" '.series[$t] | to_entries[] | "\(.key) \(.value)"' "$T/dash.out" | sort > "$T/got.txt"
    awk -v c="$col" -v last="$last" '$1 != last { print $1, $c }' "$T/expect.txt" | sort > "$T/want.txt"
    diff "$T/want.txt" "$T/got.txt" > "$T/diff.txt" ||
        fail "'$title': the dashboard's per-minute series differs from scan and query --since (want, got):
$(head -n 20 "$T/diff.txt")"
done < <(jq -r '.series | keys[]' "$T/dash.out")
burst=$(awk '$2 > 0 { printf "%s%d", (n++ ? " " : ""), $2 }' "$T/expect.txt")
echo "PASS: $checked dashboard queries name keys and fields the agents wrote (quiet host: 0, not No data); outbound 5.7.x a minute ($burst) equals scan and query --since for mx1, mx2 and the fleet"
exit 0
