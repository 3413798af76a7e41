/*
 * test_cmp_pair: pairing of requests with the online and target answers. Any order of
 * arrival; equal and different; an incomplete side is not_compared (never different); noreply
 * requests; a side that ends; the bound of waiting requests (over_limit, late answers
 * dropped); a framer that stopped (unparsable from there on); pushes; latencies; orphans.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_pair.h"

#define MAXR (CMP_PAIR_SLOTS + 64)

struct got {
    unsigned n;
    struct cmp_result r[MAXR];
};

static void on_result(void *arg, const struct cmp_result *r)
{
    struct got *g = arg;
    assert_true(g->n < MAXR);
    g->r[g->n++] = *r;
}

static struct cmp_req req(const char *ep, uint32_t flags)
{
    struct cmp_req r;
    memset(&r, 0, sizeof(r));
    snprintf(r.endpoint, sizeof(r.endpoint), "%s", ep);
    r.flags = flags;
    return r;
}

static struct cmp_unit ans(const char *body, uint32_t flags, uint64_t lat)
{
    struct cmp_unit u;
    cmp_unit_init(&u);
    cmp_stream_add(&u.body, (const uint8_t *)body, strlen(body));
    u.flags = flags;
    u.lat_us = lat;
    return u;
}

static struct got *g_new(struct cmp_pair **p)
{
    struct got *g = calloc(1, sizeof(*g));
    *p = cmp_pair_new(on_result, g);
    assert_non_null(*p);
    return g;
}

static void test_orders(void **state)
{
    (void)state;
    struct cmp_pair *p;
    struct got *g = g_new(&p);
    struct cmp_req r = req("GET /", 0);
    struct cmp_unit a = ans("hello", 0, 1500), b = ans("hello", 0, 2500), c = ans("hellx", 0, 0);
    /* request, online, target */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    assert_int_equal(g->n, 0);
    cmp_pair_answer(p, CMP_TARGET, &b);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->r[0].verdict, CMP_EQUAL);
    assert_int_equal(g->r[0].online_us, 1500);
    assert_int_equal(g->r[0].target_us, 2500);
    /* answers first, target before online */
    cmp_pair_answer(p, CMP_TARGET, &c);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    assert_int_equal(g->n, 1);
    cmp_pair_request(p, &r);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->r[1].index, 1);
    assert_int_equal(g->r[1].verdict, CMP_DIFFERENT);
    assert_int_equal(g->r[1].diff.kind, CMP_KIND_BODY);
    assert_int_equal(g->r[1].diff.offset, 4);
    assert_int_equal(g->r[1].target_us, -1);
    assert_string_equal(g->r[1].req.endpoint, "GET /");
    /* online, request, target */
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_TARGET, &a);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->r[2].verdict, CMP_EQUAL);
    assert_int_equal(cmp_pair_stats(p)->requests, 3);
    cmp_pair_free(p);
    free(g);
}

static void test_incomplete_and_noreply(void **state)
{
    (void)state;
    struct cmp_pair *p;
    struct got *g = g_new(&p);
    struct cmp_req r = req("get", 0), nr = req("set", CMP_R_NOREPLY);
    struct cmp_unit a = ans("VALUE", 0, 0), cut = ans("VAL", CMP_U_INCOMPLETE, 0);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &cut);
    cmp_pair_answer(p, CMP_TARGET, &a);
    assert_int_equal(g->r[0].verdict, CMP_NOT_COMPARED);
    assert_int_equal(g->r[0].reason, CMP_REASON_ONLINE_INCOMPLETE);
    cmp_pair_request(p, &nr); /* no answer expected: a result at once */
    assert_int_equal(g->n, 2);
    assert_int_equal(g->r[1].reason, CMP_REASON_NOREPLY);
    assert_int_equal(g->r[1].index, 1);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_TARGET, &cut);
    assert_int_equal(g->r[2].index, 2);
    assert_int_equal(g->r[2].reason, CMP_REASON_TARGET_INCOMPLETE);
    /* the target's connection ends before its answer */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_side_end(p, CMP_TARGET, CMP_REASON_NO_ANSWER_TARGET);
    assert_int_equal(g->r[3].reason, CMP_REASON_NO_ANSWER_TARGET);
    /* a rebuilt connection: later requests pair with later answers */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_TARGET, &a);
    assert_int_equal(g->r[4].verdict, CMP_EQUAL);
    /* unparsable request */
    struct cmp_req bad = req("(unparsable)", CMP_R_UNPARSABLE);
    cmp_pair_request(p, &bad);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_TARGET, &a);
    assert_int_equal(g->r[5].reason, CMP_REASON_UNPARSABLE);
    /* the session ends with a request unanswered on both sides */
    cmp_pair_request(p, &r);
    cmp_pair_finish(p);
    assert_int_equal(g->n, 7);
    assert_int_equal(g->r[6].reason, CMP_REASON_NO_ANSWER_ONLINE);
    assert_string_equal(cmp_reason_name(g->r[6].reason), "no_answer_online");
    assert_string_equal(cmp_verdict_name(g->r[6].verdict), "not_compared");
    cmp_pair_free(p);
    free(g);
}

