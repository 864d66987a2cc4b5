/* "Did you mean": the closest known word to a misspelt one. */
#ifndef FLUE_LIB_SUGGEST_H
#define FLUE_LIB_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a and b (bytes); words of 64 bytes or
 * more count as far apart. */
size_t flue_edit_distance(const char *a, const char *b);

/* The candidate closest to word, if it is close enough to be a likely
 * typo (distance at most 2, and less than half of word's length plus
 * one); NULL otherwise.  candidates is NULL-terminated, or n entries
 * when n is not 0.  [borrowed] from candidates. */
const char *flue_suggest(const char *word, const char *const *candidates,
                         size_t n);

#endif
