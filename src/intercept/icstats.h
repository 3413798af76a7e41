/*
 * icstats: intercept's counter table (see metrics.h), filled from the daemon's
 * counters, the route table, the hold FIFO and the captures. One table feeds
 * --stats-json and the --metrics exposition; doc/metrics.md lists every row.
 */
#ifndef TC_ICSTATS_H
#define TC_ICSTATS_H

#include "icpt_impl.h"
#include "metrics.h"

/* Everything the table is made from, gathered by icpt.c (no pointer is kept). */
struct icstats_src {
    const struct icpt_stats *st;
    const struct route_stats *rs;
    const struct route_hold_stats *hs;
    uint64_t routes, held;          /* routes in the table; replies held for their route */
    uint64_t peers, peers_up;       /* connected tcpcopy peers; of them, HELLO (and AUTH) done */
    uint64_t kernel_drops;          /* the captures' kernel drop counters, summed */
    double uptime_s;
    const char *version;
};

/* Fill m (reset first) from src. */
void icstats_fill(struct metrics *m, const struct icstats_src *src);

#endif
