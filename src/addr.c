/*
 * addr: the tagged IPv4/IPv6 address, the TCP 4-tuple and the keyed hash that
 * session tables use to index them.
 *
 * Only libc: the tests and fuzzers link this file alone. Tuples come from
 * untrusted traffic, so their hash is SipHash-2-4 under a per-process random
 * key; an attacker who cannot learn the key cannot aim packets at one bucket.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

/* Bytes of the address that carry meaning for af; 0 for unset or unknown families. */
static size_t addr_len(uint8_t af)
{
    if (af == AF_INET)
        return 4;
    if (af == AF_INET6)
        return 16;
    return 0;
}

void addr_set_v4(struct addr *a, const void *net4)
{
    memset(a, 0, sizeof(*a));
    a->af = AF_INET;
    memcpy(a->u.b, net4, 4);
}

void addr_set_v6(struct addr *a, const void *net16)
{
    memset(a, 0, sizeof(*a));
    a->af = AF_INET6;
    memcpy(a->u.b, net16, 16);
}

bool addr_eq(const struct addr *a, const struct addr *b)
{
    /* Compare only the bytes the family defines, so stale bytes past an IPv4
     * address (a struct filled by hand) never make two equal addresses differ. */
    return a->af == b->af && memcmp(a->u.b, b->u.b, addr_len(a->af)) == 0;
}

bool addr_is_any(const struct addr *a)
{
    return a->af == 0;
}

bool addr_is_loopback(const struct addr *a)
{
    static const uint8_t lo6[16] = {[15] = 1};

    if (a->af == AF_INET)
        return a->u.b[0] == 127;
    if (a->af == AF_INET6)
        return memcmp(a->u.b, lo6, 16) == 0;
    return false;
}

bool addr_parse(struct addr *a, const char *s)
{
    uint8_t b[16];

    if (s == NULL)
        return false;
    if (inet_pton(AF_INET, s, b) == 1) {
        addr_set_v4(a, b);
        return true;
    }
    if (inet_pton(AF_INET6, s, b) == 1) {
        addr_set_v6(a, b);
        return true;
    }
    return false;
}

char *addr_str(const struct addr *a, char *buf, size_t len)
{
    char tmp[INET6_ADDRSTRLEN];
    const char *s = "*";

    if (len == 0)
        return buf;
    if (a->af == AF_INET || a->af == AF_INET6) {
        if (inet_ntop(a->af, a->u.b, tmp, sizeof(tmp)) != NULL)
            s = tmp;
        else
            s = "?";
    } else if (a->af != 0) {
        s = "?";
    }
    /* snprintf truncates and always terminates when len > 0. */
    snprintf(buf, len, "%s", s);
    return buf;
}

char *addr_port_str(const struct addr *a, uint16_t port, char *buf, size_t len)
{
    char tmp[ADDR_STRLEN];

    if (len == 0)
        return buf;
    addr_str(a, tmp, sizeof(tmp));
    /* Brackets keep the port apart from the colons of an IPv6 address (RFC 3986 3.2.2). */
    if (a->af == AF_INET6)
        snprintf(buf, len, "[%s]:%u", tmp, (unsigned)port);
    else
        snprintf(buf, len, "%s:%u", tmp, (unsigned)port);
    return buf;
}

size_t addr_to_sockaddr(const struct addr *a, uint16_t port, void *ss)
{
    if (a->af == AF_INET) {
        struct sockaddr_in sin;

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        memcpy(&sin.sin_addr, a->u.b, 4);
        memset(ss, 0, sizeof(struct sockaddr_storage));
        memcpy(ss, &sin, sizeof(sin));
        return sizeof(sin);
    }
    if (a->af == AF_INET6) {
        struct sockaddr_in6 sin6;

        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        memcpy(&sin6.sin6_addr, a->u.b, 16);
        memset(ss, 0, sizeof(struct sockaddr_storage));
        memcpy(ss, &sin6, sizeof(sin6));
        return sizeof(sin6);
    }
    return 0;
}

