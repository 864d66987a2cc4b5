/* JSON Schema validation (draft 2020-12, and draft-07 schemas that say
 * so in $schema), for tool arguments and typed results.  A schema is
 * compiled once and validated many times. */
#ifndef FLUE_LIB_JSONSCHEMA_H
#define FLUE_LIB_JSONSCHEMA_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

struct flue_schema;

/* Resolve a $ref to a document outside the schema (an absolute URI
 * without fragment).  Return a new reference to the document, or NULL
 * when unknown.  Optional. */
typedef json_object *(*flue_schema_resolve_fn)(void *payload,
                                               const char *uri);

struct flue_schema_options {
	flue_schema_resolve_fn resolve;   /* NULL: remote refs fail */
	void *resolve_payload;
	int validate_formats;             /* 1: "format" is an assertion */
	int strict;                       /* 1: refuse unknown keywords */
};

/* Compile schema ([borrowed]; a reference is kept).  A schema that is
 * not one (a keyword with the wrong type, an unresolvable $ref) fails
 * with FLUE_EINVAL and a message naming the keyword's JSON pointer.
 * With strict, so does a schema object with a member that is neither a
 * keyword the validator implements for the schema's draft nor one of
 * the spec's annotations (title, description, default, examples,
 * deprecated, readOnly, writeOnly, $comment, content*, ...): "schema at
 * /properties/name/minLenght: unknown JSON Schema keyword 'minLenght'
 * (did you mean 'minLength'?)".  Only schema positions are checked, not
 * property names nor enum, const or default values; strict also checks
 * the subschemas of $defs and definitions that nothing refers to. */
int flue_schema_compile(json_object *schema,
                        const struct flue_schema_options *options,
                        struct flue_schema **out, struct flue_error *err);
void flue_schema_free(struct flue_schema *schema);

/* One reason an instance does not match. */
struct flue_schema_problem {
	char *instance_path;   /* JSON pointer into the instance, "" = root */
	char *keyword_path;    /* JSON pointer into the schema */
	char *message;         /* "must be an integer", "must have property 'path'" */
};

struct flue_schema_report {
	struct flue_schema_problem *problems;   /* owned */
	size_t count;
};

/* 1 when instance matches, 0 when not (report, when not NULL, lists
 * why: at most 32 problems, the most specific first), or a negative
 * FLUE_E* code on failure (out of memory). */
int flue_schema_validate(const struct flue_schema *schema,
                         json_object *instance,
                         struct flue_schema_report *report);
/* "  - /path: must be a string\n" lines; [caller-owned]. */
char *flue_schema_report_text(const struct flue_schema_report *report);
void flue_schema_report_clear(struct flue_schema_report *report);

#endif
