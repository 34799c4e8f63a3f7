/* The RESP writer: commands (and replies) to wire bytes, no I/O.
 *
 * The queue is one byte buffer plus a list of references to large caller
 * arguments, each anchored at the buffer offset where it belongs on the
 * wire. rk_writer_iov interleaves them into iovecs for writev(2);
 * rk_writer_consume walks the same order as bytes are sent.
 *
 * Every encoder measures first, reserves, then writes, so that a failure
 * leaves the queue as it was and the write itself cannot fail. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "rediskit/writer.h"
#include "resp/reply_int.h"
#include "resp/resp_int.h"
#include "resp/writer_int.h"
#include "util/common.h"

/* A referenced argument, sent after buf[off - 1] and before buf[off]. */
typedef struct ref {
    size_t off;
    const char *ptr;
    size_t len;
} ref;

/* One argument of a format command: bytes in the scratch area, or bytes
 * taken where they are when one piece makes the whole argument (a word of
 * the format, a lone %s or %b). */
typedef struct span {
    const char *direct;
    size_t off;
    size_t len;
    bool may_ref; /* direct bytes are the caller's (%s, %b): may be referenced */
} span;

/* The command encoded last, to read back or take back out: the queue's
 * state just before it (its bytes start at buf[start]; its references at
 * refs[nrefs]), and where its first words are, as queued (in buf, or the
 * caller's bytes for a referenced one). valid is cleared by anything that
 * may move or drop those bytes. A pooled call judges every command it
 * sends by these words, so they are noted while encoding (a few stores)
 * rather than parsed back from the bytes. */
typedef struct last_cmd {
    size_t start, nrefs, pending;
    rk_str word[RK_WRITER_WORDS];
    int nwords;
    bool valid;
} last_cmd;

struct rk_writer {
    size_t threshold;
    char *buf; /* queued bytes are [head, len) */
    size_t len, cap;
    size_t head;
    ref *refs; /* unsent references are [rhead, nrefs) */
    size_t nrefs, caprefs;
    size_t rhead;
    size_t rsent;   /* bytes of refs[rhead] already sent */
    size_t pending; /* total unsent bytes */

    char *scratch; /* format arguments, reused between calls */
    size_t scratch_len, scratch_cap;
    span *spans;
    size_t nspans, capspans;
    last_cmd last;
};