static void test_over_limit(void **state)
{
    (void)state;
    struct cmp_pair *p;
    struct got *g = g_new(&p);
    struct cmp_req r = req("GET /slow", 0);
    struct cmp_unit a = ans("x", 0, 0);
    for (int i = 0; i < CMP_PAIR_SLOTS + 6; i++) {
        cmp_pair_request(p, &r);
        cmp_pair_answer(p, CMP_ONLINE, &a);
    }
    assert_int_equal(g->n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(g->r[i].index, i);
        assert_int_equal(g->r[i].reason, CMP_REASON_OVER_LIMIT);
    }
    assert_int_equal(cmp_pair_stats(p)->over_limit, 6);
    /* the target's answers to the given-up requests are dropped; the next ones pair */
    for (int i = 0; i < 7; i++)
        cmp_pair_answer(p, CMP_TARGET, &a);
    assert_int_equal(cmp_pair_stats(p)->dropped_late, 6);
    assert_int_equal(g->n, 7);
    assert_int_equal(g->r[6].index, 6);
    assert_int_equal(g->r[6].verdict, CMP_EQUAL);
    cmp_pair_finish(p);
    assert_int_equal(g->n, CMP_PAIR_SLOTS + 6);
    cmp_pair_free(p);
    free(g);
}

static void test_framer_stopped_and_push(void **state)
{
    (void)state;
    struct cmp_pair *p;
    struct got *g = g_new(&p);
    struct cmp_req r = req("GET", 0);
    struct cmp_unit a = ans("$1\r\na\r\n", 0, 0), push = ans(">2", CMP_U_PUSH, 0);
    struct cmp_unit dead = ans("?", CMP_U_UNPARSABLE | CMP_U_LAST, 0);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_TARGET, &push); /* answers no request */
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_TARGET, &a);
    assert_int_equal(g->r[0].verdict, CMP_EQUAL);
    cmp_pair_request(p, &r);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_TARGET, &dead);
    assert_int_equal(g->n, 1); /* the results wait for the online answers (latencies) */
    cmp_pair_request(p, &r);   /* a later request: the target will not answer it either */
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    assert_int_equal(g->n, 4);
    for (int i = 1; i < 4; i++)
        assert_int_equal(g->r[i].reason, CMP_REASON_UNPARSABLE);
    /* a framer stopped by a capture gap: incomplete, for later requests too */
    struct cmp_unit gap = ans("", CMP_U_INCOMPLETE | CMP_U_LAST, 0);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &gap);
    cmp_pair_request(p, &r);
    assert_int_equal(g->n, 6);
    assert_int_equal(g->r[4].reason, CMP_REASON_ONLINE_INCOMPLETE);
    assert_int_equal(g->r[5].reason, CMP_REASON_ONLINE_INCOMPLETE);
    assert_int_equal(cmp_pair_stats(p)->pushes, 1);
    cmp_pair_free(p);
    free(g);
    /* answers without requests are counted at the end */
    g = g_new(&p);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_ONLINE, &a);
    cmp_pair_answer(p, CMP_TARGET, &a);
    cmp_pair_finish(p);
    assert_int_equal(g->n, 1);
    assert_int_equal(cmp_pair_stats(p)->orphans, 1);
    cmp_pair_free(p);
    cmp_pair_free(NULL);
    free(g);
}

