/* flue logs: a session's history (with the sessions of its tasks) or a
 * run's events, read from the project's state folder. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define TASK_TREE_MAX_DEPTH 16

enum format { PRETTY, JSON, NDJSON };

void
cmd_logs_help(void)
{
	printf("Usage: flue logs [options] AGENT ID\n"
	       "       flue logs [options] --run RUN\n\n"
	       "Prints a session's history -- with the sessions of the tasks it "
	       "started,\nindented under the call that started them -- or a "
	       "run's events (runs are\nwhat `flue serve` records).\n\n"
	       "Options:\n"
	       "  --run RUN            a run's events instead of a session\n"
	       "  -f, --follow         with --run: wait for new events until "
	       "the run ends\n"
	       "  --format FORMAT      pretty (default), json (one document) or "
	       "ndjson (one\n"
	       "                       record or event per line, as stored)\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n");
}

/* <root>/.flue/state/<folder>/<name><suffix>, [caller-owned]. */
static char *
state_path(flue_harness *h, const char *folder, const char *name,
           const char *suffix)
{
	char *path;

	if (asprintf(&path, "%s/.flue/state/%s/%s%s",
	             flue_harness_project_root(h), folder, name, suffix) < 0)
		path = NULL;
	return path;
}

/* Complete lines of path from *offset on; *offset moves past them. */
static int
read_lines(const char *path, long *offset, int (*fn)(void *, char *),
           void *payload)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (f == NULL)
		return -1;
	if (*offset > 0)
		fseek(f, *offset, SEEK_SET);
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;          /* still being written */
		*offset += n;
		line[n - 1] = '\0';
		if ((rc = fn(payload, line)) != 0)
			break;
	}
	free(line);
	fclose(f);
	return rc;
}

/* ---- pretty printing ---------------------------------------------------- */

static void
indent(int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("    ", stdout);
}

/* text, each line indented, cut at max bytes. */
static void
print_block(const char *label, const char *text, size_t max, int depth)
{
	size_t len = strlen(text), shown = len > max ? max : len;
	int start = 1;

	indent(depth);
	fputs(label, stdout);
	for (size_t i = 0; i < shown; i++) {
		if (!start && text[i - 1] == '\n')
			indent(depth), fputs("  ", stdout);
		start = 0;
		putchar(text[i]);
	}
	if (shown < len)
		printf(" [... %zu more bytes]", len - shown);
	putchar('\n');
}

struct session_print {
	flue_harness *harness;
	const char *agent;
	enum format format;
	int depth;
	int first;
};

static int print_session(flue_harness *h, const char *agent, const char *id,
                         enum format format, int depth);

static int
pretty_record(struct session_print *sp, json_object *rec)
{
	json_object *role = json_object_object_get(rec, "role");
	json_object *type = json_object_object_get(rec, "type"), *v;
	const char *r = role ? json_object_get_string(role) : NULL;

	if (r == NULL) {
		const char *t = type ? json_object_get_string(type) : "record";

		if (strcmp(t, "compaction") == 0) {
			indent(sp->depth);
			printf("-- compacted (%s): %s messages summarised; the model "
			       "sees from record %s on --\n",
			       json_object_get_string(json_object_object_get(rec,
			                              "reason")),
			       json_object_get_string(json_object_object_get(rec,
			                              "messages_before")),
			       json_object_get_string(json_object_object_get(rec,
			                              "first_kept")));
		} else if (strcmp(t, "task") == 0) {
			indent(sp->depth);
			printf("-- task %s of session %s --\n",
			       json_object_get_string(json_object_object_get(rec,
			                              "task_id")),
			       json_object_get_string(json_object_object_get(rec,
			                              "parent_session")));
		}
		return 0;
	}
	if (strcmp(r, "user") == 0) {
		print_block("user: ", json_object_get_string(json_object_object_get(
		            rec, "content")), 2000, sp->depth);
	} else if (strcmp(r, "assistant") == 0 &&
	           json_object_object_get_ex(rec, "content", &v)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *b = json_object_array_get_idx(v, i);
			const char *bt = json_object_get_string(json_object_object_get(
			        b, "type"));

			if (bt == NULL)
				continue;
			if (strcmp(bt, "text") == 0)
				print_block("assistant: ", json_object_get_string(
				            json_object_object_get(b, "text")), 4000,
				            sp->depth);
			else if (strcmp(bt, "thinking") == 0)
				print_block("thinking: ", json_object_get_string(
				            json_object_object_get(b, "text")), 300,
				            sp->depth);
			else if (strcmp(bt, "tool_call") == 0) {
				indent(sp->depth);
				printf("-> %s %s\n", json_object_get_string(
				       json_object_object_get(b, "name")),
				       json_object_to_json_string_ext(
				       json_object_object_get(b, "arguments"), JSON_FLAGS));
			}
		}
	} else if (strcmp(r, "tool") == 0) {
		json_object *task = json_object_object_get(rec, "task");
		int err = json_object_get_boolean(json_object_object_get(rec,
		                                                         "is_error"));
		char label[160];

		/* A task's own session comes first, indented, then its result. */
		if (task != NULL && sp->depth < TASK_TREE_MAX_DEPTH)
			print_session(sp->harness, sp->agent, json_object_get_string(
			              json_object_object_get(task, "session")),
			              PRETTY, sp->depth + 1);
		snprintf(label, sizeof(label), "<- %s%s: ", json_object_get_string(
		         json_object_object_get(rec, "name")), err ? " (error)" : "");
		print_block(label, json_object_get_string(json_object_object_get(
		            rec, "content")), 600, sp->depth);
	}
	return 0;
}

