/*
 * config.h -- the agent's configuration: one INI file (libinih) plus command-line overrides,
 * described by a single option table. Every error is collected as "file:line: message" before
 * the caller fails. No logging, no connections: safe for `smtpmon -n`.
 */
#ifndef SMTPMON_AGENT_CONFIG_H
#define SMTPMON_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "errlist.h"

#define CONFIG_DEFAULT_FILE "/etc/smtpmon/smtpmon.conf"
#define CONFIG_NAME_MAX 64 /* source and alert names */

enum config_type {
    CONFIG_STR,      /* free text; empty means unset */
    CONFIG_PATH,     /* a file or directory name; empty means unset */
    CONFIG_INT,      /* decimal integer */
    CONFIG_SIZE,     /* bytes, with an optional K/M/G suffix (powers of 1024) */
    CONFIG_DURATION, /* milliseconds; suffix ms, s, m, h or d (a bare number is seconds) */
    CONFIG_BOOL,     /* yes/no, true/false, on/off, 1/0 */
    CONFIG_ENUM,     /* one of the '|'-separated words in 'choices'; stored as its index */
    CONFIG_URL,      /* a Redis URL, see struct config_redis_url */
    CONFIG_WORDS,    /* a white-space separated list; stored as the text */
};

enum config_scope {
    CONFIG_GLOBAL, /* a field of struct config */
    CONFIG_SOURCE, /* a field of struct config_source ([source NAME] sections) */
    CONFIG_ALERT,  /* a field of struct config_alert ([alert NAME] sections) */
};

/* One row per option: the parser, the defaults, the packaged configuration file and the
 * --help text all come from this table. */
struct config_option {
    const char *section; /* "agent", "redis", "buckets", "source" or "alert" */
    const char *name;
    enum config_type type;
    enum config_scope scope;
    size_t offset;       /* of the field in the struct of its scope */
    const char *def;     /* default, in the file's syntax; NULL: unset */
    int64_t min, max;    /* numeric range, in base units (bytes, milliseconds) */
    const char *choices; /* CONFIG_ENUM: "head|tail" */
    const char *help;
};

enum config_read_from { CONFIG_READ_HEAD, CONFIG_READ_TAIL };
enum config_source_type { CONFIG_SOURCE_FILE, CONFIG_SOURCE_JOURNAL };
enum config_fallback { CONFIG_FALLBACK_NONE, CONFIG_FALLBACK_JOURNAL };

struct config_redis_url {
    int unix_socket; /* 1: 'path' is a socket; 0: host and port */
    char host[256];
    int port;
    char path[256];
    int db;
    char user[128];
    char password[256];
};

struct config_source {
    char name[CONFIG_NAME_MAX];
    unsigned line;      /* where the section starts; 0 for command-line sources */
    const char *file;   /* configuration file or "command line" */
    int type;           /* enum config_source_type; see config_resolve_fallbacks() */
    char *path;         /* file sources: a path or a glob */
    int fallback;       /* file sources: enum config_fallback */
    int fell_back;      /* config_resolve_fallbacks() chose the journal: type is JOURNAL */
    char *pack;         /* "auto" or a pack name */
    int read_from;      /* -1: the [agent] default; else enum config_read_from */
    char *identifiers;  /* journal sources and the fallback: SYSLOG_IDENTIFIER values (globs) */
    char *journal_dir;  /* journal sources and the fallback: this directory, not the system's */
    unsigned lines[16]; /* line of each option set, by row index within the scope */
};

struct config_alert {
    char name[CONFIG_NAME_MAX];
    unsigned line;
    const char *file;
    char *select; /* e.g. "outcome:bounced", "status:5.7.*", "reason:blocklist" */
    int64_t threshold;
    int64_t window; /* ms */
    int64_t min_events;
    /* -- alert rules (agent/core/alerts.h): selectors, thresholds, delivery */
    int direction; /* 0 any, 1 inbound, 2 outbound, 3 local (enum smtp_direction) */
    char *status;  /* globs on X.Y.Z */
    char *reply;   /* globs on the reply code */
    char *reason;  /* a reason name */
    char *domain;  /* globs on the recipient domain */
    char *list;    /* globs on the blocklist or filter named (event.list) */
    int64_t min_count;
    char *factor;            /* a decimal number */
    char *min_share;         /* a fraction or a percentage */
    int64_t cooldown;        /* ms */
    int64_t recover_after;   /* ms */
    char *program;           /* argv: the program and its fixed arguments */
    int64_t program_timeout; /* ms */
    /* -- end alert rules */
    unsigned lines[24];
};

