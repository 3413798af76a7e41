/*
 * check: intercept --check (see check.h). Local checks only, in the order a
 * reader fixes them: privileges, devices, the filter against each target,
 * forwarding, rp_filter, the channel port; then, with --check-wait, the peers
 * that connect (check_peers.c), whose targets are tried on the filter too.
 */
#include <errno.h>
#include <stdarg.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "check_impl.h"
#include "finding.h"
#include "log.h"
#include "pkt.h"

#define CAP_NET_RAW_BIT 13

/* The reason, on one printable line: it quotes what the user gave. */
static int targets_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int targets_err(char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errbuf_set(err, errlen, "%s", msg); /* one printable line */
    return -EINVAL;
}

int icheck_targets_parse(const char *spec, struct icheck_target *t, size_t max, size_t *n,
                         char *err, size_t errlen)
{
    const char *s = spec;

    for (;;) {
        size_t len = strcspn(s, ",");
        char one[ADDR_STRLEN + 16], *colon, *host = one;
        unsigned long port;
        char *end;
        if (len == 0 || len >= sizeof(one))
            return targets_err(err, errlen, "--check-target '%s': expected ADDR:PORT[,...]", spec);
        memcpy(one, s, len);
        one[len] = '\0';
        colon = strrchr(one, ':');
        if (colon != NULL)
            *colon = '\0';
        if (one[0] == '[' && colon != NULL && colon > one + 1 && colon[-1] == ']') {
            host = one + 1;
            colon[-1] = '\0';
        }
        errno = 0;
        port = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;
        if (*n >= max || colon == NULL || colon[1] < '0' || colon[1] > '9' || *end != '\0' ||
            errno != 0 || port == 0 || port > 65535 || !addr_parse(&t[*n].addr, host))
            return targets_err(err, errlen, "--check-target '%.*s': expected ADDR:PORT "
                               "([ADDR]:PORT for IPv6), at most %zu", (int)len, s, max);
        t[(*n)++].port = (uint16_t)port;
        if (s[len] == '\0')
            return 0;
        s += len + 1;
    }
}

/* The synthetic reply: link header, then a SYN-ACK from t to a -c style client. */
static size_t synth_reply(uint8_t *buf, size_t cap, bool cooked, const struct icheck_target *t)
{
    struct pkt_spec sp;
    size_t hl = cooked ? SLL_HDR_LEN : 14;
    uint16_t proto = t->addr.af == AF_INET6 ? 0x86dd : 0x0800;

    memset(buf, 0, hl);
    if (cooked) {
        buf[3] = 1; /* ARPHRD_ETHER; packet type 0: to us */
        buf[5] = 6;
        buf[14] = (uint8_t)(proto >> 8), buf[15] = (uint8_t)proto;
    } else {
        memcpy(buf, "\x02\x00\x00\x00\x00\x30\x02\x00\x00\x00\x00\x20", 12);
        buf[12] = (uint8_t)(proto >> 8), buf[13] = (uint8_t)proto;
    }
    memset(&sp, 0, sizeof(sp));
    sp.t.src = t->addr;
    sp.t.sport = t->port;
    (void)addr_parse(&sp.t.dst, t->addr.af == AF_INET6 ? "2001:db8:3::1" : "203.0.113.1");
    sp.t.dport = 40000;
    sp.seq = 1000;
    sp.ack = 2001;
    sp.win = 65535;
    sp.flags = TCPF_SYN | TCPF_ACK;
    size_t n = pkt_build(buf + hl, cap - hl, &sp);
    return n == 0 ? 0 : hl + n;
}

int icheck_filter_matches(const char *filter, const char *device, int snaplen,
                          const struct icheck_target *t, char *err, size_t errlen)
{
    bool cooked = device == NULL || strcmp(device, "any") == 0;
    pcap_t *p = pcap_open_dead(cooked ? DLT_LINUX_SLL : DLT_EN10MB, snaplen > 0 ? snaplen : 65535);
    struct bpf_program prog;
    uint8_t pkt[256];
    int r;

    if (p == NULL) {
        errbuf_set(err, errlen, "libpcap: cannot open a dead capture");
        return -ENOMEM;
    }
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        errbuf_set(err, errlen, "%s", pcap_geterr(p));
        pcap_close(p);
        return -EINVAL;
    }
    size_t len = synth_reply(pkt, sizeof(pkt), cooked, t);
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)len, .len = (bpf_u_int32)len};
    r = len > 0 && pcap_offline_filter(&prog, &h, pkt) != 0 ? 1 : 0;
    pcap_freecode(&prog);
    pcap_close(p);
    return r;
}

