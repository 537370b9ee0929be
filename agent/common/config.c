#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "relays.h"

#define G(field) CONFIG_GLOBAL, offsetof(struct config, field)
#define S(field) CONFIG_SOURCE, offsetof(struct config_source, field)
#define A(field) CONFIG_ALERT, offsetof(struct config_alert, field)

#define KIB ((int64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define SEC ((int64_t)1000)
#define MIN (SEC * 60)
#define HOUR (MIN * 60)
#define DAY (HOUR * 24)

/* INI_MAX_LINE is 200 in Debian's build: a line plus "\r\n" and the terminating NUL. */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 3)

static const struct config_option options[] = {
    {"agent", "agent_id", CONFIG_STR, G(agent_id), NULL, 0, 0, NULL,
     "Name of this agent in Redis keys; default: the host name"},
    {"agent", "state_dir", CONFIG_PATH, G(state_dir), "/var/lib/smtpmon", 0, 0, NULL,
     "Directory for cursors and the instance lock"},
    {"agent", "output", CONFIG_PATH, G(output), NULL, 0, 0, NULL,
     "JSON-lines file that receives one object per flushed batch"},
    {"agent", "patterns", CONFIG_PATH, G(patterns), NULL, 0, 0, NULL,
     "Pattern pack directory; default: ../patterns next to the binary, else the installed one"},
    {"agent", "patterns_override", CONFIG_PATH, G(patterns_override), NULL, 0, 0, NULL,
     "Directory of local rules read after the packs; default: /etc/smtpmon/patterns.d if present"},
    {"agent", "read_from", CONFIG_ENUM, G(read_from), "tail", 0, 0, "head|tail",
     "Where a file never seen before is read from on a first start"},
    {"agent", "flush_interval", CONFIG_DURATION, G(flush_interval), "1s", 10, HOUR, NULL,
     "A batch of counts is handed to the exporter at least this often"},
    {"agent", "batch_lines", CONFIG_INT, G(batch_lines), "100000", 1, 100000000, NULL,
     "A batch is handed over early when it holds this many lines"},
    {"agent", "queue_batches", CONFIG_INT, G(queue_batches), "4", 1, 1024, NULL,
     "Batches waiting for the exporter before reading pauses"},
    {"agent", "max_line", CONFIG_SIZE, G(max_line), "64K", 256, 16 * MIB, NULL,
     "Longer lines are skipped and counted"},
    {"agent", "read_chunk", CONFIG_SIZE, G(read_chunk), "256K", 4 * KIB, 64 * MIB, NULL,
     "Bytes read from a file at once"},
    {"agent", "rescan_interval", CONFIG_DURATION, G(rescan_interval), "5s", 100, HOUR, NULL,
     "Safety-net timer: every file is checked by stat this often"},
    {"agent", "rotate_wait", CONFIG_DURATION, G(rotate_wait), "5s", 0, HOUR, NULL,
     "A rotated file is read until it has not grown for this long"},
    {"agent", "stop_timeout", CONFIG_DURATION, G(stop_timeout), "5s", 0, 10 * MIN, NULL,
     "On SIGTERM, time allowed to flush the last batch"},
    {"agent", "log_level", CONFIG_ENUM, G(log_level), "info", 0, 0, "error|warning|info|debug",
     "Messages below this level are not logged"},
    {"agent", "jit", CONFIG_BOOL, G(jit), "yes", 0, 0, NULL,
     "JIT-compile the patterns (falls back to the interpreter if JIT is denied)"},
    {"agent", "internal_relays", CONFIG_WORDS, G(internal_relays), NULL, 0, 0, NULL,
     "Relays of this site (addresses, CIDRs, host names, .suffixes): hops to them count as "
     "direction internal, not outbound (loopback always does)"},

    {"redis", "url", CONFIG_URL, G(redis), NULL, 0, 0, NULL,
     "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH[?db=N]"},
    {"redis", "timeout", CONFIG_DURATION, G(redis_timeout), "5s", 100, 10 * MIN, NULL,
     "Time allowed for one Redis command"},
    {"redis", "prefix", CONFIG_STR, G(redis_prefix), "smtpmon", 0, 0, NULL,
     "First component of every key"},
    /* -- Redis exporter settings */
    {"redis", "password_file", CONFIG_PATH, G(redis_password_file), NULL, 0, 0, NULL,
     "File holding the password when the URL has none; default: the systemd credential "
     "$CREDENTIALS_DIRECTORY/redis-password"},
    {"redis", "user", CONFIG_STR, G(redis_user), NULL, 0, 0, NULL,
     "ACL user name; overrides the one in the URL"},
    {"redis", "db", CONFIG_INT, G(redis_db), NULL, 0, 65535, NULL,
     "Database number; overrides the one in the URL"},
    {"redis", "sentinels", CONFIG_WORDS, G(redis_sentinels), NULL, 0, 0, NULL,
     "HOST:PORT of Redis Sentinels: the master is asked of them (the URL's host is unused)"},
    {"redis", "master_name", CONFIG_STR, G(redis_master_name), NULL, 0, 0, NULL,
     "Name of the master monitored by the sentinels"},
    {"redis", "cluster", CONFIG_BOOL, G(redis_cluster), "no", 0, 0, NULL,
     "Redis Cluster: the URL's host is a seed node; the slot map is read from the cluster"},
    {"redis", "cluster_seeds", CONFIG_WORDS, G(redis_cluster_seeds), NULL, 0, 0, NULL,
     "HOST:PORT of more cluster nodes to read the slot map from when the URL's is down"},
    {"redis", "connect_timeout", CONFIG_DURATION, G(redis_connect_timeout), "5s", 100, 10 * MIN,
     NULL, "Time allowed to connect to Redis or a sentinel"},
    {"redis", "backoff_max", CONFIG_DURATION, G(redis_backoff_max), "30s", 10, 10 * MIN, NULL,
     "Longest wait between two reconnection attempts (exponential, with jitter)"},
    {"redis", "lease", CONFIG_DURATION, G(redis_lease), "60s", SEC, DAY, NULL,
     "Ownership lease of the agent id: another agent with the same id is refused meanwhile"},
    {"redis", "top_domains", CONFIG_INT, G(redis_top_domains), "50", 1, 100000, NULL,
     "Distinct recipient domains kept per minute bucket (the rest count as other)"},
    {"redis", "fleet", CONFIG_BOOL, G(redis_fleet), "yes", 0, 0, NULL,
     "Also commit fleet-wide counts ({fleet} keys)"},
    {"redis", "fleet_shards", CONFIG_INT, G(redis_fleet_shards), "1", 1, 64, NULL,
     "Fleet keys spread over N hash tags {fleet:K} (1: the single {fleet} tag); readers sum them"},
    {"redis", "wait_replicas", CONFIG_INT, G(redis_wait_replicas), "0", 0, 16, NULL,
     "Replicas that must hold a commit (WAIT) before its lines leave the agent's memory"},
    /* -- end Redis exporter settings */

    {"buckets", "minute", CONFIG_DURATION, G(bucket_minute), "2d", 0, 400 * DAY, NULL,
     "How long per-minute counts are kept; 0: not kept"},

    {"source", "type", CONFIG_ENUM, S(type), "file", 0, 0, "file|journal",
     "file: follow a log file; journal: read the systemd journal"},
    {"source", "path", CONFIG_PATH, S(path), NULL, 0, 0, NULL,
     "file sources: the log file, or a glob matching several"},
    {"source", "fallback", CONFIG_ENUM, S(fallback), "none", 0, 0, "none|journal",
     "file sources: read the journal instead while path names no file (checked at start and "
     "on reload)"},
    {"source", "pack", CONFIG_STR, S(pack), "auto", 0, 0, NULL,
     "Pattern pack to use, or auto (chosen by the syslog program name)"},
    {"source", "read_from", CONFIG_ENUM, S(read_from), NULL, 0, 0, "head|tail",
     "Overrides [agent] read_from for this source"},
    {"source", "identifiers", CONFIG_WORDS, S(identifiers),
     "postfix/* postfix-*/* exim exim4 sendmail sm-mta sm-msp-queue opensmtpd smtpd", 0, 0, NULL,
     "journal sources and the journal fallback: SYSLOG_IDENTIFIER values (globs allowed)"},
    {"source", "journal_dir", CONFIG_PATH, S(journal_dir), NULL, 0, 0, NULL,
     "journal sources and the journal fallback: this journal directory, not the system's"},

    {"alert", "select", CONFIG_STR, A(select), NULL, 0, 0, NULL,
     "What to count: outcome:NAME, class:N, reply:NNN, status:X.Y.Z (globs), reason:NAME"},
    {"alert", "threshold", CONFIG_INT, A(threshold), "100", 1, INT64_C(1000000000), NULL,
     "Older name of min_count: used when set and min_count is not"},
    {"alert", "window", CONFIG_DURATION, A(window), "5m", MIN, DAY, NULL,
     "Length of the sliding window (whole minutes)"},
    {"alert", "min_events", CONFIG_INT, A(min_events), "0", 0, INT64_C(1000000000), NULL,
     "Do not alert unless this many events of the direction were seen in the window"},
    /* -- alert rules (agent/core/alerts.h) */
    {"alert", "direction", CONFIG_ENUM, A(direction), "any", 0, 0,
     "any|inbound|outbound|local|internal",
     "Events of this direction only; also the traffic that min_share is a share of"},
    {"alert", "status", CONFIG_WORDS, A(status), NULL, 0, 0, NULL,
     "Enhanced status codes (globs such as 5.7.*); a bare reply counts as C.0.0"},
    {"alert", "reply", CONFIG_WORDS, A(reply), NULL, 0, 0, NULL, "Reply codes (globs such as 55?)"},
    {"alert", "reason", CONFIG_STR, A(reason), NULL, 0, 0, NULL,
     "A reason of the catalogue (patterns/reasons.rules), e.g. blocklist"},
    {"alert", "domain", CONFIG_WORDS, A(domain), NULL, 0, 0, NULL,
     "Recipient domains (globs such as *.example.com)"},
    {"alert", "list", CONFIG_WORDS, A(list), NULL, 0, 0, NULL,
     "Blocklists or filters the refusal names (globs such as spamhaus-* microsoft-*)"},
    {"alert", "min_count", CONFIG_INT, A(min_count), "20", 1, INT64_C(1000000000), NULL,
     "Alert only when at least this many selected events are in the window"},
    {"alert", "factor", CONFIG_STR, A(factor), "3", 0, 0, NULL,
     "... and at least this many times the learned baseline (0: no baseline test)"},
    {"alert", "min_share", CONFIG_STR, A(min_share), "0", 0, 0, NULL,
     "... and at least this share of the direction's events in the window (0.02 or 2%)"},
    {"alert", "cooldown", CONFIG_DURATION, A(cooldown), "1h", 0, 7 * DAY, NULL,
     "No new alert of this rule for this long after a recovery"},
    {"alert", "recover_after", CONFIG_DURATION, A(recover_after), "15m", 0, DAY, NULL,
     "A recovery is sent once the condition has been false for this long"},
    {"alert", "program", CONFIG_WORDS, A(program), NULL, 0, 0, NULL,
     "Run this program (absolute path and fixed arguments, no shell) with the alert on stdin"},
    {"alert", "program_timeout", CONFIG_DURATION, A(program_timeout), "10s", 100, 10 * MIN, NULL,
     "The program is killed after this long"},
    /* -- end alert rules */

    {NULL, NULL, CONFIG_STR, CONFIG_GLOBAL, 0, NULL, 0, 0, NULL, NULL},
};

