/* A tour of rediskit: run it with `make demo`, which starts a throwaway
 * redis-server and sets REDIS_URL (or set REDIS_URL yourself).
 *
 * Each step prints what it does and what came back, so the output reads as
 * a walk through the library: the protocol engine on its own, then a client
 * connecting by URL, commands and replies, typed commands, a server error,
 * a retry that survives a dropped connection, pipelines, transactions,
 * pub/sub (pulled, then pushed to handlers), locks with a watchdog,
 * Redlock, Lua scripts and SCAN iterators; and last the async client on the
 * built-in event loop (pub/sub on it too) and the multiplexed mode. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rediskit/rediskit.h>

static void step(const char *title) {
    printf("\n== %s\n", title);
}

/* Prints a reply as redis-cli would. */
static void show(const char *what, const rk_reply *r) {
    char *text = rk_reply_format(r, 0, NULL);
    printf("%s\n%s", what, text ? text : "(out of memory)\n");
    rk_free(text);
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int fail(const char *what) {
    const rk_error *e = rk_error_last();
    fprintf(stderr, "tour: %s failed: %s (%s)\n", what, e->message, rk_strerror(e->code));
    return 1;
}

/* The protocol engine needs no server: bytes in, replies out. */
static int tour_protocol(void) {
    step("1. The protocol engine: feed bytes, take replies");
    const char wire[] = "*2\r\n$5\r\nhello\r\n%1\r\n+pi\r\n,3.14159\r\n";
    rk_reader *rd = rk_reader_new(NULL);
    if (rd == NULL)
        return fail("rk_reader_new");
    for (size_t i = 0; i < sizeof(wire) - 1; i++) /* one byte at a time */
        rk_reader_feed(rd, wire + i, 1);
    rk_reply r;
    if (rk_reader_next(rd, &r) == 1) {
        show("fed one byte at a time, read back as:", &r);
        rk_reply_free(&r);
    }
    rk_reader_free(rd);

    rk_writer *w = rk_writer_new(NULL);
    rk_writer_format(w, "SET greeting:%d %s", 1, "hi");
    struct iovec iov[4];
    int n = rk_writer_iov(w, iov, 4);
    printf("SET greeting:%%d %%s encodes to %zu bytes in %d iovec(s)\n", rk_writer_pending(w), n);
    rk_writer_free(w);
    return 0;
}

static void on_retry(void *userdata, int attempt, int delay_ms, int error) {
    (void)userdata;
    printf("   (retry: attempt %d after %d ms, because: %s)\n", attempt, delay_ms,
           rk_strerror(error));
}

/* A pipeline sends many commands in one go; each keeps its own reply. */
static int tour_pipeline(rk_client *c) {
    step("7. A pipeline: 1000 commands, one round trip's worth of waiting");
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    if (p == NULL)
        return fail("rk_pipeline_new");
    for (int i = 0; i < 1000; i++)
        rk_pipeline_append(p, "INCR tour:counter");
    rk_pipeline_append(p, "LPUSH tour:counter oops"); /* an error in its own slot */
    int rc = rk_pipeline_exec(p);
    printf("exec: %s; %zu replies; the 1000th INCR says %lld\n", rk_strerror(rc),
           rk_pipeline_replies(p), rk_reply_int(rk_pipeline_reply(p, 999)));
    printf("command 1001 failed alone: %s\n", rk_reply_str(rk_pipeline_reply(p, 1000)));
    rk_pipeline_free(p);
    return rc == RK_OK ? 0 : fail("rk_pipeline_exec");
}

/* An optimistic transaction: read, decide, write only if nothing changed. */
static int take_one(rk_pipeline *p, void *userdata) {
    int *runs = userdata;
    rk_reply r;
    if (rk_pipeline_call(p, &r, "GET tour:stock") != RK_OK)
        return -1;
    long long stock = rk_reply_str(&r) ? atoll(rk_reply_str(&r)) : 0;
    rk_reply_free(&r);
    if (++*runs == 1) { /* someone else buys one meanwhile: we must rerun */
        rk_client *other = rk_client_new_url(getenv("REDIS_URL"), NULL);
        rk_client_call(other, NULL, "DECR tour:stock");
        rk_client_free(other);
    }
    rk_pipeline_multi(p);
    rk_pipeline_append(p, "SET tour:stock %lld", stock - 1);
    return 0;
}

static int tour_transaction(rk_client *c) {
    step("8. A transaction with WATCH, rerun when a watched key changed");
    rk_client_call(c, NULL, "SET tour:stock 10");
    int runs = 0;
    const rk_str keys[] = {RK_STR("tour:stock")};
    int rc = rk_transaction(c, keys, 1, take_one, &runs, NULL, NULL);
    rk_reply r;
    rk_client_call(c, &r, "GET tour:stock");
    printf("rk_transaction: %s after %d runs; stock 10 - 2 sold = %s\n", rk_strerror(rc), runs,
           rk_reply_str(&r));
    rk_reply_free(&r);
    return rc == RK_OK ? 0 : fail("rk_transaction");
}

/* A subscriber on its own connection, and a publisher through the client. */
static int tour_pubsub(rk_client *c) {
    step("9. Pub/sub: a subscriber and a publisher");
    rk_pubsub *ps = rk_pubsub_new(c, &(rk_pubsub_opts){.ignore_confirmations = true});
    const rk_str channels[] = {RK_STR("tour:news")};
    if (ps == NULL || rk_pubsub_subscribe(ps, channels, 1) != RK_OK)
        return fail("rk_pubsub_subscribe");
    /* Until the server confirms, a message published now would be missed. */
    if (rk_pubsub_wait_active(ps, 2000) != RK_OK) {
        rk_pubsub_free(ps);
        return fail("rk_pubsub_wait_active");
    }
    rk_message m;
    rk_reply r;
    rk_client_call(c, &r, "PUBLISH tour:news %s", "hello, subscribers");
    printf("PUBLISH reached %lld subscriber(s)\n", rk_reply_int(&r));
    rk_reply_free(&r);
    int got = rk_pubsub_get_message(ps, 2000, &m);
    if (got == 1)
        printf("the subscriber got on %.*s: %.*s\n", (int)m.channel_len, m.channel, (int)m.data_len,
               m.data);
    rk_pubsub_free(ps);
    return got == 1 ? 0 : fail("rk_pubsub_get_message");
}

/* Handlers instead of a read loop: a background thread dispatches. */
static void on_alert(void *userdata, const rk_message *m) {
    atomic_int *seen = userdata;
    printf("   handler got on %.*s: %.*s\n", (int)m->channel_len, m->channel, (int)m->data_len,
           m->data);
    atomic_fetch_add(seen, 1);
}

static int tour_pubsub_handlers(rk_client *c) {
    step("10. Pub/sub with callbacks, run by a background thread");
    rk_pubsub *ps = rk_pubsub_new(c, NULL);
    atomic_int seen = 0;
    if (ps == NULL || rk_pubsub_on(ps, "tour:alerts", on_alert, &seen) != RK_OK ||
        rk_pubsub_start_thread(ps, NULL, NULL) != RK_OK) {
        rk_pubsub_free(ps);
        return fail("rk_pubsub_on");
    }
    if (rk_pubsub_wait_active(ps, 2000) != RK_OK) { /* the server confirmed it */
        rk_pubsub_stop_thread(ps);
        rk_pubsub_free(ps);
        return fail("rk_pubsub_wait_active");
    }
    for (int i = 1; i <= 3; i++)
        rk_client_call(c, NULL, "PUBLISH tour:alerts %s%d", "alert #", i);
    for (int i = 0; i < 100 && atomic_load(&seen) < 3; i++)
        sleep_ms(20);
    rk_pubsub_stop_thread(ps);
    rk_pubsub_free(ps);
    printf("3 published, %d handled while this thread only waited\n", atomic_load(&seen));
    return atomic_load(&seen) == 3 ? 0 : fail("pub/sub handlers");
}

/* A distributed lock: one owner at a time, with a fencing token. */
static int tour_lock(rk_client *c) {
    step("11. A distributed lock, with a fencing token");
    rk_lock *mine = rk_lock_new(c, "tour:lock", &(rk_lock_opts){.ttl_ms = 5000, .fencing = true});
    rk_lock *theirs = rk_lock_new(c, "tour:lock", &(rk_lock_opts){.non_blocking = true});
    if (mine == NULL || theirs == NULL)
        return fail("rk_lock_new");
    int rc = rk_lock_acquire(mine);
    printf("we acquire tour:lock: %s (fencing token %lld)\n", rk_strerror(rc), rk_lock_fence(mine));
    printf("another owner tries at once: %s\n", rk_strerror(rk_lock_acquire(theirs)));
    printf("they try to release it: %s\n", rk_strerror(rk_lock_release(theirs)));
    printf("we release it: %s\n", rk_strerror(rk_lock_release(mine)));
    printf("now they acquire it: %s\n", rk_strerror(rk_lock_acquire(theirs)));
    rk_lock_release(theirs);
    rk_lock_free(theirs);
    rk_lock_free(mine);
    return rc == RK_OK ? 0 : fail("rk_lock_acquire");
}

/* A watchdog keeps a short-lived lock alive for as long as the work takes. */
static int tour_watchdog(rk_client *c) {
    step("12. A lock's watchdog extends it while the work goes on");
    rk_lock *l = rk_lock_new(c, "tour:job", &(rk_lock_opts){.ttl_ms = 300, .watchdog = true});
    if (l == NULL || rk_lock_acquire(l) != RK_OK) {
        rk_lock_free(l);
        return fail("rk_lock_acquire with a watchdog");
    }
    sleep_ms(1000); /* "work" for over three TTLs */
    bool owned = false;
    long long ttl = 0;
    rk_lock_owned(l, &owned);
    rk_lock_ttl(l, &ttl);
    printf("TTL 300 ms, 1000 ms later: still ours: %s, %lld ms left\n", owned ? "yes" : "no", ttl);
    int rc = rk_lock_release(l);
    printf("released: %s\n", rk_strerror(rc));
    rk_lock_free(l);
    return owned ? 0 : fail("the watchdog");
}

/* Redlock wants independent servers; the tour has one, so three databases
 * of it stand in for three servers. */
static int tour_redlock(const char *url) {
    step("13. Redlock: a lock held by a majority of independent servers");
    rk_client *servers[3] = {NULL, NULL, NULL};
    int rc = RK_OK;
    for (int i = 0; i < 3 && rc == RK_OK; i++) {
        servers[i] = rk_client_new_url(url, &(rk_options){.db = i});
        if (servers[i] == NULL)
            rc = fail("rk_client_new_url");
    }
    rk_redlock *mine = NULL, *theirs = NULL;
    if (rc == RK_OK) {
        mine = rk_redlock_new(servers, 3, "tour:redlock", NULL);
        theirs = rk_redlock_new(servers, 3, "tour:redlock", &(rk_redlock_opts){.attempts = 1});
    }
    long long validity = 0;
    if (mine == NULL || theirs == NULL || rk_redlock_acquire(mine, &validity) != RK_OK) {
        rc = fail("rk_redlock_acquire");
    } else {
        int held = 0;
        for (size_t i = 0; i < 3; i++)
            held += rk_redlock_instance_status(mine, i) == RK_OK;
        printf("we hold it on %d of 3 instances, valid for %lld ms more\n", held, validity);
        printf("another owner tries: %s\n", rk_strerror(rk_redlock_acquire(theirs, NULL)));
        printf("we release it: %s\n", rk_strerror(rk_redlock_release(mine)));
    }
    rk_redlock_free(theirs);
    rk_redlock_free(mine);
    for (int i = 0; i < 3; i++)
        rk_client_free(servers[i]);
    return rc;
}

/* A script is sent by its SHA-1; the text only when the server lacks it. */
static int tour_script(rk_client *c) {
    step("14. A Lua script, run by EVALSHA, loaded on NOSCRIPT");
    static const char src[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    rk_script *s = rk_script_new(src, sizeof src - 1);
    if (s == NULL)
        return fail("rk_script_new");
    printf("script %s\n", rk_script_sha(s));
    rk_client_call(c, NULL, "SCRIPT FLUSH");
    const rk_str keys[] = {RK_STR("tour:visits")};
    const rk_str args[] = {RK_STR("5")};
    rk_reply r;
    int rc = RK_OK;
    for (int i = 1; i <= 2 && rc == RK_OK; i++) {
        rc = rk_script_run(c, s, keys, 1, args, 1, &r);
        printf("run %d (%s): INCRBY tour:visits 5 -> %lld\n", i,
               i == 1 ? "not cached: NOSCRIPT, then EVAL" : "cached: EVALSHA alone",
               rk_reply_int(&r));
        rk_reply_free(&r);
    }
    rk_script_free(s);
    return rc == RK_OK ? 0 : fail("rk_script_run");
}

/* SCAN a batch at a time, without blocking the server as KEYS would. */
static int tour_scan(rk_client *c) {
    step("15. SCAN iterators: every key matching a pattern, in batches");
    for (int i = 0; i < 25; i++)
        rk_client_call(c, NULL, "SET tour:scan:%d %d", i, i);
    rk_scanner *it = rk_scanner_new(c, &(rk_scanner_opts){.match = "tour:scan:*", .count = 10});
    if (it == NULL)
        return fail("rk_scanner_new");
    rk_scan_item item;
    int rc, n = 0;
    while ((rc = rk_scanner_next(it, &item)) == 1) {
        if (n++ < 3)
            printf("   %.*s\n", (int)item.len, item.str);
        rk_client_call(c, NULL, "DEL %b", item.str, item.len);
    }
    rk_scanner_free(it);
    printf("   ... %d keys in all (each one deleted as it came)\n", n);
    return rc == 0 ? 0 : fail("rk_scanner_next");
}

/* Every command is also a typed C function: arguments as parameters and
 * an options struct, checks before sending, and replies of one shape
 * whichever protocol the connection speaks. rk_<name> runs it on the
 * client; rk_cmd_<name> builds it to run on any executor (here a
 * pipeline). */
static int tour_typed(rk_client *c, const char *url) {
    step("4. Typed commands");
    long long n;
    rk_reply r;
    int rc = rk_set(c, "tour:typed", "v", &(rk_set_opts){.nx = true, .xx = true}, NULL);
    printf("rk_set with NX and XX: %s (%s), nothing sent\n", rk_strerror(rc),
           rk_error_last()->message);
    if (rk_set(c, "tour:typed", "41", &(rk_set_opts){.ex = 60}, NULL) != RK_OK)
        return fail("rk_set");
    if (rk_incr(c, "tour:typed", &n) != RK_OK)
        return fail("rk_incr");
    printf("rk_set(EX 60) then rk_incr -> %lld (a long long, no reply to walk)\n", n);
    char *value;
    if (rk_get(c, "tour:missing", &value, NULL) == RK_NIL)
        printf("rk_get of a missing key -> RK_NIL\n");

    const rk_zadd_score_member players[] = {{1500.5, RK_STR("ada")}, {1320, RK_STR("bob")}};
    rk_zadd(c, "tour:scores", players, 2, NULL, NULL);
    double score;
    if (rk_zscore(c, "tour:scores", "ada", &score) != RK_OK)
        return fail("rk_zscore");
    printf("rk_zscore -> %.1f (a double on RESP2 too)\n", score);

    /* The same calls on a RESP2 connection give the same shapes. */
    char url2[512];
    snprintf(url2, sizeof url2, "%s%sprotocol=2", url, strchr(url, '?') ? "&" : "?");
    rk_client *c2 = rk_client_new_url(url2, NULL);
    if (c2 == NULL)
        return fail("rk_client_new_url (RESP2)");
    if (rk_zrange(c2, "tour:scores", "0", "-1", &(rk_zrange_opts){.withscores = true}, &r) != RK_OK)
        return fail("rk_zrange");
    show("rk_zrange WITHSCORES over RESP2 -> [member, score] pairs:", &r);
    rk_reply_free(&r);
    const rk_hset_field_value fields[] = {{RK_STR("lang"), RK_STR("C")},
                                          {RK_STR("since"), RK_STR("2026")}};
    rk_hset(c2, "tour:typed:hash", fields, 2, NULL);
    if (rk_hgetall(c2, "tour:typed:hash", &r) != RK_OK)
        return fail("rk_hgetall");
    show("rk_hgetall over RESP2 -> a map, as on RESP3:", &r);
    rk_reply_free(&r);
    const char *section[] = {"server"};
    if (rk_info(c2, section, 1, &r) != RK_OK)
        return fail("rk_info");
    const rk_reply *server = rk_reply_map_get(&r, "Server");
    printf("rk_info -> a map of sections; Server.redis_version = %s\n",
           rk_reply_str(rk_reply_map_get(server, "redis_version")));
    rk_reply_free(&r);
    rk_client_free(c2);

    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    rk_pipeline_add(p, rk_cmd_incrbyfloat(&cmd, RK_STR("tour:float"), 0.5));
    rk_pipeline_add(p, rk_cmd_zscore(&cmd, RK_STR("tour:scores"), RK_STR("bob")));
    rk_pipeline_add(p, rk_cmd_hgetall(&cmd, RK_STR("tour:typed:hash")));
    rc = rk_pipeline_exec(p);
    printf("rk_cmd_incrbyfloat, rk_cmd_zscore, rk_cmd_hgetall in a pipeline: %s; "
           "replies are a %s, a %s and a %s\n",
           rk_strerror(rc), rk_type_name(rk_reply_type(rk_pipeline_reply(p, 0))),
           rk_type_name(rk_reply_type(rk_pipeline_reply(p, 1))),
           rk_type_name(rk_reply_type(rk_pipeline_reply(p, 2))));
    rk_pipeline_free(p);
    const char *keys[] = {"tour:typed", "tour:scores", "tour:typed:hash", "tour:float"};
    rk_del(c, keys, 4, NULL);
    return rc == RK_OK ? 0 : fail("typed pipeline");
}

static int tour_client(const char *url) {
    step("2. A client, configured from a URL");
    rk_options base = {.client_name = "rediskit-tour", .retry = {.on_retry = on_retry}};
    rk_client *c = rk_client_new_url(url, &base);
    if (c == NULL)
        return fail("rk_client_new_url");
    printf("rk_client_new_url(\"%s\")\n", url);

    step("3. Commands and replies");
    rk_reply r;
    if (rk_client_call(c, &r, "SET %s %s", "tour:greeting", "hello from rediskit") != RK_OK)
        return fail("SET");
    show("SET tour:greeting \"hello from rediskit\" ->", &r);
    rk_reply_free(&r);
    if (rk_client_call(c, &r, "GET tour:greeting") != RK_OK)
        return fail("GET");
    show("GET tour:greeting ->", &r);
    rk_reply_free(&r);
    rk_client_call(c, NULL, "HSET tour:hash field1 one field2 two");
    if (rk_client_call(c, &r, "HGETALL tour:hash") != RK_OK)
        return fail("HGETALL");
    show("HGETALL tour:hash -> (a map, the connection speaks RESP3)", &r);
    rk_reply_free(&r);

    if (tour_typed(c, url) != 0)
        return 1;

    step("5. A server error is a reply, not a transport failure");
    int rc = rk_client_call(c, &r, "INCR tour:greeting");
    printf("INCR on a string: rk_client_call returned %s; prefix \"%s\"\n", rk_strerror(rc),
           rk_error_last()->prefix);
    show("the error reply:", &r);
    rk_reply_free(&r);

    step("6. A dropped connection: a read-only command is retried");
    if (rk_client_call(c, &r, "CLIENT ID") != RK_OK)
        return fail("CLIENT ID");
    long long id = rk_reply_int(&r);
    rk_reply_free(&r);
    rk_client *killer = rk_client_new_url(url, NULL);
    rc = rk_client_call(killer, NULL, "CLIENT KILL ID %lld", id);
    printf("another client killed our connection %lld: %s\n", id, rk_strerror(rc));
    rk_client_free(killer);
    if (rk_client_call(c, &r, "GET tour:greeting") != RK_OK)
        return fail("GET after the kill");
    show("GET tour:greeting on a new connection ->", &r);
    rk_reply_free(&r);

    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    printf("pool: %zu created, %zu closed, %zu idle\n", st.created, st.closed, st.idle);

    int rc2 = tour_pipeline(c);
    if (rc2 == 0)
        rc2 = tour_transaction(c);
    if (rc2 == 0)
        rc2 = tour_pubsub(c);
    if (rc2 == 0)
        rc2 = tour_pubsub_handlers(c);
    if (rc2 == 0)
        rc2 = tour_lock(c);
    if (rc2 == 0)
        rc2 = tour_watchdog(c);
    if (rc2 == 0)
        rc2 = tour_redlock(url);
    if (rc2 == 0)
        rc2 = tour_script(c);
    if (rc2 == 0)
        rc2 = tour_scan(c);
    rk_client_call(c, NULL,
                   "DEL tour:greeting tour:hash tour:counter tour:stock "
                   "{tour:lock}:fence tour:visits");
    rk_client_free(c);
    return rc2;
}

/* ---- the async client ------------------------------------------------- */

/* One step's state: the loop to stop once `waiting` callbacks came. */
typedef struct tour_async {
    rk_loop *loop;
    int waiting;
    int incrs_left;
} tour_async;

/* A callback's userdata: the step, and what to print before the reply. */
typedef struct tour_async_note {
    tour_async *t;
    const char *label;
} tour_async_note;

static void async_done_one(tour_async *t) {
    if (--t->waiting == 0)
        rk_loop_stop(t->loop);
}

static void on_async_incr(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    (void)ac;
    tour_async *t = userdata;
    if (--t->incrs_left == 0)
        printf("1,000 INCRs submitted at once, the last reply: %lld (%s)\n",
               reply ? rk_reply_int(reply) : -1, rk_strerror(status));
    async_done_one(t);
}

static void on_async_show(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    (void)ac;
    tour_async_note *n = userdata;
    char *text = reply ? rk_reply_format(reply, 0, NULL) : NULL;
    printf("%s [%s]\n%s", n->label, rk_strerror(status), text ? text : "");
    rk_free(text);
    async_done_one(n->t);
}

static void on_async_batch(rk_async *ac, int status, const rk_async_batch *b, void *userdata) {
    (void)ac;
    tour_async *t = userdata;
    printf("a batch of %zu commands completed once, %s:", b ? rk_async_batch_replies(b) : 0,
           rk_strerror(status));
    for (size_t i = 0; b && i < rk_async_batch_replies(b); i++) {
        const rk_reply *r = rk_async_batch_reply(b, i);
        printf(" %s", rk_reply_type(r) == RK_REPLY_INTEGER ? "(integer)" : rk_reply_str(r));
    }
    printf("\n");
    async_done_one(t);
}

static void on_async_message(rk_async *ac, const rk_message *m, void *userdata) {
    (void)ac;
    printf("message on %.*s: %.*s\n", (int)m->channel_len, m->channel, (int)m->data_len, m->data);
    async_done_one(userdata);
}

static void on_async_subscribed(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    (void)reply;
    printf("rk_async_subscribe(tour:async:news) confirmed: %s\n", rk_strerror(status));
    static tour_async_note publish; /* outlives this callback */
    publish = (tour_async_note){userdata, "PUBLISH ->"};
    rk_async_command(ac, on_async_show, &publish, "PUBLISH tour:async:news %s",
                     "hello subscribers");
}

/* Runs the loop until the step's callbacks all came. */
static void async_wait(tour_async *t, int callbacks) {
    t->waiting = callbacks;
    rk_loop_run(t->loop);
}

static int tour_async_client(const char *url) {
    step("16. The async client on an event loop");
    rk_options o = {0};
    char *storage = NULL;
    if (rk_options_from_url(url, &o, &storage) != RK_OK)
        return fail("rk_options_from_url");
    tour_async t = {.loop = rk_loop_new(0)};
    rk_async *ac = rk_async_new(&o, NULL);
    rk_free(storage);
    if (t.loop == NULL || ac == NULL || rk_loop_attach(t.loop, ac) != RK_OK)
        return fail("rk_async_new");
    printf("rk_loop_new + rk_async_new + rk_loop_attach: no I/O until a command needs it\n");

    /* Auto-pipelining: everything submitted while commands are in flight
     * goes out together. */
    rk_async_command(ac, on_async_incr, &t, "DEL tour:async:n");
    t.incrs_left = 1001; /* the DEL, then the INCRs */
    for (int i = 0; i < 1000; i++)
        rk_async_command(ac, on_async_incr, &t, "INCR tour:async:n");
    async_wait(&t, 1001);
    rk_async_stats st;
    rk_async_get_stats(ac, &st);
    printf("the client sent %llu commands in %llu write call(s) and read the replies in %llu read "
           "call(s)\n",
           (unsigned long long)st.commands, (unsigned long long)st.writes,
           (unsigned long long)st.reads);

    /* The same built commands as the synchronous client, the same shapes. */
    rk_command cmd;
    const rk_hset_field_value fields[] = {{RK_STR("lang"), RK_STR("C")}};
    rk_async_run(ac, rk_cmd_hset(&cmd, RK_STR("tour:async:h"), fields, 1), on_async_show,
                 &(tour_async_note){&t, "rk_async_run(rk_cmd_hset) ->"});
    async_wait(&t, 1);
    rk_async_run(ac, rk_cmd_hgetall(&cmd, RK_STR("tour:async:h")), on_async_show,
                 &(tour_async_note){&t, "rk_async_run(rk_cmd_hgetall) -> a map"});
    async_wait(&t, 1);

    /* A blocking command gets a connection of its own: the GET behind it
     * is answered first, then the RPUSH wakes the BLPOP. */
    rk_async_command(ac, on_async_show, &(tour_async_note){&t, "BLPOP tour:async:q 5 ->"},
                     "BLPOP tour:async:q 5");
    rk_async_command(ac, on_async_show,
                     &(tour_async_note){&t, "GET tour:async:n, not stuck behind the BLPOP ->"},
                     "GET tour:async:n");
    rk_async_command(ac, on_async_show, &(tour_async_note){&t, "RPUSH tour:async:q job ->"},
                     "RPUSH tour:async:q job");
    async_wait(&t, 3);

    /* A deadline fails the late command alone; the connection carries on
     * (the late reply is read and dropped when it comes). */
    rk_async_command(ac, on_async_show, &(tour_async_note){&t, "CLIENT PAUSE 300 ALL ->"},
                     "CLIENT PAUSE 300 ALL");
    rk_async_call late = {.callback = on_async_show,
                          .userdata = &(tour_async_note){&t, "GET with a 50 ms deadline ->"},
                          .timeout_ms = 50};
    rk_str get[] = {RK_STR("GET"), RK_STR("tour:async:n")};
    rk_async_submit(ac, &late, get, 2);
    rk_async_command(ac, on_async_show,
                     &(tour_async_note){&t, "GET with the default deadline, once unpaused ->"},
                     "GET tour:async:n");
    async_wait(&t, 3);

    /* A batch: queued, submitted once, completed once with every reply. */
    rk_async_batch *b = rk_async_batch_new();
    rk_async_batch_append(b, "SET tour:async:s %s", "batched");
    rk_async_batch_append(b, "GET tour:async:s");
    rk_async_batch_append(b, "DEL tour:async:n tour:async:h tour:async:s");
    rk_async_batch_submit(ac, b, on_async_batch, &t, 0);
    async_wait(&t, 1);

    /* Pub/sub on the same connection as commands (RESP3), restored after a
     * reconnect: the PUBLISH's reply and the message both arrive. */
    const rk_str news[] = {RK_STR("tour:async:news")};
    rk_async_subscribe(ac, news, 1, on_async_message, on_async_subscribed, &t);
    async_wait(&t, 2);

    rk_async_free(ac);
    rk_loop_free(t.loop);
    return 0;
}

static int tour_mux(const char *url) {
    step("17. Many threads, one connection: the multiplexed mode");
    char murl[512];
    snprintf(murl, sizeof murl, "%s%smode=mux", url, strchr(url, '?') ? "&" : "?");
    rk_client *c = rk_client_new_url(murl, NULL);
    if (c == NULL)
        return fail("rk_client_new_url (mode=mux)");
    long long n = 0;
    for (int i = 0; i < 100; i++)
        if (rk_incr(c, "tour:mux", &n) != RK_OK)
            return fail("rk_incr (mux)");
    printf("rk_client_new_url(\"...%smode=mux\"): 100 rk_incr -> %lld; every thread's calls\n"
           "share one connection, each call still waits for its own reply\n",
           strchr(url, '?') ? "&" : "?", n);
    rk_client_call(c, NULL, "DEL tour:mux");
    rk_client_free(c);
    return 0;
}

int main(void) {
    printf("rediskit %s\n", rk_version());
    if (tour_protocol() != 0)
        return 1;
    const char *url = getenv("REDIS_URL");
    if (url == NULL || *url == '\0') {
        printf("\nREDIS_URL is not set: run `make demo` to start a server for the rest.\n");
        return 0;
    }
    if (tour_client(url) != 0 || tour_async_client(url) != 0 || tour_mux(url) != 0)
        return 1;
    printf("\nThe tour is over.\n");
    return 0;
}