static int
on_session_line(void *payload, char *line)
{
	struct session_print *sp = payload;
	json_object *rec;

	if (sp->format == NDJSON) {
		puts(line);
		return 0;
	}
	rec = json_tokener_parse(line);
	if (rec == NULL)
		return 0;
	if (sp->format == JSON) {
		printf("%s%s", sp->first ? "" : ",\n", line);
		sp->first = 0;
	} else {
		pretty_record(sp, rec);
	}
	json_object_put(rec);
	return 0;
}

static int
print_session(flue_harness *h, const char *agent, const char *id,
              enum format format, int depth)
{
	struct session_print sp = {h, agent, format, depth, 1};
	char *dir, *path;

	if (asprintf(&dir, "sessions/%s", agent) < 0)
		return -1;
	path = state_path(h, dir, id, ".jsonl");
	free(dir);
	long offset = 0;
	int rc;

	if (path == NULL)
		return -1;
	if (format == PRETTY) {
		indent(depth);
		printf("== session %s of %s%s ==\n", id, agent,
		       depth > 0 ? " (task)" : "");
	}
	if (format == JSON)
		printf("[");
	rc = read_lines(path, &offset, on_session_line, &sp);
	if (format == JSON)
		printf("]\n");
	if (rc < 0 && depth == 0)
		cli_error("agent '%s' has no session '%s' (no %s)", agent, id, path);
	else if (rc < 0) {
		indent(depth);
		printf("(the task's session %s is gone)\n", id);
		rc = 0;
	}
	free(path);
	return rc;
}

/* ---- runs --------------------------------------------------------------- */

struct run_print {
	enum format format;
	int first;
	int in_text;               /* a text delta line is open */
};

static void
end_text(struct run_print *rp)
{
	if (rp->in_text) {
		putchar('\n');
		rp->in_text = 0;
	}
}

static int
on_event_line(void *payload, char *line)
{
	struct run_print *rp = payload;
	json_object *ev, *v;
	const char *type, *task;

	if (rp->format == NDJSON) {
		puts(line);
		return 0;
	}
	if (rp->format == JSON) {
		printf("%s%s", rp->first ? "" : ",\n", line);
		rp->first = 0;
		return 0;
	}
	ev = json_tokener_parse(line);
	if (ev == NULL)
		return 0;
	type = json_object_get_string(json_object_object_get(ev, "type"));
	task = json_object_get_string(json_object_object_get(ev, "task_id"));
	if (type == NULL)
		type = "";
	if (strcmp(type, "text_delta") == 0 && task == NULL) {
		fputs(json_object_get_string(json_object_object_get(ev, "text")),
		      stdout);
		rp->in_text = 1;
	} else if (strcmp(type, "text_delta") != 0 &&
	           strcmp(type, "thinking_delta") != 0) {
		end_text(rp);
		if (task != NULL)
			printf("  [task %s] ", task);
		if (strcmp(type, "run_start") == 0)
			printf("run started: agent %s, session %s, model %s\n",
			       json_object_get_string(json_object_object_get(ev,
			                              "agent")),
			       json_object_get_string(json_object_object_get(ev,
			                              "session")),
			       json_object_get_string(json_object_object_get(ev,
			                              "model")));
		else if (strcmp(type, "tool_start") == 0)
			printf("-> %s %s\n", json_object_get_string(
			       json_object_object_get(ev, "name")),
			       json_object_to_json_string_ext(json_object_object_get(
			       ev, "arguments"), JSON_FLAGS));
		else if (strcmp(type, "tool_end") == 0)
			printf("<- %s%s (%s ms)\n", json_object_get_string(
			       json_object_object_get(ev, "name")),
			       json_object_get_boolean(json_object_object_get(ev,
			                               "is_error")) ? " failed" : "",
			       json_object_get_string(json_object_object_get(ev,
			                              "duration_ms")));
		else if (strcmp(type, "run_end") == 0) {
			printf("run ended: %s", json_object_get_string(
			       json_object_object_get(ev, "status")));
			if (json_object_object_get_ex(ev, "error", &v))
				printf(": %s", json_object_get_string(
				       json_object_object_get(v, "message")));
			putchar('\n');
		} else if (strcmp(type, "turn_end") != 0)
			printf("%s\n", json_object_to_json_string_ext(ev, JSON_FLAGS));
	}
	json_object_put(ev);
	fflush(stdout);
	return 0;
}

