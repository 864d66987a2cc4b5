/* The HTTP server (libmicrohttpd, a thread per connection): agents run
 * by POST /agents/<agent>/<id>, their events as server-sent events, run
 * records under /runs.  docs/SERVER.md is the reference. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <json-c/json.h>

#include "agent.h"
#include "common.h"
#include "harness.h"
#include "history.h"
#include "router.h"
#include "runlog.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define SERVER_DEFAULT_PORT 3583
#define SERVER_RUN_STACK (1024 * 1024)
#define SERVER_CONN_STACK (256 * 1024)
#define SERVER_CONN_TIMEOUT 60            /* s without a byte either way */
#define SERVER_HEARTBEAT_MS 15000
#define SERVER_GRACE_MS 30000

/* A harness and the runs using it: flue dev replaces the harness while
 * runs that started with the old one go on with it. */
struct harness_hold {
	flue_harness *harness;
	int refs;                       /* under server->lock */
	int owned;                      /* closed with the last reference */
};

/* A run the server started: alive until its thread ends. */
struct server_run {
	struct flue_server *server;
	struct harness_hold *hold;      /* one reference */
	struct flue_runrec *rec;        /* one reference */
	flue_agent *agent;              /* owned */
	flue_session *session;          /* owned */
	char *payload;                  /* owned JSON text */
	struct flue_cancel *cancel;     /* owned */
	char *key;                      /* owned "agent/session" */
	int saw_run_end;                /* the loop emitted run_end */
	struct server_run *next;        /* in server->runs, under lock */
};

struct flue_server {
	struct harness_hold *current;   /* one reference; under lock */
	struct flue_server_options opts;
	char *host, *token, *url;       /* owned */
	int port;
	struct MHD_Daemon *daemon;
	struct flue_runlog *runlog;     /* owned */
	pthread_mutex_t lock;           /* runs, n_runs, stopping */
	pthread_cond_t idle;            /* signalled as runs end */
	struct server_run *runs;
	int64_t n_runs;
	pthread_t *ended;               /* run threads to join */
	size_t n_ended, ended_cap;
	int stopping;
	int64_t started_ms;
};

/* One request's state, from its first callback to its completion. */
struct request {
	char *body;
	size_t len, cap;
	int too_big;
	int64_t start_ms;
};

/* The state of one SSE response: where the reader is in a run. */
struct stream {
	struct flue_server *server;
	struct flue_runrec *rec;        /* one reference */
	size_t next;                    /* the next event index to send */
	char *frame;                    /* owned: what is left to send */
	size_t frame_len, frame_off;
	int done;
};

/* The harness to serve a request with, and a reference to it. */
static struct harness_hold *
hold_get(struct flue_server *s)
{
	struct harness_hold *h;

	pthread_mutex_lock(&s->lock);
	h = s->current;
	h->refs++;
	pthread_mutex_unlock(&s->lock);
	return h;
}

static void
hold_put_locked(struct harness_hold *h)
{
	if (--h->refs > 0)
		return;
	if (h->owned)
		flue_harness_close(h->harness);
	free(h);
}

static void
hold_put(struct flue_server *s, struct harness_hold *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	hold_put_locked(h);
	pthread_mutex_unlock(&s->lock);
}

static void
server_log(struct flue_server *s, const char *fmt, ...) FLUE_PRINTF(2, 3);

static void
server_log(struct flue_server *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (s->opts.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->opts.log(s->opts.log_payload, line);
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static void
add_common_headers(struct flue_server *s, struct MHD_Connection *c,
                   struct MHD_Response *r, const char *run_id)
{
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                                 "Origin");
	int allowed = 0;

	if (run_id != NULL)
		MHD_add_response_header(r, "X-Flue-Run-Id", run_id);
	if (origin != NULL) {
		struct harness_hold *h = hold_get(s);

		allowed = flue_router_origin_allowed(
		        h->harness->project.config.server.cors_origins, origin);
		hold_put(s, h);
	}
	if (allowed) {
		MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(r, "Vary", "Origin");
		MHD_add_response_header(r, "Access-Control-Expose-Headers",
		                        "X-Flue-Run-Id");
	}
}

static enum MHD_Result
send_text(struct flue_server *s, struct MHD_Connection *c,
          unsigned status, const char *type, const char *text, size_t len,
          const char *run_id, const char *allow, int retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len,
	        (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;
	char secs[16];

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (allow != NULL)
		MHD_add_response_header(r, "Allow", allow);
	if (retry_after > 0) {
		snprintf(secs, sizeof(secs), "%d", retry_after);
		MHD_add_response_header(r, "Retry-After", secs);
	}
	add_common_headers(s, c, r, run_id);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Consumes o. */
static enum MHD_Result
send_json(struct flue_server *s, struct MHD_Connection *c, unsigned status,
          json_object *o, const char *run_id)
{
	const char *text = json_object_to_json_string_ext(o, JSON_FLAGS);
	enum MHD_Result ret;
	char *body;
	size_t len = strlen(text);

	body = malloc(len + 2);
	if (body == NULL) {
		json_object_put(o);
		return MHD_NO;
	}
	memcpy(body, text, len);
	body[len++] = '\n';
	ret = send_text(s, c, status, "application/json", body, len, run_id,
	                NULL, 0);
	free(body);
	json_object_put(o);
	return ret;
}

/* {"error": {"type", "message", ...extra}}; extra is consumed. */
static enum MHD_Result
send_error_ex(struct flue_server *s, struct MHD_Connection *c,
              unsigned status, const char *type, const char *run_id,
              const char *allow, int retry_after, json_object *extra,
              const char *fmt, ...) FLUE_PRINTF(9, 10);

static enum MHD_Result
send_error_ex(struct flue_server *s, struct MHD_Connection *c,
              unsigned status, const char *type, const char *run_id,
              const char *allow, int retry_after, json_object *extra,
              const char *fmt, ...)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();
	const char *text;
	enum MHD_Result ret;
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "message", json_object_new_string(message));
	if (extra != NULL) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(e, k, json_object_get(v));
		json_object_put(extra);
	}
	json_object_object_add(o, "error", e);
	text = json_object_to_json_string_ext(o, JSON_FLAGS);
	ret = send_text(s, c, status, "application/json", text, strlen(text),
	                run_id, allow, retry_after);
	json_object_put(o);
	return ret;
}

