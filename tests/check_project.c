/* flue.yaml, project discovery, agent and role files: every field, every
 * validation error with its file, line, column and field, and the
 * precedence of call, session, role, agent and defaults. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../core/lib/agent.h"
#include "../core/lib/project.h"
#include "../core/lib/suggest.h"
#include "../core/lib/tools.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmp[64];   /* a mkdtemp path: short, so paths built on it fit */

static void
setup_tmp(void)
{
	strcpy(tmp, "/tmp/flue-project-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
teardown_tmp(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write text to tmp/rel, creating folders. */
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
mkdirs(const char *rel)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", tmp, rel);
	ck_assert_int_eq(system(cmd), 0);
}

static void
config_fails(const char *yaml, const char *want)
{
	struct flue_config c;
	struct flue_error err = {0};
	int rc = flue_config_parse(yaml, strlen(yaml), "flue.yaml", &c, &err);

	ck_assert_msg(rc == FLUE_EINVAL, "<%s> parsed (rc %d)", yaml, rc);
	ck_assert_str_eq(err.message, want);
	flue_config_clear(&c);
}

static void
config_ok(const char *yaml, struct flue_config *c)
{
	struct flue_error err = {0};
	int rc = flue_config_parse(yaml, strlen(yaml), "flue.yaml", c, &err);

	ck_assert_msg(rc == 0, "<%s>: %s", yaml, err.message);
}

/* ---- flue.yaml ------------------------------------------------------------ */

START_TEST(config_every_field)
{
	struct flue_config c;
	const struct flue_provider_config *p;

	config_ok("plugins: [local, ./my.so]\n"
	          "plugin_path: [plugins, /opt/flue]\n"
	          "plugin_options:\n  local: {env: {A: b}}\n"
	          "defaults:\n"
	          "  model: anthropic/claude-sonnet-4.6\n"
	          "  sandbox: {plugin: local, cwd: /tmp}\n"
	          "  thinking: high\n"
	          "  role: reviewer\n"
	          "  max_turns: 12\n"
	          "providers:\n"
	          "  ollama:\n"
	          "    plugin: gateway\n"
	          "    api: openai-chat\n"
	          "    base_url: http://localhost:11434/v1\n"
	          "    api_key_env: OLLAMA_KEY\n"
	          "    headers: {X-Team: blue, X-Num: 3}\n"
	          "    models:\n"
	          "      llama3.1:8b: {context_window: 128000, max_tokens: 4096}\n"
	          "    options: {order: [a, b]}\n"
	          "  anthropic: {api: anthropic-messages}\n"
	          "server:\n"
	          "  port: 8080\n"
	          "  host: 0.0.0.0\n"
	          "  api_token_env: MY_TOKEN\n"
	          "  max_body_bytes: 2048\n"
	          "  max_concurrent_runs: 4\n"
	          "  cors_origins: [https://example.com]\n"
	          "  run_retention_days: 7\n", &c);
	ck_assert_int_eq(json_object_array_length(c.plugins), 2);
	ck_assert_str_eq(json_object_get_string(
	                 json_object_array_get_idx(c.plugins, 1)), "./my.so");
	ck_assert_int_eq(json_object_array_length(c.plugin_path), 2);
	ck_assert_ptr_nonnull(json_object_object_get(c.plugin_options, "local"));
	ck_assert_str_eq(c.defaults.model, "anthropic/claude-sonnet-4.6");
	ck_assert_str_eq(c.defaults.sandbox.plugin, "local");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	                 c.defaults.sandbox.options, "cwd")), "/tmp");
	ck_assert_str_eq(c.defaults.thinking, "high");
	ck_assert_str_eq(c.defaults.role, "reviewer");
	ck_assert_int_eq(c.defaults.max_turns, 12);
	ck_assert_uint_eq(c.n_providers, 2);
	p = flue_config_provider(&c, "ollama/llama3.1:8b");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->plugin, "gateway");
	ck_assert_str_eq(p->api, "openai-chat");
	ck_assert_str_eq(p->base_url, "http://localhost:11434/v1");
	ck_assert_str_eq(p->api_key_env, "OLLAMA_KEY");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	                 json_object_object_get(p->models, "llama3.1:8b"),
	                 "max_tokens")), 4096);
	ck_assert_ptr_nonnull(p->headers);
	ck_assert_ptr_nonnull(p->options);
	p = flue_config_provider(&c, "anthropic/claude-sonnet-4.6");
	ck_assert_str_eq(p->api, "anthropic-messages");
	ck_assert_str_eq(p->plugin, "gateway");
	ck_assert_ptr_null(flue_config_provider(&c, "openai/gpt-5"));
	ck_assert_ptr_null(flue_config_provider(&c, "olla/x"));
	ck_assert_int_eq(c.server.port, 8080);
	ck_assert_str_eq(c.server.host, "0.0.0.0");
	ck_assert_str_eq(c.server.api_token_env, "MY_TOKEN");
	ck_assert_int_eq(c.server.max_body_bytes, 2048);
	ck_assert_int_eq(c.server.max_concurrent_runs, 4);
	ck_assert_int_eq(c.server.run_retention_days, 7);
	ck_assert_int_eq(json_object_array_length(c.server.cors_origins), 1);
	flue_config_clear(&c);
}
END_TEST

