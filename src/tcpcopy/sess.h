/*
 * sess: one replayed TCP session, and the table that finds it from either side.
 *
 * A session is found by the captured client tuple (client -> online server) when
 * a client packet arrives, and by the target tuple (rewritten client -> target)
 * when a reply comes back from intercept. The table keeps two chained hashes over
 * the same objects, seeded at startup, with exact key comparison. Sessions come
 * from a free list refilled in slabs, so creating one does not call malloc.
 * The engine (tcp.c) owns the meaning of the fields; this file only stores them.
 */
#ifndef TC_SESS_H
#define TC_SESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "addr.h"
#include "conn.h"
#include "pkt.h"
#include "stream.h"
#include "wheel.h"

/* A session's state toward the target (the diagram is at the top of tcp.c). */
enum sess_state {
    SS_PROBE = 1, /* first seen mid-stream: waiting for a request boundary to start at */
    SS_SYN_SENT,
    SS_ESTAB,
    SS_CLOSED,
};

/* struct sess flags (SF_*): what happened on the client's side, shared by the engine's
 * files. The target connection's own flags are in struct conn (CF_*). */
enum sess_flag {
    SF_CLIENT_FIN = 1U << 0,  /* the client's FIN was captured (c_fin_seq) */
    SF_CLIENT_RST = 1U << 1,  /* the client reset: send RST once its bytes are delivered */
    SF_C_TS = 1U << 2,        /* the client's SYN offered timestamps */
    SF_C_WS = 1U << 3,
    SF_C_SACK = 1U << 4,
    SF_HAVE_ACKBASE = 1U << 5,
    SF_FAKED = 1U << 6,       /* our own handshake: the client's SYN was not seen */
    SF_PROBE_DATA = 1U << 7,  /* probing: ack_base is the last data segment's ack */
    SF_ROUTED = 1U << 8,      /* intercept was told about this session */
    SF_MOD_FAILED = 1U << 9,  /* --module: the module refused or failed the session's start */
};

/* A request boundary: the client sent byte `seq` only after it had received `resp`
 * bytes of answer from the online server (its acknowledgement number then). */
struct sess_mark {
    uint32_t seq;
    uint32_t resp;
    bool exact; /* the segment followed captured bytes: surely where a request starts */
};

struct mod_sess;

struct sess {
    struct sess *next_c, *next_t; /* hash chains: by client key, by target key */
    TAILQ_ENTRY(sess) all;        /* every live session, oldest activity first */
    struct sess *next_ack;        /* sessions owing the target an ACK this batch */
    TAILQ_ENTRY(sess) hs_wait;    /* with CF_HS_WAIT: the queue for a handshake slot */
    struct wheel_node timer;

    struct tuple ckey; /* client -> online, as captured */
    uint16_t copy;     /* which of the -n copies of that client session (0 first) */
    uint16_t rebuilds; /* new connections after the target closed (REBUILDS_MAX) */
    struct tuple tkey; /* rewritten client -> target, as sent */

    uint8_t state;     /* enum sess_state */
    uint8_t outcome;   /* enum sess_outcome once decided */
    uint8_t c_ws;      /* client's window scale from its SYN (what the target was told) */
    uint16_t c_mss;    /* client's MSS option */
    uint16_t c_win;    /* client's last window field (already in the client's scale) */
    uint16_t flags;    /* enum sess_flag bits */
    uint16_t nmarks, marks_cap, mark_head; /* the ring at marks */

    /* Client side, in the client's own sequence space (we keep its ISN). */
    uint32_t c_isn;
    uint32_t c_fin_seq;   /* valid with SF_CLIENT_FIN */
    uint32_t ack_base;    /* the client's first acknowledgement: online server ISN + 1 */
    uint32_t last_resp;   /* online answer bytes at the latest mark recorded */
    uint32_t passed_resp; /* online answer bytes at the latest mark passed */
    uint32_t last_mark_seq; /* where the latest passed mark was (a request start) */
    uint32_t c_tsval0;    /* client's TSval in its SYN, to seed ours */
    uint32_t c_last_ack;  /* acknowledgement number of the client's latest data segment */
    uint32_t c_rtt_us; /* the client's round trip, its SYN to its handshake ACK (0: unknown) */
    uint32_t resp_at_mark; /* target answer bytes when the last mark passed */

    struct conn tc;       /* the connection toward the target (conn.c) */

    uint64_t t0_us;                     /* when the client's SYN was seen */
    uint64_t last_active_us;            /* last packet either way */
    uint64_t last_progress_us;          /* last time the target acknowledged or answered */
    uint64_t last_resp_us;              /* last target answer byte */
    uint64_t gate_since_us;             /* when the current mark started waiting (0: not) */
    uint64_t hole_since_us;             /* the captured stream has had a gap since then */

    struct sess_mark *marks;            /* FIFO of request boundaries not yet passed */
    struct mod_sess *mod;               /* --module: the module's glue (mod.h), else NULL */

    uint64_t bytes_in, bytes_out;       /* client payload captured / sent to the target (new) */
    struct stream st;                   /* the client's bytes not yet acknowledged by the target */
};

struct sess_table {
    struct sess **by_c, **by_t;
    size_t nbuckets;          /* power of two */
    size_t count, max;
    uint64_t seed;
    struct sess *free;
    void **slabs;
    size_t nslabs, slabs_cap;
    TAILQ_HEAD(sess_all, sess) all;
};

/* 0 or -ENOMEM. max: the most sessions held at once. */
int sess_table_init(struct sess_table *t, size_t max, uint64_t seed);
void sess_table_free(struct sess_table *t);
/* A zeroed session with ckey, copy and tkey set and linked in both hashes, or NULL
 * if the table is full (or memory is short). */
struct sess *sess_new(struct sess_table *t, const struct tuple *ckey, uint16_t copy,
                      const struct tuple *tkey);
/* Unlink and recycle. The caller has already released what the session owned. */
void sess_del(struct sess_table *t, struct sess *s);
/* Take s out of the client-key index: captured packets no longer find it (the client reused
 * its port for a new connection while s still replays). Its target key stays. */
void sess_detach_c(struct sess_table *t, struct sess *s);
/* Give s another target key (a fresh tuple toward the target). */
void sess_retarget(struct sess_table *t, struct sess *s, const struct tuple *tkey);
struct sess *sess_find_c(const struct sess_table *t, const struct tuple *ckey, uint16_t copy);
struct sess *sess_find_t(const struct sess_table *t, const struct tuple *tkey);
/* Mark s active now: it moves to the tail of the activity list. */
void sess_touch(struct sess_table *t, struct sess *s, uint64_t now_us);

#endif
