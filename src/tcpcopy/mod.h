/*
 * mod: protocol modules at run time (--module, doc/modules.md). It owns the loaded module
 * (built in, or a shared object opened with dlopen), the credentials of --module-conf, and
 * each session's glue between the engine and the module (struct mod_sess, one pointer in
 * struct sess; NULL when no module is loaded, and then nothing here runs).
 *
 * Sequence spaces. With a module, the engine's stream (s->st) and its connection toward
 * the target (s->tc) hold the target's numbering: the bytes actually sent, rewritten. The
 * client's captured bytes wait here, in the client's numbering (a stream of their own, from
 * the engine's chunk pool: reordered and deduplicated), until the module consumes them;
 * what it writes in their place goes into s->st. The offset between the two numberings is
 * t_next - c_next; request boundaries and the client's FIN are carried over from one to the
 * other when the module reaches them, so the answer wait, retransmissions, SACK and the FIN
 * toward the target are all in the target's numbering and need no translation. The
 * client's acknowledgement numbers count the online server's answer and are not affected.
 */
#ifndef TC_MOD_H
#define TC_MOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "sess.h"
#include "stream.h"
#include "tcpcopy/module.h"

struct eng;
struct sess;
struct pkt;

#define MOD_IN_MAX 16384  /* client bytes offered to the module at once */
#define MOD_OUT_MAX 65536 /* room for what it writes in their place (>= TCM_OUT_MIN) */
#define MOD_CREDS_MAX 4096

struct mod_cred {
    char *user, *password;
};

/* A loaded module (mod.c); its scratch buffers serve every session in turn. */
struct mod {
    const struct tcm_module *t;
    void *dl;               /* dlopen handle (NULL: built in) */
    void *state;            /* from the module's init */
    bool inited;
    struct tcm_host host;
    struct mod_cred *creds;
    size_t ncreds;
    struct log_rl rl_log, rl_err;
    unsigned ncounters;     /* the module's own counters (tcm_module.counters) */
    uint64_t counters[TCM_COUNTERS_MAX];
    char counter_keys[TCM_COUNTERS_MAX][TCM_COUNTER_NAME_MAX + 16]; /* module.events.NAME */
    uint8_t in[MOD_IN_MAX];
    uint8_t out[MOD_OUT_MAX];
};

/* Request boundaries captured but not yet reached by the module (client's numbering). */
#define MOD_MARKS 32

struct mod_mark {
    uint32_t cseq, resp;
    bool exact;
};

enum mod_sess_flag {
    MS_CFIN = 1U << 0,   /* the client's FIN was captured at c_fin */
    MS_FAILED = 1U << 1, /* the module failed this session */
};

struct mod_sess {
    void *state;        /* the module's own */
    struct stream cst;  /* client bytes not consumed yet, client's numbering */
    uint32_t c_next;    /* the next client byte to offer the module */
    uint32_t t_next;    /* where the module's next output goes (target's numbering) */
    uint32_t c_fin;     /* with MS_CFIN */
    uint8_t flags;      /* enum mod_sess_flag */
    uint8_t nmarks, mark_head;
    struct mod_mark marks[MOD_MARKS];
};

/* Why mod_pump or a hook failed: the caller ends the session with SO_MODULE (or
 * SO_MEMORY for MOD_E_NOMEM). */
enum mod_err {
    MOD_E_MODULE = 1, /* the module returned an error or broke the contract */
    MOD_E_NOMEM,      /* the session's or the engine's memory bound */
};

/*
 * Load the module named spec: a built-in name, or a shared object (spec contains '/' or
 * ends in ".so") opened with dlopen and checked for TCM_API_VERSION. conf: the credentials
 * file (--module-conf, may be NULL), which must be a regular file owned by the caller or
 * root, of mode 0600 or stricter. 0 and *out, or -errno with a message in err.
 */
int mod_load(const char *spec, const char *conf, struct mod **out, char *err, size_t errlen);
/* Unload (fini, dlclose). NULL-safe. Every session must have ended. */
void mod_free(struct mod *m);
/* The module's name. */
const char *mod_name(const struct mod *m);

/* The credentials format ("USER PASSWORD" lines, '#' comment lines), parsed from
 * buf[0..len): 0, or -EINVAL with the line in err. Entries go to m (replacing any). */
int mod_conf_parse(struct mod *m, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* The password for user, or NULL. */
const char *mod_password(const struct mod *m, const char *user);
/* Load from a module's table (a built-in one, a test's): as mod_load without dlopen. */
int mod_open_table(const struct tcm_module *t, const char *conf, struct mod **out, char *err,
                   size_t errlen);

/* Built-in modules' tables (mod.c's builtins): declare each here. */

/* ---- the engine's hooks (only when a module is loaded) ---------------------------- */

/* The session starts toward the target (s->st initialised at the client's first byte):
 * the module's session, and the bytes it sends first. 0, or -MOD_E_* (s->mod stays NULL). */
int mod_sess_open(struct eng *e, struct sess *s);
/* The session is over: the module frees its state, the held bytes go back. NULL-safe. */
void mod_sess_close(struct eng *e, struct sess *s);
/* A client segment with payload: stored in the client's numbering, its request boundary
 * noted. New bytes stored (>= 0), or -STREAM_E_* (nothing stored). */
int mod_client_put(struct eng *e, struct sess *s, const struct pkt *p);
/* The client's FIN, at seq (its numbering); then mod_pump. 0 or -MOD_E_*. */
int mod_client_fin(struct eng *e, struct sess *s, const struct pkt *p, uint32_t seq);
/* The stream the client's captured bytes go into: the module's (client's numbering) with a
 * module, else the engine's. */
static inline struct stream *mod_cstream(struct sess *s)
{
    return s->mod != NULL ? &s->mod->cst : &s->st;
}
/* Offer the module the client's bytes it can have now: its output joins s->st, the
 * boundaries and the FIN are carried over. 0 or -MOD_E_*. */
int mod_pump(struct eng *e, struct sess *s);
/* A target packet with payload (before the engine acknowledges it). 0 or -MOD_E_*. */
int mod_target_data(struct eng *e, struct sess *s, const struct pkt *p);
/* The session ends with outcome: count the client bytes and requests the module had not
 * consumed yet as not replayed (before the engine's stream is cleared). */
void mod_count_lost(struct eng *e, struct sess *s, int outcome);
/* Client bytes held beyond a hole in the capture (the engine's gap clock). */
uint32_t mod_ooo_bytes(const struct sess *s);
/* May the session be rebuilt on a new connection (the module has no start hook)? */
bool mod_can_rebuild(const struct eng *e, const struct sess *s);

#endif
