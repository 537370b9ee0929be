#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

#define STATE_MAGIC "smtpmon-state 1\n"

uint64_t
state_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(14695981039346656037);

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* CRC-32 (ISO-HDLC, as zlib's crc32()): the check of a state file. */
static uint32_t
crc32_of(const char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned char)p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xffffffffu;
}

struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL, o->len < o->cap ? o->cap - o->len : 0,
                  fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
    }
}

/* Text values are written with '%', control bytes and blanks at the ends escaped as %XX. */
static void
out_escaped(struct out *o, const char *key, const char *s)
{
    size_t n = strlen(s);

    out_printf(o, "%s ", key);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '%' || ch < 0x20 || ch == 0x7f || ((i == 0 || i + 1 == n) && ch == ' ')) {
            out_printf(o, "%%%02X", ch);
        } else {
            out_printf(o, "%c", ch);
        }
    }
    out_printf(o, "\n");
}

size_t
state_encode(const struct state *s, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    uint32_t crc;

    out_printf(&o, "%s", STATE_MAGIC);
    out_escaped(&o, "source", s->source);
    out_printf(&o, "kind %s\n", s->kind == STATE_JOURNAL ? "journal" : "file");
    out_printf(&o, "seq %" PRIu64 "\n", s->seq);
    if (s->kind == STATE_JOURNAL) {
        out_escaped(&o, "jcursor", s->jcursor);
    } else {
        out_escaped(&o, "path", s->path);
        out_printf(&o, "dev %" PRIu64 "\nino %" PRIu64 "\noffset %" PRIu64 "\n", s->dev, s->ino,
                   s->offset);
        out_printf(&o, "head_len %" PRIu64 "\nhead_fp %016" PRIx64 "\n", s->head_len, s->head_fp);
        out_printf(&o, "marker_len %" PRIu64 "\nmarker_fp %016" PRIx64 "\n", s->marker_len,
                   s->marker_fp);
        out_printf(&o, "mtime %" PRId64 "\n", s->mtime);
    }
    if (o.len < cap) {
        crc = crc32_of(buf, o.len);
        out_printf(&o, "crc32 %08lx\n", (unsigned long)crc);
    } else {
        o.len += 15;
    }
    return o.len;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int
unescape(const char *v, size_t len, char *dst, size_t cap)
{
    size_t j = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = v[i];

        if (ch == '%') {
            int hi, lo;

            if (i + 2 >= len || (hi = hexval(v[i + 1])) < 0 || (lo = hexval(v[i + 2])) < 0) {
                return -1;
            }
            ch = (char)(hi * 16 + lo);
            i += 2;
            if (ch == '\0') {
                return -1;
            }
        }
        if (j + 1 >= cap) {
            return -1;
        }
        dst[j++] = ch;
    }
    dst[j] = '\0';
    return 0;
}

static int
parse_u64(const char *v, size_t len, int base, uint64_t *out)
{
    uint64_t x = 0;

    if (len == 0 || len > (base == 16 ? 16u : 20u)) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int d = hexval(v[i]);

        if (d < 0 || d >= base) {
            return -1;
        }
        if (base == 10 && x > (UINT64_MAX - (uint64_t)d) / 10) {
            return -1;
        }
        x = x * (uint64_t)base + (uint64_t)d;
    }
    *out = x;
    return 0;
}

enum {
    F_SOURCE = 1 << 0,
    F_KIND = 1 << 1,
    F_SEQ = 1 << 2,
    F_PATH = 1 << 3,
    F_DEV = 1 << 4,
    F_INO = 1 << 5,
    F_OFFSET = 1 << 6,
    F_HEAD_LEN = 1 << 7,
    F_HEAD_FP = 1 << 8,
    F_MARKER_LEN = 1 << 9,
    F_MARKER_FP = 1 << 10,
    F_MTIME = 1 << 11,
    F_JCURSOR = 1 << 12,
};

#define F_FILE_ALL                                                                                 \
    (F_SOURCE | F_KIND | F_SEQ | F_PATH | F_DEV | F_INO | F_OFFSET | F_HEAD_LEN | F_HEAD_FP |      \
     F_MARKER_LEN | F_MARKER_FP | F_MTIME)
#define F_JOURNAL_ALL (F_SOURCE | F_KIND | F_SEQ | F_JCURSOR)

