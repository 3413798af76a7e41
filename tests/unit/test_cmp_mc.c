/*
 * test_cmp_mc: the memcached text protocol framers. Storage commands with data blocks (one
 * holding "END\r\n"), noreply, multi-get, gets (cas uniques differ between servers and do not
 * count), incr, stats, version, meta commands; fed whole, byte by byte and in random pieces;
 * an over-long line resyncs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_diff.h"
#include "cmp_feed.h"

static const char reqs_text[] =
    "set k 0 0 5\r\nhello\r\n"
    "get k\r\n"
    "set k2 0 0 5 noreply\r\nEND\r\n\r\n"
    "get k k2 k3\r\n"
    "gets k\r\n"
    "delete k noreply\r\n"
    "incr n 1\r\n"
    "stats\r\n"
    "version\r\n"
    "ms mk 2 T0\r\nhi\r\n"
    "mg mk v\r\n"
    "quit\r\n";

static const char replies_text[] =
    "STORED\r\n"
    "VALUE k 0 5\r\nhello\r\nEND\r\n"
    "VALUE k 0 5\r\nhello\r\nVALUE k2 0 5\r\nEND\r\n\r\nEND\r\n"
    "VALUE k 0 5 12345\r\nhello\r\nEND\r\n"
    "42\r\n"
    "STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n"
    "VERSION 1.6.21\r\n"
    "HD\r\n"
    "VA 2 \r\nhi\r\n";

static void test_exchange(void **state)
{
    (void)state;
    struct got_reqs rq, rq2;
    run_reqs(CMP_PROTO_MC, reqs_text, 0, &rq);
    assert_int_equal(rq.n, 12);
    const char *eps[] = {"set", "get", "set", "get", "gets", "delete", "incr", "stats",
                         "version", "ms", "mg", "quit"};
    unsigned noreply = 0;
    for (unsigned i = 0; i < rq.n; i++) {
        assert_string_equal(rq.r[i].endpoint, eps[i]);
        noreply |= (rq.r[i].flags & CMP_R_NOREPLY) ? 1U << i : 0;
    }
    assert_int_equal(noreply, (1U << 2) | (1U << 5) | (1U << 11));
    assert_int_equal(rq.r[2].len, strlen("set k2 0 0 5 noreply\r\nEND\r\n\r\n"));
    struct got_units g0, g;
    run_ans(CMP_PROTO_MC, NULL, &rq, replies_text, strlen(replies_text), 0, &g0);
    assert_int_equal(g0.n, 9);
    for (unsigned mode = 1; mode < 12; mode++) {
        run_reqs(CMP_PROTO_MC, reqs_text, mode, &rq2);
        assert_int_equal(rq2.n, rq.n);
        for (unsigned i = 0; i < rq.n; i++)
            assert_int_equal(rq2.r[i].len, rq.r[i].len);
        run_ans(CMP_PROTO_MC, NULL, &rq, replies_text, strlen(replies_text), mode, &g);
        assert_int_equal(g.n, g0.n);
        for (unsigned i = 0; i < g.n; i++)
            assert_true(cmp_unit_hash(&g.u[i]) == cmp_unit_hash(&g0.u[i]));
    }
    /* gets: only the cas unique differs */
    const char *other = "VALUE k 0 5 99\r\nhello\r\nEND\r\n";
    run_ans(CMP_PROTO_MC, NULL, NULL, other, strlen(other), 0, &g);
    struct cmp_diff d;
    assert_true(cmp_diff_units(&g.u[0], &g0.u[3], &d));
    assert_false(cmp_diff_units(&g.u[0], &g0.u[4], &d));
}

static void test_errors_and_resync(void **state)
{
    (void)state;
    struct got_units g;
    const char *errs = "ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory\r\n"
                       "NOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\nOK\r\n";
    run_ans(CMP_PROTO_MC, NULL, NULL, errs, strlen(errs), 1, &g);
    assert_int_equal(g.n, 9);
    size_t n = 10000;
    char *big = malloc(n + 32);
    memset(big, 'x', n);
    strcpy(big + n, "\r\nSTORED\r\n");
    run_ans(CMP_PROTO_MC, NULL, NULL, big, strlen(big), 5, &g);
    assert_int_equal(g.n, 2);
    assert_true(g.u[0].flags & CMP_U_UNPARSABLE);
    assert_false(g.u[0].flags & CMP_U_LAST);
    assert_false(g.u[1].flags & CMP_U_UNPARSABLE);
    struct got_reqs rq;
    memcpy(big + n, "\r\nget a\r\nset b 0 0 zz\r\n", 24);
    run_reqs(CMP_PROTO_MC, big, 2, &rq);
    assert_int_equal(rq.n, 3);
    assert_true(rq.r[0].flags & CMP_R_UNPARSABLE);
    assert_string_equal(rq.r[1].endpoint, "get");
    assert_true(rq.r[2].flags & CMP_R_UNPARSABLE);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange),
        cmocka_unit_test(test_errors_and_resync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
