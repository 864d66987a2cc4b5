/* flue plugins: what the loader found where, what loaded, what was
 * refused and why. */
#include "config.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

void
cmd_plugins_help(void)
{
	printf("Usage: flue plugins [options]\n\n"
	       "Lists the plugin search path and every plugin found in it: "
	       "kind, name,\nversion, plugin ABI, the file it came from, and "
	       "why a plugin was refused.\nThe exit status is 1 when a "
	       "requested plugin was refused.\n\nOptions:\n"
	       CLI_HARNESS_HELP
	       "  -h, --help          show this help\n");
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
print_search_path(const flue_harness *harness)
{
	const char *const *dirs = flue_harness_search_path(harness);

	printf("Search path:\n");
	for (size_t i = 0; dirs[i] != NULL; i++)
		printf("  %zu. %s%s\n", i + 1, dirs[i],
		       is_dir(dirs[i]) ? "" : "  (missing)");
}

/* What to call a plugin that never said its name: its file's stem. */
static const char *
display_name(const struct flue_plugin_report *r, char *buf, size_t size)
{
	const char *base, *dot;

	if (r->name != NULL)
		return r->name;
	if (r->path == NULL)
		return r->requested ? r->requested : "?";
	base = strrchr(r->path, '/');
	base = base ? base + 1 : r->path;
	dot = strrchr(base, '.');
	snprintf(buf, size, "%.*s", (int)(dot && dot != base ? dot - base :
	                                  (ptrdiff_t)strlen(base)), base);
	return buf;
}

static int
print_reports(const flue_harness *harness)
{
	size_t n = flue_harness_plugin_count(harness);
	int failed = 0;

	printf("\nPlugins:\n");
	if (n == 0)
		printf("  none found\n");
	for (size_t i = 0; i < n; i++) {
		const struct flue_plugin_report *r =
			flue_harness_plugin_report(harness, i);
		char abi[32] = "-", stem[80];

		if (r->abi_major || r->abi_minor)
			snprintf(abi, sizeof(abi), "%u.%u", r->abi_major,
			         r->abi_minor);
		printf("  %-16s %-8s %-8s ABI %-5s %s\n",
		       display_name(r, stem, sizeof(stem)),
		       r->kind ? r->kind : "-", r->version ? r->version : "-",
		       abi, r->loaded ? "loaded" : "refused");
		if (r->path != NULL)
			printf("      file: %s (%s)\n", r->path,
			       r->origin ? r->origin : "?");
		if (r->loaded && r->description != NULL)
			printf("      %s\n", r->description);
		if (!r->loaded)
			printf("      refused: %s\n",
			       r->refusal ? r->refusal : "unknown reason");
		if (!r->loaded && r->requested != NULL)
			failed = 1;
	}
	return failed;
}

int
cmd_plugins(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_HARNESS_LONG_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_harness_args args = {0};
	flue_harness *harness;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			cmd_plugins_help();
			cli_harness_args_free(&args);
			return CLI_OK;
		}
		if (cli_harness_option(&args, opt, optarg) == 0) {
			cli_harness_args_free(&args);
			return cli_usage("plugins", "unknown or incomplete option "
			                 "'%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		cli_harness_args_free(&args);
		return cli_usage("plugins", "unexpected argument '%s'",
		                 argv[optind]);
	}
	rc = cli_harness_open(&args, FLUE_HARNESS_PROBE_ALL, &harness);
	cli_harness_args_free(&args);
	if (rc != CLI_OK)
		return rc;
	print_search_path(harness);
	rc = print_reports(harness) ? CLI_FAILED : CLI_OK;
	flue_harness_close(harness);
	return rc;
}
