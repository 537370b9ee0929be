#!/usr/bin/env bash
# Packaging tests: the systemd unit (verify, sandboxing score), the man pages, the Debian
# package (build, lintian, contents, install or extract, the installed binary), the RPM, the
# Grafana dashboard and alert rules (valid JSON; every Redis key and field they query exists
# in a real redis-server after the agent replayed a log), and the PCRE2 JIT fallback. When the
# package is installed for real, the installed unit also runs under systemd as PID 1 of a
# systemd-nspawn container (tests/packaging/systemd_nspawn.sh).
#
#   bash tests/packaging/run.sh          (what 'make test-packaging' runs)
#
# Environment: SMTPMON (the binary, default build/smtpmon); CI=true as root or
# SMTPMON_TEST_INSTALL=1 installs the .deb for real with dpkg -i and purges it at the end;
# KEEP_TMP=1 keeps the temporary directory.
#
# Prints PASS/FAIL/SKIP per check and 'packaging: N passed, N failed'; exits 1 on a failure.
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SMTPMON=${SMTPMON:-$ROOT/build/smtpmon}
UNIT=packaging/systemd/smtpmon.service
DASH=packaging/grafana/smtpmon-redis.json
RULES=packaging/grafana/alert-rules.json
T=$(mktemp -d "${TMPDIR:-/tmp}/smtpmon-pkg.XXXXXX")
chmod 755 "$T"
PASSED=0
FAILED=0
REDIS_PID=
AGENT_PID=
INSTALLED=0

