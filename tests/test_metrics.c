/* /metrics text exposition format, librdkafka statistics parsing, readiness. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "pipeline.h"

extern const struct collector_ops kernel_collector;

static char *render(const struct pipeline *pl)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	metrics_render(pl, out);
	fclose(out);
	return text;
}

static struct pipeline *fake_pipeline(void)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	pl->ncollectors = 1;
	pl->collectors[0].ops = &kernel_collector;
	pl->collectors[0].io = (struct collector_io){ .ring_fd = -1, .counters_fd = -1, .wake_fd = -1 };
	pl->collectors[0].stats.received = 12;
	pl->collectors[0].stats.rejected[DECODE_SHORT] = 3;
	pl->collectors[0].stats.delivered = 9;
	pl->collectors[0].stats.delivery_errors[0].err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
	pl->collectors[0].stats.delivery_errors[0].count = 2;
	pl->publisher_open = true;
	return pl;
}

/* Every line is a comment or `name{labels} value`; every sampled family has HELP and TYPE first. */
static void test_exposition_format(void **state)
{
	struct pipeline *pl = fake_pipeline();
	char *text, *line, *save = NULL;
	regex_t sample_re;
	char families[64][96];
	int nfam = 0;

	(void)state;
	pl->publisher.stats.updated_ms = 1;
	pl->publisher.stats.nbrokers = 1;
	pl->publisher.stats.brokers[0].up = 1;
	strcpy(pl->publisher.stats.brokers[0].name, "we\"ird\\host\n:9092/1");
	text = render(pl);
	assert_int_equal(regcomp(&sample_re,
				 "^[a-z_]+(\\{[a-z_]+=\"([^\"\\\\]|\\\\.)*\"(,[a-z_]+=\"([^\"\\\\]|\\\\.)*\")*\\})? [-0-9.e+]+$",
				 REG_EXTENDED | REG_NOSUB), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (sscanf(line, "# TYPE %95s", name) == 1) {
			assert_true(nfam < 64);
			strcpy(families[nfam++], name);
			continue;
		}
		if (line[0] == '#')
			continue;
		if (regexec(&sample_re, line, 0, NULL, 0) != 0)
			fail_msg("not an exposition sample: %s", line);
		sscanf(line, "%95[a-z_]", name);
		int known = 0;
		for (int f = 0; f < nfam; f++)
			known |= strcmp(families[f], name) == 0;
		if (!known)
			fail_msg("sample before its TYPE line: %s", line);
	}
	regfree(&sample_re);
	free(text);

	text = render(pl);
	assert_non_null(strstr(text, "tapio_records_received_total{collector=\"kernel\"} 12\n"));
	assert_non_null(strstr(text, "tapio_records_rejected_total{collector=\"kernel\",reason=\"short\"} 3\n"));
	assert_non_null(strstr(text, "tapio_records_delivery_failed_total{collector=\"kernel\",error=\"_MSG_TIMED_OUT\"} 2\n"));
	assert_non_null(strstr(text, "tapio_kafka_broker_up{broker=\"we\\\"ird\\\\host\\n:9092/1\"} 1\n"));
	free(text);
	free(pl);
}

static const char stats_json[] =
	"{\"name\":\"rdkafka#producer-1\",\"time\":1764000000,\"msg_cnt\":3,\"msg_size\":300,"
	"\"brokers\":{"
	"\"127.0.0.1:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\",\"txretries\":1,\"rtt\":{\"avg\":0}},"
	"\"127.0.0.1:9092/1\":{\"nodeid\":1,\"state\":\"UP\",\"txretries\":2,\"rtt\":{\"avg\":1500}},"
	"\"127.0.0.1:9093/2\":{\"nodeid\":2,\"state\":\"DOWN\",\"txretries\":0,\"rtt\":{\"avg\":0}}}}";

