#!/bin/sh
# make test-arrows: the includes between the rooms run one way.
#   agent/cmd/     may include every room (it dispatches the commands and wires the agent to its
#                exporters)
#   agent/         the agent's edge: agent/, agent/common/, agent/core/
#   exporters/     exporters/, agent/common/, agent/core/
#   agent/common/  agent/common/, agent/core/
#   agent/core/    agent/core/ alone (also checked by make test-headers)
# A quoted include is looked up in the rooms in the compiler's order (-I); angle brackets are
# the system's. Prints each include against the direction and fails if there is one.
cd "$(dirname "$0")/.." || exit 1

room() {
    for d in agent/core agent/common agent exporters agent/cmd; do
        [ -f "$d/$1" ] && { echo "$d"; return; }
    done
    echo outside
}

bad=0
for f in agent/cmd/*.[ch] agent/common/*.[ch] agent/*.[ch] agent/core/*.[ch] exporters/*.[ch]; do
    [ -f "$f" ] || continue
    from=$(dirname "$f")
    for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        to=$(room "$h")
        case "$from:$to" in
        agent/cmd:* | agent/core:agent/core | agent/common:agent/core | agent/common:agent/common | \
            agent:agent/core | agent:agent/common | agent:agent | exporters:agent/core | \
            exporters:agent/common | exporters:exporters) ;;
        *:outside)
            echo "$f includes \"$h\", found in no room"; bad=1 ;;
        *) echo "$f includes $to/$h: $from/ may not include $to/"; bad=1 ;;
        esac
    done
done
if [ "$bad" = 0 ]; then
    n=$(ls agent/cmd/*.[ch] agent/common/*.[ch] agent/*.[ch] agent/core/*.[ch] exporters/*.[ch] | wc -l)
    echo "arrows: $n files, every include runs agent/cmd -> agent|exporters -> agent/common -> agent/core"
fi
exit "$bad"
