/*
 * tcstats: tcpcopy's counter table (see tcstats.h). The order of the rows is the
 * order of the output: rows of one JSON object, and of one Prometheus family,
 * stay together. Keep doc/metrics.md in step with every row.
 */
#include "tcstats.h"

#include "mod.h"

#define C(key, name, help, v) metrics_add(m, key, name, NULL, NULL, METRIC_COUNTER, help, v)
#define G(key, name, help, v) metrics_add(m, key, name, NULL, NULL, METRIC_GAUGE, help, v)
#define CL(key, name, ln, lv, help, v) metrics_add(m, key, name, ln, lv, METRIC_COUNTER, help, v)
#define GL(key, name, ln, lv, help, v) metrics_add(m, key, name, ln, lv, METRIC_GAUGE, help, v)

/* Outcomes in enum order (tcp.h), as JSON keys and label values (eng_outcome_str). */
#define OUTCOME_ROWS(X)                                                                  \
    X(SO_COMPLETE, "complete") X(SO_CLIENT_RESET, "client_reset")                        \
    X(SO_TARGET_RESET, "target_reset") X(SO_TARGET_REFUSED, "target_refused")            \
    X(SO_TARGET_CLOSED, "target_closed_early") X(SO_HANDSHAKE_TIMEOUT, "handshake_timeout") \
    X(SO_TIMEOUT, "timeout") X(SO_IDLE, "idle") X(SO_MEMORY, "memory_limit")             \
    X(SO_SHUTDOWN, "shutdown") X(SO_NOT_STARTED, "not_started") X(SO_MODULE, "module_ended")

double tcstats_ratio(const struct eng_stats *s)
{
    return s->requests_marked ? (double)s->gate_by_bytes / (double)s->requests_marked : 0.0;
}

static void fill_sessions(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    static const char h_state[] = "Sessions held now, by state (active: all of them).";
    GL("sessions.state.active", "tcpcopy_sessions", "state", "active", h_state, s->sessions_active);
    GL("sessions.state.probing", "tcpcopy_sessions", "state", "probing", h_state, s->sessions_probing);
    GL("sessions.state.lingering", "tcpcopy_sessions", "state", "lingering", h_state, s->sessions_closed);
    GL("sessions.state.waiting_handshake", "tcpcopy_sessions", "state", "waiting_handshake", h_state,
       s->syn_waiting);
    C("sessions.created", "tcpcopy_sessions_created_total", "Sessions created toward the target.",
      s->sess_created);
    static const char h_out[] = "Sessions ended, by outcome.";
#define X(e, n) CL("sessions.outcome." n, "tcpcopy_sessions_total", "outcome", n, h_out, s->outcome[e]);
    OUTCOME_ROWS(X)
#undef X
    static const char h_ev[] = "Session events: starts mid-stream, rebuilds, resyncs, tuple moves.";
    CL("sessions.events.midstream", "tcpcopy_session_events_total", "event", "midstream", h_ev, s->sess_midstream);
    CL("sessions.events.rebuilt", "tcpcopy_session_events_total", "event", "rebuilt", h_ev, s->sess_rebuilt);
    CL("sessions.events.resynced", "tcpcopy_session_events_total", "event", "resynced", h_ev, s->sess_resynced);
    CL("sessions.events.port_reused", "tcpcopy_session_events_total", "event", "port_reused", h_ev,
       s->sess_overlapped);
    CL("sessions.events.moved_tuple", "tcpcopy_session_events_total", "event", "moved_tuple", h_ev, s->sess_moved);
    CL("sessions.events.stale_syn_answer", "tcpcopy_session_events_total", "event", "stale_syn_answer", h_ev,
       s->syn_stale_tuples);
    CL("sessions.events.stale_tuple_avoided", "tcpcopy_session_events_total", "event",
       "stale_tuple_avoided", h_ev, s->sess_stale_avoided);
    CL("sessions.events.waited_handshake_slot", "tcpcopy_session_events_total", "event",
       "waited_handshake_slot", h_ev, s->syn_waits);
    static const char h_nc[] = "Client sessions not copied, by reason.";
    CL("sessions.not_copied.table_full", "tcpcopy_sessions_not_copied_total", "reason", "table_full", h_nc,
       s->sess_table_full);
    CL("sessions.not_copied.no_free_port", "tcpcopy_sessions_not_copied_total", "reason", "no_free_port", h_nc,
       s->sess_unplaced);
    CL("sessions.not_copied.memory", "tcpcopy_sessions_not_copied_total", "reason", "memory", h_nc,
       s->sess_refused_memory);
    CL("sessions.not_copied.address_family", "tcpcopy_sessions_not_copied_total", "reason",
       "address_family", h_nc, s->sess_family_mismatch);
    C("sessions.port_collisions", "tcpcopy_port_collisions_total",
      "Target ports tried that were in use (another was tried).", s->sess_collisions);
    C("sessions.shed_memory", "tcpcopy_sessions_shed_memory_total",
      "Sessions shed because the -m bound was reached.", s->sess_shed_memory);
}

