/* Typed commands of the pub/sub group against the shared server, and of
 * the cluster group against a real three-master cluster, each test on
 * RESP2 and RESP3 with the same reply shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rkt_cluster.h"
#include "rkt_cmd.h"

/* Waits until the server has let go of the subscribers of earlier tests
 * (a closed subscriber connection is dropped a moment after). */
static void wait_no_subscribers(rk_client *c) {
    for (int i = 0; i < 500; i++) {
        long long patterns = -1;
        rk_reply ch, sh;
        RKT_OK(rk_pubsubnumpat(c, &patterns));
        RKT_OK(rk_pubsubchannels(c, NULL, &ch));
        RKT_OK(rk_pubsubshardchannels(c, NULL, &sh));
        bool quiet = patterns == 0 && rk_reply_len(&ch) == 0 && rk_reply_len(&sh) == 0;
        rk_reply_free(&ch);
        rk_reply_free(&sh);
        if (quiet)
            return;
        usleep(10000);
    }
    fail_msg("subscribers of earlier tests are still there");
}

/* A pubsub test's client, once the server has no subscribers. */
static rk_client *quiet_client(void **state) {
    rk_client *c = rkt_cmd_client(state);
    wait_no_subscribers(c);
    return c;
}

/* A subscriber on its own connection, confirmed on the server. */
static rk_pubsub *subscriber(rk_client *c, const char *channel, bool shard) {
    rk_pubsub *ps = rk_pubsub_new(c, NULL);
    assert_non_null(ps);
    const rk_str names[] = {rk_cstr(channel)};
    RKT_OK(shard ? rk_pubsub_ssubscribe(ps, names, 1) : rk_pubsub_subscribe(ps, names, 1));
    return ps;
}

static void test_publish_counts_the_subscribers_reached(void **state) {
    rk_client *c = quiet_client(state);
    long long n = -1;
    RKT_OK(rk_publish(c, "rkt:news", "nobody", &n));
    assert_int_equal(n, 0);
    rk_pubsub *ps = subscriber(c, "rkt:news", false);
    RKT_OK(rk_publish(c, "rkt:news", "hello", &n));
    assert_int_equal(n, 1);
    rk_message m;
    do /* the subscription's confirmation comes first */
        assert_int_equal(rk_pubsub_get_message(ps, 5000, &m), 1);
    while (m.kind != RK_MSG_MESSAGE);
    assert_int_equal(m.data_len, 5);
    assert_memory_equal(m.data, "hello", 5);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

static void test_spublish_reaches_a_shard_subscriber(void **state) {
    rk_client *c = quiet_client(state);
    rk_pubsub *ps = subscriber(c, "rkt:shard", true);
    long long n = -1;
    RKT_OK(rk_spublish(c, "rkt:shard", "hi", &n));
    assert_int_equal(n, 1);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

static void test_pubsub_channels_lists_active_channels_matching(void **state) {
    rk_client *c = quiet_client(state);
    rk_pubsub *a = subscriber(c, "rkt:a", false), *b = subscriber(c, "other:b", false);
    rk_reply r;
    RKT_OK(rk_pubsubchannels(c, &(rk_pubsubchannels_opts){.pattern = RK_STR("rkt:*")}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "rkt:a");
    rk_reply_free(&r);
    RKT_OK(rk_pubsubchannels(c, NULL, &r));
    assert_true(rk_reply_len(&r) >= 2);
    rk_reply_free(&r);
    rk_pubsub_free(a);
    rk_pubsub_free(b);
    rk_client_free(c);
}

/* NUMSUB is a flat [channel, count...] array on both protocols; the typed
 * call makes it a map. */
static void test_pubsub_numsub_is_a_map_of_counts(void **state) {
    rk_client *c = quiet_client(state);
    rk_pubsub *a = subscriber(c, "rkt:one", false);
    rk_reply r;
    RKT_OK(rk_pubsubnumsub(c, (const char *[]){"rkt:one", "rkt:none"}, 2, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "rkt:one", NULL)), 1);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "rkt:none", NULL)), 0);
    rk_reply_free(&r);
    rk_pubsub_free(a);
    rk_client_free(c);
}