START_TEST(config_defaults_when_empty)
{
	struct flue_config c;

	config_ok("", &c);
	ck_assert_ptr_null(c.plugins);
	ck_assert_ptr_null(c.defaults.model);
	ck_assert_int_eq(c.server.port, 3583);
	ck_assert_str_eq(c.server.host, "127.0.0.1");
	ck_assert_str_eq(c.server.api_token_env, "FLUE_API_TOKEN");
	ck_assert_int_eq(c.server.max_body_bytes, 1024 * 1024);
	flue_config_clear(&c);
	config_ok("# only a comment\n", &c);
	ck_assert_int_eq(c.server.port, 3583);
	flue_config_clear(&c);
}
END_TEST

START_TEST(config_errors_name_file_line_column_field)
{
	config_fails("plugns: [local]\n",
	             "flue.yaml:1:1: unknown key 'plugns' in flue.yaml (did "
	             "you mean 'plugins'?)");
	config_fails("colour: blue\n",
	             "flue.yaml:1:1: unknown key 'colour' in flue.yaml (known "
	             "keys: plugins, plugin_path, plugin_options, defaults, "
	             "providers, server)");
	config_fails("- a\n- b\n",
	             "flue.yaml:1:1: expected a mapping of settings (plugins, "
	             "defaults, providers, server, ...), found a list");
	config_fails("plugins: local\n",
	             "flue.yaml:1:10: plugins: expected a list of strings, "
	             "found a string");
	config_fails("plugins: [local, 3]\n",
	             "flue.yaml:1:18: plugins[1]: expected a string, found an "
	             "integer");
	config_fails("plugins: [local, '']\n",
	             "flue.yaml:1:18: plugins[1]: expected a non-empty string");
	config_fails("plugin_options:\n  local: 3\n",
	             "flue.yaml:2:10: plugin_options.local: expected a mapping "
	             "of the plugin's options, found an integer");
	config_fails("defaults:\n  modle: x/y\n",
	             "flue.yaml:2:3: unknown key 'defaults.modle' in defaults "
	             "(did you mean 'model'?)");
	config_fails("defaults:\n  model: claude\n",
	             "flue.yaml:2:10: defaults.model: 'claude' is not "
	             "provider/model (for example anthropic/claude-sonnet-4.6)");
	config_fails("defaults:\n  thinking: hihg\n",
	             "flue.yaml:2:13: defaults.thinking: 'hihg' is not one of "
	             "off, minimal, low, medium, high, xhigh (did you mean "
	             "'high'?)");
	config_fails("defaults:\n  sandbox: [local]\n",
	             "flue.yaml:2:12: defaults.sandbox: expected a plugin name "
	             "or a mapping with 'plugin' and its options, found a list");
	config_fails("defaults:\n  sandbox: {cwd: /x}\n",
	             "flue.yaml:2:12: defaults.sandbox: the mapping needs "
	             "'plugin: <name>' (e.g. plugin: local)");
	config_fails("defaults:\n  max_turns: 0\n",
	             "flue.yaml:2:14: defaults.max_turns: 0 is out of range "
	             "(expected 1 to 10000)");
	config_fails("defaults:\n  max_turns: many\n",
	             "flue.yaml:2:14: defaults.max_turns: expected a whole "
	             "number, found a string");
	config_fails("defaults: 3\n",
	             "flue.yaml:1:11: defaults: expected a mapping, found an "
	             "integer");
	config_fails("providers:\n  Open AI: {}\n",
	             "flue.yaml:2:12: providers.Open AI: a provider id is the "
	             "model prefix before '/': lowercase letters, digits, '-', "
	             "'_' and '.'");
	config_fails("providers:\n  x: {api: openai}\n",
	             "flue.yaml:2:12: providers.x.api: 'openai' is not one of "
	             "openai-chat, anthropic-messages");
	config_fails("providers:\n  x: {base_url: localhost:8080}\n",
	             "flue.yaml:2:17: providers.x.base_url: 'localhost:8080' is "
	             "not an http:// or https:// URL");
	config_fails("providers:\n  x: {api_key_env: MY-KEY}\n",
	             "flue.yaml:2:20: providers.x.api_key_env: 'MY-KEY' is not "
	             "an environment variable name (letters, digits and _)");
	config_fails("providers:\n  x:\n    headers: {A: [1]}\n",
	             "flue.yaml:3:18: providers.x.headers.A: expected a string, "
	             "number or true/false, found a list");
	config_fails("providers:\n  x:\n    models:\n      m: {context_windw: 3}\n",
	             "flue.yaml:4:11: unknown key 'providers.x.models.m."
	             "context_windw' in a model (did you mean 'context_window'?)");
	config_fails("providers:\n  x:\n    models:\n      m: {max_tokens: -1}\n",
	             "flue.yaml:4:23: providers.x.models.m.max_tokens: -1 is out "
	             "of range (expected 1 to 10000000)");
	config_fails("providers:\n  x:\n    models:\n      m: 4096\n",
	             "flue.yaml:4:10: providers.x.models.m: expected a mapping "
	             "with context_window and max_tokens, found an integer");
	config_fails("server:\n  port: 70000\n",
	             "flue.yaml:2:9: server.port: 70000 is out of range "
	             "(expected 1 to 65535)");
	config_fails("server:\n  prot: 1\n",
	             "flue.yaml:2:3: unknown key 'server.prot' in server "
	             "settings (did you mean 'port'?)");
	config_fails("server:\n  host:\n",
	             "flue.yaml:2:3: server.host: expected a string, found null");
	/* YAML errors come through with their position too. */
	config_fails("defaults:\n  model: a/b\n  model: c/d\n",
	             "flue.yaml:3:3: duplicate key 'model' (first at line 2)");
}
END_TEST

