/*
 * test_topk.c -- unit tests for agent/core/topk.c: exact counts under capacity, case folding,
 * space-saving eviction and its error bound, ordering, merge, long keys, reset, and a flood of
 * distinct keys in bounded memory.
 */
#include <criterion/criterion.h>

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"

static void
add(struct topk *t, const char *key, uint64_t n)
{
    topk_add(t, key, strlen(key), n);
}

static void
expect_item(const struct topk_item *it, const char *key, uint64_t count, uint64_t error)
{
    cr_assert_str_eq(it->key, key);
    cr_assert_eq(it->count, count, "%s: count %llu, expected %llu", key,
                 (unsigned long long)it->count, (unsigned long long)count);
    cr_assert_eq(it->error, error, "%s: error %llu, expected %llu", key,
                 (unsigned long long)it->error, (unsigned long long)error);
}

static uint64_t
count_of(const struct topk *t, const char *key, uint64_t *error)
{
    struct topk_item items[256];
    size_t n = topk_list(t, items, 256);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].key, key) == 0) {
            if (error != NULL) {
                *error = items[i].error;
            }
            return items[i].count;
        }
    }
    return 0;
}

static size_t
heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

Test(topk, new_rejects_zero_capacity)
{
    cr_assert_null(topk_new(0));
    topk_free(NULL);
}

Test(topk, empty)
{
    struct topk *t = topk_new(4);
    struct topk_item items[4];

    cr_assert_eq(topk_list(t, items, 4), 0);
    cr_assert_eq(topk_total(t), 0);
    topk_free(t);
}

Test(topk, exact_under_capacity)
{
    struct topk *t = topk_new(10);
    struct topk_item items[10];

    add(t, "a.example", 1);
    add(t, "b.example", 1);
    add(t, "a.example", 2);
    add(t, "c.example", 5);
    add(t, "d.example", 3);
    cr_assert_eq(topk_total(t), 12);
    cr_assert_eq(topk_list(t, items, 10), 4);
    expect_item(&items[0], "c.example", 5, 0);
    expect_item(&items[1], "a.example", 3, 0);
    expect_item(&items[2], "d.example", 3, 0);
    expect_item(&items[3], "b.example", 1, 0);
    topk_free(t);
}

Test(topk, list_respects_max)
{
    struct topk *t = topk_new(10);
    struct topk_item items[3] = {{NULL, 0, 0}, {NULL, 0, 0}, {"untouched", 7, 7}};

    add(t, "x", 3);
    add(t, "y", 2);
    add(t, "z", 1);
    cr_assert_eq(topk_list(t, items, 2), 2);
    expect_item(&items[0], "x", 3, 0);
    expect_item(&items[1], "y", 2, 0);
    expect_item(&items[2], "untouched", 7, 7);
    cr_assert_eq(topk_list(t, items, 0), 0);
    topk_free(t);
}

Test(topk, ties_ordered_by_key)
{
    struct topk *t = topk_new(8);
    struct topk_item items[8];

    add(t, "mango", 2);
    add(t, "apple", 2);
    add(t, "zebra", 2);
    add(t, "kiwi", 9);
    cr_assert_eq(topk_list(t, items, 8), 4);
    cr_assert_str_eq(items[0].key, "kiwi");
    cr_assert_str_eq(items[1].key, "apple");
    cr_assert_str_eq(items[2].key, "mango");
    cr_assert_str_eq(items[3].key, "zebra");
    topk_free(t);
}

Test(topk, case_folding)
{
    struct topk *t = topk_new(4);
    struct topk_item items[4];

    add(t, "Example.COM", 1);
    add(t, "example.com", 1);
    add(t, "EXAMPLE.com", 1);
    add(t, "\xc3\x89xample.com", 1); /* bytes outside ASCII are kept as they are */
    cr_assert_eq(topk_list(t, items, 4), 2);
    expect_item(&items[0], "example.com", 3, 0);
    expect_item(&items[1], "\xc3\x89xample.com", 1, 0);
    topk_free(t);
}

