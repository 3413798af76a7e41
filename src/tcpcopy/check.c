/*
 * check: tcpcopy --check (see check.h). This file runs the checks in order and
 * owns the local ones: privileges, the capture, the route and MTU toward each
 * target and a plain connection to its port; then it combines what the direct
 * connection and the probe (check_probe.c) found into one verdict per target,
 * naming the hop that fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "check.h"
#include "check_impl.h"
#include "log.h"
#include "modes.h"
#include "pkt.h"

#define CHECK_CONNECT_MS 3000
#define CAP_NET_RAW_BIT 13

/* ---- privileges ---- */

/* The effective capability set from /proc (no libcap needed); 0 if unreadable. */
static unsigned long long cap_effective(void)
{
    char line[256];
    unsigned long long caps = 0;
    FILE *fp = fopen("/proc/self/status", "r");
    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "CapEff:", 7) == 0)
            caps = strtoull(line + 7, NULL, 16);
    fclose(fp);
    return caps;
}

static void check_privileges(struct check *k)
{
    k->priv = (cap_effective() >> CAP_NET_RAW_BIT) & 1U;
    if (k->priv) {
        findings_add(k->f, FINDING_OK, "privileges", "%s, with CAP_NET_RAW",
                     geteuid() == 0 ? "running as root" : "not root");
        return;
    }
    struct finding *x = findings_add(k->f, FINDING_FAIL, "no_privilege",
                                     "no CAP_NET_RAW: tcpcopy cannot capture nor send raw "
                                     "packets (capture and probe not checked)");
    finding_fix(x, "run tcpcopy as root, or give it the capability: setcap cap_net_raw+ep "
                   "$(command -v tcpcopy)");
}

/* ---- capture ---- */

static void on_packet(void *arg, const struct capture_pkt *cp)
{
    struct check *k = arg;
    struct pkt p;

    if (pkt_parse_link(&p, cp->dlt, cp->data, cp->caplen, PKT_PARSE_HDRONLY) != PKT_OK)
        return;
    const struct xfer_rule *r = xfer_match(&k->o->xfer, &p.t.dst, p.t.dport);
    if (r == NULL)
        return;
    struct check_rule *cr = &k->rules[r - k->o->xfer.rules];
    if (!cr->seen) {
        cr->seen = true;
        cr->client = p.t.src;
    }
}

static bool all_seen(const struct check *k)
{
    for (size_t i = 0; i < k->o->xfer.n; i++)
        if (!k->rules[i].seen)
            return false;
    return true;
}

static void capture_findings(struct check *k)
{
    const struct tc_opts *o = k->o;
    char rb[128];

    for (size_t i = 0; i < o->xfer.n; i++) {
        const struct xfer_rule *r = &o->xfer.rules[i];
        xfer_rule_str(r, rb, sizeof(rb));
        if (k->rules[i].seen) {
            findings_add(k->f, FINDING_OK, "capture", "-x %s: client packets to port %u captured",
                         rb, r->online_port);
            continue;
        }
        struct finding *x = findings_add(
            k->f, FINDING_FAIL, "capture_no_traffic",
            "-x %s: no client packet to port %u captured within %u s%s", rb, r->online_port,
            o->check_wait_s, o->pcap_capture ? " (libpcap)" : " (raw socket)");
        finding_fix(x, "make sure clients use the service during the check (or raise "
                       "--check-wait); check that %u is the port the service listens on and "
                       "that its clients come in %s (an IPv6 service needs an IPv6 -x rule)%s",
                    r->online_port, r->target.af == AF_INET6 ? "over IPv6" : "over IPv4",
                    o->pcap_capture ? ""
                                    : "; the raw socket sees only packets delivered to this "
                                      "host's own addresses: try --pcap-capture (-i DEV)");
    }
}

