/*
 * offline: capture-file replay (see offline.h).
 *
 * A pass:  open -> read one packet ahead -> timer at its due time -> deliver every
 * packet due by now (at most OFF_BATCH per turn, so the loop's before-sleep flush
 * and the channel run between batches) -> read the next -> ... -> end of file:
 * next pass (new epoch), or drain: poll the engine every 10 ms until every session
 * has ended, or it has no queued client data and sends nothing more for a second,
 * or the target has not answered for drain_max_us; then loop_stop().
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "offline.h"
#include "pkt.h"
#include "tcp.h"

#define OFF_BATCH 2048
#define OFF_FAST_MEM_MAX (32ULL << 20)  /* --fast: pause reading above this much queued */
#define OFF_FAST_SESS_MAX 4096          /* ... or this many live sessions */
#define OFF_FAST_RETRY_US 10000
#define OFF_DRAIN_POLL_US 10000
#define OFF_DRAIN_QUIET_US 1000000
#define OFF_PROGRESS_TTY_US 500000
#define OFF_PROGRESS_LOG_US 10000000ULL
#define OFF_BAR 20

/* ---- the clock (pure) ---- */

void offline_clock_init(struct offline_clock *c, uint32_t accel, uint64_t idle_skip_us)
{
    memset(c, 0, sizeof(*c));
    c->accel = accel ? accel : 1;
    c->idle_skip_us = idle_skip_us;
}

void offline_clock_start(struct offline_clock *c, uint64_t now_us)
{
    c->start_us = now_us;
    c->virt_us = 0;
    c->started = false;
}

uint64_t offline_clock_due(struct offline_clock *c, uint64_t pkt_ts_us)
{
    if (!c->started) {
        c->started = true;
    } else if (pkt_ts_us > c->prev_ts_us) {
        uint64_t gap = pkt_ts_us - c->prev_ts_us;
        if (c->idle_skip_us && gap > c->idle_skip_us)
            gap = c->idle_skip_us;
        c->virt_us += gap;
    }
    /* A backward step (clock adjusted, interfaces interleaved) moves the reference
     * back, so the next forward gap is measured from this packet, not a later one. */
    c->prev_ts_us = pkt_ts_us;
    return c->start_us + c->virt_us / c->accel;
}

/* ---- the replay ---- */

enum off_state { OFF_IDLE, OFF_READING, OFF_DRAINING, OFF_DONE };

/* stdio's buffer for the file: its default, one page, costs a read() per 4 KB of capture. */
#define OFF_READ_BUF (256 * 1024)

struct offline {
    struct offline_conf conf;
    char *path;
    char *filter;
    pcap_t *p;
    char *rbuf; /* OFF_READ_BUF bytes, the FILE's buffer while p is open */
    int dlt;
    off_t file_size;
    struct loop *loop;
    struct eng *eng;
    struct loop_timer timer, progress_timer;
    struct offline_clock clock;
    enum off_state state;
    uint32_t pass;
    bool tty;
    bool failed;
    /* The packet read ahead (valid until the next pcap_next_ex). */
    struct pcap_pkthdr *hdr;
    const u_char *data;
    uint64_t due_us;
    /* Counters. */
    uint64_t read, replayed, skipped[PKT_E_COUNT], pass_packets;
    uint64_t decap_err[DECAP_E_COUNT]; /* --decap: packets not encapsulated as asked */
    uint64_t t_start_us, t_read_end_us;
    uint64_t last_progress_us, last_progress_pkts;
    uint64_t drain_last_sent, drain_last_replies, drain_quiet_since;
    uint64_t drain_last_progress, drain_progress_us; /* replies seen, and when they last grew */
};

