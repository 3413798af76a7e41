/*
 * allow: who may connect to intercept's channel port (--allow, or loopback and the
 * subnets of this host's interfaces by default), and the polite refusal of the
 * others: a BYE naming the --allow that would admit them, then a clean close.
 */
#include "icpt_impl.h"
#include "log.h"

bool icpt_allowed(const struct icpt *ic, const struct addr *a)
{
    if (ic->allow_any)
        return true;
    for (size_t i = 0; i < ic->nallow; i++)
        if (addr_in_prefix(a, &ic->allow[i].net, ic->allow[i].prefix))
            return true;
    return false;
}

static int icpt_allow_push(struct icpt *ic, size_t *cap, const struct icpt_cidr *c)
{
    for (size_t i = 0; i < ic->nallow; i++)
        if (ic->allow[i].prefix == c->prefix && addr_eq(&ic->allow[i].net, &c->net))
            return 0;
    if (ic->nallow == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct icpt_cidr *p = realloc(ic->allow, ncap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        ic->allow = p;
        *cap = ncap;
    }
    ic->allow[ic->nallow++] = *c;
    return 0;
}

static unsigned icpt_mask_prefix(const uint8_t *m, size_t n)
{
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++)
        bits += (unsigned)__builtin_popcount(m[i]);
    return bits;
}

/* Loopback plus every subnet this host has an address in: where a tcpcopy on the
 * production LAN (or on this host) will connect from. */
int icpt_allow_defaults(struct icpt *ic, char *err, size_t errlen)
{
    size_t cap = 0;
    struct icpt_cidr c;
    struct ifaddrs *ifa0, *ifa;

    if (!icpt_cidr_parse(&c, "127.0.0.0/8") || icpt_allow_push(ic, &cap, &c) != 0)
        goto nomem;
    if (!icpt_cidr_parse(&c, "::1/128") || icpt_allow_push(ic, &cap, &c) != 0)
        goto nomem;
    if (getifaddrs(&ifa0) != 0) {
        errbuf_set(err, errlen, "getifaddrs: %s", strerror(errno));
        return -errno;
    }
    for (ifa = ifa0; ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || ifa->ifa_netmask == NULL)
            continue;
        uint16_t port;
        memset(&c, 0, sizeof(c));
        if (!addr_from_sockaddr(&c.net, &port, ifa->ifa_addr))
            continue;
        if (c.net.af == AF_INET) {
            const struct sockaddr_in *m = (const void *)ifa->ifa_netmask;
            c.prefix = (uint8_t)icpt_mask_prefix((const uint8_t *)&m->sin_addr, 4);
        } else {
            const struct sockaddr_in6 *m = (const void *)ifa->ifa_netmask;
            c.prefix = (uint8_t)icpt_mask_prefix((const uint8_t *)&m->sin6_addr, 16);
        }
        /* Normalise to the network address through the parser (clears host bits). */
        char a[ADDR_STRLEN], s[ADDR_STRLEN + 8];
        snprintf(s, sizeof(s), "%s/%u", addr_str(&c.net, a, sizeof(a)), c.prefix);
        if (!icpt_cidr_parse(&c, s))
            continue;
        if (icpt_allow_push(ic, &cap, &c) != 0) {
            freeifaddrs(ifa0);
            goto nomem;
        }
    }
    freeifaddrs(ifa0);
    return 0;
nomem:
    errbuf_set(err, errlen, "out of memory");
    return -ENOMEM;
}

void icpt_log_allow(struct icpt *ic)
{
    char line[1024], one[ADDR_STRLEN + 8];
    size_t n = 0;
    line[0] = '\0';
    for (size_t i = 0; i < ic->nallow && n < sizeof(line); i++) {
        int w = snprintf(line + n, sizeof(line) - n, "%s%s", i ? ", " : "",
                         icpt_cidr_str(&ic->allow[i], one, sizeof(one)));
        if (w < 0)
            break;
        n += (size_t)w;
    }
    log_info("accepting tcpcopy connections from %s", line);
}

void icpt_refuse(struct icpt *ic, int fd, const struct addr *a, uint16_t port)
{
    char name[ADDR_STRLEN], net[ADDR_STRLEN], s[ADDR_STRLEN + 8];
    struct icpt_cidr c;
    unsigned prefix = a->af == AF_INET ? 24 : 64;
    snprintf(s, sizeof(s), "%s/%u", addr_str(a, net, sizeof(net)), prefix);
    if (!icpt_cidr_parse(&c, s))
        c.net = *a;
    ic->st.peers_refused++;
    log_warnx_rl(&ic->rl_refused, icpt_now(ic),
                 "refused peer %s: not in --allow (add --allow %s to admit it)",
                 addr_port_str(a, port, name, sizeof(name)), icpt_cidr_str(&c, s, sizeof(s)));
    /* Tell it why before closing, so its operator reads the reason rather than a reset:
     * the BYE goes out, then our FIN; whatever it already sent is read and dropped first,
     * because closing with unread bytes would answer with a reset instead. */
    struct chan_out o;
    char why[160];
    snprintf(why, sizeof(why), "not allowed: intercept needs --allow %s", s);
    chan_out_init(&o, 512);
    if (hello_bye_put(&o, CHAN_BYE_REFUSED, why) == 0) {
        chan_out_seal(&o);
        (void)send(fd, buf_head(&o.buf), buf_len(&o.buf), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    chan_out_free(&o);
    (void)shutdown(fd, SHUT_WR);
    char junk[512];
    for (int i = 0; i < 8 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
        ;
    close(fd);
}

