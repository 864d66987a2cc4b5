/* Agent Skills: SKILL.md validation, and discovery through a real `local`
 * workspace plus host folders. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/skills.h"

#define WS "/repo/.agents/skills/"

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

/* n copies of s. */
static char *
repeat(const char *s, size_t n)
{
	size_t len = strlen(s);
	char *out = malloc(len * n + 1);

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * len, s, len);
	out[len * n] = '\0';
	return out;
}

/* The SKILL.md of folder under /repo/.agents/skills. */
static char *
ws_path(const char *folder)
{
	return xasprintf(WS "%s/SKILL.md", folder);
}

static void
parse_ok(const char *text, const char *folder, struct flue_skill *out)
{
	struct flue_error err = {0};
	char *path = ws_path(folder);
	int rc;

	rc = flue_skill_parse(text, strlen(text), path, folder,
	                      FLUE_SKILL_WORKSPACE, out, &err);
	ck_assert_msg(rc == 0, "<%s>: %s", text, err.message);
	free(path);
}

static void
check_error_len(const char *text, size_t len, const char *folder,
                const char *want)
{
	struct flue_error err = {0};
	struct flue_skill skill;
	char *path = ws_path(folder);
	int rc;

	memset(&skill, 0xAB, sizeof(skill));   /* must be zeroed */
	rc = flue_skill_parse(text, len, path, folder, FLUE_SKILL_PROJECT,
	                      &skill, &err);
	ck_assert_msg(rc == FLUE_EINVAL, "<%s>: rc %d (%s)", text, rc,
	              err.message);
	ck_assert_int_eq(err.code, FLUE_EINVAL);
	ck_assert_str_eq(err.message, want);
	ck_assert_ptr_null(skill.name);
	ck_assert_ptr_null(skill.path);
	ck_assert_ptr_null(skill.metadata);
	free(path);
}

static void
check_error(const char *text, const char *folder, const char *want)
{
	check_error_len(text, strlen(text), folder, want);
}

/* ---- valid files -------------------------------------------------------- */

START_TEST(minimal_skill_is_read)
{
	struct flue_skill s;

	parse_ok("---\nname: review\ndescription: Review a change.\n---\n"
	         "# Body\n", "review", &s);
	ck_assert_str_eq(s.name, "review");
	ck_assert_str_eq(s.description, "Review a change.");
	ck_assert_ptr_null(s.license);
	ck_assert_ptr_null(s.compatibility);
	ck_assert_ptr_null(s.allowed_tools);
	ck_assert_ptr_null(s.metadata);
	ck_assert_str_eq(s.path, WS "review/SKILL.md");
	ck_assert_str_eq(s.dir, WS "review");
	ck_assert_int_eq(s.origin, FLUE_SKILL_WORKSPACE);
	flue_skill_clear(&s);
	ck_assert_ptr_null(s.name);
	flue_skill_clear(&s);
	flue_skill_clear(NULL);
}
END_TEST

START_TEST(every_field_is_read)
{
	struct flue_skill s;

	parse_ok("---\n"
	         "name: pdf-tools-2\n"
	         "description: >\n"
	         "  Fill PDF forms.\n"
	         "  Use for PDFs.\n"
	         "license: Apache-2.0\n"
	         "compatibility: Needs poppler-utils\n"
	         "metadata:\n"
	         "  author: example-org\n"
	         "  version: \"1.0\"\n"
	         "allowed-tools: Bash(git:*) Read\n"
	         "---\n", "pdf-tools-2", &s);
	ck_assert_str_eq(s.name, "pdf-tools-2");
	ck_assert_str_eq(s.description, "Fill PDF forms. Use for PDFs.\n");
	ck_assert_str_eq(s.license, "Apache-2.0");
	ck_assert_str_eq(s.compatibility, "Needs poppler-utils");
	ck_assert_str_eq(s.allowed_tools, "Bash(git:*) Read");
	ck_assert_ptr_nonnull(s.metadata);
	ck_assert_str_eq(json_object_to_json_string_ext(s.metadata,
	                 JSON_C_TO_STRING_PLAIN),
	                 "{\"author\":\"example-org\",\"version\":\"1.0\"}");
	flue_skill_clear(&s);
}
END_TEST

START_TEST(scalars_are_read_as_written)
{
	struct flue_skill s;

	/* The reference parser reads every scalar as text: 007 stays 007
	 * and 1.10 stays 1.10, not what a number would print as. */
	parse_ok("---\nname: 007\ndescription: true\nlicense: 1.10\n"
	         "compatibility: !!int 42 # tagged\n"
	         "metadata: {version: 1.10, beta: False, n: 0x1F}\n"
	         "allowed-tools: 12\n---\n", "007", &s);
	ck_assert_str_eq(s.name, "007");
	ck_assert_str_eq(s.description, "true");
	ck_assert_str_eq(s.license, "1.10");
	ck_assert_str_eq(s.compatibility, "42");
	ck_assert_str_eq(s.allowed_tools, "12");
	ck_assert_str_eq(json_object_to_json_string_ext(s.metadata,
	                 JSON_C_TO_STRING_PLAIN),
	                 "{\"version\":\"1.10\",\"beta\":\"False\","
	                 "\"n\":\"0x1F\"}");
	flue_skill_clear(&s);
	parse_ok("---\nname: 123\ndescription: 4.5e3\n---\n", "123", &s);
	ck_assert_str_eq(s.name, "123");
	ck_assert_str_eq(s.description, "4.5e3");
	flue_skill_clear(&s);
}
END_TEST

