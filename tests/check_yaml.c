/* YAML to json-c with positions, and Markdown frontmatter. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/frontmatter.h"
#include "../core/lib/yaml.h"

/* ---- helpers ------------------------------------------------------------ */

static json_object *
parse_ok_at(const char *text, unsigned line_offset)
{
	struct flue_error err = {0};
	json_object *value = NULL;
	int rc;

	rc = flue_yaml_parse(text, strlen(text), "t.yaml", line_offset, &value,
	                     &err);
	ck_assert_msg(rc == 0, "parse of <%s> failed: %s", text, err.message);
	return value;
}

static json_object *
parse_ok(const char *text)
{
	return parse_ok_at(text, 0);
}

static void
check_json(const char *text, const char *want)
{
	json_object *value = parse_ok(text);

	ck_assert_ptr_nonnull(value);
	ck_assert_str_eq(json_object_to_json_string_ext(value,
	                 JSON_C_TO_STRING_PLAIN), want);
	json_object_put(value);
}

/* The value of key in the top mapping of text, as plain JSON ("null"
 * for a JSON null). */
static void
check_scalar(const char *text, json_type type, const char *want)
{
	json_object *root = parse_ok(text), *value = NULL;

	ck_assert_ptr_nonnull(root);
	ck_assert(json_object_object_get_ex(root, "v", &value));
	ck_assert_msg(json_object_get_type(value) == type,
	              "<%s>: type %s, want %s", text,
	              json_type_to_name(json_object_get_type(value)),
	              json_type_to_name(type));
	ck_assert_str_eq(json_object_to_json_string_ext(value,
	                 JSON_C_TO_STRING_PLAIN), want);
	json_object_put(root);
}

static void
check_error_in(const char *text, size_t len, const char *file,
               unsigned line_offset, const char *want)
{
	struct flue_error err = {0};
	json_object *value = (json_object *)&err;   /* must be reset */
	int rc;

	rc = flue_yaml_parse(text, len, file, line_offset, &value, &err);
	ck_assert_msg(rc == FLUE_EINVAL, "<%s>: rc %d (%s)", text, rc,
	              err.message);
	ck_assert_int_eq(err.code, FLUE_EINVAL);
	ck_assert_ptr_null(value);
	ck_assert_str_eq(err.message, want);
}

static void
check_error(const char *text, const char *want)
{
	check_error_in(text, strlen(text), "t.yaml", 0, want);
}

static void
check_pos(json_object *value, unsigned line, unsigned column,
          unsigned key_line, unsigned key_column)
{
	const struct flue_yaml_pos *pos = flue_yaml_pos(value);

	ck_assert_ptr_nonnull(pos);
	ck_assert_uint_eq(pos->line, line);
	ck_assert_uint_eq(pos->column, column);
	ck_assert_uint_eq(pos->key_line, key_line);
	ck_assert_uint_eq(pos->key_column, key_column);
}

static json_object *
member(json_object *obj, const char *key)
{
	json_object *value = NULL;

	ck_assert_msg(json_object_object_get_ex(obj, key, &value),
	              "no key %s", key);
	return value;
}

/* ---- structure ---------------------------------------------------------- */

START_TEST(nested_maps_and_lists_round_trip)
{
	check_json("name: coder\n"
	           "model:\n"
	           "  id: claude\n"
	           "  options: {temperature: 0.5, tools: [read, write]}\n"
	           "steps:\n"
	           "  - plan\n"
	           "  - run: make\n"
	           "    retries: 2\n"
	           "  - [a, [b, c]]\n"
	           "  - []\n"
	           "  - {}\n",
	           "{\"name\":\"coder\",\"model\":{\"id\":\"claude\","
	           "\"options\":{\"temperature\":0.5,\"tools\":[\"read\","
	           "\"write\"]}},\"steps\":[\"plan\",{\"run\":\"make\","
	           "\"retries\":2},[\"a\",[\"b\",\"c\"]],[],{}]}");
	/* Key order is the file's. */
	check_json("z: 1\na: 2\nm: 3\n", "{\"z\":1,\"a\":2,\"m\":3}");
	/* A top-level list and a top-level scalar. */
	check_json("- 1\n- two\n", "[1,\"two\"]");
	check_json("just text", "\"just text\"");
	/* Keys are text whatever they look like. */
	check_json("1: a\ntrue: b\nnull: c\n\"x y\": d\n",
	           "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\",\"x y\":\"d\"}");
	/* A quoted << is an ordinary key. */
	check_json("\"<<\": 1\n", "{\"<<\":1}");
}
END_TEST

START_TEST(empty_document_gives_null)
{
	static const char *const empty[] = {
		"", "\n\n", "# only a comment\n", "---\n", "---\n...\n",
		"null", "~", "NULL\n", "\xef\xbb\xbf",
	};
	struct flue_error err = {0};

	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		json_object *value = (json_object *)&err;

		ck_assert_int_eq(flue_yaml_parse(empty[i], strlen(empty[i]),
		                 "t.yaml", 0, &value, &err), 0);
		ck_assert_ptr_null(value);
	}
	/* NULL text with no length is an empty document too. */
	{
		json_object *value = (json_object *)&err;

		ck_assert_int_eq(flue_yaml_parse(NULL, 0, NULL, 0, &value,
		                 &err), 0);
		ck_assert_ptr_null(value);
	}
}
END_TEST

