/*
 * alert_rules.c -- the alert rules of the configuration ([alert NAME] sections, or the shipped
 * defaults), checked against the patterns; and the detector of smtpmon scan --alerts, which
 * prints each alert as a JSON line. The agent's delivery of alerts is an exporter
 * (exporters/alerts_out.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_rules.h"
#include "alerts.h"
#include "config.h"
#include "errlist.h"
#include "rules.h"

/* ---------------------------------------------------------------------------------------- */
/* Rules from the configuration */

/* The line of key 'name' in an alert section, or the section's line. */
static unsigned
key_line(const struct config_alert *a, const char *name)
{
    const struct config_option *want = config_option_find("alert", name);
    size_t idx = 0;

    for (const struct config_option *o = config_options(); o->name != NULL && o != want; o++) {
        idx += o->scope == CONFIG_ALERT;
    }
    if (want == NULL || idx >= sizeof(a->lines) / sizeof(a->lines[0]) || a->lines[idx] == 0) {
        return a->line;
    }
    return a->lines[idx];
}

static int
copy_glob(char *dst, size_t cap, const char *src)
{
    if (src == NULL) {
        dst[0] = '\0';
        return 0;
    }
    if (strlen(src) >= cap) {
        return -1;
    }
    snprintf(dst, cap, "%s", src);
    return 0;
}

/* Applies the older 'select = KIND:VALUE' to r. */
static int
apply_select(struct alert_rule *r, const char *sel, const struct ruleset *rs, char *err,
             size_t errlen)
{
    const char *v = strchr(sel, ':');
    size_t klen;

    if (v == NULL || v[1] == '\0') {
        snprintf(err, errlen, "bad select '%s': expected KIND:VALUE", sel);
        return -1;
    }
    klen = (size_t)(v - sel);
    v++;
    if (klen == 7 && strncmp(sel, "outcome", 7) == 0) {
        if ((r->outcome = outcome_from_name(v, strlen(v))) < 0) {
            snprintf(err, errlen, "unknown outcome '%s'", v);
            return -1;
        }
    } else if (klen == 9 && strncmp(sel, "direction", 9) == 0) {
        int d = direction_from_name(v, strlen(v));

        if (d <= 0) {
            snprintf(err, errlen, "unknown direction '%s'", v);
            return -1;
        }
        r->direction = d;
    } else if (klen == 5 && strncmp(sel, "class", 5) == 0) {
        if (strcmp(v, "2") != 0 && strcmp(v, "4") != 0 && strcmp(v, "5") != 0) {
            snprintf(err, errlen, "class must be 2, 4 or 5, not '%s'", v);
            return -1;
        }
        r->cls = v[0] - '0';
    } else if (klen == 5 && strncmp(sel, "reply", 5) == 0) {
        if (copy_glob(r->reply, sizeof(r->reply), v) < 0) {
            snprintf(err, errlen, "select '%s' is too long", sel);
            return -1;
        }
    } else if (klen == 6 && strncmp(sel, "status", 6) == 0) {
        if (copy_glob(r->status, sizeof(r->status), v) < 0) {
            snprintf(err, errlen, "select '%s' is too long", sel);
            return -1;
        }
    } else if (klen == 6 && strncmp(sel, "reason", 6) == 0) {
        if (rs != NULL && (r->reason = ruleset_reason_by_name(rs, v)) < 0) {
            snprintf(err, errlen, "unknown reason '%s'", v);
            return -1;
        }
    } else {
        snprintf(err, errlen, "bad select '%s'", sel);
        return -1;
    }
    return 0;
}

