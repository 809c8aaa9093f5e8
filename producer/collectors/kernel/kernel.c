/* Collector `kernel`: process exec/exit, OOM kill and TCP lifecycle records (bpf/kernel.bpf.c)
 * → schemas/kernel.avsc. */
#include <arpa/inet.h>
#include <bpf/btf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector.h"
#include "kallsyms.h"
#include "kernel.h"
#include "kernel.skel.h"
#include "kernel_collector.h"
#include "log.h"
#include "pipeline.h"
#include "redact.h"

#define KIND_TCP_FIRST (KIND_TCP_CONNECT - KERNEL_TCP_CONNECT)

/* `IpFamily` and the highest kernel TCP state `TcpState` names (TCP_BOUND_INACTIVE). */
enum { FAMILY_UNKNOWN = 0, FAMILY_IPV4 = 1, FAMILY_IPV6 = 2 };
#define TCP_STATE_MAX 13

static struct kernel_bpf *skel;

/* kernel_redact_args, compiled; NULL = argv published as it is. */
static struct redact_rules *redaction;
static uint64_t args_redacted; /* values replaced, for /metrics */

int kernel_set_redaction(const char *spec, char *why, size_t why_size)
{
	struct redact_rules *r = NULL;
	int err = spec ? redact_parse(spec, &r, why, why_size) : 0;

	if (err)
		return err;
	redact_free(redaction);
	redaction = r;
	return 0;
}

/*
 * True when the running kernel has tracepoint `tp` and, if argi >= 0, its argument argi (after
 * the context pointer) is a pointer. tp_btf programs fail to load on a prototype mismatch, and
 * one failing program would take exec/exit down with it.
 */
static bool tp_usable(const struct btf *vmlinux, const char *tp, int argi)
{
	char name[128];
	const struct btf_type *t;
	const struct btf_param *params;
	int id;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return false;
	if (argi < 0)
		return true;
	t = btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type); /* pointer */
	if (!t || !btf_is_ptr(t))
		return false;
	t = btf__type_by_id(vmlinux, t->type); /* function prototype */
	if (!t || !btf_is_func_proto(t) || btf_vlen(t) < argi + 2)
		return false;
	params = btf_params(t);
	t = btf__type_by_id(vmlinux, params[argi + 1].type);
	while (t && (btf_is_mod(t) || btf_is_typedef(t)))
		t = btf__type_by_id(vmlinux, t->type);
	return t && btf_is_ptr(t);
}

/* Leaves out the programs whose hook this kernel lacks, with a line saying what is missing. */
static void disable_missing_hooks(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool oom, oom_kprobe = false, reclaim, tcp;
	char why[160];

	if (!vmlinux) {
		log_warn("kernel: no vmlinux BTF to probe hooks with; trying them all");
		return;
	}
	/* Kernels before "mm: update mark_victim tracepoints fields" (v6.9, and some stable
	 * updates of older series) pass only a pid: a kprobe on mark_oom_victim stands in. */
	oom = tp_usable(vmlinux, "mark_victim", 0);
	reclaim = tp_usable(vmlinux, "mm_vmscan_memcg_reclaim_begin", -1) &&
		  tp_usable(vmlinux, "mm_vmscan_direct_reclaim_begin", -1);
	tcp = tp_usable(vmlinux, "inet_sock_set_state", 0);
	btf__free(vmlinux);
	if (!oom) {
		bpf_program__set_autoload(skel->progs.handle_mark_victim, false);
		oom_kprobe = kprobe_usable("mark_oom_victim", why, sizeof(why));
		if (oom_kprobe)
			log_info("kernel: oom/mark_victim passes no task on this kernel: "
				 "OOM_KILL from a kprobe on mark_oom_victim");
		else
			log_warn("kernel: oom/mark_victim passes no task on this kernel, and "
				 "no kprobe instead (%s): no OOM_KILL records", why);
		bpf_program__set_autoload(skel->progs.handle_oom_kprobe, oom_kprobe);
	}
	if (!(oom || oom_kprobe) || !reclaim) {
		if (oom || oom_kprobe)
			log_warn("kernel: no vmscan reclaim tracepoints: every OOM kill reads as global");
		bpf_program__set_autoload(skel->progs.handle_memcg_reclaim, false);
		bpf_program__set_autoload(skel->progs.handle_direct_reclaim, false);
	}
	if (!tcp) {
		log_warn("kernel: no sock/inet_sock_set_state tracepoint: no TCP records");
		bpf_program__set_autoload(skel->progs.handle_tcp_state, false);
	}
}