START_TEST(text_need_not_be_nul_terminated)
{
	static const char text[] = "a: 1\nb: [x]\nGARBAGE: [";
	struct flue_error err = {0};
	json_object *value = NULL;

	ck_assert_int_eq(flue_yaml_parse(text, 12, "t.yaml", 0, &value, &err),
	                 0);
	ck_assert_str_eq(json_object_to_json_string_ext(value,
	                 JSON_C_TO_STRING_PLAIN), "{\"a\":1,\"b\":[\"x\"]}");
	json_object_put(value);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	struct flue_error err = {0};
	json_object *value = NULL;

	ck_assert_int_eq(flue_yaml_parse("a", 1, "t", 0, NULL, &err),
	                 FLUE_EINVAL);
	ck_assert_int_eq(flue_yaml_parse(NULL, 3, "t", 0, &value, &err),
	                 FLUE_EINVAL);
	ck_assert_ptr_null(value);
	/* A missing file name still gives a usable message. */
	/* libyaml puts the end of a stream without a final newline on the
	 * next line. */
	check_error_in("a: [", 4, NULL, 0,
	               "<yaml>:2:1: did not find expected node content "
	               "while parsing a flow node");
}
END_TEST

/* ---- scalars ------------------------------------------------------------ */

START_TEST(plain_scalars_resolve_like_the_core_schema)
{
	static const char *const nulls[] = {
		"v: null", "v: Null", "v: NULL", "v: ~", "v:", "v: \n",
	};
	json_object *root, *value;

	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		check_scalar(nulls[i], json_type_null, "null");

	check_scalar("v: true", json_type_boolean, "true");
	check_scalar("v: True", json_type_boolean, "true");
	check_scalar("v: TRUE", json_type_boolean, "true");
	check_scalar("v: false", json_type_boolean, "false");
	check_scalar("v: False", json_type_boolean, "false");
	check_scalar("v: FALSE", json_type_boolean, "false");

	check_scalar("v: 42", json_type_int, "42");
	check_scalar("v: -7", json_type_int, "-7");
	check_scalar("v: +5", json_type_int, "5");
	check_scalar("v: 007", json_type_int, "7");
	check_scalar("v: 0", json_type_int, "0");
	check_scalar("v: 0x1F", json_type_int, "31");
	check_scalar("v: 0xff", json_type_int, "255");
	check_scalar("v: 0o17", json_type_int, "15");
	check_scalar("v: 9223372036854775807", json_type_int,
	             "9223372036854775807");
	check_scalar("v: -9223372036854775808", json_type_int,
	             "-9223372036854775808");
	check_scalar("v: 0x7FFFFFFFFFFFFFFF", json_type_int,
	             "9223372036854775807");

	check_scalar("v: 1e3", json_type_double, "1000.0");
	check_scalar("v: 2.5", json_type_double, "2.5");
	check_scalar("v: -0.25", json_type_double, "-0.25");
	check_scalar("v: .5", json_type_double, "0.5");
	check_scalar("v: 1.", json_type_double, "1.0");
	check_scalar("v: +.5E+2", json_type_double, "50.0");
	check_scalar("v: 1.5e-3", json_type_double, "0.0015");

	root = parse_ok("a: .inf\nb: -.Inf\nc: +.INF\nd: .nan\ne: .NaN\n");
	value = member(root, "a");
	ck_assert(json_object_is_type(value, json_type_double));
	ck_assert(isinf(json_object_get_double(value)));
	ck_assert(json_object_get_double(value) > 0);
	ck_assert(json_object_get_double(member(root, "b")) < 0);
	ck_assert(isinf(json_object_get_double(member(root, "b"))));
	ck_assert(isinf(json_object_get_double(member(root, "c"))));
	ck_assert(isnan(json_object_get_double(member(root, "d"))));
	ck_assert(isnan(json_object_get_double(member(root, "e"))));
	json_object_put(root);

	/* YAML 1.1 spellings and near misses stay text. */
	check_scalar("v: yes", json_type_string, "\"yes\"");
	check_scalar("v: no", json_type_string, "\"no\"");
	check_scalar("v: on", json_type_string, "\"on\"");
	check_scalar("v: tRUE", json_type_string, "\"tRUE\"");
	check_scalar("v: nULL", json_type_string, "\"nULL\"");
	check_scalar("v: 1_000", json_type_string, "\"1_000\"");
	check_scalar("v: 0X1F", json_type_string, "\"0X1F\"");
	check_scalar("v: 0x", json_type_string, "\"0x\"");
	check_scalar("v: 0o8", json_type_string, "\"0o8\"");
	check_scalar("v: 0b101", json_type_string, "\"0b101\"");
	check_scalar("v: -0x10", json_type_string, "\"-0x10\"");
	check_scalar("v: 1e", json_type_string, "\"1e\"");
	check_scalar("v: .", json_type_string, "\".\"");
	check_scalar("v: +", json_type_string, "\"+\"");
	check_scalar("v: -x", json_type_string, "\"-x\"");
	check_scalar("v: .infinity", json_type_string, "\".infinity\"");
	check_scalar("v: 1.2.3", json_type_string, "\"1.2.3\"");
	check_scalar("v: 12:30", json_type_string, "\"12:30\"");
	check_scalar("v: hello world", json_type_string, "\"hello world\"");
}
END_TEST

