/*
 * cmp_html: DIR/report.html, the comparison's page for people: the verdict, the totals, the
 * endpoints that differ most with one example each, and the latency of each endpoint online
 * and on the target as inline SVG bars. One self-contained page (inline CSS and SVG, no script,
 * nothing fetched; a Content-Security-Policy forbids both), written to a FILE the caller opened.
 *
 * Every byte that came from traffic (endpoint names, sessions, excerpts) is hostile: it is
 * HTML-escaped, control bytes and invalid UTF-8 are shown as \xNN, and the page is bounded
 * whatever the summary holds (CMP_HTML_TOP endpoints and CMP_HTML_CHARTS charts at most).
 */
#ifndef TC_CMP_HTML_H
#define TC_CMP_HTML_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmp_report.h"

#define CMP_HTML_TOP 20     /* differing endpoints shown, most differences first */
#define CMP_HTML_CHARTS 24  /* latency charts, busiest endpoints first */
#define CMP_HTML_SESSION 64 /* bytes of a session's name ("address:port") */

/* One differing request shown as the example of its endpoint: a copy of what the page needs
 * from a cmp_result (about 700 bytes), so the wiring can keep the first one per endpoint
 * without keeping results. Excerpts are stored masked (cmp_html_example_set). */
struct cmp_html_example {
    char endpoint[CMP_ENDPOINT_MAX];
    char session[CMP_HTML_SESSION];
    uint64_t index;
    enum cmp_kind kind;
    uint64_t offset;
    bool exact;
    int64_t online_us, target_us; /* -1 when unknown */
    uint32_t reqlen, onlen, tglen;
    uint8_t req[CMP_REQ_TEXT];
    uint8_t online[CMP_DIFF_X + CMP_HEADER_TEXT];
    uint8_t target[CMP_DIFF_X + CMP_HEADER_TEXT];
};

/* The first example of each endpoint, CMP_SUM_ENDPOINTS at most (about 90 KB). */
struct cmp_html_examples {
    uint32_t n;
    uint64_t dropped; /* differences of endpoints that found the set full */
    struct cmp_html_example ex[CMP_SUM_ENDPOINTS];
};

/* Fill ex from r (a CMP_DIFFERENT result) and its session's name; mask (may be NULL) blanks
 * its matches with '*' in the request and both excerpts, as in mismatches.jsonl. */
void cmp_html_example_set(struct cmp_html_example *ex, const struct cmp_result *r,
                          const char *session, const regex_t *mask);

/* Keep r as its endpoint's example when the endpoint has none yet (a linear search by name:
 * call it for differences only). Returns true when kept. set starts zeroed. */
bool cmp_html_examples_add(struct cmp_html_examples *set, const struct cmp_result *r,
                           const char *session, const regex_t *mask);

/* Write report.html for s: ex[0..nex) are examples (at most one per endpoint is shown, the
 * first one found); started_s and now_s are the run's start and the page's time (seconds
 * since the epoch, shown in UTC). Returns 0, -EINVAL (no out or s) or -EIO. */
int cmp_html_write(FILE *out, const struct cmp_summary *s, const struct cmp_html_example *ex,
                   size_t nex, double started_s, double now_s);

/* Write s[0..n) HTML-escaped (for text and attribute values alike): & < > " ' become
 * entities, valid UTF-8 passes except bidirectional controls, any control byte or invalid
 * UTF-8 byte is shown as \xNN (bidi controls as \u{NNNN}) in a <span class=x>; with pre,
 * LF and TAB pass as themselves (inside a <pre>). */
void cmp_html_escape(FILE *out, const uint8_t *s, size_t n, bool pre);

#endif
