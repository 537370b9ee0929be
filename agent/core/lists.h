/*
 * lists.h -- which blocklist or which receiver's filter a refusal names: a DNSBL zone
 * ("blocked using zen.spamhaus.org", "listed at sbl-xbl.spamhaus.org", "DNSLIST (bl.example:"),
 * a list named in prose ("IP in SpamCop blacklist", "Barracuda RBL"), or a provider's own code
 * or filter (Microsoft S3150, Yahoo [TSS04], Gmail's 5.7.26 / 5.7.1 texts, Proofpoint,
 * Mimecast, Cloudmark, Trend Micro). Pure: no I/O.
 */
#ifndef SMTPMON_AGENT_LISTS_H
#define SMTPMON_AGENT_LISTS_H

#include <stddef.h>

#define LISTS_NAME_MAX 64   /* longer zone names are not taken */
#define LISTS_TEXT_MAX 2048 /* bytes of a reply text searched */

/* Finds the list or filter named by a reply text. Returns its length (0: none) and sets *name
 * to a static canonical name (spamhaus-zen, spamcop, microsoft-s3150, yahoo-tss04,
 * gmail-auth, ...) or to a DNSBL zone inside the text (compare and count it folded to lower
 * case). */
size_t lists_find(const char *text, size_t len, const char **name);

/* lists_find without its memo of the last answers: what the memo must give. */
size_t lists_search(const char *text, size_t len, const char **name);

/* Is the name lists_find gave for text a DNS blocklist's (a known one, or a zone the text
 * names), not a receiver's filter (proofpoint, mimecast, ...) or a provider's own code
 * (microsoft-s3150)? */
int lists_is_dnsbl(const char *text, size_t tlen, const char *name, size_t len);

#endif