Test(topk, eviction_inherits_minimum)
{
    struct topk *t = topk_new(2);
    struct topk_item items[2];

    add(t, "a", 5);
    add(t, "b", 3);
    add(t, "c", 1); /* evicts b (3): c counts 3 + 1 with error 3 */
    cr_assert_eq(topk_list(t, items, 2), 2);
    expect_item(&items[0], "a", 5, 0);
    expect_item(&items[1], "c", 4, 3);
    cr_assert_eq(topk_total(t), 9);

    add(t, "c", 2); /* c 6 (error 3) now above a */
    add(t, "d", 1); /* evicts a (5) */
    cr_assert_eq(topk_list(t, items, 2), 2);
    expect_item(&items[0], "c", 6, 3);
    expect_item(&items[1], "d", 6, 5);
    cr_assert_eq(topk_total(t), 12);
    topk_free(t);
}

Test(topk, evicted_key_comes_back)
{
    struct topk *t = topk_new(2);
    uint64_t err = 99;

    add(t, "a", 10);
    add(t, "b", 1);
    add(t, "c", 1); /* evicts b */
    cr_assert_eq(count_of(t, "b", NULL), 0);
    add(t, "b", 1); /* evicts c (2) */
    cr_assert_eq(count_of(t, "b", &err), 3);
    cr_assert_eq(err, 2);
    cr_assert_eq(count_of(t, "c", NULL), 0);
    cr_assert_eq(count_of(t, "a", NULL), 10);
    topk_free(t);
}

Test(topk, long_keys_cut)
{
    struct topk *t = topk_new(4);
    struct topk_item items[4];
    char k1[300], k2[300];

    memset(k1, 'q', sizeof(k1));
    memcpy(k2, k1, sizeof(k2));
    k2[200] = 'Z'; /* differs only after the cut */
    topk_add(t, k1, sizeof(k1), 1);
    topk_add(t, k2, sizeof(k2), 1);
    topk_add(t, k1, TOPK_KEY_MAX - 1, 1);
    cr_assert_eq(topk_list(t, items, 4), 1);
    cr_assert_eq(strlen(items[0].key), TOPK_KEY_MAX - 1);
    cr_assert_eq(items[0].count, 3);
    topk_add(t, k1, TOPK_KEY_MAX - 2, 1);
    cr_assert_eq(topk_list(t, items, 4), 2, "a key one byte shorter is another key");
    topk_free(t);
}

Test(topk, empty_key)
{
    struct topk *t = topk_new(4);
    struct topk_item items[4];

    topk_add(t, "", 0, 2);
    cr_assert_eq(topk_list(t, items, 4), 1);
    expect_item(&items[0], "", 2, 0);
    topk_free(t);
}

Test(topk, merge_of_two)
{
    struct topk *a = topk_new(8), *b = topk_new(8);
    struct topk_item items[8];

    add(a, "x.org", 3);
    add(a, "y.org", 2);
    add(b, "Y.ORG", 4);
    add(b, "z.org", 1);
    topk_merge(a, b);
    cr_assert_eq(topk_total(a), 10);
    cr_assert_eq(topk_list(a, items, 8), 3);
    expect_item(&items[0], "y.org", 6, 0);
    expect_item(&items[1], "x.org", 3, 0);
    expect_item(&items[2], "z.org", 1, 0);
    cr_assert_eq(topk_total(b), 5, "the source is unchanged");
    cr_assert_eq(topk_list(b, items, 8), 2);
    topk_free(a);
    topk_free(b);
}

Test(topk, merge_carries_error_bounds)
{
    struct topk *a = topk_new(2), *b = topk_new(2);
    struct topk_item items[2];

    add(b, "p", 5);
    add(b, "q", 1);
    add(b, "r", 1); /* r: 2, error 1 */
    add(a, "r", 4);
    topk_merge(a, b);
    cr_assert_eq(topk_list(a, items, 2), 2);
    expect_item(&items[0], "r", 6, 1);
    expect_item(&items[1], "p", 5, 0);
    cr_assert_eq(topk_total(a), 11);
    topk_free(a);
    topk_free(b);
}

