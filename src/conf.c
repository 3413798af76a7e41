/*
 * conf: the configuration file reader (see conf.h). It owns the expanded argument
 * vector and the strings of the file's entries; the option parsers of the programs
 * keep doing all the checking of values.
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "log.h"

struct conf_reader {
    const char *prog;
    const char *path;
    const struct option *longopts;
    struct conf *cf;
    char *err;
    size_t errlen;
};

static int conf_fail(const struct conf_reader *r, int line, int rc, const char *what,
                     const char *detail)
{
    if (line > 0)
        errbuf_set(r->err, r->errlen, "%s: %s:%d: %s%s", r->prog, r->path, line, what, detail);
    else
        errbuf_set(r->err, r->errlen, "%s: %s: %s%s", r->prog, r->path, what, detail);
    return rc;
}

static const struct option *conf_find(const struct option *lo, const char *name, size_t n)
{
    for (; lo->name != NULL; lo++)
        if (strlen(lo->name) == n && strncmp(lo->name, name, n) == 0)
            return lo;
    return NULL;
}

static char *conf_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* One line without its newline: nothing (blank, comment) or one entry. */
static int conf_line(struct conf_reader *r, char *text, int line)
{
    char detail[128];
    char *s = conf_trim(text);
    if (*s == '\0' || *s == '#')
        return 0;
    size_t nlen = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
    char *rest = s + nlen;
    if (nlen == 0 || *s == '-' || (*rest != '\0' && *rest != ' ' && *rest != '\t' && *rest != '=')) {
        snprintf(detail, sizeof(detail),
                 "'%.40s' (expected: name value, name=value or name; long names, no dashes)", s);
        return conf_fail(r, line, -EINVAL, "not an option line: ", detail);
    }
    const struct option *o = conf_find(r->longopts, s, nlen);
    snprintf(detail, sizeof(detail), "%.*s", (int)(nlen > 60 ? 60 : nlen), s);
    if (o == NULL)
        return conf_fail(r, line, -EINVAL, "unknown option ", detail);
    if (strcmp(o->name, "config") == 0)
        return conf_fail(r, line, -EINVAL, "a configuration file cannot name another: ", detail);
    rest = conf_trim(rest);
    bool eq = *rest == '=';
    char *val = eq ? conf_trim(rest + 1) : rest;
    size_t vlen = strlen(val);
    /* Quotes keep blanks at either end of a value; they are not part of it. */
    if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
        val[vlen - 1] = '\0';
        val++;
        vlen -= 2;
    } else if (vlen == 0 && !eq) {
        val = NULL;
    }
    if (o->has_arg == no_argument && val != NULL)
        return conf_fail(r, line, -EINVAL, "option takes no value: ", detail);
    if (o->has_arg == required_argument && (val == NULL || vlen == 0))
        return conf_fail(r, line, -EINVAL, "option needs a value: ", detail);
    if (r->cf->n == CONF_ENTRIES_MAX) {
        snprintf(detail, sizeof(detail), "%d", CONF_ENTRIES_MAX);
        return conf_fail(r, line, -E2BIG, "too many options, at most ", detail);
    }
    size_t need = strlen(o->name) + (val != NULL ? vlen + 1 : 0) + 3;
    char *e = malloc(need);
    if (e == NULL)
        return conf_fail(r, line, -ENOMEM, "out of memory", "");
    if (val != NULL)
        snprintf(e, need, "--%s=%s", o->name, val);
    else
        snprintf(e, need, "--%s", o->name);
    r->cf->own[r->cf->n] = e;
    r->cf->lines[r->cf->n] = line;
    r->cf->n++;
    return 0;
}

/* Line by line, a byte at a time: a NUL byte or an overlong line is reported,
 * never cut silently. */
static int conf_read(struct conf_reader *r, FILE *fp)
{
    char buf[CONF_LINE_MAX + 1];
    char detail[32];
    size_t n = 0;
    int line = 1, c;

    while ((c = getc(fp)) != EOF || n > 0) {
        if (c != EOF && c != '\n') {
            if (c == '\0')
                return conf_fail(r, line, -EINVAL, "a NUL byte in the line", "");
            if (n == CONF_LINE_MAX) {
                snprintf(detail, sizeof(detail), "%d", CONF_LINE_MAX);
                return conf_fail(r, line, -EINVAL, "line too long: more characters than ",
                                 detail);
            }
            buf[n++] = (char)c;
            continue;
        }
        buf[n] = '\0';
        int rc = conf_line(r, buf, line);
        if (rc < 0)
            return rc;
        n = 0;
        line++;
        if (c == EOF)
            break;
    }
    if (ferror(fp))
        return conf_fail(r, line, -EIO, "read error: ", strerror(errno));
    return 0;
}

