/* rk_pubsub against real servers, on RESP2 and RESP3: channels, patterns
 * and shard channels, binary payloads, confirmations, PING, handlers,
 * polling, reconnecting after a server restart or a silent server, the
 * background thread and subscribing from other threads while it runs or
 * starts and stops, waiting for subscriptions to be active, connection
 * events, and stopping on failures no retry cures (password, ACL).
 * Needs redis-server; the tests skip without it. */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/pubsub.h"
#include "rkt_alloc.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"
#include "util/common.h"

/* How long a test waits for something that should come at once; only a
 * bound against hanging, never a timing assertion. */
#define WAIT_MS 10000

/* The server most tests share, and one a test may own (restart, freeze). */
static rkt_server own;

/* ---- helpers --------------------------------------------------------- */

static rk_client *client_for(const rkt_server *srv, int proto) {
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(srv), .protocol = proto});
    assert_non_null(c);
    return c;
}

static rk_pubsub *pubsub_for(rk_client *c, const rk_pubsub_opts *opts) {
    rk_pubsub *ps = rk_pubsub_new(c, opts);
    if (ps == NULL)
        fail_msg("rk_pubsub_new: %s", rk_error_last()->message);
    return ps;
}

/* A name unique to the test and protocol, e.g. "two:3". */
static const char *name(char *buf, size_t size, const char *base, int proto) {
    snprintf(buf, size, "%s:%d", base, proto);
    return buf;
}

/* The next message the caller gets; fails the test if none comes. */
static rk_message next_message(rk_pubsub *ps) {
    rk_message m;
    int rc = rk_pubsub_get_message(ps, WAIT_MS, &m);
    if (rc != 1)
        fail_msg("rk_pubsub_get_message: %d (%s)", rc, rk_error_last()->message);
    return m;
}

static bool bytes_equal(const char *s, size_t n, const char *want, size_t want_len) {
    return s != NULL && n == want_len && memcmp(s, want, n) == 0;
}

/* The next message is of this kind on this channel (NULL: any). */
static rk_message expect(rk_pubsub *ps, rk_msg_kind kind, const char *channel) {
    rk_message m = next_message(ps);
    assert_int_equal(m.kind, kind);
    if (channel != NULL && !bytes_equal(m.channel, m.channel_len, channel, strlen(channel)))
        fail_msg("message on %.*s, expected %s", (int)m.channel_len,
                 m.channel ? m.channel : "(null)", channel);
    return m;
}

static void subscribe_one(rk_pubsub *ps, const char *channel) {
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(channel)}, 1), RK_OK);
    expect(ps, RK_MSG_SUBSCRIBE, channel);
}

/* PUBLISH (or SPUBLISH); returns how many subscribers got it. */
static long long publish(rk_client *c, const char *cmd, const char *channel, const void *data,
                         size_t len) {
    rk_reply r;
    const rk_str argv[] = {rk_bin(cmd, strlen(cmd)), rk_bin(channel, strlen(channel)),
                           rk_bin(data, len)};
    assert_int_equal(rk_client_call_argv(c, &r, argv, 3), RK_OK);
    long long n = rk_reply_int(&r);
    rk_reply_free(&r);
    return n;
}

/* The count PUBSUB `sub` (NUMSUB or SHARDNUMSUB) reports for a channel. */
static long long numsub(rk_client *c, const char *sub, const char *channel) {
    rk_reply r;
    const rk_str argv[] = {RK_STR("PUBSUB"), rk_cstr(sub), rk_cstr(channel)};
    assert_int_equal(rk_client_call_argv(c, &r, argv, 3), RK_OK);
    const rk_reply *v =
        rk_reply_type(&r) == RK_REPLY_MAP ? rk_reply_map_value(&r, 0) : rk_reply_at(&r, 1);
    assert_non_null(v);
    long long n = rk_reply_int(v);
    rk_reply_free(&r);
    return n;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Messages a handler received, rkt_shared with the thread calling handlers. */
typedef struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    rk_msg_kind last_kind;
    char last_data[64];
    pthread_t last_thread;
} inbox;

static void inbox_init(inbox *b) {
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
}

static void inbox_destroy(inbox *b) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

static void inbox_put(void *userdata, const rk_message *m) {
    inbox *b = userdata;
    pthread_mutex_lock(&b->mu);
    b->count++;
    b->last_kind = m->kind;
    snprintf(b->last_data, sizeof(b->last_data), "%.*s", (int)m->data_len, m->data ? m->data : "");
    b->last_thread = pthread_self();
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Waits until the inbox holds at least n messages; false after WAIT_MS. */
static bool inbox_wait(inbox *b, int n) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&b->mu);
    int rc = 0;
    while (b->count < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&b->cv, &b->mu, &until);
    bool ok = b->count >= n;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

/* Every test runs on both protocols: BOTH(x) makes test_x_resp2/resp3. */
#define BOTH(name)                                                                                 \
    static void test_##name##_resp2(void **state) {                                                \
        (void)state;                                                                               \
        name(2);                                                                                   \
    }                                                                                              \
    static void test_##name##_resp3(void **state) {                                                \
        (void)state;                                                                               \
        name(3);                                                                                   \
    }
