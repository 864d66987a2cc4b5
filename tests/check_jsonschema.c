/* JSON Schema validation: messages, paths, compile errors, numbers, and
 * the official JSON-Schema-Test-Suite for draft 2020-12 and draft-07. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/jsonschema.h"

#define DEBIAN_SUITE_DIR \
	"/usr/share/perl5/auto/share/dist/Test-JSON-Schema-Acceptance/tests"

/* The read tool's parameters, as core/lib/tools.c declares them. */
static const char read_schema[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"path\":{\"type\":\"string\",\"description\":\"file or directory\"},"
	"\"offset\":{\"type\":\"integer\",\"minimum\":1,"
	"\"description\":\"first line (1-based)\"},"
	"\"limit\":{\"type\":\"integer\",\"minimum\":1,"
	"\"description\":\"most lines to return\"}},"
	"\"required\":[\"path\"],\"additionalProperties\":false}";

/* ---- helpers ------------------------------------------------------------ */

static json_object *
parse(const char *text)
{
	json_object *value = json_tokener_parse(text);

	ck_assert_msg(value != NULL || strcmp(text, "null") == 0,
	              "bad JSON in test: %s", text);
	return value;
}

static struct flue_schema *
compile_with(const char *schema_text, const struct flue_schema_options *opt)
{
	json_object *schema = parse(schema_text);
	struct flue_schema *compiled = NULL;
	struct flue_error err = {0};
	int rc;

	rc = flue_schema_compile(schema, opt, &compiled, &err);
	json_object_put(schema);
	ck_assert_msg(rc == 0, "compile of %s failed: %s", schema_text,
	              err.message);
	return compiled;
}

static struct flue_schema *
compile_ok(const char *schema_text)
{
	return compile_with(schema_text, NULL);
}

/* Whether instance_text matches, checked both without and with a
 * report (the two passes must agree). */
static int
matches(const char *schema_text, const char *instance_text)
{
	struct flue_schema *schema = compile_ok(schema_text);
	json_object *instance = parse(instance_text);
	struct flue_schema_report report;
	int quick, full;

	quick = flue_schema_validate(schema, instance, NULL);
	full = flue_schema_validate(schema, instance, &report);
	ck_assert_int_ge(quick, 0);
	ck_assert_int_eq(quick, full);
	ck_assert_uint_eq(report.count == 0, full == 1);
	flue_schema_report_clear(&report);
	json_object_put(instance);
	flue_schema_free(schema);
	return quick;
}

/* The report text for an instance that must not match. */
static char *
report_of(const char *schema_text, const char *instance_text)
{
	struct flue_schema *schema = compile_ok(schema_text);
	json_object *instance = parse(instance_text);
	struct flue_schema_report report;
	char *text;
	int rc;

	rc = flue_schema_validate(schema, instance, &report);
	ck_assert_msg(rc == 0, "%s matched %s (rc %d)", instance_text,
	              schema_text, rc);
	text = flue_schema_report_text(&report);
	ck_assert_ptr_nonnull(text);
	flue_schema_report_clear(&report);
	json_object_put(instance);
	flue_schema_free(schema);
	return text;
}

static void
check_report(const char *schema_text, const char *instance_text,
             const char *want)
{
	char *text = report_of(schema_text, instance_text);

	ck_assert_msg(strcmp(text, want) == 0, "report for %s against %s:\n"
	              "got:\n%swant:\n%s", instance_text, schema_text, text,
	              want);
	free(text);
}

static void
check_compile_error(const char *schema_text, const char *want)
{
	json_object *schema = parse(schema_text);
	struct flue_schema *compiled = (struct flue_schema *)&want;
	struct flue_error err = {0};
	int rc;

	rc = flue_schema_compile(schema, NULL, &compiled, &err);
	json_object_put(schema);
	ck_assert_msg(rc == FLUE_EINVAL, "%s: rc %d (%s)", schema_text, rc,
	              err.message);
	ck_assert_ptr_null(compiled);
	ck_assert_int_eq(err.code, FLUE_EINVAL);
	ck_assert_str_eq(err.message, want);
}

static const struct flue_schema_options strict = {.strict = 1};

static void
check_strict_error(const char *schema_text, const char *want)
{
	json_object *schema = parse(schema_text);
	struct flue_schema *compiled = (struct flue_schema *)&want;
	struct flue_error err = {0};
	int rc;

	/* Without strict, the same schema compiles. */
	flue_schema_free(compile_with(schema_text, NULL));
	rc = flue_schema_compile(schema, &strict, &compiled, &err);
	json_object_put(schema);
	ck_assert_msg(rc == FLUE_EINVAL, "%s: rc %d (%s)", schema_text, rc,
	              err.message);
	ck_assert_ptr_null(compiled);
	ck_assert_str_eq(err.message, want);
}

/* ---- messages and paths ------------------------------------------------- */

START_TEST(tool_arguments_match_the_read_schema)
{
	ck_assert_int_eq(matches(read_schema, "{\"path\":\"a.c\",\"offset\":3}"),
	                 1);
	ck_assert_int_eq(matches(read_schema, "{\"path\":\"a.c\"}"), 1);
	ck_assert_int_eq(matches(read_schema, "{\"path\":\"a.c\",\"offset\":3.0}"),
	                 1);
}
END_TEST

START_TEST(tool_argument_problems_are_explained)
{
	check_report(read_schema, "{\"offset\":0,\"pth\":\"a.c\"}",
	             "  - /offset: must be at least 1\n"
	             "  - (root): must have property 'path'\n"
	             "  - (root): must not have property 'pth' (allowed: "
	             "path, offset, limit)\n");
	check_report(read_schema, "{\"path\":7,\"limit\":2.5}",
	             "  - /path: must be a string\n"
	             "  - /limit: must be an integer\n");
	check_report(read_schema, "[\"a.c\"]", "  - (root): must be an object\n");
}
END_TEST

START_TEST(messages_name_the_limit)
{
	check_report("{\"maxLength\":10}", "\"abcdefghijk\"",
	             "  - (root): must be at most 10 characters\n");
	check_report("{\"minLength\":1}", "\"\"",
	             "  - (root): must be at least 1 character\n");
	check_report("{\"enum\":[\"a\",\"b\"]}", "\"c\"",
	             "  - (root): must be one of \"a\", \"b\"\n");
	check_report("{\"enum\":[1,null,{\"x\":1}]}", "2",
	             "  - (root): must be one of 1, null, {...}\n");
	check_report("{\"const\":\"x\"}", "\"y\"",
	             "  - (root): must be \"x\"\n");
	check_report("{\"pattern\":\"^x$\"}", "\"y\"",
	             "  - (root): must match pattern ^x$\n");
	check_report("{\"type\":[\"string\",\"null\"]}", "1",
	             "  - (root): must be a string or null\n");
	check_report("{\"type\":[\"integer\",\"array\",\"boolean\"]}", "1.5",
	             "  - (root): must be an integer, an array or a boolean\n");
	check_report("{\"maximum\":0.5,\"exclusiveMinimum\":0}", "0",
	             "  - (root): must be greater than 0\n");
	check_report("{\"exclusiveMaximum\":1e-8}", "1",
	             "  - (root): must be less than 1e-08\n");
	check_report("{\"multipleOf\":0.01}", "0.001",
	             "  - (root): must be a multiple of 0.01\n");
	check_report("{\"minItems\":2,\"uniqueItems\":true}", "[1]",
	             "  - (root): must have at least 2 items\n");
	check_report("{\"uniqueItems\":true}", "[1,2,1.0]",
	             "  - (root): must not have duplicate items (items 0 "
	             "and 2 are equal)\n");
	check_report("{\"maxProperties\":1}", "{\"a\":1,\"b\":2}",
	             "  - (root): must have at most 1 property\n");
	check_report("{\"contains\":{\"type\":\"string\"}}", "[1]",
	             "  - (root): must contain at least 1 matching item\n");
	check_report("{\"dependentRequired\":{\"a\":[\"b\"]}}", "{\"a\":1}",
	             "  - (root): must have property 'b' when 'a' is "
	             "present\n");
	check_report("{\"not\":{\"type\":\"null\"}}", "null",
	             "  - (root): must not match the schema in 'not'\n");
	check_report("{\"properties\":{\"x\":false}}", "{\"x\":1}",
	             "  - /x: is not allowed\n");
	check_report("{\"prefixItems\":[true],\"items\":false}", "[1,2]",
	             "  - (root): must have at most 1 item\n");
	check_report("{\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}",
	             "{\"ok\":1,\"Bad\":2}",
	             "  - (root): property name 'Bad' must match pattern "
	             "^[a-z]+$\n");
	check_report("{\"unevaluatedProperties\":false,"
	             "\"properties\":{\"a\":true}}", "{\"a\":1,\"b\":2}",
	             "  - (root): must not have property 'b'\n");
}
END_TEST

START_TEST(instance_paths_are_json_pointers)
{
	const char *schema = "{\"properties\":{\"a/b\":{\"items\":{"
	                     "\"properties\":{\"c~d\":{\"type\":\"string\"}}}}}}";
	json_object *instance = parse("{\"a/b\":[{},{\"c~d\":1}]}");
	struct flue_schema *compiled = compile_ok(schema);
	struct flue_schema_report report;

	ck_assert_int_eq(flue_schema_validate(compiled, instance, &report), 0);
	ck_assert_uint_eq(report.count, 1);
	ck_assert_str_eq(report.problems[0].instance_path, "/a~1b/1/c~0d");
	ck_assert_str_eq(report.problems[0].keyword_path,
	                 "/properties/a~1b/items/properties/c~0d/type");
	ck_assert_str_eq(report.problems[0].message, "must be a string");
	flue_schema_report_clear(&report);
	ck_assert_uint_eq(report.count, 0);
	ck_assert_ptr_null(report.problems);
	json_object_put(instance);
	flue_schema_free(compiled);
}
END_TEST

START_TEST(report_text_puts_the_deepest_first)
{
	check_report("{\"type\":\"object\",\"required\":[\"x\"],"
	             "\"properties\":{\"a\":{\"properties\":{\"b\":"
	             "{\"type\":\"integer\"}}}}}",
	             "{\"a\":{\"b\":\"no\"}}",
	             "  - /a/b: must be an integer\n"
	             "  - (root): must have property 'x'\n");
}
END_TEST

START_TEST(any_of_reports_the_branch_that_got_furthest)
{
	const char *schema = "{\"anyOf\":[{\"type\":\"string\"},"
	                     "{\"type\":\"object\",\"required\":[\"path\"],"
	                     "\"properties\":{\"path\":{\"type\":\"string\"}}}]}";

	check_report(schema, "{}", "  - (root): must have property 'path'\n");
	check_report(schema, "{\"path\":1}", "  - /path: must be a string\n");
	check_report(schema, "1",
	             "  - (root): must be a string or an object\n");
	check_report("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}",
	             "3", "  - (root): must match exactly one schema in oneOf "
	             "(schemas 0 and 1 both match)\n");
	check_report("{\"oneOf\":[{\"type\":\"integer\",\"minimum\":5},"
	             "{\"type\":\"string\"}]}", "3",
	             "  - (root): must be at least 5\n");
}
END_TEST

START_TEST(any_of_gathers_the_types_and_values_wanted)
{
	const char *limit = "{\"anyOf\":[{\"type\":\"integer\",\"minimum\":1},"
	                    "{\"const\":\"all\"},{\"enum\":[\"none\",null]}]}";

	check_report(limit, "\"x\"", "  - (root): must be an integer, \"all\", "
	             "\"none\" or null\n");
	check_report(limit, "0", "  - (root): must be at least 1\n");
	check_report("{\"oneOf\":[{\"const\":\"a\"},{\"const\":\"b\"}]}",
	             "\"c\"", "  - (root): must be \"a\" or \"b\"\n");
	check_report("{\"properties\":{\"mode\":{\"anyOf\":[{\"type\":"
	             "\"boolean\"},{\"$ref\":\"#/$defs/m\"}]}},"
	             "\"$defs\":{\"m\":{\"enum\":[\"r\",\"w\"]}}}",
	             "{\"mode\":\"x\"}",
	             "  - /mode: must be a boolean, \"r\" or \"w\"\n");
}
END_TEST

START_TEST(reports_stop_at_32_problems)
{
	struct flue_schema *schema = compile_ok("{\"items\":{\"type\":"
	                                        "\"string\"}}");
	json_object *instance = json_object_new_array();
	struct flue_schema_report report;

	for (int i = 0; i < 100; i++)
		json_object_array_add(instance, json_object_new_int(i));
	ck_assert_int_eq(flue_schema_validate(schema, instance, &report), 0);
	ck_assert_uint_eq(report.count, 32);
	ck_assert_str_eq(report.problems[31].instance_path, "/31");
	flue_schema_report_clear(&report);
	json_object_put(instance);
	flue_schema_free(schema);
}
END_TEST

START_TEST(empty_report_text_is_empty)
{
	struct flue_schema_report report = {0};
	char *text = flue_schema_report_text(&report);

	ck_assert_str_eq(text, "");
	free(text);
	flue_schema_report_clear(&report);
	flue_schema_report_clear(NULL);
	flue_schema_free(NULL);
}
END_TEST

/* ---- compile errors ----------------------------------------------------- */

START_TEST(malformed_schemas_are_refused_with_a_pointer)
{
	check_compile_error("{\"properties\":{\"a\":{\"type\":3}}}",
	                    "schema at /properties/a/type: must be a string "
	                    "or an array of strings");
	check_compile_error("{\"required\":\"x\"}",
	                    "schema at /required: must be an array of strings");
	check_compile_error("{\"type\":\"text\"}",
	                    "schema at /type: unknown type 'text' (known: null, "
	                    "boolean, object, array, number, string, integer)");
	check_compile_error("{\"items\":{\"$ref\":\"#/$defs/missing\"}}",
	                    "schema at /items/$ref: cannot resolve "
	                    "'#/$defs/missing': no such location");
	check_compile_error("{\"$ref\":\"#nowhere\"}",
	                    "schema at /$ref: cannot resolve '#nowhere': no "
	                    "anchor 'nowhere'");
	check_compile_error("{\"$ref\":\"http://example.com/s.json\"}",
	                    "schema at /$ref: cannot resolve "
	                    "'http://example.com/s.json' (remote references "
	                    "need a resolver)");
	check_compile_error("{\"$ref\":\"other.json\"}",
	                    "schema at /$ref: cannot resolve 'other.json': a "
	                    "relative reference needs a base URI ($id)");
	check_compile_error("{\"minLength\":-1}",
	                    "schema at /minLength: must be a non-negative "
	                    "integer");
	check_compile_error("{\"maxItems\":1.5}",
	                    "schema at /maxItems: must be a non-negative "
	                    "integer");
	check_compile_error("{\"multipleOf\":0}",
	                    "schema at /multipleOf: must be a number greater "
	                    "than 0");
	check_compile_error("{\"allOf\":[]}",
	                    "schema at /allOf: must be a non-empty array of "
	                    "schemas");
	check_compile_error("{\"anyOf\":[{},3]}",
	                    "schema at /anyOf/1: must be an object or a "
	                    "boolean");
	check_compile_error("3", "schema at (root): must be an object or a "
	                    "boolean");
	check_compile_error("{\"pattern\":\"(a\"}",
	                    "schema at /pattern: pattern (a is not a valid "
	                    "regular expression: an unclosed (");
	check_compile_error("{\"patternProperties\":{\"^(?!x)\":{}}}",
	                    "schema at /patternProperties/^(?!x): pattern "
	                    "^(?!x) uses lookahead (?= (?!, which is not "
	                    "supported (only what POSIX extended expressions "
	                    "can say)");
	check_compile_error("{\"$defs\":{\"a\":{\"$id\":\"x#frag\"}}}",
	                    "schema at /$defs/a/$id: must not have a fragment "
	                    "(name subschemas with $anchor)");
	check_compile_error("{\"$anchor\":\"1x\"}",
	                    "schema at /$anchor: must be a name: a letter or "
	                    "'_', then letters, digits, '-', '.' or '_'");
}
END_TEST

/* ---- strict mode -------------------------------------------------------- */

START_TEST(strict_refuses_a_misspelt_keyword)
{
	check_strict_error("{\"type\":\"object\",\"properties\":{\"name\":"
	                   "{\"type\":\"string\",\"minLenght\":1}}}",
	                   "schema at /properties/name/minLenght: unknown "
	                   "JSON Schema keyword 'minLenght' (did you mean "
	                   "'minLength'?)");
	check_strict_error("{\"tpye\":\"string\"}",
	                   "schema at /tpye: unknown JSON Schema keyword "
	                   "'tpye' (did you mean 'type'?)");
	check_strict_error("{\"type\":\"object\",\"additionalProperites\":"
	                   "false}",
	                   "schema at /additionalProperites: unknown JSON "
	                   "Schema keyword 'additionalProperites' (did you "
	                   "mean 'additionalProperties'?)");
	check_strict_error("{\"frobnicate\":true}",
	                   "schema at /frobnicate: unknown JSON Schema "
	                   "keyword 'frobnicate'");
}
END_TEST

START_TEST(strict_looks_into_every_subschema)
{
	check_strict_error("{\"items\":{\"maxItem\":3}}",
	                   "schema at /items/maxItem: unknown JSON Schema "
	                   "keyword 'maxItem' (did you mean 'maxItems'?)");
	check_strict_error("{\"$defs\":{\"a\":{\"requried\":[\"x\"]}}}",
	                   "schema at /$defs/a/requried: unknown JSON Schema "
	                   "keyword 'requried' (did you mean 'required'?)");
	check_strict_error("{\"anyOf\":[{\"type\":\"string\"},"
	                   "{\"minimun\":1}]}",
	                   "schema at /anyOf/1/minimun: unknown JSON Schema "
	                   "keyword 'minimun' (did you mean 'minimum'?)");
	check_strict_error("{\"prefixItems\":[{\"enum\":[1],"
	                   "\"patern\":\"x\"}]}",
	                   "schema at /prefixItems/0/patern: unknown JSON "
	                   "Schema keyword 'patern' (did you mean "
	                   "'pattern'?)");
	check_strict_error("{\"properties\":{\"a\":{\"not\":{\"if\":"
	                   "{\"cosnt\":1}}}}}",
	                   "schema at /properties/a/not/if/cosnt: unknown "
	                   "JSON Schema keyword 'cosnt' (did you mean "
	                   "'const'?)");
	/* Containers nothing refers to, in either draft. */
	check_strict_error("{\"definitions\":{\"a\":{\"formt\":\"date\"}}}",
	                   "schema at /definitions/a/formt: unknown JSON "
	                   "Schema keyword 'formt' (did you mean 'format'?)");
	check_strict_error("{\"$schema\":\"http://json-schema.org/draft-07/"
	                   "schema#\",\"$defs\":{\"a\":{\"tilte\":\"A\"}}}",
	                   "schema at /$defs/a/tilte: unknown JSON Schema "
	                   "keyword 'tilte' (did you mean 'title'?)");
}
END_TEST

START_TEST(strict_knows_the_drafts)
{
	check_strict_error("{\"$schema\":\"http://json-schema.org/draft-07/"
	                   "schema#\",\"prefixItems\":[true]}",
	                   "schema at /prefixItems: 'prefixItems' is not a "
	                   "keyword in draft-07 schemas");
	check_strict_error("{\"items\":true,\"additionalItems\":false}",
	                   "schema at /additionalItems: 'additionalItems' is "
	                   "not a keyword in draft 2020-12 schemas");
	check_strict_error("{\"$recursiveRef\":\"#\"}",
	                   "schema at /$recursiveRef: JSON Schema keyword "
	                   "'$recursiveRef' is not supported");
	flue_schema_free(compile_with("{\"$schema\":\"http://json-schema.org/"
	                              "draft-07/schema#\",\"items\":[true],"
	                              "\"additionalItems\":false,"
	                              "\"dependencies\":{\"a\":[\"b\"]}}",
	                              &strict));
}
END_TEST

START_TEST(strict_leaves_names_and_values_alone)
{
	/* Property names, required names, enum, const, default and
	 * examples values that look like (misspelt) keywords. */
	flue_schema_free(compile_with(
		"{\"type\":\"object\",\"properties\":{"
		"\"minLenght\":{\"type\":\"string\"},"
		"\"type\":{\"enum\":[{\"tpye\":1}]},"
		"\"items\":{\"const\":{\"frobnicate\":true}}},"
		"\"patternProperties\":{\"^tpye$\":true},"
		"\"dependentRequired\":{\"minLenght\":[\"tpye\"]},"
		"\"dependentSchemas\":{\"tpye\":{\"required\":[\"x\"]}},"
		"\"required\":[\"minLenght\",\"tpye\"],"
		"\"default\":{\"minLenght\":1},"
		"\"examples\":[{\"tpye\":\"x\"}],"
		"\"$defs\":{\"tpye\":{\"type\":\"string\"}}}", &strict));
	/* The annotations of the spec. */
	flue_schema_free(compile_with(
		"{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
		"\"$id\":\"https://example.com/s.json\",\"$anchor\":\"top\","
		"\"$dynamicAnchor\":\"meta\",\"$comment\":\"c\","
		"\"title\":\"T\",\"description\":\"D\",\"default\":1,"
		"\"examples\":[1],\"deprecated\":false,\"readOnly\":true,"
		"\"writeOnly\":false,\"format\":\"date\",\"$vocabulary\":{},"
		"\"contentEncoding\":\"base64\","
		"\"contentMediaType\":\"application/json\","
		"\"contentSchema\":{\"type\":\"object\"}}", &strict));
	flue_schema_free(compile_with(read_schema, &strict));
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	struct flue_error err = {0};

	ck_assert_int_eq(flue_schema_compile(NULL, NULL, NULL, &err),
	                 FLUE_EINVAL);
	ck_assert_int_eq(flue_schema_validate(NULL, NULL, NULL), FLUE_EINVAL);
}
END_TEST

/* ---- numbers, strings and patterns -------------------------------------- */

START_TEST(integers_are_values_not_spellings)
{
	ck_assert_int_eq(matches("{\"type\":\"integer\"}", "1.0"), 1);
	ck_assert_int_eq(matches("{\"type\":\"integer\"}", "-0.0"), 1);
	ck_assert_int_eq(matches("{\"type\":\"integer\"}", "1.5"), 0);
	ck_assert_int_eq(matches("{\"type\":\"integer\"}", "1e400"), 0);
	ck_assert_int_eq(matches("{\"type\":\"number\"}", "1"), 1);
	ck_assert_int_eq(matches("{\"type\":\"integer\"}", "\"1\""), 0);
	ck_assert_int_eq(matches("{\"const\":1}", "1.0"), 1);
	ck_assert_int_eq(matches("{\"const\":[1,{\"a\":2.0}]}",
	                         "[1.0,{\"a\":2}]"), 1);
	ck_assert_int_eq(matches("{\"const\":1}", "true"), 0);
	ck_assert_int_eq(matches("{\"enum\":[0]}", "false"), 0);
	ck_assert_int_eq(matches("{\"uniqueItems\":true}", "[1,1.0]"), 0);
	ck_assert_int_eq(matches("{\"uniqueItems\":true}",
	                         "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]"), 0);
}
END_TEST

START_TEST(comparisons_are_exact_across_int_and_double)
{
	ck_assert_int_eq(matches("{\"maximum\":9007199254740993}",
	                         "9007199254740992"), 1);
	ck_assert_int_eq(matches("{\"maximum\":9007199254740992}",
	                         "9007199254740993"), 0);
	ck_assert_int_eq(matches("{\"minimum\":-9223372036854775808}",
	                         "-9223372036854775808"), 1);
	ck_assert_int_eq(matches("{\"maximum\":18446744073709551615}",
	                         "18446744073709551600"), 1);
	ck_assert_int_eq(matches("{\"exclusiveMaximum\":0.3}", "0.3"), 0);
	ck_assert_int_eq(matches("{\"exclusiveMaximum\":1}", "0.9999999999"),
	                 1);
}
END_TEST

START_TEST(multiple_of_is_decimal)
{
	ck_assert_int_eq(matches("{\"multipleOf\":0.01}", "19.99"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":0.1}", "0.3"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":0.0001}", "0.0075"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":0.0001}", "0.00751"), 0);
	ck_assert_int_eq(matches("{\"multipleOf\":1e-8}", "12391239123"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":0.123456789}", "1e308"), 0);
	ck_assert_int_eq(matches("{\"multipleOf\":3}", "-9"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":7}",
	                         "9223372036854775807"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":2}",
	                         "9223372036854775807"), 0);
	ck_assert_int_eq(matches("{\"multipleOf\":641}",
	                         "18446744073709551615"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":2}",
	                         "18446744073709551615"), 0);
	ck_assert_int_eq(matches("{\"multipleOf\":1.5}", "4.5"), 1);
	ck_assert_int_eq(matches("{\"multipleOf\":1.5}", "4"), 0);
	ck_assert_int_eq(matches("{\"multipleOf\":0.5}", "1e20"), 1);
}
END_TEST

START_TEST(lengths_count_code_points)
{
	ck_assert_int_eq(matches("{\"maxLength\":5}", "\"h\\u00e9llo\""), 1);
	ck_assert_int_eq(matches("{\"maxLength\":1}", "\"\\ud83d\\ude00\""), 1);
	ck_assert_int_eq(matches("{\"minLength\":2}", "\"\\ud83d\\ude00\""), 0);
}
END_TEST

START_TEST(patterns_speak_ecma_262)
{
	ck_assert_int_eq(matches("{\"pattern\":\"^\\\\d{3}-\\\\w+$\"}",
	                         "\"123-abc_D\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^\\\\d+$\"}", "\"12a\""), 0);
	ck_assert_int_eq(matches("{\"pattern\":\"\\\\s\"}", "\"a b\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^\\\\S+$\"}", "\"a b\""), 0);
	ck_assert_int_eq(matches("{\"pattern\":\"^(?:ab)+?$\"}", "\"abab\""),
	                 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^[\\\\]\\\\-x]$\"}", "\"]\""),
	                 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^[\\\\]\\\\-x]$\"}", "\"-\""),
	                 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^[^\\\\d]$\"}", "\"5\""), 0);
	ck_assert_int_eq(matches("{\"pattern\":\"^a{2}$\"}", "\"aa\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^a{$\"}", "\"a{\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^\\\\u00e9.$\"}",
	                         "\"\\u00e9\\u00e9\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^.$\"}", "\"\\n\""), 0);
	ck_assert_int_eq(matches("{\"pattern\":\"^(?<year>\\\\d{4})$\"}",
	                         "\"2024\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"a.c\"}", "\"xxabcxx\""), 1);
	ck_assert_int_eq(matches("{\"pattern\":\"^\\\\$\\\\.\\\\*$\"}",
	                         "\"$.*\""), 1);
}
END_TEST