static void check_capture(struct check *k)
{
    char err[512];

    if (k->o->offline) {
        findings_add(k->f, FINDING_OK, "capture", "offline replay of %s: no live capture",
                     k->o->devices);
        return;
    }
    struct capture *cap = modes_capture_open(k->o, err, sizeof(err));
    if (cap == NULL) {
        struct finding *x = findings_add(k->f, FINDING_FAIL, "capture_open", "%s", err);
        finding_fix(x, "run as root; with --pcap-capture or -i, check the device names "
                       "(ip link)");
        return;
    }
    uint64_t deadline = now_monotonic_us() + (uint64_t)k->o->check_wait_s * 1000000;
    while (!all_seen(k)) {
        uint64_t now = now_monotonic_us();
        if (now >= deadline)
            break;
        struct pollfd pfd = {.fd = capture_fd(cap), .events = POLLIN};
        int left = (int)((deadline - now) / 1000) + 1;
        if (poll(&pfd, 1, left < 100 ? left : 100) > 0 && capture_dispatch(cap, 64, on_packet, k) < 0)
            break;
    }
    capture_free(cap);
    capture_findings(k);
}

/* ---- routes, MTU and a plain connection to each target ---- */

/* The route's MTU toward a (a connected UDP socket asks the kernel); 0 or -errno. */
static int route_mtu(const struct addr *a, uint16_t port, int *mtu)
{
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)addr_to_sockaddr(a, port, &ss);
    int fd = socket(a->af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int r = 0;

    if (fd < 0)
        return -errno;
    socklen_t ml = sizeof(*mtu);
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0)
        r = -errno;
    else if (getsockopt(fd, a->af == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                        a->af == AF_INET6 ? IPV6_MTU : IP_MTU, mtu, &ml) != 0)
        *mtu = 0;
    close(fd);
    return r;
}

/* A TCP connection from this host to a:port, closed at once. */
static enum check_direct direct_connect(const struct addr *a, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)addr_to_sockaddr(a, port, &ss);
    int fd = socket(a->af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r;

    if (fd < 0)
        return DIRECT_SILENT;
    r = connect(fd, (struct sockaddr *)&ss, sl) == 0 ? 0 : -errno;
    if (r == -EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t el = sizeof(e);
        r = poll(&pfd, 1, CHECK_CONNECT_MS) <= 0 ? -ETIMEDOUT
            : getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 ? -e : -errno;
    }
    close(fd);
    if (r == 0)
        return DIRECT_OPEN;
    if (r == -ECONNREFUSED)
        return DIRECT_REFUSED;
    if (r == -ENETUNREACH || r == -EHOSTUNREACH)
        return DIRECT_NOROUTE;
    return DIRECT_SILENT;
}

static void check_targets(struct check *k)
{
    const struct xfer_map *m = &k->o->xfer;
    char ab[ADDR_STRLEN];

    for (size_t i = 0; i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        for (size_t j = 0; j < i; j++)
            if (addr_eq(&m->rules[j].target, &r->target) && m->rules[j].target_port == r->target_port)
                k->rules[i].dup = true;
        if (k->rules[i].dup)
            continue;
        int mtu = 0;
        if (route_mtu(&r->target, r->target_port, &mtu) < 0) {
            k->rules[i].direct = DIRECT_NOROUTE;
            continue;
        }
        addr_str(&r->target, ab, sizeof(ab));
        if (mtu > 0 && (uint32_t)mtu < k->o->mtu && !k->o->pcap_send) {
            struct finding *x = findings_add(k->f, FINDING_WARN, "mtu_exceeds_path",
                                             "-M %u is larger than the route MTU %d toward %s: "
                                             "full-size segments are refused (EMSGSIZE)",
                                             k->o->mtu, mtu, ab);
            finding_fix(x, "use -M %d (or raise the MTU of the route toward %s)", mtu, ab);
        } else if (mtu > 0) {
            findings_add(k->f, FINDING_OK, "route", "a route toward %s, MTU %d (-M %u)", ab, mtu,
                         k->o->mtu);
        }
        k->rules[i].direct = direct_connect(&r->target, r->target_port);
    }
}

