/* Cursor iterators over SCAN, SSCAN, HSCAN and ZSCAN (rediskit/scan.h).
 *
 * The iterator keeps the cursor to send next and the last batch's reply,
 * whose elements it hands out one (or one pair) at a time. A batch is
 * checked whole before any of it is handed out, so a malformed reply (or a
 * cursor that does not move) ends in RK_EPROTO instead of a bad element or
 * an endless walk. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "rediskit/scan.h"
#include "resp/command_int.h"
#include "resp/resp_int.h"
#include "util/common.h"

/* Invariant: when have_batch, batch is an array [cursor, elements] that
 * passed check_batch; sent is the cursor that fetched it, cursor the one
 * it returned (0: it was the last), pos the next element of elems. When
 * not have_batch, batch is nil and cursor is the next batch to fetch. */
struct rk_scanner {
    rk_client *client;
    rk_scan_kind kind;
    long count;
    const char *key, *match, *type; /* copies after the struct, or NULL */
    size_t key_len, match_len, type_len;
    rk_reply batch;
    const rk_reply *elems;
    size_t pos;
    bool have_batch;
    unsigned long long sent, cursor;
};

static const char *const commands[] = {"SCAN", "SSCAN", "HSCAN", "ZSCAN"};

/* Elements per item: 2 for field/value and member/score pairs. */
static size_t step_of(rk_scan_kind kind) {
    return kind == RK_SCAN_HASH || kind == RK_SCAN_ZSET ? 2 : 1;
}

static int check_opts(const rk_scanner_opts *o) {
    if (o == NULL)
        return rk_fail(RK_EINVAL, "rk_scanner_new needs options");
    if ((unsigned)o->kind > RK_SCAN_ZSET)
        return rk_fail(RK_EINVAL, "unknown scan kind %d", (int)o->kind);
    if (o->kind == RK_SCAN_KEYS && o->key != NULL)
        return rk_fail(RK_EINVAL, "SCAN takes no key");
    if (o->kind != RK_SCAN_KEYS && o->key == NULL)
        return rk_fail(RK_EINVAL, "%s needs a key", commands[o->kind]);
    if (o->kind != RK_SCAN_KEYS && o->type != NULL)
        return rk_fail(RK_EINVAL, "TYPE is for SCAN only, not %s", commands[o->kind]);
    if (o->count < 0)
        return rk_fail(RK_EINVAL, "scan count must not be negative, not %ld", o->count);
    return RK_OK;
}

static size_t len_or_strlen(const char *s, size_t len) {
    return s == NULL || len > 0 ? len : strlen(s);
}

/* Copies s (len bytes) to *at, NUL-terminated, and moves *at past it. */
static const char *copy_to(char **at, const char *s, size_t len) {
    if (s == NULL)
        return NULL;
    char *dst = *at;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *at += len + 1;
    return dst;
}

/* The iterator and copies of its strings, in one allocation. */
rk_scanner *(rk_scanner_new)(rk_client *client, const rk_scanner_opts *given, size_t opts_size) {
    if (client == NULL) {
        rk_fail(RK_EINVAL, "rk_scanner_new needs a client");
        return NULL;
    }
    rk_scanner_opts settled;
    const rk_scanner_opts *opts = given ? &settled : NULL;
    if (rk_opts_settle(&settled, sizeof(settled), given, opts_size, "rk_scanner_opts") != RK_OK ||
        check_opts(opts) != RK_OK)
        return NULL;
    size_t key_len = len_or_strlen(opts->key, opts->key_len);
    size_t match_len = len_or_strlen(opts->match, opts->match_len);
    size_t type_len = len_or_strlen(opts->type, 0);
    rk_scanner *it = rk_malloc(sizeof *it + key_len + match_len + type_len + 3);
    if (it == NULL) {
        rk_fail(RK_ENOMEM, "out of memory for a scan iterator");
        return NULL;
    }
    *it = (rk_scanner){.client = client,
                       .kind = opts->kind,
                       .count = opts->count,
                       .key_len = key_len,
                       .match_len = match_len,
                       .type_len = type_len,
                       .cursor = opts->cursor};
    char *at = (char *)(it + 1);
    it->key = copy_to(&at, opts->key, key_len);
    it->match = copy_to(&at, opts->match, match_len);
    it->type = copy_to(&at, opts->type, type_len);
    return it;
}

void rk_scanner_free(rk_scanner *it) {
    if (it == NULL)
        return;
    rk_reply_free(&it->batch);
    rk_free(it);
}

unsigned long long rk_scanner_cursor(const rk_scanner *it) {
    if (it == NULL)
        return 0;
    if (it->have_batch && it->pos < rk_reply_len(it->elems))
        return it->sent;
    return it->cursor;
}

