/* flue sandbox exec: run one shell command in a sandbox workspace, with
 * its output streamed as it comes.  A smoke test for any sandbox plugin,
 * and a handy way to poke at a remote workspace.
 *
 * flue sandbox list|stop|snapshot|rm: manage what a remote sandbox
 * plugin (vercel) keeps: sandboxes left running and setup snapshots. */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void
cmd_sandbox_help(void)
{
	printf("Usage: flue sandbox exec [options] [--] COMMAND...\n"
	       "       flue sandbox list [--sandbox NAME] [--env FILE]\n"
	       "       flue sandbox stop|snapshot|rm ID... [--sandbox NAME] "
	       "[--env FILE]\n\n"
	       "list shows the sandboxes flue made and the setup snapshots it "
	       "keeps (for\n`snapshot: reuse`); stop stops a sandbox's VM, "
	       "snapshot takes a snapshot\nof it (which stops it too) and "
	       "prints its id, rm deletes a sandbox or a\nsnapshot (snap_...). "
	       "These need a remote sandbox plugin; --sandbox\ndefaults to "
	       "vercel, and --env FILE loads its credentials.\n\n"
	       "Opens a workspace through a sandbox plugin and runs COMMAND "
	       "there with\n`bash -c`, streaming its output.  The exit status "
	       "is the command's (124\nwhen the timeout killed it).\n\n"
	       "Options:\n"
	       "  --sandbox NAME      the sandbox plugin (default: local)\n"
	       "  --options JSON      the workspace options, e.g. "
	       "'{\"cwd\": \"/tmp\"}'\n"
	       "  --cwd DIR           the command's folder, relative to the "
	       "workspace\n"
	       "  --timeout MS        kill the command after MS milliseconds\n"
	       "  --env NAME=VALUE    set a variable for the command "
	       "(repeatable)\n"
	       "  --session ID        the session id the workspace is opened "
	       "for\n"
	       CLI_HARNESS_HELP
	       "  -h, --help          show this help\n");
}

static struct flue_cancel *interrupt_cancel;

static void
on_interrupt(int sig)
{
	(void)sig;
	flue_cancel_trigger(interrupt_cancel);
}

static void
forward_output(void *payload, int stream, const char *chunk, size_t len)
{
	(void)payload;
	fwrite(chunk, 1, len, stream == 2 ? stderr : stdout);
	fflush(stream == 2 ? stderr : stdout);
}

struct exec_args {
	const char *sandbox;
	const char *options;
	const char *session;
	const char *cwd;
	uint64_t timeout_ms;
	const char **env;     /* owned array, NULL-terminated */
	size_t n_env;
	char *command;        /* owned */
};

static char *
join_words(int argc, char **argv)
{
	size_t len = 1;
	char *out;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	out = calloc(1, len);
	if (out == NULL)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, argv[i]);
	}
	return out;
}

