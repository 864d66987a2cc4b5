/* flue render: print exactly what an agent's model would get -- the
 * system prompt and the tool list -- without asking any model. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"

void
cmd_render_help(void)
{
	printf("Usage: flue render [options] AGENT\n\n"
	       "Prints the system prompt and the tools that AGENT's model "
	       "would get: the\nagent's instructions, AGENTS.md and CLAUDE.md "
	       "from the sandbox's working\ndirectory, the skills found there "
	       "and in the project, the environment and\nthe role.  The "
	       "sandbox is opened as for a run (for a remote sandbox that\n"
	       "means booting it).\n\n"
	       "Options:\n"
	       "  --role NAME          apply this role (default: the agent's)\n"
	       "  --payload JSON|@FILE the request payload, for {{payload...}} "
	       "(@- reads stdin)\n"
	       "  --cwd DIR            the working directory in the sandbox\n"
	       "  --json               print the request body a provider "
	       "plugin receives\n"
	       "  --system             print only the system prompt, byte for "
	       "byte\n"
	       "  --tools              print only the tool declarations (JSON)\n"
	       "  --stats              also print sizes to stderr\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Environment:\n"
	       "  SOURCE_DATE_EPOCH    the date shown in the prompt (seconds "
	       "since 1970)\n");
}

static void
print_warning(void *payload, const char *message)
{
	(void)payload;
	fprintf(stderr, "flue: warning: %s\n", message);
}

/* JSON text pretty-printed for people. */
static void
print_pretty(const char *text)
{
	json_object *value = json_tokener_parse(text);

	printf("%s\n", json_object_to_json_string_ext(value,
	       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(value);
}

/* The tools as a short human-readable list: name(args) and the
 * description; required arguments are marked with '*'. */
static void
print_tools(const char *tools_json)
{
	json_object *tools = json_tokener_parse(tools_json);
	size_t n = json_object_array_length(tools);

	printf("\n======== tools (%zu) ========\n", n);
	for (size_t i = 0; i < n; i++) {
		json_object *tool = json_object_array_get_idx(tools, i);
		json_object *params = json_object_object_get(tool, "parameters");
		json_object *props = json_object_object_get(params, "properties");
		json_object *req = json_object_object_get(params, "required");
		int first = 1;

		printf("%s(", json_object_get_string(json_object_object_get(tool,
		       "name")));
		json_object_object_foreach(props, key, value) {
			int required = 0;

			(void)value;
			for (size_t j = 0; j < json_object_array_length(req); j++)
				if (strcmp(json_object_get_string(
				           json_object_array_get_idx(req, j)), key) == 0)
					required = 1;
			printf("%s%s%s", first ? "" : ", ", key, required ? "*" : "");
			first = 0;
		}
		printf(")\n  %s\n", json_object_get_string(
		       json_object_object_get(tool, "description")));
	}
	json_object_put(tools);
}

int
cmd_render(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"role", required_argument, NULL, 'r'},
		{"payload", required_argument, NULL, 'p'},
		{"cwd", required_argument, NULL, 'C'},
		{"json", no_argument, NULL, 'j'},
		{"system", no_argument, NULL, 's'},
		{"tools", no_argument, NULL, 't'},
		{"stats", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_render_options opts = {.size = sizeof(opts)};
	struct flue_rendered rendered = {0};
	struct flue_error err = {0};
	flue_harness *harness = NULL;
	const char *payload_arg = NULL;
	char *payload = NULL;
	int opt, rc = CLI_OK, json = 0, system_only = 0, tools_only = 0;
	int stats = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_render_help(); goto out;
		case 'r': opts.role = optarg; break;
		case 'p': payload_arg = optarg; break;
		case 'C': opts.cwd = optarg; break;
		case 'j': json = 1; break;
		case 's': system_only = 1; break;
		case 't': tools_only = 1; break;
		case 'S': stats = 1; break;
		default:
			rc = cli_usage("render", "unknown option '%s'",
			               argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc - 1) {
		rc = cli_usage("render", optind >= argc ? "name the agent to render" :
		               "one agent at a time ('%s' is extra)",
		               optind < argc - 1 ? argv[optind + 1] : "");
		goto out;
	}
	if (json + system_only + tools_only > 1) {
		rc = cli_usage("render", "--json, --system and --tools exclude "
		               "each other");
		goto out;
	}
	opts.agent = argv[optind];
	if (payload_arg != NULL && (rc = cli_load_payload(payload_arg, &payload)))
		goto out;
	opts.payload_json = payload;
	if ((opts.now = cli_source_date("render")) < 0) {
		rc = CLI_USAGE;
		goto out;
	}
	opts.warn = print_warning;
	rc = cli_harness_open(&hargs, 0, &harness);
	if (rc != CLI_OK)
		goto out;
	if (flue_render(harness, &opts, &rendered, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	if (json)
		print_pretty(rendered.request_json);
	else if (tools_only)
		print_pretty(rendered.tools_json);
	else {
		fwrite(rendered.system_prompt, 1, rendered.system_prompt_len,
		       stdout);
		if (!system_only)
			print_tools(rendered.tools_json);
	}
	if (stats)
		fprintf(stderr, "system prompt: %zu bytes (%zu of them flue's own "
		        "text); tools: %zu bytes of JSON (compact); model: %s; thinking: %s; "
		        "role: %s; sandbox: %s; cwd: %s; skills: %zu; context "
		        "files: %d\n", rendered.system_prompt_len,
		        rendered.fixed_bytes, strlen(rendered.tools_json),
		        rendered.model ? rendered.model : "(none)",
		        rendered.thinking, rendered.role ? rendered.role : "(none)",
		        rendered.sandbox, rendered.cwd, rendered.skills,
		        rendered.context_files);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		rc = CLI_FAILED;
	}
out:
	flue_rendered_free(&rendered);
	flue_harness_close(harness);
	free(payload);
	cli_harness_args_free(&hargs);
	return rc;
}
