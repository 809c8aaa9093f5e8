/* The disk spool (producer/core/spool.c): round trips across segments, the on-disk bytes, acks and
 * rewinds, both full policies at the bound, recovery after a close, a kill -9, a torn tail and a
 * flipped byte, bad segment files, fsync policies, disk full, hostile configs. Ends with an
 * informational throughput figure (TAPIO_SPOOL_BENCH_RECORDS, default 1000000). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "spool.h"

#define FILE_HDR 16
#define REC_HDR 32

static char top[64];        /* mkdtemp'd per test */
static char dir[128];       /* the spool directory, top/spool (created by spool_open) */
static char errstr[512];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	strcpy(top, "/tmp/tapio-spool-test-XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(dir, sizeof(dir), "%s/spool", top);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	chmod(dir, 0700);
	return nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct spool_config config(uint64_t segment_bytes, uint64_t max_bytes,
				  enum spool_full_policy full, enum spool_fsync_policy fsync)
{
	return (struct spool_config){ .dir = dir, .max_bytes = max_bytes, .segment_bytes = segment_bytes,
				      .full = full, .fsync = fsync, .fsync_interval_ms = 1000 };
}

static struct spool *open_ok(const struct spool_config *cfg, struct spool_recovery *rec)
{
	struct spool *s = NULL;

	errstr[0] = '\0';
	assert_int_equal(spool_open(&s, cfg, rec, errstr, sizeof(errstr)), 0);
	assert_non_null(s);
	return s;
}

/* Record i, varied: stream, key and value lengths change, every 5th is a tombstone. */
struct trec {
	char stream[16];
	char key[32];
	uint8_t value[200];
	size_t key_len, value_len;
	bool tombstone;
	int64_t ts;
};

static void make_rec(int i, struct trec *r)
{
	snprintf(r->stream, sizeof(r->stream), i % 3 ? "kernel" : "dns%d", i % 7);
	r->key_len = (size_t)snprintf(r->key, sizeof(r->key), "pod-%d", i * 31) - (i % 4 == 0 ? 5 : 0);
	r->tombstone = i % 5 == 4;
	r->value_len = r->tombstone ? 0 : (size_t)(i * 13) % 97;
	for (size_t k = 0; k < r->value_len; k++)
		r->value[k] = (uint8_t)(i * 7 + k * 3);
	r->ts = 1795622062343LL + i - (i % 2 ? 0 : 4000000000000LL); /* some negative */
}

static uint64_t rec_size(int i)
{
	struct trec r;

	make_rec(i, &r);
	return REC_HDR + strlen(r.stream) + r.key_len + r.value_len;
}

static int append_rec(struct spool *s, int i)
{
	struct trec r;

	make_rec(i, &r);
	return spool_append(s, r.stream, r.key, r.key_len, r.tombstone ? NULL : r.value,
			    r.value_len, r.ts);
}

static void expect_rec(const struct spool_entry *e, int i)
{
	struct trec r;

	make_rec(i, &r);
	assert_string_equal(e->stream, r.stream);
	assert_int_equal(e->key_len, r.key_len);
	assert_memory_equal(e->key, r.key, r.key_len);
	assert_int_equal(e->timestamp_ms, r.ts);
	if (r.tombstone) {
		assert_null(e->value);
		assert_int_equal(e->value_len, 0);
	} else {
		assert_non_null(e->value);
		assert_int_equal(e->value_len, r.value_len);
		if (r.value_len)
			assert_memory_equal(e->value, r.value, r.value_len);
	}
}

/* Hands out the next record and checks it is record i. */
static uint64_t next_is(struct spool *s, int i)
{
	struct spool_entry e;

	assert_int_equal(spool_next(s, &e), 0);
	expect_rec(&e, i);
	return e.pos;
}

static void next_none(struct spool *s)
{
	struct spool_entry e;

	assert_int_equal(spool_next(s, &e), -ENOENT);
}

/* Fixed-size records for the bound tests: stream "s", 8-byte key, 40-byte value = 81 bytes. */
#define FIXED_SIZE 81

static int append_fixed(struct spool *s, int id)
{
	char key[12], value[40];

	snprintf(key, sizeof(key), "%08d", id % 100000000);
	memset(value, 'a' + id % 26, sizeof(value));
	return spool_append(s, "s", key, 8, value, sizeof(value), id);
}

static uint64_t next_fixed(struct spool *s, int id)
{
	struct spool_entry e;
	char key[12];

	assert_int_equal(spool_next(s, &e), 0);
	snprintf(key, sizeof(key), "%08d", id % 100000000);
	assert_int_equal(e.key_len, 8);
	assert_memory_equal(e.key, key, 8);
	assert_int_equal(e.value_len, 40);
	assert_int_equal(e.timestamp_ms, id);
	return e.pos;
}

static void seg_path(char *buf, size_t size, uint64_t seq, const char *suffix)
{
	snprintf(buf, size, "%s/%016" PRIx64 ".spool%s", dir, seq, suffix);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Segment files in the directory, and their total size. */
static size_t disk_segments(uint64_t *bytes)
{
	struct dirent *d;
	size_t n = 0;
	char path[300];
	DIR *dp;

	*bytes = 0;
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp))) {
		size_t len = strlen(d->d_name);

		if (len != 22 || strcmp(d->d_name + 16, ".spool") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		*bytes += file_size(path);
		n++;
	}
	closedir(dp);
	return n;
}

static struct spool_stats stats(const struct spool *s)
{
	struct spool_stats st;

	spool_get_stats(s, &st);
	return st;
}

