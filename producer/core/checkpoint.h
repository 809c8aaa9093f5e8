/*
 * Checkpoints: per source, the last position Kafka acknowledged (a Kubernetes resourceVersion, an
 * etcd revision) and, optionally, a collector's state at that position, so that a restart resumes
 * with no gap and no duplicate. One file per source, <state_dir>/<collector>.<source>.checkpoint,
 * replaced atomically (write a temporary file, fsync it, rename it over the old one, fsync the
 * directory): a crash leaves the old checkpoint or the new one, never a torn one.
 *
 * The file is text, so an operator can read it:
 *   tapio-checkpoint 1
 *   collector <name>
 *   source <name>
 *   node <node name>
 *   scope <what the position is relative to: an API server URL, an etcd cluster id>
 *   position <opaque, no blanks>
 *   state <bytes>
 *   crc32 <8 hex digits over every byte above this line>
 *   <bytes of state>
 * A file that does not parse, fails its CRC, or names another collector, source, node or scope
 * is reported and ignored, never trusted.
 *
 * Functions may block on the disk: call them from a worker thread, or at start-up and shutdown.
 */
#ifndef TAPIO_CHECKPOINT_H
#define TAPIO_CHECKPOINT_H

#include <stddef.h>

#define CHECKPOINT_STATE_MAX (16u << 20) /* a collector's state, at most */

/* Which checkpoint: every string is one token without blanks or newlines (checked). */
struct checkpoint_id {
	const char *dir;
	const char *collector;
	const char *source;
	const char *node;
	const char *scope;
};

/*
 * Reads the checkpoint `id` names. 0 with `position` (NUL-terminated) and, when `state` is not
 * NULL, *state (malloc'd, the caller frees it; NULL when empty) and *state_len set; -ENOENT when
 * there is none; -EINVAL when it is corrupt or foreign (`why` says which); -errno when it cannot
 * be read.
 */
int checkpoint_load(const struct checkpoint_id *id, char *position, size_t position_size,
		    char **state, size_t *state_len, char *why, size_t why_size);

/* Replaces the checkpoint atomically. 0 or -errno (`why` says what failed). Makes `dir` if it
 * does not exist (its parent must). */
int checkpoint_store(const struct checkpoint_id *id, const char *position, const void *state,
		     size_t state_len, char *why, size_t why_size);

#endif /* TAPIO_CHECKPOINT_H */
