#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errlist.h"
#include "log.h"
#include "paths.h"
#include "rules.h"
#include "rules_load.h"

#ifndef SMTPMON_PATTERNS_DIR
#define SMTPMON_PATTERNS_DIR "/usr/share/smtpmon/patterns"
#endif

static int
is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *
paths_patterns_dir(void)
{
    static char buf[PATH_MAX];
    const char *env = getenv("SMTPMON_PATTERNS");
    ssize_t n;
    char *slash;

    if (env != NULL && *env != '\0') {
        return env;
    }
    n = readlink("/proc/self/exe", buf, sizeof(buf) - 16);
    if (n > 0) {
        buf[n] = '\0';
        if ((slash = strrchr(buf, '/')) != NULL) {
            *slash = '\0';
            if ((slash = strrchr(buf, '/')) != NULL) {
                strcpy(slash + 1, "patterns");
                if (is_dir(buf) && access(buf, R_OK) == 0) {
                    struct stat sb;
                    char probe[PATH_MAX + 16];
                    snprintf(probe, sizeof(probe), "%s/postfix.rules", buf);
                    if (stat(probe, &sb) == 0) {
                        return buf;
                    }
                }
            }
        }
    }
    return SMTPMON_PATTERNS_DIR;
}

size_t
paths_pattern_dirs(const char *primary, const char *extra, const char *dirs[2])
{
    size_t n = 0;

    dirs[n++] = primary != NULL ? primary : paths_patterns_dir();
    if (extra != NULL) {
        dirs[n++] = extra;
    } else if (is_dir(PATHS_OVERRIDE_DIR)) {
        dirs[n++] = PATHS_OVERRIDE_DIR;
    }
    return n;
}

struct ruleset *
paths_load_rules(const char *primary, const char *extra, int jit)
{
    const char *dirs[2];
    size_t nd = paths_pattern_dirs(primary, extra, dirs);
    struct errlist errs = {0};
    struct ruleset *rs = ruleset_load(dirs, nd, jit, &errs);

    if (rs == NULL) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msgs[i]);
        }
        if (errs.total > errs.n) {
            fprintf(stderr, "(%zu more errors)\n", errs.total - errs.n);
        }
    } else if (jit && !ruleset_jit(rs)) {
        log_info("patterns: JIT compilation unavailable, using the PCRE2 interpreter");
    }
    errlist_clear(&errs);
    return rs;
}
