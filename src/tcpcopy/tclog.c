/*
 * tclog: the stats log lines of tcpcopy (every 30 s and at exit): sessions by state and
 * outcome, what was not replayed and why, packets, replies and the channel. It reads the
 * same sources as the counter table (struct tcstats_src) and owns nothing.
 */
#include "tclog.h"

#include <stdio.h>

#include "chanc.h"
#include "log.h"
#include "send.h"
#include "tcp.h"

/* Sessions: by state and outcome, events, what was not copied. */
static void log_sessions(const struct eng_stats *s, const char *w)
{
    char outc[512];
    size_t off = 0;
    outc[0] = '\0';
    for (int i = SO_COMPLETE; i < SO_COUNT; i++) {
        if (s->outcome[i] == 0 && i != SO_COMPLETE)
            continue;
        int n = snprintf(outc + off, sizeof(outc) - off, "%s%s %llu", off ? ", " : "",
                         eng_outcome_str(i), (unsigned long long)s->outcome[i]);
        if (n < 0 || (size_t)n >= sizeof(outc) - off)
            break;
        off += (size_t)n;
    }
    log_info("%s: sessions active %llu (probing %llu, lingering %llu), created %llu (mid-stream "
             "%llu, rebuilt %llu, resynced %llu, port reused while replaying %llu), ended: %s; "
             "target tuples: moved %llu (SYNs answered by an older connection %llu), still "
             "held at the target and avoided %llu; "
             "not copied: no SYN seen %llu, table full %llu, no free port %llu (collisions %llu), "
             "memory %llu, address family %llu, sampled out %llu packets, other shards %llu "
             "packets, bytes before a request boundary %llu",
             w, (unsigned long long)s->sessions_active, (unsigned long long)s->sessions_probing,
             (unsigned long long)s->sessions_closed, (unsigned long long)s->sess_created,
             (unsigned long long)s->sess_midstream, (unsigned long long)s->sess_rebuilt,
             (unsigned long long)s->sess_resynced, (unsigned long long)s->sess_overlapped, outc,
             (unsigned long long)s->sess_moved, (unsigned long long)s->syn_stale_tuples,
             (unsigned long long)s->sess_stale_avoided,
             (unsigned long long)s->cap_no_syn, (unsigned long long)s->sess_table_full,
             (unsigned long long)s->sess_unplaced, (unsigned long long)s->sess_collisions,
             (unsigned long long)s->sess_refused_memory,
             (unsigned long long)s->sess_family_mismatch, (unsigned long long)s->cap_sampled_out, (unsigned long long)s->cap_sharded_out,
             (unsigned long long)s->probe_skipped_bytes);
}

/* What the target will never get, and why (the outcomes say which sessions). */
static void log_not_replayed(const struct eng_stats *s, const char *w)
{
    char lost[512];
    uint64_t lreq = 0, lbytes = 0;
    size_t off = 0;
    lost[0] = '\0';
    for (int i = SO_COMPLETE; i < SO_COUNT; i++) {
        if (s->lost_requests[i] == 0 && s->lost_bytes[i] == 0)
            continue;
        lreq += s->lost_requests[i];
        lbytes += s->lost_bytes[i];
        int n = snprintf(lost + off, sizeof(lost) - off, ", %s %llu/%llu", eng_outcome_str(i),
                         (unsigned long long)s->lost_requests[i],
                         (unsigned long long)s->lost_bytes[i]);
        if (n < 0 || (size_t)n >= sizeof(lost) - off)
            break;
        off += (size_t)n;
    }
    log_info("%s: not replayed: at session end %llu requests, %llu bytes (requests/bytes by "
             "outcome%s); requests cut by a target's close %llu, capture gaps skipped %llu, "
             "requests hit by capture gaps (at least) %llu, gap bytes %llu, memory shed %llu bytes, "
             "boundaries dropped %llu",
             w, (unsigned long long)lreq, (unsigned long long)lbytes, off ? lost : ": none",
             (unsigned long long)s->partial_requests_lost, (unsigned long long)s->gaps_skipped,
             (unsigned long long)s->gap_requests_lost, (unsigned long long)s->gap_bytes_lost, (unsigned long long)s->drop_bytes_memory,
             (unsigned long long)s->marks_dropped);
}

