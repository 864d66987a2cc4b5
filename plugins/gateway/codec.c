/* The protocol-neutral half of the codec: API names, the decoder's
 * common part (emission, a failure that sticks, the end of the stream),
 * flue's request read and checked once for both body builders, and
 * error bodies.  openai.c and anthropic.c hold the wire formats. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec_internal.h"

#define GW_INCOMPLETE "the stream ended before the answer was complete"

/* ------------------------------------------------------------------ */
/* API names                                                           */
/* ------------------------------------------------------------------ */

int
gw_api_parse(const char *name, enum gw_api *out)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "openai-chat") == 0)
		*out = GW_API_OPENAI_CHAT;
	else if (strcmp(name, "anthropic-messages") == 0)
		*out = GW_API_ANTHROPIC_MESSAGES;
	else
		return -1;
	return 0;
}

const char *
gw_api_name(enum gw_api api)
{
	switch (api) {
	case GW_API_OPENAI_CHAT: return "openai-chat";
	case GW_API_ANTHROPIC_MESSAGES: return "anthropic-messages";
	}
	return NULL;
}

const char *
gw_api_path(enum gw_api api)
{
	switch (api) {
	case GW_API_OPENAI_CHAT: return "/chat/completions";
	case GW_API_ANTHROPIC_MESSAGES: return "/messages";
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

int
gw_fail(struct flue_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	/* One line: the message may quote what a provider sent. */
	for (char *p = err->message; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return code;
}

int
gw_nomem(struct flue_error *err)
{
	return gw_fail(err, FLUE_ENOMEM, "gateway: out of memory");
}

const char *
gw_snippet(const char *data, size_t len, char *buf, size_t size)
{
	size_t n = len, out = 0;

	if (size < 4) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	if (n > GW_SNIPPET_MAX)
		n = GW_SNIPPET_MAX;
	if (n > size - 4)
		n = size - 4;
	/* Back off to the start of a character cut in two. */
	if (n < len)
		while (n > 0 && ((unsigned char)data[n] & 0xC0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];

		buf[out++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + out, "...", 3);
		out += 3;
	}
	buf[out] = '\0';
	return buf;
}

/* Case-insensitive substring search, for error types and messages. */
static int
contains(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);

	if (haystack == NULL)
		return 0;
	for (; *haystack; haystack++)
		if (strncasecmp(haystack, needle, n) == 0)
			return 1;
	return 0;
}

int
gw_error_transient(const char *type, const char *message)
{
	static const char *const transient[] = {
		"overloaded", "rate_limit", "rate limit", "too many requests",
		"server_error", "server error", "api_error", "timeout",
		"timed out", "unavailable", "bad gateway", NULL
	};

	for (size_t i = 0; transient[i] != NULL; i++)
		if (contains(type, transient[i]) || contains(message, transient[i]))
			return 1;
	/* Codes as numbers: 429 and the 5xx family. */
	if (type != NULL && (strcmp(type, "429") == 0 ||
	    (type[0] == '5' && isdigit((unsigned char)type[1]) &&
	     isdigit((unsigned char)type[2]) && type[3] == '\0')))
		return 1;
	return 0;
}

int
gw_stream_error(json_object *error, struct flue_error *err)
{
	const char *message = NULL, *type = NULL;
	char code[32];
	json_object *c;
	int rc;

	if (json_object_is_type(error, json_type_string)) {
		message = json_object_get_string(error);
	} else {
		message = gw_string(error, "message", NULL);
		type = gw_string(error, "type", NULL);
		if (type == NULL)
			type = gw_string(error, "code", NULL);
		c = gw_member(error, "code", json_type_int);
		if (type == NULL && c != NULL) {
			snprintf(code, sizeof(code), "%" PRId64,
			         json_object_get_int64(c));
			type = code;
		}
	}
	rc = gw_error_transient(type, message) ? FLUE_ERETRY : FLUE_ERROR;
	if (message == NULL || message[0] == '\0')
		message = "no message";
	if (type != NULL && type[0] != '\0')
		return gw_fail(err, rc, "the provider reported an error in the "
		               "middle of the answer: %s (%s)", message, type);
	return gw_fail(err, rc, "the provider reported an error in the middle "
	               "of the answer: %s", message);
}

/* ------------------------------------------------------------------ */
/* Buffers and JSON                                                    */
/* ------------------------------------------------------------------ */

int
gw_buf_add(struct gw_buf *buf, const char *bytes, size_t len)
{
	if (buf->len + len + 1 > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 64;
		char *grown;

		if (len > SIZE_MAX / 2 - buf->len)
			return FLUE_ENOMEM;
		while (cap < buf->len + len + 1)
			cap *= 2;
		grown = realloc(buf->data, cap);
		if (grown == NULL)
			return FLUE_ENOMEM;
		buf->data = grown;
		buf->cap = cap;
	}
	if (len > 0)
		memcpy(buf->data + buf->len, bytes, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

void
gw_buf_free(struct gw_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

int
gw_json_parse(const char *data, size_t len, json_object **out,
              struct flue_error *err)
{
	char snip[GW_SNIPPET_MAX + 4];
	struct json_tokener *tok;
	json_object *obj;
	size_t end;

	*out = NULL;
	while (len > 0 && isspace((unsigned char)data[len - 1]))
		len--;
	if (len > (size_t)INT32_MAX)
		return gw_fail(err, FLUE_ERROR, "the provider sent a chunk larger "
		               "than 2 GiB");
	tok = json_tokener_new();
	if (tok == NULL)
		return gw_nomem(err);
	obj = json_tokener_parse_ex(tok, data, (int)len);
	end = tok->char_offset;
	if (obj == NULL || end != len ||
	    json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		json_object_put(obj);
		return gw_fail(err, FLUE_ERROR, "the provider sent data that is "
		               "not JSON: %s", gw_snippet(data, len, snip,
		               sizeof(snip)));
	}
	json_tokener_free(tok);
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return gw_fail(err, FLUE_ERROR, "the provider sent JSON that is "
		               "not an object: %s", gw_snippet(data, len, snip,
		               sizeof(snip)));
	}
	*out = obj;
	return 0;
}

json_object *
gw_member(json_object *obj, const char *key, json_type type)
{
	json_object *val;

	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &val) ||
	    !json_object_is_type(val, type))
		return NULL;
	return val;
}

const char *
gw_string(json_object *obj, const char *key, size_t *len)
{
	json_object *val = gw_member(obj, key, json_type_string);

	if (val == NULL)
		return NULL;
	if (len != NULL)
		*len = (size_t)json_object_get_string_len(val);
	return json_object_get_string(val);
}

uint64_t
gw_count(json_object *obj, const char *key)
{
	json_object *val = gw_member(obj, key, json_type_int);
	double d;

	if (val != NULL) {
		int64_t n = json_object_get_int64(val);

		return n < 0 ? 0 : (uint64_t)n;
	}
	val = gw_member(obj, key, json_type_double);
	if (val == NULL)
		return 0;
	d = json_object_get_double(val);
	if (!(d >= 0))
		return 0;
	/* Past 2^63 the value is nonsense anyway; keep the cast defined. */
	return d >= 9.2e18 ? (uint64_t)INT64_MAX : (uint64_t)d;
}

double
gw_cost(json_object *obj, const char *key)
{
	json_object *val;
	const char *s;
	char *end;
	double d;

	val = gw_member(obj, key, json_type_double);
	if (val == NULL)
		val = gw_member(obj, key, json_type_int);
	if (val != NULL) {
		d = json_object_get_double(val);
		return isfinite(d) && d >= 0 ? d : -1;
	}
	s = gw_string(obj, key, NULL);
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	d = strtod(s, &end);
	return *end == '\0' && isfinite(d) && d >= 0 ? d : -1;
}

int
gw_add(json_object *obj, const char *key, json_object *val)
{
	if (val == NULL)
		return -1;
	if (json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

int
gw_append(json_object *array, json_object *val)
{
	if (val == NULL)
		return -1;
	if (json_object_array_add(array, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

json_object *
gw_new_string(const char *s, size_t len)
{
	if (len > (size_t)INT32_MAX)
		return NULL;
	return json_object_new_string_len(s, (int)len);
}

/* ------------------------------------------------------------------ */
/* Decoders                                                            */
/* ------------------------------------------------------------------ */

int
gw_emit(struct gw_decoder *d, const struct flue_provider_event *event,
        struct flue_error *err)
{
	d->started = 1;
	if (event->type == FLUE_PROVIDER_STOP)
		d->stopped = 1;
	if (d->emit(d->payload, event) != 0)
		return gw_fail(err, FLUE_ECANCELED, "the answer was canceled");
	return 0;
}

int
gw_emit_text(struct gw_decoder *d, uint32_t type, uint32_t index,
             const char *text, size_t len, struct flue_error *err)
{
	struct flue_provider_event ev = {0};

	ev.type = type;
	ev.index = index;
	ev.text = text;
	ev.text_len = len;
	return gw_emit(d, &ev, err);
}

int
gw_emit_usage(struct gw_decoder *d, const struct flue_usage *usage,
              struct flue_error *err)
{
	struct flue_provider_event ev = {0};

	ev.type = FLUE_PROVIDER_USAGE;
	ev.usage = usage;
	return gw_emit(d, &ev, err);
}

int
gw_emit_json(struct gw_decoder *d, json_object *obj, struct flue_error *err)
{
	size_t len;
	const char *text = json_object_to_json_string_length(obj, GW_JSON_FLAGS,
	                                                     &len);

	if (text == NULL)
		return gw_nomem(err);
	return gw_emit_text(d, FLUE_PROVIDER_OPAQUE, 0, text, len, err);
}

int
gw_decoder_new(enum gw_api api, flue_provider_event_fn emit, void *payload,
               struct gw_decoder **out)
{
	struct gw_decoder *d;

	*out = NULL;
	if (emit == NULL || gw_api_name(api) == NULL)
		return FLUE_EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return FLUE_ENOMEM;
	d->api = api;
	d->emit = emit;
	d->payload = payload;
	if (api == GW_API_OPENAI_CHAT)
		d->openai = gw_openai_new();
	else
		d->anthropic = gw_anthropic_new();
	if (d->openai == NULL && d->anthropic == NULL) {
		free(d);
		return FLUE_ENOMEM;
	}
	*out = d;
	return 0;
}

/* A failure sticks: every later call reports it again. */
static int
failed(const struct gw_decoder *d, struct flue_error *err)
{
	if (err != NULL)
		*err = d->failure;
	return d->failure.code;
}

int
gw_decoder_event(struct gw_decoder *d, const char *type, const char *data,
                 size_t len, struct flue_error *err)
{
	struct flue_error *e = err != NULL ? err : &d->failure;
	int rc;

	if (d->failure.code != 0)
		return failed(d, err);
	if (d->stopped)
		return 0;     /* after the end: nothing counts any more */
	if (type == NULL)
		type = "message";
	if (d->api == GW_API_OPENAI_CHAT)
		rc = gw_openai_event(d, type, data, len, e);
	else
		rc = gw_anthropic_event(d, type, data, len, e);
	if (rc == FLUE_ENOMEM && e->code != FLUE_ENOMEM)
		gw_nomem(e);
	if (rc != 0 && e != &d->failure)
		d->failure = *e;
	return rc;
}

int
gw_decoder_finish(struct gw_decoder *d, struct flue_error *err)
{
	if (d->failure.code != 0)
		return failed(d, err);
	if (d->stopped)
		return 0;
	gw_fail(&d->failure, FLUE_ERETRY, GW_INCOMPLETE);
	return failed(d, err);
}

int
gw_decoder_started(const struct gw_decoder *d)
{
	return d->started;
}

void
gw_decoder_free(struct gw_decoder *d)
{
	if (d == NULL)
		return;
	gw_openai_free(d->openai);
	gw_anthropic_free(d->anthropic);
	free(d);
}

/* ------------------------------------------------------------------ */
/* flue's request                                                      */
/* ------------------------------------------------------------------ */

static const char *const thinking_levels[] = {
	"minimal", "low", "medium", "high", "xhigh", NULL
};

/* Absent and null read the same: the field is not set. */
static int
unset(json_object *obj, const char *key, json_object **val)
{
	return !json_object_object_get_ex(obj, key, val) || *val == NULL;
}

static int
read_thinking(json_object *request, struct gw_request *out,
              struct flue_error *err)
{
	json_object *val;
	const char *level;

	if (unset(request, "thinking", &val))
		return 0;
	level = json_object_is_type(val, json_type_string) ?
	        json_object_get_string(val) : "";
	if (strcmp(level, "off") == 0)
		return 0;
	for (size_t i = 0; thinking_levels[i] != NULL; i++)
		if (strcmp(level, thinking_levels[i]) == 0) {
			out->thinking = thinking_levels[i];
			return 0;
		}
	return gw_fail(err, FLUE_EINVAL, "thinking: expected off, minimal, "
	               "low, medium, high or xhigh");
}

int
gw_request_read(const struct gw_body_settings *settings,
                json_object *request, struct gw_request *out,
                struct flue_error *err)
{
	json_object *val;

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(request, json_type_object))
		return gw_fail(err, FLUE_EINVAL, "request: expected a JSON object");
	out->model = settings->model;
	if (out->model == NULL || out->model[0] == '\0')
		out->model = gw_string(request, "model", NULL);
	if (out->model == NULL || out->model[0] == '\0')
		return gw_fail(err, FLUE_EINVAL, "model: expected the model id "
		               "(a non-empty string)");
	if (!unset(request, "system", &val)) {
		if (!json_object_is_type(val, json_type_string))
			return gw_fail(err, FLUE_EINVAL, "system: expected a string");
		out->system = json_object_get_string(val);
	}
	out->messages = gw_member(request, "messages", json_type_array);
	if (out->messages == NULL)
		return gw_fail(err, FLUE_EINVAL, "messages: expected a list of "
		               "messages");
	if (!unset(request, "tools", &val)) {
		if (!json_object_is_type(val, json_type_array))
			return gw_fail(err, FLUE_EINVAL, "tools: expected a list of "
			               "tool declarations");
		out->tools = val;
	}
	if (!unset(request, "max_tokens", &val)) {
		if (!json_object_is_type(val, json_type_int) ||
		    json_object_get_int64(val) <= 0)
			return gw_fail(err, FLUE_EINVAL, "max_tokens: expected a "
			               "positive whole number");
		out->max_tokens = json_object_get_int64(val);
	}
	return read_thinking(request, out, err);
}

int
gw_check_message(json_object *messages, size_t index, json_object **msg,
                 enum gw_role *role, struct flue_error *err)
{
	json_object *val;
	const char *name;

	*msg = json_object_array_get_idx(messages, index);
	*role = GW_ROLE_SKIP;
	if (!json_object_is_type(*msg, json_type_object))
		return gw_fail(err, FLUE_EINVAL, "messages[%zu]: expected an "
		               "object", index);
	if (!json_object_object_get_ex(*msg, "role", &val))
		return 0;     /* {"type": ...} records of later versions */
	name = json_object_is_type(val, json_type_string) ?
	       json_object_get_string(val) : "";
	if (strcmp(name, "user") == 0)
		*role = GW_ROLE_USER;
	else if (strcmp(name, "assistant") == 0)
		*role = GW_ROLE_ASSISTANT;
	else if (strcmp(name, "tool") == 0)
		*role = GW_ROLE_TOOL;
	else
		return gw_fail(err, FLUE_EINVAL, "messages[%zu].role: expected "
		               "user, assistant or tool", index);
	return 0;
}

int
gw_check_user(json_object *msg, size_t index, const char **text,
              size_t *len, struct flue_error *err)
{
	*text = gw_string(msg, "content", len);
	if (*text == NULL)
		return gw_fail(err, FLUE_EINVAL, "messages[%zu].content: expected "
		               "a string", index);
	return 0;
}

int
gw_check_blocks(json_object *msg, size_t index, json_object **blocks,
                struct flue_error *err)
{
	*blocks = gw_member(msg, "content", json_type_array);
	if (*blocks == NULL)
		return gw_fail(err, FLUE_EINVAL, "messages[%zu].content: expected "
		               "a list of blocks", index);
	return 0;
}

int
gw_check_block(json_object *blocks, size_t index, size_t b,
               struct gw_block *out, struct flue_error *err)
{
	json_object *block = json_object_array_get_idx(blocks, b);
	const char *type = gw_string(block, "type", NULL);

	memset(out, 0, sizeof(*out));
	if (type == NULL)
		return gw_fail(err, FLUE_EINVAL, "messages[%zu].content[%zu]: "
		               "expected a block with a \"type\"", index, b);
	if (strcmp(type, "text") == 0 || strcmp(type, "thinking") == 0) {
		out->kind = type[1] == 'e' ? GW_BLOCK_TEXT : GW_BLOCK_THINKING;
		out->text = gw_string(block, "text", &out->text_len);
		if (out->text == NULL)
			return gw_fail(err, FLUE_EINVAL, "messages[%zu].content[%zu]."
			               "text: expected a string", index, b);
	} else if (strcmp(type, "tool_call") == 0) {
		out->kind = GW_BLOCK_TOOL_CALL;
		out->id = gw_string(block, "id", NULL);
		out->name = gw_string(block, "name", NULL);
		out->arguments = gw_member(block, "arguments", json_type_object);
		if (out->id == NULL || out->id[0] == '\0')
			return gw_fail(err, FLUE_EINVAL, "messages[%zu].content[%zu]."
			               "id: expected a non-empty string", index, b);
		if (out->name == NULL || out->name[0] == '\0')
			return gw_fail(err, FLUE_EINVAL, "messages[%zu].content[%zu]."
			               "name: expected a non-empty string", index, b);
		if (out->arguments == NULL)
			return gw_fail(err, FLUE_EINVAL, "messages[%zu].content[%zu]."
			               "arguments: expected an object", index, b);
	}
	/* Other types come from later versions: skipped, like records. */
	return 0;
}

int
gw_check_tool_result(json_object *msg, size_t index, const char **id,
                     const char **content, size_t *len, int *is_error,
                     struct flue_error *err)
{
	json_object *val;

	*id = gw_string(msg, "tool_call_id", NULL);
	if (*id == NULL || (*id)[0] == '\0')
		return gw_fail(err, FLUE_EINVAL, "messages[%zu].tool_call_id: "
		               "expected a non-empty string", index);
	*content = gw_string(msg, "content", len);
	if (*content == NULL)
		return gw_fail(err, FLUE_EINVAL, "messages[%zu].content: expected "
		               "a string", index);
	*is_error = 0;
	if (!unset(msg, "is_error", &val)) {
		if (!json_object_is_type(val, json_type_boolean))
			return gw_fail(err, FLUE_EINVAL, "messages[%zu].is_error: "
			               "expected true or false", index);
		*is_error = json_object_get_boolean(val);
	}
	return 0;
}

json_object *
gw_provider_data(json_object *msg, const char *api)
{
	json_object *data = gw_member(msg, "provider_data", json_type_object);
	const char *name = gw_string(data, "api", NULL);

	return name != NULL && strcmp(name, api) == 0 ? data : NULL;
}

int
gw_check_tool(json_object *tools, size_t index, const char **name,
              const char **description, json_object **parameters,
              struct flue_error *err)
{
	json_object *tool = json_object_array_get_idx(tools, index);
	json_object *val;

	if (!json_object_is_type(tool, json_type_object))
		return gw_fail(err, FLUE_EINVAL, "tools[%zu]: expected an object",
		               index);
	*name = gw_string(tool, "name", NULL);
	if (*name == NULL || (*name)[0] == '\0')
		return gw_fail(err, FLUE_EINVAL, "tools[%zu].name: expected a "
		               "non-empty string", index);
	*description = NULL;
	if (!unset(tool, "description", &val)) {
		if (!json_object_is_type(val, json_type_string))
			return gw_fail(err, FLUE_EINVAL, "tools[%zu].description: "
			               "expected a string", index);
		*description = json_object_get_string(val);
	}
	*parameters = NULL;
	if (!unset(tool, "parameters", &val)) {
		if (!json_object_is_type(val, json_type_object))
			return gw_fail(err, FLUE_EINVAL, "tools[%zu].parameters: "
			               "expected a JSON Schema object", index);
		*parameters = val;
	}
	return 0;
}

int
gw_body_build(const struct gw_body_settings *settings, json_object *request,
              char **out_body, size_t *out_len, struct flue_error *err)
{
	struct gw_request req;
	json_object *body = NULL;
	const char *text;
	size_t len;
	int rc;

	*out_body = NULL;
	*out_len = 0;
	if (gw_api_name(settings->api) == NULL)
		return gw_fail(err, FLUE_EINVAL, "api: unknown wire protocol %d",
		               (int)settings->api);
	rc = gw_request_read(settings, request, &req, err);
	if (rc != 0)
		return rc;
	if (settings->api == GW_API_OPENAI_CHAT)
		rc = gw_openai_body(settings, &req, &body, err);
	else
		rc = gw_anthropic_body(settings, &req, &body, err);
	if (rc != 0)
		return rc;
	text = json_object_to_json_string_length(body, GW_JSON_FLAGS, &len);
	if (text != NULL)
		*out_body = strndup(text, len);
	json_object_put(body);
	if (*out_body == NULL)
		return gw_nomem(err);
	*out_len = len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Error bodies                                                        */
/* ------------------------------------------------------------------ */

/* *out = a copy of s, or NULL for NULL.  -1 when out of memory. */
static int
copy_or_null(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL || s[0] == '\0')
		return 0;
	*out = strdup(s);
	return *out == NULL ? -1 : 0;
}

int
gw_error_body(const char *body, size_t len, char **out_message,
              char **out_type)
{
	json_object *root = NULL, *error;
	const char *message = NULL, *type = NULL;
	int rc = 0;

	*out_message = NULL;
	*out_type = NULL;
	if (body == NULL || gw_json_parse(body, len, &root, NULL) != 0)
		return 0;     /* an HTML page, a proxy's text: nothing to say */
	error = gw_member(root, "error", json_type_object);
	if (error != NULL) {
		/* {"error":{...}} (gateway, OpenAI) and {"type":"error",
		 * "error":{...}} (Anthropic) alike. */
		message = gw_string(error, "message", NULL);
		type = gw_string(error, "type", NULL);
		if (type == NULL)
			type = gw_string(error, "code", NULL);
	} else {
		message = gw_string(root, "error", NULL);
		if (message == NULL)
			message = gw_string(root, "message", NULL);
	}
	if (copy_or_null(message, out_message) != 0 ||
	    copy_or_null(type, out_type) != 0) {
		free(*out_message);
		*out_message = NULL;
		rc = FLUE_ENOMEM;
	}
	json_object_put(root);
	return rc;
}
