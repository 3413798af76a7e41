/*
 * test_cmp_unit: comparison units and the first difference. A unit's size does not grow with
 * the answer (24 MB streams, block merging, the finer of two units lifted to the coarser);
 * a difference in the first bytes, at a block's start (exact, from the block's sample),
 * inside a block (its start), in the last bytes, a prefix (length), a close; header
 * multisets and status lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_diff.h"
#include "cmp_unit.h"

#define MB (1024ULL * 1024)

static uint8_t pat(uint64_t i)
{
    return (uint8_t)((i * 2654435761ULL) >> 13);
}

/* A stream of len pattern bytes, byte `flip` (if < len) changed, fed in pieces of 64 KB
 * (or of 1 byte now and then, so pieces never line up with chunks). */
static void fill(struct cmp_unit *u, uint64_t len, uint64_t flip)
{
    static uint8_t buf[65536 + 7];
    cmp_unit_init(u);
    for (uint64_t off = 0; off < len;) {
        size_t k = (off / 65536) % 3 == 1 ? 7 : 65536;
        if (k > len - off)
            k = (size_t)(len - off);
        for (size_t i = 0; i < k; i++)
            buf[i] = pat(off + i) ^ (off + i == flip ? 0x55 : 0);
        cmp_stream_add(&u->body, buf, k);
        off += k;
    }
}

static void test_bounded(void **state)
{
    (void)state;
    assert_true(sizeof(struct cmp_unit) < 8192);
    struct cmp_unit *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    fill(a, 24 * MB, UINT64_MAX);
    fill(b, 24 * MB, UINT64_MAX);
    assert_true(a->body.level > 0);
    assert_true(a->body.nblocks <= CMP_NBLOCKS);
    assert_int_equal(a->body.len, 24 * MB);
    struct cmp_diff d;
    assert_true(cmp_diff_units(a, b, &d));
    free(a);
    free(b);
}

static void diff_at(uint64_t len, uint64_t flip, bool exact)
{
    struct cmp_unit *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    fill(a, len, UINT64_MAX);
    fill(b, len, flip);
    struct cmp_diff d;
    assert_false(cmp_diff_units(a, b, &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    assert_int_equal(d.exact, exact);
    if (exact) {
        assert_int_equal(d.offset, flip);
        /* the excerpts show the differing byte at the same place */
        uint64_t at = flip - d.a_from;
        assert_true(at < d.alen);
        assert_int_equal(d.a[at] ^ d.b[at], 0x55);
        assert_int_equal(d.a_from, d.b_from);
    } else {
        uint64_t bsize = (uint64_t)CMP_CHUNK << a->body.level;
        assert_true(d.offset <= flip && flip < d.offset + bsize);
        assert_int_equal(d.alen, CMP_SAMPLE); /* the block's first bytes */
    }
    free(a);
    free(b);
}

static void test_first_difference(void **state)
{
    (void)state;
    diff_at(24 * MB, 100, true);              /* in the head excerpt */
    diff_at(24 * MB, 10 * MB + 5, true);      /* near a block's start: its sample */
    diff_at(24 * MB, 10 * MB + 100000, false); /* inside a block: its start */
    diff_at(24 * MB, 24 * MB - 3, true);      /* in the tail */
    diff_at(100000, 40000, false);
    diff_at(100000, 8192 + 20, true);
}

static void test_prefix_and_levels(void **state)
{
    (void)state;
    struct cmp_unit *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    fill(a, 24 * MB, UINT64_MAX);
    fill(b, 12 * MB, UINT64_MAX); /* a finer level */
    assert_true(b->body.level < a->body.level);
    struct cmp_diff d;
    assert_false(cmp_diff_units(a, b, &d));
    assert_int_equal(d.kind, CMP_KIND_LENGTH);
    assert_int_equal(d.offset, 12 * MB);
    fill(b, 12 * MB, 7 * MB + 1);
    assert_false(cmp_diff_units(a, b, &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    assert_int_equal(d.offset, 7 * MB + 1);
    /* short answers: the prefix is known exactly */
    fill(a, 100, UINT64_MAX);
    fill(b, 60, UINT64_MAX);
    assert_false(cmp_diff_units(a, b, &d));
    assert_int_equal(d.kind, CMP_KIND_LENGTH);
    assert_int_equal(d.offset, 60);
    assert_true(d.exact);
    assert_int_equal(d.blen, 16); /* the last bytes of the shorter one */
    /* equal bytes, but one was cut by the connection's close */
    fill(b, 100, UINT64_MAX);
    b->flags |= CMP_U_TRUNCATED;
    assert_false(cmp_diff_units(a, b, &d));
    assert_int_equal(d.kind, CMP_KIND_CLOSED);
    free(a);
    free(b);
}

static void test_head(void **state)
{
    (void)state;
    struct cmp_unit a, b;
    cmp_unit_init(&a);
    cmp_unit_init(&b);
    a.flags = b.flags = CMP_U_HTTP;
    cmp_unit_status(&a, "HTTP/1.1 200 OK", 15);
    cmp_unit_status(&b, "HTTP/1.1 200 OK", 15);
    cmp_unit_header(&a, "server:nginx", 12);
    cmp_unit_header(&a, "x-a:1", 5);
    cmp_unit_header(&b, "x-a:1", 5);
    cmp_unit_header(&b, "server:nginx", 12);
    struct cmp_diff d;
    assert_true(cmp_diff_units(&a, &b, &d));
    cmp_unit_header(&b, "x-a:1", 5); /* a repeated line counts */
    assert_false(cmp_diff_units(&a, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
    assert_int_equal(d.alen, 0);
    assert_memory_equal(d.b, "x-a:1", 5);
    assert_string_equal(cmp_kind_name(d.kind), "header");
    assert_true(cmp_hash_bytes("a", 1) != cmp_hash_bytes("b", 1));
}

/* A unit reused after a longer answer, then copied: the copy compares equal to a fresh unit
 * with the same answer, and keeps the header text a difference shows. */
static void test_reuse_and_copy(void **state)
{
    (void)state;
    struct cmp_unit *a = malloc(sizeof(*a)), *c = malloc(sizeof(*c)), f;
    memset(a, 0xa5, sizeof(*a)); /* what a previous answer left */
    memset(c, 0x5a, sizeof(*c));
    cmp_unit_init(a);
    cmp_unit_init(&f);
    a->flags = f.flags = CMP_U_HTTP;
    cmp_unit_status(a, "HTTP/1.1 200 OK", 15);
    cmp_unit_status(&f, "HTTP/1.1 200 OK", 15);
    cmp_unit_header(a, "x-a:1", 5);
    cmp_unit_header(&f, "x-a:1", 5);
    cmp_stream_add(&a->body, (const uint8_t *)"hello", 5);
    cmp_stream_add(&f.body, (const uint8_t *)"hello", 5);
    cmp_unit_copy(c, a);
    struct cmp_diff d;
    assert_true(cmp_diff_units(c, &f, &d));
    assert_int_equal(cmp_unit_hash(c), cmp_unit_hash(&f));
    assert_string_equal(c->status_text, "HTTP/1.1 200 OK");
    cmp_unit_header(&f, "x-b:2", 5);
    assert_false(cmp_diff_units(&f, c, &d));
    assert_memory_equal(d.a, "x-b:2", 5);
    free(a);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_first_difference),
        cmocka_unit_test(test_prefix_and_levels),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_reuse_and_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
