/* Avro Object Container Files: writer and bounds-checked reader (see ocf.h). */
#include "ocf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "avro_skip.h"
#include "errstr.h"

/* A metadata map of more entries than this is refused (ours have about ten). */
#define MAX_META 1024

static const char *codec_name(enum ocf_codec codec)
{
	return codec == OCF_CODEC_DEFLATE ? "deflate" : "null";
}

/* ---- writer ---- */

struct patchable {
	char *key;
	uint64_t value_off; /* where the value's bytes are in the file */
	size_t len;
};

struct ocf_writer {
	int fd;
	enum ocf_codec codec;
	uint8_t sync[OCF_SYNC_LEN];
	size_t block_bytes;
	uint8_t *block;       /* datums of the next block */
	size_t block_len, block_cap;
	int64_t block_count;
	/* Used by whoever writes the blocks: this thread, or the pipeline's. */
	uint8_t *zbuf;        /* the compressed block */
	size_t zbuf_cap;
	z_stream zs;
	bool zs_init;
	uint64_t file_bytes;  /* as this thread last saw it */
	struct patchable *patch;
	size_t n_patch;
	/* With a pipeline, under its lock: */
	struct ocf_pipeline *pl;
	size_t pending;       /* blocks handed over and not yet written */
	uint64_t written;     /* bytes the pipeline wrote */
	int err;              /* the first write failure */
};

struct block_job {
	struct ocf_writer *w;
	uint8_t *data;
	size_t len, cap;
	int64_t count;
};

struct ocf_pipeline {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job queued or done, or stop */
	struct block_job q[OCF_PIPELINE_DEPTH];
	size_t head, n;
	bool stop;
	struct block_job spare[OCF_PIPELINE_DEPTH]; /* block buffers to reuse */
	size_t n_spare;
};

static int write_all(int fd, const struct iovec *iov, int n)
{
	struct iovec v[8];
	ssize_t done;

	if (n > 8)
		return -EINVAL;
	memcpy(v, iov, n * sizeof(*v));
	while (n > 0) {
		done = writev(fd, v, n);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)done >= v[0].iov_len) {
			done -= (ssize_t)v[0].iov_len;
			memmove(v, v + 1, --n * sizeof(*v));
		}
		if (n > 0) {
			v[0].iov_base = (uint8_t *)v[0].iov_base + done;
			v[0].iov_len -= (size_t)done;
		}
	}
	return 0;
}

