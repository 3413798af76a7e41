/*
 * mod_pgsql: the built-in `postgresql` protocol module (doc/modules.md). A copied
 * PostgreSQL login answers production's md5 salt or SCRAM nonce: this module lets the
 * client's startup message through, waits for each of the target's authentication
 * requests, and puts its own answer in place of the client's PasswordMessage /
 * SASLInitialResponse / SASLResponse (password from --module-conf): md5 for the target's
 * salt, SCRAM-SHA-256 with a nonce of ours, the server's signature verified. An
 * SSLRequest answered 'N' goes on in clear; 'S' (TLS) is counted not replayable. A
 * session seen mid-stream is logged in by the module with the last startup message seen
 * (else one for the first user of --module-conf and the database of its "@database NAME"
 * line), its answers hidden from the engine's
 * request accounting until ReadyForQuery.
 *
 *   STARTUP --SSLRequest--> SSLWAIT --'N'--> STARTUP --startup--> AUTH --R 0..Z--> READY
 *   (mid-stream) OWN: our startup, our answers --Z--> READY
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pgsql.h"
#include "mod_db.h"

#define PGM_TBUF 1024     /* the prefix of a target message we look at */
#define PGM_STARTUP 1024  /* the longest startup message kept for resuming */
#define PGM_USER 64

struct pgm_mod {
    const struct tcm_host *host;
    struct mod_db_counts c;
    uint8_t startup[PGM_STARTUP]; /* the last startup message seen */
    size_t startup_len;
    char startup_user[PGM_USER];
};

enum pgm_phase { PGM_STARTUP_PH, PGM_SSLWAIT, PGM_AUTH, PGM_READY, PGM_OWN };

struct pgm_sess {
    struct pgm_mod *m;
    enum pgm_phase ph;
    char user[PGM_USER];
    uint32_t req;     /* the target's authentication request to answer */
    bool need_answer; /* ... and the client's message to replace is still to come */
    bool rewrote;
    uint8_t salt[4];
    struct pg_scram sc;
    uint8_t sfirst[PGM_TBUF]; /* the server-first message, for the client-final */
    size_t sflen;
    uint8_t tb[PGM_TBUF];
    size_t tfill, tkeep;
    uint32_t tlen, tskip;
};

static void pgm_log(const struct pgm_mod *m, int level, const char *msg)
{
    m->host->log(m->host, level, msg);
}

/* Our answer to the target's pending request; length, or TCM_ERR. */
static long pgm_answer(struct pgm_sess *s, uint8_t *out, size_t cap)
{
    const char *pw = s->m->host->password(s->m->host, s->user);
    char nonce[PG_NONCE_LEN + 1];
    size_t n = 0;
    int rc;

    if (pw == NULL) {
        db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        pgm_log(s->m, 2, "postgresql: no password for the session's user");
        return TCM_ERR;
    }
    switch (s->req) {
    case PG_AUTH_MD5:
        rc = pg_md5_message(s->user, pw, s->salt, out, cap, &n);
        break;
    case PG_AUTH_CLEARTEXT:
        rc = pg_clear_message(pw, out, cap, &n);
        break;
    case PG_AUTH_SASL:
        rc = pg_scram_nonce(nonce);
        if (rc == 0)
            rc = pg_scram_first(&s->sc, nonce, out, cap, &n);
        break;
    case PG_AUTH_SASL_CONTINUE:
        rc = pg_scram_final(&s->sc, pw, s->sfirst, s->sflen, out, cap, &n);
        break;
    default:
        rc = -PG_E_AUTH;
    }
    if (rc != 0) {
        db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        return TCM_ERR;
    }
    s->need_answer = false;
    return (long)n;
}

/* An 'R' message from the target. */
static long pgm_auth_req(struct pgm_sess *s, const uint8_t *msg, size_t len, unsigned *flags,
                         uint8_t *out, size_t cap)
{
    bool own = s->ph == PGM_OWN;
    struct pg_auth a;

    if (pg_auth_parse(msg, len, &a) != 0)
        return TCM_ERR;
    switch (a.code) {
    case PG_AUTH_OK:
        if (own)
            db_count(s->m->host, &s->m->c.resumed, DB_C_RESUMED);
        else if (s->rewrote)
            db_count(s->m->host, &s->m->c.rewritten, DB_C_REWRITTEN);
        if (!own)
            s->ph = PGM_READY;
        return 0;
    case PG_AUTH_SASL_FINAL:
        if (pg_scram_verify(&s->sc, a.data, a.data_len) != 0) {
            db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
            pgm_log(s->m, 2, "postgresql: the target's SCRAM signature does not verify");
            return TCM_ERR;
        }
        return 0;
    case PG_AUTH_SASL:
        if (!pg_sasl_offers(&a, "SCRAM-SHA-256")) {
            db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
            return TCM_ERR;
        }
        break;
    case PG_AUTH_MD5:
        memcpy(s->salt, a.data, 4);
        break;
    case PG_AUTH_SASL_CONTINUE:
        if (a.data_len > sizeof(s->sfirst))
            return TCM_ERR;
        memcpy(s->sfirst, a.data, a.data_len);
        s->sflen = a.data_len;
        break;
    case PG_AUTH_CLEARTEXT:
        break;
    default:
        /* GSSAPI, SSPI, ... */
        db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        return TCM_ERR;
    }
    s->req = a.code;
    s->need_answer = true;
    return own ? pgm_answer(s, out, cap) : 0;
}

