/* The RESP2/RESP3 reader: bytes in, complete replies out, no I/O.
 *
 * A reply is handled in two passes over the buffered bytes. The scan pass
 * (scan_reply) walks tokens as they arrive, checks every one, and counts the
 * nodes and string bytes the reply will need; it keeps its state between
 * calls, so a reply split anywhere costs no rescanning. When the scan reaches
 * the end of the reply, the build pass (build_reply) walks the same, now
 * known-good bytes once more and fills one block of exactly the counted
 * size. Scalars at the top level skip both and are parsed directly.
 *
 * A top-level bulk string too large to wait for in the buffer is received
 * straight into its own final block ("direct" mode), so its bytes are copied
 * once, or never when the caller reads through rk_reader_space.
 *
 * Memory: what a reply will cost (its buffered bytes, the tape, the nodes
 * and strings of the built reply) is counted as the scan goes, nodes as
 * soon as an aggregate announces them, and checked against max_memory
 * before anything is allocated past it (see check_memory). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rediskit/reader.h"
#include "resp/reply_int.h"
#include "resp/resp_int.h"
#include "util/common.h"

#define INITIAL_BUFFER (16u * 1024)
#define MAX_DEPTH_LIMIT 4096u
/* The smallest max_memory: a one-line reply of up to SIMPLE_LINE bytes,
 * taken without the scan, never costs more. */
#define MIN_MEMORY 4096u
#define SIMPLE_LINE 1024
/* Tokens the tape holds before it first grows. */
#define INITIAL_TAPE 64
/* A top-level bulk at least this large, not yet complete, goes direct. */
#define DIRECT_THRESHOLD (64u * 1024)
/* A direct block starts at most this large and doubles as bytes arrive, so
 * a header that announces a huge bulk costs memory only as fast as its
 * bytes come; replies up to this size are received with no regrowth. */
#define DIRECT_FIRST_BLOCK (4u * 1024 * 1024)
/* Scratch memory a large reply grew is kept while the reads of the last
 * window of TRIM_WINDOW times the buffer emptied needed it, and given back
 * down to what they did need at the end of the first window that needed
 * less (so after TRIM_WINDOW to twice that). The read buffer and the
 * borrowed-reply areas are never trimmed below TRIM_KEEP bytes (an unused
 * borrowed-reply area is freed), the tape never below TRIM_KEEP_TOKENS, so
 * steady traffic of ordinary replies never reallocates. */
#define TRIM_WINDOW 32
#define TRIM_KEEP (64u * 1024)
#define TRIM_KEEP_TOKENS 2048
/* A length or count line longer than this cannot be valid. */
#define MAX_NUMBER_LINE 21
/* A double's text longer than this is refused (see rk_parse_double). */
#define MAX_DOUBLE_LINE 352

/* One accepted token of the reply being read. The scan pass writes them,
 * the build pass reads them, so no byte is parsed twice. */
typedef struct token {
    char wire;     /* the type byte (';' for a streamed string's chunk) */
    uint8_t flags; /* TOK_* */
    size_t pos;    /* strings: where the data starts, from the reply start */
    uint64_t val;  /* strings: length; ':' '#': value; aggregates: count
                      (children once known when streamed) */
} token;

enum { TOK_NIL = 1, TOK_STREAMED = 2 };

/* An aggregate being scanned or built. */
typedef struct frame {
    uint8_t type;   /* RK_REPLY_ARRAY, _MAP, _SET, _PUSH or _ATTR */
    bool streamed;  /* "*?" form, ended by "." */
    uint64_t count; /* scan: children still to come, or seen (streamed) */
    size_t slot;    /* scan: its header's index on the tape */
    rk_reply *node; /* build: the aggregate's node */
    size_t next;    /* build: index of the next child to fill */
} frame;

struct rk_reader {
    rk_reader_opts lim;

    char *buf; /* bytes [rpos, wpos) are buffered input */
    size_t cap;
    size_t rpos; /* start of the reply being scanned */
    size_t wpos;
    size_t spos;   /* scan position, rpos <= spos <= wpos */
    size_t crscan; /* where the search for the current line's CR resumes */
    uint64_t base; /* stream offset of buf[0], for error messages */

    /* Scan state of the reply in [rpos, spos). */
    bool attr_pending;  /* an attribute ended; its reply comes next */
    bool in_stream_str; /* inside "$?" chunks */
    size_t stream_slot; /* tape index of that string's header */
    uint64_t stream_len;
    unsigned depth;
    frame *stack;       /* lim.max_depth frames */
    size_t nodes;       /* nodes below the top-level reply */
    size_t strbytes;    /* string storage for an owned reply */
    size_t streambytes; /* storage for streamed strings (borrowed) */
    token *tape;        /* accepted tokens, for the build pass */
    size_t ntape, captape;
    size_t tape_need;  /* the tape a new reader would have grown to for
                          this reply; captape may be larger from before */
    size_t tape_bytes; /* what this reply's tape counts in its cost: 0
                          while it fits the tape every reader starts with */

    /* Direct mode: a large top-level bulk received into its own block. */
    char *direct;
    size_t direct_len; /* payload bytes expected */
    size_t direct_got; /* bytes received, CRLF included */
    size_t direct_cap; /* bytes the block holds now; grows up to len + 2 */
    size_t direct_hdr; /* bytes of its "$<len>\r\n" header */
    bool space_direct; /* the last rk_reader_space pointed into it */

    /* Storage lent to the last borrowed reply. */
    rk_reply *bnodes;
    size_t bnodes_cap;
    char *bstr;
    size_t bstr_cap;
    char *lent_block;

    /* The most each scratch area needed since the last trim (see trim). */
    size_t peak_buf, peak_tape, peak_bnodes, peak_bstr;
    unsigned empties; /* times the buffer emptied since the last trim */

    int failed; /* sticky RK_EPROTO / RK_ENOMEM once set */
    char failmsg[200];
};

/* ---- errors ---------------------------------------------------------- */

static int fail(rk_reader *rd, int code, const char *fmt, ...) RK_PRINTF(3, 4);

static int fail(rk_reader *rd, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rd->failmsg, sizeof(rd->failmsg), fmt, ap);
    va_end(ap);
    rd->failed = code;
    return rk_fail(code, "%s", rd->failmsg);
}

static int proto(rk_reader *rd, size_t at, const char *what) {
    unsigned char c = at < rd->wpos ? (unsigned char)rd->buf[at] : 0;
    return fail(rd, RK_EPROTO, "protocol error: %s at offset %llu (byte 0x%02x)", what,
                (unsigned long long)(rd->base + at), c);
}