struct config_reader {
    FILE *fp; /* or NULL when reading from text */
    const char *text;
    size_t text_off;
    const char *file;
    unsigned line;
    char *buf;
    size_t cap;
    struct errlist *errs;
};

struct config_parse {
    struct config *c;
    struct config_reader *rd;
    struct errlist *errs;
    int bad_section;           /* ignore keys until the next section header */
    char section[128];         /* the section of the last key, to detect a new header */
    struct config_source *src; /* the current [source NAME] */
    struct config_alert *alert;
};

const struct config_option *
config_options(void)
{
    return options;
}

const struct config_option *
config_option_find(const char *section, const char *name)
{
    for (const struct config_option *o = options; o->name != NULL; o++) {
        if (strcmp(o->section, section) == 0 && strcmp(o->name, name) == 0) {
            return o;
        }
    }
    return NULL;
}

/* Row index of o among the rows of its scope (for the lines[] arrays). */
static size_t
option_index(const struct config_option *o)
{
    size_t i = 0;

    for (const struct config_option *p = options; p != o; p++) {
        if (p->scope == o->scope) {
            i++;
        }
    }
    return i;
}

int
config_parse_size(const char *s, int64_t *out, char *err, size_t errlen)
{
    char *end;
    long long v;
    int64_t mul = 1;

    errno = 0;
    if (!isdigit((unsigned char)*s)) {
        snprintf(err, errlen, "bad size '%s'", s);
        return -1;
    }
    v = strtoll(s, &end, 10);
    if (errno != 0) {
        snprintf(err, errlen, "bad size '%s'", s);
        return -1;
    }
    if (*end != '\0') {
        if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kib") == 0 ||
            strcasecmp(end, "kb") == 0) {
            mul = KIB;
        } else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mib") == 0 ||
                   strcasecmp(end, "mb") == 0) {
            mul = MIB;
        } else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gib") == 0 ||
                   strcasecmp(end, "gb") == 0) {
            mul = GIB;
        } else if (strcasecmp(end, "b") != 0) {
            snprintf(err, errlen, "bad size '%s' (use a number with K, M or G)", s);
            return -1;
        }
    }
    if (v > INT64_MAX / mul) {
        snprintf(err, errlen, "bad size '%s': too large", s);
        return -1;
    }
    *out = (int64_t)v * mul;
    return 0;
}

