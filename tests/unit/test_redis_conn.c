/* The handshake and the back-off of the one Redis connection (agent/common/redis_conn.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "redis_cmd.h"
#include "redis_conn.h"

struct sent {
    char lines[4][128];
    int n;
    int fail_at; /* send returns -1 for this command (0: never) */
};

static int
record(void *arg, int argc, const char **argv)
{
    struct sent *s = arg;
    size_t pos = 0;

    cr_assert_lt(s->n, 4);
    for (int i = 0; i < argc; i++) {
        pos += (size_t)snprintf(s->lines[s->n] + pos, sizeof(s->lines[0]) - pos, "%s%s",
                                i > 0 ? " " : "", argv[i]);
    }
    return ++s->n == s->fail_at ? -1 : 0;
}

static void
conf_of(const char *url, struct redis_conf *c)
{
    char err[256];

    redis_conf_defaults(c);
    cr_assert_eq(config_parse_redis_url(url, &c->url, err, sizeof(err)), 0, "%s", err);
}

Test(redis_conn, hello_says_what_the_url_asks)
{
    struct redis_conf c;
    struct sent s = {0};

    conf_of("redis://127.0.0.1:6379", &c);
    cr_assert_eq(redis_hello(&c, record, &s), 0);
    cr_assert_eq(s.n, 0, "no password, db 0: nothing to say");

    memset(&s, 0, sizeof(s));
    conf_of("redis://:pw@127.0.0.1:6379/3", &c);
    cr_assert_eq(redis_hello(&c, record, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.lines[0], "AUTH pw");
    cr_assert_str_eq(s.lines[1], "SELECT 3");

    memset(&s, 0, sizeof(s));
    conf_of("redis://agent:pw@127.0.0.1:6379", &c);
    cr_assert_eq(redis_hello(&c, record, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.lines[0], "AUTH agent pw");

    memset(&s, 0, sizeof(s));
    conf_of("unix:///run/redis.sock?db=2", &c);
    cr_assert_eq(redis_hello(&c, record, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.lines[0], "SELECT 2");
}

Test(redis_conn, hello_stops_at_the_first_failure)
{
    struct redis_conf c;
    struct sent s = {.fail_at = 1};

    conf_of("redis://:pw@127.0.0.1:6379/3", &c);
    cr_assert_eq(redis_hello(&c, record, &s), -1);
    cr_assert_eq(s.n, 1, "SELECT is not sent after a failed AUTH");
}

Test(redis_conn, backoff_doubles_within_its_bounds_with_jitter)
{
    struct redis_conf c;

    redis_conf_defaults(&c);
    c.backoff_min_ms = 100;
    c.backoff_max_ms = 30000;
    for (unsigned a = 0; a < 40; a++) {
        double full = 0.1 * (double)(1u << (a < 16 ? a : 16));

        if (full > 30.0) {
            full = 30.0;
        }
        for (int k = 0; k < 50; k++) {
            double d = redis_backoff_s(&c, a, 0);
            double l = redis_backoff_s(&c, a, 1);

            cr_assert(d >= full / 2 && d < full, "attempt %u: %f not in [%f, %f)", a, d, full / 2,
                      full);
            cr_assert(l >= 15.0 && l < 30.0, "longest: %f", l);
        }
    }
}

/* The key slots of the Redis Cluster specification: CRC16 (XMODEM) of "123456789" is 0x31C3,
 * and the hash tag rules of its examples. */
Test(redis_cluster, crc16_and_hash_tags)
{
    cr_expect_eq(rcmd_crc16("123456789", 9), 0x31C3);
    cr_expect_eq(rcmd_key_slot("foo", 3), 12182);
    cr_expect_eq(rcmd_key_slot("bar", 3), 5061);
    cr_expect_eq(rcmd_key_slot("hello", 5), 866);
    /* {user1000}.following and {user1000}.followers: the slot of "user1000" */
    cr_expect_eq(rcmd_key_slot("{user1000}.following", 20), rcmd_key_slot("user1000", 8));
    cr_expect_eq(rcmd_key_slot("{user1000}.followers", 20), rcmd_key_slot("user1000", 8));
    /* foo{}{bar}: an empty first tag, the whole key */
    cr_expect_eq(rcmd_key_slot("foo{}{bar}", 10), rcmd_crc16("foo{}{bar}", 10) & 16383);
    /* foo{{bar}}zap: "{bar" */
    cr_expect_eq(rcmd_key_slot("foo{{bar}}zap", 13), rcmd_crc16("{bar", 4) & 16383);
    /* foo{bar}{zap}: "bar" */
    cr_expect_eq(rcmd_key_slot("foo{bar}{zap}", 13), rcmd_key_slot("bar", 3));
    /* no closing brace: the whole key */
    cr_expect_eq(rcmd_key_slot("foo{bar", 7), rcmd_crc16("foo{bar", 7) & 16383);
    /* the project's keys: all of an agent's keys in one slot, the fleet's in another */
    cr_expect_eq(rcmd_key_slot("smtpmon:{mx1}:c:total", 21), rcmd_key_slot("mx1", 3));
    cr_expect_eq(rcmd_key_slot("smtpmon:{fleet}:seen", 20), rcmd_key_slot("fleet", 5));
}

Test(redis_cluster, redirections_parsed)
{
    char host[64];
    unsigned slot = 0;
    int port = 0;

    cr_assert_eq(redis_redirect("MOVED 3999 127.0.0.1:6381", &slot, host, sizeof(host), &port), 1);
    cr_expect_eq(slot, 3999);
    cr_expect_str_eq(host, "127.0.0.1");
    cr_expect_eq(port, 6381);
    cr_assert_eq(redis_redirect("ASK 12182 ::1:7002", &slot, host, sizeof(host), &port), 2);
    cr_expect_eq(slot, 12182);
    cr_expect_str_eq(host, "::1");
    cr_expect_eq(port, 7002);
    cr_expect_eq(redis_redirect("MOVED 16384 h:1", &slot, host, sizeof(host), &port), 0);
    cr_expect_eq(redis_redirect("MOVED 1 h:0", &slot, host, sizeof(host), &port), 0);
    cr_expect_eq(redis_redirect("MOVED 1 h", &slot, host, sizeof(host), &port), 0);
    cr_expect_eq(redis_redirect("MOVEDX 1 h:1", &slot, host, sizeof(host), &port), 0);
    cr_expect_eq(redis_redirect("ERR MOVED 1 h:1", &slot, host, sizeof(host), &port), 0);
    cr_expect_eq(redis_cluster_transient("TRYAGAIN Multiple keys request during rehashing"), 1);
    cr_expect_eq(redis_cluster_transient("CLUSTERDOWN The cluster is down"), 1);
    cr_expect_eq(redis_cluster_transient("ERR no"), 0);
}

static redisReply *
resp(const char *text)
{
    redisReader *rd = redisReaderCreate();
    void *rep = NULL;

    cr_assert_not_null(rd);
    cr_assert_eq(redisReaderFeed(rd, text, strlen(text)), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(rd, &rep), REDIS_OK);
    cr_assert_not_null(rep);
    redisReaderFree(rd);
    return rep;
}

/* CLUSTER SLOTS: ranges to masters (replicas ignored); a master listed without an address is
 * the node asked; anything malformed leaves the map as it was. */
Test(redis_cluster, slot_map_parsed)
{
    static struct redis_slotmap m;
    char err[256];
    redisReply *r = resp("*2\r\n"
                         "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
                         "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nr1\r\n"
                         "*3\r\n:5461\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n");

    memset(&m, 0, sizeof(m));
    memset(m.of, 0xff, sizeof(m.of));
    cr_assert_eq(redis_slotmap_parse(&m, r, "10.0.0.9", err, sizeof(err)), 0, "%s", err);
    freeReplyObject(r);
    cr_expect_eq(m.n, 2);
    cr_expect_str_eq(m.nodes[redis_slotmap_node(&m, 0)].host, "127.0.0.1");
    cr_expect_eq(m.nodes[redis_slotmap_node(&m, 5460)].port, 7000);
    cr_expect_str_eq(m.nodes[redis_slotmap_node(&m, 5461)].host, "10.0.0.9");
    cr_expect_eq(m.nodes[redis_slotmap_node(&m, 16383)].port, 7001);
    cr_expect_eq(redis_slotmap_node(&m, 16384), -1);
    cr_expect_eq(m.version, 1);

    r = resp("*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    cr_expect_eq(redis_slotmap_parse(&m, r, "x", err, sizeof(err)), -1);
    cr_expect_str_eq(err, "CLUSTER SLOTS: bad range or node in entry 0");
    freeReplyObject(r);
    r = resp("-ERR This instance has cluster support disabled\r\n");
    cr_expect_eq(redis_slotmap_parse(&m, r, "x", err, sizeof(err)), -1);
    cr_expect_str_eq(err, "CLUSTER SLOTS: ERR This instance has cluster support disabled");
    freeReplyObject(r);
    cr_expect_eq(m.n, 2, "the map is kept");
    cr_expect_eq(m.version, 1);
    /* a node named by a redirection is added once */
    cr_expect_eq(redis_slotmap_add(&m, "127.0.0.1", 7002), 2);
    cr_expect_eq(redis_slotmap_add(&m, "127.0.0.1", 7002), 2);
}

/* SMTPMON_REDIS_CLUSTER: 0 or 1, not with sentinels, not on a unix socket. */
Test(redis_cluster, env_override_checked)
{
    struct redis_conf c;
    char err[256];

    conf_of("redis://h:7000", &c);
    setenv("SMTPMON_REDIS_CLUSTER", "1", 1);
    setenv("SMTPMON_REDIS_CLUSTER_SEEDS", "h2:7001", 1);
    cr_assert_eq(redis_conf_env(&c, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(c.cluster, 1);
    cr_expect_str_eq(c.seeds, "h2:7001");
    snprintf(c.sentinels, sizeof(c.sentinels), "s:26379");
    snprintf(c.master, sizeof(c.master), "m");
    cr_expect_eq(redis_conf_env(&c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "exclude each other") != NULL, "%s", err);
    conf_of("unix:///run/r.sock", &c);
    cr_expect_eq(redis_conf_env(&c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "unix socket") != NULL, "%s", err);
    setenv("SMTPMON_REDIS_CLUSTER", "2", 1);
    conf_of("redis://h:7000", &c);
    cr_expect_eq(redis_conf_env(&c, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "SMTPMON_REDIS_CLUSTER=2: must be a number in 0..1");
    unsetenv("SMTPMON_REDIS_CLUSTER");
    unsetenv("SMTPMON_REDIS_CLUSTER_SEEDS");
}
