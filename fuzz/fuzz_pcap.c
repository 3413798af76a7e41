/*
 * fuzz_pcap: the offline mode's record path. The input is a whole capture file
 * (pcap or pcapng); libpcap reads it from memory exactly as offline.c reads a file,
 * every record goes through pkt_parse_link() with the file's link type and, when it
 * parses, into a session engine (as offline replay feeds it). Nothing may crash, hang
 * or leak, whatever the file claims about lengths, link types or timestamps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "pkt.h"
#include "tcp.h"
#include "transfer.h"

static uint8_t out_buf[65536];

static uint8_t *io_buf(void *arg, size_t *cap)
{
    *cap = sizeof(out_buf);
    return out_buf;
}

static void io_send(void *arg, size_t len)
{
    struct pkt p;
    /* What the engine builds must always parse back. */
    if (pkt_parse_ip(&p, out_buf, len, 0) != PKT_OK)
        abort();
}

static void io_route(void *arg, bool add, const struct chan_route *r)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xfer_map xfer;
    static int ready;
    char err[PCAP_ERRBUF_SIZE];
    if (!ready) {
        char e[256];
        if (xfer_parse(&xfer, "80-192.0.2.20:8080,[2001:db8:1::10]:80-[2001:db8:1::20]:8080", e,
                       sizeof(e)) != 0)
            abort();
        ready = 1;
    }
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (f == NULL)
        return 0;
    pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, err);
    if (pc == NULL) {
        fclose(f); /* libpcap closes it only when the open succeeds */
        return 0;
    }
    struct eng_conf conf;
    memset(&conf, 0, sizeof(conf));
    eng_conf_defaults(&conf);
    conf.xfer = &xfer;
    conf.mem_max = 1 << 20;
    conf.max_sessions = 64;
    struct eng_io io = {.arg = NULL, .pkt_buf = io_buf, .pkt_send = io_send, .route = io_route};
    uint64_t now = 1000000;
    struct eng *e = eng_new(&conf, &io, now, 1);
    if (e == NULL)
        abort();
    int dlt = pcap_datalink(pc);
    struct pcap_pkthdr *h;
    const u_char *d;
    for (int i = 0; i < 4096 && pcap_next_ex(pc, &h, &d) == 1; i++) {
        struct pkt p;
        if (pkt_parse_link(&p, dlt, d, h->caplen, 0) != PKT_OK)
            continue;
        now += 1000 + (uint64_t)(h->ts.tv_usec % 1000);
        eng_on_capture(e, &p, now);
        eng_flush(e, now);
        eng_tick(e, now);
    }
    eng_shutdown(e, now);
    eng_free(e);
    pcap_close(pc);
    return 0;
}
