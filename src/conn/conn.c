/* rk_conn: one socket, one reader, one write queue, and the handshake.
 *
 * The connection is a state machine that never blocks by itself:
 * CLOSED -> CONNECTING (TCP/Unix) -> TLS -> HANDSHAKE (HELLO and friends,
 * pipelined in one round trip) -> READY, or BROKEN from anywhere. Event
 * loops drive it through rk_conn_start/step/write_some/read_some/next; the
 * blocking calls below are loops over the same steps with poll() and a
 * deadline. A broken connection keeps nothing: its buffers are dropped so
 * a half-read reply can never be mistaken for the next one. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "conn/conn_int.h"
#include "conn/options_int.h"
#include "meta/block.h"
#include "meta/classes.h"
#include "rediskit/reader.h"
#include "rediskit/version.h"
#include "resp/reply_int.h"
#include "util/common.h"

enum conn_state { CLOSED, CONNECTING, TLS, HANDSHAKE, READY, BROKEN };

/* Replies the handshake waits for, in the order its commands were sent. */
enum hs_step { HS_HELLO, HS_AUTH, HS_SETNAME, HS_SELECT, HS_SETINFO };

#define HS_MAX 8
/* The buffers a credentials callback writes into (options.h). */
#define CRED_USER_MAX 4096
#define CRED_PASS_MAX 65536
/* Idle this long and a pooled connection is polled before use. Idle time
 * is kept with the coarse clock (rk_now_ms_coarse): it is read twice per
 * pooled call, and a tick's error is nothing against these thresholds. */
#define IDLE_POLL_MS 100

struct rk_conn {
    const rk_options *o; /* settled options (own, or the client's) */
    rk_options own;
    char *own_storage;
    rk_tls_ctx *tls;
    bool own_tls;

    rk_transport *t;
    rk_reader *rd;
    rk_writer *wr;    /* the user's commands, sent once READY */
    rk_writer *hs_wr; /* the handshake's commands, sent before any of wr's */
    enum conn_state state;
    int proto;
    size_t pending; /* replies expected by the user */

    uint8_t hs[HS_MAX]; /* handshake replies still expected */
    int nhs, ihs;
    bool hs_fallback; /* HELLO is unknown: redo with AUTH/SETNAME */
    int hs_error;     /* first handshake failure, reported at the end */
    /* Credentials of the handshake in progress, NULL for none: the
     * options' own strings, or cred, what the credentials callback wrote
     * (wiped and freed once the handshake ends, fails or is dropped). */
    const char *user, *pass;
    char *cred;

    int timeout_ms;      /* of a call: the command timeout, <= 0 none */
    int read_timeout_ms; /* of rk_conn_read: only one set explicitly */
    long long block_ms;  /* what the commands in flight may block; -1: for ever */
    int64_t deadline;    /* of the connect in progress */
    int64_t last_used;
    uint64_t sent;
    unsigned tag;
    void *owner; /* the pool's node it belongs to (client layer) */
    bool pubsub; /* pushes and unasked replies go to rk_conn_next */
    /* CLIENT REPLY: while replies_off, commands get no reply; the next
     * `unreplied` commands get none either (SKIP and the one after it).
     * last_unreplied says the command queued last expects no reply. */
    bool replies_off, last_unreplied;
    unsigned unreplied;
    /* MONITOR, a SUBSCRIBE, a bare RESET, SELECT, AUTH, HELLO or CLIENT
     * SETNAME was sent on it, and no handshake since: its state is not
     * what its options say, and a pool must not hand it on
     * (rk_conn_poolable). in_multi: a MULTI sent through its writer is
     * not yet ended by EXEC or DISCARD (later commands would be QUEUED).
     * streaming: MONITOR or a SUBSCRIBE was sent, so the server sends
     * replies no command asked for (never taken for strays). watching: a
     * WATCH not yet ended by UNWATCH, an EXEC or DISCARD of a MULTI, or
     * RESET (the next user's transaction would abort on its keys). */
    bool modal, in_multi, streaming, watching;
    int last_mode;                      /* what the command queued last does (RK_MODE_*) */
    void (*close_fn)(void *ud, int fd); /* rk_conn_on_close */
    void *close_ud;
};

/* ---- life cycle ------------------------------------------------------ */

rk_conn *rk_conn_new_shared(const rk_options *o, rk_tls_ctx *tls) {
    rk_conn *c = rk_calloc(1, sizeof(*c));
    if (c == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating a connection");
        return NULL;
    }
    c->o = o;
    c->tls = tls;
    rk_conn_set_timeout(c, o->command_timeout_ms);
    c->rd = rk_reader_new(&o->limits);
    if (c->rd == NULL) { /* RK_EINVAL for bad limits, or RK_ENOMEM: kept */
        rk_conn_free(c);
        return NULL;
    }
    c->wr = rk_writer_new(NULL);
    c->hs_wr = rk_writer_new(NULL);
    if (c->wr == NULL || c->hs_wr == NULL) {
        rk_conn_free(c);
        rk_fail(RK_ENOMEM, "out of memory creating a connection");
        return NULL;
    }
    return c;
}