static void test_pubsub_numpat_counts_pattern_subscriptions(void **state) {
    rk_client *c = quiet_client(state);
    rk_pubsub *ps = rk_pubsub_new(c, NULL);
    assert_non_null(ps);
    RKT_OK(rk_pubsub_psubscribe(ps, (const rk_str[]){RK_STR("rkt:p1:*"), RK_STR("rkt:p2:*")}, 2));
    long long n = -1;
    RKT_OK(rk_pubsubnumpat(c, &n));
    assert_int_equal(n, 2);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

static void test_pubsub_shard_channels_and_numsub(void **state) {
    rk_client *c = quiet_client(state);
    rk_pubsub *ps = subscriber(c, "rkt:s1", true);
    rk_reply r;
    RKT_OK(
        rk_pubsubshardchannels(c, &(rk_pubsubshardchannels_opts){.pattern = RK_STR("rkt:*")}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "rkt:s1");
    rk_reply_free(&r);
    RKT_OK(rk_pubsubshardnumsub(c, (const char *[]){"rkt:s1"}, 1, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "rkt:s1", NULL)), 1);
    rk_reply_free(&r);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

/* ---- cluster ------------------------------------------------------------ */

/* A client of the cluster's first node, speaking the test's protocol. */
static rk_client *node_client(void **state) {
    if (!rkt_cluster3_up)
        skip();
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_cluster3.nodes[0]),
                                               .protocol = rkt_cmd_protocol(state)});
    assert_non_null(c);
    return c;
}

static void test_cluster_info_says_the_state_is_ok(void **state) {
    rk_client *c = node_client(state);
    char *info;
    RKT_OK(rk_clusterinfo(c, &info, NULL));
    assert_non_null(strstr(info, "cluster_state:ok"));
    assert_non_null(strstr(info, "cluster_known_nodes:3"));
    rk_free(info);
    rk_client_free(c);
}

static void test_cluster_myid_is_a_line_of_cluster_nodes(void **state) {
    rk_client *c = node_client(state);
    char *id, *nodes;
    size_t len;
    RKT_OK(rk_clustermyid(c, &id, &len));
    assert_int_equal(len, 40);
    RKT_OK(rk_clusternodes(c, &nodes, NULL));
    char *line = strstr(nodes, id);
    assert_non_null(line);
    assert_non_null(strstr(line, "myself"));
    rk_free(id);
    rk_free(nodes);
    rk_client_free(c);
}

static void test_cluster_keyslot_hashes_the_tag(void **state) {
    rk_client *c = node_client(state);
    long long a = -1, b = -2;
    RKT_OK(rk_clusterkeyslot(c, "{user1000}.following", &a));
    RKT_OK(rk_clusterkeyslot(c, "{user1000}.followers", &b));
    assert_int_equal(a, b);
    RKT_OK(rk_clusterkeyslot(c, "foo", &a));
    assert_int_equal(a, 12182); /* the slot Redis documents for "foo" */
    rk_client_free(c);
}

