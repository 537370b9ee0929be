/*
 * detect.h -- does a log message carry an SMTP code? Pure and fast: one pass over the bytes,
 * no regular expression. See the README ("Which lines carry a code") for the definition.
 */
#ifndef SMTPMON_AGENT_DETECT_H
#define SMTPMON_AGENT_DETECT_H

#include <stddef.h>

#define DETECT_REPLY 0x1 /* a reply-code token, e.g. "said: 550 ", "(250 " */
#define DETECT_ENH 0x2   /* an enhanced-code token, e.g. "dsn=5.7.1", " 4.2.0 " */

struct detect_hit {
    size_t off; /* where the token starts in the message */
    size_t len;
    int kind; /* DETECT_REPLY or DETECT_ENH */
};

/* Returns the DETECT_* kind of the first token found, 0 if the message carries no code. */
unsigned detect_codes(const char *msg, size_t len);

/* The DETECT_* kind of a token that starts at msg[off], or 0. A token found so is one that
 * detect_codes() looks for: when this is not 0, neither is detect_codes(msg, len). */
unsigned detect_token_at(const char *msg, size_t len, size_t off);

/* Whether detect_codes() may take its AVX2 path (the default where the processor has AVX2):
 * tests compare the two. Returns the previous setting. */
int detect_use_avx2(int on);

/* Lists up to max tokens (for explain and tests); returns how many were found. */
size_t detect_list(const char *msg, size_t len, struct detect_hit *hits, size_t max);

#endif
