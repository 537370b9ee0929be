/*
 * test_lists.c -- the blocklist or filter a refusal names (agent/core/lists.c): zones after the
 * phrases MTAs write, lists named in prose, provider codes, and what must name none.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "lists.h"

static const char *
find(const char *text, char *buf, size_t cap)
{
    const char *n;
    size_t len = lists_find(text, strlen(text), &n);

    if (len == 0) {
        return "-";
    }
    snprintf(buf, cap, "%.*s", (int)len, n);
    for (char *c = buf; *c != '\0'; c++) {
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    }
    return buf;
}

Test(lists, named)
{
    static const char *const cases[][2] = {
        {"Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org;",
         "spamhaus-zen"},
        {"Client host [192.0.2.1] blocked using Zen.Spamhaus.ORG.", "spamhaus-zen"},
        {"Rejected: 192.0.2.1 listed at sbl-xbl.spamhaus.org", "spamhaus-sbl-xbl"},
        {"blocked using sbl.spamhaus.org; https://www.spamhaus.org/sbl/query/SBL123",
         "spamhaus-sbl"},
        {"blocked using xbl.spamhaus.org", "spamhaus-xbl"},
        {"Rejected: IP in SpamHaus PBL, see http://www.spamhaus.org/query/bl?ip=192.0.2.1",
         "spamhaus-pbl"},
        {"Helo command [a.example] blocked using dbl.spamhaus.org;", "spamhaus-dbl"},
        {"blocked using Spamhaus. To request removal from this list see "
         "https://www.spamhaus.org/query/ip/192.0.2.1 (AS3130).",
         "spamhaus"},
        {"blocked using bl.spamcop.net", "spamcop"},
        {"blocked using b.barracudacentral.org", "barracuda"},
        {"is in a black list at dnsbl.sorbs.net", "sorbs"},
        {"blocked using dnsbl-1.uceprotect.net", "uceprotect-1"},
        {"blocked using dnsbl-3.uceprotect.net", "uceprotect-3"},
        {"DNSLIST (rbl.example.org: listed)", "rbl.example.org"},
        {"rejected found in dnsbl zen.spamhaus.org", "spamhaus-zen"},
        {"badiprbl: ip 192.0.2.1 rbl: bl.example.net", "bl.example.net"},
        {"part of their network is on our block list (S3150).", "microsoft-s3150"},
        {"part of their network is on our block list (S3140).", "microsoft-s3140"},
        {"part of their network is on our block list (S3115).", "microsoft-s3115"},
        {"Access denied, banned sending IP [192.0.2.1].", "microsoft-banned-ip"},
        {"part of their network is on our block list (AS3150). You can also refer",
         "microsoft-as3150"},
        {"451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS843)",
         "microsoft-as843"},
        {"550 SC-001 (BAY004-MC4F49) Unfortunately, messages from 192.0.2.1 weren't sent.",
         "microsoft-sc-001"},
        {"550 5.7.511 Access denied, banned sender[192.0.2.1]. To request removal from this list "
         "please forward this message to delist@microsoft.com",
         "microsoft-banned-sender"},
        {"550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
         "microsoft-traffic-not-accepted"},
        {"421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred", "yahoo-tss04"},
        {"421 4.7.0 [TSS09] All messages from 192.0.2.1 will be permanently deferred",
         "yahoo-tss09"},
        {"421 4.7.0 [TS02] Messages from 192.0.2.1 temporarily deferred", "yahoo-ts02"},
        {"This mail has been blocked because the sender is unauthenticated. - gsmtp", "gmail-auth"},
        {"Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp",
         "gmail-auth"},
        {"does not meet the bulk sender guidelines - gsmtp", "gmail-bulk"},
        {"Unauthenticated email from a.example is not accepted due to domain's DMARC policy. "
         "https://support.google.com/mail/?p=DmarcRejection - gsmtp",
         "gmail-dmarc"},
        {"unusual rate of unsolicited mail ... Bulk Email Senders Guidelines - gsmtp",
         "gmail-rate"},
        {"likely suspicious due to the very low reputation of the sending domain - gsmtp",
         "gmail-reputation"},
        {"Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", "proofpoint"},
        {"Rejected by header based Anti-Spoofing policy - https://community.mimecast.com/",
         "mimecast"},
        {"Poor Reputation Sender. - https://csi.cloudmark.com/en/reset/", "cloudmark"},
    };
    char buf[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_str_eq(find(cases[i][0], buf, sizeof(buf)), cases[i][1], "%s", cases[i][0]);
    }
}

Test(lists, none)
{
    static const char *const cases[] = {
        "",
        "User unknown in virtual mailbox table",
        "blocked using local policy",
        "listed in our directory as inactive",
        "blocked using 192.0.2.1",
        "The recipient's inbox is out of storage space - gsmtp",
        "Message rejected: spam score too high",
        "Our system has detected an issue - gsmtp",
        /* a zone longer than LISTS_NAME_MAX is not taken */
        "blocked using "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
    };
    char buf[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_str_eq(find(cases[i], buf, sizeof(buf)), "-", "%s", cases[i]);
    }
}

