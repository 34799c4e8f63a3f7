/* rk-cli: the line editor. The terminal is put in raw mode only while a
 * line is read; every change redraws the line in place ("\r", prompt, the
 * visible part of the text, erase to the end, cursor to its column), and a
 * line wider than the terminal scrolls sideways around the cursor. Columns
 * are counted in UTF-8 characters (wide characters are taken as one).
 *
 * The history keeps the line being edited as its newest entry while a
 * line is read, so up/down can leave it and come back to it. */
#include "lineedit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

enum {
    KEY_CTRL_A = 1,
    KEY_CTRL_B = 2,
    KEY_CTRL_C = 3,
    KEY_CTRL_D = 4,
    KEY_CTRL_E = 5,
    KEY_CTRL_F = 6,
    KEY_CTRL_H = 8,
    KEY_CTRL_K = 11,
    KEY_CTRL_L = 12,
    KEY_ENTER = 13,
    KEY_CTRL_N = 14,
    KEY_CTRL_P = 16,
    KEY_CTRL_U = 21,
    KEY_CTRL_W = 23,
    KEY_ESC = 27,
    KEY_BACKSPACE = 127
};

/* Keys decoded from escape sequences, beyond the byte range. */
enum { KEY_UP = 256, KEY_DOWN, KEY_LEFT, KEY_RIGHT, KEY_HOME, KEY_END, KEY_DELETE, KEY_NONE };

static struct {
    char **lines; /* oldest first */
    int count;
} history;

/* The line being edited. Invariant: pos and len are on character
 * boundaries, pos <= len < cap, buf[len] == '\0'. */
typedef struct edit {
    char *buf;
    size_t len, cap, pos;
    const char *prompt;
    size_t prompt_cols;
    int back; /* how far up the history the shown line is; 0 = newest */
} edit;

/* ---- the terminal ------------------------------------------------------ */

static struct termios saved_mode;

static int raw_mode_on(void) {
    if (tcgetattr(STDIN_FILENO, &saved_mode) < 0)
        return -1;
    struct termios raw = saved_mode;
    raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_oflag &= ~(tcflag_t)OPOST;
    raw.c_cflag |= CS8;
    raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    return tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
}

static void raw_mode_off(void) {
    tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_mode);
}

static size_t terminal_columns(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
        return 80;
    return ws.ws_col;
}

static bool terminal_supported(void) {
    const char *term = getenv("TERM");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return false;
    return term == NULL || (strcasecmp(term, "dumb") != 0 && strcasecmp(term, "cons25") != 0 &&
                            strcasecmp(term, "emacs") != 0);
}

