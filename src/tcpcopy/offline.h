/*
 * offline: replay of a capture file (pcap or pcapng, through libpcap) into the
 * session engine, in place of a live capture (tcpcopy --offline, or -i FILE).
 *
 * Packets go to eng_on_capture at the pace they were recorded (-a speeds it up,
 * -I cuts idle gaps, --fast ignores timestamps and is bounded by the engine's
 * queue instead), -T passes over the file, each in an engine epoch of its own.
 * One packet is read ahead and a loop timer fires when it is due, so the event
 * loop (the intercept channel, the engine's timers) runs throughout.
 * When the last pass ends, the replay waits for the engine to drain and then
 * stops the loop. A progress line on a terminal, a log line every 10 s otherwise.
 *
 * Owns the pcap handle, its timer and the counters of skipped packets.
 */
#ifndef TC_TCPCOPY_OFFLINE_H
#define TC_TCPCOPY_OFFLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decap.h"

struct eng;
struct loop;
struct offline;

/*
 * The replay clock: maps a packet's capture time to the loop time it is due.
 * Gaps between consecutive packets longer than idle_skip are cut to it, then
 * the capture-time offset from the pass's first packet is divided by accel.
 * A timestamp earlier than its predecessor's (captures on several interfaces
 * are not strictly ordered) counts as no gap.
 */
struct offline_clock {
    uint32_t accel;        /* >= 1 */
    uint64_t idle_skip_us; /* 0: keep every gap */
    uint64_t start_us;     /* loop time of the pass's first packet */
    uint64_t prev_ts_us;   /* capture time of the previous packet */
    uint64_t virt_us;      /* capture time elapsed since the first packet, gaps cut */
    bool started;
};

void offline_clock_init(struct offline_clock *c, uint32_t accel, uint64_t idle_skip_us);
/* A new pass: its first packet is due at now_us. */
void offline_clock_start(struct offline_clock *c, uint64_t now_us);
/* The loop time at which the packet captured at pkt_ts_us is due. Call once per
 * packet, in file order. */
uint64_t offline_clock_due(struct offline_clock *c, uint64_t pkt_ts_us);

struct offline_conf {
    const char *path;
    const char *filter;        /* BPF applied to the file (-F); NULL: every packet */
    uint32_t accel;            /* -a (1) */
    uint32_t idle_skip_ms;     /* -I (0: keep gaps) */
    uint32_t loops;            /* -T (1) */
    bool fast;                 /* --fast */
    struct decap decap;        /* --decap: the file holds mirrored, encapsulated traffic */
    uint64_t drain_max_us;     /* after the last packet, longest wait for a target answer */
};

/*
 * Open and check the file (it must exist and be a capture libpcap reads; the
 * filter must compile). NULL with a one-line message in err otherwise.
 */
struct offline *offline_open(const struct offline_conf *c, char *err, size_t errlen);

/* Start replaying into e on loop l: the first packet goes out at once. */
void offline_start(struct offline *o, struct loop *l, struct eng *e);

/* True once the file turned out truncated or unreadable part-way (the exit
 * status should say so). */
bool offline_failed(const struct offline *o);

/* Packets read from the file (all passes) and handed to the engine. */
void offline_counts(const struct offline *o, uint64_t *read, uint64_t *replayed);
/* Records not replayed: unparsable, or not a packet of a link type we read. */
uint64_t offline_skipped(const struct offline *o);
/* Add the packets not decapsulated (--decap), by reason, to err. */
void offline_decap_errors(const struct offline *o, uint64_t err[DECAP_E_COUNT]);

/* Log the replay's counters (packets replayed, skipped by reason). */
void offline_log_stats(struct offline *o, bool final);

void offline_free(struct offline *o); /* NULL-safe; cancels its timers */

#endif
