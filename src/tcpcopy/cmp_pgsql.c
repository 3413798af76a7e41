/*
 * cmp_pgsql: the PostgreSQL frontend/backend protocol 3.0 for the comparison (issue 21).
 *
 * Messages (a type byte and a 4-byte length; the startup phase's have no type) are followed
 * one at a time with their first CMP_DB_PRE bytes kept, the rest streaming into the unit's
 * hash; pg_frame() (db_pgsql.c) checks each length. Requests ("Message Flow" in the
 * PostgreSQL documentation): SSLRequest or GSSENCRequest, named "(ssl)", whose answer is one
 * byte; CancelRequest "(cancel)", answered by nothing; the StartupMessage "(login)", whose
 * answer runs up to ReadyForQuery (or an ErrorResponse); a simple Query; an extended-protocol
 * group (Parse, Bind, Describe, Execute, Close, Flush) up to its Sync; a FunctionCall.
 * PasswordMessage and COPY data from the client are no request. Every other answer runs up to
 * ReadyForQuery. Noise: in the login's answer, ParameterStatus and BackendKeyData are not
 * compared (the secret key, server_version and the like differ), and of each authentication
 * request only its code (salts and SCRAM nonces are random).
 */
#include "cmp_fimpl.h"
#include "db_pgsql.h"

#include <string.h>

enum { G_STARTUP = 0, G_TYPED };
enum { A_CMD = 0, A_LOGIN };

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The header is complete (hl bytes): the payload's length, or -1 when it cannot be. */
static int64_t payload_len(const struct cmp_db *d, size_t hl)
{
    size_t total;
    if (pg_frame(d->hdr, hl, hl == 4, &total) < 0)
        return -1;
    return (int64_t)be32(d->hdr + hl - 4) - 4;
}

/* ---- answers ---- */

static void msg_begin(struct cmp_ansf *f, struct cmp_db *d)
{
    if (!f->started)
        d->state = (cmp_ans_peek(f) & CMP_R_LOGIN) ? A_LOGIN : A_CMD;
    cmp_ans_begin(f);
    d->type = d->hdr[0];
    d->hashing = d->state == A_CMD || (d->type != 'S' && d->type != 'K' && d->type != 'R');
    if (d->hashing)
        cmp_ans_bytes(f, d->hdr, 5);
}

static void msg_end(struct cmp_ansf *f, struct cmp_db *d)
{
    d->hn = 0;
    if (d->state == A_LOGIN && d->type == 'R') {
        cmp_ans_bytes(f, &d->type, 1);
        cmp_ans_bytes(f, d->pre, d->pn < 4 ? d->pn : 4); /* the code, not the salt */
    }
    if (d->type == 'Z' || (d->state == A_LOGIN && d->type == 'E'))
        cmp_ans_emit(f, 0);
}

void cmp_pgsql_ans(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    struct cmp_db *d = &f->u.db;
    while (n > 0 && !f->dead) {
        if (d->hn == 0 && !f->started && (cmp_ans_peek(f) & CMP_R_ONEBYTE)) {
            cmp_ans_bytes(f, p, 1); /* 'N' or 'S' to an SSLRequest */
            cmp_ans_emit(f, 0);
            p++, n--;
            continue;
        }
        if (d->hn < 5) {
            size_t k = 5U - d->hn < n ? 5U - d->hn : n;
            memcpy(d->hdr + d->hn, p, k);
            d->hn += (uint8_t)k, p += k, n -= k;
            if (d->hn < 5)
                return;
            int64_t len = payload_len(d, 5);
            if (len < 0) {
                cmp_ans_fail(f);
                return;
            }
            d->plen = d->left = (uint32_t)len, d->pn = 0;
            msg_begin(f, d);
            if (d->left == 0)
                msg_end(f, d);
            continue;
        }
        size_t k = cmp_db_take(f, d, p, n);
        p += k, n -= k;
        if (d->left == 0)
            msg_end(f, d);
    }
}

bool cmp_pgsql_gap(struct cmp_ansf *f, uint64_t n)
{
    struct cmp_db *d = &f->u.db;
    if (d->hn < 5 || !d->hashing || n > d->left || d->type != 'D')
        return false; /* only inside a DataRow */
    d->left -= (uint32_t)n;
    if (d->left == 0)
        msg_end(f, d);
    return true;
}

/* ---- requests ---- */

/* The NUL-terminated string at pre[*off] (cut at what was kept). */
static const uint8_t *pre_str(const struct cmp_db *d, size_t *off, size_t *len)
{
    size_t n = d->pn < d->plen ? d->pn : d->plen;
    if (*off >= n)
        return NULL;
    const uint8_t *s = d->pre + *off, *z = memchr(s, 0, n - *off);
    *len = z ? (size_t)(z - s) : n - *off;
    *off += *len + 1;
    return s;
}

