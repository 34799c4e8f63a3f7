/* Lua scripts and functions: rk_script (source plus SHA-1), run by EVALSHA
 * with a fallback to EVAL on NOSCRIPT, as redis-py's Script; SCRIPT LOAD;
 * EVALSHA queued in pipelines. Every call is built into one rk_command
 * (command, name, key count, keys, arguments) and handed to
 * rk_client_call_argv_opts or rk_pipeline_add. */
#include <string.h>

#include "commands/script_int.h"
#include "resp/command_int.h"
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
    return s ? s->sha : NULL;
}

const char *rk_script_source(const rk_script *s, size_t *len) {
    if (len)
        *len = s ? s->len : 0;
    return s ? s->src : NULL;
}

/* RK_EINVAL for a call given no script, naming the function. */
static int no_script(const char *fn) {
    return rk_fail(RK_EINVAL, "%s: NULL script", fn);
}

/* ---- building a call ---------------------------------------------------- */

/* A list: n strings at v. */
typedef struct strs {
    const rk_str *v;
    size_t n;
} strs;

/* Builds `word name nkeys keys... args...`; release it with
 * rk_command_release, also after a failure. Returns its inside. */
static rk_command_int *build(rk_command *cmd, const char *word, const char *name, size_t name_len,
                             const strs *keys, const strs *args) {
    rk_command_int *c = rk_command_begin(cmd, word);
    rk_arg_str(c, rk_bin(name, name_len));
    rk_arg_uint(c, keys->n);
    rk_arg_strs(c, "key", NULL, keys->v, keys->n, true);
    rk_arg_strs(c, "argument", NULL, args->v, args->n, false);
    return c;
}

/* Sends a built command with per-call settings (not consuming it): the
 * caller's, o_size bytes (its sizeof), as given. */
static int call(rk_client *c, const rk_command_int *cmd, const rk_call_opts *o, size_t o_size,
                rk_reply *r) {
    return (rk_client_call_argv_opts)(c, r, o, cmd->argv, cmd->argc, o_size);
}

/* ---- running scripts ---------------------------------------------------- */

static bool is_noscript(const rk_reply *r) {
    return rk_reply_type(r) == RK_REPLY_ERROR && rk_reply_len(r) >= 8 &&
           memcmp(rk_reply_str(r), "NOSCRIPT", 8) == 0;
}

/* EVALSHA (EVALSHA_RO when read_only); on NOSCRIPT, EVAL (EVAL_RO) with
 * the same keys and arguments. */
static int run_script(rk_client *c, const rk_script *s, const rk_call_opts *o, size_t o_size,
                      const strs *keys, const strs *args, bool read_only, rk_reply *reply) {
    if (s == NULL) {
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return no_script(read_only ? "rk_script_run_ro" : "rk_script_run");
    }
    rk_command cmd;
    rk_command_int *in =
        build(&cmd, read_only ? "EVALSHA_RO" : "EVALSHA", s->sha, RK_SHA1_HEX_LEN, keys, args);
    rk_reply r = {0}; /* the caller's reply may be NULL; NOSCRIPT must be seen */
    int rc = rk_command_ready(&cmd, &in);
    if (rc == RK_OK)
        rc = call(c, in, o, o_size, &r);
    if (rc == RK_ESERVER && is_noscript(&r)) {
        rk_reply_free(&r);
        in->argv[0] = read_only ? RK_STR("EVAL_RO") : RK_STR("EVAL");
        in->argv[1] = rk_bin(s->src, s->len);
        rc = call(c, in, o, o_size, &r);
    }
    rk_command_release(&cmd);
    if (reply)
        *reply = r;
    else
        rk_reply_free(&r);
    return rc;
}

int(rk_script_run_opts)(rk_client *c, const rk_script *s, const rk_call_opts *opts,
                        const rk_str *keys, size_t nkeys, const rk_str *args, size_t nargs,
                        rk_reply *reply, size_t opts_size) {
    strs k = {keys, nkeys}, v = {args, nargs};
    return run_script(c, s, opts, opts_size, &k, &v, false, reply);
}

int rk_script_run(rk_client *c, const rk_script *s, const rk_str *keys, size_t nkeys,
                  const rk_str *args, size_t nargs, rk_reply *reply) {
    return rk_script_run_opts(c, s, NULL, keys, nkeys, args, nargs, reply);
}

int rk_script_run_ro(rk_client *c, const rk_script *s, const rk_str *keys, size_t nkeys,
                     const rk_str *args, size_t nargs, rk_reply *reply) {
    strs k = {keys, nkeys}, v = {args, nargs};
    return run_script(c, s, NULL, sizeof(rk_call_opts), &k, &v, true, reply);
}

int rk_script_preload(rk_client *c, const rk_script *s) {
    if (s == NULL)
        return no_script("rk_script_preload");
    const rk_str argv[] = {RK_STR("SCRIPT"), RK_STR("LOAD"), rk_bin(s->src, s->len)};
    rk_reply r;
    int rc = rk_client_call_argv_opts(c, &r, NULL, argv, 3);
    if (rc == RK_OK &&
        (rk_reply_type(&r) != RK_REPLY_STRING || rk_reply_len(&r) != RK_SHA1_HEX_LEN ||
         memcmp(rk_reply_str(&r), s->sha, RK_SHA1_HEX_LEN) != 0))
        rc = rk_fail(RK_EPROTO, "SCRIPT LOAD did not answer the script's SHA-1 %s", s->sha);
    rk_reply_free(&r);
    return rc;
}

int rk_script_append(rk_pipeline *p, const rk_script *s, const rk_str *keys, size_t nkeys,
                     const rk_str *args, size_t nargs) {
    if (s == NULL)
        return no_script("rk_script_append");
    strs k = {keys, nkeys}, v = {args, nargs};
    rk_command cmd;
    build(&cmd, "EVALSHA", s->sha, RK_SHA1_HEX_LEN, &k, &v);
    return rk_pipeline_add(p, &cmd);
}
