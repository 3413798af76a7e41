/*
 * auth: the shared secret of the channel's challenge-response (doc/protocol.md,
 * section "AUTH"). Loads the secret from a file (--secret-file on both
 * programs), computes and checks the 32-byte proofs with HMAC-SHA256 from
 * libcrypto. No sockets, no globals: chanc.c and icpt.c call it with the two
 * nonces of a connection.
 *
 *   proof = HMAC-SHA256(secret, "tcpcopy-auth v1" || role || own nonce || peer nonce)
 *
 * role is the sender's CHAN_ROLE_* byte: a proof made by one side can never be
 * replayed as the other side's (reflection), and fresh nonces on every
 * connection keep a recorded exchange from being replayed later.
 */
#ifndef TC_AUTH_H
#define TC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MAC_LEN 32      /* = CHAN_MAC_LEN */
#define AUTH_NONCE_LEN 16    /* = CHAN_NONCE_LEN */
#define AUTH_SECRET_MAX 1024 /* a secret is a line, not a file of data */
#define AUTH_LABEL "tcpcopy-auth v1"

/* A loaded secret. Owned by the caller (on the stack or in its struct); wipe
 * it with auth_secret_clear() when done. len 0: no secret configured. */
struct auth_secret {
    uint8_t key[AUTH_SECRET_MAX];
    size_t len;
};

/*
 * Read the secret from path: the whole file, minus one trailing "\n" (or
 * "\r\n"). Refused, with a one-line message naming the file in err: a file that
 * cannot be read, is not a regular file, is accessible by group or others
 * (it must be chmod 600 or stricter, like an ssh key), is empty once the newline
 * is stripped, or is longer than AUTH_SECRET_MAX. 0 or -errno.
 */
int auth_load_secret(struct auth_secret *s, const char *path, char *err, size_t errlen);
/* Overwrite the key bytes and set len to 0. NULL-safe. */
void auth_secret_clear(struct auth_secret *s);

/* HMAC-SHA256 of msg under key, into out (32 bytes). 0, or -EIO if libcrypto failed. */
int auth_hmac_sha256(uint8_t out[AUTH_MAC_LEN], const uint8_t *key, size_t klen, const uint8_t *msg,
                     size_t mlen);

/*
 * The proof that the side with role `role` and nonce `own` sends to the peer
 * whose nonce is `peer`. 0 or -EIO.
 */
int auth_mac(uint8_t out[AUTH_MAC_LEN], const struct auth_secret *s, uint8_t role,
             const uint8_t own[AUTH_NONCE_LEN], const uint8_t peer[AUTH_NONCE_LEN]);

/*
 * Check a proof received from the peer: `mac` must be what a side holding our
 * secret, with role `peer_role` and nonce `peer_nonce`, sends to us (nonce
 * `our_nonce`). Compared in constant time. True if it matches.
 */
bool auth_verify(const uint8_t mac[AUTH_MAC_LEN], const struct auth_secret *s, uint8_t peer_role,
                 const uint8_t peer_nonce[AUTH_NONCE_LEN], const uint8_t our_nonce[AUTH_NONCE_LEN]);

#endif
