/*
 * The disk spool: where records go while Kafka cannot take them, so an outage costs disk, not
 * memory or data. Records are appended to segment files in a directory; each record carries a
 * CRC-32 so a torn or corrupt one (a crash mid-write, a bad disk) is detected, counted and never
 * replayed as garbage; reading goes on at the next intact record. Replay reads records oldest
 * first; a record is removed once acknowledged (its delivery report succeeded), and a segment
 * file is deleted when all its records are.
 *
 * Acknowledgements live in memory only: after a restart every record still on disk is replayed,
 * including ones acknowledged in a segment that was not yet fully acknowledged (at-least-once;
 * consumers may see a duplicate, never a gap). Segments found at start are never appended to: new
 * records go to a new segment. The directory is locked (flock) while open.
 *
 * Single-threaded: call everything from the event loop.
 *
 * Ownership: struct spool owns its directory's segment files and file descriptors; spool_close()
 * releases them (files stay on disk for the next start). Pointers in a struct spool_entry stay
 * valid until the next spool_next() or spool_close().
 *
 * Memory is O(segments), whatever the backlog: per segment ~40 bytes, plus an 8 KiB acknowledgement
 * bitmap once one of its records is acknowledged; plus one buffer as large as the largest record
 * handed out. At most three descriptors: the directory lock, the segment written, the one replayed.
 */
#ifndef TAPIO_SPOOL_H
#define TAPIO_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum spool_full_policy {
	SPOOL_DROP_NEWEST = 0, /* refuse the record being appended */
	SPOOL_DROP_OLDEST,     /* delete the oldest segment to make room */
};

enum spool_fsync_policy {
	SPOOL_FSYNC_NONE = 0, /* leave it to the kernel (fastest; a power cut may lose the tail) */
	SPOOL_FSYNC_SEGMENT,  /* fsync a segment when it is closed */
	SPOOL_FSYNC_INTERVAL, /* fsync at most every fsync_interval_ms (spool_tick) */
	SPOOL_FSYNC_ALWAYS,   /* fsync after every append */
};

struct spool_entry;

/* Told about each record the spool drops after it took it: evicted under SPOOL_DROP_OLDEST. The
 * entry (its value included) is valid during the call only. Embed it and find your state with
 * offsetof: the spool keeps the pointer. */
struct spool_lost_sink {
	void (*record)(struct spool_lost_sink *sink, const struct spool_entry *e);
};

struct spool_config {
	const char *dir;               /* created (mode 0700) if missing */
	uint64_t max_bytes;            /* bound on all segment files together */
	uint64_t segment_bytes;        /* a segment is closed before a record would take it past
					* this size, or at 65536 records; >= 64, <= max_bytes */
	enum spool_full_policy full;
	enum spool_fsync_policy fsync;
	int fsync_interval_ms;         /* > 0 under SPOOL_FSYNC_INTERVAL */
	struct spool_lost_sink *lost;  /* NULL: evictions are only counted (dropped_full) */
};

/*
 * What spool_open() found from an earlier run. A damaged record costs itself, not the rest of
 * its segment: reading resumes at the next intact record, and the segment is rewritten without
 * the damage. Records lost = torn + at least one per skipped region (their count is unknown);
 * the pipeline reports torn + skipped_regions in a SPOOL LOSS record.
 */
struct spool_recovery {
	uint64_t records;             /* intact records found, to be replayed */
	uint64_t bytes;               /* size of the segment files kept */
	uint64_t torn;                /* records lost whose bounds were known: failing their CRC,
				       * cut short at a segment's end (a crash mid-append) */
	uint64_t torn_bytes;          /* the bytes they took */
	uint64_t skipped_regions;     /* stretches of bytes whose record bounds are lost (a bad
				       * header), up to the next intact record; each held >= 1 */
	uint64_t skipped_bytes;       /* the bytes of those stretches */
	uint64_t corrupt_segments;    /* files with a bad file header, renamed <name>.corrupt */
	uint64_t unreadable_segments; /* files that could not be opened or read (permissions, EIO),
				       * renamed <name>.unreadable (or skipped): never replayed,
				       * never a reason not to start */
	uint64_t unreadable_bytes;    /* their size */
	uint64_t segments;
	char detail[256];             /* the first problem found, for the log; "" when none */
};