rk_conn *(rk_conn_new)(const rk_options *opts, size_t opts_size) {
    rk_options settled;
    char *storage;
    rk_tls_ctx *tls;
    if (rk_options_settle(opts, opts_size, &settled, &storage) != RK_OK)
        return NULL;
    if (rk_options_tls_ctx(&settled, &tls) != RK_OK) {
        rk_options_free_storage(&settled, storage);
        return NULL;
    }
    rk_conn *c = rk_conn_new_shared(&settled, tls);
    if (c == NULL) {
        rk_tls_ctx_free(tls);
        rk_options_free_storage(&settled, storage);
        return NULL;
    }
    c->own = settled; /* from now on the connection owns its options */
    c->o = &c->own;
    c->own_storage = storage;
    c->own_tls = true;
    return c;
}

/* Forgets the handshake's credentials, wiping what the credentials
 * callback wrote. The options' password stays: reconnects and RESET
 * authenticate with it again (rk_options_free_storage wipes it). */
static void forget_credentials(rk_conn *c) {
    if (c->cred) {
        explicit_bzero(c->cred, CRED_USER_MAX + CRED_PASS_MAX);
        rk_free(c->cred);
        c->cred = NULL;
    }
    c->user = c->pass = NULL;
}

/* Closes the socket, telling the one watching it first. */
static void close_socket(rk_conn *c) {
    if (c->t && c->close_fn)
        c->close_fn(c->close_ud, rk_transport_fd(c->t));
    rk_transport_close(c->t);
}

void rk_conn_on_close(rk_conn *c, void (*fn)(void *ud, int fd), void *ud) {
    c->close_fn = fn;
    c->close_ud = ud;
}

/* Closes the socket and forgets what was read and the handshake. Commands
 * the user queued are kept: they go out after the next handshake. */
static void drop_socket(rk_conn *c) {
    close_socket(c);
    c->t = NULL;
    rk_reader_reset(c->rd);
    rk_writer_clear(c->hs_wr);
    c->nhs = c->ihs = 0;
    forget_credentials(c);
}

/* Forgets every mode the commands sent set (track_mode): a new socket, or
 * the handshake run again, starts from what the options say. */
static void forget_modes(rk_conn *c) {
    c->replies_off = false; /* a new connection replies */
    c->unreplied = 0;
    c->modal = c->in_multi = c->streaming = c->watching = false;
    c->last_mode = RK_MODE_SAME;
}

/* drop_socket, and the user's queued commands and expected replies too. */
static void drop_all(rk_conn *c) {
    drop_socket(c);
    rk_writer_clear(c->wr);
    c->pending = 0;
    c->last_unreplied = false;
    forget_modes(c);
}

void rk_conn_close(rk_conn *c) {
    if (c == NULL)
        return;
    drop_all(c);
    c->state = CLOSED;
}

void rk_conn_free(rk_conn *c) {
    if (c == NULL)
        return;
    close_socket(c);
    rk_reader_free(c->rd);
    rk_writer_free(c->wr);
    rk_writer_free(c->hs_wr);
    if (c->own_tls)
        rk_tls_ctx_free(c->tls);
    forget_credentials(c);
    rk_options_free_storage(&c->own, c->own_storage);
    rk_free(c);
}

/* Breaks the connection after a failure and passes the code through. */
static int broken(rk_conn *c, int code) {
    drop_all(c);
    c->state = BROKEN;
    return code;
}

/* ---- state ----------------------------------------------------------- */

RK_HOT bool rk_conn_is_ready(const rk_conn *c) {
    return c->state == READY;
}

bool rk_conn_is_broken(const rk_conn *c) {
    return c->state == BROKEN;
}

int rk_conn_protocol(const rk_conn *c) {
    return c->state == READY ? c->proto : 0;
}

int rk_conn_fd(const rk_conn *c) {
    return c->t ? rk_transport_fd(c->t) : -1;
}

RK_HOT size_t rk_conn_pending(const rk_conn *c) {
    return c->pending;
}

/* The default bounds calls only: a reply read with rk_conn_read (a
 * MONITOR line, a message, a pipelined reply) may be long in coming. */
RK_HOT void rk_conn_set_timeout(rk_conn *c, int timeout_ms) {
    c->timeout_ms = timeout_ms == 0 ? RK_DEFAULT_COMMAND_TIMEOUT_MS : timeout_ms;
    c->read_timeout_ms = timeout_ms;
}

RK_HOT uint64_t rk_conn_bytes_sent(const rk_conn *c) {
    return c->sent;
}

void rk_conn_set_pubsub(rk_conn *c, bool on) {
    c->pubsub = on;
}

bool rk_conn_in_pubsub(const rk_conn *c) {
    return c->pubsub;
}

RK_HOT unsigned rk_conn_tag(const rk_conn *c) {
    return c->tag;
}

void rk_conn_set_tag(rk_conn *c, unsigned tag) {
    c->tag = tag;
}

RK_HOT void *rk_conn_owner(const rk_conn *c) {
    return c->owner;
}

RK_HOT void rk_conn_set_owner(rk_conn *c, void *owner) {
    c->owner = owner;
}

RK_HOT void rk_conn_touch(rk_conn *c) {
    c->last_used = rk_now_ms_coarse();
}

RK_HOT rk_writer *rk_conn_writer(rk_conn *c) {
    return c->wr;
}

/* Counts the reply a command just queued will get, if it gets one. */
static void expect_reply(rk_conn *c) {
    c->last_unreplied = c->replies_off || c->unreplied > 0;
    if (c->unreplied > 0)
        c->unreplied--;
    if (!c->last_unreplied)
        c->pending++;
}

void rk_conn_add_block(rk_conn *c, long long ms) {
    c->block_ms = rk_block_max(c->block_ms, ms);
}

/* Notes what the command just queued into c->wr may make the server
 * wait (rk_writer_last_block_ms), for the deadlines of its reply. */
