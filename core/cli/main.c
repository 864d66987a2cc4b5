/* flue: the command line.  Dispatches to one function per command. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "suggest.h"

static const struct cli_command commands[] = {
	{"init", "create a new flue project",
	 cmd_init, cmd_init_help},
	{"run", "run an agent on a task, in a session",
	 cmd_run, cmd_run_help},
	{"shell", "run a command in a session's sandbox, recorded for the "
	 "model", cmd_shell, cmd_shell_help},
	{"serve", "serve the agents over HTTP (server-sent events, run "
	 "records)", cmd_serve, cmd_serve_help},
	{"dev", "serve over HTTP, reloading project files as they change",
	 cmd_dev, cmd_dev_help},
	{"add", "list, apply or print blueprints (integrations and "
	 "connectors)", cmd_add, cmd_add_help},
	{"update", "bring installed blueprints to their newest version",
	 cmd_update, cmd_update_help},
	{"build", "compile the project's plugins (plugins/*.c) into .so files",
	 cmd_build, cmd_build_help},
	{"connect", "a conversation with an agent in the terminal (here or "
	 "with a server)", cmd_connect, cmd_connect_help},
	{"logs", "print a session's history (with its tasks) or a run's "
	 "events", cmd_logs, cmd_logs_help},
	{"compact", "summarise a session's older turns now",
	 cmd_compact, cmd_compact_help},
	{"render", "print the system prompt and tools an agent's model gets",
	 cmd_render, cmd_render_help},
	{"plugins", "list the plugins found, loaded and refused",
	 cmd_plugins, cmd_plugins_help},
	{"sandbox", "run a command in a sandbox workspace",
	 cmd_sandbox, cmd_sandbox_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("flue: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_usage(const char *command, const char *fmt, ...)
{
	va_list ap;

	fputs("flue: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'flue %s%s--help' for usage.\n",
	        command ? command : "", command ? " " : "");
	return CLI_USAGE;
}

int
cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static void
main_help(void)
{
	printf("Usage: flue [--help] [--version] <command> [<args>]\n\n"
	       "flue runs agents configured in Markdown, with plugins for "
	       "sandboxes and\nmodel providers.\n\nCommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\nRun 'flue <command> --help' for a command's options.\n\n"
	       "Environment:\n"
	       "  FLUE_PLUGIN_PATH  folders searched for plugins (':'-separated),\n"
	       "                    after plugin_path from flue.yaml\n"
	       "  FLUE_LOG          log level: error, warn (default), info, debug\n"
	       "  FLUE_DATA_DIR     where the installed skills and blueprints are\n"
	       "                    (default: " FLUE_DATA_DIR ")\n\n"
	       "Exit status:\n"
	       "  0    success\n"
	       "  1    the command failed\n"
	       "  2    usage error (unknown command or option, bad argument)\n"
	       "  130  interrupted (Ctrl-C)\n");
}

static int
unknown_command(const char *name)
{
	const char *names[N_COMMANDS + 1] = {0};
	const char *closest;

	for (size_t i = 0; i < N_COMMANDS; i++)
		names[i] = commands[i].name;
	closest = flue_suggest(name, names, 0);
	if (closest != NULL)
		return cli_usage(NULL, "unknown command '%s'; did you mean '%s'?",
		                 name, closest);
	return cli_usage(NULL, "unknown command '%s'", name);
}

int
main(int argc, char **argv)
{
	const char *name;

	if (argc < 2) {
		main_help();
		return CLI_USAGE;
	}
	name = argv[1];
	if (cli_is_help(name) || strcmp(name, "help") == 0) {
		if (argc > 2 && strcmp(name, "help") == 0)
			for (size_t i = 0; i < N_COMMANDS; i++)
				if (strcmp(argv[2], commands[i].name) == 0) {
					commands[i].help();
					return CLI_OK;
				}
		main_help();
		return CLI_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("flue %s (plugin ABI %d.%d)\n", flue_version(),
		       FLUE_PLUGIN_ABI_MAJOR, FLUE_PLUGIN_ABI_MINOR);
		return CLI_OK;
	}
	if (name[0] == '-')
		return cli_usage(NULL, "unknown option '%s'", name);
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0) {
			if (argc > 2 && cli_is_help(argv[2])) {
				commands[i].help();
				return CLI_OK;
			}
			return commands[i].run(argc - 1, argv + 1);
		}
	return unknown_command(name);
}