/* A reply needs more than max_buffer bytes of buffer (a top-level bulk
 * received into its own block does not count: max_bulk bounds it). */
static int over_max_buffer(rk_reader *rd) {
    return fail(rd, RK_EPROTO,
                "protocol error: reply larger than the max_buffer limit of %zu bytes",
                rd->lim.max_buffer);
}

/* Whether the reply being read is one plain bulk string, so far: max_bulk
 * bounds those, not max_memory (they cost their length, and are received
 * into their own block when large). */
static bool one_bulk(const rk_reader *rd) {
    if (rd->buf[rd->rpos] != '$')
        return false;
    return rd->ntape == 0 || (rd->ntape == 1 && !(rd->tape[0].flags & TOK_STREAMED));
}

/* The memory the reply being scanned costs (max_memory in reader.h) with
 * wire bytes of it buffered and tape bytes of tape, plus extra bytes. */
static uint64_t reply_cost(const rk_reader *rd, size_t wire, size_t tape, size_t extra) {
    return (uint64_t)wire + tape + (uint64_t)rd->nodes * sizeof(rk_reply) + rd->strbytes + extra;
}

static int over_max_memory(rk_reader *rd) {
    return fail(rd, RK_EPROTO,
                "protocol error: reply needs more memory than the max_memory limit of %zu bytes "
                "(%zu elements so far)",
                rd->lim.max_memory, rd->nodes);
}

/* Checks max_memory for the reply being scanned, wire bytes of it
 * buffered. Called where the cost jumps (an aggregate's header, a bulk
 * awaited), before anything is allocated for it (the tape grows, more
 * bytes are buffered, the reply is built), not for every token: what the
 * tokens between two checks add is counted, not yet allocated. */
static int check_memory(rk_reader *rd, size_t wire) {
    if (reply_cost(rd, wire, rd->tape_bytes, 0) > rd->lim.max_memory && !one_bulk(rd))
        return over_max_memory(rd);
    return RK_OK;
}

static int refuse_if_failed(const rk_reader *rd) {
    if (rd->failed)
        return rk_fail(rd->failed, "reader failed earlier: %s", rd->failmsg);
    return RK_OK;
}

/* ---- life cycle ------------------------------------------------------ */

rk_reader *(rk_reader_new)(const rk_reader_opts *opts, size_t opts_size) {
    rk_reader_opts lim;
    if (rk_opts_settle(&lim, sizeof(lim), opts, opts_size, "rk_reader_opts") != RK_OK)
        return NULL;
    if (lim.max_bulk == 0)
        lim.max_bulk = RK_READER_MAX_BULK;
    if (lim.max_elements == 0)
        lim.max_elements = RK_READER_MAX_ELEMENTS;
    if (lim.max_depth == 0)
        lim.max_depth = RK_READER_MAX_DEPTH;
    if (lim.max_buffer == 0)
        lim.max_buffer = RK_READER_MAX_BUFFER;
    if (lim.max_memory == 0)
        lim.max_memory = RK_READER_MAX_MEMORY;
    if (lim.max_depth > MAX_DEPTH_LIMIT) {
        rk_fail(RK_EINVAL, "rk_reader_new: max_depth %u is over %u", lim.max_depth,
                MAX_DEPTH_LIMIT);
        return NULL;
    }
    if (lim.max_memory < MIN_MEMORY) { /* so every reply take_simple takes fits */
        rk_fail(RK_EINVAL, "rk_reader_new: max_memory %zu is under %u", lim.max_memory, MIN_MEMORY);
        return NULL;
    }
    rk_reader *rd = rk_calloc(1, sizeof(*rd));
    frame *stack = rk_calloc(lim.max_depth, sizeof(frame));
    token *tape = rk_malloc(INITIAL_TAPE * sizeof(token));
    if (rd == NULL || stack == NULL || tape == NULL) {
        rk_free(rd);
        rk_free(stack);
        rk_free(tape);
        rk_fail(RK_ENOMEM, "out of memory creating a reader");
        return NULL;
    }
    rd->lim = lim;
    rd->stack = stack;
    rd->tape = tape;
    rd->captape = rd->tape_need = INITIAL_TAPE;
    return rd;
}

void rk_reader_free(rk_reader *rd) {
    if (rd == NULL)
        return;
    rk_free(rd->buf);
    rk_free(rd->stack);
    rk_free(rd->tape);
    rk_free(rd->direct);
    rk_free(rd->bnodes);
    rk_free(rd->bstr);
    rk_free(rd->lent_block);
    rk_free(rd);
}

static void reset_scan(rk_reader *rd) {
    rd->attr_pending = false;
    rd->in_stream_str = false;
    rd->stream_len = 0;
    rd->depth = 0;
    rd->nodes = 0;
    rd->strbytes = 0;
    rd->streambytes = 0;
    rd->ntape = 0;
    rd->tape_need = INITIAL_TAPE;
    rd->tape_bytes = 0;
}

void rk_reader_reset(rk_reader *rd) {
    reset_scan(rd);
    rk_free(rd->direct);
    rd->direct = NULL;
    rk_free(rd->lent_block);
    rd->lent_block = NULL;
    rd->base += rd->wpos;
    rd->rpos = rd->wpos = rd->spos = rd->crscan = 0;
    rd->direct_len = rd->direct_got = rd->direct_cap = 0;
    rd->failed = 0;
    rd->failmsg[0] = '\0';
}

RK_HOT size_t rk_reader_buffered(const rk_reader *rd) {
    size_t n = rd->wpos - rd->rpos;
    if (rd->direct)
        n += rd->direct_hdr + rd->direct_got;
    return n;
}

/* Called at the start of every call that may invalidate borrowed replies. */
static void end_loan(rk_reader *rd) {
    if (rd->lent_block) {
        rk_free(rd->lent_block);
        rd->lent_block = NULL;
    }
}

/* ---- feeding ------------------------------------------------------- */

/* Moves the unread bytes to the front of the buffer. */
static void compact(rk_reader *rd) {
    size_t used = rd->wpos - rd->rpos;
    if (rd->rpos == 0)
        return;
    memmove(rd->buf, rd->buf + rd->rpos, used);
    rd->base += rd->rpos;
    rd->spos -= rd->rpos;
    rd->crscan -= RK_MIN(rd->crscan, rd->rpos);
    rd->wpos = used;
    rd->rpos = 0;
}

