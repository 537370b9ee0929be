/*
 * test_config.c -- unit tests for agent/common/config.c: the option table, every error path of the
 * parser (unknown key, bad number, out of range, bad URL, duplicate source, missing file, ...),
 * command-line overrides, and the packaged packaging/smtpmon.conf against the table.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errlist.h"

struct fixture {
    struct config c;
    struct errlist errs;
};

static struct fixture fx;

static void
setup(void)
{
    memset(&fx, 0, sizeof(fx));
    cr_assert_eq(config_init(&fx.c), 0);
}

static void
teardown(void)
{
    config_free(&fx.c);
    errlist_clear(&fx.errs);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Parses text and validates; returns the number of errors. */
static size_t
load(const char *text)
{
    config_load_text(&fx.c, "t.conf", text, &fx.errs);
    config_validate(&fx.c, &fx.errs);
    return fx.errs.total;
}

static int
has_error(const char *want)
{
    for (size_t i = 0; i < fx.errs.n; i++) {
        if (strcmp(fx.errs.msgs[i], want) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
dump_errors(void)
{
    for (size_t i = 0; i < fx.errs.n; i++) {
        cr_log_info("%s", fx.errs.msgs[i]);
    }
}

#define ASSERT_ERROR(msg)                                                                          \
    do {                                                                                           \
        if (!has_error(msg)) {                                                                     \
            dump_errors();                                                                         \
        }                                                                                          \
        cr_assert(has_error(msg), "expected error: %s", msg);                                      \
    } while (0)

Test(config, defaults)
{
    cr_assert_str_eq(fx.c.state_dir, "/var/lib/smtpmon");
    cr_assert_eq(fx.c.read_from, CONFIG_READ_TAIL);
    cr_assert_eq(fx.c.flush_interval, 1000);
    cr_assert_eq(fx.c.max_line, 64 * 1024);
    cr_assert_eq(fx.c.read_chunk, 256 * 1024);
    cr_assert_eq(fx.c.jit, 1);
    cr_assert_eq(fx.c.log_level, 2);
    cr_assert_null(fx.c.output);
    cr_assert_null(fx.c.redis);
    cr_assert_eq(fx.c.bucket_minute, 2LL * 86400 * 1000);
}

Test(config, every_default_parses_and_table_is_consistent)
{
    size_t nglobal = 0, nsource = 0, nalert = 0;

    for (const struct config_option *o = config_options(); o->name != NULL; o++) {
        cr_assert_not_null(o->help, "%s.%s has no help", o->section, o->name);
        cr_assert(o->type != CONFIG_ENUM || o->choices != NULL, "%s: enum without choices",
                  o->name);
        cr_assert_eq(config_option_find(o->section, o->name), o, "%s.%s is not unique", o->section,
                     o->name);
        nglobal += o->scope == CONFIG_GLOBAL;
        nsource += o->scope == CONFIG_SOURCE;
        nalert += o->scope == CONFIG_ALERT;
    }
    cr_assert_leq(nglobal, sizeof(fx.c.lines) / sizeof(fx.c.lines[0]));
    cr_assert_leq(nsource, sizeof(fx.c.sources[0].lines) / sizeof(unsigned));
    cr_assert_leq(nalert, sizeof(fx.c.alerts[0].lines) / sizeof(unsigned));
}

Test(config, full_file)
{
    size_t n = load("; comment\n"
                    "# another\n"
                    "[agent]\n"
                    "  agent_id = mx1   ; inline comment\n"
                    "  state_dir = /tmp/st\n"
                    "  flush_interval = 250ms\n"
                    "  max_line = 1M\n"
                    "  read_from = head\n"
                    "  jit = no\n"
                    "  log_level = debug\n"
                    "[redis]\n"
                    "url = redis://user:secret@redis.example.com:6380/2\n"
                    "timeout = 2s\n"
                    "[buckets]\n"
                    "minute = 0\n"
                    "[source mail]\n"
                    "  path = /var/log/mail.log\n"
                    "  pack = postfix\n"
                    "[source j]\n"
                    "  type = journal\n"
                    "  identifiers = postfix/smtp exim\n"
                    "  read_from = tail\n"
                    "[alert bounces]\n"
                    "  select = outcome:bounced\n"
                    "  threshold = 20\n"
                    "  window = 10m\n");

    if (n != 0) {
        dump_errors();
    }
    cr_assert_eq(n, 0);
    cr_assert_str_eq(fx.c.agent_id, "mx1");
    cr_assert_eq(fx.c.flush_interval, 250);
    cr_assert_eq(fx.c.max_line, 1024 * 1024);
    cr_assert_eq(fx.c.read_from, CONFIG_READ_HEAD);
    cr_assert_eq(fx.c.jit, 0);
    cr_assert_eq(fx.c.log_level, 3);
    cr_assert_eq(fx.c.redis_timeout, 2000);
    cr_assert_str_eq(fx.c.redis_url.host, "redis.example.com");
    cr_assert_eq(fx.c.redis_url.port, 6380);
    cr_assert_eq(fx.c.redis_url.db, 2);
    cr_assert_str_eq(fx.c.redis_url.user, "user");
    cr_assert_str_eq(fx.c.redis_url.password, "secret");
    cr_assert_eq(fx.c.bucket_minute, 0);
    cr_assert_eq(fx.c.nsources, 2);
    cr_assert_str_eq(fx.c.sources[0].name, "mail");
    cr_assert_str_eq(fx.c.sources[0].path, "/var/log/mail.log");
    cr_assert_str_eq(fx.c.sources[0].pack, "postfix");
    cr_assert_eq(fx.c.sources[0].read_from, -1);
    cr_assert_eq(fx.c.sources[1].type, CONFIG_SOURCE_JOURNAL);
    cr_assert_str_eq(fx.c.sources[1].pack, "auto");
    cr_assert_eq(fx.c.sources[1].read_from, CONFIG_READ_TAIL);
    cr_assert_eq(fx.c.nalerts, 1);
    cr_assert_eq(fx.c.alerts[0].threshold, 20);
    cr_assert_eq(fx.c.alerts[0].window, 600000);
}

Test(config, unknown_key)
{
    load("[agent]\nflush_intervall = 1s\n[source s]\npath = /x\ncolour = red\n");
    ASSERT_ERROR("t.conf:2: unknown key 'flush_intervall' in [agent]");
    ASSERT_ERROR("t.conf:5: unknown key 'colour' in [source]");
}

Test(config, bad_number)
{
    load("[agent]\nbatch_lines = lots\nqueue_batches = 12x\n[source s]\npath = /x\n");
    ASSERT_ERROR("t.conf:2: bad number 'lots' for batch_lines");
    ASSERT_ERROR("t.conf:3: bad number '12x' for queue_batches");
}

Test(config, bad_size_duration_bool_enum)
{
    load("[agent]\nmax_line = 12 parsecs\nflush_interval = soon\njit = maybe\n"
         "read_from = middle\n[source s]\npath = /x\n");
    cr_assert_eq(fx.errs.total, 4);
    ASSERT_ERROR("t.conf:2: bad size '12 parsecs' (use a number with K, M or G)");
    ASSERT_ERROR("t.conf:3: bad duration 'soon'");
    ASSERT_ERROR("t.conf:4: bad boolean 'maybe' for jit (use yes or no)");
    ASSERT_ERROR("t.conf:5: bad value 'middle' for read_from (one of: head|tail)");
}

Test(config, out_of_range)
{
    load("[agent]\nmax_line = 100\nflush_interval = 2h\nqueue_batches = 0\n"
         "[source s]\npath = /x\n");
    ASSERT_ERROR("t.conf:2: max_line = 100 is out of range (256..16777216 bytes)");
    ASSERT_ERROR("t.conf:3: flush_interval = 2h is out of range (10..3600000 ms)");
    ASSERT_ERROR("t.conf:4: queue_batches = 0 is out of range (1..1024)");
}

Test(config, bad_url)
{
    load("[redis]\nurl = http://localhost\n[source s]\npath = /x\n");
    ASSERT_ERROR("t.conf:2: bad Redis URL 'http://localhost': expected redis:// or unix://");
}

/* Good URLs: every part percent-decoded. */
static const struct {
    const char *url;
    const char *host, *user, *password, *path;
    int port, db;
} good_urls[] = {
    {"redis://127.0.0.1", "127.0.0.1", "", "", "", 6379, 0},
    {"redis://:pw@[::1]:7000/3", "::1", "", "pw", "", 7000, 3},
    {"redis://u:p@h:1/2", "h", "u", "p", "", 1, 2},
    {"redis://ann:p%40ss%2Fw%3Ad%25@h", "h", "ann", "p@ss/w:d%", "", 6379, 0},
    {"redis://ann:p@ss/w:d@h/4", "h", "ann", "p@ss/w:d", "", 6379, 4},
    {"redis://smtp%2Dagent%40mx1:x@h", "h", "smtp-agent@mx1", "x", "", 6379, 0},
    {"redis://%72edis.example.com:6380/%31%32", "redis.example.com", "", "", "", 6380, 12},
    {"redis://:%F0%9F%94%91@h", "h", "", "\xF0\x9F\x94\x91", "", 6379, 0},
    {"redis://h/", "h", "", "", "", 6379, 0},
    {"unix:///run/redis.sock?db=5", "", "", "", "/run/redis.sock", 6379, 5},
    {"unix:///run/redis%20x.sock", "", "", "", "/run/redis x.sock", 6379, 0},
};

Test(config, redis_urls)
{
    struct config_redis_url u;
    char err[512];

    for (size_t i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++) {
        const char *url = good_urls[i].url;

        err[0] = '\0';
        cr_assert_eq(config_parse_redis_url(url, &u, err, sizeof(err)), 0, "%s: %s", url, err);
        cr_assert_str_eq(u.host, good_urls[i].host, "%s", url);
        cr_assert_str_eq(u.user, good_urls[i].user, "%s", url);
        cr_assert_str_eq(u.password, good_urls[i].password, "%s", url);
        cr_assert_str_eq(u.path, good_urls[i].path, "%s", url);
        cr_assert_eq(u.unix_socket, good_urls[i].path[0] != '\0', "%s", url);
        cr_assert_eq(u.port, good_urls[i].port, "%s", url);
        cr_assert_eq(u.db, good_urls[i].db, "%s", url);
    }
}

/* Malformed URLs: each error names the offending part and value, never the password. */
static const struct {
    const char *url, *want;
} bad_urls[] = {
    {"redis://", "bad Redis URL 'redis://': no host"},
    {"redis://:pw@", "bad Redis URL 'redis://:***@': no host"},
    {"redis://:pw@:6379", "bad Redis URL 'redis://:***@:6379': no host"},
    {"redis://h:0", "bad Redis URL 'redis://h:0': port '0' is not 1..65535"},
    {"redis://h:65536", "port '65536' is not 1..65535"},
    {"redis://h:abc", "port 'abc' is not 1..65535"},
    {"redis://h:", "port '' is not 1..65535"},
    {"redis://h/x", "bad Redis URL 'redis://h/x': database 'x' is not a number 0..1000000"},
    {"redis://h/-1", "database '-1' is not a number"},
    {"redis://h/1/2", "database '1/2' is not a number"},
    {"redis://h/%zz", "database '%zz': bad percent-escape '%zz'"},
    {"redis://secret@h", "bad Redis URL 'redis://***@h': expected USER:PASSWORD@ or :PASSWORD@"},
    {"redis://u%4:x@h", "bad Redis URL 'redis://u%4:***@h': user 'u%4': bad percent-escape '%4'"},
    {"redis://u:s3cr%et@h", "bad Redis URL 'redis://u:***@h': password: bad percent-escape at "
                            "character 5"},
    {"redis://u:secret%@h", "password: bad percent-escape at character 7"},
    {"redis://u:a%00b@h", "password: bad percent-escape at character 2"},
    {"redis://ho%st", "host 'ho%st': bad percent-escape '%st'"},
    {"redis://h%20x", "host 'h x': bad character ' '"},
    {"redis://h o st", "host 'h o st': bad character ' '"},
    {"redis://[::1", "bad IPv6 address '[::1'"},
    {"unix://relative", "unix:// needs an absolute path"},
    {"unix:///s?database=1", "expected ?db=N after the path, not '?database=1'"},
    {"unix:///s?db=x", "database 'x' is not a number"},
    {"unix:///s%2", "socket path '/s%2': bad percent-escape '%2'"},
    {"rediss://h", "rediss:// (TLS) is not supported by this build's hiredis; use stunnel, see "
                   "packaging/redis/README.md"},
    {"rediss://u:secret@h:6380", "rediss:// (TLS) is not supported"},
    {"ftp://h", "bad Redis URL 'ftp://h': expected redis:// or unix://"},
    {"", "bad Redis URL '': expected redis:// or unix://"},
};

Test(config, bad_redis_urls)
{
    struct config_redis_url u;
    char err[512];

    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        const char *url = bad_urls[i].url;

        err[0] = '\0';
        cr_assert_eq(config_parse_redis_url(url, &u, err, sizeof(err)), -1, "accepted '%s'", url);
        cr_assert(strstr(err, bad_urls[i].want) != NULL, "%s: got \"%s\", want \"%s\"", url, err,
                  bad_urls[i].want);
        cr_assert(strstr(err, "secret") == NULL && strstr(err, "s3cr") == NULL,
                  "%s: the error shows the password: %s", url, err);
    }
}

Test(config, tls_url_refused)
{
    load("[redis]\nurl = rediss://h\n[source s]\npath = /x\n");
    ASSERT_ERROR("t.conf:2: rediss:// (TLS) is not supported by this build's hiredis; use "
                 "stunnel, see packaging/redis/README.md (installed as "
                 "/usr/share/doc/smtpmon/examples/redis/README.md)");
}

Test(config, redis_settings)
{
    char pw[] = "/tmp/smtpmon-test-pw.XXXXXX", text[512];
    int fd = mkstemp(pw);

    cr_assert_neq(fd, -1);
    close(fd);
    snprintf(text, sizeof(text),
             "[redis]\nurl = redis://h:1\nsentinels = s1:26379 s2:26380\n"
             "master_name = m1\nlease = 5s\ntop_domains = 7\nfleet = no\ndb = 3\n"
             "password_file = %s\n[source a]\npath = /x\n",
             pw);
    cr_assert_eq(load(text), 0);
    unlink(pw);
    cr_assert_str_eq(fx.c.redis_sentinels, "s1:26379 s2:26380");
    cr_assert_str_eq(fx.c.redis_master_name, "m1");
    cr_assert_eq(fx.c.redis_lease, 5000);
    cr_assert_eq(fx.c.redis_top_domains, 7);
    cr_assert_eq(fx.c.redis_fleet, 0);
    cr_assert_eq(fx.c.redis_db, 3);
}

/* -n names a password_file the agent could not read, at its line. */
Test(config, password_file_unreadable)
{
    load("[redis]\nurl = redis://h:1\npassword_file = /nonexistent/pw\n[source a]\npath = /x\n");
    ASSERT_ERROR("t.conf:3: password_file /nonexistent/pw: cannot read: No such file or directory");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    load("[redis]\nurl = redis://h:1\npassword_file = /tmp\n[source a]\npath = /x\n");
    ASSERT_ERROR("t.conf:3: password_file /tmp: not a regular file");
}

Test(config, redis_settings_checked)
{
    cr_assert_geq(load("[redis]\nurl = redis://h:1\nsentinels = s1:26379 s2\n"
                       "[source a]\npath = /x\n"),
                  2);
    ASSERT_ERROR("t.conf:3: [redis] sentinels and master_name go together");
    ASSERT_ERROR("t.conf:3: sentinel 's2': expected HOST:PORT");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    cr_assert_geq(load("[redis]\nurl = redis://h:1\nlease = 10ms\n[source a]\npath = /x\n"), 1);
    dump_errors();
}

/* [redis] cluster: seeds checked, exclusive with the sentinels, TCP and database 0 only. */
Test(config, redis_cluster_checked)
{
    cr_assert_eq(load("[redis]\nurl = redis://h:7000\ncluster = yes\n"
                      "cluster_seeds = h2:7001 h3:7002\n[source a]\npath = /x\n"),
                 0);
    cr_assert_eq(fx.c.redis_cluster, 1);
    cr_assert_str_eq(fx.c.redis_cluster_seeds, "h2:7001 h3:7002");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    cr_assert_geq(load("[redis]\nurl = redis://h:1\ncluster = yes\nsentinels = s1:26379\n"
                       "master_name = m\ncluster_seeds = h2\n[source a]\npath = /x\n"),
                  2);
    ASSERT_ERROR("t.conf:3: [redis] cluster = yes and sentinels exclude each other: a cluster "
                 "finds its masters itself (use one or the other)");
    ASSERT_ERROR("t.conf:6: cluster seed 'h2': expected HOST:PORT");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    cr_assert_geq(load("[redis]\nurl = redis://h:1/2\ncluster_seeds = h2:1\n"
                       "[source a]\npath = /x\n"),
                  1);
    ASSERT_ERROR("t.conf:3: [redis] cluster_seeds needs cluster = yes");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    cr_assert_geq(load("[redis]\nurl = redis://h:1/2\ncluster = yes\n[source a]\npath = /x\n"), 1);
    ASSERT_ERROR("t.conf:3: [redis] cluster = yes: a Redis Cluster has only database 0");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    cr_assert_geq(load("[redis]\nurl = unix:///run/r.sock\ncluster = yes\n[source a]\npath = /x\n"),
                  1);
    ASSERT_ERROR("t.conf:3: [redis] cluster = yes needs a redis://HOST:PORT url (cluster nodes are "
                 "reached over TCP), not a unix socket");
}

Test(config, duplicate_source_and_key)
{
    load("[source a]\npath = /x\n[source a]\npath = /y\n[source b]\npath = /x\n"
         "[agent]\nstate_dir = /a\nstate_dir = /b\n");
    ASSERT_ERROR("t.conf:3: duplicate source 'a' (first at line 1)");
    ASSERT_ERROR("t.conf:6: source 'b': path /x is already read by source 'a'");
    ASSERT_ERROR("t.conf:9: duplicate key 'state_dir' (first at line 8)");
    cr_assert_eq(fx.errs.total, 3);
}

Test(config, source_checks)
{
    load("[source a]\npack = postfix\n[source b]\npath = rel.log\n[source c]\ntype = journal\n"
         "path = /x\n[source d]\ntype = journal\n[source e]\ntype = pipe\npath = /e\n"
         "[source]\n[source bad name]\n");
    ASSERT_ERROR("t.conf:1: source 'a': missing key 'path'");
    ASSERT_ERROR("t.conf:4: source 'b': path 'rel.log' is not absolute");
    ASSERT_ERROR("t.conf:7: source 'c': path is only for type = file");
    ASSERT_ERROR("t.conf:8: source 'd': the journal is already read by source 'c'");
    ASSERT_ERROR("t.conf:11: bad value 'pipe' for type (one of: file|journal)");
    ASSERT_ERROR("t.conf:13: section [source] needs a name of letters, digits, '.', '_' or '-': "
                 "[source NAME]");
    ASSERT_ERROR("t.conf:14: section [source] needs a name of letters, digits, '.', '_' or '-': "
                 "[source NAME]");
}

/* fallback = journal: a file source that reads the journal while its path names no file. */
Test(config, fallback_journal_parses)
{
    cr_assert_eq(load("[source mail]\npath = /var/log/mail.log\nfallback = journal\n"
                      "[source other]\npath = /var/log/other.log\n"),
                 0);
    cr_assert_eq(fx.c.nsources, 2);
    cr_assert_eq(fx.c.sources[0].type, CONFIG_SOURCE_FILE);
    cr_assert_eq(fx.c.sources[0].fallback, CONFIG_FALLBACK_JOURNAL);
    cr_assert_eq(fx.c.sources[0].fell_back, 0);
    cr_assert_str_eq(
        fx.c.sources[0].identifiers,
        "postfix/* postfix-*/* exim exim4 sendmail sm-mta sm-msp-queue opensmtpd smtpd");
    cr_assert_null(fx.c.sources[0].journal_dir);
    cr_assert_eq(fx.c.sources[1].fallback, CONFIG_FALLBACK_NONE);
}

Test(config, fallback_journal_with_identifiers_and_journal_dir)
{
    cr_assert_eq(load("[source mail]\npath = /var/log/mail.log\nfallback = JOURNAL\n"
                      "identifiers = postfix/smtp exim\njournal_dir = /var/log/journal\n"),
                 0);
    cr_assert_eq(fx.c.sources[0].fallback, CONFIG_FALLBACK_JOURNAL);
    cr_assert_str_eq(fx.c.sources[0].identifiers, "postfix/smtp exim");
    cr_assert_str_eq(fx.c.sources[0].journal_dir, "/var/log/journal");
}

Test(config, fallback_checks)
{
    load("[source a]\npath = /a.log\nfallback = syslog\n"
         "[source b]\ntype = journal\nfallback = journal\njournal_dir = /jb\n"
         "[source c]\npath = /c.log\njournal_dir = /j\n"
         "[source d]\npath = /d.log\nfallback = journal\nidentifiers =\n"
         "[source e]\npath = /e.log\nfallback = none\n");
    ASSERT_ERROR("t.conf:3: bad value 'syslog' for fallback (one of: none|journal)");
    ASSERT_ERROR("t.conf:6: source 'b': fallback is only for type = file");
    ASSERT_ERROR("t.conf:10: source 'c': journal_dir is only for type = journal or "
                 "fallback = journal");
    ASSERT_ERROR("t.conf:14: source 'd': identifiers must not be empty");
    cr_assert_eq(fx.errs.total, 4);
    cr_assert_eq(fx.c.sources[4].fallback, CONFIG_FALLBACK_NONE);
}

/* Two readers of one journal would count its entries twice. */
Test(config, fallback_and_journal_source_conflict)
{
    load("[source j]\ntype = journal\n[source mail]\npath = /var/log/mail.log\n"
         "fallback = journal\n[source other]\npath = /o.log\nfallback = journal\n"
         "journal_dir = /srv/journal\n");
    ASSERT_ERROR("t.conf:3: source 'mail': the journal is already read by source 'j' "
                 "(fallback = journal)");
    cr_assert_eq(fx.errs.total, 1);
}

Test(config, fallback_resolved_by_what_exists)
{
    char dir[] = "/tmp/smtpmon-fallback.XXXXXX";
    char text[1024], path[256], glob_path[256];
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/mail.log", dir);
    snprintf(glob_path, sizeof(glob_path), "%s/*.log", dir);
    snprintf(text, sizeof(text),
             "[source mail]\npath = %s\nfallback = journal\n"
             "[source logs]\npath = %s\nfallback = journal\njournal_dir = %s\n"
             "[source plain]\npath = %s/plain.log\n",
             path, glob_path, dir, dir);
    cr_assert_eq(load(text), 0);

    /* Nothing there: both fall back; a source without fallback stays a file source. */
    cr_assert_eq(config_resolve_fallbacks(&fx.c), 2);
    cr_assert_eq(fx.c.sources[0].type, CONFIG_SOURCE_JOURNAL);
    cr_assert_eq(fx.c.sources[0].fell_back, 1);
    cr_assert_eq(fx.c.sources[1].type, CONFIG_SOURCE_JOURNAL);
    cr_assert_eq(fx.c.sources[1].fell_back, 1);
    cr_assert_eq(fx.c.sources[2].type, CONFIG_SOURCE_FILE);
    cr_assert_eq(fx.c.sources[2].fell_back, 0);
    cr_assert_str_eq(fx.c.sources[0].path, path, "the path is kept for the next decision");

    /* The file appears (rsyslog installed): the next decision (a reload) follows it, and the
     * glob now matches it too. */
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(config_resolve_fallbacks(&fx.c), 0);
    cr_assert_eq(fx.c.sources[0].type, CONFIG_SOURCE_FILE);
    cr_assert_eq(fx.c.sources[0].fell_back, 0);
    cr_assert_eq(fx.c.sources[1].type, CONFIG_SOURCE_FILE);
    cr_assert_eq(fx.c.sources[1].fell_back, 0);

    /* A resolved configuration still validates (the agent checks it again on reload). */
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(config_resolve_fallbacks(&fx.c), 2);
    cr_assert_eq(config_validate(&fx.c, &fx.errs), 0);
    cr_assert_eq(rmdir(dir), 0);
}

Test(config, syntax_errors_all_listed)
{
    char longline[300];

    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "output = /", 10);
    longline[sizeof(longline) - 1] = '\0';

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    fprintf(f,
            "[agent\nno value here\n= 3\n[agent]\n%s\nkey_outside = 1\n[weird]\nx = 1\n"
            "[agent x]\n[source s]\npath = /x\n",
            longline);
    fclose(f);
    load(text);
    free(text);
    ASSERT_ERROR("t.conf:1: missing ']' in section header");
    ASSERT_ERROR("t.conf:2: expected 'key = value' or '[section]'");
    ASSERT_ERROR("t.conf:3: missing key name before '='");
    ASSERT_ERROR("t.conf:5: line too long (299 bytes, at most 197)");
    ASSERT_ERROR("t.conf:6: unknown key 'key_outside' in [agent]");
    ASSERT_ERROR("t.conf:7: unknown section [weird] (expected agent, redis, buckets, source NAME "
                 "or alert NAME)");
    ASSERT_ERROR("t.conf:9: section [agent] takes no name");
    cr_assert_eq(fx.errs.total, 7);
}

Test(config, key_before_section)
{
    load("output = /x\n[source s]\npath = /x\n");
    ASSERT_ERROR("t.conf:1: key 'output' outside of a section");
}

Test(config, indented_lines_are_not_continuations)
{
    cr_assert_eq(load("[source s]\n    path = /var/log/mail.log\n    pack = exim\n"), 0);
    cr_assert_str_eq(fx.c.sources[0].path, "/var/log/mail.log");
    cr_assert_str_eq(fx.c.sources[0].pack, "exim");
}

Test(config, crlf_bom_and_semicolon_in_value)
{
    cr_assert_eq(load("\xef\xbb\xbf[agent]\r\nagent_id = a;b\r\n[source s]\r\npath = /x\r\n"), 1);
    ASSERT_ERROR("t.conf:2: agent_id 'a;b': use letters, digits, '.', '_' or '-' (at most 63)");
}

Test(config, alerts)
{
    load("[alert a]\nthreshold = 5\n[alert b]\nselect = colour:red\n[alert c]\n"
         "select = status:5.7.*\nwindow = 10s\n[alert a]\n[source s]\npath = /x\n");
    ASSERT_ERROR("t.conf:1: alert 'a': missing key 'select'");
    ASSERT_ERROR("t.conf:4: alert 'b': bad select 'colour:red': kind must be outcome, class, "
                 "reply, status, reason or direction");
    ASSERT_ERROR("t.conf:7: window = 10s is out of range (60000..86400000 ms)");
    ASSERT_ERROR("t.conf:8: duplicate alert 'a' (first at line 1)");
}

Test(config, no_source)
{
    load("[agent]\noutput = /x\n");
    ASSERT_ERROR("t.conf: no source: add a [source NAME] section or use --follow PATH");
}

Test(config, missing_file)
{
    cr_assert_eq(config_load_file(&fx.c, "/nonexistent/smtpmon.conf", &fx.errs), -1);
    ASSERT_ERROR("/nonexistent/smtpmon.conf: cannot open: No such file or directory");
}

Test(config, command_line_overrides_and_sources)
{
    cr_assert_eq(load("[agent]\nstate_dir = /a\n[source s]\npath = /x\n"), 0);
    cr_assert_eq(config_set(&fx.c, "agent", "state_dir", "/b", "command line", 3, &fx.errs), 0);
    cr_assert_str_eq(fx.c.state_dir, "/b");
    cr_assert_eq(config_set(&fx.c, "agent", "batch_lines", "0", "command line", 5, &fx.errs), -1);
    ASSERT_ERROR("command line:5: batch_lines = 0 is out of range (1..100000000)");
    cr_assert_eq(config_set(&fx.c, "agent", "nope", "1", "command line", 7, &fx.errs), -1);
    ASSERT_ERROR("command line:7: unknown option agent.nope");
    cr_assert_eq(config_add_cli_source(&fx.c, "/var/log/mail.log", NULL, &fx.errs), 0);
    cr_assert_eq(config_add_cli_source(&fx.c, NULL, "postfix", &fx.errs), 0);
    cr_assert_eq(fx.c.nsources, 2, "command-line sources replace the file's");
    cr_assert_str_eq(fx.c.sources[0].name, "var-log-mail.log");
    cr_assert_str_eq(fx.c.sources[0].pack, "auto");
    cr_assert_eq(fx.c.sources[1].type, CONFIG_SOURCE_JOURNAL);
    cr_assert_str_eq(fx.c.sources[1].pack, "postfix");
    cr_assert_eq(config_add_cli_source(&fx.c, "/var/log/mail.log", NULL, &fx.errs), -1);
    ASSERT_ERROR("command line: duplicate source '/var/log/mail.log'");
}

Test(config, parsers)
{
    int64_t v;
    char err[128];

    cr_assert_eq(config_parse_size("64K", &v, err, sizeof(err)), 0);
    cr_assert_eq(v, 65536);
    cr_assert_eq(config_parse_size("2MiB", &v, err, sizeof(err)), 0);
    cr_assert_eq(v, 2 * 1024 * 1024);
    cr_assert_eq(config_parse_size("100", &v, err, sizeof(err)), 0);
    cr_assert_eq(v, 100);
    cr_assert_eq(config_parse_size("-1", &v, err, sizeof(err)), -1);
    cr_assert_eq(config_parse_size("99999999999999999999G", &v, err, sizeof(err)), -1);
    cr_assert_eq(config_parse_duration("1500ms", &v, err, sizeof(err)), 0);
    cr_assert_eq(v, 1500);
    cr_assert_eq(config_parse_duration("3", &v, err, sizeof(err)), 0);
    cr_assert_eq(v, 3000);
    cr_assert_eq(config_parse_duration("2d", &v, err, sizeof(err)), 0);
    cr_assert_eq(v, 2LL * 86400 * 1000);
    cr_assert_eq(config_parse_duration("1w", &v, err, sizeof(err)), -1);
    cr_assert_eq(config_parse_duration("", &v, err, sizeof(err)), -1);
}

Test(config, words_match)
{
    cr_assert(config_words_match("postfix/* exim", "postfix/smtp"));
    cr_assert(config_words_match("postfix/* exim", "exim"));
    cr_assert_not(config_words_match("postfix/* exim", "exim4"));
    cr_assert_not(config_words_match("", "exim"));
}

/* The packaged configuration shows every key of the table, commented, with its default. */
Test(config, packaged_file_documents_every_key)
{
    FILE *f = fopen("packaging/smtpmon.conf", "r");
    char line[512];
    char *text = NULL;
    size_t len = 0;
    FILE *mem;

    if (f == NULL) {
        cr_skip_test("packaging/smtpmon.conf not found (run from the project root)");
    }
    mem = open_memstream(&text, &len);
    while (fgets(line, sizeof(line), f) != NULL) {
        fputs(line, mem);
    }
    fclose(f);
    fclose(mem);
    for (const struct config_option *o = config_options(); o->name != NULL; o++) {
        char want[256];

        /* Keys without a default show an example value. */
        snprintf(want, sizeof(want), "\n;%s = %s%s", o->name, o->def != NULL ? o->def : "",
                 o->def != NULL ? "\n" : "");
        cr_expect_not_null(strstr(text, want), "packaging/smtpmon.conf lacks '%s' ([%s])", want + 1,
                           o->section);
    }
    free(text);
}

/* The file as shipped works with no edit: a mail source that falls back to the journal, and
 * the local Redis. */
Test(config, packaged_file_works_as_shipped)
{
    if (access("packaging/smtpmon.conf", R_OK) != 0) {
        cr_skip_test("packaging/smtpmon.conf not found (run from the project root)");
    }
    cr_assert_eq(config_load_file(&fx.c, "packaging/smtpmon.conf", &fx.errs), 0);
    cr_assert_eq(config_validate(&fx.c, &fx.errs), 0);
    cr_assert_eq(fx.c.nsources, 1);
    cr_assert_str_eq(fx.c.sources[0].name, "mail");
    cr_assert_eq(fx.c.sources[0].type, CONFIG_SOURCE_FILE);
    cr_assert_str_eq(fx.c.sources[0].path, "/var/log/mail.log");
    cr_assert_eq(fx.c.sources[0].fallback, CONFIG_FALLBACK_JOURNAL);
    cr_assert_str_eq(fx.c.sources[0].pack, "auto");
    cr_assert_eq(fx.c.sources[0].read_from, -1);
    cr_assert_str_eq(fx.c.redis, "redis://127.0.0.1:6379");
    cr_assert_str_eq(fx.c.redis_url.host, "127.0.0.1");
    cr_assert_eq(fx.c.redis_url.port, 6379);
    cr_assert_eq(fx.c.nalerts, 0);
}

/* [agent] internal_relays: every word an address, a CIDR or a host name; a bad one is named
 * with the file and line. */
Test(config, internal_relays)
{
    cr_assert_eq(load("[agent]\ninternal_relays = 10.0.0.0/8 fd00::/8 192.0.2.7 "
                      "filter.example.net .int.example.net\n[source a]\npath = /x\n"),
                 0);
    cr_assert_str_eq(fx.c.internal_relays,
                     "10.0.0.0/8 fd00::/8 192.0.2.7 filter.example.net .int.example.net");
    config_free(&fx.c);
    config_init(&fx.c);
    cr_assert_eq(
        load("[source a]\npath = /x\n[agent]\n\ninternal_relays = 10.0.0.0/8 10.1.0.0/40\n"), 1);
    ASSERT_ERROR("t.conf:5: [agent] internal_relays: '10.1.0.0/40': the prefix length must be "
                 "0..32");
    config_free(&fx.c);
    config_init(&fx.c);
    errlist_clear(&fx.errs);
    cr_assert_eq(load("[agent]\ninternal_relays = bad!name\n[source a]\npath = /x\n"), 1);
    ASSERT_ERROR("t.conf:2: [agent] internal_relays: 'bad!name': not an IPv4 or IPv6 address, a "
                 "CIDR (10.0.0.0/8, fd00::/8) or a host name");
}

/* One agent id for the agent, alerts and query: the configured one, else the host name as the
 * README says (whole, not cut at the first dot, no machine id), bytes outside [A-Za-z0-9._-]
 * written as '_'. */
Test(config, agent_id)
{
    char id[128], host[256], want[256];
    size_t j = 0;

    config_agent_id(id, sizeof(id), "mx1");
    cr_assert_str_eq(id, "mx1");
    cr_assert_eq(gethostname(host, sizeof(host)), 0);
    host[sizeof(host) - 1] = '\0';
    for (const char *p = host; *p != '\0'; p++) {
        want[j++] = strchr("._-", *p) != NULL || (*p >= '0' && *p <= '9') ||
                            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                        ? *p
                        : '_';
    }
    want[j] = '\0';
    config_agent_id(id, sizeof(id), NULL);
    cr_assert_str_eq(id, want);
    cr_assert_null(strchr(id, ' '));
    config_agent_id(id, 4, NULL); /* cut to the buffer, terminated */
    cr_assert_leq(strlen(id), 3);
}
