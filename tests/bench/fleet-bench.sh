#!/bin/bash
# A fleet of agents against one private redis-server: N real agent processes (build/smtpmon,
# each its own agent id, state and log file), every host's log written in real time at
# FLEET_RATE lines a second by tests/bench/fleet-writer.c from the relay of tests/bench/gen.c,
# time stamps set to the wall clock. For each N and each of fleet = yes / no, after FLEET_WARM
# seconds, over FLEET_SECS seconds: Redis CPU (used_cpu_sys + used_cpu_user of INFO cpu),
# commands a second (INFO commandstats: EVALSHA, and the calls inside the scripts), used_memory
# growth per host per day, the commit age of the agents (now minus updated_ms of P:{A}:meta, the
# smtpmon_last_commit_age_seconds of serve, sampled every 5 s over all agents) and the largest
# g|lag_bytes, the agents' own CPU, and the load average. After the writer stops, query --fleet
# must equal the lines written (fleet = yes).
#
#   tests/bench/fleet-bench.sh [N ...]          (default: 10 100 1000)
#
# FLEET_RATE (5 lines/s a host), FLEET_FLUSH (1000: the agents' flush_interval in ms), FLEET_SECS (60), FLEET_WARM (20), FLEET_MODES ("yes no": the
# [redis] fleet setting of the runs), FLEET_AOF (yes: appendonly with fsync every second, as a
# deployment that keeps its counts would run), FLEET_NICE (0: the niceness of the agents and the
# writer; with a thousand agents on two cores, 5 lets Redis have its core: the EVALSHA a second
# then show whether the agents kept up, two a host with fleet = yes, one without),
# FLEET_CLUSTER (unset: one redis-server; 3: a Redis Cluster of three masters with a replica each,
# the CPU of each master reported, the one holding the {fleet} slot named), FLEET_SIM_FROM (1000: from this N on, one process hosts the N agent ids, tests/bench/fleet-sim.c,
# each with its own Redis exporter, fed the lines as the agent feeds it: a thousand agent
# processes need about 1.3 cores of their own at one commit a second, more than two shared
# cores give beside Redis; the agents' CPU column is then that process's).
# Prints one line per run and, at the end, a Markdown table of them.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPMON=${SMTPMON:-$ROOT/build/smtpmon}
export TEST_NAME=fleet-bench # named by fail()
. "$ROOT/tests/integration/lib.sh"
need redis-server redis-cli cc

RATE=${FLEET_RATE:-5}
SECS=${FLEET_SECS:-60}
WARM=${FLEET_WARM:-20}
MODES=${FLEET_MODES:-yes no}
AOF=${FLEET_AOF:-yes}
NICE=${FLEET_NICE:-0}
FLUSH=${FLEET_FLUSH:-1000}
SIM_FROM=${FLEET_SIM_FROM:-1000}
CL=${FLEET_CLUSTER:-}
export SMTPMON_PATTERNS=${SMTPMON_PATTERNS:-$ROOT/patterns}
SIZES=${*:-10 100 1000}
unset CREDENTIALS_DIRECTORY
: > "$T/empty.conf"

GEN=$ROOT/build/bench/gen
WRITER=$ROOT/build/bench/fleet-writer
mkdir -p "$ROOT/build/bench"
for p in gen fleet-writer; do
    if [ ! -x "$ROOT/build/bench/$p" ] || [ "$ROOT/build/bench/$p" -ot "$ROOT/tests/bench/$p.c" ]; then
        ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$ROOT/build/bench/$p" "$ROOT/tests/bench/$p.c" ||
            fail "cannot build $p"
    fi
done
"$GEN" 400000 11 > "$T/source.log" || fail "gen"
for n in $SIZES; do
    if (( n >= SIM_FROM )); then
        make -C "$ROOT" -s build/bench/fleet-sim > /dev/null || fail "cannot build build/bench/fleet-sim"
        break
    fi
done
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null