static void test_kafka_stats(void **state)
{
	struct kafka_stats ks;

	(void)state;
	assert_int_equal(kafka_stats_parse(stats_json, sizeof(stats_json) - 1, &ks), 0);
	assert_int_equal(ks.msg_cnt, 3);
	assert_int_equal(ks.msg_size, 300);
	assert_int_equal(ks.txretries, 3);
	assert_int_equal(ks.nbrokers, 2); /* the bootstrap pseudo-broker is not one */
	assert_string_equal(ks.brokers[0].name, "127.0.0.1:9092/1");
	assert_int_equal(ks.brokers[0].up, 1);
	assert_int_equal(ks.brokers[0].rtt_avg_us, 1500);
	assert_int_equal(ks.brokers[1].up, 0);
	assert_int_equal(kafka_stats_parse("[1]", 3, &ks), -EINVAL);
	assert_int_equal(kafka_stats_parse("{", 1, &ks), -EINVAL);
}

static void test_readiness(void **state)
{
	struct pipeline *pl = fake_pipeline();

	(void)state;
	assert_string_equal(metrics_not_ready(pl, 1000), "collectors not attached yet");
	pl->attached = true;
	assert_string_equal(metrics_not_ready(pl, 1000), "no recent Kafka statistics yet");
	assert_int_equal(kafka_stats_parse(stats_json, sizeof(stats_json) - 1, &pl->publisher.stats), 0);
	pl->publisher.stats.updated_ms = 900;
	assert_null(metrics_not_ready(pl, 1000));
	/* Stale statistics are no evidence of a reachable broker. */
	assert_string_equal(metrics_not_ready(pl, 900 + 60000), "no recent Kafka statistics yet");
	pl->publisher.stats.brokers[0].up = 0;
	assert_string_equal(metrics_not_ready(pl, 1000), "no broker reachable");
	free(pl);
}

/* A client of the server, on one end of a socketpair whose server end takes at most a few kB
 * per write (the smallest SO_SNDBUF the kernel allows), in an epoll set as the event loop's. */
struct http_pair {
	struct metrics_server m;
	int epfd;
	int client;
};

#define TAG_BASE 100

/* As many collectors as a pipeline holds: a large exposition, as on a node with many CPUs. */
static struct pipeline *big_pipeline(void)
{
	struct pipeline *pl = fake_pipeline();

	for (size_t i = 1; i < COLLECTOR_MAX; i++)
		pl->collectors[i] = pl->collectors[0];
	pl->ncollectors = COLLECTOR_MAX;
	return pl;
}

static void http_pair_open(struct http_pair *h, int64_t accepted_ms)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_BASE };
	int sv[2], tiny = 1;

	memset(h, 0, sizeof(*h));
	h->m.listen_fd = -1;
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		h->m.clients[i].fd = -1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny)), 0);
	h->epfd = epoll_create1(0);
	assert_true(h->epfd >= 0);
	assert_int_equal(epoll_ctl(h->epfd, EPOLL_CTL_ADD, sv[0], &ev), 0);
	/* As metrics_accept() leaves a new client. */
	h->m.epfd = h->epfd;
	h->m.tag_base = TAG_BASE;
	h->m.clients[0] = (struct metrics_client){ .fd = sv[0], .state = METRICS_READING,
						    .accepted_ms = accepted_ms };
	h->client = sv[1];
}

static void http_pair_close(struct http_pair *h)
{
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (h->m.clients[i].fd >= 0) {
			close(h->m.clients[i].fd);
			free(h->m.clients[i].response);
		}
	close(h->client);
	close(h->epfd);
}

/* A /metrics answer several times the socket buffer arrives whole: what the socket does not take
 * at once goes out as epoll reports room, and the connection closes after the last byte. */
