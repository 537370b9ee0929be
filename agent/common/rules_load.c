/*
 * rules_load.c -- the pattern directories read from disk: each directory's *.rules files in the
 * order of their names, each file's text handed whole to the core's loader (rules.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlist.h"
#include "rules.h"
#include "rules_load.h"

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.rules names of a directory, sorted; NULL with *n 0 when there are none. -1: cannot open. */
static int
list_rules(const char *dir, char ***names, size_t *n)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    size_t cap = 0;

    *names = NULL;
    *n = 0;
    if (dp == NULL) {
        return -1;
    }
    while ((de = readdir(dp)) != NULL) {
        size_t l = strlen(de->d_name);
        char *nm;
        if (l > 6 && strcmp(de->d_name + l - 6, ".rules") == 0 && de->d_name[0] != '.') {
            if (*n == cap) {
                size_t c = cap ? cap * 2 : 16;
                char **v = realloc(*names, c * sizeof(*v));
                if (v == NULL) {
                    continue;
                }
                *names = v;
                cap = c;
            }
            if ((nm = strdup(de->d_name)) != NULL) {
                (*names)[(*n)++] = nm;
            }
        }
    }
    closedir(dp);
    if (*n > 1) {
        qsort(*names, *n, sizeof(**names), name_cmp);
    }
    return 0;
}

/* The whole file; a read error ends the text where it happened, as a short file. */
static char *
read_all(FILE *fp, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0;

    *len = 0;
    for (;;) {
        if (cap - *len < 4096) {
            size_t c = cap ? cap * 2 : 8192;
            char *p = realloc(buf, c);
            if (p == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap = c;
        }
        size_t got = fread(buf + *len, 1, cap - *len, fp);
        *len += got;
        if (got == 0) {
            return buf;
        }
    }
}

struct ruleset *
ruleset_load(const char *const *dirs, size_t ndirs, int use_jit, struct errlist *errs)
{
    struct rules_loader *l = rules_loader_new(use_jit, errs);

    if (l == NULL) {
        return NULL;
    }
    for (size_t d = 0; d < ndirs; d++) {
        char **names;
        size_t n;

        if (list_rules(dirs[d], &names, &n) < 0) {
            errlist_add(errs, dirs[d], 0, "cannot open pattern directory: %s", strerror(errno));
            continue;
        }
        if (n == 0 && d == 0) {
            errlist_add(errs, dirs[d], 0, "no *.rules files in the pattern directory");
        }
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            FILE *fp;
            char *text;
            size_t len;

            snprintf(path, sizeof(path), "%s/%s", dirs[d], names[i]);
            if ((fp = fopen(path, "r")) == NULL) {
                errlist_add(errs, path, 0, "cannot open: %s", strerror(errno));
                continue;
            }
            if ((text = read_all(fp, &len)) == NULL) {
                errlist_add(errs, path, 0, "out of memory");
            } else {
                rules_loader_add(l, path, (int)d, text, len);
                free(text);
            }
            fclose(fp);
        }
        for (size_t i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
    }
    return rules_loader_finish(l);
}
