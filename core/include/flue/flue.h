/*
 * <flue/flue.h> -- the embedding API of libflue.
 *
 * A program opens a harness (which finds and loads plugins), opens
 * workspaces through a sandbox plugin, and runs operations in them.
 *
 * Conventions (the same as <flue/plugin.h>): functions that can fail
 * return 0 or a negative FLUE_E* code and fill a caller-owned struct
 * flue_error; out parameters come first after the object; pointers are
 * tagged [borrowed], [transferred] or [caller-owned].  Objects returned
 * through `**out` are owned by the caller and freed with their _close or
 * _free function.  A harness is used from one thread at a time; a
 * workspace's file and exec operations may run on several threads at once
 * (not with its close); cancellation handles may be triggered from any
 * thread.
 */
#ifndef FLUE_FLUE_H
#define FLUE_FLUE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <flue/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLUE_VERSION "0.1.0"

/* The library's version string ("0.1.0").  [borrowed], static. */
const char *flue_version(void);

/* ---- errors ---------------------------------------------------------- */

/* A stable lower-case name for a status code ("timed_out"). */
const char *flue_status_name(int code);
/* Fill err (may be NULL) and return code. */
int flue_error_set(struct flue_error *err, int code, const char *fmt, ...)
	FLUE_PRINTF(3, 4);
int flue_error_setv(struct flue_error *err, int code, const char *fmt,
                    va_list ap);
/* Prepend "context: " to err's message, keeping its code. */
int flue_error_prefix(struct flue_error *err, const char *fmt, ...)
	FLUE_PRINTF(2, 3);
void flue_error_clear(struct flue_error *err);

/* ---- cancellation ---------------------------------------------------- */

/* A one-shot flag that long operations watch.  trigger and is_set are
 * safe from any thread and from signal handlers. */
int flue_cancel_new(struct flue_cancel **out, struct flue_error *err);
void flue_cancel_trigger(struct flue_cancel *cancel);
int flue_cancel_is_set(const struct flue_cancel *cancel);
void flue_cancel_free(struct flue_cancel *cancel);

/* ---- memory crossing the API ----------------------------------------- */

void flue_bytes_free(struct flue_bytes *bytes);
void flue_exec_result_free(struct flue_exec_result *result);

/* ---- the harness ----------------------------------------------------- */

typedef struct flue_harness flue_harness;

/* Load every plugin found in the search path, not only the requested ones
 * (for `flue plugins`).  Refusals are reported, not returned. */
#define FLUE_HARNESS_PROBE_ALL 0x1u

struct flue_harness_options {
	uint32_t size;                    /* sizeof(struct flue_harness_options) */
	uint32_t flags;                   /* FLUE_HARNESS_* */
	const char *project_dir;          /* [borrowed] NULL: the current dir */
	const char *const *plugins;       /* [borrowed] NULL-terminated names or
	                                     paths; NULL: {"local", NULL} */
	const char *const *plugin_path;   /* [borrowed] NULL-terminated folders
	                                     searched first; may be NULL */
	const char *plugin_options_json;  /* [borrowed] {"name": {...}} options
	                                     for each plugin's create(); NULL */
	const char *source_dir;           /* [borrowed] read agents/, roles/
	                                     and skills/ from here instead of
	                                     the project's source folder (flue
	                                     dev serves a checked copy); NULL */
};

/* Open a harness: resolve and load the plugins.  A requested plugin that
 * is refused fails the open with the refusal's message. */
int flue_harness_open(flue_harness **out,
                      const struct flue_harness_options *options,
                      struct flue_error *err);
void flue_harness_close(flue_harness *harness);

/* What the loader found, for `flue plugins`.  All strings [borrowed],
 * valid until flue_harness_close(); any may be NULL when unknown. */
struct flue_plugin_report {
	const char *requested;    /* as named in the options; NULL if scanned */
	const char *path;         /* the file, NULL if not found */
	const char *origin;       /* "config", "FLUE_PLUGIN_PATH", "project",
	                             "installed" or "path" */
	const char *name;
	const char *version;
	const char *description;
	const char *kind;         /* "sandbox", "provider", "tool" */
	uint32_t abi_major;
	uint32_t abi_minor;
	int loaded;               /* 1 when usable */
	const char *refusal;      /* why it is not loaded */
};

