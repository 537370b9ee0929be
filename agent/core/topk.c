#include <stdlib.h>
#include <string.h>

#include "topk.h"
#include "words.h"

struct topk_entry {
    char key[TOPK_KEY_MAX];
    uint8_t len;
    uint64_t count;
    uint64_t error;
    uint32_t hash;
    size_t heap; /* position in the min-heap */
};

struct topk {
    struct topk_entry *e;
    size_t cap, n;
    size_t *heap;  /* entry indexes, min count at the root */
    size_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t nslots; /* power of two, >= 2 * cap */
    uint64_t total;
};

/* Eight bytes at a time: keys are domain names, tens of bytes, one per event. Where a key
 * lands in the table decides nothing else (not the order of the lists, not which key is
 * evicted), so any hash of its bytes does. */
static uint32_t
hash_key(const char *k, size_t len)
{
    uint64_t h = words_hash(1469598103934665603ull ^ len, k, len);
    return (uint32_t)(h ^ (h >> 32));
}

struct topk *
topk_new(size_t capacity)
{
    struct topk *t;

    if (capacity == 0 || (t = calloc(1, sizeof(*t))) == NULL) {
        return NULL;
    }
    t->cap = capacity;
    t->nslots = 16;
    while (t->nslots < capacity * 2) {
        t->nslots <<= 1;
    }
    t->e = calloc(capacity, sizeof(*t->e));
    t->heap = calloc(capacity, sizeof(*t->heap));
    t->slots = calloc(t->nslots, sizeof(*t->slots));
    if (t->e == NULL || t->heap == NULL || t->slots == NULL) {
        topk_free(t);
        return NULL;
    }
    return t;
}

void
topk_free(struct topk *t)
{
    if (t == NULL) {
        return;
    }
    free(t->e);
    free(t->heap);
    free(t->slots);
    free(t);
}

void
topk_reset(struct topk *t)
{
    t->n = 0;
    t->total = 0;
    memset(t->slots, 0, t->nslots * sizeof(*t->slots));
}

static void
heap_swap(struct topk *t, size_t a, size_t b)
{
    size_t ea = t->heap[a], eb = t->heap[b];
    t->heap[a] = eb;
    t->heap[b] = ea;
    t->e[eb].heap = a;
    t->e[ea].heap = b;
}

static void
heap_down(struct topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->e[t->heap[l]].count < t->e[t->heap[m]].count) {
            m = l;
        }
        if (r < t->n && t->e[t->heap[r]].count < t->e[t->heap[m]].count) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(t, i, m);
        i = m;
    }
}

static void
heap_up(struct topk *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->e[t->heap[p]].count <= t->e[t->heap[i]].count) {
            return;
        }
        heap_swap(t, i, p);
        i = p;
    }
}

static size_t
slot_find(const struct topk *t, const char *k, size_t len, uint32_t h)
{
    size_t mask = t->nslots - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
        size_t v = t->slots[s];
        if (v == 0) {
            return s;
        }
        const struct topk_entry *e = &t->e[v - 1];
        if (e->hash == h && e->len == len && memcmp(e->key, k, len) == 0) {
            return s;
        }
    }
}

static void
slot_delete(struct topk *t, size_t s)
{
    size_t mask = t->nslots - 1;
    size_t i = s, j = s;

    t->slots[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j] == 0) {
            return;
        }
        size_t home = t->e[t->slots[j] - 1].hash & mask;
        /* move j back to i if its home is not cyclically in (i, j] */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            t->slots[i] = t->slots[j];
            t->slots[j] = 0;
            i = j;
        }
    }
}

static void
add_folded(struct topk *t, const char *key, size_t len, uint64_t n, uint64_t err)
{
    size_t s, idx;
    uint32_t h = hash_key(key, len);

    t->total += n;
    s = slot_find(t, key, len, h);
    if (t->slots[s] != 0) {
        idx = t->slots[s] - 1;
        t->e[idx].count += n;
        t->e[idx].error += err;
        heap_down(t, t->e[idx].heap);
        return;
    }
    uint64_t base = 0;
    if (t->n < t->cap) {
        idx = t->n;
        t->e[idx].heap = t->n;
        t->heap[t->n++] = idx;
    } else {
        idx = t->heap[0];
        base = t->e[idx].count;
        slot_delete(t, slot_find(t, t->e[idx].key, t->e[idx].len, t->e[idx].hash));
        s = slot_find(t, key, len, h);
    }
    struct topk_entry *e = &t->e[idx];
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = (uint8_t)len;
    e->hash = h;
    e->count = base + n;
    e->error = base + err;
    t->slots[s] = idx + 1;
    heap_down(t, e->heap);
    heap_up(t, e->heap);
}

/* ASCII A-Z of the eight bytes of w to a-z, the other bytes as they are: a byte gets 0x20
 * when, its top bit clear, it is at least 'A' and not above 'Z' (adding 0x80 - 'A' and
 * 0x80 - 'Z' - 1 to its low seven bits sets the top bit exactly then, without carries between
 * bytes). */
static uint64_t
lower8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, low7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t x = w & low7;
    uint64_t ge_a = x + ones * (0x80 - 'A');
    uint64_t gt_z = x + ones * (0x80 - 'Z' - 1);
    uint64_t upper = ge_a & ~gt_z & ~w & (ones * 0x80);
    return w | (upper >> 2);
}

void
topk_add(struct topk *t, const char *key, size_t len, uint64_t n)
{
    char folded[TOPK_KEY_MAX + 8];
    size_t i = 0;

    if (len >= TOPK_KEY_MAX) {
        len = TOPK_KEY_MAX - 1;
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        w = lower8(w);
        memcpy(folded + i, &w, 8);
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        folded[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    add_folded(t, folded, len, n, 0);
}

static int
item_cmp(const void *a, const void *b)
{
    const struct topk_item *x = a, *y = b;
    if (x->count != y->count) {
        return x->count < y->count ? 1 : -1;
    }
    return strcmp(x->key, y->key);
}

size_t
topk_list(const struct topk *t, struct topk_item *items, size_t max)
{
    struct topk_item *all = malloc((t->n ? t->n : 1) * sizeof(*all));
    size_t k;

    if (all == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct topk_entry *e = &t->e[i];
        all[i] = (struct topk_item){e->key, e->count, e->error};
    }
    qsort(all, t->n, sizeof(*all), item_cmp);
    k = t->n < max ? t->n : max;
    memcpy(items, all, k * sizeof(*all));
    free(all);
    return k;
}

uint64_t
topk_total(const struct topk *t)
{
    return t->total;
}

void
topk_merge(struct topk *dst, const struct topk *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const struct topk_entry *e = &src->e[i];
        add_folded(dst, e->key, e->len, e->count, e->error);
    }
}
