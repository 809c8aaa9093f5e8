#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "tapio-checkpoint 1"
#define HEADER_MAX 4096 /* every line but the state's bytes */

static int fail(char *why, size_t why_size, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return err;
}

/* One token: printable ASCII without blanks, so the file reads back line by line. */
static bool token_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 1024)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static int id_check(const struct checkpoint_id *id, char *why, size_t why_size)
{
	if (!id->dir || id->dir[0] != '/')
		return fail(why, why_size, -EINVAL, "state_dir must be an absolute path");
	if (!token_ok(id->collector) || !token_ok(id->source) || !token_ok(id->node) ||
	    !token_ok(id->scope))
		return fail(why, why_size, -EINVAL, "checkpoint name or scope is not one token");
	return 0;
}

static void file_path(const struct checkpoint_id *id, char *out, size_t size, const char *suffix)
{
	snprintf(out, size, "%s/%s.%s.checkpoint%s", id->dir, id->collector, id->source, suffix);
}

/* Reads the whole file, at most `max` bytes (more is an error). */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	/* O_NONBLOCK: opening a FIFO with no writer would wait forever. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), err = 0;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* The next header line "<key> <value>" at *p; advances past it. Value NUL-terminated in place. */
static bool next_line(char **p, const char *end, const char *key, char **value)
{
	char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t klen = strlen(key);

	if (!nl || (size_t)(nl - *p) <= klen || strncmp(*p, key, klen) || (*p)[klen] != ' ')
		return false;
	*nl = '\0';
	*value = *p + klen + 1;
	*p = nl + 1;
	return true;
}

static int expect(const char *what, const char *got, const char *want, char *why, size_t why_size)
{
	if (strcmp(got, want) == 0)
		return 0;
	return fail(why, why_size, -EINVAL, "it is for %s %s, not %s", what, got, want);
}