static void note_block(rk_conn *c) {
    if (c->pending == 0) /* nothing in flight: forget an earlier one */
        c->block_ms = 0;
    rk_conn_add_block(c, rk_writer_last_block_ms(c->wr));
}

RK_HOT void rk_conn_queued(rk_conn *c, size_t commands) {
    if (commands > 0)
        note_block(c);
    for (size_t i = 0; i < commands; i++)
        expect_reply(c);
}

/* CLIENT REPLY as the connection must know it, set before the reply of
 * the CLIENT REPLY command itself is counted: with OFF no command gets a
 * reply (that one included) until ON; SKIP takes the replies of itself and
 * the next. RESET turns replies back on. */
static void reply_mode(rk_conn *c, bool off, unsigned skip) {
    c->replies_off = off;
    c->unreplied = skip;
}

/* Follows what the command just queued does to the connection's mode,
 * whichever call queued it. */
static void track_mode(rk_conn *c) {
    c->last_mode = rk_writer_last_mode(c->wr);
    switch (c->last_mode) {
    case RK_MODE_STREAM: c->modal = c->streaming = true; break;
    case RK_MODE_SESSION: c->modal = true; break;
    case RK_MODE_MULTI: c->in_multi = true; break;
    case RK_MODE_TX_END: /* without a MULTI the server refuses it, keeping the watch */
        c->watching = c->watching && !c->in_multi;
        c->in_multi = false;
        break;
    case RK_MODE_WATCH: c->watching = c->watching || !c->in_multi; break;  /* refused in MULTI */
    case RK_MODE_UNWATCH: c->watching = c->watching && c->in_multi; break; /* queued in MULTI */
    case RK_MODE_RESET:
        c->modal = true; /* until rk_reset's handshake sets it up again */
        c->in_multi = c->streaming = c->watching = false;
        reply_mode(c, false, 0);
        break;
    case RK_MODE_REPLY_ON: reply_mode(c, false, 0); break;
    case RK_MODE_REPLY_OFF: reply_mode(c, true, 0); break;
    case RK_MODE_REPLY_SKIP:
        reply_mode(c, false, 2); /* SKIP itself and the next */
        break;
    default: break;
    }
}

RK_HOT bool rk_conn_poolable(const rk_conn *c) {
    return !c->modal && !c->in_multi && !c->watching && !c->pubsub && !c->replies_off &&
           c->unreplied == 0;
}

void rk_conn_exec_answered(rk_conn *c) {
    c->watching = false;
}

/* The queue being sent: the handshake's until READY, then the user's. */
static rk_writer *out_queue(const rk_conn *c) {
    return c->state == READY ? c->wr : c->hs_wr;
}

int rk_conn_want(const rk_conn *c) {
    if (c->t == NULL)
        return 0;
    if (c->state == CONNECTING)
        return RK_WANT_WRITE;
    if (c->state == TLS)
        return rk_transport_want(c->t) == RK_NET_WRITE ? RK_WANT_WRITE : RK_WANT_READ;
    if (rk_writer_pending(out_queue(c)) > 0)
        return RK_WANT_WRITE | RK_WANT_READ;
    return RK_WANT_READ;
}

/* now + base ms + what the commands in flight may block; -1 (no limit)
 * when base is none or a command may block for ever. */
static int64_t deadline_after(const rk_conn *c, int base) {
    if (base <= 0 || c->block_ms < 0)
        return -1;
    return rk_now_ms() + base + c->block_ms;
}

int64_t rk_conn_deadline(const rk_conn *c, int timeout_ms) {
    return deadline_after(c, timeout_ms > 0 ? timeout_ms : c->timeout_ms);
}

RK_HOT int64_t rk_conn_call_deadline(const rk_conn *c, int64_t deadline) {
    return deadline >= 0 ? deadline : rk_conn_deadline(c, 0);
}

bool rk_conn_is_redirect(const rk_reply *r) {
    const char *s = rk_reply_str(r);
    size_t n = rk_reply_len(r);
    return r->type_ == RK_REPLY_ERROR &&
           ((n >= 6 && memcmp(s, "MOVED ", 6) == 0) || (n >= 4 && memcmp(s, "ASK ", 4) == 0));
}

int rk_conn_server_error(const rk_reply *r) {
    const char *s = rk_reply_str(r);
    size_t n = rk_reply_len(r);
    int code = RK_ESERVER;
    if ((n >= 6 && memcmp(s, "NOAUTH", 6) == 0) || (n >= 9 && memcmp(s, "WRONGPASS", 9) == 0))
        code = RK_EAUTH;
    else if (rk_conn_is_redirect(r))
        code = RK_EREDIRECT;
    return rk_fail_server(code, s, n);
}

bool rk_conn_refused_ping(const rk_reply *r) {
    if (rk_reply_type(r) != RK_REPLY_ERROR)
        return false;
    const char *s = rk_reply_str(r);
    size_t n = rk_reply_len(r);
    return n > 6 && memcmp(s, "NOPERM", 6) == 0 && memmem(s, n, "'ping'", 6) != NULL;
}

/* ---- raw I/O --------------------------------------------------------- */

