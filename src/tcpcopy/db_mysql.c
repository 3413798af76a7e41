/*
 * db_mysql: framing, greeting, login and COM_CHANGE_USER of the MySQL/MariaDB
 * protocol (see db_mysql.h). Every read goes through a cursor that checks the
 * length first: these bytes come from the network.
 */
#include <errno.h>
#include <string.h>

#include "db_mysql.h"

struct cur {
    const uint8_t *p;
    size_t len, off;
};

static bool cur_skip(struct cur *c, size_t n)
{
    if (c->len - c->off < n)
        return false;
    c->off += n;
    return true;
}

static bool cur_u8(struct cur *c, uint8_t *v)
{
    if (c->off >= c->len)
        return false;
    *v = c->p[c->off++];
    return true;
}

static bool cur_le(struct cur *c, size_t n, uint64_t *v)
{
    if (c->len - c->off < n)
        return false;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v |= (uint64_t)c->p[c->off + i] << (8 * i);
    c->off += n;
    return true;
}

/* A NUL-terminated string: its offset and length; false when no NUL ends it. */
static bool cur_str(struct cur *c, size_t *off, size_t *slen)
{
    const uint8_t *z = memchr(c->p + c->off, 0, c->len - c->off);
    if (z == NULL)
        return false;
    *off = c->off;
    *slen = (size_t)(z - (c->p + c->off));
    c->off += *slen + 1;
    return true;
}

/* A length-encoded integer ("Protocol::LengthEncodedInteger"). */
static bool cur_lenenc(struct cur *c, uint64_t *v)
{
    uint8_t b;
    if (!cur_u8(c, &b))
        return false;
    if (b < 0xfb) {
        *v = b;
        return true;
    }
    if (b == 0xfc)
        return cur_le(c, 2, v);
    if (b == 0xfd)
        return cur_le(c, 3, v);
    if (b == 0xfe)
        return cur_le(c, 8, v);
    return false; /* 0xfb is NULL in a row, 0xff an error: neither is a length */
}

/* Copy a string field (not NUL-terminated in the packet when to_end) into name[MYSQL_NAME_MAX]. */
static void name_copy(char *name, const uint8_t *s, size_t n)
{
    if (n >= MYSQL_NAME_MAX)
        n = MYSQL_NAME_MAX - 1;
    memcpy(name, s, n);
    name[n] = '\0';
}

/* The plugin name closing a packet: NUL-terminated, or running to its end (servers 5.5.7-5.5.9). */
static void cur_plugin(struct cur *c, char *name)
{
    size_t off, n;
    if (cur_str(c, &off, &n)) {
        name_copy(name, c->p + off, n);
        return;
    }
    name_copy(name, c->p + c->off, c->len - c->off);
    c->off = c->len;
}

size_t mysql_frame(const uint8_t *buf, size_t len, uint8_t *seq, uint32_t *payload_len)
{
    if (len < MYSQL_HDR_LEN)
        return 0;
    uint32_t plen = buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16;
    if (len - MYSQL_HDR_LEN < plen)
        return 0;
    if (seq != NULL)
        *seq = buf[3];
    if (payload_len != NULL)
        *payload_len = plen;
    return MYSQL_HDR_LEN + (size_t)plen;
}

void mysql_hdr_write(uint8_t *hdr, uint32_t plen, uint8_t seq)
{
    hdr[0] = (uint8_t)plen;
    hdr[1] = (uint8_t)(plen >> 8);
    hdr[2] = (uint8_t)(plen >> 16);
    hdr[3] = seq;
}

