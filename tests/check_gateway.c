/* The gateway provider plugin, loaded as flue loads it (dlopen), against
 * tests/fake_gateway.c: streamed text and tool calls, retries (statuses,
 * retry-after, resets, early ends, stalls, in-stream errors), final
 * errors and what they say, credentials (keys, OIDC expiry), options,
 * cancellation, the Anthropic path and costs from the model list; and
 * the fake's choice of turns by "match".
 *
 * FLUE_TEST_GATEWAY_PLUGIN names the plugin (else
 * $FLUE_TEST_PLUGIN_DIR/gateway.so) and FLUE_FAKE_GATEWAY the fake's
 * binary; without them the suite is skipped. */
#define _GNU_SOURCE
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include <flue/plugin.h>

#include "fake_client.h"
#include "fake_host.h"

extern char **environ;

#define MODEL "anthropic/claude-sonnet-4.6"

static char plugin_path[4096];
static pid_t fake_pid = -1;
static char fake_root[64];          /* http://127.0.0.1:PORT */
static char fake_base[80];          /* ... /v1 */
static char fake_dir[64];

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Talking to the fake directly                                        */
/* ------------------------------------------------------------------ */

/* GET (body NULL) or POST path on the fake; the answer's body is the
 * caller's (free). */
static char *
fake_http(const char *path, const char *body, long *status)
{
	return fake_client_http(fake_root, body ? "POST" : "GET", path, body,
	                        status);
}

/* Replace the fake's turns. */
static void
script(const char *json)
{
	long status = 0;
	char *answer = fake_http("/__fake/script", json, &status);

	ck_assert_msg(status == 200, "script rejected: %s", answer);
	free(answer);
}

/* Every request the fake has seen (the caller's reference). */
static json_object *
requests(void)
{
	long status = 0;
	char *answer = fake_http("/__fake/requests", NULL, &status);
	json_object *log = json_tokener_parse(answer);

	ck_assert_int_eq(status, 200);
	ck_assert_ptr_nonnull(log);
	free(answer);
	return log;
}

static size_t
request_count(void)
{
	json_object *log = requests();
	size_t n = json_object_array_length(log);

	json_object_put(log);
	return n;
}

/* The last logged request to path (a new reference), or NULL. */
static json_object *
last_request(const char *path)
{
	json_object *log = requests(), *found = NULL, *p;
	size_t i = json_object_array_length(log);

	while (i-- > 0) {
		json_object *rec = json_object_array_get_idx(log, i);

		if (json_object_object_get_ex(rec, "path", &p) &&
		    strcmp(json_object_get_string(p), path) == 0) {
			found = json_object_get(rec);
			break;
		}
	}
	json_object_put(log);
	return found;
}

/* A header of a logged request ("" when absent). */
static const char *
header_of(json_object *rec, const char *name)
{
	json_object *headers, *v;

	if (json_object_object_get_ex(rec, "headers", &headers) &&
	    json_object_object_get_ex(headers, name, &v))
		return json_object_get_string(v);
	return "";
}

/* ------------------------------------------------------------------ */
/* The plugin                                                          */
/* ------------------------------------------------------------------ */

struct gw {
	void *dl;
	const struct flue_plugin *plugin;
	void *inst;
};

static const struct flue_plugin *
gw_load(void **dl)
{
	char why[1024];
	const struct flue_plugin *p = fake_plugin_load(plugin_path, dl, why,
	                                               sizeof(why));

	ck_assert_msg(p != NULL, "%s", why);
	ck_assert_uint_eq(p->kind, FLUE_PLUGIN_PROVIDER);
	ck_assert_str_eq(p->name, "gateway");
	ck_assert_ptr_nonnull(p->provider);
	return p;
}

static void
gw_open(struct gw *g, const char *options)
{
	struct flue_error err = { 0, "" };
	int rc;

	g->plugin = gw_load(&g->dl);
	rc = g->plugin->create(fake_host(), options, &g->inst, &err);
	ck_assert_msg(rc == 0, "create(%s): %s", options, err.message);
}

static void
gw_close(struct gw *g)
{
	g->plugin->destroy(g->inst);
	fake_plugin_unload(g->dl);
}

/* create() that must fail: its code, with the message in err. */
static int
gw_create_fails(const char *options, struct flue_error *err)
{
	void *dl, *inst = NULL;
	const struct flue_plugin *p = gw_load(&dl);
	int rc;

	memset(err, 0, sizeof(*err));
	rc = p->create(fake_host(), options, &inst, err);
	ck_assert_ptr_null(inst);
	fake_plugin_unload(dl);
	return rc;
}

/* Options pointing at the fake, with key k in FLUE_TEST_KEY, fast
 * retries, and extra members (JSON without braces, or ""). */
static const char *
opts(const char *extra)
{
	static char buf[2048];

	setenv("FLUE_TEST_KEY", "k", 1);
	snprintf(buf, sizeof(buf),
	         "{\"base_url\":\"%s\",\"api_key_env\":\"FLUE_TEST_KEY\","
	         "\"retry_base_ms\":10%s%s}", fake_base,
	         extra[0] ? "," : "", extra);
	return buf;
}

/* ------------------------------------------------------------------ */
/* Events, kept the way the core keeps them                            */
/* ------------------------------------------------------------------ */

struct seen {
	char text[4096];
	size_t text_len;
	char args[1024];
	size_t args_len;
	char tool_id[64], tool_name[64];
	char retry[1100];                  /* the last RETRY's text */
	char stop[64];
	struct flue_usage usage;
	int starts, ends, retries, stops, usages, events, after_stop;
};

