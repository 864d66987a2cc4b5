/* Anthropic Messages: the request body (roles strictly alternating, tool
 * results grouped into user turns, signed thinking sent back first) and
 * the named stream events turned into flue provider events. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

#define AN_API "anthropic-messages"
#define AN_DEFAULT_MAX_TOKENS 8192
/* Room for the answer beyond a thinking budget when the limit is not
 * above it (the API requires max_tokens > budget_tokens). */
#define AN_ANSWER_ROOM 8192

/* ------------------------------------------------------------------ */
/* Request body                                                        */
/* ------------------------------------------------------------------ */

/* The conversation being built: a block goes into the last message when
 * it has the same role, so roles alternate whatever the history holds
 * (tool results become one user turn, a user text after them joins it). */
struct an_turns {
	json_object *messages;        /* array */
	json_object *content;         /* [borrowed] the last message's blocks */
	int role;                     /* the last message's: GW_ROLE_* */
};

/* Add block (taken, even on failure) to a turn of role. */
static int
an_push(struct an_turns *t, enum gw_role role, json_object *block)
{
	json_object *msg, *content;

	if (block == NULL)
		return FLUE_ENOMEM;
	if (t->content != NULL && t->role == (int)role)
		return gw_append(t->content, block) ? FLUE_ENOMEM : 0;
	msg = json_object_new_object();
	content = json_object_new_array();
	if (msg == NULL || content == NULL ||
	    gw_add(msg, "role", json_object_new_string(role == GW_ROLE_ASSISTANT ?
	                                               "assistant" : "user"))) {
		json_object_put(msg);
		json_object_put(content);
		json_object_put(block);
		return FLUE_ENOMEM;
	}
	if (gw_add(msg, "content", content)) {
		json_object_put(msg);
		json_object_put(block);
		return FLUE_ENOMEM;
	}
	if (gw_append(t->messages, msg)) {
		json_object_put(block);
		return FLUE_ENOMEM;
	}
	t->content = content;
	t->role = (int)role;
	return gw_append(content, block) ? FLUE_ENOMEM : 0;
}

static json_object *
an_text_block(const char *text, size_t len)
{
	json_object *b = json_object_new_object();

	if (b == NULL || gw_add(b, "type", json_object_new_string("text")) ||
	    gw_add(b, "text", gw_new_string(text, len))) {
		json_object_put(b);
		return NULL;
	}
	return b;
}

static json_object *
an_tool_use_block(const struct gw_block *call)
{
	json_object *b = json_object_new_object();

	if (b == NULL || gw_add(b, "type", json_object_new_string("tool_use")) ||
	    gw_add(b, "id", json_object_new_string(call->id)) ||
	    gw_add(b, "name", json_object_new_string(call->name)) ||
	    gw_add(b, "input", json_object_get(call->arguments))) {
		json_object_put(b);
		return NULL;
	}
	return b;
}

static int
an_user(struct an_turns *t, json_object *msg, size_t index,
        struct flue_error *err)
{
	const char *text;
	size_t len;
	int rc = gw_check_user(msg, index, &text, &len, err);

	if (rc != 0 || len == 0)
		return rc;    /* the API refuses empty text blocks */
	return an_push(t, GW_ROLE_USER, an_text_block(text, len));
}

static int
an_tool(struct an_turns *t, json_object *msg, size_t index,
        struct flue_error *err)
{
	const char *id, *content;
	json_object *b;
	size_t len;
	int is_error;
	int rc = gw_check_tool_result(msg, index, &id, &content, &len, &is_error,
	                              err);

	if (rc != 0)
		return rc;
	b = json_object_new_object();
	if (b == NULL ||
	    gw_add(b, "type", json_object_new_string("tool_result")) ||
	    gw_add(b, "tool_use_id", json_object_new_string(id)) ||
	    gw_add(b, "content", gw_new_string(content, len)) ||
	    (is_error && gw_add(b, "is_error", json_object_new_boolean(1)))) {
		json_object_put(b);
		return FLUE_ENOMEM;
	}
	return an_push(t, GW_ROLE_USER, b);
}

/* Signed thinking this protocol stored, exactly as stored.  flue's own
 * thinking blocks are not sent: the API refuses thinking without its
 * signature. */
