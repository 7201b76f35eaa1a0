#ifndef CEVENTLOOPSHIMS_H
#define CEVENTLOOPSHIMS_H
/* Linux system headers that Swift's Glibc module does not export: epoll, eventfd, and named threads. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <spawn.h>

/* Names the calling thread (at most 15 bytes are kept). */
int ceventloop_set_thread_name(const char *name);

/* Asks OpenSSL (if the process has it) not to free its state in an atexit handler: event-loop threads may still be
   inside libcrypto when the process exits. Effective only before OpenSSL's first full initialisation; returns 1
   when OpenSSL accepted the call, 0 when there is no OpenSSL in the process or it failed. */
int ceventloop_openssl_skip_exit_cleanup(void);

/* pidfd_open(2) (Linux 5.3): a descriptor that polls readable once the process `pid` exits; -1 with errno when the
   kernel lacks it. */
int ceventloop_pidfd_open(int pid);

/* posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child closes every descriptor from `lowest` up before
   it runs the program, so it holds none the parent opened without close-on-exec (another library's, or a
   concurrent spawn's). Returns 0, or an errno value. */
int ceventloop_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);
#endif
