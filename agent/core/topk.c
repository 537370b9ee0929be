#include <stdlib.h>
#include <string.h>

#include "topk.h"
#include "words.h"

/* The table is laid out for the cache: an add probes the slots and walks the heap at random
 * places (a relay log has some 27,000 distinct recipient domains a million lines, one add in
 * seven evicts, and an evicting add walks the heap down to its leaves). What those walks read
 * is kept small and apart from the keys: a heap node holds its count and entry (16 bytes, the
 * two children of a node in one 32-byte block), a slot its key's hash and entry (8 bytes).
 * Of the entries, 144 bytes each, only a hit's own key and the evicted one are read. */
struct topk_entry {
    uint32_t hash; /* hash, len and the key's first bytes share a line mostly */
    uint8_t len;
    char key[TOPK_KEY_MAX]; /* NUL-terminated */
    uint64_t error;
};

struct topk_node {
    uint64_t count;
    uint32_t entry;
};

struct topk_slot {
    uint32_t hash;  /* the entry's: compared before its key, and where it belongs */
    uint32_t entry; /* entry index + 1, 0 = empty */
};

struct topk {
    struct topk_entry *e;   /* entries 0 .. n-1; a new key takes the place of the one it evicts */
    struct topk_node *heap; /* min count at the root */
    struct topk_node *heap_mem;
    uint32_t *pos;           /* entry index -> its place in the heap */
    struct topk_slot *slots; /* open addressing */
    size_t cap, n;
    size_t nslots; /* power of two, >= 2 * cap */
    uint64_t total;
};

struct topk *
topk_new(size_t capacity)
{
    struct topk *t;

    if (capacity == 0 || capacity >= UINT32_MAX || (t = calloc(1, sizeof(*t))) == NULL) {
        return NULL;
    }
    t->cap = capacity;
    t->nslots = 16;
    while (t->nslots < capacity * 2) {
        t->nslots <<= 1;
    }
    t->e = calloc(capacity, sizeof(*t->e));
    /* one node before the root: node i lies at 16 * (i + 1) from a 64-byte boundary, so the
     * children 2i + 1 and 2i + 2 that heap_down compares share 32 bytes */
    t->heap_mem = aligned_alloc(64, ((capacity + 1) * sizeof(*t->heap) + 63) & ~(size_t)63);
    t->pos = calloc(capacity, sizeof(*t->pos));
    t->slots = calloc(t->nslots, sizeof(*t->slots));
    if (t->e == NULL || t->heap_mem == NULL || t->pos == NULL || t->slots == NULL) {
        topk_free(t);
        return NULL;
    }
    t->heap = t->heap_mem + 1;
    return t;
}

void
topk_free(struct topk *t)
{
    if (t == NULL) {
        return;
    }
    free(t->e);
    free(t->heap_mem);
    free(t->pos);
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

/* The node at i moves down while its smaller child (the left one on a tie) counts less than it:
 * the comparisons of swapping it down step by step (the left child against it, then the right
 * against the smaller of the two), in one comparison between the children, which picks the
 * child without a branch, and one against the node, which ends the walk. Each node is
 * written once; nothing is written when the node stays. */
static void
heap_down(struct topk *t, size_t i)
{
    struct topk_node *h = t->heap;
    uint32_t *pos = t->pos; /* loaded once: the stores below could be to *t for the compiler */
    struct topk_node x = h[i];
    size_t n = t->n, at = i;

    for (;;) {
        size_t m = 2 * i + 1;
        if (m + 1 < n) {
            m += h[m + 1].count < h[m].count;
        } else if (m >= n) {
            break;
        }
        if (!(h[m].count < x.count)) {
            break;
        }
        h[i] = h[m];
        pos[h[i].entry] = (uint32_t)i;
        i = m;
    }
    if (i != at) {
        h[i] = x;
        pos[x.entry] = (uint32_t)i;
    }
}

static void
heap_up(struct topk *t, size_t i)
{
    struct topk_node *h = t->heap;
    uint32_t *pos = t->pos;
    struct topk_node x = h[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].count <= x.count) {
            break;
        }
        h[i] = h[p];
        pos[h[i].entry] = (uint32_t)i;
        i = p;
    }
    h[i] = x;
    pos[x.entry] = (uint32_t)i;
}

/* The slot holding key, or the empty slot where it would go. An entry is read only when its
 * slot's hash is the key's. */
static size_t
slot_find(const struct topk *t, const char *k, size_t len, uint32_t h)
{
    size_t mask = t->nslots - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
        const struct topk_slot *sl = &t->slots[s];
        if (sl->entry == 0) {
            return s;
        }
        if (sl->hash == h) {
            const struct topk_entry *e = &t->e[sl->entry - 1];
            if (e->len == len && words_equal(e->key, k, len)) {
                return s;
            }
        }
    }
}

/* The slot of entry idx (in the table), found by its index alone, not its key. */
static size_t
slot_of(const struct topk *t, size_t idx)
{
    size_t mask = t->nslots - 1;
    size_t s = t->e[idx].hash & mask;
    while (t->slots[s].entry != idx + 1) {
        s = (s + 1) & mask;
    }
    return s;
}

static void
slot_delete(struct topk *t, size_t s)
{
    size_t mask = t->nslots - 1;
    size_t i = s, j = s;

    t->slots[i].entry = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j].entry == 0) {
            return;
        }
        size_t home = t->slots[j].hash & mask;
        /* move j back to i if its home is not cyclically in (i, j] */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            t->slots[i] = t->slots[j];
            t->slots[j].entry = 0;
            i = j;
        }
    }
}