static void test_large_answer_arrives_whole(void **state)
{
	static const char request[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	static char got[1 << 20];
	struct pipeline *pl = big_pipeline();
	char *body = render(pl), *sep, want_head[128];
	size_t got_len = 0;
	int sends_pending = 0;
	struct http_pair h;

	(void)state;
	http_pair_open(&h, 0);
	assert_true(strlen(body) > 12000); /* several times what the server end takes at once */
	assert_int_equal(write(h.client, request, sizeof(request) - 1), (ssize_t)sizeof(request) - 1);
	metrics_serve(&h.m, 0, pl, 0);
	for (;;) {
		struct epoll_event ev;
		ssize_t n = read(h.client, got + got_len, sizeof(got) - got_len);

		if (n > 0) {
			got_len += (size_t)n;
			continue;
		}
		if (n == 0)
			break; /* the server closed: everything was sent */
		assert_int_equal(errno, EAGAIN);
		/* Nothing to read: the server must be waiting for room, and has it now. */
		assert_int_equal(epoll_wait(h.epfd, &ev, 1, 0), 1);
		assert_int_equal(ev.data.u32, TAG_BASE);
		assert_true(ev.events & EPOLLOUT);
		metrics_serve(&h.m, 0, pl, 0);
		sends_pending++;
	}
	assert_true(sends_pending > 0); /* the answer did take more than one write */
	/* Half-closed after the answer, it waits for the client to close its end. */
	assert_int_equal(h.m.clients[0].state, METRICS_LINGERING);
	assert_int_equal(shutdown(h.client, SHUT_WR), 0);
	metrics_serve(&h.m, 0, pl, 0);
	assert_int_equal(h.m.clients[0].fd, -1);
	sep = memmem(got, got_len, "\r\n\r\n", 4);
	assert_non_null(sep);
	snprintf(want_head, sizeof(want_head), "Content-Length: %zu\r\n", strlen(body));
	assert_non_null(memmem(got, (size_t)(sep - got), want_head, strlen(want_head)));
	assert_int_equal(got_len - (size_t)(sep + 4 - got), strlen(body));
	assert_memory_equal(sep + 4, body, strlen(body));
	h.m.clients[0].fd = -1;
	http_pair_close(&h);
	free(body);
	free(pl);
}

/* A client that never finishes its request loses its slot after METRICS_REQUEST_TIMEOUT_MS. */
static void test_idle_client_is_dropped(void **state)
{
	struct pipeline *pl = fake_pipeline();
	struct http_pair h;
	char c;

	(void)state;
	http_pair_open(&h, 1000);
	assert_int_equal(write(h.client, "GET /metr", 9), 9);
	metrics_serve(&h.m, 0, pl, 1000); /* incomplete: keeps waiting */
	assert_true(h.m.clients[0].fd >= 0);
	metrics_expire(&h.m, 1000 + METRICS_REQUEST_TIMEOUT_MS);
	assert_true(h.m.clients[0].fd >= 0);
	metrics_expire(&h.m, 1000 + METRICS_REQUEST_TIMEOUT_MS + 1);
	assert_int_equal(h.m.clients[0].fd, -1);
	assert_int_equal(h.m.expired, 1);
	assert_int_equal(read(h.client, &c, 1), 0); /* closed, nothing sent */
	http_pair_close(&h);
	free(pl);
}

/* A slow reader of a large answer keeps its slot for METRICS_CLIENT_TIMEOUT_MS, not the request's
 * deadline. */
static void test_slow_reader_keeps_its_time(void **state)
{
	static const char request[] = "GET /metrics HTTP/1.1\r\n\r\n";
	struct pipeline *pl = big_pipeline();
	struct http_pair h;

	(void)state;
	http_pair_open(&h, 1000);
	assert_int_equal(write(h.client, request, sizeof(request) - 1), (ssize_t)sizeof(request) - 1);
	metrics_serve(&h.m, 0, pl, 1000);
	assert_int_equal(h.m.clients[0].state, METRICS_WRITING);
	metrics_expire(&h.m, 1000 + METRICS_CLIENT_TIMEOUT_MS);
	assert_true(h.m.clients[0].fd >= 0);
	metrics_expire(&h.m, 1000 + METRICS_CLIENT_TIMEOUT_MS + 1);
	assert_int_equal(h.m.clients[0].fd, -1);
	http_pair_close(&h);
	free(pl);
}

/* Reads everything the server sends until it closes (or 2 s pass), serving client 0 meanwhile. */
static size_t exchange(struct http_pair *h, const struct pipeline *pl, const char *request,
		       char *got, size_t size)
{
	size_t len = 0;
	struct timespec t0, t;

	assert_int_equal(write(h->client, request, strlen(request)), (ssize_t)strlen(request));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = read(h->client, got + len, size - 1 - len);

		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		assert_int_equal(errno, EAGAIN);
		metrics_serve(&h->m, 0, pl, 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 2);
	}
	got[len] = '\0';
	return len;
}

