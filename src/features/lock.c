/* Distributed locks: rk_lock on one server (redis-py's Lock, plus a
 * watchdog thread that keeps a held lock alive and fencing tokens) and
 * rk_redlock over several independent servers (the Redlock algorithm).
 * Whatever must check the owner's token runs as a Lua script through
 * rk_script_run (EVALSHA, falling back to EVAL on NOSCRIPT). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#include "commands/script_int.h"
#include "features/lock_int.h"
#include "rediskit/lock.h"
#include "util/common.h"

#define TOKEN_SIZE RK_LOCK_TOKEN_SIZE

/* ---- scripts ------------------------------------------------------------ */

/* KEYS[1] lock, ARGV[1] token. 1: deleted; 0: the token is not there. */
static const char release_src[] = "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                                  "redis.call('del', KEYS[1])\n"
                                  "return 1\n";

/* KEYS[1] lock, ARGV[1] token, ARGV[2] ms, ARGV[3] "1": set the time left
 * to ms, "0": add ms to it. 1: done; 0: the token is not there; 2: the key
 * has no TTL (someone PERSISTed it), nothing done. */
static const char extend_src[] = "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                                 "local left = redis.call('pttl', KEYS[1])\n"
                                 "if left < 0 then return 2 end\n"
                                 "local ttl = tonumber(ARGV[2])\n"
                                 "if ARGV[3] == '0' then ttl = ttl + left end\n"
                                 "redis.call('pexpire', KEYS[1], ttl)\n"
                                 "return 1\n";

/* KEYS[1] lock, KEYS[2] fence counter, ARGV[1] token, ARGV[2] TTL in ms
 * ("0": none). The fencing token, or 0 when the lock is held. A script is
 * not rolled back when it raises an error, so when the counter cannot give
 * a positive token (INCR refused it: not a number, wrong type; or someone
 * set it below zero, and 0 would read as "held") the script deletes the
 * lock it has just set before answering an error: a failed acquire must
 * not leave the key taken. */
static const char acquire_src[] =
    "local ok\n"
    "if ARGV[2] == '0' then\n"
    "  ok = redis.call('set', KEYS[1], ARGV[1], 'NX')\n"
    "else\n"
    "  ok = redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])\n"
    "end\n"
    "if not ok then return 0 end\n"
    "local fence = redis.pcall('incr', KEYS[2])\n"
    "if type(fence) == 'number' and fence > 0 then return fence end\n"
    "redis.call('del', KEYS[1])\n"
    "if type(fence) == 'table' then return fence end\n"
    "return redis.error_reply('ERR fencing counter ' .. KEYS[2] .. ' is not positive')\n";

/* The scripts above, named (SHA-1) once per process. */
static rk_script release_script, extend_script, acquire_script;
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void) {
    rk_script_init(&release_script, release_src, sizeof release_src - 1);
    rk_script_init(&extend_script, extend_src, sizeof extend_src - 1);
    rk_script_init(&acquire_script, acquire_src, sizeof acquire_src - 1);
}

static void script_cmd(rk_lock_cmd *c, const rk_script *s, size_t nkeys, size_t nargs) {
    pthread_once(&scripts_once, scripts_init);
    c->script = s;
    c->nkeys = nkeys;
    c->nargs = nargs;
}

void rk_lock_acquire_cmd(rk_lock_cmd *c, const char *name, const char *fence_key, const char *token,
                         int ttl_ms) {
    snprintf(c->num, sizeof c->num, "%d", ttl_ms > 0 ? ttl_ms : 0);
    if (fence_key) {
        c->keys[0] = rk_cstr(name);
        c->keys[1] = rk_cstr(fence_key);
        c->args[0] = rk_cstr(token);
        c->args[1] = rk_cstr(c->num);
        script_cmd(c, &acquire_script, 2, 2);
        return;
    }
    const rk_str set[] = {RK_STR("SET"), rk_cstr(name), rk_cstr(token),
                          RK_STR("NX"),  RK_STR("PX"),  rk_cstr(c->num)};
    memcpy(c->keys, set, sizeof set);
    c->script = NULL;
    c->nkeys = ttl_ms > 0 ? 6 : 4;
    c->nargs = 0;
}

void rk_lock_release_cmd(rk_lock_cmd *c, const char *name, const char *token) {
    c->keys[0] = rk_cstr(name);
    c->args[0] = rk_cstr(token);
    script_cmd(c, &release_script, 1, 1);
}

void rk_lock_extend_cmd(rk_lock_cmd *c, const char *name, const char *token, long long ms,
                        bool replace) {
    snprintf(c->num, sizeof c->num, "%lld", ms);
    c->keys[0] = rk_cstr(name);
    c->args[0] = rk_cstr(token);
    c->args[1] = rk_cstr(c->num);
    c->args[2] = replace ? RK_STR("1") : RK_STR("0");
    script_cmd(c, &extend_script, 1, 3);
}