static int conf_load(struct conf_reader *r)
{
    FILE *fp = fopen(r->path, "re");
    if (fp == NULL)
        return conf_fail(r, 0, -errno, "cannot read configuration file: ", strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fileno(fp), &st) != 0)
        rc = conf_fail(r, 0, -errno, "cannot read configuration file: ", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = conf_fail(r, 0, -EINVAL, "not a regular file", "");
    else
        rc = conf_read(r, fp);
    fclose(fp);
    return rc;
}

/* The value getopt_long returns for the option named "config"; 0 when there is none. */
static int conf_config_val(const struct option *lo)
{
    for (; lo->name != NULL; lo++)
        if (strcmp(lo->name, "config") == 0)
            return lo->flag == NULL ? lo->val : 0;
    return 0;
}

/* The --config FILE of argv, found as getopt_long finds options; NULL without. */
static int conf_find_path(int argc, char **argv, const char *optstring,
                          const struct option *longopts, const char **path)
{
    int val = conf_config_val(longopts), c;
    char **copy = calloc((size_t)argc + 1, sizeof(*copy));
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, argv, (size_t)argc * sizeof(*copy));
    *path = NULL;
    int rc = 0;
    optind = 0;
    opterr = 0;
    while (val != 0 && (c = getopt_long(argc, copy, optstring, longopts, NULL)) != -1) {
        if (c != val)
            continue; /* errors are the real parse's to report */
        if (*path != NULL) {
            rc = -EEXIST;
            break;
        }
        *path = optarg;
    }
    optind = 0;
    free(copy);
    return rc;
}

int conf_expand(struct conf *cf, const char *prog, int argc, char **argv, const char *optstring,
                const struct option *longopts, char *err, size_t errlen)
{
    const char *path = NULL;
    memset(cf, 0, sizeof(*cf));
    cf->argc = argc;
    cf->argv = argv;
    int rc = conf_find_path(argc, argv, optstring, longopts, &path);
    if (rc == -EEXIST) {
        errbuf_set(err, errlen, "%s: --config is given more than once", prog);
        return -EINVAL;
    }
    if (rc < 0 || path == NULL) {
        if (rc < 0)
            errbuf_set(err, errlen, "%s: out of memory", prog);
        return rc;
    }
    cf->path = strdup(path);
    cf->own = calloc(CONF_ENTRIES_MAX, sizeof(*cf->own));
    cf->lines = calloc(CONF_ENTRIES_MAX, sizeof(*cf->lines));
    if (cf->path == NULL || cf->own == NULL || cf->lines == NULL) {
        conf_free(cf);
        errbuf_set(err, errlen, "%s: out of memory", prog);
        return -ENOMEM;
    }
    struct conf_reader r = {.prog = prog, .path = cf->path, .longopts = longopts, .cf = cf,
                            .err = err, .errlen = errlen};
    rc = conf_load(&r);
    char **v = rc == 0 ? calloc((size_t)argc + (size_t)cf->n + 1, sizeof(*v)) : NULL;
    if (rc == 0 && v == NULL)
        rc = conf_fail(&r, 0, -ENOMEM, "out of memory", "");
    if (rc < 0) {
        conf_free(cf);
        return rc;
    }
    /* argv[0], the file's entries, then the whole command line: a value given on
     * the command line is parsed last and wins. */
    v[0] = argv[0];
    memcpy(v + 1, cf->own, (size_t)cf->n * sizeof(*v));
    memcpy(v + 1 + cf->n, argv + 1, (size_t)(argc - 1) * sizeof(*v));
    cf->argv = v;
    cf->argc = argc + cf->n;
    cf->first = 1;
    return 0;
}

void conf_annotate(const struct conf *cf, const char *prog, int idx, char *msg, size_t len)
{
    if (cf == NULL || cf->path == NULL || idx < cf->first || idx >= cf->first + cf->n)
        return;
    char tmp[1024];
    const char *rest = msg;
    size_t pl = strlen(prog);
    if (strncmp(msg, prog, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0)
        rest = msg + pl + 2;
    snprintf(tmp, sizeof(tmp), "%s: %s:%d: %s", prog, cf->path, cf->lines[idx - cf->first], rest);
    errbuf_set(msg, len, "%s", tmp);
}

void conf_free(struct conf *cf)
{
    if (cf == NULL)
        return;
    if (cf->path != NULL && cf->first == 1)
        free(cf->argv);
    for (int i = 0; cf->own != NULL && i < cf->n; i++)
        free(cf->own[i]);
    free(cf->own);
    free(cf->lines);
    free(cf->path);
    memset(cf, 0, sizeof(*cf));
}