/* HEAD: the headers GET would have, no body. */
static void test_head(void **state)
{
	struct pipeline *pl = fake_pipeline();
	char got[65536], want[64], *body = render(pl);
	struct http_pair h;

	(void)state;
	http_pair_open(&h, 0);
	exchange(&h, pl, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", got, sizeof(got));
	assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(got, "Content-Length: 3\r\n"));
	assert_non_null(strstr(got, "Connection: close\r\n"));
	assert_int_equal(strlen(strstr(got, "\r\n\r\n")), 4); /* nothing after the headers */
	http_pair_close(&h);

	http_pair_open(&h, 0);
	exchange(&h, pl, "HEAD /metrics HTTP/1.0\r\n\r\n", got, sizeof(got));
	assert_non_null(strstr(got, "HTTP/1.0 200 OK\r\n"));
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
	assert_non_null(strstr(got, want));
	assert_int_equal(strlen(strstr(got, "\r\n\r\n")), 4);
	http_pair_close(&h);
	free(body);
	free(pl);
}

/* An HTTP/1.1 client that keeps the connection alive and pipelines a second request gets one
 * answer, marked Connection: close, and then a clean end of stream (not a reset). */
static void test_keep_alive_pipelined(void **state)
{
	struct pipeline *pl = fake_pipeline();
	char got[4096];
	struct http_pair h;

	(void)state;
	http_pair_open(&h, 0);
	exchange(&h, pl, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
			 "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", got, sizeof(got));
	assert_int_equal(strncmp(got, "HTTP/1.1 200 OK\r\n", 17), 0);
	assert_non_null(strstr(got, "Connection: close\r\n"));
	assert_string_equal(strstr(got, "\r\n\r\n"), "\r\n\r\nok\n");
	assert_null(strstr(got + 1, "HTTP/1.1")); /* one answer */
	/* The server lingers until the client closes; the second request was read and dropped. */
	assert_int_equal(h.m.clients[0].state, METRICS_LINGERING);
	close(h.client);
	h.client = -1;
	metrics_serve(&h.m, 0, pl, 0);
	assert_int_equal(h.m.clients[0].fd, -1);
	h.client = socket(AF_UNIX, SOCK_STREAM, 0);
	http_pair_close(&h);
	free(pl);
}

/* Everything else: an error status, then the connection closes. */
static void test_bad_requests(void **state)
{
	static const struct {
		const char *request, *status;
	} cases[] = {
		{ "POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
		  "HTTP/1.1 405 Method Not Allowed\r\n" },
		{ "GET /healthz HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n" },
		{ "GET /healthz\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
		{ "\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
		{ "GET /nope?x=1 HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found\r\n" },
		{ "GET /healthz?verbose HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n" },
	};
	struct pipeline *pl = fake_pipeline();
	char got[4096], big[METRICS_REQUEST_MAX + 64];
	struct http_pair h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_pair_open(&h, 0);
		exchange(&h, pl, cases[i].request, got, sizeof(got));
		if (strncmp(got, cases[i].status, strlen(cases[i].status)))
			fail_msg("%zu: got \"%.40s\", want \"%s\"", i, got, cases[i].status);
		http_pair_close(&h);
	}
	http_pair_open(&h, 0);
	memset(big, 'x', sizeof(big) - 1); /* headers that never end */
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	exchange(&h, pl, big, got, sizeof(got));
	assert_int_equal(strncmp(got, "HTTP/1.1 431 ", 13), 0);
	http_pair_close(&h);
	free(pl);
}

/* A real listening socket in an epoll set, driven as the event loop drives it. */
#define TAG_LISTEN 1
#define TAG_CLIENTS 16

static void pump(struct metrics_server *m, int epfd, const struct pipeline *pl, int64_t now_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(epfd, evs, 16, 10);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == TAG_LISTEN)
			metrics_accept(m, epfd, TAG_CLIENTS, pl, now_ms);
		else
			metrics_serve(m, (int)(evs[i].data.u32 - TAG_CLIENTS), pl, now_ms);
	}
}

