/* Starts and stops real redis-server / redis-sentinel processes for tests.
 *
 * Each server runs in its own process group with PR_SET_PDEATHSIG, in a
 * fresh "rkt-XXXXXX" temp dir. A registry of running servers, walked by an
 * atexit handler and by SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGABRT handlers
 * (with syscalls only), stops whatever a failing test left running.
 * Also here: the raw RESP helpers and the cluster / sentinel helpers. */
#define _GNU_SOURCE

#include "rkt_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_MS 10000
#define START_ATTEMPTS 5
#define MAX_CMD_ARGS 64

/* ---- Small helpers ----------------------------------------------------- */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Async-signal-safe (nanosleep), so the signal handler may use it. */
static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* snprintf that reports truncation: 0, or -1 when out was too small. */
static int fmt(char *out, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static int fmt(char *out, size_t size, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(out, size, format, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int remaining_ms(long long deadline) {
    long long left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

/* ---- Programs ---------------------------------------------------------- */

static bool is_executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Looks name up on PATH like execvp() would, into out. */
static bool find_binary(const char *name, char *out, size_t size) {
    if (strchr(name, '/'))
        return fmt(out, size, "%s", name) == 0 && is_executable_file(out);
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n == 0) {
            if (fmt(out, size, "./%s", name) == 0 && is_executable_file(out))
                return true;
        } else if (fmt(out, size, "%.*s/%s", (int)n, path, name) == 0 && is_executable_file(out)) {
            return true;
        }
        if (!end)
            break;
        path = end + 1;
    }
    return false;
}

bool rkt_have_binary(const char *name) {
    char path[RKT_PATH_MAX];
    return find_binary(name, path, sizeof path);
}

bool rkt_require_binaries(const char *first, ...) {
    char missing[256] = "";
    size_t used = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *name = first; name; name = va_arg(ap, const char *)) {
        if (!rkt_have_binary(name) && used < sizeof missing)
            used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                     used ? ", " : "", name);
    }
    va_end(ap);
    if (!missing[0])
        return true;
    char what[300];
    snprintf(what, sizeof what, "%s not found on PATH", missing);
    rkt_skip_missing(what);
    return false;
}

bool rkt_have_ipv6_loopback(void) {
    static int cached = -1; /* benign race: every thread computes the same */
    if (cached >= 0)
        return cached == 1;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    cached = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return cached == 1;
}

const char *rkt_server_bind_addrs(void) {
    return rkt_have_ipv6_loopback() ? "127.0.0.1 ::1" : "127.0.0.1";
}

/* ---- Processes ---------------------------------------------------------- */

/* Forks and execs path with argv in a new process group that dies with the
 * forking thread. Between fork and exec the child calls only
 * async-signal-safe functions, since other threads (a proxy) may run. */
static pid_t spawn(const char *path, char *const argv[], const char *out_path) {
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out =
        open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) {
        fprintf(stderr, "rkt: cannot open %s: %s\n", out_path ? out_path : "/dev/null",
                strerror(errno));
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); /* the parent died before prctl took effect */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        const int reset[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
        for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
            signal(reset[i], SIG_DFL);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
            for (int fd = 3; fd < 4096; fd++)
                close(fd);
        }
        execv(path, argv);
        _exit(127);
    }
    int saved = errno;
    close(in);
    close(out);
    if (pid < 0) {
        fprintf(stderr, "rkt: fork: %s\n", strerror(saved));
        return -1;
    }
    setpgid(pid, pid); /* also here, so no signal can race the child's call */
    return pid;
}

/* True once pid has exited (or is not our child). Does not reap it, so its
 * pid and process group id cannot be reused until we do. */
static bool has_exited(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == pid;
}

static bool wait_exited(pid_t pid, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    while (!has_exited(pid)) {
        if (now_ms() >= deadline)
            return false;
        sleep_ms(5);
    }
    return true;
}

/* Ends pid and its process group: SIGTERM and up to grace_ms to exit
 * (grace_ms 0 = SIGKILL at once), then SIGKILL to the whole group (a
 * server's BGSAVE child, say), then reaps it. */
