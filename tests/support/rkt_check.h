/* Assertion helpers for tests that drive connections: connect or fail
 * with the library's message, call and expect a reply, wait for a socket,
 * make test data with every byte value, and count open descriptors. */
#ifndef RKT_CHECK_H
#define RKT_CHECK_H

#include <stddef.h>

#include "rediskit/conn.h"
#include "rediskit/reply.h"

/* rk_conn_connect, failing the test with the library's message. */
void rkt_connect_ok(rk_conn *c);

/* rk_conn_vcall that must return RK_OK; the reply is the caller's. */
rk_reply rkt_call_ok(rk_conn *c, const char *fmt, ...);

/* PING must answer +PONG. */
void rkt_expect_pong(rk_conn *c);

/* The reply is of kind type with exactly this text. */
void rkt_assert_text(const rk_reply *r, rk_type type, const char *text);

/* The reply is a bulk string of exactly these len bytes. */
void rkt_assert_bytes(const rk_reply *r, const void *data, size_t len);

/* Waits (10 s at most) until the connection's socket is ready for what it
 * wants (rk_conn_want). */
void rkt_wait_conn(rk_conn *c);

/* A malloc'd buffer of n bytes with every byte value, NULs included. */
char *rkt_pattern(size_t n, unsigned seed);

/* How many descriptors this process has open (for leak checks); skips the
 * test where /proc/self/fd cannot be read. */
int rkt_open_fds(void);

#endif