START_TEST(null_optional_fields_are_absent)
{
	struct flue_skill s;

	parse_ok("---\nname: a\ndescription: d\nlicense:\ncompatibility: ~\n"
	         "metadata: null\nallowed-tools:\n---\n", "a", &s);
	ck_assert_ptr_null(s.license);
	ck_assert_ptr_null(s.compatibility);
	ck_assert_ptr_null(s.metadata);
	ck_assert_ptr_null(s.allowed_tools);
	flue_skill_clear(&s);
}
END_TEST

START_TEST(dir_is_the_folder_of_path)
{
	struct flue_error err = {0};
	struct flue_skill s;
	const char *text = "---\nname: x\ndescription: d\n---\n";

	ck_assert_int_eq(flue_skill_parse(text, strlen(text), "SKILL.md", "x",
	                 FLUE_SKILL_BUILTIN, &s, &err), 0);
	ck_assert_str_eq(s.dir, ".");
	ck_assert_int_eq(s.origin, FLUE_SKILL_BUILTIN);
	flue_skill_clear(&s);
	ck_assert_int_eq(flue_skill_parse(text, strlen(text), "/SKILL.md", "x",
	                 FLUE_SKILL_BUILTIN, &s, &err), 0);
	ck_assert_str_eq(s.dir, "/");
	flue_skill_clear(&s);
}
END_TEST

START_TEST(origin_names)
{
	ck_assert_str_eq(flue_skill_origin_name(FLUE_SKILL_WORKSPACE),
	                 "workspace");
	ck_assert_str_eq(flue_skill_origin_name(FLUE_SKILL_PROJECT), "project");
	ck_assert_str_eq(flue_skill_origin_name(FLUE_SKILL_BUILTIN), "builtin");
}
END_TEST

/* ---- name --------------------------------------------------------------- */

START_TEST(name_of_64_characters_is_allowed_65_is_not)
{
	char *n64 = repeat("a", 64), *n65 = repeat("a", 65);
	char *t64 = xasprintf("---\nname: %s\ndescription: d\n---\n", n64);
	char *t65 = xasprintf("---\nname: %s\ndescription: d\n---\n", n65);
	char *want = xasprintf(WS "%s/SKILL.md:2:7: name is 65 characters "
	                       "long; at most 64 are allowed", n65);
	struct flue_skill s;

	parse_ok(t64, n64, &s);
	ck_assert_str_eq(s.name, n64);
	flue_skill_clear(&s);
	check_error(t65, n65, want);
	free(n64);
	free(n65);
	free(t64);
	free(t65);
	free(want);
}
END_TEST

START_TEST(name_must_be_lowercase_letters_digits_hyphens)
{
	check_error("---\nname: Review\ndescription: d\n---\n", "Review",
	            WS "Review/SKILL.md:2:7: name 'Review' may contain only "
	            "lowercase letters, digits and single hyphens");
	check_error("---\nname: my_skill\ndescription: d\n---\n", "my_skill",
	            WS "my_skill/SKILL.md:2:7: name 'my_skill' may contain "
	            "only lowercase letters, digits and single hyphens");
	check_error("---\nname: \"caf\xc3\xa9\"\ndescription: d\n---\n",
	            "caf\xc3\xa9", WS "caf\xc3\xa9/SKILL.md:2:7: name "
	            "'caf\xc3\xa9' may contain only lowercase letters, digits "
	            "and single hyphens");
}
END_TEST

START_TEST(name_hyphens_not_first_last_or_doubled)
{
	check_error("---\nname: -review\ndescription: d\n---\n", "-review",
	            WS "-review/SKILL.md:2:7: name '-review' must not start "
	            "or end with a hyphen");
	check_error("---\nname: review-\ndescription: d\n---\n", "review-",
	            WS "review-/SKILL.md:2:7: name 'review-' must not start "
	            "or end with a hyphen");
	check_error("---\nname: code--review\ndescription: d\n---\n",
	            "code--review", WS "code--review/SKILL.md:2:7: name "
	            "'code--review' must not contain two hyphens in a row");
}
END_TEST

START_TEST(name_must_equal_the_folder)
{
	check_error("---\ndescription: d\nname:   review\n---\n", "reviews",
	            WS "reviews/SKILL.md:3:9: name 'review' does not match "
	            "its folder name 'reviews'; they must be equal");
}
END_TEST

