/*
 * test_tail_state.c -- unit tests for agent/core/state.c: the cursor file codec (round trip, and
 * corrupt, truncated, garbage or empty files rejected), the atomic save and load, the lock.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "state_file.h"

static struct state
sample_file(void)
{
    struct state s;

    memset(&s, 0, sizeof(s));
    s.kind = STATE_FILE;
    snprintf(s.source, sizeof(s.source), "mail");
    s.seq = 42;
    snprintf(s.path, sizeof(s.path), "/var/log/odd %%name\nwith newline ");
    s.dev = 2049;
    s.ino = 123456789;
    s.offset = 1ULL << 40;
    s.head_len = 1024;
    s.head_fp = 0x0123456789abcdefULL;
    s.marker_len = 256;
    s.marker_fp = 0xfedcba9876543210ULL;
    s.mtime = 1795874581;
    return s;
}

static size_t
encode(const struct state *s, char *buf, size_t cap)
{
    size_t n = state_encode(s, buf, cap);

    cr_assert_lt(n, cap);
    return n;
}

Test(state, round_trip_file)
{
    struct state s = sample_file(), d;
    char buf[STATE_FILE_MAX], err[256];
    size_t n = encode(&s, buf, sizeof(buf));

    cr_assert_eq(state_decode(buf, n, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(memcmp(&s, &d, sizeof(s)), 0);
}

Test(state, round_trip_journal)
{
    struct state s, d;
    char buf[STATE_FILE_MAX], err[256];
    size_t n;

    memset(&s, 0, sizeof(s));
    s.kind = STATE_JOURNAL;
    snprintf(s.source, sizeof(s.source), "journal");
    s.seq = 7;
    snprintf(s.jcursor, sizeof(s.jcursor), "s=0123;i=4d2;b=abc;m=1f;t=5f;x=99");
    n = encode(&s, buf, sizeof(buf));
    cr_assert_eq(state_decode(buf, n, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(memcmp(&s, &d, sizeof(s)), 0);
}

Test(state, small_buffer_reports_length)
{
    struct state s = sample_file();
    char small[16], big[STATE_FILE_MAX];

    cr_assert_eq(state_encode(&s, small, sizeof(small)), state_encode(&s, big, sizeof(big)));
}

static void
expect_rejected(const char *buf, size_t len, const char *why)
{
    struct state d;
    char err[256] = "";

    cr_assert_eq(state_decode(buf, len, &d, err, sizeof(err)), -1, "accepted: %s", why);
    cr_assert_neq(err[0], '\0', "no reason given: %s", why);
}

Test(state, empty)
{
    expect_rejected("", 0, "empty");
}

Test(state, every_truncation_rejected)
{
    struct state s = sample_file();
    char buf[STATE_FILE_MAX];
    size_t n = encode(&s, buf, sizeof(buf));

    for (size_t len = 0; len < n; len++) {
        expect_rejected(buf, len, "truncated");
    }
}

Test(state, every_bit_flip_rejected)
{
    struct state s = sample_file();
    char buf[STATE_FILE_MAX];
    size_t n = encode(&s, buf, sizeof(buf));

    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            char copy[STATE_FILE_MAX];

            memcpy(copy, buf, n);
            copy[i] ^= (char)(1 << bit);
            expect_rejected(copy, n, "bit flip");
        }
    }
}

Test(state, garbage)
{
    char buf[4096];
    unsigned seed = 1;

    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(buf));

        for (size_t i = 0; i < n; i++) {
            buf[i] = (char)rand_r(&seed);
        }
        expect_rejected(buf, n, "random bytes");
    }
    expect_rejected("smtpmon-state 1\n", 16, "magic only");
    expect_rejected("smtpmon-state 2\nsource a\n", 25, "other version");
}

Test(state, trailing_garbage_and_missing_fields)
{
    struct state s = sample_file();
    char buf[STATE_FILE_MAX + 8];
    size_t n = encode(&s, buf, sizeof(buf));

    memcpy(buf + n, "x\n", 2);
    expect_rejected(buf, n + 2, "garbage after the checksum");

    /* A well-formed file (valid checksum) that lacks the offset. */
    struct state j;
    char text[512];
    size_t len;

    memset(&j, 0, sizeof(j));
    j.kind = STATE_JOURNAL;
    snprintf(j.source, sizeof(j.source), "x");
    len = state_encode(&j, text, sizeof(text));
    cr_assert_lt(len, sizeof(text));
    {
        struct state d;
        char err[256];

        /* An empty journal cursor is still a complete record. */
        cr_assert_eq(state_decode(text, len, &d, err, sizeof(err)), 0, "%s", err);
    }
}

Test(state, save_load_atomic)
{
    char dir[] = "/tmp/smtpmon-state-test.XXXXXX";
    char err[256], path[512];
    struct state s = sample_file(), d;
    struct stat st;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(state_load(dir, "mail", &d, err, sizeof(err)), 1, "no file yet");
    cr_assert_eq(state_save(dir, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(state_load(dir, "mail", &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(memcmp(&s, &d, sizeof(s)), 0);
    snprintf(path, sizeof(path), "%s/.mail.cursor.tmp", dir);
    cr_assert_eq(stat(path, &st), -1, "temporary file left behind");

    /* A corrupt file is reported, not trusted. */
    snprintf(path, sizeof(path), "%s/mail.cursor", dir);
    int fd = open(path, O_WRONLY | O_TRUNC);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "smtpmon-state 1\nsource mail\n", 28), 28);
    close(fd);
    cr_assert_eq(state_load(dir, "mail", &d, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "truncated"), "%s", err);

    /* A file of another source is refused. */
    snprintf(s.source, sizeof(s.source), "other");
    cr_assert_eq(state_save(dir, &s, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/other.cursor", dir);
    char path2[512];

    snprintf(path2, sizeof(path2), "%s/mail.cursor", dir);
    cr_assert_eq(rename(path, path2), 0);
    cr_assert_eq(state_load(dir, "mail", &d, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "belongs to source 'other'"), "%s", err);

    unlink(path2);
    snprintf(path, sizeof(path), "%s/lock", dir);
    unlink(path);
    rmdir(dir);
}

Test(state, lock_is_exclusive)
{
    char dir[] = "/tmp/smtpmon-lock-test.XXXXXX";
    char sub[256], path[300];
    int a, b;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/state", dir);
    a = state_lock(sub);
    cr_assert_geq(a, 0, "first lock: %s", strerror(errno));
    b = state_lock(sub);
    cr_assert_eq(b, -1);
    cr_assert_eq(errno, EWOULDBLOCK);
    close(a);
    b = state_lock(sub);
    cr_assert_geq(b, 0, "lock not released with its fd");
    close(b);
    snprintf(path, sizeof(path), "%s/lock", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

Test(state, hash)
{
    cr_assert_eq(state_hash("", 0), 0xcbf29ce484222325ULL);
    cr_assert_eq(state_hash("a", 1), 0xaf63dc4c8601ec8cULL);
    cr_assert_neq(state_hash("ab", 2), state_hash("ba", 2));
}
