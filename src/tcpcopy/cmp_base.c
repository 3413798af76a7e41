/*
 * cmp_base: is a target's difference noise? (see cmp_base.h)
 *
 * The answers are compared layer by layer, as cmp_diff_units does, but every layer is looked
 * at, since a noisy header must not hide a real body difference behind it:
 *
 *   status  (HTTP)  t's status differs from o's: noise when b's status differs from o's too;
 *   headers (HTTP)  each header *name* whose lines differ between t and o (a line one side
 *                   has more often than the other) must also differ between b and o; when a
 *                   side has more header lines than the unit keeps the text of (32), the names
 *                   cannot all be known and the difference is real;
 *   body            the first difference of t against o must be the same kind at the same
 *                   offset as b's against o (both exact, or both naming the same block), and
 *                   every other place where t differs from o, as far as the units tell (the
 *                   first 256 and last 64 bytes byte by byte, the blocks by their hashes),
 *                   must differ between b and o too.
 *
 * A layer where t equals o needs nothing of b. The rule errs toward "real": a difference is
 * noise only when the baseline showed the very same kind of difference.
 */
#include "cmp_base.h"

#include <string.h>
#include <strings.h>

#define NAMES_MAX (2 * CMP_NHEADERS)

struct names {
    unsigned n;
    char s[NAMES_MAX][CMP_HEADER_TEXT];
};

static unsigned hcount(const struct cmp_unit *u, uint64_t h)
{
    unsigned c = 0;
    for (uint32_t i = 0; i < u->nheaders; i++)
        c += u->hdr_h[i] == h;
    return c;
}

static bool names_has(const struct names *ns, const char *name)
{
    for (unsigned i = 0; i < ns->n; i++)
        if (strcasecmp(ns->s[i], name) == 0)
            return true;
    return false;
}

/* Adds the name (text before ':') of u's lines that v has fewer times. */
static void names_extra(struct names *ns, const struct cmp_unit *u, const struct cmp_unit *v)
{
    for (uint32_t i = 0; i < u->nheaders; i++) {
        if (hcount(u, u->hdr_h[i]) <= hcount(v, u->hdr_h[i]))
            continue;
        char name[CMP_HEADER_TEXT];
        size_t k = strcspn(u->hdr_text[i], ":");
        memcpy(name, u->hdr_text[i], k);
        name[k] = '\0';
        if (!names_has(ns, name) && ns->n < NAMES_MAX)
            memcpy(ns->s[ns->n++], name, k + 1);
    }
}

/* The header names whose lines differ between u and v; false when some line's text is not
 * kept (too many lines) so the names cannot all be known. */
static bool names_diff(const struct cmp_unit *u, const struct cmp_unit *v, struct names *ns)
{
    ns->n = 0;
    if (u->nheaders > CMP_NHEADERS || v->nheaders > CMP_NHEADERS)
        return false;
    names_extra(ns, u, v);
    names_extra(ns, v, u);
    return true;
}

static uint32_t put_line(uint8_t *out, const struct cmp_unit *u, const char *name)
{
    size_t k = strlen(name);
    for (uint32_t i = 0; i < u->nheaders && i < CMP_NHEADERS; i++) {
        if (strncasecmp(u->hdr_text[i], name, k) == 0 && u->hdr_text[i][k] == ':') {
            size_t n = strlen(u->hdr_text[i]);
            memcpy(out, u->hdr_text[i], n);
            return (uint32_t)n;
        }
    }
    return 0;
}