START_TEST(config_load_missing_file_gives_defaults)
{
	struct flue_config c;
	struct flue_error err = {0};
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/flue.yaml", tmp);
	ck_assert_int_eq(flue_config_load(path, &c, &err), 0);
	ck_assert_ptr_null(c.path);
	ck_assert_int_eq(c.server.port, 3583);
	flue_config_clear(&c);
	put("flue.yaml", "server: {port: 9}\n");
	ck_assert_int_eq(flue_config_load(path, &c, &err), 0);
	ck_assert_str_eq(c.path, path);
	ck_assert_int_eq(c.server.port, 9);
	flue_config_clear(&c);
}
END_TEST

/* ---- project discovery ---------------------------------------------------- */

static void
check_project(const char *start_rel, int search_up, const char *root_rel,
              const char *source_rel)
{
	struct flue_project p;
	struct flue_error err = {0};
	char start[PATH_MAX], want[PATH_MAX * 2], real[PATH_MAX];

	snprintf(start, sizeof(start), "%s/%s", tmp, start_rel);
	ck_assert_msg(flue_project_open(start, search_up, &p, &err) == 0, "%s",
	              err.message);
	ck_assert_ptr_nonnull(realpath(tmp, real));
	snprintf(want, sizeof(want), "%s%s%s", real, *root_rel ? "/" : "",
	         root_rel);
	ck_assert_str_eq(p.root, want);
	snprintf(want, sizeof(want), "%s%s%s", p.root, *source_rel ? "/" : "",
	         source_rel);
	ck_assert_str_eq(p.source, want);
	snprintf(want, sizeof(want), "%s/.flue/state", p.root);
	ck_assert_str_eq(p.state, want);
	flue_project_clear(&p);
}

START_TEST(project_root_found_upward)
{
	put("proj/flue.yaml", "");
	mkdirs("proj/deep/er");
	check_project("proj/deep/er", 1, "proj", "");
	/* Without searching, the start folder is the root. */
	check_project("proj/deep/er", 0, "proj/deep/er", "");
	/* A .flue folder marks a root too. */
	mkdirs("other/.flue/agents");
	mkdirs("other/x");
	check_project("other/x", 1, "other", ".flue");
}
END_TEST

