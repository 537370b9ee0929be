/*
 * test_redis_cmd.c -- the command builder and the commit scripts. The pure part (fields of a
 * stats and back) runs everywhere; the scripts run against a real redis-server started on a
 * free loopback port (skipped when redis-server is not installed): OK, DUP, GAP, OWNED,
 * PENDING, BADARG, and no partial write on a refused batch.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "redis_cmd.h"
#include "stats.h"

static pid_t server_pid;
static redisContext *ctx;
static char dir[] = "/tmp/smtpmon-ut-redis.XXXXXX";

/* A loopback port below the kernel's range of ephemeral ports (as free_port of the integration
 * tests), so that no client connection of a test running beside this one holds it. */
static int
pick_port(void)
{
    FILE *fp = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int lo = 32768;

    if (fp != NULL) {
        if (fscanf(fp, "%d", &lo) != 1 || lo <= 12000) {
            lo = 32768;
        }
        fclose(fp);
    }
    return 10000 + rand() % (lo - 10000);
}

static void
server_start(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    if (access("/usr/bin/redis-server", X_OK) != 0) {
        cr_skip_test("redis-server is not installed");
    }
    cr_assert_not_null(mkdtemp(dir));
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    /* A port found free may be taken before the server binds it: then another one is tried. */
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = pick_port();

        if ((server_pid = fork()) == 0) {
            char p[16];
            snprintf(p, sizeof(p), "%d", port);
            freopen("/dev/null", "w", stdout);
            execl("/usr/bin/redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
                  "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
                  (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 200; i++) {
            struct timeval tv = {1, 0};
            ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
            if (ctx != NULL && !ctx->err) {
                /* the connect timeout is the commands' too: a machine busy with other work
                 * answered SCRIPT LOAD later than that once */
                struct timeval cmd_tv = {30, 0};
                redisSetTimeout(ctx, cmd_tv);
                return;
            }
            if (ctx != NULL) {
                redisFree(ctx);
                ctx = NULL;
            }
            if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
                server_pid = 0; /* it exited: the port was taken */
                break;
            }
            nanosleep(&ts, NULL);
        }
        if (server_pid > 0) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, NULL, 0);
            server_pid = 0;
        }
    }
    cr_assert_fail("redis-server did not start");
}

static void
server_stop(void)
{
    if (ctx != NULL) {
        redisFree(ctx);
        ctx = NULL;
    }
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0) {
            return;
        }
    }
}

static redisReply *
run(struct rcmd *c)
{
    redisReply *r = redisCommandArgv(ctx, (int)c->argc, (const char **)c->argv, c->argvlen);
    cr_assert_not_null(r);
    return r;
}

static char sha_commit[41], sha_fleet[41];

static void
load(void)
{
    redisReply *r = redisCommand(ctx, "SCRIPT LOAD %s", rcmd_commit_lua);
    cr_assert_not_null(r, "SCRIPT LOAD: %s", ctx->errstr);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s", r->str);
    memcpy(sha_commit, r->str, 41);
    freeReplyObject(r);
    r = redisCommand(ctx, "SCRIPT LOAD %s", rcmd_fleet_lua);
    cr_assert_not_null(r, "SCRIPT LOAD: %s", ctx->errstr);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s", r->str);
    memcpy(sha_fleet, r->str, 41);
    freeReplyObject(r);
}

static const struct rcmd_conf conf = {"smtpmon", "h1", "token-aaaaaaaa", 3600000, 60000, 2,
                                      1000,      100};

