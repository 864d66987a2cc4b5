/* Declarations of the core tools.  Descriptions are short on purpose:
 * they are sent with every request, so every byte costs tokens on every
 * turn. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fields.h"
#include "suggest.h"
#include "tools.h"
#include "yaml.h"

static const struct flue_tool_decl core_tools[] = {
	{"read",
	 "Read a text file (numbered lines; long files in pages: pass offset "
	 "to continue). A directory is listed.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\",\"description\":\"file or directory\"},"
	 "\"offset\":{\"type\":\"integer\",\"minimum\":1,"
	 "\"description\":\"first line (1-based)\"},"
	 "\"limit\":{\"type\":\"integer\",\"minimum\":1,"
	 "\"description\":\"most lines to return\"}},"
	 "\"required\":[\"path\"],\"additionalProperties\":false}"},
	{"write",
	 "Create or overwrite a file with content; missing parent "
	 "directories are created.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\"},"
	 "\"content\":{\"type\":\"string\"}},"
	 "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}"},
	{"edit",
	 "Replace exact text in a file. old_string must match exactly once "
	 "unless replace_all is true.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"path\":{\"type\":\"string\"},"
	 "\"old_string\":{\"type\":\"string\",\"minLength\":1},"
	 "\"new_string\":{\"type\":\"string\"},"
	 "\"replace_all\":{\"type\":\"boolean\"}},"
	 "\"required\":[\"path\",\"old_string\",\"new_string\"],"
	 "\"additionalProperties\":false}"},
	{"bash",
	 "Run a bash command in the working directory. Returns combined "
	 "output (the tail when long) and the exit code; 124 means it timed "
	 "out.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"command\":{\"type\":\"string\",\"minLength\":1},"
	 "\"timeout\":{\"type\":\"integer\",\"minimum\":1,"
	 "\"description\":\"seconds (default 120, max 600)\"}},"
	 "\"required\":[\"command\"],\"additionalProperties\":false}"},
	{"grep",
	 "Search file contents with a regular expression (or a literal "
	 "string). Returns path:line:text for each match.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"pattern\":{\"type\":\"string\",\"minLength\":1},"
	 "\"path\":{\"type\":\"string\",\"description\":\"file or directory "
	 "(default: working directory)\"},"
	 "\"include\":{\"type\":\"string\",\"description\":\"only files "
	 "matching this glob, e.g. *.c\"},"
	 "\"literal\":{\"type\":\"boolean\"},"
	 "\"ignore_case\":{\"type\":\"boolean\"}},"
	 "\"required\":[\"pattern\"],\"additionalProperties\":false}"},
	{"glob",
	 "List files matching a glob pattern such as src/**/*.c (a pattern "
	 "without / matches file names at any depth).",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"pattern\":{\"type\":\"string\",\"minLength\":1},"
	 "\"path\":{\"type\":\"string\",\"description\":\"directory to search "
	 "(default: working directory)\"}},"
	 "\"required\":[\"pattern\"],\"additionalProperties\":false}"},
	{"task",
	 "Give a focused task to a sub-agent (own context, same files); only "
	 "its final answer returns. Several can run at once.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"prompt\":{\"type\":\"string\",\"minLength\":1},"
	 "\"description\":{\"type\":\"string\"},"
	 "\"role\":{\"type\":\"string\"},"
	 "\"cwd\":{\"type\":\"string\"}},"
	 "\"required\":[\"prompt\"],\"additionalProperties\":false}"},
	/* The parameters are completed per run with the skills' names. */
	{"activate_skill",
	 "Load a listed skill's full instructions.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"name\":{\"type\":\"string\"}},"
	 "\"required\":[\"name\"],\"additionalProperties\":false}"},
};

const struct flue_tool_decl *
flue_core_tools(size_t *count)
{
	*count = FLUE_ARRAY_LEN(core_tools);
	return core_tools;
}

const struct flue_tool_decl *
flue_core_tool_find(const char *name)
{
	for (size_t i = 0; i < FLUE_ARRAY_LEN(core_tools); i++)
		if (strcmp(core_tools[i].name, name) == 0)
			return &core_tools[i];
	return NULL;
}

static int
append_decl(json_object *array, const struct flue_tool_decl *decl,
            struct flue_error *err)
{
	json_object *tool = json_object_new_object();
	json_object *params = json_tokener_parse(decl->parameters);

