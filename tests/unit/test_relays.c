/*
 * test_relays.c -- the relay named by a delivery line, and the internal relay list.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "relays.h"

static int
internal(const char *list, const char *msg)
{
    struct relays *r = NULL;
    char err[320];
    int v;

    cr_assert_eq(relays_parse(list, &r, err, sizeof(err)), 0, "%s", err);
    v = relays_internal(r, msg, strlen(msg));
    relays_free(r);
    return v;
}

static void
extracted(const char *msg, const char *name, const char *addr)
{
    const char *n, *a;
    size_t nl, al;

    cr_assert_eq(relays_extract(msg, strlen(msg), &n, &nl, &a, &al), 1, "%s", msg);
    cr_expect_eq(nl, strlen(name), "%s: name '%.*s'", msg, (int)nl, n);
    cr_expect_eq(strncmp(n, name, nl), 0, "%s: name '%.*s'", msg, (int)nl, n);
    cr_expect_eq(al, strlen(addr), "%s: addr '%.*s'", msg, (int)al, a);
    cr_expect(al == 0 || strncmp(a, addr, al) == 0, "%s: addr '%.*s'", msg, (int)al, a);
}

Test(relays, extract)
{
    extracted("Q: to=<a@b>, relay=mx.example.org[203.0.113.5]:25, delay=1", "mx.example.org",
              "203.0.113.5");
    extracted("Q: to=<a@b>, relay=none, delay=1, dsn=4.4.1, status=deferred (connect to "
              "mx.example.org[203.0.113.5]:25: Connection refused)",
              "mx.example.org", "203.0.113.5");
    extracted("Q: to=<a@b>, mailer=relay, relay=localhost [127.0.0.1], dsn=2.0.0", "localhost",
              "127.0.0.1");
    extracted("Q: to=<a@b>, relay=[IPv6:2001:db8::1] [IPv6:2001:db8::1], dsn=2.0.0", "",
              "2001:db8::1");
    extracted("1a-2b-3c ** a@b R=r T=t H=filter.example.net [10.1.2.3]: SMTP error",
              "filter.example.net", "10.1.2.3");
    extracted("Q: host mx.example.org[203.0.113.5] said: 550 no", "mx.example.org", "203.0.113.5");
    extracted("Q: to=<a@b>, relay=mx.example.org., dsn=4.4.3", "mx.example.org", "");
}

Test(relays, loopback_always)
{
    cr_assert(internal("", "Q: to=<a@b>, relay=127.0.0.1[127.0.0.1]:10024, delay=1"));
    cr_assert(internal("", "Q: to=<a@b>, relay=127.45.6.7[127.45.6.7]:10024, delay=1"));
    cr_assert(internal("", "Q: to=<a@b>, relay=localhost[::1]:10024, delay=1"));
    cr_assert(internal("", "Q: to=<a@b>, mailer=relay, relay=localhost, dsn=2.0.0"));
    cr_assert(!internal("", "Q: to=<a@b>, relay=mx.example.org[203.0.113.5]:25, delay=1, "
                            "status=bounced (host mx.example.org[203.0.113.5] said: 554 Client "
                            "host [127.0.0.1] blocked)"));
    cr_assert(!internal("", "Q: to=<a@b>, relay=localhost.example.org[203.0.113.5]:25"));
    cr_assert(!internal("", "Q: to=<a@b>, relay=none, delay=1 (Host or domain name not found)"));
    cr_assert(!internal("", "Q: to=<a@b>, relay=128.0.0.1[128.0.0.1]:25"));
}

Test(relays, listed)
{
    const char *l = "10.0.0.0/8 fd00::/8 192.0.2.7 filter.example.net .int.example.net";

    cr_assert(internal(l, "Q: relay=x.example.org[10.200.1.1]:25, delay=1"));
    cr_assert(!internal(l, "Q: relay=x.example.org[11.0.0.1]:25, delay=1"));
    cr_assert(internal(l, "Q: relay=x.example.org[192.0.2.7]:25, delay=1"));
    cr_assert(!internal(l, "Q: relay=x.example.org[192.0.2.8]:25, delay=1"));
    cr_assert(internal(l, "Q: relay=x.example.org[fd12:3456::1]:25, delay=1"));
    cr_assert(!internal(l, "Q: relay=x.example.org[fe80::1]:25, delay=1"));
    cr_assert(internal(l, "Q: relay=FILTER.example.net[198.51.100.1]:25, delay=1"));
    cr_assert(!internal(l, "Q: relay=xfilter.example.net[198.51.100.1]:25, delay=1"));
    cr_assert(internal(l, "Q: relay=a.b.int.example.net[198.51.100.1]:25, delay=1"));
    cr_assert(internal(l, "Q: relay=int.example.net[198.51.100.1]:25, delay=1"));
    cr_assert(!internal(l, "Q: relay=xint.example.net[198.51.100.1]:25, delay=1"));
    cr_assert(internal("0.0.0.0/0", "Q: relay=x[198.51.100.1]:25, delay=1"));
    cr_assert(internal("10.1.2.3/31", "Q: relay=x[10.1.2.2]:25"));
    cr_assert(!internal("10.1.2.3/31", "Q: relay=x[10.1.2.4]:25"));
}

Test(relays, bad_words)
{
    static const char *const bad[] = {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x",
                                      "a..b",        "bad!name",   "123",       "host.",
                                      "1.2.3.4/-1",  "name/8"};
    struct relays *r = NULL;
    char err[320];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(relays_parse(bad[i], &r, err, sizeof(err)), -1, "%s accepted", bad[i]);
        cr_expect_null(r);
        cr_expect_not_null(strstr(err, bad[i]), "%s: %s", bad[i], err);
    }
    cr_assert_eq(relays_parse("  ", &r, err, sizeof(err)), 0);
    cr_assert_null(r);
}

/* The name of a relay is read 16 bytes at a time: every byte value, at every place of a long
 * name (in a block and in the bytes after the last one), ends it exactly when it is not a
 * letter, digit, '-', '.' or '_'. */
