/* The assembler: provider events in, one assistant message out. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/lib/assemble.h"

static struct flue_assembler a;
static struct flue_error err;

static int
feed(uint32_t type, unsigned index, const char *text, const char *id,
     const char *name)
{
	struct flue_provider_event ev = {0};

	ev.type = type;
	ev.index = index;
	ev.text = text;
	ev.text_len = text ? strlen(text) : 0;
	ev.id = id;
	ev.name = name;
	return flue_assembler_event(&a, &ev, &err);
}

static const char *
finish_json(char ***problems)
{
	static char buf[4096];
	json_object *msg;

	ck_assert_int_eq(flue_assembler_finish(&a, "p/m", &msg, problems, &err),
	                 0);
	snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(msg,
	         JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(msg);
	return buf;
}

static void
setup(void)
{
	flue_assembler_init(&a);
	memset(&err, 0, sizeof(err));
}

static void
teardown(void)
{
	flue_assembler_clear(&a);
}

START_TEST(text_thinking_and_calls_in_order)
{
	char **problems;
	struct flue_usage u = {10, 5, 2, 1, 3, 0.5};
	struct flue_provider_event ue = {.type = FLUE_PROVIDER_USAGE,
	                                 .usage = &u};

	ck_assert_int_eq(feed(FLUE_PROVIDER_THINKING_DELTA, 0, "hm", 0, 0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_THINKING_DELTA, 0, "m", 0, 0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TEXT_DELTA, 0, "I'll ", 0, 0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TEXT_DELTA, 0, "look.", 0, 0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_START, 0, NULL, "c1",
	                      "bash"), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_START, 1, NULL, "c2",
	                      "read"), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 0, "{\"comm", 0,
	                      0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 1, "{\"path\":", 0,
	                      0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 0, "and\":\"ls\"}",
	                      0, 0), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 1, "\"a\"}", 0, 0),
	                 0);
	ck_assert_int_eq(flue_assembler_event(&a, &ue, &err), 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_OPAQUE, 0, "{\"api\":\"x\"}", 0, 0),
	                 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_STOP, 0, "tool_calls", 0, 0), 0);
	ck_assert_uint_eq(a.tool_calls, 2);
	ck_assert_str_eq(finish_json(&problems),
	        "{\"role\":\"assistant\",\"content\":["
	        "{\"type\":\"thinking\",\"text\":\"hmm\"},"
	        "{\"type\":\"text\",\"text\":\"I'll look.\"},"
	        "{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"bash\","
	        "\"arguments\":{\"command\":\"ls\"}},"
	        "{\"type\":\"tool_call\",\"id\":\"c2\",\"name\":\"read\","
	        "\"arguments\":{\"path\":\"a\"}}],"
	        "\"stop_reason\":\"tool_calls\",\"model\":\"p/m\","
	        "\"usage\":{\"input_tokens\":10,\"output_tokens\":5,"
	        "\"cache_read_tokens\":2,\"cache_write_tokens\":1,"
	        "\"reasoning_tokens\":3,\"cost_usd\":0.5},"
	        "\"provider_data\":{\"api\":\"x\"}}");
	ck_assert_ptr_null(problems[0]);
	ck_assert_ptr_null(problems[1]);
	free(problems);
}
END_TEST

START_TEST(bad_arguments_become_problems)
{
	char **problems;

	feed(FLUE_PROVIDER_TOOL_CALL_START, 0, NULL, "c1", "bash");
	feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 0, "{\"command\": \"ls", 0, 0);
	feed(FLUE_PROVIDER_TOOL_CALL_START, 1, NULL, NULL, "glob");
	feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 1, "[1]", 0, 0);
	feed(FLUE_PROVIDER_TOOL_CALL_START, 2, NULL, "c3", "read");
	feed(FLUE_PROVIDER_STOP, 0, "tool_calls", 0, 0);
	ck_assert_ptr_nonnull(strstr(finish_json(&problems),
	        "{\"type\":\"tool_call\",\"id\":\"call_1\",\"name\":\"glob\","
	        "\"arguments\":{}}"));
	ck_assert_ptr_nonnull(strstr(problems[0], "not valid JSON"));
	ck_assert_str_eq(problems[1],
	                 "the arguments must be a JSON object, not array");
	ck_assert_ptr_null(problems[2]);   /* "" is {} */
	for (int i = 0; i < 3; i++)
		free(problems[i]);
	free(problems);
}
END_TEST

START_TEST(retry_forgets_everything)
{
	char **problems;

	feed(FLUE_PROVIDER_TEXT_DELTA, 0, "partial", 0, 0);
	feed(FLUE_PROVIDER_TOOL_CALL_START, 0, NULL, "c1", "bash");
	ck_assert_int_eq(feed(FLUE_PROVIDER_RETRY, 0, "503", 0, 0), 0);
	feed(FLUE_PROVIDER_TEXT_DELTA, 0, "whole", 0, 0);
	feed(FLUE_PROVIDER_STOP, 0, "end", 0, 0);
	ck_assert_str_eq(finish_json(&problems),
	        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
	        "\"text\":\"whole\"}],\"stop_reason\":\"end\",\"model\":\"p/m\"}");
	free(problems);
}
END_TEST

START_TEST(protocol_violations)
{
	json_object *msg;
	char **problems;

	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_DELTA, 4, "{}", 0, 0),
	                 FLUE_ERROR);
	ck_assert_ptr_nonnull(strstr(err.message, "before starting it"));
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_START, 0, NULL, "a", ""),
	                 FLUE_ERROR);
	feed(FLUE_PROVIDER_TOOL_CALL_START, 0, NULL, "a", "bash");
	ck_assert_int_eq(feed(FLUE_PROVIDER_TOOL_CALL_START, 0, NULL, "b",
	                      "bash"), FLUE_ERROR);
	ck_assert_int_eq(feed(FLUE_PROVIDER_OPAQUE, 0, "[1]", 0, 0),
	                 FLUE_ERROR);
	/* No STOP: the answer is not complete. */
	ck_assert_int_eq(flue_assembler_finish(&a, NULL, &msg, &problems, &err),
	                 FLUE_ERETRY);
	feed(FLUE_PROVIDER_STOP, 0, "end", 0, 0);
	ck_assert_int_eq(feed(FLUE_PROVIDER_TEXT_DELTA, 0, "late", 0, 0),
	                 FLUE_ERROR);
}
END_TEST

START_TEST(usage_sums_and_unknown_cost)
{
	struct flue_usage sum = {0}, a1 = {1, 2, 3, 4, 5, -1},
	                  a2 = {10, 20, 30, 40, 50, 0.25};

	sum.cost_usd = -1;
	flue_usage_add(&sum, &a1);
	ck_assert(sum.cost_usd < 0);
	flue_usage_add(&sum, &a2);
	ck_assert_uint_eq(sum.input_tokens, 11);
	ck_assert_uint_eq(sum.reasoning_tokens, 55);
	ck_assert(sum.cost_usd == 0.25);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("assemble");
	TCase *tc = tcase_create("assemble");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, text_thinking_and_calls_in_order);
	tcase_add_test(tc, bad_arguments_become_problems);
	tcase_add_test(tc, retry_forgets_everything);
	tcase_add_test(tc, protocol_violations);
	tcase_add_test(tc, usage_sums_and_unknown_cost);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
