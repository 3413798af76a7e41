/*
 * cmp_json: drop the values at given JSON paths from a JSON body, as a stream (see cmp_json.c).
 */
#ifndef TC_CMP_JSON_H
#define TC_CMP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMP_JSON_SEGS 8    /* segments of a path */
#define CMP_JSON_KEY 48    /* bytes of a key (longer keys never match) */
#define CMP_JSON_DEPTH 32  /* nesting followed; deeper documents pass unfiltered */

/* A path such as $.meta.request_id, $.items[*].id or $.list[0]. */
struct cmp_jpath {
    uint32_t nseg;
    struct {
        int32_t index;             /* >= 0: [N]; -1: a key; -2: [*] or .* */
        uint8_t keylen;
        char key[CMP_JSON_KEY];
    } seg[CMP_JSON_SEGS];
};

/* Parse text into p; false with a message in err. */
bool cmp_jpath_parse(struct cmp_jpath *p, const char *text, char *err, size_t errlen);

typedef void (*cmp_json_out)(void *arg, const uint8_t *p, size_t n);

struct cmp_json {
    const struct cmp_jpath *paths;
    uint32_t npaths;
    uint8_t state, depth;
    bool in_str, esc, key_str, broken;
    uint32_t skip;       /* nesting inside a skipped value, plus one; 0: not skipping */
    bool skip_scalar, skip_str;
    uint8_t kind[CMP_JSON_DEPTH]; /* '{' or '[' */
    uint32_t idx[CMP_JSON_DEPTH];
    uint8_t keylen[CMP_JSON_DEPTH];
    char key[CMP_JSON_DEPTH][CMP_JSON_KEY];
    uint64_t dropped;    /* bytes left out */
};

/* A filter at the start of a document, leaving out the values at paths[0..npaths), which
 * must outlive it. */
void cmp_json_init(struct cmp_json *j, const struct cmp_jpath *paths, uint32_t npaths);
/* Filter n bytes: what is kept goes to out(arg, ...), in order. Input that is not JSON (or
 * nests deeper than CMP_JSON_DEPTH) passes unchanged from there on. */
void cmp_json_feed(struct cmp_json *j, const uint8_t *p, size_t n, cmp_json_out out, void *arg);

#endif