static void end_process(pid_t pid, int grace_ms) {
    if (pid <= 0)
        return;
    kill(pid, SIGCONT);
    if (grace_ms > 0) {
        kill(pid, SIGTERM);
        if (!wait_exited(pid, grace_ms))
            fprintf(stderr, "rkt: pid %d ignored SIGTERM for %d ms; killing\n", (int)pid, grace_ms);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    if (!wait_exited(pid, STOP_GRACE_MS))
        fprintf(stderr, "rkt: pid %d survived SIGKILL\n", (int)pid);
    waitpid(pid, NULL, WNOHANG);
}

int rkt_run(const char *const *argv, const char *out_path, int timeout_ms) {
    char path[RKT_PATH_MAX];
    if (!argv || !argv[0] || !find_binary(argv[0], path, sizeof path)) {
        fprintf(stderr, "rkt: %s not found on PATH\n", argv && argv[0] ? argv[0] : "(null)");
        return -1;
    }
    pid_t pid = spawn(path, (char *const *)argv, out_path);
    if (pid < 0)
        return -1;
    if (!wait_exited(pid, timeout_ms > 0 ? timeout_ms : 30000)) {
        fprintf(stderr, "rkt: %s timed out; killed\n", argv[0]);
        end_process(pid, 0);
        return -1;
    }
    int status = 0;
    kill(-pid, SIGKILL); /* anything it left behind in its group */
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ---- Temp dirs ---------------------------------------------------------- */

/* Removes name (relative to dir_fd) and, for a directory, what it holds,
 * `depth` levels deep. Syscalls only: the signal handlers call it. */
static void remove_at(int dir_fd, const char *name, int depth) {
    if (unlinkat(dir_fd, name, 0) == 0 || errno != EISDIR || depth < 0)
        return;
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    /* Entries removed during a pass may hide others; rescan a few times. */
    for (int pass = 0; pass < 8; pass++) {
        bool removed = false;
        lseek(fd, 0, SEEK_SET);
        for (int chunk = 0; chunk < 1024; chunk++) {
            _Alignas(struct dirent64) char buf[4096];
            ssize_t n = getdents64(fd, buf, sizeof buf);
            if (n <= 0)
                break;
            for (ssize_t off = 0; off < n;) {
                struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
                off += d->d_reclen;
                if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                    continue;
                remove_at(fd, d->d_name, depth - 1);
                removed = true;
            }
        }
        if (!removed)
            break;
    }
    close(fd);
    unlinkat(dir_fd, name, AT_REMOVEDIR);
}

/* Removes a temp dir this file made; refuses anything not named rkt-*. */
static void remove_temp_dir(const char *dir) {
    const char *base = strrchr(dir, '/');
    if (!base || strncmp(base + 1, "rkt-", 4) != 0)
        return;
    remove_at(AT_FDCWD, dir, 4);
}

/* mkdtemp under $TMPDIR (when short enough for unix socket paths) or /tmp. */
static int make_temp_dir(char *out, size_t size) {
    const char *base = getenv("TMPDIR");
    if (!base || base[0] != '/' || strlen(base) > 60)
        base = "/tmp";
    if (fmt(out, size, "%s/rkt-XXXXXX", base) < 0 || !mkdtemp(out)) {
        fprintf(stderr, "rkt: mkdtemp in %s: %s\n", base, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- Registry of running servers ---------------------------------------
 *
 * Invariant: a used slot names a temp dir this process (owner) made and,
 * when pid > 0, the server process (group leader) running in it. Slots
 * are written under reg_lock; the signal handlers read them without it.
 * The owner check keeps a forked child from stopping its parent's servers
 * when it exits. */

#define REG_SLOTS 128

typedef struct reg_slot {
    volatile sig_atomic_t used;
    volatile pid_t pid;
    pid_t owner;
    char dir[RKT_PATH_MAX];
} reg_slot;

static reg_slot reg[REG_SLOTS];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool reg_hooks_installed;

static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT};
#define N_FATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction old_actions[N_FATAL];

/* Kills and removes everything this process registered. Async-signal-safe:
 * no locks, no stdio, no malloc. */
static void reg_cleanup(void) {
    pid_t self = getpid();
    for (int i = 0; i < REG_SLOTS; i++) {
        reg_slot *s = &reg[i];
        if (!s->used || s->owner != self)
            continue;
        pid_t pid = s->pid;
        if (pid > 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            for (int t = 0; t < 200 && !has_exited(pid); t++)
                sleep_ms(5);
            waitpid(pid, NULL, WNOHANG);
        }
        remove_temp_dir(s->dir);
        s->pid = 0;
        s->used = 0;
    }
}

static void on_exit_cleanup(void) {
    reg_cleanup();
}

static void on_fatal_signal(int sig) {
    int saved_errno = errno;
    reg_cleanup();
    for (size_t i = 0; i < N_FATAL; i++) {
        if (fatal_signals[i] == sig)
            sigaction(sig, &old_actions[i], NULL);
    }
    errno = saved_errno;
    raise(sig); /* delivered with the previous action once we return */
}

static void reg_install_hooks(void) {
    if (reg_hooks_installed)
        return;
    reg_hooks_installed = true;
    atexit(on_exit_cleanup);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < N_FATAL; i++) {
        sigaction(fatal_signals[i], NULL, &old_actions[i]);
        bool ignored =
            !(old_actions[i].sa_flags & SA_SIGINFO) && old_actions[i].sa_handler == SIG_IGN;
        if (!ignored) /* e.g. SIGINT in a background job: it cannot kill us */
            sigaction(fatal_signals[i], &sa, NULL);
    }
}

/* Returns slot index + 1, or 0 when the registry is full. */
static int reg_add(const char *dir) {
    int result = 0;
    pthread_mutex_lock(&reg_lock);
    reg_install_hooks();
    for (int i = 0; i < REG_SLOTS; i++) {
        if (reg[i].used)
            continue;
        reg[i].pid = 0;
        reg[i].owner = getpid();
        fmt(reg[i].dir, sizeof reg[i].dir, "%s", dir);
        reg[i].used = 1;
        result = i + 1;
        break;
    }
    pthread_mutex_unlock(&reg_lock);
    if (!result)
        fprintf(stderr, "rkt: more than %d servers at once\n", REG_SLOTS);
    return result;
}

static reg_slot *reg_get(const rkt_server *srv) {
    if (srv->slot <= 0 || srv->slot > REG_SLOTS)
        return NULL;
    reg_slot *s = &reg[srv->slot - 1];
    if (!s->used || s->owner != getpid() || strcmp(s->dir, srv->dir) != 0)
        return NULL;
    return s;
}

static void reg_set_pid(const rkt_server *srv, pid_t pid) {
    pthread_mutex_lock(&reg_lock);
    reg_slot *s = reg_get(srv);
    if (s)
        s->pid = pid;
    pthread_mutex_unlock(&reg_lock);
}

static void reg_remove(const rkt_server *srv) {
    pthread_mutex_lock(&reg_lock);
    reg_slot *s = reg_get(srv);
    if (s) {
        s->pid = 0;
        s->used = 0;
    }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- Ports -------------------------------------------------------------- */

static bool port_free_on(int family, int port) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int rc;
    if (family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                                 .sin6_port = htons((uint16_t)port),
                                 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    close(fd);
    return rc == 0;
}

int rkt_free_port(void) {
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        int port = -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
            port = ntohs(a.sin_port);
        close(fd);
        if (port <= 0)
            return -1;
        if (!rkt_have_ipv6_loopback() || port_free_on(AF_INET6, port))
            return port;
    }
    return -1;
}

/* ---- Raw RESP ----------------------------------------------------------- */

static int parse_ll(const char *s, size_t n, long long *out) {
    if (n == 0 || n > 20)
        return -1;
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg && n == 1)
        return -1;
    long long v = 0;
    for (i = neg ? 1 : 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* Scans one reply at *pos. Returns 1 (and moves *pos past it), 0 when
 * incomplete, -1 when not RESP. */
static int scan_reply(const char *b, size_t len, size_t *pos, int depth) {
    if (depth > 64)
        return -1;
    if (*pos >= len)
        return 0;
    const char *start = b + *pos + 1;
    const char *cr = memchr(start, '\r', len - *pos - 1);
    if (!cr || (size_t)(cr - b) + 1 >= len)
        return len - *pos > (1u << 20) ? -1 : 0;
    if (cr[1] != '\n')
        return -1;
    char type = b[*pos];
    size_t line_len = (size_t)(cr - start);
    *pos = (size_t)(cr - b) + 2;
    long long n = 0;
    switch (type) {
    case '+':
    case '-':
    case ':':
    case ',':
    case '#':
    case '(':
    case '_': return 1;
    case '$':
    case '!':
    case '=':
        if (parse_ll(start, line_len, &n) < 0 || n < -1 || (n == -1 && type != '$'))
            return -1;
        if (n == -1)
            return 1;
        if ((unsigned long long)n + 2 > len - *pos)
            return 0;
        if (b[*pos + (size_t)n] != '\r' || b[*pos + (size_t)n + 1] != '\n')
            return -1;
        *pos += (size_t)n + 2;
        return 1;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
        if (parse_ll(start, line_len, &n) < 0 || n < -1 || (n == -1 && type != '*'))
            return -1;
        for (long long i = 0; i < (type == '%' || type == '|' ? 2 * n : n); i++) {
            int r = scan_reply(b, len, pos, depth + 1);
            if (r != 1)
                return r;
        }
        /* An attribute map comes before the reply it annotates. */
        return type == '|' ? scan_reply(b, len, pos, depth + 1) : 1;
    default: return -1;
    }
}

long rkt_resp_reply_len(const char *buf, size_t len) {
    size_t pos = 0;
    int r = scan_reply(buf, len, &pos, 0);
    return r == 1 ? (long)pos : r;
}

/* Reads a scalar element at *pos into (s, n); aggregates are skipped and
 * give n == SIZE_MAX. Returns 1, 0 at the end or on bad data. */
static int next_scalar(const char *b, size_t len, size_t *pos, const char **s, size_t *n) {
    size_t start = *pos;
    if (scan_reply(b, len, pos, 0) != 1)
        return 0;
    const char *cr = memchr(b + start, '\r', *pos - start);
    *n = SIZE_MAX;
    switch (b[start]) {
    case '$':
    case '=':
    case '!':
        *s = cr + 2;
        *n = b + *pos - 2 - *s;
        if (b[start + 1] == '-')
            *n = SIZE_MAX;
        break;
    case '+':
    case ':':
    case ',':
    case '(':
    case '#':
        *s = b + start + 1;
        *n = (size_t)(cr - *s);
        break;
    default: break;
    }
    return 1;
}

int rkt_resp_field(const char *reply, const char *field, char *out, size_t out_size) {
    size_t len = strlen(reply), pos = 0;
    if (len < 4 || (reply[0] != '*' && reply[0] != '%'))
        return -1;
    const char *cr = strstr(reply, "\r\n");
    long long count;
    if (!cr || parse_ll(reply + 1, (size_t)(cr - reply - 1), &count) < 0)
        return -1;
    pos = (size_t)(cr - reply) + 2;
    if (reply[0] == '*')
        count /= 2;
    for (long long i = 0; i < count; i++) {
        const char *k = NULL, *v = NULL;
        size_t kn = 0, vn = 0;
        if (!next_scalar(reply, len, &pos, &k, &kn) || !next_scalar(reply, len, &pos, &v, &vn))
            return -1;
        if (kn != strlen(field) || memcmp(k, field, kn) != 0 || vn == SIZE_MAX)
            continue;
        if (vn >= out_size)
            return -1;
        memcpy(out, v, vn);
        out[vn] = '\0';
        return 0;
    }
    return -1;
}

static int set_blocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

/* Non-blocking connect bounded by timeout_ms; the fd returned blocks. */
static int connect_addr(const struct sockaddr *sa, socklen_t salen, int timeout_ms) {
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, sa, salen) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t elen = sizeof err;
        if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
            err) {
            close(fd);
            return -1;
        }
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (set_blocking(fd) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int rkt_raw_connect(const char *host, int port, int timeout_ms) {
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_addr(ai->ai_addr, ai->ai_addrlen, timeout_ms);
    freeaddrinfo(res);
    return fd;
}

int rkt_raw_connect_unix(const char *path, int timeout_ms) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, path);
    return connect_addr((struct sockaddr *)&a, sizeof a, timeout_ms);
}

static int wait_fd(int fd, short events, long long deadline) {
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r > 0)
            return 0;
        if (r == 0 || errno != EINTR)
            return -1;
    }
}

