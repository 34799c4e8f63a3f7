/* Lua scripts and functions: rk_script (source plus SHA-1), run by EVALSHA
 * with a fallback to EVAL on NOSCRIPT, as redis-py's Script; SCRIPT LOAD;
 * EVALSHA queued in pipelines; FCALL, FCALL_RO and FUNCTION LOAD. Every
 * call is built into one argv (command, name, key count, keys, arguments)
 * and handed to rk_client_callv or rk_pipeline_append_argv. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "commands/script_int.h"
#include "util/common.h"

/* ---- the script object -------------------------------------------------- */

void rk_script_init(rk_script *s, const char *src, size_t len) {
    s->src = src;
    s->len = len;
    rk_sha1_hex(src, len, s->sha);
}

rk_script *rk_script_new(const char *source, size_t len) {
    if (source == NULL) {
        rk_fail(RK_EINVAL, "a script needs a source");
        return NULL;
    }
    rk_script *s = len < SIZE_MAX - sizeof(*s) ? rk_malloc(sizeof(*s) + len + 1) : NULL;
    if (s == NULL) {
        rk_fail(RK_ENOMEM, "out of memory making a script of %zu bytes", len);
        return NULL;
    }
    char *copy = (char *)(s + 1);
    memcpy(copy, source, len);
    copy[len] = '\0';
    rk_script_init(s, copy, len);
    return s;
}

void rk_script_free(rk_script *s) {
    rk_free(s);
}

const char *rk_script_sha(const rk_script *s) {
    return s->sha;
}

const char *rk_script_source(const rk_script *s, size_t *len) {
    if (len)
        *len = s->len;
    return s->src;
}

/* ---- building a call ---------------------------------------------------- */

/* n strings: v[i] of lens[i] bytes, or C strings when lens is NULL. */
typedef struct strs {
    int n;
    const char *const *v;
    const size_t *lens;
} strs;

/* Calls with up to this many words build their argv on the stack. */
#define SMALL_ARGC 16

/* The argv of `CMD name nkeys keys... args...`. argv and lens point at
 * the inline arrays, or at one allocation for a longer call. */
typedef struct call_argv {
    int argc;
    const char **argv;
    size_t *lens;
    char nkeys[12];
    const char *small_argv[SMALL_ARGC];
    size_t small_lens[SMALL_ARGC];
} call_argv;

static int check_strs(const strs *s, const char *what) {
    if (s->n < 0)
        return rk_fail(RK_EINVAL, "a script call needs a count of %s of 0 or more, not %d", what,
                       s->n);
    if (s->n > 0 && s->v == NULL)
        return rk_fail(RK_EINVAL, "a script call has %d %s but no array of them", s->n, what);
    return RK_OK;
}

/* Points argv and lens at room for argc words. */
static int argv_room(call_argv *a, int argc) {
    a->argc = argc;
    a->argv = a->small_argv;
    a->lens = a->small_lens;
    if (argc <= SMALL_ARGC)
        return RK_OK;
    size_t n = (size_t)argc;
    void *block = rk_malloc(n * (sizeof(*a->argv) + sizeof(*a->lens)));
    if (block == NULL)
        return rk_fail(RK_ENOMEM, "out of memory building a script call of %d words", argc);
    a->lens = block;
    a->argv = (const char **)(a->lens + n);
    return RK_OK;
}

static void put_strs(call_argv *a, int at, const strs *s) {
    for (int i = 0; i < s->n; i++) {
        a->argv[at + i] = s->v[i];
        a->lens[at + i] = s->lens ? s->lens[i] : strlen(s->v[i]);
    }
}

/* Builds `cmd name nkeys keys... args...` into *a; free it with
 * argv_release, also after a failure. */