START_TEST(quoted_scalars_are_always_strings)
{
	check_scalar("v: \"true\"", json_type_string, "\"true\"");
	check_scalar("v: 'false'", json_type_string, "\"false\"");
	check_scalar("v: \"0x1F\"", json_type_string, "\"0x1F\"");
	check_scalar("v: '1e3'", json_type_string, "\"1e3\"");
	check_scalar("v: \"-7\"", json_type_string, "\"-7\"");
	check_scalar("v: \"~\"", json_type_string, "\"~\"");
	check_scalar("v: 'null'", json_type_string, "\"null\"");
	check_scalar("v: \"\"", json_type_string, "\"\"");
	check_scalar("v: ''", json_type_string, "\"\"");
	check_scalar("v: '.inf'", json_type_string, "\".inf\"");
	/* Escapes, including a NUL that the string keeps. */
	check_scalar("v: \"a\\tb\\u00e9\"", json_type_string,
	             "\"a\\tb\xc3\xa9\"");
	check_scalar("v: 'it''s'", json_type_string, "\"it's\"");
	{
		json_object *root = parse_ok("v: \"a\\0b\"");

		ck_assert_int_eq(json_object_get_string_len(member(root, "v")),
		                 3);
		ck_assert(memcmp(json_object_get_string(member(root, "v")),
		                 "a\0b", 3) == 0);
		json_object_put(root);
	}
}
END_TEST

START_TEST(block_scalars_are_strings)
{
	check_json("a: |\n"
	           "  line one\n"
	           "    indented\n"
	           "  line three\n"
	           "\n"
	           "b: >\n"
	           "  folded\n"
	           "  together\n"
	           "\n"
	           "  new paragraph\n"
	           "c: |-\n"
	           "  strip\n"
	           "\n"
	           "d: |+\n"
	           "  keep\n"
	           "\n"
	           "e: >-\n"
	           "  folded\n"
	           "  stripped\n"
	           "f: |\n"
	           "  123\n"
	           "g: >\n"
	           "  true\n",
	           "{\"a\":\"line one\\n  indented\\nline three\\n\","
	           "\"b\":\"folded together\\nnew paragraph\\n\","
	           "\"c\":\"strip\",\"d\":\"keep\\n\\n\","
	           "\"e\":\"folded stripped\",\"f\":\"123\\n\","
	           "\"g\":\"true\\n\"}");
	/* An explicit indentation indicator. */
	check_json("a: |2\n   three spaces\n", "{\"a\":\" three spaces\\n\"}");
}
END_TEST

START_TEST(explicit_tags_are_honoured)
{
	check_scalar("v: !!str 1", json_type_string, "\"1\"");
	check_scalar("v: !!str true", json_type_string, "\"true\"");
	check_scalar("v: !!str", json_type_string, "\"\"");
	check_scalar("v: !!str ~", json_type_string, "\"~\"");
	check_scalar("v: !!int \"0x10\"", json_type_int, "16");
	check_scalar("v: !!int -3", json_type_int, "-3");
	check_scalar("v: !!float 1", json_type_double, "1.0");
	check_scalar("v: !!float '2.5'", json_type_double, "2.5");
	check_scalar("v: !!bool \"true\"", json_type_boolean, "true");
	check_scalar("v: !!bool False", json_type_boolean, "false");
	check_scalar("v: !!null ''", json_type_null, "null");
	check_scalar("v: !!null ~", json_type_null, "null");
	check_scalar("v: !<tag:yaml.org,2002:int> 9", json_type_int, "9");
	check_json("m: !!map {a: 1}\ns: !!seq [1]\n!!str k: v\n",
	           "{\"m\":{\"a\":1},\"s\":[1],\"k\":\"v\"}");
}
END_TEST

/* ---- positions ---------------------------------------------------------- */

static const char positions_doc[] =
	"name: coder\n"             /* 1 */
	"model:\n"                  /* 2 */
	"  id: \"x\"\n"             /* 3 */
	"  temp: 0.5\n"             /* 4 */
	"tags:\n"                   /* 5 */
	"  - a\n"                   /* 6 */
	"  - {k: true}\n"           /* 7 */
	"prompt: |\n"               /* 8 */
	"  hello\n"                 /* 9 */
	"flow: [1, 22, 333]\n";     /* 10 */

static void
check_positions(unsigned off)
{
	json_object *root = parse_ok_at(positions_doc, off);
	json_object *model, *tags, *item, *flow;

	check_pos(root, 1 + off, 1, 1 + off, 1);
	check_pos(member(root, "name"), 1 + off, 7, 1 + off, 1);
	model = member(root, "model");
	check_pos(model, 3 + off, 3, 2 + off, 1);
	check_pos(member(model, "id"), 3 + off, 7, 3 + off, 3);
	check_pos(member(model, "temp"), 4 + off, 9, 4 + off, 3);
	tags = member(root, "tags");
	check_pos(tags, 6 + off, 3, 5 + off, 1);
	/* In a sequence the key position is the value's own. */
	check_pos(json_object_array_get_idx(tags, 0), 6 + off, 5, 6 + off, 5);
	item = json_object_array_get_idx(tags, 1);
	check_pos(item, 7 + off, 5, 7 + off, 5);
	check_pos(member(item, "k"), 7 + off, 9, 7 + off, 6);
	/* A block scalar starts at its indicator. */
	check_pos(member(root, "prompt"), 8 + off, 9, 8 + off, 1);
	flow = member(root, "flow");
	check_pos(flow, 10 + off, 7, 10 + off, 1);
	check_pos(json_object_array_get_idx(flow, 0), 10 + off, 8, 10 + off, 8);
	check_pos(json_object_array_get_idx(flow, 1), 10 + off, 11,
	          10 + off, 11);
	check_pos(json_object_array_get_idx(flow, 2), 10 + off, 15,
	          10 + off, 15);
	json_object_put(root);
}

START_TEST(positions_of_values_and_keys)
{
	check_positions(0);
}
END_TEST

START_TEST(positions_with_line_offset)
{
	check_positions(10);
	check_positions(1);
}
END_TEST

