/*
 * hello: the channel's handshake, one implementation for both programs
 * (doc/protocol.md, sections 4, 4.1 and 8): HELLO, AUTH and BYE encoded and
 * decoded, and the judgement of a peer's HELLO (magic, version, role, whether
 * both sides agree on authentication) and of its AUTH (the secret's proof).
 *
 * tcpcopy (tcpcopy/chanc_frame.c) and intercept (intercept/peer.c) call the
 * same functions; each words its own log lines and BYEs from the verdicts.
 * No sockets, no globals: frames in, verdicts out, so the unit tests and the
 * fuzzer drive it directly.
 */
#ifndef TC_HELLO_H
#define TC_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "chan.h"

/* A HELLO body (section 4). */
struct hello {
    uint16_t version;
    uint8_t role; /* CHAN_ROLE_* */
    uint8_t reserved;
    uint32_t features; /* CHAN_FEAT_* bits the sender supports */
    uint8_t nonce[CHAN_NONCE_LEN];
    uint64_t instance; /* with CHAN_FEAT_INSTANCE: one random id per tcpcopy process, the
                        * same on all its connections (0: not given) */
};

/*
 * Decode a HELLO frame. The fields are filled before the version is judged, so
 * that a caller can name the version it was offered. 0, or -CHAN_E_TYPE (not a
 * HELLO), -CHAN_E_SIZE, -CHAN_E_MAGIC, -CHAN_E_VERSION.
 */
int hello_decode(struct hello *h, const struct chan_frame *f);
/* Queue a HELLO (the instance id only with CHAN_FEAT_INSTANCE). 0 or -ENOBUFS. */
int hello_put(struct chan_out *o, const struct hello *h);

/*
 * Fill our HELLO: version, role, features and a fresh nonce. The nonce is the
 * challenge of the AUTH exchange: with CHAN_FEAT_AUTH in features it must be
 * unpredictable, so getrandom() may wait for the kernel's pool (early boot only)
 * and its failure is an error; without, a weaker nonce does no harm and nothing
 * waits. 0 or -errno.
 */
int hello_make(struct hello *h, uint8_t role, uint32_t features, uint64_t instance);

/* What a peer's HELLO or AUTH is worth. */
enum hello_verdict {
    HELLO_OK = 0,
    HELLO_E_TYPE,          /* not the frame the handshake expects */
    HELLO_E_SIZE,          /* body too short */
    HELLO_E_MAGIC,         /* not "TCPC": not a tcpcopy channel */
    HELLO_E_VERSION,       /* a protocol version we do not speak (answer BYE code 2) */
    HELLO_E_ROLE,          /* the peer is not of the role we expect */
    HELLO_E_AUTH_MISSING,  /* we have a secret, the peer announces no CHAN_FEAT_AUTH */
    HELLO_E_AUTH_UNWANTED, /* the peer announces CHAN_FEAT_AUTH, we have no secret */
    HELLO_E_PROOF,         /* an AUTH whose proof does not match our secret */
};
/* A short reason ("unsupported protocol version", ...) for a log line. */
const char *hello_verdict_str(enum hello_verdict v);
/* The BYE code that refuses a peer for verdict v (CHAN_BYE_VERSION,
 * CHAN_BYE_AUTH or CHAN_BYE_PROTOCOL). */
uint16_t hello_verdict_bye(enum hello_verdict v);

/*
 * Judge the peer's first frame: a HELLO of our version, from a peer of
 * want_role, that announces CHAN_FEAT_AUTH exactly when we have a secret
 * (have_secret). *peer is filled as far as the frame allows (its version for a
 * HELLO_E_VERSION message).
 */
enum hello_verdict hello_judge(struct hello *peer, const struct chan_frame *f, uint8_t want_role,
                               bool have_secret);

/* Decode an AUTH frame: its first CHAN_MAC_LEN bytes (the rest, up to 256, is
 * reserved for a key id and ignored). 0, -CHAN_E_TYPE or -CHAN_E_SIZE. */
int hello_auth_decode(uint8_t mac[CHAN_MAC_LEN], const struct chan_frame *f);
int hello_auth_put(struct chan_out *o, const uint8_t mac[CHAN_MAC_LEN]);
/* Compute our proof (role and nonce ours, peer_nonce from its HELLO) and queue
 * it. 0, -EIO (libcrypto failed) or -ENOBUFS. */
int hello_auth_send(struct chan_out *o, const struct auth_secret *s, uint8_t role,
                    const uint8_t nonce[CHAN_NONCE_LEN], const uint8_t peer_nonce[CHAN_NONCE_LEN]);
/*
 * Judge the frame that must carry the peer's proof: HELLO_OK if it is an AUTH
 * that a holder of our secret, with role peer_role and nonce peer_nonce, made
 * for our nonce (constant-time compare); HELLO_E_TYPE for any other frame (the
 * caller decides about a BYE) or a short AUTH; HELLO_E_PROOF for a wrong proof.
 */
enum hello_verdict hello_auth_judge(const struct chan_frame *f, const struct auth_secret *s,
                                    uint8_t peer_role, const uint8_t peer_nonce[CHAN_NONCE_LEN],
                                    const uint8_t nonce[CHAN_NONCE_LEN]);

/* A BYE's reason: the code, and the peer's text made safe for our log. */
#define HELLO_BYE_TEXT_LOG 256
struct hello_bye {
    uint16_t code;                 /* CHAN_BYE_* or a code we do not know */
    char text[HELLO_BYE_TEXT_LOG]; /* printable ASCII, cut, NUL-terminated */
};
/* Queue a BYE with a reason code and text (cut at CHAN_BYE_TEXT_MAX bytes).
 * 0 or -ENOBUFS. */
int hello_bye_put(struct chan_out *o, uint16_t code, const char *text);
/*
 * Decode a BYE. The text is the peer's and goes into our log: every byte
 * outside printable ASCII becomes '?', so it cannot forge log lines; a longer
 * text is cut. 0, -CHAN_E_TYPE or -CHAN_E_SIZE (body under 2 bytes).
 */
int hello_bye_decode(struct hello_bye *b, const struct chan_frame *f);

#endif