static void test_round_trip(void **state)
{
	struct spool_config cfg = config(512, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	uint64_t seg = FILE_HDR, total = 0, bytes, prev = 0;
	size_t nsegs = 1;
	struct spool *s;
	int n = 60;

	(void)state;
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 0);
	assert_int_equal(rec.segments, 0);
	assert_string_equal(rec.detail, "");
	assert_true(spool_empty(s));
	for (int i = 0; i < n; i++) {
		assert_int_equal(append_rec(s, i), 0);
		/* Where the records must land: a record that would pass 512 bytes starts a segment. */
		if (seg + rec_size(i) > 512) {
			total += seg;
			seg = FILE_HDR;
			nsegs++;
		}
		seg += rec_size(i);
	}
	total += seg;
	assert_true(nsegs >= 4);
	assert_int_equal(disk_segments(&bytes), nsegs);
	assert_int_equal(bytes, total);
	assert_int_equal(stats(s).pending_bytes, total);
	assert_int_equal(stats(s).pending_records, n);
	assert_int_equal(stats(s).appended, n);
	assert_false(spool_empty(s));

	for (int i = 0; i < n; i++) {
		uint64_t pos = next_is(s, i);

		assert_true(i == 0 || pos > prev);
		prev = pos;
	}
	next_none(s);
	/* Handed out is not acknowledged: still all on disk. */
	assert_int_equal(disk_segments(&bytes), nsegs);

	spool_rewind(s);
	for (int i = 0; i < n; i++)
		spool_ack(s, next_is(s, i));
	next_none(s);
	assert_true(spool_empty(s));
	assert_int_equal(stats(s).acked, n);
	assert_int_equal(stats(s).pending_bytes, 0);
	/* Replayed, then truncated: not a segment file left, the written one included. */
	assert_int_equal(disk_segments(&bytes), 0);

	/* And the spool goes on, in a new segment. */
	assert_int_equal(append_rec(s, 1000), 0);
	next_is(s, 1000);
	next_none(s);
	assert_int_equal(disk_segments(&bytes), 1);
	spool_close(s);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	uint8_t *b;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	b = malloc(1 << 16);
	assert_non_null(b);
	*len = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

/* The bytes on disk, built here independently (zlib's crc32), so a format change shows. */
static void test_on_disk_format(void **state)
{
	struct spool_config cfg = config(4096, 8192, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	static const uint8_t expect_hdr[FILE_HDR] = { 'T', 'S', 'P', 'L', 1, 0, 16, 0,
						      1, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t expect[2][REC_HDR + 16];
	char path[300];
	struct spool *s;
	size_t len;
	uint8_t *b;

	(void)state;
	s = open_ok(&cfg, NULL);
	assert_int_equal(spool_append(s, "dns", "k1", 2, "hello", 5, 0x0102030405060708LL), 0);
	assert_int_equal(spool_append(s, "md", "key", 3, NULL, 0, -2), 0);
	spool_close(s);

	seg_path(path, sizeof(path), 1, "");
	b = read_all(path, &len);
	assert_int_equal(len, FILE_HDR + (REC_HDR + 10) + (REC_HDR + 5));
	assert_memory_equal(b, expect_hdr, FILE_HDR);

	memset(expect, 0, sizeof(expect));
	memcpy(expect[0], "TREC", 4);
	expect[0][4] = REC_HDR + 10;
	memcpy(expect[0] + 12, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	expect[0][20] = 2;  /* key length */
	expect[0][24] = 5;  /* value length */
	expect[0][28] = 3;  /* stream length */
	memcpy(expect[0] + REC_HDR, "dnsk1hello", 10);
	{
		uint32_t crc = (uint32_t)crc32(0, expect[0] + 12, REC_HDR + 10 - 12);

		for (int k = 0; k < 4; k++)
			expect[0][8 + k] = (uint8_t)(crc >> (8 * k));
	}
	assert_memory_equal(b + FILE_HDR, expect[0], REC_HDR + 10);

	memcpy(expect[1], "TREC", 4);
	expect[1][4] = REC_HDR + 5;
	memset(expect[1] + 12, 0xff, 8);
	expect[1][12] = 0xfe; /* -2 */
	expect[1][20] = 3;
	expect[1][28] = 2;
	expect[1][30] = 1; /* tombstone */
	memcpy(expect[1] + REC_HDR, "mdkey", 5);
	{
		uint32_t crc = (uint32_t)crc32(0, expect[1] + 12, REC_HDR + 5 - 12);

		for (int k = 0; k < 4; k++)
			expect[1][8 + k] = (uint8_t)(crc >> (8 * k));
	}
	assert_memory_equal(b + FILE_HDR + REC_HDR + 10, expect[1], REC_HDR + 5);
	free(b);
}

static void test_acked_segments_deleted(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	uint64_t pos[12], bytes, before;
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	/* 81-byte records, two per 256-byte segment: segments 1..6. */
	for (int i = 0; i < 12; i++)
		assert_int_equal(append_fixed(s, i), 0);
	assert_int_equal(disk_segments(&bytes), 6);
	assert_int_equal(bytes, 6 * (FILE_HDR + 2 * FIXED_SIZE));
	for (int i = 0; i < 12; i++)
		pos[i] = next_fixed(s, i);

	/* Segment 2 acked out of order: deleted only at its last record. */
	before = stats(s).pending_bytes;
	spool_ack(s, pos[3]);
	seg_path(path, sizeof(path), 2, "");
	assert_true(exists(path));
	spool_ack(s, pos[2]);
	assert_false(exists(path));
	assert_int_equal(stats(s).pending_bytes, before - (FILE_HDR + 2 * FIXED_SIZE));
	assert_int_equal(stats(s).pending_records, 10);

	/* A duplicate report, or one for a deleted segment, changes nothing. */
	spool_ack(s, pos[3]);
	spool_ack(s, pos[2]);
	spool_ack(s, 12345ull << 16);
	assert_int_equal(stats(s).acked, 2);
	assert_int_equal(stats(s).pending_records, 10);

	/* Half of segment 1 acked: stays. The segment being written, fully acked, goes. */
	spool_ack(s, pos[0]);
	seg_path(path, sizeof(path), 1, "");
	assert_true(exists(path));
	spool_ack(s, pos[10]);
	spool_ack(s, pos[11]);
	seg_path(path, sizeof(path), 6, "");
	assert_false(exists(path));
	assert_int_equal(disk_segments(&bytes), 4);
	assert_int_equal(bytes, stats(s).pending_bytes);
	assert_int_equal(stats(s).pending_records, 7);

	/* The next append starts segment 7. */
	assert_int_equal(append_fixed(s, 12), 0);
	seg_path(path, sizeof(path), 7, "");
	assert_true(exists(path));
	spool_close(s);
}

static void test_rewind(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	uint64_t pos[16];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 10; i++)
		assert_int_equal(append_fixed(s, i), 0);
	for (int i = 0; i < 10; i++)
		pos[i] = next_fixed(s, i);
	next_none(s);

	/* Two records a segment: 0 and 1 fill segment 1, it goes. 5 and 9 are acked alone. */
	spool_ack(s, pos[0]);
	spool_ack(s, pos[1]);
	spool_ack(s, pos[5]);
	spool_ack(s, pos[9]);
	spool_rewind(s);
	next_fixed(s, 2);
	next_fixed(s, 3);
	next_fixed(s, 4);
	/* An ack arriving for a record after the cursor: it is skipped when reached. */
	spool_ack(s, pos[7]);
	next_fixed(s, 6);
	next_fixed(s, 8);
	next_none(s);

	/* The cursor moves into a new segment, and waits at the end of the one being written:
	 * 10 starts segment 6, 11 joins it after the cursor got there, 12 starts segment 7. */
	assert_int_equal(append_fixed(s, 10), 0);
	next_fixed(s, 10);
	next_none(s);
	assert_int_equal(append_fixed(s, 11), 0);
	next_fixed(s, 11);
	next_none(s);
	assert_int_equal(append_fixed(s, 12), 0);
	next_fixed(s, 12);
	next_none(s);

	spool_rewind(s);
	for (int i = 2; i <= 12; i++)
		if (i != 5 && i != 7 && i != 9)
			next_fixed(s, i);
	next_none(s);
	assert_int_equal(stats(s).pending_records, 13 - 5);
	spool_close(s);
}

/* 81-byte records, two per 256-byte segment (178 bytes), max 1024 bytes. */
static void test_drop_newest(void **state)
{
	struct spool_config cfg = config(256, 1024, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	uint64_t bytes, pos[2];
	struct spool *s;
	int ok = 0;

	(void)state;
	s = open_ok(&cfg, NULL);
	/* 5 full segments = 890 bytes; a 6th with one record = 987; another record would be 1068. */
	for (int i = 0; i < 20; i++) {
		int rc = append_fixed(s, i);

		assert_true(rc == 0 || rc == -ENOSPC);
		assert_int_equal(rc == 0, i < 11);
		ok += rc == 0;
		disk_segments(&bytes);
		assert_true(bytes <= 1024);
	}
	assert_int_equal(ok, 11);
	assert_int_equal(stats(s).dropped_full, 9);
	assert_int_equal(stats(s).appended, 11);
	assert_int_equal(stats(s).write_errors, 0);
	assert_int_equal(disk_segments(&bytes), 6);
	assert_int_equal(bytes, 987);

	/* Delivering segment 1 frees 178 bytes: exactly two more records fit. */
	pos[0] = next_fixed(s, 0);
	pos[1] = next_fixed(s, 1);
	spool_ack(s, pos[0]);
	spool_ack(s, pos[1]);
	assert_int_equal(append_fixed(s, 100), 0);
	assert_int_equal(append_fixed(s, 101), 0);
	assert_int_equal(append_fixed(s, 102), -ENOSPC);
	assert_int_equal(stats(s).dropped_full, 10);
	disk_segments(&bytes);
	assert_int_equal(bytes, 987);

	/* Nothing accepted was lost, in order. */
	for (int i = 2; i < 11; i++)
		next_fixed(s, i);
	next_fixed(s, 100);
	next_fixed(s, 101);
	next_none(s);
	spool_close(s);

	/* A new segment's 16-byte header counts: two full segments (356) + 81 would fit 452, but
	 * the third segment it needs makes 453. */
	teardown(NULL);
	setup(NULL);
	cfg = config(256, 452, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(append_fixed(s, i), i < 4 ? 0 : -ENOSPC);
	assert_int_equal(disk_segments(&bytes), 2);
	assert_int_equal(bytes, 356);
	assert_int_equal(stats(s).dropped_full, 1);
	spool_close(s);
}

static void test_drop_oldest(void **state)
{
	struct spool_config cfg = config(256, 1024, SPOOL_DROP_OLDEST, SPOOL_FSYNC_NONE);
	uint64_t bytes, early;
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	assert_int_equal(append_fixed(s, 0), 0);
	early = next_fixed(s, 0); /* handed out, then evicted before its report */
	for (int i = 1; i < 20; i++) {
		assert_int_equal(append_fixed(s, i), 0);
		disk_segments(&bytes);
		assert_true(bytes <= 1024);
	}
	/* Each pair past the 11th evicts the oldest pair: 0..9 go, 10..19 stay. */
	assert_int_equal(stats(s).dropped_full, 10);
	assert_int_equal(stats(s).appended, 20);
	assert_int_equal(stats(s).pending_records, 10);
	assert_int_equal(disk_segments(&bytes), 5);
	assert_int_equal(bytes, 5 * (FILE_HDR + 2 * FIXED_SIZE));
	spool_ack(s, early);
	assert_int_equal(stats(s).acked, 0);
	for (int i = 10; i < 20; i++)
		next_fixed(s, i);
	next_none(s);
	spool_close(s);

	/* max_bytes == segment_bytes: the one segment is evicted whole, a new one started. */
	teardown(NULL);
	setup(NULL);
	cfg = config(256, 256, SPOOL_DROP_OLDEST, SPOOL_FSYNC_NONE);
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(append_fixed(s, i), 0);
	assert_int_equal(stats(s).dropped_full, 4);
	assert_int_equal(disk_segments(&bytes), 1);
	assert_int_equal(bytes, FILE_HDR + FIXED_SIZE);
	next_fixed(s, 4);
	next_none(s);
	spool_close(s);
}

/* A segment holds at most 65536 records, whatever its size: the acked bitmap stays 8 KiB. */
static void test_record_cap(void **state)
{
	struct spool_config cfg = config(8 << 20, 16 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	struct spool_entry e;
	struct spool *s;
	uint64_t bytes;
	char path[300];

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 65537; i++)
		assert_int_equal(spool_append(s, "s", NULL, 0, "", 0, i), 0);
	assert_int_equal(disk_segments(&bytes), 2);
	seg_path(path, sizeof(path), 1, "");
	assert_int_equal(file_size(path), FILE_HDR + 65536 * (REC_HDR + 1));
	spool_close(s);

	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 65537);
	assert_int_equal(rec.segments, 2);
	for (int i = 0; i < 65537; i++) {
		assert_int_equal(spool_next(s, &e), 0);
		assert_int_equal(e.timestamp_ms, i);
		if (i < 65536)
			spool_ack(s, e.pos);
	}
	assert_int_equal(spool_next(s, &e), -ENOENT);
	assert_false(exists(path));
	assert_int_equal(stats(s).pending_records, 1);
	spool_close(s);
}

/* Acks are not persisted: a partly acked segment is replayed whole after a restart. */
static void test_reopen(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	uint64_t pos[10], bytes;
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 10; i++)
		assert_int_equal(append_fixed(s, i), 0);
	for (int i = 0; i < 10; i++)
		pos[i] = next_fixed(s, i);
	spool_ack(s, pos[0]);
	spool_ack(s, pos[1]); /* segment 1 deleted */
	spool_ack(s, pos[2]); /* half of segment 2: forgotten at close */
	spool_close(s);

	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 8);
	assert_int_equal(rec.segments, 4);
	assert_int_equal(rec.bytes, 4 * (FILE_HDR + 2 * FIXED_SIZE));
	assert_int_equal(rec.torn, 0);
	assert_int_equal(rec.corrupt_segments, 0);
	assert_string_equal(rec.detail, "");
	assert_int_equal(stats(s).pending_records, 8);
	assert_int_equal(stats(s).pending_bytes, rec.bytes);
	assert_int_equal(stats(s).appended, 0);
	for (int i = 2; i < 10; i++)
		next_fixed(s, i);
	next_none(s);
	/* New records go after the recovered ones, in a segment numbered past them. */
	assert_int_equal(append_fixed(s, 10), 0);
	next_fixed(s, 10);
	seg_path(path, sizeof(path), 6, "");
	assert_true(exists(path));
	spool_close(s);
	assert_int_equal(disk_segments(&bytes), 5);
}

/* kill -9 in the middle of appending: the next start recovers every completed append. */
static void test_kill9(void **state)
{
	struct spool_config cfg = config(512, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	struct spool *s;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spool *c = NULL;

		if (spool_open(&c, &cfg, NULL, NULL, 0))
			_exit(1);
		for (int i = 0; i < 50; i++)
			if (append_rec(c, i))
				_exit(1);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* The dead process's lock went with it. */
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 50);
	assert_int_equal(rec.torn, 0);
	for (int i = 0; i < 50; i++)
		next_is(s, i);
	next_none(s);
	spool_close(s);
}

static void truncate_to(const char *path, uint64_t size)
{
	assert_int_equal(truncate(path, (off_t)size), 0);
}

static void test_torn_last_record(void **state)
{
	struct spool_config cfg = config(4096, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	uint64_t intact = FILE_HDR;
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(append_rec(s, i), 0);
	spool_close(s);
	for (int i = 0; i < 4; i++)
		intact += rec_size(i);

	/* A crash mid-write: the last record lacks its last 7 bytes. */
	seg_path(path, sizeof(path), 1, "");
	assert_int_equal(file_size(path), intact + rec_size(4));
	truncate_to(path, intact + rec_size(4) - 7);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 4);
	assert_int_equal(rec.torn, 1);
	assert_int_equal(rec.torn_bytes, rec_size(4) - 7);
	assert_int_equal(rec.bytes, intact);
	assert_non_null(strstr(rec.detail, "0000000000000001.spool: record 4"));
	assert_non_null(strstr(rec.detail, "need"));
	assert_int_equal(file_size(path), intact);
	for (int i = 0; i < 4; i++)
		next_is(s, i);
	next_none(s);
	spool_close(s);

	/* Recovery cut the file: the next start finds nothing wrong. */
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 4);
	assert_int_equal(rec.torn, 0);
	assert_string_equal(rec.detail, "");
	spool_close(s);

	/* Cut inside a record header. */
	truncate_to(path, intact - rec_size(3) + 10);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 3);
	assert_int_equal(rec.torn, 1);
	assert_int_equal(rec.torn_bytes, 10);
	assert_non_null(strstr(rec.detail, "record header: need 32 bytes, have 10"));
	for (int i = 0; i < 3; i++)
		next_is(s, i);
	next_none(s);
	spool_close(s);
}