static void
make_batch(struct batch *b, uint64_t seq, uint64_t offset)
{
    memset(b, 0, sizeof(*b));
    cr_assert_eq(stats_init(&b->st, 0), 0);
    b->cursor.kind = STATE_FILE;
    snprintf(b->cursor.source, sizeof(b->cursor.source), "mail");
    snprintf(b->cursor.path, sizeof(b->cursor.path), "/var/log/mail.log");
    b->cursor.seq = seq;
    b->cursor.offset = offset;
    b->st.lines = 10;
    b->st.matched = 4;
    b->st.reply[550] = 3;
    b->st.reply[250] = 1;
    b->st.cls[5] = 3;
    b->st.first_time = 1699999980 + 30;
    b->st.last_time = 1699999980 + 45;
    topk_add(b->st.domains, "a.example", 9, 1);
    topk_add(b->st.domains, "b.example", 9, 1);
    topk_add(b->st.domains, "c.example", 9, 2);
}

static long long
hget(const char *key, const char *field)
{
    redisReply *r = redisCommand(ctx, "HGET %s %s", key, field);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

static int
key_cmp(const void *a, const void *b)
{
    const redisReply *x = *(const redisReply *const *)a, *y = *(const redisReply *const *)b;
    return strcmp(x->str, y->str);
}

/* A fingerprint of the whole database: every key and its content, in the order of the names
 * (KEYS gives the order of Redis's hash table, which its incremental rehashing may change
 * between two calls on the same data). */
static char *
snapshot(void)
{
    redisReply *keys = redisCommand(ctx, "KEYS *");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    qsort(keys->element, keys->elements, sizeof(*keys->element), key_cmp);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *d = redisCommand(ctx, "DUMP %s", keys->element[i]->str);
        fprintf(out, "%s=", keys->element[i]->str);
        fwrite(d->str, 1, d->len, out);
        fputc('\n', out);
        freeReplyObject(d);
    }
    freeReplyObject(keys);
    fclose(out);
    return buf;
}

static const char *
verdict(redisReply *r)
{
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "reply type %d: %s", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    return r->element[0]->str;
}

TestSuite(redis_script, .init = server_start, .fini = server_stop, .timeout = 30);

Test(redis_script, sha1_vectors_and_the_scripts)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    char hex[41];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        rcmd_sha1_hex(v[i].in, strlen(v[i].in), hex);
        cr_assert_str_eq(hex, v[i].hex, "sha1('%s')", v[i].in);
    }
    /* The names Redis gives the scripts (SCRIPT LOAD), when a server is at hand. */
    if (ctx != NULL) {
        load();
        rcmd_sha1_hex(rcmd_commit_lua, strlen(rcmd_commit_lua), hex);
        cr_assert_str_eq(hex, sha_commit);
        rcmd_sha1_hex(rcmd_fleet_lua, strlen(rcmd_fleet_lua), hex);
        cr_assert_str_eq(hex, sha_fleet);
    }
}

