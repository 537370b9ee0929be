#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loghdr.h"
#include "tz.h"

#define TZ_FILE_MAX (1024 * 1024) /* a TZif file is a few KiB */
#define TZ_TIMES_MAX 65536
#define TZ_OFFSET_MAX (26 * 3600) /* offsets beyond this are refused (RFC 8536: +-25:59:59) */
#define TZ_DIR "/usr/share/zoneinfo"
#define TZ_DEFAULT "/etc/localtime"

/* A date of a POSIX TZ rule: Jn (1..365, no February 29th), n (0..365), Mm.w.d. */
struct tz_date {
    char type; /* 'J', 'n' or 'M' */
    int d, m, w;
    int32_t secs; /* local time of day of the change */
};

struct tz_zone {
    size_t ntimes;
    int64_t *times; /* transitions, ascending */
    uint8_t *idx;   /* type after each transition */
    size_t ntypes;
    int32_t utoff[256]; /* local - UTC */
    uint8_t isdst[256];
    int first_type;           /* before the first transition: the first standard type (as glibc) */
    int rule;                 /* after the last transition: the footer's rule */
    int32_t std_off, dst_off; /* local - UTC */
    int has_dst;
    struct tz_date start, end;
};

static struct tz_zone *zone; /* NULL: mktime */
static unsigned zone_gen;    /* 0 until the first load */
static pthread_once_t zone_once = PTHREAD_ONCE_INIT;

/* ---- the POSIX TZ string of a TZif footer ------------------------------------------------ */

static const char *
parse_name(const char *p)
{
    const char *s = p;

    if (*p == '<') {
        while (*++p != '>') {
            if (*p == '\0') {
                return NULL;
            }
        }
        return p - s >= 4 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        p++;
    }
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hh up to hmax. */
static const char *
parse_hms(const char *p, int hmax, int32_t *out)
{
    int sign = 1, v[3] = {0, 0, 0};

    if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
    }
    for (int i = 0; i < 3; i++) {
        int n = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            n = n * 10 + (*p++ - '0');
            digits++;
        }
        if (digits == 0 || (i > 0 && n > 59) || (i == 0 && n > hmax)) {
            return NULL;
        }
        v[i] = n;
        if (i == 2 || *p != ':') {
            break;
        }
        p++;
    }
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return p;
}

static const char *
parse_num(const char *p, int min, int max, int *out)
{
    int n = 0, digits = 0;

    while (*p >= '0' && *p <= '9' && digits < 4) {
        n = n * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || n < min || n > max) {
        return NULL;
    }
    *out = n;
    return p;
}

static const char *
parse_date(const char *p, struct tz_date *d)
{
    memset(d, 0, sizeof(*d));
    if (*p == 'J') {
        d->type = 'J';
        p = parse_num(p + 1, 1, 365, &d->d);
    } else if (*p == 'M') {
        d->type = 'M';
        if ((p = parse_num(p + 1, 1, 12, &d->m)) == NULL || *p++ != '.' ||
            (p = parse_num(p, 1, 5, &d->w)) == NULL || *p++ != '.') {
            return NULL;
        }
        p = parse_num(p, 0, 6, &d->d);
    } else {
        d->type = 'n';
        p = parse_num(p, 0, 365, &d->d);
    }
    if (p == NULL) {
        return NULL;
    }
    d->secs = 2 * 3600;
    if (*p == '/') {
        p = parse_hms(p + 1, 167, &d->secs);
    }
    return p;
}

static int
parse_rule(struct tz_zone *z, const char *s)
{
    const char *p = parse_name(s);
    int32_t off;

    if (p == NULL || (p = parse_hms(p, 24, &off)) == NULL) {
        return -1;
    }
    z->std_off = -off;
    z->dst_off = z->std_off;
    if (*p == '\0') {
        z->rule = 1;
        return 0;
    }
    if ((p = parse_name(p)) == NULL) {
        return -1;
    }
    z->has_dst = 1;
    z->dst_off = z->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if ((p = parse_hms(p, 24, &off)) == NULL) {
            return -1;
        }
        z->dst_off = -off;
    }
    if (*p == '\0') {
        p = ",M3.2.0,M11.1.0"; /* as glibc, when the rule is left out */
    }
    if (*p++ != ',' || (p = parse_date(p, &z->start)) == NULL || *p++ != ',' ||
        (p = parse_date(p, &z->end)) == NULL || *p != '\0') {
        return -1;
    }
    z->rule = 1;
    return 0;
}

static int
is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* UTC of a rule's change in 'year', the local offset before it being 'off' (glibc's
 * compute_change). */
