/*
 * The consumer's side of the wire contract (README "Losses in the data"): over records read from
 * Tapio topics, per stream (topic, node, run), which seq values arrived, which are missing, which
 * arrived more than once, what the stream's LOSS records count, and whether every missing record
 * is accounted for.
 *
 * What accounts for a missing record. A record gets its seq only once Kafka's queue or the spool
 * took it, so a record lost before (stages RING_BUFFER, DECODE, ENCODE, QUEUE_FULL, PRODUCE,
 * SPOOL, HANDOFF) leaves no gap: those LOSS counts are reported and account for nothing. A record
 * lost after it got its seq (Kafka did not acknowledge it and no spool kept it) leaves a gap and
 * is counted by a LOSS record of stage DELIVERY of the same run. So a stream is complete when its
 * missing records are at most its DELIVERY count. A DELIVERY count above the missing ones is
 * possible and no failure: records lost after the last one that arrived leave no visible gap, and
 * a produce that timed out may still have been written.
 *
 * Memory: per stream, sorted sets of disjoint seq ranges (16 bytes a range) for the seqs seen and
 * the seqs seen more than once. A stream read in seq order costs one range per gap, whatever the
 * number of its records; interleaved partitions cost one range per hole still open.
 *
 * Single-threaded. Ownership: the check owns everything it allocates; stream_check_free()
 * releases it. It copies what it keeps of the envelopes it is given.
 */
#ifndef TAPIO_STREAM_CHECK_H
#define TAPIO_STREAM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "avro_json.h"

/* The loss stages whose records got their seq before they were lost: the gaps they explain.
 * DELIVERY counts its own run's; SPOOL_EVICTED the run its loss.run names. */
#define CHECK_GAP_STAGE "DELIVERY"
#define CHECK_GAP_STAGE_SPOOL "SPOOL_EVICTED"
/* Ranges printed per list (missing, duplicates); the totals are always given. */
#define CHECK_RANGES_SHOWN 100

struct seq_range {
	int64_t lo, hi; /* inclusive */
};

/* A set of int64 values as sorted, disjoint, non-adjacent ranges. Zero-initialised = empty. */
struct seq_set {
	struct seq_range *r;
	size_t n, cap;
};

/* Adds v; *present says whether it was there already. 0, or -ENOMEM (the set is unchanged). */
int seq_set_add(struct seq_set *s, int64_t v, bool *present);
void seq_set_free(struct seq_set *s);

struct stream_check;

/*
 * A check over `n_topics` topics, reported in this order (each one, even without records). The
 * names are copied. 0 and *out, or -ENOMEM.
 */
int stream_check_new(const char *const *topics, size_t n_topics, struct stream_check **out);
void stream_check_free(struct stream_check *sc);

/* One decoded record of topic number `topic` (its index in the list given). 0 or -ENOMEM. A seq
 * below 1 is counted as invalid, not added to a stream. */
int stream_check_add(struct stream_check *sc, size_t topic, const struct record_envelope *env);
/* A tombstone (null value: no envelope, no seq). */
void stream_check_tombstone(struct stream_check *sc, size_t topic);
/* A value that could not be decoded: its seq is unknown, so the check cannot pass. */
void stream_check_undecodable(struct stream_check *sc, size_t topic);

struct check_summary {
	uint64_t streams;
	uint64_t records;  /* read with a valid seq, duplicates included */
	uint64_t distinct; /* distinct seqs: records - duplicates */
	uint64_t missing, unaccounted, duplicates;
	uint64_t tombstones, undecodable, invalid;
	bool ok; /* nothing missing unaccounted, nothing undecodable or invalid */
};

enum check_format {
	CHECK_TEXT, /* for people */
	CHECK_JSON, /* JSON lines: one per stream, one per topic, a summary */
};

/*
 * Writes the report to `out` and fills *sum. 0, or -errno when writing fails (-ENOMEM when out
 * of memory).
 */
int stream_check_report(const struct stream_check *sc, FILE *out, enum check_format format,
			struct check_summary *sum);

#endif /* TAPIO_STREAM_CHECK_H */
