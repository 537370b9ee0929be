/*
 * replay.c -- runs the fuzz target on every file of the given directories, so that the corpus
 * replays under gcc with ASan and UBSan (no libFuzzer needed). Each input runs in its own child
 * process: a crash, a sanitizer report or a leak fails that input and the replay goes on.
 * Prints "fuzz replay: N inputs, K crashes"; exits 0 only when K is 0.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;

    if (fp == NULL) {
        return -1;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nb;
            cap = cap ? cap * 2 : 4096;
            if ((nb = realloc(buf, cap)) == NULL) {
                free(buf);
                fclose(fp);
                return -1;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(fp)) {
        free(buf);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    /* an exact-size copy, so that ASan sees a read one byte past the input */
    *data = malloc(len ? len : 1);
    if (*data == NULL) {
        free(buf);
        return -1;
    }
    memcpy(*data, buf, len);
    free(buf);
    *size = len;
    return 0;
}

/* Runs one input in a child; returns 0 if it passed. */
static int
run_one(const char *path)
{
    uint8_t *data;
    size_t size;
    pid_t pid;
    int status;

    if (read_file(path, &data, &size) < 0) {
        fprintf(stderr, "fuzz replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fuzz replay: fork: %s\n", strerror(errno));
        free(data);
        return -1;
    }
    if (pid == 0) {
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        exit(0); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    free(data);
    if (waitpid(pid, &status, 0) < 0) {
        fprintf(stderr, "fuzz replay: waitpid: %s\n", strerror(errno));
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "fuzz replay: CRASH %s (signal %d)\n", path, WTERMSIG(status));
    } else {
        fprintf(stderr, "fuzz replay: CRASH %s (exit status %d)\n", path, WEXITSTATUS(status));
    }
    return -1;
}

int
main(int argc, char **argv)
{
    size_t inputs = 0, crashes = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    for (int a = 1; a < argc; a++) {
        DIR *dp = opendir(argv[a]);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, cap = 0;

        if (dp == NULL) {
            fprintf(stderr, "fuzz replay: %s: %s\n", argv[a], strerror(errno));
            return 2;
        }
        while ((de = readdir(dp)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }
            if (n == cap) {
                char **nn;
                cap = cap ? cap * 2 : 64;
                if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
                    fprintf(stderr, "fuzz replay: out of memory\n");
                    return 2;
                }
                names = nn;
            }
            if ((names[n] = strdup(de->d_name)) == NULL) {
                fprintf(stderr, "fuzz replay: out of memory\n");
                return 2;
            }
            n++;
        }
        closedir(dp);
        if (n > 0) {
            qsort(names, n, sizeof(*names), name_cmp);
        }
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            struct stat sb;

            snprintf(path, sizeof(path), "%s/%s", argv[a], names[i]);
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                inputs++;
                if (run_one(path) != 0) {
                    crashes++;
                }
            }
            free(names[i]);
        }
        free(names);
    }
    printf("fuzz replay: %zu inputs, %zu crashes\n", inputs, crashes);
    return crashes == 0 ? 0 : 1;
}
