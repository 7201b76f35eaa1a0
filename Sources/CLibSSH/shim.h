#ifndef CLIBSSH_SHIM_H
#define CLIBSSH_SHIM_H
#include <libssh/libssh.h>
#include <libssh/callbacks.h>
#include <libssh/sftp.h>
#include <libssh/server.h>

/// `ssh_callbacks_init` is a function-like macro; Swift cannot import it.
static inline void clibssh_channel_callbacks_init(struct ssh_channel_callbacks_struct *cb) {
    ssh_callbacks_init(cb);
}
/// The same macro for a session's callbacks.
static inline void clibssh_session_callbacks_init(struct ssh_callbacks_struct *cb) {
    ssh_callbacks_init(cb);
}
#endif