Test(topk, merge_into_full_evicts)
{
    struct topk *a = topk_new(2), *b = topk_new(2);
    struct topk_item items[2];

    add(a, "a", 10);
    add(a, "b", 2);
    add(b, "c", 3);
    topk_merge(a, b); /* c evicts b (2): 2 + 3 with error 2 */
    cr_assert_eq(topk_list(a, items, 2), 2);
    expect_item(&items[0], "a", 10, 0);
    expect_item(&items[1], "c", 5, 2);
    topk_free(a);
    topk_free(b);
}

Test(topk, reset)
{
    struct topk *t = topk_new(2);
    struct topk_item items[2];

    add(t, "a", 1);
    add(t, "b", 1);
    add(t, "c", 1);
    topk_reset(t);
    cr_assert_eq(topk_total(t), 0);
    cr_assert_eq(topk_list(t, items, 2), 0);
    add(t, "c", 2);
    add(t, "d", 1);
    cr_assert_eq(topk_list(t, items, 2), 2);
    expect_item(&items[0], "c", 2, 0);
    expect_item(&items[1], "d", 1, 0);
    topk_free(t);
}

/* The space-saving invariants on a random stream: the counts add up to the total, and each
 * key's true count lies within [count - error, count]; exact when all keys fit. */
static void
random_stream(size_t cap, size_t nkeys, int rounds, unsigned seed)
{
    struct topk *t = topk_new(cap);
    uint64_t truth[64] = {0};
    struct topk_item items[64];
    size_t n;
    uint64_t sum = 0, total = 0;
    char key[16];

    cr_assert_leq(nkeys, 64);
    for (int r = 0; r < rounds; r++) {
        size_t k = 0;
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 3 != 0) { /* skewed: key 0 takes a third of the stream */
            seed = seed * 1103515245u + 12345u;
            k = (seed >> 16) % nkeys;
        }
        uint64_t w = 1 + (seed >> 24) % 4;
        snprintf(key, sizeof(key), "k%zu", k);
        add(t, key, w);
        truth[k] += w;
        total += w;
    }
    n = topk_list(t, items, 64);
    cr_assert_eq(n, nkeys < cap ? nkeys : cap);
    cr_assert_eq(topk_total(t), total);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)strtoul(items[i].key + 1, NULL, 10);
        sum += items[i].count;
        cr_assert_leq(items[i].count - items[i].error, truth[k], "%s", items[i].key);
        cr_assert_geq(items[i].count, truth[k], "%s", items[i].key);
        if (nkeys <= cap) {
            cr_assert_eq(items[i].count, truth[k]);
            cr_assert_eq(items[i].error, 0);
        }
        if (i > 0) {
            cr_assert_geq(items[i - 1].count, items[i].count);
        }
    }
    cr_assert_eq(sum, total, "space-saving counts add up to the total");
    topk_free(t);
}

Test(topk, random_stream_exact_when_fits)
{
    random_stream(64, 50, 20000, 1);
}

Test(topk, random_stream_bounds_when_evicting)
{
    random_stream(8, 50, 20000, 2);
    random_stream(1, 10, 1000, 3);
    random_stream(16, 64, 50000, 4);
}

Test(topk, flood_of_distinct_keys)
{
    struct topk *t = topk_new(100);
    struct topk_item items[100];
    char key[32];
    size_t before, after, n;

    add(t, "heavy.example", 1);
    before = heap_in_use();
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "d%d.example", i);
        add(t, key, 1);
        if (i % 10 == 0) {
            add(t, "HEAVY.example", 1);
        }
    }
    after = heap_in_use();
    cr_assert_lt(after > before ? after - before : 0, 1024, "memory grew by %zu bytes",
                 after - before);
    cr_assert_eq(topk_total(t), 1 + 100000 + 10000);
    n = topk_list(t, items, 100);
    cr_assert_eq(n, 100);
    cr_assert_str_eq(items[0].key, "heavy.example");
    cr_assert_geq(items[0].count, 10001);
    cr_assert_leq(items[0].count - items[0].error, 10001);
    cr_assert_lt(items[1].count, items[0].count);
    topk_free(t);
}

/* Keys are folded eight bytes at a time: every byte value, at every place in a word and in the
 * tail, folds as tolower() in the C locale would, and a key folded to an existing one counts
 * with it. */
