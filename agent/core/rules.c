#include <ctype.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "codes.h"
#include "detect.h"
#include "lists.h"
#include "picks.h"
#include "rules.h"
#include "scanner.h"
#include "words.h"

#define RULES_DEPTH_LIMIT 2000
#define RULES_HEAP_LIMIT_KIB 2048
#define REASON_TEXT_MAX 2048 /* bytes of a normalised reply text searched for a reason */
/* Reasons are searched at word starts only (a letter or digit after a byte that is neither).
 * Which reasons can match at a word start is known from its first two bytes: a table per
 * matcher, filled on first use by partial matching, leaves a handful of anchored matches per
 * text instead of every reason at every word. */
#define REASON_FIRST 62   /* [0-9A-Za-z] */
#define REASON_SECOND 257 /* any byte, or 256: the text ends after the first */
#define REASON_MASKED 64  /* reasons with a bit in the table; later ones are always tried */
/* The table by two bytes is then narrowed by the first four, for the prefixes a matcher meets
 * (a few thousand in a busy log): an open-addressing cache, not filled beyond three quarters. */
#define REASON_PREFIXES 8192
#define CACHE_BITS 7
#define CACHE_SLOTS (1 << CACHE_BITS) /* program -> rules cache entries per matcher */
/* Lists of rules with a code group with fewer rules that require a held pair are tried rule by
 * rule, each searching for its literal: the pass would cost more than it saves (Postfix's and
 * Sendmail's lists; most of their lines meet a delivery scanner first). */
#define PICKS_MIN_RULES 8
/* A program's rules with a default code are tried on each of its lines that carries none (most
 * lines): by pairs from two of them on, one pass over the line instead of a search for each
 * literal (Sendmail's bench, 100,000 lines: 245.5 M instructions by literals, 238.5 M by pairs;
 * with four more such rules 274.0 M by literals, 244.1 M by pairs). */
#define PICKS_MIN_NOCODE 2
#define REASON_MEMO 4096 /* memoised reason choices per matcher (power of two) */
/* Texts this long or longer are not looked up by their raw key: in real logs they are the long
 * answers of the big providers, with ids in them that the folding hides (none repeats as it
 * is in a relay's day), and the key would cost more than it spares. */
#define REASON_RAW_MAX 192
#define PROGRAM_MAX 96

#define OUTCOME_FROM_STATUS (-1)
#define GREF_MAX 4

/* The capture groups of one name (a pattern may repeat a name in alternatives). */
struct gref {
    int n;
    int g[GREF_MAX];
};

struct rule {
    char *name;
    char *file;
    unsigned line;
    int dir_level; /* index of the directory it came from */
    struct pack *pack;
    size_t index;
    char **services;
    size_t nservices;
    int direction;
    int outcome; /* OUTCOME_* or OUTCOME_FROM_STATUS */
    char *reason_name;
    int reason;                           /* forced reason, -1 none */
    int def_reply;                        /* 0 none */
    int def_cls, def_subject, def_detail; /* def_cls 0 none */
    char *pattern;
    unsigned pattern_line;
    pcre2_code *re;
    /* 1 while re awaits its JIT compilation: done on the rule's first match (rule_jit), as a
     * log reaches few of the rules (the JIT code of all of them was nearly half the start-up's
     * instructions and 0.8 MiB of memory) */
    atomic_uchar jit_pending;
    struct gref g[SCAN_NGROUPS]; /* by enum scan_group: the groups named as scanner_group_name() */
    int disabled;
    int ignore;    /* matching lines carry no reply: protocol traces, version banners */
    char *require; /* a literal the message must contain before the pattern is tried */
    size_t require_len;
    size_t require_pick;  /* the literal's byte searched for first: its rarest in mail logs */
    int require_id;       /* the literal's number among the ruleset's first 64, or -1 */
    uint64_t require_sub; /* the numbers of the literals contained in it, its own included */
    int pick_id;          /* the number of its picked byte among the ruleset's first 64, or -1 */
    uint64_t pick_sub;    /* the numbers of the picked bytes it contains, its own included */
    const struct scanner *scanner; /* native equivalent of the pattern, or NULL */
    unsigned scan_groups;          /* bit (1 << SCAN_x) when the pattern has group x */
    size_t lead_len; /* the literal every match starts with ("^warning: "), in pattern + 1 */
};

struct pack {
    char *name;
    char **programs;
    size_t nprograms;
    struct rule **rules;
    size_t nrules;
};

struct status_glob {
    int cls, subject, detail; /* -1 wildcard */
};

struct reason {
    char *name;
    char *file;
    unsigned line;
    int dir_level;
    struct status_glob *statuses;
    size_t nstatuses;
    int *replies;
    size_t nreplies;
    char *pattern;
    unsigned pattern_line;
    pcre2_code *re; /* the pattern, caseless and anchored (tried at word starts) */
    int untested;   /* the two-byte table cannot rule it out: tried at every word start */
    /* 'match-for CODES PATTERN': a pattern that counts only for these enhanced codes */
    struct status_glob *for_statuses;
    size_t nfor_statuses;
    char *for_pattern;
    unsigned for_pattern_line;
    pcre2_code *for_re;
};

struct ruleset {
    struct pack **packs;
    size_t npacks;
    struct rule **rules; /* every rule, disabled ones included, by index */
    size_t nrules;
    struct reason **reasons;
    size_t nreasons;
    int other_reason;
    int reason_patterns;     /* reasons with a pattern */
    int reason_for_patterns; /* reasons with a 'match-for' pattern */
    int reason_any_case;     /* every reason pattern matches as well in either case (any_case) */
    uint32_t reason_groups;
    uint32_t max_groups;
    int jit;
    int scanners; /* run the native scanners of the rules that have one */
};

struct cache_entry {
    char program[PROGRAM_MAX];
    size_t plen;
    uint64_t key[3]; /* prog_key() of the program */
    const struct pack *only;
    int used;
    const struct rule **code; /* rules with a code group */
    size_t ncode;
    const struct rule **nocode; /* rules with a default code */
    size_t nnocode;
    /* The first rules of code, up to the first without a scanner: tried before the detector
     * while most lines of the program match one of them (code_first), see matcher_match. */
    size_t nfirst;
    unsigned first_lines, first_hits; /* lines of this window, and those the first rules took */
    int code_first;
    /* The byte every rule of nocode requires (the picked byte of each one's require literal), or
     * -1: a line without a code that lacks it is left without calling try_rules. */
    int nocode_byte;
    /* The bytes every rule of nocode's matches start with (smtpd(8)'s "warning: "), or none: a
     * line without a code that does not start with them is left so too. */
    const char *nocode_lead;
    size_t nocode_lead_len;
    /* A pair of bytes of each require literal of code's and nocode's rules (the first 16
     * pairs), and by list (0 code, 1 nocode) the rules among its first 64 (bit i: rule i) that
     * require each pair, or none (no literal, a one-byte literal, a pair not held): a long list
     * is tried only at the rules whose pair the message has, found in one pass (candidates). */
    struct picks picks;
    uint64_t pick_rules[2][PICKS_MAX];
    uint64_t other_rules[2];
    int by_pairs[2]; /* the list is tried by pairs: PICKS_MIN_RULES of its rules have one */
};

/* What is known of one message over the tries of its rules: the numbers of the require
 * literals (rule.require_id) and of the picked bytes (rule.pick_id) it lacks, and the pairs of
 * its program's entry it has. */
struct line_facts {
    uint64_t absent;
    uint64_t absent_bytes;
    unsigned present;
    int picked; /* present is known */
};

struct matcher {
    const struct ruleset *rs;
    pcre2_match_data *md;
    pcre2_match_data *reason_md;
    uint64_t (*cand)[REASON_SECOND]; /* reasons that may match at a word start, by its bytes */
    uint8_t (*cand_known)[REASON_SECOND];
    struct {
        uint64_t key; /* 0: empty */
        uint64_t mask;
    } * pfx;
    size_t npfx;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    struct cache_entry cache[CACHE_SLOTS];
    struct cache_entry scratch;
    uint64_t limit_hits;
    int order;           /* matcher_set_order */
    int pairs;           /* matcher_set_pairs */
    uint8_t *names_list; /* by reason: 1 when a refusal for it may name a list (list_reason) */
    int reason_other, reason_blocklist; /* their numbers, or -1 */
    struct {
        uint64_t key; /* 0: empty */
        int reason;
    } memo[REASON_MEMO], memo_raw[REASON_MEMO];
};

/* ------------------------------------------------------------------------------------ */
/* Small helpers */

static char *
xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* How often a byte appears in mail logs, roughly (0 rare .. 3 in most words): the letters of
 * English text and of host names, digits, spaces and the punctuation of key=value fields. */
static int
byte_commonness(unsigned char c)
{
    if (c == ' ' || (c >= '0' && c <= '9') || strchr("etaoinsrlcdhum.", c) != NULL) {
        return 3;
    }
    /* and the capitals of SMTP's words and of Exim's fields: TLS, EHLO, RCPT, H= */
    if (strchr("pfgbywvk=<>@:-,/()[]ACDEHLMOPRSTX", c) != NULL) {
        return 2;
    }
    if (c >= 'a' && c <= 'z') {
        return 1; /* j q x z */
    }
    return 0; /* other capitals, quotes, other punctuation, bytes above 127 */
}

/* The offset of the rarest byte of w (the last of the rarest). */
static size_t
rarest_byte(const char *w, size_t wl)
{
    size_t pick = wl > 0 ? wl - 1 : 0;

    for (size_t i = wl; i-- > 0;) {
        if (byte_commonness((unsigned char)w[i]) < byte_commonness((unsigned char)w[pick])) {
            pick = i;
        }
    }
    return pick;
}

/* The offset of the pair of adjacent bytes of w (wl >= 2) that a message is looked at for: the
 * rarest by byte_commonness summed, the last of the rarest; a pair p holds already is taken
 * when it is as rare or one step more common (16 pairs are held at most). */
static size_t
rarest_pair(const struct picks *p, const char *w, size_t wl)
{
    size_t best = wl - 2, held = wl;
    int best_c = 99, held_c = 99;

    for (size_t i = wl - 1; i-- > 0;) {
        int c = byte_commonness((unsigned char)w[i]) + byte_commonness((unsigned char)w[i + 1]);
        if (c < best_c) {
            best = i;
            best_c = c;
        }
        for (unsigned k = 0; k < p->n && c < held_c; k++) {
            if (p->pair[k][0] == (unsigned char)w[i] && p->pair[k][1] == (unsigned char)w[i + 1]) {
                held = i;
                held_c = c;
            }
        }
    }
    return held < wl && held_c <= best_c + 1 ? held : best;
}

static int
push_ptr(void ***arr, size_t *n, void *p)
{
    void **a = realloc(*arr, (*n + 1) * sizeof(*a));
    if (a == NULL) {
        return -1;
    }
    a[(*n)++] = p;
    *arr = a;
    return 0;
}

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static void
rule_free(struct rule *r)
{
    if (r == NULL) {
        return;
    }
    free(r->name);
    free(r->file);
    free_strv(r->services, r->nservices);
    free(r->reason_name);
    free(r->pattern);
    free(r->require);
    pcre2_code_free(r->re);
    free(r);
}

static void
reason_free(struct reason *r)
{
    if (r == NULL) {
        return;
    }
    free(r->name);
    free(r->file);
    free(r->statuses);
    free(r->replies);
    free(r->pattern);
    pcre2_code_free(r->re);
    free(r->for_statuses);
    free(r->for_pattern);
    pcre2_code_free(r->for_re);
    free(r);
}

void
ruleset_free(struct ruleset *rs)
{
    if (rs == NULL) {
        return;
    }
    for (size_t i = 0; i < rs->npacks; i++) {
        free(rs->packs[i]->name);
        free_strv(rs->packs[i]->programs, rs->packs[i]->nprograms);
        free(rs->packs[i]->rules);
        free(rs->packs[i]);
    }
    free(rs->packs);
    for (size_t i = 0; i < rs->nrules; i++) {
        rule_free(rs->rules[i]);
    }
    free(rs->rules);
    for (size_t i = 0; i < rs->nreasons; i++) {
        reason_free(rs->reasons[i]);
    }
    free(rs->reasons);
    free(rs);
}

/* Splits the words of s (white space separated) into a new vector appended to *v. */
static int
add_words(char ***v, size_t *n, const char *s)
{
    while (*s != '\0') {
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        const char *e = s;
        while (*e != '\0' && *e != ' ' && *e != '\t') {
            e++;
        }
        if (e > s) {
            char *w = xstrndup(s, (size_t)(e - s));
            if (w == NULL || push_ptr((void ***)v, n, w) < 0) {
                free(w);
                return -1;
            }
        }
        s = e;
    }
    return 0;
}

