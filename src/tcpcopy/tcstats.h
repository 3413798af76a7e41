/*
 * tcstats: tcpcopy's counter table (see metrics.h), filled from the engine, the
 * sender, the channel client and the capture. One table feeds --stats-json, the
 * --metrics exposition and the status line; doc/metrics.md lists every row.
 */
#ifndef TC_TCSTATS_H
#define TC_TCSTATS_H

#include <stdbool.h>
#include <stdint.h>

#include "chanc.h"
#include "cmp_out.h" /* the counters of --compare, and for copy.c its outputs */
#include "decap.h"
#include "metrics.h"
#include "send.h"
#include "tcp.h"

struct mod;

/* Everything the table is made from, gathered by copy.c (no pointer is kept). */
struct tcstats_src {
    const struct eng_stats *eng;
    const struct sender_stats *snd;
    const struct chanc_stats *ch;
    const struct cmp_stats *cmp;       /* --compare (NULL: off, no rows) */
    bool cmp_baseline;                 /* --compare-baseline: its rows too */
    uint64_t ch_up, ch_total;          /* intercept connections up, and configured */
    uint64_t parse_errors;             /* captured packets not parsed */
    uint64_t reply_errors;             /* reply records not parsed */
    uint64_t kernel_drops;             /* the capture's kernel drop counter */
    uint64_t decap_err[DECAP_E_COUNT]; /* --decap: packets not decapsulated, by reason */
    uint64_t offline_read, offline_replayed, offline_skipped;
    double uptime_s;
    const char *version;
    const struct mod *module;          /* --module (NULL: none, no module rows) */
};

/* Requests answered by the target / requests seen, the copy ratio tcpcopy can
 * judge itself (0 before any request was seen). */
double tcstats_ratio(const struct eng_stats *s);
/* Fill m (reset first) from src. */
void tcstats_fill(struct metrics *m, const struct tcstats_src *src);

#endif
