/* The model-facing tools the core provides on top of every sandbox:
 * their declarations (name, description, JSON Schema of the arguments),
 * and which of them an agent gets. */
#ifndef FLUE_LIB_TOOLS_H
#define FLUE_LIB_TOOLS_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

struct flue_tool_decl {
	const char *name;
	const char *description;
	const char *parameters;   /* JSON Schema, as JSON text */
};

/* The core tools in the order the model sees them. [static] */
const struct flue_tool_decl *flue_core_tools(size_t *count);
const struct flue_tool_decl *flue_core_tool_find(const char *name);

/* The declarations an agent gets, as a JSON array of {name, description,
 * parameters} (*out [caller-owned]).  names is the agent's tools: list
 * (NULL: every core tool and every extra one; an empty list: none);
 * extra ([borrowed], may be NULL) holds the declarations of tool plugins.
 * An unknown name fails at its position in filename: "agents/x.md:3:10:
 * tools[1]: unknown tool 'bsh' (did you mean 'bash'?); the tools are
 * read, write, ...". */
int flue_tools_select(json_object *names, json_object *extra,
                      const char *filename, json_object **out,
                      struct flue_error *err);

#endif
