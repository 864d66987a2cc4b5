/* Field-by-field checks of YAML-derived settings.  Every failure names
 * where the value is (file:line:column), which field it is (a dotted
 * path) and what was expected, so the user can fix it without guessing. */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fields.h"
#include "suggest.h"
#include "yaml.h"

const char *
flue_fields_path(char *buf, size_t size, const char *path, const char *key)
{
	if (path == NULL || *path == '\0')
		snprintf(buf, size, "%s", key);
	else
		snprintf(buf, size, "%s.%s", path, key);
	return buf;
}

int
flue_fields_fail(struct flue_fields *f, json_object *value,
                 json_object *parent, const char *path, const char *fmt, ...)
{
	const struct flue_yaml_pos *pos = flue_yaml_pos(value);
	char message[sizeof(f->err->message)];
	va_list ap;

	if (pos == NULL)
		pos = flue_yaml_pos(parent);
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (pos != NULL)
		return flue_error_set(f->err, FLUE_EINVAL, "%s:%u:%u: %s%s%s",
		                      f->filename, pos->line, pos->column,
		                      path && *path ? path : "",
		                      path && *path ? ": " : "", message);
	return flue_error_set(f->err, FLUE_EINVAL, "%s: %s%s%s", f->filename,
	                      path && *path ? path : "",
	                      path && *path ? ": " : "", message);
}

const char *
flue_fields_kind(json_object *value)
{
	switch (json_object_get_type(value)) {
	case json_type_object: return "a mapping";
	case json_type_array: return "a list";
	case json_type_string: return "a string";
	case json_type_int: return "an integer";
	case json_type_double: return "a number";
	case json_type_boolean: return "true or false";
	case json_type_null: return "null";
	}
	return "a value";
}

int
flue_fields_deferred(const struct flue_fields *f, json_object *value)
{
	const char *s;

	if (!f->defer_templates || !json_object_is_type(value, json_type_string))
		return 0;
	s = json_object_get_string(value);
	return strstr(s, "{{") != NULL || strstr(s, "${") != NULL;
}

int
flue_fields_keys(struct flue_fields *f, json_object *map, const char *path,
                 const char *what, const char *const *allowed)
{
	json_object_object_foreach(map, key, value) {
		const struct flue_yaml_pos *pos;
		const char *close;
		char list[512] = "";
		size_t used = 0;
		int known = 0;

		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (known)
			continue;
		close = flue_suggest(key, allowed, 0);
		pos = flue_yaml_pos(value);
		if (pos == NULL)
			pos = flue_yaml_pos(map);
		if (close != NULL)
			snprintf(list, sizeof(list), "did you mean '%s'?", close);
		else
			for (size_t i = 0; allowed[i] != NULL; i++) {
				int n = snprintf(list + used, sizeof(list) - used, "%s%s",
				                 i ? ", " : "known keys: ", allowed[i]);
				if (n < 0 || (size_t)n >= sizeof(list) - used)
					break;
				used += (size_t)n;
			}
		if (pos != NULL)
			return flue_error_set(f->err, FLUE_EINVAL,
			                      "%s:%u:%u: unknown key '%s%s%s' in %s (%s)",
			                      f->filename, pos->key_line, pos->key_column,
			                      path && *path ? path : "",
			                      path && *path ? "." : "", key, what, list);
		return flue_error_set(f->err, FLUE_EINVAL,
		                      "%s: unknown key '%s%s%s' in %s (%s)",
		                      f->filename, path && *path ? path : "",
		                      path && *path ? "." : "", key, what, list);
	}
	return 0;
}

int
flue_fields_type(struct flue_fields *f, json_object *value, json_object *parent,
                 const char *path, json_type type, const char *expected)
{
	json_type have = json_object_get_type(value);

	if (have == type || (type == json_type_double && have == json_type_int))
		return 0;
	if (expected == NULL) {
		switch (type) {
		case json_type_object: expected = "a mapping"; break;
		case json_type_array: expected = "a list"; break;
		case json_type_string: expected = "a string"; break;
		case json_type_int: expected = "an integer"; break;
		case json_type_double: expected = "a number"; break;
		case json_type_boolean: expected = "true or false"; break;
		case json_type_null: expected = "null"; break;
		}
	}
	return flue_fields_fail(f, value, parent, path, "expected %s, found %s",
	                        expected, flue_fields_kind(value));
}

/* The member key of map that a typed getter checks: 1 with *value set
 * (NULL for a JSON null) and where filled with its dotted path; 0 when
 * there is nothing to check -- key absent, or (when defer) a template
 * reference to check after substitution. */
static int
lookup(struct flue_fields *f, json_object *map, const char *path,
       const char *key, int defer, char *where, size_t size,
       json_object **value)
{
	*value = NULL;
	if (!json_object_object_get_ex(map, key, value))
		return 0;
	if (defer && flue_fields_deferred(f, *value))
		return 0;
	flue_fields_path(where, size, path, key);
	return 1;
}

int
flue_fields_get_string(struct flue_fields *f, json_object *map,
                       const char *path, const char *key, const char **out)
{
	char where[256];
	json_object *value;

	if (!lookup(f, map, path, key, 1, where, sizeof(where), &value))
		return 0;
	if (flue_fields_type(f, value, map, where, json_type_string, NULL) != 0)
		return FLUE_EINVAL;
	if (*json_object_get_string(value) == '\0')
		return flue_fields_fail(f, value, map, where,
		                        "expected a non-empty string");
	*out = json_object_get_string(value);
	return 0;
}

