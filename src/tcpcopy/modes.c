/*
 * modes: open the capture and the sender that tcpcopy's options ask for (see
 * modes.h). Owns nothing after a call returns: the handles go to the caller.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "log.h"
#include "modes.h"
#include "neigh.h"
#include "send.h"

#define MODES_DEVICES_MAX 16
#define MODES_NEIGH_TIMEOUT_MS 1000

/* Append to buf at *off; false once it no longer fits. */
static bool appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    if (*off >= len)
        return false;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *off) {
        *off = len;
        return false;
    }
    *off += (size_t)n;
    return true;
}

int modes_default_filter(const struct xfer_map *m, bool answers, char *buf, size_t len)
{
    char ab[ADDR_STRLEN];
    size_t off = 0;
    bool ok = true;

    if (len == 0)
        return -ENOSPC;
    buf[0] = '\0';
    ok = ok && appendf(buf, len, &off, "(");
    for (size_t i = 0; i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        ok = ok && appendf(buf, len, &off, "%s(tcp and dst port %u", i ? " or " : "",
                           r->online_port);
        if (!addr_is_any(&r->online))
            ok = ok && appendf(buf, len, &off, " and dst host %s",
                               addr_str(&r->online, ab, sizeof(ab)));
        ok = ok && appendf(buf, len, &off, ")");
    }
    ok = ok && appendf(buf, len, &off, ")");
    /* With direction "both" the capture also sees our own packets leaving toward the
     * target: when a target port is also a copied port, they would be copied again. */
    for (size_t i = 0; i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = addr_eq(&m->rules[k].target, &r->target) &&
                  m->rules[k].target_port == r->target_port;
        if (!dup)
            ok = ok && appendf(buf, len, &off, " and not (dst host %s and dst port %u)",
                               addr_str(&r->target, ab, sizeof(ab)), r->target_port);
    }
    /* --compare: the online server's answers too (what leaves from a copied port). */
    for (size_t i = 0; answers && i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        ok = ok && appendf(buf, len, &off, " or (tcp and src port %u", r->online_port);
        if (!addr_is_any(&r->online))
            ok = ok && appendf(buf, len, &off, " and src host %s",
                               addr_str(&r->online, ab, sizeof(ab)));
        ok = ok && appendf(buf, len, &off, ")");
    }
    if (!ok) {
        buf[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

static struct capture *modes_pcap_open(const struct tc_opts *o, char *err, size_t errlen)
{
    struct capture *caps[MODES_DEVICES_MAX];
    char filter[MODES_FILTER_MAX], list[256];
    const char *flt = o->filter;
    size_t n = 0;

    if (flt == NULL && o->decap.kind != DECAP_NONE) {
        /* The kernel sees only the outer packets; -x selects among the frames inside. */
        flt = decap_filter(&o->decap, filter, sizeof(filter));
    } else if (flt == NULL) {
        if (modes_default_filter(&o->xfer, o->compare_dir != NULL, filter, sizeof(filter)) < 0) {
            errbuf_set(err, errlen, "the default capture filter is too long: give one with -F");
            return NULL;
        }
        flt = filter;
    }
    /* The default keeps a whole 64 KB datagram after the link header: outbound
     * segments are captured before TSO splits them, and a cut one would be a hole
     * in the session. -S given is taken as is. */
    uint32_t snaplen = o->snaplen == TC_SNAPLEN_DEFAULT ? TC_SNAPLEN_DEFAULT + 128 : o->snaplen;
    snprintf(list, sizeof(list), "%s", o->devices ? o->devices : "any");
    char *save = NULL;
    for (char *dev = strtok_r(list, ",", &save); dev; dev = strtok_r(NULL, ",", &save)) {
        if (n == MODES_DEVICES_MAX) {
            errbuf_set(err, errlen, "-i: at most %d devices", MODES_DEVICES_MAX);
            goto fail;
        }
        /* Both directions: requests the online host itself sends to another server
         * are copied too; the filter keeps out what does not concern us. */
        struct capture_pcap_conf pc = {
            .device = dev,
            .filter = flt,
            .snaplen = (int)snaplen,
            .buffer_mb = (int)o->pcap_buffer_mb,
            .in_only = 0,
            /* Buffered (TPACKET_V3), not immediate: with whole packets kept, an
             * immediate-mode ring has one 64 KB frame per packet, and 16 MB held 256
             * packets, 20 ms of a 12,000 requests/s load: any stall of the process
             * overflowed it (test_pcap_modes.sh copied 47-74% then). Packed blocks
             * hold the same load for as long as -B allows (see the man page), at
             * the cost of up to a millisecond of delay (capture_pcap.c). */
            .immediate = 0,
            .timeout_ms = 0,
            .promisc = o->promisc,
        };
        caps[n] = capture_pcap_open(&pc, err, errlen);
        if (caps[n] == NULL)
            goto fail;
        n++;
        log_info("capturing on %s with libpcap, filter: %s", dev, flt);
    }
    if (n == 0) {
        errbuf_set(err, errlen, "-i: no device given");
        return NULL;
    }
    if (n == 1)
        return caps[0];
    return capture_multi_new(caps, n, err, errlen);

fail:
    for (size_t i = 0; i < n; i++)
        capture_free(caps[i]);
    return NULL;
}

struct capture *modes_capture_open(const struct tc_opts *o, char *err, size_t errlen)
{
    if (o->pcap_capture)
        return modes_pcap_open(o, err, errlen);
    /* A rule takes packets of its target's family only (xfer_match), so each
     * family's socket is opened, with that family's ports, only when a rule
     * needs it: no IPv6 socket on a host without IPv6 when nothing asks for it. */
    uint16_t ports[XFER_RULES_MAX], ports6[XFER_RULES_MAX];
    size_t np = xfer_ports_af(&o->xfer, AF_INET, ports, XFER_RULES_MAX);
    size_t np6 = xfer_ports_af(&o->xfer, AF_INET6, ports6, XFER_RULES_MAX);
    struct capture_raw_conf rc = {
        .ports = ports,
        .nports = np,
        .ports6 = ports6,
        .nports6 = np6,
        .families = (np ? CAPTURE_RAW_V4 : 0U) | (np6 ? CAPTURE_RAW_V6 : 0U),
        .rcvbuf_bytes = 0,
        .stamps = o->compare_dir != NULL, /* --compare: the online latency */
    };
    if (o->compare_dir != NULL) {
        /* --compare: the online server's answers leave the host, and the raw socket sees
         * only what arrives. One packet socket takes both directions, so each answer
         * comes after the request that caused it, in the kernel's order (two sockets have
         * none: an answer could be read before its session's SYN or after its end). */
        rc.inbound = true;
        log_info("capturing with a packet socket, requests and answers (--compare):%s%s",
                 np ? " IPv4" : "", np6 ? " IPv6" : "");
        return capture_raw_out_open(&rc, err, errlen);
    }
    log_info("capturing with raw sockets:%s%s", np ? " IPv4" : "", np6 ? " IPv6" : "");
    return capture_raw_open(&rc, err, errlen);
}

struct sender *modes_sender_open(const struct tc_opts *o, char *err, size_t errlen)
{
    struct sender_conf sc = {.slot = o->mtu}; /* batch and send buffer: the sender's defaults */
    if (!o->pcap_send)
        return sender_raw_open(&sc, err, errlen);

    struct sender_link_dst dsts[XFER_RULES_MAX];
    char ab[ADDR_STRLEN], mb[24];
    size_t n = 0;
    for (size_t i = 0; i < o->xfer.n; i++) {
        const struct xfer_rule *r = &o->xfer.rules[i];
        size_t k;
        for (k = 0; k < n && !addr_eq(&dsts[k].ip, &r->target); k++)
            ;
        if (k < n)
            continue; /* one MAC per target address: the first rule's */
        struct sender_link_dst *d = &dsts[n];
        memset(d, 0, sizeof(*d));
        d->ip = r->target;
        if (r->has_target_mac) {
            memcpy(d->mac, r->target_mac, 6);
        } else if (neigh_resolve(&r->target, o->out_dev, d->mac, MODES_NEIGH_TIMEOUT_MS, err,
                                 errlen) < 0) {
            return NULL;
        }
        if (r->has_online_mac) {
            memcpy(d->src_mac, r->online_mac, 6);
            d->has_src = true;
        }
        log_info("sending to %s on %s via MAC %s%s", addr_str(&r->target, ab, sizeof(ab)),
                 o->out_dev, neigh_mac_str(d->mac, mb, sizeof(mb)),
                 r->has_target_mac ? " (from -x)" : " (neighbour table)");
        n++;
    }
    struct sender_link_conf lc = {.device = o->out_dev, .dsts = dsts, .ndst = n};
    return sender_link_open(&sc, &lc, err, errlen);
}

/* Addresses of this host that the rule check compares with (more are ignored). */
#define MODES_LOCAL_MAX 4096

/* The host's addresses (getifaddrs), up to max. -errno on failure. */
static int modes_local_addrs(struct addr *out, size_t max, size_t *n)
{
    struct ifaddrs *ifa, *i;

    *n = 0;
    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (i = ifa; i != NULL && *n < max; i = i->ifa_next) {
        uint16_t port;
        if (i->ifa_addr != NULL && addr_from_sockaddr(&out[*n], &port, i->ifa_addr))
            (*n)++;
    }
    freeifaddrs(ifa);
    return 0;
}

size_t modes_warn_rules(const struct tc_opts *o)
{
    static struct addr local[MODES_LOCAL_MAX];
    char rb[2 * ADDR_STRLEN + 8], ab[ADDR_STRLEN];
    size_t nlocal = 0, warned = 0;
    bool raw = !o->pcap_capture && !o->offline;
    int rc = raw ? modes_local_addrs(local, MODES_LOCAL_MAX, &nlocal) : 0;

    if (rc < 0)
        log_warnx("getifaddrs: %s: cannot check the -x rules against this host's addresses",
                  strerror(-rc));
    for (size_t i = 0; i < o->xfer.n; i++) {
        const struct xfer_rule *r = &o->xfer.rules[i];
        const struct xfer_rule *by = xfer_shadowed_by(&o->xfer, i);

        xfer_rule_str(r, rb, sizeof(rb));
        if (by != NULL) {
            log_warnx("-x rule %zu '%s' copies nothing: rule %zu takes every packet to port %u "
                      "first (put the rule with an address before it)",
                      i + 1, rb, (size_t)(by - o->xfer.rules) + 1, r->online_port);
            warned++;
        } else if (raw && rc == 0 && !xfer_rule_is_local(r, local, nlocal)) {
            /* The raw socket sees only what this host's stack delivers to itself;
             * a mirror port or another host's address needs --pcap-capture. */
            if (addr_is_any(&r->online))
                log_warnx("-x rule %zu '%s' copies nothing: this host has no %s address, and "
                          "the raw socket capture sees only packets delivered to this host",
                          i + 1, rb, r->target.af == AF_INET6 ? "IPv6" : "IPv4");
            else
                log_warnx("-x rule %zu '%s' copies nothing: %s is not an address of this host, "
                          "and the raw socket capture sees only packets delivered to this host "
                          "(--pcap-capture sees others)",
                          i + 1, rb, addr_str(&r->online, ab, sizeof(ab)));
            warned++;
        }
    }
    return warned;
}
