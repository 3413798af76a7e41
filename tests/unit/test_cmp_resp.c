/*
 * test_cmp_resp: the RESP framers. A redis-benchmark-like pipeline (SET, GET, PING inline,
 * LPUSH, LRANGE, MSET, INCR) and its replies, then every RESP2 and RESP3 reply type (nulls,
 * nested arrays, maps, sets, attributes, verbatim strings, big numbers, pushes), fed whole,
 * byte by byte and in random pieces; unparsable and truncated replies.
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
    "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$3\r\nxxx\r\n"
    "*2\r\n$3\r\nget\r\n$16\r\nkey:000000000042\r\n"
    "PING\r\n"
    "*3\r\n$5\r\nLPUSH\r\n$6\r\nmylist\r\n$3\r\nxxx\r\n"
    "*4\r\n$6\r\nLRANGE\r\n$6\r\nmylist\r\n$1\r\n0\r\n$2\r\n99\r\n"
    "*5\r\n$4\r\nMSET\r\n$2\r\nk1\r\n$2\r\nv1\r\n$2\r\nk2\r\n$2\r\nv2\r\n"
    "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"
    "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n"
    "*1\r\n$7\r\nBADCMD!\r\n";

static const char replies_text[] =
    "+OK\r\n"
    "$3\r\nxxx\r\n"
    "+PONG\r\n"
    ":4\r\n"
    "*4\r\n$3\r\nxxx\r\n$3\r\nxxx\r\n$3\r\nxxx\r\n$3\r\nxxx\r\n"
    "+OK\r\n"
    ":17\r\n"
    "$-1\r\n"
    "-ERR unknown command 'BADCMD!', with args beginning with: \r\n";

static void test_pipeline(void **state)
{
    (void)state;
    struct got_reqs rq, rq2;
    run_reqs(CMP_PROTO_RESP, reqs_text, 0, &rq);
    assert_int_equal(rq.n, 9);
    const char *eps[] = {"SET", "GET", "PING", "LPUSH", "LRANGE", "MSET", "INCR", "GET", "BADCMD!"};
    for (unsigned i = 0; i < rq.n; i++) {
        assert_string_equal(rq.r[i].endpoint, eps[i]);
        assert_int_equal(rq.r[i].flags, 0);
    }
    assert_memory_equal(rq.r[4].text, "LRANGE mylist 0 99", rq.r[4].textlen);
    struct got_units g0, g;
    run_ans(CMP_PROTO_RESP, NULL, &rq, replies_text, strlen(replies_text), 0, &g0);
    assert_int_equal(g0.n, 9);
    assert_int_equal(g0.u[4].body.len, strlen("*4\r\n") + 4 * strlen("$3\r\nxxx\r\n"));
    for (unsigned mode = 1; mode < 12; mode++) {
        run_reqs(CMP_PROTO_RESP, reqs_text, mode, &rq2);
        assert_int_equal(rq2.n, rq.n);
        for (unsigned i = 0; i < rq.n; i++)
            assert_int_equal(rq2.r[i].len, rq.r[i].len);
        run_ans(CMP_PROTO_RESP, NULL, &rq, replies_text, strlen(replies_text), mode, &g);
        assert_int_equal(g.n, g0.n);
        for (unsigned i = 0; i < g.n; i++)
            assert_true(cmp_unit_hash(&g.u[i]) == cmp_unit_hash(&g0.u[i]));
    }
}

static const char resp3_text[] =
    "*2\r\n*2\r\n:1\r\n:2\r\n*-1\r\n"           /* nested, with a null array */
    "*0\r\n"                                     /* empty */
    "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n_\r\n"        /* map with an aggregate value */
    "~2\r\n,1.5\r\n#t\r\n"                      /* set: double, boolean */
    "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:9\r\n" /* attribute */
    "_\r\n"
    "!21\r\nSYNTAX invalid syntax\r\n"
    "=15\r\ntxt:Some string\r\n"
    "(3492890328409238509324850943850943825024385\r\n"
    ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n" /* push */
    "$0\r\n\r\n";

static void test_resp3_types(void **state)
{
    (void)state;
    struct got_units g0, g;
    run_ans(CMP_PROTO_RESP, NULL, NULL, resp3_text, strlen(resp3_text), 0, &g0);
    assert_int_equal(g0.n, 11);
    for (unsigned i = 0; i < g0.n; i++) {
        assert_false(g0.u[i].flags & (CMP_U_UNPARSABLE | CMP_U_TRUNCATED));
        assert_int_equal(!!(g0.u[i].flags & CMP_U_PUSH), i == 9);
    }
    for (unsigned mode = 1; mode < 8; mode++) {
        run_ans(CMP_PROTO_RESP, NULL, NULL, resp3_text, strlen(resp3_text), mode, &g);
        assert_int_equal(g.n, g0.n);
        for (unsigned i = 0; i < g.n; i++)
            assert_true(cmp_unit_hash(&g.u[i]) == cmp_unit_hash(&g0.u[i]));
    }
}

static void test_differences(void **state)
{
    (void)state;
    struct got_units a, b;
    const char *x = "*3\r\n$3\r\nabc\r\n$3\r\ndef\r\n:1\r\n";
    const char *y = "*3\r\n$3\r\nabc\r\n$3\r\ndxf\r\n:1\r\n";
    run_ans(CMP_PROTO_RESP, NULL, NULL, x, strlen(x), 0, &a);
    run_ans(CMP_PROTO_RESP, NULL, NULL, y, strlen(y), 1, &b);
    struct cmp_diff d;
    assert_false(cmp_diff_units(&a.u[0], &b.u[0], &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    assert_int_equal(d.offset, strlen("*3\r\n$3\r\nabc\r\n$3\r\nd"));
    assert_true(d.exact);
}

static void test_bad_and_cut(void **state)
{
    (void)state;
    struct got_units g;
    const char *bad = "+OK\r\n?what\r\n+OK\r\n";
    run_ans(CMP_PROTO_RESP, NULL, NULL, bad, strlen(bad), 1, &g);
    assert_int_equal(g.n, 2);
    assert_true(g.u[1].flags & CMP_U_UNPARSABLE);
    assert_true(g.u[1].flags & CMP_U_LAST);
    const char *cut = "*2\r\n$5\r\nhel";
    run_ans(CMP_PROTO_RESP, NULL, NULL, cut, strlen(cut), 0, &g);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_TRUNCATED);
    const char *streamed = "$?\r\n;4\r\nHell\r\n;0\r\n";
    run_ans(CMP_PROTO_RESP, NULL, NULL, streamed, strlen(streamed), 0, &g);
    assert_true(g.u[0].flags & CMP_U_UNPARSABLE);
    /* too deep */
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "*1\r\n");
    strcat(deep, ":1\r\n");
    run_ans(CMP_PROTO_RESP, NULL, NULL, deep, strlen(deep), 0, &g);
    assert_true(g.u[0].flags & CMP_U_UNPARSABLE);
    /* requests: a bad array is unparsable */
    struct got_reqs rq;
    run_reqs(CMP_PROTO_RESP, "*2\r\n:1\r\n", 0, &rq);
    assert_int_equal(rq.n, 1);
    assert_true(rq.r[0].flags & CMP_R_UNPARSABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_resp3_types),
        cmocka_unit_test(test_differences),
        cmocka_unit_test(test_bad_and_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
