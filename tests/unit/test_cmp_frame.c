/*
 * test_cmp_frame: the framers' front. Protocol names; auto detection from the client's first
 * bytes (HTTP, RESP arrays and inline commands, memcached, raw; undecided while too short);
 * raw framing at the caller's boundaries; auto framers on both sides, with a server-first
 * greeting held until the protocol is known; capture gaps inside counted bodies (framing
 * goes on, the answer is incomplete) and elsewhere (framing stops).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_diff.h"
#include "cmp_feed.h"

static enum cmp_proto det(const char *s)
{
    return cmp_proto_detect((const uint8_t *)s, strlen(s));
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(det("GET /index.html HTTP/1.1\r\n"), CMP_PROTO_HTTP);
    assert_int_equal(det("POST /api HTTP/1.0\r\nHost: x\r\n"), CMP_PROTO_HTTP);
    assert_int_equal(det("GET /very/long"), CMP_PROTO_AUTO); /* the line is not complete */
    assert_int_equal(det("*2\r\n$3\r\nGET\r\n"), CMP_PROTO_RESP);
    assert_int_equal(det("GET key\r\n"), CMP_PROTO_RESP);
    assert_int_equal(det("ping\r\n"), CMP_PROTO_RESP);
    assert_int_equal(det("get key\r\n"), CMP_PROTO_MC);
    assert_int_equal(det("set k 0 0 1\r\n"), CMP_PROTO_MC);
    assert_int_equal(det("stats\r\n"), CMP_PROTO_MC);
    assert_int_equal(det("\x16\x03\x01\x02\x00 hello"), CMP_PROTO_RAW);
    assert_int_equal(det("HELLOWORLD"), CMP_PROTO_AUTO);
    assert_int_equal(det(""), CMP_PROTO_AUTO);
    enum cmp_proto p;
    assert_int_equal(cmp_proto_parse("memcache", &p), 0);
    assert_int_equal(p, CMP_PROTO_MC);
    assert_int_equal(cmp_proto_parse("redis", &p), 0);
    assert_int_equal(p, CMP_PROTO_RESP);
    assert_int_equal(cmp_proto_parse("ftp", &p), -EINVAL);
    assert_string_equal(cmp_proto_name(CMP_PROTO_HTTP), "http");
}

static void test_raw(void **state)
{
    (void)state;
    struct got_reqs rq;
    struct got_units g;
    memset(&rq, 0, sizeof(rq));
    memset(&g, 0, sizeof(g));
    struct cmp_reqf *rf = cmp_reqf_new(CMP_PROTO_RAW, got_req, &rq);
    struct cmp_ansf *af = cmp_ansf_new(CMP_PROTO_RAW, NULL, got_unit, &g);
    cmp_reqf_feed(rf, (const uint8_t *)"HELO a\r\nmore", 12);
    cmp_reqf_end(rf);
    cmp_ansf_feed(af, (const uint8_t *)"250 ok", 6);
    cmp_ansf_feed(af, (const uint8_t *)"\r\n", 2);
    cmp_ansf_end(af);
    cmp_ansf_end(af); /* nothing since: no empty answer */
    cmp_reqf_feed(rf, (const uint8_t *)"\x01\x02", 2);
    cmp_reqf_close(rf);
    cmp_ansf_feed(af, (const uint8_t *)"bye", 3);
    cmp_ansf_close(af);
    assert_int_equal(rq.n, 2);
    assert_string_equal(rq.r[0].endpoint, "HELO a");
    assert_int_equal(rq.r[0].len, 12);
    assert_string_equal(rq.r[1].endpoint, "??");
    assert_int_equal(g.n, 2);
    assert_int_equal(g.u[0].body.len, 8);
    assert_true(g.u[1].flags & CMP_U_CLOSED);
    cmp_reqf_free(rf);
    cmp_ansf_free(af);
}

