/*
 * test_transfer: the -x, -c and -s grammars (good forms, every kind of bad one
 * and the message that names it), rule matching, the client map (ranges,
 * target exclusion, a deterministic pick) and parse_uint's edge cases.
 * Only documentation addresses (RFC 5737, RFC 3849) appear here.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "transfer.h"

static struct addr A(const char *s) {
    struct addr a;
    assert_true(addr_parse(&a, s));
    return a;
}

static void
assert_addr(const struct addr *a, const char *s)
{
    char buf[ADDR_STRLEN];
    addr_str(a, buf, sizeof(buf));
    assert_string_equal(buf, s);
}

/* --- -x --- */

static void test_xfer_port_only(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256] = "";

    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080", err, sizeof(err)), 0);
    assert_int_equal(m.n, 1);
    assert_true(addr_is_any(&m.rules[0].online));
    assert_int_equal(m.rules[0].online_port, 80);
    assert_addr(&m.rules[0].target, "192.0.2.20");
    assert_int_equal(m.rules[0].target_port, 8080);
    assert_false(m.rules[0].has_online_mac);
    assert_false(m.rules[0].has_target_mac);
}

static void test_xfer_list(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256] = "";

    assert_int_equal(xfer_parse(&m,
                                "192.0.2.10:80-192.0.2.20:8080,443-198.51.100.7:8443,"
                                "192.0.2.11:80-192.0.2.21:1,65535-203.0.113.1:65535",
                                err, sizeof(err)),
                     0);
    assert_int_equal(m.n, 4);
    assert_addr(&m.rules[0].online, "192.0.2.10");
    assert_int_equal(m.rules[0].online_port, 80);
    assert_int_equal(m.rules[1].online_port, 443);
    assert_addr(&m.rules[1].target, "198.51.100.7");
    assert_int_equal(m.rules[1].target_port, 8443);
    assert_addr(&m.rules[2].online, "192.0.2.11");
    assert_int_equal(m.rules[2].target_port, 1);
    assert_int_equal(m.rules[3].online_port, 65535);
    assert_int_equal(m.rules[3].target_port, 65535);

    uint16_t ports[8];
    assert_int_equal(xfer_ports_af(&m, 0, ports, 8), 3);
    assert_int_equal(ports[0], 80);
    assert_int_equal(ports[1], 443);
    assert_int_equal(ports[2], 65535);
    assert_int_equal(xfer_ports_af(&m, 0, ports, 2), 2);
}

static void test_xfer_v6(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256] = "";

    assert_int_equal(xfer_parse(&m, "[2001:db8:1::10]:80-[2001:db8:1::20]:8080", err, sizeof(err)),
                     0);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.rules[0].online.af, AF_INET6);
    assert_addr(&m.rules[0].online, "2001:db8:1::10");
    assert_addr(&m.rules[0].target, "2001:db8:1::20");
    assert_int_equal(m.rules[0].online_port, 80);
    assert_int_equal(m.rules[0].target_port, 8080);

    assert_int_equal(xfer_parse(&m, "80-[2001:db8::20]:8080,443-192.0.2.20:443", err, sizeof(err)),
                     0);
    assert_int_equal(m.n, 2);
    assert_true(addr_is_any(&m.rules[0].online));
    assert_int_equal(m.rules[0].target.af, AF_INET6);
}

static void test_xfer_macs(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256] = "";
    const uint8_t on[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    const uint8_t tg[6] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};

    assert_int_equal(xfer_parse(&m,
                                "192.0.2.10:80@aa:bb:cc:dd:ee:ff-192.0.2.20:8080@11:22:33:44:55:66",
                                err, sizeof(err)),
                     0);
    assert_true(m.rules[0].has_online_mac);
    assert_true(m.rules[0].has_target_mac);
    assert_memory_equal(m.rules[0].online_mac, on, 6);
    assert_memory_equal(m.rules[0].target_mac, tg, 6);
    assert_int_equal(m.rules[0].target_port, 8080);

    /* Either side alone, upper case, port-only online side, IPv6. */
    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080@11:22:33:44:55:66", err, sizeof(err)), 0);
    assert_false(m.rules[0].has_online_mac);
    assert_true(m.rules[0].has_target_mac);
    assert_int_equal(xfer_parse(&m, "80@AA:BB:CC:DD:EE:FF-192.0.2.20:8080", err, sizeof(err)), 0);
    assert_true(m.rules[0].has_online_mac);
    assert_false(m.rules[0].has_target_mac);
    assert_memory_equal(m.rules[0].online_mac, on, 6);
    assert_int_equal(
        xfer_parse(&m, "[2001:db8::10]:80@aa:bb:cc:dd:ee:ff-[2001:db8::20]:80@11:22:33:44:55:66",
                   err, sizeof(err)),
        0);
    assert_memory_equal(m.rules[0].target_mac, tg, 6);
}

struct bad {
    const char *spec;
    const char *msg; /* the whole expected message */
};

