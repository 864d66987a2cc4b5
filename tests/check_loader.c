/* The plugin loader: every refusal names the file and the next step and
 * leaves nothing loaded; the search order is PRODUCT.md's. */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flue/flue.h>

/* snprintf that fails the test instead of truncating. */
#define xsnprintf(buf, size, ...) \
	ck_assert_int_lt(snprintf((buf), (size), __VA_ARGS__), (int)(size))

static char fixture_dir[PATH_MAX];
static char tmp_dir[PATH_MAX];

static void
fixture_path(char *out, size_t size, const char *name)
{
	xsnprintf(out, size, "%s/%s.so", fixture_dir, name);
}

static int
still_loaded(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);

	if (h != NULL) {
		dlclose(h);
		return 1;
	}
	return 0;
}

/* Open a harness with one requested plugin and return its status. */
static int
open_one(const char *plugin, struct flue_error *err, flue_harness **out)
{
	const char *plugins[] = {plugin, NULL};
	const char *path[] = {fixture_dir, NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts),
		.project_dir = tmp_dir,
		.plugins = plugins,
		.plugin_path = path,
	};

	return flue_harness_open(out, &opts, err);
}

static void
expect_refusal(const char *fixture, int code, const char *needle)
{
	struct flue_error err = {0};
	flue_harness *h = NULL;
	char path[PATH_MAX];
	int rc;

	fixture_path(path, sizeof(path), fixture);
	rc = open_one(path, &err, &h);
	ck_assert_int_eq(rc, code);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.message, path) != NULL,
	              "message does not name the file: %s", err.message);
	ck_assert_msg(strstr(err.message, needle) != NULL,
	              "expected \"%s\" in: %s", needle, err.message);
	ck_assert_msg(!still_loaded(path), "%s stayed loaded", path);
}

static void
setup(void)
{
	const char *dir = getenv("FLUE_TEST_FIXTURE_DIR");

	ck_assert_ptr_nonnull(dir);
	xsnprintf(fixture_dir, sizeof(fixture_dir), "%s", dir);
	xsnprintf(tmp_dir, sizeof(tmp_dir), "/tmp/flue-loader-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
	unsetenv("FLUE_PLUGIN_PATH");
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	xsnprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(wrong_major_is_refused)
{
	expect_refusal("fx-wrong-major", FLUE_EABI,
	               "built for plugin ABI 2.1, but this flue supports ABI 1.1");
}
END_TEST

START_TEST(newer_minor_is_refused)
{
	expect_refusal("fx-newer-minor", FLUE_EABI,
	               "needs plugin ABI 1.7, but this flue provides ABI 1.1");
}
END_TEST

START_TEST(short_descriptor_is_refused)
{
	expect_refusal("fx-short", FLUE_EABI, "16-byte descriptor");
}
END_TEST

/* An operation table smaller than ABI 1.0's is refused; the check is
 * against the 1.0 size, so tables of later minor versions still load. */
START_TEST(short_ops_table_is_refused)
{
	expect_refusal("fx-short-ops", FLUE_EINVAL,
	               "has an incomplete sandbox operation table");
}
END_TEST

START_TEST(missing_entry_is_refused)
{
	expect_refusal("fx-no-entry", FLUE_EINVAL,
	               "does not export flue_plugin_entry()");
}
END_TEST

START_TEST(failing_create_is_refused)
{
	expect_refusal("fx-create-fails", FLUE_EAUTH,
	               "failed to start: no credentials: set FIXTURE_TOKEN");
}
END_TEST

START_TEST(unresolved_symbol_is_refused_at_load)
{
	/* Lazy binding would load it and crash in create(). */
	expect_refusal("fx-unresolved", FLUE_EINVAL,
	               "undefined symbol: flue_fixture_missing_symbol");
}
END_TEST

START_TEST(not_a_regular_file_is_refused)
{
	struct flue_error err = {0};
	flue_harness *h = NULL;
	char path[PATH_MAX];

	xsnprintf(path, sizeof(path), "%s/folder.so", tmp_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(open_one(path, &err, &h), FLUE_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "is not a regular file"));
	ck_assert_ptr_nonnull(strstr(err.message, path));
}
END_TEST

START_TEST(not_a_shared_object_is_refused)
{
	struct flue_error err = {0};
	flue_harness *h = NULL;
	char path[PATH_MAX];
	FILE *f;

	xsnprintf(path, sizeof(path), "%s/text.so", tmp_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\necho not a plugin\n", f);
	fclose(f);
	ck_assert_int_eq(open_one(path, &err, &h), FLUE_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "is not a shared object"));
	ck_assert_ptr_nonnull(strstr(err.message, "flue build"));
}
END_TEST

START_TEST(missing_plugin_lists_the_folders)
{
	struct flue_error err = {0};
	flue_harness *h = NULL;

	ck_assert_int_eq(open_one("no-such-plugin", &err, &h), FLUE_ENOENT);
	ck_assert_ptr_nonnull(strstr(err.message, "no-such-plugin.so"));
	ck_assert_ptr_nonnull(strstr(err.message, fixture_dir));
	ck_assert_ptr_nonnull(strstr(err.message, "FLUE_PLUGIN_PATH"));
}
END_TEST

START_TEST(invalid_name_is_refused)
{
	struct flue_error err = {0};
	flue_harness *h = NULL;

	ck_assert_int_eq(open_one("Bad Name", &err, &h), FLUE_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "invalid plugin name"));
}
END_TEST

START_TEST(duplicate_name_is_refused)
{
	char good[PATH_MAX], dup[PATH_MAX];
	const char *plugins[] = {good, dup, NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts), .project_dir = NULL, .plugins = plugins,
	};
	struct flue_error err = {0};
	flue_harness *h = NULL;

	fixture_path(good, sizeof(good), "fx-good");
	fixture_path(dup, sizeof(dup), "fx-duplicate");
	opts.project_dir = tmp_dir;
	ck_assert_int_eq(flue_harness_open(&h, &opts, &err), FLUE_EEXIST);
	ck_assert_ptr_nonnull(strstr(err.message, dup));
	ck_assert_ptr_nonnull(strstr(err.message, "already loaded from"));
	ck_assert_ptr_nonnull(strstr(err.message, good));
	ck_assert(!still_loaded(dup));
#ifndef __SANITIZE_ADDRESS__
	/* Sanitizer builds keep plugins that were in use mapped until exit
	 * (core/lib/loader.c says why). */
	ck_assert(!still_loaded(good));
#endif
}
END_TEST

