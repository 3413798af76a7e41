/*
 * capture_pcap: the libpcap live backend of capture.h (intercept, and tcpcopy's
 * link-layer capture). Owns one pcap_t on one device (or "any") with its BPF
 * filter compiled in the kernel, non-blocking so the fd can sit in the event loop
 * beside sockets, in immediate or buffered mode as the caller asks (capture.h).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "capture_impl.h"
#include "log.h"

#define CAPTURE_PCAP_SNAPLEN_DEFAULT 65535
#define CAPTURE_PCAP_BUFFER_MB_DEFAULT 16
/* Buffered mode: how long a packet may wait in a ring block that is not full. libpcap
 * makes it the block's retire timeout (tp_retire_blk_tov, whole milliseconds; 0 would be
 * UINT_MAX ms: a quiet link's packets would wait for a full block), and the kernel wakes
 * the reader only when a block is retired. 1 ms, the least: measured on Linux 6.18,
 * packets every 1 ms on lo reach the callback 1.0 ms after their timestamp (median; p99
 * 2.1 ms) against 10 us in immediate mode; under tcpcopy's full-rate lab load (wrk -c50)
 * 70% of the packets are read within 1 ms, and tcpcopy's CPU per run with 1, 2 or 4 ms,
 * or immediate mode, was the same within the noise. The stall the ring absorbs is about
 * (blocks x timeout) while packets come at least once per timeout: a longer timeout
 * would stretch it too, but by delaying every packet; -B (256 KB a block) buys it with
 * memory instead. */
#define CAPTURE_PCAP_TIMEOUT_MS_DEFAULT 1

struct capture_pcap {
    pcap_t *p;
    int fd;
    int dlt;
    /* The callback of the dispatch in progress, for the trampoline. */
    capture_cb *cb;
    void *cb_arg;
};

static int capture_pcap_fd(void *priv)
{
    struct capture_pcap *cp = priv;
    return cp->fd;
}

/* libpcap's handler signature in, capture_cb out. */
static void capture_pcap_trampoline(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct capture_pcap *cp = (struct capture_pcap *)user;
    struct capture_pkt pkt = {
        .data = bytes,
        .caplen = h->caplen,
        .len = h->len,
        .ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec,
        .dlt = cp->dlt,
    };
    cp->cb(cp->cb_arg, &pkt);
}

static int capture_pcap_dispatch(void *priv, int max, capture_cb *cb, void *arg)
{
    struct capture_pcap *cp = priv;
    cp->cb = cb;
    cp->cb_arg = arg;
    /* max <= 0: every packet ready (on Linux: in every ring block handed to us). */
    int n = pcap_dispatch(cp->p, max > 0 ? max : -1, capture_pcap_trampoline, (u_char *)cp);
    cp->cb = NULL;
    cp->cb_arg = NULL;
    if (n == PCAP_ERROR_BREAK)
        return 0;
    if (n < 0) {
        /* Typically the device went away (PCAP_ERROR): the caller decides what next. */
        log_warnx("pcap: capture failed: %s", pcap_geterr(cp->p));
        return -EIO;
    }
    return n;
}

static uint64_t capture_pcap_drops(void *priv)
{
    struct capture_pcap *cp = priv;
    struct pcap_stat st;
    if (pcap_stats(cp->p, &st) != 0)
        return 0;
    /* ps_drop: no room in the ring; ps_ifdrop: dropped by the interface/driver. */
    return (uint64_t)st.ps_drop + (uint64_t)st.ps_ifdrop;
}

static void capture_pcap_free(void *priv)
{
    struct capture_pcap *cp = priv;
    if (cp->p != NULL)
        pcap_close(cp->p);
    free(cp);
}

static const struct capture_pcap_conf capture_pcap_conf_default;

static const struct capture_ops capture_pcap_ops = {
    .name = "pcap",
    .fd = capture_pcap_fd,
    .dispatch = capture_pcap_dispatch,
    .drops = capture_pcap_drops,
    .free = capture_pcap_free,
};

/*
 * Create (*pp) and activate a handle on dev with c's snaplen, ring and delivery mode.
 * 0, or -1 with "pcap DEV: ..." in err.
 */
