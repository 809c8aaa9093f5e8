/*
 * libFuzzer target for spool recovery and replay (producer/core/spool.c): a segment file is whatever
 * a crash, a bad disk or another program left in the spool directory.
 *
 * Input: one mode byte, then the bytes of segment file 0000000000000001.spool.
 *   bit 0: rewrite the CRC of every record whose length walks inside the file first, so the
 *          fuzzer gets past the CRC to the length and flag checks behind it
 *   bit 1: max_bytes 4096 under SPOOL_DROP_OLDEST (recovery must evict down to it)
 *   bit 2: build the segment with spool_append() from the input (records: a key length byte, a
 *          value length byte, then the bytes), then flip one byte of it at an offset and with a
 *          mask taken from the input; see check_one_flip()
 * Checks: no crash; every record handed out lies within the file, its key and value are bytes of
 * the file; the bytes kept, torn and skipped add up to the file; a second open finds exactly what
 * the first kept, with nothing torn or skipped; acknowledging everything leaves the spool empty
 * and the segment deleted. With bit 2: exactly the flipped record is lost, counted once.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iproducer \
 *	tests/fuzz/fuzz_spool.c producer/core/spool.c -o /tmp/fuzz_spool
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

#define INPUT_MAX (256 * 1024)
#define FILE_HDR 16
#define REC_HDR 32

#define CHECK(cond)                      \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

static char dir[64];

/* Bit by bit, independent of the table in spool.c. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fix_crcs(uint8_t *b, size_t size)
{
	size_t off = FILE_HDR;

	while (size - off >= REC_HDR && off < size) {
		uint32_t total = le32(b + off + 4), crc;

		if (total < REC_HDR || total > size - off)
			break;
		crc = crc32_bitwise(b + off + 12, total - 12);
		for (int k = 0; k < 4; k++)
			b[off + 8 + k] = (uint8_t)(crc >> (8 * k));
		off += total;
	}
}

static void clean_dir(void)
{
	struct dirent *d;
	char path[400];
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path);
	}
	closedir(dp);
}

static void remove_dir(void)
{
	clean_dir();
	rmdir(dir);
}

/* Hands out everything; checks each record against the file. Returns how many. */
static uint64_t drain(struct spool *s, const uint8_t *file, size_t size, bool ack)
{
	struct spool_entry e;
	uint64_t n = 0, bytes = 0;
	int rc;

	while ((rc = spool_next(s, &e)) == 0) {
		size_t stream_len = strlen(e.stream);
		uint64_t rec = REC_HDR + (uint64_t)stream_len + e.key_len + e.value_len;

		CHECK(size >= FILE_HDR && rec <= size - FILE_HDR);
		bytes += rec;
		CHECK(bytes <= size - FILE_HDR);
		CHECK(stream_len <= UINT16_MAX);
		CHECK(e.value || e.value_len == 0);
		/* Bytes of the file, not something made up. */
		CHECK(e.key_len == 0 || memmem(file, size, e.key, e.key_len));
		CHECK(e.value_len == 0 || memmem(file, size, e.value, e.value_len));
		CHECK(stream_len == 0 || memmem(file, size, e.stream, stream_len));
		if (ack)
			spool_ack(s, e.pos);
		n++;
	}
	CHECK(rc == -ENOENT);
	return n;
}

/* Offsets of the records of a segment we wrote ourselves, and their count. */
#define BUILT_MAX 512

struct built {
	size_t n;
	uint64_t off[BUILT_MAX + 1]; /* off[n] = end of file */
};

/* Appends records described by `in` to a fresh spool in dir; returns the segment's bytes (NULL
 * when nothing was written). */
static uint8_t *build_segment(const uint8_t *in, size_t len, struct built *b, size_t *size)
{
	struct spool_config cfg = { .dir = dir, .max_bytes = 1 << 20, .segment_bytes = 1 << 20,
				    .full = SPOOL_DROP_NEWEST, .fsync = SPOOL_FSYNC_NONE };
	struct spool *s = NULL;
	char path[400], err[256];
	uint8_t *file;
	size_t i = 0;
	FILE *f;

	CHECK(spool_open(&s, &cfg, NULL, err, sizeof(err)) == 0);
	b->n = 0;
	b->off[0] = FILE_HDR;
	while (i + 2 <= len && b->n < BUILT_MAX) {
		size_t key_len = in[i] % 24, value_len = in[i + 1];

		i += 2;
		if (key_len + value_len > len - i)
			break;
		CHECK(spool_append(s, "s", in + i, key_len, in + i + key_len, value_len,
				   (int64_t)b->n) == 0);
		i += key_len + value_len;
		b->off[b->n + 1] = b->off[b->n] + REC_HDR + 1 + key_len + value_len;
		b->n++;
	}
	spool_close(s);
	if (!b->n)
		return NULL;
	snprintf(path, sizeof(path), "%s/0000000000000001.spool", dir);
	f = fopen(path, "rb");
	CHECK(f);
	*size = (size_t)b->off[b->n];
	file = malloc(*size);
	CHECK(file && fread(file, 1, *size, f) == *size);
	fclose(f);
	return file;
}

