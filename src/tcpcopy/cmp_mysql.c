/*
 * cmp_mysql: the MySQL/MariaDB client/server protocol for the comparison (issue 21), and the
 * SQL endpoint names shared with cmp_pgsql.c.
 *
 * Packets (4-byte header: 3 bytes of length, a sequence id) are followed one at a time; only
 * their first CMP_DB_PRE bytes are kept, the rest streams into the unit's hash. Requests: the
 * client's first packet (sequence id 1) is the login, named "(login)"; later packets with a
 * sequence id other than 0 continue an authentication exchange and are no request; every
 * packet with sequence id 0 is one command (COM_*). Answers (MySQL "Text Protocol", "Prepared
 * Statements" and "Generic Response Packets" pages): OK (0x00), ERR (0xff), a result set
 * (column count, column definitions, EOF unless CLIENT_DEPRECATE_EOF, rows, EOF or OK 0xfe;
 * SERVER_MORE_RESULTS_EXISTS chains the next result into the same answer), COM_STMT_PREPARE's
 * OK with its parameter and column definitions, COM_FIELD_LIST's definitions, COM_STATISTICS'
 * one string packet. Noise: the greeting (connection id, scramble, server version) is reduced
 * to its protocol version byte; the login's answer and COM_CHANGE_USER's keep only each
 * packet's kind (auth-switch: its plugin name; more data: its status byte) and the final OK or
 * ERR, since scrambles and RSA keys differ between two equal servers.
 */
#include "cmp_fimpl.h"
#include "db_mysql.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MY_DEPRECATE_EOF (1U << 24) /* CLIENT_DEPRECATE_EOF */
#define MY_MORE_RESULTS 0x0008      /* SERVER_MORE_RESULTS_EXISTS */
#define MY_COM_STATISTICS 0x09
#define MY_COM_FIELD_LIST 0x04
#define MY_COM_INIT_DB 0x02

enum { P_GREET = 0, P_LOGIN, P_CMD };
enum {
    S_FIRST = 0,
    S_AUTH,
    S_COLS,
    S_COLEOF,
    S_ROWS,
    S_FIELDS,
    S_FINAL,
    S_PPAR,
    S_PPAR_EOF,
    S_PCOL,
    S_PCOL_EOF
};

