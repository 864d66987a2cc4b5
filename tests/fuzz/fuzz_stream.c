/* libFuzzer target for the gateway's stream decoders.  The first byte
 * picks the protocol (bit 0), the size of the reads the rest is cut
 * into (bits 1-5; 0: one read) and whether the event callback asks to
 * stop at event 1, 2 or 3 (bits 6-7).  The rest is a server-sent event
 * stream, fed through the SSE parser into a decoder, then finished.
 * What must hold whatever the stream: events come in a legal order
 * (a tool call starts, numbered from 0, before its pieces; nothing
 * follows STOP), every pointer covers its length, a failure leaves its
 * code and a one-line message, finish succeeds exactly when STOP came,
 * a complete answer sent back as history builds a request body for
 * both protocols, and the core's assembler (core/lib/assemble.c) takes
 * every event and builds the same answer -- text, calls and stop reason.
 * Anything else aborts. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../core/lib/assemble.h"
#include "../../plugins/gateway/codec.h"
#include "../../plugins/gateway/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fail(__LINE__, #cond, __VA_ARGS__); \
	} while (0)

static void fail(int line, const char *cond, const char *fmt, ...)
	FLUE_PRINTF(3, 4) __attribute__((noreturn));

static void
fail(int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_stream.c:%d: check failed: %s: ", line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* What one tool call gathered: the history entry it becomes. */
struct call {
	char *id, *name;      /* owned */
	char *args;           /* owned, the pieces joined */
	size_t args_len, args_cap;
	int ended;
};

struct run {
	enum gw_api api;
	struct gw_decoder *dec;
	int rc;                   /* the decoder's first non-zero return */
	struct flue_error err;
	unsigned events;
	unsigned cancel_at;       /* 0: never */
	int stopped;
	int oom;                  /* an allocation here failed: stop checking */
	struct call *calls;
	size_t ncalls;
	char *text;               /* the answer's text, joined */
	size_t text_len, text_cap;
	char *opaque;             /* the last OPAQUE */
	struct flue_assembler assembler;
};

/* Append n bytes; 0, or -1 when out of memory (libFuzzer's limit). */
static int
append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 64;
		char *grown;

		while (c < *len + n + 1)
			c *= 2;
		grown = realloc(*buf, c);
		if (grown == NULL)
			return -1;
		*buf = grown;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* Touch every byte, so that a pointer past its buffer is caught. */
static unsigned
touch(const char *s, size_t len)
{
	unsigned sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)s[i];
	return sum;
}

static void
check_text(const struct flue_provider_event *ev)
{
	CHECK(ev->text != NULL && ev->text_len > 0, "event %u with text %p "
	      "length %zu", ev->type, (const void *)ev->text, ev->text_len);
	(void)touch(ev->text, ev->text_len);
}

static void
on_start(struct run *r, const struct flue_provider_event *ev)
{
	struct call *grown;

	CHECK(ev->index == r->ncalls, "call %u started after %zu", ev->index,
	      r->ncalls);
	CHECK(ev->id != NULL && ev->id[0] != '\0', "call %u without an id",
	      ev->index);
	CHECK(ev->name != NULL && ev->name[0] != '\0', "call %u without a name",
	      ev->index);
	grown = realloc(r->calls, (r->ncalls + 1) * sizeof(*grown));
	if (grown == NULL) {
		r->oom = 1;
		return;
	}
	r->calls = grown;
	memset(&r->calls[r->ncalls], 0, sizeof(*grown));
	r->calls[r->ncalls].id = strdup(ev->id);
	r->calls[r->ncalls].name = strdup(ev->name);
	if (r->calls[r->ncalls].id == NULL || r->calls[r->ncalls].name == NULL)
		r->oom = 1;
	r->ncalls++;
}

static void
on_opaque(struct run *r, const struct flue_provider_event *ev)
{
	json_object *obj, *api;

	check_text(ev);
	obj = json_tokener_parse(ev->text);
	if (obj == NULL) {
		r->oom = 1;   /* valid JSON by construction: only memory fails */
		return;
	}
	CHECK(json_object_is_type(obj, json_type_object) &&
	      json_object_object_get_ex(obj, "api", &api) &&
	      strcmp(json_object_get_string(api), gw_api_name(r->api)) == 0,
	      "OPAQUE without this protocol's api: %s", ev->text);
	json_object_put(obj);
	free(r->opaque);
	r->opaque = strndup(ev->text, ev->text_len);
	if (r->opaque == NULL)
		r->oom = 1;
}

