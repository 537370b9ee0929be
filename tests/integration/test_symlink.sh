#!/bin/bash
# A9: the followed name is a symlink whose target is switched: the old target is read to its
# end, then the new one from 0.
. "$(dirname "$0")/lib.sh"

mkdir "$T/logs"
append "$T/logs/a.log" 0 1000
ln -s "$T/logs/a.log" "$T/mail.log"
write_conf "$T/smtpmon.conf" "[source mail]" "path = $T/mail.log"
start_agent -f "$T/smtpmon.conf"
wait_exact 10
append "$T/logs/a.log" 1000 500        # writes to the target are seen through the link
wait_exact 10

append "$T/logs/b.log" 1500 700
ln -sfn "$T/logs/b.log" "$T/mail.log.new" && mv -T "$T/mail.log.new" "$T/mail.log"
append "$T/logs/a.log" 2200 300        # late lines in the old target are still counted
wait_exact 10
append "$T/logs/b.log" 2500 300
wait_exact 10
stop_agent
exit 0
