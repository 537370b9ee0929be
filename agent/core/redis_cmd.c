#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cmd.h"
#include "rules.h"
#include "topk.h"

/* ------------------------------------------------------------------------------------ */
/* The scripts. Lua has no rollback: each validates all of its input before the first write,
 * and every check that can refuse a batch (owner, seq, pending fleet delta) comes before it
 * too. Nothing after the first write can fail except on a server fault (OOM is refused by
 * Redis before a script that may write starts). */

/* The fields that head a closed minute's stream entry: the counters of counters.h marked so
 * ({'m|lines', 'lines'}, ...), then classes and outcomes. */
/* clang-format off */
#define LUA_HEAD_1(redis, sep) "{'m|" redis "', '" redis "'}," sep
#define LUA_HEAD_0(redis, sep)
#define LUA_HEAD(f, json, redis, head, sep, what) LUA_HEAD_##head(redis, sep)
#define RCMD_LUA_HEAD                                                                              \
    "local HEAD = {" STATS_TOTALS(LUA_HEAD) "{'cl|2', 'class_2'},\n"                               \
    "              {'cl|4', 'class_4'}, {'cl|5', 'class_5'}, {'oc|delivered', 'delivered'},\n"     \
    "              {'oc|deferred', 'deferred'}, {'oc|bounced', 'bounced'},\n"                      \
    "              {'oc|rejected', 'rejected'}, {'oc|expired', 'expired'}}\n"

#define RCMD_LUA_COMMON                                                                            \
    "local function int(s)\n"                                                                      \
    "    local n = tonumber(s)\n"                                                                  \
    "    if n == nil or n ~= n or n < 0 or n > 9007199254740991 or n ~= math.floor(n) then\n"      \
    "        return nil\n"                                                                         \
    "    end\n"                                                                                    \
    "    return n\n"                                                                               \
    "end\n"                                                                                        \
    "local function bad(why)\n"                                                                    \
    "    return redis.error_reply('BADARG ' .. why)\n"                                             \
    "end\n"                                                                                        \
    "local PFX = {m = 1, t = 1, cl = 1, sj = 1, st = 1, rp = 1, di = 1, oc = 1, dc = 1, rs = 1,\n" \
    "             ru = 1, dm = 1, a = 1, ds = 1, bl = 1}\n"                                        \
    RCMD_LUA_HEAD                                                                                  \
    "local function fields(i)\n"                                                                   \
    "    local n = int(ARGV[i])\n"                                                                 \
    "    if n == nil or n > 100000 then\n"                                                         \
    "        return nil, 'nfields'\n"                                                              \
    "    end\n"                                                                                    \
    "    local f, v = {}, {}\n"                                                                    \
    "    for j = 1, n do\n"                                                                        \
    "        local name, d = ARGV[i + 2 * j - 1], int(ARGV[i + 2 * j])\n"                          \
    "        if name == nil or d == nil then\n"                                                    \
    "            return nil, 'field ' .. j\n"                                                      \
    "        end\n"                                                                                \
    "        local p = string.match(name, '^(%l+)|.')\n"                                           \
    "        if p == nil or PFX[p] == nil or #name > 200 then\n"                                   \
    "            return nil, 'field name ' .. j\n"                                                 \
    "        end\n"                                                                                \
    "        f[j], v[j] = name, d\n"                                                               \
    "    end\n"                                                                                    \
    "    return f, v, i + 2 * n + 1\n"                                                             \
    "end\n"                                                                                        \
    "local function hset(key, t)\n"                                                                \
    "    for j = 1, #t, 200 do\n"                                                                  \
    "        redis.call('HSET', key, unpack(t, j, math.min(j + 199, #t)))\n"                       \
    "    end\n"                                                                                    \
    "end\n"                                                                                        \
    "-- Counters are written as absolute values (HSET of the sum computed here), never as\n"       \
    "-- increments: the script's effects reach the AOF as one MULTI/EXEC block, and a block torn\n" \
    "-- by a kill -9 can be applied at a later load together with the commit that replaced it\n" \
    "-- (redis-server 7.0 leaves the torn block open); an absolute value applied twice is the\n"   \
    "-- same value, an increment is counted twice.\n"                                              \
    "local function num(s)\n"                                                                      \
    "    return tonumber(s) or 0\n"                                                                \
    "end\n"                                                                                        \
    "local function addall(key, names, add)\n"                                                     \
    "    if #names == 0 then\n"                                                                    \
    "        return\n"                                                                             \
    "    end\n"                                                                                    \
    "    local t = {}\n"                                                                           \
    "    for _, name in ipairs(names) do\n"                                                        \
    "        t[#t + 1] = name\n"                                                                   \
    "        t[#t + 1] = string.format('%.0f', num(redis.call('HGET', key, name)) + add[name])\n"  \
    "    end\n"                                                                                    \
    "    hset(key, t)\n"                                                                           \
    "end\n"                                                                                        \
    "local function apply(key, f, v, topn)\n"                                                      \
    "    local names, add, x = {}, {}, {}\n"                                                       \
    "    local function bump(name, d)\n"                                                           \
    "        if add[name] == nil then\n"                                                           \
    "            names[#names + 1] = name\n"                                                       \
    "            add[name] = 0\n"                                                                  \
    "        end\n"                                                                                \
    "        add[name] = add[name] + d\n"                                                          \
    "    end\n"                                                                                    \
    "    for j = 1, #f do\n"                                                                       \
    "        local name, d = f[j], v[j]\n"                                                         \
    "        if name == 't|first' or name == 't|last' then\n"                                      \
    "            local o = tonumber(redis.call('HGET', key, name))\n"                              \
    "            local lt = name == 't|first'\n"                                                   \
    "            if o == nil or (lt and d < o) or (not lt and d > o) then\n"                       \
    "                redis.call('HSET', key, name, d)\n"                                           \
    "            end\n"                                                                            \
    "        elseif d > 0 then\n"                                                                  \
    "            local p3 = string.sub(name, 1, 3)\n"                                              \
    "            if (p3 == 'dm|' or p3 == 'bl|') and name ~= p3 .. 'other' and\n"                  \
    "                add[name] == nil and redis.call('HEXISTS', key, name) == 0 then\n"            \
    "                local xn = 'x|' .. string.sub(name, 1, 2)\n"                                  \
    "                local cap = p3 == 'bl|' and math.min(topn, 64) or topn\n"                     \
    "                if x[xn] == nil then\n"                                                       \
    "                    x[xn] = num(redis.call('HGET', key, xn))\n"                               \
    "                end\n"                                                                        \
    "                if x[xn] < cap then\n"                                                        \
    "                    x[xn] = x[xn] + 1\n"                                                      \
    "                    bump(xn, 1)\n"                                                            \
    "                else\n"                                                                       \
    "                    name = p3 .. 'other'\n"                                                   \
    "                end\n"                                                                        \
    "            end\n"                                                                            \
    "            bump(name, d)\n"                                                                  \
    "        end\n"                                                                                \
    "    end\n"                                                                                    \
    "    addall(key, names, add)\n"                                                                \
    "end\n"                                                                                        \
    "local SER = {m = 1, cl = 1, sj = 1, st = 1, rp = 1, di = 1, oc = 1, dc = 1,\n"                \
    "             rs = 1, ru = 1, dm = 1, a = 1, ds = 1, bl = 1}\n"                                \
    "-- The hash of the open minute that this commit closes: the caller declares it in\n"          \
    "-- KEYS (the last key, 'old') so that a Redis Cluster routes on it; a script reaching\n"      \
    "-- a key it did not declare could write half a commit while its slot migrates.\n"             \
    "-- Checked before any write: the open minute if 'old' is not its hash (the caller\n"          \
    "-- sends again with it), else nil.\n"                                                         \
    "local function closes(meta, minute, mkey, old)\n"                                             \
    "    if minute < 0 or old == nil then\n"                                                       \
    "        return nil\n"                                                                         \
    "    end\n"                                                                                    \
    "    local om = tonumber(redis.call('HGET', meta, 'om'))\n"                                    \
    "    if om == nil or minute <= om or\n"                                                        \
    "        string.match(mkey, '^(.*:)') .. string.format('%d', om) == old then\n"                \
    "        return nil\n"                                                                         \
    "    end\n"                                                                                    \
    "    return om\n"                                                                              \
    "end\n"                                                                                        \
    "local function series(meta, stream, minute, f, v, maxlen, mkey, oldkey)\n"                    \
    "    if minute < 0 then\n"                                                                     \
    "        return\n"                                                                             \
    "    end\n"                                                                                    \
    "    local om = tonumber(redis.call('HGET', meta, 'om'))\n"                                    \
    "    if om ~= nil and minute < om then\n"                                                      \
    "        return\n"                                                                             \
    "    end\n"                                                                                    \
    "    if om == nil or minute > om then\n"                                                       \
    "        local e, z = {}, {'om', minute}\n"                                                    \
    "        for _, h in ipairs(HEAD) do\n"                                                        \
    "            e[#e + 1] = h[2]\n"                                                               \
    "            e[#e + 1] = redis.call('HGET', meta, 'o|' .. h[2]) or '0'\n"                      \
    "            z[#z + 1] = 'o|' .. h[2]\n"                                                       \
    "            z[#z + 1] = 0\n"                                                                  \
    "        end\n"                                                                                \
    "        if om ~= nil then\n"                                                                  \
    "            local old = oldkey or\n"                                                          \
    "                        string.match(mkey, '^(.*:)') .. string.format('%d', om)\n"            \
    "            local h = redis.call('HGETALL', old)\n"                                           \
    "            for j = 1, #h, 2 do\n"                                                            \
    "                if SER[string.match(h[j], '^(%l+)|') or ''] and h[j + 1] ~= '0' then\n"       \
    "                    e[#e + 1] = h[j]\n"                                                       \
    "                    e[#e + 1] = h[j + 1]\n"                                                   \
    "                end\n"                                                                        \
    "            end\n"                                                                            \
    "            local id = tostring(om) .. '000-0'\n"                                             \
    "            redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, id, unpack(e))\n"              \
    "        end\n"                                                                                \
    "        redis.call('HSET', meta, unpack(z))\n"                                                \
    "    end\n"                                                                                    \
    "    local idx = {}\n"                                                                         \
    "    for _, h in ipairs(HEAD) do\n"                                                            \
    "        idx[h[1]] = h[2]\n"                                                                   \
    "    end\n"                                                                                    \
    "    local names, add = {}, {}\n"                                                             \
    "    for j = 1, #f do\n"                                                                       \
    "        if idx[f[j]] and v[j] > 0 then\n"                                                     \
    "            local name = 'o|' .. idx[f[j]]\n"                                                 \
    "            if add[name] == nil then\n"                                                       \
    "                names[#names + 1] = name\n"                                                   \
    "                add[name] = 0\n"                                                              \
    "            end\n"                                                                            \
    "            add[name] = add[name] + v[j]\n"                                                   \
    "        end\n"                                                                                \
    "    end\n"                                                                                    \
    "    addall(meta, names, add)\n"                                                               \
    "end\n"
