/* Collector `kernel`: process exec and exit records (bpf/kernel.bpf.c) → schemas/kernel.avsc. */
#include <errno.h>
#include <string.h>

#include "collector.h"
#include "kernel.h"
#include "kernel.skel.h"
#include "log.h"

/* The `Kind` enum of schemas/kernel.avsc. */
enum kernel_kind { KIND_UNKNOWN = 0, KIND_EXEC = 1, KIND_EXIT = 2 };

static struct kernel_bpf *skel;

static int kernel_open(const struct tapio_config *cfg, struct collector_maps *maps)
{
	int err;

	(void)cfg;
	skel = kernel_bpf__open();
	if (!skel) {
		err = -errno;
		log_error("kernel: cannot open BPF object: %s", strerror(-err));
		return err;
	}
	err = kernel_bpf__load(skel);
	if (err) {
		log_error("kernel: cannot load BPF programs: %s", strerror(-err));
		return err;
	}
	err = kernel_bpf__attach(skel);
	if (err) {
		log_error("kernel: cannot attach to sched_process_exec/exit (tp_btf): %s", strerror(-err));
		return err;
	}
	maps->ring_fd = bpf_map__fd(skel->maps.events);
	maps->reserve_failures_fd = bpf_map__fd(skel->maps.reserve_failures);
	return 0;
}

static enum decode_result kernel_decode(struct collector_runtime *c, const void *data, size_t size,
					struct decoded *out)
{
	const struct tapio_hdr *hdr;
	enum decode_result r = decode_header(data, size, &hdr);

	(void)c;
	if (r != DECODE_OK)
		return r;
	switch (hdr->type) {
	case TAPIO_REC_KERNEL_EXEC:
		if (hdr->version != KERNEL_EXEC_VERSION)
			return DECODE_BAD_VERSION;
		if (size != sizeof(struct kernel_exec))
			return DECODE_BAD_LENGTH;
		if (((const struct kernel_exec *)data)->args_len > KERNEL_ARGS_LEN)
			return DECODE_BAD_FIELD;
		out->kind = KIND_EXEC;
		break;
	case TAPIO_REC_KERNEL_EXIT:
		if (hdr->version != KERNEL_EXIT_VERSION)
			return DECODE_BAD_VERSION;
		if (size != sizeof(struct kernel_exit))
			return DECODE_BAD_LENGTH;
		out->kind = KIND_EXIT;
		break;
	default:
		return DECODE_UNKNOWN_TYPE;
	}
	out->hdr = hdr;
	return DECODE_OK;
}

/* argv as the kernel keeps it: NUL-separated, the last one unterminated when cut. */
static void put_args(struct avro_buf *out, const char *args, size_t len)
{
	size_t i, count = 0;

	for (i = 0; i < len; i += strnlen(args + i, len - i) + 1)
		count++;
	if (count) {
		avro_put_long(out, (int64_t)count);
		for (i = 0; i < len; i += strnlen(args + i, len - i) + 1)
			avro_put_string(out, args + i, len - i);
	}
	avro_put_long(out, 0); /* end of array */
}

static void kernel_encode(const struct decoded *rec, struct avro_buf *out)
{
	if (rec->kind == KIND_EXEC) {
		const struct kernel_exec *e = (const struct kernel_exec *)rec->hdr;

		avro_put_long(out, e->pid);
		avro_put_long(out, e->ppid);
		avro_put_string(out, e->comm, sizeof(e->comm));
		avro_put_union(out, 1); /* exec */
		avro_put_long(out, e->uid);
		avro_put_long(out, e->gid);
		avro_put_string(out, e->filename, sizeof(e->filename));
		avro_put_bool(out, e->flags & KERNEL_EXEC_FILENAME_TRUNCATED);
		put_args(out, e->args, e->args_len);
		avro_put_bool(out, e->flags & KERNEL_EXEC_ARGS_TRUNCATED);
		avro_put_union(out, 0); /* exit: null */
	} else {
		const struct kernel_exit *e = (const struct kernel_exit *)rec->hdr;
		int signal = e->exit_status & 0x7f;

		avro_put_long(out, e->pid);
		avro_put_long(out, e->ppid);
		avro_put_string(out, e->comm, sizeof(e->comm));
		avro_put_union(out, 0); /* exec: null */
		avro_put_union(out, 1); /* exit */
		avro_put_long(out, signal ? 0 : (e->exit_status >> 8) & 0xff);
		avro_put_long(out, signal);
		avro_put_bool(out, e->exit_status & 0x80);
		avro_put_long(out, (int64_t)e->lifetime_ns);
	}
}

static void kernel_detach(void)
{
	if (skel)
		kernel_bpf__detach(skel);
}

static void kernel_destroy(void)
{
	kernel_bpf__destroy(skel);
	skel = NULL;
}

const struct collector_ops kernel_collector = {
	.name = "kernel",
	.open = kernel_open,
	.decode = kernel_decode,
	.encode = kernel_encode,
	.detach = kernel_detach,
	.destroy = kernel_destroy,
};
