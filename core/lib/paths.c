/* Lexical path arithmetic; see paths.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

char *
flue_path_normalize(const char *abs)
{
	char *out = malloc(strlen(abs) + 2);
	const char *p = abs;
	size_t len = 0;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		const char *seg;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			continue;
		}
		out[len++] = '/';
		memcpy(out + len, seg, n);
		len += n;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

char *
flue_path_resolve(const char *base, const char *path)
{
	char *joined, *abs;

	if (path[0] == '/')
		return flue_path_normalize(path);
	if (asprintf(&joined, "%s/%s", base, path) < 0)
		return NULL;
	abs = flue_path_normalize(joined);
	free(joined);
	return abs;
}