static int
valid_name(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

static int
parse_glob_part(const char *s, size_t len, int *out)
{
    int v = 0;
    if (len == 1 && *s == '*') {
        *out = -1;
        return 0;
    }
    if (len == 0 || len > 3) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int
parse_status_glob(const char *w, struct status_glob *g)
{
    const char *d1 = strchr(w, '.'), *d2;
    if (d1 == NULL || (d2 = strchr(d1 + 1, '.')) == NULL || strchr(d2 + 1, '.') != NULL) {
        return -1;
    }
    if (parse_glob_part(w, (size_t)(d1 - w), &g->cls) < 0 ||
        parse_glob_part(d1 + 1, (size_t)(d2 - d1 - 1), &g->subject) < 0 ||
        parse_glob_part(d2 + 1, strlen(d2 + 1), &g->detail) < 0) {
        return -1;
    }
    if (g->cls != -1 && g->cls != 2 && g->cls != 4 && g->cls != 5) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Loading */

struct loader {
    struct ruleset *rs;
    struct errlist *errs;
    size_t errs_before; /* errors already listed by the caller (the configuration's) */
    int use_jit;
    int jit_tried; /* a pattern's JIT compilation was attempted: rs->jit says whether JIT works */
    int dir_level;
    /* current context */
    const char *file;
    struct pack *pack;
    struct rule *rule;
    struct reason *reason;
    int block_failed; /* a rule or reason line was refused: its keys are skipped quietly */
};

static struct pack *
pack_find(struct ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->npacks; i++) {
        if (strcmp(rs->packs[i]->name, name) == 0) {
            return rs->packs[i];
        }
    }
    return NULL;
}

static struct rule *
rule_find(struct ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->nrules; i++) {
        if (strcmp(rs->rules[i]->name, name) == 0) {
            return rs->rules[i];
        }
    }
    return NULL;
}

static struct reason *
reason_find(struct ruleset *rs, const char *name, size_t *idx)
{
    for (size_t i = 0; i < rs->nreasons; i++) {
        if (strcmp(rs->reasons[i]->name, name) == 0) {
            if (idx != NULL) {
                *idx = i;
            }
            return rs->reasons[i];
        }
    }
    return NULL;
}

static void
top_pack(struct loader *ld, unsigned ln, const char *arg)
{
    struct pack *p;

    ld->rule = NULL;
    ld->reason = NULL;
    if (!valid_name(arg)) {
        errlist_add(ld->errs, ld->file, ln, "invalid pack name '%s'", arg);
        ld->pack = NULL;
        return;
    }
    if ((p = pack_find(ld->rs, arg)) == NULL) {
        if ((p = calloc(1, sizeof(*p))) == NULL || (p->name = strdup(arg)) == NULL ||
            push_ptr((void ***)&ld->rs->packs, &ld->rs->npacks, p) < 0) {
            if (p != NULL) {
                free(p->name);
            }
            free(p);
            errlist_add(ld->errs, ld->file, ln, "out of memory");
            ld->pack = NULL;
            return;
        }
    }
    ld->pack = p;
}

static void
top_rule(struct loader *ld, unsigned ln, const char *arg)
{
    struct rule *r, *old;

    ld->rule = NULL;
    ld->reason = NULL;
    if (!valid_name(arg)) {
        errlist_add(ld->errs, ld->file, ln, "invalid rule name '%s'", arg);
        return;
    }
    if (ld->pack == NULL) {
        errlist_add(ld->errs, ld->file, ln, "rule '%s' outside a pack (add a 'pack NAME' line)",
                    arg);
        return;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->name = strdup(arg)) == NULL ||
        (r->file = strdup(ld->file)) == NULL) {
        rule_free(r);
        errlist_add(ld->errs, ld->file, ln, "out of memory");
        return;
    }
    r->line = ln;
    r->dir_level = ld->dir_level;
    r->direction = DIR_UNKNOWN;
    r->outcome = OUTCOME_FROM_STATUS;
    r->reason = -1;
    r->pack = ld->pack;
    if ((old = rule_find(ld->rs, arg)) != NULL) {
        if (old->dir_level == ld->dir_level) {
            errlist_add(ld->errs, ld->file, ln, "duplicate rule '%s' (first at %s:%u)", arg,
                        old->file, old->line);
            rule_free(r);
            return;
        }
        /* An override from a later directory replaces the rule in place. */
        r->pack = old->pack;
        r->index = old->index;
        for (size_t i = 0; i < old->pack->nrules; i++) {
            if (old->pack->rules[i] == old) {
                old->pack->rules[i] = r;
            }
        }
        ld->rs->rules[old->index] = r;
        rule_free(old);
    } else {
        r->index = ld->rs->nrules;
        if (push_ptr((void ***)&ld->rs->rules, &ld->rs->nrules, r) < 0 ||
            push_ptr((void ***)&ld->pack->rules, &ld->pack->nrules, r) < 0) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
            return;
        }
    }
    ld->rule = r;
}

static void
top_reason(struct loader *ld, unsigned ln, const char *arg)
{
    struct reason *r, *old;
    size_t idx;

    ld->rule = NULL;
    ld->reason = NULL;
    if (!valid_name(arg)) {
        errlist_add(ld->errs, ld->file, ln, "invalid reason name '%s'", arg);
        return;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->name = strdup(arg)) == NULL ||
        (r->file = strdup(ld->file)) == NULL) {
        reason_free(r);
        errlist_add(ld->errs, ld->file, ln, "out of memory");
        return;
    }
    r->line = ln;
    r->dir_level = ld->dir_level;
    if ((old = reason_find(ld->rs, arg, &idx)) != NULL) {
        if (old->dir_level == ld->dir_level) {
            errlist_add(ld->errs, ld->file, ln, "duplicate reason '%s' (first at %s:%u)", arg,
                        old->file, old->line);
            reason_free(r);
            return;
        }
        ld->rs->reasons[idx] = r;
        reason_free(old);
    } else if (ld->rs->nreasons >= 63 ||
               push_ptr((void ***)&ld->rs->reasons, &ld->rs->nreasons, r) < 0) {
        errlist_add(ld->errs, ld->file, ln, "too many reasons (at most 63)");
        reason_free(r);
        return;
    }
    ld->reason = r;
}

static void
top_disable(struct loader *ld, unsigned ln, const char *arg)
{
    struct rule *r = rule_find(ld->rs, arg);

    ld->rule = NULL;
    ld->reason = NULL;
    if (r == NULL) {
        errlist_add(ld->errs, ld->file, ln, "disable: no rule named '%s'", arg);
        return;
    }
    r->disabled = 1;
}

static int
parse_code_default(const char *arg, int *reply)
{
    if (codes_parse_reply(arg, strlen(arg), reply) < 0 || !codes_reply_valid(*reply)) {
        return -1;
    }
    return 0;
}

static void
rule_key(struct loader *ld, unsigned ln, const char *key, const char *arg)
{
    struct rule *r = ld->rule;
    int v;

    if (strcmp(key, "services") == 0) {
        if (add_words(&r->services, &r->nservices, arg) < 0) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
        }
    } else if (strcmp(key, "direction") == 0) {
        if ((v = direction_from_name(arg, strlen(arg))) <= 0) {
            errlist_add(
                ld->errs, ld->file, ln,
                "rule '%s': direction must be inbound, outbound, local or internal, not '%s'",
                r->name, arg);
        } else {
            r->direction = v;
        }
    } else if (strcmp(key, "outcome") == 0) {
        if (strcmp(arg, "status") == 0) {
            r->outcome = OUTCOME_FROM_STATUS;
        } else if ((v = outcome_from_name(arg, strlen(arg))) <= 0) {
            errlist_add(ld->errs, ld->file, ln,
                        "rule '%s': outcome must be delivered, deferred, bounced, rejected, "
                        "expired or status, not '%s'",
                        r->name, arg);
        } else {
            r->outcome = v;
        }
    } else if (strcmp(key, "reason") == 0) {
        free(r->reason_name);
        r->reason_name = strdup(arg);
        r->pattern_line = r->pattern_line; /* resolved after all files are read */
        if (r->reason_name == NULL) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
        }
    } else if (strcmp(key, "reply") == 0) {
        if (parse_code_default(arg, &r->def_reply) < 0) {
            errlist_add(ld->errs, ld->file, ln,
                        "rule '%s': reply must be a reply code such as 550, not '%s'", r->name,
                        arg);
        }
    } else if (strcmp(key, "status") == 0) {
        if (codes_parse_enh(arg, strlen(arg), &r->def_cls, &r->def_subject, &r->def_detail) < 0 ||
            !codes_enh_valid(r->def_cls, r->def_subject, r->def_detail)) {
            errlist_add(ld->errs, ld->file, ln,
                        "rule '%s': status must be an enhanced code such as 5.7.1, not '%s'",
                        r->name, arg);
            r->def_cls = 0;
        }
    } else if (strcmp(key, "ignore") == 0) {
        if (strcmp(arg, "yes") == 0) {
            r->ignore = 1;
        } else if (strcmp(arg, "no") == 0) {
            r->ignore = 0;
        } else {
            errlist_add(ld->errs, ld->file, ln, "rule '%s': ignore must be yes or no, not '%s'",
                        r->name, arg);
        }
    } else if (strcmp(key, "require") == 0) {
        free(r->require);
        if ((r->require = strdup(arg)) == NULL) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
        } else {
            r->require_len = strlen(arg);
            r->require_pick = rarest_byte(arg, r->require_len);
        }
    } else if (strcmp(key, "match") == 0) {
        if (r->pattern != NULL) {
            errlist_add(ld->errs, ld->file, ln, "rule '%s': a second 'match' line", r->name);
            return;
        }
        if ((r->pattern = strdup(arg)) == NULL) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
        }
        r->pattern_line = ln;
    } else {
        errlist_add(ld->errs, ld->file, ln, "rule '%s': unknown key '%s'", r->name, key);
    }
}

/* The first digit of a reason pattern that stands for itself (not in a {m,n} quantifier or an
 * escape such as \x41), or NULL. Reply texts reach the reason patterns with every run of
 * digits folded to '#' (see rules_fold_text), so such a digit never matches. */
static const char *
literal_digit(const char *pat)
{
    for (const char *p = pat; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            if (*p == 'x') {
                while (isxdigit((unsigned char)p[1])) {
                    p++;
                }
            }
        } else if (*p == '{') {
            p += strspn(p + 1, "0123456789,");
        } else if ((unsigned)(*p - '0') <= 9) {
            return p;
        }
    }
    return NULL;
}

/* An error for a reason pattern with a digit that can never match, naming it. */
static int
digit_error(struct loader *ld, unsigned ln, const struct reason *r, const char *key,
            const char *pat)
{
    const char *d = literal_digit(pat);

    if (d == NULL) {
        return 0;
    }
    errlist_add(ld->errs, ld->file, ln,
                "reason '%s': the '%c' in %s '%s%.16s' never matches: reply texts reach the "
                "reasons with every run of digits as '#' (write '#' for it)",
                r->name, *d, key, d > pat + 8 ? "..." : "", d > pat + 8 ? d - 8 : pat);
    return -1;
}

static void
reason_key(struct loader *ld, unsigned ln, const char *key, const char *arg)
{
    struct reason *r = ld->reason;

    if (strcmp(key, "status") == 0) {
        char **w = NULL;
        size_t n = 0;
        if (add_words(&w, &n, arg) < 0) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            struct status_glob g;
            struct status_glob *a;
            if (parse_status_glob(w[i], &g) < 0) {
                errlist_add(ld->errs, ld->file, ln,
                            "reason '%s': '%s' is not an enhanced code or glob such as 5.1.1 "
                            "or *.2.2",
                            r->name, w[i]);
                continue;
            }
            if ((a = realloc(r->statuses, (r->nstatuses + 1) * sizeof(*a))) == NULL) {
                break;
            }
            a[r->nstatuses++] = g;
            r->statuses = a;
        }
        free_strv(w, n);
    } else if (strcmp(key, "reply") == 0) {
        char **w = NULL;
        size_t n = 0;
        if (add_words(&w, &n, arg) < 0) {
            errlist_add(ld->errs, ld->file, ln, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            int v;
            int *a;
            if (parse_code_default(w[i], &v) < 0) {
                errlist_add(ld->errs, ld->file, ln,
                            "reason '%s': '%s' is not a reply code such as 550", r->name, w[i]);
                continue;
            }
            if ((a = realloc(r->replies, (r->nreplies + 1) * sizeof(*a))) == NULL) {
                break;
            }
            a[r->nreplies++] = v;
            r->replies = a;
        }
        free_strv(w, n);
    } else if (strcmp(key, "match") == 0) {
        if (r->pattern != NULL) {
            errlist_add(ld->errs, ld->file, ln, "reason '%s': a second 'match' line", r->name);
            return;
        }
        if (digit_error(ld, ln, r, key, arg) < 0) {
            return;
        }
        r->pattern = strdup(arg);
        r->pattern_line = ln;
    } else if (strcmp(key, "match-for") == 0) {
        /* match-for 5.4.1,4.4.* PATTERN */
        size_t cl = strcspn(arg, " \t");
        const char *pat = arg + cl;
        char codes[256];
        char *save = NULL;
        while (*pat == ' ' || *pat == '\t') {
            pat++;
        }
        if (r->for_pattern != NULL) {
            errlist_add(ld->errs, ld->file, ln, "reason '%s': a second 'match-for' line", r->name);
            return;
        }
        if (cl == 0 || cl >= sizeof(codes) || *pat == '\0') {
            errlist_add(ld->errs, ld->file, ln,
                        "reason '%s': 'match-for' takes enhanced codes (comma-separated globs) "
                        "and a pattern",
                        r->name);
            return;
        }
        memcpy(codes, arg, cl);
        codes[cl] = '\0';
        for (char *w = strtok_r(codes, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
            struct status_glob g;
            struct status_glob *a;
            if (parse_status_glob(w, &g) < 0) {
                errlist_add(ld->errs, ld->file, ln,
                            "reason '%s': '%s' is not an enhanced code or glob such as 5.4.1 "
                            "or *.4.1",
                            r->name, w);
                return;
            }
            if ((a = realloc(r->for_statuses, (r->nfor_statuses + 1) * sizeof(*a))) == NULL) {
                errlist_add(ld->errs, ld->file, ln, "out of memory");
                return;
            }
            a[r->nfor_statuses++] = g;
            r->for_statuses = a;
        }
        if (digit_error(ld, ln, r, key, pat) < 0) {
            return;
        }
        r->for_pattern = strdup(pat);
        r->for_pattern_line = ln;
    } else {
        errlist_add(ld->errs, ld->file, ln, "reason '%s': unknown key '%s'", r->name, key);
    }
}

static void
load_line(struct loader *ld, unsigned ln, char *line)
{
    size_t len = strlen(line);
    int indented;
    char *key, *arg, *p;

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    indented = line[0] == ' ' || line[0] == '\t';
    p = line;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0' || *p == '#') {
        return;
    }
    key = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') {
        p++;
    }
    if (*p != '\0') {
        *p++ = '\0';
    }
    /* The argument: everything after one run of blanks; 'match' keeps trailing blanks. */
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    arg = p;
    if (strcmp(key, "match") != 0) {
        size_t al = strlen(arg);
        while (al > 0 && (arg[al - 1] == ' ' || arg[al - 1] == '\t')) {
            arg[--al] = '\0';
        }
    }
    if (*arg == '\0') {
        errlist_add(ld->errs, ld->file, ln, "'%s' needs a value", key);
        return;
    }
    if (!indented) {
        ld->block_failed = 0;
        if (strcmp(key, "pack") == 0) {
            top_pack(ld, ln, arg);
        } else if (strcmp(key, "programs") == 0) {
            ld->rule = NULL;
            ld->reason = NULL;
            if (ld->pack == NULL) {
                errlist_add(ld->errs, ld->file, ln, "'programs' outside a pack");
            } else if (add_words(&ld->pack->programs, &ld->pack->nprograms, arg) < 0) {
                errlist_add(ld->errs, ld->file, ln, "out of memory");
            }
        } else if (strcmp(key, "rule") == 0) {
            top_rule(ld, ln, arg);
            ld->block_failed = ld->rule == NULL;
        } else if (strcmp(key, "reason") == 0) {
            top_reason(ld, ln, arg);
            ld->block_failed = ld->reason == NULL;
        } else if (strcmp(key, "disable") == 0) {
            top_disable(ld, ln, arg);
        } else {
            errlist_add(ld->errs, ld->file, ln,
                        "unknown keyword '%s' (expected pack, programs, rule, reason or "
                        "disable; keys of a rule are indented)",
                        key);
        }
        return;
    }
    if (ld->rule != NULL) {
        rule_key(ld, ln, key, arg);
    } else if (ld->reason != NULL) {
        reason_key(ld, ln, key, arg);
    } else if (!ld->block_failed) {
        errlist_add(ld->errs, ld->file, ln,
                    "'%s' outside a rule or reason (keys are indented under 'rule NAME' or "
                    "'reason NAME')",
                    key);
    }
}