int rk_lock_set_answer(const char *name, int status, const rk_reply *reply) {
    if (status == RK_NIL || (status == RK_OK && rk_reply_type(reply) == RK_REPLY_NIL))
        return RK_ELOCKED;
    if (status != RK_OK ||
        (rk_reply_type(reply) == RK_REPLY_STATUS && strcmp(rk_reply_str(reply), "OK") == 0))
        return status;
    return rk_fail(RK_EPROTO, "SET NX of lock \"%s\" answered a %s, not OK or nil", name,
                   rk_type_name(rk_reply_type(reply)));
}

/* RK_EPROTO for a script answer that none of our scripts gives. */
static int odd_answer(const char *name, const char *what, long long answer) {
    return rk_fail(RK_EPROTO, "the %s script of lock \"%s\" answered %lld, which it never does",
                   what, name, answer);
}

int rk_lock_release_answer(const char *name, long long answer) {
    if (answer == 1)
        return RK_OK;
    if (answer != 0)
        return odd_answer(name, "release", answer);
    return rk_fail(RK_ENOTOWNER, "lock \"%s\" is not held by this owner (it expired or was taken)",
                   name);
}

int rk_lock_extend_answer(const char *name, long long answer) {
    if (answer == 2)
        return rk_fail(RK_EINVAL, "lock \"%s\" lost its TTL (PERSIST?); not extended", name);
    if (answer != 0 && answer != 1)
        return odd_answer(name, "extend", answer);
    return rk_lock_release_answer(name, answer);
}

int rk_lock_fence_answer(const char *name, long long fence) {
    if (fence > 0)
        return RK_OK;
    return fence == 0 ? RK_ELOCKED : odd_answer(name, "fencing acquire", fence);
}

/* Runs the script command c (rk_script_run_opts); its integer answer goes
 * to *out. */
static int script_int(rk_client *cl, const rk_call_opts *o, const rk_lock_cmd *c, long long *out) {
    rk_reply r;
    int rc = rk_script_run_opts(cl, c->script, o, c->keys, c->nkeys, c->args, c->nargs, &r);
    if (rc == RK_OK && rk_reply_type(&r) != RK_REPLY_INTEGER)
        rc = rk_fail(RK_EPROTO, "lock script answered a %s, not an integer",
                     rk_type_name(rk_reply_type(&r)));
    if (rc == RK_OK)
        *out = rk_reply_int(&r);
    rk_reply_free(&r);
    return rc;
}

/* Runs the extend script for key/token: ms and replace as rk_lock_extend.
 * Returns its answer (0, 1, 2) in *answer. */
static int run_extend(rk_client *c, const rk_call_opts *o, const char *key, const char *token,
                      long long ms, bool replace, long long *answer) {
    rk_lock_cmd cmd;
    rk_lock_extend_cmd(&cmd, key, token, ms, replace);
    return script_int(c, o, &cmd, answer);
}

static int run_release(rk_client *c, const rk_call_opts *o, const char *key, const char *token,
                       long long *answer) {
    rk_lock_cmd cmd;
    rk_lock_release_cmd(&cmd, key, token);
    return script_int(c, o, &cmd, answer);
}

/* ---- randomness --------------------------------------------------------- */

static int urandom_bytes(unsigned char *buf, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rk_fail(RK_EIO, "cannot open /dev/urandom: %s", strerror(errno));
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            close(fd);
            return rk_fail(RK_EIO, "cannot read /dev/urandom");
        }
        got += (size_t)k;
    }
    close(fd);
    return RK_OK;
}

/* n bytes from the kernel's random source (getrandom(2), else
 * /dev/urandom). */
static int random_bytes(void *buf, size_t n) {
#ifdef __linux__
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(p + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return urandom_bytes(p + got, n - got); /* ENOSYS: an old kernel */
        got += (size_t)k;
    }
    return RK_OK;
#else
    return urandom_bytes(buf, n);
#endif
}

int rk_lock_new_token(char out[TOKEN_SIZE]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char bits[RK_LOCK_TOKEN_LEN / 2];
    int rc = random_bytes(bits, sizeof bits);
    if (rc != RK_OK)
        return rc;
    for (size_t i = 0; i < sizeof bits; i++) {
        out[2 * i] = hex[bits[i] >> 4];
        out[2 * i + 1] = hex[bits[i] & 15];
    }
    out[RK_LOCK_TOKEN_LEN] = '\0';
    return RK_OK;
}

