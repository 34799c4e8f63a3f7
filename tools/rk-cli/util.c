/* rk-cli: allocation that exits on failure, growing strings, and the
 * monotonic clock. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *cli_realloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        fputs("rk-cli: out of memory\n", stderr);
        exit(1);
    }
    return q;
}

char *cli_strdup(const char *s) {
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(cli_realloc(NULL, n), s, n);
}

void cli_buf_put(cli_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 32;
        b->buf = cli_realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void cli_buf_puts(cli_buf *b, const char *s) {
    cli_buf_put(b, s, strlen(s));
}

int64_t cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
