/*
 * test_cmp_html: report.html. Escaping of hostile bytes (markup, quotes, control bytes,
 * invalid UTF-8, bidirectional controls), the verdict for an empty summary, for one where
 * nothing could be compared, for all equal and for differences; the caps on endpoints and
 * charts; the percentiles and ratios shown; the examples kept (first per endpoint, masked).
 *
 * The fixture page (a run with hostile excerpts) is compared with tests/data/cmp/report.html
 * (TC_GOLDEN_UPDATE=1 rewrites it) and, when TC_HTML_OUT names a file, also written there: the
 * browser scenario tests/lab/test_compare_report.sh opens that file in headless Chromium.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_html.h"

/* The page for s and ex as a string (caller frees). */
static char *page(const struct cmp_summary *s, const struct cmp_html_example *ex, size_t nex,
                  size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(cmp_html_write(f, s, ex, nex, 1796643600.0, 1796643725.5), 0);
    assert_int_equal(fclose(f), 0);
    if (len)
        *len = n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t k = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        k++;
    return k;
}

static char *escaped(const void *s, size_t n, bool pre)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cmp_html_escape(f, s, n, pre);
    fclose(f);
    return buf;
}

static void result(struct cmp_result *r, const char *ep, enum cmp_verdict v, int64_t on_us,
                   int64_t tg_us)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->req.endpoint, sizeof(r->req.endpoint), "%s", ep);
    r->verdict = v;
    r->online_us = on_us;
    r->target_us = tg_us;
    if (v == CMP_DIFFERENT)
        r->diff.kind = CMP_KIND_BODY;
}

static void test_escape(void **state)
{
    (void)state;
    char *e = escaped("a<b>&\"c'd", 9, false);
    assert_string_equal(e, "a&lt;b&gt;&amp;&quot;c&#39;d");
    free(e);
    /* control bytes, DEL, CR LF: shown; valid UTF-8 passes; invalid bytes shown one by one */
    const uint8_t ctl[] = {'x', 0, 0x1b, 0x7f, '\r', '\n', 0xc3, 0xa9, 0xff, 0xe2, 0x82, 'z',
                           0xc0, 0xaf, 0xed, 0xa0, 0x80};
    e = escaped(ctl, sizeof(ctl), false);
    assert_string_equal(e, "x<span class=x>\\x00\\x1b\\x7f\\r\\n\n</span>\xc3\xa9"
                           "<span class=x>\\xff\\xe2\\x82</span>z"
                           "<span class=x>\\xc0\\xaf\\xed\\xa0\\x80</span>");
    free(e);
    /* in a <pre>, LF and TAB are themselves; CR is still shown */
    e = escaped("GET / HTTP/1.1\r\n\tx", 18, true);
    assert_string_equal(e, "GET / HTTP/1.1<span class=x>\\r</span>\n\tx");
    free(e);
    /* a right-to-left override and a C1 control are shown by number, never obeyed */
    e = escaped("a\xe2\x80\xae" "b\xc2\x85", 7, false);
    assert_string_equal(e, "a<span class=x>\\u{202e}</span>b<span class=x>\\u{0085}</span>");
    free(e);
    e = escaped("", 0, true);
    assert_string_equal(e, "");
    free(e);
    /* a truncated sequence at the end */
    e = escaped("\xf0\x9f\x98", 3, false);
    assert_string_equal(e, "<span class=x>\\xf0\\x9f\\x98</span>");
    free(e);
    e = escaped("\xf0\x9f\x98\x80", 4, false);
    assert_string_equal(e, "\xf0\x9f\x98\x80");
    free(e);
}

