/*
 * chan: frames and records of the tcpcopy <-> intercept channel.
 *
 * The byte layout is specified in doc/protocol.md; this file is its only
 * implementation, shared by tcpcopy, intercept and the fuzzer. Decoders take
 * (pointer, length), read only through the bounds-checked helpers below and
 * never trust a length field: every byte on the wire comes from a peer that may
 * be buggy, of another version, or hostile.
 *
 * Encoders append to a struct chan_out, whose struct buf it owns. Records
 * (routes, replies) are batched into the frame open at the tail of the buffer
 * until it is sealed, so thousands of small records cost a handful of frames and
 * write() calls.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "chan.h"

/* Sizes of the fixed parts (doc/protocol.md). */
#define HELLO_MAX 256 /* HELLO and AUTH bodies: room for later fields, bounded */
#define AUTH_MIN CHAN_MAC_LEN
#define HEARTBEAT_MAX 64
#define BYE_MIN 2
#define BYE_MAX 1024
#define REPLY_REC_MAX CHAN_REPLY_REC_MAX

/* Address families as written on the wire: fixed numbers, not the host's AF_*. */
#define WIRE_AF_INET 4
#define WIRE_AF_INET6 6

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

const char *chan_err_str(int err)
{
    switch (err) {
    case CHAN_E_TYPE:
        return "unknown frame type";
    case CHAN_E_SIZE:
        return "frame length out of bounds";
    case CHAN_E_MAGIC:
        return "bad magic (not a tcpcopy channel)";
    case CHAN_E_VERSION:
        return "unsupported protocol version";
    case CHAN_E_RECORD:
        return "malformed record";
    default:
        return "unknown channel error";
    }
}

/* Whether a body of len bytes is allowed for type: -CHAN_E_TYPE, -CHAN_E_SIZE or 0.
 * Checked on the header alone, so a bad frame is refused before its body is
 * waited for (a peer cannot make us buffer 64 KB of a frame we will reject). */
static int frame_check(uint8_t type, size_t len)
{
    switch (type) {
    case CHAN_HELLO:
        /* Longer HELLOs are accepted and the extra bytes ignored: a later version
         * may append fields and still be understood by this one. */
        return len >= CHAN_HELLO_LEN && len <= HELLO_MAX ? 0 : -CHAN_E_SIZE;
    case CHAN_AUTH:
        return len >= AUTH_MIN && len <= HELLO_MAX ? 0 : -CHAN_E_SIZE;
    case CHAN_ROUTE_ADD:
    case CHAN_ROUTE_DEL:
        return len > 0 && len % CHAN_ROUTE_LEN == 0 ? 0 : -CHAN_E_SIZE;
    case CHAN_REPLY:
        return len >= 2 ? 0 : -CHAN_E_SIZE;
    case CHAN_HEARTBEAT:
        return len <= HEARTBEAT_MAX ? 0 : -CHAN_E_SIZE;
    case CHAN_STAMP:
        return len == CHAN_STAMP_LEN ? 0 : -CHAN_E_SIZE;
    case CHAN_BYE:
        return len >= BYE_MIN && len <= BYE_MAX ? 0 : -CHAN_E_SIZE;
    default:
        return -CHAN_E_TYPE;
    }
}

ssize_t chan_frame_next(struct chan_frame *f, const uint8_t *buf, size_t len)
{
    if (len < CHAN_HDR_LEN)
        return 0;
    uint8_t type = buf[0];
    uint16_t blen = get16(buf + 2);
    int err = frame_check(type, blen);
    if (err < 0)
        return err;
    if (len - CHAN_HDR_LEN < blen)
        return 0;
    f->type = type;
    f->flags = buf[1];
    f->len = blen;
    f->body = buf + CHAN_HDR_LEN;
    return CHAN_HDR_LEN + (ssize_t)blen;
}

size_t chan_route_count(const struct chan_frame *f)
{
    if (f->type != CHAN_ROUTE_ADD && f->type != CHAN_ROUTE_DEL)
        return 0;
    return f->len / CHAN_ROUTE_LEN;
}

/*
 * Route record (40 bytes): af u8 | flags u8 | cport u16 | tport u16 | reserved u16 |
 * client[16] | target[16]. Reserved bytes, and the 12 bytes after an IPv4
 * address, are written as zero and ignored here (room for later use).
 */
