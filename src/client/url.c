/* Parsing of redis://, rediss:// and unix:// URLs into rk_options.
 *
 * Two passes. The first walks the URL, checks every part, writes numbers
 * into a working copy of the options and notes where each string lies
 * (still percent-encoded). Only when the whole URL is valid are the strings
 * decoded into one block and the copy handed back, so a bad URL leaves the
 * caller's options untouched and allocates nothing. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "client/url.h"
#include "util/common.h"

/* Longest quotation of the URL in an error message. */
#define QUOTE_MAX 64
#define UNIX_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* A piece of the URL: not NUL-terminated, still percent-encoded. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* The strings a URL can set. */
typedef enum string_id {
    STR_HOST,
    STR_UNIX_PATH,
    STR_USERNAME,
    STR_PASSWORD,
    STR_CLIENT_NAME,
    STR_CA_FILE,
    STR_CA_DIR,
    STR_CERT_FILE,
    STR_KEY_FILE,
    STR_SERVER_NAME,
    STR_COUNT
} string_id;

typedef struct parser {
    const char *url;     /* the whole URL, for offsets in messages */
    rk_options opts;     /* working copy, handed back on success */
    span str[STR_COUNT]; /* strings the URL sets; p == NULL: not set */
    bool tls;            /* the scheme is rediss:// */
} parser;

/* ---- Small helpers ------------------------------------------------------ */

static int quote_len(span s) {
    return (int)RK_MIN(s.n, (size_t)QUOTE_MAX);
}

static bool span_is(span s, const char *word) {
    return strlen(word) == s.n && strncasecmp(s.p, word, s.n) == 0;
}

static const char *last_char(span s, char c) {
    for (size_t i = s.n; i > 0; i--)
        if (s.p[i - 1] == c)
            return s.p + i - 1;
    return NULL;
}

static span span_after(span s, const char *p) {
    return (span){p + 1, (size_t)(s.p + s.n - (p + 1))};
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The decoded byte at s.p[*i], advancing *i past it. The escapes must have
 * passed check_escapes. */
static char next_byte(span s, size_t *i) {
    char c = s.p[(*i)++];
    if (c != '%')
        return c;
    c = (char)(hex_value(s.p[*i]) * 16 + hex_value(s.p[*i + 1]));
    *i += 2;
    return c;
}

/* Decodes s into dst (room for s.n bytes); returns the decoded length. */
static size_t decode(span s, char *dst) {
    size_t n = 0;
    for (size_t i = 0; i < s.n;)
        dst[n++] = next_byte(s, &i);
    return n;
}

static size_t decoded_len(span s) {
    size_t n = 0;
    for (size_t i = 0; i < s.n; n++)
        next_byte(s, &i);
    return n;
}

/* Decodes a short value into buf as a C string; false if it does not fit. */
static bool decode_short(span s, char *buf, size_t size) {
    if (decoded_len(s) >= size)
        return false;
    buf[decode(s, buf)] = '\0';
    return true;
}

/* Checks that every '%' in s starts a two-digit hex escape other than %00
 * (a C string cannot hold NUL). `what` names the part for the message,
 * which quotes the escape unless the part is the password. */
static int check_escapes(const parser *ps, span s, const char *what) {
    bool secret = strcmp(what, "password") == 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] != '%')
            continue;
        size_t at = (size_t)(s.p + i - ps->url), left = s.n - i;
        if (left < 3 || hex_value(s.p[i + 1]) < 0 || hex_value(s.p[i + 2]) < 0)
            return rk_fail(RK_EINVAL, "bad percent escape '%.*s' at offset %zu in URL %s",
                           secret ? 1 : (int)RK_MIN(left, (size_t)3), s.p + i, at, what);
        if (s.p[i + 1] == '0' && s.p[i + 2] == '0')
            return rk_fail(RK_EINVAL, "percent escape %%00 (NUL) at offset %zu in URL %s", at,
                           what);
        i += 2;
    }
    return RK_OK;
}

/* ASCII only, whatever the program's locale. */
static bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fail_char(char c, const char *where) {
    unsigned char u = (unsigned char)c;
    if (u >= ' ' && u <= '~')
        return rk_fail(RK_EINVAL, "invalid character '%c' in URL %s", c, where);
    return rk_fail(RK_EINVAL, "invalid byte 0x%02x in URL %s", u, where);
}