/* ---- the checks ---- */

static void check_privileges(struct icheck *k)
{
    char line[256];
    unsigned long long caps = 0;
    FILE *fp = fopen("/proc/self/status", "r");

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "CapEff:", 7) == 0)
            caps = strtoull(line + 7, NULL, 16);
    if (fp != NULL)
        fclose(fp);
    if ((caps >> CAP_NET_RAW_BIT) & 1U) {
        findings_add(k->f, FINDING_OK, "privileges", "CAP_NET_RAW: the capture can open");
        return;
    }
    struct finding *x = findings_add(k->f, FINDING_FAIL, "no_privilege",
                                     "no CAP_NET_RAW: intercept cannot capture");
    finding_fix(x, "run intercept as root, or setcap cap_net_raw+ep $(command -v intercept)");
}

static void check_devices(struct icheck *k)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    for (size_t i = 0; i < k->o->ndevices; i++) {
        const char *dev = k->o->devices[i];
        struct ifreq ifr;
        struct finding *x;
        if (strcmp(dev, "any") == 0) {
            findings_add(k->f, FINDING_OK, "device", "-i any: every device is captured");
            continue;
        }
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
        if (strlen(dev) >= IFNAMSIZ || if_nametoindex(dev) == 0) {
            x = findings_add(k->f, FINDING_FAIL, "device_missing", "-i %s: no such device", dev);
            finding_fix(x, "give the device the target's replies arrive on (ip link), or -i any");
        } else if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
            x = findings_add(k->f, FINDING_FAIL, "device_down", "-i %s: the device is down", dev);
            finding_fix(x, "ip link set %s up", dev);
        } else {
            findings_add(k->f, FINDING_OK, "device", "-i %s: exists and is up", dev);
        }
    }
    if (fd >= 0)
        close(fd);
}

/* Try the filter on each target's reply, on each device's link type. */
static void check_filter(struct icheck *k)
{
    char err[PCAP_ERRBUF_SIZE + 64], tb[ADDR_STRLEN + 8];
    struct finding *x;

    for (size_t i = 0; i < k->ntargets; i++) {
        const struct icheck_target *t = &k->targets[i];
        addr_port_str(&t->addr, t->port, tb, sizeof(tb));
        int r = icheck_filter_matches(k->o->filter, k->o->devices[0], k->o->snaplen, t, err,
                                      sizeof(err));
        if (r < 0) {
            x = findings_add(k->f, FINDING_FAIL, "filter_invalid", "-F '%s' does not compile: %s",
                             k->o->filter, err);
            finding_fix(x, "write the filter in pcap-filter(7) syntax, e.g. -F 'tcp and src port "
                           "8080'");
            return;
        }
        if (r == 0) {
            x = findings_add(k->f, FINDING_FAIL, "filter_misses_target",
                             "-F '%s' does not match the replies of %s%s", k->o->filter, tb,
                             k->ngiven > i ? "" : " (a target tcpcopy named)");
            finding_fix(x, "widen the filter to the target's address and port, e.g. -F 'tcp and "
                           "src host %s and src port %u'",
                        addr_str(&t->addr, tb, sizeof(tb)), t->port);
            continue;
        }
        findings_add(k->f, FINDING_OK, "filter", "-F '%s' matches the replies of %s",
                     k->o->filter, tb);
    }
    if (k->ntargets == 0 &&
        icheck_filter_matches(k->o->filter, k->o->devices[0], k->o->snaplen,
                              &(struct icheck_target){.addr = {.af = AF_INET}, .port = 1}, err,
                              sizeof(err)) < 0) {
        x = findings_add(k->f, FINDING_FAIL, "filter_invalid", "-F '%s' does not compile: %s",
                         k->o->filter, err);
        finding_fix(x, "write the filter in pcap-filter(7) syntax, e.g. -F 'tcp and src port 8080'");
    } else if (k->ntargets == 0) {
        x = findings_add(k->f, FINDING_WARN, "filter_untested",
                         "-F '%s' compiles, but no target was given to try it on", k->o->filter);
        finding_fix(x, "name the targets with --check-target ADDR:PORT, or let tcpcopy connect "
                       "during --check-wait SEC");
    }
}

