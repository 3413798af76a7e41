/*
 * mod: loading a protocol module (built in by name, or a shared object with dlopen), its
 * version check, and the credentials file of --module-conf that every module reads through
 * the host's password lookup. The per-session glue is in mod_sess.c. See mod.h and
 * doc/modules.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mod.h"
#include "mod_db.h"

#define CONF_MAX_BYTES (1U << 20)

/* ---- built-in modules ------------------------------------------------------------ */

/* identity: every byte passes unchanged (a baseline: the module path at no rewriting). */
static int identity_sess_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    *sess = NULL;
    return 0;
}

static void identity_sess_end(void *mod, void *sess)
{
}

static const struct tcm_module identity_module = {
    .api_version = TCM_API_VERSION,
    .name = "identity",
    .sess_new = identity_sess_new,
    .sess_end = identity_sess_end,
};

/* Built-in modules by name. A protocol module adds its table here (declared in mod.h). */
static const struct tcm_module *const builtins[] = {
    &identity_module,
    &mod_mysql_module,
    &mod_pgsql_module,
};

/* ---- the host's services ----------------------------------------------------------- */

static const char *host_password(const struct tcm_host *h, const char *user)
{
    return mod_password(h->priv, user);
}

static const char *host_user_at(const struct tcm_host *h, size_t i)
{
    const struct mod *m = h->priv;
    return i < m->ncreds ? m->creds[i].user : NULL;
}

static void host_count(const struct tcm_host *h, unsigned idx, uint64_t n)
{
    struct mod *m = h->priv;
    if (idx < m->ncounters)
        m->counters[idx] += n;
}

static void host_log(const struct tcm_host *h, int level, const char *msg)
{
    struct mod *m = h->priv;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    if (!log_ratelimit(&m->rl_log, now, 5, 20))
        return;
    if (level <= 0)
        log_debug("module %s: %s", m->t->name, msg);
    else if (level == 1)
        log_info("module %s: %s", m->t->name, msg);
    else
        log_warnx("module %s: %s", m->t->name, msg);
}

const char *mod_name(const struct mod *m)
{
    return m->t->name;
}

const char *mod_password(const struct mod *m, const char *user)
{
    if (m == NULL || user == NULL)
        return NULL;
    for (size_t i = 0; i < m->ncreds; i++) {
        if (strcmp(m->creds[i].user, user) == 0)
            return m->creds[i].password;
    }
    return NULL;
}

/* ---- the credentials file ------------------------------------------------------------ */

static void creds_free(struct mod *m)
{
    for (size_t i = 0; i < m->ncreds; i++) {
        free(m->creds[i].user);
        free(m->creds[i].password);
    }
    free(m->creds);
    m->creds = NULL;
    m->ncreds = 0;
}

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* The next whitespace-separated field of line[*i..n), or false. */
static bool next_field(const uint8_t *line, size_t n, size_t *i, size_t *lo, size_t *hi)
{
    while (*i < n && is_blank(line[*i]))
        (*i)++;
    if (*i == n)
        return false;
    *lo = *i;
    while (*i < n && !is_blank(line[*i]))
        (*i)++;
    *hi = *i;
    return true;
}

