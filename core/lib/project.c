/* The project: its root, its source folder and flue.yaml.  flue.yaml is
 * parsed with the YAML module (positions kept) and checked key by key;
 * the config borrows every string from the parsed document it owns. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "fields.h"
#include "project.h"
#include "yaml.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

const char *const flue_thinking_levels[] = {
	"off", "minimal", "low", "medium", "high", "xhigh", NULL
};

static const char *const top_keys[] = {
	"plugins", "plugin_path", "plugin_options", "defaults", "providers",
	"server", NULL
};
static const char *const defaults_keys[] = {
	"model", "sandbox", "thinking", "role", "max_turns", "max_task_depth",
	NULL
};
static const char *const provider_keys[] = {
	"plugin", "api", "base_url", "api_key_env", "headers", "models",
	"options", NULL
};
static const char *const model_keys[] = {
	"context_window", "max_tokens", "input_price", "output_price",
	"cache_read_price", "cache_write_price", NULL
};
static const char *const price_keys[] = {
	"input_price", "output_price", "cache_read_price", "cache_write_price",
	NULL
};
static const char *const server_keys[] = {
	"port", "host", "api_token_env", "max_body_bytes",
	"max_concurrent_runs", "cors_origins", "run_retention_days", NULL
};
static const char *const provider_apis[] = {
	"openai-chat", "anthropic-messages", NULL
};

int
flue_read_text_file(const char *path, size_t limit, char **out,
                    size_t *out_len, struct flue_error *err)
{
	struct stat st;
	size_t used = 0;
	char *buf;
	int fd;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return flue_error_set(err, FLUE_EINVAL, "cannot read %s: %s", path,
		                      "not a regular file");
	}
	if ((uint64_t)st.st_size > limit) {
		close(fd);
		return flue_error_set(err, FLUE_EINVAL,
		                      "%s is larger than %zu bytes", path, limit);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	while (used < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			close(fd);
			free(buf);
			return flue_error_set(err, flue_status_from_errno(saved),
			                      "cannot read %s: %s", path,
			                      strerror(saved));
		}
		if (n == 0)
			break;   /* shrank while we read: take what is there */
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	*out = buf;
	if (out_len != NULL)
		*out_len = used;
	return 0;
}

int
flue_sandbox_choice_read(struct flue_fields *f, json_object *map,
                         const char *path, const char *key,
                         struct flue_sandbox_choice *out)
{
	json_object *value, *plugin;
	char where[256], inner[300];

	memset(out, 0, sizeof(*out));
	if (!json_object_object_get_ex(map, key, &value))
		return 0;
	flue_fields_path(where, sizeof(where), path, key);
	if (json_object_is_type(value, json_type_string)) {
		if (flue_fields_deferred(f, value))
			return 0;
		if (*json_object_get_string(value) == '\0')
			return flue_fields_fail(f, value, map, where,
			                        "expected a plugin name");
		out->plugin = json_object_get_string(value);
		return 0;
	}
	if (!json_object_is_type(value, json_type_object))
		return flue_fields_fail(f, value, map, where,
		                        "expected a plugin name or a mapping with "
		                        "'plugin' and its options, found %s",
		                        flue_fields_kind(value));
	snprintf(inner, sizeof(inner), "%s.plugin", where);
	if (!json_object_object_get_ex(value, "plugin", &plugin))
		return flue_fields_fail(f, value, map, where,
		                        "the mapping needs 'plugin: <name>' "
		                        "(e.g. plugin: local)");
	if (flue_fields_get_string(f, value, where, "plugin", &out->plugin) != 0)
		return FLUE_EINVAL;
	out->options = value;
	return 0;
}

static int
check_model(struct flue_fields *f, json_object *map, const char *path,
            const char *key, const char **out)
{
	char where[256];

	if (flue_fields_get_string(f, map, path, key, out) != 0)
		return FLUE_EINVAL;
	if (*out != NULL && !flue_fields_is_model(*out))
		return flue_fields_fail(f, json_object_object_get(map, key), map,
		                        flue_fields_path(where, sizeof(where), path,
		                                         key),
		                        "'%s' is not provider/model (for example "
		                        "anthropic/claude-sonnet-4.6)", *out);
	return 0;
}

