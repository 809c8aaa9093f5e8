/*
 * pipebench: the measuring driver of `make bench`. It links the producer's own library, so every
 * figure goes through the real code: the kernel collector's decode and encode, the identity
 * cache, pipeline_record() as the ring-buffer callback, publisher_send() into librdkafka.
 *
 *   pipebench encode [--iters N] [--reps R] [--only ours|avroc|avroc_reuse]
 *                    [--kind exec|exit]
 *       our encode path (pipeline_begin: identity, framing, avro_put_envelope; then
 *       kernel_encode, into the pipeline's one reusable buffer) against avro-c's
 *       generic value API on the same records; checks the bytes are identical.
 *   pipebench pipeline --brokers B [--count N] [--batch N] [--rate R] [--seconds S] [--latency]
 *                      [--wakeup threshold|per-record] [--wakeup-bytes N] [--poll-ms T] [--ring-mb N]
 *                      [--set K=V]...
 *       bench.bpf.c writes kernel_exec records into the kernel collector's own ring buffer
 *       (BPF_PROG_TEST_RUN, bpf_map__reuse_fd) from one thread; the main thread runs the
 *       producer's event loop (epoll on the ring and on librdkafka's wake pipe) until every record
 *       has its delivery report. --rate 0 (default) = as fast as the ring buffer takes them (a
 *       full ring makes the source wait: back-pressure, not loss); --rate R = open loop, a full
 *       ring is counted as loss, as in the kernel.
 *   pipebench feed --pid P --rate R --seconds S [--batch N]
 *       the same source, into the ring buffer of a running tapio-producer (found through
 *       /proc/P/fdinfo), for the resource and syscall figures of the real binary.
 *   pipebench kcat-input --out FILE --count N
 *       N messages encoded exactly as the pipeline encodes them, for `kcat -P`.
 *   pipebench hotpath --brokers B --count N [--set K=V]...
 *       pipeline_record() called directly (no BPF), for callgrind, strace and allocation counts.
 *
 * Output: "name=value" lines on stdout, read by tests/bench/run.sh.
 */
#include <avro.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "kernel.h" /* before the skeleton: its .bss holds a struct kernel_exec */
#include "bench.skel.h"
#include "pipeline.h"
#include "schema.h"

#include "bench.h"

#include "kernel_collector.h"

/* A record kernel_check() accepted. */
struct decoded {
	const struct tapio_hdr *hdr;
	int kind;
};

static int decode(const void *rec, size_t size, struct decoded *d)
{
	d->hdr = rec;
	return kernel_check(rec, size, &d->kind);
}

/* alloc_count.c, linked only into pipebench-counting: malloc/free calls of the calling thread. */
void alloc_count_start(void) __attribute__((weak));
void alloc_count_stop(uint64_t *mallocs, uint64_t *frees) __attribute__((weak));

#define BENCH_PID_BASE 4000000
#define BENCH_NODE "bench"

static const char *const known_collectors[] = { "kernel", NULL };

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static int64_t rusage_us(const struct rusage *ru)
{
	return (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000 + ru->ru_utime.tv_usec +
	       ru->ru_stime.tv_usec;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "pipebench: %s: %s\n", what, why);
	exit(1);
}

/* ---- records ---------------------------------------------------------------------------- */

/* A typical exec: a health check with a few arguments. Valid UTF-8, so both encoders agree. */
static void make_exec(struct kernel_exec *e, uint64_t cgroup_id)
{
	static const char args[] = "healthcheck\0--port\0" "8080\0--timeout=5s\0--path=/healthz";

	memset(e, 0, sizeof(*e));
	e->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_EXEC, KERNEL_EXEC_VERSION,
				     KERNEL_EXEC_FIXED_SIZE + sizeof(args), 123456789000, cgroup_id };
	e->pid = BENCH_PID_BASE;
	e->ppid = 1234;
	e->uid = e->gid = 65534;
	strcpy(e->comm, "healthcheck");
	strcpy(e->filename, "/usr/local/bin/healthcheck");
	memcpy(e->args, args, sizeof(args));
	e->args_len = sizeof(args);
}

static void make_exit(struct kernel_exit *x, uint64_t cgroup_id)
{
	memset(x, 0, sizeof(*x));
	x->hdr = (struct tapio_hdr){ TAPIO_REC_KERNEL_EXIT, KERNEL_EXIT_VERSION, sizeof(*x),
				     123456789000, cgroup_id };
	x->pid = BENCH_PID_BASE;
	x->ppid = 1234;
	x->exit_status = 3 << 8;
	x->lifetime_ns = 1500000000;
	strcpy(x->comm, "healthcheck");
}

/* The cgroup v2 id of this process (the inode of its cgroup directory), else the root's. */
static uint64_t own_cgroup_id(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char line[4096], path[8192];
	FILE *f = fopen("/proc/self/cgroup", "re");
	struct stat st;

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (size_t i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s%s", roots[i], line + 3);
			if (stat(path, &st) == 0) {
				fclose(f);
				return st.st_ino;
			}
		}
	}
	if (f)
		fclose(f);
	for (size_t i = 0; i < 2; i++)
		if (stat(roots[i], &st) == 0)
			return st.st_ino;
	return 1;
}

struct opts {
	const char *brokers;
	uint64_t count;
	uint32_t batch;
	double rate;
	double seconds;
	int latency;
	const char *wakeup;
	uint64_t wakeup_bytes;
	int poll_ms;
	const char *sets[32];
	int nsets;
	int pid;
	const char *out;
	uint64_t ring_mb;
};

/* ---- encode ----------------------------------------------------------------------------- */

/* A cgroup tree shaped like the kubelet's (systemd driver) in a temporary directory. The
 * identity cache walks it, so the bench records carry a pod UID and a container id. */
#define BENCH_POD_UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define BENCH_CONTAINER "abababababababababababababababababababababababababababababababab"

struct fake_cgroups {
	char root[64];
	char leaf[512];
	uint64_t leaf_id;
};

static void fake_cgroups_remove(struct fake_cgroups *f);
static struct fake_cgroups *fake_cgroups_made;

static void fake_cgroups_at_exit(void)
{
	if (fake_cgroups_made)
		fake_cgroups_remove(fake_cgroups_made);
}

