/* Cancellation handles: a one-shot flag with a pollable descriptor. */
#ifndef FLUE_LIB_CANCEL_H
#define FLUE_LIB_CANCEL_H

#include <flue/flue.h>

/* The descriptor that becomes readable once the handle is triggered, or
 * -1 for a NULL handle.  Borrowed: never read or close it. */
int flue_cancel_fd(const struct flue_cancel *cancel);

#endif