rk_writer *(rk_writer_new)(const rk_writer_opts *opts, size_t opts_size) {
    rk_writer_opts o;
    if (rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_writer_opts") != RK_OK)
        return NULL;
    rk_writer *w = rk_calloc(1, sizeof(*w));
    if (w == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating a writer");
        return NULL;
    }
    w->threshold = o.ref_threshold ? o.ref_threshold : RK_WRITER_REF_THRESHOLD;
    return w;
}

void rk_writer_free(rk_writer *w) {
    if (w == NULL)
        return;
    rk_free(w->buf);
    rk_free(w->refs);
    rk_free(w->scratch);
    rk_free(w->spans);
    rk_free(w);
}

void rk_writer_clear(rk_writer *w) {
    w->last.valid = false;
    w->len = w->head = 0;
    w->nrefs = w->rhead = w->rsent = 0;
    w->pending = 0;
}

RK_HOT size_t rk_writer_pending(const rk_writer *w) {
    return w->pending;
}

/* ---- storage ------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return RK_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    size_t bytes;
    if (__builtin_mul_overflow(c, elem, &bytes))
        return rk_fail(RK_ENOMEM, "writer buffer too large");
    void *np = rk_realloc(*p, bytes);
    if (np == NULL)
        return rk_fail(RK_ENOMEM, "out of memory growing the write buffer to %zu bytes", bytes);
    *p = np;
    *cap = c;
    return RK_OK;
}

/* Room for n more bytes and r more references. Moves the unsent bytes to
 * the front first when everything before them was sent. */
/* Moves the unsent bytes and references to the front, once the sent part
 * is most of the buffer, so a queue that never quite empties cannot grow
 * without bound. */
static void compact(rk_writer *w) {
    if (w->head == 0 || w->head < w->len / 2)
        return;
    memmove(w->buf, w->buf + w->head, w->len - w->head);
    if (w->rhead > 0)
        memmove(w->refs, w->refs + w->rhead, (w->nrefs - w->rhead) * sizeof(ref));
    w->nrefs -= w->rhead;
    w->rhead = 0;
    for (size_t i = 0; i < w->nrefs; i++)
        w->refs[i].off -= w->head;
    w->len -= w->head;
    w->head = 0;
}

RK_HOT static int reserve(rk_writer *w, size_t n, size_t r) {
    w->last.valid = false; /* offsets may move; encode_command records anew */
    if (w->pending == 0)
        rk_writer_clear(w);
    else
        compact(w);
    if (w->len + n < n)
        return rk_fail(RK_ENOMEM, "command too large");
    int rc = grow((void **)&w->buf, &w->cap, w->len + n, 1);
    if (rc == RK_OK && r)
        rc = grow((void **)&w->refs, &w->caprefs, w->nrefs + r, sizeof(ref));
    return rc;
}

static inline char *put_header(char *p, char type, size_t n) {
    *p++ = type;
    if (n < 10) {
        *p++ = (char)('0' + n);
    } else if (n < 100) {
        *p++ = (char)('0' + n / 10);
        *p++ = (char)('0' + n % 10);
    } else {
        p += rk_fmt_ull(p, n);
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Bytes of "<type><n>\r\n"; lengths under 100 (most) without a call. */
static inline size_t header_size(size_t n) {
    return 3 + (n < 10 ? 1 : n < 100 ? 2 : rk_digits_ull(n));
}

/* ---- commands ------------------------------------------------------ */

/* The argument source shared by argv, args and format encoders. */
typedef struct args {
    size_t count;
    const rk_str *argv;         /* argv */
    const char *const *strings; /* args: C strings */
    const rk_writer *w;         /* format: spans */
} args;

/* Argument i of a and its length; *may_ref says whether the bytes are the
 * caller's (and so may be referenced rather than copied). */
typedef const char *(*arg_getter)(const args *a, size_t i, size_t *len, bool *may_ref);

/* Copies n bytes: a short argument (a key, a small value) with a few
 * fixed-size moves the compiler inlines, instead of a call to memcpy that
 * costs more than the copy. */
static inline void copy_bytes(char *dst, const char *src, size_t n) {
    if (n > 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) { /* two 8-byte moves, overlapping when n < 16 */
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* Queues "*N" and each argument, copying the short ones and referencing
 * the long ones. The arguments are measured first. Inlined into each
 * encoder with its own getter, so that every get is a direct call the
 * compiler inlines. */
static inline __attribute__((always_inline)) int encode_command(rk_writer *w, const args *a,
                                                                arg_getter get) {
    if (a->count == 0)
        return rk_fail(RK_EINVAL, "a command needs at least one argument");
    size_t bytes = header_size(a->count), nref = 0;
    for (size_t i = 0; i < a->count; i++) {
        size_t len;
        bool may_ref;
        if (get(a, i, &len, &may_ref) == NULL)
            return rk_fail(RK_EINVAL, "command argument %zu is NULL", i);
        if (len > RK_STR_MAX)
            return rk_fail(RK_EINVAL, "command argument %zu is %zu bytes, over RK_STR_MAX", i, len);
        bytes += header_size(len) + 2;
        if (may_ref && len >= w->threshold)
            nref++;
        else
            bytes += len;
    }
    int rc = reserve(w, bytes, nref);
    if (rc != RK_OK)
        return rc;
    last_cmd *last = &w->last;
    last->start = w->len;
    last->nrefs = w->nrefs;
    last->pending = w->pending;
    char *p = put_header(w->buf + w->len, '*', a->count);
    for (size_t i = 0; i < a->count; i++) {
        size_t len;
        bool may_ref;
        const char *s = get(a, i, &len, &may_ref);
        p = put_header(p, '$', len);
        const char *at = p; /* where the argument's bytes are, as queued */
        if (may_ref && len >= w->threshold) {
            w->refs[w->nrefs++] = (ref){.off = (size_t)(p - w->buf), .ptr = s, .len = len};
            at = s;
        } else {
            copy_bytes(p, s, len);
            p += len;
        }
        *p++ = '\r';
        *p++ = '\n';
        if (i < RK_WRITER_WORDS)
            last->word[i] = rk_bin(at, len);
    }
    w->len = (size_t)(p - w->buf);
    w->pending += bytes;
    for (size_t i = w->nrefs - nref; i < w->nrefs; i++)
        w->pending += w->refs[i].len;
    last->nwords = (int)RK_MIN(a->count, (size_t)RK_WRITER_WORDS);
    last->valid = true;
    return RK_OK;
}

RK_HOT bool rk_writer_last_name(const rk_writer *w, unsigned char *first, size_t *len) {
    if (!w->last.valid)
        return false;
    const rk_str *name = &w->last.word[0];
    *first = name->len ? (unsigned char)name->ptr[0] : 0;
    *len = name->len;
    return true;
}

RK_HOT int rk_writer_last_words(const rk_writer *w, rk_str words[RK_WRITER_WORDS]) {
    const last_cmd *last = &w->last;
    if (!last->valid)
        return 0;
    for (int i = 0; i < last->nwords; i++) {
        words[i] = last->word[i];
    }
    return last->nwords;
}

/* Reads the decimal length after a '*' or '$' at *p, and moves *p past
 * its CRLF. The writer wrote it, so it is well formed. */
static size_t header_value(const char **p) {
    const char *q = *p + 1;
    size_t n = 0;
    while (*q != '\r')
        n = n * 10 + (size_t)(*q++ - '0');
    *p = q + 2;
    return n;
}

int rk_writer_last_argv(const rk_writer *w, rk_str *words, int max) {
    const last_cmd *last = &w->last;
    if (!last->valid)
        return 0;
    const char *p = w->buf + last->start;
    size_t count = header_value(&p), r = last->nrefs;
    int n = (int)RK_MIN(count, (size_t)(max > 0 ? max : 0));
    for (int i = 0; i < n; i++) {
        size_t len = header_value(&p), at = (size_t)(p - w->buf);
        if (r < w->nrefs && w->refs[r].off == at) { /* referenced, not copied */
            words[i] = rk_bin(w->refs[r++].ptr, len);
        } else {
            words[i] = rk_bin(p, len);
            p += len;
        }
        p += 2;
    }
    return (int)RK_MIN(count, (size_t)INT_MAX);
}

int rk_writer_unqueue_last(rk_writer *w) {
    last_cmd *last = &w->last;
    if (!last->valid || w->head > last->start)
        return rk_fail(RK_EINVAL, "no command to take back out of the queue");
    w->len = last->start;
    w->nrefs = last->nrefs;
    w->pending = last->pending;
    last->valid = false;
    return RK_OK;
}

static inline const char *get_argv(const args *a, size_t i, size_t *len, bool *may_ref) {
    *may_ref = true;
    *len = a->argv[i].len;
    return a->argv[i].ptr;
}

static inline const char *get_string(const args *a, size_t i, size_t *len, bool *may_ref) {
    const char *s = a->strings[i];
    *may_ref = true;
    *len = s == NULL ? 0 : strlen(s);
    return s;
}

RK_HOT int rk_writer_argv(rk_writer *w, const rk_str *argv, size_t argc) {
    if (argc < 1 || argv == NULL)
        return rk_fail(RK_EINVAL, "rk_writer_argv: a command needs at least one argument");
    args a = {.count = argc, .argv = argv};
    return encode_command(w, &a, get_argv);
}

int rk_writer_vargs(rk_writer *w, const char *arg0, va_list ap) {
    const char *stack[64];
    size_t n = 0, cap = RK_ARRAY_LEN(stack);
    const char **list = stack;
    for (const char *s = arg0; s != NULL; s = va_arg(ap, const char *)) {
        if (n == cap) {
            const char **nl = rk_malloc(2 * cap * sizeof(*nl));
            if (nl == NULL) {
                if (list != stack)
                    rk_free(list);
                return rk_fail(RK_ENOMEM, "out of memory for a command of %zu arguments", n);
            }
            memcpy(nl, list, n * sizeof(*nl));
            if (list != stack)
                rk_free(list);
            list = nl;
            cap *= 2;
        }
        list[n++] = s;
    }
    args a = {.count = n, .strings = list};
    int rc = encode_command(w, &a, get_string);
    if (list != stack)
        rk_free(list);
    return rc;
}

int rk_writer_args(rk_writer *w, const char *arg0, ...) {
    va_list ap;
    va_start(ap, arg0);
    int rc = rk_writer_vargs(w, arg0, ap);
    va_end(ap);
    return rc;
}

/* ---- printf-style commands ------------------------------------------ */

/* How a piece joins an argument: copied (bytes that will not last, as a
 * number formatted on the stack), borrowed (the format's own bytes: taken
 * where they are when they make the whole argument, but never referenced
 * in the queue), or the caller's (%s, %b: may also be referenced). */
enum piece { PIECE_COPY, PIECE_BORROW, PIECE_CALLER };

static int scratch_put(rk_writer *w, const char *s, size_t n) {
    if (w->scratch_cap - w->scratch_len < n) {
        int rc = grow((void **)&w->scratch, &w->scratch_cap, w->scratch_len + n, 1);
        if (rc != RK_OK)
            return rc;
    }
    copy_bytes(w->scratch + w->scratch_len, s, n);
    w->scratch_len += n;
    return RK_OK;
}

static int span_open(rk_writer *w) {
    if (w->nspans == w->capspans) {
        int rc = grow((void **)&w->spans, &w->capspans, w->nspans + 1, sizeof(span));
        if (rc != RK_OK)
            return rc;
    }
    w->spans[w->nspans++] = (span){.off = w->scratch_len};
    return RK_OK;
}

/* span_add's slow path: s joins what the argument already holds, both
 * copied into the scratch area. */
RK_HOT static int __attribute__((noinline))
span_join(rk_writer *w, span *sp, const char *s, size_t n) {
    int rc = RK_OK;
    if (sp->direct) {
        const char *d = sp->direct;
        size_t dl = sp->len;
        *sp = (span){.off = w->scratch_len};
        rc = scratch_put(w, d, dl);
    }
    if (rc == RK_OK)
        rc = scratch_put(w, s, n);
    sp->len = w->scratch_len - sp->off;
    return rc;
}

/* Appends s to the argument being built. A piece that is not copied stays
 * where it is until something else joins it (the common case, inline). */
static inline int span_add(rk_writer *w, const char *s, size_t n, enum piece kind) {
    span *sp = &w->spans[w->nspans - 1];
    if (kind != PIECE_COPY && sp->direct == NULL && sp->len == 0) {
        sp->direct = s;
        sp->len = n;
        sp->may_ref = kind == PIECE_CALLER;
        return RK_OK;
    }
    return span_join(w, sp, s, n);
}

/* The length modifiers of a conversion ("ll" of "%llu"). */
enum length { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J, LEN_BIG_L, LEN_BAD };

static enum length length_of(const char *mod, size_t n) {
    if (n == 0)
        return LEN_NONE;
    if (n == 2 && mod[0] == mod[1])
        return mod[0] == 'h' ? LEN_HH : mod[0] == 'l' ? LEN_LL : LEN_BAD;
    if (n != 1)
        return LEN_BAD;
    switch (mod[0]) {
    case 'h': return LEN_H;
    case 'l': return LEN_L;
    case 'z': return LEN_Z;
    case 't': return LEN_T;
    case 'j': return LEN_J;
    case 'L': return LEN_BIG_L;
    default: return LEN_BAD;
    }
}

static bool is_flag(char c) {
    switch (c) {
    case '#':
    case '0':
    case '-':
    case ' ':
    case '+':
    case '\'':
    case '.': return true;
    default: return c >= '1' && c <= '9';
    }
}

static bool is_length(char c) {
    return c == 'h' || c == 'l' || c == 'z' || c == 'j' || c == 't' || c == 'L';
}

static bool is_float_conv(char c) {
    switch (c) {
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case 'a':
    case 'A': return true;
    default: return false;
    }
}

static bool is_conv(char c) {
    switch (c) {
    case 'd':
    case 'i':
    case 'o':
    case 'u':
    case 'x':
    case 'X':
    case 'c': return true;
    default: return is_float_conv(c);
    }
}

/* A plain %d, %i or %u (any integer length modifier, no flag, width or
 * precision), formatted without snprintf: the common case ("key:%d").
 * The argument is read with the type the modifier names and converted as
 * printf converts it (%hhd prints a signed char). */
static int add_plain_int(rk_writer *w, enum length len, char conv, va_list *ap) {
    char out[24];
    size_t n;
    if (conv == 'u') {
        unsigned long long v;
        switch (len) {
        case LEN_NONE: v = va_arg(*ap, unsigned); break;
        case LEN_HH: v = (unsigned char)va_arg(*ap, unsigned); break;
        case LEN_H: v = (unsigned short)va_arg(*ap, unsigned); break;
        case LEN_L: v = va_arg(*ap, unsigned long); break;
        case LEN_LL: v = va_arg(*ap, unsigned long long); break;
        case LEN_Z: v = va_arg(*ap, size_t); break;
        case LEN_T: v = (size_t)va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, uintmax_t); break; /* LEN_J */
        }
        n = rk_fmt_ull(out, v);
    } else {
        long long v;
        switch (len) {
        case LEN_NONE: v = va_arg(*ap, int); break;
        case LEN_HH: v = (signed char)va_arg(*ap, int); break;
        case LEN_H: v = (short)va_arg(*ap, int); break;
        case LEN_L: v = va_arg(*ap, long); break;
        case LEN_LL: v = va_arg(*ap, long long); break;
        case LEN_Z: v = (ssize_t)va_arg(*ap, size_t); break;
        case LEN_T: v = va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, intmax_t); break; /* LEN_J */
        }
        n = rk_fmt_ll(out, v);
    }
    return span_add(w, out, n, PIECE_COPY);
}

/* The conversion is checked by add_conversion before it gets here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* Formats one numeric conversion (spec is "%...c" with its flags, width
 * and length modifier len) into the current argument, in the C locale:
 * "1.5", never the application's "1,5". */
static int add_number(rk_writer *w, const char *spec, size_t speclen, enum length len,
                      va_list *ap) {
    char fmt[32], out[512];
    if (speclen >= sizeof(fmt))
        return rk_fail(RK_EINVAL, "format conversion too long");
    memcpy(fmt, spec, speclen);
    fmt[speclen] = '\0';
    int n;
    if (is_float_conv(spec[speclen - 1])) {
        if (len == LEN_BIG_L)
            n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, long double));
        else
            n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, double));
    } else if (len == LEN_NONE || len == LEN_H || len == LEN_HH) {
        n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, int));
    } else if (len == LEN_L) {
        n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, long));
    } else if (len == LEN_LL) {
        n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, long long));
    } else if (len == LEN_Z) {
        n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, size_t));
    } else if (len == LEN_T) {
        n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, ptrdiff_t));
    } else if (len == LEN_J) {
        n = rk_snprintf_c(out, sizeof(out), fmt, va_arg(*ap, intmax_t));
    } else {
        return rk_fail(RK_EINVAL, "unsupported length modifier in format conversion %s", fmt);
    }
    if (n < 0 || (size_t)n >= sizeof(out))
        return rk_fail(RK_EINVAL, "format conversion %s produced too much text", fmt);
    return span_add(w, out, (size_t)n, PIECE_COPY);
}
#pragma GCC diagnostic pop