/* Parses a whole non-negative decimal number no larger than max. */
static bool parse_uint(const char *s, int max, int *out) {
    long long v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v > max)
            return false;
    }
    *out = (int)v;
    return true;
}

/* Parses seconds with an optional fraction ("1.5", ".25") into
 * milliseconds. A fraction of a millisecond rounds up, so that a tiny
 * timeout never becomes 0 (which would mean the default). */
static bool parse_seconds_ms(const char *s, int *out) {
    long long ms = 0, scale = 100;
    int digits = 0, round_up = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        ms = ms * 10 + (*s - '0');
        if (ms > INT_MAX / 1000)
            return false;
    }
    ms *= 1000;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, digits++, scale /= 10) {
            ms += (*s - '0') * scale;
            round_up |= scale == 0 && *s != '0';
        }
    ms += round_up;
    if (*s != '\0' || digits == 0 || ms > INT_MAX)
        return false;
    *out = (int)ms;
    return true;
}

/* ---- Query options -------------------------------------------------------- */

typedef struct url_option url_option;
typedef int (*option_fn)(parser *ps, const url_option *opt, span value);

/* One ?name=value option: where it goes and what values it takes. */
struct url_option {
    const char *name;
    option_fn set;
    size_t offset;      /* numbers: the int field of rk_options */
    int min, max;       /* numbers: the accepted range */
    bool zero_is_off;   /* numbers: 0 is stored as -1 (never, off) */
    string_id slot;     /* strings: which one */
    const char *expect; /* what the value must be, for the message */
};

static int fail_value(const url_option *opt, span value) {
    return rk_fail(RK_EINVAL, "URL option '%s' must be %s, not '%.*s'", opt->name, opt->expect,
                   quote_len(value), value.p);
}

static void store_int(parser *ps, const url_option *opt, int v) {
    *(int *)((char *)&ps->opts + opt->offset) = opt->zero_is_off && v == 0 ? -1 : v;
}

static int set_int(parser *ps, const url_option *opt, span value) {
    char buf[24];
    int v;
    if (!decode_short(value, buf, sizeof(buf)) || !parse_uint(buf, opt->max, &v) || v < opt->min)
        return fail_value(opt, value);
    store_int(ps, opt, v);
    return RK_OK;
}

static int set_seconds(parser *ps, const url_option *opt, span value) {
    char buf[32];
    int ms;
    if (!decode_short(value, buf, sizeof(buf)) || !parse_seconds_ms(buf, &ms) || ms < opt->min)
        return fail_value(opt, value);
    store_int(ps, opt, ms);
    return RK_OK;
}

/* CLIENT SETNAME refuses spaces, newlines and other special characters. */
static int set_client_name(parser *ps, const url_option *opt, span value) {
    for (size_t i = 0; i < value.n;) {
        char c = next_byte(value, &i);
        if (c < '!' || c > '~')
            return rk_fail(RK_EINVAL, "URL option '%s' must have no spaces or special characters",
                           opt->name);
    }
    ps->str[STR_CLIENT_NAME] = value;
    return RK_OK;
}

static int need_tls(const parser *ps, const url_option *opt) {
    if (ps->tls)
        return RK_OK;
    return rk_fail(RK_EINVAL, "URL option '%s' needs a rediss:// URL", opt->name);
}

static int set_tls_string(parser *ps, const url_option *opt, span value) {
    int rc = need_tls(ps, opt);
    if (rc == RK_OK)
        ps->str[opt->slot] = value;
    return rc;
}

static int set_cert_reqs(parser *ps, const url_option *opt, span value) {
    char buf[16];
    int rc = need_tls(ps, opt);
    if (rc != RK_OK)
        return rc;
    if (!decode_short(value, buf, sizeof(buf)))
        return fail_value(opt, value);
    if (strcasecmp(buf, "none") == 0)
        ps->opts.tls.insecure = true;
    else if (strcasecmp(buf, "optional") == 0 || strcasecmp(buf, "required") == 0)
        ps->opts.tls.insecure = false;
    else
        return fail_value(opt, value);
    return RK_OK;
}

