/*
 * rules_load.h -- reads the pattern packs from their directories (the edge of the core's loader,
 * rules.h).
 */
#ifndef SMTPMON_AGENT_RULES_LOAD_H
#define SMTPMON_AGENT_RULES_LOAD_H

#include <stddef.h>

struct errlist;
struct ruleset;

/* Loads every *.rules file of each directory in order (later directories override rules by
 * name). Returns NULL and fills errs ("file:line: message") on any error. 'use_jit' 0 disables
 * JIT; a JIT compile failure (e.g. under MemoryDenyWriteExecute) falls back to the
 * interpreter and is reported by ruleset_jit(). */
struct ruleset *ruleset_load(const char *const *dirs, size_t ndirs, int use_jit,
                             struct errlist *errs);

#endif