/* A key not in the table, to go to the empty slot s: into a free entry, or in place of the key
 * with the smallest count (the root), whose count it inherits as its error. Out of line: most
 * adds are of a key in the table. */
static __attribute__((noinline)) void
add_new(struct topk *t, const char *key, size_t len, uint32_t h, size_t s, uint64_t n, uint64_t err)
{
    size_t idx, at;
    uint64_t base = 0;
    int evict = t->n == t->cap;

    if (!evict) {
        idx = at = t->n++;
    } else {
        size_t mask = t->nslots - 1;
        at = 0;
        idx = t->heap[0].entry;
        base = t->heap[0].count;
        slot_delete(t, slot_of(t, idx));
        for (s = h & mask; t->slots[s].entry != 0; s = (s + 1) & mask) {
        }
    }
    struct topk_entry *e = &t->e[idx];
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = (uint8_t)len;
    e->hash = h;
    e->error = base + err;
    t->heap[at] = (struct topk_node){base + n, (uint32_t)idx};
    t->slots[s] = (struct topk_slot){h, (uint32_t)idx + 1};
    /* Down from the root (pos[idx] is 0 already), or up from the last place: the other way
     * would not move it (a node that went down has a smaller count above it; the last place
     * has no children). */
    if (evict) {
        heap_down(t, at);
    } else {
        heap_up(t, at);
    }
}

/* Adds n (with error bound err) to key, len bytes already folded, its hash h. */
static inline void
add_folded(struct topk *t, const char *key, size_t len, uint32_t h, uint64_t n, uint64_t err)
{
    size_t s = slot_find(t, key, len, h);
    size_t idx = t->slots[s].entry;

    t->total += n;
    if (idx == 0) {
        add_new(t, key, len, h, s, n, err);
        return;
    }
    idx--;
    size_t at = t->pos[idx];
    t->heap[at].count += n;
    if (err != 0) {
        t->e[idx].error += err;
    }
    heap_down(t, at);
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

/* Folds and hashes the key in one pass, eight bytes at a time, the last bytes too: a key of
 * eight bytes or more ends with its last eight (folded again where they overlap the word
 * before), a shorter one is read as words_tail reads it. Keys are domain names, tens of bytes,
 * one per event. Where a key lands in the table decides nothing else (not the order of the
 * lists, not which key is evicted), so any hash of its folded bytes does; topk_merge hands the
 * stored hash on. */
void
topk_add(struct topk *t, const char *key, size_t len, uint64_t n)
{
    char folded[TOPK_KEY_MAX + 8];
    size_t i = 0;
    uint64_t h, w;

    if (len >= TOPK_KEY_MAX) {
        len = TOPK_KEY_MAX - 1;
    }
    h = 1469598103934665603ull ^ len;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, key + i, 8);
        w = lower8(w);
        memcpy(folded + i, &w, 8);
        h = words_mix(h, w);
    }
    if (i < len) {
        size_t r = len - i;
        if (len >= 8) {
            memcpy(&w, key + len - 8, 8);
            w = lower8(w);
            memcpy(folded + len - 8, &w, 8);
        } else if (r >= 4) {
            uint32_t a, b;
            w = lower8(words_tail(key, r));
            a = (uint32_t)w;
            b = (uint32_t)(w >> 32);
            memcpy(folded, &a, 4);
            memcpy(folded + r - 4, &b, 4);
        } else {
            w = lower8(words_tail(key, r));
            folded[0] = (char)w;
            folded[r / 2] = (char)(w >> 8);
            folded[r - 1] = (char)(w >> 16);
        }
        h = words_mix(h, w);
    }
    add_folded(t, folded, len, (uint32_t)(h ^ (h >> 32)), n, 0);
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

/* The first max items in the order of item_cmp, by insertion into items: a report asks for
 * the first ten or so of a thousand keys, and most are no better than the last kept (one
 * comparison each), where sorting them all took more than 600,000 instructions. An item goes
 * after those it compares equal to (keys that differ only after a NUL byte), where the merge
 * sort of qsort leaves it. */
static size_t
list_first(const struct topk *t, struct topk_item *items, size_t max)
{
    size_t k = 0;

    for (size_t i = 0; i < t->n; i++) {
        const struct topk_entry *e = &t->e[i];
        struct topk_item it = {e->key, t->heap[t->pos[i]].count, e->error};
        size_t j;
        if (k == max && item_cmp(&it, &items[k - 1]) >= 0) {
            continue;
        }
        j = k < max ? k++ : k - 1;
        for (; j > 0 && item_cmp(&it, &items[j - 1]) < 0; j--) {
            items[j] = items[j - 1];
        }
        items[j] = it;
    }
    return k;
}

size_t
topk_list(const struct topk *t, struct topk_item *items, size_t max)
{
    struct topk_item *all;
    size_t k;

    if (max == 0) {
        return 0;
    }
    if (max < t->n && max <= 64) {
        return list_first(t, items, max);
    }
    all = malloc((t->n ? t->n : 1) * sizeof(*all));
    if (all == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct topk_entry *e = &t->e[i];
        all[i] = (struct topk_item){e->key, t->heap[t->pos[i]].count, e->error};
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
        add_folded(dst, e->key, e->len, e->hash, src->heap[src->pos[i]].count, e->error);
    }
}
