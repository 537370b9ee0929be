# Shared helpers of the integration tests: sourced by each tests/integration/test_*.sh.
# Every test works in its own temporary directory ($T), removed by the EXIT trap, drives the
# real binary, and waits for observable effects with a deadline (wait_for), never a bare sleep.
#
# The oracle: every generated line carries a unique sequence number and a known code; a copy
# of everything written goes to $T/written.log, and the counts summed over all batches of the
# JSON-lines output must equal what was written.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SMTPMON=${SMTPMON:-$ROOT/build/smtpmon}
T=$(mktemp -d "${TMPDIR:-/tmp}/smtpmon-it.XXXXXX")
: > "$T/written.log"
chmod 755 "$T"
AGENT_PID=
AGENT_N=0
WRITER_PID=
BG_PIDS= # helpers started in the background (listeners, servers): killed by cleanup
TEST_NAME=$(basename "$0" .sh)

cleanup() {
    _rc=$?
    [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
    [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
    for _p in $BG_PIDS; do kill -9 "$_p" 2>/dev/null; done
    wait 2>/dev/null
    # With a sanitizer build (make test-integration-asan) any report fails the test.
    if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T"/*.err \
        > "$T/sanitizer.files" 2>/dev/null; then
        echo "FAIL: $TEST_NAME: sanitizer report:" >&2
        xargs grep -h -A 25 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' \
            < "$T/sanitizer.files" | head -n 60 >&2
        _rc=1
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
    exit "$_rc"
}
trap cleanup EXIT

# Kills PID when the test ends, however it ends (a helper left running would hold 'wait').
track_pid() {
    BG_PIDS="$BG_PIDS $1"
}

# start_hostile MODE: tests/integration/hostile_redis.py (a fake Redis, hostile as MODE says and
# as later written to $CTL) on a free loopback port: sets PORT, CTL and FAKE (its PID, tracked).
start_hostile() {
    CTL=$T/hostile.mode
    echo "$1" > "$CTL"
    for _try in 1 2 3 4 5; do
        PORT=$(free_port)
        python3 "$ROOT/tests/integration/hostile_redis.py" "$PORT" "$CTL" 2> "$T/hostile.log" &
        FAKE=$!
        wait_for 5 "grep -q listening '$T/hostile.log' || ! kill -0 $FAKE 2>/dev/null" &&
            kill -0 "$FAKE" 2>/dev/null && break
    done
    kill -0 "$FAKE" 2>/dev/null || fail "the fake server did not start: $(cat "$T/hostile.log")"
    track_pid "$FAKE"
}

# A loopback TCP port nobody listens on now (it may be taken before it is bound: retry), below
# the kernel's range of ephemeral ports, so that no client connection of a test running beside
# this one holds it.
free_port() {
    _lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "${_lo:-0}" -gt 12000 ] || _lo=32768
    while :; do
        _p=$(( 10000 + RANDOM % (_lo - 10000) ))
        (exec 3<>/dev/tcp/127.0.0.1/$_p) 2>/dev/null || { echo "$_p"; return; }
    done
}

# A datagram socket standing in for systemd's NOTIFY_SOCKET: start_notify_listener SOCK LOG
# writes each notification to LOG as one line (its lines joined by " | "); NOTIFY_PID. A SOCK
# that begins with @ is an abstract socket name, as systemd writes those in NOTIFY_SOCKET.
start_notify_listener() {
    python3 - "$1" "$2" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a = sys.argv[1]
s.bind("\0" + a[1:] if a.startswith("@") else a)
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode(errors="replace").replace("\n", " | ") + "\n")
PY
    NOTIFY_PID=$!
    track_pid "$NOTIFY_PID"
    case $1 in
    @*) wait_for 5 "grep -q ' $1\$' /proc/net/unix" || fail "no notify listener" ;;
    *) wait_for 5 "[ -S '$1' ]" || fail "no notify listener" ;;
    esac
}

fail() {
    echo "FAIL: $TEST_NAME: $*" >&2
    for f in "$T"/agent*.err; do
        [ -f "$f" ] || continue
        echo "--- $f (last 30 lines)" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

skip() {
    echo "SKIP: $TEST_NAME: $*"
    exit 77
}

need() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "needs $c"
    done
}

