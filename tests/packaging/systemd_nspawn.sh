# Sourced by tests/packaging/run.sh: the package installed with apt, as on a Debian host, and run
# by a real systemd 252 as PID 1 of a systemd-nspawn container. The container's root is the
# host's root under a writable overlay (upper layer on a tmpfs): the host is never written to.
# The container has a network of its own (loopback only), so that its Redis on 127.0.0.1:6379
# is its own; the packages it installs are downloaded from the Debian archive beforehand, by
# apt-get in the same root with the host's network.
#
# Checks, with the packaged configuration unedited:
# - apt-get install ./smtpmon_*.deb redis-server rsyslog starts the agent (ExecStartPre,
#   Type=notify, STATUS=, the user smtpmon in group adm, the whole sandbox with
#   MemoryDenyWriteExecute=yes and its one log line about the interpreter), which waits for
#   Redis if it is not up yet;
# - lines sent with logger -p mail.info -t postfix/...[PID] are counted: smtpmon query equals
#   smtpmon scan of the same lines (the journal while /var/log/mail.log is not there yet, then
#   the file after systemctl reload);
# - an upgrade to a newer version of the package while lines keep arriving: the agent is
#   restarted (a new main PID), active afterwards, and query == scan of every line sent;
# - without rsyslog (purged, /var/log/mail.log gone) the lines reach the journal and are
#   counted;
# - started while Redis is stopped, the agent stays active and waits (no restart loop), then
#   counts what was logged meanwhile;
# - the watchdog, the exposure score of the running unit, systemctl stop, and a bad
#   configuration that fails ExecStartPre without a restart loop.
#
# Needs root, systemd-nspawn (package systemd-container), overlayfs and the Debian archive;
# skips with the reason when one is missing or systemd cannot boot in a container here.

NSPAWN_PID=
NS_BASE=
NS_SENT=0

# Powers the container off (its systemd stops the agent), then unmounts its root.
stop_container() {
    if [ -n "$NSPAWN_PID" ]; then
        kill -TERM "$NSPAWN_PID" 2> /dev/null
        wait_for 30 "! kill -0 $NSPAWN_PID 2> /dev/null" || kill -9 "$NSPAWN_PID" 2> /dev/null
        wait "$NSPAWN_PID" 2> /dev/null
        NSPAWN_PID=
    fi
    if [ -n "$NS_BASE" ]; then
        umount "$NS_BASE/root" 2> /dev/null || umount -l "$NS_BASE/root" 2> /dev/null
        umount "$NS_BASE/ovl" 2> /dev/null || umount -l "$NS_BASE/ovl" 2> /dev/null
        NS_BASE=
    fi
}

# The counts that query and scan must agree on.
ns_counts() {
    jq -c '{lines, matched, with_code, by: .by.status}'
}

# A command in the booted container, as root, with a clean environment.
ns_run() {
    "${NS[@]}" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"
}

# ns_lines FROM TO [DELAY]: sends lines FROM..TO of the sample log with logger, as the program
# that wrote each (postfix/smtpd[PID]), at facility mail; appends them to $T/ns-sent.log.
ns_lines() {
    local from=$1 to=$2 delay=${3:-0}
    sed -n "${from},${to}p" tests/data/sample/mail.log >> "$T/ns-sent.log"
    sed -n "${from},${to}p" tests/data/sample/mail.log | awk -v d="$delay" '
        function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
        match($0, /^[A-Z][a-z][a-z] +[0-9]+ [0-9:]+ [^ ]+ [^ ]+: /) {
            tag = $5; sub(/:$/, "", tag)
            printf "logger -p mail.info -t %s -- %s\n", q(tag), q(substr($0, RLENGTH + 1))
            if (d > 0) printf "sleep %s\n", d
        }' > "$NS_ROOT/srv/smtpmon-test/send.sh"
    NS_SENT=$to
    ns_run sh /srv/smtpmon-test/send.sh
}

