/* Tests of the generic transport (src/net/transport.c) through a transport
 * of the test's own: a table of operations over one end of a socketpair
 * that writes a few bytes at a time, says "would block" every other call
 * and can hold bytes back as TLS does. They pin down what every
 * implementation gets for free: the blocking helpers, the shared checks,
 * and freeing the layer's state with the fd. No server is needed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/net.h"
#include "rediskit/error.h"
#include "util/common.h"

/* The test transport's state (t->impl). */
typedef struct trickle {
    int reads, writes, eagains, frees;
    char held[64]; /* bytes a read returns before the fd's, as TLS keeps them */
    size_t nheld;
} trickle;

static ssize_t trickle_read(rk_transport *t, void *buf, size_t n) {
    trickle *s = t->impl;
    s->reads++;
    if (s->nheld > 0) {
        size_t k = RK_MIN(n, s->nheld);
        memcpy(buf, s->held, k);
        memmove(s->held, s->held + k, s->nheld - k);
        s->nheld -= k;
        return (ssize_t)k;
    }
    ssize_t r = rk_socket_recv(t->fd, buf, n);
    if (r > 0)
        return r;
    t->want = RK_NET_READ;
    return r < 0 && RK_WOULD_BLOCK(errno) ? RK_EAGAIN : rk_fail(RK_EIO, "trickle read failed");
}

/* At most 5 bytes of the first iovec, and "would block" every other call. */
static ssize_t trickle_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    trickle *s = t->impl;
    (void)iovcnt;
    if (s->writes++ % 2 == 0) {
        s->eagains++;
        t->want = RK_NET_WRITE;
        return RK_EAGAIN;
    }
    ssize_t w = rk_socket_send(t->fd, iov->iov_base, RK_MIN(iov->iov_len, (size_t)5));
    return w > 0 ? w : rk_fail(RK_EIO, "trickle write failed");
}

static bool trickle_pending(const rk_transport *t) {
    return ((const trickle *)t->impl)->nheld > 0;
}

static int trickle_connect_step(rk_transport *t) {
    (void)t;
    return RK_OK;
}

static void trickle_free(void *impl) {
    ((trickle *)impl)->frees++;
}

static const rk_transport_ops trickle_ops = {
    .name = "trickle",
    .connect_step = trickle_connect_step,
    .read = trickle_read,
    .writev = trickle_writev,
    .pending = trickle_pending,
    .free = trickle_free,
};

/* An iovec over a string literal (writev does not write to it). */
#define IOV(lit)                                                                                   \
    { (void *)(lit), sizeof(lit) - 1 }

typedef struct fixture {
    trickle state;
    rk_transport *t;
    int peer; /* the socketpair's other end */
} fixture;

static int setup(void **state) {
    static fixture f;
    memset(&f, 0, sizeof(f));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    f.t = rk_transport_new(&trickle_ops, &f.state, "trickle");
    assert_non_null(f.t);
    f.t->fd = sv[0];
    f.peer = sv[1];
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    rk_transport_close(f->t);
    close(f->peer);
    return 0;
}

static void test_write_all_sends_every_byte_through_short_and_blocked_writes(void **state) {
    fixture *f = *state;
    struct iovec iov[] = {IOV("hello "), IOV(""), IOV("layered "), IOV("world")};
    assert_int_equal(rk_transport_write_all(f->t, iov, 4, rk_net_deadline(5000)), RK_OK);
    char got[32] = {0};
    assert_int_equal(read(f->peer, got, sizeof(got)), 19);
    assert_string_equal(got, "hello layered world");
    assert_true(f->state.eagains >= 4); /* it did wait and retry */
}

static void test_read_wait_returns_held_bytes_without_waiting_for_the_fd(void **state) {
    fixture *f = *state;
    memcpy(f->state.held, "+OK\r\n", 5);
    f->state.nheld = 5;
    char buf[16];
    int64_t start = rk_now_ms();
    ssize_t n = rk_transport_read_wait(f->t, buf, sizeof(buf), rk_net_deadline(5000));
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "+OK\r\n", 5);
    assert_true(rk_now_ms() - start < 2000); /* poll would have slept 5 s */
}

static void test_read_wait_times_out_when_nothing_comes(void **state) {
    fixture *f = *state;
    char buf[16];
    assert_int_equal(rk_transport_read_wait(f->t, buf, sizeof(buf), rk_net_deadline(50)),
                     RK_ETIMEOUT);
    assert_int_equal(f->state.reads, 0);
}

static void test_closed_transport_fails_without_calling_the_implementation(void **state) {
    fixture *f = *state;
    int fd = f->t->fd;
    f->t->fd = -1;
    char buf[8];
    assert_int_equal(rk_transport_read(f->t, buf, sizeof(buf)), RK_ECLOSED);
    struct iovec iov = IOV("x");
    assert_int_equal(rk_transport_writev(f->t, &iov, 1), RK_ECLOSED);
    assert_int_equal(f->state.reads + f->state.writes, 0);
    f->t->fd = fd;
}

static void test_writev_of_empty_iovecs_writes_nothing(void **state) {
    fixture *f = *state;
    struct iovec iov[] = {IOV(""), IOV("")};
    assert_int_equal(rk_transport_writev(f->t, iov, 2), 0);
    assert_int_equal(f->state.writes, 0);
}

static void test_close_frees_the_state_and_closes_the_fd(void **state) {
    fixture *f = *state;
    int fd = f->t->fd;
    rk_transport_close(f->t);
    f->t = NULL;
    assert_int_equal(f->state.frees, 1);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
}

static void test_plain_transport_stays_non_blocking_and_not_tls(void **state) {
    fixture *f = *state;
    assert_int_equal(rk_transport_set_blocking(f->t), RK_OK); /* no set_blocking: a no-op */
    assert_false(f->t->blocking);
    char buf[8];
    assert_int_equal(rk_transport_read_block(f->t, buf, sizeof(buf), -1), RK_EAGAIN);
    assert_false(rk_transport_is_tls(f->t));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_write_all_sends_every_byte_through_short_and_blocked_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_read_wait_returns_held_bytes_without_waiting_for_the_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_wait_times_out_when_nothing_comes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_closed_transport_fails_without_calling_the_implementation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writev_of_empty_iovecs_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_frees_the_state_and_closes_the_fd, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plain_transport_stays_non_blocking_and_not_tls, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