bool addr_from_sockaddr(struct addr *a, uint16_t *port, const void *sa)
{
    sa_family_t fam;

    /* Copy out rather than cast: the caller's buffer may not be aligned for the struct. */
    memcpy(&fam, (const uint8_t *)sa + offsetof(struct sockaddr, sa_family), sizeof(fam));
    if (fam == AF_INET) {
        struct sockaddr_in sin;

        memcpy(&sin, sa, sizeof(sin));
        addr_set_v4(a, &sin.sin_addr);
        if (port != NULL)
            *port = ntohs(sin.sin_port);
        return true;
    }
    if (fam == AF_INET6) {
        struct sockaddr_in6 sin6;

        memcpy(&sin6, sa, sizeof(sin6));
        addr_set_v6(a, &sin6.sin6_addr);
        if (port != NULL)
            *port = ntohs(sin6.sin6_port);
        return true;
    }
    return false;
}

bool addr_in_prefix(const struct addr *a, const struct addr *net, unsigned prefix)
{
    size_t n = addr_len(a->af);
    size_t whole = prefix / 8;
    unsigned rest = prefix % 8;

    if (n == 0 || a->af != net->af || prefix > n * 8)
        return false;
    if (memcmp(a->u.b, net->u.b, whole) != 0)
        return false;
    if (rest != 0) {
        uint8_t mask = (uint8_t)(0xff00u >> rest);

        if ((a->u.b[whole] & mask) != (net->u.b[whole] & mask))
            return false;
    }
    return true;
}

/*
 * Serialize the meaningful bytes of a tuple: family, 0/4/16 address bytes for
 * each end, then the ports. Never the raw struct, whose padding and unused
 * address bytes are not part of the value.
 */
static size_t tuple_key(const struct tuple *t, uint8_t *k)
{
    size_t n = 0, l;

    k[n++] = t->src.af;
    l = addr_len(t->src.af);
    memcpy(k + n, t->src.u.b, l);
    n += l;
    k[n++] = t->dst.af;
    l = addr_len(t->dst.af);
    memcpy(k + n, t->dst.u.b, l);
    n += l;
    k[n++] = (uint8_t)(t->sport >> 8);
    k[n++] = (uint8_t)t->sport;
    k[n++] = (uint8_t)(t->dport >> 8);
    k[n++] = (uint8_t)t->dport;
    return n;
}

uint64_t tuple_hash(const struct tuple *t, uint64_t seed)
{
    uint8_t k[1 + 16 + 1 + 16 + 4];

    return hash_bytes(k, tuple_key(t, k), seed);
}

bool tuple_eq(const struct tuple *a, const struct tuple *b)
{
    return a->sport == b->sport && a->dport == b->dport && addr_eq(&a->src, &b->src) &&
           addr_eq(&a->dst, &b->dst);
}

void tuple_reverse(struct tuple *out, const struct tuple *in)
{
    struct tuple r;

    /* Through a copy, so out may alias in. */
    r.src = in->dst;
    r.dst = in->src;
    r.sport = in->dport;
    r.dport = in->sport;
    *out = r;
}

/* SipHash-2-4 (Aumasson and Bernstein, 2012), written from the reference description. */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = ROTL64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = ROTL64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = ROTL64(v2, 32);                                                                       \
    } while (0)

static uint64_t rd64le(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash24(const uint8_t *in, size_t len, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    size_t whole = len & ~(size_t)7, i;

    /* Indexes, not pointer steps: in may be NULL when len is 0. */
    for (i = 0; i < whole; i += 8) {
        m = rd64le(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; k < (len & 7); k++)
        b |= (uint64_t)in[whole + k] << (8 * k);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* splitmix64 finalizer: spreads a 64-bit seed over the second key half. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t hash_bytes(const void *p, size_t len, uint64_t seed)
{
    /* The 64-bit seed is stretched to SipHash's 128-bit key; k1 depends on every
     * seed bit, so seeds differing in any bit give unrelated keys. */
    return siphash24(p, len, seed, mix64(seed));
}

uint64_t hash_seed_random(void)
{
    uint64_t s = 0;
    struct timespec ts;

    /* GRND_NONBLOCK: early in boot the pool may not be ready, and a weaker seed
     * beats a daemon that hangs at start. */
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
        return s;
    clock_gettime(CLOCK_REALTIME, &ts);
    s = (uint64_t)ts.tv_sec ^ ((uint64_t)ts.tv_nsec << 20) ^ ((uint64_t)getpid() << 40);
    return mix64(s);
}