/* The text of one pattern file, line by line (a line keeps its '\n', the last one may lack it). */
static void
load_text(struct loader *ld, const char *text, size_t len)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned ln = 0;

    ld->pack = NULL;
    ld->rule = NULL;
    ld->reason = NULL;
    ld->block_failed = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - (text + at)) + 1 : len - at;

        if (n + 1 > cap) {
            char *p = realloc(line, n + 1);
            if (p == NULL) {
                errlist_add(ld->errs, ld->file, ln + 1, "out of memory");
                break;
            }
            line = p;
            cap = n + 1;
        }
        memcpy(line, text + at, n);
        line[n] = '\0';
        at += n;
        ln++;
        if (memchr(line, '\0', n) != NULL) {
            errlist_add(ld->errs, ld->file, ln, "the line contains a NUL byte");
            continue;
        }
        load_line(ld, ln, line);
    }
    free(line);
}

static void
compile_error(struct loader *ld, const char *file, unsigned ln, const char *what, const char *name,
              int code, PCRE2_SIZE off)
{
    PCRE2_UCHAR msg[256];

    pcre2_get_error_message(code, msg, sizeof(msg));
    errlist_add(ld->errs, file, ln, "%s '%s': pattern error at offset %zu: %s", what, name,
                (size_t)off, (const char *)msg);
}

/* The pattern compiled; with jit, its JIT code too (else a rule's, when first matched). */
static pcre2_code *
compile(struct loader *ld, const char *pat, uint32_t opts, int jit, int *code, PCRE2_SIZE *off)
{
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, code, off, NULL);

    if (re != NULL && jit && ld->use_jit && ld->rs->jit) {
        ld->jit_tried = 1;
        if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0) {
            ld->rs->jit = 0; /* e.g. MemoryDenyWriteExecute=yes: no later compilation either */
        }
    }
    return re;
}

/* The JIT compilations of rules on their first match: one at a time, as the scan's threads
 * share the rules, and none while another thread could match the same pattern (pcre2_match
 * reads what pcre2_jit_compile writes). A spin lock of C11 atomics, not a mutex: the pure core
 * calls no thread library, and a thread waits once a rule at most, while another compiles (a
 * few hundred microseconds). */
static atomic_flag jit_lock = ATOMIC_FLAG_INIT;

static __attribute__((noinline, cold)) void
rule_jit(const struct rule *cr)
{
    struct rule *r = (struct rule *)cr; /* a rule's one field written after loading */

    while (atomic_flag_test_and_set_explicit(&jit_lock, memory_order_acquire)) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    if (atomic_load_explicit(&r->jit_pending, memory_order_relaxed)) {
        (void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* failed: the interpreter runs it */
        atomic_store_explicit(&r->jit_pending, 0, memory_order_release);
    }
    atomic_flag_clear_explicit(&jit_lock, memory_order_release);
}

static struct gref
group(pcre2_code *re, const char *name)
{
    struct gref r = {0, {0}};
    PCRE2_SPTR first, last;
    int size = pcre2_substring_nametable_scan(re, (PCRE2_SPTR)name, &first, &last);

    if (size <= 0) {
        return r;
    }
    for (PCRE2_SPTR e = first; e <= last && r.n < GREF_MAX; e += size) {
        r.g[r.n++] = (e[0] << 8) | e[1];
    }
    return r;
}

/* Numbers the distinct 'require' literals (the first 64) and gives each rule the numbers of
 * those contained in its own: a message that lacks one of them lacks the rule's literal too.
 * Exim's rules, tried in turn on a line, require "rejected", then "temporarily rejected",
 * "rejected RCPT", ...: once the first is known absent the others are not searched for. The
 * bytes searched for first (each literal's rarest) are numbered the same way: a message found
 * to lack a 'g' lacks "message too big" and "syntactically invalid argument" alike. */
static void
number_requires(struct ruleset *rs)
{
    const struct rule *lit[64];
    unsigned char pick[64];
    size_t n = 0, np = 0;

    for (size_t i = 0; i < rs->nrules; i++) {
        struct rule *r = rs->rules[i];
        r->require_id = -1;
        r->require_sub = 0;
        r->pick_id = -1;
        r->pick_sub = 0;
        if (r->require == NULL || r->require_len == 0) {
            continue;
        }
        unsigned char b = (unsigned char)r->require[r->require_pick];
        for (size_t k = 0; k < np; k++) {
            if (pick[k] == b) {
                r->pick_id = (int)k;
                break;
            }
        }
        if (r->pick_id < 0 && np < sizeof(pick)) {
            r->pick_id = (int)np;
            pick[np++] = b;
        }
        for (size_t k = 0; k < n; k++) {
            if (strcmp(lit[k]->require, r->require) == 0) {
                r->require_id = (int)k;
                break;
            }
        }
        if (r->require_id < 0 && n < sizeof(lit) / sizeof(lit[0])) {
            r->require_id = (int)n;
            lit[n++] = r;
        }
    }
    for (size_t i = 0; i < rs->nrules; i++) {
        struct rule *r = rs->rules[i];
        for (size_t k = 0; r->require != NULL && k < n; k++) {
            if (memmem(r->require, r->require_len, lit[k]->require, lit[k]->require_len) != NULL) {
                r->require_sub |= UINT64_C(1) << k;
            }
        }
        for (size_t k = 0; r->require != NULL && k < np; k++) {
            if (memchr(r->require, pick[k], r->require_len) != NULL) {
                r->pick_sub |= UINT64_C(1) << k;
            }
        }
    }
}

/* The length of the literal every match of an anchored pattern starts with (the bytes after
 * its '^' up to the first metacharacter, less one that a quantifier makes optional), or 0: no
 * '^', or an alternative at the top level ("^a|b") that may match without it. */
static size_t
lead_literal(const char *pat)
{
    static const char meta[] = "\\^$.|?*+()[]{}";
    int depth = 0;
    size_t n;

    if (pat[0] != '^') {
        return 0;
    }
    for (const char *p = pat; *p != '\0'; p++) {
        if (*p == '\\') {
            if (*++p == '\0') {
                break;
            }
        } else if (*p == '[') { /* a class: "[]...]" and "[^]...]" hold a ']' first */
            p += p[1] == '^' ? 2 : 1;
            if (*p == ']') {
                p++;
            }
            while (*p != '\0' && *p != ']') {
                p += *p == '\\' && p[1] != '\0' ? 2 : 1;
            }
            if (*p == '\0') {
                break;
            }
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            depth--;
        } else if (*p == '|' && depth == 0) {
            return 0;
        }
    }
    n = strcspn(pat + 1, meta);
    if (n > 0 && pat[1 + n] != '\0' && strchr("?*+{", pat[1 + n]) != NULL) {
        n--; /* "^ab?": b may be absent */
    }
    return n;
}

static void
finish_rules(struct loader *ld)
{
    struct ruleset *rs = ld->rs;

    for (size_t i = 0; i < rs->nrules; i++) {
        struct rule *r = rs->rules[i];
        int code;
        PCRE2_SIZE off;
        uint32_t cap;

        if (r->pattern == NULL) {
            errlist_add(ld->errs, r->file, r->line, "rule '%s' has no 'match' line", r->name);
            continue;
        }
        /* JIT code on the rule's first match (rule_jit), unless no pattern has been JIT
         * compiled yet (no reasons): this one then finds whether JIT works at all */
        int jit_now = !ld->jit_tried;
        r->re = compile(ld, r->pattern, PCRE2_DUPNAMES, jit_now, &code, &off);
        if (r->re == NULL) {
            compile_error(ld, r->file, r->pattern_line, "rule", r->name, code, off);
            continue;
        }
        atomic_init(&r->jit_pending, !jit_now && ld->use_jit && ld->rs->jit);
        r->scan_groups = 0;
        for (int g = 0; g < SCAN_NGROUPS; g++) {
            r->g[g] = group(r->re, scanner_group_name((enum scan_group)g));
            r->scan_groups |= r->g[g].n > 0 ? 1u << g : 0;
        }
        r->scanner = scanner_for_pattern(r->pattern);
        r->lead_len = lead_literal(r->pattern);
        if (r->ignore) {
            /* An ignore rule needs no code, direction or outcome. */
        } else if (r->g[SCAN_REPLY].n == 0 && r->g[SCAN_ENH].n == 0 && r->def_reply == 0 &&
                   r->def_cls == 0) {
            errlist_add(ld->errs, r->file, r->pattern_line,
                        "rule '%s': the pattern has no (?<reply>...) or (?<enh>...) group and "
                        "the rule no 'reply' or 'status' default",
                        r->name);
        }
        if (pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &cap) == 0 &&
            cap + 1 > rs->max_groups) {
            rs->max_groups = cap + 1;
        }
        if (r->reason_name != NULL) {
            size_t idx;
            if (reason_find(rs, r->reason_name, &idx) == NULL) {
                errlist_add(ld->errs, r->file, r->line, "rule '%s': unknown reason '%s'", r->name,
                            r->reason_name);
            } else {
                r->reason = (int)idx;
            }
        }
        if (r->direction == DIR_UNKNOWN && !r->ignore) {
            errlist_add(ld->errs, r->file, r->line,
                        "rule '%s' needs a direction (inbound, outbound, local or internal)",
                        r->name);
        }
    }
    number_requires(rs);
}
/* 1 if a pattern compiled caseless surely matches a text as it matches the text with its
 * letters in lower case: no option set inside it ("(?-i)", "(?^)", "(?c)"), no verb, no
 * property or POSIX class (\p{Lu} and [:upper:] keep to their case). Only the groups and
 * assertions "(?:", "(?=", "(?!", "(?<=", "(?<!" are taken. */
static int
any_case(const char *pat)
{
    if (strstr(pat, "\\p") != NULL || strstr(pat, "\\P") != NULL || strstr(pat, "[:") != NULL ||
        strstr(pat, "(*") != NULL) {
        return 0;
    }
    for (const char *p = pat; (p = strstr(p, "(?")) != NULL; p += 2) {
        if (p[2] != ':' && p[2] != '=' && p[2] != '!' &&
            !(p[2] == '<' && (p[3] == '=' || p[3] == '!'))) {
            return 0;
        }
    }
    return 1;
}

static void
finish_reasons(struct loader *ld)
{
    struct ruleset *rs = ld->rs;
    size_t idx;

    if (reason_find(rs, "other", &idx) == NULL) {
        struct reason *o = calloc(1, sizeof(*o));
        if (o == NULL || (o->name = strdup("other")) == NULL ||
            (o->file = strdup("(built in)")) == NULL ||
            push_ptr((void ***)&rs->reasons, &rs->nreasons, o) < 0) {
            reason_free(o);
            errlist_add(ld->errs, "(built in)", 0, "out of memory");
            return;
        }
        idx = rs->nreasons - 1;
    }
    rs->other_reason = (int)idx;
    rs->reason_any_case = 1;

    for (size_t i = 0; i < rs->nreasons; i++) {
        struct reason *r = rs->reasons[i];
        int code;
        PCRE2_SIZE off;
        uint32_t v = 0;

        if (r->for_pattern != NULL) {
            r->for_re = compile(ld, r->for_pattern,
                                PCRE2_CASELESS | PCRE2_ANCHORED | PCRE2_DUPNAMES, 1, &code, &off);
            if (r->for_re == NULL) {
                compile_error(ld, r->file, r->for_pattern_line, "reason", r->name, code, off);
            } else {
                if (pcre2_pattern_info(r->for_re, PCRE2_INFO_CAPTURECOUNT, &v) == 0 &&
                    v + 1 > rs->reason_groups) {
                    rs->reason_groups = v + 1;
                }
                rs->reason_for_patterns++;
            }
        }
        if (r->pattern == NULL) {
            continue;
        }
        if (!any_case(r->pattern)) {
            rs->reason_any_case = 0;
        }
        r->re = compile(ld, r->pattern, PCRE2_CASELESS | PCRE2_ANCHORED | PCRE2_DUPNAMES, 1, &code,
                        &off);
        if (r->re == NULL) {
            compile_error(ld, r->file, r->pattern_line, "reason", r->name, code, off);
            continue;
        }
        /* The table tests a reason on two bytes with nothing before them. A negative lookbehind
         * or \b passes there whenever it could pass in a text, but a positive lookbehind or \B
         * may not; and backtracking verbs can hide partial matches. */
        if (pcre2_pattern_info(r->re, PCRE2_INFO_MAXLOOKBEHIND, &v) != 0 ||
            (v > 0 && (strstr(r->pattern, "(?<=") != NULL || strstr(r->pattern, "\\B") != NULL)) ||
            strstr(r->pattern, "(*") != NULL) {
            r->untested = 1;
        }
        if (pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &v) == 0 &&
            v + 1 > rs->reason_groups) {
            rs->reason_groups = v + 1;
        }
        rs->reason_patterns++;
    }
}

