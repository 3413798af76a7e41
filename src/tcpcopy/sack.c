/*
 * sack: a session's scoreboard of what the target reported holding above its
 * cumulative acknowledgement (SACK blocks, RFC 2018), used as in RFC 6675: resend
 * only the holes. At most PKT_SACK_MAX ranges, kept sorted; it lives in struct conn.
 */
#include <string.h>

#include "sack.h"

/* Forget what the cumulative acknowledgement now covers. */
void sack_prune(struct conn *c)
{
    uint8_t k = 0;
    for (uint8_t i = 0; i < c->nsacked; i++) {
        struct conn_sack r = c->sacked[i];
        if (seq_le(r.hi, c->snd_una))
            continue;
        if (seq_lt(r.lo, c->snd_una))
            r.lo = c->snd_una;
        c->sacked[k++] = r;
    }
    c->nsacked = k;
}

/* Merge the blocks of an ACK into the scoreboard (kept sorted, at most PKT_SACK_MAX:
 * when full, the highest range is forgotten; it will be reported again). */
void sack_update(struct conn *c, const struct tcp_opts *o)
{
    for (uint8_t b = 0; b < o->nsack && b < PKT_SACK_MAX; b++) {
        uint32_t lo = o->sack[b][0], hi = o->sack[b][1];
        if (!seq_lt(lo, hi) || seq_le(hi, c->snd_una) || seq_gt(hi, c->snd_max))
            continue; /* stale, empty or impossible block */
        if (seq_lt(lo, c->snd_una))
            lo = c->snd_una;
        struct conn_sack out[PKT_SACK_MAX + 1];
        uint8_t n = 0;
        bool placed = false;
        for (uint8_t i = 0; i < c->nsacked; i++) {
            struct conn_sack r = c->sacked[i];
            if (seq_lt(r.hi, lo)) {
                out[n++] = r;
            } else if (seq_gt(r.lo, hi)) {
                if (!placed) {
                    out[n++] = (struct conn_sack){lo, hi};
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
            out[n++] = (struct conn_sack){lo, hi};
        if (n > PKT_SACK_MAX)
            n = PKT_SACK_MAX;
        memcpy(c->sacked, out, n * sizeof(out[0]));
        c->nsacked = n;
    }
}

/* If seq lies in a SACKed range, the end of that range; else seq. */
uint32_t sack_skip(const struct conn *c, uint32_t seq)
{
    for (uint8_t i = 0; i < c->nsacked; i++)
        if (seq_ge(seq, c->sacked[i].lo) && seq_lt(seq, c->sacked[i].hi))
            return c->sacked[i].hi;
    return seq;
}

/* The first SACKed byte above seq (the end of the hole at seq), or 0 with false. */
bool sack_next_lo(const struct conn *c, uint32_t seq, uint32_t *lo)
{
    for (uint8_t i = 0; i < c->nsacked; i++) {
        if (seq_gt(c->sacked[i].lo, seq)) {
            *lo = c->sacked[i].lo;
            return true;
        }
    }
    return false;
}
