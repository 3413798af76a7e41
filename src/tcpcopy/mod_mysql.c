/*
 * mod_mysql: the built-in `mysql` protocol module (MySQL and MariaDB; doc/modules.md).
 * A copied login answers production's scramble, so the target would refuse it: this
 * module waits for the target's greeting, rebuilds the client's HandshakeResponse41 with
 * the answer for the target's scramble (password from --module-conf), answers the target's
 * auth-switch requests itself (dropping the client's answers to production's), does the
 * same for COM_CHANGE_USER, and maps prepared-statement ids (the target's from its
 * COM_STMT_PREPARE_OK, production's learned from the client's use: mod_mysql_stmt.c).
 * A session seen mid-stream is logged in by the module (the last user and database seen,
 * else the first user of --module-conf and the database of its "@database NAME" line) and
 * the statements other sessions prepared are
 * prepared again, their ids mapped. TLS and unknown methods are counted not replayable.
 *
 * Session phases (target side drives GREET and the own phases, client side the others):
 *
 *   GREET --target greeting--> LOGIN --client login, rewritten--> AUTH --OK--> CMD
 *     |  (mid-stream: our own login)                               ^  |COM_CHANGE_USER
 *     +--> OWN_AUTH --OK--> OWN_PREP (one statement at a time) --> CMD <-+
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_mysql.h"
#include "mod_db.h"
#include "mod_mysql_impl.h"

#define MY_WHOLE_MAX 16384 /* a command this long is looked at whole (MOD_IN_MAX) */

__attribute__((format(printf, 3, 4))) static void my_log(const struct my_mod *m, int level,
                                                         const char *fmt, ...)
{
    va_list ap;
    char msg[160];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m->host->log(m->host, level, msg);
}

