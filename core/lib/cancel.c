/* A cancellation handle is an atomic flag plus an eventfd: the flag for
 * cheap checks, the eventfd so that a poll() loop in a plugin wakes up
 * the moment someone cancels.  trigger() is async-signal-safe, so Ctrl-C
 * handlers may call it. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cancel.h"
#include "common.h"
#include "error.h"

struct flue_cancel {
	volatile int set;     /* accessed with __atomic builtins */
	int fd;               /* eventfd, owned */
};

FLUE_API int
flue_cancel_new(struct flue_cancel **out, struct flue_error *err)
{
	struct flue_cancel *cancel;

	*out = NULL;
	cancel = calloc(1, sizeof(*cancel));
	if (cancel == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	cancel->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cancel->fd < 0) {
		int code = flue_status_from_errno(errno);

		flue_error_set(err, code, "cannot create a cancellation handle: %s",
		               strerror(errno));
		free(cancel);
		return code;
	}
	*out = cancel;
	return 0;
}

FLUE_API void
flue_cancel_trigger(struct flue_cancel *cancel)
{
	uint64_t one = 1;

	if (cancel == NULL)
		return;
	if (__atomic_exchange_n(&cancel->set, 1, __ATOMIC_SEQ_CST) == 0) {
		/* The counter is never read, so it stays readable forever. */
		ssize_t n = write(cancel->fd, &one, sizeof(one));
		(void)n;
	}
}

FLUE_API int
flue_cancel_is_set(const struct flue_cancel *cancel)
{
	if (cancel == NULL)
		return 0;
	return __atomic_load_n(&cancel->set, __ATOMIC_SEQ_CST);
}

int
flue_cancel_fd(const struct flue_cancel *cancel)
{
	return cancel == NULL ? -1 : cancel->fd;
}

FLUE_API void
flue_cancel_free(struct flue_cancel *cancel)
{
	if (cancel == NULL)
		return;
	close(cancel->fd);
	free(cancel);
}