static int
run_active(const char *record_path)
{
	json_object *o = json_object_from_file(record_path);
	int active = o != NULL && strcmp(json_object_get_string(
	        json_object_object_get(o, "status")), "active") == 0;

	json_object_put(o);
	return active;
}

static int
print_run(flue_harness *h, const char *run, enum format format, int follow)
{
	struct run_print rp = {format, 1, 0};
	char *events = state_path(h, "runs", run, ".events.jsonl");
	char *record = state_path(h, "runs", run, ".json");
	long offset = 0;
	int rc = 0;

	if (events == NULL || record == NULL || access(record, F_OK) != 0) {
		cli_error("no run '%s' in %s/.flue/state/runs", run,
		          flue_harness_project_root(h));
		free(events);
		free(record);
		return -1;
	}
	if (format == JSON)
		printf("[");
	for (;;) {
		int active = follow && run_active(record);

		read_lines(events, &offset, on_event_line, &rp);
		if (!active)
			break;
		usleep(200 * 1000);
	}
	end_text(&rp);
	if (format == JSON)
		printf("]\n");
	free(events);
	free(record);
	return rc;
}

int
cmd_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"run", required_argument, NULL, 'r'},
		{"follow", no_argument, NULL, 'f'},
		{"format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	flue_harness *harness = NULL;
	const char *run = NULL;
	enum format format = PRETTY;
	int opt, rc = CLI_OK, follow = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "hf", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_logs_help(); goto out;
		case 'r': run = optarg; break;
		case 'f': follow = 1; break;
		case 'F':
			if (strcmp(optarg, "pretty") == 0)
				format = PRETTY;
			else if (strcmp(optarg, "json") == 0)
				format = JSON;
			else if (strcmp(optarg, "ndjson") == 0)
				format = NDJSON;
			else {
				rc = cli_usage("logs", "--format: '%s' is not pretty, json "
				               "or ndjson", optarg);
				goto out;
			}
			break;
		default:
			rc = cli_usage("logs", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (run != NULL ? optind != argc : argc - optind != 2) {
		rc = cli_usage("logs", run != NULL ? "--run takes no AGENT ID" :
		               "name the agent and the session (flue logs AGENT "
		               "ID), or a run (--run RUN)");
		goto out;
	}
	if (follow && run == NULL) {
		rc = cli_usage("logs", "--follow goes with --run RUN");
		goto out;
	}
	if (run != NULL && (strchr(run, '/') || run[0] == '.')) {
		rc = cli_usage("logs", "'%s' is not a run id", run);
		goto out;
	}
	if (run == NULL && (strchr(argv[optind], '/') ||
	                    strchr(argv[optind + 1], '/') ||
	                    argv[optind + 1][0] == '.')) {
		rc = cli_usage("logs", "'%s %s' is not an agent and session id",
		               argv[optind], argv[optind + 1]);
		goto out;
	}
	if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK)
		goto out;
	if (run != NULL)
		rc = print_run(harness, run, format, follow) == 0 ? CLI_OK :
		     CLI_FAILED;
	else
		rc = print_session(harness, argv[optind], argv[optind + 1], format,
		                   0) == 0 ? CLI_OK : CLI_FAILED;
	if (fflush(stdout) != 0 && rc == CLI_OK) {
		cli_error("cannot write the output: %s", strerror(errno));
		rc = CLI_FAILED;
	}
out:
	flue_harness_close(harness);
	cli_harness_args_free(&hargs);
	return rc;
}