Test(topk, case_folding_every_byte)
{
    for (int c = 1; c < 256; c++) {
        for (size_t at = 0; at < 19; at++) {
            struct topk *t = topk_new(4);
            struct topk_item items[4];
            char key[20], want[20];
            memset(key, 'q', 19);
            key[19] = '\0';
            key[at] = (char)c;
            memcpy(want, key, sizeof(want));
            want[at] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            topk_add(t, key, 19, 1);
            topk_add(t, want, 19, 1);
            cr_assert_eq(topk_list(t, items, 4), 1, "byte 0x%02x at %zu", c, at);
            cr_assert(memcmp(items[0].key, want, 20) == 0, "byte 0x%02x at %zu", c, at);
            cr_assert_eq(items[0].count, 2);
            topk_free(t);
        }
    }
}

/* Which key gives its place up when several share the smallest count is decided by where they
 * sit in the heap: the one at the root. Pinned here for two capacities, an add at a time. */
static void
expect_keys(struct topk *t, const char *want)
{
    struct topk_item items[8];
    char got[64] = "";
    size_t n = topk_list(t, items, 8);

    for (size_t i = 0; i < n; i++) {
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s:%llu/%llu", i ? " " : "",
                 items[i].key, (unsigned long long)items[i].count,
                 (unsigned long long)items[i].error);
    }
    cr_assert_str_eq(got, want);
}

Test(topk, eviction_order_on_ties)
{
    static const char *const three[] = {
        "d:2/1 b:1/0 c:1/0", "d:2/1 e:2/1 c:1/0", "d:2/1 e:2/1 f:2/1",
        "g:3/2 d:2/1 e:2/1", "g:3/2 h:3/2 e:2/1",
    };
    static const char *const four[] = {
        "e:2/1 b:1/0 c:1/0 d:1/0",
        "e:2/1 f:2/1 c:1/0 d:1/0",
        "e:2/1 f:2/1 g:2/1 c:1/0",
        "e:2/1 f:2/1 g:2/1 h:2/1",
    };
    const char *keys = "abcdefgh";
    struct topk *t = topk_new(3);

    for (int i = 0; i < 3; i++) {
        topk_add(t, keys + i, 1, 1);
    }
    for (int i = 3; i < 8; i++) {
        topk_add(t, keys + i, 1, 1);
        expect_keys(t, three[i - 3]);
    }
    topk_free(t);
    t = topk_new(4);
    for (int i = 0; i < 4; i++) {
        topk_add(t, keys + i, 1, 1);
    }
    for (int i = 4; i < 8; i++) {
        topk_add(t, keys + i, 1, 1);
        expect_keys(t, four[i - 4]);
    }
    topk_free(t);
}

/* FNV-1a of a table's list (keys, counts and error bounds, in order) and total. */
static uint64_t
list_digest(const struct topk *t)
{
    static struct topk_item items[1024];
    size_t n = topk_list(t, items, 1024);
    uint64_t h = 1469598103934665603ull;
    uint64_t total = topk_total(t);

    for (size_t i = 0; i < n; i++) {
        uint64_t v[2] = {items[i].count, items[i].error};
        for (size_t k = 0; k <= strlen(items[i].key); k++) {
            h = (h ^ (unsigned char)items[i].key[k]) * 1099511628211ull;
        }
        for (size_t k = 0; k < sizeof(v); k++) {
            h = (h ^ ((const unsigned char *)v)[k]) * 1099511628211ull;
        }
    }
    for (size_t k = 0; k < sizeof(total); k++) {
        h = (h ^ ((const unsigned char *)&total)[k]) * 1099511628211ull;
    }
    return h;
}

/* A long skewed stream with many more distinct keys than room (keys of 1 to 40 bytes, some in
 * upper case, counts of 1 to 4), into two tables merged now and then, one of them reset: the
 * lists must be the ones the space-saving table has always given, down to which of the keys
 * with the smallest count was evicted at each step (a change in the order of the heap's
 * comparisons or in the order topk_merge visits the keys changes the digests). */