int chan_route_get(struct chan_route *r, const struct chan_frame *f, size_t i)
{
    if (i >= chan_route_count(f))
        return -CHAN_E_SIZE;
    const uint8_t *p = f->body + i * CHAN_ROUTE_LEN;
    switch (p[0]) {
    case WIRE_AF_INET:
        addr_set_v4(&r->client, p + 8);
        addr_set_v4(&r->target, p + 24);
        break;
    case WIRE_AF_INET6:
        addr_set_v6(&r->client, p + 8);
        addr_set_v6(&r->target, p + 24);
        break;
    default:
        return -CHAN_E_RECORD;
    }
    r->cport = get16(p + 2);
    r->tport = get16(p + 4);
    r->flags = p[1];
    return 0;
}

void chan_iter_init(struct chan_iter *it, const struct chan_frame *f)
{
    it->p = f->body;
    it->end = f->body + f->len;
}

int chan_reply_next(struct chan_iter *it, const uint8_t **rec, size_t *len)
{
    if (it->p >= it->end)
        return 0;
    size_t left = (size_t)(it->end - it->p);
    if (left < 2)
        return -CHAN_E_RECORD;
    size_t n = get16(it->p);
    /* A zero length would be a record that says nothing; refusing it keeps a
     * peer from making us loop over empty records. */
    if (n == 0 || n > left - 2)
        return -CHAN_E_RECORD;
    *rec = it->p + 2;
    *len = n;
    it->p += 2 + n;
    return 1;
}

/* ---- output ---- */

void chan_out_init(struct chan_out *o, size_t max)
{
    buf_init(&o->buf, max);
    o->open_off = 0;
    o->open_type = 0;
    o->open = false;
}

void chan_out_free(struct chan_out *o)
{
    if (o == NULL)
        return;
    buf_free(&o->buf);
    o->open = false;
}

void chan_out_seal(struct chan_out *o)
{
    o->open = false;
}

int chan_put_frame(struct chan_out *o, uint8_t type, const void *body, size_t len)
{
    if (len > CHAN_BODY_MAX)
        return -EMSGSIZE;
    uint8_t *p = buf_reserve(&o->buf, CHAN_HDR_LEN + len);
    if (p == NULL)
        return -ENOBUFS;
    p[0] = type;
    p[1] = 0;
    put16(p + 2, (uint16_t)len);
    if (len > 0)
        memcpy(p + CHAN_HDR_LEN, body, len);
    buf_commit(&o->buf, CHAN_HDR_LEN + len);
    /* Records of a later call must not be merged into a frame that came before
     * this one: order on the wire is order of the calls. */
    o->open = false;
    return 0;
}

/* A record in up to three pieces: a length prefix, headers, payload. */
struct rec_parts {
    const void *p[3];
    size_t n[3];
};

static void parts_copy(uint8_t *dst, const struct rec_parts *rp)
{
    for (int i = 0; i < 3; i++) {
        if (rp->n[i] > 0)
            memcpy(dst, rp->p[i], rp->n[i]);
        dst += rp->n[i];
    }
}

/*
 * Append a record made of pieces (a length prefix and its bytes, or one piece
 * and nothing) to the open frame of this type, or start a new frame. Either the
 * whole record is queued or nothing is: buf_reserve() fails before any byte is
 * written.
 */
static int put_record(struct chan_out *o, uint8_t type, const struct rec_parts *rp)
{
    size_t rlen = rp->n[0] + rp->n[1] + rp->n[2];
    if (o->open && o->open_type == type) {
        /* open_off is relative to buf.off: stable across the compaction or
         * reallocation that buf_reserve() may do. */
        size_t cur = get16(o->buf.data + o->buf.off + o->open_off + 2);
        if (cur + rlen <= CHAN_BODY_MAX) {
            uint8_t *p = buf_reserve(&o->buf, rlen);
            if (p == NULL)
                return -ENOBUFS;
            parts_copy(p, rp);
            buf_commit(&o->buf, rlen);
            put16(o->buf.data + o->buf.off + o->open_off + 2, (uint16_t)(cur + rlen));
            return 0;
        }
    }
    uint8_t *p = buf_reserve(&o->buf, CHAN_HDR_LEN + rlen);
    if (p == NULL)
        return -ENOBUFS;
    p[0] = type;
    p[1] = 0;
    put16(p + 2, (uint16_t)rlen);
    parts_copy(p + CHAN_HDR_LEN, rp);
    o->open_off = o->buf.len;
    o->open_type = type;
    o->open = true;
    buf_commit(&o->buf, CHAN_HDR_LEN + rlen);
    return 0;
}