static void fill_requests(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    C("requests.seen", "tcpcopy_requests_seen_total",
      "Requests seen: request boundaries in the captured client stream (a request after an "
      "answer; the first request of a connection is counted with its session).",
      s->requests_marked);
    C("requests.sent", "tcpcopy_requests_sent_total",
      "Requests released to the target after the previous answer (by bytes, quiet or timeout).",
      s->gate_by_bytes + s->gate_by_quiet + s->gate_by_timeout);
    C("requests.answered", "tcpcopy_requests_answered_total",
      "Requests whose previous answer from the target was as long as the online server's.",
      s->gate_by_bytes);
    static const char h_by[] = "Answers judged complete before the next request, by criterion.";
    CL("requests.answer_by.bytes", "tcpcopy_answers_total", "by", "bytes", h_by, s->gate_by_bytes);
    CL("requests.answer_by.quiet", "tcpcopy_answers_total", "by", "quiet", h_by, s->gate_by_quiet);
    CL("requests.answer_by.timeout", "tcpcopy_answers_total", "by", "timeout", h_by, s->gate_by_timeout);
    C("requests.answer_waits", "tcpcopy_answer_waits_total",
      "Requests that had to wait for the previous answer.", s->gate_waits);
    C("requests.boundaries_dropped", "tcpcopy_request_boundaries_dropped_total",
      "Request boundaries not recorded (a session's ring was full).", s->marks_dropped);
    metrics_add_f(m, "requests.copy_ratio", "tcpcopy_copy_ratio", NULL, NULL, METRIC_GAUGE,
                  "Requests answered by the target / requests seen (0 before any).",
                  tcstats_ratio(s));
    static const char h_nr[] = "Requests not replayed, by reason (a session outcome, a target's "
                               "close mid-request, a capture gap).";
#define X(e, n) CL("requests.not_replayed." n, "tcpcopy_requests_not_replayed_total", "reason", n, h_nr, \
                   s->lost_requests[e]);
    OUTCOME_ROWS(X)
#undef X
    CL("requests.not_replayed.target_close_mid_request", "tcpcopy_requests_not_replayed_total", "reason",
       "target_close_mid_request", h_nr, s->partial_requests_lost);
    CL("requests.not_replayed.capture_gap", "tcpcopy_requests_not_replayed_total", "reason", "capture_gap",
       h_nr, s->gap_requests_lost);
    static const char h_nb[] = "Client bytes not replayed, by reason.";
#define X(e, n) CL("bytes_not_replayed." n, "tcpcopy_bytes_not_replayed_total", "reason", n, h_nb, \
                   s->lost_bytes[e]);
    OUTCOME_ROWS(X)
#undef X
    CL("bytes_not_replayed.capture_gap", "tcpcopy_bytes_not_replayed_total", "reason", "capture_gap", h_nb,
       s->gap_bytes_lost);
    CL("bytes_not_replayed.memory_shed", "tcpcopy_bytes_not_replayed_total", "reason", "memory_shed", h_nb,
       s->drop_bytes_memory);
    CL("bytes_not_replayed.before_request_boundary", "tcpcopy_bytes_not_replayed_total", "reason",
       "before_request_boundary", h_nb, s->probe_skipped_bytes);
    C("gaps_skipped", "tcpcopy_capture_gaps_skipped_total",
      "Holes in a captured stream skipped (the session went on after them).", s->gaps_skipped);
}