static int64_t
rule_change(const struct tz_date *d, int year, int32_t off)
{
    static const int mdays[2][12] = {{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
                                     {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}};
    int64_t day = loghdr_days_from_civil(year, 1, 1);

    switch (d->type) {
    case 'J':
        day += d->d - 1 + (d->d >= 60 && is_leap(year) ? 1 : 0);
        break;
    case 'n':
        day += d->d;
        break;
    default: {
        int64_t first = loghdr_days_from_civil(year, d->m, 1);
        int dow = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        int md = d->d - dow;
        int ndays = mdays[is_leap(year)][d->m - 1];

        if (md < 0) {
            md += 7;
        }
        for (int i = 1; i < d->w; i++) {
            if (md + 7 >= ndays) {
                break;
            }
            md += 7;
        }
        day = first + md;
        break;
    }
    }
    return day * 86400 - off + d->secs;
}

/* The year (UTC) of a time. */
static int
utc_year(int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int y = (int)(1970 + days / 366);

    while (loghdr_days_from_civil(y + 1, 1, 1) <= days) {
        y++;
    }
    while (loghdr_days_from_civil(y, 1, 1) > days) {
        y--;
    }
    return y;
}

static int32_t
rule_offset(const struct tz_zone *z, int64_t t)
{
    if (!z->has_dst) {
        return z->std_off;
    }
    int y = utc_year(t);
    int64_t start = rule_change(&z->start, y, z->std_off);
    int64_t end = rule_change(&z->end, y, z->dst_off);
    int dst = start > end ? (t < end || t >= start) : (t >= start && t < end);

    return dst ? z->dst_off : z->std_off;
}

/* local - UTC at the instant t */
static int32_t
zone_offset(const struct tz_zone *z, int64_t t)
{
    if (z->ntimes == 0 || t < z->times[0]) {
        if (z->ntimes == 0 && z->rule) {
            return rule_offset(z, t);
        }
        return z->utoff[z->first_type];
    }
    if (t >= z->times[z->ntimes - 1] && z->rule) {
        return rule_offset(z, t);
    }
    size_t lo = 0, hi = z->ntimes; /* times[lo] <= t < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->times[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return z->utoff[z->idx[lo]];
}

int
tz_zone_local_to_utc(const struct tz_zone *z, int64_t local, int64_t *utc)
{
    /* The offsets in effect around that time: a local time that exists once has one of them;
     * one that exists twice (the clocks went back) gets the earlier instant, as mktime after
     * the hour before it; one in a gap (the clocks went forward) is read with the offset before
     * the gap, as mktime does. */
    int32_t cand[3];
    int64_t best = 0, gap = 0;
    int found = 0, gapped = 0;

    cand[0] = zone_offset(z, local - 86400);
    cand[1] = zone_offset(z, local);
    cand[2] = zone_offset(z, local + 86400);
    for (int i = 0; i < 3; i++) {
        int64_t t = local - cand[i];
        int32_t o = zone_offset(z, t);

        if (o == cand[i]) {
            if (!found || t < best) {
                best = t;
            }
            found = 1;
        } else if (o > cand[i]) {
            /* t lies after a forward change from cand[i]: the gap's reading */
            if (!gapped || t > gap) {
                gap = t;
            }
            gapped = 1;
        }
    }
    if (found) {
        *utc = best;
        return 0;
    }
    if (gapped) {
        *utc = gap;
        return 0;
    }
    return -1;
}

/* ---- the TZif file ------------------------------------------------------------------------- */

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

void
tz_zone_free(struct tz_zone *z)
{
    if (z != NULL) {
        free(z->times);
        free(z->idx);
        free(z);
    }
}

struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int
read_hdr(const unsigned char *p, size_t len, struct tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        return -1;
    }
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > TZ_TIMES_MAX || h->charcnt > 65536 ||
        h->leapcnt > 65536 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
        return -1;
    }
    return 0;
}

