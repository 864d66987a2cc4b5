/* Agent Skills: SKILL.md frontmatter checked against the format's rules,
 * and skill folders found in the workspace (through the sandbox), the
 * project and flue's install (on the host). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "frontmatter.h"
#include "skills.h"
#include "utf8.h"
#include "yaml.h"

#define SKILL_FILE "SKILL.md"
#define WORKSPACE_SKILLS ".agents/skills"

/* How much of a user's value a message quotes. */

#define ALLOWED_FIELDS \
	"name, description, license, compatibility, metadata, allowed-tools"

static const char *const allowed_fields[] = {
	"name", "description", "license", "compatibility", "metadata",
	"allowed-tools"
};

/* ---- text ------------------------------------------------------------- */

/* The number of code points in s, or (size_t)-1 when s is not valid
 * UTF-8 (overlong forms, surrogates and values past U+10FFFF included). */
static size_t
utf8_length(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0, extra;
	unsigned long cp, min;

	while (i < len) {
		unsigned char c = p[i++];

		if (c < 0x80) {
			n++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			extra = 1, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			extra = 2, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			extra = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return (size_t)-1;
		}
		if (len - i < extra)
			return (size_t)-1;
		for (; extra > 0; extra--, i++) {
			if ((p[i] & 0xC0) != 0x80)
				return (size_t)-1;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return (size_t)-1;
		n++;
	}
	return n;
}

static int
only_whitespace(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (strchr(" \t\r\n\f\v", s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

/* a/b, without doubling a slash a already ends with.  malloc'd. */
static char *
join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int slash = la > 0 && a[la - 1] == '/';
	char *out = malloc(la + lb + 2);

	if (out != NULL)
		snprintf(out, la + lb + 2, "%s%s%s", a, slash ? "" : "/", b);
	return out;
}

/* The folder part of path: "." without a slash, "/" for the root. */
static char *
parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* ---- checking one SKILL.md -------------------------------------------- */

/* The state of one flue_skill_parse call. */
struct checker {
	const char *text;       /* [borrowed] the whole file */
	size_t len;
	const char *path;       /* [borrowed] */
	const struct flue_frontmatter *parts;  /* [borrowed] */
	json_object *meta;      /* [borrowed] the frontmatter */
	struct flue_error *err; /* [borrowed] may be NULL */
};

/* A frontmatter field as text. */
struct field {
	const char *label;      /* [borrowed] the field as messages name it */
	json_object *value;     /* [borrowed] NULL when absent or null */
	int present;            /* the key is in the frontmatter */
	const char *s;          /* [borrowed] the text; NULL for null */
	size_t len;
	unsigned line, column;  /* of the value (the key for null); 0: none */
};

static int fail(const struct checker *c, unsigned line, unsigned column,
                const char *fmt, ...) FLUE_PRINTF(4, 5);

/* Fill the error as "path:line:column: what", or "path: what" when there
 * is no position (FLUE_EINVAL). */
static int
fail(const struct checker *c, unsigned line, unsigned column,
     const char *fmt, ...)
{
	char what[FLUE_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line == 0)
		return flue_error_set(c->err, FLUE_EINVAL, "%s: %s", c->path,
		                      what);
	return flue_error_set(c->err, FLUE_EINVAL, "%s:%u:%u: %s", c->path,
	                      line, column, what);
}

static int
fail_memory(const struct checker *c)
{
	return flue_error_set(c->err, FLUE_ENOMEM, "%s: out of memory",
	                      c->path);
}

static int
fail_too_large(struct flue_error *err, const char *path)
{
	return flue_error_set(err, FLUE_EINVAL, "%s: the file is larger "
	                      "than 1 MiB; keep SKILL.md short and move "
	                      "details into other files of the skill", path);
}

static const char *
kind_of(json_object *value)
{
	switch (json_object_get_type(value)) {
	case json_type_object: return "a mapping";
	case json_type_array: return "a list";
	case json_type_string: return "a string";
	case json_type_int: case json_type_double: return "a number";
	case json_type_boolean: return "a boolean";
	default: return "something else";
	}
}

/* The start of line (1-based) in the file, or NULL. */
static const char *
line_at(const struct checker *c, unsigned line)
{
	const char *p = c->text, *end = c->text + c->len;

	for (unsigned n = 1; n < line; n++) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL)
			return NULL;
		p++;
	}
	return p;
}

/* The line of a top-level key whose value is null: null has no json-c
 * object to carry a position, so the frontmatter's lines are searched
 * for "key:" at their start.  0 when not found (flow style). */
static unsigned
null_key_line(const struct checker *c, const char *key)
{
	const char *p = c->parts->yaml, *end = p + c->parts->yaml_len;
	size_t klen = strlen(key);
	unsigned line = c->parts->yaml_line;

	for (; p < end; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *q;

		if (eol == NULL)
			eol = end;
		q = p;
		if (q < eol && (*q == '"' || *q == '\''))
			q++;
		if ((size_t)(eol - q) >= klen && memcmp(q, key, klen) == 0) {
			q += klen;
			if (q < eol && q > p && *q == *p)
				q++;
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			if (q < eol && *q == ':')
				return line;
		}
		p = eol + 1;
	}
	return 0;
}

/* The characters numbers and booleans are written with. */
static int
is_number_char(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') || ch == '+' || ch == '-' ||
	       ch == '.' || ch == '_';
}

/* A number or boolean as its source spells it (`007`, `1.10`, `True`):
 * json-c would print 7, 1.1000000000000001 and true.  Positions count
 * characters, so the column is walked character by character; a tag
 * before the value is skipped.  0 when the source does not look like a
 * plain scalar there. */
static int
source_text(const struct checker *c, const struct flue_yaml_pos *pos,
            const char **s, size_t *len)
{
	const char *p, *start, *end = c->text + c->len;

	if (pos == NULL || (p = line_at(c, pos->line)) == NULL)
		return 0;
	for (unsigned col = 1; col < pos->column; col++) {
		if (p >= end || *p == '\n')
			return 0;
		p++;
		while (p < end && ((unsigned char)*p & 0xC0) == 0x80)
			p++;
	}
	if (p < end && *p == '!') {
		while (p < end && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	start = p;
	while (p < end && is_number_char(*p))
		p++;
	if (p == start || (p < end && strchr(" \t\r\n,]}#", *p) == NULL))
		return 0;
	*s = start;
	*len = (size_t)(p - start);
	return 1;
}

/* Read key of map (the frontmatter or metadata) into *f; label names
 * it in messages.  Scalars are text: strings as they are, numbers and
 * booleans as written (the format's reference parser reads every scalar
 * as a string).  Mappings and lists are an error. */
static int
read_field(const struct checker *c, json_object *map, const char *key,
           const char *label, struct field *f)
{
	const struct flue_yaml_pos *pos;

	memset(f, 0, sizeof(*f));
	f->label = label;
	f->present = json_object_object_get_ex(map, key, &f->value);
	if (!f->present)
		return 0;
	if (f->value == NULL) {
		f->line = map == c->meta ? null_key_line(c, key) : 0;
		f->column = f->line ? 1 : 0;
		return 0;
	}
	pos = flue_yaml_pos(f->value);
	f->line = pos ? pos->line : 0;
	f->column = pos ? pos->column : 0;
	switch (json_object_get_type(f->value)) {
	case json_type_string:
		f->s = json_object_get_string(f->value);
		f->len = (size_t)json_object_get_string_len(f->value);
		break;
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		if (!source_text(c, pos, &f->s, &f->len)) {
			f->s = json_object_get_string(f->value);
			f->len = strlen(f->s);
		}
		break;
	default:
		return fail(c, f->line, f->column, "%s must be a string, not "
		            "%s", label, kind_of(f->value));
	}
	if (memchr(f->s, '\0', f->len) != NULL)
		return fail(c, f->line, f->column, "%s contains a NUL "
		            "character", label);
	return 0;
}

/* A field of the frontmatter itself. */
static int
top_field(const struct checker *c, const char *key, struct field *f)
{
	return read_field(c, c->meta, key, key, f);
}

static int
check_fields_known(const struct checker *c)
{
	struct json_object_iterator it = json_object_iter_begin(c->meta);
	struct json_object_iterator end = json_object_iter_end(c->meta);
	const struct flue_yaml_pos *pos;
	const char *key;
	unsigned line;
	size_t i, klen;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		for (i = 0; i < FLUE_ARRAY_LEN(allowed_fields); i++)
			if (strcmp(key, allowed_fields[i]) == 0)
				break;
		if (i < FLUE_ARRAY_LEN(allowed_fields))
			continue;
		pos = flue_yaml_pos(json_object_iter_peek_value(&it));
		line = pos ? pos->key_line : null_key_line(c, key);
		klen = strlen(key);
		return fail(c, line, pos ? pos->key_column : 1, "unknown field "
		            "'%.*s%s' (allowed: " ALLOWED_FIELDS ")",
		            flue_quote_len(key, klen), key, flue_quote_more(klen));
	}
	return 0;
}

/* The name: 1-64 lowercase letters, digits and single hyphens, neither
 * first nor last, equal to the folder's name. */
static int
check_name(const struct checker *c, const struct field *f,
           const char *folder)
{
	size_t n, flen = strlen(folder);
	const char *more;
	int shown;

	if (!f->present)
		return fail(c, 0, 0, "missing required field 'name' (the "
		            "skill's folder name, '%.*s%s')",
		            flue_quote_len(folder, flen), folder, flue_quote_more(flen));
	if (f->s == NULL || f->len == 0)
		return fail(c, f->line, f->column, "name is empty; it must be "
		            "the skill's folder name, '%.*s%s'",
		            flue_quote_len(folder, flen), folder, flue_quote_more(flen));
	n = utf8_length(f->s, f->len);
	if (n == (size_t)-1)
		n = f->len;
	if (n > FLUE_SKILL_NAME_MAX)
		return fail(c, f->line, f->column, "name is %zu characters "
		            "long; at most %d are allowed", n,
		            FLUE_SKILL_NAME_MAX);
	shown = flue_quote_len(f->s, f->len);
	more = flue_quote_more(f->len);
	for (size_t i = 0; i < f->len; i++)
		if (!((f->s[i] >= 'a' && f->s[i] <= 'z') ||
		      (f->s[i] >= '0' && f->s[i] <= '9') || f->s[i] == '-'))
			return fail(c, f->line, f->column, "name '%.*s%s' may "
			            "contain only lowercase letters, digits "
			            "and single hyphens", shown, f->s, more);
	if (f->s[0] == '-' || f->s[f->len - 1] == '-')
		return fail(c, f->line, f->column, "name '%.*s%s' must not "
		            "start or end with a hyphen", shown, f->s, more);
	if (memmem(f->s, f->len, "--", 2) != NULL)
		return fail(c, f->line, f->column, "name '%.*s%s' must not "
		            "contain two hyphens in a row", shown, f->s, more);
	if (f->len != flen || memcmp(f->s, folder, flen) != 0)
		return fail(c, f->line, f->column, "name '%.*s%s' does not "
		            "match its folder name '%.*s%s'; they must be "
		            "equal",
		            shown, f->s, more, flue_quote_len(folder, flen), folder,
		            flue_quote_more(flen));
	return 0;
}

/* Free text of at most max code points, not blank. */
static int
check_text(const struct checker *c, const struct field *f, size_t max,
           const char *hint)
{
	size_t n;

	if (f->s == NULL || f->len == 0)
		return fail(c, f->line, f->column, "%s is empty; %s", f->label,
		            hint);
	n = utf8_length(f->s, f->len);
	if (n == (size_t)-1)
		return fail(c, f->line, f->column, "%s is not valid UTF-8",
		            f->label);
	if (only_whitespace(f->s, f->len))
		return fail(c, f->line, f->column, "%s is only whitespace; %s",
		            f->label, hint);
	if (n > max)
		return fail(c, f->line, f->column, "%s is %zu characters long; "
		            "at most %zu are allowed", f->label, n, max);
	return 0;
}

/* metadata: a mapping of names to strings, copied without positions.
 * Absent or null: *out stays NULL. */
static int
check_metadata(const struct checker *c, json_object **out)
{
	char label[FLUE_QUOTE_MAX + 32];
	struct json_object_iterator it, end;
	const struct flue_yaml_pos *pos;
	json_object *map = NULL, *copy, *text;
	struct field value;
	const char *key;
	unsigned line, column;
	size_t klen;
	int rc;

	*out = NULL;
	if (!json_object_object_get_ex(c->meta, "metadata", &map) ||
	    map == NULL)
		return 0;
	pos = flue_yaml_pos(map);
	line = pos ? pos->line : 0;
	column = pos ? pos->column : 0;
	if (!json_object_is_type(map, json_type_object))
		return fail(c, line, column, "metadata must be a mapping of "
		            "names to strings, not %s", kind_of(map));
	copy = json_object_new_object();
	if (copy == NULL)
		return fail_memory(c);
	it = json_object_iter_begin(map);
	end = json_object_iter_end(map);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		klen = strlen(key);
		snprintf(label, sizeof(label), "metadata '%.*s%s'",
		         flue_quote_len(key, klen), key, flue_quote_more(klen));
		rc = read_field(c, map, key, label, &value);
		/* A null has no position of its own: point at the mapping. */
		if (rc == 0 && value.s == NULL)
			rc = fail(c, line, column, "%s has no value; give "
			          "it a string (\"\" for an empty one)", label);
		if (rc != 0) {
			json_object_put(copy);
			return rc;
		}
		text = json_object_new_string_len(value.s, (int)value.len);
		if (text == NULL || json_object_object_add(copy, key,
		                                           text) != 0) {
			json_object_put(text);
			json_object_put(copy);
			return fail_memory(c);
		}
	}
	*out = copy;
	return 0;
}

/* A copy of an optional field's text; NULL when absent or null. */
static int
copy_field(const struct checker *c, const struct field *f, char **out)
{
	*out = NULL;
	if (f->s == NULL)
		return 0;
	*out = strndup(f->s, f->len);
	return *out == NULL ? fail_memory(c) : 0;
}

int
flue_skill_parse(const char *text, size_t len, const char *path,
                 const char *folder_name, enum flue_skill_origin origin,
                 struct flue_skill *out, struct flue_error *err)
{
	struct field name, description, license, compatibility, tools;
	struct flue_frontmatter parts;
	struct flue_skill skill;
	struct checker c;
	json_object *meta = NULL;
	int rc;

	if (out == NULL || path == NULL || folder_name == NULL ||
	    (text == NULL && len > 0))
		return flue_error_set(err, FLUE_EINVAL, "flue_skill_parse: "
		                      "no text, path, folder name or out");
	memset(out, 0, sizeof(*out));
	memset(&skill, 0, sizeof(skill));
	if (text == NULL)
		text = "";
	if (len > FLUE_SKILL_FILE_MAX)
		return fail_too_large(err, path);
	rc = flue_frontmatter_parse(text, len, path, &meta, &parts, err);
	if (rc != 0)
		return rc;
	c.text = text;
	c.len = len;
	c.path = path;
	c.parts = &parts;
	c.meta = meta;
	c.err = err;
	if (!parts.present) {
		rc = fail(&c, 1, 1, "no frontmatter: SKILL.md must start with "
		          "a --- line, then name: and description:, then "
		          "another --- line");
		goto out;
	}
	rc = check_fields_known(&c);
	if (rc == 0)
		rc = top_field(&c, "name", &name);
	if (rc == 0)
		rc = check_name(&c, &name, folder_name);
	if (rc == 0)
		rc = top_field(&c, "description", &description);
	if (rc == 0 && !description.present)
		rc = fail(&c, 0, 0, "missing required field 'description' "
		          "(what the skill does and when to use it)");
	if (rc == 0)
		rc = check_text(&c, &description, FLUE_SKILL_DESCRIPTION_MAX,
		                "say what the skill does and when to use it");
	if (rc == 0)
		rc = top_field(&c, "license", &license);
	if (rc == 0)
		rc = top_field(&c, "compatibility", &compatibility);
	if (rc == 0 && compatibility.s != NULL)
		rc = check_text(&c, &compatibility,
		                FLUE_SKILL_COMPATIBILITY_MAX, "remove it or "
		                "say what the skill needs to run");
	if (rc == 0)
		rc = top_field(&c, "allowed-tools", &tools);
	if (rc == 0)
		rc = check_metadata(&c, &skill.metadata);
	if (rc != 0)
		goto out;

	skill.name = strndup(name.s, name.len);
	skill.description = strndup(description.s, description.len);
	skill.path = strdup(path);
	skill.dir = parent_of(path);
	skill.origin = origin;
	if (skill.name == NULL || skill.description == NULL ||
	    skill.path == NULL || skill.dir == NULL)
		rc = fail_memory(&c);
	if (rc == 0)
		rc = copy_field(&c, &license, &skill.license);
	if (rc == 0)
		rc = copy_field(&c, &compatibility, &skill.compatibility);
	if (rc == 0)
		rc = copy_field(&c, &tools, &skill.allowed_tools);
out:
	json_object_put(meta);
	if (rc != 0) {
		flue_skill_clear(&skill);
		return rc;
	}
	*out = skill;
	return 0;
}

void
flue_skill_clear(struct flue_skill *skill)
{
	if (skill == NULL)
		return;
	free(skill->name);
	free(skill->description);
	free(skill->license);
	free(skill->compatibility);
	free(skill->allowed_tools);
	json_object_put(skill->metadata);
	free(skill->path);
	free(skill->dir);
	memset(skill, 0, sizeof(*skill));
}

const char *
flue_skill_origin_name(enum flue_skill_origin origin)
{
	switch (origin) {
	case FLUE_SKILL_WORKSPACE: return "workspace";
	case FLUE_SKILL_PROJECT: return "project";
	case FLUE_SKILL_BUILTIN: return "builtin";
	default: return "unknown";
	}
}

/* ---- discovery -------------------------------------------------------- */

/* The state of one flue_skills_discover call.  Work uses its own error so
 * that a warning has a message even when the caller passed no err. */
struct discovery {
	const struct flue_skill_sources *src;   /* [borrowed] */
	struct flue_skill *items;               /* [owned] */
	size_t count, cap;
	struct flue_error err;
};

/* One entry of a skills folder. */
struct entry {
	char *name;             /* [owned] */
	uint32_t type;          /* enum flue_file_type; 0 on the host */
};

/* The entries of one skills folder, sorted so that warnings and errors
 * come in the same order whatever order the folder lists in. */
struct entries {
	struct entry *item;     /* [owned] */
	size_t n, cap;
};

static void
warn(struct discovery *d, const char *message)
{
	if (d->src->warn != NULL)
		d->src->warn(d->src->warn_arg, message);
}

static int
discovery_memory(struct discovery *d)
{
	return flue_error_set(&d->err, FLUE_ENOMEM,
	                      "out of memory while finding skills");
}

/* Take skill into the list; it is zeroed either way. */
static int
add_skill(struct discovery *d, struct flue_skill *skill)
{
	struct flue_skill *grown;
	size_t cap;

	if (d->count == d->cap) {
		cap = d->cap ? 2 * d->cap : 16;
		grown = realloc(d->items, cap * sizeof(*grown));
		if (grown == NULL) {
			flue_skill_clear(skill);
			return discovery_memory(d);
		}
		d->items = grown;
		d->cap = cap;
	}
	d->items[d->count++] = *skill;
	memset(skill, 0, sizeof(*skill));
	return 0;
}

/* Keep name unless it is hidden.  1 when out of memory. */
static int
entries_add(struct entries *e, const char *name, uint32_t type)
{
	struct entry *grown;
	size_t cap;

	if (name[0] == '.')
		return 0;
	if (e->n == e->cap) {
		cap = e->cap ? 2 * e->cap : 16;
		grown = realloc(e->item, cap * sizeof(*grown));
		if (grown == NULL)
			return 1;
		e->item = grown;
		e->cap = cap;
	}
	e->item[e->n].name = strdup(name);
	if (e->item[e->n].name == NULL)
		return 1;
	e->item[e->n++].type = type;
	return 0;
}

static void
entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->item[i].name);
	free(e->item);
	memset(e, 0, sizeof(*e));
}

