/* Making appended data durable, shared by the writers that promise it
 * (session histories, run records).  One fdatasync per append is what a
 * lone run needs; under load (a server running many sessions) the
 * flushes are grouped: while one is under way, later callers wait for
 * the next one, which covers them all, so N concurrent appends cost
 * about two flushes instead of N. */
#ifndef FLUE_LIB_DURABLE_H
#define FLUE_LIB_DURABLE_H

/* Return once everything written to fd so far is on stable storage:
 * 0, or -1 with errno set. */
int flue_durable_sync(int fd);

#endif
