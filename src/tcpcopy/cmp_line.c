/*
 * cmp_line: what every framer shares (see cmp_fimpl.h): the bounded line reader, the
 * answer unit in progress and the queue of awaited requests, the request in progress.
 */
#include "cmp_fimpl.h"

#include <ctype.h>
#include <string.h>

bool cmp_line_take(struct cmp_line *l, const uint8_t **p, size_t *n)
{
    if (l->done) {
        l->len = 0;
        l->overflow = l->done = false;
    }
    const uint8_t *nl = memchr(*p, '\n', *n);
    size_t take = nl ? (size_t)(nl - *p) + 1 : *n;
    size_t keep = nl ? take - 1 : take;
    size_t room = CMP_LINE_MAX - l->len;
    if (keep > room) {
        keep = room;
        l->overflow = true;
    }
    memcpy(l->buf + l->len, *p, keep);
    l->len += (uint32_t)keep;
    *p += take;
    *n -= take;
    if (!nl)
        return false;
    l->done = true;
    if (l->len > 0 && l->buf[l->len - 1] == '\r')
        l->len--;
    return true;
}

bool cmp_parse_num(const uint8_t *s, size_t n, bool hex, uint64_t *v, size_t *used)
{
    size_t i = 0, digits = 0;
    uint64_t x = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    for (; i < n && digits < 18; i++, digits++) {
        int d;
        if (s[i] >= '0' && s[i] <= '9')
            d = s[i] - '0';
        else if (hex && isxdigit(s[i]))
            d = tolower(s[i]) - 'a' + 10;
        else
            break;
        x = x * (hex ? 16 : 10) + (uint64_t)d;
    }
    if (digits == 0 || (i < n && digits == 18 && isxdigit(s[i])))
        return false; /* none, or too many to trust */
    *v = x;
    if (used)
        *used = i;
    return true;
}

void cmp_ans_begin(struct cmp_ansf *f)
{
    if (f->started)
        return;
    f->started = true;
    cmp_unit_init(&f->unit);
    cmp_bodyf_init(&f->bodyf, f->rules, false, &f->unit.body);
}

void cmp_ans_bytes(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    cmp_ans_begin(f);
    cmp_bodyf_add(&f->bodyf, p, n);
}

size_t cmp_db_take(struct cmp_ansf *f, struct cmp_db *d, const uint8_t *p, size_t n)
{
    size_t k = d->left < n ? d->left : n;
    size_t keep = CMP_DB_PRE - d->pn < k ? CMP_DB_PRE - d->pn : k;
    memcpy(d->pre + d->pn, p, keep);
    d->pn += (uint32_t)keep;
    if (d->hashing)
        cmp_ans_bytes(f, p, k);
    d->left -= (uint32_t)k;
    return k;
}

uint32_t cmp_ans_peek(const struct cmp_ansf *f)
{
    return f->exp_n > 0 ? f->exp[f->exp_head] : 0;
}

void cmp_ans_emit(struct cmp_ansf *f, uint32_t flags)
{
    cmp_ans_begin(f);
    cmp_bodyf_end(&f->bodyf);
    f->unit.flags |= flags;
    if (f->unit.flags & CMP_U_UNPARSABLE)
        f->st.unparsable++;
    if (f->exp_n > 0 && !(f->unit.flags & CMP_U_PUSH)) {
        f->exp_head = (f->exp_head + 1) % CMP_EXPECT;
        f->exp_n--;
    }
    f->st.messages++;
    f->started = false;
    f->cb(f->arg, &f->unit);
}

void cmp_ans_emit_unasked(struct cmp_ansf *f)
{
    uint32_t n = f->exp_n;
    f->exp_n = 0; /* the awaited requests stay awaited */
    cmp_ans_emit(f, 0);
    f->exp_n = n;
}

void cmp_ans_fail(struct cmp_ansf *f)
{
    if (f->line.overflow)
        f->st.overflow++;
    cmp_ans_emit(f, CMP_U_UNPARSABLE | CMP_U_LAST);
    f->dead = true;
}

void cmp_req_bytes(struct cmp_reqf *f, size_t n)
{
    f->started = true;
    f->req.len += n;
}

void cmp_req_text(struct cmp_reqf *f, const void *p, size_t n)
{
    size_t room = CMP_REQ_TEXT - f->req.textlen;
    if (n > room)
        n = room;
    memcpy(f->req.text + f->req.textlen, p, n);
    f->req.textlen += (uint32_t)n;
}

void cmp_req_endpoint(struct cmp_reqf *f, const void *p, size_t n, bool upper)
{
    size_t used = strlen(f->req.endpoint);
    size_t room = CMP_ENDPOINT_MAX - 1 - used;
    const uint8_t *s = p;
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c < 0x20 || c > 0x7e)
            c = '?'; /* endpoints are keys in a report: printable only */
        f->req.endpoint[used + i] = (char)(upper ? toupper(c) : c);
    }
    f->req.endpoint[used + n] = '\0';
}

void cmp_req_emit(struct cmp_reqf *f, uint32_t flags)
{
    f->req.flags |= flags;
    f->req.proto = f->proto;
    if (f->req.flags & CMP_R_UNPARSABLE)
        f->st.unparsable++;
    f->st.messages++;
    f->cb(f->arg, &f->req);
    memset(&f->req, 0, sizeof(f->req));
    f->started = false;
}

void cmp_req_fail(struct cmp_reqf *f)
{
    if (f->line.overflow)
        f->st.overflow++;
    if (f->req.endpoint[0] == '\0')
        cmp_req_endpoint(f, "(unparsable)", 12, false);
    cmp_req_emit(f, CMP_R_UNPARSABLE);
    f->dead = true;
}
