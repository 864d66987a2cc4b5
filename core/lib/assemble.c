/* Assembling an answer from provider events.  Pieces are appended to
 * growing buffers (amortised doubling), so a long answer streamed in
 * tiny deltas costs linear time; tool-call arguments are parsed once,
 * when the answer is complete. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "error.h"

static int
buf_append(struct flue_text_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL)
			return FLUE_ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void
flue_assembler_init(struct flue_assembler *a)
{
	memset(a, 0, sizeof(*a));
	a->usage.cost_usd = -1;
}

static void
clear_blocks(struct flue_assembler *a)
{
	for (size_t i = 0; i < a->count; i++) {
		free(a->blocks[i].text.data);
		free(a->blocks[i].id);
		free(a->blocks[i].name);
	}
	a->count = 0;
}

void
flue_assembler_clear(struct flue_assembler *a)
{
	clear_blocks(a);
	free(a->blocks);
	free(a->stop_reason);
	json_object_put(a->provider_data);
	memset(a, 0, sizeof(*a));
}

void
flue_assembler_reset(struct flue_assembler *a)
{
	struct flue_asm_block *blocks = a->blocks;
	size_t cap = a->cap;

	clear_blocks(a);
	free(a->stop_reason);
	json_object_put(a->provider_data);
	memset(a, 0, sizeof(*a));
	a->blocks = blocks;
	a->cap = cap;
	a->usage.cost_usd = -1;
}

static struct flue_asm_block *
new_block(struct flue_assembler *a, int kind)
{
	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4;
		struct flue_asm_block *p = realloc(a->blocks, cap * sizeof(*p));

		if (p == NULL)
			return NULL;
		a->blocks = p;
		a->cap = cap;
	}
	memset(&a->blocks[a->count], 0, sizeof(a->blocks[0]));
	a->blocks[a->count].kind = kind;
	return &a->blocks[a->count++];
}

static struct flue_asm_block *
find_call(struct flue_assembler *a, unsigned index)
{
	for (size_t i = a->count; i-- > 0;)
		if (a->blocks[i].kind == FLUE_ASM_TOOL_CALL &&
		    a->blocks[i].index == index)
			return &a->blocks[i];
	return NULL;
}

/* Text and thinking deltas extend the last block of their kind only when
 * it is the last block: interleaved output keeps its order. */
static int
add_delta(struct flue_assembler *a, int kind, const char *text, size_t len)
{
	struct flue_asm_block *b = NULL;

	if (len == 0)
		return 0;
	if (a->count > 0 && a->blocks[a->count - 1].kind == kind)
		b = &a->blocks[a->count - 1];
	else if ((b = new_block(a, kind)) == NULL)
		return FLUE_ENOMEM;
	return buf_append(&b->text, text, len);
}

static size_t
event_len(const struct flue_provider_event *ev)
{
	if (ev->text == NULL)
		return 0;
	return ev->text_len;
}

int
flue_assembler_event(struct flue_assembler *a,
                     const struct flue_provider_event *ev,
                     struct flue_error *err)
{
	struct flue_asm_block *b;
	json_object *data;
	int rc;

	if (a->stop_reason != NULL && ev->type != FLUE_PROVIDER_RETRY)
		return flue_error_set(err, FLUE_ERROR, "the provider plugin sent "
		                      "an event after the end of the answer");
	switch (ev->type) {
	case FLUE_PROVIDER_TEXT_DELTA:
	case FLUE_PROVIDER_THINKING_DELTA:
		rc = add_delta(a, ev->type == FLUE_PROVIDER_TEXT_DELTA ?
		               FLUE_ASM_TEXT : FLUE_ASM_THINKING, ev->text,
		               event_len(ev));
		break;
	case FLUE_PROVIDER_TOOL_CALL_START:
		if (find_call(a, ev->index) != NULL)
			return flue_error_set(err, FLUE_ERROR, "the provider started "
			                      "tool call %u twice", ev->index);
		if (ev->name == NULL || *ev->name == '\0')
			return flue_error_set(err, FLUE_ERROR, "the provider started "
			                      "tool call %u without a tool name",
			                      ev->index);
		b = new_block(a, FLUE_ASM_TOOL_CALL);
		if (b == NULL)
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
		b->index = ev->index;
		b->name = strdup(ev->name);
		if (ev->id != NULL && *ev->id != '\0')
			b->id = strdup(ev->id);
		else if (asprintf(&b->id, "call_%u", ev->index) < 0)
			b->id = NULL;
		a->tool_calls++;
		rc = (b->name == NULL || b->id == NULL) ? FLUE_ENOMEM : 0;
		break;
	case FLUE_PROVIDER_TOOL_CALL_DELTA:
		b = find_call(a, ev->index);
		if (b == NULL)
			return flue_error_set(err, FLUE_ERROR, "the provider sent "
			                      "arguments for tool call %u before "
			                      "starting it", ev->index);
		rc = buf_append(&b->text, ev->text ? ev->text : "", event_len(ev));
		break;
	case FLUE_PROVIDER_TOOL_CALL_END:
		rc = 0;
		break;
	case FLUE_PROVIDER_USAGE:
		if (ev->usage != NULL) {
			a->usage = *ev->usage;
			a->have_usage = 1;
		}
		rc = 0;
		break;
	case FLUE_PROVIDER_OPAQUE:
		data = ev->text ? json_tokener_parse(ev->text) : NULL;
		if (data == NULL || !json_object_is_type(data, json_type_object)) {
			json_object_put(data);
			return flue_error_set(err, FLUE_ERROR, "the provider plugin "
			                      "sent provider data that is not a "
			                      "JSON object");
		}
		json_object_put(a->provider_data);
		a->provider_data = data;
		rc = 0;
		break;
	case FLUE_PROVIDER_STOP:
		a->stop_reason = strdup(ev->text && *ev->text ? ev->text : "end");
		rc = a->stop_reason ? 0 : FLUE_ENOMEM;
		break;
	case FLUE_PROVIDER_RETRY:
		flue_assembler_reset(a);
		rc = 0;
		break;
	default:
		rc = 0;   /* newer event types: nothing to keep */
		break;
	}
	if (rc != 0)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return 0;
}