START_TEST(good_plugin_loads_and_runs)
{
	struct flue_exec_request req = {.command = "echo hi"};
	struct flue_exec_result res;
	struct flue_error err = {0};
	flue_workspace *ws = NULL;
	flue_harness *h = NULL;
	const struct flue_plugin_report *r;

	ck_assert_int_eq(open_one("fx-good", &err, &h), 0);
	ck_assert_int_eq(flue_harness_plugin_count(h), 1);
	r = flue_harness_plugin_report(h, 0);
	ck_assert_int_eq(r->loaded, 1);
	ck_assert_str_eq(r->name, "fx-good");
	ck_assert_str_eq(r->kind, "sandbox");
	ck_assert_str_eq(r->version, "9.9.9");
	ck_assert_str_eq(r->origin, "config");
	ck_assert_uint_eq(r->abi_major, FLUE_PLUGIN_ABI_MAJOR);
	ck_assert_ptr_null(r->refusal);
	ck_assert_int_eq(flue_workspace_open(&ws, h, "fx-good", "s1", NULL, &err), 0);
	ck_assert_str_eq(flue_workspace_dir(ws), "/");
	ck_assert_int_eq(flue_workspace_exec(ws, &req, &res, &err), 0);
	ck_assert_str_eq((char *)res.stdout_data.data, "fixture ran: echo hi\n");
	flue_exec_result_free(&res);
	/* The fixture's file operations fail; the message gets through. */
	ck_assert_int_eq(flue_workspace_mkdir(ws, "x", 0, &err), FLUE_ENOTSUP);
	ck_assert_str_eq(err.message, "the fixture has no file system");
	ck_assert_int_eq(flue_workspace_close(ws, &err), 0);
	flue_harness_close(h);
}
END_TEST

START_TEST(same_file_twice_loads_once)
{
	char path[PATH_MAX];
	const char *plugins[] = {path, "fx-good", NULL};
	const char *dirs[] = {fixture_dir, NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts), .plugins = plugins, .plugin_path = dirs,
	};
	struct flue_error err = {0};
	flue_harness *h = NULL;

	fixture_path(path, sizeof(path), "fx-good");
	opts.project_dir = tmp_dir;
	ck_assert_int_eq(flue_harness_open(&h, &opts, &err), 0);
	ck_assert_int_eq(flue_harness_plugin_count(h), 1);
	flue_harness_close(h);
}
END_TEST

static void
copy_fixture(const char *dir)
{
	char cmd[3 * PATH_MAX];

	xsnprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cp '%s/fx-good.so' '%s/'",
	         dir, fixture_dir, dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *
origin_of_fx_good(const char *const *config_dirs)
{
	const char *plugins[] = {"fx-good", NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts), .plugins = plugins,
		.plugin_path = config_dirs,
	};
	static char origin[64];
	struct flue_error err = {0};
	flue_harness *h = NULL;

	opts.project_dir = tmp_dir;
	ck_assert_msg(flue_harness_open(&h, &opts, &err) == 0, "%s", err.message);
	xsnprintf(origin, sizeof(origin), "%s",
	         flue_harness_plugin_report(h, 0)->origin);
	flue_harness_close(h);
	return origin;
}

