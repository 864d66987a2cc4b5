/* The system prompt: one Markdown document assembled from flue's short
 * preamble, the agent's instructions, the project context (AGENTS.md,
 * CLAUDE.md), the skills, the environment, and, per call, the role. */
#ifndef FLUE_LIB_PROMPT_H
#define FLUE_LIB_PROMPT_H

#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "agent.h"
#include "skills.h"

/* AGENTS.md or CLAUDE.md larger than this is an error naming it. */
#define FLUE_CONTEXT_MAX_BYTES (512 * 1024)
/* The environment section lists at most this many top-level entries. */
#define FLUE_LISTING_MAX 100

/* Everything the prompt is built from; pointers [borrowed]. */
struct flue_prompt_input {
	const struct flue_md_file *agent;    /* its body: the instructions */
	json_object *payload;                /* for {{payload...}}; may be NULL */
	flue_workspace *workspace;           /* NULL: no context, no listing */
	const char *cwd;                     /* the sandbox working directory */
	const struct flue_skill_set *skills; /* the agent's skills; may be NULL */
	const struct flue_role *role;        /* the call's role; may be NULL */
	time_t now;                          /* the date shown */
};

/* The rendered prompt; strings owned. */
struct flue_prompt {
	char *base;          /* the session's system prompt */
	size_t base_len;
	char *overlay;       /* the call's role section, or NULL */
	size_t overlay_len;
	char *system;        /* what is sent: base, a blank line, overlay */
	size_t system_len;
	size_t fixed_bytes;  /* bytes of flue's own text in system */
	int context_files;   /* how many of AGENTS.md, CLAUDE.md were found */
};

/* Build the prompt.  The same inputs give the same bytes.  Errors name
 * the file (a bad {{payload}} reference in the instructions, an
 * unreadable AGENTS.md).  Clear *out with flue_prompt_clear. */
int flue_prompt_build(const struct flue_prompt_input *in,
                      struct flue_prompt *out, struct flue_error *err);
void flue_prompt_clear(struct flue_prompt *prompt);

#endif