START_TEST(name_is_required_and_not_empty)
{
	check_error("---\ndescription: d\n---\n", "review",
	            WS "review/SKILL.md: missing required field 'name' (the "
	            "skill's folder name, 'review')");
	check_error("---\ndescription: d\nname:\n---\n", "review",
	            WS "review/SKILL.md:3:1: name is empty; it must be the "
	            "skill's folder name, 'review'");
	check_error("---\nname: ''\ndescription: d\n---\n", "review",
	            WS "review/SKILL.md:2:7: name is empty; it must be the "
	            "skill's folder name, 'review'");
}
END_TEST

START_TEST(name_must_be_a_string)
{
	check_error("---\nname: {a: b}\ndescription: d\n---\n", "a",
	            WS "a/SKILL.md:2:7: name must be a string, not a mapping");
	check_error("---\nname:\n  - a\ndescription: d\n---\n", "a",
	            WS "a/SKILL.md:3:3: name must be a string, not a list");
	check_error("---\nname: \"a\\0b\"\ndescription: d\n---\n", "a",
	            WS "a/SKILL.md:2:7: name contains a NUL character");
}
END_TEST

/* ---- description -------------------------------------------------------- */

START_TEST(description_is_required_and_not_blank)
{
	check_error("---\nname: a\n---\n", "a",
	            WS "a/SKILL.md: missing required field 'description' "
	            "(what the skill does and when to use it)");
	check_error("---\nname: a\ndescription: \"\"\n---\n", "a",
	            WS "a/SKILL.md:3:14: description is empty; say what the "
	            "skill does and when to use it");
	check_error("---\nname: a\ndescription:\n---\n", "a",
	            WS "a/SKILL.md:3:1: description is empty; say what the "
	            "skill does and when to use it");
	check_error("---\nname: a\ndescription: \"  \\t\\n \"\n---\n", "a",
	            WS "a/SKILL.md:3:14: description is only whitespace; say "
	            "what the skill does and when to use it");
}
END_TEST

/* Lengths count code points: é is two bytes, 😀 four. */
static void
check_description_limit(const char *ch)
{
	char *ok = repeat(ch, 1024), *over = repeat(ch, 1025);
	char *t_ok = xasprintf("---\nname: a\ndescription: %s\n---\n", ok);
	char *t_over = xasprintf("---\nname: a\ndescription: %s\n---\n", over);
	struct flue_skill s;

	parse_ok(t_ok, "a", &s);
	ck_assert_str_eq(s.description, ok);
	flue_skill_clear(&s);
	check_error(t_over, "a", WS "a/SKILL.md:3:14: description is 1025 "
	            "characters long; at most 1024 are allowed");
	free(ok);
	free(over);
	free(t_ok);
	free(t_over);
}

START_TEST(description_limit_counts_characters)
{
	check_description_limit("\xc3\xa9");
	check_description_limit("\xf0\x9f\x98\x80");
	check_description_limit("x");
}
END_TEST

START_TEST(description_must_be_valid_utf8)
{
	/* The YAML reader refuses the byte where it is. */
	check_error("---\nname: a\ndescription: ab\xff" "cd\n---\n", "a",
	            WS "a/SKILL.md:3:16: invalid leading UTF-8 octet (0xFF)");
	check_error("---\nname: a\ndescription: \xc3\n---\n", "a",
	            WS "a/SKILL.md:3:15: invalid trailing UTF-8 octet (0xA)");
}
END_TEST

START_TEST(description_must_not_be_a_list)
{
	check_error("---\nname: a\ndescription: [one, two]\n---\n", "a",
	            WS "a/SKILL.md:3:14: description must be a string, not "
	            "a list");
	check_error("---\nname: a\ndescription:\n  - one\n---\n", "a",
	            WS "a/SKILL.md:4:3: description must be a string, not "
	            "a list");
}
END_TEST

/* ---- optional fields ---------------------------------------------------- */

START_TEST(compatibility_of_500_is_allowed_501_is_not)
{
	char *c500 = repeat("\xc3\xa9", 500), *c501 = repeat("c", 501);
	char *t500 = xasprintf("---\nname: a\ndescription: d\n"
	                       "compatibility: %s\n---\n", c500);
	char *t501 = xasprintf("---\nname: a\ndescription: d\n"
	                       "compatibility: %s\n---\n", c501);
	struct flue_skill s;

	parse_ok(t500, "a", &s);
	ck_assert_str_eq(s.compatibility, c500);
	flue_skill_clear(&s);
	check_error(t501, "a", WS "a/SKILL.md:4:16: compatibility is 501 "
	            "characters long; at most 500 are allowed");
	check_error("---\nname: a\ndescription: d\ncompatibility: ''\n---\n",
	            "a", WS "a/SKILL.md:4:16: compatibility is empty; remove "
	            "it or say what the skill needs to run");
	free(c500);
	free(c501);
	free(t500);
	free(t501);
}
END_TEST

