/*
 * tls: TLS 1.3 on the channel (doc/protocol.md, section 14), with OpenSSL's libssl.
 *
 * Two ways to key it, the same on both programs:
 *   - the --secret-file secret as an external PSK: key = HKDF-SHA256(secret,
 *     salt "tcpcopy-tls v1", info "channel psk"), identity TLS_PSK_IDENTITY, cipher
 *     TLS_AES_128_GCM_SHA256, with an (EC)DHE exchange (psk_dhe_ke: forward secrecy);
 *   - certificates (--tls-cert, --tls-key, --tls-ca): each side verifies the other's
 *     chain against the CA, mandatorily (no certificate: no connection).
 * The connection object is driven by the caller's non-blocking event loop: every call
 * returns at once and says which readiness it waits for. Output is written one
 * SSL_write per flush of a whole buffer (records of up to 16 KB), with partial writes
 * allowed and the buffer free to move between retries.
 */
#ifndef TC_TLS_H
#define TC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "auth.h"
#include "buf.h"
#include "chan.h"

#define TLS_PSK_IDENTITY "tcpcopy-channel-psk v1"
#define TLS_PSK_LEN 32
#define TLS_RECORD_TYPE_HANDSHAKE 0x16 /* first byte of a ClientHello: the peek rule */

/* How to key TLS. cert, key and ca together select certificate mode; otherwise the
 * secret (len > 0) is the PSK. Strings and the secret are used by tls_ctx_new only. */
struct tls_conf {
    const struct auth_secret *secret;
    const char *cert, *key, *ca;
};

/* True if the configuration can key TLS (a secret, or all three certificate files). */
bool tls_conf_usable(const struct tls_conf *c);

struct tls_ctx;
struct tls;

/* A context for the client (tcpcopy) or the server (intercept) side. NULL with a
 * message naming the file or the problem in err. */
struct tls_ctx *tls_ctx_new(const struct tls_conf *c, bool server, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *x); /* NULL-safe */
/* "PSK" or "certificates", for messages. */
const char *tls_ctx_mode(const struct tls_ctx *x);

/* A TLS connection over the connected non-blocking socket fd (not owned: the caller
 * closes it after tls_free). NULL with a message in err. */
struct tls *tls_new(struct tls_ctx *x, int fd, char *err, size_t errlen);
/* Send a close_notify (best effort, non-blocking) and free. NULL-safe. */
void tls_free(struct tls *t);

/*
 * One step of the handshake. 1: done; 0: call again when the socket is readable, or
 * writable too if *want_write; -EPROTO (or -errno of the socket) with the reason in
 * err ("handshake failed: ...", "peer's certificate: ...").
 */
int tls_handshake(struct tls *t, bool *want_write, char *err, size_t errlen);

/* As buf_read_fd: decrypted bytes appended to b (as many as are ready and fit), 0 on
 * EOF (close_notify or a close), -EAGAIN, -ENOBUFS (b full), -EPROTO (a TLS error). */
ssize_t tls_read_buf(struct tls *t, struct buf *b);
/* As buf_write_fd: bytes of b written and consumed (0: the socket is full), or -errno
 * (-EPROTO for a TLS error). */
ssize_t tls_write_buf(struct tls *t, struct buf *b);

/* The channel's I/O through TLS when t is set, plain otherwise (then nothing changes:
 * buf_read_fd, chan_out_flush). */
ssize_t tls_io_read(struct tls *t, struct buf *b, int fd);
ssize_t tls_io_flush(struct tls *t, struct chan_out *o, int fd);

#endif
