/* The harness: resolves the plugin search path, loads the requested
 * plugins, and owns them until it is closed. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "harness.h"
#include "yaml.h"

static const char *const default_plugins[] = {"local", NULL};

/* A growing list of search folders with their origins. */
struct dir_list {
	struct flue_loader_dir *dirs;   /* owned, strings owned */
	size_t n;
};

static void
dir_list_clear(struct dir_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free((char *)list->dirs[i].path);
	free(list->dirs);
	list->dirs = NULL;
	list->n = 0;
}

/* Add dir (relative ones against base) unless it is already listed. */
static int
dir_list_add(struct dir_list *list, const char *base, const char *dir,
             const char *origin)
{
	struct flue_loader_dir *grown;
	char *path;

	if (dir == NULL || *dir == '\0')
		return 0;
	if (dir[0] == '/' || base == NULL)
		path = strdup(dir);
	else if (asprintf(&path, "%s/%s", base, dir) < 0)
		path = NULL;
	if (path == NULL)
		return FLUE_ENOMEM;
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->dirs[i].path, path) == 0) {
			free(path);
			return 0;
		}
	grown = realloc(list->dirs, (list->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(path);
		return FLUE_ENOMEM;
	}
	list->dirs = grown;
	list->dirs[list->n].path = path;
	list->dirs[list->n].origin = origin;
	list->n++;
	return 0;
}

/* PRODUCT.md section 4: config paths, FLUE_PLUGIN_PATH, the project's
 * .flue/plugins, then the installed folder. */
static int
build_search_path(struct dir_list *list, const char *project_dir,
                  const char *const *option_dirs,
                  const char *const *config_dirs, const char *cwd)
{
	const char *env = getenv("FLUE_PLUGIN_PATH");
	int rc = 0;

	/* Folders given by the caller (--plugin-path) are relative to the
	 * current folder; flue.yaml's to the project. */
	for (size_t i = 0; option_dirs && option_dirs[i] && rc == 0; i++)
		rc = dir_list_add(list, cwd, option_dirs[i], "config");
	for (size_t i = 0; config_dirs && config_dirs[i] && rc == 0; i++)
		rc = dir_list_add(list, project_dir, config_dirs[i], "config");
	if (env != NULL && rc == 0) {
		char *copy = strdup(env), *save = NULL;

		if (copy == NULL)
			return FLUE_ENOMEM;
		for (char *tok = strtok_r(copy, ":", &save); tok && rc == 0;
		     tok = strtok_r(NULL, ":", &save))
			rc = dir_list_add(list, cwd, tok, "FLUE_PLUGIN_PATH");
		free(copy);
	}
	if (rc == 0)
		rc = dir_list_add(list, project_dir, ".flue/plugins", "project");
	if (rc == 0)
		rc = dir_list_add(list, NULL, FLUE_PLUGIN_DIR, "installed");
	return rc;
}

static int
parse_plugin_options(flue_harness *harness, const char *json,
                     struct flue_error *err)
{
	enum json_tokener_error jerr;
	json_object *obj;

	if (json == NULL) {
		harness->plugin_options = json_object_new_object();
		return harness->plugin_options ? 0 :
		       flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	obj = json_tokener_parse_verbose(json, &jerr);
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin options must be a JSON object of plugin name to "
		        "options: %s", obj == NULL ?
		        json_tokener_error_desc(jerr) : "not an object");
	}
	harness->plugin_options = obj;
	return 0;
}

const char *
flue_harness_plugin_options(flue_harness *harness, const char *stem)
{
	json_object *value;

	if (stem != NULL &&
	    json_object_object_get_ex(harness->plugin_options, stem, &value))
		return json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN);
	return "{}";
}

static const char *
options_for_probe(void *payload, const char *stem)
{
	return flue_harness_plugin_options(payload, stem);
}

static int
copy_search_path(flue_harness *harness, const struct dir_list *list)
{
	harness->search_path = calloc(list->n + 1, sizeof(char *));
	if (harness->search_path == NULL)
		return FLUE_ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		harness->search_path[i] = strdup(list->dirs[i].path);
		if (harness->search_path[i] == NULL)
			return FLUE_ENOMEM;
	}
	return 0;
}

static int
load_requested(flue_harness *harness, const char *const *plugins,
               int keep_going, struct flue_error *err)
{
	int first_rc = 0;

	for (size_t i = 0; plugins[i] != NULL; i++) {
		struct flue_loaded_plugin *plugin;
		int rc = flue_loader_load(harness->loader, plugins[i],
		                          harness->project_dir,
		                          flue_harness_plugin_options(harness,
		                                                      plugins[i]),
		                          &plugin, err);
		if (rc != 0 && !keep_going)
			return rc;
		if (rc != 0 && first_rc == 0)
			first_rc = rc;
	}
	return first_rc;
}

/* Merge flue.yaml's plugin_options under the caller's (the caller's
 * options for a plugin replace the file's). */
static int
merge_config_options(flue_harness *harness, struct flue_error *err)
{
	json_object *file = harness->project.config.plugin_options;

	if (file == NULL)
		return 0;
	json_object_object_foreach(file, name, options) {
		json_object *copy = NULL;
		int rc;

		if (json_object_object_get_ex(harness->plugin_options, name, NULL))
			continue;
		rc = flue_yaml_copy(options, &copy, err);
		if (rc != 0)
			return rc;
		if (json_object_object_add(harness->plugin_options, name, copy)) {
			json_object_put(copy);
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
		}
	}
	return 0;
}

