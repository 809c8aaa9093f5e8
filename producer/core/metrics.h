/*
 * /metrics (Prometheus text exposition format), /healthz and /readyz, served from the event loop:
 * non-blocking sockets in the same epoll set, so counters are read without locks and a scrape
 * never stalls the ring buffers. Requests are small GETs or HEADs; anything else gets an error
 * status (400, 404, 405, 431, 505) and the connection closes.
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

/*
 * Health probes must be answered whoever else is connected. A new connection always gets a slot:
 * when all are taken, the one least likely to matter is closed for it (one lingering after its
 * answer, else the oldest still sending no complete request, else the oldest being answered). A
 * request is read, answered and its slot freed as soon as it is complete, often in the same pass
 * as the accept. Deadlines, counted from the accept, are enforced as slots are needed and on
 * every metrics_expire():
 *   METRICS_REQUEST_TIMEOUT_MS  to send a complete request (idle clients cannot hold slots);
 *   METRICS_CLIENT_TIMEOUT_MS   for the whole exchange (a slow reader of a large /metrics);
 *   METRICS_LINGER_MS           after the answer, for the client to close its end: the server
 *                               half-closes and reads what is left (a pipelined request) so
 *                               that closing does not reset the connection under the answer.
 */
#define METRICS_REQUEST_TIMEOUT_MS 500
#define METRICS_CLIENT_TIMEOUT_MS 10000
#define METRICS_LINGER_MS 1000

enum metrics_client_state {
	METRICS_READING = 1, /* waiting for the end of the request's headers */
	METRICS_WRITING,     /* sending the answer as the socket takes it */
	METRICS_LINGERING,   /* answered and half-closed: discarding input until the client closes */
};

struct metrics_client {
	int fd; /* -1 = free */
	enum metrics_client_state state;
	int64_t accepted_ms;
	int64_t answered_ms;  /* when the answer was sent whole (METRICS_LINGERING) */
	size_t len;
	char request[METRICS_REQUEST_MAX];
	size_t discarded;     /* bytes read and dropped while lingering */
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
	uint64_t evicted; /* clients closed to make room for a new one */
	uint64_t expired; /* clients closed at a deadline */
};

/* Listens on "host:port" ("[v6]:port" for IPv6; port 0 picks a free one, see m->address).
 * 0 or -errno with errstr set. */
int metrics_open(struct metrics_server *m, const char *listen_addr, char *errstr, size_t errstr_size);

/* Accepts pending connections (a bounded number per call: the listening socket stays readable
 * for the rest) and adds them to epfd with data.u32 = tag_base + client index, closing another
 * client when every slot is taken; a request already there is answered at once. */
void metrics_accept(struct metrics_server *m, int epfd, uint32_t tag_base,
		    const struct pipeline *pl, int64_t now_ms);

/* Client `idx` is readable or writable: reads its request; once complete, answers it (GET and
 * HEAD; HTTP/1.0 and 1.1, always with Connection: close), sending what the socket takes now and
 * the rest on EPOLLOUT; then lingers until the client closes. */
void metrics_serve(struct metrics_server *m, int idx, const struct pipeline *pl, int64_t now_ms);

/* Closes the clients past their deadline (see above). */
void metrics_expire(struct metrics_server *m, int64_t now_ms);

/* The exposition text for /metrics. */
void metrics_render(const struct pipeline *pl, FILE *out);

/* Why the producer is not ready, or NULL when it is: programs attached, brokers reachable. */
const char *metrics_not_ready(const struct pipeline *pl, int64_t now_ms);

void metrics_close(struct metrics_server *m);

#endif /* TAPIO_METRICS_H */
