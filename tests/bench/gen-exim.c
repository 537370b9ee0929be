/*
 * gen-exim.c -- deterministic generator of a busy Exim 4 server's main log, with the counts
 * 'smtpmon scan' must find in it.
 *
 *   gen-exim LINES [SEED] [TALLY] > mainlog
 *
 * Writes LINES lines of Exim's own main log ("2026-11-30 22:00:01 1vQxYz-00000003Ab-0Cde
 * <= ..."), a few lines per second of log time: messages received ("<="), delivered ("=>", and
 * "->" for further recipients of one delivery), bounced ("**", by a remote server or on this
 * host), deferred ("==") and retried later until delivered or timed out, remote replies on
 * their own line ("H=... SMTP error from remote mail server", recognised but counted from the
 * address's "==" line that repeats them), bounce messages ("<= <>") of which
 * some cannot be delivered and are frozen, ACL refusals ("rejected RCPT", "rejected after DATA",
 * "rejected connection", "temporarily rejected"), refused SMTP AUTH, and the usual lines with
 * no reply (connections, queue runs, "Completed", retry time not reached, TLS errors).
 *
 * With TALLY, writes there a JSON object in the shape of 'smtpmon scan --format json' with the
 * counts the generator itself made: "lines", "matched", "implied" and, under "by", "class",
 * "reply", "status", "direction", "outcome", "reason" and "rule". Each event line is written
 * together with the rule, codes, direction, outcome and reason it must get, so a test compares
 * the two objects key by key. The output depends only on LINES and SEED.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* ---- the tally */

#define KEYS 64

struct tab {
    const char *key[KEYS];
    uint64_t n[KEYS];
    size_t len;
};

enum { T_CLASS, T_REPLY, T_STATUS, T_DIRECTION, T_OUTCOME, T_REASON, T_RULE, T__N };

static const char *const tab_names[T__N] = {"class",   "reply",  "status", "direction",
                                            "outcome", "reason", "rule"};
static struct tab tabs[T__N];
static uint64_t n_lines, n_matched, n_implied, max_lines;
static char keybuf[KEYS * T__N][16];
static size_t nkeybuf;

static void
tab_add(struct tab *t, const char *key)
{
    for (size_t i = 0; i < t->len; i++) {
        if (strcmp(t->key[i], key) == 0) {
            t->n[i]++;
            return;
        }
    }
    if (t->len == KEYS) {
        fprintf(stderr, "gen-exim: too many keys in one table\n");
        exit(1);
    }
    t->key[t->len] = key;
    t->n[t->len++] = 1;
}

/* A copy of a short key that lives as long as the program (codes are formatted on the fly). */
static const char *
keep(const char *s)
{
    for (size_t i = 0; i < nkeybuf; i++) {
        if (strcmp(keybuf[i], s) == 0) {
            return keybuf[i];
        }
    }
    if (nkeybuf == ARRAY_LEN(keybuf)) {
        fprintf(stderr, "gen-exim: too many keys\n");
        exit(1);
    }
    snprintf(keybuf[nkeybuf], sizeof(keybuf[0]), "%s", s);
    return keybuf[nkeybuf++];
}

/* What one event line must give. enh is "" without an enhanced code; implied: the rule's
 * default, not the line, supplies the code. */
struct want {
    const char *rule;
    int reply;
    const char *enh;
    const char *direction;
    const char *outcome;
    const char *reason; /* for failures */
    int implied;
};

static void
tally(const struct want *w)
{
    char buf[16];
    int cls = w->enh[0] != '\0' ? w->enh[0] - '0' : w->reply / 100;

    n_matched++;
    n_implied += w->implied != 0;
    snprintf(buf, sizeof(buf), "%d", cls);
    tab_add(&tabs[T_CLASS], keep(buf));
    if (w->reply != 0) {
        snprintf(buf, sizeof(buf), "%d", w->reply);
        tab_add(&tabs[T_REPLY], keep(buf));
    }
    if (w->enh[0] != '\0') {
        tab_add(&tabs[T_STATUS], w->enh);
    }
    tab_add(&tabs[T_DIRECTION], w->direction);
    tab_add(&tabs[T_OUTCOME], w->outcome);
    if (cls == 4 || cls == 5) {
        tab_add(&tabs[T_REASON], w->reason);
    }
    tab_add(&tabs[T_RULE], w->rule);
}

