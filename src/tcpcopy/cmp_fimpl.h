/*
 * cmp_fimpl: the framers' shared state and helpers (cmp_line.c), seen only by cmp_frame.c
 * and the protocol files cmp_http.c, cmp_resp.c, cmp_mc.c.
 */
#ifndef TC_CMP_FIMPL_H
#define TC_CMP_FIMPL_H

#include "cmp_frame.h"

#define CMP_EXPECT 256   /* requests whose answer is awaited, per answer framer */
#define CMP_PEND 4096    /* answer bytes held before the protocol is known */
#define CMP_RESP_DEPTH 32

/* A line being read: up to CMP_LINE_MAX bytes are kept, longer ones are marked. */
struct cmp_line {
    uint32_t len;
    bool overflow, done; /* done: the next take starts a new line */
    uint8_t buf[CMP_LINE_MAX];
};

struct cmp_http {
    uint8_t state;
    bool chunked, json, until_close, is_head;
    uint16_t status;
    uint64_t left; /* body or chunk bytes still to come */
    uint64_t clen;
    bool has_clen;
};

struct cmp_resp {
    uint8_t state;
    uint8_t depth;
    uint64_t left;                  /* bulk bytes (with CRLF) still to come */
    int64_t rem[CMP_RESP_DEPTH];    /* elements still to come at each level */
    bool attr[CMP_RESP_DEPTH];      /* the level is an attribute (RESP3 |) */
    uint32_t nargs, argi;           /* requests: arguments announced and seen */
};

struct cmp_mc {
    uint8_t state;
    bool in_block; /* after VALUE or STAT lines, until END */
    uint64_t left; /* data block bytes (with CRLF) still to come */
};

/* MySQL and PostgreSQL: one packet (message) at a time, its first DB_PRE bytes kept. */
#define CMP_DB_PRE 256
struct cmp_db {
    uint8_t phase;      /* where the session is: greeting, login, commands */
    uint8_t state;      /* where the answer in progress is (result set parts) */
    uint8_t hn;         /* header bytes read */
    uint8_t hdr[5];
    bool cont;          /* MySQL: the previous packet was 0xffffff long: this one goes on */
    bool hashing;       /* this packet's bytes go into the unit as they come */
    bool eofless;       /* MySQL: CLIENT_DEPRECATE_EOF on both sides */
    bool srv_eofless;   /* MySQL: the server's greeting offers it */
    bool group;         /* PostgreSQL requests: an extended-protocol group is open */
    uint8_t type;       /* PostgreSQL: the message's type */
    uint32_t plen, left; /* payload length, bytes of it still to come */
    uint64_t rem;       /* MySQL: column or parameter definitions still to come */
    uint64_t rem2;      /* MySQL prepare: column definitions after the parameters */
    uint32_t pn;
    uint8_t pre[CMP_DB_PRE];
};

struct cmp_ansf {
    enum cmp_proto proto;
    const struct cmp_rules *rules;
    cmp_ans_cb cb;
    void *arg;
    bool dead, started;
    uint32_t exp_head, exp_n;
    uint32_t exp[CMP_EXPECT]; /* flags of the awaited requests, oldest first */
    struct cmp_fstats st;
    union {
        struct cmp_http http;
        struct cmp_resp resp;
        struct cmp_mc mc;
        struct cmp_db db;
    } u;
    uint32_t pendlen;
    uint8_t pend[CMP_PEND];
    struct cmp_line line;
    struct cmp_unit unit;
    struct cmp_bodyf bodyf;
};

struct cmp_reqf {
    enum cmp_proto proto;
    cmp_req_cb cb;
    void *arg;
    bool dead, started;
    struct cmp_fstats st;
    union {
        struct cmp_http http;
        struct cmp_resp resp;
        struct cmp_mc mc;
        struct cmp_db db;
    } u;
    uint32_t pendlen;
    uint8_t pend[64]; /* the first bytes, until the protocol is known */
    struct cmp_req req;
    struct cmp_line line;
};

/* Consume *p up to and including '\n': true when a line is complete in l (CR and LF cut). */
bool cmp_line_take(struct cmp_line *l, const uint8_t **p, size_t *n);

