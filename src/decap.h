/*
 * decap: mirrored traffic that arrives encapsulated. A cloud traffic mirror (AWS VPC
 * Traffic Mirroring: VXLAN on UDP 4789) or a switch's remote SPAN (GRE, ERSPAN type II
 * and III) delivers copies of the production server's frames inside packets addressed to
 * the mirror host. decap_frame() finds the frame inside, so the capture path parses it as
 * if it had been captured on the production server itself. No tunnel device is needed.
 */
#ifndef TC_DECAP_H
#define TC_DECAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum decap_kind {
    DECAP_NONE = 0,
    DECAP_VXLAN, /* RFC 7348, UDP port (4789) */
    DECAP_GRE,   /* RFC 2784/2890: Ethernet (TEB), IPv4, IPv6, ERSPAN II and III inside */
};

struct decap {
    enum decap_kind kind;
    uint16_t port; /* VXLAN's UDP destination port */
};

#define DECAP_VXLAN_PORT 4789

/* Why a packet was not decapsulated (the caller counts each): decap_frame returns 0
 * (DECAP_OK) or one of these negated, as every decoder here does. */
enum decap_err {
    DECAP_OK = 0,
    DECAP_E_LINK,     /* the outer link layer is unknown or cut */
    DECAP_E_IP,       /* the outer IP header is malformed or cut */
    DECAP_E_FRAG,     /* the outer packet is an IP fragment (reassembly is not done) */
    DECAP_E_OTHER,    /* not the encapsulation asked for (another protocol or port) */
    DECAP_E_TUNNEL,   /* the tunnel header is malformed, cut, or of an unknown version */
    DECAP_E_COUNT
};

/* "vxlan", "vxlan:PORT", "gre" or "erspan" (GRE, ERSPAN included). 0, or -EINVAL with a
 * message in err. */
int decap_parse(struct decap *d, const char *s, char *err, size_t errlen);
/* Its name as given to --decap ("vxlan:4789", "gre"). */
const char *decap_str(const struct decap *d, char *buf, size_t len);
/* A BPF filter that keeps the encapsulated packets (for libpcap). */
const char *decap_filter(const struct decap *d, char *buf, size_t len);
/* A counter's name for each enum decap_err. */
const char *decap_err_str(int e);

/*
 * The frame inside buf (len bytes of link type dlt): DECAP_OK with *inner, *inner_len and
 * *inner_dlt (DLT_EN10MB, or LINKTYPE_RAW for IP in GRE) set, pointing into buf; or
 * -DECAP_E_* (the reason).
 */
int decap_frame(const struct decap *d, int dlt, const uint8_t *buf, size_t len,
                const uint8_t **inner, size_t *inner_len, int *inner_dlt);
/* Log the packets a capture path could not decapsulate, by reason (nothing without
 * --decap). when: "stats" or "final". */
void decap_log_counts(const struct decap *d, const uint64_t err[DECAP_E_COUNT], const char *when);
/* The same in place for a capture path: with DECAP_NONE nothing changes (DECAP_OK). */
int decap_apply(const struct decap *d, int *dlt, const uint8_t **buf, size_t *len);

#endif
