/*
 * metrics: the counter table and its two renderings (see metrics.h). Owns
 * nothing beyond the caller's table and buffer; the file writer owns its
 * temporary file until it is renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

#define METRICS_DEPTH_MAX 8 /* levels of JSON nesting */

void metrics_reset(struct metrics *m)
{
    m->n = 0;
    m->overflow = false;
}

static struct metric_row *metrics_row(struct metrics *m)
{
    if (m->n >= METRICS_ROWS_MAX) {
        m->overflow = true;
        return NULL;
    }
    return &m->rows[m->n++];
}

void metrics_add(struct metrics *m, const char *key, const char *name, const char *lname,
                 const char *lvalue, enum metric_type type, const char *help, uint64_t v)
{
    struct metric_row *r = metrics_row(m);
    if (r != NULL)
        *r = (struct metric_row){.key = key, .name = name, .lname = lname, .lvalue = lvalue,
                                 .help = help, .type = type, .u = v};
}

void metrics_add_f(struct metrics *m, const char *key, const char *name, const char *lname,
                   const char *lvalue, enum metric_type type, const char *help, double v)
{
    struct metric_row *r = metrics_row(m);
    if (r != NULL)
        *r = (struct metric_row){.key = key, .name = name, .lname = lname, .lvalue = lvalue,
                                 .help = help, .type = type, .is_float = true, .d = v};
}

/* ---- the output buffer ---- */

void mbuf_init(struct mbuf *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->full = cap == 0;
    if (cap > 0)
        buf[0] = '\0';
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
    if (b->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->full = true;
        b->buf[b->len] = '\0'; /* nothing of a partial write stays */
        return;
    }
    b->len += (size_t)n;
}

static void mbuf_putc(struct mbuf *b, char c)
{
    if (b->full || b->len + 1 >= b->cap) {
        b->full = true;
        return;
    }
    b->buf[b->len++] = c;
    b->buf[b->len] = '\0';
}

void mbuf_json_str(struct mbuf *b, const char *s)
{
    mbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"': mbuf_printf(b, "\\\""); break;
        case '\\': mbuf_printf(b, "\\\\"); break;
        case '\n': mbuf_printf(b, "\\n"); break;
        case '\r': mbuf_printf(b, "\\r"); break;
        case '\t': mbuf_printf(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                mbuf_printf(b, "\\u%04x", *p);
            else
                mbuf_putc(b, (char)*p);
        }
    }
    mbuf_putc(b, '"');
}

void mbuf_prom_label(struct mbuf *b, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\')
            mbuf_printf(b, "\\\\");
        else if (*p == '"')
            mbuf_printf(b, "\\\"");
        else if (*p == '\n')
            mbuf_printf(b, "\\n");
        else
            mbuf_putc(b, *p);
    }
}

/* HELP text: backslash and newline escaped (the exposition format's rule). */
static void mbuf_prom_help(struct mbuf *b, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\')
            mbuf_printf(b, "\\\\");
        else if (*p == '\n')
            mbuf_printf(b, "\\n");
        else
            mbuf_putc(b, *p);
    }
}

/* ---- JSON ---- */

/* The byte length of key's first k components ("a.b.c", 2 -> 3); 0 for k == 0. */
static size_t key_prefix(const char *key, int k)
{
    size_t i = 0;
    for (int c = 0; c < k; c++) {
        while (key[i] != '\0' && key[i] != '.')
            i++;
        if (c + 1 < k) {
            if (key[i] == '\0')
                return i;
            i++;
        }
    }
    return i;
}

static int key_depth(const char *key)
{
    int d = 1;
    for (const char *p = key; *p != '\0'; p++)
        d += *p == '.';
    return d;
}

/* Do a and b share their first k components? */
static bool key_same_prefix(const char *a, const char *b, int k)
{
    size_t la = key_prefix(a, k), lb = key_prefix(b, k);
    return la == lb && memcmp(a, b, la) == 0 && key_depth(a) >= k && key_depth(b) >= k;
}

/* Row i's first k components name an object: did a row before i-1's run use it? Row i
 * opens it, so an earlier user means the object's rows are split. */
static bool json_reopened(const struct metrics *m, size_t i, int k)
{
    for (size_t j = 0; j < i; j++)
        if (key_depth(m->rows[j].key) > k && key_same_prefix(m->rows[j].key, m->rows[i].key, k))
            return true;
    return false;
}

