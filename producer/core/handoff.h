/*
 * The hand-off from a collector's worker thread to the event loop: a bounded FIFO of finished
 * records and an eventfd that wakes the loop. The worker does the slow work (HTTP, TLS, JSON,
 * encoding the topic's own fields); the loop only frames, numbers and publishes, so the pipeline
 * stays single-threaded.
 *
 * Positions: a record (or a mark, which carries no record) may name the position of its source
 * it completes (a Kubernetes resourceVersion, an etcd revision). Once every record handed over
 * before it has been delivered or spooled, the pipeline reports the position durable; the worker
 * takes it (handoff_take_durable) and checkpoints it. Up to HANDOFF_SOURCES sources per queue.
 *
 * Threads: handoff_push_*, handoff_take_durable and handoff_stop are the worker's side (any one
 * thread); handoff_fd, handoff_pop, handoff_set_durable, the counters and handoff_free are the
 * loop's. Ownership: handoff_new() makes the queue, handoff_free() frees it with every entry
 * still queued; an entry handoff_pop() returns belongs to the caller (free() it).
 */
#ifndef TAPIO_HANDOFF_H
#define TAPIO_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HANDOFF_SOURCES 4
#define HANDOFF_POSITION_MAX 64 /* a resourceVersion or a revision, with its NUL */
#define HANDOFF_KEY_MAX 512     /* an etcd key can be longer than a pod UID */
#define HANDOFF_BODY_MAX 65536  /* the topic's own fields of one record, encoded */

/* Who a record is about, beside its key. Empty strings mean null. */
struct handoff_meta {
	int kind;              /* index into the topic schema's `Kind` enum */
	int64_t event_time_us; /* wall clock */
	uint64_t cgroup_id;    /* 0 when the record is not about a cgroup */
	char pod_uid[64];
	char container_id[128];
	int source;            /* 0 .. HANDOFF_SOURCES - 1: whose position `position` is */
	char position[HANDOFF_POSITION_MAX]; /* "" = this record completes no position */
};

struct handoff_entry {
	struct handoff_entry *next;
	bool is_mark;           /* a position only, no record */
	struct handoff_meta meta;
	size_t key_len, body_len;
	uint8_t *body;          /* points after key */
	char key[];             /* key_len bytes, then body_len bytes of body */
};

struct handoff;

/* A queue of at most max_entries entries and max_bytes bytes of keys and bodies. NULL on ENOMEM
 * or when the eventfd cannot be made (errno set). */
struct handoff *handoff_new(size_t max_entries, size_t max_bytes);

/* Worker: queues a record (the key and the encoded body are copied). When the queue is full,
 * waits up to wait_ms for room (-1: until handoff_stop()). 0; -ENOBUFS when it stayed full (the
 * record is counted as refused: a HANDOFF loss); -ECANCELED after handoff_stop() (not counted:
 * shutdown); -EMSGSIZE when the key or body exceeds its maximum (counted as refused). */
int handoff_push_record(struct handoff *q, const struct handoff_meta *meta, const char *key,
			size_t key_len, const void *body, size_t body_len, int wait_ms);

/* Worker: queues a position that no record carries (a watch bookmark, a progress notification).
 * A mark never counts as refused: when the queue is full it replaces the newest mark of the same
 * source or is dropped (a later position supersedes it). 0 or -ECANCELED. */
int handoff_push_mark(struct handoff *q, int source, const char *position);

/* Worker: copies into buf the newest durable position of `source` if it changed since the last
 * call. True when it did. */
bool handoff_take_durable(struct handoff *q, int source, char *buf, size_t size);

/* Any thread: push calls return -ECANCELED from now on, and blocked ones wake at once. */
void handoff_stop(struct handoff *q);

/* Worker: true once handoff_stop() was called. */
bool handoff_stopped(struct handoff *q);

/* Loop: readable while entries may be waiting. */
int handoff_fd(const struct handoff *q);

/* Loop: the oldest entry, or NULL when none (the eventfd is reset then). */
struct handoff_entry *handoff_pop(struct handoff *q);

/* Loop: `position` of `source` is durable (every record before it delivered or spooled). */
void handoff_set_durable(struct handoff *q, int source, const char *position);

/* Loop: records refused since the queue was made (a loss stage of their own). */
uint64_t handoff_refused(struct handoff *q);

/* Loop: entries and bytes waiting now. */
void handoff_depth(struct handoff *q, uint64_t *entries, uint64_t *bytes);

void handoff_free(struct handoff *q);

#endif /* TAPIO_HANDOFF_H */