static int write_all(int fd, const char *buf, size_t len, long long deadline) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

char *rkt_resp_encode(int argc, const char *const *argv, const size_t *lens, size_t *out_len) {
    size_t total = 32;
    for (int i = 0; i < argc; i++)
        total += (lens ? lens[i] : strlen(argv[i])) + 32;
    char *buf = malloc(total);
    if (!buf)
        return NULL;
    size_t off = (size_t)sprintf(buf, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        off += (size_t)sprintf(buf + off, "$%zu\r\n", n);
        memcpy(buf + off, argv[i], n);
        memcpy(buf + off + n, "\r\n", 2);
        off += n + 2;
    }
    *out_len = off;
    return buf;
}

int rkt_raw_send(int fd, int argc, const char *const *argv, const size_t *lens, int timeout_ms) {
    size_t len;
    char *buf = rkt_resp_encode(argc, argv, lens, &len);
    if (!buf)
        return -1;
    int rc = write_all(fd, buf, len, now_ms() + timeout_ms);
    free(buf);
    return rc;
}

/* Peeks until a whole reply is queued, then consumes exactly that many
 * bytes, so that whatever follows stays on the socket. */
char *rkt_raw_read_reply(int fd, int timeout_ms, size_t *len) {
    long long deadline = now_ms() + timeout_ms;
    size_t cap = 4096;
    char *buf = malloc(cap + 1);
    while (buf) {
        ssize_t n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        long r = n > 0 ? rkt_resp_reply_len(buf, (size_t)n) : 0;
        if (r < 0)
            break;
        if (r > 0) {
            if (recv(fd, buf, (size_t)r, MSG_WAITALL) != r)
                break;
            buf[r] = '\0';
            if (len)
                *len = (size_t)r;
            return buf;
        }
        if ((size_t)n == cap) {
            char *bigger = cap < (1u << 30) ? realloc(buf, cap * 2 + 1) : NULL;
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
            continue;
        }
        if (now_ms() >= deadline)
            break;
        if (n < 0) {
            wait_fd(fd, POLLIN, deadline);
            continue;
        }
        /* A partial reply is queued: poll would not block; stop on EOF. */
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            break;
        sleep_ms(1);
    }
    free(buf);
    return NULL;
}