/* clang-format on */

const char rcmd_commit_lua[] = RCMD_LUA_COMMON
    "-- KEYS: cursor owner total minute pending stream meta [old]\n"
    "-- ARGV: token seq fleet_done minute ttl_ms topn_minute topn_total now_ms lease_ms maxlen,\n"
    "--       ncursor {name value}, nfields {field delta}, nsamples {text}, ngauges {name value}\n"
    "local CUR = {kind = 1, path = 1, dev = 1, ino = 1, offset = 1, head_len = 1, head_fp = 1,\n"
    "             marker_len = 1, marker_fp = 1, mtime = 1, jcursor = 1, start = 1, fleet = 1}\n"
    "if #KEYS ~= 7 and #KEYS ~= 8 then\n"
    "    return bad('keys')\n"
    "end\n"
    "local token, seq, fdone = ARGV[1], int(ARGV[2]), int(ARGV[3])\n"
    "local minute = tonumber(ARGV[4])\n"
    "local ttl, topm, topt, now = int(ARGV[5]), int(ARGV[6]), int(ARGV[7]), int(ARGV[8])\n"
    "local lease, maxlen = int(ARGV[9]), int(ARGV[10])\n"
    "if token == nil or #token < 8 or #token > 64 or not (seq and seq >= 1 and fdone and ttl and\n"
    "    topm and topt and now and lease and lease >= 1000 and maxlen) then\n"
    "    return bad('header')\n"
    "end\n"
    "if minute == nil or (minute ~= -1 and int(minute) == nil) then\n"
    "    return bad('minute')\n"
    "end\n"
    "local i = 11\n"
    "local ncur = int(ARGV[i])\n"
    "if ncur == nil or ncur > 16 then\n"
    "    return bad('cursor')\n"
    "end\n"
    "local cur = {'seq', seq, 'updated_ms', now}\n"
    "for j = 1, ncur do\n"
    "    local k, val = ARGV[i + 2 * j - 1], ARGV[i + 2 * j]\n"
    "    if k == nil or val == nil or CUR[k] == nil or #val > 4096 then\n"
    "        return bad('cursor field ' .. j)\n"
    "    end\n"
    "    cur[#cur + 1] = k\n"
    "    cur[#cur + 1] = val\n"
    "end\n"
    "i = i + 2 * ncur + 1\n"
    "local f, v, nx = fields(i)\n"
    "if f == nil then\n"
    "    return bad(v)\n"
    "end\n"
    "i = nx\n"
    "local ns = int(ARGV[i])\n"
    "if ns == nil or ns > 5 then\n"
    "    return bad('samples')\n"
    "end\n"
    "for j = 1, ns do\n"
    "    if ARGV[i + j] == nil or #ARGV[i + j] > 512 then\n"
    "        return bad('sample ' .. j)\n"
    "    end\n"
    "end\n"
    "local s0 = i\n"
    "i = i + ns + 1\n"
    "local ng = int(ARGV[i])\n"
    "if ng == nil or ng > 16 then\n"
    "    return bad('gauges')\n"
    "end\n"
    "local g = {'updated_ms', now}\n"
    "for j = 1, ng do\n"
    "    local k, val = ARGV[i + 2 * j - 1], int(ARGV[i + 2 * j])\n"
    "    if k == nil or val == nil or string.sub(k, 1, 2) ~= 'g|' or #k > 64 then\n"
    "        return bad('gauge ' .. j)\n"
    "    end\n"
    "    g[#g + 1] = k\n"
    "    g[#g + 1] = val\n"
    "end\n"
    "i = i + 2 * ng + 1\n"
    "if i ~= #ARGV + 1 then\n"
    "    return bad('argument count')\n"
    "end\n"
    "\n"
    "local owner = redis.call('GET', KEYS[2])\n"
    "if owner and owner ~= token then\n"
    "    return {'OWNED', redis.call('PTTL', KEYS[2])}\n"
    "end\n"
    "local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')\n"
    "if seq <= last then\n"
    "    return {'DUP', last}\n"
    "end\n"
    "if seq ~= last + 1 then\n"
    "    return {'GAP', last}\n"
    "end\n"
    "local pseq = tonumber(redis.call('HGET', KEYS[5], 'seq') or '0')\n"
    "if pseq > fdone then\n"
    "    return {'PENDING', pseq}\n"
    "end\n"
    "local om = closes(KEYS[7], minute, KEYS[4], KEYS[8])\n"
    "if om then\n"
    "    return {'OM', om}\n"
    "end\n"
    "\n"
    "-- The previous fleet delta is replaced field by field (its other fields deleted first,\n"
    "-- seq and minute kept): while its Redis Cluster slot migrates, a script that deleted a\n"
    "-- key and wrote it again would be refused half-way. Without HDEL in the user's ACL (an\n"
    "-- older users.acl), DEL and write, as before.\n"
    "local keep, gone, kept = {seq = 1, minute = 1}, {}, true\n"
    "for j = 1, #f do\n"
    "    keep[f[j]] = 1\n"
    "end\n"
    "local old = redis.call('HGETALL', KEYS[5])\n"
    "for j = 1, #old, 2 do\n"
    "    if keep[old[j]] == nil then\n"
    "        gone[#gone + 1] = old[j]\n"
    "    end\n"
    "end\n"
    "for j = 1, #gone, 200 do\n"
    "    local r = redis.pcall('HDEL', KEYS[5], unpack(gone, j, math.min(j + 199, #gone)))\n"
    "    if type(r) == 'table' and r.err then\n"
    "        kept = false\n"
    "        break\n"
    "    end\n"
    "end\n"
    "redis.call('SET', KEYS[2], token, 'PX', lease)\n"
    "apply(KEYS[3], f, v, topt)\n"
    "if minute >= 0 and ttl > 0 then\n"
    "    apply(KEYS[4], f, v, topm)\n"
    "    redis.call('PEXPIRE', KEYS[4], ttl)\n"
    "end\n"
    "if ns > 0 then\n"
    "    local have = tonumber(redis.call('HGET', KEYS[3], 'x|sx') or '0')\n"
    "    for j = 1, ns do\n"
    "        if have < 5 then\n"
    "            redis.call('HSET', KEYS[3], 'sx|' .. have, ARGV[s0 + j], 'x|sx', have + 1)\n"
    "            have = have + 1\n"
    "        end\n"
    "    end\n"
    "end\n"
    "series(KEYS[7], KEYS[6], minute, f, v, maxlen, KEYS[4], KEYS[8])\n"
    "local p = {'seq', seq, 'minute', minute}\n"
    "for j = 1, #f do\n"
    "    p[#p + 1] = f[j]\n"
    "    p[#p + 1] = v[j]\n"
    "end\n"
    "if not kept then\n"
    "    redis.call('DEL', KEYS[5])\n"
    "end\n"
    "hset(KEYS[5], p)\n"
    "hset(KEYS[7], g)\n"
    "hset(KEYS[1], cur)\n"
    "return {'OK', seq}\n";