static void check_bad_x(const struct bad *b, size_t n)
{
    struct xfer_map m;
    char err[256];

    for (size_t i = 0; i < n; i++) {
        memset(err, 0, sizeof(err));
        m.n = 99;
        if (xfer_parse(&m, b[i].spec, err, sizeof(err)) != -EINVAL)
            fail_msg("accepted -x '%s'", b[i].spec);
        assert_int_equal(m.n, 0);
        if (strcmp(err, b[i].msg) != 0)
            fail_msg("-x '%s': got \"%s\", want \"%s\"", b[i].spec, err, b[i].msg);
    }
}

static void test_xfer_bad(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        {"", "-x: empty transfer list"},
        {"80-192.0.2.20", "-x '80-192.0.2.20': missing target port"},
        {"80-192.0.2.20:", "-x '80-192.0.2.20:': missing target port"},
        {"80-8080", "-x '80-8080': missing target address"},
        {"80-:8080", "-x '80-:8080': missing target address before ':'"},
        {"80-", "-x '80-': missing target address and port"},
        {"-192.0.2.20:8080", "-x '-192.0.2.20:8080': missing online port"},
        {"80", "-x '80': missing '-' between online port and target"},
        {"80-192.0.2.20:8080-1", "-x '80-192.0.2.20:8080-1': more than one '-'"},
        {"80-192.0.2.999:8080", "-x '80-192.0.2.999:8080': bad target address '192.0.2.999'"},
        {"192.0.2.300:80-192.0.2.20:8080",
         "-x '192.0.2.300:80-192.0.2.20:8080': bad online address '192.0.2.300'"},
        {"0-192.0.2.20:8080", "-x '0-192.0.2.20:8080': bad online port '0'"},
        {"80-192.0.2.20:0", "-x '80-192.0.2.20:0': bad target port '0'"},
        {"65536-192.0.2.20:80", "-x '65536-192.0.2.20:80': bad online port '65536'"},
        {"80-192.0.2.20:65536", "-x '80-192.0.2.20:65536': bad target port '65536'"},
        {"abc-192.0.2.20:80", "-x 'abc-192.0.2.20:80': bad online port 'abc'"},
        {"80-192.0.2.20:abc", "-x '80-192.0.2.20:abc': bad target port 'abc'"},
        {"+80-192.0.2.20:80", "-x '+80-192.0.2.20:80': bad online port '+80'"},
        {"80-192.0.2.20:8080,", "-x: empty rule (stray comma?)"},
        {",80-192.0.2.20:8080", "-x: empty rule (stray comma?)"},
        {"80-192.0.2.20:8080,,81-192.0.2.20:81", "-x: empty rule (stray comma?)"},
        {"80-192.0.2.20:8080, 81-192.0.2.20:81", "-x ' 81-192.0.2.20:81': whitespace not allowed"},
        {"80 -192.0.2.20:8080", "-x '80 -192.0.2.20:8080': whitespace not allowed"},
        {"80-192.0.2.20:8080\n", "-x '80-192.0.2.20:8080?': whitespace not allowed"},
        {"80-192.0.2.20:80\x01", "-x '80-192.0.2.20:80?': bad target port '80?'"},
        {"80-192.0.2.20:8080,81-192.0.2.20:81,80-198.51.100.1:80",
         "-x '80-198.51.100.1:80': online side repeats rule 1"},
        {"192.0.2.10:80-192.0.2.20:8080,192.0.2.10:80-192.0.2.21:8080",
         "-x '192.0.2.10:80-192.0.2.21:8080': online side repeats rule 1"},
        {"80-2001:db8::20:8080",
         "-x '80-2001:db8::20:8080': target IPv6 address needs brackets, '[2001:db8::20]:8080'"},
        {"80-[2001:db8::20]", "-x '80-[2001:db8::20]': missing target port"},
        {"80-[2001:db8::20:8080", "-x '80-[2001:db8::20:8080': missing ']' after target address"},
        {"80-[2001:db8::20]8080",
         "-x '80-[2001:db8::20]8080': expected ':' after target address '[2001:db8::20]'"},
        {"80-[192.0.2.20]:8080", "-x '80-[192.0.2.20]:8080': bad target address '[192.0.2.20]'"},
        {"80-[2001:db8::zz]:8080",
         "-x '80-[2001:db8::zz]:8080': bad target address '[2001:db8::zz]'"},
        {"[2001:db8::10]:80-192.0.2.20:8080",
         "-x '[2001:db8::10]:80-192.0.2.20:8080': online and target addresses are of different "
         "families"},
        {"80-192.0.2.20:8080@aa:bb:cc:dd:ee",
         "-x '80-192.0.2.20:8080@aa:bb:cc:dd:ee': bad target MAC 'aa:bb:cc:dd:ee'"},
        {"80@aa:bb:cc:dd:ee:fg-192.0.2.20:8080",
         "-x '80@aa:bb:cc:dd:ee:fg-192.0.2.20:8080': bad online MAC 'aa:bb:cc:dd:ee:fg'"},
        {"80-192.0.2.20:8080@aa:bb:cc:dd:ee:ff:00",
         "-x '80-192.0.2.20:8080@aa:bb:cc:dd:ee:ff:00': bad target MAC 'aa:bb:cc:dd:ee:ff:00'"},
        {"80-192.0.2.20:8080@", "-x '80-192.0.2.20:8080@': bad target MAC ''"},
        {"80-192.0.2.20:8080@a:b:c:d:e:f",
         "-x '80-192.0.2.20:8080@a:b:c:d:e:f': bad target MAC 'a:b:c:d:e:f'"},
        {"80-192.0.2.20@11:22:33:44:55:66",
         "-x '80-192.0.2.20@11:22:33:44:55:66': missing target port"},
        {"80-example.com:80", "-x '80-example.com:80': bad target address 'example.com'"},
    };
    check_bad_x(bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_xfer_too_many(void **state)
{
    (void)state;
    struct xfer_map m;
    char spec[XFER_RULES_MAX * 32], err[256];
    size_t off = 0;

    for (int i = 0; i < XFER_RULES_MAX; i++)
        off += (size_t)snprintf(spec + off, sizeof(spec) - off, "%s%d-192.0.2.20:%d", i ? "," : "",
                                1000 + i, 2000 + i);
    assert_int_equal(xfer_parse(&m, spec, err, sizeof(err)), 0);
    assert_int_equal(m.n, XFER_RULES_MAX);
    snprintf(spec + off, sizeof(spec) - off, ",9999-192.0.2.20:1");
    assert_int_equal(xfer_parse(&m, spec, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-x: more than 64 rules");
    assert_int_equal(m.n, 0);
}

static void test_xfer_long_rule_and_small_err(void **state)
{
    (void)state;
    struct xfer_map m;
    char spec[600], err[16];

    memset(spec, '1', sizeof(spec) - 1);
    spec[sizeof(spec) - 1] = '\0';
    char big[256];
    assert_int_equal(xfer_parse(&m, spec, big, sizeof(big)), -EINVAL);
    assert_non_null(strstr(big, "rule too long"));
    /* A short buffer is truncated, never overrun; NULL is allowed. */
    memset(err, 'Z', sizeof(err));
    assert_int_equal(xfer_parse(&m, "80-192.0.2.999:1", err, sizeof(err)), -EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(xfer_parse(&m, "80-192.0.2.999:1", NULL, 0), -EINVAL);
}

static void test_xfer_match(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256];
    struct addr d10 = A("192.0.2.10"), d11 = A("192.0.2.11"), d6 = A("2001:db8::10");

    assert_int_equal(xfer_parse(&m,
                                "192.0.2.10:80-192.0.2.20:8080,80-192.0.2.30:8080,"
                                "443-198.51.100.7:443,[2001:db8::10]:8000-[2001:db8::20]:8000",
                                err, sizeof(err)),
                     0);
    const struct xfer_rule *r = xfer_match(&m, &d10, 80);
    assert_ptr_equal(r, &m.rules[0]); /* the specific rule comes first */
    r = xfer_match(&m, &d11, 80);
    assert_ptr_equal(r, &m.rules[1]); /* any-address rule */
    assert_addr(&r->target, "192.0.2.30");
    /* The any-address rule has an IPv4 target: an IPv6 packet is not its. */
    assert_null(xfer_match(&m, &d6, 80));
    assert_ptr_equal(xfer_match(&m, &d11, 443), &m.rules[2]);
    assert_ptr_equal(xfer_match(&m, &d6, 8000), &m.rules[3]);
    assert_null(xfer_match(&m, &d10, 8000));
    assert_null(xfer_match(&m, &d10, 81));
    assert_null(xfer_match(&m, &d10, 0));

    /* Without the any-address rule, another address on port 80 does not match. */
    assert_int_equal(xfer_parse(&m, "192.0.2.10:80-192.0.2.20:8080", err, sizeof(err)), 0);
    assert_non_null(xfer_match(&m, &d10, 80));
    assert_null(xfer_match(&m, &d11, 80));

    struct xfer_map empty = {.n = 0};
    assert_null(xfer_match(&empty, &d10, 80));
}

/* A rule belongs to its target's family: the user's mixed list, where the IPv4
 * any-address rule once took (and lost) every IPv6 packet to port 80. */
static void test_xfer_match_family(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256];
    struct addr v4 = A("192.0.2.10"), on6 = A("2001:db8:1::10"), other6 = A("2001:db8:1::11");

    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080,[2001:db8:1::10]:80-[2001:db8:1::20]:8080",
                                err, sizeof(err)),
                     0);
    assert_ptr_equal(xfer_match(&m, &v4, 80), &m.rules[0]);
    assert_ptr_equal(xfer_match(&m, &on6, 80), &m.rules[1]);
    assert_null(xfer_match(&m, &other6, 80));
    assert_null(xfer_shadowed_by(&m, 1));

    /* Two any-address rules on one port, one per family, are distinct rules. */
    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080,80-[2001:db8:1::20]:8080", err, sizeof(err)),
                     0);
    assert_ptr_equal(xfer_match(&m, &v4, 80), &m.rules[0]);
    assert_ptr_equal(xfer_match(&m, &other6, 80), &m.rules[1]);
    /* Of one family they still repeat each other. */
    assert_int_equal(xfer_parse(&m, "80-[2001:db8:1::20]:8080,80-[2001:db8:1::21]:80", err,
                                sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "-x '80-[2001:db8:1::21]:80': online side repeats rule 1");

    uint16_t ports[8];
    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080,81-192.0.2.20:81,[2001:db8::10]:443-"
                                    "[2001:db8::20]:443,80-[2001:db8::20]:8080",
                                err, sizeof(err)),
                     0);
    assert_int_equal(xfer_ports_af(&m, AF_INET, ports, 8), 2);
    assert_int_equal(ports[1], 81);
    assert_int_equal(xfer_ports_af(&m, AF_INET6, ports, 8), 2);
    assert_int_equal(ports[0], 443);
    assert_int_equal(ports[1], 80);
    assert_int_equal(xfer_ports_af(&m, 0, ports, 8), 3);
}

