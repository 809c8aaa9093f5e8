/*
 * What every HTTP collector (kubeapi, kubelet, etcd) has around its HTTP client: one worker
 * thread that makes the requests, maps JSON to records and hands them to the event loop through
 * a hand-off queue (core/handoff.h), and the checkpoints of its sources, written by the worker
 * once Kafka acknowledged what they cover.
 *
 * A collector embeds a struct http_worker in its own state and gives run(), which loops until
 * http_worker_stopping() (any wait inside it, an HTTP request or a backoff sleep, returns at
 * once when the worker is stopped). Lifecycle, from the collector's ops: http_worker_init() in
 * open() (after http_client_open()), http_worker_start() in start(), http_worker_stop() in
 * stop(), http_worker_destroy() in destroy() (after the pipeline drained: it writes the last
 * durable checkpoints).
 *
 * Ownership: the worker owns the client and the hand-off given to http_worker_init() from then
 * on (even when it fails), and frees them in http_worker_destroy().
 */
#ifndef TAPIO_HTTP_WORKER_H
#define TAPIO_HTTP_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "checkpoint.h"
#include "handoff.h"
#include "http_client.h"

/* One checkpointed source of a collector: the pods watch, the events watch, the etcd watch. */
struct http_source {
	const char *name;  /* file name part: <collector>.<name>.checkpoint */
	char scope[256];   /* what its positions are relative to (an API server URL, a cluster) */
	/* Optional: state to keep beside `position` (a collector that must not announce again what
	 * it announced before a restart). Called on the worker thread; returns a malloc'd buffer
	 * (the worker frees it) or NULL with *len 0. */
	char *(*state_at)(struct http_source *src, const char *position, size_t *len);
};

struct http_worker {
	char name[32];             /* collector name */
	struct http_client *client;
	struct handoff *handoff;
	char state_dir[4096];      /* "" = no checkpoints */
	char node[256];
	struct http_source *sources[HANDOFF_SOURCES];
	size_t nsources;
	void (*run)(struct http_worker *w);
	pthread_t thread;
	bool started;
	int checkpoint_err;        /* the last checkpoint write's outcome, for its log line */
};

/* Takes ownership of client and handoff. `state_dir` NULL or "" = no checkpoints. 0 or
 * -EINVAL (name, node or state_dir too long). */
int http_worker_init(struct http_worker *w, const char *name, struct http_client *client,
		     struct handoff *handoff, const char *state_dir, const char *node);

/* Registers source `src` as hand-off source number w->nsources (returned). At most
 * HANDOFF_SOURCES. */
int http_worker_add_source(struct http_worker *w, struct http_source *src);

/* Reads the checkpoint of source `index`: 0 with `position` set (and *state when asked, see
 * checkpoint_load), -ENOENT when there is none or checkpoints are off, or -EINVAL when it was
 * corrupt or foreign (logged; the caller starts afresh). */
int http_worker_load(struct http_worker *w, int index, char *position, size_t size,
		     char **state, size_t *state_len);

/* Worker: writes the checkpoint of every source whose durable position moved since the last
 * call (failures are logged once per state change). Cheap when nothing moved: call it after
 * every batch of records and in every wait. */
void http_worker_checkpoint(struct http_worker *w);

/* Starts the thread running run(w). 0 or -errno. */
int http_worker_start(struct http_worker *w, void (*run)(struct http_worker *w));

/* Worker: true once http_worker_stop() began. */
bool http_worker_stopping(struct http_worker *w);

/* Event loop: no new records from here on; cancels the request and any wait in flight, joins
 * the thread. What the hand-off holds stays for the pipeline to drain. */
void http_worker_stop(struct http_worker *w);

/* After the drain: the last durable positions are checkpointed, then the client and the
 * hand-off are freed. Safe on a zeroed or half-initialised worker. */
void http_worker_destroy(struct http_worker *w);

#endif /* TAPIO_HTTP_WORKER_H */
