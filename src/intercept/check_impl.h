/*
 * check_impl: what the parts of intercept's --check share (check.c: the local
 * checks; check_peers.c: the channel port and the peer window).
 */
#ifndef TC_ICPT_CHECK_IMPL_H
#define TC_ICPT_CHECK_IMPL_H

#include "check.h"
#include "finding.h"

struct icheck {
    const struct icpt_opts *o;
    struct findings *f;
    struct icheck_target targets[ICHECK_TARGETS_MAX]; /* given first, then learned */
    size_t ntargets;
    size_t ngiven;  /* targets[0..ngiven) came from --check-target */
    int listen_fd;  /* the channel port, held for the peer window; -1 */
};

/* Bind and listen on the channel port as intercept would (kept in k->listen_fd when
 * there is a peer window). 0 or -errno (-EADDRINUSE: someone listens already). */
int icheck_listen(struct icheck *k);
/* With --check-wait: accept the tcpcopy peers that connect for that long, judge
 * each (--allow, HELLO, secret), learn the targets of the routes they register,
 * and add a finding for each. Then close them (BYE) and the port. */
void icheck_peers(struct icheck *k);

#endif