struct config {
    char *file; /* the configuration file read, or NULL */

    /* [agent] */
    char *agent_id;
    char *state_dir;
    char *output;
    char *patterns;
    char *patterns_override;
    int read_from;          /* enum config_read_from */
    int64_t flush_interval; /* ms */
    int64_t batch_lines;
    int64_t queue_batches;
    int64_t max_line;        /* bytes */
    int64_t read_chunk;      /* bytes */
    int64_t rescan_interval; /* ms: the safety-net timer */
    int64_t rotate_wait;     /* ms: a rotated file is closed after this long without growth */
    int64_t stop_timeout;    /* ms */
    int log_level;           /* enum log_level */
    int jit;
    char *internal_relays; /* words: addresses, CIDRs, host names (agent/core/relays.h) */

    /* [redis] */
    char *redis;
    struct config_redis_url redis_url;
    int64_t redis_timeout; /* ms */
    char *redis_prefix;
    char *redis_password_file;
    char *redis_user;      /* overrides the URL's */
    int64_t redis_db;      /* overrides the URL's when set (its line is non-zero) */
    char *redis_sentinels; /* "host:port host:port" */
    char *redis_master_name;
    int redis_cluster;             /* the URL names a seed node of a Redis Cluster */
    char *redis_cluster_seeds;     /* "host:port host:port": more seed nodes */
    int64_t redis_connect_timeout; /* ms */
    int64_t redis_backoff_max;     /* ms */
    int64_t redis_lease;           /* ms */
    int64_t redis_top_domains;
    int redis_fleet;
    int64_t redis_fleet_shards;
    int64_t redis_wait_replicas;

    /* [buckets] */
    int64_t bucket_minute; /* retention of per-minute counts, ms; 0: none */

    struct config_source *sources;
    size_t nsources;
    struct config_alert *alerts;
    size_t nalerts;

    unsigned lines[48]; /* line of each global option set, by row index */
    int cli_sources;    /* sources were given on the command line */
};

/* The option table, NULL-name terminated. */
const struct config_option *config_options(void);

/* Fills c with the defaults. Returns 0, or -1 on allocation failure. */
int config_init(struct config *c);
void config_free(struct config *c);

/* Reads an INI file into c (which holds defaults or earlier values). Returns 0 if no error was
 * added to errs, -1 otherwise. */
int config_load_file(struct config *c, const char *file, struct errlist *errs);
/* Same, from text (tests, fuzzing): 'name' is used in messages. */
int config_load_text(struct config *c, const char *name, const char *text, struct errlist *errs);

/* Sets one option as if read from 'file' at 'line' (command-line overrides). 'section' is
 * "agent", "redis" or "buckets". Returns 0 or -1 with an error added. */
int config_set(struct config *c, const char *section, const char *name, const char *value,
               const char *file, unsigned line, struct errlist *errs);
/* Adds a source from the command line: a file path, or NULL for the journal. */
int config_add_cli_source(struct config *c, const char *path, const char *pack,
                          struct errlist *errs);

/* Checks what needs the whole file (required keys, duplicates across sections). */
int config_validate(struct config *c, struct errlist *errs);

/* File sources with fallback = journal read the journal (identifiers, journal_dir) while their
 * path names no file, or their glob matches none: sets their type to CONFIG_SOURCE_JOURNAL and
 * fell_back, or back to CONFIG_SOURCE_FILE. Looks at the file system, so the agent calls it when
 * it starts and on every reload, after config_validate(); smtpmon -n does not. Returns the
 * number of sources that fell back. */
size_t config_resolve_fallbacks(struct config *c);

/* Parsers shared with the tests. Return 0 or -1 with a message in err. */
int config_parse_size(const char *s, int64_t *out, char *err, size_t errlen);
int config_parse_duration(const char *s, int64_t *out, char *err, size_t errlen);
int config_parse_redis_url(const char *s, struct config_redis_url *u, char *err, size_t errlen);

/* 1 if 'id' matches one of the white-space separated globs in 'words'. */
int config_words_match(const char *words, const char *id);

/* The line of the file where a global option was set; 0 if it was not. */
unsigned config_line_of(const struct config *c, const char *section, const char *name);

/* The agent id, the one function that computes it (the agent, alerts, query): 'configured' when
 * set (--agent-id, [agent] agent_id), else the host name, each byte outside [A-Za-z0-9._-]
 * written as '_'. */
void config_agent_id(char *dst, size_t cap, const char *configured);

/* The default value of an option as text, e.g. for --help. NULL if unknown. */
const struct config_option *config_option_find(const char *section, const char *name);

#endif