/* --compare-baseline: three answers per request. */
static void test_baseline(void **state)
{
    (void)state;
    struct cmp_pair *p;
    struct got *g = g_new(&p);
    cmp_pair_baseline(p);
    struct cmp_req r = req("GET /", 0);
    struct cmp_unit on = ans("id=1 ok", 0, 10), tg = ans("id=2 ok", 0, 20),
                    bl = ans("id=3 ok", 0, 30), tr = ans("id=2 KO", 0, 20),
                    cut = ans("id", CMP_U_INCOMPLETE, 0);
    /* noise: the baseline differs at the same place; the result waits for it */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    cmp_pair_answer(p, CMP_TARGET, &tg);
    assert_int_equal(g->n, 0);
    cmp_pair_answer(p, CMP_BASELINE, &bl);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->r[0].verdict, CMP_DIFFERENT);
    assert_true(g->r[0].noise);
    assert_false(g->r[0].baseline_missing);
    assert_int_equal(g->r[0].diff.offset, 3);
    assert_int_equal(g->r[0].target_us, 20);
    /* real: the target differs elsewhere too (the baseline's answer came first) */
    cmp_pair_answer(p, CMP_BASELINE, &bl);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_TARGET, &tr);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->r[1].verdict, CMP_DIFFERENT);
    assert_false(g->r[1].noise);
    assert_int_equal(g->r[1].diff.offset, 3);
    /* equal stays equal whatever the baseline said */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    cmp_pair_answer(p, CMP_TARGET, &on);
    cmp_pair_answer(p, CMP_BASELINE, &bl);
    assert_int_equal(g->r[2].verdict, CMP_EQUAL);
    /* the baseline's answer incomplete: the target's verdict stands, flagged */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    cmp_pair_answer(p, CMP_TARGET, &tg);
    cmp_pair_answer(p, CMP_BASELINE, &cut);
    assert_int_equal(g->n, 4);
    assert_int_equal(g->r[3].verdict, CMP_DIFFERENT);
    assert_false(g->r[3].noise);
    assert_true(g->r[3].baseline_missing);
    /* the baseline's connection ends: waiting results go on without it */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    cmp_pair_answer(p, CMP_TARGET, &tg);
    assert_int_equal(g->n, 4);
    cmp_pair_side_end(p, CMP_BASELINE, CMP_REASON_NO_ANSWER_TARGET);
    assert_int_equal(g->n, 5);
    assert_true(g->r[4].baseline_missing);
    assert_false(g->r[4].noise);
    /* and at the session's end */
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    cmp_pair_answer(p, CMP_TARGET, &tg);
    cmp_pair_finish(p);
    assert_int_equal(g->n, 6);
    assert_int_equal(g->r[5].verdict, CMP_DIFFERENT);
    assert_true(g->r[5].baseline_missing);
    assert_int_equal(cmp_pair_stats(p)->noise, 1);
    assert_int_equal(cmp_pair_stats(p)->baseline_missing, 3);
    cmp_pair_free(p);
    free(g);
    /* without cmp_pair_baseline a baseline answer is ignored and nothing waits for it */
    g = g_new(&p);
    cmp_pair_request(p, &r);
    cmp_pair_answer(p, CMP_BASELINE, &bl);
    cmp_pair_answer(p, CMP_ONLINE, &on);
    cmp_pair_answer(p, CMP_TARGET, &tg);
    assert_int_equal(g->n, 1);
    assert_false(g->r[0].noise);
    assert_false(g->r[0].baseline_missing);
    cmp_pair_free(p);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_incomplete_and_noreply),
        cmocka_unit_test(test_over_limit),
        cmocka_unit_test(test_framer_stopped_and_push),
        cmocka_unit_test(test_baseline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