/* mode=pool or mode=mux (rk_options.mode). */
static int set_mode(parser *ps, const url_option *opt, span value) {
    char buf[8];
    if (!decode_short(value, buf, sizeof(buf)))
        return fail_value(opt, value);
    if (strcasecmp(buf, "pool") == 0)
        ps->opts.mode = RK_MODE_POOL;
    else if (strcasecmp(buf, "mux") == 0)
        ps->opts.mode = RK_MODE_MUX;
    else
        return fail_value(opt, value);
    return RK_OK;
}

#define FIELD(f) offsetof(rk_options, f)
#define SECONDS "a positive number of seconds"

static const url_option options[] = {
    {"db", set_int, FIELD(db), 0, INT_MAX, false, 0, "a number"},
    {"protocol", set_int, FIELD(protocol), 2, 3, false, 0, "2 or 3"},
    {"client_name", set_client_name, 0, 0, 0, false, STR_CLIENT_NAME, NULL},
    {"name", set_client_name, 0, 0, 0, false, STR_CLIENT_NAME, NULL},
    {"connect_timeout", set_seconds, FIELD(connect_timeout_ms), 1, INT_MAX, false, 0, SECONDS},
    {"socket_connect_timeout", set_seconds, FIELD(connect_timeout_ms), 1, INT_MAX, false, 0,
     SECONDS},
    {"socket_timeout", set_seconds, FIELD(command_timeout_ms), 0, INT_MAX, true, 0,
     "a number of seconds (0: no limit)"},
    {"pool_size", set_int, FIELD(pool_size), 1, INT_MAX, false, 0, "a number, at least 1"},
    {"max_connections", set_int, FIELD(pool_size), 1, INT_MAX, false, 0, "a number, at least 1"},
    {"pool_timeout", set_seconds, FIELD(pool_timeout_ms), 1, INT_MAX, false, 0, SECONDS},
    {"health_check_interval", set_seconds, FIELD(health_check_ms), 0, INT_MAX, true, 0,
     "a number of seconds (0: never)"},
    {"retry_attempts", set_int, FIELD(retry.attempts), 1, INT_MAX, false, 0,
     "a number, at least 1"},
    {"keepalive", set_int, FIELD(keepalive_s), 0, INT_MAX, true, 0,
     "a whole number of seconds (0: off)"},
    {"mode", set_mode, 0, 0, 0, false, 0, "pool or mux"},
    {"mux_connections", set_int, FIELD(mux_connections), 1, RK_MAX_MUX_CONNECTIONS, false, 0,
     "a number from 1 to 64"},
    {"ssl_ca_certs", set_tls_string, 0, 0, 0, false, STR_CA_FILE, NULL},
    {"ssl_ca_path", set_tls_string, 0, 0, 0, false, STR_CA_DIR, NULL},
    {"ssl_certfile", set_tls_string, 0, 0, 0, false, STR_CERT_FILE, NULL},
    {"ssl_keyfile", set_tls_string, 0, 0, 0, false, STR_KEY_FILE, NULL},
    {"ssl_server_name", set_tls_string, 0, 0, 0, false, STR_SERVER_NAME, NULL},
    {"ssl_cert_reqs", set_cert_reqs, 0, 0, 0, false, 0, "none, optional or required"},
};

static const url_option *find_option(span name) {
    for (size_t i = 0; i < RK_ARRAY_LEN(options); i++)
        if (strlen(options[i].name) == name.n && memcmp(options[i].name, name.p, name.n) == 0)
            return &options[i];
    return NULL;
}

static int parse_pair(parser *ps, span pair) {
    const char *eq = memchr(pair.p, '=', pair.n);
    span name = {pair.p, eq ? (size_t)(eq - pair.p) : pair.n};
    const url_option *opt = find_option(name);
    if (opt == NULL)
        return rk_fail(RK_EINVAL, "unknown URL option '%.*s'", quote_len(name), name.p);
    span value = eq ? span_after(pair, eq) : (span){NULL, 0};
    if (value.n == 0)
        return rk_fail(RK_EINVAL, "URL option '%s' needs a value", opt->name);
    char what[48];
    snprintf(what, sizeof(what), "option '%s'", opt->name);
    int rc = check_escapes(ps, value, what);
    return rc != RK_OK ? rc : opt->set(ps, opt, value);
}