static int
on_event(void *payload, const struct flue_provider_event *ev)
{
	struct run *r = payload;
	const struct flue_usage *u = ev->usage;
	struct call *c;

	CHECK(!r->stopped, "event %u after STOP", ev->type);
	r->events++;
	{
		struct flue_error aerr = {0};
		int arc = flue_assembler_event(&r->assembler, ev, &aerr);

		if (arc == FLUE_ENOMEM)
			r->oom = 1;
		else
			CHECK(arc == 0, "the assembler refused event %u: %s",
			      ev->type, aerr.message);
	}
	switch (ev->type) {
	case FLUE_PROVIDER_TEXT_DELTA:
		check_text(ev);
		if (append(&r->text, &r->text_len, &r->text_cap, ev->text,
		           ev->text_len) != 0)
			r->oom = 1;
		break;
	case FLUE_PROVIDER_THINKING_DELTA:
		check_text(ev);
		break;
	case FLUE_PROVIDER_TOOL_CALL_START:
		on_start(r, ev);
		break;
	case FLUE_PROVIDER_TOOL_CALL_DELTA:
		check_text(ev);
		CHECK(ev->index < r->ncalls, "piece of call %u before its start",
		      ev->index);
		c = &r->calls[ev->index];
		CHECK(!c->ended, "piece of call %u after its end", ev->index);
		if (append(&c->args, &c->args_len, &c->args_cap, ev->text,
		           ev->text_len) != 0)
			r->oom = 1;
		break;
	case FLUE_PROVIDER_TOOL_CALL_END:
		CHECK(ev->index < r->ncalls, "end of call %u before its start",
		      ev->index);
		CHECK(!r->calls[ev->index].ended, "call %u ended twice", ev->index);
		r->calls[ev->index].ended = 1;
		break;
	case FLUE_PROVIDER_USAGE:
		CHECK(u != NULL, "USAGE without usage");
		CHECK(u->cost_usd == -1 || (isfinite(u->cost_usd) &&
		      u->cost_usd >= 0), "cost %g", u->cost_usd);
		break;
	case FLUE_PROVIDER_OPAQUE:
		on_opaque(r, ev);
		break;
	case FLUE_PROVIDER_STOP:
		check_text(ev);
		CHECK(strcmp(ev->text, "end") == 0 ||
		      strcmp(ev->text, "tool_calls") == 0 ||
		      strcmp(ev->text, "max_tokens") == 0 ||
		      strcmp(ev->text, "refusal") == 0 ||
		      strcmp(ev->text, "other") == 0, "stop reason %s", ev->text);
		CHECK(strlen(ev->text) == ev->text_len, "stop reason length");
		r->stopped = 1;
		break;
	default:
		CHECK(0, "event type %u", ev->type);
	}
	return r->events == r->cancel_at;
}

static int
on_sse(void *arg, const struct sse_event *ev)
{
	struct run *r = arg;

	CHECK(r->rc == 0, "the decoder was fed after it failed");
	r->rc = gw_decoder_event(r->dec, ev->type, ev->data, ev->data_len,
	                         &r->err);
	return r->rc;
}

static void
check_failure(const struct run *r, int rc)
{
	const struct flue_error *err = &r->err;
	const char *end = memchr(err->message, '\0', sizeof(err->message));

	CHECK(rc == FLUE_ERROR || rc == FLUE_ERETRY || rc == FLUE_ECANCELED ||
	      rc == FLUE_ENOMEM, "rc %d", rc);
	CHECK(err->code == rc, "err.code %d, rc %d", err->code, rc);
	CHECK(end != NULL && end > err->message, "empty or unterminated "
	      "message");
	CHECK(strpbrk(err->message, "\r\n") == NULL, "message of more than "
	      "one line: %s", err->message);
	CHECK(rc != FLUE_ECANCELED || r->events == r->cancel_at,
	      "canceled at event %u, asked at %u", r->events, r->cancel_at);
	CHECK(!r->stopped || rc == FLUE_ECANCELED, "failed after STOP: %s",
	      err->message);
}