/* A random pause in [max/2, max] ms. */
static void random_pause(int max_ms) {
    unsigned r = 0;
    if (random_bytes(&r, sizeof r) != RK_OK)
        r = (unsigned)rk_now_us();
    int half = max_ms / 2;
    rk_sleep_ms(half + (int)(r % (unsigned)(max_ms - half + 1)));
}

/* ---- rk_lock ------------------------------------------------------------ */

/* The watchdog's thread and how to stop it. Only the owner's thread
 * starts and joins it; `stop` is shared, under mu. */
typedef struct watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC, as rk_now_ms */
    bool ready;        /* mu and cv initialised */
    bool started;      /* a thread runs, or ended and is not yet joined */
    bool stop;
} watchdog;

/* While the object holds the lock, token is non-empty and the fields the
 * watchdog reads (token, acquired_ms, name, o) do not change: the owner's
 * thread changes them only with the watchdog stopped. */
struct rk_lock {
    rk_client *client;
    rk_lock_opts o; /* settled; o.fence_key points into the block below */
    const char *name;
    char token[TOKEN_SIZE]; /* "" when not held */
    long long fence;        /* of this acquisition; 0 without fencing */
    int64_t acquired_ms;    /* when the winning SET was sent */
    atomic_bool lost;       /* set by the watchdog */
    watchdog wd;
    /* name and fence key follow, NUL-terminated */
};

static bool held(const rk_lock *l) {
    return l->token[0] != '\0';
}

/* Redis Cluster hashes only what lies between the first '{' and the next
 * '}', when that is not empty. */
static bool has_hash_tag(const char *key) {
    const char *open = strchr(key, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    return close != NULL && close > open + 1;
}

/* Writes the default fence key of name into out (room for len(name) + 9):
 * "{name}:fence", so that it shares the lock's slot, unless name has a tag
 * already, or a '}' that would cut the tag short: then "name:fence". */
static void default_fence_key(const char *name, char *out, size_t size) {
    if (has_hash_tag(name) || strchr(name, '}') != NULL)
        snprintf(out, size, "%s:fence", name);
    else
        snprintf(out, size, "{%s}:fence", name);
}

int rk_lock_settle(rk_lock_opts *o, const rk_lock_opts *opts, size_t opts_size, const char *name,
                   size_t *names_size) {
    int rc = rk_opts_settle(o, sizeof(*o), opts, opts_size, "rk_lock_opts");
    if (rc != RK_OK)
        return rc;
    if (name == NULL || name[0] == '\0')
        return rk_fail(RK_EINVAL, "a lock needs a non-empty name");
    if (o->ttl_ms == 0)
        o->ttl_ms = RK_LOCK_DEFAULT_TTL_MS;
    if (o->sleep_ms <= 0)
        o->sleep_ms = RK_LOCK_DEFAULT_SLEEP_MS;
    if (o->blocking_timeout_ms < 0)
        return rk_fail(RK_EINVAL, "lock blocking_timeout_ms must not be negative");
    if (o->watchdog && o->ttl_ms < 3)
        return rk_fail(RK_EINVAL, "a lock watchdog needs a TTL of 3 ms or more");
    size_t name_size = strlen(name) + 1;
    *names_size = name_size + (o->fence_key ? strlen(o->fence_key) + 1 : name_size + 8);
    return RK_OK;
}

const char *rk_lock_copy_names(char *block, const char *name, rk_lock_opts *o) {
    size_t name_size = strlen(name) + 1;
    char *fence = block + name_size;
    memcpy(block, name, name_size);
    if (o->fence_key)
        memcpy(fence, o->fence_key, strlen(o->fence_key) + 1);
    else
        default_fence_key(name, fence, name_size + 8);
    o->fence_key = fence;
    return block;
}

static int watchdog_init(watchdog *w) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return rk_fail(RK_ENOMEM, "cannot make the lock watchdog's condition");
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int err = pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (err != 0)
        return rk_fail(RK_ENOMEM, "cannot make the lock watchdog's condition");
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        pthread_cond_destroy(&w->cv);
        return rk_fail(RK_ENOMEM, "cannot make the lock watchdog's mutex");
    }
    w->ready = true;
    return RK_OK;
}

rk_lock *(rk_lock_new)(rk_client *client, const char *name, const rk_lock_opts *opts,
                       size_t opts_size) {
    rk_lock_opts o;
    size_t names_size = 0;
    if (client == NULL) {
        rk_fail(RK_EINVAL, "a lock needs a client and a non-empty name");
        return NULL;
    }
    if (rk_lock_settle(&o, opts, opts_size, name, &names_size) != RK_OK)
        return NULL;
    rk_lock *l = rk_calloc(1, sizeof(*l) + names_size);
    if (l == NULL) {
        rk_fail(RK_ENOMEM, "out of memory making a lock");
        return NULL;
    }
    l->name = rk_lock_copy_names((char *)(l + 1), name, &o);
    l->client = client;
    l->o = o;
    atomic_init(&l->lost, false);
    if (o.watchdog && watchdog_init(&l->wd) != RK_OK) {
        rk_free(l);
        return NULL;
    }
    return l;
}