int mysql_greeting_parse(const uint8_t *p, size_t len, struct mysql_greeting *g)
{
    struct cur c = {p, len, 0};
    uint8_t proto, filler, apd_len = 0;
    uint64_t v;
    size_t off, n;

    memset(g, 0, sizeof(*g));
    if (!cur_u8(&c, &proto))
        return -MYSQL_E_SHORT;
    if (proto != 10)
        return -MYSQL_E_PROTO; /* 0xff: the server refused us; 9: a pre-4.1 server */
    if (!cur_str(&c, &off, &n) || !cur_le(&c, 4, &v))
        return -MYSQL_E_SHORT;
    g->conn_id = (uint32_t)v;
    if (c.len - c.off < 8)
        return -MYSQL_E_SHORT;
    memcpy(g->scramble, p + c.off, 8);
    g->scramble_len = 8;
    c.off += 8;
    if (!cur_u8(&c, &filler) || !cur_le(&c, 2, &v))
        return -MYSQL_E_SHORT;
    g->caps = (uint32_t)v;
    if (c.off == c.len)
        return 0; /* a greeting may end after the lower capabilities */
    if (!cur_u8(&c, &g->charset) || !cur_skip(&c, 2) || !cur_le(&c, 2, &v) ||
        !cur_u8(&c, &apd_len) || !cur_skip(&c, 10))
        return -MYSQL_E_SHORT;
    g->caps |= (uint32_t)v << 16;
    if (g->caps & MYSQL_CLIENT_SECURE_CONNECTION) {
        /* Part 2 is max(13, len - 8) bytes, the last a NUL: the scramble's 12 others. */
        size_t part2 = apd_len > 21 ? (size_t)apd_len - 8 : 13;
        if (c.len - c.off < part2)
            return -MYSQL_E_SHORT;
        memcpy(g->scramble + 8, p + c.off, MYSQL_SCRAMBLE_LEN - 8);
        g->scramble_len = MYSQL_SCRAMBLE_LEN;
        c.off += part2;
    }
    if (g->caps & MYSQL_CLIENT_PLUGIN_AUTH)
        cur_plugin(&c, g->plugin);
    return 0;
}

/* From the answer on, a login and COM_CHANGE_USER differ only in what precedes it. */
static int login_auth_parse(struct cur *c, uint32_t caps, bool lenenc_ok, struct mysql_login *l)
{
    uint64_t v;
    uint8_t b;

    l->auth_hdr = c->off;
    if (lenenc_ok && (caps & MYSQL_CLIENT_PLUGIN_AUTH_LENENC)) {
        if (!cur_lenenc(c, &v))
            return -MYSQL_E_SHORT;
        l->form = MYSQL_AUTH_LENENC;
    } else if (caps & MYSQL_CLIENT_SECURE_CONNECTION) {
        if (!cur_u8(c, &b))
            return -MYSQL_E_SHORT;
        v = b;
        l->form = MYSQL_AUTH_LEN1;
    } else {
        size_t off, n;
        if (!cur_str(c, &off, &n))
            return -MYSQL_E_SHORT;
        l->auth_off = off;
        l->auth_len = n;
        l->form = MYSQL_AUTH_NUL;
        return 0;
    }
    if (v > c->len - c->off)
        return -MYSQL_E_SHORT;
    l->auth_off = c->off;
    l->auth_len = (size_t)v;
    c->off += (size_t)v;
    return 0;
}

int mysql_login_parse(const uint8_t *p, size_t len, struct mysql_login *l)
{
    struct cur c = {p, len, 0};
    uint64_t v;
    int rc;

    memset(l, 0, sizeof(*l));
    if (!cur_le(&c, 4, &v))
        return -MYSQL_E_SHORT;
    l->caps = (uint32_t)v;
    if (!(l->caps & MYSQL_CLIENT_PROTOCOL_41))
        return -MYSQL_E_PROTO;
    if (l->caps & MYSQL_CLIENT_SSL)
        return -MYSQL_E_SSL; /* an SSLRequest: the real login follows inside TLS */
    if (!cur_skip(&c, 4) || !cur_u8(&c, &l->charset) || !cur_skip(&c, 23))
        return -MYSQL_E_SHORT;
    if (!cur_str(&c, &l->user_off, &l->user_len))
        return -MYSQL_E_SHORT;
    if ((rc = login_auth_parse(&c, l->caps, true, l)) != 0)
        return rc;
    if ((l->caps & MYSQL_CLIENT_CONNECT_WITH_DB) && c.off < c.len &&
        !cur_str(&c, &l->db_off, &l->db_len))
        return -MYSQL_E_SHORT;
    if ((l->caps & MYSQL_CLIENT_PLUGIN_AUTH) && c.off < c.len)
        cur_plugin(&c, l->plugin);
    return 0;
}

