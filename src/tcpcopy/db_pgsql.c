/*
 * db_pgsql: framing, startup messages, authentication requests and the md5
 * answer of the PostgreSQL protocol (see db_pgsql.h). Lengths are checked
 * before every read: these bytes come from the network.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "db_pgsql.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int pg_frame(const uint8_t *buf, size_t len, bool startup, size_t *total)
{
    size_t at = startup ? 0 : 1;

    *total = 0;
    if (len < at + 4)
        return 0;
    uint32_t n = be32(buf + at);
    if (n < 4)
        return -PG_E_PROTO;
    if (n > (startup ? PG_STARTUP_MAX : PG_MSG_MAX))
        return -PG_E_SIZE;
    if (len - at >= n)
        *total = at + n;
    return 0;
}

/* The "name\0value\0" pairs of protocol 3.0, ending with an empty name. */
static int startup_params(const uint8_t *p, size_t len, struct pg_startup *s)
{
    size_t off = 8;

    while (off < len && p[off] != 0) {
        const uint8_t *k = p + off, *kz = memchr(k, 0, len - off);
        if (kz == NULL)
            return -PG_E_SHORT;
        size_t voff = (size_t)(kz - p) + 1;
        const uint8_t *vz = voff < len ? memchr(p + voff, 0, len - voff) : NULL;
        if (vz == NULL)
            return -PG_E_SHORT;
        size_t klen = (size_t)(kz - k), vlen = (size_t)(vz - (p + voff));
        if (klen == 4 && memcmp(k, "user", 4) == 0) {
            s->user_off = voff;
            s->user_len = vlen;
        } else if (klen == 8 && memcmp(k, "database", 8) == 0) {
            s->db_off = voff;
            s->db_len = vlen;
        }
        off = (size_t)(vz - p) + 1;
    }
    return off < len ? 0 : -PG_E_SHORT; /* the closing empty name */
}

int pg_startup_parse(const uint8_t *p, size_t len, struct pg_startup *s)
{
    memset(s, 0, sizeof(*s));
    if (len < 8)
        return -PG_E_SHORT;
    uint32_t n = be32(p);
    if (n != len)
        return n < len ? -PG_E_PROTO : -PG_E_SHORT;
    if (n > PG_STARTUP_MAX)
        return -PG_E_SIZE;
    s->code = be32(p + 4);
    switch (s->code) {
    case PG_SSL_REQUEST:
    case PG_GSSENC_REQUEST:
        return n == 8 ? 0 : -PG_E_PROTO;
    case PG_CANCEL_REQUEST:
        return n == 16 ? 0 : -PG_E_PROTO;
    case PG_PROTO_3:
        return startup_params(p, len, s);
    default:
        return -PG_E_PROTO; /* protocol 2 and unknown requests */
    }
}

static size_t put_param(uint8_t *out, size_t at, const char *k, const char *v)
{
    size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
    memcpy(out + at, k, kl);
    memcpy(out + at + kl, v, vl);
    return at + kl + vl;
}

int pg_startup_build(const char *user, const char *db, uint8_t *out, size_t cap, size_t *olen)
{
    bool with_db = db != NULL && db[0] != '\0';
    size_t need = 8 + 5 + strlen(user) + 1 + (with_db ? 9 + strlen(db) + 1 : 0) + 1;

    if (need > cap || need > PG_STARTUP_MAX)
        return -PG_E_SIZE;
    put_be32(out, (uint32_t)need);
    put_be32(out + 4, PG_PROTO_3);
    size_t at = put_param(out, 8, "user", user);
    if (with_db)
        at = put_param(out, at, "database", db);
    out[at++] = 0;
    *olen = at;
    return 0;
}

int pg_auth_parse(const uint8_t *p, size_t len, struct pg_auth *a)
{
    memset(a, 0, sizeof(*a));
    if (len < 9)
        return -PG_E_SHORT;
    if (p[0] != 'R')
        return -PG_E_PROTO;
    if (be32(p + 1) != len - 1)
        return -PG_E_PROTO;
    a->code = be32(p + 5);
    a->data = p + 9;
    a->data_len = len - 9;
    if (a->code == PG_AUTH_MD5 && a->data_len != 4)
        return -PG_E_PROTO;
    return 0;
}

bool pg_sasl_offers(const struct pg_auth *a, const char *name)
{
    size_t off = 0, nl = strlen(name);

    if (a->code != PG_AUTH_SASL)
        return false;
    while (off < a->data_len) {
        const uint8_t *z = memchr(a->data + off, 0, a->data_len - off);
        if (z == NULL)
            return false;
        size_t n = (size_t)(z - (a->data + off));
        if (n == 0)
            return false; /* the list's end */
        if (n == nl && memcmp(a->data + off, name, n) == 0)
            return true;
        off += n + 1;
    }
    return false;
}

/* A PasswordMessage ('p') carrying body[blen] and a closing NUL. */
static int password_message(const void *body, size_t blen, uint8_t *out, size_t cap,
                            size_t *olen)
{
    if (blen > PG_STARTUP_MAX || 1 + 4 + blen + 1 > cap)
        return -PG_E_SIZE;
    out[0] = 'p';
    put_be32(out + 1, (uint32_t)(4 + blen + 1));
    memcpy(out + 5, body, blen);
    out[5 + blen] = 0;
    *olen = 5 + blen + 1;
    return 0;
}

static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char hex[33])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    memset(md, 0, sizeof(md));
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1)
        (void)EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    OPENSSL_cleanse(md, sizeof(md));
}

int pg_md5_message(const char *user, const char *pw, const uint8_t salt[4], uint8_t *out,
                   size_t cap, size_t *olen)
{
    char inner[33], answer[3 + 33];

    md5_hex(pw, strlen(pw), user, strlen(user), inner);
    memcpy(answer, "md5", 3);
    md5_hex(inner, 32, salt, 4, answer + 3);
    int rc = password_message(answer, 35, out, cap, olen);
    OPENSSL_cleanse(inner, sizeof(inner));
    return rc;
}

int pg_clear_message(const char *pw, uint8_t *out, size_t cap, size_t *olen)
{
    return password_message(pw, strlen(pw), out, cap, olen);
}
