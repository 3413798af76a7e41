/*
 * mod_mysql_impl: the `mysql` module's state, shared by mod_mysql.c (the hooks, the login)
 * and mod_mysql_stmt.c (prepared statements: production's ids and the target's).
 */
#ifndef TC_MOD_MYSQL_IMPL_H
#define TC_MOD_MYSQL_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "db_mysql.h"
#include "mod_db.h"

#define MY_TBUF 1024     /* the prefix of a target packet we look at (an RSA key fits) */
#define MY_PREP_MAX 64   /* statements per connection whose ids are followed */
#define MY_CACHE 64      /* statement texts kept for re-prepare */
#define MY_TEXT_MAX 2048 /* longest statement text kept */
#define MY_DEPRECATE_EOF (1U << 24)

struct my_text {
    uint16_t len;
    char text[MY_TEXT_MAX];
};

struct my_mod {
    const struct tcm_host *host;
    struct mod_db_counts c;
    bool have_login; /* the last login seen: a mid-stream session logs in like it */
    uint32_t caps;
    uint8_t charset;
    char user[MYSQL_NAME_MAX], db[MYSQL_NAME_MAX];
    uint32_t ncache; /* distinct statement texts, in the order first prepared */
    struct my_text cache[MY_CACHE];
};

enum my_prep_state { MY_PREP_WAIT, MY_PREP_OK, MY_PREP_FAILED };

/*
 * A connection's prepared statements, k = 1..n in the order prepared. A server numbers a
 * connection's statements consecutively (its thread's counter: base + k) but the base is
 * not known (the counter carries over connections served by the same cached thread). It is
 * learned from the ids the client uses: for the first id seen (x0), each k0 that fits (the
 * statement's parameters fit the COM_STMT_EXECUTE) is a candidate (base = x0 - k0); each
 * later id keeps the candidates it fits too; the smallest is used.
 */
struct my_stmts {
    uint32_t n, answered;
    struct {
        uint32_t target;
        uint16_t nparams;
        uint8_t state; /* enum my_prep_state */
    } p[MY_PREP_MAX];
    bool based, after_prepare;
    bool have_tbase; /* the target numbers them tbase + k (its thread's counter too) */
    bool tlost;      /* answer bytes were lost: the target's packets are no longer framed */
    uint32_t tbase;
    uint32_t x0;
    uint64_t mask; /* bit k0 - 1: base x0 - k0 still possible */
};

enum my_phase { MY_GREET, MY_LOGIN, MY_AUTH, MY_CMD, MY_OWN_AUTH, MY_OWN_PREP };

struct my_sess {
    struct my_mod *m;
    enum my_phase ph;
    bool midstream;
    struct mysql_greeting g; /* the target's */
    uint32_t caps;           /* the session's login */
    char user[MYSQL_NAME_MAX];
    uint8_t scr[MYSQL_SCRAMBLE_LEN]; /* the scramble being answered */
    size_t scr_len;
    bool want_key; /* caching_sha2 full authentication: the server's RSA key was asked */
    /* the target's packets: a kept prefix, the rest skipped */
    uint8_t th[MY_TBUF];
    size_t tfill, tkeep;
    uint32_t tplen, tskip;
    uint32_t cpass;     /* client bytes of the current packet still to pass unchanged */
    uint32_t prep_i;    /* OWN_PREP: the cache slot being prepared */
    uint32_t prep_left; /* OWN_PREP: packets of its answer still to come */
    struct my_stmts st;
};

/* A statement prepared on the connection (the client's, or ours again); its text kept. */
void my_stmt_prepared(struct my_sess *s, const uint8_t *text, size_t n);
/* The target's first answer packet to the oldest prepare not answered yet. */
void my_stmt_answer(struct my_sess *s, const uint8_t *p, size_t keep);
/* The target's id for the statement of a command payload p[len] (whole: all of it is
 * there), or false. */
bool my_stmt_target(struct my_sess *s, const uint8_t *p, size_t len, bool whole,
                    uint32_t *target);

#endif