START_TEST(positions_count_characters_and_skip_a_bom)
{
	json_object *root;

	/* The BOM is not a column; "é" is one column, not two. */
	root = parse_ok("\xef\xbb\xbf" "a: 1\n\xc3\xa9t\xc3\xa9: [x, y]\n");
	check_pos(member(root, "a"), 1, 4, 1, 1);
	check_pos(json_object_array_get_idx(member(root, "\xc3\xa9t\xc3\xa9"),
	                                    1), 2, 10, 2, 10);
	json_object_put(root);
	/* Null values have nothing to carry a position. */
	ck_assert_ptr_null(flue_yaml_pos(NULL));
}
END_TEST

/* ---- aliases ------------------------------------------------------------ */

START_TEST(aliases_copy_the_anchored_value)
{
	json_object *root, *base, *copy;

	root = parse_ok("base: &b\n"              /* 1 */
	                "  model: m1\n"           /* 2 */
	                "  tools: [read]\n"       /* 3 */
	                "one: *b\n"               /* 4 */
	                "two:\n"                  /* 5 */
	                "  - *b\n"                /* 6 */
	                "word: &w hello\n"        /* 7 */
	                "again: *w\n"             /* 8 */
	                "nothing: &n\n"           /* 9 */
	                "still: *n\n");           /* 10 */
	ck_assert_str_eq(json_object_to_json_string_ext(root,
	                 JSON_C_TO_STRING_PLAIN),
	                 "{\"base\":{\"model\":\"m1\",\"tools\":[\"read\"]},"
	                 "\"one\":{\"model\":\"m1\",\"tools\":[\"read\"]},"
	                 "\"two\":[{\"model\":\"m1\",\"tools\":[\"read\"]}],"
	                 "\"word\":\"hello\",\"again\":\"hello\","
	                 "\"nothing\":null,\"still\":null}");
	base = member(root, "base");
	copy = member(root, "one");
	/* A copy, not a shared object: changing one leaves the other. */
	ck_assert_ptr_ne(base, copy);
	ck_assert_ptr_ne(member(base, "tools"), member(copy, "tools"));
	json_object_object_add(copy, "model", json_object_new_string("m2"));
	ck_assert_str_eq(json_object_get_string(member(base, "model")), "m1");
	/* The original keeps its positions (a node starts at its anchor);
	 * the copy points at the alias. */
	check_pos(base, 1, 7, 1, 1);
	check_pos(member(base, "tools"), 3, 10, 3, 3);
	check_pos(copy, 4, 6, 4, 1);
	check_pos(member(copy, "tools"), 4, 6, 4, 6);
	check_pos(json_object_array_get_idx(member(copy, "tools"), 0),
	          4, 6, 4, 6);
	check_pos(json_object_array_get_idx(member(root, "two"), 0),
	          6, 5, 6, 5);
	check_pos(member(root, "word"), 7, 7, 7, 1);
	check_pos(member(root, "again"), 8, 8, 8, 1);
	json_object_put(root);
}
END_TEST