/* ---- the watchdog ---- */

/* Sleeps until at_ms (rk_now_ms's clock) or a stop request; false on stop. */
static bool watchdog_wait(watchdog *w, int64_t at_ms) {
    struct timespec at = {.tv_sec = (time_t)(at_ms / 1000),
                          .tv_nsec = (long)(at_ms % 1000) * 1000000L};
    pthread_mutex_lock(&w->mu);
    while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &at) != ETIMEDOUT)
        ;
    bool go = !w->stop;
    pthread_mutex_unlock(&w->mu);
    return go;
}

static void watchdog_lose(rk_lock *l, int error) {
    atomic_store(&l->lost, true);
    if (l->o.on_lost)
        l->o.on_lost(l->o.lost_userdata, l, error);
}

/* Resets the TTL every third of it. The lock is known to be held until
 * valid_until (the last successful reset's send time + TTL); a failed
 * reset (a failure, or an answer the script never gives: RK_EPROTO) is
 * tried again every tenth of the TTL until then, each bounded by the time
 * left. A refusal (the token is gone), or reaching valid_until, means it
 * is lost (told with RK_ENOTOWNER, or why the resets failed: the last
 * failure other than a timeout, if any). A key someone PERSISTed (answer
 * 2) is still ours. */
static void *watchdog_main(void *arg) {
    rk_lock *l = arg;
    int64_t ttl = l->o.ttl_ms;
    int64_t valid_until = l->acquired_ms + ttl;
    int64_t next = l->acquired_ms + ttl / 3;
    int failure = RK_ETIMEOUT; /* why resets failed since the last success */
    while (watchdog_wait(&l->wd, next)) {
        int64_t sent = rk_now_ms();
        int rc = RK_ETIMEOUT;
        long long answer = 0;
        if (sent < valid_until) {
            rk_call_opts o = {.no_retry = true, .timeout_ms = (int)(valid_until - sent)};
            rc = run_extend(l->client, &o, l->name, l->token, ttl, true, &answer);
        }
        if (rc == RK_OK && answer != 2) /* 2: a PERSISTed key, still ours */
            rc = rk_lock_extend_answer(l->name, answer);
        if (rc == RK_OK) {
            valid_until = sent + ttl;
            next = sent + ttl / 3;
            failure = RK_ETIMEOUT;
            continue;
        }
        if (rc == RK_ENOTOWNER) {
            watchdog_lose(l, RK_ENOTOWNER);
            break;
        }
        /* A try cut short by the little time left does not hide why the
         * earlier ones failed. */
        if (rc != RK_ETIMEOUT || failure == RK_ETIMEOUT)
            failure = rc;
        if (rk_now_ms() >= valid_until) {
            watchdog_lose(l, failure);
            break;
        }
        next = rk_now_ms() + RK_MAX(ttl / 10, 1);
    }
    return NULL;
}

static int watchdog_start(rk_lock *l) {
    l->wd.stop = false;
    if (pthread_create(&l->wd.thread, NULL, watchdog_main, l) != 0)
        return RK_ENOMEM;
    l->wd.started = true;
    return RK_OK;
}

/* Stops the watchdog, if one runs, and waits for its thread to end. */
static void watchdog_stop(rk_lock *l) {
    if (!l->wd.started)
        return;
    pthread_mutex_lock(&l->wd.mu);
    l->wd.stop = true;
    pthread_cond_signal(&l->wd.cv);
    pthread_mutex_unlock(&l->wd.mu);
    pthread_join(l->wd.thread, NULL);
    l->wd.started = false;
}

/* Stops the watchdog and drops this acquisition's state. */
static void forget(rk_lock *l) {
    watchdog_stop(l);
    l->token[0] = '\0';
    l->fence = 0;
    atomic_store(&l->lost, false);
}

void rk_lock_free(rk_lock *l) {
    if (l == NULL)
        return;
    forget(l);
    if (l->wd.ready) {
        pthread_mutex_destroy(&l->wd.mu);
        pthread_cond_destroy(&l->wd.cv);
    }
    rk_free(l);
}

/* ---- acquire ---- */