/* Handles the conversion at *f (just after '%'); advances *f past it. */
static int add_conversion(rk_writer *w, const char **f, va_list *ap) {
    const char *start = *f - 1, *p = *f;
    if (*p == '%') {
        *f = p + 1;
        return span_add(w, "%", 1, PIECE_BORROW);
    }
    if (*p == 's') {
        *f = p + 1;
        const char *s = va_arg(*ap, const char *);
        if (s == NULL)
            return rk_fail(RK_EINVAL, "NULL string for %%s in a command format");
        return span_add(w, s, strlen(s), PIECE_CALLER);
    }
    if (*p == 'b') {
        *f = p + 1;
        const char *s = va_arg(*ap, const char *);
        size_t n = va_arg(*ap, size_t);
        if (s == NULL && n > 0)
            return rk_fail(RK_EINVAL, "NULL pointer for %%b in a command format");
        return span_add(w, s ? s : "", n, PIECE_CALLER);
    }
    while (is_flag(*p))
        p++;
    bool plain = p == *f;
    const char *mod = p;
    while (is_length(*p))
        p++;
    if (!is_conv(*p))
        return rk_fail(RK_EINVAL, "unknown conversion '%%%.*s' in a command format",
                       (int)(p - *f + (*p != '\0')), *f);
    enum length len = length_of(mod, (size_t)(p - mod));
    char conv = *p;
    if (is_float_conv(conv) && len != LEN_NONE && len != LEN_L && len != LEN_BIG_L)
        return rk_fail(RK_EINVAL,
                       "length modifier '%.*s' with %%%c in a command format: a "
                       "double takes none (or l), a long double L",
                       (int)(p - mod), mod, conv);
    *f = p + 1;
    if (plain && (conv == 'd' || conv == 'i' || conv == 'u') && len != LEN_BIG_L && len != LEN_BAD)
        return add_plain_int(w, len, conv, ap);
    return add_number(w, start, (size_t)(p + 1 - start), len, ap);
}

