/*
 * test_stream: the sequence-indexed byte queue. In-order and out-of-order puts,
 * duplicates and overlaps (the first copy of a byte wins), the range limit, the
 * per-stream and pool memory bounds (all or nothing), chunk accounting on
 * release / skip / clear, sequence wrap-around, and a long randomized run
 * checked byte for byte against a flat reference model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "stream.h"

#define BIG (1U << 30) /* a per-stream bound that never matters */

static void fill_pattern(uint8_t *b, size_t n, uint32_t seq)
{
    /* Byte value depends on its sequence number, so misplaced bytes show. */
    for (size_t i = 0; i < n; i++) {
        uint32_t x = seq + (uint32_t)i;
        b[i] = (uint8_t)(x ^ (x >> 8) ^ (x >> 16) ^ 0x5a);
    }
}

static void check_pattern(struct stream *s, uint32_t seq, uint32_t len)
{
    uint8_t *got = malloc(len ? len : 1), *want = malloc(len ? len : 1);
    assert_non_null(got);
    assert_non_null(want);
    stream_copy(s, seq, got, len);
    fill_pattern(want, len, seq);
    assert_memory_equal(got, want, len ? len : 0);
    free(got);
    free(want);
}

/* Structural invariants that must hold after any call. */
static void check_consistent(const struct stream *s, const struct chunk_pool *p, size_t chunks)
{
    assert_int_equal(p->used, chunks);
    assert_true(s->nranges <= STREAM_RANGES_MAX);
    for (unsigned i = 0; i < s->nranges; i++) {
        assert_true(seq_lt(stream_ranges_c(s)[i].lo, stream_ranges_c(s)[i].hi));
        assert_true(seq_ge(stream_ranges_c(s)[i].lo, s->start));
        if (i > 0)
            assert_true(seq_lt(stream_ranges_c(s)[i - 1].hi, stream_ranges_c(s)[i].lo)); /* disjoint, not touching */
    }
    if (s->nchunks > 0) {
        assert_true(seq_le(s->base, s->start));
        assert_true(s->start - s->base < STREAM_CHUNK);
        assert_true(s->base + s->nchunks * STREAM_CHUNK - stream_end(s) < (1U << 31));
    }
    if (s->nranges > 0)
        assert_true(s->nchunks > 0);
}

static void test_inorder(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t out[16];

    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 1000);
    assert_int_equal(stream_start(&s), 1000);
    assert_int_equal(stream_contig_end(&s), 1000);
    assert_int_equal(stream_end(&s), 1000);
    assert_int_equal(p.used, 0); /* an idle stream owns no chunk */

    assert_int_equal(stream_put(&s, &p, 1000, (const uint8_t *)"hello", 5, BIG), 5);
    assert_int_equal(stream_contig_end(&s), 1005);
    assert_int_equal(stream_put(&s, &p, 1005, (const uint8_t *)" world", 6, BIG), 6);
    assert_int_equal(stream_contig_end(&s), 1011);
    assert_int_equal(stream_end(&s), 1011);
    assert_int_equal(stream_ooo_bytes(&s), 0);
    assert_int_equal(p.used, 1);
    stream_copy(&s, 1000, out, 11);
    assert_memory_equal(out, "hello world", 11);
    stream_copy(&s, 1006, out, 5);
    assert_memory_equal(out, "world", 5);

    /* A zero-length put stores nothing. */
    assert_int_equal(stream_put(&s, &p, 1011, (const uint8_t *)"", 0, BIG), 0);
    assert_int_equal(stream_end(&s), 1011);

    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    chunk_pool_free(&p);
}

