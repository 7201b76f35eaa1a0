#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include "CEventLoopShims.h"

int ceventloop_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

#include <dlfcn.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* OpenSSL's OPENSSL_INIT_NO_ATEXIT (openssl/crypto.h, OpenSSL 1.1.1 and later). */
#define CEVENTLOOP_OPENSSL_INIT_NO_ATEXIT 0x00080000L

int ceventloop_openssl_skip_exit_cleanup(void) {
    /* Looked up at run time: the process has OpenSSL only through the C SSH libraries, which may use another
       crypto library altogether; then there is nothing to do. */
    typedef int (*init_crypto)(uint64_t, const void *);
    init_crypto init = (init_crypto)dlsym(RTLD_DEFAULT, "OPENSSL_init_crypto");
    if (init == NULL) return 0;
    return init(CEVENTLOOP_OPENSSL_INIT_NO_ATEXIT, NULL);
}

int ceventloop_pidfd_open(int pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    return (int)syscall(434, pid, 0);
#endif
}

int ceventloop_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