/* A sysctl's integer value, or -1 when it cannot be read. */
static int sysctl_int(const char *path)
{
    char buf[32];
    FILE *fp = fopen(path, "r");
    int v = -1;
    if (fp == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), fp) != NULL)
        v = atoi(buf);
    fclose(fp);
    return v;
}

static void check_forwarding(struct icheck *k)
{
    int v4 = sysctl_int("/proc/sys/net/ipv4/ip_forward");
    int v6 = sysctl_int("/proc/sys/net/ipv6/conf/all/forwarding");
    int rp = sysctl_int("/proc/sys/net/ipv4/conf/all/rp_filter");

    if (v4 == 1 || v6 == 1) {
        struct finding *x = findings_add(
            k->f, FINDING_FAIL, "ip_forward_on",
            "forwarding is on (%s): this host passes the target's replies on toward the clients "
            "they are addressed to, which then see answers to requests they never sent",
            v4 == 1 && v6 == 1 ? "IPv4 and IPv6" : v4 == 1 ? "net.ipv4.ip_forward=1"
                                                           : "net.ipv6.conf.all.forwarding=1");
        finding_fix(x, "sysctl -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 (and the "
                       "same in /etc/sysctl.d to keep it), or run intercept on a host that does "
                       "not route");
    } else {
        findings_add(k->f, FINDING_OK, "ip_forward", "forwarding is off: the replies stop here");
    }
    /* libpcap sees packets before the IP layer's reverse-path check: rp_filter here
     * does not hide replies from intercept (on the target it drops the copies). */
    findings_add(k->f, FINDING_OK, "rp_filter",
                 "net.ipv4.conf.all.rp_filter=%d here: no effect on the capture (on the target, "
                 "strict rp_filter can drop the copies: tcpcopy --check tells)", rp);
}

static void check_port(struct icheck *k)
{
    int r = icheck_listen(k);
    struct finding *x;

    if (r == 0) {
        findings_add(k->f, FINDING_OK, "port", "port %u is free: intercept can listen on it",
                     k->o->port);
    } else if (r == -EADDRINUSE) {
        x = findings_add(k->f, FINDING_WARN, "port_in_use",
                         "port %u is in use (a running intercept?): a second intercept with these "
                         "options cannot start, and no peer window is possible", k->o->port);
        finding_fix(x, "stop the other program, or give this one another port with -p (and "
                       "tcpcopy the same -p)");
    } else {
        x = findings_add(k->f, FINDING_FAIL, "port_unusable", "cannot listen on port %u: %s",
                         k->o->port, strerror(-r));
        finding_fix(x, "check -b (an address of this host) and -p");
    }
}

int icpt_check_run(const struct icpt_opts *o, FILE *out)
{
    static struct findings f; /* large: not on the stack */
    static struct icheck k;
    char err[256];

    memset(&k, 0, sizeof(k));
    k.o = o;
    k.f = &f;
    k.listen_fd = -1;
    findings_init(&f, "intercept");
    if (o->check_targets != NULL &&
        icheck_targets_parse(o->check_targets, k.targets, ICHECK_TARGETS_MAX, &k.ntargets, err,
                             sizeof(err)) < 0) {
        fprintf(stderr, "intercept: %s\n", err);
        return 2;
    }
    if (log_init("intercept", o->log_path, false) == 0)
        log_set_level(o->debug ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    k.ngiven = k.ntargets;
    check_privileges(&k);
    check_devices(&k);
    check_forwarding(&k);
    check_port(&k);
    icheck_peers(&k);
    check_filter(&k);
    if (k.listen_fd >= 0)
        close(k.listen_fd);
    if (o->json)
        findings_print_json(&f, out);
    else
        findings_print_text(&f, out);
    fflush(out);
    return findings_count(&f, FINDING_FAIL) == 0 ? 0 : 1;
}