static void
write_tally(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "gen-exim: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fprintf(f, "{\"lines\":%llu,\"matched\":%llu,\"implied\":%llu,\"by\":{",
            (unsigned long long)n_lines, (unsigned long long)n_matched,
            (unsigned long long)n_implied);
    for (int t = 0; t < T__N; t++) {
        fprintf(f, "%s\"%s\":{", t ? "," : "", tab_names[t]);
        for (size_t i = 0; i < tabs[t].len; i++) {
            fprintf(f, "%s\"%s\":%llu", i ? "," : "", tabs[t].key[i],
                    (unsigned long long)tabs[t].n[i]);
        }
        fputc('}', f);
    }
    fputs("}}\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "gen-exim: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* ---- time, ids, names */

static int64_t now = 1796076000; /* 2026-11-30 22:00:00 UTC: the day and month roll over */

/* Writes the 19 bytes of "YYYY-MM-DD hh:mm:ss" at buf. */
static void
stamp(char *buf)
{
    char t[64];
    int64_t z = now / 86400 + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    int64_t s = now % 86400;

    snprintf(t, sizeof(t), "%04lld-%02u-%02u %02lld:%02lld:%02lld", (long long)y, m, d,
             (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
    memcpy(buf, t, 19);
}

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* A message id of Exim 4.97 on: 6, 11 and 4 base-62 digits. */
static void
new_id(char *id)
{
    static uint64_t seq = 1;
    uint64_t t = (uint64_t)now, p = seq++ * 7919;

    for (int i = 5; i >= 0; i--, t /= 62) {
        id[i] = b62[t % 62];
    }
    id[6] = '-';
    for (int i = 17; i >= 7; i--, p /= 62) {
        id[i] = b62[p % 62];
    }
    id[18] = '-';
    for (int i = 19; i < 23; i++) {
        id[i] = b62[rn(62)];
    }
    id[23] = '\0';
}

static const char *const remote_domains[] = {
    "gmail.com",     "outlook.com",     "yahoo.com",        "example.org",
    "example.com",   "example.net",     "mail.example.de",  "example.fr",
    "lists.example", "partner.example", "shop.example.biz", "uni.example.edu",
};
static const char *const local_users[] = {"alice", "bob",  "carol", "dave",   "erin",
                                          "frank", "info", "sales", "support"};
#define OURDOMAIN "ourdomain.example"

static void
client_ip(char *buf, size_t cap)
{
    snprintf(buf, cap, "198.%u.%u.%u", 18 + rn(2), rn(256), 1 + rn(254));
}

/* ---- output */

static char *out_buf;
static size_t out_len;
#define OUT_CAP (1 << 20)

static void
flush_out(void)
{
    if (out_len > 0 && fwrite(out_buf, 1, out_len, stdout) != out_len) {
        fprintf(stderr, "gen-exim: write: %s\n", strerror(errno));
        exit(1);
    }
    out_len = 0;
}

/* One log line with the current time; w is the event it must give, or NULL. */
static void emit(const struct want *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
emit(const struct want *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (n_lines == max_lines) {
        return; /* exactly LINES lines: the rest of the transaction is not written */
    }
    if (OUT_CAP - out_len < 4096) {
        flush_out();
    }
    stamp(out_buf + out_len);
    out_len += 19;
    out_buf[out_len++] = ' ';
    va_start(ap, fmt);
    n = vsnprintf(out_buf + out_len, OUT_CAP - out_len - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= 4000) {
        fprintf(stderr, "gen-exim: line too long\n");
        exit(1);
    }
    out_len += (size_t)n;
    out_buf[out_len++] = '\n';
    n_lines++;
    if (w != NULL) {
        tally(w);
    }
}

/* ---- what remote servers and our ACLs say, and the reason each text must get */

struct reply {
    int reply;
    const char *enh;
    const char *text;
    const char *reason;
};

static const struct reply remote_bounces[] = {
    {550, "5.1.1", "<%s>: Recipient address rejected: User unknown in virtual mailbox table",
     "unknown-recipient"},
    {550, "5.1.1",
     "The email account that you tried to reach does not exist. Please try double-checking the "
     "recipient's email address for typos or unnecessary spaces. - gsmtp",
     "unknown-recipient"},
    {550, "5.7.1", "Service unavailable, Client host [198.18.0.25] blocked using Spamhaus.",
     "blocklist"},
    {552, "5.2.2", "<%s>: Recipient address rejected: Mailbox full", "mailbox-full"},
    {550, "5.7.26",
     "Unauthenticated email from ourdomain.example is not accepted due to domain's DMARC policy.",
     "dmarc"},
    {554, "5.7.1", "<%s>: Relay access denied", "relay-denied"},
    {552, "5.3.4", "Message size exceeds fixed limit", "message-too-large"},
    {550, "", "Administrative prohibition", "policy"},
};

static const struct reply remote_defers[] = {
    {451, "4.7.1", "Greylisted, please try again in 300 seconds", "greylisting"},
    {421, "4.7.0",
     "[TSS04] Messages from 198.18.0.25 temporarily deferred due to unexpected volume or user "
     "complaints",
     "reputation"},
    {452, "4.2.2", "<%s>: Mailbox is full", "mailbox-full"},
    {451, "4.3.0", "Temporary local problem - please try later", "system"},
    {450, "4.2.1",
     "The user you are trying to contact is receiving mail at a rate that prevents additional "
     "messages from being delivered. Please resend your message at a later time. - gsmtp",
     "rate-limit"},
};

static const struct reply host_replies[] = {
    {421, "4.7.0", "mx1.%s Error: too many connections from 198.18.0.25", "rate-limit"},
    {421, "", "Service not available, closing transmission channel", "system"},
};

/* ACL refusals: Exim logs no code; the rule's default (550, or 451 when temporary) is used. */
static const struct reply rcpt_rejects[] = {
    {550, "", "Unknown user", "unknown-recipient"},
    {550, "", "relay not permitted", "relay-denied"},
    {550, "", "rejected because %s is in a black list at zen.spamhaus.org", "blocklist"},
    {550, "", "Sender verify failed", "policy"},
    {550, "", "SPF check failed", "spf"},
    {550, "", "Over quota", "mailbox-full"},
};

static const struct reply rcpt_temp_rejects[] = {
    {451, "", "Deferred due to greylisting", "greylisting"},
    {451, "", "Could not complete sender verify", "system"},
};

static const struct reply data_rejects[] = {
    {550, "", "Your message scored 14.2 SpamAssassin points and has been rejected", "spam"},
    {550, "", "This message contains a virus (Win.Test.EICAR_HDB-1).", "virus"},
};

/* ---- deferred recipients, retried later */

struct pending {
    char id[24];
    char rcpt[96];
    int64_t due;
    int tries;
};

#define PENDING_MAX 4096
static struct pending pend[PENDING_MAX];
static size_t npend;

static void
remote_rcpt(char *buf, size_t cap)
{
    snprintf(buf, cap, "u%u@%s", rn(5000), remote_domains[rn(ARRAY_LEN(remote_domains))]);
}

static const char *
domain_of(const char *addr)
{
    const char *at = strchr(addr, '@');
    return at != NULL ? at + 1 : "";
}

static void
delivered_remote(const char *id, const char *rcpt, int more)
{
    static const struct want w = {"exim.delivered", 250, "2.0.0", "outbound", "delivered", "", 0};
    char ip[20];

    client_ip(ip, sizeof(ip));
    emit(&w,
         "%s %s %s R=dnslookup T=remote_smtp H=mx%u.%s [%s] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 "
         "CV=yes C=\"250 2.0.0 OK id=%u\"",
         id, more ? "->" : "=>", rcpt, rn(3), domain_of(rcpt), ip, rn(1000000));
}

/* A bounce message for a failed recipient: received, then delivered to the sender, or (with a
 * sender that cannot be reached) failed and frozen. */
static void
bounce_message(const char *parent, const char *sender)
{
    char id[24];

    new_id(id);
    now += rn(2);
    emit(NULL, "%s <= <> R=%s U=Debian-exim P=local S=%u", id, parent, 2000 + rn(8000));
    if (pm(900)) {
        delivered_remote(id, sender, 0);
        emit(NULL, "%s Completed", id);
    } else {
        static const struct want w = {"exim.bounce.local", 0, "5.0.0", "local", "bounced",
                                      "unknown-recipient", 1};
        emit(&w, "%s ** %s: Unrouteable address", id, sender);
        emit(NULL, "%s Frozen (delivery error message)", id);
    }
}

static void
retry_due(void)
{
    for (size_t i = 0; i < npend;) {
        struct pending *p = &pend[i];
        if (p->due > now) {
            i++;
            continue;
        }
        if (p->tries >= 3 && pm(300)) {
            static const struct want w = {
                "exim.bounce.expired", 0, "5.0.0", "outbound", "expired", "expired", 1};
            emit(&w, "%s ** %s R=dnslookup T=remote_smtp: retry timeout exceeded", p->id, p->rcpt);
            bounce_message(p->id, "news@" OURDOMAIN);
        } else if (pm(250)) {
            emit(NULL,
                 "%s == %s R=dnslookup T=remote_smtp defer (-53): retry time not reached for any "
                 "host",
                 p->id, p->rcpt);
            p->due = now + 600 + rn(1200);
            p->tries++;
            i++;
            continue;
        } else {
            delivered_remote(p->id, p->rcpt, 0);
            emit(NULL, "%s Completed", p->id);
        }
        pend[i] = pend[--npend];
    }
}

static void
defer_later(const char *id, const char *rcpt)
{
    if (npend == PENDING_MAX) {
        return;
    }
    snprintf(pend[npend].id, sizeof(pend[npend].id), "%s", id);
    snprintf(pend[npend].rcpt, sizeof(pend[npend].rcpt), "%s", rcpt);
    pend[npend].due = now + 300 + rn(1800);
    pend[npend].tries = 1;
    npend++;
}

/* ---- transactions */

static void
text_of(char *buf, size_t cap, const struct reply *r, const char *arg)
{
    if (strstr(r->text, "%s") != NULL) {
        snprintf(buf, cap, r->text, arg);
    } else {
        snprintf(buf, cap, "%s", r->text);
    }
}

static void
codes_of(char *buf, size_t cap, const struct reply *r)
{
    if (r->enh[0] != '\0') {
        snprintf(buf, cap, "%d %s", r->reply, r->enh);
    } else {
        snprintf(buf, cap, "%d", r->reply);
    }
}

static void
outbound_message(void)
{
    char id[24], rcpt[96], ip[20], text[512], codes[16];
    const char *user = local_users[rn(ARRAY_LEN(local_users))];
    int nrcpt = 1 + (int)rn(3), more = 0, left = 0;

    new_id(id);
    client_ip(ip, sizeof(ip));
    if (pm(500)) {
        emit(NULL, "%s <= %s@" OURDOMAIN " U=www-data P=local S=%u", id, user, 1000 + rn(90000));
    } else {
        emit(NULL,
             "%s <= %s@" OURDOMAIN " H=(laptop) [%s]:%u I=[192.0.2.10]:587 P=esmtpsa "
             "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:%s S=%u id=%u@laptop",
             id, user, ip, 40000 + rn(20000), user, 1000 + rn(90000), rn(1000000));
    }
    for (int i = 0; i < nrcpt; i++) {
        uint32_t k = rn(1000);
        remote_rcpt(rcpt, sizeof(rcpt));
        now += rn(2);
        if (k < 800) {
            delivered_remote(id, rcpt, more);
            more = 1;
        } else if (k < 870) {
            const struct reply *r = &remote_bounces[rn(ARRAY_LEN(remote_bounces))];
            struct want w = {
                "exim.bounce.remote", r->reply, r->enh, "outbound", "bounced", r->reason, 0};
            text_of(text, sizeof(text), r, rcpt);
            codes_of(codes, sizeof(codes), r);
            client_ip(ip, sizeof(ip));
            emit(&w,
                 "%s ** %s R=dnslookup T=remote_smtp H=mx.%s [%s]: SMTP error from remote mail "
                 "server after RCPT TO:<%s>: %s %s",
                 id, rcpt, domain_of(rcpt), ip, rcpt, codes, text);
            bounce_message(id, user[0] == 's' ? "nobody@gone.example" : "news@" OURDOMAIN);
        } else if (k < 950) {
            const struct reply *r = &remote_defers[rn(ARRAY_LEN(remote_defers))];
            struct want w = {"exim.defer.remote", r->reply,  r->enh, "outbound",
                             "deferred",          r->reason, 0};
            text_of(text, sizeof(text), r, rcpt);
            codes_of(codes, sizeof(codes), r);
            client_ip(ip, sizeof(ip));
            emit(&w,
                 "%s == %s R=dnslookup T=remote_smtp defer (-44) H=mx.%s [%s]: SMTP error from "
                 "remote mail server after RCPT TO:<%s>: %s %s",
                 id, rcpt, domain_of(rcpt), ip, rcpt, codes, text);
            defer_later(id, rcpt);
            left = 1;
        } else if (k < 975) {
            /* transports/smtp.c logs the host's answer on its own line (recognised, not
             * counted), then deliver.c the address's deferral with the same reply */
            const struct reply *r = &host_replies[rn(ARRAY_LEN(host_replies))];
            struct want w = {"exim.defer.remote", r->reply,  r->enh, "outbound",
                             "deferred",          r->reason, 0};
            text_of(text, sizeof(text), r, domain_of(rcpt));
            codes_of(codes, sizeof(codes), r);
            client_ip(ip, sizeof(ip));
            emit(NULL,
                 "%s H=mx1.%s [%s]: SMTP error from remote mail server after initial connection: "
                 "%s %s",
                 id, domain_of(rcpt), ip, codes, text);
            emit(&w,
                 "%s == %s R=dnslookup T=remote_smtp defer (-46) H=mx1.%s [%s]: SMTP error from "
                 "remote mail server after initial connection: %s %s",
                 id, rcpt, domain_of(rcpt), ip, codes, text);
            defer_later(id, rcpt);
            left = 1;
        } else {
            /* no reply: the 4.0.0 of Exim's delay warning (patterns/exim.rules) */
            static const struct want w = {"exim.defer.host", 0, "4.0.0", "outbound", "deferred",
                                          "connection",      1};
            emit(&w, "%s == %s R=dnslookup T=remote_smtp defer (110): Connection timed out", id,
                 rcpt);
            defer_later(id, rcpt);
            left = 1;
        }
    }
    if (!left) {
        emit(NULL, "%s Completed", id);
    }
}

static void
inbound_message(void)
{
    char id[24], ip[20], sender[96];
    const char *user = local_users[rn(ARRAY_LEN(local_users))];
    uint32_t k = rn(1000);

    new_id(id);
    client_ip(ip, sizeof(ip));
    remote_rcpt(sender, sizeof(sender));
    emit(NULL, "SMTP connection from [%s]:%u I=[192.0.2.10]:25 (TCP/IP connection count = %u)", ip,
         30000 + rn(30000), 1 + rn(40));
    emit(
        NULL,
        "%s <= %s H=mail.%s [%s]:%u I=[192.0.2.10]:25 P=esmtps X=TLS1.3:TLS_AES_128_GCM_SHA256:128 "
        "CV=no S=%u id=%u.%u@%s",
        id, sender, domain_of(sender), ip, 30000 + rn(30000), 2000 + rn(200000), rn(100000),
        rn(100000), domain_of(sender));
    now += rn(2);
    if (k < 700) {
        static const struct want w = {"exim.delivered.lmtp", 250, "2.0.0", "local",
                                      "delivered",           "",  0};
        emit(&w,
             "%s => %s@" OURDOMAIN " R=local_user T=dovecot_lmtp H=localhost [127.0.0.1] "
             "C=\"250 2.0.0 <%s@" OURDOMAIN "> %c%c%c%c%c%c Saved\"",
             id, user, user, b62[rn(62)], b62[rn(62)], b62[rn(62)], b62[rn(62)], b62[rn(62)],
             b62[rn(62)]);
    } else if (k < 900) {
        emit(NULL, "%s => %s <%s@" OURDOMAIN "> R=localuser T=local_delivery", id, user, user);
    } else if (k < 950) {
        static const struct want w = {"exim.bounce.local", 0, "5.0.0", "local", "bounced",
                                      "mailbox-full",      1};
        emit(&w,
             "%s ** %s@" OURDOMAIN " R=localuser T=local_delivery: mailbox is full (MTA-imposed "
             "quota exceeded while writing to /var/mail/%s)",
             id, user, user);
        bounce_message(id, sender);
    } else if (k < 980) {
        static const struct want w = {"exim.defer.lmtp", 452, "4.2.2", "local", "deferred",
                                      "mailbox-full",    0};
        emit(&w,
             "%s == %s@" OURDOMAIN " R=local_user T=dovecot_lmtp defer (-44) H=localhost "
             "[127.0.0.1]: LMTP error after RCPT TO:<%s@" OURDOMAIN ">: 452 4.2.2 <%s@" OURDOMAIN
             "> Quota exceeded (mailbox for user is full)",
             id, user, user, user);
        return;
    } else {
        static const struct want w = {"exim.bounce.local", 0, "5.0.0", "local", "bounced",
                                      "unknown-recipient", 1};
        emit(&w, "%s ** nobody%u@" OURDOMAIN ": Unrouteable address", id, rn(100));
        bounce_message(id, sender);
    }
    emit(NULL, "%s Completed", id);
}

static void
inbound_refusal(void)
{
    char ip[20], sender[96], text[512], rcpt[96];
    uint32_t k = rn(1000);

    client_ip(ip, sizeof(ip));
    remote_rcpt(sender, sizeof(sender));
    snprintf(rcpt, sizeof(rcpt), "%s%u@" OURDOMAIN, local_users[rn(ARRAY_LEN(local_users))], rn(3));
    emit(NULL, "SMTP connection from [%s]:%u I=[192.0.2.10]:25 (TCP/IP connection count = %u)", ip,
         30000 + rn(30000), 1 + rn(40));
    if (k < 550) {
        const struct reply *r = &rcpt_rejects[rn(ARRAY_LEN(rcpt_rejects))];
        struct want w = {"exim.reject.rcpt", 550, "", "inbound", "rejected", r->reason, 1};
        text_of(text, sizeof(text), r, ip);
        emit(&w, "H=(spam.example) [%s]:%u I=[192.0.2.10]:25 F=<%s> rejected RCPT <%s>: %s", ip,
             30000 + rn(30000), sender, rcpt, text);
    } else if (k < 700) {
        const struct reply *r = &rcpt_temp_rejects[rn(ARRAY_LEN(rcpt_temp_rejects))];
        struct want w = {"exim.reject.rcpt.temp", 451, "", "inbound", "rejected", r->reason, 1};
        emit(&w, "H=mail.%s [%s] F=<%s> temporarily rejected RCPT <%s>: %s", domain_of(sender), ip,
             sender, rcpt, r->text);
    } else if (k < 800) {
        const struct reply *r = &data_rejects[rn(ARRAY_LEN(data_rejects))];
        struct want w = {"exim.reject.data", 550, "", "inbound", "rejected", r->reason, 1};
        char id[24];
        new_id(id);
        emit(&w, "%s H=mail.%s [%s] F=<%s> rejected after DATA: %s", id, domain_of(sender), ip,
             sender, r->text);
    } else if (k < 880) {
        static const struct want w = {"exim.reject.connect", 550, "", "inbound", "rejected",
                                      "blocklist",           1};
        emit(&w,
             "H=[%s]:%u rejected connection in \"connect\" ACL: Your IP is listed at "
             "bl.spamcop.net",
             ip, 30000 + rn(30000));
    } else if (k < 890) {
        static const struct want w = {"exim.reject.sync", 554,        "", "inbound",
                                      "rejected",         "protocol", 1};
        emit(&w,
             "SMTP protocol synchronization error (input sent without waiting for greeting): "
             "rejected connection from H=[%s]:%u I=[192.0.2.10]:25 input=\"GET / HTTP/1.1\\r\\n\"",
             ip, 30000 + rn(30000));
    } else if (k < 895) {
        static const struct want w = {"exim.reject.rcpt", 550, "", "inbound", "rejected", "spf", 1};
        emit(&w, "H=(mail.%s) [%s]:%u I=[192.0.2.10]:25 F=<%s> SPF=fail rejected RCPT <%s>",
             domain_of(sender), ip, 30000 + rn(30000), sender, rcpt);
    } else if (k < 900) {
        static const struct want w = {"exim.reject.nohelo", 503,        "", "inbound",
                                      "rejected",           "protocol", 1};
        emit(&w, "rejected MAIL from [%s]:%u: no HELO/EHLO given", ip, 30000 + rn(30000));
    } else {
        static const struct want w = {"exim.auth.failed", 535,           "", "inbound",
                                      "rejected",         "auth-failed", 0};
        emit(&w,
             "dovecot_login authenticator failed for (User) [%s]:%u I=[192.0.2.10]:587: 535 "
             "Incorrect authentication data (set_id=%s@" OURDOMAIN ")",
             ip, 30000 + rn(30000), local_users[rn(ARRAY_LEN(local_users))]);
    }
    if (pm(300)) {
        emit(NULL, "SMTP connection from (spam.example) [%s]:%u I=[192.0.2.10]:25 lost", ip,
             30000 + rn(30000));
    }
}

static void
noise(void)
{
    char ip[20];
    uint32_t k = rn(4);

    client_ip(ip, sizeof(ip));
    if (k == 0) {
        emit(NULL, "Start queue run: pid=%u", 10000 + rn(50000));
        emit(NULL, "End queue run: pid=%u", 10000 + rn(50000));
    } else if (k == 1) {
        emit(NULL, "no host name found for IP address %s", ip);
    } else if (k == 2) {
        emit(NULL,
             "TLS error on connection from [%s]:%u I=[192.0.2.10]:25 (SSL_accept): "
             "error:0A000416:SSL routines::sslv3 alert certificate unknown",
             ip, 30000 + rn(30000));
    } else {
        static const struct want w = {
            "exim.reject.dropped.protocol", 0, "5.5.0", "inbound", "rejected", "protocol", 1};
        emit(&w,
             "SMTP call from (ylmf-pc) [%s]:%u I=[192.0.2.10]:25 dropped: too many syntax or "
             "protocol errors (last command was \"AUTH LOGIN\", C=EHLO,AUTH)",
             ip, 30000 + rn(30000));
    }
}

static int
parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

int
main(int argc, char **argv)
{
    uint64_t lines, seed = 1;

    if (argc < 2 || argc > 4 || parse_u64(argv[1], &lines) != 0 ||
        (argc >= 3 && parse_u64(argv[2], &seed) != 0)) {
        fprintf(stderr, "usage: gen-exim LINES [SEED [TALLY]] > mainlog\n");
        return 2;
    }
    max_lines = lines;
    rng_seed(seed);
    if ((out_buf = malloc(OUT_CAP)) == NULL) {
        fprintf(stderr, "gen-exim: out of memory\n");
        return 1;
    }
    while (n_lines < lines) {
        uint32_t k = rn(1000);

        now += rn(3);
        retry_due();
        if (k < 380) {
            outbound_message();
        } else if (k < 760) {
            inbound_message();
        } else if (k < 960) {
            inbound_refusal();
        } else {
            noise();
        }
    }
    flush_out();
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gen-exim: write: %s\n", strerror(errno));
        return 1;
    }
    if (argc == 4) {
        write_tally(argv[3]);
    }
    return 0;
}
