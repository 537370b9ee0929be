/*
 * fuzz_config.c -- libFuzzer target for the configuration parser (libinih and the option
 * table): the input is a configuration file, loaded with config_load_text and validated.
 *
 * Invariants that do not hold abort(): loading reports failure exactly when it added an error;
 * every error names the file, and every error of loading its line ("fuzz.conf:N: ..."; a
 * missing section has no line); the same text loads twice to the same result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errlist.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
    abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Loads and validates text; returns 1 if it is a valid configuration. */
static int
load(const char *text)
{
    struct config c;
    struct errlist errs = {0};
    int ok;

    if (config_init(&c) != 0) {
        fail("config_init");
    }
    int rc = config_load_text(&c, "fuzz.conf", text, &errs);
    if ((rc == 0) != (errs.total == 0)) {
        fail("config_load_text's result disagrees with its error list");
    }
    for (size_t i = 0; i < errs.n; i++) {
        const char *m = errs.msgs[i];
        if (strncmp(m, "fuzz.conf:", 10) != 0 || m[10] < '0' || m[10] > '9') {
            fprintf(stderr, "fuzz_config: message: %s\n", m);
            fail("an error of loading that does not name the file and line");
        }
    }
    if (rc == 0 && config_validate(&c, &errs) != 0 && errs.total == 0) {
        fail("config_validate failed without an error");
    }
    for (size_t i = 0; i < errs.n; i++) {
        if (strncmp(errs.msgs[i], "fuzz.conf:", 10) != 0) {
            fprintf(stderr, "fuzz_config: message: %s\n", errs.msgs[i]);
            fail("an error that does not name the file");
        }
    }
    ok = errs.total == 0;
    errlist_clear(&errs);
    config_free(&c);
    return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text, as in a file read as lines */
    int first = load(text);
    if (load(text) != first) {
        fail("the same text loads differently twice");
    }
    free(text);
    return 0;
}
