/*
 * cmp_http: HTTP/1.x requests and answers for the comparison (RFC 9112).
 *
 * Requests give the endpoint (method and path without the query) and the request line;
 * their bodies are skipped by Content-Length or chunked coding (RFC 9112 6.3, 7.1).
 * Answers are hashed as: the status line (interim 1xx answers included, in order), the
 * header lines as a normalised multiset (cmp_noise_header), the decoded body (chunk sizes,
 * extensions and the coding itself do not count; trailers join the header multiset). An
 * answer has no body after HEAD, and for 1xx, 204 and 304 (RFC 9112 6.3 items 1-2); without
 * Content-Length or chunked coding it lasts until the connection closes (item 8).
 */
#include "cmp_fimpl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    H_START = 0, /* request or status line */
    H_HEAD,      /* header lines */
    H_BODY,      /* Content-Length bytes */
    H_CSIZE,     /* a chunk-size line */
    H_CDATA,     /* chunk data */
    H_CCRLF,     /* the CRLF after chunk data */
    H_TRAIL,     /* trailer lines */
    H_CLOSE,     /* body until close */
};

typedef void (*body_sink)(void *arg, const uint8_t *p, size_t n);

static bool is_name(const uint8_t *s, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n >= k + 1 && s[k] == ':' && strncasecmp((const char *)s, name, k) == 0;
}

/* A header that decides the framing; false when it makes the message unparsable
 * (a bad or second, different Content-Length: RFC 9112 6.3 item 5). */
static bool framing_header(struct cmp_http *h, const uint8_t *s, size_t n)
{
    if (is_name(s, n, "content-length")) {
        uint64_t v;
        size_t used;
        if (!cmp_parse_num(s + 15, n - 15, false, &v, &used))
            return false;
        if (h->has_clen && v != h->clen)
            return false;
        h->has_clen = true, h->clen = v;
    } else if (is_name(s, n, "transfer-encoding")) {
        /* chunked must be the final coding (RFC 9112 6.1) */
        size_t k = n;
        while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
            k--;
        h->chunked = k >= 7 && strncasecmp((const char *)s + k - 7, "chunked", 7) == 0;
    } else if (is_name(s, n, "content-type")) {
        h->json = memmem(s, n, "json", 4) != NULL;
    }
    return true;
}

/* Body states: consume from *p, pass decoded bytes to sink. Returns 1 when the body ended,
 * 0 when it needs more bytes, -1 when it is unparsable. Trailer lines go to trailer(). */
static int body_step(struct cmp_http *h, struct cmp_line *l, const uint8_t **p, size_t *n,
                     body_sink sink, body_sink trailer, void *arg)
{
    while (*n > 0) {
        if (h->state == H_BODY || h->state == H_CDATA || h->state == H_CLOSE) {
            size_t k = h->state != H_CLOSE && h->left < *n ? (size_t)h->left : *n;
            sink(arg, *p, k);
            *p += k, *n -= k;
            if (h->state == H_CLOSE)
                continue;
            h->left -= k;
            if (h->left > 0)
                continue;
            if (h->state == H_BODY)
                return 1;
            h->state = H_CCRLF;
            continue;
        }
        if (!cmp_line_take(l, p, n))
            return l->overflow ? -1 : 0;
        if (l->overflow)
            return -1;
        if (h->state == H_CCRLF) {
            if (l->len != 0)
                return -1;
            h->state = H_CSIZE;
        } else if (h->state == H_CSIZE) {
            uint64_t v;
            size_t used;
            if (!cmp_parse_num(l->buf, l->len, true, &v, &used))
                return -1;
            h->left = v;
            h->state = v > 0 ? H_CDATA : H_TRAIL; /* extensions after ';' are ignored */
        } else { /* H_TRAIL */
            if (l->len == 0)
                return 1;
            trailer(arg, l->buf, l->len);
        }
    }
    return 0;
}

/* ---- requests ---- */

