/* The scripted fake Redis server (see rkt_fakeserver.h).
 *
 * One thread polls the listening socket, a wake-up pipe and up to
 * MAX_CLIENTS connections. Commands are parsed from each connection's
 * buffer as they complete and answered in order; the script is shared by
 * all connections, in the order commands arrive. The lock guards the
 * script, the records and the error, which the test reads meanwhile. */
#define _GNU_SOURCE

#include "rkt_fakeserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_ARGS (1L << 20)
#define MAX_ARG_LEN (512L << 20)
#define WRITE_TIMEOUT_MS 10000

typedef struct fake_step {
    int argc; /* -1: any command */
    char **argv;
    size_t *lens;
    char *reply;
    size_t reply_len;
    bool close_after;
} fake_step;

typedef struct fake_record {
    int argc;
    char **argv;
    size_t *lens;
    char *text;
} fake_record;

typedef struct fake_client {
    int fd; /* -1: free slot */
    char *buf;
    size_t len;
    size_t cap;
} fake_client;

struct rkt_fake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    fake_step *steps;
    size_t nsteps;
    size_t next_step;
    fake_record *records;
    size_t nrecords;
    char *error;
    bool no_handshake;
    bool dribble;
    int port;
    int listen_fd;
    int wake[2];
    pthread_t thread;
    bool running;
    fake_client clients[MAX_CLIENTS];
};

/* What to send for one command: bytes owned by a step or static. */
typedef struct fake_answer {
    const char *bytes;
    size_t len;
    bool close_after;
    char *owned; /* a formatted reply to free after sending, or NULL */
} fake_answer;

/* ---- Small helpers ----------------------------------------------------- */

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void free_argv(int argc, char **argv, size_t *lens) {
    for (int i = 0; i < argc && argv; i++)
        free(argv[i]);
    free(argv);
    free(lens);
}

/* Copies argc arguments; 0 on success. */
static int copy_argv(int argc, const char *const *src, const size_t *src_lens, char ***argv,
                     size_t **lens) {
    *argv = calloc((size_t)argc + 1, sizeof(char *));
    *lens = calloc((size_t)argc + 1, sizeof(size_t));
    if (*argv == NULL || *lens == NULL)
        goto fail;
    for (int i = 0; i < argc; i++) {
        (*lens)[i] = src_lens ? src_lens[i] : strlen(src[i]);
        (*argv)[i] = dup_bytes(src[i], (*lens)[i]);
        if ((*argv)[i] == NULL)
            goto fail;
    }
    return 0;
fail:
    free_argv(argc, *argv, *lens);
    *argv = NULL;
    *lens = NULL;
    return -1;
}

/* Arguments joined by spaces, other bytes than printable ASCII as \xNN. */
static char *argv_text(int argc, char *const *argv, const size_t *lens) {
    size_t size = 1;
    for (int i = 0; i < argc; i++)
        size += lens[i] * 4 + 1;
    char *text = malloc(size), *p = text;
    if (text == NULL)
        return NULL;
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            *p++ = ' ';
        for (size_t j = 0; j < lens[i]; j++) {
            unsigned char c = (unsigned char)argv[i][j];
            if (c >= 0x20 && c < 0x7f)
                *p++ = (char)c;
            else
                p += sprintf(p, "\\x%02x", c);
        }
    }
    *p = '\0';
    return text;
}