/* --module only: what the protocol module did (doc/modules.md). */
static void fill_module(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    static const char h_ms[] = "Sessions the protocol module took, refused, failed, started over "
                               "(a capture gap), did not rebuild, logged in again after the "
                               "target closed; its own exchanges.";
    CL("module.sessions.taken", "tcpcopy_module_sessions_total", "event", "taken", h_ms, s->mod_sessions);
    CL("module.sessions.refused", "tcpcopy_module_sessions_total", "event", "refused", h_ms, s->mod_refused);
    CL("module.sessions.failed", "tcpcopy_module_sessions_total", "event", "failed", h_ms, s->mod_errors);
    CL("module.sessions.capture_gap", "tcpcopy_module_sessions_total", "event", "capture_gap", h_ms,
       s->mod_gaps);
    CL("module.sessions.not_rebuilt", "tcpcopy_module_sessions_total", "event", "not_rebuilt", h_ms,
       s->mod_rebuild_refused);
    CL("module.sessions.relogin", "tcpcopy_module_sessions_total", "event", "relogin", h_ms,
       s->mod_relogins);
    CL("module.sessions.own_start", "tcpcopy_module_sessions_total", "event", "own_start", h_ms, s->mod_starts);
    CL("module.sessions.own_done", "tcpcopy_module_sessions_total", "event", "own_done", h_ms, s->mod_own_done);
    static const char h_mb[] = "Bytes through the protocol module.";
    CL("module.bytes.client_in", "tcpcopy_module_bytes_total", "kind", "client_in", h_mb, s->mod_in_bytes);
    CL("module.bytes.target_out", "tcpcopy_module_bytes_total", "kind", "target_out", h_mb, s->mod_out_bytes);
    CL("module.bytes.own_answers", "tcpcopy_module_bytes_total", "kind", "own_answers", h_mb,
       s->mod_own_answer_bytes);
    CL("module.bytes.answers_unseen", "tcpcopy_module_bytes_total", "kind", "answers_unseen", h_mb,
       s->mod_answer_unseen_bytes);
    static const char h_me[] = "The protocol module's own counters (named by the module).";
    for (unsigned i = 0; i < src->module->ncounters; i++)
        CL(src->module->counter_keys[i], "tcpcopy_module_events_total", "event",
           src->module->t->counters[i], h_me, src->module->counters[i]);
}

