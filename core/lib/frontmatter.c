/* Markdown frontmatter: the YAML between a leading --- line and the next
 * --- or ... line, parsed so that positions count from the file's top. */
#include "config.h"

#include <string.h>

#include "common.h"
#include "frontmatter.h"
#include "yaml.h"

#define BOM "\xef\xbb\xbf"
#define BOM_LEN 3

/* Where the line starting at start ends: the offset of its '\n', or len
 * for a last line without one. */
static size_t
line_end(const char *text, size_t len, size_t start)
{
	const char *nl = memchr(text + start, '\n', len - start);

	return nl == NULL ? len : (size_t)(nl - text);
}

/* Whether text[start, end) is the three-character marker followed only
 * by spaces, tabs and CR (editors leave trailing blanks; CRLF files
 * leave the CR). */
static int
is_marker_line(const char *text, size_t start, size_t end,
               const char *marker)
{
	if (end - start < 3 || memcmp(text + start, marker, 3) != 0)
		return 0;
	for (size_t i = start + 3; i < end; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
			return 0;
	return 1;
}

int
flue_frontmatter_split(const char *text, size_t len, const char *filename,
                       struct flue_frontmatter *out, struct flue_error *err)
{
	const char *name = filename ? filename : "<markdown>";
	size_t start = 0, end, yaml_start, next;
	unsigned line;

	if (out == NULL || (text == NULL && len > 0))
		return flue_error_set(err, FLUE_EINVAL, "flue_frontmatter_split: "
		                      "no text or no out");
	if (text == NULL)
		text = "";
	memset(out, 0, sizeof(*out));
	out->body = text;
	out->body_len = len;
	out->body_line = 1;
	if (len >= BOM_LEN && memcmp(text, BOM, BOM_LEN) == 0)
		start = BOM_LEN;
	end = line_end(text, len, start);
	if (!is_marker_line(text, start, end, "---"))
		return 0;
	yaml_start = end < len ? end + 1 : len;
	line = 2;
	for (start = yaml_start; start < len; start = end + 1, line++) {
		end = line_end(text, len, start);
		if (!is_marker_line(text, start, end, "---") &&
		    !is_marker_line(text, start, end, "..."))
			continue;
		next = end < len ? end + 1 : len;
		out->present = 1;
		out->yaml = text + yaml_start;
		out->yaml_len = start - yaml_start;
		out->yaml_line = 2;
		out->body = text + next;
		out->body_len = len - next;
		out->body_line = line + 1;
		return 0;
	}
	return flue_error_set(err, FLUE_EINVAL, "%s:1: frontmatter opened "
	                      "with --- is never closed (end it with a line "
	                      "that is just ---)", name);
}

static const char *
kind_of(json_object *value)
{
	switch (json_object_get_type(value)) {
	case json_type_array: return "a list";
	case json_type_string: return "a string";
	case json_type_int: case json_type_double: return "a number";
	case json_type_boolean: return "a boolean";
	default: return "something else";
	}
}

int
flue_frontmatter_parse(const char *text, size_t len, const char *filename,
                       json_object **out_meta,
                       struct flue_frontmatter *out_parts,
                       struct flue_error *err)
{
	/* An absent or empty frontmatter points at the top of the file. */
	static const struct flue_yaml_pos top = { 1, 1, 1, 1 };
	const char *name = filename ? filename : "<markdown>";
	const struct flue_yaml_pos *pos;
	struct flue_frontmatter parts;
	json_object *meta = NULL;
	int rc;

	if (out_meta == NULL)
		return flue_error_set(err, FLUE_EINVAL,
		                      "flue_frontmatter_parse: no out_meta");
	*out_meta = NULL;
	rc = flue_frontmatter_split(text, len, filename, &parts, err);
	if (rc != 0)
		return rc;
	if (parts.present) {
		/* The YAML's line 1 is the file's line yaml_line. */
		rc = flue_yaml_parse(parts.yaml, parts.yaml_len, name,
		                     parts.yaml_line - 1, &meta, err);
		if (rc != 0)
			return rc;
	}
	if (meta == NULL) {
		meta = json_object_new_object();
		if (meta == NULL || flue_yaml_pos_set(meta, &top) != 0) {
			json_object_put(meta);
			return flue_error_set(err, FLUE_ENOMEM, "%s: out of "
			                      "memory", name);
		}
	} else if (!json_object_is_type(meta, json_type_object)) {
		pos = flue_yaml_pos(meta);
		rc = flue_error_set(err, FLUE_EINVAL, "%s:%u:%u: the "
		                    "frontmatter must be a mapping (key: value "
		                    "lines), not %s", name,
		                    pos ? pos->line : parts.yaml_line,
		                    pos ? pos->column : 1, kind_of(meta));
		json_object_put(meta);
		return rc;
	}
	if (out_parts != NULL)
		*out_parts = parts;
	*out_meta = meta;
	return 0;
}
