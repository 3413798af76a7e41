/*
 * tcm_token: an example tcpcopy protocol module (doc/modules.md). In every line the client
 * sends ("...\n"), each "tok" becomes "token-rewritten" (or the password of the user
 * "rewrite" in --module-conf, to show the credentials lookup), so the target receives
 * longer messages than the client sent: the engine keeps the sequence offset.
 *
 * Build: cc -shared -fPIC -I/usr/include tcm_token.c -o tcm_token.so
 * Use:   tcpcopy --module ./tcm_token.so ...
 *
 * A line is rewritten whole: a line not complete yet stays with tcpcopy (consumed = 0)
 * and is offered again with the next bytes. A line longer than MAX_LINE passes unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "tcpcopy/module.h"

#define FROM "tok"
#define MAX_LINE 4096

struct token_mod {
    char to[256];
};

struct token_sess {
    const struct token_mod *m; /* the hooks get the session only: it points to the module */
    unsigned long lines, tokens;
};

static int token_init(const struct tcm_host *host, void **mod)
{
    struct token_mod *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -1;
    const char *pw = host->password(host, "rewrite");
    strncpy(m->to, pw != NULL ? pw : "token-rewritten", sizeof(m->to) - 1);
    host->log(host, 1, pw != NULL ? "replacement from --module-conf" : "default replacement");
    *mod = m;
    return 0;
}

static void token_fini(void *mod)
{
    free(mod);
}

static int token_sess_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    (void)info;
    struct token_sess *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->m = mod;
    *sess = s;
    return 0;
}

static void token_sess_end(void *mod, void *sess)
{
    (void)mod;
    free(sess);
}

/* One line in[0..n) rewritten into out; -1 if it does not fit. */
static long rewrite_line(const struct token_mod *m, struct token_sess *s, const uint8_t *in,
                         size_t n, uint8_t *out, size_t cap)
{
    size_t flen = strlen(FROM), tlen = strlen(m->to), o = 0;
    for (size_t i = 0; i < n;) {
        if (i + flen <= n && memcmp(in + i, FROM, flen) == 0) {
            if (o + tlen > cap)
                return -1;
            memcpy(out + o, m->to, tlen);
            o += tlen;
            i += flen;
            s->tokens++;
        } else {
            if (o + 1 > cap)
                return -1;
            out[o++] = in[i++];
        }
    }
    return (long)o;
}

static long token_client_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                              uint8_t *out, size_t out_cap)
{
    struct token_sess *s = sess;
    size_t used = 0, o = 0;
    while (used < len) {
        const uint8_t *nl = memchr(in + used, '\n', len - used);
        if (nl == NULL) {
            if (len - used > MAX_LINE) { /* no line structure: pass through */
                size_t n = len - used < out_cap - o ? len - used : out_cap - o;
                memcpy(out + o, in + used, n);
                o += n;
                used += n;
            }
            break;
        }
        size_t n = (size_t)(nl - (in + used)) + 1;
        long w = rewrite_line(s->m, s, in + used, n, out + o, out_cap - o);
        if (w < 0)
            break; /* no room left: the rest is offered again */
        o += (size_t)w;
        used += n;
        s->lines++;
    }
    *consumed = used;
    return (long)o;
}

static const struct tcm_module token_module = {
    .api_version = TCM_API_VERSION,
    .name = "token",
    .init = token_init,
    .fini = token_fini,
    .sess_new = token_sess_new,
    .sess_end = token_sess_end,
    .client_data = token_client_data,
};

const struct tcm_module *tcm_module_v1(void);

const struct tcm_module *tcm_module_v1(void)
{
    return &token_module;
}