#define send_error(s, c, status, type, ...) \
	send_error_ex(s, c, status, type, NULL, NULL, 0, NULL, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Server-sent events                                                  */
/* ------------------------------------------------------------------ */

/* "event: <type>\nid: <n>\ndata: <json>\n\n".  The event's type is its
 * "type" member (the first one after index and run_id). */
static int
make_frame(struct stream *st, const char *json, size_t len, size_t index)
{
	const char *t = strstr(json, "\"type\":\"");
	size_t tlen = 0;
	int n;

	if (t != NULL) {
		t += 8;
		tlen = strcspn(t, "\"");
	}
	free(st->frame);
	n = asprintf(&st->frame, "event: %.*s\nid: %zu\ndata: %.*s\n\n",
	             (int)tlen, t ? t : "", index, (int)len, json);
	if (n < 0) {
		st->frame = NULL;
		return -1;
	}
	st->frame_len = (size_t)n;
	st->frame_off = 0;
	if (tlen == 7 && strncmp(t, "run_end", 7) == 0 &&
	    strstr(json, "\"task_id\":") == NULL)
		st->done = 1;
	return 0;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t n;

	(void)pos;
	for (;;) {
		if (st->frame != NULL && st->frame_off < st->frame_len) {
			n = st->frame_len - st->frame_off;
			if (n > max)
				n = max;
			memcpy(buf, st->frame + st->frame_off, n);
			st->frame_off += n;
			return (ssize_t)n;
		}
		if (st->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		{
			int ended = 0;
			size_t have = flue_runrec_wait(st->rec, st->next,
			                               (int)st->server->opts.heartbeat_ms,
			                               &ended);
			char *ev;
			size_t len;

			if (have > st->next) {
				ev = flue_runrec_event_copy(st->rec, st->next, &len);
				if (ev == NULL || make_frame(st, ev, len, st->next) != 0) {
					free(ev);
					return MHD_CONTENT_READER_END_WITH_ERROR;
				}
				free(ev);
				st->next++;
				continue;
			}
			if (ended) {
				st->done = 1;
				continue;
			}
			/* Nothing for a while: a comment keeps proxies and the
			 * connection timeout from closing a live stream. */
			free(st->frame);
			st->frame = strdup(": heartbeat\n\n");
			if (st->frame == NULL)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			st->frame_len = strlen(st->frame);
			st->frame_off = 0;
		}
	}
}

static void
stream_free(void *cls)
{
	struct stream *st = cls;

	flue_runrec_put(st->rec);
	free(st->frame);
	free(st);
}

/* Stream rec's events from index `from`; takes a reference to rec. */
static enum MHD_Result
send_stream(struct flue_server *s, struct MHD_Connection *c,
            struct flue_runrec *rec, size_t from)
{
	struct stream *st = calloc(1, sizeof(*st));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (st == NULL)
		return MHD_NO;
	st->server = s;
	st->rec = rec;
	st->next = from;
	flue_runrec_get(rec);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
	                                      stream_read, st, stream_free);
	if (r == NULL) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	add_common_headers(s, c, r, flue_runrec_id(rec));
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

static void
on_run_event(void *payload, const struct flue_event *ev)
{
	struct server_run *run = payload;

	if (ev->type == FLUE_EVENT_RUN_END && ev->task_id == NULL)
		__atomic_store_n(&run->saw_run_end, 1, __ATOMIC_RELEASE);
	flue_runrec_event(run->rec, ev->json, ev->json_len);
}

/* {"text", "output", "session", "usage", "turns", "tool_calls"} */
static json_object *
result_json(const struct flue_run_result *res)
{
	json_object *o = json_object_new_object(), *u = json_object_new_object();

	json_object_object_add(o, "text", res->text ?
	                       json_object_new_string(res->text) : NULL);
	if (res->result_json != NULL)
		json_object_object_add(o, "output",
		                       json_tokener_parse(res->result_json));
	json_object_object_add(o, "session", res->session_id ?
	                       json_object_new_string(res->session_id) : NULL);
	json_object_object_add(o, "model", res->model ?
	                       json_object_new_string(res->model) : NULL);
	json_object_object_add(u, "input_tokens",
	                       json_object_new_int64((int64_t)res->usage.input_tokens));
	json_object_object_add(u, "output_tokens",
	                       json_object_new_int64((int64_t)res->usage.output_tokens));
	json_object_object_add(u, "cache_read_tokens", json_object_new_int64(
	                       (int64_t)res->usage.cache_read_tokens));
	json_object_object_add(u, "cache_write_tokens", json_object_new_int64(
	                       (int64_t)res->usage.cache_write_tokens));
	if (res->usage.cost_usd >= 0)
		json_object_object_add(u, "cost_usd",
		                       json_object_new_double(res->usage.cost_usd));
	json_object_object_add(o, "usage", u);
	json_object_object_add(o, "turns",
	                       json_object_new_int64((int64_t)res->turns));
	json_object_object_add(o, "tool_calls",
	                       json_object_new_int64((int64_t)res->tool_calls));
	return o;
}

static void
run_free(struct server_run *run)
{
	hold_put(run->server, run->hold);
	flue_runrec_put(run->rec);
	flue_session_close(run->session);
	flue_agent_close(run->agent);
	flue_cancel_free(run->cancel);
	free(run->payload);
	free(run->key);
	free(run);
}

static void *
run_main(void *arg)
{
	struct server_run *run = arg;
	struct flue_server *s = run->server;
	struct flue_call_options co = {.size = sizeof(co)};
	struct flue_run_result res = {0};
	struct flue_error err = {0};
	json_object *result;
	int rc;

	co.payload_json = run->payload;
	co.cancel = run->cancel;
	co.on_event = on_run_event;
	co.event_payload = run;
	rc = flue_session_prompt(run->session, NULL, &co, &res, &err);
	if (!run->saw_run_end) {
		/* It failed before it started: readers still get an end. */
		json_object *ev = json_object_new_object(), *e;

		json_object_object_add(ev, "type", json_object_new_string(
		                       "run_end"));
		json_object_object_add(ev, "status", json_object_new_string(
		                       "error"));
		json_object_object_add(ev, "session", json_object_new_string(
		                       flue_session_id(run->session)));
		e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(
		                       flue_status_name(rc)));
		json_object_object_add(e, "message", json_object_new_string(
		                       err.message));
		json_object_object_add(ev, "error", e);
		{
			const char *t = json_object_to_json_string_ext(ev, JSON_FLAGS);

			flue_runrec_event(run->rec, t, strlen(t));
		}
		json_object_put(ev);
	}
	result = result_json(&res);
	flue_runrec_finish(run->rec, rc == 0, result,
	                   rc == 0 ? NULL : flue_status_name(rc),
	                   rc == 0 ? NULL : err.message);
	json_object_put(result);
	server_log(s, "run %s (%s) %s%s%s", flue_runrec_id(run->rec), run->key,
	           rc == 0 ? "completed" : "failed", rc == 0 ? "" : ": ",
	           rc == 0 ? "" : err.message);
	flue_run_result_free(&res);
	pthread_mutex_lock(&s->lock);
	for (struct server_run **p = &s->runs; *p != NULL; p = &(*p)->next)
		if (*p == run) {
			*p = run->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	/* Freed before it counts as ended: a shutdown waiting for the count
	 * may free the run log right after. */
	run_free(run);
	pthread_mutex_lock(&s->lock);
	s->n_runs--;
	/* Joined by the next run's start or the shutdown, so that the
	 * thread's exit (libraries' thread-local cleanup) is waited for. */
	if (s->n_ended == s->ended_cap) {
		size_t cap = s->ended_cap ? s->ended_cap * 2 : 16;
		pthread_t *grown = realloc(s->ended, cap * sizeof(*grown));

		if (grown != NULL) {
			s->ended = grown;
			s->ended_cap = cap;
		}
	}
	if (s->n_ended < s->ended_cap)
		s->ended[s->n_ended++] = pthread_self();
	else
		pthread_detach(pthread_self());
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Join the threads of runs that have ended. */
static void
reap(struct flue_server *s)
{
	pthread_t *ended;
	size_t n;

	pthread_mutex_lock(&s->lock);
	ended = s->ended;
	n = s->n_ended;
	s->ended = NULL;
	s->n_ended = s->ended_cap = 0;
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		pthread_join(ended[i], NULL);
	free(ended);
}

/* Under s->lock. */
static struct server_run *
find_session_run(struct flue_server *s, const char *key)
{
	for (struct server_run *r = s->runs; r != NULL; r = r->next)
		if (strcmp(r->key, key) == 0)
			return r;
	return NULL;
}

static struct server_run *
find_run(struct flue_server *s, const char *run_id)
{
	for (struct server_run *r = s->runs; r != NULL; r = r->next)
		if (strcmp(flue_runrec_id(r->rec), run_id) == 0)
			return r;
	return NULL;
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* POST /agents/<agent>/<id> */
static enum MHD_Result
post_agent(struct flue_server *s, struct MHD_Connection *c,
           struct request *rq, const char *agent_name, const char *id)
{
	struct flue_agent_options ao = {.size = sizeof(ao)};
	struct flue_error err = {0};
	struct server_run *run, *busy;
	const char *ctype = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *accept = header(c, MHD_HTTP_HEADER_ACCEPT);
	const char *prefer = header(c, "Prefer");
	const char *async_q = MHD_lookup_connection_value(c,
	        MHD_GET_ARGUMENT_KIND, "async");
	json_object *payload = NULL;
	struct flue_runrec *rec;
	pthread_attr_t attr;
	pthread_t thread;
	enum MHD_Result ret;
	int empty = flue_router_blank(rq->body, rq->len);
	int async = (prefer != NULL && strstr(prefer, "respond-async")) ||
	            (async_q != NULL && strcmp(async_q, "0") != 0);

	if (!empty && (ctype == NULL ||
	               strncasecmp(ctype, "application/json", 16) != 0))
		return send_error(s, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		                  "unsupported_media_type", "send the payload as "
		                  "JSON with Content-Type: application/json (got "
		                  "%s)", ctype ? ctype : "no Content-Type");
	if (!empty) {
		enum json_tokener_error jerr;

		payload = json_tokener_parse_verbose(rq->body, &jerr);
		if (payload == NULL && jerr != json_tokener_success)
			return send_error(s, c, MHD_HTTP_BAD_REQUEST, "invalid_json",
			                  "the body is not valid JSON: %s",
			                  json_tokener_error_desc(jerr));
		json_object_put(payload);
	}
	reap(s);
	ao.name = agent_name;
	run = calloc(1, sizeof(*run));
	if (run == NULL)
		return MHD_NO;
	run->server = s;
	run->hold = hold_get(s);
	if (flue_agent_open(&run->agent, run->hold->harness, &ao, &err) != 0) {
		hold_put(s, run->hold);
		free(run);
		if (err.code == FLUE_ENOENT)
			return send_error(s, c, MHD_HTTP_NOT_FOUND, "agent_not_found",
			                  "%s", err.message);
		return send_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "agent_invalid", "%s", err.message);
	}
	/* asprintf leaves its pointer undefined when it fails. */
	if (asprintf(&run->key, "%s/%s", agent_name, id) < 0)
		run->key = NULL;
	if (run->key == NULL ||
	    flue_session_open(&run->session, run->agent, id, &err) != 0 ||
	    flue_cancel_new(&run->cancel, &err) != 0 ||
	    (run->payload = strdup(empty ? "{}" : rq->body)) == NULL) {
		run_free(run);
		return send_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "internal_error", "%s", err.message[0] ?
		                  err.message : "out of memory");
	}
	pthread_mutex_lock(&s->lock);
	busy = find_session_run(s, run->key);
	/* A client that got run_end may send its next message before the
	 * run's thread has let go of the session: wait for that, briefly. */
	for (int64_t until = flue_mono_ms() + 5000; busy != NULL &&
	     __atomic_load_n(&busy->saw_run_end, __ATOMIC_ACQUIRE) &&
	     flue_mono_ms() < until;) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->idle, &s->lock, &ts);
		busy = find_session_run(s, run->key);
	}
	if (busy != NULL || s->stopping ||
	    s->n_runs >= s->opts.max_concurrent_runs) {
		char busy_id[FLUE_RUN_ID_MAX + 1] = "";
		int stopping = s->stopping;

		if (busy != NULL)
			snprintf(busy_id, sizeof(busy_id), "%s",
			         flue_runrec_id(busy->rec));
		pthread_mutex_unlock(&s->lock);
		run_free(run);
		if (busy != NULL) {
			json_object *extra = json_object_new_object();

			json_object_object_add(extra, "run_id",
			                       json_object_new_string(busy_id));
			return send_error_ex(s, c, MHD_HTTP_CONFLICT, "session_busy",
			        busy_id, NULL, 0, extra, "session '%s' of agent '%s' "
			        "is running %s; wait for it (GET /runs/%s/stream) or "
			        "use another id", id, agent_name, busy_id, busy_id);
		}
		if (stopping)
			return send_error_ex(s, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			                     "shutting_down", NULL, NULL, 5, NULL,
			                     "the server is shutting down");
		return send_error_ex(s, c, MHD_HTTP_TOO_MANY_REQUESTS,
		                     "too_many_runs", NULL, NULL, 1, NULL,
		                     "%" PRId64 " runs are already running (the "
		                     "limit is server.max_concurrent_runs); retry "
		                     "shortly", s->opts.max_concurrent_runs);
	}
	if (flue_runlog_start(s->runlog, agent_name, id, &run->rec, &err) != 0) {
		pthread_mutex_unlock(&s->lock);
		run_free(run);
		return send_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "internal_error", "%s", err.message);
	}
	run->next = s->runs;
	s->runs = run;
	s->n_runs++;
	rec = run->rec;
	flue_runrec_get(rec);          /* this request's: run may end first */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SERVER_RUN_STACK);
	if (pthread_create(&thread, &attr, run_main, run) != 0) {
		s->runs = run->next;
		s->n_runs--;
		pthread_mutex_unlock(&s->lock);
		pthread_attr_destroy(&attr);
		flue_runrec_finish(rec, 0, NULL, "internal_error",
		                   "could not start a thread for the run");
		ret = send_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                 "internal_error", "could not start a thread for "
		                 "the run; retry shortly");
		flue_runrec_put(rec);
		run_free(run);
		return ret;
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_unlock(&s->lock);
	server_log(s, "run %s (%s/%s) started", flue_runrec_id(rec), agent_name,
	           id);
	if (async) {
		json_object *o = json_object_new_object();
		char where[FLUE_RUN_ID_MAX + 32];

		snprintf(where, sizeof(where), "/runs/%s/stream",
		         flue_runrec_id(rec));
		json_object_object_add(o, "run_id", json_object_new_string(
		                       flue_runrec_id(rec)));
		json_object_object_add(o, "status",
		                       json_object_new_string("accepted"));
		json_object_object_add(o, "stream", json_object_new_string(where));
		ret = send_json(s, c, MHD_HTTP_ACCEPTED, o, flue_runrec_id(rec));
	} else if (accept != NULL && strstr(accept, "text/event-stream")) {
		ret = send_stream(s, c, rec, 0);
	} else {
		json_object *o, *status;
		int ended = 0;

		/* This connection's own thread waits for the run. */
		while (!ended)
			flue_runrec_wait(rec, SIZE_MAX - 1, 1000, &ended);
		o = flue_runrec_json(rec);
		status = json_object_object_get(o, "status");
		ret = send_json(s, c, strcmp(json_object_get_string(status),
		                             "completed") == 0 ? MHD_HTTP_OK :
		                MHD_HTTP_INTERNAL_SERVER_ERROR, o,
		                flue_runrec_id(rec));
	}
	flue_runrec_put(rec);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The other routes                                                    */
