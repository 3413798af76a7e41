/*
 * fuzz_html: report.html with hostile traffic. The input is cut into endpoint names, a
 * session, a request and two excerpts for a few results (verdicts, reasons, kinds and
 * latencies from its bytes too); the page is written and checked: every '<' opens one of the
 * page's own tags, no NUL byte, the whole page valid UTF-8 without bidirectional controls.
 * cmp_html_escape alone: no quote, no '<' other than its own <span class=x>.
 *
 * Input: [n results][per result: flags, len, bytes...]...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp_html.h"
#include "fuzz_util.h"

static const char *const tags[] = {
    "<!DOCTYPE", "<html", "</html", "<head", "</head", "<meta", "<title", "</title", "<style",
    "</style", "<body", "</body", "<h1", "</h1", "<h2", "</h2", "<h3", "</h3", "<p", "</p",
    "<div", "</div", "<span", "</span", "<table", "</table", "<tr", "</tr", "<th", "</th", "<td",
    "</td", "<pre", "</pre", "<code", "</code", "<b>", "</b>", "<figure", "</figure", "<svg",
    "</svg", "<text", "</text", "<rect", "</rect"};

static void check_tags(const char *s, size_t n)
{
    for (const char *p = memchr(s, '<', n); p; p = memchr(p + 1, '<', n - (size_t)(p + 1 - s))) {
        int known = 0;
        for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]) && !known; i++)
            known = strncmp(p, tags[i], strlen(tags[i])) == 0;
        CHECK(known);
    }
}

/* Valid UTF-8 (RFC 3629) with no bidirectional override or isolate (U+202A..E, U+2066..9). */
static void check_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        CHECK(k > 0 && i + k <= n);
        uint32_t cp = k == 1 ? c : c & (0x7f >> k);
        for (size_t j = 1; j < k; j++) {
            CHECK((s[i + j] & 0xc0) == 0x80);
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        CHECK(!(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069));
        CHECK(!(k == 3 && cp < 0x800) && !(k == 4 && cp < 0x10000) && cp <= 0x10ffff);
        CHECK(!(cp >= 0xd800 && cp <= 0xdfff));
        i += k;
    }
}

/* The next piece of the input: its length byte, then up to cap bytes. */
static size_t take(const uint8_t **p, size_t *n, uint8_t *dst, size_t cap)
{
    if (*n == 0)
        return 0;
    size_t k = **p;
    (*p)++, (*n)--;
    if (k > *n)
        k = *n;
    if (k > cap)
        k = cap;
    memcpy(dst, *p, k);
    *p += k, *n -= k;
    return k;
}

static void escape_alone(const uint8_t *data, size_t size)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    cmp_html_escape(f, data, size, size > 0 && data[0] & 1);
    CHECK(fclose(f) == 0);
    CHECK(memchr(buf, '"', len) == NULL && memchr(buf, '\'', len) == NULL);
    CHECK(memchr(buf, '\0', len) == NULL);
    for (const char *p = memchr(buf, '<', len); p; p = memchr(p + 1, '<', len - (size_t)(p + 1 - buf)))
        CHECK(strncmp(p, "<span class=x>", 14) == 0 || strncmp(p, "</span>", 7) == 0);
    check_utf8((const uint8_t *)buf, len);
    free(buf);
}

static void one_result(struct cmp_summary *s, struct cmp_html_examples *set, const uint8_t **p,
                       size_t *n)
{
    static struct cmp_result r;
    memset(&r, 0, sizeof(r));
    uint8_t fl = **p;
    (*p)++, (*n)--;
    r.verdict = (enum cmp_verdict)(fl % 3);
    r.reason = (enum cmp_reason)(1 + (fl >> 2) % (CMP_REASON_COUNT - 1));
    r.diff.kind = (enum cmp_kind)(1 + (fl >> 4) % CMP_KIND_CLOSED);
    r.diff.exact = fl & 0x80;
    r.online_us = fl & 0x40 ? -1 : (int64_t)fl * 997;
    r.target_us = fl & 0x20 ? -1 : (int64_t)fl * 1409;
    take(p, n, (uint8_t *)r.req.endpoint, sizeof(r.req.endpoint) - 1);
    char session[CMP_HTML_SESSION] = "";
    take(p, n, (uint8_t *)session, sizeof(session) - 1);
    r.req.textlen = (uint32_t)take(p, n, r.req.text, sizeof(r.req.text));
    r.diff.alen = (uint32_t)take(p, n, r.diff.a, sizeof(r.diff.a));
    r.diff.blen = (uint32_t)take(p, n, r.diff.b, sizeof(r.diff.b));
    cmp_summary_add(s, &r, fl & 8);
    if (r.verdict == CMP_DIFFERENT)
        cmp_html_examples_add(set, &r, session, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    escape_alone(data, size);
    static struct cmp_html_examples set;
    memset(&set, 0, sizeof(set));
    struct cmp_summary *s = cmp_summary_new();
    CHECK(s != NULL);
    const uint8_t *p = data;
    size_t n = size;
    for (int i = 0; i < 64 && n > 0; i++)
        one_result(s, &set, &p, &n);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    CHECK(cmp_html_write(f, s, set.ex, set.n, 1.8e9, 1.8e9 + 60) == 0);
    CHECK(fclose(f) == 0);
    CHECK(memchr(buf, '\0', len) == NULL);
    check_tags(buf, len);
    check_utf8((const uint8_t *)buf, len);
    free(buf);
    cmp_summary_free(s);
    return 0;
}
