/*
 * chanlag: the channel's lag across two clocks (see chanlag.h).
 */
#include "chanlag.h"

void chanlag_on_heartbeat(struct chanlag *l, const struct chan_hb *h, uint64_t now_us)
{
    if (h->echo_us == 0 || h->sent_us == 0 || now_us < h->echo_us)
        return; /* no echo yet, or our clock went back since we sent it */
    uint64_t total = now_us - h->echo_us;
    if (h->held_us > total)
        return; /* held longer than the round trip: the clocks' rates disagree wildly */
    uint64_t rtt = total - h->held_us;
    bool stale = now_us - l->sample_at_us > CHANLAG_KEEP_US;
    if (l->have_offset && rtt > l->rtt_us && !stale)
        return;
    /* ((s2 - held - t1) + (s2 - t4)) / 2, in signed arithmetic: the clocks may be hours
     * apart either way. */
    int64_t a = (int64_t)(h->sent_us - h->held_us - h->echo_us);
    int64_t b = (int64_t)(h->sent_us - now_us);
    l->offset_us = a / 2 + b / 2 + (a % 2 + b % 2) / 2;
    l->rtt_us = rtt;
    l->sample_at_us = now_us;
    l->have_offset = true;
}

bool chanlag_on_stamp(struct chanlag *l, uint64_t stamp_us, uint64_t now_us, uint64_t *lag_us)
{
    if (!l->have_offset)
        return false;
    int64_t lag = (int64_t)(now_us - stamp_us) + l->offset_us;
    /* The offset is known to within half a round trip: a capture apparently up to that much
     * after its arrival is noise around zero; much more means a clock was stepped. */
    if (lag < 0) {
        if ((uint64_t)-lag > l->rtt_us / 2 + 1000)
            return false;
        lag = 0;
    }
    uint64_t v = (uint64_t)lag;
    l->lag_samples++;
    l->lag_sum_us += v;
    if (v > l->lag_max_us)
        l->lag_max_us = v;
    l->lag_ewma_us = l->lag_samples == 1 ? v : l->lag_ewma_us - l->lag_ewma_us / 16 + v / 16;
    *lag_us = v;
    return true;
}