START_TEST(license_and_allowed_tools_must_be_strings)
{
	check_error("---\nname: a\ndescription: d\nlicense: [MIT]\n---\n", "a",
	            WS "a/SKILL.md:4:10: license must be a string, not a "
	            "list");
	check_error("---\nname: a\ndescription: d\nallowed-tools:\n"
	            "  - Read\n  - Bash\n---\n", "a",
	            WS "a/SKILL.md:5:3: allowed-tools must be a string, not "
	            "a list");
}
END_TEST

START_TEST(metadata_must_map_names_to_strings)
{
	check_error("---\nname: a\ndescription: d\nmetadata: [a, b]\n---\n",
	            "a", WS "a/SKILL.md:4:11: metadata must be a mapping of "
	            "names to strings, not a list");
	check_error("---\nname: a\ndescription: d\nmetadata: v1\n---\n",
	            "a", WS "a/SKILL.md:4:11: metadata must be a mapping of "
	            "names to strings, not a string");
	check_error("---\nname: a\ndescription: d\nmetadata:\n"
	            "  author: me\n  tags: [x, y]\n---\n", "a",
	            WS "a/SKILL.md:6:9: metadata 'tags' must be a string, "
	            "not a list");
	check_error("---\nname: a\ndescription: d\nmetadata:\n"
	            "  owner: {team: x}\n---\n", "a",
	            WS "a/SKILL.md:5:10: metadata 'owner' must be a string, "
	            "not a mapping");
	check_error("---\nname: a\ndescription: d\nmetadata:\n"
	            "  author: me\n  owner:\n---\n", "a",
	            WS "a/SKILL.md:5:3: metadata 'owner' has no value; give "
	            "it a string (\"\" for an empty one)");
}
END_TEST

START_TEST(unknown_field_is_refused)
{
	check_error("---\nname: a\ndescription: d\n  \nversion: 2\n---\n", "a",
	            WS "a/SKILL.md:5:1: unknown field 'version' (allowed: "
	            "name, description, license, compatibility, metadata, "
	            "allowed-tools)");
	/* A null value has no position object; the key is found anyway. */
	check_error("---\nname: a\ndescription: d\nallowed_tools:\n---\n", "a",
	            WS "a/SKILL.md:4:1: unknown field 'allowed_tools' "
	            "(allowed: name, description, license, compatibility, "
	            "metadata, allowed-tools)");
	/* Unknown fields come first, whatever else is wrong. */
	check_error("---\nName: A\n---\n", "a",
	            WS "a/SKILL.md:2:1: unknown field 'Name' (allowed: name, "
	            "description, license, compatibility, metadata, "
	            "allowed-tools)");
}
END_TEST

/* ---- the file ----------------------------------------------------------- */

START_TEST(frontmatter_is_required)
{
	check_error("# Review\n\nname: review\n", "review",
	            WS "review/SKILL.md:1:1: no frontmatter: SKILL.md must "
	            "start with a --- line, then name: and description:, "
	            "then another --- line");
	check_error("", "review",
	            WS "review/SKILL.md:1:1: no frontmatter: SKILL.md must "
	            "start with a --- line, then name: and description:, "
	            "then another --- line");
	check_error("---\nname: review\ndescription: d\n", "review",
	            WS "review/SKILL.md:1: frontmatter opened with --- is "
	            "never closed (end it with a line that is just ---)");
	check_error("---\n- name\n---\n", "review",
	            WS "review/SKILL.md:2:1: the frontmatter must be a "
	            "mapping (key: value lines), not a list");
	check_error("---\nname: a\nname: b\n---\n", "a",
	            WS "a/SKILL.md:3:1: duplicate key 'name' (first at line "
	            "2)");
}
END_TEST