Test(redis_script, ok_dup_gap_and_no_partial_write)
{
    struct rcmd c;
    struct batch b;
    redisReply *r;
    char *before, *after;

    load();
    rcmd_init(&c);
    make_batch(&b, 1, 100);
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 0, 1, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OK");
    freeReplyObject(r);
    cr_expect_eq(hget("smtpmon:{h1}:c:total", "rp|550"), 3);
    cr_expect_eq(hget("smtpmon:{h1}:c:m:1699999980", "rp|550"), 3);
    cr_expect_eq(hget("smtpmon:{h1}:cursor:mail", "offset"), 100);

    /* the reply was lost: the same batch again */
    before = snapshot();
    r = run(&c);
    cr_expect_str_eq(verdict(r), "DUP");
    freeReplyObject(r);
    cr_expect_eq(hget("smtpmon:{h1}:c:total", "rp|550"), 3);

    /* a batch out of order */
    b.cursor.seq = 3;
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 1, 2, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "GAP");
    cr_expect_eq(r->element[1]->integer, 1);
    freeReplyObject(r);

    /* the fleet delta of seq 1 is pending: seq 2 is refused until it is applied */
    b.cursor.seq = 2;
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 0, 2, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "PENDING");
    freeReplyObject(r);

    /* another process claiming the same agent id */
    struct rcmd_conf other = conf;
    other.token = "token-bbbbbbbb";
    cr_assert_eq(rcmd_commit(&c, &other, sha_commit, &b, 1, 2, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OWNED");
    freeReplyObject(r);

    /* invalid input: a delta that is not a non-negative integer, deep in the list */
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 1, 2, -1), 0);
    for (size_t i = c.argc - 1; i > 0; i--) {
        if (strcmp(c.argv[i - 1], "dm|c.example") == 0) {
            free(c.argv[i]);
            c.argv[i] = strdup("-1");
            c.argvlen[i] = 2;
            break;
        }
    }
    r = run(&c);
    cr_expect_eq(r->type, REDIS_REPLY_ERROR);
    cr_expect(strstr(r->str, "BADARG") != NULL, "%s", r->str);
    freeReplyObject(r);
    after = snapshot();
    cr_expect_str_eq(before, after, "a refused batch changed the database");
    free(before);
    free(after);

    /* fleet: applied once, DUP on retry; then seq 2 goes through */
    b.cursor.seq = 1;
    cr_assert_eq(rcmd_fleet_batch(&c, &conf, sha_fleet, &b, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OK");
    freeReplyObject(r);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "DUP");
    freeReplyObject(r);
    cr_expect_eq(hget("smtpmon:{fleet}:c:total", "rp|550"), 3);
    b.cursor.seq = 2;
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 1, 3, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OK");
    freeReplyObject(r);
    cr_expect_eq(hget("smtpmon:{h1}:c:total", "rp|550"), 6);
    /* at most topn_minute (2) distinct domains per minute, the rest as other */
    cr_expect_eq(hget("smtpmon:{h1}:c:m:1699999980", "dm|other"), 2);
    cr_expect_eq(hget("smtpmon:{h1}:c:total", "dm|c.example"), 4);
    r = redisCommand(ctx, "PTTL smtpmon:{h1}:c:m:1699999980");
    cr_expect(r->integer > 0 && r->integer <= 3600000);
    freeReplyObject(r);
    r = redisCommand(ctx, "PTTL smtpmon:{h1}:cursor:mail");
    cr_expect_eq(r->integer, -1, "the cursor must never expire");
    freeReplyObject(r);
    stats_free(&b.st);
    rcmd_free(&c);
}

Test(redis_script, stream_entry_per_closed_minute)
{
    struct rcmd c;
    struct batch b;
    redisReply *r;

    load();
    rcmd_init(&c);
    struct rcmd_conf nf = conf;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        make_batch(&b, seq, seq * 100);
        b.st.first_time = 1699999980 + (int64_t)(seq - 1) * 60;
        cr_assert_eq(rcmd_commit(&c, &nf, sha_commit, &b, seq - 1, 1, -1), 0);
        r = run(&c);
        cr_expect_str_eq(verdict(r), "OK");
        freeReplyObject(r);
        cr_assert_eq(rcmd_fleet_batch(&c, &nf, sha_fleet, &b, -1), 0);
        freeReplyObject(run(&c));
        stats_free(&b.st);
    }
    r = redisCommand(ctx, "XRANGE smtpmon:{h1}:ts - +");
    cr_assert_eq(r->elements, 2, "two closed minutes");
    cr_expect_str_eq(r->element[0]->element[0]->str, "1699999980000-0");
    /* The entry holds the minute hash's dimensions (rp|550, dm|..., m|lines), not its
     * bookkeeping (t|first, x|dm). */
    const redisReply *f = r->element[0]->element[1];
    int rp550 = 0, dm = 0, lines = 0, book = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
        rp550 += strcmp(k, "rp|550") == 0 && strcmp(v, "3") == 0;
        dm += strcmp(k, "dm|c.example") == 0 && strcmp(v, "2") == 0;
        lines += strcmp(k, "m|lines") == 0 && strcmp(v, "10") == 0;
        book += strncmp(k, "t|", 2) == 0 || strncmp(k, "x|", 2) == 0;
    }
    cr_expect(rp550 == 1 && dm == 1 && lines == 1, "dimension fields in the stream entry");
    cr_expect_eq(book, 0, "no bookkeeping fields in the stream entry");
    freeReplyObject(r);
    r = redisCommand(ctx, "XRANGE smtpmon:{fleet}:ts - +");
    cr_assert_eq(r->elements, 2, "two closed minutes in the fleet stream");
    freeReplyObject(r);
    rcmd_free(&c);
}

