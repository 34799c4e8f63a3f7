/* The client as a router: hash slots as the server computes them, MOVED
 * and ASK redirects followed to the node they name (with ASKING in the
 * same write for ASK), redirect loops and malformed redirects refused, and
 * the APIs built on rk_client (locks, scripts, pipelines) working through
 * redirects. Against a real 3-master cluster and scripted fake servers. */
#define _GNU_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/node.h"
#include "client/topology.h"
#include "rediskit/rediskit.h"
#include "rkt_cluster.h"
#include "rkt_cmd.h"
#include "rkt_fakeserver.h"
#include "rkt_server.h"
#include "util/common.h"

/* A client whose only configured server is node i of the cluster. */
static rk_client *node_client(int i) {
    if (!rkt_cluster3_up)
        skip();
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_cluster3.nodes[i])});
    assert_non_null(c);
    return c;
}

/* The node (index into rkt_cluster3.nodes) serving key's slot, asked of node 0
 * with a connection that does not follow redirects. */
static int owner_of(const char *key) {
    rk_conn *conn = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_cluster3.nodes[0])});
    assert_non_null(conn);
    RKT_OK(rk_conn_connect(conn));
    rk_reply r;
    int rc = rk_conn_call(conn, &r, "GET %s", key);
    int owner = 0;
    if (rc == RK_EREDIRECT) {
        const char *colon = strrchr(rk_reply_str(&r), ':');
        assert_non_null(colon);
        int port = atoi(colon + 1);
        owner = -1;
        for (int i = 0; i < rkt_cluster3.n_nodes; i++)
            if (rkt_server_port(&rkt_cluster3.nodes[i]) == port)
                owner = i;
    }
    assert_true(owner >= 0);
    rk_reply_free(&r);
    rk_conn_free(conn);
    return owner;
}

/* A key (made from prefix) whose slot node `want` does not serve. */
static void key_elsewhere(int want_not, const char *prefix, char *out, size_t size) {
    for (int i = 0; i < 1000; i++) {
        snprintf(out, size, "%s%d", prefix, i);
        if (owner_of(out) != want_not)
            return;
    }
    fail_msg("no key off node %d", want_not);
}

/* ---- hash slots ---------------------------------------------------------- */

static void test_slot_matches_cluster_keyslot(void **state) {
    (void)state;
    rk_client *c = node_client(0);
    static const char *const fixed[] = {
        "",       "foo",      "{user1000}.following", "{}x", "a{}{b}", "a{{b}}c", "{", "}", "x{y",
        "{a}{b}", "123456789"};
    char key[64];
    int covered = 0;
    for (int i = 0; i < 400; i++) {
        size_t len;
        if (i < (int)RK_ARRAY_LEN(fixed)) {
            len = strlen(fixed[i]);
            memcpy(key, fixed[i], len);
        } else { /* bytes of every kind, braces often */
            len = (size_t)(i % 23);
            for (size_t j = 0; j < len; j++) {
                unsigned v = (unsigned)(i * 7919 + (int)j * 104729) % 9;
                key[j] = v == 0 ? '{' : v == 1 ? '}' : (char)((i * 31 + (int)j * 17) & 0xff);
            }
        }
        long long server;
        rk_reply r;
        RKT_OK(rk_client_call(c, &r, "CLUSTER KEYSLOT %b", key, len));
        server = rk_reply_int(&r);
        rk_reply_free(&r);
        assert_int_equal(rk_key_slot(key, len), server);
        covered++;
    }
    assert_int_equal(covered, 400);
    rk_client_free(c);
}

/* ---- MOVED and ASK ------------------------------------------------------- */

static void test_moved_is_followed_to_the_node_that_serves_the_slot(void **state) {
    (void)state;
    rk_client *c = node_client(0);
    bool elsewhere = false;
    for (int i = 0; i < 30; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "route:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        elsewhere |= owner_of(key) != 0;
        rk_reply r;
        RKT_OK(rk_client_call(c, &r, "SET %s %s", key, val));
        rk_reply_free(&r);
        RKT_OK(rk_client_call(c, &r, "GET %s", key));
        assert_string_equal(rk_reply_str(&r), val);
        rk_reply_free(&r);
    }
    assert_true(elsewhere);
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_true(st.created >= 3); /* a connection to each master */
    rk_client_free(c);
}

