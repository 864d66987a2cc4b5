/* Waiting for a retry; see wait.h. */
#include "config.h"

#include <poll.h>
#include <time.h>

#include "wait.h"

#define WAIT_POLL_MAX_MS 1000
#define WAIT_CANCEL_SLICE_MS 50    /* a cancel handle without an fd */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
plugin_sleep(const struct flue_host *host, const struct flue_cancel *cancel,
             int64_t ms)
{
	int64_t end = now_ms() + ms;
	int fd = host->cancel_fd(cancel);

	for (;;) {
		int64_t rest = end - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (host->cancel_is_set(cancel))
			return FLUE_ECANCELED;
		if (rest <= 0)
			return 0;
		if (fd < 0 && cancel != NULL && rest > WAIT_CANCEL_SLICE_MS)
			rest = WAIT_CANCEL_SLICE_MS;
		if (rest > WAIT_POLL_MAX_MS)
			rest = WAIT_POLL_MAX_MS;
		poll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, (int)rest);
	}
}