size_t flue_harness_plugin_count(const flue_harness *harness);
const struct flue_plugin_report *flue_harness_plugin_report(
	const flue_harness *harness, size_t index);
/* The folders searched, in order, NULL-terminated.  [borrowed] */
const char *const *flue_harness_search_path(const flue_harness *harness);

/* The project's root (holds flue.yaml or .flue/) and its source folder
 * (agents/, roles/, skills/).  [borrowed] */
const char *flue_harness_project_root(const flue_harness *harness);
const char *flue_harness_source_dir(const flue_harness *harness);

/* ---- rendering: what the model would get ----------------------------- */

typedef void (*flue_warning_fn)(void *payload, const char *message);

struct flue_render_options {
	uint32_t size;              /* sizeof(struct flue_render_options) */
	uint32_t reserved;
	const char *agent;          /* [borrowed] agent name (file stem) */
	const char *role;           /* [borrowed] the call's role, or NULL */
	const char *payload_json;   /* [borrowed] JSON payload, or NULL */
	const char *cwd;            /* [borrowed] working directory in the
	                               sandbox (relative: to its default) */
	int64_t now;                /* seconds since the epoch; 0: now */
	flue_warning_fn warn;       /* skipped skills etc.; NULL: dropped */
	void *warn_payload;
};

/* [caller-owned] filled by flue_render; free with flue_rendered_free. */
struct flue_rendered {
	char *system_prompt;        /* the exact system prompt */
	size_t system_prompt_len;
	size_t fixed_bytes;         /* bytes of it that are flue's own text */
	char *tools_json;           /* JSON array of {name, description,
	                               parameters} */
	char *request_json;         /* {"model", "thinking", "system",
	                               "tools", "messages": []} */
	char *model;                /* NULL when none is configured */
	char *thinking;
	char *role;                 /* the role applied, or NULL */
	char *sandbox;              /* the sandbox plugin */
	char *cwd;                  /* the working directory used */
	size_t skills;              /* how many skills are listed */
	int context_files;          /* AGENTS.md/CLAUDE.md found (0-2) */
};

/* Load the agent, substitute the payload, open its sandbox, discover
 * AGENTS.md, CLAUDE.md and skills there, and render the system prompt
 * and tool list exactly as a run would send them. */
int flue_render(flue_harness *harness, const struct flue_render_options *options,
                struct flue_rendered *out, struct flue_error *err);
void flue_rendered_free(struct flue_rendered *rendered);

/* ---- runs: an agent solving one task -------------------------------- */

/* What a run reports as it goes (docs/MESSAGES.md, "Run events"). */
enum flue_event_type {
	FLUE_EVENT_RUN_START = 1,
	FLUE_EVENT_TEXT_DELTA = 2,
	FLUE_EVENT_THINKING_DELTA = 3,
	FLUE_EVENT_RETRY = 4,        /* forget this turn's deltas so far */
	FLUE_EVENT_TOOL_START = 5,
	FLUE_EVENT_TOOL_END = 6,
	FLUE_EVENT_TURN_END = 7,
	FLUE_EVENT_RUN_END = 8,
	FLUE_EVENT_COMPACTION_START = 9,  /* older turns are being summarised */
	FLUE_EVENT_COMPACTION_END = 10    /* done: sizes before and after */
};

/* [borrowed] for the duration of the callback.  json is the whole event
 * as one JSON object (what `flue run --stream` prints); the other members
 * are shortcuts into it for the common cases, NULL when they do not
 * apply. */
struct flue_event {
	uint32_t type;               /* enum flue_event_type */
	uint32_t turn;               /* 1-based; 0 for run_start/run_end */
	const char *json;
	size_t json_len;
	const char *text;            /* deltas, retry reason, tool result */
	size_t text_len;
	const char *tool_name;       /* tool_start, tool_end */
	const char *tool_call_id;
	int is_error;                /* tool_end */
	const char *task_id;         /* the task the event comes from (its
	                                json has task_id, parent_session and
	                                depth); NULL for the call's own */
};