START_TEST(project_source_folder_order)
{
	put("p/flue.yaml", "");
	check_project("p", 1, "p", "");
	mkdirs("p/agents");
	check_project("p", 1, "p", "");
	mkdirs("p/src/agents");
	check_project("p", 1, "p", "src");
	mkdirs("p/.flue/agents");
	check_project("p", 1, "p", ".flue");
	/* A .flue holding only state does not hide agents elsewhere. */
	put("q/flue.yaml", "");
	mkdirs("q/.flue/state");
	mkdirs("q/agents");
	check_project("q", 1, "q", "");
	/* With no agents anywhere, .flue/ wins over src/. */
	put("r/flue.yaml", "");
	mkdirs("r/.flue");
	mkdirs("r/src");
	check_project("r", 1, "r", ".flue");
}
END_TEST

START_TEST(project_bad_config_fails_with_path)
{
	struct flue_project p;
	struct flue_error err = {0};
	char want[PATH_MAX + 128], real[PATH_MAX];

	put("flue.yaml", "defaults:\n  thinking: loud\n");
	ck_assert_int_eq(flue_project_open(tmp, 0, &p, &err), FLUE_EINVAL);
	ck_assert_ptr_nonnull(realpath(tmp, real));
	snprintf(want, sizeof(want), "%s/flue.yaml:2:13: defaults.thinking: "
	         "'loud' is not one of off, minimal, low, medium, high, xhigh "
	         "(did you mean 'low'?)",
	         real);
	ck_assert_str_eq(err.message, want);
	ck_assert_ptr_null(p.root);
}
END_TEST

/* ---- agents ------------------------------------------------------------- */

static const char full_agent[] =
	"---\n"
	"description: Coding agent\n"
	"model: anthropic/claude-sonnet-4.6\n"
	"sandbox:\n"
	"  plugin: vercel\n"
	"  runtime: node24\n"
	"  vcpus: 2\n"
	"  source: \"{{payload.repo}}\"\n"
	"cwd: /work\n"
	"role: coder\n"
	"thinking: low\n"
	"tools: [read, bash]\n"
	"skills: [review]\n"
	"max_turns: \"{{ payload.turns | 20 }}\"\n"
	"result:\n"
	"  type: object\n"
	"  properties: {ok: {type: boolean}}\n"
	"env:\n"
	"  TOKEN: ${FLUE_TEST_TOKEN}\n"
	"  LEVEL: 3\n"
	"compaction: {enabled: true, reserve_tokens: 1000, "
	"keep_recent_tokens: 2000}\n"
	"---\n"
	"# Coder\n\nWork on {{payload.repo}}.\n";

START_TEST(agent_every_field)
{
	struct flue_agent_def a;
	struct flue_agent_settings s;
	struct flue_error err = {0};
	json_object *payload;

	put("agents/coder.md", full_agent);
	ck_assert_msg(flue_agent_load(tmp, "coder", &a, &err) == 0, "%s",
	              err.message);
	/* Templated values wait for the payload. */
	ck_assert_str_eq(a.settings.description, "Coding agent");
	ck_assert_int_eq(a.settings.max_turns, 0);
	ck_assert_str_eq(a.settings.sandbox.plugin, "vercel");
	ck_assert_str_eq(a.file.name, "coder");
	ck_assert_uint_eq(a.file.body_line, 23);
	ck_assert(strncmp(a.file.body, "# Coder\n", 8) == 0);
	setenv("FLUE_TEST_TOKEN", "s3cret", 1);
	payload = json_tokener_parse("{\"repo\": \"https://x/y.git\", "
	                             "\"turns\": 7}");
	ck_assert_msg(flue_agent_resolve(&a, payload, &s, &err) == 0, "%s",
	              err.message);
	ck_assert_str_eq(s.model, "anthropic/claude-sonnet-4.6");
	ck_assert_str_eq(s.sandbox.plugin, "vercel");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	                 s.sandbox.options, "source")), "https://x/y.git");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
	                 s.sandbox.options, "vcpus")), 2);
	ck_assert_str_eq(s.cwd, "/work");
	ck_assert_str_eq(s.role, "coder");
	ck_assert_str_eq(s.thinking, "low");
	ck_assert_int_eq(json_object_array_length(s.tools), 2);
	ck_assert_int_eq(json_object_array_length(s.skills), 1);
	ck_assert_int_eq(s.max_turns, 7);
	ck_assert_ptr_nonnull(s.result);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(s.env,
	                 "TOKEN")), "s3cret");
	ck_assert_ptr_nonnull(s.compaction);
	ck_assert_int_eq(s.compaction_off, 0);
	ck_assert_int_eq(s.no_tools, 0);
	flue_agent_settings_clear(&s);
	/* The default of max_turns applies without that field. */
	json_object_object_del(payload, "turns");
	ck_assert_int_eq(flue_agent_resolve(&a, payload, &s, &err), 0);
	ck_assert_int_eq(s.max_turns, 20);
	flue_agent_settings_clear(&s);
	json_object_put(payload);
	flue_agent_clear(&a);
	unsetenv("FLUE_TEST_TOKEN");
}
END_TEST

