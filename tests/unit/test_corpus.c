/*
 * test_corpus.c -- the shipped pattern packs against real MTA logs: the
 * read-only corpus in $SMTPMON_CORPUS (default ../shared/corpus, relative to
 * the project root, which is the tests' working directory). The test is
 * skipped, with a message, when the corpus is absent.
 *
 * For every file of the corpus (except the codes/ folder and README files):
 *   - every line that carries a code (detect_codes() on its message) must be
 * matched by a rule, or be listed in tests/corpus/exceptions.txt with the
 * reason it is not;
 *   - no listed exception may be stale: its line must exist, carry a code and
 * stay unmatched;
 *   - a matched event's reply and enhanced codes, unless implied by a rule
 * default, must appear literally in the line (no false codes). Per-folder
 * figures are printed to stdout; the Exim test-suite logs (exim/testsuite-log/)
 * are counted apart, as their dates are fixed in 1999 and their domains are
 * test domains.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "detect.h"
#include "errlist.h"
#include "event.h"
#include "loghdr.h"
#include "rules.h"
#include "rules_load.h"

#define PATTERNS_DIR "patterns"
#define DEFAULT_CORPUS "../shared/corpus"
#define EXCEPTIONS_FILE "tests/corpus/exceptions.txt"
#define MAX_FAIL_LOG 200
#define MAX_GROUPS 32

struct strvec {
    char **v;
    size_t n;
};

struct exception {
    char *file;
    unsigned line;
    unsigned src_line; /* line in EXCEPTIONS_FILE */
    int seen;          /* the corpus line was read and still needs the exception */
};

struct group {
    char name[64];
    size_t files, lines, with_code, matched, exceptions, implied, ignored;
};

struct corpus_run {
    const char *root;
    struct ruleset *rs;
    struct matcher *m;
    struct exception *exc;
    size_t nexc;
    struct group groups[MAX_GROUPS];
    size_t ngroups;
    size_t failures;
};

/* ---- helpers
 * ----------------------------------------------------------------------------
 */

static void failf(struct corpus_run *cr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
failf(struct corpus_run *cr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    cr->failures++;
    if (cr->failures <= MAX_FAIL_LOG) {
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        cr_log_error("%s", buf);
    }
}

static int
is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void
strvec_push(struct strvec *sv, const char *s)
{
    char **v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
    cr_assert_not_null(v);
    sv->v = v;
    sv->v[sv->n] = strdup(s);
    cr_assert_not_null(sv->v[sv->n]);
    sv->n++;
}

static void
strvec_free(struct strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->v[i]);
    }
    free(sv->v);
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the regular files under root/rel (rel "" for the root), as paths
 * relative to root, leaving out the top-level codes/ folder and README files.
 */
static void
walk(const char *root, const char *rel, struct strvec *out)
{
    char path[4096];
    DIR *dp;
    struct dirent *de;

    snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
    if ((dp = opendir(path)) == NULL) {
        return;
    }
    while ((de = readdir(dp)) != NULL) {
        char sub[4096];
        char full[8192];

        if (de->d_name[0] == '.') {
            continue;
        }
        if (rel[0] == '\0' && strcmp(de->d_name, "codes") == 0) {
            continue;
        }
        if (strncmp(de->d_name, "README", 6) == 0) {
            continue;
        }
        snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        snprintf(full, sizeof(full), "%s/%s", root, sub);
        if (is_dir(full)) {
            walk(root, sub, out);
        } else {
            strvec_push(out, sub);
        }
    }
    closedir(dp);
}

/* The figures' group of a file: its top folder, or "exim/testsuite-log" for the
 * Exim suite. */
static struct group *
group_of(struct corpus_run *cr, const char *rel)
{
    char name[64];
    const char *slash = strchr(rel, '/');
    size_t len = slash != NULL ? (size_t)(slash - rel) : strlen(rel);

    if (strncmp(rel, "exim/testsuite-log/", 19) == 0) {
        len = 18;
    }
    if (len >= sizeof(name)) {
        len = sizeof(name) - 1;
    }
    memcpy(name, rel, len);
    name[len] = '\0';
    for (size_t i = 0; i < cr->ngroups; i++) {
        if (strcmp(cr->groups[i].name, name) == 0) {
            return &cr->groups[i];
        }
    }
    cr_assert_lt(cr->ngroups, MAX_GROUPS);
    memset(&cr->groups[cr->ngroups], 0, sizeof(cr->groups[0]));
    memcpy(cr->groups[cr->ngroups].name, name, len + 1);
    return &cr->groups[cr->ngroups++];
}