START_TEST(file_over_1_mib_is_refused_unread)
{
	size_t len = FLUE_SKILL_FILE_MAX + 1;
	const char *head = "---\nname: a\ndescription: d\n---\n";
	char *text = malloc(len + 1);
	struct flue_error err = {0};
	struct flue_skill s;

	ck_assert_ptr_nonnull(text);
	memset(text, 'x', len);
	memcpy(text, head, strlen(head));
	text[len] = '\0';
	check_error_len(text, len, "a", WS "a/SKILL.md: the file is larger "
	                "than 1 MiB; keep SKILL.md short and move details "
	                "into other files of the skill");
	/* Exactly 1 MiB is fine. */
	ck_assert_int_eq(flue_skill_parse(text, len - 1, "p/a/SKILL.md", "a",
	                 FLUE_SKILL_PROJECT, &s, &err), 0);
	ck_assert_str_eq(s.name, "a");
	flue_skill_clear(&s);
	free(text);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	struct flue_error err = {0};
	struct flue_skill s;

	ck_assert_int_eq(flue_skill_parse("x", 1, NULL, "a",
	                 FLUE_SKILL_PROJECT, &s, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_skill_parse("x", 1, "p", "a",
	                 FLUE_SKILL_PROJECT, NULL, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_skill_parse(NULL, 1, "p", "a",
	                 FLUE_SKILL_PROJECT, &s, &err), FLUE_EINVAL);
}
END_TEST

/* ---- discovery ---------------------------------------------------------- */

static char tmp_dir[PATH_MAX];
static char ws_dir[PATH_MAX + 16];      /* the workspace's cwd */
static char project_dir[PATH_MAX + 32];
static char builtin_dir[PATH_MAX + 32];
static flue_harness *harness;
static flue_workspace *workspace;

/* What the warning callback received. */
struct warnings {
	char *message[16];
	size_t n;
};

static void
collect_warning(void *arg, const char *message)
{
	struct warnings *w = arg;

	ck_assert_uint_lt(w->n, 16);
	w->message[w->n] = strdup(message);
	ck_assert_ptr_nonnull(w->message[w->n]);
	w->n++;
}

static void
warnings_free(struct warnings *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->message[i]);
	w->n = 0;
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

/* Write text to base/rel, creating folders. */
static void
put_len(const char *base, const char *rel, const char *text, size_t len)
{
	char *path = xasprintf("%s/%s", base, rel);
	char *slash = strrchr(path, '/');
	FILE *f;

	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

static void
put(const char *base, const char *rel, const char *text)
{
	put_len(base, rel, text, strlen(text));
}

/* A valid base/<folder>/SKILL.md for the skill called name. */
static void
put_skill_in(const char *base, const char *folder, const char *name)
{
	char *rel = xasprintf("%s/SKILL.md", folder);
	char *text = xasprintf("---\nname: %s\ndescription: The %s skill.\n"
	                       "---\nBody.\n", name, name);

	put(base, rel, text);
	free(rel);
	free(text);
}

static void
put_skill(const char *base, const char *name)
{
	put_skill_in(base, name, name);
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
	char tmpl[] = "/tmp/flue-skills-XXXXXX", *options;

	ck_assert_msg(plugin_dir != NULL, "FLUE_TEST_PLUGIN_DIR is not set; "
	              "run through `make check` or set it to plugins/.libs");
	unsetenv("FLUE_PLUGIN_PATH");
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	ck_assert_ptr_nonnull(realpath(tmpl, tmp_dir));
	snprintf(ws_dir, sizeof(ws_dir), "%s/repo", tmp_dir);
	snprintf(project_dir, sizeof(project_dir), "%s/proj/skills", tmp_dir);
	snprintf(builtin_dir, sizeof(builtin_dir), "%s/share/skills", tmp_dir);
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
	ck_assert_int_ne(access(tmp_dir, F_OK), 0);
}

/* The workspace's .agents/skills folder. */
static char *
ws_skills(void)
{
	return xasprintf("%s/.agents/skills", ws_dir);
}

static struct flue_skill_sources
all_sources(struct warnings *w)
{
	struct flue_skill_sources src = {
		.workspace = workspace,
		.project_dir = project_dir,
		.builtin_dir = builtin_dir,
		.warn = collect_warning,
		.warn_arg = w,
	};

	return src;
}

START_TEST(skills_from_every_source_come_sorted)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *skills = ws_skills(), *want;
	const struct flue_skill *s;

	/* Created out of order, across sources. */
	put_skill(builtin_dir, "zeta");
	put_skill(skills, "mid");
	put_skill(project_dir, "beta");
	put_skill(skills, "alpha");
	put_skill(builtin_dir, "gamma");
	put_skill(project_dir, "omega");
	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(w.n, 0);
	ck_assert_uint_eq(set.count, 6);
	ck_assert_str_eq(set.items[0].name, "alpha");
	ck_assert_str_eq(set.items[1].name, "beta");
	ck_assert_str_eq(set.items[2].name, "gamma");
	ck_assert_str_eq(set.items[3].name, "mid");
	ck_assert_str_eq(set.items[4].name, "omega");
	ck_assert_str_eq(set.items[5].name, "zeta");

	s = flue_skill_set_find(&set, "mid");
	ck_assert_ptr_eq(s, &set.items[3]);
	ck_assert_int_eq(s->origin, FLUE_SKILL_WORKSPACE);
	want = xasprintf("%s/mid/SKILL.md", skills);
	ck_assert_str_eq(s->path, want);
	free(want);
	want = xasprintf("%s/mid", skills);
	ck_assert_str_eq(s->dir, want);
	free(want);
	ck_assert_str_eq(s->description, "The mid skill.");

	s = flue_skill_set_find(&set, "beta");
	ck_assert_int_eq(s->origin, FLUE_SKILL_PROJECT);
	want = xasprintf("%s/beta/SKILL.md", project_dir);
	ck_assert_str_eq(s->path, want);
	free(want);
	s = flue_skill_set_find(&set, "zeta");
	ck_assert_int_eq(s->origin, FLUE_SKILL_BUILTIN);
	want = xasprintf("%s/zeta", builtin_dir);
	ck_assert_str_eq(s->dir, want);
	free(want);
	ck_assert_ptr_null(flue_skill_set_find(&set, "nope"));
	ck_assert_ptr_null(flue_skill_set_find(&set, "Alpha"));

	flue_skill_set_clear(&set);
	ck_assert_ptr_null(set.items);
	ck_assert_uint_eq(set.count, 0);
	flue_skill_set_clear(&set);
	flue_skill_set_clear(NULL);
	free(skills);
}
END_TEST

START_TEST(missing_folders_hold_no_skills)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_skill_sources none = { NULL, NULL, NULL, NULL, NULL, NULL };
	struct flue_error err = {0};
	struct flue_skill_set set;

	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(set.count, 0);
	ck_assert_ptr_null(set.items);
	ck_assert_ptr_null(flue_skill_set_find(&set, "a"));
	ck_assert_uint_eq(w.n, 0);
	ck_assert_int_eq(flue_skills_discover(&none, &set, &err), 0);
	ck_assert_uint_eq(set.count, 0);
	/* Only .agents, no skills folder in it. */
	put(ws_dir, ".agents/README", "x");
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), 0);
	ck_assert_uint_eq(set.count, 0);
	ck_assert_int_eq(flue_skills_discover(NULL, &set, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_skills_discover(&src, NULL, &err), FLUE_EINVAL);
}
END_TEST

