/*
 * db_rec: recorded database exchanges for the unit tests (tests/data/db/NAME.txt:
 * lines "C <hex>" client to server, "S <hex>" server to client, one line per
 * read of the recording relay; '#' lines are comments).
 */
#ifndef TC_TEST_DB_REC_H
#define TC_TEST_DB_REC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_REC_MAX 16
#define DB_REC_BYTES 8192

struct db_rec {
    int n;
    char dir[DB_REC_MAX];
    size_t len[DB_REC_MAX];
    uint8_t b[DB_REC_MAX][DB_REC_BYTES];
};

static inline int db_rec_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Load a recording by name; NULL on failure (the test then fails on it). */
static inline struct db_rec *db_rec_load(const char *name)
{
    const char *dir = getenv("TC_DATA");
    char path[512], *line = NULL;
    size_t cap = 0;
    snprintf(path, sizeof(path), "%s/db/%s", dir != NULL ? dir : "tests/data", name);
    FILE *f = fopen(path, "r");
    struct db_rec *r = calloc(1, sizeof(*r));
    if (f == NULL || r == NULL) {
        if (f != NULL)
            fclose(f);
        free(r);
        return NULL;
    }
    while (getline(&line, &cap, f) > 0 && r->n < DB_REC_MAX) {
        if (line[0] != 'C' && line[0] != 'S')
            continue;
        r->dir[r->n] = line[0];
        size_t k = 0;
        for (const char *h = line + 2; db_rec_hex(h[0]) >= 0 && db_rec_hex(h[1]) >= 0 &&
                                       k < DB_REC_BYTES; h += 2)
            r->b[r->n][k++] = (uint8_t)(db_rec_hex(h[0]) << 4 | db_rec_hex(h[1]));
        r->len[r->n++] = k;
    }
    free(line);
    fclose(f);
    return r;
}

#endif
