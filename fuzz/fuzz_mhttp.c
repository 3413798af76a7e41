/*
 * fuzz_mhttp: the metrics endpoint's request parser (src/mhttp.c) and its
 * ADDR:PORT grammar fed hostile bytes. The request is parsed whole and in every
 * prefix a socket could deliver (as the server does after each read): a prefix
 * never has a final status the whole request contradicts once its headers ended,
 * and every status is one the server knows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mhttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MHTTP_REQ_MAX)
        size = MHTTP_REQ_MAX;
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    int whole = mhttp_parse_request(buf, size);
    if (whole != 0 && whole != 200 && whole != 400 && whole != 404 && whole != 405)
        abort();
    int first = 0;
    for (size_t n = 0; n <= size && first == 0; n++)
        first = mhttp_parse_request(buf, n);
    /* The server answers at the first complete prefix: that answer is the request's. */
    if (first != whole)
        abort();
    struct addr a;
    uint16_t port;
    (void)mhttp_parse_addr(buf, &a, &port);
    free(buf);
    return 0;
}
