/*
 * fuzz_cmp: drive the comparison core with arbitrary bytes: a request stream and two answer
 * streams through the framers (the first byte picks the protocol, with auto, MySQL and
 * PostgreSQL among them, and
 * how the streams are cut into pieces), the pairer and the report writers; and the JSON path
 * filter alone; capture gaps now and then. Checks: one result per request, each unit equal to itself, the filter never
 * invents or loses bytes, the writers accept every result. With rules bit 1 a baseline
 * (--compare-baseline) gets the target's answers again: every difference it can name
 * (all but a header one past the kept header lines) is then noise.
 *
 * Input: [proto+split][rules][reqlen hi][reqlen lo][onlen hi][onlen lo] requests online target
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp_diff.h"
#include "cmp_frame.h"
#include "cmp_json.h"
#include "cmp_pair.h"
#include "cmp_report.h"
#include "fuzz_util.h"

struct run {
    struct cmp_pair *pair;
    struct cmp_ansf *ans[3];
    bool baseline;
    struct cmp_summary *sum;
    FILE *out;
    uint64_t requests, results;
};

static void on_req(void *arg, const struct cmp_req *r)
{
    struct run *x = arg;
    CHECK(r->textlen <= CMP_REQ_TEXT);
    CHECK(memchr(r->endpoint, '\0', sizeof(r->endpoint)) != NULL);
    x->requests++;
    cmp_ansf_expect(x->ans[0], r);
    cmp_ansf_expect(x->ans[1], r);
    if (x->baseline)
        cmp_ansf_expect(x->ans[2], r);
    cmp_pair_request(x->pair, r);
}

static void on_ans(struct run *x, enum cmp_side side, const struct cmp_unit *u)
{
    struct cmp_diff d;
    CHECK(cmp_diff_units(u, u, &d));
    CHECK(u->body.nblocks <= CMP_NBLOCKS);
    cmp_pair_answer(x->pair, side, u);
}

static void on_online(void *arg, const struct cmp_unit *u)
{
    on_ans(arg, CMP_ONLINE, u);
}

static void on_target(void *arg, const struct cmp_unit *u)
{
    on_ans(arg, CMP_TARGET, u);
}

static void on_baseline(void *arg, const struct cmp_unit *u)
{
    on_ans(arg, CMP_BASELINE, u);
}

static void on_result(void *arg, const struct cmp_result *r)
{
    struct run *x = arg;
    x->results++;
    CHECK(!r->noise || (x->baseline && r->verdict == CMP_DIFFERENT));
    CHECK(x->baseline || !r->baseline_missing);
    if (x->baseline && r->verdict == CMP_DIFFERENT && !r->baseline_missing &&
        r->diff.kind != CMP_KIND_HEADER)
        CHECK(r->noise);
    CHECK(r->diff.alen <= sizeof(r->diff.a) && r->diff.blen <= sizeof(r->diff.b));
    cmp_summary_add(x->sum, r, r->noise || r->index % 3 == 0);
    if (r->verdict == CMP_DIFFERENT)
        CHECK(cmp_report_line(x->out, r, 1.5, "192.0.2.1:1", NULL) == 0);
}

/* Feed p in pieces whose sizes follow the bits of cut; raw answers end at each piece. */
static void pieces(void (*feed)(void *, const uint8_t *, size_t), void *f, const uint8_t *p,
                   size_t n, unsigned cut)
{
    unsigned i = 0;
    while (n > 0) {
        size_t k = 1 + (((cut >> (i++ % 8)) & 1) ? 0 : (size_t)(cut * 7 + i) % 97);
        if (k > n)
            k = n;
        feed(f, p, k);
        p += k, n -= k;
    }
}

static void feed_req(void *f, const uint8_t *p, size_t n)
{
    cmp_reqf_feed(f, p, n);
    if (n == 1)
        cmp_reqf_end(f);
}

