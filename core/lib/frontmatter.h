/* Markdown files with YAML frontmatter (agents, roles, skills): split the
 * file into its YAML and its body, and parse the YAML with positions that
 * count from the top of the file. */
#ifndef FLUE_LIB_FRONTMATTER_H
#define FLUE_LIB_FRONTMATTER_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* The parts of a Markdown file.  Every pointer is [borrowed] from the
 * text given to flue_frontmatter_split. */
struct flue_frontmatter {
	const char *yaml;       /* between the --- lines; NULL when absent */
	size_t yaml_len;
	unsigned yaml_line;     /* 1-based line where the YAML starts; 0 */
	const char *body;       /* after the closing line, or the whole text */
	size_t body_len;
	unsigned body_line;     /* 1-based line where the body starts */
	int present;            /* 1 when the file has frontmatter */
};

/* Split a Markdown file into YAML frontmatter and body.  Frontmatter is
 * present only when the file starts with a line that is exactly "---"
 * (an optional UTF-8 BOM before it, trailing spaces, tabs and CR after
 * it allowed) and a later line is exactly "---" or "..." (the same
 * trailing characters allowed).  Without frontmatter, body is the whole
 * text (BOM included) and body_line 1.  An opening --- without a closing
 * line is an error (FLUE_EINVAL):
 * "coder.md:1: frontmatter opened with --- is never closed".
 * filename [borrowed] is used only in messages (NULL: "<markdown>"). */
int flue_frontmatter_split(const char *text, size_t len, const char *filename,
                           struct flue_frontmatter *out,
                           struct flue_error *err);

/* Split and parse: *out_meta [caller-owned] is the frontmatter as a JSON
 * object, with positions (flue_yaml_pos) whose lines count from the top
 * of the file; an empty object when the frontmatter is absent, empty or
 * `null`.  A frontmatter that is not a mapping is an error.  out_parts
 * (may be NULL) receives the split. */
int flue_frontmatter_parse(const char *text, size_t len, const char *filename,
                           json_object **out_meta,
                           struct flue_frontmatter *out_parts,
                           struct flue_error *err);

#endif