static int
compare_entries(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
	              ((const struct entry *)b)->name);
}

static void
entries_sort(struct entries *e)
{
	if (e->n > 1)
		qsort(e->item, e->n, sizeof(*e->item), compare_entries);
}

/* -- the workspace, through the sandbox -- */

static int
collect_entry(void *payload, const char *name, uint32_t type)
{
	return entries_add(payload, name, type);
}

/* A sandbox failure about one file or folder is the workspace's own
 * business: it becomes a warning and discovery goes on (0).  Anything
 * else (cancelled, timed out, out of memory, the sandbox gone) stops it. */
static int
workspace_trouble(struct discovery *d, int rc)
{
	switch (rc) {
	case FLUE_ENOENT:
	case FLUE_ENOTDIR:
	case FLUE_EISDIR:
	case FLUE_EACCES:
	case FLUE_EINVAL:
		warn(d, d->err.message);
		flue_error_clear(&d->err);
		return 0;
	default:
		return rc;
	}
}

/* Whether path is a folder (following a symlink).  1 yes, 0 no (or
 * gone), negative on a failure that stops discovery. */
static int
workspace_is_dir(struct discovery *d, const char *path)
{
	flue_workspace *ws = d->src->workspace;
	struct flue_error scratch = { 0, "" };
	struct flue_stat st;
	int rc, exists = 0;

	rc = flue_workspace_stat(ws, path, &st, &d->err);
	if (rc == 0)
		return st.type == FLUE_FILE_DIRECTORY;
	/* Plugins need not say ENOENT for a missing path; exists must. */
	if (flue_workspace_exists(ws, path, &exists, &scratch) == 0 &&
	    !exists) {
		flue_error_clear(&d->err);
		return 0;
	}
	return workspace_trouble(d, rc);
}