/* One try: RK_OK (with *fence), RK_ELOCKED, or a failure. */
static int try_acquire(rk_lock *l, const char *token, long long *fence) {
    rk_lock_cmd cmd;
    rk_lock_acquire_cmd(&cmd, l->name, l->o.fencing ? l->o.fence_key : NULL, token, l->o.ttl_ms);
    if (cmd.script) {
        int rc = script_int(l->client, NULL, &cmd, fence);
        return rc == RK_OK ? rk_lock_fence_answer(l->name, *fence) : rc;
    }
    rk_reply r;
    int rc = rk_client_call_argv_opts(l->client, &r, NULL, cmd.keys, cmd.nkeys);
    rc = rk_lock_set_answer(l->name, rc, &r);
    rk_reply_free(&r);
    *fence = 0;
    return rc;
}

bool rk_lock_may_have_run(int rc) {
    return rc == RK_EIO || rc == RK_ETIMEOUT || rc == RK_ECLOSED || rc == RK_EPROTO;
}

/* After a failed SET: when it may still have run, deletes the key if it
 * holds token, keeping the original failure as this thread's last error. */
static int abandon(rk_lock *l, const char *token, int rc) {
    if (!rk_lock_may_have_run(rc))
        return rc;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", rk_error_last()->message);
    long long answer;
    rk_call_opts o = {.no_retry = true};
    run_release(l->client, &o, l->name, token, &answer);
    return rk_fail(rc, "%s", msg);
}

int rk_lock_locked_elsewhere(const char *name, const rk_lock_opts *o) {
    if (o->non_blocking)
        return rk_fail(RK_ELOCKED, "lock \"%s\" is held by another owner", name);
    return rk_fail(RK_ELOCKED, "lock \"%s\" was still held by another owner after %d ms", name,
                   o->blocking_timeout_ms);
}

/* The lock is ours: records it and starts the watchdog. Without a
 * watchdog thread the lock is given back, as a caller counting on one must
 * not hold it. */
static int won(rk_lock *l, const char *token, long long fence, int64_t sent_ms) {
    memcpy(l->token, token, TOKEN_SIZE);
    l->fence = fence;
    l->acquired_ms = sent_ms;
    if (!l->o.watchdog || watchdog_start(l) == RK_OK)
        return RK_OK;
    long long answer;
    run_release(l->client, NULL, l->name, token, &answer);
    forget(l);
    return rk_fail(RK_ENOMEM, "cannot start the watchdog thread of lock \"%s\"", l->name);
}

/* RK_EINVAL for a call given no lock (or no place for its answer). */
static int no_lock(const char *fn) {
    return rk_fail(RK_EINVAL, "%s: NULL lock or answer pointer", fn);
}

int rk_lock_acquire(rk_lock *l) {
    if (l == NULL)
        return no_lock("rk_lock_acquire");
    if (held(l) && !atomic_load(&l->lost))
        return rk_fail(RK_EINVAL, "lock \"%s\" is held by this object already", l->name);
    forget(l);
    char token[TOKEN_SIZE];
    int rc = rk_lock_new_token(token);
    if (rc != RK_OK)
        return rc;
    int64_t deadline = l->o.blocking_timeout_ms ? rk_now_ms() + l->o.blocking_timeout_ms : 0;
    for (;;) {
        int64_t sent = rk_now_ms();
        long long fence;
        rc = try_acquire(l, token, &fence);
        if (rc == RK_OK)
            return won(l, token, fence, sent);
        if (rc != RK_ELOCKED)
            return abandon(l, token, rc);
        int64_t now = rk_now_ms();
        if (l->o.non_blocking || (deadline && now >= deadline))
            return rk_lock_locked_elsewhere(l->name, &l->o);
        rk_sleep_ms(deadline ? (int)RK_MIN(l->o.sleep_ms, deadline - now) : l->o.sleep_ms);
    }
}

/* ---- release, extend, queries ---- */

int rk_lock_release(rk_lock *l) {
    if (l == NULL)
        return no_lock("rk_lock_release");
    watchdog_stop(l);
    if (!held(l))
        return rk_fail(RK_ENOTOWNER, "lock \"%s\" is not held by this object", l->name);
    char token[TOKEN_SIZE];
    memcpy(token, l->token, TOKEN_SIZE);
    forget(l);
    long long answer;
    int rc = run_release(l->client, NULL, l->name, token, &answer);
    return rc == RK_OK ? rk_lock_release_answer(l->name, answer) : rc;
}

int rk_lock_extend_check(const char *name, int ttl_ms, long long ms, bool held) {
    if (ttl_ms < 0)
        return rk_fail(RK_EINVAL, "lock \"%s\" has no TTL to extend", name);
    if (ms <= 0)
        return rk_fail(RK_EINVAL, "a lock is extended by a positive time, not %lld ms", ms);
    return held ? RK_OK : rk_lock_release_answer(name, 0);
}

