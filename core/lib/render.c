/* flue_render: everything a run does before its first model request --
 * load and resolve the agent, pick the role, model and thinking level,
 * open the sandbox, discover context and skills, build the prompt and
 * the tool list -- without the request. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "common.h"
#include "fields.h"
#include "harness.h"
#include "prepare.h"
#include "prompt.h"
#include "skills.h"
#include "suggest.h"
#include "tools.h"

FLUE_API const char *
flue_harness_project_root(const flue_harness *harness)
{
	return harness->project.root;
}

FLUE_API const char *
flue_harness_source_dir(const flue_harness *harness)
{
	return harness->project.source;
}

/* The folder of the skills installed with flue (FLUE_DATA_DIR in the
 * environment overrides the configured one, for uninstalled builds). */
static char *
builtin_skills_dir(void)
{
	const char *data = getenv("FLUE_DATA_DIR");
	char *dir;

	if (asprintf(&dir, "%s/skills", data && *data ? data : FLUE_DATA_DIR) < 0)
		return NULL;
	return dir;
}

/* The skills the agent gets: those named in skills: (each must exist),
 * none for skills: false, otherwise every skill but the installed ones
 * (those are opt-in by name).  *out borrows from all. */
static int
select_skills(const struct flue_agent_settings *s, const char *filename,
              struct flue_skill_set *all, struct flue_skill_set *out,
              struct flue_error *err)
{
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (s->no_skills)
		return 0;
	out->items = calloc(all->count + 1, sizeof(*out->items));
	if (out->items == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (s->skills == NULL) {
		for (size_t i = 0; i < all->count; i++)
			if (all->items[i].origin != FLUE_SKILL_BUILTIN)
				out->items[n++] = all->items[i];
		out->count = n;
		return 0;
	}
	for (size_t i = 0; i < json_object_array_length(s->skills); i++) {
		json_object *entry = json_object_array_get_idx(s->skills, i);
		const char *name = json_object_get_string(entry);
		const struct flue_skill *found = flue_skill_set_find(all, name);

		if (found == NULL) {
			struct flue_fields f = {filename, err, 0};
			char list[512] = "", where[32];
			size_t used = 0;

			for (size_t j = 0; j < all->count; j++) {
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
				                 j ? ", " : "", all->items[j].name);

				if (w < 0 || (size_t)w >= sizeof(list) - used)
					break;
				used += (size_t)w;
			}
			snprintf(where, sizeof(where), "skills[%zu]", i);
			free(out->items);
			memset(out, 0, sizeof(*out));
			return flue_fields_fail(&f, entry, s->skills, where,
			                        "no skill '%s' (available: %s)", name,
			                        all->count ? list : "none");
		}
		if (flue_skill_set_find(out, name) == NULL) {
			out->items[n++] = *found;
			out->count = n;
		}
	}
	return 0;
}

/* activate_skill exists only when the agent has skills; its name
 * parameter is the list of their names, so a wrong name is caught by
 * validation like any other argument. */
static int
complete_activate_skill(json_object *tools, const struct flue_skill_set *set,
                        struct flue_error *err)
{
	for (size_t i = 0; i < json_object_array_length(tools); i++) {
		json_object *decl = json_object_array_get_idx(tools, i), *name;
		json_object *names;

		if (!json_object_object_get_ex(decl, "name", &name) ||
		    strcmp(json_object_get_string(name), "activate_skill") != 0)
			continue;
		if (set->count == 0)
			return json_object_array_del_idx(tools, i, 1) == 0 ? 0 :
			       flue_error_set(err, FLUE_ENOMEM, "out of memory");
		names = json_object_new_array();
		for (size_t j = 0; names != NULL && j < set->count; j++)
			json_object_array_add(names, json_object_new_string(
			                      set->items[j].name));
		if (names == NULL)
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
		json_object_object_add(json_object_object_get(json_object_object_get(
		        json_object_object_get(decl, "parameters"), "properties"),
		        "name"), "enum", names);
		return 0;
	}
	return 0;
}

/* The sandbox options as JSON: the mapping without its plugin key; for
 * the local plugin, cwd defaults to the project root. */
