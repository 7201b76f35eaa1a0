#ifndef CEVENTLOOPSHIMS_H
#define CEVENTLOOPSHIMS_H
/* Linux system headers that Swift's Glibc module does not export: epoll, eventfd, and named threads. */
#include <sys/epoll.h>
#include <sys/eventfd.h>

/* Names the calling thread (at most 15 bytes are kept). */
int ceventloop_set_thread_name(const char *name);
#endif