/* Called one event at a time: on the thread that made the call, or, for
 * the events of a task the model started, on the thread running it. */
typedef void (*flue_event_fn)(void *payload, const struct flue_event *event);

struct flue_run_options {
	uint32_t size;               /* sizeof(struct flue_run_options) */
	uint32_t reserved;
	const char *agent;           /* [borrowed] agent name (file stem) */
	const char *session_id;      /* [borrowed] NULL: a new session */
	const char *payload_json;    /* [borrowed] the task: a JSON object
	                                whose "prompt" (or "message") is the
	                                user's message; otherwise the whole
	                                payload is */
	const char *role;            /* [borrowed] the call's role, or NULL */
	const char *model;           /* [borrowed] the call's model, or NULL */
	const char *cwd;             /* [borrowed] working directory, or NULL */
	const struct flue_cancel *cancel;  /* [borrowed] may be NULL */
	flue_event_fn on_event;      /* may be NULL */
	void *event_payload;
	flue_warning_fn warn;        /* may be NULL */
	void *warn_payload;
	int64_t now;                 /* seconds since the epoch; 0: now */
};

enum flue_run_status {
	FLUE_RUN_OK = 0,             /* the model answered without tool calls */
	FLUE_RUN_FAILED = 1,         /* an error; see the returned code */
	FLUE_RUN_CANCELED = 2,       /* the cancellation handle fired */
	FLUE_RUN_MAX_TURNS = 3       /* max_turns reached first */
};

/* [caller-owned] filled by flue_run, also when it fails (as far as the
 * run got); free with flue_run_result_free. */
struct flue_run_result {
	int status;                  /* enum flue_run_status */
	char *session_id;            /* the session (continue it with this) */
	char *text;                  /* the final answer's text, or NULL */
	char *model;                 /* the model used */
	struct flue_usage usage;     /* summed over the run's turns */
	uint32_t turns;              /* model requests answered */
	uint32_t tool_calls;         /* tool calls run */
	char *result_json;           /* the typed result (JSON) when the agent
	                                sets result: and called finish */
};

/* A shortcut for flue_agent_open + flue_session_open +
 * flue_session_prompt(text NULL) + closing both.
 * Run agent on the payload in the session: load the session's history,
 * append the user's message, and loop -- ask the model, run the tools it
 * calls, feed the results back -- until it answers without tool calls,
 * max_turns is reached, or the run is canceled.  Each message is stored
 * durably as soon as it is complete.  A session runs one at a time
 * (FLUE_EBUSY, also across processes).  Returns 0 when status is
 * FLUE_RUN_OK, else a FLUE_E* code with err filled (FLUE_ECANCELED for a
 * cancellation). */
int flue_run(flue_harness *harness, const struct flue_run_options *options,
             struct flue_run_result *out, struct flue_error *err);
void flue_run_result_free(struct flue_run_result *result);

/* ---- agents and sessions: the embedding API ------------------------- */

/* An agent of a harness, with the options its calls start from. */
typedef struct flue_agent flue_agent;
/* One conversation of an agent, by id.  Its history is stored under the
 * project's state folder and survives the process; every call appends
 * to it durably.  A session runs one call at a time (FLUE_EBUSY, also
 * across processes). */
typedef struct flue_session flue_session;

struct flue_agent_options {
	uint32_t size;               /* sizeof(struct flue_agent_options) */
	uint32_t reserved;
	const char *name;            /* [borrowed] agent name (file stem) */
	const char *role;            /* [borrowed] default role, or NULL */
	const char *model;           /* [borrowed] default model, or NULL */
	const char *thinking;        /* [borrowed] default thinking level */
	const char *cwd;             /* [borrowed] working directory */
	const char *payload_json;    /* [borrowed] input of the agent's
	                                {{payload...}} templates, or NULL */
	flue_warning_fn warn;        /* may be NULL */
	void *warn_payload;
	int64_t now;                 /* seconds since the epoch; 0: now */
};

/* Open agent options->name of harness (which must outlive it).  The
 * agent file is loaded and checked now, so a missing or broken agent
 * fails here; it is read again by each call, so edits count.  Options'
 * strings are copied. */
