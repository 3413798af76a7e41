/*
 * peer_tls: how a new peer speaks (doc/protocol.md, section 14). TLS and plain
 * peers share the port: the first byte a tcpcopy sends says which, 0x16 (a TLS
 * handshake record) or 'T' (the "TCPC" of a plain HELLO), read with MSG_PEEK so the
 * plain path sees the stream untouched. Then the TLS handshake, non-blocking. This
 * file returns verdicts; peer.c closes, refuses and logs.
 */
#include "icpt_impl.h"
#include "payload.h"
#include "tls.h"

int peer_tls_sniff(struct peer *pe, char *err, size_t errlen)
{
    struct icpt *ic = pe->ic;
    uint8_t b;
    ssize_t n = recv(pe->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        errbuf_set(err, errlen, "read: %s", strerror(errno));
        return -errno;
    }
    if (n == 0) {
        errbuf_set(err, errlen, "connection closed by the peer before its HELLO");
        return -ECONNRESET;
    }
    pe->sniffed = true;
    if (b != TLS_RECORD_TYPE_HANDSHAKE) {
        if (ic->o->tls_required) {
            errbuf_set(err, errlen,
                       "plain connection, but this intercept has --tls-required (start "
                       "tcpcopy with --tls)");
            return -EACCES;
        }
        return PEER_SNIFF_PLAIN;
    }
    if (ic->tls == NULL) {
        errbuf_set(err, errlen,
                   "starts TLS, but this intercept has no TLS key (give it the same "
                   "--secret-file as tcpcopy, or --tls-cert, --tls-key and --tls-ca)");
        return -EPROTONOSUPPORT;
    }
    pe->tls = tls_new(ic->tls, pe->fd, err, errlen);
    if (pe->tls == NULL)
        return -ENOMEM;
    pe->tls_hs = true;
    return PEER_SNIFF_TLS;
}

int peer_tls_step(struct peer *pe, char *err, size_t errlen)
{
    bool ww = false;
    int r = tls_handshake(pe->tls, &ww, err, errlen);
    if (r < 0) {
        pe->ic->st.tls_failed++;
        return r;
    }
    if (r == 1) {
        pe->tls_hs = false;
        pe->ic->st.tls_peers++;
    }
    if (ww != pe->want_write) {
        pe->want_write = ww;
        loop_fd_mod(pe->ic->loop, pe->fd, LOOP_READ | (ww ? LOOP_WRITE : 0));
    }
    return r;
}

uint32_t peer_payload_offer(const struct peer *pe)
{
    /* Payload is production data: it crosses the network only encrypted. */
    return pe->ic->o->payload && (pe->tls != NULL || pe->loopback) ? CHAN_FEAT_PAYLOAD : 0;
}