int
config_parse_duration(const char *s, int64_t *out, char *err, size_t errlen)
{
    char *end;
    long long v;
    int64_t mul = SEC;

    errno = 0;
    if (!isdigit((unsigned char)*s)) {
        snprintf(err, errlen, "bad duration '%s'", s);
        return -1;
    }
    v = strtoll(s, &end, 10);
    if (errno != 0) {
        snprintf(err, errlen, "bad duration '%s'", s);
        return -1;
    }
    if (*end != '\0') {
        if (strcmp(end, "ms") == 0) {
            mul = 1;
        } else if (strcmp(end, "s") == 0) {
            mul = SEC;
        } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
            mul = MIN;
        } else if (strcmp(end, "h") == 0) {
            mul = HOUR;
        } else if (strcmp(end, "d") == 0) {
            mul = DAY;
        } else {
            snprintf(err, errlen, "bad duration '%s' (use a number with ms, s, m, h or d)", s);
            return -1;
        }
    }
    if (v > INT64_MAX / mul) {
        snprintf(err, errlen, "bad duration '%s': too large", s);
        return -1;
    }
    *out = (int64_t)v * mul;
    return 0;
}

static int
parse_port(const char *s, size_t len, int *port)
{
    int v = 0;

    if (len == 0 || len > 5) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535) {
        return -1;
    }
    *port = v;
    return 0;
}

static int
parse_db(const char *s, int *db)
{
    char *end;
    long v;

    if (!isdigit((unsigned char)*s)) {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 1000000) {
        return -1;
    }
    *db = (int)v;
    return 0;
}

static int
copy_part(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap) {
        return -1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes s[0, len) into dst (cap bytes with the NUL). Returns 0, -1 when the result
 * does not fit, or the 1-based position of a bad escape: a '%' not followed by two hex digits,
 * or %00. */
static long
pct_decode(char *dst, size_t cap, const char *s, size_t len)
{
    size_t j = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];

        if (c == '%') {
            int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return (long)i + 1;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        if (j + 1 >= cap) {
            return -1;
        }
        dst[j++] = (char)c;
    }
    dst[j] = '\0';
    return 0;
}

/* The URL as error messages show it: the password, if any, as "***" (all of the part before
 * the '@' when it has no ':', which may be a password given without one). */
static void
url_shown(char *dst, size_t cap, const char *s)
{
    const char *auth = strstr(s, "://");
    const char *at = auth != NULL ? strrchr(auth + 3, '@') : NULL;
    const char *colon = at != NULL ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;

    if (at == NULL) {
        snprintf(dst, cap, "%s", s);
    } else {
        const char *keep = colon != NULL ? colon + 1 : auth + 3;

        snprintf(dst, cap, "%.*s***%s", (int)(keep - s), s, at);
    }
}

/* Decodes one part of the URL; names it and the offending value in err otherwise (the
 * password by position only). */
static int
url_part(char *dst, size_t cap, const char *s, size_t len, const char *what, const char *shown,
         char *err, size_t errlen)
{
    int secret = strcmp(what, "password") == 0;
    long r = pct_decode(dst, cap, s, len);

    if (r == 0) {
        return 0;
    }
    if (r < 0) {
        snprintf(err, errlen, "bad Redis URL '%s': %s too long (at most %zu bytes)", shown, what,
                 cap - 1);
    } else if (secret) {
        snprintf(err, errlen,
                 "bad Redis URL '%s': password: bad percent-escape at character %ld "
                 "(write %%XX with two hex digits, %%25 for '%%')",
                 shown, r);
    } else {
        snprintf(err, errlen,
                 "bad Redis URL '%s': %s '%.*s': bad percent-escape '%.*s' "
                 "(write %%XX with two hex digits, %%25 for '%%')",
                 shown, what, (int)len, s,
                 (int)(len - (size_t)(r - 1) < 3 ? len - (size_t)(r - 1) : 3), s + r - 1);
    }
    return -1;
}

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH[?db=N], each part
 * percent-decoded (a password with '@', '/', ':' or '%' is written %40, %2F, %3A, %25; a raw
 * '@' or ':' in the password works too: the last '@' ends it). rediss:// is refused: the
 * hiredis of this build has no TLS. */
