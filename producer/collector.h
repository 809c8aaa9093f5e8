/*
 * A collector is one row of collector_table: typed ops that open its BPF programs, check its
 * ring-buffer records and encode them as Avro for its topic. The pipeline (pipeline.c) does the
 * rest, the same way for every collector.
 */
#ifndef TAPIO_COLLECTOR_H
#define TAPIO_COLLECTOR_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "avro_writer.h"
#include "common.h"
#include "config.h"

/* Outcome of checking one ring-buffer record. Every rejection is counted by reason. */
enum decode_result {
	DECODE_OK = 0,
	DECODE_SHORT,         /* smaller than the common header */
	DECODE_SIZE_MISMATCH, /* header size field disagrees with the ring buffer's record length */
	DECODE_UNKNOWN_TYPE,  /* a type this collector does not emit */
	DECODE_BAD_VERSION,   /* a layout version this build does not know */
	DECODE_BAD_LENGTH,    /* record length is not the exact size of its type */
	DECODE_BAD_FIELD,     /* a length field inside the record points past its buffer */
	DECODE_RESULT_MAX,
};

const char *decode_result_name(enum decode_result r);

/* Fields every record of every topic carries, right after `kind`, in this order. */
struct envelope {
	int64_t event_time_us;    /* wall clock */
	int64_t seq;              /* per (node, collector) */
	const char *node;
	uint64_t cgroup_id;
	const char *pod_uid;      /* NULL or "" = null */
	const char *container_id; /* NULL or "" = null */
};

/* A checked record. `hdr` points into the ring buffer and is valid only inside the callback. */
struct decoded {
	const struct tapio_hdr *hdr;
	int kind; /* index into the topic schema's `Kind` enum */
};

/* The BPF maps the pipeline reads, owned by the collector. */
struct collector_maps {
	int ring_fd;
	int reserve_failures_fd; /* per-CPU u64 array, one entry */
};

struct collector_ops {
	const char *name; /* configuration name, topic suffix and schema name (schemas/<name>.avsc) */
	/* Opens, loads and attaches the BPF programs: 0 with *maps filled, or -errno with a log line
	 * saying what the kernel lacks. */
	int (*open)(const struct tapio_config *cfg, struct collector_maps *maps);
	/* Checks one ring-buffer record of `size` bytes. Reads nothing beyond `size`. */
	enum decode_result (*decode)(const void *data, size_t size, struct decoded *out);
	/* Writes the Avro datum of a DECODE_OK record: the envelope (avro_put_envelope), then the
	 * collector's own fields. */
	void (*encode)(const struct decoded *rec, const struct envelope *env, struct avro_buf *out);
	/* Detaches the programs so no new records arrive; the maps stay readable for draining. */
	void (*detach)(void);
	/* Frees everything open() made. Safe after a failed open(). */
	void (*destroy)(void);
};

extern const struct collector_ops *const collector_table[];
extern const size_t collector_count;

const struct collector_ops *collector_find(const char *name);

/* Writes `kind` and the envelope fields. */
void avro_put_envelope(struct avro_buf *out, int kind, const struct envelope *env);

/* Checks the common header of a record of `size` bytes; on DECODE_OK *hdr points into data. */
enum decode_result decode_header(const void *data, size_t size, const struct tapio_hdr **hdr);

#endif /* TAPIO_COLLECTOR_H */
