/*
 * icpt: the intercept daemon (see icpt.h). Owns the loop, the captures, the
 * listening sockets, the peers (one per connected tcpcopy), the route table and
 * the FIFO of replies waiting for their route.
 *
 * A peer's life:
 *
 *   accept -- not in --allow --> closed
 *     |
 *   WAIT_HELLO -- no HELLO in 5 s, or a bad one --> closed
 *     |  HELLO (role tcpcopy): we answer with ours
 *     |  (--secret-file: ours is followed by our AUTH proof, then
 *   WAIT_AUTH -- no AUTH within the same 5 s, a bad one, a secret on one side only
 *     |          --> BYE code 3, "refused peer A:P: ...", closed)
 *   UP: ROUTE_ADD / ROUTE_DEL / HEARTBEAT in, REPLY records and HEARTBEAT out
 *     |  BYE, EOF, a malformed frame, a write error, 30 s of silence
 *   closed: its routes are removed (O(its routes)), nothing else is affected
 *
 * Output never blocks the daemon: each peer has a bounded chan_out, replies that
 * do not fit are counted as dropped for that peer, and all peers with something
 * queued are written once per loop iteration (before_sleep), so a burst of
 * captured replies leaves in a few large writes.
 *
 * With exactly one peer up, every captured reply goes to it without a route
 * lookup (the original's --single, chosen automatically): a reply that tcpcopy
 * does not know is harmless there (it counts it as "no session"), and no reply
 * waits in the hold FIFO for a registration. Routes are still kept, so a
 * second peer joining switches back to routing with nothing lost.
 */
#include <time.h>

#include "icpt_impl.h"
#include "icstats.h"
#include "statsout.h"
#include "log.h"

/* A reply whose capture timestamp is further behind than this says the clock jumped
 * (the realtime clock is set), not that the reply waited: not a lag sample. */
#define ICPT_LAG_MAX_US (60ULL * 1000000)

/* ---- capture ---- */

static void icpt_on_packet(void *arg, const struct capture_pkt *cp)
{
    struct icpt *ic = arg;
    struct pkt p;

    ic->st.captured++;
    int e = pkt_parse_link(&p, cp->dlt, cp->data, cp->caplen, PKT_PARSE_HDRONLY);
    if (e != PKT_OK) {
        e = -e;
        if (e <= 0 || e >= PKT_E_COUNT)
            e = PKT_E_TRUNC;
        ic->st.parse_err[e]++;
        log_warnx_rl(&ic->rl_parse, icpt_now(ic), "captured packet not parsed: %s", pkt_err_str(e));
        return;
    }
    /* IP + TCP headers: tcpcopy learns the payload length from the IP length field,
     * which still describes the whole datagram. */
    size_t hlen = (size_t)p.ip_hlen + p.tcp_hlen;
    if (hlen > p.cap_len || hlen > CHAN_REPLY_HDR_MAX) {
        ic->st.toolong++;
        log_warnx_rl(&ic->rl_toolong, icpt_now(ic),
                     "reply headers of %zu bytes (captured %" PRIu32 ") exceed a reply record "
                     "(%d): not forwarded",
                     hlen, p.cap_len, CHAN_REPLY_HDR_MAX);
        return;
    }
    /* The lag from the kernel's capture timestamp (libpcap: realtime) to here, where
     * the reply is queued for its tcpcopy (written at the end of this loop turn). The
     * clock is read once per batch: a reply captured during the batch counts as 0. */
    if (cp->ts_us != 0 && (ic->rt_now_us < cp->ts_us || ic->rt_now_us - cp->ts_us < ICPT_LAG_MAX_US)) {
        ic->st.lag_us += ic->rt_now_us > cp->ts_us ? ic->rt_now_us - cp->ts_us : 0;
        ic->st.lag_samples++;
    }
    const uint8_t *hdr = p.ip;
    uint8_t copy[CHAN_REPLY_HDR_MAX];
    if (ic->o->docker && addr_eq(&p.t.src, &ic->o->docker_ip)) {
        /* -D: the target answers from its container address; tcpcopy knows it by the
         * address it sends to. The capture buffer is read-only: rewrite a copy. */
        memcpy(copy, p.ip, hlen);
        pkt_set_src(copy, &p, &ic->o->orig_ip);
        hdr = copy;
        ic->st.docker_rewritten++;
    }
    /* A peer that takes payload needs the route's flag: no fast path for it. */
    if (ic->single != NULL && !ic->single->payload) {
        ic->st.fast++;
        peer_forward(ic->single, hdr, hlen, cp->ts_us);
        return;
    }
    if (ic->nup == 0)
        ic->st.nopeer++;
    /* The reply goes target -> client: its destination is the session's client. */
    struct route_key k;
    uint8_t fl = 0;
    route_key_set(&k, &p.t.dst, p.t.dport, &p.t.src, p.t.sport);
    struct route_owner *o = route_lookup_flags(ic->routes, &k, &fl);
    if (o == NULL && ic->single != NULL) {
        ic->st.fast++;
        peer_forward(ic->single, hdr, hlen, cp->ts_us);
        return;
    }
    if (o == NULL) {
        route_hold_put(ic->hold, &k, hdr, hlen, icpt_now(ic));
        return;
    }
    struct peer *pe = peer_of_owner(o);
    if ((fl & CHAN_ROUTE_F_PAYLOAD) && pe->payload)
        peer_forward_payload(pe, &p, hdr, hlen, cp->ts_us);
    else
        peer_forward(pe, hdr, hlen, cp->ts_us);
}

