/*
 * transfer: parsers for the original tcpcopy's -x, -c and -s grammars, and the
 * lookups they define (which target a captured session goes to, which fake
 * client address replaces a real one).
 *
 *   -x [onlineIP:]onlinePort[@MAC]-targetIP:targetPort[@MAC][,...]
 *        IPv6 in brackets: [2001:db8::10]:80-[2001:db8::20]:8080
 *   -c addr[,addr...] where addr is an IPv4/IPv6 literal, a.b.c.x (.1-.254) or
 *        PREFIX::x (PREFIX::1 - PREFIX::fe)
 *   -s ip[:port][,...]   IPv6 as [addr]:port, or a bare literal without port
 *
 * Address families: a packet's family never changes on its way to the target
 * (tcpcopy keeps the client's headers and does not translate between IPv4 and
 * IPv6). So a rule belongs to its target's family: a rule without an online
 * address matches only packets of that family, a rule whose online address is
 * of the other family is refused, and with -c every rule's family needs -c
 * addresses of its own (cmap_check_families).
 *
 * The parsers own nothing but the caller's output structs; they never log or
 * exit, and write a one-line reason naming the offending part into err. They
 * take untrusted text (fuzz/fuzz_opts.c drives them), so every piece is copied
 * into a bounded buffer before it is split.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "transfer.h"
#include "log.h"

/* Longest rule or item we accept: "[v6]:port@mac" twice plus the dash is ~131. */
#define XFER_ITEM_MAX 256

/* The -c mapping must be the same in every run and on every tcpcopy instance,
 * so the hash is keyed with a constant, not hash_seed_random(). The input is
 * the operator's own client list, not attacker-chosen keys for a table. */
#define CMAP_SEED 0x7463706370792d63ULL /* "tcpcopy-c" */


bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    /* strtoul would accept leading blanks, a sign and "0x"; options want none. */
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (ULONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_port(const char *s, uint16_t *port)
{
    unsigned long v;

    if (!parse_uint(s, 1, 65535, &v))
        return false;
    *port = (uint16_t)v;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly six colon-separated pairs of hex digits. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (hi < 0 || lo < 0)
            return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (i < 5 && *s++ != ':')
            return false;
    }
    return *s == '\0';
}

static bool has_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)s[i]))
            return true;
    return false;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* One side of a -x rule. */
struct xfer_side {
    struct addr addr;
    uint16_t port;
    uint8_t mac[6];
    bool has_mac;
};

/*
 * Parse one side, "[addr:]port[@mac]" (online) or "addr:port[@mac]" (target),
 * in place. name is "online" or "target", rule the whole rule for messages.
 */
static bool xfer_parse_side(char *s, const char *name, bool target, struct xfer_side *out,
                            const char *rule, char *err, size_t errlen)
{
    char *at, *portstr, *addrstr = NULL;

    memset(out, 0, sizeof(*out));
    if ((at = strchr(s, '@')) != NULL) {
        *at = '\0';
        if (!parse_mac(at + 1, out->mac)) {
            errbuf_set(err, errlen, "-x '%s': bad %s MAC '%s'", rule, name, at + 1);
            return false;
        }
        out->has_mac = true;
    }
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close == NULL) {
            errbuf_set(err, errlen, "-x '%s': missing ']' after %s address", rule, name);
            return false;
        }
        *close = '\0';
        addrstr = s + 1;
        if (close[1] == '\0') {
            errbuf_set(err, errlen, "-x '%s': missing %s port", rule, name);
            return false;
        }
        if (close[1] != ':') {
            errbuf_set(err, errlen, "-x '%s': expected ':' after %s address '[%s]'", rule, name,
                   addrstr);
            return false;
        }
        portstr = close + 2;
        /* Brackets are for IPv6 only: they exist to fence off its colons. */
        if (!addr_parse(&out->addr, addrstr) || out->addr.af != AF_INET6) {
            errbuf_set(err, errlen, "-x '%s': bad %s address '[%s]'", rule, name, addrstr);
            return false;
        }
    } else {
        char *colon = strrchr(s, ':');
        if (colon != NULL) {
            *colon = '\0';
            addrstr = s;
            portstr = colon + 1;
            if (strchr(addrstr, ':') != NULL) {
                errbuf_set(err, errlen, "-x '%s': %s IPv6 address needs brackets, '[%s]:%s'", rule,
                       name, addrstr, portstr);
                return false;
            }
            if (*addrstr == '\0') {
                errbuf_set(err, errlen, "-x '%s': missing %s address before ':'", rule, name);
                return false;
            }
            if (!addr_parse(&out->addr, addrstr)) {
                errbuf_set(err, errlen, "-x '%s': bad %s address '%s'", rule, name, addrstr);
                return false;
            }
        } else if (target) {
            /* "80-8080" forgot the address, "80-192.0.2.20" the port. */
            if (*s == '\0' || all_digits(s))
                errbuf_set(err, errlen, "-x '%s': missing target address", rule);
            else
                errbuf_set(err, errlen, "-x '%s': missing target port", rule);
            return false;
        } else {
            portstr = s;
        }
    }
    if (*portstr == '\0') {
        errbuf_set(err, errlen, "-x '%s': missing %s port", rule, name);
        return false;
    }
    if (!parse_port(portstr, &out->port)) {
        errbuf_set(err, errlen, "-x '%s': bad %s port '%s'", rule, name, portstr);
        return false;
    }
    return true;
}

