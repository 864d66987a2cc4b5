/* The SSE parser: events come out the same however the stream is cut
 * into reads -- at every byte, inside CR LF, inside a UTF-8 character --
 * with the standard's field rules (comments, "data:" without a space,
 * multi-line data, id, retry, BOM) and truncation detected. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/gateway/sse.h"

/* The events seen, as "type|id|data\n" lines. */
struct seen {
	char text[8192];
	size_t len;
	int stop_after;   /* stop once this many events were seen (0: never) */
	int count;
};

static int
record(void *arg, const struct sse_event *ev)
{
	struct seen *s = arg;
	int n = snprintf(s->text + s->len, sizeof(s->text) - s->len,
	                 "%s|%s|%s\n", ev->type, ev->last_id, ev->data);

	ck_assert(n > 0 && (size_t)n < sizeof(s->text) - s->len);
	ck_assert_uint_eq(strlen(ev->data), ev->data_len);
	s->len += (size_t)n;
	s->count++;
	return s->stop_after && s->count >= s->stop_after ? 42 : 0;
}

/* Parse stream in chunks of `chunk` bytes (0: all at once). */
static void
parse(const char *stream, size_t len, size_t chunk, struct seen *s,
      int *truncated)
{
	struct sse_parser p;

	memset(s, 0, sizeof(*s));
	sse_parser_init(&p, record, s);
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t i = 0; i < len; i += chunk) {
		size_t n = len - i < chunk ? len - i : chunk;

		ck_assert_int_eq(sse_parser_feed(&p, stream + i, n), 0);
	}
	*truncated = sse_parser_truncated(&p);
	sse_parser_free(&p);
}

/* The stream gives want whole, byte by byte, and split at every point
 * into two reads. */
static void
check_stream(const char *stream, const char *want, int want_truncated)
{
	size_t len = strlen(stream);
	struct seen s;
	int truncated;

	for (size_t chunk = 0; chunk <= 3; chunk++) {
		parse(stream, len, chunk, &s, &truncated);
		ck_assert_msg(strcmp(s.text, want) == 0, "chunk %zu: got <%s> want "
		              "<%s>", chunk, s.text, want);
		ck_assert_int_eq(truncated, want_truncated);
	}
	for (size_t cut = 1; cut < len; cut++) {
		struct sse_parser p;

		memset(&s, 0, sizeof(s));
		sse_parser_init(&p, record, &s);
		ck_assert_int_eq(sse_parser_feed(&p, stream, cut), 0);
		ck_assert_int_eq(sse_parser_feed(&p, stream + cut, len - cut), 0);
		ck_assert_msg(strcmp(s.text, want) == 0, "cut %zu: got <%s>", cut,
		              s.text);
		ck_assert_int_eq(sse_parser_truncated(&p), want_truncated);
		sse_parser_free(&p);
	}
}

START_TEST(basic_events)
{
	check_stream("data: hello\n\n", "message||hello\n", 0);
	check_stream("event: delta\ndata: {\"a\":1}\n\n",
	             "delta||{\"a\":1}\n", 0);
	check_stream("data: one\ndata: two\n\ndata: three\n\n",
	             "message||one\ntwo\nmessage||three\n", 0);
}
END_TEST

START_TEST(line_endings)
{
	check_stream("data: a\r\n\r\ndata: b\r\rdata: c\n\n",
	             "message||a\nmessage||b\nmessage||c\n", 0);
	/* CR LF split across reads is one line ending, not two. */
	check_stream("data: x\r\ndata: y\r\n\r\n", "message||x\ny\n", 0);
}
END_TEST

START_TEST(field_rules)
{
	/* No space after the colon; only one space is removed. */
	check_stream("data:tight\n\n", "message||tight\n", 0);
	check_stream("data:  two spaces\n\n", "message|| two spaces\n", 0);
	/* Comments (heartbeats) are ignored, unknown fields too. */
	check_stream(": ping\n\n:\ndata: x\nfoo: bar\n\n", "message||x\n", 0);
	/* A field with no colon is the name with an empty value. */
	check_stream("data\n\n", "message||\n", 0);
	/* Fields without data dispatch nothing; the type resets. */
	check_stream("event: lone\n\ndata: d\n\n", "message||d\n", 0);
	/* id persists across events. */
	check_stream("id: 7\ndata: a\n\ndata: b\n\n",
	             "message|7|a\nmessage|7|b\n", 0);
}
END_TEST

