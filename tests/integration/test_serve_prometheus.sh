#!/bin/bash
# smtpmon serve scraped by a real Prometheus. An agent commits the sample log to Redis;
# `smtpmon serve`, as a read-only ACL user, answers /metrics; `promtool check metrics` finds
# nothing to say about it; Prometheus scrapes it every second, and PromQL over the scraped
# counters equals `smtpmon query --format json` of the same agent and of the fleet, dimension
# by dimension.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need prometheus promtool curl jq python3

start_redis
SERVE_PW=serve-secret-$$
# The read-only user of README.md (Prometheus): a scrape reads, never writes.
# shellcheck disable=SC2046
rcli ACL SETUSER smtpmon-serve on ">$SERVE_PW" resetkeys resetchannels -@all +ping +auth +hello \
    +select +scan +hget +hgetall '%R~smtpmon:*' | grep -q OK || fail "ACL serve user"
printf '%s\n' "$SERVE_PW" > "$T/serve-password"
chmod 600 "$T/serve-password"

LOG=$T/mail.log
cp "$ROOT/tests/data/sample/mail.log" "$T/written.log"
write_rconf "$T/smtpmon.conf" "$REDIS_PORT" "[source mail]" "path = $LOG"
cp "$T/written.log" "$LOG"
start_agent -f "$T/smtpmon.conf"
wait_query_exact 30

: > "$T/empty.conf"
SERVE_PORT=$(free_port)
"$SMTPMON" serve -f "$T/empty.conf" --listen "127.0.0.1:$SERVE_PORT" \
    --redis "redis://smtpmon-serve:@127.0.0.1:$REDIS_PORT" --password-file "$T/serve-password" \
    2> "$T/serve.err" &
SERVE_PID=$!
M=http://127.0.0.1:$SERVE_PORT/metrics
wait_for 10 "curl -sf -o /dev/null $M || ! kill -0 $SERVE_PID" || fail "serve did not answer"
kill -0 "$SERVE_PID" || fail "serve exited: $(cat "$T/serve.err")"

curl -sf "$M" > "$T/metrics.txt" || fail "GET /metrics"
promtool check metrics < "$T/metrics.txt" > "$T/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(head -20 "$T/promtool.out")"
[ -s "$T/promtool.out" ] && fail "promtool check metrics: $(head -20 "$T/promtool.out")"
grep -q "^smtpmon_lines_total{agent=\"$AGENT_ID\"} $(wc -l < "$LOG")\$" "$T/metrics.txt" ||
    fail "no smtpmon_lines_total of $AGENT_ID: $(grep lines_total "$T/metrics.txt")"
grep -q "^smtpmon_lag_bytes{agent=\"$AGENT_ID\",source=\"mail\"} 0\$" "$T/metrics.txt" ||
    fail "no lag gauge"
grep -q "^smtpmon_last_commit_age_seconds{agent=\"$AGENT_ID\"} " "$T/metrics.txt" ||
    fail "no commit age gauge"
# OpenMetrics when asked for, as Prometheus does.
curl -sf -D "$T/om.head" -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5' \
    "$M" > "$T/om.txt" || fail "GET /metrics (OpenMetrics)"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$T/om.head" ||
    fail "OpenMetrics content type: $(cat "$T/om.head")"
[ "$(tail -n 1 "$T/om.txt")" = "# EOF" ] || fail "OpenMetrics without # EOF"
grep -q '^# TYPE smtpmon_events counter$' "$T/om.txt" || fail "OpenMetrics counter family name"

# A real Prometheus scraping every second.
PROM_PORT=$(free_port)
cat > "$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: smtpmon
    static_configs:
      - targets: ['127.0.0.1:$SERVE_PORT']
EOF
promtool check config "$T/prometheus.yml" > /dev/null || fail "promtool check config"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" > "$T/prometheus.log" 2>&1 &
PROM_PID=$!
trap '_rc=$?; kill "$SERVE_PID" "$PROM_PID" 2>/dev/null; (exit $_rc); _redis_cleanup' EXIT
API=http://127.0.0.1:$PROM_PORT/api/v1

