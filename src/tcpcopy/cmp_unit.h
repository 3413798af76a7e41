/*
 * cmp_unit: one framed answer as a comparison unit, computed as a stream (see cmp_unit.c and
 * doc/compare.md).
 *
 * A unit never keeps the answer: it keeps a running hash and the length of the normalised
 * bytes, the first CMP_EXCERPT bytes, the last CMP_TAIL bytes, and one hash plus a short sample
 * per block (CMP_NBLOCKS blocks of 4 KB at first; when they are all used, neighbours merge and
 * the block size doubles), so that two units can tell at which offset they first differ.
 * HTTP answers also keep the status line(s) and their header lines as a multiset (order and
 * name case do not matter). A unit is a plain value: copy it with memcpy.
 */
#ifndef TC_CMP_UNIT_H
#define TC_CMP_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMP_EXCERPT 256     /* first bytes kept of each stream */
#define CMP_TAIL 64         /* last bytes kept of each stream */
#define CMP_CHUNK 4096      /* bytes per level-0 block */
#define CMP_NBLOCKS 32      /* block hashes kept; then pairs merge */
#define CMP_SAMPLE 48       /* first bytes kept of each block */
#define CMP_NHEADERS 32     /* header lines whose text is kept (all are hashed) */
#define CMP_HEADER_TEXT 80  /* bytes kept of each header line's text */
#define CMP_STATUS_TEXT 96  /* bytes kept of the status line(s) */

/* One hashed byte stream (a whole answer, or an HTTP body). */
struct cmp_stream {
    uint64_t len;
    uint64_t poly;     /* polynomial over the hashes of every completed chunk */
    uint64_t chunk_h;  /* hash state of the chunk in progress (whole 8-byte words) */
    uint64_t wacc;     /* the bytes of a word not complete yet, little-endian */
    uint32_t wn;       /* how many */
    uint32_t chunk_len;
    uint32_t level;    /* blocks are CMP_CHUNK << level bytes */
    uint32_t nblocks;  /* completed blocks in h[] */
    uint32_t in_block; /* completed chunks in the block in progress */
    uint64_t cur;      /* polynomial of the block in progress */
    uint64_t h[CMP_NBLOCKS];
    uint8_t sample[CMP_NBLOCKS][CMP_SAMPLE];
    uint8_t cur_sample[CMP_SAMPLE];
    uint8_t head[CMP_EXCERPT];
    uint8_t tail[CMP_TAIL]; /* a ring: byte i of the stream at tail[i % CMP_TAIL] */
};

/* Unit flags: why a unit cannot be compared, or how it ended. */
enum cmp_uflag {
    CMP_U_INCOMPLETE = 1U << 0, /* a capture gap or lost segment inside (set by the caller) */
    CMP_U_UNPARSABLE = 1U << 1, /* the framer could not follow it (bad syntax, line too long) */
    CMP_U_CLOSED = 1U << 2,     /* ended by the connection's close (body until close) */
    CMP_U_TRUNCATED = 1U << 3,  /* the connection closed before its end */
    CMP_U_PUSH = 1U << 4,       /* RESP3 push: not the answer of a request */
    CMP_U_HTTP = 1U << 5,       /* status, head and body are meaningful */
    CMP_U_LAST = 1U << 6,       /* the framer stopped after this one: no more answers */
};

struct cmp_unit {
    uint32_t flags;
    uint32_t nheaders;     /* header lines seen (hashed) */
    uint64_t status_h;     /* hash of the status line(s), 1xx included */
    uint64_t head_h;       /* sum of the header lines' hashes: a multiset */
    uint64_t lat_us;       /* request's last byte to answer's first byte; set by the caller */
    uint64_t hdr_h[CMP_NHEADERS];
    char hdr_text[CMP_NHEADERS][CMP_HEADER_TEXT];
    char status_text[CMP_STATUS_TEXT];
    struct cmp_stream body; /* the whole answer, or an HTTP answer's decoded body */
};

/* An empty stream. */
void cmp_stream_init(struct cmp_stream *s);
/* Append n normalised bytes. */
void cmp_stream_add(struct cmp_stream *s, const uint8_t *p, size_t n);
/* The hash of everything added so far (length included). */
uint64_t cmp_stream_hash(const struct cmp_stream *s);

/* An empty unit: no flags, no status, no header, an empty body stream. */
void cmp_unit_init(struct cmp_unit *u);
/* A status line (HTTP, without CRLF): hashed in order and its text kept. */
void cmp_unit_status(struct cmp_unit *u, const char *line, size_t n);
/* One normalised header line: hashed into the multiset; its text kept while there is room. */
void cmp_unit_header(struct cmp_unit *u, const char *line, size_t n);
/* dst = src, without the header lines src does not use (see cmp_unit_init). */
void cmp_unit_copy(struct cmp_unit *dst, const struct cmp_unit *src);
/* The unit's hash: status, head and body together. */
uint64_t cmp_unit_hash(const struct cmp_unit *u);

/* 64-bit FNV-1a of n bytes, finished by a mixer (a stable hash of short texts). */
uint64_t cmp_hash_bytes(const void *p, size_t n);

#endif