START_TEST(formats_are_annotations_unless_asked)
{
	struct flue_schema_options opt = {.validate_formats = 1};
	static const struct {
		const char *format, *good, *bad;
	} cases[] = {
		{"date-time", "2024-02-29T23:59:60Z", "2023-02-29T10:00:00Z"},
		{"date", "2020-02-29", "2020-02-30"},
		{"time", "10:00:00+02:00", "10:00:00"},
		{"email", "joe@example.com", "joe@@example.com"},
		{"ipv4", "192.168.0.1", "192.168.0.256"},
		{"ipv6", "::ffff:192.168.0.1", "1::2::3"},
		{"uri", "https://example.com/a?b#c", "/relative"},
		{"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2eb8aa08"},
		{"duration", "P1DT2H", "P1H"},
		{"regex", "^(a|b)+$", "(a"},
		{"json-pointer", "/a~1b/0", "a/b"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char schema_text[64], good[128], bad[128];
		struct flue_schema *schema;
		json_object *g, *b;

		snprintf(schema_text, sizeof(schema_text), "{\"format\":\"%s\"}",
		         cases[i].format);
		snprintf(good, sizeof(good), "\"%s\"", cases[i].good);
		snprintf(bad, sizeof(bad), "\"%s\"", cases[i].bad);
		ck_assert_int_eq(matches(schema_text, bad), 1);
		schema = compile_with(schema_text, &opt);
		g = parse(good);
		b = parse(bad);
		ck_assert_msg(flue_schema_validate(schema, g, NULL) == 1,
		              "%s should be a valid %s", good, cases[i].format);
		ck_assert_msg(flue_schema_validate(schema, b, NULL) == 0,
		              "%s should not be a valid %s", bad, cases[i].format);
		json_object_put(g);
		json_object_put(b);
		flue_schema_free(schema);
	}
}
END_TEST

START_TEST(format_problems_name_the_format)
{
	struct flue_schema_options opt = {.validate_formats = 1};
	struct flue_schema *schema = compile_with("{\"format\":\"date\"}", &opt);
	json_object *instance = parse("\"2021-02-29\"");
	struct flue_schema_report report;

	ck_assert_int_eq(flue_schema_validate(schema, instance, &report), 0);
	ck_assert_uint_eq(report.count, 1);
	ck_assert_str_eq(report.problems[0].message, "must be a valid date");
	ck_assert_str_eq(report.problems[0].keyword_path, "/format");
	flue_schema_report_clear(&report);
	json_object_put(instance);
	flue_schema_free(schema);
}
END_TEST

/* ---- references and drafts ---------------------------------------------- */

START_TEST(references_resolve_within_the_document)
{
	const char *schema =
		"{\"$id\":\"https://example.com/root.json\","
		"\"$defs\":{\"pos\":{\"$anchor\":\"pos\",\"minimum\":1},"
		"\"a~b/c%d\":{\"type\":\"string\"},"
		"\"other\":{\"$id\":\"dir/other.json\",\"$defs\":{\"n\":"
		"{\"type\":\"null\"}}}},"
		"\"properties\":{"
		"\"p\":{\"$ref\":\"#pos\"},"
		"\"s\":{\"$ref\":\"#/$defs/a~0b~1c%25d\"},"
		"\"n\":{\"$ref\":\"dir/other.json#/$defs/n\"},"
		"\"m\":{\"$ref\":\"https://example.com/dir/../root.json#pos\"}}}";

	ck_assert_int_eq(matches(schema, "{\"p\":1,\"s\":\"x\",\"n\":null,"
	                         "\"m\":2}"), 1);
	ck_assert_int_eq(matches(schema, "{\"p\":0}"), 0);
	ck_assert_int_eq(matches(schema, "{\"s\":1}"), 0);
	ck_assert_int_eq(matches(schema, "{\"n\":1}"), 0);
	ck_assert_int_eq(matches(schema, "{\"m\":0}"), 0);
}
END_TEST

START_TEST(draft7_follows_its_own_rules)
{
	const char *schema =
		"{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
		"\"definitions\":{\"s\":{\"type\":\"string\"}},"
		"\"properties\":{"
		"\"ref\":{\"$ref\":\"#/definitions/s\",\"maxLength\":1},"
		"\"tuple\":{\"items\":[{\"type\":\"integer\"}],"
		"\"additionalItems\":false},"
		"\"dep\":{\"dependencies\":{\"a\":[\"b\"],\"c\":{\"required\":"
		"[\"d\"]}}}}}";

	/* $ref hides maxLength. */
	ck_assert_int_eq(matches(schema, "{\"ref\":\"long\"}"), 1);
	ck_assert_int_eq(matches(schema, "{\"ref\":1}"), 0);
	ck_assert_int_eq(matches(schema, "{\"tuple\":[1]}"), 1);
	ck_assert_int_eq(matches(schema, "{\"tuple\":[1,2]}"), 0);
	ck_assert_int_eq(matches(schema, "{\"tuple\":[\"x\"]}"), 0);
	ck_assert_int_eq(matches(schema, "{\"dep\":{\"a\":1}}"), 0);
	ck_assert_int_eq(matches(schema, "{\"dep\":{\"a\":1,\"b\":1}}"), 1);
	ck_assert_int_eq(matches(schema, "{\"dep\":{\"c\":1}}"), 0);
	/* In 2020-12, $ref and its siblings both apply. */
	ck_assert_int_eq(matches("{\"$defs\":{\"s\":{\"type\":\"string\"}},"
	                         "\"$ref\":\"#/$defs/s\",\"maxLength\":1}",
	                         "\"long\""), 0);
}
END_TEST

static json_object *
resolve_one(void *payload, const char *uri)
{
	int *calls = payload;

	(*calls)++;
	if (strcmp(uri, "https://example.com/int.json") == 0)
		return json_tokener_parse("{\"type\":\"integer\"}");
	return NULL;
}

START_TEST(remote_references_go_through_the_resolver)
{
	int calls = 0;
	struct flue_schema_options opt = {.resolve = resolve_one,
	                                  .resolve_payload = &calls};
	struct flue_schema *schema;
	struct flue_error err = {0};
	json_object *text, *one;

	schema = compile_with("{\"items\":{\"$ref\":"
	                      "\"https://example.com/int.json\"},"
	                      "\"contains\":{\"$ref\":"
	                      "\"https://example.com/int.json#\"}}", &opt);
	ck_assert_int_eq(calls, 1);
	text = parse("[\"x\"]");
	one = parse("[1]");
	ck_assert_int_eq(flue_schema_validate(schema, text, NULL), 0);
	ck_assert_int_eq(flue_schema_validate(schema, one, NULL), 1);
	json_object_put(text);
	json_object_put(one);
	flue_schema_free(schema);

	text = parse("{\"$ref\":\"https://example.com/none.json\"}");
	ck_assert_int_eq(flue_schema_compile(text, &opt, &schema, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message, "schema at /$ref: cannot resolve "
	                 "'https://example.com/none.json'");
	json_object_put(text);
}
END_TEST

START_TEST(schema_outlives_the_document)
{
	json_object *doc = parse("{\"properties\":{\"a\":{\"enum\":[\"x\"]}}}");
	json_object *instance = parse("{\"a\":\"y\"}");
	struct flue_schema *schema = NULL;
	struct flue_schema_report report;
	struct flue_error err = {0};

	ck_assert_int_eq(flue_schema_compile(doc, NULL, &schema, &err), 0);
	json_object_put(doc);
	ck_assert_int_eq(flue_schema_validate(schema, instance, &report), 0);
	ck_assert_str_eq(report.problems[0].message, "must be \"x\"");
	flue_schema_report_clear(&report);
	json_object_put(instance);
	flue_schema_free(schema);
}
END_TEST

START_TEST(self_reference_without_progress_fails_cleanly)
{
	char *text = report_of("{\"$ref\":\"#\"}", "1");

	ck_assert_msg(strstr(text, "nests more than") != NULL, "%s", text);
	free(text);
}
END_TEST

/* ---- the official test suite -------------------------------------------- */

/* The meta-schemas the suite refers to, which a test cannot fetch:
 * json-schema.org's draft 2020-12 schema and vocabularies, and the
 * draft-07 schema. */
static const struct {
	const char *uri;
	const char *json;
} metaschemas[] = {
	{"https://json-schema.org/draft/2020-12/schema",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/schema\",\"$vocabulary"
	 "\":{\"https://json-schema.org/draft/2020-12/vocab/core\":true,\"ht"
	 "tps://json-schema.org/draft/2020-12/vocab/applicator\":true,\"http"
	 "s://json-schema.org/draft/2020-12/vocab/unevaluated\":true,\"https"
	 "://json-schema.org/draft/2020-12/vocab/validation\":true,\"https:/"
	 "/json-schema.org/draft/2020-12/vocab/meta-data\":true,\"https://js"
	 "on-schema.org/draft/2020-12/vocab/format-annotation\":true,\"https"
	 "://json-schema.org/draft/2020-12/vocab/content\":true},\"$dynamicA"
	 "nchor\":\"meta\",\"title\":\"Core and Validation specifications me"
	 "ta-schema\",\"allOf\":[{\"$ref\":\"meta/core\"},{\"$ref\":\"meta/a"
	 "pplicator\"},{\"$ref\":\"meta/unevaluated\"},{\"$ref\":\"meta/vali"
	 "dation\"},{\"$ref\":\"meta/meta-data\"},{\"$ref\":\"meta/format-an"
	 "notation\"},{\"$ref\":\"meta/content\"}],\"type\":[\"object\",\"bo"
	 "olean\"],\"$comment\":\"This meta-schema also defines keywords tha"
	 "t have appeared in previous drafts in order to prevent incompatibl"
	 "e extensions as they remain in common use.\",\"properties\":{\"def"
	 "initions\":{\"$comment\":\"\\\"definitions\\\" has been replaced b"
	 "y \\\"$defs\\\".\",\"type\":\"object\",\"additionalProperties\":{"
	 "\"$dynamicRef\":\"#meta\"},\"deprecated\":true,\"default\":{}},\"d"
	 "ependencies\":{\"$comment\":\"\\\"dependencies\\\" has been split "
	 "and replaced by \\\"dependentSchemas\\\" and \\\"dependentRequired"
	 "\\\" in order to serve their differing semantics.\",\"type\":\"obj"
	 "ect\",\"additionalProperties\":{\"anyOf\":[{\"$dynamicRef\":\"#met"
	 "a\"},{\"$ref\":\"meta/validation#/$defs/stringArray\"}]},\"depreca"
	 "ted\":true,\"default\":{}},\"$recursiveAnchor\":{\"$comment\":\"\\"
	 "\"$recursiveAnchor\\\" has been replaced by \\\"$dynamicAnchor\\\""
	 ".\",\"$ref\":\"meta/core#/$defs/anchorString\",\"deprecated\":true"
	 "},\"$recursiveRef\":{\"$comment\":\"\\\"$recursiveRef\\\" has been"
	 " replaced by \\\"$dynamicRef\\\".\",\"$ref\":\"meta/core#/$defs/ur"
	 "iReferenceString\",\"deprecated\":true}}}"},
	{"https://json-schema.org/draft/2020-12/meta/core",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/core\",\"$vocabul"
	 "ary\":{\"https://json-schema.org/draft/2020-12/vocab/core\":true},"
	 "\"$dynamicAnchor\":\"meta\",\"title\":\"Core vocabulary meta-schem"
	 "a\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"$"
	 "ref\":\"#/$defs/uriReferenceString\",\"$comment\":\"Non-empty frag"
	 "ments not allowed.\",\"pattern\":\"^[^#]*#?$\"},\"$schema\":{\"$re"
	 "f\":\"#/$defs/uriString\"},\"$ref\":{\"$ref\":\"#/$defs/uriReferen"
	 "ceString\"},\"$anchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$dyn"
	 "amicRef\":{\"$ref\":\"#/$defs/uriReferenceString\"},\"$dynamicAnch"
	 "or\":{\"$ref\":\"#/$defs/anchorString\"},\"$vocabulary\":{\"type\""
	 ":\"object\",\"propertyNames\":{\"$ref\":\"#/$defs/uriString\"},\"a"
	 "dditionalProperties\":{\"type\":\"boolean\"}},\"$comment\":{\"type"
	 "\":\"string\"},\"$defs\":{\"type\":\"object\",\"additionalProperti"
	 "es\":{\"$dynamicRef\":\"#meta\"}}},\"$defs\":{\"anchorString\":{\""
	 "type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},\"ur"
	 "iString\":{\"type\":\"string\",\"format\":\"uri\"},\"uriReferenceS"
	 "tring\":{\"type\":\"string\",\"format\":\"uri-reference\"}}}"},
	{"https://json-schema.org/draft/2020-12/meta/applicator",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/applicator\",\"$v"
	 "ocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/applica"
	 "tor\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Applicator voc"
	 "abulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properti"
	 "es\":{\"prefixItems\":{\"$ref\":\"#/$defs/schemaArray\"},\"items\""
	 ":{\"$dynamicRef\":\"#meta\"},\"contains\":{\"$dynamicRef\":\"#meta"
	 "\"},\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"propert"
	 "ies\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef"
	 "\":\"#meta\"},\"default\":{}},\"patternProperties\":{\"type\":\"ob"
	 "ject\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"prop"
	 "ertyNames\":{\"format\":\"regex\"},\"default\":{}},\"dependentSche"
	 "mas\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef"
	 "\":\"#meta\"},\"default\":{}},\"propertyNames\":{\"$dynamicRef\":"
	 "\"#meta\"},\"if\":{\"$dynamicRef\":\"#meta\"},\"then\":{\"$dynamic"
	 "Ref\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{"
	 "\"$ref\":\"#/$defs/schemaArray\"},\"anyOf\":{\"$ref\":\"#/$defs/sc"
	 "hemaArray\"},\"oneOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"not\":"
	 "{\"$dynamicRef\":\"#meta\"}},\"$defs\":{\"schemaArray\":{\"type\":"
	 "\"array\",\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}}}}"},
	{"https://json-schema.org/draft/2020-12/meta/unevaluated",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/unevaluated\",\"$"
	 "vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/uneval"
	 "uated\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Unevaluated "
	 "applicator vocabulary meta-schema\",\"type\":[\"object\",\"boolean"
	 "\"],\"properties\":{\"unevaluatedItems\":{\"$dynamicRef\":\"#meta"
	 "\"},\"unevaluatedProperties\":{\"$dynamicRef\":\"#meta\"}}}"},
	{"https://json-schema.org/draft/2020-12/meta/validation",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/validation\",\"$v"
	 "ocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/validat"
	 "ion\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Validation voc"
	 "abulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properti"
	 "es\":{\"type\":{\"anyOf\":[{\"$ref\":\"#/$defs/simpleTypes\"},{\"t"
	 "ype\":\"array\",\"items\":{\"$ref\":\"#/$defs/simpleTypes\"},\"min"
	 "Items\":1,\"uniqueItems\":true}]},\"const\":true,\"enum\":{\"type"
	 "\":\"array\",\"items\":true},\"multipleOf\":{\"type\":\"number\","
	 "\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"number\"},\"exclus"
	 "iveMaximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"number"
	 "\"},\"exclusiveMinimum\":{\"type\":\"number\"},\"maxLength\":{\"$r"
	 "ef\":\"#/$defs/nonNegativeInteger\"},\"minLength\":{\"$ref\":\"#/$"
	 "defs/nonNegativeIntegerDefault0\"},\"pattern\":{\"type\":\"string"
	 "\",\"format\":\"regex\"},\"maxItems\":{\"$ref\":\"#/$defs/nonNegat"
	 "iveInteger\"},\"minItems\":{\"$ref\":\"#/$defs/nonNegativeIntegerD"
	 "efault0\"},\"uniqueItems\":{\"type\":\"boolean\",\"default\":false"
	 "},\"maxContains\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minC"
	 "ontains\":{\"$ref\":\"#/$defs/nonNegativeInteger\",\"default\":1},"
	 "\"maxProperties\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minP"
	 "roperties\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"re"
	 "quired\":{\"$ref\":\"#/$defs/stringArray\"},\"dependentRequired\":"
	 "{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#/$defs/"
	 "stringArray\"}}},\"$defs\":{\"nonNegativeInteger\":{\"type\":\"int"
	 "eger\",\"minimum\":0},\"nonNegativeIntegerDefault0\":{\"$ref\":\"#"
	 "/$defs/nonNegativeInteger\",\"default\":0},\"simpleTypes\":{\"enum"
	 "\":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object"
	 "\",\"string\"]},\"stringArray\":{\"type\":\"array\",\"items\":{\"t"
	 "ype\":\"string\"},\"uniqueItems\":true,\"default\":[]}}}"},
	{"https://json-schema.org/draft/2020-12/meta/meta-data",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/meta-data\",\"$vo"
	 "cabulary\":{\"https://json-schema.org/draft/2020-12/vocab/meta-dat"
	 "a\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Meta-data vocabu"
	 "lary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties"
	 "\":{\"title\":{\"type\":\"string\"},\"description\":{\"type\":\"st"
	 "ring\"},\"default\":true,\"deprecated\":{\"type\":\"boolean\",\"de"
	 "fault\":false},\"readOnly\":{\"type\":\"boolean\",\"default\":fals"
	 "e},\"writeOnly\":{\"type\":\"boolean\",\"default\":false},\"exampl"
	 "es\":{\"type\":\"array\",\"items\":true}}}"},
	{"https://json-schema.org/draft/2020-12/meta/format-annotation",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/format-annotation"
	 "\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/"
	 "format-annotation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\""
	 "Format vocabulary meta-schema for annotation results\",\"type\":["
	 "\"object\",\"boolean\"],\"properties\":{\"format\":{\"type\":\"str"
	 "ing\"}}}"},
	{"https://json-schema.org/draft/2020-12/meta/content",
	 "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$i"
	 "d\":\"https://json-schema.org/draft/2020-12/meta/content\",\"$voca"
	 "bulary\":{\"https://json-schema.org/draft/2020-12/vocab/content\":"
	 "true},\"$dynamicAnchor\":\"meta\",\"title\":\"Content vocabulary m"
	 "eta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"c"
	 "ontentEncoding\":{\"type\":\"string\"},\"contentMediaType\":{\"typ"
	 "e\":\"string\"},\"contentSchema\":{\"$dynamicRef\":\"#meta\"}}}"},
	{"http://json-schema.org/draft-07/schema",
	 "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":"
	 "\"http://json-schema.org/draft-07/schema#\",\"title\":\"Core schem"
	 "a meta-schema\",\"definitions\":{\"schemaArray\":{\"type\":\"array"
	 "\",\"minItems\":1,\"items\":{\"$ref\":\"#\"}},\"nonNegativeInteger"
	 "\":{\"type\":\"integer\",\"minimum\":0},\"nonNegativeIntegerDefaul"
	 "t0\":{\"allOf\":[{\"$ref\":\"#/definitions/nonNegativeInteger\"},{"
	 "\"default\":0}]},\"simpleTypes\":{\"enum\":[\"array\",\"boolean\","
	 "\"integer\",\"null\",\"number\",\"object\",\"string\"]},\"stringAr"
	 "ray\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"unique"
	 "Items\":true,\"default\":[]}},\"type\":[\"object\",\"boolean\"],\""
	 "properties\":{\"$id\":{\"type\":\"string\",\"format\":\"uri-refere"
	 "nce\"},\"$schema\":{\"type\":\"string\",\"format\":\"uri\"},\"$ref"
	 "\":{\"type\":\"string\",\"format\":\"uri-reference\"},\"$comment\""
	 ":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"descripti"
	 "on\":{\"type\":\"string\"},\"default\":true,\"readOnly\":{\"type\""
	 ":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array\","
	 "\"items\":true},\"multipleOf\":{\"type\":\"number\",\"exclusiveMin"
	 "imum\":0},\"maximum\":{\"type\":\"number\"},\"exclusiveMaximum\":{"
	 "\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclusive"
	 "Minimum\":{\"type\":\"number\"},\"maxLength\":{\"$ref\":\"#/defini"
	 "tions/nonNegativeInteger\"},\"minLength\":{\"$ref\":\"#/definition"
	 "s/nonNegativeIntegerDefault0\"},\"pattern\":{\"type\":\"string\","
	 "\"format\":\"regex\"},\"additionalItems\":{\"$ref\":\"#\"},\"items"
	 "\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitions/schemaAr"
	 "ray\"}],\"default\":true},\"maxItems\":{\"$ref\":\"#/definitions/n"
	 "onNegativeInteger\"},\"minItems\":{\"$ref\":\"#/definitions/nonNeg"
	 "ativeIntegerDefault0\"},\"uniqueItems\":{\"type\":\"boolean\",\"de"
	 "fault\":false},\"contains\":{\"$ref\":\"#\"},\"maxProperties\":{\""
	 "$ref\":\"#/definitions/nonNegativeInteger\"},\"minProperties\":{\""
	 "$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},\"required\":"
	 "{\"$ref\":\"#/definitions/stringArray\"},\"additionalProperties\":"
	 "{\"$ref\":\"#\"},\"definitions\":{\"type\":\"object\",\"additional"
	 "Properties\":{\"$ref\":\"#\"},\"default\":{}},\"properties\":{\"ty"
	 "pe\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"},\"defaul"
	 "t\":{}},\"patternProperties\":{\"type\":\"object\",\"additionalPro"
	 "perties\":{\"$ref\":\"#\"},\"propertyNames\":{\"format\":\"regex\""
	 "},\"default\":{}},\"dependencies\":{\"type\":\"object\",\"addition"
	 "alProperties\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definiti"
	 "ons/stringArray\"}]}},\"propertyNames\":{\"$ref\":\"#\"},\"const\""
	 ":true,\"enum\":{\"type\":\"array\",\"items\":true},\"type\":{\"any"
	 "Of\":[{\"$ref\":\"#/definitions/simpleTypes\"},{\"type\":\"array\""
	 ",\"items\":{\"$ref\":\"#/definitions/simpleTypes\"},\"minItems\":1"
	 ",\"uniqueItems\":true}]},\"format\":{\"type\":\"string\"},\"conten"
	 "tMediaType\":{\"type\":\"string\"},\"contentEncoding\":{\"type\":"
	 "\"string\"},\"if\":{\"$ref\":\"#\"},\"then\":{\"$ref\":\"#\"},\"el"
	 "se\":{\"$ref\":\"#\"},\"allOf\":{\"$ref\":\"#/definitions/schemaAr"
	 "ray\"},\"anyOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"oneOf"
	 "\":{\"$ref\":\"#/definitions/schemaArray\"},\"not\":{\"$ref\":\"#"
	 "\"}},\"default\":true}"},
};

#define DRAFT7_URI "http://json-schema.org/draft-07/schema#"

/* Formats the validator asserts, whose optional suite files run with
 * validate_formats (idn-hostname is the one it does not). */
static const char *const asserted_formats[] = {
	"date-time", "date", "time", "duration", "email", "idn-email",
	"hostname", "ipv4", "ipv6", "uri", "uri-reference", "iri",
	"iri-reference", "uri-template", "uuid", "regex", "json-pointer",
	"relative-json-pointer", "unknown",
};

struct known {
	char *key;                  /* "draft/file.json: case / test" */
	int seen;                   /* 0: not run, 1: failed, 2: passed */
};

struct run {
	char dir[PATH_MAX];         /* the suite's tests directory */
	char remotes[PATH_MAX];
	struct known *known;
	size_t n_known;
	char **files;               /* "draft/file.json" run so far */
	size_t n_files;
	size_t passed, known_failed, unexpected;
	int per_file;               /* print a line for every file */
	size_t file_passed, file_total;
};

/* Serve http://localhost:1234/ from the suite's remotes folder, and the
 * meta-schemas from memory. */
static json_object *
resolve_remote(void *payload, const char *uri)
{
	static const char local[] = "http://localhost:1234/";
	const struct run *run = payload;
	char path[PATH_MAX * 2];

	for (size_t i = 0; i < sizeof(metaschemas) / sizeof(metaschemas[0]);
	     i++)
		if (strcmp(uri, metaschemas[i].uri) == 0)
			return json_tokener_parse(metaschemas[i].json);
	if (strncmp(uri, local, sizeof(local) - 1) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", run->remotes,
	         uri + sizeof(local) - 1);
	return json_object_from_file(path);
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static FILE *
open_known_failures(void)
{
	static const char name[] = "tests/jsonschema_known_failures.txt";
	const char *srcdir = getenv("FLUE_TEST_SRCDIR");
	char path[PATH_MAX];
	FILE *f;

	if (srcdir != NULL) {
		snprintf(path, sizeof(path), "%s/%s", srcdir, name);
		return fopen(path, "r");
	}
	f = fopen(name, "r");
	if (f == NULL)
		f = fopen("../" "tests/jsonschema_known_failures.txt", "r");
	return f;
}

/* Lines "draft/file.json: case / test  # reason"; blank lines and
 * lines starting with '#' are comments. */
static void
load_known_failures(struct run *run)
{
	FILE *f = open_known_failures();
	char line[2048];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *hash = strstr(line, "  #"), *end;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (hash != NULL)
			*hash = '\0';
		end = line + strlen(line);
		while (end > line && (end[-1] == '\n' || end[-1] == ' '))
			*--end = '\0';
		run->known = realloc(run->known,
		                     (run->n_known + 1) * sizeof(*run->known));
		ck_assert_ptr_nonnull(run->known);
		run->known[run->n_known].key = strdup(line);
		run->known[run->n_known++].seen = 0;
	}
	fclose(f);
}

static void
run_init(struct run *run)
{
	const char *dir = getenv("FLUE_SCHEMA_SUITE_DIR");

	memset(run, 0, sizeof(*run));
	if (dir == NULL || *dir == '\0')
		dir = DEBIAN_SUITE_DIR;
	ck_assert_msg(is_dir(dir), "the JSON Schema test suite is not at %s: "
	              "install libtest-json-schema-acceptance-perl (Debian, "
	              "Ubuntu) or point FLUE_SCHEMA_SUITE_DIR at the tests "
	              "folder of JSON-Schema-Test-Suite", dir);
	snprintf(run->dir, sizeof(run->dir), "%s", dir);
	snprintf(run->remotes, sizeof(run->remotes), "%s/../remotes", dir);
	load_known_failures(run);
}

static void
run_free(struct run *run)
{
	for (size_t i = 0; i < run->n_known; i++)
		free(run->known[i].key);
	free(run->known);
	for (size_t i = 0; i < run->n_files; i++)
		free(run->files[i]);
	free(run->files);
}

static void
record(struct run *run, const char *key, int ok, const char *why)
{
	struct known *k = NULL;

	run->file_total++;
	run->file_passed += ok != 0;
	for (size_t i = 0; i < run->n_known && k == NULL; i++)
		if (strcmp(run->known[i].key, key) == 0)
			k = &run->known[i];
	if (k != NULL) {
		k->seen = ok ? 2 : 1;
		run->known_failed += !ok;
		return;
	}
	if (ok) {
		run->passed++;
		return;
	}
	run->unexpected++;
	fprintf(stderr, "FAIL %s: %s\n", key, why);
}

/* One case's tests against its compiled schema. */
static void
run_tests(struct run *run, const char *prefix, struct flue_schema *schema,
          const char *compile_error, json_object *tests)
{
	size_t n = json_object_array_length(tests);

	for (size_t i = 0; i < n; i++) {
		json_object *test = json_object_array_get_idx(tests, i);
		json_object *data = json_object_object_get(test, "data");
		int valid = json_object_get_boolean(
		        json_object_object_get(test, "valid"));
		struct flue_schema_report report = {0};
		char key[4096], why[512];
		int quick = -1, full = -1, ok;

		snprintf(key, sizeof(key), "%.2047s / %.1500s", prefix,
		         json_object_get_string(json_object_object_get(
		                 test, "description")));
		if (schema == NULL) {
			snprintf(why, sizeof(why), "compile: %.480s",
			         compile_error);
			record(run, key, 0, why);
			continue;
		}
		quick = flue_schema_validate(schema, data, NULL);
		full = flue_schema_validate(schema, data, &report);
		ok = quick == valid && full == quick &&
		     (report.count == 0) == (full == 1);
		snprintf(why, sizeof(why), "expected %s, got %d (with report "
		         "%d, %zu problems%s%s)", valid ? "valid" : "invalid",
		         quick, full, report.count, report.count ? ": " : "",
		         report.count ? report.problems[0].message : "");
		flue_schema_report_clear(&report);
		record(run, key, ok, why);
	}
}

static void
run_file(struct run *run, const char *draft, const char *name, int formats)
{
	struct flue_schema_options opt = {.resolve = resolve_remote,
	                                  .resolve_payload = run,
	                                  .validate_formats = formats};
	char path[PATH_MAX * 2], file[512];
	json_object *cases;
	size_t n;

	snprintf(file, sizeof(file), "%s/%s", draft, name);
	snprintf(path, sizeof(path), "%s/%s", run->dir, file);
	cases = json_object_from_file(path);
	ck_assert_msg(cases != NULL, "cannot read %s", path);
	run->files = realloc(run->files, (run->n_files + 1) *
	                     sizeof(*run->files));
	ck_assert_ptr_nonnull(run->files);
	run->files[run->n_files++] = strdup(file);
	run->file_passed = run->file_total = 0;
	n = json_object_array_length(cases);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cases, i);
		json_object *schema = json_object_object_get(c, "schema");
		struct flue_schema *compiled = NULL;
		struct flue_error err = {0};
		char prefix[2048];

		/* The draft-07 files leave $schema out; the validator's
		 * default is 2020-12. */
		if (strcmp(draft, "draft7") == 0 &&
		    json_object_is_type(schema, json_type_object) &&
		    !json_object_object_get_ex(schema, "$schema", NULL))
			json_object_object_add(schema, "$schema",
			                       json_object_new_string(DRAFT7_URI));
		snprintf(prefix, sizeof(prefix), "%.500s: %.1500s", file,
		         json_object_get_string(json_object_object_get(
		                 c, "description")));
		if (flue_schema_compile(schema, &opt, &compiled, &err) != 0)
			compiled = NULL;
		run_tests(run, prefix, compiled, err.message,
		          json_object_object_get(c, "tests"));
		flue_schema_free(compiled);
	}
	json_object_put(cases);
	/* "draft2020-12 type: 80/80 passed": the file is the keyword. */
	if (run->per_file)
		printf("%s %.*s: %zu/%zu passed\n", draft,
		       (int)(strlen(name) - 5), name, run->file_passed,
		       run->file_total);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.json of draft/sub, in name order. */