char *rkt_raw_command(int fd, int timeout_ms, size_t *len, int argc, const char *const *argv) {
    if (rkt_raw_send(fd, argc, argv, NULL, timeout_ms) < 0)
        return NULL;
    return rkt_raw_read_reply(fd, timeout_ms, len);
}

static int ping_fd(int fd, int timeout_ms) {
    if (fd < 0)
        return -1;
    const char *argv[] = {"PING"};
    char *reply = rkt_raw_command(fd, timeout_ms, NULL, 1, argv);
    int rc = reply && strcmp(reply, "+PONG\r\n") == 0 ? 0 : -1;
    free(reply);
    close(fd);
    return rc;
}

int rkt_raw_ping(const char *host, int port, int timeout_ms) {
    return ping_fd(rkt_raw_connect(host, port, timeout_ms), timeout_ms);
}

int rkt_raw_ping_unix(const char *path, int timeout_ms) {
    return ping_fd(rkt_raw_connect_unix(path, timeout_ms), timeout_ms);
}

/* ---- Servers ------------------------------------------------------------ */

static void put_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_option(FILE *f, const char *name, const char *value) {
    fprintf(f, "%s ", name);
    put_quoted(f, value);
    fputc('\n', f);
}

static int write_conf(const rkt_server *srv, const rkt_server_opts *o) {
    FILE *f = fopen(srv->conf_path, "w");
    if (!f) {
        fprintf(stderr, "rkt: %s: %s\n", srv->conf_path, strerror(errno));
        return -1;
    }
    fprintf(f, "# written by rkt_server_start()\n");
    fprintf(f, "daemonize no\nbind %s\nport %d\nprotected-mode no\n", rkt_server_bind_addrs(),
            srv->port);
    put_option(f, "dir", srv->dir);
    put_option(f, "logfile", srv->log_path);
    fprintf(f, "save \"\"\nappendonly no\n");
    if (srv->unix_path[0]) {
        put_option(f, "unixsocket", srv->unix_path);
        fprintf(f, "unixsocketperm 700\n");
    }
    if (srv->tls_port) {
        fprintf(f, "tls-port %d\n", srv->tls_port);
        put_option(f, "tls-cert-file", srv->tls.server_cert);
        put_option(f, "tls-key-file", srv->tls.server_key);
        put_option(f, "tls-ca-cert-file", srv->tls.ca_cert);
        fprintf(f, "tls-auth-clients %s\n", srv->tls_auth_clients ? "yes" : "no");
    }
    if (srv->password[0])
        put_option(f, "requirepass", srv->password);
    if (srv->cluster_port) {
        fprintf(f,
                "cluster-enabled yes\ncluster-config-file nodes.conf\n"
                "cluster-port %d\ncluster-node-timeout 5000\n",
                srv->cluster_port);
    }
    for (const char *const *u = o->acl_users; u && *u; u++)
        fprintf(f, "%s\n", *u);
    for (const char *const *c = o->config; c && *c; c++)
        fprintf(f, "%s\n", *c);
    return fclose(f) == 0 ? 0 : -1;
}

