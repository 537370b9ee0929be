#!/bin/sh
# 'make run': classify a real log. LOG=FILE picks another log (plain or .gz).
set -eu
log=${LOG:-tests/data/sample/mail.log}
if [ ! -r "$log" ]; then
    echo "make run: cannot read $log (set LOG=/path/to/mail.log)" >&2
    exit 1
fi
echo "== smtpmon scan $log"
exec build/smtpmon scan "$log"