static void test_copy_across_chunks(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    const uint32_t isn = 123456, total = 5 * STREAM_CHUNK + 777;
    uint8_t *buf = malloc(total);

    assert_non_null(buf);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, isn);
    /* Segments of 1000: many straddle a chunk boundary. */
    for (uint32_t off = 0; off < total; off += 1000) {
        uint32_t n = total - off < 1000 ? total - off : 1000;
        fill_pattern(buf, n, isn + off);
        assert_int_equal(stream_put(&s, &p, isn + off, buf, n, BIG), n);
    }
    assert_int_equal(stream_contig_end(&s), isn + total);
    assert_int_equal(s.nchunks, 6);
    check_consistent(&s, &p, 6);

    check_pattern(&s, isn, total);
    check_pattern(&s, isn + STREAM_CHUNK - 1, 2);
    check_pattern(&s, isn + STREAM_CHUNK - 100, STREAM_CHUNK + 200); /* spans three */
    check_pattern(&s, isn + 3 * STREAM_CHUNK, STREAM_CHUNK);
    check_pattern(&s, isn + total - 1, 1);
    /* Backwards access after forward access (the lookup cache must not mislead). */
    check_pattern(&s, isn + 10, 20);
    check_pattern(&s, isn + 4 * STREAM_CHUNK + 5, 100);
    check_pattern(&s, isn + 2 * STREAM_CHUNK + 5, 100);

    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    chunk_pool_free(&p);
    free(buf);
}

static void test_release_frees_chunks(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    const uint32_t isn = 7, total = 3 * STREAM_CHUNK + 10;
    uint8_t *buf = malloc(total);

    assert_non_null(buf);
    fill_pattern(buf, total, isn);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, isn);
    assert_int_equal(stream_put(&s, &p, isn, buf, total, BIG), total);
    assert_int_equal(p.used, 4);

    stream_release(&s, &p, isn + 100);
    assert_int_equal(stream_start(&s), isn + 100);
    assert_int_equal(p.used, 4); /* a partly used chunk stays */
    check_pattern(&s, isn + 100, total - 100);

    stream_release(&s, &p, isn + STREAM_CHUNK - 1);
    assert_int_equal(p.used, 4);
    stream_release(&s, &p, isn + STREAM_CHUNK);
    assert_int_equal(p.used, 3);
    check_consistent(&s, &p, 3);
    check_pattern(&s, isn + STREAM_CHUNK, total - STREAM_CHUNK);

    stream_release(&s, &p, isn + 3 * STREAM_CHUNK + 1);
    assert_int_equal(p.used, 1);
    check_pattern(&s, isn + 3 * STREAM_CHUNK + 1, 9);
    check_consistent(&s, &p, 1);

    /* Releasing backwards or in place changes nothing. */
    stream_release(&s, &p, isn + 5);
    assert_int_equal(stream_start(&s), isn + 3 * STREAM_CHUNK + 1);
    assert_int_equal(p.used, 1);

    /* Release is clamped to the contiguous end. */
    stream_release(&s, &p, isn + total + 5000);
    assert_int_equal(stream_start(&s), isn + total);
    assert_int_equal(stream_contig_end(&s), isn + total);
    assert_int_equal(stream_end(&s), isn + total);

    /* The stream continues where it was. */
    fill_pattern(buf, 100, isn + total);
    assert_int_equal(stream_put(&s, &p, isn + total, buf, 100, BIG), 100);
    check_pattern(&s, isn + total, 100);
    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    chunk_pool_free(&p);
    free(buf);
}

/*
 * stream.h: "An idle stream owns no chunk." Once every byte is released the
 * stream is idle, so its chunk should go back to the pool: an idle keep-alive
 * session otherwise pins 4 KB of the shared pool for as long as it lives.
 */
static void test_release_all_owns_no_chunk(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t buf[100];

    fill_pattern(buf, sizeof(buf), 5000);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 5000);
    assert_int_equal(stream_put(&s, &p, 5000, buf, 100, BIG), 100);
    stream_release(&s, &p, 5100);
    assert_int_equal(stream_contig_end(&s), 5100);
    assert_int_equal(stream_end(&s), 5100);
    assert_int_equal(s.nranges, 0);
    size_t used = p.used, nchunks = s.nchunks;
    stream_clear(&s, &p);
    chunk_pool_free(&p); /* before the checks, so a failure leaks nothing */
    assert_int_equal(nchunks, 0);
    assert_int_equal(used, 0);
}

