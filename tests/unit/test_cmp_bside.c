/*
 * test_cmp_bside: the baseline's side of a compared session. HTTP answers framed from
 * segments (whole, split, retransmitted) and paired as the third side: a random header that
 * the baseline changes too is noise; a hole in the baseline's bytes, its connection's end and
 * a rebuilt baseline connection give baseline_missing, never a changed verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_bside.h"

struct got {
    unsigned n;
    struct cmp_result r[16];
};

static void on_result(void *arg, const struct cmp_result *r)
{
    struct got *g = arg;
    assert_true(g->n < 16);
    g->r[g->n++] = *r;
}

static void ans(struct cmp_unit *u, const char *rand)
{
    cmp_unit_init(u);
    u->flags = CMP_U_HTTP;
    cmp_unit_status(u, "HTTP/1.1 200 OK", 15);
    char h[64];
    int n = snprintf(h, sizeof(h), "x-rand:%s", rand);
    cmp_unit_header(u, h, (size_t)n);
    cmp_stream_add(&u->body, (const uint8_t *)"hello", 5);
}

static const char A1[] = "HTTP/1.1 200 OK\r\nX-Rand: ccc\r\nContent-Length: 5\r\n\r\nhello";
static const char A2[] = "HTTP/1.1 200 OK\r\nX-Rand: ddd\r\nContent-Length: 5\r\n\r\nhello";

struct fix {
    struct got g;
    struct cmp_pair *p;
    struct cmp_bside *b;
    struct cmp_bside_stats st;
    struct cmp_req rq;
};

static void fix_new(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    f->p = cmp_pair_new(on_result, &f->g);
    assert_non_null(f->p);
    cmp_pair_baseline(f->p);
    f->b = cmp_bside_new(CMP_PROTO_HTTP, NULL, f->p, &f->st);
    assert_non_null(f->b);
    f->rq.proto = CMP_PROTO_HTTP;
    snprintf(f->rq.endpoint, sizeof(f->rq.endpoint), "GET /");
}

/* One request, online and target answers (target's x-rand given). */
static void request(struct fix *f, const char *t_rand)
{
    struct cmp_unit o, t;
    ans(&o, "aaa");
    ans(&t, t_rand);
    cmp_bside_expect(f->b, &f->rq);
    cmp_pair_request(f->p, &f->rq);
    cmp_pair_answer(f->p, CMP_ONLINE, &o);
    cmp_pair_answer(f->p, CMP_TARGET, &t);
}

static void fix_free(struct fix *f)
{
    cmp_bside_free(f->b);
    cmp_pair_free(f->p);
}

static void test_noise_in_order_and_retransmitted(void **state)
{
    (void)state;
    struct fix f;
    fix_new(&f);
    uint32_t isn = 0xfffffff0u, n1 = sizeof(A1) - 1, n2 = sizeof(A2) - 1; /* wraps */
    request(&f, "bbb");
    assert_int_equal(f.g.n, 0); /* waits for the baseline */
    cmp_bside_segment(f.b, isn, 0, isn + 1, (const uint8_t *)A1, 20, false);
    cmp_bside_segment(f.b, isn, 0, isn + 1, (const uint8_t *)A1, 30, false); /* again, longer */
    cmp_bside_segment(f.b, isn, 0, isn + 31, (const uint8_t *)A1 + 30, n1 - 30, false);
    assert_int_equal(f.g.n, 1);
    assert_true(f.g.r[0].noise);
    assert_false(f.g.r[0].baseline_missing);
    /* the second answer, its FIN with it */
    request(&f, "eee");
    cmp_bside_segment(f.b, isn, 0, isn + 1 + n1, (const uint8_t *)A2, n2, true);
    assert_int_equal(f.g.n, 2);
    assert_true(f.g.r[1].noise);
    assert_int_equal(f.st.bytes, n1 + n2);
    assert_int_equal(f.st.gaps, 0);
    /* after the FIN: nothing more from the baseline, the next result does not wait */
    request(&f, "fff");
    assert_int_equal(f.g.n, 3);
    assert_true(f.g.r[2].baseline_missing);
    assert_false(f.g.r[2].noise);
    assert_int_equal(f.g.r[2].verdict, CMP_DIFFERENT);
    fix_free(&f);
}

static void test_hole_end_rebuilt(void **state)
{
    (void)state;
    struct fix f;
    fix_new(&f);
    uint32_t n1 = sizeof(A1) - 1;
    /* a hole: the first 10 bytes never came */
    request(&f, "bbb");
    cmp_bside_segment(f.b, 100, 0, 111, (const uint8_t *)A1 + 10, n1 - 10, false);
    assert_int_equal(f.g.n, 1);
    assert_true(f.g.r[0].baseline_missing);
    assert_int_equal(f.g.r[0].verdict, CMP_DIFFERENT);
    assert_int_equal(f.st.gaps, 1);
    /* the HTTP framer does not resync after a hole: later results go without the baseline */
    request(&f, "bbb");
    assert_int_equal(f.g.n, 2);
    assert_true(f.g.r[1].baseline_missing);
    fix_free(&f);
    /* headers only (intercept sent no payload): a gap too */
    fix_new(&f);
    request(&f, "bbb");
    cmp_bside_segment(f.b, 100, 0, 101, NULL, n1, false);
    assert_int_equal(f.g.n, 1);
    assert_true(f.g.r[0].baseline_missing);
    assert_int_equal(f.st.gaps, 1);
    fix_free(&f);
    /* a rebuilt baseline connection ends the side */
    fix_new(&f);
    request(&f, "bbb");
    cmp_bside_segment(f.b, 100, 0, 101, (const uint8_t *)A1, n1, false);
    assert_true(f.g.r[0].noise);
    request(&f, "bbb");
    assert_int_equal(f.g.n, 1);
    cmp_bside_segment(f.b, 5000, 1, 5001, (const uint8_t *)A1, n1, false);
    assert_int_equal(f.g.n, 2);
    assert_true(f.g.r[1].baseline_missing);
    fix_free(&f);
    /* the baseline's session freed while an answer is owed */
    fix_new(&f);
    request(&f, "aaa"); /* equal to online: equal whatever the baseline */
    request(&f, "bbb");
    cmp_bside_end(f.b);
    cmp_bside_end(f.b); /* twice: no harm */
    assert_int_equal(f.g.n, 2);
    assert_int_equal(f.g.r[0].verdict, CMP_EQUAL);
    assert_true(f.g.r[1].baseline_missing);
    fix_free(&f);
    cmp_bside_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_in_order_and_retransmitted),
        cmocka_unit_test(test_hole_end_rebuilt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
