/*
 * sack: a session's scoreboard of what the target reported holding above its
 * cumulative acknowledgement (SACK blocks, RFC 2018), used as in RFC 6675: resend
 * only the holes. At most PKT_SACK_MAX ranges, kept sorted; it lives in struct sess.
 */
#include <string.h>

#include "sack.h"

/* Forget what the cumulative acknowledgement now covers. */
void sack_prune(struct sess *s)
{
    uint8_t k = 0;
    for (uint8_t i = 0; i < s->nsacked; i++) {
        struct sess_sack r = s->sacked[i];
        if (seq_le(r.hi, s->snd_una))
            continue;
        if (seq_lt(r.lo, s->snd_una))
            r.lo = s->snd_una;
        s->sacked[k++] = r;
    }
    s->nsacked = k;
}

/* Merge the blocks of an ACK into the scoreboard (kept sorted, at most PKT_SACK_MAX:
 * when full, the highest range is forgotten; it will be reported again). */
void sack_update(struct sess *s, const struct tcp_opts *o)
{
    for (uint8_t b = 0; b < o->nsack && b < PKT_SACK_MAX; b++) {
        uint32_t lo = o->sack[b][0], hi = o->sack[b][1];
        if (!seq_lt(lo, hi) || seq_le(hi, s->snd_una) || seq_gt(hi, s->snd_max))
            continue; /* stale, empty or impossible block */
        if (seq_lt(lo, s->snd_una))
            lo = s->snd_una;
        struct sess_sack out[PKT_SACK_MAX + 1];
        uint8_t n = 0;
        bool placed = false;
        for (uint8_t i = 0; i < s->nsacked; i++) {
            struct sess_sack r = s->sacked[i];
            if (seq_lt(r.hi, lo)) {
                out[n++] = r;
            } else if (seq_gt(r.lo, hi)) {
                if (!placed) {
                    out[n++] = (struct sess_sack){lo, hi};
                    placed = true;
                }
                out[n++] = r;
            } else {
                lo = seq_min(lo, r.lo);
                hi = seq_max(hi, r.hi);
            }
            if (n > PKT_SACK_MAX)
                n = PKT_SACK_MAX; /* drop the highest */
        }
        if (!placed && n < PKT_SACK_MAX + 1)
            out[n++] = (struct sess_sack){lo, hi};
        if (n > PKT_SACK_MAX)
            n = PKT_SACK_MAX;
        memcpy(s->sacked, out, n * sizeof(out[0]));
        s->nsacked = n;
    }
}

/* If seq lies in a SACKed range, the end of that range; else seq. */
uint32_t sack_skip(const struct sess *s, uint32_t seq)
{
    for (uint8_t i = 0; i < s->nsacked; i++)
        if (seq_ge(seq, s->sacked[i].lo) && seq_lt(seq, s->sacked[i].hi))
            return s->sacked[i].hi;
    return seq;
}

/* The first SACKed byte above seq (the end of the hole at seq), or 0 with false. */
bool sack_next_lo(const struct sess *s, uint32_t seq, uint32_t *lo)
{
    for (uint8_t i = 0; i < s->nsacked; i++) {
        if (seq_gt(s->sacked[i].lo, seq)) {
            *lo = s->sacked[i].lo;
            return true;
        }
    }
    return false;
}