static bool xfer_parse_rule(struct xfer_rule *r, const char *item, size_t len, char *err,
                            size_t errlen)
{
    char rule[XFER_ITEM_MAX], work[XFER_ITEM_MAX];
    struct xfer_side on, tg;

    if (len >= sizeof(rule)) {
        errbuf_set(err, errlen, "-x '%.40s...': rule too long", item);
        return false;
    }
    memcpy(rule, item, len);
    rule[len] = '\0';
    memcpy(work, rule, len + 1);
    if (len == 0) {
        errbuf_set(err, errlen, "-x: empty rule (stray comma?)");
        return false;
    }
    if (has_space(rule, len)) {
        errbuf_set(err, errlen, "-x '%s': whitespace not allowed", rule);
        return false;
    }
    /* Neither IPv6 literals nor MACs contain '-', so it splits the sides. */
    char *dash = strchr(work, '-');
    if (dash == NULL) {
        errbuf_set(err, errlen, "-x '%s': missing '-' between online port and target", rule);
        return false;
    }
    if (strchr(dash + 1, '-') != NULL) {
        errbuf_set(err, errlen, "-x '%s': more than one '-'", rule);
        return false;
    }
    *dash = '\0';
    if (work[0] == '\0') {
        errbuf_set(err, errlen, "-x '%s': missing online port", rule);
        return false;
    }
    if (dash[1] == '\0') {
        errbuf_set(err, errlen, "-x '%s': missing target address and port", rule);
        return false;
    }
    if (!xfer_parse_side(work, "online", false, &on, rule, err, errlen) ||
        !xfer_parse_side(dash + 1, "target", true, &tg, rule, err, errlen))
        return false;
    /* Copied packets keep the client's address; tcpcopy does not translate
     * between IPv4 and IPv6 headers. */
    if (on.addr.af != 0 && on.addr.af != tg.addr.af) {
        errbuf_set(err, errlen, "-x '%s': online and target addresses are of different families", rule);
        return false;
    }
    memset(r, 0, sizeof(*r));
    r->online = on.addr;
    r->online_port = on.port;
    r->target = tg.addr;
    r->target_port = tg.port;
    memcpy(r->online_mac, on.mac, 6);
    memcpy(r->target_mac, tg.mac, 6);
    r->has_online_mac = on.has_mac;
    r->has_target_mac = tg.has_mac;
    return true;
}

