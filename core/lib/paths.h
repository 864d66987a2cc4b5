/* Lexical path arithmetic, shared by the core's tools, the vercel plugin
 * (compiled into it: plugins never link libflue) and its test fake. */
#ifndef FLUE_LIB_PATHS_H
#define FLUE_LIB_PATHS_H

/* Collapse "//", "." and ".." of an absolute path lexically (".." at the
 * root stays there), so that paths that do not exist yet work too.
 * malloc'd; NULL when out of memory. */
char *flue_path_normalize(const char *abs);

/* path made absolute against base (when relative) and normalised.
 * malloc'd; NULL when out of memory. */
char *flue_path_resolve(const char *base, const char *path);

#endif
