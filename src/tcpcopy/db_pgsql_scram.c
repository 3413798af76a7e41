/*
 * db_pgsql_scram: the client side of SCRAM-SHA-256 (RFC 5802 section 3,
 * RFC 7677) as PostgreSQL speaks it: no channel binding ("n,," and "c=biws"),
 * an empty user name (the server takes it from the startup message). Keys
 * are derived with libcrypto's PKCS5_PBKDF2_HMAC and HMAC; the server's
 * signature is compared in constant time. Passwords are used as given (no
 * SASLprep: ASCII passwords are their own normal form).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "db_pgsql.h"

#define SCRAM_MECH "SCRAM-SHA-256"
#define SCRAM_SALT_MAX 64
#define SCRAM_MSG_MAX 512

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int pg_scram_nonce(char nonce[PG_NONCE_LEN + 1])
{
    uint8_t rnd[PG_NONCE_LEN / 4 * 3];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    /* 18 bytes make 24 base64 characters and no padding: all printable, no ',' (RFC 5802 5.1). */
    (void)EVP_EncodeBlock((unsigned char *)nonce, rnd, sizeof(rnd));
    return 0;
}

int pg_scram_first(struct pg_scram *s, const char *nonce, uint8_t *out, size_t cap, size_t *olen)
{
    memset(s, 0, sizeof(*s));
    if (strlen(nonce) != PG_NONCE_LEN || strchr(nonce, ',') != NULL)
        return -PG_E_SCRAM;
    memcpy(s->nonce, nonce, PG_NONCE_LEN + 1);
    int bl = snprintf(s->first_bare, sizeof(s->first_bare), "n=,r=%s", nonce);
    size_t first = 3 + (size_t)bl; /* "n,," GS2 header: no channel binding */
    size_t total = 1 + 4 + sizeof(SCRAM_MECH) + 4 + first;
    if (total > cap)
        return -PG_E_SIZE;
    out[0] = 'p';
    put_be32(out + 1, (uint32_t)(total - 1));
    memcpy(out + 5, SCRAM_MECH, sizeof(SCRAM_MECH));
    size_t at = 5 + sizeof(SCRAM_MECH);
    put_be32(out + at, (uint32_t)first);
    memcpy(out + at + 4, "n,,", 3);
    memcpy(out + at + 7, s->first_bare, (size_t)bl);
    *olen = total;
    return 0;
}

/* The value of attribute "k=" in a SCRAM message: its start and length, or false. */
static bool scram_attr(const uint8_t *msg, size_t len, char k, const uint8_t **v, size_t *vlen)
{
    size_t off = 0;
    while (off + 2 <= len) {
        const uint8_t *end = memchr(msg + off, ',', len - off);
        size_t n = end != NULL ? (size_t)(end - (msg + off)) : len - off;
        if (n >= 2 && msg[off] == (uint8_t)k && msg[off + 1] == '=') {
            *v = msg + off + 2;
            *vlen = n - 2;
            return true;
        }
        off += n + 1;
    }
    return false;
}

/* Base64 text v[vlen] to bytes: their count, or -1 when it is not base64 or too long. */
static int b64_decode(const uint8_t *v, size_t vlen, uint8_t *out, size_t cap)
{
    char tmp[SCRAM_MSG_MAX];
    if (vlen == 0 || vlen % 4 != 0 || vlen >= sizeof(tmp) || vlen / 4 * 3 > cap)
        return -1;
    memcpy(tmp, v, vlen);
    int n = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)vlen);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    n -= (v[vlen - 1] == '=') + (v[vlen - 2] == '=');
    return n;
}

static bool hmac(const uint8_t *key, size_t klen, const void *d, size_t dlen, uint8_t out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, d, dlen, out, &n) != NULL && n == 32;
}

