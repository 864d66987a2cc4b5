/* Session history on disk: messages survive a reopen, a write cut short
 * by a crash or a SIGKILL is cut off cleanly, damage elsewhere is
 * reported with file and line, one run holds a session at a time, and
 * ids cannot escape the state folder. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/history.h"

static char tmp[64];

static void
setup(void)
{
	strcpy(tmp, "/tmp/flue-history-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static struct flue_history *
open_ok(int *repaired)
{
	struct flue_history *h = NULL;
	struct flue_error err = {0};

	ck_assert_msg(flue_history_open(&h, tmp, "coder", "s-1", repaired,
	                                &err) == 0, "%s", err.message);
	return h;
}

static void
append_text(struct flue_history *h, const char *role, const char *text)
{
	struct flue_error err = {0};
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "role", json_object_new_string(role));
	json_object_object_add(msg, "content", json_object_new_string(text));
	ck_assert_msg(flue_history_append(h, msg, &err) == 0, "%s", err.message);
	json_object_put(msg);
}

static const char *
content(struct flue_history *h, size_t i)
{
	return json_object_get_string(json_object_object_get(
	       flue_history_get(h, i), "content"));
}

static off_t
file_size(struct flue_history *h)
{
	struct stat st;

	ck_assert_int_eq(stat(flue_history_path(h), &st), 0);
	return st.st_size;
}

START_TEST(messages_survive_reopen)
{
	struct flue_history *h = open_ok(NULL);
	char want[128];
	int repaired = -1;

	ck_assert_uint_eq(flue_history_count(h), 0);
	append_text(h, "user", "hello");
	append_text(h, "assistant", "line\nwith \"quotes\" and \xc3\xa9");
	append_text(h, "user", "third");
	snprintf(want, sizeof(want), "%s/sessions/coder/s-1.jsonl", tmp);
	ck_assert_str_eq(flue_history_path(h), want);
	flue_history_close(h);
	h = open_ok(&repaired);
	ck_assert_int_eq(repaired, 0);
	ck_assert_uint_eq(flue_history_count(h), 3);
	ck_assert_str_eq(content(h, 0), "hello");
	ck_assert_str_eq(content(h, 1), "line\nwith \"quotes\" and \xc3\xa9");
	ck_assert_str_eq(content(h, 2), "third");
	flue_history_close(h);
}
END_TEST

START_TEST(torn_last_line_is_cut_off)
{
	struct flue_history *h = open_ok(NULL);
	off_t good;
	int fd, repaired = 0;

	append_text(h, "user", "one");
	append_text(h, "assistant", "two");
	good = file_size(h);
	fd = open(flue_history_path(h), O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "{\"role\":\"us", 11), 11);
	close(fd);
	flue_history_close(h);
	h = open_ok(&repaired);
	ck_assert_int_eq(repaired, 1);
	ck_assert_uint_eq(flue_history_count(h), 2);
	ck_assert_int_eq(file_size(h), good);
	/* Appending after the repair gives a clean file. */
	append_text(h, "user", "three");
	flue_history_close(h);
	h = open_ok(&repaired);
	ck_assert_int_eq(repaired, 0);
	ck_assert_uint_eq(flue_history_count(h), 3);
	ck_assert_str_eq(content(h, 2), "three");
	flue_history_close(h);
}
END_TEST

START_TEST(killed_writer_leaves_a_readable_history)
{
	for (int round = 0; round < 5; round++) {
		struct flue_history *h;
		pid_t pid = fork();
		int status, repaired = 0;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct flue_history *child = NULL;
			struct flue_error err = {0};
			char text[64];

			if (flue_history_open(&child, tmp, "coder", "s-1", NULL,
			                      &err) != 0)
				_exit(3);
			for (int i = 0; ; i++) {
				json_object *msg = json_object_new_object();

				snprintf(text, sizeof(text), "message %d", i);
				json_object_object_add(msg, "content",
				                       json_object_new_string(text));
				if (flue_history_append(child, msg, &err) != 0)
					_exit(4);
				json_object_put(msg);
			}
		}
		usleep(20000 + round * 7000);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));
		h = open_ok(&repaired);
		ck_assert_uint_gt(flue_history_count(h), 0);
		for (size_t i = 0; i < flue_history_count(h); i++)
			ck_assert_ptr_nonnull(content(h, i));
		flue_history_close(h);
	}
}
END_TEST

