/* Internal side of the writer for the layers that must judge a command
 * after it was encoded (the client's pooled-call guard, pipelines, the
 * connection's mode tracking): its first words, read back from the queue,
 * and taking it back out when it must not be sent. */
#ifndef RK_WRITER_INT_H
#define RK_WRITER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* The first RK_WRITER_WORDS arguments (or fewer) of the command encoded
 * last: its name, subcommand and first argument, exactly as built,
 * whatever entry point built it, as noted while it was encoded (where
 * each word lies in the queue, or the caller's bytes for a referenced
 * one). Returns how many (0 when the last thing queued was not a command, or the queue was
 * cleared since). The pointers are valid until the writer is next changed. */
#define RK_WRITER_WORDS 3
int rk_writer_last_words(const rk_writer *writer, rk_str word[RK_WRITER_WORDS]);

/* The first byte and the length of that command's name, for a quick look
 * before any lookup: false when there is no such command. */
bool rk_writer_last_name(const rk_writer *writer, unsigned char *first, size_t *len);

/* Takes the command encoded last back out of the queue, as if it had never
 * been queued: RK_OK, or RK_EINVAL when none can be (nothing encoded last,
 * or some of it was already consumed). */
int rk_writer_unqueue_last(rk_writer *writer);

#pragma GCC visibility pop

#endif
