/*
 * cmp_noise: the normalisation of header lines and bodies (see cmp_noise.h).
 *
 * Everything here works on bounded pieces: a header line (the framer's line buffer bounds
 * it), a body line of at most CMP_LINE_MAX bytes. A regex that would match across a cut
 * line, or a whole multi-line body, is therefore not supported: doc/compare.md says so.
 */
#include "cmp_noise.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const default_ignored[] = {"date", "expires", "age"};

void cmp_rules_init(struct cmp_rules *r)
{
    memset(r, 0, sizeof(*r));
}

void cmp_rules_free(struct cmp_rules *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nregex; i++)
        regfree(&r->regex[i]);
    r->nregex = 0;
}

static int add_header(struct cmp_rules *r, const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CMP_NAME_MAX || strpbrk(name, ": \t\r\n")) {
        snprintf(err, errlen, "compare-ignore header:%s: not a header name", name);
        return -EINVAL;
    }
    for (size_t i = 0; i <= n; i++)
        r->header[r->nheader][i] = (char)tolower((unsigned char)name[i]);
    r->nheader++;
    return 0;
}

int cmp_rules_add(struct cmp_rules *r, const char *rule, char *err, size_t errlen)
{
    if (r->nheader + r->nregex + r->njson >= CMP_MAX_RULES) {
        snprintf(err, errlen, "compare-ignore %s: more than %d rules", rule, CMP_MAX_RULES);
        return -ENOSPC;
    }
    if (strncmp(rule, "header:", 7) == 0)
        return add_header(r, rule + 7, err, errlen);
    if (strncmp(rule, "regex:", 6) == 0) {
        int rc = regcomp(&r->regex[r->nregex], rule + 6, REG_EXTENDED);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &r->regex[r->nregex], msg, sizeof(msg));
            snprintf(err, errlen, "compare-ignore %s: %s", rule, msg);
            return -EINVAL;
        }
        r->nregex++;
        return 0;
    }
    if (strncmp(rule, "json:", 5) == 0) {
        if (!cmp_jpath_parse(&r->json[r->njson], rule + 5, err, errlen))
            return -EINVAL;
        r->njson++;
        return 0;
    }
    snprintf(err, errlen, "compare-ignore %s: expected header:NAME, regex:EXPR or json:PATH",
             rule);
    return -EINVAL;
}

size_t cmp_regex_apply(const regex_t *re, uint8_t *buf, size_t n, int fill)
{
    size_t pos = 0;
    while (pos <= n) {
        regmatch_t m[1];
        m[0].rm_so = (regoff_t)pos;
        m[0].rm_eo = (regoff_t)n;
        int eflags = REG_STARTEND | (pos > 0 ? REG_NOTBOL : 0);
        if (regexec(re, (const char *)buf, 1, m, eflags) != 0)
            break;
        size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
        if (eo == so) { /* an empty match: step over one byte */
            pos = eo + 1;
            continue;
        }
        if (fill >= 0) {
            memset(buf + so, fill, eo - so);
            pos = eo;
        } else {
            memmove(buf + so, buf + eo, n - eo);
            n -= eo - so;
            pos = so;
        }
    }
    return n;
}

static bool name_in(const struct cmp_rules *r, const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(default_ignored) / sizeof(default_ignored[0]); i++)
        if (strlen(default_ignored[i]) == n && memcmp(default_ignored[i], name, n) == 0)
            return true;
    for (uint32_t i = 0; r && i < r->nheader; i++)
        if (strlen(r->header[i]) == n && memcmp(r->header[i], name, n) == 0)
            return true;
    return false;
}

static size_t trim(const char **s, size_t n)
{
    while (n > 0 && (**s == ' ' || **s == '\t'))
        (*s)++, n--;
    while (n > 0 && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t' || (*s)[n - 1] == '\r'))
        n--;
    return n;
}

size_t cmp_noise_header(const struct cmp_rules *r, const char *line, size_t n, char *out,
                        size_t outlen)
{
    const char *colon = memchr(line, ':', n);
    size_t nl = colon ? (size_t)(colon - line) : n;
    const char *name = line;
    nl = trim(&name, nl);
    if (nl + 2 > outlen)
        nl = outlen - 2;
    for (size_t i = 0; i < nl; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[nl] = ':';
    size_t len = nl + 1;
    if ((nl == 17 && memcmp(out, "transfer-encoding", 17) == 0) ||
        (nl == 14 && memcmp(out, "content-length", 14) == 0))
        return 0; /* the decoded body stands for them (cmp_http.c keeps a bodiless one) */
    if (!colon || name_in(r, out, nl))
        return len;
    const char *v = colon + 1;
    size_t vl = trim(&v, n - (size_t)(v - line));
    if (nl == 10 && memcmp(out, "set-cookie", 10) == 0) {
        const char *eq = memchr(v, '=', vl);
        vl = eq ? (size_t)(eq - v) : vl; /* the cookie's name only */
        vl = trim(&v, vl);
    }
    if (vl > outlen - len)
        vl = outlen - len;
    memcpy(out + len, v, vl);
    len += vl;
    for (uint32_t i = 0; r && i < r->nregex; i++)
        len = cmp_regex_apply(&r->regex[i], (uint8_t *)out, len, -1);
    return len;
}

void cmp_bodyf_init(struct cmp_bodyf *f, const struct cmp_rules *r, bool json,
                    struct cmp_stream *out)
{
    f->rules = r;
    f->out = out;
    f->linelen = 0;
    f->json_on = json && r && r->njson > 0;
    if (f->json_on)
        cmp_json_init(&f->json, r->json, r->njson);
}

static void line_flush(struct cmp_bodyf *f)
{
    size_t n = f->linelen;
    for (uint32_t i = 0; i < f->rules->nregex; i++)
        n = cmp_regex_apply(&f->rules->regex[i], f->line, n, -1);
    cmp_stream_add(f->out, f->line, n);
    f->linelen = 0;
}

/* After the JSON filter: whole lines through the regex rules, or straight to the stream. */
static void regex_stage(void *arg, const uint8_t *p, size_t n)
{
    struct cmp_bodyf *f = arg;
    if (f->rules && f->rules->nregex > 0 && !f->line)
        f->line = malloc(CMP_LINE_MAX);
    if (!f->rules || f->rules->nregex == 0 || !f->line) {
        if (f->rules && f->rules->nregex > 0)
            f->unfiltered += n;
        cmp_stream_add(f->out, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        f->line[f->linelen++] = p[i];
        if (p[i] == '\n' || f->linelen == CMP_LINE_MAX)
            line_flush(f);
    }
}

void cmp_bodyf_add(struct cmp_bodyf *f, const uint8_t *p, size_t n)
{
    if (f->json_on)
        cmp_json_feed(&f->json, p, n, regex_stage, f);
    else
        regex_stage(f, p, n);
}

void cmp_bodyf_free(struct cmp_bodyf *f)
{
    free(f->line);
    f->line = NULL;
}

void cmp_bodyf_end(struct cmp_bodyf *f)
{
    if (f->linelen > 0)
        line_flush(f);
}
