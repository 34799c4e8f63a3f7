/* What the reply-reading fuzz targets share: how an input is cut into the
 * reader's limits and feeds, and a deep comparison of two replies.
 *
 * Input format of fuzz_reader, fuzz_reader_roundtrip, fuzz_shapes and
 * fuzz_pubsub (so one corpus seeds another): the first byte is the mode,
 * the rest RESP bytes. Mode bit 0x80 picks small reader limits (to reach
 * the limit paths); the low 7 bits seed the feed sizes (0: one feed of
 * everything, else random-sized chunks from 1 byte to the whole rest). */
#ifndef RKF_SUPPORT_H
#define RKF_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rediskit/rediskit.h"

/* An input being fed: the bytes left and the feed-size generator. */
typedef struct rkf_input {
    const uint8_t *data;
    size_t size, off;
    uint32_t rng; /* 0: feed everything at once */
    rk_reader_opts lim;
} rkf_input;

/* Reads the mode byte; false when the input is empty. */
bool rkf_input_start(rkf_input *in, const uint8_t *data, size_t size);

/* The next chunk to feed into *p, *n; false when the input is used up. */
bool rkf_input_chunk(rkf_input *in, const uint8_t **p, size_t *n);

/* Reader number `which` (0 or 1) with the input's limits, reset. Readers
 * are made once and kept across inputs, reset before each as a
 * connection's reader is on reconnect: a new reader per input costs more
 * in allocation (16 KiB buffer, stack) than reading the input does. */
rk_reader *rkf_reader(const rkf_input *in, int which);

/* Feeds the whole input through one reader with the input's limits and
 * calls each(reply, ctx) for every owned reply, which the caller keeps only
 * for the call (it is freed after). Stops at the first reader failure. */
void rkf_each_reply(const uint8_t *data, size_t size,
                    void (*each)(const rk_reply *reply, void *ctx), void *ctx);

/* Whether two replies are equal in every observable way (type, length,
 * value, string bytes and NUL, verbatim format, attributes, elements). */
bool rkf_equal(const rk_reply *a, const rk_reply *b);

#endif