START_TEST(hidden_files_and_bare_folders_are_passed_over)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *skills = ws_skills(), *target, *link;

	put_skill(skills, "real");
	put(skills, "notes.md", "---\nname: notes.md\n---\n");
	put(skills, "README", "not a skill");
	put_skill(skills, ".hidden");                   /* hidden folder */
	put(skills, "empty/other.md", "no SKILL.md here");
	put(skills, "lower/skill.md",
	    "---\nname: lower\ndescription: d\n---\n");
	put(skills, "dir-md/SKILL.md/inner", "SKILL.md is a folder");
	put_skill(project_dir, ".git");
	put(project_dir, "stray.txt", "x");
	mkdirs(builtin_dir);
	put(builtin_dir, "bare/.keep", "");
	/* A symlink to a skill folder is a skill folder; a dangling one
	 * is passed over. */
	put_skill_in(tmp_dir, "elsewhere/linked", "linked");
	target = xasprintf("%s/elsewhere/linked", tmp_dir);
	link = xasprintf("%s/linked", project_dir);
	ck_assert_int_eq(symlink(target, link), 0);
	free(link);
	link = xasprintf("%s/linked-ws", skills);
	ck_assert_int_eq(symlink("/nonexistent/x", link), 0);
	free(link);
	free(target);

	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(w.n, 0);
	ck_assert_uint_eq(set.count, 2);
	ck_assert_str_eq(set.items[0].name, "linked");
	ck_assert_int_eq(set.items[0].origin, FLUE_SKILL_PROJECT);
	ck_assert_str_eq(set.items[1].name, "real");
	flue_skill_set_clear(&set);
	free(skills);
}
END_TEST

START_TEST(workspace_symlinked_skill_folder_is_followed)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *skills = ws_skills(), *link;

	put_skill_in(ws_dir, "vendor/shared", "shared");
	mkdirs(skills);
	link = xasprintf("%s/shared", skills);
	ck_assert_int_eq(symlink("../../vendor/shared", link), 0);
	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(set.count, 1);
	ck_assert_str_eq(set.items[0].name, "shared");
	ck_assert_str_eq(set.items[0].dir, link);
	flue_skill_set_clear(&set);
	free(link);
	free(skills);
}
END_TEST

START_TEST(invalid_workspace_skills_warn_the_rest_load)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *skills = ws_skills(), *want, *big;

	put_skill(skills, "good");
	put(skills, "Review/SKILL.md",
	    "---\nname: Review\ndescription: d\n---\n");
	put(skills, "broken/SKILL.md", "# no frontmatter\n");
	put(skills, "wrong/SKILL.md",
	    "---\nname: right\ndescription: d\n---\n");
	big = malloc(FLUE_SKILL_FILE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', FLUE_SKILL_FILE_MAX + 1);
	put_len(skills, "huge/SKILL.md", big, FLUE_SKILL_FILE_MAX + 1);
	free(big);
	put_skill(project_dir, "proj");

	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(set.count, 2);
	ck_assert_str_eq(set.items[0].name, "good");
	ck_assert_str_eq(set.items[1].name, "proj");
	/* In folder-name order. */
	ck_assert_uint_eq(w.n, 4);
	want = xasprintf("%s/Review/SKILL.md:2:7: name 'Review' may contain "
	                 "only lowercase letters, digits and single hyphens",
	                 skills);
	ck_assert_str_eq(w.message[0], want);
	free(want);
	want = xasprintf("%s/broken/SKILL.md:1:1: no frontmatter: SKILL.md "
	                 "must start with a --- line, then name: and "
	                 "description:, then another --- line", skills);
	ck_assert_str_eq(w.message[1], want);
	free(want);
	want = xasprintf("%s/huge/SKILL.md: the file is larger than 1 MiB; "
	                 "keep SKILL.md short and move details into other "
	                 "files of the skill", skills);
	ck_assert_str_eq(w.message[2], want);
	free(want);
	want = xasprintf("%s/wrong/SKILL.md:2:7: name 'right' does not match "
	                 "its folder name 'wrong'; they must be equal", skills);
	ck_assert_str_eq(w.message[3], want);
	free(want);
	flue_skill_set_clear(&set);

	/* Without a callback the warnings are dropped, the result the same. */
	src.warn = NULL;
	ck_assert_int_eq(flue_skills_discover(&src, &set, NULL), 0);
	ck_assert_uint_eq(set.count, 2);
	flue_skill_set_clear(&set);
	warnings_free(&w);
	free(skills);
}
END_TEST