START_TEST(agent_false_lists_and_minimal_file)
{
	struct flue_agent_def a;
	struct flue_error err = {0};

	put("agents/quiet.md", "---\ntools: false\nskills: []\n"
	    "compaction: false\n---\nHi\n");
	ck_assert_int_eq(flue_agent_load(tmp, "quiet", &a, &err), 0);
	ck_assert_int_eq(a.settings.no_tools, 1);
	ck_assert_int_eq(a.settings.no_skills, 1);
	ck_assert_int_eq(a.settings.compaction_off, 1);
	flue_agent_clear(&a);
	put("agents/bare.md", "Just instructions.\n");
	ck_assert_int_eq(flue_agent_load(tmp, "bare", &a, &err), 0);
	ck_assert_ptr_null(a.settings.model);
	ck_assert_uint_eq(a.file.body_line, 1);
	flue_agent_clear(&a);
}
END_TEST

/* Load agents/t.md with the given frontmatter and expect the message
 * (after the file's path and a colon). */
static void
agent_fails(const char *frontmatter, const char *want)
{
	struct flue_agent_def a;
	struct flue_error err = {0};
	char text[4096], full[PATH_MAX + 1024], real[PATH_MAX];

	snprintf(text, sizeof(text), "---\n%s---\nbody\n", frontmatter);
	put("agents/t.md", text);
	ck_assert_int_eq(flue_agent_load(tmp, "t", &a, &err), FLUE_EINVAL);
	ck_assert_ptr_nonnull(realpath(tmp, real));
	snprintf(full, sizeof(full), "%s/agents/t.md:%s", tmp, want);
	ck_assert_str_eq(err.message, full);
	flue_agent_clear(&a);
}

START_TEST(agent_errors_name_line_column_field)
{
	agent_fails("descripton: x\n",
	            "2:1: unknown key 'descripton' in agent settings (did you "
	            "mean 'description'?)");
	agent_fails("description: [a]\n",
	            "2:14: description: expected a string, found a list");
	agent_fails("model: gpt\n",
	            "2:8: model: 'gpt' is not provider/model (for example "
	            "anthropic/claude-sonnet-4.6)");
	agent_fails("sandbox: 3\n",
	            "2:10: sandbox: expected a plugin name or a mapping with "
	            "'plugin' and its options, found an integer");
	agent_fails("sandbox:\n  runtime: node24\n",
	            "3:3: sandbox: the mapping needs 'plugin: <name>' (e.g. "
	            "plugin: local)");
	agent_fails("cwd: {a: 1}\n", "2:6: cwd: expected a string, found a "
	            "mapping");
	agent_fails("role: Coder\n",
	            "2:7: role: 'Coder' is not a role name (lower-kebab-case, "
	            "as the file name in roles/)");
	agent_fails("thinking: max\n",
	            "2:11: thinking: 'max' is not one of off, minimal, low, "
	            "medium, high, xhigh");
	agent_fails("tools: bash\n",
	            "2:8: tools: expected a list of names, or false for none, "
	            "found a string");
	agent_fails("tools: [bash, 2]\n",
	            "2:15: tools[1]: expected a string, found an integer");
	agent_fails("skills: true\n",
	            "2:9: skills: expected a list of names, or false for none, "
	            "found true or false");
	agent_fails("max_turns: 0\n",
	            "2:12: max_turns: 0 is out of range (expected 1 to 10000)");
	agent_fails("max_turns: 2.5\n",
	            "2:12: max_turns: expected a whole number, found a number");
	agent_fails("result: [a]\n",
	            "2:9: result: expected a JSON Schema (a mapping such as "
	            "{type: object, properties: ...}), found a list");
	agent_fails("env: [A]\n", "2:6: env: expected a mapping, found a list");
	agent_fails("env:\n  A-B: x\n",
	            "3:8: env.A-B: 'A-B' is not an environment variable name "
	            "(letters, digits and _)");
	agent_fails("env:\n  A: {x: 1}\n",
	            "3:6: env.A: expected a string, number or true/false, found "
	            "a mapping");
	agent_fails("compaction: 3\n",
	            "2:13: compaction: expected true, false or a mapping with "
	            "enabled, reserve_tokens, keep_recent_tokens, context_window; "
	            "found an "
	            "integer");
	agent_fails("compaction: {reserve: 3}\n",
	            "2:14: unknown key 'compaction.reserve' in compaction "
	            "settings (known keys: enabled, reserve_tokens, "
	            "keep_recent_tokens, context_window)");
	agent_fails("compaction: {enabld: true}\n",
	            "2:14: unknown key 'compaction.enabld' in compaction "
	            "settings (did you mean 'enabled'?)");
	agent_fails("compaction: {enabled: yes}\n",
	            "2:23: compaction.enabled: expected true or false, found a "
	            "string");
	agent_fails("model: [\n", "3:1: did not find expected node content while "
	            "parsing a flow node");
}
END_TEST

