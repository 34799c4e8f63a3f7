/* libFuzzer target for the URL parser (src/client/url.c).
 *
 * The input, cut at its first NUL, is parsed over a base with every string
 * set. On success each string must be readable to its end and those the URL
 * set must lie inside the storage block; on failure storage must be NULL and
 * the base untouched. Crashes, sanitizer reports and leaks are findings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/url.h"
#include "rediskit/rediskit.h"

static const rk_options base = {
    .host = "base-host",
    .unix_path = "/base.sock",
    .username = "u",
    .password = "p",
    .client_name = "n",
    .port = 1,
    .db = 2,
    .tls = {.ca_file = "a", .ca_dir = "b", .cert_file = "c", .key_file = "d", .server_name = "e"},
};

/* A string the parse left: the base's own, or inside the block. */
static void check_string(const char *s, const char *from_base, const char *block, size_t size) {
    if (s == NULL || s == from_base)
        return;
    if (block == NULL || s < block || s + strlen(s) >= block + size)
        abort();
}

static void check_strings(const rk_options *o, const char *block, size_t size) {
    check_string(o->host, base.host, block, size);
    check_string(o->unix_path, base.unix_path, block, size);
    check_string(o->username, base.username, block, size);
    check_string(o->password, base.password, block, size);
    check_string(o->client_name, base.client_name, block, size);
    check_string(o->tls.ca_file, base.tls.ca_file, block, size);
    check_string(o->tls.ca_dir, base.tls.ca_dir, block, size);
    check_string(o->tls.cert_file, base.tls.cert_file, block, size);
    check_string(o->tls.key_file, base.tls.key_file, block, size);
    check_string(o->tls.server_name, base.tls.server_name, block, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    rk_options opts = base;
    char *block = NULL;
    int rc = rk_url_parse(url, &opts, &block);
    if (rc == RK_OK) {
        check_strings(&opts, block, size + 1);
    } else if (block != NULL || memcmp(&opts, &base, sizeof(opts)) != 0) {
        abort();
    }
    rk_free(block);
    free(url);
    return 0;
}
