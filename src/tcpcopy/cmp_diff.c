/*
 * cmp_diff: compare two units (see cmp_diff.h).
 *
 * The first difference is found without the answers: the first CMP_EXCERPT bytes are
 * compared byte by byte; beyond them the block hashes are compared (the finer unit lifted to
 * the coarser one's block size), and within the first differing block its kept sample (its
 * first CMP_SAMPLE bytes) gives the exact byte when the difference lies there; else the
 * offset is the block's start and d->exact is false. The last CMP_TAIL bytes give an exact
 * place for differences at the very end.
 */
#include "cmp_diff.h"

#include <string.h>

#define POLY_P 0x9e3779b97f4a7c15ULL /* as in cmp_unit.c */

const char *cmp_kind_name(enum cmp_kind k)
{
    static const char *const names[] = {"none", "status", "header", "body", "length", "closed"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static uint64_t umin(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

bool cmp_diff_block(const struct cmp_stream *s, uint32_t level, uint32_t k, uint64_t *h)
{
    uint32_t per = 1U << (level - s->level);
    if ((uint64_t)(k + 1) * per > s->nblocks)
        return false;
    uint64_t f = POLY_P;
    for (uint32_t i = 0; i < s->level; i++)
        f *= f;
    uint64_t acc = 0;
    for (uint32_t i = 0; i < per; i++)
        acc = acc * f + s->h[k * per + i];
    *h = acc;
    return true;
}

/* Copy up to CMP_DIFF_X bytes of s from about `off` into out; returns the count and sets
 * *from. Looks in the head, the tail, then the sample of the block holding off. */
static uint32_t excerpt_at(const struct cmp_stream *s, uint64_t off, uint8_t *out, uint64_t *from)
{
    uint64_t start = off > CMP_DIFF_BEFORE ? off - CMP_DIFF_BEFORE : 0;
    uint64_t tail0 = s->len > CMP_TAIL ? s->len - CMP_TAIL : 0;
    uint32_t n = 0;
    if (start < CMP_EXCERPT && start < s->len) {
        uint64_t end = umin(umin(s->len, CMP_EXCERPT), start + CMP_DIFF_X);
        n = (uint32_t)(end - start);
        memcpy(out, s->head + start, n);
    } else if (start >= tail0 && start < s->len) {
        uint64_t end = umin(s->len, start + CMP_DIFF_X);
        for (uint64_t i = start; i < end; i++)
            out[n++] = s->tail[i % CMP_TAIL];
    } else {
        uint64_t bsize = (uint64_t)CMP_CHUNK << s->level;
        uint64_t k = off / bsize;
        if (k >= s->nblocks) {
            *from = off;
            return 0;
        }
        start = k * bsize;
        n = CMP_SAMPLE;
        memcpy(out, s->sample[k], n);
    }
    *from = start;
    return n;
}

/* The first differing byte of the two tails within [from, to), if both tails hold it. */
static bool tail_find(const struct cmp_stream *a, const struct cmp_stream *b, uint64_t from,
                      uint64_t to, uint64_t *off)
{
    uint64_t ta = a->len > CMP_TAIL ? a->len - CMP_TAIL : 0;
    uint64_t tb = b->len > CMP_TAIL ? b->len - CMP_TAIL : 0;
    from = from > ta ? from : ta;
    from = from > tb ? from : tb;
    to = umin(to, umin(a->len, b->len));
    for (uint64_t i = from; i < to; i++) {
        if (a->tail[i % CMP_TAIL] != b->tail[i % CMP_TAIL]) {
            *off = i;
            return true;
        }
    }
    return false;
}

/* Within lifted block k (which differs): its samples, else the tails, else its start. */
static void block_offset(const struct cmp_stream *a, const struct cmp_stream *b, uint32_t level,
                         uint32_t k, struct cmp_diff *d)
{
    uint64_t bsize = (uint64_t)CMP_CHUNK << level;
    const uint8_t *sa = a->sample[k << (level - a->level)];
    const uint8_t *sb = b->sample[k << (level - b->level)];
    d->kind = CMP_KIND_BODY, d->offset = k * bsize, d->exact = false;
    for (uint32_t i = 0; i < CMP_SAMPLE; i++) {
        if (sa[i] != sb[i]) {
            d->offset += i, d->exact = true;
            return;
        }
    }
    uint64_t off;
    if (tail_find(a, b, k * bsize, (k + 1) * bsize, &off))
        d->offset = off, d->exact = true;
}

/* The first differing offset of two streams with different hashes. */
static void body_offset(const struct cmp_stream *a, const struct cmp_stream *b,
                        struct cmp_diff *d)
{
    uint64_t minlen = umin(a->len, b->len);
    uint64_t headn = umin(minlen, CMP_EXCERPT);
    for (uint64_t i = 0; i < headn; i++) {
        if (a->head[i] != b->head[i]) {
            d->offset = i, d->exact = true, d->kind = CMP_KIND_BODY;
            return;
        }
    }
    uint32_t level = a->level > b->level ? a->level : b->level;
    uint64_t bsize = (uint64_t)CMP_CHUNK << level;
    uint64_t same = headn; /* bytes known equal */
    for (uint32_t k = 0;; k++) {
        uint64_t ha, hb;
        if (!cmp_diff_block(a, level, k, &ha) || !cmp_diff_block(b, level, k, &hb))
            break;
        if (ha != hb) {
            block_offset(a, b, level, k, d);
            if (d->offset < same)
                d->offset = same, d->exact = false;
            return;
        }
        same = (uint64_t)(k + 1) * bsize;
    }
    /* Equal as far as whole blocks go: the rest is in the block in progress. */
    uint64_t off;
    if (tail_find(a, b, same, minlen, &off)) {
        d->offset = off, d->exact = true, d->kind = CMP_KIND_BODY;
    } else if (a->len != b->len) {
        uint64_t ta = a->len > CMP_TAIL ? a->len - CMP_TAIL : 0;
        uint64_t tb = b->len > CMP_TAIL ? b->len - CMP_TAIL : 0;
        d->kind = CMP_KIND_LENGTH, d->offset = minlen;
        d->exact = (ta > tb ? ta : tb) <= same; /* every byte before minlen was seen equal */
    } else {
        d->kind = CMP_KIND_BODY, d->offset = same, d->exact = false;
    }
}

static uint32_t hdr_count(const struct cmp_unit *u, uint64_t h)
{
    uint32_t n = u->nheaders < CMP_NHEADERS ? u->nheaders : CMP_NHEADERS, c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += u->hdr_h[i] == h;
    return c;
}

/* The first kept header line that u has more often than v, or NULL. */
static const char *hdr_extra(const struct cmp_unit *u, const struct cmp_unit *v)
{
    uint32_t n = u->nheaders < CMP_NHEADERS ? u->nheaders : CMP_NHEADERS;
    for (uint32_t i = 0; i < n; i++)
        if (hdr_count(u, u->hdr_h[i]) > hdr_count(v, u->hdr_h[i]))
            return u->hdr_text[i];
    return NULL;
}

static uint32_t put_text(uint8_t *out, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > CMP_DIFF_X + CMP_HEADER_TEXT)
        n = CMP_DIFF_X + CMP_HEADER_TEXT;
    memcpy(out, s ? s : "", n);
    return (uint32_t)n;
}

bool cmp_diff_units(const struct cmp_unit *a, const struct cmp_unit *b, struct cmp_diff *d)
{
    memset(d, 0, sizeof(*d));
    bool http = (a->flags & b->flags & CMP_U_HTTP) != 0;
    if (http && a->status_h != b->status_h) {
        d->kind = CMP_KIND_STATUS, d->exact = true;
        d->alen = put_text(d->a, a->status_text);
        d->blen = put_text(d->b, b->status_text);
        return false;
    }
    if (http && (a->head_h != b->head_h || a->nheaders != b->nheaders))
        return cmp_diff_header(a, b, d);
    return cmp_diff_body(a, b, d);
}

bool cmp_diff_header(const struct cmp_unit *a, const struct cmp_unit *b, struct cmp_diff *d)
{
    memset(d, 0, sizeof(*d));
    if (a->head_h == b->head_h && a->nheaders == b->nheaders)
        return true;
    d->kind = CMP_KIND_HEADER, d->exact = true;
    d->alen = put_text(d->a, hdr_extra(a, b));
    d->blen = put_text(d->b, hdr_extra(b, a));
    return false;
}

bool cmp_diff_body(const struct cmp_unit *a, const struct cmp_unit *b, struct cmp_diff *d)
{
    memset(d, 0, sizeof(*d));
    uint32_t closing = CMP_U_CLOSED | CMP_U_TRUNCATED;
    bool same_body = cmp_stream_hash(&a->body) == cmp_stream_hash(&b->body);
    if (same_body && ((a->flags ^ b->flags) & closing) == 0)
        return true;
    if (same_body) {
        d->kind = CMP_KIND_CLOSED, d->offset = a->body.len, d->exact = true;
    } else {
        body_offset(&a->body, &b->body, d);
        if ((a->flags ^ b->flags) & CMP_U_TRUNCATED)
            d->kind = CMP_KIND_CLOSED;
    }
    d->alen = excerpt_at(&a->body, d->offset, d->a, &d->a_from);
    d->blen = excerpt_at(&b->body, d->offset, d->b, &d->b_from);
    return false;
}