/* A JSON list of strings as a NULL-terminated array [caller-owned; the
 * strings borrowed from list]. */
static const char **
string_list(json_object *list)
{
	size_t n = json_object_array_length(list);
	const char **out = calloc(n + 1, sizeof(char *));

	for (size_t i = 0; out != NULL && i < n; i++)
		out[i] = json_object_get_string(json_object_array_get_idx(list, i));
	return out;
}

FLUE_API int
flue_harness_open(flue_harness **out,
                  const struct flue_harness_options *options,
                  struct flue_error *err)
{
	struct flue_harness_options opts = {0};
	struct dir_list dirs = {0};
	const char **config_plugins = NULL, **config_path = NULL;
	const char *const *plugins;
	char cwd[PATH_MAX];
	flue_harness *harness;
	int rc;

	*out = NULL;
	if (options != NULL)
		memcpy(&opts, options, options->size < sizeof(opts) ?
		       options->size : sizeof(opts));
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "cannot read the current directory: %s",
		                      strerror(errno));
	harness = calloc(1, sizeof(*harness));
	if (harness == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	/* An explicit folder is the root; otherwise look upward for it. */
	rc = flue_project_open(opts.project_dir ? opts.project_dir : cwd,
	                       opts.project_dir == NULL, &harness->project, err);
	if (rc != 0)
		goto fail;
	harness->project_dir = strdup(harness->project.root);
	if (opts.source_dir != NULL) {
		free(harness->project.source);
		harness->project.source = realpath(opts.source_dir, NULL);
		if (harness->project.source == NULL) {
			rc = flue_error_set(err, flue_status_from_errno(errno),
			                    "source folder '%s': %s", opts.source_dir,
			                    strerror(errno));
			goto fail;
		}
	}
	if (harness->project_dir == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto fail;
	}
	rc = parse_plugin_options(harness, opts.plugin_options_json, err);
	if (rc == 0)
		rc = merge_config_options(harness, err);
	if (rc != 0)
		goto fail;
	if (harness->project.config.plugin_path != NULL &&
	    (config_path = string_list(harness->project.config.plugin_path)) ==
	    NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto fail;
	}
	/* Folders from the command line first, then flue.yaml's. */
	rc = build_search_path(&dirs, harness->project_dir, opts.plugin_path,
	                       config_path, cwd);
	if (rc == 0)
		rc = copy_search_path(harness, &dirs);
	if (rc != 0) {
		flue_error_set(err, rc, "out of memory");
		goto fail;
	}
	rc = flue_loader_new(&harness->loader, dirs.dirs, dirs.n, err);
	if (rc != 0)
		goto fail;
	flue_loader_set_paths(harness->loader, harness->project.root,
	                      harness->project.state);
	plugins = opts.plugins;
	if (plugins == NULL && harness->project.config.plugins != NULL) {
		config_plugins = string_list(harness->project.config.plugins);
		if (config_plugins == NULL) {
			rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
			goto fail;
		}
		plugins = config_plugins;
	}
	rc = load_requested(harness, plugins ? plugins : default_plugins,
	                    opts.flags & FLUE_HARNESS_PROBE_ALL, err);
	if (rc != 0 && !(opts.flags & FLUE_HARNESS_PROBE_ALL)) {
		if (plugins == config_plugins && harness->project.config.path)
			flue_error_prefix(err, "%s: plugins",
			                  harness->project.config.path);
		goto fail;
	}
	if (opts.flags & FLUE_HARNESS_PROBE_ALL) {
		flue_error_clear(err);
		flue_loader_probe_all(harness->loader, options_for_probe, harness);
	}
	free(config_plugins);
	free(config_path);
	dir_list_clear(&dirs);
	*out = harness;
	return 0;
fail:
	free(config_plugins);
	free(config_path);
	dir_list_clear(&dirs);
	flue_harness_close(harness);
	return rc;
}

FLUE_API void
flue_harness_close(flue_harness *harness)
{
	if (harness == NULL)
		return;
	flue_loader_free(harness->loader);
	json_object_put(harness->plugin_options);
	if (harness->search_path != NULL)
		for (size_t i = 0; harness->search_path[i]; i++)
			free(harness->search_path[i]);
	free(harness->search_path);
	free(harness->project_dir);
	flue_project_clear(&harness->project);
	free(harness);
}

FLUE_API size_t
flue_harness_plugin_count(const flue_harness *harness)
{
	return flue_loader_report_count(harness->loader);
}

FLUE_API const struct flue_plugin_report *
flue_harness_plugin_report(const flue_harness *harness, size_t index)
{
	return flue_loader_report(harness->loader, index);
}

FLUE_API const char *const *
flue_harness_search_path(const flue_harness *harness)
{
	return (const char *const *)harness->search_path;
}

/* Loading is rare and quick; one lock for every harness keeps the
 * harness struct free of thread state. */
static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;

int
flue_harness_plugin(flue_harness *harness, const char *name,
                    struct flue_loaded_plugin **out, struct flue_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&plugin_lock);
	*out = flue_loader_find(harness->loader, name, 0);
	if (*out == NULL)
		rc = flue_loader_load(harness->loader, name, harness->project_dir,
		                      flue_harness_plugin_options(harness, name),
		                      out, err);
	pthread_mutex_unlock(&plugin_lock);
	return rc;
}