static void fake_cgroups_make(struct fake_cgroups *f)
{
	static const char *const parts[] = {
		"/kubepods.slice", "/kubepods-burstable.slice",
		"/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice",
		"/cri-containerd-" BENCH_CONTAINER ".scope",
	};
	struct stat st;

	snprintf(f->root, sizeof(f->root), "/tmp/tapio-bench-XXXXXX");
	if (!mkdtemp(f->root))
		die("mkdtemp", strerror(errno));
	fake_cgroups_made = f; /* removed at exit, die() included */
	atexit(fake_cgroups_at_exit);
	snprintf(f->leaf, sizeof(f->leaf), "%s", f->root);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		strncat(f->leaf, parts[i], sizeof(f->leaf) - strlen(f->leaf) - 1);
		if (mkdir(f->leaf, 0755) < 0)
			die(f->leaf, strerror(errno));
	}
	if (stat(f->leaf, &st) < 0)
		die(f->leaf, strerror(errno));
	f->leaf_id = st.st_ino;
}

static void fake_cgroups_remove(struct fake_cgroups *f)
{
	char *slash;

	fake_cgroups_made = NULL;
	while (strlen(f->leaf) > strlen(f->root)) {
		rmdir(f->leaf);
		slash = strrchr(f->leaf, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	rmdir(f->root);
}

/* The values the avro-c side is given: those pipeline_begin() writes for the same record. */
struct fields {
	int64_t event_time_us;
	int64_t seq;
	int64_t run;
	const char *node;
	uint64_t cgroup_id;
	const char *pod_uid;      /* NULL = null */
	const char *container_id; /* NULL = null */
};

static volatile size_t sink;

/*
 * Ours: the pipeline's own encode path into its one reusable buffer. pipeline_begin() looks up
 * the identity, writes the framing, `kind` and the envelope (avro_put_envelope); then the kernel
 * collector's encode(). Returns the buffer (framing included).
 */
__attribute__((noinline)) static struct avro_buf *encode_ours(struct collector_runtime *c,
							     const struct decoded *d,
							     uint64_t ktime_ns, uint64_t cgroup_id)
{
	struct avro_buf *buf = pipeline_begin(c, ktime_ns, cgroup_id, d->kind);

	kernel_encode(d->hdr, d->kind, buf);
	return buf;
}

/* Top-level fields we set, found by name once: later schema versions may add fields. */
enum { F_KIND, F_TIME, F_SEQ, F_RUN, F_NODE, F_CGROUP, F_POD, F_CONTAINER, F_PID, F_PPID, F_COMM, F_EXEC,
       F_EXIT, F_MAX };
static const char *const field_names[F_MAX] = { "kind", "event_time", "seq", "run", "node", "cgroup_id",
	"pod_uid", "container_id", "pid", "ppid", "comm", "exec", "exit" };

struct avroc {
	size_t idx[F_MAX];
	size_t other[32]; /* optional fields this bench does not know: set to null */
	size_t nother;
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_writer_t writer;
	avro_value_t reused;
	char *out;
	size_t cap;
};

#define CHECK(x)                                                              \
	do {                                                                  \
		if (x)                                                        \
			die(#x, avro_strerror());                             \
	} while (0)

static void avroc_optional_string(avro_value_t *v, const char *s)
{
	avro_value_t b;

	if (!s || !s[0]) {
		CHECK(avro_value_set_branch(v, 0, &b));
		CHECK(avro_value_set_null(&b));
	} else {
		CHECK(avro_value_set_branch(v, 1, &b));
		CHECK(avro_value_set_string(&b, s));
	}
}

/* The record built with setters, by field index (the cheaper way in avro-c), then written. */
static void avroc_fill(const struct avroc *a, avro_value_t *v, const struct decoded *d,
		       const struct fields *env)
{
	avro_value_t f, b, g, item;

	for (size_t i = 0; i < a->nother; i++)
		CHECK(avro_value_get_by_index(v, a->other[i], &f, NULL) ||
		      avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b));

	CHECK(avro_value_get_by_index(v, a->idx[F_KIND], &f, NULL) || avro_value_set_enum(&f, d->kind));
	CHECK(avro_value_get_by_index(v, a->idx[F_TIME], &f, NULL) || avro_value_set_long(&f, env->event_time_us));
	CHECK(avro_value_get_by_index(v, a->idx[F_SEQ], &f, NULL) || avro_value_set_long(&f, env->seq));
	CHECK(avro_value_get_by_index(v, a->idx[F_RUN], &f, NULL) || avro_value_set_long(&f, env->run));
	CHECK(avro_value_get_by_index(v, a->idx[F_NODE], &f, NULL) || avro_value_set_string(&f, env->node));
	CHECK(avro_value_get_by_index(v, a->idx[F_CGROUP], &f, NULL) ||
	      avro_value_set_long(&f, (int64_t)env->cgroup_id));
	CHECK(avro_value_get_by_index(v, a->idx[F_POD], &f, NULL));
	avroc_optional_string(&f, env->pod_uid);
	CHECK(avro_value_get_by_index(v, a->idx[F_CONTAINER], &f, NULL));
	avroc_optional_string(&f, env->container_id);
	if (d->kind == 1) {
		const struct kernel_exec *e = (const struct kernel_exec *)d->hdr;

		CHECK(avro_value_get_by_index(v, a->idx[F_PID], &f, NULL) || avro_value_set_int(&f, (int32_t)e->pid));
		CHECK(avro_value_get_by_index(v, a->idx[F_PPID], &f, NULL) || avro_value_set_int(&f, (int32_t)e->ppid));
		CHECK(avro_value_get_by_index(v, a->idx[F_COMM], &f, NULL) || avro_value_set_string(&f, e->comm));
		CHECK(avro_value_get_by_index(v, a->idx[F_EXEC], &f, NULL) || avro_value_set_branch(&f, 1, &b));
		CHECK(avro_value_get_by_index(&b, 0, &g, NULL) || avro_value_set_long(&g, e->uid));
		CHECK(avro_value_get_by_index(&b, 1, &g, NULL) || avro_value_set_long(&g, e->gid));
		CHECK(avro_value_get_by_index(&b, 2, &g, NULL) || avro_value_set_string(&g, e->filename));
		CHECK(avro_value_get_by_index(&b, 3, &g, NULL) ||
		      avro_value_set_boolean(&g, !!(e->flags & KERNEL_EXEC_FILENAME_TRUNCATED)));
		CHECK(avro_value_get_by_index(&b, 4, &g, NULL));
		/* The bench records' argv strings are all NUL-terminated. */
		for (size_t i = 0; i < e->args_len; i += strlen(e->args + i) + 1)
			CHECK(avro_value_append(&g, &item, NULL) || avro_value_set_string(&item, e->args + i));
		CHECK(avro_value_get_by_index(&b, 5, &g, NULL) ||
		      avro_value_set_boolean(&g, !!(e->flags & KERNEL_EXEC_ARGS_TRUNCATED)));
		CHECK(avro_value_get_by_index(v, a->idx[F_EXIT], &f, NULL) || avro_value_set_branch(&f, 0, &b) ||
		      avro_value_set_null(&b));
	} else {
		const struct kernel_exit *x = (const struct kernel_exit *)d->hdr;
		int sig = x->exit_status & 0x7f;

		CHECK(avro_value_get_by_index(v, a->idx[F_PID], &f, NULL) || avro_value_set_int(&f, (int32_t)x->pid));
		CHECK(avro_value_get_by_index(v, a->idx[F_PPID], &f, NULL) || avro_value_set_int(&f, (int32_t)x->ppid));
		CHECK(avro_value_get_by_index(v, a->idx[F_COMM], &f, NULL) || avro_value_set_string(&f, x->comm));
		CHECK(avro_value_get_by_index(v, a->idx[F_EXEC], &f, NULL) || avro_value_set_branch(&f, 0, &b) ||
		      avro_value_set_null(&b));
		CHECK(avro_value_get_by_index(v, a->idx[F_EXIT], &f, NULL) || avro_value_set_branch(&f, 1, &b));
		CHECK(avro_value_get_by_index(&b, 0, &g, NULL) ||
		      avro_value_set_int(&g, sig ? 0 : (x->exit_status >> 8) & 0xff));
		CHECK(avro_value_get_by_index(&b, 1, &g, NULL) || avro_value_set_int(&g, sig));
		CHECK(avro_value_get_by_index(&b, 2, &g, NULL) ||
		      avro_value_set_boolean(&g, !!(x->exit_status & 0x80)));
		CHECK(avro_value_get_by_index(&b, 3, &g, NULL) ||
		      avro_value_set_long(&g, (int64_t)x->lifetime_ns));
	}
}

/* avro_generic_value_new + setters + avro_value_write, per record. */
__attribute__((noinline)) static size_t encode_avroc(struct avroc *a, const struct decoded *d,
						     const struct fields *env)
{
	avro_value_t v;
	size_t n;

	CHECK(avro_generic_value_new(a->iface, &v));
	avroc_fill(a, &v, d, env);
	avro_writer_memory_set_dest(a->writer, a->out, (int64_t)a->cap);
	CHECK(avro_value_write(a->writer, &v));
	n = (size_t)avro_writer_tell(a->writer);
	avro_value_decref(&v);
	return n;
}

/* The same with one value reset and refilled per record (avro-c's best case). */
__attribute__((noinline)) static size_t encode_avroc_reuse(struct avroc *a, const struct decoded *d,
							   const struct fields *env)
{
	CHECK(avro_value_reset(&a->reused));
	avroc_fill(a, &a->reused, d, env);
	avro_writer_memory_set_dest(a->writer, a->out, (int64_t)a->cap);
	CHECK(avro_value_write(a->writer, &a->reused));
	return (size_t)avro_writer_tell(a->writer);
}

static void avroc_open(struct avroc *a, char *out, size_t cap)
{
	const struct tapio_schema *s = schema_find("kernel");

	if (!s)
		die("schema", "kernel not compiled in");
	CHECK(avro_schema_from_json_length(s->json, s->json_len, &a->schema));
	memset(a->idx, 0xff, sizeof(a->idx));
	a->nother = 0;
	for (size_t i = 0; i < avro_schema_record_size(a->schema); i++) {
		const char *name = avro_schema_record_field_name(a->schema, (int)i);
		avro_schema_t fs = avro_schema_record_field_get_by_index(a->schema, (int)i);
		size_t f;

		for (f = 0; f < F_MAX && strcmp(name, field_names[f]); f++)
			;
		if (f < F_MAX)
			a->idx[f] = i;
		else if (is_avro_union(fs) && is_avro_null(avro_schema_union_branch(fs, 0)) &&
			 a->nother < 32)
			a->other[a->nother++] = i;
		else
			die("schema field this bench cannot fill", name);
	}
	for (size_t f = 0; f < F_MAX; f++)
		if (a->idx[f] == (size_t)-1)
			die("schema field missing", field_names[f]);
	a->iface = avro_generic_class_from_schema(a->schema);
	if (!a->iface)
		die("avro_generic_class_from_schema", avro_strerror());
	CHECK(avro_generic_value_new(a->iface, &a->reused));
	a->out = out;
	a->cap = cap;
	a->writer = avro_writer_memory(out, (int64_t)cap);
}

static void avroc_close(struct avroc *a)
{
	avro_writer_free(a->writer);
	avro_value_decref(&a->reused);
	avro_value_iface_decref(a->iface);
	avro_schema_decref(a->schema);
}

enum encoder { ENC_OURS, ENC_AVROC, ENC_AVROC_REUSE, ENC_MAX };
static const char *const encoder_name[] = { "ours", "avroc", "avroc_reuse" };

struct encode_bench {
	struct collector_runtime *c;
	int64_t boot_to_epoch_ns;
	uint64_t ktime_ns;       /* of the first record */
	struct fields f;         /* of the first record */
	struct avroc a;
};

/* ns per record over `iters` records (seq and event time change every record). */
static double time_encoder(enum encoder which, struct encode_bench *eb, const struct decoded *d,
			   long iters)
{
	struct fields f = eb->f;
	int64_t t0 = now_ns();
	size_t total = 0;

	for (long i = 0; i < iters; i++) {
		f.seq = eb->f.seq + i;
		f.event_time_us = eb->f.event_time_us + i;
		switch (which) {
		case ENC_OURS:
			eb->c->next_seq = f.seq;
			total += encode_ours(eb->c, d, eb->ktime_ns + (uint64_t)i * 1000, f.cgroup_id)->len;
			break;
		case ENC_AVROC:
			total += encode_avroc(&eb->a, d, &f);
			break;
		default:
			total += encode_avroc_reuse(&eb->a, d, &f);
		}
	}
	sink = total;
	return (double)(now_ns() - t0) / (double)iters;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void config_for_bench(struct tapio_config *cfg, const struct opts *o);
static void parse_opts(struct opts *o, int argc, char **argv);

static int cmd_encode(int argc, char **argv)
{
	static struct pipeline pl;
	static struct encode_bench eb;
	static char avroc_buf[ENCODE_BUF_SIZE];
	long iters = 0;
	int reps = 7, only = -1, only_kind = 1, status = 0;
	struct kernel_exec exec;
	struct kernel_exit exit_rec;
	struct decoded d[2];
	struct fake_cgroups fc;
	struct tapio_config cfg;
	struct opts o;
	const struct identity *id;
	char errstr[1024];

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			i++;
			for (int e = 0; e < ENC_MAX; e++)
				if (!strcmp(argv[i], encoder_name[e]))
					only = e;
			if (only < 0)
				die("--only", argv[i]);
		} else if (!strcmp(argv[i], "--kind") && i + 1 < argc)
			only_kind = strcmp(argv[++i], "exit") ? 1 : 2;
		else
			die("encode: unknown argument", argv[i]);
	}
	if (reps < 1 || reps > 99)
		die("--reps", "1..99");

	/* A pipeline as the producer opens it, on a fake pod cgroup and a broker nobody listens on
	 * (nothing is produced: records are begun, never committed). */
	fake_cgroups_make(&fc);
	parse_opts(&o, 0, NULL);
	o.brokers = "127.0.0.1:9";
	o.sets[o.nsets++] = "kafka.log_level=0"; /* nobody listens there: no connection errors */
	config_for_bench(&cfg, &o);
	log_level_current = LOG_ERROR;
	if (pipeline_open(&pl, &cfg, fc.root, errstr, sizeof(errstr)))
		die("pipeline_open", errstr);
	eb.c = pipeline_collector(&pl, "kernel");
	/* As the start-up walk or a cgroup_mkdir record would enter it. */
	id = identity_put(pl.identity, fc.leaf_id, fc.leaf + strlen(fc.root));
	if (!id)
		die("identity_put", "failed");
	eb.ktime_ns = 123456789000;
	eb.f = (struct fields){
		.event_time_us = ((int64_t)eb.ktime_ns + pl.boot_to_epoch_ns) / 1000,
		.seq = 7,
		.run = pl.run,
		.node = cfg.node_name,
		.cgroup_id = fc.leaf_id,
		.pod_uid = id->owner.pod_uid[0] ? id->owner.pod_uid : NULL,
		.container_id = id->owner.container_id[0] ? id->owner.container_id : NULL,
	};
	if (!eb.f.pod_uid || strcmp(eb.f.pod_uid, BENCH_POD_UID))
		die("identity", "the fake pod cgroup was not recognised");
	make_exec(&exec, fc.leaf_id);
	make_exit(&exit_rec, fc.leaf_id);
	if (decode(&exec, exec.hdr.size, &d[0]) != DECODE_OK ||
	    decode(&exit_rec, sizeof(exit_rec), &d[1]) != DECODE_OK)
		die("decode", "bench records rejected");
	avroc_open(&eb.a, avroc_buf, sizeof(avroc_buf));

	/* Same bytes from every encoder, for both kinds. */
	for (int k = 0; k < 2; k++) {
		const char *kind = k ? "exit" : "exec";
		struct avro_buf *ours;
		size_t n_avroc, frame;
		int same;

		eb.c->next_seq = eb.f.seq;
		ours = pipeline_begin(eb.c, eb.ktime_ns, eb.f.cgroup_id, d[k].kind);
		kernel_encode(d[k].hdr, d[k].kind, ours);
		n_avroc = encode_avroc(&eb.a, &d[k], &eb.f);
		frame = ours->len - n_avroc;
		same = !ours->overflow && ours->len > n_avroc &&
		       !memcmp(ours->data + frame, avroc_buf, n_avroc);
		same = same && encode_avroc_reuse(&eb.a, &d[k], &eb.f) == n_avroc &&
		       !memcmp(ours->data + frame, avroc_buf, n_avroc);
		printf("encode_%s_bytes=%zu\nencode_%s_frame_bytes=%zu\nencode_%s_identical=%d\n", kind,
		       n_avroc, kind, frame, kind, same);
		if (!same) {
			fprintf(stderr, "pipebench: %s: our bytes differ from avro-c's\n", kind);
			status = 1;
			goto out;
		}
	}

	if (only >= 0) { /* one encoder, one kind: for callgrind's instruction counts */
		time_encoder(only, &eb, &d[only_kind - 1], iters ? iters : 10000);
		goto out;
	}

	/* Interleaved repetitions: each encoder's run sits between the others', so a burst of
	 * load on the shared machine hits all of them. */
	for (int k = 0; k < 2; k++) {
		const char *kind = k ? "exit" : "exec";
		double ns[ENC_MAX][99];
		long n[ENC_MAX];

		/* Sized for ~0.1-0.3 s per run on this machine. */
		n[ENC_OURS] = iters ? iters : 1000000;
		n[ENC_AVROC] = n[ENC_AVROC_REUSE] = iters ? iters / 10 : 100000;
		for (int e = 0; e < ENC_MAX; e++) /* warm-up */
			time_encoder(e, &eb, &d[k], n[e] / 10);
		for (int r = 0; r < reps; r++)
			for (int e = 0; e < ENC_MAX; e++)
				ns[e][r] = time_encoder(e, &eb, &d[k], n[e]);
		for (int e = 0; e < ENC_MAX; e++) {
			qsort(ns[e], reps, sizeof(double), cmp_double);
			printf("encode_%s_%s_ns=%.1f\nencode_%s_%s_ns_min=%.1f\nencode_%s_%s_ns_max=%.1f\n",
			       kind, encoder_name[e], ns[e][reps / 2], kind, encoder_name[e], ns[e][0],
			       kind, encoder_name[e], ns[e][reps - 1]);
		}
	}
out:
	avroc_close(&eb.a);
	pipeline_close(&pl);
	config_free(&cfg);
	fake_cgroups_remove(&fc);
	return status;
}

/* ---- the synthetic source --------------------------------------------------------------- */

struct source {
	struct bench_bpf *skel;
	int prog_fd;
	uint64_t cgroup_id;
	/* parameters */
	uint64_t count;
	uint32_t batch;
	double rate;     /* records/s; 0 = closed loop */
	double seconds;  /* bound */
	/* results */
	_Atomic uint64_t emitted;
	uint64_t lost;   /* open loop: records the full ring buffer refused */
	uint64_t stalls; /* closed loop: runs cut short by a full ring buffer */
	uint64_t runs;
	int64_t t_start, t_end;
	int64_t cpu_us;  /* this thread's CPU: the BPF program's run time, mostly */
	_Atomic int done;
	int err;
	int tid;
};

/* ring_fd >= 0: write into that ring buffer; else into bench.bpf.c's own, of ring_bytes. */
static struct bench_bpf *open_source(int ring_fd, uint64_t ring_bytes, const char *wakeup,
				     uint64_t wakeup_bytes)
{
	struct bench_bpf *skel = bench_bpf__open();
	int err;

	if (!skel)
		die("bench_bpf__open", strerror(errno));
	skel->rodata->bench_wakeup_mode = wakeup && !strcmp(wakeup, "per-record") ?
						  BENCH_WAKEUP_PER_RECORD : BENCH_WAKEUP_THRESHOLD;
	skel->rodata->bench_wakeup_bytes = wakeup_bytes;
	if (ring_fd >= 0)
		err = bpf_map__reuse_fd(skel->maps.events, ring_fd);
	else
		err = bpf_map__set_max_entries(skel->maps.events, (__u32)ring_bytes);
	if (err)
		die("ring buffer", strerror(-err));
	err = bench_bpf__load(skel);
	if (err)
		die("bench_bpf__load", strerror(-err));
	make_exec(&skel->bss->template_exec, 0);
	return skel;
}

static void *source_thread(void *arg)
{
	struct source *s = arg;
	struct bench_ctx ctx = { .cgroup_id = s->cgroup_id };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int64_t deadline;
	uint64_t attempted = 0, emitted = 0;
	struct rusage ru;

	s->tid = gettid();
	pthread_setname_np(pthread_self(), "bench-source");
	s->t_start = now_ns();
	deadline = s->t_start + (int64_t)(s->seconds * 1e9);
	while (emitted < s->count && now_ns() < deadline) {
		uint32_t want = s->count - emitted < s->batch ? (uint32_t)(s->count - emitted) : s->batch;

		if (s->rate > 0) {
			int64_t due = s->t_start + (int64_t)((double)attempted * 1e9 / s->rate);
			struct timespec ts = { due / 1000000000, due % 1000000000 };

			if (due > now_ns())
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		ctx.count = want;
		ctx.pid_base = BENCH_PID_BASE + (uint32_t)attempted;
		if (bpf_prog_test_run_opts(s->prog_fd, &opts) < 0) {
			s->err = -errno;
			break;
		}
		s->runs++;
		emitted += opts.retval;
		atomic_store(&s->emitted, emitted);
		if (s->rate > 0) {
			s->lost += want - opts.retval;
			attempted += want;
			if (attempted >= s->count)
				break;
		} else {
			attempted += opts.retval;
			if (opts.retval < want) {
				/* Full: let the consumer run (2 vCPUs here; spinning would starve it). */
				struct timespec pause = { 0, 50000 };

				s->stalls++;
				nanosleep(&pause, NULL);
			}
		}
	}
	s->t_end = now_ns();
	getrusage(RUSAGE_THREAD, &ru);
	s->cpu_us = rusage_us(&ru);
	atomic_store(&s->done, 1);
	return NULL;
}

/* ---- pipeline ----------------------------------------------------------------------------- */


static void parse_opts(struct opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->count = 1000000;
	o->batch = 256;
	o->seconds = 30;
	o->wakeup = "threshold"; /* as the collectors submit (bpf/ringbuf.bpf.h) */
	o->wakeup_bytes = 256 * 1024;
	o->poll_ms = 20; /* tapio-producer's RING_POLL_MS */
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--latency")) {
			o->latency = 1;
			continue;
		}
		if (!v)
			die("missing value for", a);
		i++;
		if (!strcmp(a, "--brokers"))
			o->brokers = v;
		else if (!strcmp(a, "--count"))
			o->count = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--batch"))
			o->batch = (uint32_t)atoi(v);
		else if (!strcmp(a, "--rate"))
			o->rate = atof(v);
		else if (!strcmp(a, "--seconds"))
			o->seconds = atof(v);
		else if (!strcmp(a, "--wakeup"))
			o->wakeup = v;
		else if (!strcmp(a, "--wakeup-bytes"))
			o->wakeup_bytes = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--poll-ms"))
			o->poll_ms = atoi(v);
		else if (!strcmp(a, "--set") && o->nsets < 32)
			o->sets[o->nsets++] = v;
		else if (!strcmp(a, "--ring-mb"))
			o->ring_mb = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--pid"))
			o->pid = atoi(v);
		else if (!strcmp(a, "--out"))
			o->out = v;
		else
			die("unknown argument", a);
	}
	if (o->batch < 1)
		o->batch = 1;
}

