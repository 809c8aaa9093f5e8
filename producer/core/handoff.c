#include "handoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct handoff {
	pthread_mutex_t lock;
	pthread_cond_t room; /* signalled when an entry leaves, and at stop */
	struct handoff_entry *head, *tail;
	size_t entries, bytes, max_entries, max_bytes;
	bool stopped;
	int fd;
	atomic_uint_fast64_t refused;
	struct {
		char position[HANDOFF_POSITION_MAX];
		bool changed;
	} durable[HANDOFF_SOURCES];
};

struct handoff *handoff_new(size_t max_entries, size_t max_bytes)
{
	struct handoff *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->fd < 0) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->room, &attr);
	pthread_condattr_destroy(&attr);
	q->max_entries = max_entries;
	q->max_bytes = max_bytes;
	atomic_init(&q->refused, 0);
	return q;
}

static void wake_loop(struct handoff *q)
{
	uint64_t one = 1;

	/* Cannot fail but at 2^64 - 2 pending wake-ups; the loop resets it when the queue empties. */
	if (write(q->fd, &one, sizeof(one)) < 0)
		return;
}

static void append(struct handoff *q, struct handoff_entry *e)
{
	e->next = NULL;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->entries++;
	q->bytes += e->key_len + e->body_len;
	wake_loop(q);
}

static bool has_room(const struct handoff *q, size_t bytes)
{
	return q->entries < q->max_entries && q->bytes + bytes <= q->max_bytes;
}

/* Waits under q->lock until there is room for `bytes`, stop, or the deadline. */
static int wait_room(struct handoff *q, size_t bytes, int wait_ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (!q->stopped && !has_room(q, bytes)) {
		if (wait_ms < 0)
			pthread_cond_wait(&q->room, &q->lock);
		else if (wait_ms == 0 || pthread_cond_timedwait(&q->room, &q->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (q->stopped)
		return -ECANCELED;
	return has_room(q, bytes) ? 0 : -ENOBUFS;
}

int handoff_push_record(struct handoff *q, const struct handoff_meta *meta, const char *key,
			size_t key_len, const void *body, size_t body_len, int wait_ms)
{
	struct handoff_entry *e;
	int err;

	if (key_len > HANDOFF_KEY_MAX || body_len > HANDOFF_BODY_MAX) {
		atomic_fetch_add(&q->refused, 1);
		return -EMSGSIZE;
	}
	e = malloc(sizeof(*e) + key_len + body_len);
	if (!e) {
		atomic_fetch_add(&q->refused, 1);
		return -ENOBUFS;
	}
	e->is_mark = false;
	e->meta = *meta;
	e->meta.pod_uid[sizeof(e->meta.pod_uid) - 1] = '\0';
	e->meta.container_id[sizeof(e->meta.container_id) - 1] = '\0';
	e->meta.position[sizeof(e->meta.position) - 1] = '\0';
	if (e->meta.source < 0 || e->meta.source >= HANDOFF_SOURCES)
		e->meta.source = 0;
	e->key_len = key_len;
	e->body_len = body_len;
	memcpy(e->key, key, key_len);
	e->body = (uint8_t *)e->key + key_len;
	memcpy(e->body, body, body_len);

	pthread_mutex_lock(&q->lock);
	err = wait_room(q, key_len + body_len, wait_ms);
	if (!err)
		append(q, e);
	pthread_mutex_unlock(&q->lock);
	if (err) {
		free(e);
		if (err == -ENOBUFS)
			atomic_fetch_add(&q->refused, 1);
	}
	return err;
}

int handoff_push_mark(struct handoff *q, int source, const char *position)
{
	struct handoff_entry *e = calloc(1, sizeof(*e));
	int err = 0;

	if (!e)
		return 0; /* a later position supersedes this one */
	e->is_mark = true;
	e->meta.source = source >= 0 && source < HANDOFF_SOURCES ? source : 0;
	strncpy(e->meta.position, position, sizeof(e->meta.position) - 1);
	pthread_mutex_lock(&q->lock);
	if (q->stopped) {
		err = -ECANCELED;
	} else if (has_room(q, 0)) {
		append(q, e);
		e = NULL;
	} else if (q->tail && q->tail->is_mark && q->tail->meta.source == e->meta.source) {
		/* Nothing was queued after it: the newer position covers the same records. */
		memcpy(q->tail->meta.position, e->meta.position, sizeof(e->meta.position));
	}
	pthread_mutex_unlock(&q->lock);
	free(e);
	return err;
}

bool handoff_take_durable(struct handoff *q, int source, char *buf, size_t size)
{
	bool changed;

	if (source < 0 || source >= HANDOFF_SOURCES || !size)
		return false;
	pthread_mutex_lock(&q->lock);
	changed = q->durable[source].changed;
	if (changed) {
		snprintf(buf, size, "%s", q->durable[source].position);
		q->durable[source].changed = false;
	}
	pthread_mutex_unlock(&q->lock);
	return changed;
}

void handoff_stop(struct handoff *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopped = true;
	pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->lock);
}

bool handoff_stopped(struct handoff *q)
{
	bool stopped;

	pthread_mutex_lock(&q->lock);
	stopped = q->stopped;
	pthread_mutex_unlock(&q->lock);
	return stopped;
}

int handoff_fd(const struct handoff *q)
{
	return q->fd;
}

struct handoff_entry *handoff_pop(struct handoff *q)
{
	struct handoff_entry *e;
	uint64_t count;

	pthread_mutex_lock(&q->lock);
	e = q->head;
	if (e) {
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		q->entries--;
		q->bytes -= e->key_len + e->body_len;
		pthread_cond_signal(&q->room);
	} else if (read(q->fd, &count, sizeof(count)) < 0) {
		/* EAGAIN: already reset. Under the lock, so no push slips between check and reset. */
	}
	pthread_mutex_unlock(&q->lock);
	return e;
}

void handoff_set_durable(struct handoff *q, int source, const char *position)
{
	if (source < 0 || source >= HANDOFF_SOURCES)
		return;
	pthread_mutex_lock(&q->lock);
	if (strcmp(q->durable[source].position, position)) {
		snprintf(q->durable[source].position, sizeof(q->durable[source].position), "%s",
			 position);
		q->durable[source].changed = true;
	}
	pthread_mutex_unlock(&q->lock);
}

uint64_t handoff_refused(struct handoff *q)
{
	return atomic_load(&q->refused);
}

void handoff_depth(struct handoff *q, uint64_t *entries, uint64_t *bytes)
{
	pthread_mutex_lock(&q->lock);
	*entries = q->entries;
	*bytes = q->bytes;
	pthread_mutex_unlock(&q->lock);
}

void handoff_free(struct handoff *q)
{
	struct handoff_entry *e, *next;

	if (!q)
		return;
	for (e = q->head; e; e = next) {
		next = e->next;
		free(e);
	}
	close(q->fd);
	pthread_cond_destroy(&q->room);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