void
flue_usage_add(struct flue_usage *sum, const struct flue_usage *add)
{
	sum->input_tokens += add->input_tokens;
	sum->output_tokens += add->output_tokens;
	sum->cache_read_tokens += add->cache_read_tokens;
	sum->cache_write_tokens += add->cache_write_tokens;
	sum->reasoning_tokens += add->reasoning_tokens;
	if (add->cost_usd >= 0)
		sum->cost_usd = (sum->cost_usd < 0 ? 0 : sum->cost_usd) +
		                add->cost_usd;
}

json_object *
flue_usage_to_json(const struct flue_usage *u)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "input_tokens",
	                       json_object_new_int64((int64_t)u->input_tokens));
	json_object_object_add(o, "output_tokens",
	                       json_object_new_int64((int64_t)u->output_tokens));
	json_object_object_add(o, "cache_read_tokens",
	        json_object_new_int64((int64_t)u->cache_read_tokens));
	json_object_object_add(o, "cache_write_tokens",
	        json_object_new_int64((int64_t)u->cache_write_tokens));
	json_object_object_add(o, "reasoning_tokens",
	        json_object_new_int64((int64_t)u->reasoning_tokens));
	if (u->cost_usd >= 0) {
		char text[32];

		/* Ten significant digits: a cost, not a binary fraction. */
		snprintf(text, sizeof(text), "%.10g", u->cost_usd);
		json_object_object_add(o, "cost_usd",
		                       json_object_new_double_s(u->cost_usd, text));
	}
	return o;
}

/* Arguments: "" is {}; anything else must parse to an object. */
static json_object *
parse_arguments(const struct flue_text_buf *b, char **problem)
{
	struct json_tokener *tok;
	json_object *v;
	size_t end;

	*problem = NULL;
	if (b->len == 0)
		return json_object_new_object();
	tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	v = json_tokener_parse_ex(tok, b->data, (int)b->len);
	end = json_tokener_get_parse_end(tok);
	while (v != NULL && end < b->len && strchr(" \t\r\n", b->data[end]))
		end++;
	if (v == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    end != b->len) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (asprintf(problem, "the arguments are not valid JSON (%s at "
		             "byte %zu)", v != NULL && e == json_tokener_success ?
		             "text after the value" : e == json_tokener_continue ?
		             "unexpected end" : json_tokener_error_desc(e),
		             end + 1) < 0)
			*problem = NULL;
		json_object_put(v);
		v = NULL;
	} else if (!json_object_is_type(v, json_type_object)) {
		if (asprintf(problem, "the arguments must be a JSON object, not "
		             "%s", json_type_to_name(json_object_get_type(v))) < 0)
			*problem = NULL;
		json_object_put(v);
		v = NULL;
	}
	json_tokener_free(tok);
	return v != NULL ? v : json_object_new_object();
}

static json_object *
block_json(const struct flue_asm_block *b, char **problem)
{
	json_object *o = json_object_new_object();
	const char *text = b->text.data ? b->text.data : "";

	*problem = NULL;
	switch (b->kind) {
	case FLUE_ASM_TEXT:
	case FLUE_ASM_THINKING:
		json_object_object_add(o, "type", json_object_new_string(
		        b->kind == FLUE_ASM_TEXT ? "text" : "thinking"));
		json_object_object_add(o, "text",
		        json_object_new_string_len(text, (int)b->text.len));
		break;
	default:
		json_object_object_add(o, "type",
		                       json_object_new_string("tool_call"));
		json_object_object_add(o, "id", json_object_new_string(b->id));
		json_object_object_add(o, "name", json_object_new_string(b->name));
		json_object_object_add(o, "arguments",
		                       parse_arguments(&b->text, problem));
		break;
	}
	return o;
}

int
flue_assembler_finish(struct flue_assembler *a, const char *model,
                      json_object **out, char ***out_arg_errors,
                      struct flue_error *err)
{
	json_object *msg, *content;
	char **problems;
	size_t call = 0;

	*out = NULL;
	*out_arg_errors = NULL;
	if (a->stop_reason == NULL)
		return flue_error_set(err, FLUE_ERETRY, "the answer ended before "
		                      "the provider said it was complete");
	problems = calloc(a->tool_calls + 1, sizeof(*problems));
	msg = json_object_new_object();
	content = json_object_new_array();
	if (problems == NULL || msg == NULL || content == NULL) {
		free(problems);
		json_object_put(msg);
		json_object_put(content);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < a->count; i++) {
		char *problem;

		json_object_array_add(content, block_json(&a->blocks[i], &problem));
		if (a->blocks[i].kind == FLUE_ASM_TOOL_CALL)
			problems[call++] = problem;
	}
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", content);
	json_object_object_add(msg, "stop_reason",
	                       json_object_new_string(a->stop_reason));
	if (model != NULL)
		json_object_object_add(msg, "model", json_object_new_string(model));
	if (a->have_usage)
		json_object_object_add(msg, "usage", flue_usage_to_json(&a->usage));
	if (a->provider_data != NULL)
		json_object_object_add(msg, "provider_data",
		                       json_object_get(a->provider_data));
	*out = msg;
	*out_arg_errors = problems;
	return 0;
}