START_TEST(workspace_cwd_can_be_given)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *sub = xasprintf("%s/pkg", ws_dir), *want;

	put_skill_in(ws_dir, ".agents/skills/top", "top");
	put_skill_in(sub, ".agents/skills/inner", "inner");
	src.cwd = sub;
	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(set.count, 1);
	ck_assert_str_eq(set.items[0].name, "inner");
	want = xasprintf("%s/.agents/skills/inner/SKILL.md", sub);
	ck_assert_str_eq(set.items[0].path, want);
	free(want);
	flue_skill_set_clear(&set);
	/* A trailing slash does not double. */
	free(sub);
	sub = xasprintf("%s/", ws_dir);
	src.cwd = sub;
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), 0);
	ck_assert_uint_eq(set.count, 1);
	want = xasprintf("%s/.agents/skills/top/SKILL.md", ws_dir);
	ck_assert_str_eq(set.items[0].path, want);
	free(want);
	flue_skill_set_clear(&set);
	free(sub);
}
END_TEST

START_TEST(workspace_skills_folder_that_is_a_file_warns)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *want;

	put(ws_dir, ".agents/skills", "oops");
	ck_assert_msg(flue_skills_discover(&src, &set, &err) == 0, "%s",
	              err.message);
	ck_assert_uint_eq(set.count, 0);
	ck_assert_uint_eq(w.n, 1);
	want = xasprintf("%s/.agents/skills: not a folder, so it holds no "
	                 "skills", ws_dir);
	ck_assert_str_eq(w.message[0], want);
	free(want);
	warnings_free(&w);
}
END_TEST

START_TEST(invalid_project_skill_is_an_error)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *want;

	put_skill_in(ws_dir, ".agents/skills/fine", "fine");
	put_skill(project_dir, "alpha");
	put(project_dir, "bad/SKILL.md", "---\nname: bad\ndescription: d\n"
	    "color: blue\n---\n");
	set.count = 99;
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	ck_assert_int_eq(err.code, FLUE_EINVAL);
	ck_assert_uint_eq(set.count, 0);
	ck_assert_ptr_null(set.items);
	want = xasprintf("%s/bad/SKILL.md:4:1: unknown field 'color' (allowed: "
	                 "name, description, license, compatibility, metadata, "
	                 "allowed-tools)", project_dir);
	ck_assert_str_eq(err.message, want);
	free(want);
	ck_assert_uint_eq(w.n, 0);
	/* With no err the code still says it. */
	ck_assert_int_eq(flue_skills_discover(&src, &set, NULL), FLUE_EINVAL);
}
END_TEST

START_TEST(invalid_builtin_skill_is_an_error)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *want, *big;

	put(builtin_dir, "tidy/SKILL.md", "---\nname: tidy\n---\n");
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	want = xasprintf("%s/tidy/SKILL.md: missing required field "
	                 "'description' (what the skill does and when to use "
	                 "it)", builtin_dir);
	ck_assert_str_eq(err.message, want);
	free(want);

	/* Too large: refused by its size. */
	big = malloc(FLUE_SKILL_FILE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '\n', FLUE_SKILL_FILE_MAX + 1);
	put_len(builtin_dir, "tidy/SKILL.md", big, FLUE_SKILL_FILE_MAX + 1);
	free(big);
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	want = xasprintf("%s/tidy/SKILL.md: the file is larger than 1 MiB; "
	                 "keep SKILL.md short and move details into other "
	                 "files of the skill", builtin_dir);
	ck_assert_str_eq(err.message, want);
	free(want);
	ck_assert_uint_eq(w.n, 0);
}
END_TEST

START_TEST(unreadable_host_folder_is_an_error)
{
	struct flue_skill_sources src = { NULL, NULL, NULL, NULL, NULL, NULL };
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *file = xasprintf("%s/plain", tmp_dir), *want;

	put(tmp_dir, "plain", "x");
	src.project_dir = file;
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_ENOTDIR);
	want = xasprintf("cannot list the skills in '%s': Not a directory",
	                 file);
	ck_assert_str_eq(err.message, want);
	free(want);
	free(file);
}
END_TEST