START_TEST(agent_templated_values_checked_after_substitution)
{
	struct flue_agent_def a;
	struct flue_agent_settings s;
	struct flue_error err = {0};
	json_object *payload;
	char want[PATH_MAX + 256];

	put("agents/t.md", "---\nmodel: \"{{payload.model}}\"\n"
	    "max_turns: \"{{payload.turns}}\"\n---\nDo {{payload.task}}.\n");
	ck_assert_int_eq(flue_agent_load(tmp, "t", &a, &err), 0);
	payload = json_tokener_parse("{\"model\": \"nope\", \"turns\": 3}");
	ck_assert_int_eq(flue_agent_resolve(&a, payload, &s, &err), FLUE_EINVAL);
	snprintf(want, sizeof(want), "%s/agents/t.md:2:8: model: 'nope' is not "
	         "provider/model (for example anthropic/claude-sonnet-4.6)", tmp);
	ck_assert_str_eq(err.message, want);
	json_object_put(payload);
	payload = json_tokener_parse("{\"model\": \"a/b\", \"turns\": \"x\"}");
	ck_assert_int_eq(flue_agent_resolve(&a, payload, &s, &err), FLUE_EINVAL);
	snprintf(want, sizeof(want), "%s/agents/t.md:3:12: max_turns: expected "
	         "a whole number, found a string", tmp);
	ck_assert_str_eq(err.message, want);
	json_object_put(payload);
	/* A missing reference names itself. */
	payload = json_tokener_parse("{\"turns\": 3}");
	ck_assert_int_eq(flue_agent_resolve(&a, payload, &s, &err), FLUE_EINVAL);
	ck_assert_msg(strstr(err.message, "agents/t.md:2:") != NULL &&
	              strstr(err.message, "model") != NULL, "%s", err.message);
	json_object_put(payload);
	flue_agent_clear(&a);
}
END_TEST

START_TEST(agent_names_and_listing)
{
	struct flue_agent_def a;
	struct flue_error err = {0};
	char **names = NULL, want[PATH_MAX + 256];

	ck_assert(flue_agent_name_valid("coder"));
	ck_assert(flue_agent_name_valid("code-review-2"));
	ck_assert(!flue_agent_name_valid("Coder"));
	ck_assert(!flue_agent_name_valid("code_review"));
	ck_assert(!flue_agent_name_valid("-x"));
	ck_assert(!flue_agent_name_valid("x-"));
	ck_assert(!flue_agent_name_valid("a--b"));
	ck_assert(!flue_agent_name_valid(""));
	ck_assert(!flue_agent_name_valid("../etc"));
	ck_assert(flue_agent_name_valid(
	          "a234567890123456789012345678901234567890123456789012345678901234"
	          ) == 1);
	ck_assert(!flue_agent_name_valid(
	          "a2345678901234567890123456789012345678901234567890123456789012345"));
	put("agents/zeta.md", "z\n");
	put("agents/alpha.md", "a\n");
	put("agents/Bad_Name.md", "b\n");
	put("agents/notes.txt", "n\n");
	ck_assert_int_eq(flue_agent_list(tmp, &names, &err), 0);
	ck_assert_str_eq(names[0], "alpha");
	ck_assert_str_eq(names[1], "zeta");
	ck_assert_ptr_null(names[2]);
	flue_strv_free(names);
	ck_assert_int_eq(flue_agent_load(tmp, "../x", &a, &err), FLUE_EINVAL);
	ck_assert_str_eq(err.message, "'../x' is not a valid agent name: use "
	                 "lower-kebab-case (a-z, 0-9 and single hyphens, at most "
	                 "64 characters), the file name without .md");
	flue_agent_clear(&a);
	ck_assert_int_eq(flue_agent_load(tmp, "alpah", &a, &err), FLUE_ENOENT);
	snprintf(want, sizeof(want), "no agent 'alpah': %s/agents/alpah.md does "
	         "not exist (agents in %s/agents: alpha, zeta); did you mean "
	         "'alpha'?", tmp, tmp);
	ck_assert_str_eq(err.message, want);
	flue_agent_clear(&a);
}
END_TEST

