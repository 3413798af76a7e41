/*
 * test_sess: the session table. Create, find by the client key and by the target
 * key, delete (also from the middle of a hash chain), IPv4 and IPv6 tuples, the
 * size bound, growth of the buckets under 100k sessions, and the activity order
 * kept by sess_touch. Only documentation addresses (RFC 5737, RFC 3849).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "sess.h"

#define SEED 0x0123456789abcdefULL

/* Client 198.51.100.0/24 (host from i) : port -> online 192.0.2.10:80. */
static struct tuple ckey4(uint32_t i)
{
    struct tuple t;
    uint8_t src[4] = {198, 51, 100, (uint8_t)(i % 250 + 1)};
    uint8_t dst[4] = {192, 0, 2, 10};
    memset(&t, 0, sizeof(t));
    addr_set_v4(&t.src, src);
    addr_set_v4(&t.dst, dst);
    t.sport = (uint16_t)(1024 + i / 250);
    t.dport = 80;
    return t;
}

/* Rewritten client 203.0.113.0/24 : port -> target 192.0.2.20:8080. */
static struct tuple tkey4(uint32_t i)
{
    struct tuple t;
    uint8_t src[4] = {203, 0, 113, (uint8_t)(i % 250 + 1)};
    uint8_t dst[4] = {192, 0, 2, 20};
    memset(&t, 0, sizeof(t));
    addr_set_v4(&t.src, src);
    addr_set_v4(&t.dst, dst);
    t.sport = (uint16_t)(1024 + i / 250);
    t.dport = 8080;
    return t;
}

static struct tuple key6(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
    struct tuple t;
    memset(&t, 0, sizeof(t));
    assert_true(addr_parse(&t.src, src));
    assert_true(addr_parse(&t.dst, dst));
    t.sport = sport;
    t.dport = dport;
    return t;
}

static void test_new_find_del(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 100, SEED), 0);

    struct tuple c = ckey4(1), k = tkey4(1);
    assert_null(sess_find_c(&t, &c, 0));
    assert_null(sess_find_t(&t, &k));
    struct sess *s = sess_new(&t, &c, 0, &k);
    assert_non_null(s);
    assert_int_equal(t.count, 1);
    assert_true(tuple_eq(&s->ckey, &c));
    assert_true(tuple_eq(&s->tkey, &k));
    assert_int_equal(s->state, 0); /* zeroed */
    assert_int_equal(s->nmarks, 0);
    assert_null(s->marks);
    assert_ptr_equal(sess_find_c(&t, &c, 0), s);
    assert_ptr_equal(sess_find_t(&t, &k), s);
    /* The keys are not interchangeable, and a near miss is a miss. */
    assert_null(sess_find_c(&t, &k, 0));
    assert_null(sess_find_t(&t, &c));
    struct tuple c2 = c;
    c2.sport++;
    assert_null(sess_find_c(&t, &c2, 0));
    struct tuple rev;
    tuple_reverse(&rev, &c);
    assert_null(sess_find_c(&t, &rev, 0));

    /* A second session; then delete the first. The table owns marks: sess_del frees them. */
    struct tuple c3 = ckey4(2), k3 = tkey4(2);
    struct sess *s3 = sess_new(&t, &c3, 0, &k3);
    assert_non_null(s3);
    s->marks = malloc(16 * sizeof(*s->marks));
    assert_non_null(s->marks);
    sess_del(&t, s);
    assert_int_equal(t.count, 1);
    assert_null(sess_find_c(&t, &c, 0));
    assert_null(sess_find_t(&t, &k));
    assert_ptr_equal(sess_find_c(&t, &c3, 0), s3);
    assert_ptr_equal(sess_find_t(&t, &k3), s3);
    assert_ptr_equal(TAILQ_FIRST(&t.all), s3);

    /* A recycled session comes back zeroed. */
    s3->state = 3;
    s3->bytes_in = 99;
    sess_del(&t, s3);
    assert_int_equal(t.count, 0);
    assert_true(TAILQ_EMPTY(&t.all));
    struct sess *s4 = sess_new(&t, &c, 0, &k);
    assert_non_null(s4);
    assert_int_equal(s4->state, 0);
    assert_int_equal(s4->bytes_in, 0);
    assert_ptr_equal(sess_find_t(&t, &k), s4);
    sess_table_free(&t);
    sess_table_free(&t); /* freed twice: harmless */
}

