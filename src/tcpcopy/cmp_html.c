/*
 * cmp_html: report.html (see cmp_html.h).
 *
 * The page is written in one pass from the summary; nothing is allocated. Text that came from
 * traffic only ever goes into element content (never into an attribute, a style or the SVG),
 * through cmp_html_escape. The Content-Security-Policy is a second wall: even a tag that got
 * through would neither run a script nor fetch anything.
 */
#include "cmp_html.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp_noise.h"

/* Length of a valid UTF-8 sequence at s (RFC 3629 section 4), or 0; its code point in *cp. */
static size_t utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
    size_t k;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        k = 2, *cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        k = 3, *cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        k = 4, *cp = s[0] & 0x07;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) ||
        (k == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
        return 0; /* overlong, surrogate or out of range */
    return k;
}

/* Code points that reorder or hide the text around them (the "Trojan Source" controls, C1
 * controls, the line separators): shown by number, never obeyed. */
static bool cp_hidden(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c ||
           cp == 0x2028 || cp == 0x2029 || cp == 0xfeff;
}

void cmp_html_escape(FILE *out, const uint8_t *s, size_t n, bool pre)
{
    bool in_x = false; /* inside a <span class=x> run of shown bytes */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        uint32_t cp = 0;
        size_t k = c >= 0x80 ? utf8_seq(s + i, n - i, &cp) : 1;
        bool shown = (c < 0x20 && !(pre && (c == '\n' || c == '\t'))) || c == 0x7f || k == 0 ||
                     (k > 1 && cp_hidden(cp));
        if (shown != in_x) {
            fputs(shown ? "<span class=x>" : "</span>", out);
            in_x = shown;
        }
        if (shown && k > 1)
            fprintf(out, "\\u{%04x}", (unsigned)cp);
        else if (shown && (c == '\r' || c == '\n'))
            fputs(c == '\r' ? "\\r" : "\\n", out);
        else if (shown)
            fprintf(out, "\\x%02x", c);
        else if (c == '&')
            fputs("&amp;", out);
        else if (c == '<')
            fputs("&lt;", out);
        else if (c == '>')
            fputs("&gt;", out);
        else if (c == '"')
            fputs("&quot;", out);
        else if (c == '\'')
            fputs("&#39;", out);
        else
            fwrite(s + i, 1, k, out);
        if (k > 1)
            i += k - 1;
        if (shown && c == '\n')
            fputc('\n', out); /* outside a <pre> too, a CR LF excerpt keeps its lines */
    }
    if (in_x)
        fputs("</span>", out);
}

/* An endpoint's name: NUL-terminated in its CMP_ENDPOINT_MAX bytes, or cut there. */
static void esc_name(FILE *out, const char *s)
{
    cmp_html_escape(out, (const uint8_t *)s, strnlen(s, CMP_ENDPOINT_MAX), false);
}

static void copy_masked(uint8_t *dst, uint32_t *dlen, size_t cap, const uint8_t *src, size_t n,
                        const regex_t *mask)
{
    if (n > cap)
        n = cap;
    memcpy(dst, src, n);
    *dlen = (uint32_t)(mask ? cmp_regex_apply(mask, dst, n, '*') : n);
}

void cmp_html_example_set(struct cmp_html_example *ex, const struct cmp_result *r,
                          const char *session, const regex_t *mask)
{
    memset(ex, 0, sizeof(*ex));
    snprintf(ex->endpoint, sizeof(ex->endpoint), "%s", r->req.endpoint);
    snprintf(ex->session, sizeof(ex->session), "%s", session ? session : "");
    ex->index = r->index;
    ex->kind = r->diff.kind;
    ex->offset = r->diff.offset;
    ex->exact = r->diff.exact;
    ex->online_us = r->online_us;
    ex->target_us = r->target_us;
    copy_masked(ex->req, &ex->reqlen, sizeof(ex->req), r->req.text, r->req.textlen, mask);
    copy_masked(ex->online, &ex->onlen, sizeof(ex->online), r->diff.a, r->diff.alen, mask);
    copy_masked(ex->target, &ex->tglen, sizeof(ex->target), r->diff.b, r->diff.blen, mask);
}

