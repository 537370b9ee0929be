#!/usr/bin/env bash
# Benchmark of 'smtpmon scan' against wc -l and grep -cE, in one run over five inputs:
#
#   postfix  the busy Postfix relay of tests/bench/gen.c (BENCH_LINES lines)
#   exim     an Exim main log of tests/bench/gen-exim.c (BENCH_LINES lines)
#   sendmail the syslog of a mixed Sendmail host of tests/bench/gen-sendmail.c (BENCH_LINES)
#   files    the first BENCH_LINES / 5 relay lines in 1,000 files, against the same lines in one
#   gz       the same lines as a rotation set of 30 gzip-compressed files
#
#   bash tests/bench/bench.sh            (what 'make bench' runs)
#   BENCH_SETS="postfix files" bash tests/bench/bench.sh
#
# Environment:
#   BENCH_SETS    the inputs to measure (default "postfix exim sendmail files gz"); BENCH_GEN=SET
#                 is read as that one set
#   BENCH_LINES   lines of the relay log (default 5000000); the other inputs scale with it
#   BENCH_SEED    generator seed (default 1)
#   BENCH_ROUNDS  timed rounds, commands alternating within each round (default 3)
#   SMTPMON       the binary to measure (default build/smtpmon; relative to the repository)
#   CC            compiler for the generators (default cc)
#
# Each scan runs with the default threads and with --jobs 1, with and without JIT. Prints the
# medians, peak RSS, the ratios against wc -l and grep -cE, and PASS or MISS against the targets,
# and writes the same as JSON to build/bench/result.json. A MISS is reported, not fatal: the exit
# status is non-zero only when a command fails.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

bd=build/bench
lines=${BENCH_LINES:-5000000}
seed=${BENCH_SEED:-1}
rounds=${BENCH_ROUNDS:-3}
smtpmon=${SMTPMON:-build/smtpmon}
cc=${CC:-cc}
time_bin=/usr/bin/time
sets=${BENCH_SETS:-postfix exim sendmail files gz}
if [[ -n ${BENCH_GEN:-} ]]; then
    sets=$BENCH_GEN
fi
result=$bd/result.json
nfiles=1000
ngz=30

# The targets of this round.
target_wc=3        # postfix, default threads: scan <= 3x wc -l
target_wc1=6       # postfix, --jobs 1
target_grep=0.8    # postfix, default threads: scan <= 0.8x grep -cE
target_exim=2      # exim's and sendmail's scan/wc ratio <= 2x postfix's
target_files=1.5   # 1,000 files <= 1.5x the same lines in one file
target_rss_kib=8192

pf_re='dsn=[245]\.[0-9]{1,3}\.[0-9]{1,3}'
# Exim writes the remote reply after C=" or ": ", ACL refusals without a code.
exim_re='(C="|: )[245][0-9][0-9][ -]'
# Sendmail writes a code after dsn= (deliveries) and reject= (the check_* rulesets, milters).
sm_re='dsn=[245]\.[0-9]{1,3}\.[0-9]{1,3}|reject=[245][0-9][0-9] '

die() {
    echo "bench: $*" >&2
    exit 1
}

for v in lines seed rounds; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, not '${!v}'"
done
for s in $sets; do
    case $s in
    postfix | exim | sendmail | files | gz) ;;
    *) die "BENCH_SETS: unknown set '$s' (postfix exim sendmail files gz)" ;;
    esac
done
[[ -x $time_bin ]] || die "GNU time is needed at $time_bin (Debian package 'time')"
[[ -x $smtpmon ]] || die "no smtpmon binary at $smtpmon (build it with 'make')"
mkdir -p "$bd"

now_us() {
    local t=$EPOCHREALTIME
    echo "${t//[!0-9]/}"
}

calc() {
    awk "BEGIN { $1 }"
}

# --- the inputs -------------------------------------------------------------------------------