static int
parse_number(const char *s, double max, int percent_ok, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0) {
        return -1;
    }
    if (percent_ok && *end == '%') {
        v /= 100.0;
        end++;
    }
    if (*end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
rule_of(const struct config_alert *a, const struct ruleset *rs, struct alert_rule *r,
        struct errlist *errs)
{
    size_t before = errs->total;
    char err[256];

    alerts_rule_defaults(r);
    snprintf(r->name, sizeof(r->name), "%s", a->name);
    r->direction = a->direction > 0 && a->direction < DIR__N ? a->direction : DIR_UNKNOWN;
    if (copy_glob(r->status, sizeof(r->status), a->status) < 0 ||
        copy_glob(r->reply, sizeof(r->reply), a->reply) < 0 ||
        copy_glob(r->domain, sizeof(r->domain), a->domain) < 0 ||
        copy_glob(r->list, sizeof(r->list), a->list) < 0) {
        errlist_add(errs, a->file, a->line, "alert '%s': a selector is too long", a->name);
    }
    if (a->reason != NULL && rs != NULL &&
        (r->reason = ruleset_reason_by_name(rs, a->reason)) < 0) {
        errlist_add(errs, a->file, key_line(a, "reason"), "alert '%s': unknown reason '%s'",
                    a->name, a->reason);
    }
    if (a->select != NULL && apply_select(r, a->select, rs, err, sizeof(err)) < 0) {
        errlist_add(errs, a->file, key_line(a, "select"), "alert '%s': %s", a->name, err);
    }
    if (a->window % 60000 != 0) {
        errlist_add(errs, a->file, key_line(a, "window"),
                    "alert '%s': window must be whole minutes", a->name);
    }
    r->window_s = a->window / 1000;
    r->min_count = (uint64_t)a->min_count;
    if (key_line(a, "min_count") == a->line && key_line(a, "threshold") != a->line) {
        r->min_count = (uint64_t)a->threshold;
    }
    if (a->factor != NULL && parse_number(a->factor, 1e6, 0, &r->factor) < 0) {
        errlist_add(errs, a->file, key_line(a, "factor"),
                    "alert '%s': factor must be a number from 0 to 1000000, not '%s'", a->name,
                    a->factor);
    }
    if (a->min_share != NULL && parse_number(a->min_share, 1.0, 1, &r->min_share) < 0) {
        errlist_add(errs, a->file, key_line(a, "min_share"),
                    "alert '%s': min_share must be 0..1 or 0%%..100%%, not '%s'", a->name,
                    a->min_share);
    }
    r->min_total = (uint64_t)a->min_events;
    r->cooldown_s = (a->cooldown + 999) / 1000;
    r->recover_after_s = (a->recover_after + 999) / 1000;
    if (a->program != NULL && a->program[0] != '/') {
        errlist_add(errs, a->file, key_line(a, "program"),
                    "alert '%s': program must be an absolute path (it is run without a shell)",
                    a->name);
    }
    return errs->total == before ? 0 : -1;
}

int
alerts_out_rules(const struct config *c, const struct ruleset *rs, struct alert_rule **out,
                 size_t *n, struct errlist *errs)
{
    size_t cnt = c != NULL && c->nalerts > 0 ? c->nalerts : alerts_default_count();
    struct alert_rule *r = calloc(cnt, sizeof(*r));
    int rc = 0;

    if (r == NULL) {
        errlist_add(errs, "alerts", 0, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (c != NULL && c->nalerts > 0) {
            rc |= rule_of(&c->alerts[i], rs, &r[i], errs);
        } else {
            r[i] = *alerts_default_at(i);
        }
    }
    if (rc != 0) {
        free(r);
        return -1;
    }
    *out = r;
    *n = cnt;
    return 0;
}

void
alerts_out_check(const struct config *c, const struct ruleset *rs, struct errlist *errs)
{
    struct alert_rule *r;
    size_t n;

    if (alerts_out_rules(c, rs, &r, &n, errs) == 0) {
        free(r);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* smtpmon scan --alerts */

static void
scan_emit(void *arg, const struct alert *a)
{
    FILE *out = arg;

    fwrite(a->json, 1, a->json_len, out);
    fputc('\n', out);
}

struct alerts *
alerts_out_scan_new(const char *config_file, const struct ruleset *rs, FILE *out)
{
    struct config c;
    struct errlist errs = {0};
    struct alert_rule *rules = NULL;
    size_t n = 0;
    struct alerts *d = NULL;

    if (config_init(&c) < 0) {
        fprintf(stderr, "smtpmon scan: out of memory\n");
        return NULL;
    }
    if ((config_file == NULL || config_load_file(&c, config_file, &errs) == 0) &&
        alerts_out_rules(&c, rs, &rules, &n, &errs) == 0) {
        if ((d = alerts_new(rules, n, rs, NULL, scan_emit, out)) == NULL) {
            fprintf(stderr, "smtpmon scan: cannot set up the alert rules\n");
        }
    }
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "%s\n", errs.msgs[i]);
    }
    errlist_clear(&errs);
    free(rules);
    config_free(&c);
    return d;
}
