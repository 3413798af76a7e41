/*
 * stream: one direction of a TCP byte stream, indexed by sequence number, held in
 * fixed-size chunks from a shared pool.
 *
 * The client's captured segments are written in place at their sequence offset,
 * whatever order they arrive in; a short sorted list of filled ranges tells what
 * is contiguous. Overlaps and duplicates therefore cost nothing extra, and the
 * sender cuts segments of its own size (MSS, -M) from the bytes regardless of how
 * the capture chunked them (GRO, retransmissions). An idle stream owns no chunk.
 *
 * The pool is the memory bound: chunks come from slabs allocated as needed up to
 * a maximum, and go back to a free list; nothing is allocated per packet.
 */
#ifndef TC_STREAM_H
#define TC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_CHUNK 4096        /* bytes of payload per chunk */
#define STREAM_RANGES 6          /* filled ranges held in the stream itself */
#define STREAM_RANGES_MAX 64     /* with more holes, the ranges move to the heap, up to this
                                  * many; a segment that would need more is refused */

struct chunk;

struct chunk_pool {
    struct chunk *free;
    void **slabs;
    size_t nslabs, slabs_cap;
    size_t max_chunks;           /* bound on chunks ever handed out at once */
    size_t total, used;          /* chunks allocated, chunks in streams */
    size_t peak_used;
};

/* max_bytes: the most payload all streams together may hold. */
void chunk_pool_init(struct chunk_pool *p, size_t max_bytes);
void chunk_pool_free(struct chunk_pool *p);
static inline size_t chunk_pool_bytes(const struct chunk_pool *p)
{
    return p->used * (size_t)STREAM_CHUNK;
}

struct stream_range {
    uint32_t lo, hi; /* [lo, hi) in sequence space */
};

struct stream {
    struct chunk *head, *tail;
    struct chunk *cur;           /* lookup cache: a chunk and its index */
    uint32_t cur_idx;
    uint32_t nchunks;
    uint32_t base;               /* sequence number of byte 0 of head */
    uint32_t start;              /* first byte still held (>= base) */
    uint8_t nranges;
    uint8_t heap_cap;            /* ranges r_heap holds (0: none, the inline ones are used) */
    struct stream_range r_in[STREAM_RANGES];
    struct stream_range *r_heap; /* a capture that lost many segments of one session */
};

/* The filled ranges: sorted, disjoint; [0].lo == start if contiguous. */
static inline struct stream_range *stream_ranges(struct stream *s)
{
    return s->r_heap != NULL ? s->r_heap : s->r_in;
}
static inline const struct stream_range *stream_ranges_c(const struct stream *s)
{
    return s->r_heap != NULL ? s->r_heap : s->r_in;
}

enum stream_err {
    STREAM_E_NOMEM = 1, /* the pool or the stream's own limit is exhausted */
    STREAM_E_HOLES,     /* too many holes: the segment would need another range */
};

/* An empty stream whose first byte will be seq (s holds nothing: a new one, or cleared). */
void stream_init(struct stream *s, uint32_t seq);
/* Give every chunk (and the ranges' heap) back; the stream is empty at its current end. */
void stream_clear(struct stream *s, struct chunk_pool *p);

/*
 * Store len bytes at seq. Bytes before the stream's start (already released) and
 * bytes already held are ignored. max_bytes bounds this stream's span (start..end).
 * Returns the number of new bytes stored (0 for a pure duplicate), or
 * -STREAM_E_NOMEM / -STREAM_E_HOLES (nothing stored).
 */
int stream_put(struct stream *s, struct chunk_pool *p, uint32_t seq, const uint8_t *data,
               uint32_t len, uint32_t max_bytes);
/* End of the contiguous bytes from start (== start if the first byte is missing). */
uint32_t stream_contig_end(const struct stream *s);
/* Highest sequence number held + 1 (end of the last range). */
uint32_t stream_end(const struct stream *s);
static inline uint32_t stream_start(const struct stream *s) { return s->start; }
/* Bytes held in ranges beyond the first hole (out of order). */
uint32_t stream_ooo_bytes(const struct stream *s);
/* Every byte held, contiguous or not. */
uint32_t stream_held_bytes(const struct stream *s);
/* Copy [seq, seq+len), which must lie inside the contiguous part, into dst. */
void stream_copy(struct stream *s, uint32_t seq, uint8_t *dst, uint32_t len);
/* Forget every byte before seq (acknowledged by the target); frees whole chunks. */
void stream_release(struct stream *s, struct chunk_pool *p, uint32_t seq);
/* Move the start forward to seq, dropping everything before it, even in holes
 * (used when a gap will never be filled). */
void stream_skip_to(struct stream *s, struct chunk_pool *p, uint32_t seq);

#endif
