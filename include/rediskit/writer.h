/** @file rediskit/writer.h
 * rediskit: the RESP writer.
 *
 * Encodes commands (and, for tests and fake servers, replies) into an output
 * queue without intermediate heap strings: lengths and integers are written
 * straight into the buffer. Arguments of ref_threshold bytes or more are not
 * copied but referenced, so the queue is a list of iovecs to hand to
 * writev(2); such arguments must stay valid and unchanged until
 * rk_writer_consume has passed them (or rk_writer_clear is called).
 *
 * Every encode call is all or nothing: on failure the queue is unchanged. */
#ifndef RK_WRITER_H
#define RK_WRITER_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/uio.h>

#include "reply.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default size from which arguments are referenced instead of copied. */
#define RK_WRITER_REF_THRESHOLD (16u * 1024)

/** Writer options; a zeroed field means the default named beside it. */
typedef struct rk_writer_opts {
    size_t ref_threshold; /**< Arguments this long or longer are referenced.
                               Default RK_WRITER_REF_THRESHOLD; SIZE_MAX
                               copies everything. */
} rk_writer_opts;

/** A writer: the queue of encoded bytes waiting to be sent. */
typedef struct rk_writer rk_writer;

/** A new, empty writer (opts may be NULL), or NULL on RK_ENOMEM. */
rk_writer *(rk_writer_new)(const rk_writer_opts *opts, size_t opts_size);
#define rk_writer_new(...) (rk_writer_new)(__VA_ARGS__, sizeof(rk_writer_opts))

/** Frees the writer and its queue. NULL is allowed. */
void rk_writer_free(rk_writer *writer);

/** Queues a command from the argc binary-safe strings of argv (a list is
 *  always the array, then its count; see str.h):
 *
 *      rk_str argv[] = {RK_STR("SET"), rk_cstr(key), rk_bin(buf, n)};
 *      rk_writer_argv(w, argv, 3);
 *
 *  An empty argument is RK_STR(""). Returns RK_OK, RK_EINVAL (argc 0, a
 *  NULL argv, an argument whose pointer is NULL or whose length is over
 *  RK_STR_MAX) or RK_ENOMEM. */
int rk_writer_argv(rk_writer *writer, const rk_str *argv, size_t argc);

/** Queues a command from C strings, the list ended by NULL:
 *  rk_writer_args(w, "SET", "k", "v", NULL). */
int rk_writer_args(rk_writer *writer, const char *arg0, ...);

/** As rk_writer_args(), with a va_list. */
int rk_writer_vargs(rk_writer *writer, const char *arg0, va_list ap);

/** Queues a command from a printf-style format, as hiredis does: spaces
 *  separate arguments; %s is a C string, %b a binary string given as a
 *  pointer and a size_t, %d %i %u %x %ld %lld %lu %llu %zu %zd (and the
 *  other C integer conversions) and %f %g %e (doubles; %lf too, and %Lf
 *  for a long double) format numbers in the C locale (a '.' whatever
 *  setlocale chose; unlike hiredis), %% is a percent sign; text and
 *  conversions without a space between them form one argument ("key:%d"
 *  -> "key:42"). An unknown conversion, or a length modifier its
 *  conversion does not take ("%llf"), is RK_EINVAL. */
int rk_writer_format(rk_writer *writer, const char *fmt, ...);

/** As rk_writer_format(), with a va_list. */
int rk_writer_vformat(rk_writer *writer, const char *fmt, va_list ap);

/** Queues bytes as they are (no encoding). */
int rk_writer_raw(rk_writer *writer, const void *data, size_t len);

/** Queues the wire form of a reply tree (with its attributes). With
 *  protocol 3 every kind is encoded as itself; with protocol 2 the RESP3
 *  kinds are lowered as a RESP2 server does (maps and sets to arrays,
 *  doubles and big numbers to bulk strings, booleans to integers, verbatim
 *  to bulk, nil to a null bulk, attributes dropped). */
int rk_writer_reply(rk_writer *writer, const rk_reply *reply, int protocol);

/** Bytes queued and not yet consumed. */
size_t rk_writer_pending(const rk_writer *writer);

/** Fills up to max iovecs describing the queue from its start and returns
 *  how many were filled (0 when the queue is empty). */
int rk_writer_iov(const rk_writer *writer, struct iovec *iov, int max);

/** As rk_writer_iov, but starting `offset` bytes into the queue (offset
 *  <= pending): for sending a queue without consuming it, to be able to
 *  send it again. */
int rk_writer_iov_at(const rk_writer *writer, size_t offset, struct iovec *iov, int max);

/** Drops the first n queued bytes (n <= pending), after they were sent. */
void rk_writer_consume(rk_writer *writer, size_t n);

/** Empties the queue, keeping its memory for reuse. */
void rk_writer_clear(rk_writer *writer);

#ifdef __cplusplus
}
#endif
#endif
