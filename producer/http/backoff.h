/*
 * Retry delays for the HTTP collectors: jittered exponential backoff, as client-go's reflector
 * does it (0.8 s doubling to 30 s, reset after two healthy minutes), honouring a server's
 * Retry-After.
 *
 * Pure: the clock and the random number are passed in, so a test can check every delay exactly.
 * A failure's delay is base × (1 − 0.2 × random / 2^32), in (0.8 × base, base]: never above the
 * base (so never above max_ms), and spread so that many nodes do not retry in step. The base
 * starts at initial_ms and doubles after every failure up to max_ms. It returns to initial_ms
 * when the failure comes after healthy_reset_ms of success (from the first success following
 * the previous failure). A Retry-After (429/503) lengthens the delay to that many seconds, at
 * most retry_after_max_s (5 min), so a server cannot park a collector for a day.
 *
 * Ownership: plain data, no resources. Threading: none.
 */
#ifndef TAPIO_BACKOFF_H
#define TAPIO_BACKOFF_H

#include <stdint.h>

#define BACKOFF_INITIAL_MS 800
#define BACKOFF_MAX_MS 30000
#define BACKOFF_HEALTHY_RESET_MS 120000
#define BACKOFF_RETRY_AFTER_MAX_S 300
#define BACKOFF_JITTER_PERCENT 20

struct backoff {
	uint32_t initial_ms, max_ms, healthy_reset_ms, retry_after_max_s;
	uint32_t base_ms;         /* the next failure's delay before jitter */
	int64_t healthy_since_ms; /* first success since the last failure; -1 = none since */
	uint32_t failures;        /* failures since the base was last reset */
};

/* The defaults above; no failure yet. */
void backoff_init(struct backoff *b);

/* A request succeeded at now_ms (monotonic). */
void backoff_success(struct backoff *b, int64_t now_ms);

/* A request failed at now_ms: returns how long to wait before the next attempt, in ms, and
 * advances the base. `random` is uniform over uint32_t; retry_after_s is the server's
 * Retry-After in seconds, 0 when absent. */
uint32_t backoff_failure(struct backoff *b, int64_t now_ms, uint32_t random,
			 uint32_t retry_after_s);

#endif /* TAPIO_BACKOFF_H */