static void test_auto_with_greeting(void **state)
{
    (void)state;
    struct got_reqs rq;
    struct got_units g;
    memset(&rq, 0, sizeof(rq));
    memset(&g, 0, sizeof(g));
    struct cmp_reqf *rf = cmp_reqf_new(CMP_PROTO_AUTO, got_req, &rq);
    struct cmp_ansf *af = cmp_ansf_new(CMP_PROTO_AUTO, NULL, got_unit, &g);
    /* a server that speaks first (RESP here): held until the protocol is known */
    cmp_ansf_feed(af, (const uint8_t *)"+hello\r\n", 8);
    const char *c = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    for (size_t i = 0; i < strlen(c); i++)
        cmp_reqf_feed(rf, (const uint8_t *)c + i, 1);
    assert_int_equal(cmp_reqf_proto(rf), CMP_PROTO_RESP);
    assert_int_equal(rq.n, 2);
    assert_int_equal(g.n, 0);
    cmp_ansf_expect(af, &rq.r[0]);
    assert_int_equal(g.n, 1); /* the greeting */
    cmp_ansf_expect(af, &rq.r[1]);
    cmp_ansf_feed(af, (const uint8_t *)"+PONG\r\n$1\r\nv\r\n", 14);
    assert_int_equal(g.n, 3);
    assert_int_equal(cmp_ansf_stats(af)->messages, 3);
    assert_int_equal(cmp_reqf_stats(rf)->messages, 2);
    cmp_reqf_free(rf);
    cmp_ansf_free(af);
    cmp_reqf_free(NULL);
    cmp_ansf_free(NULL);
}

static void test_auto_overflow_is_raw(void **state)
{
    (void)state;
    struct got_units g;
    memset(&g, 0, sizeof(g));
    struct cmp_ansf *af = cmp_ansf_new(CMP_PROTO_AUTO, NULL, got_unit, &g);
    uint8_t junk[5000];
    memset(junk, 'j', sizeof(junk));
    cmp_ansf_feed(af, junk, sizeof(junk));
    cmp_ansf_end(af);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.u[0].body.len, sizeof(junk));
    cmp_ansf_free(af);
}

/* Feed a, report a gap of `gap` bytes, feed b: the units passed on. */
static void gapped(enum cmp_proto proto, const char *a, uint64_t gap, const char *b,
                   struct got_units *g, bool *on)
{
    memset(g, 0, sizeof(*g));
    struct cmp_ansf *f = cmp_ansf_new(proto, NULL, got_unit, g);
    cmp_ansf_feed(f, (const uint8_t *)a, strlen(a));
    *on = cmp_ansf_gap(f, gap);
    cmp_ansf_feed(f, (const uint8_t *)b, strlen(b));
    cmp_ansf_close(f);
    assert_int_equal(cmp_ansf_stats(f)->gaps, 1);
    cmp_ansf_free(f);
}

static void test_gaps(void **state)
{
    (void)state;
    struct got_units g;
    bool on;
    /* inside a Content-Length body: framing goes on, that answer is incomplete */
    gapped(CMP_PROTO_HTTP, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 5,
           "cdeHTTP/1.1 204 No Content\r\n\r\n", &g, &on);
    assert_true(on);
    assert_int_equal(g.n, 2);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    assert_false(g.u[1].flags & CMP_U_INCOMPLETE);
    /* ending exactly a chunk's data */
    gapped(CMP_PROTO_HTTP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab", 2,
           "\r\n0\r\n\r\n", &g, &on);
    assert_true(on);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    assert_false(g.u[0].flags & (CMP_U_UNPARSABLE | CMP_U_TRUNCATED));
    /* a gap in the head: framing is lost */
    gapped(CMP_PROTO_HTTP, "HTTP/1.1 200 OK\r\nCont", 30, "HTTP/1.1 200 OK\r\n\r\n", &g, &on);
    assert_false(on);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    assert_true(g.u[0].flags & CMP_U_LAST);
    /* longer than the body's rest: lost too */
    gapped(CMP_PROTO_HTTP, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 9, "", &g, &on);
    assert_false(on);
    /* RESP bulk, memcached data block, raw */
    gapped(CMP_PROTO_RESP, "*2\r\n$6\r\nab", 3, "c\r\n:1\r\n+OK\r\n", &g, &on);
    assert_true(on);
    assert_int_equal(g.n, 2);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    gapped(CMP_PROTO_MC, "VALUE k 0 5\r\nhe", 3, "\r\nEND\r\nSTORED\r\n", &g, &on);
    assert_true(on);
    assert_int_equal(g.n, 2);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    assert_false(g.u[1].flags & CMP_U_INCOMPLETE);
    gapped(CMP_PROTO_RESP, "+O", 1, "\r\n", &g, &on);
    assert_false(on);
    gapped(CMP_PROTO_RAW, "abc", 100, "def", &g, &on);
    assert_true(on);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    assert_int_equal(g.u[0].body.len, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_auto_with_greeting),
        cmocka_unit_test(test_auto_overflow_is_raw),
        cmocka_unit_test(test_gaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