static void config_for_bench(struct tapio_config *cfg, const struct opts *o)
{
	char errstr[512], key[128];

	config_defaults(cfg);
	if (config_set(cfg, "node_name", BENCH_NODE, "bench", known_collectors, errstr, sizeof(errstr)) ||
	    config_set(cfg, "collectors", "kernel", "bench", known_collectors, errstr, sizeof(errstr)) ||
	    (o->brokers && config_set(cfg, "brokers", o->brokers, "--brokers", known_collectors, errstr,
				      sizeof(errstr))))
		die("config", errstr);
	for (int i = 0; i < o->nsets; i++) {
		const char *eq = strchr(o->sets[i], '=');

		if (!eq || (size_t)(eq - o->sets[i]) >= sizeof(key))
			die("--set", o->sets[i]);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - o->sets[i]), o->sets[i]);
		if (config_set(cfg, key, eq + 1, "--set", known_collectors, errstr, sizeof(errstr)))
			die("--set", errstr);
	}
}

/* Bookkeeping around the pipeline (a few loads and stores per record). Delivery reports are
 * counted from the collector's own counters around each publisher_poll(), so this needs no hook
 * into the pipeline's delivery callback. */
static struct {
	uint64_t base;         /* delivered + delivery_failed when the measurement started */
	uint64_t target;       /* delivery reports expected */
	uint64_t reports;
	int64_t t_last;        /* CLOCK_MONOTONIC when the target-th report was served */
	/* latency: record i's ktime, and the time report i was served (one key = one partition =
	 * the order records were produced in) */
	uint64_t *ktime;
	uint64_t *lat_ns;
	uint64_t nktime, cap;
} track;

