/*
 * mhttp: the metrics endpoint (--metrics ADDR:PORT), a tiny HTTP/1.x server on
 * the program's event loop. GET /metrics answers 200 with the body the caller
 * renders; any other path 404, any other method 405, a malformed or oversize
 * request 400; every answer closes the connection.
 *
 * It never blocks the copy: sockets are non-blocking, at most MHTTP_CLIENTS_MAX
 * clients are served at once (more are accepted and closed at once), a request
 * may hold at most MHTTP_REQ_MAX bytes, an answer at most MHTTP_BODY_MAX, and a
 * client gets MHTTP_CLIENT_US to finish before it is closed.
 * It owns its listening socket and its clients' sockets and buffers.
 */
#ifndef TC_MHTTP_H
#define TC_MHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define MHTTP_CLIENTS_MAX 8
#define MHTTP_REQ_MAX 2048
#define MHTTP_BODY_MAX (256 * 1024)
#define MHTTP_CLIENT_US (5ULL * 1000000)

struct loop;
struct mhttp;

/* Render the body into buf (cap bytes); return its length, or a negative value
 * when it cannot (the client gets 500). */
typedef long mhttp_render_cb(void *arg, char *buf, size_t cap);

/* "ADDR:PORT", "[IPV6]:PORT" or ":PORT" (every IPv4 address). True when valid. */
bool mhttp_parse_addr(const char *spec, struct addr *a, uint16_t *port);

/* A complete request's status: 200 (GET /metrics), 404, 405, 400; 0 while the
 * headers are not complete yet (len < MHTTP_REQ_MAX). Touches nothing but buf. */
int mhttp_parse_request(const char *buf, size_t len);

/* Listen on spec; NULL with a message in err. l must outlive it. */
struct mhttp *mhttp_new(struct loop *l, const char *spec, mhttp_render_cb *cb, void *arg,
                        char *err, size_t errlen);
/* The port listened on (useful with port 0). */
uint16_t mhttp_port(const struct mhttp *h);
void mhttp_free(struct mhttp *h); /* NULL-safe; closes every socket */

#endif
