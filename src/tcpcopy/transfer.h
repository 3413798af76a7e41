/*
 * transfer: the original's option grammars and the address mapping they define.
 *   -x [onlineIP:]onlinePort-targetIP:targetPort[,...]  which sessions go where
 *   -c addr | addr,addr,... | a.b.c.x | PREFIX::x        client address rewriting
 *   -s ip[:port][,...]                                   intercept servers
 * Parsers write a one-line reason into err on failure; nothing here logs or exits.
 */
#ifndef TC_TRANSFER_H
#define TC_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define XFER_RULES_MAX 64
#define CMAP_MAX 4096
#define SERVERS_MAX 32

struct xfer_rule {
    struct addr online;     /* unset: any local address */
    struct addr target;
    uint16_t online_port;
    uint16_t target_port;
    uint8_t online_mac[6];  /* "@MAC" forms, for link-layer send (later) */
    uint8_t target_mac[6];
    bool has_online_mac, has_target_mac;
};

struct xfer_map {
    struct xfer_rule rules[XFER_RULES_MAX];
    size_t n;
};

/* Parse a -x list. 0, or -EINVAL with a reason in err. */
int xfer_parse(struct xfer_map *m, const char *spec, char *err, size_t errlen);
/*
 * The rule for a packet sent to dst:dport, or NULL if none applies: the first rule
 * on that port whose online address is dst, or that has no online address and a
 * target of dst's family (a packet cannot change family on its way to the target).
 */
const struct xfer_rule *xfer_match(const struct xfer_map *m, const struct addr *dst, uint16_t dport);
/* An earlier rule that takes every packet rule i could match (an any-address rule
 * on the same port and family), or NULL. Such a rule i never copies anything. */
const struct xfer_rule *xfer_shadowed_by(const struct xfer_map *m, size_t i);
/* True if rule r can match a packet delivered to one of the n addresses local[]:
 * its online address is one of them, or it has none and one is of its family. */
bool xfer_rule_is_local(const struct xfer_rule *r, const struct addr *local, size_t n);
/* The rule as -x writes it, without MACs ("80-192.0.2.20:8080"); returns buf. */
char *xfer_rule_str(const struct xfer_rule *r, char *buf, size_t len);
/* Distinct online ports of the rules of one family (of their target; 0: all rules),
 * for the capture filter; returns the count. */
size_t xfer_ports_af(const struct xfer_map *m, int af, uint16_t *ports, size_t max);

struct client_map {
    struct addr addrs[CMAP_MAX];
    size_t n;
};

/* Parse a -c value. 0, or -EINVAL with a reason in err. */
int cmap_parse(struct client_map *c, const char *spec, char *err, size_t errlen);
/* Remove every address equal to one of the rules' targets (the original does this:
 * a rewritten client must never be the target itself). Returns how many were removed. */
size_t cmap_exclude_targets(struct client_map *c, const struct xfer_map *m);
/* With a non-empty map, every rule's target family must have addresses in it:
 * each client is rewritten within its own family (cmap_pick_copy), and a client kept
 * as is would be answered past intercept. 0, or -EINVAL naming the rule in err. */
int cmap_check_families(const struct client_map *c, const struct xfer_map *m, char *err,
                        size_t errlen);
/* The address that replaces client in copy `copy` of its sessions (-n, and offline
 * passes): deterministic per client address (so one real client stays one fake
 * client); copy k takes the k-th address after copy 0's (within the client's family),
 * so the copies of one client spread over the pool instead of sharing one address's
 * ports. NULL if the map is empty (keep the client address). */
const struct addr *cmap_pick_copy(const struct client_map *c, const struct addr *client,
                                  uint32_t copy);

struct server {
    struct addr addr;
    uint16_t port;
};
struct server_list {
    struct server s[SERVERS_MAX];
    size_t n;
};
/* Parse a -s list; servers without ":port" get default_port. 0 or -EINVAL. */
int servers_parse(struct server_list *l, const char *spec, uint16_t default_port, char *err,
                  size_t errlen);

/* Parse a decimal integer in [min, max] from the whole string s. */
bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

#endif