static void write_file(const char *path, const void *data, size_t len);

/* This process without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (for a forked child). */
static int drop_dac_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		uint32_t drop = i == 0 ? (1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH) : 0;

		data[i].effective &= ~drop;
		data[i].permitted &= ~drop;
	}
	return (int)syscall(SYS_capset, &hdr, data);
}

static void flip(const char *path, uint64_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* A damaged record costs that record: reading resumes at the next intact one, and the count says
 * exactly what was lost. */
static void test_flipped_byte(void **state)
{
	struct spool_config cfg = config(4096, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	uint64_t off[8];
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	off[0] = FILE_HDR;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(append_rec(s, i), 0);
		off[i + 1] = off[i] + rec_size(i);
	}
	spool_close(s);

	/* A byte of record 2's payload: its header still says where record 3 starts. */
	seg_path(path, sizeof(path), 1, "");
	flip(path, off[2] + REC_HDR + 3);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 5);
	assert_int_equal(rec.torn, 1);
	assert_int_equal(rec.torn_bytes, rec_size(2));
	assert_int_equal(rec.skipped_regions, 0);
	assert_int_equal(rec.skipped_bytes, 0);
	assert_int_equal(rec.bytes, off[6] - rec_size(2));
	assert_non_null(strstr(rec.detail, "record 2 at offset"));
	assert_non_null(strstr(rec.detail, "CRC"));
	/* The segment was rewritten without it. */
	assert_int_equal(file_size(path), off[6] - rec_size(2));
	next_is(s, 0);
	next_is(s, 1);
	next_is(s, 3);
	next_is(s, 4);
	next_is(s, 5);
	next_none(s);
	spool_close(s);

	/* Nothing to count again at the next start. */
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 5);
	assert_int_equal(rec.torn + rec.skipped_regions, 0);
	assert_string_equal(rec.detail, "");
	spool_close(s);

	/* A length field (record 1, still at off[1]): the header no longer gives the record's
	 * bounds, so the bytes up to the next intact record are skipped, and counted as bytes. */
	flip(path, off[1] + 4);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 4);
	assert_int_equal(rec.torn, 0);
	assert_int_equal(rec.skipped_regions, 1);
	assert_int_equal(rec.skipped_bytes, rec_size(1));
	assert_non_null(strstr(rec.detail, "record length"));
	assert_non_null(strstr(rec.detail, "to the next intact record"));
	next_is(s, 0);
	next_is(s, 3);
	next_is(s, 4);
	next_is(s, 5);
	next_none(s);
	spool_close(s);

	/* The record magic of the first record: a segment may start with a bad stretch. */
	flip(path, FILE_HDR + 1);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 3);
	assert_int_equal(rec.skipped_regions, 1);
	assert_int_equal(rec.skipped_bytes, rec_size(0));
	assert_non_null(strstr(rec.detail, "bad record magic"));
	next_is(s, 3);
	next_is(s, 4);
	next_is(s, 5);
	next_none(s);
	spool_close(s);

	/* The last record's timestamp: nothing after it, one record lost. */
	flip(path, file_size(path) - rec_size(5) + 14);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 2);
	assert_int_equal(rec.torn, 1);
	assert_int_equal(rec.torn_bytes, rec_size(5));
	assert_int_equal(rec.skipped_regions, 0);
	next_is(s, 3);
	next_is(s, 4);
	next_none(s);
	spool_close(s);
}

