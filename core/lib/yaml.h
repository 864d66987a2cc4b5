/* YAML to json-c: flue.yaml and Markdown frontmatter become json-c values
 * that remember where in the file they came from, so that later checks
 * can name file, line and column. */
#ifndef FLUE_LIB_YAML_H
#define FLUE_LIB_YAML_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* Limits of one document.  Nesting counts mappings and sequences (the top
 * one is level 1); values count every mapping, sequence and scalar
 * produced, each use of an alias counting everything it copies. */
#define FLUE_YAML_MAX_DEPTH 64
#define FLUE_YAML_MAX_NODES 100000

/* Where a value came from; 1-based line and column (columns count
 * characters, not bytes).  For a value in a mapping, key_line and
 * key_column are its key's position; otherwise they equal line and
 * column.  A value copied from an alias points at the alias. */
struct flue_yaml_pos {
	unsigned line, column;
	unsigned key_line, key_column;
};

/* Parse one YAML document (text, len bytes, need not be NUL-terminated)
 * into *out [caller-owned]; *out is NULL when the document is empty or
 * `null`.  filename [borrowed] is used only in messages (NULL: "<yaml>");
 * line_offset is added to every line number (frontmatter starts after the
 * opening ---).
 *
 * Plain scalars resolve like YAML 1.2's core schema (null, booleans,
 * 64-bit integers, floats; `yes`/`no` stay strings); quoted and block
 * scalars are strings.  The tags !!str, !!int, !!float, !!bool, !!null
 * (and !!map, !!seq on their own kind) are honoured, any other is an
 * error.  Aliases are copies of their anchored value.  Not supported,
 * each an error: merge keys (<<), non-scalar keys, duplicate keys, more
 * than one document.
 *
 * Errors (FLUE_EINVAL; FLUE_ENOMEM) name file:line:column and what is
 * wrong: "agents/coder.md:4:3: duplicate key 'model' (first at line 2)". */
int flue_yaml_parse(const char *text, size_t len, const char *filename,
                    unsigned line_offset, json_object **out,
                    struct flue_error *err);

/* The position of a value produced by flue_yaml_parse or flue_yaml_copy,
 * or NULL (JSON null values have no object to carry one; values built
 * elsewhere have none).  [borrowed], valid while value lives. */
const struct flue_yaml_pos *flue_yaml_pos(json_object *value);

/* Attach pos (copied) to value, replacing any position it had.  For
 * values the core builds itself (defaults) so that they carry one too.
 * A NULL value is accepted and ignored.  0 or FLUE_ENOMEM. */
int flue_yaml_pos_set(json_object *value, const struct flue_yaml_pos *pos);

/* Deep-copy src into *out [caller-owned], positions included.  Use this,
 * not json_object_deep_copy(src, dst, NULL): json-c refuses to copy values
 * whose userdata it does not know, which is where positions live.
 * A NULL src gives a NULL *out.  0 or FLUE_ENOMEM. */
int flue_yaml_copy(json_object *src, json_object **out,
                   struct flue_error *err);

#endif
