/*
 * icpt: the intercept daemon. It owns the captures (one per -i device), the
 * listening sockets, the connected tcpcopy peers, the route table and the FIFO of
 * replies still waiting for their route, all driven by one event loop.
 *
 *   capture -> parse headers -> route lookup (client = dst, target = src)
 *           -> that peer's chan_out (REPLY records) -> one write per peer per loop turn
 *   peer socket -> HELLO, ROUTE_ADD/DEL, HEARTBEAT, BYE
 */
#ifndef TC_ICPT_H
#define TC_ICPT_H

#include <stddef.h>

#include "opts.h"

struct icpt;

/*
 * Set everything up from the options: captures, listening sockets, the allowlist.
 * Needs root or CAP_NET_RAW for the captures. NULL with a message in err on failure.
 * o must outlive it. Daemonize (if at all) between icpt_new and icpt_run.
 */
struct icpt *icpt_new(const struct icpt_opts *o, char *err, size_t errlen);
/* Install the signal handling (SIGTERM/SIGINT stop, SIGHUP reopens the log) and
 * serve until SIGTERM or SIGINT, or until no capture is left. 0, or -errno. */
int icpt_run(struct icpt *ic);
/* Log the counters (every 30 s on its own, and at exit). */
void icpt_log_stats(struct icpt *ic);
/* Close every peer and socket and release everything. NULL-safe. */
void icpt_free(struct icpt *ic);

#endif
