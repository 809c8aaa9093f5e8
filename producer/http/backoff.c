#include "backoff.h"

void backoff_init(struct backoff *b)
{
	*b = (struct backoff){
		.initial_ms = BACKOFF_INITIAL_MS,
		.max_ms = BACKOFF_MAX_MS,
		.healthy_reset_ms = BACKOFF_HEALTHY_RESET_MS,
		.retry_after_max_s = BACKOFF_RETRY_AFTER_MAX_S,
		.base_ms = BACKOFF_INITIAL_MS,
		.healthy_since_ms = -1,
	};
}

void backoff_success(struct backoff *b, int64_t now_ms)
{
	if (b->healthy_since_ms < 0)
		b->healthy_since_ms = now_ms;
}

uint32_t backoff_failure(struct backoff *b, int64_t now_ms, uint32_t random,
			 uint32_t retry_after_s)
{
	uint64_t delay, jitter, retry_after_ms;

	if (b->healthy_since_ms >= 0 && now_ms - b->healthy_since_ms >= b->healthy_reset_ms) {
		b->base_ms = b->initial_ms;
		b->failures = 0;
	}
	b->healthy_since_ms = -1;
	b->failures++;
	jitter = (uint64_t)b->base_ms * BACKOFF_JITTER_PERCENT * random / 100 >> 32;
	delay = b->base_ms - jitter;
	b->base_ms = b->base_ms >= b->max_ms / 2 ? b->max_ms : b->base_ms * 2;
	if (retry_after_s > b->retry_after_max_s)
		retry_after_s = b->retry_after_max_s;
	retry_after_ms = (uint64_t)retry_after_s * 1000;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	return (uint32_t)delay;
}
