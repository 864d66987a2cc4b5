/* OpenAI Chat Completions, as the AI Gateway and most local servers
 * speak it: the request body, and the streamed chunks turned into flue
 * provider events.  Tool calls are keyed by the chunk's "index"; their
 * argument pieces are passed on as they come, never joined here. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/printbuf.h>

#include "codec_internal.h"

#define OA_API "openai-chat"

/* ------------------------------------------------------------------ */
/* Request body                                                        */
/* ------------------------------------------------------------------ */

static json_object *
oa_role_message(const char *role)
{
	json_object *msg = json_object_new_object();

	if (msg != NULL && gw_add(msg, "role", json_object_new_string(role))) {
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

static json_object *
oa_tool_call(const struct gw_block *b)
{
	json_object *call = json_object_new_object();
	json_object *fn = json_object_new_object();
	const char *args = json_object_to_json_string_ext(b->arguments,
	                                                  GW_JSON_FLAGS);

	if (call == NULL || fn == NULL || args == NULL ||
	    gw_add(fn, "name", json_object_new_string(b->name)) ||
	    gw_add(fn, "arguments", json_object_new_string(args)) ||
	    gw_add(call, "id", json_object_new_string(b->id)) ||
	    gw_add(call, "type", json_object_new_string("function"))) {
		json_object_put(call);
		json_object_put(fn);
		return NULL;
	}
	if (gw_add(call, "function", fn)) {
		json_object_put(call);
		return NULL;
	}
	return call;
}

/* What this protocol stored with the answer goes back exactly so. */
static int
oa_echo(json_object *msg, json_object *out)
{
	json_object *data = gw_provider_data(msg, OA_API), *val;

	if (data == NULL)
		return 0;
	if (json_object_object_get_ex(data, "reasoning", &val) && val != NULL &&
	    gw_add(out, "reasoning", json_object_get(val)))
		return -1;
	if (json_object_object_get_ex(data, "reasoning_details", &val) &&
	    val != NULL && gw_add(out, "reasoning_details", json_object_get(val)))
		return -1;
	return 0;
}

/* The text blocks joined into text, the tool calls into *calls (left
 * NULL when there are none).  Thinking is not sent back as text: the
 * provider's own record of it rides in provider_data. */
static int
oa_gather(json_object *blocks, size_t index, struct gw_buf *text,
          json_object **calls, struct flue_error *err)
{
	size_t n = json_object_array_length(blocks);
	struct gw_block b;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = gw_check_block(blocks, index, i, &b, err);
		if (rc != 0)
			return rc;
		if (b.kind == GW_BLOCK_TEXT &&
		    gw_buf_add(text, b.text, b.text_len) != 0)
			return FLUE_ENOMEM;
		if (b.kind != GW_BLOCK_TOOL_CALL)
			continue;
		if (*calls == NULL)
			*calls = json_object_new_array();
		if (*calls == NULL || gw_append(*calls, oa_tool_call(&b)))
			return FLUE_ENOMEM;
	}
	return 0;
}

static int
oa_assistant(json_object *msg, size_t index, json_object **out,
             struct flue_error *err)
{
	json_object *blocks, *res = NULL, *calls = NULL, *content = NULL;
	struct gw_buf text = {0};
	int rc = gw_check_blocks(msg, index, &blocks, err);

	if (rc == 0)
		rc = oa_gather(blocks, index, &text, &calls, err);
	if (rc != 0)
		goto out;
	rc = FLUE_ENOMEM;
	res = oa_role_message("assistant");
	/* null only beside tool calls: a message needs one or the other. */
	if (text.len > 0 || calls == NULL) {
		content = gw_new_string(text.data ? text.data : "", text.len);
		if (content == NULL)
			goto out;
	}
	if (res == NULL || json_object_object_add(res, "content", content))
		goto out;
	content = NULL;
	if (calls != NULL && gw_add(res, "tool_calls", json_object_get(calls)))
		goto out;
	if (oa_echo(msg, res) != 0)
		goto out;
	*out = res;
	res = NULL;
	rc = 0;
out:
	gw_buf_free(&text);
	json_object_put(calls);
	json_object_put(content);
	json_object_put(res);
	return rc;
}

static int
oa_user(json_object *msg, size_t index, json_object **out,
        struct flue_error *err)
{
	const char *text;
	size_t len;
	int rc = gw_check_user(msg, index, &text, &len, err);

	if (rc != 0)
		return rc;
	*out = oa_role_message("user");
	if (*out == NULL || gw_add(*out, "content", gw_new_string(text, len))) {
		json_object_put(*out);
		*out = NULL;
		return FLUE_ENOMEM;
	}
	return 0;
}

static int
oa_tool(json_object *msg, size_t index, json_object **out,
        struct flue_error *err)
{
	const char *id, *content;
	size_t len;
	int is_error;
	int rc = gw_check_tool_result(msg, index, &id, &content, &len, &is_error,
	                              err);

	if (rc != 0)
		return rc;
	/* Chat Completions has no error flag: the text says what failed. */
	*out = oa_role_message("tool");
	if (*out == NULL ||
	    gw_add(*out, "tool_call_id", json_object_new_string(id)) ||
	    gw_add(*out, "content", gw_new_string(content, len))) {
		json_object_put(*out);
		*out = NULL;
		return FLUE_ENOMEM;
	}
	return 0;
}

/* Converting a message depends on that message alone, and a session
 * sends the same history turn after turn (the gateway plugin keeps the
 * parsed messages between requests).  So the converted message is kept
 * on the message it came from (json-c user data), with its serialised
 * text printed back by a custom serialiser: an old message costs a
 * lookup, not a conversion, a serialisation and a free. */
#define OA_MEMO_MAGIC 0x6f61u

struct oa_memo {
	unsigned magic;
	json_object *conv;    /* owned reference */
};

struct oa_text {
	char *text;           /* owned */
	size_t len;
};

static void
oa_memo_free(json_object *jso, void *userdata)
{
	struct oa_memo *memo = userdata;

	(void)jso;
	json_object_put(memo->conv);
	free(memo);
}

static void
oa_text_free(json_object *jso, void *userdata)
{
	struct oa_text *t = userdata;

	(void)jso;
	free(t->text);
	free(t);
}

static int
oa_text_print(json_object *jso, struct printbuf *pb, int level, int flags)
{
	struct oa_text *t = json_object_get_userdata(jso);

	(void)level;
	(void)flags;
	return printbuf_memappend(pb, t->text, (int)t->len);
}

static json_object *
oa_memo_find(json_object *msg)
{
	struct oa_memo *memo = json_object_get_userdata(msg);

	if (memo == NULL || memo->magic != OA_MEMO_MAGIC)
		return NULL;
	return json_object_get(memo->conv);
}

/* Remember conv on msg; failing to is not an error (no memo, that is
 * all). */
static void
oa_memo_keep(json_object *msg, json_object *conv)
{
	struct oa_memo *memo;
	struct oa_text *t;
	size_t len;
	const char *text;

	if (json_object_get_userdata(msg) != NULL)
		return;
	text = json_object_to_json_string_length(conv, GW_JSON_FLAGS, &len);
	memo = malloc(sizeof(*memo));
	t = malloc(sizeof(*t));
	if (text == NULL || memo == NULL || t == NULL ||
	    (t->text = malloc(len + 1)) == NULL) {
		free(memo);
		free(t);
		return;
	}
	memcpy(t->text, text, len + 1);
	t->len = len;
	json_object_set_serializer(conv, oa_text_print, t, oa_text_free);
	memo->magic = OA_MEMO_MAGIC;
	memo->conv = json_object_get(conv);
	json_object_set_userdata(msg, memo, oa_memo_free);
}

static int
oa_messages(const struct gw_request *req, json_object *out,
            struct flue_error *err)
{
	size_t n = json_object_array_length(req->messages);
	json_object *msg, *conv;
	enum gw_role role;
	int rc;

	if (req->system != NULL && req->system[0] != '\0') {
		conv = oa_role_message("system");
		if (conv == NULL ||
		    gw_add(conv, "content", json_object_new_string(req->system)) ||
		    gw_append(out, conv))
			return FLUE_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rc = gw_check_message(req->messages, i, &msg, &role, err);
		if (rc != 0)
			return rc;
		conv = oa_memo_find(msg);
		if (conv != NULL) {
			if (gw_append(out, conv))
				return FLUE_ENOMEM;
			continue;
		}
		if (role == GW_ROLE_USER)
			rc = oa_user(msg, i, &conv, err);
		else if (role == GW_ROLE_ASSISTANT)
			rc = oa_assistant(msg, i, &conv, err);
		else if (role == GW_ROLE_TOOL)
			rc = oa_tool(msg, i, &conv, err);
		if (rc != 0)
			return rc;
		if (conv != NULL)
			oa_memo_keep(msg, conv);
		if (conv != NULL && gw_append(out, conv))
			return FLUE_ENOMEM;
	}
	return 0;
}

static int
oa_tools(const struct gw_request *req, json_object *out,
         struct flue_error *err)
{
	size_t n = req->tools ? json_object_array_length(req->tools) : 0;
	const char *name, *description;
	json_object *params, *tool, *fn;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = gw_check_tool(req->tools, i, &name, &description, &params,
		                   err);
		if (rc != 0)
			return rc;
		tool = json_object_new_object();
		fn = json_object_new_object();
		if (tool == NULL || fn == NULL ||
		    gw_add(fn, "name", json_object_new_string(name)) ||
		    (description != NULL && gw_add(fn, "description",
		     json_object_new_string(description))) ||
		    (params != NULL && gw_add(fn, "parameters",
		     json_object_get(params))) ||
		    gw_add(tool, "type", json_object_new_string("function"))) {
			json_object_put(tool);
			json_object_put(fn);
			return FLUE_ENOMEM;
		}
		if (gw_add(tool, "function", fn) || gw_append(out, tool))
			return FLUE_ENOMEM;
	}
	return 0;
}

