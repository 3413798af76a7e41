/*
 * stream: sequence-indexed byte queue in pooled chunks (see stream.h).
 * Owns its chunks while they hold bytes; the pool owns the slabs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"
#include "stream.h"

struct chunk {
    struct chunk *next;
    uint8_t data[STREAM_CHUNK];
};

#define POOL_SLAB_CHUNKS 32

void chunk_pool_init(struct chunk_pool *p, size_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max_chunks = max_bytes / STREAM_CHUNK;
    if (p->max_chunks < 16)
        p->max_chunks = 16;
}

void chunk_pool_free(struct chunk_pool *p)
{
    for (size_t i = 0; i < p->nslabs; i++)
        free(p->slabs[i]);
    free(p->slabs);
    memset(p, 0, sizeof(*p));
}

static size_t pool_avail(const struct chunk_pool *p)
{
    return p->max_chunks > p->used ? p->max_chunks - p->used : 0;
}

static struct chunk *pool_get(struct chunk_pool *p)
{
    if (p->used >= p->max_chunks)
        return NULL;
    if (p->free == NULL) {
        /* Slabs, not single chunks: fewer mallocs, and freed chunks are reused LIFO
         * so the hot ones stay in cache. */
        if (p->nslabs == p->slabs_cap) {
            size_t ncap = p->slabs_cap ? p->slabs_cap * 2 : 16;
            void **ns = realloc(p->slabs, ncap * sizeof(*ns));
            if (ns == NULL)
                return NULL;
            p->slabs = ns;
            p->slabs_cap = ncap;
        }
        struct chunk *slab = malloc(POOL_SLAB_CHUNKS * sizeof(struct chunk));
        if (slab == NULL)
            return NULL;
        p->slabs[p->nslabs++] = slab;
        for (int i = POOL_SLAB_CHUNKS - 1; i >= 0; i--) {
            slab[i].next = p->free;
            p->free = &slab[i];
        }
        p->total += POOL_SLAB_CHUNKS;
    }
    struct chunk *c = p->free;
    p->free = c->next;
    c->next = NULL;
    p->used++;
    if (p->used > p->peak_used)
        p->peak_used = p->used;
    return c;
}

static void pool_put(struct chunk_pool *p, struct chunk *c)
{
    c->next = p->free;
    p->free = c;
    p->used--;
}

void stream_init(struct stream *s, uint32_t seq)
{
    memset(s, 0, sizeof(*s));
    s->base = seq;
    s->start = seq;
}

void stream_clear(struct stream *s, struct chunk_pool *p)
{
    uint32_t end = stream_end(s);
    struct chunk *c = s->head;
    while (c != NULL) {
        struct chunk *n = c->next;
        pool_put(p, c);
        c = n;
    }
    free(s->r_heap);
    stream_init(s, end);
}

uint32_t stream_contig_end(const struct stream *s)
{
    if (s->nranges == 0 || stream_ranges_c(s)[0].lo != s->start)
        return s->start;
    return stream_ranges_c(s)[0].hi;
}

uint32_t stream_end(const struct stream *s)
{
    return s->nranges ? stream_ranges_c(s)[s->nranges - 1].hi : s->start;
}

uint32_t stream_ooo_bytes(const struct stream *s)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < s->nranges; i++) {
        if (i == 0 && stream_ranges_c(s)[0].lo == s->start)
            continue;
        n += stream_ranges_c(s)[i].hi - stream_ranges_c(s)[i].lo;
    }
    return n;
}

uint32_t stream_held_bytes(const struct stream *s)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < s->nranges; i++)
        n += stream_ranges_c(s)[i].hi - stream_ranges_c(s)[i].lo;
    return n;
}

