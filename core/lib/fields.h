/* Checking YAML-derived settings (flue.yaml, agent, role and skill
 * frontmatter) field by field, with messages that name the file, line,
 * column and field, say what was expected, and suggest the closest known
 * key for a misspelt one. */
#ifndef FLUE_LIB_FIELDS_H
#define FLUE_LIB_FIELDS_H

#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* One checking pass over one file. */
struct flue_fields {
	const char *filename;      /* [borrowed] named in messages */
	struct flue_error *err;    /* [borrowed] filled by the first failure */
	/* When set, a string value holding a {{...}} or ${...} reference is
	 * accepted for any type: it is checked again once substituted. */
	int defer_templates;
};

/* Fail with "file:line:column: path: message" (FLUE_EINVAL).  value gives
 * the position; when it is NULL (JSON null has no object) parent's is
 * used; when neither has one, the position is left out. */
int flue_fields_fail(struct flue_fields *f, json_object *value,
                     json_object *parent, const char *path,
                     const char *fmt, ...) FLUE_PRINTF(5, 6);

/* "a mapping", "a list", "a string", "an integer", "a number",
 * "true or false", "null" ([static]). */
const char *flue_fields_kind(json_object *value);

/* 1 when value is a string that holds a template reference and f defers
 * templates. */
int flue_fields_deferred(const struct flue_fields *f, json_object *value);

/* Every key of map must be in allowed (NULL-terminated).  An unknown key
 * fails at the key's position: "unknown key 'modle' in agent settings
 * (did you mean 'model'?)", listing the known keys when none is close.
 * what names the mapping in the message. */
int flue_fields_keys(struct flue_fields *f, json_object *map,
                     const char *path, const char *what,
                     const char *const *allowed);

/* value must be of type (json_type_int also accepts nothing else;
 * json_type_double accepts integers).  expected overrides "a <type>" in
 * the message when not NULL. */
int flue_fields_type(struct flue_fields *f, json_object *value,
                     json_object *parent, const char *path,
                     json_type type, const char *expected);

/* Typed optional members of map: when key is absent *present is 0 (the
 * out value untouched) and the call succeeds.  Strings are [borrowed]
 * from map.  A deferred template leaves *present 0 as well.  path is the
 * dotted path of map ("" at the top). */
int flue_fields_get_string(struct flue_fields *f, json_object *map,
                           const char *path, const char *key,
                           const char **out);
int flue_fields_get_int(struct flue_fields *f, json_object *map,
                        const char *path, const char *key,
                        int64_t min, int64_t max, int64_t *out,
                        int *present);
int flue_fields_get_bool(struct flue_fields *f, json_object *map,
                         const char *path, const char *key, int *out,
                         int *present);
/* The string must be one of choices (NULL-terminated). */
int flue_fields_get_enum(struct flue_fields *f, json_object *map,
                         const char *path, const char *key,
                         const char *const *choices, const char **out);
/* A list of non-empty strings; *out [borrowed] is the list. */
int flue_fields_get_string_list(struct flue_fields *f, json_object *map,
                                const char *path, const char *key,
                                json_object **out);
/* A mapping whose values are scalars (strings, numbers, booleans),
 * e.g. env or headers; *out [borrowed]. */
int flue_fields_get_scalar_map(struct flue_fields *f, json_object *map,
                               const char *path, const char *key,
                               json_object **out);
/* A mapping of anything (an open namespace); *out [borrowed]. */
int flue_fields_get_mapping(struct flue_fields *f, json_object *map,
                            const char *path, const char *key,
                            json_object **out);

/* Join path and key into buf ("a.b" or "b" when path is empty). */
const char *flue_fields_path(char *buf, size_t size, const char *path,
                             const char *key);

/* Whether s is "provider/model": both parts non-empty, no spaces. */
int flue_fields_is_model(const char *s);
/* Whether s is an environment variable name ([A-Za-z_][A-Za-z0-9_]*). */
int flue_fields_is_env_name(const char *s);

#endif
