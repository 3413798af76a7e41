/*
 * cmp_out: the files of tcpcopy --compare DIR (see cmp_out.h). Results come from the
 * engine's compared sessions through the context's sink, one at a time: each is counted
 * in the summary, and a differing one is written to mismatches.jsonl at once (buffered,
 * flushed with every refresh). summary.json is written whole to a temporary file and
 * renamed, so a reader never sees half of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmp_html.h"
#include "cmp_out.h"
#include "cmp_report.h"
#include "log.h"
#include "loop.h"
#include "tcp.h"

struct cmp_out {
    struct cmp_ctx *x;
    struct cmp_rules rules;
    regex_t mask;
    bool has_mask;
    struct cmp_summary *sum;
    struct cmp_html_examples *ex; /* the first difference of each endpoint, for report.html */
    char dir[PATH_MAX];
    FILE *mism, *noise;
    uint64_t write_errors;
    struct log_rl rl; /* a file that cannot be written: said at a limited rate */
    double started_s;
    struct loop *loop;
    struct loop_timer timer;
};

struct cmp_ctx *cmp_ctx_new(const struct cmp_conf *c)
{
    struct cmp_ctx *x = calloc(1, sizeof(*x));
    if (x != NULL)
        x->conf = *c;
    return x;
}

void cmp_ctx_free(struct cmp_ctx *x)
{
    free(x);
}

static double now_s(void)
{
    return (double)loop_realtime_us() / 1e6;
}

static void out_sink(void *arg, const struct cmp_result *r, const struct tuple *ckey)
{
    struct cmp_out *o = arg;
    cmp_summary_add(o->sum, r, r->noise);
    if (r->verdict != CMP_DIFFERENT)
        return;
    char sess[ADDR_STRLEN + 8];
    addr_port_str(&ckey->src, ckey->sport, sess, sizeof(sess));
    if (r->noise) { /* noise.jsonl shares mismatches.jsonl's line bound */
        if (o->x->st.lines_written >= CMP_OUT_LINES_MAX)
            o->x->st.lines_dropped++;
        else if (cmp_report_line(o->noise, r, now_s(), sess, o->has_mask ? &o->mask : NULL) < 0)
            o->write_errors++;
        else
            o->x->st.lines_written++;
        return;
    }
    if (o->x->st.lines_written >= CMP_OUT_LINES_MAX) {
        o->x->st.lines_dropped++;
        return;
    }
    cmp_html_examples_add(o->ex, r, sess, o->has_mask ? &o->mask : NULL);
    if (cmp_report_line(o->mism, r, now_s(), sess, o->has_mask ? &o->mask : NULL) < 0)
        o->write_errors++;
    else
        o->x->st.lines_written++;
}

/* report.html (cmp_html.c): the summary and the first difference of each endpoint. */
static int cmp_out_html(const struct cmp_summary *s, const struct cmp_html_examples *ex,
                        double started_s, double now, FILE *out)
{
    return cmp_html_write(out, s, ex->ex, ex->n, started_s, now);
}

/* A new file (truncated) for writing, readable by its owner and group only: excerpts of
 * answers are production data. NULL with errno set. */
static FILE *open_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (f == NULL)
        close(fd);
    return f;
}