/* Every key a script touches is declared (Redis Cluster routes on KEYS only): the hash of the
 * minute a commit closes too. Declared wrong, the script answers OM with the open minute and
 * changes nothing; declared right, it closes the minute. */
Test(redis_script, closed_minute_declared)
{
    struct rcmd c;
    struct batch b;
    redisReply *r;
    char *before, *after;
    const int64_t m0 = 1699999980;

    load();
    rcmd_init(&c);
    make_batch(&b, 1, 100);
    b.st.first_time = m0;
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 0, 1, -1), 0);
    freeReplyObject(run(&c));
    cr_assert_eq(rcmd_fleet_batch(&c, &conf, sha_fleet, &b, -1), 0);
    freeReplyObject(run(&c));
    stats_free(&b.st);
    make_batch(&b, 2, 200);
    b.st.first_time = m0 + 180; /* three minutes later: the guess (the minute before) is wrong */
    before = snapshot();
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 1, 2, -1), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OM");
    cr_expect_eq(r->element[1]->integer, m0);
    freeReplyObject(r);
    cr_assert_eq(rcmd_fleet_batch(&c, &conf, sha_fleet, &b, m0 + 60), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OM");
    cr_expect_eq(r->element[1]->integer, m0);
    freeReplyObject(r);
    after = snapshot();
    cr_expect_str_eq(before, after, "an OM answer changed the database");
    free(before);
    free(after);
    cr_assert_eq(rcmd_commit(&c, &conf, sha_commit, &b, 1, 2, m0), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OK");
    freeReplyObject(r);
    cr_assert_eq(rcmd_fleet_batch(&c, &conf, sha_fleet, &b, m0), 0);
    r = run(&c);
    cr_expect_str_eq(verdict(r), "OK");
    freeReplyObject(r);
    r = redisCommand(ctx, "XRANGE smtpmon:{h1}:ts - +");
    cr_assert_eq(r->elements, 1);
    cr_expect_str_eq(r->element[0]->element[0]->str, "1699999980000-0");
    freeReplyObject(r);
    r = redisCommand(ctx, "XRANGE smtpmon:{fleet}:ts - +");
    cr_assert_eq(r->elements, 1);
    freeReplyObject(r);
    stats_free(&b.st);
    rcmd_free(&c);
}

static int
collect(void *arg, const char *field, uint64_t n)
{
    struct stats *st = arg;
    char v[24];

    snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
    cr_assert_geq(rcmd_stats_add_field(st, NULL, field, strlen(field), v, strlen(v)), 0);
    return 0;
}

Test(redis_fields, round_trip)
{
    struct batch b;
    struct stats back;

    make_batch(&b, 1, 1);
    b.st.subject[2][1]++;
    b.st.direction[DIR_OUTBOUND] = 4;
    b.st.dir_class[DIR_OUTBOUND][2] = 3;
    b.st.outcome[OUTCOME_BOUNCED] = 3;
    b.st.reply_invalid = 1;
    cr_assert_eq(stats_init(&back, 0), 0);
    cr_assert_eq(rcmd_stats_fields(&b.st, NULL, collect, &back), 0);
    cr_expect_eq(back.lines, 10);
    cr_expect_eq(back.reply[550], 3);
    cr_expect_eq(back.subject[2][1], 1);
    cr_expect_eq(back.dir_class[DIR_OUTBOUND][2], 3);
    cr_expect_eq(back.first_time, b.st.first_time);
    cr_expect_eq(back.last_time, b.st.last_time);
    cr_expect_eq(topk_total(back.domains), 4);
    stats_free(&b.st);
    stats_free(&back);
}

Test(redis_fields, names_and_keys)
{
    char k[RCMD_KEY_MAX];

    cr_expect(rcmd_name_ok("mx1-abcdef12"));
    cr_expect(!rcmd_name_ok("a}b"));
    cr_expect(!rcmd_name_ok(""));
    cr_expect(!rcmd_name_ok("a b"));
    cr_expect_eq(rcmd_key(k, sizeof(k), "smtpmon", "h1", "c:total"), 20);
    cr_expect_str_eq(k, "smtpmon:{h1}:c:total");
    cr_expect_eq(rcmd_verdict("DUP", 3), RCMD_DUP);
    cr_expect_eq(rcmd_verdict("NOPE", 4), RCMD_BAD);
}

/* [redis] fleet_shards: K = 32-bit FNV-1a of the agent id mod N; the tag "fleet" for N = 1 (the
 * key names of before), "fleet:K" else; the fleet script's keys and the commit's cursor field
 * name the agent's shard. */
Test(redis_fleet, shard_hash_and_tags)
{
    char tag[RCMD_FLEET_TAG_MAX];
    struct rcmd c;
    struct batch b;
    struct rcmd_conf sh = conf;
    int named = 0;

    /* FNV-1a 32 test vectors: "" 0x811c9dc5, "a" 0xe40c292c, "foobar" 0xbf9cf968 */
    cr_assert_eq(rcmd_fleet_shard("a", 1000000007u), 0xe40c292cu % 1000000007u);
    cr_assert_eq(rcmd_fleet_shard("foobar", 64), 0xbf9cf968u % 64);
    cr_assert_eq(rcmd_fleet_shard("mx1", 1), 0);
    cr_assert_eq(rcmd_fleet_shard("mx1", 4), 3);
    cr_assert_eq(rcmd_fleet_shard("mx4", 4), 0);
    rcmd_fleet_tag(tag, sizeof(tag), 0, 1);
    cr_assert_str_eq(tag, "fleet");
    rcmd_fleet_tag(tag, sizeof(tag), 63, 64);
    cr_assert_str_eq(tag, "fleet:63");

    rcmd_init(&c);
    make_batch(&b, 1, 10);
    cr_assert_eq(rcmd_fleet_batch(&c, &conf, "0123456789012345678901234567890123456789", &b, -1),
                 0);
    cr_assert_str_eq(c.argv[3], "smtpmon:{fleet}:seen");
    cr_assert_eq(rcmd_commit(&c, &conf, "0123456789012345678901234567890123456789", &b, 0, 1, -1),
                 0);
    for (size_t i = 0; i < c.argc; i++) {
        cr_assert_neq(strcmp(c.argv[i], "fleet"), 0, "fleet_shards = 1 names a shard");
    }
    sh.fleet_tag = "fleet:3";
    cr_assert_eq(rcmd_fleet_batch(&c, &sh, "0123456789012345678901234567890123456789", &b, -1), 0);
    for (size_t i = 3; i < 9; i++) {
        cr_assert_eq(strncmp(c.argv[i], "smtpmon:{fleet:3}:", 18), 0, "%s", c.argv[i]);
    }
    cr_assert_eq(rcmd_commit(&c, &sh, "0123456789012345678901234567890123456789", &b, 0, 1, -1), 0);
    for (size_t i = 0; i + 1 < c.argc; i++) {
        named |= strcmp(c.argv[i], "fleet") == 0 && strcmp(c.argv[i + 1], "fleet:3") == 0;
    }
    cr_assert(named, "the commit does not name its shard in the cursor");
    stats_free(&b.st);
    rcmd_free(&c);
}
