/*
 * A collector is one row of collector_table: typed ops that open its BPF programs, check its
 * ring-buffer records and encode them as Avro for its topic. The pipeline (pipeline.c) does the
 * rest, the same way for every collector.
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

/* Outcome of checking one ring-buffer record. Every rejection is counted by reason. */
enum decode_result {
	DECODE_OK = 0,        /* publish it now: the pipeline calls encode() */
	DECODE_HELD,          /* valid, kept by the collector, which publishes later (or never) */
	DECODE_SHORT,         /* smaller than the common header */
	DECODE_SIZE_MISMATCH, /* header size field disagrees with the ring buffer's record length */
	DECODE_UNKNOWN_TYPE,  /* a type this collector does not emit */
	DECODE_BAD_VERSION,   /* a layout version this build does not know */
	DECODE_BAD_LENGTH,    /* record length is not the exact size of its type */
	DECODE_BAD_FIELD,     /* a length field inside the record points past its buffer */
	DECODE_RESULT_MAX,
};

const char *decode_result_name(enum decode_result r);

/* A checked record. `hdr` points into the ring buffer and is valid only inside the callback. */
struct decoded {
	const struct tapio_hdr *hdr;
	int kind; /* index into the topic schema's `Kind` enum */
};

/* The BPF maps the pipeline reads, owned by the collector. */
struct collector_maps {
	int ring_fd;
	/* Per-CPU u64 array: [0] ring-buffer reserve failures (records lost), optional [1] records
	 * sent incomplete because a BPF state map was full (kernel: tcp_conns). */
	int reserve_failures_fd;
};

struct collector_ops {
	const char *name; /* configuration name, topic suffix and schema name (schemas/<name>.avsc) */
	/* Key records by <node>/<cgroup id> even when the cgroup belongs to a pod (the metadata
	 * topic is compacted per cgroup); otherwise the key is the pod UID when there is one. */
	bool key_by_cgroup;
	/* Opens, loads and attaches the BPF programs: 0 with *maps filled, or -errno with a log line
	 * saying what the kernel lacks. */
	int (*open)(const struct tapio_config *cfg, struct collector_maps *maps);
	/* Checks one ring-buffer record of `size` bytes. Reads nothing beyond `size`. A stateful
	 * collector may keep what it needs and return DECODE_HELD; it then publishes through
	 * pipeline_begin()/pipeline_commit() itself, from decode() or tick(). */
	enum decode_result (*decode)(struct collector_runtime *c, const void *data, size_t size,
				     struct decoded *out);
	/* Writes the collector's own fields of a DECODE_OK record, after the kind and envelope
	 * the pipeline wrote. NULL for a collector whose decode() never returns DECODE_OK. */
	void (*encode)(const struct decoded *rec, struct avro_buf *out);
	/* Optional: called about once a second with the boot-relative time (timeouts, expiry). */
	void (*tick)(struct collector_runtime *c, uint64_t now_ktime_ns);
	/* Optional: the collector's own counters for /metrics, in the text exposition format. */
	void (*render_metrics)(FILE *out);
	/* Detaches the programs so no new records arrive; the maps stay readable for draining. */
	void (*detach)(void);
	/* Frees everything open() made. Safe after a failed open(). */
	void (*destroy)(void);
};

extern const struct collector_ops *const collector_table[];
extern const size_t collector_count;

const struct collector_ops *collector_find(const char *name);

/* Checks the common header of a record of `size` bytes; on DECODE_OK *hdr points into data. */
enum decode_result decode_header(const void *data, size_t size, const struct tapio_hdr **hdr);

#endif /* TAPIO_COLLECTOR_H */