RK_HOT int rk_conn_write_some(rk_conn *c) {
    if (c->t == NULL)
        return rk_fail(RK_ECLOSED, "connection is not open");
    rk_writer *wr = out_queue(c);
    while (rk_writer_pending(wr) > 0) {
        struct iovec iov[64];
        int n = rk_writer_iov(wr, iov, (int)RK_ARRAY_LEN(iov));
        if (n == 0)
            return RK_OK;
        ssize_t w = rk_transport_writev(c->t, iov, n);
        if (w == RK_EAGAIN)
            return RK_EAGAIN;
        if (w < 0)
            return broken(c, (int)w);
        rk_writer_consume(wr, (size_t)w);
        c->sent += (uint64_t)w;
    }
    return RK_OK;
}

/* Reads once from the socket straight into the reader: without blocking,
 * or (block) waiting in recv until the deadline (negative: no limit).
 * RK_OK, RK_EAGAIN, or a failure that broke the connection. */
RK_HOT static int fill(rk_conn *c, bool block, int64_t deadline) {
    size_t avail;
    void *space = rk_reader_space(c->rd, 16 * 1024, &avail);
    if (space == NULL)
        return broken(c, rk_error_last()->code);
    ssize_t n = block ? rk_transport_read_block(c->t, space, avail, deadline)
                      : rk_transport_read(c->t, space, avail);
    if (n == RK_EAGAIN)
        return RK_EAGAIN;
    if (n < 0)
        return broken(c, (int)n);
    int rc = rk_reader_commit(c->rd, (size_t)n);
    return rc == RK_OK ? RK_OK : broken(c, rc);
}

/* Reads once, and again while TLS still holds decrypted bytes: the space
 * the reader gives may be smaller than a TLS record (the tail of a bulk
 * received directly), and poll() cannot see what OpenSSL kept, so an event
 * loop would wait forever for bytes already here. */
int rk_conn_read_some(rk_conn *c) {
    if (c->t == NULL)
        return rk_fail(RK_ECLOSED, "connection is not open");
    int rc = fill(c, false, -1);
    bool got = rc == RK_OK;
    while (rc == RK_OK && rk_transport_pending(c->t))
        rc = fill(c, false, -1);
    return rc == RK_EAGAIN && got ? RK_OK : rc;
}

/* Takes the next reply, delivering pushes to the push callback. */
RK_HOT static int next_reply(rk_conn *c, rk_reply *out, bool borrowed) {
    for (;;) {
        int rc = borrowed ? rk_reader_next_borrowed(c->rd, out) : rk_reader_next(c->rd, out);
        if (rc <= 0)
            return rc < 0 ? broken(c, rc) : 0;
        if (out->type_ != RK_REPLY_PUSH || c->proto != 3 || c->pubsub)
            return 1;
        if (c->o->on_push)
            c->o->on_push(c->o->push_userdata, out);
        rk_reply_free(out);
    }
}

RK_HOT bool rk_conn_has_stray(rk_conn *c) {
    if (c->state != READY || c->pubsub || c->streaming || c->pending > 0 ||
        rk_reader_buffered(c->rd) == 0)
        return false;
    rk_reply r;
    return next_reply(c, &r, true) != 0; /* borrowed: nothing to free */
}

/* Waits for the socket, or fails the connection at the deadline. */
static int wait_ready(rk_conn *c, int events, int64_t deadline) {
    int rc = rk_transport_wait(c->t, events, deadline);
    if (rc == RK_ETIMEOUT)
        return broken(c,
                      rk_fail(RK_ETIMEOUT, "timed out waiting for %s on %s",
                              events & RK_NET_WRITE ? "write" : "reply", rk_transport_peer(c->t)));
    return rc == RK_OK ? RK_OK : broken(c, rc);
}

/* ---- handshake ------------------------------------------------------- */

/* Asks the credentials callback for a user and password, into buffers
 * of CRED_USER_MAX and CRED_PASS_MAX bytes. A string that fills its
 * buffer without a NUL is refused, never cut short. */
static int call_credentials(rk_conn *c) {
    const rk_options *o = c->o;
    c->cred = rk_calloc(1, CRED_USER_MAX + CRED_PASS_MAX);
    if (c->cred == NULL)
        return rk_fail(RK_ENOMEM, "out of memory asking for credentials");
    char *user = c->cred, *pass = c->cred + CRED_USER_MAX;
    if (o->credentials(o->credentials_userdata, user, CRED_USER_MAX, pass, CRED_PASS_MAX) != 0)
        return rk_fail(RK_EAUTH, "the credentials callback failed");
    if (memchr(user, '\0', CRED_USER_MAX) == NULL || memchr(pass, '\0', CRED_PASS_MAX) == NULL)
        return rk_fail(RK_EINVAL, "the credentials callback wrote a user or password that "
                                  "fills its buffer without a NUL");
    c->user = user[0] ? user : NULL;
    c->pass = pass[0] ? pass : NULL;
    return RK_OK;
}

/* The credentials for the handshake about to run: the callback's, or the
 * options' (used in place, whatever their length). */
static int load_credentials(rk_conn *c) {
    forget_credentials(c);
    const rk_options *o = c->o;
    if (o->credentials)
        return call_credentials(c);
    c->user = o->username && o->username[0] ? o->username : NULL;
    c->pass = o->password && o->password[0] ? o->password : NULL;
    return RK_OK;
}

static int hs_queue(rk_conn *c, enum hs_step step, const rk_str *argv, size_t argc) {
    int rc = rk_writer_argv(c->hs_wr, argv, argc);
    if (rc == RK_OK)
        c->hs[c->nhs++] = (uint8_t)step;
    return rc;
}