static void fill_capture(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    C("capture.packets", "tcpcopy_capture_packets_total", "Client packets captured.", s->cap_packets);
    C("capture.payload_bytes", "tcpcopy_capture_payload_bytes_total", "Client payload bytes captured.",
      s->cap_payload_bytes);
    C("capture.duplicate_bytes", "tcpcopy_capture_duplicate_bytes_total",
      "Captured payload bytes already held (retransmissions, overlaps).", s->cap_dup_bytes);
    C("capture.out_of_order", "tcpcopy_capture_out_of_order_segments_total",
      "Captured segments that arrived ahead of a hole.", s->cap_ooo_segments);
    C("capture.beyond_window", "tcpcopy_capture_beyond_window_segments_total",
      "Captured segments beyond the reassembly window (dropped).", s->cap_beyond_window);
    C("capture.malformed", "tcpcopy_capture_malformed_packets_total", "Captured packets not parsed.",
      src->parse_errors);
    C("capture.kernel_drops", "tcpcopy_capture_kernel_drops_total",
      "Packets the kernel dropped before the capture read them.", src->kernel_drops);
    static const char h_ign[] = "Captured packets not copied, by reason.";
    CL("capture.not_copied.no_rule", "tcpcopy_capture_packets_not_copied_total", "reason", "no_rule", h_ign,
       s->cap_ignored);
    CL("capture.not_copied.no_syn", "tcpcopy_capture_packets_not_copied_total", "reason", "no_syn", h_ign,
       s->cap_no_syn);
    CL("capture.not_copied.sampled_out", "tcpcopy_capture_packets_not_copied_total", "reason", "sampled_out",
       h_ign, s->cap_sampled_out);
    CL("capture.not_copied.other_shard", "tcpcopy_capture_packets_not_copied_total", "reason",
       "other_shard", h_ign, s->cap_sharded_out);
    CL("capture.not_copied.after_close", "tcpcopy_capture_packets_not_copied_total", "reason", "after_close",
       h_ign, s->cap_after_close);
    CL("capture.not_copied.syn_ack", "tcpcopy_capture_packets_not_copied_total", "reason", "syn_ack", h_ign,
       s->cap_syn_ack);
    CL("capture.not_copied.probe_skipped", "tcpcopy_capture_packets_not_copied_total", "reason",
       "probe_skipped", h_ign, s->probe_skipped_packets);
    static const char h_dc[] = "Captured packets not decapsulated (--decap), by reason.";
    CL("capture.not_decapsulated.link", "tcpcopy_capture_not_decapsulated_total", "reason", "link",
       h_dc, src->decap_err[DECAP_E_LINK]);
    CL("capture.not_decapsulated.ip", "tcpcopy_capture_not_decapsulated_total", "reason", "ip",
       h_dc, src->decap_err[DECAP_E_IP]);
    CL("capture.not_decapsulated.fragment", "tcpcopy_capture_not_decapsulated_total", "reason",
       "fragment", h_dc, src->decap_err[DECAP_E_FRAG]);
    CL("capture.not_decapsulated.other", "tcpcopy_capture_not_decapsulated_total", "reason", "other",
       h_dc, src->decap_err[DECAP_E_OTHER]);
    CL("capture.not_decapsulated.tunnel", "tcpcopy_capture_not_decapsulated_total", "reason",
       "tunnel", h_dc, src->decap_err[DECAP_E_TUNNEL]);
    C("offline.packets_read", "tcpcopy_offline_packets_read_total", "Packets read from the capture file.",
      src->offline_read);
    C("offline.packets_replayed", "tcpcopy_offline_packets_replayed_total",
      "Packets of the capture file handed to the engine.", src->offline_replayed);
    C("offline.packets_skipped", "tcpcopy_offline_packets_skipped_total",
      "Records of the capture file not replayed (unparsable, or of another link type).",
      src->offline_skipped);
}

static void fill_target(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    const struct sender_stats *ss = src->snd;
    C("target.packets", "tcpcopy_target_packets_total", "Packets built for the target.", s->sent_packets);
    C("target.data_packets", "tcpcopy_target_data_packets_total", "Of those, packets with payload.",
      s->sent_data_packets);
    C("target.payload_bytes", "tcpcopy_target_payload_bytes_total", "Payload bytes sent to the target.",
      s->sent_payload_bytes);
    C("target.acks", "tcpcopy_target_acks_total", "Pure ACKs sent to the target.", s->sent_acks);
    C("target.acks_delayed", "tcpcopy_target_acks_delayed_total",
      "Pure ACKs that waited --ack-delay (no request carried them).", s->acks_delayed);
    C("target.resets", "tcpcopy_target_resets_total", "RSTs sent to the target.", s->sent_rsts);
    C("target.build_errors", "tcpcopy_target_build_errors_total", "Packets that could not be built.",
      s->build_errors);
    C("target.retransmitted_packets", "tcpcopy_retransmitted_packets_total",
      "Packets sent again to the target.", s->rtx_packets);
    static const char h_rtx[] = "Retransmission events, by kind.";
    CL("target.retransmissions.timeout", "tcpcopy_retransmissions_total", "kind", "timeout", h_rtx,
       s->rto_events);
    CL("target.retransmissions.fast", "tcpcopy_retransmissions_total", "kind", "fast", h_rtx, s->fast_rtx);
    CL("target.retransmissions.sack", "tcpcopy_retransmissions_total", "kind", "sack", h_rtx, s->sack_rtx);
    CL("target.retransmissions.syn", "tcpcopy_retransmissions_total", "kind", "syn", h_rtx, s->syn_retries);
    CL("target.retransmissions.refused_syn", "tcpcopy_retransmissions_total", "kind", "refused_syn", h_rtx,
       s->syn_refused_retries);
    C("target.retransmissions.spurious_timeouts", "tcpcopy_spurious_timeouts_total",
      "Timeouts found spurious by the first ACK after them (its timestamp echo is older than the "
      "retransmission, RFC 3522): the window in flight was not sent again.", s->rto_spurious);
    C("send.packets", "tcpcopy_send_packets_total", "Datagrams the kernel took.", ss->packets);
    C("send.bytes", "tcpcopy_send_bytes_total", "Bytes of those datagrams (IP headers included).", ss->bytes);
    C("send.batches", "tcpcopy_send_batches_total", "sendmmsg calls.", ss->batches);
    C("send.coalesced", "tcpcopy_send_coalesced_total",
      "Segments sent inside the previous one's segmentation-offload frame (--pcap-send).", ss->coalesced);
    static const char h_err[] = "Datagrams the kernel refused, by cause.";
    CL("send.errors.permission", "tcpcopy_send_errors_total", "cause", "permission", h_err, ss->err_eperm);
    CL("send.errors.too_big", "tcpcopy_send_errors_total", "cause", "too_big", h_err, ss->err_msgsize);
    CL("send.errors.no_buffer", "tcpcopy_send_errors_total", "cause", "no_buffer", h_err, ss->err_nobufs);
    CL("send.errors.unreachable", "tcpcopy_send_errors_total", "cause", "unreachable", h_err, ss->err_unreach);
    CL("send.errors.other", "tcpcopy_send_errors_total", "cause", "other", h_err, ss->err_other);
}