static size_t
block_len(const struct tzif_hdr *h, size_t tsize)
{
    return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

struct tz_zone *
tz_zone_parse(const unsigned char *buf, size_t len)
{
    struct tzif_hdr h;
    const unsigned char *p = buf, *end = buf + len;
    size_t tsize = 4;
    struct tz_zone *z;

    if (read_hdr(p, len, &h) < 0) {
        return NULL;
    }
    if (h.version >= '2') {
        size_t skip = 44 + block_len(&h, 4);
        if (skip > len || read_hdr(p + skip, len - skip, &h) < 0) {
            return NULL;
        }
        p += skip;
        tsize = 8;
    }
    p += 44;
    if (h.leapcnt != 0) {
        return NULL; /* "right/" zones count leap seconds: mktime knows how */
    }
    if (block_len(&h, tsize) > (size_t)(end - p)) {
        return NULL;
    }
    if ((z = calloc(1, sizeof(*z))) == NULL) {
        return NULL;
    }
    z->ntimes = h.timecnt;
    z->ntypes = h.typecnt;
    if (z->ntimes > 0 && ((z->times = malloc(z->ntimes * sizeof(*z->times))) == NULL ||
                          (z->idx = malloc(z->ntimes)) == NULL)) {
        tz_zone_free(z);
        return NULL;
    }
    for (size_t i = 0; i < z->ntimes; i++, p += tsize) {
        z->times[i] = tsize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        if (i > 0 && z->times[i] <= z->times[i - 1]) {
            tz_zone_free(z);
            return NULL;
        }
    }
    for (size_t i = 0; i < z->ntimes; i++, p++) {
        if ((z->idx[i] = *p) >= z->ntypes) {
            tz_zone_free(z);
            return NULL;
        }
    }
    z->first_type = -1;
    for (size_t i = 0; i < z->ntypes; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        if (off < -TZ_OFFSET_MAX || off > TZ_OFFSET_MAX || p[4] > 1 || p[5] >= h.charcnt + 1) {
            tz_zone_free(z);
            return NULL;
        }
        z->utoff[i] = off;
        z->isdst[i] = p[4];
        if (z->first_type < 0 && !p[4]) {
            z->first_type = (int)i;
        }
    }
    if (z->first_type < 0) {
        z->first_type = 0;
    }
    p += h.charcnt + h.isstdcnt + h.isutcnt;
    if (tsize == 8 && p < end && *p == '\n') {
        /* the footer: a POSIX TZ string for the times after the last transition */
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        char spec[128];
        size_t n;

        if (nl == NULL || (n = (size_t)(nl - p - 1)) >= sizeof(spec)) {
            tz_zone_free(z);
            return NULL;
        }
        memcpy(spec, p + 1, n);
        spec[n] = '\0';
        if (memchr(spec, '\0', n) != NULL || (n > 0 && parse_rule(z, spec) < 0)) {
            tz_zone_free(z);
            return NULL;
        }
    }
    return z;
}

static struct tz_zone *
zone_load(void)
{
    const char *tz = getenv("TZ");
    char path[4096];
    unsigned char *buf;
    ssize_t n;
    size_t len = 0;
    int fd;
    struct tz_zone *z;

    if (tz == NULL) {
        tz = TZ_DEFAULT;
    } else {
        if (*tz == ':') {
            tz++;
        }
        if (*tz == '\0') {
            return NULL; /* UTC by glibc's reading */
        }
    }
    if (*tz == '/') {
        snprintf(path, sizeof(path), "%s", tz);
    } else {
        if (strstr(tz, "..") != NULL) {
            return NULL;
        }
        const char *dir = getenv("TZDIR"); /* as glibc */
        snprintf(path, sizeof(path), "%s/%s", dir != NULL && *dir != '\0' ? dir : TZ_DIR, tz);
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return NULL; /* a POSIX TZ string, or no zone file: mktime */
    }
    if ((buf = malloc(TZ_FILE_MAX)) == NULL) {
        close(fd);
        return NULL;
    }
    while (len < TZ_FILE_MAX && (n = read(fd, buf + len, TZ_FILE_MAX - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    z = tz_zone_parse(buf, len);
    free(buf);
    return z;
}

void
tz_reload(void)
{
    struct tz_zone *z = zone_load();

    tzset(); /* for localtime_r and the mktime fallback */
    /* Conversions run in the thread that reloads (the agent), or start after (scan). */
    tz_zone_free(zone);
    zone = z;
    zone_gen = zone_gen + 1 == 0 ? 1 : zone_gen + 1;
}

static void
zone_first(void)
{
    if (zone_gen == 0) {
        tz_reload();
    }
}

const char *
tz_source(void)
{
    pthread_once(&zone_once, zone_first);
    return zone != NULL ? "tzif" : "mktime";
}

/* ---- the conversion ------------------------------------------------------------------------ */

int64_t
tz_local_to_utc(void *arg, int year, int mon, int mday, int hour, int min, int sec)
{
    struct tz_cache *c = arg;
    int ymdh = ((year * 13 + mon) * 32 + mday) * 24 + hour + 1;

    if (ymdh == c->last_ymdh && c->gen == zone_gen) {
        return c->last_base + min * 60 + sec;
    }
    pthread_once(&zone_once, zone_first);
    if (c->gen != zone_gen) {
        memset(c->key, 0, sizeof(c->key));
        c->gen = zone_gen;
    }
    int64_t days = loghdr_days_from_civil(year, mon, mday);
    int64_t naive = days * 86400 + hour * 3600 + min * 60 + sec;
    int64_t key = days * 24 + hour + 1;
    size_t slot = (size_t)((uint64_t)key % TZ_CACHE);
    int64_t base = days * 86400 + hour * 3600, t;

    if (c->key[slot] != key) {
        if (zone != NULL) {
            if (tz_zone_local_to_utc(zone, base, &t) < 0) {
                return naive;
            }
        } else {
            struct tm tm;
            time_t tt;

            memset(&tm, 0, sizeof(tm));
            tm.tm_year = year - 1900;
            tm.tm_mon = mon - 1;
            tm.tm_mday = mday;
            tm.tm_hour = hour;
            tm.tm_isdst = -1;
            if ((tt = mktime(&tm)) == (time_t)-1) {
                return naive;
            }
            t = (int64_t)tt;
        }
        c->key[slot] = key;
        c->off[slot] = t - base;
    }
    c->last_ymdh = ymdh;
    c->last_base = base + c->off[slot];
    return naive + c->off[slot];
}

void
tz_year_month(int64_t t, int *year, int *mon)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL) {
        *year = 1970;
        *mon = 1;
        return;
    }
    *year = tm.tm_year + 1900;
    *mon = tm.tm_mon + 1;
}
