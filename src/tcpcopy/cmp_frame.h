/*
 * cmp_frame: framers that cut a session's byte streams into requests and answers, for the
 * comparison of answers (issue 20; doc/compare.md).
 *
 * Incremental: bytes may arrive in pieces split anywhere; state is bounded (a line buffer of
 * CMP_LINE_MAX bytes, counters, a small stack), never a whole message. Each complete request
 * goes to a request callback as a struct cmp_req (endpoint, excerpt, flags); each complete
 * answer to an answer callback as a struct cmp_unit (see cmp_unit.h). Protocols: HTTP/1.x
 * (RFC 9112), RESP2/RESP3 (Redis), memcached's text protocol, raw (the caller says where an
 * answer ends), and auto (chosen from the client's first bytes).
 *
 * The answer framer must know, per answer in order, something of its request (HTTP: was it
 * HEAD; memcached: does it expect a reply at all): the session hands each request from its
 * request framer to cmp_ansf_expect() in order, at the latest before the end of its answer's
 * head (HTTP); an answer whose request is not known yet is framed as if it were not HEAD.
 */
#ifndef TC_CMP_FRAME_H
#define TC_CMP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp_noise.h"
#include "cmp_unit.h"

enum cmp_proto {
    CMP_PROTO_AUTO = 0,
    CMP_PROTO_RAW,
    CMP_PROTO_HTTP,
    CMP_PROTO_RESP,
    CMP_PROTO_MC,
    CMP_PROTO_MYSQL,
    CMP_PROTO_PGSQL,
};

#define CMP_ENDPOINT_MAX 64
#define CMP_REQ_TEXT 256

/* Request flags. */
enum cmp_rflag {
    CMP_R_HEAD = 1U << 0,       /* HTTP HEAD: its answer has no body */
    CMP_R_NOREPLY = 1U << 1,    /* memcached noreply: no answer will come */
    CMP_R_UNPARSABLE = 1U << 2, /* the framer could not follow the request */
    CMP_R_TRUNCATED = 1U << 3,  /* the stream closed inside it */
    CMP_R_UPGRADE = 1U << 4,    /* HTTP CONNECT or Upgrade: what follows is not HTTP */
    CMP_R_LOGIN = 1U << 5,      /* MySQL, PostgreSQL: its answer is the login exchange */
    CMP_R_EOFLESS = 1U << 6,    /* MySQL: the client announced CLIENT_DEPRECATE_EOF */
    CMP_R_ONEBYTE = 1U << 7,    /* PostgreSQL SSLRequest/GSSENCRequest: a one-byte answer */
};
/* MySQL: the command byte of a request is kept in its flags' top byte. */
#define CMP_R_CMD_SHIFT 24
#define CMP_R_CMD(flags) ((uint8_t)((flags) >> CMP_R_CMD_SHIFT))

struct cmp_req {
    enum cmp_proto proto;
    uint32_t flags;
    uint64_t len;                    /* bytes of the request */
    uint32_t textlen;
    char endpoint[CMP_ENDPOINT_MAX]; /* NUL-terminated */
    uint8_t text[CMP_REQ_TEXT];      /* HTTP: the request line; RESP: the arguments */
};

struct cmp_fstats {
    uint64_t messages, unparsable, overflow, resync, gaps;
};

typedef void (*cmp_req_cb)(void *arg, const struct cmp_req *r);
typedef void (*cmp_ans_cb)(void *arg, const struct cmp_unit *u);

struct cmp_reqf;
struct cmp_ansf;

/* "auto", "http", "resp", "memcache", "raw", "mysql", "postgresql": 0 or -EINVAL. */
int cmp_proto_parse(const char *s, enum cmp_proto *p);
const char *cmp_proto_name(enum cmp_proto p);
/* The protocol of a client stream from its first bytes: CMP_PROTO_AUTO while n bytes are not
 * enough to tell, else a protocol (CMP_PROTO_RAW when none fits). */
enum cmp_proto cmp_proto_detect(const uint8_t *p, size_t n);

/* A request framer calling cb(arg, req) per request; NULL when out of memory. */
struct cmp_reqf *cmp_reqf_new(enum cmp_proto p, cmp_req_cb cb, void *arg);
/* The client's next bytes, in stream order; complete requests go to the callback at once. */
void cmp_reqf_feed(struct cmp_reqf *f, const uint8_t *p, size_t n);
/* Raw: the request in progress ends here (the next client bytes start another). */
void cmp_reqf_end(struct cmp_reqf *f);
/* The client's stream ended: a request in progress is passed on as truncated. */
void cmp_reqf_close(struct cmp_reqf *f);
enum cmp_proto cmp_reqf_proto(const struct cmp_reqf *f); /* AUTO until decided */
/* Counters: messages passed on, unparsable ones, line overflows, resyncs, gaps. */
const struct cmp_fstats *cmp_reqf_stats(const struct cmp_reqf *f);
void cmp_reqf_free(struct cmp_reqf *f); /* NULL-safe */

/* An answer framer calling cb(arg, unit) per answer; rules (may be NULL: defaults) must
 * outlive it. With CMP_PROTO_AUTO, the first expected request sets the protocol (answer
 * bytes before it, e.g. a greeting, are held up to 4 KB, then framed as raw). */
struct cmp_ansf *cmp_ansf_new(enum cmp_proto p, const struct cmp_rules *rules, cmp_ans_cb cb,
                              void *arg);
/* The next request whose answer is to come, in order (see above for when). */
void cmp_ansf_expect(struct cmp_ansf *f, const struct cmp_req *r);
/* The server's next bytes, in stream order; complete answers go to the callback at once. */
void cmp_ansf_feed(struct cmp_ansf *f, const uint8_t *p, size_t n);
/* n bytes of the answer stream are missing (a capture gap). Inside a body of known length
 * (HTTP Content-Length or chunk data, or a body until close; a RESP bulk string; a memcached
 * data block) that holds them, and for raw, framing goes on and the answer is marked
 * CMP_U_INCOMPLETE. Anywhere else the framing is lost: the answer in progress (or an empty
 * one, standing for the answer whose start was lost) is passed on incomplete with CMP_U_LAST
 * and the framer ignores the rest of the stream (the caller may start a new framer at the
 * next request boundary). Returns true when framing goes on. */
bool cmp_ansf_gap(struct cmp_ansf *f, uint64_t n);
/* Raw: the answer in progress ends here (a request boundary). Other protocols: ignored. */
void cmp_ansf_end(struct cmp_ansf *f);
/* The server's stream ended (FIN or RST): a body until close completes; an answer in
 * progress is passed on truncated. */
void cmp_ansf_close(struct cmp_ansf *f);
const struct cmp_fstats *cmp_ansf_stats(const struct cmp_ansf *f);
void cmp_ansf_free(struct cmp_ansf *f); /* NULL-safe */

#endif
