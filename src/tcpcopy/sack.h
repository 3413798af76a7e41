/*
 * sack: the SACK scoreboard of a session (see sack.c).
 */
#ifndef TC_SACK_H
#define TC_SACK_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "pkt.h"

/* Forget what the cumulative acknowledgement (c->snd_una) now covers. */
void sack_prune(struct conn *c);
/* Merge an ACK's SACK blocks; stale or impossible blocks are ignored. */
void sack_update(struct conn *c, const struct tcp_opts *o);
/* If seq lies in a SACKed range, the end of that range; else seq. */
uint32_t sack_skip(const struct conn *c, uint32_t seq);
/* The first SACKed byte above seq (the end of the hole at seq); false if none. */
bool sack_next_lo(const struct conn *c, uint32_t seq, uint32_t *lo);

#endif