/* Everything after the conversation: streaming, limits, reasoning. */
static int
oa_options(const struct gw_body_settings *settings,
           const struct gw_request *req, json_object *body)
{
	int64_t max_tokens = settings->max_tokens > 0 ? settings->max_tokens :
	                     req->max_tokens;
	json_object *opts = json_object_new_object();

	if (opts == NULL ||
	    gw_add(opts, "include_usage", json_object_new_boolean(1))) {
		json_object_put(opts);
		return FLUE_ENOMEM;
	}
	if (gw_add(body, "stream", json_object_new_boolean(1)) ||
	    gw_add(body, "stream_options", opts))
		return FLUE_ENOMEM;
	if (max_tokens > 0 &&
	    gw_add(body, "max_tokens", json_object_new_int64(max_tokens)))
		return FLUE_ENOMEM;
	if (req->thinking != NULL) {
		json_object *reasoning = json_object_new_object();

		if (reasoning == NULL || gw_add(reasoning, "effort",
		    json_object_new_string(req->thinking))) {
			json_object_put(reasoning);
			return FLUE_ENOMEM;
		}
		if (gw_add(body, "reasoning", reasoning))
			return FLUE_ENOMEM;
	}
	if (settings->provider_options != NULL &&
	    gw_add(body, "providerOptions",
	           json_object_get(settings->provider_options)))
		return FLUE_ENOMEM;
	return 0;
}