static void
run_dir(struct run *run, const char *draft, const char *sub, int formats)
{
	char path[PATH_MAX * 2], name[PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s%s%s", run->dir, draft,
	         *sub ? "/" : "", sub);
	d = opendir(path);
	ck_assert_msg(d != NULL, "cannot list %s", path);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		ck_assert_ptr_nonnull(names);
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%s%s", sub, *sub ? "/" : "",
		         names[i]);
		run_file(run, draft, name, formats);
		free(names[i]);
	}
	free(names);
}

static void
run_formats(struct run *run, const char *draft)
{
	char path[PATH_MAX * 2], name[256];

	for (size_t i = 0; i < sizeof(asserted_formats) /
	     sizeof(asserted_formats[0]); i++) {
		snprintf(name, sizeof(name), "optional/format/%s.json",
		         asserted_formats[i]);
		snprintf(path, sizeof(path), "%s/%s/%s", run->dir, draft, name);
		if (access(path, R_OK) == 0)
			run_file(run, draft, name, 1);
	}
}

/* The optional files that need nothing we leave out: not \p{...}
 * classes (ecmascript-regex.json) nor contentMediaType checks
 * (content.json). */
static void
run_optional(struct run *run, const char *draft)
{
	static const char *const names[] = {
		"bignum", "cross-draft", "dependencies-compatibility",
		"float-overflow", "format-assertion", "no-schema",
		"non-bmp-regex", "refOfUnknownKeyword", "unicode",
	};
	char path[PATH_MAX * 2], name[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(name, sizeof(name), "optional/%s.json", names[i]);
		snprintf(path, sizeof(path), "%s/%s/%s", run->dir, draft, name);
		if (access(path, R_OK) == 0)
			run_file(run, draft, name, 0);
	}
}

