/* The dropper (rkt_dropper.h): freezes a server, waits on a thread for the
 * next command to pass the proxy, then drops the proxy's connections and
 * thaws the server. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rkt_dropper.h"

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int rkt_server_freeze_stopped(rkt_server *srv) {
    rkt_server_freeze(srv);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)rkt_server_pid(srv));
    for (long long deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(1)) {
        char line[512] = "";
        FILE *f = fopen(path, "r");
        if (f == NULL)
            break;
        bool got = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        const char *end = strrchr(line, ')');
        if (got && end && (end[2] == 'T' || end[2] == 't'))
            return 0;
    }
    rkt_server_thaw(srv);
    fprintf(stderr, "server %d did not stop\n", (int)rkt_server_pid(srv));
    return -1;
}

static void *drop_when_forwarded(void *arg) {
    rkt_dropper *d = arg;
    long long deadline = now_ms() + 10000;
    rkt_proxy_stats st;
    do {
        sleep_ms(1);
        rkt_proxy_get_stats(d->proxy, &st);
    } while (st.bytes_up == d->bytes_up && now_ms() < deadline);
    d->dropped = st.bytes_up > d->bytes_up;
    rkt_proxy_drop_all(d->proxy);
    rkt_server_thaw(d->srv);
    return NULL;
}

int rkt_dropper_arm(rkt_dropper *d, rkt_proxy *proxy, rkt_server *srv) {
    rkt_proxy_stats st;
    rkt_proxy_get_stats(proxy, &st);
    *d = (rkt_dropper){.proxy = proxy, .srv = srv, .bytes_up = st.bytes_up};
    if (rkt_server_freeze_stopped(srv) != 0)
        return -1;
    if (pthread_create(&d->thread, NULL, drop_when_forwarded, d) != 0) {
        rkt_server_thaw(srv); /* the tests after this one need it */
        fprintf(stderr, "cannot start the dropper thread\n");
        return -1;
    }
    return 0;
}

bool rkt_dropper_join(rkt_dropper *d) {
    pthread_join(d->thread, NULL);
    rkt_server_thaw(d->srv);
    return d->dropped;
}
