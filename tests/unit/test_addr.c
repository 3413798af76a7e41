/*
 * test_addr: the tagged address, text and sockaddr conversions, prefixes, and
 * the keyed tuple hash (equal tuples hash equal whatever lies in the unused
 * bytes; the seed changes the result). Documentation addresses only
 * (RFC 5737, RFC 3849).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "addr.h"

static struct addr mkaddr(const char *s)
{
    struct addr a;

    assert_true(addr_parse(&a, s));
    return a;
}

static void test_parse_str(void **state)
{
    struct addr a;
    char buf[ADDR_STRLEN];

    (void)state;
    assert_true(addr_parse(&a, "192.0.2.1"));
    assert_int_equal(a.af, AF_INET);
    assert_memory_equal(a.u.b, "\xc0\x00\x02\x01", 4);
    for (int i = 4; i < 16; i++)
        assert_int_equal(a.u.b[i], 0);
    assert_string_equal(addr_str(&a, buf, sizeof(buf)), "192.0.2.1");

    assert_true(addr_parse(&a, "2001:DB8::1"));
    assert_int_equal(a.af, AF_INET6);
    assert_string_equal(addr_str(&a, buf, sizeof(buf)), "2001:db8::1");
    assert_true(addr_parse(&a, "2001:db8:ffff:ffff:ffff:ffff:255.255.255.255"));
    assert_string_equal(addr_str(&a, buf, sizeof(buf)), "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");

    static const char *bad[] = {"",
                                "192.0.2",
                                "192.0.2.256",
                                "192.0.2.1:80",
                                "[2001:db8::1]",
                                "2001:db8::g",
                                "2001:db8:::1",
                                " 192.0.2.1",
                                "example.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(addr_parse(&a, bad[i]));
    assert_false(addr_parse(&a, NULL));

    memset(&a, 0, sizeof(a));
    assert_string_equal(addr_str(&a, buf, sizeof(buf)), "*");
    assert_true(addr_is_any(&a));
    a = mkaddr("198.51.100.7");
    assert_false(addr_is_any(&a));
}

static void test_port_str(void **state)
{
    struct addr a;
    char buf[ADDR_STRLEN];
    char small[ADDR_STRLEN + 8];

    (void)state;
    a = mkaddr("203.0.113.9");
    assert_string_equal(addr_port_str(&a, 8080, buf, sizeof(buf)), "203.0.113.9:8080");
    a = mkaddr("2001:db8::5");
    assert_string_equal(addr_port_str(&a, 443, buf, sizeof(buf)), "[2001:db8::5]:443");

    /* The longest form fits ADDR_STRLEN. */
    a = mkaddr("2001:db8:ffff:ffff:ffff:ffff:255.255.255.255");
    addr_port_str(&a, 65535, buf, sizeof(buf));
    assert_true(strlen(buf) < ADDR_STRLEN);
    assert_string_equal(buf, "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535");

    /* Every short buffer is filled only up to its length and terminated. */
    for (size_t len = 1; len < 50; len++) {
        memset(small, 'Z', sizeof(small));
        addr_port_str(&a, 65535, small, len);
        assert_true(strlen(small) < len);
        assert_int_equal(small[len], 'Z');
        memset(small, 'Z', sizeof(small));
        addr_str(&a, small, len);
        assert_int_equal(small[len], 'Z');
        assert_true(strlen(small) < len);
    }
    memset(small, 'Z', sizeof(small));
    addr_str(&a, small, 0);
    addr_port_str(&a, 1, small, 0);
    assert_int_equal(small[0], 'Z');
}

static void test_eq(void **state)
{
    struct addr a, b, any1, any2;

    (void)state;
    a = mkaddr("192.0.2.1");
    b = mkaddr("192.0.2.1");
    assert_true(addr_eq(&a, &b));
    /* Junk in the unused bytes of an IPv4 address does not matter. */
    memset(b.u.b + 4, 0xaa, 12);
    b.pad[1] = 7;
    assert_true(addr_eq(&a, &b));
    b = mkaddr("192.0.2.2");
    assert_false(addr_eq(&a, &b));
    b = mkaddr("::ffff:192.0.2.1");
    assert_false(addr_eq(&a, &b));
    a = mkaddr("2001:db8::1");
    b = mkaddr("2001:db8::1");
    assert_true(addr_eq(&a, &b));
    b = mkaddr("2001:db8::1:0");
    assert_false(addr_eq(&a, &b));

    memset(&any1, 0, sizeof(any1));
    memset(&any2, 0x55, sizeof(any2));
    any2.af = 0;
    assert_true(addr_eq(&any1, &any2));
    assert_false(addr_eq(&any1, &a));
    assert_false(addr_eq(&a, &any1));
}