/* ------------------------------------------------------------------ */

/* GET /agents/<agent>/<id>: the session's history, record by record. */
static enum MHD_Result
get_session(struct flue_server *s, struct MHD_Connection *c,
            const char *agent, const char *id)
{
	json_object *o, *records;
	struct harness_hold *h = hold_get(s);
	char *path;
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (asprintf(&path, "%s/sessions/%s/%s.jsonl",
	             h->harness->project.state, agent, id) < 0)
		path = NULL;
	hold_put(s, h);
	if (path == NULL)
		return MHD_NO;
	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return send_error(s, c, MHD_HTTP_NOT_FOUND, "session_not_found",
		                  "agent '%s' has no session '%s'", agent, id);
	o = json_object_new_object();
	records = json_object_new_array();
	while ((n = getline(&line, &cap, f)) > 0) {
		json_object *rec;

		/* A line still being written is not a record yet. */
		if (line[n - 1] != '\n')
			break;
		rec = json_tokener_parse(line);
		if (rec != NULL)
			json_object_array_add(records, rec);
	}
	free(line);
	fclose(f);
	json_object_object_add(o, "agent", json_object_new_string(agent));
	json_object_object_add(o, "session", json_object_new_string(id));
	json_object_object_add(o, "records", records);
	return send_json(s, c, MHD_HTTP_OK, o, NULL);
}

