/*
 * web.h -- the live page of `smtpmon serve`: the HTML, CSS and JavaScript compiled into the
 * binary (exporters/web/, embedded by exporters/web/embed.sh), its security headers, and the
 * JSON API it polls (/api/summary, /api/agent/ID, /api/series?agent=ID&minutes=N), answered on
 * serve's Redis connection by serve's scrape thread.
 */
#ifndef SMTPMON_EXPORTERS_WEB_H
#define SMTPMON_EXPORTERS_WEB_H

#include <stddef.h>

#include <hiredis/hiredis.h>
#include "mhd.h"

#include "redis_cmd.h"
#include "serve_int.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define WEB_MINUTES_MAX 1440 /* points of a series */
#define WEB_MINUTES_DEFAULT 180
#define WEB_TOP_MAX 64           /* entries of each dimension in a counts object */
#define WEB_ALERT_AGENTS_MAX 200 /* agents whose recent alerts the summary reads */
#define WEB_ALERTS_RECENT 10     /* recent alerts read per agent */
#define WEB_SAMPLES_MAX 5        /* unmatched samples (sx|0..4) */

enum web_kind { WEB_NONE, WEB_SUMMARY, WEB_AGENT, WEB_SERIES };

struct web_req {
    enum web_kind kind;
    char agent[RCMD_AGENT_MAX]; /* WEB_AGENT, WEB_SERIES ("fleet": the fleet) */
    unsigned minutes;           /* WEB_SERIES */
    unsigned status;            /* the HTTP status of the answer */
};

/* The embedded files. */
struct web_asset {
    const char *name; /* "index.html" */
    const unsigned char *data;
    size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* Adds the security headers every answer carries (CSP, nosniff, no framing, no referrer). */
void web_headers(struct MHD_Response *r);

/* Answers "/", "/agent/ID" (the page), "/app.js" and "/style.css": returns 1 with *ret set,
 * or 0 when url is none of them. */
int web_static(struct MHD_Connection *conn, const char *url, MHD_RESULT *ret);

/* Parses an /api/ request into req. Returns 0, or the HTTP status to answer (404 for an
 * unknown path, 400 for a bad argument) also left in req->status. */
unsigned web_parse(struct MHD_Connection *conn, const char *url, struct web_req *req);

/* Reads Redis for req and writes the JSON answer to out (req->status 200, or 404 with
 * {"error":...} for an unknown agent). s is the caller's, freed by it. Returns 0, or -1 with a
 * Redis error in err. */
int web_api(redisContext *ctx, const char *prefix, struct web_req *req, struct scrape *s,
            struct buf *out, char *err, size_t errlen);

/* The newest alert entries of agents (XREVRANGE P:{A}:alerts + - COUNT WEB_ALERTS_RECENT),
 * rep[i] for s->agents[i], NULL when not read. */
struct web_recent {
    redisReply **rep;
};

/* Reads them for the agents [from, to) of s (not the fleet, at most WEB_ALERT_AGENTS_MAX).
 * Returns 0, or -1 with a Redis error in err; web_recent_free(r, s->nagents) in both cases. */
int web_recent_read(redisContext *ctx, const char *prefix, const struct scrape *s, size_t from,
                    size_t to, struct web_recent *r, char *err, size_t errlen);
void web_recent_free(struct web_recent *r, size_t n);

/* The rules of agent a that fire, separated by spaces: a rule fires when its newest entry in
 * the alert stream is an alert (not a recovery), or, without an entry, when the state the
 * agent saved says so. */
void web_firing_text(const struct scrape *s, const struct web_recent *r, size_t a, struct buf *out);

/* The JSON string of s[0..n) with its quotes (agent/core/json.c's escaping). */
void web_jstr(struct buf *b, const char *s, size_t n);

#endif