static uint64_t reports_of(const struct collector_runtime *c)
{
	return c->stats.delivered + c->stats.delivery_failed;
}

static void poll_tracked(struct publisher *p, const struct collector_runtime *c)
{
	uint64_t before = reports_of(c) - track.base, after;
	uint64_t now_boot;

	publisher_poll(p);
	after = reports_of(c) - track.base;
	if (after == before)
		return;
	now_boot = (uint64_t)clock_ns(CLOCK_BOOTTIME);
	for (uint64_t i = before; track.lat_ns && i < after && i < track.nktime; i++)
		track.lat_ns[i] = now_boot - track.ktime[i];
	track.reports = after;
	if (after >= track.target && !track.t_last)
		track.t_last = now_ns();
}

static int tracked_record(void *ctx, void *data, size_t size)
{
	if (size >= sizeof(struct tapio_hdr) && track.nktime < track.cap)
		track.ktime[track.nktime++] = ((const struct tapio_hdr *)data)->ktime_ns;
	return pipeline_record(ctx, data, size);
}

/* CPU ticks of each thread of this process, from /proc/self/task/TID/stat. */
struct thread_cpu {
	int tid;
	char comm[32];
	long ticks;
};

static int read_threads(struct thread_cpu *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	while (d && n < max && (de = readdir(d))) {
		char path[300], buf[1024], *open_paren, *close_paren;
		unsigned long utime, stime;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (open_paren = strchr(buf, '(')) &&
		    (close_paren = strrchr(buf, ')')) &&
		    sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			   &utime, &stime) == 2) {
			out[n].tid = atoi(de->d_name);
			snprintf(out[n].comm, sizeof(out[n].comm), "%.*s",
				 (int)(close_paren - open_paren - 1), open_paren + 1);
			out[n].ticks = (long)(utime + stime);
			n++;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* Producer CPU per event by thread name (the source thread left out). */
static void print_thread_cpu(const struct thread_cpu *before, int nb, const struct thread_cpu *after,
			     int na, int source_tid, uint64_t events)
{
	long hz = sysconf(_SC_CLK_TCK);
	char names[32][32];
	double us[32];
	int nn = 0;

	for (int i = 0; i < na; i++) {
		long ticks = after[i].ticks;
		int k;

		if (after[i].tid == source_tid)
			continue;
		for (int j = 0; j < nb; j++)
			if (before[j].tid == after[i].tid)
				ticks -= before[j].ticks;
		for (k = 0; k < nn && strcmp(names[k], after[i].comm); k++)
			;
		if (k == nn) {
			if (nn == 32)
				continue;
			snprintf(names[nn], sizeof(names[nn]), "%s", after[i].comm);
			us[nn++] = 0;
		}
		us[k] += (double)ticks * 1e6 / (double)hz;
	}
	for (int k = 0; k < nn; k++)
		printf("thread_cpu_us_per_event[%s]=%.3f\n", names[k], events ? us[k] / events : 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmd_pipeline(int argc, char **argv)
{
	static struct pipeline pl;
	struct tapio_config cfg;
	struct opts o;
	struct source src = { 0 };
	struct collector_runtime *c;
	struct collector_stats base;
	struct ring_buffer *ring;
	struct epoll_event ev, evs[4];
	struct rusage ru0, ru1;
	char errstr[1024];
	static struct thread_cpu threads0[64], threads1[64];
	int nthreads0, nthreads1, ring_fd;
	pthread_t th;
	int epfd, status = 0;
	int64_t t_tick, give_up;
	int batched;
	uint64_t received, produced, delivered;
	double secs;

	parse_opts(&o, argc, argv);
	if (!o.brokers)
		die("pipeline", "--brokers is required (tests/bench/mockbroker prints one)");
	batched = !strcmp(o.wakeup, "threshold");
	config_for_bench(&cfg, &o);
	log_level_current = LOG_WARN;
	if (pipeline_open(&pl, &cfg, NULL, errstr, sizeof(errstr)))
		die("pipeline_open", errstr);
	c = pipeline_collector(&pl, "kernel");
	if (pipeline_attach(&pl) < 1 || !c || c->state != COLLECTOR_RUNNING)
		die("pipeline_attach", "the kernel collector did not start (root? BTF?)");
	/* Keep the ring buffer, drop the hooks: only the synthetic source writes to it now. */
	c->ops->stop(c);

	/* --ring-mb: a ring of another size (bench.bpf.c's own map), to measure what size buys;
	 * otherwise the kernel collector's ring itself. */
	src.skel = open_source(o.ring_mb ? -1 : c->io.ring_fd, o.ring_mb << 20, o.wakeup,
			       o.wakeup_bytes);
	ring_fd = o.ring_mb ? bpf_map__fd(src.skel->maps.events) : c->io.ring_fd;
	src.prog_fd = bpf_program__fd(src.skel->progs.bench_emit);
	src.cgroup_id = own_cgroup_id();
	src.count = o.count;
	src.batch = o.batch;
	src.rate = o.rate;
	src.seconds = o.seconds;

	if (o.latency) {
		track.cap = o.count;
		track.ktime = calloc(o.count, sizeof(uint64_t));
		track.lat_ns = calloc(o.count, sizeof(uint64_t));
		if (!track.ktime || !track.lat_ns)
			die("latency", "out of memory");
	}
	ring = ring_buffer__new(ring_fd, o.latency ? tracked_record : pipeline_record, c, NULL);
	if (!ring)
		die("ring_buffer__new", strerror(errno));
	/* Whatever the real hooks wrote before detach, and the identity miss of our cgroup. */
	ring_buffer__consume(ring);
	publisher_flush(&pl.publisher, 5000);
	publisher_poll(&pl.publisher);
	track.nktime = 0;
	track.reports = 0;
	track.base = reports_of(c);
	base = c->stats;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 0 };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(ring), &ev) < 0)
		die("epoll", strerror(errno));
	ev.data.u32 = 1;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, publisher_wake_fd(&pl.publisher), &ev) < 0)
		die("epoll", strerror(errno));

	track.target = UINT64_MAX;
	nthreads0 = read_threads(threads0, 64);
	getrusage(RUSAGE_SELF, &ru0);
	if (pthread_create(&th, NULL, source_thread, &src))
		die("pthread_create", "failed");
	t_tick = now_ns();
	give_up = t_tick + (int64_t)((o.seconds + 60) * 1e9);
	for (;;) {
		/* tapio-producer's loop: epoll on the ring and on librdkafka's wake pipe. With
		 * --wakeup threshold, the loop BENCHMARKS.md proposes: wake at least every poll_ms
		 * and read the ring on every pass (records below the threshold bring no wake-up). */
		int n = epoll_wait(epfd, evs, 4, o.poll_ms);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0)
				ring_buffer__consume(ring);
			else
				poll_tracked(&pl.publisher, c);
		}
		if (batched)
			ring_buffer__consume(ring);
		else if (n == 0) /* the 1 s timer; nothing waits for it but the end of the run */
			ring_buffer__consume(ring);
		if (now_ns() - t_tick >= 1000000000) { /* tapio-producer's timer */
			poll_tracked(&pl.publisher, c);
			pipeline_tick(&pl);
			t_tick = now_ns();
		}
		if (atomic_load(&src.done)) {
			uint64_t want = atomic_load(&src.emitted);
			uint64_t got = c->stats.received - base.received;

			if (got >= want) {
				uint64_t out = c->stats.produced - base.produced;

				track.target = out;
				if (track.reports >= out) {
					if (!track.t_last)
						track.t_last = now_ns();
					break;
				}
			}
		}
		if (now_ns() > give_up) {
			fprintf(stderr, "pipebench: gave up waiting for delivery reports\n");
			status = 1;
			break;
		}
	}
	getrusage(RUSAGE_SELF, &ru1);
	nthreads1 = read_threads(threads1, 64);
	pthread_join(th, NULL);
	if (src.err)
		die("BPF_PROG_TEST_RUN", strerror(-src.err));
	if (!track.t_last)
		track.t_last = now_ns();
	pipeline_tick(&pl);

	received = c->stats.received - base.received;
	produced = c->stats.produced - base.produced;
	delivered = c->stats.delivered - base.delivered;
	secs = (double)(track.t_last - src.t_start) / 1e9;
	printf("emitted=%" PRIu64 "\nreceived=%" PRIu64 "\nproduced=%" PRIu64 "\ndelivered=%" PRIu64
	       "\n", (uint64_t)src.emitted, received, produced, delivered);
	printf("lost_ring_full=%" PRIu64 "\nsource_stalls=%" PRIu64 "\nsource_runs=%" PRIu64 "\n",
	       src.lost, src.stalls, src.runs);
	printf("queue_full=%" PRIu64 "\nproduce_failed=%" PRIu64 "\ndelivery_failed=%" PRIu64
	       "\nencode_failed=%" PRIu64 "\n",
	       c->stats.queue_full - base.queue_full, c->stats.produce_failed - base.produce_failed,
	       c->stats.delivery_failed - base.delivery_failed,
	       c->stats.encode_failed - base.encode_failed);
	printf("source_seconds=%.3f\nseconds=%.3f\nevents_per_s=%.0f\n",
	       (double)(src.t_end - src.t_start) / 1e9, secs, delivered / secs);
	printf("source_cpu_us_per_event=%.3f\n", src.emitted ? (double)src.cpu_us / src.emitted : 0);
	printf("producer_cpu_us_per_event=%.3f\n",
	       delivered ? (double)(rusage_us(&ru1) - rusage_us(&ru0) - src.cpu_us) / delivered : 0);
	printf("producer_cpu_percent=%.2f\n",
	       100.0 * (double)(rusage_us(&ru1) - rusage_us(&ru0) - src.cpu_us) / (secs * 1e6));
	print_thread_cpu(threads0, nthreads0, threads1, nthreads1, src.tid, delivered);
	printf("max_rss_kb=%ld\n", ru1.ru_maxrss);
	if (o.latency) {
		uint64_t n = track.nktime < track.reports ? track.nktime : track.reports;

		if (n && produced == received && !(c->stats.delivery_failed - base.delivery_failed)) {
			qsort(track.lat_ns, n, sizeof(uint64_t), cmp_u64);
			printf("latency_samples=%" PRIu64 "\nlatency_p50_us=%.0f\nlatency_p99_us=%.0f\n"
			       "latency_max_us=%.0f\n", n, track.lat_ns[n / 2] / 1e3,
			       track.lat_ns[n * 99 / 100] / 1e3, track.lat_ns[n - 1] / 1e3);
		} else {
			printf("latency_samples=0\n");
		}
	}
	if (received != src.emitted || delivered != produced || produced != received)
		status = 1;
	ring_buffer__free(ring);
	close(epfd);
	bench_bpf__destroy(src.skel);
	pipeline_close(&pl);
	config_free(&cfg);
	free(track.ktime);
	free(track.lat_ns);
	return status;
}