static void test_loopback(void **state)
{
    struct addr a;

    (void)state;
    a = mkaddr("127.0.0.1");
    assert_true(addr_is_loopback(&a));
    a = mkaddr("127.255.1.2");
    assert_true(addr_is_loopback(&a));
    a = mkaddr("::1");
    assert_true(addr_is_loopback(&a));
    a = mkaddr("192.0.2.1");
    assert_false(addr_is_loopback(&a));
    a = mkaddr("128.0.0.1");
    assert_false(addr_is_loopback(&a));
    a = mkaddr("2001:db8::1");
    assert_false(addr_is_loopback(&a));
    a = mkaddr("::");
    assert_false(addr_is_loopback(&a));
    memset(&a, 0, sizeof(a));
    assert_false(addr_is_loopback(&a));
}

static void test_prefix(void **state)
{
    struct addr a, n;

    (void)state;
    a = mkaddr("192.0.2.77");
    n = mkaddr("192.0.2.0");
    assert_true(addr_in_prefix(&a, &n, 24));
    assert_true(addr_in_prefix(&a, &n, 25));
    assert_false(addr_in_prefix(&a, &n, 26)); /* 77 = 0b01001101 */
    assert_true(addr_in_prefix(&a, &n, 0));
    assert_false(addr_in_prefix(&a, &n, 32));
    assert_true(addr_in_prefix(&a, &a, 32));
    assert_false(addr_in_prefix(&a, &a, 33));
    n = mkaddr("198.51.100.0");
    assert_false(addr_in_prefix(&a, &n, 24));
    assert_true(addr_in_prefix(&a, &n, 0));
    n = mkaddr("2001:db8::");
    assert_false(addr_in_prefix(&a, &n, 0)); /* family mismatch */

    a = mkaddr("2001:db8:1::5");
    assert_true(addr_in_prefix(&a, &n, 32));
    assert_true(addr_in_prefix(&a, &n, 47));
    assert_false(addr_in_prefix(&a, &n, 48));
    n = mkaddr("2001:db8:1::4");
    assert_true(addr_in_prefix(&a, &n, 127));
    assert_false(addr_in_prefix(&a, &n, 128));
    assert_true(addr_in_prefix(&a, &a, 128));
    assert_false(addr_in_prefix(&a, &a, 129));
    memset(&n, 0, sizeof(n));
    assert_false(addr_in_prefix(&n, &n, 0));
}

static void test_sockaddr(void **state)
{
    struct sockaddr_storage ss;
    struct addr a, b;
    uint16_t port = 0;

    (void)state;
    a = mkaddr("203.0.113.5");
    assert_int_equal(addr_to_sockaddr(&a, 4321, &ss), sizeof(struct sockaddr_in));
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 4321);
    assert_true(addr_from_sockaddr(&b, &port, &ss));
    assert_true(addr_eq(&a, &b));
    assert_int_equal(port, 4321);

    a = mkaddr("2001:db8::abcd");
    assert_int_equal(addr_to_sockaddr(&a, 80, &ss), sizeof(struct sockaddr_in6));
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_true(addr_from_sockaddr(&b, &port, &ss));
    assert_true(addr_eq(&a, &b));
    assert_int_equal(port, 80);
    assert_true(addr_from_sockaddr(&b, NULL, &ss));

    memset(&a, 0, sizeof(a));
    assert_int_equal(addr_to_sockaddr(&a, 80, &ss), 0);
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    assert_false(addr_from_sockaddr(&b, &port, &ss));
}

static struct tuple mk_tuple(const char *s, uint16_t sp, const char *d, uint16_t dp)
{
    struct tuple t;

    memset(&t, 0, sizeof(t));
    t.src = mkaddr(s);
    t.dst = mkaddr(d);
    t.sport = sp;
    t.dport = dp;
    return t;
}

