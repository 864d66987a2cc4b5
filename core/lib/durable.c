/* Group commit for fdatasync. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "durable.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static uint64_t requested;     /* tickets handed out */
static uint64_t completed;     /* tickets whose data is durable */
static int flushing;
static int waiting;            /* callers asleep for the next flush */

int
flue_durable_sync(int fd)
{
	uint64_t ticket;
	int rc = 0, saved = 0;

	pthread_mutex_lock(&lock);
	ticket = ++requested;
	while (completed < ticket) {
		uint64_t upto;
		int group;

		if (flushing) {
			waiting++;
			pthread_cond_wait(&done_cond, &lock);
			waiting--;
			continue;
		}
		/* Lead a flush that covers every ticket handed out so far.  With
		 * others waiting, one syncfs() flushes all their files at once;
		 * alone, fdatasync() flushes only this one. */
		flushing = 1;
		upto = requested;
		group = upto - completed > 1;
		pthread_mutex_unlock(&lock);
		rc = group ? syncfs(fd) : fdatasync(fd);
		saved = errno;
		pthread_mutex_lock(&lock);
		flushing = 0;
		if (rc == 0)
			completed = upto;
		pthread_cond_broadcast(&done_cond);
		if (rc != 0)
			break;     /* this caller's own flush failed: say so */
	}
	pthread_mutex_unlock(&lock);
	if (rc != 0)
		errno = saved;
	return rc;
}
