/* Blueprints: Markdown files that `flue add` applies to a project
 * (blueprints/README.md is the format).  This module reads one and
 * checks every rule, naming the line and the rule of the first problem;
 * applying it is the command's job. */
#ifndef FLUE_LIB_BLUEPRINT_H
#define FLUE_LIB_BLUEPRINT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* A file the blueprint installs.  Strings [owned]. */
struct flue_blueprint_file {
	char *path;           /* relative to the project's source folder */
	char *content;        /* the block's text */
	size_t len;
	unsigned line;        /* of the opening fence */
	int primary;
};

/* Every member [owned]. */
struct flue_blueprint {
	char *source;         /* the file's whole text */
	size_t source_len;
	char *kind, *name, *description, *website;
	int64_t version;
	int root;             /* a kind's generic guide */
	json_object *aliases; /* array of strings, or NULL */
	json_object *requires;
	struct flue_blueprint_file *files;
	size_t n_files;
	char *config;         /* the `yaml flue.yaml` block, or NULL */
	unsigned config_line;
	char *env;            /* the `env .env.example` block, or NULL */
	char *next_steps;     /* the text of `## Next steps`, or NULL */
};

/* The kinds there are, NULL-terminated.  [static] */
extern const char *const flue_blueprint_kinds[];

/* Read and check text (len bytes) from path (named in messages; when its
 * base name is not "<kind>--<name>.md" or "<kind>.md" as the frontmatter
 * says, that is an error too).  Problems are FLUE_EINVAL:
 * "sandbox--ssh.md:42: rule: ...". */
int flue_blueprint_parse(const char *text, size_t len, const char *path,
                         struct flue_blueprint *out, struct flue_error *err);
/* Read path, then flue_blueprint_parse. */
int flue_blueprint_load(const char *path, struct flue_blueprint *out,
                        struct flue_error *err);
void flue_blueprint_clear(struct flue_blueprint *blueprint);

/* The primary file, or NULL when the blueprint installs none. */
const struct flue_blueprint_file *flue_blueprint_primary(
	const struct flue_blueprint *blueprint);

/* The marker line for path's comment syntax, without a newline:
 * "// flue-blueprint: sandbox/ssh@2" for .c, "# ..." for .sh/.yaml/.py,
 * "<!-- ... -->" for .md.  [caller-owned] */
char *flue_blueprint_marker(const struct flue_blueprint *blueprint,
                            const char *path);

#endif