need jq awk
[ -x "$SMTPMON" ] || skip "build $SMTPMON first (make build/smtpmon)"

# For tests that run the agent as user nobody: a copy of the binary and the patterns in $T, which
# nobody can reach even when the clone is not (a clone under /root, whose mode is 0700).
# Sets SMTPMON_REAL to the copy and exports SMTPMON_PATTERNS.
copy_for_nobody() {
    mkdir -p "$T/bin"
    cp "$SMTPMON" "$T/bin/smtpmon"
    cp -r "$ROOT/patterns" "$T/patterns"
    chmod -R a+rX "$T/bin" "$T/patterns"
    chmod 755 "$T"
    SMTPMON_REAL=$T/bin/smtpmon
    export SMTPMON_PATTERNS=$T/patterns
}

# wait_for SECONDS 'shell condition': polls every 50 ms until the condition holds.
wait_for() {
    _deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    while ! eval "$2"; do
        if [ $(( $(date +%s%N) / 1000000 )) -ge "$_deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
    return 0
}

# gen START COUNT: COUNT Postfix-shaped lines numbered from START on stdout. Every 10th line
# is a bounce (550 5.1.1), every 10th + 5 a deferral (451 4.2.0), the rest deliveries.
gen() {
    awk -v s="$1" -v n="$2" 'BEGIN {
        for (i = s; i < s + n; i++) {
            t = sprintf("Nov 28 14:%02d:%02d mx1 postfix/smtp[%d]: %010X: to=<u%d@example.com>",
                        int(i / 60) % 60, i % 60, 100 + i % 900, i, i)
            if (i % 10 == 0) {
                printf "%s, relay=mx.example.com[198.18.0.1]:25, delay=1, delays=0/0/0/1, " \
                       "dsn=5.1.1, status=bounced (host mx.example.com[198.18.0.1] said: 550 " \
                       "5.1.1 <u%d@example.com>: Recipient address rejected: User unknown (in " \
                       "reply to RCPT TO command))\n", t, i
            } else if (i % 10 == 5) {
                printf "%s, relay=mx.example.com[198.18.0.1]:25, delay=3, delays=0/0/1/2, " \
                       "dsn=4.2.0, status=deferred (host mx.example.com[198.18.0.1] said: 451 " \
                       "4.2.0 Greylisted, try again later (in reply to RCPT TO command))\n", t
            } else {
                printf "%s, relay=mx.example.com[198.18.0.1]:25, delay=0.1, " \
                       "delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK %d)\n", t, i
            }
        }
    }'
}

# The journal tests: skips without systemd-journal-remote (JR), makes $T/journal and BASE (now,
# in microseconds: the first entry's time).
need_journal() {
    JR=/lib/systemd/systemd-journal-remote
    [ -x "$JR" ] || skip "needs systemd-journal-remote (apt-get install systemd-journal-remote)"
    mkdir -p "$T/journal"
    BASE=$(( $(date +%s) * 1000000 ))
}

# journal_file NAME START COUNT [EVERY]: $T/journal/NAME.journal with the COUNT postfix entries
# of gen START COUNT (added to the oracle), 1 ms apart from BASE; with EVERY, an entry of
# another identifier (cron, with a reply code in its text) after every EVERY-th.
journal_file() {
    gen "$2" "$3" | tee -a "$T/written.log" | awk -v base="$BASE" -v s="$2" -v every="${4:-0}" '{
        i = s + NR - 1
        prog = $5; sub(/\[.*/, "", prog)
        msg = $0; sub(/^[^]]*\]: /, "", msg)
        printf "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n", base + i * 1000, i + 1
        printf "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx1\n"
        printf "SYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%d\nMESSAGE=%s\n\n", prog, 100 + i % 900, msg
        if (every > 0 && i % every == 0) {
            printf "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n", base + i * 1000 + 1, i + 1
            printf "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx1\n"
            printf "SYSLOG_IDENTIFIER=cron\nMESSAGE=(root) CMD said: 550 5.1.1 not mail\n\n"
        }
    }' > "$T/export.txt"
    "$JR" --output="$T/journal/$1.journal" - < "$T/export.txt" 2>/dev/null ||
        fail "systemd-journal-remote failed"
}

