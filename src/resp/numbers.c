/* Locale-independent number parsing and formatting for RESP.
 *
 * RESP numbers always use '.' and ASCII digits, whatever locale the
 * application set: doubles are parsed with strtod_l and formatted under
 * uselocale, both with the C locale made once here (rk_c_locale). */
#define _GNU_SOURCE
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resp/resp_int.h"
#include "util/common.h"

RK_HOT int rk_parse_ll(const char *s, size_t len, long long *out) {
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || len - i > 19)
        return -1;
    unsigned long long v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return -1;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return -1;
        *out = (long long)v;
    }
    return 0;
}

/* Whether c is a decimal digit; a CR is not, which ends every scan of
 * rk_double_line_ok at the line's end. */
static bool is_digit(char c) {
    return (unsigned char)(c - '0') < 10;
}

bool rk_double_line_ok(const char *s, size_t n) {
    const char *p = s, *end = s + n;
    if (*p == '-' || *p == '+')
        p++;
    const char *digits = p;
    while (is_digit(*p))
        p++;
    size_t count = (size_t)(p - digits);
    if (*p == '.') {
        digits = ++p;
        while (is_digit(*p))
            p++;
        count += (size_t)(p - digits);
    }
    if (count == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        digits = p;
        while (is_digit(*p))
            p++;
        if (p == digits)
            return false;
    }
    return p == end;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void) {
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The C locale, or (locale_t)0 if the C library could not make it (glibc
 * returns a static object for "C", so it cannot fail there); uselocale(0)
 * then leaves the thread's locale as it is. */
static locale_t rk_c_locale(void) {
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale;
}

int rk_snprintf_c(char *dst, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    locale_t old = uselocale(rk_c_locale());
    int n = vsnprintf(dst, size, fmt, ap);
    uselocale(old);
    va_end(ap);
    return n;
}

size_t rk_fmt_double(char *dst, double v) {
    locale_t old = uselocale(rk_c_locale());
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(dst, RK_DOUBLE_TEXT, "%.*g", prec, v);
        if (strtod(dst, NULL) == v)
            break;
    }
    uselocale(old);
    return (size_t)n;
}

static int word_is(const char *s, size_t len, const char *w) {
    return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

int rk_parse_double(const char *s, size_t len, double *out) {
    if (word_is(s, len, "inf") || word_is(s, len, "+inf")) {
        *out = INFINITY;
        return 0;
    }
    if (word_is(s, len, "-inf")) {
        *out = -INFINITY;
        return 0;
    }
    if (word_is(s, len, "nan") || word_is(s, len, "-nan")) {
        *out = NAN;
        return 0;
    }
    /* Only plain decimal and exponent forms; strtod alone would also take
     * spaces, hex floats and words. */
    char tmp[352];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    int digits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits = 1;
        else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E')
            return -1;
    }
    if (!digits)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    locale_t c = rk_c_locale();
    char *end;
    double d = c ? strtod_l(tmp, &end, c) : strtod(tmp, &end);
    if (end != tmp + len)
        return -1;
    *out = d;
    return 0;
}

RK_HOT size_t rk_digits_ull(unsigned long long v) {
    for (size_t n = 1;; n += 4, v /= 10000) { /* a division per 4 digits */
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
    }
}

RK_HOT size_t rk_fmt_ull(char *dst, unsigned long long v) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    size_t n = rk_digits_ull(v);
    char *p = dst + n;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = pairs[i + 1];
        *--p = pairs[i];
    }
    if (v >= 10) {
        *--p = pairs[v * 2 + 1];
        *--p = pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    return n;
}

RK_HOT size_t rk_fmt_ll(char *dst, long long v) {
    if (v >= 0)
        return rk_fmt_ull(dst, (unsigned long long)v);
    dst[0] = '-';
    return 1 + rk_fmt_ull(dst + 1, 0ULL - (unsigned long long)v);
}