START_TEST(anchors_can_be_redefined_and_put_on_keys)
{
	check_json("a: &x 1\nb: *x\nc: &x 2\nd: *x\n",
	           "{\"a\":1,\"b\":1,\"c\":2,\"d\":2}");
	check_json("&k key: 1\nother: *k\n",
	           "{\"key\":1,\"other\":\"key\"}");
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(duplicate_key_names_both_lines)
{
	check_error_in("name: coder\nmodel: a\ntools: []\nmodel: b\n",
	               strlen("name: coder\nmodel: a\ntools: []\nmodel: b\n"),
	               "agents/coder.md", 0,
	               "agents/coder.md:4:1: duplicate key 'model' "
	               "(first at line 2)");
	/* The first one's value is null: the line still comes out. */
	check_error("a:\nb: 1\na: 2\n",
	            "t.yaml:3:1: duplicate key 'a' (first at line 1)");
	check_error("top:\n  x: 1\n  y: 2\n  x: 3\n",
	            "t.yaml:4:3: duplicate key 'x' (first at line 2)");
	check_error("{a: 1, b: 2, a: 3}",
	            "t.yaml:1:14: duplicate key 'a' (first at line 1)");
	/* With an offset, both lines move. */
	check_error_in("m: 1\nm: 2\n", 10, "f.md", 3,
	               "f.md:5:1: duplicate key 'm' (first at line 4)");
}
END_TEST

START_TEST(libyaml_errors_name_line_and_column)
{
	/* Bad indentation. */
	check_error("a:\n  b: 1\n c: 2\n",
	            "t.yaml:3:2: did not find expected key while parsing a "
	            "block mapping (started at line 1, column 1)");
	/* A tab where indentation is expected. */
	check_error("a:\n\tb: 1\n",
	            "t.yaml:2:1: found character that cannot start any token "
	            "while scanning for the next token");
	/* An unclosed quote. */
	check_error("a: \"abc\nb: 2\n",
	            "t.yaml:3:1: found unexpected end of stream while "
	            "scanning a quoted scalar (started at line 1, column 4)");
	check_error_in("x: 1\ny: 'open\n", strlen("x: 1\ny: 'open\n"),
	               "t.yaml", 20,
	               "t.yaml:23:1: found unexpected end of stream while "
	               "scanning a quoted scalar (started at line 22, "
	               "column 4)");
	/* An unclosed flow sequence. */
	check_error("a: [1, 2\n",
	            "t.yaml:2:1: did not find expected ',' or ']' while "
	            "parsing a flow sequence (started at line 1, column 4)");
}
END_TEST

START_TEST(non_scalar_keys_are_refused)
{
	check_error("[a]: 1\n",
	            "t.yaml:1:1: a mapping key must be a scalar, not a sequence");
	check_error("x: 1\n? {a: 1}\n: 2\n",
	            "t.yaml:2:3: a mapping key must be a scalar, not a mapping");
	check_error("a: &k x\n*k : 2\n",
	            "t.yaml:2:1: a mapping key must be a scalar, not an alias");
	check_error("!!int 1: x\n",
	            "t.yaml:1:1: a mapping key cannot be tagged !!int "
	            "(keys are strings)");
	check_error("\"a\\0b\": 1\n",
	            "t.yaml:1:1: a mapping key must not contain a NUL "
	            "character");
}
END_TEST

START_TEST(merge_keys_are_refused)
{
	check_error("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
	            "t.yaml:3:3: merge keys are not supported (<<); write the "
	            "keys out");
}
END_TEST

START_TEST(a_second_document_is_refused)
{
	check_error("a: 1\n---\nb: 2\n",
	            "t.yaml:2:1: a second YAML document starts here; a file "
	            "holds one document");
	check_error("---\na: 1\n...\n---\n",
	            "t.yaml:4:1: a second YAML document starts here; a file "
	            "holds one document");
	/* After an explicit end libyaml itself wants a --- first. */
	check_error("a: 1\n...\nb: 2\n",
	            "t.yaml:3:1: did not find expected <document start>");
}
END_TEST

START_TEST(unsupported_tags_are_refused)
{
	check_error("a: !!set x\n",
	            "t.yaml:1:4: unsupported tag '!!set' (flue knows !!str, "
	            "!!int, !!float, !!bool, !!null, !!map and !!seq)");
	check_error("a:\n  b: !custom x\n",
	            "t.yaml:2:6: unsupported tag '!custom' (flue knows !!str, "
	            "!!int, !!float, !!bool, !!null, !!map and !!seq)");
	check_error("a: !!omap [x]\n",
	            "t.yaml:1:4: unsupported tag '!!omap' (flue knows !!str, "
	            "!!int, !!float, !!bool, !!null, !!map and !!seq)");
	check_error("a: ! x\n",
	            "t.yaml:1:4: unsupported tag '!' (flue knows !!str, "
	            "!!int, !!float, !!bool, !!null, !!map and !!seq)");
}
END_TEST

START_TEST(values_must_fit_their_tag)
{
	check_error("a: !!int x\n", "t.yaml:1:4: 'x' is not a valid !!int");
	check_error("a: !!int 1.5\n", "t.yaml:1:4: '1.5' is not a valid !!int");
	check_error("a: !!float 0x10\n",
	            "t.yaml:1:4: '0x10' is not a valid !!float");
	check_error("a: !!bool yes\n",
	            "t.yaml:1:4: 'yes' is not a valid !!bool");
	check_error("a: !!null 0\n", "t.yaml:1:4: '0' is not a valid !!null");
	check_error("a: !!str [1]\n",
	            "t.yaml:1:4: tag !!str does not fit a sequence");
	check_error("a: !!seq {b: 1}\n",
	            "t.yaml:1:4: tag !!seq does not fit a mapping");
	check_error("a: !!map x\n", "t.yaml:1:4: tag !!map does not fit a scalar");
}
END_TEST

START_TEST(numbers_out_of_range_are_refused)
{
	check_error("n: 9223372036854775808\n",
	            "t.yaml:1:4: integer 9223372036854775808 is out of range "
	            "(64 bits: -9223372036854775808 to 9223372036854775807)");
	check_error("n: -9223372036854775809\n",
	            "t.yaml:1:4: integer -9223372036854775809 is out of range "
	            "(64 bits: -9223372036854775808 to 9223372036854775807)");
	check_error("n: [0x8000000000000000]\n",
	            "t.yaml:1:5: integer 0x8000000000000000 is out of range "
	            "(64 bits: -9223372036854775808 to 9223372036854775807)");
	check_error("n: !!int '99999999999999999999'\n",
	            "t.yaml:1:4: integer 99999999999999999999 is out of range "
	            "(64 bits: -9223372036854775808 to 9223372036854775807)");
	check_error("n: 1e999\n",
	            "t.yaml:1:4: number 1e999 is out of range for a double");
}
END_TEST

/* text of n nested flow sequences: [[[...]]] */
static char *
nested(unsigned n)
{
	char *text = malloc(2 * n + 1);

	ck_assert_ptr_nonnull(text);
	memset(text, '[', n);
	memset(text + n, ']', n);
	text[2 * n] = '\0';
	return text;
}

START_TEST(nesting_is_limited_to_64)
{
	char *text = nested(64);
	json_object *value = parse_ok(text);

	free(text);
	ck_assert_ptr_nonnull(value);
	json_object_put(value);

	text = nested(65);
	check_error(text, "t.yaml:1:65: values nest deeper than 64 levels");
	free(text);
	text = nested(10000);
	check_error(text, "t.yaml:1:65: values nest deeper than 64 levels");
	free(text);

	/* An alias cannot be used to get past the limit either. */
	{
		char doc[512];
		char *deep = nested(40);

		snprintf(doc, sizeof(doc), "a: &d %s\nb: %.30s*d%.30s\n",
		         deep, deep, deep + 40);
		check_error(doc, "t.yaml:2:34: alias *d nests values deeper "
		            "than 64 levels");
		/* The top mapping is level 1, the 23 sequences around the
		 * alias 2 to 24, the copied 40 levels 25 to 64. */
		snprintf(doc, sizeof(doc), "a: &d %s\nb: %.23s*d%.23s\n",
		         deep, deep, deep + 40);
		value = parse_ok(doc);
		json_object_put(value);
		free(deep);
	}
}
END_TEST

START_TEST(alias_bomb_is_stopped)
{
	static const char bomb[] =
		"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";

	/* a..e make 74733 values; the first *e in f would add 66430. */
	check_error(bomb, "t.yaml:6:8: more than 100000 values in one "
	            "document (each use of an alias counts all it copies)");
}
END_TEST

START_TEST(unknown_and_recursive_aliases_are_refused)
{
	check_error("a: *nowhere\n",
	            "t.yaml:1:4: alias *nowhere has no anchor &nowhere before "
	            "it");
	check_error("a: *later\nb: &later 1\n",
	            "t.yaml:1:4: alias *later has no anchor &later before it");
	check_error("a: &self [1, *self]\n",
	            "t.yaml:1:14: alias *self is inside the value it refers "
	            "to");
}
END_TEST

START_TEST(invalid_utf8_is_reported_where_it_is)
{
	static const char bad[] = "a: ok\nb: \xff\n";
	static const char bad_trail[] = "name: x\nv: caf\xc3\x28\n";

	check_error(bad, "t.yaml:2:4: invalid leading UTF-8 octet (0xFF)");
	check_error_in(bad, strlen(bad), "t.yaml", 7,
	               "t.yaml:9:4: invalid leading UTF-8 octet (0xFF)");
	check_error(bad_trail,
	            "t.yaml:2:8: invalid trailing UTF-8 octet (0x28)");
	/* A UTF-16 BOM is not taken as a hint to switch encodings. */
	check_error_in("\xff\xfe" "a\0:\0", 6, "t.yaml", 0,
	               "t.yaml:1:1: invalid leading UTF-8 octet (0xFF)");
	/* A NUL byte is a control character. */
	check_error_in("a: b\0c\n", 7, "t.yaml", 0,
	               "t.yaml:1:5: control characters are not allowed (0x0)");
}
END_TEST

START_TEST(long_names_are_cut_in_messages)
{
	char doc[512], want[200];
	char key[201];

	memset(key, 'k', 200);
	key[200] = '\0';
	snprintf(doc, sizeof(doc), "%s: 1\n%s: 2\n", key, key);
	snprintf(want, sizeof(want), "t.yaml:2:1: duplicate key '%.60s...' "
	         "(first at line 1)", key);
	check_error(doc, want);
}
END_TEST

/* ---- copies ------------------------------------------------------------- */

START_TEST(copies_keep_positions)
{
	struct flue_error err = {0};
	json_object *root = parse_ok("a:\n  b: [1, x]\n"), *copy = NULL;
	json_object *parsed;

	ck_assert_int_eq(flue_yaml_copy(root, &copy, &err), 0);
	ck_assert(json_object_equal(root, copy));
	ck_assert_ptr_ne(root, copy);
	check_pos(member(member(copy, "a"), "b"), 2, 6, 2, 3);
	check_pos(json_object_array_get_idx(member(member(copy, "a"), "b"), 1),
	          2, 10, 2, 10);
	json_object_put(copy);
	json_object_put(root);

	ck_assert_int_eq(flue_yaml_copy(NULL, &copy, &err), 0);
	ck_assert_ptr_null(copy);

	/* Values json-c parsed carry their own userdata (the number's text):
	 * they have no position, and they still copy and print. */
	parsed = json_tokener_parse("{\"d\": 1.50}");
	ck_assert_ptr_nonnull(parsed);
	ck_assert_ptr_null(flue_yaml_pos(member(parsed, "d")));
	ck_assert_int_eq(flue_yaml_copy(parsed, &copy, &err), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(copy,
	                 JSON_C_TO_STRING_PLAIN), "{\"d\":1.50}");
	json_object_put(copy);
	/* Setting a position replaces that userdata safely. */
	{
		struct flue_yaml_pos pos = { 7, 2, 6, 1 };

		ck_assert_int_eq(flue_yaml_pos_set(member(parsed, "d"), &pos),
		                 0);
		check_pos(member(parsed, "d"), 7, 2, 6, 1);
		ck_assert_str_eq(json_object_to_json_string_ext(parsed,
		                 JSON_C_TO_STRING_PLAIN), "{\"d\":1.5}");
		ck_assert_int_eq(flue_yaml_pos_set(NULL, &pos), 0);
	}
	json_object_put(parsed);
}
END_TEST

/* ---- frontmatter -------------------------------------------------------- */

static void
split_ok(const char *text, struct flue_frontmatter *fm)
{
	struct flue_error err = {0};

	ck_assert_msg(flue_frontmatter_split(text, strlen(text), "x.md", fm,
	                                     &err) == 0,
	              "split failed: %s", err.message);
}

static void
check_part(const char *part, size_t len, const char *want)
{
	ck_assert_uint_eq(len, strlen(want));
	ck_assert(memcmp(part, want, len) == 0);
}

START_TEST(frontmatter_split_with_and_without)
{
	static const char with[] = "---\nname: x\nmodel: y\n---\n# Body\ntext\n";
	static const char without[] = "# Title\n\nSome text.\n";
	struct flue_frontmatter fm;

	split_ok(with, &fm);
	ck_assert_int_eq(fm.present, 1);
	check_part(fm.yaml, fm.yaml_len, "name: x\nmodel: y\n");
	ck_assert_uint_eq(fm.yaml_line, 2);
	check_part(fm.body, fm.body_len, "# Body\ntext\n");
	ck_assert_uint_eq(fm.body_line, 5);
	ck_assert_ptr_eq(fm.yaml, with + 4);

	split_ok(without, &fm);
	ck_assert_int_eq(fm.present, 0);
	ck_assert_ptr_null(fm.yaml);
	ck_assert_uint_eq(fm.yaml_len, 0);
	ck_assert_ptr_eq(fm.body, without);
	ck_assert_uint_eq(fm.body_len, strlen(without));
	ck_assert_uint_eq(fm.body_line, 1);

	split_ok("", &fm);
	ck_assert_int_eq(fm.present, 0);
	ck_assert_uint_eq(fm.body_len, 0);
}
END_TEST

START_TEST(frontmatter_split_variants)
{
	static const char bom[] = "\xef\xbb\xbf---\na: 1\n---\nbody";
	static const char crlf[] = "---\r\na: 1\r\nb: 2\r\n---\r\nbody\r\n";
	static const char dots[] = "---\na: 1\n...\nbody\n";
	static const char blanks[] = "---  \t\na: 1\n---   \nbody\n";
	static const char at_end[] = "---\na: 1\n---";
	static const char empty[] = "---\n---\nbody\n";
	struct flue_frontmatter fm;

	split_ok(bom, &fm);
	ck_assert_int_eq(fm.present, 1);
	check_part(fm.yaml, fm.yaml_len, "a: 1\n");
	ck_assert_uint_eq(fm.yaml_line, 2);
	check_part(fm.body, fm.body_len, "body");
	ck_assert_uint_eq(fm.body_line, 4);

	split_ok(crlf, &fm);
	ck_assert_int_eq(fm.present, 1);
	check_part(fm.yaml, fm.yaml_len, "a: 1\r\nb: 2\r\n");
	check_part(fm.body, fm.body_len, "body\r\n");
	ck_assert_uint_eq(fm.body_line, 5);

	split_ok(dots, &fm);
	ck_assert_int_eq(fm.present, 1);
	check_part(fm.yaml, fm.yaml_len, "a: 1\n");
	check_part(fm.body, fm.body_len, "body\n");
	ck_assert_uint_eq(fm.body_line, 4);

	split_ok(blanks, &fm);
	ck_assert_int_eq(fm.present, 1);
	check_part(fm.yaml, fm.yaml_len, "a: 1\n");
	check_part(fm.body, fm.body_len, "body\n");

	split_ok(at_end, &fm);
	ck_assert_int_eq(fm.present, 1);
	check_part(fm.yaml, fm.yaml_len, "a: 1\n");
	ck_assert_uint_eq(fm.body_len, 0);
	ck_assert_uint_eq(fm.body_line, 4);

	split_ok(empty, &fm);
	ck_assert_int_eq(fm.present, 1);
	ck_assert_uint_eq(fm.yaml_len, 0);
	check_part(fm.body, fm.body_len, "body\n");
	ck_assert_uint_eq(fm.body_line, 3);

	/* Not frontmatter: the first line must be exactly ---. */
	{
		static const char *const not_fm[] = {
			"----\na: 1\n----\n", "--- a\nb\n---\n",
			" ---\na: 1\n---\n", "text\n---\na: 1\n---\n",
			"\n---\na: 1\n---\n", "-- -\n",
		};

		for (size_t i = 0; i < sizeof(not_fm) / sizeof(not_fm[0]);
		     i++) {
			split_ok(not_fm[i], &fm);
			ck_assert_int_eq(fm.present, 0);
			ck_assert_ptr_eq(fm.body, not_fm[i]);
			ck_assert_uint_eq(fm.body_line, 1);
		}
	}
	/* An indented --- inside the YAML does not close it. */
	split_ok("---\na: |\n  ---\n---\nbody", &fm);
	check_part(fm.yaml, fm.yaml_len, "a: |\n  ---\n");
	check_part(fm.body, fm.body_len, "body");
}
END_TEST

START_TEST(frontmatter_never_closed_is_an_error)
{
	static const char *const open[] = {
		"---\nname: x\n\n# Body\n", "---", "---\n",
		"\xef\xbb\xbf---\r\na: 1\r\n", "---\n----\n-- -\n",
	};
	struct flue_frontmatter fm;
	struct flue_error err = {0};

	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		ck_assert_int_eq(flue_frontmatter_split(open[i],
		                 strlen(open[i]), "agents/x.md", &fm, &err),
		                 FLUE_EINVAL);
		ck_assert_str_eq(err.message, "agents/x.md:1: frontmatter "
		                 "opened with --- is never closed (end it with "
		                 "a line that is just ---)");
	}
}
END_TEST