Test(relays, name_ends_at_every_byte)
{
    for (int c = 1; c < 256; c++) {
        for (size_t at = 0; at < 40; at++) {
            char msg[128], name[48];
            memset(name, 'k', 40);
            name[40] = '\0';
            name[at] = (char)c;
            snprintf(msg, sizeof(msg), "Q: to=<a@b>, relay=%s", name);
            const char *n, *a;
            size_t nl, al;
            int member = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
            size_t want = member ? 40 : at;
            if (member && c == '.' && at == 39) {
                want = 39; /* a trailing dot is not part of the name */
            }
            int got = relays_extract(msg, strlen(msg), &n, &nl, &a, &al);
            if (want == 0) {
                continue; /* no name: the other keys are tried */
            }
            cr_assert_eq(got, 1, "byte 0x%02x at %zu", c, at);
            cr_assert_eq(nl, want, "byte 0x%02x at %zu: %zu bytes", c, at, nl);
        }
    }
}

/* For relay=none the host comes from "host " or "connect to ": found after false starts of
 * every length ("h", "ho", "hos", "c", "conn", ...) at every offset, not found when cut short
 * at the end, and the first of two is the one taken. */
Test(relays, host_keys_at_every_place)
{
    static const char *const keys[] = {"host ", "connect to "};
    static const char *const starts[] = {"", "h", "ho", "hos", "host", "c", "co", "connect t"};

    for (size_t k = 0; k < 2; k++) {
        for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
            for (size_t pad = 0; pad < 40; pad++) {
                char msg[256];
                int n =
                    snprintf(msg, sizeof(msg),
                             "Q: to=<a@b>, relay=none, %.*s%s%smx%zu[10.0.0.%zu] x %smy[1.1.1.1]",
                             (int)pad, "........................................", starts[s],
                             keys[k], pad, pad, keys[k]);
                const char *nm, *a;
                size_t nl, al;
                char want[16];
                int wl = snprintf(want, sizeof(want), "mx%zu", pad);
                cr_assert_eq(relays_extract(msg, (size_t)n, &nm, &nl, &a, &al), 1, "%s", msg);
                cr_assert_eq(nl, (size_t)wl, "%s", msg);
                cr_assert(memcmp(nm, want, nl) == 0, "%s", msg);
                /* the key cut short at the end of the message: no host */
                n = snprintf(msg, sizeof(msg), "Q: to=<a@b>, relay=none, %.*s%s%.*s", (int)pad,
                             "........................................", starts[s],
                             (int)strlen(keys[k]) - 1, keys[k]);
                cr_assert_eq(relays_extract(msg, (size_t)n, &nm, &nl, &a, &al), 0, "%s", msg);
            }
        }
    }
}

/* A relay group's hop is judged as the whole message judges it: random hops of loopback, listed
 * and other names and addresses, in the forms read_host reads and a few it does not, against
 * each list, with relays_internal of "Q: to=<a@b>, relay=HOP, delay=1" as the reference. */
Test(relays, hop_as_the_message)
{
    static const char *const names[] = {
        "",    "localhost",  "LocalHost.",     "localhostx", "local", "mx.example", "a.mx.example",
        "l!x", "localhost!", "mx_1-2.example", "lo"};
    static const char *const addrs[] = {"127.0.0.1",        "127.9.8.7", "127.x",    "::1",
                                        "IPv6:::1",         "ipv6:::1",  "0:0::1",   "::1x",
                                        "192.0.2.1",        "10.1.2.3",  "fe80::1",  "",
                                        "IPv6:2001:db8::5", "127.",      "1.2.3.4]x"};
    static const char *const lists[] = {"", "10.0.0.0/8", "mx.example", ".example",
                                        "::1/128 192.0.2.0/24"};
    static const char *const gaps[] = {"", " ", "  ", "!"};
    unsigned seed = 1234567;

    for (size_t li = 0; li < sizeof(lists) / sizeof(lists[0]); li++) {
        struct relays *r = NULL;
        char err[320];
        cr_assert_eq(relays_parse(lists[li], &r, err, sizeof(err)), 0, "%s", err);
        for (int k = 0; k < 4000; k++) {
            char hop[128], msg[192];
            seed = seed * 1103515245u + 12345u;
            const char *n = names[(seed >> 8) % (sizeof(names) / sizeof(names[0]))];
            const char *a = addrs[(seed >> 16) % (sizeof(addrs) / sizeof(addrs[0]))];
            const char *g = gaps[(seed >> 24) % (sizeof(gaps) / sizeof(gaps[0]))];
            int bracket = (seed >> 28) % 8 != 0, port = (seed >> 29) % 2;
            snprintf(hop, sizeof(hop), "%s%s%s%s%s%s", n, g, bracket ? "[" : "", a,
                     bracket ? "]" : "", port ? ":25" : "");
            if (hop[0] == '\0') {
                continue;
            }
            snprintf(msg, sizeof(msg), "Q: to=<a@b>, relay=%s, delay=1", hop);
            cr_assert_eq(relays_internal_hop(r, hop, strlen(hop)),
                         relays_internal(r, msg, strlen(msg)), "list '%s', hop '%s'", lists[li],
                         hop);
        }
        relays_free(r);
    }
}