int flue_agent_open(flue_agent **out, flue_harness *harness,
                    const struct flue_agent_options *options,
                    struct flue_error *err);
/* [borrowed] */
const char *flue_agent_name(const flue_agent *agent);
/* The agent's description from its frontmatter, or NULL.  [borrowed] */
const char *flue_agent_description(const flue_agent *agent);
void flue_agent_close(flue_agent *agent);

/* Open (resume) session id of agent, or a new one with a fresh id when
 * id is NULL.  Nothing is written until the first call. */
int flue_session_open(flue_session **out, flue_agent *agent, const char *id,
                      struct flue_error *err);
/* [borrowed] */
const char *flue_session_id(const flue_session *session);
void flue_session_close(flue_session *session);

/* Per-call options; anything NULL or 0 falls back to the agent's. */
struct flue_call_options {
	uint32_t size;               /* sizeof(struct flue_call_options) */
	uint32_t reserved;
	const char *role;            /* [borrowed] */
	const char *model;           /* [borrowed] */
	const char *thinking;        /* [borrowed] */
	const char *cwd;             /* [borrowed] */
	const char *payload_json;    /* [borrowed] replaces the agent's */
	const char *result_schema_json;  /* [borrowed] a JSON Schema: the call
	                                ends through finish (its result in
	                                result_json) or give_up */
	int64_t max_turns;           /* 0: the agent's */
	int64_t timeout_s;           /* shell only; 0: 600 */
	const struct flue_cancel *cancel;  /* [borrowed] may be NULL */
	flue_event_fn on_event;      /* may be NULL */
	void *event_payload;
};

/* Send text as the user's message and run the agent loop until the model
 * answers without tool calls (see flue_run for out and the codes).  With
 * text NULL the message is taken from the payload, as flue_run does. */
int flue_session_prompt(flue_session *session, const char *text,
                        const struct flue_call_options *options,
                        struct flue_run_result *out, struct flue_error *err);
/* Run skill name (one of the agent's skills, or a builtin one named
 * explicitly) with args_json (a JSON value, or NULL) as the task.  A
 * missing skill is FLUE_ENOENT listing the ones there are. */
int flue_session_skill(flue_session *session, const char *name,
                       const char *args_json,
                       const struct flue_call_options *options,
                       struct flue_run_result *out, struct flue_error *err);
/* Run text in a new child session of this one (its id is in
 * out->session_id): the same agent and sandbox, its own history,
 * AGENTS.md and skills found from its cwd.  The model does the same
 * through the task tool. */
int flue_session_task(flue_session *session, const char *text,
                      const struct flue_call_options *options,
                      struct flue_run_result *out, struct flue_error *err);
/* Summarise the session's older turns now, as a long session does by
 * itself near the model's context window: the model's view becomes the
 * summary plus the recent turns kept verbatim; the history on disk keeps
 * everything.  FLUE_ENOENT when there is nothing old enough.  The
 * compaction events say the sizes before and after; out->usage is the
 * summary's cost. */
int flue_session_compact(flue_session *session,
                         const struct flue_call_options *options,
                         struct flue_run_result *out, struct flue_error *err);
/* Run command with bash in the session's sandbox and record it in the
 * history as if the model had run it, so the model sees it next time.
 * *out [caller-owned]: free with flue_exec_result_free. */
int flue_session_shell(flue_session *session, const char *command,
                       const struct flue_call_options *options,
                       struct flue_exec_result *out, struct flue_error *err);

/* ---- the HTTP server ------------------------------------------------- */

/* Serves a harness's agents over HTTP: POST /agents/<agent>/<id> runs
 * one (JSON, server-sent events, or 202 and run records), GET /runs/...
 * reads run records, and more (docs/SERVER.md). */
typedef struct flue_server flue_server;

