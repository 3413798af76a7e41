/*
 * test_route: intercept's route table and the FIFO of replies waiting for a route.
 * Documentation addresses only (RFC 5737, RFC 3849).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "addr.h"
#include "intercept/route.h"

static struct route_key key(const char *client, uint16_t cport, const char *target, uint16_t tport)
{
    struct addr c, t;
    struct route_key k;
    assert_true(addr_parse(&c, client));
    assert_true(addr_parse(&t, target));
    route_key_set(&k, &c, cport, &t, tport);
    return k;
}

static void test_add_lookup_del_v4(void **state)
{
    struct route_table *t = route_table_new(1024, 42);
    struct route_owner a;
    route_owner_init(&a, 1);
    assert_non_null(t);

    struct route_key k = key("203.0.113.5", 40000, "192.0.2.20", 8080);
    assert_null(route_lookup(t, &k));
    assert_int_equal(route_add(t, &k, &a), ROUTE_ADDED);
    assert_ptr_equal(route_lookup(t, &k), &a);
    assert_int_equal(route_count(t), 1);
    assert_int_equal(a.count, 1);

    /* Each field of the key matters. */
    struct route_key k2 = key("203.0.113.5", 40001, "192.0.2.20", 8080);
    assert_null(route_lookup(t, &k2));
    k2 = key("203.0.113.5", 40000, "192.0.2.20", 8081);
    assert_null(route_lookup(t, &k2));
    k2 = key("203.0.113.6", 40000, "192.0.2.20", 8080);
    assert_null(route_lookup(t, &k2));
    k2 = key("203.0.113.5", 40000, "192.0.2.21", 8080);
    assert_null(route_lookup(t, &k2));
    /* Client and target are not interchangeable. */
    k2 = key("192.0.2.20", 8080, "203.0.113.5", 40000);
    assert_null(route_lookup(t, &k2));

    /* Adding again by the same owner refreshes. */
    assert_int_equal(route_add(t, &k, &a), ROUTE_REFRESHED);
    assert_int_equal(route_count(t), 1);

    assert_true(route_del(t, &k, &a));
    assert_null(route_lookup(t, &k));
    assert_false(route_del(t, &k, &a));
    assert_int_equal(route_count(t), 0);
    assert_int_equal(a.count, 0);
    route_table_free(t);
}

static void test_key_ignores_stale_bytes(void **state)
{
    struct route_table *t = route_table_new(1024, 7);
    struct route_owner a;
    route_owner_init(&a, 1);
    struct addr c, tg;
    assert_true(addr_parse(&c, "203.0.113.5"));
    assert_true(addr_parse(&tg, "192.0.2.20"));
    struct route_key k1, k2;
    route_key_set(&k1, &c, 1, &tg, 2);
    /* Garbage past the IPv4 address and in the padding must not make a new key. */
    memset(c.pad, 0xaa, sizeof(c.pad));
    memset(c.u.b + 4, 0x55, 12);
    route_key_set(&k2, &c, 1, &tg, 2);
    assert_int_equal(route_add(t, &k1, &a), ROUTE_ADDED);
    assert_ptr_equal(route_lookup(t, &k2), &a);
    route_table_free(t);
}

static void test_v6(void **state)
{
    struct route_table *t = route_table_new(1024, 1);
    struct route_owner a;
    route_owner_init(&a, 1);
    struct route_key k6 = key("2001:db8:3::5", 40000, "2001:db8:1::20", 8080);
    struct route_key k4 = key("203.0.113.5", 40000, "192.0.2.20", 8080);
    assert_int_equal(route_add(t, &k6, &a), ROUTE_ADDED);
    assert_ptr_equal(route_lookup(t, &k6), &a);
    assert_null(route_lookup(t, &k4));
    struct route_key other = key("2001:db8:3::6", 40000, "2001:db8:1::20", 8080);
    assert_null(route_lookup(t, &other));
    /* Same low bytes, other family: distinct. */
    struct route_key k4m = key("::cb00:7105", 40000, "::c000:214", 8080);
    assert_null(route_lookup(t, &k4m));
    assert_true(route_del(t, &k6, NULL));
    assert_null(route_lookup(t, &k6));
    route_table_free(t);
}

