/* "Did you mean": edit distance over short words such as keys, commands
 * and plugin names. */
#include "config.h"

#include <string.h>

#include "suggest.h"

#define MAX_WORD 64

size_t
flue_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[MAX_WORD];

	if (la >= MAX_WORD - 1 || lb >= MAX_WORD - 1)
		return (size_t)-1 / 2;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *
flue_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *closest = NULL;
	size_t best = 3, limit = strlen(word) / 2 + 1;

	for (size_t i = 0; n ? i < n : candidates[i] != NULL; i++) {
		size_t d = flue_edit_distance(word, candidates[i]);

		if (d < best && d <= limit && d > 0) {
			best = d;
			closest = candidates[i];
		}
	}
	return closest;
}
