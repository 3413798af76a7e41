/*
 * payload: REPLY records that carry a reply's whole packet (CHAN_FEAT_PAYLOAD,
 * doc/protocol.md section 6.1), for the routes tcpcopy flagged with
 * CHAN_ROUTE_F_PAYLOAD. A record must fit in one frame: a larger captured segment
 * (GRO hands the capture up to 64 KB at once) is split into several records, each a
 * valid segment of its own (IP length, IPv4 header checksum, sequence number, FIN
 * and PSH on the last piece only). No I/O, no allocation: it appends to a chan_out.
 */
#ifndef TC_ICPT_PAYLOAD_H
#define TC_ICPT_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "pkt.h"

struct payload_stats {
    uint64_t records;   /* records with payload queued */
    uint64_t bytes;     /* payload bytes in them */
    uint64_t split;     /* segments that needed more than one record */
    uint64_t truncated; /* payload not wholly captured (snaplen): headers only were sent */
    uint64_t refused;   /* not queued: the output was full (nothing of the segment sent) */
};

/*
 * Queue the reply p with its payload into o. hdr holds its IP + TCP headers (hlen =
 * p->ip_hlen + p->tcp_hlen bytes; may be a rewritten copy of p->ip); the payload is
 * read from p->data. Pieces carry at most max_rec bytes each (headers included;
 * CHAN_REPLY_REC_MAX in production, smaller in tests). All pieces are queued, or none.
 * Returns the number of records queued (1 for a segment without payload or one whose
 * payload was cut by the capture, which goes as headers only), or -ENOBUFS, -EINVAL.
 */
int payload_put(struct chan_out *o, const struct pkt *p, const uint8_t *hdr, size_t hlen,
                size_t max_rec, struct payload_stats *st);

#endif