static void test_reassign(void **state)
{
    struct route_table *t = route_table_new(1024, 3);
    struct route_owner a, b;
    route_owner_init(&a, 1);
    route_owner_init(&b, 2);
    struct route_key k = key("203.0.113.5", 40000, "192.0.2.20", 8080);
    assert_int_equal(route_add(t, &k, &a), ROUTE_ADDED);
    assert_int_equal(route_add(t, &k, &b), ROUTE_REASSIGNED);
    assert_ptr_equal(route_lookup(t, &k), &b);
    assert_int_equal(a.count, 0);
    assert_int_equal(b.count, 1);
    assert_int_equal(route_count(t), 1);
    assert_int_equal(route_table_stats(t)->reassigned, 1);
    /* The former owner cannot delete it any more. */
    assert_false(route_del(t, &k, &a));
    assert_ptr_equal(route_lookup(t, &k), &b);
    /* Nor does its disconnection remove it. */
    assert_int_equal(route_remove_all_of(t, &a), 0);
    assert_ptr_equal(route_lookup(t, &k), &b);
    assert_true(route_del(t, &k, &b));
    route_table_free(t);
}

static void test_remove_all_of(void **state)
{
    struct route_table *t = route_table_new(4096, 5);
    struct route_owner a, b;
    route_owner_init(&a, 1);
    route_owner_init(&b, 2);
    struct addr c, tg;
    assert_true(addr_parse(&c, "203.0.113.5"));
    assert_true(addr_parse(&tg, "192.0.2.20"));
    for (uint16_t p = 1; p <= 1000; p++) {
        struct route_key k;
        route_key_set(&k, &c, p, &tg, 8080);
        assert_int_equal(route_add(t, &k, (p % 3) ? &a : &b), ROUTE_ADDED);
    }
    assert_int_equal(route_count(t), 1000);
    size_t nb = b.count;
    assert_int_equal(route_remove_all_of(t, &a), 1000 - nb);
    assert_int_equal(a.count, 0);
    assert_int_equal(route_count(t), nb);
    for (uint16_t p = 1; p <= 1000; p++) {
        struct route_key k;
        route_key_set(&k, &c, p, &tg, 8080);
        if (p % 3)
            assert_null(route_lookup(t, &k));
        else
            assert_ptr_equal(route_lookup(t, &k), &b);
    }
    /* The freed entries are reused. */
    for (uint16_t p = 1001; p <= 2000; p++) {
        struct route_key k;
        route_key_set(&k, &c, p, &tg, 8080);
        assert_int_equal(route_add(t, &k, &a), ROUTE_ADDED);
    }
    assert_int_equal(route_remove_all_of(t, &b), nb);
    assert_int_equal(route_remove_all_of(t, &a), 1000);
    assert_int_equal(route_count(t), 0);
    route_table_free(t);
}

static void test_full(void **state)
{
    /* Below the minimum: clamped to ROUTE_TABLE_MIN. */
    struct route_table *t = route_table_new(10, 9);
    assert_int_equal(route_capacity(t), ROUTE_TABLE_MIN);
    struct route_owner a;
    route_owner_init(&a, 1);
    struct addr c, tg;
    assert_true(addr_parse(&c, "198.51.100.7"));
    assert_true(addr_parse(&tg, "192.0.2.20"));
    struct route_key k;
    for (uint32_t i = 0; i < ROUTE_TABLE_MIN; i++) {
        route_key_set(&k, &c, (uint16_t)(i + 1), &tg, 80);
        assert_int_equal(route_add(t, &k, &a), ROUTE_ADDED);
    }
    route_key_set(&k, &c, 60000, &tg, 80);
    assert_int_equal(route_add(t, &k, &a), -ENOSPC);
    assert_int_equal(route_table_stats(t)->full, 1);
    assert_null(route_lookup(t, &k));
    /* An existing route is still refreshed, and a freed slot makes room. */
    struct route_key k1;
    route_key_set(&k1, &c, 1, &tg, 80);
    assert_int_equal(route_add(t, &k1, &a), ROUTE_REFRESHED);
    assert_true(route_del(t, &k1, &a));
    assert_int_equal(route_add(t, &k, &a), ROUTE_ADDED);
    assert_int_equal(route_count(t), ROUTE_TABLE_MIN);
    route_table_free(t);
}

