#!/usr/bin/env bash
# Benchmark of 'smtpmon scan' against wc -l and grep on a generated Postfix relay log (or,
# with BENCH_GEN=exim, a generated Exim main log).
#
#   bash tests/bench/bench.sh            (what 'make bench' runs)
#   BENCH_GEN=exim bash tests/bench/bench.sh
#
# Environment:
#   BENCH_GEN     postfix (tests/bench/gen.c, the default) or exim (tests/bench/gen-exim.c)
#   BENCH_LINES   lines in the generated log (default 5000000)
#   BENCH_SEED    generator seed (default 1)
#   BENCH_ROUNDS  timed rounds, commands alternating within each round (default 5)
#   SMTPMON       the binary to measure (default build/smtpmon; relative to the repository)
#   CC            compiler for the generator (default cc)
#
# Prints medians, the ratios scan/wc and scan/grep against their targets, scan's peak RSS,
# and writes the same as JSON to build/bench/result.json (result-exim.json for BENCH_GEN=exim).
# A MISS is reported, not fatal: the exit status is non-zero only when a command fails.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

bd=build/bench
mta=${BENCH_GEN:-postfix}
case $mta in
postfix) gen_src=tests/bench/gen.c name=relay ;;
exim) gen_src=tests/bench/gen-exim.c name=exim ;;
*)
    echo "bench: BENCH_GEN must be postfix or exim, not '$mta'" >&2
    exit 1
    ;;
esac
log=$bd/$name.log
stamp=$bd/$name.stamp
result=$bd/result.json
[[ $mta == postfix ]] || result=$bd/result-$mta.json
lines=${BENCH_LINES:-5000000}
seed=${BENCH_SEED:-1}
rounds=${BENCH_ROUNDS:-5}
smtpmon=${SMTPMON:-build/smtpmon}
cc=${CC:-cc}
time_bin=/usr/bin/time

target_wc=8
target_grep=1.5
target_rss_kib=16384
dsn_re='dsn=[245]\.[0-9]{1,3}\.[0-9]{1,3}'
code_re='(dsn=|: [245][0-9][0-9] )'
grep_label="grep -cE dsn="
if [[ $mta == exim ]]; then
    # Exim writes the remote reply after C=" or ": ", ACL refusals without a code.
    dsn_re='(C="|: )[245][0-9][0-9][ -]'
    code_re=$dsn_re
    grep_label="grep -cE code"
fi

die() {
    echo "bench: $*" >&2
    exit 1
}

for v in lines seed rounds; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ -x $time_bin ]] || die "GNU time is needed at $time_bin (Debian package 'time')"
mkdir -p "$bd"

# --- the generator and the log ------------------------------------------------------------

gen=$bd/$(basename "$gen_src" .c)
if [[ ! -x $gen || $gen_src -nt $gen ]]; then
    "$cc" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$gen" "$gen_src"
fi

gen_sum=$(sha256sum "$gen_src" | cut -c1-16)
want="lines=$lines seed=$seed gen=$gen_sum"

stamp_get() {
    sed -n "s/^$1=//p" "$stamp" 2>/dev/null | head -n 1
}

now_us() {
    local t=$EPOCHREALTIME
    echo "${t//[!0-9]/}"
}

have=""
if [[ -f $log && -f $stamp ]]; then
    have="lines=$(stamp_get lines) seed=$(stamp_get seed) gen=$(stamp_get gen)"
    if [[ $(stat -c %s "$log") != "$(stamp_get bytes)" ]]; then
        have=""
    fi
fi
generated=0
if [[ $have != "$want" ]]; then
    echo "generating $log ($lines lines, seed $seed) ..."
    rm -f "$stamp"
    t0=$(now_us)
    "$gen" "$lines" "$seed" > "$log.tmp"
    t1=$(now_us)
    mv "$log.tmp" "$log"
    gen_s=$(awk -v us=$((t1 - t0)) 'BEGIN { printf "%.2f", us / 1e6 }')
    code_lines=$(grep -cE "$code_re" "$log" || true)
    dsn_lines=$(grep -cE "$dsn_re" "$log" || true)
    {
        echo "lines=$lines"
        echo "seed=$seed"
        echo "gen=$gen_sum"
        echo "bytes=$(stat -c %s "$log")"
        echo "gen_seconds=$gen_s"
        echo "code_lines=$code_lines"
        echo "dsn_lines=$dsn_lines"
    } > "$stamp"
    generated=1
fi
bytes=$(stamp_get bytes)
gen_s=$(stamp_get gen_seconds)
code_lines=$(stamp_get code_lines)
dsn_lines=$(stamp_get dsn_lines)

# --- what to run -----------------------------------------------------------------------------

names=(wc grep)
declare -A label
label[wc]="wc -l"
label[grep]=$grep_label
label[scan]="smtpmon scan"
label[scan1]="scan --jobs 1"
label[scannj]="scan --no-jit"

scan_note=""
if [[ ! -x $smtpmon ]]; then
    scan_note="no smtpmon binary at $smtpmon (build it with 'make'): scan not measured"
