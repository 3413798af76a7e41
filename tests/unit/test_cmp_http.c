/*
 * test_cmp_http: the HTTP/1.x framers of the comparison. Pipelined requests (query, HEAD,
 * Content-Length and chunked bodies with extensions and trailers), answers with 100
 * Continue, HEAD, chunked, 304, 204 and a body until close; every exchange fed whole, byte by
 * byte and in random pieces gives the same units. Noise: Date, header order and case,
 * Set-Cookie values, header:, json: and regex: rules; unparsable answers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_diff.h"
#include "cmp_feed.h"

static const char reqs_text[] =
    "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: shop\r\n\r\n"
    "POST /login HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
    "HEAD /big HTTP/1.1\r\nHost: shop\r\n\r\n"
    "PUT /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;name=v\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
    "\r\nGET http://shop:80/abs/path?q HTTP/1.1\r\n\r\n"
    "GET /nc HTTP/1.1\r\n\r\n"
    "GET /close HTTP/1.1\r\n\r\n";

static const char ans_text[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\n\r\nhi"
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Expires=Tue\r\nContent-Length: 3\r\n\r\nyes"
    "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    "2;ext=1\r\nab\r\n1\r\nc\r\n0\r\nTrailer-Sum: 9\r\n\r\n"
    "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"
    "HTTP/1.1 204 No Content\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the close\n";

static void test_requests(void **state)
{
    (void)state;
    struct got_reqs g0, g;
    run_reqs(CMP_PROTO_HTTP, reqs_text, 0, &g0);
    assert_int_equal(g0.n, 7);
    assert_string_equal(g0.r[0].endpoint, "GET /a/b");
    assert_memory_equal(g0.r[0].text, "GET /a/b?x=1&y=2 HTTP/1.1", g0.r[0].textlen);
    assert_string_equal(g0.r[1].endpoint, "POST /login");
    assert_string_equal(g0.r[2].endpoint, "HEAD /big");
    assert_true(g0.r[2].flags & CMP_R_HEAD);
    assert_false(g0.r[1].flags & CMP_R_HEAD);
    assert_string_equal(g0.r[3].endpoint, "PUT /up");
    assert_string_equal(g0.r[4].endpoint, "GET /abs/path");
    assert_int_equal(g0.r[1].len, strlen("POST /login HTTP/1.1\r\nContent-Length: 5\r\n"
                                         "Expect: 100-continue\r\n\r\nhello"));
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(g0.r[i].flags & (CMP_R_UNPARSABLE | CMP_R_TRUNCATED), 0);
    for (unsigned mode = 1; mode < 12; mode++) {
        run_reqs(CMP_PROTO_HTTP, reqs_text, mode, &g);
        assert_int_equal(g.n, g0.n);
        for (unsigned i = 0; i < g.n; i++) {
            assert_string_equal(g.r[i].endpoint, g0.r[i].endpoint);
            assert_int_equal(g.r[i].len, g0.r[i].len);
            assert_int_equal(g.r[i].flags, g0.r[i].flags);
        }
    }
}

static void test_answers_split_anywhere(void **state)
{
    (void)state;
    struct got_reqs rq;
    struct got_units g0, g;
    run_reqs(CMP_PROTO_HTTP, reqs_text, 0, &rq);
    run_ans(CMP_PROTO_HTTP, NULL, &rq, ans_text, strlen(ans_text), 0, &g0);
    assert_int_equal(g0.n, 7);
    assert_int_equal(g0.u[0].body.len, 2);
    assert_string_equal(g0.u[1].status_text, "HTTP/1.1 100 Continue | HTTP/1.1 200 OK");
    assert_int_equal(g0.u[1].body.len, 3);
    assert_int_equal(g0.u[2].body.len, 0); /* HEAD */
    assert_int_equal(g0.u[3].body.len, 3); /* chunked, decoded */
    assert_memory_equal(g0.u[3].body.head, "abc", 3);
    assert_int_equal(g0.u[4].body.len, 0); /* 304 */
    assert_int_equal(g0.u[5].body.len, 0); /* 204 */
    assert_true(g0.u[6].flags & CMP_U_CLOSED);
    assert_int_equal(g0.u[6].body.len, strlen("body until the close\n"));
    for (unsigned i = 0; i < g0.n; i++) {
        assert_true(g0.u[i].flags & CMP_U_HTTP);
        assert_false(g0.u[i].flags & (CMP_U_UNPARSABLE | CMP_U_TRUNCATED));
    }
    for (unsigned mode = 1; mode < 12; mode++) {
        run_ans(CMP_PROTO_HTTP, NULL, &rq, ans_text, strlen(ans_text), mode, &g);
        assert_int_equal(g.n, g0.n);
        for (unsigned i = 0; i < g.n; i++) {
            assert_true(cmp_unit_hash(&g.u[i]) == cmp_unit_hash(&g0.u[i]));
            assert_int_equal(g.u[i].flags, g0.u[i].flags);
        }
    }
}