# gen SRC LINES OUT: OUT from generator SRC unless the stamp says it is there already.
gen_log() {
    local src=$1 n=$2 out=$3 bin want t0 t1
    bin=$bd/$(basename "$src" .c)
    if [[ ! -x $bin || $src -nt $bin || $(dirname "$src")/rng.h -nt $bin ]]; then
        "$cc" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$bin" "$src"
    fi
    want="lines=$n seed=$seed gen=$(sha256sum "$src" | cut -c1-16)"
    if [[ -f $out && -f $out.stamp && $(head -n 1 "$out.stamp") == "$want" &&
        $(sed -n 2p "$out.stamp") == "$(stat -c %s "$out")" ]]; then
        return
    fi
    echo "generating $out ($n lines, seed $seed) ..."
    t0=$(now_us)
    "$bin" "$n" "$seed" > "$out.tmp"
    t1=$(now_us)
    mv "$out.tmp" "$out"
    printf '%s\n%s\n%s\n' "$want" "$(stat -c %s "$out")" \
        "$(calc "printf \"%.1f\", $((t1 - t0)) / 1e6")" > "$out.stamp"
}

relay=$bd/relay.log
exim=$bd/exim.log
sendmail=$bd/sendmail.log
part_lines=$((lines / 5))
# As many lines as the relay's: a tenth of them took wc -l 11 to 20 ms, its start-up a part
# of it, and the ratio moved with it.
exim_lines=$lines
[[ $part_lines -ge $nfiles ]] || die "BENCH_LINES must be at least $((nfiles * 5))"
if [[ " $sets " == *" postfix "* || " $sets " == *" files "* || " $sets " == *" gz "* ]]; then
    gen_log tests/bench/gen.c "$lines" "$relay"
fi
if [[ " $sets " == *" exim "* ]]; then
    gen_log tests/bench/gen-exim.c "$exim_lines" "$exim"
fi
if [[ " $sets " == *" sendmail "* ]]; then
    gen_log tests/bench/gen-sendmail.c "$exim_lines" "$sendmail"
fi
one=$bd/one.log
fdir=$bd/files
gdir=$bd/gz
if [[ " $sets " == *" files "* || " $sets " == *" gz "* ]]; then
    want="$(head -n 1 "$relay.stamp") part=$part_lines files=$nfiles gz=$ngz"
    if [[ ! -f $bd/parts.stamp || $(cat "$bd/parts.stamp") != "$want" ]]; then
        echo "splitting the first $part_lines lines into $nfiles files and $ngz .gz files ..."
        rm -rf "$fdir" "$gdir" "$bd/parts.stamp"
        mkdir -p "$fdir" "$gdir"
        head -n "$part_lines" "$relay" > "$one"
        split -n "l/$nfiles" -a 4 -d "$one" "$fdir/mail.log."
        split -n "l/$ngz" -a 2 -d "$one" "$gdir/mail.log."
        for f in "$gdir"/mail.log.*; do
            gzip -1 "$f"
        done
        echo "$want" > "$bd/parts.stamp"
    fi
fi

# --- measuring ----------------------------------------------------------------------------------

declare -A cmd label times rss med

# def NAME LABEL COMMAND...: one command of the current set (a shell string for pipelines).
def() {
    local name=$1 lab=$2
    shift 2
    cmd[$name]=$*
    label[$name]=$lab
    times[$name]=""
    rss[$name]=0
}

# Runs one command under GNU time, output discarded; keeps its wall time and peak RSS.
measure() {
    local name=$1 t0 t1 rc=0 kib
    t0=$(now_us)
    "$time_bin" -f '%M' -o "$bd/time.$name" sh -c "${cmd[$name]}" > "$bd/out.$name" \
        2> "$bd/err.$name" || rc=$?
    t1=$(now_us)
    # grep -c exits 1 when nothing matched
    if [[ $rc -ne 0 && ! ($name == *grep && $rc -eq 1) ]]; then
        tail -n 20 "$bd/err.$name" >&2
        die "'${cmd[$name]}' failed (exit status $rc)"
    fi
    kib=$(tail -n 1 "$bd/time.$name")
    times[$name]+="$((t1 - t0)) "
    if [[ $kib -gt ${rss[$name]} ]]; then
        rss[$name]=$kib
    fi
}

median() {
    tr ' ' '\n' <<< "$1" | awk 'NF' | sort -n |
        awk '{ v[NR] = $1 } END {
            if (NR % 2) { m = v[(NR + 1) / 2] } else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2 }
            printf "%.6f", m / 1e6 }'
}

ratio() {
    calc "printf \"%.2f\", ($2 > 0 ? $1 / $2 : 0)"
}

