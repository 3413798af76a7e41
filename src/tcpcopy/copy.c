/*
 * copy: the tcpcopy daemon's wiring (see copy.h). Owns the loop, the capture,
 * the sender, the channel client and the engine.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "auth.h"
#include "capture.h"
#include "chanc.h"
#include "copy.h"
#include "log.h"
#include "loop.h"
#include "mod.h"
#include "modes.h"
#include "offline.h"
#include "pkt.h"
#include "send.h"
#include "statsout.h"
#include "tcp.h"
#include "tclog.h"
#include "tcstats.h"

/* Packets taken from the capture per wake-up. Each may make the engine send a window's
 * worth of segments at once; small batches let the capture socket be read again soon,
 * so a fast upload waits in our queue rather than overflowing the kernel's buffer. */
#define CAPTURE_BATCH 64 /* packets per readable event (64 full-size segments per 300 us: 300 MB/s) */
/* The libpcap ring (--pcap-capture) is read the same way: it hands over a block of
 * packets per millisecond or less, so 64 per turn only binds above ~200,000 packets/s
 * or while a backlog drains after a stall (a 256 ms backlog of a 20,000 packets/s load
 * drains in ~30 ms of turns). Reading every block ready instead (1,024 per event) gave
 * the same drops (none at the default -B) and delays under the lab's wrk -c50 load. */
#define STATS_INTERVAL_US (30ULL * 1000000)
/* The kernel's drop counter of the capture is read this often, so that an overflow is
 * reported within a second (the 30 s counters come too late to tell a burst from a
 * lasting shortfall), and warned about at most this often: a ring that keeps
 * overflowing gives one line per interval with the packets lost since the last. */
#define DROPS_CHECK_US (1ULL * 1000000)
#define DROPS_WARN_US (10ULL * 1000000)
/* With no intercept connection up, every session copied meanwhile is blind (no replies):
 * tcpcopy keeps running and reconnecting, and says so again this often. */
#define LOST_REPORT_US (60ULL * 1000000) /* how often a total loss is logged again */
#define STATUS_US (1ULL * 1000000)       /* the live status line's period */

struct copy {
    const struct tc_opts *o;
    struct loop *loop;
    struct capture *cap;
    struct sender *snd;
    struct chanc *ch;
    struct eng *eng;
    struct offline *off; /* offline replay (then cap is NULL) */
    struct eng_conf ec;
    struct loop_timer eng_timer, stats_timer, lost_timer, drops_timer, status_timer;
    struct statsout *so; /* --stats-json, --metrics */
    uint64_t t0_us;      /* copying started */
    uint64_t status_us, status_seen, status_answered; /* the status line's last sample */
    struct auth_secret secret; /* --secret-file; len 0 without */
    int sigfd;
    int exit_rc;
    uint64_t lost_for_s;
    uint64_t parse_err[PKT_E_COUNT];
    uint64_t decap_err[DECAP_E_COUNT]; /* --decap: captured packets not encapsulated as asked */
    uint64_t reply_err[PKT_E_COUNT];
    size_t up, total;
    struct log_rl rl_chan;
    /* Kernel drops of the capture (on_drops_timer). */
    uint64_t drops_seen;         /* the counter at the previous check */
    uint64_t drops_checked_us;   /* when that was */
    uint64_t drops_unwarned;     /* dropped since the last warning */
    uint64_t drops_since_us;     /* start of the check interval where those began */
    uint64_t drops_warn_next_us; /* no warning before this */
};

static uint64_t sum(const uint64_t *v, size_t n);

/* ---- engine I/O ---- */

static uint8_t *io_pkt_buf(void *arg, size_t *cap)
{
    struct copy *c = arg;
    *cap = sender_slot_size(c->snd);
    return sender_buf(c->snd);
}

static void io_pkt_send(void *arg, size_t len)
{
    struct copy *c = arg;
    sender_commit(c->snd, len);
}

static void io_route(void *arg, bool add, const struct chan_route *r)
{
    struct copy *c = arg;
    if (add)
        chanc_route_add(c->ch, r);
    else
        chanc_route_del(c->ch, r);
}

