/*
 * JSON strings: the one escaper of every JSON output (scan, query, the JSON-lines batches,
 * alerts). Pure: it writes into the caller's buffer only.
 *
 * Strings are UTF-8. A valid UTF-8 sequence is copied unchanged (non-ASCII is never written as
 * \u escapes); '"' and '\\' are escaped; the control characters become \b \f \n \r \t or \u00XX,
 * and DEL becomes \u007f. Every byte that is not part of a valid UTF-8 sequence -- a stray
 * continuation byte, 0xC0, 0xC1, 0xF5..0xFF, an overlong form, an encoded surrogate
 * (ED A0..BF xx), a code point above U+10FFFF, a sequence cut short -- is written as \udcXX, the
 * lone low surrogate U+DC00 + byte (U+DC80..U+DCFF, Python's PEP 383 "surrogateescape"), one
 * escape per byte. The original bytes come back with
 *     json.loads(s).encode('utf-8', 'surrogateescape')
 * Parsers that do not keep lone surrogates (jq) read each such escape as U+FFFD.
 */
#ifndef SMTPMON_JSON_H
#define SMTPMON_JSON_H

#include <stddef.h>

/* The most bytes that one input byte or sequence turns into ("\udcff", "\u001f"). */
#define JSON_ESCAPE_MAX 6

/* The length (2..4) of the valid UTF-8 sequence of a non-ASCII code point at s[0..len), or 0
 * when s[0] does not start one (shortest form, no surrogate, at most U+10FFFF). */
size_t json_utf8_len(const unsigned char *s, size_t len);

/*
 * Writes s[0..len) escaped, without the quotes, into dst at *pos, advancing *pos. It stops before
 * a piece (one escape or one UTF-8 sequence) that would not fit with a terminating NUL in cap
 * bytes, so the output is never cut inside an escape or a character; dst is NUL-terminated when
 * cap > 0. Returns the number of bytes of s written: len when all of it fitted.
 */
size_t json_escape(char *dst, size_t cap, size_t *pos, const char *s, size_t len);

#endif
