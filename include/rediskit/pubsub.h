/** @file rediskit/pubsub.h
 * rediskit: publish/subscribe.
 *
 * An rk_pubsub owns one dedicated connection (made with the client's
 * options, outside its pool) on which it subscribes to channels (SUBSCRIBE),
 * patterns (PSUBSCRIBE) and shard channels (SSUBSCRIBE). Messages are read
 * with rk_pubsub_get_message, or dispatched to handlers registered per
 * channel or pattern, by the caller's loop or by a background thread.
 * Works over RESP2 and RESP3 (where messages are push replies).
 *
 * A subscribe call returns once its command is sent; the server confirms
 * it a round trip later, and a message published before that is not
 * delivered. rk_pubsub_wait_active waits until every (un)subscription asked
 * for so far is in force, so that what is published afterwards arrives.
 *
 * When the connection is lost (an error, end of file, or a health check
 * PING left unanswered), rk_pubsub reconnects with the client's backoff and
 * subscribes again to everything it was subscribed to, in one pipelined
 * round, then reports an RK_MSG_RECONNECTED message (and the events
 * RK_PUBSUB_LOST, then RK_PUBSUB_RECONNECTED, to the options' on_event).
 * Messages published while the connection was down are lost: that is Redis
 * pub/sub's at-most-once delivery, not something a client can repair (use
 * streams for that). A reply no server should send (a message of the
 * wrong arity or types, a reply nothing asked for) is a protocol error
 * that costs the connection (RK_PUBSUB_LOST with RK_EPROTO), made again
 * as above; a RESP3 push of a kind pub/sub does not know goes to the
 * client's on_push. Failures a retry cannot cure (refused credentials,
 * TLS, a subscription the server refuses such as NOPERM) are not retried:
 * they are returned, reported as RK_PUBSUB_FATAL, and stop the background
 * thread.
 *
 * Publish through the client: rk_client_call(c, NULL, "PUBLISH %s %b", ...)
 * (or SPUBLISH); PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS likewise.
 *
 * An rk_pubsub belongs to one thread at a time; while its background thread
 * runs, only rk_pubsub_stop_thread, the (un)subscribe calls, rk_pubsub_on,
 * rk_pubsub_on_pattern, rk_pubsub_ping and rk_pubsub_wait_active, which are
 * then safe from other threads (also while the owner starts or stops the
 * thread), may be used on it (the counts rk_pubsub_channel_count... and
 * rk_pubsub_last_error are safe from any thread at any time). A NULL
 * rk_pubsub (or message pointer) is RK_EINVAL for the calls that return a
 * code. */
#ifndef RK_PUBSUB_H
#define RK_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

#include "client.h"
#include "error.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A subscriber with a connection of its own, used by one thread at a
 *  time except for the calls pubsub.h names as safe while its background
 *  thread runs. */
typedef struct rk_pubsub rk_pubsub;

/** What a message is. */
typedef enum rk_msg_kind {
    RK_MSG_MESSAGE = 1,  /**< A message on a subscribed channel. */
    RK_MSG_PMESSAGE,     /**< A message matching a subscribed pattern. */
    RK_MSG_SMESSAGE,     /**< A message on a subscribed shard channel. */
    RK_MSG_SUBSCRIBE,    /**< Confirmation of SUBSCRIBE (one per channel). */
    RK_MSG_UNSUBSCRIBE,  /**< Confirmation of UNSUBSCRIBE. */
    RK_MSG_PSUBSCRIBE,   /**< Confirmation of PSUBSCRIBE. */
    RK_MSG_PUNSUBSCRIBE, /**< Confirmation of PUNSUBSCRIBE. */
    RK_MSG_SSUBSCRIBE,   /**< Confirmation of SSUBSCRIBE. */
    RK_MSG_SUNSUBSCRIBE, /**< Confirmation of SUNSUBSCRIBE. */
    RK_MSG_PONG,         /**< Answer to rk_pubsub_ping. */
    RK_MSG_RECONNECTED   /**< The connection was lost and is back, with every
                              subscription restored (the confirmations of
                              that restore are not reported). Messages on
                              restored subscriptions may come just before
                              it, within that round trip. */
} rk_msg_kind;

