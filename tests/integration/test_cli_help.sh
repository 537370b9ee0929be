#!/bin/bash
# The CLI tells the truth: the options each command's parser accepts (its getopt_long table and
# short-option string, read from the sources) are all in `smtpmon [COMMAND] --help`, in the
# command's part of smtpmon(8) and in its SYNOPSIS, and neither names an option the parser does
# not accept; `smtpmon --help` lists every command of agent/cmd/main.c with all its options; every
# sysexits.h status the sources use is in the EXIT STATUS table of smtpmon(8) and of README.md.
# The binary links neither libsystemd nor libmicrohttpd (their code loads them when a journal
# source opens or serve starts), so no command pays their memory.
. "$(dirname "$0")/lib.sh"

need man col
declare -A SRC=([agent]=agent/options.c [scan]=agent/scan.c [explain]=agent/explain.c
    [query]=exporters/query.c [alerts]=exporters/alerts_out.c
    [serve]=exporters/serve.c [top]=exporters/top.c)

# Long options of a parser: the names of its 'struct option' table.
longopts() {
    awk '/struct option longopts\[\] = \{/ {t = 1; next} t && /\{NULL, 0, NULL, 0\}/ {exit}
         t { while (match($0, /\{"[a-z0-9-]+",/)) {
                 print substr($0, RSTART + 2, RLENGTH - 4); $0 = substr($0, RSTART + RLENGTH) } }' \
        "$ROOT/$1"
}
# Short options: the letters of the getopt_long option string.
shortopts() {
    grep -o 'getopt_long(argc, argv, "[^"]*"' "$ROOT/$1" | sed 's/.*"\(.*\)"/\1/' |
        tr -d '+:' | fold -w1
}
# The short option of a long one, if the table maps it to a letter of the option string.
shortof() {
    _l=$(grep -oE "\{\"$2\", [a-z_]+, NULL, '[a-zA-Z]'\}" "$ROOT/$1" | sed "s/.*'\(.\)'}/\1/")
    [ -n "$_l" ] && shortopts "$1" | grep -qx "$_l" && echo "$_l"
}
# The commands main() dispatches on, and its own options (--version, -V).
main_words() {
    grep -o 'strcmp(argv\[1\], "[^"]*")' "$ROOT/agent/cmd/main.c" | sed 's/.*"\(.*\)")/\1/'
}

cmds=$(main_words | grep -v '^-')
for c in scan explain query alerts; do
    printf '%s\n' "$cmds" | grep -qx "$c" || fail "main.c has no command '$c' (test out of date)"
done
for c in $cmds; do
    [ -n "${SRC[$c]:-}" ] || fail "command '$c' of main.c is not known to this test"
done
[ "$(longopts agent/options.c | wc -l)" -ge 15 ] || fail "cannot read the agent's option table"

LC_ALL=C MANWIDTH=400 man --warnings -l "$ROOT/packaging/man/smtpmon.8" 2> "$T/man.warn" |
    col -b > "$T/man.txt" || fail "man failed"
[ ! -s "$T/man.warn" ] || fail "man warnings: $(cat "$T/man.warn")"
sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' "$T/man.txt" > "$T/man.synopsis"

# has FILE OPT: the option as a whole word (--max-line is not --max-line-x; -f is not -fx).
has() {
    grep -qE -- "(^|[^a-zA-Z0-9-])$2([^a-zA-Z0-9-]|\$)" "$1"
}
# invented FILE CMD: options named in FILE that the parser of CMD does not accept.
invented() {
    grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z0-9-]*' "$1" | sed 's/^[^-]*//' | sort -u |
        while read -r o; do
            longopts "${SRC[$2]}" | grep -qx -- "${o#--}" ||
                { [ "$2" = agent ] && [ "$o" = --version ]; } || echo "$o"
        done
}

