/* Internal number parsing and formatting shared by the protocol layer.
 * Locale independent: RESP numbers always use '.' and ASCII digits. */
#ifndef RK_RESP_INT_H
#define RK_RESP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* Parses a whole signed decimal integer of len bytes ("-12"); no sign
 * other than one leading '-', no spaces, no overflow. 0 on success. */
int rk_parse_ll(const char *s, size_t len, long long *out);

/* Parses a RESP3 double of len bytes: a decimal or exponent form, "inf",
 * "-inf" or "nan". 0 on success. */
int rk_parse_double(const char *s, size_t len, double *out);

/* Whether the len bytes at s are a plain decimal or exponent number
 * ("-1.5e3"), checked without converting it (a fast accept for
 * rk_parse_double's forms). s[len] must be the line's CR, or any byte
 * that is no digit, sign, '.' or 'e': it ends every scan, so no bound is
 * checked byte by byte. */
bool rk_double_line_ok(const char *s, size_t len);

/* snprintf in the C locale, whatever locale the application set: '.'
 * for the decimal point and no digit grouping (the "'" flag). */
int rk_snprintf_c(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Room for any finite double rk_fmt_double writes, NUL included. */
#define RK_DOUBLE_TEXT 32

/* Writes finite v at dst in the shortest "%.15g" to "%.17g" form that
 * reads back as v, in the C locale; returns the length. */
size_t rk_fmt_double(char *dst, double v);

/* Writes v in decimal at dst (room for 20 bytes); returns the length. */
size_t rk_fmt_ll(char *dst, long long v);
size_t rk_fmt_ull(char *dst, unsigned long long v);

/* Number of decimal digits of v (1 for 0). */
size_t rk_digits_ull(unsigned long long v);

#pragma GCC visibility pop

#endif