/* The figures: 12 019 records in one 16 MiB segment, one byte flipped in the middle of
 * the file. Before, the rest of the segment went (2 816 of 12 019 recovered, "torn=1"). */
static void test_flipped_byte_12019(void **state)
{
	struct spool_config cfg = config(16 << 20, 64 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	const int n = 12019;
	struct spool_recovery rec;
	uint64_t off = FILE_HDR, size, hit_size = 0, mid;
	char path[300];
	struct spool *s;
	int hit = -1;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < n; i++)
		assert_int_equal(append_rec(s, i), 0);
	spool_close(s);
	seg_path(path, sizeof(path), 1, "");
	size = file_size(path);
	mid = size / 2;
	for (int i = 0; i < n && hit < 0; i++) {
		if (mid < off + rec_size(i)) {
			hit = i;
			hit_size = rec_size(i);
		}
		off += rec_size(i);
	}
	assert_true(hit > 0 && hit < n - 1);
	flip(path, mid);

	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, n - 1);
	/* Exactly one record lost: counted as a record when its header survived, else as its
	 * bytes in one skipped stretch. */
	assert_int_equal(rec.torn + rec.skipped_regions, 1);
	assert_int_equal(rec.torn_bytes + rec.skipped_bytes, hit_size);
	assert_int_equal(rec.bytes + hit_size, size);
	for (int i = 0; i < n; i++)
		if (i != hit)
			next_is(s, i);
	next_none(s);
	spool_close(s);
}