static void icpt_capture_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct icpt_cap *c = arg;
    struct icpt *ic = c->ic;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ic->rt_now_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    int n = capture_dispatch(c->cap, ICPT_DISPATCH_MAX, icpt_on_packet, ic);
    if (n >= 0)
        return;
    log_msg(LOG_LVL_ERR, 0, "capture on %s failed (%s): no longer capturing there", c->dev,
            strerror(-n));
    loop_fd_del(ic->loop, c->fd);
    capture_free(c->cap);
    c->cap = NULL;
    size_t live = 0;
    for (size_t i = 0; i < ic->ncaps; i++)
        live += ic->caps[i].cap != NULL;
    if (live == 0) {
        log_msg(LOG_LVL_ERR, 0, "no capture left: exiting");
        ic->exit_err = -EIO;
        loop_stop(ic->loop);
    }
}

/* ---- listening ---- */

static int icpt_listen_one(struct icpt *ic, const struct addr *a, uint16_t port, char *err,
                           size_t errlen)
{
    struct sockaddr_storage ss;
    char name[ADDR_STRLEN];
    size_t sl = addr_to_sockaddr(a, port, &ss);
    int one = 1;
    int fd = socket(a->af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        errbuf_set(err, errlen, "listen on %s: socket: %s",
                 addr_port_str(a, port, name, sizeof(name)), strerror(e));
        return -e;
    }
    /* Restarting intercept must not wait for TIME_WAIT of the previous run. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* The IPv4 socket serves IPv4: keep the IPv6 one from claiming it (mapped). */
    if (a->af == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) != 0 || listen(fd, ICPT_BACKLOG) != 0) {
        int e = errno;
        errbuf_set(err, errlen, "listen on %s: %s", addr_port_str(a, port, name, sizeof(name)),
                 strerror(e));
        close(fd);
        return -e;
    }
    int rc = loop_fd_add(ic->loop, fd, LOOP_READ, icpt_accept_cb, ic);
    if (rc < 0) {
        errbuf_set(err, errlen, "listen on %s: %s", addr_port_str(a, port, name, sizeof(name)),
                 strerror(-rc));
        close(fd);
        return rc;
    }
    ic->lfds[ic->nlfds++] = fd;
    log_info("listening on %s", addr_port_str(a, port, name, sizeof(name)));
    return 0;
}