static int parse_query(parser *ps, const char *q) {
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n > 0) {
            int rc = parse_pair(ps, (span){q, n});
            if (rc != RK_OK)
                return rc;
        }
        q += n + (q[n] == '&');
    }
    return RK_OK;
}

/* ---- Authority and path ----------------------------------------------------- */

/* user:password, :password or user. */
static int parse_userinfo(parser *ps, span u) {
    const char *colon = memchr(u.p, ':', u.n);
    span user = {u.p, colon ? (size_t)(colon - u.p) : u.n};
    int rc = check_escapes(ps, user, "user name");
    if (rc != RK_OK)
        return rc;
    if (user.n > 0)
        ps->str[STR_USERNAME] = user;
    if (colon == NULL)
        return RK_OK;
    span pass = span_after(u, colon);
    rc = check_escapes(ps, pass, "password");
    if (rc == RK_OK && pass.n > 0)
        ps->str[STR_PASSWORD] = pass;
    return rc;
}

/* Splits off user info ending at the last '@' of s, if any. */
static int take_userinfo(parser *ps, span *s) {
    const char *at = last_char(*s, '@');
    if (at == NULL)
        return RK_OK;
    int rc = parse_userinfo(ps, (span){s->p, (size_t)(at - s->p)});
    *s = span_after(*s, at);
    return rc;
}

static int parse_port(parser *ps, span p) {
    char buf[8];
    int port;
    if (p.n == 0)
        return rk_fail(RK_EINVAL, "missing port after ':' in URL");
    if (p.n >= sizeof(buf))
        return rk_fail(RK_EINVAL, "invalid port '%.*s' in URL", quote_len(p), p.p);
    memcpy(buf, p.p, p.n);
    buf[p.n] = '\0';
    if (!parse_uint(buf, 65535, &port) || port == 0)
        return rk_fail(RK_EINVAL, "invalid port '%.*s' in URL (1 to 65535)", quote_len(p), p.p);
    ps->opts.port = port;
    return RK_OK;
}

/* A name or an IPv4 address: letters, digits, '-', '.', '_'. */
static int check_hostname(span h) {
    for (size_t i = 0; i < h.n; i++)
        if (!is_alnum(h.p[i]) && h.p[i] != '-' && h.p[i] != '.' && h.p[i] != '_')
            return fail_char(h.p[i], "host");
    return RK_OK;
}

/* The inside of [brackets]: an IPv6 address, then an optional zone
 * ("%25eth0", an escaped '%'). */
static int check_ipv6(span h) {
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr bin;
    const char *pct = memchr(h.p, '%', h.n);
    size_t alen = pct ? (size_t)(pct - h.p) : h.n;
    if (h.n == 0)
        return rk_fail(RK_EINVAL, "empty IPv6 address in URL");
    if (alen >= sizeof(addr))
        return rk_fail(RK_EINVAL, "invalid IPv6 address '%.*s' in URL", quote_len(h), h.p);
    memcpy(addr, h.p, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET6, addr, &bin) != 1)
        return rk_fail(RK_EINVAL, "invalid IPv6 address '%.*s' in URL", quote_len(h), h.p);
    if (pct == NULL)
        return RK_OK;
    size_t zlen = h.n - alen;
    if (zlen <= 3 || memcmp(pct, "%25", 3) != 0)
        return rk_fail(RK_EINVAL, "invalid IPv6 zone in URL (write '%%25' and the name)");
    return check_hostname((span){pct + 3, zlen - 3});
}