/* The page holds no markup other than its own: every '<' starts one of the page's tags. */
static void assert_tags_known(const char *html)
{
    static const char *const ok[] = {
        "<!DOCTYPE", "<html", "</html", "<head", "</head", "<meta", "<title", "</title",
        "<style", "</style", "<body", "</body", "<h1", "</h1", "<h2", "</h2", "<h3", "</h3",
        "<p", "</p", "<div", "</div", "<span", "</span", "<table", "</table", "<tr", "</tr",
        "<th", "</th", "<td", "</td", "<pre", "</pre", "<code", "</code", "<b>", "</b>",
        "<figure", "</figure", "<svg", "</svg", "<text", "</text", "<rect", "</rect"};
    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        bool known = false;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]) && !known; i++)
            known = strncmp(p, ok[i], strlen(ok[i])) == 0;
        if (!known)
            fail_msg("unexpected markup at: %.40s", p);
    }
}

static void test_empty(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    char *h = page(s, NULL, 0, NULL);
    assert_non_null(strstr(h, "id=verdict>Nothing compared yet<p>"));
    assert_non_null(strstr(h, "class=\"verdict none\""));
    assert_null(strstr(h, "id=top>"));
    assert_non_null(strstr(h, "No latency was measured."));
    assert_non_null(strstr(h, "every request seen was compared"));
    assert_non_null(strstr(h, "2026-12-07 11:40:00&nbsp;UTC to 2026-12-07 11:42:05&nbsp;UTC (126&nbsp;s)"));
    assert_non_null(strstr(h, "Content-Security-Policy content=\"default-src 'none'"));
    assert_null(strstr(h, "<script"));
    assert_tags_known(h);
    free(h);
    assert_int_equal(cmp_html_write(NULL, s, NULL, 0, 0, 0), -EINVAL);
    assert_int_equal(cmp_html_write(stdout, NULL, NULL, 0, 0, 0), -EINVAL);
    /* a write that fails is reported */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        setvbuf(full, NULL, _IONBF, 0);
        assert_int_equal(cmp_html_write(full, s, NULL, 0, 0, 0), -EIO);
        fclose(full);
    }
    cmp_summary_free(s);
}

static void test_only_not_compared(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    struct cmp_result r;
    for (int i = 0; i < 5; i++) {
        result(&r, "GET /a", CMP_NOT_COMPARED, 1000, -1);
        r.reason = i < 3 ? CMP_REASON_NO_ANSWER_TARGET : CMP_REASON_ONLINE_INCOMPLETE;
        cmp_summary_add(s, &r, false);
    }
    char *h = page(s, NULL, 0, NULL);
    assert_non_null(strstr(h, "id=verdict>Nothing compared: the 5 requests seen could not be "
                              "compared<p>Mostly because the target did not answer (3)."));
    assert_non_null(strstr(h, "<td>the target did not answer (no_answer_target)</td><td "
                              "class=n>3</td>"));
    assert_non_null(strstr(h, "(online_incomplete)</td><td class=n>2</td>"));
    assert_non_null(strstr(h, "id=\"t-not-compared\">5<"));
    assert_non_null(strstr(h, "id=\"t-compared\">0<"));
    assert_null(strstr(h, "verdict bad"));
    /* the online latencies were measured: a chart with no target data */
    assert_non_null(strstr(h, "target no data</text>"));
    assert_non_null(strstr(h, "&#215;&ndash;"));
    free(h);
    cmp_summary_free(s);
}

static void test_verdicts(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    struct cmp_result r;
    for (int i = 0; i < 4; i++) {
        result(&r, i % 2 ? "GET /b" : "GET /a", CMP_EQUAL, 1000, 1000);
        cmp_summary_add(s, &r, false);
    }
    result(&r, "GET /a", CMP_DIFFERENT, 1000, 1000);
    cmp_summary_add(s, &r, true); /* noise */
    char *h = page(s, NULL, 0, NULL);
    assert_non_null(strstr(h, "class=\"verdict ok\" id=verdict>No difference: the 5 compared "
                              "requests got the same answers<p>1 more difference also showed "
                              "on the baseline: counted as noise.</p>"));
    free(h);
    cmp_summary_add(s, &r, false);
    r.verdict = CMP_NOT_COMPARED;
    r.reason = CMP_REASON_UNPARSABLE;
    cmp_summary_add(s, &r, false);
    h = page(s, NULL, 0, NULL);
    assert_non_null(strstr(h, "class=\"verdict bad\" id=verdict>1 of 6 compared requests "
                              "differs, in 1 endpoint<p>1 more difference"));
    assert_non_null(strstr(h, "<p>1 request was not compared, mostly because a request or an "
                              "answer could not be framed.</p>"));
    assert_non_null(strstr(h, "No example was kept for this endpoint."));
    assert_non_null(strstr(h, "the body differs (body)</td><td class=n>1</td>"));
    assert_int_equal(count(h, "<div class=ep>"), 1);
    free(h);
    cmp_summary_free(s);
}

