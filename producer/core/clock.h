/* Clocks read in the unit each caller keeps, and the counters a worker thread adds to while the
 * event loop reads them: one definition instead of one per file. */
#ifndef TAPIO_CLOCK_H
#define TAPIO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_us(clockid_t clock)
{
	return clock_ns(clock) / 1000;
}

static inline int64_t clock_ms(clockid_t clock)
{
	return clock_ns(clock) / 1000000;
}

/* Relaxed: each counter is read whole (/metrics, the shutdown summary), never used to order
 * other memory. */
static inline void counter_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t counter_load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

#endif