static int
an_thinking_echo(struct an_turns *t, json_object *msg)
{
	json_object *list = gw_member(gw_provider_data(msg, AN_API), "thinking",
	                              json_type_array);
	size_t n = list ? json_object_array_length(list) : 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		json_object *b = json_object_array_get_idx(list, i);

		if (json_object_is_type(b, json_type_object))
			rc = an_push(t, GW_ROLE_ASSISTANT, json_object_get(b));
	}
	return rc;
}

/* Thinking first, then text, then tool calls: the order the API
 * produces and expects back. */
static int
an_assistant(struct an_turns *t, json_object *msg, size_t index,
             struct flue_error *err)
{
	json_object *blocks;
	struct gw_block b;
	size_t n;
	int rc = gw_check_blocks(msg, index, &blocks, err);

	if (rc == 0)
		rc = an_thinking_echo(t, msg);
	n = rc == 0 ? json_object_array_length(blocks) : 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			rc = gw_check_block(blocks, index, i, &b, err);
			if (rc != 0)
				break;
			if (pass == 0 && b.kind == GW_BLOCK_TEXT && b.text_len > 0)
				rc = an_push(t, GW_ROLE_ASSISTANT,
				             an_text_block(b.text, b.text_len));
			else if (pass == 1 && b.kind == GW_BLOCK_TOOL_CALL)
				rc = an_push(t, GW_ROLE_ASSISTANT, an_tool_use_block(&b));
		}
	}
	return rc;
}

static int
an_messages(const struct gw_request *req, json_object *messages,
            struct flue_error *err)
{
	struct an_turns t = {messages, NULL, GW_ROLE_SKIP};
	size_t n = json_object_array_length(req->messages);
	json_object *msg;
	enum gw_role role;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = gw_check_message(req->messages, i, &msg, &role, err);
		if (rc == 0 && role == GW_ROLE_USER)
			rc = an_user(&t, msg, i, err);
		else if (rc == 0 && role == GW_ROLE_ASSISTANT)
			rc = an_assistant(&t, msg, i, err);
		else if (rc == 0 && role == GW_ROLE_TOOL)
			rc = an_tool(&t, msg, i, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static json_object *
an_empty_schema(void)
{
	json_object *s = json_object_new_object();

	if (s == NULL || gw_add(s, "type", json_object_new_string("object")) ||
	    gw_add(s, "properties", json_object_new_object())) {
		json_object_put(s);
		return NULL;
	}
	return s;
}

static int
an_tools(const struct gw_request *req, json_object *out,
         struct flue_error *err)
{
	size_t n = req->tools ? json_object_array_length(req->tools) : 0;
	const char *name, *description;
	json_object *params, *tool;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = gw_check_tool(req->tools, i, &name, &description, &params,
		                   err);
		if (rc != 0)
			return rc;
		/* input_schema is required: a tool without parameters takes
		 * an empty object. */
		tool = json_object_new_object();
		if (tool == NULL ||
		    gw_add(tool, "name", json_object_new_string(name)) ||
		    (description != NULL && gw_add(tool, "description",
		     json_object_new_string(description))) ||
		    gw_add(tool, "input_schema", params != NULL ?
		           json_object_get(params) : an_empty_schema())) {
			json_object_put(tool);
			return FLUE_ENOMEM;
		}
		if (gw_append(out, tool))
			return FLUE_ENOMEM;
	}
	return 0;
}

static int64_t
an_budget(const char *level)
{
	if (strcmp(level, "minimal") == 0)
		return 1024;
	if (strcmp(level, "low") == 0)
		return 2048;
	if (strcmp(level, "medium") == 0)
		return 8192;
	if (strcmp(level, "high") == 0)
		return 16384;
	return 32768;     /* xhigh */
}

static json_object *
an_system(const char *system)
{
	json_object *list = json_object_new_array();
	json_object *block = json_object_new_object();
	json_object *cache = json_object_new_object();

	if (list == NULL || block == NULL || cache == NULL ||
	    gw_add(cache, "type", json_object_new_string("ephemeral")) ||
	    gw_add(block, "type", json_object_new_string("text")) ||
	    gw_add(block, "text", json_object_new_string(system))) {
		json_object_put(list);
		json_object_put(block);
		json_object_put(cache);
		return NULL;
	}
	/* The system prompt rarely changes within a session: cache it. */
	if (gw_add(block, "cache_control", cache)) {
		json_object_put(list);
		json_object_put(block);
		return NULL;
	}
	if (gw_append(list, block)) {
		json_object_put(list);
		return NULL;
	}
	return list;
}

static json_object *
an_thinking(int64_t budget)
{
	json_object *t = json_object_new_object();

	if (t == NULL || gw_add(t, "type", json_object_new_string("enabled")) ||
	    gw_add(t, "budget_tokens", json_object_new_int64(budget))) {
		json_object_put(t);
		return NULL;
	}
	return t;
}

int
gw_anthropic_body(const struct gw_body_settings *settings,
                  const struct gw_request *req, json_object **out,
                  struct flue_error *err)
{
	json_object *body = json_object_new_object();
	json_object *messages = json_object_new_array();
	json_object *tools = json_object_new_array();
	int64_t budget = req->thinking ? an_budget(req->thinking) : 0;
	int64_t max_tokens = settings->max_tokens > 0 ? settings->max_tokens :
	                     req->max_tokens > 0 ? req->max_tokens :
	                     AN_DEFAULT_MAX_TOKENS;
	int rc = FLUE_ENOMEM, bad;