static void
append(char *buf, size_t *len, size_t size, const char *s, size_t n)
{
	ck_assert_uint_lt(*len + n, size);
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static int
on_event(void *payload, const struct flue_provider_event *ev)
{
	struct seen *s = payload;

	s->events++;
	if (s->stops > 0)
		s->after_stop++;
	switch (ev->type) {
	case FLUE_PROVIDER_TEXT_DELTA:
		append(s->text, &s->text_len, sizeof(s->text), ev->text,
		       ev->text_len);
		break;
	case FLUE_PROVIDER_TOOL_CALL_START:
		s->starts++;
		snprintf(s->tool_id, sizeof(s->tool_id), "%s", ev->id);
		snprintf(s->tool_name, sizeof(s->tool_name), "%s", ev->name);
		break;
	case FLUE_PROVIDER_TOOL_CALL_DELTA:
		append(s->args, &s->args_len, sizeof(s->args), ev->text,
		       ev->text_len);
		break;
	case FLUE_PROVIDER_TOOL_CALL_END:
		s->ends++;
		break;
	case FLUE_PROVIDER_USAGE:
		s->usages++;
		s->usage = *ev->usage;
		break;
	case FLUE_PROVIDER_STOP:
		s->stops++;
		snprintf(s->stop, sizeof(s->stop), "%.*s", (int)ev->text_len,
		         ev->text);
		break;
	case FLUE_PROVIDER_RETRY:
		/* Forget the attempt, as the core does. */
		s->text_len = s->args_len = 0;
		s->text[0] = s->args[0] = '\0';
		s->starts = s->ends = s->usages = 0;
		s->retries++;
		snprintf(s->retry, sizeof(s->retry), "%.*s", (int)ev->text_len,
		         ev->text);
		break;
	}
	return 0;
}

/* One stream() of a one-message conversation; provider is the request's
 * "provider" object or NULL. */
static int
stream(struct gw *g, const char *provider, struct seen *s,
       const struct flue_cancel *cancel, struct flue_error *err)
{
	char request[4096];
	struct flue_provider_request req;

	snprintf(request, sizeof(request),
	         "{\"model\":\"%s\",\"system\":\"Be brief.\","
	         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
	         "\"max_tokens\":256%s%s}", MODEL,
	         provider ? ",\"provider\":" : "", provider ? provider : "");
	memset(s, 0, sizeof(*s));
	memset(err, 0, sizeof(*err));
	memset(&req, 0, sizeof(req));
	req.model = MODEL;
	req.request_json = request;
	req.cancel = cancel;
	req.on_event = on_event;
	req.event_payload = s;
	return g->plugin->provider->stream(g->inst, &req, err);
}

/* Open with options, stream once, close. */
static int
stream_once(const char *options, const char *provider, struct seen *s,
            struct flue_error *err)
{
	struct gw g;
	int rc;

	gw_open(&g, options);
	rc = stream(&g, provider, s, NULL, err);
	gw_close(&g);
	return rc;
}

#define ck_assert_ok(rc, err) \
	ck_assert_msg((rc) == 0, "stream: %d %s", (rc), (err).message)
#define ck_assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "<%s> lacks <%s>", \
	              (hay), (needle))

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static void
setup(void)
{
	unsetenv("AI_GATEWAY_API_KEY");
	unsetenv("AI_GATEWAY_BASE_URL");
	unsetenv("VERCEL_OIDC_TOKEN");
	unsetenv("FLUE_TEST_KEY");
	fake_host_reset();
}

static void
teardown(void)
{
	ck_assert_uint_eq(fake_host_error_violations(), 0);
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_text_and_usage)
{
	struct flue_error err;
	struct seen s;
	json_object *rec;
	int rc;

	script("{\"turns\":[{\"text\":[\"Hel\",\"lo\"],"
	       "\"usage\":{\"input\":10,\"output\":5}}]}");
	rc = stream_once(opts("\"headers\":{\"x-title\":\"flue-test\","
	                      "\"x-n\":3,\"x-b\":true,\"accept\":\"\"}"), NULL,
	                 &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_str_eq(s.text, "Hello");
	ck_assert_int_eq(s.stops, 1);
	ck_assert_str_eq(s.stop, "end");
	ck_assert_int_eq(s.after_stop, 0);
	ck_assert_int_eq(s.retries, 0);
	ck_assert_int_ge(s.usages, 1);
	ck_assert_uint_eq(s.usage.input_tokens, 10);
	ck_assert_uint_eq(s.usage.output_tokens, 5);
	ck_assert(s.usage.cost_usd >= 0);

	rec = last_request("/v1/chat/completions");
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(header_of(rec, "authorization"), "Bearer k");
	ck_assert_str_eq(header_of(rec, "user-agent"), "flue/0.0-test");
	ck_assert_str_eq(header_of(rec, "accept"), "");   /* taken away */
	ck_assert_has(header_of(rec, "content-type"), "application/json");
	ck_assert_str_eq(header_of(rec, "x-title"), "flue-test");
	ck_assert_str_eq(header_of(rec, "x-n"), "3");
	ck_assert_str_eq(header_of(rec, "x-b"), "true");
	json_object_put(rec);
}
END_TEST

START_TEST(test_tool_call)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"tool_calls\":[{\"id\":\"c1\",\"name\":\"bash\","
	       "\"arguments\":\"{\\\"command\\\":\\\"ls\\\"}\","
	       "\"fragments\":[\"{\\\"com\",\"mand\\\":\\\"ls\\\"}\"]}]}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_int_eq(s.starts, 1);
	ck_assert_str_eq(s.tool_id, "c1");
	ck_assert_str_eq(s.tool_name, "bash");
	ck_assert_str_eq(s.args, "{\"command\":\"ls\"}");
	ck_assert_str_eq(s.stop, "tool_calls");
}
END_TEST

