/* The options shared by commands that open a harness. */
#include "config.h"

#include <stdlib.h>

#include "cli.h"

static int
append(const char ***list, size_t *n, const char *value)
{
	const char **grown = realloc(*list, (*n + 2) * sizeof(*grown));

	if (grown == NULL)
		return -1;
	grown[(*n)++] = value;
	grown[*n] = NULL;
	*list = grown;
	return 1;
}

int
cli_harness_option(struct cli_harness_args *args, int opt, const char *value)
{
	switch (opt) {
	case 1000:
		args->project_dir = value;
		return 1;
	case 1001:
		return append(&args->plugins, &args->n_plugins, value);
	case 1002:
		return append(&args->plugin_path, &args->n_plugin_path, value);
	default:
		return 0;
	}
}

int
cli_harness_open(const struct cli_harness_args *args, uint32_t flags,
                 flue_harness **out)
{
	struct flue_harness_options opts = {
		.size = sizeof(opts),
		.flags = flags,
		.project_dir = args->project_dir,
		.plugins = args->plugins,
		.plugin_path = args->plugin_path,
		.source_dir = args->source_dir,
	};
	struct flue_error err = {0};

	if (flue_harness_open(out, &opts, &err) != 0) {
		cli_error("%s", err.message);
		return CLI_FAILED;
	}
	return CLI_OK;
}

void
cli_harness_args_free(struct cli_harness_args *args)
{
	free(args->plugins);
	free(args->plugin_path);
	args->plugins = NULL;
	args->plugin_path = NULL;
}
