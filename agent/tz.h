/*
 * tz.h -- local civil time to UTC for log timestamps that carry no offset (RFC 3164, Exim).
 *
 * The zone is read once (tz_reload): the TZif file named by TZ (":/path", or a name under
 * /usr/share/zoneinfo or $TZDIR) or /etc/localtime when TZ is unset, its transitions and the POSIX
 * rule of its footer for the times after them. Each distinct hour is converted from those, as
 * mktime(3) with tm_isdst = -1 does, and kept in a small cache. When there is no readable
 * zone file (a POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0", a file with leap seconds, an
 * unreadable file), mktime(3) converts each hour instead.
 */
#ifndef SMTPMON_AGENT_TZ_H
#define SMTPMON_AGENT_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_CACHE 64

struct tz_cache {
    int64_t key[TZ_CACHE]; /* days * 24 + hour, + 1 (0 = empty) */
    int64_t off[TZ_CACHE]; /* UTC - local, seconds */
    int last_ymdh;         /* the hour of the previous call, to skip the date arithmetic */
    int64_t last_base;     /* UTC of that hour at minute 0 */
    unsigned gen;          /* the zone the entries were computed for (0: none yet) */
};

/* A loghdr_local_fn: 'arg' is a struct tz_cache (zeroed before first use). */
int64_t tz_local_to_utc(void *arg, int year, int mon, int mday, int hour, int min, int sec);

/* Year and month (1..12) of a time in the local zone, for RFC 3164 year inference. */
void tz_year_month(int64_t t, int *year, int *mon);

/* Reads the zone again (TZ and the file it names may have changed): at start, before threads
 * convert, and on the agent's reload. The caches see the change at their next conversion. */
void tz_reload(void);

/* "tzif" when the zone comes from a TZif file, "mktime" otherwise. */
const char *tz_source(void);

/* The parser, for tests: a zone from a TZif image (NULL if it is not one this reader takes),
 * UTC - local of a local time given as seconds since the epoch read as UTC, and free. */
struct tz_zone;
struct tz_zone *tz_zone_parse(const unsigned char *buf, size_t len);
int tz_zone_local_to_utc(const struct tz_zone *z, int64_t local, int64_t *utc);
void tz_zone_free(struct tz_zone *z);

#endif
