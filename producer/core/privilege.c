/* Least privilege for the steady state (privilege.h). */
#include "privilege.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define CAPS_MAX 64

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

void privilege_names(uint64_t caps, char *buf, size_t size)
{
	size_t used = 0;

	if (!size)
		return;
	buf[0] = '\0';
	for (int c = 0; c < CAPS_MAX && used < size; c++) {
		int n;

		if (!(caps >> c & 1))
			continue;
		if (c < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
			n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", cap_names[c]);
		else
			n = snprintf(buf + used, size - used, "%scap_%d", used ? ", " : "", c);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, size, "none");
}

/* The calling thread's sets, 64 bits each. */
struct caps {
	uint64_t effective, permitted, inheritable;
};

static int caps_get(struct caps *c)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	c->effective = d[0].effective | (uint64_t)d[1].effective << 32;
	c->permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->inheritable = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

/* capset() is per thread: it changes the calling thread only. */
static int caps_set(const struct caps *c)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)c->effective, (uint32_t)c->permitted, (uint32_t)c->inheritable },
		{ (uint32_t)(c->effective >> 32), (uint32_t)(c->permitted >> 32),
		  (uint32_t)(c->inheritable >> 32) },
	};

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* The highest capability this kernel knows. */
static int cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last >= CAPS_MAX)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

int privilege_drop_thread(void)
{
	struct caps none = { 0 };
	int err, last = cap_last();

	/* The bounding set first, while CAP_SETPCAP is there (if it ever was). */
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	err = caps_set(&none);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 && !err)
		err = -errno;
	return err;
}

/* True when reading a BPF map from user space fails without CAP_BPF and CAP_SYS_ADMIN: tried
 * on a map made for the purpose, with those two out of the effective set for the attempt. */
static bool map_access_needs_cap(const struct caps *now)
{
	struct caps without = *now;
	uint32_t key = 0;
	uint64_t value;
	bool needed = false;
	int fd, err;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tapio_probe", sizeof(key), sizeof(value), 1, NULL);
	if (fd < 0)
		return true; /* cannot tell: keep what map access may need */
	without.effective &= ~(1ull << CAP_BPF | 1ull << CAP_SYS_ADMIN);
	if (caps_set(&without) == 0) {
		err = bpf_map_lookup_elem(fd, &key, &value);
		needed = err < 0 && (errno == EPERM || errno == EACCES);
		caps_set(now);
	} else {
		needed = true;
	}
	close(fd);
	return needed;
}

/* Deny-list seccomp filter, for the architectures whose numbers this file knows. */
#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#else
#error "privilege.c: add this architecture's AUDIT_ARCH and check the syscall list"
#endif

/* The sanitizer builds' leak check stops the threads with ptrace at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

static const long denied[] = {
	SYS_execve, SYS_execveat,
#ifndef SANITIZER_BUILD
	SYS_ptrace,
#endif
	SYS_process_vm_readv, SYS_process_vm_writev, SYS_pidfd_getfd,
	SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_setns, SYS_unshare,
	SYS_open_tree, SYS_move_mount, SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick,
#ifdef SYS_mount_setattr
	SYS_mount_setattr,
#endif
	SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_kexec_load,
#ifdef SYS_kexec_file_load
	SYS_kexec_file_load,
#endif
	SYS_reboot, SYS_swapon, SYS_swapoff, SYS_acct, SYS_quotactl, SYS_syslog, SYS_vhangup,
	SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex, SYS_personality,
	SYS_keyctl, SYS_add_key, SYS_request_key, SYS_userfaultfd, SYS_perf_event_open,
	SYS_fanotify_init, SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
#if defined(__x86_64__)
	SYS_iopl, SYS_ioperm, SYS_uselib,
#endif
};

/* bpf() commands the steady state uses: map access, object info, detaching links, and running
 * an already loaded program (cni resolves nsids with its raw_tp program through TEST_RUN). */
static const uint32_t bpf_allowed[] = {
	BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY,
	BPF_MAP_LOOKUP_AND_DELETE_ELEM, BPF_MAP_LOOKUP_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH,
	BPF_MAP_UPDATE_BATCH, BPF_MAP_DELETE_BATCH, BPF_OBJ_GET_INFO_BY_FD, BPF_LINK_DETACH,
	BPF_PROG_TEST_RUN,
};

#define CLONE_NEW_ANY                                                                        \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

#define NR_OFF offsetof(struct seccomp_data, nr)
#define ARCH_OFF offsetof(struct seccomp_data, arch)
#define ARG0_LO offsetof(struct seccomp_data, args[0]) /* little-endian: the low 32 bits */

#define FILTER_MAX 160

struct filter {
	struct sock_filter insn[FILTER_MAX];
	unsigned short len;
};

static void emit(struct filter *f, struct sock_filter insn)
{
	if (f->len < FILTER_MAX)
		f->insn[f->len] = insn;
	f->len++;
}

#define RET_ERRNO(e) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define RET_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static int build_filter(struct filter *f)
{
	size_t ndenied = sizeof(denied) / sizeof(denied[0]);
	size_t nbpf = sizeof(bpf_allowed) / sizeof(bpf_allowed[0]);

	f->len = 0;
	/* Another architecture's calling convention (i386 on x86_64): other numbers, refused. */
	emit(f, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_OFF));
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0));
	emit(f, (struct sock_filter)RET_ERRNO(EPERM));
	emit(f, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF));
#if defined(__x86_64__)
	/* x32 numbers alias the same calls: refused. */
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
	emit(f, (struct sock_filter)RET_ERRNO(EPERM));
