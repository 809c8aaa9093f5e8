/*
 * kubeapibench: the kubeapi collector's cost per pod in one process, stage by stage, on the
 * API server's own bytes (a file of watch events, one per line, as the stand-in writes them).
 * It links the producer's library: the tokenizer, the mapper and the Avro writer are the real
 * ones; jansson is measured on the same bytes as the reference the tokenizer replaced.
 *
 *   kubeapibench FILE [--rounds N]
 *
 * Output: "name=value" lines (µs per event, medians of rounds) for tests/bench/run.sh:
 *   jansson_parse_us   json_loadb of the event (what the HTTP client's stream mode would do)
 *   tokenize_us        jtok_parse
 *   map_us             kubeapi_watch_event + kubeapi_map_pod after the tokenizer
 *   worker_us          tokenize + map + the hand-off push and pop of the record
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "handoff.h"
#include "kubeapi_collector.h"

#define LINES_MAX 4096

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static char *lines[LINES_MAX];
static size_t lens[LINES_MAX], nlines;
static uint8_t body[KUBEAPI_BODY_MAX], scratch[KUBEAPI_SCRATCH_SIZE];
static const struct kubeapi_map_config cfg = { .node = "node-a" };

enum stage { JANSSON, TOKENIZE, MAP, WORKER, STAGES };

/* One pass over every line at `stage`; returns µs per line. */
static double pass(enum stage stage, struct jtok_doc *d, struct handoff *q)
{
	double t0 = now_s();

	for (size_t i = 0; i < nlines; i++) {
		struct kubeapi_map_stats stats = { 0 };
		enum kubeapi_watch_type type;
		struct kubeapi_record rec;
		struct kubeapi_skip skip;
		json_error_t jerr;
		json_t *v;
		int obj;

		if (stage == JANSSON) {
			v = json_loadb(lines[i], lens[i], JSON_DECODE_ANY, &jerr);
			if (!v)
				exit(1);
			json_decref(v);
			continue;
		}
		if (jtok_parse(d, lines[i], lens[i]))
			exit(1);
		if (stage == TOKENIZE)
			continue;
		avro_buf_init(&rec.body, body, sizeof(body));
		if (kubeapi_watch_event(d, &type, &obj, &skip) ||
		    kubeapi_map_pod(d, obj, KUBEAPI_POD_MODIFIED, 1, &cfg, scratch, &rec, &skip,
				    &stats))
			exit(1);
		if (stage == MAP)
			continue;
		snprintf(rec.meta.position, sizeof(rec.meta.position), "%s", rec.resource_version);
		if (handoff_push_record(q, &rec.meta, rec.key, rec.key_len, rec.body.data,
					rec.body.len, 0))
			exit(1);
		free(handoff_pop(q));
	}
	return (now_s() - t0) * 1e6 / (double)nlines;
}

int main(int argc, char **argv)
{
	static const char *const names[STAGES] = { "jansson_parse_us", "tokenize_us", "map_us",
						    "worker_us" };
	double results[STAGES][64];
	int rounds = 15;
	struct jtok_doc d;
	struct handoff *q;
	char *line = NULL;
	size_t cap = 0, bytes = 0;
	ssize_t n;
	FILE *f;

	if (argc < 2) {
		fprintf(stderr, "usage: kubeapibench FILE [--rounds N]\n");
		return 2;
	}
	if (argc == 4 && !strcmp(argv[2], "--rounds"))
		rounds = atoi(argv[3]);
	if (rounds < 1 || rounds > 64)
		rounds = 15;
	f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	while (nlines < LINES_MAX && (n = getline(&line, &cap, f)) > 1) {
		lens[nlines] = (size_t)n - (line[n - 1] == '\n');
		lines[nlines] = strndup(line, lens[nlines]);
		bytes += lens[nlines++];
	}
	free(line);
	fclose(f);
	if (!nlines)
		return 1;
	jtok_init(&d, 1u << 20, 64);
	q = handoff_new(16, 1 << 20);
	for (int r = 0; r < rounds; r++)
		for (int s = 0; s < STAGES; s++)
			results[s][r] = pass(s, &d, q);
	printf("events=%zu\nbytes_per_event=%zu\n", nlines, bytes / nlines);
	for (int s = 0; s < STAGES; s++) {
		qsort(results[s], (size_t)rounds, sizeof(double), cmp_double);
		printf("%s=%.2f\n", names[s], results[s][rounds / 2]);
	}
	handoff_free(q);
	jtok_free(&d);
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	return 0;
}
