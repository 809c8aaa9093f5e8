/*
 * Least privilege for the steady state. Loading and attaching BPF programs, mounting tracefs,
 * reading /proc/kallsyms and walking the cgroup tree need capabilities; what runs afterwards
 * (ring buffers, packet and cgroup-name parsing, Kafka, the spool, /metrics) needs almost none:
 *
 *   CAP_DAC_READ_SEARCH  kept: the identity cache resolves a cgroup it has not seen by its id
 *                        with open_by_handle_at(), which requires it
 *   CAP_BPF              kept only where the kernel wants it to read and update BPF maps from
 *                        user space (before 6.5 with unprivileged BPF disabled): found by trying
 *                        a map lookup without it (CAP_SYS_ADMIN on kernels without CAP_BPF)
 *
 * Everything else goes from the event loop's thread (effective, permitted, inheritable, ambient
 * and bounding sets); threads that never need privilege hold none from their start (see
 * privilege_drop_thread()). no_new_privs is set, and a seccomp filter in every thread refuses
 * with EPERM what the steady state never does and an intruder would want: execve, ptrace,
 * mount and namespace changes, module loading, loading BPF programs or maps (map access stays),
 * perf_event_open, io_uring, keyrings, userfaultfd, new namespaces through clone (clone3 gets
 * ENOSYS, so threads are made with clone, whose flags the filter can read). A deny-list, not an
 * allow-list: the libraries (librdkafka, OpenSSL, libcurl, glibc) vary in the rest, and a
 * refused call there would be an outage, not a defence.
 */
#ifndef TAPIO_PRIVILEGE_H
#define TAPIO_PRIVILEGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct privilege_state {
	uint64_t kept;          /* capabilities the event loop's thread keeps, bit n = capability n */
	uint64_t dropped;       /* those it had and dropped */
	bool bpf_cap_needed;    /* map access from user space needed CAP_BPF/CAP_SYS_ADMIN */
	bool bounding_dropped;  /* the bounding set holds only `kept` */
	bool no_new_privs;
	bool seccomp;           /* the filter is installed in every thread */
	int threads;            /* threads of the process, the event loop's included */
	int threads_privileged; /* other threads still holding a capability (0 unless a thread was
				 * started with them: it is named in the log) */
};

/*
 * Drops what the steady state does not need (above), from the calling thread: call it once from
 * the event loop's thread, after pipeline_attach(). Logs what it kept and why, and anything it
 * could not do; the producer goes on either way. 0, or the -errno of the first step that failed.
 */
int privilege_drop(struct privilege_state *st);

/*
 * For a thread that never needs privilege: drops every capability of the calling thread and sets
 * no_new_privs on it; the threads it starts inherit both. publisher_open() starts librdkafka (and
 * the embedded broker) from such a thread, so their threads never hold a capability; a collector
 * worker thread should call it first thing. 0 or -errno.
 */
int privilege_drop_thread(void);

/* "CAP_DAC_READ_SEARCH, CAP_BPF" for the bits in caps ("none" when there are none). */
void privilege_names(uint64_t caps, char *buf, size_t size);

#endif /* TAPIO_PRIVILEGE_H */