static void req_line(struct cmp_reqf *f, const uint8_t *s, size_t n)
{
    cmp_req_text(f, s, n);
    const uint8_t *sp = memchr(s, ' ', n);
    if (!sp || sp == s) {
        cmp_req_fail(f);
        return;
    }
    size_t ml = (size_t)(sp - s);
    cmp_req_endpoint(f, s, ml, false);
    if (ml == 4 && memcmp(s, "HEAD", 4) == 0)
        f->req.flags |= CMP_R_HEAD;
    if (ml == 7 && memcmp(s, "CONNECT", 7) == 0)
        f->req.flags |= CMP_R_UPGRADE;
    const uint8_t *t = sp + 1, *end = s + n;
    const uint8_t *scheme = memmem(t, (size_t)(end - t), "://", 3);
    const uint8_t *tend = memchr(t, ' ', (size_t)(end - t));
    tend = tend ? tend : end;
    if (scheme && scheme < tend) { /* absolute-form: keep the path (RFC 9112 3.2.2) */
        const uint8_t *slash = memchr(scheme + 3, '/', (size_t)(tend - scheme - 3));
        t = slash ? slash : tend;
    }
    size_t pl = strcspn((const char *)t, "?# ");
    if (pl > (size_t)(tend - t))
        pl = (size_t)(tend - t);
    cmp_req_endpoint(f, " ", 1, false);
    cmp_req_endpoint(f, t, pl, false);
}

static void no_sink(void *arg, const uint8_t *p, size_t n)
{
    (void)arg, (void)p, (void)n;
}

static void req_head_line(struct cmp_reqf *f, struct cmp_http *h)
{
    struct cmp_line *l = &f->line;
    if (h->state == H_START) {
        if (l->len == 0)
            return; /* empty lines before a request line are ignored (RFC 9112 2.2) */
        req_line(f, l->buf, l->len);
        h->state = H_HEAD;
        return;
    }
    if (l->len > 0) {
        if (is_name(l->buf, l->len, "upgrade"))
            f->req.flags |= CMP_R_UPGRADE;
        if (!framing_header(h, l->buf, l->len))
            cmp_req_fail(f);
        return;
    }
    if (h->chunked)
        h->state = H_CSIZE;
    else if (h->has_clen && h->clen > 0)
        h->state = H_BODY, h->left = h->clen;
    else
        h->state = H_START;
    if (h->state == H_START) {
        uint32_t fl = f->req.flags;
        cmp_req_emit(f, 0);
        memset(h, 0, sizeof(*h));
        if (fl & CMP_R_UPGRADE)
            f->dead = true; /* what follows is not HTTP (a tunnel, another protocol) */
    }
}

void cmp_http_req(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    struct cmp_http *h = &f->u.http;
    while (n > 0 && !f->dead) {
        size_t before = n;
        if (h->state == H_START || h->state == H_HEAD) {
            bool got = cmp_line_take(&f->line, &p, &n);
            if (h->state == H_HEAD || f->line.len > 0 || got)
                cmp_req_bytes(f, before - n);
            if (f->line.overflow) {
                cmp_req_fail(f);
                return;
            }
            if (got)
                req_head_line(f, h);
            continue;
        }
        int r = body_step(h, &f->line, &p, &n, no_sink, no_sink, f);
        cmp_req_bytes(f, before - n);
        if (r < 0) {
            cmp_req_fail(f);
            return;
        }
        if (r > 0) {
            uint32_t fl = f->req.flags;
            cmp_req_emit(f, 0);
            memset(h, 0, sizeof(*h));
            if (fl & CMP_R_UPGRADE)
                f->dead = true;
        }
    }
}

/* ---- answers ---- */

static void ans_sink(void *arg, const uint8_t *p, size_t n)
{
    cmp_ans_bytes(arg, p, n);
}

static void ans_header(void *arg, const uint8_t *p, size_t n)
{
    struct cmp_ansf *f = arg;
    char norm[CMP_LINE_MAX];
    size_t k = cmp_noise_header(f->rules, (const char *)p, n, norm, sizeof(norm));
    if (k > 0)
        cmp_unit_header(&f->unit, norm, k);
}