/** A message. Every pointer is borrowed: valid until the next call on the
 *  rk_pubsub (or, in a handler, until the handler returns). Strings are
 *  binary safe with their lengths, and NUL-terminated. */
typedef struct rk_message {
    rk_msg_kind kind;    /**< What the message is. */
    const char *channel; /**< Channel (or for (un)subscribe confirmations
                              the channel or pattern; NULL when an
                              unsubscribe found nothing to drop); NULL for
                              PONG and RECONNECTED. */
    size_t channel_len;  /**< Bytes of channel. */
    const char *pattern; /**< For PMESSAGE, the pattern that matched;
                              else NULL. */
    size_t pattern_len;  /**< Bytes of pattern. */
    const char *data;    /**< Payload of a message, or the PONG's payload
                              ("" for a PING without one); else NULL. */
    size_t data_len;     /**< Bytes of data. */
    long long count;     /**< For confirmations: subscriptions of the
                              connection after it. */
} rk_message;

/** Called for a message; see rk_pubsub_on. */
typedef void (*rk_message_fn)(void *userdata, const rk_message *msg);

/** What happened to the subscriber's connection; see rk_pubsub_opts.on_event. */
typedef enum rk_pubsub_event {
    RK_PUBSUB_LOST = 1,    /**< The connection failed (err says why); the loop
                                reconnects with the client's backoff. Told once
                                per outage, however many attempts it takes. */
    RK_PUBSUB_RECONNECTED, /**< Connected again with every subscription
                                restored. Messages published while it was
                                down were missed. err->code is RK_OK. */
    RK_PUBSUB_FATAL        /**< A failure no retry will cure (err): refused
                                credentials (RK_EAUTH), TLS (RK_ETLS), a server
                                error reply (RK_ESERVER, e.g. prefix "NOPERM"
                                for a channel the ACL user may not use) or out
                                of memory. The background thread stops; see
                                rk_pubsub_last_error. */
} rk_pubsub_event;

/** Called on a connection event, by the thread running the loop (the
 *  background thread, or the caller of rk_pubsub_get_message /
 *  rk_pubsub_wait_active). err and its strings are valid only during the
 *  call. The rules of handlers (rk_pubsub_on) apply. */
typedef void (*rk_pubsub_event_fn)(void *userdata, rk_pubsub_event event, const rk_error *err);

/** Pub/sub options; zeroed fields mean the defaults beside them. */
typedef struct rk_pubsub_opts {
    bool ignore_confirmations;   /**< Do not report (un)subscribe
                                      confirmations. */
    int health_check_ms;         /**< PING the server when nothing arrived for
                                      this long, and take the connection for
                                      dead (reconnect) when that PING is not
                                      answered within as long again; default
                                      0: the client's health_check_ms (30 s by
                                      default); negative: never. */
    rk_pubsub_event_fn on_event; /**< Told of lost and restored connections
                                      and fatal failures; NULL: nobody. */
    void *event_userdata;        /**< Passed to on_event. */
} rk_pubsub_opts;

/** A pub/sub object using the client's connection options (host, auth,
 *  TLS, protocol, retry backoff). No connection is made until the first
 *  subscription. NULL with rk_error_last() on failure. The client must
 *  outlive it. */
rk_pubsub *(rk_pubsub_new)(rk_client *client, const rk_pubsub_opts *opts, size_t opts_size);
#define rk_pubsub_new(...) (rk_pubsub_new)(__VA_ARGS__, sizeof(rk_pubsub_opts))

/** Stops the background thread if running, closes the connection, frees.
 *  Not from a handler. NULL is allowed. */
void rk_pubsub_free(rk_pubsub *ps);

