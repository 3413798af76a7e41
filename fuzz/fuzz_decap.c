/*
 * fuzz_decap: drive decap_frame with arbitrary outer frames. The first byte picks the
 * encapsulation (VXLAN on 4789 or GRE) and the outer link type; the inner frame found must
 * lie inside the input, and it is parsed as tcpcopy's capture path would.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pcap/pcap.h>

#include "decap.h"
#include "pkt.h"
#include "fuzz_util.h"

static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct decap d = {.kind = (data[0] & 1) ? DECAP_GRE : DECAP_VXLAN, .port = DECAP_VXLAN_PORT};
    int dlt = dlts[(data[0] >> 1) % (sizeof(dlts) / sizeof(dlts[0]))];
    const uint8_t *buf = data + 1, *in = NULL;
    size_t len = size - 1, in_len = 0;
    int in_dlt = -1;
    int rc = decap_frame(&d, dlt, buf, len, &in, &in_len, &in_dlt);
    CHECK(rc <= 0 && -rc < DECAP_E_COUNT);
    if (rc != DECAP_OK)
        return 0;
    CHECK(in >= buf && in_len <= len && (size_t)(in - buf) <= len - in_len);
    struct pkt p;
    (void)pkt_parse_link(&p, in_dlt, in, in_len, 0);
    return 0;
}