/* ---- feed a running tapio-producer -------------------------------------------------------- */

/* The ring buffer of the kernel collector in process `pid`: the ring-buffer map used by its
 * program handle_exec (every collector's ring is called `events`). */
static int find_ring_of(int pid)
{
	char path[512], line[256];
	struct dirent *de;
	DIR *d;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	d = opendir(path);
	if (!d)
		die(path, strerror(errno));
	while (found < 0 && (de = readdir(d))) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info), map_ids[64];
		unsigned prog_id = 0;
		FILE *f;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			sscanf(line, "prog_id: %u", &prog_id);
		fclose(f);
		if (!prog_id || (fd = bpf_prog_get_fd_by_id(prog_id)) < 0)
			continue;
		info.nr_map_ids = 64;
		info.map_ids = (__u64)(uintptr_t)map_ids;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && !strcmp(info.name, "handle_exec")) {
			for (__u32 i = 0; found < 0 && i < info.nr_map_ids && i < 64; i++) {
				struct bpf_map_info mi = { 0 };
				__u32 mlen = sizeof(mi);
				int mfd = bpf_map_get_fd_by_id(map_ids[i]);

				if (mfd >= 0 && bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0 &&
				    mi.type == BPF_MAP_TYPE_RINGBUF)
					found = mfd;
				else if (mfd >= 0)
					close(mfd);
			}
		}
		close(fd);
	}
	closedir(d);
	return found;
}

