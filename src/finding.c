/*
 * finding: the findings of a --check run and their text and JSON forms (see
 * finding.h). Texts are sanitized when added, so both printers can copy them out
 * without judging them again; JSON still escapes '"' and '\\'.
 */
#include <stdarg.h>
#include <string.h>

#include "finding.h"

void findings_init(struct findings *f, const char *prog)
{
    memset(f, 0, sizeof(*f));
    f->prog = prog;
}

/* Printable ASCII only: a BYE reason from a peer must not put control bytes on a
 * terminal or break a JSON string. */
static void sanitize(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

struct finding *findings_add(struct findings *f, enum finding_level level, const char *id,
                             const char *what, ...)
{
    if (f->n >= FINDINGS_MAX) {
        f->dropped++;
        return NULL;
    }
    struct finding *x = &f->v[f->n++];
    va_list ap;

    memset(x, 0, sizeof(*x));
    x->level = level;
    snprintf(x->id, sizeof(x->id), "%s", id);
    sanitize(x->id);
    va_start(ap, what);
    vsnprintf(x->what, sizeof(x->what), what, ap);
    va_end(ap);
    sanitize(x->what);
    return x;
}

void finding_fix(struct finding *x, const char *fmt, ...)
{
    va_list ap;

    if (x == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(x->fix, sizeof(x->fix), fmt, ap);
    va_end(ap);
    sanitize(x->fix);
}

size_t findings_count(const struct findings *f, enum finding_level level)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->v[i].level == level;
    return n;
}

bool findings_has(const struct findings *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].id, id) == 0)
            return true;
    return false;
}

static const char *level_text(enum finding_level l)
{
    return l == FINDING_FAIL ? "FAIL" : l == FINDING_WARN ? "WARN" : "ok";
}

static const char *level_json(enum finding_level l)
{
    return l == FINDING_FAIL ? "fail" : l == FINDING_WARN ? "warn" : "ok";
}

void findings_print_text(const struct findings *f, FILE *fp)
{
    size_t fails = findings_count(f, FINDING_FAIL), warns = findings_count(f, FINDING_WARN);

    for (size_t i = 0; i < f->n; i++) {
        const struct finding *x = &f->v[i];
        fprintf(fp, "%-4s  %s: %s\n", level_text(x->level), x->id, x->what);
        if (x->fix[0] != '\0')
            fprintf(fp, "      fix: %s\n", x->fix);
    }
    if (f->dropped > 0)
        fprintf(fp, "(%zu more findings not kept)\n", f->dropped);
    if (fails > 0)
        fprintf(fp, "%s --check: FAIL: %zu problem%s, %zu warning%s\n", f->prog, fails,
                fails == 1 ? "" : "s", warns, warns == 1 ? "" : "s");
    else
        fprintf(fp, "%s --check: ok: the path works (%zu warning%s)\n", f->prog, warns,
                warns == 1 ? "" : "s");
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

void findings_print_json(const struct findings *f, FILE *fp)
{
    size_t fails = findings_count(f, FINDING_FAIL);

    fputs("{\"program\":", fp);
    json_str(fp, f->prog != NULL ? f->prog : "");
    fprintf(fp, ",\"ok\":%s,\"problems\":%zu,\"warnings\":%zu,\"dropped\":%zu,\"findings\":[",
            fails == 0 ? "true" : "false", fails, findings_count(f, FINDING_WARN), f->dropped);
    for (size_t i = 0; i < f->n; i++) {
        const struct finding *x = &f->v[i];
        fputs(i > 0 ? ",\n" : "\n", fp);
        fputs("{\"id\":", fp);
        json_str(fp, x->id);
        fprintf(fp, ",\"level\":\"%s\",\"message\":", level_json(x->level));
        json_str(fp, x->what);
        fputs(",\"fix\":", fp);
        json_str(fp, x->fix);
        fputc('}', fp);
    }
    fputs("\n]}\n", fp);
}