int
config_parse_redis_url(const char *s, struct config_redis_url *u, char *err, size_t errlen)
{
    const char *p, *at, *hostend, *slash;
    char shown[600], db[32];

    memset(u, 0, sizeof(*u));
    u->port = 6379;
    url_shown(shown, sizeof(shown), s);
    if (strncmp(s, "unix://", 7) == 0) {
        const char *q;

        p = s + 7;
        u->unix_socket = 1;
        if (*p != '/') {
            snprintf(err, errlen, "bad Redis URL '%s': unix:// needs an absolute path", shown);
            return -1;
        }
        q = strchr(p, '?');
        if (url_part(u->path, sizeof(u->path), p, q != NULL ? (size_t)(q - p) : strlen(p),
                     "socket path", shown, err, errlen) == -1) {
            return -1;
        }
        if (q != NULL && strncmp(q, "?db=", 4) != 0) {
            snprintf(err, errlen, "bad Redis URL '%s': expected ?db=N after the path, not '%s'",
                     shown, q);
            return -1;
        }
        if (q == NULL) {
            return 0;
        }
        if (url_part(db, sizeof(db), q + 4, strlen(q + 4), "database", shown, err, errlen) == -1) {
            return -1;
        }
        if (parse_db(db, &u->db) == -1) {
            snprintf(err, errlen, "bad Redis URL '%s': database '%s' is not a number 0..1000000",
                     shown, q + 4);
            return -1;
        }
        return 0;
    }
    if (strncmp(s, "rediss://", 9) == 0) {
        snprintf(err, errlen,
                 "rediss:// (TLS) is not supported by this build's hiredis; use stunnel, see "
                 "packaging/redis/README.md (installed as "
                 "/usr/share/doc/smtpmon/examples/redis/README.md)");
        return -1;
    }
    if (strncmp(s, "redis://", 8) != 0) {
        snprintf(err, errlen, "bad Redis URL '%s': expected redis:// or unix://", shown);
        return -1;
    }
    p = s + 8;
    at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        if (colon == NULL) {
            snprintf(err, errlen, "bad Redis URL '%s': expected USER:PASSWORD@ or :PASSWORD@",
                     shown);
            return -1;
        }
        if (url_part(u->user, sizeof(u->user), p, (size_t)(colon - p), "user", shown, err,
                     errlen) == -1 ||
            url_part(u->password, sizeof(u->password), colon + 1, (size_t)(at - colon - 1),
                     "password", shown, err, errlen) == -1) {
            return -1;
        }
        p = at + 1;
    }
    slash = strchr(p, '/');
    hostend = slash != NULL ? slash : p + strlen(p);
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hostend - p));

        if (rb == NULL || copy_part(u->host, sizeof(u->host), p + 1, (size_t)(rb - p - 1))) {
            snprintf(err, errlen, "bad Redis URL '%s': bad IPv6 address '%.*s'", shown,
                     (int)(hostend - p), p);
            return -1;
        }
        p = rb + 1;
        if (p < hostend && *p != ':') {
            snprintf(err, errlen, "bad Redis URL '%s': bad IPv6 address '%.*s'", shown,
                     (int)(hostend - p), p);
            return -1;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(hostend - p));
        const char *e = colon != NULL ? colon : hostend;

        if (url_part(u->host, sizeof(u->host), p, (size_t)(e - p), "host", shown, err, errlen) ==
            -1) {
            return -1;
        }
        p = e;
    }
    if (u->host[0] == '\0') {
        snprintf(err, errlen, "bad Redis URL '%s': no host (redis://HOST[:PORT][/DB])", shown);
        return -1;
    }
    for (const char *h = u->host; *h != '\0'; h++) {
        if (!isalnum((unsigned char)*h) && strchr(".-_:", *h) == NULL) {
            snprintf(err, errlen, "bad Redis URL '%s': host '%s': bad character '%c'", shown,
                     u->host, *h);
            return -1;
        }
    }
    if (p < hostend && *p == ':' && parse_port(p + 1, (size_t)(hostend - p - 1), &u->port)) {
        snprintf(err, errlen, "bad Redis URL '%s': port '%.*s' is not 1..65535", shown,
                 (int)(hostend - p - 1), p + 1);
        return -1;
    }
    if (slash != NULL && slash[1] != '\0') {
        if (url_part(db, sizeof(db), slash + 1, strlen(slash + 1), "database", shown, err,
                     errlen) == -1) {
            return -1;
        }
        if (parse_db(db, &u->db) == -1) {
            snprintf(err, errlen, "bad Redis URL '%s': database '%s' is not a number 0..1000000",
                     shown, slash + 1);
            return -1;
        }
    }
    return 0;
}

static int
parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int
parse_enum(const char *choices, const char *s, int *out)
{
    size_t n = strlen(s);
    int i = 0;

    for (const char *p = choices; *p != '\0'; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);

        if (len == n && strncasecmp(p, s, n) == 0) {
            *out = i;
            return 0;
        }
        p += len;
        if (*p == '|') {
            p++;
        }
    }
    return -1;
}

/* Checks 'select' of an alert: KIND:VALUE. */
static int
check_select(const char *s, char *err, size_t errlen)
{
    static const char *const kinds[] = {"outcome", "class",  "reply",
                                        "status",  "reason", "direction"};
    const char *colon = strchr(s, ':');
    size_t klen;

    if (colon == NULL || colon[1] == '\0') {
        snprintf(err, errlen, "bad select '%s': expected KIND:VALUE", s);
        return -1;
    }
    klen = (size_t)(colon - s);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strlen(kinds[i]) == klen && strncmp(kinds[i], s, klen) == 0) {
            return 0;
        }
    }
    snprintf(err, errlen,
             "bad select '%s': kind must be outcome, class, reply, status, reason or direction", s);
    return -1;
}

static int
set_string(char **dst, const char *value)
{
    char *s = NULL;

    if (value[0] != '\0' && (s = strdup(value)) == NULL) {
        return -1;
    }
    free(*dst);
    *dst = s;
    return 0;
}

/* Parses 'value' for option o and stores it at base + o->offset. */
static int
option_store(const struct config_option *o, void *base, const char *value, char *err, size_t errlen)
{
    char *field = (char *)base + o->offset;
    int64_t v = 0;

    switch (o->type) {
    case CONFIG_STR:
    case CONFIG_PATH:
    case CONFIG_WORDS:
        if (set_string((char **)(void *)field, value) == -1) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    case CONFIG_URL: {
        struct config_redis_url u;

        if (value[0] != '\0' && config_parse_redis_url(value, &u, err, errlen) == -1) {
            return -1;
        }
        if (set_string((char **)(void *)field, value) == -1) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    case CONFIG_BOOL: {
        int b;

        if (parse_bool(value, &b) == -1) {
            snprintf(err, errlen, "bad boolean '%s' for %s (use yes or no)", value, o->name);
            return -1;
        }
        *(int *)(void *)field = b;
        return 0;
    }
    case CONFIG_ENUM: {
        int e;

        if (parse_enum(o->choices, value, &e) == -1) {
            snprintf(err, errlen, "bad value '%s' for %s (one of: %s)", value, o->name, o->choices);
            return -1;
        }
        *(int *)(void *)field = e;
        return 0;
    }
    case CONFIG_INT: {
        char *end;
        long long ll;

        errno = 0;
        ll = strtoll(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0) {
            snprintf(err, errlen, "bad number '%s' for %s", value, o->name);
            return -1;
        }
        v = (int64_t)ll;
        break;
    }
    case CONFIG_SIZE:
        if (config_parse_size(value, &v, err, errlen) == -1) {
            return -1;
        }
        break;
    case CONFIG_DURATION:
        if (config_parse_duration(value, &v, err, errlen) == -1) {
            return -1;
        }
        break;
    }
    if (v < o->min || v > o->max) {
        snprintf(err, errlen, "%s = %s is out of range (%" PRId64 "..%" PRId64 "%s)", o->name,
                 value, o->min, o->max,
                 o->type == CONFIG_DURATION ? " ms"
                 : o->type == CONFIG_SIZE   ? " bytes"
                                            : "");
        return -1;
    }
    *(int64_t *)(void *)field = v;
    return 0;
}

static int
apply_defaults(enum config_scope scope, void *base)
{
    char err[256];

    for (const struct config_option *o = options; o->name != NULL; o++) {
        if (o->scope != scope) {
            continue;
        }
        if (o->def == NULL) {
            if (o->type == CONFIG_ENUM) {
                *(int *)(void *)((char *)base + o->offset) = -1;
            }
            continue;
        }
        if (option_store(o, base, o->def, err, sizeof(err)) == -1) {
            return -1;
        }
    }
    return 0;
}

int
config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    if (apply_defaults(CONFIG_GLOBAL, c) == -1) {
        config_free(c);
        return -1;
    }
    return 0;
}

