/*
 * tcpcopy/module.h: the protocol module API (installed header; doc/modules.md).
 *
 * A protocol module sees one replayed session's bytes and may change what is sent to the
 * target: rewrite the client's messages (also changing their length), watch the target's
 * answers, and send bytes of its own first (a login of its own when a session is copied
 * from its middle). tcpcopy's engine keeps the TCP side right: sequence numbers toward the
 * target, retransmissions, the client's FIN, the answer wait between requests.
 *
 * A module is a table of hooks (struct tcm_module). Built-in modules are linked into
 * tcpcopy; an external one is a shared object loaded with dlopen(3) that exports
 *
 *     const struct tcm_module *tcm_module_v1(void);
 *
 * returning a table whose api_version is TCM_API_VERSION (checked at load: a mismatch is
 * refused with a clear error). Everything is single-threaded: hooks are called from the
 * engine's loop, never at the same time.
 *
 * Ownership: each session's state is the module's own (allocated in sess_new, freed in
 * sess_end, which is called exactly once for every successful sess_new). Buffers passed to
 * a hook belong to the engine and are valid only during the call. A module keeps its
 * per-session memory bounded: it consumes client bytes only when it can handle them (see
 * client_data) instead of copying them.
 *
 * Errors: a hook returns a negative number (TCM_ERR or -errno) to fail the session; the
 * engine then ends that session (counted as module.sessions.failed, outcome "module_ended",
 * logged at a limited rate), never the process.
 */
#ifndef TCPCOPY_MODULE_H
#define TCPCOPY_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TCM_API_VERSION 1
/* The symbol an external module exports (a function returning its table). */
#define TCM_MODULE_SYMBOL "tcm_module_v1"

#define TCM_ERR (-1)

/* A module's own counters (struct tcm_module's counters): at most this many. */
#define TCM_COUNTERS_MAX 16
#define TCM_COUNTER_NAME_MAX 32

/* Room a hook may write into: out_cap is at least this much. */
#define TCM_OUT_MIN 16384

/* Why start is called. */
enum tcm_start {
    TCM_START_SYN = 1,  /* a session whose SYN was seen: the client's own handshake follows */
    TCM_START_MIDSTREAM, /* a session first seen in its middle: the client is already logged
                          * in online; the target knows nothing of it yet */
};

/* Flags a target_data hook returns in *flags. */
enum tcm_answer_flag {
    /* These answer bytes answer the module's own bytes (its login): they are not counted as
     * an answer to the client's requests (the engine's wait between requests ignores them). */
    TCM_ANSWER_OWN = 1U << 0,
    /* The module's own exchange is over: the client's bytes may follow (counted). */
    TCM_ANSWER_DONE = 1U << 1,
};

/* What a session is, for sess_new. Addresses are in network byte order. */
struct tcm_sess_info {
    int af;                  /* AF_INET or AF_INET6 */
    uint8_t client[16];      /* the captured client's address (4 bytes used for IPv4) */
    uint8_t target[16];      /* the target's address */
    uint16_t client_port, target_port; /* host byte order */
    uint16_t copy;           /* which -n copy (0 first) */
};

/* What tcpcopy offers a module (valid from init to fini). */
struct tcm_host {
    uint32_t api_version;    /* TCM_API_VERSION */
    /* The password for user from --module-conf (lines "USER PASSWORD"), or NULL when the
     * user is not listed or no file was given. The string lives until fini. */
    const char *(*password)(const struct tcm_host *h, const char *user);
    /* A message in tcpcopy's log (rate-limited by the host: at most a few per second).
     * level: 0 debug, 1 info, 2 warning. */
    void (*log)(const struct tcm_host *h, int level, const char *msg);
    void *priv;              /* tcpcopy's own; do not touch */
    /* The i-th user of --module-conf (0 first, in file order), or NULL past the last: a
     * session seen mid-stream gives no user name, the module may resume it as the first. */
    const char *(*user_at)(const struct tcm_host *h, size_t i);
    /* Add n to the module's own counter idx (its index in struct tcm_module's counters). */
    void (*count)(const struct tcm_host *h, unsigned idx, uint64_t n);
};

struct tcm_module {
    uint32_t api_version;    /* TCM_API_VERSION */
    const char *name;        /* short, printable: used in logs and counters */

    /* Once at startup (optional). *mod is passed to sess_new and fini. Negative: tcpcopy
     * refuses to start (the module prints no message: return -EINVAL and the host reports
     * "module NAME: init failed"). */
    int (*init)(const struct tcm_host *host, void **mod);
    /* Once at exit (optional), after every session ended. */
    void (*fini)(void *mod);

    /* A session starts toward the target: allocate its state into *sess (may stay NULL).
     * Negative: the session is not copied (counted). */
    int (*sess_new)(void *mod, const struct tcm_sess_info *info, void **sess);
    /* The session is over (whatever the reason): free its state. */
    void (*sess_end)(void *mod, void *sess);

    /*
     * Optional. Before any client byte, on a new connection toward the target: write the
     * bytes to send first (a login of the module's own, e.g.) into out (at most out_cap)
     * and return their length (0: nothing). While the module's own exchange goes on it
     * consumes no client byte (client_data sets *consumed = 0) and marks the target's
     * answers to its bytes TCM_ANSWER_OWN.
     */
    long (*start)(void *sess, enum tcm_start why, uint8_t *out, size_t out_cap);

    /*
     * The client's next bytes, in order, without gaps or duplicates (the engine reorders
     * and deduplicates the capture): in[0..len), len >= 1. Never spans two requests (a
     * request starts where the client spoke after an answer). Write the bytes to send to
     * the target in their place into out (at most out_cap, at least TCM_OUT_MIN) and set
     * *consumed to the input bytes used (0..len); return the output length (>= 0) or a
     * negative number (the session ends). Unused input is offered again, with what the
     * client sends next appended, after the next client packet or target answer (a call
     * that consumes nothing is not repeated before then, whatever it wrote). To
     * pass bytes through unchanged: copy them, *consumed = len, return len.
     * NULL: bytes pass through unchanged.
     */
    long (*client_data)(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                        uint8_t *out, size_t out_cap);

    /*
     * Optional. The target's answer bytes, in order: data[0..len). lost: answer bytes that
     * the engine did not see just before these (a gap; 0 normally). May write bytes to send
     * to the target at once (e.g. the module's login once the target's greeting came) into
     * out, returning their length (>= 0), or fail the session (negative). *flags: a set of
     * enum tcm_answer_flag, 0 on entry.
     */
    long (*target_data)(void *sess, const uint8_t *data, size_t len, uint64_t lost,
                        unsigned *flags, uint8_t *out, size_t out_cap);

    /* Optional: the names of the module's own counters, NULL-terminated, at most
     * TCM_COUNTERS_MAX, each 1 to TCM_COUNTER_NAME_MAX characters of [a-z0-9_] (checked at
     * load). tcpcopy shows them as module.events.NAME (--stats-json) and
     * tcpcopy_module_events_total{event="NAME"} (--metrics); the module adds to them with
     * host->count (e.g. "logins_rewritten", "not_replayable"). */
    const char *const *counters;
};

/* An external module's entry point. */
typedef const struct tcm_module *(*tcm_module_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
