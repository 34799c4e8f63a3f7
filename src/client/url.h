/* Internal: reads a redis://, rediss:// or unix:// URL into rk_options, for
 * rk_client_new_url and the tools. The forms and options are the ones
 * documented above rk_client_new_url in include/rediskit/client.h. */
#ifndef RK_URL_H
#define RK_URL_H

#include "rediskit/options.h"

#pragma GCC visibility push(hidden)

/* Fills *out from url. The caller zeroes *out or fills it with a base
 * first; the URL overrides only what it says, with these rules:
 *
 * - The scheme names the transport: redis:// sets tls.enabled false and
 *   unix_path NULL, rediss:// sets tls.enabled true, unix:// sets unix_path
 *   and tls.enabled false. A URL without a host (`redis://`, `redis:///2`)
 *   or port keeps the base's (or the default).
 * - User info is `user:password@`, `:password@` or `user@`; an empty user
 *   or password is left unset. It ends at the last '@' before the path, so
 *   an unescaped '@' in a password works; '/', '?' and '%' must be escaped.
 *   User, password, unix path, path db and option values are
 *   percent-decoded ('+' stays '+'); an escape of NUL is refused.
 * - The db comes from the path (`/3`) or from `?db=3`; when both are
 *   given, ?db= wins, as in redis-py.
 * - A unix path must be absolute (`unix:///tmp/r.sock`); a relative one is
 *   refused, as `unix://localhost/tmp/r.sock` would be misread.
 * - Seconds may have decimals and are rounded up to whole milliseconds.
 *   health_check_interval=0 means never (-1), keepalive=0 means off (-1);
 *   every other number must be positive (db: not negative).
 *   socket_connect_timeout is accepted as redis-py's name of
 *   connect_timeout. ssl_cert_reqs: none sets tls.insecure; optional and
 *   required clear it (a TLS server always shows a certificate, so both
 *   verify it). ssl_* options are refused on a non-TLS URL.
 * - A repeated option: the last one wins. Empty `&&` pieces are skipped.
 *
 * Every string *out is left pointing to (host, unix_path, username,
 * password, client_name, tls file paths, tls.server_name) that the URL set
 * is copied into one block made with rk_malloc and returned in *storage,
 * which the caller frees with rk_free once done with those strings; NULL
 * when the URL set no string. Strings from the base are left as they were.
 *
 * Returns RK_OK, RK_EINVAL for a malformed URL (rk_error_last() says what
 * is wrong and where, never quoting the password) or RK_ENOMEM. On failure
 * *out is untouched, *storage is NULL and nothing was allocated. */
int rk_url_parse(const char *url, rk_options *out, char **storage);

#pragma GCC visibility pop

#endif
