/* rk_reply_format: a reply as text, byte for byte as redis-cli 7.0 prints it.
 *
 * Two modes, as redis-cli's: the terminal form (what `redis-cli --no-raw`
 * prints: "(integer) 1", quoted strings, numbered and indented aggregates)
 * and the raw form (`redis-cli --raw`: bare values, one a line). Where
 * redis-cli 7.0 prints nothing (it rejects big numbers, blob errors, nan
 * and attributes), the choice made here is written next to the code. */
#include <stdint.h>
#include <string.h>

#include "rediskit/reply.h"
#include "resp/resp_int.h"
#include "util/common.h"

/* A growing output buffer. After a failed allocation it stops growing and
 * remembers the failure, so the formatters need not check every append. */
typedef struct outbuf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} outbuf;

/* Makes room for n more bytes plus a NUL; 0 on success. */
static int out_reserve(outbuf *o, size_t n) {
    if (o->failed)
        return -1;
    if (n < o->cap - o->len)
        return 0;
    size_t cap = o->cap ? o->cap : 64;
    while (cap - o->len <= n) {
        if (cap > SIZE_MAX / 2) {
            o->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *data = rk_realloc(o->data, cap);
    if (data == NULL) {
        o->failed = 1;
        return -1;
    }
    o->data = data;
    o->cap = cap;
    return 0;
}

static void out_put(outbuf *o, const void *s, size_t n) {
    if (n == 0 || out_reserve(o, n) != 0)
        return;
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

static void out_str(outbuf *o, const char *s) {
    out_put(o, s, strlen(s));
}

static void out_spaces(outbuf *o, size_t n) {
    if (n == 0 || out_reserve(o, n) != 0)
        return;
    memset(o->data + o->len, ' ', n);
    o->len += n;
}

static void out_ll(outbuf *o, long long v) {
    char digits[24];
    out_put(o, digits, rk_fmt_ll(digits, v));
}

/* v right-aligned in a field of width bytes, as printf's "%*llu". */
static void out_ull_width(outbuf *o, unsigned long long v, size_t width) {
    char digits[24];
    size_t n = rk_fmt_ull(digits, v);
    out_spaces(o, width > n ? width - n : 0);
    out_put(o, digits, n);
}

/* A string as redis-cli quotes it (sdscatrepr): in double quotes, with
 * \\ \" \n \r \t \a \b escaped, other printable ASCII as is, and every
 * other byte as \xNN. redis-cli never sets a locale, so "printable" is the
 * C locale's (0x20-0x7e). */
static void out_quoted(outbuf *o, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    out_put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[4] = {'\\', 0, 0, 0};
        switch (c) {
        case '\\':
        case '"':
            esc[1] = (char)c;
            out_put(o, esc, 2);
            break;
        case '\n': out_put(o, "\\n", 2); break;
        case '\r': out_put(o, "\\r", 2); break;
        case '\t': out_put(o, "\\t", 2); break;
        case '\a': out_put(o, "\\a", 2); break;
        case '\b': out_put(o, "\\b", 2); break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                out_put(o, &s[i], 1);
                break;
            }
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            out_put(o, esc, 4);
        }
    }
    out_put(o, "\"", 1);
}

static int is_map_kind(rk_type t) {
    return t == RK_REPLY_MAP || t == RK_REPLY_ATTR;
}

static int is_list_kind(rk_type t) {
    return t == RK_REPLY_ARRAY || t == RK_REPLY_SET || t == RK_REPLY_PUSH;
}

/* ---- Terminal form ------------------------------------------------------ */

static void format_tty(outbuf *o, const rk_reply *r, size_t indent);

/* Whether the terminal form of r takes more than one line, as redis-cli
 * decides it to put a map's value under its key rather than beside it. */
static int tty_multiline(const rk_reply *r) {
    rk_type t = rk_reply_type(r);
    size_t n = rk_reply_len(r);
    if (is_list_kind(t))
        return n == 0 ? 0 : n > 1 ? 1 : tty_multiline(rk_reply_at(r, 0));
    if (is_map_kind(t))
        return n == 0 ? 0 : n > 1 ? 1 : tty_multiline(rk_reply_map_value(r, 0));
    return 0;
}

static const char *tty_empty(rk_type t) {
    switch (t) {
    case RK_REPLY_ARRAY: return "(empty array)\n";
    case RK_REPLY_SET: return "(empty set)\n";
    case RK_REPLY_PUSH: return "(empty push)\n";
    default: return "(empty hash)\n";
    }
}

/* Index marks: "1)" for arrays and pushes, "1~" for sets, "1#" for maps. */
static char tty_mark(rk_type t) {
    if (t == RK_REPLY_SET)
        return '~';
    return is_map_kind(t) ? '#' : ')';
}

/* One map entry after its index: the key, " => ", then the value beside it,
 * or on the next line when the value spans lines. The key's newline goes,
 * as redis-cli removes the last byte written before " => ". */
static void tty_map_entry(outbuf *o, const rk_reply *r, size_t i, size_t indent) {
    format_tty(o, rk_reply_map_key(r, i), indent);
    if (!o->failed && o->len > 0)
        o->len--;
    out_str(o, " => ");
    const rk_reply *value = rk_reply_map_value(r, i);
    if (tty_multiline(value)) {
        out_put(o, "\n", 1);
        out_spaces(o, indent);
    }
    format_tty(o, value, indent);
}

/* An aggregate: numbered entries, indices right-aligned to the width of
 * the largest. Each entry but the first starts at column `indent` (the
 * caller wrote what precedes the first); the further lines of an element
 * start at indent + width + 2. */
static void tty_aggregate(outbuf *o, const rk_reply *r, size_t indent) {
    rk_type t = rk_reply_type(r);
    size_t n = rk_reply_len(r);
    if (n == 0) {
        out_str(o, tty_empty(t));
        return;
    }
    size_t width = rk_digits_ull(n);
    size_t inner = indent + width + 2;
    char mark[2] = {tty_mark(t), ' '};
    for (size_t i = 0; i < n && !o->failed; i++) {
        out_spaces(o, i == 0 ? 0 : indent);
        out_ull_width(o, (unsigned long long)i + 1, width);
        out_put(o, mark, 2);
        if (is_map_kind(t))
            tty_map_entry(o, r, i, inner);
        else
            format_tty(o, rk_reply_at(r, i), inner);
    }
}

/* Text up to the first NUL and a newline: redis-cli prints statuses,
 * errors and doubles with "%s", so a NUL byte ends them there. */
static void tty_line(outbuf *o, const char *label, const rk_reply *r) {
    out_str(o, label);
    out_str(o, rk_reply_str(r));
    out_put(o, "\n", 1);
}

static void format_tty(outbuf *o, const rk_reply *r, size_t indent) {
    rk_type t = rk_reply_type(r);
    switch (t) {
    case RK_REPLY_STATUS: tty_line(o, "", r); break;
    case RK_REPLY_ERROR: tty_line(o, "(error) ", r); break;
    case RK_REPLY_DOUBLE: tty_line(o, "(double) ", r); break;
    /* redis-cli 7.0 exits with "Unknown reply type" on a big number; this
     * prints it as it prints a double. */
    case RK_REPLY_BIGNUM: tty_line(o, "(big number) ", r); break;
    case RK_REPLY_INTEGER:
        out_str(o, "(integer) ");
        out_ll(o, rk_reply_int(r));
        out_put(o, "\n", 1);
        break;
    case RK_REPLY_STRING:
        out_quoted(o, rk_reply_str(r), rk_reply_len(r));
        out_put(o, "\n", 1);
        break;
    case RK_REPLY_VERBATIM:
        out_put(o, rk_reply_str(r), rk_reply_len(r));
        out_put(o, "\n", 1);
        break;
    case RK_REPLY_BOOL: out_str(o, rk_reply_int(r) ? "(true)\n" : "(false)\n"); break;
    case RK_REPLY_ARRAY:
    case RK_REPLY_SET:
    case RK_REPLY_PUSH:
    case RK_REPLY_MAP:
    case RK_REPLY_ATTR: tty_aggregate(o, r, indent); break;
    case RK_REPLY_NIL:
    default: out_str(o, "(nil)\n"); break;
    }
}

/* ---- Raw form ----------------------------------------------------------- */

static void format_raw(outbuf *o, const rk_reply *r);

/* Elements one a line; a map's pairs as "key value", one a line. */
static void raw_aggregate(outbuf *o, const rk_reply *r) {
    int map = is_map_kind(rk_reply_type(r));
    size_t n = rk_reply_len(r);
    for (size_t i = 0; i < n && !o->failed; i++) {
        if (i > 0)
            out_put(o, "\n", 1);
        if (!map) {
            format_raw(o, rk_reply_at(r, i));
            continue;
        }
        format_raw(o, rk_reply_map_key(r, i));
        out_put(o, " ", 1);
        format_raw(o, rk_reply_map_value(r, i));
    }
}

/* Errors alone carry their own newline in redis-cli's raw form. Every
 * string kind is written whole, NUL bytes included. */
static void format_raw(outbuf *o, const rk_reply *r) {
    switch (rk_reply_type(r)) {
    case RK_REPLY_ERROR:
        out_put(o, rk_reply_str(r), rk_reply_len(r));
        out_put(o, "\n", 1);
        break;
    case RK_REPLY_STATUS:
    case RK_REPLY_STRING:
    case RK_REPLY_VERBATIM:
    case RK_REPLY_DOUBLE:
    case RK_REPLY_BIGNUM: out_put(o, rk_reply_str(r), rk_reply_len(r)); break;
    case RK_REPLY_INTEGER: out_ll(o, rk_reply_int(r)); break;
    case RK_REPLY_BOOL: out_str(o, rk_reply_int(r) ? "(true)" : "(false)"); break;
    case RK_REPLY_ARRAY:
    case RK_REPLY_SET:
    case RK_REPLY_PUSH:
    case RK_REPLY_MAP:
    case RK_REPLY_ATTR: raw_aggregate(o, r); break;
    case RK_REPLY_NIL:
    default: break;
    }
}

/* Attributes are not shown: redis-cli 7.0 cannot read them (a protocol
 * error), and RESP3 lets a client that does not use them skip them. An
 * ATTR reply passed here itself is shown as a map. */
char *rk_reply_format(const rk_reply *reply, unsigned flags, size_t *len) {
    outbuf o = {0};
    if (flags & RK_FORMAT_RAW) {
        format_raw(&o, reply);
        out_put(&o, "\n", 1);
    } else {
        format_tty(&o, reply, 0);
    }
    if (out_reserve(&o, 0) != 0) {
        rk_free(o.data);
        if (len)
            *len = 0;
        rk_fail(RK_ENOMEM, "out of memory formatting a reply");
        return NULL;
    }
    o.data[o.len] = '\0';
    if (len)
        *len = o.len;
    return o.data;
}
