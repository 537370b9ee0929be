#!/bin/sh
# Checks that the Debian packages named as arguments are installed. As root, installs the
# missing ones with apt-get; otherwise prints the exact command and fails.
set -u
missing=""
if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: check what the build needs directly.
    for tool in cc make pkg-config; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    for pc in libpcre2-8 zlib inih libsystemd hiredis criterion; do
        pkg-config --exists "$pc" 2>/dev/null || missing="$missing $pc"
    done
    if [ -n "$missing" ]; then
        echo "smtpmon: missing build dependencies:$missing" >&2
        echo "  install the equivalents of: $*" >&2
        exit 1
    fi
    exit 0
fi
for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *" installed") ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "smtpmon: installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        { echo "smtpmon: apt-get install failed:$missing" >&2; exit 1; }
    # The package starts a system redis-server on Debian; the tests use their own.
    exit 0
fi
echo "smtpmon: missing packages:$missing" >&2
echo "  run: sudo apt-get install -y$missing" >&2
exit 1
