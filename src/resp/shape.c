/* Reply shapes: one form of a reply whichever protocol it came on.
 *
 * RESP3 says what RESP2 leaves implicit (HGETALL is a map, ZSCORE a
 * double), so the typed commands describe the shape they return and this
 * file bends a reply into it. A shape is a short string read left to right:
 *
 *   .      anything, left as it is
 *   d      a double (a bulk string holding a number becomes one)
 *   s      a set (an array becomes one)
 *   aX     an array (or set) whose every element has shape X
 *   mKV    a map: a flat array [k1, v1, k2, v2...] becomes one; keys get
 *          shape K and values shape V
 *   {k=X,..} a map as with m, where the value of key k gets shape X and
 *          other values are left ({} is a map of plain values); a key
 *          ending in * matches every key it starts
 *   SX     a set (an array becomes one) whose every element has shape X
 *   $N     the named shape N, for replies that nest themselves:
 *          $A  COMMAND DOCS arguments    a{flags=s,arguments=$A}
 *          $D  one command's COMMAND DOCS
 *              {doc_flags=s,history=s,arguments=$A,subcommands=m.$D}
 *          $I  one command's COMMAND INFO (..s...ssS{...}S$I)
 *   kKV    a map from a list of [key, value] arrays (RESP2's XREAD)
 *   pXY    a list of pairs: a flat array [x1, y1, x2, y2...] becomes
 *          [[x1, y1], [x2, y2]...]; each pair's parts get X and Y
 *   (XY..) a tuple: element i gets the i-th shape, the rest are left;
 *          a last part *Z gives Z to that element and all after it
 *   i      INFO text becomes a map of sections, each a map of fields
 *
 * A reply that does not look as expected (nil, an error, another type) is
 * left as it is. Changes that only retag a node (array to map or set,
 * string to double) are made in place; anything that needs new nodes is
 * built as a view over the old reply and copied into one block with
 * rk_reply_dup, so the result keeps the one-block ownership rule. */
#include <string.h>

#include "resp/reply_int.h"
#include "resp/resp_int.h"
#include "resp/shape.h"
#include "util/common.h"

/* Node arrays a view borrows until it is copied. */
typedef struct arena {
    rk_reply **blocks;
    size_t n, cap;
    bool failed;
} arena;

static rk_reply *arena_nodes(arena *a, size_t count) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        rk_reply **b = rk_realloc(a->blocks, cap * sizeof(*b));
        if (b == NULL) {
            a->failed = true;
            return NULL;
        }
        a->blocks = b;
        a->cap = cap;
    }
    rk_reply *nodes = rk_calloc(count ? count : 1, sizeof(rk_reply));
    if (nodes == NULL) {
        a->failed = true;
        return NULL;
    }
    a->blocks[a->n++] = nodes;
    return nodes;
}

static void arena_free(arena *a) {
    for (size_t i = 0; i < a->n; i++)
        rk_free(a->blocks[i]);
    rk_free(a->blocks);
}

/* Shapes of replies that contain themselves, by the letter after '$'. */
static const char *named(char name) {
    switch (name) {
    case 'A': return "a{flags=s,arguments=$A}";
    case 'D': return "{doc_flags=s,history=s,arguments=$A,subcommands=m.$D}";
    case 'I': return "(..s...ssS{flags=s,begin_search={spec={}},find_keys={spec={}}}S$I)";
    default: return NULL;
    }
}

/* The shape after the one that starts at s. */
static const char *skip(const char *s) {
    switch (*s) {
    case '$': return s[1] ? s + 2 : s + 1;
    case 'a':
    case 'S':
    case '*': return skip(s + 1);
    case 'm':
    case 'k':
    case 'p': return skip(skip(s + 1));
    case '(':
        s++;
        while (*s && *s != ')')
            s = skip(s);
        return *s ? s + 1 : s;
    case '{':
        s++;
        while (*s && *s != '}') {
            s += strcspn(s, "=}");
            if (*s == '=')
                s = skip(s + 1);
            if (*s == ',')
                s++;
        }
        return *s ? s + 1 : s;
    case '\0': return s;
    default: return s + 1;
    }
}

static bool is_list(const rk_reply *r) {
    return r->type_ == RK_REPLY_ARRAY || r->type_ == RK_REPLY_SET || r->type_ == RK_REPLY_PUSH;
}