static bool status_line(struct cmp_ansf *f, struct cmp_http *h, const uint8_t *s, size_t n)
{
    uint64_t code;
    size_t used;
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' ||
        !cmp_parse_num(s + 9, 3, false, &code, &used) || used != 3 || code < 100)
        return false;
    h->status = (uint16_t)code;
    cmp_unit_status(&f->unit, (const char *)s, n);
    return true;
}

/* The empty line after an answer's headers: where its body starts, if it has one. */
static void head_end(struct cmp_ansf *f, struct cmp_http *h)
{
    uint16_t st = h->status;
    if (st >= 100 && st < 200 && st != 101) {
        memset(h, 0, sizeof(*h)); /* interim: the final answer follows in the same unit */
        return;
    }
    cmp_bodyf_init(&f->bodyf, f->rules, h->json, &f->unit.body);
    bool head = (cmp_ans_peek(f) & CMP_R_HEAD) != 0;
    if (st == 101)
        h->state = H_CLOSE; /* switched protocols: the rest is one opaque body */
    else if (head || st == 204 || st == 304)
        h->state = H_START;
    else if (h->chunked)
        h->state = H_CSIZE;
    else if (h->has_clen)
        h->state = h->clen > 0 ? H_BODY : H_START, h->left = h->clen;
    else
        h->state = H_CLOSE;
    if (h->state == H_START) {
        if (h->has_clen && (head || st == 204 || st == 304)) { /* no body: the announced length is all there is to compare */
            char line[40];
            int k = snprintf(line, sizeof(line), "content-length:%llu",
                             (unsigned long long)h->clen);
            cmp_unit_header(&f->unit, line, (size_t)k);
        }
        cmp_ans_emit(f, 0);
        memset(h, 0, sizeof(*h));
    }
}

void cmp_http_ans(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    struct cmp_http *h = &f->u.http;
    while (n > 0 && !f->dead) {
        if (h->state == H_START || h->state == H_HEAD) {
            bool got = cmp_line_take(&f->line, &p, &n);
            if (f->line.overflow) {
                cmp_ans_fail(f);
                return;
            }
            if (!got || (h->state == H_START && f->line.len == 0 && !f->started))
                continue; /* stray empty lines between answers */
            cmp_ans_begin(f);
            f->unit.flags |= CMP_U_HTTP;
            struct cmp_line *l = &f->line;
            if (h->state == H_START) {
                if (l->len > 0 && !status_line(f, h, l->buf, l->len)) {
                    cmp_ans_fail(f);
                    return;
                }
                h->state = l->len > 0 ? H_HEAD : H_START;
            } else if (l->len == 0) {
                head_end(f, h);
            } else if (!framing_header(h, l->buf, l->len)) {
                cmp_ans_fail(f);
                return;
            } else {
                ans_header(f, l->buf, l->len);
            }
            continue;
        }
        int r = body_step(h, &f->line, &p, &n, ans_sink, ans_header, f);
        if (r < 0) {
            cmp_ans_fail(f);
            return;
        }
        if (r > 0) {
            cmp_ans_emit(f, 0);
            memset(h, 0, sizeof(*h));
        }
    }
}

void cmp_http_ans_close(struct cmp_ansf *f)
{
    struct cmp_http *h = &f->u.http;
    if (f->dead || !f->started)
        return;
    cmp_ans_emit(f, h->state == H_CLOSE ? CMP_U_CLOSED : CMP_U_TRUNCATED);
    memset(h, 0, sizeof(*h));
}

bool cmp_http_gap(struct cmp_ansf *f, uint64_t n)
{
    struct cmp_http *h = &f->u.http;
    if (h->state == H_CLOSE)
        return true;
    if ((h->state != H_BODY && h->state != H_CDATA) || n > h->left)
        return false;
    h->left -= n;
    if (h->left > 0)
        return true;
    if (h->state == H_CDATA) {
        h->state = H_CCRLF;
        return true;
    }
    cmp_ans_emit(f, 0);
    memset(h, 0, sizeof(*h));
    return true;
}