int mysql_chuser_parse(const uint8_t *p, size_t len, uint32_t caps, struct mysql_login *l)
{
    struct cur c = {p, len, 0};
    uint8_t cmd;
    uint64_t v;
    int rc;

    memset(l, 0, sizeof(*l));
    l->caps = caps;
    if (!cur_u8(&c, &cmd))
        return -MYSQL_E_SHORT;
    if (cmd != MYSQL_COM_CHANGE_USER)
        return -MYSQL_E_PROTO;
    if (!cur_str(&c, &l->user_off, &l->user_len))
        return -MYSQL_E_SHORT;
    if ((rc = login_auth_parse(&c, caps, false, l)) != 0)
        return rc;
    if (!cur_str(&c, &l->db_off, &l->db_len))
        return -MYSQL_E_SHORT;
    if (c.off == c.len)
        return 0;
    if (!cur_le(&c, 2, &v))
        return -MYSQL_E_SHORT;
    l->charset = (uint8_t)v;
    if ((caps & MYSQL_CLIENT_PLUGIN_AUTH) && c.off < c.len)
        cur_plugin(&c, l->plugin);
    return 0;
}

/* The length prefix of an answer in a form: its bytes in hdr, their count; 0 when it cannot. */
static size_t auth_prefix(enum mysql_auth_form form, size_t alen, uint8_t hdr[3])
{
    switch (form) {
    case MYSQL_AUTH_LENENC:
        if (alen < 0xfb) {
            hdr[0] = (uint8_t)alen;
            return 1;
        }
        hdr[0] = 0xfc;
        hdr[1] = (uint8_t)alen;
        hdr[2] = (uint8_t)(alen >> 8);
        return alen <= 0xffff ? 3 : 0;
    case MYSQL_AUTH_LEN1:
        hdr[0] = (uint8_t)alen;
        return alen <= 0xff ? 1 : 0;
    case MYSQL_AUTH_NUL:
        return 0;
    }
    return 0;
}

int mysql_login_rewrite(const uint8_t *p, size_t len, const struct mysql_login *l,
                        const uint8_t *auth, size_t alen, uint8_t *out, size_t cap, size_t *olen)
{
    uint8_t hdr[3];
    size_t hlen = auth_prefix(l->form, alen, hdr);
    size_t tail = l->auth_off + l->auth_len;

    if (l->form == MYSQL_AUTH_NUL) {
        if (alen > 0 && memchr(auth, 0, alen) != NULL)
            return -MYSQL_E_SIZE; /* cannot be carried NUL-terminated */
    } else if (hlen == 0) {
        return -MYSQL_E_SIZE;
    }
    if (tail > len || l->auth_hdr > l->auth_off || len > MYSQL_LOGIN_MAX)
        return -MYSQL_E_SIZE;
    size_t n = l->auth_hdr + hlen + alen + (len - tail);
    if (n > cap)
        return -MYSQL_E_SIZE;
    memcpy(out, p, l->auth_hdr);
    memcpy(out + l->auth_hdr, hdr, hlen);
    if (alen > 0)
        memcpy(out + l->auth_hdr + hlen, auth, alen);
    memcpy(out + l->auth_hdr + hlen + alen, p + tail, len - tail);
    *olen = n;
    return 0;
}

static size_t put_str(uint8_t *out, size_t at, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(out + at, s, n);
    return at + n;
}