for c in agent $cmds; do
    src=${SRC[$c]}
    if [ "$c" = agent ]; then
        "$SMTPMON" --help > "$T/help.full" 2> "$T/help.err" || fail "smtpmon --help exited $?"
        # Its own part: up to the list of commands.
        sed '/^commands /,$d' "$T/help.full" > "$T/help.txt"
        sed -n '/^OPTIONS/,/^COMMANDS/p' "$T/man.txt" > "$T/man.part"
    else
        "$SMTPMON" "$c" --help > "$T/help.txt" 2> "$T/help.err" || fail "smtpmon $c --help exited $?"
        awk -v h="   smtpmon $c" '$0 == h {p = 1; next} p && (/^   smtpmon / || /^[A-Z]/) {exit} p' \
            "$T/man.txt" > "$T/man.part"
        grep -qE "^ *smtpmon $c( |$)" "$T/man.synopsis" || fail "smtpmon(8) SYNOPSIS lacks '$c'"
    fi
    [ ! -s "$T/help.err" ] || fail "$c --help wrote to stderr: $(cat "$T/help.err")"
    [ -s "$T/man.part" ] || fail "smtpmon(8) has no section for '$c'"
    for o in $(longopts "$src"); do
        has "$T/help.txt" "--$o" || fail "$c --help misses --$o"
        has "$T/man.part" "--$o" || fail "smtpmon(8) misses --$o of $c"
        # The SYNOPSIS may show the short form (-f for --config).
        short=$(shortof "$src" "$o")
        [ "$o" = help ] || has "$T/man.synopsis" "--$o" ||
            { [ -n "$short" ] && has "$T/man.synopsis" "-$short"; } ||
            fail "smtpmon(8) SYNOPSIS misses --$o of $c"
        [ "$c" = agent ] || [ "$o" = help ] || has "$T/help.full" "--$o" ||
            fail "smtpmon --help misses --$o of $c"
    done
    for s in $(shortopts "$src"); do
        has "$T/help.txt" "-$s" || fail "$c --help misses -$s"
        has "$T/man.part" "-$s" || fail "smtpmon(8) misses -$s of $c"
    done
    bad=$(invented "$T/help.txt" "$c")
    [ -z "$bad" ] || fail "$c --help names options its parser does not accept: $bad"
    bad=$(invented "$T/man.part" "$c")
    [ -z "$bad" ] || fail "smtpmon(8) names options of $c its parser does not accept: $bad"
done
# smtpmon --help names every command; --version and -V are in the help and the man page.
for c in $cmds; do
    grep -qE "^(usage: )?smtpmon $c( |$)" "$T/help.full" || fail "smtpmon --help misses '$c'"
done
for o in $(main_words | grep '^-'); do
    has "$T/help.full" "$o" || fail "smtpmon --help misses $o"
    has "$T/man.txt" "$o" || fail "smtpmon(8) misses $o"
done

# One exit status table: every EX_ name the sources return is in both tables, with its value.
sed -n '/^EXIT STATUS/,/^EXAMPLES/p' "$T/man.txt" > "$T/man.exit"
sed -n '/^## Exit status/,/^## /p' "$ROOT/README.md" > "$T/readme.exit"
[ -s "$T/readme.exit" ] || fail "README.md has no '## Exit status' section"
for ex in $(grep -ohE '\bEX_[A-Z]+\b' "$ROOT"/agent/cmd/*.c "$ROOT"/agent/common/*.c "$ROOT"/agent/*.c "$ROOT"/agent/core/*.c "$ROOT"/exporters/*.c | sort -u); do
    v=$(printf '#include <sysexits.h>\n%s\n' "$ex" | cc -E -P - | tail -n 1 | tr -d ' ')
    grep -qE "^ *$v \($ex\)" "$T/man.exit" || fail "smtpmon(8) EXIT STATUS lacks $v ($ex)"
    grep -qE "^\| $v \| \`?$ex\`? \|" "$T/readme.exit" || fail "README.md exit table lacks $v ($ex)"
done
# No bare numeric exit status in the commands' return paths.
if grep -nE '(return|exit\(|fatalx?\() *(1|2|64|65|66|69|70|71|73|74|75|77|78)\b[;,)]' \
    "$ROOT"/agent/cmd/main.c "$ROOT"/agent/options.c "$ROOT"/agent/daemon.c "$ROOT"/agent/stream.c "$ROOT"/agent/batchq.c \
    "$ROOT"/agent/reload.c "$ROOT"/agent/scan.c "$ROOT"/agent/explain.c \
    "$ROOT"/exporters/query.c "$ROOT"/exporters/serve.c "$ROOT"/exporters/top.c "$ROOT"/exporters/alerts_out.c | grep -v '^[^:]*:[0-9]*: *return 1;$' \
    > "$T/bare"; then
    fail "bare exit statuses: $(cat "$T/bare")"
fi
if grep -n '\bexit(' "$ROOT"/exporters/*.c "$ROOT"/agent/common/*.c "$ROOT"/agent/*.c "$ROOT"/agent/core/*.c | grep -v '_exit(' > "$T/exit"; then
    fail "exit() below main: $(cat "$T/exit")"
fi
if command -v ldd > /dev/null && ldd "$SMTPMON" | grep -E 'libsystemd|libmicrohttpd|libgnutls' > "$T/ldd"; then
    fail "the binary links libraries that are loaded on demand: $(cat "$T/ldd")"
fi
exit 0