static int connect_to(const struct metrics_server *m)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned port;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(sscanf(strrchr(m->address, ':') + 1, "%u", &port), 1);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Loopback: the connection completes in the kernel's backlog, before any accept. */
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* True once `fd` was closed by the server (end of stream or reset). */
static bool closed_by_peer(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN);
}

/*
 * The attack: a client holds every slot with idle connections and reopens each one the
 * server closes. Before, 0 of 50 probes got an answer (the 9th connection was closed at once);
 * now every probe gets its 200, whatever the idle clients do.
 */
static void test_idle_clients_cannot_block_probes(void **state)
{
	static const char probe[] =
		"GET /healthz HTTP/1.1\r\nHost: node\r\nUser-Agent: kube-probe\r\n\r\n";
	struct pipeline *pl = fake_pipeline();
	struct metrics_server m = { .listen_fd = -1 };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_LISTEN };
	int idle[METRICS_MAX_CLIENTS], epfd, answered = 0, reopened = 0;
	char err[256];
	int64_t now = 5000;

	(void)state;
	pl->last_tick_ms = now;
	assert_int_equal(metrics_open(&m, "127.0.0.1:0", err, sizeof(err)), 0);
	epfd = epoll_create1(0);
	assert_true(epfd >= 0);
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, m.listen_fd, &ev), 0);
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		idle[i] = connect_to(&m);
	for (int i = 0; i < 3; i++)
		pump(&m, epfd, pl, now);
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		assert_true(m.clients[i].fd >= 0); /* every slot held */

	for (int round = 0; round < 50; round++) {
		char got[512] = "";
		size_t len = 0;
		struct timespec t0, t;
		int fd;

		/* The attacker reopens what the server closed. */
		for (int i = 0; i < METRICS_MAX_CLIENTS; i++) {
			if (closed_by_peer(idle[i])) {
				close(idle[i]);
				idle[i] = connect_to(&m);
				reopened++;
			}
		}
		pump(&m, epfd, pl, now);
		fd = connect_to(&m);
		assert_int_equal(write(fd, probe, sizeof(probe) - 1), (ssize_t)sizeof(probe) - 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			ssize_t n;

			pump(&m, epfd, pl, now);
			n = read(fd, got + len, sizeof(got) - 1 - len);
			if (n > 0)
				len += (size_t)n;
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break;
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= 2)
				break;
		}
		got[len] = '\0';
		close(fd);
		answered += strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0 && strstr(got, "\r\n\r\nok\n");
		now += 10;
	}
	assert_int_equal(answered, 50);
	assert_true(reopened > 0); /* the attack did go on */
	assert_true(m.evicted > 0);

	/* Idle clients past the request deadline go at the next expiry even without a newcomer;
	 * the last probe's slot lingers a little longer, unless the probe closed. */
	metrics_expire(&m, now + METRICS_REQUEST_TIMEOUT_MS + 1);
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		assert_true(m.clients[i].fd == -1 || m.clients[i].state == METRICS_LINGERING);
	metrics_expire(&m, now + METRICS_LINGER_MS + 1);
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		assert_int_equal(m.clients[i].fd, -1);
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		close(idle[i]);
	metrics_close(&m);
	close(epfd);
	free(pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition_format),
		cmocka_unit_test(test_kafka_stats),
		cmocka_unit_test(test_readiness),
		cmocka_unit_test(test_large_answer_arrives_whole),
		cmocka_unit_test(test_idle_client_is_dropped),
		cmocka_unit_test(test_slow_reader_keeps_its_time),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_keep_alive_pipelined),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_idle_clients_cannot_block_probes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
