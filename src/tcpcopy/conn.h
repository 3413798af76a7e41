/*
 * conn: one session's TCP connection toward the target, seen from its sending side (we are
 * the client). It owns the sender's state (struct conn, inside struct sess): sequence
 * numbers, the target's window, RTT and retransmission timer, the SACK scoreboard, fast
 * recovery, delayed ACKs and the engine's handshake slots.
 *
 *   conn_open       a new connection from ISN isn: the state reset, the SYN sent
 *   conn_establish  the target's SYN-ACK
 *   conn_on_ack     an acknowledgement (window, SACK, RTT, fast retransmit)
 *   conn_output     send what may be sent: queued bytes within the window, up to the
 *                   next request whose answer has not come (gate.c), then the FIN
 *   conn_on_rto     the retransmission timer ran out
 *   conn_reset      forget the connection, keep what was learnt of the path (RTT)
 *
 * It decides nothing about the session's fate: where a connection cannot go on it says
 * so in a return value, and the engine (tcp.c) chooses the outcome.
 *
 *   conn_open ──► SYN_SENT ──SYN-ACK──► ESTAB ──FIN sent, acknowledged──► (FIN_ACKED)
 *                   │  SYN resent 0.25, 0.5 .. 8 s     │  RTO: back to snd_una, doubled
 *                   │  (waits for a handshake slot)    │  3 dup ACKs: fast retransmit,
 *                   ▼                                  ▼  SACK holes, NewReno recovery
 *              caller: refused / timed out        caller: RST from target, 12 backoffs
 */
#ifndef TC_CONN_H
#define TC_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"

struct eng;
struct sess;

/* A SYN is sent up to CONN_SYN_TRIES times (see conn.c). */
#define CONN_SYN_TRIES 7

/* struct conn flags (CF_*). */
enum conn_flag {
    CF_TS = 1U << 0,          /* timestamps negotiated (RFC 7323) */
    CF_SACK = 1U << 1,        /* SACK permitted both ways (RFC 2018) */
    CF_RECOVERY = 1U << 2,    /* in fast recovery until recover is acknowledged */
    CF_FIN_SENT = 1U << 3,    /* our FIN is in flight (cleared when rewound for retransmission) */
    CF_FIN_ACKED = 1U << 4,
    CF_TARGET_FIN = 1U << 5,
    CF_TARGET_RST = 1U << 6,
    CF_RST_SENT = 1U << 7,
    CF_ACK_PENDING = 1U << 8, /* on the engine's ACK list for this batch */
    CF_ACK_FORCE = 1U << 9,   /* owe an ACK even if it acknowledges nothing new */
    CF_HS_SLOT = 1U << 10,    /* holds one of the engine's handshake slots */
    CF_HS_WAIT = 1U << 11,    /* waits for one (on the engine's queue) */
    CF_REFUSED = 1U << 12,    /* the target refused a SYN: retrying with backoff */
    CF_RTO_WAIT = 1U << 13,   /* after a timeout: one segment out until the next new ACK */
};

struct conn_sack {
    uint32_t lo, hi;
};

struct conn {
    /* In the client's sequence space (we keep its ISN). */
    uint32_t snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd;   /* target's window in bytes (scaled) */
    uint32_t t_isn;
    uint32_t rcv_nxt;   /* highest target seq seen + 1 (what we acknowledge) */
    uint32_t acked_rcv; /* rcv_nxt in the last packet we sent */
    uint32_t ts_recent; /* target's latest TSval, echoed */
    uint32_t srtt_us, rttvar_us, rto_us;
    uint32_t rtt_seq;   /* segment being timed (Karn: never a retransmission) */
    uint32_t recover;   /* snd_max when fast recovery began (RFC 6582) */
    uint32_t rtx_next;  /* in recovery: where to look for the next hole */
    uint32_t rto_tsval; /* TSval of the last timeout's retransmission (RFC 3522) */
    uint64_t rtt_t0_us;
    uint64_t rto_at_us; /* retransmission deadline (0: none) */
    uint64_t ack_at_us; /* a delayed ACK is due then (0: none owed) */
    uint16_t t_mss;     /* target's MSS option */
    uint16_t flags;     /* enum conn_flag bits */
    uint8_t syn_tries;  /* SYNs sent for the current handshake (CONN_SYN_TRIES) */
    uint8_t t_ws;       /* target's window scale, if both sides offered it */
    uint8_t dupacks;
    uint8_t backoff : 4; /* RTO doublings since the last progress (RTX_MAX_BACKOFF) */
    uint8_t nsacked : 4; /* ranges in sacked[] (PKT_SACK_MAX) */
    struct conn_sack sacked[PKT_SACK_MAX]; /* target's SACK scoreboard above snd_una, sorted */
};

/* Forget the connection: every sequence number at isn, no timer, no ACK owed. What was
 * learnt of the path (RTT, RTO) stays, and so does a place on the engine's ACK list. */
void conn_reset(struct conn *c, uint32_t isn);
/* A new connection from ISN isn (the stream's first byte is isn + 1): reset, SYN sent. */
void conn_open(struct eng *e, struct sess *s, uint32_t isn);
/* Send (or resend) the SYN, once the session holds a handshake slot; without a free slot
 * it waits in line and sends when one is released. */
void conn_send_syn(struct eng *e, struct sess *s);
/* The session leaves the handshake (established, ended, restarting): its slot, or its
 * place in line, goes to the next session waiting. */
void conn_hs_release(struct eng *e, struct sess *s);
/* When a refused or unanswered SYN is to be sent again. */
uint64_t conn_syn_retry_at(const struct eng *e, const struct sess *s);

/* Build and hand over one segment (len bytes of client data from seq). */
void conn_emit(struct eng *e, struct sess *s, uint8_t flags, uint32_t seq, uint32_t len,
               bool syn_opts);
/* RST toward the target at snd_nxt, unless it reset or we already did (counted). */
void conn_send_rst(struct eng *e, struct sess *s);
void conn_ack_now(struct eng *e, struct sess *s);
/* Owe the target an ACK at the end of this batch; force: even a repeated one. */
void conn_ack_later(struct eng *e, struct sess *s, bool force);
/* Take s off the engine's ACK list (it is being freed). */
void conn_ack_unlist(struct eng *e, struct sess *s);
/* End of a batch: send the ACKs owed, or delay them (RFC 9293 3.8.6.3). */
void conn_flush_acks(struct eng *e);
/* A delayed ACK whose time has come. */
void conn_ack_due(struct eng *e, struct sess *s);

/* The target's SYN-ACK p answers our SYN. */
void conn_establish(struct eng *e, struct sess *s, const struct pkt *p);
void conn_on_ack(struct eng *e, struct sess *s, const struct pkt *p);
/* Send what may be sent. True when everything the client sent before its reset has been
 * delivered and acknowledged: the caller may now end the session. */
bool conn_output(struct eng *e, struct sess *s);
/* The retransmission timer ran out in ESTAB: go back to snd_una and send again. False
 * when the retransmissions are exhausted (the caller ends the session). */
bool conn_on_rto(struct eng *e, struct sess *s);

/* Client bytes (or its FIN) not yet acknowledged by the target, sent or not. */
bool conn_pending(const struct sess *s);
/* Client bytes the target has not acknowledged (sent or not). */
bool conn_bytes_waiting(const struct sess *s);

#endif
