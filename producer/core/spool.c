/*
 * The disk spool (spool.h). On-disk format, every integer little-endian:
 *
 *   <dir>/<seq, 16 lowercase hex digits>.spool, seq increasing across restarts
 *     file header, 16 bytes
 *        0  4  magic "TSPL"
 *        4  2  format version (1)
 *        6  2  file header length (16)
 *        8  8  seq, the same as in the file name
 *     records, back to back; each is a 32-byte header and its payload:
 *        0  4  magic "TREC"
 *        4  4  total length, this header included
 *        8  4  CRC-32 (IEEE 802.3, the same as zlib's crc32()) of bytes 12 .. total length
 *       12  8  timestamp_ms (two's complement)
 *       20  4  key length
 *       24  4  value length
 *       28  2  stream length
 *       30  1  flags: bit 0 tombstone (the value is NULL, its length 0); other bits 0
 *       31  1  0
 *       32     stream, key, value
 *   <dir>/lock, held with flock() while the spool is open.
 *
 * In memory, per segment: its sequence number, valid length, record count, acknowledged count and,
 * once one of its records is acknowledged, a bitmap of SEG_RECORDS_MAX bits (8 KiB). A record's
 * position is seq << 16 | index, so positions are never reused. Appends are one writev() on an
 * O_APPEND descriptor; replay reads with pread() on its own descriptor, so the two interleave.
 *
 * No logging here (the caller logs what spool_open() and the stats say): the fuzz target links
 * this file alone, without log.c or zlib, which is also why the CRC-32 is computed here.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FILE_HDR 16u
#define REC_HDR 32u
#define FORMAT_VERSION 1u
#define FILE_MAGIC "TSPL"
#define REC_MAGIC "TREC"
#define FLAG_TOMBSTONE 0x01u

/* Caps the acked bitmap at 8 KiB per segment; the index fits the low 16 bits of a position. */
#define SEG_RECORDS_MAX 65536u
#define POS_SHIFT 16
#define SEQ_MAX (UINT64_MAX >> POS_SHIFT)
#define SEGMENT_BYTES_MIN 64u
#define SCAN_CHUNK (64u * 1024u)
#define NAME_MAX_LEN 40

struct segment {
	uint64_t seq;
	uint64_t bytes;      /* valid length of the file; replay never reads past it */
	uint32_t records;
	uint32_t acked;
	uint64_t *acked_bits; /* SEG_RECORDS_MAX bits, allocated at the first ack */
};

struct spool {
	struct spool_config cfg;
	char *dir;
	int dir_fd;
	int lock_fd;

	struct segment *segs; /* oldest first, seq ascending */
	size_t nsegs, segs_cap;
	uint64_t next_seq;

	int wr_fd;            /* the newest segment while it takes appends, else -1 */
	bool wr_dirty;        /* written since its last fsync */
	bool dir_dirty;       /* a segment was created since the directory's last fsync */
	int64_t last_sync_ms;

	int rd_fd;            /* replay's descriptor, for segment rd_seq */
	uint64_t rd_seq;
	uint64_t cur_seq;     /* replay cursor: next record to hand out */
	uint64_t cur_off;
	uint32_t cur_idx;
	uint8_t *rbuf;        /* the record handed out last, then its stream NUL-terminated */
	size_t rbuf_size;

	struct spool_stats st;
};

/* A decoded record header. */
struct rec {
	uint32_t total;
	uint32_t crc;
	int64_t timestamp_ms;
	uint32_t key_len;
	uint32_t value_len;
	uint16_t stream_len;
	bool tombstone;
};

/* CRC-32, reflected polynomial 0xEDB88320, one table lookup per byte. */
static uint32_t crc_table[256];

static void crc_init(void)
{
	if (crc_table[1])
		return;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* Continues a CRC: start with 0, feed the pieces in order. */
static uint32_t crc_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v & 0xffffffffu);
	put32(p + 4, v >> 32);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void fmt(char *buf, size_t size, const char *f, ...)
{
	va_list ap;

	if (!buf || !size)
		return;
	va_start(ap, f);
	vsnprintf(buf, size, f, ap);
	va_end(ap);
}

static void seg_name(char *buf, uint64_t seq, const char *suffix)
{
	snprintf(buf, NAME_MAX_LEN, "%016" PRIx64 ".spool%s", seq, suffix);
}

/* What a name in the spool directory is. */
enum seg_file {
	SEG_LIVE,       /* <16 hex>.spool */
	SEG_ASIDE,      /* <16 hex>.spool.corrupt or .unreadable: kept for a human, never read */
	SEG_TMP,        /* <16 hex>.spool.tmp: a rewrite a crash interrupted (the original stays) */
};

/* "<16 hex>.spool" and its variants: true with *seq and *kind set. */
static bool parse_name(const char *name, uint64_t *seq, enum seg_file *kind)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (strcmp(name + 16, ".spool") == 0)
		*kind = SEG_LIVE;
	else if (strcmp(name + 16, ".spool.corrupt") == 0 ||
		 strcmp(name + 16, ".spool.unreadable") == 0)
		*kind = SEG_ASIDE;
	else if (strcmp(name + 16, ".spool.tmp") == 0)
		*kind = SEG_TMP;
	else
		return false;
	*seq = v;
	return true;
}

/* Checks a record header against the `have` bytes left in the segment from its start: 0, -ENODATA
 * when the segment ends inside the record, -EBADMSG when the header is not one we wrote. */
