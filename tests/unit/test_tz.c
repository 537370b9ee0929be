/*
 * test_tz.c -- unit tests for agent/tz.c: the zone read from its TZif file converts every hour
 * of 2000..2040 as mktime(3) does in zones with DST changes north and south of the equator, a
 * half-hour DST change, a half-hour offset and none; a POSIX TZ string goes through mktime;
 * truncated and damaged TZif images are refused or read without reading past their end.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loghdr.h"
#include "tz.h"

static void
compare_years(const char *tzname, const char *want_source)
{
    struct tz_cache c;
    long n = 0;

    cr_assert_eq(setenv("TZ", tzname, 1), 0);
    tzset();
    tz_reload();
    cr_assert_str_eq(tz_source(), want_source, "TZ=%s read by %s", tzname, tz_source());
    memset(&c, 0, sizeof(c));
    for (int y = 2000; y <= 2040; y++) {
        for (int mo = 1; mo <= 12; mo++) {
            static const int md[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
            int ndays = md[mo - 1];
            if (mo == 2 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
                ndays = 28;
            }
            for (int d = 1; d <= ndays; d++) {
                for (int h = 0; h < 24; h++) {
                    struct tm tm;
                    memset(&tm, 0, sizeof(tm));
                    tm.tm_year = y - 1900;
                    tm.tm_mon = mo - 1;
                    tm.tm_mday = d;
                    tm.tm_hour = h;
                    tm.tm_isdst = -1;
                    int64_t want = (int64_t)mktime(&tm);
                    int64_t got = tz_local_to_utc(&c, y, mo, d, h, 0, 0);
                    cr_assert_eq(got, want,
                                 "TZ=%s %04d-%02d-%02d %02d:00: %lld, mktime %lld (%+lld)", tzname,
                                 y, mo, d, h, (long long)got, (long long)want,
                                 (long long)(got - want));
                    /* the rest of the hour from the cache */
                    got = tz_local_to_utc(&c, y, mo, d, h, 59, 59);
                    cr_assert_eq(got, want + 3599, "TZ=%s %04d-%02d-%02d %02d:59:59", tzname, y, mo,
                                 d, h);
                    n++;
                }
            }
        }
    }
    cr_assert_eq(n, 359424);
}

Test(tz, berlin)
{
    compare_years("Europe/Berlin", "tzif");
}

Test(tz, new_york)
{
    compare_years("America/New_York", "tzif");
}

Test(tz, lord_howe)
{
    compare_years("Australia/Lord_Howe", "tzif");
}

Test(tz, kolkata)
{
    compare_years("Asia/Kolkata", "tzif");
}

Test(tz, utc)
{
    compare_years("UTC", "tzif");
}

Test(tz, southern_hemisphere)
{
    compare_years("America/Santiago", "tzif");
}

Test(tz, zone_file_path)
{
    compare_years(":/usr/share/zoneinfo/Europe/Berlin", "tzif");
}

Test(tz, posix_string_through_mktime)
{
    compare_years("CET-1CEST,M3.5.0,M10.5.0/3", "mktime");
}

Test(tz, empty_tz_is_utc)
{
    struct tz_cache c;

    memset(&c, 0, sizeof(c));
    setenv("TZ", "", 1);
    tzset();
    tz_reload();
    cr_assert_eq(tz_local_to_utc(&c, 2024, 7, 1, 12, 30, 0),
                 loghdr_days_from_civil(2024, 7, 1) * 86400 + 12 * 3600 + 1800);
}

Test(tz, reload_clears_the_cache)
{
    struct tz_cache c;
    int64_t naive = loghdr_days_from_civil(2024, 7, 1) * 86400 + 12 * 3600;

    memset(&c, 0, sizeof(c));
    setenv("TZ", "UTC", 1);
    tz_reload();
    cr_assert_eq(tz_local_to_utc(&c, 2024, 7, 1, 12, 0, 0), naive);
    setenv("TZ", "Europe/Berlin", 1);
    tz_reload();
    cr_assert_eq(tz_local_to_utc(&c, 2024, 7, 1, 12, 0, 0), naive - 7200);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = malloc(1 << 20);

    cr_assert_not_null(fp, "%s", path);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    return buf;
}

Test(tz, damaged_images)
{
    const char *files[] = {"/usr/share/zoneinfo/Europe/Berlin",
                           "/usr/share/zoneinfo/Australia/Lord_Howe", "/usr/share/zoneinfo/UTC"};
    uint64_t rng = 88172645463325252ULL;

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len;
        unsigned char *img = slurp(files[f], &len);
        struct tz_zone *z = tz_zone_parse(img, len);
        int64_t utc;

        cr_assert_not_null(z, "%s", files[f]);
        cr_assert_eq(tz_zone_local_to_utc(z, 1700000000, &utc), 0);
        tz_zone_free(z);
        /* every truncation: each copy on the heap at its exact length, for ASan */
        for (size_t n = 0; n < len; n++) {
            unsigned char *cut = malloc(n + 1);
            memcpy(cut, img, n);
            z = tz_zone_parse(cut, n);
            if (z != NULL) {
                (void)tz_zone_local_to_utc(z, 1700000000, &utc);
                tz_zone_free(z);
            }
            free(cut);
        }
        /* random damage */
        for (int i = 0; i < 20000; i++) {
            unsigned char *bad = malloc(len);
            memcpy(bad, img, len);
            for (int k = 0; k < 1 + i % 4; k++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                bad[rng % len] = (unsigned char)(rng >> 32);
            }
            z = tz_zone_parse(bad, len);
            if (z != NULL) {
                for (int64_t t = 946684800; t < 2240524800; t += 86400 * 37) {
                    (void)tz_zone_local_to_utc(z, t, &utc);
                }
                tz_zone_free(z);
            }
            free(bad);
        }
        free(img);
    }
    cr_assert_null(tz_zone_parse((const unsigned char *)"", 0));
    cr_assert_null(tz_zone_parse((const unsigned char *)"TZif2", 5));
}

Test(tz, unset_tz_reads_etc_localtime)
{
    /* What the agent meets under systemd: no TZ, the zone in /etc/localtime. */
    unsetenv("TZ");
    tzset();
    tz_reload();
    if (access("/etc/localtime", R_OK) == 0) {
        cr_assert_str_eq(tz_source(), "tzif");
    } else {
        cr_assert_str_eq(tz_source(), "mktime");
    }
    struct tz_cache c;
    memset(&c, 0, sizeof(c));
    for (int h = 0; h < 24 * 400; h += 7) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = 2024 - 1900;
        tm.tm_mday = 1 + h / 24;
        tm.tm_hour = h % 24;
        tm.tm_isdst = -1;
        time_t want = mktime(&tm); /* normalises the day of January to a date */
        cr_assert_eq(
            tz_local_to_utc(&c, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, 0, 0),
            (int64_t)want);
    }
}