/* Records the first failure (under the lock). */
static void set_error(rkt_fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(rkt_fake *f, const char *fmt, ...) {
    if (f->error)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    f->error = strdup(msg);
}

/* ---- Command parsing --------------------------------------------------- */

/* Reads "<type><number>\r\n" at *pos. 1 done, 0 incomplete, -1 not RESP. */
static int read_header(const char *b, size_t len, size_t *pos, char type, long max, long *out) {
    size_t p = *pos;
    if (p >= len)
        return 0;
    if (b[p] != type)
        return -1;
    long v = 0;
    size_t digits = 0;
    for (p++; p < len && b[p] >= '0' && b[p] <= '9'; p++, digits++) {
        v = v * 10 + (b[p] - '0');
        if (v > max)
            return -1;
    }
    if (p + 1 >= len)
        return 0;
    if (digits == 0 || b[p] != '\r' || b[p + 1] != '\n')
        return -1;
    *pos = p + 2;
    *out = v;
    return 1;
}

/* Finds one complete command (an array of bulk strings) at the start of b.
 * Returns its length, 0 when incomplete, -1 when it is not one. */
static long scan_command(const char *b, size_t len, int *argc) {
    size_t pos = 0;
    long n, blen;
    int rc = read_header(b, len, &pos, '*', MAX_ARGS, &n);
    if (rc <= 0)
        return rc;
    if (n == 0)
        return -1;
    for (long i = 0; i < n; i++) {
        rc = read_header(b, len, &pos, '$', MAX_ARG_LEN, &blen);
        if (rc <= 0)
            return rc;
        if (len - pos < (size_t)blen + 2)
            return 0;
        pos += (size_t)blen;
        if (b[pos] != '\r' || b[pos + 1] != '\n')
            return -1;
        pos += 2;
    }
    *argc = (int)n;
    return (long)pos;
}

/* Copies the arguments of a command scan_command() accepted; 0 or -1. */
static int split_command(const char *b, int argc, char ***argv, size_t **lens) {
    const char **src = calloc((size_t)argc, sizeof(char *));
    size_t *src_lens = calloc((size_t)argc, sizeof(size_t));
    if (src == NULL || src_lens == NULL) {
        free(src);
        free(src_lens);
        return -1;
    }
    const char *p = strchr(b, '\n') + 1;
    for (int i = 0; i < argc; i++) {
        src_lens[i] = (size_t)strtol(p + 1, NULL, 10);
        p = strchr(p, '\n') + 1;
        src[i] = p;
        p += src_lens[i] + 2;
    }
    int rc = copy_argv(argc, src, src_lens, argv, lens);
    free(src);
    free(src_lens);
    return rc;
}

/* ---- Answers ----------------------------------------------------------- */

static const char hello3[] =
    "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
    "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n"
    "$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "$7\r\nmodules\r\n*0\r\n";
static const char hello2[] =
    "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
    "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n"
    "$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "$7\r\nmodules\r\n*0\r\n";

static bool arg_is(const char *arg, size_t len, const char *word) {
    return len == strlen(word) && strncasecmp(arg, word, len) == 0;
}

static bool is_handshake(char *const *argv, const size_t *lens) {
    static const char *const names[] = {"HELLO", "AUTH", "SELECT", "CLIENT", "COMMAND", "PING"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (arg_is(argv[0], lens[0], names[i]))
            return true;
    return false;
}

static void answer_static(fake_answer *a, const char *bytes, size_t len) {
    a->bytes = bytes;
    a->len = len;
}

/* The automatic answer to a handshake command. */
static void answer_handshake(int argc, char *const *argv, const size_t *lens, fake_answer *a) {
    static const char noproto[] = "-NOPROTO unsupported protocol version\r\n";
    if (arg_is(argv[0], lens[0], "HELLO")) {
        if (argc < 2 || arg_is(argv[1], lens[1], "2"))
            answer_static(a, hello2, sizeof(hello2) - 1);
        else if (arg_is(argv[1], lens[1], "3"))
            answer_static(a, hello3, sizeof(hello3) - 1);
        else
            answer_static(a, noproto, sizeof(noproto) - 1);
    } else if (arg_is(argv[0], lens[0], "PING") && argc > 1) {
        a->owned = malloc(lens[1] + 32);
        if (a->owned == NULL)
            return;
        int n = sprintf(a->owned, "$%zu\r\n", lens[1]);
        memcpy(a->owned + n, argv[1], lens[1]);
        memcpy(a->owned + n + lens[1], "\r\n", 2);
        answer_static(a, a->owned, (size_t)n + lens[1] + 2);
    } else if (arg_is(argv[0], lens[0], "PING")) {
        answer_static(a, "+PONG\r\n", 7);
    } else if (arg_is(argv[0], lens[0], "COMMAND")) {
        answer_static(a, "*0\r\n", 4);
    } else {
        answer_static(a, "+OK\r\n", 5);
    }
}

static bool step_matches(const fake_step *s, int argc, char *const *argv, const size_t *lens) {
    if (s->argc < 0)
        return true;
    if (s->argc != argc || s->lens[0] != lens[0] || strncasecmp(s->argv[0], argv[0], lens[0]))
        return false;
    for (int i = 1; i < argc; i++)
        if (s->lens[i] != lens[i] || memcmp(s->argv[i], argv[i], lens[i]) != 0)
            return false;
    return true;
}

/* Whether the next step names this command explicitly. */
static bool next_step_expects(rkt_fake *f, char *const *argv, const size_t *lens) {
    if (f->next_step >= f->nsteps)
        return false;
    const fake_step *s = &f->steps[f->next_step];
    return s->argc > 0 && s->lens[0] == lens[0] && !strncasecmp(s->argv[0], argv[0], lens[0]);
}

static void answer_error(fake_answer *a, const char *what, const char *text) {
    a->owned = malloc(strlen(what) + strlen(text) + 32);
    if (a->owned == NULL)
        return;
    int n = sprintf(a->owned, "-ERR rkt_fake: %s '%s'\r\n", what, text);
    answer_static(a, a->owned, (size_t)n);
}

/* Decides the answer to a recorded command (under the lock). */
static void answer_command(rkt_fake *f, const fake_record *rec, fake_answer *a) {
    if (!f->no_handshake && is_handshake(rec->argv, rec->lens) &&
        !next_step_expects(f, rec->argv, rec->lens)) {
        answer_handshake(rec->argc, rec->argv, rec->lens, a);
        return;
    }
    if (f->next_step >= f->nsteps) {
        set_error(f, "command after the end of the script: '%s'", rec->text);
        answer_error(a, "no step left for", rec->text);
        return;
    }
    const fake_step *s = &f->steps[f->next_step++];
    pthread_cond_broadcast(&f->cond);
    if (!step_matches(s, rec->argc, rec->argv, rec->lens)) {
        char *want = argv_text(s->argc, s->argv, s->lens);
        set_error(f, "step %zu expected '%s', got '%s'", f->next_step - 1, want ? want : "?",
                  rec->text);
        free(want);
        answer_error(a, "unexpected command", rec->text);
        return;
    }
    answer_static(a, s->reply, s->reply_len);
    a->close_after = s->close_after;
}

/* ---- Connections ------------------------------------------------------- */

static void client_close(fake_client *c) {
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    *c = (fake_client){.fd = -1};
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, WRITE_TIMEOUT_MS) <= 0)
                return -1;
            continue;
        }
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends buf one byte per write, each pushed out at once (TCP_NODELAY)
 * after a pause, so that the client reads the bytes one by one. */