static struct ruleset *
ruleset_new(int use_jit)
{
    struct ruleset *rs = calloc(1, sizeof(*rs));
    if (rs != NULL) {
        rs->jit = use_jit ? 1 : 0;
        rs->scanners = 1;
        rs->max_groups = 1;
    }
    return rs;
}

static struct ruleset *
finish(struct loader *ld)
{
    finish_reasons(ld);
    finish_rules(ld);
    if (ld->errs->total > ld->errs_before) {
        ruleset_free(ld->rs);
        return NULL;
    }
    return ld->rs;
}

struct rules_loader {
    struct loader ld;
};

struct rules_loader *
rules_loader_new(int use_jit, struct errlist *errs)
{
    struct rules_loader *l = calloc(1, sizeof(*l));

    if (l == NULL || (l->ld.rs = ruleset_new(use_jit)) == NULL) {
        free(l);
        errlist_add(errs, "patterns", 0, "out of memory");
        return NULL;
    }
    l->ld.errs = errs;
    l->ld.errs_before = errs->total;
    l->ld.use_jit = use_jit;
    return l;
}

void
rules_loader_add(struct rules_loader *l, const char *file, int dir_level, const char *text,
                 size_t len)
{
    l->ld.dir_level = dir_level;
    l->ld.file = file;
    load_text(&l->ld, text, len);
    l->ld.file = NULL;
}

struct ruleset *
rules_loader_finish(struct rules_loader *l)
{
    struct ruleset *rs = finish(&l->ld);

    free(l);
    return rs;
}

struct ruleset *
ruleset_load_text(const char *name, const char *text, size_t len, int use_jit, struct errlist *errs)
{
    struct loader ld = {0};

    if ((ld.rs = ruleset_new(use_jit)) == NULL) {
        errlist_add(errs, name, 0, "out of memory");
        return NULL;
    }
    ld.errs = errs;
    ld.errs_before = errs->total;
    ld.use_jit = use_jit;
    ld.file = name;
    load_text(&ld, text, len);
    return finish(&ld);
}

/* ------------------------------------------------------------------------------------ */
/* Accessors */

int
ruleset_jit(const struct ruleset *rs)
{
    return rs->jit;
}

void
ruleset_set_scanners(struct ruleset *rs, int on)
{
    rs->scanners = on ? 1 : 0;
}

size_t
ruleset_scanner_count(const struct ruleset *rs)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->nrules; i++) {
        n += rs->rules[i]->scanner != NULL && !rs->rules[i]->disabled;
    }
    return rs->scanners ? n : 0;
}

size_t
ruleset_rule_count(const struct ruleset *rs)
{
    return rs->nrules;
}

const struct rule *
ruleset_rule_at(const struct ruleset *rs, size_t i)
{
    return i < rs->nrules ? rs->rules[i] : NULL;
}

size_t
ruleset_pack_count(const struct ruleset *rs)
{
    return rs->npacks;
}

const struct pack *
ruleset_pack_at(const struct ruleset *rs, size_t i)
{
    return i < rs->npacks ? rs->packs[i] : NULL;
}

const struct pack *
ruleset_pack_by_name(const struct ruleset *rs, const char *name)
{
    return pack_find((struct ruleset *)(uintptr_t)rs, name);
}

size_t
ruleset_reason_count(const struct ruleset *rs)
{
    return rs->nreasons;
}

const char *
ruleset_reason_name(const struct ruleset *rs, int reason)
{
    if (reason < 0 || (size_t)reason >= rs->nreasons) {
        return "none";
    }
    return rs->reasons[reason]->name;
}

const char *
ruleset_reason_pattern(const struct ruleset *rs, int reason)
{
    if (reason < 0 || (size_t)reason >= rs->nreasons) {
        return NULL;
    }
    return rs->reasons[reason]->pattern;
}

int
ruleset_reason_by_name(const struct ruleset *rs, const char *name)
{
    size_t idx;
    return reason_find((struct ruleset *)(uintptr_t)rs, name, &idx) != NULL ? (int)idx : -1;
}

const char *
rule_name(const struct rule *r)
{
    return r->name;
}

size_t
rule_index(const struct rule *r)
{
    return r->index;
}

const char *
rule_file(const struct rule *r)
{
    return r->file;
}

unsigned
rule_line(const struct rule *r)
{
    return r->line;
}

int
rule_tried_without_code(const struct rule *r)
{
    return r->def_reply != 0 || r->def_cls != 0;
}

const char *
rule_require(const struct rule *r)
{
    return r->require;
}

const char *
rule_scanner(const struct rule *r)
{
    return r->scanner != NULL ? r->scanner->name : NULL;
}

int
rule_jit_compiled(const struct rule *r)
{
    size_t size = 0;

    if (atomic_load_explicit(&r->jit_pending, memory_order_acquire) || r->re == NULL) {
        return 0;
    }
    return pcre2_pattern_info(r->re, PCRE2_INFO_JITSIZE, &size) == 0 && size > 0;
}

int
rule_default_reply(const struct rule *r)
{
    return r->def_reply;
}

int
rule_default_status(const struct rule *r, int *subject, int *detail)
{
    *subject = r->def_subject;
    *detail = r->def_detail;
    return r->def_cls;
}

const struct pack *
rule_pack(const struct rule *r)
{
    return r->pack;
}

const char *
pack_name(const struct pack *p)
{
    return p->name;
}

/* ------------------------------------------------------------------------------------ */
/* Matching */

static int list_reason(const struct ruleset *rs, int reason);

struct matcher *
matcher_new(const struct ruleset *rs)
{
    struct matcher *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return NULL;
    }
    m->rs = rs;
    m->order = -1;
    m->pairs = 1;
    m->md = pcre2_match_data_create(rs->max_groups, NULL);
    m->mctx = pcre2_match_context_create(NULL);
    m->reason_other = m->reason_blocklist = -1;
    if ((m->names_list = malloc(rs->nreasons + 1)) != NULL) {
        /* once here, not a dozen strcmp calls for each refusal */
        for (size_t i = 0; i < rs->nreasons; i++) {
            const char *n = ruleset_reason_name(rs, (int)i);
            m->names_list[i] = (uint8_t)list_reason(rs, (int)i);
            if (strcmp(n, "other") == 0) {
                m->reason_other = (int)i;
            } else if (strcmp(n, "blocklist") == 0) {
                m->reason_blocklist = (int)i;
            }
        }
    }
    if (rs->reason_patterns > 0 || rs->reason_for_patterns > 0) {
        m->reason_md = pcre2_match_data_create(rs->reason_groups, NULL);
    }
    if (rs->reason_patterns > 0) {
        m->cand = calloc(REASON_FIRST, sizeof(*m->cand));
        m->cand_known = calloc(REASON_FIRST, sizeof(*m->cand_known));
        m->pfx = calloc(REASON_PREFIXES, sizeof(*m->pfx));
    }
    if (m->md == NULL || m->mctx == NULL || m->names_list == NULL ||
        ((rs->reason_patterns > 0 || rs->reason_for_patterns > 0) && m->reason_md == NULL) ||
        (rs->reason_patterns > 0 && (m->cand == NULL || m->cand_known == NULL || m->pfx == NULL))) {
        matcher_free(m);
        return NULL;
    }
    pcre2_set_match_limit(m->mctx, RULES_MAX_LINE_MATCH);
    pcre2_set_depth_limit(m->mctx, RULES_DEPTH_LIMIT);
    pcre2_set_heap_limit(m->mctx, RULES_HEAP_LIMIT_KIB);
    if (rs->jit) {
        m->jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
        if (m->jit_stack != NULL) {
            pcre2_jit_stack_assign(m->mctx, NULL, m->jit_stack);
        }
    }
    return m;
}

static void
cache_entry_clear(struct cache_entry *e)
{
    free(e->code);
    free(e->nocode);
    e->code = NULL;
    e->nocode = NULL;
    e->ncode = e->nnocode = 0;
    e->nfirst = 0;
    e->first_lines = e->first_hits = 0;
    e->code_first = 0;
    e->used = 0;
}

void
matcher_free(struct matcher *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cache_entry_clear(&m->cache[i]);
    }
    cache_entry_clear(&m->scratch);
    pcre2_match_data_free(m->md);
    pcre2_match_data_free(m->reason_md);
    free(m->names_list);
    free(m->cand);
    free(m->cand_known);
    free(m->pfx);
    pcre2_match_context_free(m->mctx);
    pcre2_jit_stack_free(m->jit_stack);
    free(m);
}

void
matcher_set_order(struct matcher *m, int order)
{
    m->order = order < 0 ? -1 : order > 0;
}

void
matcher_set_pairs(struct matcher *m, int on)
{
    m->pairs = on != 0;
}

uint64_t
matcher_limit_hits(const struct matcher *m)
{
    return m->limit_hits;
}

static int
glob_match(const char *glob, const char *s)
{
    return fnmatch(glob, s, 0) == 0;
}

static int
pack_takes(const struct pack *p, const char *program)
{
    for (size_t i = 0; i < p->nprograms; i++) {
        if (glob_match(p->programs[i], program)) {
            return 1;
        }
    }
    return 0;
}

static int
rule_takes(const struct rule *r, const char *service)
{
    if (r->nservices == 0 || service == NULL) {
        return 1;
    }
    for (size_t i = 0; i < r->nservices; i++) {
        if (glob_match(r->services[i], service)) {
            return 1;
        }
    }
    return 0;
}

static void
add_pack_rules(struct cache_entry *e, const struct pack *p, const char *service)
{
    for (size_t i = 0; i < p->nrules; i++) {
        const struct rule *r = p->rules[i];
        if (r->disabled || r->re == NULL || !rule_takes(r, service)) {
            continue;
        }
        if (r->g[SCAN_REPLY].n > 0 || r->g[SCAN_ENH].n > 0 || r->ignore) {
            push_ptr((void ***)&e->code, &e->ncode, (void *)(uintptr_t)r);
        }
        if (r->def_reply != 0 || r->def_cls != 0) {
            push_ptr((void ***)&e->nocode, &e->nnocode, (void *)(uintptr_t)r);
        }
    }
}

static void
build_entry(const struct ruleset *rs, struct cache_entry *e, const char *program,
            const struct pack *only)
{
    const char *service = NULL;

    if (program[0] != '\0') {
        const char *slash = strrchr(program, '/');
        service = slash != NULL ? slash + 1 : program;
    }
    if (only != NULL) {
        add_pack_rules(e, only, service);
    } else {
        for (size_t i = 0; i < rs->npacks; i++) {
            if (program[0] == '\0' || pack_takes(rs->packs[i], program)) {
                add_pack_rules(e, rs->packs[i], service);
            }
        }
    }
    while (rs->scanners && e->nfirst < e->ncode && e->code[e->nfirst]->scanner != NULL) {
        e->nfirst++;
    }
    e->nocode_byte = -1;
    for (size_t i = 0; i < e->nnocode; i++) {
        const struct rule *r = e->nocode[i];
        int b = r->require != NULL && r->require_len > 0
                    ? (unsigned char)r->require[r->require_pick]
                    : -1;
        if (b < 0 || (i > 0 && b != e->nocode_byte)) {
            e->nocode_byte = -1;
            break;
        }
        e->nocode_byte = b;
    }
    picks_init(&e->picks);
    for (int l = 1; l >= 0; l--) { /* nocode's first: most lines have no code */
        const struct rule *const *rules = l == 0 ? e->code : e->nocode;
        size_t n = l == 0 ? e->ncode : e->nnocode;
        unsigned paired = 0;
        memset(e->pick_rules[l], 0, sizeof(e->pick_rules[l]));
        e->other_rules[l] = 0;
        for (size_t i = 0; i < n && i < 64; i++) {
            const struct rule *r = rules[i];
            int k = -1;
            if (r->require != NULL && r->require_len >= 2) {
                size_t at = rarest_pair(&e->picks, r->require, r->require_len);
                k = picks_add(&e->picks, (unsigned char)r->require[at],
                              (unsigned char)r->require[at + 1]);
            }
            if (k >= 0) {
                e->pick_rules[l][k] |= UINT64_C(1) << i;
                paired++;
            } else {
                e->other_rules[l] |= UINT64_C(1) << i;
            }
        }
        e->by_pairs[l] = paired >= (l == 1 ? PICKS_MIN_NOCODE : PICKS_MIN_RULES);
    }
    /* the longest start the leading literals of nocode's rules share */
    e->nocode_lead = e->nnocode > 0 ? e->nocode[0]->pattern + 1 : NULL;
    e->nocode_lead_len = e->nnocode > 0 ? e->nocode[0]->lead_len : 0;
    for (size_t i = 1; i < e->nnocode && e->nocode_lead_len > 0; i++) {
        const struct rule *r = e->nocode[i];
        size_t n = 0;
        while (n < e->nocode_lead_len && n < r->lead_len &&
               r->pattern[1 + n] == e->nocode_lead[n]) {
            n++;
        }
        e->nocode_lead_len = n;
    }
    e->used = 1;
}

/* Three words that tell program names of up to 24 bytes apart (two names of the same length
 * are equal exactly when their keys are): the first eight bytes and the last eight, which
 * overlap below 16, and the eight after the first; below eight bytes, words_tail's number. A
 * longer name is told apart by its key and its bytes after the first 16. */
static inline __attribute__((always_inline)) void
prog_key(const char *p, size_t n, uint64_t *a, uint64_t *b, uint64_t *c)
{
    *b = *c = 0;
    if (n >= 8) {
        memcpy(a, p, 8);
        memcpy(b, p + n - 8, 8);
        if (n > 16) {
            memcpy(c, p + 8, 8);
        }
    } else {
        *a = n > 0 ? words_tail(p, n) : 0;
    }
}

/* e holds the program with key (a, b, c) and length plen, for the pack only. */
static inline int
entry_is(const struct cache_entry *e, const char *pp, size_t plen, uint64_t a, uint64_t b,
         uint64_t c, const struct pack *only)
{
    return e->used && ((e->key[0] ^ a) | (e->key[1] ^ b) | (e->key[2] ^ c)) == 0 &&
           e->plen == plen && e->only == only &&
           (plen <= 24 || words_equal(e->program + 16, pp + 16, plen - 16));
}