static inline const char *get_span(const args *a, size_t i, size_t *len, bool *may_ref) {
    const span *sp = &a->w->spans[i];
    *len = sp->len;
    *may_ref = sp->may_ref;
    return sp->direct ? sp->direct : a->w->scratch + sp->off;
}

/* The bytes that end a word of a format: NUL, space and '%'. */
static const bool word_end[256] = {[0] = true, [' '] = true, ['%'] = true};

RK_HOT int rk_writer_vformat(rk_writer *w, const char *fmt, va_list ap) {
    if (fmt == NULL)
        return rk_fail(RK_EINVAL, "rk_writer_format: NULL format");
    va_list aq;
    va_copy(aq, ap);
    w->scratch_len = 0;
    w->nspans = 0;
    bool in_arg = false;
    int rc = RK_OK;
    for (const char *f = fmt; *f && rc == RK_OK;) {
        if (*f == ' ') {
            in_arg = false;
            f++;
            continue;
        }
        if (!in_arg && (rc = span_open(w)) != RK_OK)
            break;
        in_arg = true;
        if (*f == '%') {
            f++;
            rc = add_conversion(w, &f, &aq);
        } else {
            const char *e = f;
            while (!word_end[(unsigned char)*e])
                e++;
            rc = span_add(w, f, (size_t)(e - f), PIECE_BORROW);
            f = e;
        }
    }
    va_end(aq);
    if (rc != RK_OK)
        return rc;
    args a = {.count = w->nspans, .w = w};
    return encode_command(w, &a, get_span);
}

