/*
 * db_pgsql: the PostgreSQL frontend/backend protocol (version 3.0) as far as
 * replaying a session on another server needs it: message framing, the
 * StartupMessage and the requests that may precede it (SSLRequest,
 * GSSENCRequest, CancelRequest), the server's authentication requests, the
 * md5 answer, and a SCRAM-SHA-256 client (RFC 5802, RFC 7677; no channel
 * binding: "n,,").
 *
 * Pure code: parsers take (const uint8_t *, size_t), touch no globals and
 * return 0 or a reason negated (-PG_E_*); builders write whole messages
 * (type byte and length included) into the caller's buffer. Reference: the
 * PostgreSQL documentation, "Frontend/Backend Protocol", sections "Message
 * Formats" and "SASL Authentication".
 */
#ifndef TC_DB_PGSQL_H
#define TC_DB_PGSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_STARTUP_MAX 10000 /* the server's own bound (MAX_STARTUP_PACKET_LENGTH) */
#define PG_MSG_MAX (1U << 30)
#define PG_PROTO_3 196608U
#define PG_CANCEL_REQUEST 80877102U
#define PG_SSL_REQUEST 80877103U
#define PG_GSSENC_REQUEST 80877104U
#define PG_SCRAM_ITER_MAX 1000000U /* more PBKDF2 rounds than this is refused */
#define PG_NONCE_LEN 24

/* Why a message was not understood (decoders return these negated). */
enum pg_err {
    PG_E_SHORT = 1, /* a field runs past the message's end */
    PG_E_PROTO,     /* a length or code that cannot be */
    PG_E_SIZE,      /* longer than it is bounded to, or than the output buffer */
    PG_E_SSL,       /* the session switched to TLS: not replayable */
    PG_E_AUTH,      /* an authentication method we cannot answer */
    PG_E_SCRAM,     /* a SCRAM message that is malformed, with another nonce, or a wrong signature */
    PG_E_COUNT
};

/* AuthenticationXXX codes of an 'R' message. */
enum {
    PG_AUTH_OK = 0,
    PG_AUTH_CLEARTEXT = 3,
    PG_AUTH_MD5 = 5,
    PG_AUTH_SASL = 10,
    PG_AUTH_SASL_CONTINUE = 11,
    PG_AUTH_SASL_FINAL = 12,
};

/* A StartupMessage (or one of the requests with the same framing). */
struct pg_startup {
    uint32_t code; /* PG_PROTO_3, PG_SSL_REQUEST, PG_GSSENC_REQUEST, PG_CANCEL_REQUEST */
    size_t user_off, user_len; /* user_len 0: none (the server then refuses it) */
    size_t db_off, db_len;     /* db_len 0: none (the database is the user's name) */
};

/* An 'R' message: its code and what follows it. */
struct pg_auth {
    uint32_t code;
    const uint8_t *data;
    size_t data_len;
};

/* One SCRAM-SHA-256 exchange, client side. */
struct pg_scram {
    char nonce[PG_NONCE_LEN + 1];
    char first_bare[PG_NONCE_LEN + 8]; /* "n=,r=" + nonce */
    uint8_t server_sig[32];
    bool have_sig;
};

/*
 * Frame one message at buf: the startup phase's (length first, no type) when
 * startup, else type byte and length. *total gets the whole message's length
 * when it is all there, 0 when more bytes are needed. 0, or -PG_E_PROTO for a
 * length below 4, -PG_E_SIZE above the bound.
 */
int pg_frame(const uint8_t *buf, size_t len, bool startup, size_t *total);

/* The startup-phase message p[len] (whole, length included). 0 or -PG_E_*. */
int pg_startup_parse(const uint8_t *p, size_t len, struct pg_startup *s);

/*
 * A StartupMessage for user and database (NULL: none) with protocol 3.0, for
 * a session resumed without a cached one. 0 or -PG_E_SIZE.
 */
int pg_startup_build(const char *user, const char *db, uint8_t *out, size_t cap, size_t *olen);

/* An 'R' message p[len] (whole): 0, or -PG_E_PROTO when it is another type. */
int pg_auth_parse(const uint8_t *p, size_t len, struct pg_auth *a);

/* Whether an AuthenticationSASL's mechanism list offers name. */
bool pg_sasl_offers(const struct pg_auth *a, const char *name);

/*
 * The PasswordMessage answering AuthenticationMD5Password:
 * "md5" + md5(hex(md5(password + user)) + salt), hex digits. 0 or -PG_E_SIZE.
 */
int pg_md5_message(const char *user, const char *pw, const uint8_t salt[4], uint8_t *out,
                   size_t cap, size_t *olen);

/* A PasswordMessage carrying the password as is (AuthenticationCleartextPassword). */
int pg_clear_message(const char *pw, uint8_t *out, size_t cap, size_t *olen);

/* A fresh client nonce (PG_NONCE_LEN printable characters): 0 or -EIO. */
int pg_scram_nonce(char nonce[PG_NONCE_LEN + 1]);

/*
 * Start an exchange with nonce (PG_NONCE_LEN characters of base64): the
 * SASLInitialResponse "SCRAM-SHA-256" with client-first "n,,n=,r=NONCE" (the
 * server takes the user from the startup message). 0 or -PG_E_SIZE.
 */
int pg_scram_first(struct pg_scram *s, const char *nonce, uint8_t *out, size_t cap, size_t *olen);

/*
 * The SASLResponse client-final for the server-first msg[len] (the data of
 * AuthenticationSASLContinue) and a password: checks the server's nonce
 * extends ours, derives the keys (PBKDF2-HMAC-SHA-256) and keeps the server
 * signature to verify. 0, -PG_E_SCRAM, or -PG_E_SIZE.
 */
int pg_scram_final(struct pg_scram *s, const char *pw, const uint8_t *msg, size_t len,
                   uint8_t *out, size_t cap, size_t *olen);

/* Check the server-final msg[len] ("v=" signature): 0 or -PG_E_SCRAM. */
int pg_scram_verify(const struct pg_scram *s, const uint8_t *msg, size_t len);

#endif
