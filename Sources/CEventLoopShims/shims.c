#define _GNU_SOURCE
#include <pthread.h>
#include "CEventLoopShims.h"

int ceventloop_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