/* Makes room for want more bytes after wpos, compacting first when that
 * frees enough, growing the buffer otherwise. */
RK_HOT static int reserve(rk_reader *rd, size_t want) {
    if (rd->cap - rd->wpos >= want)
        return RK_OK;
    size_t used = rd->wpos - rd->rpos;
    compact(rd);
    if (rd->cap - used >= want)
        return RK_OK;
    if (used + want < used || used + want > SIZE_MAX / 2)
        return fail(rd, RK_ENOMEM, "read buffer of %zu + %zu bytes is too large", used, want);
    size_t cap = rd->cap ? rd->cap : INITIAL_BUFFER;
    while (cap < used + want)
        cap *= 2;
    char *nb = rk_realloc(rd->buf, cap);
    if (nb == NULL)
        return fail(rd, RK_ENOMEM, "out of memory growing the read buffer to %zu bytes", cap);
    rd->buf = nb;
    rd->cap = cap;
    return RK_OK;
}

static bool direct_open(const rk_reader *rd) {
    return rd->direct && rd->direct_got < rd->direct_len + 2;
}

/* Room for more of the direct bulk: doubles the block when it is full,
 * never past the bulk's own length (+ CRLF). */
static int direct_room(rk_reader *rd) {
    if (rd->direct_got < rd->direct_cap)
        return RK_OK;
    size_t cap = RK_MIN(rd->direct_cap * 2, rd->direct_len + 2);
    char *nb = rk_realloc(rd->direct, cap);
    if (nb == NULL)
        return fail(rd, RK_ENOMEM, "out of memory growing a %zu byte reply to %zu bytes",
                    rd->direct_len, cap);
    rd->direct = nb;
    rd->direct_cap = cap;
    return RK_OK;
}

/* The smallest power of two times unit that holds need, at least unit. */
static size_t fit_pow2(size_t need, size_t unit) {
    size_t n = unit;
    while (n < need)
        n *= 2;
    return n;
}

/* Shrinks *area to keep bytes, but not under TRIM_KEEP, or frees it when
 * keep is 0 (the window did not use it). A refused realloc leaves it as it
 * was: trimming is never an error. */
static void trim_area(void **area, size_t *cap, size_t keep) {
    if (keep != 0)
        keep = RK_MAX(keep, (size_t)TRIM_KEEP);
    if (*cap <= TRIM_KEEP || keep >= *cap)
        return;
    if (keep == 0) {
        rk_free(*area);
        *area = NULL;
        *cap = 0;
        return;
    }
    void *na = rk_realloc(*area, keep);
    if (na != NULL) {
        *area = na;
        *cap = keep;
    }
}

/* Called when the buffer has just emptied (no reply in progress, nothing
 * lent out): every TRIM_WINDOW times, gives back what the areas grew past
 * the most the window needed, so one large reply does not pin its memory
 * for the life of the connection, while replies that keep coming large
 * keep theirs. */
static void trim(rk_reader *rd) {
    if (++rd->empties < TRIM_WINDOW)
        return;
    trim_area((void **)&rd->buf, &rd->cap, fit_pow2(rd->peak_buf, TRIM_KEEP));
    if (rd->ntape == 0 && rd->captape > TRIM_KEEP_TOKENS) {
        size_t keep = RK_MAX(rd->peak_tape, (size_t)TRIM_KEEP_TOKENS);
        token *nt = keep < rd->captape ? rk_realloc(rd->tape, keep * sizeof(token)) : NULL;
        if (nt != NULL) {
            rd->tape = nt;
            rd->captape = keep;
        }
    }
    trim_area((void **)&rd->bnodes, &rd->bnodes_cap, rd->peak_bnodes);
    trim_area((void **)&rd->bstr, &rd->bstr_cap, rd->peak_bstr);
    rd->empties = 0;
    rd->peak_buf = rd->peak_tape = rd->peak_bnodes = rd->peak_bstr = 0;
}

RK_HOT void *rk_reader_space(rk_reader *rd, size_t want, size_t *avail) {
    if (refuse_if_failed(rd) != RK_OK)
        return NULL;
    end_loan(rd);
    rd->space_direct = direct_open(rd);
    if (rd->space_direct) {
        if (direct_room(rd) != RK_OK)
            return NULL;
        *avail = rd->direct_cap - rd->direct_got;
        return rd->direct + rd->direct_got;
    }
    if (rd->rpos == rd->wpos) { /* nothing unread: start over at the front */
        rd->base += rd->wpos;
        rd->rpos = rd->wpos = rd->spos = rd->crscan = 0;
        trim(rd);
    }
    rd->peak_buf = RK_MAX(rd->peak_buf, rd->wpos - rd->rpos + want);
    /* Ask for a good amount so that one read can take a lot. */
    if (reserve(rd, RK_MAX(RK_MAX(want, 1), rd->cap ? 1 : INITIAL_BUFFER)) != RK_OK)
        return NULL;
    *avail = rd->cap - rd->wpos;
    return rd->buf + rd->wpos;
}

RK_HOT int rk_reader_commit(rk_reader *rd, size_t n) {
    int rc = refuse_if_failed(rd);
    if (rc != RK_OK)
        return rc;
    if (rd->space_direct) {
        if (n > rd->direct_cap - rd->direct_got)
            return rk_fail(RK_EINVAL, "rk_reader_commit: more bytes than the space given");
        rd->direct_got += n;
        return RK_OK;
    }
    if (n > rd->cap - rd->wpos)
        return rk_fail(RK_EINVAL, "rk_reader_commit: more bytes than the space given");
    rd->wpos += n;
    return RK_OK;
}

int rk_reader_feed(rk_reader *rd, const void *data, size_t len) {
    const char *p = data;
    int rc = refuse_if_failed(rd);
    while (rc == RK_OK && len > 0) {
        size_t avail;
        char *dst = rk_reader_space(rd, len, &avail);
        if (dst == NULL)
            return rk_error_last()->code;
        size_t n = RK_MIN(avail, len);
        memcpy(dst, p, n);
        rc = rk_reader_commit(rd, n);
        p += n;
        len -= n;
    }
    return rc;
}

/* ---- tokens -------------------------------------------------------- */

/* Lines are short (a length, an integer, OK): their end is looked for 8
 * bytes at a time, one load and a few operations, rather than a byte at a
 * time or a call to memchr that costs more than the search. A byte equal
 * to c is a zero byte of x ^ c, which the borrow trick flags; the lowest
 * flag is exact (only bytes after a true match may be flagged falsely),
 * so the first match in load order is found. */
