/* References in agent files: the frontmatter and body of an agent may
 * refer to the request's payload and to environment variables, and this
 * module puts their values in.
 *
 * Payload references (when FLUE_TEMPLATE_PAYLOAD is set):
 *
 *   {{ payload.a.b[0].c }}   a value inside the payload; the spaces
 *                            inside the braces are optional
 *   {{ payload }}            the whole payload
 *   {{ payload.x | "none" }} a default, used when the value is missing
 *                            or JSON null
 *   {{ "{{" }}               a JSON string, which is its own value: the
 *                            way to write a literal {{
 *
 * A path is `payload` followed by segments, without spaces between them:
 * `.name` (letters, digits, _ and -), `[3]` (an array index, decimal,
 * from 0) or `["any key"]` (a JSON string, for keys with other
 * characters).  At most FLUE_TEMPLATE_MAX_DEPTH segments.
 *
 * A default follows a `|` and is a JSON literal: a string in double
 * quotes with JSON escapes, a number, true, false or null.  It is used
 * when a field or index on the path is missing, when a value on the path
 * is null, and when no payload was given.  A value of the wrong kind on
 * the path (`payload.a.b` where a is a string) is an error even with a
 * default: the path is wrong, not the payload incomplete.
 *
 * Inserted into text, a string goes in as it is; numbers and booleans as
 * JSON text; objects and arrays as compact JSON.  A null or missing value
 * without a default is an error; a `| null` default inserts nothing.
 * Inserted text is never expanded again: a payload string that contains
 * "{{ payload.secret }}" goes in as those characters.
 *
 * `{{` followed (after optional spaces) by a name other than `payload`
 * is an error, so that a misspelt reference is not sent to the model as
 * it is: "unknown reference 'paylod.x': only payload.* can be used here
 * (did you mean payload.x?)".  `{{` followed by anything else (`{{#each}}`,
 * `{{ }}`, `{{ 1 }}`) is text and stays as it is, and so is every brace
 * of a run of three or more (`{{{`).  A reference must end with `}}` on
 * the line where it starts.
 *
 * Environment references (when FLUE_TEMPLATE_ENV is set):
 *
 *   ${NAME}           the variable's value; an error when it is unset,
 *                     empty text when it is set but empty
 *   ${NAME:-text}     text (everything up to the next }, taken as it is)
 *                     when the variable is unset or empty, as in sh
 *   $${               a literal ${
 *
 * NAME is a letter or _ followed by letters, digits and _.  `${` followed
 * by anything else (`${1}`, `${#list[@]}`, `${NAME%.*}`) is text, so that
 * shell code in a prompt survives.  With a flag unset, its references are
 * text too (and `$${` stays `$${`).
 *
 * Errors are FLUE_EINVAL (FLUE_ENOMEM when memory runs out) and name the
 * file, line, column, reference and what is missing:
 *   agents/coder.md:7:12: {{payload.repo}}: the payload has no field
 *   'repo' (it has: prompt, user)
 */
#ifndef FLUE_LIB_TEMPLATE_H
#define FLUE_LIB_TEMPLATE_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* Limits: the output of one expand or expand_tree call, in bytes (an
 * agent file can reference a big payload many times); the segments of
 * one path; the bytes of one reference, from {{ to }} or ${ to }. */
#define FLUE_TEMPLATE_MAX_OUTPUT (1024u * 1024u)
#define FLUE_TEMPLATE_MAX_DEPTH 32
#define FLUE_TEMPLATE_MAX_REF 1024

/* Which references a context substitutes. */
enum {
	FLUE_TEMPLATE_PAYLOAD = 1u << 0,   /* {{ ... }} */
	FLUE_TEMPLATE_ENV = 1u << 1        /* ${NAME}, ${NAME:-text}, $${ */
};

/* Looks up an environment variable: its value [borrowed, valid until the
 * expansion returns] or NULL when it is unset.  name [borrowed]. */
typedef const char *(*flue_template_getenv_fn)(void *arg, const char *name);

struct flue_template_context {
	json_object *payload;            /* [borrowed] NULL: no payload */
	flue_template_getenv_fn getenv;  /* NULL: getenv(3) */
	void *getenv_arg;                /* [borrowed] passed to getenv */
	unsigned flags;                  /* FLUE_TEMPLATE_*: what is
	                                    substituted */
	const char *filename;            /* [borrowed] for messages; NULL:
	                                    "<template>" */
};

/* 1 if text[0..len) holds anything ctx would expand or refuse (a
 * reference, a literal, $${, a misspelt or unterminated reference), else
 * 0.  Used to defer the checks of templated frontmatter values until a
 * payload is known.  ctx and text [borrowed]; text need not be
 * NUL-terminated. */
int flue_template_has_refs(const struct flue_template_context *ctx,
                           const char *text, size_t len);

/* Substitute the references ctx [borrowed] enables in text[0..len)
 * [borrowed, need not be NUL-terminated] into *out [caller-owned,
 * NUL-terminated; NULL on error] and *out_len (may be NULL; the NUL not
 * counted).  line and column (1-based) are where text[0] is in the
 * file, for messages: columns count characters, not bytes, and a
 * newline starts the next line at column 1.  A line of 0 leaves the
 * position out of messages. */
int flue_template_expand(const struct flue_template_context *ctx,
                         const char *text, size_t len, unsigned line,
                         unsigned column, char **out, size_t *out_len,
                         struct flue_error *err);

/* Expand, as ctx [borrowed] says, every string in a YAML-derived tree
 * *tree [caller-owned, changed in place; may be NULL]; object keys are
 * left alone.
 *
 * A string that is exactly one {{ ... }} reference (blanks around it
 * allowed) becomes the referenced value itself, keeping its JSON type:
 * `max_turns: "{{ payload.turns }}"` gives an integer.  The new value is
 * a flue_yaml_copy of the payload's, with the string's position (and the
 * string's line and column on every value inside it); a `| null`
 * default that applies gives JSON null.  Other strings are expanded as
 * text and keep their position.  When the root itself is
 * such a string, *tree is replaced (the old root is released).
 *
 * Errors carry the position of the string (flue_yaml_pos) that holds
 * the reference: the escapes and indentation of a quoted or block scalar
 * make the column inside it unknowable.  On error the tree may be
 * partly expanded. */
int flue_template_expand_tree(const struct flue_template_context *ctx,
                              json_object **tree, struct flue_error *err);

#endif
