/* The floor for libssh: a minimal sequential C program that connects, authenticates with a key, runs `uname`,
 * reads its output and exit status, and closes, N times. Our per-host CPU is compared against this. */
#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double cpu(void) {
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s host port user key n\n", argv[0]); return 2; }
    const char *host = argv[1], *user = argv[3], *keyfile = argv[4];
    unsigned int port = atoi(argv[2]); int n = atoi(argv[5]), ok = 0;
    ssh_key key = NULL;
    if (ssh_pki_import_privkey_file(keyfile, "", NULL, NULL, &key) != SSH_OK) return 1;
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    double c0 = cpu();
    for (int i = 0; i < n; i++) {
        ssh_session s = ssh_new();
        bool no = false;
        ssh_options_set(s, SSH_OPTIONS_HOST, host);
        ssh_options_set(s, SSH_OPTIONS_PORT, &port);
        ssh_options_set(s, SSH_OPTIONS_USER, user);
        ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
        if (ssh_connect(s) == SSH_OK && ssh_userauth_publickey(s, NULL, key) == SSH_AUTH_SUCCESS) {
            ssh_channel c = ssh_channel_new(s);
            if (c && ssh_channel_open_session(c) == SSH_OK && ssh_channel_request_exec(c, "uname") == SSH_OK) {
                char buf[4096];
                while (ssh_channel_read(c, buf, sizeof buf, 0) > 0) {}
                ssh_channel_send_eof(c);
                if (ssh_channel_get_exit_status(c) == 0) ok++;
                ssh_channel_close(c);
            }
            if (c) ssh_channel_free(c);
        }
        ssh_disconnect(s); ssh_free(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    printf("{\"tool\": \"c-libssh\", \"workload\": \"floor\", \"n\": %d, \"wall\": %f, \"cpu\": %f, \"maxrss_kb\": %ld, "
           "\"threads\": 1, \"ok\": %d, \"failed\": %d}\n", n, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
           cpu() - c0, u.ru_maxrss, ok, n - ok);
    ssh_key_free(key);
    return 0;
}
