/* Agent and role files.  Loading checks every frontmatter key and every
 * value that holds no template reference; resolving substitutes the
 * payload and environment and checks again, so a bad value is reported
 * with its file, line and column either way. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "jsonschema.h"
#include "error.h"
#include "fields.h"
#include "frontmatter.h"
#include "suggest.h"
#include "template.h"
#include "yaml.h"

static const char *const agent_keys[] = {
	"description", "model", "sandbox", "cwd", "role", "thinking", "tools",
	"skills", "max_turns", "result", "env", "compaction", NULL
};
static const char *const role_keys[] = {
	"description", "model", "thinking", NULL
};
static const char *const compaction_keys[] = {
	"enabled", "reserve_tokens", "keep_recent_tokens", "context_window",
	NULL
};

void
flue_strv_free(char **strv)
{
	if (strv == NULL)
		return;
	for (size_t i = 0; strv[i] != NULL; i++)
		free(strv[i]);
	free(strv);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The valid names of the .md files in dir, sorted.  A missing dir gives
 * an empty list. */
static int
list_md_names(const char *dir, char ***out, struct flue_error *err)
{
	size_t n = 0, cap = 8;
	char **names = calloc(cap + 1, sizeof(char *));
	struct dirent *entry;
	DIR *d;

	*out = NULL;
	if (names == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	d = opendir(dir);
	if (d == NULL && errno != ENOENT && errno != ENOTDIR) {
		int saved = errno;

		free(names);
		return flue_error_set(err, flue_status_from_errno(saved),
		                      "cannot list %s: %s", dir, strerror(saved));
	}
	while (d != NULL && (entry = readdir(d)) != NULL) {
		size_t len = strlen(entry->d_name);
		char *name;

		if (len < 4 || strcmp(entry->d_name + len - 3, ".md") != 0)
			continue;
		name = strndup(entry->d_name, len - 3);
		if (name == NULL || !flue_agent_name_valid(name)) {
			free(name);
			if (name == NULL)
				goto nomem;
			continue;
		}
		if (n == cap) {
			char **grown = realloc(names, (cap * 2 + 1) * sizeof(char *));

			if (grown == NULL) {
				free(name);
				goto nomem;
			}
			names = grown;
			cap *= 2;
		}
		names[n++] = name;
		names[n] = NULL;
	}
	if (d != NULL)
		closedir(d);
	qsort(names, n, sizeof(char *), compare_names);
	*out = names;
	return 0;
nomem:
	closedir(d);
	flue_strv_free(names);
	return flue_error_set(err, FLUE_ENOMEM, "out of memory");
}

int
flue_agent_list(const char *source_dir, char ***out, struct flue_error *err)
{
	char *dir;
	int rc;

	if (asprintf(&dir, "%s/agents", source_dir) < 0)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	rc = list_md_names(dir, out, err);
	free(dir);
	return rc;
}

/* "a, b, c" (at most 20 names) into buf, or none_text when empty. */
static void
join_names(char *buf, size_t size, char **names, const char *none_text)
{
	size_t used = 0;

	buf[0] = '\0';
	if (names == NULL || names[0] == NULL) {
		snprintf(buf, size, "%s", none_text);
		return;
	}
	for (size_t i = 0; names[i] != NULL; i++) {
		int n = i == 20 ? snprintf(buf + used, size - used, ", ...") :
		        snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
		                 names[i]);

		if (n < 0 || (size_t)n >= size - used || i == 20)
			break;
		used += (size_t)n;
	}
}

/* Read <source>/<folder>/<name>.md and split off its frontmatter.  what
 * is "agent" or "role" for messages. */
