/*
 * check_probe: --check's end-to-end probe. For each distinct target it does what
 * a copied session does, once: registers a route (a -c address and a fresh port
 * toward the target's port) with every intercept that is up, sends a SYN from
 * that address with the real sender, and waits for intercept to report the
 * target's answer over the channel. A SYN-ACK is answered with the handshake's
 * ACK, as a copy would (an OUTPUT rule that drops what conntrack calls invalid
 * lets the SYN out and stops that ACK: this host never sees the SYN-ACK); then
 * the whole path is proved. An RST, a send error or silence names the hop that
 * fails (check.c turns it into a finding). Every probe is closed with an RST (sequence ISN+1, in the window of a
 * SYN-RECEIVED or established connection: RFC 9293 3.10.7.4), so the target
 * keeps nothing, and its route is withdrawn. Only the target port is ever probed.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "chanc.h"
#include "check_impl.h"
#include "log.h"
#include "loop.h"
#include "modes.h"
#include "pkt.h"
#include "send.h"

#define PROBE_WAIT_MS 3000   /* a target's SYN-ACK takes a round trip; three seconds is lenient */
#define PROBE_RESEND_MS 1000 /* one SYN lost on the way gets one more chance */
#define PROBE_TICK_MS 50

struct probe_run {
    struct check *k;
    struct sender *snd;
    struct loop_timer timer;
    uint64_t start_us;
    bool resent;
};

void check_probe_on_reply(struct check *k, const uint8_t *hdr, size_t len)
{
    struct pkt p;

    if (pkt_parse_ip(&p, hdr, len, PKT_PARSE_HDRONLY) != PKT_OK)
        return;
    for (size_t i = 0; i < k->o->xfer.n; i++) {
        const struct xfer_rule *r = &k->o->xfer.rules[i];
        struct check_rule *cr = &k->rules[i];
        if (cr->dup || cr->probe != PROBE_SILENT || !addr_eq(&p.t.src, &r->target) ||
            p.t.sport != r->target_port || !addr_eq(&p.t.dst, &cr->psrc) || p.t.dport != cr->psport)
            continue;
        if (p.flags & TCPF_RST)
            cr->probe = PROBE_RST;
        else if ((p.flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK))
            cr->probe = PROBE_SYNACK, cr->tseq = p.seq;
        else
            continue;
        if (k->pending > 0 && --k->pending == 0 && k->loop != NULL)
            loop_stop(k->loop);
    }
}

/* A source for rule i's probe: a -c address (as a real copy would take), else the
 * captured client's own. False (with why) when there is none. */
static bool probe_source(struct check *k, size_t i)
{
    const struct tc_opts *o = k->o;
    struct check_rule *cr = &k->rules[i];
    const struct addr *key = cr->seen ? &cr->client : &o->xfer.rules[i].target;
    uint32_t rnd[2] = {0, 0};

    if (o->cmap.n > 0 && cmap_pick_copy(&o->cmap, key, 0) != NULL) {
        cr->psrc = *cmap_pick_copy(&o->cmap, key, 0);
    } else if (o->cmap.n == 0 && cr->seen) {
        cr->psrc = cr->client;
    } else {
        snprintf(cr->why, sizeof(cr->why), "no -c address of the target's family, and no client "
                                           "packet captured to take a source address from");
        return false;
    }
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd[0] = (uint32_t)now_monotonic_us(), rnd[1] = rnd[0] * 2654435761U;
    cr->psport = (uint16_t)(32768 + rnd[0] % 28000);
    cr->isn = rnd[1];
    return true;
}

static void routes(struct check *k, size_t i, bool add)
{
    const struct xfer_rule *r = &k->o->xfer.rules[i];
    struct chan_route rt = {.client = k->rules[i].psrc, .target = r->target,
                            .cport = k->rules[i].psport, .tport = r->target_port};
    for (size_t s = 0; s < SERVERS_MAX; s++) {
        if (k->chan[s] == NULL)
            continue;
        if (add)
            chanc_route_add(k->chan[s], &rt);
        else
            chanc_route_del(k->chan[s], &rt);
        chanc_flush(k->chan[s]);
    }
}

enum probe_pkt { PP_SYN, PP_ACK, PP_RST };

/* Send one packet of rule i's probe; the outcome of the send. */
static enum check_probe send_one(struct probe_run *pr, size_t i, enum probe_pkt what)
{
    bool rst = what == PP_RST;
    const struct tc_opts *o = pr->k->o;
    const struct xfer_rule *r = &o->xfer.rules[i];
    const struct check_rule *cr = &pr->k->rules[i];
    struct pkt_spec sp;