/* The node id of cluster node i. */
static void node_id(int i, char *out, size_t size) {
    rk_conn *conn = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_cluster3.nodes[i])});
    assert_non_null(conn);
    rk_reply r;
    RKT_OK(rk_conn_call(conn, &r, "CLUSTER MYID"));
    snprintf(out, size, "%s", rk_reply_str(&r));
    rk_reply_free(&r);
    rk_conn_free(conn);
}

static void setslot(int node, int slot, const char *how, const char *id) {
    rk_conn *conn = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_cluster3.nodes[node])});
    assert_non_null(conn);
    if (id)
        RKT_OK(rk_conn_call(conn, NULL, "CLUSTER SETSLOT %d %s %s", slot, how, id));
    else
        RKT_OK(rk_conn_call(conn, NULL, "CLUSTER SETSLOT %d %s", slot, how));
    rk_conn_free(conn);
}

static void test_ask_is_followed_with_asking_on_the_importing_node(void **state) {
    (void)state;
    char key[32], from_id[64], to_id[64];
    key_elsewhere(0, "ask:", key, sizeof key);
    int from = owner_of(key), to = from == 1 ? 2 : 1;
    int slot = rk_key_slot(key, strlen(key));
    node_id(from, from_id, sizeof from_id);
    node_id(to, to_id, sizeof to_id);
    setslot(to, slot, "IMPORTING", from_id);
    setslot(from, slot, "MIGRATING", to_id);
    /* The key is not on the migrating node: it answers ASK, and only a
     * command after ASKING is served by the importing one. */
    rk_client *c = node_client(0);
    rk_reply r;
    int rc = rk_client_call(c, &r, "SET %s asked", key);
    rk_reply_free(&r);
    rk_conn *conn = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_cluster3.nodes[to])});
    assert_non_null(conn);
    RKT_OK(rk_conn_call(conn, NULL, "ASKING"));
    int got = rk_conn_call(conn, &r, "GET %s", key);
    RKT_OK(rk_conn_call(conn, NULL, "ASKING"));
    RKT_OK(rk_conn_call(conn, NULL, "DEL %s", key));
    setslot(from, slot, "STABLE", NULL);
    setslot(to, slot, "STABLE", NULL);
    RKT_OK(rc);
    RKT_OK(got);
    assert_string_equal(rk_reply_str(&r), "asked");
    rk_reply_free(&r);
    rk_conn_free(conn);
    rk_client_free(c);
}

/* ---- what is built on rk_client ----------------------------------------- */

static void test_a_lock_on_a_key_of_another_node_works(void **state) {
    (void)state;
    char key[32];
    key_elsewhere(0, "lock:", key, sizeof key);
    rk_client *c = node_client(0);
    rk_lock *l = rk_lock_new(c, key, NULL);
    assert_non_null(l);
    RKT_OK(rk_lock_acquire(l));
    RKT_OK(rk_lock_release(l));
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_a_script_on_a_key_of_another_node_works(void **state) {
    (void)state;
    char key[32];
    key_elsewhere(0, "script:", key, sizeof key);
    static const char src[] =
        "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])";
    rk_script *s = rk_script_new(src, sizeof src - 1);
    assert_non_null(s);
    rk_client *c = node_client(0);
    rk_reply r;
    const rk_str keys[] = {rk_cstr(key)};
    const rk_str args[] = {RK_STR("scripted")};
    RKT_OK(rk_script_run(c, s, keys, 1, args, 1, &r));
    assert_string_equal(rk_reply_str(&r), "scripted");
    rk_reply_free(&r);
    rk_script_free(s);
    rk_client_free(c);
}

static void test_a_pipeline_resends_each_redirected_command_in_its_place(void **state) {
    (void)state;
    rk_client *c = node_client(0);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    for (int i = 0; i < 20; i++) {
        RKT_OK(rk_pipeline_append(p, "SET pipe:%d v%d", i, i));
        RKT_OK(rk_pipeline_append(p, "GET pipe:%d", i));
    }
    RKT_OK(rk_pipeline_append(p, "PING"));
    RKT_OK(rk_pipeline_exec(p));
    assert_int_equal(rk_pipeline_replies(p), 41);
    for (int i = 0; i < 20; i++) {
        char want[16];
        snprintf(want, sizeof want, "v%d", i);
        RKT_OK(rk_pipeline_status(p, 2 * (size_t)i));
        RKT_OK(rk_pipeline_status(p, 2 * (size_t)i + 1));
        assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 2 * (size_t)i)), "OK");
        assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 2 * (size_t)i + 1)), want);
    }
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 40)), "PONG");
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- a topology that routes by slot ------------------------------------- */

