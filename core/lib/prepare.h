/* Everything a run does before its first model request, kept together:
 * the agent resolved for the payload, the role, model and thinking level
 * chosen, the sandbox workspace open, the system prompt and the tool
 * declarations.  flue_render prints it; a run goes on from it. */
#ifndef FLUE_LIB_PREPARE_H
#define FLUE_LIB_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "agent.h"
#include "loader.h"
#include "project.h"
#include "prompt.h"
#include "skills.h"

struct flue_prepare_options {
	const char *agent;          /* [borrowed] agent name */
	const char *role;           /* [borrowed] the call's role, or NULL */
	const char *model;          /* [borrowed] the call's model, or NULL */
	const char *payload_json;   /* [borrowed] JSON, or NULL */
	const char *cwd;            /* [borrowed] or NULL */
	const char *thinking;       /* [borrowed] the call's thinking, or NULL */
	const char *session_id;     /* [borrowed] for the workspace; NULL */
	flue_workspace *workspace;  /* [borrowed] an open workspace to use
	                               (a task shares its parent's); NULL:
	                               open the agent's sandbox */
	int64_t now;                /* 0: now */
	flue_warning_fn warn;
	void *warn_payload;
};

/* Owns every member; clear with flue_prepared_clear. */
struct flue_prepared {
	struct flue_agent_def agent;
	struct flue_agent_settings settings;
	struct flue_role role;
	int have_role;
	const char *role_name;          /* borrowed from settings/config */
	struct flue_call_choice choice; /* borrowed strings */
	const char *sandbox;            /* borrowed: the sandbox plugin */
	json_object *payload;           /* NULL when none */
	flue_workspace *workspace;      /* open */
	int own_workspace;              /* closed by flue_prepared_clear */
	char *cwd;
	struct flue_prompt prompt;
	json_object *tools;             /* the declarations array */
	json_object *plugin_tools;      /* tool plugins' declarations, or NULL */
	struct flue_loaded_plugin **plugin_tool_owners;  /* owned array,
	                                   parallel to plugin_tools; plugins
	                                   borrowed from the loader */
	size_t skills;                  /* skill_set.count */
	struct flue_skill_set skill_pool;   /* owned: every skill found */
	struct flue_skill_set skill_set;    /* the agent's: items array owned,
	                                       skills borrowed from the pool */
};

int flue_prepare(flue_harness *harness,
                 const struct flue_prepare_options *options,
                 struct flue_prepared *out, struct flue_error *err);
void flue_prepared_clear(struct flue_prepared *prepared);

#endif
