/* Typed commands: every command the server reports has a function, and the
 * typed table agrees with the client's command classes, which come from the
 * metadata table (meta/classes.h), for every command either table has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/table.h"
#include "meta/classes.h"
#include "rkt_cmd.h"

static const rk_typed_entry *find(const char *name, size_t len) {
    for (size_t i = 0; i < rk_typed_table_len; i++)
        if (strlen(rk_typed_table[i].name) == len && memcmp(rk_typed_table[i].name, name, len) == 0)
            return &rk_typed_table[i];
    return NULL;
}

/* Calls fn(name) for each command COMMAND reports that is called as such:
 * commands without subcommands, and every subcommand ("config|get"). */
static size_t each_server_command(rk_client *c, void (*fn)(const rk_reply *name, void *),
                                  void *arg) {
    rk_reply all;
    RKT_OK(rk_commands(c, &all));
    size_t n = 0;
    for (size_t i = 0; i < rk_reply_len(&all); i++) {
        const rk_reply *cmd = rk_reply_at(&all, i);
        const rk_reply *subs = rk_reply_at(cmd, 9);
        if (subs != NULL && rk_reply_len(subs) > 0) {
            for (size_t j = 0; j < rk_reply_len(subs); j++, n++)
                fn(rk_reply_at(rk_reply_at(subs, j), 0), arg);
        } else {
            fn(rk_reply_at(cmd, 0), arg);
            n++;
        }
    }
    rk_reply_free(&all);
    return n;
}

typedef struct missing {
    char names[4096];
    size_t count;
} missing;

/* The SUBSCRIBE family is rk_pubsub's (src/features, above the typed
 * table, which therefore only names them): linked here. */
static bool is_pubsub_method(const char *name) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } methods[] = {
        {"rk_pubsub_subscribe", (void (*)(void))rk_pubsub_subscribe},
        {"rk_pubsub_unsubscribe", (void (*)(void))rk_pubsub_unsubscribe},
        {"rk_pubsub_psubscribe", (void (*)(void))rk_pubsub_psubscribe},
        {"rk_pubsub_punsubscribe", (void (*)(void))rk_pubsub_punsubscribe},
        {"rk_pubsub_ssubscribe", (void (*)(void))rk_pubsub_ssubscribe},
        {"rk_pubsub_sunsubscribe", (void (*)(void))rk_pubsub_sunsubscribe},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, name) == 0)
            return methods[i].fn != NULL;
    return false;
}

static void check_has_function(const rk_reply *name, void *arg) {
    missing *m = arg;
    const rk_typed_entry *e = find(rk_reply_str(name), rk_reply_len(name));
    if (e != NULL &&
        (e->fn != NULL || (strcmp(e->kind, "pubsub") == 0 && is_pubsub_method(e->function))))
        return;
    m->count++;
    size_t used = strlen(m->names);
    snprintf(m->names + used, sizeof(m->names) - used, " %s", rk_reply_str(name));
}

static void test_every_server_command_has_a_function(void **state) {
    rk_client *c = rkt_cmd_client(state);
    missing m = {{0}, 0};
    size_t n = each_server_command(c, check_has_function, &m);
    if (m.count > 0)
        fail_msg("%zu of %zu commands have no function:%s", m.count, n, m.names);
    print_message("%zu server commands, each with a function\n", n);
    assert_true(n >= 350);
    rk_client_free(c);
}

/* The naming rule of commands/common.h: rk_set / rk_cmd_set for "set",
 * rk_configget / rk_cmd_configget for "config|get" (container and
 * subcommand glued), rk_clientno_evict for "client|no-evict"; TYPE and
 * the bare COMMAND are the two exceptions. */
static void test_function_names_follow_the_naming_rule(void **state) {
    (void)state;
    for (size_t i = 0; i < rk_typed_table_len; i++) {
        const rk_typed_entry *e = &rk_typed_table[i];
        if (strcmp(e->kind, "pubsub") == 0 || strcmp(e->name, "type") == 0 ||
            strcmp(e->name, "command") == 0)
            continue;
        char name[64] = "", want[80];
        for (size_t k = 0, n = 0; e->name[k] && n < sizeof(name) - 1; k++) {
            char ch = e->name[k];
            if (ch != '|')
                name[n++] = ch == '-' ? '_' : ch;
        }
        snprintf(want, sizeof want, "rk_%s", name);
        assert_string_equal(e->function, want);
        if (strcmp(e->kind, "hand") == 0)
            continue;
        snprintf(want, sizeof want, "rk_cmd_%s", name);
        assert_string_equal(e->builder, want);
        assert_non_null(e->build);
    }
}