/* Frame one answer (a GET's) and return it. */
static struct cmp_unit one(const struct cmp_rules *r, const char *text)
{
    struct got_units g;
    run_ans(CMP_PROTO_HTTP, r, NULL, text, strlen(text), 0, &g);
    assert_int_equal(g.n, 1);
    return g.u[0];
}

static void test_chunk_sizes_do_not_count(void **state)
{
    (void)state;
    struct cmp_unit a = one(NULL, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n");
    struct cmp_unit b = one(NULL, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                                  "1\r\nh\r\na\r\nello world\r\n0\r\n\r\n");
    struct cmp_diff d;
    assert_true(cmp_diff_units(&a, &b, &d));
}

static void test_noise_defaults(void **state)
{
    (void)state;
    struct cmp_unit a = one(NULL, "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\n"
                                  "Server: nginx\r\nSet-Cookie: sid=1; Path=/; Expires=Mon\r\n"
                                  "Age: 5\r\nContent-Length: 2\r\n\r\nok");
    struct cmp_unit b = one(NULL, "HTTP/1.1 200 OK\r\ncontent-length:2\r\nset-cookie: sid=2\r\n"
                                  "AGE: 9\r\nserver:   nginx  \r\nDATE: Tue\r\n\r\nok");
    struct cmp_diff d;
    assert_true(cmp_diff_units(&a, &b, &d));
    struct cmp_unit c = one(NULL, "HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Id: 7\r\n"
                                  "Set-Cookie: sid=3\r\nContent-Length: 2\r\n\r\nok");
    assert_false(cmp_diff_units(&a, &c, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
    assert_memory_equal(d.b, "x-id:7", d.blen);
    struct cmp_unit s = one(NULL, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nok");
    assert_false(cmp_diff_units(&a, &s, &d));
    assert_int_equal(d.kind, CMP_KIND_STATUS);
}

static void test_rules(void **state)
{
    (void)state;
    struct cmp_rules r;
    char err[256];
    cmp_rules_init(&r);
    assert_int_equal(cmp_rules_add(&r, "header:X-Request-Id", err, sizeof(err)), 0);
    assert_int_equal(cmp_rules_add(&r, "json:$.meta.request_id", err, sizeof(err)), 0);
    assert_int_equal(cmp_rules_add(&r, "json:$.items[*].ts", err, sizeof(err)), 0);
    assert_int_equal(cmp_rules_add(&r, "regex:token=[0-9a-f]+", err, sizeof(err)), 0);
    assert_int_equal(cmp_rules_add(&r, "regex:nginx/[0-9.]+", err, sizeof(err)), 0);
    assert_int_equal(cmp_rules_add(&r, "bogus:x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "expected header:NAME"));
    assert_int_equal(cmp_rules_add(&r, "regex:a(", err, sizeof(err)), -EINVAL);
    assert_int_equal(cmp_rules_add(&r, "json:meta", err, sizeof(err)), -EINVAL);
    assert_int_equal(cmp_rules_add(&r, "json:$", err, sizeof(err)), -EINVAL);
    assert_int_equal(cmp_rules_add(&r, "header:", err, sizeof(err)), -EINVAL);

    char a_txt[512], b_txt[512];
    const char *a_body = "{\"meta\":{\"request_id\":\"a1\",\"n\":1},\"items\":[{\"ts\":5,\"v\":[1,2]}],\"x\":0}";
    const char *b_body = "{\"meta\":{\"request_id\":{\"deep\":[\"}\"]},\"n\":1},\"items\":[{\"ts\":\"later\",\"v\":[1,2]}],\"x\":0}";
    snprintf(a_txt, sizeof(a_txt), "HTTP/1.1 200 OK\r\nX-Request-Id: 1\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(a_body), a_body);
    snprintf(b_txt, sizeof(b_txt), "HTTP/1.1 200 OK\r\nX-Request-Id: 2\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(b_body), b_body);
    struct cmp_unit a = one(&r, a_txt), b = one(&r, b_txt);
    struct cmp_diff d;
    assert_true(cmp_diff_units(&a, &b, &d));
    /* the same answers differ without the rules */
    a = one(NULL, a_txt), b = one(NULL, b_txt);
    assert_false(cmp_diff_units(&a, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
    /* a real difference after the ignored value is still found, at its offset */
    a = one(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n\r\n"
                "token=abc1 value=1\n");
    b = one(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\n"
                "token=9 value=2\n\n");
    assert_false(cmp_diff_units(&a, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    assert_int_equal(d.offset, 7); /* " value=" after the removed token */
    /* regex rules apply to header lines too */
    a = one(&r, "HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nContent-Length: 0\r\n\r\n");
    b = one(&r, "HTTP/1.1 200 OK\r\nServer: nginx/1.27.0\r\nContent-Length: 0\r\n\r\n");
    assert_true(cmp_diff_units(&a, &b, &d));
    cmp_rules_free(&r);
}

/* A 5 MB body, chunked in odd sizes on one side and by Content-Length on the other, fed in
 * random pieces: equal; one byte changed deep inside: found in its block. */
static void test_large_bodies(void **state)
{
    (void)state;
    size_t n = 5u << 20;
    uint8_t *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 31 + (i >> 12));
    size_t cap = n + n / 100 + 4096;
    char *a = malloc(cap), *c = malloc(cap);
    size_t an = (size_t)snprintf(a, cap, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
    memcpy(a + an, body, n);
    an += n;
    size_t cn = (size_t)snprintf(c, cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t off = 0, k = 1; off < n; off += k, k = k * 7 % 65521 + 1) {
        if (k > n - off)
            k = n - off;
        cn += (size_t)snprintf(c + cn, cap - cn, "%zx;i=%zu\r\n", k, off);
        memcpy(c + cn, body + off, k);
        cn += k;
        memcpy(c + cn, "\r\n", 2);
        cn += 2;
    }
    cn += (size_t)snprintf(c + cn, cap - cn, "0\r\n\r\n");
    struct got_units *ga = malloc(sizeof(*ga)), *gc = malloc(sizeof(*gc));
    run_ans(CMP_PROTO_HTTP, NULL, NULL, a, an, 7, ga);
    run_ans(CMP_PROTO_HTTP, NULL, NULL, c, cn, 9, gc);
    assert_int_equal(ga->n, 1);
    assert_int_equal(gc->n, 1);
    assert_int_equal(gc->u[0].body.len, n);
    struct cmp_diff d;
    assert_true(cmp_diff_units(&ga->u[0], &gc->u[0], &d));
    a[an - n + 3000000] ^= 1;
    run_ans(CMP_PROTO_HTTP, NULL, NULL, a, an, 0, ga);
    assert_false(cmp_diff_units(&ga->u[0], &gc->u[0], &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    uint64_t bsize = (uint64_t)CMP_CHUNK << ga->u[0].body.level;
    assert_true(d.offset <= 3000000 && 3000000 < d.offset + bsize);
    free(ga), free(gc), free(a), free(c), free(body);
}

static void test_unparsable(void **state)
{
    (void)state;
    struct got_units g;
    const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSSH-2.0-x\r\n";
    run_ans(CMP_PROTO_HTTP, NULL, NULL, bad, strlen(bad), 1, &g);
    assert_int_equal(g.n, 2);
    assert_true(g.u[1].flags & CMP_U_UNPARSABLE);
    assert_true(g.u[1].flags & CMP_U_LAST);
    /* a header line over the line buffer */
    size_t n = 20000;
    char *big = malloc(n + 64);
    strcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big + strlen(big), 'a', n);
    strcpy(big + n, "\r\n\r\n");
    run_ans(CMP_PROTO_HTTP, NULL, NULL, big, strlen(big), 3, &g);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_UNPARSABLE);
    free(big);
    /* cut by the close: truncated */
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    run_ans(CMP_PROTO_HTTP, NULL, NULL, cut, strlen(cut), 0, &g);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_TRUNCATED);
    /* conflicting Content-Length */
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    run_ans(CMP_PROTO_HTTP, NULL, NULL, cl, strlen(cl), 0, &g);
    assert_true(g.u[0].flags & CMP_U_UNPARSABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_answers_split_anywhere),
        cmocka_unit_test(test_chunk_sizes_do_not_count),
        cmocka_unit_test(test_noise_defaults),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_unparsable),
        cmocka_unit_test(test_large_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