/* Bytes that are no record at all between two records (a bad disk, another program): skipped
 * and counted as bytes; every record is still there. */
static void test_garbage_between_records(void **state)
{
	struct spool_config cfg = config(4096, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	uint8_t *file, junk[19];
	uint64_t off = FILE_HDR;
	size_t len;
	char path[300];
	struct spool *s;
	FILE *f;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(append_rec(s, i), 0);
	spool_close(s);
	for (int i = 0; i < 3; i++)
		off += rec_size(i);
	seg_path(path, sizeof(path), 1, "");
	file = read_all(path, &len);
	/* Junk holding the record magic, to be taken for a record only if it checked. */
	memcpy(junk, "TRECxxxxTRECyyyyTRE", sizeof(junk));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(file, 1, off, f), off);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	assert_int_equal(fwrite(file + off, 1, len - off, f), len - off);
	fclose(f);

	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 6);
	assert_int_equal(rec.torn, 0);
	assert_int_equal(rec.skipped_regions, 1);
	assert_int_equal(rec.skipped_bytes, sizeof(junk));
	for (int i = 0; i < 6; i++)
		next_is(s, i);
	next_none(s);
	spool_close(s);
	assert_int_equal(file_size(path), len);
	free(file);
}

/* Damage in one segment costs only what is damaged there. */
static void test_torn_middle_segment(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(append_fixed(s, i), 0);
	spool_close(s);
	seg_path(path, sizeof(path), 2, "");
	flip(path, FILE_HDR + REC_HDR + 1); /* record 2, the first of segment 2 */
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 5);
	assert_int_equal(rec.torn, 1);
	assert_int_equal(rec.torn_bytes, FIXED_SIZE);
	assert_int_equal(rec.segments, 3);
	assert_int_equal(file_size(path), FILE_HDR + FIXED_SIZE);
	next_fixed(s, 0);
	next_fixed(s, 1);
	next_fixed(s, 3);
	next_fixed(s, 4);
	next_fixed(s, 5);
	next_none(s);
	spool_close(s);
}