static int
check_env_name(struct flue_fields *f, json_object *map, const char *path,
               const char *key, const char **out)
{
	char where[256];

	if (flue_fields_get_string(f, map, path, key, out) != 0)
		return FLUE_EINVAL;
	if (*out != NULL && !flue_fields_is_env_name(*out))
		return flue_fields_fail(f, json_object_object_get(map, key), map,
		                        flue_fields_path(where, sizeof(where), path,
		                                         key),
		                        "'%s' is not an environment variable name "
		                        "(letters, digits and _)", *out);
	return 0;
}

static int
parse_defaults(struct flue_fields *f, json_object *root,
               struct flue_config *c)
{
	json_object *d = NULL;

	if (flue_fields_get_mapping(f, root, "", "defaults", &d) != 0)
		return FLUE_EINVAL;
	if (d == NULL)
		return 0;
	if (flue_fields_keys(f, d, "defaults", "defaults", defaults_keys) != 0 ||
	    check_model(f, d, "defaults", "model", &c->defaults.model) != 0 ||
	    flue_sandbox_choice_read(f, d, "defaults", "sandbox",
	                             &c->defaults.sandbox) != 0 ||
	    flue_fields_get_enum(f, d, "defaults", "thinking",
	                         flue_thinking_levels,
	                         &c->defaults.thinking) != 0 ||
	    flue_fields_get_string(f, d, "defaults", "role",
	                           &c->defaults.role) != 0 ||
	    flue_fields_get_int(f, d, "defaults", "max_turns", 1, 10000,
	                        &c->defaults.max_turns, NULL) != 0 ||
	    flue_fields_get_int(f, d, "defaults", "max_task_depth", 1, 64,
	                        &c->defaults.max_task_depth, NULL) != 0)
		return FLUE_EINVAL;
	return 0;
}

static int
parse_models(struct flue_fields *f, json_object *models, const char *path)
{
	char where[512];

	json_object_object_foreach(models, name, spec) {
		int64_t n;

		snprintf(where, sizeof(where), "%s.%s", path, name);
		if (flue_fields_type(f, spec, models, where, json_type_object,
		                     "a mapping with context_window and "
		                     "max_tokens") != 0 ||
		    flue_fields_keys(f, spec, where, "a model", model_keys) != 0 ||
		    flue_fields_get_int(f, spec, where, "context_window", 1,
		                        100000000, &n, NULL) != 0 ||
		    flue_fields_get_int(f, spec, where, "max_tokens", 1, 10000000,
		                        &n, NULL) != 0)
			return FLUE_EINVAL;
		for (size_t i = 0; price_keys[i] != NULL; i++) {
			json_object *v;
			char key[600];

			if (!json_object_object_get_ex(spec, price_keys[i], &v))
				continue;
			snprintf(key, sizeof(key), "%s.%s", where, price_keys[i]);
			if ((!json_object_is_type(v, json_type_int) &&
			     !json_object_is_type(v, json_type_double)) ||
			    json_object_get_double(v) < 0)
				return flue_fields_fail(f, v, spec, key, "expected a "
				                        "price in USD per million tokens "
				                        "(a number, 0 or more)");
		}
	}
	return 0;
}

static int
valid_provider_id(const char *id)
{
	if (*id == '\0')
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}

static int
parse_providers(struct flue_fields *f, json_object *root,
                struct flue_config *c)
{
	json_object *providers = NULL;
	char where[300];
	size_t i = 0;

