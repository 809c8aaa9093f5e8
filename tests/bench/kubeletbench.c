/*
 * kubeletbench: the kubelet collector's CPU per scrape, in process, without HTTP: the bodies of
 * /pods and /stats/summary of a node (files written by the stand-in kubelet), each scrape read
 * as the collector reads the bodies the HTTP client hands it, mapped (state changes against the
 * previous poll, then POD_STATS and NODE_STATS), encoded, handed off, framed and produced by the
 * real pipeline to a broker (tests/bench/mockbroker.c in its own process), and delivered.
 *
 *   kubeletbench --brokers HOST:PORT --pods FILE --summary FILE [--scrapes N]
 *
 * Prints key=value lines: kubelet_scrapes, kubelet_records_per_scrape, kubelet_cpu_us_per_scrape
 * (the process: this thread and librdkafka's, median of the scrapes),
 * kubelet_map_cpu_us_per_scrape (this thread, parse + map + encode + hand-off only).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "handoff.h"
#include "kubelet_collector.h"
#include "log.h"
#include "pipeline.h"

static const char *const known_collectors[] = { "kubelet", NULL };
static struct handoff *queue;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "kubeletbench: %s: %s\n", what, why);
	exit(1);
}

/* The collector's hand-off without its worker: this program is the worker. */
static int bench_open(struct collector_runtime *c, struct collector_io *io)
{
	(void)c;
	queue = handoff_new(16384, 64u << 20);
	if (!queue)
		return -errno;
	io->handoff = queue;
	return 0;
}

static void bench_destroy(struct collector_runtime *c)
{
	(void)c;
	handoff_free(queue);
	queue = NULL;
}

static const struct collector_ops bench_collector = {
	.name = "kubelet", .open = bench_open, .destroy = bench_destroy,
};