static void test_v6(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 10, SEED), 0);

    struct tuple c = key6("2001:db8::1", 40000, "2001:db8:1::10", 80);
    struct tuple k = key6("2001:db8:2::1", 40000, "2001:db8:1::20", 8080);
    struct tuple c2 = key6("2001:db8::2", 40000, "2001:db8:1::10", 80);
    struct tuple k2 = key6("2001:db8:2::2", 40000, "2001:db8:1::20", 8080);
    struct sess *s = sess_new(&t, &c, 0, &k), *s2 = sess_new(&t, &c2, 0, &k2);
    assert_non_null(s);
    assert_non_null(s2);
    assert_ptr_equal(sess_find_c(&t, &c, 0), s);
    assert_ptr_equal(sess_find_t(&t, &k), s);
    assert_ptr_equal(sess_find_c(&t, &c2, 0), s2);
    assert_ptr_equal(sess_find_t(&t, &k2), s2);

    /* A v4 tuple with the same port is a different key. */
    struct tuple c4 = ckey4(1);
    c4.sport = 40000;
    assert_null(sess_find_c(&t, &c4, 0));
    struct sess *s4 = sess_new(&t, &c4, 0, &k2); /* the table does not police duplicates */
    assert_non_null(s4);
    assert_ptr_equal(sess_find_c(&t, &c4, 0), s4);
    assert_ptr_equal(sess_find_c(&t, &c, 0), s);

    sess_del(&t, s);
    assert_null(sess_find_c(&t, &c, 0));
    assert_ptr_equal(sess_find_c(&t, &c2, 0), s2);
    sess_table_free(&t);
}

static void test_max(void **state)
{
    (void)state;
    struct sess_table t;
    struct sess *s[5];
    assert_int_equal(sess_table_init(&t, 5, SEED), 0);
    for (uint32_t i = 0; i < 5; i++) {
        struct tuple c = ckey4(i), k = tkey4(i);
        s[i] = sess_new(&t, &c, 0, &k);
        assert_non_null(s[i]);
    }
    struct tuple c = ckey4(5), k = tkey4(5);
    assert_null(sess_new(&t, &c, 0, &k));
    assert_int_equal(t.count, 5);
    assert_null(sess_find_c(&t, &c, 0));
    sess_del(&t, s[2]);
    assert_non_null(sess_new(&t, &c, 0, &k));
    assert_null(sess_new(&t, &c, 0, &k));
    sess_table_free(&t);

    /* max 0 means one. */
    assert_int_equal(sess_table_init(&t, 0, SEED), 0);
    assert_non_null(sess_new(&t, &c, 0, &k));
    struct tuple c1 = ckey4(1), k1 = tkey4(1);
    assert_null(sess_new(&t, &c1, 0, &k1));
    sess_table_free(&t);
}

static void test_growth_100k(void **state)
{
    (void)state;
    enum { N = 100000 };
    struct sess_table t;
    struct sess **all = calloc(N, sizeof(*all));
    assert_non_null(all);
    assert_int_equal(sess_table_init(&t, N, SEED), 0);
    assert_int_equal(t.nbuckets, 1024);

    for (uint32_t i = 0; i < N; i++) {
        struct tuple c = ckey4(i), k = tkey4(i);
        all[i] = sess_new(&t, &c, 0, &k);
        assert_non_null(all[i]);
        all[i]->c_isn = i;
    }
    assert_int_equal(t.count, N);
    assert_true(t.nbuckets >= N);
    assert_true(t.nbuckets <= 2 * 131072);
    assert_int_equal(t.nbuckets & (t.nbuckets - 1), 0);
    {
        struct tuple c = ckey4(N), k = tkey4(N);
        assert_null(sess_new(&t, &c, 0, &k)); /* the bound still holds */
    }

    /* All findable by both keys; chains stay short. */
    size_t longest = 0;
    for (size_t b = 0; b < t.nbuckets; b++) {
        size_t len = 0;
        for (struct sess *s = t.by_c[b]; s != NULL; s = s->next_c)
            len++;
        if (len > longest)
            longest = len;
    }
    assert_true(longest < 16);
    for (uint32_t i = 0; i < N; i++) {
        struct tuple c = ckey4(i), k = tkey4(i);
        assert_ptr_equal(sess_find_c(&t, &c, 0), all[i]);
        assert_ptr_equal(sess_find_t(&t, &k), all[i]);
    }
    /* Delete every other one; the rest stay findable, the deleted are gone. */
    for (uint32_t i = 0; i < N; i += 2)
        sess_del(&t, all[i]);
    assert_int_equal(t.count, N / 2);
    for (uint32_t i = 0; i < N; i++) {
        struct tuple c = ckey4(i), k = tkey4(i);
        if (i % 2 == 0) {
            assert_null(sess_find_c(&t, &c, 0));
            assert_null(sess_find_t(&t, &k));
        } else {
            struct sess *s = sess_find_c(&t, &c, 0);
            assert_ptr_equal(s, all[i]);
            assert_int_equal(s->c_isn, i);
            assert_ptr_equal(sess_find_t(&t, &k), all[i]);
        }
    }
    /* The `all` list holds exactly the live ones, in creation order. */
    uint32_t expect = 1;
    struct sess *s;
    TAILQ_FOREACH(s, &t.all, all)
    {
        assert_int_equal(s->c_isn, expect);
        expect += 2;
    }
    assert_int_equal(expect, N + 1);
    sess_table_free(&t);
    free(all);
}