static void truncate_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
}

static bool file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void rkt_print_tail(const char *path, size_t max_bytes) {
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size > (long)max_bytes)
        fseek(f, size - (long)max_bytes, SEEK_SET);
    else
        rewind(f);
    fprintf(stderr, "---- %s ----\n", path);
    char chunk[512];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, stderr);
    fprintf(stderr, "---- end ----\n");
    fclose(f);
}

/* True when the server answers anything but -LOADING on its first
 * listener: a -NOAUTH answer means it is up too. */
/* Finds the inodes of the IPv4 sockets listening on port in this network
 * namespace. Returns how many it stored in inodes (at most max). */
static int listening_inodes(pid_t pid, int port, unsigned long *inodes, int max) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/net/tcp", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        unsigned int lport, state;
        unsigned long inode;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &state,
                   &inode) == 3 &&
            (int)lport == port && state == 0x0A /* TCP_LISTEN */)
            inodes[n++] = inode;
    }
    fclose(f);
    return n;
}

/* True when process pid itself holds a socket listening on 127.0.0.1:port,
 * so that an answer on that port is its answer and not that of some other
 * server which took the port first (ours then fails to bind and exits). */
static bool listens_on(pid_t pid, int port) {
    unsigned long inodes[16];
    int n = listening_inodes(pid, port, inodes, 16);
    char dir_path[64];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", (int)pid);
    DIR *dir = n > 0 ? opendir(dir_path) : NULL;
    if (!dir)
        return false;
    bool found = false;
    for (struct dirent *d; !found && (d = readdir(dir));) {
        char target[64];
        ssize_t len = readlinkat(dirfd(dir), d->d_name, target, sizeof target - 1);
        unsigned long inode;
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &inode) != 1)
            continue;
        for (int i = 0; i < n; i++)
            found = found || inodes[i] == inode;
    }
    closedir(dir);
    return found;
}

static bool server_answers(const rkt_server *srv) {
    const char *argv[] = {"PING"};
    char *reply = NULL;
    int tcp_port = srv->port ? srv->port : srv->unix_path[0] ? 0 : srv->tls_port;
    if (tcp_port && !listens_on(srv->pid, tcp_port))
        return false;
    if (srv->port || srv->unix_path[0]) {
        int fd = srv->port ? rkt_raw_connect("127.0.0.1", srv->port, 500)
                           : rkt_raw_connect_unix(srv->unix_path, 500);
        if (fd < 0)
            return false;
        reply = rkt_raw_command(fd, 1000, NULL, 1, argv);
        close(fd);
    } else {
        rkt_tls_client_opts o = {.ca_file = srv->tls.ca_cert, .timeout_ms = 1000};
        if (srv->tls_auth_clients) {
            o.cert_file = srv->tls.client_cert;
            o.key_file = srv->tls.client_key;
        }
        rkt_tls_command("127.0.0.1", srv->tls_port, &o, 1, argv, &reply, NULL, NULL, 0);
    }
    bool up = reply && strncmp(reply, "-LOADING", 8) != 0;
    free(reply);
    return up;
}

static const char *server_binary(rkt_server_kind kind) {
    return kind == RKT_SENTINEL ? "redis-sentinel" : "redis-server";
}

/* Runs the server on its config file and waits until it answers. On
 * failure nothing runs any more and srv->pid is 0. */
