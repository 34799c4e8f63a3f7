/** @file rediskit/reader.h
 * rediskit: the RESP2/RESP3 reader.
 *
 * The reader is fed bytes and yields complete replies; it does no I/O. It
 * may stop in the middle of any token and resumes when more bytes arrive, so
 * the replies are the same whatever the split of the input. A reply is
 * scanned once to check it is complete and well formed and to measure it,
 * then built into one block (see reply.h).
 *
 * Any malformed input or crossed limit is RK_EPROTO with a message naming
 * what and where (rk_error_last()); the reader then refuses all further
 * input: the connection it reads must be dropped. */
#ifndef RK_READER_H
#define RK_READER_H

#include <stddef.h>

#include "reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default limits; each can be changed in rk_reader_opts. */
#define RK_READER_MAX_BULK (512u * 1024 * 1024)    /**< 512 MiB, as the server */
#define RK_READER_MAX_ELEMENTS 0xffffffffu         /**< per aggregate */
#define RK_READER_MAX_DEPTH 64u                    /**< nesting levels */
#define RK_READER_MAX_BUFFER (1024u * 1024 * 1024) /**< 1 GiB unconsumed */
#define RK_READER_MAX_MEMORY (512u * 1024 * 1024)  /**< 512 MiB per reply */

/** Reader options; a zeroed field means the default named beside it.
 *  Frozen: it is nested in rk_options (its `limits`), so it cannot grow
 *  (see options.h); a new limit is appended to rk_options instead. */
typedef struct rk_reader_opts {
    size_t max_bulk;     /**< Longest bulk/verbatim/blob error, or streamed
                              string in total. Default RK_READER_MAX_BULK. */
    size_t max_elements; /**< Most elements in one aggregate (a map counts
                              its pairs). Default RK_READER_MAX_ELEMENTS. */
    unsigned max_depth;  /**< Deepest nesting of aggregates (a top-level
                              array is depth 1). Default RK_READER_MAX_DEPTH,
                              at most 4096. */
    size_t max_buffer;   /**< Most bytes one reply may take in the read
                              buffer (a top-level bulk of 64 KiB or more is
                              received into its own block and bounded by
                              max_bulk instead). Default
                              RK_READER_MAX_BUFFER; max_memory counts
                              these bytes too and is the tighter bound
                              by default. */
    size_t max_memory;   /**< Most memory reading one reply may make the
                              reader allocate, counted as the reply would
                              cost taken with rk_reader_next: its bytes in
                              the read buffer (once: the buffer grows by
                              doubling, so it may hold up to as much
                              again), 24 bytes per token while it
                              is scanned (the scan's record grows by
                              doubling: counted at the size it grows to,
                              and while it grows, old and new together)
                              and the built reply, 40 bytes per element
                              (counted as soon as an aggregate announces
                              them) plus a copy of every string longer
                              than 7 bytes. A reply that is one bulk
                              string is bounded by max_bulk instead: it
                              costs its length (twice at most while it is
                              copied out of the buffer); one received
                              straight into its own block grows with the
                              bytes that arrive (from 4 MiB, doubling), so
                              a header announcing a huge bulk costs
                              nothing until the bytes come. Default
                              RK_READER_MAX_MEMORY: enough for a 255 MiB
                              value inside an aggregate, or about 4
                              million small elements. At least 4096. */
} rk_reader_opts;

/** A reader of one byte stream (one connection), used by one thread at a
 *  time. */
typedef struct rk_reader rk_reader;

/** A new reader (opts may be NULL for the defaults), or NULL on RK_ENOMEM
 *  or RK_EINVAL (max_depth over 4096, max_memory under 4096; see
 *  rk_error_last()). Free it with rk_reader_free. */
rk_reader *(rk_reader_new)(const rk_reader_opts *opts, size_t opts_size);
#define rk_reader_new(...) (rk_reader_new)(__VA_ARGS__, sizeof(rk_reader_opts))

/** Frees the reader and anything it still buffers. NULL is allowed. */
void rk_reader_free(rk_reader *reader);

/** Copies len bytes into the reader. Returns RK_OK, RK_ENOMEM, or
 *  RK_EPROTO if the reader has failed before. Invalidates borrowed
 *  replies. */
int rk_reader_feed(rk_reader *reader, const void *buf, size_t len);

/** Zero-copy feeding, for reading from a socket straight into the reader:
 *  rk_reader_space returns a writable area and its size in *avail, then
 *  rk_reader_commit tells how many bytes were written into it. The area is
 *  at least `want` bytes, except while a large bulk string (64 KiB or more)
 *  is being received straight into its reply's own block: the area is then
 *  the rest of that bulk, which may be less. Always read at most *avail.
 *  Returns NULL on RK_ENOMEM or RK_EPROTO. Invalidates borrowed replies. */
void *rk_reader_space(rk_reader *reader, size_t want, size_t *avail);

/** Adds the n bytes just written into the area rk_reader_space returned.
 *  RK_EINVAL when n is more than that area, RK_EPROTO if the reader has
 *  failed before. */
int rk_reader_commit(rk_reader *reader, size_t n);

/** Takes the next complete reply into *out, which the caller then owns
 *  (release it with rk_reply_free). Returns 1 when a reply was stored, 0
 *  when more bytes are needed (*out is then nil), or RK_EPROTO /
 *  RK_ENOMEM (*out is nil). */
int rk_reader_next(rk_reader *reader, rk_reply *out);

/** As rk_reader_next, but the reply's strings point into the reader's
 *  buffer and its elements into storage the reader reuses: no allocation
 *  and no copy of bulk data. The reply stays valid until the next call
 *  on this reader (next, next_borrowed, feed, space, reset, free); do not
 *  rk_reply_free it (that is a no-op), and use rk_reply_dup to keep it. */
int rk_reader_next_borrowed(rk_reader *reader, rk_reply *out);

/** Bytes buffered and not yet returned as replies. */
size_t rk_reader_buffered(const rk_reader *reader);

/** Drops everything buffered and any failure, as for a new connection. */
void rk_reader_reset(rk_reader *reader);

#ifdef __cplusplus
}
#endif
#endif