static void name_of(char *dst, const uint8_t *p, size_t n)
{
    if (n >= MYSQL_NAME_MAX)
        n = MYSQL_NAME_MAX - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* ---- the target's side ------------------------------------------------------------ */

static void remember_scramble(struct my_sess *s, const uint8_t *scr, size_t slen)
{
    s->scr_len = slen < MYSQL_SCRAMBLE_LEN ? slen : MYSQL_SCRAMBLE_LEN;
    memcpy(s->scr, scr, s->scr_len);
    s->want_key = false;
}

/* The answer packet for method/scramble with sequence seq into out: its length, or < 0. */
static long answer_packet(struct my_sess *s, const char *user, const char *plugin,
                          const uint8_t *scr, size_t slen, uint8_t seq, uint8_t *out, size_t cap)
{
    const char *pw = s->m->host->password(s->m->host, user);
    uint8_t ans[MYSQL_AUTH_MAX];
    size_t alen;
    if (pw == NULL || cap < MYSQL_HDR_LEN + MYSQL_AUTH_MAX ||
        mysql_auth_answer(mysql_plugin_of(plugin), pw, scr, slen, ans, &alen) != 0) {
        db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        my_log(s->m, 2, "mysql: cannot answer the method %s", plugin);
        return TCM_ERR;
    }
    remember_scramble(s, scr, slen);
    mysql_hdr_write(out, (uint32_t)alen, seq);
    memcpy(out + MYSQL_HDR_LEN, ans, alen);
    return MYSQL_HDR_LEN + (long)alen;
}

/* Our own login, for a session seen mid-stream, once the target's greeting came. */
static long own_login(struct my_sess *s, uint8_t *out, size_t cap)
{
    struct my_mod *m = s->m;
    const char *user = m->have_login ? m->user : NULL;
    for (size_t i = 0; user == NULL && m->host->user_at(m->host, i) != NULL; i++)
        if (m->host->user_at(m->host, i)[0] != '@') /* "@database NAME" is no user */
            user = m->host->user_at(m->host, i);
    const char *pw = user != NULL ? m->host->password(m->host, user) : NULL;
    const char *db = m->have_login ? m->db : m->host->password(m->host, "@database");
    const char *plugin = s->g.plugin[0] != '\0' ? s->g.plugin : "mysql_native_password";
    uint8_t ans[MYSQL_AUTH_MAX];
    size_t alen, n;

    if (pw == NULL ||
        mysql_auth_answer(mysql_plugin_of(plugin), pw, s->g.scramble, s->g.scramble_len, ans,
                          &alen) != 0) {
        db_count(m->host, &m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        return TCM_ERR;
    }
    snprintf(s->user, sizeof(s->user), "%s", user);
    remember_scramble(s, s->g.scramble, s->g.scramble_len);
    s->caps = m->have_login ? m->caps : 0x000fa68dU; /* libmariadb's usual set */
    s->caps &= s->g.caps | MYSQL_CLIENT_CONNECT_WITH_DB;
    if (mysql_login_build(s->caps, m->have_login ? m->charset : 33, user, ans, alen, db, plugin,
                          out + MYSQL_HDR_LEN,
                          cap - MYSQL_HDR_LEN, &n) != 0)
        return TCM_ERR;
    mysql_hdr_write(out, (uint32_t)n, 1);
    return MYSQL_HDR_LEN + (long)n;
}

/* OWN_PREP: prepare the cached statement of slot i again, or end the own exchange. */
static long own_prepare_next(struct my_sess *s, uint32_t i, unsigned *flags, uint8_t *out,
                             size_t cap)
{
    if (i < s->m->ncache && s->st.n < MY_PREP_MAX) {
        const struct my_text *t = &s->m->cache[i];
        if (cap < MYSQL_HDR_LEN + 1 + (size_t)t->len)
            return TCM_ERR;
        mysql_hdr_write(out, 1 + t->len, 0);
        out[MYSQL_HDR_LEN] = MYSQL_COM_STMT_PREPARE;
        memcpy(out + MYSQL_HDR_LEN + 1, t->text, t->len);
        my_stmt_prepared(s, NULL, 0);
        s->prep_i = i;
        s->prep_left = 0;
        s->ph = MY_OWN_PREP;
        return MYSQL_HDR_LEN + 1 + (long)t->len;
    }
    s->ph = MY_CMD;
    *flags |= TCM_ANSWER_DONE;
    return 0;
}

/* OWN_PREP: one packet of the answer to our COM_STMT_PREPARE. */
static long own_prepare_reply(struct my_sess *s, const uint8_t *p, size_t keep, unsigned *flags,
                              uint8_t *out, size_t cap)
{
    uint32_t id;
    uint16_t nc, np;

    if (s->prep_left > 0) {
        if (--s->prep_left > 0)
            return 0;
    } else {
        bool ok = mysql_prepare_ok_parse(p, keep, &id, &nc, &np) == 0;
        my_stmt_answer(s, p, keep);
        if (ok) {
            uint32_t eof = (s->caps & MY_DEPRECATE_EOF) ? 0 : 1;
            s->prep_left = (np > 0 ? np + eof : 0) + (nc > 0 ? nc + eof : 0);
            db_count(s->m->host, &s->m->c.stmts_reprepared, DB_C_REPREPARED);
            if (s->prep_left > 0)
                return 0;
        }
    }
    return own_prepare_next(s, s->prep_i + 1, flags, out, cap);
}

/*
 * caching_sha2_password after our fast answer: 0x01 0x03, the OK follows; 0x01 0x04, the
 * server's cache is cold and it wants the password itself: without TLS, encrypted with its
 * RSA key, which we ask for (0x02) and which comes as 0x01 + PEM.
 */
static long sha2_more(struct my_sess *s, const uint8_t *p, size_t keep, uint32_t plen,
                      uint8_t seq, uint8_t *out, size_t cap)
{
    int st = mysql_sha2_status(p, keep);
    size_t n;

    if (st == 3)
        return 0;
    if (st == 4 && !s->want_key && cap >= MYSQL_HDR_LEN + 1) {
        s->want_key = true;
        mysql_hdr_write(out, 1, (uint8_t)(seq + 1));
        out[MYSQL_HDR_LEN] = 0x02;
        return MYSQL_HDR_LEN + 1;
    }
    const char *pw = s->m->host->password(s->m->host, s->user);
    if (st < 0 && s->want_key && keep == plen && keep > 1 && pw != NULL && cap > MYSQL_HDR_LEN &&
        mysql_sha2_rsa(pw, s->scr, s->scr_len, p + 1, keep - 1, out + MYSQL_HDR_LEN,
                       cap - MYSQL_HDR_LEN, &n) == 0) {
        s->want_key = false;
        mysql_hdr_write(out, (uint32_t)n, (uint8_t)(seq + 1));
        return MYSQL_HDR_LEN + (long)n;
    }
    db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
    my_log(s->m, 2, "mysql: caching_sha2_password full authentication failed for %s", s->user);
    return TCM_ERR;
}

/* AUTH / OWN_AUTH: the target's answer to a login, a switch answer or COM_CHANGE_USER. */
static long auth_reply(struct my_sess *s, const uint8_t *p, size_t keep, uint32_t plen,
                       uint8_t seq, unsigned *flags, uint8_t *out, size_t cap)
{
    bool own = s->ph == MY_OWN_AUTH;
    struct mysql_switch sw;

    if (own)
        *flags |= TCM_ANSWER_OWN;
    if (keep == 0)
        return TCM_ERR;
    switch (p[0]) {
    case 0x00:
        if (!own) {
            s->ph = MY_CMD;
            return 0;
        }
        db_count(s->m->host, &s->m->c.resumed, DB_C_RESUMED);
        return own_prepare_next(s, 0, flags, out, cap);
    case 0xff:
        db_count(s->m->host, &s->m->c.refused, DB_C_REFUSED);
        my_log(s->m, 2, "mysql: the target refused a login%s", own ? " of our own" : "");
        s->ph = MY_CMD;
        return own ? TCM_ERR : 0;
    case 0xfe:
        if (keep < plen || mysql_switch_parse(p, keep, &sw) != 0)
            return TCM_ERR;
        return answer_packet(s, s->user, sw.plugin, sw.data, sw.data_len, (uint8_t)(seq + 1),
                             out, cap);
    case 0x01:
        return sha2_more(s, p, keep, plen, seq, out, cap);
    default:
        return TCM_ERR;
    }
}

static long tgt_packet(struct my_sess *s, const uint8_t *p, size_t keep, uint32_t plen,
                       uint8_t seq, unsigned *flags, uint8_t *out, size_t cap)
{
    switch (s->ph) {
    case MY_GREET:
        if (keep < plen || mysql_greeting_parse(p, keep, &s->g) != 0) {
            if (keep > 0 && p[0] == 0xff)
                db_count(s->m->host, &s->m->c.refused, DB_C_REFUSED);
            else
                db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
            return TCM_ERR;
        }
        if (!s->midstream) {
            s->ph = MY_LOGIN;
            return 0;
        }
        *flags |= TCM_ANSWER_OWN;
        s->ph = MY_OWN_AUTH;
        return own_login(s, out, cap);
    case MY_AUTH:
    case MY_OWN_AUTH:
        return auth_reply(s, p, keep, plen, seq, flags, out, cap);
    case MY_OWN_PREP:
        *flags |= TCM_ANSWER_OWN;
        return own_prepare_reply(s, p, keep, flags, out, cap);
    case MY_CMD:
        /* The first packet of an answer has sequence 1: the oldest prepare's. */
        if (s->st.answered < s->st.n && seq == 1 && keep > 0 && (p[0] == 0x00 || p[0] == 0xff))
            my_stmt_answer(s, p, keep);
        return 0;
    case MY_LOGIN:
        return 0;
    }
    return 0;
}

static long my_target_data(void *sess, const uint8_t *d, size_t len, uint64_t lost,
                           unsigned *flags, uint8_t *out, size_t cap)
{
    struct my_sess *s = sess;
    size_t o = 0, w = 0;

    if (lost > 0 && s->ph != MY_CMD)
        return TCM_ERR; /* a hole in the handshake: its place is lost */
    if (lost > 0 && !s->st.tlost) {
        s->st.tlost = true; /* the packets' boundaries are lost: statements go by tbase */
        my_log(s->m, 1, "mysql: %llu answer bytes unseen: the target's statement ids are "
                        "counted from here on", (unsigned long long)lost);
    }
    if (s->st.tlost)
        return 0;
    while (o < len) {
        if (s->tskip > 0) {
            size_t k = len - o < s->tskip ? len - o : s->tskip;
            s->tskip -= (uint32_t)k;
            o += k;
            continue;
        }
        size_t want = s->tfill < MYSQL_HDR_LEN ? MYSQL_HDR_LEN : MYSQL_HDR_LEN + s->tkeep;
        size_t k = want - s->tfill < len - o ? want - s->tfill : len - o;
        memcpy(s->th + s->tfill, d + o, k);
        s->tfill += k;
        o += k;
        if (s->tfill == MYSQL_HDR_LEN && want == MYSQL_HDR_LEN) {
            s->tplen = s->th[0] | (uint32_t)s->th[1] << 8 | (uint32_t)s->th[2] << 16;
            s->tkeep = s->tplen < MY_TBUF - MYSQL_HDR_LEN ? s->tplen : MY_TBUF - MYSQL_HDR_LEN;
        }
        if (s->tfill < MYSQL_HDR_LEN + s->tkeep)
            continue;
        s->tskip = s->tplen - (uint32_t)s->tkeep;
        s->tfill = 0;
        long n = tgt_packet(s, s->th + MYSQL_HDR_LEN, s->tkeep, s->tplen, s->th[3], flags,
                            out + w, cap - w);
        if (n < 0)
            return n;
        w += (size_t)n;
    }
    return (long)w;
}

/* ---- the client's side ------------------------------------------------------------- */

/* LOGIN: the client's HandshakeResponse41, rebuilt for the target's scramble. */
static long client_login(struct my_sess *s, const uint8_t *p, uint32_t plen, uint8_t seq,
                         uint8_t *out, size_t cap)
{
    struct my_mod *m = s->m;
    struct mysql_login l;
    uint8_t ans[MYSQL_AUTH_MAX];
    size_t alen, n;
    char user[MYSQL_NAME_MAX];

    int rc = mysql_login_parse(p, plen, &l);
    if (rc != 0) {
        db_count(m->host, &m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        my_log(m, 2, "mysql: a client login %s", rc == -MYSQL_E_SSL ? "asks for TLS" : "is malformed");
        return TCM_ERR;
    }
    name_of(user, p + l.user_off, l.user_len);
    snprintf(s->user, sizeof(s->user), "%s", user);
    const char *pw = m->host->password(m->host, user);
    const char *plugin = l.plugin[0] != '\0' ? l.plugin : "mysql_native_password";
    s->caps = l.caps;
    s->ph = MY_AUTH;
    remember_scramble(s, s->g.scramble, s->g.scramble_len);
    m->have_login = true;
    m->caps = l.caps;
    m->charset = l.charset;
    snprintf(m->user, sizeof(m->user), "%s", user);
    name_of(m->db, p + l.db_off, l.db_len);
    if (pw == NULL ||
        mysql_auth_answer(mysql_plugin_of(plugin), pw, s->g.scramble, s->g.scramble_len, ans,
                          &alen) != 0 ||
        cap < MYSQL_HDR_LEN ||
        mysql_login_rewrite(p, plen, &l, ans, alen, out + MYSQL_HDR_LEN, cap - MYSQL_HDR_LEN,
                            &n) != 0) {
        db_count(m->host, &m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        my_log(m, 2, "mysql: login of %s passes unchanged (no password or method)", user);
        memcpy(out, p - MYSQL_HDR_LEN, MYSQL_HDR_LEN + plen);
        return MYSQL_HDR_LEN + (long)plen;
    }
    db_count(m->host, &m->c.rewritten, DB_C_REWRITTEN);
    mysql_hdr_write(out, (uint32_t)n, seq);
    return MYSQL_HDR_LEN + (long)n;
}

/* COM_CHANGE_USER: answered for the target's connection scramble. */
static long client_chuser(struct my_sess *s, const uint8_t *p, uint32_t plen, uint8_t *out,
                          size_t cap)
{
    struct mysql_login l;
    uint8_t ans[MYSQL_AUTH_MAX];
    size_t alen, n;

    s->ph = MY_AUTH;
    remember_scramble(s, s->g.scramble, s->g.scramble_len);
    if (mysql_chuser_parse(p, plen, s->caps, &l) == 0) {
        name_of(s->user, p + l.user_off, l.user_len);
        const char *pw = s->m->host->password(s->m->host, s->user);
        const char *plugin = l.plugin[0] != '\0' ? l.plugin : "mysql_native_password";
        if (pw != NULL &&
            mysql_auth_answer(mysql_plugin_of(plugin), pw, s->g.scramble, s->g.scramble_len,
                              ans, &alen) == 0 &&
            mysql_login_rewrite(p, plen, &l, ans, alen, out + MYSQL_HDR_LEN,
                                cap - MYSQL_HDR_LEN, &n) == 0) {
            db_count(s->m->host, &s->m->c.rewritten, DB_C_REWRITTEN);
            mysql_hdr_write(out, (uint32_t)n, 0);
            return MYSQL_HDR_LEN + (long)n;
        }
    }
    db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
    memcpy(out, p - MYSQL_HDR_LEN, MYSQL_HDR_LEN + plen);
    return MYSQL_HDR_LEN + (long)plen;
}

/* CMD: one command; *used 0 when more bytes are needed. */
static long client_cmd(struct my_sess *s, const uint8_t *in, size_t avail, uint32_t plen,
                       size_t *used, uint8_t *out, size_t cap)
{
    size_t whole = MYSQL_HDR_LEN + (size_t)plen;
    const uint8_t *p = in + MYSQL_HDR_LEN;

    *used = 0;
    if (plen == 0) {
        s->cpass = MYSQL_HDR_LEN; /* an empty packet (ends a 16 MiB one): as it is */
        return 0;
    }
    if (avail < MYSQL_HDR_LEN + 1)
        return 0;
    bool prepare = p[0] == MYSQL_COM_STMT_PREPARE;
    switch (p[0]) {
    case MYSQL_COM_CHANGE_USER:
        if (plen > MYSQL_LOGIN_MAX)
            return TCM_ERR;
        if (avail < whole || cap < whole + MYSQL_AUTH_MAX)
            return 0;
        *used = whole;
        s->st.after_prepare = false;
        return client_chuser(s, p, plen, out, cap);
    case MYSQL_COM_STMT_PREPARE:
    case MYSQL_COM_STMT_EXECUTE:
        if (avail < whole && whole <= MY_WHOLE_MAX)
            return 0; /* a short one comes whole: its text kept, its parameters checked */
        break;
    default:
        break;
    }
    if (prepare)
        my_stmt_prepared(s, avail >= whole ? p + 1 : NULL, plen - 1);
    if (prepare || !mysql_cmd_has_stmt(p, plen)) {
        s->st.after_prepare = prepare;
        s->cpass = (uint32_t)whole;
        return 0;
    }
    if (avail < MYSQL_HDR_LEN + 5 || cap < MYSQL_HDR_LEN + 5)
        return 0;
    /* The target's answers to the statements prepared so far first: the client may run
     * ahead of them, and an id guessed before would bind parameters to the wrong one. */
    if (s->st.answered < s->st.n && !s->st.tlost)
        return 0;
    memcpy(out, in, MYSQL_HDR_LEN + 5);
    uint32_t t;
    if (my_stmt_target(s, p, avail >= whole ? plen : avail - MYSQL_HDR_LEN, avail >= whole, &t))
        for (int i = 0; i < 4; i++)
            out[MYSQL_HDR_LEN + 1 + i] = (uint8_t)(t >> (8 * i));
    s->st.after_prepare = false;
    *used = MYSQL_HDR_LEN + 5;
    s->cpass = plen - 5;
    return MYSQL_HDR_LEN + 5;
}

static long client_packet(struct my_sess *s, const uint8_t *in, size_t avail, size_t *used,
                          uint8_t *out, size_t cap)
{
    uint32_t plen = in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16;
    uint8_t seq = in[3];
    size_t whole = MYSQL_HDR_LEN + (size_t)plen;

    *used = 0;
    if (s->ph == MY_AUTH && seq == 0)
        s->ph = MY_CMD; /* a command: the auth exchange is over */
    if (s->ph == MY_CMD)
        return client_cmd(s, in, avail, plen, used, out, cap);
    if (plen > MYSQL_LOGIN_MAX) {
        db_count(s->m->host, &s->m->c.not_replayable, DB_C_NOT_REPLAYABLE);
        return TCM_ERR;
    }
    if (avail < whole || cap < whole + MYSQL_AUTH_MAX)
        return 0;
    *used = whole;
    if (s->ph == MY_LOGIN)
        return client_login(s, in + MYSQL_HDR_LEN, plen, seq, out, cap);
    return 0; /* AUTH: the client's answer to production's switch; we answered the target's */
}

static long my_client_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                           uint8_t *out, size_t cap)
{
    struct my_sess *s = sess;
    size_t o = 0, w = 0, used;

    while (o < len) {
        if (s->cpass > 0) {
            size_t k = len - o;
            k = k < s->cpass ? k : s->cpass;
            k = k < cap - w ? k : cap - w;
            if (k == 0)
                break;
            memcpy(out + w, in + o, k);
            s->cpass -= (uint32_t)k;
            o += k;
            w += k;
            continue;
        }
        if (s->ph == MY_GREET || s->ph == MY_OWN_AUTH || s->ph == MY_OWN_PREP ||
            len - o < MYSQL_HDR_LEN)
            break; /* the target's greeting or our own exchange first; or a header to come */
        long n = client_packet(s, in + o, len - o, &used, out + w, cap - w);
        if (n < 0)
            return n;
        if (used == 0 && s->cpass == 0)
            break;
        o += used;
        w += (size_t)n;
    }
    *consumed = o;
    return (long)w;
}

/* ---- the module -------------------------------------------------------------------- */

static int my_init(const struct tcm_host *host, void **mod)
{
    struct my_mod *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->host = host;
    *mod = m;
    return 0;
}

static void my_fini(void *mod)
{
    struct my_mod *m = mod;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "mysql: logins rewritten %llu, resumed %llu, refused %llu, not replayable %llu, "
             "statements mapped %llu, prepared again %llu",
             (unsigned long long)m->c.rewritten, (unsigned long long)m->c.resumed,
             (unsigned long long)m->c.refused, (unsigned long long)m->c.not_replayable,
             (unsigned long long)m->c.stmts_mapped, (unsigned long long)m->c.stmts_reprepared);
    m->host->log(m->host, 1, msg);
    free(m);
}

static int my_sess_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    struct my_sess *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->m = mod;
    *sess = s;
    return 0;
}

static void my_sess_end(void *mod, void *sess)
{
    free(sess);
}

static long my_start(void *sess, enum tcm_start why, uint8_t *out, size_t cap)
{
    struct my_sess *s = sess;
    s->midstream = why == TCM_START_MIDSTREAM;
    return 0; /* the server speaks first: our login (mid-stream) follows its greeting */
}

const struct mod_db_counts *mod_mysql_counts(const void *mod)
{
    return &((const struct my_mod *)mod)->c;
}

static const char *const my_counters[] = {
    "logins_rewritten", "logins_resumed", "logins_refused", "not_replayable",
    "stmts_mapped",     "stmts_prepared_again", NULL,
};

const struct tcm_module mod_mysql_module = {
    .api_version = TCM_API_VERSION,
    .name = "mysql",
    .init = my_init,
    .fini = my_fini,
    .sess_new = my_sess_new,
    .sess_end = my_sess_end,
    .start = my_start,
    .client_data = my_client_data,
    .target_data = my_target_data,
    .counters = my_counters,
};
