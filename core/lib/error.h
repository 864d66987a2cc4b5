/* Error filling helpers shared by the core.  The public functions
 * (flue_error_set and friends) live in error.c; this header adds the
 * errno mapping the core uses internally. */
#ifndef FLUE_LIB_ERROR_H
#define FLUE_LIB_ERROR_H

#include <flue/flue.h>

/* Map an errno value to a FLUE_E* code. */
int flue_status_from_errno(int errnum);

#endif