/* A leaf whose whole key an earlier row used, as a value or as an object. */
static bool json_leaf_clash(const struct metrics *m, size_t i)
{
    const char *key = m->rows[i].key;
    size_t len = strlen(key);
    for (size_t j = 0; j < i; j++) {
        const char *o = m->rows[j].key;
        if (strncmp(o, key, len) == 0 && (o[len] == '\0' || o[len] == '.'))
            return true;
        size_t lo = strlen(o);
        if (lo < len && strncmp(o, key, lo) == 0 && key[lo] == '.')
            return true; /* an earlier value is this key's parent */
    }
    return false;
}

static void json_value(struct mbuf *out, const struct metric_row *r)
{
    if (!r->is_float)
        mbuf_printf(out, "%llu", (unsigned long long)r->u);
    else if (isfinite(r->d))
        mbuf_printf(out, "%.9g", r->d);
    else
        mbuf_printf(out, "null");
}

/* The member name of key's component k (1-based) into comp; false if empty or too long. */
static bool key_comp(const char *key, int k, char *comp, size_t len)
{
    size_t a = key_prefix(key, k - 1) + (k > 1), b = key_prefix(key, k);
    if (b <= a || b - a >= len)
        return false;
    memcpy(comp, key + a, b - a);
    comp[b - a] = '\0';
    return true;
}

int metrics_render_json(const struct metrics *m, struct mbuf *out)
{
    if (m->overflow)
        return -ENOSPC;
    bool comma[METRICS_DEPTH_MAX + 1] = {false}; /* a member was written at this level */
    int open = 0;                                /* objects open below the top level */
    const char *prev = NULL;
    char comp[128];
    mbuf_printf(out, "{");
    for (size_t i = 0; i < m->n; i++) {
        const char *key = m->rows[i].key;
        int depth = key_depth(key);
        if (depth > METRICS_DEPTH_MAX)
            return -EINVAL;
        int common = 0;
        while (prev != NULL && common < open && common < depth - 1 &&
               key_same_prefix(prev, key, common + 1))
            common++;
        for (; open > common; open--)
            mbuf_printf(out, "}");
        for (int k = common + 1; k < depth; k++) {
            if (json_reopened(m, i, k) || !key_comp(key, k, comp, sizeof(comp)))
                return -EINVAL;
            mbuf_printf(out, "%s", comma[open] ? "," : "");
            comma[open] = true;
            mbuf_json_str(out, comp);
            mbuf_printf(out, ":{");
            comma[++open] = false;
        }
        if (json_leaf_clash(m, i) || !key_comp(key, depth, comp, sizeof(comp)))
            return -EINVAL;
        mbuf_printf(out, "%s", comma[open] ? "," : "");
        comma[open] = true;
        mbuf_json_str(out, comp);
        mbuf_printf(out, ":");
        json_value(out, &m->rows[i]);
        prev = key;
    }
    for (; open > 0; open--)
        mbuf_printf(out, "}");
    mbuf_printf(out, "}\n");
    return out->full ? -ENOSPC : 0;
}

/* ---- Prometheus text ---- */

static void prom_value(struct mbuf *out, const struct metric_row *r)
{
    if (!r->is_float)
        mbuf_printf(out, "%llu", (unsigned long long)r->u);
    else if (isnan(r->d))
        mbuf_printf(out, "NaN");
    else if (isinf(r->d))
        mbuf_printf(out, "%sInf", r->d > 0 ? "+" : "-");
    else
        mbuf_printf(out, "%.9g", r->d);
}

int metrics_render_prom(const struct metrics *m, struct mbuf *out)
{
    if (m->overflow)
        return -ENOSPC;
    const char *prev = NULL;
    for (size_t i = 0; i < m->n; i++) {
        const struct metric_row *r = &m->rows[i];
        if (prev == NULL || strcmp(prev, r->name) != 0) {
            for (size_t j = 0; j < i; j++)
                if (strcmp(m->rows[j].name, r->name) == 0)
                    return -EINVAL;
            mbuf_printf(out, "# HELP %s ", r->name);
            mbuf_prom_help(out, r->help != NULL ? r->help : "");
            mbuf_printf(out, "\n# TYPE %s %s\n", r->name,
                        r->type == METRIC_COUNTER ? "counter" : "gauge");
            prev = r->name;
        }
        mbuf_printf(out, "%s", r->name);
        if (r->lname != NULL) {
            mbuf_printf(out, "{%s=\"", r->lname);
            mbuf_prom_label(out, r->lvalue != NULL ? r->lvalue : "");
            mbuf_printf(out, "\"}");
        }
        mbuf_printf(out, " ");
        prom_value(out, r);
        mbuf_printf(out, "\n");
    }
    return out->full ? -ENOSPC : 0;
}

/* ---- the stats file ---- */

int metrics_write_file(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    /* A reader sees the old file or the new one, never a part: rename is atomic
     * within a file system, and the temporary file sits beside the target. */
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}
