# Sourced by tests/packaging/run.sh: the installed package run by a real systemd 252 as PID 1 of
# a systemd-nspawn container that has the host's /usr (read-only) and a copy of its /etc.
#
# Checks: systemctl start (ExecStartPre, Type=notify, STATUS=, the user smtpmon in group adm
# reading a root:adm 0640 log, the Redis password by LoadCredential=, the whole sandbox with
# MemoryDenyWriteExecute=yes and its one log line about the interpreter), query == scan before
# and after systemctl reload, the watchdog, the exposure score of the running unit, systemctl
# stop, and a bad configuration that fails ExecStartPre without a restart loop.
#
# Needs root, systemd-nspawn (package systemd-container) and redis-server; skips with the reason
# when systemd cannot boot in a container on this machine.

NSPAWN_PID=
NS_REDIS_PID=

# Powers the container off (its systemd stops the agent), then makes sure nspawn is gone.
stop_container() {
    [ -n "$NSPAWN_PID" ] || return 0
    kill -TERM "$NSPAWN_PID" 2> /dev/null
    wait_for 30 "! kill -0 $NSPAWN_PID 2> /dev/null" || kill -9 "$NSPAWN_PID" 2> /dev/null
    wait "$NSPAWN_PID" 2> /dev/null
    NSPAWN_PID=
    if [ -n "$NS_REDIS_PID" ]; then
        kill "$NS_REDIS_PID" 2> /dev/null
        wait "$NS_REDIS_PID" 2> /dev/null
        NS_REDIS_PID=
    fi
}

# The counts that query and scan must agree on.
ns_counts() {
    jq -c '{lines, matched, with_code, by: .by.status}'
}