/* Print the summary; fail on surprises, including listed failures that
 * now pass or no longer exist, so that the list stays honest. */
static void
run_finish(struct run *run, const char *label)
{
	size_t stale = 0;

	for (size_t i = 0; i < run->n_known; i++) {
		const char *key = run->known[i].key;
		size_t file_len = strcspn(key, ":");
		int ours = 0;

		for (size_t j = 0; j < run->n_files && !ours; j++)
			ours = strlen(run->files[j]) == file_len &&
			       strncmp(run->files[j], key, file_len) == 0;
		if (!ours || run->known[i].seen == 1)
			continue;
		stale++;
		fprintf(stderr, "%s: %s\n", run->known[i].seen == 2 ?
		        "listed as a known failure but passes" :
		        "listed as a known failure but not in the suite", key);
	}
	printf("%s: %zu passed, %zu known failures", label, run->passed,
	       run->known_failed);
	if (run->unexpected > 0)
		printf(", %zu unexpected failures", run->unexpected);
	printf("\n");
	fflush(stdout);
	ck_assert_msg(run->unexpected == 0 && stale == 0, "%s: %zu unexpected "
	              "failures, %zu stale known failures (details on stderr)",
	              label, run->unexpected, stale);
}

START_TEST(suite_draft2020_12)
{
	struct run run;

	run_init(&run);
	run.per_file = 1;
	run_dir(&run, "draft2020-12", "", 0);
	run_finish(&run, "draft2020-12");
	run_free(&run);
}
END_TEST