static int kernel_open(struct collector_runtime *c, struct collector_io *io)
{
	const struct tapio_config *cfg = c->pipeline->cfg;
	long page_size = sysconf(_SC_PAGESIZE);
	char why[256];
	int err;

	/* Checked by config.c already; a failure here would only be memory. */
	err = kernel_set_redaction(cfg->kernel_redact_args, why, sizeof(why));
	if (err) {
		log_error("kernel: kernel_redact_args: %s", err == -EINVAL ? why : strerror(-err));
		return err;
	}

	skel = kernel_bpf__open();
	if (!skel) {
		err = -errno;
		log_error("kernel: cannot open BPF object: %s", strerror(-err));
		return err;
	}
	/* User space and kernel share the page size; counters in pages become bytes. */
	skel->rodata->page_shift = page_size > 0 ? (uint32_t)__builtin_ctzl(page_size) : 12;
	disable_missing_hooks();
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)cfg->ringbuf_kb << 10);
	err = kernel_bpf__load(skel);
	if (err) {
		log_error("kernel: cannot load BPF programs: %s", strerror(-err));
		return err;
	}
	err = kernel_bpf__attach(skel);
	if (err) {
		log_error("kernel: cannot attach its tp_btf programs: %s", strerror(-err));
		return err;
	}
	io->ring_fd = bpf_map__fd(skel->maps.events);
	io->counters_fd = bpf_map__fd(skel->maps.reserve_failures);
	return 0;
}

enum decode_result kernel_check(const void *data, size_t size, int *kind)
{
	const struct tapio_hdr *hdr;
	enum decode_result r = decode_header(data, size, &hdr);

