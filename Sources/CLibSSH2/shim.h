#ifndef CLIBSSH2_SHIM_H
#define CLIBSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <string.h>
#include <stdlib.h>

/* libssh2 spells many entry points as function-like macros, which Swift cannot import.
   These wrappers give them names Swift can call. */

static inline LIBSSH2_SESSION *clibssh2_session_init(void *abstract) {
    return libssh2_session_init_ex(NULL, NULL, NULL, abstract);
}

static inline LIBSSH2_CHANNEL *clibssh2_channel_open_session(LIBSSH2_SESSION *session, unsigned int window) {
    return libssh2_channel_open_ex(session, "session", sizeof("session") - 1, window,
                                   LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
}

/* Opens a `direct-tcpip` channel with a receive window of `window` bytes (libssh2_channel_direct_tcpip_ex takes no
 * window); `message` is the type-specific part of the open request (RFC 4254, 7.2: host, port, originator address,
 * originator port). */
static inline LIBSSH2_CHANNEL *clibssh2_channel_open_tunnel(LIBSSH2_SESSION *session, const char *message,
                                                           unsigned int message_length, unsigned int window) {
    return libssh2_channel_open_ex(session, "direct-tcpip", sizeof("direct-tcpip") - 1, window,
                                   LIBSSH2_CHANNEL_PACKET_DEFAULT, message, message_length);
}

/* The signature of libssh2's socket receive callback (LIBSSH2_CALLBACK_RECV). */
typedef ssize_t (*clibssh2_recv_callback)(libssh2_socket_t socket, void *buffer, size_t length, int flags,
                                          void **abstract);

/* Sets the session's receive callback and returns the previous one (libssh2's own at first). */
static inline clibssh2_recv_callback clibssh2_set_recv(LIBSSH2_SESSION *session, clibssh2_recv_callback callback) {
    return (clibssh2_recv_callback)libssh2_session_callback_set(session, LIBSSH2_CALLBACK_RECV, (void *)callback);
}

static inline int clibssh2_last_errno(LIBSSH2_SESSION *session) {
    return libssh2_session_last_errno(session);
}

/* Copies the session's last error message into buf (always NUL-terminated) and returns the code. */
static inline int clibssh2_last_error(LIBSSH2_SESSION *session, char *buf, size_t buflen) {
    char *msg = NULL;
    int len = 0;
    int rc = libssh2_session_last_error(session, &msg, &len, 0);
    if (buflen > 0) {
        size_t n = (msg && len > 0) ? (size_t)len : 0;
        if (n >= buflen) n = buflen - 1;
        if (n > 0) memcpy(buf, msg, n);
        buf[n] = 0;
    }
    return rc;
}

static inline int clibssh2_userauth_password(LIBSSH2_SESSION *session, const char *user, unsigned int user_len,
                                             const char *password, unsigned int password_len) {
    return libssh2_userauth_password_ex(session, user, user_len, password, password_len, NULL);
}

static inline int clibssh2_channel_exec(LIBSSH2_CHANNEL *channel, const char *request, unsigned int request_len,
                                        const char *message, unsigned int message_len) {
    return libssh2_channel_process_startup(channel, request, request_len, message, message_len);
}

/* Returns the exit signal name (malloc'd by the session's allocator, free with libssh2_free) or NULL. */
static inline char *clibssh2_exit_signal(LIBSSH2_CHANNEL *channel, char **errmsg) {
    char *sig = NULL;
    size_t siglen = 0;
    size_t errlen = 0;
    *errmsg = NULL;
    if (libssh2_channel_get_exit_signal(channel, &sig, &siglen, errmsg, &errlen, NULL, NULL) != 0) return NULL;
    return sig;
}
#endif
