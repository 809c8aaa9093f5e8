/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every collector's BPF object has: the ring buffer its records go to, and a per-CPU count
 * of the records it could not reserve there (user space sums it into the loss counters).
 * Include once per .bpf.c, after vmlinux.h and bpf_helpers.h; define RINGBUF_BYTES first to size
 * the ring buffer (a power of two, a multiple of the page size), and RINGBUF_COUNTERS for more
 * per-CPU counter slots than slot 0 (reserve failures): slot 1 is read by user space as "records
 * sent without their start because a BPF state map was full".
 */
#ifndef TAPIO_RINGBUF_BPF_H
#define TAPIO_RINGBUF_BPF_H

#ifndef RINGBUF_BYTES
#define RINGBUF_BYTES (1 << 22)
#endif
#ifndef RINGBUF_COUNTERS
#define RINGBUF_COUNTERS 1
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RINGBUF_COUNTERS);
	__type(key, u32);
	__type(value, u64);
} reserve_failures SEC(".maps");

static __always_inline void count_slot(u32 slot)
{
	u64 *n = bpf_map_lookup_elem(&reserve_failures, &slot);

	if (n)
		*n += 1;
}

/* A record of `size` bytes in the ring buffer, or NULL (counted in slot 0) when it is full. */
static __always_inline void *reserve_record(u32 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec)
		count_slot(0);
	return rec;
}

/* Wake the reader only once this much is queued (or half the ring, when the ring is smaller);
 * below it, the reader finds the records on its own within RING_POLL_MS (producer/main.c). A
 * wake-up per record costs the reader a context switch per record at low rates (BENCHMARKS.md). */
#ifndef RINGBUF_WAKEUP_BYTES
#define RINGBUF_WAKEUP_BYTES (256 * 1024)
#endif

static __always_inline u64 wakeup_flags(void)
{
	u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	u64 half = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2;

	return queued >= RINGBUF_WAKEUP_BYTES || queued >= half ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void submit_record(void *rec)
{
	bpf_ringbuf_submit(rec, wakeup_flags());
}

/* Copies a record built elsewhere (a per-CPU scratch map) into the ring buffer, taking only
 * `size` bytes of it: for records whose length is known once they are built, since
 * bpf_ringbuf_reserve() takes a constant size. A full ring is counted in slot 0. */
static __always_inline void output_record(const void *rec, u64 size)
{
	if (bpf_ringbuf_output(&events, (void *)rec, size, wakeup_flags()))
		count_slot(0);
}

#endif /* TAPIO_RINGBUF_BPF_H */