static void test_many(void **state)
{
    enum { N = 100000 };
    struct route_table *t = route_table_new(N, 11);
    struct route_owner o[4];
    for (int i = 0; i < 4; i++)
        route_owner_init(&o[i], (uint64_t)i);
    struct addr tg;
    assert_true(addr_parse(&tg, "2001:db8:1::20"));
    struct addr c;
    assert_true(addr_parse(&c, "2001:db8:3::"));
    for (uint32_t i = 0; i < N; i++) {
        struct route_key k;
        c.u.b[14] = (uint8_t)(i >> 8);
        c.u.b[15] = (uint8_t)i;
        route_key_set(&k, &c, (uint16_t)(1024 + i % 50000), &tg, 443);
        assert_int_equal(route_add(t, &k, &o[i % 4]), ROUTE_ADDED);
    }
    assert_int_equal(route_count(t), N);
    for (uint32_t i = 0; i < N; i++) {
        struct route_key k;
        c.u.b[14] = (uint8_t)(i >> 8);
        c.u.b[15] = (uint8_t)i;
        route_key_set(&k, &c, (uint16_t)(1024 + i % 50000), &tg, 443);
        assert_ptr_equal(route_lookup(t, &k), &o[i % 4]);
    }
    /* Delete every other one, then check both halves. */
    for (uint32_t i = 0; i < N; i += 2) {
        struct route_key k;
        c.u.b[14] = (uint8_t)(i >> 8);
        c.u.b[15] = (uint8_t)i;
        route_key_set(&k, &c, (uint16_t)(1024 + i % 50000), &tg, 443);
        assert_true(route_del(t, &k, NULL));
    }
    assert_int_equal(route_count(t), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        struct route_key k;
        c.u.b[14] = (uint8_t)(i >> 8);
        c.u.b[15] = (uint8_t)i;
        route_key_set(&k, &c, (uint16_t)(1024 + i % 50000), &tg, 443);
        if (i % 2)
            assert_ptr_equal(route_lookup(t, &k), &o[i % 4]);
        else
            assert_null(route_lookup(t, &k));
    }
    size_t left = 0;
    for (int i = 0; i < 4; i++)
        left += route_remove_all_of(t, &o[i]);
    assert_int_equal(left, N / 2);
    assert_int_equal(route_count(t), 0);
    route_table_free(t);
}

/* ---- route_hold ---- */

struct got {
    int n;
    uint8_t first[ROUTE_HOLD_REC_MAX];
    size_t first_len;
};

static void got_cb(void *arg, const uint8_t *hdr, size_t len)
{
    struct got *g = arg;
    if (g->n == 0) {
        memcpy(g->first, hdr, len);
        g->first_len = len;
    }
    g->n++;
}

static void test_hold_deliver(void **state)
{
    struct route_hold *h = route_hold_new(8, 2000000);
    struct route_key k1 = key("203.0.113.5", 40000, "192.0.2.20", 8080);
    struct route_key k2 = key("203.0.113.6", 40000, "192.0.2.20", 8080);
    uint8_t hdr[40];
    memset(hdr, 0x45, sizeof(hdr));
    hdr[39] = 1;
    assert_int_equal(route_hold_put(h, &k1, hdr, sizeof(hdr), 1000), 0);
    hdr[39] = 2;
    assert_int_equal(route_hold_put(h, &k2, hdr, sizeof(hdr), 1001), 0);
    hdr[39] = 3;
    assert_int_equal(route_hold_put(h, &k1, hdr, sizeof(hdr), 1002), 0);
    assert_int_equal(route_hold_count(h), 3);

    struct got g = {0};
    assert_int_equal(route_hold_take(h, &k1, 5000, got_cb, &g), 2);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.first_len, 40);
    assert_int_equal(g.first[39], 1); /* oldest first */
    assert_int_equal(route_hold_count(h), 1);
    /* Taken ones are gone. */
    memset(&g, 0, sizeof(g));
    assert_int_equal(route_hold_take(h, &k1, 5000, got_cb, &g), 0);
    assert_int_equal(route_hold_take(h, &k2, 5000, got_cb, &g), 1);
    assert_int_equal(g.first[39], 2);
    assert_int_equal(route_hold_count(h), 0);
    assert_int_equal(route_hold_stats(h)->delivered, 3);

    uint8_t big[ROUTE_HOLD_REC_MAX + 1] = {0};
    assert_int_equal(route_hold_put(h, &k1, big, sizeof(big), 6000), -EMSGSIZE);
    assert_int_equal(route_hold_stats(h)->toolong, 1);
    route_hold_free(h);
}