/* Answers: the unit in progress (started on first use), bytes into its body, its end. */
void cmp_ans_begin(struct cmp_ansf *f);
void cmp_ans_bytes(struct cmp_ansf *f, const uint8_t *p, size_t n);
/* MySQL and PostgreSQL answers: up to d->left payload bytes of the message in progress from
 * p[0..n): its first CMP_DB_PRE kept in d->pre, hashed into the unit when d->hashing.
 * Returns how many were taken. */
size_t cmp_db_take(struct cmp_ansf *f, struct cmp_db *d, const uint8_t *p, size_t n);
/* Pass the unit on with these flags added; pops the oldest awaited request. */
void cmp_ans_emit(struct cmp_ansf *f, uint32_t flags);
/* Pass on a unit that answers no awaited request (a server's greeting): the queue stays. */
void cmp_ans_emit_unasked(struct cmp_ansf *f);
/* The oldest awaited request's flags, or 0. */
uint32_t cmp_ans_peek(const struct cmp_ansf *f);
/* Unparsable: pass on what was begun (or an empty unit), then ignore the stream. */
void cmp_ans_fail(struct cmp_ansf *f);

/* Requests: account n bytes to the request in progress; append to its text. */
void cmp_req_bytes(struct cmp_reqf *f, size_t n);
void cmp_req_text(struct cmp_reqf *f, const void *p, size_t n);
void cmp_req_endpoint(struct cmp_reqf *f, const void *p, size_t n, bool upper);
void cmp_req_emit(struct cmp_reqf *f, uint32_t flags);
void cmp_req_fail(struct cmp_reqf *f);

/* Protocol steps: consume bytes from *p (all of them, unless the framer died). */
void cmp_http_req(struct cmp_reqf *f, const uint8_t *p, size_t n);
void cmp_http_ans(struct cmp_ansf *f, const uint8_t *p, size_t n);
void cmp_http_ans_close(struct cmp_ansf *f);
/* Gaps of n bytes: true when they lie inside a counted body (consumed there). */
bool cmp_http_gap(struct cmp_ansf *f, uint64_t n);
bool cmp_resp_gap(struct cmp_ansf *f, uint64_t n);
bool cmp_mc_gap(struct cmp_ansf *f, uint64_t n);
void cmp_resp_req(struct cmp_reqf *f, const uint8_t *p, size_t n);
void cmp_resp_ans(struct cmp_ansf *f, const uint8_t *p, size_t n);
void cmp_mc_req(struct cmp_reqf *f, const uint8_t *p, size_t n);
void cmp_mc_ans(struct cmp_ansf *f, const uint8_t *p, size_t n);

void cmp_mysql_req(struct cmp_reqf *f, const uint8_t *p, size_t n);
void cmp_mysql_ans(struct cmp_ansf *f, const uint8_t *p, size_t n);
bool cmp_mysql_gap(struct cmp_ansf *f, uint64_t n);
void cmp_pgsql_req(struct cmp_reqf *f, const uint8_t *p, size_t n);
void cmp_pgsql_ans(struct cmp_ansf *f, const uint8_t *p, size_t n);
bool cmp_pgsql_gap(struct cmp_ansf *f, uint64_t n);
/* MySQL and PostgreSQL auto detection from the client's first bytes: 1 yes, 0 no, -1 more
 * bytes needed. */
int cmp_mysql_detect(const uint8_t *p, size_t n);
int cmp_pgsql_detect(const uint8_t *p, size_t n);
/* The endpoint of an SQL statement s[0..n): its first word in upper case and, for SELECT,
 * INSERT, UPDATE, DELETE, REPLACE, the first table ("SELECT sbtest1"), after prefix. */
void cmp_sql_endpoint(struct cmp_reqf *f, const char *prefix, const uint8_t *s, size_t n);

/* Parse a decimal (or, with hex, hexadecimal) number of at most 18 digits from s[0..n),
 * skipping leading spaces; stops at the first other byte. False when there is no digit. */
bool cmp_parse_num(const uint8_t *s, size_t n, bool hex, uint64_t *v, size_t *used);

#endif