/* A segment that cannot be read (here: its permissions, for a process without the capabilities
 * that override them) is set aside and counted; the others are replayed, start-up goes on. */
static void test_unreadable_segment(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	char path[300], aside[300];
	int status, fds[2];
	struct spool *s;
	pid_t pid;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(append_fixed(s, i), 0);
	spool_close(s);
	seg_path(path, sizeof(path), 2, "");
	seg_path(aside, sizeof(aside), 2, ".unreadable");
	assert_int_equal(chmod(path, 0), 0);

	/* Root reads a mode-0 file anyway: a child without CAP_DAC_OVERRIDE/READ_SEARCH does not. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spool *c = NULL;
		struct spool_entry e;
		uint64_t got[3];

		close(fds[0]);
		if (drop_dac_caps() < 0 || spool_open(&c, &cfg, &rec, errstr, sizeof(errstr)) != 0)
			_exit(1);
		got[0] = rec.records;
		got[1] = rec.unreadable_segments;
		got[2] = rec.unreadable_bytes;
		for (int i = 0; i < 4; i++)
			if (spool_next(c, &e) != 0 || e.timestamp_ms != (i < 2 ? i : i + 2))
				_exit(2);
		if (spool_next(c, &e) != -ENOENT || !strstr(rec.detail, "Permission denied"))
			_exit(3);
		spool_close(c);
		if (write(fds[1], got, sizeof(got)) != sizeof(got))
			_exit(4);
		_exit(0);
	}
	close(fds[1]);
	{
		uint64_t got[3] = { 0 };

		assert_int_equal(read(fds[0], got, sizeof(got)), sizeof(got));
		assert_int_equal(got[0], 4);
		assert_int_equal(got[1], 1);
		assert_int_equal(got[2], FILE_HDR + 2 * FIXED_SIZE);
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(path));
	assert_true(exists(aside));

	/* Set aside for good: the next start does not look at it, and numbering goes past it. */
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 4);
	assert_int_equal(rec.unreadable_segments, 0);
	assert_int_equal(append_fixed(s, 9), 0);
	seg_path(path, sizeof(path), 4, "");
	assert_true(exists(path));
	spool_close(s);
}

/* A rewrite that a crash interrupted leaves <seq>.spool.tmp beside the intact original. */
static void test_stale_rewrite_removed(void **state)
{
	struct spool_config cfg = config(4096, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(append_rec(s, i), 0);
	spool_close(s);
	seg_path(path, sizeof(path), 1, ".tmp");
	write_file(path, "TSPL", 4);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 3);
	assert_false(exists(path));
	spool_close(s);
}

/* The disk changes after spool_open: a record failing its CRC on replay is never handed out. */
static void test_corrupt_after_open(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	char path[300];
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(append_fixed(s, i), 0);
	next_fixed(s, 0);
	seg_path(path, sizeof(path), 1, "");
	flip(path, FILE_HDR + FIXED_SIZE + REC_HDR + 5);
	next_fixed(s, 2); /* 1 is bad: segment 1 is dropped */
	assert_int_equal(stats(s).read_errors, 2);
	assert_int_equal(stats(s).pending_records, 4);
	assert_false(exists(path));
	seg_path(path, sizeof(path), 1, ".corrupt");
	assert_true(exists(path));
	next_fixed(s, 3);
	next_fixed(s, 4);
	next_fixed(s, 5);
	next_none(s);
	spool_close(s);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_bad_file_header(void **state)
{
	struct spool_config cfg = config(4096, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	static const uint8_t v2[FILE_HDR] = { 'T', 'S', 'P', 'L', 2, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0, 0 };
	struct spool_recovery rec;
	char path[300], junk[100];
	struct spool *s;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	memset(junk, 'x', sizeof(junk));
	seg_path(path, sizeof(path), 7, "");
	write_file(path, junk, sizeof(junk));
	seg_path(path, sizeof(path), 3, "");
	write_file(path, v2, sizeof(v2)); /* a later format version: not ours to read */
	seg_path(path, sizeof(path), 9, "");
	write_file(path, "TSPL\1", 5);    /* torn file header: nothing in it */
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	write_file(path, "keep", 4);

	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.corrupt_segments, 2);
	assert_int_equal(rec.records, 0);
	assert_non_null(strstr(rec.detail, "bad file header"));
	seg_path(path, sizeof(path), 7, ".corrupt");
	assert_true(exists(path));
	assert_int_equal(file_size(path), sizeof(junk));
	seg_path(path, sizeof(path), 3, ".corrupt");
	assert_true(exists(path));
	seg_path(path, sizeof(path), 9, "");
	assert_false(exists(path));
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	assert_true(exists(path));

	/* Numbering goes on past every name seen. */
	assert_int_equal(append_fixed(s, 1), 0);
	seg_path(path, sizeof(path), 10, "");
	assert_true(exists(path));
	spool_close(s);

	/* *.corrupt files are left alone, and still count for numbering: 7 is the highest name. */
	seg_path(path, sizeof(path), 10, "");
	assert_int_equal(unlink(path), 0);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.corrupt_segments, 0);
	assert_int_equal(append_fixed(s, 1), 0);
	seg_path(path, sizeof(path), 8, "");
	assert_true(exists(path));
	seg_path(path, sizeof(path), 7, ".corrupt");
	assert_true(exists(path));
	spool_close(s);
}