#endif
	for (size_t i = 0; i < ndenied; i++) {
		emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied[i], 0, 1));
		emit(f, (struct sock_filter)RET_ERRNO(EPERM));
	}
	/* clone3's flags sit behind a pointer: ENOSYS makes glibc fall back to clone. */
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
	emit(f, (struct sock_filter)RET_ERRNO(ENOSYS));
	/* clone: threads yes, new namespaces no. */
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4));
	emit(f, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO));
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEW_ANY, 0, 1));
	emit(f, (struct sock_filter)RET_ERRNO(EPERM));
	emit(f, (struct sock_filter)RET_ALLOW);
	/* bpf: the listed commands only. */
	emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_bpf, 0,
					      (uint8_t)(nbpf + 2)));
	emit(f, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO));
	for (size_t i = 0; i < nbpf; i++)
		emit(f, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bpf_allowed[i],
						      (uint8_t)(nbpf - i), 0));
	emit(f, (struct sock_filter)RET_ERRNO(EPERM));
	emit(f, (struct sock_filter)RET_ALLOW);
	return f->len <= FILTER_MAX ? 0 : -E2BIG;
}

/* Installs the filter in every thread of the process (TSYNC), which also gives each of them
 * no_new_privs. 0 or -errno. */
static int install_seccomp(void)
{
	static struct filter f;
	struct sock_fprog prog;
	long ret;
	int err;

	err = build_filter(&f);
	if (err)
		return err;
	prog = (struct sock_fprog){ .len = f.len, .filter = f.insn };
	ret = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (ret < 0)
		return -errno;
	if (ret > 0)
		return -EAGAIN; /* thread `ret` could not be synchronised */
	return 0;
}

/* Threads other than the caller that hold a capability; names them in the log. */
static int privileged_threads(int *threads)
{
	char path[64], line[256], comm[64];
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct dirent *d;
	int found = 0;
	DIR *dir = opendir("/proc/self/task");

	*threads = 0;
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		uint64_t permitted = 0;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		(*threads)++;
		if (atoi(d->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/status", d->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		comm[0] = '\0';
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "Name: %63s", comm) == 1)
				continue;
			if (sscanf(line, "CapPrm: %" SCNx64, &permitted) == 1)
				break;
		}
		fclose(f);
		if (permitted) {
			found++;
			log_warn("privileges: thread %s (%s) still holds capabilities %" PRIx64
				 " (it was started with them)", d->d_name, comm, permitted);
		}
	}
	closedir(dir);
	return found;
}

#define BIT(c) (1ull << (c))

int privilege_drop(struct privilege_state *st)
{
	struct caps now = { 0 }, keep;
	char names[512];
	int err, first_err = 0, last;

	memset(st, 0, sizeof(*st));
	err = caps_get(&now);
	if (err) {
		log_warn("privileges: capget: %s; keeping them", strerror(-err));
		return err;
	}
	st->kept = now.permitted & BIT(CAP_DAC_READ_SEARCH);
	if (now.permitted & (BIT(CAP_BPF) | BIT(CAP_SYS_ADMIN)) && map_access_needs_cap(&now)) {
		st->bpf_cap_needed = true;
		st->kept |= now.permitted & BIT(CAP_BPF) ? BIT(CAP_BPF) : BIT(CAP_SYS_ADMIN);
	}
	st->dropped = now.permitted & ~st->kept;

	/* The bounding set first, while CAP_SETPCAP is still in effect. */
	last = cap_last();
	st->bounding_dropped = true;
	for (int c = 0; c <= last; c++) {
		if (st->kept & BIT(c) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			st->bounding_dropped = false;
			if (!first_err)
				first_err = -errno;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	keep = (struct caps){ .effective = st->kept, .permitted = st->kept };
	err = caps_set(&keep);
	if (err) {
		log_warn("privileges: capset: %s; capabilities kept", strerror(-err));
		first_err = first_err ? first_err : err;
		st->kept = now.permitted;
		st->dropped = 0;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
		st->no_new_privs = true;
	} else if (!first_err) {
		first_err = -errno;
	}
	err = install_seccomp();
	if (err) {
		log_warn("privileges: no seccomp filter: %s", strerror(-err));
		first_err = first_err ? first_err : err;
	} else {
		st->seccomp = true;
	}
	st->threads_privileged = privileged_threads(&st->threads);

	privilege_names(st->kept, names, sizeof(names));
	log_info("privileges: kept %s%s%s; no_new_privs %s; seccomp filter %s in %d thread(s); "
		 "%d other thread(s) with capabilities", names,
		 st->kept & BIT(CAP_DAC_READ_SEARCH) ? " (open_by_handle_at for cgroup ids)" : "",
		 st->bpf_cap_needed ? " (this kernel wants it for BPF map access)" : "",
		 st->no_new_privs ? "on" : "off", st->seccomp ? "on" : "off", st->threads,
		 st->threads_privileged);
	/* Harmless when the rest held: the bounding set only limits what an execve() could gain,
	 * and no_new_privs and the seccomp filter (no execve at all) already rule that out. */
	if (!st->bounding_dropped)
		log_at(st->no_new_privs && st->seccomp ? LOG_INFO : LOG_WARN,
		       "privileges: the bounding set stays as it was (no CAP_SETPCAP)%s",
		       st->no_new_privs && st->seccomp ? "; no_new_privs and the filter's execve ban "
		       "make it moot" : "");
	return first_err;
}
