#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "json.h"
#include "log.h"
#include "stats_print.h"
#include "state_file.h"
#include "stats_print.h"

struct jsonl {
    struct exporter ex; /* first: the exporter is cast back to its jsonl */
    char *path;
    char *agent_id;
    int fd;
    int regular;
    int failing;
};

int
export_batch_json(const struct batch *b, const char *agent_id, FILE *out)
{
    const struct state *c = &b->cursor;
    const char *sep = "";
    char *counts = NULL;
    size_t clen = 0;
    FILE *mem;

    if ((mem = open_memstream(&counts, &clen)) == NULL) {
        return -1;
    }
    stats_print(&b->st, b->rs, STATS_JSON, 10, mem);
    if (fclose(mem) != 0) {
        free(counts);
        return -1;
    }
    while (clen > 0 && (counts[clen - 1] == '\n' || counts[clen - 1] == ' ')) {
        counts[--clen] = '\0';
    }
    fputs("{\"agent\":", out);
    stats_json_string(out, agent_id);
    fputs(",\"source\":", out);
    stats_json_string(out, c->source);
    fprintf(out, ",\"seq\":%" PRIu64 ",\"sealed_ms\":%" PRId64 ",\"cursor\":{", c->seq,
            b->sealed_ms);
    if (c->kind == STATE_JOURNAL) {
        fputs("\"kind\":\"journal\",\"cursor\":", out);
        stats_json_string(out, c->jcursor);
    } else {
        fputs("\"kind\":\"file\",\"path\":", out);
        stats_json_string(out, c->path);
        fprintf(out,
                ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"start\":%" PRIu64 ",\"offset\":%" PRIu64
                ",\"head_len\":%" PRIu64 ",\"head_fp\":\"%016" PRIx64 "\",\"marker_len\":%" PRIu64
                ",\"marker_fp\":\"%016" PRIx64 "\"",
                c->dev, c->ino, b->start, c->offset, c->head_len, c->head_fp, c->marker_len,
                c->marker_fp);
    }
    fputs("},\"agent_metrics\":{", out);
#define METRIC_JSON(json, in, field, redis_a)                                                      \
    fprintf(out, "%s\"" json "\":%" PRIu64, sep, AGENT_METRIC_VALUE(b, in, field));                \
    sep = ",";
    AGENT_METRICS(METRIC_JSON)
#undef METRIC_JSON
    fputs("},\"counts\":", out);
    fwrite(counts, 1, clen, out);
    fputs("}\n", out);
    free(counts);
    return ferror(out) ? -1 : 0;
}

static int
jsonl_open(struct jsonl *j)
{
    struct stat st;

    if (strcmp(j->path, "-") == 0) {
        j->fd = STDOUT_FILENO;
    } else if ((j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1) {
        return -1;
    }
    j->regular = fstat(j->fd, &st) == 0 && S_ISREG(st.st_mode);
    return 0;
}

static int
jsonl_submit(struct exporter *ex, struct batch *b)
{
    struct jsonl *j = (struct jsonl *)ex;
    char *line = NULL;
    size_t len = 0;
    FILE *mem;
    int rc = -1, saved;

    if (j->fd == -1 && jsonl_open(j) == -1) {
        goto fail;
    }
    if ((mem = open_memstream(&line, &len)) == NULL) {
        goto fail;
    }
    if (export_batch_json(b, j->agent_id, mem) == -1) {
        fclose(mem);
        errno = ENOMEM;
        goto fail;
    }
    if (fclose(mem) != 0) {
        goto fail;
    }
    if (state_write_all(j->fd, line, len) == -1) {
        goto fail;
    }
    if (j->regular && fsync(j->fd) == -1) {
        goto fail;
    }
    rc = 0;
fail:
    saved = errno;
    free(line);
    if (rc == -1) {
        if (!j->failing) {
            log_warn("export: output=%s cannot write batch seq=%" PRIu64 "", j->path,
                     b->cursor.seq);
        }
        j->failing = 1;
        errno = saved == EAGAIN ? EIO : saved;
        return -1;
    }
    if (j->failing) {
        log_info("export: output=%s writing again", j->path);
    }
    j->failing = 0;
    ex->ack(ex->ack_arg, b, 1);
    return 0;
}

static int
jsonl_busy(const struct exporter *ex)
{
    (void)ex;
    return 0;
}

static const char *
jsonl_state(const struct exporter *ex)
{
    return ((const struct jsonl *)ex)->failing ? "failing" : "ok";
}

static void
jsonl_free(struct exporter *ex)
{
    struct jsonl *j = (struct jsonl *)ex;

    if (j->fd > STDERR_FILENO) {
        close(j->fd);
    }
    free(j->path);
    free(j->agent_id);
    free(j);
}

struct exporter *
export_jsonl_new(const char *path, const char *agent_id, export_ack_fn *ack, void *ack_arg)
{
    struct jsonl *j;

    if ((j = calloc(1, sizeof(*j))) == NULL) {
        return NULL;
    }
    j->fd = -1;
    if ((j->path = strdup(path)) == NULL || (j->agent_id = strdup(agent_id)) == NULL) {
        jsonl_free(&j->ex);
        return NULL;
    }
    if (jsonl_open(j) == -1) {
        int saved = errno;

        jsonl_free(&j->ex);
        errno = saved;
        return NULL;
    }
    j->ex.name = "jsonl";
    j->ex.submit = jsonl_submit;
    j->ex.busy = jsonl_busy;
    j->ex.state = jsonl_state;
    j->ex.free = jsonl_free;
    j->ex.ack = ack;
    j->ex.ack_arg = ack_arg;
    return &j->ex;
}

void
export_free(struct exporter *ex)
{
    if (ex != NULL) {
        ex->free(ex);
    }
}