mib() {
    calc "printf \"%.1f\", $1 / 1024"
}

verdict() {
    calc "print ($1 <= $2 ? \"PASS\" : \"MISS\")"
}

json=""
verdicts=""
rss_worst=0
rss_worst_name=""

# run_set SET NAME...: the rounds, then the table of the set.
run_set() {
    local set=$1 n r
    shift
    local -a names=("$@")
    for ((r = 1; r <= rounds; r++)); do
        for n in "${names[@]}"; do
            measure "$n"
        done
    done
    printf '%-34s %9s %10s %8s %8s\n' "$set" "median" "peak RSS" "/wc -l" "/grep"
    for n in "${names[@]}"; do
        med[$n]=$(median "${times[$n]}")
        local rw="" rg="" note=""
        if [[ $n != *wc && $n != *grep ]]; then
            rw="$(ratio "${med[$n]}" "${med[${set}_wc]}")x"
            rg="$(ratio "${med[$n]}" "${med[${set}_grep]}")x"
            note="RSS $(verdict "${rss[$n]}" "$target_rss_kib")"
            if [[ ${rss[$n]} -gt $rss_worst ]]; then
                rss_worst=${rss[$n]}
                rss_worst_name="$set: ${label[$n]}"
            fi
        fi
        printf '  %-32s %8.3fs %6s MiB %8s %8s  %s\n' "${label[$n]}" "${med[$n]}" \
            "$(mib "${rss[$n]}")" "$rw" "$rg" "$note"
        local list=${times[$n]% }
        json+="    \"$n\": {\"label\": \"${label[$n]//\"/\\\"}\", \"median_s\": ${med[$n]},"
        json+=" \"max_rss_kib\": ${rss[$n]}, \"times_us\": [${list// /, }]},"$'\n'
    done
    echo
}

# check WHAT VALUE TARGET: one line of the verdicts.
check() {
    local v
    v=$(verdict "$2" "$3")
    verdicts+=$(printf '  %-52s %7sx  <= %-5s %s' "$1" "$2" "${3}x" "$v")$'\n'
    json+="    \"check: $1\": {\"value\": $2, \"target\": $3, \"pass\": $([[ $v == PASS ]] && echo true || echo false)},"$'\n'
}

scan="$smtpmon scan --format json"
echo "host   $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "rounds $rounds, commands alternating within each round; medians"
echo

