/*
 * tls: the channel's TLS 1.3 layer (see tls.h). Owns the SSL_CTX and SSL objects;
 * never the sockets. Errors are worded here, from OpenSSL's error queue and the
 * verification result, so both programs say the same thing for the same fault.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls.h"

#define TLS_PSK_SALT "tcpcopy-tls v1"
#define TLS_PSK_INFO "channel psk"
/* TLS_AES_128_GCM_SHA256 (RFC 8446 B.4): the PSK's cipher; its hash is the PSK's. */
static const unsigned char tls_psk_cipher_id[2] = {0x13, 0x01};

struct tls_ctx {
    SSL_CTX *ctx;
    bool psk; /* PSK mode (else certificates) */
    unsigned char key[TLS_PSK_LEN];
};

struct tls {
    SSL *ssl;
};

bool tls_conf_usable(const struct tls_conf *c)
{
    if (c == NULL)
        return false;
    return (c->cert != NULL && c->key != NULL && c->ca != NULL) ||
           (c->secret != NULL && c->secret->len > 0);
}

const char *tls_ctx_mode(const struct tls_ctx *x)
{
    return x->psk ? "PSK" : "certificates";
}

/* The oldest queued OpenSSL error, worded, and the queue cleared. */
static const char *ossl_err(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "no detail from OpenSSL");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

static int psk_derive(unsigned char *out, const struct auth_secret *s)
{
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t olen = TLS_PSK_LEN;
    int ok = pc != NULL && EVP_PKEY_derive_init(pc) > 0 &&
             EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_salt(pc, (const unsigned char *)TLS_PSK_SALT,
                                         (int)strlen(TLS_PSK_SALT)) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_key(pc, s->key, (int)s->len) > 0 &&
             EVP_PKEY_CTX_add1_hkdf_info(pc, (const unsigned char *)TLS_PSK_INFO,
                                         (int)strlen(TLS_PSK_INFO)) > 0 &&
             EVP_PKEY_derive(pc, out, &olen) > 0 && olen == TLS_PSK_LEN;
    EVP_PKEY_CTX_free(pc);
    return ok ? 0 : -EIO;
}

/* The external PSK as the session OpenSSL resumes (RFC 8446 4.2.11). */
static SSL_SESSION *psk_session(SSL *ssl)
{
    struct tls_ctx *x = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const SSL_CIPHER *c = SSL_CIPHER_find(ssl, tls_psk_cipher_id);
    SSL_SESSION *s = c != NULL ? SSL_SESSION_new() : NULL;
    if (s == NULL)
        return NULL;
    if (!SSL_SESSION_set1_master_key(s, x->key, sizeof(x->key)) || !SSL_SESSION_set_cipher(s, c) ||
        !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

static int psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                      SSL_SESSION **sess)
{
    *sess = NULL;
    SSL_SESSION *s = psk_session(ssl);
    if (s == NULL)
        return 0;
    /* A second ClientHello (after a HelloRetryRequest) names the hash in use. */
    if (md != NULL && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
        SSL_SESSION_free(s);
        return 1;
    }
    *id = (const unsigned char *)TLS_PSK_IDENTITY;
    *idlen = strlen(TLS_PSK_IDENTITY);
    *sess = s;
    return 1;
}

static int psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
    *sess = NULL;
    /* An unknown identity is no PSK (the handshake then fails), not an error here. */
    if (idlen != strlen(TLS_PSK_IDENTITY) || memcmp(id, TLS_PSK_IDENTITY, idlen) != 0)
        return 1;
    *sess = psk_session(ssl);
    return *sess != NULL;
}

static int ctx_certs(struct tls_ctx *x, const struct tls_conf *c, bool server, char *err,
                     size_t errlen)
{
    char e[256];
    if (SSL_CTX_use_certificate_chain_file(x->ctx, c->cert) != 1) {
        errbuf_set(err, errlen, "--tls-cert %s: %s", c->cert, ossl_err(e, sizeof(e)));
        return -EINVAL;
    }
    if (SSL_CTX_use_PrivateKey_file(x->ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(x->ctx) != 1) {
        errbuf_set(err, errlen, "--tls-key %s: %s", c->key, ossl_err(e, sizeof(e)));
        return -EINVAL;
    }
    if (SSL_CTX_load_verify_locations(x->ctx, c->ca, NULL) != 1) {
        errbuf_set(err, errlen, "--tls-ca %s: %s", c->ca, ossl_err(e, sizeof(e)));
        return -EINVAL;
    }
    /* Peer verification is mandatory both ways: a channel keyed by certificates
     * admits only holders of a certificate from this CA. */
    SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       NULL);
    return 0;
}

