/* rk-cli: the quoting rules of redis-cli's argument splitter, so a line
 * typed at rk-cli means what it means at redis-cli. Arguments are built
 * byte by byte in a growing buffer and copied out whole. */
#include "split.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One argument being built. */
typedef cli_buf word;

static void word_add(word *w, char c) {
    cli_buf_put(w, &c, 1);
}

void cli_args_push(cli_args *a, const char *s, size_t len) {
    a->argv = cli_realloc(a->argv, sizeof(*a->argv) * (size_t)(a->argc + 1));
    char *copy = cli_realloc(NULL, len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    a->argv[a->argc++] = rk_bin(copy, len);
}

void cli_args_free(cli_args *a) {
    for (int i = 0; i < a->argc; i++)
        free((char *)a->argv[i].ptr);
    free(a->argv);
    *a = (cli_args){0};
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char escaped(char c) {
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
    }
}

/* A closing quote at p must end the word. */
static bool quote_ends_word(const char *p) {
    return p[1] == '\0' || isspace((unsigned char)p[1]);
}

/* Reads a "double quoted" part starting after the quote; returns the
 * position after the closing quote, or NULL when the quoting is bad. */
static const char *read_double(const char *p, word *w) {
    for (;; p++) {
        if (*p == '\0')
            return NULL;
        if (p[0] == '\\' && p[1] == 'x' && hex_value(p[2]) >= 0 && hex_value(p[3]) >= 0) {
            word_add(w, (char)(hex_value(p[2]) * 16 + hex_value(p[3])));
            p += 3;
        } else if (p[0] == '\\' && p[1] != '\0') {
            word_add(w, escaped(*++p));
        } else if (*p == '"') {
            return quote_ends_word(p) ? p + 1 : NULL;
        } else {
            word_add(w, *p);
        }
    }
}

/* The same for a 'single quoted' part, where only \' is an escape. */
static const char *read_single(const char *p, word *w) {
    for (;; p++) {
        if (*p == '\0')
            return NULL;
        if (p[0] == '\\' && p[1] == '\'') {
            word_add(w, *++p);
        } else if (*p == '\'') {
            return quote_ends_word(p) ? p + 1 : NULL;
        } else {
            word_add(w, *p);
        }
    }
}

/* Reads one word starting at p (not blank); returns where it ended or NULL.
 * Only space, tab, CR and LF end a bare word, as in redis-cli; a closing
 * quote always ends it. */
static const char *read_word(const char *p, word *w) {
    while (*p && !strchr(" \t\r\n", *p)) {
        if (*p == '"')
            return read_double(p + 1, w);
        if (*p == '\'')
            return read_single(p + 1, w);
        word_add(w, *p++);
    }
    return p;
}

int cli_split(const char *line, cli_args *out) {
    *out = (cli_args){0};
    word w = {0};
    const char *p = line;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        w.len = 0;
        p = read_word(p, &w);
        if (p == NULL) {
            free(w.buf);
            cli_args_free(out);
            return -1;
        }
        cli_args_push(out, w.buf ? w.buf : "", w.len);
    }
    free(w.buf);
    return 0;
}
