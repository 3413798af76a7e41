/*
 * statsout: where a program's counter table goes: the --stats-json file
 * (rewritten atomically on request: each stats interval and at exit) and the
 * --metrics endpoint (rendered on each scrape). Both read the table the
 * caller's fill callback makes at that moment, so they always agree.
 * It owns the table, the render buffer and the endpoint.
 */
#ifndef TC_STATSOUT_H
#define TC_STATSOUT_H

#include <stddef.h>

#include "metrics.h"

#define STATSOUT_JSON_MAX (128 * 1024)

struct loop;
struct statsout;

/* Fill m (metrics_reset first) with the program's counters as of now. */
typedef void statsout_fill_cb(void *arg, struct metrics *m);

/* json_path and metrics_addr may each be NULL (that output is off). NULL with a
 * message in err (out of memory, the address cannot be listened on). */
struct statsout *statsout_new(struct loop *l, const char *json_path, const char *metrics_addr,
                              statsout_fill_cb *fill, void *arg, char *err, size_t errlen);
/* Write the JSON file now (no-op without a path). 0 or -errno; a failure is also
 * logged when it starts (not again while it lasts). */
int statsout_write(struct statsout *s);
/* The table as last filled (by statsout_write or a scrape), refilled now. */
const struct metrics *statsout_fill(struct statsout *s);
void statsout_free(struct statsout *s); /* NULL-safe */

#endif