static int cmd_feed(int argc, char **argv)
{
	struct opts o;
	struct source src = { 0 };
	pthread_t th;
	int ring_fd;

	parse_opts(&o, argc, argv);
	if (o.pid <= 0 || o.rate <= 0)
		die("feed", "--pid and --rate are required");
	ring_fd = find_ring_of(o.pid);
	if (ring_fd < 0)
		die("feed", "no kernel-collector ring buffer (program handle_exec) in that process");
	src.skel = open_source(ring_fd, 0, o.wakeup, o.wakeup_bytes);
	src.prog_fd = bpf_program__fd(src.skel->progs.bench_emit);
	src.cgroup_id = own_cgroup_id();
	src.count = o.count ? o.count : UINT64_MAX;
	src.batch = o.batch;
	src.rate = o.rate;
	src.seconds = o.seconds;
	if (pthread_create(&th, NULL, source_thread, &src))
		die("pthread_create", "failed");
	pthread_join(th, NULL);
	if (src.err)
		die("BPF_PROG_TEST_RUN", strerror(-src.err));
	printf("feed_emitted=%" PRIu64 "\nfeed_lost_ring_full=%" PRIu64 "\nfeed_seconds=%.3f\n",
	       (uint64_t)src.emitted, src.lost, (double)(src.t_end - src.t_start) / 1e9);
	bench_bpf__destroy(src.skel);
	close(ring_fd);
	return 0;
}

