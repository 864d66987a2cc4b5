/* The flue command line: one function per command. */
#ifndef FLUE_CLI_H
#define FLUE_CLI_H

#include <stdio.h>

#include <flue/flue.h>

/* Exit codes, documented in `flue --help`. */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1,       /* the command ran and failed */
	CLI_USAGE = 2,        /* bad command line */
	CLI_INTERRUPTED = 130 /* Ctrl-C */
};

struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*help)(void);
};

int cmd_plugins(int argc, char **argv);
void cmd_plugins_help(void);
int cmd_sandbox(int argc, char **argv);
void cmd_sandbox_help(void);
int cmd_init(int argc, char **argv);
void cmd_init_help(void);
int cmd_render(int argc, char **argv);
void cmd_render_help(void);

int cmd_run(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_add(int argc, char **argv);
int cmd_update(int argc, char **argv);
void cmd_update_help(void);
int cmd_build(int argc, char **argv);
void cmd_build_help(void);
void cmd_add_help(void);
int cmd_connect(int argc, char **argv);
void cmd_connect_help(void);
int cmd_logs(int argc, char **argv);
void cmd_logs_help(void);
int cmd_serve(int argc, char **argv);
void cmd_serve_help(void);
int cmd_dev(int argc, char **argv);
void cmd_dev_help(void);
void cmd_compact_help(void);
void cmd_shell_help(void);
void cmd_run_help(void);

/* --payload: the JSON itself, or @FILE / @- for a file or stdin; *out
 * [caller-owned].  Prints the problem and returns CLI_FAILED. */
int cli_load_payload(const char *arg, char **out);
/* Load a dotenv file into the environment (KEY=value lines, optional
 * "export ", # comments, '...' literal and "..." with \n \" \\ escapes).
 * override 0 keeps variables already set.  A bad line is reported as
 * FILE:LINE and fails the load; a missing file fails unless optional. */
int cli_load_env_file(const char *path, int override, int optional);
/* "SOURCE_DATE_EPOCH" as seconds, or 0; -1 (reported) when malformed. */
int64_t cli_source_date(const char *command);
/* All of stream, NUL-terminated ([caller-owned]); *len (may be NULL)
 * its length.  NULL when out of memory. */
char *cli_read_stream(FILE *stream, size_t *len);
/* All of the file at path, the same way; NULL when it cannot be read. */
char *cli_read_file(const char *path, size_t *len);
/* mkdir -p dir: 0, or -1 with errno set. */
int cli_mkdir_p(const char *dir);
/* --env FILE: add path ([borrowed], argv's) to *files. */
int cli_add_env_file(char ***files, size_t *n, const char *path);
/* Environment files: each of files overrides the environment; the
 * project's .env only fills in what is not set. */
int cli_load_envs(flue_harness *harness, char **files, size_t n);

/* Print "flue: <message>" to stderr. */
void cli_error(const char *fmt, ...) FLUE_PRINTF(1, 2);
/* A usage error: prints it with a pointer to --help and returns 2. */
int cli_usage(const char *command, const char *fmt, ...) FLUE_PRINTF(2, 3);
/* True if arg is -h or --help. */
int cli_is_help(const char *arg);

#endif

/* Options every command that opens a harness accepts. */
struct cli_harness_args {
	const char *project_dir;     /* --project */
	const char **plugins;        /* --plugin, NULL-terminated, owned array */
	size_t n_plugins;
	const char **plugin_path;    /* --plugin-path, NULL-terminated, owned */
	size_t n_plugin_path;
	const char *source_dir;      /* set by flue dev, not an option */
};

/* getopt_long entries for the options above (values 1000+). */
#define CLI_HARNESS_LONG_OPTIONS \
	{"project", required_argument, NULL, 1000}, \
	{"plugin", required_argument, NULL, 1001}, \
	{"plugin-path", required_argument, NULL, 1002}
#define CLI_HARNESS_HELP \
	"  --project DIR       the project folder (default: the current one)\n" \
	"  --plugin NAME|PATH  load this plugin (repeatable; default: local)\n" \
	"  --plugin-path DIR   search DIR for plugins first (repeatable)\n"

/* Handle option opt if it is one of the harness options: 1 if handled,
 * 0 if not, -1 on allocation failure. */
int cli_harness_option(struct cli_harness_args *args, int opt,
                       const char *value);
int cli_harness_open(const struct cli_harness_args *args, uint32_t flags,
                     flue_harness **out);
void cli_harness_args_free(struct cli_harness_args *args);