/* ---- roles and precedence ------------------------------------------------ */

START_TEST(role_fields_and_errors)
{
	struct flue_role r;
	struct flue_error err = {0};
	char want[PATH_MAX + 256];

	put("roles/reviewer.md", "---\ndescription: Careful\n"
	    "model: openai/gpt-5\nthinking: high\n---\nReview closely.\n");
	ck_assert_int_eq(flue_role_load(tmp, "reviewer", &r, &err), 0);
	ck_assert_str_eq(r.description, "Careful");
	ck_assert_str_eq(r.model, "openai/gpt-5");
	ck_assert_str_eq(r.thinking, "high");
	ck_assert(strncmp(r.file.body, "Review closely.", 15) == 0);
	flue_role_clear(&r);
	put("roles/bad.md", "---\nthinkingLevel: high\n---\nx\n");
	ck_assert_int_eq(flue_role_load(tmp, "bad", &r, &err), FLUE_EINVAL);
	snprintf(want, sizeof(want), "%s/roles/bad.md:2:1: unknown key "
	         "'thinkingLevel' in role settings (known keys: description, "
	         "model, thinking)", tmp);
	ck_assert_str_eq(err.message, want);
	flue_role_clear(&r);
	put("roles/bad.md", "---\nmodel: gpt5\n---\nx\n");
	ck_assert_int_eq(flue_role_load(tmp, "bad", &r, &err), FLUE_EINVAL);
	snprintf(want, sizeof(want), "%s/roles/bad.md:2:8: model: 'gpt5' is not "
	         "provider/model (for example anthropic/claude-sonnet-4.6)", tmp);
	ck_assert_str_eq(err.message, want);
	flue_role_clear(&r);
	ck_assert_int_eq(flue_role_load(tmp, "nobody", &r, &err), FLUE_ENOENT);
	snprintf(want, sizeof(want), "no role 'nobody': %s/roles/nobody.md does "
	         "not exist (roles in %s/roles: bad, reviewer)", tmp, tmp);
	ck_assert_str_eq(err.message, want);
	flue_role_clear(&r);
}
END_TEST

START_TEST(precedence_call_session_agent_defaults)
{
	struct flue_agent_settings agent = {0};
	struct flue_config config = {0};
	struct flue_role role = {0};
	struct flue_call_choice c;

	agent.role = "agent-role";
	config.defaults.role = "default-role";
	ck_assert_str_eq(flue_call_role("call", "session", &agent, &config),
	                 "call");
	ck_assert_str_eq(flue_call_role(NULL, "session", &agent, &config),
	                 "session");
	ck_assert_str_eq(flue_call_role(NULL, NULL, &agent, &config),
	                 "agent-role");
	agent.role = NULL;
	ck_assert_str_eq(flue_call_role(NULL, NULL, &agent, &config),
	                 "default-role");
	ck_assert_ptr_null(flue_call_role(NULL, NULL, NULL, NULL));

	/* model: call > role > agent > defaults; thinking likewise, then
	 * medium. */
	agent.model = "a/agent";
	agent.thinking = "low";
	config.defaults.model = "d/default";
	config.defaults.thinking = "minimal";
	role.model = "r/role";
	role.thinking = "high";
	flue_call_choose(&c, "c/call", "xhigh", &agent, &role, &config);
	ck_assert_str_eq(c.model, "c/call");
	ck_assert_str_eq(c.thinking, "xhigh");
	flue_call_choose(&c, NULL, NULL, &agent, &role, &config);
	ck_assert_str_eq(c.model, "r/role");
	ck_assert_str_eq(c.thinking, "high");
	flue_call_choose(&c, NULL, NULL, &agent, NULL, &config);
	ck_assert_str_eq(c.model, "a/agent");
	ck_assert_str_eq(c.thinking, "low");
	agent.model = NULL;
	agent.thinking = NULL;
	flue_call_choose(&c, NULL, NULL, &agent, NULL, &config);
	ck_assert_str_eq(c.model, "d/default");
	ck_assert_str_eq(c.thinking, "minimal");
	flue_call_choose(&c, NULL, NULL, NULL, NULL, NULL);
	ck_assert_ptr_null(c.model);
	ck_assert_str_eq(c.thinking, "medium");
}
END_TEST

