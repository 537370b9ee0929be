#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "rules.h"
#include "stats.h"

int
stats_init(struct stats *st, size_t nrules)
{
    memset(st, 0, sizeof(*st));
    st->first_time = st->last_time = -1;
    st->nrules = nrules;
    st->rule = calloc(nrules ? nrules : 1, sizeof(*st->rule));
    st->domains = topk_new(STATS_DOMAINS);
    st->lists = topk_new(STATS_LISTS);
    if (st->rule == NULL || st->domains == NULL || st->lists == NULL) {
        stats_free(st);
        return -1;
    }
    return 0;
}

void
stats_free(struct stats *st)
{
    free(st->rule);
    topk_free(st->domains);
    topk_free(st->lists);
    st->rule = NULL;
    st->domains = NULL;
    st->lists = NULL;
}

void
stats_reset(struct stats *st)
{
    uint64_t *rule = st->rule;
    size_t nrules = st->nrules;
    struct topk *domains = st->domains;
    struct topk *lists = st->lists;

    memset(st, 0, sizeof(*st));
    st->first_time = st->last_time = -1;
    st->rule = rule;
    st->nrules = nrules;
    st->domains = domains;
    st->lists = lists;
    memset(rule, 0, (nrules ? nrules : 1) * sizeof(*rule));
    topk_reset(domains);
    topk_reset(lists);
}

/* stats_add_status, inline in stats_add_event: one an event. */
static inline void
status_add(struct stats *st, int cls, int subject, int detail, uint64_t n)
{
    size_t mask = STATS_STATUS_MAX * 2 - 1;
    size_t h = ((size_t)cls * 1000003u + (size_t)subject * 1009u + (size_t)detail) & mask;

    for (;; h = (h + 1) & mask) {
        struct stats_status *s = &st->status[h];
        if (s->cls == 0) {
            if (st->nstatus >= STATS_STATUS_MAX) {
                st->status_other += n;
                return;
            }
            s->cls = (uint16_t)cls;
            s->subject = (uint16_t)subject;
            s->detail = (uint16_t)detail;
            s->n = n;
            st->nstatus++;
            return;
        }
        if (s->cls == cls && s->subject == subject && s->detail == detail) {
            s->n += n;
            return;
        }
    }
}

void
stats_add_status(struct stats *st, int cls, int subject, int detail, uint64_t n)
{
    status_add(st, cls, subject, detail, n);
}

static int
class_slot(int cls)
{
    return cls == 2 ? 0 : cls == 4 ? 1 : cls == 5 ? 2 : -1;
}

void
stats_add_event(struct stats *st, const struct smtp_event *ev)
{
    int cls = event_class(ev);
    int slot = class_slot(cls);

    st->matched++;
    if (ev->flags & EV_IMPLIED) {
        st->implied++;
    }
    if (ev->flags & (EV_REPLY_BAD | EV_ENH_BAD)) {
        st->invalid++;
    }
    if (ev->flags & EV_MISMATCH) {
        st->mismatch++;
    }
    if (ev->time >= 0) {
        if (st->first_time < 0 || ev->time < st->first_time) {
            st->first_time = ev->time;
        }
        if (ev->time > st->last_time) {
            st->last_time = ev->time;
        }
    }
    if (slot >= 0) {
        st->cls[cls]++;
        st->dir_class[ev->direction][slot]++;
    } else {
        st->cls_invalid++;
    }
    if (ev->enh_class != 0) {
        st->subject[class_slot(ev->enh_class)][ev->enh_subject]++;
        st->dir_subject[ev->direction][class_slot(ev->enh_class)][ev->enh_subject]++;
        status_add(st, ev->enh_class, ev->enh_subject, ev->enh_detail, 1);
    } else if (ev->flags & EV_ENH_BAD) {
        st->status_invalid++;
    }
    if (ev->reply != 0) {
        st->reply[ev->reply]++;
    } else if (ev->flags & EV_REPLY_BAD) {
        st->reply_invalid++;
    }
    st->direction[ev->direction]++;
    st->outcome[ev->outcome]++;
    if (ev->reason >= 0 && ev->reason < STATS_REASONS_MAX) {
        st->reason[ev->reason]++;
    } else if (cls == 4 || cls == 5) {
        st->reason_none++;
    }
    if (ev->rule != NULL) {
        size_t r = rule_index(ev->rule); /* in rules.c: one call, not two */
        if (r < st->nrules) {
            st->rule[r]++;
        }
    }
    if (ev->domain.len > 0) {
        topk_add(st->domains, ev->domain.p, ev->domain.len, 1);
    }
    if (ev->list.len > 0) {
        topk_add(st->lists, ev->list.p, ev->list.len, 1);
    }
}

