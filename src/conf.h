/*
 * conf: the configuration file of both programs (--config FILE).
 *
 * The file holds long option names, one per line:
 *
 *   # a comment (a line whose first non-blank character is '#')
 *   transfer 80-192.0.2.20:8080      (name, blanks, value)
 *   intercept = 192.0.2.30           (or name=value; blanks around '=' are allowed)
 *   syn-only                         (a flag alone)
 *
 * conf_expand() turns the file into "--name=value" entries placed between argv[0] and
 * the command line, so the program's own getopt_long parsing checks every value, and
 * an option given on the command line comes later and wins (options that accumulate,
 * such as intercept's -i or --allow, take both). The file's structure (names, flags
 * given values, values missing, line length) is checked here, with FILE:LINE in the
 * message; conf_annotate() adds FILE:LINE to a value error the option parser reports.
 */
#ifndef TC_CONF_H
#define TC_CONF_H

#include <getopt.h>
#include <stddef.h>

#define CONF_LINE_MAX 4096  /* characters in a line, newline excluded */
#define CONF_ENTRIES_MAX 1024

struct conf {
    int argc;
    char **argv;    /* the vector to parse: argv itself when there is no --config */
    char *path;     /* the file, NULL without --config */
    int first;      /* the file's entries are argv[first .. first + n) */
    int n;
    int *lines;     /* the line of each entry */
    char **own;     /* the entries (owned) */
};

/*
 * Find --config FILE in argv (with the program's own optstring and longopts, so that
 * abbreviations and option values are understood as getopt_long understands them;
 * the long option named "config" marks it) and, when it is there, read FILE into
 * cf->argv. Without --config, cf->argv is argv. 0 or -errno with "PROG: ..." in err
 * (FILE:LINE for an error inside the file). argv must outlive cf; cf's strings must
 * outlive whatever the parser points into them. Resets getopt's state when it returns.
 */
int conf_expand(struct conf *cf, const char *prog, int argc, char **argv, const char *optstring,
                const struct option *longopts, char *err, size_t errlen);
/*
 * After the option parser failed with msg ("PROG: ...") at argv index idx (getopt's
 * optind - 1): when that entry came from the file, rewrite msg as
 * "PROG: FILE:LINE: ...". Otherwise msg is left alone.
 */
void conf_annotate(const struct conf *cf, const char *prog, int idx, char *msg, size_t len);
void conf_free(struct conf *cf); /* NULL-safe; cf may then be expanded again */

#endif