static bool view(rk_reply *dst, const rk_reply *src, const char *shape, arena *a);

/* Sets child i of a copy of kids[0..n) to v, making the copy on the first
 * change. */
static bool put_child(rk_reply **copy, const rk_reply *kids, size_t n, size_t i, const rk_reply *v,
                      arena *a) {
    if (*copy == NULL) {
        *copy = arena_nodes(a, n);
        if (*copy == NULL)
            return false;
        memcpy(*copy, kids, n * sizeof(**copy));
    }
    (*copy)[i] = *v;
    return true;
}

/* dst = src as a map: a flat array of pairs is retagged, a map kept.
 * Returns false for anything else; *retagged says whether it was. */
static bool as_map(rk_reply *dst, const rk_reply *src, bool *retagged) {
    *dst = *src;
    *retagged = src->type_ == RK_REPLY_ARRAY && src->len_ % 2 == 0;
    if (*retagged) {
        dst->type_ = RK_REPLY_MAP;
        dst->len_ = src->len_ / 2;
    }
    return *retagged || src->type_ == RK_REPLY_MAP;
}

/* Gives each of n source nodes its shape (shapes[i % period]) into a new
 * array when any of them changes; returns the array to use. */
static rk_reply *view_children(const rk_reply *kids, size_t n, const char *const *shapes,
                               size_t period, arena *a, bool *changed) {
    rk_reply *out = NULL;
    for (size_t i = 0; i < n; i++) {
        rk_reply tmp;
        if (view(&tmp, &kids[i], shapes[i % period], a) && !put_child(&out, kids, n, i, &tmp, a))
            break;
    }
    *changed = out != NULL;
    return out ? out : (rk_reply *)kids;
}

static bool view_map(rk_reply *dst, const rk_reply *src, const char *shape, arena *a) {
    const char *kv[2] = {shape, skip(shape)};
    bool retagged, changed;
    if (!as_map(dst, src, &retagged))
        return false;
    dst->u_.elem = view_children(src->u_.elem, dst->len_ * 2, kv, 2, a, &changed);
    return retagged || changed;
}

/* The shape for the value of key in a "{k=X,...}" shape, or NULL. */
static const char *keyed_shape(const char *shape, const rk_reply *key) {
    if (key->type_ != RK_REPLY_STRING && key->type_ != RK_REPLY_STATUS)
        return NULL;
    const char *k = rk_str_ptr(key);
    for (const char *s = shape + 1; *s && *s != '}';) {
        size_t n = strcspn(s, "=}");
        if (s[n] != '=')
            return NULL;
        bool prefix = n > 0 && s[n - 1] == '*';
        if (prefix ? key->len_ >= n - 1 && memcmp(s, k, n - 1) == 0
                   : n == key->len_ && memcmp(s, k, n) == 0)
            return s + n + 1;
        s = skip(s + n + 1);
        if (*s == ',')
            s++;
    }
    return NULL;
}

/* A map whose values get shapes by their key (see the top). */
static bool view_fields(rk_reply *dst, const rk_reply *src, const char *shape, arena *a) {
    bool retagged;
    if (!as_map(dst, src, &retagged))
        return false;
    rk_reply *out = NULL;
    for (size_t i = 0; i < dst->len_; i++) {
        const char *vs = keyed_shape(shape, &src->u_.elem[2 * i]);
        rk_reply tmp;
        if (vs != NULL && view(&tmp, &src->u_.elem[2 * i + 1], vs, a) &&
            !put_child(&out, src->u_.elem, dst->len_ * 2, 2 * i + 1, &tmp, a))
            return false;
    }
    if (out != NULL)
        dst->u_.elem = out;
    return retagged || out != NULL;
}

/* [[k, v]...] (RESP2) to a map; a map (RESP3) keeps its form. */
static bool view_keyed(rk_reply *dst, const rk_reply *src, const char *shape, arena *a) {
    if (src->type_ == RK_REPLY_MAP)
        return view_map(dst, src, shape, a);
    if (!is_list(src))
        return false;
    for (size_t i = 0; i < src->len_; i++)
        if (!is_list(&src->u_.elem[i]) || src->u_.elem[i].len_ != 2)
            return false;
    rk_reply *pairs = arena_nodes(a, src->len_ * 2);
    if (pairs == NULL)
        return false;
    for (size_t i = 0; i < src->len_; i++) {
        pairs[2 * i] = src->u_.elem[i].u_.elem[0];
        pairs[2 * i + 1] = src->u_.elem[i].u_.elem[1];
    }
    rk_reply flat = *src;
    flat.type_ = RK_REPLY_MAP;
    flat.u_.elem = pairs;
    view_map(dst, &flat, shape, a);
    return true;
}

