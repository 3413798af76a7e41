/*
 * buf: a bounded byte buffer for sockets (channel input and output).
 * It grows on demand up to a hard maximum and never beyond, so a slow or
 * hostile peer can cost at most `max` bytes; callers count what did not fit.
 */
#ifndef TC_BUF_H
#define TC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf {
    uint8_t *data;
    size_t cap;  /* allocated */
    size_t off;  /* first unread byte */
    size_t len;  /* unread bytes from off */
    size_t max;  /* hard limit on len */
};

/* Set up an empty buffer that may hold up to max bytes. Allocates lazily. */
void buf_init(struct buf *b, size_t max);
/* Release memory; the buffer is empty and reusable afterwards. NULL-safe. */
void buf_free(struct buf *b);
/* Pointer to n writable bytes after the data, or NULL if len + n would exceed max
 * (or memory is short). Follow with buf_commit(). */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
static inline const uint8_t *buf_head(const struct buf *b) { return b->data + b->off; }
static inline size_t buf_len(const struct buf *b) { return b->len; }
static inline size_t buf_room(const struct buf *b) { return b->max - b->len; }
void buf_consume(struct buf *b, size_t n);
/* read() once into the buffer (at most its room). Returns bytes read, 0 on EOF,
 * -errno on error (-EAGAIN included), -ENOBUFS if the buffer is full. */
ssize_t buf_read_fd(struct buf *b, int fd);
/* write() as much as the socket takes. Returns bytes written or -errno (not -EAGAIN: 0). */
ssize_t buf_write_fd(struct buf *b, int fd);

#endif
