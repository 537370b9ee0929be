#include <string.h>
#include <time.h>

#include "loghdr.h"
#include "tz.h"

int64_t
tz_local_to_utc(void *arg, int year, int mon, int mday, int hour, int min, int sec)
{
    struct tz_cache *c = arg;
    int ymdh = ((year * 13 + mon) * 32 + mday) * 24 + hour + 1;

    if (ymdh == c->last_ymdh) {
        return c->last_base + min * 60 + sec;
    }
    int64_t days = loghdr_days_from_civil(year, mon, mday);
    int64_t naive = days * 86400 + hour * 3600 + min * 60 + sec;
    int64_t key = days * 24 + hour + 1;
    size_t slot = (size_t)(key % TZ_CACHE);
    struct tm tm;
    time_t t;

    if (c->key[slot] == key) {
        c->last_ymdh = ymdh;
        c->last_base = naive - min * 60 - sec + c->off[slot];
        return naive + c->off[slot];
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_isdst = -1;
    if ((t = mktime(&tm)) == (time_t)-1) {
        return naive;
    }
    c->key[slot] = key;
    c->off[slot] = (int64_t)t - (days * 86400 + hour * 3600);
    c->last_ymdh = ymdh;
    c->last_base = naive - min * 60 - sec + c->off[slot];
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
