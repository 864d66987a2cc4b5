/* Small things every core module uses. */
#ifndef FLUE_LIB_COMMON_H
#define FLUE_LIB_COMMON_H

/* Marks the documented API; everything else in libflue is hidden. */
#define FLUE_API __attribute__((visibility("default")))

#define FLUE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