static void test_tuple_hash(void **state)
{
    struct tuple a, b;
    uint64_t seed = 0x0123456789abcdefULL;

    (void)state;
    a = mk_tuple("192.0.2.1", 40000, "198.51.100.2", 80);
    /* b: same values over different garbage in every byte that carries none. */
    memset(&b, 0xa5, sizeof(b));
    b.src.af = AF_INET;
    memcpy(b.src.u.b, a.src.u.b, 4);
    b.dst.af = AF_INET;
    memcpy(b.dst.u.b, a.dst.u.b, 4);
    b.sport = 40000;
    b.dport = 80;
    assert_true(tuple_eq(&a, &b));
    assert_true(tuple_hash(&a, seed) == tuple_hash(&b, seed));

    b = a;
    b.sport = 40001;
    assert_false(tuple_eq(&a, &b));
    assert_true(tuple_hash(&a, seed) != tuple_hash(&b, seed));
    b = a;
    b.dport = 81;
    assert_true(tuple_hash(&a, seed) != tuple_hash(&b, seed));
    /* Swapped ports are a different tuple. */
    b = a;
    b.sport = 80;
    b.dport = 40000;
    assert_true(tuple_hash(&a, seed) != tuple_hash(&b, seed));
    b = a;
    b.dst = mkaddr("198.51.100.3");
    assert_true(tuple_hash(&a, seed) != tuple_hash(&b, seed));

    /* The seed changes the hash; the same seed always gives the same value. */
    assert_true(tuple_hash(&a, seed) != tuple_hash(&a, seed + 1));
    assert_true(tuple_hash(&a, seed) != tuple_hash(&a, seed ^ (1ULL << 63)));
    assert_true(tuple_hash(&a, seed) == tuple_hash(&a, seed));

    a = mk_tuple("2001:db8::1", 1, "2001:db8::2", 2);
    b = mk_tuple("2001:db8::1", 1, "2001:db8::2", 2);
    assert_true(tuple_eq(&a, &b));
    assert_true(tuple_hash(&a, 0) == tuple_hash(&b, 0));
    b = mk_tuple("2001:db8::1", 1, "2001:db8::3", 2);
    assert_false(tuple_eq(&a, &b));
    assert_true(tuple_hash(&a, 0) != tuple_hash(&b, 0));
}

static void test_hash_bytes(void **state)
{
    const char msg[] = "the quick brown fox";
    uint64_t h[sizeof(msg)];

    (void)state;
    assert_true(hash_bytes(msg, sizeof(msg), 1) == hash_bytes(msg, sizeof(msg), 1));
    assert_true(hash_bytes(msg, sizeof(msg), 1) != hash_bytes(msg, sizeof(msg), 2));
    /* Every prefix length (each tail size 0..7 of the final block) differs. */
    for (size_t i = 0; i < sizeof(msg); i++) {
        h[i] = hash_bytes(msg, i, 42);
        for (size_t j = 0; j < i; j++)
            assert_true(h[i] != h[j]);
    }
    assert_true(hash_bytes(NULL, 0, 0) == hash_bytes("", 0, 0));

    uint64_t s1 = hash_seed_random(), s2 = hash_seed_random();
    assert_true(s1 != s2); /* 2^-64 chance of a false failure */
}

static void test_tuple_reverse(void **state)
{
    struct tuple a, r, rr;

    (void)state;
    a = mk_tuple("192.0.2.1", 40000, "198.51.100.2", 80);
    tuple_reverse(&r, &a);
    assert_true(addr_eq(&r.src, &a.dst));
    assert_true(addr_eq(&r.dst, &a.src));
    assert_int_equal(r.sport, 80);
    assert_int_equal(r.dport, 40000);
    assert_false(tuple_eq(&r, &a));
    tuple_reverse(&rr, &r);
    assert_true(tuple_eq(&rr, &a));
    /* In place. */
    rr = a;
    tuple_reverse(&rr, &rr);
    assert_true(tuple_eq(&rr, &r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_str),
        cmocka_unit_test(test_port_str),
        cmocka_unit_test(test_eq),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_tuple_hash),
        cmocka_unit_test(test_hash_bytes),
        cmocka_unit_test(test_tuple_reverse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
