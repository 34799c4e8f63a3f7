/* The command metadata table (src/meta): lookups by name, and key
 * extraction checked against the real server. For every Redis 7.0 command
 * with key specs, the sample argvs of tests/meta/samples.h (made from its
 * COMMAND DOCS arguments) go to COMMAND GETKEYS on Debian's redis-server and
 * through rk_meta_keys, which must agree; the test counts the commands it
 * covered. Also: the rows rk_meta_parse_entry reads from the server's own
 * COMMAND INFO against the table, learning the commands the table lacks
 * from a COMMAND INFO reply, and the table against what was recorded from
 * Redis 7.4.1 and the modules in ../shared/recorded (COMMAND and COMMAND
 * GETKEYS replies; those tests skip when the recordings are absent). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meta/meta.h"
#include "meta/samples.h"
#include "rediskit/conn.h"
#include "rediskit/error.h"
#include "rediskit/options.h"
#include "rediskit/reader.h"
#include "rediskit/reply.h"
#include "rkt_alloc.h"
#include "rkt_shared.h"
#include "rkt_skip.h"

enum { MAX_KEYS = 64 };
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const rk_meta_command *lookup(const char *name, const char *sub) {
    const rk_meta_command *cmd = NULL;
    int rc = rk_meta_lookup(name, strlen(name), sub, sub ? strlen(sub) : 0, &cmd);
    assert_int_equal(rc, RK_OK);
    assert_non_null(cmd);
    return cmd;
}

/* rk_meta_keys over a NULL-terminated list of arguments; the positions of
 * the keys go to pos (room for MAX_KEYS). */