static void fill_replies(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    C("replies.packets", "tcpcopy_replies_total", "Target packets relayed by intercept.", s->replies);
    C("replies.no_session", "tcpcopy_replies_no_session_total", "Replies of no known session.",
      s->replies_no_session);
    C("replies.unparsable", "tcpcopy_replies_unparsable_total", "Reply records not parsed.",
      src->reply_errors);
    C("replies.bad_ack", "tcpcopy_replies_bad_ack_total", "Replies acknowledging bytes never sent.",
      s->replies_bad_ack);
    C("replies.payload_bytes", "tcpcopy_replies_payload_bytes_total", "Answer bytes the target sent.",
      s->replies_data_bytes);
}

static void fill_channel(struct metrics *m, const struct tcstats_src *src)
{
    const struct chanc_stats *cs = src->ch;
    G("channel.connections_up", "tcpcopy_channel_connections_up", "Intercept connections up.", src->ch_up);
    G("channel.connections", "tcpcopy_channel_connections", "Intercept connections configured (-s x -C).",
      src->ch_total);
    C("channel.connects", "tcpcopy_channel_connects_total", "Connections established.", cs->connects);
    C("channel.disconnects", "tcpcopy_channel_disconnects_total", "Connections lost.", cs->disconnects);
    C("channel.auth_failures", "tcpcopy_channel_auth_failures_total", "Handshakes refused for authentication.",
      cs->auth_failed);
    C("channel.closed_silent", "tcpcopy_channel_closed_silent_total", "Connections closed: intercept silent.",
      cs->silent);
    C("channel.bad_frames", "tcpcopy_channel_bad_frames_total", "Malformed frames received.", cs->bad_frames);
    C("channel.frames_in", "tcpcopy_channel_frames_received_total", "Frames received.", cs->frames_in);
    C("channel.reply_records", "tcpcopy_channel_reply_records_total", "Reply records received.", cs->replies_in);
    C("channel.routes_added", "tcpcopy_channel_routes_added_total", "Route registrations queued.",
      cs->routes_added);
    C("channel.routes_reregistered", "tcpcopy_channel_routes_reregistered_total",
      "Routes registered again with an intercept that came back.", cs->reregistered);
    C("channel.routes_deleted", "tcpcopy_channel_routes_deleted_total", "Route removals queued.",
      cs->routes_deleted);
    C("channel.records_dropped", "tcpcopy_channel_records_dropped_total",
      "Records not queued: the connection's output was full.", cs->out_dropped);
    metrics_add_f(m, "channel.lag_seconds_sum", "tcpcopy_channel_lag_seconds_total", NULL, NULL,
                  METRIC_COUNTER,
                  "Sum of the channel's lag samples: intercept's capture of a reply to its "
                  "arrival here (divide by tcpcopy_channel_lag_samples_total).",
                  (double)cs->lag_sum_us / 1e6);
    C("channel.lag_samples", "tcpcopy_channel_lag_samples_total",
      "Lag samples: one per batch of replies from an intercept that stamps them.", cs->lag_samples);
    metrics_add_f(m, "channel.lag_seconds", "tcpcopy_channel_lag_seconds", NULL, NULL, METRIC_GAUGE,
                  "The channel's recent lag (weighted toward the latest batches; 0: not measured).",
                  (double)cs->lag_recent_us / 1e6);
    metrics_add_f(m, "channel.lag_max_seconds", "tcpcopy_channel_lag_max_seconds", NULL, NULL,
                  METRIC_GAUGE, "The largest lag sample so far.", (double)cs->lag_max_us / 1e6);
    metrics_add_f(m, "channel.clock_offset_seconds", "tcpcopy_channel_clock_offset_seconds", NULL,
                  NULL, METRIC_GAUGE,
                  "Intercept's realtime clock minus ours, as the timestamped heartbeats show it.",
                  (double)cs->clock_offset_us / 1e6);
}

