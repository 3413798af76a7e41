/*
 * mod_mysql_stmt: the `mysql` module's prepared statements (see mod_mysql_impl.h): the
 * target's ids from its COM_STMT_PREPARE_OK, production's learned from the ids the client
 * uses, and the texts kept for sessions resumed mid-stream.
 */
#include <string.h>

#include "mod_mysql_impl.h"

static void cache_add(struct my_mod *m, const uint8_t *text, size_t n)
{
    if (n > MY_TEXT_MAX)
        return;
    for (uint32_t i = 0; i < m->ncache; i++)
        if (m->cache[i].len == n && memcmp(m->cache[i].text, text, n) == 0)
            return;
    if (m->ncache >= MY_CACHE)
        return;
    m->cache[m->ncache].len = (uint16_t)n;
    memcpy(m->cache[m->ncache].text, text, n);
    m->ncache++;
}

void my_stmt_prepared(struct my_sess *s, const uint8_t *text, size_t n)
{
    struct my_stmts *st = &s->st;
    if (text != NULL)
        cache_add(s->m, text, n);
    if (st->n < MY_PREP_MAX) {
        st->p[st->n].state = MY_PREP_WAIT;
        st->n++;
    }
}

void my_stmt_answer(struct my_sess *s, const uint8_t *p, size_t keep)
{
    struct my_stmts *st = &s->st;
    uint32_t id;
    uint16_t nc, np;

    if (st->answered >= st->n)
        return;
    if (mysql_prepare_ok_parse(p, keep, &id, &nc, &np) == 0) {
        if (!st->have_tbase) {
            st->tbase = id - (st->answered + 1);
            st->have_tbase = true;
        }
        st->p[st->answered].target = id;
        st->p[st->answered].nparams = np;
        st->p[st->answered].state = MY_PREP_OK;
        db_count(s->m->host, &s->m->c.stmts_mapped, DB_C_MAPPED);
    } else {
        st->p[st->answered].state = MY_PREP_FAILED;
    }
    st->answered++;
}

/*
 * After answer bytes were lost the target's answers are no longer read: a statement prepared
 * since is taken as prepared, numbered tbase + k by the target (its ids are consecutive per
 * connection as production's are), its parameters unknown.
 */
static bool unread(const struct my_stmts *st, int64_t k)
{
    return st->tlost && st->have_tbase && st->p[k - 1].state == MY_PREP_WAIT;
}

/* Does statement k (1-based) fit command p? */
static bool fits(const struct my_stmts *st, int64_t k, const uint8_t *p, size_t len, bool whole)
{
    if (k < 1 || k > (int64_t)st->n)
        return false;
    if (unread(st, k))
        return true;
    if (st->p[k - 1].state != MY_PREP_OK)
        return false;
    if (p[0] != MYSQL_COM_STMT_EXECUTE || !whole)
        return true;
    return mysql_execute_fits(p, len, st->p[k - 1].nparams);
}

/* The candidates k0 (bits k0 - 1) that id x fits. */
static uint64_t candidates(const struct my_stmts *st, uint32_t x, const uint8_t *p, size_t len,
                           bool whole)
{
    uint64_t m = 0;
    for (int64_t k0 = 1; k0 <= (int64_t)st->n && k0 <= 64; k0++)
        if (fits(st, (int64_t)x - st->x0 + k0, p, len, whole))
            m |= 1ULL << (k0 - 1);
    return m;
}

bool my_stmt_target(struct my_sess *s, const uint8_t *p, size_t len, bool whole,
                    uint32_t *target)
{
    struct my_stmts *st = &s->st;
    uint32_t x = p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;

    if (st->n == 0)
        return false;
    if (!st->based) {
        st->x0 = x;
        st->mask = candidates(st, x, p, len, whole);
        /* A statement executed right after it was prepared (most connectors): the last. */
        uint32_t last = st->n <= 64 ? st->n : 64;
        if (st->after_prepare && (st->mask & (1ULL << (last - 1))))
            st->mask = 1ULL << (last - 1);
        st->based = st->mask != 0;
        if (!st->based)
            return false;
    } else {
        uint64_t m = st->mask & candidates(st, x, p, len, whole);
        if (m == 0)
            return false; /* fits no candidate: leave the id alone */
        st->mask = m;
    }
    int64_t k0 = __builtin_ctzll(st->mask) + 1;
    int64_t k = (int64_t)x - st->x0 + k0;
    if (!fits(st, k, p, len, whole))
        return false;
    *target = unread(st, k) ? st->tbase + (uint32_t)k : st->p[k - 1].target;
    return true;
}