int checkpoint_load(const struct checkpoint_id *id, char *position, size_t position_size,
		    char **state, size_t *state_len, char *why, size_t why_size)
{
	char path[PATH_MAX], *buf = NULL, *p, *end, *v, *collector, *source, *node, *scope, *pos;
	char *state_text, *crc_text, *stop;
	unsigned long long state_bytes;
	unsigned long crc;
	size_t len = 0;
	int err = id_check(id, why, why_size);

	if (state)
		*state = NULL;
	if (state_len)
		*state_len = 0;
	if (err)
		return err;
	file_path(id, path, sizeof(path), "");
	err = read_file(path, HEADER_MAX + CHECKPOINT_STATE_MAX, &buf, &len);
	if (err == -ENOENT)
		return err;
	if (err == -EFBIG || err == -EINVAL) {
		err = fail(why, why_size, -EINVAL, "%s: not a checkpoint file (%s)", path,
			   err == -EFBIG ? "too large" : "not a regular file");
		goto out;
	}
	if (err) {
		fail(why, why_size, err, "%s: %s", path, strerror(-err));
		goto out;
	}
	p = buf;
	end = buf + len;
	err = -EINVAL;
	/* The CRC covers the seven lines before its own: find where they end before parsing
	 * (which cuts lines in place). */
	v = buf;
	for (int lines = 0; lines < 7 && v; lines++)
		v = (v = memchr(v, '\n', (size_t)(end - v))) ? v + 1 : NULL;
	if (!v || len < sizeof(MAGIC) || memcmp(p, MAGIC "\n", sizeof(MAGIC))) {
		fail(why, why_size, err, "%s: not a checkpoint file", path);
		goto out;
	}
	crc = crc32(0, (const Bytef *)buf, (uInt)(v - buf));
	p += sizeof(MAGIC);
	if (!next_line(&p, end, "collector", &collector) || !next_line(&p, end, "source", &source) ||
	    !next_line(&p, end, "node", &node) || !next_line(&p, end, "scope", &scope) ||
	    !next_line(&p, end, "position", &pos) || !next_line(&p, end, "state", &state_text) ||
	    p != v || !next_line(&p, end, "crc32", &crc_text)) {
		fail(why, why_size, err, "%s: corrupt header", path);
		goto out;
	}
	errno = 0;
	state_bytes = strtoull(state_text, &stop, 10);
	if (errno || *stop || state_text[0] < '0' || state_text[0] > '9' ||
	    state_bytes != (unsigned long long)(end - p)) {
		fail(why, why_size, err, "%s: state length %s, %zu bytes follow", path, state_text,
		     (size_t)(end - p));
		goto out;
	}
	crc = crc32(crc, (const Bytef *)p, (uInt)state_bytes);
	if (strlen(crc_text) != 8 || strspn(crc_text, "0123456789abcdef") != 8 ||
	    strtoul(crc_text, &stop, 16) != crc) {
		fail(why, why_size, err, "%s: CRC mismatch", path);
		goto out;
	}
	if ((err = expect("collector", collector, id->collector, why, why_size)) ||
	    (err = expect("source", source, id->source, why, why_size)) ||
	    (err = expect("node", node, id->node, why, why_size)) ||
	    (err = expect("scope", scope, id->scope, why, why_size)))
		goto out;
	if (!token_ok(pos) || strlen(pos) >= position_size) {
		err = fail(why, why_size, -EINVAL, "%s: bad position", path);
		goto out;
	}
	strcpy(position, pos);
	if (state && state_bytes) {
		*state = malloc((size_t)state_bytes);
		if (!*state) {
			err = fail(why, why_size, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(*state, p, (size_t)state_bytes);
		*state_len = (size_t)state_bytes;
	}
	err = 0;
out:
	free(buf);
	return err;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int checkpoint_store(const struct checkpoint_id *id, const char *position, const void *state,
		     size_t state_len, char *why, size_t why_size)
{
	char path[PATH_MAX], tmp[PATH_MAX], header[HEADER_MAX], crc_line[32];
	int err = id_check(id, why, why_size), fd = -1, dirfd = -1, n;
	unsigned long crc;

	if (err)
		return err;
	if (!token_ok(position) || state_len > CHECKPOINT_STATE_MAX)
		return fail(why, why_size, -EINVAL, "bad position or state too large");
	if (mkdir(id->dir, 0700) < 0 && errno != EEXIST)
		return fail(why, why_size, -errno, "mkdir %s: %s", id->dir, strerror(errno));
	n = snprintf(header, sizeof(header),
		     MAGIC "\ncollector %s\nsource %s\nnode %s\nscope %s\nposition %s\nstate %zu\n",
		     id->collector, id->source, id->node, id->scope, position, state_len);
	if (n < 0 || (size_t)n >= sizeof(header))
		return fail(why, why_size, -EINVAL, "checkpoint header too long");
	crc = crc32(0, (const Bytef *)header, (uInt)n);
	if (state_len) /* crc32() of a NULL buffer returns the initial value, not crc */
		crc = crc32(crc, (const Bytef *)state, (uInt)state_len);
	snprintf(crc_line, sizeof(crc_line), "crc32 %08lx\n", crc);
	file_path(id, path, sizeof(path), "");
	file_path(id, tmp, sizeof(tmp), ".tmp");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(why, why_size, -errno, "%s: %s", tmp, strerror(errno));
	err = write_all(fd, header, (size_t)n);
	if (!err)
		err = write_all(fd, crc_line, strlen(crc_line));
	if (!err && state_len)
		err = write_all(fd, state, state_len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return fail(why, why_size, err, "%s: %s", path, strerror(-err));
	}
	/* The rename itself is durable once the directory is. */
	dirfd = open(id->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0) {
		if (fsync(dirfd) < 0)
			err = fail(why, why_size, -errno, "fsync %s: %s", id->dir, strerror(errno));
		close(dirfd);
	}
	return err;
}
