/*
 * A collector is one row of collector_table: typed ops that open its sources and turn what they
 * deliver into records of its topic. Records reach Kafka one way only: the collector begins a
 * record with pipeline_begin() (a kernel event in a cgroup) or pipeline_begin_keyed() (an event
 * with a wall-clock time and a key of its own), appends its topic's fields, and calls
 * pipeline_commit(). The pipeline (pipeline.c) writes the framing and the envelope, numbers the
 * record, publishes it, and counts every way it can fail to arrive.
 *
 * A collector's sources, any of which it may have (struct collector_io):
 *   - a BPF ring buffer, read by the event loop; each record goes to ring_record();
 *   - a wake fd the event loop watches; when it is readable, wake() runs (a netlink socket);
 *   - a hand-off queue (handoff.h) that a worker thread of the collector fills with finished
 *     records (HTTP sources: I/O, TLS and JSON parsing off the loop); the pipeline drains it.
 *
 * Every op runs on the event-loop thread. Lifecycle: open() for every configured collector, then
 * start() for those that opened, in table order (metadata first: it fills the identity cache the
 * others read); the loop; stop() when shutdown begins (no new records; what is queued stays
 * readable), the pipeline drains and flushes; destroy().
 */
#ifndef TAPIO_COLLECTOR_H
#define TAPIO_COLLECTOR_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "avro_writer.h"
#include "common.h"
#include "config.h"

struct collector_runtime;
struct handoff;
struct http_client;

/* Outcome of checking one ring-buffer record. Every rejection is counted by reason. */
enum decode_result {
	DECODE_OK = 0,        /* valid: the collector published it, or keeps it for later */
	DECODE_SHORT,         /* smaller than the common header */
	DECODE_SIZE_MISMATCH, /* header size field disagrees with the ring buffer's record length */
	DECODE_UNKNOWN_TYPE,  /* a type this collector does not emit */
	DECODE_BAD_VERSION,   /* a layout version this build does not know */
	DECODE_BAD_LENGTH,    /* record length is not the exact size of its type */
	DECODE_BAD_FIELD,     /* a length field inside the record points past its buffer */
	DECODE_RESULT_MAX,
};

const char *decode_result_name(enum decode_result r);

/* What open() hands the pipeline; every member is optional (-1 / NULL: none). The collector keeps
 * ownership of each: destroy() closes them. */
struct collector_io {
	int ring_fd;             /* BPF ring buffer: records go to ring_record() */
	/* Per-CPU u64 array: [0] ring-buffer reserve failures (records lost), optional [1] records
	 * sent incomplete because a BPF state map was full (kernel: tcp_conns). */
	int counters_fd;
	int wake_fd;             /* readable: wake() runs */
	struct handoff *handoff; /* finished records from the collector's worker */
	struct http_client *http; /* its worker's HTTP client: /metrics shows its counters */
	/* A second client of the same collector, under a label of its own (two requests at once:
	 * kubeapi's pods and Events watches): /metrics shows it too. */
	struct http_client *http_second;
};

struct collector_ops {
	const char *name; /* configuration name, topic suffix and schema name (schemas/<name>.avsc) */
	/* Key records by <node>/<cgroup id> even when the cgroup belongs to a pod (the metadata
	 * topic is compacted per cgroup); otherwise the key is the pod UID when there is one. */
	bool key_by_cgroup;
	/* Runs whenever a collector that reads the kernel runs, whatever `collectors` says: they
	 * depend on it (metadata keeps the identity cache). */
	bool always;
	/* Reads an HTTP API, not the kernel: needs no BPF, no cgroup tree, no identity cache. With
	 * only such collectors (the cluster Deployment), metadata does not run. */
	bool http;
	/* Runs only when asked for by name (`collectors`), never in the default set. */
	bool not_default;
	/* Opens the collector's sources (loads and attaches BPF programs, opens sockets, checks
	 * its settings) and fills *io. 0; -ENODEV when it has nothing (usable) to connect to, with a
	 * line saying what is missing: skipped when it was not asked for by name, a configuration
	 * error when it was (start-up fails, exit 2); or another -errno with a log line (the
	 * collector does not run; the others do). */
	int (*open)(struct collector_runtime *c, struct collector_io *io);
	/* Optional: after every collector opened, in table order. First records (a snapshot of
	 * what exists at start), seeding from the identity cache, starting a worker. 0 or -errno
	 * (logged; the collector is stopped and does not run). */
	int (*start)(struct collector_runtime *c);
	/* Required with a ring: checks one record of `size` bytes (reading nothing beyond it) and
	 * publishes what it means, now or later. DECODE_OK, or why it was rejected (counted by the
	 * pipeline, never fatal). */
	enum decode_result (*ring_record)(struct collector_runtime *c, const void *data,
					  size_t size);
	/* Required with a wake fd: reads what made it readable, without blocking. */
	void (*wake)(struct collector_runtime *c);
	/* Optional: called about once a second with the boot-relative time (timeouts, expiry). */
	void (*tick)(struct collector_runtime *c, uint64_t now_ktime_ns);
	/* Optional: whether a running collector reaches its source (an HTTP collector whose
	 * server is unreachable or refusing runs, retrying, but is not up). Any thread may ask:
	 * read atomics only. Without it, running is up. */
	bool (*up)(const struct collector_runtime *c);
	/* Optional: the collector's own series for /metrics, in the text exposition format. */
	void (*render_metrics)(const struct collector_runtime *c, FILE *out);
	/* Optional: no new records from here on (detach programs, stop the worker); what its ring
	 * and hand-off hold stays readable for the drain. */
	void (*stop)(struct collector_runtime *c);
	/* Frees everything open() and start() made; runs after the drain and flush, whether or not
	 * open() succeeded. */
	void (*destroy)(struct collector_runtime *c);
};

extern const struct collector_ops *const collector_table[];
extern const size_t collector_count;

const struct collector_ops *collector_find(const char *name);

/* Checks the common header of a record of `size` bytes; on DECODE_OK *hdr points into data. */
enum decode_result decode_header(const void *data, size_t size, const struct tapio_hdr **hdr);

#endif /* TAPIO_COLLECTOR_H */