/** Subscribe to the n channels of the array (binary safe: a name may hold
 *  any bytes, NUL included); all that follows holds as well for the
 *  unsubscribe, pattern and shard channel calls. A NULL array with n > 0,
 *  or a name whose ptr is NULL, is RK_EINVAL, and so is subscribing with
 *  n 0 (nothing is sent). Unsubscribing with n 0 drops
 *  every subscription of that kind; unsubscribing also drops the handlers
 *  of those channels or patterns. Returns once the command is sent
 *  (confirmations arrive as messages; rk_pubsub_wait_active waits for
 *  them), blocking up to the command timeout.
 *
 *      rk_pubsub_subscribe(ps, (const rk_str[]){RK_STR("news"), rk_cstr(room)}, 2);
 *
 *  The first command connects, in the calling thread: its failures (e.g.
 *  RK_ECONNECT, RK_EAUTH) are returned and nothing is recorded. Later, the
 *  command is only queued, and sent by the thread that reads messages,
 *  when the connection is down (after the reconnect), when called from a
 *  handler, or while the background thread runs. If the connection fails
 *  while sending, the subscription is restored with the others.
 *
 *  A subscribe the server refuses (an error reply such as NOPERM) comes
 *  back from the call that reads it (rk_pubsub_get_message, or the thread's
 *  on_event as RK_PUBSUB_FATAL); its channels stay recorded, so nothing
 *  sends them again until the connection is made anew (and refused again
 *  then): unsubscribe them to drop them. */
int rk_pubsub_subscribe(rk_pubsub *ps, const rk_str *channels, size_t n);

/** UNSUBSCRIBE, as rk_pubsub_subscribe(): n 0 drops every channel. */
int rk_pubsub_unsubscribe(rk_pubsub *ps, const rk_str *channels, size_t n);

/** PSUBSCRIBE to patterns, as rk_pubsub_subscribe(). */
int rk_pubsub_psubscribe(rk_pubsub *ps, const rk_str *patterns, size_t n);

/** PUNSUBSCRIBE, as rk_pubsub_subscribe(): n 0 drops every pattern. */
int rk_pubsub_punsubscribe(rk_pubsub *ps, const rk_str *patterns, size_t n);

/** SSUBSCRIBE to shard channels, as rk_pubsub_subscribe(). */
int rk_pubsub_ssubscribe(rk_pubsub *ps, const rk_str *channels, size_t n);

/** SUNSUBSCRIBE, as rk_pubsub_subscribe(): n 0 drops every shard
 *  channel. */
int rk_pubsub_sunsubscribe(rk_pubsub *ps, const rk_str *channels, size_t n);

/** Waits up to timeout_ms (negative: forever) until every subscribe and
 *  unsubscribe call made before it (by any thread) is in force on the
 *  server: a message published after it returns RK_OK reaches the
 *  subscriptions, and no longer reaches the dropped ones. RK_OK at once
 *  when nothing was ever subscribed.
 *
 *  It queues a PING of its own behind those commands and waits for the
 *  answer: with the background thread running, in the calling thread
 *  while the thread reads; otherwise by reading the connection itself,
 *  keeping the messages that come meanwhile for rk_pubsub_get_message
 *  (handlers run as usual). A reconnect on the way counts as done once
 *  every subscription is restored.
 *
 *  Returns RK_ETIMEOUT when time ran out; a failure retrying will not cure
 *  (the server refused a command, e.g. RK_ESERVER with prefix NOPERM, or
 *  the background thread stopped on one); RK_ECLOSED when the background
 *  thread was stopped meanwhile; RK_EINVAL from a handler or on_event. */
int rk_pubsub_wait_active(rk_pubsub *ps, int timeout_ms);

/** The failure that stopped the background thread, or the last one
 *  rk_pubsub_get_message or rk_pubsub_wait_active returned as incurable;
 *  RK_OK when none happened since rk_pubsub_new or the last
 *  rk_pubsub_start_thread. When message is not NULL, copies its text there
 *  (truncated to size, NUL-terminated). Any thread may ask. */
int rk_pubsub_last_error(rk_pubsub *ps, char *message, size_t size);

