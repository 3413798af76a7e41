/*
 * chanlag: the channel's lag, from intercept's capture of a reply to its arrival here,
 * across two hosts whose clocks need not agree (doc/protocol.md, section 7).
 *
 * Timestamped heartbeats give the clocks' offset the way NTP does: we send our time t1;
 * intercept echoes it with how long it held it (held) and its own time s2 when it sent the
 * echo; received at t4, the round trip is (t4 - t1) - held and intercept's clock is ahead
 * of ours by ((s2 - held - t1) + (s2 - t4)) / 2. The sample with the shortest round trip
 * of the last minute is kept (queueing only ever adds to a round trip). A STAMP frame
 * carries the capture time of the REPLY records after it, in intercept's clock: arriving
 * at `now`, their lag is now - (stamp - offset). No I/O, no clock reads: callers pass the
 * times (realtime, µs), so unit tests drive it.
 */
#ifndef TC_CHANLAG_H
#define TC_CHANLAG_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"

#define CHANLAG_KEEP_US (60ULL * 1000000) /* the best round trip is trusted this long */

struct chanlag {
    bool have_offset;
    int64_t offset_us;      /* intercept's clock minus ours */
    uint64_t rtt_us;        /* round trip of the sample the offset came from */
    uint64_t sample_at_us;  /* when that sample was taken (our clock) */
    uint64_t lag_samples;   /* STAMPs measured */
    uint64_t lag_sum_us;    /* their lags added */
    uint64_t lag_ewma_us;   /* recent lag: exponentially weighted, 1/16 per sample */
    uint64_t lag_max_us;
};

/* A heartbeat from intercept, received at now_us. */
void chanlag_on_heartbeat(struct chanlag *l, const struct chan_hb *h, uint64_t now_us);
/* A STAMP received at now_us: the sample in *lag_us. False (nothing counted) before an offset is known, or for a
 * stamp that would put the capture after its arrival by more than the round trip (a clock
 * stepped meanwhile). */
bool chanlag_on_stamp(struct chanlag *l, uint64_t stamp_us, uint64_t now_us, uint64_t *lag_us);

#endif