	if (flue_fields_get_mapping(f, root, "", "providers", &providers) != 0)
		return FLUE_EINVAL;
	if (providers == NULL || json_object_object_length(providers) == 0)
		return 0;
	c->providers = calloc((size_t)json_object_object_length(providers),
	                      sizeof(*c->providers));
	if (c->providers == NULL)
		return flue_error_set(f->err, FLUE_ENOMEM, "out of memory");
	json_object_object_foreach(providers, id, spec) {
		struct flue_provider_config *p = &c->providers[i];

		snprintf(where, sizeof(where), "providers.%s", id);
		if (!valid_provider_id(id))
			return flue_fields_fail(f, spec, providers, where,
			                        "a provider id is the model prefix "
			                        "before '/': lowercase letters, "
			                        "digits, '-', '_' and '.'");
		if (flue_fields_type(f, spec, providers, where, json_type_object,
		                     NULL) != 0 ||
		    flue_fields_keys(f, spec, where, "a provider",
		                     provider_keys) != 0)
			return FLUE_EINVAL;
		p->id = id;
		p->plugin = "gateway";
		p->api = "openai-chat";
		if (flue_fields_get_string(f, spec, where, "plugin",
		                           &p->plugin) != 0 ||
		    flue_fields_get_enum(f, spec, where, "api", provider_apis,
		                         &p->api) != 0 ||
		    flue_fields_get_string(f, spec, where, "base_url",
		                           &p->base_url) != 0 ||
		    check_env_name(f, spec, where, "api_key_env",
		                   &p->api_key_env) != 0 ||
		    flue_fields_get_scalar_map(f, spec, where, "headers",
		                               &p->headers) != 0 ||
		    flue_fields_get_mapping(f, spec, where, "models",
		                            &p->models) != 0 ||
		    flue_fields_get_mapping(f, spec, where, "options",
		                            &p->options) != 0)
			return FLUE_EINVAL;
		if (p->base_url != NULL && strncmp(p->base_url, "http://", 7) != 0 &&
		    strncmp(p->base_url, "https://", 8) != 0) {
			char inner[320];

			snprintf(inner, sizeof(inner), "%s.base_url", where);
			return flue_fields_fail(f, json_object_object_get(spec,
			                        "base_url"), spec, inner,
			                        "'%s' is not an http:// or https:// URL",
			                        p->base_url);
		}
		if (p->models != NULL) {
			char inner[320];

			snprintf(inner, sizeof(inner), "%s.models", where);
			if (parse_models(f, p->models, inner) != 0)
				return FLUE_EINVAL;
		}
		i++;
		c->n_providers = i;
	}
	return 0;
}

static int
parse_server(struct flue_fields *f, json_object *root, struct flue_config *c)
{
	json_object *s = NULL;

	c->server.port = 3583;
	c->server.host = "127.0.0.1";
	c->server.api_token_env = "FLUE_API_TOKEN";
	c->server.max_body_bytes = 1024 * 1024;
	c->server.max_concurrent_runs = 64;
	c->server.run_retention_days = 30;
	if (flue_fields_get_mapping(f, root, "", "server", &s) != 0)
		return FLUE_EINVAL;
	if (s == NULL)
		return 0;
	if (flue_fields_keys(f, s, "server", "server settings",
	                     server_keys) != 0 ||
	    flue_fields_get_int(f, s, "server", "port", 1, 65535,
	                        &c->server.port, NULL) != 0 ||
	    flue_fields_get_string(f, s, "server", "host", &c->server.host) != 0 ||
	    check_env_name(f, s, "server", "api_token_env",
	                   &c->server.api_token_env) != 0 ||
	    flue_fields_get_int(f, s, "server", "max_body_bytes", 1024,
	                        INT64_C(1) << 34, &c->server.max_body_bytes,
	                        NULL) != 0 ||
	    flue_fields_get_int(f, s, "server", "max_concurrent_runs", 1,
	                        100000, &c->server.max_concurrent_runs,
	                        NULL) != 0 ||
	    flue_fields_get_string_list(f, s, "server", "cors_origins",
	                                &c->server.cors_origins) != 0 ||
	    flue_fields_get_int(f, s, "server", "run_retention_days", 0, 36500,
	                        &c->server.run_retention_days, NULL) != 0)
		return FLUE_EINVAL;
	return 0;
}

static int
parse_plugin_options(struct flue_fields *f, json_object *root,
                     struct flue_config *c)
{
	char where[300];

	if (flue_fields_get_mapping(f, root, "", "plugin_options",
	                            &c->plugin_options) != 0)
		return FLUE_EINVAL;
	if (c->plugin_options == NULL)
		return 0;
	json_object_object_foreach(c->plugin_options, name, options) {
		snprintf(where, sizeof(where), "plugin_options.%s", name);
		if (flue_fields_type(f, options, c->plugin_options, where,
		                     json_type_object,
		                     "a mapping of the plugin's options") != 0)
			return FLUE_EINVAL;
	}
	return 0;
}