/* One target message (a kept prefix of at most PGM_TBUF bytes; whole when keep == len). */
static long pgm_tgt_msg(struct pgm_sess *s, const uint8_t *msg, size_t keep, size_t len,
                        unsigned *flags, uint8_t *out, size_t cap)
{
    bool own = s->ph == PGM_OWN;

    if (own)
        *flags |= TCM_ANSWER_OWN;
    if (s->ph != PGM_AUTH && !own)
        return 0;
    switch (msg[0]) {
    case 'R':
        return keep < len ? TCM_ERR : pgm_auth_req(s, msg, keep, flags, out, cap);
    case 'E':
        db_count(s->m->host, &s->m->c.refused, DB_C_REFUSED);
        pgm_log(s->m, 2, own ? "postgresql: the target refused our login"
                             : "postgresql: the target refused a login");
        s->ph = PGM_READY;
        return own ? TCM_ERR : 0;
    case 'Z':
        if (own) {
            *flags |= TCM_ANSWER_DONE;
            s->ph = PGM_READY;
        }
        return 0;
    default:
        return 0; /* ParameterStatus, BackendKeyData, NoticeResponse */
    }
}

static long pgm_target_data(void *sess, const uint8_t *d, size_t len, uint64_t lost,
                            unsigned *flags, uint8_t *out, size_t cap)
{
    struct pgm_sess *s = sess;
    size_t o = 0, w = 0;

    if (s->ph == PGM_READY)
        return 0; /* after the login nothing of the target's is read */
    if (lost > 0)
        return TCM_ERR;
    if (s->ph == PGM_SSLWAIT && len > 0) {
        if (d[0] != 'N') { /* 'S': the target wants TLS; 'E': a pre-7.1 server */
            db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
            return TCM_ERR;
        }
        s->ph = PGM_STARTUP_PH;
        o = 1;
    }
    while (o < len && s->ph != PGM_READY) {
        if (s->tskip > 0) {
            size_t k = len - o < s->tskip ? len - o : s->tskip;
            s->tskip -= (uint32_t)k;
            o += k;
            continue;
        }
        size_t want = s->tfill < 5 ? 5 : s->tkeep;
        size_t k = want - s->tfill < len - o ? want - s->tfill : len - o;
        memcpy(s->tb + s->tfill, d + o, k);
        s->tfill += k;
        o += k;
        if (s->tfill == 5 && want == 5) {
            size_t total;
            if (pg_frame(s->tb, 5, false, &total) != 0)
                return TCM_ERR;
            s->tlen = (uint32_t)s->tb[1] << 24 | (uint32_t)s->tb[2] << 16 |
                      (uint32_t)s->tb[3] << 8 | s->tb[4];
            s->tlen += 1;
            s->tkeep = s->tlen < PGM_TBUF ? s->tlen : PGM_TBUF;
        }
        if (s->tfill < s->tkeep || s->tfill < 5)
            continue;
        s->tskip = s->tlen - (uint32_t)s->tkeep;
        s->tfill = 0;
        long n = pgm_tgt_msg(s, s->tb, s->tkeep, s->tlen, flags, out + w, cap - w);
        if (n < 0)
            return n;
        w += (size_t)n;
    }
    return (long)w;
}