void
stats_add_unmatched(struct stats *st, const char *line, size_t len)
{
    st->unmatched_with_code++;
    if (st->nsamples < STATS_SAMPLES) {
        size_t n = len < STATS_SAMPLE_LEN - 1 ? len : STATS_SAMPLE_LEN - 1;
        memcpy(st->samples[st->nsamples], line, n);
        st->samples[st->nsamples][n] = '\0';
        st->sample_pos[st->nsamples] = st->pos;
        st->nsamples++;
    }
}

void
stats_merge(struct stats *dst, const struct stats *src)
{
#define MERGE(f, json, redis, head, sep, what) dst->f += src->f;
    STATS_TOTALS(MERGE)
#undef MERGE
    if (src->first_time >= 0 && (dst->first_time < 0 || src->first_time < dst->first_time)) {
        dst->first_time = src->first_time;
    }
    if (src->last_time > dst->last_time) {
        dst->last_time = src->last_time;
    }
    for (size_t i = 0; i < 10; i++) {
        dst->cls[i] += src->cls[i];
    }
    dst->cls_invalid += src->cls_invalid;
    for (size_t c = 0; c < 3; c++) {
        for (size_t s = 0; s < 1000; s++) {
            dst->subject[c][s] += src->subject[c][s];
        }
    }
    for (size_t i = 0; i < 1000; i++) {
        dst->reply[i] += src->reply[i];
    }
    dst->reply_invalid += src->reply_invalid;
    dst->status_other += src->status_other;
    dst->status_invalid += src->status_invalid;
    for (size_t i = 0; i < STATS_STATUS_MAX * 2; i++) {
        const struct stats_status *s = &src->status[i];
        if (s->cls != 0) {
            stats_add_status(dst, s->cls, s->subject, s->detail, s->n);
        }
    }
    for (size_t i = 0; i < DIR__N; i++) {
        dst->direction[i] += src->direction[i];
        for (size_t c = 0; c < 3; c++) {
            dst->dir_class[i][c] += src->dir_class[i][c];
            for (size_t j = 0; j < 1000; j++) {
                dst->dir_subject[i][c][j] += src->dir_subject[i][c][j];
            }
        }
    }
    for (size_t i = 0; i < OUTCOME__N; i++) {
        dst->outcome[i] += src->outcome[i];
    }
    for (size_t i = 0; i < STATS_REASONS_MAX; i++) {
        dst->reason[i] += src->reason[i];
    }
    dst->reason_none += src->reason_none;
    for (size_t i = 0; i < dst->nrules && i < src->nrules; i++) {
        dst->rule[i] += src->rule[i];
    }
    topk_merge(dst->domains, src->domains);
    topk_merge(dst->lists, src->lists);
    /* the samples of both in the order of their positions (dst's first on a tie) */
    if (src->nsamples > 0 && dst != src) {
        char samples[STATS_SAMPLES][STATS_SAMPLE_LEN];
        uint64_t pos[STATS_SAMPLES];
        size_t n = 0, i = 0, j = 0;

        while (n < STATS_SAMPLES && (i < dst->nsamples || j < src->nsamples)) {
            int from_dst = j >= src->nsamples ||
                           (i < dst->nsamples && dst->sample_pos[i] <= src->sample_pos[j]);
            const struct stats *s = from_dst ? dst : src;
            size_t k = from_dst ? i++ : j++;

            memcpy(samples[n], s->samples[k], STATS_SAMPLE_LEN);
            pos[n++] = s->sample_pos[k];
        }
        memcpy(dst->samples, samples, n * STATS_SAMPLE_LEN);
        memcpy(dst->sample_pos, pos, n * sizeof(pos[0]));
        dst->nsamples = n;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Output: a list of (key, count) pairs per dimension, printed as JSON or as a table. */

static void
kv_add(struct stats_kvlist *l, const char *key, uint64_t n)
{
    if (n == 0) {
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct stats_kv *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n].key, sizeof(l->v[l->n].key), "%s", key);
    l->v[l->n].n = n;
    l->n++;
}

static int
kv_by_count(const void *a, const void *b)
{
    const struct stats_kv *x = a, *y = b;
    if (x->n != y->n) {
        return x->n < y->n ? 1 : -1;
    }
    return strcmp(x->key, y->key);
}

static int
kv_by_key(const void *a, const void *b)
{
    const struct stats_kv *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static const char *const dim_names[DIM__N] = {
#define DIM_NAME(id, json, redis, on_page) json,
    STATS_DIMS(DIM_NAME)
#undef DIM_NAME
};

const char *const stats_dim_redis[DIM__N] = {
#define DIM_REDIS(id, json, redis, on_page) redis "|",
    STATS_DIMS(DIM_REDIS)
#undef DIM_REDIS
};

const struct stats_total_names stats_redis_totals = {
#define TOTAL_REDIS(f, json, redis, head, sep, what) .f = STATS_TOTALS_REDIS redis,
    STATS_TOTALS(TOTAL_REDIS)
#undef TOTAL_REDIS
};

enum stats_dim
stats_dim_of_field(const char *name, const char **rest)
{
    for (int d = 0; d < DIM__N; d++) {
        size_t n = strlen(stats_dim_redis[d]);

        if (strncmp(name, stats_dim_redis[d], n) == 0) {
            *rest = name + n;
            return (enum stats_dim)d;
        }
    }
    *rest = NULL;
    return DIM__N;
}

const char *
stats_dim_field(char *buf, size_t cap, enum stats_dim d, const char *key)
{
    snprintf(buf, cap, "%s%s", stats_dim_redis[d], key);
    return buf;
}

void
stats_collect(const struct stats *st, const struct ruleset *rs, enum stats_dim d, size_t top,
              struct stats_kvlist *l)
{
    char k[64];
    static const int classes[3] = {2, 4, 5};

    switch (d) {
    case DIM_CLASS:
        for (int c = 0; c < 10; c++) {
            snprintf(k, sizeof(k), "%d", c);
            kv_add(l, k, st->cls[c]);
        }
        kv_add(l, "invalid", st->cls_invalid);
        break;
    case DIM_SUBJECT:
        for (int c = 0; c < 3; c++) {
            for (int s = 0; s < 1000; s++) {
                if (st->subject[c][s] != 0) { /* kv_add skips it: no key to print */
                    snprintf(k, sizeof(k), "%d.%d", classes[c], s);
                    kv_add(l, k, st->subject[c][s]);
                }
            }
        }
        break;
    case DIM_STATUS:
        for (size_t i = 0; i < STATS_STATUS_MAX * 2; i++) {
            const struct stats_status *s = &st->status[i];
            if (s->cls != 0) {
                snprintf(k, sizeof(k), "%u.%u.%u", s->cls, s->subject, s->detail);
                kv_add(l, k, s->n);
            }
        }
        kv_add(l, "other", st->status_other);
        kv_add(l, "invalid", st->status_invalid);
        break;
    case DIM_REPLY:
        for (int r = 0; r < 1000; r++) {
            if (st->reply[r] != 0) {
                snprintf(k, sizeof(k), "%d", r);
                kv_add(l, k, st->reply[r]);
            }
        }
        kv_add(l, "invalid", st->reply_invalid);
        break;
    case DIM_DIRECTION:
        for (int i = 0; i < DIR__N; i++) {
            kv_add(l, direction_name((enum smtp_direction)i), st->direction[i]);
        }
        break;
    case DIM_OUTCOME:
        for (int i = 0; i < OUTCOME__N; i++) {
            kv_add(l, outcome_name((enum smtp_outcome)i), st->outcome[i]);
        }
        break;
    case DIM_REASON:
        for (size_t i = 0; i < ruleset_reason_count(rs) && i < STATS_REASONS_MAX; i++) {
            kv_add(l, ruleset_reason_name(rs, (int)i), st->reason[i]);
        }
        kv_add(l, "none", st->reason_none);
        break;
    case DIM_DIRECTION_CLASS:
        for (int i = 0; i < DIR__N; i++) {
            for (int c = 0; c < 3; c++) {
                snprintf(k, sizeof(k), "%s/%d", direction_name((enum smtp_direction)i), classes[c]);
                kv_add(l, k, st->dir_class[i][c]);
            }
        }
        break;
    case DIM_DIRECTION_SUBJECT:
        for (int i = 0; i < DIR__N; i++) {
            for (int c = 0; c < 3; c++) {
                for (int j = 0; j < 1000; j++) {
                    if (st->dir_subject[i][c][j] != 0) {
                        snprintf(k, sizeof(k), "%s/%d.%d", direction_name((enum smtp_direction)i),
                                 classes[c], j);
                        kv_add(l, k, st->dir_subject[i][c][j]);
                    }
                }
            }
        }
        break;
    case DIM_DOMAIN:
    case DIM_LIST: {
        const struct topk *t = d == DIM_LIST ? st->lists : st->domains;
        struct topk_item items[64];
        size_t n = topk_list(t, items, top < 63 ? top + 1 : 64);
        uint64_t shown = 0;
        size_t listed = 0;
        for (size_t i = 0; i < n && listed < top; i++) {
            /* "other" read back from Redis is the rest of a bucket: it joins the rest here */
            if (strcmp(items[i].key, "other") == 0) {
                continue;
            }
            kv_add(l, items[i].key, items[i].count);
            shown += items[i].count;
            listed++;
        }
        if (topk_total(t) > shown) {
            kv_add(l, "other", topk_total(t) - shown);
        }
        break;
    }
    case DIM_RULE:
        for (size_t i = 0; i < st->nrules; i++) {
            const struct rule *r = ruleset_rule_at(rs, i);
            if (r != NULL) {
                kv_add(l, rule_name(r), st->rule[i]);
            }
        }
        break;
    case DIM__N:
        break;
    }
    if (d == DIM_DOMAIN || d == DIM_LIST) {
        return; /* already ordered, "other" last */
    }
    if (l->n < 2) {
        return;
    }
    qsort(l->v, l->n, sizeof(*l->v),
          (d == DIM_DIRECTION || d == DIM_OUTCOME || d == DIM_CLASS) ? kv_by_key : kv_by_count);
}

const char *
stats_dim_title(enum stats_dim d)
{
    switch (d) {
    case DIM_CLASS:
        return "class";
    case DIM_SUBJECT:
        return "subject (class.subject)";
    case DIM_STATUS:
        return "enhanced status code";
    case DIM_REPLY:
        return "reply code";
    case DIM_DIRECTION:
        return "direction";
    case DIM_OUTCOME:
        return "outcome";
    case DIM_REASON:
        return "reason (failures)";
    case DIM_DIRECTION_CLASS:
        return "direction/class";
    case DIM_DIRECTION_SUBJECT:
        return "direction/class.subject";
    case DIM_DOMAIN:
        return "top recipient domains";
    case DIM_RULE:
        return "rule";
    case DIM_LIST:
        return "blocklists and filters named (failures)";
    case DIM__N:
        break;
    }
    return "";
}

const char *
stats_key_note(enum stats_dim d, const char *key, char *buf, size_t len)
{
    int cls, subject, detail, reply;
    const struct enh_code_info *ei;

    buf[0] = '\0';
    if (d == DIM_CLASS && key[0] >= '0' && key[0] <= '9') {
        const char *n = codes_class_name(key[0] - '0');
        snprintf(buf, len, "%s", n != NULL ? n : "");
    } else if (d == DIM_SUBJECT && sscanf(key, "%d.%d", &cls, &subject) == 2) {
        snprintf(buf, len, "%s", codes_subject_name(subject));
    } else if (d == DIM_STATUS && codes_parse_enh(key, strlen(key), &cls, &subject, &detail) == 0 &&
               (ei = codes_enh_lookup(subject, detail)) != NULL) {
        snprintf(buf, len, "%s", ei->title);
    } else if (d == DIM_REPLY && codes_parse_reply(key, strlen(key), &reply) == 0) {
        const struct reply_code_info *ri = codes_reply_lookup(reply);
        if (ri != NULL) {
            snprintf(buf, len, "%s", ri->meaning);
        } else if (codes_reply_category(reply) != NULL) {
            snprintf(buf, len, "(%s)", codes_reply_category(reply));
        }
    }
    return buf;
}

const char *
stats_dim_name(enum stats_dim d)
{
    return (unsigned)d < DIM__N ? dim_names[d] : "";
}
