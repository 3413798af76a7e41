/*
 * fuzz_util.h: what the harnesses share. CHECK(c) aborts with the failed condition, so
 * libFuzzer keeps the input that broke an invariant (not only one that crashed).
 */
#ifndef TC_FUZZ_UTIL_H
#define TC_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