const char rcmd_fleet_lua[] = RCMD_LUA_COMMON
    "-- KEYS: seen total minute stream meta [old]\n"
    "-- ARGV: member seq minute ttl_ms topn_minute topn_total maxlen, nfields {field delta}\n"
    "if #KEYS ~= 5 and #KEYS ~= 6 then\n"
    "    return bad('keys')\n"
    "end\n"
    "local member, seq, minute = ARGV[1], int(ARGV[2]), tonumber(ARGV[3])\n"
    "local ttl, topm, topt, maxlen = int(ARGV[4]), int(ARGV[5]), int(ARGV[6]), int(ARGV[7])\n"
    "if member == nil or #member < 3 or #member > 300 or\n"
    "    not (seq and seq >= 1 and ttl and topm and topt and maxlen) then\n"
    "    return bad('header')\n"
    "end\n"
    "if minute == nil or (minute ~= -1 and int(minute) == nil) then\n"
    "    return bad('minute')\n"
    "end\n"
    "local f, v, nx = fields(8)\n"
    "if f == nil then\n"
    "    return bad(v)\n"
    "end\n"
    "if nx ~= #ARGV + 1 then\n"
    "    return bad('argument count')\n"
    "end\n"
    "local last = tonumber(redis.call('HGET', KEYS[1], member) or '0')\n"
    "if seq <= last then\n"
    "    return {'DUP', last}\n"
    "end\n"
    "local om = closes(KEYS[5], minute, KEYS[3], KEYS[6])\n"
    "if om then\n"
    "    return {'OM', om}\n"
    "end\n"
    "apply(KEYS[2], f, v, topt)\n"
    "if minute >= 0 and ttl > 0 then\n"
    "    apply(KEYS[3], f, v, topm)\n"
    "    redis.call('PEXPIRE', KEYS[3], ttl)\n"
    "end\n"
    "series(KEYS[5], KEYS[4], minute, f, v, maxlen, KEYS[3], KEYS[6])\n"
    "redis.call('HSET', KEYS[1], member, seq)\n"
    "return {'OK', seq}\n";

