// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark-only synthetic source (tests/bench/): a BPF_PROG_TEST_RUN program that writes
 * kernel_exec records into a ring buffer as fast as the kernel can. User space points `events`
 * at the kernel collector's own ring buffer (bpf_map__reuse_fd), so the real decode path reads
 * real-shaped records. Not attached to any hook; never loaded by the producer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "kernel.h"
#include "bench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

const volatile __u32 bench_wakeup_mode = BENCH_WAKEUP_THRESHOLD;
const volatile __u64 bench_wakeup_bytes = 256 * 1024;

/* Filled by user space after load (the .bss map is mmap-ed). */
struct kernel_exec template_exec;

struct emit_state {
	__u64 cgroup_id;
	__u32 pid_base;
	__u32 done;
};

/* As the kernel collector's output_record(): the template is the scratch record, and only its
 * hdr.size bytes (up to the end of argv) are copied into the ring. */
static long emit_one(__u32 i, void *data)
{
	struct emit_state *st = data;
	__u32 size = template_exec.hdr.size;
	__u64 flags = 0;

	if (size > sizeof(template_exec))
		return 1;
	template_exec.hdr.ktime_ns = bpf_ktime_get_boot_ns();
	template_exec.hdr.cgroup_id = st->cgroup_id;
	template_exec.pid = st->pid_base + i;
	if (bench_wakeup_mode == BENCH_WAKEUP_THRESHOLD)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= bench_wakeup_bytes ?
				BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &template_exec, size, flags))
		return 1; /* ring full: stop, the caller decides whether that is loss or back-pressure */
	st->done++;
	return 0;
}

SEC("syscall")
int bench_emit(struct bench_ctx *ctx)
{
	struct emit_state st = { .cgroup_id = ctx->cgroup_id, .pid_base = ctx->pid_base };

	bpf_loop(ctx->count, emit_one, &st, 0);
	ctx->done = st.done;
	return st.done;
}
