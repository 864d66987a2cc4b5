/* flue shell: run a command in a session's sandbox and record it in the
 * session, so the model sees it on the next prompt. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void
cmd_shell_help(void)
{
	printf("Usage: flue shell [options] AGENT ID -- COMMAND...\n\n"
	       "Runs COMMAND with bash in the sandbox of AGENT's session ID, "
	       "in its working\ndirectory and with its environment, and "
	       "records it in the session as if the\nmodel had run it: the "
	       "next `flue run AGENT --id ID` sees the command and its\n"
	       "output.  The command's output goes to stdout and stderr; "
	       "flue exits with its\nexit status.\n\n"
	       "Options:\n"
	       "  --cwd DIR            the working directory in the sandbox\n"
	       "  --timeout SECONDS    stop the command after this long "
	       "(default 600; exit 124)\n"
	       "  --payload JSON|@FILE fields for the agent's {{payload...}}\n"
	       "  --env FILE           load NAME=value lines into the "
	       "environment (repeatable)\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Exit status: the command's, 1 when flue failed, 2 bad usage, "
	       "130 interrupted.\n");
}

static struct flue_cancel *shell_cancel;

static void
on_interrupt(int sig)
{
	(void)sig;
	flue_cancel_trigger(shell_cancel);
}

/* The words after -- as one command line, each quoted for bash unless
 * there is only one (then it is the command line as written). */
static char *
join_command(int argc, char **argv)
{
	size_t len = 1;
	char *out, *at;

	if (argc == 1)
		return strdup(argv[0]);
	for (int i = 0; i < argc; i++)
		len += 4 * strlen(argv[i]) + 3;
	out = malloc(len);
	if (out == NULL)
		return NULL;
	at = out;
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			*at++ = ' ';
		*at++ = '\'';
		for (const char *p = argv[i]; *p != '\0'; p++) {
			if (*p == '\'') {
				memcpy(at, "'\\''", 4);
				at += 4;
			} else {
				*at++ = *p;
			}
		}
		*at++ = '\'';
	}
	*at = '\0';
	return out;
}

int
cmd_shell(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cwd", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 't'},
		{"payload", required_argument, NULL, 'p'},
		{"env", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_agent_options aopts = {.size = sizeof(aopts)};
	struct flue_call_options copts = {.size = sizeof(copts)};
	struct flue_exec_result res = {0};
	struct flue_error err = {0};
	struct sigaction sa = {0};
	flue_harness *harness = NULL;
	flue_agent *agent = NULL;
	flue_session *session = NULL;
	char *payload = NULL, *command = NULL, **env_files = NULL, *end;
	const char *payload_arg = NULL;
	size_t n_env = 0;
	int opt, rc = CLI_OK, dashes;

	optind = 1;
	/* "+": options stop at the first word, so the command keeps its own. */
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_shell_help(); goto out;
		case 'C': copts.cwd = optarg; break;
		case 't':
			errno = 0;
			copts.timeout_s = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || copts.timeout_s < 1) {
				rc = cli_usage("shell", "--timeout: '%s' is not a whole "
				               "number of seconds", optarg);
				goto out;
			}
			break;
		case 'p': payload_arg = optarg; break;
		case 'e':
			if ((rc = cli_add_env_file(&env_files, &n_env, optarg)) != CLI_OK)
				goto out;
			break;
		default:
			rc = cli_usage("shell", "unknown option '%s'",
			               argv[optind - 1]);
			goto out;
		}
	}
	dashes = optind + 2 < argc && strcmp(argv[optind + 2], "--") == 0;
	if (argc - optind < 2 || !dashes || optind + 3 >= argc) {
		rc = cli_usage("shell", argc - optind < 2 ? "name the agent and "
		               "the session: flue shell AGENT ID -- COMMAND" :
		               "give the command after --: flue shell AGENT ID "
		               "-- COMMAND");
		goto out;
	}
	command = join_command(argc - optind - 3, argv + optind + 3);
	if (command == NULL ||
	    (payload_arg != NULL &&
	     (rc = cli_load_payload(payload_arg, &payload)) != CLI_OK)) {
		rc = rc != CLI_OK ? rc : CLI_FAILED;
		goto out;
	}
	aopts.name = argv[optind];
	aopts.payload_json = payload;
	if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK ||
	    (rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
		goto out;
	if (flue_cancel_new(&shell_cancel, &err) != 0 ||
	    flue_agent_open(&agent, harness, &aopts, &err) != 0 ||
	    flue_session_open(&session, agent, argv[optind + 1], &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	copts.cancel = shell_cancel;
	if (flue_session_shell(session, command, &copts, &res, &err) != 0) {
		cli_error("%s", err.message);
		rc = err.code == FLUE_ECANCELED ? CLI_INTERRUPTED : CLI_FAILED;
		goto out;
	}
	fwrite(res.stdout_data.data, 1, res.stdout_data.len, stdout);
	fwrite(res.stderr_data.data, 1, res.stderr_data.len, stderr);
	if (res.timed_out)
		cli_error("the command timed out (exit 124)");
	rc = res.timed_out ? 124 : res.exit_code < 0 ? CLI_FAILED :
	     res.exit_code;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		rc = CLI_FAILED;
	}
out:
	flue_exec_result_free(&res);
	flue_session_close(session);
	flue_agent_close(agent);
	flue_harness_close(harness);
	flue_cancel_free(shell_cancel);
	shell_cancel = NULL;
	free(command);
	free(payload);
	free(env_files);
	cli_harness_args_free(&hargs);
	return rc;
}