bool cmp_html_examples_add(struct cmp_html_examples *set, const struct cmp_result *r,
                           const char *session, const regex_t *mask)
{
    for (uint32_t i = 0; i < set->n; i++)
        if (strncmp(set->ex[i].endpoint, r->req.endpoint, CMP_ENDPOINT_MAX) == 0)
            return false;
    if (set->n == CMP_SUM_ENDPOINTS) {
        set->dropped++;
        return false;
    }
    cmp_html_example_set(&set->ex[set->n++], r, session, mask);
    return true;
}

/* --- small formatters ------------------------------------------------------------------- */

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* A latency in microseconds for people: "850 µs", "12.5 ms", "3.20 s"; "–" when unknown. */
static void put_lat(FILE *out, int64_t us)
{
    if (us < 0)
        fputs("&ndash;", out);
    else if (us < 1000)
        fprintf(out, "%lld&nbsp;&micro;s", (long long)us);
    else if (us < 100000)
        fprintf(out, "%.2f&nbsp;ms", (double)us / 1e3);
    else if (us < 10000000)
        fprintf(out, "%.0f&nbsp;ms", (double)us / 1e3);
    else
        fprintf(out, "%.2f&nbsp;s", (double)us / 1e6);
}

static void put_time(FILE *out, double t)
{
    time_t sec = t > 0 ? (time_t)t : 0;
    struct tm tm;
    gmtime_r(&sec, &tm);
    fprintf(out, "%04d-%02d-%02d %02d:%02d:%02d&nbsp;UTC", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static const char *reason_text(enum cmp_reason r)
{
    switch (r) {
    case CMP_REASON_ONLINE_INCOMPLETE: return "the capture of the online answer had a gap";
    case CMP_REASON_TARGET_INCOMPLETE: return "the target's answer arrived incomplete";
    case CMP_REASON_NO_ANSWER_ONLINE: return "the online server did not answer";
    case CMP_REASON_NO_ANSWER_TARGET: return "the target did not answer";
    case CMP_REASON_UNPARSABLE: return "a request or an answer could not be framed";
    case CMP_REASON_OVER_LIMIT: return "too many requests were waiting in one session";
    case CMP_REASON_NOREPLY: return "the request asks for no answer";
    default: return "unknown";
    }
}

static const char *kind_text(enum cmp_kind k)
{
    switch (k) {
    case CMP_KIND_STATUS: return "the status differs";
    case CMP_KIND_HEADER: return "a header differs";
    case CMP_KIND_BODY: return "the body differs";
    case CMP_KIND_LENGTH: return "one answer is a prefix of the other";
    case CMP_KIND_CLOSED: return "one side was cut by the connection's close";
    default: return "unknown";
    }
}

/* --- the page ---------------------------------------------------------------------------- */

static const char page_css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330;"
    "background:#f4f5f8;margin:0;padding:24px 32px;max-width:1200px}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}"
    "h3{font-size:15px;margin:0 0 4px;font-family:ui-monospace,monospace;word-break:break-all}\n"
    ".meta{color:#5a6275;margin:0 0 16px}\n"
    ".verdict{font-size:22px;font-weight:600;padding:16px 20px;border-radius:8px;"
    "border-left:8px solid}\n"
    ".bad{background:#fdecec;border-color:#d33}.ok{background:#e8f6ec;border-color:#2a9d4b}"
    ".none{background:#eef0f4;border-color:#8a93a6}\n"
    ".verdict p{font-size:15px;font-weight:400;margin:6px 0 0}\n"
    "table{border-collapse:collapse;background:#fff;margin:0 0 8px}"
    "td,th{padding:4px 14px;border-bottom:1px solid #e1e4ea;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".ep,.chart{background:#fff;border-radius:8px;padding:14px 18px;margin:0 0 14px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}\n"
    ".two{display:grid;grid-template-columns:1fr 1fr;gap:12px}\n"
    "#charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}"
    "#charts figure{margin:0}\n"
    ".lbl{font-size:12px;font-weight:600;color:#5a6275;margin:8px 0 2px;text-transform:uppercase}\n"
    "pre{background:#f7f8fa;border:1px solid #e1e4ea;border-radius:4px;padding:8px;margin:0;"
    "white-space:pre-wrap;word-break:break-all;font:13px/1.4 ui-monospace,monospace}\n"
    ".x{background:#fff2c6;color:#8a5a00;border-radius:2px}\n"
    ".muted{color:#5a6275}.on{fill:#3b6fd8}.tg{fill:#e8832a}\n"
    ".key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;"
    "vertical-align:-1px}\n"
    "svg text{font:12px system-ui,sans-serif;fill:#1d2330}"
    "svg text.slow{fill:#c62828;font-weight:700}\n";

static void page_head(FILE *out, double started_s, double now_s)
{
    fputs("<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
          "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n"
          "<meta name=viewport content=\"width=device-width,initial-scale=1\">\n"
          "<title>tcpcopy: online and target answers compared</title>\n<style>\n",
          out);
    fputs(page_css, out);
    fputs("</style>\n</head>\n<body>\n<h1>Online and target answers compared</h1>\n"
          "<p class=meta>tcpcopy --compare, from ",
          out);
    put_time(out, started_s);
    fputs(" to ", out);
    put_time(out, now_s);
    double d = now_s - started_s;
    fprintf(out, " (%.0f&nbsp;s)</p>\n", d > 0 ? d : 0.0);
}

/* The reason most requests were not compared, or CMP_REASON_NONE. */
static enum cmp_reason top_reason(const struct cmp_summary *s)
{
    enum cmp_reason best = CMP_REASON_NONE;
    for (int i = 1; i < CMP_REASON_COUNT; i++)
        if (s->by_reason[i] > (best ? s->by_reason[best] : 0))
            best = (enum cmp_reason)i;
    return best;
}

static uint32_t endpoints_differing(const struct cmp_summary *s)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->nep && i < CMP_SUM_ENDPOINTS; i++)
        k += s->ep[i].different > 0;
    return k;
}

static void write_verdict(FILE *out, const struct cmp_summary *s)
{
    uint64_t total = s->compared + s->not_compared;
    uint32_t k = endpoints_differing(s);
    enum cmp_reason why = top_reason(s);
    if (total == 0) {
        fputs("<div class=\"verdict none\" id=verdict>Nothing compared yet"
              "<p>No copied request has been paired with its answers so far.</p></div>\n",
              out);
        return;
    }
    if (s->compared == 0) {
        fprintf(out, "<div class=\"verdict none\" id=verdict>Nothing compared: the %llu %s "
                     "seen could not be compared<p>Mostly because %s (%llu). See the totals.</p>"
                     "</div>\n",
                ull(total), plural(total, "request", "requests"), reason_text(why),
                ull(why ? s->by_reason[why] : 0));
        return;
    }
    if (s->different > 0)
        fprintf(out, "<div class=\"verdict bad\" id=verdict>%llu of %llu compared %s %s, "
                     "in %u %s",
                ull(s->different), ull(s->compared), plural(s->compared, "request", "requests"),
                plural(s->different, "differs", "differ"), k, plural(k, "endpoint", "endpoints"));
    else
        fprintf(out, "<div class=\"verdict ok\" id=verdict>No difference: the %llu compared %s "
                     "got the same answers",
                ull(s->compared), plural(s->compared, "request", "requests"));
    if (s->noise > 0)
        fprintf(out, "<p>%llu more %s also showed on the baseline: counted as noise.</p>",
                ull(s->noise), plural(s->noise, "difference", "differences"));
    if (s->not_compared > 0)
        fprintf(out, "<p>%llu %s not compared, mostly because %s.</p>", ull(s->not_compared),
                plural(s->not_compared, "request was", "requests were"), reason_text(why));
    fputs("</div>\n", out);
}

static void total_row(FILE *out, const char *name, uint64_t v, const char *id)
{
    fprintf(out, "<tr><th>%s</th><td class=n id=\"%s\">%llu</td></tr>\n", name, id, ull(v));
}

static void write_totals(FILE *out, const struct cmp_summary *s)
{
    fputs("<h2>Totals</h2>\n<div class=two><table>\n", out);
    total_row(out, "requests seen", s->compared + s->not_compared, "t-requests");
    total_row(out, "compared", s->compared, "t-compared");
    total_row(out, "equal", s->equal, "t-equal");
    total_row(out, "different", s->different, "t-different");
    total_row(out, "noise (the baseline differs too)", s->noise, "t-noise");
    total_row(out, "not compared", s->not_compared, "t-not-compared");
    fputs("</table>\n<table>\n<tr><th>not compared because</th><th></th></tr>\n", out);
    bool any = false;
    for (int i = 1; i < CMP_REASON_COUNT; i++) {
        if (!s->by_reason[i])
            continue;
        fprintf(out, "<tr><td>%s (%s)</td><td class=n>%llu</td></tr>\n",
                reason_text((enum cmp_reason)i), cmp_reason_name((enum cmp_reason)i),
                ull(s->by_reason[i]));
        any = true;
    }
    if (!any)
        fputs("<tr><td class=muted>every request seen was compared</td><td></td></tr>\n", out);
    fputs("<tr><th>differences by kind</th><th></th></tr>\n", out);
    for (int i = 1; i <= CMP_KIND_CLOSED; i++)
        if (s->by_kind[i])
            fprintf(out, "<tr><td>%s (%s)</td><td class=n>%llu</td></tr>\n",
                    kind_text((enum cmp_kind)i), cmp_kind_name((enum cmp_kind)i),
                    ull(s->by_kind[i]));
    fputs("</table></div>\n", out);
}

static int by_different(const void *a, const void *b)
{
    const struct cmp_ep_stats *const *x = a, *const *y = b;
    if ((*x)->different != (*y)->different)
        return (*x)->different > (*y)->different ? -1 : 1;
    return strcmp((*x)->name, (*y)->name);
}

static int by_requests(const void *a, const void *b)
{
    const struct cmp_ep_stats *const *x = a, *const *y = b;
    if ((*x)->requests != (*y)->requests)
        return (*x)->requests > (*y)->requests ? -1 : 1;
    return strcmp((*x)->name, (*y)->name);
}

static bool ep_named(const struct cmp_summary *s, const char *name)
{
    for (uint32_t i = 0; i < s->nep && i < CMP_SUM_ENDPOINTS; i++)
        if (strncmp(s->ep[i].name, name, CMP_ENDPOINT_MAX) == 0)
            return true;
    return false;
}

/* The example for e: the first with its name; for "(other)", the first of no named endpoint. */
static const struct cmp_html_example *find_example(const struct cmp_summary *s,
                                                   const struct cmp_ep_stats *e,
                                                   const struct cmp_html_example *ex, size_t nex)
{
    bool other = s->nep == CMP_SUM_ENDPOINTS && e == &s->ep[CMP_SUM_ENDPOINTS - 1];
    for (size_t i = 0; i < nex; i++) {
        if (other ? !ep_named(s, ex[i].endpoint)
                  : strncmp(ex[i].endpoint, e->name, CMP_ENDPOINT_MAX) == 0)
            return &ex[i];
    }
    return NULL;
}

/* named: the example's endpoint is the heading's (else it is named, for "(other)"). */
static void write_example(FILE *out, const struct cmp_html_example *x, bool named)
{
    size_t el = strnlen(x->endpoint, sizeof(x->endpoint));
    size_t sl = strnlen(x->session, sizeof(x->session));
    fputs("<div class=ex><p>Example: request <b>#", out);
    fprintf(out, "%llu</b> of session <code>", ull(x->index));
    cmp_html_escape(out, (const uint8_t *)x->session, sl, false);
    fputs("</code>", out);
    if (!named && el) {
        fputs(" (<code>", out);
        cmp_html_escape(out, (const uint8_t *)x->endpoint, el, false);
        fputs("</code>)", out);
    }
    fprintf(out, ": %s (%s) at byte %llu%s. Online ", kind_text(x->kind), cmp_kind_name(x->kind),
            ull(x->offset), x->exact ? "" : " (in the block starting there)");
    put_lat(out, x->online_us);
    fputs(", target ", out);
    put_lat(out, x->target_us);
    fputs(".</p>\n<p class=lbl>request</p><pre class=req>", out);
    cmp_html_escape(out, x->req, x->reqlen < sizeof(x->req) ? x->reqlen : sizeof(x->req), true);
    fputs("</pre>\n<div class=two><div><p class=lbl>online answer</p><pre class=online>", out);
    cmp_html_escape(out, x->online, x->onlen < sizeof(x->online) ? x->onlen : sizeof(x->online),
                    true);
    fputs("</pre></div><div><p class=lbl>target answer</p><pre class=target>", out);
    cmp_html_escape(out, x->target, x->tglen < sizeof(x->target) ? x->tglen : sizeof(x->target),
                    true);
    fputs("</pre></div></div></div>\n", out);
}

static void write_top(FILE *out, const struct cmp_summary *s, const struct cmp_html_example *ex,
                      size_t nex)
{
    const struct cmp_ep_stats *order[CMP_SUM_ENDPOINTS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->nep && i < CMP_SUM_ENDPOINTS; i++)
        if (s->ep[i].different > 0)
            order[n++] = &s->ep[i];
    if (n == 0)
        return;
    qsort(order, n, sizeof(order[0]), by_different);
    fputs("<h2>Endpoints that differ, most differences first</h2>\n<div id=top>\n", out);
    for (uint32_t i = 0; i < n && i < CMP_HTML_TOP; i++) {
        const struct cmp_ep_stats *e = order[i];
        fputs("<div class=ep><h3>", out);
        esc_name(out, e->name);
        fprintf(out, "</h3><p>%llu of %llu %s %s (%llu equal, %llu noise, %llu not "
                     "compared).</p>\n",
                ull(e->different), ull(e->requests), plural(e->requests, "request", "requests"),
                plural(e->different, "differs", "differ"),
                ull(e->equal), ull(e->noise), ull(e->not_compared));
        const struct cmp_html_example *x = find_example(s, e, ex, nex);
        if (x)
            write_example(out, x, strncmp(x->endpoint, e->name, CMP_ENDPOINT_MAX) == 0);
        else
            fputs("<p class=muted>No example was kept for this endpoint.</p>\n", out);
        fputs("</div>\n", out);
    }
    if (n > CMP_HTML_TOP)
        fprintf(out, "<p class=muted id=top-more>%u more %s differ: see summary.json and "
                     "mismatches.jsonl.</p>\n",
                n - CMP_HTML_TOP, plural(n - CMP_HTML_TOP, "endpoint", "endpoints"));
    fputs("</div>\n", out);
}

/* --- latency charts ---------------------------------------------------------------------- */

#define CH_W 520   /* the chart's width in px */
#define CH_BAR 300 /* the longest bar */
#define CH_X 40    /* where bars start */
#define CH_ROW 40  /* one percentile: two bars and a gap */
#define CMP_HTML_SLOW 1.25 /* a target/online ratio from which the ratio is shown in red */

static const double ch_q[3] = {.5, .9, .99};
static const char *const ch_name[3] = {"p50", "p90", "p99"};

/* One bar and its value; v < 0: no data. */
static void chart_bar(FILE *out, int y, int64_t v, int64_t max, bool online)
{
    int w = v > 0 && max > 0 ? (int)((double)v * CH_BAR / (double)max + 0.5) : 0;
    if (v > 0 && w < 1)
        w = 1;
    if (v >= 0)
        fprintf(out, "<rect class=%s x=%d y=%d width=%d height=14 rx=2></rect>", online ? "on" : "tg",
                CH_X, y, w);
    fprintf(out, "<text x=%d y=%d>%s ", CH_X + w + 6, y + 11, online ? "online" : "target");
    if (v >= 0)
        put_lat(out, v);
    else
        fputs("no data", out);
    fputs("</text>", out);
}

static void write_chart(FILE *out, const struct cmp_ep_stats *e)
{
    int64_t on[3], tg[3], max = 0;
    for (int i = 0; i < 3; i++) {
        on[i] = e->online.n ? (int64_t)cmp_pct_get(&e->online, ch_q[i]) : -1;
        tg[i] = e->target.n ? (int64_t)cmp_pct_get(&e->target, ch_q[i]) : -1;
        max = on[i] > max ? on[i] : max;
        max = tg[i] > max ? tg[i] : max;
    }
    fputs("<figure class=chart><h3>", out);
    esc_name(out, e->name);
    fprintf(out, "</h3><p class=muted>%llu online and %llu target latencies measured</p>\n",
            ull(e->online.n), ull(e->target.n));
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=%d height=%d role=img>",
            CH_W, 3 * CH_ROW + 4);
    for (int i = 0; i < 3; i++) {
        int y = i * CH_ROW + 4;
        fprintf(out, "<text x=0 y=%d font-weight=600>%s</text>", y + 20, ch_name[i]);
        chart_bar(out, y, on[i], max, true);
        chart_bar(out, y + 16, tg[i], max, false);
        double ratio = on[i] > 0 && tg[i] >= 0 ? (double)tg[i] / (double)on[i] : -1;
        fprintf(out, "<text x=%d y=%d class=%s>", CH_W - 56, y + 20,
                ratio >= CMP_HTML_SLOW ? "slow" : "ratio");
        if (ratio >= 0)
            fprintf(out, "&#215;%.2f", ratio);
        else
            fputs("&#215;&ndash;", out);
        fputs("</text>", out);
    }
    fputs("</svg></figure>\n", out);
}