/* The chunk holding offset off (from base); the cache makes sequential access O(1). */
static struct chunk *chunk_at(struct stream *s, uint32_t off)
{
    uint32_t idx = off / STREAM_CHUNK;
    struct chunk *c;
    uint32_t i;
    if (s->cur != NULL && s->cur_idx <= idx) {
        c = s->cur;
        i = s->cur_idx;
    } else {
        c = s->head;
        i = 0;
    }
    while (i < idx && c != NULL) {
        c = c->next;
        i++;
    }
    if (c != NULL) {
        s->cur = c;
        s->cur_idx = i;
    }
    return c;
}

static void bytes_write(struct stream *s, uint32_t seq, const uint8_t *data, uint32_t len)
{
    uint32_t off = seq - s->base;
    while (len > 0) {
        struct chunk *c = chunk_at(s, off);
        uint32_t in = off % STREAM_CHUNK;
        uint32_t n = STREAM_CHUNK - in;
        if (n > len)
            n = len;
        memcpy(c->data + in, data, n);
        data += n;
        off += n;
        len -= n;
    }
}

void stream_copy(struct stream *s, uint32_t seq, uint8_t *dst, uint32_t len)
{
    uint32_t off = seq - s->base;
    while (len > 0) {
        struct chunk *c = chunk_at(s, off);
        uint32_t in = off % STREAM_CHUNK;
        uint32_t n = STREAM_CHUNK - in;
        if (n > len)
            n = len;
        memcpy(dst, c->data + in, n);
        dst += n;
        off += n;
        len -= n;
    }
}

/* Ranges after adding [lo, hi): merged, sorted. Returns the new count, or -1 if it
 * would exceed STREAM_RANGES_MAX. Also reports how many bytes are new. */
static int ranges_merge(const struct stream *s, uint32_t lo, uint32_t hi,
                        struct stream_range *out, uint32_t *fresh)
{
    int n = 0;
    bool placed = false;
    uint32_t covered = 0;
    for (unsigned i = 0; i < s->nranges; i++) {
        struct stream_range r = stream_ranges_c(s)[i];
        /* Overlap of the existing range with the new one: bytes that are not new. */
        uint32_t olo = seq_max(r.lo, lo), ohi = seq_min(r.hi, hi);
        if (seq_lt(olo, ohi))
            covered += ohi - olo;
        if (seq_lt(r.hi, lo)) {
            out[n++] = r; /* entirely before, not touching */
        } else if (seq_gt(r.lo, hi)) {
            if (!placed) {
                out[n++] = (struct stream_range){lo, hi};
                placed = true;
            }
            out[n++] = r; /* entirely after */
        } else {
            lo = seq_min(lo, r.lo); /* touching or overlapping: absorb */
            hi = seq_max(hi, r.hi);
        }
        if (n > STREAM_RANGES_MAX)
            return -1; /* out has room for STREAM_RANGES_MAX + 2, checked after each step */
    }
    if (!placed)
        out[n++] = (struct stream_range){lo, hi};
    if (n > STREAM_RANGES_MAX)
        return -1;
    *fresh = covered;
    return n;
}

/* Room for n ranges: from the stream itself to the heap, or a larger heap array. Only a
 * session whose capture lost many segments gets here (a bounded, rare allocation). */