static int dribble_all(int fd, const char *buf, size_t len) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; i < len; i++) {
        if (write_all(fd, buf + i, 1) != 0)
            return -1;
        nanosleep(&(struct timespec){.tv_nsec = RKT_FAKE_DRIBBLE_US * 1000L}, NULL);
    }
    return 0;
}

/* Records one command; NULL when out of memory. */
static fake_record *record_command(rkt_fake *f, const char *frame, int argc) {
    fake_record rec = {.argc = argc};
    if (split_command(frame, argc, &rec.argv, &rec.lens) != 0)
        return NULL;
    rec.text = argv_text(argc, rec.argv, rec.lens);
    fake_record *grown = realloc(f->records, (f->nrecords + 1) * sizeof(*grown));
    if (rec.text == NULL || grown == NULL) {
        free(rec.text);
        free_argv(argc, rec.argv, rec.lens);
        if (grown)
            f->records = grown;
        return NULL;
    }
    f->records = grown;
    f->records[f->nrecords] = rec;
    return &f->records[f->nrecords++];
}

/* Answers one command; returns false when the connection must close. */
static bool serve_command(rkt_fake *f, fake_client *c, const char *frame, int argc) {
    fake_answer a = {0};
    pthread_mutex_lock(&f->lock);
    const fake_record *rec = record_command(f, frame, argc);
    if (rec)
        answer_command(f, rec, &a);
    else
        set_error(f, "out of memory recording a command");
    pthread_mutex_unlock(&f->lock);
    int (*send_fn)(int, const char *, size_t) = f->dribble ? dribble_all : write_all;
    bool ok = rec != NULL && (a.len == 0 || send_fn(c->fd, a.bytes, a.len) == 0);
    free(a.owned);
    return ok && !a.close_after;
}

