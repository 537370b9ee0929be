#!/bin/bash
# The live page of `smtpmon serve` in a real browser: Debian's chromium, headless, driven by
# chromedriver's WebDriver HTTP API (curl and jq, no extra package). An agent replays a day of
# a relay with a spike of outbound 5.7.1 bounces into a real Redis; the page, as loaded once:
#   - shows the fleet's and the agent's numbers equal to `smtpmon query` (read from the DOM by
#     element ids and data attributes), the spike's alert firing with its cause, and, after
#     more of the log is replayed, the new numbers and the recovery without being reloaded;
#   - shows log lines carrying <script>, <img onerror=...> and "onmouseover= as text, and
#     nothing of them runs (the title, a body attribute and the DOM are checked);
#   - sends its Content-Security-Policy, nosniff and content types;
#   - fits a phone's width (no horizontal scrolling at 390 px).
# Screenshots (PNG) are saved under build/test-output/serve_browser/ and their paths printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need curl python3
command -v chromium > /dev/null 2>&1 || skip "needs chromium (apt-get install chromium chromium-driver)"
command -v chromedriver > /dev/null 2>&1 || skip "needs chromedriver (apt-get install chromium-driver)"

OUT=$ROOT/build/test-output/serve_browser
mkdir -p "$OUT"
export TZ=UTC

start_redis
# serve's read-only user: the keys it reads, SCAN to find the agents, XREVRANGE for the
# per-minute and alert streams.
rcli ACL SETUSER smtpmon-serve on ">serve-pw-$$" resetkeys resetchannels -@all +ping +auth +hello \
    +select +scan +hget +hgetall +xrevrange '%R~smtpmon:*' | grep -q OK || fail "ACL serve user"
printf 'serve-pw-%s\n' "$$" > "$T/serve-password"
chmod 600 "$T/serve-password"

# A day of a relay with a spike of outbound 5.7.1 from 05:00 to 05:20, and three lines whose
# attacker-controlled parts carry markup, at 05:10 (no pattern matches them: they are
# unmatched lines with a code, shown with their samples).
awk -v minutes=420 -v spike_start=300 -v spike_end=320 -f "$ROOT/tests/data/alerts/gen.awk" \
    > "$T/day.log"
cat > "$T/xss.log" <<'EOF'
2024-11-28T05:10:00.000000+00:00 mx1 postfix/smtp[22613]: 1009AB: to=<u1@x"onmouseover=document.body.setAttribute('data-pwned','2')<script>.example>, relay=mx.evil.example[203.0.113.5]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.7.1, status=bounced (host mx.evil.example[203.0.113.5] said: 550 5.7.1 <script>document.title='pwned'</script> "onmouseover=document.body.setAttribute('data-pwned','1') (in reply to end of DATA command))
2024-11-28T05:10:00.000100+00:00 mx1 weirdd[1]: 550 5.7.1 <img src=x onerror="document.body.setAttribute('data-pwned','3')"> "onmouseover=x <script>window.pwned=1;document.title='pwned'</script>
EOF
LOG=$T/mail.log
{ awk '$1 < "2024-11-28T05:10"' "$T/day.log"; cat "$T/xss.log"; awk '$1 >= "2024-11-28T05:10" && $1 < "2024-11-28T05:14"' "$T/day.log"; } > "$LOG"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
start_agent -f "$T/smtpmon.conf"
wait_for 30 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" || fail "the log was not committed"

SERVE_PORT=$(free_port)
"$SMTPMON" serve -f "$NO_CONF" --listen "127.0.0.1:$SERVE_PORT" \
    --redis "redis://smtpmon-serve:@127.0.0.1:$REDIS_PORT" --password-file "$T/serve-password" \
    2> "$T/serve.err" &
SERVE_PID=$!
B=http://127.0.0.1:$SERVE_PORT
WD_PORT=$(free_port)
chromedriver --port="$WD_PORT" > "$T/chromedriver.log" 2>&1 &
WD_PID=$!
SID=
trap '_rc=$?; [ -n "$SID" ] && curl -s -X DELETE "$WD/session/$SID" > /dev/null; kill "$SERVE_PID" "$WD_PID" 2>/dev/null; (exit $_rc); _redis_cleanup' EXIT
WD=http://127.0.0.1:$WD_PORT
wait_for 10 "curl -sf -o /dev/null $B/api/summary || ! kill -0 $SERVE_PID" || fail "serve did not answer"
kill -0 "$SERVE_PID" || fail "serve exited: $(cat "$T/serve.err")"
wait_for 20 "curl -sf -o /dev/null $WD/status" || fail "chromedriver did not start: $(tail -5 "$T/chromedriver.log")"