/* A flat [x, y, x, y...] to [[x, y]...]; nested pairs keep their form. */
static bool view_pairs(rk_reply *dst, const rk_reply *src, const char *shape, arena *a) {
    if (!is_list(src))
        return false;
    const char *parts[2] = {shape, skip(shape)};
    bool nested = src->len_ > 0 && is_list(&src->u_.elem[0]);
    if (nested) { /* RESP3's form: shape each [x, y], leave anything else */
        rk_reply *out = NULL;
        for (size_t i = 0; i < src->len_; i++) {
            const rk_reply *pair = &src->u_.elem[i];
            if (!is_list(pair) || pair->len_ != 2)
                continue;
            bool changed;
            rk_reply shaped = *pair;
            shaped.u_.elem = view_children(pair->u_.elem, 2, parts, 2, a, &changed);
            if (changed && !put_child(&out, src->u_.elem, src->len_, i, &shaped, a))
                return false;
        }
        *dst = *src;
        if (out != NULL)
            dst->u_.elem = out;
        return out != NULL;
    }
    if (src->len_ % 2 != 0)
        return false;
    size_t n = src->len_ / 2;
    rk_reply *pairs = arena_nodes(a, n);
    if (pairs == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool changed;
        pairs[i] = (rk_reply){.type_ = RK_REPLY_ARRAY, .len_ = 2};
        pairs[i].u_.elem = view_children(&src->u_.elem[2 * i], 2, parts, 2, a, &changed);
    }
    *dst = *src;
    dst->type_ = RK_REPLY_ARRAY;
    dst->len_ = n;
    dst->u_.elem = pairs;
    return true;
}

static bool view_tuple(rk_reply *dst, const rk_reply *src, const char *shape, arena *a) {
    if (!is_list(src))
        return false;
    const char *parts[16], *rest = NULL;
    size_t n = 0;
    for (const char *s = shape + 1; *s && *s != ')' && n < 16; s = skip(s)) {
        if (*s == '*') { /* every element from here on */
            rest = s + 1;
            break;
        }
        parts[n++] = s;
    }
    size_t count = rest || src->len_ < n ? src->len_ : n;
    *dst = *src;
    rk_reply *out = NULL;
    for (size_t i = 0; i < count; i++) {
        rk_reply tmp;
        if (view(&tmp, &src->u_.elem[i], i < n ? parts[i] : rest, a) &&
            !put_child(&out, src->u_.elem, src->len_, i, &tmp, a))
            return false;
    }
    if (out == NULL)
        return false;
    dst->u_.elem = out;
    return true;
}

/* A string node that views len bytes at s. */
static rk_reply text_node(const char *s, size_t len) {
    rk_reply r = {.type_ = RK_REPLY_STRING, .len_ = len, .str_ = s};
    return r;
}

/* Lines of INFO text: "# Section" starts a section, "field:value" adds to
 * it. Fields before any section header go in a section named "". */
static bool view_info(rk_reply *dst, const rk_reply *src, arena *a) {
    if (src->type_ != RK_REPLY_STRING && src->type_ != RK_REPLY_VERBATIM)
        return false;
    const char *text = rk_str_ptr(src), *end = text + src->len_;
    size_t sections = 0, lines = 0;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (p < e && *p == '#')
            sections++;
        else if (p < e && memchr(p, ':', (size_t)(e - p)))
            lines++;
        p = nl ? nl + 1 : end;
    }
    /* one node pair per section, one per field, plus a possible "" section */
    rk_reply *secs = arena_nodes(a, 2 * (sections + 1));
    rk_reply *fields = arena_nodes(a, 2 * (lines ? lines : 1));
    if (secs == NULL || fields == NULL)
        return false;
    size_t ns = 0, nf = 0;
    rk_reply *cur = NULL;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *start = p, *le = nl ? nl : end;
        p = nl ? nl + 1 : end;
        if (le > start && le[-1] == '\r')
            le--;
        if (start == le)
            continue;
        if (*start == '#') {
            const char *name = start + 1;
            while (name < le && *name == ' ')
                name++;
            secs[2 * ns] = text_node(name, (size_t)(le - name));
            cur = &secs[2 * ns + 1];
            *cur = (rk_reply){.type_ = RK_REPLY_MAP, .u_.elem = &fields[2 * nf]};
            ns++;
            continue;
        }
        const char *colon = memchr(start, ':', (size_t)(le - start));
        if (colon == NULL)
            continue;
        if (cur == NULL) {
            secs[2 * ns] = text_node("", 0);
            cur = &secs[2 * ns + 1];
            *cur = (rk_reply){.type_ = RK_REPLY_MAP, .u_.elem = &fields[2 * nf]};
            ns++;
        }
        fields[2 * nf] = text_node(start, (size_t)(colon - start));
        fields[2 * nf + 1] = text_node(colon + 1, (size_t)(le - colon - 1));
        nf++;
        cur->len_++;
    }
    *dst = (rk_reply){.type_ = RK_REPLY_MAP, .len_ = ns, .u_.elem = secs};
    return true;
}