static enum MHD_Result
get_agents(struct flue_server *s, struct MHD_Connection *c)
{
	json_object *o = json_object_new_object(), *list = json_object_new_array();
	struct flue_error err = {0};
	struct harness_hold *h = hold_get(s);
	char **names = NULL;

	if (flue_agent_list(h->harness->project.source, &names, &err) != 0) {
		hold_put(s, h);
		json_object_put(o);
		json_object_put(list);
		return send_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                  "internal_error", "%s", err.message);
	}
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		struct flue_agent_def def;
		json_object *a = json_object_new_object();

		json_object_object_add(a, "name", json_object_new_string(names[i]));
		if (flue_agent_load(h->harness->project.source, names[i], &def,
		                    &err) == 0) {
			if (def.settings.description != NULL)
				json_object_object_add(a, "description",
				        json_object_new_string(def.settings.description));
			flue_agent_clear(&def);
		} else {
			json_object_object_add(a, "error",
			                       json_object_new_string(err.message));
		}
		json_object_array_add(list, a);
	}
	flue_strv_free(names);
	hold_put(s, h);
	json_object_object_add(o, "agents", list);
	return send_json(s, c, MHD_HTTP_OK, o, NULL);
}

static enum MHD_Result
get_health(struct flue_server *s, struct MHD_Connection *c)
{
	json_object *o = json_object_new_object();
	int64_t runs;

	pthread_mutex_lock(&s->lock);
	runs = s->n_runs;
	pthread_mutex_unlock(&s->lock);
	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "version", json_object_new_string(
	                       flue_version()));
	json_object_object_add(o, "active_runs", json_object_new_int64(runs));
	json_object_object_add(o, "uptime_ms", json_object_new_int64(
	                       flue_mono_ms() - s->started_ms));
	return send_json(s, c, MHD_HTTP_OK, o, NULL);
}