static void test_many_endpoints(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    static struct cmp_html_examples set;
    memset(&set, 0, sizeof(set));
    struct cmp_result r;
    char ep[64];
    for (int i = 0; i < 300; i++) {
        snprintf(ep, sizeof(ep), "GET /e%03d", i);
        for (int k = 0; k <= i % 7; k++) { /* e006, e013, ...: 7 differences each */
            result(&r, ep, CMP_DIFFERENT, 1000 + i, 2000 + i);
            r.diff.alen = r.diff.blen = sizeof(r.diff.a); /* the largest excerpts */
            memset(r.diff.a, '<', sizeof(r.diff.a));
            memset(r.diff.b, 0xff, sizeof(r.diff.b));
            cmp_summary_add(s, &r, false);
            cmp_html_examples_add(&set, &r, "192.0.2.1:1", NULL);
        }
    }
    assert_int_equal(set.n, CMP_SUM_ENDPOINTS);
    assert_true(set.dropped > 0);
    size_t len;
    char *h = page(s, set.ex, set.n, &len);
    assert_int_equal(count(h, "<div class=ep>"), CMP_HTML_TOP);
    assert_int_equal(count(h, "<figure class=chart>"), CMP_HTML_CHARTS);
    assert_non_null(strstr(h, "id=top-more>"));
    assert_non_null(strstr(h, "id=charts-more>"));
    assert_non_null(strstr(h, "counted together as (other)"));
    /* most differences first: (other) has 172 endpoints' worth, then e006 (7), by name */
    const char *other = strstr(h, "<h3>(other)</h3>"), *e6 = strstr(h, "<h3>GET /e006</h3>");
    const char *e13 = strstr(h, "<h3>GET /e013</h3>");
    assert_non_null(other);
    assert_non_null(e6);
    assert_non_null(e13);
    assert_true(other < e6 && e6 < e13);
    /* (other) shows an example of an endpoint not counted apart */
    assert_non_null(strstr(other, "(<code>GET /e127</code>)"));
    assert_true(len < 400 * 1024); /* bounded whatever the summary holds */
    assert_tags_known(h);
    free(h);
    cmp_summary_free(s);
}

static void test_percentiles_shown(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    struct cmp_result r;
    for (int i = 1; i <= 1000; i++) {
        result(&r, "GET /slow", CMP_EQUAL, 1000 * i, 3000 * i); /* 1 .. 1000 ms, 3x */
        cmp_summary_add(s, &r, false);
    }
    char *h = page(s, NULL, 0, NULL);
    const struct cmp_ep_stats *e = &s->ep[0];
    static const double q[] = {.5, .9, .99};
    char want[160];
    for (int i = 0; i < 3; i++) {
        uint64_t on = cmp_pct_get(&e->online, q[i]), tg = cmp_pct_get(&e->target, q[i]);
        assert_true(on > 0 && tg > on);
        snprintf(want, sizeof(want), ">online %.0f&nbsp;ms</text>", (double)on / 1e3);
        assert_non_null(strstr(h, want));
        snprintf(want, sizeof(want), ">target %.0f&nbsp;ms</text>", (double)tg / 1e3);
        assert_non_null(strstr(h, want));
        snprintf(want, sizeof(want), "&#215;%.2f</text>", (double)tg / (double)on);
        assert_non_null(strstr(h, want));
    }
    /* p50 near 500 ms online and 1500 ms target, within the histogram's 3.2 % */
    assert_true(cmp_pct_get(&e->online, .5) > 484000 && cmp_pct_get(&e->online, .5) < 517000);
    double ratio = (double)cmp_pct_get(&e->target, .5) / (double)cmp_pct_get(&e->online, .5);
    assert_true(ratio > 2.8 && ratio < 3.2);
    assert_non_null(strstr(h, "1000 online and 1000 target latencies measured"));
    /* the longest bar is the target's p99 */
    assert_non_null(strstr(h, "width=300 height=14"));
    assert_int_equal(count(h, "<rect "), 6);
    free(h);
    cmp_summary_free(s);
}