/* A slot map read once from CLUSTER SLOTS: what a cluster topology keeps,
 * here only to show that the client hands it the slot of each command's
 * keys, so that nothing is redirected. */
typedef struct slot_map {
    rk_node *by_slot[RK_SLOTS];
    rk_node *seed;
    int moved;
} slot_map;

static rk_node *map_route(void *state, rk_nodes *nodes, const rk_route *route) {
    slot_map *m = state;
    (void)nodes;
    return route->slot >= 0 && m->by_slot[route->slot] ? m->by_slot[route->slot] : m->seed;
}

static void map_moved(void *state, rk_nodes *nodes, int slot, rk_node *to) {
    slot_map *m = state;
    (void)nodes;
    m->by_slot[slot] = to;
    m->moved++;
}

static void map_destroy(void *state) {
    (void)state;
}

static const rk_topology_ops by_slot = {
    .name = "test slot map",
    .keyed = true,
    .route = map_route,
    .moved = map_moved,
    .destroy = map_destroy,
};

static void read_slot_map(rk_client *c, slot_map *m) {
    rk_nodes *nodes = rk_client_nodes(c);
    m->seed = &nodes->seed;
    rk_reply r;
    RKT_OK(rk_client_call(c, &r, "CLUSTER SLOTS"));
    for (size_t i = 0; i < rk_reply_len(&r); i++) {
        const rk_reply *range = rk_reply_at(&r, i), *master = rk_reply_at(range, 2);
        const char *host = rk_reply_str(rk_reply_at(master, 0));
        rk_node *n =
            rk_nodes_at(nodes, host, strlen(host), (int)rk_reply_int(rk_reply_at(master, 1)));
        assert_non_null(n);
        for (long long s = rk_reply_int(rk_reply_at(range, 0));
             s <= rk_reply_int(rk_reply_at(range, 1)); s++)
            m->by_slot[s] = n;
    }
    rk_reply_free(&r);
}