/* Queues the handshake. The first round is one HELLO that also
 * authenticates and names the connection; a server without HELLO gets a
 * second round with AUTH and CLIENT SETNAME. SELECT and CLIENT SETINFO
 * ride in the same round trip. */
static int hs_begin(rk_conn *c, bool fallback) {
    const rk_options *o = c->o;
    rk_str argv[8];
    size_t argc = 0;
    int rc = RK_OK;
    char proto[2] = {(char)('0' + o->protocol), 0};
    c->nhs = c->ihs = 0;
    c->hs_fallback = false;
    c->hs_error = RK_OK;
    if (!fallback) {
        argv[argc++] = RK_STR("HELLO");
        argv[argc++] = rk_cstr(proto);
        if (c->user || c->pass) { /* a user alone: a nopass user, or WRONGPASS */
            argv[argc++] = RK_STR("AUTH");
            argv[argc++] = c->user ? rk_cstr(c->user) : RK_STR("default");
            argv[argc++] = c->pass ? rk_cstr(c->pass) : RK_STR("");
        }
        if (o->client_name) {
            argv[argc++] = RK_STR("SETNAME");
            argv[argc++] = rk_cstr(o->client_name);
        }
        rc = hs_queue(c, HS_HELLO, argv, argc);
    } else {
        if (c->user)
            rc = hs_queue(c, HS_AUTH,
                          (const rk_str[]){RK_STR("AUTH"), rk_cstr(c->user),
                                           c->pass ? rk_cstr(c->pass) : RK_STR("")},
                          3);
        else if (c->pass)
            rc = hs_queue(c, HS_AUTH, (const rk_str[]){RK_STR("AUTH"), rk_cstr(c->pass)}, 2);
        if (rc == RK_OK && o->client_name)
            rc = hs_queue(
                c, HS_SETNAME,
                (const rk_str[]){RK_STR("CLIENT"), RK_STR("SETNAME"), rk_cstr(o->client_name)}, 3);
    }
    if (rc == RK_OK && o->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", o->db);
        rc = hs_queue(c, HS_SELECT, (const rk_str[]){RK_STR("SELECT"), rk_cstr(db)}, 2);
    }
    if (rc == RK_OK && !fallback) {
        rc = hs_queue(c, HS_SETINFO,
                      (const rk_str[]){RK_STR("CLIENT"), RK_STR("SETINFO"), RK_STR("LIB-NAME"),
                                       RK_STR("rediskit")},
                      4);
        if (rc == RK_OK)
            rc = hs_queue(c, HS_SETINFO,
                          (const rk_str[]){RK_STR("CLIENT"), RK_STR("SETINFO"), RK_STR("LIB-VER"),
                                           RK_STR(RK_VERSION_STRING)},
                          4);
    }
    c->proto = fallback ? 2 : o->protocol;
    c->state = HANDSHAKE;
    return rc;
}

static bool error_has(const rk_reply *r, const char *needle) {
    return r->type_ == RK_REPLY_ERROR && strstr(rk_reply_str(r), needle) != NULL;
}

/* The failure a handshake error reply means. NOAUTH when no password
 * was sent gets a message saying so, not the server's words about HELLO
 * (the prefix stays NOAUTH, as for any server error). */
static int hs_failure(rk_conn *c, enum hs_step step, const rk_reply *r) {
    static const char no_password[] = "NOAUTH the server requires a password and none was given";
    int code = rk_conn_server_error(r);
    if (code == RK_EAUTH && c->pass == NULL && strncmp(rk_reply_str(r), "NOAUTH", 6) == 0)
        return rk_fail_server(RK_EAUTH, no_password, sizeof(no_password) - 1);
    if ((step == HS_HELLO || step == HS_AUTH) && code == RK_ESERVER &&
        (error_has(r, "password") || error_has(r, "AUTH")))
        return rk_fail(RK_EAUTH, "%s", rk_reply_str(r));
    return code;
}

/* Judges one handshake reply. Keeps the first failure in hs_error. */
static void hs_reply(rk_conn *c, enum hs_step step, const rk_reply *r) {
    if (r->type_ != RK_REPLY_ERROR || c->hs_error != RK_OK || c->hs_fallback)
        return;
    if (step == HS_HELLO &&
        (error_has(r, "unknown command") || strncmp(rk_reply_str(r), "NOPROTO", 7) == 0)) {
        c->hs_fallback = true; /* a server before 6.0, or no RESP3 */
        return;
    }
    if (step != HS_SETINFO) /* servers before 7.2 do not know it; that is fine */
        c->hs_error = hs_failure(c, step, r);
}

/* Reads handshake replies as they come. RK_OK once done, RK_EAGAIN. */
static int hs_progress(rk_conn *c) {
    int rc = rk_conn_write_some(c);
    if (rc != RK_OK)
        return rc;
    for (;;) {
        while (c->ihs < c->nhs) {
            rk_reply r;
            rc = next_reply(c, &r, true);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
            hs_reply(c, (enum hs_step)c->hs[c->ihs++], &r);
        }
        if (c->ihs < c->nhs) {
            rc = rk_conn_read_some(c);
            if (rc != RK_OK)
                return rc;
            continue;
        }
        if (c->hs_error != RK_OK)
            return broken(c, c->hs_error);
        if (!c->hs_fallback)
            break;
        if ((rc = hs_begin(c, true)) != RK_OK)
            return broken(c, rc);
        if ((rc = rk_conn_write_some(c)) != RK_OK)
            return rc;
    }
    forget_credentials(c);
    c->state = READY;
    if (rk_conn_has_stray(c)) /* a reply more than the handshake asked for */
        return broken(c, rk_fail(RK_EPROTO, "protocol error: a reply nobody asked for "
                                            "after the handshake"));
    c->last_used = rk_now_ms_coarse();
    rk_transport_set_blocking(c->t); /* plain sockets: see read_blocking */
    return RK_OK;
}