/* One workspace folder: its SKILL.md, if it has one, checked. */
static int
workspace_skill(struct discovery *d, const char *skills_dir,
                const char *name)
{
	flue_workspace *ws = d->src->workspace;
	char *dir = join(skills_dir, name), *path = NULL;
	struct flue_error scratch = { 0, "" };
	struct flue_bytes bytes = { NULL, 0 };
	struct flue_skill skill;
	struct flue_stat st;
	int rc = 0, exists = 0;

	if (dir == NULL || (path = join(dir, SKILL_FILE)) == NULL) {
		rc = discovery_memory(d);
		goto out;
	}
	rc = flue_workspace_stat(ws, path, &st, &d->err);
	if (rc != 0) {
		if (flue_workspace_exists(ws, path, &exists, &scratch) == 0 &&
		    !exists) {
			flue_error_clear(&d->err);
			rc = 0;
		} else {
			rc = workspace_trouble(d, rc);
		}
		goto out;
	}
	if (st.type != FLUE_FILE_REGULAR)
		goto out;
	if (st.size > FLUE_SKILL_FILE_MAX) {
		fail_too_large(&d->err, path);
		rc = workspace_trouble(d, FLUE_EINVAL);
		goto out;
	}
	rc = flue_workspace_read_file(ws, path, &bytes, &d->err);
	if (rc == 0)
		rc = flue_skill_parse((const char *)bytes.data, bytes.len, path,
		                      name, FLUE_SKILL_WORKSPACE, &skill,
		                      &d->err);
	if (rc == 0)
		rc = add_skill(d, &skill);
	else
		rc = workspace_trouble(d, rc);
out:
	flue_bytes_free(&bytes);
	free(path);
	free(dir);
	return rc;
}