static int keys_of(int *pos, const char *arg0, ...) {
    rk_str argv[32] = {rk_cstr(arg0)};
    size_t argc = 1;
    va_list ap;
    va_start(ap, arg0);
    for (const char *s; argc < 31 && (s = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = rk_cstr(s);
    va_end(ap);
    const rk_meta_command *cmd = NULL;
    assert_int_equal(rk_meta_lookup_argv(argv, argc, &cmd), RK_OK);
    rk_key_ref refs[MAX_KEYS];
    int n = rk_meta_keys(cmd, argv, argc, refs, MAX_KEYS);
    for (int i = 0; i < n && i < MAX_KEYS; i++)
        pos[i] = refs[i].pos;
    return n;
}

/* ---- lookups ------------------------------------------------------------ */

static void test_lookup_ignores_case_and_finds_subcommands(void **state) {
    (void)state;
    const rk_meta_command *get = lookup("gEt", NULL);
    assert_string_equal(get->name, "get");
    assert_int_equal(get->arity, 2);
    assert_true(get->flags & RK_META_CMD_READONLY);
    assert_true(get->servers & RK_META_REDIS_7_0);
    assert_string_equal(lookup("CONFIG", "Get")->name, "config|get");
    assert_string_equal(lookup("config", NULL)->name, "config");
    assert_string_equal(lookup("config", "get")->container, "config");
    assert_string_equal(lookup("GET", "ignored")->name, "get");
}

static void test_lookup_unknown_command_is_einval(void **state) {
    (void)state;
    const rk_meta_command *cmd = (const rk_meta_command *)1;
    assert_int_equal(rk_meta_lookup("nosuchcommand", 13, NULL, 0, &cmd), RK_EINVAL);
    assert_null(cmd);
    assert_int_equal(rk_meta_lookup("config", 6, "nosuch", 6, &cmd), RK_EINVAL);
    assert_int_equal(rk_meta_lookup("", 0, NULL, 0, &cmd), RK_EINVAL);
    assert_int_equal(rk_meta_lookup("config|get", 10, NULL, 0, &cmd), RK_EINVAL);
}

static void test_lookup_of_a_name_with_nul_bytes_is_einval(void **state) {
    (void)state;
    const rk_meta_command *cmd = NULL;
    assert_int_equal(rk_meta_lookup("get\0\0", 5, NULL, 0, &cmd), RK_EINVAL);
    assert_int_equal(rk_meta_lookup("config", 6, "get\0\0\0", 6, &cmd), RK_EINVAL);
    assert_int_equal(rk_meta_lookup("zzzzzzzz\0", 9, NULL, 0, &cmd), RK_EINVAL);
}

static void test_table_is_sorted_with_containers_and_every_source(void **state) {
    (void)state;
    uint32_t all = 0;
    for (size_t i = 0; i < rk_meta_table_len; i++) {
        if (i > 0)
            assert_true(strcmp(rk_meta_table[i - 1].name, rk_meta_table[i].name) < 0);
        all |= rk_meta_table[i].servers;
        const char *parent = rk_meta_table[i].container;
        if (parent)
            assert_true(lookup(parent, NULL)->flags & RK_META_CMD_CONTAINER);
    }
    assert_int_equal(all, RK_META_REDIS_7_0 | RK_META_REDIS_7_4 | RK_META_VALKEY_8_0 |
                              RK_META_BLOOM | RK_META_TIMESERIES | RK_META_SEARCH |
                              RK_META_REDISJSON | RK_META_VALKEYJSON | RK_META_VECTORSET);
}

static void test_table_has_policies_versions_and_servers(void **state) {
    (void)state;
    const rk_meta_command *keys = lookup("keys", NULL);
    assert_true(keys->tips & RK_META_TIP_REQUEST_POLICY_ALL_SHARDS);
    assert_true(lookup("dbsize", NULL)->tips & RK_META_TIP_RESPONSE_POLICY_AGG_SUM);
    assert_true(lookup("eval", NULL)->flags & RK_META_CMD_MAY_REPLICATE);
    assert_true(lookup("eval", NULL)->flags & RK_META_CMD_NOSCRIPT);
    assert_true(lookup("get", NULL)->acl & RK_META_ACL_STRING);
    assert_string_equal(lookup("getdel", NULL)->since, "6.2.0");
    const rk_meta_command *hexpire = lookup("hexpire", NULL);
    assert_int_equal(hexpire->servers, RK_META_REDIS_7_4);
    assert_string_equal(hexpire->since, "7.4.0");
    assert_true(lookup("bf.add", NULL)->servers & RK_META_BLOOM);
    assert_true(lookup("ft.search", NULL)->flags & RK_META_CMD_MODULE);
}

/* ---- key extraction without a server ------------------------------------ */

static void test_keys_of_movable_commands(void **state) {
    (void)state;
    int pos[MAX_KEYS];
    assert_int_equal(keys_of(pos, "EVAL", "s", "2", "a", "b", "x", NULL), 2);
    assert_int_equal(pos[0], 3);
    assert_int_equal(pos[1], 4);
    assert_int_equal(keys_of(pos, "EVAL", "s", "0", "x", NULL), 0);
    assert_int_equal(keys_of(pos, "xread", "COUNT", "1", "streams", "s1", "s2", "0", "0", NULL), 2);
    assert_int_equal(pos[0], 4);
    assert_int_equal(pos[1], 5);
    assert_int_equal(keys_of(pos, "ZUNION", "2", "a", "b", "WEIGHTS", "1", "2", NULL), 2);
    assert_int_equal(pos[1], 3);
    assert_int_equal(keys_of(pos, "MSET", "a", "1", "b", "2", NULL), 2);
    assert_int_equal(pos[1], 3);
}

static void test_keys_of_sort_are_the_key_and_last_store(void **state) {
    (void)state;
    int pos[MAX_KEYS];
    assert_int_equal(
        keys_of(pos, "SORT", "k", "BY", "w_*", "GET", "o_*", "STORE", "d1", "STORE", "d2", NULL),
        2);
    assert_int_equal(pos[0], 1);
    assert_int_equal(pos[1], 9);
    assert_int_equal(keys_of(pos, "SORT_RO", "k", "BY", "w_*", NULL), 1);
}

static void test_keys_of_migrate_follow_keys_option(void **state) {
    (void)state;
    int pos[MAX_KEYS];
    assert_int_equal(
        keys_of(pos, "MIGRATE", "h", "1", "", "0", "10", "AUTH", "keys", "KEYS", "a", "b", NULL),
        2);
    assert_int_equal(pos[0], 9);
    assert_int_equal(keys_of(pos, "MIGRATE", "h", "1", "k", "0", "10", NULL), 1);
    assert_int_equal(pos[0], 3);
}

static void test_keys_of_sharded_pubsub_are_channels(void **state) {
    (void)state;
    const rk_str argv[] = {RK_STR("SSUBSCRIBE"), RK_STR("c1"), RK_STR("c2")};
    rk_key_ref refs[4];
    assert_int_equal(rk_meta_keys(lookup("ssubscribe", NULL), argv, 3, refs, 4), 2);
    assert_int_equal(refs[1].pos, 2);
    assert_true(refs[1].flags & RK_META_KS_NOT_KEY);
    const rk_str pub[] = {RK_STR("SPUBLISH"), RK_STR("c"), RK_STR("msg")};
    assert_int_equal(rk_meta_keys(lookup("spublish", NULL), pub, 3, refs, 4), 1);
    assert_int_equal(refs[0].pos, 1);
}

static void test_keys_bad_numkeys_is_einval(void **state) {
    (void)state;
    int pos[MAX_KEYS];
    assert_int_equal(keys_of(pos, "EVAL", "s", "x", "a", NULL), RK_EINVAL);
    assert_int_equal(keys_of(pos, "EVAL", "s", "-1", "a", NULL), RK_EINVAL);
    assert_int_equal(keys_of(pos, "EVAL", "s", "5", "a", NULL), RK_EINVAL);
    assert_int_equal(keys_of(pos, "ZUNION", "99999999999999999999", "a", NULL), RK_EINVAL);
}

static void test_keys_reports_the_count_beyond_max(void **state) {
    (void)state;
    const rk_str argv[] = {RK_STR("DEL"), RK_STR("a"), RK_STR("b"), RK_STR("c")};
    const rk_meta_command *cmd = lookup("del", NULL);
    rk_key_ref one;
    assert_int_equal(rk_meta_keys(cmd, argv, 4, &one, 1), 3);
    assert_int_equal(one.pos, 1);
    assert_int_equal(rk_meta_keys(cmd, argv, 4, NULL, 0), 3);
}

static void test_keys_of_any_row_on_odd_argvs_stay_inside_argv(void **state) {
    (void)state;
    const char *words[] = {"1", "-1", "0", "2", "STREAMS", "KEYS", "STORE", "", "99", "x"};
    rk_str argv[12];
    rk_key_ref refs[4];
    for (size_t i = 0; i < rk_meta_table_len; i++) {
        const rk_meta_command *cmd = &rk_meta_table[i];
        argv[0] = rk_cstr(cmd->name);
        for (int argc = 1; argc <= 12; argc++) {
            for (size_t w = 0; w < ARRAY_LEN(words); w++) {
                for (int j = 1; j < argc; j++)
                    argv[j] = rk_cstr(words[(w + (size_t)j) % ARRAY_LEN(words)]);
                int n = rk_meta_keys(cmd, argv, (size_t)argc, refs, 4);
                if (!(n == RK_EINVAL || (n >= 0 && n < argc)))
                    fail_msg("%s argc %d word %zu: %d", cmd->name, argc, w, n);
                for (int k = 0; k < n && k < 4; k++)
                    assert_true(refs[k].pos >= 1 && refs[k].pos < argc);
            }
        }
    }
}

static void test_keys_of_a_command_without_info_is_einval(void **state) {
    (void)state;
    const rk_meta_command *merge = lookup("json.merge", NULL);
    assert_true(merge->flags & RK_META_CMD_NOINFO);
    const rk_str argv[] = {RK_STR("JSON.MERGE"), RK_STR("k"), RK_STR("$"), RK_STR("{}")};
    rk_key_ref refs[4];
    assert_int_equal(rk_meta_keys(merge, argv, 4, refs, 4), RK_EINVAL);
}

/* ---- against the real server -------------------------------------------- */

static rk_conn *conn_to(int port) {
    rk_conn *c = rk_conn_new(&(rk_options){.port = port});
    assert_non_null(c);
    assert_int_equal(rk_conn_connect(c), RK_OK);
    return c;
}

/* COMMAND GETKEYS argv on the server: the reply (the caller frees it). */
static void server_getkeys(rk_conn *c, int argc, const rk_str *argv, rk_reply *r) {
    rk_str full[32] = {RK_STR("COMMAND"), RK_STR("GETKEYS")};
    for (int i = 0; i < argc; i++)
        full[i + 2] = argv[i];
    assert_int_equal(rk_conn_call_argv(c, r, full, (size_t)argc + 2) == RK_OK ||
                         rk_reply_type(r) == RK_REPLY_ERROR,
                     1);
}

/* Leaves out of refs (n of them) the NOT_KEY arguments that COMMAND GETKEYS
 * does not report; returns how many are left. */
static int drop_not_keys(rk_key_ref *refs, int n) {
    int kept = 0;
    for (int i = 0; i < n && i < MAX_KEYS; i++)
        if (!(refs[i].flags & RK_META_KS_NOT_KEY))
            refs[kept++] = refs[i];
    return n < 0 ? n : kept;
}

/* Whether rk_meta_keys agrees with the server's reply r on argv; prints
 * the difference when it does not. */
static bool agrees(const rk_meta_command *cmd, int argc, const rk_str *argv, const rk_reply *r) {
    rk_key_ref refs[MAX_KEYS];
    int n = rk_meta_keys(cmd, argv, (size_t)argc, refs, MAX_KEYS);
    n = drop_not_keys(refs, n);
    bool ok;
    if (rk_reply_type(r) == RK_REPLY_ERROR) {
        ok = n < 0 || (n == 0 && !(cmd->flags & RK_META_CMD_NO_MANDATORY_KEYS));
    } else {
        ok = n >= 0 && (size_t)n == rk_reply_len(r);
        for (int i = 0; ok && i < n; i++) {
            rk_str key = argv[refs[i].pos];
            const rk_reply *k = rk_reply_at(r, (size_t)i);
            ok = key.len == rk_reply_len(k) && memcmp(key.ptr, rk_reply_str(k), key.len) == 0;
        }
    }
    if (!ok) {
        fprintf(stderr, "mismatch on");
        for (int i = 0; i < argc; i++)
            fprintf(stderr, " %.*s", (int)argv[i].len, argv[i].ptr);
        fprintf(stderr, ": rk_meta_keys %d, server %s %zu\n", n,
                rk_reply_type(r) == RK_REPLY_ERROR ? rk_reply_str(r) : "keys", rk_reply_len(r));
    }
    return ok;
}

static bool arity_error(const rk_reply *r) {
    return rk_reply_type(r) == RK_REPLY_ERROR && strstr(rk_reply_str(r), "number of arguments");
}

/* Keyed Redis 7.0 commands that COMMAND GETKEYS cannot check, with why. */
static const char *const not_checkable[] = {
    /* Their one key spec is a NOT_KEY channel, which GETKEYS leaves out
     * (test_keys_of_sharded_pubsub_are_channels checks them). */
    "spublish",
    "ssubscribe",
    "sunsubscribe",
    NULL,
};

/* Whether name is in a NULL-terminated list. */
static bool in_list(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void test_keys_match_command_getkeys_on_redis_7_0(void **state) {
    (void)state;
    rkt_shared_need();
    rk_conn *c = conn_to(rkt_server_port(&rkt_shared));
    const char *covered[1024];
    int ncovered = 0, mismatches = 0, compared = 0;
    for (size_t s = 0; s < ARRAY_LEN(meta_samples); s++) {
        const char *const *sample = meta_samples[s];
        rk_str argv[30];
        int argc = 0;
        for (; sample[argc]; argc++) {
            assert_true(argc < 30);
            argv[argc] = rk_cstr(sample[argc]);
        }
        const rk_meta_command *cmd = NULL;
        assert_int_equal(rk_meta_lookup_argv(argv, (size_t)argc, &cmd), RK_OK);
        rk_reply r = {0};
        server_getkeys(c, argc, argv, &r);
        if (!arity_error(&r)) {
            compared++;
            if (!agrees(cmd, argc, argv, &r))
                mismatches++;
            else if (rk_reply_type(&r) == RK_REPLY_ARRAY && rk_reply_len(&r) > 0 &&
                     (ncovered == 0 || strcmp(covered[ncovered - 1], cmd->name) != 0))
                covered[ncovered++] = cmd->name;
        }
        rk_reply_free(&r);
    }
    rk_conn_free(c);
    int keyed = 0, missing = 0;
    for (size_t i = 0; i < rk_meta_table_len; i++) {
        const rk_meta_command *cmd = &rk_meta_table[i];
        if (!(cmd->servers & RK_META_REDIS_7_0) || cmd->nkeyspecs == 0)
            continue;
        keyed++;
        bool found = false;
        for (int j = 0; j < ncovered && !found; j++)
            found = strcmp(covered[j], cmd->name) == 0;
        if (!found && !in_list(not_checkable, cmd->name)) {
            fprintf(stderr, "not covered: %s\n", cmd->name);
            missing++;
        }
    }
    printf("meta keys: %d samples compared with COMMAND GETKEYS; %d of %d keyed Redis 7.0 "
           "commands covered\n",
           compared, ncovered, keyed);
    assert_int_equal(mismatches, 0);
    assert_int_equal(missing, 0);
    assert_int_equal(ncovered + (int)ARRAY_LEN(not_checkable) - 1, keyed);
}

/* ---- COMMAND INFO: the server's rows against the table ------------------ */

/* Fails the test unless the parsed row and the table row agree, but for
 * the flags COMMAND INFO never shows (the table has them from the specs)
 * and the client's classes (SAFE, STATEFUL), which are the generator's. */
static void assert_same_row(const rk_meta_command *got, const rk_meta_command *row) {
    const uint32_t hidden = RK_META_CMD_MAY_REPLICATE | RK_META_CMD_SENTINEL |
                            RK_META_CMD_ONLY_SENTINEL | RK_META_CMD_SAFE | RK_META_CMD_STATEFUL;
    if (strcmp(got->name, row->name) != 0 || got->arity != row->arity ||
        (got->flags & ~hidden) != (row->flags & ~hidden) || got->acl != row->acl ||
        got->tips != row->tips || got->nkeyspecs != row->nkeyspecs)
        fail_msg("%s: COMMAND INFO and the table differ (arity %d/%d flags %x/%x acl %x/%x "
                 "tips %x/%x specs %d/%d)",
                 row->name, got->arity, row->arity, got->flags, row->flags, got->acl, row->acl,
                 got->tips, row->tips, got->nkeyspecs, row->nkeyspecs);
    for (int i = 0; i < row->nkeyspecs; i++) {
        const rk_meta_keyspec *a = &got->keyspecs[i], *b = &row->keyspecs[i];
        bool same = a->flags == b->flags && a->begin == b->begin && a->find == b->find &&
                    a->index == b->index && a->lastkey == b->lastkey && a->keystep == b->keystep &&
                    a->limit == b->limit && a->keynumidx == b->keynumidx &&
                    a->firstkey == b->firstkey &&
                    (a->keyword == b->keyword ||
                     (a->keyword && b->keyword && strcmp(a->keyword, b->keyword) == 0));
        if (!same)
            fail_msg("%s: key spec %d differs from the table", row->name, i);
    }
}

/* Compares every entry of a COMMAND INFO reply, and its subcommands, with
 * the table: each must have a row with the `have` server bits, and each
 * row without the `skip` bits must agree. Returns how many were compared. */
static int compare_entries(const rk_reply *list, uint32_t have, uint32_t skip) {
    int n = 0;
    for (size_t i = 0; i < rk_reply_len(list); i++) {
        const rk_reply *e = rk_reply_at(list, i);
        rk_meta_command *got = rk_meta_parse_entry(e);
        assert_non_null(got);
        const rk_meta_command *row = rk_meta_table_find(got->name, strlen(got->name), NULL, 0);
        if (!row || (row->servers & have) != have)
            fail_msg("%s: in COMMAND INFO, not in the table as such", got->name);
        if (!(row->servers & skip)) {
            assert_same_row(got, row);
            n++;
        }
        rk_meta_entry_free(got);
        n += compare_entries(rk_reply_at(e, 9), have, skip);
    }
    return n;
}

static void command_info_matches_table(int protocol) {
    rkt_shared_need();
    rk_conn *c =
        rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .protocol = protocol});
    assert_non_null(c);
    rk_reply r = {0};
    assert_int_equal(rk_conn_call(c, &r, "COMMAND INFO"), RK_OK);
    int n = compare_entries(&r, RK_META_REDIS_7_0, 0);
    printf("meta: %d rows of the server's COMMAND INFO (RESP%d) match the table\n", n, protocol);
    assert_true(n > 350);
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_command_info_rows_match_the_table_resp2(void **state) {
    (void)state;
    command_info_matches_table(2);
}

static void test_command_info_rows_match_the_table_resp3(void **state) {
    (void)state;
    command_info_matches_table(3);
}

static void test_learn_skips_commands_the_table_has(void **state) {
    (void)state;
    rkt_shared_need();
    rk_conn *c = conn_to(rkt_server_port(&rkt_shared));
    rk_reply r = {0};
    assert_int_equal(rk_conn_call(c, &r, "COMMAND INFO get config nosuchcommand"), RK_OK);
    assert_int_equal(rk_meta_learn(&r), 0);
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_learn_rejects_a_reply_not_shaped_as_command_info(void **state) {
    (void)state;
    rk_reply status = {0};
    assert_int_equal(rk_meta_learn(&status), RK_EPROTO);
    assert_int_equal(rk_meta_learn(NULL), RK_EPROTO);
}

static void test_parse_entry_out_of_memory_is_enomem(void **state) {
    (void)state;
    rkt_shared_need();
    rk_conn *c = conn_to(rkt_server_port(&rkt_shared));
    rk_reply r = {0};
    assert_int_equal(rk_conn_call(c, &r, "COMMAND INFO get"), RK_OK);
    rk_conn_free(c);
    rk_meta_command *got = rk_meta_parse_entry(rk_reply_at(&r, 0));
    assert_non_null(got);
    assert_string_equal(got->name, "get");
    rkt_alloc_fail_nth(1);
    assert_null(rk_meta_parse_entry(rk_reply_at(&r, 0)));
    assert_int_equal(rk_error_last()->code, RK_ENOMEM);
    rk_meta_entry_free(got);
    rk_reply_free(&r);
}

/* A reply read from raw RESP bytes. */
static void reply_of(const char *resp, rk_reply *out) {
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, resp, strlen(resp)), RK_OK);
    assert_int_equal(rk_reader_next(rd, out), 1);
    rk_reader_free(rd);
}

static void test_learned_keyword_spec_without_keyword_is_einval_not_a_crash(void **state) {
    (void)state;
    rk_reply r = {0};
    reply_of("*1\r\n*10\r\n$7\r\nnokwcmd\r\n:-2\r\n*0\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n"
             "*1\r\n*4\r\n$12\r\nbegin_search\r\n*2\r\n$4\r\ntype\r\n$7\r\nkeyword\r\n"
             "$9\r\nfind_keys\r\n*2\r\n$4\r\ntype\r\n$5\r\nrange\r\n*0\r\n",
             &r);
    assert_int_equal(rk_meta_learn(&r), 1);
    const rk_meta_command *cmd = lookup("NOKWCMD", NULL);
    const rk_str argv[] = {RK_STR("nokwcmd"), RK_STR("a")};
    rk_key_ref refs[2];
    assert_int_equal(rk_meta_keys(cmd, argv, 2, refs, 2), RK_EINVAL);
    const rk_str holes[] = {RK_STR("nokwcmd"), (rk_str){0, NULL}};
    assert_int_equal(rk_meta_keys(cmd, holes, 2, refs, 2), RK_EINVAL);
    rk_meta_forget();
    rk_reply_free(&r);
}

/* A thread learning the same reply as the others, then looking it up. */
static void *learn_and_look_up(void *arg) {
    int added = rk_meta_learn(arg);
    const rk_meta_command *cmd = NULL;
    if (rk_meta_lookup("threadcmd", 9, NULL, 0, &cmd) != RK_OK || cmd->arity != 2)
        added = -100;
    return (void *)(intptr_t)added;
}

static void test_threads_learning_one_command_add_it_once(void **state) {
    (void)state;
    rk_reply r = {0};
    reply_of("*1\r\n*10\r\n$9\r\nthreadcmd\r\n:2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n"
             "*0\r\n*0\r\n*0\r\n*0\r\n",
             &r);
    pthread_t threads[8];
    for (size_t i = 0; i < ARRAY_LEN(threads); i++)
        assert_int_equal(pthread_create(&threads[i], NULL, learn_and_look_up, &r), 0);
    intptr_t total = 0;
    for (size_t i = 0; i < ARRAY_LEN(threads); i++) {
        void *added;
        assert_int_equal(pthread_join(threads[i], &added), 0);
        total += (intptr_t)added;
    }
    assert_int_equal(total, 1);
    rk_meta_forget();
    rk_reply_free(&r);
}

/* ---- recorded replies (../shared/recorded) ------------------------------ */

/* The text of a recorded replies file, or NULL when there is no shared/
 * beside the clone: a skip CTest shows, a failure in CI (rkt_skip_missing),
 * and the test then skips. */
static char *recorded_file(const char *name) {
    const char *dir = getenv("RK_TEST_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/../../shared/recorded/replies/%s", dir ? dir : "tests", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        rkt_skip_missing("the recorded replies (shared/recorded beside the source tree)");
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

static int b64_value(char ch) {
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = strchr(abc, ch);
    return ch && at ? (int)(at - abc) : -1;
}

/* The reply of one recorded line (its "reply_b64", decoded and read). */
static void line_reply(const char *line, rk_reply *out) {
    const char *at = strstr(line, "\"reply_b64\": \"");
    assert_non_null(at);
    at += strlen("\"reply_b64\": \"");
    size_t len = (size_t)(strchr(at, '"') - at), n = 0;
    unsigned char *bytes = malloc(len);
    assert_non_null(bytes);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len && b64_value(at[i]) >= 0; i++) {
        acc = (acc << 6) | (unsigned)b64_value(at[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (unsigned char)(acc >> bits);
        }
    }
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, bytes, n), RK_OK);
    assert_int_equal(rk_reader_next(rd, out), 1);
    rk_reader_free(rd);
    free(bytes);
}

/* The argv of one recorded line, into args (room for max, each up to 63
 * bytes); returns argc, or -1 for arguments this reader does not take
 * (escapes, binary). */
static int line_argv(const char *line, char args[][64], int max) {
    const char *at = strstr(line, "\"argv\": [");
    int argc = 0;
    if (!at)
        return -1;
    at += strlen("\"argv\": [");
    while (*at == '"' && argc < max) {
        const char *end = strchr(at + 1, '"');
        size_t len = (size_t)(end - at - 1);
        if (len >= 64 || memchr(at + 1, '\\', len))
            return -1;
        memcpy(args[argc], at + 1, len);
        args[argc++][len] = '\0';
        at = end + 1;
        if (*at == ',')
            at += 2;
    }
    return *at == ']' ? argc : -1;
}

/* The recorded line of file (text) holding `needle`, as a NUL-terminated
 * copy (free it), or NULL. */
static char *find_line(const char *text, const char *needle) {
    const char *at = strstr(text, needle);
    if (!at)
        return NULL;
    const char *start = at, *end = strchr(at, '\n');
    while (start > text && start[-1] != '\n')
        start--;
    size_t len = end ? (size_t)(end - start) : strlen(start);
    char *line = malloc(len + 1);
    assert_non_null(line);
    memcpy(line, start, len);
    line[len] = '\0';
    return line;
}

/* The recorded full COMMAND reply of a newer server (file) against the
 * table: every command has a row with the `have` bit, and the rows that
 * came from that server's spec alone (without the `skip` bits) agree with
 * what the real server says. */
static void recorded_command_matches_table(const char *file, uint32_t have, uint32_t skip) {
    char *text = recorded_file(file);
    if (!text)
        skip();
    char *line = find_line(text, "\"resp\": 3, \"seq\": 2, \"argv\": [\"COMMAND\"]");
    assert_non_null(line);
    rk_reply r = {0};
    line_reply(line, &r);
    int compared = compare_entries(&r, have, skip);
    printf("meta: the %zu commands of %s are in the table; the %d rows from its spec alone "
           "match\n",
           rk_reply_len(&r), file, compared);
    assert_true(compared > 0);
    rk_reply_free(&r);
    free(line);
    free(text);
}

static void test_table_matches_recorded_redis_7_4_command(void **state) {
    (void)state;
    recorded_command_matches_table("redis-7.4.1.jsonl", RK_META_REDIS_7_4, RK_META_REDIS_7_0);
}

static void test_table_matches_recorded_valkey_8_0_command(void **state) {
    (void)state;
    recorded_command_matches_table("valkey-8.0.1.jsonl", RK_META_VALKEY_8_0,
                                   RK_META_REDIS_7_0 | RK_META_REDIS_7_4);
}

/* Recorded GETKEYS that the table cannot reproduce: a module whose
 * getkeys callback finds more keys than the key spec it declares. */
static const char *const recorded_exceptions[] = {
    "CMS.MERGE",     /* declares key 1 only; its callback adds the sources */
    "TDIGEST.MERGE", /* the same */
    NULL,
};

/* Compares every recorded COMMAND GETKEYS of file with rk_meta_keys;
 * returns how many agreed. */
static int check_recorded_getkeys(const char *file, int *exceptions) {
    char *text = recorded_file(file);
    if (!text)
        return -1;
    int agreed = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char args[32][64];
        int argc = line_argv(line, args, 32);
        if (argc < 3 || strcmp(args[0], "COMMAND") != 0 || strcmp(args[1], "GETKEYS") != 0)
            continue;
        rk_str argv[32];
        for (int i = 2; i < argc; i++)
            argv[i - 2] = rk_cstr(args[i]);
        const rk_meta_command *cmd = NULL;
        assert_int_equal(rk_meta_lookup_argv(argv, (size_t)argc - 2, &cmd), RK_OK);
        rk_reply r = {0};
        line_reply(line, &r);
        if (in_list(recorded_exceptions, args[2])) {
            (*exceptions)++;
        } else {
            assert_true(agrees(cmd, argc - 2, argv, &r));
            agreed++;
        }
        rk_reply_free(&r);
    }
    free(text);
    return agreed;
}