static int icpt_listen(struct icpt *ic, char *err, size_t errlen)
{
    const struct icpt_opts *o = ic->o;
    if (!addr_is_any(&o->bind))
        return icpt_listen_one(ic, &o->bind, o->port, err, errlen);

    struct addr any4, any6;
    static const uint8_t zero[16];
    addr_set_v4(&any4, zero);
    addr_set_v6(&any6, zero);
    int rc4 = icpt_listen_one(ic, &any4, o->port, err, errlen);
    if (rc4 < 0)
        return rc4;
    char err6[256];
    int rc6 = icpt_listen_one(ic, &any6, o->port, err6, sizeof(err6));
    /* A host without IPv6 is fine: IPv4 is enough. */
    if (rc6 < 0)
        log_info("no IPv6 listener (%s)", err6);
    return 0;
}

/* ---- signals, timers ---- */

static void icpt_signal_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct icpt *ic = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            log_reopen();
            log_info("SIGHUP: log reopened");
            break;
        case SIGUSR1: /* the --stats-json file now */
            statsout_write(ic->so);
            break;
        case SIGTERM:
        case SIGINT:
            log_info("%s: exiting", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            loop_stop(ic->loop);
            break;
        default:
            break;
        }
    }
}

static void icpt_heartbeat_cb(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    uint64_t now = icpt_now(ic);
    struct peer *pe, *next;
    for (pe = LIST_FIRST(&ic->peers); pe != NULL; pe = next) {
        next = LIST_NEXT(pe, link);
        if (!pe->up)
            continue; /* its HELLO deadline covers it */
        if ((pe->features & CHAN_FEAT_HEARTBEAT) && now - pe->last_rx_us > ICPT_PEER_IDLE_US) {
            peer_close(pe, LOG_LVL_WARN, "silent for %llu s",
                       (unsigned long long)(ICPT_PEER_IDLE_US / 1000000));
            continue;
        }
        /* A full buffer means we are sending anyway: skip, it would only be dropped. */
        if (peer_put_heartbeat(pe) == 0)
            peer_want_flush(pe);
    }
    route_hold_expire(ic->hold, now);
    loop_timer_set(l, &ic->hb_timer, now + ICPT_HEARTBEAT_US, icpt_heartbeat_cb, ic);
}

static void icpt_stats_cb(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    icpt_log_stats(ic);
    statsout_write(ic->so);
    loop_timer_set(l, &ic->stats_timer, icpt_now(ic) + ICPT_STATS_US, icpt_stats_cb, ic);
}

static void icpt_before_sleep(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    struct peer *pe;
    /* One write per peer per iteration: everything captured in this turn leaves
     * together. */
    while ((pe = TAILQ_FIRST(&ic->flush)) != NULL) {
        TAILQ_REMOVE(&ic->flush, pe, flush_link);
        pe->in_flush = false;
        peer_flush(pe);
    }
}

static uint64_t icpt_kernel_drops(struct icpt *ic)
{
    uint64_t kdrops = 0;
    for (size_t i = 0; i < ic->ncaps; i++)
        if (ic->caps[i].cap != NULL)
            kdrops += capture_kernel_drops(ic->caps[i].cap);
    return kdrops;
}

/* The counter table of --stats-json and --metrics (icstats.c). */
static void icpt_fill(void *arg, struct metrics *m)
{
    struct icpt *ic = arg;
    struct icstats_src src = {
        .st = &ic->st, .rs = route_table_stats(ic->routes), .hs = route_hold_stats(ic->hold),
        .routes = route_count(ic->routes), .held = route_hold_count(ic->hold),
        .peers = ic->npeers, .peers_up = ic->nup, .kernel_drops = icpt_kernel_drops(ic),
        .uptime_s = (double)(loop_update_time(ic->loop) - ic->t0_us) / 1e6, .version = TC_VERSION,
    };
    icstats_fill(m, &src);
}