static int rec_decode(const uint8_t *h, uint64_t have, struct rec *r, char *why, size_t why_size)
{
	uint64_t parts;
	uint8_t flags;

	if (have < REC_HDR) {
		fmt(why, why_size, "record header: need %u bytes, have %" PRIu64, REC_HDR, have);
		return -ENODATA;
	}
	if (memcmp(h, REC_MAGIC, 4) != 0) {
		fmt(why, why_size, "bad record magic %02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
		return -EBADMSG;
	}
	r->total = get32(h + 4);
	r->crc = get32(h + 8);
	r->timestamp_ms = (int64_t)get64(h + 12);
	r->key_len = get32(h + 20);
	r->value_len = get32(h + 24);
	r->stream_len = get16(h + 28);
	flags = h[30];
	r->tombstone = flags & FLAG_TOMBSTONE;
	if ((flags & ~FLAG_TOMBSTONE) || h[31]) {
		fmt(why, why_size, "unknown record flags %02x%02x", flags, h[31]);
		return -EBADMSG;
	}
	if (r->tombstone && r->value_len) {
		fmt(why, why_size, "tombstone with a %" PRIu32 "-byte value", r->value_len);
		return -EBADMSG;
	}
	parts = (uint64_t)REC_HDR + r->stream_len + r->key_len + r->value_len;
	if (parts != r->total) {
		fmt(why, why_size, "record length %" PRIu32 " != header + stream + key + value = %" PRIu64,
		    r->total, parts);
		return -EBADMSG;
	}
	if (r->total > have) {
		fmt(why, why_size, "record: need %" PRIu32 " bytes, have %" PRIu64, r->total, have);
		return -ENODATA;
	}
	return 0;
}

/* 0, -errno, or -ENODATA when the file ends first. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int do_sync(struct spool *s, int fd, bool data_only)
{
	s->st.fsyncs++;
	if ((data_only ? fdatasync(fd) : fsync(fd)) < 0)
		return -errno;
	return 0;
}

/* Makes the segment being written (and a newly created name) durable. */
static int sync_write_segment(struct spool *s)
{
	int err;

	if (s->wr_fd >= 0 && s->wr_dirty) {
		err = do_sync(s, s->wr_fd, true);
		if (err)
			return err;
		s->wr_dirty = false;
	}
	if (s->dir_dirty) {
		err = do_sync(s, s->dir_fd, false);
		if (err)
			return err;
		s->dir_dirty = false;
	}
	return 0;
}

/* First segment with seq >= `seq` (nsegs when none). */
static size_t seg_find(const struct spool *s, uint64_t seq)
{
	size_t lo = 0, hi = s->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->segs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool seg_is_acked(const struct segment *g, uint32_t idx)
{
	return g->acked_bits && (g->acked_bits[idx / 64] >> (idx % 64) & 1);
}

/* Forgets segment i and deletes its file, or keeps it as *.corrupt. */
static void seg_remove(struct spool *s, size_t i, bool keep_as_corrupt)
{
	struct segment *g = &s->segs[i];
	char name[NAME_MAX_LEN], corrupt[NAME_MAX_LEN];

	if (s->rd_fd >= 0 && s->rd_seq == g->seq) {
		close(s->rd_fd);
		s->rd_fd = -1;
	}
	if (i == s->nsegs - 1 && s->wr_fd >= 0) {
		close(s->wr_fd);
		s->wr_fd = -1;
		s->wr_dirty = false;
	}
	seg_name(name, g->seq, "");
	if (keep_as_corrupt) {
		seg_name(corrupt, g->seq, ".corrupt");
		if (renameat(s->dir_fd, name, s->dir_fd, corrupt) < 0)
			unlinkat(s->dir_fd, name, 0);
	} else {
		unlinkat(s->dir_fd, name, 0);
	}
	s->st.pending_records -= g->records - g->acked;
	s->st.pending_bytes -= g->bytes;
	free(g->acked_bits);
	memmove(g, g + 1, (s->nsegs - i - 1) * sizeof(*g));
	s->nsegs--;
}

/* Hands each unacknowledged record of segment g to the lost sink, before the segment goes. A
 * record that cannot be read is only counted (dropped_full): the sink learns what it can. */
static void report_evicted(struct spool *s, const struct segment *g)
{
	char name[NAME_MAX_LEN];
	uint8_t h[REC_HDR], *buf = NULL;
	uint64_t off = FILE_HDR;
	int fd;

	seg_name(name, g->seq, "");
	fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (uint32_t idx = 0; idx < g->records; idx++) {
		struct spool_entry e;
		struct rec r;
		uint8_t *b;

		if (pread_full(fd, h, REC_HDR, off) || rec_decode(h, g->bytes - off, &r, NULL, 0))
			break; /* the rest of the segment is unreadable */
		if (!seg_is_acked(g, idx)) {
			b = realloc(buf, (size_t)r.total + r.stream_len + 1);
			if (!b)
				break;
			buf = b;
			memcpy(buf, h, REC_HDR);
			if (!pread_full(fd, buf + REC_HDR, r.total - REC_HDR, off + REC_HDR) &&
			    crc_update(0, buf + 12, r.total - 12) == r.crc) {
				memcpy(buf + r.total, buf + REC_HDR, r.stream_len);
				buf[r.total + r.stream_len] = '\0';
				e = (struct spool_entry){
					.pos = g->seq << POS_SHIFT | idx,
					.stream = (const char *)buf + r.total,
					.key = buf + REC_HDR + r.stream_len,
					.key_len = r.key_len,
					.value = r.tombstone ? NULL :
						 buf + REC_HDR + r.stream_len + r.key_len,
					.value_len = r.value_len,
					.timestamp_ms = r.timestamp_ms,
				};
				s->cfg.lost->record(s->cfg.lost, &e);
			}
		}
		off += r.total;
	}
	free(buf);
	close(fd);
}

/* DROP_OLDEST: the oldest segment goes, its unacknowledged records counted as dropped (and told
 * to the lost sink, one by one). */
static void evict_oldest(struct spool *s)
{
	struct segment *g = &s->segs[0];

	s->st.dropped_full += g->records - g->acked;
	if (s->cfg.lost)
		report_evicted(s, g);
	seg_remove(s, 0, false);
}

/* Stops appending to the newest segment: later appends start a new one. */
static void close_write_segment(struct spool *s)
{
	if (s->wr_fd < 0)
		return;
	/* A failure here is counted; the data is still in the page cache and the file kept. */
	if (s->cfg.fsync != SPOOL_FSYNC_NONE && sync_write_segment(s) < 0)
		s->st.write_errors++;
	if (s->segs[s->nsegs - 1].records == 0) {
		seg_remove(s, s->nsegs - 1, false);
		return;
	}
	close(s->wr_fd);
	s->wr_fd = -1;
	s->wr_dirty = false;
}

static int segs_reserve(struct spool *s)
{
	struct segment *n;
	size_t cap;

	if (s->nsegs < s->segs_cap)
		return 0;
	cap = s->segs_cap ? s->segs_cap * 2 : 16;
	n = realloc(s->segs, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->segs = n;
	s->segs_cap = cap;
	return 0;
}

static int open_write_segment(struct spool *s)
{
	char name[NAME_MAX_LEN];
	uint8_t h[FILE_HDR];
	int fd = -1, err, tries;
	ssize_t n;

	err = segs_reserve(s);
	if (err)
		return err;
	/* O_EXCL: a stray file with our next name is left alone, the next name tried. */
	for (tries = 0; tries < 16; tries++) {
		if (s->next_seq > SEQ_MAX)
			return -EOVERFLOW;
		seg_name(name, s->next_seq, "");
		fd = openat(s->dir_fd, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
		s->next_seq++;
	}
	if (fd < 0)
		return -errno;
	memcpy(h, FILE_MAGIC, 4);
	put16(h + 4, FORMAT_VERSION);
	put16(h + 6, FILE_HDR);
	put64(h + 8, s->next_seq);
	do {
		n = write(fd, h, sizeof(h));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(h)) {
		err = n < 0 ? -errno : -EIO;
		close(fd);
		unlinkat(s->dir_fd, name, 0);
		return err;
	}
	s->segs[s->nsegs++] = (struct segment){ .seq = s->next_seq, .bytes = FILE_HDR };
	s->next_seq++;
	s->wr_fd = fd;
	s->wr_dirty = true;
	s->dir_dirty = true;
	s->st.pending_bytes += FILE_HDR;
	return 0;
}

/* Writes all of iov; 0 or -errno (-EIO when the kernel keeps returning 0). */
static int writev_full(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t n = writev(fd, iov, iovcnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		/* A short write (disk nearly full): carry on from where it stopped. */
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int spool_append(struct spool *s, const char *stream, const void *key, size_t key_len,
		 const void *value, size_t value_len, int64_t timestamp_ms)
{
	struct iovec iov[4];
	struct segment *g;
	uint8_t h[REC_HDR];
	uint64_t size, need;
	size_t stream_len;
	uint32_t crc;
	int err;

	if (!stream || (!key && key_len) || (!value && value_len))
		return -EINVAL;
	stream_len = strlen(stream);
	if (stream_len > UINT16_MAX || key_len > UINT32_MAX || value_len > UINT32_MAX)
		return -EMSGSIZE;
	size = (uint64_t)REC_HDR + stream_len + key_len + value_len;
	if (size > UINT32_MAX || size > s->cfg.segment_bytes - FILE_HDR)
		return -EMSGSIZE;

	if (s->wr_fd >= 0) {
		g = &s->segs[s->nsegs - 1];
		if (g->bytes + size > s->cfg.segment_bytes || g->records >= SEG_RECORDS_MAX)
			close_write_segment(s);
	}
	/* Never more than max_bytes on disk: a new segment's header counts too. Terminates because
	 * an empty spool takes any record that fits a segment, and segment_bytes <= max_bytes. */
	for (;;) {
		need = size + (s->wr_fd < 0 ? FILE_HDR : 0);
		if (s->st.pending_bytes + need <= s->cfg.max_bytes)
			break;
		if (s->cfg.full == SPOOL_DROP_NEWEST || s->nsegs == 0) {
			s->st.dropped_full++;
			return -ENOSPC;
		}
		/* The oldest may be the one being written: seg_remove() closes it first. */
		evict_oldest(s);
	}
	if (s->wr_fd < 0) {
		err = open_write_segment(s);
		if (err)
			goto out;
	}
	g = &s->segs[s->nsegs - 1];

	memcpy(h, REC_MAGIC, 4);
	put32(h + 4, (uint32_t)size);
	put64(h + 12, (uint64_t)timestamp_ms);
	put32(h + 20, (uint32_t)key_len);
	put32(h + 24, (uint32_t)value_len);
	put16(h + 28, (uint16_t)stream_len);
	h[30] = value ? 0 : FLAG_TOMBSTONE;
	h[31] = 0;
	crc = crc_update(0, h + 12, REC_HDR - 12);
	crc = crc_update(crc, stream, stream_len);
	crc = crc_update(crc, key, key_len);
	crc = crc_update(crc, value, value_len);
	put32(h + 8, crc);

	/* One writev on O_APPEND: no copy of the payload, and no other writer interleaves. */
	iov[0] = (struct iovec){ h, REC_HDR };
	iov[1] = (struct iovec){ (void *)stream, stream_len };
	iov[2] = (struct iovec){ (void *)key, key_len };
	iov[3] = (struct iovec){ (void *)value, value_len };
	err = writev_full(s->wr_fd, iov, 4);
	s->wr_dirty = true;
	if (!err && s->cfg.fsync == SPOOL_FSYNC_ALWAYS)
		err = sync_write_segment(s);
	if (err) {
		/* Leave no partial record behind; if even that fails, stop writing to this file
		 * (replay never reads past g->bytes, a restart sees a torn record). */
		if (ftruncate(s->wr_fd, (off_t)g->bytes) < 0)
			close_write_segment(s);
		goto out;
	}
	g->bytes += size;
	g->records++;
	s->st.appended++;
	s->st.pending_records++;
	s->st.pending_bytes += size;
out:
	if (err)
		s->st.write_errors++;
	return err;
}

/* Replay's descriptor for segment `seq`. */
static int rd_open(struct spool *s, uint64_t seq)
{
	char name[NAME_MAX_LEN];

	if (s->rd_fd >= 0 && s->rd_seq == seq)
		return 0;
	if (s->rd_fd >= 0)
		close(s->rd_fd);
	seg_name(name, seq, "");
	s->rd_fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (s->rd_fd < 0)
		return -errno;
	s->rd_seq = seq;
	return 0;
}

/* The segment changed under us (or the disk failed): hand out none of it, keep it for a look. */
static void replay_failed(struct spool *s, size_t i)
{
	struct segment *g = &s->segs[i];

	s->st.read_errors += g->records - g->acked;
	seg_remove(s, i, true);
}

int spool_next(struct spool *s, struct spool_entry *e)
{
	uint8_t h[REC_HDR];
	struct segment *g;
	struct rec r;
	size_t i, need;
	uint32_t crc;
	int err;

	for (;;) {
		i = seg_find(s, s->cur_seq);
		if (i == s->nsegs)
			return -ENOENT;
		g = &s->segs[i];
		if (g->seq != s->cur_seq) {
			/* After a rewind, or the cursor's segment was deleted. */
			s->cur_seq = g->seq;
			s->cur_off = FILE_HDR;
			s->cur_idx = 0;
		}
		if (s->cur_idx >= g->records) {
			/* Stay at the end of the newest: appends to it come next. */
			if (i + 1 == s->nsegs)
				return -ENOENT;
			s->cur_seq = s->segs[i + 1].seq;
			s->cur_off = FILE_HDR;
			s->cur_idx = 0;
			continue;
		}
		err = rd_open(s, g->seq);
		if (err == -ENOENT) {
			replay_failed(s, i); /* someone deleted the file */
			continue;
		}
		if (err)
			return err;
		err = pread_full(s->rd_fd, h, REC_HDR, s->cur_off);
		if (!err)
			err = rec_decode(h, g->bytes - s->cur_off, &r, NULL, 0);
		if (err) {
			replay_failed(s, i);
			continue;
		}
		if (seg_is_acked(g, s->cur_idx)) {
			s->cur_off += r.total;
			s->cur_idx++;
			continue;
		}

		/* The record, then its stream again with a NUL for e->stream. */
		need = (size_t)r.total + r.stream_len + 1;
		if (need > s->rbuf_size) {
			uint8_t *b = realloc(s->rbuf, need);

			if (!b)
				return -ENOMEM;
			s->rbuf = b;
			s->rbuf_size = need;
		}
		memcpy(s->rbuf, h, REC_HDR);
		err = pread_full(s->rd_fd, s->rbuf + REC_HDR, r.total - REC_HDR, s->cur_off + REC_HDR);
		crc = crc_update(0, s->rbuf + 12, r.total - 12);
		if (err || crc != r.crc) {
			replay_failed(s, i);
			continue;
		}
		memcpy(s->rbuf + r.total, s->rbuf + REC_HDR, r.stream_len);
		s->rbuf[r.total + r.stream_len] = '\0';

		e->pos = g->seq << POS_SHIFT | s->cur_idx;
		e->stream = (const char *)s->rbuf + r.total;
		e->key = s->rbuf + REC_HDR + r.stream_len;
		e->key_len = r.key_len;
		e->value = r.tombstone ? NULL : s->rbuf + REC_HDR + r.stream_len + r.key_len;
		e->value_len = r.value_len;
		e->timestamp_ms = r.timestamp_ms;
		s->cur_off += r.total;
		s->cur_idx++;
		return 0;
	}
}

void spool_ack(struct spool *s, uint64_t pos)
{
	uint64_t seq = pos >> POS_SHIFT;
	uint32_t idx = (uint32_t)(pos & (SEG_RECORDS_MAX - 1));
	struct segment *g;
	size_t i;

	i = seg_find(s, seq);
	if (i == s->nsegs || s->segs[i].seq != seq)
		return; /* deleted already: evicted, or a duplicate report */
	g = &s->segs[i];
	if (idx >= g->records || seg_is_acked(g, idx))
		return;
	if (!g->acked_bits) {
		g->acked_bits = calloc(SEG_RECORDS_MAX / 64, sizeof(uint64_t));
		if (!g->acked_bits)
			return; /* the record is replayed again: at-least-once holds */
	}
	g->acked_bits[idx / 64] |= (uint64_t)1 << (idx % 64);
	g->acked++;
	s->st.acked++;
	s->st.pending_records--;
	if (g->acked == g->records)
		seg_remove(s, i, false);
}

void spool_rewind(struct spool *s)
{
	s->cur_seq = 0;
	s->cur_off = FILE_HDR;
	s->cur_idx = 0;
}

bool spool_empty(const struct spool *s)
{
	return s->st.pending_records == 0;
}

void spool_tick(struct spool *s, int64_t now_ms)
{
	if (s->cfg.fsync != SPOOL_FSYNC_INTERVAL || (!s->wr_dirty && !s->dir_dirty))
		return;
	if (now_ms - s->last_sync_ms < s->cfg.fsync_interval_ms)
		return;
	s->last_sync_ms = now_ms;
	if (sync_write_segment(s) < 0)
		s->st.write_errors++;
}

void spool_get_stats(const struct spool *s, struct spool_stats *out)
{
	*out = s->st;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	if (s->wr_fd >= 0)
		close_write_segment(s);
	if (s->rd_fd >= 0)
		close(s->rd_fd);
	for (size_t i = 0; i < s->nsegs; i++)
		free(s->segs[i].acked_bits);
	free(s->segs);
	free(s->rbuf);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->dir);
	free(s);
}

/* mkdir -p, new directories mode 0700. */
static int mkdir_parents(const char *path)
{
	char *p = strdup(path);
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			err = -errno;
			goto out;
		}
		*c = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		err = -errno;
out:
	free(p);
	return err;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sequence numbers of the segment files, ascending; next_seq set past every name seen. */
static int list_segments(struct spool *s, uint64_t **out, size_t *count, char *errstr,
			 size_t errstr_size)
{
	uint64_t *seqs = NULL, *n, seq;
	size_t len = 0, cap = 0;
	struct dirent *d;
	enum seg_file kind;
	DIR *dir = NULL;
	int fd, err = 0;

	fd = dup(s->dir_fd);
	if (fd >= 0)
		dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		fmt(errstr, errstr_size, "cannot list spool directory %s: %s", s->dir, strerror(-err));
		goto out;
	}
	rewinddir(dir);
	errno = 0;
	while ((d = readdir(dir))) {
		/* Names past SEQ_MAX are not ours (positions could not hold them): left alone. */
		if (!parse_name(d->d_name, &seq, &kind) || seq > SEQ_MAX)
			continue;
		if (seq >= s->next_seq)
			s->next_seq = seq + 1;
		if (kind == SEG_TMP)
			unlinkat(s->dir_fd, d->d_name, 0); /* its original is still there */
		if (kind != SEG_LIVE)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			n = realloc(seqs, cap * sizeof(*seqs));
			if (!n) {
				err = -ENOMEM;
				fmt(errstr, errstr_size, "spool %s: out of memory", s->dir);
				goto out;
			}
			seqs = n;
		}
		seqs[len++] = seq;
	}
	if (len)
		qsort(seqs, len, sizeof(*seqs), cmp_seq);
out:
	if (dir)
		closedir(dir);
	if (err) {
		free(seqs);
		seqs = NULL;
		len = 0;
	}
	*out = seqs;
	*count = len;
	return err;
}

/* The first problem goes to rec->detail; the count says how many there were. */
static void note(struct spool_recovery *rec, const char *f, ...) __attribute__((format(printf, 2, 3)));

static void note(struct spool_recovery *rec, const char *f, ...)
{
	va_list ap;

	if (rec->detail[0])
		return;
	va_start(ap, f);
	vsnprintf(rec->detail, sizeof(rec->detail), f, ap);
	va_end(ap);
}

/* What check_record() found at an offset. */
enum rec_state {
	REC_INTACT,     /* header decodes, CRC matches */
	REC_BAD_CRC,    /* header decodes, the record fails its CRC: its bounds are still known */
	REC_CUT_SHORT,  /* the file ends inside it (a crash mid-append, or a bad length field) */
	REC_BAD_HEADER, /* not a header we wrote: where the next record starts is unknown */
};

/* Reads and checks the record at `off` of a `size`-byte file: 0 with *state (and *r when the
 * header decodes), or -errno when the file cannot be read. `chunk` holds SCAN_CHUNK bytes. */
static int check_record(int fd, uint64_t off, uint64_t size, uint8_t *chunk, struct rec *r,
			enum rec_state *state, char *why, size_t why_size)
{
	uint8_t h[REC_HDR];
	uint64_t have = size - off, p, end;
	uint32_t crc;
	int err;

	err = pread_full(fd, h, have < REC_HDR ? have : REC_HDR, off);
	if (err)
		return err;
	err = rec_decode(h, have, r, why, why_size);
	if (err) {
		*state = err == -ENODATA ? REC_CUT_SHORT : REC_BAD_HEADER;
		return 0;
	}
	crc = crc_update(0, h + 12, REC_HDR - 12);
	end = off + r->total;
	for (p = off + REC_HDR; p < end;) {
		size_t n = end - p < SCAN_CHUNK ? end - p : SCAN_CHUNK;

		err = pread_full(fd, chunk, n, p);
		if (err)
			return err;
		crc = crc_update(crc, chunk, n);
		p += n;
	}
	if (crc != r->crc) {
		fmt(why, why_size, "CRC %08" PRIx32 ", stored %08" PRIx32, crc, r->crc);
		*state = REC_BAD_CRC;
		return 0;
	}
	*state = REC_INTACT;
	return 0;
}

/* The first intact record after `from`: the record magic, then a header that decodes and a CRC
 * that matches (a payload holding "TREC" is not taken for a record). 0 with *found, -ENOENT when
 * none is left, or -errno. `scan` and `chunk` hold SCAN_CHUNK bytes each. */
static int find_intact(int fd, uint64_t from, uint64_t size, uint8_t *scan, uint8_t *chunk,
		       uint64_t *found)
{
	enum rec_state state;
	struct rec r;
	uint64_t p = from;
	int err;

	while (size - p >= REC_HDR && p < size) {
		size_t n = size - p < SCAN_CHUNK ? size - p : SCAN_CHUNK;
		const uint8_t *hit, *at = scan;

		err = pread_full(fd, scan, n, p);
		if (err)
			return err;
		while ((hit = memmem(at, n - (size_t)(at - scan), REC_MAGIC, 4))) {
			uint64_t q = p + (uint64_t)(hit - scan);

			err = check_record(fd, q, size, chunk, &r, &state, NULL, 0);
			if (err)
				return err;
			if (state == REC_INTACT) {
				*found = q;
				return 0;
			}
			at = hit + 1;
		}
		if (n < SCAN_CHUNK)
			break;
		p += n - 3; /* a magic across the chunk boundary is found in the next one */
	}
	return -ENOENT;
}

/* Stretches of intact records in a segment: [start, end) offsets, and how many records. */
struct run {
	uint64_t start, end;
	uint32_t records;
};

/* Adds one record at [start, end). */
static int runs_add(struct run **runs, size_t *n, size_t *cap, uint64_t start, uint64_t end)
{
	struct run *grown;

	if (*n && (*runs)[*n - 1].end == start) {
		(*runs)[*n - 1].end = end;
		(*runs)[*n - 1].records++;
		return 0;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		grown = realloc(*runs, *cap * sizeof(**runs));
		if (!grown)
			return -ENOMEM;
		*runs = grown;
	}
	(*runs)[(*n)++] = (struct run){ start, end, 1 };
	return 0;
}

/* Writes the file header and the runs to <seq>.spool.tmp and renames it over the segment, so a
 * crash leaves either file whole. 0 or -errno (the temporary file is gone then). */
static int rewrite_segment(struct spool *s, int fd, uint64_t seq, const struct run *runs,
			   size_t nruns, uint8_t *chunk)
{
	char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
	int out, err = 0;

	seg_name(name, seq, "");
	seg_name(tmp, seq, ".tmp");
	out = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	for (size_t i = 0; i <= nruns && !err; i++) {
		uint64_t p = i ? runs[i - 1].start : 0, end = i ? runs[i - 1].end : FILE_HDR;

		while (p < end && !err) {
			size_t n = end - p < SCAN_CHUNK ? end - p : SCAN_CHUNK;
			struct iovec iov = { chunk, n };

			err = pread_full(fd, chunk, n, p);
			if (!err)
				err = writev_full(out, &iov, 1);
			p += n;
		}
	}
	if (!err)
		err = do_sync(s, out, true);
	if (close(out) < 0 && !err)
		err = -errno;
	if (!err && renameat(s->dir_fd, tmp, s->dir_fd, name) < 0)
		err = -errno;
	if (err) {
		unlinkat(s->dir_fd, tmp, 0);
		return err;
	}
	/* The rename itself, durable now: recovery runs once, not under an fsync policy. */
	do_sync(s, s->dir_fd, false);
	return 0;
}

/* A segment that cannot be opened or read (permissions, EIO) is renamed <name>.unreadable,
 * counted, and left for a human; when even the rename fails it is only skipped, and the next
 * start tries it again. Never a reason not to start. */
static void set_aside_unreadable(struct spool *s, const char *name, uint64_t seq, uint64_t size,
				 int err, struct spool_recovery *rec)
{
	char aside[NAME_MAX_LEN];

	seg_name(aside, seq, ".unreadable");
	if (renameat(s->dir_fd, name, s->dir_fd, aside) == 0)
		note(rec, "%s/%s: %s; renamed to %s", s->dir, name, strerror(-err), aside);
	else
		note(rec, "%s/%s: %s; skipped", s->dir, name, strerror(-err));
	rec->unreadable_segments++;
	rec->unreadable_bytes += size;
}

/* Validates one segment. A bad record is skipped and reading resumes at the next intact one:
 * exactly one record when its header still gives its length (a CRC failure), else the bytes up
 * to the next record magic whose header and CRC check. What was skipped is counted in `rec`; the
 * segment is rewritten without it (or cut, when only its tail was bad), so the next start finds
 * nothing to count again. Fails only when out of memory. */
static int scan_segment(struct spool *s, uint64_t seq, uint8_t *scan, uint8_t *chunk,
			struct spool_recovery *rec, char *errstr, size_t errstr_size)
{
	char name[NAME_MAX_LEN], corrupt[NAME_MAX_LEN], why[160];
	uint8_t h[FILE_HDR];
	uint64_t size = 0, off = FILE_HDR, kept;
	uint32_t records = 0, bad_records = 0;
	struct run *runs = NULL;
	size_t nruns = 0, cap = 0;
	enum rec_state state;
	struct stat st;
	struct rec r;
	int fd = -1, err = 0;

	seg_name(name, seq, "");
	if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		goto out; /* gone, or not a file we would have made: not ours to touch */
	size = (uint64_t)st.st_size;
	fd = openat(s->dir_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		set_aside_unreadable(s, name, seq, size, -errno, rec);
		goto out;
	}
	if (size < FILE_HDR) {
		/* Created just before a crash: too short to hold a record, nothing lost. */
		if (size)
			note(rec, "%s/%s: file header: need %u bytes, have %" PRIu64 "; removed", s->dir,
			     name, FILE_HDR, size);
		unlinkat(s->dir_fd, name, 0);
		goto out;
	}
	err = pread_full(fd, h, FILE_HDR, 0);
	if (err)
		goto unreadable;
	if (memcmp(h, FILE_MAGIC, 4) != 0 || get16(h + 4) != FORMAT_VERSION ||
	    get16(h + 6) != FILE_HDR || get64(h + 8) != seq) {
		/* Not a segment we can read (another version, a bad disk): keep it for a human. */
		seg_name(corrupt, seq, ".corrupt");
		note(rec, "%s/%s: bad file header (magic %02x%02x%02x%02x, version %u, seq %016" PRIx64
		     "); renamed to %s", s->dir, name, h[0], h[1], h[2], h[3], get16(h + 4),
		     get64(h + 8), corrupt);
		/* If even that fails it is only skipped: the next start looks again. */
		renameat(s->dir_fd, name, s->dir_fd, corrupt);
		rec->corrupt_segments++;
		goto out;
	}

	while (off < size) {
		uint64_t next;

		if (records == SEG_RECORDS_MAX) {
			/* Not something we write: the rest is not ours to replay. */
			note(rec, "%s/%s: more than %u records; skipped %" PRIu64 " bytes", s->dir,
			     name, SEG_RECORDS_MAX, size - off);
			rec->skipped_regions++;
			rec->skipped_bytes += size - off;
			break;
		}
		err = check_record(fd, off, size, chunk, &r, &state, why, sizeof(why));
		if (err)
			goto unreadable;
		if (state == REC_INTACT) {
			if (runs_add(&runs, &nruns, &cap, off, off + r.total))
				goto nomem;
			off += r.total;
			records++;
			continue;
		}
		/* A CRC failure whose length leads to an intact record (or the end) is one record. */
		if (state == REC_BAD_CRC) {
			enum rec_state after = REC_INTACT;
			struct rec rn;

			if (off + r.total < size) {
				err = check_record(fd, off + r.total, size, chunk, &rn, &after, NULL, 0);
				if (err)
					goto unreadable;
			}
			if (after == REC_INTACT) {
				note(rec, "%s/%s: record %" PRIu32 " at offset %" PRIu64 ": %s; skipped "
				     "that record (%" PRIu32 " bytes)", s->dir, name, records + bad_records,
				     off, why, r.total);
				rec->torn++;
				rec->torn_bytes += r.total;
				bad_records++;
				off += r.total;
				continue;
			}
		}
		err = find_intact(fd, off + 1, size, scan, chunk, &next);
		if (err && err != -ENOENT)
			goto unreadable;
		if (!err) {
			note(rec, "%s/%s: record %" PRIu32 " at offset %" PRIu64 ": %s; skipped %" PRIu64
			     " bytes to the next intact record", s->dir, name, records + bad_records, off,
			     why, next - off);
			rec->skipped_regions++;
			rec->skipped_bytes += next - off;
			off = next;
			continue;
		}
		/* Nothing intact after it. A record the file ends inside, or failing its CRC, is
		 * the one a crash cut short; anything else is bytes we cannot count in records. */
		note(rec, "%s/%s: record %" PRIu32 " at offset %" PRIu64 ": %s; cut %" PRIu64 " bytes",
		     s->dir, name, records + bad_records, off, why, size - off);
		if (state == REC_BAD_HEADER) {
			rec->skipped_regions++;
			rec->skipped_bytes += size - off;
		} else {
			rec->torn++;
			rec->torn_bytes += size - off;
		}
		break;
	}
	err = 0;

	if (records == 0) {
		unlinkat(s->dir_fd, name, 0);
		goto out;
	}
	kept = FILE_HDR;
	for (size_t i = 0; i < nruns; i++)
		kept += runs[i].end - runs[i].start;
	if (nruns > 1 || runs[0].start != FILE_HDR) {
		err = rewrite_segment(s, fd, seq, runs, nruns, chunk);
		if (err) {
			/* No room or no disk for a copy: keep the first run when the segment starts
			 * with it (else set the whole file aside), and count the rest as lost. */
			size_t first = runs[0].start == FILE_HDR ? 1 : 0;

			note(rec, "%s/%s: cannot rewrite it without the bad records (%s); %s", s->dir,
			     name, strerror(-err), first ? "cut it after the first of them" :
			     "renamed to .corrupt");
			for (size_t i = first; i < nruns; i++) {
				rec->torn += runs[i].records;
				rec->torn_bytes += runs[i].end - runs[i].start;
			}
			err = 0;
			if (!first) {
				seg_name(corrupt, seq, ".corrupt");
				renameat(s->dir_fd, name, s->dir_fd, corrupt);
				rec->corrupt_segments++;
				goto out;
			}
			kept = runs[0].end;
			records = runs[0].records;
			nruns = 1;
		}
	}
	if (nruns == 1 && runs[0].start == FILE_HDR && kept < size &&
	    ftruncate(fd, (off_t)kept) < 0) {
		/* Replay never reads past `kept`; the next start finds the same and cuts again. */
		note(rec, "%s/%s: cannot cut it at offset %" PRIu64 ": %s", s->dir, name, kept,
		     strerror(errno));
	}
	err = segs_reserve(s);
	if (err)
		goto nomem;
	s->segs[s->nsegs++] = (struct segment){ .seq = seq, .bytes = kept, .records = records };
	s->st.pending_records += records;
	s->st.pending_bytes += kept;
	rec->records += records;
	rec->bytes += kept;
	rec->segments++;
	goto out;

unreadable:
	/* Unreadable is not corrupt: cutting would lose what a retry might read. */
	set_aside_unreadable(s, name, seq, size, err == -ENODATA ? -EIO : err, rec);
	err = 0;
	goto out;
nomem:
	err = -ENOMEM;
	fmt(errstr, errstr_size, "spool %s: out of memory", s->dir);
out:
	free(runs);
	if (fd >= 0)
		close(fd);
	return err;
}

int spool_open(struct spool **out, const struct spool_config *cfg, struct spool_recovery *recovered,
	       char *errstr, size_t errstr_size)
{
	struct spool_recovery rec;
	struct spool *s = NULL;
	uint64_t *seqs = NULL;
	uint8_t *buf = NULL;
	size_t nseqs = 0;
	int err = 0;

	*out = NULL;
	memset(&rec, 0, sizeof(rec));
	crc_init();
	if (!cfg->dir || !cfg->dir[0]) {
		err = -EINVAL;
		fmt(errstr, errstr_size, "spool: no directory configured");
		goto out;
	}
	if (cfg->segment_bytes < SEGMENT_BYTES_MIN || cfg->max_bytes < cfg->segment_bytes) {
		err = -EINVAL;
		fmt(errstr, errstr_size,
		    "spool %s: need %u <= segment_bytes (%" PRIu64 ") <= max_bytes (%" PRIu64 ")",
		    cfg->dir, SEGMENT_BYTES_MIN, cfg->segment_bytes, cfg->max_bytes);
		goto out;
	}
	if ((cfg->full != SPOOL_DROP_NEWEST && cfg->full != SPOOL_DROP_OLDEST) ||
	    cfg->fsync < SPOOL_FSYNC_NONE || cfg->fsync > SPOOL_FSYNC_ALWAYS ||
	    (cfg->fsync == SPOOL_FSYNC_INTERVAL && cfg->fsync_interval_ms <= 0)) {
		err = -EINVAL;
		fmt(errstr, errstr_size, "spool %s: bad full policy, fsync policy or fsync interval",
		    cfg->dir);
		goto out;
	}

	s = calloc(1, sizeof(*s));
	if (s) {
		s->dir_fd = s->lock_fd = s->wr_fd = s->rd_fd = -1;
		s->dir = strdup(cfg->dir);
	}
	if (!s || !s->dir) {
		err = -ENOMEM;
		fmt(errstr, errstr_size, "spool %s: out of memory", cfg->dir);
		goto out;
	}
	s->cfg = *cfg;
	s->cfg.dir = s->dir;
	s->next_seq = 1;
	spool_rewind(s);

	err = mkdir_parents(s->dir);
	if (err) {
		fmt(errstr, errstr_size, "cannot create spool directory %s: %s", s->dir, strerror(-err));
		goto out;
	}
	s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0) {
		err = -errno;
		fmt(errstr, errstr_size, "cannot open spool directory %s: %s", s->dir, strerror(-err));
		goto out;
	}
	/* Checked now, not at the first append during an outage; the lock file doubles as a probe. */
	s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0 || faccessat(s->dir_fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		err = -errno;
		fmt(errstr, errstr_size, "spool directory %s is not writable: %s", s->dir,
		    strerror(-err));
		goto out;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		fmt(errstr, errstr_size, "spool directory %s is in use by another process (%s/lock)",
		    s->dir, s->dir);
		goto out;
	}

	err = list_segments(s, &seqs, &nseqs, errstr, errstr_size);
	if (err)
		goto out;
	buf = malloc(2 * SCAN_CHUNK);
	if (!buf) {
		err = -ENOMEM;
		fmt(errstr, errstr_size, "spool %s: out of memory", s->dir);
		goto out;
	}
	for (size_t i = 0; i < nseqs; i++) {
		err = scan_segment(s, seqs[i], buf, buf + SCAN_CHUNK, &rec, errstr, errstr_size);
		if (err)
			goto out;
	}
	/* A smaller max_bytes than last time: keep the bound now, by the policy. */
	while (s->cfg.full == SPOOL_DROP_OLDEST && s->st.pending_bytes > s->cfg.max_bytes && s->nsegs)
		evict_oldest(s);
out:
	free(seqs);
	free(buf);
	if (err) {
		spool_close(s);
		return err;
	}
	if (recovered)
		*recovered = rec;
	*out = s;
	return 0;
}