int mysql_login_build(uint32_t caps, uint8_t charset, const char *user, const uint8_t *auth,
                      size_t alen, const char *db, const char *plugin, uint8_t *out, size_t cap,
                      size_t *olen)
{
    bool with_db = db != NULL && db[0] != '\0';
    size_t need = 32 + strlen(user) + 1 + 1 + alen + (with_db ? strlen(db) + 1 : 0) +
                  strlen(plugin) + 1;

    if (alen > 0xff || need > cap)
        return -MYSQL_E_SIZE;
    caps |= MYSQL_CLIENT_PROTOCOL_41 | MYSQL_CLIENT_SECURE_CONNECTION | MYSQL_CLIENT_PLUGIN_AUTH;
    caps &= ~(uint32_t)(MYSQL_CLIENT_SSL | MYSQL_CLIENT_CONNECT_ATTRS |
                        MYSQL_CLIENT_PLUGIN_AUTH_LENENC | MYSQL_CLIENT_CONNECT_WITH_DB);
    if (with_db)
        caps |= MYSQL_CLIENT_CONNECT_WITH_DB;
    memset(out, 0, 32);
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(caps >> (8 * i));
    out[7] = 0x01; /* max packet 16 MiB, little-endian 0x01000000 */
    out[8] = charset;
    size_t at = put_str(out, 32, user);
    out[at++] = (uint8_t)alen;
    if (alen > 0)
        memcpy(out + at, auth, alen);
    at += alen;
    if (with_db)
        at = put_str(out, at, db);
    at = put_str(out, at, plugin);
    *olen = at;
    return 0;
}

int mysql_switch_parse(const uint8_t *p, size_t len, struct mysql_switch *s)
{
    struct cur c = {p, len, 1};
    size_t off, n;

    memset(s, 0, sizeof(*s));
    /* A lone 0xfe is the pre-4.1 "old password" switch; 0xfe is also EOF (< 9 bytes, no name). */
    if (len < 2 || p[0] != 0xfe || !cur_str(&c, &off, &n) || n == 0)
        return -MYSQL_E_PROTO;
    name_copy(s->plugin, p + off, n);
    n = c.len - c.off;
    if (n > 0 && p[c.len - 1] == 0)
        n--; /* the scramble's closing NUL */
    if (n > MYSQL_SCRAMBLE_LEN)
        n = MYSQL_SCRAMBLE_LEN;
    memcpy(s->data, p + c.off, n);
    s->data_len = n;
    return 0;
}

int mysql_sha2_status(const uint8_t *p, size_t len)
{
    if (len == 2 && p[0] == 0x01 && (p[1] == 3 || p[1] == 4))
        return p[1];
    return -1;
}

int mysql_prepare_ok_parse(const uint8_t *p, size_t len, uint32_t *id, uint16_t *ncols,
                           uint16_t *nparams)
{
    struct cur c = {p, len, 0};
    uint8_t st;
    uint64_t v, nc, np;

    if (!cur_u8(&c, &st))
        return -MYSQL_E_SHORT;
    if (st != 0x00)
        return -MYSQL_E_PROTO; /* 0xff: the prepare failed */
    if (!cur_le(&c, 4, &v) || !cur_le(&c, 2, &nc) || !cur_le(&c, 2, &np))
        return -MYSQL_E_SHORT;
    *id = (uint32_t)v;
    *ncols = (uint16_t)nc;
    *nparams = (uint16_t)np;
    return 0;
}