#define BOTH_TESTS(name)                                                                           \
    cmocka_unit_test(test_##name##_resp2), cmocka_unit_test(test_##name##_resp3)
#define BOTH_OWN_TESTS(name)                                                                       \
    cmocka_unit_test_setup_teardown(test_##name##_resp2, start_own, stop_own),                     \
        cmocka_unit_test_setup_teardown(test_##name##_resp3, start_own, stop_own)
#define BOTH_ACL_TESTS(name)                                                                       \
    cmocka_unit_test_setup_teardown(test_##name##_resp2, start_own_acl, stop_own),                 \
        cmocka_unit_test_setup_teardown(test_##name##_resp3, start_own_acl, stop_own)

/* ---- messages -------------------------------------------------------- */

static void two_subscribers_both_get_the_message(int proto) {
    rkt_shared_need();
    char ch[32];
    name(ch, sizeof ch, "two", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *a = pubsub_for(c, NULL), *b = pubsub_for(c, NULL);
    subscribe_one(a, ch);
    subscribe_one(b, ch);
    assert_int_equal(publish(c, "PUBLISH", ch, "hello", 5), 2);
    rk_message m = expect(a, RK_MSG_MESSAGE, ch);
    assert_true(bytes_equal(m.data, m.data_len, "hello", 5));
    m = expect(b, RK_MSG_MESSAGE, ch);
    assert_true(bytes_equal(m.data, m.data_len, "hello", 5));
    rk_pubsub_free(a);
    rk_pubsub_free(b);
    rk_client_free(c);
}
BOTH(two_subscribers_both_get_the_message)

/* Whether an array reply holds the string s. */
static bool array_has(const rk_reply *r, const char *s) {
    for (size_t i = 0; i < rk_reply_len(r); i++) {
        const rk_reply *e = rk_reply_at(r, i);
        if (bytes_equal(rk_reply_str(e), rk_reply_len(e), s, strlen(s)))
            return true;
    }
    return false;
}

/* PUBSUB CHANNELS, NUMSUB, NUMPAT and SHARDCHANNELS go through the client
 * and see what an rk_pubsub subscribed to. */
static void pubsub_introspection_sees_the_subscriptions(int proto) {
    rkt_shared_need();
    char ch[32], pat[32], sch[32];
    name(ch, sizeof ch, "intro", proto);
    name(pat, sizeof pat, "intro-pat*", proto);
    name(sch, sizeof sch, "intro-shard", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    subscribe_one(ps, ch);
    const rk_str pats[] = {rk_cstr(pat)};
    const rk_str shards[] = {rk_cstr(sch)};
    assert_int_equal(rk_pubsub_psubscribe(ps, pats, 1), RK_OK);
    expect(ps, RK_MSG_PSUBSCRIBE, pat);
    assert_int_equal(rk_pubsub_ssubscribe(ps, shards, 1), RK_OK);
    expect(ps, RK_MSG_SSUBSCRIBE, sch);

    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "PUBSUB CHANNELS intro*"), RK_OK);
    assert_true(array_has(&r, ch));
    rk_reply_free(&r);
    assert_int_equal(numsub(c, "NUMSUB", ch), 1);
    assert_int_equal(rk_client_call(c, &r, "PUBSUB NUMPAT"), RK_OK);
    assert_true(rk_reply_int(&r) >= 1);
    rk_reply_free(&r);
    assert_int_equal(rk_client_call(c, &r, "PUBSUB SHARDCHANNELS intro*"), RK_OK);
    assert_true(array_has(&r, sch));
    rk_reply_free(&r);

    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(pubsub_introspection_sees_the_subscriptions)

static void pattern_message_carries_pattern_and_channel(int proto) {
    rkt_shared_need();
    char pat[32], ch[32];
    name(pat, sizeof pat, "news.*", proto);
    snprintf(ch, sizeof ch, "news.sport:%d", proto);
    const char *p = pat;
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    assert_int_equal(rk_pubsub_psubscribe(ps, (const rk_str[]){rk_cstr(p)}, 1), RK_OK);
    rk_message m = expect(ps, RK_MSG_PSUBSCRIBE, pat);
    assert_int_equal(m.count, 1);
    assert_int_equal(publish(c, "PUBLISH", ch, "goal", 4), 1);
    m = expect(ps, RK_MSG_PMESSAGE, ch);
    assert_true(bytes_equal(m.pattern, m.pattern_len, pat, strlen(pat)));
    assert_true(bytes_equal(m.data, m.data_len, "goal", 4));
    assert_int_equal(rk_pubsub_pattern_count(ps), 1);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(pattern_message_carries_pattern_and_channel)

static void shard_channel_message_arrives(int proto) {
    rkt_shared_need();
    char ch[32];
    const char *p = name(ch, sizeof ch, "shard", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    assert_int_equal(rk_pubsub_ssubscribe(ps, (const rk_str[]){rk_cstr(p)}, 1), RK_OK);
    expect(ps, RK_MSG_SSUBSCRIBE, ch);
    assert_int_equal(rk_pubsub_shard_channel_count(ps), 1);
    assert_int_equal(numsub(c, "SHARDNUMSUB", ch), 1);
    assert_int_equal(publish(c, "SPUBLISH", ch, "s-data", 6), 1);
    rk_message m = expect(ps, RK_MSG_SMESSAGE, ch);
    assert_true(bytes_equal(m.data, m.data_len, "s-data", 6));
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(shard_channel_message_arrives)

static void binary_payload_with_nul_bytes_arrives_whole(int proto) {
    rkt_shared_need();
    const char chan[] = {'b', 0, 'i', 'n', (char)('0' + proto)};
    const char data[] = {0, 'a', 0, '\r', '\n', (char)0xff, 0};
    const rk_str names[] = {rk_bin(chan, sizeof chan)};
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    assert_int_equal(rk_pubsub_subscribe(ps, names, 1), RK_OK);
    rk_message m = next_message(ps);
    assert_true(bytes_equal(m.channel, m.channel_len, chan, sizeof chan));
    rk_reply r;
    const rk_str argv[] = {RK_STR("PUBLISH"), rk_bin(chan, sizeof chan), rk_bin(data, sizeof data)};
    assert_int_equal(rk_client_call_argv(c, &r, argv, 3), RK_OK);
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    m = next_message(ps);
    assert_int_equal(m.kind, RK_MSG_MESSAGE);
    assert_true(bytes_equal(m.channel, m.channel_len, chan, sizeof chan));
    assert_true(bytes_equal(m.data, m.data_len, data, sizeof data));
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(binary_payload_with_nul_bytes_arrives_whole)

/* ---- confirmations --------------------------------------------------- */

static void confirmations_count_subscriptions(int proto) {
    rkt_shared_need();
    char a[32], b[32], p[32];
    const rk_str chans[] = {rk_cstr(name(a, sizeof a, "cnt-a", proto)),
                            rk_cstr(name(b, sizeof b, "cnt-b", proto))};
    const char *pat = name(p, sizeof p, "cnt-*", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    assert_int_equal(rk_pubsub_subscribe(ps, chans, 2), RK_OK);
    assert_int_equal(rk_pubsub_psubscribe(ps, (const rk_str[]){rk_cstr(pat)}, 1), RK_OK);
    assert_int_equal(expect(ps, RK_MSG_SUBSCRIBE, a).count, 1);
    assert_int_equal(expect(ps, RK_MSG_SUBSCRIBE, b).count, 2);
    assert_int_equal(expect(ps, RK_MSG_PSUBSCRIBE, p).count, 3);
    assert_int_equal(rk_pubsub_channel_count(ps), 2);
    assert_int_equal(rk_pubsub_pattern_count(ps), 1);
    assert_int_equal(rk_pubsub_unsubscribe(ps, chans, 1), RK_OK);
    assert_int_equal(expect(ps, RK_MSG_UNSUBSCRIBE, a).count, 2);
    assert_int_equal(rk_pubsub_channel_count(ps), 1);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(confirmations_count_subscriptions)

static void ignored_confirmations_are_not_returned(int proto) {
    rkt_shared_need();
    char ch[32];
    const char *p = name(ch, sizeof ch, "quiet", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(p)}, 1), RK_OK);
    /* The PONG comes after the confirmation: once it is here, the
     * confirmation was read and skipped. */
    assert_int_equal(rk_pubsub_ping(ps, "after"), RK_OK);
    rk_message m = expect(ps, RK_MSG_PONG, NULL);
    assert_true(bytes_equal(m.data, m.data_len, "after", 5));
    assert_int_equal(rk_pubsub_channel_count(ps), 1);
    assert_int_equal(publish(c, "PUBLISH", ch, "x", 1), 1);
    expect(ps, RK_MSG_MESSAGE, ch);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(ignored_confirmations_are_not_returned)

static void unsubscribe_all_drops_every_channel(int proto) {
    rkt_shared_need();
    char a[32], b[32];
    const rk_str chans[] = {rk_cstr(name(a, sizeof a, "all-a", proto)),
                            rk_cstr(name(b, sizeof b, "all-b", proto))};
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    assert_int_equal(rk_pubsub_subscribe(ps, chans, 2), RK_OK);
    expect(ps, RK_MSG_SUBSCRIBE, a);
    expect(ps, RK_MSG_SUBSCRIBE, b);
    assert_int_equal(rk_pubsub_unsubscribe(ps, NULL, 0), RK_OK);
    expect(ps, RK_MSG_UNSUBSCRIBE, NULL);
    assert_int_equal(expect(ps, RK_MSG_UNSUBSCRIBE, NULL).count, 0);
    assert_int_equal(rk_pubsub_channel_count(ps), 0);
    assert_int_equal(numsub(c, "NUMSUB", a), 0);
    assert_int_equal(publish(c, "PUBLISH", b, "x", 1), 0);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(unsubscribe_all_drops_every_channel)

static void many_channels_are_counted_as_confirmed(int proto) {
    rkt_shared_need();
    enum { N = 300 };
    static char bufs[N][32];
    rk_str chans[N];
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof bufs[i], "many:%d:%d", proto, i);
        chans[i] = rk_cstr(bufs[i]);
    }
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    assert_int_equal(rk_pubsub_subscribe(ps, chans, N), RK_OK);
    for (int i = 0; i < N; i += 2) /* every other one, in one call each */
        assert_int_equal(rk_pubsub_unsubscribe(ps, &chans[i], 1), RK_OK);
    assert_int_equal(rk_pubsub_ping(ps, NULL), RK_OK);
    expect(ps, RK_MSG_PONG, NULL);
    assert_int_equal(rk_pubsub_channel_count(ps), N / 2);
    for (int i = 0; i < N; i++)
        assert_int_equal(numsub(c, "NUMSUB", chans[i].ptr), i % 2);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(many_channels_are_counted_as_confirmed)

/* ---- ping, handlers, polling ----------------------------------------- */

static void ping_is_answered_by_pong_with_payload(int proto) {
    rkt_shared_need();
    char ch[32];
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    subscribe_one(ps, name(ch, sizeof ch, "ping", proto));
    assert_int_equal(rk_pubsub_ping(ps, "payload"), RK_OK);
    rk_message m = expect(ps, RK_MSG_PONG, NULL);
    assert_true(bytes_equal(m.data, m.data_len, "payload", 7));
    assert_int_equal(rk_pubsub_ping(ps, NULL), RK_OK);
    m = expect(ps, RK_MSG_PONG, NULL);
    assert_true(bytes_equal(m.data, m.data_len, "", 0));
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(ping_is_answered_by_pong_with_payload)

static void handler_gets_its_messages_instead_of_get_message(int proto) {
    rkt_shared_need();
    char h[32], plain[32];
    name(h, sizeof h, "handled", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    inbox box;
    inbox_init(&box);
    assert_int_equal(rk_pubsub_on(ps, h, inbox_put, &box), RK_OK);
    expect(ps, RK_MSG_SUBSCRIBE, h);
    subscribe_one(ps, name(plain, sizeof plain, "plain", proto));
    assert_int_equal(publish(c, "PUBLISH", h, "to-handler", 10), 1);
    assert_int_equal(publish(c, "PUBLISH", plain, "to-caller", 9), 1);
    rk_message m = expect(ps, RK_MSG_MESSAGE, plain);
    assert_true(bytes_equal(m.data, m.data_len, "to-caller", 9));
    assert_int_equal(box.count, 1);
    assert_string_equal(box.last_data, "to-handler");
    rk_pubsub_free(ps);
    rk_client_free(c);
    inbox_destroy(&box);
}
BOTH(handler_gets_its_messages_instead_of_get_message)

static void pattern_handler_gets_matching_messages(int proto) {
    rkt_shared_need();
    char pat[32], ch[32], done[32];
    name(pat, sizeof pat, "ph.*", proto);
    snprintf(ch, sizeof ch, "ph.x:%d", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    inbox box;
    inbox_init(&box);
    assert_int_equal(rk_pubsub_on_pattern(ps, pat, inbox_put, &box), RK_OK);
    expect(ps, RK_MSG_PSUBSCRIBE, pat);
    subscribe_one(ps, name(done, sizeof done, "ph-done", proto));
    assert_int_equal(publish(c, "PUBLISH", ch, "matched", 7), 1);
    assert_int_equal(publish(c, "PUBLISH", done, "end", 3), 1);
    expect(ps, RK_MSG_MESSAGE, done);
    assert_int_equal(box.count, 1);
    assert_int_equal(box.last_kind, RK_MSG_PMESSAGE);
    assert_string_equal(box.last_data, "matched");
    rk_pubsub_free(ps);
    rk_client_free(c);
    inbox_destroy(&box);
}
BOTH(pattern_handler_gets_matching_messages)

/* A handler that subscribes to the channel named by the message. */
typedef struct chain {
    rk_pubsub *ps;
    int rc;
    char next[32];
} chain;

static void subscribe_to_payload(void *userdata, const rk_message *m) {
    chain *ch = userdata;
    snprintf(ch->next, sizeof ch->next, "%.*s", (int)m->data_len, m->data);
    const char *p = ch->next;
    ch->rc = rk_pubsub_subscribe(ch->ps, (const rk_str[]){rk_cstr(p)}, 1);
}

static void handler_may_subscribe_from_inside(int proto) {
    rkt_shared_need();
    char first[32], second[32];
    name(first, sizeof first, "chain-1", proto);
    name(second, sizeof second, "chain-2", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    chain ch = {.ps = ps, .rc = -100};
    assert_int_equal(rk_pubsub_on(ps, first, subscribe_to_payload, &ch), RK_OK);
    expect(ps, RK_MSG_SUBSCRIBE, first);
    assert_int_equal(publish(c, "PUBLISH", first, second, strlen(second)), 1);
    expect(ps, RK_MSG_SUBSCRIBE, second); /* sent once the handler returned */
    assert_int_equal(ch.rc, RK_OK);
    assert_int_equal(publish(c, "PUBLISH", second, "x", 1), 1);
    expect(ps, RK_MSG_MESSAGE, second);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(handler_may_subscribe_from_inside)

static void zero_timeout_polls_and_returns_zero_when_idle(int proto) {
    rkt_shared_need();
    char ch[32];
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    subscribe_one(ps, name(ch, sizeof ch, "poll", proto));
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(ps, 0, &m), 0);
    assert_int_equal(publish(c, "PUBLISH", ch, "polled", 6), 1);
    int rc = 0;
    for (int i = 0; i < WAIT_MS && rc == 0; i++) {
        rc = rk_pubsub_get_message(ps, 0, &m);
        if (rc == 0)
            sleep_ms(1);
    }
    assert_int_equal(rc, 1);
    assert_true(bytes_equal(m.data, m.data_len, "polled", 6));
    assert_int_equal(rk_pubsub_get_message(ps, 0, &m), 0);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(zero_timeout_polls_and_returns_zero_when_idle)

/* One of the (un)subscribe calls. */
typedef int (*subscribe_fn)(rk_pubsub *, const rk_str *, size_t);

/* Unsubscribing "a\0b" drops that channel, not "a" (its bytes before the
 * NUL): the name goes out whole. */
static void test_unsubscribe_binary_channel_keeps_its_prefix(void **state) {
    (void)state;
    rkt_shared_need();
    const rk_str both[] = {rk_bin("ub\0b", 4), RK_STR("ub")};
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    assert_int_equal(rk_pubsub_subscribe(ps, both, 2), RK_OK);
    assert_int_equal(rk_pubsub_unsubscribe(ps, &both[0], 1), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
    assert_int_equal(rk_pubsub_channel_count(ps), 1);
    assert_int_equal(numsub(c, "NUMSUB", "ub"), 1);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

/* Every (un)subscribe call refuses a NULL array with n > 0, connecting
 * nothing. */
static void test_null_names_with_a_count_are_einval(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, NULL);
    const subscribe_fn calls[] = {rk_pubsub_subscribe,  rk_pubsub_unsubscribe,
                                  rk_pubsub_psubscribe, rk_pubsub_punsubscribe,
                                  rk_pubsub_ssubscribe, rk_pubsub_sunsubscribe};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        assert_int_equal(calls[i](ps, NULL, 1), RK_EINVAL);
        assert_non_null(strstr(rk_error_last()->message, "NULL names"));
    }
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(ps, -1, &m), RK_EINVAL); /* nothing recorded */
    rk_pubsub_free(ps);
    rk_client_free(c);
}

/* A name over RK_STR_MAX is refused before the subscription is
 * remembered (else every reconnect would try it again). */
static void test_a_name_too_long_is_einval_and_not_remembered(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, NULL);
    rk_str huge = rk_bin("x", RK_STR_MAX + 1); /* refused before it is read */
    assert_int_equal(rk_pubsub_subscribe(ps, &huge, 1), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "RK_STR_MAX"));
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(ps, -1, &m), RK_EINVAL); /* nothing recorded */
    rk_pubsub_free(ps);
    rk_client_free(c);
}

static void test_bad_arguments_are_einval(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, NULL);
    rk_message m;
    /* Nothing subscribed: waiting forever would never end. */
    assert_int_equal(rk_pubsub_get_message(ps, -1, &m), RK_EINVAL);
    assert_int_equal(rk_pubsub_subscribe(ps, NULL, 1), RK_EINVAL);
    const rk_str null_name[] = {(rk_str){0, NULL}};
    assert_int_equal(rk_pubsub_subscribe(ps, null_name, 1), RK_EINVAL);
    assert_int_equal(rk_pubsub_on(ps, "x", NULL, NULL), RK_EINVAL);
    assert_null(rk_pubsub_new(NULL, NULL));
    assert_int_equal(rk_pubsub_channel_count(ps), 0);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

/* ---- reconnecting ---------------------------------------------------- */

static int start_own(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        return 0;
    return rkt_server_start(&own, &(rkt_server_opts){.requirepass = "pw1"});
}

static int stop_own(void **state) {
    (void)state;
    rkt_server_thaw(&own);
    rkt_server_stop(&own);
    memset(&own, 0, sizeof own);
    return 0;
}

static rk_client *own_client(int proto, int port, int health_ms) {
    rk_client *c = rk_client_new(&(rk_options){.port = port,
                                               .protocol = proto,
                                               .password = "pw1",
                                               .connect_timeout_ms = 500,
                                               .health_check_ms = health_ms});
    assert_non_null(c);
    return c;
}

/* Reads until RK_MSG_RECONNECTED; fails on an error or after 20 tries. */
static void expect_reconnected(rk_pubsub *ps) {
    for (int i = 0; i < 20; i++) {
        rk_message m;
        int rc = rk_pubsub_get_message(ps, WAIT_MS, &m);
        if (rc < 0)
            fail_msg("rk_pubsub_get_message: %d (%s)", rc, rk_error_last()->message);
        if (rc == 1 && m.kind == RK_MSG_RECONNECTED)
            return;
    }
    fail_msg("no RK_MSG_RECONNECTED");
}

static void restart_restores_every_subscription(int proto) {
    if (own.pid == 0)
        skip();
    char ch[32], pat[32], sh[32];
    const char *c_ch = name(ch, sizeof ch, "rpc", proto),
               *c_pat = name(pat, sizeof pat, "rp*", proto),
               *c_sh = name(sh, sizeof sh, "rsh", proto);
    rk_client *c = own_client(proto, rkt_server_port(&own), 0);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(c_ch)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_psubscribe(ps, (const rk_str[]){rk_cstr(c_pat)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_ssubscribe(ps, (const rk_str[]){rk_cstr(c_sh)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_ping(ps, NULL), RK_OK);
    expect(ps, RK_MSG_PONG, NULL);
    assert_int_equal(rkt_server_restart(&own), 0);
    expect_reconnected(ps);
    assert_int_equal(numsub(c, "NUMSUB", ch), 1);
    assert_int_equal(numsub(c, "SHARDNUMSUB", sh), 1);
    assert_int_equal(rk_pubsub_channel_count(ps), 1);
    assert_int_equal(rk_pubsub_pattern_count(ps), 1);
    assert_int_equal(rk_pubsub_shard_channel_count(ps), 1);
    assert_int_equal(publish(c, "PUBLISH", ch, "after", 5), 2); /* channel and pattern */
    expect(ps, RK_MSG_MESSAGE, ch);
    expect(ps, RK_MSG_PMESSAGE, ch);
    assert_int_equal(publish(c, "SPUBLISH", sh, "shard", 5), 1);
    expect(ps, RK_MSG_SMESSAGE, sh);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(restart_restores_every_subscription)

static void wrong_password_fails_first_subscribe_with_eauth(int proto) {
    if (own.pid == 0)
        skip();
    rk_client *c = rk_client_new(
        &(rk_options){.port = rkt_server_port(&own), .protocol = proto, .password = "wrong"});
    assert_non_null(c);
    rk_pubsub *ps = pubsub_for(c, NULL);
    const char *ch = "never";
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(ch)}, 1), RK_EAUTH);
    assert_int_equal(rk_pubsub_channel_count(ps), 0);
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(ps, -1, &m), RK_EINVAL); /* nothing recorded */
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(wrong_password_fails_first_subscribe_with_eauth)

static void refused_password_on_reconnect_is_eauth(int proto) {
    if (own.pid == 0)
        skip();
    char ch[32];
    rk_client *c = own_client(proto, rkt_server_port(&own), 0);
    rk_pubsub *ps = pubsub_for(c, NULL);
    subscribe_one(ps, name(ch, sizeof ch, "auth", proto));
    assert_int_equal(rk_client_call(c, NULL, "CONFIG SET requirepass pw2"), RK_OK);
    assert_int_equal(rk_client_call(c, NULL, "CLIENT KILL TYPE pubsub"), RK_OK);
    rk_message m;
    int rc = rk_pubsub_get_message(ps, WAIT_MS, &m);
    assert_int_equal(rc, RK_EAUTH);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(refused_password_on_reconnect_is_eauth)

/* A frozen server keeps the connection open but answers nothing: only the
 * health check can tell. The proxy counts the connections made. */
static void health_check_replaces_silent_connection(int proto) {
    if (own.pid == 0)
        skip();
    char ch[32];
    rkt_proxy *px = rkt_proxy_start("127.0.0.1", rkt_server_port(&own));
    assert_non_null(px);
    rk_client *c = own_client(proto, rkt_proxy_port(px), 0);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.health_check_ms = 100});
    subscribe_one(ps, name(ch, sizeof ch, "health", proto));
    rkt_server_freeze(&own);
    rkt_proxy_stats st = {0};
    for (int i = 0; i < WAIT_MS / 50 && st.accepted < 2; i++) {
        rk_message m;
        assert_int_equal(rk_pubsub_get_message(ps, 50, &m), 0);
        rkt_proxy_get_stats(px, &st);
    }
    rkt_server_thaw(&own);
    assert_true(st.accepted >= 2);
    expect_reconnected(ps);
    assert_int_equal(rk_pubsub_channel_count(ps), 1);
    rk_pubsub_free(ps);
    rk_client_free(c);
    rkt_proxy_stop(px);
}
BOTH(health_check_replaces_silent_connection)

/* ---- the background thread ------------------------------------------- */

static void thread_dispatches_to_handlers_and_stops(int proto) {
    rkt_shared_need();
    char h[32], other[32];
    name(h, sizeof h, "thr", proto);
    const char *o = name(other, sizeof other, "thr-other", proto);
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    inbox handled, fallback;
    inbox_init(&handled);
    inbox_init(&fallback);
    assert_int_equal(rk_pubsub_on(ps, h, inbox_put, &handled), RK_OK);
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(o)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_start_thread(ps, inbox_put, &fallback), RK_OK);
    assert_int_equal(rk_pubsub_ping(ps, "sync"), RK_OK); /* both subscribed once it is back */
    assert_true(inbox_wait(&fallback, 1));
    assert_int_equal(fallback.last_kind, RK_MSG_PONG);
    assert_int_equal(publish(c, "PUBLISH", h, "one", 3), 1);
    assert_int_equal(publish(c, "PUBLISH", other, "two", 3), 1);
    assert_true(inbox_wait(&handled, 1));
    assert_true(inbox_wait(&fallback, 2));
    assert_string_equal(handled.last_data, "one");
    assert_string_equal(fallback.last_data, "two");
    assert_false(pthread_equal(handled.last_thread, pthread_self()));
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(ps, 0, &m), RK_EINVAL); /* the thread reads */
    assert_int_equal(rk_pubsub_stop_thread(ps), RK_OK);
    assert_int_equal(publish(c, "PUBLISH", other, "three", 5), 1);
    expect(ps, RK_MSG_MESSAGE, other); /* the caller reads again */
    rk_pubsub_free(ps);
    rk_client_free(c);
    inbox_destroy(&handled);
    inbox_destroy(&fallback);
}
BOTH(thread_dispatches_to_handlers_and_stops)

typedef struct subscriber_job {
    rk_pubsub *ps;
    inbox *box;
    int proto, first, count;
} subscriber_job;

static void *subscribe_many(void *arg) {
    subscriber_job *j = arg;
    for (int i = j->first; i < j->first + j->count; i++) {
        char ch[32];
        snprintf(ch, sizeof ch, "mt:%d:%d", j->proto, i);
        if (rk_pubsub_on(j->ps, ch, inbox_put, j->box) != RK_OK)
            return j; /* non-NULL: failed */
    }
    return NULL;
}

static void other_threads_subscribe_while_thread_runs(int proto) {
    rkt_shared_need();
    enum { PER_THREAD = 50 };
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    inbox box, fallback;
    inbox_init(&box);
    inbox_init(&fallback);
    assert_int_equal(rk_pubsub_start_thread(ps, inbox_put, &fallback), RK_OK);
    pthread_t t[2];
    subscriber_job jobs[2] = {{ps, &box, proto, 0, PER_THREAD},
                              {ps, &box, proto, PER_THREAD, PER_THREAD}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, subscribe_many, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *err;
        pthread_join(t[i], &err);
        assert_null(err);
    }
    assert_int_equal(rk_pubsub_ping(ps, "sync"), RK_OK);
    assert_true(inbox_wait(&fallback, 1)); /* every SUBSCRIBE went before it */
    assert_int_equal(rk_pubsub_channel_count(ps), 2 * PER_THREAD);
    for (int i = 0; i < 2 * PER_THREAD; i++) {
        char ch[32];
        snprintf(ch, sizeof ch, "mt:%d:%d", proto, i);
        assert_int_equal(publish(c, "PUBLISH", ch, "m", 1), 1);
    }
    assert_true(inbox_wait(&box, 2 * PER_THREAD));
    assert_int_equal(rk_pubsub_stop_thread(ps), RK_OK);
    rk_pubsub_free(ps);
    rk_client_free(c);
    inbox_destroy(&box);
    inbox_destroy(&fallback);
}
BOTH(other_threads_subscribe_while_thread_runs)

static void test_free_with_thread_running_stops_it(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, NULL);
    const char *ch = "free-running";
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(ch)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_start_thread(ps, NULL, NULL), RK_OK);
    assert_int_equal(rk_pubsub_start_thread(ps, NULL, NULL), RK_EINVAL);
    rk_pubsub_free(ps); /* joins the thread; sanitizers see any leak */
    rk_client_free(c);
}

/* ---- waiting for subscriptions to be active -------------------------- */

/* The kinds of subscription and how to publish to each. */
typedef struct sub_kind {
    const char *base;
    subscribe_fn subscribe, unsubscribe;
    const char *publish; /* PUBLISH or SPUBLISH */
    bool pattern;        /* the name is a pattern: publish to name minus '*' */
} sub_kind;

static const sub_kind kinds[] = {
    {"wa-ch", rk_pubsub_subscribe, rk_pubsub_unsubscribe, "PUBLISH", false},
    {"wa-pat*", rk_pubsub_psubscribe, rk_pubsub_punsubscribe, "PUBLISH", true},
    {"wa-shard", rk_pubsub_ssubscribe, rk_pubsub_sunsubscribe, "SPUBLISH", false},
};

/* For round i: the kind, the name to subscribe to, the channel to publish
 * to (unique per round, test and protocol). */
static const sub_kind *round_names(int i, const char *test, int proto, char *sub, char *chan,
                                   size_t size) {
    const sub_kind *k = &kinds[i % 3];
    snprintf(chan, size, "%s:%s:%d:%d.", k->base, test, proto, i);
    char *star = strchr(chan, '*');
    if (star != NULL)
        memmove(star, star + 1, strlen(star));
    size_t n = strlen(chan); /* below size: snprintf wrote it */
    memcpy(sub, chan, n + 1);
    if (k->pattern && n + 1 < size)
        memcpy(sub + n, "*", 2);
    return k;
}

/* With the thread reading, a message published as soon as
 * rk_pubsub_wait_active returns reaches the new subscription, for
 * channels, patterns and shard channels alike. Without the wait some of
 * the 50 publishes would find no subscriber. */
static void wait_active_with_thread_makes_next_publish_arrive(int proto) {
    rkt_shared_need();
    enum { ROUNDS = 50 };
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    inbox box;
    inbox_init(&box);
    assert_int_equal(rk_pubsub_start_thread(ps, inbox_put, &box), RK_OK);
    for (int i = 0; i < ROUNDS; i++) {
        char sub[64], chan[64];
        const sub_kind *k = round_names(i, "thr", proto, sub, chan, sizeof sub);
        const rk_str s = rk_cstr(sub);
        assert_int_equal(k->subscribe(ps, &s, 1), RK_OK);
        assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
        if (publish(c, k->publish, chan, "now", 3) != 1)
            fail_msg("round %d: nobody subscribed to %s yet", i, sub);
        assert_true(inbox_wait(&box, i + 1));
    }
    assert_int_equal(rk_pubsub_stop_thread(ps), RK_OK);
    rk_pubsub_free(ps);
    rk_client_free(c);
    inbox_destroy(&box);
}
BOTH(wait_active_with_thread_makes_next_publish_arrive)

/* Without the thread, rk_pubsub_wait_active reads the connection itself
 * (the subscription counts include the new one when it returns) and keeps
 * what it read for rk_pubsub_get_message: the confirmation, then the
 * message published right after the wait. */
static void wait_active_without_thread_keeps_messages_for_get_message(int proto) {
    rkt_shared_need();
    enum { ROUNDS = 50 };
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, NULL);
    static const rk_msg_kind confirms[] = {RK_MSG_SUBSCRIBE, RK_MSG_PSUBSCRIBE, RK_MSG_SSUBSCRIBE};
    static const rk_msg_kind delivers[] = {RK_MSG_MESSAGE, RK_MSG_PMESSAGE, RK_MSG_SMESSAGE};
    for (int i = 0; i < ROUNDS; i++) {
        char sub[64], chan[64];
        const sub_kind *k = round_names(i, "poll", proto, sub, chan, sizeof sub);
        const rk_str s = rk_cstr(sub);
        assert_int_equal(k->subscribe(ps, &s, 1), RK_OK);
        assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
        assert_int_equal(rk_pubsub_channel_count(ps) + rk_pubsub_pattern_count(ps) +
                             rk_pubsub_shard_channel_count(ps),
                         i + 1); /* the confirmation was read */
        if (publish(c, k->publish, chan, "now", 3) != 1)
            fail_msg("round %d: nobody subscribed to %s yet", i, sub);
        expect(ps, confirms[i % 3], sub);
        rk_message m = expect(ps, delivers[i % 3], chan);
        assert_true(bytes_equal(m.data, m.data_len, "now", 3));
    }
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(wait_active_without_thread_keeps_messages_for_get_message)

/* After the wait, unsubscribed channels, patterns and shard channels no
 * longer get what is published. */
static void wait_active_after_unsubscribe_stops_delivery(int proto) {
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    assert_int_equal(rk_pubsub_start_thread(ps, NULL, NULL), RK_OK);
    for (int i = 0; i < 3 * 10; i++) {
        char sub[64], chan[64];
        const sub_kind *k = round_names(i, "unsub", proto, sub, chan, sizeof sub);
        const rk_str s = rk_cstr(sub);
        assert_int_equal(k->subscribe(ps, &s, 1), RK_OK);
        assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
        assert_int_equal(publish(c, k->publish, chan, "in", 2), 1);
        assert_int_equal(k->unsubscribe(ps, &s, 1), RK_OK);
        assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
        if (publish(c, k->publish, chan, "out", 3) != 0)
            fail_msg("round %d: %s still subscribed", i, sub);
    }
    assert_int_equal(rk_pubsub_channel_count(ps) + rk_pubsub_pattern_count(ps) +
                         rk_pubsub_shard_channel_count(ps),
                     0);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(wait_active_after_unsubscribe_stops_delivery)

static void test_wait_active_with_nothing_subscribed_returns_at_once(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, NULL);
    assert_int_equal(rk_pubsub_wait_active(ps, -1), RK_OK);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

/* A handler cannot wait: the loop that would read the answer runs it. */
static void wait_from_handler(void *userdata, const rk_message *m) {
    (void)m;
    chain *ch = userdata;
    ch->rc = rk_pubsub_wait_active(ch->ps, 0);
}

static void test_wait_active_from_handler_is_einval(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rk_pubsub *ps = pubsub_for(c, NULL);
    chain ch = {.ps = ps, .rc = -100};
    assert_int_equal(rk_pubsub_on(ps, "wa-handler", wait_from_handler, &ch), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
    assert_int_equal(publish(c, "PUBLISH", "wa-handler", "x", 1), 1);
    assert_int_equal(rk_pubsub_ping(ps, "sync"), RK_OK);
    expect(ps, RK_MSG_SUBSCRIBE, "wa-handler");
    expect(ps, RK_MSG_PONG, NULL); /* the handler ran before it */
    assert_int_equal(ch.rc, RK_EINVAL);
    rk_pubsub_free(ps);
    rk_client_free(c);
}

/* A server that answers nothing: the wait ends at its timeout. */
static void wait_active_times_out_when_server_is_silent(int proto) {
    if (own.pid == 0)
        skip();
    rk_client *c = own_client(proto, rkt_server_port(&own), 0);
    rk_pubsub *ps = pubsub_for(c, NULL);
    subscribe_one(ps, "wa-silent-1");
    rkt_server_freeze(&own);
    const char *ch = "wa-silent-2";
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(ch)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(ps, 200), RK_ETIMEOUT);
    rkt_server_thaw(&own);
    assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
    assert_int_equal(rk_pubsub_channel_count(ps), 2);
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(wait_active_times_out_when_server_is_silent)

/* ---- connection events and fatal failures ---------------------------- */

/* What on_event was told, in order. */
typedef struct events {
    inbox box; /* count, and the lock and condition to wait on */
    rk_pubsub_event kind[16];
    int code[16];
    char prefix[16][32];
} events;

static void events_put(void *userdata, rk_pubsub_event event, const rk_error *err) {
    events *e = userdata;
    pthread_mutex_lock(&e->box.mu);
    int i = e->box.count;
    if (i < 16) {
        e->kind[i] = event;
        e->code[i] = err->code;
        snprintf(e->prefix[i], sizeof e->prefix[i], "%s", err->prefix);
        e->box.count++;
    }
    pthread_cond_broadcast(&e->box.cv);
    pthread_mutex_unlock(&e->box.mu);
}

/* Waits for event number i (from 0); fails the test unless it is `kind`. */
static void expect_event(events *e, int i, rk_pubsub_event kind) {
    if (!inbox_wait(&e->box, i + 1))
        fail_msg("event %d never came", i);
    assert_int_equal(e->kind[i], kind);
}

/* A subscriber on the own server (through a proxy that counts the
 * connections made), with its thread started and `channel` in force; the
 * channel's messages go to `box`. */
typedef struct watched {
    rkt_proxy *px;
    rk_client *client; /* to publish and administer, straight to the server */
    rk_client *sub_client;
    rk_pubsub *ps;
    events ev;
    inbox box;
} watched;

static void watched_start(watched *w, int proto, const char *user, const char *password,
                          const char *channel) {
    memset(w, 0, sizeof *w);
    inbox_init(&w->ev.box);
    inbox_init(&w->box);
    w->px = rkt_proxy_start("127.0.0.1", rkt_server_port(&own));
    assert_non_null(w->px);
    w->client = rk_client_new(&(rk_options){.port = rkt_server_port(&own),
                                            .protocol = proto,
                                            .password = own.password[0] ? "pw1" : NULL});
    assert_non_null(w->client);
    w->sub_client = rk_client_new(&(rk_options){.port = rkt_proxy_port(w->px),
                                                .protocol = proto,
                                                .username = user,
                                                .password = password,
                                                .connect_timeout_ms = 500});
    assert_non_null(w->sub_client);
    w->ps = pubsub_for(w->sub_client, &(rk_pubsub_opts){.ignore_confirmations = true,
                                                        .on_event = events_put,
                                                        .event_userdata = &w->ev});
    assert_int_equal(rk_pubsub_start_thread(w->ps, NULL, NULL), RK_OK);
    assert_int_equal(rk_pubsub_on(w->ps, channel, inbox_put, &w->box), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(w->ps, WAIT_MS), RK_OK);
}

static void watched_stop(watched *w) {
    assert_int_equal(rk_pubsub_stop_thread(w->ps), RK_OK);
    rk_pubsub_free(w->ps);
    rk_client_free(w->sub_client);
    rk_client_free(w->client);
    rkt_proxy_stop(w->px);
    inbox_destroy(&w->ev.box);
    inbox_destroy(&w->box);
}

/* No connection is attempted for a second: the thread gave up. */
static void assert_no_more_connections(rkt_proxy *px) {
    rkt_proxy_stats before, after;
    rkt_proxy_get_stats(px, &before);
    sleep_ms(1500); /* the backoff caps at 512 ms: a retrying thread connects */
    rkt_proxy_get_stats(px, &after);
    assert_int_equal(after.accepted, before.accepted);
}

/* A killed connection is a passing failure: lost, reconnected, and the
 * messages flow again. */
static void killed_connection_is_lost_then_reconnected(int proto) {
    if (own.pid == 0)
        skip();
    watched w;
    watched_start(&w, proto, NULL, "pw1", "ev-kill");
    assert_int_equal(rk_client_call(w.client, NULL, "CLIENT KILL TYPE pubsub"), RK_OK);
    expect_event(&w.ev, 0, RK_PUBSUB_LOST);
    assert_true(w.ev.code[0] < 0);
    expect_event(&w.ev, 1, RK_PUBSUB_RECONNECTED);
    assert_int_equal(w.ev.code[1], RK_OK);
    assert_int_equal(publish(w.client, "PUBLISH", "ev-kill", "again", 5), 1);
    assert_true(inbox_wait(&w.box, 1));
    assert_string_equal(w.box.last_data, "again");
    assert_int_equal(rk_pubsub_last_error(w.ps, NULL, 0), RK_OK);
    watched_stop(&w);
}
BOTH(killed_connection_is_lost_then_reconnected)

/* A password changed under the subscriber: the reconnect is refused, and
 * the thread stops with RK_EAUTH instead of retrying for ever. */
static void changed_password_stops_thread_with_eauth(int proto) {
    if (own.pid == 0)
        skip();
    watched w;
    watched_start(&w, proto, NULL, "pw1", "ev-auth");
    assert_int_equal(rk_client_call(w.client, NULL, "CONFIG SET requirepass pw2"), RK_OK);
    assert_int_equal(rk_client_call(w.client, NULL, "CLIENT KILL TYPE pubsub"), RK_OK);
    expect_event(&w.ev, 0, RK_PUBSUB_LOST);
    expect_event(&w.ev, 1, RK_PUBSUB_FATAL);
    assert_int_equal(w.ev.code[1], RK_EAUTH);
    char why[128];
    assert_int_equal(rk_pubsub_last_error(w.ps, why, sizeof why), RK_EAUTH);
    assert_true(why[0] != '\0');
    assert_no_more_connections(w.px);
    watched_stop(&w);
}
BOTH(changed_password_stops_thread_with_eauth)

static int start_own_acl(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        return 0;
    static const char *const users[] = {"user sub on >pw resetchannels &allowed* ~* +@all",
                                        "user noping on >pw &* ~* +@all -ping", NULL};
    return rkt_server_start(&own, &(rkt_server_opts){.acl_users = users});
}

/* A channel the ACL user may not use: the server refuses the SUBSCRIBE with
 * NOPERM; waiting returns it and the thread stops, told as fatal. */
static void channel_refused_by_acl_stops_thread_with_noperm(int proto) {
    if (own.pid == 0)
        skip();
    watched w;
    watched_start(&w, proto, "sub", "pw", "allowed:1");
    const char *ch = "forbidden";
    assert_int_equal(rk_pubsub_subscribe(w.ps, (const rk_str[]){rk_cstr(ch)}, 1), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(w.ps, WAIT_MS), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "NOPERM");
    expect_event(&w.ev, 0, RK_PUBSUB_FATAL);
    assert_int_equal(w.ev.code[0], RK_ESERVER);
    assert_string_equal(w.ev.prefix[0], "NOPERM");
    assert_int_equal(rk_pubsub_last_error(w.ps, NULL, 0), RK_ESERVER);
    watched_stop(&w);
}
BOTH(channel_refused_by_acl_stops_thread_with_noperm)

/* Revoking a channel the subscriber holds: the server drops the
 * connection, the restore is refused with NOPERM, and the thread stops
 * rather than reconnecting again and again. */
static void revoked_channel_stops_thread_with_noperm(int proto) {
    if (own.pid == 0)
        skip();
    watched w;
    watched_start(&w, proto, "sub", "pw", "allowed:2");
    assert_int_equal(rk_client_call(w.client, NULL, "ACL SETUSER sub resetchannels &other*"),
                     RK_OK);
    expect_event(&w.ev, 0, RK_PUBSUB_LOST);
    expect_event(&w.ev, 1, RK_PUBSUB_FATAL);
    assert_string_equal(w.ev.prefix[1], "NOPERM");
    assert_no_more_connections(w.px);
    watched_stop(&w);
}
BOTH(revoked_channel_stops_thread_with_noperm)

/* A user the ACL denies PING gets NOPERM for every PING, the
 * subscriber's own among them: the health check's, the restore's closing
 * one and rk_pubsub_wait_active's markers. Those still tell what they are
 * for (the server is there, the restore is done, the marker is reached),
 * by their place in the line of PINGs sent; only the caller's own
 * rk_pubsub_ping reports the refusal. Without this the health check gave
 * the caller NOPERM every idle period, and a restore never ended. */
static void ping_refused_by_acl_still_answers_the_loops_own_pings(int proto) {
    if (own.pid == 0)
        skip();
    char ch[32];
    name(ch, sizeof ch, "noping", proto);
    rk_client *admin = client_for(&own, proto);
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&own), .protocol = proto, .username = "noping", .password = "pw"});
    assert_non_null(c);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.health_check_ms = 100});
    subscribe_one(ps, ch);
    assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
    for (int i = 0; i < 8; i++) { /* 400 ms idle: health checks go out */
        rk_message m;
        int rc = rk_pubsub_get_message(ps, 50, &m);
        if (rc != 0)
            fail_msg("idle read %d: %d (%s)", i, rc, rk_error_last()->message);
    }
    assert_int_equal(publish(admin, "PUBLISH", ch, "idle", 4), 1);
    expect(ps, RK_MSG_MESSAGE, ch);
    assert_int_equal(rk_pubsub_ping(ps, "mine"), RK_OK);
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(ps, WAIT_MS, &m), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "NOPERM");
    assert_int_equal(rk_client_call(admin, NULL, "CLIENT KILL USER noping"), RK_OK);
    expect_reconnected(ps);
    assert_int_equal(publish(admin, "PUBLISH", ch, "again", 5), 1);
    m = expect(ps, RK_MSG_MESSAGE, ch);
    assert_true(bytes_equal(m.data, m.data_len, "again", 5));
    rk_pubsub_free(ps);
    rk_client_free(c);
    rk_client_free(admin);
}
BOTH(ping_refused_by_acl_still_answers_the_loops_own_pings)

/* ---- hostile servers ------------------------------------------------- */

#define CONFIRM3 ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
#define CONFIRM2 "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
#define RESUBSCRIBED3 "$21\r\nrediskit-resubscribed\r\n"
#define RESUBSCRIBED2 "*2\r\n$4\r\npong\r\n$21\r\nrediskit-resubscribed\r\n"

/* A fake server that answers SUBSCRIBE ch with its confirmation and
 * `garbage`, then takes the restore on the next connection. The
 * subscriber must take the garbage for a broken stream (RK_EPROTO): lost,
 * reconnected and restored, never a message made of it or one dropped
 * without a word. */
static void garbage_after_confirmation_is_lost_connection(int proto, const char *garbage) {
    static const char *const sub[] = {"SUBSCRIBE", "ch", NULL};
    static const char *const ping[] = {"PING", "rediskit-resubscribed", NULL};
    char first[256];
    snprintf(first, sizeof first, "%s%s", proto == 3 ? CONFIRM3 : CONFIRM2, garbage);
    const rkt_fake_step steps[] = {
        {.expect = sub, .reply = first},
        {.expect = sub, .reply = proto == 3 ? CONFIRM3 : CONFIRM2},
        {.expect = ping, .reply = proto == 3 ? RESUBSCRIBED3 : RESUBSCRIBED2},
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    assert_non_null(f);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f), .protocol = proto});
    assert_non_null(c);
    events ev;
    memset(&ev, 0, sizeof ev);
    inbox_init(&ev.box);
    rk_pubsub *ps = pubsub_for(
        c, &(rk_pubsub_opts){.on_event = events_put, .event_userdata = &ev, .health_check_ms = -1});
    subscribe_one(ps, "ch");
    rk_message m = next_message(ps);
    if (m.kind != RK_MSG_RECONNECTED)
        fail_msg("RESP%d, garbage %s: message of kind %d, not RK_MSG_RECONNECTED", proto, garbage,
                 (int)m.kind);
    assert_int_equal(ev.box.count, 2);
    assert_int_equal(ev.kind[0], RK_PUBSUB_LOST);
    assert_int_equal(ev.code[0], RK_EPROTO);
    assert_int_equal(ev.kind[1], RK_PUBSUB_RECONNECTED);
    assert_int_equal(rk_pubsub_channel_count(ps), 1);
    assert_null(rkt_fake_error(f));
    rk_pubsub_free(ps);
    rk_client_free(c);
    inbox_destroy(&ev.box);
    rkt_fake_free(f);
}

static void test_hostile_pushes_are_protocol_errors(void **state) {
    (void)state;
    static const char *const pushes3[] = {
        ">2\r\n$7\r\nmessage\r\n$2\r\nch\r\n",                   /* wrong arity */
        ">3\r\n$7\r\nmessage\r\n:5\r\n$1\r\nx\r\n",              /* channel not a string */
        ">3\r\n:1\r\n$2\r\nch\r\n$1\r\nx\r\n",                   /* kind not a string */
        ">4\r\n$8\r\npmessage\r\n$1\r\np\r\n$2\r\nch\r\n*0\r\n", /* payload an array */
        ">3\r\n$9\r\nsubscribe\r\n$2\r\nzz\r\n$1\r\n2\r\n",      /* count not an integer */
        ">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:-1\r\n",       /* negative count */
        ":7\r\n",                                                /* a reply nobody asked for */
    };
    static const char *const pushes2[] = {
        "*2\r\n$7\r\nmessage\r\n$2\r\nch\r\n",
        "*3\r\n$7\r\nmessage\r\n:5\r\n$1\r\nx\r\n",
        "*3\r\n:1\r\n$2\r\nch\r\n$1\r\nx\r\n",
        "*3\r\n$3\r\nfoo\r\n$2\r\nch\r\n$1\r\nx\r\n", /* unknown kind */
        "*3\r\n$9\r\nsubscribe\r\n$2\r\nzz\r\n$1\r\n2\r\n",
        "+OK\r\n",
    };
    for (size_t i = 0; i < RK_ARRAY_LEN(pushes3); i++)
        garbage_after_confirmation_is_lost_connection(3, pushes3[i]);
    for (size_t i = 0; i < RK_ARRAY_LEN(pushes2); i++)
        garbage_after_confirmation_is_lost_connection(2, pushes2[i]);
}

/* A RESP3 push of a kind pub/sub does not know is harmless: it goes to
 * the client's on_push, and the connection carries on. */
static void count_push(void *userdata, const rk_reply *push) {
    (void)push;
    ++*(int *)userdata;
}

static void test_unknown_push_kind_goes_to_on_push(void **state) {
    (void)state;
    static const char *const sub[] = {"SUBSCRIBE", "ch", NULL};
    const rkt_fake_step steps[] = {
        {.expect = sub,
         .reply = CONFIRM3 ">2\r\n$7\r\nunknown\r\n$1\r\nx\r\n"
                           ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    assert_non_null(f);
    int pushes = 0;
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_fake_port(f), .protocol = 3, .on_push = count_push, .push_userdata = &pushes});
    assert_non_null(c);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.health_check_ms = -1});
    subscribe_one(ps, "ch");
    rk_message m = expect(ps, RK_MSG_MESSAGE, "ch");
    assert_true(bytes_equal(m.data, m.data_len, "hi", 2));
    assert_int_equal(pushes, 1);
    rk_pubsub_free(ps);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* ---- who drives the connection --------------------------------------- */

typedef struct hammer {
    rk_pubsub *ps;
    int proto;
    atomic_bool done;
    int failures;
} hammer;

/* Subscribes and unsubscribes channels in turn until told to stop, ending
 * subscribed to hammer:<proto>:0..9. */
static void *hammer_main(void *arg) {
    hammer *h = arg;
    for (int i = 0; !atomic_load(&h->done) || i % 20 != 0; i++) {
        char ch[32];
        snprintf(ch, sizeof ch, "hammer:%d:%d", h->proto, i % 10);
        const char *p = ch;
        int rc = i % 20 < 10 ? rk_pubsub_unsubscribe(h->ps, (const rk_str[]){rk_cstr(p)}, 1)
                             : rk_pubsub_subscribe(h->ps, (const rk_str[]){rk_cstr(p)}, 1);
        h->failures += rc != RK_OK;
    }
    return NULL;
}

/* Another thread subscribes while the owner starts and stops the thread:
 * exactly one of them drives the connection at any time (ThreadSanitizer
 * sees the difference), and the subscriptions end as asked. */
static void subscribing_while_thread_starts_and_stops(int proto) {
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, proto);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    const char *first = "hammer-first";
    assert_int_equal(rk_pubsub_subscribe(ps, (const rk_str[]){rk_cstr(first)}, 1),
                     RK_OK); /* connected */
    hammer h = {.ps = ps, .proto = proto};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hammer_main, &h), 0);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(rk_pubsub_start_thread(ps, NULL, NULL), RK_OK);
        assert_int_equal(rk_pubsub_stop_thread(ps), RK_OK);
    }
    atomic_store(&h.done, true);
    pthread_join(t, NULL);
    assert_int_equal(h.failures, 0);
    assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
    assert_int_equal(rk_pubsub_channel_count(ps), 11);
    char ch[32];
    snprintf(ch, sizeof ch, "hammer:%d:9", proto);
    assert_int_equal(publish(c, "PUBLISH", ch, "end", 3), 1);
    rk_message m;
    do
        m = next_message(ps);
    while (m.kind != RK_MSG_MESSAGE);
    assert_true(bytes_equal(m.data, m.data_len, "end", 3));
    rk_pubsub_free(ps);
    rk_client_free(c);
}
BOTH(subscribing_while_thread_starts_and_stops)