static void
free_strings(enum config_scope scope, void *base)
{
    for (const struct config_option *o = options; o->name != NULL; o++) {
        if (o->scope == scope && (o->type == CONFIG_STR || o->type == CONFIG_PATH ||
                                  o->type == CONFIG_WORDS || o->type == CONFIG_URL)) {
            char **p = (char **)(void *)((char *)base + o->offset);

            free(*p);
            *p = NULL;
        }
    }
}

void
config_free(struct config *c)
{
    if (c == NULL) {
        return;
    }
    free_strings(CONFIG_GLOBAL, c);
    for (size_t i = 0; i < c->nsources; i++) {
        free_strings(CONFIG_SOURCE, &c->sources[i]);
    }
    for (size_t i = 0; i < c->nalerts; i++) {
        free_strings(CONFIG_ALERT, &c->alerts[i]);
    }
    free(c->sources);
    free(c->alerts);
    free(c->file);
    memset(c, 0, sizeof(*c));
}

static int
valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CONFIG_NAME_MAX) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!isalnum((unsigned char)*s) && strchr("._-", *s) == NULL) {
            return 0;
        }
    }
    return 1;
}

static struct config_source *
source_add(struct config *c, const char *name, const char *file, unsigned line)
{
    struct config_source *ns, *s;

    ns = realloc(c->sources, (c->nsources + 1) * sizeof(*ns));
    if (ns == NULL) {
        return NULL;
    }
    c->sources = ns;
    s = &c->sources[c->nsources];
    memset(s, 0, sizeof(*s));
    if (apply_defaults(CONFIG_SOURCE, s) == -1) {
        free_strings(CONFIG_SOURCE, s);
        return NULL;
    }
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->file = file;
    s->line = line;
    c->nsources++;
    return s;
}

static struct config_alert *
alert_add(struct config *c, const char *name, const char *file, unsigned line)
{
    struct config_alert *na, *a;

    na = realloc(c->alerts, (c->nalerts + 1) * sizeof(*na));
    if (na == NULL) {
        return NULL;
    }
    c->alerts = na;
    a = &c->alerts[c->nalerts];
    memset(a, 0, sizeof(*a));
    if (apply_defaults(CONFIG_ALERT, a) == -1) {
        free_strings(CONFIG_ALERT, a);
        return NULL;
    }
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->file = file;
    a->line = line;
    c->nalerts++;
    return a;
}

/* A new section header: "agent", "redis", "buckets", "source NAME" or "alert NAME". */
static void
begin_section(struct config_parse *ps, const char *section)
{
    const char *file = ps->rd->file;
    unsigned line = ps->rd->line;
    const char *sp = strchr(section, ' ');
    char kind[32];
    const char *name = "";

    snprintf(ps->section, sizeof(ps->section), "%s", section);
    ps->bad_section = 0;
    ps->src = NULL;
    ps->alert = NULL;
    if (sp != NULL) {
        snprintf(kind, sizeof(kind), "%.*s", (int)(sp - section), section);
        name = sp + 1;
        while (*name == ' ' || *name == '\t') {
            name++;
        }
    } else {
        snprintf(kind, sizeof(kind), "%s", section);
    }
    if (strcmp(kind, "agent") == 0 || strcmp(kind, "redis") == 0 || strcmp(kind, "buckets") == 0) {
        if (*name != '\0') {
            errlist_add(ps->errs, file, line, "section [%s] takes no name", kind);
            ps->bad_section = 1;
        }
        return;
    }
    if (strcmp(kind, "source") != 0 && strcmp(kind, "alert") != 0) {
        errlist_add(ps->errs, file, line,
                    "unknown section [%s] (expected agent, redis, buckets, source NAME or "
                    "alert NAME)",
                    section);
        ps->bad_section = 1;
        return;
    }
    if (!valid_name(name)) {
        errlist_add(ps->errs, file, line,
                    "section [%s] needs a name of letters, digits, '.', '_' or '-': [%s NAME]",
                    kind, kind);
        ps->bad_section = 1;
        return;
    }
    if (strcmp(kind, "source") == 0) {
        for (size_t i = 0; i < ps->c->nsources; i++) {
            if (strcmp(ps->c->sources[i].name, name) == 0) {
                errlist_add(ps->errs, file, line, "duplicate source '%s' (first at line %u)", name,
                            ps->c->sources[i].line);
                ps->bad_section = 1;
                return;
            }
        }
        if ((ps->src = source_add(ps->c, name, file, line)) == NULL) {
            errlist_add(ps->errs, file, line, "out of memory");
            ps->bad_section = 1;
        }
        return;
    }
    for (size_t i = 0; i < ps->c->nalerts; i++) {
        if (strcmp(ps->c->alerts[i].name, name) == 0) {
            errlist_add(ps->errs, file, line, "duplicate alert '%s' (first at line %u)", name,
                        ps->c->alerts[i].line);
            ps->bad_section = 1;
            return;
        }
    }
    if ((ps->alert = alert_add(ps->c, name, file, line)) == NULL) {
        errlist_add(ps->errs, file, line, "out of memory");
        ps->bad_section = 1;
    }
}

static int
set_option(struct config *c, void *base, unsigned *lines, const char *kind, const char *name,
           const char *value, const char *file, unsigned line, int dup_check, struct errlist *errs)
{
    const struct config_option *o = config_option_find(kind, name);
    char err[512];
    size_t idx;

    (void)c;
    if (o == NULL) {
        errlist_add(errs, file, line, "unknown key '%s' in [%s]", name, kind);
        return -1;
    }
    idx = option_index(o);
    if (dup_check && lines[idx] != 0) {
        errlist_add(errs, file, line, "duplicate key '%s' (first at line %u)", name, lines[idx]);
        return -1;
    }
    lines[idx] = line; /* given here, also if refused: later checks know it was */
    if (option_store(o, base, value, err, sizeof(err)) == -1) {
        errlist_add(errs, file, line, "%s", err);
        return -1;
    }
    return 0;
}

