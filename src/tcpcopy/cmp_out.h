/*
 * cmp_out: tcpcopy --compare DIR's outputs (doc/compare.md, "Outputs"). Owns the
 * comparison's context for the engine (cmp_sess.h; cmp_ctx_new/free are here), the rules
 * and the mask compiled from the options, the running summary, and the files in DIR:
 *   mismatches.jsonl  one line per differing request, appended as results come;
 *   noise.jsonl       differences a baseline shows too (--compare-baseline; else empty);
 *   summary.json      the totals, rewritten every 10 s and at exit (temp file + rename);
 *   report.html       the page for people (cmp_html.c), written with summary.json.
 */
#ifndef TC_CMP_OUT_H
#define TC_CMP_OUT_H

#include <stddef.h>

#include "chanc.h"
#include "cmp_sess.h"
#include "opts.h"

#define CMP_OUT_REFRESH_US (10ULL * 1000000)
#define CMP_OUT_LINES_MAX 100000 /* lines written to mismatches.jsonl; the rest counted */

struct loop;

/* Make DIR (if missing), open its files, compile --compare-ignore and --compare-mask, and
 * arm the refresh timer on l (may be NULL: no timer). ch: the channel's counters, read
 * for the lag of the replies being read (may be NULL). The context for eng_conf.cmp, or NULL with a
 * message in err. */
struct cmp_ctx *cmp_out_open(const struct tc_opts *o, struct loop *l, const struct chanc_stats *ch,
                             char *err, size_t errlen);
/* Rewrite summary.json (and report.html) now, flush mismatches.jsonl. 0 or -errno. */
int cmp_out_write(struct cmp_ctx *x);
/* The files are written a last time and everything released: after eng_shutdown (every
 * compared session gave its results) and eng_free. NULL-safe. */
void cmp_out_free(struct cmp_ctx *x);

#endif