static int
md_file_load(const char *source_dir, const char *folder, const char *what,
             const char *name, struct flue_md_file *out,
             struct flue_error *err)
{
	struct flue_frontmatter parts;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!flue_agent_name_valid(name))
		return flue_error_set(err, FLUE_EINVAL,
		                      "'%s' is not a valid %s name: use "
		                      "lower-kebab-case (a-z, 0-9 and single "
		                      "hyphens, at most 64 characters), the file "
		                      "name without .md", name, what);
	if (asprintf(&out->path, "%s/%s/%s.md", source_dir, folder, name) < 0) {
		out->path = NULL;
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	out->name = strdup(name);
	if (out->name == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (access(out->path, F_OK) != 0) {
		char *dir, **names = NULL, list[1024];
		const char *close = NULL;

		if (asprintf(&dir, "%s/%s", source_dir, folder) < 0)
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
		rc = list_md_names(dir, &names, err);
		if (rc != 0) {
			free(dir);
			return rc;
		}
		join_names(list, sizeof(list), names, "none");
		if (names != NULL)
			close = flue_suggest(name, (const char *const *)names, 0);
		rc = flue_error_set(err, FLUE_ENOENT,
		                    "no %s '%s': %s does not exist (%ss in %s: "
		                    "%s)%s%s%s", what, name, out->path, what, dir,
		                    list, close ? "; did you mean '" : "",
		                    close ? close : "", close ? "'?" : "");
		flue_strv_free(names);
		free(dir);
		return rc;
	}
	rc = flue_read_text_file(out->path, FLUE_AGENT_MAX_BYTES, &out->text,
	                         &len, err);
	if (rc != 0)
		return rc;
	rc = flue_frontmatter_parse(out->text, len, out->path, &out->meta,
	                            &parts, err);
	if (rc != 0)
		return rc;
	out->body = parts.body;
	out->body_len = parts.body_len;
	out->body_line = parts.body_line;
	return 0;
}

static void
md_file_clear(struct flue_md_file *file)
{
	free(file->name);
	free(file->path);
	free(file->text);
	json_object_put(file->meta);
	memset(file, 0, sizeof(*file));
}

/* tools: or skills: -- a list of names, or false / [] for none. */
static int
read_name_list(struct flue_fields *f, json_object *meta, const char *key,
               json_object **out, int *none)
{
	json_object *value;

	if (!json_object_object_get_ex(meta, key, &value))
		return 0;
	if (json_object_is_type(value, json_type_boolean) &&
	    !json_object_get_boolean(value)) {
		*none = 1;
		return 0;
	}
	if (json_object_is_type(value, json_type_array) &&
	    json_object_array_length(value) == 0) {
		*none = 1;
		return 0;
	}
	if (!json_object_is_type(value, json_type_array) &&
	    !flue_fields_deferred(f, value))
		return flue_fields_fail(f, value, meta, key,
		                        "expected a list of names, or false for "
		                        "none, found %s", flue_fields_kind(value));
	return flue_fields_get_string_list(f, meta, "", key, out);
}

static int
read_compaction(struct flue_fields *f, json_object *meta,
                struct flue_agent_settings *s)
{
	json_object *value;
	int64_t n;
	int b;

	if (!json_object_object_get_ex(meta, "compaction", &value) ||
	    flue_fields_deferred(f, value))
		return 0;
	if (json_object_is_type(value, json_type_boolean)) {
		s->compaction_off = !json_object_get_boolean(value);
		return 0;
	}
	if (!json_object_is_type(value, json_type_object))
		return flue_fields_fail(f, value, meta, "compaction",
		                        "expected true, false or a mapping with "
		                        "enabled, reserve_tokens, "
		                        "keep_recent_tokens, context_window; "
		                        "found %s",
		                        flue_fields_kind(value));
	if (flue_fields_keys(f, value, "compaction", "compaction settings",
	                     compaction_keys) != 0 ||
	    flue_fields_get_bool(f, value, "compaction", "enabled", &b,
	                         NULL) != 0 ||
	    flue_fields_get_int(f, value, "compaction", "reserve_tokens", 0,
	                        10000000, &n, NULL) != 0 ||
	    flue_fields_get_int(f, value, "compaction", "keep_recent_tokens", 0,
	                        10000000, &n, NULL) != 0 ||
	    flue_fields_get_int(f, value, "compaction", "context_window", 1,
	                        100000000, &n, NULL) != 0)
		return FLUE_EINVAL;
	s->compaction = value;
	if (json_object_object_get_ex(value, "enabled", NULL) &&
	    !json_object_get_boolean(json_object_object_get(value, "enabled")))
		s->compaction_off = 1;
	return 0;
}

/* A result schema is compiled strictly now, so a keyword the validator
 * does not know (a typo such as minLenght) fails the load by name
 * instead of being ignored at run time. */
static int
check_result_schema(struct flue_fields *f, json_object *meta,
                    json_object *result)
{
	struct flue_schema_options so = {0};
	struct flue_schema *schema = NULL;
	struct flue_error e = {0};

	so.strict = 1;
	if (flue_schema_compile(result, &so, &schema, &e) == 0) {
		flue_schema_free(schema);
		return 0;
	}
	return flue_fields_fail(f, result, meta, "result", "%s", e.message);
}

/* Check every setting in meta and fill s (strings borrowed from meta). */
static int
read_settings(struct flue_fields *f, json_object *meta,
              struct flue_agent_settings *s)
{
	json_object *result;

	if (flue_fields_keys(f, meta, "", "agent settings", agent_keys) != 0 ||
	    flue_fields_get_string(f, meta, "", "description",
	                           &s->description) != 0 ||
	    flue_fields_get_string(f, meta, "", "model", &s->model) != 0 ||
	    flue_sandbox_choice_read(f, meta, "", "sandbox", &s->sandbox) != 0 ||
	    flue_fields_get_string(f, meta, "", "cwd", &s->cwd) != 0 ||
	    flue_fields_get_string(f, meta, "", "role", &s->role) != 0 ||
	    flue_fields_get_enum(f, meta, "", "thinking", flue_thinking_levels,
	                         &s->thinking) != 0 ||
	    read_name_list(f, meta, "tools", &s->tools, &s->no_tools) != 0 ||
	    read_name_list(f, meta, "skills", &s->skills, &s->no_skills) != 0 ||
	    flue_fields_get_int(f, meta, "", "max_turns", 1, 10000,
	                        &s->max_turns, NULL) != 0 ||
	    flue_fields_get_scalar_map(f, meta, "", "env", &s->env) != 0 ||
	    read_compaction(f, meta, s) != 0)
		return FLUE_EINVAL;
	if (s->model != NULL && !flue_fields_is_model(s->model))
		return flue_fields_fail(f, json_object_object_get(meta, "model"),
		                        meta, "model", "'%s' is not provider/model "
		                        "(for example anthropic/claude-sonnet-4.6)",
		                        s->model);
	if (s->role != NULL && !flue_agent_name_valid(s->role))
		return flue_fields_fail(f, json_object_object_get(meta, "role"),
		                        meta, "role", "'%s' is not a role name "
		                        "(lower-kebab-case, as the file name in "
		                        "roles/)", s->role);
	if (s->env != NULL) {
		json_object_object_foreach(s->env, name, value) {
			char where[300];

			snprintf(where, sizeof(where), "env.%s", name);
			if (!flue_fields_is_env_name(name))
				return flue_fields_fail(f, value, s->env, where,
				                        "'%s' is not an environment "
				                        "variable name (letters, digits "
				                        "and _)", name);
		}
	}
	if (json_object_object_get_ex(meta, "result", &result) &&
	    !flue_fields_deferred(f, result)) {
		if (!json_object_is_type(result, json_type_object))
			return flue_fields_fail(f, result, meta, "result",
			                        "expected a JSON Schema (a mapping "
			                        "such as {type: object, properties: "
			                        "...}), found %s",
			                        flue_fields_kind(result));
		s->result = result;
		if (check_result_schema(f, meta, result) != 0)
			return FLUE_EINVAL;
	}
	s->meta = meta;
	return 0;
}

int
flue_agent_load(const char *source_dir, const char *name,
                struct flue_agent_def *out, struct flue_error *err)
{
	struct flue_fields f = {NULL, err, 1};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = md_file_load(source_dir, "agents", "agent", name, &out->file, err);
	if (rc != 0) {
		flue_agent_clear(out);
		return rc;
	}
	f.filename = out->file.path;
	rc = read_settings(&f, out->file.meta, &out->settings);
	if (rc != 0)
		flue_agent_clear(out);   /* nothing to free on failure */
	return rc;
}

void
flue_agent_clear(struct flue_agent_def *agent)
{
	if (agent == NULL)
		return;
	md_file_clear(&agent->file);
	memset(agent, 0, sizeof(*agent));
}

int
flue_agent_resolve(const struct flue_agent_def *agent, json_object *payload,
                   struct flue_agent_settings *out, struct flue_error *err)
{
	struct flue_template_context ctx = {0};
	struct flue_fields f = {agent->file.path, err, 0};
	json_object *meta = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = flue_yaml_copy(agent->file.meta, &meta, err);
	if (rc != 0)
		return rc;
	ctx.payload = payload;
	ctx.flags = FLUE_TEMPLATE_PAYLOAD | FLUE_TEMPLATE_ENV;
	ctx.filename = agent->file.path;
	rc = flue_template_expand_tree(&ctx, &meta, err);
	if (rc == 0)
		rc = read_settings(&f, meta, out);
	out->meta = meta;
	if (rc != 0)
		flue_agent_settings_clear(out);
	return rc;
}

void
flue_agent_settings_clear(struct flue_agent_settings *settings)
{
	if (settings == NULL)
		return;
	json_object_put(settings->meta);
	memset(settings, 0, sizeof(*settings));
}

int
flue_role_load(const char *source_dir, const char *name,
               struct flue_role *out, struct flue_error *err)
{
	struct flue_fields f = {NULL, err, 0};
	json_object *meta;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = md_file_load(source_dir, "roles", "role", name, &out->file, err);
	if (rc != 0)
		return rc;
	meta = out->file.meta;
	f.filename = out->file.path;
	if (flue_fields_keys(&f, meta, "", "role settings", role_keys) != 0 ||
	    flue_fields_get_string(&f, meta, "", "description",
	                           &out->description) != 0 ||
	    flue_fields_get_string(&f, meta, "", "model", &out->model) != 0 ||
	    flue_fields_get_enum(&f, meta, "", "thinking", flue_thinking_levels,
	                         &out->thinking) != 0)
		return FLUE_EINVAL;
	if (out->model != NULL && !flue_fields_is_model(out->model))
		return flue_fields_fail(&f, json_object_object_get(meta, "model"),
		                        meta, "model", "'%s' is not provider/model "
		                        "(for example anthropic/claude-sonnet-4.6)",
		                        out->model);
	return 0;
}

void
flue_role_clear(struct flue_role *role)
{
	if (role == NULL)
		return;
	md_file_clear(&role->file);
	memset(role, 0, sizeof(*role));
}

const char *
flue_call_role(const char *call_role, const char *session_role,
               const struct flue_agent_settings *agent,
               const struct flue_config *config)
{
	if (call_role != NULL)
		return call_role;
	if (session_role != NULL)
		return session_role;
	if (agent != NULL && agent->role != NULL)
		return agent->role;
	return config != NULL ? config->defaults.role : NULL;
}

void
flue_call_choose(struct flue_call_choice *out, const char *call_model,
                 const char *call_thinking,
                 const struct flue_agent_settings *agent,
                 const struct flue_role *role,
                 const struct flue_config *config)
{
	out->model = call_model;
	if (out->model == NULL && role != NULL)
		out->model = role->model;
	if (out->model == NULL && agent != NULL)
		out->model = agent->model;
	if (out->model == NULL && config != NULL)
		out->model = config->defaults.model;
	out->thinking = call_thinking;
	if (out->thinking == NULL && role != NULL)
		out->thinking = role->thinking;
	if (out->thinking == NULL && agent != NULL)
		out->thinking = agent->thinking;
	if (out->thinking == NULL && config != NULL)
		out->thinking = config->defaults.thinking;
	if (out->thinking == NULL)
		out->thinking = "medium";
}