struct tls_ctx *tls_ctx_new(const struct tls_conf *c, bool server, char *err, size_t errlen)
{
    char e[256];
    if (!tls_conf_usable(c)) {
        errbuf_set(err, errlen, "TLS needs --secret-file or --tls-cert, --tls-key and --tls-ca");
        return NULL;
    }
    struct tls_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    x->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (x->ctx == NULL || SSL_CTX_set_min_proto_version(x->ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_ciphersuites(x->ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                         "TLS_CHACHA20_POLY1305_SHA256") != 1) {
        errbuf_set(err, errlen, "TLS setup: %s", ossl_err(e, sizeof(e)));
        goto fail;
    }
    SSL_CTX_set_app_data(x->ctx, x);
    /* Partial writes: SSL_write returns after each record, so a full socket keeps
     * what is written; the buffer may move (grow, compact) between retries. */
    SSL_CTX_set_mode(x->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One long connection: no tickets to resume it with, no traffic after the handshake. */
    SSL_CTX_set_options(x->ctx, SSL_OP_NO_TICKET);
    /* A close without close_notify is an EOF like any other: frames carry their
     * own lengths, a cut one is never taken for whole. */
    SSL_CTX_set_options(x->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (server)
        SSL_CTX_set_num_tickets(x->ctx, 0);
    if (c->cert != NULL && c->key != NULL && c->ca != NULL) {
        if (ctx_certs(x, c, server, err, errlen) < 0)
            goto fail;
    } else {
        x->psk = true;
        if (psk_derive(x->key, c->secret) < 0) {
            errbuf_set(err, errlen, "TLS PSK from --secret-file: %s", ossl_err(e, sizeof(e)));
            goto fail;
        }
        if (server)
            SSL_CTX_set_psk_find_session_callback(x->ctx, psk_find_cb);
        else
            SSL_CTX_set_psk_use_session_callback(x->ctx, psk_use_cb);
    }
    return x;
fail:
    tls_ctx_free(x);
    return NULL;
}

void tls_ctx_free(struct tls_ctx *x)
{
    if (x == NULL)
        return;
    SSL_CTX_free(x->ctx);
    OPENSSL_cleanse(x->key, sizeof(x->key));
    free(x);
}

struct tls *tls_new(struct tls_ctx *x, int fd, char *err, size_t errlen)
{
    char e[256];
    struct tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    t->ssl = SSL_new(x->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        errbuf_set(err, errlen, "TLS: %s", ossl_err(e, sizeof(e)));
        tls_free(t);
        return NULL;
    }
    if (SSL_is_server(t->ssl))
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    return t;
}

void tls_free(struct tls *t)
{
    if (t == NULL)
        return;
    if (t->ssl != NULL) {
        /* Only a connection whose handshake finished has anything to close. */
        if (SSL_is_init_finished(t->ssl))
            (void)SSL_shutdown(t->ssl);
        SSL_free(t->ssl);
    }
    ERR_clear_error();
    free(t);
}

/* The reason a TLS call failed, and its -errno. */
static int tls_fail(struct tls *t, int ret, char *err, size_t errlen)
{
    char e[256];
    int code = SSL_get_error(t->ssl, ret);
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK) {
        errbuf_set(err, errlen, "peer's certificate: %s", X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return -EPROTO;
    }
    if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        int en = errno != 0 ? errno : ECONNRESET;
        errbuf_set(err, errlen, "%s", ret == 0 ? "connection closed during TLS" : strerror(en));
        return ret == 0 ? -ECONNRESET : -en;
    }
    errbuf_set(err, errlen, "%s", ossl_err(e, sizeof(e)));
    return -EPROTO;
}

int tls_handshake(struct tls *t, bool *want_write, char *err, size_t errlen)
{
    *want_write = false;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return 1;
    int code = SSL_get_error(t->ssl, r);
    if (code == SSL_ERROR_WANT_READ)
        return 0;
    if (code == SSL_ERROR_WANT_WRITE) {
        *want_write = true;
        return 0;
    }
    char why[256];
    int rc = tls_fail(t, r, why, sizeof(why));
    errbuf_set(err, errlen, "TLS handshake failed: %s", why);
    return rc;
}

ssize_t tls_read_buf(struct tls *t, struct buf *b)
{
    size_t total = 0;
    /* Read until OpenSSL has nothing decrypted left: bytes it holds do not make the
     * socket readable again, the loop would never come back for them. */
    for (;;) {
        size_t room = buf_room(b);
        if (room == 0)
            return total > 0 ? (ssize_t)total : -ENOBUFS;
        size_t want = room < 16384 ? room : 16384;
        uint8_t *p = buf_reserve(b, want);
        if (p == NULL)
            return total > 0 ? (ssize_t)total : -ENOMEM;
        size_t got = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read_ex(t->ssl, p, want, &got);
        if (r == 1) {
            buf_commit(b, got);
            total += got;
            if (SSL_pending(t->ssl) == 0 && got < want)
                return (ssize_t)total;
            continue;
        }
        int code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
            return total > 0 ? (ssize_t)total : -EAGAIN;
        if (total > 0)
            return (ssize_t)total; /* the error comes back on the next call */
        if (code == SSL_ERROR_ZERO_RETURN)
            return 0;
        char why[256];
        int rc = tls_fail(t, 0, why, sizeof(why));
        return rc == -ECONNRESET ? 0 : rc;
    }
}

ssize_t tls_write_buf(struct tls *t, struct buf *b)
{
    size_t total = 0;
    while (buf_len(b) > 0) {
        size_t done = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_write_ex(t->ssl, buf_head(b), buf_len(b), &done);
        if (r == 1) {
            buf_consume(b, done);
            total += done;
            continue;
        }
        int code = SSL_get_error(t->ssl, r);
        if (code == SSL_ERROR_WANT_WRITE || code == SSL_ERROR_WANT_READ)
            break;
        char why[256];
        return tls_fail(t, r, why, sizeof(why));
    }
    return (ssize_t)total;
}

ssize_t tls_io_read(struct tls *t, struct buf *b, int fd)
{
    return t == NULL ? buf_read_fd(b, fd) : tls_read_buf(t, b);
}

ssize_t tls_io_flush(struct tls *t, struct chan_out *o, int fd)
{
    if (t == NULL)
        return chan_out_flush(o, fd);
    chan_out_seal(o);
    return tls_write_buf(t, &o->buf);
}
