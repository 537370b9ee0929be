/*
 * stats_print.c -- the reports over a batch of counts: the table of 'smtpmon scan' and 'smtpmon
 * query', and the JSON object of scan --format json, query --format json and the agent's
 * --output batches. The counts and their order come from the core (stats_collect).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "stats.h"
#include "stats_print.h"

/* Log bytes are not necessarily UTF-8: json.h writes invalid bytes as \udcXX. */
void
stats_json_string(FILE *out, const char *s)
{
    size_t len = strlen(s), done = 0;
    char buf[256];

    fputc('"', out);
    while (done < len) {
        size_t pos = 0;

        done += json_escape(buf, sizeof(buf), &pos, s + done, len - done);
        fwrite(buf, 1, pos, out);
    }
    fputc('"', out);
}

static void
print_json(const struct stats *st, const struct ruleset *rs, size_t top, FILE *out)
{
    char sep = '{';

#define TOTAL_JSON(f, json, redis, head, hsep, what)                                               \
    fprintf(out, "%c\"" json "\":%llu", sep, (unsigned long long)st->f);                           \
    sep = ',';
    STATS_TOTALS(TOTAL_JSON)
#undef TOTAL_JSON
    if (st->first_time >= 0) {
        fprintf(out, ",\"first_time\":%lld,\"last_time\":%lld", (long long)st->first_time,
                (long long)st->last_time);
    }
    fputs(",\"by\":{", out);
    for (int d = 0; d < DIM__N; d++) {
        struct stats_kvlist l = {0};
        stats_collect(st, rs, (enum stats_dim)d, top, &l);
        fprintf(out, "%s\"%s\":{", d ? "," : "", stats_dim_name((enum stats_dim)d));
        for (size_t i = 0; i < l.n; i++) {
            if (i) {
                fputc(',', out);
            }
            stats_json_string(out, l.v[i].key);
            fprintf(out, ":%llu", (unsigned long long)l.v[i].n);
        }
        fputc('}', out);
        free(l.v);
    }
    fputs("},\"unmatched_samples\":[", out);
    for (size_t i = 0; i < st->nsamples; i++) {
        if (i) {
            fputc(',', out);
        }
        stats_json_string(out, st->samples[i]);
    }
    fputs("]}\n", out);
}

static void
print_table(const struct stats *st, const struct ruleset *rs, size_t top, FILE *out)
{
    char note[160];

    fprintf(out, "lines %llu, with a code %llu, matched %llu, unmatched with a code %llu",
            (unsigned long long)st->lines, (unsigned long long)st->with_code,
            (unsigned long long)st->matched, (unsigned long long)st->unmatched_with_code);
    if (st->implied || st->invalid || st->mismatch || st->overlong || st->limit_hits) {
        fprintf(out,
                "\nimplied %llu, invalid codes %llu, class mismatches %llu, "
                "overlong lines %llu, match-limit hits %llu",
                (unsigned long long)st->implied, (unsigned long long)st->invalid,
                (unsigned long long)st->mismatch, (unsigned long long)st->overlong,
                (unsigned long long)st->limit_hits);
    }
    fputc('\n', out);
    for (int d = 0; d < DIM__N; d++) {
        struct stats_kvlist l = {0};
        uint64_t total = 0;
        stats_collect(st, rs, (enum stats_dim)d, top, &l);
        if (l.n == 0 || d == DIM_RULE) {
            free(l.v);
            continue;
        }
        for (size_t i = 0; i < l.n; i++) {
            total += l.v[i].n;
        }
        fprintf(out, "\n%s\n", stats_dim_title((enum stats_dim)d));
        size_t limit = (d == DIM_STATUS || d == DIM_REPLY || d == DIM_SUBJECT) ? top : l.n;
        uint64_t rest = 0;
        for (size_t i = 0; i < l.n; i++) {
            if (i >= limit) {
                rest += l.v[i].n;
                continue;
            }
            const char *kn = stats_key_note((enum stats_dim)d, l.v[i].key, note, sizeof(note));
            fprintf(out, "  %-28s %10llu %5.1f%%%s%s\n", l.v[i].key, (unsigned long long)l.v[i].n,
                    total ? 100.0 * (double)l.v[i].n / (double)total : 0.0, kn[0] ? "  " : "", kn);
        }
        if (rest > 0) {
            fprintf(out, "  %-28s %10llu %5.1f%%\n", "(others)", (unsigned long long)rest,
                    100.0 * (double)rest / (double)total);
        }
        free(l.v);
    }
    if (st->nsamples > 0) {
        fprintf(out, "\nlines with a code that no rule matched (samples)\n");
        for (size_t i = 0; i < st->nsamples; i++) {
            fprintf(out, "  %s\n", st->samples[i]);
        }
    }
}

void
stats_print(const struct stats *st, const struct ruleset *rs, enum stats_format fmt, size_t top,
            FILE *out)
{
    if (fmt == STATS_JSON) {
        print_json(st, rs, top, out);
    } else {
        print_table(st, rs, top, out);
    }
}
