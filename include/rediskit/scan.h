/** @file rediskit/scan.h
 * rediskit: cursor iterators over SCAN, SSCAN, HSCAN and ZSCAN.
 *
 * An rk_scanner walks the whole keyspace (or one set, hash or sorted set) a
 * batch at a time, fetching the next batch when the current one is used
 * up, as redis-py's scan_iter, sscan_iter, hscan_iter and zscan_iter do:
 *
 *     rk_scanner *it = rk_scanner_new(client, &(rk_scanner_opts){
 *         .kind = RK_SCAN_HASH, .key = "user:42", .count = 100});
 *     rk_scan_item item;
 *     int rc;
 *     while ((rc = rk_scanner_next(it, &item)) == 1)
 *         printf("%.*s = %.*s\n", (int)item.len, item.str,
 *                (int)item.value_len, item.value);
 *     rk_scanner_free(it);
 *
 * What the server guarantees (and so what the iterator gives): every
 * element present for the whole walk is returned at least once; an element
 * may be returned more than once (callers that care deduplicate); elements
 * added or removed during the walk may or may not be returned. MATCH and
 * TYPE filter after the server has picked a batch, so a batch may be empty
 * while the walk goes on; the iterator then fetches the next one itself.
 *
 * An rk_scanner belongs to one thread at a time; the client it uses may be
 * shared. Each batch is one command on whichever pooled connection is
 * free, which SCAN allows: the cursor holds all the state. */
#ifndef RK_SCAN_H
#define RK_SCAN_H

#include <stddef.h>

#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which command an iterator runs. */
typedef enum rk_scan_kind {
    RK_SCAN_KEYS = 0, /**< SCAN: the keys of the client's database. */
    RK_SCAN_SET,      /**< SSCAN key: the members of a set. */
    RK_SCAN_HASH,     /**< HSCAN key: the fields and values of a hash. */
    RK_SCAN_ZSET      /**< ZSCAN key: the members and scores of a sorted set. */
} rk_scan_kind;

/** What to iterate. Zeroed fields mean the defaults written next to them;
 *  the strings are copied, so they may go away after rk_scanner_new. */
typedef struct rk_scanner_opts {
    rk_scan_kind kind;         /**< RK_SCAN_KEYS. */
    const char *key;           /**< The set, hash or sorted set (required for
                                    those kinds; must be NULL for RK_SCAN_KEYS). */
    size_t key_len;            /**< Bytes of key (binary safe); 0: strlen(key). */
    const char *match;         /**< MATCH glob pattern; NULL: every element. */
    size_t match_len;          /**< Bytes of match; 0: strlen(match). */
    long count;                /**< COUNT hint: about how much work the server does
                                    per batch; 0: the server's default (10). */
    const char *type;          /**< TYPE filter, e.g. "hash" (RK_SCAN_KEYS only);
                                    NULL: keys of every type. */
    unsigned long long cursor; /**< Where to start: 0 for the beginning, or
                                    a value of rk_scanner_cursor() to resume. */
} rk_scanner_opts;

/** One element. The strings are borrowed from the iterator: valid until
 *  the next rk_scanner_next or rk_scanner_free on it. They are NUL-terminated
 *  and binary safe with their lengths. */
typedef struct rk_scan_item {
    const char *str;   /**< The key, set member, hash field or zset member. */
    size_t len;        /**< Bytes of str. */
    const char *value; /**< RK_SCAN_HASH: the field's value; else NULL. */
    size_t value_len;  /**< Bytes of value; 0 when value is NULL. */
    double score;      /**< RK_SCAN_ZSET: the member's score (exact, and
                            possibly inf or -inf); else 0. */
} rk_scan_item;

/** An iterator: a cursor and the batch it fetched last. */
typedef struct rk_scanner rk_scanner;

/** An iterator over what opts says, using client (which must outlive it).
 *  Nothing is sent yet. Returns NULL with rk_error_last() set: RK_EINVAL
 *  when opts is NULL, a key is missing (or given to RK_SCAN_KEYS), type is
 *  given to another kind or count is negative; RK_ENOMEM. */
rk_scanner *(rk_scanner_new)(rk_client *client, const rk_scanner_opts *opts, size_t opts_size);
#define rk_scanner_new(...) (rk_scanner_new)(__VA_ARGS__, sizeof(rk_scanner_opts))

/** The next element into *item. Returns 1 with an element; 0 when the
 *  walk is over (the server's cursor came back to 0 and its last batch is
 *  used up; later calls return 0 again); or a failure, with the detail in
 *  rk_error_last(): RK_ESERVER when the server refused the command (e.g.
 *  "WRONGTYPE" for SSCAN on a string), RK_EPROTO when a batch is not shaped
 *  as the command's reply should be (or gives back the cursor it was sent,
 *  which would never end the walk), or any failure of rk_client_call_argv_opts
 *  (RK_EIO, RK_ETIMEOUT...). After a failure the iterator may be called
 *  again: it fetches the failed batch once more (repeating a SCAN is safe).
 *  A missing key is an empty walk. Blocks while a batch is fetched.
 *  RK_EINVAL for a NULL iterator or item. */
int rk_scanner_next(rk_scanner *it, rk_scan_item *item);

/** A cursor from which a new iterator (rk_scanner_opts.cursor, same kind, key
 *  and filters) continues this walk without missing an element: the cursor
 *  of the next batch once the current one is used up, else the cursor that
 *  fetched the current batch, whose elements already returned will then be
 *  returned again. 0 both before a walk from the start and after its end:
 *  rk_scanner_next() returning 0 is what says the walk is over. 0 for a
 *  NULL iterator. */
unsigned long long rk_scanner_cursor(const rk_scanner *it);

/** Frees the iterator and its batch. Safe on NULL. */
void rk_scanner_free(rk_scanner *it);

#ifdef __cplusplus
}
#endif
#endif
