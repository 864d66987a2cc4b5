/*
 * vercel -- a sandbox plugin running each session in a Vercel Sandbox
 * MicroVM over Vercel's REST API (v2, and v3 to boot from snapshots).
 *
 * A workspace is one named sandbox, "flue-<session>-<hash>" unless the
 * options name it.  open() creates it (cloning the source and running
 * setup commands), boots it from a snapshot of an earlier setup
 * (`snapshot: reuse`), or resumes a kept one; close() stops and deletes
 * it unless `keep: true`.  Commands go through the waiting ndjson stream;
 * files through fs/read and gzip'd tar uploads; stat, listings, mkdir and
 * rm through commands, as Vercel's own SDK does.  A session that stopped
 * under us (410/422) is resumed and the call tried once more.
 *
 * Threading: operations of one workspace run concurrently; the session
 * id (which a resume changes) is guarded by the workspace's mutex.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "vercel.h"

#define VC_OUTPUT_LIMIT ((size_t)16 << 20)
#define VC_FS_OUTPUT_LIMIT ((size_t)64 << 20)
#define VC_DEADLINE_GRACE_MS 5000      /* past the server's own timeout */
#define VC_ATTACH_WINDOW_MS 10000      /* clock skew allowed when a
                                          retried command is looked for */

struct vc_instance {
	const struct flue_host *host;      /* borrowed */
	struct vc_config config;
	struct vc_client *client;
	char *state_dir;                   /* NULL without a project */
};

struct vc_workspace {
	struct vc_instance *inst;          /* borrowed */
	struct vc_options opts;
	char *name;                        /* the sandbox's name */
	char *project_query;               /* "projectId=..." */
	char *workdir;
	char **port_env;                   /* "FLUE_PORT_<n>_URL=..." */
	size_t n_port_env;
	pthread_mutex_t lock;              /* guards session_id */
	char session_id[128];
	char *session_cwd;                 /* the API's cwd for the session */
};

static int
nomem(const struct vc_instance *inst, struct flue_error *err)
{
	return vc_nomem(inst->host, err);
}