/* Packets: captured, sent to the target, replies, the channel. */
static void log_traffic(const struct tcstats_src *src, const struct eng_stats *s, const char *w)
{
    const struct sender_stats *ss = src->snd;
    const struct chanc_stats *cs = src->ch;
    log_info("%s: capture packets %llu, payload bytes %llu, duplicate bytes %llu, out of order %llu, "
             "beyond the reassembly window %llu, malformed %llu, kernel drops %llu",
             w, (unsigned long long)s->cap_packets, (unsigned long long)s->cap_payload_bytes,
             (unsigned long long)s->cap_dup_bytes, (unsigned long long)s->cap_ooo_segments,
             (unsigned long long)s->cap_beyond_window, (unsigned long long)src->parse_errors,
             (unsigned long long)src->kernel_drops);
    log_info("%s: to target packets %llu (data %llu, acks %llu (delayed %llu), resets %llu), "
             "payload bytes %llu, retransmitted %llu (timeouts %llu, fast %llu, syn %llu, "
             "refused syn %llu)",
             w, (unsigned long long)s->sent_packets, (unsigned long long)s->sent_data_packets,
             (unsigned long long)s->sent_acks, (unsigned long long)s->acks_delayed,
             (unsigned long long)s->sent_rsts,
             (unsigned long long)s->sent_payload_bytes, (unsigned long long)s->rtx_packets,
             (unsigned long long)s->rto_events, (unsigned long long)s->fast_rtx,
             (unsigned long long)s->syn_retries, (unsigned long long)s->syn_refused_retries);
    log_info("%s: send errors: permission %llu, too big %llu, no buffer %llu, unreachable %llu, "
             "other %llu",
             w, (unsigned long long)ss->err_eperm, (unsigned long long)ss->err_msgsize,
             (unsigned long long)ss->err_nobufs, (unsigned long long)ss->err_unreach,
             (unsigned long long)ss->err_other);
    log_info("%s: replies %llu (no session %llu, unparsable %llu, payload bytes %llu); answers "
             "waited %llu, complete by bytes %llu, by quiet %llu, by timeout %llu",
             w, (unsigned long long)s->replies, (unsigned long long)s->replies_no_session,
             (unsigned long long)src->reply_errors,
             (unsigned long long)s->replies_data_bytes, (unsigned long long)s->gate_waits,
             (unsigned long long)s->gate_by_bytes, (unsigned long long)s->gate_by_quiet,
             (unsigned long long)s->gate_by_timeout);
    log_info("%s: channel up %llu/%llu, routes added %llu (re-registered %llu), removed %llu, "
             "records dropped %llu, bad frames %llu, connects %llu (auth failures %llu, closed "
             "silent %llu); queued bytes %llu (peak %llu), dropped bytes %llu, dropped segments "
             "%llu",
             w, (unsigned long long)src->ch_up, (unsigned long long)src->ch_total, (unsigned long long)cs->routes_added,
             (unsigned long long)cs->reregistered, (unsigned long long)cs->routes_deleted,
             (unsigned long long)cs->out_dropped, (unsigned long long)cs->bad_frames,
             (unsigned long long)cs->connects, (unsigned long long)cs->auth_failed,
             (unsigned long long)cs->silent,
             (unsigned long long)s->mem_bytes, (unsigned long long)s->mem_peak_bytes,
             (unsigned long long)s->drop_bytes_memory, (unsigned long long)s->drop_segments_holes);
}

void tclog_write(const struct tcstats_src *src, const char *w)
{
    log_sessions(src->eng, w);
    log_not_replayed(src->eng, w);
    log_traffic(src, src->eng, w);
}
