/* Embedding flue: run an agent of a project on a prompt, in a session
 * that a later run can continue.  Usage: embed PROJECT AGENT PROMPT [ID] */
#include <stdio.h>

#include <flue/flue.h>

int
main(int argc, char **argv)
{
	struct flue_harness_options ho = {.size = sizeof(ho)};
	struct flue_agent_options ao = {.size = sizeof(ao)};
	struct flue_run_result res = {0};
	struct flue_error err = {0};
	flue_harness *harness = NULL;
	flue_agent *agent = NULL;
	flue_session *session = NULL;
	int failed;

	if (argc < 4) {
		fprintf(stderr, "usage: embed PROJECT AGENT PROMPT [ID]\n");
		return 2;
	}
	ho.project_dir = argv[1];
	ao.name = argv[2];
	failed = flue_harness_open(&harness, &ho, &err) != 0 ||
	         flue_agent_open(&agent, harness, &ao, &err) != 0 ||
	         flue_session_open(&session, agent, argc > 4 ? argv[4] : NULL,
	                           &err) != 0 ||
	         flue_session_prompt(session, argv[3], NULL, &res, &err) != 0;
	if (failed)
		fprintf(stderr, "embed: %s\n", err.message);
	else
		printf("%s\n(session %s, %u turns)\n", res.text, res.session_id,
		       res.turns);
	flue_run_result_free(&res);
	flue_session_close(session);
	flue_agent_close(agent);
	flue_harness_close(harness);
	return failed;
}