/* The edges of the search: a name at the very start or end of the text, for each text length
 * around the 16-byte steps of the pair table, upper-case text, a text shorter than a name. */
Test(lists, edges)
{
    char text[64], buf[128];

    for (size_t pad = 0; pad < 40; pad++) {
        /* "SpamCop" at the end, after pad bytes */
        memset(text, 'x', pad);
        memcpy(text + pad, "SpamCop", 8);
        cr_expect_str_eq(find(text, buf, sizeof(buf)), "spamcop", "%s", text);
        /* at the start, before pad bytes */
        memcpy(text, "SPAMCOP", 7);
        memset(text + 7, 'x', pad);
        text[7 + pad] = '\0';
        cr_expect_str_eq(find(text, buf, sizeof(buf)), "spamcop", "%s", text);
        /* all but the last byte */
        memset(text, 'x', pad);
        memcpy(text + pad, "spamco", 7);
        cr_expect_str_eq(find(text, buf, sizeof(buf)), "-", "%s", text);
    }
    cr_expect_str_eq(find("sorb", buf, sizeof(buf)), "-");
    cr_expect_str_eq(find("s", buf, sizeof(buf)), "-");
    cr_expect_str_eq(find("SORBS", buf, sizeof(buf)), "sorbs");
    /* every pair of a name, not in its order */
    cr_expect_str_eq(find("sorrbs orb", buf, sizeof(buf)), "-");
    /* bytes whose low 7 bits are those of a name's ("spamcop" with the top bit set) */
    cr_expect_str_eq(find("\xf3\xf0\xe1\xed\xe3\xef\xf0", buf, sizeof(buf)), "-");
}

/* Only the first LISTS_TEXT_MAX bytes are searched: a name that ends there is found, one that
 * crosses it is not. */
Test(lists, text_max)
{
    static char text[LISTS_TEXT_MAX + 16];
    char buf[128];

    memset(text, 'x', sizeof(text) - 1);
    memcpy(text + LISTS_TEXT_MAX - 9, "Barracuda", 9);
    cr_expect_str_eq(find(text, buf, sizeof(buf)), "barracuda");
    memset(text, 'x', sizeof(text) - 1);
    memcpy(text + LISTS_TEXT_MAX - 8, "Barracuda", 9);
    cr_expect_str_eq(find(text, buf, sizeof(buf)), "-");
}

/* A search leaves nothing behind for the next: the pairs of one text are not taken for those of
 * another, over more searches than there are stamps. */
Test(lists, many)
{
    char buf[128];

    for (int i = 0; i < 1000; i++) {
        cr_assert_str_eq(find("blocked using zen.spamhaus.org", buf, sizeof(buf)), "spamhaus-zen");
        cr_assert_str_eq(find("zen.spam haus", buf, sizeof(buf)), "-");
        cr_assert_str_eq(find("[TSS04] Messages deferred", buf, sizeof(buf)), "yahoo-tss04");
        cr_assert_str_eq(find("[tss0] 4]", buf, sizeof(buf)), "-");
    }
}