static int capture_pcap_activate(pcap_t **pp, const struct capture_pcap_conf *c, const char *dev,
                                 char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    int snaplen = c->snaplen > 0 ? c->snaplen : CAPTURE_PCAP_SNAPLEN_DEFAULT;
    int buffer_mb = c->buffer_mb > 0 ? c->buffer_mb : CAPTURE_PCAP_BUFFER_MB_DEFAULT;

    pcap_t *p = *pp = pcap_create(dev, ebuf);
    if (p == NULL) {
        errbuf_set(err, errlen, "pcap %s: %s", dev, ebuf);
        return -1;
    }
    /* Setters only fail on an already activated handle, which this is not. */
    pcap_set_snaplen(p, snaplen);
    pcap_set_promisc(p, c->promisc ? 1 : 0);
    if (c->immediate) {
        /* Each packet as it arrives, not held until a block fills or times out. On
         * Linux this means TPACKET_V2, a ring of snaplen-sized frames. */
        pcap_set_immediate_mode(p, 1);
    } else {
        /* TPACKET_V3 (libpcap uses it whenever immediate mode is off): packets are
         * packed into blocks, so the ring's size counts bytes, not snaplen slots. */
        pcap_set_timeout(p,
                         c->timeout_ms > 0 ? c->timeout_ms : CAPTURE_PCAP_TIMEOUT_MS_DEFAULT);
    }
    pcap_set_buffer_size(p, buffer_mb * 1024 * 1024);

    int rc = pcap_activate(p);
    if (rc < 0) {
        const char *why = pcap_geterr(p);
        if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
            errbuf_set(err, errlen, "pcap %s: no such device (%s)", dev, why);
        else if (rc == PCAP_ERROR_PERM_DENIED)
            errbuf_set(err, errlen, "pcap %s: permission denied, root or CAP_NET_RAW needed (%s)",
                     dev, why);
        else if (rc == PCAP_ERROR_IFACE_NOT_UP)
            errbuf_set(err, errlen, "pcap %s: interface is down", dev);
        else
            errbuf_set(err, errlen, "pcap %s: %s: %s", dev, pcap_statustostr(rc), why);
        return -1;
    }
    if (rc > 0) {
        /* A warning (e.g. PCAP_WARNING_PROMISC_NOTSUP): it works, but say why it may
         * not work as well as expected. */
        log_warnx("pcap %s: %s: %s", dev, pcap_statustostr(rc), pcap_geterr(p));
    }
    return 0;
}

/* Compile and install filter on p (the kernel runs it). 0, or -1 with err. */
static int capture_pcap_set_filter(pcap_t *p, const char *dev, const char *filter, char *err,
                                   size_t errlen)
{
    struct bpf_program prog;

    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        errbuf_set(err, errlen, "pcap %s: bad filter '%s': %s", dev, filter, pcap_geterr(p));
        return -1;
    }
    int rc = pcap_setfilter(p, &prog);
    if (rc != 0)
        errbuf_set(err, errlen, "pcap %s: cannot install filter '%s': %s", dev, filter,
                 pcap_geterr(p));
    pcap_freecode(&prog);
    return rc != 0 ? -1 : 0;
}

struct capture *capture_pcap_wrap(pcap_t *p, const char *dev, const struct capture_pcap_conf *c,
                                  char *err, size_t errlen)
{
    struct capture_pcap *cp = calloc(1, sizeof(*cp));

    if (cp == NULL) {
        pcap_close(p);
        errbuf_set(err, errlen, "pcap %s: out of memory", dev);
        return NULL;
    }
    cp->p = p;
    cp->fd = -1;
    if (c->in_only && pcap_setdirection(cp->p, PCAP_D_IN) != 0) {
        errbuf_set(err, errlen, "pcap %s: cannot capture inbound only: %s", dev, pcap_geterr(cp->p));
        goto fail;
    }
    if (c->filter != NULL && c->filter[0] != '\0' &&
        capture_pcap_set_filter(cp->p, dev, c->filter, err, errlen) < 0)
        goto fail;
    cp->fd = pcap_get_selectable_fd(cp->p);
    if (cp->fd < 0) {
        errbuf_set(err, errlen, "pcap %s: no selectable fd", dev);
        goto fail;
    }
    cp->dlt = pcap_datalink(cp->p);

    struct capture *cap = capture_new(&capture_pcap_ops, cp);
    if (cap == NULL)
        errbuf_set(err, errlen, "pcap %s: out of memory", dev);
    return cap;

fail:
    capture_pcap_free(cp);
    return NULL;
}

struct capture *capture_pcap_open(const struct capture_pcap_conf *c, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = NULL;

    if (c == NULL)
        c = &capture_pcap_conf_default;
    const char *dev = c->device != NULL ? c->device : "any";
    int buffer_mb = c->buffer_mb > 0 ? c->buffer_mb : CAPTURE_PCAP_BUFFER_MB_DEFAULT;
    if (buffer_mb > CAPTURE_PCAP_BUFFER_MB_MAX) {
        errbuf_set(err, errlen, "pcap %s: a buffer of %d MB is too large (at most %d)", dev,
                 buffer_mb, CAPTURE_PCAP_BUFFER_MB_MAX);
        return NULL;
    }
    if (capture_pcap_activate(&p, c, dev, err, errlen) < 0)
        goto fail;
    /* Non-blocking, so the fd can sit in the event loop beside sockets. */
    if (pcap_setnonblock(p, 1, ebuf) != 0) {
        errbuf_set(err, errlen, "pcap %s: cannot set non-blocking: %s", dev, ebuf);
        goto fail;
    }
    return capture_pcap_wrap(p, dev, c, err, errlen);

fail:
    if (p != NULL)
        pcap_close(p);
    return NULL;
}