/* ---- kcat input --------------------------------------------------------------------------- */

/* kcat -D: a delimiter that the messages must not contain (checked). */
static const uint8_t kcat_delim[] = { 0x1e, 0xfe, 0x1f, 0xff, 0x1d };

static int cmd_kcat_input(int argc, char **argv)
{
	static struct pipeline pl;
	struct tapio_config cfg;
	struct opts o;
	struct kernel_exec e;
	struct decoded d;
	struct collector_runtime *c;
	const struct identity *id;
	uint64_t cgid = own_cgroup_id(), total = 0;
	char errstr[1024];
	FILE *f;

	parse_opts(&o, argc, argv);
	if (!o.out)
		die("kcat-input", "--out is required");
	/* Encoded by the pipeline itself (nothing is produced: records are begun, never committed),
	 * for this process's cgroup, as the pipeline benchmark's records are. */
	o.brokers = "127.0.0.1:9";
	o.sets[o.nsets++] = "kafka.log_level=0"; /* nobody listens there: no connection errors */
	config_for_bench(&cfg, &o);
	log_level_current = LOG_ERROR;
	if (pipeline_open(&pl, &cfg, NULL, errstr, sizeof(errstr)))
		die("pipeline_open", errstr);
	c = pipeline_collector(&pl, "kernel");
	id = identity_lookup(pl.identity, cgid);
	make_exec(&e, cgid);
	e.hdr.ktime_ns = (uint64_t)clock_ns(CLOCK_BOOTTIME);
	f = fopen(o.out, "we");
	if (!f)
		die(o.out, strerror(errno));
	for (uint64_t i = 0; i < o.count; i++) {
		struct avro_buf *b;

		e.pid = BENCH_PID_BASE + (uint32_t)i;
		e.hdr.ktime_ns += 1000;
		c->next_seq = (int64_t)i + 1;
		if (decode(&e, e.hdr.size, &d) != DECODE_OK)
			die("decode", "rejected");
		b = pipeline_begin(c, e.hdr.ktime_ns, cgid, d.kind);
		kernel_encode(d.hdr, d.kind, b);
		if (b->overflow)
			die("kcat-input", "record too large");
		if (memmem(b->data, b->len, kcat_delim, sizeof(kcat_delim)))
			die("kcat-input", "a message contains the delimiter");
		fwrite(b->data, 1, b->len, f);
		fwrite(kcat_delim, 1, sizeof(kcat_delim), f);
		total += b->len;
	}
	if (fclose(f))
		die(o.out, strerror(errno));
	printf("kcat_msg_bytes=%.1f\nkcat_key=%.*s\nkcat_delim=", (double)total / o.count,
	       (int)id->key_len, id->key);
	for (size_t i = 0; i < sizeof(kcat_delim); i++)
		printf("\\x%02x", kcat_delim[i]);
	printf("\nkcat_fingerprint=%s\n", c->fingerprint_hex);
	pipeline_close(&pl);
	config_free(&cfg);
	return 0;
}

