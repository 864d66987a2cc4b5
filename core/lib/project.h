/* The user's project: where it is (the root, found from the current
 * folder upward), where its agents live (the source folder), and what
 * flue.yaml says, checked field by field. */
#ifndef FLUE_LIB_PROJECT_H
#define FLUE_LIB_PROJECT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* Thinking levels, in order; NULL-terminated. */
extern const char *const flue_thinking_levels[];

/* A sandbox choice: a plugin name plus its options (a mapping, possibly
 * empty).  Both [borrowed] from the document they came from. */
struct flue_sandbox_choice {
	const char *plugin;
	json_object *options;   /* NULL: none given */
};

/* One entry of providers: in flue.yaml.  Strings and objects are
 * [borrowed] from the config's document. */
struct flue_provider_config {
	const char *id;          /* the model prefix it serves */
	const char *plugin;      /* default "gateway" */
	const char *api;         /* "openai-chat" (default) or
	                            "anthropic-messages" */
	const char *base_url;    /* NULL: the plugin's default */
	const char *api_key_env; /* NULL: the plugin's default */
	json_object *headers;    /* string map or NULL */
	json_object *models;     /* model -> {context_window, max_tokens} */
	json_object *options;    /* open mapping passed to the plugin, or NULL */
};

/* flue.yaml.  Every string and object is [borrowed] from document, which
 * the config owns; arrays are owned. */
struct flue_config {
	char *path;                  /* owned: the file, NULL when absent */
	json_object *document;       /* owned: the parsed file, or NULL */
	json_object *plugins;        /* list of names/paths, or NULL */
	json_object *plugin_path;    /* list of folders, or NULL */
	json_object *plugin_options; /* mapping name -> options, or NULL */
	struct {
		const char *model;
		struct flue_sandbox_choice sandbox;
		const char *thinking;
		const char *role;
		int64_t max_turns;       /* 0: not set */
		int64_t max_task_depth;  /* 0: not set (4) */
	} defaults;
	struct flue_provider_config *providers;   /* owned array */
	size_t n_providers;
	struct {
		int64_t port;            /* default 3583 */
		const char *host;        /* default 127.0.0.1 */
		const char *api_token_env;  /* default FLUE_API_TOKEN */
		int64_t max_body_bytes;  /* default 1 MiB */
		int64_t max_concurrent_runs;  /* default 64 */
		json_object *cors_origins;    /* list or NULL */
		int64_t run_retention_days;   /* default 30 */
	} server;
};

/* Parse and check flue.yaml's text.  filename [borrowed] is named in
 * messages.  Unknown keys, wrong types and bad values fail with
 * "flue.yaml:4:3: defaults.thinking: 'hi' is not one of off, minimal,
 * low, medium, high, xhigh (did you mean 'high'?)".  *out is zeroed
 * first; clear it with flue_config_clear (also after a failure). */
int flue_config_parse(const char *text, size_t len, const char *filename,
                      struct flue_config *out, struct flue_error *err);
/* Read and parse path; a missing file gives the defaults. */
int flue_config_load(const char *path, struct flue_config *out,
                     struct flue_error *err);
void flue_config_clear(struct flue_config *config);
/* The provider entry for model's prefix, or NULL. [borrowed] */
const struct flue_provider_config *flue_config_provider(
	const struct flue_config *config, const char *model);

/* Read a sandbox setting: a plugin name, or a mapping with `plugin` and
 * the plugin's options.  Used for flue.yaml defaults and agent files. */
struct flue_fields;
int flue_sandbox_choice_read(struct flue_fields *f, json_object *map,
                             const char *path, const char *key,
                             struct flue_sandbox_choice *out);

/* A located project. */
struct flue_project {
	char *root;         /* owned, absolute: holds flue.yaml or .flue/ */
	char *source;       /* owned, absolute: agents/, roles/, skills/ */
	char *state;        /* owned, absolute: <root>/.flue/state */
	struct flue_config config;
};

/* Find and load the project.  With search_up, root is the nearest of
 * start_dir and its parents holding flue.yaml or a .flue folder (start_dir
 * itself when none does); otherwise start_dir is the root.  The source
 * folder is the first of .flue/, src/ and the root that has an agents/
 * folder; when none has, .flue/ if it exists, else the root. */
int flue_project_open(const char *start_dir, int search_up,
                      struct flue_project *out, struct flue_error *err);
void flue_project_clear(struct flue_project *project);

/* Read a whole file into a NUL-terminated buffer *out [caller-owned];
 * files over limit bytes are refused ("... is larger than N bytes"). */
int flue_read_text_file(const char *path, size_t limit, char **out,
                        size_t *out_len, struct flue_error *err);

#endif
