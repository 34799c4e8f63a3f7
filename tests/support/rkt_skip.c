/* Skips that CTest can see (see rkt_skip.h): a record of the tests skipped
 * for something missing, and the exit handler that turns a passing run with
 * such skips into RKT_SKIP_CODE. */
#define _GNU_SOURCE /* on_exit */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rkt_skip.h"

static _Atomic int skips;
static char first_reason[256]; /* written by the first skip only */
static pid_t owner;            /* a forked child that calls exit() keeps its status */

/* LeakSanitizer's check, present only in sanitized builds. The exit handler
 * ends the process with _exit(), before the sanitizer's own exit-time
 * check would run, so it runs that check first. */
extern void __lsan_do_leak_check(void) __attribute__((weak));

bool rkt_require_servers(void) {
    const char *v = getenv("RK_TEST_REQUIRE_SERVERS");
    return v && *v && strcmp(v, "0") != 0;
}

void rkt_skip_missing(const char *what) {
    if (rkt_require_servers())
        fail_msg("%s, and RK_TEST_REQUIRE_SERVERS=1 requires it", what);
    fprintf(stderr, "skipping: %s\n", what);
    if (skips++ == 0)
        snprintf(first_reason, sizeof first_reason, "%s", what);
}

static void end_now(int status) {
    fflush(NULL);
    _exit(status);
}

/* Runs when main returns (or exit is called) with the status given; it was
 * registered before any other exit handler of the test, so it runs last. */
static void settle_exit_status(int status, void *arg) {
    (void)arg;
    if (getpid() != owner)
        return;
    int low = status & 0xff;
    if (status != 0 && (low == 0 || low == RKT_SKIP_CODE)) {
        fprintf(stderr, "rkt: %d failures; exiting with 1\n", status);
        end_now(1);
    }
    if (status != 0 || skips == 0)
        return;
    fprintf(stderr, "rkt: tests were skipped (%s); exiting with %d: skipped\n", first_reason,
            RKT_SKIP_CODE);
    if (__lsan_do_leak_check)
        __lsan_do_leak_check(); /* exits with LeakSanitizer's status on a leak */
    end_now(RKT_SKIP_CODE);
}

__attribute__((constructor)) static void install_exit_handler(void) {
    owner = getpid();
    on_exit(settle_exit_status, NULL);
}