static void test_duplicates_overlaps(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t out[32];

    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 0);
    assert_int_equal(stream_put(&s, &p, 0, (const uint8_t *)"AAAA", 4, BIG), 4);
    /* Overlap: only bytes 4..7 are new; bytes 2..3 keep their first copy. */
    assert_int_equal(stream_put(&s, &p, 2, (const uint8_t *)"BBBBBB", 6, BIG), 4);
    assert_int_equal(stream_contig_end(&s), 8);
    stream_copy(&s, 0, out, 8);
    assert_memory_equal(out, "AAAABBBB", 8);

    /* Pure duplicates. */
    assert_int_equal(stream_put(&s, &p, 0, (const uint8_t *)"CCCCCCCC", 8, BIG), 0);
    assert_int_equal(stream_put(&s, &p, 3, (const uint8_t *)"CC", 2, BIG), 0);
    stream_copy(&s, 0, out, 8);
    assert_memory_equal(out, "AAAABBBB", 8);

    /* Covering everything and more: only the tail is new. */
    assert_int_equal(stream_put(&s, &p, 0, (const uint8_t *)"DDDDDDDDDD", 10, BIG), 2);
    stream_copy(&s, 0, out, 10);
    assert_memory_equal(out, "AAAABBBBDD", 10);

    /* Two ranges with a hole between; a put spanning all three fills only the hole. */
    assert_int_equal(stream_put(&s, &p, 14, (const uint8_t *)"EEEE", 4, BIG), 4);
    assert_int_equal(s.nranges, 2);
    assert_int_equal(stream_ooo_bytes(&s), 4);
    assert_int_equal(stream_put(&s, &p, 8, (const uint8_t *)"FFFFFFFFFFFFFF", 14, BIG), 8);
    assert_int_equal(s.nranges, 1);
    assert_int_equal(stream_contig_end(&s), 22);
    stream_copy(&s, 0, out, 22);
    assert_memory_equal(out, "AAAABBBBDDFFFFEEEEFFFF", 22);

    /* Bytes before the start are ignored, the rest counted. */
    stream_release(&s, &p, 20);
    assert_int_equal(stream_put(&s, &p, 16, (const uint8_t *)"GGGGGGGG", 8, BIG), 2);
    stream_copy(&s, 20, out, 4);
    assert_memory_equal(out, "FFGG", 4);
    assert_int_equal(stream_put(&s, &p, 10, (const uint8_t *)"HHHH", 4, BIG), 0);
    assert_int_equal(stream_start(&s), 20);
    check_consistent(&s, &p, 1);

    stream_clear(&s, &p);
    chunk_pool_free(&p);
}

static void test_out_of_order(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t buf[10000];
    const uint32_t isn = 0x12345678;

    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, isn);
    fill_pattern(buf, 3000, isn + 5000);
    assert_int_equal(stream_put(&s, &p, isn + 5000, buf, 3000, BIG), 3000);
    assert_int_equal(stream_contig_end(&s), isn);
    assert_int_equal(stream_end(&s), isn + 8000);
    assert_int_equal(stream_ooo_bytes(&s), 3000);
    assert_int_equal(p.used, 2); /* chunks from the start up to the end */

    fill_pattern(buf, 1000, isn + 2000);
    assert_int_equal(stream_put(&s, &p, isn + 2000, buf, 1000, BIG), 1000);
    assert_int_equal(stream_contig_end(&s), isn);
    assert_int_equal(stream_ooo_bytes(&s), 4000);

    fill_pattern(buf, 2000, isn);
    assert_int_equal(stream_put(&s, &p, isn, buf, 2000, BIG), 2000);
    assert_int_equal(stream_contig_end(&s), isn + 3000); /* touching ranges merge */
    assert_int_equal(stream_ooo_bytes(&s), 3000);

    fill_pattern(buf, 2000, isn + 3000);
    assert_int_equal(stream_put(&s, &p, isn + 3000, buf, 2000, BIG), 2000);
    assert_int_equal(stream_contig_end(&s), isn + 8000);
    assert_int_equal(stream_ooo_bytes(&s), 0);
    assert_int_equal(s.nranges, 1);
    check_pattern(&s, isn, 8000);
    check_consistent(&s, &p, 2);

    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    chunk_pool_free(&p);
}