struct flue_server_options {
	uint32_t size;               /* sizeof(struct flue_server_options) */
	uint32_t reserved;
	const char *host;            /* [borrowed] NULL: flue.yaml, 127.0.0.1 */
	int port;                    /* 0: flue.yaml, 3583; -1: any free one */
	const char *token;           /* [borrowed] the bearer token; NULL: the
	                                variable server.api_token_env names
	                                (FLUE_API_TOKEN) */
	int64_t max_body_bytes;      /* 0: flue.yaml, 1 MiB */
	int64_t max_concurrent_runs; /* 0: flue.yaml, 64 */
	int64_t heartbeat_ms;        /* SSE comment interval; 0: 15000 */
	int64_t grace_ms;            /* shutdown: how long runs may finish
	                                before they are cancelled; 0: 30000 */
	flue_warning_fn log;         /* one line per run and problem; NULL */
	void *log_payload;
};

/* Start serving harness (which must outlive the server) on its own
 * threads.  Listening beyond loopback needs a token. */
int flue_server_open(flue_server **out, flue_harness *harness,
                     const struct flue_server_options *options,
                     struct flue_error *err);
int flue_server_port(const flue_server *server);
/* "http://127.0.0.1:3583".  [borrowed] */
const char *flue_server_url(const flue_server *server);
int64_t flue_server_active_runs(flue_server *server);
/* Serve harness from now on ([transferred]: the server closes it when
 * it is replaced again or the server closes).  Runs already going keep
 * the harness they started with.  flue dev calls this after an edit. */
void flue_server_reload(flue_server *server, flue_harness *harness);
/* Stop accepting connections, let running runs finish for grace_ms,
 * cancel the rest and wait for them (every completed message is
 * stored), then close.  Safe to call once from any thread. */
void flue_server_shutdown(flue_server *server);
/* Shut down if needed and free. */
void flue_server_close(flue_server *server);

/* ---- remote sandboxes ------------------------------------------------ */

/* What a sandbox plugin with the "flue.sandbox.manage" interface (such
 * as vercel) manages remotely: the sandboxes flue made and the snapshots
 * it keeps.  A plugin without it gives FLUE_ENOTSUP.  ids are what list
 * reports; *out_snapshot_id is freed with free(). */
int flue_sandbox_list(flue_harness *harness, const char *sandbox,
                      flue_sandbox_entry_fn fn, void *payload,
                      struct flue_error *err);
int flue_sandbox_stop(flue_harness *harness, const char *sandbox,
                      const char *id, struct flue_error *err);
int flue_sandbox_snapshot(flue_harness *harness, const char *sandbox,
                          const char *id, char **out_snapshot_id,
                          struct flue_error *err);
int flue_sandbox_remove(flue_harness *harness, const char *sandbox,
                        const char *id, struct flue_error *err);

/* ---- workspaces ------------------------------------------------------ */

typedef struct flue_workspace flue_workspace;

/* Open a workspace for session_id through the sandbox plugin named
 * sandbox ("local" when NULL), with options_json ("{}" when NULL). */
int flue_workspace_open(flue_workspace **out, flue_harness *harness,
                        const char *sandbox, const char *session_id,
                        const char *options_json, struct flue_error *err);
int flue_workspace_close(flue_workspace *workspace, struct flue_error *err);
/* The absolute working directory.  [borrowed] */
const char *flue_workspace_dir(const flue_workspace *workspace);

int flue_workspace_exec(flue_workspace *workspace,
                        const struct flue_exec_request *request,
                        struct flue_exec_result *out, struct flue_error *err);
int flue_workspace_read_file(flue_workspace *workspace, const char *path,
                             struct flue_bytes *out, struct flue_error *err);
int flue_workspace_write_file(flue_workspace *workspace, const char *path,
                              const void *data, size_t len,
                              struct flue_error *err);
int flue_workspace_stat(flue_workspace *workspace, const char *path,
                        struct flue_stat *out, struct flue_error *err);
int flue_workspace_list_dir(flue_workspace *workspace, const char *path,
                            flue_dirent_fn fn, void *payload,
                            struct flue_error *err);
int flue_workspace_exists(flue_workspace *workspace, const char *path,
                          int *out_exists, struct flue_error *err);
int flue_workspace_mkdir(flue_workspace *workspace, const char *path,
                         uint32_t flags, struct flue_error *err);
int flue_workspace_remove(flue_workspace *workspace, const char *path,
                          uint32_t flags, struct flue_error *err);

#ifdef __cplusplus
}
#endif

#endif /* FLUE_FLUE_H */