# Headers: the CSP (no inline script, nothing from elsewhere), nosniff, the content types.
for p in / /app.js /style.css /api/summary "/agent/$AGENT_ID"; do
    curl -s -D "$T/h" -o /dev/null "$B$p"
    grep -qi "^content-security-policy: default-src 'self'; script-src 'self';" "$T/h" ||
        fail "$p: no CSP: $(cat "$T/h")"
    grep -qi '^x-content-type-options: nosniff' "$T/h" || fail "$p: no nosniff"
    case $p in
    /app.js) want='text/javascript' ;; /style.css) want='text/css' ;;
    /api/*) want='application/json' ;; *) want='text/html' ;;
    esac
    grep -qi "^content-type: $want" "$T/h" || fail "$p: content type: $(grep -i content-type "$T/h")"
done
curl -sf "$B/" | grep -qi '<script>\|onload=\|onclick=\|style=' && fail "inline script or style in the page"

# WebDriver: wd METHOD PATH [JSON]; js SCRIPT (its return value as JSON).
wd() {
    curl -sf -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$WD/session/$SID$2"
}
js() {
    wd POST /execute/sync "$(jq -cn --arg s "$1" '{script: $s, args: []}')" | jq -c .value
}
SID=$(curl -sf -X POST -H 'Content-Type: application/json' "$WD/session" --data '{"capabilities":
    {"alwaysMatch": {"browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"},
     "goog:chromeOptions": {"binary": "/usr/bin/chromium",
     "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,2600"]}}}}' | jq -r .value.sessionId)
[ -n "$SID" ] && [ "$SID" != null ] || fail "no WebDriver session: $(tail -5 "$T/chromedriver.log")"
wd POST /url "{\"url\": \"$B/\"}" > /dev/null || fail "cannot load $B/"
loads() { js 'return Number(document.body.getAttribute("data-loaded") || 0)'; }
wait_for 20 "[ \"\$(loads)\" -ge 1 ]" || fail "the page did not load its data: $(js 'return document.getElementById("status").textContent')"

# What the page shows, read from the DOM.
READ='
function kv(id) { var o = {}; document.querySelectorAll("#" + id + " tr[data-key]").forEach(function (r) {
  o[r.getAttribute("data-key")] = Number(r.getAttribute("data-count")); }); return o; }
var k = {}; document.querySelectorAll(".kpi .v").forEach(function (e) {
  k[e.id.slice(4)] = Number(e.getAttribute("data-value")); });
var agents = {}; document.querySelectorAll("#agents tr[data-agent]").forEach(function (r) {
  var c = r.querySelectorAll("td"); agents[r.getAttribute("data-agent")] = {lines: Number(c[1].getAttribute("data-value")),
  unmatched: Number(c[2].getAttribute("data-value")), out57: Number(c[3].getAttribute("data-value"))}; });
var firing = []; document.querySelectorAll("#alerts-firing li[data-rule]").forEach(function (l) {
  firing.push({agent: l.getAttribute("data-agent"), rule: l.getAttribute("data-rule"), text: l.textContent}); });
var recent = []; document.querySelectorAll("#alerts-recent li[data-rule]").forEach(function (l) {
  recent.push({type: l.getAttribute("data-type"), rule: l.getAttribute("data-rule")}); });
var sums = {}; document.querySelectorAll(".legend span[data-series]").forEach(function (s) {
  sums[s.getAttribute("data-series")] = Number(s.getAttribute("data-sum")); });
return {kpi: k, status: kv("top-status"), reason: kv("top-reason"), domain: kv("top-domain"),
  outcome: kv("top-outcome"), direction_subject: kv("top-direction_subject"), agents: agents,
  firing: firing, recent: recent, sums: sums, loaded: Number(document.body.getAttribute("data-loaded")),
  samples: Array.prototype.map.call(document.querySelectorAll("#samples li.sample"), function (l) { return l.textContent; }),
  title: document.title, pwned: document.body.getAttribute("data-pwned"), pwnedGlobal: typeof window.pwned,
  scripts: document.scripts.length, imgs: document.querySelectorAll("main img").length,
  overflow: document.documentElement.scrollWidth - window.innerWidth};'

# compare PAGE.json QUERY.json [AGENT-QUERY.json]: the page's numbers equal query's.
compare() {
    python3 - "$@" <<'PY' || fail "the page differs from smtpmon query (see above)"
import json, sys
page = json.load(open(sys.argv[1]))
q = json.load(open(sys.argv[2]))
bad = []
def eq(what, got, want):
    if got != want:
        bad.append(f"{what}: page {got} != query {want}")
by = q["by"]
eq("lines", page["kpi"]["lines"], q["lines"])
eq("matched", page["kpi"]["matched"], q["matched"])
eq("unmatched", page["kpi"]["unmatched"], q["unmatched_with_code"])
eq("deferred", page["kpi"]["deferred"], by["outcome"].get("deferred", 0))
eq("bounced", page["kpi"]["bounced"], by["outcome"].get("bounced", 0))
eq("out57", page["kpi"]["out57"], by["direction_subject"].get("outbound/5.7", 0))
eq("in57", page["kpi"]["in57"], by["direction_subject"].get("inbound/5.7", 0))
for dim in ("status", "reason", "domain", "outcome", "direction_subject"):
    if not page[dim]:
        bad.append(f"{dim}: the page shows none")
    for k, v in page[dim].items():
        eq(f"{dim} {k}", v, by[dim].get(k))
    # the page's top 10 are query's top entries
    # ("other" of query's domains is the events beyond Redis's top domains: not a field)
    top = sorted((v for k, v in by[dim].items() if k != "other" or dim != "domain"),
                 reverse=True)[:len(page[dim])]
    eq(f"{dim} top counts", sorted(page[dim].values(), reverse=True), top)
if len(sys.argv) > 3:
    a = json.load(open(sys.argv[3]))
    row = page["agents"].get(sys.argv[4])
    if row is None:
        bad.append(f"agent {sys.argv[4]} not in the table: {page['agents']}")
    else:
        eq("agent lines", row["lines"], a["lines"])
        eq("agent unmatched", row["unmatched"], a["unmatched_with_code"])
        eq("agent out57", row["out57"], a["by"]["direction_subject"].get("outbound/5.7", 0))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
query_json --fleet --top 64 > "$T/q-fleet.json" || fail "query --fleet"
query_json --agent="$AGENT_ID" --top 64 > "$T/q-agent.json" || fail "query --agent"
js "$READ" > "$T/page1.json"
compare "$T/page1.json" "$T/q-fleet.json" "$T/q-agent.json" "$AGENT_ID"
echo "fleet page = query: $(jq -c '{lines: .kpi.lines, out57: .kpi.out57, unmatched: .kpi.unmatched}' "$T/page1.json")"

# The spike's alert, firing, with its cause.
jq -e --arg a "$AGENT_ID" '.firing | map(select(.rule == "outbound-5.7" and .agent == $a)) | length == 1' \
    "$T/page1.json" > /dev/null || fail "the spike's alert is not shown firing: $(jq -c .firing "$T/page1.json")"
jq -e '.firing[0].text | test("status 5\\.7\\.1") and test("reason")' "$T/page1.json" > /dev/null ||
    fail "the alert without its cause: $(jq -c .firing "$T/page1.json")"
# The chart of 5.7.x a minute: its sum is the stream's over the same minutes.
want57=$(rcli XREVRANGE 'smtpmon:{fleet}:ts' + - COUNT 180 | awk 'f { s += $1; f = 0 } $0 == "ds|outbound|5.7" { f = 1 } END { print s + 0 }')
[ "$(jq '.sums["outbound 5.7.x"]' "$T/page1.json")" = "$want57" ] && [ "$want57" -gt 0 ] ||
    fail "chart of outbound 5.7.x: $(jq -c .sums "$T/page1.json"), stream $want57"

# Markup from the log: shown as text, nothing ran.
jq -e '.title == "smtpmon \u2014 fleet" and .pwned == null and .pwnedGlobal == "undefined" and
       .scripts == 1 and .imgs == 0' "$T/page1.json" > /dev/null ||
    fail "markup from the log ran: $(jq -c '{title, pwned, pwnedGlobal, scripts, imgs}' "$T/page1.json")"
jq -e '[.samples[] | select(contains("<script>") and contains("document.title='"'"'pwned'"'"'</script>") and contains("\"onmouseover="))] | length == 2' \
    "$T/page1.json" > /dev/null || fail "samples not shown as text: $(jq -c .samples "$T/page1.json")"
jq -e '[.samples[] | select(contains("<img src=x onerror="))] | length == 1' "$T/page1.json" > /dev/null ||
    fail "the <img> sample not shown as text"
# The browser's console: no error, no refusal by the CSP (the page keeps to its own policy).
console() {
    wd POST /se/log '{"type": "browser"}' > "$T/console.json" || fail "cannot read the console"
    jq -e '[.value[] | select(.level == "SEVERE" or (.message | test("Content Security Policy|Refused")))] | length == 0' \
        "$T/console.json" > /dev/null || fail "console: $(jq -c '.value' "$T/console.json")"
}
console
wd GET /screenshot | jq -r .value | base64 -d > "$OUT/fleet.png"
[ "$(head -c 8 "$OUT/fleet.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "screenshot is not a PNG"
echo "screenshot: $OUT/fleet.png"
# The first screen at a laptop's size (the picture of README.md).
wd POST /window/rect '{"width": 1100, "height": 1000}' > /dev/null || fail "cannot resize"
wd GET /screenshot | jq -r .value | base64 -d > "$OUT/fleet-screen.png"
echo "screenshot: $OUT/fleet-screen.png"
wd POST /window/rect '{"width": 1280, "height": 2600}' > /dev/null || fail "cannot resize"

# More of the replay: the same page, not reloaded, follows (its polling), and the alert has
# recovered.
awk '$1 >= "2024-11-28T05:14" && $1 < "2024-11-28T06:30"' "$T/day.log" >> "$LOG"
wait_for 30 "[ \"\$(committed_offset)\" = $(stat -c %s "$LOG") ]" || fail "the rest was not committed"
query_json --fleet --top 64 > "$T/q-fleet2.json"
n2=$(jq .lines "$T/q-fleet2.json")
wait_for 20 "[ \"\$(js 'return Number(document.getElementById(\"kpi-lines\").getAttribute(\"data-value\"))')\" = $n2 ]" ||
    fail "the page did not follow: $(js 'return document.getElementById("kpi-lines").getAttribute("data-value")') lines, query $n2"
query_json --agent="$AGENT_ID" --top 64 > "$T/q-agent2.json"
js "$READ" > "$T/page2.json"
compare "$T/page2.json" "$T/q-fleet2.json" "$T/q-agent2.json" "$AGENT_ID"
[ "$(jq .loaded "$T/page2.json")" -gt "$(jq .loaded "$T/page1.json")" ] || fail "no new poll"
jq -e '.recent | map(select(.type == "recovery" and .rule == "outbound-5.7")) | length >= 1' \
    "$T/page2.json" > /dev/null || fail "no recovery shown: $(jq -c .recent "$T/page2.json")"
jq -e '.firing | length == 0' "$T/page2.json" > /dev/null || fail "still firing: $(jq -c .firing "$T/page2.json")"
echo "followed without a reload: $(jq .kpi.lines "$T/page1.json") -> $n2 lines, alert recovered"

# The host page.
wd POST /url "{\"url\": \"$B/agent/$AGENT_ID\"}" > /dev/null || fail "cannot load the host page"
wait_for 20 "[ \"\$(loads)\" -ge 1 ]" || fail "the host page did not load its data"
js "$READ" > "$T/page3.json"
compare "$T/page3.json" "$T/q-agent2.json" "$T/q-agent2.json" "$AGENT_ID"
jq -e --arg t "smtpmon — $AGENT_ID" '.title == $t' "$T/page3.json" > /dev/null || fail "host page title"
wd GET /screenshot | jq -r .value | base64 -d > "$OUT/agent.png"
echo "screenshot: $OUT/agent.png"

# A phone's width: nothing wider than the screen.
wd POST /url "{\"url\": \"$B/\"}" > /dev/null
wd POST /window/rect '{"width": 390, "height": 1600}' > /dev/null || fail "cannot resize"
wait_for 20 "[ \"\$(loads)\" -ge 1 ]" || fail "the page did not load at phone width"
[ "$(js 'return document.documentElement.scrollWidth - window.innerWidth')" -le 0 ] ||
    fail "wider than a phone: $(js 'return [document.documentElement.scrollWidth, window.innerWidth]')"
wd GET /screenshot | jq -r .value | base64 -d > "$OUT/phone.png"
echo "screenshot: $OUT/phone.png"
console

# The API refuses what it does not know, and bounds the series.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/api/series?agent=fleet&minutes=100000")" = 400 ] ||
    fail "minutes=100000 not refused"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/api/series?agent=a%3Cb")" = 400 ] || fail "bad agent id"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/api/agent/nobody")" = 404 ] || fail "unknown agent"
[ "$(curl -s "$B/api/series?agent=fleet&minutes=7" | jq '.points | length')" = 7 ] || fail "7 minutes"
for p in /api/summary "/api/agent/$AGENT_ID" "/api/series?agent=fleet&minutes=180"; do
    echo "GET $p: $(curl -s -o /dev/null -w '%{size_download} bytes in %{time_total} s' "$B$p")"
done
kill -0 "$SERVE_PID" || fail "serve died: $(tail "$T/serve.err")"
exit 0