static int extend(rk_lock *l, long long ms, bool replace) {
    int rc = rk_lock_extend_check(l->name, l->o.ttl_ms, ms, held(l));
    long long answer;
    if (rc == RK_OK)
        rc = run_extend(l->client, NULL, l->name, l->token, ms, replace, &answer);
    return rc == RK_OK ? rk_lock_extend_answer(l->name, answer) : rc;
}

int rk_lock_extend(rk_lock *l, int ms, bool replace_ttl) {
    return l ? extend(l, ms, replace_ttl) : no_lock("rk_lock_extend");
}

int rk_lock_reacquire(rk_lock *l) {
    return l ? extend(l, l->o.ttl_ms, true) : no_lock("rk_lock_reacquire");
}

int rk_lock_owned(rk_lock *l, bool *owned) {
    if (l == NULL || owned == NULL)
        return no_lock("rk_lock_owned");
    *owned = false;
    if (!held(l) || atomic_load(&l->lost))
        return RK_OK;
    rk_reply r;
    int rc = rk_client_call_args(l->client, &r, "GET", l->name, NULL);
    if (rc == RK_OK)
        *owned = rk_reply_type(&r) == RK_REPLY_STRING && rk_reply_len(&r) == RK_LOCK_TOKEN_LEN &&
                 memcmp(rk_reply_str(&r), l->token, RK_LOCK_TOKEN_LEN) == 0;
    rk_reply_free(&r);
    return rc;
}

/* Runs `cmd name`, which answers an integer, into *out. */
static int key_int(rk_lock *l, const char *cmd, long long *out) {
    rk_reply r;
    int rc = rk_client_call_args(l->client, &r, cmd, l->name, NULL);
    if (rc == RK_OK && rk_reply_type(&r) != RK_REPLY_INTEGER)
        rc = rk_fail(RK_EPROTO, "%s answered a %s", cmd, rk_type_name(rk_reply_type(&r)));
    if (rc == RK_OK)
        *out = rk_reply_int(&r);
    rk_reply_free(&r);
    return rc;
}

int rk_lock_locked(rk_lock *l, bool *locked) {
    if (l == NULL || locked == NULL)
        return no_lock("rk_lock_locked");
    long long n = 0;
    int rc = key_int(l, "EXISTS", &n);
    *locked = n > 0;
    return rc;
}

int rk_lock_ttl(rk_lock *l, long long *ttl_ms) {
    if (l == NULL || ttl_ms == NULL)
        return no_lock("rk_lock_ttl");
    *ttl_ms = -2;
    return key_int(l, "PTTL", ttl_ms);
}

long long rk_lock_fence(const rk_lock *l) {
    return l ? l->fence : 0;
}

const char *rk_lock_token(const rk_lock *l) {
    return l && held(l) ? l->token : NULL;
}

const char *rk_lock_name(const rk_lock *l) {
    return l ? l->name : NULL;
}

/* ---- rk_redlock --------------------------------------------------------- */

struct rk_redlock {
    rk_client **clients;
    size_t n;
    rk_redlock_opts o;
    const char *name;
    char token[TOKEN_SIZE]; /* "" when not held */
    int *status;            /* per instance, of the last operation */
    int *scratch;           /* statuses of a clean-up after a failed round */
    /* clients, status, scratch and name follow */
};

/* The clock drift a Redlock allows for a TTL of ttl_ms. */
static long long drift_ms(int ttl_ms) {
    return ttl_ms / 100 + 2;
}

/* The validity left after a round that began at start_us, for a key set
 * with ttl_ms: the TTL less the time spent (at least 1 ms, rounded up)
 * and the clock drift allowed. */
static long long validity_after(int64_t start_us, int ttl_ms) {
    long long spent_ms = (long long)(rk_now_us() - start_us + 999) / 1000;
    return (long long)ttl_ms - spent_ms - drift_ms(ttl_ms);
}

/* RK_OK, or RK_EINVAL for a TTL that can leave no validity: one under
 * the drift allowed plus the 1 ms a round counts at least. */
static int check_redlock_ttl(int ttl_ms) {
    if (ttl_ms <= 1 + drift_ms(ttl_ms))
        return rk_fail(RK_EINVAL,
                       "a redlock TTL of %d ms leaves no validity after the clock drift "
                       "allowed (TTL/100 + 2 ms) and the time a round takes",
                       ttl_ms);
    return RK_OK;
}

