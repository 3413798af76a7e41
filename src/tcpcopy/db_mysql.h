/*
 * db_mysql: the MySQL/MariaDB client/server protocol as far as replaying a
 * session on another server needs it: packet framing, the server greeting
 * (Handshake v10), the client's login (HandshakeResponse41) and its rebuild
 * with an answer recomputed for the target's scramble, the auth-switch request,
 * COM_CHANGE_USER, the answers of mysql_native_password and
 * caching_sha2_password (fast path), and the prepared-statement ids that differ
 * between production and target.
 *
 * Pure code: parsers take (const uint8_t *, size_t), touch no globals and
 * return 0 or a reason negated (-MYSQL_E_*); builders write into the caller's
 * buffer. Reference: the MySQL "Connection Phase" and "Prepared Statements"
 * pages of the client/server protocol documentation, MariaDB's
 * "Connection" page (its extended capabilities in the filler).
 */
#ifndef TC_DB_MYSQL_H
#define TC_DB_MYSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MYSQL_HDR_LEN 4
#define MYSQL_SCRAMBLE_LEN 20
#define MYSQL_AUTH_MAX 64    /* the longest answer we compute (SHA-256: 32) */
#define MYSQL_NAME_MAX 64    /* plugin names, user names we keep */
#define MYSQL_LOGIN_MAX 8192 /* a login or COM_CHANGE_USER longer than this is not rewritten */
#define MYSQL_PAYLOAD_MAX 0xffffffU

/* Capability flags (protocol documentation, "Capabilities Flags"). */
enum {
    MYSQL_CLIENT_CONNECT_WITH_DB = 1U << 3,
    MYSQL_CLIENT_PROTOCOL_41 = 1U << 9,
    MYSQL_CLIENT_SSL = 1U << 11,
    MYSQL_CLIENT_SECURE_CONNECTION = 1U << 15,
    MYSQL_CLIENT_PLUGIN_AUTH = 1U << 19,
    MYSQL_CLIENT_CONNECT_ATTRS = 1U << 20,
    MYSQL_CLIENT_PLUGIN_AUTH_LENENC = 1U << 21,
};

/* Commands (first payload byte of a client packet after the login). */
enum {
    MYSQL_COM_QUIT = 0x01,
    MYSQL_COM_QUERY = 0x03,
    MYSQL_COM_CHANGE_USER = 0x11,
    MYSQL_COM_STMT_PREPARE = 0x16,
    MYSQL_COM_STMT_EXECUTE = 0x17,
    MYSQL_COM_STMT_SEND_LONG_DATA = 0x18,
    MYSQL_COM_STMT_CLOSE = 0x19,
    MYSQL_COM_STMT_RESET = 0x1a,
    MYSQL_COM_STMT_FETCH = 0x1c,
    MYSQL_COM_STMT_BULK_EXECUTE = 0xfa, /* MariaDB */
};

/* Why a packet was not understood (decoders return these negated). */
enum mysql_err {
    MYSQL_E_SHORT = 1, /* a field runs past the packet's end */
    MYSQL_E_PROTO,     /* not protocol 10 / 4.1, or an impossible value */
    MYSQL_E_SIZE,      /* longer than a rewrite is bounded to */
    MYSQL_E_SSL,       /* the client asks for TLS: not replayable */
    MYSQL_E_PLUGIN,    /* an authentication method we cannot answer */
    MYSQL_E_STMT,      /* a statement id with no known counterpart */
    MYSQL_E_COUNT
};

/* Which authentication methods we answer. */
enum mysql_plugin {
    MYSQL_PLUGIN_UNKNOWN = 0,
    MYSQL_PLUGIN_NATIVE,       /* mysql_native_password */
    MYSQL_PLUGIN_CACHING_SHA2, /* caching_sha2_password, fast path */
    MYSQL_PLUGIN_CLEAR,        /* mysql_clear_password */
};

/* The server's greeting: what a login must answer. */
struct mysql_greeting {
    uint32_t caps;
    uint32_t conn_id;
    uint8_t charset;
    uint8_t scramble[MYSQL_SCRAMBLE_LEN];
    size_t scramble_len;
    char plugin[MYSQL_NAME_MAX]; /* "" when the server names none */
};

/* How an auth answer is length-prefixed in the packet it came in. */
enum mysql_auth_form { MYSQL_AUTH_LENENC, MYSQL_AUTH_LEN1, MYSQL_AUTH_NUL };

/*
 * A parsed HandshakeResponse41 or COM_CHANGE_USER: offsets into the payload it
 * was parsed from (valid as long as that payload is). The answer's prefix
 * starts at auth_hdr and its bytes at auth_off; the rest of the packet
 * (database, plugin, attributes) follows at auth_off + auth_len.
 */
struct mysql_login {
    uint32_t caps;
    uint8_t charset;
    size_t user_off, user_len;
    size_t auth_hdr, auth_off, auth_len;
    enum mysql_auth_form form;
    size_t db_off, db_len; /* db_len 0: none */
    char plugin[MYSQL_NAME_MAX];
};

/* The auth-switch request (0xfe) a server sends when it wants another method. */
struct mysql_switch {
    char plugin[MYSQL_NAME_MAX];
    uint8_t data[MYSQL_SCRAMBLE_LEN];
    size_t data_len;
};

/*
 * The length of the whole packet (header included) at buf when it is all
 * there, 0 when more bytes are needed. *seq gets its sequence id and
 * *payload_len its payload length when not NULL.
 */
size_t mysql_frame(const uint8_t *buf, size_t len, uint8_t *seq, uint32_t *payload_len);

/* Write a packet header for a payload of plen bytes (plen < 2^24). */
void mysql_hdr_write(uint8_t *hdr, uint32_t plen, uint8_t seq);