/* Sets *dst to src in the given shape; returns whether dst differs from
 * src (when false, dst is not set). Never changes src. */
static bool view(rk_reply *dst, const rk_reply *src, const char *shape, arena *a) {
    double d;
    switch (*shape) {
    case 'd':
        if (src->type_ != RK_REPLY_STRING || rk_parse_double(rk_str_ptr(src), src->len_, &d) != 0)
            return false;
        *dst = *src;
        dst->type_ = RK_REPLY_DOUBLE;
        return true;
    case 's':
        if (src->type_ != RK_REPLY_ARRAY)
            return false;
        *dst = *src;
        dst->type_ = RK_REPLY_SET;
        return true;
    case 'a':
    case 'S': {
        if (!is_list(src))
            return false;
        const char *el[1] = {shape + 1};
        bool changed;
        *dst = *src;
        dst->u_.elem = view_children(src->u_.elem, src->len_, el, 1, a, &changed);
        if (*shape == 'S' && src->type_ == RK_REPLY_ARRAY) {
            dst->type_ = RK_REPLY_SET;
            return true;
        }
        return changed;
    }
    case '$': {
        const char *n = named(shape[1]);
        return n != NULL && view(dst, src, n, a);
    }
    case 'm': return view_map(dst, src, shape + 1, a);
    case '{': return view_fields(dst, src, shape, a);
    case 'k': return view_keyed(dst, src, shape + 1, a);
    case 'p': return view_pairs(dst, src, shape + 1, a);
    case '(': return view_tuple(dst, src, shape, a);
    case 'i': return view_info(dst, src, a);
    default: return false;
    }
}

int rk_reshape(rk_reply *reply, const char *shape) {
    if (reply == NULL || shape == NULL || shape[0] == '.' || shape[0] == '\0')
        return RK_OK;
    arena a = {0};
    rk_reply top;
    if (!view(&top, reply, shape, &a)) {
        arena_free(&a);
        return a.failed ? rk_fail(RK_ENOMEM, "out of memory shaping a reply") : RK_OK;
    }
    if (a.failed) {
        arena_free(&a);
        return rk_fail(RK_ENOMEM, "out of memory shaping a reply");
    }
    if (a.n == 0) { /* only the top node was retagged: keep its storage */
        *reply = top;
        return RK_OK;
    }
    top.flags_ &= (uint8_t)~RK_RF_OWNED;
    top.attr_ = NULL;
    rk_reply copy;
    int rc = rk_reply_dup(&copy, &top);
    arena_free(&a);
    if (rc != RK_OK)
        return rc;
    rk_reply_free(reply);
    *reply = copy;
    return RK_OK;
}

/* The shape of GEORADIUS and GEOSEARCH replies: plain members, or per
 * member [member, dist?, hash?, [lon, lat]?] in that order. */
const char *rk_geo_shape(bool coord, bool dist, bool hash) {
    static const char *const shapes[8] = {
        ".",          /* nothing */
        "a(.(dd))",   /* coord */
        "a(.d)",      /* dist */
        "a(.d(dd))",  /* dist coord */
        ".",          /* hash: an integer on both protocols */
        "a(..(dd))",  /* hash coord */
        "a(.d)",      /* dist hash */
        "a(.d.(dd))", /* dist hash coord */
    };
    return shapes[(coord ? 1 : 0) | (dist ? 2 : 0) | (hash ? 4 : 0)];
}