static void test_examples(void **state)
{
    (void)state;
    static struct cmp_html_examples set;
    memset(&set, 0, sizeof(set));
    struct cmp_result r;
    result(&r, "GET /card", CMP_DIFFERENT, 500, 700);
    r.index = 3;
    r.diff.kind = CMP_KIND_HEADER;
    memcpy(r.req.text, "GET /card?n=4111222233334444 HTTP/1.1", 37);
    r.req.textlen = 37;
    memcpy(r.diff.a, "card 1234 5678", 14), r.diff.alen = 14;
    memcpy(r.diff.b, "card 1234 9999", 14), r.diff.blen = 14;
    regex_t re;
    assert_int_equal(regcomp(&re, "[0-9]{4}", REG_EXTENDED), 0);
    assert_true(cmp_html_examples_add(&set, &r, "198.51.100.10:40000", &re));
    r.index = 9;
    assert_false(cmp_html_examples_add(&set, &r, "198.51.100.10:40001", &re)); /* not first */
    regfree(&re);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.ex[0].index, 3);
    assert_memory_equal(set.ex[0].online, "card **** ****", 14);
    assert_memory_equal(set.ex[0].req, "GET /card?n=**************** HTTP/1.1", 37);
    struct cmp_summary *s = cmp_summary_new();
    cmp_summary_add(s, &r, false);
    char *h = page(s, set.ex, set.n, NULL);
    assert_non_null(strstr(h, "Example: request <b>#3</b> of session <code>198.51.100.10:40000"
                              "</code>: a header differs (header) at "
                              "byte 0 (in the block starting there). Online 500&nbsp;&micro;s, "
                              "target 700&nbsp;&micro;s."));
    assert_non_null(strstr(h, "<pre class=target>card **** ****</pre>"));
    free(h);
    cmp_summary_free(s);
}

/* --- the fixture page: a run with hostile excerpts ------------------------------------- */

static void fx_diff(struct cmp_summary *s, struct cmp_html_examples *set, const char *ep,
                    const char *req, const char *on, const char *tg, enum cmp_kind kind,
                    uint64_t index, int64_t on_us, int64_t tg_us)
{
    struct cmp_result r;
    result(&r, ep, CMP_DIFFERENT, on_us, tg_us);
    r.index = index;
    r.diff.kind = kind;
    r.diff.exact = true;
    r.diff.offset = 12;
    r.req.textlen = (uint32_t)strlen(req);
    memcpy(r.req.text, req, r.req.textlen);
    r.diff.alen = (uint32_t)strlen(on);
    memcpy(r.diff.a, on, r.diff.alen);
    r.diff.blen = (uint32_t)strlen(tg);
    memcpy(r.diff.b, tg, r.diff.blen);
    cmp_summary_add(s, &r, false);
    char session[32];
    snprintf(session, sizeof(session), "198.51.100.10:%u", 40000 + (unsigned)(index % 500));
    cmp_html_examples_add(set, &r, session, NULL);
}

static void fx_equal(struct cmp_summary *s, const char *ep, int n, int64_t on_us,
                     int64_t tg_us)
{
    struct cmp_result r;
    for (int i = 0; i < n; i++) {
        result(&r, ep, CMP_EQUAL, on_us + (i % 50) * on_us / 25, tg_us + (i % 50) * tg_us / 25);
        cmp_summary_add(s, &r, false);
    }
}