/* GET /runs/<run>/events?after=N&limit=L */
static enum MHD_Result
get_events(struct flue_server *s, struct MHD_Connection *c,
           struct flue_runrec *rec)
{
	const char *after_q = MHD_lookup_connection_value(c,
	        MHD_GET_ARGUMENT_KIND, "after");
	const char *limit_q = MHD_lookup_connection_value(c,
	        MHD_GET_ARGUMENT_KIND, "limit");
	long long after = after_q ? flue_router_number(after_q, 1LL << 40) : -1;
	long long limit = limit_q ? flue_router_number(limit_q, 1000) : 100;
	json_object *o, *list;
	size_t have, from;
	int ended;

	if ((after_q != NULL && after < 0) || limit <= 0)
		return send_error(s, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		                  "after must be an event index and limit 1-1000");
	from = after_q ? (size_t)after + 1 : 0;
	have = flue_runrec_wait(rec, 0, 0, &ended);
	o = json_object_new_object();
	list = json_object_new_array();
	for (size_t i = from; i < have && (long long)(i - from) < limit; i++) {
		size_t len;
		char *ev = flue_runrec_event_copy(rec, i, &len);

		if (ev != NULL)
			json_object_array_add(list, json_tokener_parse(ev));
		free(ev);
	}
	json_object_object_add(o, "run_id", json_object_new_string(
	                       flue_runrec_id(rec)));
	json_object_object_add(o, "events", list);
	json_object_object_add(o, "ended", json_object_new_boolean(ended));
	return send_json(s, c, MHD_HTTP_OK, o, flue_runrec_id(rec));
}