static int launch(rkt_server *srv) {
    char path[RKT_PATH_MAX];
    if (!find_binary(server_binary(srv->kind), path, sizeof path)) {
        fprintf(stderr, "rkt: %s not found on PATH\n", server_binary(srv->kind));
        return -1;
    }
    char *argv[] = {path, srv->conf_path, NULL};
    srv->pid = spawn(path, argv, srv->out_path);
    if (srv->pid < 0) {
        srv->pid = 0;
        return -1;
    }
    reg_set_pid(srv, srv->pid);
    long long deadline = now_ms() + srv->ready_timeout_ms;
    for (int pause = 5;; pause = pause < 50 ? pause * 2 : 50) {
        if (has_exited(srv->pid)) {
            fprintf(stderr, "rkt: %s exited during startup\n", server_binary(srv->kind));
            break;
        }
        if (server_answers(srv))
            return 0;
        if (now_ms() >= deadline) {
            fprintf(stderr, "rkt: %s did not answer within %d ms\n", server_binary(srv->kind),
                    srv->ready_timeout_ms);
            break;
        }
        sleep_ms(pause);
    }
    end_process(srv->pid, 0);
    srv->pid = 0;
    reg_set_pid(srv, 0);
    return -1;
}

/* Fills srv's paths, password and TLS files for opts. */
static int prepare(rkt_server *srv, const rkt_server_opts *o) {
    srv->kind = o->kind;
    srv->tls_auth_clients = o->tls_auth_clients;
    srv->ready_timeout_ms = o->ready_timeout_ms > 0 ? o->ready_timeout_ms : 10000;
    if (o->requirepass && fmt(srv->password, sizeof srv->password, "%s", o->requirepass) < 0) {
        fprintf(stderr, "rkt: requirepass too long\n");
        return -1;
    }
    if (fmt(srv->conf_path, sizeof srv->conf_path, "%s/redis.conf", srv->dir) < 0 ||
        fmt(srv->log_path, sizeof srv->log_path, "%s/redis.log", srv->dir) < 0 ||
        fmt(srv->out_path, sizeof srv->out_path, "%s/stdout.log", srv->dir) < 0 ||
        (o->unix_socket &&
         fmt(srv->unix_path, sizeof srv->unix_path, "%s/redis.sock", srv->dir) < 0)) {
        fprintf(stderr, "rkt: temp dir path too long: %s\n", srv->dir);
        return -1;
    }
    if (!o->tls)
        return 0;
    if (o->tls_files) {
        srv->tls = *o->tls_files;
        return 0;
    }
    char tls_dir[RKT_PATH_MAX];
    if (fmt(tls_dir, sizeof tls_dir, "%s/tls", srv->dir) < 0 || mkdir(tls_dir, 0700) < 0)
        return -1;
    return rkt_tls_make(tls_dir, &srv->tls);
}

/* A free port different from the ones already taken by this server. */
static int other_free_port(const rkt_server *srv) {
    for (int i = 0; i < 10; i++) {
        int p = rkt_free_port();
        if (p > 0 && p != srv->port && p != srv->tls_port && p != srv->cluster_port)
            return p;
    }
    return -1;
}

static int pick_ports(rkt_server *srv, const rkt_server_opts *o) {
    srv->port = srv->tls_port = srv->cluster_port = 0;
    if (!o->tcp_off && (srv->port = other_free_port(srv)) < 0)
        return -1;
    if (o->tls && (srv->tls_port = other_free_port(srv)) < 0)
        return -1;
    if (o->cluster && (srv->cluster_port = other_free_port(srv)) < 0)
        return -1;
    return 0;
}

int rkt_server_start(rkt_server *srv, const rkt_server_opts *opts) {
    static const rkt_server_opts defaults;
    const rkt_server_opts *o = opts ? opts : &defaults;
    memset(srv, 0, sizeof *srv);
    if (o->tcp_off && !o->unix_socket && !o->tls) {
        fprintf(stderr, "rkt: tcp_off needs unix_socket or tls\n");
        return -1;
    }
    if (!rkt_have_binary(server_binary(o->kind))) {
        fprintf(stderr, "rkt: %s not found on PATH\n", server_binary(o->kind));
        return -1;
    }
    if (make_temp_dir(srv->dir, sizeof srv->dir) < 0)
        return -1;
    srv->slot = reg_add(srv->dir);
    if (!srv->slot || prepare(srv, o) < 0) {
        rkt_server_stop(srv);
        return -1;
    }
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        if (pick_ports(srv, o) < 0 || write_conf(srv, o) < 0)
            break;
        truncate_file(srv->log_path);
        truncate_file(srv->out_path);
        if (launch(srv) == 0)
            return 0;
        bool port_taken = file_contains(srv->log_path, "Address already in use") ||
                          file_contains(srv->out_path, "Address already in use");
        if (!port_taken)
            break;
        fprintf(stderr, "rkt: port taken meanwhile; retrying with new ports\n");
    }
    rkt_print_tail(srv->out_path, 2048);
    rkt_print_tail(srv->log_path, 2048);
    rkt_server_stop(srv);
    return -1;
}

