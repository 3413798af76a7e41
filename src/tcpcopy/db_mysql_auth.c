/*
 * db_mysql_auth: the answers MySQL/MariaDB authentication methods expect for a
 * scramble and a password (see db_mysql.h). libcrypto's one-shot EVP_Digest
 * does the hashing; intermediate secrets are wiped before returning.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "db_mysql.h"

enum mysql_plugin mysql_plugin_of(const char *name)
{
    if (strcmp(name, "mysql_native_password") == 0)
        return MYSQL_PLUGIN_NATIVE;
    if (strcmp(name, "caching_sha2_password") == 0)
        return MYSQL_PLUGIN_CACHING_SHA2;
    if (strcmp(name, "mysql_clear_password") == 0)
        return MYSQL_PLUGIN_CLEAR;
    return MYSQL_PLUGIN_UNKNOWN;
}

static void digest(const EVP_MD *md, const void *a, size_t alen, uint8_t *out)
{
    unsigned int n = 0;
    (void)EVP_Digest(a, alen, out, &n, md, NULL);
}

/*
 * Both scrambles: X = H(pw), Y = H(H(X) ...) combined with the scramble,
 * answer = X XOR Y. native hashes the scramble first (SHA1(scramble + SHA1(X))),
 * caching_sha2 last (SHA256(SHA256(X) + scramble)).
 */
static void scramble_xor(const EVP_MD *md, size_t hlen, bool salt_first, const char *pw,
                         const uint8_t *scramble, size_t slen, uint8_t *out)
{
    uint8_t x[32], y[32], buf[32 + MYSQL_SCRAMBLE_LEN];

    digest(md, pw, strlen(pw), x);
    digest(md, x, hlen, y);
    if (salt_first) {
        memcpy(buf, scramble, slen);
        memcpy(buf + slen, y, hlen);
    } else {
        memcpy(buf, y, hlen);
        memcpy(buf + hlen, scramble, slen);
    }
    digest(md, buf, hlen + slen, y);
    for (size_t i = 0; i < hlen; i++)
        out[i] = x[i] ^ y[i];
    OPENSSL_cleanse(x, sizeof(x));
    OPENSSL_cleanse(y, sizeof(y));
    OPENSSL_cleanse(buf, sizeof(buf));
}

int mysql_auth_answer(enum mysql_plugin m, const char *pw, const uint8_t *scramble, size_t slen,
                      uint8_t *out, size_t *olen)
{
    if (slen > MYSQL_SCRAMBLE_LEN)
        slen = MYSQL_SCRAMBLE_LEN;
    switch (m) {
    case MYSQL_PLUGIN_NATIVE:
    case MYSQL_PLUGIN_CACHING_SHA2:
        *olen = 0;
        if (pw[0] == '\0')
            return 0; /* an empty password is answered with nothing */
        if (m == MYSQL_PLUGIN_NATIVE) {
            scramble_xor(EVP_sha1(), 20, true, pw, scramble, slen, out);
            *olen = 20;
        } else {
            scramble_xor(EVP_sha256(), 32, false, pw, scramble, slen, out);
            *olen = 32;
        }
        return 0;
    case MYSQL_PLUGIN_CLEAR: {
        size_t n = strlen(pw) + 1;
        if (n > MYSQL_AUTH_MAX)
            return -MYSQL_E_SIZE;
        memcpy(out, pw, n);
        *olen = n;
        return 0;
    }
    case MYSQL_PLUGIN_UNKNOWN:
        break;
    }
    return -MYSQL_E_PLUGIN;
}

int mysql_sha2_rsa(const char *pw, const uint8_t *scramble, size_t slen, const uint8_t *pem,
                   size_t pemlen, uint8_t *out, size_t cap, size_t *olen)
{
    uint8_t plain[MYSQL_AUTH_MAX + 1];
    size_t n = strlen(pw) + 1, need = 0;
    int rc = -MYSQL_E_PLUGIN;

    if (n > sizeof(plain) || slen == 0 || pemlen > 16384)
        return -MYSQL_E_SIZE;
    for (size_t i = 0; i < n; i++)
        plain[i] = (uint8_t)pw[i] ^ scramble[i % slen];
    BIO *b = BIO_new_mem_buf(pem, (int)pemlen);
    EVP_PKEY *k = b != NULL ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    EVP_PKEY_CTX *c = k != NULL ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    if (c != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA && EVP_PKEY_encrypt_init(c) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_encrypt(c, NULL, &need, plain, n) == 1) {
        rc = -MYSQL_E_SIZE;
        if (need <= cap && EVP_PKEY_encrypt(c, out, &need, plain, n) == 1) {
            *olen = need;
            rc = 0;
        }
    }
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(k);
    BIO_free(b);
    OPENSSL_cleanse(plain, sizeof(plain));
    return rc;
}