void icpt_log_stats(struct icpt *ic)
{
    char perr[512];
    size_t n = 0;
    uint64_t perr_total = 0;
    perr[0] = '\0';
    for (int i = 1; i < PKT_E_COUNT; i++) {
        if (ic->st.parse_err[i] == 0)
            continue;
        perr_total += ic->st.parse_err[i];
        int w = snprintf(perr + n, sizeof(perr) - n, "%s%s %" PRIu64, n ? ", " : " (",
                         pkt_err_str(i), ic->st.parse_err[i]);
        if (w > 0 && (size_t)w < sizeof(perr) - n)
            n += (size_t)w;
    }
    if (n > 0 && n < sizeof(perr) - 1) {
        perr[n++] = ')';
        perr[n] = '\0';
    }
    uint64_t kdrops = icpt_kernel_drops(ic);
    const struct route_hold_stats *hs = route_hold_stats(ic->hold);
    const struct route_stats *rs = route_table_stats(ic->routes);
    log_info("stats: captured %" PRIu64 ", parse errors %" PRIu64 "%s, forwarded %" PRIu64
             " (fast path %" PRIu64 "), unrouted %" PRIu64 " (expired %" PRIu64
             ", overflow %" PRIu64 "; captured with no tcpcopy up %" PRIu64 "), held %zu"
             " (delivered late %" PRIu64 "), oversize %" PRIu64 ", dropped %" PRIu64
             " (peer buffer full), peers %zu (up %zu, refused %" PRIu64 ", auth refused %" PRIu64
             ", closed for bad frames %" PRIu64 "), -D rewritten %" PRIu64 ", routes %zu (reassigned %" PRIu64 ", table full %" PRIu64
             "), kernel drops %" PRIu64,
             ic->st.captured, perr_total, perr, ic->st.forwarded, ic->st.fast,
             hs->expired + hs->overflow, hs->expired, hs->overflow, ic->st.nopeer,
             route_hold_count(ic->hold), hs->delivered, ic->st.toolong + hs->toolong,
             ic->st.dropped, ic->npeers, ic->nup, ic->st.peers_refused, ic->st.auth_refused,
             ic->st.bad_frames, ic->st.docker_rewritten, route_count(ic->routes), rs->reassigned, rs->full, kdrops);
    if (ic->o->payload || ic->tls != NULL)
        log_info("stats: payload records %" PRIu64 ", bytes %" PRIu64 ", split %" PRIu64
                 ", truncated %" PRIu64 ", refused %" PRIu64 ", held headers only %" PRIu64
                 ", asked in clear %" PRIu64 "; TLS peers %" PRIu64 ", failed %" PRIu64
                 ", plain refused %" PRIu64,
                 ic->st.pay.records, ic->st.pay.bytes, ic->st.pay.split, ic->st.pay.truncated,
                 ic->st.pay.refused, ic->st.pay_held, ic->st.pay_refused_plain, ic->st.tls_peers,
                 ic->st.tls_failed, ic->st.plain_refused);
}

/* ---- life cycle ---- */

/* The TLS key, when there is one: tcpcopy peers may then start TLS on the port. */
static int icpt_tls_setup(struct icpt *ic, char *err, size_t errlen)
{
    const struct icpt_opts *o = ic->o;
    struct tls_conf tc = {.secret = &ic->secret, .cert = o->tls_cert, .key = o->tls_key,
                          .ca = o->tls_ca};
    if (tls_conf_usable(&tc)) {
        ic->tls = tls_ctx_new(&tc, true, err, errlen);
        if (ic->tls == NULL)
            return -EINVAL;
        log_info("channel TLS 1.3 available (keyed by %s)%s", tls_ctx_mode(ic->tls),
                 o->tls_required ? "; plain peers refused (--tls-required)" : "");
    }
    if (o->payload)
        log_info("reply payload offered to tcpcopy that asks, %s (snaplen %d)",
                 ic->tls != NULL ? "over TLS or from this host" : "from this host only (no TLS key)",
                 o->snaplen);
    return 0;
}

