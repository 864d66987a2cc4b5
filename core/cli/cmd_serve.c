/* flue serve and flue dev: the HTTP server in the foreground. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"

static void
serve_help(const char *name)
{
	int dev = strcmp(name, "dev") == 0;

	printf("Usage: flue %s [options]\n\n", name);
	if (dev)
		printf("Serves the project's agents over HTTP for development: "
		       "like `flue serve`,\nand agents, roles, skills and "
		       "flue.yaml are read again when they change.\n\n");
	else
		printf("Serves the project's agents over HTTP until SIGTERM or "
		       "Ctrl-C; then stops\naccepting, lets running runs finish "
		       "(--grace) and cancels the rest.\n\n");
	printf("  POST /agents/AGENT/ID   run AGENT in session ID with the JSON "
	       "body as payload\n"
	       "                          (Accept: text/event-stream streams "
	       "the events)\n"
	       "  GET  /runs/RUN[/events|/stream]   a run's record and events\n"
	       "  docs/SERVER.md lists every route.\n\n"
	       "Options:\n"
	       "  --port N             port (default: server.port in flue.yaml, "
	       "3583; 0: any)\n"
	       "  --host ADDR          address (default 127.0.0.1; anything else "
	       "needs a token)\n"
	       "  --env FILE           load NAME=value lines into the "
	       "environment (repeatable)\n"
	       "  --grace SECONDS      on shutdown, how long runs may finish "
	       "(default 30)\n"
	       "  --port-file FILE     write the port there once listening\n"
	       "  --heartbeat MS       a comment on idle event streams this often "
	       "(default 15000)\n"
	       "  -q, --quiet          no log lines\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Environment:\n"
	       "  FLUE_API_TOKEN       the bearer token clients must send "
	       "(server.api_token_env)\n");
}

void
cmd_serve_help(void)
{
	serve_help("serve");
}

void
cmd_dev_help(void)
{
	serve_help("dev");
}

static void
log_line(void *payload, const char *message)
{
	time_t t = time(NULL);
	struct tm tm;
	char when[32];

	(void)payload;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s %s\n", when, message);
}

/* Many concurrent streams need many descriptors. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
write_port_file(const char *path, int port)
{
	char *tmp;
	FILE *f;
	int ok;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -1;
	f = fopen(tmp, "w");
	ok = f != NULL && fprintf(f, "%d\n", port) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	ok = ok && rename(tmp, path) == 0;
	free(tmp);
	return ok ? 0 : -1;
}

static int
serve(int argc, char **argv, const char *name)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'},
		{"env", required_argument, NULL, 'e'},
		{"grace", required_argument, NULL, 'g'},
		{"port-file", required_argument, NULL, 'P'},
		{"heartbeat", required_argument, NULL, 'b'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_server_options so = {.size = sizeof(so)};
	struct flue_error err = {0};
	flue_harness *harness = NULL;
	flue_server *server = NULL;
	const char *port_file = NULL;
	char **env_files = NULL, *end;
	size_t n_env = 0;
	sigset_t stop;
	int opt, rc = CLI_OK, quiet = 0, sig;
	long v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': serve_help(name); goto out;
		case 'p':
		case 'g':
		case 'b':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 0 ||
			    v > (opt == 'p' ? 65535 : 86400000)) {
				rc = cli_usage(name, "--%s: '%s' is not %s", opt == 'p' ?
				               "port" : opt == 'g' ? "grace" : "heartbeat",
				               optarg, opt == 'p' ? "a port (0-65535)" :
				               "a whole number");
				goto out;
			}
			if (opt == 'p')
				so.port = v == 0 ? -1 : (int)v;
			else if (opt == 'g')
				so.grace_ms = v > 0 ? v * 1000 : 1;
			else
				so.heartbeat_ms = v > 0 ? v : 1;
			break;
		case 'H': so.host = optarg; break;
		case 'P': port_file = optarg; break;
		case 'q': quiet = 1; break;
		case 'e': {
			char **grown = realloc(env_files, (n_env + 1) *
			                       sizeof(*grown));

			if (grown == NULL) {
				rc = CLI_FAILED;
				goto out;
			}
			env_files = grown;
			env_files[n_env++] = optarg;
			break;
		}
		default:
			rc = cli_usage(name, "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc) {
		rc = cli_usage(name, "'%s' is extra: flue %s takes options only",
		               argv[optind], name);
		goto out;
	}
	raise_fd_limit();
	if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK ||
	    (rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
		goto out;
	/* Every thread the server starts inherits this mask, so the signals
	 * reach only sigwait below. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	so.log = quiet ? NULL : log_line;
	if (flue_server_open(&server, harness, &so, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	if (port_file != NULL &&
	    write_port_file(port_file, flue_server_port(server)) != 0) {
		cli_error("cannot write '%s': %s", port_file, strerror(errno));
		rc = CLI_FAILED;
		goto out;
	}
	if (!quiet)
		fprintf(stderr, "flue: serving %s on %s (Ctrl-C stops)\n",
		        flue_harness_project_root(harness), flue_server_url(server));
	sigwait(&stop, &sig);
	if (!quiet)
		fprintf(stderr, "flue: %s: stopping; %lld runs to finish\n",
		        sig == SIGINT ? "interrupted" : "terminated",
		        (long long)flue_server_active_runs(server));
	flue_server_shutdown(server);
	if (!quiet)
		fprintf(stderr, "flue: stopped\n");
out:
	flue_server_close(server);
	flue_harness_close(harness);
	free(env_files);
	cli_harness_args_free(&hargs);
	return rc;
}

int
cmd_serve(int argc, char **argv)
{
	return serve(argc, argv, "serve");
}

int
cmd_dev(int argc, char **argv)
{
	return serve(argc, argv, "dev");
}
