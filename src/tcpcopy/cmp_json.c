/*
 * cmp_json: a streaming JSON path filter (RFC 8259 syntax, followed byte by byte).
 *
 * It keeps only the stack of containers above the current byte (the key or the index at
 * each level, bounded by CMP_JSON_DEPTH), never the document. When a value starts at a path
 * that a rule names, its bytes are left out until the value ends (a string's closing quote,
 * a container's matching bracket, a literal's delimiter), so {"id":1} and {"id":22} filter
 * to the same bytes. Keys are compared as they are written (escapes are not decoded). On
 * input that is not JSON the filter stops filtering and passes the rest unchanged: the
 * comparison then sees the body as it is, never less.
 */
#include "cmp_json.h"

#include <stdio.h>
#include <string.h>

enum { J_VALUE, J_KEY, J_COLON, J_AFTER, J_SCALAR };

bool cmp_jpath_parse(struct cmp_jpath *p, const char *text, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    if (text[0] != '$') {
        snprintf(err, errlen, "json path %s: must start with $", text);
        return false;
    }
    const char *s = text + 1;
    while (*s) {
        if (p->nseg == CMP_JSON_SEGS) {
            snprintf(err, errlen, "json path %s: more than %d segments", text, CMP_JSON_SEGS);
            return false;
        }
        if (s[0] == '.' && s[1] == '*') {
            p->seg[p->nseg++].index = -2;
            s += 2;
        } else if (s[0] == '.') {
            size_t n = strcspn(s + 1, ".[");
            if (n == 0 || n >= CMP_JSON_KEY) {
                snprintf(err, errlen, "json path %s: empty or too long key", text);
                return false;
            }
            p->seg[p->nseg].index = -1;
            p->seg[p->nseg].keylen = (uint8_t)n;
            memcpy(p->seg[p->nseg++].key, s + 1, n);
            s += 1 + n;
        } else if (s[0] == '[' && s[1] == '*' && s[2] == ']') {
            p->seg[p->nseg++].index = -2;
            s += 3;
        } else if (s[0] == '[' && s[1] >= '0' && s[1] <= '9') {
            long v = 0;
            s++;
            while (*s >= '0' && *s <= '9' && v < 1000000)
                v = v * 10 + (*s++ - '0');
            if (*s++ != ']') {
                snprintf(err, errlen, "json path %s: bad index", text);
                return false;
            }
            p->seg[p->nseg++].index = (int32_t)v;
        } else {
            snprintf(err, errlen, "json path %s: expected .key, [N] or [*] at \"%s\"", text, s);
            return false;
        }
    }
    if (p->nseg == 0) {
        snprintf(err, errlen, "json path %s: names the whole body", text);
        return false;
    }
    return true;
}

void cmp_json_init(struct cmp_json *j, const struct cmp_jpath *paths, uint32_t npaths)
{
    memset(j, 0, sizeof(*j));
    j->paths = paths;
    j->npaths = npaths;
    j->state = J_VALUE;
}

