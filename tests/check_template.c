/* References to the payload and the environment in agent files. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/template.h"
#include "../core/lib/yaml.h"

/* ---- helpers ------------------------------------------------------------ */

#define PAYLOAD_JSON \
	"{\"a\": {\"b\": [{\"c\": \"deep\"}, {\"c\": 2}]}," \
	" \"n\": 3, \"f\": 1.50, \"t\": true, \"no\": false," \
	" \"odd key\": {\"x.y\": \"q\"}, \"my-key_2\": \"dash\"," \
	" \"list\": [1, \"two\", null], \"one\": [\"only\"], \"none\": []," \
	" \"obj\": {\"k\": \"v\", \"url\": \"http://x/y\", \"z\": [1, 2]}," \
	" \"empty\": {}, \"prompt\": \"hi\", \"repo\": null," \
	" \"secret\": \"hunter2\"," \
	" \"sneaky\": \"{{ payload.secret }} and ${TOKEN} and $${X}\"," \
	" \"doc\": \"---\\nname: x\\n---\\nbody }} {{\"}"

/* The environment the tests see instead of the process's. */
static const char *const fake_env[][2] = {
	{ "TOKEN", "s3cret" },
	{ "EMPTY", "" },
	{ "BRACES", "{{ payload.secret }} ${TOKEN}" },
	{ "REPO", "flue" },
};