static void test_xfer_shadowed_and_str(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256], buf[128];

    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080,192.0.2.10:80-192.0.2.21:8080,"
                                    "[2001:db8::10]:80-[2001:db8::20]:80",
                                err, sizeof(err)),
                     0);
    assert_null(xfer_shadowed_by(&m, 0));
    assert_ptr_equal(xfer_shadowed_by(&m, 1), &m.rules[0]);
    assert_null(xfer_shadowed_by(&m, 2));
    assert_string_equal(xfer_rule_str(&m.rules[0], buf, sizeof(buf)), "80-192.0.2.20:8080");
    assert_string_equal(xfer_rule_str(&m.rules[1], buf, sizeof(buf)),
                        "192.0.2.10:80-192.0.2.21:8080");
    assert_string_equal(xfer_rule_str(&m.rules[2], buf, sizeof(buf)),
                        "[2001:db8::10]:80-[2001:db8::20]:80");
    /* Truncated, never overrun. */
    memset(buf, 'Z', sizeof(buf));
    xfer_rule_str(&m.rules[2], buf, 8);
    assert_string_equal(buf, "[2001:d");
}

static void test_xfer_rule_is_local(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[256];
    struct addr local[] = {A("127.0.0.1"), A("192.0.2.10"), A("::1")};
    struct addr only4[] = {A("192.0.2.10")};

    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080,192.0.2.10:81-192.0.2.20:81,"
                                    "192.0.2.11:82-192.0.2.20:82,[2001:db8:1::10]:80-"
                                    "[2001:db8:1::20]:8080,81-[2001:db8:1::20]:81",
                                err, sizeof(err)),
                     0);
    assert_true(xfer_rule_is_local(&m.rules[0], local, 3));
    assert_true(xfer_rule_is_local(&m.rules[1], local, 3));
    assert_false(xfer_rule_is_local(&m.rules[2], local, 3));
    assert_false(xfer_rule_is_local(&m.rules[3], local, 3));
    assert_true(xfer_rule_is_local(&m.rules[4], local, 3));  /* ::1 is IPv6 */
    assert_false(xfer_rule_is_local(&m.rules[4], only4, 1)); /* no IPv6 address at all */
    assert_false(xfer_rule_is_local(&m.rules[0], NULL, 0));
}

