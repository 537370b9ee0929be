/*
 * reload.c -- SIGHUP: the configuration and the patterns read again; on an error the running
 * ones stay. Batches counted with the old rules are sealed with them first; streams of removed
 * sources end, new ones start, the others take the new rules and reading settings; the alert
 * rules are built again and go on from the running ones (alerts_carry). See agent.h.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "agent.h"
#include "config.h"
#include "errlist.h"
#include "export.h"
#include "log.h"
#include "loghdr.h"
#include "notify.h"
#include "options.h"
#include "rules.h"
#include "source.h"
#include "tz.h"

void
agent_reload(struct agent *ag)
{
    struct config nc;
    struct rsref *nr = NULL;
    struct errlist errs = {0};
    struct stream **pp;

    notify_reloading();
    tz_reload(); /* /etc/localtime may point at another zone now */
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        loghdr_stamp_clear(&s->stamp); /* its times were converted in the zone before */
    }
    log_info("reload: reading the configuration%s%s", ag->cli.config_file != NULL ? " " : "",
             ag->cli.config_file != NULL ? ag->cli.config_file : "");
    if (options_load(&ag->cli, &nc, &nr, &errs) == -1) {
        options_print_errors(&errs, 1);
        log_errx("reload: failed (%zu errors): keeping the running configuration", errs.total);
        errlist_clear(&errs);
        config_free(&nc);
        agent_status(ag, 1);
        notify_ready("reload failed: running the previous configuration");
        return;
    }
    errlist_clear(&errs);
    options_resolve_fallbacks(&nc);
    if (strcmp(nc.state_dir, ag->cfg.state_dir) != 0 ||
        (nc.output == NULL) != (ag->cfg.output == NULL) ||
        (nc.output != NULL && strcmp(nc.output, ag->cfg.output) != 0)) {
        log_warnx("reload: state_dir and output changes take effect after a restart");
        free(nc.state_dir);
        nc.state_dir = strdup(ag->cfg.state_dir);
        free(nc.output);
        nc.output = ag->cfg.output != NULL ? strdup(ag->cfg.output) : NULL;
    }
    if (nc.redis_fleet_shards != ag->cfg.redis_fleet_shards) {
        /* The exporter keeps its settings: the shard of a pending fleet delta is the one its
         * commit named, so N changes with a restart only. */
        log_warnx("reload: [redis] fleet_shards = %" PRId64 " takes effect after a restart "
                  "(running with %" PRId64 ")",
                  nc.redis_fleet_shards, ag->cfg.redis_fleet_shards);
        nc.redis_fleet_shards = ag->cfg.redis_fleet_shards;
    }
    /* Batches counted with the old rules are sealed with them. */
    for (struct stream *s = ag->streams; s != NULL; s = s->next) {
        stream_seal(s, 1);
        s->keep = 0;
    }
    /* The alert rules are read again and name reasons of the new rule set: the new detector
     * goes on from the running one (a rule that selects what it did keeps its window, baseline
     * and state), which then saves its baselines and ends. */
    struct alerts_out *old_alerts = ag->alerts;
    struct config old_cfg = ag->cfg;
    struct rsref *old_rsr = ag->rsr;

    ag->cfg = nc;
    ag->rsr = nr;
    ag->alerts = ag->x->alerts_new(ag->loop, &ag->cfg, ag->rsr->rs, ag->agent_id);
    ag->x->alerts_carry(ag->alerts, old_alerts);
    ag->x->alerts_free(old_alerts);
    config_free(&old_cfg);
    rsref_put(old_rsr);
    log_set_level(ag->cli.verbose ? LOG_LVL_DEBUG : (enum log_level)ag->cfg.log_level);
    agent_sources(ag, 0);
    for (pp = &ag->streams; *pp != NULL;) {
        struct stream *s = *pp;

        if (!s->keep) {
            struct stream *t = ag->streams;

            while (t != NULL && (t == s || !t->keep || strcmp(t->name, s->name) != 0)) {
                t = t->next;
            }
            if (t != NULL) {
                log_info("reload: source=%s switched from the %s to the %s", s->name,
                         source_kind(s->in), source_kind(t->in));
            } else {
                log_info("reload: source=%s removed", s->name);
            }
            *pp = s->next;
            stream_free(s);
            continue;
        }
        for (size_t i = 0; i < ag->cfg.nsources; i++) {
            const struct config_source *cs = &ag->cfg.sources[i];

            if (strcmp(cs->name, s->src) == 0) {
                stream_set_rules(s, ag->rsr, cs);
                struct tail_conf tc = tail_conf_of(&ag->cfg, cs);

                source_set_conf(s->in, &tc);
            }
        }
        pp = &s->next;
    }
    ev_timer_stop(ag->loop, &ag->w_flush);
    ev_timer_set(&ag->w_flush, (double)ag->cfg.flush_interval / 1000.0,
                 (double)ag->cfg.flush_interval / 1000.0);
    ev_timer_start(ag->loop, &ag->w_flush);
    ev_timer_stop(ag->loop, &ag->w_rescan);
    ev_timer_set(&ag->w_rescan, (double)ag->cfg.rescan_interval / 1000.0,
                 (double)ag->cfg.rescan_interval / 1000.0);
    ev_timer_start(ag->loop, &ag->w_rescan);
    agent_submit(ag);
    agent_rescan(ag);
    log_info("reload: done: %zu sources, %zu rules", ag->cfg.nsources,
             ruleset_rule_count(ag->rsr->rs));
    notify_ready("running (reloaded)");
}
