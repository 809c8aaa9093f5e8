/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Benchmark-only: the context user space passes to bench.bpf.c's BPF_PROG_TEST_RUN program.
 * Shared by clang-BPF and gcc; fixed-width types only, layout pinned. Not part of the producer. */
#ifndef TAPIO_BENCH_H
#define TAPIO_BENCH_H

struct bench_ctx {
	__u64 cgroup_id; /* written into every record's header */
	__u32 count;     /* records to emit in this run */
	__u32 pid_base;  /* record i gets pid = pid_base + i */
	__u32 done;      /* out: records emitted (stops at the first failed reserve) */
	__u32 pad;
};

_Static_assert(sizeof(struct bench_ctx) == 24, "bench_ctx layout");

/* bench_wakeup_mode (set before load). */
enum bench_wakeup {
	BENCH_WAKEUP_PER_RECORD = 0, /* bpf_ringbuf_submit(rec, 0): a wake-up per record, as before batching */
	BENCH_WAKEUP_THRESHOLD = 1,  /* what submit_record() does (bpf/ringbuf.bpf.h): BPF_RB_NO_WAKEUP,
				      * BPF_RB_FORCE_WAKEUP once bench_wakeup_bytes are queued */
};

#endif /* TAPIO_BENCH_H */
