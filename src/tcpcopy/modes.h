/*
 * modes: the capture and send backends that tcpcopy's options select.
 *   capture: raw socket (default) | libpcap on each -i device (--pcap-capture)
 *            (offline replay reads a file instead: offline.h)
 *   send:    raw IP (default) | link layer on -o (--pcap-send), with destination
 *            MACs from -x ...@MAC or the neighbour table
 * Startup only; failures come back as one-line messages in err.
 */
#ifndef TC_TCPCOPY_MODES_H
#define TC_TCPCOPY_MODES_H

#include <stddef.h>

#include "opts.h"

struct capture;
struct sender;

#define MODES_FILTER_MAX 8192

/*
 * The default BPF filter of --pcap-capture, from the -x rules: each rule's client
 * packets, "(tcp and dst port P [and dst host H])", OR-ed, minus what tcpcopy
 * itself sends to the targets, "not (dst host T and dst port TP)" per rule; with
 * answers (--compare), also the online server's segments, "or (tcp and src port P [and
 * src host H])" per rule. 0, or -ENOSPC if it does not fit in len.
 */
int modes_default_filter(const struct xfer_map *m, bool answers, char *buf, size_t len);

/* The live capture of o (raw socket or libpcap). NULL with err on failure. */
struct capture *modes_capture_open(const struct tc_opts *o, char *err, size_t errlen);

/* The sender of o (raw IP or link layer; MTU o->mtu). NULL with err on failure. */
struct sender *modes_sender_open(const struct tc_opts *o, char *err, size_t errlen);

/*
 * Warn (log_warnx, one line each) about every -x rule that can never copy a packet:
 * one shadowed by an earlier rule (any mode), and with the raw socket capture one
 * whose online address is not this host's, or whose family this host has no
 * address of (the raw socket sees only packets delivered locally; --pcap-capture
 * may legitimately see others, so it is not checked there). Never fatal. Returns
 * the number of warnings.
 */
size_t modes_warn_rules(const struct tc_opts *o);

#endif