/* ---- inputs ---- */

static void on_packet(void *arg, const struct capture_pkt *cp)
{
    struct copy *c = arg;
    struct pkt p;
    const uint8_t *data = cp->data;
    size_t len = cp->caplen;
    int dlt = cp->dlt;
    int dr = decap_apply(&c->o->decap, &dlt, &data, &len);
    if (dr != DECAP_OK) {
        c->decap_err[-dr]++;
        return;
    }
    int rc = pkt_parse_link(&p, dlt, data, len, 0);
    if (rc != PKT_OK) {
        c->parse_err[-rc > 0 && -rc < PKT_E_COUNT ? -rc : 0]++;
        return;
    }
    p.ts_us = cp->ts_us; /* --compare: the online latency */
    eng_on_capture(c->eng, &p, loop_now(c->loop));
}

static void on_capture_readable(struct loop *l, int fd, unsigned events, void *arg)
{
    struct copy *c = arg;
    loop_update_time(l);
    int n = capture_dispatch(c->cap, CAPTURE_BATCH, on_packet, c);
    if (n < 0)
        log_warnx_rl(&c->rl_chan, loop_now(l), "capture: %s", strerror(-n));
}

static void on_reply(void *arg, const uint8_t *hdr, size_t len)
{
    struct copy *c = arg;
    struct pkt p;
    /* During startup (chanc_connect_all runs the loop) there is no engine yet, and no
     * session a reply could belong to: the channel's counters have it (replies_in). */
    if (c->eng == NULL)
        return;
    int rc = pkt_parse_ip(&p, hdr, len, PKT_PARSE_HDRONLY);
    if (rc != PKT_OK) {
        c->reply_err[-rc > 0 && -rc < PKT_E_COUNT ? -rc : 0]++;
        return;
    }
    eng_on_reply(c->eng, &p, loop_now(c->loop));
}

/* Every intercept has been gone for a while: say so again, and keep trying. */
static void on_lost_timer(struct loop *l, void *arg)
{
    struct copy *c = arg;
    c->lost_for_s += LOST_REPORT_US / 1000000;
    log_warnx("all intercepts lost for %llu s: copied sessions get no replies; still "
              "reconnecting", (unsigned long long)c->lost_for_s);
    loop_timer_set(l, &c->lost_timer, loop_now(l) + LOST_REPORT_US, on_lost_timer, c);
}

static void on_chan_state(void *arg, size_t up, size_t total)
{
    struct copy *c = arg;
    if (up < c->up)
        log_warnx("intercept connections up: %zu of %zu", up, total);
    else
        log_info("intercept connections up: %zu of %zu", up, total);
    c->up = up;
    c->total = total;
    /* c->eng is set once startup succeeded. Unlike the original, losing every
     * intercept never ends tcpcopy (-L, which asked for that, is the default). */
    if (up > 0 || c->eng == NULL) {
        loop_timer_cancel(c->loop, &c->lost_timer);
        c->lost_for_s = 0;
    } else if (!c->lost_timer.armed) {
        log_warnx("every intercept is lost: copied sessions get no replies until one is "
                  "back; reconnecting");
        loop_timer_set(c->loop, &c->lost_timer, loop_update_time(c->loop) + LOST_REPORT_US,
                       on_lost_timer, c);
    }
}

/* Re-registration (chanc_cb.routes): every live session's route, for an
 * intercept whose connection came (back) up. None at startup. */
static size_t on_chan_routes(void *arg, chanc_route_fn *emit, void *ctx)
{
    struct copy *c = arg;
    return c->eng != NULL ? eng_routes_foreach(c->eng, emit, ctx) : 0;
}

static void on_eng_timer(struct loop *l, void *arg)
{
    struct copy *c = arg;
    eng_tick(c->eng, loop_update_time(l));
}

/* What the counters are read from: the table of --stats-json and --metrics (tcstats.c) and
 * the stats log lines (tclog.c). */