static int
workspace_source(struct discovery *d)
{
	flue_workspace *ws = d->src->workspace;
	const char *root = d->src->cwd;
	struct entries e = { NULL, 0, 0 };
	char *skills_dir;
	int rc, exists = 0;

	if (root == NULL)
		root = flue_workspace_dir(ws);
	if (root == NULL)
		return flue_error_set(&d->err, FLUE_EINVAL, "the workspace has "
		                      "no working directory to find skills in");
	skills_dir = join(root, WORKSPACE_SKILLS);
	if (skills_dir == NULL)
		return discovery_memory(d);
	rc = flue_workspace_exists(ws, skills_dir, &exists, &d->err);
	if (rc != 0)
		rc = workspace_trouble(d, rc);
	if (rc != 0 || !exists)
		goto out;
	rc = workspace_is_dir(d, skills_dir);
	if (rc == 0) {
		flue_error_set(&d->err, FLUE_ENOTDIR, "%s: not a folder, so it "
		               "holds no skills", skills_dir);
		warn(d, d->err.message);
		flue_error_clear(&d->err);
	}
	if (rc <= 0)
		goto out;
	rc = flue_workspace_list_dir(ws, skills_dir, collect_entry, &e,
	                             &d->err);
	if (rc > 0) {
		rc = discovery_memory(d);
		goto out;
	}
	if (rc != 0) {
		rc = workspace_trouble(d, rc);
		goto out;
	}
	entries_sort(&e);
	for (size_t i = 0; i < e.n && rc == 0; i++) {
		if (e.item[i].type == FLUE_FILE_SYMLINK) {
			char *dir = join(skills_dir, e.item[i].name);

			if (dir == NULL) {
				rc = discovery_memory(d);
				break;
			}
			rc = workspace_is_dir(d, dir);
			free(dir);
			if (rc <= 0)
				continue;
			rc = 0;
		} else if (e.item[i].type != FLUE_FILE_DIRECTORY) {
			continue;
		}
		rc = workspace_skill(d, skills_dir, e.item[i].name);
	}
out:
	entries_free(&e);
	free(skills_dir);
	return rc;
}