rk_redlock *(rk_redlock_new)(rk_client *const *clients, size_t n, const char *name,
                             const rk_redlock_opts *opts, size_t opts_size) {
    rk_redlock_opts o;
    if (rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_redlock_opts") != RK_OK)
        return NULL;
    if (clients == NULL || n == 0 || name == NULL || name[0] == '\0' || o.ttl_ms < 0) {
        rk_fail(RK_EINVAL, "a redlock needs clients, a non-empty name and a positive TTL");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (clients[i] == NULL) {
            rk_fail(RK_EINVAL, "redlock client %zu is NULL", i);
            return NULL;
        }
    }
    o.ttl_ms = o.ttl_ms ? o.ttl_ms : RK_LOCK_DEFAULT_TTL_MS;
    if (check_redlock_ttl(o.ttl_ms) != RK_OK)
        return NULL;
    o.instance_timeout_ms =
        o.instance_timeout_ms > 0 ? o.instance_timeout_ms : RK_REDLOCK_DEFAULT_INSTANCE_TIMEOUT_MS;
    o.attempts = o.attempts > 0 ? o.attempts : RK_REDLOCK_DEFAULT_ATTEMPTS;
    o.retry_delay_ms = o.retry_delay_ms > 0 ? o.retry_delay_ms : RK_REDLOCK_DEFAULT_RETRY_DELAY_MS;
    size_t name_size = strlen(name) + 1;
    rk_redlock *rl =
        rk_calloc(1, sizeof(*rl) + n * (sizeof(rk_client *) + 2 * sizeof(int)) + name_size);
    if (rl == NULL) {
        rk_fail(RK_ENOMEM, "out of memory making a redlock");
        return NULL;
    }
    rl->clients = (rk_client **)(rl + 1);
    rl->status = (int *)(rl->clients + n);
    rl->scratch = rl->status + n;
    char *name_copy = (char *)(rl->scratch + n);
    memcpy(rl->clients, clients, n * sizeof(*clients));
    memcpy(name_copy, name, name_size);
    rl->n = n;
    rl->o = o;
    rl->name = name_copy;
    return rl;
}

void rk_redlock_free(rk_redlock *rl) {
    rk_free(rl);
}

static size_t quorum(const rk_redlock *rl) {
    return rl->n / 2 + 1;
}

static rk_call_opts instance_opts(const rk_redlock *rl) {
    return (rk_call_opts){.no_retry = true, .timeout_ms = rl->o.instance_timeout_ms};
}

/* SET NX PX on instance i: RK_OK, RK_ELOCKED or its failure. */
static int instance_set(rk_redlock *rl, size_t i, const char *token) {
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", rl->o.ttl_ms);
    const rk_str argv[] = {RK_STR("SET"), rk_cstr(rl->name), rk_cstr(token),
                           RK_STR("NX"),  RK_STR("PX"),      rk_cstr(ttl)};
    rk_call_opts o = instance_opts(rl);
    rk_reply r;
    int rc = rk_client_call_argv_opts(rl->clients[i], &r, &o, argv, 6);
    rc = rk_lock_set_answer(rl->name, rc, &r);
    rk_reply_free(&r);
    return rc;
}

/* A release (or with extend, an extend) script's answer on an instance
 * as a status: 1 is RK_OK, 0 (the token is gone) RK_ENOTOWNER, 2 (no TTL,
 * extend only) RK_EINVAL, anything else RK_EPROTO. */
static int answer_status(const rk_redlock *rl, int rc, long long answer, bool extend) {
    if (rc != RK_OK)
        return rc;
    return extend ? rk_lock_extend_answer(rl->name, answer)
                  : rk_lock_release_answer(rl->name, answer);
}

/* Releases token on every instance; the statuses go to status (n of them).
 * Returns how many released it. */
static size_t release_all(rk_redlock *rl, const char *token, int *status) {
    rk_call_opts o = instance_opts(rl);
    size_t released = 0;
    for (size_t i = 0; i < rl->n; i++) {
        long long answer = 0;
        int rc = run_release(rl->clients[i], &o, rl->name, token, &answer);
        status[i] = answer_status(rl, rc, answer, false);
        released += status[i] == RK_OK;
    }
    return released;
}

/* Why a round with `ok` successes failed, as one code with a message: a
 * refusal by some instance wins over transport failures. */
static int round_failure(const rk_redlock *rl, const char *what, size_t ok, long long validity) {
    int refusal = RK_OK, failure = RK_OK;
    size_t refused = 0, failed = 0;
    for (size_t i = 0; i < rl->n; i++) {
        int s = rl->status[i];
        if (s == RK_ELOCKED || s == RK_ENOTOWNER) {
            refusal = s;
            refused++;
        } else if (s != RK_OK) {
            failure = s;
            failed++;
        }
    }
    int code = ok >= quorum(rl) ? RK_ETIMEOUT : refusal ? refusal : failure ? failure : RK_ELOCKED;
    return rk_fail(code,
                   "redlock \"%s\": %s on %zu of %zu instances (quorum %zu), %zu refused, "
                   "%zu failed (last: %s), validity %lld ms",
                   rl->name, what, ok, rl->n, quorum(rl), refused, failed, rk_strerror(failure),
                   validity);
}

/* One round of acquisition with token; on failure it is released again. */
static int acquire_round(rk_redlock *rl, const char *token, long long *validity) {
    int64_t start = rk_now_us();
    size_t ok = 0;
    for (size_t i = 0; i < rl->n; i++) {
        rl->status[i] = instance_set(rl, i, token);
        ok += rl->status[i] == RK_OK;
    }
    *validity = validity_after(start, rl->o.ttl_ms);
    if (ok >= quorum(rl) && *validity > 0)
        return RK_OK;
    release_all(rl, token, rl->scratch); /* rl->status stays the round's */
    return round_failure(rl, "acquired", ok, *validity);
}

int rk_redlock_acquire(rk_redlock *rl, long long *validity_ms) {
    if (rl == NULL)
        return no_lock("rk_redlock_acquire");
    if (rl->token[0] != '\0')
        return rk_fail(RK_EINVAL, "redlock \"%s\" is held by this object already", rl->name);
    int rc = RK_ELOCKED;
    for (int attempt = 1; attempt <= rl->o.attempts; attempt++) {
        if (attempt > 1)
            random_pause(rl->o.retry_delay_ms);
        char token[TOKEN_SIZE];
        long long validity;
        rc = rk_lock_new_token(token);
        if (rc == RK_OK)
            rc = acquire_round(rl, token, &validity);
        if (rc == RK_OK) {
            memcpy(rl->token, token, TOKEN_SIZE);
            if (validity_ms)
                *validity_ms = validity;
            return RK_OK;
        }
    }
    return rc;
}

int rk_redlock_extend(rk_redlock *rl, int ttl_ms, long long *validity_ms) {
    if (rl == NULL)
        return no_lock("rk_redlock_extend");
    if (ttl_ms < 0)
        return rk_fail(RK_EINVAL, "a redlock TTL must be positive, not %d ms", ttl_ms);
    ttl_ms = ttl_ms ? ttl_ms : rl->o.ttl_ms;
    if (check_redlock_ttl(ttl_ms) != RK_OK)
        return RK_EINVAL;
    if (rl->token[0] == '\0')
        return rk_fail(RK_ENOTOWNER, "redlock \"%s\" is not held by this object", rl->name);
    rk_call_opts o = instance_opts(rl);
    int64_t start = rk_now_us();
    size_t ok = 0;
    for (size_t i = 0; i < rl->n; i++) {
        long long answer = 0;
        int rc = run_extend(rl->clients[i], &o, rl->name, rl->token, ttl_ms, true, &answer);
        rl->status[i] = answer_status(rl, rc, answer, true);
        ok += rl->status[i] == RK_OK;
    }
    long long validity = validity_after(start, ttl_ms);
    if (ok < quorum(rl) || validity <= 0)
        return round_failure(rl, "extended", ok, validity);
    if (validity_ms)
        *validity_ms = validity;
    return RK_OK;
}

int rk_redlock_release(rk_redlock *rl) {
    if (rl == NULL)
        return no_lock("rk_redlock_release");
    if (rl->token[0] == '\0')
        return rk_fail(RK_ENOTOWNER, "redlock \"%s\" is not held by this object", rl->name);
    char token[TOKEN_SIZE];
    memcpy(token, rl->token, TOKEN_SIZE);
    rl->token[0] = '\0';
    size_t released = release_all(rl, token, rl->status);
    if (released >= quorum(rl))
        return RK_OK;
    size_t refused = 0;
    int failure = RK_OK;
    for (size_t i = 0; i < rl->n; i++) {
        refused += rl->status[i] == RK_ENOTOWNER;
        failure = rl->status[i] != RK_OK && rl->status[i] != RK_ENOTOWNER ? rl->status[i] : failure;
    }
    /* Too few had the token: it expired, unless failures hid the answer. */
    int code = failure != RK_OK && released + refused < quorum(rl) ? failure : RK_ENOTOWNER;
    return rk_fail(code, "redlock \"%s\": released on %zu of %zu instances (quorum %zu)", rl->name,
                   released, rl->n, quorum(rl));
}

int rk_redlock_instance_status(const rk_redlock *rl, size_t i) {
    return rl && i < rl->n ? rl->status[i] : RK_EINVAL;
}

const char *rk_redlock_token(const rk_redlock *rl) {
    return rl && rl->token[0] != '\0' ? rl->token : NULL;
}
