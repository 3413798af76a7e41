/*
 * cmp_base: noise learning (--compare-baseline). A difference between the target's answer
 * and production's is noise when a baseline (a second target running production's version)
 * differs from production in the same way; see cmp_base.c and doc/compare.md.
 */
#ifndef TC_CMP_BASE_H
#define TC_CMP_BASE_H

#include <stdbool.h>

#include "cmp_diff.h"
#include "cmp_unit.h"

/* o (online), t (target) and b (baseline) are three answers to one request, t differing from
 * o. True when every way t differs from o also shows between b and o (noise): d is then the
 * first of those differences. False when t shows a difference of its own: d is the first
 * such (a real difference). Pure. */
bool cmp_base_noise(const struct cmp_unit *o, const struct cmp_unit *t, const struct cmp_unit *b,
                    struct cmp_diff *d);

#endif
