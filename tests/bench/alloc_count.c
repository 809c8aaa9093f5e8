/*
 * Linked only into pipebench-counting: counts the calling thread's malloc-family calls and frees
 * between alloc_count_start() and alloc_count_stop(). Every allocation in the process (libbpf,
 * librdkafka, ours) goes through these wrappers into glibc's own allocator.
 */
#include <stddef.h>
#include <stdint.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

static __thread int counting;
static __thread uint64_t n_malloc, n_free;

void alloc_count_start(void);
void alloc_count_stop(uint64_t *mallocs, uint64_t *frees);

void alloc_count_start(void)
{
	n_malloc = n_free = 0;
	counting = 1;
}

void alloc_count_stop(uint64_t *mallocs, uint64_t *frees)
{
	counting = 0;
	*mallocs = n_malloc;
	*frees = n_free;
}

void *malloc(size_t size)
{
	if (counting)
		n_malloc++;
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	if (counting)
		n_malloc++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	if (counting)
		n_malloc++;
	return __libc_realloc(p, size);
}

void free(void *p)
{
	if (counting && p)
		n_free++;
	__libc_free(p);
}