int xfer_parse(struct xfer_map *m, const char *spec, char *err, size_t errlen)
{
    const char *p = spec;

    m->n = 0;
    if (spec == NULL || *spec == '\0') {
        errbuf_set(err, errlen, "-x: empty transfer list");
        return -EINVAL;
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        struct xfer_rule r;

        if (m->n == XFER_RULES_MAX) {
            errbuf_set(err, errlen, "-x: more than %d rules", XFER_RULES_MAX);
            goto fail;
        }
        if (!xfer_parse_rule(&r, p, len, err, errlen))
            goto fail;
        for (size_t i = 0; i < m->n; i++) {
            /* Two any-address rules of different families see different packets. */
            if (m->rules[i].online_port == r.online_port &&
                addr_eq(&m->rules[i].online, &r.online) &&
                m->rules[i].target.af == r.target.af) {
                errbuf_set(err, errlen, "-x '%.*s': online side repeats rule %zu", (int)len, p, i + 1);
                goto fail;
            }
        }
        m->rules[m->n++] = r;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return 0;
fail:
    m->n = 0;
    return -EINVAL;
}

const struct xfer_rule *xfer_match(const struct xfer_map *m, const struct addr *dst, uint16_t dport)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        if (r->online_port != dport)
            continue;
        /* An any-address rule takes only its target's family: an IPv6 packet sent
         * to an IPv4 target could only be dropped, and would hide a later IPv6
         * rule on the same port. */
        if (addr_is_any(&r->online) ? dst->af == r->target.af : addr_eq(&r->online, dst))
            return r;
    }
    return NULL;
}

const struct xfer_rule *xfer_shadowed_by(const struct xfer_map *m, size_t i)
{
    const struct xfer_rule *r = &m->rules[i];

    for (size_t k = 0; k < i && k < m->n; k++) {
        const struct xfer_rule *e = &m->rules[k];
        if (e->online_port == r->online_port && addr_is_any(&e->online) &&
            e->target.af == r->target.af)
            return e;
    }
    return NULL;
}

bool xfer_rule_is_local(const struct xfer_rule *r, const struct addr *local, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (addr_is_any(&r->online) ? local[i].af == r->target.af
                                    : addr_eq(&local[i], &r->online))
            return true;
    }
    return false;
}

char *xfer_rule_str(const struct xfer_rule *r, char *buf, size_t len)
{
    char on[ADDR_STRLEN], tg[ADDR_STRLEN];

    if (addr_is_any(&r->online))
        snprintf(on, sizeof(on), "%u", (unsigned)r->online_port);
    else
        addr_port_str(&r->online, r->online_port, on, sizeof(on));
    addr_port_str(&r->target, r->target_port, tg, sizeof(tg));
    if (len > 0)
        snprintf(buf, len, "%s-%s", on, tg);
    return buf;
}

size_t xfer_ports_af(const struct xfer_map *m, int af, uint16_t *ports, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < m->n && n < max; i++) {
        size_t j;
        if (af != 0 && m->rules[i].target.af != af)
            continue;
        for (j = 0; j < n && ports[j] != m->rules[i].online_port; j++)
            ;
        if (j == n)
            ports[n++] = m->rules[i].online_port;
    }
    return n;
}

/* Copy item (not NUL-terminated, len bytes) for messages; false if unusable. */
static bool copy_item(char *dst, size_t dstlen, const char *item, size_t len)
{
    if (len >= dstlen) {
        snprintf(dst, dstlen, "%.*s...", (int)(dstlen > 8 ? dstlen - 8 : 0), item);
        return false;
    }
    memcpy(dst, item, len);
    dst[len] = '\0';
    return !has_space(dst, len);
}

static bool addr_is_unspecified(const struct addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->u.b, zero, a->af == AF_INET ? 4 : 16) == 0;
}

/*
 * "a.b.c.x": the 254 host addresses a.b.c.1 - a.b.c.254; "PREFIX::x" (an IPv6
 * literal whose last group is x): PREFIX::1 - PREFIX::fe, the same 254 values
 * in the last group. Appended to c; false if item is no such range.
 */
