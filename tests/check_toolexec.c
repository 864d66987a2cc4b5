/* The core tools at work: read, write, edit, bash, grep and glob on real
 * files in a temporary folder, through the `local` sandbox plugin. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/toolexec.h"

static char tmp_dir[PATH_MAX];   /* from mkdtemp, resolved */
static char ws_dir[PATH_MAX + 4]; /* the working directory: tmp_dir/ws */
static flue_harness *harness;
static flue_workspace *workspace;

/* ---- helpers ------------------------------------------------------------ */

static char *xasprintf(const char *fmt, ...) FLUE_PRINTF(1, 2);

static char *
xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	return s;
}

static void
mkdirs(const char *path)
{
	char buf[PATH_MAX * 2];

	ck_assert_uint_lt(strlen(path), sizeof(buf));
	strcpy(buf, path);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST,
		              "mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST,
	              "mkdir %s: %s", buf, strerror(errno));
}

/* Write len bytes to ws_dir/rel, creating folders. */
static void
put_len(const char *rel, const char *data, size_t len)
{
	char *path = xasprintf("%s/%s", ws_dir, rel);
	char *slash = strrchr(path, '/');
	FILE *f;

	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

static void
put(const char *rel, const char *text)
{
	put_len(rel, text, strlen(text));
}

/* The contents of ws_dir/rel (malloc'd). */
static char *
slurp(const char *rel)
{
	char *path = xasprintf("%s/%s", ws_dir, rel), *data;
	FILE *f = fopen(path, "rb");
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	free(path);
	return data;
}

/* Lines "<prefix>from" to "<prefix>to" joined by newlines, numbered
 * like cat -n when cat_n, with a last newline when trailing. */
static char *
numbered(const char *prefix, size_t from, size_t to, int cat_n,
         int trailing)
{
	size_t cap = (to - from + 1) * (strlen(prefix) + 32) + 1, len = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	s[0] = '\0';
	for (size_t i = from; i <= to; i++) {
		const char *nl = i < to || trailing ? "\n" : "";

		if (cat_n)
			len += (size_t)snprintf(s + len, cap - len, "%6zu\t",
			                        i);
		len += (size_t)snprintf(s + len, cap - len, "%s%zu%s",
		                        prefix, i, nl);
	}
	return s;
}

struct answer {
	int rc;
	int is_error;
	char *text;        /* [owned] */
	struct flue_error err;
};

static struct answer
run_env(const struct flue_tool_env *env, const char *name,
        const char *args_json)
{
	struct flue_tool_output out;
	struct answer r = {0};
	json_object *args = NULL;

	if (args_json != NULL) {
		args = json_tokener_parse(args_json);
		ck_assert_msg(args != NULL, "bad test JSON: %s", args_json);
	}
	memset(&out, 0xAB, sizeof(out));   /* must be filled */
	r.rc = flue_tool_run(env, name, args, &out, &r.err);
	r.is_error = out.is_error;
	r.text = out.text;
	if (r.rc == 0) {
		ck_assert_ptr_nonnull(out.text);
		ck_assert_uint_eq(strlen(out.text), out.len);
		ck_assert_int_eq(r.err.code, 0);
	} else {
		ck_assert_ptr_null(out.text);
		ck_assert_uint_eq(out.len, 0);
		ck_assert_int_eq(r.err.code, r.rc);
		ck_assert_str_ne(r.err.message, "");
	}
	json_object_put(args);
	return r;
}

static struct answer
run(const char *name, const char *args_json)
{
	struct flue_tool_env env = {workspace, ws_dir, NULL, NULL};

	return run_env(&env, name, args_json);
}

/* The answer of a call that must succeed. */
static char *
ok(const char *name, const char *args_json)
{
	struct answer r = run(name, args_json);

	ck_assert_msg(r.rc == 0, "%s %s: rc %d: %s", name, args_json, r.rc,
	              r.err.message);
	ck_assert_msg(!r.is_error, "%s %s: is_error: %s", name, args_json,
	              r.text);
	return r.text;
}

/* The answer of a call the model must see fail. */
static char *
fails(const char *name, const char *args_json)
{
	struct answer r = run(name, args_json);

	ck_assert_msg(r.rc == 0, "%s %s: rc %d: %s", name, args_json, r.rc,
	              r.err.message);
	ck_assert_msg(r.is_error, "%s %s: not an error: %s", name, args_json,
	              r.text);
	return r.text;
}

/* got == want, or a failure that shows where they part (whole texts can
 * be too long for a Check message). */
static void
same_text(const char *got, const char *want)
{
	size_t i = 0;

	while (got[i] != '\0' && got[i] == want[i])
		i++;
	if (got[i] == want[i])
		return;
	ck_abort_msg("texts differ at byte %zu (of %zu, want %zu): got "
	             "\"%.80s\", want \"%.80s\"", i, strlen(got), strlen(want),
	             got + i, want + i);
}

static void
expect(const char *name, const char *args_json, const char *want)
{
	char *got = ok(name, args_json);

	same_text(got, want);
	free(got);
}

static void
expect_error(const char *name, const char *args_json, const char *want)
{
	char *got = fails(name, args_json);

	ck_assert_str_eq(got, want);
	free(got);
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* text's lines sorted (grep's order is the filesystem's), in place. */
static char *
sorted_lines(char *text)
{
	char *lines[256], *copy = strdup(text), *save = NULL;
	size_t n = 0, len = 0;

	ck_assert_ptr_nonnull(copy);
	for (char *l = strtok_r(copy, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		ck_assert_uint_lt(n, 256);
		lines[n++] = l;
	}
	qsort(lines, n, sizeof(*lines), str_cmp);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%s%s", i > 0 ? "\n" : "",
		                       lines[i]);
	free(copy);
	return text;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT;
}

static void
setup(void)
{
	const char *plugin_dir = getenv("FLUE_TEST_PLUGIN_DIR");
	const char *plugins[] = {"local", NULL};
	const char *path[] = {plugin_dir, NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts),
		.plugins = plugins,
		.plugin_path = path,
	};
	struct flue_error err = {0};
	char tmpl[] = "/tmp/flue-toolexec-XXXXXX", *options;

	ck_assert_msg(plugin_dir != NULL, "FLUE_TEST_PLUGIN_DIR is not set; "
	              "run through `make check` or set it to plugins/.libs");
	unsetenv("FLUE_PLUGIN_PATH");
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	ck_assert_ptr_nonnull(realpath(tmpl, tmp_dir));
	snprintf(ws_dir, sizeof(ws_dir), "%s/ws", tmp_dir);
	mkdirs(ws_dir);
	opts.project_dir = tmp_dir;
	ck_assert_msg(flue_harness_open(&harness, &opts, &err) == 0, "%s",
	              err.message);
	/* tmp_dir comes from mkdtemp: nothing in it needs JSON escaping. */
	options = xasprintf("{\"cwd\":\"%s\"}", ws_dir);
	ck_assert_msg(flue_workspace_open(&workspace, harness, "local", "s1",
	              options, &err) == 0, "%s", err.message);
	free(options);
}

static void
teardown(void)
{
	struct flue_error err = {0};

	ck_assert_int_eq(flue_workspace_close(workspace, &err), 0);
	flue_harness_close(harness);
	workspace = NULL;
	harness = NULL;
	ck_assert_int_eq(nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---- the call itself ---------------------------------------------------- */

START_TEST(unknown_tool_is_enoent)
{
	struct answer r = run("task", "{}");

	ck_assert_int_eq(r.rc, FLUE_ENOENT);
	ck_assert_str_eq(r.err.message, "there is no core tool named 'task'; "
	                 "the core tools are read, write, edit, bash, grep and "
	                 "glob");
}
END_TEST

START_TEST(bad_arguments_are_told_to_the_model)
{
	expect_error("read", "{}", "missing required argument 'path' "
	             "(a string)");
	expect_error("read", NULL, "missing required argument 'path' "
	             "(a string)");
	expect_error("read", "[1]", "the arguments must be a JSON object");
	expect_error("read", "{\"path\":\"a\",\"offset\":\"2\"}",
	             "argument 'offset' must be an integer, not a string");
	expect_error("read", "{\"path\":\"a\",\"offset\":1.5}",
	             "argument 'offset' must be an integer, not a number");
	expect_error("edit", "{\"path\":\"a\",\"old_string\":\"x\"}",
	             "missing required argument 'new_string' (a string)");
	expect_error("edit", "{\"path\":\"a\",\"old_string\":\"x\","
	             "\"new_string\":\"y\",\"replace_all\":1}",
	             "argument 'replace_all' must be a boolean, not an "
	             "integer");
	expect_error("bash", "{\"command\":true}",
	             "argument 'command' must be a string, not a boolean");
	expect_error("bash", "{\"command\":\"true\",\"timeout\":0}",
	             "timeout must be 1 second or more");
	expect_error("read", "{\"path\":\"a\",\"offset\":0}",
	             "offset must be 1 or more (the first line is 1)");
}
END_TEST

START_TEST(a_cancelled_handle_stops_before_anything_runs)
{
	struct flue_cancel *cancel;
	struct flue_error err = {0};
	struct flue_tool_env env = {workspace, ws_dir, NULL, NULL};
	char *path = xasprintf("%s/x.txt", ws_dir);
	struct answer r;

	ck_assert_int_eq(flue_cancel_new(&cancel, &err), 0);
	env.cancel = cancel;
	flue_cancel_trigger(cancel);
	r = run_env(&env, "write", "{\"path\":\"x.txt\",\"content\":\"x\"}");
	ck_assert_int_eq(r.rc, FLUE_ECANCELED);
	ck_assert_int_ne(access(path, F_OK), 0);
	flue_cancel_free(cancel);
	free(path);
}
END_TEST

/* ---- read --------------------------------------------------------------- */

START_TEST(read_pages_with_a_continuation_hint)
{
	char *file = numbered("line ", 1, 2500, 0, 1);
	char *want, *body;

	put("big.txt", file);
	body = numbered("line ", 1, 2000, 1, 0);
	want = xasprintf("%s\n\n[Showing lines 1-2000 of 2500. Use "
	                 "offset=2001 to continue.]", body);
	expect("read", "{\"path\":\"big.txt\"}", want);
	free(body);
	free(want);
	/* The rest fits: no hint. */
	body = numbered("line ", 2001, 2500, 1, 0);
	expect("read", "{\"path\":\"big.txt\",\"offset\":2001}", body);
	free(body);
	/* A limit that cuts is not a cap that cuts: no hint either. */
	body = numbered("line ", 10, 12, 1, 0);
	expect("read", "{\"path\":\"big.txt\",\"offset\":10,\"limit\":3}",
	       body);
	free(body);
	/* The last line is there to read. */
	expect("read", "{\"path\":\"big.txt\",\"offset\":2500}",
	       "  2500\tline 2500");
	free(file);
}
END_TEST

START_TEST(read_stops_at_50_kib)
{
	char line[101], *file = malloc(1000 * 101 + 1), *want;
	size_t len = 0, shown = 0, out = 0;
	char *got;

	ck_assert_ptr_nonnull(file);
	memset(line, 'x', 99);
	line[99] = '\n';
	line[100] = '\0';
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(file + len, "%s", line);
	put("wide.txt", file);
	/* Each numbered line is 6 + 1 + 99 bytes, plus a newline between. */
	while (out + (shown > 0) + 106 <= 51200)
		out += (shown++ > 0) + 106;
	got = ok("read", "{\"path\":\"wide.txt\"}");
	want = xasprintf("\n\n[Showing lines 1-%zu of 1000. Use offset=%zu to "
	                 "continue.]", shown, shown + 1);
	ck_assert_msg(strstr(got, want) == got + out, "%s", got + out);
	ck_assert_uint_le(out, 51200);
	free(want);
	free(got);
	free(file);
}
END_TEST

START_TEST(read_offset_beyond_the_end_is_an_error)
{
	put("three.txt", "a\nb\nc\n");
	expect_error("read", "{\"path\":\"three.txt\",\"offset\":4}",
	             "Offset 4 is beyond end of file (3 lines total)");
	expect("read", "{\"path\":\"three.txt\",\"offset\":3}", "     3\tc");
	/* No newline at the end: the last line still counts. */
	put("two.txt", "a\nb");
	expect("read", "{\"path\":\"two.txt\"}", "     1\ta\n     2\tb");
	expect_error("read", "{\"path\":\"two.txt\",\"offset\":3}",
	             "Offset 3 is beyond end of file (2 lines total)");
}
END_TEST

START_TEST(read_cuts_long_lines_on_a_character)
{
	char *file = malloc(5002), *want;

	ck_assert_ptr_nonnull(file);
	memset(file, 'a', 5000);
	strcpy(file + 5000, "\n");
	put("long.txt", file);
	want = xasprintf("     1\t%.2000s... [line truncated]", file);
	expect("read", "{\"path\":\"long.txt\"}", want);
	free(want);
	/* "é" would straddle byte 2000: it goes whole. */
	strcpy(file + 1999, "\xc3\xa9 and more\n");
	put("long.txt", file);
	want = xasprintf("     1\t%.1999s... [line truncated]", file);
	expect("read", "{\"path\":\"long.txt\"}", want);
	free(want);
	free(file);
}
END_TEST

START_TEST(read_refuses_a_binary_file)
{
	put_len("bin.dat", "abc\0def", 7);
	expect_error("read", "{\"path\":\"bin.dat\"}", "bin.dat is a binary "
	             "file (7 bytes); use bash (e.g. xxd or file) to inspect "
	             "it");
}
END_TEST

START_TEST(read_lists_a_directory)
{
	char *path = xasprintf("%s/d/a", ws_dir), *link = xasprintf("%s/d/c",
	                                                              ws_dir);

	put("d/b.txt", "b");
	put("d/.hidden", "h");
	put("d/a/inner.txt", "i");
	ck_assert_int_eq(symlink(path, link), 0);
	expect("read", "{\"path\":\"d\"}", ".hidden\na/\nb.txt\nc/");
	expect("read", "{\"path\":\"d/\"}", ".hidden\na/\nb.txt\nc/");
	free(path);
	path = xasprintf("%s/empty", ws_dir);
	mkdirs(path);
	expect("read", "{\"path\":\"empty\"}", "(empty directory)");
	free(path);
	free(link);
}
END_TEST

START_TEST(read_lists_at_most_1000_entries)
{
	char name[32], *got, *want;

	for (int i = 0; i < 1005; i++) {
		snprintf(name, sizeof(name), "many/f%04d", i);
		put(name, "");
	}
	got = ok("read", "{\"path\":\"many\"}");
	ck_assert(starts_with(got, "f0000\nf0001\n"));
	want = "f0999\n\n[Showing the first 1000 of 1005 entries. Use glob to "
	       "find the others.]";
	ck_assert_str_eq(got + strlen(got) - strlen(want), want);
	free(got);
}
END_TEST

START_TEST(read_an_empty_file)
{
	put("empty.txt", "");
	expect("read", "{\"path\":\"empty.txt\"}", "(empty file)");
}
END_TEST

START_TEST(read_replaces_invalid_utf8)
{
	put("latin1.txt", "caf\xe9 ok\n\xf0\x9f\x98\x80 \xed\xa0\x80!\n");
	expect("read", "{\"path\":\"latin1.txt\"}",
	       "     1\tcaf\xef\xbf\xbd ok\n"
	       "     2\t\xf0\x9f\x98\x80 "
	       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
}
END_TEST

START_TEST(read_a_missing_file_gives_the_sandbox_message)
{
	char *got = fails("read", "{\"path\":\"nope.txt\"}");
	char *want = xasprintf("cannot read '%s/nope.txt': ", ws_dir);

	ck_assert_msg(starts_with(got, want), "%s", got);
	ck_assert_ptr_nonnull(strstr(got, "No such file"));
	free(want);
	free(got);
}
END_TEST

START_TEST(read_normalises_paths)
{
	char *abs = xasprintf("{\"path\":\"/%s//sub/./../a.txt\"}", ws_dir);

	put("a.txt", "A\n");
	put("sub/keep", "");
	expect("read", "{\"path\":\"sub/../a.txt\"}", "     1\tA");
	expect("read", "{\"path\":\"./sub//..//a.txt\"}", "     1\tA");
	expect("read", abs, "     1\tA");
	free(abs);
}
END_TEST

/* ---- write -------------------------------------------------------------- */

START_TEST(write_creates_parents)
{
	char *got;

	expect("write", "{\"path\":\"deep/er/new.txt\","
	       "\"content\":\"hello\\n\"}", "Wrote 6 bytes to deep/er/new.txt");
	got = slurp("deep/er/new.txt");
	ck_assert_str_eq(got, "hello\n");
	free(got);
	expect("write", "{\"path\":\"deep/er/new.txt\",\"content\":\"\"}",
	       "Wrote 0 bytes to deep/er/new.txt");
	got = slurp("deep/er/new.txt");
	ck_assert_str_eq(got, "");
	free(got);
}
END_TEST

START_TEST(write_through_a_file_fails)
{
	char *got;

	put("plain", "x");
	got = fails("write", "{\"path\":\"plain/sub/f.txt\","
	            "\"content\":\"x\"}");
	ck_assert_msg(strstr(got, "plain") != NULL, "%s", got);
	free(got);
}
END_TEST

/* ---- edit --------------------------------------------------------------- */

START_TEST(edit_replaces_a_unique_match)
{
	char *got;

	put("f.txt", "one\ntwo\nthree\n");
	expect("edit", "{\"path\":\"f.txt\",\"old_string\":\"two\","
	       "\"new_string\":\"2\"}", "Edited f.txt: replaced 1 occurrence "
	       "(line 2)");
	got = slurp("f.txt");
	ck_assert_str_eq(got, "one\n2\nthree\n");
	free(got);
}
END_TEST

START_TEST(edit_without_a_match)
{
	char *got;

	put("f.txt", "int main(void)\n{\n\treturn 0;\n}\n");
	expect_error("edit", "{\"path\":\"f.txt\",\"old_string\":\"return 1;\","
	             "\"new_string\":\"x\"}", "Could not find old_string in "
	             "f.txt. It must match exactly, including whitespace and "
	             "indentation.");
	expect_error("edit", "{\"path\":\"f.txt\",\"old_string\":"
	             "\"{\\n    return 0;\",\"new_string\":\"x\"}",
	             "Could not find old_string in f.txt. It must match "
	             "exactly, including whitespace and indentation. A match "
	             "that differs only in whitespace is at line 2.");
	got = slurp("f.txt");
	ck_assert_str_eq(got, "int main(void)\n{\n\treturn 0;\n}\n");
	free(got);
}
END_TEST

START_TEST(edit_with_many_matches)
{
	char *got;

	put("f.txt", "a\nx\nb\nx x\nx\n");
	expect_error("edit", "{\"path\":\"f.txt\",\"old_string\":\"x\","
	             "\"new_string\":\"y\"}", "Found 4 occurrences of "
	             "old_string in f.txt (lines 2, 4, 5). Add surrounding "
	             "lines to make it unique, or set replace_all.");
	expect_error("edit", "{\"path\":\"f.txt\",\"old_string\":\"x\","
	             "\"new_string\":\"y\",\"replace_all\":false}",
	             "Found 4 occurrences of old_string in f.txt (lines 2, 4, "
	             "5). Add surrounding lines to make it unique, or set "
	             "replace_all.");
	expect("edit", "{\"path\":\"f.txt\",\"old_string\":\"x\","
	       "\"new_string\":\"yy\",\"replace_all\":true}",
	       "Edited f.txt: replaced 4 occurrences");
	got = slurp("f.txt");
	ck_assert_str_eq(got, "a\nyy\nb\nyy yy\nyy\n");
	free(got);
	/* Occurrences do not overlap. */
	put("g.txt", "aaaa");
	expect("edit", "{\"path\":\"g.txt\",\"old_string\":\"aa\","
	       "\"new_string\":\"b\",\"replace_all\":true}",
	       "Edited g.txt: replaced 2 occurrences");
	got = slurp("g.txt");
	ck_assert_str_eq(got, "bb");
	free(got);
}
END_TEST

START_TEST(edit_lists_at_most_20_lines)
{
	char *file = numbered("x", 1, 30, 0, 1), *got;

	put("f.txt", file);
	got = fails("edit", "{\"path\":\"f.txt\",\"old_string\":\"x\","
	            "\"new_string\":\"y\"}");
	ck_assert_str_eq(got, "Found 30 occurrences of old_string in f.txt "
	                 "(lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, "
	                 "14, 15, 16, 17, 18, 19, 20, ...). Add surrounding "
	                 "lines to make it unique, or set replace_all.");
	free(got);
	free(file);
}
END_TEST

START_TEST(edit_is_literal)
{
	char *got;

	put("f.txt", "price: (\\w+) x\n");
	expect("edit", "{\"path\":\"f.txt\",\"old_string\":\"(\\\\w+)\","
	       "\"new_string\":\"$1 \\\\1 $& \\\\0\"}",
	       "Edited f.txt: replaced 1 occurrence (line 1)");
	got = slurp("f.txt");
	ck_assert_str_eq(got, "price: $1 \\1 $& \\0 x\n");
	free(got);
}
END_TEST

START_TEST(edit_with_the_same_string_is_refused)
{
	put("f.txt", "same\n");
	expect_error("edit", "{\"path\":\"f.txt\",\"old_string\":\"same\","
	             "\"new_string\":\"same\"}", "old_string and new_string "
	             "are the same; there is nothing to change");
	expect_error("edit", "{\"path\":\"f.txt\",\"old_string\":\"\","
	             "\"new_string\":\"x\"}", "old_string is empty; pass the "
	             "exact text to replace (use write to create a file)");
}
END_TEST

START_TEST(edit_a_missing_file_fails)
{
	char *got = fails("edit", "{\"path\":\"nope.txt\",\"old_string\":\"a\","
	                  "\"new_string\":\"b\"}");

	ck_assert_ptr_nonnull(strstr(got, "nope.txt"));
	free(got);
}
END_TEST

/* ---- bash --------------------------------------------------------------- */

START_TEST(bash_reports_a_non_zero_exit)
{
	expect("bash", "{\"command\":\"echo hi; exit 3\"}",
	       "hi\n\n[exit code 3]");
	expect("bash", "{\"command\":\"exit 1\"}",
	       "(no output)\n\n[exit code 1]");
	expect("bash", "{\"command\":\"true\"}", "(no output)");
	expect("bash", "{\"command\":\"printf 'a\\\\n\\\\n\\\\n'\"}", "a");
}
END_TEST

START_TEST(bash_appends_stderr)
{
	expect("bash", "{\"command\":\"echo out; echo err >&2\"}",
	       "out\n\nerr");
	expect("bash", "{\"command\":\"echo err >&2; exit 2\"}",
	       "err\n\n[exit code 2]");
	expect("bash", "{\"command\":\"printf out; echo err >&2\"}",
	       "out\nerr");
}
END_TEST

START_TEST(bash_runs_in_the_working_directory_with_env)
{
	const char *vars[] = {"FLUE_TEST_VAR=hello there", NULL};
	struct flue_tool_env env = {workspace, ws_dir, NULL, vars};
	struct answer r;
	char *want = xasprintf("%s\nhello there", ws_dir);

	r = run_env(&env, "bash", "{\"command\":\"pwd; echo $FLUE_TEST_VAR\"}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.text, want);
	free(r.text);
	free(want);
	expect("bash", "{\"command\":\"printf 'a\\\\377b\\\\000c'\"}",
	       "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
}
END_TEST

START_TEST(bash_keeps_the_tail_of_long_output)
{
	char *got = ok("bash", "{\"command\":\"seq 1 100000\"}");
	char *tail = numbered("", 98001, 100000, 0, 0), *want;
	size_t total = 0;

	/* seq's output without its last newline. */
	for (size_t i = 1; i <= 100000; i++)
		total += (size_t)snprintf(NULL, 0, "%zu\n", i);
	total--;
	want = xasprintf("[output truncated: showing the last 2000 lines; "
	                 "%zu earlier bytes dropped]\n%s", total - strlen(tail),
	                 tail);
	same_text(got, want);
	free(want);
	free(tail);
	free(got);
}
END_TEST

START_TEST(bash_keeps_at_most_50_kib)
{
	char *got = ok("bash", "{\"command\":\"for i in $(seq 1 1000); do "
	               "printf '%099d\\\\n' $i; done\"}");
	char *want = malloc(600 * 100 + 200);
	size_t len;

	ck_assert_ptr_nonnull(want);
	/* 1000 lines of 100 bytes; the last 51200 start mid-line 489. */
	len = (size_t)sprintf(want, "[output truncated: showing the last 512 "
	                      "lines; 48800 earlier bytes dropped]\n");
	for (int i = 489; i <= 1000; i++)
		len += (size_t)sprintf(want + len, "%099d%s", i,
		                       i < 1000 ? "\n" : "");
	same_text(got, want);
	free(want);
	free(got);
}
END_TEST

START_TEST(bash_timeout_keeps_partial_output)
{
	double t0 = now_s();

	expect("bash", "{\"command\":\"echo start; sleep 5\",\"timeout\":1}",
	       "start\n\n[timed out after 1 s; exit code 124]");
	ck_assert_double_lt(now_s() - t0, 4.0);
	expect("bash", "{\"command\":\"echo x\",\"timeout\":900}",
	       "x\n\n[timeout 900 s is above the maximum; used 600 s]");
}
END_TEST

struct canceller {
	struct flue_cancel *cancel;
	unsigned delay_ms;
};

static void *
cancel_later(void *p)
{
	struct canceller *c = p;

	usleep(c->delay_ms * 1000);
	flue_cancel_trigger(c->cancel);
	return NULL;
}

START_TEST(bash_is_cancelled_from_another_thread)
{
	struct canceller c = {NULL, 300};
	struct flue_error err = {0};
	struct flue_tool_env env = {workspace, ws_dir, NULL, NULL};
	pthread_t thread;
	double t0;
	struct answer r;

	ck_assert_int_eq(flue_cancel_new(&c.cancel, &err), 0);
	env.cancel = c.cancel;
	ck_assert_int_eq(pthread_create(&thread, NULL, cancel_later, &c), 0);
	t0 = now_s();
	r = run_env(&env, "bash", "{\"command\":\"sleep 30\"}");
	ck_assert_int_eq(r.rc, FLUE_ECANCELED);
	ck_assert_double_lt(now_s() - t0, 5.0);
	ck_assert_int_eq(pthread_join(thread, NULL), 0);
	flue_cancel_free(c.cancel);
}
END_TEST

struct parallel {
	int index;
	int failures;
};

static void *
parallel_calls(void *p)
{
	struct parallel *job = p;
	struct flue_tool_env env = {workspace, ws_dir, NULL, NULL};
	struct flue_tool_output out;
	struct flue_error err = {0};
	char args[128], want[64];

	for (int i = 0; i < 5; i++) {
		json_object *a;

		snprintf(args, sizeof(args), "{\"path\":\"p%d.txt\","
		         "\"content\":\"%d-%d\"}", job->index, job->index, i);
		a = json_tokener_parse(args);
		if (flue_tool_run(&env, "write", a, &out, &err) != 0)
			job->failures++;
		flue_tool_output_clear(&out);
		json_object_put(a);
		snprintf(args, sizeof(args), "{\"command\":\"cat p%d.txt\"}",
		         job->index);
		snprintf(want, sizeof(want), "%d-%d", job->index, i);
		a = json_tokener_parse(args);
		if (flue_tool_run(&env, "bash", a, &out, &err) != 0 ||
		    strcmp(out.text, want) != 0)
			job->failures++;
		flue_tool_output_clear(&out);
		json_object_put(a);
	}
	return NULL;
}

START_TEST(calls_run_in_parallel_on_one_workspace)
{
	struct parallel jobs[4];
	pthread_t threads[4];

	for (int i = 0; i < 4; i++) {
		jobs[i].index = i;
		jobs[i].failures = 0;
		ck_assert_int_eq(pthread_create(&threads[i], NULL,
		                                parallel_calls, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
		ck_assert_int_eq(jobs[i].failures, 0);
	}
}
END_TEST

/* ---- grep --------------------------------------------------------------- */

static void
put_tree(void)
{
	put("src/a.c", "int main(void)\n{\n\treturn 0;\n}\n");
	put("src/b.h", "int x;\n");
	put("notes.txt", "main idea\nMAIN road\n");
	put(".git/config", "main\n");
	put("meta.txt", "a.b(c)\naxb(c)\n");
}

START_TEST(grep_finds_matches_with_relative_paths)
{
	char *got;

	put_tree();
	got = ok("grep", "{\"pattern\":\"main\"}");
	ck_assert_str_eq(sorted_lines(got),
	                 "notes.txt:1:main idea\nsrc/a.c:1:int main(void)");
	free(got);
	got = ok("grep", "{\"pattern\":\"main\",\"ignore_case\":true}");
	ck_assert_str_eq(sorted_lines(got), "notes.txt:1:main idea\n"
	                 "notes.txt:2:MAIN road\nsrc/a.c:1:int main(void)");
	free(got);
	expect("grep", "{\"pattern\":\"main\",\"include\":\"*.c\"}",
	       "src/a.c:1:int main(void)");
	expect("grep", "{\"pattern\":\"x\",\"path\":\"src\"}",
	       "src/b.h:1:int x;");
	expect("grep", "{\"pattern\":\"^int\",\"path\":\"src/b.h\"}",
	       "src/b.h:1:int x;");
}
END_TEST

START_TEST(grep_literal_and_regex)
{
	char *got;

	put_tree();
	expect("grep", "{\"pattern\":\"a.b(c)\",\"literal\":true}",
	       "meta.txt:1:a.b(c)");
	got = ok("grep", "{\"pattern\":\"a.b\\\\(c\\\\)\","
	         "\"path\":\"meta.txt\"}");
	ck_assert_str_eq(got, "meta.txt:1:a.b(c)\nmeta.txt:2:axb(c)");
	free(got);
	expect("grep", "{\"pattern\":\"-x\",\"literal\":true}",
	       "No matches found.");
}
END_TEST

START_TEST(grep_without_a_match)
{
	put_tree();
	expect("grep", "{\"pattern\":\"no such text\"}", "No matches found.");
	expect("grep", "{\"pattern\":\"main\",\"include\":\"*.rs\"}",
	       "No matches found.");
}
END_TEST

START_TEST(grep_with_a_bad_regex_fails)
{
	char *got;

	put_tree();
	got = fails("grep", "{\"pattern\":\"(\"}");
	ck_assert_msg(starts_with(got, "grep failed: "), "%s", got);
	ck_assert_uint_gt(strlen(got), strlen("grep failed: "));
	free(got);
	got = fails("grep", "{\"pattern\":\"x\",\"path\":\"nowhere\"}");
	ck_assert_msg(starts_with(got, "grep failed: "), "%s", got);
	ck_assert_ptr_nonnull(strstr(got, "nowhere"));
	free(got);
}
END_TEST

START_TEST(grep_shows_at_most_100_matches)
{
	char *file = numbered("hit ", 1, 150, 0, 1), *got, *want, *lines;
	char *p;
	size_t n = 0;

	put("hits.txt", file);
	got = ok("grep", "{\"pattern\":\"hit\"}");
	lines = strdup(got);
	ck_assert_ptr_nonnull(lines);
	p = strstr(lines, "\n\n[");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "\n\n[Showing 100 of 150 matches. Narrow your "
	                 "search.]");
	*p = '\0';
	for (char *q = lines; q != NULL; q = strchr(q + 1, '\n'))
		n++;
	ck_assert_uint_eq(n, 100);
	ck_assert(starts_with(lines, "hits.txt:1:hit 1\nhits.txt:2:hit 2\n"));
	free(lines);
	free(got);
	free(file);
	/* A long line is cut at 500 bytes, path included. */
	file = malloc(2002);
	ck_assert_ptr_nonnull(file);
	memset(file, 'y', 2000);
	strcpy(file + 2000, "\n");
	put("wide.txt", file);
	want = xasprintf("wide.txt:1:%.*s...", 500 - 11, file);
	expect("grep", "{\"pattern\":\"yyy\"}", want);
	free(want);
	free(file);
}
END_TEST

START_TEST(grep_searches_latin1_and_skips_binary_files)
{
	put("latin1.txt", "caf\xe9 main\n");
	put_len("bin.dat", "main\0x\n", 7);
	expect("grep", "{\"pattern\":\"main\"}",
	       "latin1.txt:1:caf\xef\xbf\xbd main");
	expect("grep", "{\"pattern\":\"main\",\"path\":\"bin.dat\"}",
	       "No matches found.");
}
END_TEST

/* A workspace whose PATH finds a fake rg running script first. */
static flue_workspace *
open_with_rg(const char *script)
{
	char *bin = xasprintf("%s/bin", tmp_dir), *rg, *options;
	struct flue_error err = {0};
	flue_workspace *ws;
	FILE *f;

	mkdirs(bin);
	rg = xasprintf("%s/rg", bin);
	f = fopen(rg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", script);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(rg, 0755), 0);
	options = xasprintf("{\"cwd\":\"%s\",\"env\":{\"PATH\":"
	                    "\"%s:/usr/bin:/bin\"}}", ws_dir, bin);
	ck_assert_msg(flue_workspace_open(&ws, harness, "local", "s2", options,
	              &err) == 0, "%s", err.message);
	free(options);
	free(rg);
	free(bin);
	return ws;
}

static void
close_ws(flue_workspace *ws)
{
	struct flue_error err = {0};

	ck_assert_int_eq(flue_workspace_close(ws, &err), 0);
}

/* A sandbox with ripgrep gets the ripgrep command line. */
START_TEST(grep_prefers_ripgrep)
{
	struct flue_tool_env env = {NULL, ws_dir, NULL, NULL};
	char *want;
	struct answer r;

	env.workspace = open_with_rg("i=0; for a in \"$@\"; do "
	                             "i=$((i+1)); "
	                             "printf 'arg:%d:%s\\n' \"$i\" \"$a\"; "
	                             "done");
	r = run_env(&env, "grep", "{\"pattern\":\"it's -x\",\"path\":\"src\","
	            "\"include\":\"*.c\",\"literal\":true,"
	            "\"ignore_case\":true}");
	want = xasprintf("arg:1:--line-number\narg:2:--with-filename\n"
	                 "arg:3:--no-heading\narg:4:--color\narg:5:never\n"
	                 "arg:6:-F\narg:7:-i\narg:8:--glob\narg:9:*.c\n"
	                 "arg:10:--\narg:11:it's -x\narg:12:%s/src", ws_dir);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.text, want);
	free(r.text);
	free(want);
	r = run_env(&env, "grep", "{\"pattern\":\"x\"}");
	want = xasprintf("arg:1:--line-number\narg:2:--with-filename\n"
	                 "arg:3:--no-heading\narg:4:--color\narg:5:never\n"
	                 "arg:6:--\narg:7:x\narg:8:%s", ws_dir);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.text, want);
	free(r.text);
	free(want);
	close_ws(env.workspace);
}
END_TEST

/* What the search says on stderr reaches the model. */
START_TEST(grep_passes_on_warnings_and_errors)
{
	struct flue_tool_env env = {NULL, ws_dir, NULL, NULL};
	struct answer r;

	env.workspace = open_with_rg("echo 'rg: a warning' >&2; exit 1");
	r = run_env(&env, "grep", "{\"pattern\":\"x\"}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.is_error, 0);
	ck_assert_str_eq(r.text, "No matches found.\n\n[rg: a warning]");
	free(r.text);
	close_ws(env.workspace);
	env.workspace = open_with_rg("echo \"$PWD/a.c:1:x\"; "
	                             "echo 'rg: b: Permission denied' >&2; "
	                             "exit 2");
	r = run_env(&env, "grep", "{\"pattern\":\"x\"}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.is_error, 0);
	ck_assert_str_eq(r.text, "a.c:1:x\n\n[Some files could not be "
	                 "searched: rg: b: Permission denied]");
	free(r.text);
	close_ws(env.workspace);
	env.workspace = open_with_rg("echo 'rg: regex parse error' >&2; "
	                             "exit 2");
	r = run_env(&env, "grep", "{\"pattern\":\"x\"}");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.is_error, 1);
	ck_assert_str_eq(r.text, "grep failed: rg: regex parse error");
	free(r.text);
	close_ws(env.workspace);
}
END_TEST

/* ---- glob --------------------------------------------------------------- */

static void
put_sources(void)
{
	put("src/a.c", "");
	put("src/c.h", "");
	put("src/sub/deep/b.c", "");
	put("top.c", "");
	put(".git/x.c", "");
	put("docs/readme.md", "");
}

START_TEST(glob_with_double_star)
{
	put_sources();
	expect("glob", "{\"pattern\":\"**/*.c\"}",
	       "src/a.c\nsrc/sub/deep/b.c\ntop.c");
	expect("glob", "{\"pattern\":\"src/**/*.c\"}",
	       "src/a.c\nsrc/sub/deep/b.c");
	expect("glob", "{\"pattern\":\"src/**\"}",
	       "src/a.c\nsrc/c.h\nsrc/sub/deep/b.c");
	expect("glob", "{\"pattern\":\"src/*.c\"}", "src/a.c");
	expect("glob", "{\"pattern\":\"./src/**/deep/*\"}", "src/sub/deep/b.c");
	expect("glob", "{\"pattern\":\"*/*.md\"}", "docs/readme.md");
}
END_TEST

START_TEST(glob_by_name)
{
	char *pattern;

	put_sources();
	expect("glob", "{\"pattern\":\"*.c\"}",
	       "src/a.c\nsrc/sub/deep/b.c\ntop.c");
	expect("glob", "{\"pattern\":\"[bc].*\"}", "src/c.h\nsrc/sub/deep/b.c");
	expect("glob", "{\"pattern\":\"*.c\",\"path\":\"src/sub\"}",
	       "src/sub/deep/b.c");
	expect("glob", "{\"pattern\":\"deep/*.c\",\"path\":\"src/sub\"}",
	       "src/sub/deep/b.c");
	pattern = xasprintf("{\"pattern\":\"%s/src/*.c\"}", ws_dir);
	expect("glob", pattern, "src/a.c");
	free(pattern);
	expect("glob", "{\"pattern\":\"*.rs\"}",
	       "No files found matching *.rs.");
}
END_TEST

START_TEST(glob_matches_dot_files_like_find)
{
	put_sources();
	put("src/.gen.c", "");
	put(".env", "");
	expect("glob", "{\"pattern\":\"src/*.c\"}", "src/.gen.c\nsrc/a.c");
	expect("glob", "{\"pattern\":\".*\"}", ".env\nsrc/.gen.c");
	expect("glob", "{\"pattern\":\"**/.*\"}", ".env\nsrc/.gen.c");
}
END_TEST

START_TEST(glob_shows_at_most_1000_files)
{
	char name[32], *got, *want;

	for (int i = 0; i < 1005; i++) {
		snprintf(name, sizeof(name), "many/f%04d.txt", i);
		put(name, "");
	}
	got = ok("glob", "{\"pattern\":\"**/*.txt\"}");
	ck_assert(starts_with(got, "many/f0000.txt\nmany/f0001.txt\n"));
	want = "many/f0999.txt\n\n[Showing the first 1000 of 1005 files. "
	       "Narrow the pattern.]";
	ck_assert_str_eq(got + strlen(got) - strlen(want), want);
	free(got);
}
END_TEST

START_TEST(glob_in_a_missing_folder_fails)
{
	char *got = fails("glob", "{\"pattern\":\"*.c\",\"path\":\"nowhere\"}");

	ck_assert_msg(starts_with(got, "glob failed: "), "%s", got);
	ck_assert_ptr_nonnull(strstr(got, "nowhere"));
	free(got);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

START_TEST(utf8_clean_replaces_bad_bytes)
{
	size_t len;
	char *out = flue_utf8_clean("ok\xff\xc3\xa9\0x\xe2\x82", 9, &len);

	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(len, strlen(out));
	ck_assert_str_eq(out, "ok\xef\xbf\xbd\xc3\xa9\xef\xbf\xbdx"
	                 "\xef\xbf\xbd\xef\xbf\xbd");
	free(out);
	out = flue_utf8_clean("plain", 5, &len);
	ck_assert_str_eq(out, "plain");
	ck_assert_uint_eq(len, 5);
	free(out);
}
END_TEST

static Suite *
toolexec_suite(void)
{
	Suite *s = suite_create("toolexec");
	TCase *call = tcase_create("call");
	TCase *read = tcase_create("read");
	TCase *write = tcase_create("write");
	TCase *edit = tcase_create("edit");
	TCase *bash = tcase_create("bash");
	TCase *grep = tcase_create("grep");
	TCase *glob = tcase_create("glob");
	TCase *all[] = {call, read, write, edit, bash, grep, glob};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_add_checked_fixture(all[i], setup, teardown);
		/* valgrind and the sanitizers slow the shell commands down. */
		tcase_set_timeout(all[i], 60);
	}
	tcase_add_test(call, unknown_tool_is_enoent);
	tcase_add_test(call, bad_arguments_are_told_to_the_model);
	tcase_add_test(call, a_cancelled_handle_stops_before_anything_runs);
	tcase_add_test(call, calls_run_in_parallel_on_one_workspace);
	suite_add_tcase(s, call);
	tcase_add_test(read, read_pages_with_a_continuation_hint);
	tcase_add_test(read, read_stops_at_50_kib);
	tcase_add_test(read, read_offset_beyond_the_end_is_an_error);
	tcase_add_test(read, read_cuts_long_lines_on_a_character);
	tcase_add_test(read, read_refuses_a_binary_file);
	tcase_add_test(read, read_lists_a_directory);
	tcase_add_test(read, read_lists_at_most_1000_entries);
	tcase_add_test(read, read_an_empty_file);
	tcase_add_test(read, read_replaces_invalid_utf8);
	tcase_add_test(read, read_a_missing_file_gives_the_sandbox_message);
	tcase_add_test(read, read_normalises_paths);
	suite_add_tcase(s, read);
	tcase_add_test(write, write_creates_parents);
	tcase_add_test(write, write_through_a_file_fails);
	suite_add_tcase(s, write);
	tcase_add_test(edit, edit_replaces_a_unique_match);
	tcase_add_test(edit, edit_without_a_match);
	tcase_add_test(edit, edit_with_many_matches);
	tcase_add_test(edit, edit_lists_at_most_20_lines);
	tcase_add_test(edit, edit_is_literal);
	tcase_add_test(edit, edit_with_the_same_string_is_refused);
	tcase_add_test(edit, edit_a_missing_file_fails);
	suite_add_tcase(s, edit);
	tcase_add_test(bash, bash_reports_a_non_zero_exit);
	tcase_add_test(bash, bash_appends_stderr);
	tcase_add_test(bash, bash_runs_in_the_working_directory_with_env);
	tcase_add_test(bash, bash_keeps_the_tail_of_long_output);
	tcase_add_test(bash, bash_keeps_at_most_50_kib);
	tcase_add_test(bash, bash_timeout_keeps_partial_output);
	tcase_add_test(bash, bash_is_cancelled_from_another_thread);
	suite_add_tcase(s, bash);
	tcase_add_test(grep, grep_finds_matches_with_relative_paths);
	tcase_add_test(grep, grep_literal_and_regex);
	tcase_add_test(grep, grep_without_a_match);
	tcase_add_test(grep, grep_with_a_bad_regex_fails);
	tcase_add_test(grep, grep_shows_at_most_100_matches);
	tcase_add_test(grep, grep_searches_latin1_and_skips_binary_files);
	tcase_add_test(grep, grep_prefers_ripgrep);
	tcase_add_test(grep, grep_passes_on_warnings_and_errors);
	suite_add_tcase(s, grep);
	tcase_add_test(glob, glob_with_double_star);
	tcase_add_test(glob, glob_by_name);
	tcase_add_test(glob, glob_matches_dot_files_like_find);
	tcase_add_test(glob, glob_shows_at_most_1000_files);
	tcase_add_test(glob, glob_in_a_missing_folder_fails);
	tcase_add_test(glob, utf8_clean_replaces_bad_bytes);
	suite_add_tcase(s, glob);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(toolexec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
