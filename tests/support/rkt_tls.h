/* Test TLS material and a tiny TLS client, for tests against real servers.
 *
 * rkt_tls_make() runs the `openssl` command line to make throwaway
 * certificates (EC P-256, valid 3 days): a CA, a server certificate for
 * localhost / 127.0.0.1 / ::1, a client certificate for mutual TLS, an
 * unrelated CA and a server certificate for a wrong name. rkt_tls_command()
 * sends one command over TLS with OpenSSL, without the rediskit library. */
#ifndef RKT_TLS_H
#define RKT_TLS_H

#include <stddef.h>

/** Room for every path the harness builds (temp dirs are kept short). */
#define RKT_PATH_MAX 512

/** The files rkt_tls_make() writes; every field is an absolute path. */
typedef struct rkt_tls_files {
    char dir[RKT_PATH_MAX];             /**< Where they all are. */
    char ca_cert[RKT_PATH_MAX];         /**< ca.crt: signs server and client. */
    char ca_key[RKT_PATH_MAX];          /**< ca.key */
    char server_cert[RKT_PATH_MAX];     /**< server.crt: CN=localhost, SAN
                                             DNS:localhost, IP:127.0.0.1, IP:::1 */
    char server_key[RKT_PATH_MAX];      /**< server.key */
    char client_cert[RKT_PATH_MAX];     /**< client.crt: clientAuth, by ca */
    char client_key[RKT_PATH_MAX];      /**< client.key */
    char other_ca_cert[RKT_PATH_MAX];   /**< other-ca.crt: unrelated CA; trusting
                                             only it makes the server untrusted */
    char other_ca_key[RKT_PATH_MAX];    /**< other-ca.key */
    char wrong_name_cert[RKT_PATH_MAX]; /**< wrong-name.crt: by ca, but only for
                                             DNS:wrong-name.invalid */
    char wrong_name_key[RKT_PATH_MAX];  /**< wrong-name.key */
} rkt_tls_files;

/** Makes the certificates in dir (which must exist) and fills out.
 *  Blocks while `openssl` runs (well under a second per file).
 *  Returns 0, or -1 after printing why to stderr (e.g. no `openssl`). */
int rkt_tls_make(const char *dir, rkt_tls_files *out);

/** How rkt_tls_command() connects. Zeroed fields mean the defaults. */
typedef struct rkt_tls_client_opts {
    const char *ca_file;     /**< Trusted CA; NULL = do not verify the server. */
    const char *cert_file;   /**< Client certificate for mutual TLS, or NULL. */
    const char *key_file;    /**< Its key, or NULL. */
    const char *verify_name; /**< Name or IP the server certificate must match;
                                  NULL = the host connected to. Also sent as
                                  SNI when it is a name. */
    int timeout_ms;          /**< Connect, handshake and reply; 0 = 5000. */
} rkt_tls_client_opts;

/** Results of rkt_tls_command() besides a reply. */
enum {
    RKT_TLS_OK = 0,          /**< A complete reply arrived. */
    RKT_TLS_ECONNECT = -1,   /**< TCP connect failed or timed out. */
    RKT_TLS_EHANDSHAKE = -2, /**< Handshake or certificate check failed. */
    RKT_TLS_EIO = -3,        /**< Closed, timed out or broken before a reply. */
    RKT_TLS_ESETUP = -4      /**< Bad files or arguments (printed to stderr). */
};

/** Connects to host:port over TLS, sends argv as a RESP command and reads
 *  one complete reply. Returns RKT_TLS_OK and sets *reply to the raw reply
 *  bytes (malloc'd, NUL-terminated, free() it; *len gets its length if len
 *  is not NULL), or a negative RKT_TLS_E... code with *reply NULL. The
 *  OpenSSL error text of a failed handshake goes to why (if not NULL). */
int rkt_tls_command(const char *host, int port, const rkt_tls_client_opts *o, int argc,
                    const char *const *argv, char **reply, size_t *len, char *why, size_t why_size);

/** PING over TLS: 0 when the server answers +PONG, else a negative
 *  RKT_TLS_E... code (RKT_TLS_EIO for any other reply). */
int rkt_tls_ping(const char *host, int port, const rkt_tls_client_opts *o);

#endif