static char *
json_text(json_object *obj)
{
	return strdup(json_object_to_json_string_ext(obj,
	              JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static const char *
get_string(json_object *obj, const char *key)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *
get_object(json_object *obj, const char *key)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* Single quotes for bash. */
static char *
shell_quote(const char *s)
{
	size_t n = 2;
	char *out, *p;

	for (const char *c = s; *c; c++)
		n += *c == '\'' ? 4 : 1;
	out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	p = out;
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

static void
session_get(struct vc_workspace *ws, char *buf, size_t size)
{
	pthread_mutex_lock(&ws->lock);
	snprintf(buf, size, "%s", ws->session_id);
	pthread_mutex_unlock(&ws->lock);
}

/* Adopt {sandbox, session, routes} from create or get. */
static int
adopt(struct vc_workspace *ws, json_object *answer, struct flue_error *err)
{
	const struct flue_host *host = ws->inst->host;
	json_object *session = get_object(answer, "session"), *routes;
	const char *id = get_string(session, "id");
	const char *cwd = get_string(session, "cwd");

	if (id == NULL || strlen(id) >= sizeof(ws->session_id))
		return host->error_set(err, FLUE_EIO,
		        "vercel: the answer about sandbox %s has no session id",
		        ws->name);
	pthread_mutex_lock(&ws->lock);
	snprintf(ws->session_id, sizeof(ws->session_id), "%s", id);
	pthread_mutex_unlock(&ws->lock);
	if (ws->session_cwd == NULL) {
		ws->session_cwd = strdup(cwd ? cwd : "/vercel/sandbox");
		if (ws->session_cwd == NULL)
			return nomem(ws->inst, err);
	}
	if (json_object_object_get_ex(answer, "routes", &routes) &&
	    json_object_is_type(routes, json_type_array) &&
	    ws->port_env == NULL) {
		size_t n = json_object_array_length(routes);

		ws->port_env = calloc(n + 1, sizeof(char *));
		if (ws->port_env == NULL)
			return nomem(ws->inst, err);
		for (size_t i = 0; i < n; i++) {
			json_object *r = json_object_array_get_idx(routes, i), *p;
			const char *url = get_string(r, "url");
			char *line;

			if (url == NULL || !json_object_object_get_ex(r, "port", &p))
				continue;
			if (asprintf(&line, "FLUE_PORT_%d_URL=%s",
			             json_object_get_int(p), url) < 0)
				return nomem(ws->inst, err);
			ws->port_env[ws->n_port_env++] = line;
			/* Shown by default: the user needs the address. */
			host->log(host, FLUE_LOG_WARN, "sandbox %s: port %d is %s",
			          ws->name, json_object_get_int(p), url);
		}
	}
	return 0;
}

static int
api(struct vc_workspace *ws, struct vc_request *req, struct vc_response *resp,
    struct flue_error *err)
{
	return vc_call(ws->inst->client, req, resp, err);
}

/* GET the named sandbox (resuming a stopped session).  FLUE_ENOENT when
 * there is none. */
static int
fetch_named(struct vc_instance *inst, const char *sandbox,
            const char *project_query, int resume, json_object **out,
            struct flue_error *err)
{
	struct vc_request req = {0};
	struct vc_response resp;
	char *name = vc_escape(sandbox), *path = NULL, *query = NULL;
	int rc;

	*out = NULL;
	if (name == NULL || asprintf(&path, "/v2/sandboxes/%s", name) < 0 ||
	    asprintf(&query, "%s%s", project_query,
	             resume ? "&resume=true" : "") < 0) {
		free(name);
		free(path);
		return nomem(inst, err);
	}
	req.method = "GET";
	req.what = resume ? "resume the sandbox" : "look the sandbox up";
	req.path = path;
	req.query = query;
	req.idempotent = 1;
	rc = vc_call(inst->client, &req, &resp, err);
	if (rc == 0)
		*out = json_object_get(resp.json);
	vc_response_clear(inst->host, &resp);
	free(name);
	free(path);
	free(query);
	return rc;
}

/* A session that stopped (410) or is stopping (422) is resumed. */
static int
stopped_answer(const struct vc_response *resp)
{
	return (resp->status == 410 && strcmp(resp->code, "sandbox_stopped") == 0)
	       || resp->status == 422;
}

static int
resume(struct vc_workspace *ws, struct flue_error *err)
{
	const struct flue_host *host = ws->inst->host;
	json_object *answer;
	int rc;

	host->log(host, FLUE_LOG_INFO, "sandbox %s stopped; resuming it",
	          ws->name);
	rc = fetch_named(ws->inst, ws->name, ws->project_query, 1, &answer, err);
	if (rc == 0)
		rc = adopt(ws, answer, err);
	json_object_put(answer);
	if (rc != 0) {
		char copy[FLUE_ERROR_MESSAGE_MAX];

		snprintf(copy, sizeof(copy), "%s", err->message);
		host->error_set(err, rc, "the sandbox stopped and could not be "
		                "resumed: %s", copy);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

struct outbuf {
	char *data;
	size_t len, cap, limit;
	uint64_t dropped;
};

struct run {
	struct vc_workspace *ws;
	const struct flue_host *host;
	const char *command;              /* [borrowed] */
	char session[128];
	char cmd_id[128];
	int started, finished, exit_code;
	int lines;
	int kill_wanted, kill_sent, deadline_hit;
	char stream_error[64];
	char stream_message[300];
	struct outbuf out[2];
	flue_output_fn on_output;
	void *payload;
	struct flue_error *err;
};

static int
outbuf_add(struct outbuf *b, const char *data, size_t len)
{
	if (len >= b->limit) {
		b->dropped += b->len + (len - b->limit);
		data += len - b->limit;
		len = b->limit;
		b->len = 0;
	} else if (b->len + len > b->limit) {
		size_t drop = b->len + len - b->limit;

		memmove(b->data, b->data + drop, b->len - drop);
		b->len -= drop;
		b->dropped += drop;
	}
	if (vc_grow(&b->data, &b->cap, b->len + len + 1) != 0)
		return FLUE_ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static void
send_kill(struct run *r)
{
	struct vc_request req = {0};
	struct vc_response resp;
	struct flue_error kerr = {0};
	char path[400];

	if (r->cmd_id[0] == '\0' || r->kill_sent)
		return;
	r->kill_sent = 1;
	snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/cmd/%s/kill",
	         r->session, r->cmd_id);
	req.method = "POST";
	req.what = "kill the command";
	req.path = path;
	req.body = "{\"signal\":9}";
	req.idempotent = 1;
	if (api(r->ws, &req, &resp, &kerr) != 0)
		r->host->log(r->host, FLUE_LOG_WARN, "%s", kerr.message);
	vc_response_clear(r->host, &resp);
}

static void
on_cancel(void *arg)
{
	struct run *r = arg;

	r->kill_wanted = 1;
	send_kill(r);
}

static void
on_deadline(void *arg)
{
	struct run *r = arg;

	r->deadline_hit = 1;
	r->kill_wanted = 1;
	send_kill(r);
}

static int
command_line(struct run *r, json_object *cmd)
{
	json_object *code;
	const char *id = get_string(cmd, "id");

	if (id != NULL && r->cmd_id[0] == '\0')
		snprintf(r->cmd_id, sizeof(r->cmd_id), "%s", id);
	if (json_object_object_get_ex(cmd, "exitCode", &code) &&
	    (json_object_is_type(code, json_type_int) ||
	     json_object_is_type(code, json_type_double))) {
		r->finished = 1;
		r->exit_code = json_object_get_int(code);
	} else {
		r->started = 1;
		if (r->kill_wanted)
			send_kill(r);
	}
	return 0;
}

static int
on_line(void *arg, const char *line, size_t len)
{
	struct run *r = arg;
	struct json_tokener *tok = json_tokener_new();
	json_object *obj, *cmd, *data;
	const char *stream;

	if (tok == NULL)
		return vc_nomem(r->host, r->err);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	json_tokener_free(tok);
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return r->host->error_set(r->err, FLUE_EIO,
		        "vercel: run a command: the stream sent a line that is not "
		        "a JSON object: %.80s", line);
	}
	r->lines++;
	if ((cmd = get_object(obj, "command")) != NULL) {
		command_line(r, cmd);
	} else if ((stream = get_string(obj, "stream")) != NULL &&
	           json_object_object_get_ex(obj, "data", &data)) {
		if (strcmp(stream, "error") == 0) {
			const char *code = get_string(data, "code");
			const char *msg = get_string(data, "message");

			snprintf(r->stream_error, sizeof(r->stream_error), "%s",
			         code ? code : "error");
			snprintf(r->stream_message, sizeof(r->stream_message), "%s",
			         msg ? msg : "");
		} else if (json_object_is_type(data, json_type_string)) {
			int which = strcmp(stream, "stderr") == 0 ? 1 : 0;
			const char *text = json_object_get_string(data);
			size_t n = (size_t)json_object_get_string_len(data);

			if (outbuf_add(&r->out[which], text, n) != 0) {
				json_object_put(obj);
				return vc_nomem(r->host, r->err);
			}
			if (r->on_output != NULL && n > 0)
				r->on_output(r->payload, which + 1, text, n);
		}
	}
	json_object_put(obj);
	return 0;
}

struct run_spec {
	const char *command;
	const char *cwd;                  /* absolute, or NULL */
	const char *const *env;
	uint64_t timeout_ms;
	int sudo;
	size_t output_limit;
	const struct flue_cancel *cancel;
	flue_output_fn on_output;
	void *payload;
};

static json_object *
command_body(struct vc_workspace *ws, const struct run_spec *s, int wait)
{
	json_object *body = json_object_new_object(), *args, *env;

	args = json_object_new_array();
	json_object_array_add(args, json_object_new_string("-c"));
	json_object_array_add(args, json_object_new_string(s->command));
	env = json_object_new_object();
	for (size_t i = 0; i < ws->n_port_env; i++) {
		const char *eq = strchr(ws->port_env[i], '=');

		if (eq != NULL) {
			char *name = strndup(ws->port_env[i],
			                     (size_t)(eq - ws->port_env[i]));

			if (name != NULL)
				json_object_object_add(env, name,
				                       json_object_new_string(eq + 1));
			free(name);
		}
	}
	for (size_t i = 0; s->env != NULL && s->env[i] != NULL; i++) {
		const char *eq = strchr(s->env[i], '=');
		char *name;

		if (eq == NULL)
			continue;
		name = strndup(s->env[i], (size_t)(eq - s->env[i]));
		if (name != NULL)
			json_object_object_add(env, name,
			                       json_object_new_string(eq + 1));
		free(name);
	}
	json_object_object_add(body, "command", json_object_new_string("bash"));
	json_object_object_add(body, "args", args);
	if (s->cwd != NULL)
		json_object_object_add(body, "cwd", json_object_new_string(s->cwd));
	json_object_object_add(body, "env", env);
	json_object_object_add(body, "sudo", json_object_new_boolean(s->sudo));
	if (s->timeout_ms > 0)
		json_object_object_add(body, "timeout",
		                       json_object_new_int64((int64_t)s->timeout_ms));
	if (wait) {
		json_object_object_add(body, "wait", json_object_new_boolean(1));
		json_object_object_add(body, "logs", json_object_new_boolean(1));
	}
	return body;
}

/* After a 5xx or a drop on POST /cmd, the command may be running.  Find
 * it in the session's list: same argv, started since we sent it. */
static int
find_started(struct vc_workspace *ws, const struct run_spec *s,
             const char *session, int64_t sent_epoch_ms, char *out_id,
             size_t size, struct flue_error *err)
{
	struct vc_request req = {0};
	struct vc_response resp;
	json_object *list;
	char path[300];
	int64_t best = -1;
	int rc;

	out_id[0] = '\0';
	snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/cmd", session);
	req.method = "GET";
	req.what = "check whether the command started";
	req.path = path;
	req.idempotent = 1;
	rc = api(ws, &req, &resp, err);
	if (rc == 0 && json_object_object_get_ex(resp.json, "commands", &list) &&
	    json_object_is_type(list, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			json_object *c = json_object_array_get_idx(list, i), *args, *t;
			int64_t started;

			if (!json_object_object_get_ex(c, "args", &args) ||
			    json_object_array_length(args) != 2 ||
			    strcmp(json_object_get_string(
			           json_object_array_get_idx(args, 1)), s->command) != 0)
				continue;
			if (!json_object_object_get_ex(c, "startedAt", &t))
				continue;
			if (s->cwd != NULL && get_string(c, "cwd") != NULL &&
			    strcmp(get_string(c, "cwd"), s->cwd) != 0)
				continue;
			started = json_object_get_int64(t);
			if (started + VC_ATTACH_WINDOW_MS < sent_epoch_ms ||
			    started <= best || get_string(c, "id") == NULL)
				continue;
			best = started;
			snprintf(out_id, size, "%s", get_string(c, "id"));
		}
	}
	vc_response_clear(ws->inst->host, &resp);
	return rc;
}

/* Follow a command that is already running: its logs, then its exit. */
static int
attach(struct run *r, const struct run_spec *s, struct flue_error *err)
{
	struct vc_request req = {0};
	struct vc_response resp;
	char path[400];
	int rc;

	snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/cmd/%s/logs",
	         r->session, r->cmd_id);
	req.method = "GET";
	req.what = "follow the command's output";
	req.path = path;
	req.body_kind = VC_BODY_NDJSON;
	req.on_line = on_line;
	req.line_arg = r;
	req.cancel = s->cancel;
	req.on_cancel = on_cancel;
	rc = api(r->ws, &req, &resp, err);
	vc_response_clear(r->host, &resp);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/cmd/%s",
	         r->session, r->cmd_id);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.what = "wait for the command";
	req.path = path;
	req.query = "wait=true";
	req.idempotent = 1;
	req.cancel = s->cancel;
	rc = api(r->ws, &req, &resp, err);
	if (rc == 0) {
		json_object *cmd = get_object(resp.json, "command");

		if (cmd != NULL)
			command_line(r, cmd);
	}
	vc_response_clear(r->host, &resp);
	return rc;
}

static void
run_clear(struct run *r)
{
	free(r->out[0].data);
	free(r->out[1].data);
	memset(r->out, 0, sizeof(r->out));
}

/* Run s, filling out (exit code, output).  The heart of exec and of the
 * file operations done by commands. */
static int
run_command(struct vc_workspace *ws, const struct run_spec *s,
            struct flue_exec_result *out, struct flue_error *err)
{
	const struct flue_host *host = ws->inst->host;
	size_t limit = s->output_limit ? s->output_limit : VC_OUTPUT_LIMIT;
	int resumed = 0, resent = 0, rc;
	int64_t t0 = vc_now_ms();
	struct run r;

	for (;;) {
		struct vc_request req = {0};
		struct vc_response resp;
		json_object *body = command_body(ws, s, 1);
		char path[300], *text = body ? json_text(body) : NULL;
		int64_t sent_epoch = vc_epoch_ms();

		json_object_put(body);
		if (text == NULL)
			return nomem(ws->inst, err);
		memset(&r, 0, sizeof(r));
		r.ws = ws;
		r.host = host;
		r.command = s->command;
		r.out[0].limit = r.out[1].limit = limit;
		r.on_output = s->on_output;
		r.payload = s->payload;
		r.err = err;
		session_get(ws, r.session, sizeof(r.session));
		snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/cmd",
		         r.session);
		req.method = "POST";
		req.what = "run a command";
		req.path = path;
		req.body = text;
		req.body_kind = VC_BODY_NDJSON;
		req.on_line = on_line;
		req.line_arg = &r;
		req.cancel = s->cancel;
		req.on_cancel = on_cancel;
		if (s->timeout_ms > 0) {
			req.deadline_ms = t0 + (int64_t)s->timeout_ms +
			                  VC_DEADLINE_GRACE_MS;
			req.on_deadline = on_deadline;
		}
		rc = api(ws, &req, &resp, err);
		free(text);
		if (rc != 0 && !resp.body_started && !resumed &&
		    stopped_answer(&resp)) {
			vc_response_clear(host, &resp);
			run_clear(&r);
			resumed = 1;
			if ((rc = resume(ws, err)) != 0)
				return rc;
			continue;
		}
		if (rc == FLUE_ERETRY && resp.sent && !resp.body_started &&
		    !resent) {
			/* It may have started: look before sending it again. */
			char copy[FLUE_ERROR_MESSAGE_MAX];

			snprintf(copy, sizeof(copy), "%s", err->message);
			vc_response_clear(host, &resp);
			resent = 1;
			rc = find_started(ws, s, r.session, sent_epoch, r.cmd_id,
			                  sizeof(r.cmd_id), err);
			if (rc != 0) {
				run_clear(&r);
				return rc;
			}
			if (r.cmd_id[0] == '\0') {
				host->log(host, FLUE_LOG_INFO, "%s; the command did not "
				          "start, sending it again", copy);
				run_clear(&r);
				continue;
			}
			host->log(host, FLUE_LOG_INFO, "%s; the command started "
			          "anyway (%s), following it", copy, r.cmd_id);
			r.started = 1;
			rc = attach(&r, s, err);
		} else {
			vc_response_clear(host, &resp);
		}
		break;
	}
	if (r.kill_wanted && !r.deadline_hit) {
		run_clear(&r);
		return host->error_set(err, FLUE_ECANCELED,
		                       "vercel: the command was canceled%s",
		                       r.kill_sent ? " and killed in the sandbox" :
		                       "");
	}
	if (rc == 0 && !r.finished && r.stream_error[0] != '\0')
		rc = host->error_set(err, FLUE_EIO,
		        "vercel: run a command: the sandbox ended the stream with "
		        "%s%s%s", r.stream_error, r.stream_message[0] ? ": " : "",
		        r.stream_message);
	else if ((rc == 0 || rc == FLUE_EIO) && !r.finished && !r.deadline_hit) {
		char why[FLUE_ERROR_MESSAGE_MAX / 2];

		snprintf(why, sizeof(why), "%.400s", rc ? err->message : "");
		rc = host->error_set(err, FLUE_EIO,
		        "vercel: run a command: stream ended early: the answer "
		        "stopped after %d line%s, before the command finished%s%s; "
		        "its outcome is unknown%s%s%s", r.lines,
		        r.lines == 1 ? "" : "s", why[0] ? " (" : "", why,
		        why[0] ? ")" : "", r.cmd_id[0] ? " (command " : "",
		        r.cmd_id[0] ? r.cmd_id : "");
		if (r.cmd_id[0] != '\0' &&
		    strlen(err->message) + 2 < sizeof(err->message))
			strcat(err->message, ")");
	}
	if (rc != 0) {
		run_clear(&r);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	out->exit_code = r.finished ? r.exit_code : 137;
	out->duration_ms = (uint64_t)(vc_now_ms() - t0);
	if (s->timeout_ms > 0 && (r.deadline_hit || (out->exit_code == 137 &&
	    out->duration_ms + 50 >= s->timeout_ms))) {
		char note[160];

		snprintf(note, sizeof(note), "[flue] command timed out after %"
		         PRIu64 " ms; the sandbox killed it (exit 137)\n",
		         s->timeout_ms);
		outbuf_add(&r.out[1], note, strlen(note));
		out->exit_code = 124;
		out->timed_out = 1;
	}
	for (int i = 0; i < 2; i++) {
		struct flue_bytes *b = i ? &out->stderr_data : &out->stdout_data;

		b->data = host->alloc(r.out[i].len + 1);
		if (b->data == NULL) {
			host->free(out->stdout_data.data);
			memset(out, 0, sizeof(*out));
			run_clear(&r);
			return nomem(ws->inst, err);
		}
		if (r.out[i].len)
			memcpy(b->data, r.out[i].data, r.out[i].len);
		b->data[r.out[i].len] = '\0';
		b->len = r.out[i].len;
	}
	out->stdout_dropped = r.out[0].dropped;
	out->stderr_dropped = r.out[1].dropped;
	run_clear(&r);
	return 0;
}

static void
result_clear(const struct flue_host *host, struct flue_exec_result *res)
{
	host->free(res->stdout_data.data);
	host->free(res->stderr_data.data);
	memset(res, 0, sizeof(*res));
}

/* A command for a file operation; the caller frees res. */
static int
fs_command(struct vc_workspace *ws, const char *script,
           struct flue_exec_result *res, struct flue_error *err)
{
	struct run_spec s = {0};

	s.command = script;
	s.output_limit = VC_FS_OUTPUT_LIMIT;
	return run_command(ws, &s, res, err);
}

/* What a failed file command's stderr says, as a FLUE_E* code. */
static int
fs_error(struct vc_workspace *ws, const char *op, const char *path,
         const struct flue_exec_result *res, struct flue_error *err)
{
	const char *text = (const char *)res->stderr_data.data;
	int code = FLUE_EIO;
	size_t n = strlen(text);

	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	if (strstr(text, "No such file"))
		code = FLUE_ENOENT;
	else if (strstr(text, "Not a directory") || strstr(text, "not a directory"))
		code = FLUE_ENOTDIR;
	else if (strstr(text, "Is a directory"))
		code = FLUE_EISDIR;
	else if (strstr(text, "not empty"))
		code = FLUE_ENOTEMPTY;
	else if (strstr(text, "File exists"))
		code = FLUE_EEXIST;
	else if (strstr(text, "Permission denied") ||
	         strstr(text, "not permitted"))
		code = FLUE_EACCES;
	return ws->inst->host->error_set(err, code, "%s %s: %.*s", op, path,
	                                 (int)(n > 300 ? 300 : n), n ? text :
	                                 "failed without a message");
}

/* ------------------------------------------------------------------ */
/* Creating and ending sandboxes                                       */
/* ------------------------------------------------------------------ */

static int
delete_named(struct vc_instance *inst, const char *name,
             const char *project_query, struct flue_error *err)
{
	struct vc_request req = {0};
	struct vc_response resp;
	char *esc = vc_escape(name), *path = NULL;
	int rc;

	if (esc == NULL || asprintf(&path, "/v2/sandboxes/%s", esc) < 0) {
		free(esc);
		return nomem(inst, err);
	}
	req.method = "DELETE";
	req.what = "delete the sandbox";
	req.path = path;
	req.query = project_query;
	req.idempotent = 1;
	rc = vc_call(inst->client, &req, &resp, err);
	vc_response_clear(inst->host, &resp);
	free(esc);
	free(path);
	return rc;
}

static int
stop_session(struct vc_instance *inst, const char *session,
             struct flue_error *err)
{
	struct vc_request req = {0};
	struct vc_response resp;
	char path[300];
	int rc;

	snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/stop", session);
	req.method = "POST";
	req.what = "stop the sandbox";
	req.path = path;
	req.idempotent = 1;   /* stopping twice is harmless */
	rc = vc_call(inst->client, &req, &resp, err);
	vc_response_clear(inst->host, &resp);
	return rc;
}

static json_object *
create_body(struct vc_workspace *ws, const char *name, const char *snapshot)
{
	const struct vc_options *o = &ws->opts;
	json_object *b = json_object_new_object(), *res, *tags;

	json_object_object_add(b, "projectId", json_object_new_string(
	                       vc_client_auth(ws->inst->client)->project_id));
	json_object_object_add(b, "name", json_object_new_string(name));
	json_object_object_add(b, "ports", json_object_get(o->ports));
	if (snapshot != NULL) {
		json_object *src = json_object_new_object();

		json_object_object_add(src, "type",
		                       json_object_new_string("snapshot"));
		json_object_object_add(src, "snapshotId",
		                       json_object_new_string(snapshot));
		json_object_object_add(b, "source", src);
	} else if (o->source != NULL) {
		json_object_object_add(b, "source", json_object_get(o->source));
	}
	json_object_object_add(b, "timeout", json_object_new_int64(o->timeout_ms));
	if (o->vcpus > 0) {
		res = json_object_new_object();
		json_object_object_add(res, "vcpus", json_object_new_int(o->vcpus));
		json_object_object_add(b, "resources", res);
	}
	if (snapshot == NULL)
		json_object_object_add(b, "runtime",
		                       json_object_new_string(o->runtime));
	if (o->network != NULL)
		json_object_object_add(b, "networkPolicy",
		                       json_object_get(o->network));
	if (json_object_object_length(o->env) > 0)
		json_object_object_add(b, "env", json_object_get(o->env));
	tags = json_object_new_object();
	json_object_object_foreach(o->tags, k, v)
		json_object_object_add(tags, k, json_object_get(v));
	if (json_object_object_length(tags) < 5 &&
	    !json_object_object_get_ex(tags, "flue", NULL))
		json_object_object_add(tags, "flue", json_object_new_string("1"));
	json_object_object_add(b, "tags", tags);
	if (o->keep)
		json_object_object_add(b, "persistent", json_object_new_boolean(1));
	return b;
}

/* POST a create; after a 5xx or a drop, the named sandbox is looked up
 * before anything is sent again.  A leftover of the same name (a run
 * that died) is deleted and the create tried once more. */
static int
create_named(struct vc_workspace *ws, const char *name, const char *snapshot,
             json_object **out, struct vc_response *failed,
             struct flue_error *err)
{
	const struct flue_host *host = ws->inst->host;
	json_object *body = create_body(ws, name, snapshot);
	char *text = body ? json_text(body) : NULL;
	int replaced = 0, looked = 0, rc;

	json_object_put(body);
	*out = NULL;
	if (text == NULL)
		return nomem(ws->inst, err);
	for (;;) {
		struct vc_request req = {0};
		struct vc_response resp;

		req.method = "POST";
		req.what = snapshot ? "create the sandbox from its snapshot" :
		           "create the sandbox";
		req.path = snapshot ? "/v3/sandboxes" : "/v2/sandboxes";
		req.body = text;
		rc = api(ws, &req, &resp, err);
		if (rc == 0) {
			*out = json_object_get(resp.json);
		} else if (rc == FLUE_ERETRY && resp.sent && !looked) {
			json_object *found = NULL;
			struct flue_error ferr = {0};

			looked = 1;
			if (fetch_named(ws->inst, name, ws->project_query, 1, &found,
			                &ferr) == 0) {
				host->log(host, FLUE_LOG_INFO, "%s; the sandbox was "
				          "created anyway", err->message);
				*out = found;
				rc = 0;
			} else if (ferr.code == FLUE_ENOENT) {
				host->log(host, FLUE_LOG_INFO, "%s; no sandbox was "
				          "created, trying again", err->message);
				vc_response_clear(host, &resp);
				continue;
			}
		} else if (resp.status == 409 && ws->opts.name != NULL) {
			char copy[FLUE_ERROR_MESSAGE_MAX];

			/* A name the user chose may be another session's live
			 * sandbox: never delete it on a guess. */
			snprintf(copy, sizeof(copy), "%s", err->message);
			rc = host->error_set(err, FLUE_EEXIST, "%s; a sandbox named %s "
			                     "already exists: use keep: true to work "
			                     "in it, or remove it with `flue sandbox "
			                     "rm %s`", copy, name, name);
		} else if (resp.status == 409 && !replaced) {
			replaced = 1;
			host->log(host, FLUE_LOG_INFO, "a sandbox named %s is left "
			          "from an earlier run; replacing it", name);
			vc_response_clear(host, &resp);
			if ((rc = delete_named(ws->inst, name, ws->project_query,
			                       err)) != 0)
				break;
			continue;
		}
		if (failed != NULL && rc != 0) {
			*failed = resp;
			memset(&resp, 0, sizeof(resp));
		}
		vc_response_clear(host, &resp);
		break;
	}
	free(text);
	return rc;
}

static int
run_setup(struct vc_workspace *ws, struct flue_error *err)
{
	const struct flue_host *host = ws->inst->host;
	size_t n = ws->opts.setup ? json_object_array_length(ws->opts.setup) : 0;

	for (size_t i = 0; i < n; i++) {
		const char *cmd = json_object_get_string(
		        json_object_array_get_idx(ws->opts.setup, i));
		struct flue_exec_result res = {0};
		struct run_spec s = {0};
		int rc;

		host->log(host, FLUE_LOG_INFO, "sandbox %s: setup: %s", ws->name,
		          cmd);
		s.command = cmd;
		s.cwd = ws->workdir;
		s.sudo = ws->opts.sudo;
		rc = run_command(ws, &s, &res, err);
		if (rc != 0)
			return rc;
		if (res.exit_code != 0) {
			const char *e = (const char *)res.stderr_data.data;
			size_t len = res.stderr_data.len;

			while (len > 0 && e[len - 1] == '\n')
				len--;
			rc = host->error_set(err, FLUE_ERROR,
			        "vercel: setup command %zu (%s) exited with %d%s%.*s",
			        i + 1, cmd, res.exit_code, len ? ": " : "",
			        (int)(len > 300 ? 300 : len),
			        len > 300 ? e + len - 300 : e);
			result_clear(host, &res);
			return rc;
		}
		result_clear(host, &res);
	}
	return 0;
}

static int
set_workdir(struct vc_workspace *ws, struct flue_error *err)
{
	free(ws->workdir);
	ws->workdir = flue_path_resolve(ws->session_cwd, ws->opts.cwd ?
	                             ws->opts.cwd : ".");
	return ws->workdir ? 0 : nomem(ws->inst, err);
}

/* Snapshot the session (which stops it); *out_id [malloc'd]. */
static int
take_snapshot(struct vc_instance *inst, const char *session,
              int64_t expiration_ms, char **out_id, struct flue_error *err)
{
	struct vc_request req = {0};
	struct vc_response resp;
	char path[300], body[64];
	const char *id;
	int rc;

	*out_id = NULL;
	snprintf(path, sizeof(path), "/v2/sandboxes/sessions/%s/snapshot",
	         session);
	req.method = "POST";
	req.what = "snapshot the sandbox";
	req.path = path;
	if (expiration_ms >= 0) {
		snprintf(body, sizeof(body), "{\"expiration\":%" PRId64 "}",
		         expiration_ms);
		req.body = body;
	}
	rc = vc_call(inst->client, &req, &resp, err);
	if (rc == 0) {
		id = get_string(get_object(resp.json, "snapshot"), "id");
		if (id == NULL)
			rc = inst->host->error_set(err, FLUE_EIO,
			        "vercel: snapshot the sandbox: the answer has no "
			        "snapshot id");
		else if ((*out_id = strdup(id)) == NULL)
			rc = nomem(inst, err);
	}
	vc_response_clear(inst->host, &resp);
	return rc;
}

/* Fresh: create, clone, set up; with snapshot reuse, snapshot that,
 * record it and boot the workspace from it. */
static int
create_fresh(struct vc_workspace *ws, const char *key, struct flue_error *err)
{
	struct vc_instance *inst = ws->inst;
	const struct flue_host *host = inst->host;
	json_object *answer = NULL;
	char session[128], *snap = NULL;
	int rc;

	rc = create_named(ws, ws->name, NULL, &answer, NULL, err);
	if (rc == 0)
		rc = adopt(ws, answer, err);
	json_object_put(answer);
	if (rc == 0)
		rc = set_workdir(ws, err);
	if (rc == 0)
		rc = run_setup(ws, err);
	if (rc != 0 || key == NULL)
		return rc;
	session_get(ws, session, sizeof(session));
	host->log(host, FLUE_LOG_INFO, "sandbox %s: taking a snapshot for "
	          "later runs", ws->name);
	rc = take_snapshot(inst, session, ws->opts.snapshot_expiration_ms, &snap,
	                   err);
	if (rc == 0)
		rc = vc_snapstore_put(host, inst->state_dir, &ws->opts, key, snap,
		                      err);
	/* The snapshot stopped the VM: boot the workspace from it. */
	if (rc == 0)
		rc = delete_named(inst, ws->name, ws->project_query, err);
	if (rc == 0)
		rc = create_named(ws, ws->name, snap, &answer, NULL, err);
	if (rc == 0) {
		ws->session_id[0] = '\0';
		rc = adopt(ws, answer, err);
	}
	json_object_put(answer);
	free(snap);
	return rc;
}

static int
create_workspace(struct vc_workspace *ws, struct flue_error *err)
{
	struct vc_instance *inst = ws->inst;
	const struct flue_host *host = inst->host;
	char *key = NULL, *snap = NULL;
	int rc;

	if (ws->opts.snapshot_reuse) {
		key = vc_snapshot_key(&ws->opts);
		if (key == NULL)
			return nomem(inst, err);
		rc = vc_snapstore_get(host, inst->state_dir, key, &snap, err);
		if (rc != 0) {
			free(key);
			return rc;
		}
	}
	if (snap != NULL) {
		struct vc_response failed = {0};
		json_object *answer = NULL;

		rc = create_named(ws, ws->name, snap, &answer, &failed, err);
		if (rc == 0) {
			host->log(host, FLUE_LOG_INFO, "sandbox %s: booted from "
			          "snapshot %s", ws->name, snap);
			rc = adopt(ws, answer, err);
			if (rc == 0)
				rc = set_workdir(ws, err);
		} else if (failed.status == 410 || failed.status == 404) {
			host->log(host, FLUE_LOG_INFO, "snapshot %s is gone (%s); "
			          "setting the sandbox up afresh", snap,
			          failed.code[0] ? failed.code : "expired");
			rc = vc_snapstore_put(host, inst->state_dir, &ws->opts, key,
			                      NULL, err);
			if (rc == 0)
				rc = create_fresh(ws, key, err);
		}
		vc_response_clear(host, &failed);
		json_object_put(answer);
	} else {
		rc = create_fresh(ws, key, err);
	}
	free(key);
	free(snap);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Sandbox operations                                                  */
/* ------------------------------------------------------------------ */

static char *
default_name(const char *session_id, const char *state_dir)
{
	uint32_t h = 2166136261u;
	char clean[48], *out;
	size_t n = 0;

	for (const char *p = state_dir ? state_dir : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (const char *p = session_id; *p && n < sizeof(clean) - 1; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		clean[n++] = c;
	}
	clean[n] = '\0';
	if (asprintf(&out, "flue-%s-%06x", clean, h & 0xffffff) < 0)
		return NULL;
	return out;
}

static void
workspace_free(struct vc_workspace *ws)
{
	if (ws == NULL)
		return;
	vc_options_clear(&ws->opts);
	free(ws->name);
	free(ws->project_query);
	free(ws->workdir);
	free(ws->session_cwd);
	for (size_t i = 0; i < ws->n_port_env; i++)
		free(ws->port_env[i]);
	free(ws->port_env);
	pthread_mutex_destroy(&ws->lock);
	free(ws);
}

static int
credentials(struct vc_instance *inst, struct flue_error *err)
{
	struct vc_auth auth;
	int rc = vc_auth_resolve(inst->host, &inst->config, &auth, err);

	if (rc == 0)
		rc = vc_client_set_auth(inst->client, &auth, err);
	vc_auth_clear(&auth);
	return rc;
}

static char *
project_query(struct vc_instance *inst)
{
	char *esc = vc_escape(vc_client_auth(inst->client)->project_id), *q;

	if (esc == NULL || asprintf(&q, "projectId=%s", esc) < 0)
		q = NULL;
	free(esc);
	return q;
}

static int
vc_open(void *instance, const char *session_id, const char *options_json,
        void **out, struct flue_error *err)
{
	struct vc_instance *inst = instance;
	const struct flue_host *host = inst->host;
	struct vc_workspace *ws;
	int rc;

	*out = NULL;
	ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return nomem(inst, err);
	ws->inst = inst;
	pthread_mutex_init(&ws->lock, NULL);
	rc = vc_options_parse(host, &inst->config, options_json, &ws->opts, err);
	if (rc == 0)
		rc = credentials(inst, err);
	if (rc == 0) {
		ws->name = ws->opts.name ? strdup(ws->opts.name) :
		           default_name(session_id, inst->state_dir);
		ws->project_query = project_query(inst);
		if (ws->name == NULL || ws->project_query == NULL)
			rc = nomem(inst, err);
	}
	if (rc == 0 && ws->opts.keep) {
		json_object *answer = NULL;
		struct flue_error gerr = {0};

		rc = fetch_named(inst, ws->name, ws->project_query, 1, &answer,
		                 &gerr);
		if (rc == 0) {
			host->log(host, FLUE_LOG_INFO, "sandbox %s: using the kept "
			          "sandbox", ws->name);
			rc = adopt(ws, answer, err);
			if (rc == 0)
				rc = set_workdir(ws, err);
		} else if (gerr.code == FLUE_ENOENT) {
			rc = create_workspace(ws, err);
		} else {
			*err = gerr;
		}
		json_object_put(answer);
	} else if (rc == 0) {
		rc = create_workspace(ws, err);
	}
	if (rc != 0) {
		/* Nothing half-made is left running. */
		if (ws->session_id[0] != '\0' && !ws->opts.keep) {
			struct flue_error ignored = {0};

			delete_named(inst, ws->name, ws->project_query, &ignored);
		}
		workspace_free(ws);
		return rc;
	}
	*out = ws;
	return 0;
}

static int
vc_close(void *workspace, struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct vc_instance *inst = ws->inst;
	struct flue_error serr = {0};
	int rc = 0;

	if (!ws->opts.keep) {
		if (stop_session(inst, ws->session_id, &serr) != 0)
			inst->host->log(inst->host, FLUE_LOG_WARN, "%s", serr.message);
		rc = delete_named(inst, ws->name, ws->project_query, err);
		if (rc != 0) {
			char copy[FLUE_ERROR_MESSAGE_MAX];

			snprintf(copy, sizeof(copy), "%s", err->message);
			inst->host->error_set(err, rc, "%s; remove it with `flue "
			                      "sandbox rm %s`", copy, ws->name);
		}
	}
	workspace_free(ws);
	return rc;
}

static const char *
vc_workdir(void *workspace)
{
	return ((struct vc_workspace *)workspace)->workdir;
}

static char *
abs_path(struct vc_workspace *ws, const char *path)
{
	return flue_path_resolve(ws->workdir, path);
}

static int
vc_read_file(void *workspace, const char *path, struct flue_bytes *out,
             struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	const struct flue_host *host = ws->inst->host;
	char *abs = abs_path(ws, path), *body = NULL, session[128], req_path[300];
	json_object *b;
	int rc, resumed = 0;

	if (abs == NULL)
		return nomem(ws->inst, err);
	b = json_object_new_object();
	json_object_object_add(b, "path", json_object_new_string(abs));
	body = json_text(b);
	json_object_put(b);
	if (body == NULL) {
		free(abs);
		return nomem(ws->inst, err);
	}
	for (;;) {
		struct vc_request req = {0};
		struct vc_response resp;

		session_get(ws, session, sizeof(session));
		snprintf(req_path, sizeof(req_path),
		         "/v2/sandboxes/sessions/%s/fs/read", session);
		req.method = "POST";
		req.what = "read a file";
		req.path = req_path;
		req.body = body;
		req.idempotent = 1;
		req.body_kind = VC_BODY_BYTES;
		rc = api(ws, &req, &resp, err);
		if (rc == 0) {
			*out = resp.bytes;
			resp.bytes.data = NULL;
		} else if (resp.status == 404) {
			rc = host->error_set(err, FLUE_ENOENT, "no such file: %s",
			                     abs);
		} else if (!resumed && stopped_answer(&resp)) {
			vc_response_clear(host, &resp);
			resumed = 1;
			if ((rc = resume(ws, err)) == 0)
				continue;
		}
		vc_response_clear(host, &resp);
		break;
	}
	free(body);
	free(abs);
	return rc;
}

/* Upload data to abs as one tar.gz entry. */
static int
upload(struct vc_workspace *ws, const char *abs, const void *data, size_t len,
       unsigned mode, struct flue_error *err)
{
	const struct flue_host *host = ws->inst->host;
	char session[128], req_path[300];
	uint64_t size = 0;
	FILE *tar = NULL;
	int rc, resumed = 0;

	rc = vc_tarball_one(host, abs, data, len, mode, &tar, &size, err);
	while (rc == 0) {
		struct vc_request req = {0};
		struct vc_response resp;

		session_get(ws, session, sizeof(session));
		snprintf(req_path, sizeof(req_path),
		         "/v2/sandboxes/sessions/%s/fs/write", session);
		req.method = "POST";
		req.what = "write a file";
		req.path = req_path;
		req.upload = tar;
		req.upload_len = size;
		req.content_type = "application/gzip";
		req.x_cwd = "/";
		req.idempotent = 1;   /* the same bytes again change nothing */
		rc = api(ws, &req, &resp, err);
		if (rc != 0 && !resumed && stopped_answer(&resp)) {
			vc_response_clear(host, &resp);
			resumed = 1;
			if ((rc = resume(ws, err)) == 0)
				continue;
		}
		vc_response_clear(host, &resp);
		break;
	}
	if (tar != NULL)
		fclose(tar);
	return rc;
}

/*
 * fs/write is not known to replace a file atomically, and it sets the
 * mode from the archive.  So the bytes go to a temporary name beside the
 * file, which then takes the old file's mode and is renamed over it: a
 * reader sees the old or the new file, and an edited script stays
 * executable.  One more round trip per write.
 */
static int
write_mode(void *workspace, const char *path, const void *data, size_t len,
           unsigned mode, struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct flue_exec_result res = {0};
	char *abs = abs_path(ws, path), *tmp = NULL, *qt = NULL, *qf = NULL;
	char *script = NULL;
	const char *slash;
	int rc;

	if (abs == NULL)
		return nomem(ws->inst, err);
	slash = strrchr(abs, '/');
	if (slash == NULL || slash[1] == '\0') {
		rc = ws->inst->host->error_set(err, FLUE_EISDIR,
		        "write %s: not a file name", abs);
		goto out;
	}
	/* Short, so a long file name still fits the 255-byte limit. */
	if (asprintf(&tmp, "%.*s/.flue-write-%llx", (int)(slash - abs), abs,
	             ((unsigned long long)vc_epoch_ms() << 16) ^
	             (unsigned long long)(uintptr_t)&res) < 0) {
		tmp = NULL;
		rc = nomem(ws->inst, err);
		goto out;
	}
	rc = upload(ws, tmp, data, len, mode, err);
	if (rc != 0)
		goto out;
	qt = shell_quote(tmp);
	qf = shell_quote(abs);
	if (qt == NULL || qf == NULL ||
	    asprintf(&script, "t=%s; f=%s; if [ -d \"$f\" ] && [ ! -L \"$f\" ]; "
	             "then rm -f -- \"$t\"; echo \"$f: Is a directory\" >&2; "
	             "exit 1; fi; if [ -e \"$f\" ]; then chmod --reference=\"$f\" "
	             "-- \"$t\" 2>/dev/null; fi; mv -f -- \"$t\" \"$f\" || { rm -f "
	             "-- \"$t\"; exit 1; }", qt, qf) < 0) {
		script = NULL;
		rc = nomem(ws->inst, err);
		goto out;
	}
	rc = fs_command(ws, script, &res, err);
	if (rc == 0 && res.exit_code != 0)
		rc = fs_error(ws, "write", abs, &res, err);
	result_clear(ws->inst->host, &res);
out:
	free(script);
	free(qt);
	free(qf);
	free(tmp);
	free(abs);
	return rc;
}

static int
vc_write_file(void *workspace, const char *path, const void *data,
              size_t len, struct flue_error *err)
{
	return write_mode(workspace, path, data, len, 0644, err);
}

/* One command per operation, as the SDK does: body runs with $p set to
 * path (made absolute).  An exit code above max_ok_exit is an error
 * read from stderr; res is the caller's to clear either way. */
static int
path_command(struct vc_workspace *ws, const char *op, const char *body,
             const char *path, int max_ok_exit, struct flue_exec_result *res,
             struct flue_error *err)
{
	char *abs = abs_path(ws, path), *q = abs ? shell_quote(abs) : NULL;
	char *script = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if (q == NULL || asprintf(&script, "p=%s; %s", q, body) < 0) {
		script = NULL;
		rc = nomem(ws->inst, err);
	} else {
		rc = fs_command(ws, script, res, err);
		if (rc == 0 && (res->exit_code < 0 ||
		                res->exit_code > max_ok_exit))
			rc = fs_error(ws, op, abs, res, err);
	}
	free(script);
	free(q);
	free(abs);
	return rc;
}

static int
vc_stat(void *workspace, const char *path, struct flue_stat *out,
        struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct flue_exec_result res;
	int rc;

	memset(out, 0, sizeof(*out));
	/* "L|" for a symlink, then what stat -L says; "L|" alone is a
	 * broken link. */
	rc = path_command(ws, "stat", "l=; if [ -L \"$p\" ]; then l=L; fi; "
	                  "if s=$(stat -L -c '%s|%f|%Y' -- \"$p\" 2>&1); then "
	                  "echo \"$l|$s\"; elif [ -n \"$l\" ]; then echo 'L|'; "
	                  "else echo \"$s\" >&2; exit 1; fi", path, 0, &res, err);
	if (rc == 0) {
		const char *o = (const char *)res.stdout_data.data;
		unsigned long long size, mode;
		long long mtime;

		out->is_symlink = o[0] == 'L';
		out->type = FLUE_FILE_OTHER;   /* also a broken symlink */
		if (strchr(o, '|') != NULL &&
		    sscanf(strchr(o, '|'), "|%llu|%llx|%lld", &size, &mode,
		           &mtime) == 3) {
			out->size = size;
			out->mode = (uint32_t)(mode & 07777);
			out->mtime_ms = mtime * 1000;
			out->type = (mode & 0170000) == 0100000 ? FLUE_FILE_REGULAR :
			            (mode & 0170000) == 0040000 ? FLUE_FILE_DIRECTORY :
			            FLUE_FILE_OTHER;
		}
	}
	result_clear(ws->inst->host, &res);
	return rc;
}

static int
vc_list_dir(void *workspace, const char *path, flue_dirent_fn fn,
            void *payload, struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct flue_exec_result res;
	int rc;

	/* NUL-separated: a name may hold a newline. */
	rc = path_command(ws, "list", "if [ ! -d \"$p\" ]; then if [ -e \"$p\" ]; "
	                  "then echo \"$p: Not a directory\" >&2; else echo \"$p: "
	                  "No such file or directory\" >&2; fi; exit 2; fi; "
	                  "find \"$p\" -maxdepth 1 -mindepth 1 -printf '%y/%f\\0'",
	                  path, 0, &res, err);
	if (rc == 0) {
		const char *all = (const char *)res.stdout_data.data;
		const char *end = all + res.stdout_data.len, *tok;

		for (tok = all; tok < end && rc == 0; tok += strlen(tok) + 1) {
			uint32_t type = tok[0] == 'f' ? FLUE_FILE_REGULAR :
			                tok[0] == 'd' ? FLUE_FILE_DIRECTORY :
			                tok[0] == 'l' ? FLUE_FILE_SYMLINK :
			                FLUE_FILE_OTHER;

			if (tok[0] != '\0' && tok[1] == '/')
				rc = fn(payload, tok + 2, type);
		}
	}
	result_clear(ws->inst->host, &res);
	return rc;
}

static int
vc_exists(void *workspace, const char *path, int *out_exists,
          struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct flue_exec_result res;
	int rc;

	/* test's 1 means "no", anything above is an error. */
	rc = path_command(ws, "exists", "test -e \"$p\"", path, 1, &res, err);
	*out_exists = rc == 0 && res.exit_code == 0;
	result_clear(ws->inst->host, &res);
	return rc;
}

static int
vc_mkdir(void *workspace, const char *path, uint32_t flags,
         struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct flue_exec_result res;
	int rc;

	rc = path_command(ws, "mkdir", (flags & FLUE_MKDIR_RECURSIVE) ?
	                  "mkdir -p -- \"$p\"" : "mkdir -- \"$p\"", path, 0,
	                  &res, err);
	result_clear(ws->inst->host, &res);
	return rc;
}

static int
vc_remove(void *workspace, const char *path, uint32_t flags,
          struct flue_error *err)
{
	static const char *const commands[] = {
		"rm -- \"$p\"", "rm -r -- \"$p\"", "rm -f -- \"$p\"",
		"rm -r -f -- \"$p\""
	};
	struct vc_workspace *ws = workspace;
	struct flue_exec_result res;
	int rc;

	rc = path_command(ws, "remove", commands[(flags & FLUE_REMOVE_RECURSIVE ?
	                  1 : 0) | (flags & FLUE_REMOVE_FORCE ? 2 : 0)], path, 0,
	                  &res, err);
	result_clear(ws->inst->host, &res);
	return rc;
}

static int
vc_exec(void *workspace, const struct flue_exec_request *request,
        struct flue_exec_result *out, struct flue_error *err)
{
	struct vc_workspace *ws = workspace;
	struct run_spec s = {0};
	char *cwd = NULL;
	int rc;

	if (request->cwd != NULL) {
		cwd = abs_path(ws, request->cwd);
		if (cwd == NULL)
			return nomem(ws->inst, err);
	}
	s.command = request->command;
	s.cwd = cwd ? cwd : ws->workdir;
	s.env = request->env;
	s.timeout_ms = request->timeout_ms;
	s.output_limit = request->output_limit;
	s.cancel = request->cancel;
	s.on_output = request->on_output;
	s.payload = request->output_payload;
	rc = run_command(ws, &s, out, err);
	free(cwd);
	return rc;
}

static const struct flue_sandbox_ops vc_ops = {
	.size = sizeof(struct flue_sandbox_ops),
	.open = vc_open,
	.close = vc_close,
	.workdir = vc_workdir,
	.read_file = vc_read_file,
	.write_file = vc_write_file,
	.stat = vc_stat,
	.list_dir = vc_list_dir,
	.exists = vc_exists,
	.mkdir = vc_mkdir,
	.remove = vc_remove,
	.exec = vc_exec,
};

/* ------------------------------------------------------------------ */
/* Managing sandboxes: flue sandbox list|stop|snapshot|rm              */
/* ------------------------------------------------------------------ */

/* Credentials for a management call; *out_query "projectId=..." is the
 * caller's to free. */
static int
manage_begin(struct vc_instance *inst, char **out_query,
             struct flue_error *err)
{
	int rc = credentials(inst, err);

	*out_query = NULL;
	if (rc == 0 && (*out_query = project_query(inst)) == NULL)
		rc = nomem(inst, err);
	return rc;
}

static int
vc_manage_list(void *instance, flue_sandbox_entry_fn fn, void *payload,
               struct flue_error *err)
{
	struct vc_instance *inst = instance;
	struct vc_snapshot_record *snaps = NULL;
	size_t n_snaps = 0;
	char *query = NULL, *proj = NULL, *project;
	int rc = manage_begin(inst, &project, err);

	if (rc == 0 &&
	    (proj = vc_escape(vc_client_auth(inst->client)->project_id)) == NULL)
		rc = nomem(inst, err);
	/* Every page of the sandboxes flue tagged (flue=1), whatever their
	 * names. */
	for (char *cursor = NULL; rc == 0;) {
		struct vc_request req = {0};
		struct vc_response resp;
		json_object *list, *page, *next;

		free(query);
		if (asprintf(&query, "project=%s&tags=flue%%3A1&limit=100%s%s", proj,
		             cursor ? "&cursor=" : "", cursor ? cursor : "") < 0) {
			query = NULL;
			free(cursor);
			rc = nomem(inst, err);
			break;
		}
		free(cursor);
		cursor = NULL;
		req.method = "GET";
		req.what = "list sandboxes";
		req.path = "/v2/sandboxes";
		req.query = query;
		req.idempotent = 1;
		rc = vc_call(inst->client, &req, &resp, err);
		if (rc == 0 && json_object_object_get_ex(resp.json, "sandboxes",
		                                         &list) &&
		    json_object_is_type(list, json_type_array))
			for (size_t i = 0; rc == 0 &&
			     i < json_object_array_length(list); i++) {
				json_object *s = json_object_array_get_idx(list, i), *v;
				struct flue_sandbox_entry e = {0};
				char detail[200];

				e.size = sizeof(e);
				e.kind = "sandbox";
				e.id = get_string(s, "name");
				e.status = get_string(s, "status");
				snprintf(detail, sizeof(detail), "%s",
				         get_string(s, "runtime") ?
				         get_string(s, "runtime") : "");
				if (json_object_object_get_ex(s, "vcpus", &v) &&
				    json_object_get_int(v) > 0)
					snprintf(detail + strlen(detail),
					         sizeof(detail) - strlen(detail),
					         "%s%d vCPU", detail[0] ? ", " : "",
					         json_object_get_int(v));
				e.detail = detail;
				if (json_object_object_get_ex(s, "createdAt", &v))
					e.created_ms = json_object_get_int64(v);
				if (e.id != NULL)
					rc = fn(payload, &e);
			}
		if (rc == 0 && (page = get_object(resp.json, "pagination")) &&
		    json_object_object_get_ex(page, "next", &next) &&
		    json_object_is_type(next, json_type_string) &&
		    (cursor = vc_escape(json_object_get_string(next))) == NULL)
			rc = nomem(inst, err);
		vc_response_clear(inst->host, &resp);
		if (cursor == NULL)
			break;
	}
	if (rc == 0 && inst->state_dir != NULL)
		rc = vc_snapstore_list(inst->host, inst->state_dir, &snaps, &n_snaps,
		                       err);
	for (size_t i = 0; rc == 0 && i < n_snaps; i++) {
		struct vc_request req = {0};
		struct vc_response resp;
		struct flue_sandbox_entry e = {0};
		struct flue_error gerr = {0};
		char path[300], detail[600];

		snprintf(path, sizeof(path), "/v2/sandboxes/snapshots/%s",
		         snaps[i].id);
		req.method = "GET";
		req.what = "look the snapshot up";
		req.path = path;
		req.idempotent = 1;
		e.size = sizeof(e);
		e.kind = "snapshot";
		e.id = snaps[i].id;
		if (vc_call(inst->client, &req, &resp, &gerr) == 0)
			e.status = get_string(get_object(resp.json, "snapshot"),
			                      "status");
		else
			e.status = resp.status == 404 || resp.status == 410 ?
			           "expired" : "unknown";
		snprintf(detail, sizeof(detail), "%s%s%s",
		         snaps[i].source ? snaps[i].source : "setup only",
		         snaps[i].revision ? " at " : "",
		         snaps[i].revision ? snaps[i].revision : "");
		e.detail = detail;
		e.created_ms = snaps[i].created_ms;
		rc = fn(payload, &e);
		vc_response_clear(inst->host, &resp);
	}
	vc_snapstore_list_free(snaps, n_snaps);
	free(project);
	free(query);
	free(proj);
	return rc;
}

static int
named_session(struct vc_instance *inst, const char *project_query,
              const char *name, char *session, size_t size,
              struct flue_error *err)
{
	json_object *answer = NULL;
	const char *id;
	int rc;

	rc = fetch_named(inst, name, project_query, 0, &answer, err);
	if (rc != 0)
		return rc;
	id = get_string(get_object(answer, "session"), "id");
	if (id == NULL)
		rc = inst->host->error_set(err, FLUE_EIO,
		        "vercel: sandbox %s has no session", name);
	else
		snprintf(session, size, "%s", id);
	json_object_put(answer);
	return rc;
}

static int
vc_manage_stop(void *instance, const char *id, struct flue_error *err)
{
	struct vc_instance *inst = instance;
	char session[128], *project;
	int rc = manage_begin(inst, &project, err);

	if (rc == 0)
		rc = named_session(inst, project, id, session, sizeof(session),
		                   err);
	if (rc == 0)
		rc = stop_session(inst, session, err);
	free(project);
	return rc;
}

static int
vc_manage_snapshot(void *instance, const char *id, char **out_id,
                   struct flue_error *err)
{
	struct vc_instance *inst = instance;
	char session[128], *snap = NULL, *project;
	int rc = manage_begin(inst, &project, err);

	*out_id = NULL;
	if (rc == 0)
		rc = named_session(inst, project, id, session, sizeof(session),
		                   err);
	if (rc == 0)
		rc = take_snapshot(inst, session, -1, &snap, err);
	if (rc == 0) {
		*out_id = inst->host->alloc(strlen(snap) + 1);
		if (*out_id == NULL)
			rc = nomem(inst, err);
		else
			strcpy(*out_id, snap);
	}
	free(snap);
	free(project);
	return rc;
}

static int
vc_manage_remove(void *instance, const char *id, struct flue_error *err)
{
	struct vc_instance *inst = instance;
	char *project;
	int rc = manage_begin(inst, &project, err);

	if (rc == 0 && strncmp(id, "snap_", 5) == 0) {
		struct vc_request req = {0};
		struct vc_response resp;
		char *esc = vc_escape(id), *path = NULL;

		if (esc == NULL ||
		    asprintf(&path, "/v2/sandboxes/snapshots/%s", esc) < 0) {
			rc = nomem(inst, err);
		} else {
			req.method = "DELETE";
			req.what = "delete the snapshot";
			req.path = path;
			req.idempotent = 1;
			rc = vc_call(inst->client, &req, &resp, err);
			/* Gone already is as good as deleted. */
			if (rc != 0 && (resp.status == 404 || resp.status == 410))
				rc = 0;
			vc_response_clear(inst->host, &resp);
		}
		if (rc == 0 && inst->state_dir != NULL)
			rc = vc_snapstore_forget_id(inst->host, inst->state_dir, id,
			                            err);
		free(esc);
		free(path);
	} else if (rc == 0) {
		rc = delete_named(inst, id, project, err);
	}
	free(project);
	return rc;
}

static const struct flue_sandbox_manage_ops vc_manage = {
	.size = sizeof(struct flue_sandbox_manage_ops),
	.list = vc_manage_list,
	.stop = vc_manage_stop,
	.snapshot = vc_manage_snapshot,
	.remove = vc_manage_remove,
};

/* ------------------------------------------------------------------ */
/* The plugin                                                          */
/* ------------------------------------------------------------------ */

static int
vc_create(const struct flue_host *host, const char *options_json,
          void **out, struct flue_error *err)
{
	const struct flue_host_paths *paths;
	struct vc_instance *inst;
	uint32_t version = 0;
	int rc;

	*out = NULL;
	inst = calloc(1, sizeof(*inst));
	if (inst == NULL)
		return vc_nomem(host, err);
	inst->host = host;
	rc = vc_config_parse(host, options_json, &inst->config, err);
	if (rc == 0)
		rc = vc_client_new(host, &inst->config, &inst->client, err);
	paths = host->interface ? host->interface(host, FLUE_HOST_PATHS,
	                                          &version) : NULL;
	if (rc == 0 && paths != NULL && version >= 1 && paths->state_dir &&
	    (inst->state_dir = strdup(paths->state_dir)) == NULL)
		rc = vc_nomem(host, err);
	if (rc != 0) {
		vc_client_free(inst->client);
		vc_config_clear(&inst->config);
		free(inst);
		return rc;
	}
	*out = inst;
	return 0;
}

static void
vc_destroy(void *instance)
{
	struct vc_instance *inst = instance;

	if (inst == NULL)
		return;
	vc_client_free(inst->client);
	vc_config_clear(&inst->config);
	free(inst->state_dir);
	free(inst);
}

static const void *
vc_interface(const char *name, uint32_t *out_version)
{
	if (name != NULL && strcmp(name, FLUE_SANDBOX_MANAGE) == 0) {
		if (out_version != NULL)
			*out_version = FLUE_SANDBOX_MANAGE_VERSION;
		return &vc_manage;
	}
	if (out_version != NULL)
		*out_version = 0;
	return NULL;
}

static const struct flue_plugin vc_plugin = {
	.abi_major = FLUE_PLUGIN_ABI_MAJOR,
	.abi_minor = FLUE_PLUGIN_ABI_MINOR,
	.size = sizeof(struct flue_plugin),
	.kind = FLUE_PLUGIN_SANDBOX,
	.name = "vercel",
	.version = VC_VERSION,
	.description = "Vercel Sandbox MicroVMs over Vercel's REST API",
	.create = vc_create,
	.destroy = vc_destroy,
	.sandbox = &vc_ops,
	.interface = vc_interface,
};

FLUE_PLUGIN_EXPORT const struct flue_plugin *
flue_plugin_entry(void)
{
	return &vc_plugin;
}
