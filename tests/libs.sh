#!/bin/sh
# Checks that the libraries the build links are installed (pkg-config files and headers), so
# that a missing one stops the build with the package to install instead of a linker error.
set -u
missing=""
pc_missing=""
if ! command -v pkg-config >/dev/null 2>&1; then
    missing="pkg-config"
else
    for pair in libpcre2-8:libpcre2-dev zlib:zlib1g-dev inih:libinih-dev \
        libsystemd:libsystemd-dev hiredis:libhiredis-dev; do
        pc=${pair%%:*}
        pkg=${pair#*:}
        if ! pkg-config --exists "$pc" 2>/dev/null; then
            missing="$missing $pkg"
            pc_missing="$pc_missing $pc"
        fi
    done
fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
    missing="$missing gcc"
elif ! printf '#include <ev.h>\n' | "$cc" -E -x c - >/dev/null 2>&1; then
    missing="$missing libev-dev"
fi
[ -z "$missing" ] && exit 0
echo "smtpmon: cannot build, missing:$missing" >&2
[ -n "$pc_missing" ] && echo "  (pkg-config finds no:$pc_missing)" >&2
if command -v dpkg-query >/dev/null 2>&1; then
    echo "  install them: sudo apt-get install -y$missing   (or, as root: make deps)" >&2
else
    echo "  install the equivalents of these Debian packages with your system's package manager" >&2
fi
exit 1