static void icpt_sigset(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
}

static int icpt_signals(struct icpt *ic, char *err, size_t errlen)
{
    sigset_t set;
    icpt_sigset(&set);
    /* Blocked, they queue for the signalfd and are handled in the loop, between
     * callbacks, instead of interrupting one. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        errbuf_set(err, errlen, "sigprocmask: %s", strerror(errno));
        return -errno;
    }
    signal(SIGPIPE, SIG_IGN);
    ic->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (ic->sigfd < 0) {
        errbuf_set(err, errlen, "signalfd: %s", strerror(errno));
        return -errno;
    }
    int rc = loop_fd_add(ic->loop, ic->sigfd, LOOP_READ, icpt_signal_cb, ic);
    if (rc < 0) {
        errbuf_set(err, errlen, "signalfd: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

static int icpt_captures(struct icpt *ic, char *err, size_t errlen)
{
    const struct icpt_opts *o = ic->o;
    for (size_t i = 0; i < o->ndevices; i++) {
        struct capture_pcap_conf pc = {
            .device = o->devices[i],
            .filter = o->filter,
            .snaplen = o->snaplen,
            /* Headers only (snaplen 256): an 8 MB ring holds tens of thousands of
             * replies, and its pages are most of intercept's memory. */
            .buffer_mb = 8,
            /* Both directions: intercept may run on the target itself, where the
             * replies are outbound. The filter decides what is a reply. */
            .in_only = 0,
            /* Every request of a copied session waits for its reply: a reply held in a
             * ring block for up to a millisecond would slow every session's replay. */
            .immediate = 1,
        };
        struct icpt_cap *c = &ic->caps[ic->ncaps];
        c->cap = capture_pcap_open(&pc, err, errlen);
        if (c->cap == NULL)
            return -ENODEV;
        c->ic = ic;
        c->dev = o->devices[i];
        c->fd = capture_fd(c->cap);
        ic->ncaps++;
        int rc = loop_fd_add(ic->loop, c->fd, LOOP_READ, icpt_capture_cb, c);
        if (rc < 0) {
            errbuf_set(err, errlen, "capture on %s: %s", c->dev, strerror(-rc));
            return rc;
        }
        log_info("capturing on %s with filter '%s'", c->dev, o->filter);
    }
    return 0;
}