/* The answer as the loop stores it, followed by a result per call. */
static json_object *
history_request(const struct run *r)
{
	json_object *req = json_object_new_object();
	json_object *msgs = json_object_new_array();
	json_object *msg = json_object_new_object();
	json_object *blocks = json_object_new_array();
	json_object *user = json_object_new_object();

	json_object_object_add(req, "model", json_object_new_string("m"));
	json_object_object_add(req, "thinking", json_object_new_string("low"));
	json_object_object_add(user, "role", json_object_new_string("user"));
	json_object_object_add(user, "content", json_object_new_string("q"));
	json_object_array_add(msgs, user);
	if (r->text_len > 0) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "type", json_object_new_string("text"));
		json_object_object_add(b, "text", json_object_new_string_len(
		                       r->text, (int)r->text_len));
		json_object_array_add(blocks, b);
	}
	for (size_t i = 0; i < r->ncalls; i++) {
		json_object *b = json_object_new_object();
		json_object *args = r->calls[i].args ?
		                    json_tokener_parse(r->calls[i].args) : NULL;

		/* Arguments that do not parse are stored as {}. */
		if (!json_object_is_type(args, json_type_object)) {
			json_object_put(args);
			args = json_object_new_object();
		}
		json_object_object_add(b, "type", json_object_new_string("tool_call"));
		json_object_object_add(b, "id", json_object_new_string(
		                       r->calls[i].id));
		json_object_object_add(b, "name", json_object_new_string(
		                       r->calls[i].name));
		json_object_object_add(b, "arguments", args);
		json_object_array_add(blocks, b);
	}
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", blocks);
	if (r->opaque != NULL)
		json_object_object_add(msg, "provider_data",
		                       json_tokener_parse(r->opaque));
	json_object_array_add(msgs, msg);
	for (size_t i = 0; i < r->ncalls; i++) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "role", json_object_new_string("tool"));
		json_object_object_add(t, "tool_call_id", json_object_new_string(
		                       r->calls[i].id));
		json_object_object_add(t, "content", json_object_new_string("ok"));
		json_object_array_add(msgs, t);
	}
	json_object_object_add(req, "messages", msgs);
	return req;
}

static void
check_round_trip(const struct run *r)
{
	json_object *req = history_request(r);

	for (int api = 0; api <= 1; api++) {
		struct gw_body_settings settings = {(enum gw_api)api, NULL, NULL, 0};
		struct flue_error err = {0};
		json_object *parsed;
		char *body;
		size_t len;
		int rc = gw_body_build(&settings, req, &body, &len, &err);

		if (rc == FLUE_ENOMEM)
			continue;
		CHECK(rc == 0, "history did not build a %s body: %s",
		      gw_api_name((enum gw_api)api), err.message);
		CHECK(strlen(body) == len, "body length %zu, says %zu",
		      strlen(body), len);
		parsed = json_tokener_parse(body);
		CHECK(parsed != NULL && json_object_is_type(parsed,
		      json_type_object), "body is not a JSON object: %s", body);
		json_object_put(parsed);
		free(body);
	}
	json_object_put(req);
}

/* Error bodies: whatever the bytes, NULLs or strings, never a crash. */
static void
fuzz_error_body(const char *data, size_t len)
{
	char *message = (char *)data, *type = (char *)data;

	if (gw_error_body(data, len, &message, &type) != 0)
		return;
	CHECK(message == NULL || message[0] != '\0', "empty message");
	CHECK(type == NULL || type[0] != '\0', "empty type");
	free(message);
	free(type);
}

static void
run_free(struct run *r)
{
	for (size_t i = 0; i < r->ncalls; i++) {
		free(r->calls[i].id);
		free(r->calls[i].name);
		free(r->calls[i].args);
	}
	free(r->calls);
	free(r->text);
	free(r->opaque);
	gw_decoder_free(r->dec);
	flue_assembler_clear(&r->assembler);
}

