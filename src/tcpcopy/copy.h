/*
 * copy: the tcpcopy daemon. It wires the capture, the session engine, the
 * sender and the intercept channel to one event loop:
 *
 *   capture (raw socket) --pkt--> eng_on_capture --segments--> sender (sendmmsg)
 *   chanc (intercept) --reply headers--> eng_on_reply --ACKs, data--> sender
 *   loop timer --> eng_tick (retransmissions, answer waits, timeouts)
 *   before sleeping: eng_flush (owed ACKs), chanc_flush (routes), sender_flush
 */
#ifndef TC_COPY_H
#define TC_COPY_H

#include <stdbool.h>
#include <stddef.h>

#include "opts.h"

struct copy;

/* Open the sockets and connect to every intercept. NULL with a message in err
 * (missing privilege, unreachable intercept, ...). o must outlive the result. */
struct copy *copy_new(const struct tc_opts *o, char *err, size_t errlen);
/* Copy until SIGTERM or SIGINT; then reset the target sessions. 0 or -errno. */
int copy_run(struct copy *c);
/* Log every counter (periodically, and with final set at exit). */
void copy_log_stats(struct copy *c, bool final);
void copy_free(struct copy *c); /* NULL-safe */

#endif
