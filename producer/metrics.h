/*
 * /metrics (Prometheus text exposition format), /healthz and /readyz, served from the event loop:
 * non-blocking sockets in the same epoll set, so counters are read without locks and a scrape
 * never stalls the ring buffers. Requests are small GETs; anything else gets 400/404/405.
 *
 * Ownership: struct metrics_server owns its listening and client sockets; metrics_close()
 * closes them and is safe on a server that never opened if its listen_fd is -1.
 */
#ifndef TAPIO_METRICS_H
#define TAPIO_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct pipeline;

#define METRICS_MAX_CLIENTS 8
#define METRICS_REQUEST_MAX 2048

struct metrics_client {
	int fd; /* -1 = free */
	size_t len;
	char request[METRICS_REQUEST_MAX];
};

struct metrics_server {
	int listen_fd; /* -1 = disabled */
	char address[128];
	struct metrics_client clients[METRICS_MAX_CLIENTS];
};

/* Listens on "host:port" ("[v6]:port" for IPv6; port 0 picks a free one, see m->address).
 * 0 or -errno with errstr set. */
int metrics_open(struct metrics_server *m, const char *listen_addr, char *errstr, size_t errstr_size);

/* Accepts pending connections and adds them to epfd with data.u32 = tag_base + client index.
 * Connections past METRICS_MAX_CLIENTS are closed at once. */
void metrics_accept(struct metrics_server *m, int epfd, uint32_t tag_base);

/* Reads from client `idx`; once its request is complete, answers it and closes it. */
void metrics_serve(struct metrics_server *m, int idx, const struct pipeline *pl, int64_t now_ms);

/* The exposition text for /metrics. */
void metrics_render(const struct pipeline *pl, FILE *out);

/* Why the producer is not ready, or NULL when it is: programs attached, brokers reachable. */
const char *metrics_not_ready(const struct pipeline *pl, int64_t now_ms);

void metrics_close(struct metrics_server *m);

#endif /* TAPIO_METRICS_H */
