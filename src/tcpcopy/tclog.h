/*
 * tclog: tcpcopy's stats log lines, from the counters' sources (see tclog.c).
 */
#ifndef TC_TCLOG_H
#define TC_TCLOG_H

#include "tcstats.h"

/* Log the sessions, not-replayed and traffic lines, each prefixed by w ("stats", "final"). */
void tclog_write(const struct tcstats_src *src, const char *w);

#endif
