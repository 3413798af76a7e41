/*
 * test_cmp_report: the report writers. Golden tests: a recorded exchange per protocol
 * (tests/data/cmp/<proto>_requests.txt, _online.txt, _target.txt, optional _rules.txt) goes
 * through the framers and the pairer, and mismatches.jsonl and summary.json must match
 * <proto>_mismatches.jsonl and <proto>_summary.json byte for byte (TC_GOLDEN_UPDATE=1 rewrites
 * them). Also: JSON escaping of binary excerpts, the mask, the endpoint bound, and the
 * accuracy of the percentile estimator against exact order statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_feed.h"
#include "cmp_pair.h"
#include "cmp_report.h"

struct run {
    struct cmp_pair *pair;
    struct cmp_ansf *ans[2];
    uint64_t nans[2];
    struct cmp_summary *sum;
    FILE *jsonl;
    const regex_t *mask;
};

static void on_req(void *arg, const struct cmp_req *r)
{
    struct run *x = arg;
    cmp_ansf_expect(x->ans[0], r);
    cmp_ansf_expect(x->ans[1], r);
    cmp_pair_request(x->pair, r);
}

/* Deterministic latencies: online 1 ms + 0.25 ms per answer, the target 1.5x that. */
static void on_ans(struct run *x, enum cmp_side side, const struct cmp_unit *u)
{
    struct cmp_unit *c = malloc(sizeof(*c));
    *c = *u;
    uint64_t k = x->nans[side]++;
    c->lat_us = (1000 + 250 * k) * (side == CMP_ONLINE ? 2 : 3) / 2;
    cmp_pair_answer(x->pair, side, c);
    free(c);
}

static void on_online(void *arg, const struct cmp_unit *u)
{
    on_ans(arg, CMP_ONLINE, u);
}

static void on_target(void *arg, const struct cmp_unit *u)
{
    on_ans(arg, CMP_TARGET, u);
}

static void on_result(void *arg, const struct cmp_result *r)
{
    struct run *x = arg;
    cmp_summary_add(x->sum, r, false);
    if (r->verdict == CMP_DIFFERENT)
        cmp_report_line(x->jsonl, r, 1796666400.125 + (double)r->index, "192.0.2.10:40000",
                        x->mask);
}

