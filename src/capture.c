/*
 * capture: the backend-independent half of capture.h. Each function forwards to
 * the ops table that the backend's open function filled (capture_impl.h); this
 * file owns only the struct capture handle itself.
 */
#include <errno.h>
#include <stdlib.h>

#include "capture.h"
#include "capture_impl.h"

struct capture *capture_new(const struct capture_ops *ops, void *priv)
{
    struct capture *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ops->free(priv);
        return NULL;
    }
    c->ops = ops;
    c->priv = priv;
    return c;
}

int capture_fd(struct capture *c)
{
    return c->ops->fd(c->priv);
}

int capture_dispatch(struct capture *c, int max, capture_cb *cb, void *arg)
{
    return c->ops->dispatch(c->priv, max, cb, arg);
}

uint64_t capture_kernel_drops(struct capture *c)
{
    if (c->ops->drops == NULL)
        return 0;
    return c->ops->drops(c->priv);
}

void capture_free(struct capture *c)
{
    if (c == NULL)
        return;
    c->ops->free(c->priv);
    free(c);
}