const char rcmd_claim_lua[] = "-- KEYS: owner   ARGV: token lease_ms\n"
                              "local token, lease = ARGV[1], tonumber(ARGV[2])\n"
                              "if #KEYS ~= 1 or token == nil or #token < 8 or #token > 64 or\n"
                              "    lease == nil or lease < 1000 then\n"
                              "    return redis.error_reply('BADARG header')\n"
                              "end\n"
                              "local owner = redis.call('GET', KEYS[1])\n"
                              "if owner and owner ~= token then\n"
                              "    return {'OWNED', redis.call('PTTL', KEYS[1])}\n"
                              "end\n"
                              "redis.call('SET', KEYS[1], token, 'PX', lease)\n"
                              "return {'OK', 0}\n";

/* ------------------------------------------------------------------------------------ */

void
rcmd_init(struct rcmd *c)
{
    memset(c, 0, sizeof(*c));
}

void
rcmd_reset(struct rcmd *c)
{
    for (size_t i = 0; i < c->argc; i++) {
        free(c->argv[i]);
    }
    c->argc = 0;
}

void
rcmd_free(struct rcmd *c)
{
    rcmd_reset(c);
    free(c->argv);
    free(c->argvlen);
    memset(c, 0, sizeof(*c));
}

int
rcmd_add(struct rcmd *c, const char *s, size_t len)
{
    char *copy;

    if (c->argc == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **argv = realloc(c->argv, cap * sizeof(*argv));

        if (argv == NULL) {
            return -1;
        }
        c->argv = argv;
        size_t *lens = realloc(c->argvlen, cap * sizeof(*lens));
        if (lens == NULL) {
            return -1;
        }
        c->argvlen = lens;
        c->cap = cap;
    }
    if ((copy = malloc(len + 1)) == NULL) {
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    c->argv[c->argc] = copy;
    c->argvlen[c->argc] = len;
    c->argc++;
    return 0;
}

int
rcmd_adds(struct rcmd *c, const char *s)
{
    return rcmd_add(c, s, strlen(s));
}

int
rcmd_addu(struct rcmd *c, uint64_t v)
{
    char b[24];

    return rcmd_add(c, b, (size_t)snprintf(b, sizeof(b), "%" PRIu64, v));
}

int
rcmd_addi(struct rcmd *c, int64_t v)
{
    char b[24];

    return rcmd_add(c, b, (size_t)snprintf(b, sizeof(b), "%" PRId64, v));
}

static int rcmd_addf(struct rcmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
rcmd_addf(struct rcmd *c, const char *fmt, ...)
{
    char b[RCMD_KEY_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b, sizeof(b), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(b)) {
        return -1;
    }
    return rcmd_add(c, b, (size_t)n);
}

/* ------------------------------------------------------------------------------------ */
/* Names and keys. */

int
rcmd_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= RCMD_AGENT_MAX) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
    return 1;
}