static void
digest_stream(size_t cap, unsigned seed, uint64_t want_a, uint64_t want_b)
{
    struct topk *a = topk_new(cap), *b = topk_new(cap);
    char key[48];

    for (int r = 0; r < 60000; r++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % 5000;
        seed = seed * 1103515245u + 12345u;
        k = (unsigned)((uint64_t)k * ((seed >> 8) % 5000) / 5000); /* skewed to small k */
        int len = snprintf(key, sizeof(key), "%u.%.*s", k, (int)(k % 37),
                           "Mail.Example-Host.ORG.and.some.more.bytes");
        struct topk *t = (seed >> 4) % 3 == 0 ? b : a;
        topk_add(t, key, (size_t)len, 1 + (seed >> 20) % 4);
        if (r % 7001 == 7000) {
            topk_merge(a, b);
        }
        if (r % 20011 == 20010) {
            topk_reset(b);
        }
    }
    topk_merge(b, a);
    cr_expect_eq(list_digest(a), want_a, "cap %zu: a %#llx", cap,
                 (unsigned long long)list_digest(a));
    cr_expect_eq(list_digest(b), want_b, "cap %zu: b %#llx", cap,
                 (unsigned long long)list_digest(b));
    topk_free(a);
    topk_free(b);
}

Test(topk, digest_of_evicting_streams)
{
    digest_stream(1, 1, 0xeab7c812694e4b07ull, 0xa59086fb6d466e1full);
    digest_stream(2, 2, 0x21b1f482b89be274ull, 0xe8d280ec31e9227bull);
    digest_stream(5, 3, 0x3ce83ee1e062c0d1ull, 0xf764adae72d36b5dull);
    digest_stream(64, 4, 0x8061919a6c4dace9ull, 0xb9a36f9fa5cbce6dull);
    digest_stream(1000, 5, 0x67ea7dcd4ba4798full, 0x7a415880e8403cc6ull);
}

/* The last bytes of a key are folded as a word too: keys of 1 to 17 bytes (shorter than a word,
 * a word and a tail, two words), every byte value at every place. */
Test(topk, case_folding_every_length)
{
    struct topk *t = topk_new(4);

    for (size_t len = 1; len <= 17; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int c = 1; c < 256; c++) {
                struct topk_item items[4];
                char key[18], want[18];
                memset(key, 'Q', len);
                key[at] = (char)c;
                for (size_t i = 0; i < len; i++) {
                    unsigned char b = (unsigned char)key[i];
                    want[i] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
                }
                want[len] = '\0';
                topk_reset(t);
                topk_add(t, key, len, 1);
                topk_add(t, want, len, 1);
                cr_assert_eq(topk_list(t, items, 4), 1, "byte 0x%02x at %zu of %zu", c, at, len);
                cr_assert(memcmp(items[0].key, want, len + 1) == 0, "byte 0x%02x at %zu of %zu", c,
                          at, len);
                cr_assert_eq(items[0].count, 2);
            }
        }
    }
    topk_free(t);
}

/* A short list is the start of the whole one, for every length: the same keys (the same
 * pointers) in the same order, ties of count by key, and keys that compare equal (they differ
 * only after a NUL byte) in the order the whole list has them. */
Test(topk, short_list_is_start_of_whole)
{
    struct topk *t = topk_new(200);
    static struct topk_item all[200], part[200];
    char key[8];
    size_t n;

    for (unsigned i = 0; i < 600; i++) {
        unsigned k = (i * 7919u) % 150;
        int len = snprintf(key, sizeof(key), "k%u", k % 50);
        if (k >= 100) {
            key[0] = '\0'; /* NUL and digits: equal to one another for strcmp */
        }
        topk_add(t, key, (size_t)len, 1 + (k % 3 == 0));
    }
    n = topk_list(t, all, 200);
    cr_assert_eq(n, 100); /* k0 .. k49, and NUL 0 .. 49 */
    for (size_t max = 0; max <= n + 1; max++) {
        size_t m = topk_list(t, part, max);
        cr_assert_eq(m, max < n ? max : n);
        for (size_t i = 0; i < m; i++) {
            cr_assert_eq(part[i].key, all[i].key, "max %zu: item %zu", max, i);
            cr_assert_eq(part[i].count, all[i].count);
            cr_assert_eq(part[i].error, all[i].error);
        }
    }
    topk_free(t);
}