START_TEST(test_framing)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"split\":3,\"crlf\":true,\"comments\":true,"
	       "\"nospace\":true,\"text\":\"h\xc3\xa9llo\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_str_eq(s.text, "h\xc3\xa9llo");
}
END_TEST

START_TEST(test_anthropic_and_cost)
{
	struct flue_error err;
	struct seen s;
	json_object *rec;
	char provider[512];
	int rc;

	script("{\"turns\":[{\"text\":\"hola\","
	       "\"usage\":{\"input\":1000,\"output\":100}}]}");
	snprintf(provider, sizeof(provider),
	         "{\"id\":\"anth\",\"api\":\"anthropic-messages\","
	         "\"base_url\":\"%s\",\"options\":{\"model_list\":true}}",
	         fake_base);
	rc = stream_once(opts(""), provider, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_str_eq(s.text, "hola");
	ck_assert_int_eq(s.stops, 1);
	ck_assert_int_eq(s.after_stop, 0);
	ck_assert_uint_eq(s.usage.input_tokens, 1000);
	ck_assert_uint_eq(s.usage.output_tokens, 100);
	/* Sonnet in the fake's list: $3 and $15 per million tokens. */
	ck_assert_msg(s.usage.cost_usd > 0.00449 && s.usage.cost_usd < 0.00451,
	              "cost %g", s.usage.cost_usd);

	rec = last_request("/v1/messages");
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(header_of(rec, "x-api-key"), "k");
	ck_assert_str_eq(header_of(rec, "authorization"), "Bearer k");
	ck_assert_str_eq(header_of(rec, "anthropic-version"), "2023-06-01");
	ck_assert_str_eq(header_of(rec, "accept"), "text/event-stream");
	ck_assert_str_eq(header_of(rec, "expect"), "");
	json_object_put(rec);
	rec = last_request("/v1/models");
	ck_assert_ptr_nonnull(rec);
	json_object_put(rec);
}
END_TEST

START_TEST(test_provider_options)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"text\":\"ok\",\"expect\":{\"auth\":\"Bearer k\","
	       "\"provider_options\":{\"gateway\":{\"order\":[\"bedrock\","
	       "\"anthropic\"]}}}}]}");
	rc = stream_once(opts("\"provider_options\":{\"gateway\":{\"order\":"
	                      "[\"bedrock\",\"anthropic\"]}}"), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_str_eq(s.text, "ok");
}
END_TEST

/* Several answers at once on one instance, and turns after them on the
 * connections they leave in the pool. */
struct parallel {
	struct gw *g;
	int rc;
	struct seen s;
	struct flue_error err;
};

static void *
parallel_stream(void *arg)
{
	struct parallel *p = arg;

	p->rc = stream(p->g, NULL, &p->s, NULL, &p->err);
	return NULL;
}