/* A cursor: 1 to 20 decimal digits that fit in 64 bits. */
static bool parse_cursor(const rk_reply *r, unsigned long long *out) {
    if (rk_reply_type(r) != RK_REPLY_STRING)
        return false;
    const char *s = rk_reply_str(r);
    size_t n = rk_reply_len(r);
    if (n == 0 || n > 20)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || v > (~0ULL - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* A ZSCAN score: a bulk string ("-1.5", "inf"), or a RESP3 double. */
static bool parse_score(const rk_reply *r, double *out) {
    switch (rk_reply_type(r)) {
    case RK_REPLY_STRING:
        return rk_parse_double(rk_reply_str(r), rk_reply_len(r), out) == 0 && !isnan(*out);
    case RK_REPLY_DOUBLE:
    case RK_REPLY_INTEGER: *out = rk_reply_double(r); return !isnan(*out);
    default: return false;
    }
}

/* Whether every element of a batch is what the command sends. */
static bool elements_ok(rk_scan_kind kind, const rk_reply *elems) {
    size_t n = rk_reply_len(elems);
    if (n % step_of(kind) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        const rk_reply *e = rk_reply_at(elems, i);
        double score;
        bool ok = kind == RK_SCAN_ZSET && i % 2 == 1 ? parse_score(e, &score)
                                                     : rk_reply_type(e) == RK_REPLY_STRING;
        if (!ok)
            return false;
    }
    return true;
}

/* Checks the shape [cursor, [elements...]] and takes the cursor. */
static int check_batch(rk_scanner *it, unsigned long long *next) {
    const rk_reply *r = &it->batch;
    const char *cmd = commands[it->kind];
    if (rk_reply_type(r) != RK_REPLY_ARRAY)
        return rk_fail(RK_EPROTO, "%s reply is a %s, not an array", cmd,
                       rk_type_name(rk_reply_type(r)));
    if (rk_reply_len(r) != 2)
        return rk_fail(RK_EPROTO, "%s reply has %zu elements, not 2 (cursor, elements)", cmd,
                       rk_reply_len(r));
    if (!parse_cursor(rk_reply_at(r, 0), next))
        return rk_fail(RK_EPROTO, "%s reply's cursor is not a decimal string", cmd);
    /* A real server's cursor always moves (or ends at 0); one answered back
     * unchanged would fetch the same batch for ever. */
    if (*next != 0 && *next == it->cursor)
        return rk_fail(RK_EPROTO, "%s reply's cursor %llu is the one sent: the walk would not end",
                       cmd, *next);
    const rk_reply *elems = rk_reply_at(r, 1);
    rk_type t = rk_reply_type(elems);
    if (t != RK_REPLY_ARRAY && t != RK_REPLY_SET)
        return rk_fail(RK_EPROTO, "%s reply's elements are a %s, not an array", cmd,
                       rk_type_name(t));
    if (!elements_ok(it->kind, elems))
        return rk_fail(RK_EPROTO, "%s reply's elements are malformed (odd count or bad type)", cmd);
    return RK_OK;
}

/* Sends the command for it->cursor into it->batch. */
static int send_batch(rk_scanner *it) {
    rk_command cmd;
    rk_command_int *c = rk_command_begin(&cmd, commands[it->kind]);
    if (it->key != NULL)
        rk_arg_key(c, rk_bin(it->key, it->key_len));
    rk_arg_uint(c, it->cursor);
    if (it->match != NULL) {
        rk_arg_lit(c, "MATCH");
        rk_arg_str(c, rk_bin(it->match, it->match_len));
    }
    if (it->count > 0) {
        rk_arg_lit(c, "COUNT");
        rk_arg_int(c, it->count);
    }
    if (it->type != NULL) {
        rk_arg_lit(c, "TYPE");
        rk_arg_str(c, rk_bin(it->type, it->type_len));
    }
    int rc = rk_command_ready(&cmd, &c);
    if (rc == RK_OK) {
        rk_call_opts call = {.idempotent = true};
        rc = rk_client_call_argv_opts(it->client, &it->batch, &call, c->argv, c->argc);
    }
    rk_command_release(&cmd);
    return rc;
}

/* Replaces the batch with the next one. On failure the iterator is left
 * with no batch and the same cursor, so the next call fetches it again. */
static int fetch(rk_scanner *it) {
    rk_reply_free(&it->batch);
    it->have_batch = false;
    unsigned long long next = 0;
    int rc = send_batch(it);
    if (rc == RK_OK)
        rc = check_batch(it, &next);
    if (rc != RK_OK) {
        rk_reply_free(&it->batch);
        return rc;
    }
    it->elems = rk_reply_at(&it->batch, 1);
    it->pos = 0;
    it->have_batch = true;
    it->sent = it->cursor;
    it->cursor = next;
    return RK_OK;
}

/* Fills *item from the elements at it->pos and moves past them. */
static void take_item(rk_scanner *it, rk_scan_item *item) {
    const rk_reply *e = rk_reply_at(it->elems, it->pos);
    *item = (rk_scan_item){.str = rk_reply_str(e), .len = rk_reply_len(e)};
    if (it->kind == RK_SCAN_HASH) {
        const rk_reply *v = rk_reply_at(it->elems, it->pos + 1);
        item->value = rk_reply_str(v);
        item->value_len = rk_reply_len(v);
    } else if (it->kind == RK_SCAN_ZSET) {
        parse_score(rk_reply_at(it->elems, it->pos + 1), &item->score);
    }
    it->pos += step_of(it->kind);
}

/* Fetches until a batch has elements (MATCH and TYPE may leave batches
 * empty) or the server's cursor is back to 0. */
int rk_scanner_next(rk_scanner *it, rk_scan_item *item) {
    if (it == NULL || item == NULL)
        return rk_fail(RK_EINVAL, "rk_scanner_next: NULL %s", it ? "item" : "iterator");
    for (;;) {
        if (it->have_batch && it->pos < rk_reply_len(it->elems)) {
            take_item(it, item);
            return 1;
        }
        if (it->have_batch && it->cursor == 0)
            return 0;
        int rc = fetch(it);
        if (rc != RK_OK)
            return rc;
    }
}
