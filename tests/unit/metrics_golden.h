/*
 * metrics_golden.h: what the counter tables' golden tests share (test_tcstats,
 * test_icstats): numbering a counter struct, comparing a rendering with the expected file
 * in tests/data/metrics (TC_UPDATE_GOLDEN=1 rewrites it), and checking that every row is
 * documented in doc/metrics.md.
 */
#ifndef TC_TEST_METRICS_GOLDEN_H
#define TC_TEST_METRICS_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char out[128 * 1024];

/* Number every uint64_t word of a counter struct: 1000 * base + index. */
static void number(void *p, size_t size, uint64_t base)
{
    uint64_t *w = p;
    for (size_t i = 0; i < size / sizeof(*w); i++)
        w[i] = base * 1000 + i;
}

static void golden(const char *name, const char *text)
{
    char path[512];
    const char *dir = getenv("TC_DATA");
    snprintf(path, sizeof(path), "%s/metrics/%s", dir != NULL ? dir : "tests/data", name);
    if (getenv("TC_UPDATE_GOLDEN") != NULL) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
    }
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char want[sizeof(out)];
    size_t n = fread(want, 1, sizeof(want) - 1, fp);
    fclose(fp);
    want[n] = '\0';
    if (strcmp(want, text) != 0)
        fail_msg("%s differs from the rendering (TC_UPDATE_GOLDEN=1 rewrites it):\n%s", path, text);
}

/* Every row's JSON key and series name are in doc/metrics.md. */
static void documented(const struct metrics *m)
{
    char path[512];
    static char doc[64 * 1024];
    const char *dir = getenv("TC_DATA");
    snprintf(path, sizeof(path), "%s/../../doc/metrics.md", dir != NULL ? dir : "tests/data");
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(doc, 1, sizeof(doc) - 1, fp);
    fclose(fp);
    doc[n] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        char want[256];
        snprintf(want, sizeof(want), "| `%s` | `%s", m->rows[i].key, m->rows[i].name);
        if (strstr(doc, want) == NULL)
            fail_msg("%s: no row for %s (%s)", path, m->rows[i].key, m->rows[i].name);
    }
}

#endif