/* Answers every complete command in the buffer; false to close. */
static bool serve_buffer(rkt_fake *f, fake_client *c) {
    size_t off = 0;
    bool open = true;
    while (open && off < c->len) {
        int argc = 0;
        long n = scan_command(c->buf + off, c->len - off, &argc);
        if (n == 0)
            break;
        if (n < 0) {
            pthread_mutex_lock(&f->lock);
            set_error(f, "a client sent bytes that are not a RESP command");
            pthread_mutex_unlock(&f->lock);
            return false;
        }
        open = serve_command(f, c, c->buf + off, argc);
        off += (size_t)n;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return open;
}

/* Reads what the client sent and answers it; false to close. */
static bool client_readable(rkt_fake *f, fake_client *c) {
    if (c->cap - c->len < 4096 + 1) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *buf = realloc(c->buf, cap);
        if (buf == NULL)
            return false;
        c->buf = buf;
        c->cap = cap;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return serve_buffer(f, c);
}

static void accept_client(rkt_fake *f) {
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (f->clients[i].fd < 0) {
            f->clients[i].fd = fd;
            return;
        }
    }
    close(fd);
}

static void *server_main(void *arg) {
    rkt_fake *f = arg;
    for (;;) {
        struct pollfd p[MAX_CLIENTS + 2] = {{.fd = f->wake[0], .events = POLLIN},
                                            {.fd = f->listen_fd, .events = POLLIN}};
        for (int i = 0; i < MAX_CLIENTS; i++)
            p[i + 2] = (struct pollfd){.fd = f->clients[i].fd, .events = POLLIN};
        if (poll(p, MAX_CLIENTS + 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (p[1].revents & POLLIN)
            accept_client(f);
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (p[i + 2].revents && f->clients[i].fd == p[i + 2].fd &&
                !client_readable(f, &f->clients[i]))
                client_close(&f->clients[i]);
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        client_close(&f->clients[i]);
    return NULL;
}

/* ---- Public API -------------------------------------------------------- */

static int listen_loopback(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int init_sync(rkt_fake *f) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&f->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    return pthread_mutex_init(&f->lock, NULL) != 0 ? -1 : 0;
}

rkt_fake *rkt_fake_start(const rkt_fake_step *steps, size_t n, const rkt_fake_opts *opts) {
    rkt_fake *f = calloc(1, sizeof(*f));
    if (f == NULL || init_sync(f) != 0) {
        fprintf(stderr, "rkt_fake_start: out of memory\n");
        free(f);
        return NULL;
    }
    f->no_handshake = opts && opts->no_handshake;
    f->dribble = opts && opts->dribble;
    f->listen_fd = -1;
    f->wake[0] = f->wake[1] = -1;
    for (int i = 0; i < MAX_CLIENTS; i++)
        f->clients[i].fd = -1;
    for (size_t i = 0; i < n; i++) {
        if (rkt_fake_add(f, &steps[i]) != 0) {
            fprintf(stderr, "rkt_fake_start: out of memory\n");
            rkt_fake_free(f);
            return NULL;
        }
    }
    f->listen_fd = listen_loopback(&f->port);
    if (f->listen_fd < 0 || pipe2(f->wake, O_CLOEXEC) != 0 ||
        pthread_create(&f->thread, NULL, server_main, f) != 0) {
        fprintf(stderr, "rkt_fake_start: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        rkt_fake_free(f);
        return NULL;
    }
    f->running = true;
    return f;
}

static int expect_count(const rkt_fake_step *step) {
    if (step->expect == NULL)
        return -1;
    if (step->expect_argc > 0)
        return step->expect_argc;
    int n = 0;
    while (step->expect[n])
        n++;
    return n;
}

int rkt_fake_add(rkt_fake *f, const rkt_fake_step *step) {
    fake_step s = {.argc = expect_count(step), .close_after = step->close_after};
    s.reply_len = step->reply ? (step->reply_len ? step->reply_len : strlen(step->reply)) : 0;
    s.reply = dup_bytes(step->reply ? step->reply : "", s.reply_len);
    if (s.reply == NULL ||
        (s.argc > 0 && copy_argv(s.argc, step->expect, step->expect_lens, &s.argv, &s.lens))) {
        free(s.reply);
        return -1;
    }
    pthread_mutex_lock(&f->lock);
    fake_step *grown = realloc(f->steps, (f->nsteps + 1) * sizeof(*grown));
    if (grown) {
        f->steps = grown;
        f->steps[f->nsteps++] = s;
    }
    pthread_mutex_unlock(&f->lock);
    if (grown == NULL) {
        free(s.reply);
        free_argv(s.argc, s.argv, s.lens);
        return -1;
    }
    return 0;
}

int rkt_fake_port(const rkt_fake *f) {
    return f->port;
}

bool rkt_fake_wait_done(rkt_fake *f, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    while (f->next_step < f->nsteps && rc == 0)
        rc = pthread_cond_timedwait(&f->cond, &f->lock, &deadline);
    bool done = f->next_step >= f->nsteps;
    pthread_mutex_unlock(&f->lock);
    return done;
}

size_t rkt_fake_steps_left(rkt_fake *f) {
    pthread_mutex_lock(&f->lock);
    size_t left = f->nsteps - f->next_step;
    pthread_mutex_unlock(&f->lock);
    return left;
}

const char *rkt_fake_error(rkt_fake *f) {
    pthread_mutex_lock(&f->lock);
    const char *error = f->error;
    pthread_mutex_unlock(&f->lock);
    return error;
}

size_t rkt_fake_commands(rkt_fake *f) {
    pthread_mutex_lock(&f->lock);
    size_t n = f->nrecords;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const char *rkt_fake_command(rkt_fake *f, size_t i) {
    pthread_mutex_lock(&f->lock);
    const char *text = i < f->nrecords ? f->records[i].text : NULL;
    pthread_mutex_unlock(&f->lock);
    return text;
}

int rkt_fake_argv(rkt_fake *f, size_t i, const char *const **argv, const size_t **lens) {
    pthread_mutex_lock(&f->lock);
    int argc = -1;
    if (i < f->nrecords) {
        argc = f->records[i].argc;
        *argv = (const char *const *)f->records[i].argv;
        *lens = f->records[i].lens;
    }
    pthread_mutex_unlock(&f->lock);
    return argc;
}

void rkt_fake_stop(rkt_fake *f) {
    if (f == NULL)
        return;
    if (f->running) {
        while (write(f->wake[1], "x", 1) < 0 && errno == EINTR) {
        }
        pthread_join(f->thread, NULL);
        f->running = false;
    }
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    for (int i = 0; i < 2; i++)
        if (f->wake[i] >= 0)
            close(f->wake[i]);
    f->listen_fd = f->wake[0] = f->wake[1] = -1;
}

void rkt_fake_free(rkt_fake *f) {
    if (f == NULL)
        return;
    rkt_fake_stop(f);
    for (size_t i = 0; i < f->nsteps; i++) {
        free(f->steps[i].reply);
        free_argv(f->steps[i].argc, f->steps[i].argv, f->steps[i].lens);
    }
    for (size_t i = 0; i < f->nrecords; i++) {
        free(f->records[i].text);
        free_argv(f->records[i].argc, f->records[i].argv, f->records[i].lens);
    }
    free(f->steps);
    free(f->records);
    free(f->error);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
}
