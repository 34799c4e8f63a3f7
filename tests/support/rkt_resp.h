/* Test helpers for the protocol layer: parse one reply, drain a writer into
 * bytes, encode a reply, and compare replies structurally. They assert
 * (cmocka) on anything unexpected, so a test reads as its behaviour. */
#ifndef RKT_RESP_H
#define RKT_RESP_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/reply.h"
#include "rediskit/writer.h"

/* A string literal and its length, binary safe. */
#define RKT_LIT(s) s, sizeof(s) - 1

/* Parses wire with a fresh default reader: exactly one reply, nothing left
 * over. The reply is the caller's (rk_reply_free). */
void rkt_parse(const char *wire, size_t len, rk_reply *out);

/* Sends everything queued the way a writev loop would, into a malloc'd
 * buffer (NUL-terminated, *len bytes); the queue is empty afterwards. */
char *rkt_drain(rk_writer *w, size_t *len);

/* The wire bytes rk_writer_reply(r, protocol) gives, malloc'd. */
char *rkt_encode(const rk_reply *r, int protocol, size_t *len);

/* Structural equality: kind, length, string bytes (and their NUL), values,
 * verbatim format, attributes and children. */
bool rkt_same_reply(const rk_reply *a, const rk_reply *b);

#endif