/* A zone is returned inside the text searched, even when the same text was searched before in
 * another buffer; texts of the same length that differ in one byte keep their own answers. */
Test(lists, zone_in_each_text)
{
    static const char *const texts[] = {
        "blocked using bl.example.org; see it",
        "blocked using bl.example.net; see it",
        "listed at dnsbl-1.uceprotect.net x",
        "listed at dnsbl-2.uceprotect.net x",
        "listed at dnsbl-3.uceprotect.net x",
        "listed at dnsbl-4.uceprotect.net x",
        "Microsoft (S3150) says no",
        "Microsoft (S3140) says no",
    };
    static const char *const want[] = {
        "bl.example.org", "bl.example.net", "uceprotect-1",    "uceprotect-2",
        "uceprotect-3",   "uceprotect",     "microsoft-s3150", "microsoft-s3140",
    };
    char a[64], b[64], *bufs[2] = {a, b};

    for (int round = 0; round < 3000; round++) {
        size_t k = (size_t)round * 7 % 8;
        char *t = bufs[round & 1];
        const char *n;
        snprintf(t, 64, "%s", texts[k]);
        size_t len = lists_find(t, strlen(t), &n);
        cr_assert_eq(len, strlen(want[k]), "%s", t);
        cr_assert(strncmp(n, want[k], len) == 0, "%s: %.*s", t, (int)len, n);
        if (k < 2) {
            cr_assert_eq(n, t + 14, "the zone in the text searched: %s", t);
        }
    }
}

/* Every Spamhaus name, in prose and as a zone, in either case; and texts with "spamhaus" broken
 * (the names are skipped together when the text lacks pairs of "spamhaus"). */
Test(lists, spamhaus_names)
{
    static const char *const cases[][2] = {
        {"sbl-xbl.spamhaus", "spamhaus-sbl-xbl"},
        {"zen.spamhaus", "spamhaus-zen"},
        {"sbl.spamhaus", "spamhaus-sbl"},
        {"xbl.spamhaus", "spamhaus-xbl"},
        {"pbl.spamhaus", "spamhaus-pbl"},
        {"dbl.spamhaus", "spamhaus-dbl"},
        {"zrd.spamhaus", "spamhaus-zrd"},
        {"css.spamhaus", "spamhaus-css"},
        {"spamhaus.org/query/dbl", "spamhaus-dbl"},
        {"spamhaus.org/sbl", "spamhaus-sbl"},
        {"spamhaus.org/pbl", "spamhaus-pbl"},
        {"spamhaus.org/xbl", "spamhaus-xbl"},
        {"spamhaus pbl", "spamhaus-pbl"},
        {"spamhaus sbl", "spamhaus-sbl"},
        {"spamhaus xbl", "spamhaus-xbl"},
        {"spamhaus dbl", "spamhaus-dbl"},
        {"spamhaus zen", "spamhaus-zen"},
        {"spamhaus", "spamhaus"},
        {"SpamHaus", "spamhaus"},
        {"spam haus", "-"},
        {"spamhau s", "-"},
        {"s pamhaus", "-"},
        {"spamhuas mh au", "-"},
    };
    char text[128], buf[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "IP is in %s, sorry", cases[i][0]);
        cr_expect_str_eq(find(text, buf, sizeof(buf)), cases[i][1], "%s", text);
        if (strchr(cases[i][0], ' ') == NULL && strchr(cases[i][0], '/') == NULL &&
            strchr(cases[i][0], '.') != NULL) {
            snprintf(text, sizeof(text), "blocked using %s.org; see it", cases[i][0]);
            cr_expect_str_eq(find(text, buf, sizeof(buf)), cases[i][1], "%s", text);
        }
    }
}

