/* libFuzzer target for pub/sub message decoding (src/features/pubsub.c).
 *
 * Every reply the input yields (input format: support.h; the seeds are
 * RESP2 arrays and RESP3 pushes as a subscribed connection gets them) is
 * handed to a pub/sub object with no connection, as its loop would hand
 * it. A message it returns must point at readable bytes of the reply; an
 * error code must come from an error reply, or be RK_EPROTO. The (un)subscribe
 * confirmations among the messages are replayed on a simple model, and
 * the object's subscription counts must match the model's after every
 * reply: that checks the hash tables behind them.
 *
 *   make fuzz FUZZ_TARGET=fuzz_pubsub FUZZ_TIME=60 */
#include <stdlib.h>
#include <string.h>

#include "features/pubsub_int.h"
#include "support.h"

#define MAX_NAMES 4096

/* The channels, patterns and shard channels confirmed so far. */
typedef struct model {
    const char *names[3][MAX_NAMES]; /* copies, NUL added */
    size_t lens[3][MAX_NAMES], n[3];
} model;

typedef struct state {
    rk_pubsub *ps;
    model m;
    unsigned sum; /* read from every message byte, so ASan checks them */
} state;

static size_t find(const model *m, int k, const char *s, size_t len) {
    for (size_t i = 0; i < m->n[k]; i++)
        if (m->lens[k][i] == len && memcmp(m->names[k][i], s, len) == 0)
            return i;
    return SIZE_MAX;
}

static void add(model *m, int k, const char *s, size_t len) {
    if (find(m, k, s, len) != SIZE_MAX)
        return;
    char *copy = malloc(len + 1);
    if (copy == NULL || m->n[k] == MAX_NAMES)
        abort();
    memcpy(copy, s, len);
    m->names[k][m->n[k]] = copy;
    m->lens[k][m->n[k]++] = len;
}

static void drop(model *m, int k, const char *s, size_t len) {
    size_t i = find(m, k, s, len);
    if (i == SIZE_MAX)
        return;
    free((void *)m->names[k][i]);
    m->n[k]--;
    m->names[k][i] = m->names[k][m->n[k]];
    m->lens[k][i] = m->lens[k][m->n[k]];
}

static void model_free(model *m) {
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < m->n[k]; i++)
            free((void *)m->names[k][i]);
}

/* A confirmation's effect on the model; unsubscribing from nothing
 * (channel NULL) changes nothing. */
static void confirm(model *m, const rk_message *msg) {
    static const struct {
        rk_msg_kind kind;
        int k;
        bool sub;
    } kinds[] = {
        {RK_MSG_SUBSCRIBE, 0, true},  {RK_MSG_UNSUBSCRIBE, 0, false},
        {RK_MSG_PSUBSCRIBE, 1, true}, {RK_MSG_PUNSUBSCRIBE, 1, false},
        {RK_MSG_SSUBSCRIBE, 2, true}, {RK_MSG_SUNSUBSCRIBE, 2, false},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (kinds[i].kind != msg->kind || msg->channel == NULL)
            continue;
        if (kinds[i].sub)
            add(m, kinds[i].k, msg->channel, msg->channel_len);
        else
            drop(m, kinds[i].k, msg->channel, msg->channel_len);
    }
}

static unsigned sum_bytes(const char *s, size_t n) {
    unsigned sum = 0;
    for (size_t i = 0; s && i < n; i++)
        sum += (unsigned char)s[i];
    return sum;
}

static void check_message(state *st, const rk_message *msg) {
    if (msg->kind < RK_MSG_MESSAGE || msg->kind > RK_MSG_RECONNECTED)
        abort();
    if (msg->kind == RK_MSG_PMESSAGE && msg->pattern == NULL)
        abort();
    st->sum += sum_bytes(msg->channel, msg->channel_len) +
               sum_bytes(msg->pattern, msg->pattern_len) + sum_bytes(msg->data, msg->data_len);
    confirm(&st->m, msg);
}

static void take(const rk_reply *r, void *ctx) {
    state *st = ctx;
    rk_message msg;
    int rc = rk_pubsub_take_reply(st->ps, r, &msg);
    if (rc == 1)
        check_message(st, &msg);
    else if (rc != 0 && rc != RK_EPROTO && (rc > 0 || rk_reply_type(r) != RK_REPLY_ERROR))
        abort();
    if (rk_pubsub_channel_count(st->ps) != st->m.n[0] ||
        rk_pubsub_pattern_count(st->ps) != st->m.n[1] ||
        rk_pubsub_shard_channel_count(st->ps) != st->m.n[2])
        abort();
}

/* A client that never connects: the pub/sub objects need its options. */
static rk_client *client(void) {
    static rk_client *c;
    if (c == NULL && (c = rk_client_new(&(rk_options){0})) == NULL)
        abort();
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static state st; /* large: kept off the stack, only the counts zeroed */
    memset(st.m.n, 0, sizeof(st.m.n));
    if ((st.ps = rk_pubsub_new(client(), NULL)) == NULL)
        abort();
    rkf_each_reply(data, size, take, &st);
    rk_pubsub_free(st.ps);
    model_free(&st.m);
    return 0;
}
