/* Compaction's pure parts: the cut point and the summariser's prompt. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/lib/compact.h"

/* A history from a compact notation: u user, a assistant with text,
 * c assistant with a tool call, t tool result; each message's JSON
 * length is given in len (bytes; 4 a token). */
static size_t
build(const char *shape, size_t each_len, json_object **msgs, size_t *len)
{
	size_t n = strlen(shape);

	for (size_t i = 0; i < n; i++) {
		const char *text;

		switch (shape[i]) {
		case 'u': text = "{\"role\":\"user\",\"content\":\"do it\"}"; break;
		case 'a': text = "{\"role\":\"assistant\",\"content\":[{\"type\":"
		                 "\"text\",\"text\":\"ok\"}]}"; break;
		case 'c': text = "{\"role\":\"assistant\",\"content\":[{\"type\":"
		                 "\"tool_call\",\"id\":\"x\",\"name\":\"read\","
		                 "\"arguments\":{\"path\":\"a.c\"}}]}"; break;
		default: text = "{\"role\":\"tool\",\"tool_call_id\":\"x\","
		                "\"name\":\"read\",\"content\":\"int x;\"}"; break;
		}
		msgs[i] = json_tokener_parse(text);
		len[i] = each_len;
	}
	return n;
}

static void
free_all(json_object **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_put(msgs[i]);
}

START_TEST(cut_keeps_recent_tokens)
{
	json_object *m[16];
	size_t len[16], n = build("ucttcta", 400, m, len);

	/* 100 tokens each: keeping 150 reaches back to index 5 (t), whose
	 * call is at 4: the cut goes to the next user or assistant (6). */
	ck_assert_uint_eq(flue_compact_cut(m, len, n, 0, 150), 6);
	/* keeping 250 reaches index 4, an assistant: cut there. */
	ck_assert_uint_eq(flue_compact_cut(m, len, n, 0, 250), 4);
	free_all(m, n);
}
END_TEST

START_TEST(cut_never_separates_a_call_from_its_result)
{
	json_object *m[16];
	size_t len[16], n = build("uctttt", 400, m, len);

	/* Everything after the call is a result: no cut after it, so the
	 * cut is at the call itself. */
	ck_assert_uint_eq(flue_compact_cut(m, len, n, 0, 10), 1);
	for (size_t keep = 1; keep < 700; keep += 7) {
		size_t cut = flue_compact_cut(m, len, n, 0, keep);

		ck_assert(cut == 0 || strcmp(json_object_get_string(
		          json_object_object_get(m[cut], "role")), "tool") != 0);
	}
	free_all(m, n);
}
END_TEST

START_TEST(cut_nothing_to_compact)
{
	json_object *m[16];
	size_t len[16], n = build("uct", 40, m, len);

	/* Keeping more than there is. */
	ck_assert_uint_eq(flue_compact_cut(m, len, n, 0, 1000), 0);
	free_all(m, n);
	n = build("u", 400, m, len);
	ck_assert_uint_eq(flue_compact_cut(m, len, n, 0, 1), 0);
	free_all(m, n);
	/* A previous summary at 0 is never summarised again by itself. */
	n = build("ua", 400, m, len);
	ck_assert_uint_eq(flue_compact_cut(m, len, n, 1, 1), 0);
	free_all(m, n);
}
END_TEST

START_TEST(prompt_writes_the_conversation)
{
	json_object *m[16];
	size_t len[16], n = build("ucta", 10, m, len);
	char *p = flue_compact_prompt(m, 0, n, NULL);

	ck_assert_ptr_nonnull(strstr(p, "<conversation>\n[User]: do it\n\n"
	                             "[Assistant tool calls]: read({\"path\":"
	                             "\"a.c\"})\n\n[Tool result]: int x;\n\n"
	                             "[Assistant]: ok\n</conversation>"));
	ck_assert_ptr_nonnull(strstr(p, "## Goal\n"));
	ck_assert_ptr_null(strstr(p, "<previous-summary>"));
	free(p);
	p = flue_compact_prompt(m, 2, n, "## Goal\nold");
	ck_assert_ptr_nonnull(strstr(p, "<conversation>\n[Tool result]"));
	ck_assert_ptr_nonnull(strstr(p, "<previous-summary>\n## Goal\nold\n"
	                             "</previous-summary>"));
	ck_assert_ptr_nonnull(strstr(p, "Update the previous summary"));
	free(p);
	free_all(m, n);
}
END_TEST

START_TEST(prompt_cuts_long_tool_results)
{
	json_object *m = json_object_new_object();
	char *big = malloc(5001), *p;

	memset(big, 'x', 5000);
	big[5000] = '\0';
	json_object_object_add(m, "role", json_object_new_string("tool"));
	json_object_object_add(m, "content", json_object_new_string(big));
	p = flue_compact_prompt(&m, 0, 1, NULL);
	ck_assert_ptr_nonnull(strstr(p, "[... 3000 more characters "
	                             "truncated]"));
	ck_assert_ptr_null(strstr(p, big + 2999));
	free(p);
	free(big);
	json_object_put(m);
}
END_TEST

START_TEST(summary_message)
{
	json_object *m = flue_compact_summary_message("## Goal\nx");

	ck_assert_str_eq(json_object_to_json_string_ext(m,
	                 JSON_C_TO_STRING_PLAIN), "{\"role\":\"user\",\"content\":"
	                 "\"[Context Summary]\\n\\n## Goal\\nx\"}");
	json_object_put(m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("compact");
	TCase *tc = tcase_create("compact");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, cut_keeps_recent_tokens);
	tcase_add_test(tc, cut_never_separates_a_call_from_its_result);
	tcase_add_test(tc, cut_nothing_to_compact);
	tcase_add_test(tc, prompt_writes_the_conversation);
	tcase_add_test(tc, prompt_cuts_long_tool_results);
	tcase_add_test(tc, summary_message);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
