/*
 * topk.h -- approximate top-N of strings in bounded memory (space-saving algorithm, Metwally
 * et al. 2005): at most 'capacity' distinct keys are kept; a new key evicts the smallest and
 * inherits its count as possible over-estimation. Exact while fewer than 'capacity' distinct
 * keys were seen. Pure.
 */
#ifndef SMTPMON_AGENT_TOPK_H
#define SMTPMON_AGENT_TOPK_H

#include <stddef.h>
#include <stdint.h>

#define TOPK_KEY_MAX 128 /* longer keys are cut */

struct topk;

struct topk_item {
    const char *key;
    uint64_t count;
    uint64_t error; /* over-estimation bound */
};

struct topk *topk_new(size_t capacity);
void topk_free(struct topk *t);
void topk_reset(struct topk *t);
/* Adds n to key (len bytes, folded to lower case). */
void topk_add(struct topk *t, const char *key, size_t len, uint64_t n);
/* Fills up to max items, largest first; returns how many. Keys are valid until the next change. */
size_t topk_list(const struct topk *t, struct topk_item *items, size_t max);
uint64_t topk_total(const struct topk *t);
/* Adds every key of src to dst (merging two threads' counts). */
void topk_merge(struct topk *dst, const struct topk *src);

#endif
