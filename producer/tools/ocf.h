/*
 * Avro Object Container Files (the Avro specification's "Object Container Files"): the header
 * ("Obj" 01, a metadata map of bytes values with avro.schema and avro.codec, a 16-byte sync
 * marker), then blocks of datums: a long count, a long size, the (compressed) datums, the sync
 * marker. Codecs: "null" and "deflate" (raw deflate, RFC 1951, as the specification says; bytes
 * after the end of a block's deflate stream are ignored, as Java's and Python's readers do).
 *
 * The writer copies datums that are already Avro binary; it never encodes. The reader is for files
 * from anywhere: every length and count is checked against what is left of the file before it is
 * used, a block may inflate to OCF_MAX_BLOCK_BYTES at most, and every block must end with the
 * header's sync marker.
 */
#ifndef TAPIO_OCF_H
#define TAPIO_OCF_H

#include <stddef.h>
#include <stdint.h>

#define OCF_MAGIC "Obj\x01"
#define OCF_MAGIC_LEN 4
#define OCF_SYNC_LEN 16
/* The largest block the reader inflates; writers' blocks are usually 16 KiB to 1 MiB. */
#define OCF_MAX_BLOCK_BYTES (64u << 20)

enum ocf_codec {
	OCF_CODEC_NULL,
	OCF_CODEC_DEFLATE,
};

/* One metadata entry; the writer copies what it needs. */
struct ocf_meta {
	const char *key;
	const void *value;
	size_t len;
};

/*
 * A thread that compresses and writes the blocks of any number of writers, so that the thread
 * filling them waits for neither zlib nor write(2). A writer's blocks are written in the order
 * they were filled; at most OCF_PIPELINE_DEPTH blocks wait, and a writer filling one more waits
 * for room. 0 and *out (release with ocf_pipeline_free() once its writers are freed), or -errno.
 */
#define OCF_PIPELINE_DEPTH 8
struct ocf_pipeline;
int ocf_pipeline_new(struct ocf_pipeline **out);
void ocf_pipeline_free(struct ocf_pipeline *p);

struct ocf_writer;

/*
 * Starts a file on `fd` (empty, at offset 0; the caller keeps owning it): writes the header with
 * avro.schema = schema_json, avro.codec, the `meta` entries in order and a random sync marker.
 * `level` is the deflate level (1..9, ignored for null). A block is written out once
 * `block_bytes` of datums are buffered. With a `pipeline` (or NULL), blocks are compressed and
 * written by its thread. 0 and *out (release with ocf_writer_free()), or -errno with errstr
 * saying why.
 */
int ocf_writer_open(int fd, const char *schema_json, enum ocf_codec codec, int level,
		    size_t block_bytes, const struct ocf_meta *meta, size_t n_meta,
		    struct ocf_pipeline *pipeline, struct ocf_writer **out,
		    char *errstr, size_t errstr_size);

/*
 * Room for one datum of at most `max` bytes at the end of the current block; NULL when out of
 * memory. Write the datum there, then ocf_writer_commit() its length.
 */
uint8_t *ocf_writer_reserve(struct ocf_writer *w, size_t max);

/* The datum of `len` bytes (at most the reserved max) is complete; writes the block when it is
 * full. 0, or -errno when writing failed (the file is then unusable; with a pipeline, the
 * failure of an earlier block is told here or by ocf_writer_finish()). */
int ocf_writer_commit(struct ocf_writer *w, size_t len);

/*
 * Writes the buffered datums as a block (nothing when there are none), waits until every block
 * is written, then rewrites in place the header values given in `patch` (each key must have been in the open's meta, with a value
 * of the same length). Does not fsync. 0, -ENOENT / -EINVAL for a bad patch, or -errno.
 */
int ocf_writer_finish(struct ocf_writer *w, const struct ocf_meta *patch, size_t n_patch);

/* Bytes written to the file so far (with a pipeline: as of the last block handed to it), and
 * datum bytes buffered for the next block. */
uint64_t ocf_writer_file_bytes(const struct ocf_writer *w);
size_t ocf_writer_buffered_bytes(const struct ocf_writer *w);

/* Waits for the writer's blocks still in a pipeline, then frees it. */
void ocf_writer_free(struct ocf_writer *w);

struct ocf_reader;

/*
 * Parses the header of the file in buf[0..len). The reader points into buf, which must outlive
 * it. 0 and *out (release with ocf_reader_free()), -EINVAL when the bytes are not an Object
 * Container File this reader can read (errstr says why), or -ENOMEM.
 */
int ocf_reader_open(const uint8_t *buf, size_t len, struct ocf_reader **out,
		    char *errstr, size_t errstr_size);

/* The header's schema, NUL-terminated, and its codec. */
const char *ocf_reader_schema(const struct ocf_reader *r, size_t *len);
enum ocf_codec ocf_reader_codec(const struct ocf_reader *r);

/* The value of metadata entry `key` and its length, or NULL when there is none. */
const uint8_t *ocf_reader_meta(const struct ocf_reader *r, const char *key, size_t *len);

/*
 * The next block: 1 with *count datums in (*data, *len), inflated, valid until the next call or
 * ocf_reader_free(); 0 at the end of the file; -EINVAL with errstr naming the block and why
 * (truncated, bad sync marker, does not inflate), or -ENOMEM. *count is at most *len +
 * AVRO_SKIP_ZERO_WIDTH_ITEMS, so walking that many datums is bounded.
 */
int ocf_reader_next_block(struct ocf_reader *r, int64_t *count, const uint8_t **data,
			  size_t *len, char *errstr, size_t errstr_size);

/*
 * Steps over the next block without inflating it: its count, its size and its sync marker are
 * checked (a truncated or mangled file fails here). 1 with *count, 0 at the end, -EINVAL.
 */
int ocf_reader_skip_block(struct ocf_reader *r, int64_t *count, char *errstr, size_t errstr_size);

/* Where the next block starts in the file: the end of the previous one. */
size_t ocf_reader_offset(const struct ocf_reader *r);

void ocf_reader_free(struct ocf_reader *r);

#endif /* TAPIO_OCF_H */