static char *slurp(const char *name, size_t *n)
{
    const char *dir = getenv("TC_DATA");
    char path[512];
    snprintf(path, sizeof(path), "%s/cmp/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, (1 << 20) - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static void golden(const char *name, const char *got, size_t n)
{
    size_t en = 0;
    char *want = slurp(name, &en);
    if (getenv("TC_GOLDEN_UPDATE")) {
        const char *dir = getenv("TC_DATA");
        char path[512];
        snprintf(path, sizeof(path), "%s/cmp/%s", dir ? dir : "tests/data", name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(got, 1, n, f);
        fclose(f);
    } else {
        assert_non_null(want);
        if (en != n || memcmp(want, got, n) != 0)
            fprintf(stderr, "%s differs; got:\n%.*s\n", name, (int)n, got);
        assert_int_equal(en, n);
        assert_memory_equal(want, got, n);
    }
    free(want);
}

static void run_golden(const char *proto_name, enum cmp_proto proto, const char *mask_re)
{
    char name[64];
    size_t nreq, non, ntg, nrules = 0;
    snprintf(name, sizeof(name), "%s_requests.txt", proto_name);
    char *req = slurp(name, &nreq);
    snprintf(name, sizeof(name), "%s_online.txt", proto_name);
    char *on = slurp(name, &non);
    snprintf(name, sizeof(name), "%s_target.txt", proto_name);
    char *tg = slurp(name, &ntg);
    snprintf(name, sizeof(name), "%s_rules.txt", proto_name);
    char *rules_text = slurp(name, &nrules);
    assert_non_null(req);
    struct cmp_rules rules;
    cmp_rules_init(&rules);
    char err[256];
    for (char *save = NULL, *l = rules_text ? strtok_r(rules_text, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save))
        assert_int_equal(cmp_rules_add(&rules, l, err, sizeof(err)), 0);
    regex_t mask;
    if (mask_re)
        assert_int_equal(regcomp(&mask, mask_re, REG_EXTENDED), 0);
    char *jbuf = NULL, *sbuf = NULL;
    size_t jn = 0, sn = 0;
    struct run x = {.sum = cmp_summary_new(), .jsonl = open_memstream(&jbuf, &jn),
                    .mask = mask_re ? &mask : NULL};
    x.pair = cmp_pair_new(on_result, &x);
    x.ans[0] = cmp_ansf_new(proto, &rules, on_online, &x);
    x.ans[1] = cmp_ansf_new(proto, &rules, on_target, &x);
    struct cmp_reqf *rf = cmp_reqf_new(proto, on_req, &x);
    /* the session's order: the requests, then the answers of each side in pieces */
    feed_pieces(feed_req, rf, req, nreq, 3);
    feed_pieces(feed_ans, x.ans[0], on, non, 5);
    feed_pieces(feed_ans, x.ans[1], tg, ntg, 1);
    cmp_reqf_close(rf);
    cmp_ansf_close(x.ans[0]);
    cmp_ansf_close(x.ans[1]);
    cmp_pair_finish(x.pair);
    fclose(x.jsonl);
    FILE *sf = open_memstream(&sbuf, &sn);
    assert_int_equal(cmp_summary_write(x.sum, sf), 0);
    fclose(sf);
    snprintf(name, sizeof(name), "%s_mismatches.jsonl", proto_name);
    golden(name, jbuf, jn);
    snprintf(name, sizeof(name), "%s_summary.json", proto_name);
    golden(name, sbuf, sn);
    cmp_reqf_free(rf);
    cmp_ansf_free(x.ans[0]);
    cmp_ansf_free(x.ans[1]);
    cmp_pair_free(x.pair);
    cmp_summary_free(x.sum);
    cmp_rules_free(&rules);
    if (mask_re)
        regfree(&mask);
    free(jbuf), free(sbuf), free(req), free(on), free(tg), free(rules_text);
}

static void test_golden_http(void **state)
{
    (void)state;
    run_golden("http", CMP_PROTO_HTTP, NULL);
}

static void test_golden_resp(void **state)
{
    (void)state;
    run_golden("resp", CMP_PROTO_AUTO, "token=[a-z0-9]+");
}

static void test_golden_memcache(void **state)
{
    (void)state;
    run_golden("mc", CMP_PROTO_MC, NULL);
}

static void test_json_string(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    const uint8_t s[] = {'a', '"', '\\', '\n', 0, 0x1f, 0xc3, 0xa9, 0xff, 0xe2, 0x82, 'z', 0x7f};
    cmp_json_string(f, s, sizeof(s), NULL);
    fclose(f);
    assert_string_equal(buf, "\"a\\\"\\\\\\n\\u0000\\u001f\xc3\xa9\\u00ff\\u00e2\\u0082z\\u007f\"");
    free(buf);
    regex_t re;
    assert_int_equal(regcomp(&re, "[0-9]{4}", REG_EXTENDED), 0);
    f = open_memstream(&buf, &n);
    cmp_json_string(f, (const uint8_t *)"card 1234 5678 x", 16, &re);
    fclose(f);
    assert_string_equal(buf, "\"card **** **** x\"");
    free(buf);
    regfree(&re);
}

static void test_endpoint_bound(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    struct cmp_result r;
    memset(&r, 0, sizeof(r));
    r.online_us = r.target_us = -1;
    r.verdict = CMP_DIFFERENT;
    r.diff.kind = CMP_KIND_BODY;
    for (int i = 0; i < 300; i++) {
        snprintf(r.req.endpoint, sizeof(r.req.endpoint), "GET /e%03d", i);
        cmp_summary_add(s, &r, i % 2 == 1);
    }
    assert_int_equal(s->nep, CMP_SUM_ENDPOINTS);
    assert_string_equal(s->ep[CMP_SUM_ENDPOINTS - 1].name, "(other)");
    assert_int_equal(s->ep[CMP_SUM_ENDPOINTS - 1].requests, 300 - (CMP_SUM_ENDPOINTS - 1));
    assert_int_equal(s->compared, 300);
    assert_int_equal(s->noise, 150);
    assert_int_equal(s->different, 150);
    assert_int_equal(s->by_kind[CMP_KIND_BODY], 150);
    cmp_summary_free(s);
    cmp_summary_free(NULL);
}

static int u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void check_accuracy(uint64_t *v, size_t n)
{
    struct cmp_pct h;
    cmp_pct_init(&h);
    for (size_t i = 0; i < n; i++)
        cmp_pct_add(&h, v[i]);
    qsort(v, n, sizeof(v[0]), u64cmp);
    const double qs[] = {0.01, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        size_t rank = (size_t)(qs[i] * (double)n + 0.999999);
        double exact = (double)v[rank - 1], got = (double)cmp_pct_get(&h, qs[i]);
        assert_true(got >= exact * (1 - 1.0 / 32) - 1 && got <= exact * (1 + 1.0 / 32) + 1);
    }
    assert_int_equal(cmp_pct_get(&h, 1.0), v[n - 1]);
}

static void test_percentiles(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    unsigned seed = 7;
    for (size_t i = 0; i < n; i++) /* uniform, 0.1 .. 50 ms */
        v[i] = 100 + (uint64_t)rand_r(&seed) % 50000;
    check_accuracy(v, n);
    for (size_t i = 0; i < n; i++) { /* heavy tail: log-uniform 1 us .. 10 s */
        double e = (double)rand_r(&seed) / RAND_MAX * 23.25;
        v[i] = (uint64_t)1 << (unsigned)e;
        v[i] += v[i] * (uint64_t)(rand_r(&seed) % 1000) / 1000;
    }
    check_accuracy(v, n);
    for (size_t i = 0; i < 10; i++)
        v[i] = 3 + i;
    check_accuracy(v, 10);
    struct cmp_pct h;
    cmp_pct_init(&h);
    assert_int_equal(cmp_pct_get(&h, 0.5), 0);
    cmp_pct_add(&h, UINT64_MAX);
    assert_int_equal(cmp_pct_get(&h, 0.5), UINT64_MAX);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_http),
        cmocka_unit_test(test_golden_resp),
        cmocka_unit_test(test_golden_memcache),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_endpoint_bound),
        cmocka_unit_test(test_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
