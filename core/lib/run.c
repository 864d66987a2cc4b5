/* flue_run: the agent loop.  Prepare the agent (prepare.c), open the
 * session, append the user's message, then turn after turn: send the
 * system prompt, the history and the tools to the provider plugin,
 * assemble its streamed answer (assemble.c), store it, run the tool
 * calls it makes (toolexec.c, concurrently), store their results in call
 * order, until the model answers without tool calls.  Every message is
 * durable before the next step starts, so a killed process leaves a
 * session that continues cleanly. */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "assemble.h"
#include "cancel.h"
#include "common.h"
#include "error.h"
#include "harness.h"
#include "history.h"
#include "jsonschema.h"
#include "prepare.h"
#include "store.h"
#include "compact.h"
#include "run.h"
#include "skills.h"
#include "toolexec.h"
#include "utf8.h"

#define RUN_DEFAULT_MAX_TURNS 100
#define RUN_MAX_PARALLEL_TOOLS 8
#define RUN_EVENT_RESULT_MAX 2048    /* tool output shown in tool_end */
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A tool the model may call this run. */
struct run_tool {
	const char *name;              /* borrowed from prep.tools */
	struct flue_schema *schema;    /* owned */
	struct flue_loaded_plugin *plugin;  /* a tool plugin's, or NULL for a
	                                   core tool (borrowed) */
};

/* One tool call of a turn.  Owned by the turn; a worker thread writes
 * out/rc/err/duration and then done, under the run's mutex. */
struct run_call {
	struct run *run;
	const char *id;                /* borrowed from the message */
	const char *name;
	struct flue_loaded_plugin *plugin;  /* for a plugin's tool (borrowed) */
	json_object *args;             /* owned copy (threads share nothing) */
	struct flue_tool_output out;
	struct flue_error err;
	int rc;
	int runnable;                  /* arguments checked out */
	int ending;                    /* a valid finish or give_up call */
	json_object *link;             /* a task's {"id", "session"}, stored
	                                  with its result (owned) */
	int started, done, reported;
	int64_t start_ms, duration_ms;
	pthread_t thread;
};

struct run {
	flue_harness *harness;
	struct flue_call opts;
	struct flue_event_sink own_sink;       /* a root call's */
	struct flue_event_sink *sink;          /* own_sink or the parent's */
	json_object *result_schema;            /* borrowed from the agent, or
	                                          owned when result_owned */
	int result_owned;
	struct flue_prepared prep;
	struct flue_store store;
	struct flue_store_session *session;
	struct flue_loaded_plugin *provider;   /* borrowed from the loader */
	char *endpoint_model;                  /* owned */
	json_object *provider_settings;        /* owned, or NULL */
	int64_t max_tokens;
	double prices[4];                      /* USD per million tokens */
	int have_prices;
	struct run_tool *tools;                /* owned */
	size_t n_tools;
	char **exec_env;                       /* owned, NULL-terminated */
	struct flue_assembler assembler;
	struct flue_error handler_err;         /* why on_provider_event stopped */
	int handler_failed;
	uint32_t turn;
	int result_wrapped;                    /* finish takes {"result": ...} */
	int finished;                          /* finish or give_up was called */
	char *give_up_reason;                  /* owned, when the agent gave up */
	char *head_json;                       /* owned: the request without
	                                          messages, the same all run */
	char **msg_text;                       /* owned: each sent message's
	                                          JSON, serialised once */
	size_t *msg_len;
	size_t *msg_index;                     /* each one's store record;
	                                          SIZE_MAX for the summary */
	size_t n_msgs, msgs_cap;
	size_t store_seen;                     /* store records looked at */
	/* Compaction: the model sees the latest summary, then the records
	 * from view_start on; the store keeps everything. */
	char *summary;                         /* owned, or NULL */
	size_t view_start;
	int64_t window, reserve, keep;         /* tokens; window 0: unknown */
	int need_compact;
	struct flue_run_result *out;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void compaction_settings(struct run *r,
                                const struct flue_provider_config *pc);

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* Send ev (a JSON object whose reference is consumed) to the caller. */
static void
emit(struct run *r, uint32_t type, json_object *ev, const char *text,
     size_t text_len, const char *tool_name, const char *tool_id,
     int is_error)
{
	struct flue_event e = {0};

	if (ev == NULL)
		return;
	e.type = type;
	e.turn = r->turn;
	e.json = json_object_to_json_string_ext(ev, JSON_FLAGS);
	e.json_len = strlen(e.json);
	e.text = text;
	e.text_len = text_len;
	e.tool_name = tool_name;
	e.tool_call_id = tool_id;
	e.is_error = is_error;
	e.task_id = r->opts.task_id;
	flue_sink_event(r->sink, &e);
	json_object_put(ev);
}

static json_object *
event_new(struct run *r, const char *type)
{
	json_object *ev = json_object_new_object();

	if (ev == NULL)
		return NULL;
	json_object_object_add(ev, "type", json_object_new_string(type));
	if (r->turn > 0)
		json_object_object_add(ev, "turn", json_object_new_int(
		                       (int32_t)r->turn));
	/* A task's events say whose they are. */
	if (r->opts.task_id != NULL) {
		json_object_object_add(ev, "task_id",
		                       json_object_new_string(r->opts.task_id));
		json_object_object_add(ev, "parent_session", json_object_new_string(
		                       r->opts.parent_session));
		json_object_object_add(ev, "depth", json_object_new_int(
		                       (int32_t)r->opts.depth));
	}
	return ev;
}

static void
emit_text(struct run *r, uint32_t type, const char *name, const char *key,
          const char *text, size_t len)
{
	json_object *ev;

	if (r->sink->on_event == NULL)
		return;
	ev = event_new(r, name);
	if (ev == NULL)
		return;
	json_object_object_add(ev, key, json_object_new_string_len(text,
	                       (int)len));
	emit(r, type, ev, text, len, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Setting up: provider, tools, session                                */
/* ------------------------------------------------------------------ */

static int
resolve_provider(struct run *r, struct flue_error *err)
{
	const struct flue_config *config = &r->harness->project.config;
	const struct flue_provider_config *pc;
	const char *model = r->prep.choice.model, *slash, *plugin;
	static const char *const price_keys[4] = {
		"input_price", "output_price", "cache_read_price",
		"cache_write_price"
	};
	int rc;

	if (model == NULL)
		return flue_error_set(err, FLUE_EINVAL, "%s: no model: set model: "
		        "in the agent file or defaults.model in flue.yaml (for "
		        "example anthropic/claude-sonnet-4.6), or pass --model",
		        r->prep.agent.file.path);
	slash = strchr(model, '/');
	if (slash == NULL || slash == model || slash[1] == '\0')
		return flue_error_set(err, FLUE_EINVAL, "model '%s': use "
		                      "provider/model, for example "
		                      "anthropic/claude-sonnet-4.6", model);
	pc = flue_config_provider(config, model);
	plugin = pc != NULL && pc->plugin != NULL ? pc->plugin : "gateway";
	r->endpoint_model = strdup(pc != NULL ? slash + 1 : model);
	if (r->endpoint_model == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (pc != NULL) {
		json_object *p = json_object_new_object(), *spec;

		r->provider_settings = p;
		json_object_object_add(p, "id", json_object_new_string(pc->id));
		if (pc->api != NULL)
			json_object_object_add(p, "api",
			                       json_object_new_string(pc->api));
		if (pc->base_url != NULL)
			json_object_object_add(p, "base_url",
			                       json_object_new_string(pc->base_url));
		if (pc->api_key_env != NULL)
			json_object_object_add(p, "api_key_env",
			        json_object_new_string(pc->api_key_env));
		if (pc->headers != NULL)
			json_object_object_add(p, "headers",
			                       json_object_get(pc->headers));
		if (pc->options != NULL)
			json_object_object_add(p, "options",
			                       json_object_get(pc->options));
		if (pc->models != NULL &&
		    json_object_object_get_ex(pc->models, r->endpoint_model,
		                              &spec)) {
			json_object *v;

			if (json_object_object_get_ex(spec, "max_tokens", &v))
				r->max_tokens = json_object_get_int64(v);
			for (int i = 0; i < 4; i++)
				if (json_object_object_get_ex(spec, price_keys[i], &v)) {
					r->prices[i] = json_object_get_double(v);
					r->have_prices = 1;
				}
		}
	}
	rc = flue_harness_plugin(r->harness, plugin, &r->provider, err);
	if (rc != 0)
		return flue_error_prefix(err, "model '%s'", model);
	if (r->provider->desc->kind != FLUE_PLUGIN_PROVIDER)
		return flue_error_set(err, FLUE_EINVAL, "model '%s': plugin '%s' "
		                      "is a %s plugin, not a model provider", model,
		                      plugin,
		                      flue_plugin_kind_name(r->provider->desc->kind));
	compaction_settings(r, pc);
	return 0;
}

#define RUN_RESULT_NUDGES 3

static const char give_up_params[] =
	"{\"type\":\"object\",\"properties\":{\"reason\":{\"type\":"
	"\"string\",\"minLength\":1}},\"required\":[\"reason\"],"
	"\"additionalProperties\":false}";

static int
add_decl(json_object *tools, const char *name, const char *description,
         json_object *params)
{
	json_object *d = json_object_new_object();

	if (d == NULL || params == NULL) {
		json_object_put(d);
		json_object_put(params);
		return FLUE_ENOMEM;
	}
	json_object_object_add(d, "name", json_object_new_string(name));
	json_object_object_add(d, "description",
	                       json_object_new_string(description));
	json_object_object_add(d, "parameters", params);
	return json_object_array_add(tools, d) == 0 ? 0 : FLUE_ENOMEM;
}

/* A result schema adds finish (its arguments are the result) and
 * give_up.  Tool parameters must be an object, so any other schema is
 * wrapped as {"result": schema}. */
static int
add_result_tools(struct run *r, struct flue_error *err)
{
	json_object *schema = r->result_schema, *type, *params;
	struct flue_schema *check = NULL;
	struct flue_schema_options so = {0};
	int rc;

	if (schema == NULL)
		return 0;
	for (size_t i = 0; i < json_object_array_length(r->prep.tools); i++) {
		const char *name = json_object_get_string(json_object_object_get(
		        json_object_array_get_idx(r->prep.tools, i), "name"));

		if (strcmp(name, "finish") == 0 || strcmp(name, "give_up") == 0)
			return flue_error_set(err, FLUE_EINVAL, "%s: a tool named "
			        "'%s' clashes with the typed result's tools",
			        r->prep.agent.file.path, name);
	}
	so.strict = 1;
	rc = flue_schema_compile(schema, &so, &check, err);
	flue_schema_free(check);
	if (rc != 0)
		return flue_error_prefix(err, "%s: result", r->prep.agent.file.path);
	r->result_wrapped = !(json_object_object_get_ex(schema, "type", &type) &&
	                      json_object_is_type(type, json_type_string) &&
	                      strcmp(json_object_get_string(type), "object") == 0);
	if (r->result_wrapped) {
		params = json_object_new_object();
		json_object *props = json_object_new_object();
		json_object *req = json_object_new_array();

		json_object_object_add(props, "result", json_object_get(schema));
		json_object_array_add(req, json_object_new_string("result"));
		json_object_object_add(params, "type",
		                       json_object_new_string("object"));
		json_object_object_add(params, "properties", props);
		json_object_object_add(params, "required", req);
		json_object_object_add(params, "additionalProperties",
		                       json_object_new_boolean(0));
	} else {
		params = json_object_get(schema);
	}
	if (add_decl(r->prep.tools, "finish", "Finish the task: call this "
	             "once it is done, with its result as the arguments. The "
	             "run ends here.", params) != 0 ||
	    add_decl(r->prep.tools, "give_up", "Call this instead of finish "
	             "when the task cannot be done, with the reason. The run "
	             "ends here.", json_tokener_parse(give_up_params)) != 0)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return 0;
}

static int
compile_tools(struct run *r, struct flue_error *err)
{
	size_t n = json_object_array_length(r->prep.tools);

	r->tools = calloc(n + 1, sizeof(*r->tools));
	if (r->tools == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *decl = json_object_array_get_idx(r->prep.tools, i);
		json_object *name, *params;
		struct flue_schema_options so = {0};
		int rc;

		json_object_object_get_ex(decl, "name", &name);
		json_object_object_get_ex(decl, "parameters", &params);
		r->tools[i].name = json_object_get_string(name);
		so.strict = 1;
		for (size_t j = 0; r->prep.plugin_tools != NULL &&
		     j < json_object_array_length(r->prep.plugin_tools); j++)
			if (json_object_array_get_idx(r->prep.plugin_tools, j) == decl)
				r->tools[i].plugin = r->prep.plugin_tool_owners[j];
		rc = flue_schema_compile(params, &so, &r->tools[i].schema, err);
		r->n_tools = i + 1;
		if (rc != 0)
			return flue_error_prefix(err, "tool '%s'", r->tools[i].name);
	}
	return 0;
}

/* The agent's env: mapping as "NAME=value" strings for bash. */
static int
build_exec_env(struct run *r, struct flue_error *err)
{
	json_object *env = r->prep.settings.env;
	size_t n = env ? (size_t)json_object_object_length(env) : 0, i = 0;

	r->exec_env = calloc(n + 1, sizeof(*r->exec_env));
	if (r->exec_env == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (env == NULL)
		return 0;
	json_object_object_foreach(env, key, value) {
		if (asprintf(&r->exec_env[i], "%s=%s", key,
		             json_object_get_string(value)) < 0) {
			r->exec_env[i] = NULL;
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
		}
		i++;
	}
	return 0;
}

/* A new session id: sortable by time, unique by chance. */
char *
flue_session_id_new(void)
{
	unsigned char rnd[4] = {0};
	time_t t = time(NULL);
	struct tm tm;
	char *id;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint32_t x = (uint32_t)flue_mono_ms() ^ (uint32_t)getpid();

		memcpy(rnd, &x, sizeof(rnd));
	}
	gmtime_r(&t, &tm);
	if (asprintf(&id, "%04d%02d%02d-%02d%02d%02d-%02x%02x%02x%02x",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2], rnd[3]) < 0)
		return NULL;
	return id;
}

char *
flue_task_session_id(const char *parent, char task_id[FLUE_TASK_ID_LEN + 1])
{
	unsigned char rnd[FLUE_TASK_ID_LEN / 2] = {0};
	char *id;
	int rc;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)flue_mono_ms() ^ (uint64_t)(uintptr_t)task_id;

		memcpy(rnd, &x, sizeof(rnd) < sizeof(x) ? sizeof(rnd) : sizeof(x));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(task_id + 2 * i, 3, "%02x", rnd[i]);
	/* The child's id names its parent while that fits; either way the
	 * link is stored on both sides. */
	if (strlen(parent) + 6 + FLUE_TASK_ID_LEN <= FLUE_SESSION_ID_MAX)
		rc = asprintf(&id, "%s.task-%s", parent, task_id);
	else
		rc = asprintf(&id, "task-%s", task_id);
	return rc < 0 ? NULL : id;
}

static json_object *
tool_message(const char *id, const char *name, const char *text, size_t len,
             int is_error)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string("tool"));
	json_object_object_add(m, "tool_call_id", json_object_new_string(id));
	json_object_object_add(m, "name", json_object_new_string(name));
	json_object_object_add(m, "content",
	                       json_object_new_string_len(text, (int)len));
	json_object_object_add(m, "is_error", json_object_new_boolean(is_error));
	return m;
}

