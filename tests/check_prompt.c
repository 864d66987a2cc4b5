/* System prompt assembly: sections in order, headings of every file
 * nested under their section, the role as a separate overlay, payload
 * substitution that cannot change the structure, and byte stability. */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>
#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/agent.h"
#include "../core/lib/prompt.h"

static char tmp[64];   /* a mkdtemp path: short, so paths built on it fit */
static flue_harness *harness;
static flue_workspace *workspace;

static void
put(const char *rel, const char *text)
{
	char path[PATH_MAX], cmd[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	ck_assert_int_eq(system(cmd), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
setup(void)
{
	const char *dir = getenv("FLUE_TEST_PLUGIN_DIR");
	const char *plugins[] = {"local", NULL};
	const char *path[] = {dir ? dir : "plugins/.libs", NULL};
	struct flue_harness_options opts = {0};
	struct flue_error err = {0};
	char options[PATH_MAX + 16];

	strcpy(tmp, "/tmp/flue-prompt-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	opts.size = sizeof(opts);
	opts.project_dir = tmp;
	opts.plugins = plugins;
	opts.plugin_path = path;
	ck_assert_msg(flue_harness_open(&harness, &opts, &err) == 0, "%s",
	              err.message);
	snprintf(options, sizeof(options), "{\"cwd\": \"%s\"}", tmp);
	ck_assert_msg(flue_workspace_open(&workspace, harness, "local", NULL,
	                                  options, &err) == 0, "%s",
	              err.message);
}

static void
teardown(void)
{
	struct flue_error err = {0};
	char cmd[PATH_MAX + 16];

	flue_workspace_close(workspace, &err);
	flue_harness_close(harness);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* The heading outline of a Markdown document: "2:Title|3:Sub|..." as
 * cmark parses it, so the test checks structure, not spelling. */
static char *
outline(const char *doc)
{
	cmark_node *root = cmark_parse_document(doc, strlen(doc),
	                                        CMARK_OPT_DEFAULT);
	cmark_iter *it = cmark_iter_new(root);
	static char out[4096];
	size_t used = 0;
	cmark_event_type ev;

	out[0] = '\0';
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);

		if (ev == CMARK_EVENT_ENTER &&
		    cmark_node_get_type(node) == CMARK_NODE_HEADING) {
			cmark_node *text = cmark_node_first_child(node);

			used += (size_t)snprintf(out + used, sizeof(out) - used,
			                         "%s%d:%s", used ? "|" : "",
			                         cmark_node_get_heading_level(node),
			                         text ? cmark_node_get_literal(text) :
			                         "");
		}
	}
	cmark_iter_free(it);
	cmark_node_free(root);
	return out;
}

static void
load_agent(struct flue_agent_def *agent, const char *text)
{
	struct flue_error err = {0};

	put("agents/a.md", text);
	ck_assert_msg(flue_agent_load(tmp, "a", agent, &err) == 0, "%s",
	              err.message);
}

static void
build(struct flue_prompt *p, const struct flue_agent_def *agent,
      json_object *payload, const struct flue_role *role,
      const struct flue_skill_set *skills)
{
	struct flue_prompt_input in = {0};
	struct flue_error err = {0};

	in.agent = &agent->file;
	in.payload = payload;
	in.workspace = workspace;
	in.cwd = tmp;
	in.skills = skills;
	in.role = role;
	in.now = 1795305600;   /* Sun, Nov 22, 2026 (UTC) */
	ck_assert_msg(flue_prompt_build(&in, p, &err) == 0, "%s", err.message);
}

START_TEST(sections_in_order_with_nested_headings)
{
	struct flue_agent_def agent;
	struct flue_prompt p;

	load_agent(&agent, "---\nmodel: a/b\n---\n# Coder\n\n## Steps\n\nDo it.\n");
	put("AGENTS.md", "---\nowner: x\n---\n# Repo\n\n## Build\n\nmake\n");
	put("CLAUDE.md", "Setext\n======\n\ntext\n");
	build(&p, &agent, NULL, NULL, NULL);
	ck_assert_str_eq(outline(p.base),
	                 "2:Instructions|3:Coder|4:Steps|2:Project context|"
	                 "3:Repo|4:Build|3:Setext|2:Environment");
	ck_assert_ptr_null(strstr(p.base, "owner: x"));
	ck_assert_ptr_null(p.overlay);
	ck_assert_str_eq(p.system, p.base);
	ck_assert_int_eq(p.context_files, 2);
	ck_assert_ptr_nonnull(strstr(p.base, "- Date: Sun, Nov 22, 2026\n"));
	ck_assert(strncmp(p.base, "You are an agent running headless", 33) == 0);
	ck_assert(p.fixed_bytes > 0 && p.fixed_bytes < 600);
	flue_prompt_clear(&p);
	flue_agent_clear(&agent);
}
END_TEST

START_TEST(role_is_a_separate_overlay)
{
	struct flue_agent_def agent;
	struct flue_role role;
	struct flue_prompt with, without;
	struct flue_error err = {0};

	load_agent(&agent, "Base instructions.\n");
	put("roles/critic.md", "---\nthinking: high\n---\n# Tone\nBe blunt.\n");
	ck_assert_int_eq(flue_role_load(tmp, "critic", &role, &err), 0);
	build(&with, &agent, NULL, &role, NULL);
	build(&without, &agent, NULL, NULL, NULL);
	/* The base -- what a session keeps -- is the same with or without
	 * the role, so the overlay is never part of it. */
	ck_assert_str_eq(with.base, without.base);
	ck_assert_ptr_nonnull(with.overlay);
	ck_assert_str_eq(outline(with.overlay), "2:Role: critic|3:Tone");
	ck_assert_ptr_null(strstr(with.base, "Be blunt"));
	ck_assert_uint_eq(with.system_len,
	                  with.base_len + 1 + with.overlay_len);
	ck_assert(strncmp(with.system, with.base, with.base_len) == 0);
	ck_assert_str_eq(with.system + with.base_len + 1, with.overlay);
	flue_prompt_clear(&with);
	flue_prompt_clear(&without);
	flue_role_clear(&role);
	flue_agent_clear(&agent);
}
END_TEST

START_TEST(payload_substitution_keeps_structure)
{
	struct flue_agent_def agent;
	struct flue_prompt p;
	json_object *payload;

	load_agent(&agent, "# Task\n\nFix {{payload.issue}} in `{{payload.file}}`."
	           "\n\n```\n{{payload.code}}\n```\n");
	payload = json_tokener_parse("{\"issue\": \"x\\n\\n# Evil\\n---\\n\", "
	                             "\"file\": \"a`b\", \"code\": "
	                             "\"```\\n# not a heading\"}");
	build(&p, &agent, payload, NULL, NULL);
	ck_assert_str_eq(outline(p.base), "2:Instructions|3:Task|2:Environment");
	ck_assert_ptr_nonnull(strstr(p.base, "Evil"));
	ck_assert_ptr_nonnull(strstr(p.base, "# not a heading"));
	flue_prompt_clear(&p);
	json_object_put(payload);
	flue_agent_clear(&agent);
}
END_TEST

START_TEST(missing_payload_reference_is_an_error)
{
	struct flue_agent_def agent;
	struct flue_prompt_input in = {0};
	struct flue_prompt p;
	struct flue_error err = {0};

	load_agent(&agent, "---\ndescription: d\n---\nline one\nUse {{payload.repo}}.\n");
	in.agent = &agent.file;
	in.cwd = tmp;
	in.now = 1;
	ck_assert_int_eq(flue_prompt_build(&in, &p, &err), FLUE_EINVAL);
	ck_assert_msg(strstr(err.message, "agents/a.md:5:") != NULL &&
	              strstr(err.message, "payload.repo") != NULL, "%s",
	              err.message);
	flue_agent_clear(&agent);
}
END_TEST

START_TEST(skills_listed_escaped_and_sorted_by_caller)
{
	struct flue_agent_def agent;
	struct flue_prompt p;
	struct flue_skill items[2] = {{0}};
	struct flue_skill_set set = {items, 2};

	items[0].name = "alpha";
	items[0].description = "Use *this* for [links] & <tags>";
	items[0].path = "/x/alpha/SKILL.md";
	items[1].name = "beta";
	items[1].description = "Second";
	items[1].path = "/x/beta/SKILL.md";
	load_agent(&agent, "Hi.\n");
	build(&p, &agent, NULL, NULL, &set);
	ck_assert_str_eq(outline(p.base),
	                 "2:Instructions|2:Skills|2:Environment");
	ck_assert_ptr_nonnull(strstr(p.base, "- **alpha**: "));
	ck_assert_ptr_nonnull(strstr(p.base, "(/x/beta/SKILL.md)"));
	/* Markup in a description stays literal text. */
	ck_assert_ptr_null(strstr(p.base, " *this* "));
	ck_assert(strstr(p.base, "- **alpha**") < strstr(p.base, "- **beta**"));
	flue_prompt_clear(&p);
	flue_agent_clear(&agent);
}
END_TEST

START_TEST(byte_stable_and_listing_sorted)
{
	struct flue_agent_def agent;
	struct flue_prompt a, b;

	load_agent(&agent, "Hi.\n");
	put("zeta.txt", "z");
	put("alpha/x", "a");
	put("Mid.md", "m");
	build(&a, &agent, NULL, NULL, NULL);
	build(&b, &agent, NULL, NULL, NULL);
	ck_assert_uint_eq(a.system_len, b.system_len);
	ck_assert(memcmp(a.system, b.system, a.system_len) == 0);
	ck_assert_ptr_nonnull(strstr(a.base, "- Top-level entries: Mid.md, "
	                                     "agents/, alpha/, zeta.txt\n"));
	flue_prompt_clear(&a);
	flue_prompt_clear(&b);
	flue_agent_clear(&agent);
}
END_TEST

START_TEST(listing_is_capped)
{
	struct flue_agent_def agent;
	struct flue_prompt p;
	char name[32];

	load_agent(&agent, "Hi.\n");
	for (int i = 0; i < FLUE_LISTING_MAX + 5; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		put(name, "");
	}
	build(&p, &agent, NULL, NULL, NULL);
	/* agents/ plus 105 files: 106 entries, 100 shown. */
	ck_assert_ptr_nonnull(strstr(p.base, " and 6 more\n"));
	flue_prompt_clear(&p);
	flue_agent_clear(&agent);
}
END_TEST

static Suite *
prompt_suite(void)
{
	Suite *s = suite_create("prompt");
	TCase *tc = tcase_create("prompt");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sections_in_order_with_nested_headings);
	tcase_add_test(tc, role_is_a_separate_overlay);
	tcase_add_test(tc, payload_substitution_keeps_structure);
	tcase_add_test(tc, missing_payload_reference_is_an_error);
	tcase_add_test(tc, skills_listed_escaped_and_sorted_by_caller);
	tcase_add_test(tc, byte_stable_and_listing_sorted);
	tcase_add_test(tc, listing_is_capped);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(prompt_suite());
	int failed;

	setenv("TZ", "UTC", 1);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