/* STARTUP: the client's first message (or SSLRequest), passed through. */
static long pgm_client_startup(struct pgm_sess *s, const uint8_t *in, size_t len,
                               size_t *used, uint8_t *out, size_t cap)
{
    struct pg_startup st;
    size_t total;

    if (pg_frame(in, len, true, &total) != 0 || (total > 0 && pg_startup_parse(in, total, &st))) {
        /* TLS bytes after 'S', protocol 2, garbage */
        db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        return TCM_ERR;
    }
    if (total == 0 || total > cap)
        return 0;
    *used = total;
    memcpy(out, in, total);
    if (st.code == PG_SSL_REQUEST || st.code == PG_GSSENC_REQUEST) {
        s->ph = PGM_SSLWAIT;
    } else if (st.code == PG_CANCEL_REQUEST) {
        s->ph = PGM_READY;
    } else {
        size_t n = st.user_len < PGM_USER ? st.user_len : PGM_USER - 1;
        memcpy(s->user, in + st.user_off, n);
        s->user[n] = '\0';
        if (total <= PGM_STARTUP) {
            memcpy(s->m->startup, in, total);
            s->m->startup_len = total;
            memcpy(s->m->startup_user, s->user, n + 1);
        }
        s->ph = PGM_AUTH;
    }
    return (long)total;
}

static long pgm_client_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                            uint8_t *out, size_t cap)
{
    struct pgm_sess *s = sess;
    size_t used = 0, total;
    long n = 0;

    *consumed = 0;
    switch (s->ph) {
    case PGM_STARTUP_PH:
        n = pgm_client_startup(s, in, len, &used, out, cap);
        break;
    case PGM_SSLWAIT:
    case PGM_OWN:
        return 0; /* the target's answer first */
    case PGM_AUTH:
        if (len < 1 || in[0] != 'p') {
            /* The client is past its login (the target's AuthenticationOk may come in a
             * later segment than its last request): its bytes pass, the target's are read
             * until AuthenticationOk. */
            used = len < cap ? len : cap;
            memcpy(out, in, used);
            n = (long)used;
            break;
        }
        if (pg_frame(in, len, false, &total) != 0)
            return TCM_ERR;
        if (total == 0 || !s->need_answer)
            return 0; /* the whole message, and the target's request, first */
        used = total;
        s->rewrote = true;
        n = pgm_answer(s, out, cap);
        break;
    case PGM_READY:
        used = len < cap ? len : cap;
        memcpy(out, in, used);
        n = (long)used;
        break;
    }
    if (n >= 0)
        *consumed = used;
    return n;
}

static int pgm_init(const struct tcm_host *host, void **mod)
{
    struct pgm_mod *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->host = host;
    *mod = m;
    return 0;
}

static void pgm_fini(void *mod)
{
    struct pgm_mod *m = mod;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "postgresql: logins rewritten %llu, resumed %llu, refused %llu, not replayable %llu",
             (unsigned long long)m->c.rewritten, (unsigned long long)m->c.resumed,
             (unsigned long long)m->c.refused, (unsigned long long)m->c.not_replayable);
    pgm_log(m, 1, msg);
    free(m);
}

static int pgm_sess_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    struct pgm_sess *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->m = mod;
    *sess = s;
    return 0;
}

static void pgm_sess_end(void *mod, void *sess)
{
    free(sess);
}

/* Mid-stream: our own startup message (the last seen, else the first user's). */
static long pgm_start(void *sess, enum tcm_start why, uint8_t *out, size_t cap)
{
    struct pgm_sess *s = sess;
    struct pgm_mod *m = s->m;
    size_t n;

    if (why != TCM_START_MIDSTREAM)
        return 0;
    s->ph = PGM_OWN;
    if (m->startup_len > 0 && m->startup_len <= cap) {
        memcpy(out, m->startup, m->startup_len);
        snprintf(s->user, sizeof(s->user), "%s", m->startup_user);
        return (long)m->startup_len;
    }
    const char *user = NULL;
    for (size_t i = 0; user == NULL && m->host->user_at(m->host, i) != NULL; i++)
        if (m->host->user_at(m->host, i)[0] != '@') /* "@database NAME" is no user */
            user = m->host->user_at(m->host, i);
    if (user == NULL ||
        pg_startup_build(user, m->host->password(m->host, "@database"), out, cap, &n) != 0) {
        db_count(m->host, &m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        return TCM_ERR;
    }
    snprintf(s->user, sizeof(s->user), "%s", user);
    return (long)n;
}

const struct mod_db_counts *mod_pgsql_counts(const void *mod)
{
    return &((const struct pgm_mod *)mod)->c;
}

static const char *const pgm_counters[] = {
    "logins_rewritten", "logins_resumed", "logins_refused", "not_replayable", NULL,
};

const struct tcm_module mod_pgsql_module = {
    .api_version = TCM_API_VERSION,
    .name = "postgresql",
    .init = pgm_init,
    .fini = pgm_fini,
    .sess_new = pgm_sess_new,
    .sess_end = pgm_sess_end,
    .start = pgm_start,
    .client_data = pgm_client_data,
    .target_data = pgm_target_data,
    .counters = pgm_counters,
};
