/*
 * auth: the channel's shared secret and its HMAC-SHA256 proofs (see auth.h).
 * libcrypto does the hashing (one-shot HMAC(), which OpenSSL 3 keeps
 * undeprecated) and the constant-time comparison (CRYPTO_memcmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "log.h"

void auth_secret_clear(struct auth_secret *s)
{
    if (s == NULL)
        return;
    /* OPENSSL_cleanse: a plain memset of memory about to die may be optimised away. */
    OPENSSL_cleanse(s->key, sizeof(s->key));
    s->len = 0;
}

int auth_load_secret(struct auth_secret *s, const char *path, char *err, size_t errlen)
{
    uint8_t tmp[AUTH_SECRET_MAX + 3]; /* one byte more than a secret and "\r\n" */
    struct stat st;
    size_t n = 0;
    int rc = 0;

    s->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        errbuf_set(err, errlen, "--secret-file %s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        errbuf_set(err, errlen, "--secret-file %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        errbuf_set(err, errlen, "--secret-file %s: not a regular file", path);
        goto cleanup;
    }
    /* Anyone who can read the secret can subscribe to the target's traffic, and
     * anyone who can write it can lock tcpcopy out: owner only, as ssh does. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = -EPERM;
        errbuf_set(err, errlen,
                 "--secret-file %s: accessible by group or others (mode %04o); "
                 "run chmod 600 on it",
                 path, (unsigned)(st.st_mode & 07777));
        goto cleanup;
    }
    for (;;) {
        ssize_t r = read(fd, tmp + n, sizeof(tmp) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            errbuf_set(err, errlen, "--secret-file %s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof(tmp))
            break;
    }
    /* echo secret > file, or an editor, leaves one newline: not part of the secret. */
    if (n > 0 && tmp[n - 1] == '\n') {
        n--;
        if (n > 0 && tmp[n - 1] == '\r')
            n--;
    }
    if (n == 0) {
        rc = -EINVAL;
        errbuf_set(err, errlen, "--secret-file %s: the secret is empty", path);
        goto cleanup;
    }
    if (n > AUTH_SECRET_MAX) {
        rc = -EFBIG;
        errbuf_set(err, errlen, "--secret-file %s: longer than %d bytes", path, AUTH_SECRET_MAX);
        goto cleanup;
    }
    memcpy(s->key, tmp, n);
    s->len = n;

cleanup:
    OPENSSL_cleanse(tmp, sizeof(tmp));
    close(fd);
    return rc;
}

int auth_hmac_sha256(uint8_t out[AUTH_MAC_LEN], const uint8_t *key, size_t klen, const uint8_t *msg,
                     size_t mlen)
{
    unsigned int olen = 0;
    if (klen > (size_t)INT32_MAX)
        return -EINVAL;
    /* HMAC() with a NULL key means "no key" to OpenSSL; a zero-length key is
     * legal HMAC: pass a valid pointer. */
    static const uint8_t none[1];
    if (HMAC(EVP_sha256(), klen > 0 ? key : none, (int)klen, msg, mlen, out, &olen) == NULL ||
        olen != AUTH_MAC_LEN)
        return -EIO;
    return 0;
}

int auth_mac(uint8_t out[AUTH_MAC_LEN], const struct auth_secret *s, uint8_t role,
             const uint8_t own[AUTH_NONCE_LEN], const uint8_t peer[AUTH_NONCE_LEN])
{
    uint8_t msg[sizeof(AUTH_LABEL) - 1 + 1 + 2 * AUTH_NONCE_LEN];
    size_t off = sizeof(AUTH_LABEL) - 1;
    memcpy(msg, AUTH_LABEL, off);
    msg[off++] = role;
    memcpy(msg + off, own, AUTH_NONCE_LEN);
    off += AUTH_NONCE_LEN;
    memcpy(msg + off, peer, AUTH_NONCE_LEN);
    off += AUTH_NONCE_LEN;
    return auth_hmac_sha256(out, s->key, s->len, msg, off);
}

bool auth_verify(const uint8_t mac[AUTH_MAC_LEN], const struct auth_secret *s, uint8_t peer_role,
                 const uint8_t peer_nonce[AUTH_NONCE_LEN], const uint8_t our_nonce[AUTH_NONCE_LEN])
{
    uint8_t want[AUTH_MAC_LEN];
    if (s->len == 0 || auth_mac(want, s, peer_role, peer_nonce, our_nonce) != 0)
        return false;
    bool ok = CRYPTO_memcmp(want, mac, AUTH_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}