for set in $sets; do
    case $set in
    postfix | exim | sendmail)
        f=$relay re=$pf_re
        if [[ $set == exim ]]; then
            f=$exim re=$exim_re
        elif [[ $set == sendmail ]]; then
            f=$sendmail re=$sm_re
        fi
        cat "$f" > /dev/null
        printf '%s: %s, %s lines, %.1f MB\n' "$set" "$f" "$(sed -n 1p "$f.stamp" | cut -d' ' -f1 |
            cut -d= -f2)" "$(calc "print $(stat -c %s "$f") / 1e6")"
        def "${set}_wc" "wc -l" wc -l "$f"
        def "${set}_grep" "grep -cE" grep -cE "'$re'" "$f"
        def "${set}_scan" "scan" "$scan" "$f"
        def "${set}_scan1" "scan --jobs 1" "$scan" --jobs 1 "$f"
        def "${set}_scannj" "scan --no-jit" "$scan" --no-jit "$f"
        def "${set}_scan1nj" "scan --jobs 1 --no-jit" "$scan" --jobs 1 --no-jit "$f"
        run_set "$set" "${set}_wc" "${set}_grep" "${set}_scan" "${set}_scan1" "${set}_scannj" \
            "${set}_scan1nj"
        ;;
    files)
        cat "$one" "$fdir"/* > /dev/null
        printf 'files: %s lines in %d files of %s, and in one file\n' "$part_lines" "$nfiles" "$fdir"
        def files_wc "wc -l (one file)" wc -l "$one"
        def files_grep "grep -cE (one file)" grep -cE "'$pf_re'" "$one"
        def files_one "scan, one file" "$scan" "$one"
        def files_many "scan, $nfiles files" "$scan" "$fdir/*"
        def files_one1 "scan --jobs 1, one file" "$scan" --jobs 1 "$one"
        def files_many1 "scan --jobs 1, $nfiles files" "$scan" --jobs 1 "$fdir/*"
        def files_onenj "scan --no-jit, one file" "$scan" --no-jit "$one"
        def files_manynj "scan --no-jit, $nfiles files" "$scan" --no-jit "$fdir/*"
        run_set files files_wc files_grep files_one files_many files_one1 files_many1 \
            files_onenj files_manynj
        ;;
    gz)
        cat "$gdir"/* > /dev/null
        printf 'gz: %s lines in %d gzip files of %s (%.1f MB)\n' "$part_lines" "$ngz" "$gdir" \
            "$(calc "print $(cat "$gdir"/* | wc -c) / 1e6")"
        def gz_wc "zcat | wc -l" "zcat $gdir/* | wc -l"
        def gz_grep "zcat | grep -cE" "zcat $gdir/* | grep -cE '$pf_re'"
        def gz_scan "scan" "$scan" "$gdir/*"
        def gz_scan1 "scan --jobs 1" "$scan" --jobs 1 "$gdir/*"
        def gz_scannj "scan --no-jit" "$scan" --no-jit "$gdir/*"
        def gz_scan1nj "scan --jobs 1 --no-jit" "$scan" --jobs 1 --no-jit "$gdir/*"
        run_set gz gz_wc gz_grep gz_scan gz_scan1 gz_scannj gz_scan1nj
        ;;
    esac
done

if [[ " $sets " == *" postfix "* ]]; then
    check "postfix scan / wc -l, default threads" "$(ratio "${med[postfix_scan]}" "${med[postfix_wc]}")" $target_wc
    check "postfix scan --no-jit / wc -l, default threads" "$(ratio "${med[postfix_scannj]}" "${med[postfix_wc]}")" $target_wc
    check "postfix scan --jobs 1 / wc -l" "$(ratio "${med[postfix_scan1]}" "${med[postfix_wc]}")" $target_wc1
    check "postfix scan / grep -cE, default threads" "$(ratio "${med[postfix_scan]}" "${med[postfix_grep]}")" $target_grep
fi
# An MTA's scan/wc ratio against Postfix's, in each mode: JIT with the default threads, then
# --jobs 1, then without JIT (the packaged unit's mode).
against_postfix() {
    local mta=$1 mode pr er label
    for mode in scan scan1 scannj; do
        case $mode in
        scan) label="$mta (scan / wc -l) / postfix (scan / wc -l)" ;;
        scan1) label="the same with --jobs 1" ;;
        scannj) label="the same with --no-jit (the packaged unit's mode)" ;;
        esac
        pr=$(calc "print ${med[postfix_$mode]} / ${med[postfix_wc]}")
        er=$(calc "print ${med[${mta}_$mode]} / ${med[${mta}_wc]}")
        check "$label" "$(ratio "$er" "$pr")" $target_exim
    done
}
for mta in exim sendmail; do
    if [[ " $sets " == *" postfix "* && " $sets " == *" $mta "* ]]; then
        against_postfix "$mta"
    fi
done
if [[ " $sets " == *" files "* ]]; then
    check "$nfiles files / one file, default threads" "$(ratio "${med[files_many]}" "${med[files_one]}")" $target_files
    check "$nfiles files / one file, --jobs 1" "$(ratio "${med[files_many1]}" "${med[files_one1]}")" $target_files
    check "$nfiles files / one file, --no-jit" "$(ratio "${med[files_manynj]}" "${med[files_onenj]}")" $target_files
fi
echo "targets"
printf '%s' "$verdicts"
printf '  %-52s %6s MiB <= %s MiB %s\n' "largest peak RSS of a scan" "$(mib "$rss_worst")" \
    "$((target_rss_kib / 1024))" "$(verdict "$rss_worst" "$target_rss_kib")"
echo "    ($rss_worst_name)"

{
    echo "{"
    echo "  \"lines\": $lines, \"seed\": $seed, \"rounds\": $rounds, \"cpus\": $(nproc),"
    echo "  \"sets\": \"$sets\", \"rss_target_kib\": $target_rss_kib, \"rss_max_kib\": $rss_worst,"
    echo "  \"results\": {"
    printf '%s' "${json%,$'\n'}"
    echo
    echo "  }"
    echo "}"
} > "$result"
echo
echo "wrote $result"