START_TEST(search_order_config_env_project)
{
	char config[PATH_MAX], env[PATH_MAX], project[PATH_MAX];
	const char *config_dirs[] = {config, NULL};
	const char *const *dirs;
	struct flue_error err = {0};
	flue_harness *h = NULL;

	xsnprintf(config, sizeof(config), "%s/from-config", tmp_dir);
	xsnprintf(env, sizeof(env), "%s/from-env", tmp_dir);
	xsnprintf(project, sizeof(project), "%s/.flue/plugins", tmp_dir);
	copy_fixture(config);
	copy_fixture(env);
	copy_fixture(project);
	setenv("FLUE_PLUGIN_PATH", env, 1);
	ck_assert_str_eq(origin_of_fx_good(config_dirs), "config");
	ck_assert_str_eq(origin_of_fx_good(NULL), "FLUE_PLUGIN_PATH");
	unsetenv("FLUE_PLUGIN_PATH");
	ck_assert_str_eq(origin_of_fx_good(NULL), "project");

	/* The installed folder comes last. */
	setenv("FLUE_PLUGIN_PATH", env, 1);
	ck_assert_int_eq(open_one("fx-good", &err, &h), 0);
	dirs = flue_harness_search_path(h);
	ck_assert_str_eq(dirs[0], fixture_dir);
	ck_assert_str_eq(dirs[1], env);
	ck_assert_str_eq(dirs[2], project);
	ck_assert_str_eq(dirs[3], FLUE_PLUGIN_DIR);
	ck_assert_ptr_null(dirs[4]);
	flue_harness_close(h);
	unsetenv("FLUE_PLUGIN_PATH");
}
END_TEST

static const struct flue_plugin_report *
report_for(flue_harness *h, const char *file)
{
	for (size_t i = 0; i < flue_harness_plugin_count(h); i++) {
		const struct flue_plugin_report *r = flue_harness_plugin_report(h, i);
		const char *base = r->path ? strrchr(r->path, '/') : NULL;

		if (base != NULL && strcmp(base + 1, file) == 0)
			return r;
	}
	return NULL;
}

START_TEST(probe_reports_every_file)
{
	const char *plugins[] = {"fx-good", NULL};
	char later[PATH_MAX];
	const char *dirs[] = {fixture_dir, later, NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts), .flags = FLUE_HARNESS_PROBE_ALL,
		.plugins = plugins, .plugin_path = dirs,
	};
	static const char *const refused[] = {
		"fx-wrong-major.so", "fx-newer-minor.so", "fx-short.so",
		"fx-no-entry.so", "fx-create-fails.so", "fx-duplicate.so",
		"fx-unresolved.so", "fx-short-ops.so",
	};
	const struct flue_plugin_report *r;
	struct flue_error err = {0};
	flue_harness *h = NULL;

	xsnprintf(later, sizeof(later), "%s/later", tmp_dir);
	copy_fixture(later);
	opts.project_dir = tmp_dir;
	ck_assert_int_eq(flue_harness_open(&h, &opts, &err), 0);
	r = report_for(h, "fx-good.so");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->loaded, 1);
	ck_assert_str_eq(r->requested, "fx-good");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		r = report_for(h, refused[i]);
		ck_assert_msg(r != NULL, "no report for %s", refused[i]);
		ck_assert_int_eq(r->loaded, 0);
		ck_assert_ptr_nonnull(r->refusal);
		ck_assert_ptr_nonnull(strstr(r->refusal, r->path));
	}
	/* The copy in a later folder is shadowed, not loaded twice. */
	for (size_t i = 0; i < flue_harness_plugin_count(h); i++) {
		r = flue_harness_plugin_report(h, i);
		if (r->path && strncmp(r->path, later, strlen(later)) == 0) {
			ck_assert_int_eq(r->loaded, 0);
			ck_assert_ptr_nonnull(strstr(r->refusal, "shadowed by"));
		}
	}
	flue_harness_close(h);
}
END_TEST

START_TEST(bad_plugin_options_are_refused)
{
	struct flue_harness_options opts = {
		.size = sizeof(opts), .plugin_options_json = "[1, 2]",
	};
	struct flue_error err = {0};
	flue_harness *h = NULL;

	opts.project_dir = tmp_dir;
	ck_assert_int_eq(flue_harness_open(&h, &opts, &err), FLUE_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "plugin options"));
}
END_TEST

static Suite *
loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("loader");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, wrong_major_is_refused);
	tcase_add_test(tc, newer_minor_is_refused);
	tcase_add_test(tc, short_descriptor_is_refused);
	tcase_add_test(tc, short_ops_table_is_refused);
	tcase_add_test(tc, missing_entry_is_refused);
	tcase_add_test(tc, failing_create_is_refused);
	tcase_add_test(tc, unresolved_symbol_is_refused_at_load);
	tcase_add_test(tc, not_a_regular_file_is_refused);
	tcase_add_test(tc, not_a_shared_object_is_refused);
	tcase_add_test(tc, missing_plugin_lists_the_folders);
	tcase_add_test(tc, invalid_name_is_refused);
	tcase_add_test(tc, duplicate_name_is_refused);
	tcase_add_test(tc, good_plugin_loads_and_runs);
	tcase_add_test(tc, same_file_twice_loads_once);
	tcase_add_test(tc, search_order_config_env_project);
	tcase_add_test(tc, probe_reports_every_file);
	tcase_add_test(tc, bad_plugin_options_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(loader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