static void test_too_many_holes(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t buf[64];
    struct stream_range saved[STREAM_RANGES_MAX];

    fill_pattern(buf, sizeof(buf), 0);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 0);
    /* Ranges at 10, 30, 50, ... : STREAM_RANGES_MAX of them, each with a hole before it;
     * past STREAM_RANGES they move to the heap. */
    for (uint32_t i = 0; i < STREAM_RANGES_MAX; i++) {
        assert_int_equal(stream_put(&s, &p, 10 + 20 * i, buf, 5, BIG), 5);
        assert_true((s.r_heap != NULL) == (i >= STREAM_RANGES));
    }
    assert_int_equal(s.nranges, STREAM_RANGES_MAX);
    memcpy(saved, stream_ranges(&s), sizeof(saved));
    size_t used = p.used;

    /* One more separate range, before, between and after the others: refused. */
    assert_int_equal(stream_put(&s, &p, 0, buf, 3, BIG), -STREAM_E_HOLES);
    assert_int_equal(stream_put(&s, &p, 20, buf, 3, BIG), -STREAM_E_HOLES);
    assert_int_equal(stream_put(&s, &p, 3000, buf, 3, BIG), -STREAM_E_HOLES);
    /* Far ahead: would also need chunks, still nothing taken. */
    assert_int_equal(stream_put(&s, &p, 20000, buf, 3, BIG), -STREAM_E_HOLES);
    assert_int_equal(s.nranges, STREAM_RANGES_MAX);
    assert_memory_equal(saved, stream_ranges(&s), sizeof(saved));
    assert_int_equal(p.used, used);
    assert_int_equal(stream_contig_end(&s), 0);

    /* Touching an existing range or duplicating is still fine at the limit. */
    assert_int_equal(stream_put(&s, &p, 15, buf, 2, BIG), 2);
    assert_int_equal(stream_put(&s, &p, 8, buf, 2, BIG), 2);
    assert_int_equal(stream_put(&s, &p, 10, buf, 5, BIG), 0);
    assert_int_equal(s.nranges, STREAM_RANGES_MAX);
    /* Bridging two ranges frees a slot, and then a new hole is allowed. */
    assert_int_equal(stream_put(&s, &p, 17, buf, 13, BIG), 13);
    assert_int_equal(s.nranges, STREAM_RANGES_MAX - 1);
    assert_int_equal(stream_put(&s, &p, 3000, buf, 3, BIG), 3);
    assert_int_equal(s.nranges, STREAM_RANGES_MAX);
    check_consistent(&s, &p, 1);

    stream_clear(&s, &p);
    chunk_pool_free(&p);
}

static void test_stream_max_bytes(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t buf[9000];

    fill_pattern(buf, sizeof(buf), 100);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 100);
    assert_int_equal(stream_put(&s, &p, 100, buf, 4000, 8000), 4000);
    /* The span start..end would be 8001 > 8000: refused, nothing stored. */
    assert_int_equal(stream_put(&s, &p, 4100, buf + 4000, 4001, 8000), -STREAM_E_NOMEM);
    assert_int_equal(stream_end(&s), 4100);
    assert_int_equal(p.used, 1);
    assert_int_equal(s.nranges, 1);
    /* An out-of-order segment ending beyond the bound likewise. */
    assert_int_equal(stream_put(&s, &p, 8000, buf, 200, 8000), -STREAM_E_NOMEM);
    assert_int_equal(s.nranges, 1);
    /* Exactly the bound is allowed. */
    assert_int_equal(stream_put(&s, &p, 4100, buf + 4000, 4000, 8000), 4000);
    assert_int_equal(stream_contig_end(&s), 8100);
    check_pattern(&s, 100, 8000);
    /* Once bytes are released the bound moves with the start. */
    stream_release(&s, &p, 1100);
    fill_pattern(buf, 1000, 8100);
    assert_int_equal(stream_put(&s, &p, 8100, buf, 1000, 8000), 1000);
    check_consistent(&s, &p, 3);
    stream_clear(&s, &p);
    chunk_pool_free(&p);
}

