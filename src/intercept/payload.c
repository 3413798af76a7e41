/*
 * payload: reply records with the reply's payload, split to fit a frame (see
 * payload.h). The pieces of a split segment are what the target would have sent
 * without segmentation offload: consecutive segments with the same headers, the
 * sequence number advanced by the bytes before them (RFC 9293 3.4), FIN and PSH
 * only on the last (FIN occupies the sequence number after the last byte). The TCP
 * checksum is not recomputed: tcpcopy does not verify it on channel records, whose
 * header-only form never matches it anyway.
 */
#include <errno.h>
#include <string.h>

#include "payload.h"

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* Headers for the piece of plen payload bytes at offset off, last or not. */
static void piece_hdr(uint8_t *h, const struct pkt *p, size_t hlen, size_t off, size_t plen,
                      int last)
{
    uint8_t *th = h + p->ip_hlen;
    if (p->af == AF_INET) {
        wr16(h + 2, (uint16_t)(hlen + plen));
        wr16(h + 10, 0);
        wr16(h + 10, csum_fold(csum_add(0, h, p->ip_hlen)));
    } else {
        /* IPv6 payload length: extension headers, TCP header and data. */
        wr16(h + 4, (uint16_t)(hlen - PKT_IP6_HLEN + plen));
    }
    wr32(th + 4, p->seq + (uint32_t)off);
    if (!last)
        th[13] &= (uint8_t) ~(TCPF_FIN | TCPF_PSH);
}

int payload_put(struct chan_out *o, const struct pkt *p, const uint8_t *hdr, size_t hlen,
                size_t max_rec, struct payload_stats *st)
{
    if (hlen == 0 || hlen > PKT_HDR_MAX || max_rec > CHAN_REPLY_REC_MAX || max_rec <= hlen)
        return -EINVAL;
    size_t have = p->cap_len > hlen ? p->cap_len - hlen : 0;
    size_t plen = p->data_len;
    if (plen == 0 || p->data == NULL || have < plen) {
        /* Nothing to carry, or the capture cut it (snaplen): the headers say how much
         * there was, and tcpcopy sees a record shorter than its IP length. */
        if (plen > 0)
            st->truncated++;
        int r = chan_put_reply(o, hdr, hlen);
        return r < 0 ? r : 1;
    }
    size_t chunk = max_rec - hlen;
    size_t n = (plen + chunk - 1) / chunk;
    /* All or nothing: a segment half sent would look like a loss to tcpcopy. Each
     * piece costs at most a frame header, its length prefix and its bytes. */
    if (buf_room(&o->buf) < plen + n * (hlen + 2 + CHAN_HDR_LEN)) {
        st->refused++;
        return -ENOBUFS;
    }
    if (n == 1) {
        if (chan_put_reply2(o, hdr, hlen, p->data, plen) < 0) {
            st->refused++;
            return -ENOBUFS;
        }
    } else {
        uint8_t h[PKT_HDR_MAX];
        for (size_t i = 0, off = 0; i < n; i++, off += chunk) {
            size_t len = plen - off < chunk ? plen - off : chunk;
            memcpy(h, hdr, hlen);
            piece_hdr(h, p, hlen, off, len, i + 1 == n);
            /* Cannot fail: the room was checked above. */
            (void)chan_put_reply2(o, h, hlen, p->data + off, len);
        }
        st->split++;
    }
    st->records += n;
    st->bytes += plen;
    return (int)n;
}