check_under_systemd() {
    local c=$T/ctr data=$T/nsp port pw init out rc n i p
    local -a ns
    if ! have systemd-nspawn; then
        skip "systemd: the installed unit under systemd (no systemd-nspawn; apt-get install systemd-container)"
        return
    fi
    mkdir -p "$c"/usr/lib "$c"/var/log "$c"/var/lib "$c"/var/tmp "$c"/dev "$c"/proc "$c"/sys \
        "$c"/run "$c"/tmp "$c"/srv/smtpmon-test "$c"/root "$c"/home "$data"
    cp -a /etc "$c/etc"
    rm -f "$c/etc/machine-id"
    cp /usr/lib/os-release "$c/usr/lib/"
    for d in bin sbin lib lib64; do
        if [ -L "/$d" ]; then
            ln -s "usr/$d" "$c/$d"
        fi
    done

    port=$(free_port)
    pw=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    redis-server --port "$port" --bind 127.0.0.1 --dir "$data" --save "" --appendonly no \
        --requirepass "$pw" > "$data/redis.log" 2>&1 &
    NS_REDIS_PID=$!
    if ! wait_for 10 "redis-cli -p $port -a $pw --no-auth-warning ping 2> /dev/null | grep -q PONG"; then
        fail "systemd: redis-server did not start: $(tail -n 5 "$data/redis.log")"
        stop_container
        return
    fi
    head -n 300 tests/data/sample/mail.log > "$data/mail.log"
    chgrp adm "$data/mail.log"
    chmod 0640 "$data/mail.log"
    printf '%s\n' "$pw" > "$c/etc/smtpmon/redis-password"
    chmod 0600 "$c/etc/smtpmon/redis-password"
    printf '%s\n' "[agent]" "agent_id = nspawn-test" "read_from = head" "flush_interval = 200ms" \
        "[redis]" "url = redis://127.0.0.1:$port" \
        "[source mail]" "path = /srv/smtpmon-test/mail.log" > "$c/etc/smtpmon/smtpmon.conf"

    systemd-nspawn -D "$c" --bind-ro=/usr --bind="$data:/srv/smtpmon-test" --register=no \
        --keep-unit -M "smtpmon-test-$$" -b --console=pipe > "$T/nspawn.log" 2>&1 &
    NSPAWN_PID=$!
    init=
    wait_for 30 'init=$(pgrep -x -P "$NSPAWN_PID" systemd | head -n 1); [ -n "$init" ]'
    ns=(nsenter -t "${init:-1}" -m -u -i -n -p)
    out=
    if [ -n "$init" ]; then
        # the manager's bus comes up a moment after its process
        wait_for 90 'out=$(timeout 30 "${ns[@]}" systemctl is-system-running --wait 2> /dev/null);
            [ "$out" = running ] || [ "$out" = degraded ]'
    fi
    if [ "$out" != running ] && [ "$out" != degraded ]; then
        skip "systemd: systemd-nspawn could not boot systemd here: ${out:-no init} $(head -c 300 "$T/nspawn.log")"
        stop_container
        return
    fi

    if ! timeout 60 "${ns[@]}" systemctl start smtpmon > "$T/ns-start.log" 2>&1; then
        fail "systemd: systemctl start smtpmon: $(cat "$T/ns-start.log") $("${ns[@]}" journalctl -u smtpmon -o cat --no-pager | tail -n 15)"
        stop_container
        return
    fi
    wait_for 10 '"${ns[@]}" systemctl show smtpmon -p StatusText -p User -p ActiveState \
        > "$T/ns-show" 2>&1; grep -q "^StatusText=.*lines/s" "$T/ns-show"'
    if grep -qx 'ActiveState=active' "$T/ns-show" && grep -q '^StatusText=.*lines/s' "$T/ns-show" &&
        grep -qx 'User=smtpmon' "$T/ns-show"; then
        pass "systemd: systemctl start: ExecStartPre, READY=1, STATUS=, user smtpmon in group adm"
    else
        fail "systemd: the agent is not active with a STATUS= line: $(tr '\n' ' ' < "$T/ns-show")"
    fi
    n=$("${ns[@]}" journalctl -u smtpmon -o cat --no-pager | grep -c '^patterns: JIT compilation unavailable')
    if [ "$n" = 1 ]; then
        pass "systemd: under MemoryDenyWriteExecute=yes the agent says once that it runs on the interpreter"
    else
        fail "systemd: $n lines from the agent about the JIT fallback (want 1)"
    fi

    # query == scan, then again after a reload and more lines.
    sed -n '301,800p' tests/data/sample/mail.log >> "$data/mail.log"
    for i in 1 2; do
        "$SMTPMON" scan --format json "$data/mail.log" | ns_counts > "$T/ns-scan"
        wait_for 20 '"$SMTPMON" query --redis "redis://127.0.0.1:$port" --agent nspawn-test \
            --password-file "$c/etc/smtpmon/redis-password" --format json 2> /dev/null |
            ns_counts > "$T/ns-query"; cmp -s "$T/ns-query" "$T/ns-scan"' || break
        if [ "$i" = 1 ]; then
            if ! timeout 30 "${ns[@]}" systemctl reload smtpmon > "$T/ns-reload.log" 2>&1; then
                fail "systemd: systemctl reload: $(cat "$T/ns-reload.log")"
            fi
            sed -n '801,$p' tests/data/sample/mail.log >> "$data/mail.log"
        fi
    done
    if cmp -s "$T/ns-query" "$T/ns-scan" &&
        [ "$("${ns[@]}" systemctl is-active smtpmon)" = active ]; then
        pass "systemd: query == scan before and after systemctl reload ($(jq -c '{lines, matched}' "$T/ns-scan"))"
    else
        fail "systemd: query $(cat "$T/ns-query") != scan $(cat "$T/ns-scan")"
    fi

    out=$("${ns[@]}" systemctl show smtpmon -p WatchdogTimestampMonotonic --value)
    if [ "${out:-0}" -gt 0 ] 2> /dev/null; then
        pass "systemd: the watchdog is pinged (WatchdogTimestamp set)"
    else
        fail "systemd: no watchdog ping recorded ('$out')"
    fi
    out=$("${ns[@]}" systemd-analyze security smtpmon --no-pager 2>&1 |
        sed -n 's/.*Overall exposure level for smtpmon.service: \([0-9.]*\).*/\1/p')
    if [ -n "$out" ] && awk -v s="$out" 'BEGIN { exit !(s <= 2.0) }'; then
        pass "systemd: systemd-analyze security of the running unit: $out"
    else
        fail "systemd: exposure of the running unit: '${out:-none}'"
    fi

    timeout 60 "${ns[@]}" systemctl stop smtpmon
    out="$("${ns[@]}" systemctl show smtpmon -p Result --value) $("${ns[@]}" systemctl show \
        smtpmon -p ExecMainStatus --value)"
    if [ "$out" = "success 0" ]; then
        pass "systemd: systemctl stop: the agent flushed and exited 0"
    else
        fail "systemd: systemctl stop: Result and exit status '$out'"
    fi

    # A configuration error: file:line in the journal, exit 78, and no restart (RestartSec=2s:
    # a restart would show within the 5 s waited here).
    printf '%s\n' "[source broken]" >> "$c/etc/smtpmon/smtpmon.conf"
    timeout 60 "${ns[@]}" systemctl start smtpmon > /dev/null 2>&1
    rc=$?
    sleep 5
    out=
    for p in NRestarts ActiveState ExecMainStatus; do
        out+="$("${ns[@]}" systemctl show smtpmon -p "$p" --value) "
    done
    if [ "$rc" != 0 ] && [ "$out" = "0 failed 78 " ] &&
        "${ns[@]}" journalctl -u smtpmon -o cat --no-pager | grep -q 'smtpmon.conf:[0-9]*: '; then
        pass "systemd: a bad configuration is refused with file:line and exit 78, and not restarted"
    else
        fail "systemd: bad configuration: start exit $rc, NRestarts, state and status '$out'"
    fi
    stop_container
}