static char *
sandbox_options(const struct flue_sandbox_choice *choice, const char *plugin,
                const char *project_root)
{
	json_object *opts = json_object_new_object();
	char *text;

	if (opts == NULL)
		return NULL;
	if (choice->options != NULL) {
		json_object_object_foreach(choice->options, key, value) {
			if (strcmp(key, "plugin") != 0)
				json_object_object_add(opts, key, json_object_get(value));
		}
	}
	if (strcmp(plugin, "local") == 0 &&
	    !json_object_object_get_ex(opts, "cwd", NULL))
		json_object_object_add(opts, "cwd",
		                       json_object_new_string(project_root));
	text = strdup(json_object_to_json_string_ext(opts,
	              JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(opts);
	return text;
}

static char *
resolve_cwd(const char *base, const char *cwd)
{
	char *out;

	if (cwd == NULL || *cwd == '\0')
		return strdup(base);
	if (cwd[0] == '/')
		return strdup(cwd);
	if (asprintf(&out, "%s%s%s", base,
	             base[strlen(base) - 1] == '/' ? "" : "/", cwd) < 0)
		return NULL;
	return out;
}

static int
tool_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-')
			return 0;
	return 1;
}

/* One tool plugin's declarations, checked and added to p->plugin_tools. */
static int
add_plugin_tools(struct flue_prepared *p, struct flue_loaded_plugin *plugin,
                 struct flue_error *err)
{
	const char *text = plugin->desc->tool->declarations(plugin->instance);
	json_object *decls = text ? json_tokener_parse(text) : NULL;
	int rc = 0;

	if (decls == NULL || !json_object_is_type(decls, json_type_array)) {
		json_object_put(decls);
		return flue_error_set(err, FLUE_EINVAL, "tool plugin '%s': its "
		                      "declarations are not a JSON array",
		                      plugin->name);
	}
	for (size_t i = 0; i < json_object_array_length(decls) && rc == 0; i++) {
		json_object *d = json_object_array_get_idx(decls, i), *n, *ds, *pa;
		struct flue_loaded_plugin **grown;
		const char *name;
		size_t count;

		if (!json_object_object_get_ex(d, "name", &n) ||
		    !json_object_is_type(n, json_type_string) ||
		    !json_object_object_get_ex(d, "description", &ds) ||
		    !json_object_is_type(ds, json_type_string) ||
		    !json_object_object_get_ex(d, "parameters", &pa) ||
		    !json_object_is_type(pa, json_type_object)) {
			rc = flue_error_set(err, FLUE_EINVAL, "tool plugin '%s': "
			        "declaration %zu needs a name, a description and "
			        "parameters (a JSON Schema object)", plugin->name, i);
			break;
		}
		name = json_object_get_string(n);
		if (!tool_name_valid(name))
			rc = flue_error_set(err, FLUE_EINVAL, "tool plugin '%s': tool "
			        "name '%s' must be 1-64 letters, digits, '_' or '-'",
			        plugin->name, name);
		else if (flue_core_tool_find(name) != NULL)
			rc = flue_error_set(err, FLUE_EINVAL, "tool plugin '%s': '%s' "
			        "is the name of a core tool", plugin->name, name);
		for (size_t j = 0; rc == 0 && p->plugin_tools != NULL &&
		     j < json_object_array_length(p->plugin_tools); j++)
			if (strcmp(json_object_get_string(json_object_object_get(
			           json_object_array_get_idx(p->plugin_tools, j),
			           "name")), name) == 0)
				rc = flue_error_set(err, FLUE_EINVAL, "tool plugin '%s': "
				        "tool '%s' is also declared by plugin '%s'",
				        plugin->name, name, p->plugin_tool_owners[j]->name);
		if (rc != 0)
			break;
		if (p->plugin_tools == NULL &&
		    (p->plugin_tools = json_object_new_array()) == NULL)
			rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		count = p->plugin_tools ?
		        json_object_array_length(p->plugin_tools) : 0;
		grown = rc ? NULL : realloc(p->plugin_tool_owners,
		                            (count + 1) * sizeof(*grown));
		if (grown == NULL) {
			rc = rc ? rc : flue_error_set(err, FLUE_ENOMEM, "out of memory");
			break;
		}
		p->plugin_tool_owners = grown;
		grown[count] = plugin;
		json_object_array_add(p->plugin_tools, json_object_get(d));
	}
	json_object_put(decls);
	return rc;
}

static int
collect_plugin_tools(flue_harness *harness, struct flue_prepared *p,
                     struct flue_error *err)
{
	for (size_t i = 0; i < flue_loader_count(harness->loader); i++) {
		struct flue_loaded_plugin *plugin =
		        flue_loader_get(harness->loader, i);
		int rc;

		if (plugin->desc->kind != FLUE_PLUGIN_TOOL)
			continue;
		rc = add_plugin_tools(p, plugin, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
parse_payload(const char *text, json_object **out, struct flue_error *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *value;
	size_t len;

	*out = NULL;
	if (text == NULL)
		return 0;
	len = strlen(text);
	tok = json_tokener_new();
	if (tok == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	value = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (value != NULL && jerr == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < len) {
		size_t end = json_tokener_get_parse_end(tok);

		while (end < len && strchr(" \t\r\n", text[end]) != NULL)
			end++;
		if (end < len) {
			json_object_put(value);
			json_tokener_free(tok);
			return flue_error_set(err, FLUE_EINVAL, "payload: unexpected "
			                      "text after the JSON value at byte %zu",
			                      end + 1);
		}
	}
	if (value == NULL || jerr != json_tokener_success) {
		size_t at = json_tokener_get_parse_end(tok);

		json_object_put(value);
		json_tokener_free(tok);
		return flue_error_set(err, FLUE_EINVAL, "payload: not valid JSON "
		                      "(%s at byte %zu)",
		                      jerr == json_tokener_continue ?
		                      "unexpected end" :
		                      json_tokener_error_desc(jerr), at + 1);
	}
	json_tokener_free(tok);
	*out = value;
	return 0;
}

static int
dup_into(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst == NULL ? FLUE_ENOMEM : 0;
}

static int
build_request(struct flue_rendered *out, json_object *tools,
              struct flue_error *err)
{
	json_object *req = json_object_new_object();
	int rc = 0;

	if (req == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	json_object_object_add(req, "model", out->model ?
	                       json_object_new_string(out->model) : NULL);
	json_object_object_add(req, "thinking",
	                       json_object_new_string(out->thinking));
	json_object_object_add(req, "system",
	                       json_object_new_string_len(out->system_prompt,
	                       (int)out->system_prompt_len));
	json_object_object_add(req, "tools", json_object_get(tools));
	json_object_object_add(req, "messages", json_object_new_array());
	out->request_json = strdup(json_object_to_json_string_ext(req,
	                           JSON_C_TO_STRING_PLAIN |
	                           JSON_C_TO_STRING_NOSLASHESCAPE));
	out->tools_json = strdup(json_object_to_json_string_ext(tools,
	                         JSON_C_TO_STRING_PLAIN |
	                         JSON_C_TO_STRING_NOSLASHESCAPE));
	if (out->request_json == NULL || out->tools_json == NULL)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	json_object_put(req);
	return rc;
}

int
flue_prepare(flue_harness *harness, const struct flue_prepare_options *opts,
             struct flue_prepared *out, struct flue_error *err)
{
	struct flue_project *project = &harness->project;
	struct flue_sandbox_choice sandbox;
	struct flue_skill_set all = {0}, chosen = {0};
	struct flue_skill_sources sources = {0};
	struct flue_prompt_input input = {0};
	char *ws_options = NULL, *project_skills = NULL, *builtin = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (opts->agent == NULL)
		return flue_error_set(err, FLUE_EINVAL, "no agent named");
	rc = parse_payload(opts->payload_json, &out->payload, err);
	if (rc == 0)
		rc = flue_agent_load(project->source, opts->agent, &out->agent,
		                     err);
	if (rc == 0)
		rc = flue_agent_resolve(&out->agent, out->payload, &out->settings,
		                        err);
	if (rc != 0)
		goto done;
	out->role_name = flue_call_role(opts->role, NULL, &out->settings,
	                                &project->config);
	if (out->role_name != NULL) {
		rc = flue_role_load(project->source, out->role_name, &out->role,
		                    err);
		if (rc != 0)
			goto done;
		out->have_role = 1;
	}
	flue_call_choose(&out->choice, opts->model, opts->thinking,
	                 &out->settings,
	                 out->have_role ? &out->role : NULL, &project->config);
	sandbox = out->settings.sandbox;
	if (sandbox.plugin == NULL)
		sandbox = project->config.defaults.sandbox;
	if (sandbox.plugin == NULL)
		sandbox.plugin = "local";
	out->sandbox = sandbox.plugin;
	ws_options = sandbox_options(&sandbox, sandbox.plugin, project->root);
	if (ws_options == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	if (opts->workspace != NULL) {
		out->workspace = opts->workspace;
		rc = 0;
	} else {
		rc = flue_workspace_open(&out->workspace, harness, sandbox.plugin,
		                         opts->session_id, ws_options, err);
		out->own_workspace = rc == 0;
	}
	if (rc != 0) {
		flue_error_prefix(err, "%s: sandbox '%s'", out->agent.file.path,
		                  sandbox.plugin);
		goto done;
	}
	out->cwd = resolve_cwd(flue_workspace_dir(out->workspace),
	                       opts->cwd ? opts->cwd : out->settings.cwd);
	if (asprintf(&project_skills, "%s/skills", project->source) < 0)
		project_skills = NULL;
	builtin = builtin_skills_dir();
	if (out->cwd == NULL || project_skills == NULL || builtin == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	sources.workspace = out->workspace;
	sources.cwd = out->cwd;
	sources.project_dir = project_skills;
	sources.builtin_dir = builtin;
	sources.warn = opts->warn;
	sources.warn_arg = opts->warn_payload;
	rc = flue_skills_discover(&sources, &all, err);
	if (rc == 0)
		rc = select_skills(&out->settings, out->agent.file.path, &all,
		                   &chosen, err);
	if (rc != 0)
		goto done;
	input.agent = &out->agent.file;
	input.payload = out->payload;
	input.workspace = out->workspace;
	input.cwd = out->cwd;
	input.skills = &chosen;
	input.role = out->have_role ? &out->role : NULL;
	input.now = opts->now ? (time_t)opts->now : time(NULL);
	rc = flue_prompt_build(&input, &out->prompt, err);
	if (rc == 0) {
		json_object *names = out->settings.tools;

		if (out->settings.no_tools)
			names = json_object_new_array();
		else if (names != NULL)
			json_object_get(names);
		rc = collect_plugin_tools(harness, out, err);
		if (rc == 0)
			rc = flue_tools_select(names, out->plugin_tools,
			                       out->agent.file.path, &out->tools, err);
		json_object_put(names);
	}
	if (rc == 0)
		rc = complete_activate_skill(out->tools, &chosen, err);
	out->skills = chosen.count;
	out->skill_pool = all;
	out->skill_set = chosen;
	memset(&all, 0, sizeof(all));
	memset(&chosen, 0, sizeof(chosen));
done:
	if (rc != 0)
		flue_prepared_clear(out);
	free(chosen.items);
	flue_skill_set_clear(&all);
	free(builtin);
	free(project_skills);
	free(ws_options);
	return rc;
}

void
flue_prepared_clear(struct flue_prepared *p)
{
	free(p->skill_set.items);
	flue_skill_set_clear(&p->skill_pool);
	if (p->workspace != NULL && p->own_workspace) {
		struct flue_error ignored = {0};

		flue_workspace_close(p->workspace, &ignored);
	}
	json_object_put(p->tools);
	json_object_put(p->plugin_tools);
	free(p->plugin_tool_owners);
	flue_prompt_clear(&p->prompt);
	free(p->cwd);
	flue_role_clear(&p->role);
	flue_agent_settings_clear(&p->settings);
	flue_agent_clear(&p->agent);
	json_object_put(p->payload);
	memset(p, 0, sizeof(*p));
}

FLUE_API int
flue_render(flue_harness *harness, const struct flue_render_options *options,
            struct flue_rendered *out, struct flue_error *err)
{
	struct flue_render_options opts = {0};
	struct flue_prepare_options popts = {0};
	struct flue_prepared p;
	int rc;

	memset(out, 0, sizeof(*out));
	if (options != NULL)
		memcpy(&opts, options, options->size < sizeof(opts) ?
		       options->size : sizeof(opts));
	popts.agent = opts.agent;
	popts.role = opts.role;
	popts.payload_json = opts.payload_json;
	popts.cwd = opts.cwd;
	popts.now = opts.now;
	popts.warn = opts.warn;
	popts.warn_payload = opts.warn_payload;
	rc = flue_prepare(harness, &popts, &p, err);
	if (rc != 0)
		return rc;
	out->system_prompt = p.prompt.system;
	out->system_prompt_len = p.prompt.system_len;
	p.prompt.system = NULL;
	out->fixed_bytes = p.prompt.fixed_bytes;
	out->skills = p.skills;
	out->context_files = p.prompt.context_files;
	if (dup_into(&out->model, p.choice.model) != 0 ||
	    dup_into(&out->thinking, p.choice.thinking) != 0 ||
	    dup_into(&out->role, p.role_name) != 0 ||
	    dup_into(&out->sandbox, p.sandbox) != 0 ||
	    dup_into(&out->cwd, p.cwd) != 0)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (rc == 0)
		rc = build_request(out, p.tools, err);
	if (rc != 0)
		flue_rendered_free(out);
	flue_prepared_clear(&p);
	return rc;
}

FLUE_API void
flue_rendered_free(struct flue_rendered *rendered)
{
	if (rendered == NULL)
		return;
	free(rendered->system_prompt);
	free(rendered->tools_json);
	free(rendered->request_json);
	free(rendered->model);
	free(rendered->thinking);
	free(rendered->role);
	free(rendered->sandbox);
	free(rendered->cwd);
	memset(rendered, 0, sizeof(*rendered));
}