void rkt_server_stop(rkt_server *srv) {
    if (!srv)
        return;
    if (srv->pid > 0)
        end_process(srv->pid, STOP_GRACE_MS);
    srv->pid = 0;
    reg_remove(srv);
    srv->slot = 0;
    if (srv->dir[0])
        remove_temp_dir(srv->dir);
    srv->dir[0] = '\0';
}

void rkt_server_kill(rkt_server *srv) {
    if (!srv || srv->pid <= 0)
        return;
    end_process(srv->pid, 0);
    srv->pid = 0;
    reg_set_pid(srv, 0);
}

int rkt_server_restart(rkt_server *srv) {
    if (!srv || !reg_get(srv)) {
        fprintf(stderr, "rkt: restart of a server that was never started\n");
        return -1;
    }
    if (srv->pid > 0)
        end_process(srv->pid, STOP_GRACE_MS);
    srv->pid = 0;
    reg_set_pid(srv, 0);
    if (launch(srv) == 0)
        return 0;
    rkt_print_tail(srv->out_path, 2048);
    rkt_print_tail(srv->log_path, 2048);
    return -1;
}

void rkt_server_freeze(rkt_server *srv) {
    if (srv && srv->pid > 0)
        kill(srv->pid, SIGSTOP);
}

void rkt_server_thaw(rkt_server *srv) {
    if (srv && srv->pid > 0)
        kill(srv->pid, SIGCONT);
}

int rkt_server_port(const rkt_server *srv) {
    return srv->port;
}
int rkt_server_tls_port(const rkt_server *srv) {
    return srv->tls_port;
}
pid_t rkt_server_pid(const rkt_server *srv) {
    return srv->pid;
}
const char *rkt_server_dir(const rkt_server *srv) {
    return srv->dir;
}

const char *rkt_server_unix_path(const rkt_server *srv) {
    return srv->unix_path[0] ? srv->unix_path : NULL;
}

const rkt_tls_files *rkt_server_tls_files(const rkt_server *srv) {
    return srv->tls_port ? &srv->tls : NULL;
}

int rkt_server_connect(const rkt_server *srv) {
    int fd = -1;
    if (srv->port)
        fd = rkt_raw_connect("127.0.0.1", srv->port, RKT_RAW_TIMEOUT_MS);
    else if (srv->unix_path[0])
        fd = rkt_raw_connect_unix(srv->unix_path, RKT_RAW_TIMEOUT_MS);
    if (fd < 0 || !srv->password[0])
        return fd;
    const char *argv[] = {"AUTH", srv->password};
    char *reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 2, argv);
    bool ok = reply && strcmp(reply, "+OK\r\n") == 0;
    free(reply);
    if (!ok) {
        close(fd);
        return -1;
    }
    return fd;
}

char *rkt_server_cmd(const rkt_server *srv, const char *arg0, ...) {
    const char *argv[MAX_CMD_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < MAX_CMD_ARGS; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    int fd = rkt_server_connect(srv);
    if (fd < 0)
        return NULL;
    char *reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, argc, argv);
    close(fd);
    return reply;
}

/* ---- Topologies --------------------------------------------------------- */

/* Polls cond(arg) every 100 ms until it holds or timeout_ms passes. */
static bool eventually(bool (*cond)(void *), void *arg, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(100);
    }
}

static bool reply_has(const rkt_server *srv, const char *cmd, const char *arg, const char *needle) {
    char *reply = rkt_server_cmd(srv, cmd, arg, NULL);
    bool found = reply && strstr(reply, needle);
    free(reply);
    return found;
}

static bool replica_in_sync(const rkt_server *srv) {
    return !reply_has(srv, "INFO", "replication", "role:slave") ||
           reply_has(srv, "INFO", "replication", "master_link_status:up");
}

static bool cluster_ready(void *arg) {
    const rkt_cluster *c = arg;
    char known[64];
    snprintf(known, sizeof known, "cluster_known_nodes:%d\r", c->n_nodes);
    for (int i = 0; i < c->n_nodes; i++) {
        const rkt_server *n = &c->nodes[i];
        if (!reply_has(n, "CLUSTER", "INFO", "cluster_state:ok") ||
            !reply_has(n, "CLUSTER", "INFO", known) || !replica_in_sync(n))
            return false;
    }
    return true;
}

/* Builds node_opts->config plus a masterauth line (replicas must AUTH). */
static void config_with_masterauth(const rkt_server_opts *o, const char **cfg, size_t cap,
                                   char *line, size_t line_size) {
    size_t n = 0;
    for (const char *const *c = o->config; c && *c && n + 2 < cap; c++)
        cfg[n++] = *c;
    if (o->requirepass && fmt(line, line_size, "masterauth \"%s\"", o->requirepass) == 0)
        cfg[n++] = line;
    cfg[n] = NULL;
}