static void copy_src(struct copy *c, struct tcstats_src *out)
{
    uint64_t rd = 0, rp = 0, sk = 0;
    if (c->off != NULL) {
        offline_counts(c->off, &rd, &rp);
        sk = offline_skipped(c->off);
    }
    *out = (struct tcstats_src){
        .eng = eng_stats(c->eng), .snd = sender_stats(c->snd), .ch = chanc_stats(c->ch),
        .ch_up = chanc_up(c->ch), .ch_total = c->total, .cmp = c->ec.cmp ? &c->ec.cmp->st : NULL,
        .cmp_baseline = c->ec.cmp && c->ec.cmp->conf.baseline,
        .parse_errors = sum(c->parse_err, PKT_E_COUNT), .reply_errors = sum(c->reply_err, PKT_E_COUNT),
        .kernel_drops = c->cap ? capture_kernel_drops(c->cap) : 0,
        .offline_read = rd, .offline_replayed = rp, .offline_skipped = sk,
        .uptime_s = (double)(loop_update_time(c->loop) - c->t0_us) / 1e6, .version = TC_VERSION,
        .module = c->ec.mod,
    };
    memcpy(out->decap_err, c->decap_err, sizeof(out->decap_err));
    if (c->off != NULL)
        offline_decap_errors(c->off, out->decap_err);
}

static void copy_fill(void *arg, struct metrics *m)
{
    struct tcstats_src src;
    copy_src(arg, &src);
    tcstats_fill(m, &src);
}

/* The live status line (a terminal, not daemonized, not offline): what the copy does
 * now, and the channel's recent lag (doc/metrics.md, "Channel lag"). */
static void on_status_timer(struct loop *l, void *arg)
{
    struct copy *c = arg;
    const struct eng_stats *s = eng_stats(c->eng);
    uint64_t now = loop_update_time(l), dt = now - c->status_us;
    uint64_t seen = s->requests_marked - c->status_seen;
    uint64_t ans = s->gate_by_bytes - c->status_answered;
    const struct chanc_stats *cs = chanc_stats(c->ch);
    log_status("sessions %llu  requests/s seen %llu answered %llu  ratio %.1f%%  intercepts %zu/%zu"
               "  lag %.1f ms",
               (unsigned long long)s->sessions_active,
               (unsigned long long)(dt ? seen * 1000000 / dt : 0),
               (unsigned long long)(dt ? ans * 1000000 / dt : 0), 100.0 * tcstats_ratio(s),
               chanc_up(c->ch), c->total, (double)cs->lag_recent_us / 1000.0);
    c->status_us = now;
    c->status_seen = s->requests_marked;
    c->status_answered = s->gate_by_bytes;
    loop_timer_set(l, &c->status_timer, now + STATUS_US, on_status_timer, c);
}

static void on_stats_timer(struct loop *l, void *arg)
{
    struct copy *c = arg;
    copy_log_stats(c, false);
    statsout_write(c->so);
    loop_timer_set(l, &c->stats_timer, loop_now(l) + STATS_INTERVAL_US, on_stats_timer, c);
}

/* Packets the kernel could not give us are lost to the copy for good (the client
 * will not send them again): say so at once, with what would have avoided it. */
static void copy_warn_drops(struct copy *c, uint64_t now)
{
    unsigned long long n = (unsigned long long)c->drops_unwarned;
    unsigned long long secs = (now - c->drops_since_us + 500000) / 1000000;
    if (secs == 0)
        secs = 1;
    if (c->o->pcap_capture)
        log_warnx("capture: the kernel dropped %llu packets in the last %llu s (capture ring "
                  "full): raise -B (now %u MB)",
                  n, secs, c->o->pcap_buffer_mb);
    else
        log_warnx("capture: the kernel dropped %llu packets in the last %llu s (socket "
                  "receive buffer full): tcpcopy fell behind the traffic",
                  n, secs);
}

/* Read the drop counter; warn unless a warning came less than DROPS_WARN_US ago
 * (final: warn anyway, nothing will come after). */