static int
ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
    struct config_parse *ps = user;
    const char *file = ps->rd->file;
    unsigned line = ps->rd->line;
    struct config *c = ps->c;

    if (ps->bad_section) {
        return 1;
    }
    if (section[0] == '\0') {
        errlist_add(ps->errs, file, line, "key '%s' outside of a section", name);
        return 1;
    }
    if (ps->src != NULL) {
        set_option(c, ps->src, ps->src->lines, "source", name, value, file, line, 1, ps->errs);
    } else if (ps->alert != NULL) {
        set_option(c, ps->alert, ps->alert->lines, "alert", name, value, file, line, 1, ps->errs);
    } else {
        set_option(c, c, c->lines, section, name, value, file, line, 1, ps->errs);
    }
    return 1;
}

/* Classifies one line as inih will and reports what it would reject, so that every error
 * gets its own message. Returns 1 for a valid line, 0 for one replaced by a blank line. */
static int
check_line(struct config_reader *rd, struct config_parse *ps, char *s)
{
    if (*s == '\0' || *s == ';' || *s == '#') {
        return 1;
    }
    if (*s == '[') {
        char *rb = strchr(s, ']');

        if (rb == NULL) {
            errlist_add(rd->errs, rd->file, rd->line, "missing ']' in section header");
            return 0;
        }
        *rb = '\0';
        begin_section(ps, s + 1);
        *rb = ']';
        return 1;
    }
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '=' || *p == ':') {
            if (p == s) {
                errlist_add(rd->errs, rd->file, rd->line, "missing key name before '%c'", *p);
                return 0;
            }
            return 1;
        }
        if (*p == ';' && p > s && isspace((unsigned char)p[-1])) {
            break;
        }
    }
    errlist_add(rd->errs, rd->file, rd->line, "expected 'key = value' or '[section]'");
    return 0;
}

static int
read_raw_line(struct config_reader *rd, size_t *len)
{
    if (rd->fp != NULL) {
        ssize_t n = getline(&rd->buf, &rd->cap, rd->fp);

        if (n < 0) {
            return -1;
        }
        *len = (size_t)n;
        return 0;
    }
    if (rd->text[rd->text_off] == '\0') {
        return -1;
    }
    const char *s = rd->text + rd->text_off;
    const char *nl = strchr(s, '\n');
    size_t n = nl != NULL ? (size_t)(nl - s) + 1 : strlen(s);

    if (n + 1 > rd->cap) {
        char *nb = realloc(rd->buf, n + 1);

        if (nb == NULL) {
            return -1;
        }
        rd->buf = nb;
        rd->cap = n + 1;
    }
    memcpy(rd->buf, s, n);
    rd->buf[n] = '\0';
    rd->text_off += n;
    *len = n;
    return 0;
}

static struct config_parse *reader_parse; /* the parse in progress (inih has one stream) */

/* ini_reader: returns one line, counted, stripped of leading blanks (so that inih never
 * treats an indented line as the continuation of the previous value), or a blank line in
 * place of a line reported as an error. */
