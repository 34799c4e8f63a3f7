/* Resolving a host name on a thread, for the async client (resolve.h).
 *
 * The job is shared by the loop and the thread under a mutex; whichever of
 * them lets go last (the thread finishing, or the loop abandoning) frees
 * it. Only numeric addresses travel back, as strings, so the connection
 * layer connects to them without resolving again. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "async/resolve.h"
#include "util/common.h"

struct rk_resolve {
    pthread_mutex_t lock;
    bool done, abandoned;
    int gai; /* getaddrinfo's answer */
    int n;
    char addrs[RK_RESOLVE_MAX][RK_ADDR_MAX];
    char host[]; /* the name asked for */
};

bool rk_resolve_is_numeric(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Copies the numeric forms of the addresses found into the job. */
static void keep_addresses(rk_resolve *r, const struct addrinfo *ai) {
    for (; ai != NULL && r->n < RK_RESOLVE_MAX; ai = ai->ai_next) {
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, r->addrs[r->n], RK_ADDR_MAX, NULL, 0,
                        NI_NUMERICHOST) == 0)
            r->n++;
    }
}

static void *resolve_main(void *arg) {
    rk_resolve *r = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(r->host, NULL, &hints, &res);
    pthread_mutex_lock(&r->lock);
    r->gai = gai;
    if (gai == 0)
        keep_addresses(r, res);
    r->done = true;
    bool abandoned = r->abandoned;
    pthread_mutex_unlock(&r->lock);
    if (res)
        freeaddrinfo(res);
    if (abandoned) {
        pthread_mutex_destroy(&r->lock);
        rk_free(r);
    }
    return NULL;
}

rk_resolve *rk_resolve_start(const char *host) {
    size_t len = strlen(host);
    rk_resolve *r = rk_calloc(1, sizeof(*r) + len + 1);
    if (r == NULL) {
        rk_fail(RK_ENOMEM, "out of memory resolving %s", host);
        return NULL;
    }
    memcpy(r->host, host, len + 1);
    pthread_mutex_init(&r->lock, NULL);
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &attr, resolve_main, r);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_mutex_destroy(&r->lock);
        rk_free(r);
        rk_fail(RK_ERESOLVE, "could not start a thread to resolve %s", host);
        return NULL;
    }
    return r;
}

int rk_resolve_poll(rk_resolve *r, char addrs[][RK_ADDR_MAX], int *n) {
    pthread_mutex_lock(&r->lock);
    bool done = r->done;
    pthread_mutex_unlock(&r->lock);
    if (!done)
        return RK_EAGAIN;
    if (r->gai == EAI_MEMORY)
        return rk_fail(RK_ENOMEM, "out of memory resolving %s", r->host);
    if (r->gai != 0)
        return rk_fail(RK_ERESOLVE, "could not resolve %s: %s", r->host, gai_strerror(r->gai));
    if (r->n == 0)
        return rk_fail(RK_ERESOLVE, "could not resolve %s: no address", r->host);
    memcpy(addrs, r->addrs, sizeof(r->addrs[0]) * (size_t)r->n);
    *n = r->n;
    return RK_OK;
}

void rk_resolve_abandon(rk_resolve *r) {
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    bool done = r->done;
    r->abandoned = true;
    pthread_mutex_unlock(&r->lock);
    if (done) {
        pthread_mutex_destroy(&r->lock);
        rk_free(r);
    }
}