int
gw_openai_body(const struct gw_body_settings *settings,
               const struct gw_request *req, json_object **out,
               struct flue_error *err)
{
	json_object *body = json_object_new_object();
	json_object *messages = json_object_new_array();
	json_object *tools = json_object_new_array();
	int rc = FLUE_ENOMEM;

	*out = NULL;
	if (body == NULL || messages == NULL || tools == NULL)
		goto fail;
	rc = oa_messages(req, messages, err);
	if (rc == 0)
		rc = oa_tools(req, tools, err);
	if (rc != 0)
		goto fail;
	rc = FLUE_ENOMEM;
	if (gw_add(body, "model", json_object_new_string(req->model)))
		goto fail;
	if (gw_add(body, "messages", messages)) {
		messages = NULL;
		goto fail;
	}
	messages = NULL;
	if (json_object_array_length(tools) > 0) {
		if (gw_add(body, "tools", tools)) {
			tools = NULL;
			goto fail;
		}
		tools = NULL;
	}
	if (oa_options(settings, req, body) != 0)
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

/* A tool call seen so far; its flue index is its position. */
struct oa_call {
	char *id;             /* owned */
	int64_t key;          /* the chunk's "index" */
	int keyed;            /* the chunk had one */
};

/* One reasoning_details entry, accumulated across chunks. */
struct oa_detail {
	int64_t key;
	int keyed;
	char *type, *format, *id, *signature;   /* owned; the last non-empty */
	struct gw_buf text, summary, data;      /* joined pieces */
	int has_text, has_summary, has_data;
};

struct gw_openai {
	struct oa_call *calls;
	size_t ncalls, calls_cap;
	struct oa_detail *details;
	size_t ndetails, details_cap;
	struct gw_buf reasoning;      /* every "reasoning" piece joined */
	const char *finish;           /* flue's stop reason, once seen */
	struct flue_usage usage;
	int has_usage;
};

struct gw_openai *
gw_openai_new(void)
{
	return calloc(1, sizeof(struct gw_openai));
}

static void
oa_detail_free(struct oa_detail *det)
{
	free(det->type);
	free(det->format);
	free(det->id);
	free(det->signature);
	gw_buf_free(&det->text);
	gw_buf_free(&det->summary);
	gw_buf_free(&det->data);
}

void
gw_openai_free(struct gw_openai *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ncalls; i++)
		free(s->calls[i].id);
	for (size_t i = 0; i < s->ndetails; i++)
		oa_detail_free(&s->details[i]);
	free(s->calls);
	free(s->details);
	gw_buf_free(&s->reasoning);
	free(s);
}