/* ---- connecting, non-blocking ---------------------------------------- */

static rk_net_opts net_opts(const rk_conn *c) {
    const rk_options *o = c->o;
    return (rk_net_opts){
        .tcp_nodelay = !o->no_tcp_nodelay,
        .keepalive = o->keepalive_s > 0,
        .keepalive_idle_s = o->keepalive_s > 0 ? o->keepalive_s : 0,
    };
}

int rk_conn_start(rk_conn *c) {
    if (c->state == READY)
        return RK_OK;
    drop_socket(c);
    c->state = CLOSED;
    int rc = load_credentials(c);
    if (rc != RK_OK)
        return broken(c, rc);
    c->deadline = rk_net_deadline(c->o->connect_timeout_ms);
    rk_net_opts no = net_opts(c);
    rc = c->o->unix_path ? rk_net_unix_start(c->o->unix_path, &no, &c->t)
                         : rk_net_tcp_start(c->o->host, c->o->port, &no, &c->t);
    if (rc != RK_OK && rc != RK_EAGAIN)
        return broken(c, rc);
    c->state = CONNECTING;
    return rc == RK_EAGAIN ? RK_EAGAIN : rk_conn_step(c);
}

int rk_conn_step(rk_conn *c) {
    int rc;
    bool connecting = c->state == CONNECTING || c->state == TLS || c->state == HANDSHAKE;
    if (connecting && c->deadline >= 0 && rk_now_ms() >= c->deadline)
        return broken(c, rk_fail(RK_ETIMEOUT, "timed out connecting to %s",
                                 c->t ? rk_transport_peer(c->t) : "the server"));
    switch (c->state) {
    case CONNECTING:
        rc = rk_net_connect_finish(c->t);
        if (rc != RK_OK)
            return rc == RK_EAGAIN ? rc : broken(c, rc);
        if (c->o->tls.enabled) {
            const char *name = c->o->tls.server_name ? c->o->tls.server_name
                               : c->o->unix_path     ? NULL
                                                     : c->o->host;
            if ((rc = rk_net_tls_start(c->t, c->tls, name)) != RK_OK)
                return broken(c, rc);
            c->state = TLS;
            return rk_conn_step(c);
        }
        if ((rc = hs_begin(c, false)) != RK_OK)
            return broken(c, rc);
        return hs_progress(c);
    case TLS:
        rc = rk_net_tls_handshake(c->t);
        if (rc != RK_OK)
            return rc == RK_EAGAIN ? rc : broken(c, rc);
        if ((rc = hs_begin(c, false)) != RK_OK)
            return broken(c, rc);
        return hs_progress(c);
    case HANDSHAKE: return hs_progress(c);
    case READY: return RK_OK;
    default: return rk_fail(RK_ECLOSED, "connection is not connecting");
    }
}

/* ---- blocking wrappers ----------------------------------------------- */

static int want_events(const rk_conn *c) {
    int w = rk_conn_want(c), ev = 0;
    if (w & RK_WANT_READ)
        ev |= RK_NET_READ;
    if (w & RK_WANT_WRITE)
        ev |= RK_NET_WRITE;
    return ev;
}

int rk_conn_connect(rk_conn *c) {
    return rk_conn_connect_until(c, -1);
}

static int drive_to_ready(rk_conn *c, int rc);

int rk_conn_connect_until(rk_conn *c, int64_t deadline) {
    if (c->state == READY)
        return RK_OK;
    int rc = rk_conn_start(c);
    if (deadline >= 0 && (c->deadline < 0 || deadline < c->deadline))
        c->deadline = deadline;
    return drive_to_ready(c, rc);
}

/* After RESET the server has forgotten the connection's setup (protocol,
 * user, database, name): the handshake runs again on the same socket. */
int rk_conn_redo_handshake(rk_conn *c) {
    if (c->state != READY)
        return rk_fail(RK_ECLOSED, "the connection is not ready");
    c->pubsub = false;
    forget_modes(c);
    c->deadline = rk_net_deadline(c->o->connect_timeout_ms);
    int rc = load_credentials(c); /* the server forgot the user too */
    if (rc == RK_OK)
        rc = hs_begin(c, false);
    if (rc != RK_OK)
        return broken(c, rc);
    return drive_to_ready(c, hs_progress(c));
}

/* Steps a connecting connection until it is ready or fails. */
static int drive_to_ready(rk_conn *c, int rc) {
    while (rc == RK_EAGAIN) {
        int w = rk_transport_wait(c->t, want_events(c), c->deadline);
        if (w == RK_ETIMEOUT)
            return broken(
                c, rk_fail(RK_ETIMEOUT, "timed out connecting to %s", rk_transport_peer(c->t)));
        if (w != RK_OK)
            return broken(c, w);
        rc = rk_conn_step(c);
    }
    return rc;
}

/* Makes sure the connection can take a command. */
static int ensure_ready(rk_conn *c) {
    if (c->state == READY)
        return RK_OK;
    if (c->state == BROKEN)
        return rk_fail(RK_ECLOSED, "connection is broken; close it and connect again");
    return rk_conn_connect(c);
}

