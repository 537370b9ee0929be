/*
 * rules.h -- pattern packs and the reason catalogue (patterns/NAME.rules), compiled with PCRE2,
 * and the matcher that turns a parsed log line into a classified event.
 *
 * A ruleset is immutable once loaded and may be shared by threads; each thread uses its own
 * matcher (PCRE2 match data, JIT stack and a program -> rules cache).
 */
#ifndef SMTPMON_AGENT_RULES_H
#define SMTPMON_AGENT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "errlist.h"
#include "event.h"
#include "loghdr.h"

struct ruleset;
struct matcher;
struct pack;
struct rule;

#define RULES_MAX_LINE_MATCH 100000 /* PCRE2 match limit per line and rule */

/* Loads pattern packs from their text, one file at a time (the directories are read at the
 * edge: rules_load.h): the files of each directory in the order of their names, directories in
 * order, 'dir_level' the directory's index (a later directory overrides rules by name).
 * rules_loader_finish returns the ruleset, or NULL with errs filled ("file:line: message") on
 * any error; it frees the loader. 'use_jit' 0 disables JIT; a JIT compile failure (e.g. under
 * MemoryDenyWriteExecute) falls back to the interpreter and is reported by ruleset_jit(). */
struct rules_loader;
struct rules_loader *rules_loader_new(int use_jit, struct errlist *errs); /* NULL: no memory */
void rules_loader_add(struct rules_loader *l, const char *file, int dir_level, const char *text,
                      size_t len);
struct ruleset *rules_loader_finish(struct rules_loader *l);
/* The same for one text (for tests and fuzzing): 'name' is used in messages. */
struct ruleset *ruleset_load_text(const char *name, const char *text, size_t len, int use_jit,
                                  struct errlist *errs);
void ruleset_free(struct ruleset *rs);

/* 1 if every pattern runs JIT-compiled, 0 if some or all run in the interpreter. */
int ruleset_jit(const struct ruleset *rs);
/* Native scanners (scanner.h) stand in for the patterns they implement unless turned off
 * here, before any matcher is made (scan --no-scanners, and the tests that compare). */
void ruleset_set_scanners(struct ruleset *rs, int on);
/* Enabled rules that run a native scanner (0 when scanners are off). */
size_t ruleset_scanner_count(const struct ruleset *rs);
size_t ruleset_rule_count(const struct ruleset *rs);
const struct rule *ruleset_rule_at(const struct ruleset *rs, size_t i);
size_t ruleset_pack_count(const struct ruleset *rs);
const struct pack *ruleset_pack_at(const struct ruleset *rs, size_t i);
const struct pack *ruleset_pack_by_name(const struct ruleset *rs, const char *name);

size_t ruleset_reason_count(const struct ruleset *rs);
const char *ruleset_reason_name(const struct ruleset *rs, int reason);
int ruleset_reason_by_name(const struct ruleset *rs, const char *name); /* -1 unknown */
/* A reason's 'match' pattern as written, or NULL (for tests). */
const char *ruleset_reason_pattern(const struct ruleset *rs, int reason);
/* Folds a reply text as the reason search sees it (numbers, ids and names to '#', see
 * patterns/README.md); returns the folded length, at most cap - 2. */
size_t rules_fold_text(const char *text, size_t len, char *out, size_t cap);

const char *rule_name(const struct rule *r);
size_t rule_index(const struct rule *r);
const char *rule_file(const struct rule *r);
unsigned rule_line(const struct rule *r);
const struct pack *rule_pack(const struct rule *r);
/* 1 if the rule has a default code, so that it is tried on lines without one too. */
int rule_tried_without_code(const struct rule *r);
/* The rule's 'require' literal, or NULL. */
const char *rule_require(const struct rule *r);
/* The name of the rule's native scanner, or NULL. */
const char *rule_scanner(const struct rule *r);
/* 1 if the rule's pattern has its JIT code: compiled on the rule's first match (for tests). */
int rule_jit_compiled(const struct rule *r);
/* The rule's 'reply' default (0 none) and 'status' default (0 none; class, subject, detail). */
int rule_default_reply(const struct rule *r);
int rule_default_status(const struct rule *r, int *subject, int *detail);
const char *pack_name(const struct pack *p);

struct matcher *matcher_new(const struct ruleset *rs);
void matcher_free(struct matcher *m);

enum match_result {
    MATCH_NOCODE,    /* the line carries no code and no rule with a default matched */
    MATCH_OK,        /* ev is filled */
    MATCH_UNMATCHED, /* the line carries a code but no rule matched */
    MATCH_IGNORED,   /* an 'ignore' rule says the code-like text is not a reply (traces);
                        ev->rule names it, nothing else is filled */
};

/* Matches a parsed line. 'only' restricts to one pack (NULL: choose packs by program name;
 * a line without a program tries every pack). 'ev' slices point into the line. */
enum match_result matcher_match(struct matcher *m, const struct loghdr *h, const struct pack *only,
                                struct smtp_event *ev);

/* Chooses a reason for a failure: index in the catalogue. Exposed for explain and tests. */
int matcher_reason(struct matcher *m, int reply, int enh_class, int subject, int detail,
                   const char *text, size_t len);

/* The order in which a line meets the detector and the rules (matcher_match): -1 (the default)
 * chooses by each program's recent lines, 0 runs the detector first, 1 the first rules first.
 * The results are the same in every order; tests compare them. */
void matcher_set_order(struct matcher *m, int order);

/* Whether a long list of rules is tried only at the rules whose literal's pair of bytes the
 * message has (1, the default), or at every rule, each searching for its literal (0). The
 * results are the same; tests compare them. */
void matcher_set_pairs(struct matcher *m, int on);

/* Counters for lines whose matching hit a PCRE2 limit (they count as unmatched). */
uint64_t matcher_limit_hits(const struct matcher *m);

#endif