/* The header layer of t against o: 0 equal, 1 noise, -1 real; d set when not equal. */
static int header_layer(const struct cmp_unit *o, const struct cmp_unit *t,
                        const struct cmp_unit *b, struct cmp_diff *d)
{
    if (o->head_h == t->head_h && o->nheaders == t->nheaders)
        return 0;
    struct names ot, ob; /* 5 KB each */
    bool known = names_diff(o, t, &ot) && names_diff(o, b, &ob);
    const char *real = NULL;
    for (unsigned i = 0; known && i < ot.n && !real; i++)
        if (!names_has(&ob, ot.s[i]))
            real = ot.s[i];
    if (!known || ot.n == 0) {
        cmp_diff_header(o, t, d); /* names unknown: cmp_diff's own pick */
        return -1;
    }
    memset(d, 0, sizeof(*d));
    d->kind = CMP_KIND_HEADER, d->exact = true;
    const char *shown = real ? real : ot.s[0];
    d->alen = put_line(d->a, o, shown);
    d->blen = put_line(d->b, t, shown);
    return real ? -1 : 1;
}

/* Byte i of s if kept (head or tail), else -1. */
static int byte_at(const struct cmp_stream *s, uint64_t i)
{
    if (i >= s->len)
        return -1;
    if (i < CMP_EXCERPT)
        return s->head[i];
    if (i + CMP_TAIL >= s->len)
        return s->tail[i % CMP_TAIL];
    return -2; /* not kept */
}

/* Every place where t differs from o, as far as the units tell (the kept bytes, the blocks),
 * also differs between b and o. */
static bool places_within(const struct cmp_stream *o, const struct cmp_stream *t,
                          const struct cmp_stream *b)
{
    uint64_t n = o->len < t->len ? o->len : t->len;
    for (uint64_t i = 0; i < n; i++) {
        if (i == CMP_EXCERPT && n > CMP_EXCERPT + CMP_TAIL)
            i = n - CMP_TAIL; /* the middle: blocks below */
        int x = byte_at(o, i), y = byte_at(t, i), z = byte_at(b, i);
        if (x >= 0 && y >= 0 && x != y && z == x)
            return false;
    }
    uint32_t level = o->level > t->level ? o->level : t->level;
    level = level > b->level ? level : b->level;
    uint64_t ho, ht, hb;
    for (uint32_t k = 0; cmp_diff_block(o, level, k, &ho) && cmp_diff_block(t, level, k, &ht); k++)
        if (ho != ht && cmp_diff_block(b, level, k, &hb) && hb == ho)
            return false;
    return true;
}

/* The body layer: 0 equal, 1 noise, -1 real. The baseline must show the same first
 * difference (kind and place) and differ wherever else the target does. */
static int body_layer(const struct cmp_unit *o, const struct cmp_unit *t,
                      const struct cmp_unit *b, struct cmp_diff *d)
{
    if (cmp_diff_body(o, t, d))
        return 0;
    struct cmp_diff db;
    if (cmp_diff_body(o, b, &db))
        return -1;
    if (db.kind != d->kind || db.offset != d->offset || db.exact != d->exact)
        return -1;
    return places_within(&o->body, &t->body, &b->body) ? 1 : -1;
}

bool cmp_base_noise(const struct cmp_unit *o, const struct cmp_unit *t, const struct cmp_unit *b,
                    struct cmp_diff *d)
{
    struct cmp_diff first, cur; /* about 700 bytes each */
    bool http = (o->flags & t->flags & CMP_U_HTTP) != 0;
    bool any = false;
    if (http && o->status_h != t->status_h) {
        cmp_diff_units(o, t, d); /* the status is the first thing it looks at */
        if (o->status_h == b->status_h)
            return false;
        first = *d, any = true;
    }
    int v = http ? header_layer(o, t, b, &cur) : 0;
    if (v < 0) {
        *d = cur;
        return false;
    }
    if (v > 0 && !any)
        first = cur, any = true;
    v = body_layer(o, t, b, &cur);
    if (v < 0) {
        *d = cur;
        return false;
    }
    if (v > 0 && !any)
        first = cur, any = true;
    if (!any) /* t equals o after all (the caller asked needlessly): call it noise-free */
        return cmp_diff_units(o, t, d), false;
    *d = first;
    return true;
}