/* CLUSTER SLOTS: [start, end, [host, port, id, ...]...] per range. */
static void test_cluster_slots_cover_all_16384(void **state) {
    rk_client *c = node_client(state);
    rk_reply r;
    RKT_OK(rk_clusterslots(c, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    long long covered = 0;
    for (size_t i = 0; i < rk_reply_len(&r); i++) {
        const rk_reply *range = rk_reply_at(&r, i);
        covered += rk_reply_int(rk_reply_at(range, 1)) - rk_reply_int(rk_reply_at(range, 0)) + 1;
        const rk_reply *master = rk_reply_at(range, 2);
        assert_int_equal(rk_reply_type(rk_reply_at(master, 1)), RK_REPLY_INTEGER);
    }
    assert_int_equal(covered, 16384);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* Each node of a CLUSTER SLOTS range ends with its networking metadata:
 * a map on RESP3, a flat array on RESP2; a map on both through the typed
 * call, for the master and any replica after it. */
static void test_cluster_slots_node_metadata_is_a_map(void **state) {
    rk_client *c = node_client(state);
    rk_reply r;
    RKT_OK(rk_clusterslots(c, &r));
    assert_true(rk_reply_len(&r) >= 1);
    for (size_t i = 0; i < rk_reply_len(&r); i++) {
        const rk_reply *range = rk_reply_at(&r, i);
        assert_true(rk_reply_len(range) >= 3);
        for (size_t n = 2; n < rk_reply_len(range); n++) {
            const rk_reply *node = rk_reply_at(range, n);
            rkt_expect_shape(node, RK_REPLY_ARRAY, 4); /* host, port, id, metadata */
            assert_int_equal(rk_reply_type(rk_reply_at(node, 3)), RK_REPLY_MAP);
        }
    }
    rk_reply_free(&r);
    rk_client_free(c);
}

/* CLUSTER SHARDS: maps on RESP3, flat arrays on RESP2; a map of maps on
 * both through the typed call. */
static void test_cluster_shards_are_maps_with_node_maps(void **state) {
    rk_client *c = node_client(state);
    rk_reply r;
    RKT_OK(rk_clustershards(c, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    for (size_t i = 0; i < 3; i++) {
        const rk_reply *shard = rk_reply_at(&r, i);
        assert_int_equal(rk_reply_type(shard), RK_REPLY_MAP);
        const rk_reply *nodes = rkt_map_expect(shard, "nodes", NULL);
        rkt_expect_shape(nodes, RK_REPLY_ARRAY, 1);
        const rk_reply *node = rk_reply_at(nodes, 0);
        rkt_map_expect(node, "role", "master");
        rkt_map_expect(node, "health", "online");
        assert_int_equal(rk_reply_type(rkt_map_expect(node, "port", NULL)), RK_REPLY_INTEGER);
    }
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_cluster_links_are_maps(void **state) {
    rk_client *c = node_client(state);
    rk_reply r;
    RKT_OK(rk_clusterlinks(c, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_true(rk_reply_len(&r) >= 2); /* to and from each of two peers */
    for (size_t i = 0; i < rk_reply_len(&r); i++)
        rkt_map_expect(rk_reply_at(&r, i), "node", NULL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* A key of the node's own slots is counted and listed in its slot. */
static void test_cluster_countkeysinslot_and_getkeysinslot(void **state) {
    rk_client *c = node_client(state);
    char *id;
    RKT_OK(rk_clustermyid(c, &id, NULL));
    rk_reply slots;
    RKT_OK(rk_clusterslots(c, &slots));
    long long slot = -1;
    for (size_t i = 0; i < rk_reply_len(&slots) && slot < 0; i++) {
        const rk_reply *range = rk_reply_at(&slots, i);
        if (strcmp(rk_reply_str(rk_reply_at(rk_reply_at(range, 2), 2)), id) == 0)
            slot = rk_reply_int(rk_reply_at(range, 0));
    }
    rk_reply_free(&slots);
    rk_free(id);
    assert_true(slot >= 0);
    char key[32];
    long long at = -1;
    for (int i = 0; at != slot; i++) { /* find a key that lands in that slot */
        snprintf(key, sizeof key, "rkt:%d", i);
        RKT_OK(rk_clusterkeyslot(c, key, &at));
    }
    RKT_OK(rk_set(c, key, "v", NULL, NULL));
    long long n = -1;
    RKT_OK(rk_clustercountkeysinslot(c, slot, &n));
    assert_int_equal(n, 1);
    rk_reply r;
    RKT_OK(rk_clustergetkeysinslot(c, slot, 10, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), key);
    rk_reply_free(&r);
    RKT_OK(rk_del(c, (const char *[]){key}, 1, NULL));
    rk_client_free(c);
}

/* READONLY and READWRITE change their connection: held, not pooled. */
static void test_readonly_and_readwrite_on_a_held_connection(void **state) {
    rk_client *c = node_client(state);
    rk_conn *conn;
    RKT_OK(rk_client_acquire(c, &conn));
    RKT_OK(rk_readonly(conn));
    RKT_OK(rk_readwrite(conn));
    rk_conn_close(conn);
    rk_client_release(c, conn);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest pubsub[] = {
        RKT_BOTH(test_publish_counts_the_subscribers_reached),
        RKT_BOTH(test_spublish_reaches_a_shard_subscriber),
        RKT_BOTH(test_pubsub_channels_lists_active_channels_matching),
        RKT_BOTH(test_pubsub_numsub_is_a_map_of_counts),
        RKT_BOTH(test_pubsub_numpat_counts_pattern_subscriptions),
        RKT_BOTH(test_pubsub_shard_channels_and_numsub),
    };
    /* RKT_BOTH's FLUSHALL goes to the shared server, stopped by then. */
    const struct CMUnitTest clustered[] = {
        RKT_BOTH(test_cluster_info_says_the_state_is_ok),
        RKT_BOTH(test_cluster_myid_is_a_line_of_cluster_nodes),
        RKT_BOTH(test_cluster_keyslot_hashes_the_tag),
        RKT_BOTH(test_cluster_slots_cover_all_16384),
        RKT_BOTH(test_cluster_slots_node_metadata_is_a_map),
        RKT_BOTH(test_cluster_shards_are_maps_with_node_maps),
        RKT_BOTH(test_cluster_links_are_maps),
        RKT_BOTH(test_cluster_countkeysinslot_and_getkeysinslot),
        RKT_BOTH(test_readonly_and_readwrite_on_a_held_connection),
    };
    int failed =
        cmocka_run_group_tests_name("pubsub", pubsub, rkt_shared_setup, rkt_shared_teardown);
    failed += cmocka_run_group_tests_name("cluster", clustered, rkt_cluster3_setup,
                                          rkt_cluster3_teardown);
    return failed;
}
