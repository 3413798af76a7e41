/*
 * cmp_frame: the framers' front (see cmp_frame.h): protocol choice, raw framing, and the
 * dispatch to cmp_http.c, cmp_resp.c and cmp_mc.c.
 *
 * Auto detection looks at the client's first bytes only: an HTTP method followed by a space,
 * a RESP array ('*'), a memcached command in lower case followed by a space or CRLF, a Redis
 * command known by name (any case; "GET k" in upper case is Redis, "get k" memcached), else
 * raw; before those, a MySQL login (sequence id 1, CLIENT_PROTOCOL_41, a zero filler) or a
 * PostgreSQL StartupMessage, SSLRequest, GSSENCRequest or CancelRequest (a length and a code
 * that fit). The answer framer learns the protocol from the first expected request.
 */
#include "cmp_fimpl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const proto_names[] = {"auto", "raw", "http", "resp", "memcache",
                                           "mysql", "postgresql"};

int cmp_proto_parse(const char *s, enum cmp_proto *p)
{
    for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++) {
        if (strcmp(s, proto_names[i]) == 0) {
            *p = (enum cmp_proto)i;
            return 0;
        }
    }
    if (strcmp(s, "redis") == 0 || strcmp(s, "memcached") == 0) {
        *p = s[0] == 'r' ? CMP_PROTO_RESP : CMP_PROTO_MC;
        return 0;
    }
    if (strcmp(s, "mariadb") == 0 || strcmp(s, "pgsql") == 0 || strcmp(s, "postgres") == 0) {
        *p = s[0] == 'm' ? CMP_PROTO_MYSQL : CMP_PROTO_PGSQL;
        return 0;
    }
    return -EINVAL;
}

const char *cmp_proto_name(enum cmp_proto p)
{
    return (unsigned)p < sizeof(proto_names) / sizeof(proto_names[0]) ? proto_names[p] : "?";
}

static const char *const http_methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS",
                                           "PATCH", "CONNECT", "TRACE"};
static const char *const mc_cmds[] = {
    "get", "gets", "gat", "gats", "set", "add", "replace", "append", "prepend", "cas",
    "delete", "incr", "decr", "touch", "stats", "flush_all", "version", "verbosity", "quit",
    "mg", "ms", "md", "ma", "mn", "me"};
static const char *const redis_cmds[] = {
    "PING", "AUTH", "HELLO", "SELECT", "INFO", "GET", "SET", "DEL", "EXISTS", "INCR", "DECR",
    "MGET", "MSET", "KEYS", "SCAN", "EXPIRE", "TTL", "LPUSH", "RPUSH", "LPOP", "RPOP",
    "LRANGE", "SADD", "SMEMBERS", "HSET", "HGET", "HGETALL", "ZADD", "ZRANGE", "CLIENT",
    "CONFIG", "COMMAND", "QUIT", "ECHO", "FLUSHALL", "FLUSHDB", "DBSIZE", "TYPE", "MULTI",
    "EXEC", "SUBSCRIBE", "PUBLISH", "XADD", "XRANGE", "EVAL", "EVALSHA"};

/* Is the word at p[0..n) (ended by a space, CR or LF at p[k]) in the list? 1 yes, 0 no,
 * -1 not enough bytes yet. */
