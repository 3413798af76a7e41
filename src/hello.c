/*
 * hello: HELLO, AUTH and BYE of the channel, and the judgement of a peer's
 * handshake (doc/protocol.md, sections 4, 4.1, 8). The only implementation:
 * tcpcopy's chanc and intercept's peer both call it.
 *
 * Decoders take frames that chan_frame_next() bounded by type, and check the
 * lengths again anyway: a fuzzer or a test may hand them anything.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hello.h"
#include "log.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/*
 * HELLO body: magic[4] | version u16 | role u8 | reserved u8 | features u32 |
 * nonce[16] | instance u64 (with CHAN_FEAT_INSTANCE) | ignored extension.
 */
int hello_decode(struct hello *h, const struct chan_frame *f)
{
    if (f->type != CHAN_HELLO)
        return -CHAN_E_TYPE;
    if (f->len < CHAN_HELLO_LEN)
        return -CHAN_E_SIZE;
    const uint8_t *p = f->body;
    if (memcmp(p, CHAN_MAGIC, 4) != 0)
        return -CHAN_E_MAGIC;
    h->version = get16(p + 4);
    h->role = p[6];
    h->reserved = p[7];
    h->features = get32(p + 8);
    memcpy(h->nonce, p + 12, CHAN_NONCE_LEN);
    h->instance = 0;
    if ((h->features & CHAN_FEAT_INSTANCE) && f->len >= CHAN_HELLO_INSTANCE_LEN)
        h->instance = (uint64_t)get32(p + 28) << 32 | get32(p + 32);
    if (h->version != CHAN_VERSION)
        return -CHAN_E_VERSION;
    return 0;
}

int hello_put(struct chan_out *o, const struct hello *h)
{
    uint8_t b[CHAN_HELLO_INSTANCE_LEN];
    size_t n = CHAN_HELLO_LEN;
    memcpy(b, CHAN_MAGIC, 4);
    put16(b + 4, h->version);
    b[6] = h->role;
    b[7] = 0;
    put32(b + 8, h->features);
    memcpy(b + 12, h->nonce, CHAN_NONCE_LEN);
    if (h->features & CHAN_FEAT_INSTANCE) {
        /* An extension within the HELLO's room for growth (bodies up to 256 bytes;
         * a receiver ignores what it does not know). */
        put32(b + 28, (uint32_t)(h->instance >> 32));
        put32(b + 32, (uint32_t)h->instance);
        n = CHAN_HELLO_INSTANCE_LEN;
    }
    return chan_put_frame(o, CHAN_HELLO, b, n);
}

int hello_make(struct hello *h, uint8_t role, uint32_t features, uint64_t instance)
{
    bool secret = (features & CHAN_FEAT_AUTH) != 0;
    memset(h, 0, sizeof(*h));
    h->version = CHAN_VERSION;
    h->role = role;
    h->features = features;
    h->instance = instance;
    ssize_t got = getrandom(h->nonce, sizeof(h->nonce), secret ? 0 : GRND_NONBLOCK);
    if (got == (ssize_t)sizeof(h->nonce))
        return 0;
    if (secret)
        return got < 0 ? -errno : -EIO;
    /* No secret: the nonce only has to differ between connections. */
    static uint64_t count;
    uint64_t a = now_monotonic_us() ^ (uint64_t)getpid() << 32, b = ++count;
    memcpy(h->nonce, &a, sizeof(a));
    memcpy(h->nonce + sizeof(a), &b, sizeof(b));
    return 0;
}

const char *hello_verdict_str(enum hello_verdict v)
{
    switch (v) {
    case HELLO_OK:
        return "ok";
    case HELLO_E_TYPE:
        return "unexpected frame type";
    case HELLO_E_SIZE:
        return chan_err_str(CHAN_E_SIZE);
    case HELLO_E_MAGIC:
        return chan_err_str(CHAN_E_MAGIC);
    case HELLO_E_VERSION:
        return chan_err_str(CHAN_E_VERSION);
    case HELLO_E_ROLE:
        return "wrong role";
    case HELLO_E_AUTH_MISSING:
        return "no authentication";
    case HELLO_E_AUTH_UNWANTED:
        return "authentication not configured here";
    case HELLO_E_PROOF:
        return "bad secret";
    }
    return "unknown verdict";
}