/* [v6]:port, [v6], host:port, host, :port or nothing. */
static int parse_hostport(parser *ps, span a) {
    span host = a, rest = {a.p + a.n, 0};
    int rc;
    if (a.n > 0 && a.p[0] == '[') {
        const char *close = memchr(a.p, ']', a.n);
        if (close == NULL)
            return rk_fail(RK_EINVAL, "missing ']' after IPv6 address in URL");
        host = (span){a.p + 1, (size_t)(close - a.p - 1)};
        rest = (span){close + 1, (size_t)(a.p + a.n - close - 1)};
        if (rest.n > 0 && rest.p[0] != ':')
            return fail_char(rest.p[0], "after ']' of the IPv6 address");
        rc = check_ipv6(host);
    } else {
        const char *colon = memchr(a.p, ':', a.n);
        if (colon) {
            host.n = (size_t)(colon - a.p);
            rest = (span){colon, (size_t)(a.p + a.n - colon)};
            if (memchr(colon + 1, ':', rest.n - 1))
                return rk_fail(RK_EINVAL, "IPv6 address in URL must be in brackets "
                                          "(redis://[::1]:6379)");
        }
        rc = check_hostname(host);
    }
    if (rc == RK_OK && rest.n > 0)
        rc = parse_port(ps, (span){rest.p + 1, rest.n - 1});
    if (rc == RK_OK && host.n > 0)
        ps->str[STR_HOST] = host;
    return rc;
}

/* The db of redis://host/3; "" and "/" say nothing. */
static int parse_path_db(parser *ps, span p) {
    char buf[24];
    if (p.n == 0)
        return RK_OK;
    int rc = check_escapes(ps, p, "path");
    if (rc != RK_OK)
        return rc;
    if (!decode_short(p, buf, sizeof(buf)) || !parse_uint(buf, INT_MAX, &ps->opts.db))
        return rk_fail(RK_EINVAL, "db in URL path must be a number, not '%.*s'", quote_len(p), p.p);
    return RK_OK;
}

/* A password with an unescaped '/' or '?' ends the authority early, and
 * its rest would be read, and quoted, as the port, the db or an option.
 * An '@' where no valid URL has one (in the path, or in a query pair that
 * is no known option) gives it away: refused without quoting anything. */
static int check_stray_at(const parser *ps, const char *rest) {
    size_t n = rest[0] == '/' ? strcspn(rest, "?") : 0;
    const char *at = memchr(rest, '@', n);
    for (const char *q = rest + n; at == NULL && *q != '\0'; q += n) {
        q++; /* the '?' or '&' */
        n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (find_option((span){q, eq ? (size_t)(eq - q) : n}) == NULL)
            at = memchr(q, '@', n);
    }
    if (at == NULL)
        return RK_OK;
    return rk_fail(RK_EINVAL,
                   "unexpected '@' at offset %zu in URL (if it ends a password, "
                   "percent-escape the password's '/' and '?' as %%2F and %%3F)",
                   (size_t)(at - ps->url));
}

/* redis[s]://[userinfo@]host[:port][/db][?query] */
static int parse_tcp(parser *ps, const char *s) {
    size_t n = strcspn(s, "/?");
    span authority = {s, n};
    int rc = check_stray_at(ps, s + n);
    if (rc == RK_OK)
        rc = take_userinfo(ps, &authority);
    if (rc == RK_OK)
        rc = parse_hostport(ps, authority);
    s += n;
    if (rc == RK_OK && *s == '/') {
        n = strcspn(s + 1, "?");
        rc = parse_path_db(ps, (span){s + 1, n});
        s += 1 + n;
    }
    if (rc == RK_OK && *s == '?')
        rc = parse_query(ps, s + 1);
    return rc;
}

static int parse_unix_path(parser *ps, span p) {
    if (p.n == 0)
        return rk_fail(RK_EINVAL, "empty unix socket path in URL (unix:///path/to.sock)");
    if (p.p[0] != '/')
        return rk_fail(RK_EINVAL, "unix socket path in URL must be absolute "
                                  "(unix:///path/to.sock)");
    int rc = check_escapes(ps, p, "unix socket path");
    if (rc != RK_OK)
        return rc;
    if (decoded_len(p) >= UNIX_PATH_MAX)
        return rk_fail(RK_EINVAL, "unix socket path in URL is longer than %zu bytes",
                       UNIX_PATH_MAX - 1);
    ps->str[STR_UNIX_PATH] = p;
    return RK_OK;
}