static void
fm_parse_error(const char *text, const char *want)
{
	struct flue_error err = {0};
	json_object *meta = (json_object *)&err;

	ck_assert_int_eq(flue_frontmatter_parse(text, strlen(text),
	                 "coder.md", &meta, NULL, &err), FLUE_EINVAL);
	ck_assert_ptr_null(meta);
	ck_assert_str_eq(err.message, want);
}

START_TEST(frontmatter_parse_gives_an_object)
{
	static const char text[] =
		"---\n"                 /* 1 */
		"name: coder\n"         /* 2 */
		"model: fast\n"         /* 3 */
		"tools:\n"              /* 4 */
		"  - read\n"            /* 5 */
		"---\n"                 /* 6 */
		"You write code.\n";    /* 7 */
	struct flue_frontmatter fm;
	struct flue_error err = {0};
	json_object *meta = NULL;

	ck_assert_int_eq(flue_frontmatter_parse(text, strlen(text), "coder.md",
	                 &meta, &fm, &err), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(meta,
	                 JSON_C_TO_STRING_PLAIN),
	                 "{\"name\":\"coder\",\"model\":\"fast\","
	                 "\"tools\":[\"read\"]}");
	/* Positions count from the top of the .md file. */
	check_pos(meta, 2, 1, 2, 1);
	check_pos(member(meta, "model"), 3, 8, 3, 1);
	check_pos(json_object_array_get_idx(member(meta, "tools"), 0),
	          5, 5, 5, 5);
	check_part(fm.body, fm.body_len, "You write code.\n");
	ck_assert_uint_eq(fm.body_line, 7);
	json_object_put(meta);
}
END_TEST