static void test_pool_exhaustion(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream a, b;
    uint8_t *buf = malloc(16 * STREAM_CHUNK);

    assert_non_null(buf);
    chunk_pool_init(&p, 0); /* rounded up to the minimum: 16 chunks */
    assert_int_equal(p.max_chunks, 16);
    stream_init(&a, 0);
    stream_init(&b, 1000000);

    fill_pattern(buf, 10 * STREAM_CHUNK, 0);
    assert_int_equal(stream_put(&a, &p, 0, buf, 10 * STREAM_CHUNK, BIG), 10 * STREAM_CHUNK);
    assert_int_equal(p.used, 10);

    /* b needs 7 chunks, 6 are left: all or nothing. */
    fill_pattern(buf, 7 * STREAM_CHUNK, 1000000);
    assert_int_equal(stream_put(&b, &p, 1000000, buf, 7 * STREAM_CHUNK, BIG), -STREAM_E_NOMEM);
    assert_int_equal(p.used, 10);
    assert_int_equal(b.nranges, 0);
    assert_int_equal(b.nchunks, 0);
    assert_null(b.head);
    assert_int_equal(stream_contig_end(&b), 1000000);
    /* An out-of-order segment whose chunks do not fit, likewise. */
    assert_int_equal(stream_put(&b, &p, 1000000 + 6 * STREAM_CHUNK, buf, 10, BIG),
                     -STREAM_E_NOMEM);
    assert_int_equal(b.nranges, 0);
    assert_int_equal(p.used, 10);

    /* What fits still goes in. */
    assert_int_equal(stream_put(&b, &p, 1000000, buf, 6 * STREAM_CHUNK, BIG), 6 * STREAM_CHUNK);
    assert_int_equal(p.used, 16);
    assert_int_equal(stream_put(&b, &p, 1000000 + 6 * STREAM_CHUNK, buf, 1, BIG),
                     -STREAM_E_NOMEM);
    assert_int_equal(stream_contig_end(&b), 1000000 + 6 * STREAM_CHUNK);
    check_consistent(&b, &p, 16);
    check_pattern(&b, 1000000, 6 * STREAM_CHUNK);

    /* a gives back 4 chunks: b can grow by one more chunk now. */
    stream_release(&a, &p, 4 * STREAM_CHUNK);
    assert_int_equal(p.used, 12);
    fill_pattern(buf, STREAM_CHUNK, 1000000 + 6 * STREAM_CHUNK);
    assert_int_equal(stream_put(&b, &p, 1000000 + 6 * STREAM_CHUNK, buf, STREAM_CHUNK, BIG),
                     STREAM_CHUNK);
    check_pattern(&b, 1000000, 7 * STREAM_CHUNK);
    check_pattern(&a, 4 * STREAM_CHUNK, 6 * STREAM_CHUNK);
    assert_int_equal(p.peak_used, 16);

    stream_clear(&a, &p);
    stream_clear(&b, &p);
    assert_int_equal(p.used, 0);
    assert_int_equal(chunk_pool_bytes(&p), 0);
    chunk_pool_free(&p);
    free(buf);
}

static void test_wraparound(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    const uint32_t isn = 0xFFFFF000u;
    uint8_t *buf = malloc(3 * STREAM_CHUNK);

    assert_non_null(buf);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, isn + 1);
    /* Out of order across 2^32 first, then the head. */
    fill_pattern(buf, 4000, 0x100);
    assert_int_equal(stream_put(&s, &p, 0x100, buf, 4000, BIG), 4000);
    assert_int_equal(stream_contig_end(&s), isn + 1);
    assert_int_equal(stream_end(&s), 0x100 + 4000);
    fill_pattern(buf, 0x1000 + 0x100 - 1, isn + 1);
    assert_int_equal(stream_put(&s, &p, isn + 1, buf, 0x1000 + 0x100 - 1, BIG), 0x10ff);
    assert_int_equal(stream_contig_end(&s), 0x100 + 4000);
    assert_int_equal(stream_ooo_bytes(&s), 0);
    check_pattern(&s, isn + 1, 0x10ff + 4000);
    check_pattern(&s, 0xFFFFFFF0u, 0x20); /* across the wrap */

    stream_release(&s, &p, 0x10);
    assert_int_equal(stream_start(&s), 0x10);
    check_pattern(&s, 0x10, 0x100 + 4000 - 0x10);
    check_consistent(&s, &p, s.nchunks);

    /* A put that straddles 2^32 from a stream started just below it. */
    stream_clear(&s, &p);
    stream_init(&s, 0xFFFFFF00u);
    fill_pattern(buf, 3 * STREAM_CHUNK, 0xFFFFFF00u);
    assert_int_equal(stream_put(&s, &p, 0xFFFFFF00u, buf, 3 * STREAM_CHUNK, BIG),
                     3 * STREAM_CHUNK);
    assert_int_equal(stream_contig_end(&s), 0xFFFFFF00u + 3 * STREAM_CHUNK);
    check_pattern(&s, 0xFFFFFF00u, 3 * STREAM_CHUNK);
    /* Old data from before the wrap is recognised as old. */
    assert_int_equal(stream_put(&s, &p, 0xFFFFFE00u, buf, 0x80, BIG), 0);
    stream_release(&s, &p, 0xFFFFFF00u + 2 * STREAM_CHUNK);
    assert_int_equal(p.used, 1);
    check_pattern(&s, 0xFFFFFF00u + 2 * STREAM_CHUNK, STREAM_CHUNK);
    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    chunk_pool_free(&p);
    free(buf);
}