static int wire_af(const struct addr *a)
{
    switch (a->af) {
    case AF_INET:
        return WIRE_AF_INET;
    case AF_INET6:
        return WIRE_AF_INET6;
    default:
        return -1;
    }
}

int chan_put_route(struct chan_out *o, uint8_t type, const struct chan_route *r)
{
    if (type != CHAN_ROUTE_ADD && type != CHAN_ROUTE_DEL)
        return -EINVAL;
    int af = wire_af(&r->client);
    /* One family per record: a TCP connection never mixes them. */
    if (af < 0 || af != wire_af(&r->target))
        return -EINVAL;
    uint8_t rec[CHAN_ROUTE_LEN];
    memset(rec, 0, sizeof(rec));
    rec[0] = (uint8_t)af;
    rec[1] = r->flags;
    put16(rec + 2, r->cport);
    put16(rec + 4, r->tport);
    size_t alen = af == WIRE_AF_INET ? 4 : 16;
    memcpy(rec + 8, r->client.u.b, alen);
    memcpy(rec + 24, r->target.u.b, alen);
    struct rec_parts rp = {{rec}, {sizeof(rec)}};
    return put_record(o, type, &rp);
}

int chan_put_reply2(struct chan_out *o, const uint8_t *hdr, size_t hlen, const uint8_t *pay,
                    size_t plen)
{
    size_t len = hlen + plen;
    if (len == 0 || len > REPLY_REC_MAX)
        return -EINVAL;
    uint8_t pfx[2];
    put16(pfx, (uint16_t)len);
    struct rec_parts rp = {{pfx, hdr, pay}, {sizeof(pfx), hlen, plen}};
    return put_record(o, CHAN_REPLY, &rp);
}

int chan_put_reply(struct chan_out *o, const uint8_t *hdr, size_t len)
{
    return chan_put_reply2(o, hdr, len, NULL, 0);
}

ssize_t chan_out_flush(struct chan_out *o, int fd)
{
    /* Once its first byte is on the wire a frame's length is final. */
    chan_out_seal(o);
    return buf_write_fd(&o->buf, fd);
}

int chan_put_heartbeat(struct chan_out *o, const struct chan_hb *h)
{
    uint8_t b[CHAN_HB_CLOCK_LEN];
    if (h == NULL)
        return chan_put_frame(o, CHAN_HEARTBEAT, NULL, 0);
    put64(b, h->sent_us);
    put64(b + 8, h->echo_us);
    put64(b + 16, h->held_us);
    return chan_put_frame(o, CHAN_HEARTBEAT, b, sizeof(b));
}

int chan_heartbeat_decode(struct chan_hb *h, const struct chan_frame *f)
{
    memset(h, 0, sizeof(*h));
    if (f->type != CHAN_HEARTBEAT)
        return -CHAN_E_TYPE;
    if (f->len == 0)
        return 0;
    /* Longer bodies may carry fields of a later version after these. */
    if (f->len < CHAN_HB_CLOCK_LEN)
        return -CHAN_E_SIZE;
    h->sent_us = get64(f->body);
    h->echo_us = get64(f->body + 8);
    h->held_us = get64(f->body + 16);
    return 0;
}

int chan_put_stamp(struct chan_out *o, uint64_t ts_us)
{
    uint8_t b[CHAN_STAMP_LEN];
    put64(b, ts_us);
    return chan_put_frame(o, CHAN_STAMP, b, sizeof(b));
}

int chan_stamp_decode(uint64_t *ts_us, const struct chan_frame *f)
{
    if (f->type != CHAN_STAMP || f->len != CHAN_STAMP_LEN)
        return -CHAN_E_TYPE;
    *ts_us = get64(f->body);
    return 0;
}
