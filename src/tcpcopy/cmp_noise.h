/*
 * cmp_noise: what does not count in a comparison (see cmp_noise.c and doc/compare.md).
 *
 * Defaults: the values of HTTP Date, Expires and Age are ignored, Set-Cookie keeps only the
 * cookie's name, Transfer-Encoding and Content-Length are left out (the body is compared
 * decoded, with its length; rules may change its length), header names
 * are compared in lower case with their values trimmed. Rules from --compare-ignore add to
 * them: header:NAME, regex:EXPR (POSIX extended; matches are removed from each header line
 * and from each body line of at most CMP_LINE_MAX bytes), json:PATH (a value left out of a
 * JSON body, see cmp_json.h).
 */
#ifndef TC_CMP_NOISE_H
#define TC_CMP_NOISE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp_json.h"
#include "cmp_unit.h"

#define CMP_MAX_RULES 16
#define CMP_NAME_MAX 64
#define CMP_LINE_MAX 8192 /* a body line longer than this is cut for the regex rules */

struct cmp_rules {
    uint32_t nheader, nregex, njson;
    char header[CMP_MAX_RULES][CMP_NAME_MAX]; /* lower case */
    regex_t regex[CMP_MAX_RULES];
    struct cmp_jpath json[CMP_MAX_RULES];
};

void cmp_rules_init(struct cmp_rules *r);
/* Add one --compare-ignore rule. 0, or -EINVAL / -ENOSPC with a message in err. */
int cmp_rules_add(struct cmp_rules *r, const char *rule, char *err, size_t errlen);
void cmp_rules_free(struct cmp_rules *r); /* NULL-safe */

/* Normalise one header line (without CRLF) into out (outlen >= 2): lower-case name, trimmed
 * value, ignored values left out, rules applied. Returns its length, or 0 when the line does
 * not count at all. r may be NULL (defaults only). */
size_t cmp_noise_header(const struct cmp_rules *r, const char *line, size_t n, char *out,
                        size_t outlen);

/* Apply re to buf[0..n): with fill < 0 matches are removed, else each matched byte becomes
 * fill. Binary-safe (REG_STARTEND). Returns the new length. */
size_t cmp_regex_apply(const regex_t *re, uint8_t *buf, size_t n, int fill);

/* A body's filter chain: JSON paths (when the body is JSON), then the regex rules line by
 * line, into a stream. */
struct cmp_bodyf {
    const struct cmp_rules *rules;
    struct cmp_stream *out;
    bool json_on;
    uint32_t linelen;
    struct cmp_json json;
    uint8_t *line; /* CMP_LINE_MAX bytes, allocated on first use by a regex rule */
    uint64_t unfiltered; /* bytes that went through unfiltered (no memory for the line) */
};

/* Start a body. json: the body is JSON (its Content-Type says so), so json rules apply. f
 * must be zeroed before its first init; a later init keeps its line buffer. */
void cmp_bodyf_init(struct cmp_bodyf *f, const struct cmp_rules *r, bool json,
                    struct cmp_stream *out);
/* Free the line buffer (f itself belongs to the caller). */
void cmp_bodyf_free(struct cmp_bodyf *f);
void cmp_bodyf_add(struct cmp_bodyf *f, const uint8_t *p, size_t n);
/* The body ended: flush the line in progress. */
void cmp_bodyf_end(struct cmp_bodyf *f);

#endif