/* unix://[userinfo@]/path[?query]: user info only before the first '/'. */
static int parse_unix(parser *ps, const char *s) {
    size_t n = strcspn(s, "?");
    span head = {s, strcspn(s, "/?")};
    span path = {s, n};
    const char *at = last_char(head, '@');
    int rc = RK_OK;
    if (at) {
        rc = parse_userinfo(ps, (span){s, (size_t)(at - s)});
        path = span_after(path, at);
    }
    if (rc == RK_OK)
        rc = parse_unix_path(ps, path);
    if (rc == RK_OK && s[n] == '?')
        rc = parse_query(ps, s + n + 1);
    return rc;
}

static int parse_url(parser *ps) {
    const char *sep = strstr(ps->url, "://");
    if (sep == NULL)
        return rk_fail(RK_EINVAL, "URL has no scheme: it must start with redis://, rediss:// "
                                  "or unix://");
    span scheme = {ps->url, (size_t)(sep - ps->url)};
    ps->tls = span_is(scheme, "rediss");
    ps->opts.tls.enabled = ps->tls;
    if (span_is(scheme, "unix"))
        return parse_unix(ps, sep + 3);
    if (!ps->tls && !span_is(scheme, "redis"))
        return rk_fail(RK_EINVAL,
                       "unsupported URL scheme '%.*s' (use redis://, rediss:// or unix://)",
                       quote_len(scheme), scheme.p);
    ps->opts.unix_path = NULL;
    return parse_tcp(ps, sep + 3);
}

/* ---- Handing back --------------------------------------------------------- */

static const char **string_field(rk_options *o, string_id id) {
    switch (id) {
    case STR_HOST: return &o->host;
    case STR_UNIX_PATH: return &o->unix_path;
    case STR_USERNAME: return &o->username;
    case STR_PASSWORD: return &o->password;
    case STR_CLIENT_NAME: return &o->client_name;
    case STR_CA_FILE: return &o->tls.ca_file;
    case STR_CA_DIR: return &o->tls.ca_dir;
    case STR_CERT_FILE: return &o->tls.cert_file;
    case STR_KEY_FILE: return &o->tls.key_file;
    default: return &o->tls.server_name;
    }
}

/* Decodes the strings into one block and hands everything back. */
static int commit(parser *ps, rk_options *out, char **storage) {
    size_t total = 0;
    for (int i = 0; i < STR_COUNT; i++)
        if (ps->str[i].p)
            total += ps->str[i].n + 1;
    char *block = total ? rk_malloc(total) : NULL;
    if (total && block == NULL)
        return rk_fail(RK_ENOMEM, "out of memory copying the URL's strings");
    char *p = block;
    for (int i = 0; i < STR_COUNT; i++) {
        if (ps->str[i].p == NULL)
            continue;
        *string_field(&ps->opts, (string_id)i) = p;
        p += decode(ps->str[i], p);
        *p++ = '\0';
    }
    *out = ps->opts;
    *storage = block;
    return RK_OK;
}

int rk_url_parse(const char *url, rk_options *out, char **storage) {
    if (storage)
        *storage = NULL;
    if (url == NULL || out == NULL || storage == NULL)
        return rk_fail(RK_EINVAL, "rk_url_parse: URL, options and storage must not be NULL");
    parser ps = {.url = url, .opts = *out};
    int rc = parse_url(&ps);
    return rc != RK_OK ? rc : commit(&ps, out, storage);
}

int(rk_options_from_url)(const char *url, rk_options *opts, char **storage, size_t opts_size) {
    if (opts == NULL || storage == NULL)
        return rk_url_parse(url, NULL, storage); /* its RK_EINVAL */
    *storage = NULL;
    rk_options o;
    int rc = rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_options");
    if (rc == RK_OK)
        rc = rk_url_parse(url, &o, storage);
    if (rc != RK_OK)
        return rc;
    if (opts_size < sizeof(o) && !rk_bytes_zero((char *)&o + opts_size, sizeof(o) - opts_size)) {
        rk_free(*storage);
        *storage = NULL;
        return rk_fail(RK_EINVAL,
                       "rk_options_from_url: the URL sets an option the caller's rk_options "
                       "(%zu bytes, from an older header) does not have",
                       opts_size);
    }
    memcpy(opts, &o, RK_MIN(opts_size, sizeof(o)));
    return RK_OK;
}