static void copy_check_drops(struct copy *c, uint64_t now, bool final)
{
    uint64_t d = capture_kernel_drops(c->cap);
    if (d > c->drops_seen) {
        if (c->drops_unwarned == 0)
            c->drops_since_us = c->drops_checked_us;
        c->drops_unwarned += d - c->drops_seen;
    }
    c->drops_seen = d;
    c->drops_checked_us = now;
    if (c->drops_unwarned > 0 && (final || now >= c->drops_warn_next_us)) {
        copy_warn_drops(c, now);
        c->drops_unwarned = 0;
        c->drops_warn_next_us = now + DROPS_WARN_US;
    }
}

static void on_drops_timer(struct loop *l, void *arg)
{
    struct copy *c = arg;
    uint64_t now = loop_update_time(l);
    copy_check_drops(c, now, false);
    loop_timer_set(l, &c->drops_timer, now + DROPS_CHECK_US, on_drops_timer, c);
}

/* Once per loop turn: everything a batch produced leaves in as few syscalls as
 * possible, routes before the SYNs that depend on them. */
static void before_sleep(struct loop *l, void *arg)
{
    struct copy *c = arg;
    uint64_t now = loop_update_time(l);
    eng_flush(c->eng, now);
    chanc_flush(c->ch);
    sender_flush(c->snd);
    uint64_t d = eng_next_deadline(c->eng);
    if (d == UINT64_MAX)
        loop_timer_cancel(l, &c->eng_timer);
    else
        loop_timer_set(l, &c->eng_timer, d, on_eng_timer, c);
}

/* The signals taken in the loop: TERM and INT stop, HUP reopens the log, USR1 writes the
 * --stats-json file now (a script reads current counters without waiting 30 s). */
static void copy_sigset(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
}

static void on_signal(struct loop *l, int fd, unsigned events, void *arg)
{
    struct copy *c = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            log_reopen();
            log_info("log reopened");
        } else if (si.ssi_signo == SIGUSR1) {
            statsout_write(c->so);
        } else {
            log_info("signal %u: stopping", si.ssi_signo);
            loop_stop(l);
        }
    }
}

/* ---- setup ---- */

/* The inputs: a file to replay (checked before privilege matters), the sender (what fails
 * first without privilege: the clearest error), the live capture. */
static int open_io(struct copy *c, char *err, size_t errlen)
{
    const struct tc_opts *o = c->o;
    if (o->offline) {
        struct offline_conf oc = {
            .path = o->devices,
            .filter = o->filter,
            .accel = o->accel,
            .idle_skip_ms = o->idle_skip_ms,
            .loops = o->loops,
            .fast = o->fast,
            .decap = o->decap,
            .drain_max_us = 10000000ULL + (uint64_t)o->answer_timeout_ms * 1000,
        };
        c->off = offline_open(&oc, err, errlen);
        if (c->off == NULL)
            return -EINVAL;
    }
    c->snd = modes_sender_open(o, err, errlen);
    if (c->snd == NULL)
        return -EINVAL;
    if (c->off == NULL) {
        c->cap = modes_capture_open(o, err, errlen);
        if (c->cap == NULL)
            return -EINVAL;
    }
    /* A rule that can never see a packet is the user's to know at once, not to
     * find out from a target that stays quiet. */
    modes_warn_rules(o);
    return 0;
}

/* The channel to every intercept, up before anything is captured. */
static int open_channel(struct copy *c, char *err, size_t errlen)
{
    const struct tc_opts *o = c->o;
    struct chanc_conf cc = {
        .servers = &o->servers,
        .conns_per_server = o->conns,
        .out_max = 0,
        .connect_timeout_ms = (int)o->intercept_timeout_ms,
        .secret = c->secret.len > 0 ? &c->secret : NULL,
        .use_tls = o->tls, .tls_cert = o->tls_cert, .tls_key = o->tls_key, .tls_ca = o->tls_ca,
        .want_payload = o->channel_payload,
    };
    struct chanc_cb cb = {
        .on_reply = on_reply, .on_state = on_chan_state, .routes = on_chan_routes};
    c->ch = chanc_new(c->loop, &cc, &cb, c);
    if (c->ch == NULL) {
        errbuf_set(err, errlen, "channel: %s", strerror(errno));
        return -ENOMEM;
    }
    return chanc_connect_all(c->ch, err, errlen);
}

