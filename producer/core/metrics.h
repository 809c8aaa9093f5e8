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

/* A client still connected this long after it was accepted is dropped (metrics_expire): slow or
 * idle clients cannot hold the few slots that health probes need. */
#define METRICS_CLIENT_TIMEOUT_MS 10000

struct metrics_client {
	int fd; /* -1 = free */
	int64_t accepted_ms;
	size_t len;
	char request[METRICS_REQUEST_MAX];
	/* The answer, owned here (malloc'd) until it is sent: status line, headers and body, sent
	 * as the socket takes it, so a /metrics larger than the socket buffer arrives whole. */
	char *response;
	size_t response_len, sent;
};

struct metrics_server {
	int listen_fd; /* -1 = disabled */
	int epfd;      /* the event loop's, from metrics_accept() */
	uint32_t tag_base;
	char address[128];
	struct metrics_client clients[METRICS_MAX_CLIENTS];
};

/* Listens on "host:port" ("[v6]:port" for IPv6; port 0 picks a free one, see m->address).
 * 0 or -errno with errstr set. */
int metrics_open(struct metrics_server *m, const char *listen_addr, char *errstr, size_t errstr_size);

/* Accepts pending connections and adds them to epfd with data.u32 = tag_base + client index.
 * Connections past METRICS_MAX_CLIENTS are closed at once. */
void metrics_accept(struct metrics_server *m, int epfd, uint32_t tag_base, int64_t now_ms);

/* Client `idx` is readable or writable: reads its request; once complete, answers it, sending
 * what the socket takes now and the rest on EPOLLOUT; closes it when all is sent. */
void metrics_serve(struct metrics_server *m, int idx, const struct pipeline *pl, int64_t now_ms);

/* Closes clients accepted more than METRICS_CLIENT_TIMEOUT_MS before now_ms. */
void metrics_expire(struct metrics_server *m, int64_t now_ms);

/* The exposition text for /metrics. */
void metrics_render(const struct pipeline *pl, FILE *out);

/* Why the producer is not ready, or NULL when it is: programs attached, brokers reachable. */
const char *metrics_not_ready(const struct pipeline *pl, int64_t now_ms);

void metrics_close(struct metrics_server *m);

#endif /* TAPIO_METRICS_H */