# On a cluster (FLEET_CLUSTER) rc follows redirections and the INFO figures are summed over
# the masters ($MASTERS; one Redis: its port).
rc() { redis-cli ${CL:+-c} -p "$PORT" --no-auth-warning "$@"; }
info() { for p in $MASTERS; do redis-cli -p "$p" INFO "$1"; done | tr -d '\r'; }
cpu_of() { redis-cli -p "$1" INFO cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" {s += $2} END {printf "%.3f", s}'; }
cpu_s() { info cpu | awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" {s += $2} END {printf "%.3f", s}'; }
mem_b() { info memory | awk -F: '$1 == "used_memory_dataset" {s += $2} END {print s + 0}'; }
# calls of one command (commandstats), or of all of them but the bench's own (INFO, HGET, ...)
calls() { info commandstats | awk -F'[:=,]' -v c="$1" '$1 == "cmdstat_" c {s += $3} END {print s + 0}'; }
# Agents' CPU in clock ticks (utime + stime of /proc/PID/stat).
agents_ticks() {
    for p in $APIDS; do cat "/proc/$p/stat" 2>/dev/null; done |
        awk '{sub(/^.*\) /, ""); s += $12 + $13} END {print s + 0}'
}
# Commit age (s) of every agent and the largest lag, one sample: "age age ... ; lag".
sample_commits() {
    local now
    now=$(date +%s%3N)
    for ((i = 0; i < N; i++)); do
        printf 'HGET smtpmon:{fleet-h%04d}:meta updated_ms\n' "$i"
        printf 'HGET smtpmon:{fleet-h%04d}:meta g|lag_bytes|mail\n' "$i"
    done | rc | grep -v '^-> Redirected' > "$T/sample.txt"
    awk -v now="$now" -v out="$T/ages.txt" 'NR % 2 == 1 {if ($1 != "") {age = (now - $1) / 1000; printf "%.3f\n", age >> out}; next}
        {if ($1 + 0 > lag) lag = $1 + 0} END {print lag + 0}' "$T/sample.txt"
}

run() { # N FLEET(yes|no)
    N=$1 FLEET=$2
    local d=$T/run-$N-$FLEET
    mkdir -p "$d/logs" "$d/state" "$d/err"
    if [ -n "$CL" ]; then
        # Three masters with a replica each (start_cluster of lib.sh), AOF as FLEET_AOF says.
        rm -rf "$T/cluster"
        start_cluster "$CL"
        PORT=$CLUSTER_SEED MASTERS='' RPID=''
        for p in $CLUSTER_PORTS; do
            redis-cli -p "$p" CONFIG SET maxclients 20000 > /dev/null
            # The harness's 1 s suits its failover tests; under full load it would fail over.
            redis-cli -p "$p" CONFIG SET cluster-node-timeout 15000 > /dev/null
            [ "$AOF" = yes ] && redis-cli -p "$p" CONFIG SET appendonly yes > /dev/null
            redis-cli -p "$p" ROLE | head -n 1 | grep -q master && MASTERS="$MASTERS $p"
            RPID="$RPID $(cat "$T/cluster/$p/pid")"
        done
        export SMTPMON_REDIS_CLUSTER=1
    else
        PORT=$(free_port)
        MASTERS=$PORT
        local aof=(--appendonly no)
        [ "$AOF" = yes ] && aof=(--appendonly yes --appendfsync everysec)
        redis-server --port "$PORT" --bind 127.0.0.1 --save '' "${aof[@]}" --dir "$d" \
            --maxclients 20000 --daemonize no > "$d/redis.log" 2>&1 &
        RPID=$!
        track_pid "$RPID"
        wait_for 10 "rc ping 2>/dev/null | grep -q PONG" || fail "redis-server did not start"
    fi
    "$SMTPMON" query -f "$T/empty.conf" --load-scripts --redis "redis://127.0.0.1:$PORT" > /dev/null ||
        fail "cannot load the scripts"
    APIDS=
    local t_start=$SECONDS
    local sim=0
    (( N >= SIM_FROM )) && sim=1
    for ((i = 0; i < N && ! sim; i++)); do
        local h
        h=$(printf 'h%04d' "$i")
        : > "$d/logs/$h.log"
        mkdir -p "$d/state/$h"
        cat > "$d/$h.conf" <<CONF
[agent]
agent_id = fleet-$h
flush_interval = ${FLUSH}ms
state_dir = $d/state/$h
read_from = head
[source mail]
path = $d/logs/$h.log
[redis]
url = redis://127.0.0.1:$PORT
fleet = $FLEET
${CL:+cluster = yes}
CONF
        nice -n "$NICE" "$SMTPMON" -f "$d/$h.conf" 2> "$d/err/$h.err" &
        APIDS="$APIDS $!"
        track_pid "$!"
        # Let the loaded machine breathe while a thousand agents compile their patterns.
        (( i % 50 == 49 )) && sleep 1
    done
    if (( sim )); then
        # One process, N agent ids, each its own exporter (tests/bench/fleet-sim.c).
        mkdir -p "$d/simstate"
        "$ROOT/build/bench/fleet-sim" "redis://127.0.0.1:$PORT" "$T/source.log" "$d/simstate" "$N" \
            "$RATE" $((WARM + SECS + 5)) "$FLEET" "$FLUSH" > "$d/sim.out" 2> "$d/sim.err" &
        WPID=$!
        APIDS=$WPID
        track_pid "$WPID"
    else
        wait_for 300 "[ \$(grep -l 'agent: id=.* started' $d/err/*.err | wc -l) -ge $N ]" ||
            fail "not all $N agents started: $(grep -L 'started' "$d"/err/*.err | head -3 | xargs tail -n 3)"
        nice -n "$NICE" "$WRITER" "$T/source.log" "$d/logs" "$N" "$RATE" $((WARM + SECS)) > "$d/written" &
        WPID=$!
        track_pid "$WPID"
    fi
    local t_up=$((SECONDS - t_start))
    sleep "$WARM"
    for p in $MASTERS; do redis-cli -p "$p" CONFIG RESETSTAT > /dev/null; done
    local pc0=() pc1=()
    for p in $MASTERS; do pc0+=("$(cpu_of "$p")"); done
    : > "$T/ages.txt"
    local c0 m0 a0 t0 lagmax=0 l samples=0
    c0=$(cpu_s) m0=$(mem_b) a0=$(agents_ticks) t0=$(date +%s%3N)
    while (( $(date +%s%3N) - t0 < SECS * 1000 - 2500 )); do
        sleep 5
        l=$(sample_commits)
        samples=$((samples + 1))
        (( l > lagmax )) && lagmax=$l
    done
    local c1 m1 a1 t1 ev ins load
    c1=$(cpu_s) m1=$(mem_b) a1=$(agents_ticks) t1=$(date +%s%3N)
    for p in $MASTERS; do pc1+=("$(cpu_of "$p")"); done
    local per_master=
    if [ -n "$CL" ]; then
        local k=0 fm
        fm=$(redis-cli -c -p "$PORT" CLUSTER KEYSLOT 'smtpmon:{fleet}:c:total')
        for p in $MASTERS; do
            local owns=""
            [ "$(redis-cli -p "$p" CLUSTER COUNTKEYSINSLOT "$fm")" -gt 0 ] && owns=" ({fleet})"
            per_master="$per_master $(awk -v a="${pc0[$k]}" -v b="${pc1[$k]}" -v t="$(( t1 - t0 ))" 'BEGIN {printf "%.1f%%", 100 * (b - a) / (t / 1000)}')$owns"
            k=$((k + 1))
        done
    fi
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    ev=$(calls evalsha)
    # The calls inside the scripts: all but EVALSHA and the bench's own (INFO, CONFIG, and the
    # two HGET an agent of each sample).
    ins=$(info commandstats | awk -F'[:=,]' -v own=$((samples * 2 * N)) '/^cmdstat_/ && $1 !~ /evalsha|info|config|ping/ {s += $3} END {print s - own}')
    # Where Redis spends its time: the commands by usec (those inside the scripts included).
    info commandstats | awk -F'[:=,]' '/^cmdstat_/ {c[substr($1, 9)] += $3; u[substr($1, 9)] += $5}
        END {for (k in c) printf "%s %d %d\n", k, c[k], u[k]}' | sort -k3,3nr | head -n 8 | awk '{printf "%s%s %d calls %.0f ms", (NR > 1 ? ", " : "  top by time: "), $1, $2, $3 / 1000} END {print ""}' > "$d/top.txt"
    local usec
    usec=$(info commandstats | awk -F'[:=,]' '$1 == "cmdstat_evalsha" {c += $3; u += $5} END {printf "%.2f", c ? u / c : 0}')
    local behind=
    if ! wait "$WPID"; then
        (( sim )) || fail "N=$N: the writer failed"
        # Redis (or this machine) could not keep up: said in the figures, not a failure.
        behind=$(awk '{printf "NOT KEPT UP: %s of %s lines acknowledged 60 s after the end", $5, $3}' "$d/sim.out")
        [ -n "$behind" ] || fail "N=$N: $(tail -n 3 "$d/sim.err")"
    fi
    local written simlat=
    if (( sim )); then
        written=$(awk '{print $3}' "$d/sim.out")
        simlat=$(awk '{printf "sealed to acknowledged: p50 %s ms, p99 %s ms, max %s ms", $12, $14, $16}' "$d/sim.out")
    else
        written=$(cat "$d/written")
    fi
    local check=-
    if [ -n "$behind" ]; then
        check=$behind
    elif [ "$FLEET" = yes ]; then
        wait_for 120 "[ \"\$(\"$SMTPMON\" query -f "$T/empty.conf" --redis redis://127.0.0.1:$PORT --fleet --format json 2>/dev/null | jq -r '.lines // 0')\" = $written ]" ||
            fail "N=$N: query --fleet counts $("$SMTPMON" query -f "$T/empty.conf" --redis "redis://127.0.0.1:$PORT" --fleet --format json | jq .lines) lines, $written written"
        check="query --fleet = $written lines written"
    fi
    # A full minute of one host: its largest minute hash, and a stream entry on average.
    local mh=0 se
    [ -n "$CL" ] || mh=$(rc --scan --pattern 'smtpmon:{fleet-h0000}:c:m:*' | while read -r k; do rc MEMORY USAGE "$k"; done | sort -n | tail -n 1)
    se=$(awk -v u="$(rc MEMORY USAGE 'smtpmon:{fleet-h0000}:ts' SAMPLES 0)" -v n="$(rc XLEN 'smtpmon:{fleet-h0000}:ts')" 'BEGIN {print (n > 0 ? int(u / n) : 0)}')
    for p in $APIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $APIDS; do
        for ((w = 0; w < 100; w++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    for p in $RPID; do kill "$p" 2>/dev/null; done
    for p in $RPID; do wait "$p" 2>/dev/null; done
    unset SMTPMON_REDIS_CLUSTER
    local ages
    ages=$(sort -n "$T/ages.txt" | awk '{a[NR] = $1} END {if (NR) printf "%.2f %.2f %.2f", a[int(NR * 0.5) + 1], a[(int(NR * 0.99) + 1 > NR) ? NR : int(NR * 0.99) + 1], a[NR]; else print "- - -"}')
    awk -v n="$N" -v f="$FLEET" -v r="$RATE" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" \
        -v dt="$(( t1 - t0 ))" -v ev="$ev" -v ins="$ins" -v usec="$usec" -v dm="$((m1 - m0))" \
        -v ag="$((a1 - a0))" -v hz="$(getconf CLK_TCK)" -v ages="$ages" -v lag="$lagmax" \
        -v load="$load" -v up="$t_up" -v sim="$sim" -v d="$d" -v pm="$per_master" -v fl="$FLUSH" -v simlat="$simlat" -v mh="$mh" -v se="$se" -v check="$check" 'BEGIN {
        s = dt / 1000; split(ages, a, " ")
        printf "fleet-bench: %sN=%d fleet=%s %g lines/s a host, flush_interval %d ms, %.0f s (%s up in %d s)\n", (pm != "" ? "cluster, " : ""), n, f, r, fl, s, sim ? "one process hosting the agent ids" : "agent processes", up
        printf "  redis CPU %.1f%% of a core (%.2f ms per host-second); %.0f EVALSHA/s (%.0f us each), %.0f calls/s inside scripts\n",
            100 * c / s, 1000 * c / s / n, ev / s, usec, ins / s
        printf "  memory a host a day: %.1f MiB from 1440 x (a full minute hash %d B + a stream entry %d B); used_memory_dataset grew %.0f bytes over the window (%.1f MiB a host a day, with the all-time hashes filling)\n",
            1440 * (mh + se) / 1048576, mh, se, dm, dm / n / s * 86400 / 1048576
        printf "  commit age p50 %s s, p99 %s s, max %s s; largest lag %d bytes; agents %.2f ms CPU per host-second; load %s\n",
            a[1], a[2], a[3], lag, 1000 * ag / hz / s / n, load
        getline top < (d "/top.txt"); print top
        if (pm != "") printf "  CPU of each master:%s\n", pm
        if (simlat != "") printf "  commit latency %s\n", simlat
        if (check != "-") printf "  %s\n", check
        printf "| %d%s%s | %s | %g | %g | %.1f%% | %.3f | %.0f | %.0f | %.0f | %.1f | %s / %s / %s | %.2f | %s |\n",
            n, sim ? " (one process)" : "", (pm != "" ? ", cluster:" pm : ""), f, r, fl / 1000, 100 * c / s, 1000 * c / s / n, ev / s, ins / s, usec, 1440 * (mh + se) / 1048576,
            a[1], a[2], a[3], 1000 * ag / hz / s / n, load > "/dev/stderr"
    }' 2>> "$T/table.md"
    # shellcheck disable=SC2034 # the helpers of lib.sh's cleanup: this run's are stopped
    BG_PIDS=
}

for n in $SIZES; do
    for f in $MODES; do
        run "$n" "$f"
    done
done
echo
echo "| hosts | fleet | lines/s a host | flush s | Redis CPU | ms a host-second | EVALSHA/s | calls/s in scripts | us per EVALSHA | MiB a host a day | commit age p50/p99/max s | agent ms CPU a host-second | load 1/5/15 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
cat "$T/table.md"