/* The greeting's payload (header stripped): 0, or -MYSQL_E_* (-MYSQL_E_PROTO for an error packet). */
int mysql_greeting_parse(const uint8_t *p, size_t len, struct mysql_greeting *g);

/*
 * A login's payload (header stripped). An SSLRequest (CLIENT_SSL set) gives
 * -MYSQL_E_SSL; a pre-4.1 login -MYSQL_E_PROTO.
 */
int mysql_login_parse(const uint8_t *p, size_t len, struct mysql_login *l);

/*
 * COM_CHANGE_USER's payload, with the capabilities the session's login
 * announced (they decide its layout).
 */
int mysql_chuser_parse(const uint8_t *p, size_t len, uint32_t caps, struct mysql_login *l);

/*
 * Rebuild the login or COM_CHANGE_USER payload p (parsed into l) with the
 * answer auth[alen] in place of the client's, in the same form. The result
 * goes to out[cap], its length to *olen: 0, or -MYSQL_E_SIZE when it does not
 * fit or the answer is too long for the form.
 */
int mysql_login_rewrite(const uint8_t *p, size_t len, const struct mysql_login *l,
                        const uint8_t *auth, size_t alen, uint8_t *out, size_t cap, size_t *olen);

/*
 * A fresh HandshakeResponse41 payload for a session resumed mid-stream: the
 * given capabilities (CLIENT_SSL and CLIENT_CONNECT_ATTRS cleared,
 * PROTOCOL_41, SECURE_CONNECTION and PLUGIN_AUTH set), user, answer, optional
 * database (NULL or "") and plugin name. 0 or -MYSQL_E_SIZE.
 */
int mysql_login_build(uint32_t caps, uint8_t charset, const char *user, const uint8_t *auth,
                      size_t alen, const char *db, const char *plugin, uint8_t *out, size_t cap,
                      size_t *olen);

/* The auth-switch request's payload: 0, or -MYSQL_E_PROTO when it is not one. */
int mysql_switch_parse(const uint8_t *p, size_t len, struct mysql_switch *s);

/* The method named by a plugin string. */
enum mysql_plugin mysql_plugin_of(const char *name);

/*
 * The answer of a method to a scramble for a password (NUL-terminated):
 * native: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))), 20 bytes;
 * caching_sha2 (fast path): SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble), 32 bytes;
 * clear: the password and a NUL. An empty password answers with nothing
 * (native, caching_sha2). out holds MYSQL_AUTH_MAX; 0 or -MYSQL_E_PLUGIN.
 */
int mysql_auth_answer(enum mysql_plugin m, const char *pw, const uint8_t *scramble, size_t slen,
                      uint8_t *out, size_t *olen);

/*
 * caching_sha2_password's full authentication without TLS: the password and a NUL, XORed
 * with the scramble (repeated), encrypted with the server's RSA public key (pem[pemlen],
 * as the server sent it after a request 0x02) with OAEP padding. 0, -MYSQL_E_PLUGIN (not
 * a key we can use) or -MYSQL_E_SIZE.
 */
int mysql_sha2_rsa(const char *pw, const uint8_t *scramble, size_t slen, const uint8_t *pem,
                   size_t pemlen, uint8_t *out, size_t cap, size_t *olen);

/* caching_sha2_password's "more data" packet (0x01 + status): 3 fast OK, 4 full auth, -1 neither. */
int mysql_sha2_status(const uint8_t *p, size_t len);

/* What a server's answer packet is: 0x00 OK, 0xff ERR, 0xfe switch / EOF, 0x01 more data. */
static inline int mysql_reply_kind(const uint8_t *p, size_t len)
{
    return len > 0 ? p[0] : -1;
}

/* COM_STMT_PREPARE_OK's payload: its statement id, columns and parameters. 0 or -MYSQL_E_*. */
int mysql_prepare_ok_parse(const uint8_t *p, size_t len, uint32_t *id, uint16_t *ncols,
                           uint16_t *nparams);

/*
 * Whether a COM_STMT_EXECUTE payload can be for a statement of n parameters: its null
 * bitmap, and when it carries the parameters' types, their values, must end where the
 * packet ends. (Production's statement ids cannot be predicted: this tells candidates
 * apart.)
 */
bool mysql_execute_fits(const uint8_t *p, size_t len, uint16_t n);

/* Whether a command payload carries a statement id (in bytes 1..4). */
bool mysql_cmd_has_stmt(const uint8_t *p, size_t len);

#define MYSQL_STMT_MAX 256

/*
 * Production's statement ids and the target's for one session: a bounded
 * table (MYSQL_STMT_MAX; sessions prepare few statements, a pool reuses them).
 */
struct mysql_stmt_map {
    uint32_t n;
    struct {
        uint32_t prod, target;
    } e[MYSQL_STMT_MAX];
};

/* Add or update a pair: 0, or -ENOSPC when the table is full. */
int mysql_stmt_map_set(struct mysql_stmt_map *m, uint32_t prod, uint32_t target);
/* The target's id for production's, or false. */
bool mysql_stmt_map_get(const struct mysql_stmt_map *m, uint32_t prod, uint32_t *target);
/* Forget a pair (COM_STMT_CLOSE). */
void mysql_stmt_map_del(struct mysql_stmt_map *m, uint32_t prod);

/*
 * Put the target's statement id into a command that carries one, in place
 * (same length): 1 when rewritten, 0 when the command carries none (or the
 * MariaDB "last prepared" id 0xffffffff), -MYSQL_E_STMT when the id is unknown.
 */
int mysql_stmt_rewrite(uint8_t *p, size_t len, const struct mysql_stmt_map *m);

#endif
