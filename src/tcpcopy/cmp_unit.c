/*
 * cmp_unit: the streaming hash of a framed answer (see cmp_unit.h).
 *
 * Bytes are cut into chunks of CMP_CHUNK bytes; each chunk is hashed 8 bytes at a time
 * (little-endian words, a rotate, xor and multiply per word, so a piece may end anywhere: the
 * bytes of an incomplete word wait in wacc) and finished by a mixer. A block is a run of 2^level chunks and its hash is the polynomial
 * sum(h_i * P^(n-1-i)) over its chunk hashes (mod 2^64): concatenating blocks A and B gives
 * A * P^|B| + B, so when all CMP_NBLOCKS slots are used, neighbours merge into blocks of twice
 * the size and a comparator can lift the finer of two units to the coarser one's level. The
 * cost per unit is fixed (about 3 KB) whatever the answer's length.
 */
#include "cmp_unit.h"

#include <endian.h>
#include <stddef.h>
#include <string.h>

#define FNV_OFF 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define POLY_P 0x9e3779b97f4a7c15ULL /* odd, so multiplication is a bijection mod 2^64 */

static uint64_t word_step(uint64_t h, uint64_t w)
{
    return (((h << 27) | (h >> 37)) ^ w) * POLY_P;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t cmp_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = FNV_OFF;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return mix64(h ^ n);
}

void cmp_stream_init(struct cmp_stream *s)
{
    memset(s, 0, sizeof(*s));
    s->chunk_h = FNV_OFF;
}

/* P^(2^level): the factor that shifts a block of that level past another one. */
static uint64_t poly_shift(uint32_t level)
{
    uint64_t f = POLY_P;
    for (uint32_t i = 0; i < level; i++)
        f *= f;
    return f;
}

/* All slots used: merge pairs, doubling the block size. The block in progress (fewer than
 * 2^level chunks) is a valid partial block of the next level as it is. */
static void blocks_merge(struct cmp_stream *s)
{
    uint64_t f = poly_shift(s->level);
    for (uint32_t j = 0; j < s->nblocks / 2; j++) {
        s->h[j] = s->h[2 * j] * f + s->h[2 * j + 1];
        if (j != 2 * j)
            memcpy(s->sample[j], s->sample[2 * j], CMP_SAMPLE);
    }
    s->nblocks /= 2;
    s->level++;
}

static void chunk_done(struct cmp_stream *s)
{
    uint64_t ch = mix64(s->chunk_h);
    s->poly = s->poly * POLY_P + ch;
    s->cur = s->cur * POLY_P + ch;
    s->chunk_h = FNV_OFF;
    s->chunk_len = 0;
    if (++s->in_block < (1U << s->level))
        return;
    if (s->nblocks == CMP_NBLOCKS)
        blocks_merge(s);
    if (s->in_block < (1U << s->level))
        return; /* the merge made the block in progress a partial one of the next level */
    s->h[s->nblocks] = s->cur;
    memcpy(s->sample[s->nblocks], s->cur_sample, CMP_SAMPLE);
    s->nblocks++;
    s->cur = 0;
    s->in_block = 0;
}

/* Hash n bytes of the chunk in progress into h. */
static uint64_t hash_run(struct cmp_stream *s, uint64_t h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && s->wn > 0) {
        s->wacc |= (uint64_t)p[i++] << (8 * s->wn);
        if (++s->wn == 8) {
            h = word_step(h, s->wacc);
            s->wacc = 0, s->wn = 0;
        }
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = word_step(h, le64toh(w));
    }
    for (; i < n; i++)
        s->wacc |= (uint64_t)p[i] << (8 * s->wn++);
    return h;
}

void cmp_stream_add(struct cmp_stream *s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t take = CMP_CHUNK - s->chunk_len;
        if (take > n)
            take = n;
        if (s->len < CMP_EXCERPT) {
            size_t k = CMP_EXCERPT - (size_t)s->len;
            memcpy(s->head + s->len, p, k < take ? k : take);
        }
        uint64_t boff = (uint64_t)s->in_block * CMP_CHUNK + s->chunk_len;
        if (boff < CMP_SAMPLE) {
            size_t k = CMP_SAMPLE - (size_t)boff;
            memcpy(s->cur_sample + boff, p, k < take ? k : take);
        }
        for (size_t i = take > CMP_TAIL ? take - CMP_TAIL : 0; i < take; i++)
            s->tail[(s->len + i) % CMP_TAIL] = p[i];
        s->chunk_h = hash_run(s, s->chunk_h, p, take);
        s->chunk_len += (uint32_t)take;
        s->len += take;
        p += take;
        n -= take;
        if (s->chunk_len == CMP_CHUNK)
            chunk_done(s); /* CMP_CHUNK is a multiple of 8: no word is pending */
    }
}

uint64_t cmp_stream_hash(const struct cmp_stream *s)
{
    uint64_t part = s->wn ? word_step(s->chunk_h, s->wacc) : s->chunk_h;
    uint64_t h = s->poly * POLY_P + mix64(part ^ s->chunk_len);
    return mix64(h ^ s->len);
}

void cmp_unit_init(struct cmp_unit *u)
{
    /* One per answer and side: the header lines' hashes and texts (2.8 KB) are each written
     * before they are read (readers stop at nheaders), so only what precedes them, the
     * status text's end and the body are cleared. */
    memset(u, 0, offsetof(struct cmp_unit, hdr_h));
    u->status_text[0] = '\0';
    cmp_stream_init(&u->body);
}

void cmp_unit_copy(struct cmp_unit *dst, const struct cmp_unit *src)
{
    uint32_t n = src->nheaders < CMP_NHEADERS ? src->nheaders : CMP_NHEADERS;
    memcpy(dst, src, offsetof(struct cmp_unit, hdr_h));
    memcpy(dst->hdr_h, src->hdr_h, n * sizeof(src->hdr_h[0]));
    memcpy(dst->hdr_text, src->hdr_text, n * sizeof(src->hdr_text[0]));
    memcpy(dst->status_text, src->status_text, sizeof(dst->status_text));
    dst->body = src->body;
}

void cmp_unit_status(struct cmp_unit *u, const char *line, size_t n)
{
    u->status_h = mix64(u->status_h * POLY_P + cmp_hash_bytes(line, n));
    size_t used = strlen(u->status_text);
    if (used > 0 && used + 3 < CMP_STATUS_TEXT) {
        memcpy(u->status_text + used, " | ", 3); /* interim (1xx) lines come first */
        used += 3;
    }
    size_t room = CMP_STATUS_TEXT - 1 - used;
    if (n > room)
        n = room;
    memcpy(u->status_text + used, line, n);
    u->status_text[used + n] = '\0';
}

void cmp_unit_header(struct cmp_unit *u, const char *line, size_t n)
{
    uint64_t h = cmp_hash_bytes(line, n);
    u->head_h += h; /* a sum: the order of the lines does not matter */
    if (u->nheaders < CMP_NHEADERS) {
        size_t k = n < CMP_HEADER_TEXT - 1 ? n : CMP_HEADER_TEXT - 1;
        u->hdr_h[u->nheaders] = h;
        memcpy(u->hdr_text[u->nheaders], line, k);
        u->hdr_text[u->nheaders][k] = '\0';
    }
    u->nheaders++;
}

uint64_t cmp_unit_hash(const struct cmp_unit *u)
{
    uint64_t h = mix64(u->status_h ^ 0x5bd1e995ULL);
    h = mix64(h * POLY_P + u->head_h + u->nheaders);
    return mix64(h * POLY_P + cmp_stream_hash(&u->body));
}