int rk_writer_format(rk_writer *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_writer_vformat(w, fmt, ap);
    va_end(ap);
    return rc;
}

RK_HOT int rk_writer_raw(rk_writer *w, const void *data, size_t len) {
    int rc = reserve(w, len, 0);
    if (rc != RK_OK)
        return rc;
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    w->pending += len;
    return RK_OK;
}

/* ---- sending ------------------------------------------------------- */

/* Adds the segment [s, s + len) to iov after skipping what remains of
 * *skip; returns false once iov is full. */
static bool add_segment(struct iovec *iov, int max, int *n, const char *s, size_t len,
                        size_t *skip) {
    size_t k = RK_MIN(*skip, len);
    *skip -= k;
    if (len == k)
        return true;
    if (*n == max)
        return false;
    iov[(*n)++] = (struct iovec){.iov_base = (void *)(s + k), .iov_len = len - k};
    return true;
}

RK_HOT int rk_writer_iov_at(const rk_writer *w, size_t offset, struct iovec *iov, int max) {
    if (w->rhead == w->nrefs) { /* only copied bytes, the usual case: one segment */
        size_t left = w->len - w->head;
        if (offset >= left || max < 1)
            return 0;
        iov[0] = (struct iovec){.iov_base = w->buf + w->head + offset, .iov_len = left - offset};
        return 1;
    }
    int n = 0;
    size_t at = w->head, skip = offset;
    for (size_t r = w->rhead; r < w->nrefs; r++) {
        const ref *x = &w->refs[r];
        size_t sent = r == w->rhead ? w->rsent : 0;
        if (!add_segment(iov, max, &n, w->buf + at, x->off - at, &skip) ||
            !add_segment(iov, max, &n, x->ptr + sent, x->len - sent, &skip))
            return n;
        at = x->off;
    }
    add_segment(iov, max, &n, w->buf + at, w->len - at, &skip);
    return n;
}

