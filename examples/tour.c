/* A tour of rediskit: run it with `make demo`, which starts a throwaway
 * redis-server and sets REDIS_URL (or set REDIS_URL yourself).
 *
 * Each step prints what it does and what came back, so the output reads as
 * a walk through the library: the protocol engine on its own, then a client
 * connecting by URL, commands and replies, typed commands, a server error,
 * a retry that survives a dropped connection, pipelines, transactions,
 * pub/sub and locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const char *keys[] = {"tour:stock"};
    int rc = rk_transaction(c, 1, keys, NULL, take_one, &runs, NULL, NULL);
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
    const char *channels[] = {"tour:news"};
    if (ps == NULL || rk_pubsub_subscribe(ps, 1, channels, NULL) != RK_OK)
        return fail("rk_pubsub_subscribe");
    rk_message m;
    rk_pubsub_get_message(ps, 200, &m); /* let the subscription settle */
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

/* A distributed lock: one owner at a time, with a fencing token. */
static int tour_lock(rk_client *c) {
    step("10. A distributed lock, with a fencing token");
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

/* Every command is also a typed C function: arguments as parameters and
 * an options struct, checks before sending, and replies of one shape
 * whichever protocol the connection speaks. */
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

    const rk_zadd_score_member players[] = {{1500.5, "ada", 0}, {1320, "bob", 0}};
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
    const rk_hset_field_value fields[] = {{"lang", 0, "C", 0}, {"since", 0, "2026", 0}};
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
    rk_pipe_incrbyfloat(p, "tour:float", 0.5);
    rk_pipe_zscore(p, "tour:scores", "bob");
    rk_pipe_hgetall(p, "tour:typed:hash");
    rc = rk_pipeline_exec(p);
    printf("rk_pipe_incrbyfloat, rk_pipe_zscore, rk_pipe_hgetall in a pipeline: %s; "
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
        rc2 = tour_lock(c);
    rk_client_call(c, NULL,
                   "DEL tour:greeting tour:hash tour:counter tour:stock {tour:lock}:fence");
    rk_client_free(c);
    return rc2;
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
    if (tour_client(url) != 0)
        return 1;
    printf("\nThe tour is over.\n");
    return 0;
}