	*out = NULL;
	if (budget > 0 && max_tokens <= budget)
		max_tokens = budget + AN_ANSWER_ROOM;
	if (body == NULL || messages == NULL || tools == NULL)
		goto fail;
	rc = an_messages(req, messages, err);
	if (rc == 0)
		rc = an_tools(req, tools, err);
	if (rc != 0)
		goto fail;
	rc = FLUE_ENOMEM;
	if (gw_add(body, "model", json_object_new_string(req->model)) ||
	    gw_add(body, "max_tokens", json_object_new_int64(max_tokens)) ||
	    (req->system != NULL && req->system[0] != '\0' &&
	     gw_add(body, "system", an_system(req->system))))
		goto fail;
	/* gw_add takes the value, failing or not. */
	bad = gw_add(body, "messages", messages);
	messages = NULL;
	if (!bad && json_object_array_length(tools) > 0) {
		bad = gw_add(body, "tools", tools);
		tools = NULL;
	}
	if (bad || gw_add(body, "stream", json_object_new_boolean(1)) ||
	    (budget > 0 && gw_add(body, "thinking", an_thinking(budget))))
		goto fail;
	json_object_put(tools);
	*out = body;
	return 0;
fail:
	json_object_put(body);
	json_object_put(messages);
	json_object_put(tools);
	return rc == FLUE_ENOMEM ? gw_nomem(err) : rc;
}

/* ------------------------------------------------------------------ */
/* Stream decoder                                                      */
/* ------------------------------------------------------------------ */

enum an_kind {
	AN_OTHER = 0,         /* server tools, citations...: not ours */
	AN_TEXT,
	AN_THINKING,
	AN_REDACTED,
	AN_TOOL_USE
};

struct an_block {
	int64_t key;          /* the events' "index" */
	enum an_kind kind;
	int stopped;          /* content_block_stop came */
	uint32_t call;        /* AN_TOOL_USE: flue's tool call index */
	int whole_input;      /* AN_TOOL_USE: the start carried the input */
	struct gw_buf thinking, signature;   /* AN_THINKING */
	struct gw_buf data;   /* AN_REDACTED */
};

struct gw_anthropic {
	struct an_block *blocks;
	size_t nblocks, cap;
	uint32_t ncalls;
	const char *stop;     /* flue's stop reason, once seen */
	struct flue_usage usage;
	int has_usage;
};

struct gw_anthropic *
gw_anthropic_new(void)
{
	struct gw_anthropic *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->usage.cost_usd = -1;
	return s;
}

void
gw_anthropic_free(struct gw_anthropic *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nblocks; i++) {
		gw_buf_free(&s->blocks[i].thinking);
		gw_buf_free(&s->blocks[i].signature);
		gw_buf_free(&s->blocks[i].data);
	}
	free(s->blocks);
	free(s);
}

static const char *
an_stop_reason(const char *reason)
{
	if (strcmp(reason, "end_turn") == 0 ||
	    strcmp(reason, "stop_sequence") == 0)
		return "end";
	if (strcmp(reason, "tool_use") == 0)
		return "tool_calls";
	if (strcmp(reason, "max_tokens") == 0)
		return "max_tokens";
	if (strcmp(reason, "refusal") == 0)
		return "refusal";
	return "other";     /* pause_turn and whatever comes later */
}

