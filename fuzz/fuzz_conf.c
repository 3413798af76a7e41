/*
 * fuzz_conf: the configuration file reader (src/conf.c) on hostile files, and the
 * argument vector it makes fed on to tcpcopy's own option parser, as main.c does.
 *
 * The input is the file (given to conf_expand as /proc/self/fd/N of a memfd). On
 * success every entry is one "--name" or "--name=value" token of a known long option,
 * the vector is argv[0], the entries, then the command line, NULL-terminated; the
 * parser's verdict on it is any, but a failure is one non-empty line, also after
 * conf_annotate. On failure the message is one line naming the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static void check_line(const char *s)
{
    CHECK(s[0] != '\0');
    CHECK(strchr(s, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tc_opts o; /* large: not on the stack */
    char path[64], err[1024];
    struct conf cf;
    const char *os;
    const struct option *lo;

    if (size > 256 * 1024)
        return 0;
    int fd = memfd_create("fuzz_conf", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char *argv[] = {"tcpcopy", "--config", path, "-r", "50", NULL};
    tc_opts_tables(&os, &lo);
    if (conf_expand(&cf, "tcpcopy", 5, argv, os, lo, err, sizeof(err)) != 0) {
        check_line(err);
        CHECK(strncmp(err, "tcpcopy: ", 9) == 0 && strstr(err, path) != NULL);
        conf_free(&cf);
        close(fd);
        return 0;
    }
    CHECK(cf.argc == 5 + cf.n && cf.argv[cf.argc] == NULL && cf.argv[0] == argv[0]);
    CHECK(cf.n >= 0 && cf.n <= CONF_ENTRIES_MAX);
    for (int i = 1; i <= cf.n; i++) {
        CHECK(strncmp(cf.argv[i], "--", 2) == 0 && strchr(cf.argv[i], '\n') == NULL);
        CHECK(cf.lines[i - 1] >= 1);
    }
    for (int i = 1; i < 5; i++)
        CHECK(cf.argv[cf.n + i] == argv[i]);
    tc_opts_init(&o);
    if (tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)) != 0) {
        conf_annotate(&cf, "tcpcopy", optind - 1, err, sizeof(err));
        check_line(err);
    } else if (o.action == TC_ACT_RUN) {
        CHECK(o.sample_pct == 50); /* the command line wins */
    }
    conf_free(&cf);
    close(fd);
    return 0;
}
