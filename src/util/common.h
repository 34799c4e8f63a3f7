/* Internal helpers shared by every layer: error recording, allocation
 * shorthands, time, and small macros. Not installed; never included by a
 * public header. */
#ifndef RK_COMMON_H
#define RK_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "rediskit/str.h"

#pragma GCC visibility push(hidden)

#define RK_UNUSED(x) ((void)(x))
#define RK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* RK_HOT marks a function that every call runs (the pooled call, the
 * typed builders' steps, the async command path). GCC and clang place such
 * functions in .text.hot, which the linker puts together: the hot path
 * fits in a few pages instead of spreading over the library's text. That
 * matters where every system call empties the TLB (kernel page-table
 * isolation without PCID, as on many VMs): an unpipelined call makes two,
 * and then pays a TLB miss for each page of code it touches (25 pages
 * before, 10 after; docs/DESIGN.md, "Code layout"). */
#if defined(__GNUC__)
#define RK_LIKELY(x) __builtin_expect(!!(x), 1)
#define RK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RK_HOT __attribute__((hot))
#else
#define RK_LIKELY(x) (x)
#define RK_UNLIKELY(x) (x)
#define RK_PRINTF(f, a)
#define RK_HOT
#endif

/* Records a failure on this thread and returns code, so that callers can
 * write `return rk_fail(RK_EINVAL, "bad port %d", port);`. */
int rk_fail(int code, const char *fmt, ...) RK_PRINTF(2, 3);
int rk_vfail(int code, const char *fmt, va_list ap) RK_PRINTF(2, 0);

/* Records a server error reply (msg of len bytes, e.g. "WRONGTYPE Op...")
 * as RK_ESERVER, or as `code` when the caller classifies it otherwise
 * (RK_EAUTH, RK_EREDIRECT...). The prefix is the message's first word. */
int rk_fail_server(int code, const char *msg, size_t len);

/* Monotonic clock in milliseconds and microseconds. */
int64_t rk_now_ms(void);
int64_t rk_now_us(void);

/* The same clock read coarsely: it lags rk_now_ms by less than one
 * scheduler tick (1-10 ms) but costs a tenth as much (no TSC read; about
 * 7 ns against 100 under kvm-clock). For bookkeeping paid on every call
 * that needs no precision, such as how long a connection sat idle. */
int64_t rk_now_ms_coarse(void);

/* Sleeps ms milliseconds, resuming after signals; ms <= 0: no sleep. */
void rk_sleep_ms(int ms);

/* Puts the NULL-terminated list of C strings arg0, ap... into argv (room
 * for max) and returns how many, or RK_EINVAL when there are more than max. */
int rk_collect_args(const char *arg0, va_list ap, rk_str *argv, int max);

/* Copies the caller's options struct (src, src_size bytes: the size its
 * header gave the struct) into dst (dst_size: this library's size),
 * zeroing what src does not have; src NULL zeroes dst. A longer src (a
 * newer header) is accepted only if the bytes past dst_size are zero.
 * Returns RK_OK or RK_EINVAL naming what. See opts.c. */
int rk_opts_settle(void *dst, size_t dst_size, const void *src, size_t src_size, const char *what);

/* Whether the n bytes at p are all zero. */
bool rk_bytes_zero(const void *p, size_t n);

/* The number of cluster hash slots, and the slot of a key (its hash tag
 * honoured); see slot.c. */
#define RK_SLOTS 16384
#define RK_SLOT_NONE (-1)  /* a command without keys, or whose slot is not known */
#define RK_SLOT_CROSS (-2) /* a command whose keys are in different slots */
int rk_key_slot(const char *key, size_t len);

#pragma GCC visibility pop

#endif
