/*
 * redis_cmd.h -- the Redis schema, the commit scripts and the commands that carry a batch to
 * them. Pure: builds argument vectors and parses replies and hash fields; no sockets, no
 * hiredis, no libev.
 *
 * Keys (P = prefix, A = agent id; every key of an agent shares the hash tag {A}, every
 * fleet-wide key the tag {fleet}, so each script touches one Redis Cluster slot):
 *   P:{A}:cursor:SRC      HASH   seq, kind, path, dev, ino, offset, head/marker fingerprints,
 *                                mtime, jcursor, updated_ms (never expires)
 *   P:{A}:owner           STRING the owner token of the live agent (lease, PX)
 *   P:{A}:c:total         HASH   counts since the first start (see the field names below)
 *   P:{A}:c:m:MINUTE      HASH   counts of one minute of log time (MINUTE = epoch seconds of
 *                                the minute's start), expiring after the retention
 *   P:{A}:ts              STREAM one entry per closed minute, id MINUTE*1000-0
 *   P:{A}:meta            HASH   the open minute, its running headline counts, gauges (g|*)
 *   P:{A}:fleet:SRC       HASH   the fleet delta of the last batch until the fleet applied it
 *   P:{fleet}:seen        HASH   "A|SRC" -> the last batch seq applied fleet-wide
 *   P:{fleet}:c:total, P:{fleet}:c:m:MINUTE, P:{fleet}:ts, P:{fleet}:meta   as above
 *
 * Hash fields mirror struct stats so that a stats can be rebuilt from them exactly:
 *   m|lines m|bytes m|with_code m|matched m|unmatched_with_code m|implied m|overlong
 *   m|invalid m|mismatch m|limit_hits   t|first t|last (min/max of the log time)
 *   cl|D cl|invalid   sj|C.S   st|C.S.D st|other st|invalid   rp|NNN rp|invalid
 *   di|DIRECTION   oc|OUTCOME   dc|DIRECTION|C   rs|REASON rs|none   ru|RULE
 *   dm|DOMAIN dm|other (at most topn distinct domains per hash, the rest as other)
 *   a|bytes_read a|overlong a|rotations a|truncations a|reopen_failures a|unreachable_files
 *   sx|0..4 (total only: the first unmatched lines with a code)
 */
#ifndef SMTPMON_EXPORTERS_REDIS_CMD_H
#define SMTPMON_EXPORTERS_REDIS_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "stats.h"

struct ruleset;

#define RCMD_KEY_MAX 512
#define RCMD_FIELD_MAX 200 /* bytes of a hash field name, checked again by the script */
#define RCMD_TOKEN_MAX 64
#define RCMD_AGENT_MAX 128

/* An argument vector for redisAsyncCommandArgv/redisCommandArgv; strings are owned. */
struct rcmd {
    size_t argc, cap;
    char **argv;
    size_t *argvlen;
};

void rcmd_init(struct rcmd *c);
void rcmd_free(struct rcmd *c);
void rcmd_reset(struct rcmd *c);
int rcmd_add(struct rcmd *c, const char *s, size_t len); /* -1 on allocation failure */
int rcmd_adds(struct rcmd *c, const char *s);
int rcmd_addu(struct rcmd *c, uint64_t v);
int rcmd_addi(struct rcmd *c, int64_t v);

/* What the scripts need besides the batch. */
struct rcmd_conf {
    const char *prefix;     /* "smtpmon" */
    const char *agent;      /* the agent id: [A-Za-z0-9._-], 1..RCMD_AGENT_MAX-1 bytes */
    const char *token;      /* this process's owner token */
    int64_t bucket_ttl_ms;  /* retention of the per-minute hashes; 0: no minute hashes */
    int64_t lease_ms;       /* owner lease */
    unsigned topn_minute;   /* distinct domains kept per minute hash */
    unsigned topn_total;    /* distinct domains kept in the totals */
    unsigned stream_maxlen; /* entries kept in the time-series streams (approximately) */
    const char *fleet_tag;  /* the tag of this agent's fleet keys: "fleet" (NULL) or "fleet:K" */
};

#define RCMD_FLEET_SHARDS_MAX 64
#define RCMD_FLEET_TAG_MAX 16

/* The fleet shard of an agent id among n (1..RCMD_FLEET_SHARDS_MAX): 32-bit FNV-1a of the id,
 * modulo n; 0 when n <= 1. */
unsigned rcmd_fleet_shard(const char *agent, unsigned n);
/* The hash tag of fleet shard k of n: "fleet" when n <= 1 (the keys of a single shard are those
 * of before shards), else "fleet:K". */
