/*
 * finding: what a --check run found, and how to print it for people (text) and
 * for scripts (JSON). A finding is one checked fact: its stable id (documented in
 * README.md, "Troubleshooting"; scripts match on it), a level, what was seen, and
 * the fix in plain words. The list is fixed-size and owned by the caller; nothing
 * here allocates, logs or exits.
 */
#ifndef TC_FINDING_H
#define TC_FINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum finding_level {
    FINDING_OK = 0, /* checked and fine: printed so a reader sees what was covered */
    FINDING_WARN,   /* works, but something will bite (the exit status stays 0) */
    FINDING_FAIL,   /* the path does not work end to end (exit status 1) */
};

#define FINDING_ID_MAX 40
#define FINDING_TEXT_MAX 480
#define FINDINGS_MAX 96

struct finding {
    enum finding_level level;
    char id[FINDING_ID_MAX];     /* [a-z0-9_], stable across releases */
    char what[FINDING_TEXT_MAX]; /* what was seen, one line */
    char fix[FINDING_TEXT_MAX];  /* what to do, one line; "" for FINDING_OK */
};

struct findings {
    const char *prog; /* "tcpcopy" or "intercept" (static storage) */
    struct finding v[FINDINGS_MAX];
    size_t n;
    size_t dropped; /* added past FINDINGS_MAX (counted, never a crash) */
};

void findings_init(struct findings *f, const char *prog);

/*
 * Append a finding; `what` is a printf format. Returns it, so the caller can set
 * its fix with finding_fix(), or NULL when the list is full (counted in dropped;
 * finding_fix(NULL, ...) does nothing). Bytes that are not printable ASCII (a
 * peer's text may be anything) are replaced with '?', and too long a text is cut.
 */
struct finding *findings_add(struct findings *f, enum finding_level level, const char *id,
                             const char *what, ...) __attribute__((format(printf, 4, 5)));
void finding_fix(struct finding *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How many findings have this level. */
size_t findings_count(const struct findings *f, enum finding_level level);
/* True when a finding with this id was added (the lab tests and unit tests ask). */
bool findings_has(const struct findings *f, const char *id);

/*
 * Text for people: one line per finding ("ok", "WARN", "FAIL", the id, what was
 * seen), its fix indented on the next line, and a last line with the verdict.
 */
void findings_print_text(const struct findings *f, FILE *fp);
/*
 * JSON for scripts, one object:
 *   {"program":"tcpcopy","ok":false,"problems":1,"warnings":0,
 *    "findings":[{"id":"...","level":"ok|warn|fail","message":"...","fix":"..."},...]}
 * "ok" is true exactly when no finding is "fail" (the exit status is then 0).
 */
void findings_print_json(const struct findings *f, FILE *fp);

#endif