static void fixture(struct cmp_summary *s, struct cmp_html_examples *set)
{
    fx_equal(s, "GET /api/user", 900, 1200, 1300);
    fx_equal(s, "GET /static/app.js", 2400, 300, 280);
    fx_equal(s, "GET /slow", 400, 2000, 52000);
    fx_equal(s, "GET /search", 300, 4000, 4400);
    for (int i = 0; i < 12; i++)
        fx_diff(s, set, "GET /api/user", "GET /api/user?id=7 HTTP/1.1",
                "{\"id\":7,\"name\":\"Ada\",\"plan\":\"pro\"}",
                "{\"id\":7,\"name\":\"Bob\",\"plan\":\"pro\"}", CMP_KIND_BODY, 40 + i, 1250,
                1875);
    for (int i = 0; i < 5; i++)
        fx_diff(s, set, "GET /search",
                "GET /search?q=%3Cscript%3E HTTP/1.1",
                "<h1>Results for <b>x</b></h1>\r\n",
                "<script>document.documentElement.setAttribute(\"data-pwned\",\"yes\")"
                "</script>\x01\xff\xfe tail",
                CMP_KIND_BODY, 7 + i, 4100, 4500);
    fx_diff(s, set, "POST /login", "POST /login HTTP/1.1", "HTTP/1.1 302 Found",
            "HTTP/1.1 500 Internal Server Error", CMP_KIND_STATUS, 0, 8000, 9500);
    fx_diff(s, set, "GET /<img src=x onerror=alert(1)>",
            "GET /<img src=x onerror=alert(1)> HTTP/1.1", "HTTP/1.1 404 Not Found",
            "HTTP/1.1 400 Bad Request", CMP_KIND_STATUS, 1, 600, 650);
    struct cmp_result r;
    for (int i = 0; i < 9; i++) {
        result(&r, "GET /api/user", CMP_NOT_COMPARED, 1100, -1);
        r.reason = i < 6 ? CMP_REASON_TARGET_INCOMPLETE : CMP_REASON_NO_ANSWER_TARGET;
        cmp_summary_add(s, &r, false);
    }
    result(&r, "GET /static/app.js", CMP_DIFFERENT, 310, 290);
    cmp_summary_add(s, &r, true); /* noise: the baseline differed too */
}

static void golden(const char *got, size_t n)
{
    const char *dir = getenv("TC_DATA");
    assert_non_null(dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/cmp/report.html", dir);
    if (getenv("TC_GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fwrite(got, 1, n, f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *want = malloc(n + 2);
    size_t m = fread(want, 1, n + 1, f);
    fclose(f);
    if (m != n || memcmp(want, got, n) != 0)
        fail_msg("%s differs from the page written (TC_GOLDEN_UPDATE=1 rewrites it)", path);
    free(want);
}

static void test_fixture_page(void **state)
{
    (void)state;
    struct cmp_summary *s = cmp_summary_new();
    static struct cmp_html_examples set;
    memset(&set, 0, sizeof(set));
    fixture(s, &set);
    size_t n;
    char *h = page(s, set.ex, set.n, &n);
    assert_non_null(strstr(h, "19 of 4020 compared requests differ, in 4 endpoints"));
    assert_non_null(strstr(h, "&lt;script&gt;document.documentElement.setAttribute(&quot;"
                              "data-pwned&quot;,&quot;yes&quot;)&lt;/script&gt;<span class=x>"
                              "\\x01\\xff\\xfe</span> tail</pre>"));
    assert_non_null(strstr(h, "<h3>GET /&lt;img src=x onerror=alert(1)&gt;</h3>"));
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "<img"));
    assert_tags_known(h);
    golden(h, n);
    const char *out = getenv("TC_HTML_OUT");
    if (out) {
        FILE *f = fopen(out, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(h, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
    free(h);
    cmp_summary_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_only_not_compared),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_many_endpoints),
        cmocka_unit_test(test_percentiles_shown),
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_fixture_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