static void test_a_keyed_topology_gets_each_commands_slot(void **state) {
    (void)state;
    rk_client *c = node_client(0);
    slot_map *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    read_slot_map(c, m);
    rk_client_set_topology(c, &by_slot, m);
    for (int i = 0; i < 30; i++) {
        char key[32], val[32], *got;
        snprintf(key, sizeof key, "keyed:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        RKT_OK(rk_set(c, key, val, NULL, NULL)); /* typed: keys from the builder */
        RKT_OK(rk_get(c, key, &got, NULL));
        assert_string_equal(got, val);
        rk_free(got);
        rk_reply r; /* raw argv: keys from the metadata table */
        RKT_OK(rk_client_call_argv(c, &r, (rk_str[]){RK_STR("GET"), rk_cstr(key)}, 2));
        assert_string_equal(rk_reply_str(&r), val);
        rk_reply_free(&r);
    }
    /* A command of more than 16 keys, all in one slot off node 0. */
    char tag[32];
    for (int i = 0;; i++) {
        snprintf(tag, sizeof tag, "{many%d}", i);
        if (owner_of(tag) != 0)
            break;
    }
    rk_str argv[1 + 2 * 20];
    char keys[20][48];
    argv[0] = RK_STR("MSET");
    for (int i = 0; i < 20; i++) {
        snprintf(keys[i], sizeof keys[i], "%s:%d", tag, i);
        argv[1 + 2 * i] = rk_cstr(keys[i]);
        argv[2 + 2 * i] = RK_STR("v");
    }
    RKT_OK(rk_client_call_argv(c, NULL, argv, 41));
    assert_int_equal(m->moved, 0);
    rk_client_free(c);
    free(m);
}

/* ---- hostile redirects ---------------------------------------------------- */

static void test_a_redirect_loop_gives_up_after_five_redirects(void **state) {
    (void)state;
    rkt_fake *f = rkt_fake_start(NULL, 0, NULL);
    assert_non_null(f);
    char moved[64];
    snprintf(moved, sizeof moved, "-MOVED 7 127.0.0.1:%d\r\n", rkt_fake_port(f));
    for (int i = 0; i < 6; i++)
        assert_int_equal(
            rkt_fake_add(
                f, &(rkt_fake_step){.expect = (const char *[]){"GET", "k", NULL}, .reply = moved}),
            0);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET k"), RK_EREDIRECT);
    assert_string_equal(rk_error_last()->prefix, "MOVED");
    rk_reply_free(&r);
    assert_true(rkt_fake_wait_done(f, 5000));
    assert_null(rkt_fake_error(f));
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_a_malformed_redirect_is_a_protocol_error(void **state) {
    (void)state;
    rkt_fake *f = rkt_fake_start((rkt_fake_step[]){{.expect = (const char *[]){"GET", "k", NULL},
                                                    .reply = "-MOVED x y\r\n"}},
                                 1, NULL);
    assert_non_null(f);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET k"), RK_EPROTO);
    assert_non_null(strstr(rk_error_last()->message, "MOVED x y"));
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* "?" is what a node set to announce hostnames sends when it has none: a
 * redirect that cannot be followed (RK_EREDIRECT, saying why), not a host
 * to look up nor a protocol error. */
static void test_a_redirect_to_an_unknown_hostname_is_eredirect(void **state) {
    (void)state;
    rkt_fake *f = rkt_fake_start((rkt_fake_step[]){{.expect = (const char *[]){"GET", "k", NULL},
                                                    .reply = "-MOVED 7 ?:6381\r\n"}},
                                 1, NULL);
    assert_non_null(f);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET k"), RK_EREDIRECT);
    assert_non_null(strstr(rk_error_last()->message, "no hostname"));
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_a_redirect_without_a_host_keeps_the_host(void **state) {
    (void)state;
    rkt_fake *to = rkt_fake_start(
        (rkt_fake_step[]){{.expect = (const char *[]){"GET", "k", NULL}, .reply = "$2\r\nhi\r\n"}},
        1, NULL);
    assert_non_null(to);
    char moved[64];
    snprintf(moved, sizeof moved, "-MOVED 7 :%d\r\n", rkt_fake_port(to));
    rkt_fake *from = rkt_fake_start(
        (rkt_fake_step[]){{.expect = (const char *[]){"GET", "k", NULL}, .reply = moved}}, 1, NULL);
    assert_non_null(from);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(from)});
    assert_non_null(c);
    rk_reply r;
    RKT_OK(rk_client_call(c, &r, "GET k"));
    assert_string_equal(rk_reply_str(&r), "hi");
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_fake_free(from);
    rkt_fake_free(to);
}

static void test_ask_sends_asking_and_the_command_together(void **state) {
    (void)state;
    rkt_fake *to = rkt_fake_start(
        (rkt_fake_step[]){{.expect = (const char *[]){"ASKING", NULL}, .reply = "+OK\r\n"},
                          {.expect = (const char *[]){"SET", "k", "v", NULL}, .reply = "+OK\r\n"}},
        2, NULL);
    assert_non_null(to);
    char ask[64];
    snprintf(ask, sizeof ask, "-ASK 7 127.0.0.1:%d\r\n", rkt_fake_port(to));
    rkt_fake *from = rkt_fake_start(
        (rkt_fake_step[]){{.expect = (const char *[]){"SET", "k", "v", NULL}, .reply = ask},
                          {.expect = (const char *[]){"GET", "k", NULL}, .reply = "$1\r\nv\r\n"}},
        2, NULL);
    assert_non_null(from);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(from)});
    assert_non_null(c);
    RKT_OK(rk_client_call(c, NULL, "SET k v"));
    /* ASK is for that command only: the next goes to the slot's node. */
    rk_reply r;
    RKT_OK(rk_client_call(c, &r, "GET k"));
    rk_reply_free(&r);
    assert_true(rkt_fake_wait_done(to, 5000));
    assert_true(rkt_fake_wait_done(from, 5000));
    assert_null(rkt_fake_error(to));
    assert_null(rkt_fake_error(from));
    rk_client_free(c);
    rkt_fake_free(from);
    rkt_fake_free(to);
}

/* A server naming a new address in every redirect cannot grow the
 * client's nodes without end: past RK_NODES_LEARNED_MAX a new one is
 * refused with RK_EREDIRECT, and the nodes known are still found. */
