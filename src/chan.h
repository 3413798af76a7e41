/*
 * chan: the tcpcopy <-> intercept channel, frames and records (doc/protocol.md).
 *
 * Pure encode/decode over byte buffers: no sockets, no globals, every length
 * checked, so both programs and the fuzzers share one implementation.
 *
 * Frame: type (u8) | flags (u8) | body length (u16, big endian) | body.
 * All integers are big endian on the wire.
 */
#ifndef TC_CHAN_H
#define TC_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "buf.h"

#define CHAN_PORT_DEFAULT 36524
#define CHAN_MAGIC "TCPC"
#define CHAN_VERSION 1
#define CHAN_HDR_LEN 4
#define CHAN_BODY_MAX 65535
#define CHAN_ROUTE_LEN 40      /* one route record */
#define CHAN_REPLY_HDR_MAX 120 /* IP + TCP headers in one reply record */
#define CHAN_REPLY_REC_MAX (CHAN_BODY_MAX - 2) /* one record (with payload) alone fills a frame */
#define CHAN_NONCE_LEN 16
#define CHAN_MAC_LEN 32

enum chan_type {
    CHAN_HELLO = 0x01,     /* both ways, first frame: magic, version, role, features, nonce */
    CHAN_AUTH = 0x02,      /* both ways, after HELLO: proof of the shared secret (32 bytes) */
    CHAN_ROUTE_ADD = 0x03, /* tcpcopy -> intercept: route these sessions' replies to me */
    CHAN_ROUTE_DEL = 0x04, /* tcpcopy -> intercept: forget these sessions */
    CHAN_REPLY = 0x05,     /* intercept -> tcpcopy: captured reply headers */
    CHAN_HEARTBEAT = 0x06, /* both ways: empty, or clock fields (CHAN_FEAT_CLOCK) */
    CHAN_BYE = 0x07,       /* both ways: u16 reason code + UTF-8 text, then close */
    CHAN_STAMP = 0x08,     /* intercept -> tcpcopy (CHAN_FEAT_CLOCK): capture time of the
                            * REPLY records that follow */
};

enum chan_role { CHAN_ROLE_TCPCOPY = 1, CHAN_ROLE_INTERCEPT = 2 };

/* BYE reason codes (doc/protocol.md, section 8). */
enum chan_bye_code {
    CHAN_BYE_NORMAL = 0,   /* program exiting */
    CHAN_BYE_PROTOCOL = 1, /* malformed or unexpected frame */
    CHAN_BYE_VERSION = 2,  /* unsupported protocol version */
    CHAN_BYE_AUTH = 3,     /* authentication failed or missing */
    CHAN_BYE_BUSY = 4,     /* overloaded / too many peers */
    CHAN_BYE_REFUSED = 5,  /* the peer's address is not allowed (--allow) */
};
#define CHAN_BYE_TEXT_MAX 1022

/* Decoding errors (negative returns). */
enum chan_err {
    CHAN_E_TYPE = 1,  /* unknown frame type */
    CHAN_E_SIZE,      /* body length outside the type's bounds, or a record overruns */
    CHAN_E_MAGIC,     /* HELLO without the magic */
    CHAN_E_VERSION,   /* HELLO with a version we do not speak */
    CHAN_E_RECORD,    /* a malformed record (bad address family, zero length) */
};
const char *chan_err_str(int err); /* takes the positive code */

struct chan_frame {
    uint8_t type;
    uint8_t flags;
    uint16_t len;
    const uint8_t *body;
};

/*
 * Find the next frame at buf. Returns the number of bytes the frame takes (header +
 * body) and fills *f; 0 if more bytes are needed; -CHAN_E_* if the stream is
 * malformed (the connection must then be closed). Bounds per type are checked here.
 */
ssize_t chan_frame_next(struct chan_frame *f, const uint8_t *buf, size_t len);

/* HELLO feature bits (doc/protocol.md, section 4). */
enum {
    CHAN_FEAT_AUTH = 1U << 0,
    CHAN_FEAT_PAYLOAD = 1U << 1,  /* REPLY records of flagged routes carry the whole packet */
    CHAN_FEAT_HEARTBEAT = 1U << 2,
    CHAN_FEAT_INSTANCE = 1U << 3, /* the HELLO carries the sender's instance id (8 bytes more) */
    CHAN_FEAT_CLOCK = 1U << 4,    /* timestamped heartbeats and STAMP frames: the channel's lag */
};
#define CHAN_HELLO_LEN 28      /* base HELLO body; 36 with CHAN_FEAT_INSTANCE */
#define CHAN_HELLO_INSTANCE_LEN 36