RK_HOT static int flush_until(rk_conn *c, int64_t deadline) {
    for (;;) {
        int rc = rk_conn_write_some(c);
        if (rc != RK_EAGAIN)
            return rc;
        int ev = rk_transport_want(c->t) == RK_NET_READ ? RK_NET_READ : RK_NET_WRITE;
        if ((rc = wait_ready(c, ev, deadline)) != RK_OK)
            return rc;
    }
}

int rk_conn_flush(rk_conn *c) {
    int rc = ensure_ready(c);
    return rc == RK_OK ? flush_until(c, rk_conn_deadline(c, 0)) : rc;
}

/* Waits up to the deadline for more bytes and reads them: on a plain
 * socket once connected, by waiting in recv itself (one system call where
 * poll and read take two). fresh says that nothing was read since the
 * request went out, so an attempt to read before waiting would only find
 * nothing. */
static int read_more(rk_conn *c, int64_t deadline, bool fresh) {
    if (c->t->blocking)
        return fill(c, true, deadline);
    int rc;
    if (!fresh || rk_transport_pending(c->t)) {
        rc = rk_conn_read_some(c);
        if (rc != RK_EAGAIN)
            return rc;
    }
    if ((rc = wait_ready(c, RK_NET_READ, deadline)) != RK_OK)
        return rc;
    rc = rk_conn_read_some(c);
    return rc == RK_EAGAIN ? RK_OK : rc;
}

/* Reads the next reply for the user, waiting up to the deadline. */
RK_HOT static int read_until(rk_conn *c, rk_reply *out, int64_t deadline) {
    if (c->pending == 0 && !c->pubsub)
        return rk_fail(RK_EINVAL, "no reply is expected on this connection");
    int rc;
    if (rk_writer_pending(c->wr) && (rc = flush_until(c, deadline)) != RK_OK)
        return rc;
    /* fresh: nothing read since the flush. With nothing buffered either
     * (an unpipelined call), no reply can be parsed before reading. */
    for (bool fresh = true;; fresh = false) {
        if (!fresh || rk_reader_buffered(c->rd) > 0) {
            rc = next_reply(c, out, false);
            if (rc < 0)
                return rc;
            if (rc == 1)
                break;
        }
        if ((rc = read_more(c, deadline, fresh)) != RK_OK)
            return rc;
    }
    if (c->pending > 0)
        c->pending--;
    if (rk_conn_has_stray(c)) /* the stream is out of step: never reuse it */
        broken(c, rk_fail(RK_EPROTO, "protocol error: a reply nobody asked for"));
    return out->type_ == RK_REPLY_ERROR ? rk_conn_server_error(out) : RK_OK;
}

int rk_conn_read(rk_conn *c, rk_reply *reply) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    int rc = ensure_ready(c);
    if (rc == RK_OK)
        rc = read_until(c, out, deadline_after(c, c->read_timeout_ms));
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}

RK_HOT int rk_conn_roundtrip(rk_conn *c, rk_reply *reply, int64_t deadline) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    int rc = read_until(c, out, deadline);
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}

RK_HOT int rk_conn_next(rk_conn *c, rk_reply *reply, bool borrowed) {
    memset(reply, 0, sizeof(*reply));
    if (c->state != READY)
        return c->state == BROKEN ? rk_fail(RK_ECLOSED, "connection is broken") : 0;
    int rc = next_reply(c, reply, borrowed);
    if (rc == 1 && c->pubsub) {
        if (c->pending > 0)
            c->pending--;
    } else if (rc == 1) {
        if (c->pending == 0) {
            rk_reply_free(reply);
            return broken(c, rk_fail(RK_EPROTO, "protocol error: a reply nobody asked for"));
        }
        c->pending--;
    }
    return rc;
}

/* ---- commands -------------------------------------------------------- */

/* Queues one command encoded by the caller's rk_writer_* call result. */
static int queued(rk_conn *c, int rc) {
    if (rc == RK_OK) {
        track_mode(c);
        note_block(c);
        expect_reply(c);
    }
    return rc;
}

static int check_open(rk_conn *c) {
    if (c->state == BROKEN)
        return rk_fail(RK_ECLOSED, "connection is broken; close it and connect again");
    return RK_OK;
}

int rk_conn_vappend(rk_conn *c, const char *fmt, va_list ap) {
    int rc = check_open(c);
    return rc == RK_OK ? queued(c, rk_writer_vformat(c->wr, fmt, ap)) : rc;
}

int rk_conn_append(rk_conn *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_conn_vappend(c, fmt, ap);
    va_end(ap);
    return rc;
}

int rk_conn_append_args(rk_conn *c, const char *arg0, ...) {
    int rc = check_open(c);
    if (rc != RK_OK)
        return rc;
    va_list ap;
    va_start(ap, arg0);
    rc = queued(c, rk_writer_vargs(c->wr, arg0, ap));
    va_end(ap);
    return rc;
}

int rk_conn_append_argv(rk_conn *c, const rk_str *argv, size_t argc) {
    int rc = check_open(c);
    return rc == RK_OK ? queued(c, rk_writer_argv(c->wr, argv, argc)) : rc;
}

/* The server refused the UNWATCH, EXEC or DISCARD just answered (rc a
 * server error): track_mode took it as done, but a refused UNWATCH leaves
 * the keys watched, and a refused DISCARD (an ACL without it) the MULTI
 * open. Only an EXEC's EXECABORT ends the transaction for sure; after any
 * other refusal the connection is no longer what it seems, and is never
 * pooled again (rk_conn_poolable). */
