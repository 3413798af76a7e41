/*
 * tcp: the session engine. It plays the client side of every copied session
 * toward the target, driven only by function calls:
 *
 *   eng_on_capture(pkt, now)  a client packet seen on the online host
 *   eng_on_reply(pkt, now)    a target packet's headers, relayed by intercept
 *   eng_tick(now)             time passes (retransmission, answer waits, timeouts)
 *   eng_flush(now)            end of a batch: send the ACKs owed to the target
 *
 * and it answers through struct eng_io: packets to send (built in place in the
 * sender's buffer) and routes to (un)register with intercept. It owns no socket
 * and reads no clock, so unit tests and fuzzers drive it with synthetic packets
 * and a fake clock.
 */
#ifndef TC_TCP_H
#define TC_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "pkt.h"
#include "transfer.h"

struct eng;
struct mod;
struct cmp_ctx;

struct eng_io {
    void *arg;
    /* A buffer for one IP datagram of at most *cap bytes (never NULL). */
    uint8_t *(*pkt_buf)(void *arg, size_t *cap);
    /* The datagram built in that buffer, len bytes, is ready to go. */
    void (*pkt_send)(void *arg, size_t len);
    /* Ask intercept to route (add) or forget (del) a session's replies. */
    void (*route)(void *arg, bool add, const struct chan_route *r);
};

struct eng_conf {
    const struct xfer_map *xfer;
    const struct client_map *cmap; /* may be empty: keep client addresses */
    uint32_t mtu;                  /* -M: largest datagram sent to the target (1500) */
    uint32_t max_sessions;         /* sessions held at once (1,000,000) */
    uint64_t mem_max;              /* -m: bytes of client data queued, all sessions (512 MB);
                                    * past 90% new sessions are refused, at 100% the
                                    * session that hits it is shed */
    uint32_t sess_mem_max;         /* bytes queued for one session (half of mem_max) */
    uint64_t session_timeout_us;   /* -t: no progress from the target while data waits (600 s) */
    uint64_t idle_timeout_us;      /* -k: no packet at all either way (720 s) */
    uint64_t answer_timeout_us;    /* longest wait for an answer before the next request (3 s) */
    uint64_t linger_us;            /* a finished session stays to absorb stragglers (2 s) */
    uint64_t gap_timeout_us;       /* a hole in the captured stream is waited for (2 s) */
    uint32_t max_handshakes;       /* SYNs toward the target awaiting an answer at once (512) */
    bool no_wait;                  /* -W: never wait for the target's answer */
    bool syn_only;                 /* -O: copy only sessions whose SYN was seen */
    uint16_t copies;               /* -n: sessions made from each captured one (1..1023) */
    uint16_t port_shift;           /* -f: shifts the ports of copies, per instance (0..1023) */
    uint8_t sample_pct;            /* -r: share of client sessions copied (100) */
    uint16_t shard_k, shard_n;     /* --shard K/N: only the sessions that hash to K (0/1) */
    bool ramp;                     /* -g: the share grows from 1% by 1% per second */
    struct addr localhost;         /* -H: replaces a loopback client (unset: keep) */
    uint16_t syn_mss;              /* -D: MSS announced in our own SYNs (1460) */
    uint64_t ack_delay_us;         /* --ack-delay: longest wait to piggyback an ACK (10 ms) */
    struct mod *mod;               /* --module: the protocol module (mod.h), NULL: none */
    struct cmp_ctx *cmp;           /* --compare: the answers' comparison (NULL: off) */
};

/* How a session ended. Keep eng_outcome_str() in step. */
enum sess_outcome {
    SO_NONE = 0,
    SO_COMPLETE,         /* both sides closed after every byte was delivered */
    SO_CLIENT_RESET,     /* the client reset; everything before it was delivered */
    SO_TARGET_RESET,     /* the target reset the session */
    SO_TARGET_REFUSED,   /* the target answered the SYN with RST (nothing listening) */
    SO_TARGET_CLOSED,    /* the target closed while client data was still to be sent */
    SO_HANDSHAKE_TIMEOUT,/* no SYN-ACK after the SYN retries */
    SO_TIMEOUT,          /* -t: no progress while data waited, or retransmissions exhausted */
    SO_IDLE,             /* -k: no packet either way */
    SO_MEMORY,           /* a queue bound was hit: data lost */
    SO_SHUTDOWN,         /* tcpcopy stopped */
    SO_NOT_STARTED,      /* seen mid-stream, ended before a request boundary to start at */
    SO_MODULE,           /* --module: the module failed or refused the session */
    SO_COUNT
};
const char *eng_outcome_str(int outcome);