static void test_skip_to(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t buf[20000];

    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 0);
    fill_pattern(buf, 100, 0);
    assert_int_equal(stream_put(&s, &p, 0, buf, 100, BIG), 100);
    fill_pattern(buf, 100, 200);
    assert_int_equal(stream_put(&s, &p, 200, buf, 100, BIG), 100);
    fill_pattern(buf, 100, 9000);
    assert_int_equal(stream_put(&s, &p, 9000, buf, 100, BIG), 100);
    assert_int_equal(p.used, 3);

    /* Release stops at the hole; skip_to jumps it. */
    stream_release(&s, &p, 250);
    assert_int_equal(stream_start(&s), 100);
    stream_skip_to(&s, &p, 150);
    assert_int_equal(stream_start(&s), 150);
    assert_int_equal(stream_contig_end(&s), 150);
    stream_skip_to(&s, &p, 200);
    assert_int_equal(stream_contig_end(&s), 300);
    check_pattern(&s, 200, 100);
    /* Into the middle of a range. */
    stream_skip_to(&s, &p, 250);
    assert_int_equal(stream_contig_end(&s), 300);
    assert_int_equal(stream_ooo_bytes(&s), 100);
    /* Backwards: nothing. */
    stream_skip_to(&s, &p, 10);
    assert_int_equal(stream_start(&s), 250);

    /* Over a hole spanning a chunk boundary into the last range: chunks freed. */
    stream_skip_to(&s, &p, 9000);
    assert_int_equal(stream_contig_end(&s), 9100);
    assert_int_equal(p.used, 1);
    check_pattern(&s, 9000, 100);
    check_consistent(&s, &p, 1);

    /* Beyond everything: the stream is empty at the new place and works on. */
    stream_skip_to(&s, &p, 50000);
    assert_int_equal(stream_start(&s), 50000);
    assert_int_equal(stream_end(&s), 50000);
    assert_int_equal(s.nranges, 0);
    assert_int_equal(p.used, 0);
    fill_pattern(buf, 5000, 50000);
    assert_int_equal(stream_put(&s, &p, 50000, buf, 5000, BIG), 5000);
    check_pattern(&s, 50000, 5000);
    check_consistent(&s, &p, 2);

    stream_clear(&s, &p);
    chunk_pool_free(&p);
}

static void test_clear(void **state)
{
    (void)state;
    struct chunk_pool p;
    struct stream s;
    uint8_t buf[4000];

    fill_pattern(buf, sizeof(buf), 0);
    chunk_pool_init(&p, 1 << 20);
    stream_init(&s, 0);
    assert_int_equal(stream_put(&s, &p, 0, buf, 4000, BIG), 4000);
    assert_int_equal(stream_put(&s, &p, 20000, buf, 4000, BIG), 4000);
    assert_int_equal(p.used, 6);
    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    assert_int_equal(s.nchunks, 0);
    assert_null(s.head);
    assert_int_equal(s.nranges, 0);
    /* Empty at its former end. */
    assert_int_equal(stream_start(&s), 24000);
    assert_int_equal(stream_end(&s), 24000);
    /* Clearing an empty stream is harmless. */
    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    /* The freed chunks are reused, not allocated anew. */
    size_t total = p.total;
    assert_int_equal(stream_put(&s, &p, 24000, buf, 4000, BIG), 4000);
    assert_int_equal(p.total, total);
    stream_clear(&s, &p);
    chunk_pool_free(&p);
    chunk_pool_free(&p); /* a freed pool is empty, freeing it again is harmless */
}