static const char *
record_role(json_object *record)
{
	json_object *role;

	if (!json_object_object_get_ex(record, "role", &role))
		return NULL;
	return json_object_get_string(role);
}

/* A run killed between a tool-calling answer and its results leaves
 * calls without results; providers refuse such a history, so they get
 * results that say what happened. */
static int
repair_dangling_calls(struct run *r, struct flue_error *err)
{
	size_t n = r->store.count(r->session), last = n;
	json_object *content, *msg;

	for (size_t i = n; i-- > 0;) {
		const char *role = record_role(r->store.get(r->session, i));

		if (role != NULL && strcmp(role, "assistant") == 0) {
			last = i;
			break;
		}
		if (role != NULL && strcmp(role, "user") == 0)
			return 0;
	}
	if (last == n)
		return 0;
	msg = r->store.get(r->session, last);
	if (!json_object_object_get_ex(msg, "content", &content) ||
	    !json_object_is_type(content, json_type_array))
		return 0;
	for (size_t b = 0; b < json_object_array_length(content); b++) {
		json_object *block = json_object_array_get_idx(content, b);
		json_object *type, *id, *name;
		int answered = 0;

		if (!json_object_object_get_ex(block, "type", &type) ||
		    strcmp(json_object_get_string(type), "tool_call") != 0 ||
		    !json_object_object_get_ex(block, "id", &id) ||
		    !json_object_object_get_ex(block, "name", &name))
			continue;
		for (size_t i = last + 1; i < n && !answered; i++) {
			json_object *rec = r->store.get(r->session, i), *tid;

			answered = json_object_object_get_ex(rec, "tool_call_id",
			                                     &tid) &&
			        strcmp(json_object_get_string(tid),
			               json_object_get_string(id)) == 0;
		}
		if (!answered) {
			static const char text[] = "the run stopped before this tool "
			                           "call finished; its effects, if "
			                           "any, are unknown";
			json_object *m = tool_message(json_object_get_string(id),
			                              json_object_get_string(name),
			                              text, sizeof(text) - 1, 1);
			int rc = r->store.append(r->session, m, err);

			json_object_put(m);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* A skill run directly: its instructions and the arguments.  A skill
 * not found lists the ones there are. */
static int
skill_message(struct run *r, char **out, struct flue_error *err)
{
	const struct flue_skill *skill;
	json_object *args = NULL;
	const char *args_text = NULL;
	int rc;

	skill = flue_skill_set_find(&r->prep.skill_set, r->opts.skill);
	if (skill == NULL)   /* builtin skills are opt-in: naming one is */
		skill = flue_skill_set_find(&r->prep.skill_pool, r->opts.skill);
	if (skill == NULL) {
		char list[1024] = "";
		size_t used = 0;
		const struct flue_skill_set *pool = &r->prep.skill_pool;

		for (size_t i = 0; i < pool->count && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used,
			                         "%s%s", i ? ", " : "",
			                         pool->items[i].name);
		return flue_error_set(err, FLUE_ENOENT, "skill '%s' not found "
		                      "for agent '%s' (available: %s)",
		                      r->opts.skill, r->opts.agent,
		                      pool->count ? list : "none");
	}
	if (r->opts.skill_args_json != NULL) {
		args = json_tokener_parse(r->opts.skill_args_json);
		if (args == NULL)
			return flue_error_set(err, FLUE_EINVAL, "skill '%s': the "
			                      "arguments are not valid JSON",
			                      r->opts.skill);
		args_text = json_object_to_json_string_ext(args,
		        JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		        JSON_C_TO_STRING_NOSLASHESCAPE);
	}
	rc = flue_skill_instructions(skill, r->prep.workspace, args_text, out,
	                             err);
	json_object_put(args);
	return rc;
}

/* The user's message: the call's text, a skill's instructions, or the
 * payload's prompt or message, else the whole payload as JSON. */
static int
user_message(struct run *r, json_object **out, struct flue_error *err)
{
	json_object *payload = r->prep.payload, *v, *m;
	const char *text = NULL;
	char *skill_text = NULL;

	*out = NULL;
	if (r->opts.skill != NULL) {
		int rc = skill_message(r, &skill_text, err);

		if (rc != 0)
			return rc;
		text = skill_text;
	} else if (r->opts.text != NULL) {
		text = r->opts.text;
	} else if (payload == NULL || json_object_is_type(payload,
	                                                  json_type_null)) {
		return flue_error_set(err, FLUE_EINVAL, "nothing to do: give the "
		                      "task as the payload, for example "
		                      "--payload '{\"prompt\": \"...\"}'");
	} else if (json_object_is_type(payload, json_type_string)) {
		text = json_object_get_string(payload);
	} else if ((json_object_object_get_ex(payload, "prompt", &v) ||
	            json_object_object_get_ex(payload, "message", &v)) &&
	           json_object_is_type(v, json_type_string)) {
		text = json_object_get_string(v);
	} else {
		text = json_object_to_json_string_ext(payload, JSON_FLAGS);
	}
	m = json_object_new_object();
	if (m == NULL) {
		free(skill_text);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string(text));
	free(skill_text);
	*out = m;
	return 0;
}

/* ------------------------------------------------------------------ */
/* One model turn                                                      */
/* ------------------------------------------------------------------ */

static int
on_provider_event(void *payload, const struct flue_provider_event *ev)
{
	struct run *r = payload;
	const char *text = ev->text ? ev->text : "";
	size_t len = ev->text ? ev->text_len : 0;

	if (flue_cancel_is_set(r->opts.cancel))
		return 1;
	if (flue_assembler_event(&r->assembler, ev, &r->handler_err) != 0) {
		r->handler_failed = 1;
		return 1;
	}
	switch (ev->type) {
	case FLUE_PROVIDER_TEXT_DELTA:
		if (len > 0)
			emit_text(r, FLUE_EVENT_TEXT_DELTA, "text_delta", "text",
			          text, len);
		break;
	case FLUE_PROVIDER_THINKING_DELTA:
		if (len > 0)
			emit_text(r, FLUE_EVENT_THINKING_DELTA, "thinking_delta",
			          "text", text, len);
		break;
	case FLUE_PROVIDER_RETRY:
		emit_text(r, FLUE_EVENT_RETRY, "retry", "reason", text, len);
		break;
	default:
		break;
	}
	return 0;
}

/* The request's fixed part, serialised once per run. */
static int
build_head(struct run *r)
{
	json_object *req = json_object_new_object();

	if (req == NULL)
		return FLUE_ENOMEM;
	json_object_object_add(req, "model",
	                       json_object_new_string(r->endpoint_model));
	json_object_object_add(req, "system", json_object_new_string_len(
	                       r->prep.prompt.system,
	                       (int)r->prep.prompt.system_len));
	json_object_object_add(req, "tools", json_object_get(r->prep.tools));
	json_object_object_add(req, "thinking", json_object_new_string(
	                       r->prep.choice.thinking));
	if (r->max_tokens > 0)
		json_object_object_add(req, "max_tokens",
		                       json_object_new_int64(r->max_tokens));
	json_object_object_add(req, "session_id",
	                       json_object_new_string(r->out->session_id));
	if (r->provider_settings != NULL)
		json_object_object_add(req, "provider",
		                       json_object_get(r->provider_settings));
	r->head_json = strdup(json_object_to_json_string_ext(req, JSON_FLAGS));
	json_object_put(req);
	return r->head_json ? 0 : FLUE_ENOMEM;
}

/* Serialise the messages stored since the last request: the history only
 * grows during a run, so each message is turned into text once. */
static int
push_message(struct run *r, json_object *msg, size_t index)
{
	const char *text;

	if (r->n_msgs == r->msgs_cap) {
		size_t cap = r->msgs_cap ? r->msgs_cap * 2 : 64;
		char **t = realloc(r->msg_text, cap * sizeof(*t));
		size_t *l, *x;

		if (t == NULL)
			return FLUE_ENOMEM;
		r->msg_text = t;
		l = realloc(r->msg_len, cap * sizeof(*l));
		if (l == NULL)
			return FLUE_ENOMEM;
		r->msg_len = l;
		x = realloc(r->msg_index, cap * sizeof(*x));
		if (x == NULL)
			return FLUE_ENOMEM;
		r->msg_index = x;
		r->msgs_cap = cap;
	}
	text = json_object_to_json_string_ext(msg, JSON_FLAGS);
	r->msg_len[r->n_msgs] = strlen(text);
	r->msg_text[r->n_msgs] = strdup(text);
	if (r->msg_text[r->n_msgs] == NULL)
		return FLUE_ENOMEM;
	r->msg_index[r->n_msgs] = index;
	r->n_msgs++;
	return 0;
}

static int
update_messages(struct run *r)
{
	size_t n = r->store.count(r->session);

	for (; r->store_seen < n; r->store_seen++) {
		json_object *rec = r->store.get(r->session, r->store_seen);

		if (record_role(rec) == NULL)
			continue;
		if (push_message(r, rec, r->store_seen) != 0)
			return FLUE_ENOMEM;
	}
	return 0;
}

/* Start the model's view again: the summary, then the records from
 * view_start on. */
static int
reset_view(struct run *r)
{
	for (size_t i = 0; i < r->n_msgs; i++)
		free(r->msg_text[i]);
	r->n_msgs = 0;
	r->store_seen = r->view_start;
	if (r->summary != NULL) {
		json_object *m = flue_compact_summary_message(r->summary);
		int rc = m != NULL ? push_message(r, m, SIZE_MAX) : FLUE_ENOMEM;

		json_object_put(m);
		if (rc != 0)
			return rc;
	}
	return update_messages(r);
}

/* The latest compaction record of the session decides the view. */
static int
load_view(struct run *r)
{
	for (size_t i = r->store.count(r->session); i-- > 0;) {
		json_object *rec = r->store.get(r->session, i), *type, *v;

		if (!json_object_object_get_ex(rec, "type", &type) ||
		    strcmp(json_object_get_string(type), "compaction") != 0)
			continue;
		if (json_object_object_get_ex(rec, "summary", &v))
			r->summary = strdup(json_object_get_string(v));
		if (json_object_object_get_ex(rec, "first_kept", &v))
			r->view_start = (size_t)json_object_get_int64(v);
		if (r->summary == NULL)
			return FLUE_ENOMEM;
		break;
	}
	return reset_view(r);
}

/* request_json: the head with "messages" spliced in before its closing
 * brace. */
static char *
build_request(struct run *r)
{
	size_t head = strlen(r->head_json), len = head + 16, at;
	char *text;

	if (update_messages(r) != 0)
		return NULL;
	for (size_t i = 0; i < r->n_msgs; i++)
		len += r->msg_len[i] + 1;
	text = malloc(len);
	if (text == NULL)
		return NULL;
	memcpy(text, r->head_json, head - 1);
	at = head - 1;
	memcpy(text + at, ",\"messages\":[", 13);
	at += 13;
	for (size_t i = 0; i < r->n_msgs; i++) {
		if (i > 0)
			text[at++] = ',';
		memcpy(text + at, r->msg_text[i], r->msg_len[i]);
		at += r->msg_len[i];
	}
	memcpy(text + at, "]}", 3);
	return text;
}

/* Cost from the configured prices when the provider did not say. */
static void
price_usage(struct run *r, json_object *msg)
{
	struct flue_usage *u = &r->assembler.usage;

	if (!r->assembler.have_usage || u->cost_usd >= 0 || !r->have_prices)
		return;
	u->cost_usd = ((double)u->input_tokens * r->prices[0] +
	               (double)u->output_tokens * r->prices[1] +
	               (double)u->cache_read_tokens * r->prices[2] +
	               (double)u->cache_write_tokens * r->prices[3]) / 1e6;
	json_object_object_add(msg, "usage", flue_usage_to_json(u));
}

/* Ask the model once; *out_msg is the stored answer. */
static int
model_turn(struct run *r, json_object **out_msg, char ***out_arg_errors,
           struct flue_error *err)
{
	struct flue_provider_request req = {0};
	char *body = build_request(r);
	json_object *msg;
	int rc;

	*out_msg = NULL;
	*out_arg_errors = NULL;
	if (body == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	flue_assembler_reset(&r->assembler);
	r->handler_failed = 0;
	req.model = r->endpoint_model;
	req.request_json = body;
	req.cancel = r->opts.cancel;
	req.on_event = on_provider_event;
	req.event_payload = r;
	req.head_json = r->head_json;
	req.message_json = (const char *const *)r->msg_text;
	req.message_len = r->msg_len;
	req.message_count = r->n_msgs;
	flue_error_clear(err);
	rc = r->provider->desc->provider->stream(r->provider->instance, &req,
	                                         err);
	free(body);
	if (r->handler_failed && !flue_cancel_is_set(r->opts.cancel)) {
		*err = r->handler_err;
		return err->code ? err->code : FLUE_ERROR;
	}
	if (flue_cancel_is_set(r->opts.cancel))
		return flue_error_set(err, FLUE_ECANCELED, "canceled");
	if (rc != 0) {
		if (err->message[0] == '\0')
			flue_error_set(err, rc, "the model provider failed (%s)",
			               flue_status_name(rc));
		return rc;
	}
	rc = flue_assembler_finish(&r->assembler, r->prep.choice.model, &msg,
	                           out_arg_errors, err);
	if (rc != 0)
		return rc;
	price_usage(r, msg);
	rc = r->store.append(r->session, msg, err);
	if (rc != 0) {
		json_object_put(msg);
		return rc;
	}
	*out_msg = msg;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Compaction                                                          */
/* ------------------------------------------------------------------ */

static char *message_text(json_object *msg);

/* Window, reserve and what to keep: the agent's compaction: settings
 * over the model's (flue.yaml providers), with the usual defaults. */
static void
compaction_settings(struct run *r, const struct flue_provider_config *pc)
{
	json_object *c = r->prep.settings.compaction, *v, *spec;
	int reserve_given = 0;

	if (pc != NULL && pc->models != NULL &&
	    json_object_object_get_ex(pc->models, r->endpoint_model, &spec) &&
	    json_object_object_get_ex(spec, "context_window", &v))
		r->window = json_object_get_int64(v);
	r->reserve = r->max_tokens > 0 && r->max_tokens < FLUE_COMPACT_RESERVE ?
	             r->max_tokens : FLUE_COMPACT_RESERVE;
	r->keep = FLUE_COMPACT_KEEP;
	if (c != NULL && json_object_object_get_ex(c, "context_window", &v))
		r->window = json_object_get_int64(v);
	if (c != NULL && json_object_object_get_ex(c, "reserve_tokens", &v)) {
		r->reserve = json_object_get_int64(v);
		reserve_given = 1;
	}
	if (c != NULL && json_object_object_get_ex(c, "keep_recent_tokens", &v))
		r->keep = json_object_get_int64(v);
	/* A small window would be all reserve. */
	if (!reserve_given && r->window > 0 && r->reserve * 2 >= r->window)
		r->reserve = r->window / 3 > 1024 ? r->window / 3 : 1024;
}

struct summariser {
	struct run *run;
	struct flue_assembler assembler;
	struct flue_error err;
	int failed;
};

static int
on_summary_event(void *payload, const struct flue_provider_event *ev)
{
	struct summariser *s = payload;

	if (flue_cancel_is_set(s->run->opts.cancel))
		return 1;
	if (flue_assembler_event(&s->assembler, ev, &s->err) != 0) {
		s->failed = 1;
		return 1;
	}
	return 0;
}

/* Ask the model for the summary: its own system prompt, no tools, one
 * user message.  *out [caller-owned]. */
static int
summarise(struct run *r, const char *prompt, char **out,
          struct flue_usage *usage, struct flue_error *err)
{
	struct flue_provider_request req = {0};
	struct summariser sm = {0};
	json_object *head = json_object_new_object(), *user, *msg = NULL;
	char *head_json = NULL, *user_json = NULL, *body = NULL, **arg_errors;
	size_t user_len;
	int64_t max = r->reserve * 8 / 10;
	int rc;

	*out = NULL;
	user = json_object_new_object();
	if (head == NULL || user == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	json_object_object_add(user, "role", json_object_new_string("user"));
	json_object_object_add(user, "content", json_object_new_string(prompt));
	json_object_object_add(head, "model",
	                       json_object_new_string(r->endpoint_model));
	json_object_object_add(head, "system",
	                       json_object_new_string(flue_compact_system));
	json_object_object_add(head, "tools", json_object_new_array());
	json_object_object_add(head, "thinking", json_object_new_string("off"));
	json_object_object_add(head, "max_tokens", json_object_new_int64(
	        max > 0 && max < FLUE_COMPACT_SUMMARY_MAX ? max :
	        FLUE_COMPACT_SUMMARY_MAX));
	json_object_object_add(head, "session_id",
	                       json_object_new_string(r->out->session_id));
	if (r->provider_settings != NULL)
		json_object_object_add(head, "provider",
		                       json_object_get(r->provider_settings));
	head_json = strdup(json_object_to_json_string_ext(head, JSON_FLAGS));
	user_json = strdup(json_object_to_json_string_ext(user, JSON_FLAGS));
	if (head_json == NULL || user_json == NULL ||
	    asprintf(&body, "%.*s,\"messages\":[%s]}",
	             (int)(strlen(head_json) - 1), head_json, user_json) < 0) {
		body = NULL;
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	user_len = strlen(user_json);
	sm.run = r;
	flue_assembler_init(&sm.assembler);
	req.model = r->endpoint_model;
	req.request_json = body;
	req.cancel = r->opts.cancel;
	req.on_event = on_summary_event;
	req.event_payload = &sm;
	req.head_json = head_json;
	req.message_json = (const char *const *)&user_json;
	req.message_len = &user_len;
	req.message_count = 1;
	rc = r->provider->desc->provider->stream(r->provider->instance, &req,
	                                         err);
	if (flue_cancel_is_set(r->opts.cancel))
		rc = flue_error_set(err, FLUE_ECANCELED, "canceled");
	else if (sm.failed)
		rc = flue_error_set(err, sm.err.code ? sm.err.code : FLUE_ERROR,
		                    "%s", sm.err.message);
	if (rc == 0)
		rc = flue_assembler_finish(&sm.assembler, r->prep.choice.model,
		                           &msg, &arg_errors, err);
	if (rc == 0) {
		free(arg_errors);
		*usage = sm.assembler.usage;
		*out = message_text(msg);
		if (*out == NULL || (*out)[0] == '\0') {
			free(*out);
			*out = NULL;
			rc = flue_error_set(err, FLUE_ERROR, "the model wrote an "
			                    "empty summary");
		}
	}
	json_object_put(msg);
	flue_assembler_clear(&sm.assembler);
done:
	free(body);
	free(user_json);
	free(head_json);
	json_object_put(user);
	json_object_put(head);
	return rc;
}

static int64_t
view_tokens(const struct run *r)
{
	int64_t t = 0;

	for (size_t i = 0; i < r->n_msgs; i++)
		t += flue_compact_estimate(r->msg_len[i]);
	return t;
}

static void
emit_compaction(struct run *r, uint32_t type, json_object *ev)
{
	if (ev != NULL)
		emit(r, type, ev, NULL, 0, NULL, NULL, 0);
}

/* Summarise the older part of the model's view into a compaction
 * record and rebuild the view from it.  FLUE_ENOENT: nothing to
 * compact (the recent turns are all there is). */
static int
compact(struct run *r, const char *reason, struct flue_error *err)
{
	json_object **msgs, *rec, *ev;
	struct flue_usage usage = {0};
	size_t first = r->summary != NULL, cut, before, kept_from;
	int64_t tokens_before, start = flue_mono_ms();
	char *prompt, *summary = NULL;
	int rc;

	if (update_messages(r) != 0)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	before = r->n_msgs;
	tokens_before = view_tokens(r);
	msgs = calloc(before + 1, sizeof(*msgs));
	if (msgs == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	for (size_t i = first; i < before; i++)
		msgs[i] = r->store.get(r->session, r->msg_index[i]);
	cut = flue_compact_cut(msgs, r->msg_len, before, first, r->keep);
	if (cut == 0) {
		free(msgs);
		return flue_error_set(err, FLUE_ENOENT, "nothing to compact: the "
		                      "%zu messages (~%" PRId64 " tokens) are all "
		                      "recent turns kept verbatim "
		                      "(keep_recent_tokens %" PRId64 ")", before,
		                      tokens_before, r->keep);
	}
	if (r->sink->on_event != NULL && (ev = event_new(r,
	                                  "compaction_start")) != NULL) {
		json_object_object_add(ev, "reason", json_object_new_string(reason));
		json_object_object_add(ev, "messages",
		                       json_object_new_int64((int64_t)before));
		json_object_object_add(ev, "estimated_tokens",
		                       json_object_new_int64(tokens_before));
		emit_compaction(r, FLUE_EVENT_COMPACTION_START, ev);
	}
	prompt = flue_compact_prompt(msgs, first, cut, r->summary);
	kept_from = r->msg_index[cut];
	free(msgs);
	if (prompt == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	rc = summarise(r, prompt, &summary, &usage, err);
	free(prompt);
	if (rc != 0)
		return flue_error_prefix(err, "compaction (%s)", reason);
	flue_usage_add(&r->out->usage, &usage);
	rec = json_object_new_object();
	json_object_object_add(rec, "type", json_object_new_string("compaction"));
	json_object_object_add(rec, "reason", json_object_new_string(reason));
	json_object_object_add(rec, "summary", json_object_new_string(summary));
	json_object_object_add(rec, "first_kept",
	                       json_object_new_int64((int64_t)kept_from));
	json_object_object_add(rec, "tokens_before",
	                       json_object_new_int64(tokens_before));
	json_object_object_add(rec, "messages_before",
	                       json_object_new_int64((int64_t)before));
	json_object_object_add(rec, "usage", flue_usage_to_json(&usage));
	rc = r->store.append(r->session, rec, err);
	json_object_put(rec);
	if (rc != 0) {
		free(summary);
		return rc;
	}
	free(r->summary);
	r->summary = summary;
	r->view_start = kept_from;
	if (reset_view(r) != 0)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (r->sink->on_event != NULL && (ev = event_new(r,
	                                  "compaction")) != NULL) {
		json_object_object_add(ev, "reason", json_object_new_string(reason));
		json_object_object_add(ev, "messages_before",
		                       json_object_new_int64((int64_t)before));
		json_object_object_add(ev, "messages_after",
		                       json_object_new_int64((int64_t)r->n_msgs));
		json_object_object_add(ev, "tokens_before",
		                       json_object_new_int64(tokens_before));
		json_object_object_add(ev, "tokens_after",
		                       json_object_new_int64(view_tokens(r)));
		json_object_object_add(ev, "duration_ms",
		                       json_object_new_int64(flue_mono_ms() - start));
		json_object_object_add(ev, "usage", flue_usage_to_json(&usage));
		emit_compaction(r, FLUE_EVENT_COMPACTION_END, ev);
	}
	return 0;
}

/* A compaction the run asked for itself: a failure is reported and the
 * run goes on with the whole view (the provider may still accept it). */
static int
compact_quietly(struct run *r, const char *reason, struct flue_error *err)
{
	struct flue_error e = {0};
	int rc = compact(r, reason, &e);

	if (rc == FLUE_ECANCELED) {
		*err = e;
		return rc;
	}
	if (rc != 0 && rc != FLUE_ENOENT) {
		char line[FLUE_ERROR_MESSAGE_MAX + 64];

		snprintf(line, sizeof(line), "%s; going on without it", e.message);
		flue_sink_warn(r->sink, line);
	}
	return 0;
}

/* After an answer: does the next request come too close to the window? */
static void
check_threshold(struct run *r)
{
	const struct flue_usage *u = &r->assembler.usage;
	int64_t used = (int64_t)(u->input_tokens + u->cache_read_tokens +
	                         u->cache_write_tokens + u->output_tokens);

	if (!r->prep.settings.compaction_off && r->window > 0 &&
	    r->assembler.have_usage && used > r->window - r->reserve)
		r->need_compact = 1;
}

/* ------------------------------------------------------------------ */
/* Tool calls                                                          */
/* ------------------------------------------------------------------ */

static const struct run_tool *
find_tool(const struct run *r, const char *name)
{
	for (size_t i = 0; i < r->n_tools; i++)
		if (strcmp(r->tools[i].name, name) == 0)
			return &r->tools[i];
	return NULL;
}

static void
set_output(struct flue_tool_output *out, int is_error, const char *fmt, ...)
	FLUE_PRINTF(3, 4);

static void
set_output(struct flue_tool_output *out, int is_error, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&out->text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		out->text = NULL;
		n = 0;
	}
	out->len = (size_t)n;
	out->is_error = is_error;
}

/* Check a call before it runs; a problem becomes its result. */
static void
check_call(struct run *r, struct run_call *c, const char *arg_error)
{
	const struct run_tool *tool = find_tool(r, c->name);
	struct flue_schema_report report = {0};
	char *lines;
	int ok;

	if (tool == NULL) {
		char list[1024] = "";
		size_t used = 0;

		for (size_t i = 0; i < r->n_tools && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used,
			                         "%s%s", i ? ", " : "",
			                         r->tools[i].name);
		set_output(&c->out, 1, "Tool '%s' not found. Available tools: %s",
		           c->name, r->n_tools ? list : "none");
		return;
	}
	if (arg_error != NULL) {
		set_output(&c->out, 1, "Tool '%s': %s. Call it again with a JSON "
		           "object of arguments.", c->name, arg_error);
		return;
	}
	ok = flue_schema_validate(tool->schema, c->args, &report);
	if (ok == 1 && r->result_schema != NULL &&
	    (strcmp(c->name, "finish") == 0 || strcmp(c->name, "give_up") == 0)) {
		c->ending = 1;
		set_output(&c->out, 0, "%s", strcmp(c->name, "finish") == 0 ?
		           "Result accepted." : "Noted: giving up.");
		return;
	}
	if (ok == 1) {
		c->runnable = 1;
		c->plugin = tool->plugin;
		return;
	}
	lines = flue_schema_report_text(&report);
	set_output(&c->out, 1, "Validation failed for tool \"%s\":\n%s\n"
	           "Received arguments:\n%s", c->name, lines ? lines : "",
	           json_object_to_json_string_ext(c->args,
	                   JSON_C_TO_STRING_PRETTY |
	                   JSON_C_TO_STRING_NOSLASHESCAPE));
	free(lines);
	flue_schema_report_clear(&report);
}

/* A tool plugin's call: its text comes back in host memory. */
static int
plugin_call(struct run_call *c)
{
	struct run *r = c->run;
	struct flue_tool_context ctx = {0};
	struct flue_bytes bytes = {0};
	int rc;

	ctx.size = sizeof(ctx);
	ctx.session_id = r->out->session_id;
	flue_workspace_raw(r->prep.workspace, &ctx.sandbox, &ctx.workspace);
	ctx.cancel = r->opts.cancel;
	rc = c->plugin->desc->tool->call(c->plugin->instance, c->name,
	        json_object_to_json_string_ext(c->args, JSON_FLAGS), &ctx,
	        &bytes, &c->err);
	if (rc != 0) {
		if (c->err.message[0] == '\0')
			flue_error_set(&c->err, rc, "tool plugin '%s' failed (%s)",
			               c->plugin->name, flue_status_name(rc));
		return rc < 0 ? rc : FLUE_ERROR;
	}
	/* A plugin may hand back any bytes; the model gets valid UTF-8. */
	c->out.text = flue_utf8_clean(bytes.data ? (const char *)bytes.data : "",
	                              bytes.len, &c->out.len);
	flue_bytes_free(&bytes);
	if (c->out.text == NULL)
		return flue_error_set(&c->err, FLUE_ENOMEM, "out of memory");
	return 0;
}

/* activate_skill: the name was checked against the skills' names. */
static int
activate_skill_call(struct run_call *c)
{
	struct run *r = c->run;
	const char *name = json_object_get_string(json_object_object_get(
	        c->args, "name"));
	const struct flue_skill *skill = flue_skill_set_find(&r->prep.skill_set,
	                                                     name);
	int rc;

	if (skill == NULL)
		return flue_error_set(&c->err, FLUE_ENOENT, "no skill '%s'", name);
	rc = flue_skill_instructions(skill, r->prep.workspace, NULL,
	                             &c->out.text, &c->err);
	if (rc == 0)
		c->out.len = strlen(c->out.text);
	return rc;
}

/* A task: the same agent in a new session that shares the sandbox,
 * rediscovering AGENTS.md and skills from its own working directory.
 * Its final text is the call's result.  Runs on the call's thread. */
static int
task_call(struct run_call *c)
{
	struct run *r = c->run;
	struct flue_call child = {0};
	struct flue_run_result result;
	int64_t max_depth = r->harness->project.config.defaults.max_task_depth;
	const char *cwd = json_object_get_string(json_object_object_get(c->args,
	                                                                "cwd"));
	const char *role = json_object_get_string(json_object_object_get(
	        c->args, "role"));
	char task_id[FLUE_TASK_ID_LEN + 1], *session_id, *child_cwd = NULL;
	int rc;

	if (max_depth <= 0)
		max_depth = FLUE_DEFAULT_TASK_DEPTH;
	if ((int64_t)r->opts.depth >= max_depth) {
		set_output(&c->out, 1, "Maximum task depth (%" PRId64 ") "
		           "exceeded: this agent is itself a task %u levels deep. "
		           "Do the work here instead (the limit is "
		           "defaults.max_task_depth in flue.yaml).", max_depth,
		           r->opts.depth);
		return 0;
	}
	session_id = flue_task_session_id(r->out->session_id, task_id);
	if (session_id == NULL)
		return flue_error_set(&c->err, FLUE_ENOMEM, "out of memory");
	if (cwd != NULL && cwd[0] != '/')
		rc = asprintf(&child_cwd, "%s/%s", r->prep.cwd, cwd);
	else
		rc = (child_cwd = strdup(cwd ? cwd : r->prep.cwd)) ? 0 : -1;
	if (rc < 0) {
		free(session_id);
		return flue_error_set(&c->err, FLUE_ENOMEM, "out of memory");
	}
	c->link = json_object_new_object();
	json_object_object_add(c->link, "id", json_object_new_string(task_id));
	json_object_object_add(c->link, "session",
	                       json_object_new_string(session_id));
	child.harness = r->harness;
	child.agent = r->opts.agent;
	child.session_id = session_id;
	child.payload_json = r->opts.payload_json;
	child.text = json_object_get_string(json_object_object_get(c->args,
	                                                           "prompt"));
	child.role = role != NULL ? role : r->prep.role_name;
	child.model = r->opts.model;
	child.thinking = r->opts.thinking;
	child.cwd = child_cwd;
	child.cancel = r->opts.cancel;
	child.now = r->opts.now;
	child.workspace = r->prep.workspace;
	child.sink = r->sink;
	child.depth = r->opts.depth + 1;
	child.parent_session = r->out->session_id;
	child.task_id = task_id;
	rc = flue_call_run(&child, &result, &c->err);
	if (rc == 0) {
		const char *text = result.text != NULL && result.text[0] != '\0' ?
		                   result.text : "(task completed with no text)";

		c->out.text = strdup(text);
		c->out.len = strlen(text);
		if (c->out.text == NULL)
			rc = flue_error_set(&c->err, FLUE_ENOMEM, "out of memory");
	} else if (rc != FLUE_ECANCELED) {
		flue_error_prefix(&c->err, "task %s (session %s) failed", task_id,
		                  session_id);
	}
	flue_run_result_free(&result);
	free(child_cwd);
	free(session_id);
	return rc;
}

static void
execute_call(struct run_call *c)
{
	struct run *r = c->run;
	struct flue_tool_env env = {0};
	int64_t start = flue_mono_ms();

	if (c->plugin != NULL || strcmp(c->name, "task") == 0 ||
	    strcmp(c->name, "activate_skill") == 0) {
		c->rc = c->plugin != NULL ? plugin_call(c) :
		        c->name[0] == 't' ? task_call(c) : activate_skill_call(c);
		c->duration_ms = flue_mono_ms() - start;
		return;
	}
	env.workspace = r->prep.workspace;
	env.cwd = r->prep.cwd;
	env.cancel = r->opts.cancel;
	env.exec_env = (const char *const *)r->exec_env;
	c->rc = flue_tool_run(&env, c->name, c->args, &c->out, &c->err);
	c->duration_ms = flue_mono_ms() - start;
}

static void *
call_thread(void *arg)
{
	struct run_call *c = arg;

	execute_call(c);
	pthread_mutex_lock(&c->run->lock);
	c->done = 1;
	pthread_cond_broadcast(&c->run->cond);
	pthread_mutex_unlock(&c->run->lock);
	return NULL;
}

static void
emit_tool_start(struct run *r, const struct run_call *c)
{
	json_object *ev;

	if (r->sink->on_event == NULL)
		return;
	ev = event_new(r, "tool_start");
	if (ev == NULL)
		return;
	json_object_object_add(ev, "id", json_object_new_string(c->id));
	json_object_object_add(ev, "name", json_object_new_string(c->name));
	json_object_object_add(ev, "arguments", json_object_get(c->args));
	emit(r, FLUE_EVENT_TOOL_START, ev, NULL, 0, c->name, c->id, 0);
}

static void
emit_tool_end(struct run *r, struct run_call *c)
{
	json_object *ev;
	const char *text = c->out.text ? c->out.text : c->err.message;
	size_t len = c->out.text ? c->out.len : strlen(c->err.message);
	size_t shown = len;

	c->reported = 1;
	if (r->sink->on_event == NULL)
		return;
	/* Cut on a UTF-8 boundary so the event stays valid JSON text. */
	shown = flue_utf8_cut(text, len, RUN_EVENT_RESULT_MAX);
	ev = event_new(r, "tool_end");
	if (ev == NULL)
		return;
	json_object_object_add(ev, "id", json_object_new_string(c->id));
	json_object_object_add(ev, "name", json_object_new_string(c->name));
	json_object_object_add(ev, "is_error", json_object_new_boolean(
	                       c->rc != 0 || c->out.is_error));
	json_object_object_add(ev, "result",
	                       json_object_new_string_len(text, (int)shown));
	if (shown < len)
		json_object_object_add(ev, "result_bytes",
		                       json_object_new_int64((int64_t)len));
	json_object_object_add(ev, "duration_ms",
	                       json_object_new_int64(c->duration_ms));
	emit(r, FLUE_EVENT_TOOL_END, ev, text, len, c->name, c->id,
	     c->rc != 0 || c->out.is_error);
}

/* Under the lock: a call finished but not reported yet. */
static int
any_ready(const struct run_call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (calls[i].runnable && calls[i].done && !calls[i].reported)
			return 1;
	return 0;
}

/* Run the runnable calls, at most RUN_MAX_PARALLEL_TOOLS at once,
 * reporting each as it finishes. */
static void
run_calls(struct run *r, struct run_call *calls, size_t n)
{
	size_t runnable = 0, running = 0, next = 0, left;

	for (size_t i = 0; i < n; i++)
		runnable += calls[i].runnable;
	if (runnable == 1) {
		for (size_t i = 0; i < n; i++)
			if (calls[i].runnable) {
				execute_call(&calls[i]);
				calls[i].done = 1;
				emit_tool_end(r, &calls[i]);
			}
		return;
	}
	left = runnable;
	pthread_mutex_lock(&r->lock);
	while (left > 0) {
		while (running < RUN_MAX_PARALLEL_TOOLS && next < n) {
			struct run_call *c = &calls[next++];

			if (!c->runnable)
				continue;
			c->started = 1;
			if (pthread_create(&c->thread, NULL, call_thread, c) != 0) {
				c->started = 0;
				c->rc = flue_error_set(&c->err, FLUE_ENOMEM, "could not "
				                       "start a thread for the call");
				c->done = 1;
				continue;
			}
			running++;
		}
		for (size_t i = 0; i < n; i++) {
			struct run_call *c = &calls[i];

			if (!c->runnable || !c->done || c->reported)
				continue;
			if (c->started) {
				pthread_mutex_unlock(&r->lock);
				pthread_join(c->thread, NULL);
				pthread_mutex_lock(&r->lock);
				running--;
			}
			pthread_mutex_unlock(&r->lock);
			emit_tool_end(r, c);
			pthread_mutex_lock(&r->lock);
			left--;
		}
		if (left > 0 && running > 0 && !any_ready(calls, n))
			pthread_cond_wait(&r->cond, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Run a turn's tool calls and store their results in call order. */
static int
tool_turn(struct run *r, json_object *msg, char **arg_errors,
          struct flue_error *err)
{
	json_object *content;
	struct run_call *calls;
	size_t n = 0, k = 0;
	int rc = 0, canceled;

	json_object_object_get_ex(msg, "content", &content);
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *type;

		if (json_object_object_get_ex(json_object_array_get_idx(content, i),
		                              "type", &type) &&
		    strcmp(json_object_get_string(type), "tool_call") == 0)
			n++;
	}
	calls = calloc(n + 1, sizeof(*calls));
	if (calls == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *block = json_object_array_get_idx(content, i);
		json_object *type, *v;
		struct run_call *c;

		if (!json_object_object_get_ex(block, "type", &type) ||
		    strcmp(json_object_get_string(type), "tool_call") != 0)
			continue;
		c = &calls[k];
		c->run = r;
		json_object_object_get_ex(block, "id", &v);
		c->id = json_object_get_string(v);
		json_object_object_get_ex(block, "name", &v);
		c->name = json_object_get_string(v);
		json_object_object_get_ex(block, "arguments", &v);
		if (json_object_deep_copy(v, &c->args, NULL) != 0)
			c->args = json_object_new_object();
		check_call(r, c, arg_errors ? arg_errors[k] : NULL);
		emit_tool_start(r, c);
		if (!c->runnable)
			emit_tool_end(r, c);
		k++;
	}
	run_calls(r, calls, n);
	canceled = flue_cancel_is_set(r->opts.cancel);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct run_call *c = &calls[i];
		json_object *m;

		if (c->rc == FLUE_ECANCELED || (c->rc == 0 && c->out.text == NULL &&
		                                canceled)) {
			static const char text[] = "the run was canceled before this "
			                           "tool call finished";

			m = tool_message(c->id, c->name, text, sizeof(text) - 1, 1);
		} else if (c->rc != 0) {
			m = tool_message(c->id, c->name, c->err.message,
			                 strlen(c->err.message), 1);
		} else {
			m = tool_message(c->id, c->name, c->out.text ? c->out.text : "",
			                 c->out.len, c->out.is_error);
		}
		if (c->link != NULL)
			json_object_object_add(m, "task", json_object_get(c->link));
		rc = r->store.append(r->session, m, err);
		json_object_put(m);
		if (c->rc != FLUE_ECANCELED && c->runnable)
			r->out->tool_calls++;
	}
	for (size_t i = 0; i < n && rc == 0 && !r->finished; i++) {
		struct run_call *c = &calls[i];
		json_object *value = c->args, *inner;

		if (!c->ending)
			continue;
		r->finished = 1;
		if (strcmp(c->name, "give_up") == 0) {
			r->give_up_reason = strdup(json_object_get_string(
			        json_object_object_get(c->args, "reason")));
			continue;
		}
		if (r->result_wrapped &&
		    json_object_object_get_ex(c->args, "result", &inner))
			value = inner;
		free(r->out->result_json);
		r->out->result_json = strdup(json_object_to_json_string_ext(value,
		                             JSON_FLAGS));
	}
	for (size_t i = 0; i < n; i++) {
		flue_tool_output_clear(&calls[i].out);
		json_object_put(calls[i].args);
		json_object_put(calls[i].link);
	}
	free(calls);
	if (rc == 0 && canceled)
		rc = flue_error_set(err, FLUE_ECANCELED, "canceled");
	return rc;
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

static char *
message_text(json_object *msg)
{
	json_object *content;
	size_t len = 0;
	char *text;

	if (!json_object_object_get_ex(msg, "content", &content))
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		size_t at = 0;

		for (size_t i = 0; i < json_object_array_length(content); i++) {
			json_object *b = json_object_array_get_idx(content, i), *t, *v;

			if (!json_object_object_get_ex(b, "type", &t) ||
			    strcmp(json_object_get_string(t), "text") != 0 ||
			    !json_object_object_get_ex(b, "text", &v))
				continue;
			if (pass == 1)
				memcpy(text + at, json_object_get_string(v),
				       (size_t)json_object_get_string_len(v));
			at += (size_t)json_object_get_string_len(v);
		}
		if (pass == 0) {
			len = at;
			text = malloc(len + 1);
			if (text == NULL)
				return NULL;
		}
	}
	text[len] = '\0';
	return text;
}

static void
emit_turn_end(struct run *r, json_object *msg, size_t tool_calls)
{
	json_object *ev, *v;

	if (r->sink->on_event == NULL)
		return;
	ev = event_new(r, "turn_end");
	if (ev == NULL)
		return;
	if (json_object_object_get_ex(msg, "stop_reason", &v))
		json_object_object_add(ev, "stop_reason", json_object_get(v));
	if (json_object_object_get_ex(msg, "usage", &v))
		json_object_object_add(ev, "usage", json_object_get(v));
	json_object_object_add(ev, "tool_calls",
	                       json_object_new_int((int32_t)tool_calls));
	emit(r, FLUE_EVENT_TURN_END, ev, NULL, 0, NULL, NULL, 0);
}

static void
emit_run_start(struct run *r)
{
	json_object *ev;

	if (r->sink->on_event == NULL)
		return;
	ev = event_new(r, "run_start");
	if (ev == NULL)
		return;
	json_object_object_add(ev, "agent", json_object_new_string(
	                       r->opts.agent));
	json_object_object_add(ev, "session", json_object_new_string(
	                       r->out->session_id));
	json_object_object_add(ev, "model", json_object_new_string(
	                       r->prep.choice.model));
	json_object_object_add(ev, "sandbox", json_object_new_string(
	                       r->prep.sandbox));
	json_object_object_add(ev, "cwd", json_object_new_string(r->prep.cwd));
	emit(r, FLUE_EVENT_RUN_START, ev, NULL, 0, NULL, NULL, 0);
}

static void
emit_run_end(struct run *r, int rc, const struct flue_error *err)
{
	static const char *const names[] = {"ok", "error", "canceled",
	                                    "max_turns"};
	json_object *ev;

	if (r->sink->on_event == NULL)
		return;
	r->turn = 0;
	ev = event_new(r, "run_end");
	if (ev == NULL)
		return;
	json_object_object_add(ev, "status", json_object_new_string(
	                       names[r->out->status]));
	if (r->out->session_id != NULL)
		json_object_object_add(ev, "session", json_object_new_string(
		                       r->out->session_id));
	if (r->out->text != NULL)
		json_object_object_add(ev, "result", json_object_new_string(
		                       r->out->text));
	if (r->out->result_json != NULL)
		json_object_object_add(ev, "output", json_tokener_parse(
		                       r->out->result_json));
	json_object_object_add(ev, "usage", flue_usage_to_json(&r->out->usage));
	json_object_object_add(ev, "turns", json_object_new_int(
	                       (int32_t)r->out->turns));
	if (rc != 0) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_string(
		                       flue_status_name(rc)));
		json_object_object_add(e, "message", json_object_new_string(
		                       err->message));
		json_object_object_add(ev, "error", e);
	}
	emit(r, FLUE_EVENT_RUN_END, ev, NULL, 0, NULL, NULL, 0);
}

static int
append_user(struct run *r, const char *text, struct flue_error *err)
{
	json_object *m = json_object_new_object();
	int rc;

	if (m == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string(text));
	rc = r->store.append(r->session, m, err);
	json_object_put(m);
	return rc;
}

static int
loop(struct run *r, struct flue_error *err)
{
	int64_t max_turns = r->opts.max_turns > 0 ? r->opts.max_turns :
	                    r->prep.settings.max_turns;
	int nudges = 0, overflowed = 0;

	if (max_turns <= 0)
		max_turns = r->harness->project.config.defaults.max_turns;
	if (max_turns <= 0)
		max_turns = RUN_DEFAULT_MAX_TURNS;
	for (;;) {
		json_object *msg, *content;
		char **arg_errors = NULL;
		size_t calls;
		int rc;

		if (r->need_compact) {
			r->need_compact = 0;
			if ((rc = compact_quietly(r, "threshold", err)) != 0)
				return rc;
		}

		if ((int64_t)r->turn >= max_turns) {
			r->out->status = FLUE_RUN_MAX_TURNS;
			return flue_error_set(err, FLUE_ERROR, "stopped after %" PRId64
			                      " turns (max_turns); the session keeps "
			                      "the work so far: continue it with "
			                      "--id %s", max_turns, r->out->session_id);
		}
		if (flue_cancel_is_set(r->opts.cancel))
			return flue_error_set(err, FLUE_ECANCELED, "canceled");
		r->turn++;
		rc = model_turn(r, &msg, &arg_errors, err);
		if (rc == FLUE_ECONTEXT && !overflowed) {
			/* Too long for the model: compact once and ask again. */
			struct flue_error first = *err;

			overflowed = 1;
			rc = compact(r, "overflow", err);
			if (rc == 0) {
				r->turn--;
				continue;
			}
			if (rc != FLUE_ECANCELED) {
				char why[FLUE_ERROR_MESSAGE_MAX];

				snprintf(why, sizeof(why), "%s", err->message);
				rc = flue_error_set(err, first.code, "%s; compacting did "
				                    "not help: %s", first.message, why);
			}
		}
		if (rc != 0)
			return rc;
		overflowed = 0;
		check_threshold(r);
		r->out->turns++;
		flue_usage_add(&r->out->usage, &r->assembler.usage);
		calls = r->assembler.tool_calls;
		emit_turn_end(r, msg, calls);
		free(r->out->text);
		r->out->text = message_text(msg);
		if (calls == 0 || !json_object_object_get_ex(msg, "content",
		                                             &content)) {
			json_object_put(msg);
			free(arg_errors);
			if (r->result_schema == NULL) {
				/* The next call starts from a compacted view. */
				if (r->need_compact) {
					r->need_compact = 0;
					return compact_quietly(r, "threshold", err);
				}
				return 0;
			}
			/* A typed result comes only through finish or give_up. */
			if (nudges++ >= RUN_RESULT_NUDGES)
				return flue_error_set(err, FLUE_ERROR, "the model "
				        "answered %d times without calling finish or "
				        "give_up; no result", RUN_RESULT_NUDGES + 1);
			rc = append_user(r, "Your answer is not the result: call "
			                 "the finish tool with the result as its "
			                 "arguments, or give_up with the reason if "
			                 "the task cannot be done.", err);
			if (rc != 0)
				return rc;
			continue;
		}
		rc = tool_turn(r, msg, arg_errors, err);
		for (size_t i = 0; i < calls; i++)
			free(arg_errors[i]);
		free(arg_errors);
		json_object_put(msg);
		if (rc != 0)
			return rc;
		if (r->give_up_reason != NULL)
			return flue_error_set(err, FLUE_ERROR, "the agent gave up: %s",
			                      r->give_up_reason);
		if (r->finished)
			return 0;
	}
}

/* A task's session starts with where it comes from, for `flue logs`. */
static int
append_task_record(struct run *r, struct flue_error *err)
{
	json_object *rec = json_object_new_object();
	int rc;

	if (rec == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	json_object_object_add(rec, "type", json_object_new_string("task"));
	json_object_object_add(rec, "task_id",
	                       json_object_new_string(r->opts.task_id));
	json_object_object_add(rec, "parent_session",
	                       json_object_new_string(r->opts.parent_session));
	json_object_object_add(rec, "depth",
	                       json_object_new_int((int32_t)r->opts.depth));
	json_object_object_add(rec, "cwd", json_object_new_string(r->prep.cwd));
	if (r->prep.role_name != NULL)
		json_object_object_add(rec, "role",
		                       json_object_new_string(r->prep.role_name));
	rc = r->store.append(r->session, rec, err);
	json_object_put(rec);
	return rc;
}

/* Open the session and append the user's message (checked first, so a
 * run with nothing to do leaves no session behind). */
static int
open_session(struct run *r, struct flue_error *err)
{
	json_object *user = NULL;
	int repaired = 0, rc;

	rc = r->opts.compact_only ? 0 : user_message(r, &user, err);
	if (rc != 0)
		return rc;
	flue_store_local(&r->store, r->harness->project.state);
	rc = r->store.open(r->store.backend, r->opts.agent, r->out->session_id,
	                   &r->session, &repaired, err);
	if (rc != 0)
		json_object_put(user);
	if (rc == FLUE_EBUSY)
		return flue_error_set(err, FLUE_EBUSY, "session '%s' of agent '%s' "
		                      "is busy: another run is using it; wait for "
		                      "it or use another --id", r->out->session_id,
		                      r->opts.agent);
	if (rc != 0)
		return rc;
	if (repaired)
		flue_sink_warn(r->sink, "the session's last record was "
		             "cut short (the process was killed while writing it); "
		             "it was dropped");
	rc = repair_dangling_calls(r, err);
	if (rc == 0 && r->opts.task_id != NULL && r->store.count(r->session) == 0)
		rc = append_task_record(r, err);
	if (rc == 0 && user != NULL)
		rc = r->store.append(r->session, user, err);
	json_object_put(user);
	if (rc == 0 && load_view(r) != 0)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return rc;
}

void
flue_sink_event(struct flue_event_sink *sink, const struct flue_event *event)
{
	if (sink->on_event == NULL)
		return;
	pthread_mutex_lock(&sink->lock);
	sink->on_event(sink->event_payload, event);
	pthread_mutex_unlock(&sink->lock);
}

void
flue_sink_warn(struct flue_event_sink *sink, const char *message)
{
	if (sink->warn == NULL)
		return;
	pthread_mutex_lock(&sink->lock);
	sink->warn(sink->warn_payload, message);
	pthread_mutex_unlock(&sink->lock);
}

static void
sink_warn(void *payload, const char *message)
{
	flue_sink_warn(payload, message);
}

/* A result schema given with the call replaces the agent's. */
static int
choose_result_schema(struct run *r, struct flue_error *err)
{
	if (r->opts.result_schema_json == NULL) {
		r->result_schema = r->prep.settings.result;
		return 0;
	}
	r->result_schema = json_tokener_parse(r->opts.result_schema_json);
	r->result_owned = 1;
	if (r->result_schema == NULL ||
	    !json_object_is_type(r->result_schema, json_type_object))
		return flue_error_set(err, FLUE_EINVAL, "the call's result "
		                      "schema is not a JSON object");
	return 0;
}

int
flue_call_run(const struct flue_call *call, struct flue_run_result *out,
              struct flue_error *err)
{
	struct flue_prepare_options popts = {0};
	struct run *r;
	int rc;

	memset(out, 0, sizeof(*out));
	out->usage.cost_usd = -1;
	out->status = FLUE_RUN_FAILED;
	if (call == NULL || call->agent == NULL)
		return flue_error_set(err, FLUE_EINVAL, "no agent named");
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	r->opts = *call;
	r->harness = call->harness;
	r->out = out;
	if (call->sink != NULL) {
		r->sink = call->sink;
	} else {
		r->sink = &r->own_sink;
		pthread_mutex_init(&r->own_sink.lock, NULL);
		r->own_sink.on_event = call->on_event;
		r->own_sink.event_payload = call->event_payload;
		r->own_sink.warn = call->warn;
		r->own_sink.warn_payload = call->warn_payload;
	}
	flue_assembler_init(&r->assembler);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (r->opts.session_id != NULL) {
		if (!flue_session_id_valid(r->opts.session_id)) {
			rc = flue_error_set(err, FLUE_EINVAL, "session id '%s': use "
			        "1-%d letters, digits, '.', '_' or '-', not starting "
			        "with '.'", r->opts.session_id, FLUE_SESSION_ID_MAX);
			goto done;
		}
		out->session_id = strdup(r->opts.session_id);
	} else {
		out->session_id = flue_session_id_new();
	}
	if (out->session_id == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	popts.agent = r->opts.agent;
	popts.role = r->opts.role;
	popts.model = r->opts.model;
	popts.thinking = r->opts.thinking;
	popts.payload_json = r->opts.payload_json;
	popts.cwd = r->opts.cwd;
	popts.session_id = out->session_id;
	popts.workspace = r->opts.workspace;
	popts.now = r->opts.now;
	popts.warn = sink_warn;
	popts.warn_payload = r->sink;
	rc = flue_prepare(r->harness, &popts, &r->prep, err);
	if (rc == 0 && r->prep.choice.model != NULL &&
	    (out->model = strdup(r->prep.choice.model)) == NULL)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (rc == 0)
		rc = choose_result_schema(r, err);
	if (rc == 0)
		rc = resolve_provider(r, err);
	if (rc == 0)
		rc = add_result_tools(r, err);
	if (rc == 0)
		rc = compile_tools(r, err);
	if (rc == 0)
		rc = build_exec_env(r, err);
	if (rc == 0)
		rc = open_session(r, err);
	if (rc == 0 && build_head(r) != 0)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (rc != 0)
		goto done;
	if (r->opts.compact_only) {
		rc = compact(r, "manual", err);
		out->status = rc == 0 ? FLUE_RUN_OK : rc == FLUE_ECANCELED ?
		              FLUE_RUN_CANCELED : FLUE_RUN_FAILED;
		goto done;
	}
	emit_run_start(r);
	rc = loop(r, err);
	if (rc == 0)
		out->status = FLUE_RUN_OK;
	else if (rc == FLUE_ECANCELED)
		out->status = FLUE_RUN_CANCELED;
	else if (out->status != FLUE_RUN_MAX_TURNS)
		out->status = FLUE_RUN_FAILED;
	emit_run_end(r, rc, err);
done:
	if (r->session != NULL)
		r->store.close(r->session);
	flue_assembler_clear(&r->assembler);
	for (size_t i = 0; i < r->n_tools; i++)
		flue_schema_free(r->tools[i].schema);
	free(r->tools);
	if (r->exec_env != NULL)
		for (size_t i = 0; r->exec_env[i] != NULL; i++)
			free(r->exec_env[i]);
	free(r->exec_env);
	json_object_put(r->provider_settings);
	free(r->endpoint_model);
	for (size_t i = 0; i < r->n_msgs; i++)
		free(r->msg_text[i]);
	free(r->msg_text);
	free(r->msg_len);
	free(r->msg_index);
	free(r->summary);
	free(r->head_json);
	free(r->give_up_reason);
	if (r->result_owned)
		json_object_put(r->result_schema);
	flue_prepared_clear(&r->prep);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	if (r->sink == &r->own_sink)
		pthread_mutex_destroy(&r->own_sink.lock);
	free(r);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Shell: a command run for the user, recorded for the model           */
/* ------------------------------------------------------------------ */

#define SHELL_TIMEOUT_DEFAULT 600

static int
shell_records(struct run *r, const char *command, const char *call_id,
              struct flue_error *err)
{
	json_object *user = json_object_new_object();
	json_object *msg = json_object_new_object();
	json_object *content = json_object_new_array();
	json_object *block = json_object_new_object();
	json_object *args = json_object_new_object();
	char *text = NULL;
	int rc;

	if (asprintf(&text, "Run this shell command:\n\n```bash\n%s\n```",
	             command) < 0)
		text = NULL;
	if (user == NULL || msg == NULL || content == NULL || block == NULL ||
	    args == NULL || text == NULL) {
		json_object_put(user);
		json_object_put(msg);
		json_object_put(content);
		json_object_put(block);
		json_object_put(args);
		free(text);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	json_object_object_add(user, "role", json_object_new_string("user"));
	json_object_object_add(user, "content", json_object_new_string(text));
	free(text);
	json_object_object_add(args, "command", json_object_new_string(command));
	json_object_object_add(block, "type", json_object_new_string("tool_call"));
	json_object_object_add(block, "id", json_object_new_string(call_id));
	json_object_object_add(block, "name", json_object_new_string("bash"));
	json_object_object_add(block, "arguments", args);
	json_object_array_add(content, block);
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", content);
	json_object_object_add(msg, "stop_reason",
	                       json_object_new_string("tool_calls"));
	json_object_object_add(msg, "model", json_object_new_string("flue-shell"));
	rc = r->store.append(r->session, user, err);
	if (rc == 0)
		rc = r->store.append(r->session, msg, err);
	json_object_put(user);
	json_object_put(msg);
	return rc;
}

int
flue_call_shell(const struct flue_call *call, const char *command,
                int64_t timeout_s, struct flue_exec_result *out,
                struct flue_error *err)
{
	struct flue_prepare_options popts = {0};
	struct flue_exec_request req = {0};
	struct flue_tool_output text = {0};
	struct flue_run_result result = {0};
	struct run *r;
	char call_id[32];
	int repaired = 0, rc, exec_rc;
	json_object *m;

	memset(out, 0, sizeof(*out));
	if (command == NULL || command[0] == '\0')
		return flue_error_set(err, FLUE_EINVAL, "no command to run");
	if (call->session_id == NULL || !flue_session_id_valid(call->session_id))
		return flue_error_set(err, FLUE_EINVAL, "session id '%s': use "
		        "1-%d letters, digits, '.', '_' or '-', not starting "
		        "with '.'", call->session_id ? call->session_id : "",
		        FLUE_SESSION_ID_MAX);
	if (timeout_s <= 0)
		timeout_s = SHELL_TIMEOUT_DEFAULT;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	r->opts = *call;
	r->harness = call->harness;
	r->out = &result;
	r->sink = &r->own_sink;
	pthread_mutex_init(&r->own_sink.lock, NULL);
	r->own_sink.warn = call->warn;
	r->own_sink.warn_payload = call->warn_payload;
	popts.agent = call->agent;
	popts.payload_json = call->payload_json;
	popts.cwd = call->cwd;
	popts.session_id = call->session_id;
	popts.now = call->now;
	popts.warn = sink_warn;
	popts.warn_payload = r->sink;
	rc = flue_prepare(r->harness, &popts, &r->prep, err);
	if (rc == 0)
		rc = build_exec_env(r, err);
	if (rc == 0) {
		flue_store_local(&r->store, r->harness->project.state);
		rc = r->store.open(r->store.backend, call->agent, call->session_id,
		                   &r->session, &repaired, err);
		if (rc == FLUE_EBUSY)
			rc = flue_error_set(err, FLUE_EBUSY, "session '%s' of agent "
			                    "'%s' is busy: a run is using it; wait for "
			                    "it", call->session_id, call->agent);
	}
	if (rc == 0)
		rc = repair_dangling_calls(r, err);
	snprintf(call_id, sizeof(call_id), "shell_%" PRIx64,
	         (uint64_t)flue_mono_ms() ^ ((uint64_t)getpid() << 40));
	if (rc == 0)
		rc = shell_records(r, command, call_id, err);
	if (rc != 0)
		goto done;
	req.command = command;
	req.cwd = r->prep.cwd;
	req.env = (const char *const *)r->exec_env;
	req.timeout_ms = (uint64_t)timeout_s * 1000;
	req.output_limit = (size_t)1 << 20;
	req.cancel = call->cancel;
	exec_rc = flue_workspace_exec(r->prep.workspace, &req, out, err);
	/* The result is recorded whatever happened, so the call has one. */
	if (exec_rc == 0)
		rc = flue_tool_bash_text(out, timeout_s, &text, err);
	if (exec_rc != 0 || rc != 0)
		m = tool_message(call_id, "bash", err->message, strlen(err->message),
		                 1);
	else
		m = tool_message(call_id, "bash", text.text, text.len,
		                 out->exit_code != 0);
	rc = r->store.append(r->session, m, exec_rc != 0 ? NULL : err);
	json_object_put(m);
	if (exec_rc != 0)
		rc = exec_rc;
done:
	if (rc != 0)
		flue_exec_result_free(out);
	flue_tool_output_clear(&text);
	if (r->session != NULL)
		r->store.close(r->session);
	if (r->exec_env != NULL)
		for (size_t i = 0; r->exec_env[i] != NULL; i++)
			free(r->exec_env[i]);
	free(r->exec_env);
	flue_prepared_clear(&r->prep);
	pthread_mutex_destroy(&r->own_sink.lock);
	free(r);
	return rc;
}

FLUE_API int
flue_run(flue_harness *harness, const struct flue_run_options *options,
         struct flue_run_result *out, struct flue_error *err)
{
	struct flue_run_options opts = {0};
	struct flue_call call = {0};

	if (options != NULL)
		memcpy(&opts, options, options->size < sizeof(opts) ?
		       options->size : sizeof(opts));
	call.harness = harness;
	call.agent = opts.agent;
	call.session_id = opts.session_id;
	call.payload_json = opts.payload_json;
	call.role = opts.role;
	call.model = opts.model;
	call.cwd = opts.cwd;
	call.cancel = opts.cancel;
	call.on_event = opts.on_event;
	call.event_payload = opts.event_payload;
	call.warn = opts.warn;
	call.warn_payload = opts.warn_payload;
	call.now = opts.now;
	return flue_call_run(&call, out, err);
}

FLUE_API void
flue_run_result_free(struct flue_run_result *result)
{
	if (result == NULL)
		return;
	free(result->session_id);
	free(result->text);
	free(result->model);
	free(result->result_json);
	memset(result, 0, sizeof(*result));
}