uint16_t hello_verdict_bye(enum hello_verdict v)
{
    switch (v) {
    case HELLO_E_VERSION:
        return CHAN_BYE_VERSION;
    case HELLO_E_AUTH_MISSING:
    case HELLO_E_AUTH_UNWANTED:
    case HELLO_E_PROOF:
        return CHAN_BYE_AUTH;
    default:
        return CHAN_BYE_PROTOCOL;
    }
}

enum hello_verdict hello_judge(struct hello *peer, const struct chan_frame *f, uint8_t want_role,
                               bool have_secret)
{
    memset(peer, 0, sizeof(*peer));
    switch (hello_decode(peer, f)) {
    case 0:
        break;
    case -CHAN_E_TYPE:
        return HELLO_E_TYPE;
    case -CHAN_E_SIZE:
        return HELLO_E_SIZE;
    case -CHAN_E_MAGIC:
        return HELLO_E_MAGIC;
    default:
        return HELLO_E_VERSION;
    }
    if (peer->role != want_role)
        return HELLO_E_ROLE;
    /* A secret on one side only is a configuration error: refused on both sides,
     * each naming --secret-file, rather than silently running unauthenticated. */
    bool theirs = (peer->features & CHAN_FEAT_AUTH) != 0;
    if (have_secret && !theirs)
        return HELLO_E_AUTH_MISSING;
    if (!have_secret && theirs)
        return HELLO_E_AUTH_UNWANTED;
    return HELLO_OK;
}

int hello_auth_decode(uint8_t mac[CHAN_MAC_LEN], const struct chan_frame *f)
{
    if (f->type != CHAN_AUTH)
        return -CHAN_E_TYPE;
    if (f->len < CHAN_MAC_LEN)
        return -CHAN_E_SIZE;
    memcpy(mac, f->body, CHAN_MAC_LEN);
    return 0;
}

int hello_auth_put(struct chan_out *o, const uint8_t mac[CHAN_MAC_LEN])
{
    return chan_put_frame(o, CHAN_AUTH, mac, CHAN_MAC_LEN);
}

int hello_auth_send(struct chan_out *o, const struct auth_secret *s, uint8_t role,
                    const uint8_t nonce[CHAN_NONCE_LEN], const uint8_t peer_nonce[CHAN_NONCE_LEN])
{
    uint8_t mac[CHAN_MAC_LEN];
    if (auth_mac(mac, s, role, nonce, peer_nonce) != 0)
        return -EIO;
    return hello_auth_put(o, mac);
}

enum hello_verdict hello_auth_judge(const struct chan_frame *f, const struct auth_secret *s,
                                    uint8_t peer_role, const uint8_t peer_nonce[CHAN_NONCE_LEN],
                                    const uint8_t nonce[CHAN_NONCE_LEN])
{
    uint8_t mac[CHAN_MAC_LEN];
    if (hello_auth_decode(mac, f) != 0)
        return HELLO_E_TYPE;
    if (!auth_verify(mac, s, peer_role, peer_nonce, nonce))
        return HELLO_E_PROOF;
    return HELLO_OK;
}

int hello_bye_put(struct chan_out *o, uint16_t code, const char *text)
{
    uint8_t b[2 + CHAN_BYE_TEXT_MAX];
    size_t n = text != NULL ? strlen(text) : 0;
    if (n > CHAN_BYE_TEXT_MAX)
        n = CHAN_BYE_TEXT_MAX;
    put16(b, code);
    if (n > 0)
        memcpy(b + 2, text, n);
    return chan_put_frame(o, CHAN_BYE, b, 2 + n);
}

int hello_bye_decode(struct hello_bye *b, const struct chan_frame *f)
{
    b->code = 0;
    b->text[0] = '\0';
    if (f->type != CHAN_BYE)
        return -CHAN_E_TYPE;
    if (f->len < 2)
        return -CHAN_E_SIZE;
    size_t n = (size_t)f->len - 2;
    if (n > sizeof(b->text) - 1)
        n = sizeof(b->text) - 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = f->body[2 + i];
        b->text[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    b->text[n] = '\0';
    b->code = get16(f->body);
    return 0;
}