static int word_in(const uint8_t *p, size_t n, const char *const *list, size_t count,
                   bool nocase)
{
    size_t k = 0;
    while (k < n && p[k] != ' ' && p[k] != '\r' && p[k] != '\n') {
        if (!isalpha(p[k]) && p[k] != '_')
            return 0; /* no command has such a byte */
        k++;
    }
    if (k == n)
        return n > 16 ? 0 : -1;
    for (size_t i = 0; i < count; i++) {
        if (strlen(list[i]) != k)
            continue;
        if (nocase ? strncasecmp((const char *)p, list[i], k) == 0
                   : memcmp(p, list[i], k) == 0)
            return 1;
    }
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum cmp_proto cmp_proto_detect(const uint8_t *p, size_t n)
{
    if (n == 0)
        return CMP_PROTO_AUTO;
    if (p[0] == '*')
        return CMP_PROTO_RESP;
    /* binary logins first: their bytes are no text command */
    int my = cmp_mysql_detect(p, n), pg = cmp_pgsql_detect(p, n);
    if (my > 0)
        return CMP_PROTO_MYSQL;
    if (pg > 0)
        return CMP_PROTO_PGSQL;
    if (my < 0 || pg < 0)
        return CMP_PROTO_AUTO;
    int h = word_in(p, n, http_methods, COUNT(http_methods), false);
    int m = word_in(p, n, mc_cmds, COUNT(mc_cmds), false);
    int r = word_in(p, n, redis_cmds, COUNT(redis_cmds), true);
    if (h < 0)
        return CMP_PROTO_AUTO;
    if (h > 0) {
        /* "GET k" is also a Redis inline command: HTTP has its version on the line */
        const uint8_t *nl = memchr(p, '\n', n);
        if (!nl)
            return n < 64 ? CMP_PROTO_AUTO : CMP_PROTO_HTTP;
        if (memmem(p, (size_t)(nl - p), " HTTP/", 6))
            return CMP_PROTO_HTTP;
    }
    if (m > 0)
        return CMP_PROTO_MC;
    if (r > 0)
        return CMP_PROTO_RESP;
    return CMP_PROTO_RAW;
}

/* ---- requests ---- */

struct cmp_reqf *cmp_reqf_new(enum cmp_proto p, cmp_req_cb cb, void *arg)
{
    struct cmp_reqf *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->proto = p;
    f->cb = cb;
    f->arg = arg;
    return f;
}

void cmp_reqf_free(struct cmp_reqf *f)
{
    free(f);
}

enum cmp_proto cmp_reqf_proto(const struct cmp_reqf *f)
{
    return f->proto;
}

const struct cmp_fstats *cmp_reqf_stats(const struct cmp_reqf *f)
{
    return &f->st;
}

/* Raw: a request is everything up to the caller's boundary; its endpoint is its first line
 * (or first bytes). */
static void raw_req(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    if (f->req.len == 0) {
        size_t k = 0;
        while (k < n && k < 32 && p[k] != '\r' && p[k] != '\n')
            k++;
        cmp_req_endpoint(f, p, k, false);
    }
    cmp_req_text(f, p, n);
    cmp_req_bytes(f, n);
}

static void reqf_dispatch(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    switch (f->proto) {
    case CMP_PROTO_HTTP:
        cmp_http_req(f, p, n);
        break;
    case CMP_PROTO_RESP:
        cmp_resp_req(f, p, n);
        break;
    case CMP_PROTO_MC:
        cmp_mc_req(f, p, n);
        break;
    case CMP_PROTO_MYSQL:
        cmp_mysql_req(f, p, n);
        break;
    case CMP_PROTO_PGSQL:
        cmp_pgsql_req(f, p, n);
        break;
    default:
        raw_req(f, p, n);
        break;
    }
}

void cmp_reqf_feed(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    if (f->dead || n == 0)
        return;
    if (f->proto != CMP_PROTO_AUTO) {
        reqf_dispatch(f, p, n);
        return;
    }
    size_t k = n < sizeof(f->pend) - f->pendlen ? n : sizeof(f->pend) - f->pendlen;
    memcpy(f->pend + f->pendlen, p, k);
    f->pendlen += (uint32_t)k;
    enum cmp_proto d = cmp_proto_detect(f->pend, f->pendlen);
    if (d == CMP_PROTO_AUTO && f->pendlen < sizeof(f->pend))
        return;
    f->proto = d == CMP_PROTO_AUTO ? CMP_PROTO_RAW : d;
    reqf_dispatch(f, f->pend, f->pendlen);
    if (n > k)
        cmp_reqf_feed(f, p + k, n - k);
}

void cmp_reqf_end(struct cmp_reqf *f)
{
    if (f->proto == CMP_PROTO_AUTO && f->pendlen > 0) {
        f->proto = CMP_PROTO_RAW;
        reqf_dispatch(f, f->pend, f->pendlen);
    }
    if (f->proto == CMP_PROTO_RAW && f->started && !f->dead)
        cmp_req_emit(f, 0);
}

void cmp_reqf_close(struct cmp_reqf *f)
{
    cmp_reqf_end(f);
    if (f->started && !f->dead)
        cmp_req_emit(f, CMP_R_TRUNCATED);
    f->dead = true;
}

/* ---- answers ---- */

struct cmp_ansf *cmp_ansf_new(enum cmp_proto p, const struct cmp_rules *rules, cmp_ans_cb cb,
                              void *arg)
{
    struct cmp_ansf *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->proto = p;
    f->rules = rules;
    f->cb = cb;
    f->arg = arg;
    return f;
}

void cmp_ansf_free(struct cmp_ansf *f)
{
    if (f)
        cmp_bodyf_free(&f->bodyf);
    free(f);
}

const struct cmp_fstats *cmp_ansf_stats(const struct cmp_ansf *f)
{
    return &f->st;
}

static void ansf_dispatch(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    switch (f->proto) {
    case CMP_PROTO_HTTP:
        cmp_http_ans(f, p, n);
        break;
    case CMP_PROTO_RESP:
        cmp_resp_ans(f, p, n);
        break;
    case CMP_PROTO_MC:
        cmp_mc_ans(f, p, n);
        break;
    case CMP_PROTO_MYSQL:
        cmp_mysql_ans(f, p, n);
        break;
    case CMP_PROTO_PGSQL:
        cmp_pgsql_ans(f, p, n);
        break;
    default:
        cmp_ans_bytes(f, p, n);
        break;
    }
}

/* The protocol is known now: frame what was held. */
static void ansf_decide(struct cmp_ansf *f, enum cmp_proto p)
{
    f->proto = p;
    if (f->pendlen > 0)
        ansf_dispatch(f, f->pend, f->pendlen);
    f->pendlen = 0;
}

void cmp_ansf_expect(struct cmp_ansf *f, const struct cmp_req *r)
{
    if (f->proto == CMP_PROTO_AUTO)
        ansf_decide(f, r->proto == CMP_PROTO_AUTO ? CMP_PROTO_RAW : r->proto);
    if (r->flags & CMP_R_NOREPLY)
        return; /* no answer will come: nothing to line up */
    if (f->exp_n == CMP_EXPECT) {
        f->st.overflow++; /* the oldest is forgotten: its flags (HEAD) are lost */
        f->exp_head = (f->exp_head + 1) % CMP_EXPECT;
        f->exp_n--;
    }
    f->exp[(f->exp_head + f->exp_n) % CMP_EXPECT] = r->flags;
    f->exp_n++;
}

void cmp_ansf_feed(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    if (f->dead || n == 0)
        return;
    if (f->proto != CMP_PROTO_AUTO) {
        ansf_dispatch(f, p, n);
        return;
    }
    size_t k = n < CMP_PEND - f->pendlen ? n : CMP_PEND - f->pendlen;
    memcpy(f->pend + f->pendlen, p, k);
    f->pendlen += (uint32_t)k;
    if (k < n) { /* too much before any request: raw from here on */
        ansf_decide(f, CMP_PROTO_RAW);
        ansf_dispatch(f, p + k, n - k);
    }
}

bool cmp_ansf_gap(struct cmp_ansf *f, uint64_t n)
{
    if (f->dead)
        return false;
    if (f->proto == CMP_PROTO_AUTO)
        ansf_decide(f, CMP_PROTO_RAW); /* no request to tell the protocol: what was held is raw */
    f->st.gaps++;
    cmp_ans_begin(f);
    f->unit.flags |= CMP_U_INCOMPLETE;
    bool on;
    switch (f->proto) {
    case CMP_PROTO_HTTP:
        on = cmp_http_gap(f, n);
        break;
    case CMP_PROTO_RESP:
        on = cmp_resp_gap(f, n);
        break;
    case CMP_PROTO_MC:
        on = cmp_mc_gap(f, n);
        break;
    case CMP_PROTO_MYSQL:
        on = cmp_mysql_gap(f, n);
        break;
    case CMP_PROTO_PGSQL:
        on = cmp_pgsql_gap(f, n);
        break;
    default:
        on = true; /* raw: the caller's boundaries still hold */
        break;
    }
    if (!on) {
        cmp_ans_emit(f, CMP_U_LAST);
        f->dead = true;
    }
    return on;
}

void cmp_ansf_end(struct cmp_ansf *f)
{
    if (f->proto == CMP_PROTO_AUTO && f->pendlen > 0)
        ansf_decide(f, CMP_PROTO_RAW);
    if (f->proto == CMP_PROTO_RAW && f->started && !f->dead)
        cmp_ans_emit(f, 0);
}

void cmp_ansf_close(struct cmp_ansf *f)
{
    if (f->dead)
        return;
    if (f->proto == CMP_PROTO_AUTO && f->pendlen > 0)
        ansf_decide(f, CMP_PROTO_RAW);
    if (f->proto == CMP_PROTO_HTTP)
        cmp_http_ans_close(f);
    else if (f->proto == CMP_PROTO_RAW && f->started)
        cmp_ans_emit(f, CMP_U_CLOSED);
    else if (f->started)
        cmp_ans_emit(f, CMP_U_TRUNCATED);
    f->dead = true;
}
