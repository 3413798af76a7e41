/*
 * check_impl: what the parts of tcpcopy's --check share (check.c runs them in
 * order; check_chan.c: the intercepts; check_probe.c: the end-to-end probe).
 */
#ifndef TC_TCPCOPY_CHECK_IMPL_H
#define TC_TCPCOPY_CHECK_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "finding.h"
#include "opts.h"
#include "transfer.h"

struct chanc;
struct loop;

/* What a plain TCP connection from this host to a target's port found. */
enum check_direct { DIRECT_UNTRIED = 0, DIRECT_OPEN, DIRECT_REFUSED, DIRECT_SILENT, DIRECT_NOROUTE };

/* What came of a rule's probe session. */
enum check_probe {
    PROBE_NOT_RUN = 0,
    PROBE_SYNACK,  /* intercept reported the target's SYN-ACK */
    PROBE_RST,     /* intercept reported the target's RST: the port is closed */
    PROBE_SILENT,  /* nothing reported within the wait */
    PROBE_EPERM,   /* the kernel refused to send the SYN: a firewall OUTPUT rule */
    PROBE_ACK_EPERM, /* SYN-ACK reported, but our ACK was refused: conntrack-invalid drop */
    PROBE_UNREACH, /* the kernel has no route for the SYN */
    PROBE_ERROR,   /* the SYN could not be built or sent for another reason */
};

struct check_rule {
    bool dup;              /* same target address and port as an earlier rule */
    bool seen;             /* a client packet for this rule was captured */
    struct addr client;    /* its source (a probe source when -c is empty) */
    enum check_direct direct;
    enum check_probe probe;
    char why[512];         /* why the probe did not run (PROBE_NOT_RUN) */
    struct addr psrc;      /* the probe's source address and port, its ISN */
    uint16_t psport;
    uint32_t isn;
    uint32_t tseq;         /* the target's ISN, from its SYN-ACK */
};

struct check {
    const struct tc_opts *o;
    struct findings *f;
    bool priv;                       /* CAP_NET_RAW: raw capture and send possible */
    struct check_rule rules[XFER_RULES_MAX];
    struct loop *loop;               /* drives the channel while probing */
    struct chanc *chan[SERVERS_MAX]; /* one per -s server; NULL unless it is up */
    struct server_list one[SERVERS_MAX]; /* the single-server lists they were made from */
    size_t nup;
    size_t pending;                  /* probes still waiting for a report */
};

/* Connect to each intercept (check_chan.c): one finding per server; the ones that
 * are up stay in k->chan for the probe. */
void check_intercepts(struct check *k);
/* Close the intercept connections (NULL-safe on each). */
void check_intercepts_close(struct check *k);

/* The finding for a failed handshake: r and err as chanc_connect_all returned them
 * (a refusal by BYE is sorted by its reason code). */
void check_chan_refusal(struct check *k, const char *label, int r, const char *err);

/* A reply record from an intercept (the channel's on_reply, check_chan.c). */
void check_probe_on_reply(struct check *k, const uint8_t *hdr, size_t len);
/* Probe each distinct target through the intercepts that are up, wait for the
 * reports, close every probe session with RST (check_probe.c). Sets rules[].probe. */
void check_probe_run(struct check *k);

/* One verdict per distinct target, from what the direct connection and the probe
 * found (check.c): the first hop that fails, or that the path works. */
void check_verdicts(struct check *k);

#endif
