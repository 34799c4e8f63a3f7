/* rk-cli: a small line editor for the interactive mode, in place of
 * readline/libedit: one line edited with the arrows and the usual Emacs
 * keys, a history browsed with up/down and kept in a file between runs. */
#ifndef RKCLI_LINEEDIT_H
#define RKCLI_LINEEDIT_H

/** Shows prompt and reads one line (malloc'd, without its newline; free
 *  it). Edits in raw mode when stdin and stdout are terminals, else just
 *  reads a line after printing the prompt. NULL at end of input, and for
 *  Ctrl-C or Ctrl-D on an empty line. */
char *le_read(const char *prompt);

/** Adds a line to the history (a repeat of the last one is skipped; the
 *  oldest lines go past LE_HISTORY_MAX). */
void le_history_add(const char *line);

/** Loads / saves the history, one line each. Return 0 or -1. */
int le_history_load(const char *path);
int le_history_save(const char *path);

/** Forgets the history. */
void le_history_free(void);

/** Clears the terminal. */
void le_clear_screen(void);

#define LE_HISTORY_MAX 1000

#endif