static void test_keys_match_recorded_module_getkeys(void **state) {
    (void)state;
    const char *files[] = {"redisbloom.jsonl", "redistimeseries.jsonl", "valkey-json-1.0.2.jsonl",
                           "vector-sets.jsonl", "redis-7.4.1.jsonl"};
    int agreed = 0, exceptions = 0;
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        int n = check_recorded_getkeys(files[i], &exceptions);
        if (n < 0)
            skip();
        agreed += n;
    }
    printf("meta: %d recorded COMMAND GETKEYS agree, %d known exceptions\n", agreed, exceptions);
    assert_true(agreed > 0);
}

static void test_learn_adds_recorded_module_commands_until_forgotten(void **state) {
    (void)state;
    char *text = recorded_file("redisearch-1.2.2.jsonl");
    if (!text)
        skip();
    /* RediSearch 1.2.2 (RESP2 flat maps) has commands 2.6 lacks. */
    char *line = find_line(text, "\"resp\": 2, \"seq\": 4, \"argv\": [\"COMMAND\", \"INFO\"");
    assert_non_null(line);
    rk_reply r = {0};
    line_reply(line, &r);
    const rk_meta_command *cmd = NULL;
    assert_int_equal(rk_meta_lookup("ft.addhash", 10, NULL, 0, &cmd), RK_EINVAL);
    int added = rk_meta_learn(&r);
    assert_true(added > 0);
    assert_int_equal(rk_meta_learn(&r), 0);
    assert_int_equal(rk_meta_lookup("FT.ADDHASH", 10, NULL, 0, &cmd), RK_OK);
    assert_string_equal(cmd->name, "ft.addhash");
    assert_int_equal(cmd->servers, 0);
    assert_true(cmd->flags & RK_META_CMD_MODULE);
    const rk_str argv[] = {RK_STR("FT.ADDHASH"), RK_STR("idx"), RK_STR("doc1"), RK_STR("1.0")};
    rk_key_ref refs[2];
    assert_int_equal(rk_meta_keys(cmd, argv, 4, refs, 2), 1);
    assert_int_equal(refs[0].pos, 1);
    rk_meta_forget();
    assert_int_equal(rk_meta_lookup("ft.addhash", 10, NULL, 0, &cmd), RK_EINVAL);
    rk_reply_free(&r);
    free(line);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_ignores_case_and_finds_subcommands),
        cmocka_unit_test(test_lookup_unknown_command_is_einval),
        cmocka_unit_test(test_lookup_of_a_name_with_nul_bytes_is_einval),
        cmocka_unit_test(test_table_is_sorted_with_containers_and_every_source),
        cmocka_unit_test(test_table_has_policies_versions_and_servers),
        cmocka_unit_test(test_keys_of_movable_commands),
        cmocka_unit_test(test_keys_of_sort_are_the_key_and_last_store),
        cmocka_unit_test(test_keys_of_migrate_follow_keys_option),
        cmocka_unit_test(test_keys_of_sharded_pubsub_are_channels),
        cmocka_unit_test(test_keys_bad_numkeys_is_einval),
        cmocka_unit_test(test_keys_reports_the_count_beyond_max),
        cmocka_unit_test(test_keys_of_any_row_on_odd_argvs_stay_inside_argv),
        cmocka_unit_test(test_keys_of_a_command_without_info_is_einval),
        cmocka_unit_test(test_keys_match_command_getkeys_on_redis_7_0),
        cmocka_unit_test(test_command_info_rows_match_the_table_resp2),
        cmocka_unit_test(test_command_info_rows_match_the_table_resp3),
        cmocka_unit_test(test_learn_skips_commands_the_table_has),
        cmocka_unit_test(test_learn_rejects_a_reply_not_shaped_as_command_info),
        cmocka_unit_test(test_learned_keyword_spec_without_keyword_is_einval_not_a_crash),
        cmocka_unit_test(test_threads_learning_one_command_add_it_once),
        cmocka_unit_test_setup_teardown(test_parse_entry_out_of_memory_is_enomem, rkt_alloc_setup,
                                        rkt_alloc_teardown),
        cmocka_unit_test(test_table_matches_recorded_redis_7_4_command),
        cmocka_unit_test(test_table_matches_recorded_valkey_8_0_command),
        cmocka_unit_test(test_keys_match_recorded_module_getkeys),
        cmocka_unit_test(test_learn_adds_recorded_module_commands_until_forgotten),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
