/*
 * addr: one tagged type for IPv4 and IPv6 addresses, and the 4-tuple of a TCP
 * connection built from it. Every module that names a host uses these types, so
 * IPv6 needs no second code path later.
 */
#ifndef TC_ADDR_H
#define TC_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/* Longest text form of struct addr, "[v6]:port" included, with its NUL. */
#define ADDR_STRLEN 56

struct addr {
    uint8_t af; /* AF_INET, AF_INET6, or 0 for "unset / any" */
    uint8_t pad[3];
    union {
        uint8_t b[16];
        uint32_t w[4];
        struct in_addr v4; /* valid when af == AF_INET (first 4 bytes, rest zero) */
        struct in6_addr v6;
    } u;
};

/* A TCP connection as seen on the wire: source and destination, ports in host order. */
struct tuple {
    struct addr src;
    struct addr dst;
    uint16_t sport;
    uint16_t dport;
};

/* Zero-filled IPv4 address from network-order bytes. */
void addr_set_v4(struct addr *a, const void *net4);
/* IPv6 address from 16 network-order bytes. */
void addr_set_v6(struct addr *a, const void *net16);
/* True if both are the same family and the same address. Unset equals only unset. */
bool addr_eq(const struct addr *a, const struct addr *b);
/* True if a is unset (af == 0). */
bool addr_is_any(const struct addr *a);
/* True for 127.0.0.0/8 and ::1. */
bool addr_is_loopback(const struct addr *a);
/* Parse a literal IPv4 or IPv6 address (no brackets, no port). Returns false on error. */
bool addr_parse(struct addr *a, const char *s);
/* Write the address (no port) into buf; returns buf. buf holds at least ADDR_STRLEN. */
char *addr_str(const struct addr *a, char *buf, size_t len);
/* "a:p" for IPv4 or "[a]:p" for IPv6. */
char *addr_port_str(const struct addr *a, uint16_t port, char *buf, size_t len);
/* Fill a sockaddr_storage (in or in6) for a and port; returns its length, 0 if unset. */
size_t addr_to_sockaddr(const struct addr *a, uint16_t port, void *ss);
/* Read an address and port back from a sockaddr; false if family is neither. */
bool addr_from_sockaddr(struct addr *a, uint16_t *port, const void *sa);
/* True if a lies within net/prefix (same family). */
bool addr_in_prefix(const struct addr *a, const struct addr *net, unsigned prefix);

/* Seeded hash of a tuple (for session tables keyed by untrusted traffic). */
uint64_t tuple_hash(const struct tuple *t, uint64_t seed);
bool tuple_eq(const struct tuple *a, const struct tuple *b);
/* The tuple seen from the other end: src<->dst, sport<->dport. */
void tuple_reverse(struct tuple *out, const struct tuple *in);

/* A seeded 64-bit hash of arbitrary bytes (SipHash-2-4 style keyed mixing). */
uint64_t hash_bytes(const void *p, size_t len, uint64_t seed);
/* A random seed from the kernel (getrandom), falling back to time and pid. */
uint64_t hash_seed_random(void);

#endif