/* A growable buffer for the header. */
struct hbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void hput(struct hbuf *b, const void *data, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void hput_long(struct hbuf *b, int64_t v)
{
	uint8_t tmp[AVRO_LONG_MAX_BYTES];

	hput(b, tmp, avro_write_long(tmp, v));
}

static void hput_bytes(struct hbuf *b, const void *data, size_t n)
{
	hput_long(b, (int64_t)n);
	hput(b, data, n);
}

static int drain(struct ocf_writer *w);

void ocf_writer_free(struct ocf_writer *w)
{
	if (!w)
		return;
	drain(w); /* the pipeline's thread uses the writer until then */
	if (w->zs_init)
		deflateEnd(&w->zs);
	for (size_t i = 0; i < w->n_patch; i++)
		free(w->patch[i].key);
	free(w->patch);
	free(w->block);
	free(w->zbuf);
	free(w);
}

int ocf_writer_open(int fd, const char *schema_json, enum ocf_codec codec, int level,
		    size_t block_bytes, const struct ocf_meta *meta, size_t n_meta,
		    struct ocf_pipeline *pipeline, struct ocf_writer **out,
		    char *errstr, size_t errstr_size)
{
	const char *codec_str = codec_name(codec);
	struct hbuf h = { 0 };
	struct ocf_writer *w;
	struct iovec iov;
	int err = -ENOMEM;

	if (!(w = calloc(1, sizeof(*w))) || !(w->patch = calloc(n_meta ? n_meta : 1,
								   sizeof(*w->patch))))
		goto fail;
	w->fd = fd;
	w->codec = codec;
	w->block_bytes = block_bytes ? block_bytes : 1;
	if (codec == OCF_CODEC_DEFLATE) {
		/* Negative window bits: raw deflate, no zlib header or checksum. */
		if (deflateInit2(&w->zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			err = fail(errstr, errstr_size, "deflate level %d: zlib refuses it", level);
			goto fail;
		}
		w->zs_init = true;
	}
	if (getrandom(w->sync, sizeof(w->sync), 0) != (ssize_t)sizeof(w->sync)) {
		err = -errno;
		snprintf(errstr, errstr_size, "getrandom: %s", strerror(errno));
		goto fail;
	}
	hput(&h, OCF_MAGIC, OCF_MAGIC_LEN);
	hput_long(&h, (int64_t)n_meta + 2);
	hput_bytes(&h, "avro.schema", 11);
	hput_bytes(&h, schema_json, strlen(schema_json));
	hput_bytes(&h, "avro.codec", 10);
	hput_bytes(&h, codec_str, strlen(codec_str));
	for (size_t i = 0; i < n_meta; i++) {
		hput_bytes(&h, meta[i].key, strlen(meta[i].key));
		hput_long(&h, (int64_t)meta[i].len);
		w->patch[i].value_off = h.len;
		w->patch[i].len = meta[i].len;
		if (!(w->patch[i].key = strdup(meta[i].key)))
			goto fail;
		w->n_patch = i + 1;
		hput(&h, meta[i].value, meta[i].len);
	}
	hput_long(&h, 0);
	hput(&h, w->sync, sizeof(w->sync));
	if (h.oom)
		goto fail;
	iov = (struct iovec){ h.p, h.len };
	if ((err = write_all(fd, &iov, 1))) {
		snprintf(errstr, errstr_size, "write: %s", strerror(-err));
		goto fail;
	}
	w->file_bytes = w->written = h.len;
	w->pl = pipeline;
	free(h.p);
	*out = w;
	return 0;
fail:
	if (err == -ENOMEM)
		snprintf(errstr, errstr_size, "out of memory");
	free(h.p);
	ocf_writer_free(w);
	return err;
}

uint8_t *ocf_writer_reserve(struct ocf_writer *w, size_t max)
{
	if (max > SIZE_MAX - w->block_len)
		return NULL;
	if (w->block_len + max > w->block_cap) {
		size_t cap = w->block_cap ? w->block_cap : w->block_bytes + 4096;
		uint8_t *p;

		while (cap < w->block_len + max)
			cap *= 2;
		if (!(p = realloc(w->block, cap)))
			return NULL;
		w->block = p;
		w->block_cap = cap;
	}
	return w->block + w->block_len;
}

/* Compresses and writes one block; the bytes written in *written. 0 or -errno. */
static int emit_block(struct ocf_writer *w, const uint8_t *data, size_t len, int64_t count,
		      uint64_t *written)
{
	uint8_t count_v[AVRO_LONG_MAX_BYTES], size_v[AVRO_LONG_MAX_BYTES];
	struct iovec iov[4];
	int err;

	if (w->codec == OCF_CODEC_DEFLATE) {
		size_t bound = deflateBound(&w->zs, (uLong)len);

		if (bound > w->zbuf_cap) {
			uint8_t *p = realloc(w->zbuf, bound);

			if (!p)
				return -ENOMEM;
			w->zbuf = p;
			w->zbuf_cap = bound;
		}
		if (deflateReset(&w->zs) != Z_OK)
			return -EIO;
		w->zs.next_in = (Bytef *)data;
		w->zs.avail_in = (uInt)len;
		w->zs.next_out = w->zbuf;
		w->zs.avail_out = (uInt)w->zbuf_cap;
		if (deflate(&w->zs, Z_FINISH) != Z_STREAM_END)
			return -EIO;
		data = w->zbuf;
		len = w->zbuf_cap - w->zs.avail_out;
	}
	iov[0] = (struct iovec){ count_v, avro_write_long(count_v, count) };
	iov[1] = (struct iovec){ size_v, avro_write_long(size_v, (int64_t)len) };
	iov[2] = (struct iovec){ (void *)data, len };
	iov[3] = (struct iovec){ w->sync, sizeof(w->sync) };
	if ((err = write_all(w->fd, iov, 4)))
		return err;
	*written = iov[0].iov_len + iov[1].iov_len + len + sizeof(w->sync);
	return 0;
}

static void *pipeline_run(void *arg)
{
	struct ocf_pipeline *pl = arg;
	struct block_job job;
	uint64_t written = 0;
	int err;

	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (!pl->n && !pl->stop)
			pthread_cond_wait(&pl->cv, &pl->mu);
		if (!pl->n)
			break;
		job = pl->q[pl->head];
		pl->head = (pl->head + 1) % OCF_PIPELINE_DEPTH;
		pl->n--;
		pthread_mutex_unlock(&pl->mu);
		/* The writer's stream and buffer are this thread's while it has blocks here. */
		err = job.w->err ? 0 : emit_block(job.w, job.data, job.len, job.count, &written);
		pthread_mutex_lock(&pl->mu);
		if (err && !job.w->err)
			job.w->err = err;
		else if (!err)
			job.w->written += written;
		job.w->pending--;
		if (pl->n_spare < OCF_PIPELINE_DEPTH)
			pl->spare[pl->n_spare++] = job;
		else
			free(job.data);
		pthread_cond_broadcast(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

int ocf_pipeline_new(struct ocf_pipeline **out)
{
	struct ocf_pipeline *pl = calloc(1, sizeof(*pl));
	int err;

	if (!pl)
		return -ENOMEM;
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv, NULL);
	if ((err = pthread_create(&pl->thread, NULL, pipeline_run, pl))) {
		pthread_cond_destroy(&pl->cv);
		pthread_mutex_destroy(&pl->mu);
		free(pl);
		return -err;
	}
	pthread_setname_np(pl->thread, "ocf-blocks"); /* for top and perf */
	*out = pl;
	return 0;
}

void ocf_pipeline_free(struct ocf_pipeline *pl)
{
	if (!pl)
		return;
	pthread_mutex_lock(&pl->mu);
	pl->stop = true;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	pthread_join(pl->thread, NULL);
	for (size_t i = 0; i < pl->n_spare; i++)
		free(pl->spare[i].data);
	pthread_cond_destroy(&pl->cv);
	pthread_mutex_destroy(&pl->mu);
	free(pl);
}

/* Hands the buffered block to the pipeline and takes a spare buffer. 0 or an earlier -errno. */
static int hand_over(struct ocf_writer *w)
{
	struct ocf_pipeline *pl = w->pl;
	int err;

	pthread_mutex_lock(&pl->mu);
	while (pl->n == OCF_PIPELINE_DEPTH)
		pthread_cond_wait(&pl->cv, &pl->mu);
	pl->q[(pl->head + pl->n) % OCF_PIPELINE_DEPTH] = (struct block_job){
		.w = w, .data = w->block, .len = w->block_len, .cap = w->block_cap,
		.count = w->block_count };
	pl->n++;
	w->pending++;
	pthread_cond_signal(&pl->cv);
	w->block = NULL;
	w->block_cap = 0;
	if (pl->n_spare) {
		w->block = pl->spare[--pl->n_spare].data;
		w->block_cap = pl->spare[pl->n_spare].cap;
	}
	w->file_bytes = w->written;
	err = w->err;
	pthread_mutex_unlock(&pl->mu);
	return err;
}

static int write_block(struct ocf_writer *w)
{
	uint64_t written;
	int err;

	if (!w->block_count)
		return 0;
	if (w->pl) {
		err = hand_over(w);
	} else if (!(err = emit_block(w, w->block, w->block_len, w->block_count, &written))) {
		w->file_bytes += written;
	}
	w->block_len = 0;
	w->block_count = 0;
	return err;
}

/* With a pipeline: waits until the writer's blocks are written; their first failure, or 0. */
static int drain(struct ocf_writer *w)
{
	int err;

	if (!w->pl)
		return 0;
	pthread_mutex_lock(&w->pl->mu);
	while (w->pending)
		pthread_cond_wait(&w->pl->cv, &w->pl->mu);
	w->file_bytes = w->written;
	err = w->err;
	pthread_mutex_unlock(&w->pl->mu);
	return err;
}

int ocf_writer_commit(struct ocf_writer *w, size_t len)
{
	w->block_len += len;
	w->block_count++;
	return w->block_len >= w->block_bytes ? write_block(w) : 0;
}

int ocf_writer_finish(struct ocf_writer *w, const struct ocf_meta *patch, size_t n_patch)
{
	int err;

	if ((err = write_block(w)) || (err = drain(w)))
		return err;
	for (size_t i = 0; i < n_patch; i++) {
		struct patchable *p = NULL;
		ssize_t n;

		for (size_t k = 0; k < w->n_patch && !p; k++)
			if (strcmp(w->patch[k].key, patch[i].key) == 0)
				p = &w->patch[k];
		if (!p)
			return -ENOENT;
		if (p->len != patch[i].len)
			return -EINVAL;
		do
			n = pwrite(w->fd, patch[i].value, p->len, (off_t)p->value_off);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if ((size_t)n != p->len)
			return -EIO;
	}
	return 0;
}

uint64_t ocf_writer_file_bytes(const struct ocf_writer *w)
{
	return w->file_bytes;
}

size_t ocf_writer_buffered_bytes(const struct ocf_writer *w)
{
	return w->block_len;
}

/* ---- reader ---- */

struct meta_entry {
	char *key;
	const uint8_t *value; /* into the file's bytes */
	size_t len;
};

struct ocf_reader {
	const uint8_t *buf;
	size_t len, off;
	char *schema;
	size_t schema_len;
	enum ocf_codec codec;
	uint8_t sync[OCF_SYNC_LEN];
	struct meta_entry *meta;
	size_t n_meta;
	uint64_t blocks; /* read so far, for messages */
	z_stream zs;
	bool zs_init;
	uint8_t *out;
	size_t out_cap;
};

void ocf_reader_free(struct ocf_reader *r)
{
	if (!r)
		return;
	if (r->zs_init)
		inflateEnd(&r->zs);
	for (size_t i = 0; i < r->n_meta; i++)
		free(r->meta[i].key);
	free(r->meta);
	free(r->schema);
	free(r->out);
	free(r);
}

static int read_meta(struct ocf_reader *r, char *errstr, size_t errstr_size)
{
	int64_t count, size;
	size_t cap = 0;

	for (;;) {
		if (avro_read_long(r->buf, r->len, &r->off, &count))
			return fail(errstr, errstr_size, "header: metadata: bad or missing block count");
		if (count == 0)
			return 0;
		if (count < 0) {
			if (count == INT64_MIN || avro_read_long(r->buf, r->len, &r->off, &size))
				return fail(errstr, errstr_size, "header: metadata: bad block size");
			count = -count;
		}
		/* Each entry takes at least two bytes (two lengths). */
		if ((uint64_t)count > (r->len - r->off) / 2 || r->n_meta + (uint64_t)count > MAX_META)
			return fail(errstr, errstr_size, "header: metadata: %" PRId64 " entries "
				    "cannot be there", count);
		if (r->n_meta + (size_t)count > cap) {
			struct meta_entry *p;

			cap = r->n_meta + (size_t)count;
			if (!(p = realloc(r->meta, cap * sizeof(*p))))
				return -ENOMEM;
			r->meta = p;
		}
		for (int64_t i = 0; i < count; i++) {
			struct meta_entry *e = &r->meta[r->n_meta];
			const uint8_t *key;
			size_t key_len;

			if (avro_read_bytes(r->buf, r->len, &r->off, &key, &key_len) ||
			    avro_read_bytes(r->buf, r->len, &r->off, &e->value, &e->len))
				return fail(errstr, errstr_size, "header: metadata entry %zu: truncated",
					    r->n_meta);
			if (memchr(key, 0, key_len))
				return fail(errstr, errstr_size, "header: metadata key with a NUL byte");
			if (!(e->key = strndup((const char *)key, key_len)))
				return -ENOMEM;
			r->n_meta++;
		}
	}
}

int ocf_reader_open(const uint8_t *buf, size_t len, struct ocf_reader **out,
		    char *errstr, size_t errstr_size)
{
	struct ocf_reader *r;
	const uint8_t *v;
	size_t n;
	int err;

	if (len < OCF_MAGIC_LEN || memcmp(buf, OCF_MAGIC, OCF_MAGIC_LEN))
		return fail(errstr, errstr_size, "not an Avro Object Container File (no \"Obj\\x01\")");
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->buf = buf;
	r->len = len;
	r->off = OCF_MAGIC_LEN;
	if ((err = read_meta(r, errstr, errstr_size)))
		goto fail;
	if (r->len - r->off < OCF_SYNC_LEN) {
		err = fail(errstr, errstr_size, "header: truncated before the sync marker");
		goto fail;
	}
	memcpy(r->sync, r->buf + r->off, OCF_SYNC_LEN);
	r->off += OCF_SYNC_LEN;
	if (!(v = ocf_reader_meta(r, "avro.schema", &n))) {
		err = fail(errstr, errstr_size, "header: no avro.schema");
		goto fail;
	}
	err = -ENOMEM;
	if (!(r->schema = malloc(n + 1)))
		goto fail;
	memcpy(r->schema, v, n);
	r->schema[n] = '\0';
	r->schema_len = n;
	v = ocf_reader_meta(r, "avro.codec", &n);
	if (!v || (n == 4 && !memcmp(v, "null", 4))) {
		r->codec = OCF_CODEC_NULL;
	} else if (n == 7 && !memcmp(v, "deflate", 7)) {
		r->codec = OCF_CODEC_DEFLATE;
		if (inflateInit2(&r->zs, -15) != Z_OK)
			goto fail;
		r->zs_init = true;
	} else {
		err = fail(errstr, errstr_size, "codec \"%.*s\" is not supported (null and deflate "
			   "are)", (int)(n < 32 ? n : 32), (const char *)v);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	if (err == -ENOMEM)
		snprintf(errstr, errstr_size, "out of memory");
	ocf_reader_free(r);
	return err;
}

const char *ocf_reader_schema(const struct ocf_reader *r, size_t *len)
{
	if (len)
		*len = r->schema_len;
	return r->schema;
}

enum ocf_codec ocf_reader_codec(const struct ocf_reader *r)
{
	return r->codec;
}

const uint8_t *ocf_reader_meta(const struct ocf_reader *r, const char *key, size_t *len)
{
	for (size_t i = 0; i < r->n_meta; i++)
		if (strcmp(r->meta[i].key, key) == 0) {
			*len = r->meta[i].len;
			return r->meta[i].value;
		}
	return NULL;
}

size_t ocf_reader_offset(const struct ocf_reader *r)
{
	return r->off;
}

/* Inflates one raw deflate stream, whole, into r->out. */
static int inflate_block(struct ocf_reader *r, const uint8_t *in, size_t in_len, size_t *out_len,
			 char *errstr, size_t errstr_size)
{
	int zerr;

	if (inflateReset(&r->zs) != Z_OK)
		return -ENOMEM;
	r->zs.next_in = (Bytef *)in;
	r->zs.avail_in = (uInt)in_len;
	*out_len = 0;
	for (;;) {
		if (*out_len == r->out_cap) {
			size_t cap = r->out_cap ? 2 * r->out_cap : 1 << 16;
			uint8_t *p;

			if (r->out_cap >= OCF_MAX_BLOCK_BYTES)
				return fail(errstr, errstr_size, "block %" PRIu64 " inflates to more "
					    "than %u bytes", r->blocks, OCF_MAX_BLOCK_BYTES);
			if (cap > OCF_MAX_BLOCK_BYTES)
				cap = OCF_MAX_BLOCK_BYTES;
			if (!(p = realloc(r->out, cap)))
				return -ENOMEM;
			r->out = p;
			r->out_cap = cap;
		}
		r->zs.next_out = r->out + *out_len;
		r->zs.avail_out = (uInt)(r->out_cap - *out_len);
		zerr = inflate(&r->zs, Z_NO_FLUSH);
		*out_len = r->out_cap - r->zs.avail_out;
		if (zerr == Z_STREAM_END)
			break;
		if (zerr == Z_BUF_ERROR && r->zs.avail_in == 0)
			return fail(errstr, errstr_size, "block %" PRIu64 ": deflate data ends early",
				    r->blocks);
		if (zerr != Z_OK && zerr != Z_BUF_ERROR)
			return fail(errstr, errstr_size, "block %" PRIu64 ": bad deflate data (%s)",
				    r->blocks, r->zs.msg ? r->zs.msg : "zlib error");
	}
	/* Bytes after the end of the deflate stream are ignored, as Java's and Python's readers
	 * do: python-avro's writer leaves three bytes of zlib's checksum there. */
	return 0;
}

/* The next block's count and bytes (as stored), checked against the file and the sync marker. */
static int block_frame(struct ocf_reader *r, int64_t *count, size_t *data_off, size_t *size,
		       char *errstr, size_t errstr_size)
{
	size_t off = r->off;
	int64_t n, sz;

	if (avro_read_long(r->buf, r->len, &off, &n) || n < 0)
		return fail(errstr, errstr_size, "block %" PRIu64 " at byte %zu: bad or truncated "
			    "datum count", r->blocks, r->off);
	if (avro_read_long(r->buf, r->len, &off, &sz) || sz < 0)
		return fail(errstr, errstr_size, "block %" PRIu64 " at byte %zu: bad or truncated "
			    "size", r->blocks, r->off);
	if ((uint64_t)sz > r->len - off || r->len - off - (size_t)sz < OCF_SYNC_LEN)
		return fail(errstr, errstr_size, "block %" PRIu64 " at byte %zu: truncated (%" PRId64
			    " bytes and the sync marker announced, %zu left)", r->blocks, r->off,
			    sz, r->len - off);
	if (memcmp(r->buf + off + sz, r->sync, OCF_SYNC_LEN))
		return fail(errstr, errstr_size, "block %" PRIu64 " at byte %zu: sync marker does "
			    "not match the header's", r->blocks, r->off);
	*count = n;
	*data_off = off;
	*size = (size_t)sz;
	return 0;
}

int ocf_reader_skip_block(struct ocf_reader *r, int64_t *count, char *errstr, size_t errstr_size)
{
	size_t data_off, size;
	int err;

	if (r->off == r->len)
		return 0;
	if ((err = block_frame(r, count, &data_off, &size, errstr, errstr_size)))
		return err;
	r->off = data_off + size + OCF_SYNC_LEN;
	r->blocks++;
	return 1;
}

int ocf_reader_next_block(struct ocf_reader *r, int64_t *count, const uint8_t **data,
			  size_t *len, char *errstr, size_t errstr_size)
{
	size_t off, size, out_len;
	int64_t n;
	int err;

	if (r->off == r->len)
		return 0;
	if ((err = block_frame(r, &n, &off, &size, errstr, errstr_size)))
		return err;
	if (r->codec == OCF_CODEC_DEFLATE) {
		if (size > UINT32_MAX)
			return fail(errstr, errstr_size, "block %" PRIu64 ": too large", r->blocks);
		if ((err = inflate_block(r, r->buf + off, size, &out_len, errstr, errstr_size))) {
			if (err == -ENOMEM)
				snprintf(errstr, errstr_size, "out of memory");
			return err;
		}
		*data = r->out;
		*len = out_len;
	} else {
		*data = r->buf + off;
		*len = size;
	}
	if ((uint64_t)n > (uint64_t)*len + AVRO_SKIP_ZERO_WIDTH_ITEMS)
		return fail(errstr, errstr_size, "block %" PRIu64 ": %" PRId64 " datums in %zu bytes",
			    r->blocks, n, *len);
	*count = n;
	r->off = off + size + OCF_SYNC_LEN;
	r->blocks++;
	return 1;
}
