/* flue run: run an agent on a task, in a session, from the command line.
 * Progress goes to stderr (a status line when it is a terminal), the
 * answer to stdout; --stream prints every event as a JSON line and
 * --json the result with its usage.  Ctrl-C cancels the run cleanly:
 * the session keeps every message that was complete. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"

void
cmd_run_help(void)
{
	printf("Usage: flue run [options] AGENT\n\n"
	       "Runs AGENT on a task: the model works in the agent's sandbox "
	       "with its tools\nuntil it answers.  Progress goes to stderr, "
	       "the answer to stdout.  The\nsession's history is kept under "
	       ".flue/state/sessions/; run again with the\nsame --id to "
	       "continue the conversation.\n\n"
	       "Options:\n"
	       "  --id ID              the session (default: a new one, "
	       "printed on stderr)\n"
	       "  --payload JSON|@FILE the task: {\"prompt\": \"...\"} plus "
	       "fields for {{payload...}}\n"
	       "                       (@- reads stdin)\n"
	       "  --env FILE           load NAME=value lines into the "
	       "environment (repeatable;\n"
	       "                       the project's .env is read too, "
	       "without overriding)\n"
	       "  --skill NAME         run this skill (the agent's, or a builtin "
	       "one) as the task\n"
	       "  --args JSON|@FILE    the skill's arguments\n"
	       "  --result SCHEMA|@FILE  a JSON Schema: the model ends by "
	       "calling finish with\n"
	       "                       the result (printed as JSON), or give_up\n"
	       "  --model MODEL        use this model (provider/model)\n"
	       "  --role NAME          apply this role\n"
	       "  --cwd DIR            the working directory in the sandbox\n"
	       "  --stream             print every event as one JSON line on "
	       "stdout\n"
	       "  --json               print the result, usage and session as "
	       "JSON on stdout\n"
	       "  -q, --quiet          no progress on stderr\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Exit status: 0 done, 1 the run failed, 2 bad usage, 130 "
	       "interrupted.\n\n"
	       "Environment:\n"
	       "  AI_GATEWAY_API_KEY   key for Vercel AI Gateway (the default "
	       "provider)\n"
	       "  VERCEL_OIDC_TOKEN    used when no key is set (`vercel env "
	       "pull`)\n"
	       "  AI_GATEWAY_BASE_URL  another endpoint for the gateway "
	       "plugin\n"
	       "  SOURCE_DATE_EPOCH    the date shown in the prompt\n");
}

/* ------------------------------------------------------------------ */
/* Ctrl-C                                                              */
/* ------------------------------------------------------------------ */

static struct flue_cancel *run_cancel;
static volatile sig_atomic_t interrupts;

static void
on_interrupt(int sig)
{
	(void)sig;
	if (interrupts++ > 0)
		_exit(CLI_INTERRUPTED);   /* a second Ctrl-C: now */
	flue_cancel_trigger(run_cancel);
}

/* ------------------------------------------------------------------ */
/* Progress on stderr                                                  */
/* ------------------------------------------------------------------ */

struct progress {
	int quiet, tty, stream;
	pthread_mutex_t lock;
	pthread_t spinner;
	int spinner_running, stop;
	char status[160];          /* the status line, "" when none */
	int64_t status_since;      /* ms */
	unsigned turn;
	size_t text_chars;         /* of the turn, for the status line */
	int shown;                 /* the status line is on screen */
	json_object *usage;        /* from run_end, for --json (owned) */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under the lock. */
static void
clear_status(struct progress *p)
{
	if (p->shown) {
		fputs("\r\033[K", stderr);
		p->shown = 0;
	}
}

static void
draw_status(struct progress *p)
{
	static const char *const frames[] = {"|", "/", "-", "\\"};
	int64_t secs;

	if (!p->tty || p->status[0] == '\0')
		return;
	secs = (mono_ms() - p->status_since) / 1000;
	fprintf(stderr, "\r\033[K%s %s (%llds)",
	        frames[(mono_ms() / 120) % 4], p->status, (long long)secs);
	fflush(stderr);
	p->shown = 1;
}

static void *
spinner_main(void *arg)
{
	struct progress *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec ts = {0, 120 * 1000000};

		draw_status(p);
		pthread_mutex_unlock(&p->lock);
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&p->lock);
	}
	clear_status(p);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
progress_line(struct progress *p, const char *fmt, ...) FLUE_PRINTF(2, 3);

static void
progress_line(struct progress *p, const char *fmt, ...)
{
	va_list ap;

	if (p->quiet)
		return;
	pthread_mutex_lock(&p->lock);
	clear_status(p);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	draw_status(p);
	pthread_mutex_unlock(&p->lock);
}