int
rcmd_key(char *buf, size_t cap, const char *prefix, const char *agent, const char *rest)
{
    int n = snprintf(buf, cap, "%s:{%s}:%s", prefix, agent, rest);

    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
rcmd_fleet_key(char *buf, size_t cap, const char *prefix, const char *rest)
{
    return rcmd_key(buf, cap, prefix, "fleet", rest);
}

unsigned
rcmd_fleet_shard(const char *agent, unsigned n)
{
    uint32_t h = 2166136261u;

    if (n <= 1) {
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)agent; *p != '\0'; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h % n;
}

void
rcmd_fleet_tag(char *buf, size_t cap, unsigned k, unsigned n)
{
    if (n <= 1) {
        snprintf(buf, cap, "fleet");
    } else {
        snprintf(buf, cap, "fleet:%u", k);
    }
}

int64_t
rcmd_batch_minute(const struct batch *b)
{
    if (b->minute > 0) {
        return b->minute;
    }
    if (b->st.first_time < 0) {
        return -1;
    }
    return b->st.first_time - b->st.first_time % 60;
}

/* ------------------------------------------------------------------------------------ */
/* Fields. */

static const int stat_classes[3] = {2, 4, 5};

#define EMIT(name, n)                                                                              \
    do {                                                                                           \
        if ((n) != 0 && fn(arg, (name), (n)) != 0) {                                               \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

int
rcmd_stats_fields(const struct stats *st, const struct ruleset *rs, rcmd_field_fn *fn, void *arg)
{
    char k[RCMD_FIELD_MAX + 1];
    struct topk_item *items = NULL;
    size_t n;
    uint64_t listed = 0;

#define TOTAL_EMIT(f, json, redis, head, sep, what) EMIT(STATS_TOTALS_REDIS redis, st->f);
    STATS_TOTALS(TOTAL_EMIT)
#undef TOTAL_EMIT
    for (int c = 0; c < 10; c++) {
        snprintf(k, sizeof(k), "%s%d", stats_dim_redis[DIM_CLASS], c);
        EMIT(k, st->cls[c]);
    }
    EMIT(stats_dim_field(k, sizeof(k), DIM_CLASS, "invalid"), st->cls_invalid);
    for (int c = 0; c < 3; c++) {
        for (int s = 0; s < 1000; s++) {
            if (st->subject[c][s] != 0) {
                snprintf(k, sizeof(k), "%s%d.%d", stats_dim_redis[DIM_SUBJECT], stat_classes[c], s);
                EMIT(k, st->subject[c][s]);
            }
        }
    }
    for (size_t i = 0; i < STATS_STATUS_MAX * 2; i++) {
        const struct stats_status *s = &st->status[i];
        if (s->cls != 0) {
            snprintf(k, sizeof(k), "%s%u.%u.%u", stats_dim_redis[DIM_STATUS], s->cls, s->subject,
                     s->detail);
            EMIT(k, s->n);
        }
    }
    EMIT(stats_dim_field(k, sizeof(k), DIM_STATUS, "other"), st->status_other);
    EMIT(stats_dim_field(k, sizeof(k), DIM_STATUS, "invalid"), st->status_invalid);
    for (int r = 0; r < 1000; r++) {
        if (st->reply[r] != 0) {
            snprintf(k, sizeof(k), "%s%d", stats_dim_redis[DIM_REPLY], r);
            EMIT(k, st->reply[r]);
        }
    }
    EMIT(stats_dim_field(k, sizeof(k), DIM_REPLY, "invalid"), st->reply_invalid);
    for (int i = 0; i < DIR__N; i++) {
        snprintf(k, sizeof(k), "%s%s", stats_dim_redis[DIM_DIRECTION],
                 direction_name((enum smtp_direction)i));
        EMIT(k, st->direction[i]);
        for (int c = 0; c < 3; c++) {
            snprintf(k, sizeof(k), "%s%s|%d", stats_dim_redis[DIM_DIRECTION_CLASS],
                     direction_name((enum smtp_direction)i), stat_classes[c]);
            EMIT(k, st->dir_class[i][c]);
            for (int j = 0; j < 1000; j++) {
                if (st->dir_subject[i][c][j] != 0) {
                    snprintf(k, sizeof(k), "%s%s|%d.%d", stats_dim_redis[DIM_DIRECTION_SUBJECT],
                             direction_name((enum smtp_direction)i), stat_classes[c], j);
                    EMIT(k, st->dir_subject[i][c][j]);
                }
            }
        }
    }
    for (int i = 0; i < OUTCOME__N; i++) {
        snprintf(k, sizeof(k), "%s%s", stats_dim_redis[DIM_OUTCOME],
                 outcome_name((enum smtp_outcome)i));
        EMIT(k, st->outcome[i]);
    }
    for (int i = 0; i < STATS_REASONS_MAX; i++) {
        if (st->reason[i] != 0) {
            if (rs != NULL && (size_t)i < ruleset_reason_count(rs)) {
                snprintf(k, sizeof(k), "%s%s", stats_dim_redis[DIM_REASON],
                         ruleset_reason_name(rs, i));
            } else {
                snprintf(k, sizeof(k), "%s#%d", stats_dim_redis[DIM_REASON], i);
            }
            EMIT(k, st->reason[i]);
        }
    }
    EMIT(stats_dim_field(k, sizeof(k), DIM_REASON, "none"), st->reason_none);
    for (size_t i = 0; i < st->nrules; i++) {
        const struct rule *r = rs != NULL ? ruleset_rule_at(rs, i) : NULL;
        if (st->rule[i] == 0) {
            continue;
        }
        if (r != NULL) {
            snprintf(k, sizeof(k), "%s%s", stats_dim_redis[DIM_RULE], rule_name(r));
        } else {
            snprintf(k, sizeof(k), "%s#%zu", stats_dim_redis[DIM_RULE], i);
        }
        EMIT(k, st->rule[i]);
    }
    if (st->domains != NULL && topk_total(st->domains) > 0) {
        if ((items = malloc(STATS_DOMAINS * sizeof(*items))) == NULL) {
            return -1;
        }
        n = topk_list(st->domains, items, STATS_DOMAINS);
        for (size_t i = 0; i < n; i++) {
            snprintf(k, sizeof(k), "%s%s", stats_dim_redis[DIM_DOMAIN], items[i].key);
            if (strcmp(items[i].key, "other") == 0) {
                snprintf(k, sizeof(k), "%sother.", stats_dim_redis[DIM_DOMAIN]);
            }
            EMIT(k, items[i].count);
            listed += items[i].count;
        }
        EMIT(stats_dim_field(k, sizeof(k), DIM_DOMAIN, "other"), topk_total(st->domains) - listed);
        free(items);
        items = NULL;
    }
    if (st->lists != NULL && topk_total(st->lists) > 0) {
        listed = 0;
        if ((items = malloc(STATS_LISTS * sizeof(*items))) == NULL) {
            return -1;
        }
        n = topk_list(st->lists, items, STATS_LISTS);
        for (size_t i = 0; i < n; i++) {
            snprintf(k, sizeof(k), "%s%s", stats_dim_redis[DIM_LIST], items[i].key);
            if (strcmp(items[i].key, "other") == 0) {
                snprintf(k, sizeof(k), "%sother.", stats_dim_redis[DIM_LIST]);
            }
            EMIT(k, items[i].count);
            listed += items[i].count;
        }
        EMIT(stats_dim_field(k, sizeof(k), DIM_LIST, "other"), topk_total(st->lists) - listed);
        free(items);
        items = NULL;
    }
    if (st->first_time >= 0) {
        if (fn(arg, "t|first", (uint64_t)st->first_time) != 0 ||
            fn(arg, "t|last", (uint64_t)st->last_time) != 0) {
            goto fail;
        }
    }
    return 0;
fail:
    free(items);
    return -1;
}

#undef EMIT

/* Appends "field delta" pairs; the count goes in the slot reserved before the first one. */
struct pairs {
    struct rcmd *c;
    size_t n;
};

static int
add_pair(void *arg, const char *field, uint64_t n)
{
    struct pairs *p = arg;

    if (rcmd_adds(p->c, field) == -1 || rcmd_addu(p->c, n) == -1) {
        return -1;
    }
    p->n++;
    return 0;
}

static int
set_count(struct rcmd *c, size_t slot, size_t n)
{
    char b[24];
    char *s;
    int len = snprintf(b, sizeof(b), "%zu", n);

    if ((s = strdup(b)) == NULL) {
        return -1;
    }
    free(c->argv[slot]);
    c->argv[slot] = s;
    c->argvlen[slot] = (size_t)len;
    return 0;
}

static int
batch_fields(struct rcmd *c, const struct batch *b)
{
    struct pairs p = {c, 0};
    size_t slot = c->argc;

    if (rcmd_adds(c, "0") == -1 || rcmd_stats_fields(&b->st, b->rs, add_pair, &p) == -1) {
        return -1;
    }
#define METRIC_ADD(json, in, field, redis_a) METRIC_ADD_##redis_a(json, in, field)
#define METRIC_ADD_0(json, in, field)
#define METRIC_ADD_1(json, in, field)                                                              \
    if (AGENT_METRIC_VALUE(b, in, field) != 0 &&                                                   \
        add_pair(&p, "a|" json, AGENT_METRIC_VALUE(b, in, field)) == -1) {                         \
        return -1;                                                                                 \
    }
    AGENT_METRICS(METRIC_ADD)
#undef METRIC_ADD
#undef METRIC_ADD_0
#undef METRIC_ADD_1
    return set_count(c, slot, p.n);
}

/* ------------------------------------------------------------------------------------ */
/* Commands. */

static int add_key(struct rcmd *c, const struct rcmd_conf *rc, const char *tag, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static int
add_key(struct rcmd *c, const struct rcmd_conf *rc, const char *tag, const char *fmt, ...)
{
    char rest[RCMD_KEY_MAX], key[RCMD_KEY_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(rest)) {
        return -1;
    }
    if ((n = rcmd_key(key, sizeof(key), rc->prefix, tag, rest)) < 0) {
        return -1;
    }
    return rcmd_add(c, key, (size_t)n);
}

/* The key of the open minute a commit of 'minute' may close (declared as its last key): the one
 * the caller knows, else the minute before. */
static int
add_old(struct rcmd *c, const struct rcmd_conf *rc, const char *tag, int64_t minute,
        int64_t open_minute)
{
    if (minute < 0) {
        return add_key(c, rc, tag, "c:total");
    }
    return add_key(c, rc, tag, "c:m:%" PRId64,
                   open_minute >= 0 && open_minute < minute ? open_minute : minute - 60);
}

int
rcmd_commit(struct rcmd *c, const struct rcmd_conf *rc, const char *sha, const struct batch *b,
            uint64_t fleet_done, int64_t now_ms, int64_t open_minute)
{
    const struct state *s = &b->cursor;
    int64_t minute = rcmd_batch_minute(b);
    size_t slot;
    size_t ncur = 0;
    struct pairs p = {c, 0};
    char lag[RCMD_FIELD_MAX];

    rcmd_reset(c);
    if (!rcmd_name_ok(rc->agent) || !rcmd_name_ok(s->source)) {
        return -1;
    }
    if (rcmd_adds(c, "EVALSHA") == -1 || rcmd_adds(c, sha) == -1 || rcmd_adds(c, "8") == -1 ||
        add_key(c, rc, rc->agent, "cursor:%s", s->source) == -1 ||
        add_key(c, rc, rc->agent, "owner") == -1 || add_key(c, rc, rc->agent, "c:total") == -1) {
        return -1;
    }
    if (minute >= 0 ? add_key(c, rc, rc->agent, "c:m:%" PRId64, minute)
                    : add_key(c, rc, rc->agent, "c:total")) {
        return -1;
    }
    if (add_key(c, rc, rc->agent, "fleet:%s", s->source) == -1 ||
        add_key(c, rc, rc->agent, "ts") == -1 || add_key(c, rc, rc->agent, "meta") == -1 ||
        add_old(c, rc, rc->agent, minute, open_minute) == -1) {
        return -1;
    }
    if (rcmd_adds(c, rc->token) == -1 || rcmd_addu(c, s->seq) == -1 ||
        rcmd_addu(c, fleet_done) == -1 || rcmd_addi(c, minute) == -1 ||
        rcmd_addi(c, rc->bucket_ttl_ms) == -1 || rcmd_addu(c, rc->topn_minute) == -1 ||
        rcmd_addu(c, rc->topn_total) == -1 || rcmd_addi(c, now_ms) == -1 ||
        rcmd_addi(c, rc->lease_ms) == -1 || rcmd_addu(c, rc->stream_maxlen) == -1) {
        return -1;
    }
    slot = c->argc;
    if (rcmd_adds(c, "0") == -1) {
        return -1;
    }
#define CUR(name, add)                                                                             \
    do {                                                                                           \
        if (rcmd_adds(c, name) == -1 || (add) == -1) {                                             \
            return -1;                                                                             \
        }                                                                                          \
        ncur++;                                                                                    \
    } while (0)
    if (rc->fleet_tag != NULL && strcmp(rc->fleet_tag, "fleet") != 0) {
        /* the shard this source's fleet deltas go to: a pending one is applied there */
        CUR("fleet", rcmd_adds(c, rc->fleet_tag));
    }
    if (s->kind == STATE_JOURNAL) {
        CUR("kind", rcmd_adds(c, "journal"));
        CUR("jcursor", rcmd_adds(c, s->jcursor));
    } else {
        CUR("kind", rcmd_adds(c, "file"));
        CUR("path", rcmd_adds(c, s->path));
        CUR("dev", rcmd_addu(c, s->dev));
        CUR("ino", rcmd_addu(c, s->ino));
        CUR("start", rcmd_addu(c, b->start));
        CUR("offset", rcmd_addu(c, s->offset));
        CUR("head_len", rcmd_addu(c, s->head_len));
        CUR("head_fp", rcmd_addf(c, "%016" PRIx64, s->head_fp));
        CUR("marker_len", rcmd_addu(c, s->marker_len));
        CUR("marker_fp", rcmd_addf(c, "%016" PRIx64, s->marker_fp));
        CUR("mtime", rcmd_addi(c, s->mtime));
    }
#undef CUR
    if (set_count(c, slot, ncur) == -1 || batch_fields(c, b) == -1) {
        return -1;
    }
    if (rcmd_addu(c, b->st.nsamples) == -1) {
        return -1;
    }
    for (size_t i = 0; i < b->st.nsamples; i++) {
        if (rcmd_adds(c, b->st.samples[i]) == -1) {
            return -1;
        }
    }
    slot = c->argc;
    snprintf(lag, sizeof(lag), "g|lag_bytes|%s", s->source);
    if (rcmd_adds(c, "0") == -1 || add_pair(&p, lag, b->m.lag_bytes) == -1 ||
        (b->sealed_ms > 0 && add_pair(&p, "g|sealed_ms", (uint64_t)b->sealed_ms) == -1)) {
        return -1;
    }
    return set_count(c, slot, p.n);
}

static int
fleet_head(struct rcmd *c, const struct rcmd_conf *rc, const char *sha, const char *source,
           uint64_t seq, int64_t minute, int64_t open_minute)
{
    char member[RCMD_KEY_MAX];
    const char *ft = rc->fleet_tag != NULL ? rc->fleet_tag : "fleet";

    rcmd_reset(c);
    if (!rcmd_name_ok(rc->agent) || !rcmd_name_ok(source)) {
        return -1;
    }
    snprintf(member, sizeof(member), "%s|%s", rc->agent, source);
    if (rcmd_adds(c, "EVALSHA") == -1 || rcmd_adds(c, sha) == -1 || rcmd_adds(c, "6") == -1 ||
        add_key(c, rc, ft, "seen") == -1 || add_key(c, rc, ft, "c:total") == -1) {
        return -1;
    }
    if (minute >= 0 ? add_key(c, rc, ft, "c:m:%" PRId64, minute) : add_key(c, rc, ft, "c:total")) {
        return -1;
    }
    if (add_key(c, rc, ft, "ts") == -1 || add_key(c, rc, ft, "meta") == -1 ||
        add_old(c, rc, ft, minute, open_minute) == -1 || rcmd_adds(c, member) == -1 ||
        rcmd_addu(c, seq) == -1 || rcmd_addi(c, minute) == -1 ||
        rcmd_addi(c, rc->bucket_ttl_ms) == -1 || rcmd_addu(c, rc->topn_minute) == -1 ||
        rcmd_addu(c, rc->topn_total) == -1 || rcmd_addu(c, rc->stream_maxlen) == -1) {
        return -1;
    }
    return 0;
}

int
rcmd_fleet(struct rcmd *c, const struct rcmd_conf *rc, const char *sha, const char *source,
           uint64_t seq, int64_t minute, const char *const *fields, const uint64_t *vals, size_t n,
           int64_t open_minute)
{
    if (fleet_head(c, rc, sha, source, seq, minute, open_minute) == -1 || rcmd_addu(c, n) == -1) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (rcmd_adds(c, fields[i]) == -1 || rcmd_addu(c, vals[i]) == -1) {
            return -1;
        }
    }
    return 0;
}

int
rcmd_fleet_batch(struct rcmd *c, const struct rcmd_conf *rc, const char *sha, const struct batch *b,
                 int64_t open_minute)
{
    if (fleet_head(c, rc, sha, b->cursor.source, b->cursor.seq, rcmd_batch_minute(b),
                   open_minute) == -1) {
        return -1;
    }
    return batch_fields(c, b);
}

int
rcmd_claim(struct rcmd *c, const struct rcmd_conf *rc, const char *sha)
{
    rcmd_reset(c);
    if (!rcmd_name_ok(rc->agent)) {
        return -1;
    }
    if (rcmd_adds(c, "EVALSHA") == -1 || rcmd_adds(c, sha) == -1 || rcmd_adds(c, "1") == -1 ||
        add_key(c, rc, rc->agent, "owner") == -1 || rcmd_adds(c, rc->token) == -1 ||
        rcmd_addi(c, rc->lease_ms) == -1) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Cluster slots. */

uint16_t
rcmd_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)(unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

unsigned
rcmd_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);

    if (open != NULL) {
        size_t at = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - at);

        if (close != NULL && close > open + 1) {
            return rcmd_crc16(open + 1, (size_t)(close - open - 1)) & 16383;
        }
    }
    return rcmd_crc16(key, len) & 16383;
}

static const char *const verdicts[] = {"OK", "DUP", "GAP", "OWNED", "PENDING", "OM"};

enum rcmd_verdict
rcmd_verdict(const char *word, size_t len)
{
    for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
        if (strlen(verdicts[i]) == len && memcmp(word, verdicts[i], len) == 0) {
            return (enum rcmd_verdict)i;
        }
    }
    return RCMD_BAD;
}