/* Usage counts are cumulative: each one present replaces the last. */
static void
an_usage(struct gw_anthropic *s, json_object *u)
{
	static const struct {
		const char *key;
		size_t offset;
	} fields[] = {
		{"input_tokens", offsetof(struct flue_usage, input_tokens)},
		{"output_tokens", offsetof(struct flue_usage, output_tokens)},
		{"cache_read_input_tokens",
		 offsetof(struct flue_usage, cache_read_tokens)},
		{"cache_creation_input_tokens",
		 offsetof(struct flue_usage, cache_write_tokens)},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (gw_member(u, fields[i].key, json_type_int) != NULL ||
		    gw_member(u, fields[i].key, json_type_double) != NULL)
			*(uint64_t *)((char *)&s->usage + fields[i].offset) =
				gw_count(u, fields[i].key);
	if (gw_cost(u, "cost") >= 0)
		s->usage.cost_usd = gw_cost(u, "cost");
	s->has_usage = 1;
}

/* The block an event's "index" names; newest first, as events almost
 * always concern the block just started. */
static struct an_block *
an_find(struct gw_anthropic *s, int64_t key)
{
	for (size_t i = s->nblocks; i-- > 0;)
		if (s->blocks[i].key == key)
			return &s->blocks[i];
	return NULL;
}

static int
an_index(json_object *event, const char *what, int64_t *key,
         struct flue_error *err)
{
	json_object *val = gw_member(event, "index", json_type_int);

	if (val == NULL)
		return gw_fail(err, FLUE_ERROR, "the provider sent %s without an "
		               "index", what);
	*key = json_object_get_int64(val);
	return 0;
}

static int
an_start_tool(struct gw_decoder *d, struct an_block *b, json_object *cb,
              struct flue_error *err)
{
	struct gw_anthropic *s = d->anthropic;
	struct flue_provider_event ev = {0};
	const char *id = gw_string(cb, "id", NULL);
	const char *name = gw_string(cb, "name", NULL);
	json_object *input = gw_member(cb, "input", json_type_object);
	char made[32];
	const char *args;
	size_t len;
	int rc;

	if (name == NULL || name[0] == '\0')
		return gw_fail(err, FLUE_ERROR, "the provider started tool call "
		               "%" PRIu32 " without a name", s->ncalls);
	if (id == NULL || id[0] == '\0') {
		snprintf(made, sizeof(made), "call_%" PRIu32, s->ncalls);
		id = made;
	}
	b->kind = AN_TOOL_USE;
	b->call = s->ncalls++;
	ev.type = FLUE_PROVIDER_TOOL_CALL_START;
	ev.index = b->call;
	ev.id = id;
	ev.name = name;
	rc = gw_emit(d, &ev, err);
	if (rc != 0 || input == NULL || json_object_object_length(input) == 0)
		return rc;
	/* Input given whole at the start (some translating proxies): it is
	 * the call's arguments, and later pieces would only corrupt them. */
	b->whole_input = 1;
	args = json_object_to_json_string_length(input, GW_JSON_FLAGS, &len);
	if (args == NULL)
		return FLUE_ENOMEM;
	return gw_emit_text(d, FLUE_PROVIDER_TOOL_CALL_DELTA, b->call, args, len,
	                    err);
}

static int
an_block_start(struct gw_decoder *d, json_object *event,
               struct flue_error *err)
{
	struct gw_anthropic *s = d->anthropic;
	json_object *cb = gw_member(event, "content_block", json_type_object);
	const char *type = gw_string(cb, "type", NULL), *text;
	struct an_block *b;
	int64_t key = 0;
	size_t len;
	int rc = an_index(event, "content_block_start", &key, err);

	if (rc != 0)
		return rc;
	if (an_find(s, key) != NULL)
		return gw_fail(err, FLUE_ERROR, "the provider started content "
		               "block %" PRId64 " twice", key);
	if (s->nblocks == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct an_block *grown = realloc(s->blocks, cap * sizeof(*grown));

		if (grown == NULL)
			return FLUE_ENOMEM;
		s->blocks = grown;
		s->cap = cap;
	}
	b = &s->blocks[s->nblocks++];
	memset(b, 0, sizeof(*b));
	b->key = key;
	if (type == NULL)
		return 0;
	if (strcmp(type, "tool_use") == 0)
		return an_start_tool(d, b, cb, err);
	if (strcmp(type, "redacted_thinking") == 0) {
		b->kind = AN_REDACTED;
		text = gw_string(cb, "data", &len);
		return text ? gw_buf_add(&b->data, text, len) : 0;
	}
	if (strcmp(type, "text") == 0) {
		b->kind = AN_TEXT;
		text = gw_string(cb, "text", &len);
		return text && len ? gw_emit_text(d, FLUE_PROVIDER_TEXT_DELTA, 0,
		                                  text, len, err) : 0;
	}
	if (strcmp(type, "thinking") != 0)
		return 0;
	b->kind = AN_THINKING;
	text = gw_string(cb, "signature", &len);
	if (text != NULL && gw_buf_add(&b->signature, text, len) != 0)
		return FLUE_ENOMEM;
	text = gw_string(cb, "thinking", &len);
	if (text == NULL || len == 0)
		return 0;
	if (gw_buf_add(&b->thinking, text, len) != 0)
		return FLUE_ENOMEM;
	return gw_emit_text(d, FLUE_PROVIDER_THINKING_DELTA, 0, text, len, err);
}

static int
an_block_delta(struct gw_decoder *d, json_object *event,
               struct flue_error *err)
{
	json_object *delta = gw_member(event, "delta", json_type_object);
	const char *type = gw_string(delta, "type", NULL), *text;
	struct an_block *b;
	int64_t key = 0;
	size_t len = 0;
	int rc = an_index(event, "content_block_delta", &key, err);

	if (rc != 0)
		return rc;
	b = an_find(d->anthropic, key);
	if (b == NULL || b->stopped)
		return gw_fail(err, FLUE_ERROR, "the provider sent a delta for "
		               "content block %" PRId64 ", which is not open", key);
	if (type == NULL)
		return 0;
	if (strcmp(type, "text_delta") == 0) {
		text = gw_string(delta, "text", &len);
		return len ? gw_emit_text(d, FLUE_PROVIDER_TEXT_DELTA, 0, text, len,
		                          err) : 0;
	}
	if (strcmp(type, "thinking_delta") == 0) {
		text = gw_string(delta, "thinking", &len);
		if (len == 0)
			return 0;
		if (b->kind == AN_THINKING &&
		    gw_buf_add(&b->thinking, text, len) != 0)
			return FLUE_ENOMEM;
		return gw_emit_text(d, FLUE_PROVIDER_THINKING_DELTA, 0, text, len,
		                    err);
	}
	if (strcmp(type, "signature_delta") == 0) {
		text = gw_string(delta, "signature", &len);
		if (b->kind == AN_THINKING && len > 0)
			return gw_buf_add(&b->signature, text, len);
		return 0;
	}
	if (strcmp(type, "input_json_delta") != 0)
		return 0;     /* citations and later kinds */
	if (b->kind != AN_TOOL_USE)
		return gw_fail(err, FLUE_ERROR, "the provider sent tool input for "
		               "content block %" PRId64 ", which is not a tool call",
		               key);
	text = gw_string(delta, "partial_json", &len);
	if (len == 0 || b->whole_input)
		return 0;
	return gw_emit_text(d, FLUE_PROVIDER_TOOL_CALL_DELTA, b->call, text, len,
	                    err);
}

static int
an_block_stop(struct gw_decoder *d, json_object *event,
              struct flue_error *err)
{
	json_object *val = gw_member(event, "index", json_type_int);
	struct an_block *b;

	b = val ? an_find(d->anthropic, json_object_get_int64(val)) : NULL;
	if (b == NULL || b->stopped)
		return 0;
	b->stopped = 1;
	if (b->kind != AN_TOOL_USE)
		return 0;
	return gw_emit_text(d, FLUE_PROVIDER_TOOL_CALL_END, b->call, NULL, 0,
	                    err);
}

static json_object *
an_thinking_json(const struct an_block *b)
{
	json_object *o = json_object_new_object();
	int bad;

	if (o == NULL)
		return NULL;
	if (b->kind == AN_REDACTED)
		bad = gw_add(o, "type", json_object_new_string("redacted_thinking")) ||
		      gw_add(o, "data", gw_new_string(b->data.data, b->data.len));
	else
		bad = gw_add(o, "type", json_object_new_string("thinking")) ||
		      gw_add(o, "thinking", gw_new_string(b->thinking.data ?
		             b->thinking.data : "", b->thinking.len)) ||
		      gw_add(o, "signature", gw_new_string(b->signature.data,
		             b->signature.len));
	if (bad) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* {"api":"anthropic-messages","thinking":[...]}: the signed thinking
 * blocks, which the API wants back unchanged with the tool results.
 * Unsigned ones would be refused, so they are not kept. */
static int
an_opaque(struct gw_decoder *d, struct flue_error *err)
{
	struct gw_anthropic *s = d->anthropic;
	json_object *o = NULL, *list = NULL;
	int rc;

	for (size_t i = 0; i < s->nblocks; i++) {
		const struct an_block *b = &s->blocks[i];

		if (!(b->kind == AN_THINKING && b->signature.len > 0) &&
		    !(b->kind == AN_REDACTED && b->data.len > 0))
			continue;
		if (o == NULL) {
			o = json_object_new_object();
			list = json_object_new_array();
			if (o == NULL ||
			    gw_add(o, "api", json_object_new_string(AN_API)) ||
			    gw_add(o, "thinking", list)) {
				json_object_put(o);
				return FLUE_ENOMEM;
			}
		}
		if (gw_append(list, an_thinking_json(b))) {
			json_object_put(o);
			return FLUE_ENOMEM;
		}
	}
	if (o == NULL)
		return 0;
	rc = gw_emit_json(d, o, err);
	json_object_put(o);
	return rc;
}

static int
an_message_stop(struct gw_decoder *d, struct flue_error *err)
{
	struct gw_anthropic *s = d->anthropic;
	const char *stop = s->stop ? s->stop : "other";
	int rc = 0;

	if (s->has_usage)
		rc = gw_emit_usage(d, &s->usage, err);
	if (rc == 0)
		rc = an_opaque(d, err);
	if (rc == 0)
		rc = gw_emit_text(d, FLUE_PROVIDER_STOP, 0, stop, strlen(stop), err);
	return rc;
}

static int
an_dispatch(struct gw_decoder *d, const char *type, json_object *event,
            struct flue_error *err)
{
	struct gw_anthropic *s = d->anthropic;
	json_object *val;
	const char *reason;

	if (strcmp(type, "content_block_delta") == 0)
		return an_block_delta(d, event, err);
	if (strcmp(type, "content_block_start") == 0)
		return an_block_start(d, event, err);
	if (strcmp(type, "content_block_stop") == 0)
		return an_block_stop(d, event, err);
	if (strcmp(type, "message_start") == 0) {
		val = gw_member(gw_member(event, "message", json_type_object),
		                "usage", json_type_object);
		if (val != NULL)
			an_usage(s, val);
		return 0;
	}
	if (strcmp(type, "message_delta") == 0) {
		reason = gw_string(gw_member(event, "delta", json_type_object),
		                   "stop_reason", NULL);
		if (reason != NULL)
			s->stop = an_stop_reason(reason);
		val = gw_member(event, "usage", json_type_object);
		if (val != NULL)
			an_usage(s, val);
		return 0;
	}
	if (strcmp(type, "message_stop") == 0)
		return an_message_stop(d, err);
	if (strcmp(type, "error") == 0) {
		val = gw_member(event, "error", json_type_object);
		return gw_stream_error(val ? val : event, err);
	}
	return 0;     /* ping, and event types added later */
}

static int
an_known(const char *type)
{
	static const char *const known[] = {
		"message_start", "content_block_start", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop", "error",
		NULL
	};

	for (size_t i = 0; known[i] != NULL; i++)
		if (strcmp(type, known[i]) == 0)
			return 1;
	return 0;
}

int
gw_anthropic_event(struct gw_decoder *d, const char *type, const char *data,
                   size_t len, struct flue_error *err)
{
	json_object *event;
	const char *inner;
	int rc;

	/* A named event of a kind not handled needs no parsing at all. */
	if (strcmp(type, "message") != 0 && !an_known(type))
		return 0;
	while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\t' ||
	       data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	if (len == 0 || (len == 6 && memcmp(data, "[DONE]", 6) == 0))
		return 0;     /* keep-alives, and proxies ending the OpenAI way */
	rc = gw_json_parse(data, len, &event, err);
	if (rc != 0)
		return rc;
	if (strcmp(type, "message") == 0) {
		/* No event: line; the data names itself. */
		inner = gw_string(event, "type", NULL);
		type = inner != NULL ? inner : "";
	}
	rc = an_dispatch(d, type, event, err);
	json_object_put(event);
	return rc;
}