/* The size of a binary-protocol value of a type at c (false: a type we do not know). */
static bool value_skip(struct cur *c, uint8_t type)
{
    uint8_t b;
    uint64_t v;
    switch (type) {
    case 0x06: /* NULL */
        return true;
    case 0x01: /* TINY */
        return cur_skip(c, 1);
    case 0x02: /* SHORT */
    case 0x0d: /* YEAR */
        return cur_skip(c, 2);
    case 0x03: /* LONG */
    case 0x04: /* FLOAT */
    case 0x09: /* INT24 */
        return cur_skip(c, 4);
    case 0x05: /* DOUBLE */
    case 0x08: /* LONGLONG */
        return cur_skip(c, 8);
    case 0x07: /* TIMESTAMP */
    case 0x0a: /* DATE */
    case 0x0b: /* TIME */
    case 0x0c: /* DATETIME */
        return cur_u8(c, &b) && cur_skip(c, b);
    case 0x00: /* DECIMAL */
    case 0x0f: /* VARCHAR */
    case 0x10: /* BIT */
    default:   /* 0xf5..0xff: JSON, NEWDECIMAL, ENUM, SET, BLOBs, VAR_STRING, STRING, GEOMETRY */
        if (type > 0x10 && type < 0xf5)
            return false;
        return cur_lenenc(c, &v) && v <= c->len - c->off && cur_skip(c, (size_t)v);
    }
}

bool mysql_execute_fits(const uint8_t *p, size_t len, uint16_t n)
{
    struct cur c = {p, len, 10};
    size_t nb = ((size_t)n + 7) / 8;
    uint8_t bound;

    if (len < 10 || p[0] != MYSQL_COM_STMT_EXECUTE)
        return false;
    if (n == 0)
        return len == 10;
    const uint8_t *nulls = p + 10;
    if (!cur_skip(&c, nb) || !cur_u8(&c, &bound) || bound > 1)
        return false;
    if ((n % 8) != 0 && (nulls[nb - 1] >> (n % 8)) != 0)
        return false; /* bits past the last parameter are zero */
    if (bound == 0)
        return true; /* the types were sent before: nothing more to check */
    const uint8_t *types = p + c.off;
    if (!cur_skip(&c, 2 * (size_t)n))
        return false;
    for (uint16_t i = 0; i < n; i++) {
        if (nulls[i / 8] & (1U << (i % 8)))
            continue;
        if (!value_skip(&c, types[2 * i]))
            return false;
    }
    return c.off == len;
}

bool mysql_cmd_has_stmt(const uint8_t *p, size_t len)
{
    if (len < 5)
        return false;
    switch (p[0]) {
    case MYSQL_COM_STMT_EXECUTE:
    case MYSQL_COM_STMT_SEND_LONG_DATA:
    case MYSQL_COM_STMT_CLOSE:
    case MYSQL_COM_STMT_RESET:
    case MYSQL_COM_STMT_FETCH:
    case MYSQL_COM_STMT_BULK_EXECUTE:
        return true;
    default:
        return false;
    }
}

int mysql_stmt_map_set(struct mysql_stmt_map *m, uint32_t prod, uint32_t target)
{
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->e[i].prod == prod) {
            m->e[i].target = target;
            return 0;
        }
    }
    if (m->n >= MYSQL_STMT_MAX)
        return -ENOSPC;
    m->e[m->n].prod = prod;
    m->e[m->n].target = target;
    m->n++;
    return 0;
}

bool mysql_stmt_map_get(const struct mysql_stmt_map *m, uint32_t prod, uint32_t *target)
{
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->e[i].prod == prod) {
            *target = m->e[i].target;
            return true;
        }
    }
    return false;
}

void mysql_stmt_map_del(struct mysql_stmt_map *m, uint32_t prod)
{
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->e[i].prod == prod) {
            m->e[i] = m->e[--m->n];
            return;
        }
    }
}

int mysql_stmt_rewrite(uint8_t *p, size_t len, const struct mysql_stmt_map *m)
{
    if (!mysql_cmd_has_stmt(p, len))
        return 0;
    uint32_t id = p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24, t;
    if (id == 0xffffffffU)
        return 0; /* MariaDB: "the statement prepared last", the same on both sides */
    if (!mysql_stmt_map_get(m, id, &t))
        return -MYSQL_E_STMT;
    for (int i = 0; i < 4; i++)
        p[1 + i] = (uint8_t)(t >> (8 * i));
    return 1;
}