/* lookup past its first slot: the later slots, or a new entry. */
static __attribute__((noinline)) struct cache_entry *
lookup_probe(struct matcher *m, const char *pp, size_t plen, uint64_t a, uint64_t b, uint64_t c,
             size_t h, const struct pack *only)
{
    struct cache_entry *e;

    for (size_t k = 0; k < CACHE_SLOTS; k++) {
        e = &m->cache[(h + k) & (CACHE_SLOTS - 1)];
        if (!e->used) {
            memcpy(e->program, pp, plen);
            e->program[plen] = '\0';
            e->plen = plen;
            e->key[0] = a;
            e->key[1] = b;
            e->key[2] = c;
            e->only = only;
            build_entry(m->rs, e, e->program, only);
            return e;
        }
        if (entry_is(e, pp, plen, a, b, c, only)) {
            return e;
        }
    }
    /* Cache full (a flood of distinct program names): build without caching. */
    e = &m->scratch;
    cache_entry_clear(e);
    memcpy(e->program, pp, plen);
    e->program[plen] = '\0';
    build_entry(m->rs, e, e->program, only);
    return e;
}

static inline __attribute__((always_inline)) struct cache_entry *
lookup(struct matcher *m, const struct slice *prog, const struct pack *only)
{
    static const char empty[1] = "";
    const char *pp = prog->p != NULL ? prog->p : empty;
    size_t plen = prog->len < PROGRAM_MAX - 1 ? prog->len : PROGRAM_MAX - 1;
    uint64_t a, b, c;
    size_t h;

    /* program names are short and looked up for every line: a fixed number of loads and one
     * multiplication a word (the high bits of the sum pick the slot), not a loop over the
     * bytes and another to compare them; the first slot tested here, the others out of line */
    prog_key(pp, plen, &a, &b, &c);
    h = (size_t)(((a ^ plen ^ (uint64_t)(uintptr_t)only) * 0x9e3779b97f4a7c15ull ^
                  b * 0xc2b2ae3d27d4eb4full ^ c * 0x165667b19e3779f9ull) >>
                 (64 - CACHE_BITS));
    if (entry_is(&m->cache[h], pp, plen, a, b, c, only)) {
        return &m->cache[h];
    }
    return lookup_probe(m, pp, plen, a, b, c, h, only);
}

/* The outcome a status word names. Every delivery record has one: the words' lengths are kept
 * with them, and a word of the right length is compared in line, without strlen and memcmp
 * calls. "undeliverable" names none: Postfix writes it for an address-verification probe that
 * failed, for good or for now (global/bounce.c and defer.c), so the class decides. */
static int
status_word_outcome(const char *s, size_t len)
{
    static const struct {
        char w[14];
        unsigned char len; /* strlen(w) */
        int o;
    } words[] = {
        {"sent", 4, OUTCOME_DELIVERED},         {"delivered", 9, OUTCOME_DELIVERED},
        {"deliverable", 11, OUTCOME_DELIVERED}, {"deferred", 8, OUTCOME_DEFERRED},
        {"softbounce", 10, OUTCOME_DEFERRED},   {"SOFTBOUNCE", 10, OUTCOME_DEFERRED},
        {"tempfail", 8, OUTCOME_DEFERRED},      {"TempFail", 8, OUTCOME_DEFERRED},
        {"bounced", 7, OUTCOME_BOUNCED},        {"undeliverable", 13, OUTCOME_UNKNOWN},
        {"failed", 6, OUTCOME_BOUNCED},         {"permfail", 8, OUTCOME_BOUNCED},
        {"PermFail", 8, OUTCOME_BOUNCED},       {"expired", 7, OUTCOME_EXPIRED},
        {"rejected", 8, OUTCOME_REJECTED},      {"reject", 6, OUTCOME_REJECTED},
        {"Ok", 2, OUTCOME_DELIVERED},           {"ok", 2, OUTCOME_DELIVERED},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (words[i].len == len) {
            size_t k = 0;
            while (k < len && words[i].w[k] == s[k]) {
                k++;
            }
            if (k == len) {
                return words[i].o;
            }
        }
    }
    return OUTCOME_UNKNOWN;
}

static int
glob_part_ok(int g, int v)
{
    return g < 0 || g == v;
}

/*
 * Reasons are chosen from the words of a reply text, not from the numbers and ids in it: before
 * the reason patterns run, every run of digits becomes '#', and a word (separated by ' ', '_',
 * which qmail writes for spaces, or the URL separators '/', '?', '&', '=') that contains '@',
 * three or more runs of digits, or a dot between two letters (a host or domain name, except the
 * host of a URL) becomes one '#': "[TSS04]" -> "[TSS#]", "hits=7.5" -> "hits=#.#",
 * "198.18.0.1" -> "#", "<a@b.c>" -> "#", "mx.example.com" -> "#", a message id -> "#"; the
 * query of a URL ("?...") becomes one '#'. Remote servers repeat one template with such words
 * changed, so the choice is memoised per normalised text and codes: exact, and the patterns run
 * once per template.
 */
static inline int
letter(unsigned char c)
{
    return (unsigned)((c | 0x20u) - 'a') <= 25u;
}

/* Bytes the folding looks at: the word separators (space _ / ? & =), digits, '@', '.'. */
enum { FOLD_SEP = 1, FOLD_DIGIT = 2, FOLD_MARK = 3 };
static const unsigned char fold_class[256] = {
    [' '] = FOLD_SEP,   ['_'] = FOLD_SEP,   ['/'] = FOLD_SEP,   ['?'] = FOLD_SEP,
    ['&'] = FOLD_SEP,   ['='] = FOLD_SEP,   ['0'] = FOLD_DIGIT, ['1'] = FOLD_DIGIT,
    ['2'] = FOLD_DIGIT, ['3'] = FOLD_DIGIT, ['4'] = FOLD_DIGIT, ['5'] = FOLD_DIGIT,
    ['6'] = FOLD_DIGIT, ['7'] = FOLD_DIGIT, ['8'] = FOLD_DIGIT, ['9'] = FOLD_DIGIT,
    ['@'] = FOLD_MARK,  ['.'] = FOLD_MARK,
};

/* "//" before a word: the host of a URL, which names a provider's help page and is kept */
static inline int
fold_url_host(const unsigned char *t, size_t i)
{
    return i >= 2 && t[i - 1] == '/' && t[i - 2] == '/';
}

/* The query of a URL: a '?' after "://" with no space between. */
static int
fold_url_query(const unsigned char *t, size_t q)
{
    size_t end = q; /* the bytes before end and after the last space are looked at */
#ifdef __SSE2__
    /* 16 bytes at a time, back from q: the last space, and the colons after it */
    for (; end >= 16; end -= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(t + end - 16));
        unsigned sp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
        unsigned col = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
        if (sp != 0) {
            col &= ~0u << (31 - __builtin_clz(sp));
        }
        for (; col != 0; col &= col - 1) {
            size_t k = end - 16 + (size_t)__builtin_ctz(col);
            if (k + 3 <= q && t[k + 1] == '/' && t[k + 2] == '/') {
                return 1;
            }
        }
        if (sp != 0) {
            return 0;
        }
    }
#endif
    for (size_t k = end; k-- > 0 && t[k] != ' ';) {
        if (t[k] == ':' && k + 3 <= q && t[k + 1] == '/' && t[k + 2] == '/') {
            return 1;
        }
    }
    return 0;
}

/* The folding byte by byte with a room test for each byte: for a buffer that may be too small
 * (it cuts the folding short) and for texts too long for the bit masks below. */
static size_t
fold_text_bounded(const unsigned char *t, size_t len, char *out, size_t cap)
{
    size_t i = 0, n = 0;

#define ROOM(k) (n + (k) < cap)
    while (i < len && ROOM(2)) {
        size_t j = i, runs = 0, word = n;
        int at = 0, dotted = 0, prev_digit = 0;
        /* One pass: the word is copied with each run of digits as '#' while it is measured,
         * and replaced by a single '#' afterwards if it turns out to be an id or a name. */
        for (; j < len; j++) {
            unsigned char c = t[j];
            unsigned k = fold_class[c];
            if (k == 0) {
                prev_digit = 0;
                if (ROOM(2)) {
                    out[n++] = (char)c;
                }
                continue;
            }
            if (k == FOLD_SEP) {
                break;
            }
            if (k == FOLD_DIGIT) {
                if (!prev_digit) {
                    runs++;
                    if (ROOM(2)) {
                        out[n++] = '#';
                    }
                }
                prev_digit = 1;
                continue;
            }
            prev_digit = 0;
            if (c == '@') {
                at = 1;
            } else if (j > i && letter(t[j - 1]) && j + 1 < len && letter(t[j + 1])) {
                dotted = 1;
            }
            if (ROOM(2)) {
                out[n++] = (char)c;
            }
        }
        if (at || runs >= 3 || (dotted && !fold_url_host(t, i))) {
            n = word;
            out[n++] = '#';
        }
        if (j < len && ROOM(1)) {
            out[n++] = (char)t[j]; /* the separator */
        }
        if (j < len && t[j] == '?' && fold_url_query(t, j)) {
            /* the query of a URL carries ids: one '#' up to the next space */
            if (ROOM(1)) {
                out[n++] = '#';
            }
            while (j < len && t[j] != ' ') {
                j++;
            }
            if (j < len && ROOM(1)) {
                out[n++] = ' ';
            }
        }
        i = j + 1;
    }
#undef ROOM
    return n;
}

/*
 * Most of a text is copied as it is: words without a digit, '@' or '.', and the separators. So
 * the bytes that make a word change are found by a bit mask of the text (16 bytes by one vector
 * test), the folding goes from one to the next by bit scans, copying what lies between in
 * blocks, and only the words around them are measured (their separators and digits, 16 bytes at
 * a time).
 */
#define FOLD_FAST_MAX 1024 /* longer texts (not from matcher_reason) are folded byte by byte */
#define FOLD_WORDS (FOLD_FAST_MAX / 64 + 1)

struct fold_text {
    /* digits, '@', '.' and '?' (which may start a URL query): bit i % 64 of word i / 64 for
     * byte i, and a word of 0 after the text */
    uint64_t stop[FOLD_WORDS];
    /* the text from byte 16, with spaces before and after it: the 16 bytes before or after any
     * byte of the text can be read, and a word ends at a space at the latest */
    _Alignas(16) unsigned char buf[16 + FOLD_FAST_MAX + 32];
};

#ifdef __SSE2__
static inline __m128i
fold_load16(const unsigned char *s)
{
    return _mm_loadu_si128((const __m128i *)(const void *)s);
}

static inline __m128i
fold_digits16(__m128i v)
{
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
}

/* The stops among 16 bytes, as a bit mask. */
static inline uint64_t
fold_stop16(__m128i v)
{
    __m128i x = _mm_or_si128(fold_digits16(v), _mm_cmpeq_epi8(v, _mm_set1_epi8('?')));
    x = _mm_or_si128(x, _mm_cmpeq_epi8(v, _mm_set1_epi8('@')));
    x = _mm_or_si128(x, _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    return (unsigned)_mm_movemask_epi8(x);
}
#endif

/* The word separators among the 16 bytes at s, as a bit mask; with query 0, '?' is not looked
 * for. */
static inline unsigned
fold_sep16(const unsigned char *s, int query)
{
#ifdef __SSE2__
    __m128i v = fold_load16(s);
    __m128i m = _mm_cmpeq_epi8(v, _mm_set1_epi8(' '));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('&')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
    if (query) { /* '/' and '?' (0x2f, 0x3f) */
        __m128i u = _mm_and_si128(v, _mm_set1_epi8((char)0xef));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(u, _mm_set1_epi8('/')));
    } else {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
    }
    return (unsigned)_mm_movemask_epi8(m);
#else
    unsigned m = 0;
    for (unsigned i = 0; i < 16; i++) {
        m |= (unsigned)(fold_class[s[i]] == FOLD_SEP && (query || s[i] != '?')) << i;
    }
    return m;
#endif
}

/* The digits, and the '@' and '.', among the 16 bytes at s, as bit masks. */
static inline void
fold_word16(const unsigned char *s, uint64_t *digit, uint64_t *marks)
{
#ifdef __SSE2__
    __m128i v = fold_load16(s);
    __m128i m =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('@')), _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    *digit = (unsigned)_mm_movemask_epi8(fold_digits16(v));
    *marks = (unsigned)_mm_movemask_epi8(m);
#else
    unsigned d = 0, m = 0;
    for (unsigned i = 0; i < 16; i++) {
        d |= (unsigned)(fold_class[s[i]] == FOLD_DIGIT) << i;
        m |= (unsigned)(fold_class[s[i]] == FOLD_MARK) << i;
    }
    *digit = d;
    *marks = m;
#endif
}

/* Copies the text, and fills the stop mask; returns the number of mask words the text takes. */
static size_t
fold_classify(struct fold_text *f, const unsigned char *text, size_t len)
{
    unsigned char *t = f->buf + 16;
    size_t nw = (len + 63) / 64, w = 0, k = 0;
    uint64_t stop = 0;

#ifdef __SSE2__
    const __m128i spaces = _mm_set1_epi8(' ');
    _mm_store_si128((__m128i *)(void *)f->buf, spaces);
    for (; 64 * w + 64 <= len; w++) { /* 64 bytes a mask word */
        const unsigned char *s = text + 64 * w;
        __m128i v0 = fold_load16(s), v1 = fold_load16(s + 16);
        __m128i v2 = fold_load16(s + 32), v3 = fold_load16(s + 48);
        _mm_store_si128((__m128i *)(void *)(t + 64 * w), v0);
        _mm_store_si128((__m128i *)(void *)(t + 64 * w + 16), v1);
        _mm_store_si128((__m128i *)(void *)(t + 64 * w + 32), v2);
        _mm_store_si128((__m128i *)(void *)(t + 64 * w + 48), v3);
        f->stop[w] =
            fold_stop16(v0) | fold_stop16(v1) << 16 | fold_stop16(v2) << 32 | fold_stop16(v3) << 48;
    }
    for (; 64 * w + 16 * k + 16 <= len; k++) { /* then 16 */
        __m128i v = fold_load16(text + 64 * w + 16 * k);
        _mm_store_si128((__m128i *)(void *)(t + 64 * w + 16 * k), v);
        stop |= fold_stop16(v) << (16 * k);
    }
    unsigned char *rest = t + 64 * w + 16 * k;
    _mm_store_si128((__m128i *)(void *)rest, spaces);
    _mm_store_si128((__m128i *)(void *)(rest + 16), spaces);
    if (rest < t + len) { /* the last bytes, then spaces */
        if (len >= 16) {
            _mm_storeu_si128((__m128i *)(void *)(t + len - 16), fold_load16(text + len - 16));
        } else {
            memcpy(t, text, len);
        }
        stop |= fold_stop16(_mm_load_si128((const __m128i *)(const void *)rest)) << (16 * k);
    }
    f->stop[w] = stop;
#else
    memset(f->buf, ' ', 16);
    if (len > 0) {
        memcpy(t, text, len);
    }
    memset(t + len, ' ', 32);
    for (; w < nw; w++) {
        stop = 0;
        for (k = 0; k < 64 && 64 * w + k < len; k++) {
            unsigned char c = t[64 * w + k];
            stop |= (uint64_t)(fold_class[c] >= FOLD_DIGIT || c == '?') << k;
        }
        f->stop[w] = stop;
    }
#endif
    f->stop[nw] = 0;
    return nw;
}