/* The assembled message says what the events said. */
static void
check_assembled(struct run *r)
{
	struct flue_error err = {0};
	json_object *msg, *content, *v;
	char **problems;
	size_t calls = 0, text_len = 0;
	int rc = flue_assembler_finish(&r->assembler, "p/m", &msg, &problems,
	                               &err);

	if (rc == FLUE_ENOMEM)
		return;
	CHECK(rc == 0, "assembler finish: %s", err.message);
	CHECK(json_object_object_get_ex(msg, "content", &content),
	      "no content");
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *b = json_object_array_get_idx(content, i), *t;
		const char *type;

		CHECK(json_object_object_get_ex(b, "type", &t), "block type");
		type = json_object_get_string(t);
		if (strcmp(type, "tool_call") == 0) {
			CHECK(calls < r->ncalls, "more calls than started");
			CHECK(json_object_object_get_ex(b, "id", &v) &&
			      strcmp(json_object_get_string(v),
			             r->calls[calls].id) == 0, "call %zu id", calls);
			CHECK(json_object_object_get_ex(b, "arguments", &v) &&
			      json_object_is_type(v, json_type_object),
			      "call %zu arguments not an object", calls);
			free(problems[calls]);
			calls++;
		} else if (strcmp(type, "text") == 0) {
			CHECK(json_object_object_get_ex(b, "text", &v), "text");
			CHECK(text_len + (size_t)json_object_get_string_len(v) <=
			      r->text_len && memcmp(r->text + text_len,
			      json_object_get_string(v),
			      (size_t)json_object_get_string_len(v)) == 0,
			      "assembled text differs");
			text_len += (size_t)json_object_get_string_len(v);
		}
	}
	CHECK(calls == r->ncalls, "%zu calls assembled, %zu started", calls,
	      r->ncalls);
	CHECK(text_len == r->text_len, "text %zu bytes, %zu streamed",
	      text_len, r->text_len);
	free(problems);
	json_object_put(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r;
	struct sse_parser p;
	const char *stream = (const char *)data + 1;
	size_t len, split, at = 0;
	int rc = 0, finished;

	if (size == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	flue_assembler_init(&r.assembler);
	r.api = (data[0] & 1) ? GW_API_ANTHROPIC_MESSAGES : GW_API_OPENAI_CHAT;
	split = (data[0] >> 1) & 0x1f;
	r.cancel_at = data[0] >> 6;
	len = size - 1;
	fuzz_error_body(stream, len);
	if (gw_decoder_new(r.api, on_event, &r, &r.dec) != 0)
		return 0;
	CHECK(!gw_decoder_started(r.dec), "started before any event");
	sse_parser_init(&p, on_sse, &r);
	while (at < len && rc == 0) {
		size_t n = split == 0 || split > len - at ? len - at : split;

		rc = sse_parser_feed(&p, stream + at, n);
		at += n;
	}
	sse_parser_free(&p);
	if (rc != 0 && r.rc == 0)
		goto out;     /* the SSE parser's own limit or memory */
	CHECK(rc == r.rc, "feed returned %d, the decoder %d", rc, r.rc);
	if (r.rc != 0) {
		check_failure(&r, r.rc);
		memset(&r.err, 0, sizeof(r.err));
		CHECK(gw_decoder_finish(r.dec, &r.err) == r.rc,
		      "finish forgot the failure %d", r.rc);
		CHECK(r.err.code == r.rc, "finish's err.code %d", r.err.code);
		goto out;
	}
	finished = gw_decoder_finish(r.dec, &r.err);
	if (finished != 0)
		check_failure(&r, finished);
	CHECK((finished == 0) == r.stopped, "finish %d, STOP %s", finished,
	      r.stopped ? "seen" : "not seen");
	CHECK(finished != 0 || r.cancel_at == 0 || r.events < r.cancel_at,
	      "asked to stop at event %u, the stream went on", r.cancel_at);
	if (finished == 0 && !r.oom)
		check_round_trip(&r);
	if (finished == 0 && !r.oom)
		check_assembled(&r);
out:
	CHECK(gw_decoder_started(r.dec) == (r.events > 0), "started %d after "
	      "%u events", gw_decoder_started(r.dec), r.events);
	run_free(&r);
	return 0;
}
