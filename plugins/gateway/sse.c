/* Server-sent events: https://html.spec.whatwg.org/multipage/
 * server-sent-events.html#event-stream-interpretation, on raw bytes.
 * Bytes are buffered until a line ends, so nothing is decoded while a
 * character or a CR LF may still be split across reads. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void
sse_parser_init(struct sse_parser *parser, sse_event_fn on_event, void *arg)
{
	memset(parser, 0, sizeof(*parser));
	parser->on_event = on_event;
	parser->arg = arg;
	parser->retry_ms = -1;
}

void
sse_parser_free(struct sse_parser *parser)
{
	free(parser->line);
	free(parser->data);
	free(parser->type);
	free(parser->last_id);
	memset(parser, 0, sizeof(*parser));
}

static int
grow(char **buf, size_t *cap, size_t need)
{
	size_t cap2 = *cap ? *cap : 256;
	char *grown;

	if (need <= *cap)
		return 0;
	if (need > SSE_MAX_LINE + 1)
		return SSE_ETOOLONG;
	while (cap2 < need)
		cap2 *= 2;
	grown = realloc(*buf, cap2);
	if (grown == NULL)
		return SSE_ENOMEM;
	*buf = grown;
	*cap = cap2;
	return 0;
}

static char *
dup_n(const char *s, size_t n)
{
	char *out = malloc(n + 1);

	if (out != NULL) {
		memcpy(out, s, n);
		out[n] = '\0';
	}
	return out;
}

static int
dispatch(struct sse_parser *p)
{
	struct sse_event event;
	int rc = 0;

	p->pending = 0;
	if (p->data_len > 0) {
		p->data_len--;   /* the "\n" after the last data line */
		p->data[p->data_len] = '\0';
		event.type = p->type ? p->type : "message";
		event.data = p->data;
		event.data_len = p->data_len;
		event.last_id = p->last_id ? p->last_id : "";
		rc = p->on_event(p->arg, &event);
	}
	p->data_len = 0;
	free(p->type);
	p->type = NULL;
	return rc;
}

/* One complete line (without its ending). */
static int
process_line(struct sse_parser *p, const char *line, size_t len)
{
	const char *colon, *value;
	size_t name_len, value_len;
	int rc;

	if (len == 0)
		return dispatch(p);
	if (line[0] == ':')
		return 0;   /* a comment (heartbeats) */
	p->pending = 1;
	colon = memchr(line, ':', len);
	name_len = colon ? (size_t)(colon - line) : len;
	value = colon ? colon + 1 : line + len;
	value_len = len - (size_t)(value - line);
	if (value_len > 0 && value[0] == ' ') {
		value++;
		value_len--;
	}
	if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		rc = grow(&p->data, &p->data_cap, p->data_len + value_len + 2);
		if (rc != 0)
			return rc;
		memcpy(p->data + p->data_len, value, value_len);
		p->data_len += value_len;
		p->data[p->data_len++] = '\n';
		p->data[p->data_len] = '\0';
	} else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		free(p->type);
		p->type = dup_n(value, value_len);
		if (p->type == NULL)
			return SSE_ENOMEM;
	} else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(value, '\0', value_len) == NULL) {
			free(p->last_id);
			p->last_id = dup_n(value, value_len);
			if (p->last_id == NULL)
				return SSE_ENOMEM;
		}
	} else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
		long ms = 0;
		size_t i;

		for (i = 0; i < value_len && value[i] >= '0' && value[i] <= '9' &&
		     ms < 100000000; i++)
			ms = ms * 10 + (value[i] - '0');
		if (i == value_len && value_len > 0)
			p->retry_ms = ms;
	}
	/* Any other field is ignored, as the standard says. */
	return 0;
}

int
sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len)
{
	size_t i = 0;
	int rc;

	if (!p->started && len > 0) {
		/* A BOM may be split too: wait for three bytes or a non-match. */
		static const char bom[] = "\xef\xbb\xbf";
		size_t have = p->line_len;

		while (i < len && have < 3 && bytes[i] == bom[have]) {
			rc = grow(&p->line, &p->line_cap, have + 2);
			if (rc != 0)
				return rc;
			p->line[have++] = bytes[i++];
		}
		if (have == 3) {
			p->line_len = 0;
			p->started = 1;
		} else if (i < len) {
			p->line_len = have;   /* not a BOM: those bytes are text */
			p->started = 1;
		} else {
			p->line_len = have;
			return 0;
		}
	}
	while (i < len) {
		const char *start = bytes + i;
		const char *cr = memchr(start, '\r', len - i);
		const char *lf = memchr(start, '\n', len - i);
		const char *end = cr && (!lf || cr < lf) ? cr : lf;
		size_t n;

		if (p->after_cr) {
			p->after_cr = 0;
			if (bytes[i] == '\n') {
				i++;
				continue;
			}
		}
		if (end == NULL) {
			rc = grow(&p->line, &p->line_cap, p->line_len + (len - i) + 1);
			if (rc != 0)
				return rc;
			memcpy(p->line + p->line_len, start, len - i);
			p->line_len += len - i;
			return 0;
		}
		n = (size_t)(end - start);
		if (p->line_len > 0) {
			rc = grow(&p->line, &p->line_cap, p->line_len + n + 1);
			if (rc != 0)
				return rc;
			memcpy(p->line + p->line_len, start, n);
			p->line_len += n;
			rc = process_line(p, p->line, p->line_len);
			p->line_len = 0;
		} else {
			if (n > SSE_MAX_LINE)
				return SSE_ETOOLONG;
			rc = process_line(p, start, n);
		}
		if (rc != 0)
			return rc;
		i += n + 1;
		if (*end == '\r') {
			if (i < len && bytes[i] == '\n')
				i++;
			else if (i == len)
				p->after_cr = 1;
		}
	}
	return 0;
}

int
sse_parser_truncated(const struct sse_parser *p)
{
	return p->line_len > 0 || p->pending || p->data_len > 0;
}