/* k bytes; up to 16 more may be written (the caller's buffer has room) */
static inline void
fold_copy(char *out, const unsigned char *t, size_t k)
{
#ifdef __SSE2__
    size_t c = 0;
    do {
        _mm_storeu_si128((__m128i *)(void *)(out + c), fold_load16(t + c));
        c += 16;
    } while (c < k);
#else
    memcpy(out, t, k);
#endif
}

/* A word of more than 64 bytes: byte by byte. */
static size_t
fold_long_word(const unsigned char *t, size_t ws, size_t we, char *out, size_t n)
{
    size_t word = n, runs = 0;
    int at = 0, dotted = 0, prev_digit = 0;

    for (size_t j = ws; j < we; j++) {
        unsigned char c = t[j];
        if (fold_class[c] == FOLD_DIGIT) {
            if (!prev_digit) {
                runs++;
                out[n++] = '#';
            }
            prev_digit = 1;
            continue;
        }
        prev_digit = 0;
        if (c == '@') {
            at = 1;
        } else if (c == '.' && j > ws && letter(t[j - 1]) && letter(t[j + 1])) {
            dotted = 1;
        }
        out[n++] = (char)c;
    }
    if (at || runs >= 3 || (dotted && !fold_url_host(t, ws))) {
        n = word;
        out[n++] = '#';
    }
    return n;
}

/* The folding with no room test: out holds 2 * len + 19 bytes, and the folding takes at most
 * 2 * len (a '?' that starts a query gives "?#"), plus the 16 bytes more a copy may write. */
static inline __attribute__((always_inline)) size_t
fold_text_fast(const char *text, size_t len, char *out)
{
    struct fold_text f;
    const unsigned char *t = f.buf + 16;
    size_t nw = fold_classify(&f, (const unsigned char *)text, len);
    size_t pos = 0, n = 0; /* the text before pos is folded to out[0..n) */

    for (;;) {
        /* the next byte that matters */
        size_t w = pos >> 6;
        uint64_t x = f.stop[w] & (~0ull << (pos & 63));
        while (x == 0) {
            if (++w >= nw) {
                fold_copy(out + n, t + pos, len - pos);
                return n + len - pos;
            }
            x = f.stop[w];
        }
        size_t p = 64 * w + (size_t)__builtin_ctzll(x);
        if (t[p] == '?') {
            fold_copy(out + n, t + pos, p + 1 - pos);
            n += p + 1 - pos;
            pos = p + 1;
            if (fold_url_query(t, p)) {
                /* the query of a URL carries ids: one '#' up to the next space */
                const unsigned char *sp = memchr(t + pos, ' ', len - pos);
                out[n++] = '#';
                if (sp == NULL) {
                    return n;
                }
                out[n++] = ' ';
                pos = (size_t)(sp - t) + 1;
            }
            continue;
        }
        /* the word around p: after the last separator before it (pos at the earliest; the
         * spaces before the text stop the search) up to the next separator (a space after the
         * text at the latest) */
        size_t ws = p, we = p;
        for (;;) { /* no '?' between pos and p */
            unsigned m = fold_sep16(t + ws - 16, 0);
            if (m != 0) {
                ws -= (size_t)__builtin_clz(m) - 16;
                break;
            }
            ws -= 16;
        }
        if (ws < pos) {
            ws = pos;
        }
        for (;;) {
            unsigned m = fold_sep16(t + we, 1);
            if (m != 0) {
                we += (size_t)__builtin_ctz(m);
                break;
            }
            we += 16;
        }
        size_t wl = we - ws;
        fold_copy(out + n, t + pos, ws - pos);
        n += ws - pos;
        pos = we;
        if (wl > 64) {
            n = fold_long_word(t, ws, we, out, n);
            continue;
        }

        /* one '#' for an id or a name, else each run of digits as '#' */
        uint64_t in = ~0ull >> (64 - wl), digit, marks;
        fold_word16(t + ws, &digit, &marks);
        for (size_t i = 16; i < wl; i += 16) {
            uint64_t d, m;
            fold_word16(t + ws + i, &d, &m);
            digit |= d << i;
            marks |= m << i;
        }
        digit &= in;
        marks &= in;
        uint64_t starts = digit & ~(digit << 1); /* of runs of digits */
        starts &= starts - 1;
        starts &= starts - 1;
        int fold = starts != 0; /* three runs or more */
        if (!fold && marks != 0) {
            int host = fold_url_host(t, ws);
            for (; marks != 0 && !fold; marks &= marks - 1) {
                size_t j = ws + (size_t)__builtin_ctzll(marks);
                /* '@', or a dot between letters */
                fold = t[j] == '@' || (!host && j > ws && letter(t[j - 1]) && letter(t[j + 1]));
            }
        }
        if (fold) {
            out[n++] = '#';
            continue;
        }
        size_t a = 0;
        while (digit != 0) {
            size_t s = (size_t)__builtin_ctzll(digit);
            fold_copy(out + n, t + ws + a, s - a);
            n += s - a;
            out[n++] = '#';
            uint64_t rest = ~digit & (~0ull << s);
            if (rest == 0) { /* the run ends the word */
                a = wl;
                break;
            }
            a = (size_t)__builtin_ctzll(rest);
            digit &= ~0ull << a;
        }
        fold_copy(out + n, t + ws + a, wl - a);
        n += wl - a;
    }
}

/* The bytes of an address's local part: RFC 5322 atext and '.', and those above 127 (SMTPUTF8). */
static const unsigned char local_part[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, [0x80 ... 0xff] = 1, ['!'] = 1,
    ['#'] = 1,         ['$'] = 1,         ['%'] = 1,         ['&'] = 1,           ['\''] = 1,
    ['*'] = 1,         ['+'] = 1,         ['-'] = 1,         ['/'] = 1,           ['='] = 1,
    ['?'] = 1,         ['^'] = 1,         ['_'] = 1,         ['`'] = 1,           ['{'] = 1,
    ['|'] = 1,         ['}'] = 1,         ['~'] = 1,         ['.'] = 1,
};

/*
 * Where the address whose '@' is text[at] starts. A local part may hold bytes the folding reads
 * as separators ('_', '=', '/', '&', '?': first_last@, SRS0=hash=tt=domain=user@,
 * bounces+id-user=domain@): back from the '@' over the bytes of a local part, to a '<', a '(', a
 * space or the text's start, where an address starts. When the run stops at any other byte (a
 * word run together with others, as qmail's '_' for every space), at itself: the word around
 * the '@' is then the folding's own.
 */
static size_t
address_start(const char *text, size_t at)
{
    size_t q = at;

    while (q > 0 && local_part[(unsigned char)text[q - 1]]) {
        q--;
    }
    return q == 0 || text[q - 1] == '<' || text[q - 1] == '(' || text[q - 1] == ' ' ? q : at;
}

/* Both ways fold alike; a buffer too small for the whole folding (matcher_reason's holds a
 * text of up to 1014 bytes) takes the one with room tests. An address becomes one '#' whatever
 * its local part holds: its separators are read as plain bytes (a copy of the text, made only
 * when one has such bytes), so "<max_larsen@example.com>:" folds as "<pierre@example.com>:" does
 * and keeps no "<max_" from its local part in the text searched for a reason. A text longer
 * than the copy (2,048 bytes, a multi-line reply; no memo key is made of one) folds as it
 * comes. */
size_t
rules_fold_text(const char *text, size_t len, char *out, size_t cap)
{
    char copy[REASON_TEXT_MAX];
    const char *at;

    for (size_t from = 0;
         len <= sizeof(copy) && (at = memchr(text + from, '@', len - from)) != NULL;) {
        size_t a = (size_t)(at - text);
        for (size_t i = address_start(text, a); i < a; i++) {
            if (fold_class[(unsigned char)text[i]] == FOLD_SEP) {
                if (text != copy) {
                    text = memcpy(copy, text, len);
                }
                copy[i] = 'x'; /* a byte of a local part as well: later addresses start alike */
            }
        }
        from = a + 1;
    }
    if (len <= FOLD_FAST_MAX && cap >= 19 && len <= (cap - 19) / 2) {
        return fold_text_fast(text, len, out);
    }
    return fold_text_bounded((const unsigned char *)text, len, out, cap);
}

static uint64_t
memo_key(int reply, int enh_class, int subject, int detail, const char *norm, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    size_t i = 0;

    h = (h ^ (uint64_t)(reply * 1000000 + enh_class * 1000 + subject)) * 1099511628211ull;
    h = (h ^ (uint64_t)detail) * 1099511628211ull;
    h = (h ^ (uint64_t)len) * 1099511628211ull;
    /* eight bytes at a time, case folded (which folds a few symbols too) */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, norm + i, 8);
        h = (h ^ (w | 0x2020202020202020ull)) * 1099511628211ull;
        h ^= h >> 29;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, norm + i, len - i);
        h = (h ^ (w | (0x2020202020202020ull >> (8 * (8 - (len - i)))))) * 1099511628211ull;
        h ^= h >> 29;
    }
    return h | 1;
}

static inline unsigned char
ascii_lower(unsigned char c)
{
    return (unsigned)(c - 'A') <= 25 ? (unsigned char)(c + 32) : c;
}

/* 0-61 for [0-9A-Za-z], -1 for any other byte */
static inline int
alnum_index(unsigned char c)
{
    if ((unsigned)(c - '0') <= 9) {
        return c - '0';
    }
    if ((unsigned)(c - 'a') <= 25) {
        return 10 + (c - 'a');
    }
    if ((unsigned)(c - 'A') <= 25) {
        return 36 + (c - 'A');
    }
    return -1;
}

/* The reasons (bit i: reason i < REASON_MASKED) that may match at a word start whose bytes are
 * b0, b1 (256: the text ends after b0). A reason is left out only when matching it anchored
 * on those bytes, with PCRE2_PARTIAL_HARD, neither matches nor runs into their end: then no
 * text that starts so can match it. So the reasons for b0, b1 are among those for b0 alone,
 * and only those are tried. */
static uint64_t
reason_candidates(struct matcher *m, unsigned char b0, int b1)
{
    const struct ruleset *rs = m->rs;

    if (rs->reason_any_case) { /* "Connection" and "connection" share their entry */
        b0 = ascii_lower(b0);
        b1 = b1 == 256 ? b1 : ascii_lower((unsigned char)b1);
    }
    int a = alnum_index(b0);

    if (!m->cand_known[a][b1]) {
        unsigned char subj[2] = {b0, (unsigned char)(b1 & 0xff)};
        size_t n = b1 == 256 ? 1 : 2;
        uint64_t mask = 0, maybe = ~0ull;
        if (b1 != 256) {
            maybe = reason_candidates(m, b0, 256);
        }
        for (size_t i = 0; i < rs->nreasons && i < REASON_MASKED; i++) {
            const struct reason *r = rs->reasons[i];
            if (r->re == NULL || !(maybe >> i & 1)) {
                continue;
            }
            int rc = r->untested ? 0
                                 : pcre2_match(r->re, subj, n, 0, PCRE2_PARTIAL_HARD, m->reason_md,
                                               m->mctx);
            if (rc != PCRE2_ERROR_NOMATCH) {
                mask |= 1ull << i;
            }
        }
        m->cand[a][b1] = mask;
        m->cand_known[a][b1] = 1;
    }
    return m->cand[a][b1];
}

/* Narrows the two-byte candidates by up to four bytes at t (n of them), the same way. */
static uint64_t
reason_candidates4(struct matcher *m, const unsigned char *t, size_t n)
{
    const struct ruleset *rs = m->rs;
    uint64_t base = reason_candidates(m, t[0], n > 1 ? t[1] : 256);
    uint64_t key = 0;
    unsigned char low[4];
    size_t slot;

    if (n < 3 || base == 0) {
        return base;
    }
    if (rs->reason_any_case) { /* as in reason_candidates */
        for (size_t i = 0; i < n; i++) {
            low[i] = ascii_lower(t[i]);
        }
        t = low;
    }
    memcpy(&key, t, n);
    key |= (uint64_t)n << 32;
    slot = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 51) & (REASON_PREFIXES - 1);
    for (;; slot = (slot + 1) & (REASON_PREFIXES - 1)) {
        if (m->pfx[slot].key == key) {
            return m->pfx[slot].mask;
        }
        if (m->pfx[slot].key == 0) {
            break;
        }
    }
    if (m->npfx >= REASON_PREFIXES / 4 * 3) {
        return base;
    }
    uint64_t mask = 0;
    for (uint64_t b = base; b != 0; b &= b - 1) {
        size_t i = (size_t)__builtin_ctzll(b);
        if (rs->reasons[i]->untested || pcre2_match(rs->reasons[i]->re, t, n, 0, PCRE2_PARTIAL_HARD,
                                                    m->reason_md, m->mctx) != PCRE2_ERROR_NOMATCH) {
            mask |= 1ull << i;
        }
    }
    m->pfx[slot].key = key;
    m->pfx[slot].mask = mask;
    m->npfx++;
    return mask;
}

/* 1 if reason i matches at p, counting PCRE2 limit hits. */
static int
reason_at(struct matcher *m, size_t i, const unsigned char *t, size_t len, size_t p)
{
    int rc = pcre2_match(m->rs->reasons[i]->re, t, len, p, 0, m->reason_md, m->mctx);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        m->limit_hits++;
    }
    return rc >= 0;
}