/* Write path.tmp with fn, then rename it to path. 0 or -errno. */
static int write_atomic(struct cmp_out *o, const char *name, int (*fn)(struct cmp_out *o, FILE *f))
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    snprintf(path, sizeof(path), "%s/%s", o->dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = open_private(tmp);
    if (f == NULL)
        return -errno;
    int rc = fn(o, f);
    if (fclose(f) != 0 && rc == 0)
        rc = -EIO;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static int put_summary(struct cmp_out *o, FILE *f)
{
    return cmp_summary_write(o->sum, f);
}

static int put_html(struct cmp_out *o, FILE *f)
{
    return cmp_out_html(o->sum, o->ex, o->started_s, now_s(), f);
}

int cmp_out_write(struct cmp_ctx *x)
{
    struct cmp_out *o = x->conf.sink_arg;
    int rc = 0;
    if (fflush(o->mism) != 0 || fflush(o->noise) != 0)
        rc = -EIO;
    int r2 = write_atomic(o, "summary.json", put_summary);
    if (r2 < 0) {
        rc = r2;
        log_warnx_rl(&o->rl, loop_realtime_us(), "--compare: %s/summary.json: %s", o->dir,
                     strerror(-r2));
    }
    r2 = write_atomic(o, "report.html", put_html);
    if (r2 < 0) {
        rc = rc < 0 ? rc : r2;
        log_warnx_rl(&o->rl, loop_realtime_us(), "--compare: %s/report.html: %s", o->dir,
                     strerror(-r2));
    }
    return rc;
}

static void on_refresh(struct loop *l, void *arg)
{
    struct cmp_out *o = arg;
    cmp_out_write(o->x);
    loop_timer_set(l, &o->timer, loop_now(l) + CMP_OUT_REFRESH_US, on_refresh, o);
}

static FILE *open_in(const struct cmp_out *o, const char *name, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", o->dir, name);
    FILE *f = open_private(path);
    if (f == NULL)
        errbuf_set(err, errlen, "--compare: %s: %s", path, strerror(errno));
    return f;
}

/* The rules and the mask from the options: a bad one is named with what was expected. */
static int compile(struct cmp_out *o, const struct tc_opts *op, char *err, size_t errlen)
{
    char msg[256];
    for (size_t i = 0; i < op->compare_nignore; i++) {
        if (cmp_rules_add(&o->rules, op->compare_ignore[i], msg, sizeof(msg)) < 0) {
            errbuf_set(err, errlen, "tcpcopy: --compare-ignore: %s", msg);
            return -EINVAL;
        }
    }
    if (op->compare_mask != NULL) {
        int rc = regcomp(&o->mask, op->compare_mask, REG_EXTENDED);
        if (rc != 0) {
            regerror(rc, &o->mask, msg, sizeof(msg));
            errbuf_set(err, errlen, "tcpcopy: --compare-mask '%s': %s", op->compare_mask, msg);
            return -EINVAL;
        }
        o->has_mask = true;
    }
    return 0;
}

/* DIR as an absolute path (-d moves the daemon to /), made if missing; with -u USER, given
 * to that user: summary.json is replaced by a rename in DIR after privileges are dropped. */
static int make_dir(struct cmp_out *o, const struct tc_opts *op, char *err, size_t errlen)
{
    char cwd[PATH_MAX / 2];
    struct stat st;
    int n;
    if (op->compare_dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        n = snprintf(o->dir, sizeof(o->dir), "%.*s", PATH_MAX / 2, op->compare_dir);
    else
        n = snprintf(o->dir, sizeof(o->dir), "%s/%.*s", cwd, PATH_MAX / 2 - 2, op->compare_dir);
    if (n < 0 || (size_t)n >= sizeof(o->dir) || strlen(op->compare_dir) >= PATH_MAX / 2 - 2) {
        errbuf_set(err, errlen, "--compare: the directory's name is too long");
        return -EINVAL;
    }
    if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) {
        errbuf_set(err, errlen, "--compare: cannot make %s: %s", o->dir, strerror(errno));
        return -EINVAL;
    }
    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errbuf_set(err, errlen, "--compare: %s is not a directory", o->dir);
        return -EINVAL;
    }
    if (op->user != NULL && geteuid() == 0) {
        struct passwd *pw = getpwnam(op->user);
        char *end;
        unsigned long id = strtoul(op->user, &end, 10);
        uid_t uid = pw ? pw->pw_uid : (uid_t)id;
        gid_t gid = pw ? pw->pw_gid : (gid_t)id;
        if ((pw != NULL || *end == '\0') && chown(o->dir, uid, gid) != 0) {
            errbuf_set(err, errlen, "--compare: cannot give %s to %s: %s", o->dir, op->user,
                       strerror(errno));
            return -EINVAL;
        }
    }
    return 0;
}

static void out_free(struct cmp_out *o)
{
    if (o->loop != NULL)
        loop_timer_cancel(o->loop, &o->timer);
    if (o->mism != NULL)
        fclose(o->mism);
    if (o->noise != NULL)
        fclose(o->noise);
    if (o->has_mask)
        regfree(&o->mask);
    cmp_rules_free(&o->rules);
    cmp_summary_free(o->sum);
    free(o->ex);
    cmp_ctx_free(o->x);
    free(o);
}

struct cmp_ctx *cmp_out_open(const struct tc_opts *op, struct loop *l, const struct chanc_stats *ch,
                             char *err, size_t errlen)
{
    struct cmp_out *o = calloc(1, sizeof(*o));
    if (o == NULL || (o->sum = cmp_summary_new()) == NULL ||
        (o->ex = calloc(1, sizeof(*o->ex))) == NULL) {
        if (o != NULL)
            cmp_summary_free(o->sum);
        free(o);
        errbuf_set(err, errlen, "--compare: out of memory");
        return NULL;
    }
    cmp_rules_init(&o->rules);
    if (make_dir(o, op, err, errlen) < 0 || compile(o, op, err, errlen) < 0)
        goto fail;
    if ((o->mism = open_in(o, "mismatches.jsonl", err, errlen)) == NULL ||
        (o->noise = open_in(o, "noise.jsonl", err, errlen)) == NULL)
        goto fail;
    struct cmp_conf cc = {
        .proto = (enum cmp_proto)op->compare_proto,
        .rules = &o->rules,
        .max_sessions = op->compare_sessions,
        .baseline = op->compare_base_port != 0,
        .base = op->compare_base,
        .base_port = op->compare_base_port,
        .sink = out_sink,
        .sink_arg = o,
    };
    o->x = cmp_ctx_new(&cc);
    if (o->x == NULL) {
        errbuf_set(err, errlen, "--compare: out of memory");
        goto fail;
    }
    o->x->lag_us = ch != NULL ? &ch->lag_last_us : NULL;
    o->started_s = now_s();
    if (l != NULL) {
        o->loop = l;
        loop_timer_set(l, &o->timer, loop_now(l) + CMP_OUT_REFRESH_US, on_refresh, o);
    }
    if (cmp_out_write(o->x) < 0) {
        errbuf_set(err, errlen, "--compare: cannot write in %s", o->dir);
        goto fail;
    }
    log_info("comparing answers (%s), results in %s", cmp_proto_name(cc.proto), o->dir);
    return o->x;

fail:
    out_free(o);
    return NULL;
}

void cmp_out_free(struct cmp_ctx *x)
{
    if (x == NULL)
        return;
    struct cmp_out *o = x->conf.sink_arg;
    cmp_out_write(x);
    if (x->st.lines_dropped > 0)
        log_warnx("--compare: %llu differing requests not written to %s/mismatches.jsonl "
                  "(at most %d lines; summary.json counts them all)",
                  (unsigned long long)x->st.lines_dropped, o->dir, CMP_OUT_LINES_MAX);
    out_free(o);
}