static void fill_queue(struct metrics *m, const struct tcstats_src *src)
{
    const struct eng_stats *s = src->eng;
    G("queue.bytes", "tcpcopy_queue_bytes", "Client bytes queued for the target now.", s->mem_bytes);
    G("queue.peak_bytes", "tcpcopy_queue_peak_bytes", "The most client bytes queued at once.",
      s->mem_peak_bytes);
    C("queue.dropped_bytes", "tcpcopy_queue_dropped_bytes_total", "Client bytes shed at the -m bound.",
      s->drop_bytes_memory);
    C("queue.dropped_segments", "tcpcopy_queue_dropped_segments_total",
      "Captured segments dropped: too many holes in a session's stream.", s->drop_segments_holes);
}

/* --compare: the summary's totals and the wiring's own counts (doc/metrics.md). */
static void fill_compare(struct metrics *m, const struct cmp_stats *s, bool baseline)
{
    static const char h_res[] = "Requests compared (online and target answers), by verdict.";
    CL("compare.equal", "tcpcopy_compare_results_total", "verdict", "equal", h_res,
       s->results[CMP_EQUAL]);
    CL("compare.different", "tcpcopy_compare_results_total", "verdict", "different", h_res,
       s->results[CMP_DIFFERENT]);
    CL("compare.not_compared", "tcpcopy_compare_results_total", "verdict", "not_compared", h_res,
       s->results[CMP_NOT_COMPARED]);
    static const char h_nc[] = "Requests not compared, by reason.";
    static const char *const keys[CMP_REASON_COUNT] = {
        NULL, "compare.not_compared_by_reason.online_incomplete",
        "compare.not_compared_by_reason.target_incomplete",
        "compare.not_compared_by_reason.no_answer_online",
        "compare.not_compared_by_reason.no_answer_target",
        "compare.not_compared_by_reason.unparsable", "compare.not_compared_by_reason.over_limit",
        "compare.not_compared_by_reason.noreply"};
    for (int r = CMP_REASON_NONE + 1; r < CMP_REASON_COUNT; r++)
        CL(keys[r], "tcpcopy_compare_not_compared_total", "reason",
           cmp_reason_name((enum cmp_reason)r), h_nc, s->reasons[r]);
    C("compare.requests", "tcpcopy_compare_requests_total",
      "Requests framed in compared sessions (greetings included).", s->requests);
    C("compare.sessions", "tcpcopy_compare_sessions_total", "Sessions compared.", s->sessions);
    G("compare.sessions_active", "tcpcopy_compare_sessions_active", "Sessions compared now.",
      s->sessions_active);
    static const char h_sk[] = "Sessions not compared, by reason.";
    CL("compare.sessions_skipped.over_cap", "tcpcopy_compare_sessions_skipped_total", "reason",
       "over_cap", h_sk, s->sessions_over_cap);
    CL("compare.sessions_skipped.no_memory", "tcpcopy_compare_sessions_skipped_total", "reason",
       "no_memory", h_sk, s->sessions_no_memory);
    CL("compare.sessions_skipped.abandoned", "tcpcopy_compare_sessions_skipped_total", "reason",
       "abandoned", h_sk, s->sessions_abandoned);
    C("compare.greetings", "tcpcopy_compare_greetings_total", "Server-first greetings compared.",
      s->greetings);
    C("compare.rebuilds", "tcpcopy_compare_rebuilds_total",
      "Target connections rebuilt in compared sessions.", s->rebuilds);
    static const char h_seg[] = "Online answer segments captured (no_session: of no compared session).";
    CL("compare.online_segments", "tcpcopy_compare_online_segments_total", "of", "session", h_seg,
       s->online_segments - s->online_no_session);
    CL("compare.online_no_session", "tcpcopy_compare_online_segments_total", "of", "no_session",
       h_seg, s->online_no_session);
    static const char h_by[] = "Answer bytes fed to the comparison, by side.";
    CL("compare.online_bytes", "tcpcopy_compare_answer_bytes_total", "side", "online", h_by,
       s->online_bytes);
    CL("compare.target_bytes", "tcpcopy_compare_answer_bytes_total", "side", "target", h_by,
       s->target_bytes);
    static const char h_gap[] = "Holes in an answer stream (capture gaps, lost replies), by side.";
    CL("compare.online_gaps", "tcpcopy_compare_gaps_total", "side", "online", h_gap, s->online_gaps);
    CL("compare.target_gaps", "tcpcopy_compare_gaps_total", "side", "target", h_gap, s->target_gaps);
    static const char h_gb[] = "Answer bytes missing in those holes, by side.";
    CL("compare.online_gap_bytes", "tcpcopy_compare_gap_bytes_total", "side", "online", h_gb,
       s->online_gap_bytes);
    CL("compare.target_gap_bytes", "tcpcopy_compare_gap_bytes_total", "side", "target", h_gb,
       s->target_gap_bytes);
    C("compare.target_no_payload", "tcpcopy_compare_target_no_payload_total",
      "Target answer segments relayed without their payload (intercept does not forward it).",
      s->target_no_payload);
    C("compare.orphans", "tcpcopy_compare_orphan_answers_total",
      "Answers to no request seen, and late answers of given-up requests.",
      s->orphans + s->dropped_late);
    C("compare.lines_written", "tcpcopy_compare_lines_written_total",
      "Lines written to mismatches.jsonl.", s->lines_written);
    C("compare.lines_dropped", "tcpcopy_compare_lines_dropped_total",
      "Differing requests not written to mismatches.jsonl (its line bound).", s->lines_dropped);
    if (baseline) { /* noise learning (--compare-baseline) only */
        C("compare.noise", "tcpcopy_compare_noise_total",
          "Differences the baseline showed too (noise.jsonl; not in compare.different).",
          s->noise);
        C("compare.baseline_missing", "tcpcopy_compare_baseline_missing_total",
          "Results without the baseline's answer (missing or incomplete): the target's alone.",
          s->baseline_missing);
    }
}

void tcstats_fill(struct metrics *m, const struct tcstats_src *src)
{
    metrics_reset(m);
    GL("build_info", "tcpcopy_build_info", "version", src->version, "tcpcopy's version.", 1);
    metrics_add_f(m, "uptime_seconds", "tcpcopy_uptime_seconds", NULL, NULL, METRIC_GAUGE,
                  "Seconds since tcpcopy started copying.", src->uptime_s);
    fill_sessions(m, src);
    fill_requests(m, src);
    if (src->module != NULL)
        fill_module(m, src);
    fill_capture(m, src);
    fill_target(m, src);
    fill_replies(m, src);
    fill_channel(m, src);
    fill_queue(m, src);
    if (src->cmp != NULL)
        fill_compare(m, src->cmp, src->cmp_baseline);
}