/* The first reason in catalogue order whose pattern matches at some word start of the text,
 * or -1. */
static int
search_reasons(struct matcher *m, const char *text, size_t len)
{
    const struct ruleset *rs = m->rs;
    const unsigned char *t = (const unsigned char *)text;
    int best = -1;

    for (size_t p = 0; p < len && best != 0; p++) {
        if (alnum_index(t[p]) < 0 || (p > 0 && alnum_index(t[p - 1]) >= 0)) {
            continue;
        }
        uint64_t mask = reason_candidates4(m, t + p, len - p < 4 ? len - p : 4);
        if (best >= 0 && best < REASON_MASKED) {
            mask &= (1ull << best) - 1;
        }
        for (; mask != 0; mask &= mask - 1) {
            size_t i = (size_t)__builtin_ctzll(mask);
            if (reason_at(m, i, t, len, p)) {
                best = (int)i;
                break;
            }
        }
        for (size_t i = REASON_MASKED; i < rs->nreasons && (best < 0 || (int)i < best); i++) {
            if (rs->reasons[i]->re != NULL && reason_at(m, i, t, len, p)) {
                best = (int)i;
            }
        }
    }
    return best;
}

static int
status_in(const struct status_glob *g, size_t n, int enh_class, int subject, int detail)
{
    for (size_t j = 0; j < n; j++) {
        if (glob_part_ok(g[j].cls, enh_class) && glob_part_ok(g[j].subject, subject) &&
            glob_part_ok(g[j].detail, detail)) {
            return 1;
        }
    }
    return 0;
}

/* 1 if the 'match-for' pattern of reason i occurs at a word start of the text. These patterns
 * are few and tried only for their codes, so they are simply tried at every word start. */
static int
search_for_pattern(struct matcher *m, size_t i, const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;

    for (size_t p = 0; p < len; p++) {
        if (alnum_index(t[p]) < 0 || (p > 0 && alnum_index(t[p - 1]) >= 0)) {
            continue;
        }
        int rc = pcre2_match(m->rs->reasons[i]->for_re, t, len, p, 0, m->reason_md, m->mctx);
        if (rc >= 0) {
            return 1;
        }
        if (rc != PCRE2_ERROR_NOMATCH) {
            m->limit_hits++;
        }
    }
    return 0;
}

static int
choose_reason(struct matcher *m, int reply, int enh_class, int subject, int detail,
              const char *text, size_t len)
{
    const struct ruleset *rs = m->rs;

    if ((rs->reason_patterns > 0 || rs->reason_for_patterns > 0) && text != NULL && len > 0) {
        int best = rs->reason_patterns > 0 ? search_reasons(m, text, len) : -1;
        /* A 'match-for' pattern counts as the reason's text match when the code is one of its
         * codes: an earlier reason wins as usual. */
        if (rs->reason_for_patterns > 0 && enh_class != 0) {
            size_t end = best >= 0 ? (size_t)best : rs->nreasons;
            for (size_t i = 0; i < end; i++) {
                const struct reason *r = rs->reasons[i];
                if (r->for_re != NULL &&
                    status_in(r->for_statuses, r->nfor_statuses, enh_class, subject, detail) &&
                    search_for_pattern(m, i, text, len)) {
                    return (int)i;
                }
            }
        }
        if (best >= 0) {
            return best;
        }
    }
    for (size_t i = 0; i < rs->nreasons; i++) {
        const struct reason *r = rs->reasons[i];
        if (enh_class != 0) {
            for (size_t j = 0; j < r->nstatuses; j++) {
                const struct status_glob *g = &r->statuses[j];
                if (glob_part_ok(g->cls, enh_class) && glob_part_ok(g->subject, subject) &&
                    glob_part_ok(g->detail, detail)) {
                    return (int)i;
                }
            }
        }
        if (reply != 0) {
            for (size_t j = 0; j < r->nreplies; j++) {
                if (r->replies[j] == reply) {
                    return (int)i;
                }
            }
        }
    }
    return rs->other_reason;
}

/* Eight bytes into the raw key. */
static inline uint64_t
raw_mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 32);
}

#ifdef __SSE2__
/* Sixteen bytes with every digit made '0'. */
static inline uint64_t
raw_mix16(uint64_t h, __m128i v)
{
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    v = _mm_sub_epi8(v, _mm_and_si128(d, digit));
    h = raw_mix(h, (uint64_t)_mm_cvtsi128_si64(v));
    return raw_mix(h, (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)));
}
#endif

/* Eight bytes and a length into the raw key: a part of the text, with each digit read as '0'. */
static uint64_t
raw_part(uint64_t h, const char *text, size_t len)
{
    size_t i = 0;

    h = raw_mix(h, (uint64_t)len);
#ifdef __SSE2__
    for (; i + 16 <= len; i += 16) {
        h = raw_mix16(h, _mm_loadu_si128((const __m128i *)(const void *)(text + i)));
    }
    if (i < len) {
        if (len >= 16) { /* the last sixteen bytes (the length is in the key) */
            h = raw_mix16(h, _mm_loadu_si128((const __m128i *)(const void *)(text + len - 16)));
        } else {
            _Alignas(16) unsigned char b[16] = {0};
            memcpy(b, text, len);
            h = raw_mix16(h, _mm_load_si128((const __m128i *)(const void *)b));
        }
    }
#else
    for (; i < len; i += 8) {
        unsigned char b[8] = {0};
        for (size_t j = 0; j < 8 && i + j < len; j++) {
            unsigned char c = (unsigned char)text[i + j];
            b[j] = (unsigned)(c - '0') <= 9 ? '0' : c;
        }
        uint64_t w;
        memcpy(&w, b, 8);
        h = raw_mix(h, w);
    }
#endif
    return h;
}

/*
 * The key of a text as it comes, with each digit read as '0'. The folding looks at digits only
 * as digits (each run of them becomes '#', and counts for the runs of a word), never at which
 * digit it is: texts with the same key fold alike, and so have the same reason. Most failures
 * of a log repeat a text with other addresses, ports or counts in it, and this key spares the
 * folding for those that differ by numbers alone (two thirds of the Sendmail texts, nearly all
 * of Exim's).
 *
 * Nor does the folding look into a word with an '@' (the bytes between two of its separators):
 * the word becomes one '#'. So the first such word, when a space or the end follows it, is
 * left out of the key (the parts before and after it are in it, each with its length): "<a@b>:
 * Recipient address rejected: User unknown" has one key whatever the address. (The separator
 * before the word may be a '?' that starts a URL's query: the folding then skips to the space
 * after the word, and writes the '#' and the space all the same.)
 */
static uint64_t
raw_key(int reply, int enh_class, int subject, int detail, const char *text, size_t len)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    const char *at = len > 0 ? memchr(text, '@', len) : NULL;
    size_t ws = 0, we = 0;

    h = raw_mix(h, (uint64_t)(uint32_t)(reply * 1000000 + enh_class * 1000 + subject) << 32 |
                       (uint32_t)detail);
    if (at != NULL) { /* the word around the '@', from the address's start (rules_fold_text) */
        we = (size_t)(at - text) + 1;
        ws = address_start(text, we - 1);
        while (ws > 0 && fold_class[(unsigned char)text[ws - 1]] != FOLD_SEP) {
            ws--;
        }
        while (we < len && fold_class[(unsigned char)text[we]] != FOLD_SEP) {
            we++;
        }
    }
    if (at != NULL && (we == len || text[we] == ' ')) {
        h = raw_part(h ^ 0x4057u, text, ws); /* '@' */
        h = raw_part(h, text + we, len - we);
    } else {
        h = raw_part(h, text, len);
    }
    /* a last mixing (MurmurHash3's) so that every byte reaches the low bits of the slot */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h | 1;
}

int
matcher_reason(struct matcher *m, int reply, int enh_class, int subject, int detail,
               const char *text, size_t len)
{
    /* first by the text as it is, then by its folding */
    uint64_t rkey = 0;
    size_t rslot = 0;

    if (len < REASON_RAW_MAX || text == NULL) {
        rkey = raw_key(reply, enh_class, subject, detail, text, text != NULL ? len : 0);
        rslot = (size_t)rkey & (REASON_MEMO - 1);
        if (m->memo_raw[rslot].key == rkey) {
            return m->memo_raw[rslot].reason;
        }
    }

    char norm[REASON_TEXT_MAX];
    size_t nlen = text != NULL ? rules_fold_text(text, len, norm, sizeof(norm)) : 0;
    uint64_t key = memo_key(reply, enh_class, subject, detail, norm, nlen);
    size_t slot = (size_t)(key ^ (key >> 29)) & (REASON_MEMO - 1);

    if (m->memo[slot].key != key) {
        m->memo[slot].key = key;
        m->memo[slot].reason = choose_reason(m, reply, enh_class, subject, detail, norm, nlen);
    }
    if (rkey != 0) {
        m->memo_raw[rslot].key = rkey;
        m->memo_raw[rslot].reason = m->memo[slot].reason;
    }
    return m->memo[slot].reason;
}

static struct slice
group_slice(const char *base, const PCRE2_SIZE *ov, const struct gref *gr)
{
    struct slice s = {NULL, 0};
    for (int i = 0; i < gr->n; i++) {
        int g = gr->g[i];
        if (ov[2 * g] != PCRE2_UNSET) {
            s.p = base + ov[2 * g];
            s.len = ov[2 * g + 1] - ov[2 * g];
            break;
        }
    }
    return s;
}

/* A refusal whose reason is about the mailbox, the message or the session names no list even
 * when a list's name appears in it (a recipient at barracuda.example, a virus named Spamhaus);
 * nor does a failure to connect, to resolve, to stay in the queue, or a greylisting. Skipping
 * them also keeps the search off most failures. */
static int
list_reason(const struct ruleset *rs, int reason)
{
    static const char *const skip[] = {"unknown-recipient",
                                       "mailbox-full",
                                       "message-too-large",
                                       "auth-failed",
                                       "auth-required",
                                       "relay-denied",
                                       "virus",
                                       "loop",
                                       "tls-required",
                                       "connection",
                                       "dns",
                                       "expired",
                                       "greylisting",
                                       "protocol"};
    const char *n = reason >= 0 ? ruleset_reason_name(rs, reason) : NULL;

    for (size_t i = 0; n != NULL && i < sizeof(skip) / sizeof(skip[0]); i++) {
        if (strcmp(n, skip[i]) == 0) {
            return 0;
        }
    }
    return 1;
}

/* Drops closing parentheses at the end of a reply text that close nothing inside it: patterns
 * may take "(TEXT)" greedily as "TEXT)", which is much faster than a lazy match. */
static struct slice
trim_text(struct slice t)
{
    if (t.len == 0 || t.p[t.len - 1] != ')') {
        return t;
    }
    if (memchr(t.p, '(', t.len) == NULL) {
        while (t.len > 0 && t.p[t.len - 1] == ')') {
            t.len--;
        }
        return t;
    }
    size_t open = 0, close = 0, i = 0;
#ifdef __SSE2__
    /* 16 bytes at a time, in byte counters that cannot overflow within 255 blocks */
    while (t.len - i >= 16) {
        __m128i co = _mm_setzero_si128(), cc = _mm_setzero_si128(), zero = _mm_setzero_si128();
        for (size_t b = 0; b < 255 && t.len - i >= 16; b++, i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(t.p + i));
            co = _mm_sub_epi8(co, _mm_cmpeq_epi8(v, _mm_set1_epi8('(')));
            cc = _mm_sub_epi8(cc, _mm_cmpeq_epi8(v, _mm_set1_epi8(')')));
        }
        co = _mm_sad_epu8(co, zero);
        cc = _mm_sad_epu8(cc, zero);
        open += (size_t)_mm_cvtsi128_si32(co) + (size_t)_mm_cvtsi128_si32(_mm_srli_si128(co, 8));
        close += (size_t)_mm_cvtsi128_si32(cc) + (size_t)_mm_cvtsi128_si32(_mm_srli_si128(cc, 8));
    }
#endif
    for (; i < t.len; i++) {
        open += t.p[i] == '(';
        close += t.p[i] == ')';
    }
    while (close > open && t.len > 0 && t.p[t.len - 1] == ')') {
        t.len--;
        close--;
    }
    return t;
}

/* The groups the engine reads, from a match of the rule's pattern or from its scanner. */
struct groups {
    struct slice g[SCAN_NGROUPS]; /* by enum scan_group; p NULL: did not take part */
};

static void
pattern_groups(const struct rule *r, const char *msg, const PCRE2_SIZE *ov, struct groups *gs)
{
    for (int g = 0; g < SCAN_NGROUPS; g++) {
        gs->g[g] = group_slice(msg, ov, &r->g[g]);
    }
}

/* A scanner's captures as the pattern's groups would give them (a group the pattern lacks is
 * unset), without laying them out as an ovector first. */
static void
scanner_groups(const struct rule *r, const char *msg, const struct scan_caps *c, struct groups *gs)
{
    unsigned take = c->set & r->scan_groups;

    for (int g = 0; g < SCAN_NGROUPS; g++) {
        if (take & (1u << g)) {
            gs->g[g] = (struct slice){msg + c->off[g], c->len[g]};
        } else {
            gs->g[g] = (struct slice){NULL, 0};
        }
    }
}

static void
fill_event(struct matcher *m, const struct rule *r, const struct groups *gs, const struct loghdr *h,
           struct smtp_event *ev)
{
    const char *msg = h->msg.p;
    struct slice s;
    int cls = 0;

    memset(ev, 0, sizeof(*ev));
    ev->time = h->time;
    ev->rule = r;
    ev->program = h->program;
    ev->host = h->host;
    ev->direction = (enum smtp_direction)r->direction;
    ev->reason = -1;