static char *
config_read_line(char *str, int num, void *stream)
{
    struct config_reader *rd = stream;
    size_t len, start = 0;
    char *s;

    if (read_raw_line(rd, &len) == -1) {
        return NULL;
    }
    rd->line++;
    s = rd->buf;
    if (len > 0 && s[len - 1] == '\n') {
        s[--len] = '\0';
    }
    if (len > 0 && s[len - 1] == '\r') {
        s[--len] = '\0';
    }
    if (rd->line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        start = 3;
    }
    while (start < len && isspace((unsigned char)s[start])) {
        start++;
    }
    s += start;
    len -= start;
    if (memchr(s, '\0', len) != NULL) {
        errlist_add(rd->errs, rd->file, rd->line, "NUL byte in line");
        s = (char *)"";
        len = 0;
    } else if (len + 3 > (size_t)num || len > CONFIG_LINE_MAX) {
        errlist_add(rd->errs, rd->file, rd->line, "line too long (%zu bytes, at most %d)", len,
                    CONFIG_LINE_MAX);
        s = (char *)"";
        len = 0;
    } else if (!check_line(rd, reader_parse, s)) {
        s = (char *)"";
        len = 0;
    }
    memcpy(str, s, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

static int
parse_stream(struct config *c, struct config_reader *rd, struct errlist *errs)
{
    struct config_parse ps;
    size_t before = errs->total;
    int rc;

    memset(&ps, 0, sizeof(ps));
    ps.c = c;
    ps.rd = rd;
    ps.errs = errs;
    rd->errs = errs;
    reader_parse = &ps;
    rc = ini_parse_stream(config_read_line, rd, ini_handler_cb, &ps);
    reader_parse = NULL;
    free(rd->buf);
    rd->buf = NULL;
    if (rc > 0 && errs->total == before) {
        errlist_add(errs, rd->file, (unsigned)rc, "syntax error");
    } else if (rc < 0) {
        errlist_add(errs, rd->file, 0, "cannot parse (error %d)", rc);
    }
    return errs->total == before ? 0 : -1;
}

int
config_load_file(struct config *c, const char *file, struct errlist *errs)
{
    struct config_reader rd;
    int rc;

    memset(&rd, 0, sizeof(rd));
    free(c->file);
    if ((c->file = strdup(file)) == NULL) {
        errlist_add(errs, file, 0, "out of memory");
        return -1;
    }
    rd.file = c->file;
    if ((rd.fp = fopen(file, "r")) == NULL) {
        errlist_add(errs, file, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    rc = parse_stream(c, &rd, errs);
    if (ferror(rd.fp)) {
        errlist_add(errs, file, rd.line + 1, "read error: %s", strerror(errno));
        rc = -1;
    }
    fclose(rd.fp);
    return rc;
}

int
config_load_text(struct config *c, const char *name, const char *text, struct errlist *errs)
{
    struct config_reader rd;

    memset(&rd, 0, sizeof(rd));
    free(c->file);
    if ((c->file = strdup(name)) == NULL) {
        errlist_add(errs, name, 0, "out of memory");
        return -1;
    }
    rd.file = c->file;
    rd.text = text;
    return parse_stream(c, &rd, errs);
}

int
config_set(struct config *c, const char *section, const char *name, const char *value,
           const char *file, unsigned line, struct errlist *errs)
{
    const struct config_option *o = config_option_find(section, name);

    if (o == NULL || o->scope != CONFIG_GLOBAL) {
        errlist_add(errs, file, line, "unknown option %s.%s", section, name);
        return -1;
    }
    return set_option(c, c, c->lines, section, name, value, file, line, 0, errs);
}

static void
name_from_path(char *dst, size_t cap, const char *path)
{
    size_t j = 0;

    for (const char *p = path; *p != '\0' && j + 1 < cap; p++) {
        if (isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-') {
            dst[j++] = *p;
        } else if (j > 0 && dst[j - 1] != '-') {
            dst[j++] = '-';
        }
    }
    while (j > 0 && dst[j - 1] == '-') {
        j--;
    }
    if (j == 0) {
        snprintf(dst, cap, "source");
        return;
    }
    dst[j] = '\0';
}

int
config_add_cli_source(struct config *c, const char *path, const char *pack, struct errlist *errs)
{
    static const char cli[] = "command line";
    struct config_source *s;
    char name[CONFIG_NAME_MAX];
    char err[256];

    if (!c->cli_sources) {
        /* Sources on the command line replace those of the file. */
        for (size_t i = 0; i < c->nsources; i++) {
            free_strings(CONFIG_SOURCE, &c->sources[i]);
        }
        c->nsources = 0;
        c->cli_sources = 1;
    }
    if (path != NULL) {
        name_from_path(name, sizeof(name), path);
    } else {
        snprintf(name, sizeof(name), "journal");
    }
    for (size_t i = 0; i < c->nsources; i++) {
        if (strcmp(c->sources[i].name, name) == 0) {
            errlist_add(errs, cli, 0, "duplicate source '%s'", path != NULL ? path : "--journal");
            return -1;
        }
    }
    if ((s = source_add(c, name, cli, 0)) == NULL) {
        errlist_add(errs, cli, 0, "out of memory");
        return -1;
    }
    if (path != NULL) {
        if (option_store(config_option_find("source", "path"), s, path, err, sizeof(err))) {
            errlist_add(errs, cli, 0, "%s", err);
            return -1;
        }
    } else {
        s->type = CONFIG_SOURCE_JOURNAL;
    }
    if (pack != NULL && set_string(&s->pack, pack) == -1) {
        errlist_add(errs, cli, 0, "out of memory");
        return -1;
    }
    return 0;
}

static unsigned
source_key_line(const struct config_source *s, const char *name)
{
    const struct config_option *o = config_option_find("source", name);
    unsigned l = o != NULL ? s->lines[option_index(o)] : 0;

    return l != 0 ? l : s->line;
}

/* Every word of list is HOST:PORT. */
static void
check_hostports(struct errlist *errs, const char *file, unsigned line, const char *what,
                const char *p)
{
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, " \t,");
        const char *colon = memchr(p, ':', n);
        long port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;

        if (n > 0 && (colon == NULL || colon == p || port < 1 || port > 65535 ||
                      strspn(colon + 1, "0123456789") != (size_t)(p + n - colon - 1))) {
            errlist_add(errs, file, line, "%s '%.*s': expected HOST:PORT", what, (int)n, p);
        }
        p += n;
        p += strspn(p, " \t,");
    }
}

/* [redis]: the sentinel list and the master name go together; every sentinel is HOST:PORT;
 * cluster and sentinels exclude each other. */
static void
check_redis(struct config *c, struct errlist *errs)
{
    const char *file = c->file != NULL ? c->file : "command line";
    unsigned ls = c->lines[option_index(config_option_find("redis", "sentinels"))];
    unsigned lm = c->lines[option_index(config_option_find("redis", "master_name"))];
    unsigned lc = c->lines[option_index(config_option_find("redis", "cluster"))];
    unsigned lk = c->lines[option_index(config_option_find("redis", "cluster_seeds"))];

    if ((c->redis_sentinels != NULL) != (c->redis_master_name != NULL)) {
        errlist_add(errs, file, c->redis_sentinels != NULL ? ls : lm,
                    "[redis] sentinels and master_name go together");
    }
    if (c->redis_master_name != NULL && !valid_name(c->redis_master_name)) {
        errlist_add(errs, file, lm, "master_name '%s': use letters, digits, '.', '_' or '-'",
                    c->redis_master_name);
    }
    check_hostports(errs, file, ls, "sentinel", c->redis_sentinels);
    check_hostports(errs, file, lk, "cluster seed", c->redis_cluster_seeds);
    if (c->redis_cluster && c->redis_sentinels != NULL) {
        errlist_add(errs, file, lc != 0 ? lc : ls,
                    "[redis] cluster = yes and sentinels exclude each other: a cluster finds its "
                    "masters itself (use one or the other)");
    }
    if (c->redis_cluster_seeds != NULL && !c->redis_cluster) {
        errlist_add(errs, file, lk, "[redis] cluster_seeds needs cluster = yes");
    }
    if (c->redis_cluster && c->redis_url.unix_socket) {
        errlist_add(errs, file, lc,
                    "[redis] cluster = yes needs a redis://HOST:PORT url (cluster "
                    "nodes are reached over TCP), not a unix socket");
    }
    if (c->redis_cluster &&
        (c->redis_url.db != 0 ||
         (c->lines[option_index(config_option_find("redis", "db"))] != 0 && c->redis_db != 0))) {
        errlist_add(errs, file, lc, "[redis] cluster = yes: a Redis Cluster has only database 0");
    }
    if (c->redis_password_file != NULL) {
        unsigned lp = c->lines[option_index(config_option_find("redis", "password_file"))];
        struct stat sb;
        FILE *fp = NULL;

        if (stat(c->redis_password_file, &sb) == 0 && !S_ISREG(sb.st_mode)) {
            errlist_add(errs, file, lp, "password_file %s: not a regular file",
                        c->redis_password_file);
        } else if ((fp = fopen(c->redis_password_file, "re")) == NULL) {
            errlist_add(errs, file, lp, "password_file %s: cannot read: %s%s",
                        c->redis_password_file, strerror(errno),
                        errno == EACCES ? " (it must be readable by the agent's user)" : "");
        }
        if (fp != NULL) {
            fclose(fp);
        }
    }
    /* (a url given but refused has had its own error) */
    if (c->redis == NULL && c->lines[option_index(config_option_find("redis", "url"))] == 0 &&
        (c->redis_sentinels != NULL || c->redis_password_file != NULL || c->redis_cluster)) {
        errlist_add(errs, file, c->redis_sentinels != NULL ? ls : 0,
                    "[redis] settings without url: set url (the sentinels replace its host)");
    }
}

/* A journal source, or a file source that falls back to the journal. */
static int
may_read_journal(const struct config_source *s)
{
    return s->type == CONFIG_SOURCE_JOURNAL || s->fell_back ||
           s->fallback == CONFIG_FALLBACK_JOURNAL;
}

unsigned
config_line_of(const struct config *c, const char *section, const char *name)
{
    const struct config_option *o = config_option_find(section, name);

    return o != NULL ? c->lines[option_index(o)] : 0;
}

int
config_validate(struct config *c, struct errlist *errs)
{
    size_t before = errs->total;

    for (size_t i = 0; i < c->nsources; i++) {
        struct config_source *s = &c->sources[i];

        if (s->type == CONFIG_SOURCE_FILE || s->fell_back) {
            if (s->path == NULL) {
                errlist_add(errs, s->file, s->line, "source '%s': missing key 'path'", s->name);
            } else if (s->path[0] != '/') {
                errlist_add(errs, s->file, source_key_line(s, "path"),
                            "source '%s': path '%s' is not absolute", s->name, s->path);
            }
            if (s->journal_dir != NULL && s->fallback != CONFIG_FALLBACK_JOURNAL) {
                errlist_add(errs, s->file, source_key_line(s, "journal_dir"),
                            "source '%s': journal_dir is only for type = journal or "
                            "fallback = journal",
                            s->name);
            }
            if (s->fallback == CONFIG_FALLBACK_JOURNAL && s->identifiers == NULL) {
                errlist_add(errs, s->file, source_key_line(s, "identifiers"),
                            "source '%s': identifiers must not be empty", s->name);
            }
        } else {
            if (s->path != NULL) {
                errlist_add(errs, s->file, source_key_line(s, "path"),
                            "source '%s': path is only for type = file", s->name);
            }
            if (s->fallback != CONFIG_FALLBACK_NONE) {
                errlist_add(errs, s->file, source_key_line(s, "fallback"),
                            "source '%s': fallback is only for type = file", s->name);
            }
            if (s->identifiers == NULL) {
                errlist_add(errs, s->file, source_key_line(s, "identifiers"),
                            "source '%s': identifiers must not be empty", s->name);
            }
        }
        if (s->pack == NULL) {
            errlist_add(errs, s->file, source_key_line(s, "pack"),
                        "source '%s': pack must not be empty (use auto)", s->name);
        }
        for (size_t j = 0; j < i; j++) {
            const struct config_source *t = &c->sources[j];

            if (s->path != NULL && t->path != NULL && strcmp(s->path, t->path) == 0) {
                errlist_add(errs, s->file, source_key_line(s, "path"),
                            "source '%s': path %s is already read by source '%s'", s->name, s->path,
                            t->name);
            } else if (may_read_journal(s) && may_read_journal(t) &&
                       ((s->journal_dir == NULL && t->journal_dir == NULL) ||
                        (s->journal_dir != NULL && t->journal_dir != NULL &&
                         strcmp(s->journal_dir, t->journal_dir) == 0))) {
                errlist_add(errs, s->file, s->line,
                            "source '%s': the journal is already read by source '%s'%s", s->name,
                            t->name,
                            s->type == CONFIG_SOURCE_JOURNAL && t->type == CONFIG_SOURCE_JOURNAL
                                ? ""
                                : " (fallback = journal)");
            }
        }
    }
    for (size_t i = 0; i < c->nalerts; i++) {
        struct config_alert *a = &c->alerts[i];
        char err[256];

        if (a->select == NULL && a->direction <= 0 && a->status == NULL && a->reply == NULL &&
            a->reason == NULL && a->domain == NULL && a->list == NULL) {
            errlist_add(errs, a->file, a->line, "alert '%s': missing key 'select'", a->name);
        } else if (a->select != NULL && (check_select(a->select, err, sizeof(err)) == -1)) {
            const struct config_option *o = config_option_find("alert", "select");
            unsigned l = a->lines[option_index(o)];

            errlist_add(errs, a->file, l != 0 ? l : a->line, "alert '%s': %s", a->name, err);
        }
    }
    if (c->redis != NULL) {
        char err[256];

        if (config_parse_redis_url(c->redis, &c->redis_url, err, sizeof(err)) == -1) {
            errlist_add(errs, c->file != NULL ? c->file : "command line", 0, "%s", err);
        }
    }
    check_redis(c, errs);
    if (c->internal_relays != NULL) {
        struct relays *r;
        char err[320];

        if (relays_parse(c->internal_relays, &r, err, sizeof(err)) < 0) {
            errlist_add(errs, c->file != NULL ? c->file : "command line",
                        c->lines[option_index(config_option_find("agent", "internal_relays"))],
                        "[agent] internal_relays: %s", err);
        } else {
            relays_free(r);
        }
    }
    if (c->agent_id != NULL && !valid_name(c->agent_id)) {
        const struct config_option *o = config_option_find("agent", "agent_id");

        errlist_add(errs, c->file != NULL ? c->file : "command line", c->lines[option_index(o)],
                    "agent_id '%s': use letters, digits, '.', '_' or '-' (at most %d)", c->agent_id,
                    CONFIG_NAME_MAX - 1);
    }
    if (c->nsources == 0) {
        errlist_add(errs, c->file != NULL ? c->file : "command line", 0,
                    "no source: add a [source NAME] section or use --follow PATH");
    }
    return errs->total == before ? 0 : -1;
}

/* Does a file source's path (or glob) name a file now? */
static int
source_path_exists(const char *path)
{
    struct stat st;
    glob_t g;
    int found;

    if (strpbrk(path, "*?[") == NULL) {
        return stat(path, &st) == 0;
    }
    found = glob(path, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    return found;
}

size_t
config_resolve_fallbacks(struct config *c)
{
    size_t n = 0;

    for (size_t i = 0; i < c->nsources; i++) {
        struct config_source *s = &c->sources[i];

        if (s->fallback != CONFIG_FALLBACK_JOURNAL || s->path == NULL) {
            continue;
        }
        s->fell_back = !source_path_exists(s->path);
        s->type = s->fell_back ? CONFIG_SOURCE_JOURNAL : CONFIG_SOURCE_FILE;
        n += (size_t)s->fell_back;
    }
    return n;
}

int
config_words_match(const char *words, const char *id)
{
    char w[256];

    for (const char *p = words; *p != '\0';) {
        size_t n;

        while (*p == ' ' || *p == '\t') {
            p++;
        }
        n = strcspn(p, " \t");
        if (n > 0 && n < sizeof(w)) {
            memcpy(w, p, n);
            w[n] = '\0';
            if (fnmatch(w, id, 0) == 0) {
                return 1;
            }
        }
        p += n;
    }
    return 0;
}

void
config_agent_id(char *dst, size_t cap, const char *configured)
{
    char host[256];
    size_t j = 0;

    if (configured != NULL) {
        snprintf(dst, cap, "%s", configured);
        return;
    }
    if (gethostname(host, sizeof(host)) == -1) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    for (const char *p = host; *p != '\0' && j + 1 < cap; p++) {
        dst[j++] = (strchr("._-", *p) != NULL || (*p >= '0' && *p <= '9') ||
                    (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
                       ? *p
                       : '_';
    }
    dst[j] = '\0';
}