cleanup() {
    stop_container
    [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2> /dev/null
    [ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2> /dev/null
    wait $AGENT_PID $REDIS_PID 2> /dev/null
    if [ "$INSTALLED" = 1 ]; then
        dpkg --purge smtpmon > /dev/null 2>&1
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT

pass() {
    echo "PASS: $*"
    PASSED=$((PASSED + 1))
}

fail() {
    echo "FAIL: $*"
    FAILED=$((FAILED + 1))
}

skip() {
    echo "SKIP: $*"
}

have() {
    command -v "$1" > /dev/null 2>&1
}

# wait_for SECONDS 'condition'
wait_for() {
    local deadline=$(($(date +%s) + $1))
    while ! eval "$2"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
    return 0
}

. "$ROOT/tests/packaging/systemd_nspawn.sh"

# --- systemd unit ---------------------------------------------------------------------------

check_unit_directives() {
    local missing="" d
    for d in '^Type=notify$' '^WatchdogSec=' '^ExecStartPre=-/usr/bin/smtpmon -n ' \
        '^ExecReload=/bin/kill -HUP \$MAINPID$' '^User=smtpmon$' '^SupplementaryGroups=adm$' \
        '^StateDirectory=smtpmon$' '^LoadCredential=redis-password:' \
        '^MemoryDenyWriteExecute=yes$' '^RestartPreventExitStatus=78$' '^NoNewPrivileges=yes$' \
        '^ProtectSystem=strict$' '^CapabilityBoundingSet=$' '^SystemCallFilter=@system-service$' \
        '^IPAddressDeny=any$'; do
        grep -q "$d" "$UNIT" || missing+=" $d"
    done
    if [ -z "$missing" ]; then
        pass "unit: notify, watchdog, check before start, SIGHUP reload, user in adm, state dir, credential, sandboxing"
    else
        fail "unit: missing directives:$missing"
    fi
}

check_unit_verify() {
    if ! have systemd-analyze; then
        skip "unit: systemd-analyze verify (no systemd-analyze; apt-get install systemd)"
        return
    fi
    # Offline: the binary and man pages are not installed here; everything else must pass.
    systemd-analyze verify --man=no "$ROOT/$UNIT" > "$T/verify.out" 2>&1
    if grep -v 'is not executable: No such file or directory' "$T/verify.out" |
        grep -q .; then
        fail "unit: systemd-analyze verify: $(grep -v 'is not executable' "$T/verify.out" | head -n 5)"
    else
        pass "unit: systemd-analyze verify"
    fi
}

check_unit_security() {
    local score
    if ! have systemd-analyze; then
        skip "unit: security score (no systemd-analyze)"
        return
    fi
    systemd-analyze security --offline=yes --no-pager "$ROOT/$UNIT" > "$T/security.out" 2>&1
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' "$T/security.out")
    SECURITY_SCORE=$score
    if [ -z "$score" ]; then
        fail "unit: no 'Overall exposure level' line: $(tail -n 3 "$T/security.out")"
    elif awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
        pass "unit: systemd-analyze security --offline=yes: $score (<= 2.0)"
    else
        fail "unit: systemd-analyze security: $score > 2.0"
    fi
}

# --- man pages ------------------------------------------------------------------------------

check_man() {
    local m ok=1
    if ! have man; then
        skip "man pages (no man; apt-get install man-db groff-base)"
        return
    fi
    for m in packaging/man/smtpmon.8 packaging/man/smtpmon.conf.5; do
        if ! MANWIDTH=80 man --warnings -l "$m" > "$T/man.out" 2> "$T/man.err"; then
            fail "man: $m does not render: $(head -n 3 "$T/man.err")"
            ok=0
        elif [ -s "$T/man.err" ]; then
            fail "man: $m: warnings: $(head -n 3 "$T/man.err")"
            ok=0
        elif ! grep -q '^NAME' "$T/man.out"; then
            fail "man: $m: no NAME section in the output"
            ok=0
        fi
    done
    [ $ok = 1 ] && pass "man: smtpmon(8) and smtpmon.conf(5) render with man --warnings -l, no warnings"
    # Every configuration key of the packaged file is documented in smtpmon.conf(5).
    local keys missing=""
    keys=$(sed -n 's/^;\{0,1\}\([a-z_]*\) = .*/\1/p' packaging/smtpmon.conf | sort -u)
    for k in $keys; do
        grep -q "^\.BR* $k\b\|^\.B $k$" packaging/man/smtpmon.conf.5 || missing+=" $k"
    done
    if [ -z "$missing" ]; then
        pass "man: smtpmon.conf(5) documents every key of packaging/smtpmon.conf"
    else
        fail "man: smtpmon.conf(5) lacks keys:$missing"
    fi
}

# --- Debian package -------------------------------------------------------------------------

DEB=
check_deb_build() {
    if ! have dpkg-buildpackage || ! have dh; then
        skip "deb: make deb (needs dpkg-dev and debhelper)"
        return
    fi
    if make --no-print-directory deb > "$T/deb.log" 2>&1; then
        DEB=$(ls -t build/smtpmon_*_*.deb 2> /dev/null | head -n 1)
        pass "deb: make deb built $DEB ($(stat -c %s "$DEB") bytes)"
    else
        fail "deb: make deb failed: $(tail -n 15 "$T/deb.log")"
    fi
    if [ -d debian ] && [ ! -d "$T/had-debian" ]; then
        fail "deb: the build left a debian/ directory in the work tree"
    fi
}

check_lintian() {
    if [ -z "$DEB" ]; then
        skip "deb: lintian (no package)"
        return
    fi
    if ! have lintian; then
        skip "deb: lintian (not installed)"
        return
    fi
    lintian --tag-display-limit 0 "$DEB" > "$T/lintian.out" 2>&1
    if grep -q '^[EW]: ' "$T/lintian.out"; then
        fail "deb: lintian: $(grep '^[EW]: ' "$T/lintian.out" | head -n 10)"
    else
        pass "deb: lintian: no errors, no unoverridden warnings ($(grep -c '^[IN]: ' "$T/lintian.out") info/notes)"
    fi
}

check_deb_contents() {
    local f missing=""
    [ -n "$DEB" ] || { skip "deb: contents (no package)"; return; }
    dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' > "$T/deb.files"
    for f in /usr/bin/smtpmon /etc/smtpmon/smtpmon.conf /lib/systemd/system/smtpmon.service \
        /usr/share/man/man8/smtpmon.8.gz /usr/share/man/man5/smtpmon.conf.5.gz \
        /usr/share/smtpmon/patterns/postfix.rules /usr/share/smtpmon/patterns/exim.rules \
        /usr/share/doc/smtpmon/copyright \
        /usr/share/doc/smtpmon/examples/grafana/smtpmon-redis.json \
        /usr/share/doc/smtpmon/examples/redis/users.acl \
        /lib/systemd/system/smtpmon-serve.service /usr/share/smtpmon/prometheus/smtpmon-rules.yml; do
        grep -qx "$f" "$T/deb.files" || missing+=" $f"
    done
    [ -z "$missing" ] || { fail "deb: missing files:$missing"; return; }
    rm -rf "$T/ctl" && dpkg-deb -e "$DEB" "$T/ctl"
    if ! grep -qx /etc/smtpmon/smtpmon.conf "$T/ctl/conffiles"; then
        fail "deb: /etc/smtpmon/smtpmon.conf is not a conffile"
    elif ! grep -q "deb-systemd-helper enable 'smtpmon.service'" "$T/ctl/postinst"; then
        fail "deb: postinst does not enable the unit"
    elif ! grep -q '_dh_action=restart' "$T/ctl/postinst" ||
        ! grep -q '_dh_action=start' "$T/ctl/postinst"; then
        fail "deb: postinst does not start the unit on installation and restart it after an upgrade"
    elif [ -e "$T/ctl/preinst" ] && grep -q 'deb-systemd-invoke stop' "$T/ctl/preinst"; then
        fail "deb: preinst stops the unit before an upgrade (nothing would start it again)"
    elif ! grep -q '"$1" = remove' "$T/ctl/prerm" 2> /dev/null ||
        ! grep -q "deb-systemd-invoke stop 'smtpmon.service'" "$T/ctl/prerm"; then
        fail "deb: prerm does not stop the unit on removal"
    elif ! grep -q 'smtpmon -n -f' "$T/ctl/postinst" || ! grep -q 'adduser' "$T/ctl/postinst"; then
        fail "deb: postinst does not create the user or run smtpmon -n"
    elif ! grep -q '^Depends:.*libsystemd0' "$T/ctl/control" ||
        ! grep -q '^Depends:.*libmicrohttpd12' "$T/ctl/control"; then
        fail "deb: Depends lacks libsystemd0 or libmicrohttpd12 (loaded with dlopen): $(grep '^Depends:' "$T/ctl/control")"
    else
        pass "deb: binary, conffile, unit (started on installation, restarted after an upgrade, stopped on removal), man pages, pattern packs, examples"
    fi
}

# The installed binary: for real (dpkg -i) in CI as root, else from an extracted tree.
check_deb_install() {
    local prefix="" conf out rc
    [ -n "$DEB" ] || { skip "deb: install (no package)"; return; }
    if [ "$(id -u)" = 0 ] && { [ "${CI:-}" = true ] || [ "${SMTPMON_TEST_INSTALL:-0}" = 1 ]; }; then
        if dpkg-query -W -f '${Status}' smtpmon 2> /dev/null | grep -q installed; then
            skip "deb: dpkg -i (smtpmon is already installed on this machine; not touching it)"
            return
        fi
        if ! dpkg -i "$DEB" > "$T/dpkg.log" 2>&1; then
            fail "deb: dpkg -i: $(tail -n 10 "$T/dpkg.log")"
            return
        fi
        INSTALLED=1
        if ! id -nG smtpmon 2> /dev/null | tr ' ' '\n' | grep -qx adm; then
            fail "deb: dpkg -i did not create the user smtpmon in group adm"
            return
        fi
        if grep -q 'has errors' "$T/dpkg.log"; then
            fail "deb: postinst finds errors in the packaged configuration: $(cat "$T/dpkg.log")"
            return
        fi
        pass "deb: dpkg -i installed it; user smtpmon in group adm; postinst's smtpmon -n finds no error"
        export -n SMTPMON_PATTERNS
    else
        rm -rf "$T/root" && dpkg-deb -x "$DEB" "$T/root"
        prefix=$T/root
        export SMTPMON_PATTERNS=$prefix/usr/share/smtpmon/patterns
        pass "deb: extracted with dpkg-deb -x into $prefix (dpkg -i only with CI=true as root or SMTPMON_TEST_INSTALL=1)"
    fi
    conf=$prefix/etc/smtpmon/smtpmon.conf
    out=$("$prefix/usr/bin/smtpmon" -n -f "$conf" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ "$out" = "configuration OK" ]; then
        pass "deb: installed smtpmon -n: the packaged configuration, unedited: configuration OK$([ -e /var/log/mail.log ] || echo ' (no /var/log/mail.log here)')"
    else
        fail "deb: installed smtpmon -n on the packaged configuration: exit $rc: $out"
    fi
    "$prefix/usr/bin/smtpmon" scan --format json tests/data/sample/mail.log > "$T/pkg-scan.json" 2> "$T/pkg-scan.err"
    "$SMTPMON" scan --format json tests/data/sample/mail.log > "$T/tree-scan.json" 2> /dev/null
    if [ -s "$T/pkg-scan.json" ] && cmp -s "$T/pkg-scan.json" "$T/tree-scan.json"; then
        pass "deb: installed smtpmon scan of the sample log equals the tree's build ($(jq .matched "$T/pkg-scan.json") matched)"
    else
        fail "deb: installed smtpmon scan differs from the tree's build: $(head -c 300 "$T/pkg-scan.err")"
    fi
    if have man && [ -n "$prefix" ]; then
        if man --warnings -l "$prefix/usr/share/man/man8/smtpmon.8.gz" 2>&1 > /dev/null | grep -q .; then
            fail "deb: the installed smtpmon.8.gz renders with warnings"
        else
            pass "deb: the installed man page renders"
        fi
    fi
    if [ "$INSTALLED" = 1 ]; then
        check_under_systemd
        if dpkg --purge smtpmon > "$T/purge.log" 2>&1 && [ ! -e /etc/smtpmon/smtpmon.conf ]; then
            INSTALLED=0
            pass "deb: dpkg --purge removed it"
        else
            fail "deb: dpkg --purge: $(tail -n 5 "$T/purge.log")"
        fi
    fi
    export -n SMTPMON_PATTERNS
}

# --- RPM ------------------------------------------------------------------------------------

check_rpm() {
    local rpmf
    if ! have rpmbuild; then
        skip "rpm: make rpm (no rpmbuild; apt-get install rpm)"
        return
    fi
    if ! make --no-print-directory rpm > "$T/rpm.log" 2>&1; then
        fail "rpm: make rpm failed: $(tail -n 15 "$T/rpm.log")"
        return
    fi
    rpmf=$(ls -t build/smtpmon-*.rpm 2> /dev/null | head -n 1)
    rpm -qlp "$rpmf" 2> /dev/null > "$T/rpm.files"
    if grep -qx /usr/bin/smtpmon "$T/rpm.files" &&
        grep -qx /usr/lib/systemd/system/smtpmon.service "$T/rpm.files" &&
        grep -qx /usr/lib/systemd/system/smtpmon-serve.service "$T/rpm.files" &&
        grep -qx /etc/smtpmon/smtpmon.conf "$T/rpm.files" &&
        grep -q '^/usr/share/smtpmon/patterns/postfix.rules$' "$T/rpm.files"; then
        if ! rpm -qp --requires "$rpmf" 2> /dev/null | grep -q '^libsystemd\.so\.0' ||
            ! rpm -qp --requires "$rpmf" 2> /dev/null | grep -q '^libmicrohttpd\.so\.12'; then
            fail "rpm: $rpmf does not require libsystemd.so.0 and libmicrohttpd.so.12 (loaded with dlopen)"
            return
        fi
        pass "rpm: make rpm built $rpmf ($(stat -c %s "$rpmf") bytes) with binary, unit, config, packs, the dlopened libraries required"
    else
        fail "rpm: $rpmf lacks files: $(head -n 20 "$T/rpm.files")"
    fi
}

# Stops the agent: SIGTERM, then SIGKILL after 10 s.
stop_agent() {
    [ -n "$AGENT_PID" ] || return 0
    kill "$AGENT_PID" 2> /dev/null
    wait_for 10 "! kill -0 $AGENT_PID 2> /dev/null" || kill -9 "$AGENT_PID" 2> /dev/null
    wait "$AGENT_PID" 2> /dev/null
    AGENT_PID=
}

# --- Grafana against a real Redis -----------------------------------------------------------

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
    done
}

rcli() {
    redis-cli -p "$REDIS_PORT" --no-auth-warning "$@"
}

check_grafana_json() {
    if ! have jq; then
        skip "grafana: JSON (no jq)"
        return 1
    fi
    if ! jq -e '.panels | length > 0' "$DASH" > /dev/null 2>&1; then
        fail "grafana: $DASH is not valid dashboard JSON"
        return 1
    fi
    if ! jq -e '.groups[0].rules | length > 0' "$RULES" > /dev/null 2>&1; then
        fail "grafana: $RULES is not valid alert rule JSON"
        return 1
    fi
    local ids
    ids=$(jq '[.panels[].id] | (length == (unique | length))' "$DASH")
    if [ "$ids" != true ]; then
        fail "grafana: panel ids are not unique"
        return 1
    fi
    pass "grafana: dashboard ($(jq '.panels | length' "$DASH") panels) and alert rules ($(jq '.groups[0].rules | length' "$RULES")) are valid JSON"
    return 0
}

# Starts redis-server with the shipped ACL users and replays the sample log through the agent
# (batches of 500 lines, so that several minutes of log time close and the stream fills),
# after an unmatched line with a code and an overlong line.
replay_into_redis() {
    local pw=agent-$$ acl off size
    local try
    # A port found free may be taken before redis-server binds it: then try another one.
    for try in 1 2 3 4 5; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$T" --daemonize no > "$T/redis.log" 2>&1 &
        REDIS_PID=$!
        wait_for 10 "rcli ping 2> /dev/null | grep -q PONG || ! kill -0 $REDIS_PID 2> /dev/null"
        rcli ping 2> /dev/null | grep -q PONG && break
        kill "$REDIS_PID" 2> /dev/null
    done
    rcli ping 2> /dev/null | grep -q PONG || { fail "grafana: redis-server did not start"; return 1; }
    # The per-host user of the shipped ACL (written for mx1), for the agent pkgtest.
    acl=$(grep '^user smtpmon-mx1 ' packaging/redis/users.acl |
        sed "s/#REPLACE-WITH-SHA256-OF-PASSWORD/>$pw/; s/^user smtpmon-mx1 //; s/mx1/pkgtest/g")
    # shellcheck disable=SC2086
    rcli ACL SETUSER smtpmon-agent $acl | grep -q OK || { fail "grafana: ACL SETUSER smtpmon-agent"; return 1; }
    # The administrator loads the scripts: the agent's user may only call them.
    env -u CREDENTIALS_DIRECTORY "$SMTPMON" query --load-scripts \
        --redis "redis://127.0.0.1:$REDIS_PORT" > /dev/null || { fail "grafana: --load-scripts"; return 1; }
    mkdir -p "$T/cred" "$T/state"
    printf '%s\n' "$pw" > "$T/cred/redis-password"
    chmod 600 "$T/cred/redis-password"
    {
        echo "Nov 28 00:00:01 relay postfix/smtpd[4242]: NOQUEUE: something new: 554 5.7.9 Unheard-of policy reply"
        printf 'Nov 28 00:00:02 relay postfix/smtp[4243]: %s\n' "$(head -c 5000 /dev/zero | tr '\0' x)"
        cat tests/data/sample/mail.log
    } > "$T/mail.log"
    cat > "$T/agent.conf" << EOF
[agent]
agent_id = pkgtest
state_dir = $T/state
read_from = head
batch_lines = 500
flush_interval = 100ms
max_line = 4K
[redis]
url = redis://smtpmon-agent:@127.0.0.1:$REDIS_PORT
timeout = 2s
[source mail]
path = $T/mail.log
[alert pkgtest]
status = 5.*.*
min_count = 1
factor = 0
window = 5m
EOF
    CREDENTIALS_DIRECTORY=$T/cred "$SMTPMON" -f "$T/agent.conf" > "$T/agent.out" 2> "$T/agent.err" &
    AGENT_PID=$!
    size=$(stat -c %s "$T/mail.log")
    if ! wait_for 60 "[ \"\$(rcli HGET 'smtpmon:{pkgtest}:cursor:mail' offset 2> /dev/null)\" = $size ]"; then
        off=$(rcli HGET 'smtpmon:{pkgtest}:cursor:mail' offset)
        fail "grafana: the agent committed offset '$off' of $size: $(tail -n 5 "$T/agent.err")"
        stop_agent
        return 1
    fi
    # The fleet delta of the last batch is applied right after it.
    wait_for 10 "[ \"\$(rcli EXISTS 'smtpmon:{pkgtest}:fleet:mail')\" = 0 ]"
    stop_agent
    pass "grafana: the agent replayed the sample log into redis-server (cursor = $size bytes, $(rcli DBSIZE) keys)"
    return 0
}

# check_key WHAT KEY COMMAND INCLUDE-PATTERN INCLUDE-NAMES(comma-separated)
check_key() {
    local what=$1 key=$2 cmd=$3 pattern=$4 names=$5 type want n
    type=$(rcli TYPE "$key")
    case $cmd in
    xrange | xrevrange | xlen) want=stream ;;
    *) want=hash ;;
    esac
    if [ "$type" != "$want" ]; then
        KEY_ERRORS+="
  $what: $key is '$type', the query needs a $want"
        return
    fi
    if [ "$want" = stream ]; then
        rcli XRANGE "$key" - + | grep -v '^[0-9]*-[0-9]*$' | awk 'NR % 2 == 1' | sort -u > "$T/fields"
    else
        rcli HKEYS "$key" | sort -u > "$T/fields"
    fi
    if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$T/fields"; then
        KEY_ERRORS+="
  $what: no field of $key matches /$pattern/"
    fi
    IFS=, read -r -a n <<< "$names"
    for f in "${n[@]}"; do
        [ "$f" = '$time' ] && continue
        grep -qxF -- "$f" "$T/fields" || KEY_ERRORS+="
  $what: $key has no field '$f'"
    done
    CHECKED=$((CHECKED + 1))
}