START_TEST(retry_field)
{
	struct sse_parser p;
	struct seen s = {0};

	sse_parser_init(&p, record, &s);
	ck_assert_int_eq(sse_parser_feed(&p, "retry: 1500\n", 12), 0);
	ck_assert_int_eq(p.retry_ms, 1500);
	ck_assert_int_eq(sse_parser_feed(&p, "retry: 1x\n", 10), 0);
	ck_assert_int_eq(p.retry_ms, 1500);
	sse_parser_free(&p);
}
END_TEST

START_TEST(utf8_split_anywhere)
{
	/* é (2 bytes), € (3), 😀 (4): every cut point is tried. */
	check_stream("data: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n\n",
	             "message||caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", 0);
}
END_TEST

START_TEST(bom_at_start_only)
{
	check_stream("\xef\xbb\xbf" "data: x\n\n", "message||x\n", 0);
	/* A BOM later is data. */
	check_stream("data: \xef\xbb\xbfx\n\n", "message||\xef\xbb\xbfx\n", 0);
}
END_TEST

START_TEST(truncation_detected)
{
	check_stream("data: full\n\ndata: cut", "message||full\n", 1);
	check_stream("data: full\n\ndata: no blank line\n", "message||full\n", 1);
	check_stream("data: full\n\n", "message||full\n", 0);
	check_stream(": only a comment\n", "", 0);
}
END_TEST

START_TEST(callback_stops_the_feed)
{
	struct sse_parser p;
	struct seen s = {0};
	const char *stream = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

	s.stop_after = 2;
	sse_parser_init(&p, record, &s);
	ck_assert_int_eq(sse_parser_feed(&p, stream, strlen(stream)), 42);
	ck_assert_int_eq(s.count, 2);
	sse_parser_free(&p);
}
END_TEST

START_TEST(runaway_line_is_refused)
{
	struct sse_parser p;
	struct seen s = {0};
	size_t chunk = 1024 * 1024;
	char *block = malloc(chunk);
	int rc = 0;

	memset(block, 'x', chunk);
	sse_parser_init(&p, record, &s);
	ck_assert_int_eq(sse_parser_feed(&p, "data: ", 6), 0);
	for (int i = 0; i < 20 && rc == 0; i++)
		rc = sse_parser_feed(&p, block, chunk);
	ck_assert_int_eq(rc, SSE_ETOOLONG);
	ck_assert_int_eq(s.count, 0);
	sse_parser_free(&p);
	free(block);
}
END_TEST

static int
count_only(void *arg, const struct sse_event *ev)
{
	*(size_t *)arg = ev->data_len;
	return 0;
}

START_TEST(long_event_delivered_whole)
{
	struct sse_parser p;
	size_t got = 0, n = 100000;
	char *big = malloc(n + 9);

	memcpy(big, "data: ", 6);
	memset(big + 6, 'x', n);
	memcpy(big + 6 + n, "\n\n", 3);
	sse_parser_init(&p, count_only, &got);
	for (size_t i = 0; i < n + 8; i += 999)
		ck_assert_int_eq(sse_parser_feed(&p, big + i,
		                 n + 8 - i < 999 ? n + 8 - i : 999), 0);
	ck_assert_uint_eq(got, n);
	sse_parser_free(&p);
	free(big);
}
END_TEST

static Suite *
sse_suite(void)
{
	Suite *s = suite_create("sse");
	TCase *tc = tcase_create("sse");

	tcase_add_test(tc, basic_events);
	tcase_add_test(tc, line_endings);
	tcase_add_test(tc, field_rules);
	tcase_add_test(tc, retry_field);
	tcase_add_test(tc, utf8_split_anywhere);
	tcase_add_test(tc, bom_at_start_only);
	tcase_add_test(tc, truncation_detected);
	tcase_add_test(tc, callback_stops_the_feed);
	tcase_add_test(tc, runaway_line_is_refused);
	tcase_add_test(tc, long_event_delivered_whole);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
