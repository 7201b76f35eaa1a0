/* The floor for libssh2: a minimal sequential C program that connects, authenticates with a key, runs `uname`,
 * reads its output and exit status, and closes, N times. Our per-host CPU is compared against this. */
#include <libssh2.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu(void) {
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s host port user key n\n", argv[0]); return 2; }
    const char *host = argv[1], *user = argv[3], *key = argv[4];
    int port = atoi(argv[2]), n = atoi(argv[5]), ok = 0;
    libssh2_init(0);
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    double c0 = cpu();
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        inet_pton(AF_INET, host, &a.sin_addr);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); continue; }
        LIBSSH2_SESSION *s = libssh2_session_init();
        if (libssh2_session_handshake(s, fd) == 0 &&
            libssh2_userauth_publickey_fromfile(s, user, NULL, key, "") == 0) {
            LIBSSH2_CHANNEL *c = libssh2_channel_open_session(s);
            if (c && libssh2_channel_exec(c, "uname") == 0) {
                char buf[4096]; ssize_t r;
                while ((r = libssh2_channel_read(c, buf, sizeof buf)) > 0) {}
                libssh2_channel_close(c); libssh2_channel_wait_closed(c);
                if (libssh2_channel_get_exit_status(c) == 0) ok++;
            }
            if (c) libssh2_channel_free(c);
        }
        libssh2_session_disconnect(s, "bye"); libssh2_session_free(s); close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    printf("{\"tool\": \"c-libssh2\", \"workload\": \"floor\", \"n\": %d, \"wall\": %f, \"cpu\": %f, \"maxrss_kb\": %ld, "
           "\"threads\": 1, \"ok\": %d, \"failed\": %d}\n", n, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
           cpu() - c0, u.ru_maxrss, ok, n - ok);
    return 0;
}