/** Registers a handler for messages on a channel (also used for its shard
 *  channel messages), or for a pattern's messages, and subscribes to it
 *  (as rk_pubsub_subscribe / psubscribe); a second call replaces the
 *  handler. A message with a handler is given to the handler, not returned
 *  by rk_pubsub_get_message. Handlers run in the thread reading messages;
 *  they may (un)subscribe and ping, but not read messages, stop the thread
 *  or free the rk_pubsub. fn NULL is RK_EINVAL. */
int rk_pubsub_on(rk_pubsub *ps, const char *channel, rk_message_fn fn, void *userdata);

/** As rk_pubsub_on(), for the messages matching a pattern (PSUBSCRIBE). */
int rk_pubsub_on_pattern(rk_pubsub *ps, const char *pattern, rk_message_fn fn, void *userdata);

/** Sends a PING on the subscribed connection (answered by an RK_MSG_PONG
 *  message carrying `payload`, which may be NULL), as the subscribe calls
 *  send their commands. A user the ACL denies PING gets the server's
 *  NOPERM (RK_ESERVER) from the call that reads the answer instead; the
 *  health check, the restore and rk_pubsub_wait_active work for such a
 *  user all the same. */
int rk_pubsub_ping(rk_pubsub *ps, const char *payload);

/** Waits up to timeout_ms (0 polls, negative waits forever) for the next
 *  message that has no handler, dispatching those that have one on the
 *  way. Returns 1 with *msg filled (valid until the next call on ps), 0
 *  when the time ran out, or a failure.
 *
 *  Reconnects as needed, without blocking past timeout_ms: a connect in
 *  progress carries over to the next call. Connection failures (refused,
 *  reset, timed out, a server still loading) are retried with the client's
 *  backoff for as long as it takes; failures retrying will not repair are
 *  returned (RK_EAUTH, RK_ETLS, RK_ESERVER for an error reply such as
 *  NOPERM, with rk_error_last() saying which) and told to on_event as
 *  RK_PUBSUB_FATAL, and the next call tries again after the backoff: a
 *  failed connect is tried again; names the server refused on a live
 *  connection stay wanted, and are sent again by the next connection's
 *  restore, not before.
 *  RK_EINVAL while the background thread runs (even one stopped by a fatal
 *  failure: call rk_pubsub_stop_thread first), or with a negative timeout
 *  when nothing is subscribed. */
int rk_pubsub_get_message(rk_pubsub *ps, int timeout_ms, rk_message *msg);

/** Channels the connection is subscribed to now, as confirmed by the
 *  server. Any thread may ask. */
size_t rk_pubsub_channel_count(const rk_pubsub *ps);

/** Patterns subscribed to, as rk_pubsub_channel_count(). */
size_t rk_pubsub_pattern_count(const rk_pubsub *ps);

/** Shard channels subscribed to, as rk_pubsub_channel_count(). */
size_t rk_pubsub_shard_channel_count(const rk_pubsub *ps);

/** Starts a background thread that reads and dispatches every message to
 *  its handler (messages without a handler, confirmations unless ignored,
 *  PONGs and RK_MSG_RECONNECTED go to `fallback`, which may be NULL to drop
 *  them), as redis-py's run_in_thread. It reconnects like
 *  rk_pubsub_get_message; on a failure retrying will not cure it tells
 *  on_event RK_PUBSUB_FATAL and ends, keeping the failure for
 *  rk_pubsub_last_error (the rk_pubsub stays in threaded mode until
 *  rk_pubsub_stop_thread; starting the thread again tries again and forgets
 *  the failure). RK_EINVAL if one already runs. */
int rk_pubsub_start_thread(rk_pubsub *ps, rk_message_fn fallback, void *userdata);

/** Asks the background thread to stop and joins it (returns within about
 *  100 ms plus the time a handler takes); then the calling thread owns the
 *  rk_pubsub again. RK_OK also when no thread runs or the thread ended on a
 *  fatal failure; RK_EINVAL from a handler. */
int rk_pubsub_stop_thread(rk_pubsub *ps);

#ifdef __cplusplus
}
#endif
#endif
