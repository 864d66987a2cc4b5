/* ndjson lines, split on '\n' at the byte level.  A multi-byte character
 * cut across two network reads is joined here before any JSON (or UTF-8)
 * decoding sees it. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vercel.h"

int
vc_grow(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	char *grown;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	grown = realloc(*buf, n);
	if (grown == NULL)
		return FLUE_ENOMEM;
	*buf = grown;
	*cap = n;
	return 0;
}

static int
append(struct vc_lines *l, const char *data, size_t len)
{
	if (vc_grow(&l->buf, &l->cap, l->len + len + 1) != 0)
		return FLUE_ENOMEM;
	memcpy(l->buf + l->len, data, len);
	l->len += len;
	l->buf[l->len] = '\0';
	return 0;
}

static int
emit(const char *line, size_t len, vc_line_fn fn, void *arg)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return fn(arg, line, len);
	return 0;   /* blank lines are skipped, as the SDK does */
}

int
vc_lines_feed(struct vc_lines *l, const char *data, size_t len,
              vc_line_fn fn, void *arg)
{
	size_t max = l->max_line ? l->max_line : (64u << 20);

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		int rc;

		if (l->len + take > max)
			return FLUE_EIO;
		if (nl == NULL)
			return append(l, data, take);
		/* Lines are gathered in the buffer so the callback always
		 * gets a NUL-terminated line. */
		if ((rc = append(l, data, take)) != 0)
			return rc;
		rc = emit(l->buf, l->len, fn, arg);
		l->len = 0;
		if (rc != 0)
			return rc;
		data += take + 1;
		len -= take + 1;
	}
	return 0;
}

size_t
vc_lines_pending(const struct vc_lines *l)
{
	return l->len;
}

void
vc_lines_clear(struct vc_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}