static int argv_build(call_argv *a, const char *cmd, const char *name, size_t name_len,
                      const strs *keys, const strs *args) {
    a->argv = a->small_argv; /* for argv_release after an early failure */
    int rc = check_strs(keys, "keys");
    if (rc == RK_OK)
        rc = check_strs(args, "arguments");
    if (rc == RK_OK && keys->n > INT_MAX - 3 - args->n)
        rc = rk_fail(RK_EINVAL, "a script call of %d keys and %d arguments is too long", keys->n,
                     args->n);
    if (rc == RK_OK)
        rc = argv_room(a, 3 + keys->n + args->n);
    if (rc != RK_OK)
        return rc;
    snprintf(a->nkeys, sizeof a->nkeys, "%d", keys->n);
    a->argv[0] = cmd;
    a->lens[0] = strlen(cmd);
    a->argv[1] = name;
    a->lens[1] = name_len;
    a->argv[2] = a->nkeys;
    a->lens[2] = strlen(a->nkeys);
    put_strs(a, 3, keys);
    put_strs(a, 3 + keys->n, args);
    return RK_OK;
}

static void argv_release(call_argv *a) {
    if (a->argv != a->small_argv)
        rk_free(a->lens); /* the block starts with lens */
}

/* ---- running scripts ---------------------------------------------------- */

static bool is_noscript(const rk_reply *r) {
    return rk_reply_type(r) == RK_REPLY_ERROR && rk_reply_len(r) >= 8 &&
           memcmp(rk_reply_str(r), "NOSCRIPT", 8) == 0;
}

/* EVALSHA; on NOSCRIPT, EVAL with the same keys and arguments. */
static int run_script(rk_client *c, const rk_script *s, const rk_call_opts *o, const strs *keys,
                      const strs *args, rk_reply *reply) {
    call_argv a;
    int rc = argv_build(&a, "EVALSHA", s->sha, RK_SHA1_HEX_LEN, keys, args);
    rk_reply r = {0}; /* the caller's reply may be NULL; NOSCRIPT must be seen */
    if (rc == RK_OK)
        rc = rk_client_callv(c, &r, o, a.argc, a.argv, a.lens);
    if (rc == RK_ESERVER && is_noscript(&r)) {
        rk_reply_free(&r);
        a.argv[0] = "EVAL";
        a.lens[0] = 4;
        a.argv[1] = s->src;
        a.lens[1] = s->len;
        rc = rk_client_callv(c, &r, o, a.argc, a.argv, a.lens);
    }
    argv_release(&a);
    if (reply)
        *reply = r;
    else
        rk_reply_free(&r);
    return rc;
}

int rk_script_run_opts(rk_client *c, const rk_script *s, const rk_call_opts *opts, int nkeys,
                       const char *const *keys, const size_t *keylens, int nargs,
                       const char *const *args, const size_t *arglens, rk_reply *reply) {
    strs k = {nkeys, keys, keylens}, v = {nargs, args, arglens};
    return run_script(c, s, opts, &k, &v, reply);
}

int rk_script_run(rk_client *c, const rk_script *s, int nkeys, const char *const *keys,
                  const size_t *keylens, int nargs, const char *const *args, const size_t *arglens,
                  rk_reply *reply) {
    return rk_script_run_opts(c, s, NULL, nkeys, keys, keylens, nargs, args, arglens, reply);
}

int rk_script_preload(rk_client *c, const rk_script *s) {
    const char *argv[] = {"SCRIPT", "LOAD", s->src};
    const size_t lens[] = {6, 4, s->len};
    rk_reply r;
    int rc = rk_client_callv(c, &r, NULL, 3, argv, lens);
    if (rc == RK_OK &&
        (rk_reply_type(&r) != RK_REPLY_STRING || rk_reply_len(&r) != RK_SHA1_HEX_LEN ||
         memcmp(rk_reply_str(&r), s->sha, RK_SHA1_HEX_LEN) != 0))
        rc = rk_fail(RK_EPROTO, "SCRIPT LOAD did not answer the script's SHA-1 %s", s->sha);
    rk_reply_free(&r);
    return rc;
}

int rk_script_append(rk_pipeline *p, const rk_script *s, int nkeys, const char *const *keys,
                     const size_t *keylens, int nargs, const char *const *args,
                     const size_t *arglens) {
    strs k = {nkeys, keys, keylens}, v = {nargs, args, arglens};
    call_argv a;
    int rc = argv_build(&a, "EVALSHA", s->sha, RK_SHA1_HEX_LEN, &k, &v);
    if (rc == RK_OK)
        rc = rk_pipeline_append_argv(p, a.argc, a.argv, a.lens);
    argv_release(&a);
    return rc;
}