static void refused_mode_end(rk_conn *c, int rc) {
    if ((rc != RK_ESERVER && rc != RK_EAUTH) || rk_conn_is_broken(c))
        return;
    if (c->last_mode == RK_MODE_UNWATCH ||
        (c->last_mode == RK_MODE_TX_END && strcmp(rk_error_last()->prefix, "EXECABORT") != 0))
        c->modal = true;
}

/* Runs the command queued last (after everything queued before it). */
static int call_queued(rk_conn *c, rk_reply *reply, int rc) {
    if (rc != RK_OK) {
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return rc;
    }
    int64_t deadline = rk_conn_deadline(c, 0);
    rc = ensure_ready(c);
    if (rc != RK_OK || c->last_unreplied) { /* CLIENT REPLY OFF or SKIP: send only */
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return rc == RK_OK ? rk_conn_flush(c) : rc;
    }
    /* Replies to commands queued before this one are read and dropped,
     * error replies too: stopping at one would hand over the next earlier
     * command's reply as this one's. */
    while (c->pending > 1) {
        rc = rk_conn_roundtrip(c, NULL, deadline);
        if (rk_conn_is_broken(c)) {
            if (reply)
                memset(reply, 0, sizeof(*reply));
            return rc;
        }
    }
    rc = rk_conn_roundtrip(c, reply, deadline);
    refused_mode_end(c, rc);
    return rc;
}

int rk_conn_vcall(rk_conn *c, rk_reply *reply, const char *fmt, va_list ap) {
    return call_queued(c, reply, rk_conn_vappend(c, fmt, ap));
}

int rk_conn_call(rk_conn *c, rk_reply *reply, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_conn_vcall(c, reply, fmt, ap);
    va_end(ap);
    return rc;
}

int rk_conn_call_args(rk_conn *c, rk_reply *reply, const char *arg0, ...) {
    int rc = check_open(c);
    if (rc == RK_OK) {
        va_list ap;
        va_start(ap, arg0);
        rc = queued(c, rk_writer_vargs(c->wr, arg0, ap));
        va_end(ap);
    }
    return call_queued(c, reply, rc);
}

int rk_conn_call_argv(rk_conn *c, rk_reply *reply, const rk_str *argv, size_t argc) {
    return call_queued(c, reply, rk_conn_append_argv(c, argv, argc));
}

/* ---- pooled connections --------------------------------------------- */

/* The health check's PING must answer by the call's deadline; without
 * one, within the command timeout, or the connect timeout when there is no
 * command timeout (an unanswered PING must not hang a call for ever). */
static int64_t health_deadline(const rk_conn *c, int64_t deadline) {
    if (deadline >= 0)
        return deadline;
    return rk_net_deadline(c->timeout_ms > 0 ? c->timeout_ms : c->o->connect_timeout_ms);
}

RK_HOT int rk_conn_check_idle(rk_conn *c, int64_t deadline) {
    if (c->state != READY)
        return rk_fail(RK_ECLOSED, "connection is not ready");
    int64_t idle = rk_now_ms_coarse() - c->last_used;
    if (idle < IDLE_POLL_MS)
        return RK_OK;
    struct pollfd p = {.fd = rk_transport_fd(c->t), .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) > 0 || rk_transport_pending(c->t)) {
        /* Something arrived while idle: pushes are fine, anything else
         * (end of file, an error, a stray reply) is not. */
        int rc = rk_conn_read_some(c);
        if (rc != RK_OK && rc != RK_EAGAIN)
            return rc;
        rk_reply r;
        rc = next_reply(c, &r, true);
        if (rc != 0)
            return rc < 0 ? rc
                          : broken(c, rk_fail(RK_EPROTO, "unexpected data on an idle connection"));
    }
    if (c->o->health_check_ms > 0 && idle >= c->o->health_check_ms) {
        int rc = queued(c, rk_writer_args(c->wr, "PING", NULL));
        if (rc == RK_OK)
            rc = rk_conn_roundtrip(c, NULL, health_deadline(c, deadline));
        /* An error reply is an answer: the server is there (an ACL user
         * denied PING gets NOPERM, a busy script BUSY), and the command
         * the connection was taken for will get its own answer. */
        if (rc == RK_ESERVER && !rk_conn_is_broken(c))
            rc = RK_OK;
        if (rc != RK_OK)
            return rk_conn_is_broken(c) ? rc : broken(c, rc);
    }
    return RK_OK;
}

/* ---- for pipelines --------------------------------------------------- */

int rk_conn_send_iov(rk_conn *c, const struct iovec *iov, int n, size_t *written) {
    *written = 0;
    if (c->state != READY)
        return rk_fail(RK_ECLOSED, "connection is not ready");
    ssize_t w = rk_transport_writev(c->t, iov, n);
    if (w == RK_EAGAIN)
        return RK_EAGAIN;
    if (w < 0)
        return broken(c, (int)w);
    *written = (size_t)w;
    c->sent += (uint64_t)w;
    return RK_OK;
}

int rk_conn_wait(rk_conn *c, int want, int64_t deadline) {
    int ev = 0;
    if (want & RK_WANT_READ)
        ev |= RK_NET_READ;
    if (want & RK_WANT_WRITE)
        ev |= RK_NET_WRITE;
    if (c->t && (want & RK_WANT_WRITE) && rk_transport_want(c->t) == RK_NET_READ)
        ev |= RK_NET_READ; /* TLS may need to read before it can write */
    return wait_ready(c, ev, deadline);
}