static void write_charts(FILE *out, const struct cmp_summary *s)
{
    const struct cmp_ep_stats *order[CMP_SUM_ENDPOINTS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->nep && i < CMP_SUM_ENDPOINTS; i++)
        if (s->ep[i].online.n || s->ep[i].target.n)
            order[n++] = &s->ep[i];
    fputs("<h2>Latency per endpoint: online and target</h2>\n", out);
    if (n == 0) {
        fputs("<p class=muted>No latency was measured.</p>\n", out);
        return;
    }
    qsort(order, n, sizeof(order[0]), by_requests);
    fputs("<p class=\"muted key\">From the request's last byte to the answer's first byte. "
          "<span class=on style=\"background:#3b6fd8\"></span>online "
          "<span class=tg style=\"background:#e8832a\"></span>target; "
          "on the right, target divided by online.</p>\n<div id=charts>\n",
          out);
    for (uint32_t i = 0; i < n && i < CMP_HTML_CHARTS; i++)
        write_chart(out, order[i]);
    fputs("</div>\n", out);
    if (n > CMP_HTML_CHARTS)
        fprintf(out, "<p class=muted id=charts-more>%u more endpoints: see summary.json.</p>\n",
                n - CMP_HTML_CHARTS);
}

int cmp_html_write(FILE *out, const struct cmp_summary *s, const struct cmp_html_example *ex,
                   size_t nex, double started_s, double now_s)
{
    if (!out || !s)
        return -EINVAL;
    if (!ex)
        nex = 0;
    page_head(out, started_s, now_s);
    write_verdict(out, s);
    write_totals(out, s);
    write_top(out, s, ex, nex);
    write_charts(out, s);
    if (s->nep == CMP_SUM_ENDPOINTS)
        fprintf(out, "<p class=muted>Only %d endpoints are counted apart; the rest are "
                     "counted together as (other).</p>\n",
                CMP_SUM_ENDPOINTS - 1);
    fputs("<p class=muted>Details: mismatches.jsonl (every difference), noise.jsonl, "
          "summary.json.</p>\n</body>\n</html>\n",
          out);
    return ferror(out) ? -EIO : 0;
}
