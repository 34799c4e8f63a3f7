/** @file rediskit/reply.h
 * rediskit: replies.
 *
 * One type, rk_reply, holds any RESP2 or RESP3 reply. The caller provides
 * the storage of the top-level reply (usually a local variable); everything
 * below it (elements, strings) lives in at most one block that rediskit
 * allocates, so a reply of any shape costs one allocation or none: integers,
 * nil, booleans and short strings such as "OK" are stored inline.
 *
 *     rk_reply r;
 *     if (rk_reader_next(rd, &r) == 1) {
 *         printf("%s\n", rk_reply_str(&r));
 *         rk_reply_free(&r);
 *     }
 *
 * The fields of struct rk_reply are private; read them with the accessors.
 * Elements reached through a reply (rk_reply_at, rk_reply_map_value...) are
 * borrowed: valid as long as the top-level reply they came from. Strings are
 * always followed by a NUL byte, and are binary safe with rk_reply_len.
 *
 * Copying the struct (`rk_reply b = a;`) moves ownership: the block below
 * is shared, so exactly one of the two may be freed and the other must not
 * be used after that. For a second, independent reply use rk_reply_dup. */
#ifndef RK_REPLY_H
#define RK_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The kind of a reply. RESP2 replies use the first six. */
typedef enum rk_type {
    RK_REPLY_NIL = 0,  /**< Null bulk, null array or RESP3 null (`_`). */
    RK_REPLY_STATUS,   /**< Simple string (`+OK`). */
    RK_REPLY_ERROR,    /**< Simple error (`-`) or blob error (`!`). */
    RK_REPLY_INTEGER,  /**< Integer (`:`). */
    RK_REPLY_STRING,   /**< Bulk string (`$`), including streamed ones. */
    RK_REPLY_ARRAY,    /**< Array (`*`). */
    RK_REPLY_DOUBLE,   /**< Double (`,`), including inf, -inf and nan. */
    RK_REPLY_BOOL,     /**< Boolean (`#t` / `#f`). */
    RK_REPLY_BIGNUM,   /**< Big number (`(`), kept as its decimal text. */
    RK_REPLY_VERBATIM, /**< Verbatim string (`=`) with a 3-letter format. */
    RK_REPLY_MAP,      /**< Map (`%`): key/value pairs. */
    RK_REPLY_SET,      /**< Set (`~`). */
    RK_REPLY_PUSH,     /**< Out-of-band push data (`>`). */
    RK_REPLY_ATTR      /**< An attribute map (`|`); only seen through
                            rk_reply_attr(), never as a reply of its own. */
} rk_type;

/** A reply node. Private fields: use the accessors below. A zeroed
 *  rk_reply is a valid nil reply that owns nothing. */
typedef struct rk_reply {
    uint8_t type_;    /**< Private: the rk_type. */
    uint8_t flags_;   /**< Private: RK_RF_* in src/resp/reply_int.h. */
    char format_[4];  /**< Private: verbatim format, NUL-terminated. */
    uint16_t pad_;    /**< Private: padding. */
    size_t len_;      /**< Private: string bytes, elements, or map pairs. */
    const char *str_; /**< Private: string data when not inline. */
    union {
        long long integer;
        double number;
        struct rk_reply *elem;
        char inl[8];        /* strings of up to 7 bytes, NUL-terminated */
    } u_;                   /**< Private: the value or the elements. */
    struct rk_reply *attr_; /**< Private: attribute map that preceded it, or NULL. */
} rk_reply;

/** Releases what a top-level reply owns and leaves it a nil reply. Safe
 *  on a nil or zeroed reply and on NULL; on a borrowed reply it frees
 *  nothing (the reader owns that storage) and just makes it nil. Never
 *  call it on an element reached through another reply. */
void rk_reply_free(rk_reply *reply);

/** Makes dst an owned deep copy of src (one allocation at most), for
 *  example to keep a borrowed reply. dst must not own anything. Returns
 *  RK_OK or RK_ENOMEM (dst is then nil). */
int rk_reply_dup(rk_reply *dst, const rk_reply *src);

/** The reply's kind. */
rk_type rk_reply_type(const rk_reply *reply);

/** A constant name for a kind ("string", "map"...). */
const char *rk_type_name(rk_type type);

/** String data of a STATUS, ERROR, STRING, VERBATIM (without its
 *  "txt:" prefix), BIGNUM or DOUBLE (its text as received) reply; NULL for
 *  every other kind. NUL-terminated; may contain NUL bytes. */
const char *rk_reply_str(const rk_reply *reply);

/** Bytes of a string kind; elements of an ARRAY, SET or PUSH; key/value
 *  pairs of a MAP or ATTR; 0 for scalars. */
size_t rk_reply_len(const rk_reply *reply);

/** The value of an INTEGER, or of a BOOL (1/0); 0 otherwise. */
long long rk_reply_int(const rk_reply *reply);

/** The value of a DOUBLE or INTEGER, or NaN for other kinds. */
double rk_reply_double(const rk_reply *reply);

/** The value of a BOOL; for an INTEGER, whether it is non-zero. */
bool rk_reply_bool(const rk_reply *reply);

/** Element i of an ARRAY, SET or PUSH; NULL when out of range or when the
 *  reply is of another kind (maps use rk_reply_map_key/value). */
const rk_reply *rk_reply_at(const rk_reply *reply, size_t i);

/** Key of pair i of a MAP or ATTR; NULL when out of range or when the
 *  reply is of another kind. */
const rk_reply *rk_reply_map_key(const rk_reply *reply, size_t i);

/** Value of pair i, as rk_reply_map_key(). */
const rk_reply *rk_reply_map_value(const rk_reply *reply, size_t i);

/** The value under the string key `key` in a MAP or ATTR, or NULL. */
const rk_reply *rk_reply_map_get(const rk_reply *reply, const char *key);

/** The 3-letter format of a VERBATIM reply ("txt", "mkd"), else NULL. */
const char *rk_reply_verbatim_format(const rk_reply *reply);

/** The attribute map (kind ATTR) that preceded this reply, or NULL. */
const rk_reply *rk_reply_attr(const rk_reply *reply);

/** True for an ERROR reply; the prefix is its first word ("WRONGTYPE"). */
bool rk_reply_is_error(const rk_reply *reply);

/** Output flags for rk_reply_format. */
enum {
    RK_FORMAT_RAW = 1 /**< As `redis-cli --raw`: bare values, one a line. */
};

/** The reply as redis-cli prints it to a terminal (or with RK_FORMAT_RAW
 *  as `redis-cli --raw` does), ending with a newline. Returns a NUL
 *  terminated string to release with rk_free(), or NULL on RK_ENOMEM. If
 *  len is not NULL it receives the length (the text may hold NUL bytes in
 *  raw mode). */
char *rk_reply_format(const rk_reply *reply, unsigned flags, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