check_grafana_keys() {
    local om agent title cmd key pattern names k
    KEY_ERRORS=""
    CHECKED=0
    # Variables.
    if ! rcli HKEYS 'smtpmon:{fleet}:seen' | sed -n 's/^\([^|]*\)|.*/\1/p' | grep -qx pkgtest; then
        KEY_ERRORS+="
  variable agent/host: HKEYS smtpmon:{fleet}:seen does not list pkgtest"
    fi
    for agent in pkgtest fleet; do
        om=$(rcli HGET "smtpmon:{$agent}:meta" om)
        if [ -z "$om" ]; then
            KEY_ERRORS+="
  variable om: HGET smtpmon:{$agent}:meta om is empty"
        fi
        if [ "$(rcli XLEN "smtpmon:{$agent}:ts")" -lt 2 ]; then
            KEY_ERRORS+="
  smtpmon:{$agent}:ts holds fewer than 2 closed minutes"
        fi
        while IFS=$'\037' read -r title cmd key pattern names; do
            k=${key//\$prefix/smtpmon}
            k=${k//\$agent/$agent}
            k=${k//\$host/pkgtest}
            k=${k//\$om/$om}
            check_key "panel '$title' (agent=$agent)" "$k" "$cmd" "$pattern" "$names"
        done < <(jq -r '.panels[] | select(.targets) | . as $p | .targets[] |
            [$p.title, .command, .keyName,
             ([$p.transformations[]? | select(.id == "filterFieldsByName") | .options.include.pattern // empty] | join("")),
             ([$p.transformations[]? | select(.id == "filterFieldsByName") | .options.include.names // empty | .[]] | join(","))] | join("\u001f")' "$DASH")
    done
    while IFS=$'\037' read -r title cmd key names; do
        k=${key//HOST/pkgtest}
        check_key "alert rule '$title'" "$k" "$cmd" "" "$names"
    done < <(jq -r '.groups[].rules[] | [.title, .data[0].model.command, .data[0].model.keyName,
                    ([.data[] | .model.field // empty] | join(","))] | join("\u001f")' "$RULES")
    if [ -z "$KEY_ERRORS" ] && [ "$CHECKED" -gt 0 ]; then
        pass "grafana: all $CHECKED queries (dashboard for one agent and the fleet, alert rules) name keys and fields the agent wrote"
    else
        fail "grafana: queries name keys or fields the agent does not write:$KEY_ERRORS"
    fi
}

check_grafana() {
    check_grafana_json || return
    if ! have redis-server || ! have redis-cli; then
        skip "grafana: keys against a real Redis (no redis-server)"
        return
    fi
    [ -x "$SMTPMON" ] || { skip "grafana: keys (build $SMTPMON first)"; return; }
    replay_into_redis && check_grafana_keys
    stop_agent
    [ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2> /dev/null
    wait "$REDIS_PID" 2> /dev/null
    REDIS_PID=
}

# --- PCRE2 JIT and MemoryDenyWriteExecute ---------------------------------------------------

check_nojit() {
    "$SMTPMON" scan --format json tests/data/sample/mail.log > "$T/jit.json" 2> /dev/null
    "$SMTPMON" scan --no-jit --format json tests/data/sample/mail.log > "$T/nojit.json" 2> /dev/null
    if [ -s "$T/jit.json" ] && cmp -s "$T/jit.json" "$T/nojit.json"; then
        pass "jit: scan --no-jit counts equal scan with JIT"
    else
        fail "jit: scan --no-jit differs from JIT: $(diff "$T/jit.json" "$T/nojit.json" | head -c 400)"
    fi
}

# A wrapper that sets PR_SET_MDWE (what MemoryDenyWriteExecute=yes enforces with seccomp) and
# execs its arguments: Linux >= 6.3.
check_mdwe() {
    local major minor n
    major=$(uname -r | cut -d. -f1)
    minor=$(uname -r | cut -d. -f2)
    if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 3 ]; }; then
        skip "jit: MDWE wrapper (kernel $(uname -r) < 6.3 has no PR_SET_MDWE)"
        return
    fi
    cat > "$T/mdwe.c" << 'EOF'
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    if (argc < 2) {
        return 64;
    }
    if (prctl(65 /* PR_SET_MDWE */, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0) != 0) {
        perror("prctl(PR_SET_MDWE)");
        return 69;
    }
    execv(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
EOF
    if ! cc -O2 -o "$T/mdwe" "$T/mdwe.c" 2> "$T/mdwe.cc"; then
        fail "jit: cannot build the MDWE wrapper: $(head -n 3 "$T/mdwe.cc")"
        return
    fi
    "$T/mdwe" "$SMTPMON" scan --format json tests/data/sample/mail.log > "$T/mdwe.json" 2> "$T/mdwe.err"
    n=$(grep -c 'JIT compilation unavailable' "$T/mdwe.err")
    if [ "$n" = 1 ] && cmp -s "$T/mdwe.json" "$T/jit.json"; then
        pass "jit: under PR_SET_MDWE scan falls back to the interpreter with one log line, same counts"
    else
        fail "jit: under PR_SET_MDWE scan logged $n fallback lines (want 1) or counted differently: $(head -n 3 "$T/mdwe.err")"
    fi
    # The agent: no "(JIT)" in its start line and exactly one line about the fallback.
    mkdir -p "$T/mdwe-state"
    "$T/mdwe" "$SMTPMON" --follow "$ROOT/tests/data/sample/mail.log" --from-beginning \
        --state-dir "$T/mdwe-state" --output "$T/mdwe-agent.jsonl" > /dev/null 2> "$T/mdwe-agent.err" &
    AGENT_PID=$!
    wait_for 20 "grep -q 'started' '$T/mdwe-agent.err' || ! kill -0 $AGENT_PID 2> /dev/null"
    stop_agent
    n=$(grep -ci 'JIT.*interpreter\|interpreter.*JIT' "$T/mdwe-agent.err")
    if ! grep -q 'started' "$T/mdwe-agent.err"; then
        fail "jit: the agent did not start under PR_SET_MDWE: $(head -n 3 "$T/mdwe-agent.err")"
    elif grep 'started' "$T/mdwe-agent.err" | grep -q '(JIT)'; then
        fail "jit: the agent claims JIT under PR_SET_MDWE"
    elif [ "$n" != 1 ]; then
        fail "jit: the agent started under PR_SET_MDWE with the interpreter but logged $n lines about the JIT fallback (want exactly 1)"
    else
        pass "jit: the agent under PR_SET_MDWE runs on the interpreter and says so in one line"
    fi
}

# --- run ------------------------------------------------------------------------------------

[ -d debian ] && mkdir -p "$T/had-debian"
SECURITY_SCORE=
check_unit_directives
check_unit_verify
check_unit_security
UNIT=packaging/systemd/smtpmon-serve.service check_unit_verify
UNIT=packaging/systemd/smtpmon-serve.service check_unit_security
check_man
check_deb_build
check_lintian
check_deb_contents
check_deb_install
check_rpm
check_grafana
check_nojit
check_mdwe

echo "packaging: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
