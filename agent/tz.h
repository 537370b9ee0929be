/*
 * tz.h -- local civil time to UTC for log timestamps that carry no offset (RFC 3164, Exim),
 * through mktime(3) once per distinct hour (so DST changes are honoured) and a small cache.
 */
#ifndef SMTPMON_AGENT_TZ_H
#define SMTPMON_AGENT_TZ_H

#include <stdint.h>

#define TZ_CACHE 64

struct tz_cache {
    int64_t key[TZ_CACHE]; /* days * 24 + hour, + 1 (0 = empty) */
    int64_t off[TZ_CACHE]; /* UTC - local, seconds */
    int last_ymdh;         /* the hour of the previous call, to skip the date arithmetic */
    int64_t last_base;     /* UTC of that hour at minute 0 */
};

/* A loghdr_local_fn: 'arg' is a struct tz_cache. */
int64_t tz_local_to_utc(void *arg, int year, int mon, int mday, int hour, int min, int sec);

/* Year and month (1..12) of a time in the local zone, for RFC 3164 year inference. */
void tz_year_month(int64_t t, int *year, int *mon);

#endif