/* Make room for one more element of size in *items. */
static int
oa_reserve(void **items, size_t *cap, size_t n, size_t size)
{
	size_t cap2;
	void *grown;

	if (n < *cap)
		return 0;
	cap2 = *cap ? 2 * *cap : 4;
	if (cap2 > SIZE_MAX / size)
		return FLUE_ENOMEM;
	grown = realloc(*items, cap2 * size);
	if (grown == NULL)
		return FLUE_ENOMEM;
	*items = grown;
	*cap = cap2;
	return 0;
}

static const char *
oa_stop_reason(const char *finish)
{
	if (strcmp(finish, "stop") == 0)
		return "end";
	if (strcmp(finish, "tool_calls") == 0 ||
	    strcmp(finish, "function_call") == 0)
		return "tool_calls";
	if (strcmp(finish, "length") == 0)
		return "max_tokens";
	if (strcmp(finish, "content_filter") == 0)
		return "refusal";
	return "other";
}

static void
oa_usage(struct gw_openai *s, json_object *u)
{
	json_object *prompt = gw_member(u, "prompt_tokens_details",
	                                json_type_object);
	json_object *completion = gw_member(u, "completion_tokens_details",
	                                    json_type_object);
	uint64_t in = gw_count(u, "prompt_tokens");
	uint64_t cached = gw_count(prompt, "cached_tokens");
	uint64_t written = gw_count(u, "cache_creation_input_tokens");

	/* prompt_tokens counts cached and cache-writing tokens too; flue
	 * counts them apart. */
	s->usage.input_tokens = in > cached + written ? in - cached - written :
	                        0;
	s->usage.cache_read_tokens = cached;
	s->usage.cache_write_tokens = written;
	s->usage.output_tokens = gw_count(u, "completion_tokens");
	s->usage.reasoning_tokens = gw_count(completion, "reasoning_tokens");
	s->usage.cost_usd = gw_cost(u, "cost");
	s->has_usage = 1;
}

/* The call a tool_calls entry continues, or NULL for a new one.  Newest
 * first: the entry almost always continues the last call, and a reused
 * index with a new id (some servers number every call 0) is a new one. */
static struct oa_call *
oa_find_call(struct gw_openai *s, json_object *entry)
{
	json_object *key = gw_member(entry, "index", json_type_int);
	const char *id = gw_string(entry, "id", NULL);

	for (size_t i = s->ncalls; i-- > 0;) {
		struct oa_call *c = &s->calls[i];

		if (key != NULL) {
			if (!c->keyed || c->key != json_object_get_int64(key))
				continue;
			if (id != NULL && id[0] != '\0' && strcmp(id, c->id) != 0)
				return NULL;
			return c;
		}
		if (id == NULL || id[0] == '\0' || strcmp(id, c->id) == 0)
			return c;
	}
	return NULL;
}

