#include <string.h>

#include "event.h"

static const char *const direction_names[DIR__N] = {
    [DIR_UNKNOWN] = "unknown", [DIR_INBOUND] = "inbound",   [DIR_OUTBOUND] = "outbound",
    [DIR_LOCAL] = "local",     [DIR_INTERNAL] = "internal",
};

static const char *const outcome_names[OUTCOME__N] = {
    [OUTCOME_UNKNOWN] = "unknown",   [OUTCOME_DELIVERED] = "delivered",
    [OUTCOME_DEFERRED] = "deferred", [OUTCOME_BOUNCED] = "bounced",
    [OUTCOME_REJECTED] = "rejected", [OUTCOME_EXPIRED] = "expired",
};

const char *
direction_name(enum smtp_direction d)
{
    return (unsigned)d < DIR__N ? direction_names[d] : "unknown";
}

const char *
outcome_name(enum smtp_outcome o)
{
    return (unsigned)o < OUTCOME__N ? outcome_names[o] : "unknown";
}

static int
name_index(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            return i;
        }
    }
    return -1;
}

int
direction_from_name(const char *s, size_t len)
{
    return name_index(direction_names, DIR__N, s, len);
}

int
outcome_from_name(const char *s, size_t len)
{
    return name_index(outcome_names, OUTCOME__N, s, len);
}

int
event_class(const struct smtp_event *ev)
{
    if (ev->enh_class != 0) {
        return ev->enh_class;
    }
    if (ev->reply != 0) {
        return ev->reply / 100;
    }
    return 0;
}
