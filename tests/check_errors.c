/* Errors and cancellation handles. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flue/flue.h>

START_TEST(error_set_fills_code_and_one_line)
{
	struct flue_error err = {0};

	ck_assert_int_eq(flue_error_set(&err, FLUE_ENOENT, "no %s\nhere", "file"),
	                 FLUE_ENOENT);
	ck_assert_int_eq(err.code, FLUE_ENOENT);
	ck_assert_str_eq(err.message, "no file here");
	ck_assert_int_eq(flue_error_set(NULL, FLUE_EIO, "ignored"), FLUE_EIO);
	flue_error_clear(&err);
	ck_assert_int_eq(err.code, 0);
	ck_assert_str_eq(err.message, "");
}
END_TEST

START_TEST(error_prefix_keeps_code_and_truncates)
{
	struct flue_error err = {0};
	char long_text[3000];

	flue_error_set(&err, FLUE_EAUTH, "token expired");
	ck_assert_int_eq(flue_error_prefix(&err, "provider %s", "gateway"),
	                 FLUE_EAUTH);
	ck_assert_str_eq(err.message, "provider gateway: token expired");
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	flue_error_set(&err, FLUE_EIO, "%s", long_text);
	ck_assert_uint_eq(strlen(err.message), FLUE_ERROR_MESSAGE_MAX - 1);
	flue_error_prefix(&err, "ctx");
	ck_assert_uint_eq(strlen(err.message), FLUE_ERROR_MESSAGE_MAX - 1);
	ck_assert(strncmp(err.message, "ctx: xxx", 8) == 0);
}
END_TEST

START_TEST(status_names_are_stable)
{
	ck_assert_str_eq(flue_status_name(FLUE_OK), "ok");
	ck_assert_str_eq(flue_status_name(FLUE_ETIMEDOUT), "timed_out");
	ck_assert_str_eq(flue_status_name(FLUE_ECANCELED), "cancelled");
	ck_assert_str_eq(flue_status_name(FLUE_ERETRY), "retryable");
	ck_assert_str_eq(flue_status_name(FLUE_EABI), "abi_mismatch");
	ck_assert_str_eq(flue_status_name(-999), "unknown");
}
END_TEST

START_TEST(version_matches_header)
{
	ck_assert_str_eq(flue_version(), FLUE_VERSION);
}
END_TEST

static void *
trigger_later(void *arg)
{
	usleep(50 * 1000);
	flue_cancel_trigger(arg);
	return NULL;
}

START_TEST(cancel_wakes_a_poller_from_another_thread)
{
	struct flue_cancel *cancel = NULL;
	struct flue_error err = {0};
	pthread_t thread;

	ck_assert_int_eq(flue_cancel_new(&cancel, &err), 0);
	ck_assert_int_eq(flue_cancel_is_set(cancel), 0);
	ck_assert_int_eq(flue_cancel_is_set(NULL), 0);
	ck_assert_int_eq(pthread_create(&thread, NULL, trigger_later, cancel), 0);
	for (int i = 0; i < 200 && !flue_cancel_is_set(cancel); i++)
		usleep(10 * 1000);
	pthread_join(thread, NULL);
	ck_assert_int_eq(flue_cancel_is_set(cancel), 1);
	/* Triggering twice is harmless. */
	flue_cancel_trigger(cancel);
	ck_assert_int_eq(flue_cancel_is_set(cancel), 1);
	flue_cancel_free(cancel);
	flue_cancel_free(NULL);
}
END_TEST

START_TEST(freeing_empty_results_is_safe)
{
	struct flue_exec_result res = {0};
	struct flue_bytes bytes = {0};

	flue_exec_result_free(&res);
	flue_bytes_free(&bytes);
	flue_bytes_free(NULL);
	flue_exec_result_free(NULL);
	ck_assert_ptr_null(bytes.data);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("errors");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, error_set_fills_code_and_one_line);
	tcase_add_test(tc, error_prefix_keeps_code_and_truncates);
	tcase_add_test(tc, status_names_are_stable);
	tcase_add_test(tc, version_matches_header);
	tcase_add_test(tc, cancel_wakes_a_poller_from_another_thread);
	tcase_add_test(tc, freeing_empty_results_is_safe);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