static int off_pcap_open(struct offline *o, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    FILE *fp = fopen(o->path, "rb");

    if (fp == NULL) {
        errbuf_set(err, errlen, "%s: cannot replay: %s", o->path, strerror(errno));
        return -EINVAL;
    }
    if (o->rbuf == NULL)
        o->rbuf = malloc(OFF_READ_BUF);
    if (o->rbuf != NULL) /* else stdio's own buffer: slower, not wrong */
        setvbuf(fp, o->rbuf, _IOFBF, OFF_READ_BUF);
    o->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (o->p == NULL) {
        fclose(fp); /* not libpcap's on failure */
        /* libpcap's own words: "unknown file format", "truncated dump file". */
        errbuf_set(err, errlen, "%s: cannot replay: %s", o->path, ebuf);
        return -EINVAL;
    }
    o->dlt = pcap_datalink(o->p);
    if (!pkt_link_supported(o->dlt)) {
        const char *name = pcap_datalink_val_to_name(o->dlt);
        errbuf_set(err, errlen,
                 "%s: cannot replay: link type %d (%s) is not one of Ethernet, Linux cooked "
                 "(SLL, SLL2), raw IP or loopback",
                 o->path, o->dlt, name ? name : "unknown");
        return -EINVAL;
    }
    if (o->filter != NULL) {
        if (pcap_compile(o->p, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            errbuf_set(err, errlen, "%s: bad filter '%s': %s", o->path, o->filter,
                     pcap_geterr(o->p));
            return -EINVAL;
        }
        int r = pcap_setfilter(o->p, &prog);
        pcap_freecode(&prog);
        if (r != 0) {
            errbuf_set(err, errlen, "%s: cannot apply filter '%s': %s", o->path, o->filter,
                     pcap_geterr(o->p));
            return -EINVAL;
        }
    }
    return 0;
}

struct offline *offline_open(const struct offline_conf *c, char *err, size_t errlen)
{
    struct offline *o = calloc(1, sizeof(*o));
    struct stat st;

    if (o == NULL) {
        errbuf_set(err, errlen, "offline: out of memory");
        return NULL;
    }
    o->conf = *c;
    o->path = strdup(c->path);
    o->filter = c->filter ? strdup(c->filter) : NULL;
    if (o->path == NULL || (c->filter && o->filter == NULL)) {
        errbuf_set(err, errlen, "offline: out of memory");
        goto fail;
    }
    if (o->conf.accel == 0)
        o->conf.accel = 1;
    if (o->conf.loops == 0)
        o->conf.loops = 1;
    if (stat(o->path, &st) != 0) {
        errbuf_set(err, errlen, "%s: cannot replay: %s", o->path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        errbuf_set(err, errlen, "%s: cannot replay: not a regular file", o->path);
        goto fail;
    }
    o->file_size = st.st_size;
    if (off_pcap_open(o, err, errlen) < 0)
        goto fail;
    offline_clock_init(&o->clock, o->conf.accel, (uint64_t)o->conf.idle_skip_ms * 1000);
    return o;

fail:
    offline_free(o);
    return NULL;
}

/* Where in the whole replay we are, 0..1000 (per mille). */
static unsigned off_permille(const struct offline *o)
{
    double f = 1.0;
    if (o->state == OFF_READING && o->p != NULL && o->file_size > 0) {
        FILE *fp = pcap_file(o->p);
        long pos = fp ? ftell(fp) : -1;
        f = pos < 0 ? 0 : (double)pos / (double)o->file_size;
        if (f > 1)
            f = 1;
    }
    double all = ((double)o->pass + f) / (double)o->conf.loops;
    if (o->state != OFF_READING)
        all = 1;
    return (unsigned)(all * 1000);
}

/* 4210 -> "4,210". */
static const char *off_thousands(uint64_t v, char *buf, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static void off_progress(struct loop *l, void *arg)
{
    struct offline *o = arg;
    uint64_t now = loop_update_time(l);
    uint64_t dt = now - o->last_progress_us;
    uint64_t rate = dt ? (o->replayed - o->last_progress_pkts) * 1000000ULL / dt : 0;
    unsigned pm = off_permille(o);
    double secs = (double)(now - o->t_start_us) / 1e6;
    char rb[32];

    o->last_progress_us = now;
    o->last_progress_pkts = o->replayed;
    if (o->tty) {
        char bar[OFF_BAR + 1];
        unsigned fill = pm * OFF_BAR / 1000;
        for (unsigned i = 0; i < OFF_BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[OFF_BAR] = '\0';
        log_status("[%s] %3u%%  %.1f s  sessions %zu  %s pkt/s%s", bar, pm / 10, secs,
                   eng_session_count(o->eng), off_thousands(rate, rb, sizeof(rb)),
                   o->state == OFF_DRAINING ? "  (waiting for the target)" : "");
    } else {
        log_info("offline: %u%% of %s (pass %u of %u), %.1f s, sessions %zu, %s pkt/s%s", pm / 10,
                 o->path, o->pass + 1 > o->conf.loops ? o->conf.loops : o->pass + 1,
                 o->conf.loops, secs, eng_session_count(o->eng),
                 off_thousands(rate, rb, sizeof(rb)),
                 o->state == OFF_DRAINING ? ", waiting for the target" : "");
    }
    if (o->state != OFF_DONE)
        loop_timer_set(l, &o->progress_timer,
                       now + (o->tty ? OFF_PROGRESS_TTY_US : OFF_PROGRESS_LOG_US), off_progress,
                       o);
}

static void off_timer(struct loop *l, void *arg);
static void off_drain(struct loop *l, void *arg);

static void off_finish(struct offline *o, const char *why)
{
    o->state = OFF_DONE;
    loop_timer_cancel(o->loop, &o->timer);
    loop_timer_cancel(o->loop, &o->progress_timer);
    if (o->tty)
        log_status_end(true);
    log_info("offline: replay of %s finished (%s)", o->path, why);
    loop_stop(o->loop);
}

/* Read the next packet of the pass into o->hdr/o->data. false at the end of the
 * file (or at an error, reported here). */
static bool off_read(struct offline *o)
{
    int r = pcap_next_ex(o->p, &o->hdr, &o->data);
    if (r == 1) {
        o->read++;
        o->pass_packets++;
        uint64_t ts = (uint64_t)o->hdr->ts.tv_sec * 1000000u + (uint64_t)o->hdr->ts.tv_usec;
        o->due_us = offline_clock_due(&o->clock, ts);
        return true;
    }
    if (r == PCAP_ERROR && !o->failed) {
        /* A file cut short (a capture still being written, a copy interrupted):
         * what came before is replayed; the exit status will say it failed. */
        o->failed = true;
        if (o->tty)
            fputc('\n', stderr);
        log_warnx("%s: truncated after %llu packets (%s)", o->path,
                  (unsigned long long)o->pass_packets, pcap_geterr(o->p));
    }
    o->hdr = NULL;
    o->data = NULL;
    return false;
}

static void off_deliver(struct offline *o, uint64_t now)
{
    struct pkt p;
    const uint8_t *data = o->data;
    size_t len = o->hdr->caplen;
    int dlt = o->dlt;
    int dr = decap_apply(&o->conf.decap, &dlt, &data, &len);
    if (dr != DECAP_OK) {
        o->decap_err[-dr]++;
        return;
    }
    int rc = pkt_parse_link(&p, dlt, data, len, 0);
    if (rc != PKT_OK) {
        o->skipped[-rc > 0 && -rc < PKT_E_COUNT ? -rc : 0]++;
        return;
    }
    o->replayed++;
    p.ts_us = (uint64_t)o->hdr->ts.tv_sec * 1000000u + (uint64_t)o->hdr->ts.tv_usec;
    eng_on_capture(o->eng, &p, now);
}

/* Start pass o->pass (0-based) now. false if the file cannot be reopened. */
static bool off_pass_begin(struct offline *o, uint64_t now)
{
    char err[256];
    if (o->p == NULL && off_pcap_open(o, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        o->failed = true;
        return false;
    }
    o->pass_packets = 0;
    eng_set_epoch(o->eng, (uint16_t)o->pass);
    offline_clock_start(&o->clock, now);
    return true;
}

/* The pass's packets are all out: the next pass, or the drain. */
static void off_pass_end(struct offline *o, uint64_t now)
{
    if (o->p != NULL)
        pcap_close(o->p);
    o->p = NULL;
    o->pass++;
    if (o->pass < o->conf.loops && o->pass_packets > 0 && off_pass_begin(o, now) && off_read(o)) {
        loop_timer_set(o->loop, &o->timer, o->due_us, off_timer, o);
        return;
    }
    o->state = OFF_DRAINING;
    o->t_read_end_us = now;
    o->drain_quiet_since = now;
    o->drain_progress_us = now;
    o->drain_last_progress = eng_stats(o->eng)->replies;
    log_info("offline: end of %s after %u pass%s, %llu packets in %.3f s; waiting for the "
             "target's answers",
             o->path, o->pass, o->pass == 1 ? "" : "es", (unsigned long long)o->read,
             (double)(now - o->t_start_us) / 1e6);
    loop_timer_set(o->loop, &o->timer, now + OFF_DRAIN_POLL_US, off_drain, o);
}

static void off_timer(struct loop *l, void *arg)
{
    struct offline *o = arg;
    uint64_t now = loop_update_time(l);

    for (unsigned n = 0; o->data != NULL; n++) {
        if (n == OFF_BATCH) {
            /* Let the loop flush and read the channel between batches. */
            loop_timer_set(l, &o->timer, now, off_timer, o);
            return;
        }
        /* eng_stats walks the sessions: look every 64 packets, not at each. */
        if (o->conf.fast && n % 64 == 0) {
            const struct eng_stats *st = eng_stats(o->eng);
            if (st->mem_bytes > OFF_FAST_MEM_MAX || st->sessions_active > OFF_FAST_SESS_MAX) {
                loop_timer_set(l, &o->timer, now + OFF_FAST_RETRY_US, off_timer, o);
                return;
            }
        } else if (!o->conf.fast && o->due_us > now) {
            loop_timer_set(l, &o->timer, o->due_us, off_timer, o);
            return;
        }
        off_deliver(o, now);
        off_read(o);
    }
    off_pass_end(o, now);
}

static void off_drain(struct loop *l, void *arg)
{
    struct offline *o = arg;
    uint64_t now = loop_update_time(l);
    const struct eng_stats *st = eng_stats(o->eng);

    if (st->sent_packets != o->drain_last_sent || st->replies != o->drain_last_replies) {
        o->drain_last_sent = st->sent_packets;
        o->drain_last_replies = st->replies;
        o->drain_quiet_since = now;
    }
    if (st->mem_bytes == 0 && st->sessions_active == 0) {
        off_finish(o, "every session ended");
        return;
    }
    if (st->mem_bytes == 0 && now - o->drain_quiet_since >= OFF_DRAIN_QUIET_US) {
        off_finish(o, "every session's data delivered");
        return;
    }
    /* A long capture replayed with --fast can leave minutes of requests queued behind the
     * target's answers: the replay ends when the target stops answering, not at a fixed
     * time after the last packet (which would cut a slower target short). */
    if (st->replies != o->drain_last_progress) {
        o->drain_last_progress = st->replies;
        o->drain_progress_us = now;
    }
    if (now - o->drain_progress_us >= o->conf.drain_max_us) {
        log_warnx("offline: no answer from the target for %.1f s (%.1f s after the last packet), "
                  "%zu sessions still open with %llu bytes queued: stopping",
                  (double)(now - o->drain_progress_us) / 1e6,
                  (double)(now - o->t_read_end_us) / 1e6, eng_session_count(o->eng),
                  (unsigned long long)st->mem_bytes);
        off_finish(o, "drain timeout");
        return;
    }
    loop_timer_set(l, &o->timer, now + OFF_DRAIN_POLL_US, off_drain, o);
}

void offline_start(struct offline *o, struct loop *l, struct eng *e)
{
    uint64_t now = loop_update_time(l);

    o->loop = l;
    o->eng = e;
    /* Asked here, not at open: -d detaches from the terminal in between. */
    o->tty = isatty(STDERR_FILENO) == 1;
    o->state = OFF_READING;
    o->pass = 0;
    o->t_start_us = now;
    o->last_progress_us = now;
    log_info("offline: replaying %s (%s%s, %u pass%s)", o->path,
             o->conf.fast ? "as fast as the target answers" : "recorded pace",
             o->conf.fast || o->conf.accel == 1 ? "" : ", accelerated", o->conf.loops,
             o->conf.loops == 1 ? "" : "es");
    if (o->conf.accel > 1 && !o->conf.fast)
        log_info("offline: speed-up x%u", o->conf.accel);
    if (o->conf.idle_skip_ms)
        log_info("offline: idle gaps cut to %u ms", o->conf.idle_skip_ms);
    loop_timer_set(l, &o->progress_timer,
                   now + (o->tty ? OFF_PROGRESS_TTY_US : OFF_PROGRESS_LOG_US), off_progress, o);
    if (!off_pass_begin(o, now) || !off_read(o)) {
        off_pass_end(o, now);
        return;
    }
    loop_timer_set(l, &o->timer, o->due_us, off_timer, o);
}

bool offline_failed(const struct offline *o)
{
    return o != NULL && o->failed;
}

void offline_counts(const struct offline *o, uint64_t *read, uint64_t *replayed)
{
    *read = o->read;
    *replayed = o->replayed;
}

void offline_decap_errors(const struct offline *o, uint64_t err[DECAP_E_COUNT])
{
    for (int i = 0; i < DECAP_E_COUNT; i++)
        err[i] += o->decap_err[i];
}

uint64_t offline_skipped(const struct offline *o)
{
    uint64_t total = 0;
    for (int i = 0; i < PKT_E_COUNT; i++)
        total += o->skipped[i];
    return total;
}

void offline_log_stats(struct offline *o, bool final)
{
    char sk[512];
    size_t off = 0;
    uint64_t total = 0;

    sk[0] = '\0';
    for (int i = 0; i < PKT_E_COUNT; i++) {
        if (o->skipped[i] == 0)
            continue;
        total += o->skipped[i];
        int n = snprintf(sk + off, sizeof(sk) - off, "%s%s %llu", off ? ", " : "",
                         i == 0 ? "other" : pkt_err_str(i), (unsigned long long)o->skipped[i]);
        if (n < 0 || (size_t)n >= sizeof(sk) - off)
            break;
        off += (size_t)n;
    }
    log_info("%s: offline: packets read %llu, replayed %llu, skipped %llu%s%s%s",
             final ? "final" : "stats", (unsigned long long)o->read,
             (unsigned long long)o->replayed, (unsigned long long)total, total ? " (" : "", sk,
             total ? ")" : "");
    decap_log_counts(&o->conf.decap, o->decap_err, final ? "final" : "stats");
}

void offline_free(struct offline *o)
{
    if (o == NULL)
        return;
    if (o->loop != NULL) {
        loop_timer_cancel(o->loop, &o->timer);
        loop_timer_cancel(o->loop, &o->progress_timer);
    }
    if (o->p != NULL)
        pcap_close(o->p); /* closes the FILE: its buffer is free from here */
    free(o->rbuf);
    free(o->path);
    free(o->filter);
    free(o);
}