    s = gs->g[SCAN_REPLY];
    if (s.len > 0) {
        ev->flags |= EV_HAS_REPLY;
        if (codes_parse_reply(s.p, s.len, &ev->reply) < 0 || !codes_reply_valid(ev->reply)) {
            ev->flags |= EV_REPLY_BAD;
            ev->reply = 0;
        }
    }
    s = gs->g[SCAN_ENH];
    if (s.len > 0) {
        ev->flags |= EV_HAS_ENH;
        if (codes_parse_enh(s.p, s.len, &ev->enh_class, &ev->enh_subject, &ev->enh_detail) < 0 ||
            !codes_enh_valid(ev->enh_class, ev->enh_subject, ev->enh_detail)) {
            ev->flags |= EV_ENH_BAD;
            ev->enh_class = ev->enh_subject = ev->enh_detail = 0;
        }
    }
    if (!(ev->flags & (EV_HAS_REPLY | EV_HAS_ENH))) {
        /* No code in the line: the rule's documented default. */
        if (r->def_reply != 0) {
            ev->flags |= EV_HAS_REPLY;
            ev->reply = r->def_reply;
        }
        if (r->def_cls != 0) {
            ev->flags |= EV_HAS_ENH;
            ev->enh_class = r->def_cls;
            ev->enh_subject = r->def_subject;
            ev->enh_detail = r->def_detail;
        }
        ev->flags |= EV_IMPLIED;
    }
    if (ev->reply != 0 && ev->enh_class != 0 && ev->reply / 100 != ev->enh_class) {
        ev->flags |= EV_MISMATCH;
    }
    ev->text = trim_text(gs->g[SCAN_TEXT]);
    ev->domain = gs->g[SCAN_DOMAIN];
    ev->relay = gs->g[SCAN_RELAY];
    cls = event_class(ev);

    if (r->outcome != OUTCOME_FROM_STATUS) {
        ev->outcome = (enum smtp_outcome)r->outcome;
    } else {
        s = gs->g[SCAN_STATUS];
        ev->outcome =
            s.len > 0 ? (enum smtp_outcome)status_word_outcome(s.p, s.len) : OUTCOME_UNKNOWN;
    }
    if (ev->outcome == OUTCOME_UNKNOWN) {
        if (cls == 2) {
            ev->outcome = OUTCOME_DELIVERED;
        } else if (cls == 4) {
            ev->outcome = OUTCOME_DEFERRED;
        } else if (cls == 5) {
            ev->outcome = ev->direction == DIR_INBOUND ? OUTCOME_REJECTED : OUTCOME_BOUNCED;
        }
    }
    if (cls == 4 || cls == 5) {
        if (r->reason >= 0) {
            ev->reason = r->reason;
        } else {
            const char *t = ev->text.p != NULL ? ev->text.p : msg;
            size_t tl = ev->text.p != NULL ? ev->text.len : h->msg.len;
            ev->reason =
                matcher_reason(m, ev->reply, ev->enh_class, ev->enh_subject, ev->enh_detail, t, tl);
        }
        if (ev->reason < 0 || (size_t)ev->reason >= m->rs->nreasons || m->names_list[ev->reason]) {
            const char *t = ev->text.p != NULL && ev->text.len > 0 ? ev->text.p : msg;
            size_t tl = ev->text.p != NULL && ev->text.len > 0 ? ev->text.len : h->msg.len;
            ev->list.len = lists_find(t, tl, &ev->list.p);
            /* A text that says nothing the catalogue reads but names a DNS blocklist ("550 at
             * zen.spamhaus.org", the last line of a refusal split over several): the list is the
             * reason. A filter's or a provider's name alone is not. */
            if (ev->list.len > 0 && ev->reason >= 0 && ev->reason == m->reason_other &&
                m->reason_blocklist >= 0 && lists_is_dnsbl(t, tl, ev->list.p, ev->list.len)) {
                ev->reason = m->reason_blocklist;
            }
        }
    }
}

/* Does s contain the literal w? For the short messages and literals of 'require', memchr on
 * the literal's rarest byte (at 'pick') and a compare is several times cheaper than memmem's
 * set-up. *none is set when that byte is nowhere in s. */
static int
contains(const char *s, size_t n, const char *w, size_t wl, size_t pick, int *none)
{
    const char *p, *end;

    if (wl == 0) {
        return 1;
    }
    /* the whole message first: the answer for every literal with this byte */
    if ((p = memchr(s, w[pick], n)) == NULL) {
        *none = 1;
        return 0;
    }
    if (n < wl) {
        return 0;
    }
    end = s + n - (wl - 1 - pick); /* the last place of the picked byte in a whole literal */
    if (p < s + pick) {
        p = s + pick;
    } else if (p < end) {
        const char *at = p - pick;
        if (at[0] == w[0] && memcmp(at, w, wl) == 0) {
            return 1;
        }
        p++;
    }
    while (p < end && (p = memchr(p, w[pick], (size_t)(end - p))) != NULL) {
        const char *at = p - pick;
        /* the first byte before the call: most places of the picked byte are not the literal */
        if (at[0] == w[0] && memcmp(at, w, wl) == 0) {
            return 1;
        }
        p++;
    }
    return 0;
}

/* Whether a code the detector looks for starts where the reply or enhanced code of a match was
 * taken from: then detect_codes() of the message is not 0. */
static int
groups_detected(const struct loghdr *h, const struct groups *gs)
{
    const struct slice *e = &gs->g[SCAN_ENH], *r = &gs->g[SCAN_REPLY];

    return (e->len > 0 && detect_token_at(h->msg.p, h->msg.len, (size_t)(e->p - h->msg.p))) ||
           (r->len > 0 && detect_token_at(h->msg.p, h->msg.len, (size_t)(r->p - h->msg.p)));
}

/* try_rules' answer when rule r took the line: the event filled, and *proven (when asked) set
 * to whether the match's code is one the detector finds. */
static inline int
take(struct matcher *m, const struct rule *r, const struct groups *gs, const struct loghdr *h,
     struct smtp_event *ev, int *proven)
{
    fill_event(m, r, gs, h, ev);
    if (proven != NULL) {
        *proven = groups_detected(h, gs);
    }
    return 1;
}

/* Whether the message starts with the n bytes of lit (a pattern's leading literal). */
static inline int
msg_starts(const struct loghdr *h, const char *lit, size_t n)
{
    return h->msg.len >= n && memcmp(h->msg.p, lit, n) == 0;
}

/* The rules of list l of e (0 code, 1 nocode) from 'from' on that the message may match: bit i for
 * rule from + i, set for a rule that requires a pair the message has, or none of the held pairs, or
 * that is past the list's first 64. */
static __attribute__((noinline)) uint64_t
candidates_of(const struct cache_entry *e, int l, size_t from, const struct loghdr *h,
              struct line_facts *f)
{
    uint64_t c;

    if (!f->picked) {
        f->present = picks_present(&e->picks, h->msg.p, h->msg.len);
        f->picked = 1;
    }
    c = e->other_rules[l];
    for (unsigned p = f->present; p != 0; p &= p - 1) {
        c |= e->pick_rules[l][__builtin_ctz(p)];
    }
    return from == 0 ? c : c >> from | ~UINT64_C(0) << (64 - from);
}

static inline uint64_t
candidates(const struct matcher *m, const struct cache_entry *e, int l, size_t from,
           const struct loghdr *h, struct line_facts *f)
{
    if (!e->by_pairs[l] || from >= 64 || !m->pairs) {
        return ~UINT64_C(0);
    }
    return candidates_of(e, l, from, h, f);
}

/* The first candidate rule from i on: bit i of cand, or any past the first 64. */
static inline size_t
next_rule(uint64_t cand, size_t i)
{
    uint64_t rest;

    if (cand == ~UINT64_C(0) || i >= 64) {
        return i; /* every rule: most lists */
    }
    rest = cand >> i;
    return rest != 0 ? i + (size_t)__builtin_ctzll(rest) : 64;
}

/* Returns 1 if a rule matched (ev filled), 2 if an ignore rule matched, else 0. With proven
 * not NULL, *proven is set to whether a match's code is one the detector finds. */
static int
try_rules(struct matcher *m, const struct rule *const *rules, size_t n, uint64_t cand,
          const struct loghdr *h, struct line_facts *f, struct smtp_event *ev, int *proven)
{
    struct scan_caps c; /* one for the message: the delivery scanners share what they read */
    uint64_t absent = f->absent, absent_bytes = f->absent_bytes; /* read here, kept in f too */

    SCAN_CAPS_INIT(&c);

    for (size_t i = next_rule(cand, 0); i < n; i = next_rule(cand, i + 1)) {
        const struct rule *r = rules[i];
        if (r->lead_len > 0 && !msg_starts(h, r->pattern + 1, r->lead_len)) {
            continue; /* the pattern's first bytes are not the message's */
        }
        if (r->require != NULL) {
            int none = 0;
            if ((r->require_sub & absent) || (r->pick_sub & absent_bytes)) {
                continue;
            }
            if (!contains(h->msg.p, h->msg.len, r->require, r->require_len, r->require_pick,
                          &none)) {
                if (r->require_id >= 0) {
                    f->absent = absent |= UINT64_C(1) << r->require_id;
                }
                if (none && r->pick_id >= 0) {
                    f->absent_bytes = absent_bytes |= UINT64_C(1) << r->pick_id;
                }
                continue;
            }
        }
        if (r->scanner != NULL && m->rs->scanners) {
            int sc = r->scanner->fn(h->msg.p, h->msg.len, &c);
            if (sc > 0) {
                struct groups gs;
                scanner_groups(r, h->msg.p, &c, &gs);
                return take(m, r, &gs, h, ev, proven);
            }
            if (sc < 0) {
                continue; /* the pattern cannot match */
            }
        }
        if (atomic_load_explicit(&r->jit_pending, memory_order_acquire)) {
            rule_jit(r);
        }
        int rc = pcre2_match(r->re, (PCRE2_SPTR)h->msg.p, h->msg.len, 0, 0, m->md, m->mctx);
        if (rc >= 0) {
            if (r->ignore) {
                memset(ev, 0, sizeof(*ev));
                ev->rule = r;
                ev->reason = -1;
                return 2;
            }
            struct groups gs;
            pattern_groups(r, h->msg.p, pcre2_get_ovector_pointer(m->md), &gs);
            return take(m, r, &gs, h, ev, proven);
        }
        if (rc != PCRE2_ERROR_NOMATCH) {
            m->limit_hits++;
        }
    }
    return 0;
}

/* Lines of a program between two choices of its order (below); a power of two. */
#define FIRST_WINDOW 512

/* Counts a line of a program whose first rules have a scanner: hit when they took it with a
 * code the detector finds. At the end of a window, the program's lines are taken rules first
 * if more than half of its lines were such. */
static inline void
first_tally(struct cache_entry *e, int hit)
{
    e->first_hits += (unsigned)hit;
    if (++e->first_lines == FIRST_WINDOW) {
        e->code_first = e->first_hits > FIRST_WINDOW / 2;
        e->first_lines = e->first_hits = 0;
    }
}

/* Whether the rule that took a line is one of the program's first rules. */
static int
in_first(const struct cache_entry *e, const struct rule *r)
{
    for (size_t i = 0; i < e->nfirst; i++) {
        if (e->code[i] == r) {
            return 1;
        }
    }
    return 0;
}

/*
 * A line with a code the detector finds is tried against the rules with a code, in their
 * order; if none takes it, against those with a default. A line without one, against those
 * with a default only.
 *
 * Most lines of some programs (smtp(8), lmtp(8), local(8): nearly every line a delivery
 * record) are taken by one of the first rules, which end with a scanner: for such a program the
 * first rules are tried before the detector, and when one takes the line with a code that the
 * detector finds where the match took it from (detect_token_at), the detector cannot say there
 * is none, and is not run. Otherwise it decides as before: with no code, the first rules' try
 * is undone (only its count of match-limit errors is kept: the result was not used) and the
 * line goes to the rules with a default; with one, the first rules' answer stands, or the rules
 * after them are tried. So the result is the same in either order, and which order a program
 * takes, chosen by its last 512 lines, changes the time only.
 */
enum match_result
matcher_match(struct matcher *m, const struct loghdr *h, const struct pack *only,
              struct smtp_event *ev)
{
    struct cache_entry *e = lookup(m, &h->program, only);
    struct line_facts f = {0, 0, 0, 0};
    size_t from = 0;
    int rc = 0;

    if (m->order < 0 ? e->code_first : m->order && e->nfirst > 0) {
        uint64_t limit_hits = m->limit_hits;
        int proven = 0;
        rc = try_rules(m, e->code, e->nfirst, candidates(m, e, 0, 0, h, &f), h, &f, ev, &proven);
        first_tally(e, proven);
        if (proven) {
            ev->flags |= EV_DETECTED;
            return MATCH_OK;
        }
        if (detect_codes(h->msg.p, h->msg.len) == 0) {
            m->limit_hits = limit_hits;
            goto nocode;
        }
        from = e->nfirst;
    } else if (detect_codes(h->msg.p, h->msg.len) == 0) {
        if (e->nfirst > 0) {
            first_tally(e, 0);
        }
        goto nocode;
    }
    if (rc == 0 && from < e->ncode) { /* (e->code is NULL for a program without such rules) */
        rc = try_rules(m, e->code + from, e->ncode - from, candidates(m, e, 0, from, h, &f), h, &f,
                       ev, NULL);
        if (e->nfirst > 0 && from == 0) {
            first_tally(e, rc == 1 && in_first(e, ev->rule));
        }
    }
    if (rc == 0) {
        /* A rule with a default may still describe this line (its code unparsed). */
        rc = try_rules(m, e->nocode, e->nnocode, candidates(m, e, 1, 0, h, &f), h, &f, ev, NULL);
    }
    if (rc == 1) {
        ev->flags |= EV_DETECTED;
    }
    return rc == 1 ? MATCH_OK : rc == 2 ? MATCH_IGNORED : MATCH_UNMATCHED;
nocode:
    /* Most lines without a code lack the one byte their program's rules with a default all
     * require (smtpd(8)'s "SASL", qmgr(8)'s "status=expired", postscreen(8)'s literals): one
     * memchr here instead of a try of the rules. */
    if (e->nnocode > 0 &&
        (e->nocode_lead_len == 0 || msg_starts(h, e->nocode_lead, e->nocode_lead_len)) &&
        (e->nocode_byte < 0 || memchr(h->msg.p, e->nocode_byte, h->msg.len) != NULL) &&
        try_rules(m, e->nocode, e->nnocode, candidates(m, e, 1, 0, h, &f), h, &f, ev, NULL)) {
        return MATCH_OK;
    }
    return MATCH_NOCODE;
}