static int
parse_timeout(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(text, &end, 10);

	if (*text == '\0' || *end != '\0' || text[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int
add_env(struct exec_args *a, const char *value)
{
	const char **grown;

	if (strchr(value, '=') == NULL || value[0] == '=')
		return -1;
	grown = realloc(a->env, (a->n_env + 2) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	grown[a->n_env++] = value;
	grown[a->n_env] = NULL;
	a->env = grown;
	return 0;
}

static int
run_exec(const struct cli_harness_args *hargs, const struct exec_args *a)
{
	struct flue_exec_request req = {0};
	struct flue_exec_result res = {0};
	struct flue_error err = {0};
	struct sigaction sa = {0}, old_int, old_term;
	flue_workspace *ws = NULL;
	flue_harness *harness;
	int rc;

	struct cli_harness_args only_sandbox = *hargs;
	const char *sandbox_list[] = {a->sandbox ? a->sandbox : "local", NULL};

	/* Without --plugin, load just the sandbox asked for. */
	if (hargs->n_plugins == 0)
		only_sandbox.plugins = sandbox_list;
	if ((rc = cli_harness_open(&only_sandbox, 0, &harness)) != CLI_OK)
		return rc;
	if (flue_cancel_new(&interrupt_cancel, &err) != 0 ||
	    flue_workspace_open(&ws, harness, a->sandbox, a->session,
	                        a->options, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	req.command = a->command;
	req.cwd = a->cwd;
	req.env = a->env;
	req.timeout_ms = a->timeout_ms;
	req.cancel = interrupt_cancel;
	req.on_output = forward_output;
	rc = flue_workspace_exec(ws, &req, &res, &err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (rc == FLUE_ECANCELED) {
		cli_error("interrupted; the command was stopped");
		rc = CLI_INTERRUPTED;
	} else if (rc != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
	} else {
		/* Output already went out through on_output. */
		if (res.timed_out)
			fprintf(stderr, "flue: command timed out after %llu ms\n",
			        (unsigned long long)a->timeout_ms);
		rc = res.exit_code;
	}
	flue_exec_result_free(&res);
out:
	if (ws != NULL && flue_workspace_close(ws, &err) != 0)
		cli_error("closing the workspace: %s", err.message);
	flue_harness_close(harness);
	flue_cancel_free(interrupt_cancel);
	interrupt_cancel = NULL;
	return rc;
}

static int
print_entry(void *payload, const struct flue_sandbox_entry *e)
{
	char when[32] = "";
	int *printed = payload;

	if ((*printed)++ == 0)
		printf("%-9s %-40s %-12s %-16s %s\n", "KIND", "ID", "STATUS",
		       "CREATED", "DETAIL");
	if (e->created_ms > 0) {
		time_t t = (time_t)(e->created_ms / 1000);
		struct tm tm;

		if (localtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	}
	printf("%-9s %-40s %-12s %-16s %s\n", e->kind, e->id,
	       e->status ? e->status : "-", when[0] ? when : "-",
	       e->detail ? e->detail : "");
	return 0;
}

static int
cmd_sandbox_manage(const char *sub, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_HARNESS_LONG_OPTIONS,
		{"sandbox", required_argument, NULL, 's'},
		{"env", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_harness_args hargs = {0};
	struct flue_error err = {0};
	flue_harness *harness = NULL;
	const char *sandbox = "vercel";
	const char *sandbox_list[2] = {NULL, NULL};
	char **env_files = NULL;
	size_t n_env = 0;
	int opt, rc = CLI_USAGE, listing = strcmp(sub, "list") == 0;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled != 0)
			continue;
		switch (opt) {
		case 'h': cmd_sandbox_help(); rc = CLI_OK; goto out;
		case 's': sandbox = optarg; break;
		case 'e':
			if ((rc = cli_add_env_file(&env_files, &n_env, optarg)) !=
			    CLI_OK)
				goto out;
			break;
		default:
			rc = cli_usage("sandbox", "unknown or incomplete option "
			               "'%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (listing && optind < argc) {
		rc = cli_usage("sandbox", "list takes no arguments");
		goto out;
	}
	if (!listing && optind >= argc) {
		rc = cli_usage("sandbox", "%s needs the id of a sandbox or "
		               "snapshot (see `flue sandbox list`)", sub);
		goto out;
	}
	sandbox_list[0] = sandbox;
	if (hargs.n_plugins == 0)
		hargs.plugins = sandbox_list;
	if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK)
		goto out;
	if (hargs.plugins == sandbox_list)
		hargs.plugins = NULL;
	if ((rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
		goto out;
	rc = CLI_OK;
	if (listing) {
		int printed = 0;

		if (flue_sandbox_list(harness, sandbox, print_entry, &printed,
		                      &err) != 0) {
			cli_error("%s", err.message);
			rc = CLI_FAILED;
		} else if (printed == 0) {
			fprintf(stderr, "flue: no sandboxes or snapshots\n");
		}
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		char *snap = NULL;
		int r;

		if (strcmp(sub, "stop") == 0)
			r = flue_sandbox_stop(harness, sandbox, argv[i], &err);
		else if (strcmp(sub, "snapshot") == 0)
			r = flue_sandbox_snapshot(harness, sandbox, argv[i], &snap,
			                          &err);
		else
			r = flue_sandbox_remove(harness, sandbox, argv[i], &err);
		if (r != 0) {
			cli_error("%s %s: %s", sub, argv[i], err.message);
			rc = CLI_FAILED;
		} else if (snap != NULL) {
			printf("%s\n", snap);
		} else {
			fprintf(stderr, "flue: %s: %s\n", argv[i],
			        strcmp(sub, "stop") == 0 ? "stopped" : "removed");
		}
		free(snap);
	}
out:
	if (harness != NULL)
		flue_harness_close(harness);
	if (hargs.plugins == sandbox_list)
		hargs.plugins = NULL;
	cli_harness_args_free(&hargs);
	free(env_files);   /* the strings are argv's */
	return rc;
}

int
cmd_sandbox(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_HARNESS_LONG_OPTIONS,
		{"sandbox", required_argument, NULL, 's'},
		{"options", required_argument, NULL, 'o'},
		{"session", required_argument, NULL, 'i'},
		{"cwd", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 't'},
		{"env", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_harness_args hargs = {0};
	struct exec_args a = {0};
	int opt, rc = CLI_USAGE;

	if (argc >= 2 && (strcmp(argv[1], "list") == 0 ||
	                  strcmp(argv[1], "stop") == 0 ||
	                  strcmp(argv[1], "snapshot") == 0 ||
	                  strcmp(argv[1], "rm") == 0))
		return cmd_sandbox_manage(argv[1], argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "exec") != 0) {
		if (argc >= 2 && cli_is_help(argv[1])) {
			cmd_sandbox_help();
			return CLI_OK;
		}
		return cli_usage("sandbox", argc < 2 ? "missing subcommand "
		                 "(exec, list, stop, snapshot or rm)" :
		                 "unknown subcommand '%s'; expected exec, list, "
		                 "stop, snapshot or rm", argc < 2 ? "" : argv[1]);
	}
	argc--;
	argv++;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled != 0)
			continue;
		switch (opt) {
		case 'h': cmd_sandbox_help(); rc = CLI_OK; goto out;
		case 's': a.sandbox = optarg; break;
		case 'o': a.options = optarg; break;
		case 'i': a.session = optarg; break;
		case 'C': a.cwd = optarg; break;
		case 't':
			if (parse_timeout(optarg, &a.timeout_ms) != 0) {
				rc = cli_usage("sandbox", "--timeout takes a whole "
				               "number of milliseconds, not '%s'",
				               optarg);
				goto out;
			}
			break;
		case 'e':
			if (add_env(&a, optarg) != 0) {
				rc = cli_usage("sandbox", "--env takes NAME=VALUE, "
				               "not '%s'", optarg);
				goto out;
			}
			break;
		default:
			rc = cli_usage("sandbox", "unknown or incomplete option "
			               "'%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = cli_usage("sandbox", "missing the command to run");
		goto out;
	}
	a.command = join_words(argc - optind, argv + optind);
	if (a.command == NULL) {
		cli_error("out of memory");
		rc = CLI_FAILED;
		goto out;
	}
	rc = run_exec(&hargs, &a);
out:
	free(a.command);
	free(a.env);
	cli_harness_args_free(&hargs);
	return rc;
}
