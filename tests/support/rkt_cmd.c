/* Helpers for the typed-command tests; see rkt_cmd.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rkt_check.h"
#include "rkt_cmd.h"

const int rkt_resp2 = 2, rkt_resp3 = 3;

int rkt_cmd_protocol(void **state) {
    return *(const int *)*state;
}

rk_client *rkt_cmd_client(void **state) {
    rkt_shared_need();
    rk_client *c = rk_client_new(
        &(rk_options){.port = rkt_server_port(&rkt_shared), .protocol = rkt_cmd_protocol(state)});
    if (c == NULL)
        fail_msg("rk_client_new: %s", rk_error_last()->message);
    return c;
}

int rkt_cmd_flush(void **state) {
    (void)state;
    if (rkt_shared_running())
        free(rkt_server_cmd(&rkt_shared, "FLUSHALL", NULL));
    return 0;
}

void rkt_expect_rc(int rc, int want, const char *what, const char *file, int line) {
    if (rc == want)
        return;
    print_error("%s:%d: %s: returned %d (%s), wanted %d; last error: %s\n", file, line, what, rc,
                rk_strerror(rc), want, rk_error_last()->message);
    _fail(file, line);
}

const rk_reply *rkt_map_expect(const rk_reply *map, const char *key, const char *value) {
    if (rk_reply_type(map) != RK_REPLY_MAP)
        fail_msg("expected a map, got a %s", rk_type_name(rk_reply_type(map)));
    const rk_reply *v = rk_reply_map_get(map, key);
    if (v == NULL)
        fail_msg("map has no key \"%s\"", key);
    if (value != NULL) {
        const char *s = rk_reply_str(v);
        if (s == NULL || strcmp(s, value) != 0)
            fail_msg("map[\"%s\"] is \"%s\", wanted \"%s\"", key, s ? s : "(not a string)", value);
    }
    return v;
}

void rkt_expect_shape(const rk_reply *r, rk_type type, size_t n) {
    if (rk_reply_type(r) != type)
        fail_msg("expected a %s, got a %s", rk_type_name(type), rk_type_name(rk_reply_type(r)));
    if (rk_reply_len(r) != n)
        fail_msg("expected %zu elements, got %zu", n, rk_reply_len(r));
}

long long rkt_cmd_calls(const char *cmd) {
    char *info = rkt_server_cmd(&rkt_shared, "INFO", "commandstats", NULL);
    assert_non_null(info);
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    const char *p = strstr(info, needle);
    long long n = p ? strtoll(p + strlen(needle), NULL, 10) : 0;
    free(info);
    return n;
}

long long rkt_run_int(rk_client *c, rk_command *cmd) {
    rk_reply r;
    RKT_OK(rk_client_run(c, cmd, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    long long n = rk_reply_int(&r);
    rk_reply_free(&r);
    return n;
}

void rkt_run_bytes(rk_client *c, rk_command *cmd, rk_str want) {
    rk_reply r;
    RKT_OK(rk_client_run(c, cmd, &r));
    rkt_assert_bytes(&r, want.ptr, want.len);
    rk_reply_free(&r);
}

void rkt_expect_value(rk_client *c, rk_str key, rk_str want) {
    rk_command cmd;
    rkt_run_bytes(c, rk_cmd_get(&cmd, key), want);
}