else
    head -n 2000 "$log" > "$bd/probe.log"
    if ! "$smtpmon" scan --format json "$bd/probe.log" > /dev/null 2> "$bd/err.scan"; then
        cat "$bd/err.scan" >&2
        die "'$smtpmon scan --format json' failed on $bd/probe.log"
    fi
    names+=(scan)
    if "$smtpmon" scan --jobs 1 --format json "$bd/probe.log" > /dev/null 2>&1; then
        names+=(scan1)
    else
        scan_note="$smtpmon scan does not accept --jobs 1: single-thread line skipped"
    fi
    # The interpreter, as under MemoryDenyWriteExecute=yes (the packaged systemd unit).
    if "$smtpmon" scan --no-jit --format json "$bd/probe.log" > /dev/null 2>&1; then
        names+=(scannj)
    fi
fi

declare -A times rss
# Runs one command under GNU time; appends its wall time (microseconds) to times[NAME] and
# keeps the largest peak RSS (KiB) in rss[NAME].
measure() {
    local name=$1 t0 t1 rc=0 out=/dev/null kib
    local -a cmd

    case $name in
    wc) cmd=(wc -l "$log") ;;
    grep) cmd=(grep -cE "$dsn_re" "$log") ;;
    scan) cmd=("$smtpmon" scan --format json "$log") ;;
    scan1) cmd=("$smtpmon" scan --jobs 1 --format json "$log") ;;
    scannj) cmd=("$smtpmon" scan --no-jit --format json "$log") ;;
    esac
    if [[ $name == wc || $name == grep ]]; then
        out=$bd/out.$name
    fi
    t0=$(now_us)
    "$time_bin" -f '%M' -o "$bd/time.$name" "${cmd[@]}" > "$out" 2> "$bd/err.$name" || rc=$?
    t1=$(now_us)
    # grep -c exits 1 when nothing matched
    if [[ $rc -ne 0 && ! ($name == grep && $rc -eq 1) ]]; then
        tail -n 20 "$bd/err.$name" >&2
        die "'${cmd[*]}' failed (exit status $rc)"
    fi
    kib=$(tail -n 1 "$bd/time.$name")
    times[$name]+="$((t1 - t0)) "
    if [[ -z ${rss[$name]:-} || $kib -gt ${rss[$name]} ]]; then
        rss[$name]=$kib
    fi
}

calc() {
    awk "BEGIN { $1 }"
}

# --- measure ----------------------------------------------------------------------------------

pct=$(calc "printf \"%.1f\", 100 * $code_lines / $lines")
printf 'log    %s: %s lines, %.1f MB, seed %s\n' "$log" "$lines" "$(calc "print $bytes / 1e6")" \
    "$seed"
printf 'mix    %s lines (%s%%) carry a reply or enhanced code, %s have dsn=\n' "$code_lines" \
    "$pct" "$dsn_lines"
if [[ $generated -eq 1 ]]; then
    echo "gen    generated in $gen_s s"
else
    echo "gen    reused (generated in $gen_s s; $stamp)"
fi
echo "host   $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
if [[ -n $scan_note ]]; then
    echo "note   $scan_note"
fi

cat "$log" > /dev/null
cat "$log" > /dev/null

for ((r = 1; r <= rounds; r++)); do
    line="round  $r/$rounds:"
    for n in "${names[@]}"; do
        measure "$n"
        last=${times[$n]% }
        last=${last##* }
        line+=$(printf '  %s %.3f' "$n" "$(calc "print $last / 1e6")")
    done
    echo "$line"
done

wc_count=$(awk '{ print $1 }' "$bd/out.wc")
grep_count=$(cat "$bd/out.grep")
[[ $wc_count -eq $lines ]] || die "wc -l counted $wc_count lines, expected $lines"

median() {
    tr ' ' '\n' <<< "$1" | awk 'NF' | sort -n |
        awk '{ v[NR] = $1 } END {
            if (NR % 2) { m = v[(NR + 1) / 2] } else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2 }
            printf "%.6f", m / 1e6 }'
}

verdict() {
    calc "print ($1 <= $2 ? \"PASS\" : \"MISS\")"
}

ratio() {
    calc "printf \"%.2f\", ($2 > 0 ? $1 / $2 : 0)"
}

mib() {
    calc "printf \"%.1f\", $1 / 1024"
}

jbool() {
    if [[ $1 == PASS ]]; then
        echo true
    else
        echo false
    fi
}

declare -A med
for n in "${names[@]}"; do
    med[$n]=$(median "${times[$n]}")
done

echo
printf '%-15s %9s %11s\n' "" "median" "peak RSS"
for n in "${names[@]}"; do
    printf '%-15s %8.3fs %7s MiB\n' "${label[$n]}" "${med[$n]}" "$(mib "${rss[$n]}")"
done

# The common members of a command's JSON object, without the closing brace.
tool_json() {
    local list=${times[$1]% }

    printf '{"median_s": %s, "max_rss_kib": %s, "times_us": [%s]' "${med[$1]}" "${rss[$1]}" \
        "${list// /, }"
}

