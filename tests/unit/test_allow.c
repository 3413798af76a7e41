/*
 * test_allow: intercept's allowlist (src/intercept/allow.c): an address inside or
 * outside the configured prefixes, IPv4 and IPv6, 'any'; the defaults hold loopback
 * (both families); a refused connection reads a BYE code 5 naming the --allow that
 * would admit it, then EOF, and the refusal is counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hello.h"
#include "intercept/icpt_impl.h"

static struct addr A(const char *s)
{
    struct addr a;
    assert_true(addr_parse(&a, s));
    return a;
}

static void test_allowed(void **state)
{
    (void)state;
    struct icpt ic;
    struct icpt_cidr c[2];
    memset(&ic, 0, sizeof(ic));
    assert_true(icpt_cidr_parse(&c[0], "192.0.2.0/24"));
    assert_true(icpt_cidr_parse(&c[1], "2001:db8::/32"));
    ic.allow = c;
    ic.nallow = 2;
    struct addr in4 = A("192.0.2.77"), out4 = A("192.0.3.1"), in6 = A("2001:db8:5::1"),
                out6 = A("2001:db9::1");
    assert_true(icpt_allowed(&ic, &in4));
    assert_false(icpt_allowed(&ic, &out4));
    assert_true(icpt_allowed(&ic, &in6));
    assert_false(icpt_allowed(&ic, &out6));
    ic.allow_any = true;
    assert_true(icpt_allowed(&ic, &out4));
}

static void test_defaults_hold_loopback(void **state)
{
    (void)state;
    struct icpt ic;
    char err[256];
    memset(&ic, 0, sizeof(ic));
    assert_int_equal(icpt_allow_defaults(&ic, err, sizeof(err)), 0);
    struct addr lo4 = A("127.0.0.1"), lo6 = A("::1"), doc = A("198.51.100.200");
    assert_true(icpt_allowed(&ic, &lo4));
    assert_true(icpt_allowed(&ic, &lo6));
    /* A documentation range no test host has an address in. */
    assert_false(icpt_allowed(&ic, &doc));
    free(ic.allow);
}

static void test_refuse_says_why(void **state)
{
    (void)state;
    struct icpt ic;
    int sv[2];
    memset(&ic, 0, sizeof(ic));
    ic.loop = loop_new();
    assert_non_null(ic.loop);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], "\x01\x00\x00\x1cTCPC", 8), 8); /* a HELLO begun */
    struct addr a = A("203.0.113.9");
    icpt_refuse(&ic, sv[0], &a, 40000); /* closes sv[0] */
    assert_int_equal(ic.st.peers_refused, 1);
    uint8_t b[512];
    size_t have = 0;
    ssize_t n;
    while ((n = read(sv[1], b + have, sizeof(b) - have)) > 0)
        have += (size_t)n;
    assert_int_equal(n, 0); /* then EOF */
    struct chan_frame f;
    struct hello_bye bye;
    assert_int_equal(chan_frame_next(&f, b, have), (ssize_t)have);
    assert_int_equal(hello_bye_decode(&bye, &f), 0);
    assert_int_equal(bye.code, CHAN_BYE_REFUSED);
    assert_non_null(strstr(bye.text, "--allow 203.0.113.0/24"));
    close(sv[1]);
    loop_free(ic.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_defaults_hold_loopback),
        cmocka_unit_test(test_refuse_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