struct icpt *icpt_new(const struct icpt_opts *o, char *err, size_t errlen)
{
    struct icpt *ic = calloc(1, sizeof(*ic));
    if (ic == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    ic->o = o;
    ic->sigfd = -1;
    LIST_INIT(&ic->peers);
    TAILQ_INIT(&ic->flush);
    ic->loop = loop_new();
    ic->routes = route_table_new(o->table_size, hash_seed_random());
    ic->hold = route_hold_new(ICPT_HOLD_RECS, ICPT_HOLD_AGE_US);
    if (ic->loop == NULL || ic->routes == NULL || ic->hold == NULL) {
        errbuf_set(err, errlen, "out of memory (route table of %" PRIu32 " entries)", o->table_size);
        goto fail;
    }
    loop_update_time(ic->loop);
    /* Blocked from now on: a SIGTERM before icpt_run waits for the signalfd there
     * instead of killing us between writing the pid file and removing it. */
    sigset_t set;
    icpt_sigset(&set);
    (void)sigprocmask(SIG_BLOCK, &set, NULL);

    if (o->allow_any) {
        ic->allow_any = true;
        log_warnx("--allow any: every host that can reach port %u may register sessions "
                  "and receive the target's replies",
                  o->port);
    } else if (o->nallow > 0) {
        ic->allow = calloc(o->nallow, sizeof(*ic->allow));
        if (ic->allow == NULL) {
            errbuf_set(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(ic->allow, o->allow, o->nallow * sizeof(*ic->allow));
        ic->nallow = o->nallow;
    } else if (icpt_allow_defaults(ic, err, errlen) != 0) {
        goto fail;
    }
    if (!ic->allow_any)
        icpt_log_allow(ic);
    if (o->secret_file != NULL) {
        if (auth_load_secret(&ic->secret, o->secret_file, err, errlen) < 0)
            goto fail;
        log_info("channel authentication on: every tcpcopy must prove --secret-file %s",
                 o->secret_file);
    }
    if (icpt_tls_setup(ic, err, errlen) != 0)
        goto fail;

    if (icpt_captures(ic, err, errlen) != 0 || icpt_listen(ic, err, errlen) != 0)
        goto fail;
    ic->so = statsout_new(ic->loop, o->stats_json, o->metrics, icpt_fill, ic, err, errlen);
    if (ic->so == NULL)
        goto fail;

    loop_set_before_sleep(ic->loop, icpt_before_sleep, ic);
    loop_set_coalesce(ic->loop, ic->o->coalesce_us);
    uint64_t now = icpt_now(ic);
    loop_timer_set(ic->loop, &ic->hb_timer, now + ICPT_HEARTBEAT_US, icpt_heartbeat_cb, ic);
    loop_timer_set(ic->loop, &ic->stats_timer, now + ICPT_STATS_US, icpt_stats_cb, ic);
    return ic;

fail:
    icpt_free(ic);
    return NULL;
}

int icpt_run(struct icpt *ic)
{
    char err[256];
    /* Here rather than in icpt_new: a signalfd watched by epoll wakes the process
     * that registered it, so it must be created after daemon_detach() forked. */
    if (ic->sigfd < 0 && icpt_signals(ic, err, sizeof(err)) != 0) {
        log_msg(LOG_LVL_ERR, 0, "%s", err);
        return -EINVAL;
    }
    log_info("intercept running: routes up to %zu, snaplen %d", route_capacity(ic->routes),
             ic->o->snaplen);
    ic->t0_us = loop_update_time(ic->loop);
    statsout_write(ic->so); /* the file exists from the start */
    int rc = loop_run(ic->loop);
    if (rc < 0)
        log_msg(LOG_LVL_ERR, 0, "event loop: %s", strerror(-rc));
    icpt_log_stats(ic);
    statsout_write(ic->so);
    return rc < 0 ? rc : ic->exit_err;
}

void icpt_free(struct icpt *ic)
{
    if (ic == NULL)
        return;
    struct peer *pe;
    ic->stopping = true;
    while ((pe = LIST_FIRST(&ic->peers)) != NULL)
        peer_free(pe);
    if (ic->loop != NULL) {
        loop_timer_cancel(ic->loop, &ic->hb_timer);
        loop_timer_cancel(ic->loop, &ic->stats_timer);
    }
    for (size_t i = 0; i < ic->ncaps; i++) {
        if (ic->caps[i].cap == NULL)
            continue;
        if (ic->loop != NULL)
            loop_fd_del(ic->loop, ic->caps[i].fd);
        capture_free(ic->caps[i].cap);
    }
    for (size_t i = 0; i < ic->nlfds; i++) {
        if (ic->loop != NULL)
            loop_fd_del(ic->loop, ic->lfds[i]);
        close(ic->lfds[i]);
    }
    if (ic->sigfd >= 0) {
        if (ic->loop != NULL)
            loop_fd_del(ic->loop, ic->sigfd);
        close(ic->sigfd);
    }
    statsout_free(ic->so);
    route_hold_free(ic->hold);
    route_table_free(ic->routes);
    loop_free(ic->loop);
    free(ic->allow);
    auth_secret_clear(&ic->secret);
    tls_ctx_free(ic->tls);
    free(ic);
}
