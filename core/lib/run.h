/* One call on a session: what flue_session_prompt, _skill and _task (and
 * flue_run) come down to, and what a model-invoked task runs in its
 * child.  The loop itself is in run.c, shell and compaction in their own
 * files. */
#ifndef FLUE_LIB_RUN_H
#define FLUE_LIB_RUN_H

#include <pthread.h>
#include <stdint.h>

#include <flue/flue.h>

/* Where a call's events and warnings go.  A call and its tasks share one
 * sink, so the caller's callbacks run one at a time even when tasks run
 * on several threads. */
struct flue_event_sink {
	pthread_mutex_t lock;
	flue_event_fn on_event;      /* may be NULL */
	void *event_payload;
	flue_warning_fn warn;        /* may be NULL */
	void *warn_payload;
};

#define FLUE_DEFAULT_TASK_DEPTH 4

/* Every member [borrowed] for the duration of the call. */
struct flue_call {
	flue_harness *harness;
	const char *agent;
	const char *session_id;      /* NULL: a new session */
	const char *payload_json;    /* input of the agent's templates */
	const char *text;            /* the user's message; NULL: taken from
	                                the payload ("prompt" or "message",
	                                else the whole payload) */
	const char *skill;           /* run this skill instead of text */
	const char *skill_args_json; /* its arguments, or NULL */
	const char *role;
	const char *model;
	const char *thinking;
	const char *cwd;
	const char *result_schema_json;   /* overrides the agent's result: */
	int64_t max_turns;           /* 0: the agent's, flue.yaml's, 100 */
	int compact_only;            /* summarise the session's older turns
	                                now; no message, no loop */
	const struct flue_cancel *cancel;
	flue_event_fn on_event;
	void *event_payload;
	flue_warning_fn warn;
	void *warn_payload;
	int64_t now;
	/* A task's child: the parent's sandbox, sink and place in the tree. */
	flue_workspace *workspace;   /* NULL: open the agent's sandbox */
	struct flue_event_sink *sink;  /* NULL: the call makes its own */
	uint32_t depth;              /* 0 for a call from the API */
	const char *parent_session;
	const char *task_id;
};

/* Run call; see flue_run in <flue/flue.h> for what out holds. */
int flue_call_run(const struct flue_call *call, struct flue_run_result *out,
                  struct flue_error *err);

/* Run command in call's session's sandbox (call->session_id required;
 * agent, payload_json, cwd, cancel and warn are used) and record it as
 * if the model had called bash: a user message showing the command, an
 * assistant tool call and its result.  *out [caller-owned]. */
int flue_call_shell(const struct flue_call *call, const char *command,
                    int64_t timeout_s, struct flue_exec_result *out,
                    struct flue_error *err);

/* A fresh session id ("20261123-014501-3fa2c9d1"), [caller-owned]. */
char *flue_session_id_new(void);

#define FLUE_TASK_ID_LEN 12
/* A new task id (hex) into task_id, and its session's id under parent:
 * "<parent>.task-<task id>" ([caller-owned]; NULL when out of memory). */
char *flue_task_session_id(const char *parent,
                           char task_id[FLUE_TASK_ID_LEN + 1]);

/* The sink's callbacks, under its lock. */
void flue_sink_event(struct flue_event_sink *sink,
                     const struct flue_event *event);
void flue_sink_warn(struct flue_event_sink *sink, const char *message);

#endif