/* One byte of record k flipped: every other record comes back, in order, and record k is counted
 * once, as a record or as its bytes. Holds when the record magic appears only where records
 * start (a payload holding "TREC" with a valid record behind it could be taken for one). */
static void check_one_flip(const uint8_t *data, size_t size)
{
	struct spool_config cfg = { .dir = dir, .max_bytes = 1 << 20, .segment_bytes = 1 << 20,
				    .full = SPOOL_DROP_NEWEST, .fsync = SPOOL_FSYNC_NONE };
	struct spool_recovery rec;
	struct spool_entry e;
	struct spool *s = NULL;
	struct built b;
	char path[400], err[256];
	uint8_t *file, mask;
	size_t file_size, at, k = 0, next = 0, magics = 0;
	int fd;

	if (size < 3)
		return;
	mask = data[2] ? data[2] : 1;
	clean_dir();
	file = build_segment(data + 3, size - 3, &b, &file_size);
	if (!file)
		return;
	at = FILE_HDR + ((size_t)data[0] | (size_t)data[1] << 8) % (file_size - FILE_HDR);
	for (const uint8_t *p = file; (p = memmem(p, file_size - (size_t)(p - file), "TREC", 4));
	     p++)
		magics++;
	if (magics != b.n) {
		free(file);
		return;
	}
	while (b.off[k + 1] <= at)
		k++;
	snprintf(path, sizeof(path), "%s/0000000000000001.spool", dir);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	file[at] ^= mask;
	CHECK(pwrite(fd, file + at, 1, (off_t)at) == 1);
	close(fd);

	CHECK(spool_open(&s, &cfg, &rec, err, sizeof(err)) == 0);
	CHECK(rec.records == b.n - 1);
	CHECK(rec.torn + rec.skipped_regions == 1);
	CHECK(rec.torn_bytes + rec.skipped_bytes == b.off[k + 1] - b.off[k]);
	while (spool_next(s, &e) == 0) {
		if (next == k)
			next++;
		CHECK(e.timestamp_ms == (int64_t)next);
		next++;
	}
	CHECK(next == b.n || (next == b.n - 1 && k == b.n - 1));
	spool_close(s);
	free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_config cfg = { .max_bytes = 1 << 20, .segment_bytes = 1 << 20,
				    .full = SPOOL_DROP_NEWEST, .fsync = SPOOL_FSYNC_NONE };
	struct spool_recovery rec, again;
	struct spool_stats st;
	struct spool *s = NULL;
	char path[400], err[256];
	uint8_t *file;
	uint64_t n;
	int fd;

	if (size < 1 || size > INPUT_MAX)
		return 0;
	if (!dir[0]) {
		strcpy(dir, "/tmp/fuzz-spool-XXXXXX");
		CHECK(mkdtemp(dir));
		atexit(remove_dir);
	}
	cfg.dir = dir;
	if (data[0] & 4) {
		check_one_flip(data + 1, size - 1);
		return 0;
	}
	if (data[0] & 2) {
		cfg.max_bytes = cfg.segment_bytes = 4096;
		cfg.full = SPOOL_DROP_OLDEST;
	}
	size--;
	file = malloc(size + 1);
	CHECK(file);
	memcpy(file, data + 1, size);
	if ((data[0] & 1) && size >= FILE_HDR)
		fix_crcs(file, size);

	clean_dir();
	snprintf(path, sizeof(path), "%s/0000000000000001.spool", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, file, size) == (ssize_t)size);
	close(fd);

	CHECK(spool_open(&s, &cfg, &rec, err, sizeof(err)) == 0);
	CHECK(rec.records <= size / REC_HDR);
	CHECK(rec.bytes <= size);
	CHECK(rec.corrupt_segments <= 1 && rec.unreadable_segments == 0 && rec.segments <= 1);
	/* Every byte is kept, or counted as torn or skipped (or the whole file set aside). */
	if (size >= FILE_HDR && !rec.corrupt_segments)
		CHECK((rec.segments ? rec.bytes : FILE_HDR) + rec.torn_bytes + rec.skipped_bytes ==
		      size);
	spool_get_stats(s, &st);
	CHECK(st.pending_records + st.dropped_full == rec.records);
	CHECK(st.pending_bytes <= cfg.max_bytes || cfg.full == SPOOL_DROP_NEWEST);
	n = drain(s, file, size, false);
	CHECK(n == st.pending_records);
	spool_close(s);

	/* Recovery cut what it rejected: the second look agrees and finds nothing torn. */
	CHECK(spool_open(&s, &cfg, &again, err, sizeof(err)) == 0);
	CHECK(again.torn == 0 && again.skipped_regions == 0 && again.corrupt_segments == 0);
	CHECK(again.records == n);
	CHECK(drain(s, file, size, true) == n);
	CHECK(spool_empty(s));
	spool_get_stats(s, &st);
	CHECK(st.pending_bytes == 0);
	CHECK(access(path, F_OK) != 0);
	spool_close(s);

	free(file);
	return 0;
}