/* "config|get" as the argv CONFIG GET; returns its argc. */
static size_t split(const char *name, rk_str argv[2]) {
    const char *bar = strchr(name, '|');
    argv[0] = bar ? rk_bin(name, (size_t)(bar - name)) : rk_cstr(name);
    if (!bar)
        return 1;
    argv[1] = rk_cstr(bar + 1);
    return 2;
}

/* The client refuses connection-state commands on pooled calls; exactly
 * those are generated for a held connection (or hand-written). */
static void test_connection_commands_match_the_clients_stateful_set(void **state) {
    (void)state;
    for (size_t i = 0; i < rk_typed_table_len; i++) {
        const rk_typed_entry *e = &rk_typed_table[i];
        rk_str argv[2];
        size_t argc = split(e->name, argv);
        bool stateful = rk_command_is_stateful(argv, argc);
        bool held = (e->flags & RK_TYPEDF_CONNECTION) != 0;
        if (stateful != held)
            fail_msg("%s: the client says %s, the table %s", e->name,
                     stateful ? "stateful" : "stateless", held ? "held connection" : "pooled");
    }
}

/* What the client retries freely never writes. */
static void test_safe_commands_never_write(void **state) {
    (void)state;
    size_t safe = 0;
    for (size_t i = 0; i < rk_typed_table_len; i++) {
        const rk_typed_entry *e = &rk_typed_table[i];
        rk_str argv[2];
        size_t argc = split(e->name, argv);
        if (!rk_command_is_safe(argv, argc))
            continue;
        safe++;
        if (e->flags & RK_TYPEDF_WRITE)
            fail_msg("%s writes, yet the client would retry it", e->name);
    }
    assert_true(safe > 100);
}

/* The typed table's classes of one command, as RK_CMD_* bits. */
static unsigned typed_classes(const rk_typed_entry *e) {
    return (e->flags & RK_TYPEDF_SAFE ? RK_CMD_SAFE : 0u) |
           (e->flags & RK_TYPEDF_CONNECTION ? RK_CMD_STATEFUL : 0u);
}

/* The metadata row of a typed table name ("config|get"), or NULL. */
static const rk_meta_command *meta_row(const char *name) {
    rk_str argv[2];
    size_t argc = split(name, argv);
    return rk_meta_table_find(argv[0].ptr, argv[0].len, argc > 1 ? argv[1].ptr : NULL,
                              argc > 1 ? argv[1].len : 0);
}

/* Every typed command has a metadata row with the same classes, SAFE and
 * STATEFUL: the two generators read one list (tools/gen-commands/spec.py)
 * and one server, and must not disagree. */
static void test_meta_classes_agree_with_every_typed_command(void **state) {
    (void)state;
    for (size_t i = 0; i < rk_typed_table_len; i++) {
        const rk_typed_entry *e = &rk_typed_table[i];
        const rk_meta_command *row = meta_row(e->name);
        if (row == NULL)
            fail_msg("%s is in the typed table, not in the metadata table", e->name);
        unsigned meta = row->flags & (RK_CMD_SAFE | RK_CMD_STATEFUL);
        if (meta != typed_classes(e))
            fail_msg("%s: the metadata table says %#x, the typed table %#x", e->name, meta,
                     typed_classes(e));
    }
}

/* Every metadata row of Redis 7.0 (the server the typed table is generated
 * from) has a typed command, with the same classes; and no row outside it
 * is stateful, so the typed table's held-connection functions are all the
 * stateful commands there are. */
static void test_every_redis_7_0_row_agrees_with_its_typed_command(void **state) {
    (void)state;
    for (size_t i = 0; i < rk_meta_table_len; i++) {
        const rk_meta_command *row = &rk_meta_table[i];
        unsigned meta = row->flags & (RK_CMD_SAFE | RK_CMD_STATEFUL);
        if (!(row->servers & RK_META_REDIS_7_0)) {
            if (meta & RK_CMD_STATEFUL)
                fail_msg("%s is stateful but not a Redis 7.0 command", row->name);
            continue;
        }
        if (row->flags & RK_META_CMD_CONTAINER)
            continue; /* the typed table has its subcommands, not it */
        const rk_typed_entry *e = find(row->name, strlen(row->name));
        if (e == NULL)
            fail_msg("%s is a Redis 7.0 command without a typed function", row->name);
        if (meta != typed_classes(e))
            fail_msg("%s: the metadata table says %#x, the typed table %#x", row->name, meta,
                     typed_classes(e));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_every_server_command_has_a_function),
        cmocka_unit_test(test_function_names_follow_the_naming_rule),
        cmocka_unit_test(test_connection_commands_match_the_clients_stateful_set),
        cmocka_unit_test(test_safe_commands_never_write),
        cmocka_unit_test(test_meta_classes_agree_with_every_typed_command),
        cmocka_unit_test(test_every_redis_7_0_row_agrees_with_its_typed_command),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