/* ---- memory ---------------------------------------------------------- */

/* One pass: everything a subscriber does, then free. RK_OK, or the first
 * failure (an allocation refused on purpose). */
static int subscriber_pass(rk_client *c) {
    rk_pubsub *ps = rk_pubsub_new(c, NULL);
    if (ps == NULL)
        return rk_error_last()->code;
    char bufs[20][16];
    rk_str chans[20];
    for (int i = 0; i < 20; i++) {
        snprintf(bufs[i], sizeof bufs[i], "oom:%d", i);
        chans[i] = rk_cstr(bufs[i]);
    }
    int rc = rk_pubsub_subscribe(ps, chans, 20);
    if (rc == RK_OK)
        rc = rk_pubsub_unsubscribe(ps, chans, 5);
    rk_message m;
    for (int i = 0; i < 25 && rc == RK_OK; i++) {
        int got = rk_pubsub_get_message(ps, 2000, &m);
        rc = got == 1 ? RK_OK : got == 0 ? RK_ETIMEOUT : got;
    }
    rk_pubsub_free(ps);
    return rc;
}

/* A subscribe refused for want of memory holds nothing: once the
 * connection is lost and made again, the restore subscribes to the
 * channels held before it only. Each allocation of the call fails in
 * turn. */
static void test_failed_subscribe_is_not_restored(void **state) {
    (void)state;
    rkt_shared_need();
    rkt_proxy *px = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(px);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_proxy_port(px), .protocol = 3});
    assert_non_null(c);
    rk_pubsub *ps = pubsub_for(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    static char big[40000]; /* a name the outbox must grow for */
    memset(big, 'n', sizeof big);
    const rk_str held = RK_STR("oom-held"), names[] = {RK_STR("oom-held"), rk_bin(big, sizeof big)};
    assert_int_equal(rk_pubsub_subscribe(ps, &held, 1), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
    rkt_alloc_install();
    bool passed = false;
    for (size_t n = 1; !passed; n++) {
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(n);
        int rc = rk_pubsub_subscribe(ps, names, 2);
        rkt_alloc_fail_nth(0);
        passed = rkt_alloc_stats_now().failed == failed;
        if (rc == RK_OK) {
            assert_int_equal(rk_pubsub_unsubscribe(ps, &names[1], 1), RK_OK);
            assert_int_equal(rk_pubsub_wait_active(ps, WAIT_MS), RK_OK);
            continue;
        }
        rkt_proxy_drop_all(px);
        expect(ps, RK_MSG_RECONNECTED, NULL);
        if (rk_pubsub_channel_count(ps) != 1)
            fail_msg("allocation %zu failing: %zu channels restored", n,
                     rk_pubsub_channel_count(ps));
    }
    rkt_alloc_uninstall();
    rk_pubsub_free(ps);
    rk_client_free(c);
    rkt_proxy_stop(px);
}

static void test_out_of_memory_fails_cleanly(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_for(&rkt_shared, 3);
    rkt_alloc_install();
    bool passed = false;
    for (size_t n = 1; n < 400 && !passed; n++) {
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(n);
        int rc = subscriber_pass(c);
        passed = rkt_alloc_stats_now().failed == failed; /* n was past the last */
        if (passed)
            assert_int_equal(rc, RK_OK);
        rkt_alloc_fail_nth(0);
        assert_int_equal(rkt_alloc_live(), 0);
    }
    rkt_alloc_uninstall();
    assert_true(passed);
    rk_client_free(c);
}

/* ---- main ------------------------------------------------------------ */

int main(void) {
    const struct CMUnitTest tests[] = {
        BOTH_TESTS(two_subscribers_both_get_the_message),
        BOTH_TESTS(pubsub_introspection_sees_the_subscriptions),
        BOTH_TESTS(pattern_message_carries_pattern_and_channel),
        BOTH_TESTS(shard_channel_message_arrives),
        BOTH_TESTS(binary_payload_with_nul_bytes_arrives_whole),
        BOTH_TESTS(confirmations_count_subscriptions),
        BOTH_TESTS(ignored_confirmations_are_not_returned),
        BOTH_TESTS(unsubscribe_all_drops_every_channel),
        BOTH_TESTS(many_channels_are_counted_as_confirmed),
        BOTH_TESTS(ping_is_answered_by_pong_with_payload),
        BOTH_TESTS(handler_gets_its_messages_instead_of_get_message),
        BOTH_TESTS(pattern_handler_gets_matching_messages),
        BOTH_TESTS(handler_may_subscribe_from_inside),
        BOTH_TESTS(zero_timeout_polls_and_returns_zero_when_idle),
        cmocka_unit_test(test_bad_arguments_are_einval),
        cmocka_unit_test(test_unsubscribe_binary_channel_keeps_its_prefix),
        cmocka_unit_test(test_null_names_with_a_count_are_einval),
        cmocka_unit_test(test_a_name_too_long_is_einval_and_not_remembered),
        BOTH_OWN_TESTS(restart_restores_every_subscription),
        BOTH_OWN_TESTS(wrong_password_fails_first_subscribe_with_eauth),
        BOTH_OWN_TESTS(refused_password_on_reconnect_is_eauth),
        BOTH_OWN_TESTS(health_check_replaces_silent_connection),
        BOTH_TESTS(thread_dispatches_to_handlers_and_stops),
        BOTH_TESTS(other_threads_subscribe_while_thread_runs),
        cmocka_unit_test(test_free_with_thread_running_stops_it),
        BOTH_TESTS(wait_active_with_thread_makes_next_publish_arrive),
        BOTH_TESTS(wait_active_without_thread_keeps_messages_for_get_message),
        BOTH_TESTS(wait_active_after_unsubscribe_stops_delivery),
        cmocka_unit_test(test_wait_active_with_nothing_subscribed_returns_at_once),
        cmocka_unit_test(test_wait_active_from_handler_is_einval),
        BOTH_OWN_TESTS(wait_active_times_out_when_server_is_silent),
        BOTH_OWN_TESTS(killed_connection_is_lost_then_reconnected),
        BOTH_OWN_TESTS(changed_password_stops_thread_with_eauth),
        BOTH_ACL_TESTS(channel_refused_by_acl_stops_thread_with_noperm),
        BOTH_ACL_TESTS(ping_refused_by_acl_still_answers_the_loops_own_pings),
        BOTH_ACL_TESTS(revoked_channel_stops_thread_with_noperm),
        BOTH_TESTS(subscribing_while_thread_starts_and_stops),
        cmocka_unit_test(test_hostile_pushes_are_protocol_errors),
        cmocka_unit_test(test_unknown_push_kind_goes_to_on_push),
        cmocka_unit_test(test_out_of_memory_fails_cleanly),
        cmocka_unit_test(test_failed_subscribe_is_not_restored),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