/* HELLO, AUTH and BYE bodies: hello.h. */

/* Route record flags (byte 1 of the record; an old intercept ignores it). */
enum {
    CHAN_ROUTE_F_PAYLOAD = 1U << 0, /* send this session's replies with their payload */
};

/* A route record: replies from target:tport to client:cport belong to the sender. */
struct chan_route {
    struct addr client; /* the (rewritten) client address the target answers to */
    struct addr target;
    uint16_t cport, tport;
    uint8_t flags; /* CHAN_ROUTE_F_*; bits not known here are ignored on receipt */
};
/* Number of route records in a ROUTE_ADD/ROUTE_DEL frame. */
size_t chan_route_count(const struct chan_frame *f);
int chan_route_get(struct chan_route *r, const struct chan_frame *f, size_t i);

/* Walk the records of a REPLY frame: each is u16 length + that many header bytes. */
struct chan_iter {
    const uint8_t *p, *end;
};
void chan_iter_init(struct chan_iter *it, const struct chan_frame *f);
/* 1 and (*rec, *len) for the next record, 0 at the end, -CHAN_E_* if malformed. */
int chan_reply_next(struct chan_iter *it, const uint8_t **rec, size_t *len);

/*
 * Output side: frames are appended to a bounded struct buf. Records of the same type
 * are batched into the frame at the tail while it has room, until chan_out_seal().
 */
struct chan_out {
    struct buf buf;
    size_t open_off;  /* offset (from buf.off) of the open frame's header, if open */
    uint8_t open_type;
    bool open;
};
void chan_out_init(struct chan_out *o, size_t max);
void chan_out_free(struct chan_out *o);
/* Close the open frame so nothing more is appended to it (before writing to a socket). */
void chan_out_seal(struct chan_out *o);
/* Append one frame with its body. 0 or -ENOBUFS (buffer full: nothing was written). */
int chan_put_frame(struct chan_out *o, uint8_t type, const void *body, size_t len);
/* Append a record to the open frame of this type, or start one. 0 or -ENOBUFS. */
int chan_put_route(struct chan_out *o, uint8_t type, const struct chan_route *r);
int chan_put_reply(struct chan_out *o, const uint8_t *hdr, size_t len);
/* One reply record made of the headers and a piece of payload (CHAN_FEAT_PAYLOAD):
 * hlen + plen must be 1..CHAN_REPLY_REC_MAX. 0, -EINVAL or -ENOBUFS. */
int chan_put_reply2(struct chan_out *o, const uint8_t *hdr, size_t hlen, const uint8_t *pay,
                    size_t plen);
/* Write what the socket takes; seals first. Returns bytes written or -errno. */
ssize_t chan_out_flush(struct chan_out *o, int fd);

/* Clock fields of a HEARTBEAT (CHAN_FEAT_CLOCK, doc/protocol.md section 7): the sender's
 * realtime clock when it sent the frame, and the latest such time it received from the
 * other side with how long it held it before this frame (0, 0: none yet). Microseconds. */
struct chan_hb {
    uint64_t sent_us, echo_us, held_us;
};
#define CHAN_HB_CLOCK_LEN 24
#define CHAN_STAMP_LEN 8
/* Queue a HEARTBEAT: empty (h NULL) or with clock fields. 0 or -ENOBUFS. */
int chan_put_heartbeat(struct chan_out *o, const struct chan_hb *h);
/* A HEARTBEAT's clock fields: 0 (all zero for an empty one) or -CHAN_E_SIZE (a length
 * that is neither). */
int chan_heartbeat_decode(struct chan_hb *h, const struct chan_frame *f);
/* Queue a STAMP: the capture time (intercept's realtime clock, µs) of the REPLY records
 * that follow it. 0 or -ENOBUFS. */
int chan_put_stamp(struct chan_out *o, uint64_t ts_us);
/* 0 or -CHAN_E_TYPE. */
int chan_stamp_decode(uint64_t *ts_us, const struct chan_frame *f);


#endif
