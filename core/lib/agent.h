/* Agents and roles: Markdown files whose YAML frontmatter holds settings
 * and whose body holds instructions.  An agent is loaded once (checked
 * with its templated values left for later) and resolved per request,
 * when the payload is known. */
#ifndef FLUE_LIB_AGENT_H
#define FLUE_LIB_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "names.h"

#include "project.h"

#define FLUE_AGENT_MAX_BYTES (1024 * 1024)

/* A Markdown file with frontmatter, as read from disk. */
struct flue_md_file {
	char *name;          /* owned: agent or role name (the file's stem) */
	char *path;          /* owned: the file */
	char *text;          /* owned: the whole file */
	json_object *meta;   /* owned: the frontmatter, positions kept */
	const char *body;    /* [borrowed] from text */
	size_t body_len;
	unsigned body_line;  /* 1-based line of body[0] */
};

/* Settings of one agent.  After flue_agent_load, templated values are
 * not filled in (their fields are NULL/0); after flue_agent_resolve they
 * all are.  Strings and objects are [borrowed] from meta. */
struct flue_agent_settings {
	json_object *meta;         /* owned by the settings when resolved */
	const char *description;
	const char *model;
	struct flue_sandbox_choice sandbox;
	const char *cwd;
	const char *role;
	const char *thinking;
	json_object *tools;        /* list of names; NULL: the default set */
	json_object *skills;       /* list of names; NULL: the default set */
	int no_tools, no_skills;   /* tools/skills: false or [] */
	int64_t max_turns;         /* 0: not set */
	json_object *result;       /* JSON Schema, or NULL */
	json_object *env;          /* name -> scalar, or NULL */
	json_object *compaction;   /* mapping, or NULL */
	int compaction_off;        /* compaction: false */
};

struct flue_agent_def {
	struct flue_md_file file;
	struct flue_agent_settings settings;   /* meta borrowed: file.meta */
};


/* Load <source>/agents/<name>.md.  A missing file lists the agents that
 * exist.  Frontmatter keys and types are checked now; values holding
 * {{payload...}} or ${NAME} references are checked by resolve. */
int flue_agent_load(const char *source_dir, const char *name,
                    struct flue_agent_def *out, struct flue_error *err);
void flue_agent_clear(struct flue_agent_def *agent);

/* The agent names under <source>/agents, sorted; *out [caller-owned],
 * NULL-terminated (free with flue_strv_free).  Files whose names are not
 * valid agent names are left out. */
int flue_agent_list(const char *source_dir, char ***out,
                    struct flue_error *err);
void flue_strv_free(char **strv);

/* Substitute payload (may be NULL) and environment references in the
 * frontmatter and check every value.  *out [caller-owned]: clear with
 * flue_agent_settings_clear. */
int flue_agent_resolve(const struct flue_agent_def *agent, json_object *payload,
                       struct flue_agent_settings *out,
                       struct flue_error *err);
void flue_agent_settings_clear(struct flue_agent_settings *settings);

/* A role: instructions overlaid on one call. */
struct flue_role {
	struct flue_md_file file;
	const char *description, *model, *thinking;   /* [borrowed], or NULL */
};

/* Load <source>/roles/<name>.md.  A missing role names the roles there
 * are: "role 'x' not found (available: a, b)". */
int flue_role_load(const char *source_dir, const char *name,
                   struct flue_role *out, struct flue_error *err);
void flue_role_clear(struct flue_role *role);

/* The role of one call: call > session > agent > flue.yaml defaults;
 * NULL when none applies.  [borrowed] from the arguments. */
const char *flue_call_role(const char *call_role, const char *session_role,
                           const struct flue_agent_settings *agent,
                           const struct flue_config *config);

/* The effective model and thinking level of one call. */
struct flue_call_choice {
	const char *model;      /* call > role > agent > defaults; may be NULL */
	const char *thinking;   /* call > role > agent > defaults > medium */
};
/* Pick in precedence order; any input may be NULL (role: the call's
 * role, loaded). */
void flue_call_choose(struct flue_call_choice *out, const char *call_model,
                      const char *call_thinking,
                      const struct flue_agent_settings *agent,
                      const struct flue_role *role,
                      const struct flue_config *config);

#endif