# append FILE START COUNT: appends generated lines to FILE and to the oracle.
append() {
    gen "$2" "$3" | tee -a "$T/written.log" >> "$1"
}

# Expected totals of the oracle, as "lines r250 r451 r550".
expected() {
    if [ ! -s "$T/written.log" ]; then
        echo "0 0 0 0"
        return
    fi
    awk '/status=sent/ {a++} /status=deferred/ {b++} /status=bounced/ {c++}
         END {printf "%d %d %d %d\n", NR, a, b, c}' "$T/written.log"
}

# Totals summed over every batch of an output file, as "lines r250 r451 r550".
totals() {
    _out=${1:-$T/out.jsonl}
    if [ ! -s "$_out" ]; then
        echo "0 0 0 0"
        return
    fi
    jq -s -r '[ (map(.counts.lines) | add // 0),
                (map(.counts.by.reply["250"] // 0) | add // 0),
                (map(.counts.by.reply["451"] // 0) | add // 0),
                (map(.counts.by.reply["550"] // 0) | add // 0) ] | map(tostring) | join(" ")' \
        "$_out" 2>/dev/null || echo "parse error"
}

total_lines() {
    totals "${1:-$T/out.jsonl}" | cut -d' ' -f1
}

# Sum of one agent_metrics field over all batches.
metric() {
    jq -s "map(.agent_metrics.$1) | add // 0" "${2:-$T/out.jsonl}"
}

# Asserts that the summed counts equal the oracle exactly.
assert_exact() {
    _want=$(expected)
    _got=$(totals "${1:-$T/out.jsonl}")
    [ "$_want" = "$_got" ] || fail "counts differ: written '$_want' (lines r250 r451 r550), counted '$_got'"
}

# Waits until the summed lines reach the oracle's, then asserts the exact totals.
wait_exact() {
    _n=$(expected | cut -d' ' -f1)
    wait_for "${1:-15}" "[ \"\$(total_lines)\" -ge $_n ]" ||
        fail "timeout: counted $(total_lines) of $_n lines"
    assert_exact
}

# A configuration file for the tests; extra lines (sections) can be appended.
write_conf() {
    _conf=$1
    shift
    cat > "$_conf" <<CONF
[agent]
state_dir = $T/state
output = $T/out.jsonl
flush_interval = 100ms
rescan_interval = 1s
rotate_wait = 300ms
stop_timeout = 2s
read_from = head
CONF
    for s in "$@"; do
        printf '%s\n' "$s" >> "$_conf"
    done
}

# start_agent ARGS...: starts the agent in the background (stderr to $T/agentN.err) and waits
# until it is running. Sets AGENT_PID and AGENT_ERR.
start_agent() {
    AGENT_N=$((AGENT_N + 1))
    AGENT_ERR=$T/agent$AGENT_N.err
    "$SMTPMON" "$@" 2>"$AGENT_ERR" &
    AGENT_PID=$!
    wait_for 10 "grep -q 'agent: id=.* started' '$AGENT_ERR' 2>/dev/null || ! kill -0 $AGENT_PID 2>/dev/null" ||
        fail "agent did not start"
    kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited at start"
}

# Stops the agent with SIGTERM and checks that it exits 0 in time.
stop_agent() {
    kill -TERM "$AGENT_PID" 2>/dev/null || fail "agent not running"
    wait_for 10 "! kill -0 $AGENT_PID 2>/dev/null" || fail "agent did not stop on SIGTERM"
    wait "$AGENT_PID"
    _rc=$?
    AGENT_PID=
    [ "$_rc" = 0 ] || fail "agent exited $_rc on SIGTERM"
}

# A writer that keeps its fd open like rsyslog and reopens the file on SIGHUP:
# start_writer FILE START TOTAL CHUNK.
start_writer() {
    export -f gen
    bash -c '
        f=$1 s=$2 total=$3 chunk=$4 T=$5
        exec 3>>"$f"
        i=$s
        while [ $i -lt $((s + total)) ]; do
            # reopen_writer asks for a reopen, as rsyslog reopens its files on SIGHUP after
            # logrotate: the file is reopened before the next chunk is written
            if [ -e "$T/writer.reopen" ]; then
                rm -f "$T/writer.reopen"
                exec 3>>"$f"
            fi
            n=$chunk
            [ $((i + n)) -gt $((s + total)) ] && n=$((s + total - i))
            gen $i $n | tee -a "$T/written.log" >&3
            i=$((i + n))
        done
        touch "$T/writer.done"
    ' writer "$1" "$2" "$3" "$4" "$T" &
    WRITER_PID=$!
}

reopen_writer() {
    touch "$T/writer.reopen"
}

wait_writer() {
    wait_for "${1:-60}" "[ -f '$T/writer.done' ]" || fail "writer did not finish"
    wait "$WRITER_PID" 2>/dev/null
    WRITER_PID=
    rm -f "$T/writer.done"
}

# ---------------------------------------------------------------------------------------------
# A real Redis Cluster: start_cluster [MASTERS] starts 2 x MASTERS redis-server
# --cluster-enabled yes (cluster-node-timeout $CLUSTER_NODE_TIMEOUT ms, 3000 unless set: a node
# that misses pings for a second on a loaded machine is not failed over; no persistence) on free
# loopback ports,
# each in $T/cluster/PORT, and creates the cluster with one replica per master
# (redis-cli --cluster create --cluster-replicas 1). Sets CLUSTER_PORTS (every node) and
# CLUSTER_SEED (the first). Needs redis-server and redis-cli (skips otherwise).
# cluster_pid PORT: the node's PID; cluster_master_of SLOT: the port of the master serving
# SLOT; cluster_slot KEY: its slot; cluster_ok: every node says cluster_state:ok and agrees;
# cluster_replace DEAD MASTER: a new, empty node on a free port in place of the killed node
# DEAD (in CLUSTER_PORTS too), added as a replica of the master on port MASTER, and DEAD's id
# forgotten by every node. (A killed master started again with its nodes.conf and no data
# sometimes left the master that had replaced it in cluster_state:fail for good, some slots
# covered by no node in redis-cli's check: Redis 7.0 on a loaded machine.)
cluster_cli() {
    redis-cli -p "$1" --no-auth-warning "${@:2}"
}
cluster_pid() {
    cat "$T/cluster/$1/pid"
}
cluster_slot() {
    cluster_cli "$CLUSTER_SEED" CLUSTER KEYSLOT "$1"
}
cluster_master_of() {
    _alive=
    for _p in $CLUSTER_PORTS; do
        kill -0 "$(cluster_pid "$_p")" 2>/dev/null && { _alive=$_p; break; }
    done
    cluster_cli "$_alive" CLUSTER SLOTS | awk -v s="$1" '
        NR % 1 == 0 { a[NR] = $0 }
        END {
            # flattened CLUSTER SLOTS: start, end, ip, port, id, [ip, port, id ...] per range
            for (i = 1; i <= NR; i++) if (a[i] ~ /^[0-9]+$/ && a[i+1] ~ /^[0-9]+$/ && a[i+2] !~ /^[0-9]+$/) {
                if (s >= a[i] && s <= a[i+1]) { print a[i+3]; exit }
            }
        }'
}
# The [redis] section of a client of the cluster: the seed's URL, cluster = yes, every node a seed.
cluster_redis_conf() {
    printf '[redis]\nurl = redis://127.0.0.1:%s\ncluster = yes\ncluster_seeds = %s\n' \
        "$CLUSTER_SEED" "$(printf '127.0.0.1:%s ' $CLUSTER_PORTS)"
}
cluster_replace() {
    _dead_id=$(awk '/myself/ { print $1; exit }' "$T/cluster/$1/nodes.conf")
    _master_id=$(cluster_cli "$2" CLUSTER MYID)
    [ -n "$_dead_id" ] && [ -n "$_master_id" ] || fail "cluster_replace $1 $2: no node ids"
    cluster_new_node
    CLUSTER_PORTS=$(echo " $CLUSTER_PORTS " | sed "s/ $1 / $CLUSTER_NEW /; s/^ //; s/ $//")
    [ "$CLUSTER_SEED" = "$1" ] && CLUSTER_SEED=${CLUSTER_PORTS%% *}
    for _p in $CLUSTER_PORTS; do
        [ "$_p" = "$CLUSTER_NEW" ] || cluster_cli "$_p" CLUSTER FORGET "$_dead_id" > /dev/null 2>&1
    done
    redis-cli --cluster add-node "127.0.0.1:$CLUSTER_NEW" "127.0.0.1:$2" --cluster-slave \
        --cluster-master-id "$_master_id" > "$T/cluster/$CLUSTER_NEW/add.log" 2>&1 ||
        fail "cluster_replace: add-node: $(tail -n 5 "$T/cluster/$CLUSTER_NEW/add.log")"
}
cluster_ok() {
    for _p in $CLUSTER_PORTS; do
        kill -0 "$(cluster_pid "$_p")" 2>/dev/null || continue
        cluster_cli "$_p" CLUSTER INFO 2>/dev/null | grep -q 'cluster_state:ok' || return 1
    done
    _alive=
    for _p in $CLUSTER_PORTS; do
        kill -0 "$(cluster_pid "$_p")" 2>/dev/null && { _alive=$_p; break; }
    done
    redis-cli --cluster check "127.0.0.1:$_alive" 2>/dev/null | grep -q '\[OK\] All 16384 slots covered' &&
        ! redis-cli --cluster check "127.0.0.1:$_alive" 2>/dev/null | grep -q '\[WARNING\]\|\[ERR\]'
}
# cluster_new_node: starts an empty cluster node on a free loopback port (and its bus port
# +10000, both below the ephemeral range) in $T/cluster/PORT; sets CLUSTER_NEW to its port.
cluster_new_node() {
    _lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    _ok=0
    for _try in 1 2 3 4 5 6 7 8; do
        _p=$(( 10000 + RANDOM % (_lo - 20000) ))
        (exec 3<>/dev/tcp/127.0.0.1/$_p) 2>/dev/null && continue
        (exec 3<>/dev/tcp/127.0.0.1/$((_p + 10000))) 2>/dev/null && continue
        case " $CLUSTER_PORTS " in *" $_p "*) continue ;; esac
        [ -e "$T/cluster/$_p" ] && continue
        mkdir -p "$T/cluster/$_p"
        redis-server --port "$_p" --bind 127.0.0.1 --cluster-enabled yes \
            --cluster-config-file nodes.conf --cluster-node-timeout "${CLUSTER_NODE_TIMEOUT:-3000}" \
            --save '' --appendonly no --dir "$T/cluster/$_p" --daemonize no \
            > "$T/cluster/$_p/log" 2>&1 &
        echo $! > "$T/cluster/$_p/pid"
        track_pid $!
        if wait_for 10 "cluster_cli $_p ping 2>/dev/null | grep -q PONG || ! kill -0 $! 2>/dev/null" &&
            cluster_cli "$_p" ping 2>/dev/null | grep -q PONG; then
            _ok=1
            break
        fi
        kill -9 "$!" 2>/dev/null
    done
    [ "$_ok" = 1 ] || fail "a cluster node did not start"
    CLUSTER_NEW=$_p
}
start_cluster() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        skip "needs redis-server and redis-cli"
    _masters=${1:-3}
    CLUSTER_PORTS=
    for _i in $(seq 1 $((2 * _masters))); do
        cluster_new_node
        CLUSTER_PORTS="$CLUSTER_PORTS $CLUSTER_NEW"
    done
    CLUSTER_PORTS=${CLUSTER_PORTS# }
    CLUSTER_SEED=${CLUSTER_PORTS%% *}
    # shellcheck disable=SC2046
    redis-cli --cluster create $(printf '127.0.0.1:%s ' $CLUSTER_PORTS) --cluster-replicas 1 \
        --cluster-yes > "$T/cluster/create.log" 2>&1 ||
        fail "redis-cli --cluster create: $(tail -n 5 "$T/cluster/create.log")"
    wait_for 30 cluster_ok || fail "the cluster did not settle: $(redis-cli --cluster check 127.0.0.1:$CLUSTER_SEED 2>&1 | tail -n 5)"
}