static void startup_msg(struct cmp_reqf *f, struct cmp_db *d)
{
    uint32_t code = d->pn >= 4 ? be32(d->pre) : 0;
    cmp_req_bytes(f, 0);
    if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST) {
        cmp_req_endpoint(f, "(ssl)", 5, false);
        cmp_req_emit(f, CMP_R_ONEBYTE);
    } else if (code == PG_CANCEL_REQUEST) {
        cmp_req_endpoint(f, "(cancel)", 8, false);
        cmp_req_emit(f, CMP_R_NOREPLY);
    } else if (code == PG_PROTO_3) {
        d->phase = G_TYPED;
        cmp_req_endpoint(f, "(login)", 7, false);
        cmp_req_emit(f, CMP_R_LOGIN);
    } else {
        cmp_req_fail(f);
    }
}

static void typed_msg(struct cmp_reqf *f, struct cmp_db *d)
{
    size_t off = 0, len = 0;
    const uint8_t *s;
    bool named = f->req.endpoint[0] != '\0';
    switch (d->type) {
    case 'p':
    case 'd':
    case 'c':
    case 'f':
        return; /* authentication answers, COPY data: part of another exchange */
    case 'Q':
        cmp_req_bytes(f, 0);
        if ((s = pre_str(d, &off, &len)) != NULL && !named)
            cmp_sql_endpoint(f, "", s, len);
        cmp_req_emit(f, 0);
        return;
    case 'F':
    case 'X':
        cmp_req_bytes(f, 0);
        cmp_req_endpoint(f, d->type == 'F' ? "FUNCTION_CALL" : "TERMINATE", d->type == 'F' ? 13 : 9,
                         false);
        cmp_req_emit(f, d->type == 'X' ? CMP_R_NOREPLY : 0);
        return;
    case 'P':
        pre_str(d, &off, &len); /* the statement's name */
        if ((s = pre_str(d, &off, &len)) != NULL) {
            if (!named)
                cmp_sql_endpoint(f, "", s, len);
            if (f->req.textlen == 0)
                cmp_req_text(f, s, len);
        }
        break;
    case 'B':
        pre_str(d, &off, &len); /* the portal */
        if ((s = pre_str(d, &off, &len)) != NULL && !named) {
            cmp_req_endpoint(f, "EXECUTE", 7, false);
            if (len > 0)
                cmp_req_endpoint(f, " ", 1, false);
            cmp_req_endpoint(f, s, len, false);
        }
        break;
    case 'S':
        cmp_req_bytes(f, 0);
        if (!named)
            cmp_req_endpoint(f, "SYNC", 4, false);
        d->group = false;
        cmp_req_emit(f, 0);
        return;
    case 'D':
    case 'E':
    case 'C':
    case 'H':
        break;
    default:
        cmp_req_fail(f);
        return;
    }
    d->group = true;
    cmp_req_bytes(f, 0);
}

void cmp_pgsql_req(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    struct cmp_db *d = &f->u.db;
    while (n > 0 && !f->dead) {
        size_t hl = d->phase == G_STARTUP ? 4 : 5;
        if (d->hn < hl) {
            size_t k = hl - d->hn < n ? hl - d->hn : n;
            memcpy(d->hdr + d->hn, p, k);
            d->hn += (uint8_t)k, p += k, n -= k;
            f->req.len += k;
            if (d->hn < hl)
                return;
            int64_t len = payload_len(d, hl);
            if (len < 0) {
                cmp_req_fail(f);
                return;
            }
            d->plen = d->left = (uint32_t)len, d->pn = 0;
            d->type = hl == 5 ? d->hdr[0] : 0;
        } else {
            size_t k = d->left < n ? d->left : n;
            size_t keep = CMP_DB_PRE - d->pn < k ? CMP_DB_PRE - d->pn : k;
            memcpy(d->pre + d->pn, p, keep);
            d->pn += (uint32_t)keep;
            if (d->type == 'Q') {
                size_t t = k, already = d->plen - d->left;
                if (already + t >= d->plen && t > 0)
                    t--; /* the query's NUL */
                cmp_req_text(f, p, t);
            }
            f->req.len += k;
            d->left -= (uint32_t)k, p += k, n -= k;
        }
        if (d->left == 0) {
            d->hn = 0;
            if (d->phase == G_STARTUP)
                startup_msg(f, d);
            else
                typed_msg(f, d);
        }
    }
}

/* A client's first message: a StartupMessage (protocol 3.0) or an SSLRequest, GSSENCRequest
 * or CancelRequest, with a length that fits it. */
int cmp_pgsql_detect(const uint8_t *p, size_t n)
{
    if (n < 8)
        return p[0] == 0 ? -1 : 0;
    uint32_t len = be32(p), code = be32(p + 4);
    if (code == PG_PROTO_3)
        return len > 8 && len <= PG_STARTUP_MAX;
    if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST)
        return len == 8;
    return code == PG_CANCEL_REQUEST && len == 16;
}