static bool cmap_add_range(struct client_map *c, const char *item, size_t len)
{
    char tmp[72];
    struct addr a;
    bool v6;

    if (len < 3 || len + 1 > sizeof(tmp) || (item[len - 1] != 'x' && item[len - 1] != 'X'))
        return false;
    v6 = item[len - 2] == ':';
    if (!v6 && item[len - 2] != '.')
        return false;
    /* Validate the prefix by parsing it with its first host, "a.b.c.1" or
     * "PREFIX::1", strictly (inet_pton: four parts and no leading zeros for
     * IPv4, eight groups or one "::" for IPv6). */
    snprintf(tmp, sizeof(tmp), "%.*s1", (int)(len - 1), item);
    if (!addr_parse(&a, tmp) || a.af != (v6 ? AF_INET6 : AF_INET))
        return false;
    /* "::x" would start at ::1, the loopback address. */
    a.u.b[v6 ? 15 : 3] = 0;
    if (v6 && addr_is_unspecified(&a))
        return false;
    for (int i = 1; i <= 254; i++) {
        a.u.b[v6 ? 15 : 3] = (uint8_t)i;
        c->addrs[c->n++] = a;
    }
    return true;
}

int cmap_parse(struct client_map *c, const char *spec, char *err, size_t errlen)
{
    const char *p = spec;
    char item[64];

    c->n = 0;
    if (spec == NULL || *spec == '\0') {
        errbuf_set(err, errlen, "-c: empty address list");
        return -EINVAL;
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        bool ok = copy_item(item, sizeof(item), p, len);

        if (len == 0) {
            errbuf_set(err, errlen, "-c: empty item (stray comma?)");
            goto fail;
        }
        if (ok && len >= 2 && (item[len - 2] == '.' || item[len - 2] == ':') &&
            (item[len - 1] == 'x' || item[len - 1] == 'X')) {
            if (c->n + 254 > CMAP_MAX) {
                errbuf_set(err, errlen, "-c '%s': more than %d addresses in all", item, CMAP_MAX);
                goto fail;
            }
            if (!cmap_add_range(c, item, len)) {
                errbuf_set(err, errlen, "-c '%s': bad address range (want %s)", item,
                       item[len - 2] == '.' ? "a.b.c.x" : "PREFIX::x, e.g. 2001:db8:3::x");
                goto fail;
            }
        } else {
            struct addr a;
            if (!ok || !addr_parse(&a, item)) {
                errbuf_set(err, errlen, "-c '%s': bad client address", item);
                goto fail;
            }
            if (addr_is_unspecified(&a)) {
                errbuf_set(err, errlen, "-c '%s': unspecified address", item);
                goto fail;
            }
            if (c->n == CMAP_MAX) {
                errbuf_set(err, errlen, "-c '%s': more than %d addresses in all", item, CMAP_MAX);
                goto fail;
            }
            c->addrs[c->n++] = a;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return 0;
fail:
    c->n = 0;
    return -EINVAL;
}

size_t cmap_exclude_targets(struct client_map *c, const struct xfer_map *m)
{
    size_t kept = 0, n = c->n;

    for (size_t i = 0; i < n; i++) {
        bool is_target = false;
        for (size_t j = 0; j < m->n && !is_target; j++)
            is_target = addr_eq(&c->addrs[i], &m->rules[j].target);
        if (!is_target)
            c->addrs[kept++] = c->addrs[i];
    }
    c->n = kept;
    return n - kept;
}

int cmap_check_families(const struct client_map *c, const struct xfer_map *m, char *err,
                        size_t errlen)
{
    char rb[2 * ADDR_STRLEN + 8];

    if (c->n == 0)
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        size_t k;
        for (k = 0; k < c->n && c->addrs[k].af != r->target.af; k++)
            ;
        if (k < c->n)
            continue;
        /* Keeping the real client address instead would make the target answer
         * the real client, past intercept: every such session would be lost. */
        errbuf_set(err, errlen,
               "-x rule %zu '%s' has an %s target but -c has no %s address: add some "
               "(e.g. %s) or remove the rule",
               i + 1, xfer_rule_str(r, rb, sizeof(rb)), r->target.af == AF_INET6 ? "IPv6" : "IPv4",
               r->target.af == AF_INET6 ? "IPv6" : "IPv4",
               r->target.af == AF_INET6 ? "2001:db8:3::x" : "203.0.113.x");
        return -EINVAL;
    }
    return 0;
}

const struct addr *cmap_pick_copy(const struct client_map *c, const struct addr *client,
                                  uint32_t copy)
{
    size_t alen = client->af == AF_INET ? 4 : client->af == AF_INET6 ? 16 : 0;
    uint64_t h;
    size_t same = 0, k;

    if (c->n == 0)
        return NULL;
    /* Copy k of a client goes k addresses further: the copies of one client use
     * distinct addresses (up to the pool's size), each with its own 64k ports. */
    h = hash_bytes(client->u.b, alen, CMAP_SEED) + copy;
    /* Common case: a one-family list. */
    if (c->addrs[h % c->n].af == client->af)
        return &c->addrs[h % c->n];
    /* A mixed list: choose among the client's own family, since a packet's
     * family cannot change. None of that family: keep the client address. */
    for (size_t i = 0; i < c->n; i++)
        same += c->addrs[i].af == client->af;
    if (same == 0)
        return NULL;
    k = h % same;
    for (size_t i = 0; i < c->n; i++) {
        if (c->addrs[i].af == client->af && k-- == 0)
            return &c->addrs[i];
    }
    return NULL;
}

/* One -s item: "ip", "ip:port", "[v6]", "[v6]:port" or a bare IPv6 literal. */
static bool server_parse_item(struct server *sv, char *item, uint16_t default_port, char *err,
                              size_t errlen)
{
    char *addrstr = item, *portstr = NULL;

    if (item[0] == '[') {
        char *close = strchr(item, ']');
        if (close == NULL) {
            errbuf_set(err, errlen, "-s '%s': missing ']'", item);
            return false;
        }
        *close = '\0';
        addrstr = item + 1;
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1] != '\0') {
            errbuf_set(err, errlen, "-s '%s]%s': expected ':' after ']'", item, close + 1);
            return false;
        }
        if (!addr_parse(&sv->addr, addrstr) || sv->addr.af != AF_INET6) {
            errbuf_set(err, errlen, "-s '[%s]': bad address", addrstr);
            return false;
        }
    } else {
        char *colon = strchr(item, ':');
        /* More than one colon: a bare IPv6 literal, which cannot carry a port. */
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            *colon = '\0';
            portstr = colon + 1;
        }
        if (!addr_parse(&sv->addr, addrstr)) {
            errbuf_set(err, errlen, "-s '%s': bad address", addrstr);
            return false;
        }
    }
    if (portstr == NULL) {
        if (default_port == 0) {
            errbuf_set(err, errlen, "-s '%s': missing port", addrstr);
            return false;
        }
        sv->port = default_port;
    } else if (!parse_port(portstr, &sv->port)) {
        errbuf_set(err, errlen, "-s '%s': bad port '%s'", addrstr, portstr);
        return false;
    }
    return true;
}

