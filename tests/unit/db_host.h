/*
 * db_host: a tcm_host for driving the database modules' hooks directly in the
 * unit tests: the credentials given, the log kept.
 */
#ifndef TC_TEST_DB_HOST_H
#define TC_TEST_DB_HOST_H

#include <stdio.h>
#include <string.h>

#include "tcpcopy/module.h"

static const char *const *fake_creds; /* user, password, user, password, ..., NULL */
static char fake_log[4096];

static const char *fake_password(const struct tcm_host *h, const char *user)
{
    (void)h;
    for (size_t i = 0; fake_creds != NULL && fake_creds[i] != NULL; i += 2)
        if (strcmp(fake_creds[i], user) == 0)
            return fake_creds[i + 1];
    return NULL;
}

static const char *fake_user_at(const struct tcm_host *h, size_t i)
{
    (void)h;
    for (size_t k = 0; fake_creds != NULL && fake_creds[k] != NULL; k += 2)
        if (k / 2 == i)
            return fake_creds[k];
    return NULL;
}

static void fake_logf(const struct tcm_host *h, int level, const char *msg)
{
    (void)h;
    size_t n = strlen(fake_log);
    snprintf(fake_log + n, sizeof(fake_log) - n, "%d %s\n", level, msg);
}

static uint64_t fake_counts[TCM_COUNTERS_MAX];

static void fake_count(const struct tcm_host *h, unsigned idx, uint64_t n)
{
    (void)h;
    if (idx < TCM_COUNTERS_MAX)
        fake_counts[idx] += n;
}

static const struct tcm_host fake_host = {
    .api_version = TCM_API_VERSION,
    .password = fake_password,
    .log = fake_logf,
    .user_at = fake_user_at,
    .count = fake_count,
};

#endif
