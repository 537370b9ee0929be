#!/bin/sh
# make test-arrows: the includes between the rooms run one way.
#   cmd/         may include every room (it dispatches the commands and wires the agent to its
#                exporters)
#   agent/       the agent's edge: agent/, common/, agent/core/
#   exporters/   exporters/, common/, agent/core/
#   common/      common/, agent/core/
#   agent/core/  agent/core/ alone (also checked by make test-headers)
# A quoted include is looked up in the rooms in the compiler's order (-I); angle brackets are
# the system's. Prints each include against the direction and fails if there is one.
cd "$(dirname "$0")/.." || exit 1

room() {
    for d in agent/core common agent exporters cmd; do
        [ -f "$d/$1" ] && { echo "$d"; return; }
    done
    echo outside
}

bad=0
for f in cmd/*.[ch] common/*.[ch] agent/*.[ch] agent/core/*.[ch] exporters/*.[ch]; do
    [ -f "$f" ] || continue
    from=$(dirname "$f")
    for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        to=$(room "$h")
        case "$from:$to" in
        cmd:* | agent/core:agent/core | common:agent/core | common:common | agent:agent/core | \
            agent:common | agent:agent | exporters:agent/core | exporters:common | \
            exporters:exporters) ;;
        *:outside)
            echo "$f includes \"$h\", found in no room"; bad=1 ;;
        *) echo "$f includes $to/$h: $from/ may not include $to/"; bad=1 ;;
        esac
    done
done
if [ "$bad" = 0 ]; then
    n=$(ls cmd/*.[ch] common/*.[ch] agent/*.[ch] agent/core/*.[ch] exporters/*.[ch] | wc -l)
    echo "arrows: $n files, every include runs cmd -> agent|exporters -> common -> agent/core"
fi
exit "$bad"