START_TEST(frontmatter_parse_absent_or_empty_gives_empty_object)
{
	static const char *const texts[] = {
		"# Just a body\n", "---\n---\nbody\n", "---\n# comment\n---\n",
		"---\nnull\n---\n", "",
	};
	struct flue_frontmatter fm;
	struct flue_error err = {0};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_object *meta = NULL;

		ck_assert_int_eq(flue_frontmatter_parse(texts[i],
		                 strlen(texts[i]), "x.md", &meta, &fm, &err),
		                 0);
		ck_assert(json_object_is_type(meta, json_type_object));
		ck_assert_int_eq(json_object_object_length(meta), 0);
		check_pos(meta, 1, 1, 1, 1);
		json_object_put(meta);
	}
	/* out_parts is optional. */
	{
		json_object *meta = NULL;

		ck_assert_int_eq(flue_frontmatter_parse("---\na: 1\n---\n", 13,
		                 "x.md", &meta, NULL, &err), 0);
		json_object_put(meta);
	}
}
END_TEST

START_TEST(frontmatter_that_is_not_a_mapping_is_an_error)
{
	fm_parse_error("---\n- a\n- b\n---\nbody\n",
	               "coder.md:2:1: the frontmatter must be a mapping "
	               "(key: value lines), not a list");
	fm_parse_error("---\njust words\n---\n",
	               "coder.md:2:1: the frontmatter must be a mapping "
	               "(key: value lines), not a string");
	fm_parse_error("---\n\n  42\n---\n",
	               "coder.md:3:3: the frontmatter must be a mapping "
	               "(key: value lines), not a number");
}
END_TEST

