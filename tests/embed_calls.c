/* The session calls the flue command line does not make: a task from the
 * API, a shell command and a typed result given per call, and events
 * counted through the callback.  Run by tests/harness.sh against the
 * fake gateway.  Usage: embed_calls PROJECT AGENT */
#include <stdio.h>
#include <string.h>

#include <flue/flue.h>

static unsigned events[16];

static void
count_event(void *payload, const struct flue_event *ev)
{
	(void)payload;
	if (ev->type < 16)
		events[ev->type]++;
}

int
main(int argc, char **argv)
{
	struct flue_harness_options ho = {.size = sizeof(ho)};
	struct flue_agent_options ao = {.size = sizeof(ao)};
	struct flue_call_options co = {.size = sizeof(co)};
	struct flue_run_result res = {0};
	struct flue_exec_result ex = {0};
	struct flue_error err = {0};
	flue_harness *h = NULL;
	flue_agent *a = NULL;
	flue_session *s = NULL;

	if (argc != 3)
		return 2;
	ho.project_dir = argv[1];
	ao.name = argv[2];
	if (flue_harness_open(&h, &ho, &err) != 0 ||
	    flue_agent_open(&a, h, &ao, &err) != 0 ||
	    flue_session_open(&s, a, "api1", &err) != 0)
		goto fail;
	co.on_event = count_event;
	if (flue_session_task(s, "api task", &co, &res, &err) != 0)
		goto fail;
	printf("task: %s in %s\n", res.text, res.session_id);
	printf("task events: start %u end %u\n", events[FLUE_EVENT_RUN_START],
	       events[FLUE_EVENT_RUN_END]);
	flue_run_result_free(&res);
	if (flue_session_shell(s, "echo from-api-shell", NULL, &ex, &err) != 0)
		goto fail;
	printf("shell: exit %d, %s", ex.exit_code,
	       (const char *)ex.stdout_data.data);
	flue_exec_result_free(&ex);
	co.result_schema_json = "{\"type\":\"array\",\"items\":"
	                        "{\"type\":\"string\"}}";
	if (flue_session_prompt(s, "list them", &co, &res, &err) != 0)
		goto fail;
	printf("typed: %s\n", res.result_json);
	flue_run_result_free(&res);
	flue_session_close(s);
	flue_agent_close(a);
	flue_harness_close(h);
	return 0;
fail:
	fprintf(stderr, "embed_calls: %s\n", err.message);
	flue_run_result_free(&res);
	flue_session_close(s);
	flue_agent_close(a);
	flue_harness_close(h);
	return 1;
}