ns_query() {
    ns_run smtpmon query -f /etc/smtpmon/smtpmon.conf --format json 2> /dev/null | ns_counts
}

# Waits (up to SECONDS) until query equals scan of every line sent; leaves both in files.
ns_exact() {
    "$SMTPMON" scan --format json "$T/ns-sent.log" 2> /dev/null | ns_counts > "$T/ns-scan"
    wait_for "$1" 'ns_query > "$T/ns-query"; cmp -s "$T/ns-query" "$T/ns-scan"'
}

ns_log() {
    ns_run journalctl -u smtpmon -o cat --no-pager 2> /dev/null
}

check_under_systemd() {
    local root data out rc n p pid0 pid1 deb2 ver2 init
    if ! have systemd-nspawn; then
        skip "systemd: the package under systemd (no systemd-nspawn; apt-get install systemd-container)"
        return
    fi
    if ! grep -qw overlay /proc/filesystems && ! modprobe overlay 2> /dev/null; then
        skip "systemd: the package under systemd (no overlayfs)"
        return
    fi
    NS_BASE=$T/nsroot
    NS_ROOT=$NS_BASE/root
    root=$NS_ROOT
    mkdir -p "$NS_BASE/ovl" "$root"
    if ! mount -t tmpfs -o mode=0755,size=4G smtpmon-test "$NS_BASE/ovl" ||
        ! mkdir -p "$NS_BASE/ovl/upper" "$NS_BASE/ovl/work" ||
        ! mount -t overlay overlay \
            -o "lowerdir=/,upperdir=$NS_BASE/ovl/upper,workdir=$NS_BASE/ovl/work" "$root"; then
        skip "systemd: cannot mount an overlay of / for the container"
        stop_container
        return
    fi
    # A fresh machine: its own machine id (a new one, not none: systemd would take the boot
    # for a first boot and enable every installed unit by preset), no service of the host
    # enabled, no mail log yet, no policy-rc.d (a build host's may forbid starting
    # services), and the network online at once (its wait-online would wait for a link the
    # container does not have).
    rm -f "$root/etc/machine-id" "$root"/etc/systemd/system/*.wants/* \
        "$root/usr/sbin/policy-rc.d" \
        "$root"/var/log/mail.log* "$root/etc/smtpmon/redis-password"
    rm -rf "$root/var/lib/smtpmon" "$root/var/lib/redis"/*
    ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/machine-id"
    echo >> "$root/etc/machine-id"
    data=$root/srv/smtpmon-test
    mkdir -p "$data"
    cp "$DEB" "$data/"
    : > "$T/ns-sent.log"

    # The packages, from the Debian archive, into the container's apt cache.
    if ! timeout 300 systemd-nspawn -q -D "$root" --register=no --keep-unit --pipe \
        env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get install -y -qq --reinstall --download-only redis-server rsyslog ||
         { apt-get update -qq && apt-get install -y -qq --reinstall --download-only redis-server rsyslog; }' \
        > "$T/ns-download.log" 2>&1; then
        skip "systemd: cannot download redis-server and rsyslog from the Debian archive: $(tail -n 3 "$T/ns-download.log")"
        stop_container
        return
    fi

    systemd-nspawn -D "$root" --private-network --register=no --keep-unit \
        -M "smtpmon-test-$$" -b --console=pipe > "$T/nspawn.log" 2>&1 &
    NSPAWN_PID=$!
    init=
    wait_for 30 'init=$(pgrep -x -P "$NSPAWN_PID" systemd | head -n 1); [ -n "$init" ]'
    NS=(nsenter -t "${init:-1}" -m -u -i -n -p)
    out=
    if [ -n "$init" ]; then
        # the manager's bus comes up a moment after its process
        wait_for 90 'out=$(timeout 30 "${NS[@]}" systemctl is-system-running --wait 2> /dev/null);
            [ "$out" = running ] || [ "$out" = degraded ]'
    fi
    if [ "$out" != running ] && [ "$out" != degraded ]; then
        skip "systemd: systemd-nspawn could not boot systemd here: ${out:-no init} $(head -c 300 "$T/nspawn.log")"
        stop_container
        return
    fi

    # --- install: apt-get, the configuration unedited -------------------------------------
    ns_run dpkg --purge smtpmon redis-server rsyslog > "$T/ns-purge.log" 2>&1
    ns_run rm -f /var/log/mail.log
    if ! timeout 300 "${NS[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
        DEBIAN_FRONTEND=noninteractive apt-get install -y \
        "/srv/smtpmon-test/$(basename "$DEB")" redis-server rsyslog > "$T/ns-apt.log" 2>&1; then
        fail "systemd: apt-get install ./$(basename "$DEB") redis-server rsyslog: $(tail -n 10 "$T/ns-apt.log")"
        stop_container
        return
    fi
    if ! wait_for 30 'ns_log | grep -q "^journal: source=mail reading\|^tail: file=/var/log/mail.log opened"'; then
        fail "systemd: after apt-get install the agent reads nothing: $(ns_run systemctl status smtpmon --no-pager | tail -n 5) $(ns_log | tail -n 10)"
        stop_container
        return
    fi
    ns_run systemctl show smtpmon -p StatusText -p User -p ActiveState > "$T/ns-show" 2>&1
    wait_for 10 'ns_run systemctl show smtpmon -p StatusText -p User -p ActiveState \
        > "$T/ns-show" 2>&1; grep -q "^StatusText=.*lines/s" "$T/ns-show"'
    if grep -qx 'ActiveState=active' "$T/ns-show" && grep -q '^StatusText=.*lines/s' "$T/ns-show" &&
        grep -qx 'User=smtpmon' "$T/ns-show" &&
        ns_run id -nG smtpmon | tr ' ' '\n' | grep -qx adm; then
        pass "systemd: apt-get install started the agent with the packaged configuration (READY=1, STATUS=, user smtpmon in group adm; $(ns_log | grep -c '^source=mail: .*names no file') journal fallback)"
    else
        fail "systemd: the agent is not active with a STATUS= line: $(tr '\n' ' ' < "$T/ns-show")"
    fi
    n=$(ns_log | grep -c '^patterns: JIT compilation unavailable')
    if [ "$n" = 1 ]; then
        pass "systemd: under MemoryDenyWriteExecute=yes the agent says once that it runs on the interpreter"
    else
        fail "systemd: $n lines from the agent about the JIT fallback (want 1)"
    fi

    # --- lines from logger: journal (no mail.log when the agent started), then the file -----
    ns_lines 1 200
    if ns_exact 30; then
        pass "systemd: 200 lines from logger counted with no edit: query == scan ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: after 200 lines query $(cat "$T/ns-query") != scan $(cat "$T/ns-scan"): $(ns_log | tail -n 8)"
    fi
    wait_for 10 '[ "$(ns_run sh -c "grep -c postfix/ /var/log/mail.log" 2> /dev/null)" = 200 ]'
    if ! timeout 30 "${NS[@]}" systemctl reload smtpmon > "$T/ns-reload.log" 2>&1; then
        fail "systemd: systemctl reload: $(cat "$T/ns-reload.log")"
    fi
    ns_lines 201 400
    if ns_exact 30 && ns_log | grep -q '^source=mail: following /var/log/mail.log' &&
        [ "$(ns_run systemctl is-active smtpmon)" = active ]; then
        pass "systemd: after systemctl reload the agent follows /var/log/mail.log (rsyslog): query == scan ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: after reload query $(cat "$T/ns-query") != scan $(cat "$T/ns-scan"): $(ns_log | tail -n 8)"
    fi

    # --- upgrade while lines keep arriving -----------------------------------------------------
    ver2="$(dpkg-deb -f "$DEB" Version)+upgrade1"
    rm -rf "$T/deb2" && dpkg-deb -R "$DEB" "$T/deb2" &&
        sed -i "s/^Version: .*/Version: $ver2/" "$T/deb2/DEBIAN/control" &&
        dpkg-deb -b --root-owner-group "$T/deb2" "$data/smtpmon_upgrade.deb" > /dev/null 2>&1
    deb2=/srv/smtpmon-test/smtpmon_upgrade.deb
    pid0=$(ns_run systemctl show smtpmon -p MainPID --value)
    ns_lines 401 800 0.02 &
    p=$!
    sleep 2
    n=$(ns_run sh -c 'grep -c postfix/ /var/log/mail.log')
    timeout 300 "${NS[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
        DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb2" > "$T/ns-upgrade.log" 2>&1
    rc=$?
    n="$n..$(ns_run sh -c 'grep -c postfix/ /var/log/mail.log')"
    wait "$p"
    pid1=$(ns_run systemctl show smtpmon -p MainPID --value)
    out=$(ns_run dpkg-query -W -f '${Version}' smtpmon)
    # The upgrade must have happened while lines arrived: some before it, some after it.
    if [ "$rc" = 0 ] && [ "$out" = "$ver2" ] && [ "$(ns_run systemctl is-active smtpmon)" = active ] &&
        [ "${pid1:-0}" != 0 ] && [ "$pid1" != "$pid0" ] && [ "${n%..*}" -gt 400 ] &&
        [ "${n#*..}" -lt 800 ] && ns_exact 30; then
        pass "systemd: upgrade to $ver2 while 400 lines arrived (the log held lines $n of 800 from its start to its end): the agent was restarted (PID $pid0 -> $pid1), is active, query == scan ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: upgrade: apt exit $rc, version '$out', PID $pid0 -> $pid1, $(ns_run systemctl is-active smtpmon), query $(cat "$T/ns-query") vs scan $(cat "$T/ns-scan"): $(tail -n 5 "$T/ns-upgrade.log") $(ns_log | tail -n 8)"
    fi

    # --- without rsyslog: the journal ----------------------------------------------------------
    ns_run apt-get purge -y rsyslog > "$T/ns-purge2.log" 2>&1
    ns_run sh -c 'rm -f /var/log/mail.log*'
    timeout 30 "${NS[@]}" systemctl reload smtpmon > "$T/ns-reload2.log" 2>&1
    wait_for 10 'ns_log | grep -q "^reload: source=mail switched from the file to the journal"'
    ns_lines 801 1000
    if ns_exact 30 && ns_log | grep -q '^source=mail: /var/log/mail.log names no file: reading the journal' &&
        [ "$(ns_run systemctl is-active smtpmon)" = active ]; then
        pass "systemd: without rsyslog (purged, no /var/log/mail.log) the lines from logger reach the journal and are counted: query == scan ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: journal fallback: query $(cat "$T/ns-query") != scan $(cat "$T/ns-scan"): $(ns_log | tail -n 8)"
    fi

    # --- a Redis that is not there yet is waited for -------------------------------------------
    timeout 60 "${NS[@]}" systemctl stop redis-server
    timeout 60 "${NS[@]}" systemctl restart smtpmon
    rc=$?
    ns_lines 1001 1100
    sleep 3
    out="$rc $(ns_run systemctl is-active smtpmon) $(ns_run systemctl show smtpmon -p NRestarts --value)"
    timeout 60 "${NS[@]}" systemctl start redis-server
    ns_lines 1101 1200
    if [ "$out" = "0 active 0" ] && ns_log | grep -q '^redis: cannot connect' && ns_exact 60; then
        pass "systemd: started while Redis was stopped, the agent stays active, waits, and once Redis is back counts the lines of the journal from its cursor: query == scan ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: start without Redis: restart exit, state, restarts '$out'; query $(cat "$T/ns-query") vs scan $(cat "$T/ns-scan"): $(ns_log | tail -n 8)"
    fi

    # --- B7: a blocked main loop stops the watchdog pings; systemd kills the agent and starts
    # it again, and the counts stay exact (WatchdogSec shortened to 3 s by a drop-in here). ----
    mkdir -p "$root/etc/systemd/system/smtpmon.service.d"
    printf '%s\n' "[Service]" "WatchdogSec=3s" "TimeoutAbortSec=2s" \
        > "$root/etc/systemd/system/smtpmon.service.d/b7-test.conf"
    ns_run systemctl daemon-reload
    timeout 60 "${NS[@]}" systemctl restart smtpmon
    pid0=$(ns_run systemctl show smtpmon -p MainPID --value)
    n=$(ns_run systemctl show smtpmon -p NRestarts --value)
    ns_lines 1201 1300
    ns_exact 30 > /dev/null
    # SIGSTOP: the loop does nothing, as if stuck in a read of a stalled file system.
    ns_run kill -STOP "$pid0"
    ns_lines 1301 1400
    wait_for 60 '[ "$(ns_run systemctl show smtpmon -p NRestarts --value)" -gt "$n" ] &&
        [ "$(ns_run systemctl is-active smtpmon)" = active ]'
    pid1=$(ns_run systemctl show smtpmon -p MainPID --value)
    out="$(ns_run systemctl show smtpmon -p NRestarts --value) $(ns_run systemctl is-active smtpmon)"
    rm -f "$root/etc/systemd/system/smtpmon.service.d/b7-test.conf"
    ns_run systemctl daemon-reload
    if [ "${pid1:-0}" != 0 ] && [ "$pid1" != "$pid0" ] && ns_log | grep -q 'Watchdog timeout' &&
        ns_exact 60; then
        pass "systemd: a blocked agent (SIGSTOP) missed its watchdog, was killed and restarted (PID $pid0 -> $pid1, restarts $out) and counts exactly: query == scan ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: watchdog: PID $pid0 -> $pid1, restarts and state '$out'; query $(cat "$T/ns-query") vs scan $(cat "$T/ns-scan"): $(ns_log | tail -n 8)"
    fi

    out=$(ns_run systemctl show smtpmon -p WatchdogTimestampMonotonic --value)
    if [ "${out:-0}" -gt 0 ] 2> /dev/null; then
        pass "systemd: the watchdog is pinged (WatchdogTimestamp set)"
    else
        fail "systemd: no watchdog ping recorded ('$out')"
    fi
    out=$(ns_run systemd-analyze security smtpmon --no-pager 2>&1 |
        sed -n 's/.*Overall exposure level for smtpmon.service: \([0-9.]*\).*/\1/p')
    if [ -n "$out" ] && awk -v s="$out" 'BEGIN { exit !(s <= 2.0) }'; then
        pass "systemd: systemd-analyze security of the running unit: $out"
    else
        fail "systemd: exposure of the running unit: '${out:-none}'"
    fi

    timeout 60 "${NS[@]}" systemctl stop smtpmon
    out="$(ns_run systemctl show smtpmon -p Result --value) $(ns_run systemctl show \
        smtpmon -p ExecMainStatus --value)"
    if [ "$out" = "success 0" ]; then
        pass "systemd: systemctl stop: the agent flushed and exited 0"
    else
        fail "systemd: systemctl stop: Result and exit status '$out'"
    fi

    # A configuration error: file:line in the journal, exit 78, and no restart (RestartSec=2s:
    # a restart would show within the 5 s waited here).
    printf '%s\n' "[source broken]" >> "$root/etc/smtpmon/smtpmon.conf"
    timeout 60 "${NS[@]}" systemctl start smtpmon > /dev/null 2>&1
    rc=$?
    sleep 5
    out=
    for p in NRestarts ActiveState ExecMainStatus; do
        out+="$(ns_run systemctl show smtpmon -p "$p" --value) "
    done
    if [ "$rc" != 0 ] && [ "$out" = "0 failed 78 " ] &&
        ns_log | grep -q 'smtpmon.conf:[0-9]*: '; then
        pass "systemd: a bad configuration is refused with file:line and exit 78, and not restarted"
    else
        fail "systemd: bad configuration: start exit $rc, NRestarts, state and status '$out'"
    fi
    stop_container
}