START_TEST(frontmatter_errors_count_lines_from_the_file_top)
{
	fm_parse_error("---\nname: coder\nmodel: a\nmodel: b\n---\nbody\n",
	               "coder.md:4:1: duplicate key 'model' (first at line 3)");
	fm_parse_error("---\nname: coder\n\tmodel: x\n---\n",
	               "coder.md:3:1: found a tab character that violates "
	               "indentation while scanning a plain scalar (started at "
	               "line 2, column 7)");
	fm_parse_error("\xef\xbb\xbf---\r\nname: coder\r\nmodel: \xff\r\n---\r\n",
	               "coder.md:3:8: invalid leading UTF-8 octet (0xFF)");
	/* The YAML ends at the closing ---, so does the unclosed quote. */
	fm_parse_error("---\na: 1\nb: \"open\n---\nbody\n",
	               "coder.md:4:1: found unexpected end of stream while "
	               "scanning a quoted scalar (started at line 3, "
	               "column 4)");
	fm_parse_error("---\nname: !x coder\n---\n",
	               "coder.md:2:7: unsupported tag '!x' (flue knows !!str, "
	               "!!int, !!float, !!bool, !!null, !!map and !!seq)");

}
END_TEST

static Suite *
yaml_suite(void)
{
	Suite *s = suite_create("yaml");
	TCase *parse = tcase_create("parse");
	TCase *errors = tcase_create("errors");
	TCase *fm = tcase_create("frontmatter");

	tcase_set_timeout(parse, 30);
	tcase_set_timeout(errors, 30);
	tcase_set_timeout(fm, 30);

	tcase_add_test(parse, nested_maps_and_lists_round_trip);
	tcase_add_test(parse, empty_document_gives_null);
	tcase_add_test(parse, text_need_not_be_nul_terminated);
	tcase_add_test(parse, bad_arguments_are_refused);
	tcase_add_test(parse, plain_scalars_resolve_like_the_core_schema);
	tcase_add_test(parse, quoted_scalars_are_always_strings);
	tcase_add_test(parse, block_scalars_are_strings);
	tcase_add_test(parse, explicit_tags_are_honoured);
	tcase_add_test(parse, positions_of_values_and_keys);
	tcase_add_test(parse, positions_with_line_offset);
	tcase_add_test(parse, positions_count_characters_and_skip_a_bom);
	tcase_add_test(parse, aliases_copy_the_anchored_value);
	tcase_add_test(parse, anchors_can_be_redefined_and_put_on_keys);
	tcase_add_test(parse, copies_keep_positions);
	suite_add_tcase(s, parse);

	tcase_add_test(errors, duplicate_key_names_both_lines);
	tcase_add_test(errors, libyaml_errors_name_line_and_column);
	tcase_add_test(errors, non_scalar_keys_are_refused);
	tcase_add_test(errors, merge_keys_are_refused);
	tcase_add_test(errors, a_second_document_is_refused);
	tcase_add_test(errors, unsupported_tags_are_refused);
	tcase_add_test(errors, values_must_fit_their_tag);
	tcase_add_test(errors, numbers_out_of_range_are_refused);
	tcase_add_test(errors, nesting_is_limited_to_64);
	tcase_add_test(errors, alias_bomb_is_stopped);
	tcase_add_test(errors, unknown_and_recursive_aliases_are_refused);
	tcase_add_test(errors, invalid_utf8_is_reported_where_it_is);
	tcase_add_test(errors, long_names_are_cut_in_messages);
	suite_add_tcase(s, errors);

	tcase_add_test(fm, frontmatter_split_with_and_without);
	tcase_add_test(fm, frontmatter_split_variants);
	tcase_add_test(fm, frontmatter_never_closed_is_an_error);
	tcase_add_test(fm, frontmatter_parse_gives_an_object);
	tcase_add_test(fm, frontmatter_parse_absent_or_empty_gives_empty_object);
	tcase_add_test(fm, frontmatter_that_is_not_a_mapping_is_an_error);
	tcase_add_test(fm, frontmatter_errors_count_lines_from_the_file_top);
	suite_add_tcase(s, fm);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(yaml_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