int rkt_cluster_start(rkt_cluster *c, int masters, int replicas, const rkt_server_opts *node_opts) {
    memset(c, 0, sizeof *c);
    int total = masters * (1 + replicas);
    if (masters < 3 || replicas < 0 || total > RKT_CLUSTER_MAX_NODES ||
        (node_opts && node_opts->tls) || !rkt_have_binary("redis-cli")) {
        fprintf(stderr, "rkt: cannot make a cluster of %d masters x %d replicas\n", masters,
                replicas);
        return -1;
    }
    rkt_server_opts o = node_opts ? *node_opts : (rkt_server_opts){0};
    const char *cfg[66];
    char auth_line[200];
    config_with_masterauth(&o, cfg, 66, auth_line, sizeof auth_line);
    o.config = cfg;
    o.cluster = true;
    o.kind = RKT_REDIS;
    for (; c->n_nodes < total; c->n_nodes++) {
        if (rkt_server_start(&c->nodes[c->n_nodes], &o) < 0)
            goto fail;
    }
    c->n_masters = masters;

    const char *argv[RKT_CLUSTER_MAX_NODES + 12];
    char addrs[RKT_CLUSTER_MAX_NODES][32], nrep[16], log[RKT_PATH_MAX];
    int argc = 0;
    argv[argc++] = "redis-cli";
    argv[argc++] = "--cluster";
    argv[argc++] = "create";
    for (int i = 0; i < total; i++) {
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", c->nodes[i].port);
        argv[argc++] = addrs[i];
    }
    snprintf(nrep, sizeof nrep, "%d", replicas);
    argv[argc++] = "--cluster-replicas";
    argv[argc++] = nrep;
    argv[argc++] = "--cluster-yes";
    if (o.requirepass) {
        argv[argc++] = "-a";
        argv[argc++] = o.requirepass;
        argv[argc++] = "--no-auth-warning";
    }
    argv[argc] = NULL;
    fmt(log, sizeof log, "%s/cluster-create.log", c->nodes[0].dir);
    if (rkt_run(argv, log, 60000) != 0) {
        fprintf(stderr, "rkt: redis-cli --cluster create failed\n");
        rkt_print_tail(log, 4096);
        goto fail;
    }
    if (eventually(cluster_ready, c, 30000))
        return 0;
    fprintf(stderr, "rkt: cluster not ready within 30 s\n");
fail:
    rkt_cluster_stop(c);
    return -1;
}

void rkt_cluster_stop(rkt_cluster *c) {
    for (int i = 0; i < c->n_nodes; i++)
        rkt_server_stop(&c->nodes[i]);
    c->n_nodes = 0;
}

static bool sentinel_group_ready(void *arg) {
    rkt_sentinel_group *g = arg;
    if (!reply_has(&g->replica, "INFO", "replication", "master_link_status:up"))
        return false;
    for (int i = 0; i < RKT_SENTINELS; i++) {
        char *reply = rkt_server_cmd(&g->sentinels[i], "SENTINEL", "MASTER", g->master_name, NULL);
        char slaves[16] = "", others[16] = "";
        if (reply) {
            rkt_resp_field(reply, "num-slaves", slaves, sizeof slaves);
            rkt_resp_field(reply, "num-other-sentinels", others, sizeof others);
        }
        free(reply);
        if (strcmp(slaves, "1") != 0 || strcmp(others, "2") != 0)
            return false;
    }
    return true;
}

int rkt_sentinel_group_start(rkt_sentinel_group *g, const char *master_name) {
    memset(g, 0, sizeof *g);
    if (fmt(g->master_name, sizeof g->master_name, "%s", master_name ? master_name : "mymaster") <
        0)
        return -1;
    if (rkt_server_start(&g->master, NULL) < 0)
        return -1;
    char replicaof[64], monitor[160], down[160], failover[160];
    snprintf(replicaof, sizeof replicaof, "replicaof 127.0.0.1 %d", g->master.port);
    const char *replica_cfg[] = {replicaof, NULL};
    rkt_server_opts ro = {.config = replica_cfg};
    if (rkt_server_start(&g->replica, &ro) < 0)
        goto fail;
    snprintf(monitor, sizeof monitor, "sentinel monitor %s 127.0.0.1 %d 2", g->master_name,
             g->master.port);
    snprintf(down, sizeof down, "sentinel down-after-milliseconds %s 1000", g->master_name);
    snprintf(failover, sizeof failover, "sentinel failover-timeout %s 5000", g->master_name);
    const char *sentinel_cfg[] = {monitor, down, failover, NULL};
    rkt_server_opts so = {.kind = RKT_SENTINEL, .config = sentinel_cfg};
    for (int i = 0; i < RKT_SENTINELS; i++) {
        if (rkt_server_start(&g->sentinels[i], &so) < 0)
            goto fail;
    }
    if (eventually(sentinel_group_ready, g, 30000))
        return 0;
    fprintf(stderr, "rkt: sentinel group not ready within 30 s\n");
fail:
    rkt_sentinel_group_stop(g);
    return -1;
}

void rkt_sentinel_group_stop(rkt_sentinel_group *g) {
    for (int i = 0; i < RKT_SENTINELS; i++)
        rkt_server_stop(&g->sentinels[i]);
    rkt_server_stop(&g->replica);
    rkt_server_stop(&g->master);
}
