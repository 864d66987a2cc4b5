/* flue compact: summarise a session's older turns now. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"

void
cmd_compact_help(void)
{
	printf("Usage: flue compact [options] AGENT ID\n\n"
	       "Summarises the older turns of AGENT's session ID with the "
	       "agent's model, as a\nlong session does by itself near the "
	       "model's context window.  The model's view\nbecomes the summary "
	       "plus the recent turns kept verbatim; the session file keeps\n"
	       "every message.\n\n"
	       "Options:\n"
	       "  --model MODEL        summarise with this model\n"
	       "  --env FILE           load NAME=value lines into the "
	       "environment (repeatable)\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Exit status: 0 compacted, 1 failed or nothing to compact, 2 bad "
	       "usage,\n130 interrupted.\n");
}

static struct flue_cancel *compact_cancel;

static void
on_interrupt(int sig)
{
	(void)sig;
	flue_cancel_trigger(compact_cancel);
}

/* The compaction event, printed as one line. */
static void
on_event(void *payload, const struct flue_event *ev)
{
	json_object *o;

	(void)payload;
	if (ev->type != FLUE_EVENT_COMPACTION_END)
		return;
	o = json_tokener_parse(ev->json);
	printf("compacted: %lld messages (~%lld tokens) -> %lld messages "
	       "(~%lld tokens)\n",
	       (long long)json_object_get_int64(json_object_object_get(o,
	               "messages_before")),
	       (long long)json_object_get_int64(json_object_object_get(o,
	               "tokens_before")),
	       (long long)json_object_get_int64(json_object_object_get(o,
	               "messages_after")),
	       (long long)json_object_get_int64(json_object_object_get(o,
	               "tokens_after")));
	json_object_put(o);
}

int
cmd_compact(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"env", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_agent_options aopts = {.size = sizeof(aopts)};
	struct flue_call_options copts = {.size = sizeof(copts)};
	struct flue_run_result res = {0};
	struct flue_error err = {0};
	struct sigaction sa = {0};
	flue_harness *harness = NULL;
	flue_agent *agent = NULL;
	flue_session *session = NULL;
	char **env_files = NULL;
	size_t n_env = 0;
	int opt, rc = CLI_OK;

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
		case 'h': cmd_compact_help(); goto out;
		case 'm': aopts.model = optarg; break;
		case 'e':
			if ((rc = cli_add_env_file(&env_files, &n_env, optarg)) != CLI_OK)
				goto out;
			break;
		default:
			rc = cli_usage("compact", "unknown option '%s'",
			               argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = cli_usage("compact", "name the agent and the session: flue "
		               "compact AGENT ID");
		goto out;
	}
	aopts.name = argv[optind];
	if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK ||
	    (rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
		goto out;
	if (flue_cancel_new(&compact_cancel, &err) != 0 ||
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
	copts.cancel = compact_cancel;
	copts.on_event = on_event;
	if (flue_session_compact(session, &copts, &res, &err) != 0) {
		cli_error("%s", err.message);
		rc = err.code == FLUE_ECANCELED ? CLI_INTERRUPTED : CLI_FAILED;
	}
out:
	flue_run_result_free(&res);
	flue_session_close(session);
	flue_agent_close(agent);
	flue_harness_close(harness);
	flue_cancel_free(compact_cancel);
	compact_cancel = NULL;
	free(env_files);
	cli_harness_args_free(&hargs);
	return rc;
}
