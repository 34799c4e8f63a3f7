/* Internal side of rk_pubsub: the decoding of one reply on the subscribed
 * connection, opened for fuzz/fuzz_pubsub.c, which feeds it replies from
 * no server. */
#ifndef RK_PUBSUB_INT_H
#define RK_PUBSUB_INT_H

#include "rediskit/pubsub.h"

#pragma GCC visibility push(hidden)

/* What the loop does with reply r: a message, (un)subscribe confirmation
 * or PONG is decoded into *m (pointing into r) and 1 returned; a reply
 * consumed without a message (one run by a handler, the loop's own PONGs,
 * a push of a kind pub/sub does not know, for on_push) returns 0; an
 * error reply returns its code; anything else (a known kind malformed, a
 * reply nothing asked for) returns RK_EPROTO. Confirmations also update
 * the subscription tables and counts. */
int rk_pubsub_take_reply(rk_pubsub *ps, const rk_reply *r, rk_message *m);

#pragma GCC visibility pop

#endif
