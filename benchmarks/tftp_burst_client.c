/* A TFTP read-burst client for benchmarks/tftp_burst.py: N transfers at once, one socket each.
 *
 *   tftp_burst_client HOST PORT DIR BLKSIZE TIMEOUT_MS RETRIES < names
 *
 * Reads file names (one a line) from stdin, sends every RRQ at once (BLKSIZE 0: plain RFC 1350,
 * else the blksize option and tsize), then runs every transfer lock-step on one epoll loop: ACK
 * each DATA block, resend the last packet after TIMEOUT_MS, give up after RETRIES resends. Each
 * finished file is compared byte for byte with DIR/name. Prints one line:
 *   requested N completed N lost N wall_s S rate R p50_ms X p99_ms Y resends Z
 * Built by the benchmark with gcc -O2 into a temporary folder; C, so the client costs the shared
 * cores as little as possible (a Python client flatters the faster server less).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char name[512];
    int fd;
    unsigned char *expected;
    size_t expected_len;
    unsigned char *got;
    size_t got_len, got_cap;
    struct sockaddr_in peer;
    int have_peer;
    unsigned expect_block; /* next DATA block wanted (1-based, wraps at 65536) */
    unsigned char last[600];
    size_t last_len;
    struct sockaddr_in last_to;
    double deadline, started, finished;
    int resends, done, failed;
    size_t blksize;
} Transfer;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? n : 1);
    if (fread(buf, 1, n, f) != (size_t)n) { fclose(f); free(buf); return NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void send_last(Transfer *t) {
    sendto(t->fd, t->last, t->last_len, 0, (struct sockaddr *)&t->last_to, sizeof t->last_to);
}

static void ack(Transfer *t, unsigned block, double timeout) {
    t->last[0] = 0; t->last[1] = 4; t->last[2] = (block >> 8) & 0xff; t->last[3] = block & 0xff;
    t->last_len = 4;
    t->last_to = t->peer;
    send_last(t);
    t->deadline = now() + timeout;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT DIR BLKSIZE TIMEOUT_MS RETRIES < names\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *dir = argv[3];
    int port = atoi(argv[2]), blksize = atoi(argv[4]), retries = atoi(argv[6]);
    double timeout = atoi(argv[5]) / 1000.0;
    size_t cap = 1024, n = 0;
    Transfer *ts = calloc(cap, sizeof *ts);
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (n == cap) { cap *= 2; ts = realloc(ts, cap * sizeof *ts); memset(ts + n, 0, (cap - n) * sizeof *ts); }
        Transfer *t = &ts[n++];
        snprintf(t->name, sizeof t->name, "%s", line);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        t->expected = read_file(path, &t->expected_len);
        if (!t->expected) { fprintf(stderr, "cannot read %s\n", path); return 2; }
    }
    struct sockaddr_in server = {0};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    inet_pton(AF_INET, host, &server.sin_addr);
    int ep = epoll_create1(0);
    for (size_t i = 0; i < n; i++) {
        Transfer *t = &ts[i];
        t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (t->fd < 0) { perror("socket (raise ulimit -n)"); return 2; }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, t->fd, &ev);
        t->blksize = 512;
        t->expect_block = 1;
        t->got_cap = t->expected_len + 2048;
        t->got = malloc(t->got_cap);
        size_t len = 0;
        t->last[len++] = 0; t->last[len++] = 1;
        len += (size_t)sprintf((char *)t->last + len, "%s", t->name) + 1;
        len += (size_t)sprintf((char *)t->last + len, "octet") + 1;
        if (blksize > 0) {
            len += (size_t)sprintf((char *)t->last + len, "blksize") + 1;
            len += (size_t)sprintf((char *)t->last + len, "%d", blksize) + 1;
            len += (size_t)sprintf((char *)t->last + len, "tsize") + 1;
            len += (size_t)sprintf((char *)t->last + len, "0") + 1;
        }
        t->last_len = len;
        t->last_to = server;
    }
    double start = now();
    for (size_t i = 0; i < n; i++) {
        ts[i].started = now();
        ts[i].deadline = ts[i].started + timeout;
        send_last(&ts[i]);
    }
    size_t open_ = n;
    struct epoll_event events[256];
    unsigned char buf[70000];
    double next_scan = now() + 0.01;
    while (open_ > 0) {
        int k = epoll_wait(ep, events, 256, 10);
        for (int e = 0; e < k; e++) {
            Transfer *t = &ts[events[e].data.u64];
            for (;;) {
                struct sockaddr_in from;
                socklen_t fl = sizeof from;
                ssize_t r = recvfrom(t->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
                if (r < 0) break;
                if (t->done || t->failed || r < 4) continue;
                if (t->have_peer && (from.sin_port != t->peer.sin_port || from.sin_addr.s_addr != t->peer.sin_addr.s_addr))
                    continue; /* another TID: RFC 1350 says error 5, a benchmark ignores it */
                unsigned op = (buf[0] << 8) | buf[1];
                if (op == 5) { t->failed = 1; t->finished = now(); open_--; break; }
                if (!t->have_peer) { t->peer = from; t->have_peer = 1; }
                if (op == 6) { /* OACK: the options the server took */
                    for (ssize_t p = 2; p < r;) {
                        const char *key = (const char *)buf + p; p += strlen(key) + 1;
                        if (p >= r) break;
                        const char *val = (const char *)buf + p; p += strlen(val) + 1;
                        if (!strcasecmp(key, "blksize")) t->blksize = (size_t)atoi(val);
                    }
                    ack(t, 0, timeout);
                    continue;
                }
                if (op != 3) continue;
                unsigned block = (buf[2] << 8) | buf[3];
                size_t data = (size_t)r - 4;
                if (block == (t->expect_block & 0xffff)) {
                    if (t->got_len + data > t->got_cap) { t->got_cap = (t->got_len + data) * 2; t->got = realloc(t->got, t->got_cap); }
                    memcpy(t->got + t->got_len, buf + 4, data);
                    t->got_len += data;
                    t->expect_block++;
                    ack(t, block, timeout);
                    if (data < t->blksize) {
                        t->done = 1;
                        t->finished = now();
                        open_--;
                        if (t->got_len != t->expected_len || memcmp(t->got, t->expected, t->got_len)) t->failed = 1;
                        break;
                    }
                } else if (block == ((t->expect_block - 1) & 0xffff)) {
                    send_last(t); /* our ACK was lost: say it again */
                }
            }
        }
        double tnow = now();
        if (tnow >= next_scan) {
            next_scan = tnow + 0.01;
            for (size_t i = 0; i < n; i++) {
                Transfer *t = &ts[i];
                if (t->done || t->failed || tnow < t->deadline) continue;
                if (t->resends >= retries) { t->failed = 1; t->finished = tnow; open_--; continue; }
                t->resends++;
                send_last(t);
                t->deadline = tnow + timeout;
            }
        }
    }
    double wall = now() - start;
    double *lat = malloc(n * sizeof *lat);
    size_t ok = 0;
    long resends = 0;
    for (size_t i = 0; i < n; i++) {
        resends += ts[i].resends;
        if (ts[i].done && !ts[i].failed) lat[ok++] = ts[i].finished - ts[i].started;
    }
    qsort(lat, ok, sizeof *lat, cmp_double);
    double p50 = ok ? lat[(size_t)(ok * 0.50)] : 0, p99 = ok ? lat[ok * 99 / 100 < ok ? ok * 99 / 100 : ok - 1] : 0;
    printf("requested %zu completed %zu lost %zu wall_s %.3f rate %.0f p50_ms %.1f p99_ms %.1f resends %ld\n", n, ok,
           n - ok, wall, ok / wall, p50 * 1000, p99 * 1000, resends);
    return 0;
}