/* One line: "USER PASSWORD", blank, or a comment. 0, 1 (an entry added) or -EINVAL. */
static int conf_line(struct mod_cred *c, const uint8_t *line, size_t n, unsigned lineno, char *err,
                     size_t errlen)
{
    size_t i = 0, ulo, uhi, plo, phi, xlo, xhi;
    if (!next_field(line, n, &i, &ulo, &uhi) || line[ulo] == '#')
        return 0;
    if (!next_field(line, n, &i, &plo, &phi)) {
        errbuf_set(err, errlen, "line %u: a user without a password (expected USER PASSWORD)",
                   lineno);
        return -EINVAL;
    }
    if (next_field(line, n, &i, &xlo, &xhi)) {
        errbuf_set(err, errlen, "line %u: more than two fields (expected USER PASSWORD)", lineno);
        return -EINVAL;
    }
    for (size_t k = 0; k < n; k++) {
        if (line[k] == 0) {
            errbuf_set(err, errlen, "line %u: a NUL byte", lineno);
            return -EINVAL;
        }
    }
    c->user = strndup((const char *)line + ulo, uhi - ulo);
    c->password = strndup((const char *)line + plo, phi - plo);
    if (c->user == NULL || c->password == NULL) {
        free(c->user);
        free(c->password);
        errbuf_set(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 1;
}

int mod_conf_parse(struct mod *m, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    creds_free(m);
    size_t cap = 16, pos = 0;
    unsigned lineno = 0;
    struct mod_cred *cr = calloc(cap, sizeof(*cr));
    if (cr == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->creds = cr;
    while (pos < len) {
        const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
        lineno++;
        if (m->ncreds == cap) {
            if (cap >= MOD_CREDS_MAX) {
                errbuf_set(err, errlen, "line %u: more than %u entries", lineno,
                           (unsigned)MOD_CREDS_MAX);
                creds_free(m);
                return -EINVAL;
            }
            struct mod_cred *ncr = realloc(m->creds, 2 * cap * sizeof(*ncr));
            if (ncr == NULL) {
                errbuf_set(err, errlen, "out of memory");
                creds_free(m);
                return -ENOMEM;
            }
            m->creds = ncr;
            cap *= 2;
        }
        int rc = conf_line(&m->creds[m->ncreds], buf + pos, n, lineno, err, errlen);
        if (rc < 0) {
            creds_free(m);
            return rc;
        }
        m->ncreds += (size_t)rc;
        pos += n + (nl != NULL);
    }
    return 0;
}

/* Read the credentials file: a regular file of ours (or root's), nobody else may read it. */
static int conf_load(struct mod *m, const char *path, char *err, size_t errlen)
{
    int rc = 0;
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        errbuf_set(err, errlen, "--module-conf %s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        errbuf_set(err, errlen, "--module-conf %s: not a regular file", path);
        rc = -EINVAL;
        goto cleanup;
    }
    if (st.st_mode & 077) {
        errbuf_set(err, errlen,
                   "--module-conf %s: mode %04o lets others read the passwords: it must be "
                   "0600 or stricter (chmod 600 %s)",
                   path, (unsigned)(st.st_mode & 07777), path);
        rc = -EPERM;
        goto cleanup;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        errbuf_set(err, errlen,
                   "--module-conf %s: owned by uid %u, neither this user (%u) nor "
                   "root",
                   path, (unsigned)st.st_uid, (unsigned)geteuid());
        rc = -EPERM;
        goto cleanup;
    }
    if (st.st_size > CONF_MAX_BYTES) {
        errbuf_set(err, errlen, "--module-conf %s: larger than %u bytes", path, CONF_MAX_BYTES);
        rc = -EINVAL;
        goto cleanup;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        errbuf_set(err, errlen, "out of memory");
        goto cleanup;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            errbuf_set(err, errlen, "--module-conf %s: read failed", path);
            goto cleanup;
        }
        got += (size_t)r;
    }
    char why[160];
    rc = mod_conf_parse(m, buf, got, why, sizeof(why));
    if (rc < 0)
        errbuf_set(err, errlen, "--module-conf %s: %s", path, why);
cleanup:
    if (buf != NULL)
        explicit_bzero(buf, st.st_size > 0 ? (size_t)st.st_size : 0);
    free(buf);
    close(fd);
    return rc;
}

/* ---- loading ---------------------------------------------------------------------------- */

/* The module's own counters: names checked, keys made. */
static int counters_load(struct mod *m, char *err, size_t errlen)
{
    const char *const *names = m->t->counters;
    for (unsigned i = 0; names != NULL && names[i] != NULL; i++) {
        size_t n = strlen(names[i]);
        if (i == TCM_COUNTERS_MAX || n == 0 || n > TCM_COUNTER_NAME_MAX ||
            strspn(names[i], "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
            errbuf_set(err, errlen,
                       "module %s: counter %u: more than %u, or a name not of "
                       "1 to %u characters [a-z0-9_]",
                       m->t->name, i, TCM_COUNTERS_MAX, TCM_COUNTER_NAME_MAX);
            return -EINVAL;
        }
        snprintf(m->counter_keys[i], sizeof(m->counter_keys[i]), "module.events.%s", names[i]);
        m->ncounters = i + 1;
    }
    return 0;
}

int mod_open_table(const struct tcm_module *t, const char *conf, struct mod **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (t == NULL || t->api_version != TCM_API_VERSION || t->name == NULL || t->sess_new == NULL ||
        t->sess_end == NULL) {
        errbuf_set(err, errlen, "module API version %u, tcpcopy speaks %u%s",
                   t != NULL ? t->api_version : 0, TCM_API_VERSION,
                   t != NULL && t->api_version == TCM_API_VERSION
                       ? " (but the table lacks a name, sess_new or sess_end)"
                       : ": rebuild the module against this tcpcopy's tcpcopy/module.h");
        return -EINVAL;
    }
    struct mod *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->t = t;
    if (counters_load(m, err, errlen) < 0) {
        free(m);
        return -EINVAL;
    }
    m->host = (struct tcm_host){.api_version = TCM_API_VERSION,
                                .password = host_password,
                                .log = host_log,
                                .priv = m,
                                .user_at = host_user_at,
                                .count = host_count};
    if (conf != NULL) {
        int rc = conf_load(m, conf, err, errlen);
        if (rc < 0) {
            mod_free(m);
            return rc;
        }
    }
    if (t->init != NULL && t->init(&m->host, &m->state) < 0) {
        errbuf_set(err, errlen, "module %s: init failed", t->name);
        mod_free(m);
        return -EINVAL;
    }
    m->inited = true;
    *out = m;
    return 0;
}

static bool is_path(const char *spec)
{
    size_t n = strlen(spec);
    return strchr(spec, '/') != NULL || (n > 3 && strcmp(spec + n - 3, ".so") == 0);
}

static int load_shared(const char *path, const char *conf, struct mod **out, char *err,
                       size_t errlen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        errbuf_set(err, errlen, "--module %s: %s", path, why != NULL ? why : "cannot load");
        return -ENOENT;
    }
    tcm_module_fn fn;
    *(void **)&fn = dlsym(dl, TCM_MODULE_SYMBOL);
    if (fn == NULL) {
        errbuf_set(err, errlen, "--module %s: no symbol %s (not a tcpcopy module)", path,
                   TCM_MODULE_SYMBOL);
        dlclose(dl);
        return -EINVAL;
    }
    char why[200];
    int rc = mod_open_table(fn(), conf, out, why, sizeof(why));
    if (rc < 0) {
        errbuf_set(err, errlen, "--module %s: %s", path, why);
        dlclose(dl);
        return rc;
    }
    (*out)->dl = dl;
    return 0;
}

int mod_load(const char *spec, const char *conf, struct mod **out, char *err, size_t errlen)
{
    *out = NULL;
    if (is_path(spec))
        return load_shared(spec, conf, out, err, errlen);
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (strcmp(builtins[i]->name, spec) == 0)
            return mod_open_table(builtins[i], conf, out, err, errlen);
    }
    char names[200] = "";
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        size_t k = strlen(names);
        snprintf(names + k, sizeof(names) - k, "%s%s", k ? ", " : "", builtins[i]->name);
    }
    errbuf_set(err, errlen,
               "--module %s: no such built-in module (built in: %s; a shared object is given "
               "by a path containing '/' or ending in .so)",
               spec, names);
    return -ENOENT;
}

void mod_free(struct mod *m)
{
    if (m == NULL)
        return;
    if (m->inited && m->t->fini != NULL)
        m->t->fini(m->state);
    for (size_t i = 0; i < m->ncreds; i++)
        explicit_bzero(m->creds[i].password, strlen(m->creds[i].password));
    creds_free(m);
    if (m->dl != NULL)
        dlclose(m->dl);
    free(m);
}