promql() {
    curl -sf --get --data-urlencode "query=$1" "$API/query"
}
# (jq 1.6 -e succeeds on empty input: the values are compared as text)
wait_for 60 "[ \"\$(promql 'smtpmon_lines_total{agent=\"$AGENT_ID\"}' 2>/dev/null | jq -r '.data.result | length')\" = 1 ]" ||
    fail "Prometheus has not scraped serve: $(tail -5 "$T/prometheus.log")"
[ "$(promql 'up{job="smtpmon"}' | jq -r '.data.result[0].value[1]')" = 1 ] ||
    fail "target not up"

# PromQL == query, for the agent and for the fleet: each dimension as a JSON object.
compare() { # compare AGENT_LABEL QUERY_JSON
    _sel="agent=\"$1\""
    promql "sum by (direction, subject) (smtpmon_events_total{$_sel})" > "$T/p.ds"
    promql "sum by (status) (smtpmon_status_total{$_sel})" > "$T/p.st"
    promql "sum by (reply) (smtpmon_reply_total{$_sel})" > "$T/p.rp"
    promql "sum by (reason) (smtpmon_reason_total{$_sel})" > "$T/p.rs"
    promql "sum by (outcome) (smtpmon_outcome_total{$_sel})" > "$T/p.oc"
    promql "sum by (direction, class) (smtpmon_events_total{$_sel})" > "$T/p.dc"
    promql "sum(smtpmon_lines_total{$_sel})" > "$T/p.lines"
    promql "sum(smtpmon_matched_lines_total{$_sel})" > "$T/p.matched"
    promql "sum(smtpmon_unmatched_lines_total{$_sel})" > "$T/p.unmatched"
    python3 - "$T" "$2" <<'PY' || fail "PromQL differs from query for $1"
import json, sys
t, qfile = sys.argv[1], sys.argv[2]
q = json.load(open(qfile))
def vec(name, key):
    r = json.load(open(f"{t}/p.{name}"))["data"]["result"]
    return {key(x["metric"]): int(float(x["value"][1])) for x in r}
checks = [
    ("direction_subject", vec("ds", lambda m: m["direction"] + "/" + m["subject"])),
    ("direction_class", vec("dc", lambda m: m["direction"] + "/" + m["class"])),
    ("status", vec("st", lambda m: m["status"])),
    ("reply", vec("rp", lambda m: m["reply"])),
    ("reason", vec("rs", lambda m: m["reason"])),
    ("outcome", vec("oc", lambda m: m["outcome"])),
]
bad = 0
for dim, got in checks:
    want = q["by"][dim]
    if got != want:
        print(f"{dim}: promql {got} != query {want}", file=sys.stderr)
        bad = 1
for name, field in (("lines", "lines"), ("matched", "matched"), ("unmatched", "unmatched_with_code")):
    got = vec(name, lambda m: "")[""]
    if got != q[field]:
        print(f"{field}: promql {got} != query {q[field]}", file=sys.stderr)
        bad = 1
if not q["by"]["direction_subject"]:
    print("query holds no events", file=sys.stderr)
    bad = 1
sys.exit(bad)
PY
}
query_json > "$T/q.agent.json" || fail "query"
compare "$AGENT_ID" "$T/q.agent.json"
query_json --fleet > "$T/q.fleet.json" || fail "query --fleet"
compare _fleet "$T/q.fleet.json"
# One outbound 5.7.x count as a dashboard would ask for it.
want=$(jq '.by.direction_subject["outbound/5.7"] // 0' "$T/q.agent.json")
got=$(promql "sum(smtpmon_events_total{agent=\"$AGENT_ID\",direction=\"outbound\",class=\"5\",subject=\"5.7\"})" |
    jq -r '.data.result[0].value[1] // "0"')
[ "$got" = "$want" ] || fail "outbound 5.7: promql $got, query $want"

kill "$PROM_PID" "$SERVE_PID"
wait "$PROM_PID" "$SERVE_PID" 2>/dev/null
stop_agent
exit 0
