/*
 * capture_impl: what a capture backend provides (private to src/capture*.c).
 *
 * struct capture is a small handle: an ops table and the backend's state. The
 * public functions of capture.h live in capture.c and only dispatch through the
 * table, so a backend (capture_pcap.c, capture_raw.c) is one open function that
 * allocates its state and calls capture_new().
 */
#ifndef TC_CAPTURE_IMPL_H
#define TC_CAPTURE_IMPL_H

#include <stdint.h>

#include "capture.h"

struct capture_ops {
    const char *name; /* "pcap", "raw": for messages */
    /* The fd to poll for readability. */
    int (*fd)(void *priv);
    /* As capture_dispatch(): how many packets were delivered, 0, or -errno. */
    int (*dispatch)(void *priv, int max, capture_cb *cb, void *arg);
    /* Kernel drops so far; NULL if the backend cannot tell. */
    uint64_t (*drops)(void *priv);
    /* Close and release priv (never NULL when called). */
    void (*free)(void *priv);
};

struct capture {
    const struct capture_ops *ops;
    void *priv;
};

/*
 * Wrap a backend's state in a handle. On failure (no memory) ops->free(priv) is
 * called and NULL returned, so an open function can simply return the result.
 */
struct capture *capture_new(const struct capture_ops *ops, void *priv);

/*
 * capture_pcap.c: a capture over a pcap handle that is already activated (or a
 * savefile: the unit tests replay one). Applies c's direction and filter; takes
 * ownership of p, also on failure. NULL with "pcap DEV: ..." in err.
 * capture_pcap_open() creates, activates and makes non-blocking the live handle,
 * then calls it.
 */
struct pcap;
struct capture *capture_pcap_wrap(struct pcap *p, const char *dev,
                                  const struct capture_pcap_conf *c, char *err, size_t errlen);

#endif