static int
oa_start_call(struct gw_decoder *d, json_object *entry, json_object *fn,
              struct oa_call **out, struct flue_error *err)
{
	struct gw_openai *s = d->openai;
	json_object *key = gw_member(entry, "index", json_type_int);
	const char *id = gw_string(entry, "id", NULL);
	const char *name = gw_string(fn, "name", NULL);
	struct flue_provider_event ev = {0};
	char made[40];
	struct oa_call *c;

	if (name == NULL || name[0] == '\0')
		return gw_fail(err, FLUE_ERROR, "the provider started tool call "
		               "%zu without a name", s->ncalls);
	if (oa_reserve((void **)&s->calls, &s->calls_cap, s->ncalls,
	               sizeof(*s->calls)) != 0)
		return FLUE_ENOMEM;
	c = &s->calls[s->ncalls];
	c->keyed = key != NULL;
	c->key = key != NULL ? json_object_get_int64(key) : 0;
	if (id == NULL || id[0] == '\0') {
		snprintf(made, sizeof(made), "call_%" PRId64,
		         c->keyed ? c->key : (int64_t)s->ncalls);
		id = made;
	}
	c->id = strdup(id);
	if (c->id == NULL)
		return FLUE_ENOMEM;
	s->ncalls++;
	ev.type = FLUE_PROVIDER_TOOL_CALL_START;
	ev.index = (uint32_t)(s->ncalls - 1);
	ev.id = c->id;
	ev.name = name;
	*out = c;
	return gw_emit(d, &ev, err);
}

static int
oa_tool_call_delta(struct gw_decoder *d, json_object *entry,
                   struct flue_error *err)
{
	struct gw_openai *s = d->openai;
	json_object *fn = gw_member(entry, "function", json_type_object);
	struct oa_call *c = oa_find_call(s, entry);
	const char *args;
	size_t len = 0;
	int rc;

	if (c == NULL) {
		rc = oa_start_call(d, entry, fn, &c, err);
		if (rc != 0)
			return rc;
	}
	args = gw_string(fn, "arguments", &len);
	if (args == NULL && gw_member(fn, "arguments", json_type_object))
		/* Some servers send the arguments as an object. */
		args = json_object_to_json_string_length(gw_member(fn,
		       "arguments", json_type_object), GW_JSON_FLAGS, &len);
	if (args == NULL || len == 0)
		return 0;
	return gw_emit_text(d, FLUE_PROVIDER_TOOL_CALL_DELTA,
	                    (uint32_t)(c - s->calls), args, len, err);
}