static void
load_exceptions(struct corpus_run *cr)
{
    FILE *fp = fopen(EXCEPTIONS_FILE, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned ln = 0;

    cr_assert_not_null(fp, "cannot open %s", EXCEPTIONS_FILE);
    while ((n = getline(&line, &cap, fp)) != -1) {
        char *tab1, *tab2, *end;
        unsigned long num;

        ln++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        tab1 = strchr(line, '\t');
        tab2 = tab1 != NULL ? strchr(tab1 + 1, '\t') : NULL;
        if (tab1 == NULL || tab2 == NULL) {
            failf(cr, "%s:%u: want 'file<TAB>line<TAB>reason'", EXCEPTIONS_FILE, ln);
            continue;
        }
        *tab1 = '\0';
        *tab2 = '\0';
        errno = 0;
        num = strtoul(tab1 + 1, &end, 10);
        if (errno != 0 || *end != '\0' || num == 0 || tab2[1] == '\0') {
            failf(cr, "%s:%u: bad line number or empty reason", EXCEPTIONS_FILE, ln);
            continue;
        }
        for (size_t i = 0; i < cr->nexc; i++) {
            if (cr->exc[i].line == num && strcmp(cr->exc[i].file, line) == 0) {
                failf(cr, "%s:%u: duplicate exception", EXCEPTIONS_FILE, ln);
            }
        }
        struct exception *e = realloc(cr->exc, (cr->nexc + 1) * sizeof(*e));
        cr_assert_not_null(e);
        cr->exc = e;
        cr->exc[cr->nexc].file = strdup(line);
        cr_assert_not_null(cr->exc[cr->nexc].file);
        cr->exc[cr->nexc].line = (unsigned)num;
        cr->exc[cr->nexc].src_line = ln;
        cr->exc[cr->nexc].seen = 0;
        cr->nexc++;
    }
    free(line);
    fclose(fp);
}

static struct exception *
find_exception(struct corpus_run *cr, const char *rel, unsigned ln)
{
    for (size_t i = 0; i < cr->nexc; i++) {
        if (cr->exc[i].line == ln && strcmp(cr->exc[i].file, rel) == 0) {
            return &cr->exc[i];
        }
    }
    return NULL;
}

/* Does the literal text of a code occur in the message? */
static int
occurs(const struct slice *msg, const char *code)
{
    size_t cl = strlen(code);

    if (cl == 0 || cl > msg->len) {
        return 0;
    }
    for (size_t i = 0; i + cl <= msg->len; i++) {
        if (memcmp(msg->p + i, code, cl) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
check_line(struct corpus_run *cr, struct group *g, const char *rel, unsigned ln, const char *line,
           size_t len)
{
    const struct loghdr_ctx ctx = {.ref_year = 2026, .ref_mon = 12};
    struct loghdr h;
    struct smtp_event ev;
    enum match_result r;
    unsigned code;
    struct exception *ex;
    char buf[32];

    loghdr_parse(&ctx, line, len, &h);
    code = detect_codes(h.msg.p, h.msg.len);
    r = matcher_match(cr->m, &h, NULL, &ev);
    ex = find_exception(cr, rel, ln);
    g->lines++;
    if (code != 0) {
        g->with_code++;
    }
    if (r == MATCH_IGNORED) {
        g->ignored++;
    }
    if (r == MATCH_OK) {
        if (code != 0) {
            g->matched++;
        }
        if (ev.flags & EV_IMPLIED) {
            g->implied++;
        } else {
            if (ev.reply != 0) {
                snprintf(buf, sizeof(buf), "%d", ev.reply);
                if (!occurs(&h.msg, buf)) {
                    failf(cr, "%s:%u: false reply code: %s", rel, ln, buf);
                }
            }
            if (ev.enh_class != 0) {
                snprintf(buf, sizeof(buf), "%d.%d.%d", ev.enh_class, ev.enh_subject, ev.enh_detail);
                if (!occurs(&h.msg, buf)) {
                    failf(cr, "%s:%u: false enhanced code: %s", rel, ln, buf);
                }
            }
        }
    }
    if (ex != NULL) {
        ex->seen = 1;
        g->exceptions++;
        if (code == 0) {
            failf(cr,
                  "%s:%u: stale exception (the line carries no code; remove it from "
                  "%s)",
                  rel, ln, EXCEPTIONS_FILE);
        } else if (r == MATCH_OK) {
            failf(cr, "%s:%u: stale exception (now matched by %s)", rel, ln, rule_name(ev.rule));
        } else if (r == MATCH_IGNORED) {
            failf(cr, "%s:%u: stale exception (now matched by an ignore rule)", rel, ln);
        }
        return;
    }
    if (code != 0 && r != MATCH_OK && r != MATCH_IGNORED) {
        char shown[240];
        snprintf(shown, sizeof(shown), "%.*s", (int)(len < 200 ? len : 200), line);
        failf(cr, "%s:%u: line with a code matched by no rule: %s", rel, ln, shown);
    }
}

static void
check_file(struct corpus_run *cr, const char *rel)
{
    char path[8192];
    FILE *fp;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned ln = 0;
    struct group *g = group_of(cr, rel);

    snprintf(path, sizeof(path), "%s/%s", cr->root, rel);
    if ((fp = fopen(path, "r")) == NULL) {
        failf(cr, "%s: cannot open: %s", rel, strerror(errno));
        return;
    }
    g->files++;
    while ((n = getline(&line, &cap, fp)) != -1) {
        ln++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        check_line(cr, g, rel, ln, line, (size_t)n);
    }
    free(line);
    fclose(fp);
}

static void
print_figures(const struct corpus_run *cr)
{
    struct group total = {.name = "total"};

    printf("\ncorpus coverage (%s)\n", cr->root);
    printf("%-20s %6s %7s %10s %8s %8s %10s %8s\n", "folder", "files", "lines", "with code",
           "matched", "ignored", "exceptions", "implied");
    for (size_t i = 0; i < cr->ngroups; i++) {
        const struct group *g = &cr->groups[i];
        printf("%-20s %6zu %7zu %10zu %8zu %8zu %10zu %8zu\n", g->name, g->files, g->lines,
               g->with_code, g->matched, g->ignored, g->exceptions, g->implied);
        total.ignored += g->ignored;
        total.files += g->files;
        total.lines += g->lines;
        total.with_code += g->with_code;
        total.matched += g->matched;
        total.exceptions += g->exceptions;
        total.implied += g->implied;
    }
    printf("%-20s %6zu %7zu %10zu %8zu %8zu %10zu %8zu\n", total.name, total.files, total.lines,
           total.with_code, total.matched, total.ignored, total.exceptions, total.implied);
    printf("(exim/testsuite-log: Exim's regression-suite output, fixed 1999 "
           "dates and test "
           "domains)\n\n");
    fflush(stdout);
}

static int
group_cmp(const void *a, const void *b)
{
    return strcmp(((const struct group *)a)->name, ((const struct group *)b)->name);
}

/* ---- tests
 * ------------------------------------------------------------------------------
 */

TestSuite(corpus);

Test(corpus, coverage)
{
    struct corpus_run cr = {0};
    struct errlist errs = {0};
    const char *dirs[1] = {PATTERNS_DIR};
    struct strvec files = {0};
    const char *env = getenv("SMTPMON_CORPUS");

    cr.root = env != NULL && env[0] != '\0' ? env : DEFAULT_CORPUS;
    if (!is_dir(cr.root)) {
        const char *req = getenv("REQUIRE_CORPUS");
        cr_assert(req == NULL || strcmp(req, "1") != 0, "REQUIRE_CORPUS=1 but no corpus at %s",
                  cr.root);
        cr_skip_test("real-log corpus not found at %s (set SMTPMON_CORPUS to its folder): "
                     "corpus coverage not checked",
                     cr.root);
    }
    cr.rs = ruleset_load(dirs, 1, 1, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        cr_log_error("%s", errs.msgs[i]);
    }
    errlist_clear(&errs);
    cr_assert_not_null(cr.rs, "the shipped patterns do not load (errors above)");
    cr.m = matcher_new(cr.rs);
    cr_assert_not_null(cr.m);
    load_exceptions(&cr);

    walk(cr.root, "", &files);
    cr_assert_gt(files.n, 0, "no files under %s", cr.root);
    qsort(files.v, files.n, sizeof(*files.v), str_cmp);
    for (size_t i = 0; i < files.n; i++) {
        check_file(&cr, files.v[i]);
    }
    for (size_t i = 0; i < cr.nexc; i++) {
        if (!cr.exc[i].seen) {
            failf(&cr, "%s:%u: stale exception: no such corpus file or line", EXCEPTIONS_FILE,
                  cr.exc[i].src_line);
        }
    }
    qsort(cr.groups, cr.ngroups, sizeof(cr.groups[0]), group_cmp);
    print_figures(&cr);
    if (cr.failures > MAX_FAIL_LOG) {
        cr_log_error("... and %zu more failures", cr.failures - MAX_FAIL_LOG);
    }
    cr_expect_eq(cr.failures, 0, "%zu corpus failures (listed above)", cr.failures);

    for (size_t i = 0; i < cr.nexc; i++) {
        free(cr.exc[i].file);
    }
    free(cr.exc);
    strvec_free(&files);
    matcher_free(cr.m);
    ruleset_free(cr.rs);
}