/* fsync counts per policy, 20 records over 4 segments; everything still comes back. */
static void test_fsync_policies(void **state)
{
	struct spool_recovery rec;
	struct spool *s;

	(void)state;
	for (int p = SPOOL_FSYNC_NONE; p <= SPOOL_FSYNC_ALWAYS; p++) {
		struct spool_config cfg = config(512, 1 << 20, SPOOL_DROP_NEWEST, p);
		uint64_t bytes;

		teardown(NULL);
		setup(NULL);
		s = open_ok(&cfg, NULL);
		for (int i = 0; i < 20; i++)
			assert_int_equal(append_fixed(s, i), 0);
		/* (512 - 16) / 81 = 6 records a segment: 6 + 6 + 6 + 2. */
		assert_int_equal(disk_segments(&bytes), 4);
		switch (p) {
		case SPOOL_FSYNC_NONE:
			spool_tick(s, 1000000);
			assert_int_equal(stats(s).fsyncs, 0);
			break;
		case SPOOL_FSYNC_SEGMENT:
			/* Data and directory for each of the 3 closed segments. */
			assert_int_equal(stats(s).fsyncs, 6);
			break;
		case SPOOL_FSYNC_INTERVAL:
			assert_int_equal(stats(s).fsyncs, 6);
			spool_tick(s, 999);
			assert_int_equal(stats(s).fsyncs, 6);
			spool_tick(s, 1000); /* the segment being written and the directory */
			assert_int_equal(stats(s).fsyncs, 8);
			assert_int_equal(append_fixed(s, 20), 0);
			spool_tick(s, 1999); /* at most one fsync per interval */
			assert_int_equal(stats(s).fsyncs, 8);
			spool_tick(s, 2000);
			assert_int_equal(stats(s).fsyncs, 9);
			spool_tick(s, 5000); /* nothing written since */
			assert_int_equal(stats(s).fsyncs, 9);
			break;
		case SPOOL_FSYNC_ALWAYS:
			/* One per record, one per new segment's directory entry. */
			assert_int_equal(stats(s).fsyncs, 20 + 4);
			break;
		}
		spool_close(s);

		s = open_ok(&cfg, &rec);
		assert_int_equal(rec.records, p == SPOOL_FSYNC_INTERVAL ? 21 : 20);
		assert_int_equal(rec.torn, 0);
		for (int i = 0; i < (int)rec.records; i++)
			next_fixed(s, i);
		next_none(s);
		spool_close(s);
	}
}

static void test_too_big(void **state)
{
	struct spool_config cfg = config(256, 1024, SPOOL_DROP_OLDEST, SPOOL_FSYNC_NONE);
	static char value[300], stream[70000];
	struct spool_entry e;
	struct spool *s;

	(void)state;
	s = open_ok(&cfg, NULL);
	/* 16 + 32 + 1 + 207 = 256: fits exactly; one byte more does not. */
	assert_int_equal(spool_append(s, "s", NULL, 0, value, 208, 0), -EMSGSIZE);
	assert_int_equal(spool_append(s, "s", NULL, 0, value, 207, 0), 0);
	assert_int_equal(spool_append(s, "s", "k", 1, value, 207, 0), -EMSGSIZE);
	memset(stream, 'x', 65536);
	assert_int_equal(spool_append(s, stream, NULL, 0, NULL, 0, 0), -EMSGSIZE);
	assert_int_equal(spool_append(s, NULL, NULL, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(spool_append(s, "s", NULL, 3, NULL, 0, 0), -EINVAL);
	assert_int_equal(spool_append(s, "s", NULL, 0, NULL, 3, 0), -EINVAL);
	assert_int_equal(stats(s).appended, 1);
	assert_int_equal(stats(s).dropped_full, 0);
	assert_int_equal(stats(s).write_errors, 0);
	assert_int_equal(spool_next(s, &e), 0);
	assert_int_equal(e.value_len, 207);
	assert_int_equal(e.key_len, 0);
	next_none(s);
	spool_close(s);
}

static void test_bad_config(void **state)
{
	struct spool_config cfg = config(4096, 1000, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool *s = (struct spool *)&cfg;

	(void)state;
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(errstr, dir));
	assert_non_null(strstr(errstr, "segment_bytes (4096) <= max_bytes (1000)"));
	assert_false(exists(dir)); /* nothing created for a bad config */

	cfg = config(63, 1000, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -EINVAL);
	cfg = config(64, 64, SPOOL_DROP_NEWEST, SPOOL_FSYNC_INTERVAL);
	cfg.fsync_interval_ms = 0;
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -EINVAL);
	cfg = config(64, 64, 7, SPOOL_FSYNC_NONE);
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -EINVAL);
	cfg = config(64, 64, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	cfg.dir = "";
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -EINVAL);
	cfg.dir = NULL;
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -EINVAL);
	assert_null(s);
}