START_TEST(suite_draft7)
{
	struct run run;

	run_init(&run);
	run.per_file = 1;
	run_dir(&run, "draft7", "", 0);
	run_finish(&run, "draft7");
	run_free(&run);
}
END_TEST

START_TEST(suite_optional)
{
	struct run run;

	run_init(&run);
	run_optional(&run, "draft2020-12");
	run_optional(&run, "draft7");
	run_formats(&run, "draft2020-12");
	run_formats(&run, "draft7");
	run_finish(&run, "optional");
	run_free(&run);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *
jsonschema_suite(void)
{
	Suite *s = suite_create("jsonschema");
	TCase *messages = tcase_create("messages");
	TCase *compiling = tcase_create("compile");
	TCase *values = tcase_create("values");
	TCase *refs = tcase_create("references");
	TCase *official = tcase_create("official");

	tcase_add_test(messages, tool_arguments_match_the_read_schema);
	tcase_add_test(messages, tool_argument_problems_are_explained);
	tcase_add_test(messages, messages_name_the_limit);
	tcase_add_test(messages, instance_paths_are_json_pointers);
	tcase_add_test(messages, report_text_puts_the_deepest_first);
	tcase_add_test(messages, any_of_reports_the_branch_that_got_furthest);
	tcase_add_test(messages, any_of_gathers_the_types_and_values_wanted);
	tcase_add_test(messages, reports_stop_at_32_problems);
	tcase_add_test(messages, empty_report_text_is_empty);
	suite_add_tcase(s, messages);

	tcase_add_test(compiling, malformed_schemas_are_refused_with_a_pointer);
	tcase_add_test(compiling, strict_refuses_a_misspelt_keyword);
	tcase_add_test(compiling, strict_looks_into_every_subschema);
	tcase_add_test(compiling, strict_knows_the_drafts);
	tcase_add_test(compiling, strict_leaves_names_and_values_alone);
	tcase_add_test(compiling, bad_arguments_are_refused);
	suite_add_tcase(s, compiling);

	tcase_add_test(values, integers_are_values_not_spellings);
	tcase_add_test(values, comparisons_are_exact_across_int_and_double);
	tcase_add_test(values, multiple_of_is_decimal);
	tcase_add_test(values, lengths_count_code_points);
	tcase_add_test(values, patterns_speak_ecma_262);
	tcase_add_test(values, formats_are_annotations_unless_asked);
	tcase_add_test(values, format_problems_name_the_format);
	suite_add_tcase(s, values);

	tcase_add_test(refs, references_resolve_within_the_document);
	tcase_add_test(refs, draft7_follows_its_own_rules);
	tcase_add_test(refs, remote_references_go_through_the_resolver);
	tcase_add_test(refs, schema_outlives_the_document);
	tcase_add_test(refs, self_reference_without_progress_fails_cleanly);
	suite_add_tcase(s, refs);

	/* Some two thousand cases, slower under sanitizers and valgrind. */
	tcase_set_timeout(official, 300);
	tcase_add_test(official, suite_draft2020_12);
	tcase_add_test(official, suite_draft7);
	tcase_add_test(official, suite_optional);
	suite_add_tcase(s, official);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jsonschema_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