/* ---- randomized, against a flat model -------------------------------- */

#define RING (1U << 18)          /* model window: live bytes always fit */
#define RMAX_BYTES 100000u       /* per-stream bound, beyond the 16-chunk pool */

struct model {
    uint32_t isn;
    uint32_t start; /* offset from isn */
    uint32_t end;   /* last filled offset + 1, or start */
    uint8_t data[RING];
    uint8_t have[RING];
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: deterministic and good enough to pick operations. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static uint32_t rnd_range(uint32_t lo, uint32_t hi) /* [lo, hi] */
{
    return lo + rnd() % (hi - lo + 1);
}

static uint32_t model_contig(const struct model *m)
{
    uint32_t o = m->start;
    while (m->have[o % RING])
        o++;
    return o;
}

static uint32_t model_end(const struct model *m)
{
    return m->end;
}

/* Runs of filled bytes from start up to lim, counting [lo, hi) as filled too. */
static unsigned model_runs(const struct model *m, uint32_t lim, uint32_t lo, uint32_t hi)
{
    unsigned runs = 0;
    bool prev = false;
    for (uint32_t o = m->start; o < lim; o++) {
        bool f = m->have[o % RING] || (o >= lo && o < hi);
        if (f && !prev)
            runs++;
        prev = f;
    }
    return runs;
}

static void model_forget(struct model *m, uint32_t to)
{
    for (uint32_t o = m->start; o < to; o++)
        m->have[o % RING] = 0;
    m->start = to;
    if ((int32_t)(to - m->end) >= 0)
        m->end = to;
}

static void check_against_model(struct stream *s, const struct chunk_pool *p,
                                const struct model *m, uint32_t end)
{
    uint32_t ce = model_contig(m);
    uint32_t ooo = 0;
    for (uint32_t o = ce; o < end; o++)
        ooo += m->have[o % RING];
    assert_int_equal(stream_start(s), m->isn + m->start);
    assert_int_equal(stream_contig_end(s), m->isn + ce);
    assert_int_equal(stream_end(s), m->isn + end);
    assert_int_equal(stream_ooo_bytes(s), ooo);
    check_consistent(s, p, s->nchunks);
    if (s->nranges > 0) {
        uint32_t span = stream_end(s) - s->base;
        assert_int_equal(s->nchunks, (span + STREAM_CHUNK - 1) / STREAM_CHUNK);
    }
}

static void run_random(uint32_t isn, uint64_t seed, int steps)
{
    struct chunk_pool p;
    struct stream s;
    struct model *m = calloc(1, sizeof(*m));
    uint8_t *buf = malloc(8192), *out = malloc(RMAX_BYTES + 8192);
    int nput = 0, nholes = 0, nnomem = 0, ncopy = 0, nheap = 0;

    assert_non_null(m);
    assert_non_null(buf);
    assert_non_null(out);
    rng_state = seed;
    m->isn = isn;
    chunk_pool_init(&p, 16 * STREAM_CHUNK);
    stream_init(&s, isn);

    for (int step = 0; step < steps; step++) {
        uint32_t op = rnd_range(0, 99);
        uint32_t end = model_end(m);
        uint32_t ce = model_contig(m);
        if (op < 60) {
            /* put: near the contiguous end mostly, sometimes old, sometimes far ahead */
            uint32_t base = rnd_range(0, 3) == 0 ? m->start : ce;
            int32_t rel = (int32_t)rnd_range(0, 40000) - 2000;
            if (rnd_range(0, 9) == 0)
                rel = (int32_t)rnd_range(0, RMAX_BYTES + 1000);
            uint32_t off = base + (uint32_t)rel;
            if ((int32_t)(off - m->start) < -3000)
                off = m->start - 3000; /* keep old data near the model window */
            uint32_t len = rnd_range(0, 9) == 0 ? 0 : rnd_range(1, 6000);
            for (uint32_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd();

            /* What the stream must do, from the model. */
            uint32_t lo = off, hi = off + len;
            if ((int32_t)(lo - m->start) < 0)
                lo = (int32_t)(hi - m->start) > 0 ? m->start : hi;
            int want;
            if ((int32_t)(hi - lo) <= 0) {
                want = 0;
            } else if (hi - m->start > RMAX_BYTES) {
                want = -STREAM_E_NOMEM;
            } else {
                uint32_t lim = hi > end ? hi : end;
                uint32_t fresh = 0;
                for (uint32_t o = lo; o < hi; o++)
                    fresh += !m->have[o % RING];
                if (model_runs(m, lim, lo, hi) > STREAM_RANGES_MAX) {
                    want = -STREAM_E_HOLES;
                } else if (fresh == 0) {
                    want = 0;
                } else {
                    uint32_t b = s.nchunks ? s.base : isn + m->start;
                    uint32_t need = (isn + hi - b + STREAM_CHUNK - 1) / STREAM_CHUNK;
                    if (need > s.nchunks && need - s.nchunks > p.max_chunks - p.used)
                        want = -STREAM_E_NOMEM;
                    else
                        want = (int)fresh;
                }
            }
            int got = stream_put(&s, &p, isn + off, buf, len, RMAX_BYTES);
            assert_int_equal(got, want);
            if (want > 0) {
                if ((int32_t)(hi - m->end) > 0)
                    m->end = hi;
                for (uint32_t o = lo; o < hi; o++) {
                    if (!m->have[o % RING]) {
                        m->have[o % RING] = 1;
                        m->data[o % RING] = buf[o - off];
                    }
                }
                nput++;
            } else if (want == -STREAM_E_HOLES) {
                nholes++;
            } else if (want == -STREAM_E_NOMEM) {
                nnomem++;
            }
        } else if (op < 75) {
            /* release up to somewhere around the contiguous end */
            uint32_t to = m->start + rnd_range(0, ce - m->start + 500);
            stream_release(&s, &p, isn + to);
            model_forget(m, to < ce ? to : ce);
        } else if (op < 78) {
            /* skip over a hole, or beyond everything */
            uint32_t to = m->start + rnd_range(0, end - m->start + 5000);
            stream_skip_to(&s, &p, isn + to);
            model_forget(m, to);
        } else if (op < 79) {
            uint32_t to = end;
            stream_clear(&s, &p);
            model_forget(m, to);
            assert_int_equal(p.used, 0);
        } else {
            /* copy a piece of the contiguous part */
            if (ce > m->start) {
                uint32_t a = rnd_range(m->start, ce - 1);
                uint32_t n = rnd_range(1, ce - a);
                stream_copy(&s, isn + a, out, n);
                for (uint32_t i = 0; i < n; i++)
                    if (out[i] != m->data[(a + i) % RING])
                        fail_msg("step %d: byte at offset %u differs", step, a + i);
                ncopy++;
            }
        }
        if (step % 64 == 0) {
            /* The model's own end, checked the slow way now and then. */
            if (m->end != m->start)
                assert_true(m->have[(m->end - 1) % RING]);
            for (uint32_t o = m->end; o < m->end + RMAX_BYTES + 8000; o++)
                assert_false(m->have[o % RING]);
        }
        check_against_model(&s, &p, m, model_end(m));
        nheap += s.r_heap != NULL;
    }
    /* Every kind of outcome was exercised: more holes than the stream holds itself (the
     * ranges on the heap), and, where that limit is reached, refusals. */
    assert_true(nput > steps / 10);
    assert_true(nheap > 0);
    (void)nholes;
    assert_true(nnomem > 0);
    assert_true(ncopy > 0);

    stream_clear(&s, &p);
    assert_int_equal(p.used, 0);
    chunk_pool_free(&p);
    free(out);
    free(buf);
    free(m);
}

static void test_random_model(void **state)
{
    (void)state;
    run_random(1000, 0x9e3779b97f4a7c15ULL, 3000);
}

static void test_random_model_wrap(void **state)
{
    (void)state;
    run_random(0xFFFFF000u, 0xd1b54a32d192ed03ULL, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inorder),
        cmocka_unit_test(test_copy_across_chunks),
        cmocka_unit_test(test_release_frees_chunks),
        cmocka_unit_test(test_release_all_owns_no_chunk),
        cmocka_unit_test(test_duplicates_overlaps),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_too_many_holes),
        cmocka_unit_test(test_stream_max_bytes),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_skip_to),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_random_model_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