/* The engine's configuration from the options (eng_conf_defaults holds the rest). */
static void engine_conf(struct eng_conf *ec, const struct tc_opts *o)
{
    eng_conf_defaults(ec);
    ec->xfer = &o->xfer;
    ec->cmap = o->cmap.n ? &o->cmap : NULL;
    ec->mtu = o->mtu;
    ec->session_timeout_us = (uint64_t)o->timeout_s * 1000000;
    ec->idle_timeout_us = (uint64_t)o->keepalive_s * 1000000;
    ec->answer_timeout_us = (uint64_t)o->answer_timeout_ms * 1000;
    ec->max_handshakes = o->max_handshakes;
    ec->ack_delay_us = (uint64_t)o->ack_delay_ms * 1000;
    ec->no_wait = o->no_wait;
    ec->syn_only = o->syn_only;
    ec->syn_mss = o->syn_mss;
    ec->copies = o->copies;
    ec->port_shift = o->port_shift;
    ec->sample_pct = o->sample_pct;
    ec->shard_k = o->shard_k;
    ec->shard_n = o->shard_n;
    ec->ramp = o->ramp;
    ec->mem_max = (uint64_t)o->mem_mb << 20;
    ec->sess_mem_max = (uint32_t)(ec->mem_max / 2 > 0x7fffffffu ? 0x7fffffffu : ec->mem_max / 2);
    ec->localhost = o->localhost;
}

/* Signals blocked, the capture in the loop, the hooks, the counters' outputs. */
static int wire_loop(struct copy *c, char *err, size_t errlen)
{
    /* Signals are taken in the loop, between packets, never in the middle of one.
     * They are blocked now; the signalfd itself is made in copy_run, after -d has
     * forked, because its readiness follows the process that created it. */
    sigset_t set;
    copy_sigset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rv = c->cap ? loop_fd_add(c->loop, capture_fd(c->cap), LOOP_READ, on_capture_readable, c)
                    : 0;
    /* Under load the capture always has packets: read it after each pause without
     * an epoll_wait first. */
    if (rv == 0 && c->cap)
        rv = loop_fd_set_polled(c->loop, capture_fd(c->cap), true);
    if (rv < 0) {
        errbuf_set(err, errlen, "event loop: %s", strerror(-rv));
        return rv;
    }
    loop_set_before_sleep(c->loop, before_sleep, c);
    loop_set_coalesce(c->loop, c->o->coalesce_us);
    /* Listening now, before -d: a port in use is reported where the command was typed. */
    c->so = statsout_new(c->loop, c->o->stats_json, c->o->metrics, copy_fill, c, err, errlen);
    return c->so == NULL ? -EINVAL : 0;
}

struct copy *copy_new(const struct tc_opts *o, char *err, size_t errlen)
{
    struct copy *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    c->o = o;
    c->sigfd = -1;
    /* Before anything needs privilege: a bad secret file is the user's mistake
     * to fix first, and says so precisely. */
    if (o->secret_file != NULL && auth_load_secret(&c->secret, o->secret_file, err, errlen) < 0)
        goto fail;
    if (o->module != NULL && mod_load(o->module, o->module_conf, &c->ec.mod, err, errlen) < 0)
        goto fail;
    if (open_io(c, err, errlen) < 0)
        goto fail;
    c->loop = loop_new();
    if (c->loop == NULL) {
        errbuf_set(err, errlen, "event loop: %s", strerror(errno));
        goto fail;
    }
    if (open_channel(c, err, errlen) < 0)
        goto fail;
    engine_conf(&c->ec, o);
    if (o->compare_dir && !(c->ec.cmp = cmp_out_open(o, c->loop, chanc_stats(c->ch), err, errlen)))
        goto fail;
    struct eng_io io = {.arg = c, .pkt_buf = io_pkt_buf, .pkt_send = io_pkt_send, .route = io_route};
    c->eng = eng_new(&c->ec, &io, loop_update_time(c->loop), hash_seed_random());
    if (c->eng == NULL) {
        errbuf_set(err, errlen, "session engine: out of memory");
        goto fail;
    }
    if (wire_loop(c, err, errlen) < 0)
        goto fail;
    return c;

fail:
    copy_free(c);
    return NULL;
}