static int
decode_field(struct state *s, const char *k, size_t klen, const char *v, size_t vlen,
             unsigned *seen)
{
    struct {
        const char *name;
        unsigned flag;
        uint64_t *u;
        int base;
    } nums[] = {
        {"seq", F_SEQ, &s->seq, 10},
        {"dev", F_DEV, &s->dev, 10},
        {"ino", F_INO, &s->ino, 10},
        {"offset", F_OFFSET, &s->offset, 10},
        {"head_len", F_HEAD_LEN, &s->head_len, 10},
        {"head_fp", F_HEAD_FP, &s->head_fp, 16},
        {"marker_len", F_MARKER_LEN, &s->marker_len, 10},
        {"marker_fp", F_MARKER_FP, &s->marker_fp, 16},
    };
    unsigned flag = 0;
    int rc = -1;

#define KEY_IS(name) (klen == strlen(name) && memcmp(k, name, klen) == 0)
    if (KEY_IS("source")) {
        flag = F_SOURCE;
        rc = unescape(v, vlen, s->source, sizeof(s->source));
    } else if (KEY_IS("kind")) {
        flag = F_KIND;
        if (vlen == 4 && memcmp(v, "file", 4) == 0) {
            s->kind = STATE_FILE;
            rc = 0;
        } else if (vlen == 7 && memcmp(v, "journal", 7) == 0) {
            s->kind = STATE_JOURNAL;
            rc = 0;
        }
    } else if (KEY_IS("path")) {
        flag = F_PATH;
        rc = unescape(v, vlen, s->path, sizeof(s->path));
    } else if (KEY_IS("jcursor")) {
        flag = F_JCURSOR;
        rc = unescape(v, vlen, s->jcursor, sizeof(s->jcursor));
    } else if (KEY_IS("mtime")) {
        uint64_t u;
        int neg = vlen > 0 && v[0] == '-';

        flag = F_MTIME;
        if (parse_u64(v + neg, vlen - (size_t)neg, 10, &u) == 0 && u <= (uint64_t)INT64_MAX) {
            s->mtime = neg ? -(int64_t)u : (int64_t)u;
            rc = 0;
        }
    } else {
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
            if (KEY_IS(nums[i].name)) {
                flag = nums[i].flag;
                rc = parse_u64(v, vlen, nums[i].base, nums[i].u);
                break;
            }
        }
    }
#undef KEY_IS
    if (flag == 0 || (*seen & flag) != 0) {
        return -1;
    }
    *seen |= flag;
    return rc;
}

int
state_decode(const char *buf, size_t len, struct state *s, char *err, size_t errlen)
{
    size_t magic = strlen(STATE_MAGIC);
    size_t pos;
    unsigned seen = 0;

    memset(s, 0, sizeof(*s));
    if (len == 0) {
        snprintf(err, errlen, "empty state file");
        return -1;
    }
    if (len < magic || memcmp(buf, STATE_MAGIC, magic) != 0) {
        snprintf(err, errlen, "not a state file (bad magic)");
        return -1;
    }
    if (memchr(buf, '\0', len) != NULL) {
        snprintf(err, errlen, "garbage in state file (NUL byte)");
        return -1;
    }
    pos = magic;
    for (;;) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        const char *sp;
        size_t llen;

        if (pos >= len || nl == NULL) {
            snprintf(err, errlen, "truncated state file (no checksum)");
            return -1;
        }
        llen = (size_t)(nl - line);
        sp = memchr(line, ' ', llen);
        if (sp == NULL) {
            snprintf(err, errlen, "garbage in state file at byte %zu", pos);
            return -1;
        }
        if (sp - line == 5 && memcmp(line, "crc32", 5) == 0) {
            uint64_t want;
            uint32_t got = crc32_of(buf, pos);

            if ((size_t)(nl - sp - 1) != 8 || strspn(sp + 1, "0123456789abcdef") < 8 ||
                parse_u64(sp + 1, 8, 16, &want) == -1) {
                snprintf(err, errlen, "bad checksum line");
                return -1;
            }
            if (want != (uint64_t)got) {
                snprintf(err, errlen, "checksum mismatch (stored %08" PRIx64 ", computed %08lx)",
                         want, (unsigned long)got);
                return -1;
            }
            if ((size_t)(nl - buf) + 1 != len) {
                snprintf(err, errlen, "garbage after the checksum");
                return -1;
            }
            break;
        }
        if (decode_field(s, line, (size_t)(sp - line), sp + 1, (size_t)(nl - sp - 1), &seen)) {
            snprintf(err, errlen, "bad or repeated field '%.*s'", (int)(sp - line), line);
            return -1;
        }
        pos = (size_t)(nl - buf) + 1;
    }
    if ((seen & F_KIND) == 0 || (s->kind == STATE_FILE && (seen & F_FILE_ALL) != F_FILE_ALL) ||
        (s->kind == STATE_JOURNAL && (seen & F_JOURNAL_ALL) != F_JOURNAL_ALL)) {
        snprintf(err, errlen, "missing fields in state file");
        return -1;
    }
    if (s->kind == STATE_FILE && (s->head_len > s->offset || s->marker_len > s->offset)) {
        snprintf(err, errlen, "inconsistent state file (fingerprint beyond offset)");
        return -1;
    }
    return 0;
}
