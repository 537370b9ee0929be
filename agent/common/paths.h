/*
 * paths.h -- where the pattern packs are: $SMTPMON_PATTERNS, else "patterns" beside the
 * directory of the executable (a build tree: build/smtpmon -> patterns/), else the installed
 * SMTPMON_PATTERNS_DIR. Overrides live in PATHS_OVERRIDE_DIR when it exists.
 */
#ifndef SMTPMON_AGENT_PATHS_H
#define SMTPMON_AGENT_PATHS_H

#include <stddef.h>

struct ruleset;

#define PATHS_OVERRIDE_DIR "/etc/smtpmon/patterns.d"

const char *paths_patterns_dir(void);

/* Fills dirs with the built-in dir (or 'primary' if not NULL) and, if 'extra' is not NULL, or
 * else when PATHS_OVERRIDE_DIR exists, the override dir. Returns how many (1 or 2). */
size_t paths_pattern_dirs(const char *primary, const char *extra, const char *dirs[2]);

/* The rule set of those directories, for the commands (scan, explain, query), printing every
 * error to stderr; NULL on error. */
struct ruleset *paths_load_rules(const char *primary, const char *extra, int jit);

#endif