static const char *
fake_getenv(void *arg, const char *name)
{
	int *calls = arg;

	if (calls != NULL)
		(*calls)++;
	for (size_t i = 0; i < sizeof(fake_env) / sizeof(fake_env[0]); i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

static json_object *
json(const char *text)
{
	json_object *value = json_tokener_parse(text);

	ck_assert_msg(value != NULL, "bad test JSON <%s>", text);
	return value;
}

/* A context with both kinds of reference, the fake environment and
 * payload [borrowed]. */
static struct flue_template_context
context(json_object *payload)
{
	struct flue_template_context ctx = {
		.payload = payload,
		.getenv = fake_getenv,
		.getenv_arg = NULL,
		.flags = FLUE_TEMPLATE_PAYLOAD | FLUE_TEMPLATE_ENV,
		.filename = "t.md",
	};

	return ctx;
}

static void
check_expand_ctx(const struct flue_template_context *ctx, const char *text,
                 const char *want)
{
	struct flue_error err = {0};
	char *out = NULL;
	size_t out_len = 99;
	int rc;

	rc = flue_template_expand(ctx, text, strlen(text), 1, 1, &out, &out_len,
	                          &err);
	ck_assert_msg(rc == 0, "<%s>: rc %d: %s", text, rc, err.message);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(out_len, strlen(want));
	free(out);
}

/* Expand text with PAYLOAD_JSON as the payload. */
static void
check_expand(const char *text, const char *want)
{
	json_object *payload = json(PAYLOAD_JSON);
	struct flue_template_context ctx = context(payload);

	check_expand_ctx(&ctx, text, want);
	json_object_put(payload);
}

static void
check_error_ctx(const struct flue_template_context *ctx, const char *text,
                unsigned line, unsigned column, const char *want)
{
	struct flue_error err = {0};
	char *out = (char *)&err;   /* must be reset */
	size_t out_len = 99;
	int rc;

	rc = flue_template_expand(ctx, text, strlen(text), line, column, &out,
	                          &out_len, &err);
	ck_assert_msg(rc == FLUE_EINVAL, "<%s>: rc %d (%s)", text, rc,
	              err.message);
	ck_assert_int_eq(err.code, FLUE_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_str_eq(err.message, want);
}

/* The error of expanding text, at line 1, column 1, with PAYLOAD_JSON. */
static void
check_error(const char *text, const char *want)
{
	json_object *payload = json(PAYLOAD_JSON);
	struct flue_template_context ctx = context(payload);

	check_error_ctx(&ctx, text, 1, 1, want);
	json_object_put(payload);
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

static const char *
plain(json_object *value)
{
	return json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN |
	                                       JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *
yaml(const char *text, unsigned line_offset)
{
	struct flue_error err = {0};
	json_object *value = NULL;

	ck_assert_msg(flue_yaml_parse(text, strlen(text), "t.md", line_offset,
	              &value, &err) == 0, "YAML: %s", err.message);
	return value;
}

/* ---- payload references ------------------------------------------------- */

START_TEST(nested_paths_and_array_indexes)
{
	check_expand("{{ payload.a.b[0].c }}", "deep");
	check_expand("{{payload.a.b[1].c}}", "2");
	check_expand("x{{  payload.a.b[0].c\t}}y", "xdeepy");
	check_expand("{{ payload.list[1] }}/{{ payload.list[0] }}", "two/1");
	check_expand("{{ payload.my-key_2 }}", "dash");
	check_expand("{{ payload.a.b[0] }}", "{\"c\":\"deep\"}");
	/* Several references and text between them, on several lines. */
	check_expand("Say {{ payload.prompt }}\nto {{ payload.a.b[0].c }}.\n",
	             "Say hi\nto deep.\n");
}
END_TEST

START_TEST(quoted_keys)
{
	check_expand("{{ payload[\"odd key\"][\"x.y\"] }}", "q");
	check_expand("{{ payload[\"a\"].b[0][\"c\"] }}", "deep");
	/* JSON escapes in a quoted key. */
	check_expand("{{ payload[\"odd\\u0020key\"][\"x.y\"] }}", "q");
	check_error("{{ payload[\"odd\"] }}",
	            "t.md:1:1: {{ payload[\"odd\"] }}: the payload has no "
	            "field 'odd' (it has: a, n, f, t, no, odd key, my-key_2, "
	            "list, one, none, \xe2\x80\xa6)");
}
END_TEST

START_TEST(values_render_as_text_or_compact_json)
{
	check_expand("{{ payload.n }}", "3");
	/* A number keeps the text it was written with. */
	check_expand("{{ payload.f }}", "1.50");
	check_expand("{{ payload.t }} {{ payload.no }}", "true false");
	check_expand("{{ payload.obj }}",
	             "{\"k\":\"v\",\"url\":\"http://x/y\",\"z\":[1,2]}");
	check_expand("{{ payload.list }}", "[1,\"two\",null]");
	check_expand("{{ payload.empty }}{{ payload.none }}", "{}[]");
}
END_TEST

START_TEST(whole_payload)
{
	json_object *payload = json("{\"x\": [1, {\"y\": \"a/b\"}]}");
	struct flue_template_context ctx = context(payload);

	check_expand_ctx(&ctx, "{{ payload }}", "{\"x\":[1,{\"y\":\"a/b\"}]}");
	check_expand_ctx(&ctx, "{{payload}}", "{\"x\":[1,{\"y\":\"a/b\"}]}");
	json_object_put(payload);

	/* A payload that is a plain string goes in as text. */
	payload = json("\"just text\"");
	ctx = context(payload);
	check_expand_ctx(&ctx, "<{{ payload }}>", "<just text>");
	check_error_ctx(&ctx, "{{ payload.x }}", 1, 1,
	                "t.md:1:1: {{ payload.x }}: 'payload' is a string, "
	                "not an object");
	check_error_ctx(&ctx, "{{ payload[0] }}", 1, 1,
	                "t.md:1:1: {{ payload[0] }}: 'payload' is a string, "
	                "not an array");
	json_object_put(payload);
}
END_TEST

START_TEST(defaults_of_every_literal_kind)
{
	check_expand("{{ payload.x | \"fallback\" }}", "fallback");
	check_expand("{{payload.x|\"tight\"}}", "tight");
	check_expand("{{ payload.x | \"q\\\"uote\\n\\u00e9\\/\" }}",
	             "q\"uote\n\xc3\xa9/");
	check_expand("{{ payload.x | \"\" }}", "");
	check_expand("{{ payload.x | 42 }}", "42");
	check_expand("{{ payload.x | -1.5e+2 }}", "-1.5e+2");
	check_expand("{{ payload.x | 0 }}", "0");
	check_expand("{{ payload.x | true }}/{{ payload.x | false }}",
	             "true/false");
	/* A null default puts in nothing. */
	check_expand("[{{ payload.x | null }}]", "[]");
	/* A default with }} and | inside its string. */
	check_expand("{{ payload.x | \"a }} | b\" }}", "a }} | b");
	/* A value that is there wins over the default. */
	check_expand("{{ payload.prompt | \"no\" }}", "hi");
	check_expand("{{ payload.no | true }}", "false");
	check_expand("{{ payload.list[0] | 9 }}", "1");
	/* A literal reference can have one too; it never applies. */
	check_expand("{{ \"lit\" | \"other\" }}", "lit");
}
END_TEST

START_TEST(defaults_cover_missing_and_null_only)
{
	/* null, a missing field or index anywhere on the path. */
	check_expand("{{ payload.repo | \"none\" }}", "none");
	check_expand("{{ payload.list[2] | \"was null\" }}", "was null");
	check_expand("{{ payload.nope.deeper[3] | \"d\" }}", "d");
	check_expand("{{ payload.repo.x | \"d\" }}", "d");
	check_expand("{{ payload.list[7] | \"d\" }}", "d");
	check_expand("{{ payload.none[0] | \"d\" }}", "d");
	/* A value of the wrong kind on the path is a mistake in the path. */
	check_error("{{ payload.prompt.x | \"d\" }}",
	            "t.md:1:1: {{ payload.prompt.x | \"d\" }}: "
	            "'payload.prompt' is a string, not an object");
	check_error("{{ payload.obj[0] | \"d\" }}",
	            "t.md:1:1: {{ payload.obj[0] | \"d\" }}: 'payload.obj' is "
	            "an object, not an array");
}
END_TEST

START_TEST(null_and_missing_without_default)
{
	check_error("{{ payload.repo }}",
	            "t.md:1:1: {{ payload.repo }}: 'payload.repo' is null and "
	            "the reference has no default");
	check_error("{{ payload.list[2] }}",
	            "t.md:1:1: {{ payload.list[2] }}: 'payload.list[2]' is "
	            "null and the reference has no default");
	check_error("{{ payload.repo.x }}",
	            "t.md:1:1: {{ payload.repo.x }}: 'payload.repo' is null, "
	            "not an object");
	check_error("{{ payload.obj.nope }}",
	            "t.md:1:1: {{ payload.obj.nope }}: 'payload.obj' has no "
	            "field 'nope' (it has: k, url, z)");
	check_error("{{ payload.empty.x }}",
	            "t.md:1:1: {{ payload.empty.x }}: 'payload.empty' has no "
	            "field 'x' (it has no fields)");
	check_error("{{ payload[\"odd key\"].nope }}",
	            "t.md:1:1: {{ payload[\"odd key\"].nope }}: "
	            "'payload[\"odd key\"]' has no field 'nope' (it has: x.y)");
}
END_TEST

START_TEST(index_and_kind_errors)
{
	check_error("{{ payload.list[3] }}",
	            "t.md:1:1: {{ payload.list[3] }}: 'payload.list': index 3 "
	            "is out of range (the array has 3 items)");
	check_error("{{ payload.one[1] }}",
	            "t.md:1:1: {{ payload.one[1] }}: 'payload.one': index 1 is "
	            "out of range (the array has 1 item)");
	check_error("{{ payload.none[0] }}",
	            "t.md:1:1: {{ payload.none[0] }}: 'payload.none': index 0 "
	            "is out of range (the array is empty)");
	check_error("{{ payload.list[99999999999999999999999] }}",
	            "t.md:1:1: {{ payload.list[99999999999999999999999] }}: "
	            "'payload.list': index 99999999999999999999999 is out of "
	            "range (the array has 3 items)");
	check_error("{{ payload.prompt.x }}",
	            "t.md:1:1: {{ payload.prompt.x }}: 'payload.prompt' is a "
	            "string, not an object");
	check_error("{{ payload.n.x }}",
	            "t.md:1:1: {{ payload.n.x }}: 'payload.n' is a number, not "
	            "an object");
	check_error("{{ payload.t[0] }}",
	            "t.md:1:1: {{ payload.t[0] }}: 'payload.t' is a boolean, "
	            "not an array");
	check_error("{{ payload.list.x }}",
	            "t.md:1:1: {{ payload.list.x }}: 'payload.list' is an "
	            "array, not an object");
}
END_TEST

START_TEST(the_documented_example)
{
	json_object *payload = json("{\"prompt\": \"p\", \"user\": \"u\"}");
	struct flue_template_context ctx = context(payload);

	ctx.filename = "agents/coder.md";
	check_error_ctx(&ctx, "Repository:{{payload.repo}}", 7, 1,
	                "agents/coder.md:7:12: {{payload.repo}}: the payload "
	                "has no field 'repo' (it has: prompt, user)");
	/* No file name. */
	ctx.filename = NULL;
	check_error_ctx(&ctx, "{{payload.repo}}", 1, 1,
	                "<template>:1:1: {{payload.repo}}: the payload has no "
	                "field 'repo' (it has: prompt, user)");
	/* Line 0: no position. */
	check_error_ctx(&ctx, "{{payload.repo}}", 0, 5,
	                "<template>: {{payload.repo}}: the payload has no "
	                "field 'repo' (it has: prompt, user)");
	json_object_put(payload);
}
END_TEST

START_TEST(key_lists_are_capped_at_ten)
{
	json_object *payload = json("{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,"
	                            "\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,"
	                            "\"k9\":1,\"k10\":1,\"k11\":1}");
	struct flue_template_context ctx = context(payload);

	check_error_ctx(&ctx, "{{ payload.k0 }}", 1, 1,
	                "t.md:1:1: {{ payload.k0 }}: the payload has no field "
	                "'k0' (it has: k1, k2, k3, k4, k5, k6, k7, k8, k9, "
	                "k10, \xe2\x80\xa6)");
	json_object_object_del(payload, "k11");
	check_error_ctx(&ctx, "{{ payload.k0 }}", 1, 1,
	                "t.md:1:1: {{ payload.k0 }}: the payload has no field "
	                "'k0' (it has: k1, k2, k3, k4, k5, k6, k7, k8, k9, "
	                "k10)");
	json_object_put(payload);
}
END_TEST

START_TEST(no_payload)
{
	struct flue_template_context ctx = context(NULL);

	check_error_ctx(&ctx, "Do {{ payload.task }}", 1, 1,
	                "t.md:1:4: {{ payload.task }}: no payload was given "
	                "(pass one with --payload)");
	check_error_ctx(&ctx, "{{ payload }}", 1, 1,
	                "t.md:1:1: {{ payload }}: no payload was given (pass "
	                "one with --payload)");
	check_expand_ctx(&ctx, "Do {{ payload.task | \"nothing\" }}",
	                 "Do nothing");
	/* Text without payload references needs no payload. */
	check_expand_ctx(&ctx, "plain ${TOKEN} {{ \"{{\" }}",
	                 "plain s3cret {{");
}
END_TEST

/* ---- literals and text -------------------------------------------------- */

START_TEST(literal_references)
{
	check_expand("{{ \"{{\" }}", "{{");
	check_expand("{{\"{{\"}} payload.x }}", "{{ payload.x }}");
	check_expand("{{ \"a\\u00e9\\\"\" }}", "a\xc3\xa9\"");
	check_expand("{{ \"\" }}", "");
	check_expand("{{ \"${TOKEN}\" }}", "${TOKEN}");
}
END_TEST

START_TEST(other_braces_are_text)
{
	static const char *const text[] = {
		"{{#each items}}x{{/each}}", "{{ }}", "{{}}", "{{ 1 }}",
		"{{{ payload.x }}}", "{{{{ payload.x }}", "{ {payload.x} }",
		"{{", "}}", "a {{\nb", "{{ #x }}", "{{ -x }}", "{{ .x }}",
		"{{ {payload.x} }}", "{payload.x}",
	};

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		check_expand(text[i], text[i]);
	check_expand("{{ 1 }} {{ payload.n }}", "{{ 1 }} 3");
}
END_TEST

START_TEST(unknown_identifiers)
{
	check_error("{{ paylod.x }}",
	            "t.md:1:1: unknown reference 'paylod.x': only payload.* "
	            "can "
	            "be used here (did you mean payload.x?)");
	check_error("a\n  {{env.X}}",
	            "t.md:2:3: unknown reference 'env.X': only payload.* can "
	            "be used here");
	check_error("{{ Payload.a.b[0] | \"x\" }}",
	            "t.md:1:1: unknown reference 'Payload.a.b[0] | \"x\"': "
	            "only payload.* can be used here (did you mean "
	            "payload.a.b[0] | \"x\"?)");
	/* A swap of two letters is one edit. */
	check_error("{{ paylaod }}",
	            "t.md:1:1: unknown reference 'paylaod': only payload.* can "
	            "be used here (did you mean payload?)");
	check_error("{{ payloads.x }}",
	            "t.md:1:1: unknown reference 'payloads.x': only payload.* "
	            "can be used here (did you mean payload.x?)");
	check_error("{{ pld.x }}",
	            "t.md:1:1: unknown reference 'pld.x': only payload.* can "
	            "be used here");
	check_error("{{ user.name }}",
	            "t.md:1:1: unknown reference 'user.name': only payload.* "
	            "can be used here");
	check_error("{{ true }}",
	            "t.md:1:1: unknown reference 'true': only payload.* can be "
	            "used here");
	/* Without a closing }} the rest of the line is quoted. */
	check_error("{{ paylod.x\nmore",
	            "t.md:1:1: unknown reference 'paylod.x': only payload.* "
	            "can "
	            "be used here (did you mean payload.x?)");
}
END_TEST

START_TEST(unterminated_references)
{
	check_error("{{ payload.x",
	            "t.md:1:1: unterminated reference '{{ payload.x': no }} "
	            "before the end of the line");
	check_error("ok\nthen {{ payload.x  \n}}",
	            "t.md:2:6: unterminated reference '{{ payload.x': no }} "
	            "before the end of the line");
	check_error("{{ payload.x } and more",
	            "t.md:1:1: unterminated reference '{{ payload.x } and "
	            "more': no }} before the end of the line");
	check_error("{{ payload.x | \"a }}\"",
	            "t.md:1:1: unterminated reference '{{ payload.x | \"a "
	            "}}\"': no }} before the end of the line");
	check_error("{{ \"abc }}",
	            "t.md:1:1: {{ \"abc }}: a string is not closed before the "
	            "end of the line");
	check_error("{{ payload.x |",
	            "t.md:1:1: unterminated reference '{{ payload.x |': no }} "
	            "before the end of the line");
}
END_TEST

START_TEST(syntax_errors)
{
	check_error("{{ payload.a b }}",
	            "t.md:1:1: {{ payload.a b }}: unexpected 'b' where }} "
	            "should be");
	check_error("{{ payload \xc3\xa9 }}",
	            "t.md:1:1: {{ payload \xc3\xa9 }}: unexpected '\xc3\xa9' "
	            "where }} should be");
	check_error("{{ payload.x } }}",
	            "t.md:1:1: {{ payload.x } }}: unexpected '}' where }} "
	            "should be");
	check_error("{{ payload. }}",
	            "t.md:1:1: {{ payload. }}: expected a field name after '.' "
	            "(use [\"...\"] for other characters)");
	check_error("{{ payload.a..b }}",
	            "t.md:1:1: {{ payload.a..b }}: expected a field name after "
	            "'.' (use [\"...\"] for other characters)");
	check_error("{{ payload[x] }}",
	            "t.md:1:1: {{ payload[x] }}: expected an index or a quoted "
	            "key after '['");
	check_error("{{ payload[-1] }}",
	            "t.md:1:1: {{ payload[-1] }}: expected an index or a "
	            "quoted "
	            "key after '['");
	check_error("{{ payload[0 }}",
	            "t.md:1:1: {{ payload[0 }}: expected ']'");
	check_error("{{ payload[\"a\\q\"] }}",
	            "t.md:1:1: {{ payload[\"a\\q\"] }}: invalid JSON string "
	            "(use "
	            "JSON escapes such as \\\" and \\n)");
	check_error("{{ payload[\"a\\u0000\"] }}",
	            "t.md:1:1: {{ payload[\"a\\u0000\"] }}: a key cannot "
	            "contain "
	            "\\u0000");
	check_error("{{ payload.x | }}",
	            "t.md:1:1: {{ payload.x | }}: expected a default after "
	            "'|': "
	            "a string in double quotes, a number, true, false or null");
	check_error("{{ payload.x | none }}",
	            "t.md:1:1: {{ payload.x | none }}: the default is not a "
	            "JSON value (put text in double quotes)");
	check_error("{{ payload.x | 01 }}",
	            "t.md:1:1: {{ payload.x | 01 }}: the default is not a JSON "
	            "value (put text in double quotes)");
	check_error("{{ payload.x | NaN }}",
	            "t.md:1:1: {{ payload.x | NaN }}: the default is not a "
	            "JSON "
	            "value (put text in double quotes)");
	check_error("{{ payload.x | 1. }}",
	            "t.md:1:1: {{ payload.x | 1. }}: the default is not a JSON "
	            "value (put text in double quotes)");
	check_error("{{ payload.x | True }}",
	            "t.md:1:1: {{ payload.x | True }}: the default is not a "
	            "JSON value (put text in double quotes)");
	check_error("{{ payload.x | \"a\" \"b\" }}",
	            "t.md:1:1: {{ payload.x | \"a\" \"b\" }}: unexpected '\"' "
	            "where }} should be");
}
END_TEST

START_TEST(positions_in_multi_line_text)
{
	json_object *payload = json(PAYLOAD_JSON);
	struct flue_template_context ctx = context(payload);
	const char *text = "First line {{ payload.n }}\n"
	                   "\n"
	                   "third {{ payload.prompt }} and {{ payload.nope "
	                   "}}\n";

	/* The body of an agent starting at line 12 of its file. */
	check_error_ctx(&ctx, text, 12, 1,
	                "t.md:14:32: {{ payload.nope }}: the payload has no "
	                "field 'nope' (it has: a, n, f, t, no, odd key, "
	                "my-key_2, list, one, none, \xe2\x80\xa6)");
	/* A text starting inside a line: only its first line is shifted. */
	check_error_ctx(&ctx, "ab {{ payload.repo }}", 3, 10,
	                "t.md:3:13: {{ payload.repo }}: 'payload.repo' is null "
	                "and the reference has no default");
	check_error_ctx(&ctx, "ab\n{{ payload.repo }}", 3, 10,
	                "t.md:4:1: {{ payload.repo }}: 'payload.repo' is null "
	                "and the reference has no default");
	/* Columns count characters, not bytes. */
	check_error_ctx(&ctx, "h\xc3\xa9llo \xe2\x86\x92 \xf0\x9f\x98\x80 "
	                "{{ payload.repo }}", 1, 1,
	                "t.md:1:11: {{ payload.repo }}: 'payload.repo' is null "
	                "and the reference has no default");
	check_error_ctx(&ctx, "\xc3\xa9\n\xc3\xa9\xc3\xa9${UNSET_VAR}", 1, 1,
	                "t.md:2:3: ${UNSET_VAR} is not set");
	json_object_put(payload);
}
END_TEST

START_TEST(inserted_text_is_never_expanded_again)
{
	/* The payload string holds a reference, an env reference and $${:
	 * all go in as they are. */
	check_expand("{{ payload.sneaky }}",
	             "{{ payload.secret }} and ${TOKEN} and $${X}");
	/* So do --- lines, newlines and braces. */
	check_expand("<{{ payload.doc }}>", "<---\nname: x\n---\nbody }} {{>");
	/* An environment value too. */
	check_expand("${BRACES}", "{{ payload.secret }} ${TOKEN}");
	/* And a default. */
	check_expand("{{ payload.x | \"{{ payload.secret }}\" }}",
	             "{{ payload.secret }}");
	check_expand("${UNSET_VAR:-{{ payload.secret $${TOKEN}",
	             "{{ payload.secret $${TOKEN");
}
END_TEST

START_TEST(text_need_not_be_nul_terminated)
{
	json_object *payload = json("{\"a\": \"A\\u0000B\"}");
	struct flue_template_context ctx = context(payload);
	static const char text[] = "x{{ payload.a }}y{{ GARBAGE";
	struct flue_error err = {0};
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(flue_template_expand(&ctx, text, 17, 1, 1, &out, &len,
	                                      &err), 0);
	/* A NUL in a value goes in too: out_len counts it. */
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(out, "xA\0By", 6), 0);
	free(out);
	/* Empty text gives an empty string; out_len may be NULL. */
	ck_assert_int_eq(flue_template_expand(&ctx, NULL, 0, 1, 1, &out, NULL,
	                                      &err), 0);
	ck_assert_str_eq(out, "");
	free(out);
	json_object_put(payload);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	struct flue_template_context ctx = context(NULL);
	struct flue_error err = {0};
	json_object *tree = NULL;
	char *out = NULL;

	ck_assert_int_eq(flue_template_expand(NULL, "x", 1, 1, 1, &out, NULL,
	                                      &err), FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "flue_template_expand: no context, text or out");
	ck_assert_int_eq(flue_template_expand(&ctx, NULL, 3, 1, 1, &out, NULL,
	                                      &err), FLUE_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(flue_template_expand(&ctx, "x", 1, 1, 1, NULL, NULL,
	                                      &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, NULL, &err),
	                 FLUE_EINVAL);
	ck_assert_int_eq(flue_template_expand_tree(NULL, &tree, &err),
	                 FLUE_EINVAL);
	/* A NULL tree (an empty document) has nothing to expand. */
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_ptr_null(tree);
	ck_assert_int_eq(flue_template_has_refs(NULL, "{{ payload }}", 13), 0);
	/* A NULL err is fine. */
	ck_assert_int_eq(flue_template_expand(&ctx, "{{ payload }}", 13, 1, 1,
	                                      &out, NULL, NULL), FLUE_EINVAL);
}
END_TEST

/* ---- environment -------------------------------------------------------- */

START_TEST(env_references)
{
	int calls = 0;
	json_object *payload = json(PAYLOAD_JSON);
	struct flue_template_context ctx = context(payload);

	ctx.getenv_arg = &calls;
	check_expand_ctx(&ctx, "token=${TOKEN}.", "token=s3cret.");
	ck_assert_int_eq(calls, 1);
	check_expand_ctx(&ctx, "[${EMPTY}]", "[]");
	check_expand_ctx(&ctx, "${UNSET_VAR:-fallback text}",
	                 "fallback text");
	check_expand_ctx(&ctx, "${EMPTY:-fb}", "fb");
	check_expand_ctx(&ctx, "${TOKEN:-fb}", "s3cret");
	check_expand_ctx(&ctx, "[${UNSET_VAR:-}]", "[]");
	check_expand_ctx(&ctx, "${UNSET_VAR:-a:-b {x}", "a:-b {x");
	check_expand_ctx(&ctx, "$${TOKEN} $$${TOKEN}", "${TOKEN} $${TOKEN}");
	check_expand_ctx(&ctx, "${REPO}/{{ payload.prompt }}", "flue/hi");
	check_error_ctx(&ctx, "x\n  ${GITHUB_TOKEN}", 1, 1,
	                "t.md:2:3: ${GITHUB_TOKEN} is not set");
	json_object_put(payload);
}
END_TEST

START_TEST(env_shell_syntax_is_text)
{
	static const char *const text[] = {
		"${1}", "${#list[@]}", "${TOKEN%.*}", "${TOKEN:=x}",
		"${TOKEN:x}", "$TOKEN", "$ {TOKEN}", "${ TOKEN }", "${}", "$",
		"$$", "${-x}", "${TOKEN-x}",
	};

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		check_expand(text[i], text[i]);
}
END_TEST

START_TEST(env_errors)
{
	check_error("${TOKEN",
	            "t.md:1:1: unterminated reference '${TOKEN': no } before "
	            "the end of the line");
	check_error("a ${TOKEN\n}",
	            "t.md:1:3: unterminated reference '${TOKEN': no } before "
	            "the end of the line");
	check_error("${UNSET_VAR:-abc\n}",
	            "t.md:1:1: unterminated reference '${UNSET_VAR:-abc': no } "
	            "before the end of the line");
	check_error("${NOT_THERE}",
	            "t.md:1:1: ${NOT_THERE} is not set");
}
END_TEST

START_TEST(env_uses_getenv_by_default)
{
	struct flue_template_context ctx = context(NULL);

	ctx.getenv = NULL;
	ck_assert_int_eq(setenv("FLUE_TEMPLATE_TEST_VAR", "from env", 1), 0);
	ck_assert_int_eq(unsetenv("FLUE_TEMPLATE_TEST_UNSET"), 0);
	check_expand_ctx(&ctx, "${FLUE_TEMPLATE_TEST_VAR}", "from env");
	check_expand_ctx(&ctx, "${FLUE_TEMPLATE_TEST_UNSET:-no}", "no");
	check_error_ctx(&ctx, "${FLUE_TEMPLATE_TEST_UNSET}", 1, 1,
	                "t.md:1:1: ${FLUE_TEMPLATE_TEST_UNSET} is not set");
	unsetenv("FLUE_TEMPLATE_TEST_VAR");
}
END_TEST

/* ---- flags and has_refs ------------------------------------------------- */

START_TEST(flags_off_leave_references_as_text)
{
	json_object *payload = json(PAYLOAD_JSON);
	struct flue_template_context ctx = context(payload);
	const char *all = "{{ payload.n }} {{ paylod }} {{ payload.x ${TOKEN} "
	                  "${NOPE} $${X} {{ \"{{\" }}";

	ctx.flags = 0;
	check_expand_ctx(&ctx, all, all);
	ctx.flags = FLUE_TEMPLATE_PAYLOAD;
	check_expand_ctx(&ctx, "{{ payload.n }} ${TOKEN} ${NOPE} $${X}",
	                 "3 ${TOKEN} ${NOPE} $${X}");
	ctx.flags = FLUE_TEMPLATE_ENV;
	check_expand_ctx(&ctx, "{{ payload.n }} {{ paylod ${TOKEN} $${X}",
	                 "{{ payload.n }} {{ paylod s3cret ${X}");
	json_object_put(payload);
}
END_TEST

START_TEST(has_refs_finds_what_expansion_would_change)
{
	struct flue_template_context ctx = context(NULL);
	static const char *const yes[] = {
		"{{ payload.x }}", "a {{payload}} b", "{{ \"{{\" }}",
		"{{ paylod }}", "{{ payload.x", "${X}", "${X:-y}", "$${",
		"${X", "x\n{{ env.HOME }}",
	};
	static const char *const no[] = {
		"", "plain", "{{#each}}", "{{ }}", "{{{ payload }}}", "${1}",
		"${X%y}", "$X", "{ {payload} }", "{{", "$",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(flue_template_has_refs(&ctx, yes[i],
		              strlen(yes[i])) == 1, "<%s>", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(flue_template_has_refs(&ctx, no[i],
		              strlen(no[i])) == 0, "<%s>", no[i]);
	/* Only the first len bytes count. */
	ck_assert_int_eq(flue_template_has_refs(&ctx, "ab{{ payload }}", 3), 0);
	ctx.flags = FLUE_TEMPLATE_PAYLOAD;
	ck_assert_int_eq(flue_template_has_refs(&ctx, "${X} $${", 8), 0);
	ck_assert_int_eq(flue_template_has_refs(&ctx, "{{ payload }}", 13), 1);
	ctx.flags = FLUE_TEMPLATE_ENV;
	ck_assert_int_eq(flue_template_has_refs(&ctx, "{{ payload }}", 13), 0);
	ck_assert_int_eq(flue_template_has_refs(&ctx, "${X}", 4), 1);
	ctx.flags = 0;
	ck_assert_int_eq(flue_template_has_refs(&ctx, "{{ payload }}${X}",
	                                        17), 0);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

/* A payload {"big": "xxx..."} of n bytes. */
static json_object *
big_payload(size_t n)
{
	json_object *payload = json_object_new_object();
	char *big = malloc(n);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', n);
	json_object_object_add(payload, "big",
	                       json_object_new_string_len(big, (int)n));
	free(big);
	return payload;
}

START_TEST(output_is_limited_to_one_mib)
{
	json_object *payload = big_payload(600 * 1024);
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	char *text, *out = NULL;
	size_t len = 0;

	check_error_ctx(&ctx, "{{payload.big}}\n  {{ payload.big }}", 1, 1,
	                "t.md:2:3: {{ payload.big }}: inserting it makes the "
	                "expanded text larger than 1 MiB");
	/* Exactly 1 MiB is allowed. */
	text = malloc(FLUE_TEMPLATE_MAX_OUTPUT + 2);
	ck_assert_ptr_nonnull(text);
	memset(text, 'y', FLUE_TEMPLATE_MAX_OUTPUT + 1);
	text[FLUE_TEMPLATE_MAX_OUTPUT + 1] = '\0';
	ck_assert_int_eq(flue_template_expand(&ctx, text,
	                 FLUE_TEMPLATE_MAX_OUTPUT, 1, 1, &out, &len, &err), 0);
	ck_assert_uint_eq(len, FLUE_TEMPLATE_MAX_OUTPUT);
	free(out);
	/* One byte more is not, and the message points at that byte. */
	check_error_ctx(&ctx, text, 1, 1,
	                "t.md:1:1048577: the expanded text grows past 1 MiB "
	                "here");
	/* Nor is text that crosses it after a reference. */
	memcpy(text, "{{ payload.big }}\n", 18);
	check_error_ctx(&ctx, text, 1, 1,
	                "t.md:2:434176: the expanded text grows past 1 MiB "
	                "here");
	free(text);
	json_object_put(payload);

	/* An environment value counts too. */
	payload = big_payload(FLUE_TEMPLATE_MAX_OUTPUT);
	ctx = context(payload);
	check_error_ctx(&ctx, "{{ payload.big }}${TOKEN}", 1, 1,
	                "t.md:1:18: ${TOKEN}: inserting it makes the expanded "
	                "text larger than 1 MiB");
	json_object_put(payload);
}
END_TEST

START_TEST(paths_are_limited_to_32_segments)
{
	json_object *payload = json_object_new_string("leaf");
	struct flue_template_context ctx;
	char text[256];
	size_t n;

	/* {"a": {"a": ... "leaf"}} 32 levels deep. */
	for (int i = 0; i < 32; i++) {
		json_object *outer = json_object_new_object();

		json_object_object_add(outer, "a", payload);
		payload = outer;
	}
	ctx = context(payload);
	n = (size_t)snprintf(text, sizeof(text), "{{ payload");
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, ".a");
	snprintf(text + n, sizeof(text) - n, " }}");
	check_expand_ctx(&ctx, text, "leaf");
	snprintf(text + n, sizeof(text) - n, "[0] }}");
	check_error_ctx(&ctx, text, 1, 1,
	                "t.md:1:1: {{ "
	                "payload.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
	                "a.a.a.a.a.a.a.a...: the path has more than 32 "
	                "segments");
	json_object_put(payload);
}
END_TEST

START_TEST(references_are_limited_to_1024_bytes)
{
	json_object *payload = json_object_new_object();
	struct flue_template_context ctx;
	char key[1024], text[2048];

	/* {{ payload.kkk...k }}: 14 bytes around the key. */
	memset(key, 'k', 1010);
	key[1010] = '\0';
	json_object_object_add(payload, key, json_object_new_string("ok"));
	ctx = context(payload);
	snprintf(text, sizeof(text), "{{ payload.%s }}", key);
	ck_assert_uint_eq(strlen(text), 1024);
	check_expand_ctx(&ctx, text, "ok");
	snprintf(text, sizeof(text), "{{ payload.%s  }}", key);
	check_error_ctx(&ctx, text, 1, 1,
	                "t.md:1:1: reference '{{ "
	                "payload.kkkkkkkkkkkkkkkkkkkkkkkk"
	                "kkkkkkkkkkkkkkkkkkkkkkkkk...' is longer than 1024 "
	                "bytes");
	/* A long default string. */
	snprintf(text, sizeof(text), "{{ payload.x | \"%s\" }}", key);
	check_error_ctx(&ctx, text, 1, 1,
	                "t.md:1:1: reference '{{ payload.x | "
	                "\"kkkkkkkkkkkkkkkkkkkk"
	                "kkkkkkkkkkkkkkkkkkkkkkkk...' is longer than 1024 "
	                "bytes");
	/* An environment reference: 13 bytes before the fallback. */
	snprintf(text, sizeof(text), "${UNSET_VAR:-%s}", key);
	ck_assert_uint_eq(strlen(text), 1024);
	check_expand_ctx(&ctx, text, key);
	snprintf(text, sizeof(text), "${UNSET_VAR:-k%s}", key);
	check_error_ctx(&ctx, text, 1, 1,
	                "t.md:1:1: reference "
	                "'${UNSET_VAR:-kkkkkkkkkkkkkkkkkkkkkk"
	                "kkkkkkkkkkkkkkkkkkkkkkkkk...' is longer than 1024 "
	                "bytes");
	json_object_put(payload);
}
END_TEST

/* ---- trees -------------------------------------------------------------- */

START_TEST(tree_whole_values_are_typed_and_keep_positions)
{
	json_object *payload = json("{\"turns\": 7, \"tools\": [\"read\", "
	                            "{\"name\": \"bash\"}], \"options\": "
	                            "{\"t\": 0.5}, \"verbose\": true, "
	                            "\"issue\": \"#12\", \"s\": \"{{ "
	                            "payload.turns }}\"}");
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	json_object *tree, *tools, *list;
	int rc;

	/* As frontmatter: the YAML starts at line 2 of the file. */
	tree = yaml("max_turns: \"{{ payload.turns }}\"\n"
	            "tools: '{{payload.tools}}'\n"
	            "options: \"{{ payload.options }}\"\n"
	            "verbose: \"  {{ payload.verbose }} \"\n"
	            "prompt: \"Fix {{ payload.issue }} in ${REPO:-main}\"\n"
	            "literal: '{{ \"{{\" }}'\n"
	            "plain: text\n"
	            "list:\n"
	            "  - \"{{ payload.turns | 0 }}\"\n"
	            "  - plain\n"
	            "  - nested: \"{{ payload.missing | null }}\"\n"
	            "    deflt: \"{{ payload.missing | 2.5 }}\"\n"
	            "'{{ payload.turns }}': keys stay\n"
	            "again: \"{{ payload.s }}\"\n", 1);
	rc = flue_template_expand_tree(&ctx, &tree, &err);
	ck_assert_msg(rc == 0, "%s", err.message);
	ck_assert_str_eq(plain(tree),
	                 "{\"max_turns\":7,"
	                 "\"tools\":[\"read\",{\"name\":\"bash\"}],"
	                 "\"options\":{\"t\":0.5},\"verbose\":true,"
	                 "\"prompt\":\"Fix #12 in flue\",\"literal\":\"{{\","
	                 "\"plain\":\"text\",\"list\":[7,\"plain\","
	                 "{\"nested\":null,\"deflt\":2.5}],"
	                 "\"{{ payload.turns }}\":\"keys stay\","
	                 "\"again\":\"{{ payload.turns }}\"}");
	ck_assert(json_object_is_type(member(tree, "max_turns"),
	                              json_type_int));
	check_pos(member(tree, "max_turns"), 2, 12, 2, 1);
	tools = member(tree, "tools");
	ck_assert(json_object_is_type(tools, json_type_array));
	check_pos(tools, 3, 8, 3, 1);
	/* What is inside gets the string's line and column. */
	check_pos(json_object_array_get_idx(tools, 0), 3, 8, 3, 8);
	check_pos(member(json_object_array_get_idx(tools, 1), "name"),
	          3, 8, 3, 8);
	ck_assert(json_object_is_type(member(tree, "options"),
	                              json_type_object));
	check_pos(member(tree, "options"), 4, 10, 4, 1);
	check_pos(member(member(tree, "options"), "t"), 4, 10, 4, 10);
	ck_assert(json_object_is_type(member(tree, "verbose"),
	                              json_type_boolean));
	check_pos(member(tree, "verbose"), 5, 10, 5, 1);
	check_pos(member(tree, "prompt"), 6, 9, 6, 1);
	check_pos(member(tree, "literal"), 7, 10, 7, 1);
	list = member(tree, "list");
	check_pos(json_object_array_get_idx(list, 0), 10, 5, 10, 5);
	check_pos(member(json_object_array_get_idx(list, 2), "deflt"),
	          13, 12, 13, 5);
	/* The payload's string went in as it was, not expanded again. */
	ck_assert(json_object_is_type(member(tree, "again"), json_type_string));
	/* The payload is untouched, and shares nothing with the tree. */
	json_object_array_add(tools, json_object_new_int(1));
	ck_assert_str_eq(plain(payload),
	                 "{\"turns\":7,"
	                 "\"tools\":[\"read\",{\"name\":\"bash\"}],"
	                 "\"options\":{\"t\":0.5},\"verbose\":true,"
	                 "\"issue\":\"#12\",\"s\":\"{{ payload.turns }}\"}");
	json_object_put(tree);
	json_object_put(payload);
}
END_TEST

START_TEST(tree_positions_from_a_yaml_payload_are_replaced)
{
	json_object *payload = yaml("x: 1\nobj:\n  k: [a]\n", 100);
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	json_object *tree = yaml("v: \"{{ payload.obj }}\"\n", 4);

	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	check_pos(member(tree, "v"), 5, 4, 5, 1);
	check_pos(member(member(tree, "v"), "k"), 5, 4, 5, 4);
	check_pos(json_object_array_get_idx(member(member(tree, "v"), "k"), 0),
	          5, 4, 5, 4);
	/* The payload keeps its own. */
	check_pos(member(member(payload, "obj"), "k"), 103, 6, 103, 3);
	json_object_put(tree);
	json_object_put(payload);
}
END_TEST

START_TEST(tree_root_string_is_replaced)
{
	json_object *payload = json("{\"n\": 3, \"o\": {\"a\": 1}}");
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	json_object *tree, *before;

	tree = yaml("\"{{ payload.o }}\"", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_str_eq(plain(tree), "{\"a\":1}");
	check_pos(tree, 1, 1, 1, 1);
	json_object_put(tree);

	tree = yaml("n is {{ payload.n }}", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_str_eq(json_object_get_string(tree), "n is 3");
	check_pos(tree, 1, 1, 1, 1);
	json_object_put(tree);

	/* A default of null makes the root null. */
	tree = yaml("\"{{ payload.nope | null }}\"", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_ptr_null(tree);

	/* A misspelt reference in the root. */
	tree = yaml("plain {{ text", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message, "t.md:1:1: unknown reference 'text': "
	                 "only payload.* can be used here");
	json_object_put(tree);

	/* A string without references stays the same object. */
	tree = json_object_new_string("just {{#if}} text");
	before = tree;
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_ptr_eq(tree, before);
	json_object_put(tree);

	/* Values built without positions still expand. */
	tree = json("[\"{{ payload.n }}\", \"<{{ payload.n }}>\", 5]");
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_str_eq(plain(tree), "[3,\"<3>\",5]");
	ck_assert_ptr_null(flue_yaml_pos(json_object_array_get_idx(tree, 0)));
	json_object_put(tree);
	json_object_put(payload);
}
END_TEST

START_TEST(tree_errors_carry_the_value_position)
{
	json_object *payload = json("{\"n\": 3}");
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	json_object *tree;

	ctx.filename = "agents/coder.md";
	tree = yaml("name: x\n"
	            "prompt: |\n"
	            "  Line one\n"
	            "  then {{ payload.repo }}\n", 1);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "agents/coder.md:3:9: {{ payload.repo }}: the payload "
	                 "has no field 'repo' (it has: n)");
	json_object_put(tree);

	tree = yaml("list:\n  - ok\n  - \"{{ paylod.n }}\"\n", 1);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "agents/coder.md:4:5: unknown reference 'paylod.n': "
	                 "only "
	                 "payload.* can be used here (did you mean "
	                 "payload.n?)");
	json_object_put(tree);

	tree = yaml("env: \"${NOT_SET_HERE}\"\n", 1);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "agents/coder.md:2:6: ${NOT_SET_HERE} is not set");
	json_object_put(tree);

	/* A string without a position: the file only. */
	tree = json("{\"a\": \"{{ payload.b }}\"}");
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "agents/coder.md: {{ payload.b }}: the payload has no "
	                 "field 'b' (it has: n)");
	json_object_put(tree);
	json_object_put(payload);
}
END_TEST

START_TEST(tree_flags_off_leave_strings)
{
	json_object *payload = json("{\"n\": 3}");
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	json_object *tree;

	ctx.flags = FLUE_TEMPLATE_ENV;
	tree = yaml("a: \"{{ payload.n }}\"\nb: \"${TOKEN}\"\n", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_str_eq(plain(tree),
	                 "{\"a\":\"{{ payload.n }}\",\"b\":\"s3cret\"}");
	json_object_put(tree);
	ctx.flags = 0;
	tree = yaml("a: \"{{ payload.n }}\"\nb: \"${TOKEN}\"\n", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err), 0);
	ck_assert_str_eq(plain(tree),
	                 "{\"a\":\"{{ payload.n }}\",\"b\":\"${TOKEN}\"}");
	json_object_put(tree);
	json_object_put(payload);
}
END_TEST

START_TEST(tree_output_is_limited_too)
{
	json_object *payload = big_payload(400 * 1024);
	struct flue_template_context ctx = context(payload);
	struct flue_error err = {0};
	json_object *tree;

	/* Two whole values fit, the third crosses 1 MiB. */
	tree = yaml("a: \"{{ payload.big }}\"\n"
	            "b: \"{{ payload }}\"\n"
	            "c: \"x{{ payload.big }}\"\n", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "t.md:3:4: {{ payload.big }}: inserting it makes the "
	                 "expanded text larger than 1 MiB");
	json_object_put(tree);
	tree = yaml("a: \"{{ payload.big }}\"\n"
	            "b: [\"{{ payload.big }}\", \"{{ payload }}\"]\n", 0);
	ck_assert_int_eq(flue_template_expand_tree(&ctx, &tree, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "t.md:2:26: {{ payload }}: inserting it makes the "
	                 "expanded text larger than 1 MiB");
	json_object_put(tree);
	json_object_put(payload);
}
END_TEST

static Suite *
template_suite(void)
{
	Suite *s = suite_create("template");
	TCase *payload = tcase_create("payload");
	TCase *text = tcase_create("text");
	TCase *env = tcase_create("env");
	TCase *limits = tcase_create("limits");
	TCase *tree = tcase_create("tree");

	tcase_set_timeout(payload, 30);
	tcase_set_timeout(text, 30);
	tcase_set_timeout(env, 30);
	tcase_set_timeout(limits, 60);
	tcase_set_timeout(tree, 30);

	tcase_add_test(payload, nested_paths_and_array_indexes);
	tcase_add_test(payload, quoted_keys);
	tcase_add_test(payload, values_render_as_text_or_compact_json);
	tcase_add_test(payload, whole_payload);
	tcase_add_test(payload, defaults_of_every_literal_kind);
	tcase_add_test(payload, defaults_cover_missing_and_null_only);
	tcase_add_test(payload, null_and_missing_without_default);
	tcase_add_test(payload, index_and_kind_errors);
	tcase_add_test(payload, the_documented_example);
	tcase_add_test(payload, key_lists_are_capped_at_ten);
	tcase_add_test(payload, no_payload);
	suite_add_tcase(s, payload);

	tcase_add_test(text, literal_references);
	tcase_add_test(text, other_braces_are_text);
	tcase_add_test(text, unknown_identifiers);
	tcase_add_test(text, unterminated_references);
	tcase_add_test(text, syntax_errors);
	tcase_add_test(text, positions_in_multi_line_text);
	tcase_add_test(text, inserted_text_is_never_expanded_again);
	tcase_add_test(text, text_need_not_be_nul_terminated);
	tcase_add_test(text, bad_arguments_are_refused);
	tcase_add_test(text, flags_off_leave_references_as_text);
	tcase_add_test(text, has_refs_finds_what_expansion_would_change);
	suite_add_tcase(s, text);

	tcase_add_test(env, env_references);
	tcase_add_test(env, env_shell_syntax_is_text);
	tcase_add_test(env, env_errors);
	tcase_add_test(env, env_uses_getenv_by_default);
	suite_add_tcase(s, env);

	tcase_add_test(limits, output_is_limited_to_one_mib);
	tcase_add_test(limits, paths_are_limited_to_32_segments);
	tcase_add_test(limits, references_are_limited_to_1024_bytes);
	tcase_add_test(limits, tree_output_is_limited_too);
	suite_add_tcase(s, limits);

	tcase_add_test(tree, tree_whole_values_are_typed_and_keep_positions);
	tcase_add_test(tree, tree_positions_from_a_yaml_payload_are_replaced);
	tcase_add_test(tree, tree_root_string_is_replaced);
	tcase_add_test(tree, tree_errors_carry_the_value_position);
	tcase_add_test(tree, tree_flags_off_leave_strings);
	suite_add_tcase(s, tree);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(template_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