void rcmd_fleet_tag(char *buf, size_t cap, unsigned k, unsigned n);

/* 1 if s is usable as an agent id or a source name in a key. */
int rcmd_name_ok(const char *s);

/* "P:{A}:REST" / "P:{fleet}:REST". Return the length, or -1 if it does not fit. */
int rcmd_key(char *buf, size_t cap, const char *prefix, const char *agent, const char *rest);
int rcmd_fleet_key(char *buf, size_t cap, const char *prefix, const char *rest);

/* The Redis Cluster slot of a key (CRC16-CCITT/XMODEM of the key, or of the first non-empty
 * {hash tag}, modulo 16384), as the cluster specification defines it. */
unsigned rcmd_key_slot(const char *key, size_t len);
uint16_t rcmd_crc16(const char *buf, size_t len);

/* The log minute a batch is counted in (epoch seconds, a multiple of 60), or -1 when its lines
 * carried no time: b->minute when set (the agent never lets a batch span two log minutes),
 * else the minute of its first event. */
int64_t rcmd_batch_minute(const struct batch *b);

/* Calls fn for every non-zero field of st (the names above, without a|, t| and sx|). */
typedef int rcmd_field_fn(void *arg, const char *field, uint64_t n);
int rcmd_stats_fields(const struct stats *st, const struct ruleset *rs, rcmd_field_fn *fn,
                      void *arg);

/* The scripts, loaded with SCRIPT LOAD (which returns the SHA1 that EVALSHA takes). */
extern const char rcmd_commit_lua[];
extern const char rcmd_fleet_lua[];
extern const char rcmd_claim_lua[];

/* The SHA-1 of text in hex, as SCRIPT LOAD returns it (out: 40 digits and a NUL). */
void rcmd_sha1_hex(const char *text, size_t len, char out[41]);

/* EVALSHA commit: the counts, the end cursor and the seq of b, in the agent's slot.
 * 'fleet_done' is the last seq of this source known applied fleet-wide. 'open_minute' is the
 * open minute of the agent's series as the caller knows it (-1: unknown, the minute before
 * b's is declared): every key the script touches is declared, the hash of the minute it
 * closes included; when that is not the one declared the script answers {"OM", open minute}
 * and changes nothing. Returns 0 or -1 (allocation, or a name that cannot be a key). */
int rcmd_commit(struct rcmd *c, const struct rcmd_conf *rc, const char *sha, const struct batch *b,
                uint64_t fleet_done, int64_t now_ms, int64_t open_minute);

/* EVALSHA fleet: applies a fleet delta (the fields of b, or a pending hash read back) to the
 * {fleet} keys, gated by "A|SRC" -> seq. */
int rcmd_fleet(struct rcmd *c, const struct rcmd_conf *rc, const char *sha, const char *source,
               uint64_t seq, int64_t minute, const char *const *fields, const uint64_t *vals,
               size_t n, int64_t open_minute);
int rcmd_fleet_batch(struct rcmd *c, const struct rcmd_conf *rc, const char *sha,
                     const struct batch *b, int64_t open_minute); /* open_minute: of {fleet} */

/* EVALSHA claim: takes or renews the owner lease; refused while another token holds it. */
int rcmd_claim(struct rcmd *c, const struct rcmd_conf *rc, const char *sha);

/* A script's verdict, from its reply {"OK"|"DUP"|"GAP"|"OWNED"|"PENDING"|"OM", n}. */
enum rcmd_verdict {
    RCMD_OK,
    RCMD_DUP,     /* already applied: acknowledged again, nothing changed */
    RCMD_GAP,     /* not the successor of the stored seq: nothing changed */
    RCMD_OWNED,   /* another live process holds the agent id: nothing changed */
    RCMD_PENDING, /* a fleet delta must be applied first: nothing changed */
    RCMD_OM,      /* the declared hash of the closed minute is not the open one (n): nothing
                     changed, send again declaring it */
    RCMD_BAD,     /* unexpected reply */
};
enum rcmd_verdict rcmd_verdict(const char *word, size_t len);
const char *rcmd_verdict_name(enum rcmd_verdict v);

/* Rebuilds counts from a hash read back (HGETALL): adds one field. Unknown fields, rules and
 * reasons the ruleset does not name are ignored (returns 1); 0 when used; -1 bad value. */
int rcmd_stats_add_field(struct stats *st, const struct ruleset *rs, const char *field, size_t flen,
                         const char *value, size_t vlen);

/* Fills a cursor from the fields of a P:{A}:cursor:SRC hash. Returns 0 if it carried a seq. */
int rcmd_state_field(struct state *s, const char *field, size_t flen, const char *value,
                     size_t vlen);

#endif