int
flue_fields_get_int(struct flue_fields *f, json_object *map, const char *path,
                    const char *key, int64_t min, int64_t max, int64_t *out,
                    int *present)
{
	char where[256];
	json_object *value;
	int64_t n;

	if (present != NULL)
		*present = 0;
	if (!lookup(f, map, path, key, 1, where, sizeof(where), &value))
		return 0;
	if (flue_fields_type(f, value, map, where, json_type_int,
	                     "a whole number") != 0)
		return FLUE_EINVAL;
	n = json_object_get_int64(value);
	if (n < min || n > max)
		return flue_fields_fail(f, value, map, where,
		                        "%" PRId64 " is out of range (expected %"
		                        PRId64 " to %" PRId64 ")", n, min, max);
	*out = n;
	if (present != NULL)
		*present = 1;
	return 0;
}

int
flue_fields_get_bool(struct flue_fields *f, json_object *map, const char *path,
                     const char *key, int *out, int *present)
{
	char where[256];
	json_object *value;

	if (present != NULL)
		*present = 0;
	if (!lookup(f, map, path, key, 1, where, sizeof(where), &value))
		return 0;
	if (flue_fields_type(f, value, map, where, json_type_boolean, NULL) != 0)
		return FLUE_EINVAL;
	*out = json_object_get_boolean(value);
	if (present != NULL)
		*present = 1;
	return 0;
}

int
flue_fields_get_enum(struct flue_fields *f, json_object *map, const char *path,
                     const char *key, const char *const *choices,
                     const char **out)
{
	const char *s = NULL, *close;
	char where[256], list[256] = "";
	size_t used = 0;
	int rc;

	rc = flue_fields_get_string(f, map, path, key, &s);
	if (rc != 0 || s == NULL)
		return rc;
	for (size_t i = 0; choices[i] != NULL; i++) {
		int n;

		if (strcmp(s, choices[i]) == 0) {
			*out = choices[i];
			return 0;
		}
		n = snprintf(list + used, sizeof(list) - used, "%s%s",
		             i ? ", " : "", choices[i]);
		if (n > 0 && (size_t)n < sizeof(list) - used)
			used += (size_t)n;
	}
	close = flue_suggest(s, choices, 0);
	flue_fields_path(where, sizeof(where), path, key);
	return flue_fields_fail(f, json_object_object_get(map, key), map, where,
	                        "'%s' is not one of %s%s%s%s", s, list,
	                        close ? " (did you mean '" : "",
	                        close ? close : "", close ? "'?)" : "");
}

int
flue_fields_get_string_list(struct flue_fields *f, json_object *map,
                            const char *path, const char *key,
                            json_object **out)
{
	char where[256], item[300];
	json_object *value;

	if (!lookup(f, map, path, key, 1, where, sizeof(where), &value))
		return 0;
	if (flue_fields_type(f, value, map, where, json_type_array,
	                     "a list of strings") != 0)
		return FLUE_EINVAL;
	for (size_t i = 0; i < json_object_array_length(value); i++) {
		json_object *entry = json_object_array_get_idx(value, i);

		if (flue_fields_deferred(f, entry))
			continue;
		snprintf(item, sizeof(item), "%s[%zu]", where, i);
		if (flue_fields_type(f, entry, value, item, json_type_string,
		                     NULL) != 0)
			return FLUE_EINVAL;
		if (*json_object_get_string(entry) == '\0')
			return flue_fields_fail(f, entry, value, item,
			                        "expected a non-empty string");
	}
	*out = value;
	return 0;
}

int
flue_fields_get_scalar_map(struct flue_fields *f, json_object *map,
                           const char *path, const char *key,
                           json_object **out)
{
	char where[256], item[512];
	json_object *value;

	if (!lookup(f, map, path, key, 0, where, sizeof(where), &value))
		return 0;
	if (flue_fields_type(f, value, map, where, json_type_object, NULL) != 0)
		return FLUE_EINVAL;
	json_object_object_foreach(value, name, entry) {
		json_type type = json_object_get_type(entry);

		if (type == json_type_string || type == json_type_int ||
		    type == json_type_double || type == json_type_boolean)
			continue;
		snprintf(item, sizeof(item), "%s.%s", where, name);
		return flue_fields_fail(f, entry, value, item,
		                        "expected a string, number or true/false, "
		                        "found %s", flue_fields_kind(entry));
	}
	*out = value;
	return 0;
}

int
flue_fields_get_mapping(struct flue_fields *f, json_object *map,
                        const char *path, const char *key, json_object **out)
{
	char where[256];
	json_object *value;

	if (!lookup(f, map, path, key, 0, where, sizeof(where), &value))
		return 0;
	if (flue_fields_type(f, value, map, where, json_type_object, NULL) != 0)
		return FLUE_EINVAL;
	*out = value;
	return 0;
}

int
flue_fields_is_model(const char *s)
{
	const char *slash = strchr(s, '/');

	if (slash == NULL || slash == s || slash[1] == '\0')
		return 0;
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return 0;
	return 1;
}

int
flue_fields_is_env_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}