static inline uint64_t flags_of(uint64_t x, unsigned char c) {
    const uint64_t ones = 0x0101010101010101u;
    uint64_t v = x ^ (ones * c);
    return (v - ones) & ~v & (ones << 7);
}

/* The index of the first byte of the 8 at s that is c, or also d when
 * both (d equal to c: only c), 8 when none is. */
static inline size_t first_in_8(const char *s, unsigned char c, unsigned char d) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, s, 8);
    uint64_t z = flags_of(x, c) | flags_of(x, d);
    return z ? (size_t)__builtin_ctzll(z) / 8 : 8;
#else
    for (size_t i = 0; i < 8; i++)
        if ((unsigned char)s[i] == c || (unsigned char)s[i] == d)
            return i;
    return 8;
#endif
}

/* The longest line a type can have before its CR, type byte included:
 * lengths and integers fit in 21 bytes, a double's text in the parser's
 * buffer; strings, errors and big numbers are bounded by max_buffer only. */
static size_t max_line(char type) {
    switch (type) {
    case '+':
    case '-':
    case '(': return SIZE_MAX;
    case ',': return MAX_DOUBLE_LINE;
    default: return MAX_NUMBER_LINE;
    }
}

/* Finds the CR that ends the line whose type byte is at p. Returns its
 * index, 0 when more bytes are needed (a CR is never at index 0 of a line),
 * or SIZE_MAX after recording a protocol error. */
static size_t line_end(rk_reader *rd, size_t p) {
    size_t from = RK_MAX(p + 1, rd->crscan);
    const char *cr = NULL;
    size_t rest = from;
    /* A number's line, or a double's, fits in 24 bytes; memchr after. */
    for (int i = 0; i < 3 && cr == NULL && rest + 8 <= rd->wpos; i++, rest += 8) {
        size_t k = first_in_8(rd->buf + rest, '\r', '\r');
        cr = k < 8 ? rd->buf + rest + k : NULL;
    }
    if (cr == NULL && rest < rd->wpos)
        cr = memchr(rd->buf + rest, '\r', rd->wpos - rest);
    if (cr == NULL) {
        if (memchr(rd->buf + from, '\n', rd->wpos - from) != NULL) {
            proto(rd, p, "line ended by LF without CR");
            return SIZE_MAX;
        }
        rd->crscan = rd->wpos;
        if (rd->wpos - p > max_line(rd->buf[p])) {
            proto(rd, p, "length or number line too long");
            return SIZE_MAX;
        }
        return 0;
    }
    size_t at = (size_t)(cr - rd->buf);
    if (at + 1 >= rd->wpos) {
        rd->crscan = at;
        return 0;
    }
    if (rd->buf[at + 1] != '\n') {
        proto(rd, at + 1, "expected LF after CR");
        return SIZE_MAX;
    }
    return at;
}

/* The length on a bulk or aggregate header line: >= 0, -1 for null, -2
 * for "?" (streamed). Returns RK_OK or a recorded error. */
static int parse_length(rk_reader *rd, size_t p, size_t cr, long long *out) {
    const char *s = rd->buf + p + 1;
    size_t n = cr - (p + 1);
    if (n == 1 && s[0] == '?') {
        *out = -2;
        return RK_OK;
    }
    if (rk_parse_ll(s, n, out) != 0)
        return proto(rd, p + 1, "invalid length");
    if (*out < -1)
        return proto(rd, p + 1, "negative length");
    return RK_OK;
}