static int ranges_grow(struct stream *s, unsigned n)
{
    unsigned cap = s->r_heap != NULL ? s->heap_cap * 2u : 16u;
    while (cap < n)
        cap *= 2;
    if (cap > STREAM_RANGES_MAX)
        cap = STREAM_RANGES_MAX;
    struct stream_range *r = malloc(cap * sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    memcpy(r, stream_ranges(s), s->nranges * sizeof(*r));
    free(s->r_heap);
    s->r_heap = r;
    s->heap_cap = (uint8_t)cap;
    return 0;
}

int stream_put(struct stream *s, struct chunk_pool *p, uint32_t seq, const uint8_t *data,
               uint32_t len, uint32_t max_bytes)
{
    if (seq_lt(seq, s->start)) {
        uint32_t skip = s->start - seq;
        if (skip >= len)
            return 0;
        seq += skip;
        data += skip;
        len -= skip;
    }
    if (len == 0)
        return 0;
    uint32_t end = seq + len;
    if (end - s->start > max_bytes)
        return -STREAM_E_NOMEM;

    struct stream_range nr[STREAM_RANGES_MAX + 2];
    uint32_t covered = 0;
    int n = ranges_merge(s, seq, end, nr, &covered);
    if (n < 0)
        return -STREAM_E_HOLES;
    if (covered >= len)
        return 0;
    if (n > (s->r_heap != NULL ? s->heap_cap : STREAM_RANGES) && ranges_grow(s, (unsigned)n) < 0)
        return -STREAM_E_NOMEM;

    /* Enough chunks to reach end, all or nothing. */
    if (s->nchunks == 0)
        s->base = s->start;
    uint32_t need_bytes = end - s->base;
    uint32_t need = (need_bytes + STREAM_CHUNK - 1) / STREAM_CHUNK;
    if (need > s->nchunks) {
        if (need - s->nchunks > pool_avail(p))
            return -STREAM_E_NOMEM;
        while (s->nchunks < need) {
            struct chunk *c = pool_get(p);
            if (c == NULL)
                return -STREAM_E_NOMEM; /* malloc failed: chunks added so far stay, harmless */
            if (s->tail)
                s->tail->next = c;
            else
                s->head = c;
            s->tail = c;
            s->nchunks++;
        }
    }

    /* Copy only into the holes: the first copy of a byte wins, as in a TCP receiver. */
    uint32_t at = seq;
    for (unsigned i = 0; i < s->nranges && seq_lt(at, end); i++) {
        struct stream_range r = stream_ranges(s)[i];
        if (seq_le(r.hi, at))
            continue;
        if (seq_ge(r.lo, end))
            break;
        if (seq_lt(at, r.lo))
            bytes_write(s, at, data + (at - seq), r.lo - at);
        at = seq_max(at, r.hi);
    }
    if (seq_lt(at, end))
        bytes_write(s, at, data + (at - seq), end - at);

    memcpy(stream_ranges(s), nr, (size_t)n * sizeof(nr[0]));
    s->nranges = (uint8_t)n;
    return (int)(len - covered);
}

static void drop_chunks_before_start(struct stream *s, struct chunk_pool *p)
{
    uint32_t freed = 0;
    /* With nothing held any more, even the partly used last chunk goes back: an idle
     * stream owns no memory. */
    bool empty = s->nranges == 0;
    while (s->head != NULL && (empty || s->start - s->base >= STREAM_CHUNK)) {
        struct chunk *c = s->head;
        s->head = c->next;
        if (s->head == NULL)
            s->tail = NULL;
        pool_put(p, c);
        s->nchunks--;
        s->base += STREAM_CHUNK;
        freed++;
    }
    if (s->head == NULL) {
        s->base = s->start;
        s->nchunks = 0;
    }
    if (s->cur != NULL) {
        if (s->head == NULL || s->cur_idx < freed) {
            s->cur = NULL;
            s->cur_idx = 0;
        } else {
            s->cur_idx -= freed;
        }
    }
}

static void trim_ranges(struct stream *s)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->nranges; i++) {
        struct stream_range r = stream_ranges(s)[i];
        if (seq_le(r.hi, s->start))
            continue;
        if (seq_lt(r.lo, s->start))
            r.lo = s->start;
        stream_ranges(s)[k++] = r;
    }
    s->nranges = (uint8_t)k;
}

void stream_release(struct stream *s, struct chunk_pool *p, uint32_t seq)
{
    if (seq_le(seq, s->start))
        return;
    uint32_t ce = stream_contig_end(s);
    if (seq_gt(seq, ce))
        seq = ce;
    s->start = seq;
    trim_ranges(s);
    drop_chunks_before_start(s, p);
}

void stream_skip_to(struct stream *s, struct chunk_pool *p, uint32_t seq)
{
    if (seq_le(seq, s->start))
        return;
    s->start = seq;
    trim_ranges(s);
    drop_chunks_before_start(s, p);
}