static void test_touch_order(void **state)
{
    (void)state;
    struct sess_table t;
    struct sess *s[4];
    assert_int_equal(sess_table_init(&t, 10, SEED), 0);
    for (uint32_t i = 0; i < 4; i++) {
        struct tuple c = ckey4(i), k = tkey4(i);
        s[i] = sess_new(&t, &c, 0, &k);
        assert_non_null(s[i]);
    }
    struct sess *want1[] = {s[0], s[1], s[2], s[3]};
    struct sess *want2[] = {s[0], s[2], s[3], s[1]};
    struct sess *want3[] = {s[2], s[3], s[1], s[0]};
    struct sess *want4[] = {s[3], s[1], s[0]};
    struct sess **wants[] = {want1, want2, want3, want3, want4};
    size_t lens[] = {4, 4, 4, 4, 3};

    for (int step = 0; step < 5; step++) {
        if (step == 1)
            sess_touch(&t, s[1], 100);
        if (step == 2)
            sess_touch(&t, s[0], 200);
        if (step == 3)
            sess_touch(&t, s[0], 300); /* already last: stays last */
        if (step == 4)
            sess_del(&t, s[2]);
        size_t n = 0;
        struct sess *x;
        TAILQ_FOREACH(x, &t.all, all)
        {
            assert_true(n < lens[step]);
            assert_ptr_equal(x, wants[step][n]);
            n++;
        }
        assert_int_equal(n, lens[step]);
    }
    assert_int_equal(s[1]->last_active_us, 100);
    assert_int_equal(s[0]->last_active_us, 300);
    sess_table_free(&t);
}

/* Find n client keys that share one bucket of a fresh table (same seed). */
static void same_bucket(const struct sess_table *t, struct tuple *out, uint32_t *idx, int n)
{
    struct tuple c0 = ckey4(0);
    size_t want = (size_t)tuple_hash(&c0, t->seed) & (t->nbuckets - 1);
    int got = 0;
    for (uint32_t i = 0; got < n && i < 10000000; i++) {
        struct tuple c = ckey4(i);
        if (((size_t)tuple_hash(&c, t->seed) & (t->nbuckets - 1)) == want) {
            out[got] = c;
            idx[got] = i;
            got++;
        }
    }
    assert_int_equal(got, n);
}

static void test_delete_mid_chain(void **state)
{
    (void)state;
    struct sess_table t;
    struct tuple c[4];
    uint32_t idx[4];
    struct sess *s[4];
    assert_int_equal(sess_table_init(&t, 100, SEED), 0);
    same_bucket(&t, c, idx, 4);
    for (int i = 0; i < 4; i++) {
        struct tuple k = tkey4(idx[i]);
        s[i] = sess_new(&t, &c[i], 0, &k);
        assert_non_null(s[i]);
    }
    /* One chain of four: delete from the middle, then the head, then the tail. */
    size_t b = (size_t)tuple_hash(&c[0], t.seed) & (t.nbuckets - 1);
    int len = 0;
    for (struct sess *x = t.by_c[b]; x != NULL; x = x->next_c)
        len++;
    assert_int_equal(len, 4);

    sess_del(&t, s[1]);
    assert_null(sess_find_c(&t, &c[1], 0));
    assert_ptr_equal(sess_find_c(&t, &c[0], 0), s[0]);
    assert_ptr_equal(sess_find_c(&t, &c[2], 0), s[2]);
    assert_ptr_equal(sess_find_c(&t, &c[3], 0), s[3]);
    sess_del(&t, s[3]); /* head (inserted last) */
    assert_ptr_equal(sess_find_c(&t, &c[0], 0), s[0]);
    assert_ptr_equal(sess_find_c(&t, &c[2], 0), s[2]);
    sess_del(&t, s[0]); /* tail */
    assert_ptr_equal(sess_find_c(&t, &c[2], 0), s[2]);
    struct tuple k2 = tkey4(idx[2]);
    assert_ptr_equal(sess_find_t(&t, &k2), s[2]);
    for (int i = 0; i < 4; i++) {
        struct tuple k = tkey4(idx[i]);
        if (i != 2) {
            assert_null(sess_find_c(&t, &c[i], 0));
            assert_null(sess_find_t(&t, &k));
        }
    }
    len = 0;
    for (struct sess *x = t.by_c[b]; x != NULL; x = x->next_c)
        len++;
    assert_int_equal(len, 1);
    sess_table_free(&t);
}

static void test_seed_changes_buckets(void **state)
{
    (void)state;
    /* Untrusted tuples must not pick their bucket: another seed, other buckets. */
    struct sess_table a, b;
    assert_int_equal(sess_table_init(&a, 10, 1), 0);
    assert_int_equal(sess_table_init(&b, 10, 2), 0);
    int differ = 0;
    for (uint32_t i = 0; i < 64; i++) {
        struct tuple c = ckey4(i);
        size_t ba = (size_t)tuple_hash(&c, a.seed) & (a.nbuckets - 1);
        size_t bb = (size_t)tuple_hash(&c, b.seed) & (b.nbuckets - 1);
        differ += ba != bb;
    }
    assert_true(differ > 32);
    sess_table_free(&a);
    sess_table_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_find_del),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_growth_100k),
        cmocka_unit_test(test_touch_order),
        cmocka_unit_test(test_delete_mid_chain),
        cmocka_unit_test(test_seed_changes_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