	if (tool == NULL || params == NULL ||
	    json_object_object_add(tool, "name",
	                           json_object_new_string(decl->name)) != 0 ||
	    json_object_object_add(tool, "description",
	                           json_object_new_string(decl->description)) ||
	    json_object_object_add(tool, "parameters", params) != 0 ||
	    json_object_array_add(array, tool) != 0) {
		json_object_put(tool);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	return 0;
}

static int
fail_listed_twice(struct flue_fields *f, json_object *entry,
                  json_object *names, const char *where, const char *name,
                  json_object *array)
{
	json_object_put(array);
	return flue_fields_fail(f, entry, names, where, "'%s' is listed twice",
	                        name);
}

static json_object *
extra_find(json_object *extra, const char *name)
{
	for (size_t i = 0; extra != NULL && i < json_object_array_length(extra);
	     i++) {
		json_object *decl = json_object_array_get_idx(extra, i), *n;

		if (json_object_object_get_ex(decl, "name", &n) &&
		    strcmp(json_object_get_string(n), name) == 0)
			return decl;
	}
	return NULL;
}

/* "read, write, ..., and the extra ones", for messages. */
static void
list_names(json_object *extra, char *buf, size_t size)
{
	size_t used = 0;
	size_t n_extra = extra ? json_object_array_length(extra) : 0;

	buf[0] = '\0';
	for (size_t i = 0; i < FLUE_ARRAY_LEN(core_tools) + n_extra; i++) {
		const char *name = i < FLUE_ARRAY_LEN(core_tools) ?
		        core_tools[i].name :
		        json_object_get_string(json_object_object_get(
		                json_object_array_get_idx(extra,
		                        i - FLUE_ARRAY_LEN(core_tools)), "name"));
		int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
		                 name);

		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
}

int
flue_tools_select(json_object *names, json_object *extra,
                  const char *filename, json_object **out,
                  struct flue_error *err)
{
	struct flue_fields f = {filename ? filename : "<agent>", err, 0};
	size_t n_extra = extra ? json_object_array_length(extra) : 0;
	const char **all = calloc(FLUE_ARRAY_LEN(core_tools) + n_extra + 1,
	                          sizeof(*all));
	json_object *array = json_object_new_array();
	int rc = 0;

	*out = NULL;
	if (array == NULL || all == NULL) {
		free(all);
		json_object_put(array);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < FLUE_ARRAY_LEN(core_tools); i++)
		all[i] = core_tools[i].name;
	for (size_t i = 0; i < n_extra; i++)
		all[FLUE_ARRAY_LEN(core_tools) + i] = json_object_get_string(
		        json_object_object_get(json_object_array_get_idx(extra, i),
		                               "name"));
	if (names == NULL) {
		for (size_t i = 0; i < FLUE_ARRAY_LEN(core_tools) && rc == 0; i++)
			rc = append_decl(array, &core_tools[i], err);
		for (size_t i = 0; i < n_extra && rc == 0; i++)
			json_object_array_add(array, json_object_get(
			        json_object_array_get_idx(extra, i)));
	} else {
		for (size_t i = 0; i < json_object_array_length(names) && rc == 0;
		     i++) {
			json_object *entry = json_object_array_get_idx(names, i);
			const char *name = json_object_get_string(entry);
			const struct flue_tool_decl *decl = flue_core_tool_find(name);
			json_object *plugin_decl = decl ? NULL :
			                           extra_find(extra, name);
			const char *close;
			char where[32], list[512];

			for (size_t j = 0; (decl != NULL || plugin_decl != NULL) &&
			     j < i; j++)
				if (strcmp(json_object_get_string(
				           json_object_array_get_idx(names, j)), name) == 0) {
					free(all);
					snprintf(where, sizeof(where), "tools[%zu]", i);
					return fail_listed_twice(&f, entry, names, where, name,
					                         array);
				}
			if (decl != NULL) {
				rc = append_decl(array, decl, err);
				continue;
			}
			if (plugin_decl != NULL) {
				json_object_array_add(array, json_object_get(plugin_decl));
				continue;
			}
			close = flue_suggest(name, all, 0);
			list_names(extra, list, sizeof(list));
			snprintf(where, sizeof(where), "tools[%zu]", i);
			rc = flue_fields_fail(&f, entry, names, where,
			                      "unknown tool '%s'%s%s%s; the tools are "
			                      "%s", name, close ? " (did you mean '" : "",
			                      close ? close : "", close ? "'?)" : "",
			                      list);
		}
	}
	free(all);
	if (rc != 0) {
		json_object_put(array);
		return rc;
	}
	*out = array;
	return 0;
}
