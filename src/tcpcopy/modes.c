/*
 * modes: open the capture and the sender that tcpcopy's options ask for (see
 * modes.h). Owns nothing after a call returns: the handles go to the caller.
 */
#include <errno.h>
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
#define MODES_SNAPLEN_DEFAULT 65535

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

int modes_default_filter(const struct xfer_map *m, char *buf, size_t len)
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

    if (flt == NULL) {
        if (modes_default_filter(&o->xfer, filter, sizeof(filter)) < 0) {
            snprintf(err, errlen, "the default capture filter is too long: give one with -F");
            return NULL;
        }
        flt = filter;
    }
    /* The default keeps a whole 64 KB datagram after the link header: outbound
     * segments are captured before TSO splits them, and a cut one would be a hole
     * in the session. -S given is taken as is. */
    uint32_t snaplen = o->snaplen == MODES_SNAPLEN_DEFAULT ? MODES_SNAPLEN_DEFAULT + 128 : o->snaplen;
    snprintf(list, sizeof(list), "%s", o->devices ? o->devices : "any");
    char *save = NULL;
    for (char *dev = strtok_r(list, ",", &save); dev; dev = strtok_r(NULL, ",", &save)) {
        if (n == MODES_DEVICES_MAX) {
            snprintf(err, errlen, "-i: at most %d devices", MODES_DEVICES_MAX);
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
        };
        caps[n] = capture_pcap_open(&pc, err, errlen);
        if (caps[n] == NULL)
            goto fail;
        n++;
        log_info("capturing on %s with libpcap, filter: %s", dev, flt);
    }
    if (n == 0) {
        snprintf(err, errlen, "-i: no device given");
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
    uint16_t ports[XFER_RULES_MAX];
    size_t np = xfer_ports(&o->xfer, ports, XFER_RULES_MAX);
    struct capture_raw_conf rc = {.ports = ports, .nports = np, .rcvbuf_bytes = 0};
    return capture_raw_open(&rc, err, errlen);
}

struct sender *modes_sender_open(const struct tc_opts *o, char *err, size_t errlen)
{
    struct sender_conf sc = {.batch = 64, .slot = o->mtu, .sndbuf_bytes = 0};
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
