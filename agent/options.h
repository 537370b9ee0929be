/*
 * options.h -- what the agent starts from: its command line (options_parse, with the help text
 * of every command), the configuration built from the file and the command line over it
 * (options_load: every error said in errs, none fatal on the way, so that -n reports them all),
 * and the loaded patterns (struct rsref). Used by agent_main's phases and by the reload; no
 * libev, no stream, nothing of the running agent.
 */
#ifndef SMTPMON_AGENT_OPTIONS_H
#define SMTPMON_AGENT_OPTIONS_H

#include <stddef.h>

#include "config.h"
#include "errlist.h"
#include "relays.h"
#include "rules.h"

#define CLI_MAX 64

struct agent_exporters;

/* A loaded ruleset and its matcher, shared by the streams and by the batches counted with it
 * (a batch names its rules through it), freed when the last user lets go. */
struct rsref {
    struct ruleset *rs;
    struct matcher *m;
    struct relays *internal; /* [agent] internal_relays; NULL: loopback only */
    int refs;
};

struct cli_set {
    const char *section, *name, *value;
    unsigned arg;
};

struct cli {
    const char *config_file;
    int check;
    int verbose;
    struct cli_set sets[CLI_MAX];
    size_t nsets;
    const char *follow[CLI_MAX];
    size_t nfollow;
    int journal;
    const char *pack;
};

/* Loads the patterns the configuration names, with their matcher; refs = 1. NULL, with errs
 * filled, when they do not load. */
struct rsref *rsref_load(const struct config *c, struct errlist *errs);

/* Lets go of one reference; the last frees the ruleset (NULL is accepted). */
void rsref_put(struct rsref *r);

/* Parses argv into cli (x: the other commands, for the help). Returns 0, 1 once --help has
 * been printed, or -1 on a usage error (said on stderr). */
int options_parse(struct cli *cli, int argc, char **argv, const struct agent_exporters *x);

/* Builds the configuration (the file, then the command line over it) and loads the patterns it
 * names into *rsr. Returns 0, or -1 with errs filled (c is to be freed with config_free, *rsr is
 * NULL). */
int options_load(const struct cli *cli, struct config *c, struct rsref **rsr, struct errlist *errs);

/* Chooses between the file and the journal for the sources with fallback = journal, and logs
 * which one each reads. */
void options_resolve_fallbacks(struct config *c);

/* Says every error of errs, to the log (to_log) or to stderr, and how many more were left out. */
void options_print_errors(const struct errlist *errs, int to_log);

#endif
