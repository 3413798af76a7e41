/*
 * metrics: one table of a program's counters, rendered two ways from the same
 * rows, so that the stats file (--stats-json) and the Prometheus exposition
 * (--metrics) can never disagree:
 *
 *   JSON   {"sessions": {"outcome": {"complete": 12, ...}, ...}, ...}
 *          (a row's key is a dotted path; rows of one object must be adjacent)
 *   text   # HELP tcpcopy_sessions_total ...
 *          # TYPE tcpcopy_sessions_total counter
 *          tcpcopy_sessions_total{outcome="complete"} 12
 *          (rows of one family must be adjacent)
 *
 * The table and its output buffer are bounded (METRICS_ROWS_MAX rows, the
 * caller's buffer): what does not fit is refused with -ENOSPC, never grown.
 * Names, keys, labels and help texts are the caller's static strings; the table
 * does not copy them. The doc/metrics.md reference lists every row.
 */
#ifndef TC_METRICS_H
#define TC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_ROWS_MAX 384

enum metric_type { METRIC_COUNTER = 0, METRIC_GAUGE };

struct metric_row {
    const char *key;    /* JSON path, dotted: "sessions.outcome.complete" */
    const char *name;   /* Prometheus family: "tcpcopy_sessions_total" */
    const char *lname;  /* label name ("outcome"), or NULL */
    const char *lvalue; /* label value ("complete"), escaped on output */
    const char *help;
    enum metric_type type;
    bool is_float;
    uint64_t u;
    double d;
};

struct metrics {
    struct metric_row rows[METRICS_ROWS_MAX];
    size_t n;
    bool overflow; /* a row did not fit: the renderers refuse the table */
};

/* A bounded output buffer: text is appended while it fits; len never exceeds cap - 1
 * and buf stays NUL-terminated. full is set once something did not fit. */
struct mbuf {
    char *buf;
    size_t len, cap;
    bool full;
};

void metrics_reset(struct metrics *m);
/* Append a row (an integer, or a float with metrics_add_f). The strings must outlive
 * the table. lname NULL: no label. */
void metrics_add(struct metrics *m, const char *key, const char *name, const char *lname,
                 const char *lvalue, enum metric_type type, const char *help, uint64_t v);
void metrics_add_f(struct metrics *m, const char *key, const char *name, const char *lname,
                   const char *lvalue, enum metric_type type, const char *help, double v);

void mbuf_init(struct mbuf *b, char *buf, size_t cap);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included: ", \ and control characters escaped
 * (RFC 8259 section 7); bytes >= 0x80 are passed through (UTF-8 stays UTF-8). */
void mbuf_json_str(struct mbuf *b, const char *s);
/* s as a Prometheus label value (without quotes): \, " and newline escaped. */
void mbuf_prom_label(struct mbuf *b, const char *s);

/* The table as one JSON object, nested by the keys' dots, a newline at the end.
 * 0, -ENOSPC (buffer or table full), or -EINVAL (an object's rows not adjacent, or
 * a key that is both a value and an object). */
int metrics_render_json(const struct metrics *m, struct mbuf *out);
/* The table in the Prometheus text exposition format (version 0.0.4). 0, -ENOSPC,
 * or -EINVAL (a family's rows not adjacent). */
int metrics_render_prom(const struct metrics *m, struct mbuf *out);

/* Write len bytes of data to path atomically: path.tmp, then rename. 0 or -errno. */
int metrics_write_file(const char *path, const char *data, size_t len);

#endif
