/* libFuzzer target for the server-sent events parser (plugins/gateway/
 * sse.c).  The first byte picks a read size; the rest is fed once in
 * one piece and once in pieces of that size (or byte by byte), and both
 * must dispatch exactly the same events: an event split across reads --
 * mid-line, mid-CR LF, mid-UTF-8 -- comes out whole.  Every event's
 * pointers must cover their lengths. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/gateway/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The events of one feeding, serialised: type NUL data NUL id NUL. */
struct log {
	char *bytes;
	size_t len, cap;
	int oom;
};

static void
put(struct log *l, const char *s, size_t n)
{
	if (l->oom)
		return;
	if (l->len + n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		char *p;

		while (cap < l->len + n + 1)
			cap *= 2;
		p = realloc(l->bytes, cap);
		if (p == NULL) {
			l->oom = 1;
			return;
		}
		l->bytes = p;
		l->cap = cap;
	}
	memcpy(l->bytes + l->len, s, n);
	l->len += n;
	l->bytes[l->len++] = '\0';
}

static int
on_event(void *arg, const struct sse_event *ev)
{
	struct log *l = arg;

	if (ev->type == NULL || ev->data == NULL || ev->last_id == NULL ||
	    ev->data[ev->data_len] != '\0')
		abort();
	put(l, ev->type, strlen(ev->type));
	put(l, ev->data, ev->data_len);
	put(l, ev->last_id, strlen(ev->last_id));
	return 0;
}

/* Feed in pieces of split bytes (0: whole); returns the parser's code. */
static int
feed(const char *s, size_t len, size_t split, struct log *l, int *truncated)
{
	struct sse_parser p;
	size_t at = 0;
	int rc = 0;

	sse_parser_init(&p, on_event, l);
	while (at < len && rc == 0) {
		size_t n = split == 0 || split > len - at ? len - at : split;

		rc = sse_parser_feed(&p, s + at, n);
		at += n;
	}
	*truncated = sse_parser_truncated(&p);
	sse_parser_free(&p);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log whole = {0}, pieces = {0};
	int rc1, rc2, t1, t2;
	size_t split;

	if (size == 0)
		return 0;
	split = (data[0] % 16) + 1;
	rc1 = feed((const char *)data + 1, size - 1, 0, &whole, &t1);
	rc2 = feed((const char *)data + 1, size - 1, split, &pieces, &t2);
	if (!whole.oom && !pieces.oom && rc1 == 0 && rc2 == 0) {
		if (whole.len != pieces.len || t1 != t2 ||
		    (whole.len > 0 &&
		     memcmp(whole.bytes, pieces.bytes, whole.len) != 0)) {
			fprintf(stderr, "fuzz_sse: reads of %zu bytes changed the "
			        "events\n", split);
			abort();
		}
	}
	free(whole.bytes);
	free(pieces.bytes);
	return 0;
}
