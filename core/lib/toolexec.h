/* The core tools at work: read, write, edit, bash, grep and glob, run on
 * top of a workspace's sandbox operations so every sandbox gets them.
 * Arguments arrive already checked against the tool's JSON Schema
 * (tools.c declares them; the loop validates); this module still treats
 * them defensively.  Every cap is in docs/TOOLS.md. */
#ifndef FLUE_LIB_TOOLEXEC_H
#define FLUE_LIB_TOOLEXEC_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* Where a call runs.  Every pointer [borrowed] for the call. */
struct flue_tool_env {
	flue_workspace *workspace;
	const char *cwd;                  /* absolute working directory in the
	                                     sandbox; relative paths resolve
	                                     against it */
	const struct flue_cancel *cancel; /* may be NULL */
	const char *const *exec_env;      /* extra "NAME=value" for the
	                                     commands tools run, or NULL */
};

/* A tool's answer for the model.  text is [caller-owned] (malloc),
 * NUL-terminated; is_error marks a failure the model should see (a
 * missing file, no match, a non-unique edit). */
struct flue_tool_output {
	char *text;
	size_t len;
	int is_error;
};

/* Run core tool name with args (a JSON object, [borrowed]).  Returns 0
 * with *out filled -- also when the tool failed in a way the model
 * should read (out->is_error) -- or FLUE_ECANCELED / FLUE_ENOMEM /
 * FLUE_ENOENT (no such core tool) with err filled and *out empty.
 * Safe to call from several threads at once on one workspace. */
int flue_tool_run(const struct flue_tool_env *env, const char *name,
                  json_object *args, struct flue_tool_output *out,
                  struct flue_error *err);
void flue_tool_output_clear(struct flue_tool_output *out);

/* The bash tool's answer for result, a command that ran with a timeout
 * of timeout_s seconds: what `flue shell` records so the model reads it
 * as if it had run the command itself. */
int flue_tool_bash_text(const struct flue_exec_result *result,
                        int64_t timeout_s, struct flue_tool_output *out,
                        struct flue_error *err);

/* text[0, n) with every ill-formed UTF-8 sequence (and NUL) replaced by
 * U+FFFD, so it can go into JSON for a model; *out_len its length.
 * [caller-owned], NULL when out of memory. */
char *flue_utf8_clean(const char *text, size_t n, size_t *out_len);

#endif