static bool is_bignum(const char *s, size_t n) {
    size_t i = (n > 0 && s[0] == '-') ? 1 : 0;
    if (i == n)
        return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Checks a line-only scalar (between the type byte at p and the CR). */
static int check_line_scalar(rk_reader *rd, size_t p, size_t cr) {
    const char *s = rd->buf + p + 1;
    size_t n = cr - (p + 1);
    long long ll;
    double d;
    switch (rd->buf[p]) {
    case '+':
    case '-': return memchr(s, '\n', n) ? proto(rd, p + 1, "LF inside a simple string") : RK_OK;
    case ':': return rk_parse_ll(s, n, &ll) == 0 ? RK_OK : proto(rd, p + 1, "invalid integer");
    case ',': /* as long as line_end allows before the CR, whatever the split */
        if (n < MAX_DOUBLE_LINE && (rk_double_line_ok(s, n) || rk_parse_double(s, n, &d) == 0))
            return RK_OK;
        return proto(rd, p + 1, "invalid double");
    case '#':
        if (n == 1 && (s[0] == 't' || s[0] == 'f'))
            return RK_OK;
        return proto(rd, p + 1, "invalid boolean");
    case '_': return n == 0 ? RK_OK : proto(rd, p + 1, "invalid null");
    case '(': return is_bignum(s, n) ? RK_OK : proto(rd, p + 1, "invalid big number");
    default: return proto(rd, p, "unknown type byte");
    }
}

/* Each type byte's reply type (WIRE_TYPE bits) and how the scan pass
 * reads it: WIRE_KNOWN for every byte that starts a reply (0 for the
 * others), WIRE_BULK for a length and its bytes, WIRE_AGG for a count of
 * elements, WIRE_END for '.', the end of a streamed aggregate; a line
 * otherwise. '_' (null) and '.' are of type RK_REPLY_NIL. One load
 * instead of a switch: every token asks, in both passes. */
enum { WIRE_TYPE = 0x0f, WIRE_END = 0x10, WIRE_AGG = 0x20, WIRE_BULK = 0x40, WIRE_KNOWN = 0x80 };
#define LINE(t) (WIRE_KNOWN | (t))
#define BULK(t) (WIRE_KNOWN | WIRE_BULK | (t))
#define AGG(t) (WIRE_KNOWN | WIRE_AGG | (t))
static const uint8_t wire_types[256] = {
    ['+'] = LINE(RK_REPLY_STATUS),  ['-'] = LINE(RK_REPLY_ERROR),
    [':'] = LINE(RK_REPLY_INTEGER), [','] = LINE(RK_REPLY_DOUBLE),
    ['#'] = LINE(RK_REPLY_BOOL),    ['('] = LINE(RK_REPLY_BIGNUM),
    ['_'] = LINE(RK_REPLY_NIL),     ['$'] = BULK(RK_REPLY_STRING),
    ['!'] = BULK(RK_REPLY_ERROR),   ['='] = BULK(RK_REPLY_VERBATIM),
    ['*'] = AGG(RK_REPLY_ARRAY),    ['%'] = AGG(RK_REPLY_MAP),
    ['~'] = AGG(RK_REPLY_SET),      ['>'] = AGG(RK_REPLY_PUSH),
    ['|'] = AGG(RK_REPLY_ATTR),     ['.'] = WIRE_KNOWN | WIRE_END | RK_REPLY_NIL,
};
#undef LINE
#undef BULK
#undef AGG

static uint8_t wire_of(char c) {
    return wire_types[(unsigned char)c];
}

static rk_type type_of(char c) {
    return (rk_type)(wire_of(c) & WIRE_TYPE);
}

/* ---- scan pass ----------------------------------------------------- */

enum { SCAN_MORE = 0, SCAN_STEP = 1, SCAN_DONE = 2 };

/* The tape is full for this reply as a new reader would have grown it:
 * doubles it, once the reply's cost with both the old and the new tape (a
 * realloc may hold both) is within max_memory. A tape already larger from
 * an earlier reply is reused, but the reply is charged the same. */
__attribute__((cold, noinline)) /* keeps put_token small enough to inline */
static int
grow_tape(rk_reader *rd, size_t wire) {
    size_t need = rd->tape_need * 2;
    if (reply_cost(rd, wire, (rd->tape_need + need) * sizeof(token), 0) > rd->lim.max_memory)
        return over_max_memory(rd);
    if (need > rd->captape) {
        token *nt = rk_realloc(rd->tape, need * sizeof(*nt));
        if (nt == NULL)
            return fail(rd, RK_ENOMEM, "out of memory reading a reply");
        rd->tape = nt;
        rd->captape = need;
    }
    rd->tape_need = need;
    rd->tape_bytes = need * sizeof(token);
    rd->peak_tape = RK_MAX(rd->peak_tape, need);
    return RK_OK;
}

/* Records an accepted token on the tape. pos is an offset from the start
 * of the reply, so the tape survives the buffer being moved. */
static int put_token(rk_reader *rd, char wire, uint8_t flags, size_t pos, uint64_t val) {
    if (RK_UNLIKELY(rd->ntape == rd->tape_need)) {
        int rc = grow_tape(rd, pos - rd->rpos);
        if (rc != RK_OK)
            return rc;
    }
    rd->tape[rd->ntape++] =
        (token){.wire = wire, .flags = flags, .pos = pos - rd->rpos, .val = val};
    return RK_OK;
}

/* An element (a scalar, or an aggregate just closed) ended: count it in
 * its parent and close every aggregate that completes. Returns SCAN_DONE
 * when that completed the top-level reply, else SCAN_STEP. */
static int element_done(rk_reader *rd) {
    while (rd->depth > 0) {
        frame *f = &rd->stack[rd->depth - 1];
        if (f->streamed) {
            f->count++;
            rd->nodes++;
            uint64_t n = f->type == RK_REPLY_MAP ? f->count / 2 : f->count;
            if (n > rd->lim.max_elements)
                return proto(rd, rd->spos, "aggregate larger than the max_elements limit");
            return SCAN_STEP;
        }
        if (--f->count > 0)
            return SCAN_STEP;
        rd->depth--;
        if (f->type == RK_REPLY_ATTR) {
            rd->attr_pending = true; /* not an element: its reply follows */
            return SCAN_STEP;
        }
    }
    return rd->attr_pending ? SCAN_STEP : SCAN_DONE;
}

static int scan_aggregate(rk_reader *rd, size_t p, size_t cr) {
    rk_type type = type_of(rd->buf[p]);
    long long n;
    int rc = parse_length(rd, p, cr, &n);
    if (rc != RK_OK)
        return rc;
    if (n == -1 && type != RK_REPLY_ARRAY)
        return proto(rd, p + 1, "null length on a RESP3 aggregate");
    if (n == -2 && (type == RK_REPLY_ATTR || type == RK_REPLY_PUSH))
        return proto(rd, p + 1, "streamed length on an attribute or push");
    if (n > 0 && (unsigned long long)n > rd->lim.max_elements)
        return proto(rd, p + 1, "aggregate larger than the max_elements limit");
    if (n != -1 && rd->depth >= rd->lim.max_depth)
        return proto(rd, p, "nesting deeper than the max_depth limit");
    if (type == RK_REPLY_ATTR && rd->attr_pending)
        return proto(rd, p, "two attributes in a row");
    uint8_t flags = n == -1 ? TOK_NIL : n == -2 ? TOK_STREAMED : 0;
    if ((rc = put_token(rd, rd->buf[p], flags, p, n < 0 ? 0 : (uint64_t)n)) != RK_OK)
        return rc;
    if (type == RK_REPLY_ATTR)
        rd->nodes++; /* the attribute's own node */
    else
        rd->attr_pending = false;
    if (n == -1)
        return element_done(rd);
    frame f = {.type = (uint8_t)type, .streamed = n == -2, .slot = rd->ntape - 1};
    if (!f.streamed) {
        f.count = (uint64_t)n * ((type == RK_REPLY_MAP || type == RK_REPLY_ATTR) ? 2 : 1);
        rd->nodes += f.count;
        if ((rc = check_memory(rd, cr + 2 - rd->rpos)) != RK_OK)
            return rc;
        if (f.count == 0) {
            if (type != RK_REPLY_ATTR)
                return element_done(rd);
            rd->attr_pending = true;
            return SCAN_STEP;
        }
    }
    rd->stack[rd->depth++] = f;
    return SCAN_STEP;
}

static int scan_stream_end(rk_reader *rd, size_t p, size_t cr) {
    if (rd->depth == 0 || !rd->stack[rd->depth - 1].streamed)
        return proto(rd, p, "'.' outside a streamed aggregate");
    if (cr != p + 1)
        return proto(rd, p + 1, "invalid end of a streamed aggregate");
    if (rd->attr_pending)
        return proto(rd, p, "attribute not followed by a reply");
    frame *f = &rd->stack[rd->depth - 1];
    if (f->type == RK_REPLY_MAP && f->count % 2 != 0)
        return proto(rd, p, "streamed map ended after a key without a value");
    int rc = put_token(rd, '.', 0, p, 0);
    if (rc != RK_OK)
        return rc;
    rd->tape[f->slot].val = f->count; /* children, now known */
    rd->depth--;
    return element_done(rd);
}

/* Starts direct mode for the top-level bulk whose header ends at cr. */
static int go_direct(rk_reader *rd, size_t cr, size_t len) {
    size_t have = rd->wpos - (cr + 2);
    size_t cap = RK_MIN(len + 2, RK_MAX((size_t)DIRECT_FIRST_BLOCK, have));
    char *block = rk_malloc(cap);
    if (block == NULL)
        return fail(rd, RK_ENOMEM, "out of memory for a %zu byte reply", len);
    memcpy(block, rd->buf + cr + 2, have);
    rd->direct = block;
    rd->direct_cap = cap;
    rd->direct_len = len;
    rd->direct_got = have;
    rd->direct_hdr = cr + 2 - rd->rpos;
    rd->base += rd->wpos;
    rd->rpos = rd->wpos = rd->spos = rd->crscan = 0;
    return SCAN_MORE;
}

/* A bulk string, blob error or verbatim string: header line and payload. */
static int scan_bulk(rk_reader *rd, size_t p, size_t cr, size_t *next) {
    char t = rd->buf[p];
    long long n;
    int rc = parse_length(rd, p, cr, &n);
    if (rc != RK_OK)
        return rc;
    if (n == -1 && t != '$')
        return proto(rd, p + 1, "null length on a blob error or verbatim string");
    if (n == -2 && t != '$')
        return proto(rd, p + 1, "streamed length on a blob error or verbatim string");
    if (n < 0) {
        if ((rc = put_token(rd, t, n == -1 ? TOK_NIL : TOK_STREAMED, p, 0)) != RK_OK)
            return rc;
        rd->attr_pending = false;
        if (n == -1)
            return element_done(rd);
        rd->in_stream_str = true;
        rd->stream_slot = rd->ntape - 1;
        rd->stream_len = 0;
        return SCAN_STEP;
    }
    size_t len = (size_t)n;
    if ((unsigned long long)n > rd->lim.max_bulk)
        return proto(rd, p + 1, "bulk length over the max_bulk limit");
    if (t == '=' && (len < 4 || (rd->wpos - (cr + 2) > 3 && rd->buf[cr + 2 + 3] != ':')))
        return proto(rd, cr + 2, "verbatim string without a 3-byte format and ':'");
    size_t end = cr + 2 + len, skip = t == '=' ? 4 : 0; /* verbatim: the data after "txt:" */
    bool direct_ok = t == '$' && rd->depth == 0 && rd->rpos == p && len >= DIRECT_THRESHOLD;
    if (!direct_ok && end + 2 - rd->rpos > rd->lim.max_buffer)
        return over_max_buffer(rd);
    if (rd->wpos - (cr + 2) < len + 2) {
        if (rd->wpos > end && rd->buf[end] != '\r')
            return proto(rd, end, "bulk string not followed by CRLF");
        if (direct_ok)
            return go_direct(rd, cr, len);
        /* Refused now rather than once its bytes are buffered. */
        rd->strbytes += rk_str_storage(len - skip);
        rc = check_memory(rd, end + 2 - rd->rpos);
        rd->strbytes -= rk_str_storage(len - skip);
        return rc == RK_OK ? SCAN_MORE : rc;
    }
    if (rd->buf[end] != '\r' || rd->buf[end + 1] != '\n')
        return proto(rd, end, "bulk string not followed by CRLF");
    if ((rc = put_token(rd, t, 0, cr + 2 + skip, len - skip)) != RK_OK)
        return rc;
    rd->attr_pending = false;
    rd->strbytes += rk_str_storage(len - skip);
    *next = end + 2;
    return element_done(rd);
}

/* One chunk of a streamed string: ";len" and len bytes, ";0" ends it. */
static int scan_chunk(rk_reader *rd, size_t p, size_t cr, size_t *next) {
    if (rd->buf[p] != ';')
        return proto(rd, p, "expected ';' chunk in a streamed string");
    long long n;
    if (rk_parse_ll(rd->buf + p + 1, cr - (p + 1), &n) != 0 || n < 0)
        return proto(rd, p + 1, "invalid chunk length");
    if ((unsigned long long)n > rd->lim.max_bulk - rd->stream_len)
        return proto(rd, p + 1, "streamed string over the max_bulk limit");
    size_t len = (size_t)n, end = cr + 2 + len;
    if (len > 0) {
        if (rd->wpos - (cr + 2) < len + 2)
            return SCAN_MORE;
        if (rd->buf[end] != '\r' || rd->buf[end + 1] != '\n')
            return proto(rd, end, "chunk not followed by CRLF");
        *next = end + 2;
    }
    int rc = put_token(rd, ';', 0, cr + 2, len);
    if (rc != RK_OK)
        return rc;
    if (len > 0) {
        rd->stream_len += len;
        return SCAN_STEP;
    }
    rd->in_stream_str = false;
    rd->tape[rd->stream_slot].val = rd->stream_len;
    rd->strbytes += rk_str_storage(rd->stream_len);
    rd->streambytes += rd->stream_len + 1;
    return element_done(rd);
}

/* A scalar that is one line: status, error, integer, double, boolean,
 * null, big number. */
static int scan_line(rk_reader *rd, size_t p, size_t cr) {
    int rc = check_line_scalar(rd, p, cr);
    if (rc != RK_OK)
        return rc;
    char t = rd->buf[p];
    size_t len = cr - (p + 1);
    uint64_t val = len;
    if (t == ':') {
        long long ll;
        rk_parse_ll(rd->buf + p + 1, len, &ll);
        val = (uint64_t)ll;
    } else if (t == '#') {
        val = rd->buf[p + 1] == 't';
    } else if (t != '_') {
        rd->strbytes += rk_str_storage(len);
    }
    if ((rc = put_token(rd, t, 0, p + 1, val)) != RK_OK)
        return rc;
    rd->attr_pending = false;
    return element_done(rd);
}

static int scan_token(rk_reader *rd, size_t p, size_t cr, size_t *next) {
    if (rd->in_stream_str)
        return scan_chunk(rd, p, cr, next);
    uint8_t w = wire_of(rd->buf[p]);
    if (w & WIRE_BULK)
        return scan_bulk(rd, p, cr, next);
    if (w & WIRE_AGG)
        return scan_aggregate(rd, p, cr);
    if (w & WIRE_END)
        return scan_stream_end(rd, p, cr);
    return scan_line(rd, p, cr);
}

/* Scans from spos. Returns SCAN_DONE when the reply [rpos, spos) is
 * complete, SCAN_MORE when more bytes are needed, or an error. */
static int scan(rk_reader *rd) {
    for (;;) {
        size_t p = rd->spos;
        if (p >= rd->wpos)
            return SCAN_MORE;
        if (!rd->in_stream_str && !(wire_of(rd->buf[p]) & WIRE_KNOWN))
            return proto(rd, p, "unknown type byte");
        size_t cr = line_end(rd, p);
        if (cr == SIZE_MAX)
            return rd->failed;
        if (cr == 0)
            return SCAN_MORE;
        size_t next = cr + 2;
        int rc = scan_token(rd, p, cr, &next);
        if (rc == SCAN_MORE && rd->direct)
            return SCAN_MORE;
        if (rc < 0 || rc == SCAN_MORE)
            return rc;
        rd->spos = next;
        rd->crscan = next;
        if (next - rd->rpos > rd->lim.max_buffer && !rd->direct)
            return over_max_buffer(rd);
        if (rc == SCAN_DONE)
            return (rc = check_memory(rd, next - rd->rpos)) == RK_OK ? SCAN_DONE : rc;
    }
}

/* ---- build pass ---------------------------------------------------- */

/* Where the build pass takes nodes and string bytes from. */
typedef struct builder {
    char *base; /* the reply's first byte in the read buffer */
    bool borrowed;
    rk_reply *node; /* next free node */
    char *str;      /* next free string byte */
} builder;

/* Stores a string into a node: copied (owned), or pointed to in place
 * with the CR after it overwritten by a NUL (borrowed). */
static void put_str(builder *b, rk_reply *slot, const token *tk) {
    char *s = b->base + tk->pos;
    size_t len = (size_t)tk->val;
    if (!b->borrowed) {
        rk_str_set(slot, s, len, &b->str);
        return;
    }
    s[len] = '\0';
    slot->str_ = s;
    slot->len_ = len;
}

/* Gathers a streamed string from the chunk tokens after tk; returns the
 * last token it used (the ";0"). */
static const token *put_streamed_str(builder *b, rk_reply *slot, const token *tk) {
    size_t total = (size_t)tk->val;
    char *dst;
    if (total <= RK_INLINE_MAX) {
        dst = slot->u_.inl;
        slot->flags_ |= RK_RF_INLINE;
    } else {
        dst = b->str;
        slot->str_ = dst;
        b->str += total + 1;
    }
    slot->len_ = total;
    for (tk++; tk->val > 0; tk++) {
        memcpy(dst, b->base + tk->pos, (size_t)tk->val);
        dst += tk->val;
    }
    *dst = '\0';
    return tk;
}

/* Fills slot from a scalar token; returns the last token used. */
static const token *put_scalar(builder *b, rk_reply *slot, const token *tk) {
    slot->type_ = (uint8_t)type_of(tk->wire);
    if (tk->flags & TOK_NIL) {
        slot->type_ = RK_REPLY_NIL;
        return tk;
    }
    switch (tk->wire) {
    case ':':
    case '#': slot->u_.integer = (long long)tk->val; break;
    case '_': break;
    case '=':
        memcpy(slot->format_, b->base + tk->pos - 4, 3);
        put_str(b, slot, tk);
        break;
    case '$':
        if (tk->flags & TOK_STREAMED)
            return put_streamed_str(b, slot, tk);
        /* fall through */
    default: put_str(b, slot, tk); break;
    }
    return tk;
}

/* Fills slot from an aggregate header token; returns the frame to push,
 * or one with node NULL when the aggregate is already complete. */
static frame put_aggregate(builder *b, rk_reply *slot, const token *tk) {
    frame f = {.type = (uint8_t)type_of(tk->wire), .streamed = (tk->flags & TOK_STREAMED) != 0};
    if (tk->flags & TOK_NIL) {
        slot->type_ = RK_REPLY_NIL;
        return f;
    }
    bool pairs = f.type == RK_REPLY_MAP || f.type == RK_REPLY_ATTR;
    size_t children = f.streamed ? (size_t)tk->val : (size_t)tk->val * (pairs ? 2 : 1);
    slot->type_ = f.type;
    slot->len_ = pairs ? children / 2 : children;
    if (children > 0) {
        slot->u_.elem = b->node;
        b->node += children;
    }
    if (children > 0 || f.streamed)
        f.node = slot;
    return f;
}

/* Builds the reply from the tape the scan pass wrote. Cannot fail: every
 * token was checked and the storage counted by the scan. */
static void build(rk_reader *rd, builder *b, rk_reply *root) {
    frame *stack = rd->stack;
    unsigned depth = 0;
    rk_reply *attr = NULL; /* attribute waiting for its reply */
    const token *tk = rd->tape, *end = rd->tape + rd->ntape;
    for (; tk < end; tk++) {
        if (tk->wire == '.') { /* end of a streamed aggregate */
            depth--;
        } else {
            frame *top = depth ? &stack[depth - 1] : NULL;
            rk_reply *slot = top ? &top->node->u_.elem[top->next] : root;
            bool is_attr = tk->wire == '|';
            if (is_attr) {
                slot = b->node++;
                *slot = (rk_reply){0};
            } else {
                *slot = (rk_reply){.attr_ = attr};
                attr = NULL;
            }
            if (rk_is_aggregate(type_of(tk->wire))) {
                frame f = put_aggregate(b, slot, tk);
                if (f.node) {
                    stack[depth++] = f;
                    continue;
                }
            } else {
                tk = put_scalar(b, slot, tk);
            }
            if (is_attr) {
                attr = slot;
                continue;
            }
        }
        /* An element is complete: advance the parents it completes. */
        while (depth > 0) {
            frame *f = &stack[depth - 1];
            f->next++;
            if (f->streamed || f->next < rk_child_count(f->node))
                break;
            depth--;
            if (f->type == RK_REPLY_ATTR) {
                attr = f->node;
                break;
            }
        }
    }
}

/* ---- one-token replies ----------------------------------------------- */

/* A whole reply that is one status, error, integer or bulk string, with
 * all its bytes buffered, is taken in one step without scan or build: the
 * commonest replies (+OK, :1, $5 hello, $-1) cost no more than parsing
 * them. Returns 1 with *out set, 0 to leave it to the general path, or
 * RK_ENOMEM. */
static int take_simple(rk_reader *rd, rk_reply *out, bool borrowed) {
    size_t p = rd->rpos;
    char *buf = rd->buf;
    char t = buf[p];
    if (t != '+' && t != ':' && t != '$' && t != '-')
        return 0;
    size_t lim = RK_MIN(rd->wpos, p + MAX_NUMBER_LINE + 1), cr = p + 1;
    if (t == '+' || t == '-')
        lim = RK_MIN(rd->wpos, p + SIMPLE_LINE);
    size_t k = cr + 8 <= lim ? first_in_8(buf + cr, '\r', '\n') : 0;
    cr += k;
    if (k == 0 || k == 8)
        while (cr < lim && buf[cr] != '\r' && buf[cr] != '\n')
            cr++;
    if (cr + 1 >= rd->wpos || buf[cr] != '\r' || buf[cr + 1] != '\n')
        return 0;
    char *s = buf + p + 1;
    size_t n = cr - p - 1, next = cr + 2;
    if (t == ':') {
        if (rk_parse_ll(s, n, &out->u_.integer) != 0)
            return 0;
        out->type_ = RK_REPLY_INTEGER;
    } else if (t == '$') {
        long long len;
        if (rk_parse_ll(s, n, &len) != 0 || len < -1 || (unsigned long long)len > rd->lim.max_bulk)
            return 0;
        if (len >= 0) {
            if (rd->wpos - next < (size_t)len + 2 ||
                (size_t)len + next + 2 - p > rd->lim.max_buffer)
                return 0;
            s = buf + next;
            n = (size_t)len;
            if (buf[next + n] != '\r' || buf[next + n + 1] != '\n')
                return 0;
            next += n + 2;
            out->type_ = RK_REPLY_STRING;
        }
    } else {
        out->type_ = t == '+' ? RK_REPLY_STATUS : RK_REPLY_ERROR;
    }
    if (rk_has_str(out->type_)) {
        builder b = {.borrowed = borrowed};
        token tk = {.pos = (size_t)(s - buf), .val = n};
        b.base = buf;
        if (!borrowed && n > RK_INLINE_MAX && (b.str = rk_malloc(n + 1)) == NULL)
            return fail(rd, RK_ENOMEM, "out of memory for a reply of %zu bytes", n + 1);
        put_str(&b, out, &tk);
        if (!borrowed && n > RK_INLINE_MAX)
            out->flags_ |= RK_RF_OWNED;
    }
    if (borrowed)
        out->flags_ |= RK_RF_BORROWED;
    rd->rpos = rd->spos = rd->crscan = next;
    return 1;
}

/* ---- taking replies ------------------------------------------------ */

/* Hands out the direct-mode bulk once all of it has arrived. */
static int take_direct(rk_reader *rd, rk_reply *out, bool borrowed) {
    size_t len = rd->direct_len;
    if (rd->direct_got < len + 2)
        return 0;
    char *block = rd->direct;
    rd->direct = NULL;
    rd->direct_got = rd->direct_cap = 0;
    if (block[len] != '\r' || block[len + 1] != '\n') {
        rk_free(block);
        return fail(rd, RK_EPROTO, "protocol error: bulk string of %zu bytes not followed by CRLF",
                    len);
    }
    block[len] = '\0';
    out->type_ = RK_REPLY_STRING;
    out->str_ = block;
    out->len_ = len;
    if (borrowed) {
        out->flags_ = RK_RF_BORROWED;
        rd->lent_block = block;
    } else {
        out->flags_ = RK_RF_OWNED;
    }
    return 1;
}

/* Grows a reusable scratch area to at least n bytes. */
static int grow_scratch(rk_reader *rd, void **area, size_t *cap, size_t n) {
    if (*cap >= n)
        return RK_OK;
    size_t c = RK_MAX(n, *cap * 2);
    void *na = rk_realloc(*area, c);
    if (na == NULL)
        return fail(rd, RK_ENOMEM, "out of memory for a reply of %zu bytes", n);
    *area = na;
    *cap = c;
    return RK_OK;
}

/* Sets up where the build pass puts nodes and strings. */
static int prepare(rk_reader *rd, builder *b, void **block) {
    size_t node_bytes;
    if (__builtin_mul_overflow(rd->nodes, sizeof(rk_reply), &node_bytes))
        return fail(rd, RK_ENOMEM, "reply too large");
    *block = NULL;
    if (b->borrowed) {
        rd->peak_bnodes = RK_MAX(rd->peak_bnodes, node_bytes);
        rd->peak_bstr = RK_MAX(rd->peak_bstr, rd->streambytes);
        int rc = grow_scratch(rd, (void **)&rd->bnodes, &rd->bnodes_cap, node_bytes);
        if (rc == RK_OK)
            rc = grow_scratch(rd, (void **)&rd->bstr, &rd->bstr_cap, rd->streambytes);
        b->node = rd->bnodes;
        b->str = rd->bstr;
        return rc;
    }
    size_t total = node_bytes + rd->strbytes;
    if (total < node_bytes)
        return fail(rd, RK_ENOMEM, "reply too large");
    if (total == 0)
        return RK_OK;
    *block = rk_malloc(total);
    if (*block == NULL)
        return fail(rd, RK_ENOMEM, "out of memory for a reply of %zu bytes", total);
    b->node = *block;
    b->str = (char *)*block + node_bytes;
    return RK_OK;
}

RK_HOT static int next_reply(rk_reader *rd, rk_reply *out, bool borrowed) {
    memset(out, 0, sizeof(*out));
    int rc = refuse_if_failed(rd);
    if (rc != RK_OK)
        return rc;
    end_loan(rd);
    if (rd->direct)
        return take_direct(rd, out, borrowed);
    if (rd->spos == rd->rpos && rd->rpos < rd->wpos && (rc = take_simple(rd, out, borrowed)) != 0)
        return rc;
    rc = scan(rd);
    if (rc < 0)
        return rc;
    if (rc == SCAN_MORE && rd->direct)
        return take_direct(rd, out, borrowed);
    if (rc == SCAN_MORE && rd->wpos - rd->rpos > rd->lim.max_buffer)
        return over_max_buffer(rd);
    if (rc == SCAN_MORE)
        return check_memory(rd, rd->wpos - rd->rpos); /* RK_OK is 0: more bytes needed */
    builder b = {.base = rd->buf + rd->rpos, .borrowed = borrowed};
    void *block;
    if ((rc = prepare(rd, &b, &block)) != RK_OK)
        return rc;
    build(rd, &b, out);
    if (block)
        out->flags_ |= RK_RF_OWNED;
    if (borrowed)
        out->flags_ |= RK_RF_BORROWED;
    rd->rpos = rd->spos;
    reset_scan(rd);
    return 1;
}

RK_HOT int rk_reader_next(rk_reader *rd, rk_reply *out) {
    return next_reply(rd, out, false);
}

RK_HOT int rk_reader_next_borrowed(rk_reader *rd, rk_reply *out) {
    return next_reply(rd, out, true);
}
