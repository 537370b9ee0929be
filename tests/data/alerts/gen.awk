# gen.awk -- a deterministic Postfix log of one day (rsyslog high-precision timestamps, UTC)
# of a relay: outbound deliveries, a few deferrals and policy bounces, inbound RBL rejects and
# unknown recipients. Optionally a spike of outbound 5.7.1 bounces (a blocklisting at one
# receiver) from minute spike_start to spike_end (exclusive), and a second one from
# spike2_start to spike2_end. With auth_start set, SMTP AUTH failures of clients too: 0 to 2 a
# minute, and auth_rate (60) a minute from auth_start to auth_end (password guessing).
#
#   awk -v minutes=480 -v spike_start=300 -v spike_end=320 -f gen.awk > mail.log
BEGIN {
    if (minutes == "") minutes = 480
    if (minutes > 1440) minutes = 1440
    if (spike_start == "") spike_start = -1
    if (spike_end == "") spike_end = -1
    if (spike2_start == "") spike2_start = -1
    if (spike2_end == "") spike2_end = -1
    if (spike_rate == "") spike_rate = 40
    auth = auth_start != ""
    if (auth_end == "") auth_end = -1
    if (auth_rate == "") auth_rate = 60
    seed = 12345
    qid = 1048576
    for (m = 0; m < minutes; m++) {
        n = 0
        nsent = 36 + rnd(9)
        for (i = 0; i < nsent; i++) ev[n++] = "sent"
        for (i = rnd(3); i > 0; i--) ev[n++] = "defer"
        if (rnd(4) == 0) ev[n++] = "bounce"
        for (i = rnd(4); i > 0; i--) ev[n++] = "rbl"
        for (i = rnd(3); i > 0; i--) ev[n++] = "unknown"
        if ((m >= spike_start && m < spike_end) || (m >= spike2_start && m < spike2_end))
            for (i = 0; i < spike_rate; i++) ev[n++] = "spike"
        if (auth) {
            for (i = rnd(3); i > 0; i--) ev[n++] = "sasl"
            if (m >= auth_start && m < auth_end)
                for (i = 0; i < auth_rate; i++) ev[n++] = "sasl"
        }
        for (i = 0; i < n; i++) {
            j = rnd(n); t = ev[i]; ev[i] = ev[j]; ev[j] = t
        }
        for (i = 0; i < n; i++) {
            us = int(i * 60000000 / n) + rnd(1000)
            line(m, us, ev[i])
        }
    }
}
function rnd(k) {
    seed = (seed * 16807) % 2147483647
    return seed % k
}
function stamp(m, us) {
    return sprintf("2024-11-28T%02d:%02d:%02d.%06d+00:00", int(m / 60), m % 60, int(us / 1000000),
                   us % 1000000)
}
function line(m, us, kind,   q, pid, d) {
    q = sprintf("%X", qid++)
    pid = 20000 + rnd(5000)
    if (kind == "sent") {
        d = "d" rnd(400) ".example.org"
        printf "%s mx1 postfix/smtp[%d]: %s: to=<u%d@%s>, relay=mx.%s[192.0.2.%d]:25, delay=0.8, delays=0.1/0/0.3/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as %X)\n", stamp(m, us), pid, q, rnd(1000), d, d, 1 + rnd(250), qid * 7
    } else if (kind == "defer") {
        printf "%s mx1 postfix/smtp[%d]: %s: to=<u%d@slow.example.net>, relay=none, delay=301, delays=0.1/0/300/0, dsn=4.4.1, status=deferred (connect to mx.slow.example.net[198.51.100.%d]:25: Connection timed out)\n", stamp(m, us), pid, q, rnd(1000), 1 + rnd(250)
    } else if (kind == "bounce" || kind == "spike") {
        d = kind == "spike" ? "gmail.com" : "strict.example.com"
        printf "%s mx1 postfix/smtp[%d]: %s: to=<u%d@%s>, relay=mx.%s[203.0.113.%d]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.7.1, status=bounced (host mx.%s[203.0.113.%d] said: 550-5.7.1 [192.0.2.7] Our system has detected that this message is likely unsolicited mail. (in reply to end of DATA command))\n", stamp(m, us), pid, q, rnd(1000), d, d, 1 + rnd(250), d, 1 + rnd(250)
    } else if (kind == "rbl") {
        printf "%s mx1 postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[198.18.%d.%d]: 554 5.7.1 Service unavailable; Client host [198.18.%d.%d] blocked using zen.spamhaus.org; from=<x@spam.example> to=<info@ourdomain.example> proto=ESMTP helo=<spam.example>\n", stamp(m, us), pid, rnd(250), rnd(250), rnd(250), rnd(250)
    } else if (kind == "sasl") {
        printf "%s mx1 postfix/submission/smtpd[%d]: warning: unknown[198.18.%d.%d]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n", stamp(m, us), pid, rnd(250), rnd(250)
    } else {
        printf "%s mx1 postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[198.18.%d.%d]: 550 5.1.1 <n%d@ourdomain.example>: Recipient address rejected: User unknown in virtual mailbox table; from=<x@spam.example> to=<n%d@ourdomain.example> proto=ESMTP helo=<spam.example>\n", stamp(m, us), pid, rnd(250), rnd(250), rnd(9999), rnd(9999)
    }
}