struct eng_stats {
    /* capture side */
    uint64_t cap_packets, cap_payload_bytes, cap_ignored, cap_no_syn, cap_after_close;
    uint64_t cap_dup_bytes, cap_ooo_segments, cap_syn_ack;
    /* sessions */
    uint64_t sess_created, sess_freed, sess_table_full, sess_collisions, sess_family_mismatch;
    uint64_t sess_midstream, sess_rebuilt, probe_skipped_packets, probe_skipped_bytes;
    uint64_t cap_sampled_out, cap_sharded_out, sess_unplaced, sess_refused_memory, sess_shed_memory;
    uint64_t cap_beyond_window, sess_resynced, sessions_probing, sessions_closed;
    uint64_t sess_overlapped;      /* a new connection from a port whose replay was behind */
    uint64_t syn_stale_tuples;     /* SYNs answered by an older connection's ACK */
    uint64_t sess_moved;           /* sessions moved to a fresh target tuple */
    uint64_t sess_stale_avoided;   /* tuples not picked: the target still holds them */
    uint64_t syn_waits;            /* sessions that waited for a handshake slot */
    uint64_t syn_waiting;          /* sessions waiting for one now */
    uint64_t outcome[SO_COUNT];
    /* what sessions still held for the target when they ended, by outcome: requests
     * (a pipelined group counts once) and bytes */
    uint64_t lost_requests[SO_COUNT], lost_bytes[SO_COUNT];
    /* toward the target */
    uint64_t sent_packets, sent_data_packets, sent_payload_bytes, sent_acks, sent_rsts;
    uint64_t acks_delayed;         /* pure ACKs that waited for the delay (none piggybacked) */
    uint64_t syn_retries, rto_events, rto_spurious, rtx_packets, fast_rtx, sack_rtx, build_errors;
    uint64_t gaps_skipped, gap_bytes_lost, partial_requests_lost, syn_refused_retries;
    uint64_t gap_requests_lost;    /* requests a capture gap hit (skipped or resynced): the
                                    * boundaries seen in what was skipped, and one for the
                                    * hole; a hole may hide more (its own boundaries are lost) */
    /* from the target */
    uint64_t replies, replies_no_session, replies_data_bytes, replies_bad_ack;
    /* request / answer pacing */
    uint64_t gate_waits, gate_by_bytes, gate_by_quiet, gate_by_timeout, marks_dropped;
    uint64_t requests_marked;      /* request boundaries recorded (a request after an answer) */
    /* bounds */
    uint64_t drop_bytes_memory, drop_segments_holes;
    uint64_t sessions_active, mem_bytes, mem_peak_bytes;
    /* --module (doc/modules.md) */
    uint64_t mod_sessions;         /* sessions the module took */
    uint64_t mod_refused;          /* sessions it refused (sess_new failed) */
    uint64_t mod_errors;           /* sessions it failed later */
    uint64_t mod_gaps;             /* sessions started over after a capture gap (no skipping) */
    uint64_t mod_rebuild_refused;  /* sessions not rebuilt: the module has a start hook */
    uint64_t mod_relogins;         /* sessions started over (own login) after the target closed */
    uint64_t mod_starts;           /* sessions it sent bytes of its own first */
    uint64_t mod_own_done;         /* its own exchanges it reported done */
    uint64_t mod_in_bytes, mod_out_bytes; /* client bytes it consumed, bytes it wrote */
    uint64_t mod_own_answer_bytes; /* target answer bytes to its own bytes (not counted) */
    uint64_t mod_answer_unseen_bytes; /* answer bytes whose payload intercept did not relay */
};

/* NULL on allocation failure. conf and its maps must outlive the engine. */
struct eng *eng_new(const struct eng_conf *conf, const struct eng_io *io, uint64_t now_us,
                    uint64_t hash_seed);
void eng_free(struct eng *e); /* NULL-safe; sends nothing */

void eng_on_capture(struct eng *e, const struct pkt *p, uint64_t now_us);
/* Offline replay loops (-T): packets from pass `epoch` belong to sessions of their
 * own (as if further -n copies), so a second pass never meets the first's sessions. */
void eng_set_epoch(struct eng *e, uint16_t epoch);
void eng_on_reply(struct eng *e, const struct pkt *p, uint64_t now_us);
void eng_tick(struct eng *e, uint64_t now_us);
void eng_flush(struct eng *e, uint64_t now_us);
/* The earliest time eng_tick has work (UINT64_MAX: none). */
uint64_t eng_next_deadline(const struct eng *e);
/* Reset every live target connection (tcpcopy is stopping); with --compare, every compared
 * session gives its results. */
void eng_shutdown(struct eng *e, uint64_t now_us);

/* Call cb for the route of every session intercept should know about (used to
 * register them again with an intercept that restarted). Returns how many. */
size_t eng_routes_foreach(struct eng *e, void (*cb)(void *arg, const struct chan_route *r),
                          void *arg);

const struct eng_stats *eng_stats(struct eng *e);
size_t eng_session_count(const struct eng *e);
/* Fill defaults into a zeroed conf (xfer/cmap left to the caller). */
void eng_conf_defaults(struct eng_conf *c);

#endif