static void test_the_nodes_a_client_learns_are_bounded(void **state) {
    (void)state;
    rk_nodes nodes;
    rk_options o = {.host = "127.0.0.1", .port = 1, .pool_size = 1};
    assert_int_equal(rk_nodes_init(&nodes, &o, NULL), RK_OK);
    rk_node *first = rk_nodes_at(&nodes, "127.0.0.1", 9, 2);
    assert_non_null(first);
    for (int i = 1; i < RK_NODES_LEARNED_MAX; i++)
        assert_non_null(rk_nodes_at(&nodes, "127.0.0.1", 9, 2 + i));
    assert_null(rk_nodes_at(&nodes, "127.0.0.1", 9, 2 + RK_NODES_LEARNED_MAX));
    assert_int_equal(rk_error_last()->code, RK_EREDIRECT);
    assert_ptr_equal(rk_nodes_at(&nodes, "127.0.0.1", 9, 2), first);
    assert_ptr_equal(rk_nodes_at(&nodes, "127.0.0.1", 9, 1), &nodes.seed);
    rk_nodes_destroy(&nodes);
}

/* A pipeline whose command is redirected to a node that cannot be reached
 * (nothing listens on its port): `stop_on_error` set or not, exec returns
 * the connection failure the resend met, which is also that command's
 * status, never RK_OK or a server error with no reply behind it. */
static void redirected_to_nowhere(bool stop_on_error) {
    char moved[64];
    snprintf(moved, sizeof moved, "-MOVED 7 127.0.0.1:%d\r\n", rkt_free_port());
    rkt_fake *f = rkt_fake_start(
        (rkt_fake_step[]){{.expect = (const char *[]){"GET", "k", NULL}, .reply = moved},
                          {.expect = (const char *[]){"PING", NULL}, .reply = "+PONG\r\n"}},
        2, NULL);
    assert_non_null(f);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f), .retry = {.attempts = 1}});
    assert_non_null(c);
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.stop_on_error = stop_on_error});
    assert_non_null(p);
    RKT_OK(rk_pipeline_append(p, "GET k"));
    RKT_OK(rk_pipeline_append(p, "PING"));
    assert_int_equal(rk_pipeline_exec(p), RK_ECONNECT);
    assert_int_equal(rk_pipeline_status(p, 0), RK_ECONNECT);
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 0)), RK_REPLY_NIL);
    RKT_OK(rk_pipeline_status(p, 1));
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 1)), "PONG");
    rk_pipeline_free(p);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_a_pipeline_redirected_to_nowhere_fails_with_the_connection(void **state) {
    (void)state;
    redirected_to_nowhere(false);
}

static void test_stop_on_error_names_the_failure_of_a_redirected_command(void **state) {
    (void)state;
    redirected_to_nowhere(true);
}

int main(void) {
    const struct CMUnitTest fakes[] = {
        cmocka_unit_test(test_the_nodes_a_client_learns_are_bounded),
        cmocka_unit_test(test_a_redirect_loop_gives_up_after_five_redirects),
        cmocka_unit_test(test_a_malformed_redirect_is_a_protocol_error),
        cmocka_unit_test(test_a_redirect_to_an_unknown_hostname_is_eredirect),
        cmocka_unit_test(test_a_redirect_without_a_host_keeps_the_host),
        cmocka_unit_test(test_ask_sends_asking_and_the_command_together),
        cmocka_unit_test(test_a_pipeline_redirected_to_nowhere_fails_with_the_connection),
        cmocka_unit_test(test_stop_on_error_names_the_failure_of_a_redirected_command),
    };
    const struct CMUnitTest real[] = {
        cmocka_unit_test(test_slot_matches_cluster_keyslot),
        cmocka_unit_test(test_moved_is_followed_to_the_node_that_serves_the_slot),
        cmocka_unit_test(test_ask_is_followed_with_asking_on_the_importing_node),
        cmocka_unit_test(test_a_lock_on_a_key_of_another_node_works),
        cmocka_unit_test(test_a_script_on_a_key_of_another_node_works),
        cmocka_unit_test(test_a_pipeline_resends_each_redirected_command_in_its_place),
        cmocka_unit_test(test_a_keyed_topology_gets_each_commands_slot),
    };
    int failed = cmocka_run_group_tests_name("fake servers", fakes, NULL, NULL);
    failed += cmocka_run_group_tests_name("a real cluster", real, rkt_cluster3_setup,
                                          rkt_cluster3_teardown);
    return failed;
}
