/* The shared steps of the generated typed commands (typed_int.h): how a
 * builder starts, settles its options and appends a list, and how a
 * convenience turns a reply into its one typed value. */
#include <string.h>

#include "commands/typed_int.h"
#include "meta/meta.h"
#include "resp/reply_int.h"
#include "util/common.h"

RK_HOT rk_command_int *rk_typed_begin(rk_command *cmd, const char *words, int row) {
    rk_command_int *c = rk_command_begin(cmd, words);
    if (c == NULL || c->argc == 0)
        return c;
    const char *sub = c->argc > 1 ? c->argv[1].ptr : NULL;
    size_t sublen = c->argc > 1 ? c->argv[1].len : 0;
    if (row >= 0 && (size_t)row < rk_meta_table_len &&
        rk_meta_name_is(c->argv[0].ptr, c->argv[0].len, sub, sublen, rk_meta_table[row].name))
        c->meta = &rk_meta_table[row];
    else
        c->meta = rk_meta_find(c->argv[0].ptr, c->argv[0].len, sub, sublen);
    return c;
}

RK_HOT bool rk_typed_opts(rk_command_int *cmd, void *dst, size_t dst_size, const void *src,
                          size_t src_size) {
    if (cmd == NULL)
        return false;
    if (rk_opts_settle(dst, dst_size, src, src_size, "options") == RK_OK)
        return true;
    rk_arg_invalid(cmd, rk_error_last()->message);
    return false;
}

void rk_arg_list(rk_command_int *cmd, const char *what, const char *each, const rk_str *v,
                 const char *const *cv, size_t n, bool key) {
    if (cv != NULL)
        rk_arg_cstrs(cmd, what, each, cv, n, key);
    else
        rk_arg_strs(cmd, what, each, v, n, key);
}

/* A reply of a type the command never sends. */
static int unexpected(const char *name, const rk_reply *r, const char *want) {
    return rk_fail(RK_EPROTO, "%s: expected %s, got a %s reply", name, want,
                   rk_type_name(rk_reply_type(r)));
}

int rk_typed_ok(int rc, rk_reply *r, const char *name) {
    if (rc == RK_OK && r->type_ != RK_REPLY_STATUS)
        rc = unexpected(name, r, "a status");
    rk_reply_free(r);
    return rc;
}

int rk_typed_integer(int rc, rk_reply *r, const char *name, long long *out) {
    if (rc == RK_OK && r->type_ != RK_REPLY_INTEGER)
        rc = unexpected(name, r, "an integer");
    if (rc == RK_OK && out)
        *out = r->u_.integer;
    rk_reply_free(r);
    return rc;
}

int rk_typed_number(int rc, rk_reply *r, const char *name, double *out) {
    if (rc == RK_OK && r->type_ != RK_REPLY_DOUBLE && r->type_ != RK_REPLY_INTEGER)
        rc = unexpected(name, r, "a number");
    if (rc == RK_OK && out)
        *out = rk_reply_double(r);
    rk_reply_free(r);
    return rc;
}

int rk_typed_string(int rc, rk_reply *r, const char *name, char **out, size_t *len) {
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (rc == RK_OK && r->type_ != RK_REPLY_STRING && r->type_ != RK_REPLY_STATUS &&
        r->type_ != RK_REPLY_VERBATIM)
        rc = unexpected(name, r, "a string");
    if (rc == RK_OK && len)
        *len = r->len_;
    if (rc == RK_OK && out && (*out = rk_reply_take_str(r)) == NULL)
        rc = rk_fail(RK_ENOMEM, "out of memory copying a %zu-byte reply", r->len_);
    rk_reply_free(r);
    return rc;
}
