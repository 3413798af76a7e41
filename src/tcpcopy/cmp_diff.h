/*
 * cmp_diff: the verdict between two comparison units, and where they first differ.
 */
#ifndef TC_CMP_DIFF_H
#define TC_CMP_DIFF_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp_unit.h"

#define CMP_DIFF_X 96     /* bytes of each side around the first difference */
#define CMP_DIFF_BEFORE 16 /* of which before it, when known */

enum cmp_kind {
    CMP_KIND_NONE = 0,
    CMP_KIND_STATUS, /* HTTP status line(s) */
    CMP_KIND_HEADER, /* HTTP header multiset */
    CMP_KIND_BODY,   /* a differing byte */
    CMP_KIND_LENGTH, /* one is a prefix of the other, as far as can be told */
    CMP_KIND_CLOSED, /* one side ended by the connection's close or was cut by it */
};

struct cmp_diff {
    enum cmp_kind kind;
    uint64_t offset;   /* of the first difference in the (decoded, normalised) body */
    bool exact;        /* false: the difference is in the block that starts at offset */
    uint64_t a_from, b_from; /* offsets of the excerpts' first bytes (body kinds) */
    uint32_t alen, blen;
    uint8_t a[CMP_DIFF_X + CMP_HEADER_TEXT], b[CMP_DIFF_X + CMP_HEADER_TEXT];
};

/* Compare a (online) with b (target). True when equal; otherwise d says how and where.
 * Pure; d is always filled. */
bool cmp_diff_units(const struct cmp_unit *a, const struct cmp_unit *b, struct cmp_diff *d);
/* As cmp_diff_units, for the HTTP header multiset only (the first line each side has more
 * often than the other, as excerpts). */
bool cmp_diff_header(const struct cmp_unit *a, const struct cmp_unit *b, struct cmp_diff *d);
/* As cmp_diff_units, for the body (and the way each answer ended) only. */
bool cmp_diff_body(const struct cmp_unit *a, const struct cmp_unit *b, struct cmp_diff *d);
/* The hash of block k of s at block size CMP_CHUNK << level (level >= s->level: finer blocks
 * combined), or false when that block is not complete. */
bool cmp_diff_block(const struct cmp_stream *s, uint32_t level, uint32_t k, uint64_t *h);
const char *cmp_kind_name(enum cmp_kind k);

#endif