/* ---- verdicts ---- */

/* The -c range to route, as the target's "ip route add" wants it: the probe address's
 * /24 (/64) when -c names several addresses (the a.b.c.x forms), else the address. */
static char *client_net(const struct check *k, const struct addr *a, char *buf, size_t len)
{
    struct addr net = *a;
    char ab[ADDR_STRLEN];
    bool range = k->o->cmap.n > 1;
    unsigned prefix = a->af == AF_INET6 ? (range ? 64 : 128) : (range ? 24 : 32);

    if (range)
        memset(&net.u.b[a->af == AF_INET6 ? 8 : 3], 0, a->af == AF_INET6 ? 8 : 1);
    snprintf(buf, len, "%s/%u", addr_str(&net, ab, sizeof(ab)), prefix);
    return buf;
}

static void verdict_silent(struct check *k, size_t i, const char *tb, const char *sb)
{
    const struct xfer_rule *r = &k->o->xfer.rules[i];
    struct finding *x;
    char ab[ADDR_STRLEN], cb[ADDR_STRLEN], nb[ADDR_STRLEN + 8];
    const char *ast = k->o->servers.n > 0 ? addr_str(&k->o->servers.s[0].addr, ab, sizeof(ab)) : "?";

    if (k->rules[i].direct == DIRECT_REFUSED) {
        x = findings_add(k->f, FINDING_FAIL, "target_port_closed",
                         "%s refuses connections (RST): nothing listens on port %u", tb,
                         r->target_port);
        finding_fix(x, "start the service on the target, or correct the target port in -x");
        return;
    }
    if (k->rules[i].direct != DIRECT_OPEN) {
        x = findings_add(k->f, FINDING_FAIL, "target_unreachable",
                         "%s does not answer: no SYN-ACK or RST to this host, none reported by "
                         "intercept", tb);
        finding_fix(x, "check that the target is up and reachable from this host (ip route get "
                       "%s), and that no firewall on the way or on the target drops port %u",
                    addr_str(&r->target, cb, sizeof(cb)), r->target_port);
        return;
    }
    x = findings_add(k->f, FINDING_FAIL, "probe_no_reply",
                     "%s accepts connections from this host, but intercept reported no reply to "
                     "the probe from %s: the target's replies to the -c addresses do not reach "
                     "intercept", tb, sb);
    finding_fix(x, "on the target: route the -c addresses via the assistant host (ip route add "
                   "%s via %s; 'ip route get %s' must show it), set rp_filter to 0 or 2 "
                   "(sysctl net.ipv4.conf.all.rp_filter; strict rp_filter drops the copies when "
                   "that route leaves by another interface), check its firewall; on the "
                   "assistant host: intercept --check --check-target %s",
                client_net(k, &k->rules[i].psrc, nb, sizeof(nb)), ast,
                addr_str(&k->rules[i].psrc, cb, sizeof(cb)), tb);
}