static void write_all(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

void le_clear_screen(void) {
    write_all("\x1b[H\x1b[2J", 7);
}

/* ---- characters -------------------------------------------------------- */

static bool is_continuation(char c) {
    return ((unsigned char)c & 0xC0) == 0x80;
}

static size_t columns(const char *s, size_t n) {
    size_t cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += !is_continuation(s[i]);
    return cols;
}

static size_t next_char(const edit *e, size_t i) {
    if (i < e->len)
        i++;
    while (i < e->len && is_continuation(e->buf[i]))
        i++;
    return i;
}

static size_t prev_char(const edit *e, size_t i) {
    if (i > 0)
        i--;
    while (i > 0 && is_continuation(e->buf[i]))
        i--;
    return i;
}

/* ---- drawing ----------------------------------------------------------- */

typedef struct outbuf {
    char *data;
    size_t len;
} outbuf;

static void out_add(outbuf *o, const char *s, size_t n) {
    o->data = cli_realloc(o->data, o->len + n + 1);
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

/* Redraws the line, showing the part around the cursor that fits. */
static void refresh(const edit *e) {
    size_t width = terminal_columns();
    size_t room = width > e->prompt_cols + 1 ? width - e->prompt_cols - 1 : 1;
    size_t start = 0;
    while (columns(e->buf + start, e->pos - start) > room)
        start = next_char(e, start);
    size_t end = start;
    while (end < e->len && columns(e->buf + start, next_char(e, end) - start) <= room)
        end = next_char(e, end);
    outbuf o = {0};
    out_add(&o, "\r", 1);
    out_add(&o, e->prompt, strlen(e->prompt));
    out_add(&o, e->buf + start, end - start);
    out_add(&o, "\x1b[0K\r", 5);
    size_t col = e->prompt_cols + columns(e->buf + start, e->pos - start);
    char move[32];
    if (col > 0)
        out_add(&o, move, (size_t)snprintf(move, sizeof(move), "\x1b[%zuC", col));
    write_all(o.data, o.len);
    free(o.data);
}

/* ---- editing ----------------------------------------------------------- */

static void set_text(edit *e, const char *s) {
    size_t n = strlen(s);
    if (n + 1 > e->cap) {
        e->cap = n + 64;
        e->buf = cli_realloc(e->buf, e->cap);
    }
    memcpy(e->buf, s, n + 1);
    e->len = e->pos = n;
}

static void insert(edit *e, char c) {
    if (e->len + 2 > e->cap) {
        e->cap = e->cap * 2 + 64;
        e->buf = cli_realloc(e->buf, e->cap);
    }
    memmove(e->buf + e->pos + 1, e->buf + e->pos, e->len - e->pos + 1);
    e->buf[e->pos++] = c;
    e->len++;
}

/* Removes the bytes [from, to). */
static void erase(edit *e, size_t from, size_t to) {
    memmove(e->buf + from, e->buf + to, e->len - to + 1);
    e->len -= to - from;
    e->pos = from;
}

static void erase_word_before(edit *e) {
    size_t from = e->pos;
    while (from > 0 && e->buf[from - 1] == ' ')
        from--;
    while (from > 0 && e->buf[from - 1] != ' ')
        from--;
    erase(e, from, e->pos);
}

/* Moves `step` entries through the history (positive: older). */
static void browse(edit *e, int step) {
    int to = e->back + step;
    if (to < 0 || to >= history.count)
        return;
    char **slot = &history.lines[history.count - 1 - e->back];
    free(*slot);
    *slot = cli_strdup(e->buf);
    e->back = to;
    set_text(e, history.lines[history.count - 1 - to]);
}

/* ---- keys -------------------------------------------------------------- */

static int read_byte(void) {
    unsigned char c;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 1)
            return c;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

/* ESC [ <digit> ~ keys. */
static int tilde_key(int digit) {
    switch (digit) {
    case '3': return KEY_DELETE;
    case '1':
    case '7': return KEY_HOME;
    case '4':
    case '8': return KEY_END;
    default: return KEY_NONE;
    }
}

/* After ESC: arrows, Home/End and Delete as xterm and the Linux console
 * send them (ESC [ A, ESC O H, ESC [ 3 ~ ...); others are ignored. */
static int read_escape(void) {
    int a = read_byte(), b = read_byte();
    if (a == '[' && b >= '0' && b <= '9')
        return read_byte() == '~' ? tilde_key(b) : KEY_NONE;
    if (a != '[' && a != 'O')
        return KEY_NONE;
    switch (b) {
    case 'A': return KEY_UP;
    case 'B': return KEY_DOWN;
    case 'C': return KEY_RIGHT;
    case 'D': return KEY_LEFT;
    case 'H': return KEY_HOME;
    case 'F': return KEY_END;
    default: return KEY_NONE;
    }
}

static int read_key(void) {
    int c = read_byte();
    return c == KEY_ESC ? read_escape() : c;
}

/* Moves or deletes as the key says; false when the key is not one. */
static bool apply_motion(edit *e, int key) {
    switch (key) {
    case KEY_LEFT:
    case KEY_CTRL_B: e->pos = prev_char(e, e->pos); return true;
    case KEY_RIGHT:
    case KEY_CTRL_F: e->pos = next_char(e, e->pos); return true;
    case KEY_HOME:
    case KEY_CTRL_A: e->pos = 0; return true;
    case KEY_END:
    case KEY_CTRL_E: e->pos = e->len; return true;
    case KEY_BACKSPACE:
    case KEY_CTRL_H: erase(e, prev_char(e, e->pos), e->pos); return true;
    case KEY_DELETE: erase(e, e->pos, next_char(e, e->pos)); return true;
    case KEY_CTRL_K: erase(e, e->pos, e->len); return true;
    case KEY_CTRL_U: erase(e, 0, e->pos); return true;
    case KEY_CTRL_W: erase_word_before(e); return true;
    case KEY_UP:
    case KEY_CTRL_P: browse(e, 1); return true;
    case KEY_DOWN:
    case KEY_CTRL_N: browse(e, -1); return true;
    default: return false;
    }
}

/* Edits until Enter (1), or end of input / Ctrl-C / Ctrl-D on an empty
 * line (0). */
static int edit_loop(edit *e) {
    refresh(e);
    for (;;) {
        int key = read_key();
        if (key < 0 || key == KEY_CTRL_C || (key == KEY_CTRL_D && e->len == 0))
            return 0;
        if (key == KEY_ENTER || key == '\n')
            return 1;
        if (key == KEY_CTRL_D)
            key = KEY_DELETE;
        if (key == KEY_CTRL_L)
            le_clear_screen();
        else if (!apply_motion(e, key) && key >= 32 && key < 256)
            insert(e, (char)key);
        refresh(e);
    }
}

/* ---- reading a line ---------------------------------------------------- */

/* Without a usable terminal: the prompt, then a line as it comes. */
static char *plain_read(const char *prompt) {
    if (isatty(STDIN_FILENO)) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

char *le_read(const char *prompt) {
    if (!terminal_supported() || raw_mode_on() < 0)
        return plain_read(prompt);
    fflush(stdout);
    edit e = {.prompt = prompt, .prompt_cols = columns(prompt, strlen(prompt))};
    set_text(&e, "");
    le_history_add(""); /* the line being edited */
    int done = edit_loop(&e);
    write_all("\r\n", 2);
    raw_mode_off();
    free(history.lines[--history.count]);
    if (!done) {
        free(e.buf);
        return NULL;
    }
    return e.buf;
}

/* ---- history ----------------------------------------------------------- */

void le_history_add(const char *line) {
    if (history.count > 0 && line[0] != '\0' && strcmp(history.lines[history.count - 1], line) == 0)
        return;
    if (history.count == LE_HISTORY_MAX) {
        free(history.lines[0]);
        memmove(history.lines, history.lines + 1, sizeof(char *) * (LE_HISTORY_MAX - 1));
        history.count--;
    }
    history.lines = cli_realloc(history.lines, sizeof(char *) * (size_t)(history.count + 1));
    history.lines[history.count++] = cli_strdup(line);
}

int le_history_load(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            le_history_add(line);
    }
    free(line);
    fclose(f);
    return 0;
}

/* The file is private (0600): lines typed may hold secrets. */
int le_history_save(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fchmod(fd, 0600);
    for (int i = 0; i < history.count; i++)
        fprintf(f, "%s\n", history.lines[i]);
    return fclose(f) == 0 ? 0 : -1;
}

void le_history_free(void) {
    for (int i = 0; i < history.count; i++)
        free(history.lines[i]);
    free(history.lines);
    history.lines = NULL;
    history.count = 0;
}
