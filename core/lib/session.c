/* The embedding API: agents and sessions, each call turned into a
 * struct flue_call for run.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent.h"
#include "common.h"
#include "harness.h"
#include "history.h"
#include "run.h"

struct flue_agent {
	flue_harness *harness;       /* borrowed */
	char *name, *role, *model, *thinking, *cwd, *payload_json;  /* owned */
	char *description;           /* owned, or NULL */
	flue_warning_fn warn;
	void *warn_payload;
	int64_t now;
};

struct flue_session {
	flue_agent *agent;           /* borrowed */
	char *id;                    /* owned */
};

static int
dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out == NULL ? -1 : 0;
}

FLUE_API int
flue_agent_open(flue_agent **out, flue_harness *harness,
                const struct flue_agent_options *options,
                struct flue_error *err)
{
	struct flue_agent_options o = {0};
	struct flue_agent_def def;
	flue_agent *a;
	int rc;

	*out = NULL;
	if (options != NULL)
		memcpy(&o, options, options->size < sizeof(o) ? options->size :
		       sizeof(o));
	if (harness == NULL || o.name == NULL)
		return flue_error_set(err, FLUE_EINVAL, "no agent named");
	/* Load it now so that a missing or broken agent fails here. */
	rc = flue_agent_load(harness->project.source, o.name, &def, err);
	if (rc != 0)
		return rc;
	a = calloc(1, sizeof(*a));
	if (a == NULL || dup_opt(&a->name, o.name) != 0 ||
	    dup_opt(&a->role, o.role) != 0 || dup_opt(&a->model, o.model) != 0 ||
	    dup_opt(&a->thinking, o.thinking) != 0 ||
	    dup_opt(&a->cwd, o.cwd) != 0 ||
	    dup_opt(&a->payload_json, o.payload_json) != 0 ||
	    dup_opt(&a->description, def.settings.description) != 0) {
		flue_agent_clear(&def);
		flue_agent_close(a);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	flue_agent_clear(&def);
	a->harness = harness;
	a->warn = o.warn;
	a->warn_payload = o.warn_payload;
	a->now = o.now;
	*out = a;
	return 0;
}

FLUE_API const char *
flue_agent_name(const flue_agent *agent)
{
	return agent->name;
}

FLUE_API const char *
flue_agent_description(const flue_agent *agent)
{
	return agent->description;
}

FLUE_API void
flue_agent_close(flue_agent *agent)
{
	if (agent == NULL)
		return;
	free(agent->name);
	free(agent->role);
	free(agent->model);
	free(agent->thinking);
	free(agent->cwd);
	free(agent->payload_json);
	free(agent->description);
	free(agent);
}

FLUE_API int
flue_session_open(flue_session **out, flue_agent *agent, const char *id,
                  struct flue_error *err)
{
	flue_session *s;

	*out = NULL;
	if (id != NULL && !flue_session_id_valid(id))
		return flue_error_set(err, FLUE_EINVAL, "session id '%s': use "
		                      "1-%d letters, digits, '.', '_' or '-', not "
		                      "starting with '.'", id, FLUE_SESSION_ID_MAX);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	s->agent = agent;
	s->id = id != NULL ? strdup(id) : flue_session_id_new();
	if (s->id == NULL) {
		free(s);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	*out = s;
	return 0;
}

FLUE_API const char *
flue_session_id(const flue_session *session)
{
	return session->id;
}

FLUE_API void
flue_session_close(flue_session *session)
{
	if (session == NULL)
		return;
	free(session->id);
	free(session);
}

/* The call's options over the agent's. */
static void
fill_call(struct flue_call *call, flue_session *s,
          const struct flue_call_options *options,
          struct flue_call_options *o)
{
	const flue_agent *a = s->agent;

	memset(o, 0, sizeof(*o));
	if (options != NULL)
		memcpy(o, options, options->size < sizeof(*o) ? options->size :
		       sizeof(*o));
	memset(call, 0, sizeof(*call));
	call->harness = a->harness;
	call->agent = a->name;
	call->session_id = s->id;
	call->payload_json = o->payload_json ? o->payload_json : a->payload_json;
	call->role = o->role ? o->role : a->role;
	call->model = o->model ? o->model : a->model;
	call->thinking = o->thinking ? o->thinking : a->thinking;
	call->cwd = o->cwd ? o->cwd : a->cwd;
	call->result_schema_json = o->result_schema_json;
	call->max_turns = o->max_turns;
	call->cancel = o->cancel;
	call->on_event = o->on_event;
	call->event_payload = o->event_payload;
	call->warn = a->warn;
	call->warn_payload = a->warn_payload;
	call->now = a->now;
}

FLUE_API int
flue_session_prompt(flue_session *session, const char *text,
                    const struct flue_call_options *options,
                    struct flue_run_result *out, struct flue_error *err)
{
	struct flue_call_options o;
	struct flue_call call;

	fill_call(&call, session, options, &o);
	call.text = text;
	return flue_call_run(&call, out, err);
}

FLUE_API int
flue_session_skill(flue_session *session, const char *name,
                   const char *args_json,
                   const struct flue_call_options *options,
                   struct flue_run_result *out, struct flue_error *err)
{
	struct flue_call_options o;
	struct flue_call call;

	if (name == NULL || name[0] == '\0') {
		memset(out, 0, sizeof(*out));
		return flue_error_set(err, FLUE_EINVAL, "no skill named");
	}
	fill_call(&call, session, options, &o);
	call.skill = name;
	call.skill_args_json = args_json;
	return flue_call_run(&call, out, err);
}

FLUE_API int
flue_session_task(flue_session *session, const char *text,
                  const struct flue_call_options *options,
                  struct flue_run_result *out, struct flue_error *err)
{
	struct flue_call_options o;
	struct flue_call call;
	char task_id[FLUE_TASK_ID_LEN + 1], *child;
	int rc;

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] == '\0')
		return flue_error_set(err, FLUE_EINVAL, "a task needs a prompt");
	fill_call(&call, session, options, &o);
	child = flue_task_session_id(session->id, task_id);
	if (child == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	call.session_id = child;
	call.text = text;
	call.depth = 1;
	call.parent_session = session->id;
	call.task_id = task_id;
	rc = flue_call_run(&call, out, err);
	free(child);
	return rc;
}

FLUE_API int
flue_session_compact(flue_session *session,
                     const struct flue_call_options *options,
                     struct flue_run_result *out, struct flue_error *err)
{
	struct flue_call_options o;
	struct flue_call call;

	fill_call(&call, session, options, &o);
	call.compact_only = 1;
	return flue_call_run(&call, out, err);
}

FLUE_API int
flue_session_shell(flue_session *session, const char *command,
                   const struct flue_call_options *options,
                   struct flue_exec_result *out, struct flue_error *err)
{
	struct flue_call_options o;
	struct flue_call call;

	fill_call(&call, session, options, &o);
	return flue_call_shell(&call, command, o.timeout_s, out, err);
}