/* -- the project and the install, on the host -- */

static int
fail_errno(struct discovery *d, int e, const char *verb, const char *path)
{
	return flue_error_set(&d->err, flue_status_from_errno(e),
	                      "cannot %s '%s': %s", verb, path, strerror(e));
}

/* Read a host SKILL.md into *out (malloc'd, NUL-terminated), never more
 * than FLUE_SKILL_FILE_MAX + 1 bytes.  1 when there is no such regular
 * file, so that the folder is passed over. */
static int
read_host_file(struct discovery *d, const char *path, char **out,
               size_t *out_len)
{
	size_t cap, len = 0;
	struct stat st;
	char *buf = NULL, *grown;
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not hang; it is passed over. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 :
		       fail_errno(d, errno, "read", path);
	if (fstat(fd, &st) != 0) {
		rc = fail_errno(d, errno, "read", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = 1;
		goto out;
	}
	if (st.st_size > FLUE_SKILL_FILE_MAX) {
		rc = fail_too_large(&d->err, path);
		goto out;
	}
	/* The size is a hint: the file may change while it is read. */
	cap = (size_t)st.st_size + 2;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = discovery_memory(d);
		goto out;
	}
	for (;;) {
		if (len + 1 == cap) {
			if (len > FLUE_SKILL_FILE_MAX) {
				rc = fail_too_large(&d->err, path);
				goto out;
			}
			cap = cap > FLUE_SKILL_FILE_MAX / 2 ?
			      FLUE_SKILL_FILE_MAX + 2 : 2 * cap;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				rc = discovery_memory(d);
				goto out;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail_errno(d, errno, "read", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
host_skill(struct discovery *d, const char *skills_dir, const char *name,
           enum flue_skill_origin origin)
{
	char *dir = join(skills_dir, name), *path = NULL, *text = NULL;
	struct flue_skill skill;
	struct stat st;
	size_t len = 0;
	int rc;

	if (dir == NULL || (path = join(dir, SKILL_FILE)) == NULL) {
		rc = discovery_memory(d);
		goto out;
	}
	/* stat, not lstat: a symlink to a skill folder is a skill folder. */
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = 0;
		goto out;
	}
	rc = read_host_file(d, path, &text, &len);
	if (rc == 1) {
		rc = 0;
		goto out;
	}
	if (rc == 0)
		rc = flue_skill_parse(text, len, path, name, origin, &skill,
		                      &d->err);
	if (rc == 0)
		rc = add_skill(d, &skill);
out:
	free(text);
	free(path);
	free(dir);
	return rc;
}

static int
host_source(struct discovery *d, const char *skills_dir,
            enum flue_skill_origin origin)
{
	struct entries e = { NULL, 0, 0 };
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	dir = opendir(skills_dir);
	if (dir == NULL)
		return errno == ENOENT ? 0 :
		       fail_errno(d, errno, "list the skills in", skills_dir);
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (de == NULL) {
			if (errno != 0)
				rc = fail_errno(d, errno, "list the skills in",
				                skills_dir);
			break;
		}
		if (entries_add(&e, de->d_name, 0) != 0) {
			rc = discovery_memory(d);
			break;
		}
	}
	closedir(dir);
	entries_sort(&e);
	for (size_t i = 0; i < e.n && rc == 0; i++)
		rc = host_skill(d, skills_dir, e.item[i].name, origin);
	entries_free(&e);
	return rc;
}

/* -- the set -- */

static int
compare_skills(const void *a, const void *b)
{
	const struct flue_skill *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->origin != y->origin)
		return x->origin < y->origin ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int
fail_twice(struct discovery *d, const struct flue_skill *a,
           const struct flue_skill *b)
{
	return flue_error_set(&d->err, FLUE_EINVAL, "skill '%s' is defined "
	                      "twice: %s (%s) and %s (%s)", a->name, a->path,
	                      flue_skill_origin_name(a->origin), b->path,
	                      flue_skill_origin_name(b->origin));
}

int
flue_skills_discover(const struct flue_skill_sources *sources,
                     struct flue_skill_set *out, struct flue_error *err)
{
	struct discovery d;
	const struct flue_skill *a, *b;
	int rc = 0;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (sources == NULL || out == NULL)
		return flue_error_set(err, FLUE_EINVAL, "flue_skills_discover: "
		                      "no sources or no out");
	memset(&d, 0, sizeof(d));
	d.src = sources;
	if (sources->workspace != NULL)
		rc = workspace_source(&d);
	if (rc == 0 && sources->project_dir != NULL)
		rc = host_source(&d, sources->project_dir, FLUE_SKILL_PROJECT);
	if (rc == 0 && sources->builtin_dir != NULL)
		rc = host_source(&d, sources->builtin_dir, FLUE_SKILL_BUILTIN);
	if (rc == 0 && d.count > 1)
		qsort(d.items, d.count, sizeof(*d.items), compare_skills);
	for (size_t i = 1; rc == 0 && i < d.count; i++) {
		a = &d.items[i - 1];
		b = &d.items[i];
		if (strcmp(a->name, b->name) == 0)
			rc = fail_twice(&d, a, b);
	}
	if (rc != 0) {
		struct flue_skill_set partial = { d.items, d.count };

		flue_skill_set_clear(&partial);
		if (err != NULL)
			*err = d.err;
		return rc;
	}
	out->items = d.items;
	out->count = d.count;
	return 0;
}

static int
compare_name(const void *key, const void *item)
{
	return strcmp(key, ((const struct flue_skill *)item)->name);
}

const struct flue_skill *
flue_skill_set_find(const struct flue_skill_set *set, const char *name)
{
	if (set == NULL || set->count == 0 || name == NULL)
		return NULL;
	return bsearch(name, set->items, set->count, sizeof(*set->items),
	               compare_name);
}

void
flue_skill_set_clear(struct flue_skill_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++)
		flue_skill_clear(&set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* ---- activation ------------------------------------------------------- */

int
flue_skill_instructions(const struct flue_skill *skill,
                        flue_workspace *workspace, const char *args_json,
                        char **out, struct flue_error *err)
{
	struct flue_frontmatter parts;
	struct flue_bytes bytes = {0};
	char *text = NULL;
	size_t len = 0;
	int rc, n;

	*out = NULL;
	if (skill->origin == FLUE_SKILL_WORKSPACE) {
		if (workspace == NULL)
			return flue_error_set(err, FLUE_EINVAL, "skill '%s': no "
			                      "sandbox to read it from", skill->name);
		rc = flue_workspace_read_file(workspace, skill->path, &bytes, err);
		if (rc != 0)
			return flue_error_prefix(err, "skill '%s'", skill->name);
		text = (char *)bytes.data;
		len = bytes.len;
	} else {
		struct flue_skill_sources none = {0};
		struct discovery d = {0};

		d.src = &none;
		rc = read_host_file(&d, skill->path, &text, &len);
		if (rc == 1)
			rc = flue_error_set(&d.err, FLUE_ENOENT, "'%s' is gone",
			                    skill->path);
		if (rc != 0) {
			if (err != NULL)
				*err = d.err;
			return flue_error_prefix(err, "skill '%s'", skill->name);
		}
	}
	/* Read again on every activation: an edit made mid-session counts. */
	rc = flue_frontmatter_split(text ? text : "", len, skill->path, &parts,
	                            err);
	if (rc == 0) {
		n = asprintf(out, "Run the skill named \"%s\".\n\n"
		             "<skill_instructions>\n%.*s%s</skill_instructions>\n\n"
		             "<skill_resources>\nThe skill's folder is %s; relative "
		             "paths in its instructions resolve from there.\n"
		             "</skill_resources>%s%s",
		             skill->name, (int)parts.body_len, parts.body,
		             parts.body_len > 0 && parts.body[parts.body_len - 1] !=
		             '\n' ? "\n" : "", skill->dir,
		             args_json != NULL ? "\n\nArguments:\n" : "",
		             args_json != NULL ? args_json : "");
		if (n < 0) {
			*out = NULL;
			rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		}
	}
	if (skill->origin == FLUE_SKILL_WORKSPACE)
		flue_bytes_free(&bytes);
	else
		free(text);
	return rc;
}
