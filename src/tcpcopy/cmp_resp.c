/*
 * cmp_resp: Redis's RESP (RESP2, and RESP3 as far as its framing goes) for the comparison.
 *
 * Requests are arrays of bulk strings (or inline commands, one line); the endpoint is the
 * command's name in upper case, the excerpt the arguments joined by spaces. Replies are
 * followed type by type: simple lines (+ - : _ , # ( ), lengths with data ($ ! =, -1 is a
 * null), aggregates (* ~ > with n elements, % and | with n pairs, -1 a null). An attribute
 * (|) does not count as the reply: the element after it does. A push (>) at the top is
 * flagged: it answers no request. Streamed types (a length of ?) are not followed: the
 * stream is marked unparsable and framing stops. Line endings are hashed as CRLF.
 */
#include "cmp_fimpl.h"

#include <string.h>

enum { R_TYPE = 0, R_BULK };
enum { Q_START = 0, Q_ARGLEN, Q_ARGDATA };

#define BULK_MAX (1ULL << 40)

static const uint8_t crlf[2] = {'\r', '\n'};

/* A count or length after the type byte: -1 gives *null. */
static bool parse_len(const uint8_t *s, size_t n, uint64_t *v, bool *null)
{
    size_t used;
    *null = false;
    if (n == 2 && s[0] == '-' && s[1] == '1') {
        *null = true;
        return true;
    }
    return cmp_parse_num(s, n, false, v, &used) && used == n && *v < BULK_MAX;
}

/* One element ended: the reply ends when every aggregate above it is complete. */
static void element_done(struct cmp_ansf *f, struct cmp_resp *r)
{
    while (r->depth > 0) {
        uint8_t top = r->depth - 1;
        if (--r->rem[top] > 0)
            return;
        r->depth--;
        if (r->attr[top])
            return; /* the attribute's element follows */
    }
    cmp_ans_emit(f, 0);
}

static bool type_line(struct cmp_ansf *f, struct cmp_resp *r, const uint8_t *s, size_t n)
{
    uint64_t v = 0;
    bool null;
    if (n == 0)
        return false;
    switch (s[0]) {
    case '+': case '-': case ':': case '_': case ',': case '#': case '(':
        element_done(f, r);
        return true;
    case '$': case '!': case '=':
        if (!parse_len(s + 1, n - 1, &v, &null))
            return false;
        if (null) {
            element_done(f, r);
            return true;
        }
        r->left = v + 2;
        r->state = R_BULK;
        return true;
    case '*': case '%': case '~': case '>': case '|':
        if (!parse_len(s + 1, n - 1, &v, &null))
            return false;
        if (s[0] == '>' && r->depth == 0)
            f->unit.flags |= CMP_U_PUSH;
        if (null || v == 0) {
            element_done(f, r);
            return true;
        }
        if (r->depth == CMP_RESP_DEPTH)
            return false;
        r->rem[r->depth] = (int64_t)((s[0] == '%' || s[0] == '|') ? 2 * v : v);
        r->attr[r->depth] = s[0] == '|';
        r->depth++;
        return true;
    default:
        return false;
    }
}

void cmp_resp_ans(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    struct cmp_resp *r = &f->u.resp;
    while (n > 0 && !f->dead) {
        if (r->state == R_BULK) {
            size_t k = r->left < n ? (size_t)r->left : n;
            cmp_ans_bytes(f, p, k);
            p += k, n -= k, r->left -= k;
            if (r->left == 0) {
                r->state = R_TYPE;
                element_done(f, r);
            }
            continue;
        }
        bool got = cmp_line_take(&f->line, &p, &n);
        if (f->line.overflow) {
            cmp_ans_fail(f);
            return;
        }
        if (!got)
            continue;
        cmp_ans_begin(f);
        cmp_ans_bytes(f, f->line.buf, f->line.len);
        cmp_ans_bytes(f, crlf, 2);
        if (!type_line(f, r, f->line.buf, f->line.len)) {
            cmp_ans_fail(f);
            return;
        }
    }
}

bool cmp_resp_gap(struct cmp_ansf *f, uint64_t n)
{
    struct cmp_resp *r = &f->u.resp;
    if (r->state != R_BULK || n > r->left)
        return false;
    r->left -= n;
    if (r->left == 0) {
        r->state = R_TYPE;
        element_done(f, r);
    }
    return true;
}

/* ---- requests ---- */

static void arg_bytes(struct cmp_reqf *f, struct cmp_resp *r, const uint8_t *p, size_t k)
{
    if (r->argi == 0)
        cmp_req_endpoint(f, p, k, true);
    cmp_req_text(f, p, k);
}

static void inline_cmd(struct cmp_reqf *f, const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    if (i == n)
        return; /* an empty line is no command */
    size_t w = i;
    while (w < n && s[w] != ' ' && s[w] != '\t')
        w++;
    cmp_req_endpoint(f, s + i, w - i, true);
    cmp_req_text(f, s + i, n - i);
    cmp_req_emit(f, 0);
}

static bool req_line(struct cmp_reqf *f, struct cmp_resp *r, const uint8_t *s, size_t n)
{
    uint64_t v;
    bool null;
    if (r->state == Q_START) {
        if (n == 0 || s[0] != '*') {
            inline_cmd(f, s, n);
            return true;
        }
        if (!parse_len(s + 1, n - 1, &v, &null) || null || v == 0)
            return false;
        r->nargs = (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v), r->argi = 0;
        r->state = Q_ARGLEN;
        return true;
    }
    /* Q_ARGLEN */
    if (n < 2 || s[0] != '$' || !parse_len(s + 1, n - 1, &v, &null) || null)
        return false;
    r->left = v + 2;
    r->state = Q_ARGDATA;
    return true;
}

void cmp_resp_req(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    struct cmp_resp *r = &f->u.resp;
    while (n > 0 && !f->dead) {
        size_t before = n;
        if (r->state == Q_ARGDATA) {
            size_t k = r->left < n ? (size_t)r->left : n;
            size_t data = r->left > 2 ? (size_t)(r->left - 2) : 0; /* bytes before CRLF */
            arg_bytes(f, r, p, k < data ? k : data);
            p += k, n -= k, r->left -= k;
            cmp_req_bytes(f, k);
            if (r->left > 0)
                continue;
            if (++r->argi == r->nargs) {
                cmp_req_emit(f, 0);
                r->state = Q_START;
            } else {
                cmp_req_text(f, " ", 1);
                r->state = Q_ARGLEN;
            }
            continue;
        }
        bool got = cmp_line_take(&f->line, &p, &n);
        cmp_req_bytes(f, before - n);
        if (f->line.overflow) {
            cmp_req_fail(f);
            return;
        }
        if (got && !req_line(f, r, f->line.buf, f->line.len)) {
            cmp_req_fail(f);
            return;
        }
    }
}