int copy_run(struct copy *c)
{
    char buf[ADDR_STRLEN];
    sigset_t set;
    copy_sigset(&set);
    c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (c->sigfd < 0) {
        log_warn("signalfd");
        return -errno;
    }
    int rv = loop_fd_add(c->loop, c->sigfd, LOOP_READ, on_signal, c);
    if (rv < 0) {
        log_warnx("event loop: %s", strerror(-rv));
        return rv;
    }
    for (size_t i = 0; i < c->o->xfer.n; i++) {
        const struct xfer_rule *r = &c->o->xfer.rules[i];
        char tb[ADDR_STRLEN];
        /* An any-address rule takes its target's family only (xfer_match). */
        log_info("copying port %u (%s) to %s", r->online_port,
                 !addr_is_any(&r->online) ? addr_str(&r->online, buf, sizeof(buf))
                 : r->target.af == AF_INET6 ? "any IPv6 address"
                                            : "any IPv4 address",
                 addr_port_str(&r->target, r->target_port, tb, sizeof(tb)));
    }
    c->t0_us = loop_update_time(c->loop);
    loop_timer_set(c->loop, &c->stats_timer, c->t0_us + STATS_INTERVAL_US, on_stats_timer, c);
    statsout_write(c->so); /* the file exists from the start */
    if (c->off == NULL && !c->o->daemon && isatty(STDERR_FILENO) == 1) {
        c->status_us = c->t0_us;
        loop_timer_set(c->loop, &c->status_timer, c->t0_us + STATUS_US, on_status_timer, c);
    }
    if (c->cap != NULL) {
        /* The first check counts every drop since the capture opened. */
        c->drops_checked_us = loop_now(c->loop);
        loop_timer_set(c->loop, &c->drops_timer, c->drops_checked_us + DROPS_CHECK_US,
                       on_drops_timer, c);
    }
    if (c->off != NULL)
        offline_start(c->off, c->loop, c->eng);
    int rc = loop_run(c->loop);
    if (offline_failed(c->off) && c->exit_rc == 0)
        c->exit_rc = -EIO; /* a truncated capture file: replayed, but say so */
    uint64_t now = loop_update_time(c->loop);
    eng_shutdown(c->eng, now);
    chanc_flush(c->ch);
    sender_flush(c->snd);
    if (c->cap != NULL)
        copy_check_drops(c, now, true);
    loop_timer_cancel(c->loop, &c->status_timer);
    log_status_end(false);
    copy_log_stats(c, true);
    statsout_write(c->so);
    return rc < 0 ? rc : c->exit_rc;
}

static uint64_t sum(const uint64_t *v, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

void copy_log_stats(struct copy *c, bool final)
{
    const char *w = final ? "final" : "stats";
    struct tcstats_src src;
    copy_src(c, &src);
    tclog_write(&src, w);
    if (c->off != NULL)
        offline_log_stats(c->off, final);
    decap_log_counts(&c->o->decap, c->decap_err, w);
}

void copy_free(struct copy *c)
{
    if (c == NULL)
        return;
    if (c->loop != NULL) {
        loop_timer_cancel(c->loop, &c->lost_timer);
        loop_timer_cancel(c->loop, &c->status_timer);
    }
    statsout_free(c->so);
    eng_free(c->eng);
    c->eng = NULL; /* chanc_free may report the connections going down */
    cmp_out_free(c->ec.cmp);
    mod_free(c->ec.mod); /* after every session ended */
    chanc_free(c->ch);
    auth_secret_clear(&c->secret);
    if (c->loop != NULL && c->sigfd >= 0)
        loop_fd_del(c->loop, c->sigfd);
    if (c->sigfd >= 0)
        close(c->sigfd);
    capture_free(c->cap);
    offline_free(c->off);
    sender_free(c->snd);
    loop_free(c->loop);
    free(c);
}