RK_HOT int rk_writer_iov(const rk_writer *w, struct iovec *iov, int max) {
    return rk_writer_iov_at(w, 0, iov, max);
}

RK_HOT void rk_writer_consume(rk_writer *w, size_t n) {
    n = RK_MIN(n, w->pending);
    w->pending -= n;
    while (n > 0) {
        size_t stop = w->rhead < w->nrefs ? w->refs[w->rhead].off : w->len;
        size_t k = RK_MIN(n, stop - w->head);
        w->head += k;
        n -= k;
        if (n == 0 || w->rhead >= w->nrefs)
            break;
        ref *x = &w->refs[w->rhead];
        k = RK_MIN(n, x->len - w->rsent);
        w->rsent += k;
        n -= k;
        if (w->rsent == x->len) {
            w->rhead++;
            w->rsent = 0;
        }
    }
    if (w->pending == 0)
        rk_writer_clear(w);
}

/* ---- replies --------------------------------------------------------- */

/* How a reply kind goes on the wire for a protocol: its type byte, and
 * whether it is a line ("+OK") or a length-prefixed blob ("$2\r\nOK"). */
typedef struct wire {
    char type;
    bool blob;
    size_t count; /* elements following an aggregate header */
} wire;

static bool has_crlf(const char *s, size_t n) {
    return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

static wire wire_of(const rk_reply *r, int proto) {
    const char *s = rk_str_ptr(r);
    size_t n = r->len_;
    bool v3 = proto == 3;
    switch (r->type_) {
    case RK_REPLY_NIL: return (wire){v3 ? '_' : '$', false, 0};
    case RK_REPLY_STATUS: return has_crlf(s, n) ? (wire){'$', true, 0} : (wire){'+', false, 0};
    case RK_REPLY_ERROR:
        if (!has_crlf(s, n))
            return (wire){'-', false, 0};
        return v3 ? (wire){'!', true, 0} : (wire){'$', true, 0};
    case RK_REPLY_INTEGER: return (wire){':', false, 0};
    case RK_REPLY_STRING: return (wire){'$', true, 0};
    case RK_REPLY_DOUBLE: return v3 ? (wire){',', false, 0} : (wire){'$', true, 0};
    case RK_REPLY_BOOL: return (wire){v3 ? '#' : ':', false, 0};
    case RK_REPLY_BIGNUM: return v3 ? (wire){'(', false, 0} : (wire){'$', true, 0};
    case RK_REPLY_VERBATIM: return v3 ? (wire){'=', true, 0} : (wire){'$', true, 0};
    case RK_REPLY_ARRAY: return (wire){'*', false, r->len_};
    case RK_REPLY_MAP: return (wire){v3 ? '%' : '*', false, v3 ? r->len_ : 2 * r->len_};
    case RK_REPLY_SET: return (wire){v3 ? '~' : '*', false, r->len_};
    case RK_REPLY_PUSH: return (wire){v3 ? '>' : '*', false, r->len_};
    default: return (wire){'|', false, r->len_};
    }
}

/* Bytes of the scalar's payload: the line text, or the blob contents. */
static size_t scalar_bytes(const rk_reply *r, int proto) {
    switch (r->type_) {
    case RK_REPLY_NIL: return proto == 3 ? 0 : 2; /* "-1" */
    case RK_REPLY_INTEGER: {
        char tmp[24];
        return rk_fmt_ll(tmp, r->u_.integer);
    }
    case RK_REPLY_BOOL: return 1;
    case RK_REPLY_VERBATIM: return r->len_ + (proto == 3 ? 4 : 0);
    default: return r->len_;
    }
}

static size_t reply_size(const rk_reply *r, int proto) {
    size_t n = 0;
    if (r->attr_ && proto == 3)
        n += reply_size(r->attr_, proto);
    wire wi = wire_of(r, proto);
    if (rk_is_aggregate(r->type_)) {
        n += header_size(wi.count);
        for (size_t i = 0; i < rk_child_count(r); i++)
            n += reply_size(&r->u_.elem[i], proto);
        return n;
    }
    size_t body = scalar_bytes(r, proto);
    return n + (wi.blob ? header_size(body) : 1) + body + 2;
}

static char *put_reply(char *p, const rk_reply *r, int proto) {
    if (r->attr_ && proto == 3)
        p = put_reply(p, r->attr_, proto);
    wire wi = wire_of(r, proto);
    if (rk_is_aggregate(r->type_)) {
        p = put_header(p, wi.type, wi.count);
        for (size_t i = 0; i < rk_child_count(r); i++)
            p = put_reply(p, &r->u_.elem[i], proto);
        return p;
    }
    if (wi.blob)
        p = put_header(p, wi.type, scalar_bytes(r, proto));
    else
        *p++ = wi.type;
    switch (r->type_) {
    case RK_REPLY_NIL:
        if (proto != 3)
            *p++ = '-', *p++ = '1';
        break;
    case RK_REPLY_INTEGER: p += rk_fmt_ll(p, r->u_.integer); break;
    case RK_REPLY_BOOL:
        *p++ = proto == 3 ? (r->u_.integer ? 't' : 'f') : (r->u_.integer ? '1' : '0');
        break;
    case RK_REPLY_VERBATIM:
        if (proto == 3) {
            memcpy(p, r->format_, 3);
            p[3] = ':';
            p += 4;
        }
        /* fall through */
    default: memcpy(p, rk_str_ptr(r), r->len_); p += r->len_;
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

int rk_writer_reply(rk_writer *w, const rk_reply *r, int protocol) {
    if (r == NULL || (protocol != 2 && protocol != 3))
        return rk_fail(RK_EINVAL, "rk_writer_reply: needs a reply and protocol 2 or 3");
    size_t n = reply_size(r, protocol);
    int rc = reserve(w, n, 0);
    if (rc != RK_OK)
        return rc;
    put_reply(w->buf + w->len, r, protocol);
    w->len += n;
    w->pending += n;
    return RK_OK;
}