static uint32_t le24(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

/* A length-encoded integer at p[*off] within n bytes. */
static bool lenenc(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
    static const uint8_t width[4] = {2, 3, 8, 0};
    if (*off >= n)
        return false;
    uint8_t b = p[(*off)++];
    if (b < 0xfb) {
        *v = b;
        return true;
    }
    if (b < 0xfc || b == 0xff)
        return false;
    size_t w = width[b - 0xfc];
    if (w == 0 || n - *off < w)
        return false;
    *v = 0;
    for (size_t i = 0; i < w; i++)
        *v |= (uint64_t)p[*off + i] << (8 * i);
    *off += w;
    return true;
}

/* An OK (0x00 or 0xfe) or EOF packet: does another result follow? */
static bool more_results(const struct cmp_db *d, bool eof)
{
    size_t n = d->pn < d->plen ? d->pn : d->plen, off = 1;
    uint64_t v;
    if (eof)
        return n >= 5 && (d->pre[3] | d->pre[4] << 8) & MY_MORE_RESULTS;
    if (!lenenc(d->pre, n, &off, &v) || !lenenc(d->pre, n, &off, &v) || n - off < 2)
        return false;
    return (d->pre[off] | d->pre[off + 1] << 8) & MY_MORE_RESULTS;
}

static void ans_done(struct cmp_ansf *f, struct cmp_db *d)
{
    d->state = S_FIRST;
    cmp_ans_emit(f, 0);
}

/* The login's or COM_CHANGE_USER's answer: only what two equal servers say alike. */
static void auth_packet(struct cmp_ansf *f, struct cmp_db *d)
{
    size_t n = d->pn < d->plen ? d->pn : d->plen;
    if (n == 0)
        return;
    uint8_t b = d->pre[0];
    if (b == 0x00 || b == 0xff) {
        if (d->phase == P_LOGIN)
            d->eofless = d->srv_eofless && (cmp_ans_peek(f) & CMP_R_EOFLESS);
        cmp_ans_bytes(f, d->pre, n);
        d->phase = P_CMD;
        ans_done(f, d);
        return;
    }
    size_t k = 1;
    if (b == 0xfe)
        k = 1 + strnlen((const char *)d->pre + 1, n - 1);
    else if (b == 0x01 && n == 2)
        k = 2;
    cmp_ans_bytes(f, d->pre, k);
}

static void prep_cols(struct cmp_ansf *f, struct cmp_db *d)
{
    d->rem = d->rem2;
    if (d->rem > 0)
        d->state = S_PCOL;
    else
        ans_done(f, d);
}

/* The first packet of a command's answer. */
static void first_packet(struct cmp_ansf *f, struct cmp_db *d, uint8_t cmd)
{
    size_t n = d->pn < d->plen ? d->pn : d->plen, off = 0;
    uint8_t b = n > 0 ? d->pre[0] : 0;
    uint32_t id;
    uint16_t ncols, nparams;
    uint64_t v;
    if (n == 0 || cmd == MY_COM_STATISTICS || b == 0xff || b == 0xfe) {
        ans_done(f, d);
    } else if (b == 0x00 && cmd == MYSQL_COM_STMT_PREPARE &&
               mysql_prepare_ok_parse(d->pre, n, &id, &ncols, &nparams) == 0) {
        d->rem = nparams, d->rem2 = ncols;
        if (d->rem > 0)
            d->state = S_PPAR;
        else
            prep_cols(f, d);
    } else if (b == 0x00) {
        if (!more_results(d, false))
            ans_done(f, d);
    } else if (b == 0xfb) {
        d->state = S_FINAL; /* LOCAL INFILE: the client sends a file, then OK or ERR */
    } else if (cmd == MY_COM_FIELD_LIST) {
        d->state = S_FIELDS;
    } else if (lenenc(d->pre, n, &off, &v) && v > 0) {
        d->rem = v;
        d->state = S_COLS;
    } else {
        cmp_ans_fail(f);
    }
}

/* COM_STMT_PREPARE's answer: its first packet, the statement id (per connection: production's
 * and the target's differ when sessions were resumed) left out. */
static void prepare_first(struct cmp_ansf *f, struct cmp_db *d)
{
    size_t n = d->pn < d->plen ? d->pn : d->plen;
    cmp_ans_bytes(f, d->hdr, MYSQL_HDR_LEN);
    if (n >= 5 && d->pre[0] == 0x00) {
        cmp_ans_bytes(f, d->pre, 1);
        cmp_ans_bytes(f, d->pre + 5, n - 5);
    } else {
        cmp_ans_bytes(f, d->pre, n);
    }
}

/* A packet of a command's answer ended (not a continuation): where the answer goes on. */
static void cmd_packet(struct cmp_ansf *f, struct cmp_db *d)
{
    uint8_t b = d->pn > 0 ? d->pre[0] : 0;
    bool end = b == 0xfe && d->plen < (d->eofless ? 0xffffffU : 9U);
    switch (d->state) {
    case S_FIRST:
        if (d->type == MYSQL_COM_STMT_PREPARE)
            prepare_first(f, d);
        first_packet(f, d, d->type);
        break;
    case S_AUTH:
        auth_packet(f, d);
        break;
    case S_COLS:
        if (--d->rem == 0)
            d->state = d->eofless ? S_ROWS : S_COLEOF;
        break;
    case S_COLEOF:
        d->state = S_ROWS;
        break;
    case S_ROWS:
        if (b == 0xff)
            ans_done(f, d);
        else if (end && more_results(d, !d->eofless))
            d->state = S_FIRST;
        else if (end)
            ans_done(f, d);
        break;
    case S_FIELDS:
    case S_FINAL:
        if (b == 0xfe || b == 0xff || (d->state == S_FINAL && b == 0x00))
            ans_done(f, d);
        break;
    case S_PPAR:
        if (--d->rem == 0) {
            if (d->eofless)
                prep_cols(f, d);
            else
                d->state = S_PPAR_EOF;
        }
        break;
    case S_PPAR_EOF:
        prep_cols(f, d);
        break;
    case S_PCOL:
        if (--d->rem == 0 && d->eofless)
            ans_done(f, d);
        else if (d->rem == 0)
            d->state = S_PCOL_EOF;
        break;
    default: /* S_PCOL_EOF */
        ans_done(f, d);
        break;
    }
}

/* A packet's header is complete: what its bytes are for. */
static void ans_packet_begin(struct cmp_ansf *f, struct cmp_db *d)
{
    uint32_t plen = le24(d->hdr);
    d->left = plen;
    if (d->cont)
        return; /* a continuation of a long packet: same kind, same hashing */
    d->plen = plen, d->pn = 0;
    if (d->phase == P_GREET && d->hdr[3] != 0) /* no greeting seen: joined mid-session */
        d->phase = (cmp_ans_peek(f) & CMP_R_LOGIN) ? P_LOGIN : P_CMD;
    if (d->phase == P_CMD && d->state == S_FIRST && !f->started) {
        d->type = CMP_R_CMD(cmp_ans_peek(f));
        if (d->type == MYSQL_COM_CHANGE_USER)
            d->state = S_AUTH;
    }
    cmp_ans_begin(f);
    /* COM_STMT_PREPARE's first packet is hashed at its end, without the statement id */
    d->hashing = d->phase == P_CMD && d->state != S_AUTH &&
                 !(d->state == S_FIRST && d->type == MYSQL_COM_STMT_PREPARE);
    if (d->hashing)
        cmp_ans_bytes(f, d->hdr, MYSQL_HDR_LEN);
}

static void ans_packet_end(struct cmp_ansf *f, struct cmp_db *d)
{
    d->hn = 0;
    d->cont = le24(d->hdr) == MYSQL_PAYLOAD_MAX;
    if (d->cont)
        return;
    if (d->phase == P_GREET) {
        struct mysql_greeting g;
        size_t n = d->pn < d->plen ? d->pn : d->plen;
        if (d->pn >= d->plen && mysql_greeting_parse(d->pre, n, &g) == 0)
            d->srv_eofless = (g.caps & MY_DEPRECATE_EOF) != 0;
        cmp_ans_bytes(f, d->pre, n > 0 && d->pre[0] == 0xff ? n : (n > 0 ? 1 : 0));
        d->phase = P_LOGIN;
        cmp_ans_emit_unasked(f); /* paired with the session's "(greeting)" */
    } else if (d->phase == P_LOGIN) {
        auth_packet(f, d);
    } else {
        cmd_packet(f, d);
    }
}

void cmp_mysql_ans(struct cmp_ansf *f, const uint8_t *p, size_t n)
{
    struct cmp_db *d = &f->u.db;
    while (n > 0 && !f->dead) {
        if (d->hn < MYSQL_HDR_LEN) {
            size_t k = (size_t)(MYSQL_HDR_LEN - d->hn) < n ? (size_t)(MYSQL_HDR_LEN - d->hn) : n;
            memcpy(d->hdr + d->hn, p, k);
            d->hn += (uint8_t)k, p += k, n -= k;
            if (d->hn < MYSQL_HDR_LEN)
                return;
            ans_packet_begin(f, d);
            if (d->left == 0)
                ans_packet_end(f, d);
            continue;
        }
        size_t k = cmp_db_take(f, d, p, n);
        p += k, n -= k;
        if (d->left == 0)
            ans_packet_end(f, d);
    }
}

bool cmp_mysql_gap(struct cmp_ansf *f, uint64_t n)
{
    struct cmp_db *d = &f->u.db;
    if (d->hn < MYSQL_HDR_LEN || !d->hashing || d->pn == 0 || d->state != S_ROWS || n > d->left)
        return false; /* only inside a row whose first byte was seen */
    d->left -= (uint32_t)n;
    if (d->left == 0)
        ans_packet_end(f, d);
    return true;
}

/* ---- requests ---- */

static const struct {
    uint8_t cmd;
    const char *name;
} cmd_names[] = {
    {0x01, "QUIT"},
    {0x02, "INIT_DB"},
    {0x04, "FIELD_LIST"},
    {0x09, "STATISTICS"},
    {0x0e, "PING"},
    {0x11, "CHANGE_USER"},
    {0x16, "PREPARE"},
    {0x17, "STMT_EXECUTE"},
    {0x18, "STMT_SEND_LONG_DATA"},
    {0x19, "STMT_CLOSE"},
    {0x1a, "STMT_RESET"},
    {0x1b, "SET_OPTION"},
    {0x1c, "STMT_FETCH"},
    {0x1f, "RESET_CONNECTION"},
    {0xfa, "STMT_BULK_EXECUTE"},
};

static bool has_text(uint8_t cmd)
{
    return cmd == MYSQL_COM_QUERY || cmd == MYSQL_COM_STMT_PREPARE || cmd == MY_COM_INIT_DB;
}

/* A command packet: one request. */
static void command(struct cmp_reqf *f, struct cmp_db *d)
{
    uint8_t cmd = d->pre[0];
    uint32_t flags = (uint32_t)cmd << CMP_R_CMD_SHIFT;
    if (d->plen == 0) {
        cmp_req_endpoint(f, "(empty)", 7, false);
        cmp_req_emit(f, CMP_R_UNPARSABLE);
        return;
    }
    if (cmd == MYSQL_COM_QUIT || cmd == MYSQL_COM_STMT_CLOSE ||
        cmd == MYSQL_COM_STMT_SEND_LONG_DATA)
        flags |= CMP_R_NOREPLY;
    if (cmd == MYSQL_COM_QUERY || cmd == MYSQL_COM_STMT_PREPARE) {
        cmp_sql_endpoint(f, cmd == MYSQL_COM_QUERY ? "" : "PREPARE ", f->req.text, f->req.textlen);
    } else {
        const char *name = NULL;
        for (size_t i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
            if (cmd_names[i].cmd == cmd)
                name = cmd_names[i].name;
        char buf[16];
        if (name == NULL) {
            snprintf(buf, sizeof(buf), "COM_0x%02x", cmd);
            name = buf;
        }
        cmp_req_endpoint(f, name, strlen(name), false);
    }
    cmp_req_emit(f, flags);
}

static void req_packet_end(struct cmp_reqf *f, struct cmp_db *d)
{
    d->hn = 0;
    d->cont = le24(d->hdr) == MYSQL_PAYLOAD_MAX;
    if (d->cont)
        return;
    if (d->phase == P_CMD) {
        cmp_req_bytes(f, 0);
        command(f, d);
        return;
    }
    if (d->phase == P_LOGIN)
        return; /* the login's next steps (auth-switch answers): no request */
    uint32_t caps = d->pn >= 4 ? d->pre[0] | (uint32_t)le24(d->pre + 1) << 8 : 0;
    d->phase = P_LOGIN;
    cmp_req_bytes(f, 0);
    if (caps & MYSQL_CLIENT_SSL) { /* TLS follows: nothing more can be read */
        cmp_req_endpoint(f, "(tls)", 5, false);
        cmp_req_fail(f);
        return;
    }
    cmp_req_endpoint(f, "(login)", 7, false);
    cmp_req_emit(f, CMP_R_LOGIN | ((caps & MY_DEPRECATE_EOF) ? CMP_R_EOFLESS : 0));
}

void cmp_mysql_req(struct cmp_reqf *f, const uint8_t *p, size_t n)
{
    struct cmp_db *d = &f->u.db;
    while (n > 0 && !f->dead) {
        if (d->hn < MYSQL_HDR_LEN) {
            size_t k = (size_t)(MYSQL_HDR_LEN - d->hn) < n ? (size_t)(MYSQL_HDR_LEN - d->hn) : n;
            memcpy(d->hdr + d->hn, p, k);
            d->hn += (uint8_t)k, p += k, n -= k;
            f->req.len += k; /* not started: an auth continuation is no request */
            if (d->hn < MYSQL_HDR_LEN)
                return;
            d->left = le24(d->hdr);
            if (!d->cont) {
                d->plen = d->left, d->pn = 0;
                /* sequence id 0 starts a command; 1 or more a login step */
                if (d->hdr[3] == 0)
                    d->phase = P_CMD;
                else if (d->phase == P_CMD)
                    d->phase = P_LOGIN;
            }
            if (d->left == 0)
                req_packet_end(f, d);
            continue;
        }
        size_t k = d->left < n ? d->left : n;
        size_t keep = CMP_DB_PRE - d->pn < k ? CMP_DB_PRE - d->pn : k;
        uint32_t off = d->pn;
        memcpy(d->pre + d->pn, p, keep);
        d->pn += (uint32_t)keep;
        if (d->phase == P_CMD && d->pn > 0 && has_text(d->pre[0])) {
            size_t skip = off == 0 && !d->cont ? 1 : 0;
            if (k > skip)
                cmp_req_text(f, p + skip, k - skip);
        }
        f->req.len += k;
        d->left -= (uint32_t)k, p += k, n -= k;
        if (d->left == 0)
            req_packet_end(f, d);
    }
}

/* A client's first packet: a login (sequence id 1, CLIENT_PROTOCOL_41, 19 zero bytes of
 * filler; MariaDB puts its extended capabilities in the filler's last 4), the only way a
 * MySQL session starts. */
int cmp_mysql_detect(const uint8_t *p, size_t n)
{
    if (n >= 4) {
        uint32_t plen = le24(p);
        if (p[3] != 1 || plen < 32 || plen > MYSQL_LOGIN_MAX)
            return 0;
    }
    if (n >= 6 && !(p[5] & (MYSQL_CLIENT_PROTOCOL_41 >> 8)))
        return 0;
    for (size_t i = 13; i < 32 && i < n; i++)
        if (p[i] != 0)
            return 0;
    return n >= 32 ? 1 : -1;
}

/* ---- SQL endpoints ---- */

static bool word_byte(uint8_t c)
{
    return isalnum(c) || c == '_' || c == '$' || c == '.' || c == '`' || c == '"' || c >= 0x80;
}

/* The next word of s[*i..n), skipping blanks, comments, quoted strings and punctuation. */
static bool next_word(const uint8_t *s, size_t n, size_t *i, size_t *w, size_t *wn)
{
    while (*i < n) {
        uint8_t c = s[*i];
        if (c == '/' && *i + 1 < n && s[*i + 1] == '*') {
            const uint8_t *e = memmem(s + *i + 2, n - *i - 2, "*/", 2);
            *i = e ? (size_t)(e - s) + 2 : n;
        } else if (c == '-' && *i + 1 < n && s[*i + 1] == '-') {
            const uint8_t *e = memchr(s + *i, '\n', n - *i);
            *i = e ? (size_t)(e - s) + 1 : n;
        } else if (c == '\'') {
            const uint8_t *e = memchr(s + *i + 1, '\'', n - *i - 1);
            *i = e ? (size_t)(e - s) + 1 : n;
        } else if (word_byte(c)) {
            *w = *i;
            while (*i < n && word_byte(s[*i]))
                (*i)++;
            *wn = *i - *w;
            return true;
        } else {
            (*i)++;
        }
    }
    return false;
}

static bool word_is(const uint8_t *s, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp((const char *)s, kw, n) == 0;
}

/* The table after the statement's keyword: after FROM, INTO, or UPDATE's modifiers. */
static bool sql_table(const uint8_t *s, size_t n, size_t i, const uint8_t *kw, size_t kn, size_t *w,
                      size_t *wn)
{
    bool from = word_is(kw, kn, "SELECT") || word_is(kw, kn, "DELETE");
    bool into = word_is(kw, kn, "INSERT") || word_is(kw, kn, "REPLACE");
    if (!from && !into && !word_is(kw, kn, "UPDATE"))
        return false;
    bool take = false;
    while (next_word(s, n, &i, w, wn)) {
        if (take)
            return true;
        if (from)
            take = word_is(s + *w, *wn, "FROM");
        else if (!word_is(s + *w, *wn, "INTO") && !word_is(s + *w, *wn, "IGNORE") &&
                 !word_is(s + *w, *wn, "LOW_PRIORITY") && !word_is(s + *w, *wn, "DELAYED") &&
                 !word_is(s + *w, *wn, "HIGH_PRIORITY") && !word_is(s + *w, *wn, "ONLY"))
            return true;
    }
    return false;
}

void cmp_sql_endpoint(struct cmp_reqf *f, const char *prefix, const uint8_t *s, size_t n)
{
    size_t i = 0, w, wn, t, tn;
    cmp_req_endpoint(f, prefix, strlen(prefix), false);
    if (!next_word(s, n, &i, &w, &wn)) {
        cmp_req_endpoint(f, "(empty)", 7, false);
        return;
    }
    cmp_req_endpoint(f, s + w, wn, true);
    if (!sql_table(s, n, i, s + w, wn, &t, &tn))
        return;
    cmp_req_endpoint(f, " ", 1, false);
    for (size_t k = t; k < t + tn; k++)
        if (s[k] != '`' && s[k] != '"')
            cmp_req_endpoint(f, s + k, 1, false);
}