/* ---- tools and suggestions ------------------------------------------------ */

START_TEST(tools_selection)
{
	struct flue_error err = {0};
	json_object *out = NULL, *names;
	size_t n;

	flue_core_tools(&n);
	ck_assert_uint_eq(n, 8);
	ck_assert_int_eq(flue_tools_select(NULL, NULL, "a.md", &out, &err), 0);
	ck_assert_int_eq(json_object_array_length(out), 8);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	                 json_object_array_get_idx(out, 6), "name")), "task");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	                 json_object_array_get_idx(out, 7), "name")),
	                 "activate_skill");
	for (size_t i = 0; i < 8; i++) {
		json_object *t = json_object_array_get_idx(out, i);
		json_object *params = json_object_object_get(t, "parameters");

		ck_assert_str_eq(json_object_get_string(json_object_object_get(
		                 params, "type")), "object");
		ck_assert_ptr_nonnull(json_object_object_get(params, "required"));
	}
	json_object_put(out);
	names = json_tokener_parse("[\"bash\", \"read\"]");
	ck_assert_int_eq(flue_tools_select(names, NULL, "a.md", &out, &err), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
	                 json_object_array_get_idx(out, 0), "name")), "bash");
	json_object_put(out);
	json_object_put(names);
	names = json_tokener_parse("[\"bsh\"]");
	ck_assert_int_eq(flue_tools_select(names, NULL, "a.md", &out, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message, "a.md: tools[0]: unknown tool 'bsh' (did "
	                 "you mean 'bash'?); the tools are read, write, edit, "
	                 "bash, grep, glob, task, activate_skill");
	json_object_put(names);
	names = json_tokener_parse("[\"read\", \"bash\", \"read\"]");
	ck_assert_int_eq(flue_tools_select(names, NULL, "a.md", &out, &err),
	                 FLUE_EINVAL);
	ck_assert_str_eq(err.message, "a.md: tools[2]: 'read' is listed twice");
	json_object_put(names);
}
END_TEST

START_TEST(suggestions)
{
	static const char *const words[] = {"model", "description", "max_turns",
	                                    NULL};

	ck_assert_str_eq(flue_suggest("modle", words, 0), "model");
	ck_assert_str_eq(flue_suggest("max_turn", words, 0), "max_turns");
	ck_assert_ptr_null(flue_suggest("zzz", words, 0));
	ck_assert_ptr_null(flue_suggest("model", words, 0));
	ck_assert_uint_eq(flue_edit_distance("kitten", "sitting"), 3);
}
END_TEST

static Suite *
project_suite(void)
{
	Suite *s = suite_create("project");
	TCase *config = tcase_create("config");
	TCase *project = tcase_create("project");
	TCase *agent = tcase_create("agent");
	TCase *other = tcase_create("other");

	tcase_add_checked_fixture(config, setup_tmp, teardown_tmp);
	tcase_add_test(config, config_every_field);
	tcase_add_test(config, config_defaults_when_empty);
	tcase_add_test(config, config_errors_name_file_line_column_field);
	tcase_add_test(config, config_load_missing_file_gives_defaults);
	suite_add_tcase(s, config);
	tcase_add_checked_fixture(project, setup_tmp, teardown_tmp);
	tcase_add_test(project, project_root_found_upward);
	tcase_add_test(project, project_source_folder_order);
	tcase_add_test(project, project_bad_config_fails_with_path);
	suite_add_tcase(s, project);
	tcase_add_checked_fixture(agent, setup_tmp, teardown_tmp);
	tcase_add_test(agent, agent_every_field);
	tcase_add_test(agent, agent_false_lists_and_minimal_file);
	tcase_add_test(agent, agent_errors_name_line_column_field);
	tcase_add_test(agent, agent_templated_values_checked_after_substitution);
	tcase_add_test(agent, agent_names_and_listing);
	tcase_add_test(agent, role_fields_and_errors);
	suite_add_tcase(s, agent);
	tcase_add_test(other, precedence_call_session_agent_defaults);
	tcase_add_test(other, tools_selection);
	tcase_add_test(other, suggestions);
	suite_add_tcase(s, other);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(project_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