static void test_hold_expire_overflow(void **state)
{
    struct route_hold *h = route_hold_new(4, 2000000);
    struct route_key k = key("203.0.113.5", 40000, "192.0.2.20", 8080);
    uint8_t hdr[40] = {0x45};
    for (int i = 0; i < 6; i++)
        assert_int_equal(route_hold_put(h, &k, hdr, sizeof(hdr), 1000000 + (uint64_t)i), 0);
    assert_int_equal(route_hold_count(h), 4);
    assert_int_equal(route_hold_stats(h)->overflow, 2);

    /* 2 s later plus a little: all expired. */
    route_hold_expire(h, 1000000 + 2000010);
    assert_int_equal(route_hold_count(h), 0);
    assert_int_equal(route_hold_stats(h)->expired, 4);

    /* take() does not deliver expired records. */
    assert_int_equal(route_hold_put(h, &k, hdr, sizeof(hdr), 10000000), 0);
    struct got g = {0};
    assert_int_equal(route_hold_take(h, &k, 10000000 + 2500000, got_cb, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(route_hold_stats(h)->expired, 5);
    route_hold_free(h);
}

static void test_hold_holes(void **state)
{
    /* Taking from the middle leaves holes that do not count as live or as overflow. */
    struct route_hold *h = route_hold_new(4, 2000000);
    struct route_key ka = key("203.0.113.5", 1, "192.0.2.20", 80);
    struct route_key kb = key("203.0.113.5", 2, "192.0.2.20", 80);
    uint8_t hdr[20] = {0x45};
    route_hold_put(h, &ka, hdr, sizeof(hdr), 1);
    route_hold_put(h, &kb, hdr, sizeof(hdr), 2);
    route_hold_put(h, &ka, hdr, sizeof(hdr), 3);
    struct got g = {0};
    assert_int_equal(route_hold_take(h, &kb, 4, got_cb, &g), 1);
    assert_int_equal(route_hold_count(h), 2);
    route_hold_put(h, &kb, hdr, sizeof(hdr), 5);
    assert_int_equal(route_hold_count(h), 3);
    assert_int_equal(route_hold_stats(h)->overflow, 0);
    /* Full (the hole is not at the head): the oldest live record goes. */
    route_hold_put(h, &kb, hdr, sizeof(hdr), 6);
    assert_int_equal(route_hold_stats(h)->overflow, 1);
    assert_int_equal(route_hold_count(h), 3);
    /* Now the hole is at the head: it is reused without losing a record. */
    route_hold_put(h, &kb, hdr, sizeof(hdr), 7);
    assert_int_equal(route_hold_stats(h)->overflow, 1);
    assert_int_equal(route_hold_count(h), 4);
    memset(&g, 0, sizeof(g));
    assert_int_equal(route_hold_take(h, &ka, 8, got_cb, &g), 1);
    route_hold_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_lookup_del_v4),
        cmocka_unit_test(test_key_ignores_stale_bytes),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_reassign),
        cmocka_unit_test(test_remove_all_of),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_hold_deliver),
        cmocka_unit_test(test_hold_expire_overflow),
        cmocka_unit_test(test_hold_holes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
