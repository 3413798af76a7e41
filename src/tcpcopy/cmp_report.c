/*
 * cmp_report: mismatches.jsonl lines and summary.json (see cmp_report.h).
 *
 * Excerpts are production data: the mask is applied before anything is written, and every
 * byte is written as valid JSON whatever the answer held (binary answers included).
 */
#include "cmp_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp_noise.h"

size_t cmp_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
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

static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint32_t cp;
    return cmp_utf8_seq(s, n, &cp);
}

static void json_bytes(FILE *out, const uint8_t *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        size_t k;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else if (c < 0x80)
            fputc(c, out);
        else if ((k = utf8_len(s + i, n - i)) > 0) {
            fwrite(s + i, 1, k, out);
            i += k - 1;
        } else
            fprintf(out, "\\u%04x", c);
    }
    fputc('"', out);
}

void cmp_json_string(FILE *out, const uint8_t *s, size_t n, const regex_t *mask)
{
    if (!mask) {
        json_bytes(out, s, n);
        return;
    }
    uint8_t tmp[1024];
    if (n > sizeof(tmp))
        n = sizeof(tmp); /* excerpts are short; longer text is cut rather than unmasked */
    memcpy(tmp, s, n);
    n = cmp_regex_apply(mask, tmp, n, '*');
    json_bytes(out, tmp, n);
}

static void json_ms(FILE *out, int64_t us)
{
    if (us < 0)
        fputs("null", out);
    else
        fprintf(out, "%lld.%03lld", (long long)(us / 1000), (long long)(us % 1000));
}

static void json_time(FILE *out, double t)
{
    time_t sec = (time_t)t;
    int ms = (int)((t - (double)sec) * 1000.0);
    struct tm tm;
    gmtime_r(&sec, &tm);
    fprintf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms < 0 ? 0 : ms > 999 ? 999 : ms);
}

int cmp_report_line(FILE *out, const struct cmp_result *r, double time_s, const char *session,
                    const regex_t *mask)
{
    fputs("{\"time\":", out);
    json_time(out, time_s);
    fputs(",\"session\":", out);
    json_bytes(out, (const uint8_t *)session, strlen(session));
    fprintf(out, ",\"index\":%llu,\"endpoint\":", (unsigned long long)r->index);
    json_bytes(out, (const uint8_t *)r->req.endpoint, strlen(r->req.endpoint));
    fputs(",\"request\":", out);
    cmp_json_string(out, r->req.text, r->req.textlen, mask);
    fprintf(out, ",\"kind\":\"%s\",\"offset\":%llu,\"offset_exact\":%s,\"online\":",
            cmp_kind_name(r->diff.kind), (unsigned long long)r->diff.offset,
            r->diff.exact ? "true" : "false");
    cmp_json_string(out, r->diff.a, r->diff.alen, mask);
    fputs(",\"target\":", out);
    cmp_json_string(out, r->diff.b, r->diff.blen, mask);
    fputs(",\"online_ms\":", out);
    json_ms(out, r->online_us);
    fputs(",\"target_ms\":", out);
    json_ms(out, r->target_us);
    fputs("}\n", out);
    return ferror(out) ? -EIO : 0;
}

struct cmp_summary *cmp_summary_new(void)
{
    return calloc(1, sizeof(struct cmp_summary));
}

void cmp_summary_free(struct cmp_summary *s)
{
    free(s);
}

static struct cmp_ep_stats *ep_find(struct cmp_summary *s, const char *name)
{
    const uint32_t mask = 2 * CMP_SUM_ENDPOINTS - 1;
    uint32_t h = (uint32_t)cmp_hash_bytes(name, strlen(name)) & mask;
    for (; s->idx[h] != 0; h = (h + 1) & mask)
        if (strcmp(s->ep[s->idx[h] - 1].name, name) == 0)
            return &s->ep[s->idx[h] - 1];
    if (s->nep == CMP_SUM_ENDPOINTS)
        return &s->ep[CMP_SUM_ENDPOINTS - 1];
    if (s->nep == CMP_SUM_ENDPOINTS - 1)
        name = "(other)"; /* not indexed: every later name lands here, once the table is full */
    else
        s->idx[h] = (uint16_t)(s->nep + 1);
    struct cmp_ep_stats *e = &s->ep[s->nep++];
    snprintf(e->name, sizeof(e->name), "%s", name);
    cmp_pct_init(&e->online);
    cmp_pct_init(&e->target);
    return e;
}