json_scan=null
json_scan1=null
json_scannj=null
if [[ -n ${med[scan]:-} ]]; then
    r_wc=$(ratio "${med[scan]}" "${med[wc]}")
    r_grep=$(ratio "${med[scan]}" "${med[grep]}")
    v_wc=$(verdict "$r_wc" "$target_wc")
    v_grep=$(verdict "$r_grep" "$target_grep")
    v_rss=$(verdict "${rss[scan]}" "$target_rss_kib")
    lps=$(calc "printf \"%.0f\", $lines / ${med[scan]}")
    mbps=$(calc "printf \"%.1f\", $bytes / ${med[scan]} / 1e6")
    echo
    printf 'scan/wc    %6sx     target <= %-7s %s\n' "$r_wc" "${target_wc}x" "$v_wc"
    printf 'scan/grep  %6sx     target <= %-7s %s\n' "$r_grep" "${target_grep}x" "$v_grep"
    printf 'scan RSS   %6s MiB  target <= %-7s %s\n' "$(mib "${rss[scan]}")" \
        "$((target_rss_kib / 1024)) MiB" "$v_rss"
    printf 'scan rate  %.2f M lines/s, %s MB/s\n' "$(calc "print $lps / 1e6")" "$mbps"
    json_scan="$(tool_json scan), \"lines_per_s\": $lps, \"mb_per_s\": $mbps,"
    json_scan+=" \"ratio_wc\": $r_wc, \"ratio_grep\": $r_grep, \"wc_pass\": $(jbool "$v_wc"),"
    json_scan+=" \"grep_pass\": $(jbool "$v_grep"), \"rss_pass\": $(jbool "$v_rss")}"
    if [[ -n ${med[scan1]:-} ]]; then
        r1_wc=$(ratio "${med[scan1]}" "${med[wc]}")
        r1_grep=$(ratio "${med[scan1]}" "${med[grep]}")
        v1_wc=$(verdict "$r1_wc" "$target_wc")
        v1_grep=$(verdict "$r1_grep" "$target_grep")
        v1_rss=$(verdict "${rss[scan1]}" "$target_rss_kib")
        printf 'jobs 1     %.3fs: scan/wc %sx %s, scan/grep %sx %s, RSS %s MiB %s\n' \
            "${med[scan1]}" "$r1_wc" "$v1_wc" "$r1_grep" "$v1_grep" "$(mib "${rss[scan1]}")" \
            "$v1_rss"
        json_scan1="$(tool_json scan1), \"ratio_wc\": $r1_wc, \"ratio_grep\": $r1_grep,"
        json_scan1+=" \"wc_pass\": $(jbool "$v1_wc"), \"grep_pass\": $(jbool "$v1_grep"),"
        json_scan1+=" \"rss_pass\": $(jbool "$v1_rss")}"
    fi
    if [[ -n ${med[scannj]:-} ]]; then
        # The packaged unit sets MemoryDenyWriteExecute=yes: the same targets hold without JIT.
        rn_wc=$(ratio "${med[scannj]}" "${med[wc]}")
        rn_grep=$(ratio "${med[scannj]}" "${med[grep]}")
        vn_wc=$(verdict "$rn_wc" "$target_wc")
        vn_grep=$(verdict "$rn_grep" "$target_grep")
        vn_rss=$(verdict "${rss[scannj]}" "$target_rss_kib")
        printf 'no JIT     %.3fs: scan/wc %sx %s, scan/grep %sx %s, RSS %s MiB %s, %.2f M lines/s (MemoryDenyWriteExecute)\n' \
            "${med[scannj]}" "$rn_wc" "$vn_wc" "$rn_grep" "$vn_grep" "$(mib "${rss[scannj]}")" \
            "$vn_rss" "$(calc "print $lines / ${med[scannj]} / 1e6")"
        json_scannj="$(tool_json scannj), \"ratio_wc\": $rn_wc, \"ratio_grep\": $rn_grep,"
        json_scannj+=" \"wc_pass\": $(jbool "$vn_wc"), \"grep_pass\": $(jbool "$vn_grep"),"
        json_scannj+=" \"rss_pass\": $(jbool "$vn_rss")}"
    fi
fi

cat > "$result" << END_JSON
{
  "log": {"path": "$log", "lines": $lines, "bytes": $bytes, "seed": $seed,
          "gen_seconds": $gen_s, "code_lines": $code_lines, "dsn_lines": $dsn_lines},
  "rounds": $rounds,
  "cpus": $(nproc),
  "targets": {"scan_wc_ratio_max": $target_wc, "scan_grep_ratio_max": $target_grep,
              "scan_rss_kib_max": $target_rss_kib},
  "wc": $(tool_json wc)},
  "grep": $(tool_json grep), "count": $grep_count},
  "scan": $json_scan,
  "scan_jobs1": $json_scan1,
  "scan_no_jit": $json_scannj
}
END_JSON
echo
echo "wrote $result"
