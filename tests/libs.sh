#!/bin/sh
# Checks that what the build needs is installed (compiler, pkg-config, the libraries' headers and
# pkg-config files), so that a missing piece stops the build with the packages to install
# instead of a compiler or linker error. On Debian the packages are asked of dpkg; elsewhere
# pkg-config and the compiler are tried.
set -u
missing=""
cc=${CC:-cc}
if command -v dpkg-query >/dev/null 2>&1; then
    for p in gcc make pkg-config libev-dev libpcre2-dev libhiredis-dev libinih-dev libsystemd-dev \
        zlib1g-dev libmicrohttpd-dev; do
        case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" in
        *" installed") ;;
        *) missing="$missing $p" ;;
        esac
    done
    [ -z "$missing" ] && exit 0
    echo "smtpmon: cannot build, missing Debian packages:$missing" >&2
    if [ "$(id -u)" -eq 0 ]; then
        echo "  install them: apt-get install -y$missing   (or: make deps)" >&2
    else
        echo "  install them: sudo apt-get install -y$missing" >&2
    fi
    exit 1
fi
command -v "$cc" >/dev/null 2>&1 || missing="$missing C-compiler($cc)"
if ! command -v pkg-config >/dev/null 2>&1; then
    missing="$missing pkg-config"
else
    for pc in libpcre2-8 zlib inih libsystemd hiredis libmicrohttpd; do
        pkg-config --exists "$pc" 2>/dev/null || missing="$missing $pc"
    done
fi
if command -v "$cc" >/dev/null 2>&1 && ! printf '#include <ev.h>\n' | "$cc" -E -x c - >/dev/null 2>&1; then
    missing="$missing libev"
fi
[ -z "$missing" ] && exit 0
echo "smtpmon: cannot build, missing:$missing" >&2
echo "  install them (development packages) with your system's package manager" >&2
exit 1