void cmp_summary_add(struct cmp_summary *s, const struct cmp_result *r, bool noise)
{
    struct cmp_ep_stats *e = ep_find(s, r->req.endpoint);
    e->requests++;
    if (r->verdict == CMP_NOT_COMPARED) {
        s->not_compared++, e->not_compared++;
        s->by_reason[r->reason < CMP_REASON_COUNT ? r->reason : 0]++;
    } else {
        s->compared++;
        if (r->verdict == CMP_EQUAL)
            s->equal++, e->equal++;
        else if (noise)
            s->noise++, e->noise++;
        else
            s->different++, e->different++, s->by_kind[r->diff.kind <= CMP_KIND_CLOSED ? r->diff.kind : 0]++;
    }
    if (r->online_us >= 0)
        cmp_pct_add(&e->online, (uint64_t)r->online_us);
    if (r->target_us >= 0)
        cmp_pct_add(&e->target, (uint64_t)r->target_us);
}

static void write_pcts(FILE *out, const char *name, const struct cmp_pct *h)
{
    fprintf(out, "\"%s\":{\"count\":%llu", name, (unsigned long long)h->n);
    static const struct { const char *k; double q; } qs[] = {{"p50", .5}, {"p90", .9}, {"p99", .99}};
    for (size_t i = 0; i < 3; i++) {
        fprintf(out, ",\"%s\":", qs[i].k);
        json_ms(out, h->n ? (int64_t)cmp_pct_get(h, qs[i].q) : -1);
    }
    fputc('}', out);
}

static int ep_cmp(const void *a, const void *b)
{
    const struct cmp_ep_stats *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void write_endpoint(FILE *out, const struct cmp_ep_stats *e)
{
    fputs("    {\"endpoint\":", out);
    json_bytes(out, (const uint8_t *)e->name, strlen(e->name));
    fprintf(out, ",\"requests\":%llu,\"equal\":%llu,\"different\":%llu,\"noise\":%llu,"
                 "\"not_compared\":%llu,",
            (unsigned long long)e->requests, (unsigned long long)e->equal,
            (unsigned long long)e->different, (unsigned long long)e->noise,
            (unsigned long long)e->not_compared);
    write_pcts(out, "online_ms", &e->online);
    fputc(',', out);
    write_pcts(out, "target_ms", &e->target);
    uint64_t po = cmp_pct_get(&e->online, .5), pt = cmp_pct_get(&e->target, .5);
    if (e->online.n && e->target.n && po > 0)
        fprintf(out, ",\"ratio_p50\":%.2f}", (double)pt / (double)po);
    else
        fputs(",\"ratio_p50\":null}", out);
}

int cmp_summary_write(const struct cmp_summary *s, FILE *out)
{
    fprintf(out, "{\n  \"compared\": %llu,\n  \"equal\": %llu,\n  \"different\": %llu,\n"
                 "  \"noise\": %llu,\n  \"not_compared\": %llu,\n  \"not_compared_by_reason\": {",
            (unsigned long long)s->compared, (unsigned long long)s->equal,
            (unsigned long long)s->different, (unsigned long long)s->noise,
            (unsigned long long)s->not_compared);
    for (int i = 1; i < CMP_REASON_COUNT; i++)
        fprintf(out, "%s\"%s\": %llu", i > 1 ? ", " : "", cmp_reason_name((enum cmp_reason)i),
                (unsigned long long)s->by_reason[i]);
    fputs("},\n  \"different_by_kind\": {", out);
    for (int i = 1; i <= CMP_KIND_CLOSED; i++)
        fprintf(out, "%s\"%s\": %llu", i > 1 ? ", " : "", cmp_kind_name((enum cmp_kind)i),
                (unsigned long long)s->by_kind[i]);
    fputs("},\n  \"endpoints\": [\n", out);
    const struct cmp_ep_stats *order[CMP_SUM_ENDPOINTS] = {NULL};
    for (uint32_t i = 0; i < s->nep; i++)
        order[i] = &s->ep[i];
    if (s->nep > 1)
        qsort(order, s->nep, sizeof(order[0]), ep_cmp);
    for (uint32_t i = 0; i < s->nep; i++) {
        write_endpoint(out, order[i]);
        fputs(i + 1 < s->nep ? ",\n" : "\n", out);
    }
    fputs("  ]\n}\n", out);
    return ferror(out) ? -EIO : 0;
}