static int push(void *ctx, const struct handoff_meta *meta, const char *key, size_t key_len,
		const void *body, size_t body_len)
{
	(void)ctx;
	return handoff_push_record(queue, meta, key, key_len, body, body_len, 0) ? -ENOBUFS : 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die(path, strerror(errno));
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die(path, "read");
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* CPU time of the process (every thread) or this thread, in µs. */
static int64_t cpu_us(clockid_t which)
{
	struct timespec ts;

	clock_gettime(which, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct scrape_state {
	struct kubelet_pods pods;
	struct kubelet_state state;
	bool baseline;
	uint8_t body[HANDOFF_BODY_MAX];
	struct kubelet_counts counts;
};

/* What the collector's worker does with the two bodies the HTTP client hands it (raw mode).
 * The records it handed off. */
static int scrape(struct scrape_state *s, const char *pods_text, size_t pods_len,
		  const char *summary_text, size_t summary_len)
{
	struct kubelet_emit e = { .node = "bench", .buf = s->body, .cap = sizeof(s->body),
				  .fn = push, .counts = &s->counts };
	struct kubelet_scrape sc = { .duration_ms = 1 };
	struct kubelet_pods pods;
	struct kubelet_state next;
	int n;

	e.observed_us = (int64_t)time(NULL) * 1000000;
	if (kubelet_pods_parse(pods_text, pods_len, &pods, &s->counts))
		die("pods", "not a PodList");
	if (kubelet_pods_diff(s->baseline ? &s->state : NULL, &pods, &e, &next))
		die("pods", "diff");
	kubelet_state_free(&s->state);
	s->state = next;
	s->baseline = true;
	kubelet_pods_free(&s->pods);
	s->pods = pods;
	sc.pods = &s->pods;
	n = kubelet_map_summary(summary_text, summary_len, &sc, &e);
	if (n < 0)
		die("summary", "not a Summary");
	return n;
}

/* Publishes what the hand-off holds and waits for every delivery report, asleep on the wake fd
 * librdkafka writes to as the event loop is (no polling of our own to count as CPU). */
static void deliver(struct pipeline *pl, struct collector_runtime *c)
{
	struct pollfd pfd = { .fd = publisher_wake_fd(&pl->publisher), .events = POLLIN };

	for (int i = 0; i < 300; i++) {
		pipeline_take_handoff(c);
		publisher_poll(&pl->publisher);
		if (c->stats.delivered + c->stats.delivery_failed == c->stats.produced &&
		    c->stats.received == c->stats.produced)
			return;
		poll(&pfd, 1, 100);
	}
	die("deliver", "reports missing after 30 s");
}

int main(int argc, char **argv)
{
	const char *brokers = NULL, *pods_path = NULL, *summary_path = NULL;
	static struct scrape_state s;
	const struct collector_ops *ops[] = { &bench_collector };
	char errstr[512], root[] = "/tmp/kubeletbench-XXXXXX";
	struct tapio_config cfg;
	struct pipeline pl;
	struct collector_runtime *c;
	size_t pods_len, summary_len;
	char *pods_text, *summary_text;
	int scrapes = 50, records = 0;
	int64_t *all, *mapping, t0, m0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--brokers"))
			brokers = argv[i + 1];
		else if (!strcmp(argv[i], "--pods"))
			pods_path = argv[i + 1];
		else if (!strcmp(argv[i], "--summary"))
			summary_path = argv[i + 1];
		else if (!strcmp(argv[i], "--scrapes"))
			scrapes = atoi(argv[i + 1]);
		else
			die("unknown argument", argv[i]);
	}
	if (!brokers || !pods_path || !summary_path || scrapes < 1)
		die("usage", "--brokers HOST:PORT --pods FILE --summary FILE [--scrapes N]");
	pods_text = slurp(pods_path, &pods_len);
	summary_text = slurp(summary_path, &summary_len);
	all = calloc((size_t)scrapes, sizeof(*all));
	mapping = calloc((size_t)scrapes, sizeof(*mapping));
	if (!all || !mapping || !mkdtemp(root))
		die("setup", strerror(errno));

	log_level_current = LOG_WARN;
	config_defaults(&cfg);
	if (config_set(&cfg, "node_name", "bench", "bench", known_collectors, errstr,
		       sizeof(errstr)) ||
	    config_set(&cfg, "collectors", "kubelet", "bench", known_collectors, errstr,
		       sizeof(errstr)) ||
	    config_set(&cfg, "brokers", brokers, "--brokers", known_collectors, errstr,
		       sizeof(errstr)))
		die("config", errstr);
	if (pipeline_open_collectors(&pl, &cfg, ops, 1, root, errstr, sizeof(errstr)))
		die("pipeline", errstr);
	if (pipeline_attach(&pl) != 1)
		die("pipeline", "attach");
	c = pipeline_collector(&pl, "kubelet");

	/* The first poll publishes a snapshot per pod; the steady state starts after it. */
	scrape(&s, pods_text, pods_len, summary_text, summary_len);
	deliver(&pl, c);
	for (int i = 0; i < scrapes; i++) {
		t0 = cpu_us(CLOCK_PROCESS_CPUTIME_ID);
		m0 = cpu_us(CLOCK_THREAD_CPUTIME_ID);
		records += scrape(&s, pods_text, pods_len, summary_text, summary_len);
		mapping[i] = cpu_us(CLOCK_THREAD_CPUTIME_ID) - m0;
		deliver(&pl, c);
		all[i] = cpu_us(CLOCK_PROCESS_CPUTIME_ID) - t0;
	}
	qsort(all, (size_t)scrapes, sizeof(*all), cmp_i64);
	qsort(mapping, (size_t)scrapes, sizeof(*mapping), cmp_i64);
	printf("kubelet_scrapes=%d\nkubelet_pods=%zu\nkubelet_records_per_scrape=%d\n"
	       "kubelet_cpu_us_per_scrape=%" PRId64 "\nkubelet_cpu_us_per_scrape_min=%" PRId64 "\n"
	       "kubelet_cpu_us_per_scrape_max=%" PRId64 "\nkubelet_map_cpu_us_per_scrape=%" PRId64
	       "\nkubelet_delivered=%" PRIu64 "\nkubelet_pods_bytes=%zu\nkubelet_summary_bytes=%zu\n",
	       scrapes, s.pods.npods, records / scrapes, all[scrapes / 2], all[0],
	       all[scrapes - 1], mapping[scrapes / 2], c->stats.delivered, pods_len, summary_len);
	pipeline_close(&pl);
	config_free(&cfg);
	kubelet_pods_free(&s.pods);
	kubelet_state_free(&s.state);
	rmdir(root);
	free(all);
	free(mapping);
	free(pods_text);
	free(summary_text);
	return 0;
}