START_TEST(damage_before_the_end_is_an_error)
{
	struct flue_history *h = open_ok(NULL);
	struct flue_error err = {0};
	char path[256], want[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s", flue_history_path(h));
	flue_history_close(h);
	f = fopen(path, "w");
	fputs("{\"content\":\"ok\"}\nnot json\n{\"content\":\"later\"}\n", f);
	fclose(f);
	h = NULL;
	ck_assert_int_eq(flue_history_open(&h, tmp, "coder", "s-1", NULL, &err),
	                 FLUE_EINVAL);
	ck_assert_ptr_null(h);
	snprintf(want, sizeof(want), "%s:2: not a JSON message; the history is "
	         "damaged (move the file away to start the session afresh)",
	         path);
	ck_assert_str_eq(err.message, want);
}
END_TEST

START_TEST(one_holder_at_a_time)
{
	struct flue_history *a = open_ok(NULL), *b = NULL;
	struct flue_error err = {0};

	ck_assert_int_eq(flue_history_open(&b, tmp, "coder", "s-1", NULL, &err),
	                 FLUE_EBUSY);
	ck_assert_str_eq(err.message, "session 's-1' of agent 'coder' is in use "
	                 "by another run");
	/* Another session of the same agent is free. */
	ck_assert_int_eq(flue_history_open(&b, tmp, "coder", "s-2", NULL, &err),
	                 0);
	flue_history_close(b);
	flue_history_close(a);
	a = open_ok(NULL);
	flue_history_close(a);
}
END_TEST

START_TEST(ids_stay_inside_the_state_folder)
{
	static const char *const bad[] = {"../x", ".hidden", "", "a/b", "a b",
	                                  "..", NULL};
	struct flue_history *h = NULL;
	struct flue_error err = {0};
	char long_id[FLUE_SESSION_ID_MAX + 2];

	for (size_t i = 0; bad[i] != NULL; i++) {
		ck_assert_int_eq(flue_history_open(&h, tmp, "coder", bad[i], NULL,
		                                   &err), FLUE_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.message, "is not a valid session "
		                             "id"));
	}
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	ck_assert_int_eq(flue_history_open(&h, tmp, "coder", long_id, NULL,
	                                   &err), FLUE_EINVAL);
	long_id[FLUE_SESSION_ID_MAX] = '\0';
	ck_assert_int_eq(flue_history_open(&h, tmp, "coder", long_id, NULL,
	                                   &err), 0);
	flue_history_close(h);
	ck_assert_int_eq(flue_history_open(&h, tmp, "../etc", "x", NULL, &err),
	                 FLUE_EINVAL);
	ck_assert(flue_session_id_valid("Run_2026-11-22.1"));
}
END_TEST

START_TEST(only_objects_are_appended)
{
	struct flue_history *h = open_ok(NULL);
	struct flue_error err = {0};
	json_object *arr = json_object_new_array();

	ck_assert_int_eq(flue_history_append(h, arr, &err), FLUE_EINVAL);
	ck_assert_uint_eq(flue_history_count(h), 0);
	ck_assert_int_eq(file_size(h), 0);
	json_object_put(arr);
	flue_history_close(h);
}
END_TEST

static Suite *
history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("history");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, messages_survive_reopen);
	tcase_add_test(tc, torn_last_line_is_cut_off);
	tcase_add_test(tc, killed_writer_leaves_a_readable_history);
	tcase_add_test(tc, damage_before_the_end_is_an_error);
	tcase_add_test(tc, one_holder_at_a_time);
	tcase_add_test(tc, ids_stay_inside_the_state_folder);
	tcase_add_test(tc, only_objects_are_appended);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(history_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
