/* Small things every core module uses. */
#ifndef FLUE_LIB_COMMON_H
#define FLUE_LIB_COMMON_H

/* Marks the documented API; everything else in libflue is hidden. */
#define FLUE_API __attribute__((visibility("default")))

#define FLUE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock, for durations and deadlines. */
static inline int64_t
flue_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
