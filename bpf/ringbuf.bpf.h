/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every collector's BPF object has: the ring buffer its records go to, and a per-CPU count
 * of the records it could not reserve there (user space sums it into the loss counters).
 * Include once per .bpf.c, after vmlinux.h and bpf_helpers.h; define RINGBUF_BYTES first to size
 * the ring buffer (a power of two, a multiple of the page size).
 */
#ifndef TAPIO_RINGBUF_BPF_H
#define TAPIO_RINGBUF_BPF_H

#ifndef RINGBUF_BYTES
#define RINGBUF_BYTES (1 << 22)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} reserve_failures SEC(".maps");

/* A record of `size` bytes in the ring buffer, or NULL (counted) when it is full. */
static __always_inline void *reserve_record(u32 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec) {
		u32 zero = 0;
		u64 *count = bpf_map_lookup_elem(&reserve_failures, &zero);

		if (count)
			*count += 1;
	}
	return rec;
}

#endif /* TAPIO_RINGBUF_BPF_H */