const char *
rcmd_verdict_name(enum rcmd_verdict v)
{
    return v < RCMD_BAD ? verdicts[v] : "BAD";
}

/* ------------------------------------------------------------------------------------ */
/* Reading back. */

static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int
parse_i64(const char *s, size_t len, int64_t *out)
{
    uint64_t v;

    if (len > 0 && s[0] == '-') {
        if (parse_u64(s + 1, len - 1, &v) == -1 || v > (uint64_t)INT64_MAX) {
            return -1;
        }
        *out = -(int64_t)v;
        return 0;
    }
    if (parse_u64(s, len, &v) == -1 || v > (uint64_t)INT64_MAX) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static int
parse_hex(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 16) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (d < 0) {
            return -1;
        }
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int
is(const char *f, size_t flen, const char *name)
{
    return strlen(name) == flen && memcmp(f, name, flen) == 0;
}

static int
class_slot(int cls)
{
    return cls == 2 ? 0 : cls == 4 ? 1 : cls == 5 ? 2 : -1;
}

int
rcmd_stats_add_field(struct stats *st, const struct ruleset *rs, const char *field, size_t flen,
                     const char *value, size_t vlen)
{
    char name[RCMD_FIELD_MAX + 1];
    const char *k;
    uint64_t n;
    int64_t t;
    int a, b, d;

    if (flen > RCMD_FIELD_MAX) {
        return 1;
    }
    memcpy(name, field, flen);
    name[flen] = '\0';
    if (is(field, flen, "t|first") || is(field, flen, "t|last")) {
        if (parse_i64(value, vlen, &t) == -1) {
            return -1;
        }
        if (name[2] == 'f' && (st->first_time < 0 || t < st->first_time)) {
            st->first_time = t;
        } else if (name[2] == 'l' && t > st->last_time) {
            st->last_time = t;
        }
        return 0;
    }
    if (strncmp(name, "sx|", 3) == 0) {
        if (st->nsamples < STATS_SAMPLES) {
            size_t m = vlen < STATS_SAMPLE_LEN - 1 ? vlen : STATS_SAMPLE_LEN - 1;
            memcpy(st->samples[st->nsamples], value, m);
            st->samples[st->nsamples][m] = '\0';
            st->nsamples++;
        }
        return 0;
    }
    if (name[0] == 'x' || name[0] == 'a' || name[0] == 'g') {
        return 1;
    }
    if (parse_u64(value, vlen, &n) == -1) {
        return -1;
    }
    if ((k = strchr(name, '|')) == NULL) {
        return 1;
    }
    k++;
    if (strncmp(name, STATS_TOTALS_REDIS, sizeof(STATS_TOTALS_REDIS) - 1) == 0) {
        static const struct {
            const char *name;
            size_t off;
        } m[] = {
#define TOTAL_FIELD(f, json, redis, head, sep, what) {redis, offsetof(struct stats, f)},
            STATS_TOTALS(TOTAL_FIELD)
#undef TOTAL_FIELD
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
            if (strcmp(k, m[i].name) == 0) {
                *(uint64_t *)(void *)((char *)st + m[i].off) += n;
                return 0;
            }
        }
        return 1;
    }
    switch (stats_dim_of_field(name, &k)) {
    case DIM_CLASS: {
        if (strcmp(k, "invalid") == 0) {
            st->cls_invalid += n;
        } else if (k[0] >= '0' && k[0] <= '9' && k[1] == '\0') {
            st->cls[k[0] - '0'] += n;
        } else {
            return 1;
        }
        return 0;
    }
    case DIM_SUBJECT: {
        if (sscanf(k, "%d.%d", &a, &b) != 2 || class_slot(a) < 0 || b < 0 || b > 999) {
            return 1;
        }
        st->subject[class_slot(a)][b] += n;
        return 0;
    }
    case DIM_STATUS: {
        if (strcmp(k, "other") == 0) {
            st->status_other += n;
        } else if (strcmp(k, "invalid") == 0) {
            st->status_invalid += n;
        } else if (sscanf(k, "%d.%d.%d", &a, &b, &d) == 3 && class_slot(a) >= 0 && b >= 0 &&
                   b <= 999 && d >= 0 && d <= 999) {
            stats_add_status(st, a, b, d, n);
            return 0;
        } else {
            return 1;
        }
        return 0;
    }
    case DIM_REPLY: {
        if (strcmp(k, "invalid") == 0) {
            st->reply_invalid += n;
        } else if (sscanf(k, "%d", &a) == 1 && a >= 0 && a <= 999) {
            st->reply[a] += n;
        } else {
            return 1;
        }
        return 0;
    }
    case DIM_DIRECTION: {
        if ((a = direction_from_name(k, strlen(k))) < 0) {
            return 1;
        }
        st->direction[a] += n;
        return 0;
    }
    case DIM_OUTCOME: {
        if ((a = outcome_from_name(k, strlen(k))) < 0) {
            return 1;
        }
        st->outcome[a] += n;
        return 0;
    }
    case DIM_DIRECTION_CLASS: {
        const char *bar = strchr(k, '|');
        if (bar == NULL || (a = direction_from_name(k, (size_t)(bar - k))) < 0 ||
            sscanf(bar + 1, "%d", &b) != 1 || class_slot(b) < 0) {
            return 1;
        }
        st->dir_class[a][class_slot(b)] += n;
        return 0;
    }
    case DIM_DIRECTION_SUBJECT: {
        const char *bar = strchr(k, '|');
        int c;
        if (bar == NULL || (a = direction_from_name(k, (size_t)(bar - k))) < 0 ||
            sscanf(bar + 1, "%d.%d", &b, &c) != 2 || class_slot(b) < 0 || c < 0 || c > 999) {
            return 1;
        }
        st->dir_subject[a][class_slot(b)][c] += n;
        return 0;
    }
    case DIM_REASON: {
        if (strcmp(k, "none") == 0) {
            st->reason_none += n;
            return 0;
        }
        if (rs == NULL || (a = ruleset_reason_by_name(rs, k)) < 0 || a >= STATS_REASONS_MAX) {
            return 1;
        }
        st->reason[a] += n;
        return 0;
    }
    case DIM_RULE: {
        for (size_t i = 0; rs != NULL && i < st->nrules; i++) {
            const struct rule *r = ruleset_rule_at(rs, i);
            if (r != NULL && strcmp(rule_name(r), k) == 0) {
                st->rule[i] += n;
                return 0;
            }
        }
        return 1;
    }
    case DIM_DOMAIN: {
        if (st->domains == NULL) {
            return 1;
        }
        topk_add(st->domains, k, strlen(k), n);
        return 0;
    }
    case DIM_LIST: {
        if (st->lists == NULL) {
            return 1;
        }
        topk_add(st->lists, k, strlen(k), n);
        return 0;
    }
    case DIM__N:
        break;
    }
    return 1;
}

int
rcmd_state_field(struct state *s, const char *field, size_t flen, const char *value, size_t vlen)
{
    char v[STATE_PATH_MAX];
    int64_t t;

    if (vlen >= sizeof(v)) {
        return -1;
    }
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    if (is(field, flen, "seq")) {
        return parse_u64(value, vlen, &s->seq);
    } else if (is(field, flen, "kind")) {
        s->kind = strcmp(v, "journal") == 0 ? STATE_JOURNAL : STATE_FILE;
    } else if (is(field, flen, "path")) {
        snprintf(s->path, sizeof(s->path), "%s", v);
    } else if (is(field, flen, "jcursor")) {
        if (vlen >= sizeof(s->jcursor)) {
            return -1;
        }
        memcpy(s->jcursor, v, vlen + 1);
    } else if (is(field, flen, "dev")) {
        return parse_u64(value, vlen, &s->dev);
    } else if (is(field, flen, "ino")) {
        return parse_u64(value, vlen, &s->ino);
    } else if (is(field, flen, "offset")) {
        return parse_u64(value, vlen, &s->offset);
    } else if (is(field, flen, "head_len")) {
        return parse_u64(value, vlen, &s->head_len);
    } else if (is(field, flen, "head_fp")) {
        return parse_hex(value, vlen, &s->head_fp);
    } else if (is(field, flen, "marker_len")) {
        return parse_u64(value, vlen, &s->marker_len);
    } else if (is(field, flen, "marker_fp")) {
        return parse_hex(value, vlen, &s->marker_fp);
    } else if (is(field, flen, "mtime")) {
        if (parse_i64(value, vlen, &t) == -1) {
            return -1;
        }
        s->mtime = t;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* SHA-1 (FIPS 180-4), for the names EVALSHA takes: an agent whose ACL user may not load
 * scripts calls the ones an administrator loaded, by the hash of the text it carries. */

struct sha1 {
    uint32_t h[5];
    unsigned char block[64];
    size_t used;
    uint64_t bytes;
};

static uint32_t
rol32(uint32_t v, unsigned n)
{
    return (v << n) | (v >> (32 - n));
}

static void
sha1_block(struct sha1 *s, const unsigned char *p)
{
    uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];

    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (int i = 16; i < 80; i++) {
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }
    for (int i = 0; i < 80; i++) {
        uint32_t f, k, t;

        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void
sha1_feed(struct sha1 *s, const unsigned char *p, size_t n)
{
    s->bytes += n;
    while (n > 0) {
        size_t take = 64 - s->used < n ? 64 - s->used : n;

        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
        if (s->used == 64) {
            sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

void
rcmd_sha1_hex(const char *text, size_t len, char out[41])
{
    struct sha1 s = {{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}, {0}, 0, 0};
    unsigned char pad[72] = {0x80};
    uint64_t bits;
    size_t npad;

    sha1_feed(&s, (const unsigned char *)text, len);
    bits = s.bytes * 8;
    npad = (s.used < 56 ? 56 - s.used : 120 - s.used);
    for (int i = 0; i < 8; i++) {
        pad[npad + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    }
    sha1_feed(&s, pad, npad + 8);
    for (int i = 0; i < 5; i++) {
        snprintf(out + 8 * i, 9, "%08x", (unsigned)s.h[i]);
    }
}