static void
set_status(struct progress *p, const char *fmt, ...) FLUE_PRINTF(2, 3);

static void
set_status(struct progress *p, const char *fmt, ...)
{
	va_list ap;

	if (p->quiet || !p->tty)
		return;
	pthread_mutex_lock(&p->lock);
	va_start(ap, fmt);
	vsnprintf(p->status, sizeof(p->status), fmt, ap);
	va_end(ap);
	p->status_since = mono_ms();
	draw_status(p);
	pthread_mutex_unlock(&p->lock);
}

/* One line about a tool call's arguments: the one that matters. */
static void
summarise_args(json_object *args, char *buf, size_t size)
{
	static const char *const keys[] = {"command", "path", "pattern", NULL};
	const char *text = NULL;
	size_t n;

	for (size_t i = 0; keys[i] != NULL && text == NULL; i++) {
		json_object *v;

		if (json_object_object_get_ex(args, keys[i], &v) &&
		    json_object_is_type(v, json_type_string))
			text = json_object_get_string(v);
	}
	if (text == NULL)
		text = json_object_to_json_string_ext(args,
		        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(buf, size, "%s", text);
	for (n = 0; buf[n] != '\0'; n++)
		if (buf[n] == '\n' || buf[n] == '\r' || buf[n] == '\t')
			buf[n] = ' ';
	if (n == size - 1 && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static void
first_line(const char *text, char *buf, size_t size)
{
	size_t n = strcspn(text, "\n");

	if (n >= size)
		n = size - 1;
	memcpy(buf, text, n);
	buf[n] = '\0';
}

static void
task_progress(struct progress *p, const struct flue_event *ev)
{
	json_object *obj;
	const char *id;
	char line[160];

	if (p->quiet || (ev->type != FLUE_EVENT_RUN_START &&
	                 ev->type != FLUE_EVENT_RUN_END &&
	                 ev->type != FLUE_EVENT_TOOL_START))
		return;
	obj = json_tokener_parse(ev->json);
	id = ev->task_id;
	if (ev->type == FLUE_EVENT_RUN_START) {
		progress_line(p, "  [task %s] started: session %s", id,
		              json_object_get_string(json_object_object_get(obj,
		                                     "session")));
	} else if (ev->type == FLUE_EVENT_RUN_END) {
		progress_line(p, "  [task %s] %s", id, json_object_get_string(
		              json_object_object_get(obj, "status")));
	} else {
		json_object *v;

		if (json_object_object_get_ex(obj, "arguments", &v))
			summarise_args(v, line, 100);
		else
			line[0] = '\0';
		progress_line(p, "  [task %s]   %s %s", id, ev->tool_name, line);
	}
	json_object_put(obj);
}

static void
on_event(void *payload, const struct flue_event *ev)
{
	struct progress *p = payload;
	json_object *obj = NULL, *v;
	char line[200];

	if (p->stream) {
		fwrite(ev->json, 1, ev->json_len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	/* A task's events: where it starts and ends, and its tool calls. */
	if (ev->task_id != NULL) {
		task_progress(p, ev);
		return;
	}
	if (ev->type == FLUE_EVENT_RUN_END) {
		obj = json_tokener_parse(ev->json);
		if (json_object_object_get_ex(obj, "usage", &v))
			p->usage = json_object_get(v);
		json_object_put(obj);
		return;
	}
	if (p->quiet)
		return;
	switch (ev->type) {
	case FLUE_EVENT_RUN_START:
		obj = json_tokener_parse(ev->json);
		progress_line(p, "flue: session %s, model %s",
		        json_object_get_string(json_object_object_get(obj,
		                               "session")),
		        json_object_get_string(json_object_object_get(obj,
		                               "model")));
		break;
	case FLUE_EVENT_TEXT_DELTA:
		p->text_chars += ev->text_len;
		if (p->tty && p->turn == ev->turn)
			set_status(p, "turn %u: writing (%zu bytes)", ev->turn,
			           p->text_chars);
		break;
	case FLUE_EVENT_RETRY:
		p->text_chars = 0;
		progress_line(p, "flue: retrying: %.*s", (int)ev->text_len,
		              ev->text);
		break;
	case FLUE_EVENT_TOOL_START:
		obj = json_tokener_parse(ev->json);
		if (json_object_object_get_ex(obj, "arguments", &v))
			summarise_args(v, line, 120);
		else
			line[0] = '\0';
		progress_line(p, "  %s %s", ev->tool_name, line);
		set_status(p, "turn %u: running %s", ev->turn, ev->tool_name);
		break;
	case FLUE_EVENT_TOOL_END:
		if (ev->is_error) {
			first_line(ev->text ? ev->text : "", line, 160);
			progress_line(p, "  %s failed: %s", ev->tool_name, line);
		}
		set_status(p, "turn %u: waiting for the model", ev->turn + 1);
		break;
	case FLUE_EVENT_TURN_END:
		p->turn = ev->turn + 1;
		p->text_chars = 0;
		obj = json_tokener_parse(ev->json);
		if (json_object_object_get_ex(obj, "tool_calls", &v) &&
		    json_object_get_int(v) > 0)
			set_status(p, "turn %u: running tools", ev->turn);
		else
			set_status(p, "finishing");
		break;
	default:
		break;
	}
	json_object_put(obj);
}

static void
print_warning(void *payload, const char *message)
{
	struct progress *p = payload;

	progress_line(p, "flue: warning: %s", message);
}

static void
format_usage(const struct flue_usage *u, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%llu tokens in, %llu out",
	                 (unsigned long long)(u->input_tokens +
	                                      u->cache_read_tokens +
	                                      u->cache_write_tokens),
	                 (unsigned long long)u->output_tokens);

	if (u->cost_usd >= 0 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", $%.4f", u->cost_usd);
}

/* --json: the result, and what the flue process itself used (its own
 * CPU, not its commands'). */
static void
print_json_result(const struct flue_run_result *res, json_object *usage,
                  int rc, const struct flue_error *err)
{
	static const char *const names[] = {"ok", "error", "canceled",
	                                    "max_turns"};
	json_object *o = json_object_new_object(), *proc;
	struct rusage ru;

	json_object_object_add(o, "status", json_object_new_string(
	                       names[res->status & 3]));
	json_object_object_add(o, "session", res->session_id ?
	                       json_object_new_string(res->session_id) : NULL);
	json_object_object_add(o, "model", res->model ?
	                       json_object_new_string(res->model) : NULL);
	json_object_object_add(o, "result", res->text ?
	                       json_object_new_string(res->text) : NULL);
	json_object_object_add(o, "output", res->result_json ?
	                       json_tokener_parse(res->result_json) : NULL);
	json_object_object_add(o, "usage", json_object_get(usage));
	json_object_object_add(o, "turns", json_object_new_int(
	                       (int32_t)res->turns));
	json_object_object_add(o, "tool_calls", json_object_new_int(
	                       (int32_t)res->tool_calls));
	if (rc != 0) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_string(
		                       flue_status_name(rc)));
		json_object_object_add(e, "message", json_object_new_string(
		                       err->message));
		json_object_object_add(o, "error", e);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		proc = json_object_new_object();
		json_object_object_add(proc, "cpu_user_ms", json_object_new_double(
		        ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3));
		json_object_object_add(proc, "cpu_system_ms", json_object_new_double(
		        ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3));
		json_object_object_add(proc, "max_rss_kb",
		                       json_object_new_int64(ru.ru_maxrss));
		json_object_object_add(o, "process", proc);
	}
	printf("%s\n", json_object_to_json_string_ext(o,
	       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int
cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"id", required_argument, NULL, 'i'},
		{"payload", required_argument, NULL, 'p'},
		{"skill", required_argument, NULL, 'k'},
		{"args", required_argument, NULL, 'a'},
		{"result", required_argument, NULL, 'R'},
		{"env", required_argument, NULL, 'e'},
		{"model", required_argument, NULL, 'm'},
		{"role", required_argument, NULL, 'r'},
		{"cwd", required_argument, NULL, 'C'},
		{"stream", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_agent_options aopts = {.size = sizeof(aopts)};
	struct flue_call_options copts = {.size = sizeof(copts)};
	struct flue_run_result res = {0};
	flue_agent *agent = NULL;
	flue_session *session = NULL;
	const char *session_id = NULL, *skill = NULL, *args_arg = NULL;
	char *args = NULL, *result_schema = NULL;
	const char *result_arg = NULL;
	struct flue_error err = {0};
	struct progress prog = {0};
	struct sigaction sa = {0}, old_int, old_term;
	flue_harness *harness = NULL;
	const char *payload_arg = NULL;
	char *payload = NULL, **env_files = NULL;
	size_t n_env = 0;
	int opt, rc = CLI_OK, json = 0, frc;
	int64_t now;

	pthread_mutex_init(&prog.lock, NULL);
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
		case 'h': cmd_run_help(); goto out;
		case 'i': session_id = optarg; break;
		case 'p': payload_arg = optarg; break;
		case 'k': skill = optarg; break;
		case 'a': args_arg = optarg; break;
		case 'R': result_arg = optarg; break;
		case 'e':
			if ((rc = cli_add_env_file(&env_files, &n_env, optarg)) != CLI_OK)
				goto out;
			break;
		case 'm': aopts.model = optarg; break;
		case 'r': aopts.role = optarg; break;
		case 'C': aopts.cwd = optarg; break;
		case 's': prog.stream = 1; break;
		case 'j': json = 1; break;
		case 'q': prog.quiet = 1; break;
		default:
			rc = cli_usage("run", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc - 1) {
		rc = cli_usage("run", optind >= argc ? "name the agent to run" :
		               "one agent at a time ('%s' is extra)",
		               optind < argc - 1 ? argv[optind + 1] : "");
		goto out;
	}
	if (json && prog.stream) {
		rc = cli_usage("run", "--json and --stream exclude each other");
		goto out;
	}
	if ((now = cli_source_date("run")) < 0) {
		rc = CLI_USAGE;
		goto out;
	}
	if (args_arg != NULL && skill == NULL) {
		rc = cli_usage("run", "--args goes with --skill NAME");
		goto out;
	}
	aopts.now = now;
	aopts.name = argv[optind];
	if (payload_arg != NULL &&
	    (rc = cli_load_payload(payload_arg, &payload)) != CLI_OK)
		goto out;
	if (args_arg != NULL &&
	    (rc = cli_load_payload(args_arg, &args)) != CLI_OK)
		goto out;
	if (result_arg != NULL &&
	    (rc = cli_load_payload(result_arg, &result_schema)) != CLI_OK)
		goto out;
	copts.result_schema_json = result_schema;
	aopts.payload_json = payload;
	prog.tty = isatty(STDERR_FILENO);
	/* flue.yaml's plugins: (tool plugins among them) are loaded now; the
	 * sandbox and provider an agent names, when it needs them. */
	rc = cli_harness_open(&hargs, 0, &harness);
	if (rc != CLI_OK)
		goto out;
	if ((rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
		goto out;
	if (flue_cancel_new(&run_cancel, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signal(SIGPIPE, SIG_IGN);
	copts.cancel = run_cancel;
	copts.on_event = on_event;
	copts.event_payload = &prog;
	aopts.warn = print_warning;
	aopts.warn_payload = &prog;
	if (flue_agent_open(&agent, harness, &aopts, &err) != 0 ||
	    flue_session_open(&session, agent, session_id, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	if (!prog.quiet && prog.tty) {
		snprintf(prog.status, sizeof(prog.status), "starting");
		prog.status_since = mono_ms();
		prog.turn = 1;
		prog.spinner_running = pthread_create(&prog.spinner, NULL,
		                                      spinner_main, &prog) == 0;
	}
	if (skill != NULL)
		frc = flue_session_skill(session, skill, args, &copts, &res, &err);
	else
		frc = flue_session_prompt(session, NULL, &copts, &res, &err);
	if (prog.spinner_running) {
		pthread_mutex_lock(&prog.lock);
		prog.stop = 1;
		pthread_mutex_unlock(&prog.lock);
		pthread_join(prog.spinner, NULL);
	}
	prog.status[0] = '\0';   /* no status line after the run */
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (json)
		print_json_result(&res, prog.usage, frc, &err);
	else if (!prog.stream && res.result_json != NULL && frc == 0) {
		json_object *value = json_tokener_parse(res.result_json);

		printf("%s\n", json_object_to_json_string_ext(value,
		       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(value);
		fflush(stdout);
	} else if (!prog.stream && res.text != NULL && frc == 0) {
		size_t len = strlen(res.text);

		fputs(res.text, stdout);
		if (len == 0 || res.text[len - 1] != '\n')
			fputc('\n', stdout);
		fflush(stdout);   /* the answer before the closing progress line */
	}
	if (frc == 0) {
		char usage[128];

		format_usage(&res.usage, usage, sizeof(usage));
		progress_line(&prog, "flue: done in %u turn%s, %u tool call%s, %s",
		              res.turns, res.turns == 1 ? "" : "s",
		              res.tool_calls, res.tool_calls == 1 ? "" : "s",
		              usage);
	} else if (frc == FLUE_ECANCELED) {
		cli_error("canceled; the session keeps every completed message "
		          "(continue it with --id %s)",
		          res.session_id ? res.session_id : "?");
		rc = CLI_INTERRUPTED;
	} else {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		if (rc == CLI_OK)
			rc = CLI_FAILED;
	}
out:
	flue_run_result_free(&res);
	flue_session_close(session);
	flue_agent_close(agent);
	flue_harness_close(harness);
	free(args);
	free(result_schema);
	flue_cancel_free(run_cancel);
	run_cancel = NULL;
	free(payload);
	free(env_files);
	cli_harness_args_free(&hargs);
	json_object_put(prog.usage);
	pthread_mutex_destroy(&prog.lock);
	return rc;
}