static enum MHD_Result
post_abort(struct flue_server *s, struct MHD_Connection *c,
           struct flue_runrec *rec)
{
	struct server_run *run;
	json_object *o;

	pthread_mutex_lock(&s->lock);
	run = find_run(s, flue_runrec_id(rec));
	if (run != NULL)
		flue_cancel_trigger(run->cancel);
	pthread_mutex_unlock(&s->lock);
	if (run == NULL)
		return send_error_ex(s, c, MHD_HTTP_CONFLICT, "run_finished",
		                     flue_runrec_id(rec), NULL, 0, NULL,
		                     "run %s has already ended", flue_runrec_id(rec));
	o = json_object_new_object();
	json_object_object_add(o, "run_id", json_object_new_string(
	                       flue_runrec_id(rec)));
	json_object_object_add(o, "status", json_object_new_string("aborting"));
	return send_json(s, c, MHD_HTTP_ACCEPTED, o, flue_runrec_id(rec));
}

static enum MHD_Result
run_route(struct flue_server *s, struct MHD_Connection *c,
          const struct flue_route_match *m)
{
	struct flue_runrec *rec = flue_runlog_find(s->runlog, m->run);
	enum MHD_Result ret;

	if (rec == NULL)
		return send_error(s, c, MHD_HTTP_NOT_FOUND, "run_not_found",
		                  "no run '%s' (runs are kept for "
		                  "server.run_retention_days)", m->run);
	switch (m->route) {
	case FLUE_ROUTE_RUN:
		ret = send_json(s, c, MHD_HTTP_OK, flue_runrec_json(rec),
		                flue_runrec_id(rec));
		break;
	case FLUE_ROUTE_RUN_EVENTS:
		ret = get_events(s, c, rec);
		break;
	case FLUE_ROUTE_RUN_STREAM: {
		const char *last = header(c, "Last-Event-ID");
		long long n = last ? flue_router_number(last, 1LL << 40) : -1;

		ret = send_stream(s, c, rec, n >= 0 ? (size_t)n + 1 : 0);
		break;
	}
	default:
		ret = post_abort(s, c, rec);
		break;
	}
	flue_runrec_put(rec);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static enum MHD_Result
preflight(struct flue_server *s, struct MHD_Connection *c, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL,
	        MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Allow", allow);
	MHD_add_response_header(r, "Access-Control-Allow-Methods", allow);
	MHD_add_response_header(r, "Access-Control-Allow-Headers",
	                        "Authorization, Content-Type, Last-Event-ID, "
	                        "Prefer");
	MHD_add_response_header(r, "Access-Control-Max-Age", "600");
	add_common_headers(s, c, r, NULL);
	ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
	struct flue_server *s = cls;
	struct request *rq = *con_cls;
	struct flue_route_match m;
	int status;

	(void)version;
	if (rq == NULL) {
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		rq->start_ms = flue_mono_ms();
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		/* Over the limit: the rest is read and dropped, then 413. */
		if (!rq->too_big && rq->len + *upload_size >
		    (size_t)s->opts.max_body_bytes) {
			rq->too_big = 1;
			free(rq->body);
			rq->body = NULL;
		}
		if (!rq->too_big) {
			if (rq->len + *upload_size + 1 > rq->cap) {
				size_t cap = rq->cap ? rq->cap : 1024;
				char *grown;

				while (cap < rq->len + *upload_size + 1)
					cap *= 2;
				grown = realloc(rq->body, cap);
				if (grown == NULL)
					return MHD_NO;
				rq->body = grown;
				rq->cap = cap;
			}
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->body[rq->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	status = flue_router_match(method, url, &m);
	if (status == 405)
		return send_error_ex(s, c, MHD_HTTP_METHOD_NOT_ALLOWED,
		                     "method_not_allowed", NULL, m.allow, 0, NULL,
		                     "%s", m.message);
	if (status == 400)
		return send_error(s, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		                  "%s", m.message);
	if (status != 0)
		return send_error(s, c, MHD_HTTP_NOT_FOUND, "route_not_found",
		                  "%s", m.message);
	if (strcmp(method, "OPTIONS") == 0)
		return preflight(s, c, m.allow);
	if (s->token != NULL && m.route != FLUE_ROUTE_HEALTH &&
	    !flue_router_token_ok(header(c, MHD_HTTP_HEADER_AUTHORIZATION),
	                          s->token))
		return send_error(s, c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
		                  "send the server's token as Authorization: "
		                  "Bearer <token>");
	if (rq->too_big)
		return send_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE,
		                  "payload_too_large", "the body is over %" PRId64
		                  " bytes (server.max_body_bytes)",
		                  s->opts.max_body_bytes);
	switch (m.route) {
	case FLUE_ROUTE_HEALTH:
		return get_health(s, c);
	case FLUE_ROUTE_AGENTS:
		return get_agents(s, c);
	case FLUE_ROUTE_SESSION:
		if (strcmp(method, "POST") == 0)
			return post_agent(s, c, rq, m.agent, m.session);
		return get_session(s, c, m.agent, m.session);
	default:
		return run_route(s, c, &m);
	}
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq == NULL)
		return;
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

static int
is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0;
}

FLUE_API int
flue_server_open(flue_server **out, flue_harness *harness,
                 const struct flue_server_options *options,
                 struct flue_error *err)
{
	const struct flue_config *config = &harness->project.config;
	struct flue_server *s;
	struct sockaddr_in addr4 = {0};
	struct sockaddr_in6 addr6 = {0};
	struct sockaddr *addr;
	const char *token_env, *token;
	const union MHD_DaemonInfo *info;
	unsigned flags;
	int rc, ipv6;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (options != NULL)
		memcpy(&s->opts, options, options->size < sizeof(s->opts) ?
		       options->size : sizeof(s->opts));
	s->current = calloc(1, sizeof(*s->current));
	if (s->current == NULL) {
		free(s);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	s->current->harness = harness;
	s->current->refs = 1;
	s->host = strdup(s->opts.host ? s->opts.host : config->server.host ?
	                 config->server.host : "127.0.0.1");
	s->port = s->opts.port > 0 ? s->opts.port : s->opts.port < 0 ? 0 :
	          config->server.port > 0 ? (int)config->server.port :
	          SERVER_DEFAULT_PORT;
	if (s->opts.max_body_bytes <= 0)
		s->opts.max_body_bytes = config->server.max_body_bytes > 0 ?
		                         config->server.max_body_bytes : 1 << 20;
	if (s->opts.max_concurrent_runs <= 0)
		s->opts.max_concurrent_runs = config->server.max_concurrent_runs > 0 ?
		        config->server.max_concurrent_runs : 64;
	if (s->opts.heartbeat_ms <= 0)
		s->opts.heartbeat_ms = SERVER_HEARTBEAT_MS;
	if (s->opts.grace_ms <= 0)
		s->opts.grace_ms = SERVER_GRACE_MS;
	token_env = config->server.api_token_env ? config->server.api_token_env :
	            "FLUE_API_TOKEN";
	token = s->opts.token ? s->opts.token : getenv(token_env);
	if (token != NULL && token[0] != '\0')
		s->token = strdup(token);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->started_ms = flue_mono_ms();
	if (s->host == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto fail;
	}
	if (s->token == NULL && !is_loopback(s->host)) {
		rc = flue_error_set(err, FLUE_EINVAL, "listening on %s (not "
		                    "loopback) needs a token: set %s (or "
		                    "server.api_token_env in flue.yaml) to a long "
		                    "random string; clients send it as "
		                    "Authorization: Bearer <token>", s->host,
		                    token_env);
		goto fail;
	}
	rc = flue_runlog_open(&s->runlog, harness->project.state,
	                      config->server.run_retention_days, err);
	if (rc != 0)
		goto fail;
	ipv6 = strchr(s->host, ':') != NULL;
	if (ipv6) {
		addr6.sin6_family = AF_INET6;
		addr6.sin6_port = htons((uint16_t)s->port);
		rc = inet_pton(AF_INET6, s->host, &addr6.sin6_addr) == 1 ? 0 : -1;
		addr = (struct sockaddr *)&addr6;
	} else {
		addr4.sin_family = AF_INET;
		addr4.sin_port = htons((uint16_t)s->port);
		rc = inet_pton(AF_INET, strcmp(s->host, "localhost") == 0 ?
		               "127.0.0.1" : s->host, &addr4.sin_addr) == 1 ? 0 : -1;
		addr = (struct sockaddr *)&addr4;
	}
	if (rc != 0) {
		rc = flue_error_set(err, FLUE_EINVAL, "host '%s': give an IPv4 or "
		                    "IPv6 address (127.0.0.1, 0.0.0.0, ::1)",
		                    s->host);
		goto fail;
	}
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	        MHD_USE_POLL | MHD_USE_ITC | (ipv6 ? MHD_USE_IPv6 : 0);
	s->daemon = MHD_start_daemon(flags, (uint16_t)s->port, NULL, NULL,
	        on_request, s,
	        MHD_OPTION_SOCK_ADDR, addr,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_CONN_TIMEOUT,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16384,
	        MHD_OPTION_THREAD_STACK_SIZE, (size_t)SERVER_CONN_STACK,
	        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
	        MHD_OPTION_END);
	if (s->daemon == NULL) {
		int e = errno;

		rc = flue_error_set(err, FLUE_EIO, "cannot listen on %s:%d: %s%s",
		                    s->host, s->port, strerror(e),
		                    e == EADDRINUSE ? " (another server uses the "
		                    "port: pick another with --port)" : "");
		goto fail;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info != NULL)
		s->port = info->port;
	if (asprintf(&s->url, ipv6 ? "http://[%s]:%d" : "http://%s:%d",
	             s->host, s->port) < 0) {
		s->url = NULL;
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	flue_server_close(s);
	return rc;
}

FLUE_API int
flue_server_port(const flue_server *server)
{
	return server->port;
}

FLUE_API const char *
flue_server_url(const flue_server *server)
{
	return server->url;
}

FLUE_API int64_t
flue_server_active_runs(flue_server *server)
{
	int64_t n;

	pthread_mutex_lock(&server->lock);
	n = server->n_runs;
	pthread_mutex_unlock(&server->lock);
	return n;
}

/* Wait until no run is left or deadline (monotonic ms) passes. */
static int
wait_idle(struct flue_server *s, int64_t deadline)
{
	int idle;

	pthread_mutex_lock(&s->lock);
	while (s->n_runs > 0 && flue_mono_ms() < deadline) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->idle, &s->lock, &ts);
	}
	idle = s->n_runs == 0;
	pthread_mutex_unlock(&s->lock);
	return idle;
}

FLUE_API void
flue_server_shutdown(flue_server *s)
{
	MHD_socket fd;

	if (s == NULL || s->daemon == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_mutex_unlock(&s->lock);
	/* No new connections; the open ones are served to their end. */
	fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	if (!wait_idle(s, flue_mono_ms() + s->opts.grace_ms)) {
		server_log(s, "cancelling %" PRId64 " runs still going after %"
		           PRId64 " ms", flue_server_active_runs(s),
		           s->opts.grace_ms);
		pthread_mutex_lock(&s->lock);
		for (struct server_run *r = s->runs; r != NULL; r = r->next)
			flue_cancel_trigger(r->cancel);
		pthread_mutex_unlock(&s->lock);
		wait_idle(s, flue_mono_ms() + 60000);
	}
	reap(s);
	flue_runlog_wake_all(s->runlog);
	MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
}

FLUE_API void
flue_server_reload(flue_server *s, flue_harness *harness)
{
	struct harness_hold *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		flue_harness_close(harness);
		return;
	}
	h->harness = harness;
	h->refs = 1;
	h->owned = 1;
	pthread_mutex_lock(&s->lock);
	hold_put_locked(s->current);
	s->current = h;
	pthread_mutex_unlock(&s->lock);
}

FLUE_API void
flue_server_close(flue_server *s)
{
	if (s == NULL)
		return;
	flue_server_shutdown(s);
	if (s->current != NULL)
		hold_put_locked(s->current);
	flue_runlog_close(s->runlog);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s->host);
	free(s->token);
	free(s->url);
	free(s);
}