int servers_parse(struct server_list *l, const char *spec, uint16_t default_port, char *err,
                  size_t errlen)
{
    const char *p = spec;
    char item[80];

    l->n = 0;
    if (spec == NULL || *spec == '\0') {
        errbuf_set(err, errlen, "-s: empty server list");
        return -EINVAL;
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        struct server sv;

        if (len == 0) {
            errbuf_set(err, errlen, "-s: empty item (stray comma?)");
            goto fail;
        }
        if (!copy_item(item, sizeof(item), p, len)) {
            errbuf_set(err, errlen, "-s '%s': bad server", item);
            goto fail;
        }
        if (l->n == SERVERS_MAX) {
            errbuf_set(err, errlen, "-s '%s': more than %d servers", item, SERVERS_MAX);
            goto fail;
        }
        memset(&sv, 0, sizeof(sv));
        if (!server_parse_item(&sv, item, default_port, err, errlen))
            goto fail;
        for (size_t i = 0; i < l->n; i++) {
            if (l->s[i].port == sv.port && addr_eq(&l->s[i].addr, &sv.addr)) {
                errbuf_set(err, errlen, "-s '%.*s': repeats server %zu", (int)len, p, i + 1);
                goto fail;
            }
        }
        l->s[l->n++] = sv;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return 0;
fail:
    l->n = 0;
    return -EINVAL;
}