/* ---- hot path without BPF: callgrind, strace, allocation counts ------------------------- */

__attribute__((noinline)) static void hot_record(struct collector_runtime *c, void *rec, size_t size)
{
	pipeline_record(c, rec, size);
}

static int cmd_hotpath(int argc, char **argv)
{
	static struct pipeline pl;
	static struct kernel_exec recs[64];
	struct tapio_config cfg;
	struct opts o;
	struct collector_runtime *c;
	uint64_t cgid = own_cgroup_id(), mallocs = 0, frees = 0;
	struct rusage ru0, ru1;
	int64_t t0, t1;
	char errstr[1024];

	parse_opts(&o, argc, argv);
	if (!o.brokers)
		die("hotpath", "--brokers is required");
	config_for_bench(&cfg, &o);
	log_level_current = LOG_WARN;
	if (pipeline_open(&pl, &cfg, NULL, errstr, sizeof(errstr)))
		die("pipeline_open", errstr);
	c = pipeline_collector(&pl, "kernel");
	/* As kernel_open() sets them (the defaults redact secret-looking arguments). */
	if (kernel_set_redaction(cfg.kernel_redact_args, errstr, sizeof(errstr)))
		die("kernel_redact_args", errstr);
	for (int i = 0; i < 64; i++) {
		make_exec(&recs[i], cgid);
		recs[i].pid += i;
	}
	hot_record(c, &recs[0], recs[0].hdr.size); /* the identity miss, once */
	/* Records from memory, as kcat -P reads its messages from a file: the rate and CPU of the
	 * producer's path without the BPF source beside it, from the first record to the last
	 * delivery report. */
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	for (uint64_t i = 0; i < o.count; i++) {
		struct kernel_exec *r = &recs[i & 63];
		uint64_t m = 0, f = 0;

		r->hdr.ktime_ns += 1000;
		if (alloc_count_start)
			alloc_count_start();
		hot_record(c, r, r->hdr.size);
		if (alloc_count_stop) {
			alloc_count_stop(&m, &f);
			mallocs += m;
			frees += f;
		}
		if ((i & 255) == 255)
			publisher_poll(&pl.publisher);
	}
	if (publisher_flush(&pl.publisher, 30000))
		fprintf(stderr, "pipebench: hotpath: not all delivered\n");
	t1 = now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	printf("hotpath_events=%" PRIu64 "\nhotpath_delivered=%" PRIu64 "\n", o.count,
	       c->stats.delivered);
	printf("hotpath_events_per_s=%.0f\nhotpath_cpu_us_per_event=%.3f\n",
	       (double)o.count * 1e9 / (double)(t1 - t0),
	       (double)(rusage_us(&ru1) - rusage_us(&ru0)) / (double)o.count);
	if (alloc_count_stop)
		printf("hotpath_mallocs_per_event=%.3f\nhotpath_frees_per_event=%.3f\n",
		       (double)mallocs / o.count, (double)frees / o.count);
	pipeline_close(&pl);
	config_free(&cfg);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pipebench encode|pipeline|feed|kcat-input|hotpath [options]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "encode"))
		return cmd_encode(argc - 2, argv + 2);
	if (!strcmp(argv[1], "pipeline"))
		return cmd_pipeline(argc - 2, argv + 2);
	if (!strcmp(argv[1], "feed"))
		return cmd_feed(argc - 2, argv + 2);
	if (!strcmp(argv[1], "kcat-input"))
		return cmd_kcat_input(argc - 2, argv + 2);
	if (!strcmp(argv[1], "hotpath"))
		return cmd_hotpath(argc - 2, argv + 2);
	fprintf(stderr, "pipebench: unknown command %s\n", argv[1]);
	return 2;
}
