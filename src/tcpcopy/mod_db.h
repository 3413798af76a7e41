/*
 * mod_db: what the built-in database modules (mod_mysql.c, mod_pgsql.c) share:
 * their counters and their tables for mod.c's list of built-in modules.
 */
#ifndef TC_MOD_DB_H
#define TC_MOD_DB_H

#include <stdint.h>

#include "tcpcopy/module.h"

/* Per module (all sessions), logged at exit and read by the unit tests. */
struct mod_db_counts {
    uint64_t rewritten;      /* logins (and COM_CHANGE_USER) answered for the target's challenge */
    uint64_t resumed;        /* sessions seen mid-stream logged in by the module itself */
    uint64_t refused;        /* logins the target refused (an error answer) */
    uint64_t not_replayable; /* TLS, an unknown method, a user without a password, ... */
    uint64_t stmts_mapped;   /* prepared statements whose target id is known */
    uint64_t stmts_reprepared;
};

/* Their indexes in the modules' counter names (struct tcm_module's counters). */
enum {
    DB_C_REWRITTEN,
    DB_C_RESUMED,
    DB_C_REFUSED,
    DB_C_NOT_REPLAYABLE,
    DB_C_MAPPED,
    DB_C_REPREPARED,
};

/* Count one event: in the module's own struct (tests, the exit line) and the host's
 * module.events.NAME row. */
static inline void db_count(const struct tcm_host *h, uint64_t *field, unsigned idx)
{
    (*field)++;
    if (h->count != NULL)
        h->count(h, idx, 1);
}

extern const struct tcm_module mod_mysql_module;
extern const struct tcm_module mod_pgsql_module;

/* The counters of a module state from init (for tests and the log). */
const struct mod_db_counts *mod_mysql_counts(const void *mod);
const struct mod_db_counts *mod_pgsql_counts(const void *mod);

#endif