    memset(&sp, 0, sizeof(sp));
    sp.t.src = cr->psrc;
    sp.t.dst = r->target;
    sp.t.sport = cr->psport;
    sp.t.dport = r->target_port;
    sp.seq = what == PP_SYN ? cr->isn : cr->isn + 1;
    sp.ack = what == PP_ACK ? cr->tseq + 1 : 0;
    sp.flags = what == PP_SYN ? TCPF_SYN : what == PP_ACK ? TCPF_ACK : TCPF_RST;
    sp.win = rst ? 0 : 65535;
    sp.opt_mss = what == PP_SYN;
    sp.opts.mss = o->syn_mss;
    uint8_t *buf = sender_buf(pr->snd);
    size_t n = pkt_build(buf, sender_slot_size(pr->snd), &sp);
    if (n == 0)
        return PROBE_ERROR;
    struct sender_stats before = *sender_stats(pr->snd);
    sender_commit(pr->snd, n);
    sender_flush(pr->snd);
    const struct sender_stats *after = sender_stats(pr->snd);
    if (after->err_eperm > before.err_eperm)
        return PROBE_EPERM;
    if (after->err_unreach > before.err_unreach)
        return PROBE_UNREACH;
    if (after->packets == before.packets)
        return PROBE_ERROR;
    return PROBE_SILENT;
}

static void on_tick(struct loop *l, void *arg)
{
    struct probe_run *pr = arg;
    uint64_t now = loop_update_time(l);

    if (now - pr->start_us >= (uint64_t)PROBE_WAIT_MS * 1000) {
        loop_stop(l);
        return;
    }
    if (!pr->resent && now - pr->start_us >= (uint64_t)PROBE_RESEND_MS * 1000) {
        pr->resent = true;
        for (size_t i = 0; i < pr->k->o->xfer.n; i++)
            if (!pr->k->rules[i].dup && pr->k->rules[i].probe == PROBE_SILENT)
                (void)send_one(pr, i, PP_SYN);
    }
    loop_timer_set(l, &pr->timer, now + PROBE_TICK_MS * 1000, on_tick, pr);
}

static void before_sleep(struct loop *l, void *arg)
{
    struct check *k = arg;
    (void)l;
    for (size_t s = 0; s < SERVERS_MAX; s++)
        if (k->chan[s] != NULL)
            chanc_flush(k->chan[s]);
}

/* Register and send every probe; the number sent. */
static size_t probe_start(struct probe_run *pr)
{
    struct check *k = pr->k;
    size_t sent = 0;

    for (size_t i = 0; i < k->o->xfer.n; i++) {
        struct check_rule *cr = &k->rules[i];
        if (cr->dup || !probe_source(k, i))
            continue;
        routes(k, i, true);
        cr->probe = send_one(pr, i, PP_SYN);
        if (cr->probe == PROBE_SILENT) {
            k->pending++;
            sent++;
        } else if (cr->probe == PROBE_ERROR) {
            snprintf(cr->why, sizeof(cr->why), "the SYN could not be built or sent");
        }
    }
    return sent;
}

void check_probe_run(struct check *k)
{
    struct probe_run pr = {.k = k};
    char err[512];

    if (k->nup == 0 || k->loop == NULL)
        return; /* the intercept findings say why */
    pr.snd = modes_sender_open(k->o, err, sizeof(err));
    if (pr.snd == NULL) {
        for (size_t i = 0; i < k->o->xfer.n; i++) {
            k->rules[i].probe = PROBE_ERROR;
            snprintf(k->rules[i].why, sizeof(k->rules[i].why), "%s", err);
        }
        return;
    }
    if (probe_start(&pr) > 0) {
        pr.start_us = loop_update_time(k->loop);
        loop_set_before_sleep(k->loop, before_sleep, k);
        loop_timer_set(k->loop, &pr.timer, pr.start_us + PROBE_TICK_MS * 1000, on_tick, &pr);
        loop_run(k->loop);
        loop_timer_cancel(k->loop, &pr.timer);
    }
    for (size_t i = 0; i < k->o->xfer.n; i++) {
        enum check_probe st = k->rules[i].probe;
        if (k->rules[i].dup || st == PROBE_NOT_RUN || st == PROBE_EPERM || st == PROBE_UNREACH)
            continue;
        if (st == PROBE_SYNACK && send_one(&pr, i, PP_ACK) == PROBE_EPERM)
            k->rules[i].probe = PROBE_ACK_EPERM;
        (void)send_one(&pr, i, PP_RST);
        routes(k, i, false);
    }
    k->pending = 0;
    sender_free(pr.snd);
}