struct spool_stats {
	uint64_t appended;
	uint64_t acked;
	uint64_t dropped_full;    /* records refused or evicted because the spool was full */
	uint64_t write_errors;    /* appends that failed on I/O (disk full, ...); failed fsyncs */
	uint64_t read_errors;     /* records lost: their segment failed a read or CRC on replay */
	uint64_t fsyncs;          /* fsync/fdatasync calls made (files and the directory) */
	uint64_t pending_records; /* in the spool, not yet acknowledged */
	uint64_t pending_bytes;   /* size of the segment files */
};

/* One record as stored. `stream` names where it goes (the collector), key/value are bytes. */
struct spool_entry {
	uint64_t pos;          /* identifies the record for spool_ack() */
	const char *stream;
	const void *key;
	size_t key_len;
	const void *value;     /* NULL for a tombstone */
	size_t value_len;
	int64_t timestamp_ms;
};

struct spool;

/* Opens (and recovers) the spool in cfg->dir. 0 or -errno with errstr naming the path (-EINVAL for
 * a bad config, -EBUSY when another process holds the directory). `recovered` may be NULL. Under
 * SPOOL_DROP_OLDEST, recovered segments beyond max_bytes are evicted (counted in dropped_full). */
int spool_open(struct spool **out, const struct spool_config *cfg, struct spool_recovery *recovered,
	       char *errstr, size_t errstr_size);

/* Appends one record. 0; -ENOSPC when full under SPOOL_DROP_NEWEST (counted); -EIO (or another
 * -errno) when the write failed (counted; nothing of the record stays in the file; a full disk is
 * -ENOSPC too: dropped_full and write_errors tell the two apart). Under
 * SPOOL_DROP_OLDEST, room is made by deleting the oldest segment (its unacknowledged records
 * counted in dropped_full). Records longer than segment_bytes (a 32-byte record header + stream +
 * key + value, after a 16-byte file header) or with a stream over 65535 bytes are refused with
 * -EMSGSIZE; -EINVAL for a NULL stream, or a NULL key or value with a non-zero length. A NULL
 * value is a tombstone. */
int spool_append(struct spool *s, const char *stream, const void *key, size_t key_len,
		 const void *value, size_t value_len, int64_t timestamp_ms);

/* The oldest record not handed out since the last spool_rewind(): 0 with *e filled, or -ENOENT
 * when every record has been handed out; -ENOMEM or -EMFILE (...) when it cannot be read now (try
 * later). A record failing its CRC here (the disk changed after spool_open) is never handed out:
 * its segment is renamed to *.corrupt and its unacknowledged records counted in read_errors. */
int spool_next(struct spool *s, struct spool_entry *e);

/* The record at `pos` was delivered: it will not be handed out again. Unknown or already
 * acknowledged positions are ignored. A segment whose records are all acknowledged is deleted,
 * the one being written included (the next append starts a new one). */
void spool_ack(struct spool *s, uint64_t pos);

/* Hand out again, from the oldest, every record not acknowledged (after a failed delivery). */
void spool_rewind(struct spool *s);

/* True when no record is waiting for acknowledgement. */
bool spool_empty(const struct spool *s);

/* Periodic work: fsync under SPOOL_FSYNC_INTERVAL (now_ms from any monotonic clock). */
void spool_tick(struct spool *s, int64_t now_ms);

void spool_get_stats(const struct spool *s, struct spool_stats *out);

/* fsyncs the segment being written (unless SPOOL_FSYNC_NONE), closes, frees. NULL is a no-op. */
void spool_close(struct spool *s);

#endif /* TAPIO_SPOOL_H */