static void feed_ans(void *f, const uint8_t *p, size_t n)
{
    cmp_ansf_feed(f, p, n);
    if (n == 1)
        cmp_ansf_end(f);
    if (n == 2)
        cmp_ansf_gap(f, p[0] % 16); /* a capture gap now and then */
}

static void json_count(void *arg, const uint8_t *p, size_t n)
{
    (void)p;
    *(uint64_t *)arg += n;
}

static void fuzz_json(const uint8_t *p, size_t n)
{
    static struct cmp_jpath paths[3];
    static int ready;
    char err[128];
    if (!ready) {
        CHECK(cmp_jpath_parse(&paths[0], "$.a.b", err, sizeof(err)));
        CHECK(cmp_jpath_parse(&paths[1], "$[*].id", err, sizeof(err)));
        CHECK(cmp_jpath_parse(&paths[2], "$.x[2].*", err, sizeof(err)));
        ready = 1;
    }
    struct cmp_json j;
    uint64_t kept = 0;
    cmp_json_init(&j, paths, 3);
    cmp_json_feed(&j, p, n / 2, json_count, &kept);
    cmp_json_feed(&j, p + n / 2, n - n / 2, json_count, &kept);
    CHECK(kept + j.dropped == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cmp_rules rules;
    static FILE *devnull;
    if (!devnull) {
        char err[128];
        devnull = fopen("/dev/null", "w");
        cmp_rules_init(&rules);
        CHECK(cmp_rules_add(&rules, "json:$.meta.id", err, sizeof(err)) == 0);
        CHECK(cmp_rules_add(&rules, "regex:[0-9]{3,}", err, sizeof(err)) == 0);
        CHECK(cmp_rules_add(&rules, "header:X-Id", err, sizeof(err)) == 0);
    }
    if (size < 6)
        return 0;
    enum cmp_proto proto = (enum cmp_proto)(data[0] % 7);
    unsigned cut = data[0] / 7 + 1;
    const struct cmp_rules *r = (data[1] & 1) ? &rules : NULL;
    size_t n = size - 6, reqn = ((size_t)data[2] << 8 | data[3]) % (n + 1);
    size_t onn = ((size_t)data[4] << 8 | data[5]) % (n - reqn + 1);
    const uint8_t *req = data + 6, *on = req + reqn, *tg = on + onn;
    size_t tgn = n - reqn - onn;

    struct run x = {.sum = cmp_summary_new(), .out = devnull, .baseline = (data[1] & 2) != 0};
    x.pair = cmp_pair_new(on_result, &x);
    if (x.pair && x.baseline) {
        cmp_pair_baseline(x.pair);
        x.ans[2] = cmp_ansf_new(proto, r, on_baseline, &x);
        CHECK(x.ans[2]);
    }
    x.ans[0] = cmp_ansf_new(proto, r, on_online, &x);
    x.ans[1] = cmp_ansf_new(proto, r, on_target, &x);
    struct cmp_reqf *rf = cmp_reqf_new(proto, on_req, &x);
    CHECK(x.sum && x.pair && x.ans[0] && x.ans[1] && rf);
    pieces(feed_req, rf, req, reqn, cut);
    pieces(feed_ans, x.ans[0], on, onn, cut * 3);
    pieces(feed_ans, x.ans[1], tg, tgn, cut * 5);
    if (x.baseline)
        pieces(feed_ans, x.ans[2], tg, tgn, cut * 5);
    cmp_reqf_close(rf);
    cmp_ansf_close(x.ans[0]);
    cmp_ansf_close(x.ans[1]);
    if (x.baseline)
        cmp_ansf_close(x.ans[2]);
    cmp_pair_finish(x.pair);
    CHECK(x.results == x.requests);
    CHECK(cmp_summary_write(x.sum, devnull) == 0);
    cmp_reqf_free(rf);
    cmp_ansf_free(x.ans[0]);
    cmp_ansf_free(x.ans[1]);
    cmp_ansf_free(x.ans[2]);
    cmp_pair_free(x.pair);
    cmp_summary_free(x.sum);
    fuzz_json(data, size);
    return 0;
}