static bool path_match(const struct cmp_json *j)
{
    for (uint32_t i = 0; i < j->npaths; i++) {
        const struct cmp_jpath *p = &j->paths[i];
        if (p->nseg != j->depth)
            continue;
        uint32_t l = 0;
        for (; l < p->nseg; l++) {
            int32_t ix = p->seg[l].index;
            if (ix == -2)
                continue;
            if (ix == -1 && (j->kind[l] != '{' || j->keylen[l] != p->seg[l].keylen ||
                             memcmp(j->key[l], p->seg[l].key, p->seg[l].keylen) != 0))
                break;
            if (ix >= 0 && (j->kind[l] != '[' || j->idx[l] != (uint32_t)ix))
                break;
        }
        if (l == p->nseg)
            return true;
    }
    return false;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Inside a left-out value: false while it goes on (drop c); true when c is past its end
 * (c is then handled normally). */
static bool skip_step(struct cmp_json *j, uint8_t c, bool *drop)
{
    *drop = true;
    if (j->in_str) {
        if (j->esc)
            j->esc = false;
        else if (c == '\\')
            j->esc = true;
        else if (c == '"') {
            j->in_str = false;
            if (j->skip_str) {
                j->skip = 0, j->state = J_AFTER;
                j->skip_str = false;
            }
        }
        return false;
    }
    if (j->skip_scalar) {
        if (c == ',' || c == '}' || c == ']' || is_ws(c)) {
            j->skip = 0, j->skip_scalar = false, j->state = J_AFTER;
            *drop = false;
            return true;
        }
        return false;
    }
    if (c == '"')
        j->in_str = true;
    else if (c == '{' || c == '[')
        j->skip++;
    else if ((c == '}' || c == ']') && --j->skip == 1)
        j->skip = 0, j->state = J_AFTER;
    return false;
}

static void skip_start(struct cmp_json *j, uint8_t c)
{
    j->skip = 1;
    if (c == '"')
        j->in_str = true, j->skip_str = true;
    else if (c == '{' || c == '[')
        j->skip = 2;
    else
        j->skip_scalar = true;
}

static bool push(struct cmp_json *j, uint8_t kind)
{
    if (j->depth == CMP_JSON_DEPTH)
        return false;
    j->kind[j->depth] = kind;
    j->idx[j->depth] = 0;
    j->keylen[j->depth] = 0;
    j->depth++;
    j->state = kind == '{' ? J_KEY : J_VALUE;
    return true;
}

static bool pop(struct cmp_json *j, uint8_t close)
{
    if (j->depth == 0 || j->kind[j->depth - 1] != (close == '}' ? '{' : '['))
        return false;
    j->depth--;
    j->state = J_AFTER;
    return true;
}

static void str_byte(struct cmp_json *j, uint8_t c)
{
    if (j->esc)
        j->esc = false;
    else if (c == '\\')
        j->esc = true;
    else if (c == '"') {
        j->in_str = false;
        j->state = j->key_str ? J_COLON : J_AFTER;
        return;
    }
    if (j->key_str) {
        uint8_t *kl = &j->keylen[j->depth - 1];
        if (*kl < CMP_JSON_KEY)
            j->key[j->depth - 1][*kl] = (char)c;
        if (*kl <= CMP_JSON_KEY)
            (*kl)++; /* CMP_JSON_KEY + 1: too long, never matches */
    }
}

/* One byte outside strings and skipped values: false when the input is not JSON. */
static bool value_step(struct cmp_json *j, uint8_t c, bool *drop)
{
    *drop = false;
    if (j->state == J_SCALAR) {
        if (c != ',' && c != '}' && c != ']')
            return true;
        j->state = J_AFTER;
    }
    if (j->state == J_AFTER && j->depth == 0)
        j->state = J_VALUE; /* a next document (JSON lines) */
    switch (j->state) {
    case J_VALUE:
        if (c == ']' && j->depth > 0 && j->kind[j->depth - 1] == '[')
            return pop(j, c);
        if (j->depth > 0 && path_match(j)) {
            skip_start(j, c);
            *drop = true;
            return true;
        }
        if (c == '{' || c == '[')
            return push(j, c);
        if (c == '"')
            j->in_str = true, j->key_str = false;
        else
            j->state = J_SCALAR;
        return true;
    case J_KEY:
        if (c == '}')
            return pop(j, c);
        if (c != '"')
            return false;
        j->in_str = true, j->key_str = true;
        j->keylen[j->depth - 1] = 0;
        return true;
    case J_COLON:
        if (c != ':')
            return false;
        j->state = J_VALUE;
        return true;
    default: /* J_AFTER */
        if (c == '}' || c == ']')
            return pop(j, c);
        if (c != ',')
            return false;
        if (j->kind[j->depth - 1] == '[')
            j->idx[j->depth - 1]++, j->state = J_VALUE;
        else
            j->state = J_KEY;
        return true;
    }
}

static bool byte_drop(struct cmp_json *j, uint8_t c)
{
    bool drop = false;
    if (j->broken)
        return false;
    if (j->skip && !skip_step(j, c, &drop))
        return drop;
    if (j->in_str) {
        str_byte(j, c);
        return false;
    }
    if (is_ws(c)) {
        if (j->state == J_SCALAR)
            j->state = J_AFTER;
        return false;
    }
    if (!value_step(j, c, &drop))
        j->broken = true;
    return drop;
}

void cmp_json_feed(struct cmp_json *j, const uint8_t *p, size_t n, cmp_json_out out, void *arg)
{
    size_t run = 0; /* start of the bytes kept and not yet passed on */
    for (size_t i = 0; i < n; i++) {
        if (!byte_drop(j, p[i]))
            continue;
        if (i > run)
            out(arg, p + run, i - run);
        run = i + 1;
        j->dropped++;
    }
    if (n > run)
        out(arg, p + run, n - run);
}