START_TEST(test_concurrent)
{
	struct parallel p[4];
	pthread_t t[4];
	struct gw g;
	int i;

	script("{\"turns\":[{\"text\":\"same\",\"repeat\":8}]}");
	gw_open(&g, opts(""));
	for (i = 0; i < 4; i++) {
		p[i].g = &g;
		ck_assert_int_eq(pthread_create(&t[i], NULL, parallel_stream,
		                                &p[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_ok(p[i].rc, p[i].err);
		ck_assert_str_eq(p[i].s.text, "same");
	}
	for (i = 0; i < 4; i++) {
		parallel_stream(&p[i]);
		ck_assert_ok(p[i].rc, p[i].err);
	}
	gw_close(&g);
	ck_assert(fake_host_log_contains("on a reused connection"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Retries                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_retry_after)
{
	struct flue_error err;
	struct seen s;
	int64_t t0;
	int rc;

	script("{\"turns\":[{\"status\":429,\"headers\":{\"retry-after\":\"1\"}},"
	       "{\"text\":\"late\"}]}");
	t0 = now_ms();
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_int_ge(now_ms() - t0, 1000);
	ck_assert_int_eq(s.retries, 1);
	ck_assert_has(s.retry, "429 rate_limit_exceeded: Rate limit exceeded");
	ck_assert_has(s.retry, "retrying in 1.0 s (attempt 2 of 3)");
	ck_assert_str_eq(s.text, "late");
}
END_TEST

START_TEST(test_retry_after_ms)
{
	struct flue_error err;
	struct seen s;
	int64_t t0, took;
	int rc;

	script("{\"turns\":[{\"status\":429,\"headers\":{\"retry-after-ms\":"
	       "\"150\",\"retry-after\":\"30\"}},{\"text\":\"ok\"}]}");
	t0 = now_ms();
	rc = stream_once(opts(""), NULL, &s, &err);
	took = now_ms() - t0;
	ck_assert_ok(rc, err);
	ck_assert_int_ge(took, 150);
	ck_assert_int_lt(took, 1500);
	ck_assert_int_eq(s.retries, 1);
}
END_TEST

START_TEST(test_503_then_ok)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"status\":503},{\"text\":\"ok\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_int_eq(s.retries, 1);
	ck_assert_has(s.retry, "503");
	ck_assert_has(s.retry, "(attempt 2 of 3)");
	ck_assert_str_eq(s.text, "ok");
}
END_TEST

START_TEST(test_reset_and_eof)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":["
	       "{\"text\":[\"a\",\"b\",\"c\",\"d\"],\"fault\":\"reset\","
	       "\"after_events\":2},"
	       "{\"text\":[\"a\",\"b\",\"c\",\"d\"],\"fault\":\"eof\","
	       "\"after_events\":2},"
	       "{\"text\":\"whole\"}]}");
	rc = stream_once(opts("\"max_retries\":2"), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_int_eq(s.retries, 2);
	ck_assert_str_eq(s.text, "whole");
	ck_assert_int_eq(s.stops, 1);
}
END_TEST

START_TEST(test_error_event)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"text\":\"x\",\"fault\":\"error_event\"},"
	       "{\"text\":\"ok\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_int_eq(s.retries, 1);
	ck_assert_has(s.retry, "Overloaded");
	ck_assert_str_eq(s.text, "ok");
}
END_TEST

START_TEST(test_idle_timeout)
{
	struct flue_error err;
	struct seen s;
	int64_t t0, took;
	int rc;

	script("{\"turns\":[{\"text\":[\"a\",\"b\"],\"fault\":\"stall\","
	       "\"after_events\":1,\"stall_ms\":5000},{\"text\":\"ok\"}]}");
	t0 = now_ms();
	rc = stream_once(opts("\"idle_timeout_ms\":300"), NULL, &s, &err);
	took = now_ms() - t0;
	ck_assert_ok(rc, err);
	ck_assert_int_eq(s.retries, 1);
	ck_assert_has(s.retry, "idle_timeout_ms");
	ck_assert_str_eq(s.text, "ok");
	ck_assert_int_ge(took, 300);
	ck_assert_int_lt(took, 3000);
}
END_TEST

START_TEST(test_retries_exhausted)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"status\":503,\"repeat\":3},{\"text\":\"never\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERETRY);
	ck_assert_int_eq(err.code, FLUE_ERETRY);
	ck_assert_has(err.message, "gave up after 3 attempts: 503");
	ck_assert_int_eq(s.retries, 2);
	ck_assert_int_eq(s.stops, 0);

	script("{\"turns\":[{\"status\":500},{\"text\":\"never\"}]}");
	rc = stream_once(opts("\"max_retries\":0"), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERETRY);
	ck_assert_has(err.message, "gave up after 1 attempt: 500");
	ck_assert_int_eq(s.retries, 0);
}
END_TEST

START_TEST(test_retry_after_too_long)
{
	struct flue_error err;
	struct seen s;
	size_t before = request_count();
	int64_t t0 = now_ms();
	int rc;

	script("{\"turns\":[{\"status\":429,\"headers\":{\"retry-after\":"
	       "\"120\"}},{\"text\":\"never\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERETRY);
	ck_assert_has(err.message, "asked to wait 120.0 s");
	ck_assert_has(err.message, "max_retry_after_ms");
	ck_assert_int_lt(now_ms() - t0, 1000);
	ck_assert_int_eq(s.retries, 0);
	ck_assert_uint_eq(request_count(), before + 1);
}
END_TEST

START_TEST(test_should_retry_header)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"status\":503,\"headers\":{\"x-should-retry\":"
	       "\"false\"}},{\"text\":\"never\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERROR);
	ck_assert_int_eq(s.retries, 0);
	ck_assert_has(err.message, "503");

	script("{\"turns\":[{\"status\":400,\"headers\":{\"x-should-retry\":"
	       "\"true\"}},{\"text\":\"ok\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_ok(rc, err);
	ck_assert_int_eq(s.retries, 1);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct flue_error err;
	struct seen s;
	char options[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	/* A port that was free a moment ago. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(options, sizeof(options),
	         "{\"base_url\":\"http://127.0.0.1:%u/v1\",\"retry_base_ms\":1}",
	         (unsigned)ntohs(sa.sin_port));
	rc = stream_once(options, NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERETRY);
	ck_assert_has(err.message, "gave up after 3 attempts: request to http://127.0.0.1:");
	ck_assert_int_eq(s.retries, 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Final errors                                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_400)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"status\":400,\"error\":{\"type\":"
	       "\"invalid_request_error\",\"message\":\"messages: too short\"}}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_EINVAL);
	ck_assert_has(err.message, "rejected the request (400 invalid_request_error): messages: too short");
	ck_assert_int_eq(s.events, 0);
}
END_TEST

START_TEST(test_402)
{
	struct flue_error err;
	struct seen s;
	int rc;

	setenv("AI_GATEWAY_BASE_URL", fake_base, 1);
	setenv("AI_GATEWAY_API_KEY", "k", 1);
	script("{\"turns\":[{\"status\":402,\"error\":{\"type\":"
	       "\"insufficient_funds\",\"message\":\"balance is $0.00\"}}]}");
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_EAUTH);
	ck_assert_str_eq(err.message, "AI Gateway: insufficient funds (balance is $0.00); add credits in the Vercel dashboard (AI Gateway → Credits) or use another key");
	ck_assert_int_eq(s.events, 0);
}
END_TEST

START_TEST(test_404)
{
	struct flue_error err;
	struct seen s;
	int rc;

	setenv("AI_GATEWAY_BASE_URL", fake_base, 1);
	setenv("AI_GATEWAY_API_KEY", "k", 1);
	script("{\"turns\":[{\"status\":404}]}");
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ENOENT);
	ck_assert_has(err.message, "model '" MODEL "' not found at ");
	ck_assert_has(err.message, "(Model not found)");
	ck_assert_has(err.message, "/v1/models");
}
END_TEST

START_TEST(test_401)
{
	struct flue_error err;
	struct seen s;
	char options[256];
	int rc;

	/* The gateway's key is for the gateway: a server of its own gets
	 * only its api_key_env. */
	setenv("AI_GATEWAY_API_KEY", "k", 1);
	script("{\"turns\":[{\"text\":\"never\"}]}");
	snprintf(options, sizeof(options), "{\"base_url\":\"%s\"}", fake_base);
	rc = stream_once(options, NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_EAUTH);
	ck_assert_has(err.message, "401");
	ck_assert_has(err.message, "without credentials");
	ck_assert_has(err.message, "plugin_options.gateway.api_key_env");

	/* A key that was sent and refused is named. */
	setenv("AI_GATEWAY_BASE_URL", fake_base, 1);
	script("{\"turns\":[{\"status\":401}]}");
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_EAUTH);
	ck_assert_has(err.message, "AI_GATEWAY_API_KEY");
	ck_assert_has(err.message, "Invalid API key");
}
END_TEST

START_TEST(test_not_a_stream)
{
	struct flue_error err;
	struct seen s;
	int rc;

	script("{\"turns\":[{\"body\":\"{\\\"ok\\\":true}\","
	       "\"content_type\":\"application/json\"}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERROR);
	ck_assert_has(err.message, "expected text/event-stream from ");
	ck_assert_has(err.message, "got application/json");

	script("{\"turns\":[{\"status\":308,\"headers\":{\"location\":"
	       "\"https://example.com/v2/chat/completions\"}}]}");
	rc = stream_once(opts(""), NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_ERROR);
	ck_assert_has(err.message, "answered 308 and points to https://example.com/v2/chat/completions; set base_url");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

static void
b64url(const char *in, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(in), i, o = 0;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = abc[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = abc[v & 63];
	}
	out[o] = '\0';
}

/* An unsigned JWT expiring at exp (Unix seconds). */
static void
make_jwt(long long exp, char *out, size_t size)
{
	char claims[128], head[64], body[256];

	b64url("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", head);
	snprintf(claims, sizeof(claims),
	         "{\"sub\":\"owner:t:project:p\",\"exp\":%lld}", exp);
	b64url(claims, body);
	snprintf(out, size, "%s.%s.c2ln", head, body);
}

START_TEST(test_oidc_expired)
{
	struct flue_error err;
	struct seen s;
	char jwt[512];
	size_t before = request_count();
	int rc;

	setenv("AI_GATEWAY_BASE_URL", fake_base, 1);
	make_jwt((long long)time(NULL) - 3 * 3600 - 60, jwt, sizeof(jwt));
	setenv("VERCEL_OIDC_TOKEN", jwt, 1);
	script("{\"turns\":[{\"text\":\"never\"}]}");
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_EAUTH);
	ck_assert_has(err.message, "VERCEL_OIDC_TOKEN expired at ");
	ck_assert_has(err.message, " UTC (3 h ago)");
	ck_assert_has(err.message, "vercel env pull");
	ck_assert_uint_eq(request_count(), before);
}
END_TEST

START_TEST(test_oidc_valid)
{
	struct flue_error err;
	struct seen s;
	char jwt[512], turns[1024];
	int rc;

	setenv("AI_GATEWAY_BASE_URL", fake_base, 1);
	make_jwt((long long)time(NULL) + 3600, jwt, sizeof(jwt));
	setenv("VERCEL_OIDC_TOKEN", jwt, 1);
	snprintf(turns, sizeof(turns), "{\"turns\":[{\"text\":\"ok\","
	         "\"expect\":{\"auth\":\"Bearer %s\"}}]}", jwt);
	script(turns);
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_ok(rc, err);

	/* A key wins over the token. */
	setenv("AI_GATEWAY_API_KEY", "key", 1);
	script("{\"turns\":[{\"text\":\"ok\",\"expect\":{\"auth\":\"Bearer key\"}}]}");
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_ok(rc, err);
}
END_TEST

START_TEST(test_no_credentials)
{
	struct flue_error err;
	struct seen s;
	int rc;

	/* The public gateway, nothing set: fails before any connection. */
	rc = stream_once("{}", NULL, &s, &err);
	ck_assert_int_eq(rc, FLUE_EAUTH);
	ck_assert_str_eq(err.message, "no credentials for AI Gateway: set AI_GATEWAY_API_KEY, or VERCEL_OIDC_TOKEN (run `vercel env pull`)");

	rc = stream_once("{}", "{\"id\":\"ollama\",\"api_key_env\":\"FLUE_TEST_NOPE\"}",
	                 &s, &err);
	ck_assert_int_eq(rc, FLUE_EAUTH);
	ck_assert_has(err.message, "providers.ollama.api_key_env names FLUE_TEST_NOPE, which is not set");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_bad_options)
{
	static const struct {
		const char *options, *message;
	} cases[] = {
		{ "{\"bogus\":1}", "plugin_options.gateway.bogus: unknown option" },
		{ "{\"max_retries\":-1}", "plugin_options.gateway.max_retries: expected a non-negative integer" },
		{ "{\"retry_base_ms\":\"10\"}", "plugin_options.gateway.retry_base_ms: expected a non-negative integer" },
		{ "{\"api\":\"grpc\"}", "plugin_options.gateway.api: expected" },
		{ "{\"base_url\":\"ftp://x\"}", "plugin_options.gateway.base_url: expected an http" },
		{ "{\"headers\":{\"a b\":\"x\"}}", "plugin_options.gateway.headers: 'a b' is not a valid header name" },
		{ "{\"headers\":{\"a\":[1]}}", "plugin_options.gateway.headers.a: expected a string" },
		{ "{\"provider_options\":[]}", "plugin_options.gateway.provider_options: expected an object" },
		{ "{\"model_list\":1}", "plugin_options.gateway.model_list: expected true or false" },
		{ "[1]", "plugin_options.gateway must be a mapping" },
		{ "{", "plugin_options.gateway must be a mapping" },
	};
	struct flue_error err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(gw_create_fails(cases[i].options, &err),
		                 FLUE_EINVAL);
		ck_assert_msg(strncmp(err.message, cases[i].message,
		                      strlen(cases[i].message)) == 0,
		              "%s: got <%s>", cases[i].options, err.message);
	}
}
END_TEST

START_TEST(test_bad_provider_options)
{
	struct flue_error err;
	struct seen s;
	int rc;

	rc = stream_once(opts(""), "{\"id\":\"p\",\"options\":{\"max_retrys\":1}}",
	                 &s, &err);
	ck_assert_int_eq(rc, FLUE_EINVAL);
	ck_assert_str_eq(err.message, "providers.p.options.max_retrys: unknown option; did you mean max_retries?");

	rc = stream_once(opts(""), "{\"id\":\"p\",\"api\":\"soap\"}", &s, &err);
	ck_assert_int_eq(rc, FLUE_EINVAL);
	ck_assert_has(err.message, "providers.p.api: expected");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Cancellation                                                        */
/* ------------------------------------------------------------------ */

struct trigger {
	struct flue_cancel *cancel;
	int after_ms;
	int64_t at;
};

static void *
trigger_later(void *arg)
{
	struct trigger *t = arg;

	usleep((useconds_t)t->after_ms * 1000);
	t->at = now_ms();
	fake_cancel_trigger(t->cancel);
	return NULL;
}

START_TEST(test_cancel_first_byte)
{
	struct trigger t = { fake_cancel_new(), 150, 0 };
	struct flue_error err;
	struct seen s;
	struct gw g;
	pthread_t th;
	int64_t done;
	int rc;

	ck_assert_ptr_nonnull(t.cancel);
	script("{\"turns\":[{\"text\":\"late\",\"first_byte_ms\":3000}]}");
	gw_open(&g, opts(""));
	ck_assert_int_eq(pthread_create(&th, NULL, trigger_later, &t), 0);
	rc = stream(&g, NULL, &s, t.cancel, &err);
	done = now_ms();
	pthread_join(th, NULL);
	ck_assert_int_eq(rc, FLUE_ECANCELED);
	ck_assert_int_eq(err.code, FLUE_ECANCELED);
	ck_assert_int_lt(done - t.at, 200);
	ck_assert_int_eq(s.events, 0);
	gw_close(&g);
	fake_cancel_free(t.cancel);
}
END_TEST

START_TEST(test_cancel_retry_wait)
{
	struct trigger t = { fake_cancel_new(), 150, 0 };
	struct flue_error err;
	struct seen s;
	struct gw g;
	pthread_t th;
	int64_t done;
	int rc;

	script("{\"turns\":[{\"status\":429,\"headers\":{\"retry-after\":\"5\"}},"
	       "{\"text\":\"never\"}]}");
	gw_open(&g, opts(""));
	ck_assert_int_eq(pthread_create(&th, NULL, trigger_later, &t), 0);
	rc = stream(&g, NULL, &s, t.cancel, &err);
	done = now_ms();
	pthread_join(th, NULL);
	ck_assert_int_eq(rc, FLUE_ECANCELED);
	ck_assert_int_lt(done - t.at, 200);
	ck_assert_int_eq(s.retries, 1);
	ck_assert_int_eq(s.events, 1);
	gw_close(&g);
	fake_cancel_free(t.cancel);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The fake itself: choosing a turn with "match"                       */
/* ------------------------------------------------------------------ */

/* The logged turn of the request n records before the last (0: the
 * last); -1 when null. */
static int
logged_turn(size_t back)
{
	json_object *log = requests(), *rec, *turn;
	size_t n = json_object_array_length(log);
	int r;

	ck_assert_uint_gt(n, back);
	rec = json_object_array_get_idx(log, n - 1 - back);
	ck_assert(json_object_object_get_ex(rec, "turn", &turn));
	r = turn != NULL ? json_object_get_int(turn) : -1;
	json_object_put(log);
	return r;
}

START_TEST(test_match_out_of_order)
{
	long status = 0;
	char *answer;

	script("{\"require_auth\":false,\"turns\":["
	       "{\"text\":\"for alpha\","
	       "\"match\":{\"body_contains\":[\"agent\",\"alpha\"]}},"
	       "{\"text\":\"for beta\",\"match\":{\"body_contains\":\"beta\","
	       "\"system_contains\":\"You are beta\"}}]}");
	/* The second turn's request comes first, on the other API. */
	answer = fake_http("/v1/messages", "{\"model\":\"" MODEL "\","
	                   "\"system\":[{\"type\":\"text\",\"text\":"
	                   "\"You are beta.\"}],\"max_tokens\":9,\"messages\":"
	                   "[{\"role\":\"user\",\"content\":\"agent beta\"}]}",
	                   &status);
	ck_assert_int_eq(status, 200);
	ck_assert_has(answer, "\"text\":\"for beta\"");
	free(answer);
	ck_assert_int_eq(logged_turn(0), 1);
	answer = fake_http("/v1/chat/completions", "{\"model\":\"" MODEL "\","
	                   "\"messages\":[{\"role\":\"user\","
	                   "\"content\":\"agent alpha\"}]}", &status);
	ck_assert_int_eq(status, 200);
	ck_assert_has(answer, "\"content\":\"for alpha\"");
	free(answer);
	ck_assert_int_eq(logged_turn(0), 0);
	/* Both used up. */
	answer = fake_http("/v1/chat/completions", "{\"messages\":[]}", &status);
	ck_assert_int_eq(status, 500);
	ck_assert_has(answer, "fake_script_exhausted");
	free(answer);
}
END_TEST

START_TEST(test_match_no_matching_turn)
{
	long status = 0;
	char *answer;

	/* A beta request does not take alpha's turn, even when it is the
	 * only one left, and does not use it up. */
	script("{\"require_auth\":false,\"turns\":["
	       "{\"text\":\"for alpha\",\"repeat\":2,"
	       "\"match\":{\"body_contains\":\"alpha\"}}]}");
	answer = fake_http("/v1/chat/completions", "{\"messages\":"
	                   "[{\"role\":\"user\",\"content\":\"beta\"}]}",
	                   &status);
	ck_assert_int_eq(status, 500);
	ck_assert_has(answer, "\"type\":\"fake_no_matching_turn\"");
	ck_assert_has(answer, "request 1 ");
	ck_assert_has(answer, "\\\"content\\\":\\\"beta\\\"");
	free(answer);
	ck_assert_int_eq(logged_turn(0), -1);
	answer = fake_http("/v1/chat/completions", "{\"messages\":"
	                   "[{\"role\":\"user\",\"content\":\"alpha\"}]}",
	                   &status);
	ck_assert_int_eq(status, 200);
	free(answer);
	answer = fake_http("/v1/chat/completions", "{\"messages\":"
	                   "[{\"role\":\"user\",\"content\":\"alpha\"}]}",
	                   &status);
	ck_assert_int_eq(status, 200);
	free(answer);
	ck_assert_int_eq(logged_turn(0), 0);
	ck_assert_int_eq(logged_turn(1), 0);
}
END_TEST

/* Requests at once, each for its own turn, whatever the arrival order. */
struct matched {
	int agent;
	long status;
	char *answer;
};

static void *
matched_request(void *arg)
{
	struct matched *m = arg;
	char body[256];

	snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\","
	         "\"content\":\"I am agent-%d\"}]}", m->agent);
	m->answer = fake_http("/v1/chat/completions", body, &m->status);
	return NULL;
}

START_TEST(test_match_concurrent)
{
	struct matched m[4];
	pthread_t t[4];
	char want[64];
	int i;

	script("{\"require_auth\":false,\"turns\":["
	       "{\"text\":\"turn 0\",\"match\":{\"body_contains\":\"agent-0\"}},"
	       "{\"text\":\"turn 1\",\"match\":{\"body_contains\":\"agent-1\"}},"
	       "{\"text\":\"turn 2\",\"match\":{\"body_contains\":\"agent-2\"}},"
	       "{\"text\":\"turn 3\",\"match\":{\"body_contains\":\"agent-3\"}}]}");
	for (i = 3; i >= 0; i--) {
		m[i].agent = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, matched_request,
		                                &m[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(m[i].status, 200);
		snprintf(want, sizeof(want), "\"content\":\"turn %d\"", i);
		ck_assert_has(m[i].answer, want);
		free(m[i].answer);
	}
}
END_TEST

START_TEST(test_match_bad_script)
{
	static const struct {
		const char *script, *why;
	} cases[] = {
		{ "{\"turns\":[{},{},{\"match\":{\"body_contains\":[\"a\",1]}}]}",
		  "turns[2].match.body_contains[1]: expected a string" },
		{ "{\"turns\":[{\"match\":{\"body_contains\":3}}]}",
		  "turns[0].match.body_contains: expected a string or an array "
		  "of strings" },
		{ "{\"turns\":[{\"match\":{\"system_contains\":[\"a\"]}}]}",
		  "turns[0].match.system_contains: expected a string" },
		{ "{\"turns\":[{\"match\":{\"body\":\"a\"}}]}",
		  "turns[0].match: unknown key \\\"body\\\"" },
		{ "{\"turns\":[{\"match\":\"a\"}]}",
		  "turns[0].match: expected an object" },
	};
	long status = 0;
	char *answer;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		answer = fake_http("/__fake/script", cases[i].script, &status);
		ck_assert_int_eq(status, 400);
		ck_assert_has(answer, "invalid_script");
		ck_assert_has(answer, cases[i].why);
		free(answer);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* The fake's life                                                     */
/* ------------------------------------------------------------------ */

static int
fake_start(const char *binary)
{
	char script_path[128], port_path[128], *argv[6];
	FILE *f;
	unsigned port = 0;
	int i;

	snprintf(fake_dir, sizeof(fake_dir), "/tmp/check_gateway.XXXXXX");
	if (mkdtemp(fake_dir) == NULL)
		return -1;
	snprintf(script_path, sizeof(script_path), "%s/script.json", fake_dir);
	snprintf(port_path, sizeof(port_path), "%s/port", fake_dir);
	f = fopen(script_path, "w");
	if (f == NULL)
		return -1;
	fputs("{\"turns\":[]}\n", f);
	fclose(f);
	argv[0] = (char *)binary;
	argv[1] = "--script";
	argv[2] = script_path;
	argv[3] = "--port-file";
	argv[4] = port_path;
	argv[5] = NULL;
	if (posix_spawn(&fake_pid, binary, NULL, NULL, argv, environ) != 0)
		return -1;
	for (i = 0; i < 500 && port == 0; i++) {
		usleep(10000);
		f = fopen(port_path, "r");
		if (f != NULL) {
			if (fscanf(f, "%u", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	unlink(script_path);
	unlink(port_path);
	if (port == 0)
		return -1;
	snprintf(fake_root, sizeof(fake_root), "http://127.0.0.1:%u", port);
	snprintf(fake_base, sizeof(fake_base), "%s/v1", fake_root);
	return 0;
}

static void
fake_stop(void)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
	}
	if (fake_dir[0] != '\0')
		rmdir(fake_dir);
}

static int
find_inputs(const char **fake)
{
	const char *p = getenv("FLUE_TEST_GATEWAY_PLUGIN");
	const char *dir = getenv("FLUE_TEST_PLUGIN_DIR");

	if (p != NULL && p[0] != '\0')
		snprintf(plugin_path, sizeof(plugin_path), "%s", p);
	else if (dir != NULL && dir[0] != '\0')
		snprintf(plugin_path, sizeof(plugin_path), "%s/gateway.so", dir);
	else
		return -1;
	*fake = getenv("FLUE_FAKE_GATEWAY");
	return *fake != NULL && access(*fake, X_OK) == 0 &&
	       access(plugin_path, R_OK) == 0 ? 0 : -1;
}

static Suite *
gateway_suite(void)
{
	Suite *s = suite_create("gateway");
	TCase *answers = tcase_create("answers");
	TCase *retries = tcase_create("retries");
	TCase *errors = tcase_create("errors");
	TCase *config = tcase_create("config");
	TCase *fake = tcase_create("fake");

	tcase_add_checked_fixture(answers, setup, teardown);
	tcase_add_checked_fixture(retries, setup, teardown);
	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_add_checked_fixture(config, setup, teardown);
	tcase_set_timeout(answers, 20);
	tcase_set_timeout(retries, 20);
	tcase_set_timeout(errors, 20);
	tcase_set_timeout(config, 20);
	tcase_set_timeout(fake, 20);

	tcase_add_test(answers, test_text_and_usage);
	tcase_add_test(answers, test_tool_call);
	tcase_add_test(answers, test_framing);
	tcase_add_test(answers, test_anthropic_and_cost);
	tcase_add_test(answers, test_provider_options);
	tcase_add_test(answers, test_concurrent);

	tcase_add_test(retries, test_retry_after);
	tcase_add_test(retries, test_retry_after_ms);
	tcase_add_test(retries, test_503_then_ok);
	tcase_add_test(retries, test_reset_and_eof);
	tcase_add_test(retries, test_error_event);
	tcase_add_test(retries, test_idle_timeout);
	tcase_add_test(retries, test_retries_exhausted);
	tcase_add_test(retries, test_retry_after_too_long);
	tcase_add_test(retries, test_should_retry_header);
	tcase_add_test(retries, test_connection_refused);
	tcase_add_test(retries, test_cancel_first_byte);
	tcase_add_test(retries, test_cancel_retry_wait);

	tcase_add_test(errors, test_400);
	tcase_add_test(errors, test_402);
	tcase_add_test(errors, test_404);
	tcase_add_test(errors, test_401);
	tcase_add_test(errors, test_not_a_stream);

	tcase_add_test(config, test_oidc_expired);
	tcase_add_test(config, test_oidc_valid);
	tcase_add_test(config, test_no_credentials);
	tcase_add_test(config, test_bad_options);
	tcase_add_test(config, test_bad_provider_options);

	tcase_add_test(fake, test_match_out_of_order);
	tcase_add_test(fake, test_match_no_matching_turn);
	tcase_add_test(fake, test_match_concurrent);
	tcase_add_test(fake, test_match_bad_script);

	suite_add_tcase(s, answers);
	suite_add_tcase(s, retries);
	suite_add_tcase(s, errors);
	suite_add_tcase(s, config);
	suite_add_tcase(s, fake);
	return s;
}

int
main(void)
{
	const char *fake;
	SRunner *runner;
	int failed;

	if (find_inputs(&fake) != 0) {
		fprintf(stderr, "check_gateway: set FLUE_TEST_GATEWAY_PLUGIN (or FLUE_TEST_PLUGIN_DIR) and FLUE_FAKE_GATEWAY; skipped\n");
		return 77;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (fake_start(fake) != 0) {
		fprintf(stderr, "check_gateway: %s did not start\n", fake);
		fake_stop();
		return 1;
	}
	runner = srunner_create(gateway_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	fake_stop();
	curl_global_cleanup();
	return failed == 0 ? 0 : 1;
}
