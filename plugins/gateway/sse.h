/* Server-sent events, parsed byte by byte as the HTML standard says, so
 * that an event, a line ending (CR LF) or a UTF-8 character split across
 * network reads comes out whole.  Used by the gateway plugin for
 * streaming model answers, and by the tests' fake servers. */
#ifndef FLUE_GATEWAY_SSE_H
#define FLUE_GATEWAY_SSE_H

#include <stddef.h>

/* One dispatched event.  Pointers are [borrowed] from the parser and
 * valid only during the callback; data is NUL-terminated. */
struct sse_event {
	const char *type;       /* "message" unless an event: field set it */
	const char *data;       /* the data: lines joined with "\n" */
	size_t data_len;
	const char *last_id;    /* the last id: seen on the stream, or "" */
};

/* Return 0 to go on; anything else stops sse_parser_feed, which returns
 * it. */
typedef int (*sse_event_fn)(void *arg, const struct sse_event *event);

/* Lines longer than this (a runaway stream) are an error. */
#define SSE_MAX_LINE (16u * 1024 * 1024)

enum {
	SSE_ENOMEM = -1,
	SSE_ETOOLONG = -2
};

struct sse_parser {
	sse_event_fn on_event;
	void *arg;
	char *line;        /* owned: the current, unfinished line */
	size_t line_len, line_cap;
	char *data;        /* owned: data of the event being built */
	size_t data_len, data_cap;
	char *type;        /* owned, or NULL for "message" */
	char *last_id;     /* owned, or NULL */
	long retry_ms;     /* the last retry: field, -1 if none */
	int after_cr;      /* the previous chunk ended with CR */
	int started;       /* a byte has been seen (for the BOM) */
	int pending;       /* fields seen since the last dispatch */
};

void sse_parser_init(struct sse_parser *parser, sse_event_fn on_event,
                     void *arg);
/* Feed len bytes.  0, a callback's non-zero value, SSE_ENOMEM or
 * SSE_ETOOLONG. */
int sse_parser_feed(struct sse_parser *parser, const char *bytes,
                    size_t len);
/* The stream ended.  1 when it ended inside an event (an unfinished line
 * or fields not yet dispatched): the spec drops such an event, and a
 * caller should treat the stream as cut short.  0 otherwise. */
int sse_parser_truncated(const struct sse_parser *parser);
void sse_parser_free(struct sse_parser *parser);

#endif