static void test_unwritable_dir(void **state)
{
	struct spool_config cfg = config(4096, 8192, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool *s = NULL;
	char path[300];
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(mkdir(dir, 0555), 0);
	assert_int_equal(chmod(dir, 0555), 0);
	assert_int_equal(chmod(top, 0755), 0);
	/* root writes anywhere: check as an ordinary user, in a child. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512] = "";
		int rc;

		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(2);
		rc = spool_open(&s, &cfg, NULL, err, sizeof(err));
		if (rc != -EACCES || s)
			_exit(3);
		if (!strstr(err, dir) || !strstr(err, "not writable"))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* A path through a regular file, for anyone. */
	snprintf(path, sizeof(path), "%s/file", top);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/file/spool", top);
	cfg.dir = path;
	assert_int_equal(spool_open(&s, &cfg, NULL, errstr, sizeof(errstr)), -ENOTDIR);
	assert_null(s);
	assert_non_null(strstr(errstr, path));

	/* A directory that does not exist yet is made, parents too. */
	snprintf(path, sizeof(path), "%s/a/b/spool", top);
	s = open_ok(&cfg, NULL);
	assert_true(exists(path));
	spool_close(s);
}

static void test_locked(void **state)
{
	struct spool_config cfg = config(4096, 8192, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool *a, *b = NULL;

	(void)state;
	a = open_ok(&cfg, NULL);
	assert_int_equal(spool_open(&b, &cfg, NULL, errstr, sizeof(errstr)), -EBUSY);
	assert_null(b);
	assert_non_null(strstr(errstr, "in use"));
	spool_close(a);
	b = open_ok(&cfg, NULL);
	spool_close(b);
}

/* Disk full mid-record (RLIMIT_FSIZE stands in): refused, counted, no partial record left. */
static void test_write_error(void **state)
{
	struct spool_config cfg = config(4096, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	struct rlimit old, lim;
	uint64_t size, bytes;
	char path[300];
	struct spool *s;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(append_fixed(s, i), 0);
	seg_path(path, sizeof(path), 1, "");
	size = file_size(path);

	lim = old;
	lim.rlim_cur = size + 10; /* the next record gets 10 of its 81 bytes written */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(append_fixed(s, 3), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(file_size(path), size);
	assert_int_equal(stats(s).write_errors, 1);
	assert_int_equal(stats(s).appended, 3);
	assert_int_equal(stats(s).pending_bytes, size);

	assert_int_equal(append_fixed(s, 4), 0);
	spool_close(s);
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 4);
	assert_int_equal(rec.torn, 0);
	next_fixed(s, 0);
	next_fixed(s, 1);
	next_fixed(s, 2);
	next_fixed(s, 4);
	next_none(s);

	/* A new segment whose header cannot be written is not left behind. */
	spool_ack(s, 1ull << 16);
	spool_ack(s, 1ull << 16 | 1);
	spool_ack(s, 1ull << 16 | 2);
	spool_ack(s, 1ull << 16 | 3);
	assert_int_equal(disk_segments(&bytes), 0);
	lim.rlim_cur = 8;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_true(append_fixed(s, 5) < 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(disk_segments(&bytes), 0);
	assert_int_equal(stats(s).write_errors, 1);
	assert_int_equal(stats(s).pending_bytes, 0);
	assert_int_equal(append_fixed(s, 6), 0);
	next_fixed(s, 6);
	spool_close(s);
	signal(SIGXFSZ, SIG_DFL);
}

/* A smaller max_bytes than the last run: DROP_OLDEST evicts at open, DROP_NEWEST keeps all. */
static void test_shrunk_bound(void **state)
{
	struct spool_config cfg = config(256, 1 << 20, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	struct spool_recovery rec;
	struct spool *s;
	uint64_t bytes;

	(void)state;
	s = open_ok(&cfg, NULL);
	for (int i = 0; i < 12; i++)
		assert_int_equal(append_fixed(s, i), 0);
	spool_close(s);

	cfg.max_bytes = 600; /* 3 segments of 178 */
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 12);
	assert_int_equal(stats(s).pending_records, 12);
	assert_int_equal(append_fixed(s, 12), -ENOSPC);
	spool_close(s);

	cfg.full = SPOOL_DROP_OLDEST;
	s = open_ok(&cfg, &rec);
	assert_int_equal(rec.records, 12);
	assert_int_equal(stats(s).dropped_full, 6);
	assert_int_equal(disk_segments(&bytes), 3);
	assert_true(bytes <= 600);
	for (int i = 6; i < 12; i++)
		next_fixed(s, i);
	next_none(s);
	spool_close(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Informational: appends of 200-byte records (stream + key + value), no fsync. */
static void test_throughput(void **state)
{
	struct spool_config cfg = config(64 << 20, 1ull << 30, SPOOL_DROP_NEWEST, SPOOL_FSYNC_NONE);
	const char *env = getenv("TAPIO_SPOOL_BENCH_RECORDS");
	long n = env ? atol(env) : 1000000;
	char key[36], value[158];
	struct spool_entry e;
	struct spool *s;
	double t0, t1, t2;
	long got = 0;

	(void)state;
	memset(key, 'k', sizeof(key));
	memset(value, 'v', sizeof(value));
	s = open_ok(&cfg, NULL);
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		value[i % sizeof(value)]++;
		assert_int_equal(spool_append(s, "kernel", key, sizeof(key), value, sizeof(value), i), 0);
	}
	t1 = now_s();
	while (spool_next(s, &e) == 0) {
		assert_int_equal(e.timestamp_ms, got);
		spool_ack(s, e.pos);
		got++;
	}
	t2 = now_s();
	assert_int_equal(got, n);
	assert_true(spool_empty(s));
	print_message("spool: %ld appends of 200-byte records in %.2f s: %.0f records/s (%.0f MB/s on "
		      "disk); replay + ack %.0f records/s\n", n, t1 - t0, n / (t1 - t0),
		      n * (200.0 + REC_HDR) / (t1 - t0) / 1e6, n / (t2 - t1));
	spool_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_disk_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acked_segments_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_12019, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_between_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_middle_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_rewrite_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_after_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