START_TEST(same_name_in_two_places_is_an_error)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *skills = ws_skills(), *want;

	put_skill(skills, "review");
	put_skill(builtin_dir, "review");
	put_skill(project_dir, "other");
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	ck_assert_uint_eq(set.count, 0);
	want = xasprintf("skill 'review' is defined twice: %s/review/SKILL.md "
	                 "(workspace) and %s/review/SKILL.md (builtin)",
	                 skills, builtin_dir);
	ck_assert_str_eq(err.message, want);
	free(want);

	put_skill(project_dir, "tidy");
	put_skill(builtin_dir, "tidy");
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	want = xasprintf("skill 'review' is defined twice: %s/review/SKILL.md "
	                 "(workspace) and %s/review/SKILL.md (builtin)",
	                 skills, builtin_dir);
	ck_assert_str_eq(err.message, want);
	free(want);

	/* Without the workspace copy, project and builtin collide. */
	src.workspace = NULL;
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	want = xasprintf("skill 'tidy' is defined twice: %s/tidy/SKILL.md "
	                 "(project) and %s/tidy/SKILL.md (builtin)",
	                 project_dir, builtin_dir);
	ck_assert_str_eq(err.message, want);
	free(want);
	ck_assert_uint_eq(w.n, 0);
	free(skills);
}
END_TEST

START_TEST(workspace_and_project_collide)
{
	struct warnings w = { {NULL}, 0 };
	struct flue_skill_sources src = all_sources(&w);
	struct flue_error err = {0};
	struct flue_skill_set set;
	char *skills = ws_skills(), *want;

	put_skill(project_dir, "review");
	put_skill(skills, "review");
	ck_assert_int_eq(flue_skills_discover(&src, &set, &err), FLUE_EINVAL);
	want = xasprintf("skill 'review' is defined twice: %s/review/SKILL.md "
	                 "(workspace) and %s/review/SKILL.md (project)",
	                 skills, project_dir);
	ck_assert_str_eq(err.message, want);
	free(want);
	free(skills);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *
skills_suite(void)
{
	Suite *s = suite_create("skills");
	TCase *valid = tcase_create("valid");
	TCase *name = tcase_create("name");
	TCase *other = tcase_create("fields");
	TCase *file = tcase_create("file");
	TCase *disc = tcase_create("discovery");

	tcase_add_test(valid, minimal_skill_is_read);
	tcase_add_test(valid, every_field_is_read);
	tcase_add_test(valid, scalars_are_read_as_written);
	tcase_add_test(valid, null_optional_fields_are_absent);
	tcase_add_test(valid, dir_is_the_folder_of_path);
	tcase_add_test(valid, origin_names);
	suite_add_tcase(s, valid);
	tcase_add_test(name, name_of_64_characters_is_allowed_65_is_not);
	tcase_add_test(name, name_must_be_lowercase_letters_digits_hyphens);
	tcase_add_test(name, name_hyphens_not_first_last_or_doubled);
	tcase_add_test(name, name_must_equal_the_folder);
	tcase_add_test(name, name_is_required_and_not_empty);
	tcase_add_test(name, name_must_be_a_string);
	suite_add_tcase(s, name);
	tcase_add_test(other, description_is_required_and_not_blank);
	tcase_add_test(other, description_limit_counts_characters);
	tcase_add_test(other, description_must_be_valid_utf8);
	tcase_add_test(other, description_must_not_be_a_list);
	tcase_add_test(other, compatibility_of_500_is_allowed_501_is_not);
	tcase_add_test(other, license_and_allowed_tools_must_be_strings);
	tcase_add_test(other, metadata_must_map_names_to_strings);
	tcase_add_test(other, unknown_field_is_refused);
	suite_add_tcase(s, other);
	tcase_add_test(file, frontmatter_is_required);
	tcase_add_test(file, file_over_1_mib_is_refused_unread);
	tcase_add_test(file, bad_arguments_are_refused);
	suite_add_tcase(s, file);
	tcase_add_checked_fixture(disc, setup, teardown);
	tcase_add_test(disc, skills_from_every_source_come_sorted);
	tcase_add_test(disc, missing_folders_hold_no_skills);
	tcase_add_test(disc, hidden_files_and_bare_folders_are_passed_over);
	tcase_add_test(disc, workspace_symlinked_skill_folder_is_followed);
	tcase_add_test(disc, invalid_workspace_skills_warn_the_rest_load);
	tcase_add_test(disc, workspace_cwd_can_be_given);
	tcase_add_test(disc, workspace_skills_folder_that_is_a_file_warns);
	tcase_add_test(disc, invalid_project_skill_is_an_error);
	tcase_add_test(disc, invalid_builtin_skill_is_an_error);
	tcase_add_test(disc, unreadable_host_folder_is_an_error);
	tcase_add_test(disc, same_name_in_two_places_is_an_error);
	tcase_add_test(disc, workspace_and_project_collide);
	suite_add_tcase(s, disc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(skills_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
