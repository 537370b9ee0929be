/* The reply limits of hiredis readers (agent/common/redis_conn.c: redis_reader_limit). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "redis_conn.h"

static redisReader *
reader(void)
{
    redisReader *r = redisReaderCreate();

    cr_assert_not_null(r);
    redis_reader_limit(r);
    return r;
}

static int
feed_and_get(redisReader *r, const char *buf, size_t len, void **reply)
{
    cr_assert_eq(redisReaderFeed(r, buf, len), REDIS_OK);
    return redisReaderGetReply(r, reply);
}

Test(redis_limits, ordinary_replies_pass)
{
    static const char in[] = "*3\r\n$3\r\nfoo\r\n:42\r\n*2\r\n$-1\r\n+OK\r\n";
    redisReader *r = reader();
    void *rep = NULL;
    redisReply *x;

    cr_assert_eq(feed_and_get(r, in, sizeof(in) - 1, &rep), REDIS_OK);
    cr_assert_not_null(rep);
    x = rep;
    cr_assert_eq(x->elements, 3);
    cr_assert_str_eq(x->element[0]->str, "foo");
    cr_assert_eq(x->element[1]->integer, 42);
    cr_assert_null(redis_reader_over(r));
    freeReplyObject(rep);
    redisReaderFree(r);
}

Test(redis_limits, a_huge_declared_array_is_refused_before_allocation)
{
    static const char in[] = "*2147483647\r\n:1\r\n";
    redisReader *r = reader();
    void *rep = NULL;

    cr_assert_eq(feed_and_get(r, in, sizeof(in) - 1, &rep), REDIS_ERR);
    cr_assert_null(rep);
    cr_assert_not_null(redis_reader_over(r));
    cr_assert(strstr(redis_reader_over(r), "over the limit") != NULL);
    redisReaderFree(r);
}

Test(redis_limits, a_huge_bulk_string_is_noticed_while_it_arrives)
{
    static const char head[] = "$2147483647\r\n";
    size_t chunk = 1 << 20;
    char *x = malloc(chunk);
    redisReader *r = reader();
    void *rep = NULL;
    size_t fed = 0;

    cr_assert_not_null(x);
    memset(x, 'x', chunk);
    cr_assert_eq(feed_and_get(r, head, sizeof(head) - 1, &rep), REDIS_OK);
    while (redis_reader_over(r) == NULL) {
        cr_assert_eq(feed_and_get(r, x, chunk, &rep), REDIS_OK);
        cr_assert_null(rep, "no reply before the string is complete");
        fed += chunk;
        cr_assert_leq(fed, (size_t)REDIS_REPLY_MAX_BYTES + chunk, "not noticed after %zu bytes",
                      fed);
    }
    cr_assert_gt(fed, (size_t)REDIS_REPLY_MAX_BYTES - chunk);
    free(x);
    redisReaderFree(r);
}

Test(redis_limits, too_many_elements_in_nested_arrays_are_refused)
{
    /* 1,000 arrays of 1,001 integers: each small, together over a million elements. */
    redisReader *r = reader();
    void *rep = NULL;
    int rc = REDIS_OK;

    cr_assert_eq(feed_and_get(r, "*1000\r\n", 7, &rep), REDIS_OK);
    for (int i = 0; i < 1000 && rc == REDIS_OK; i++) {
        rc = feed_and_get(r, "*1001\r\n", 7, &rep);
        for (int j = 0; j < 1001 && rc == REDIS_OK; j++) {
            rc = feed_and_get(r, ":1\r\n", 4, &rep);
        }
    }
    cr_assert_eq(rc, REDIS_ERR);
    cr_assert_null(rep);
    cr_assert_not_null(redis_reader_over(r));
    redisReaderFree(r);
}

Test(redis_limits, a_reader_without_limits_is_not_judged)
{
    redisReader *r = redisReaderCreate();

    cr_assert_null(redis_reader_over(r));
    redisReaderFree(r);
}

Test(redis_limits, a_new_reader_starts_clean_and_many_readers_keep_their_limits)
{
    static const char huge[] = "*2147483647\r\n";
    static const char ok[] = "*1\r\n:1\r\n";
    redisReader *many[40];
    void *rep = NULL;

    for (int round = 0; round < 3; round++) {
        redisReader *r = reader(); /* often where the last one was freed */

        cr_assert_null(redis_reader_over(r), "round %d starts over the limit", round);
        cr_assert_eq(feed_and_get(r, ok, sizeof(ok) - 1, &rep), REDIS_OK);
        freeReplyObject(rep);
        cr_assert_eq(feed_and_get(r, huge, sizeof(huge) - 1, &rep), REDIS_ERR);
        cr_assert_not_null(redis_reader_over(r));
        redisReaderFree(r);
    }
    for (int i = 0; i < 40; i++) {
        many[i] = reader();
    }
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(feed_and_get(many[i], huge, sizeof(huge) - 1, &rep), REDIS_ERR, "reader %d",
                     i);
        cr_assert_not_null(redis_reader_over(many[i]));
        redisReaderFree(many[i]);
    }
}

Test(redis_limits, arrays_nested_without_end_are_refused)
{
    redisReader *r = reader();
    void *rep = NULL;
    int rc = REDIS_OK;

    /* hiredis 0.14 refuses a depth over 7 itself; 1.x nests on, up to our limit. */
    for (int i = 0; i < 100000 && rc == REDIS_OK; i++) {
        rc = feed_and_get(r, "*2\r\n", 4, &rep);
    }
    cr_assert_eq(rc, REDIS_ERR);
    cr_assert_null(rep);
    redisReaderFree(r);
}