/* A string field of a detail: the last non-empty value wins. */
static int
oa_keep(char **field, json_object *entry, const char *key)
{
	const char *v = gw_string(entry, key, NULL);
	char *copy;

	if (v == NULL || v[0] == '\0')
		return 0;
	copy = strdup(v);
	if (copy == NULL)
		return FLUE_ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* A text field of a detail: the pieces are joined. */
static int
oa_join(struct gw_buf *buf, int *has, json_object *entry, const char *key)
{
	size_t len;
	const char *v = gw_string(entry, key, &len);

	if (v == NULL)
		return 0;
	*has = 1;
	return gw_buf_add(buf, v, len);
}

/* The detail an entry continues (same index; without one, the last
 * entry when it is also unnumbered and of the same type), else a new
 * one. */
static struct oa_detail *
oa_find_detail(struct gw_openai *s, json_object *entry)
{
	json_object *key = gw_member(entry, "index", json_type_int);
	const char *type = gw_string(entry, "type", NULL);
	struct oa_detail *last;

	if (key != NULL) {
		for (size_t i = s->ndetails; i-- > 0;)
			if (s->details[i].keyed &&
			    s->details[i].key == json_object_get_int64(key))
				return &s->details[i];
	} else if (s->ndetails > 0) {
		last = &s->details[s->ndetails - 1];
		if (!last->keyed && (type == NULL || last->type == NULL ||
		    strcmp(type, last->type) == 0))
			return last;
	}
	if (oa_reserve((void **)&s->details, &s->details_cap, s->ndetails,
	               sizeof(*s->details)) != 0)
		return NULL;
	last = &s->details[s->ndetails++];
	memset(last, 0, sizeof(*last));
	last->keyed = key != NULL;
	last->key = key != NULL ? json_object_get_int64(key) : 0;
	return last;
}

/* Reasoning details are kept to be sent back; when the chunk has no
 * plain "reasoning" beside them, their text is the thinking shown. */
static int
oa_reasoning_details(struct gw_decoder *d, json_object *list, int shown,
                     struct flue_error *err)
{
	size_t n = json_object_array_length(list), len;
	struct oa_detail *det;
	const char *text;
	int rc;

	for (size_t i = 0; i < n; i++) {
		json_object *entry = json_object_array_get_idx(list, i);

		if (!json_object_is_type(entry, json_type_object))
			continue;
		det = oa_find_detail(d->openai, entry);
		if (det == NULL)
			return FLUE_ENOMEM;
		if (oa_keep(&det->type, entry, "type") ||
		    oa_keep(&det->format, entry, "format") ||
		    oa_keep(&det->id, entry, "id") ||
		    oa_keep(&det->signature, entry, "signature") ||
		    oa_join(&det->text, &det->has_text, entry, "text") ||
		    oa_join(&det->summary, &det->has_summary, entry, "summary") ||
		    oa_join(&det->data, &det->has_data, entry, "data"))
			return FLUE_ENOMEM;
		if (shown)
			continue;
		text = gw_string(entry, "text", &len);
		if (text == NULL)
			text = gw_string(entry, "summary", &len);
		if (text != NULL && len > 0) {
			rc = gw_emit_text(d, FLUE_PROVIDER_THINKING_DELTA, 0, text,
			                  len, err);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static int
oa_delta(struct gw_decoder *d, json_object *delta, struct flue_error *err)
{
	json_object *list;
	const char *text;
	size_t len;
	int rc = 0;

	text = gw_string(delta, "reasoning", &len);
	if (text != NULL) {
		if (gw_buf_add(&d->openai->reasoning, text, len) != 0)
			return FLUE_ENOMEM;
		if (len > 0)
			rc = gw_emit_text(d, FLUE_PROVIDER_THINKING_DELTA, 0, text,
			                  len, err);
	}
	list = gw_member(delta, "reasoning_details", json_type_array);
	if (rc == 0 && list != NULL)
		rc = oa_reasoning_details(d, list, text != NULL, err);
	text = gw_string(delta, "content", &len);
	if (rc == 0 && text != NULL && len > 0)
		rc = gw_emit_text(d, FLUE_PROVIDER_TEXT_DELTA, 0, text, len, err);
	list = gw_member(delta, "tool_calls", json_type_array);
	for (size_t i = 0; rc == 0 && list != NULL &&
	     i < json_object_array_length(list); i++) {
		json_object *entry = json_object_array_get_idx(list, i);

		if (json_object_is_type(entry, json_type_object))
			rc = oa_tool_call_delta(d, entry, err);
	}
	return rc;
}

static json_object *
oa_detail_json(const struct oa_detail *det)
{
	json_object *o = json_object_new_object();

	if (o == NULL ||
	    (det->type && gw_add(o, "type", json_object_new_string(det->type))) ||
	    (det->has_text && gw_add(o, "text", gw_new_string(det->text.data ?
	     det->text.data : "", det->text.len))) ||
	    (det->has_summary && gw_add(o, "summary", gw_new_string(
	     det->summary.data ? det->summary.data : "", det->summary.len))) ||
	    (det->has_data && gw_add(o, "data", gw_new_string(det->data.data ?
	     det->data.data : "", det->data.len))) ||
	    (det->signature && gw_add(o, "signature",
	     json_object_new_string(det->signature))) ||
	    (det->id && gw_add(o, "id", json_object_new_string(det->id))) ||
	    (det->format && gw_add(o, "format",
	     json_object_new_string(det->format))) ||
	    (det->keyed && gw_add(o, "index", json_object_new_int64(det->key)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* {"api":"openai-chat","reasoning":...,"reasoning_details":[...]}, when
 * any reasoning arrived: the next request sends it back. */
static int
oa_opaque(struct gw_decoder *d, struct flue_error *err)
{
	struct gw_openai *s = d->openai;
	json_object *o, *list;
	int rc;

	if (s->reasoning.len == 0 && s->ndetails == 0)
		return 0;
	o = json_object_new_object();
	if (o == NULL || gw_add(o, "api", json_object_new_string(OA_API)) ||
	    (s->reasoning.len > 0 && gw_add(o, "reasoning",
	     gw_new_string(s->reasoning.data, s->reasoning.len))))
		goto nomem;
	if (s->ndetails > 0) {
		list = json_object_new_array();
		if (gw_add(o, "reasoning_details", list))
			goto nomem;
		for (size_t i = 0; i < s->ndetails; i++)
			if (gw_append(list, oa_detail_json(&s->details[i])))
				goto nomem;
	}
	rc = gw_emit_json(d, o, err);
	json_object_put(o);
	return rc;
nomem:
	json_object_put(o);
	return FLUE_ENOMEM;
}

/* [DONE]: the answer is complete if a finish_reason came. */
static int
oa_done(struct gw_decoder *d, struct flue_error *err)
{
	struct gw_openai *s = d->openai;
	int rc = 0;

	if (s->finish == NULL)
		return gw_fail(err, FLUE_ERETRY, "the stream ended before the "
		               "answer was complete");
	for (size_t i = 0; i < s->ncalls && rc == 0; i++)
		rc = gw_emit_text(d, FLUE_PROVIDER_TOOL_CALL_END, (uint32_t)i, NULL,
		                  0, err);
	if (rc == 0 && s->has_usage)
		rc = gw_emit_usage(d, &s->usage, err);
	if (rc == 0)
		rc = oa_opaque(d, err);
	if (rc == 0)
		rc = gw_emit_text(d, FLUE_PROVIDER_STOP, 0, s->finish,
		                  strlen(s->finish), err);
	return rc;
}

static int
oa_chunk(struct gw_decoder *d, json_object *chunk, struct flue_error *err)
{
	json_object *error, *usage, *choices, *choice, *delta;
	const char *finish;
	int rc = 0;

	/* What the OpenAI SDK treats as a failure: an "error" member. */
	error = gw_member(chunk, "error", json_type_object);
	if (error == NULL)
		error = gw_member(chunk, "error", json_type_string);
	if (error != NULL)
		return gw_stream_error(error, err);
	usage = gw_member(chunk, "usage", json_type_object);
	if (usage != NULL)
		oa_usage(d->openai, usage);
	choices = gw_member(chunk, "choices", json_type_array);
	/* One answer is asked for: the first choice is it. */
	choice = choices ? json_object_array_get_idx(choices, 0) : NULL;
	delta = gw_member(choice, "delta", json_type_object);
	if (delta != NULL)
		rc = oa_delta(d, delta, err);
	finish = gw_string(choice, "finish_reason", NULL);
	if (rc == 0 && finish != NULL)
		d->openai->finish = oa_stop_reason(finish);
	return rc;
}

int
gw_openai_event(struct gw_decoder *d, const char *type, const char *data,
                size_t len, struct flue_error *err)
{
	json_object *chunk, *error;
	size_t n = len;
	int rc;

	while (n > 0 && (data[n - 1] == ' ' || data[n - 1] == '\t' ||
	       data[n - 1] == '\r' || data[n - 1] == '\n'))
		n--;
	if (n == 0)
		return 0;     /* a keep-alive "data:" line */
	if (n == 6 && memcmp(data, "[DONE]", 6) == 0)
		return oa_done(d, err);
	rc = gw_json_parse(data, n, &chunk, err);
	if (rc != 0)
		return rc;
	if (strcmp(type, "error") == 0) {
		/* A server that names its error events. */
		error = gw_member(chunk, "error", json_type_object);
		if (error == NULL)
			error = chunk;
		rc = gw_stream_error(error, err);
	} else {
		rc = oa_chunk(d, chunk, err);
	}
	json_object_put(chunk);
	return rc;
}
