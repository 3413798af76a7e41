/*
 * cmp_mc: memcached's text protocol for the comparison (protocol.txt of memcached).
 *
 * Requests are lines; storage commands (set add replace append prepend cas, and meta ms)
 * carry a data block of the announced length plus CRLF. A trailing "noreply" (and quit)
 * means no answer will come: the request is flagged so that pairing expects none. Replies:
 * VALUE lines each with a data block, then END; STAT lines then END; VA (meta) with a data
 * block; any other line is a whole reply (STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED,
 * TOUCHED, a number, ERROR, CLIENT_ERROR, SERVER_ERROR, VERSION, OK, HD, EN, ...). The cas
 * unique of a VALUE line is left out: two servers never agree on it. A line longer than
 * CMP_LINE_MAX makes that message unparsable; framing resumes at the next line.
 */
#include "cmp_fimpl.h"

#include <string.h>

enum { M_LINE = 0, M_DATA };

#define MC_TOKENS 8

static const uint8_t crlf[2] = {'\r', '\n'};

/* Split s into at most MC_TOKENS space-separated tokens: returns their count. */
static size_t tokens(const uint8_t *s, size_t n, const uint8_t **tok, size_t *len)
{
    size_t k = 0, i = 0;
    while (i < n && k < MC_TOKENS) {
        while (i < n && s[i] == ' ')
            i++;
        if (i == n)
            break;
        tok[k] = s + i;
        while (i < n && s[i] != ' ')
            i++;
        len[k] = (size_t)(s + i - tok[k]);
        k++;
    }
    return k;
}

static bool tok_is(const uint8_t *t, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(t, w, n) == 0;
}

static bool tok_num(const uint8_t *t, size_t n, uint64_t *v)
{
    size_t used;
    return cmp_parse_num(t, n, false, v, &used) && used == n && *v < (1ULL << 40);
}

/* ---- requests ---- */

static const char *const storage[] = {"set", "add", "replace", "append", "prepend", "cas"};

static void req_line(struct cmp_reqf *f, struct cmp_mc *m, const uint8_t *s, size_t n)
{
    const uint8_t *tok[MC_TOKENS];
    size_t len[MC_TOKENS];
    size_t k = tokens(s, n, tok, len);
    if (k == 0)
        return;
    cmp_req_endpoint(f, tok[0], len[0], false);
    cmp_req_text(f, s, n);
    bool store = false;
    for (size_t i = 0; i < sizeof(storage) / sizeof(storage[0]); i++)
        store |= tok_is(tok[0], len[0], storage[i]);
    uint64_t bytes = 0;
    if ((store && (k < 5 || !tok_num(tok[4], len[4], &bytes))) ||
        (tok_is(tok[0], len[0], "ms") && (k < 3 || !tok_num(tok[2], len[2], &bytes)))) {
        cmp_req_emit(f, CMP_R_UNPARSABLE); /* the data block's length is unknown */
        f->st.resync++;
        return;
    }
    if ((k > 1 && tok_is(tok[k - 1], len[k - 1], "noreply")) || tok_is(tok[0], len[0], "quit"))
        f->req.flags |= CMP_R_NOREPLY;
    if (store || tok_is(tok[0], len[0], "ms")) {
        m->left = bytes + 2;
        m->state = M_DATA;
        return;
    }
    cmp_req_emit(f, 0);
}

void cmp_mc_req(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    struct cmp_mc *m = &f->u.mc;
    while (n > 0 && !f->dead) {
        size_t before = n;
        if (m->state == M_DATA) {
            size_t k = m->left < n ? (size_t)m->left : n;
            p += k, n -= k, m->left -= k;
            cmp_req_bytes(f, k);
            if (m->left == 0) {
                m->state = M_LINE;
                cmp_req_emit(f, 0);
            }
            continue;
        }
        bool got = cmp_line_take(&f->line, &p, &n);
        cmp_req_bytes(f, before - n);
        if (!got)
            continue;
        if (f->line.overflow) {
            f->st.overflow++, f->st.resync++;
            cmp_req_endpoint(f, "(unparsable)", 12, false);
            cmp_req_emit(f, CMP_R_UNPARSABLE);
            continue;
        }
        req_line(f, m, f->line.buf, f->line.len);
    }
}

/* ---- answers ---- */

/* Hash a VALUE line without its cas unique (the fifth token). */
static void value_line(struct cmp_ansf *f, const uint8_t **tok, const size_t *len, size_t k)
{
    for (size_t i = 0; i < k && i < 4; i++) {
        if (i > 0)
            cmp_ans_bytes(f, (const uint8_t *)" ", 1);
        cmp_ans_bytes(f, tok[i], len[i]);
    }
    cmp_ans_bytes(f, crlf, 2);
}

static void ans_line(struct cmp_ansf *f, struct cmp_mc *m, const uint8_t *s, size_t n)
{
    const uint8_t *tok[MC_TOKENS];
    size_t len[MC_TOKENS];
    size_t k = tokens(s, n, tok, len);
    uint64_t bytes;
    cmp_ans_begin(f);
    if (k >= 4 && tok_is(tok[0], len[0], "VALUE") && tok_num(tok[3], len[3], &bytes)) {
        value_line(f, tok, len, k);
        m->in_block = true;
        m->left = bytes + 2, m->state = M_DATA;
        return;
    }
    cmp_ans_bytes(f, s, n);
    cmp_ans_bytes(f, crlf, 2);
    if (k >= 2 && tok_is(tok[0], len[0], "VA") && tok_num(tok[1], len[1], &bytes)) {
        m->in_block = false;
        m->left = bytes + 2, m->state = M_DATA;
        return;
    }
    if (k >= 1 && tok_is(tok[0], len[0], "STAT")) {
        m->in_block = true;
        return;
    }
    m->in_block = false; /* END, or a one-line reply (an error ends a block too) */
    cmp_ans_emit(f, 0);
}

void cmp_mc_ans(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    struct cmp_mc *m = &f->u.mc;
    while (n > 0 && !f->dead) {
        if (m->state == M_DATA) {
            size_t k = m->left < n ? (size_t)m->left : n;
            cmp_ans_bytes(f, p, k);
            p += k, n -= k, m->left -= k;
            if (m->left == 0) {
                m->state = M_LINE;
                if (!m->in_block)
                    cmp_ans_emit(f, 0);
            }
            continue;
        }
        if (!cmp_line_take(&f->line, &p, &n))
            continue;
        if (f->line.overflow) {
            f->st.overflow++, f->st.resync++;
            m->in_block = false;
            cmp_ans_emit(f, CMP_U_UNPARSABLE);
            continue;
        }
        ans_line(f, m, f->line.buf, f->line.len);
    }
}

bool cmp_mc_gap(struct cmp_ansf *f, uint64_t n)
{
    struct cmp_mc *m = &f->u.mc;
    if (m->state != M_DATA || n > m->left)
        return false;
    m->left -= n;
    if (m->left == 0) {
        m->state = M_LINE;
        if (!m->in_block)
            cmp_ans_emit(f, 0);
    }
    return true;
}