	if (r != DECODE_OK)
		return r;
	switch (hdr->type) {
	case TAPIO_REC_KERNEL_EXEC:
		if (hdr->version != KERNEL_EXEC_VERSION)
			return DECODE_BAD_VERSION;
		/* Ends after its argv (bpf/kernel.h): args_len must lie inside the record. */
		if (size < KERNEL_EXEC_FIXED_SIZE || size > sizeof(struct kernel_exec))
			return DECODE_BAD_LENGTH;
		if (((const struct kernel_exec *)data)->args_len > size - KERNEL_EXEC_FIXED_SIZE)
			return DECODE_BAD_FIELD;
		*kind = KIND_EXEC;
		break;
	case TAPIO_REC_KERNEL_EXIT:
		if (hdr->version != KERNEL_EXIT_VERSION)
			return DECODE_BAD_VERSION;
		if (size != sizeof(struct kernel_exit))
			return DECODE_BAD_LENGTH;
		*kind = KIND_EXIT;
		break;
	case TAPIO_REC_KERNEL_OOM:
		if (hdr->version != KERNEL_OOM_VERSION)
			return DECODE_BAD_VERSION;
		if (size != sizeof(struct kernel_oom))
			return DECODE_BAD_LENGTH;
		*kind = KIND_OOM_KILL;
		break;
	case TAPIO_REC_KERNEL_TCP: {
		const struct kernel_tcp *t = data;

		if (hdr->version != KERNEL_TCP_VERSION)
			return DECODE_BAD_VERSION;
		if (size != sizeof(struct kernel_tcp))
			return DECODE_BAD_LENGTH;
		if (t->event < KERNEL_TCP_CONNECT || t->event >= KERNEL_TCP_EVENT_MAX ||
		    t->direction >= KERNEL_TCP_DIR_MAX ||
		    (t->family != AF_INET && t->family != AF_INET6))
			return DECODE_BAD_FIELD;
		*kind = KIND_TCP_FIRST + t->event;
		break;
	}
	default:
		return DECODE_UNKNOWN_TYPE;
	}
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

static void put_addr(struct avro_buf *out, uint16_t family, const uint8_t addr[16])
{
	char text[INET6_ADDRSTRLEN];

	/* The decoder admitted only AF_INET and AF_INET6, so this cannot fail. */
	if (!inet_ntop(family, addr, text, sizeof(text)))
		text[0] = '\0';
	avro_put_string(out, text, sizeof(text));
}

static void encode_oom(const struct kernel_oom *o, struct avro_buf *out)
{
	avro_put_long(out, o->pid);
	avro_put_long(out, o->ppid);
	avro_put_string(out, o->comm, sizeof(o->comm));
	avro_put_union(out, 0); /* exec: null */
	avro_put_union(out, 0); /* exit: null */
	avro_put_union(out, 1); /* oom */
	avro_put_bool(out, o->flags & KERNEL_OOM_CGROUP);
	if (o->flags & KERNEL_OOM_USAGE_KNOWN) {
		avro_put_union(out, 1);
		avro_put_long(out, (int64_t)o->memcg_usage_bytes);
	} else {
		avro_put_union(out, 0);
	}
	if (o->flags & KERNEL_OOM_LIMIT_KNOWN) {
		avro_put_union(out, 1);
		avro_put_long(out, (int64_t)o->memcg_limit_bytes);
	} else {
		avro_put_union(out, 0);
	}
	avro_put_long(out, (int64_t)o->total_vm_bytes);
	avro_put_long(out, (int64_t)(o->rss_anon_bytes + o->rss_file_bytes + o->rss_shmem_bytes));
	avro_put_long(out, (int64_t)o->rss_anon_bytes);
	avro_put_long(out, (int64_t)o->rss_file_bytes);
	avro_put_long(out, (int64_t)o->rss_shmem_bytes);
	avro_put_long(out, o->oom_score_adj);
	avro_put_long(out, o->uid);
	avro_put_long(out, o->trigger_pid);
	avro_put_string(out, o->trigger_comm, sizeof(o->trigger_comm));
	avro_put_union(out, 0); /* tcp: null */
}

static void encode_tcp(const struct kernel_tcp *t, struct avro_buf *out)
{
	const char *err_name = t->error > 0 ? strerrorname_np(t->error) : NULL;

	avro_put_long(out, t->pid);
	avro_put_long(out, t->ppid);
	avro_put_string(out, t->comm, sizeof(t->comm));
	avro_put_union(out, 0); /* exec: null */
	avro_put_union(out, 0); /* exit: null */
	avro_put_union(out, 0); /* oom: null */
	avro_put_union(out, 1); /* tcp */
	avro_put_long(out, t->family == AF_INET ? FAMILY_IPV4 : FAMILY_IPV6);
	put_addr(out, t->family, t->local_addr);
	avro_put_long(out, t->local_port);
	put_addr(out, t->family, t->remote_addr);
	avro_put_long(out, t->remote_port);
	avro_put_long(out, t->direction); /* `Direction` follows enum kernel_tcp_direction */
	avro_put_long(out, t->old_state <= TCP_STATE_MAX ? t->old_state : 0);
	if (t->flags & KERNEL_TCP_DURATION_KNOWN) {
		avro_put_union(out, 1);
		avro_put_long(out, (int64_t)t->duration_ns);
	} else {
		avro_put_union(out, 0);
	}
	avro_put_long(out, t->error);
	avro_put_optional_string(out, err_name, 64);
	avro_put_long(out, (int64_t)t->bytes_sent);
	avro_put_long(out, (int64_t)t->bytes_acked);
	avro_put_long(out, (int64_t)t->bytes_received);
	avro_put_long(out, (int64_t)t->bytes_retrans);
}

void kernel_encode(const void *record, int kind, struct avro_buf *out)
{
	if (kind == KIND_OOM_KILL) {
		encode_oom(record, out);
	} else if (kind >= KIND_TCP_CONNECT) {
		encode_tcp(record, out);
	} else if (kind == KIND_EXEC) {
		const struct kernel_exec *e = record;

		avro_put_long(out, e->pid);
		avro_put_long(out, e->ppid);
		avro_put_string(out, e->comm, sizeof(e->comm));
		avro_put_union(out, 1); /* exec */
		avro_put_long(out, e->uid);
		avro_put_long(out, e->gid);
		avro_put_string(out, e->filename, sizeof(e->filename));
		avro_put_bool(out, e->flags & KERNEL_EXEC_FILENAME_TRUNCATED);
		if (redaction) {
			/* Before encoding: neither Kafka nor the spool ever holds the secret. */
			static char redacted[REDACT_OUT_MAX(KERNEL_ARGS_LEN)];
			unsigned n = 0;
			size_t len = redact_args(redaction, e->args, e->args_len, redacted,
						 sizeof(redacted), &n);

			args_redacted += n;
			put_args(out, redacted, len);
		} else {
			put_args(out, e->args, e->args_len);
		}
		avro_put_bool(out, e->flags & KERNEL_EXEC_ARGS_TRUNCATED);
		avro_put_union(out, 0); /* exit: null */
		avro_put_union(out, 0); /* oom: null */
		avro_put_union(out, 0); /* tcp: null */
	} else {
		const struct kernel_exit *e = record;
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
		avro_put_union(out, 0); /* oom: null */
		avro_put_union(out, 0); /* tcp: null */
	}
}

static enum decode_result kernel_ring_record(struct collector_runtime *c, const void *data,
					     size_t size)
{
	const struct tapio_hdr *hdr = data;
	int kind;
	enum decode_result r = kernel_check(data, size, &kind);

	if (r != DECODE_OK)
		return r;
	kernel_encode(data, kind, pipeline_begin(c, hdr->ktime_ns, hdr->cgroup_id, kind));
	pipeline_commit(c);
	return DECODE_OK;
}

static void kernel_stop(struct collector_runtime *c)
{
	(void)c;
	if (skel)
		kernel_bpf__detach(skel);
}

static void kernel_destroy(struct collector_runtime *c)
{
	(void)c;
	kernel_bpf__destroy(skel);
	skel = NULL;
	redact_free(redaction);
	redaction = NULL;
}

static void kernel_render_metrics(const struct collector_runtime *c, FILE *out)
{
	(void)c;
	fprintf(out, "# HELP tapio_kernel_args_redacted_total Argument values replaced by "
		     "kernel_redact_args before encoding.\n"
		     "# TYPE tapio_kernel_args_redacted_total counter\n"
		     "tapio_kernel_args_redacted_total %" PRIu64 "\n", args_redacted);
}

const struct collector_ops kernel_collector = {
	.name = "kernel",
	.open = kernel_open,
	.ring_record = kernel_ring_record,
	.stop = kernel_stop,
	.render_metrics = kernel_render_metrics,
	.destroy = kernel_destroy,
};