int
flue_config_parse(const char *text, size_t len, const char *filename,
                  struct flue_config *out, struct flue_error *err)
{
	struct flue_fields f = {filename ? filename : "flue.yaml", err, 0};
	json_object *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->server.port = 3583;
	rc = flue_yaml_parse(text, len, f.filename, 0, &root, err);
	if (rc != 0)
		return rc;
	out->document = root;
	if (root == NULL)
		return parse_server(&f, NULL, out);
	if (!json_object_is_type(root, json_type_object))
		return flue_fields_fail(&f, root, NULL, "",
		                        "expected a mapping of settings (plugins, "
		                        "defaults, providers, server, ...), found "
		                        "%s", flue_fields_kind(root));
	if (flue_fields_keys(&f, root, "", "flue.yaml", top_keys) != 0 ||
	    flue_fields_get_string_list(&f, root, "", "plugins",
	                                &out->plugins) != 0 ||
	    flue_fields_get_string_list(&f, root, "", "plugin_path",
	                                &out->plugin_path) != 0 ||
	    parse_plugin_options(&f, root, out) != 0 ||
	    parse_defaults(&f, root, out) != 0 ||
	    parse_providers(&f, root, out) != 0 ||
	    parse_server(&f, root, out) != 0)
		return err->code ? err->code : FLUE_EINVAL;
	return 0;
}

int
flue_config_load(const char *path, struct flue_config *out,
                 struct flue_error *err)
{
	char *text;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		struct flue_config empty;

		rc = flue_config_parse("", 0, path, &empty, err);
		*out = empty;
		return rc;
	}
	rc = flue_read_text_file(path, CONFIG_MAX_BYTES, &text, &len, err);
	if (rc != 0)
		return rc;
	rc = flue_config_parse(text, len, path, out, err);
	free(text);
	if (out->path == NULL && (out->path = strdup(path)) == NULL && rc == 0)
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return rc;
}

void
flue_config_clear(struct flue_config *config)
{
	if (config == NULL)
		return;
	free(config->providers);
	free(config->path);
	json_object_put(config->document);
	memset(config, 0, sizeof(*config));
}

const struct flue_provider_config *
flue_config_provider(const struct flue_config *config, const char *model)
{
	const char *slash = strchr(model, '/');
	size_t len = slash ? (size_t)(slash - model) : strlen(model);

	for (size_t i = 0; i < config->n_providers; i++)
		if (strlen(config->providers[i].id) == len &&
		    strncmp(config->providers[i].id, model, len) == 0)
			return &config->providers[i];
	return NULL;
}

/* --- finding the project --------------------------------------------- */

static int
is_dir(const char *base, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", base, name) >=
	    sizeof(path))
		return 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
is_file(const char *base, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", base, name) >=
	    sizeof(path))
		return 0;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
find_root(const char *start, int search_up, char *root)
{
	char probe[PATH_MAX];

	strcpy(root, start);
	if (!search_up)
		return 0;
	strcpy(probe, start);
	for (;;) {
		char *slash;

		if (is_file(probe, "flue.yaml") || is_dir(probe, ".flue")) {
			strcpy(root, probe);
			return 0;
		}
		slash = strrchr(probe, '/');
		if (slash == NULL || slash == probe)
			break;
		*slash = '\0';
	}
	return 0;
}

static char *
join(const char *a, const char *b)
{
	char *s;

	if (b == NULL)
		return strdup(a);
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

int
flue_project_open(const char *start_dir, int search_up,
                  struct flue_project *out, struct flue_error *err)
{
	static const char *const sources[] = {".flue", "src", NULL};
	char start[PATH_MAX], root[PATH_MAX];
	const char *source = NULL;
	char *config_path;
	int rc;

	memset(out, 0, sizeof(*out));
	if (realpath(start_dir ? start_dir : ".", start) == NULL)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "project folder %s: %s",
		                      start_dir ? start_dir : ".", strerror(errno));
	find_root(start, search_up, root);
	for (size_t i = 0; sources[i] != NULL && source == NULL; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", root, sources[i]);
		if (is_dir(path, "agents"))
			source = sources[i];
	}
	if (source == NULL && !is_dir(root, "agents") && is_dir(root, ".flue"))
		source = ".flue";
	out->root = strdup(root);
	out->source = join(root, source);
	out->state = join(root, ".flue/state");
	config_path = join(root, "flue.yaml");
	if (out->root == NULL || out->source == NULL || out->state == NULL ||
	    config_path == NULL) {
		free(config_path);
		flue_project_clear(out);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	rc = flue_config_load(config_path, &out->config, err);
	free(config_path);
	if (rc != 0)
		flue_project_clear(out);
	return rc;
}

void
flue_project_clear(struct flue_project *project)
{
	if (project == NULL)
		return;
	free(project->root);
	free(project->source);
	free(project->state);
	flue_config_clear(&project->config);
	memset(project, 0, sizeof(*project));
}