/* The memo answers as the search does. Texts are made of pieces with digits in them, each
 * template filled in with other digits many times: refusals that differ by an address or a
 * count share a memo entry, and those that differ by a digit a name depends on ("[TSS04]",
 * "dnsbl-1.", "(S3150)") must not. */
Test(lists, memo_same_as_search)
{
    static const char *const pieces[] = {
        "blocked using ",
        "listed at ",
        "dnsbl-#.uceprotect.net",
        "(S31#0)",
        "(AS84#)",
        "SC-00# (",
        "[TSS0#]",
        "[TS0#]",
        "[BL2#]",
        "answer/8112#",
        "answer/18813#",
        "?p=ipv#autherror",
        "IPv# sending guidelines",
        "gsmtp",
        "zen.spamhaus.org",
        "bl#.example.org",
        "[###.##.#.###]",
        "Client host ",
        " ",
        "; ",
        "from ###.##.##.##",
        "port ##",
        "abc##",
        "x-##",
        "/##",
        "(##)",
        "Yahoo",
        "mx#.example.com",
        "#",
        "Microsoft",
        "spamhaus.org/sbl",
        "OFR_### [###]",
        "##-##",
        "xxxxxxxxxxxxxxx",
        "https://www.spamhaus.org/query/ip/###.##.#.###",
        "/####",
    };
    const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    unsigned seed = 12345;
    size_t hits = 0;

#define NEXT() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fffu)
    for (int tmpl = 0; tmpl < 2000; tmpl++) {
        size_t pick[8], n = 1 + NEXT() % 8;
        for (size_t i = 0; i < n; i++) {
            pick[i] = NEXT() % npieces;
        }
        for (int fill = 0; fill < 40; fill++) {
            char text[256];
            size_t len = 0;
            for (size_t i = 0; i < n; i++) {
                for (const char *p = pieces[pick[i]]; *p != '\0' && len < 180; p++) {
                    text[len++] = *p == '#' ? (char)('0' + NEXT() % 10) : *p;
                }
            }
            text[len] = '\0';
            const char *a, *b;
            size_t la = lists_find(text, len, &a), lb = lists_search(text, len, &b);
            cr_assert_eq(la, lb, "%s", text);
            if (la > 0) {
                /* the same canonical name, or the zone at the same place of this text */
                cr_assert_eq(a, b, "%s: %.*s, not %.*s", text, (int)la, a, (int)lb, b);
                hits++;
            }
        }
    }
#undef NEXT
    cr_assert_gt(hits, 1000, "most texts name a list: %zu", hits);
}

/* A DNS blocklist's name (which makes a refusal that says nothing else a blocklist one) is told
 * from a receiver's filter or a provider's own code, for names lists_find gives from texts. */
Test(lists, dnsbl_or_filter)
{
    static const struct {
        const char *text;
        int dnsbl;
    } cases[] = {
        {"550 at zen.spamhaus.org", 1},
        {"554 Rejected 203.0.113.13 found in dnsbl.sorbs.net", 1},
        {"554 blocked using b.barracudacentral.org", 1},
        {"550 5.7.1 Service unavailable; client [192.0.2.5] blocked using bl.example-dnsbl.org", 1},
        {"554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=198.51.100.25", 0},
        {"550 Rejected by header based Anti-Spoofing policy - https://community.mimecast.com/x", 0},
        {"550 5.7.1 Unfortunately, messages from [198.51.100.7] weren't sent. (S3150)", 0},
        {"421 4.7.0 [TSS04] Messages from 198.51.100.7 temporarily deferred", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name;
        size_t len = lists_find(cases[i].text, strlen(cases[i].text), &name);
        cr_assert_gt(len, 0, "%s names no list", cases[i].text);
        cr_assert_eq(lists_is_dnsbl(cases[i].text, strlen(cases[i].text), name, len),
                     cases[i].dnsbl, "%s: %.*s", cases[i].text, (int)len, name);
    }
    cr_assert_not(lists_is_dnsbl("x", 1, NULL, 0));
}
