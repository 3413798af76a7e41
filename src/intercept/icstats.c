/*
 * icstats: intercept's counter table (see icstats.h). The order of the rows is
 * the order of the output: rows of one JSON object, and of one Prometheus family,
 * stay together. Keep doc/metrics.md in step with every row.
 */
#include "icstats.h"

#define C(key, name, help, v) metrics_add(m, key, name, NULL, NULL, METRIC_COUNTER, help, v)
#define G(key, name, help, v) metrics_add(m, key, name, NULL, NULL, METRIC_GAUGE, help, v)
#define CL(key, name, ln, lv, help, v) metrics_add(m, key, name, ln, lv, METRIC_COUNTER, help, v)

static void fill_capture(struct metrics *m, const struct icstats_src *src)
{
    const struct icpt_stats *st = src->st;
    uint64_t perr = 0;
    for (int i = 0; i < PKT_E_COUNT; i++)
        perr += st->parse_err[i];
    C("capture.packets", "intercept_capture_packets_total", "Packets captured.", st->captured);
    C("capture.malformed", "intercept_capture_malformed_packets_total", "Captured packets not parsed.", perr);
    C("capture.kernel_drops", "intercept_capture_kernel_drops_total",
      "Packets the kernel dropped before the capture read them.", src->kernel_drops);
    C("capture.oversize", "intercept_capture_oversize_total",
      "Replies whose headers exceed a reply record (not forwarded).", st->toolong + src->hs->toolong);
    C("capture.rewritten", "intercept_capture_rewritten_total", "Replies whose source -D rewrote.",
      st->docker_rewritten);
    metrics_add_f(m, "capture.lag_seconds_sum", "intercept_capture_lag_seconds_total", NULL, NULL,
                  METRIC_COUNTER,
                  "Sum over forwarded replies of the time from the kernel's capture timestamp to "
                  "their forwarding (divide by intercept_capture_lag_samples_total).",
                  (double)st->lag_us / 1e6);
    C("capture.lag_samples", "intercept_capture_lag_samples_total", "Replies in that sum.",
      st->lag_samples);
}

static void fill_replies(struct metrics *m, const struct icstats_src *src)
{
    const struct icpt_stats *st = src->st;
    const struct route_hold_stats *hs = src->hs;
    C("replies.forwarded", "intercept_replies_forwarded_total", "Reply records queued to a tcpcopy.",
      st->forwarded);
    C("replies.fast_path", "intercept_replies_fast_path_total",
      "Of those, sent to the only tcpcopy without a route lookup.", st->fast);
    C("replies.dropped", "intercept_replies_dropped_total",
      "Replies not queued: the tcpcopy's output buffer was full.", st->dropped);
    static const char h_un[] = "Replies never forwarded for want of a route, by reason.";
    CL("replies.unrouted.expired", "intercept_replies_unrouted_total", "reason", "expired", h_un,
       hs->expired);
    CL("replies.unrouted.overflow", "intercept_replies_unrouted_total", "reason", "overflow", h_un,
       hs->overflow);
    C("replies.no_peer", "intercept_replies_no_peer_total", "Replies captured while no tcpcopy was up.",
      st->nopeer);
    C("replies.held_total", "intercept_replies_held_total", "Replies put on hold for their route.",
      hs->held);
    C("replies.delivered_late", "intercept_replies_delivered_late_total",
      "Held replies delivered when their route came.", hs->delivered);
    G("replies.held", "intercept_replies_held", "Replies waiting for their route now.", src->held);
}

static void fill_routes(struct metrics *m, const struct icstats_src *src)
{
    const struct route_stats *rs = src->rs;
    G("routes.entries", "intercept_routes", "Routes in the table.", src->routes);
    C("routes.added", "intercept_routes_added_total", "New routes.", rs->added);
    C("routes.reassigned", "intercept_routes_reassigned_total", "Routes taken over by another tcpcopy.",
      rs->reassigned);
    C("routes.refreshed", "intercept_routes_refreshed_total", "Registrations of a route already held.",
      rs->refreshed);
    C("routes.deleted", "intercept_routes_deleted_total", "Routes removed by their tcpcopy.", rs->deleted);
    C("routes.table_full", "intercept_routes_table_full_total", "Routes refused: the table was full.",
      rs->full);
}

static void fill_peers(struct metrics *m, const struct icstats_src *src)
{
    const struct icpt_stats *st = src->st;
    G("peers.connected", "intercept_peers", "tcpcopy connections now.", src->peers);
    G("peers.up", "intercept_peers_up", "Of those, HELLO (and AUTH) done.", src->peers_up);
    C("peers.accepted", "intercept_peers_accepted_total", "Connections accepted.", st->peers_accepted);
    static const char h_ref[] = "Connections refused, by reason.";
    CL("peers.refused.allow_or_limit", "intercept_peers_refused_total", "reason", "allow_or_limit",
       h_ref, st->peers_refused - st->auth_refused);
    CL("peers.refused.auth", "intercept_peers_refused_total", "reason", "auth", h_ref, st->auth_refused);
    C("peers.closed", "intercept_peers_closed_total", "Connections closed.", st->peers_closed);
    C("peers.closed_on_error", "intercept_peers_closed_on_error_total",
      "Connections closed for an error (timeouts, bad frames, write errors).", st->peers_bad);
    C("peers.bad_frames", "intercept_peers_bad_frames_total", "Connections closed for a malformed frame.",
      st->bad_frames);
}

/* Reply payload (CHAN_FEAT_PAYLOAD) and TLS on the channel (doc/protocol.md 6.1, 14). */
static void fill_channel(struct metrics *m, const struct icstats_src *src)
{
    const struct icpt_stats *st = src->st;
    C("payload.records", "intercept_payload_records_total",
      "Reply records carrying payload (flagged routes).", st->pay.records);
    C("payload.bytes", "intercept_payload_bytes_total", "Payload bytes forwarded in them.",
      st->pay.bytes);
    C("payload.split", "intercept_payload_split_total",
      "Segments larger than a record, forwarded as several.", st->pay.split);
    C("payload.refused", "intercept_payload_refused_total",
      "Replies with payload not queued: the tcpcopy's output buffer was full.", st->pay.refused);
    C("payload.truncated", "intercept_payload_truncated_total",
      "Replies whose payload the capture cut (snaplen): forwarded as headers only.",
      st->pay.truncated);
    C("payload.held_headers_only", "intercept_payload_held_headers_only_total",
      "Replies of flagged routes delivered from the hold queue, headers only.", st->pay_held);
    C("payload.refused_plain", "intercept_payload_refused_plain_total",
      "tcpcopy connections that asked for payload over a plain channel from another host.",
      st->pay_refused_plain);
    C("tls.peers", "intercept_tls_peers_total", "TLS handshakes completed.", st->tls_peers);
    C("tls.failed", "intercept_tls_failed_total", "TLS handshakes failed.", st->tls_failed);
    C("tls.plain_refused", "intercept_tls_plain_refused_total",
      "Plain connections refused by --tls-required.", st->plain_refused);
}

void icstats_fill(struct metrics *m, const struct icstats_src *src)
{
    metrics_reset(m);
    metrics_add(m, "build_info", "intercept_build_info", "version", src->version, METRIC_GAUGE,
                "intercept's version.", 1);
    metrics_add_f(m, "uptime_seconds", "intercept_uptime_seconds", NULL, NULL, METRIC_GAUGE,
                  "Seconds since intercept started.", src->uptime_s);
    fill_capture(m, src);
    fill_replies(m, src);
    fill_routes(m, src);
    fill_peers(m, src);
    fill_channel(m, src);
}