/* --- -c --- */

static void test_cmap_single_and_list(void **state)
{
    (void)state;
    static struct client_map c;
    char err[256];

    assert_int_equal(cmap_parse(&c, "203.0.113.5", err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);
    assert_addr(&c.addrs[0], "203.0.113.5");

    assert_int_equal(cmap_parse(&c, "203.0.113.5,198.51.100.9,2001:db8::99", err, sizeof(err)), 0);
    assert_int_equal(c.n, 3);
    assert_addr(&c.addrs[1], "198.51.100.9");
    assert_addr(&c.addrs[2], "2001:db8::99");
}

static void test_cmap_range(void **state)
{
    (void)state;
    static struct client_map c;
    char err[256];
    struct addr net0 = A("203.0.113.0"), bcast = A("203.0.113.255");

    assert_int_equal(cmap_parse(&c, "203.0.113.x", err, sizeof(err)), 0);
    assert_int_equal(c.n, 254);
    assert_addr(&c.addrs[0], "203.0.113.1");
    assert_addr(&c.addrs[253], "203.0.113.254");
    for (size_t i = 0; i < c.n; i++) {
        assert_false(addr_eq(&c.addrs[i], &net0));
        assert_false(addr_eq(&c.addrs[i], &bcast));
    }
    assert_int_equal(cmap_parse(&c, "198.51.100.7,203.0.113.x,192.0.2.X", err, sizeof(err)), 0);
    assert_int_equal(c.n, 1 + 254 + 254);
    assert_addr(&c.addrs[255], "192.0.2.1");
}

static void test_cmap_bad(void **state)
{
    (void)state;
    static struct client_map c;
    static const struct bad bad[] = {
        {"", "-c: empty address list"},
        {"203.0.113.y", "-c '203.0.113.y': bad client address"},
        {"203.0.113.x.1", "-c '203.0.113.x.1': bad client address"},
        {"203.0.x", "-c '203.0.x': bad address range (want a.b.c.x)"},
        {"203.0.113.256.x", "-c '203.0.113.256.x': bad address range (want a.b.c.x)"},
        {"203.0.300.x", "-c '203.0.300.x': bad address range (want a.b.c.x)"},
        {".x", "-c '.x': bad address range (want a.b.c.x)"},
        {"x", "-c 'x': bad client address"},
        {"203.0.113.5,", "-c: empty item (stray comma?)"},
        {"203.0.113.5,,203.0.113.6", "-c: empty item (stray comma?)"},
        {"203.0.113.5, 203.0.113.6", "-c ' 203.0.113.6': bad client address"},
        {"0.0.0.0", "-c '0.0.0.0': unspecified address"},
        {"::", "-c '::': unspecified address"},
        {"[2001:db8::1]", "-c '[2001:db8::1]': bad client address"},
        {"203.0.113.5:80", "-c '203.0.113.5:80': bad client address"},
        {"::x", "-c '::x': bad address range (want PREFIX::x, e.g. 2001:db8:3::x)"},
        {"2001:db8:3:x", "-c '2001:db8:3:x': bad address range (want PREFIX::x, e.g. 2001:db8:3::x)"},
        {"2001:db8::3::x",
         "-c '2001:db8::3::x': bad address range (want PREFIX::x, e.g. 2001:db8:3::x)"},
        {"1:2:3:4:5:6:7:8:x",
         "-c '1:2:3:4:5:6:7:8:x': bad address range (want PREFIX::x, e.g. 2001:db8:3::x)"},
        {":x", "-c ':x': bad address range (want PREFIX::x, e.g. 2001:db8:3::x)"},
        {"2001:db8:3::xx", "-c '2001:db8:3::xx': bad client address"},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.n = 99;
        if (cmap_parse(&c, bad[i].spec, err, sizeof(err)) != -EINVAL)
            fail_msg("accepted -c '%s'", bad[i].spec);
        assert_int_equal(c.n, 0);
        if (strcmp(err, bad[i].msg) != 0)
            fail_msg("-c '%s': got \"%s\", want \"%s\"", bad[i].spec, err, bad[i].msg);
    }
}

static void test_cmap_too_many(void **state)
{
    (void)state;
    static struct client_map c;
    static char spec[65536];
    char err[256];
    size_t off = 0;

    /* 16 ranges = 4064 addresses; 32 more singles reach 4096 exactly. */
    /* Repeats are allowed (they weight the pick), which keeps this within the
     * documentation ranges. */
    static const char *const nets[3] = {"192.0.2", "198.51.100", "203.0.113"};
    for (int i = 0; i < 16; i++)
        off +=
            (size_t)snprintf(spec + off, sizeof(spec) - off, "%s%s.x", i ? "," : "", nets[i % 3]);
    for (int i = 1; i <= 32; i++)
        off += (size_t)snprintf(spec + off, sizeof(spec) - off, ",203.0.113.%d", i);
    assert_int_equal(cmap_parse(&c, spec, err, sizeof(err)), 0);
    assert_int_equal(c.n, CMAP_MAX);
    snprintf(spec + off, sizeof(spec) - off, ",203.0.113.200");
    assert_int_equal(cmap_parse(&c, spec, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-c '203.0.113.200': more than 4096 addresses in all");
    /* A range that would overflow is refused as a whole. */
    snprintf(spec + off, sizeof(spec) - off, ",192.0.2.x");
    assert_int_equal(cmap_parse(&c, spec, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-c '192.0.2.x': more than 4096 addresses in all");
}

static void test_cmap_exclude_targets(void **state)
{
    (void)state;
    static struct client_map c;
    struct xfer_map m;
    char err[256];
    struct addr t1 = A("203.0.113.20"), t2 = A("203.0.113.30");

    assert_int_equal(
        xfer_parse(&m, "80-203.0.113.20:8080,81-203.0.113.30:81,82-192.0.2.1:82", err, sizeof(err)),
        0);
    assert_int_equal(cmap_parse(&c, "203.0.113.x", err, sizeof(err)), 0);
    assert_int_equal(cmap_exclude_targets(&c, &m), 2);
    assert_int_equal(c.n, 252);
    for (size_t i = 0; i < c.n; i++) {
        assert_false(addr_eq(&c.addrs[i], &t1));
        assert_false(addr_eq(&c.addrs[i], &t2));
    }
    /* Order is kept. */
    assert_addr(&c.addrs[18], "203.0.113.19");
    assert_addr(&c.addrs[19], "203.0.113.21");
    assert_int_equal(cmap_exclude_targets(&c, &m), 0);

    assert_int_equal(cmap_parse(&c, "203.0.113.20", err, sizeof(err)), 0);
    assert_int_equal(cmap_exclude_targets(&c, &m), 1);
    assert_int_equal(c.n, 0);
}

static void test_cmap_pick(void **state)
{
    (void)state;
    static struct client_map c;
    char err[256];
    struct addr cl1 = A("192.0.2.50"), cl2 = A("192.0.2.51"), cl6 = A("2001:db8::50");
    int hits[254] = {0};

    assert_int_equal(cmap_parse(&c, "203.0.113.x", err, sizeof(err)), 0);
    const struct addr *p1 = cmap_pick_copy(&c, &cl1, 0);
    assert_non_null(p1);
    assert_ptr_equal(cmap_pick_copy(&c, &cl1, 0), p1); /* same client, same fake client */

    /* Spread: 768 clients over 254 addresses hit most of them (~95% expected). */
    static const uint8_t nets[3][3] = {{192, 0, 2}, {198, 51, 100}, {203, 0, 113}};
    for (int i = 0; i < 768; i++) {
        uint8_t b[4] = {nets[i / 256][0], nets[i / 256][1], nets[i / 256][2], (uint8_t)i};
        struct addr x;
        addr_set_v4(&x, b);
        const struct addr *p = cmap_pick_copy(&c, &x, 0);
        assert_non_null(p);
        hits[p->u.b[3] - 1]++;
    }
    int used = 0;
    for (int i = 0; i < 254; i++)
        used += hits[i] > 0;
    assert_true(used > 200);

    /* Fixed seed: the mapping is the same in every run (golden values). */
    char b1[ADDR_STRLEN], b2[ADDR_STRLEN];
    addr_str(cmap_pick_copy(&c, &cl1, 0), b1, sizeof(b1));
    addr_str(cmap_pick_copy(&c, &cl2, 0), b2, sizeof(b2));
    struct addr again;
    assert_true(addr_parse(&again, b1));
    assert_true(addr_eq(cmap_pick_copy(&c, &cl1, 0), &again));
    /* Pinned: these change only if hash_bytes() or CMAP_SEED changes, which
     * would remap every client of every deployment. Do so deliberately. */
    assert_string_equal(b1, "203.0.113.164");
    assert_string_equal(b2, "203.0.113.162");

    /* A one-family map keeps clients of the other family. */
    assert_null(cmap_pick_copy(&c, &cl6, 0));
    /* Mixed: each family maps within itself. */
    assert_int_equal(
        cmap_parse(&c, "203.0.113.1,2001:db8::1,203.0.113.2,2001:db8::2", err, sizeof(err)), 0);
    for (int i = 0; i < 64; i++) {
        uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = (uint8_t)i};
        uint8_t b4[4] = {192, 0, 2, (uint8_t)i};
        struct addr x6, x4;
        addr_set_v6(&x6, b6);
        addr_set_v4(&x4, b4);
        assert_int_equal(cmap_pick_copy(&c, &x6, 0)->af, AF_INET6);
        assert_int_equal(cmap_pick_copy(&c, &x4, 0)->af, AF_INET);
    }

    static struct client_map empty;
    empty.n = 0;
    assert_null(cmap_pick_copy(&empty, &cl1, 0));
}

static void test_cmap_pick_copies_spread(void **state)
{
    struct client_map c;
    char err[128];
    assert_int_equal(cmap_parse(&c, "203.0.113.x", err, sizeof(err)), 0);
    struct addr cl;
    assert_true(addr_parse(&cl, "198.51.100.10"));
    /* Copy 0 is the client's usual fake address; 50 copies use 50 addresses. */
    assert_ptr_equal(cmap_pick_copy(&c, &cl, 0), cmap_pick_copy(&c, &cl, 0));
    const struct addr *seen[50];
    for (uint32_t k = 0; k < 50; k++) {
        seen[k] = cmap_pick_copy(&c, &cl, k);
        assert_non_null(seen[k]);
        assert_ptr_equal(cmap_pick_copy(&c, &cl, k), seen[k]); /* deterministic */
        for (uint32_t j = 0; j < k; j++)
            assert_ptr_not_equal(seen[j], seen[k]);
    }
    /* A pool of one: every copy shares it (the ports then tell copies apart). */
    assert_int_equal(cmap_parse(&c, "203.0.113.7", err, sizeof(err)), 0);
    assert_ptr_equal(cmap_pick_copy(&c, &cl, 3), &c.addrs[0]);
}

static void test_cmap_pick_golden(void **state)
{
    (void)state;
    static struct client_map c1, c2;
    char err[256];
    struct addr cl = A("192.0.2.77");

    /* Two separately parsed maps (as in two runs) agree for every client. */
    assert_int_equal(cmap_parse(&c1, "203.0.113.x", err, sizeof(err)), 0);
    assert_int_equal(cmap_parse(&c2, "203.0.113.x", err, sizeof(err)), 0);
    for (int i = 0; i < 256; i++) {
        cl.u.b[3] = (uint8_t)i;
        assert_true(addr_eq(cmap_pick_copy(&c1, &cl, 0), cmap_pick_copy(&c2, &cl, 0)));
    }
}

static void test_cmap_range_v6(void **state)
{
    (void)state;
    static struct client_map c;
    char err[256];

    assert_int_equal(cmap_parse(&c, "2001:db8:3::x", err, sizeof(err)), 0);
    assert_int_equal(c.n, 254);
    assert_addr(&c.addrs[0], "2001:db8:3::1");
    assert_addr(&c.addrs[253], "2001:db8:3::fe");
    assert_int_equal(cmap_parse(&c, "203.0.113.x,2001:DB8:3:0:0:0:7:X,2001:db8::9", err,
                                sizeof(err)),
                     0);
    assert_int_equal(c.n, 254 + 254 + 1);
    assert_addr(&c.addrs[254], "2001:db8:3::7:1");
    assert_addr(&c.addrs[507], "2001:db8:3::7:fe");
    assert_int_equal(c.addrs[508].af, AF_INET6);
}

/* -c must give each rule's family addresses of its own: the -c of a v4-only setup
 * with a v6 rule added (and the reverse) is refused, naming the rule. */
static void test_cmap_check_families(void **state)
{
    (void)state;
    static struct client_map c;
    struct xfer_map m;
    char err[256];

    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080,[2001:db8:1::10]:80-[2001:db8:1::20]:8080",
                                err, sizeof(err)),
                     0);
    assert_int_equal(cmap_parse(&c, "203.0.113.x", err, sizeof(err)), 0);
    assert_int_equal(cmap_check_families(&c, &m, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-x rule 2 '[2001:db8:1::10]:80-[2001:db8:1::20]:8080' has an IPv6 "
                             "target but -c has no IPv6 address: add some (e.g. 2001:db8:3::x) "
                             "or remove the rule");
    assert_int_equal(cmap_parse(&c, "2001:db8:3::x", err, sizeof(err)), 0);
    assert_int_equal(cmap_check_families(&c, &m, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-x rule 1 '80-192.0.2.20:8080' has an IPv4 target but -c has no "
                             "IPv4 address: add some (e.g. 203.0.113.x) or remove the rule");

    /* One list with both families: each client keeps its family. */
    assert_int_equal(cmap_parse(&c, "203.0.113.x,2001:db8:3::x", err, sizeof(err)), 0);
    assert_int_equal(cmap_check_families(&c, &m, err, sizeof(err)), 0);
    struct addr cl4 = A("198.51.100.10"), cl6 = A("2001:db8:2::10");
    assert_int_equal(cmap_pick_copy(&c, &cl4, 0)->af, AF_INET);
    assert_int_equal(cmap_pick_copy(&c, &cl6, 0)->af, AF_INET6);

    /* Without -c nothing is checked: client addresses are kept. */
    c.n = 0;
    assert_int_equal(cmap_check_families(&c, &m, err, sizeof(err)), 0);
}

/* --- -s --- */

static void test_servers(void **state)
{
    (void)state;
    struct server_list l;
    char err[256];

    assert_int_equal(servers_parse(&l, "192.0.2.5", 36524, err, sizeof(err)), 0);
    assert_int_equal(l.n, 1);
    assert_addr(&l.s[0].addr, "192.0.2.5");
    assert_int_equal(l.s[0].port, 36524);

    assert_int_equal(servers_parse(&l,
                                   "192.0.2.5:4000,198.51.100.6,[2001:db8::5]:4001,"
                                   "2001:db8::6,[2001:db8::7]",
                                   36524, err, sizeof(err)),
                     0);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.s[0].port, 4000);
    assert_int_equal(l.s[1].port, 36524);
    assert_addr(&l.s[2].addr, "2001:db8::5");
    assert_int_equal(l.s[2].port, 4001);
    assert_addr(&l.s[3].addr, "2001:db8::6");
    assert_int_equal(l.s[3].port, 36524);
    assert_addr(&l.s[4].addr, "2001:db8::7");
    assert_int_equal(l.s[4].port, 36524);
}

static void test_servers_bad(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        {"", "-s: empty server list"},
        {"192.0.2.5,", "-s: empty item (stray comma?)"},
        {"192.0.2.999", "-s '192.0.2.999': bad address"},
        {"192.0.2.5:0", "-s '192.0.2.5': bad port '0'"},
        {"192.0.2.5:65536", "-s '192.0.2.5': bad port '65536'"},
        {"192.0.2.5:", "-s '192.0.2.5': bad port ''"},
        {"192.0.2.5:x", "-s '192.0.2.5': bad port 'x'"},
        {"[2001:db8::5", "-s '[2001:db8::5': missing ']'"},
        {"[2001:db8::5]4000", "-s '[2001:db8::5]4000': expected ':' after ']'"},
        {"[192.0.2.5]:4000", "-s '[192.0.2.5]': bad address"},
        {"2001:db8::5:4000:1:2:3:4:5", "-s '2001:db8::5:4000:1:2:3:4:5': bad address"},
        {"192.0.2.5, 192.0.2.6", "-s ' 192.0.2.6': bad server"},
        {"192.0.2.5,192.0.2.5:36524", "-s '192.0.2.5:36524': repeats server 1"},
        {"intercept.example", "-s 'intercept.example': bad address"},
    };
    struct server_list l;
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l.n = 99;
        if (servers_parse(&l, bad[i].spec, 36524, err, sizeof(err)) != -EINVAL)
            fail_msg("accepted -s '%s'", bad[i].spec);
        assert_int_equal(l.n, 0);
        if (strcmp(err, bad[i].msg) != 0)
            fail_msg("-s '%s': got \"%s\", want \"%s\"", bad[i].spec, err, bad[i].msg);
    }
    /* No default port: every server must name one. */
    assert_int_equal(servers_parse(&l, "192.0.2.5", 0, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-s '192.0.2.5': missing port");
}

static void test_servers_too_many(void **state)
{
    (void)state;
    struct server_list l;
    char spec[SERVERS_MAX * 24], err[256];
    size_t off = 0;

    for (int i = 1; i <= SERVERS_MAX; i++)
        off +=
            (size_t)snprintf(spec + off, sizeof(spec) - off, "%s192.0.2.%d", i > 1 ? "," : "", i);
    assert_int_equal(servers_parse(&l, spec, 36524, err, sizeof(err)), 0);
    assert_int_equal(l.n, SERVERS_MAX);
    snprintf(spec + off, sizeof(spec) - off, ",192.0.2.200");
    assert_int_equal(servers_parse(&l, spec, 36524, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "-s '192.0.2.200': more than 32 servers");
}

/* --- parse_uint --- */

static void test_parse_uint(void **state)
{
    (void)state;
    unsigned long v = 7;
    char buf[64];

    assert_true(parse_uint("0", 0, 10, &v));
    assert_int_equal(v, 0);
    assert_true(parse_uint("10", 0, 10, &v));
    assert_int_equal(v, 10);
    assert_true(parse_uint("007", 0, 10, &v));
    assert_int_equal(v, 7);
    v = 123;
    assert_false(parse_uint("11", 0, 10, &v));
    assert_int_equal(v, 123); /* untouched on failure */
    assert_false(parse_uint("0", 1, 10, &v));
    assert_false(parse_uint("", 0, 10, &v));
    assert_false(parse_uint(NULL, 0, 10, &v));
    assert_false(parse_uint("-1", 0, ULONG_MAX, &v));
    assert_false(parse_uint("+1", 0, 10, &v));
    assert_false(parse_uint(" 1", 0, 10, &v));
    assert_false(parse_uint("1 ", 0, 10, &v));
    assert_false(parse_uint("0x10", 0, 100, &v));
    assert_false(parse_uint("1e3", 0, 10000, &v));
    assert_false(parse_uint("1.5", 0, 10, &v));

    snprintf(buf, sizeof(buf), "%lu", ULONG_MAX);
    assert_true(parse_uint(buf, 0, ULONG_MAX, &v));
    assert_true(v == ULONG_MAX);
    snprintf(buf, sizeof(buf), "%lu0", ULONG_MAX);
    assert_false(parse_uint(buf, 0, ULONG_MAX, &v));
    assert_false(parse_uint("18446744073709551616", 0, ULONG_MAX, &v));
    assert_false(parse_uint("99999999999999999999999999", 0, ULONG_MAX, &v));
    assert_true(parse_uint("1023", 1, 1023, &v));
    assert_false(parse_uint("1024", 1, 1023, &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xfer_port_only),
        cmocka_unit_test(test_xfer_list),
        cmocka_unit_test(test_xfer_v6),
        cmocka_unit_test(test_xfer_macs),
        cmocka_unit_test(test_xfer_bad),
        cmocka_unit_test(test_xfer_too_many),
        cmocka_unit_test(test_xfer_long_rule_and_small_err),
        cmocka_unit_test(test_xfer_match),
        cmocka_unit_test(test_xfer_match_family),
        cmocka_unit_test(test_xfer_shadowed_and_str),
        cmocka_unit_test(test_xfer_rule_is_local),
        cmocka_unit_test(test_cmap_single_and_list),
        cmocka_unit_test(test_cmap_range),
        cmocka_unit_test(test_cmap_bad),
        cmocka_unit_test(test_cmap_too_many),
        cmocka_unit_test(test_cmap_exclude_targets),
        cmocka_unit_test(test_cmap_pick),
        cmocka_unit_test(test_cmap_pick_golden),
        cmocka_unit_test(test_cmap_pick_copies_spread),
        cmocka_unit_test(test_cmap_range_v6),
        cmocka_unit_test(test_cmap_check_families),
        cmocka_unit_test(test_servers),
        cmocka_unit_test(test_servers_bad),
        cmocka_unit_test(test_servers_too_many),
        cmocka_unit_test(test_parse_uint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
