/* flue_render: everything a run does before its first model request --
 * load and resolve the agent, pick the role, model and thinking level,
 * open the sandbox, discover context and skills, build the prompt and
 * the tool list -- without the request. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "common.h"
#include "fields.h"
#include "harness.h"
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

FLUE_API int
flue_render(flue_harness *harness, const struct flue_render_options *options,
            struct flue_rendered *out, struct flue_error *err)
{
	struct flue_render_options opts = {0};
	struct flue_project *project = &harness->project;
	struct flue_agent agent;
	struct flue_agent_settings settings = {0};
	struct flue_role role = {0};
	struct flue_call_choice choice;
	struct flue_sandbox_choice sandbox;
	struct flue_skill_set all = {0}, chosen = {0};
	struct flue_skill_sources sources = {0};
	struct flue_prompt_input input = {0};
	struct flue_prompt prompt = {0};
	json_object *payload = NULL, *tools = NULL;
	flue_workspace *ws = NULL;
	char *ws_options = NULL, *cwd = NULL, *project_skills = NULL;
	char *builtin = NULL;
	const char *role_name;
	int rc, have_role = 0;

	memset(out, 0, sizeof(*out));
	memset(&agent, 0, sizeof(agent));
	if (options != NULL)
		memcpy(&opts, options, options->size < sizeof(opts) ?
		       options->size : sizeof(opts));
	if (opts.agent == NULL)
		return flue_error_set(err, FLUE_EINVAL, "no agent named");
	rc = parse_payload(opts.payload_json, &payload, err);
	if (rc == 0)
		rc = flue_agent_load(project->source, opts.agent, &agent, err);
	if (rc == 0)
		rc = flue_agent_resolve(&agent, payload, &settings, err);
	if (rc != 0)
		goto done;
	role_name = flue_call_role(opts.role, NULL, &settings, &project->config);
	if (role_name != NULL) {
		rc = flue_role_load(project->source, role_name, &role, err);
		if (rc != 0)
			goto done;
		have_role = 1;
	}
	flue_call_choose(&choice, NULL, NULL, &settings,
	                 have_role ? &role : NULL, &project->config);
	sandbox = settings.sandbox;
	if (sandbox.plugin == NULL)
		sandbox = project->config.defaults.sandbox;
	if (sandbox.plugin == NULL)
		sandbox.plugin = "local";
	ws_options = sandbox_options(&sandbox, sandbox.plugin, project->root);
	if (ws_options == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	rc = flue_workspace_open(&ws, harness, sandbox.plugin, NULL, ws_options,
	                         err);
	if (rc != 0) {
		flue_error_prefix(err, "%s: sandbox '%s'", agent.file.path,
		                  sandbox.plugin);
		goto done;
	}
	cwd = resolve_cwd(flue_workspace_dir(ws),
	                  opts.cwd ? opts.cwd : settings.cwd);
	if (asprintf(&project_skills, "%s/skills", project->source) < 0)
		project_skills = NULL;
	builtin = builtin_skills_dir();
	if (cwd == NULL || project_skills == NULL || builtin == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto done;
	}
	sources.workspace = ws;
	sources.cwd = cwd;
	sources.project_dir = project_skills;
	sources.builtin_dir = builtin;
	sources.warn = opts.warn;
	sources.warn_arg = opts.warn_payload;
	rc = flue_skills_discover(&sources, &all, err);
	if (rc == 0)
		rc = select_skills(&settings, agent.file.path, &all, &chosen, err);
	if (rc != 0)
		goto done;
	input.agent = &agent.file;
	input.payload = payload;
	input.workspace = ws;
	input.cwd = cwd;
	input.skills = &chosen;
	input.role = have_role ? &role : NULL;
	input.now = opts.now ? (time_t)opts.now : time(NULL);
	rc = flue_prompt_build(&input, &prompt, err);
	if (rc == 0) {
		json_object *names = settings.tools;

		if (settings.no_tools)
			names = json_object_new_array();
		else if (names != NULL)
			json_object_get(names);
		rc = flue_tools_select(names, agent.file.path, &tools, err);
		json_object_put(names);
	}
	if (rc != 0)
		goto done;
	out->system_prompt = prompt.system;
	out->system_prompt_len = prompt.system_len;
	prompt.system = NULL;
	out->fixed_bytes = prompt.fixed_bytes;
	out->skills = chosen.count;
	out->context_files = prompt.context_files;
	if (dup_into(&out->model, choice.model) != 0 ||
	    dup_into(&out->thinking, choice.thinking) != 0 ||
	    dup_into(&out->role, role_name) != 0 ||
	    dup_into(&out->sandbox, sandbox.plugin) != 0 ||
	    dup_into(&out->cwd, cwd) != 0)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (rc == 0)
		rc = build_request(out, tools, err);
done:
	if (ws != NULL) {
		struct flue_error ignored = {0};

		flue_workspace_close(ws, &ignored);
	}
	if (rc != 0)
		flue_rendered_free(out);
	json_object_put(tools);
	flue_prompt_clear(&prompt);
	free(chosen.items);
	flue_skill_set_clear(&all);
	free(builtin);
	free(project_skills);
	free(cwd);
	free(ws_options);
	flue_role_clear(&role);
	flue_agent_settings_clear(&settings);
	flue_agent_clear(&agent);
	json_object_put(payload);
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