static void verdict(struct check *k, size_t i)
{
    const struct xfer_rule *r = &k->o->xfer.rules[i];
    const struct check_rule *cr = &k->rules[i];
    char tb[ADDR_STRLEN + 8], sb[ADDR_STRLEN + 8], ab[ADDR_STRLEN];
    struct finding *x;

    addr_port_str(&r->target, r->target_port, tb, sizeof(tb));
    addr_port_str(&cr->psrc, cr->psport, sb, sizeof(sb));
    addr_str(&r->target, ab, sizeof(ab));
    switch (cr->probe) {
    case PROBE_SYNACK:
        findings_add(k->f, FINDING_OK, "probe",
                     "probe %s -> %s: the target answered (SYN-ACK) and intercept reported it; "
                     "closed with RST", sb, tb);
        return;
    case PROBE_RST:
        x = findings_add(k->f, FINDING_FAIL, "target_port_closed",
                         "probe %s -> %s: the target answered RST (reported by intercept): "
                         "nothing listens on port %u", sb, tb, r->target_port);
        finding_fix(x, "start the service on the target, or correct the target port in -x");
        return;
    case PROBE_EPERM:
        x = findings_add(k->f, FINDING_FAIL, "send_blocked",
                         "probe %s -> %s: the kernel refused to send it (EPERM): a firewall "
                         "OUTPUT rule on this host drops tcpcopy's packets", sb, tb);
        finding_fix(x, "allow output to %s from the -c addresses (see 'nft list ruleset' and "
                       "'iptables -S OUTPUT'), or send at the link layer with --pcap-send -o DEV",
                    tb);
        return;
    case PROBE_ACK_EPERM:
        x = findings_add(k->f, FINDING_FAIL, "send_blocked",
                         "probe %s -> %s: the SYN left and the target answered, but the kernel "
                         "refused the handshake's ACK (EPERM): a firewall OUTPUT rule drops what "
                         "conntrack calls invalid (this host never sees the target's SYN-ACK)",
                         sb, tb);
        finding_fix(x, "exempt the -c addresses from conntrack on this host (nft: a 'notrack' "
                       "rule in an output chain of priority raw; iptables -t raw -A OUTPUT -s "
                       "ADDRS -j NOTRACK), or drop the 'ct state invalid' rule for them, or send "
                       "with --pcap-send -o DEV");
        return;
    case PROBE_SILENT:
        verdict_silent(k, i, tb, sb);
        return;
    case PROBE_ERROR:
        findings_add(k->f, FINDING_FAIL, "probe_error", "probe -> %s: %s", tb, cr->why);
        return;
    case PROBE_UNREACH:
    case PROBE_NOT_RUN:
        break;
    }
    if (cr->direct == DIRECT_NOROUTE || cr->probe == PROBE_UNREACH) {
        x = findings_add(k->f, FINDING_FAIL, "target_no_route", "no route from this host to %s",
                         ab);
        finding_fix(x, "add a route toward the target (ip route get %s shows what is missing)", ab);
    } else if (cr->direct == DIRECT_REFUSED || cr->direct == DIRECT_SILENT) {
        verdict_silent(k, i, tb, sb);
    } else if (cr->direct == DIRECT_OPEN) {
        findings_add(k->f, FINDING_OK, "target_port", "%s accepts connections from this host", tb);
    }
    if (cr->why[0] != '\0') {
        x = findings_add(k->f, FINDING_WARN, "probe_skipped", "no probe toward %s: %s", tb, cr->why);
        finding_fix(x, "give -c addresses, or run the check while clients use the service");
    }
}

void check_verdicts(struct check *k)
{
    for (size_t i = 0; i < k->o->xfer.n; i++)
        if (!k->rules[i].dup)
            verdict(k, i);
}

int check_run(const struct tc_opts *o, FILE *out)
{
    static struct findings f; /* large: not on the stack */
    struct check *k = calloc(1, sizeof(*k));

    if (k == NULL) {
        fputs("tcpcopy: --check: out of memory\n", stderr);
        return 1;
    }
    if (log_init("tcpcopy", o->log_path, false) == 0)
        log_set_level(o->debug ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    findings_init(&f, "tcpcopy");
    k->o = o;
    k->f = &f;
    check_privileges(k);
    if (k->priv)
        check_capture(k);
    check_targets(k);
    check_intercepts(k);
    if (k->priv)
        check_probe_run(k);
    check_verdicts(k);
    check_intercepts_close(k);
    free(k);
    if (o->json)
        findings_print_json(&f, out);
    else
        findings_print_text(&f, out);
    fflush(out);
    return findings_count(&f, FINDING_FAIL) == 0 ? 0 : 1;
}
