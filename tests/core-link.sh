#!/bin/sh
# core-link.sh OBJ... -- the pure core (agent/core/) stands alone: its objects link into a program
# with nothing but libc, PCRE2 and libm, and of libc they call only what computes (memory,
# strings, formatting into buffers, sorting, time arithmetic, fnmatch): no file, socket or
# terminal I/O, no environment, no process control. Names each symbol outside that list and
# the object that asks for it. Run by 'make test-core-link' (part of 'make test').
# CC and PCRE2_LIBS come from the Makefile.
set -eu
: "${CC:=cc}"
: "${PCRE2_LIBS:=-lpcre2-8}"

# What the core may take from libc and libm, after the prefixes and suffixes that glibc,
# _FORTIFY_SOURCE and the stack protector add (__isoc99_sscanf, __snprintf_chk) are taken off.
ALLOWED='
malloc calloc realloc free aligned_alloc
memcpy memmove memset memcmp memchr memrchr memmem
strlen strnlen strcmp strncmp strcasecmp strncasecmp strchr strrchr strstr strcasestr
strspn strcspn strpbrk strdup strndup strtok_r strtol strtoul strtoll strtoull strtod
__ctype_b_loc __ctype_tolower_loc __ctype_toupper_loc tolower toupper __errno_location
snprintf vsnprintf sscanf
qsort bsearch fnmatch inet_pton
gmtime_r timegm strftime
pow fmax fmin floor ceil sqrt log exp fabs round lround llround
__stack_chk_fail _GLOBAL_OFFSET_TABLE_
'

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf 'int main(void) { return 0; }\n' > "$T/main.c"
if ! $CC -o "$T/core" "$T/main.c" "$@" $PCRE2_LIBS -lm 2> "$T/ld.err"; then
    sed 's/^/  /' "$T/ld.err" | head -n 20
    echo "pure core: does not link with libc, PCRE2 and libm alone"
    exit 1
fi

for o in "$@"; do nm --defined-only -g "$o"; done | awk '{print $3}' | sort -u > "$T/defined"
printf '%s\n' $ALLOWED | sort -u > "$T/allowed"
bad=0
for o in "$@"; do
    nm -u "$o" | awk '{print $2}' | sed 's/@.*//' | sort -u | comm -23 - "$T/defined" |
        while read -r sym; do
            base=$(printf '%s\n' "$sym" | sed -E 's/^__isoc[0-9]+_//; s/^__(.*)_chk$/\1/')
            case "$base" in pcre2_*) continue ;; esac
            grep -qx "$base" "$T/allowed" || echo "$o: $sym"
        done
done > "$T/bad"
if [ -s "$T/bad" ]; then
    sed 's/^/  /' "$T/bad"
    echo "pure core: calls outside libc's computing part, PCRE2 and libm (I/O belongs to the edge)"
    exit 1
fi
echo "pure core: $# objects link with libc, PCRE2 and libm alone and do no I/O"
