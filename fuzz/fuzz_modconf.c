/*
 * fuzz_modconf: the credentials format of --module-conf (mod_conf_parse, src/tcpcopy/mod.c)
 * on hostile files. On success every entry is a non-empty user and password without blanks,
 * newlines or NUL bytes, at most MOD_CREDS_MAX of them, and each user's lookup answers; on
 * failure the message is one non-empty line. A second parse (replacing the first) must not
 * leak (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static int t_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    *sess = NULL;
    return 0;
}

static void t_end(void *mod, void *sess)
{
}

static const struct tcm_module t = {
    .api_version = TCM_API_VERSION, .name = "fuzz", .sess_new = t_new, .sess_end = t_end};

static void check_field(const char *s)
{
    CHECK(s != NULL && s[0] != '\0');
    CHECK(strpbrk(s, " \t\r\n") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mod *m;
    char err[256];
    if (m == NULL && mod_open_table(&t, NULL, &m, err, sizeof(err)) < 0)
        __builtin_trap();
    err[0] = '\0';
    int rc = mod_conf_parse(m, data, size, err, sizeof(err));
    if (rc < 0) {
        CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        CHECK(m->ncreds == 0);
        return 0;
    }
    CHECK(m->ncreds <= MOD_CREDS_MAX);
    for (size_t i = 0; i < m->ncreds; i++) {
        check_field(m->creds[i].user);
        check_field(m->creds[i].password);
        CHECK(m->creds[i].user[0] != '#');
        CHECK(mod_password(m, m->creds[i].user) != NULL);
    }
    return 0;
}
