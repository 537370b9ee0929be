#!/bin/bash
# Prints the path of a tarball holding a minimal Debian 12 root (variant minbase: the essential
# packages and apt, plus make), built with mmdebstrap from the Debian archive and cached under
# /var/cache/smtpmon-fresh (SMTPMON_FRESH_CACHE). A cached root older than a week is built again,
# so the fresh-machine test sees the archive as a new machine would. The apt lists and package
# cache are left empty: the root knows no package it does not have.
set -euo pipefail
cache=${SMTPMON_FRESH_CACHE:-/var/cache/smtpmon-fresh}
suite=bookworm
tarball=$cache/$suite-minbase-make.tar
mkdir -p "$cache"
if [ -s "$tarball" ] && [ -z "$(find "$tarball" -mtime +7)" ]; then
    echo "$tarball"
    exit 0
fi
echo "== building a minimal Debian 12 root with mmdebstrap (cached in $cache)" >&2
start=$(date +%s)
mmdebstrap --variant=minbase --include=make --quiet \
    --components=main "$suite" "$cache/building.tar" \
    "deb http://deb.debian.org/debian $suite main" \
    "deb http://deb.debian.org/debian $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main" >&2
mv "$cache/building.tar" "$tarball"
echo "== root built in $(( $(date +%s) - start )) s: $(du -h "$tarball" | cut -f1)" >&2
echo "$tarball"