/* What the server sent: its nonce (ours extended), salt and iteration count. */
static int server_first_parse(const struct pg_scram *s, const uint8_t *msg, size_t len,
                              const uint8_t **r, size_t *rlen, uint8_t *salt, int *slen,
                              uint32_t *iter)
{
    const uint8_t *sv, *iv;
    size_t svlen, ivlen;
    char num[12];

    if (len > SCRAM_MSG_MAX || !scram_attr(msg, len, 'r', r, rlen) ||
        !scram_attr(msg, len, 's', &sv, &svlen) || !scram_attr(msg, len, 'i', &iv, &ivlen))
        return -PG_E_SCRAM;
    if (*rlen <= PG_NONCE_LEN || memcmp(*r, s->nonce, PG_NONCE_LEN) != 0)
        return -PG_E_SCRAM; /* RFC 5802 5.1: the server's nonce starts with ours */
    if ((*slen = b64_decode(sv, svlen, salt, SCRAM_SALT_MAX)) <= 0)
        return -PG_E_SCRAM;
    if (ivlen == 0 || ivlen >= sizeof(num))
        return -PG_E_SCRAM;
    memcpy(num, iv, ivlen);
    num[ivlen] = '\0';
    char *end;
    unsigned long it = strtoul(num, &end, 10);
    if (*end != '\0' || num[0] < '1' || num[0] > '9' || it > PG_SCRAM_ITER_MAX)
        return -PG_E_SCRAM;
    *iter = (uint32_t)it;
    return 0;
}

/* ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage); ServerSignature kept. */
static bool scram_keys(struct pg_scram *s, const char *pw, const uint8_t *salt, int slen,
                       uint32_t iter, const char *auth_msg, size_t amlen, uint8_t proof[32])
{
    uint8_t salted[32], ck[32], sk[32], stored[32], sig[32];
    unsigned int n = 0;
    bool ok = PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, slen, (int)iter, EVP_sha256(), 32,
                                salted) == 1 &&
              hmac(salted, 32, "Client Key", 10, ck) && hmac(salted, 32, "Server Key", 10, sk) &&
              EVP_Digest(ck, 32, stored, &n, EVP_sha256(), NULL) == 1 &&
              hmac(stored, 32, auth_msg, amlen, sig) &&
              hmac(sk, 32, auth_msg, amlen, s->server_sig);
    for (int i = 0; i < 32; i++)
        proof[i] = ck[i] ^ sig[i];
    s->have_sig = ok;
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ck, sizeof(ck));
    OPENSSL_cleanse(sk, sizeof(sk));
    return ok;
}

int pg_scram_final(struct pg_scram *s, const char *pw, const uint8_t *msg, size_t len,
                   uint8_t *out, size_t cap, size_t *olen)
{
    const uint8_t *r;
    size_t rlen;
    uint8_t salt[SCRAM_SALT_MAX], proof[32];
    int slen, rc;
    uint32_t iter;
    char final[SCRAM_MSG_MAX], auth_msg[3 * SCRAM_MSG_MAX];

    if ((rc = server_first_parse(s, msg, len, &r, &rlen, salt, &slen, &iter)) != 0)
        return rc;
    int fl = snprintf(final, sizeof(final), "c=biws,r=%.*s", (int)rlen, (const char *)r);
    int al = snprintf(auth_msg, sizeof(auth_msg), "%s,%.*s,%s", s->first_bare, (int)len,
                      (const char *)msg, final);
    if (fl < 0 || (size_t)fl >= sizeof(final) - 50 || al < 0 || (size_t)al >= sizeof(auth_msg))
        return -PG_E_SIZE;
    if (!scram_keys(s, pw, salt, slen, iter, auth_msg, (size_t)al, proof))
        return -PG_E_SCRAM;
    memcpy(final + fl, ",p=", 3);
    fl += 3 + EVP_EncodeBlock((unsigned char *)final + fl + 3, proof, 32);
    OPENSSL_cleanse(proof, sizeof(proof));
    if (5 + (size_t)fl > cap)
        return -PG_E_SIZE;
    out[0] = 'p';
    put_be32(out + 1, (uint32_t)(4 + fl));
    memcpy(out + 5, final, (size_t)fl);
    *olen = 5 + (size_t)fl;
    return 0;
}

int pg_scram_verify(const struct pg_scram *s, const uint8_t *msg, size_t len)
{
    const uint8_t *v;
    size_t vlen;
    uint8_t sig[48];

    if (!s->have_sig || !scram_attr(msg, len, 'v', &v, &vlen))
        return -PG_E_SCRAM;
    if (b64_decode(v, vlen, sig, sizeof(sig)) != 32)
        return -PG_E_SCRAM;
    return CRYPTO_memcmp(sig, s->server_sig, 32) == 0 ? 0 : -PG_E_SCRAM;
}
