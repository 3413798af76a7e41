/*
 * statsout: the stats file and the metrics endpoint of one program (see
 * statsout.h). Owns the counter table, the JSON buffer and the mhttp server.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mhttp.h"
#include "statsout.h"

struct statsout {
    char *json_path;
    struct mhttp *http;
    statsout_fill_cb *fill;
    void *arg;
    int last_rc; /* of the previous write: a failure is logged when it starts */
    struct metrics tab;
    char json[STATSOUT_JSON_MAX];
};

const struct metrics *statsout_fill(struct statsout *s)
{
    s->fill(s->arg, &s->tab);
    return &s->tab;
}

static long statsout_prom(void *arg, char *buf, size_t cap)
{
    struct statsout *s = arg;
    struct mbuf b;
    mbuf_init(&b, buf, cap);
    if (metrics_render_prom(statsout_fill(s), &b) < 0)
        return -1;
    return (long)b.len;
}

int statsout_write(struct statsout *s)
{
    if (s == NULL || s->json_path == NULL)
        return 0;
    struct mbuf b;
    mbuf_init(&b, s->json, sizeof(s->json));
    int rc = metrics_render_json(statsout_fill(s), &b);
    if (rc == 0)
        rc = metrics_write_file(s->json_path, b.buf, b.len);
    if (rc < 0 && rc != s->last_rc)
        log_warnx("--stats-json %s: %s (said once until it changes)", s->json_path, strerror(-rc));
    else if (rc == 0 && s->last_rc < 0)
        log_info("--stats-json %s: written again", s->json_path);
    s->last_rc = rc;
    return rc;
}

/* Keep the path absolute: -d moves the daemon to / after this. */
static int statsout_path(struct statsout *s, const char *path, char *err, size_t errlen)
{
    char cwd[PATH_MAX];
    if (path[0] == '/') {
        s->json_path = strdup(path);
    } else if (getcwd(cwd, sizeof(cwd)) == NULL) {
        errbuf_set(err, errlen, "--stats-json %s: current directory: %s", path, strerror(errno));
        return -1;
    } else if (asprintf(&s->json_path, "%s/%s", cwd, path) < 0) {
        s->json_path = NULL;
    }
    if (s->json_path == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

struct statsout *statsout_new(struct loop *l, const char *json_path, const char *metrics_addr,
                              statsout_fill_cb *fill, void *arg, char *err, size_t errlen)
{
    struct statsout *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    s->fill = fill;
    s->arg = arg;
    if (json_path != NULL && statsout_path(s, json_path, err, errlen) != 0)
        goto fail;
    if (metrics_addr != NULL) {
        s->http = mhttp_new(l, metrics_addr, statsout_prom, s, err, errlen);
        if (s->http == NULL)
            goto fail;
        log_info("metrics at http://%s/metrics (port %u)", metrics_addr, mhttp_port(s->http));
    }
    return s;

fail:
    statsout_free(s);
    return NULL;
}

void statsout_free(struct statsout *s)
{
    if (s == NULL)
        return;
    mhttp_free(s->http);
    free(s->json_path);
    free(s);
}
