/*
 * gateway -- model answers from the Vercel AI Gateway, or from any server
 * that speaks OpenAI Chat Completions or Anthropic Messages (OpenAI,
 * Anthropic, OpenRouter, Ollama, llama.cpp...).
 *
 * One stream() call is one model answer: codec.c turns flue's request
 * into a body, libcurl sends it, sse.c splits what comes back into
 * server-sent events and the codec's decoder turns those into flue
 * events.  Transient failures (429, 5xx, dropped connections, a server
 * gone silent) are retried here with backoff; anything else fails at once
 * with a message saying what to change.
 *
 * stream() runs concurrently on one instance.  Calls share only the pool
 * of idle connections and the model price lists, both under the
 * instance's mutex; everything else belongs to one call.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include <flue/plugin.h>

#include "codec.h"
#include "jwt.h"
#include "sse.h"
#include "wait.h"

#define GATE_VERSION "0.1.0"
#define GATE_DEFAULT_BASE "https://ai-gateway.vercel.sh/v1"
#define GATE_WHERE "plugin_options.gateway"
#define GATE_ERROR_BODY_MAX (64u * 1024)   /* kept of a failed answer */
#define GATE_MODELS_BODY_MAX (32u << 20)   /* the model list */
#define GATE_MODELS_TIMEOUT_MS 5000
#define GATE_MODELS_RETRY_MS (5 * 60 * 1000) /* a list that failed is
                                                asked for again after */
#define GATE_POOL_MAX 4                    /* idle connections kept */
#define GATE_POLL_MAX_MS 1000
#define GATE_CANCEL_SLICE_MS 50            /* a cancel handle without fd */
#define GATE_QUOTE_MAX 300                 /* a server's words, quoted */
#define GATE_REASON_MAX 600                /* why an attempt failed */
#define GATE_WHERE_MAX 128
#define GATE_JSON_DEPTH 512                /* tool schemas nest deeply */

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

enum gate_num {
	GATE_MAX_RETRIES,
	GATE_RETRY_BASE_MS,
	GATE_RETRY_MAX_MS,
	GATE_MAX_RETRY_AFTER_MS,
	GATE_CONNECT_TIMEOUT_MS,
	GATE_IDLE_TIMEOUT_MS,
	GATE_NUMS
};

static const struct {
	const char *name;
	int64_t value;
} gate_nums[GATE_NUMS] = {
	[GATE_MAX_RETRIES] = { "max_retries", 2 },
	[GATE_RETRY_BASE_MS] = { "retry_base_ms", 500 },
	[GATE_RETRY_MAX_MS] = { "retry_max_ms", 8000 },
	[GATE_MAX_RETRY_AFTER_MS] = { "max_retry_after_ms", 60000 },
	[GATE_CONNECT_TIMEOUT_MS] = { "connect_timeout_ms", 10000 },
	[GATE_IDLE_TIMEOUT_MS] = { "idle_timeout_ms", 120000 },
};

#define GATE_OPTION_NAMES "base_url, api, api_key_env, headers, " \
	"provider_options, model_list, max_retries, retry_base_ms, " \
	"retry_max_ms, max_retry_after_ms, connect_timeout_ms, idle_timeout_ms"

/* What one request runs with.  Pointers borrow from a parsed JSON tree:
 * the instance's options or the request. */
struct gate_settings {
	const char *base_url;          /* NULL: AI_GATEWAY_BASE_URL, default */
	enum gw_api api;
	const char *api_key_env;       /* NULL: the AI Gateway's variables */
	char key_where[GATE_WHERE_MAX]; /* where api_key_env was set */
	json_object *headers;          /* name -> string, or NULL */
	json_object *provider_options; /* or NULL */
	int64_t num[GATE_NUMS];
	int model_list;                /* price answers from <base>/models */
};

/* ------------------------------------------------------------------ */
/* Instances, connections, price lists                                 */
/* ------------------------------------------------------------------ */

/* A transfer slot.  Idle keep-alive connections live in the multi
 * handle's connection cache, so the pair is kept together: a later turn
 * that takes it reuses the connection. */
struct gate_conn {
	struct gate_conn *next;
	CURLM *multi;
	CURL *easy;
};

/* The models of one base URL: id -> pricing object, or NULL when the
 * list could not be had. */
struct gate_prices {
	struct gate_prices *next;
	char *base;
	int64_t fetched_ms;
	json_object *models;
};

/* A message already parsed, found again by its text: a session's
 * history only grows, so each turn's request repeats the last one's
 * messages and only the new ones need parsing. */
#define GATE_MSG_SLOTS 1024            /* a power of two */
struct gate_msg {
	uint64_t hash;
	size_t len;
	char *text;                    /* owned copy; NULL: a free slot */
	json_object *value;            /* owned */
};

struct gate_instance {
	const struct flue_host *host;
	json_object *options;          /* owned: create()'s options */
	struct gate_settings defaults; /* borrowed from options */
	pthread_mutex_t lock;          /* guards pool, prices, the caches and
	                                  every use of cached JSON (json-c
	                                  reference counts are not atomic) */
	struct gate_conn *pool;
	size_t pool_len;
	struct gate_prices *prices;
	struct gate_msg *msgs;         /* owned, GATE_MSG_SLOTS, or NULL */
	size_t n_msgs;
	char *head_text;               /* owned: the last request's head */
	json_object *head;             /* owned: it, parsed */
};

/* ------------------------------------------------------------------ */
/* One stream() call and one attempt                                   */
/* ------------------------------------------------------------------ */

enum gate_cred_kind {
	GATE_CRED_NONE,
	GATE_CRED_ENV,                 /* the configured api_key_env */
	GATE_CRED_KEY,                 /* AI_GATEWAY_API_KEY */
	GATE_CRED_OIDC                 /* VERCEL_OIDC_TOKEN */
};

struct gate_call {
	struct gate_instance *inst;
	const struct flue_host *host;
	const struct flue_provider_request *req;
	json_object *request;          /* owned: the parsed request_json */
	int shared;                    /* request holds cached values: touch
	                                  it only under inst->lock */
	struct gate_settings set;
	char where[GATE_WHERE_MAX];    /* "providers.<id>" or the plugin's */
	const char *model;
	char *base;                    /* owned, no trailing '/' */
	char *url;                     /* owned: base + the API's path */
	int is_gateway;                /* base is the AI Gateway */
	int is_default;                /* ... its public address */
	int want_cost;                 /* price answers from <base>/models */
	int no_bearer;                 /* api.anthropic.com: x-api-key only */
	enum gate_cred_kind cred;
	char *secret;                  /* owned, or NULL */
	int64_t secret_exp;            /* OIDC expiry (Unix s), 0: unknown */
	char *body;                    /* owned */
	size_t body_len;
	struct curl_slist *headers;    /* owned */
	char user_agent[64];
	unsigned seed;                 /* for jitter */
};

struct gate_attempt {
	struct gate_call *call;
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	int64_t last_ms;               /* when the last byte came */
	int checked;                   /* status and type were looked at */
	long status;
	struct sse_parser sse;
	struct gw_decoder *decoder;
	char *errbody;                 /* owned: a failed answer's start */
	size_t errbody_len;
	/* The response headers the retry rules read ("" when absent). */
	char retry_after[64], retry_after_ms[32], should_retry[8];
	int stop_rc;                   /* why the body callback stopped it */
	struct flue_error stop_err;
	/* Held back until the transfer ends: an unpriced USAGE (to fill in
	 * its cost) and STOP (which must stay the last event). */
	int have_usage;
	struct flue_usage usage;
	int have_stop;
	char stop_text[64];
};

/* Why an attempt failed, when it is worth another. */
struct gate_outcome {
	char reason[GATE_REASON_MAX];
	int64_t asked_ms;              /* the wait the server asked for, or
	                                  -1 */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static pthread_once_t gate_once = PTHREAD_ONCE_INIT;
static CURLcode gate_curl_rc;

static void
gate_global_init(void)
{
	gate_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t
gate_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
gate_nomem(const struct flue_host *host, struct flue_error *err)
{
	return host->error_set(err, FLUE_ENOMEM, "gateway: out of memory");
}

/* A JSON string without embedded NULs, or NULL. */
static const char *
gate_json_cstring(json_object *val)
{
	const char *s;

	if (!json_object_is_type(val, json_type_string))
		return NULL;
	s = json_object_get_string(val);
	if (strlen(s) != (size_t)json_object_get_string_len(val))
		return NULL;
	return s;
}

/* Parse len bytes of text as one JSON value; *out is the caller's. */
static int
gate_json_parse(const char *text, size_t len, json_object **out)
{
	struct json_tokener *tok;
	json_object *obj;
	size_t end;

	*out = NULL;
	if (len > INT_MAX ||
	    (tok = json_tokener_new_ex(GATE_JSON_DEPTH)) == NULL)
		return -1;
	obj = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (obj != NULL && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	while (obj != NULL && end < len && isspace((unsigned char)text[end]))
		end++;
	if (obj == NULL || end < len) {
		json_object_put(obj);
		return -1;
	}
	*out = obj;
	return 0;
}

/* What a server said, fit for a one-line message: control bytes become
 * spaces, long text is cut at a character boundary. */
static const char *
gate_quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = len < size - 4 ? len : size - 4, i;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* A copy of a + b. */
static char *
gate_concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s != NULL) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

static int
gate_is_http_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 ||
	       strncasecmp(s, "https://", 8) == 0;
}

/* "host:port" of url into buf; -1 when url does not parse. */
static int
gate_url_origin(const char *url, char *buf, size_t size)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	int rc = -1;

	if (u != NULL &&
	    curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK) {
		snprintf(buf, size, "%s:%s", host, port);
		rc = 0;
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

static int
gate_same_origin(const char *a, const char *b)
{
	char oa[300], ob[300];

	return gate_url_origin(a, oa, sizeof(oa)) == 0 &&
	       gate_url_origin(b, ob, sizeof(ob)) == 0 &&
	       strcasecmp(oa, ob) == 0;
}

/* A seconds count for messages: "1.0 s". */
static const char *
gate_secs(int64_t ms, char *buf, size_t size)
{
	snprintf(buf, size, "%.1f s", (double)ms / 1000.0);
	return buf;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static void
gate_settings_defaults(struct gate_settings *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->api = GW_API_OPENAI_CHAT;
	for (i = 0; i < GATE_NUMS; i++)
		s->num[i] = gate_nums[i].value;
}

/* An HTTP header name: a token (RFC 9110). */
static int
gate_header_name_ok(const char *name)
{
	if (*name == '\0')
		return 0;
	for (; *name != '\0'; name++)
		if (!isalnum((unsigned char)*name) &&
		    strchr("!#$%&'*+-.^_`|~", *name) == NULL)
			return 0;
	return 1;
}

/* A header's value as sent: strings as they are, numbers and booleans
 * as YAML wrote them (flue.yaml allows any scalar).  NULL otherwise. */
static const char *
gate_header_value(json_object *val)
{
	switch (json_object_get_type(val)) {
	case json_type_string:
		return gate_json_cstring(val);
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		return json_object_get_string(val);
	default:
		return NULL;
	}
}

static int
gate_check_headers(const struct flue_host *host, json_object *val,
                   const char *where, struct flue_error *err)
{
	if (!json_object_is_type(val, json_type_object))
		return host->error_set(err, FLUE_EINVAL,
		                       "%s.headers: expected a mapping of header names to strings, e.g. {\"x-title\": \"my app\"}",
		                       where);
	json_object_object_foreach(val, name, value) {
		const char *v = gate_header_value(value);

		if (!gate_header_name_ok(name))
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.headers: '%s' is not a valid header name; use letters, digits and '-'",
			                       where, name);
		if (v == NULL || strpbrk(v, "\r\n") != NULL)
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.headers.%s: expected a string (on one line), number or true/false",
			                       where, name);
	}
	return 0;
}

static int
gate_option_number(const struct flue_host *host, struct gate_settings *s,
                   int i, const char *where, json_object *val,
                   struct flue_error *err)
{
	if (!json_object_is_type(val, json_type_int) ||
	    json_object_get_int64(val) < 0)
		return host->error_set(err, FLUE_EINVAL,
		                       "%s.%s: expected a non-negative integer",
		                       where, gate_nums[i].name);
	s->num[i] = json_object_get_int64(val);
	return 0;
}

/* Set one option from val.  1 when key names no option. */
static int
gate_option(const struct flue_host *host, struct gate_settings *s,
            const char *where, const char *key, json_object *val,
            struct flue_error *err)
{
	const char *str = gate_json_cstring(val);
	int i;

	for (i = 0; i < GATE_NUMS; i++)
		if (strcmp(key, gate_nums[i].name) == 0)
			return gate_option_number(host, s, i, where, val, err);
	if (strcmp(key, "base_url") == 0) {
		if (str == NULL || !gate_is_http_url(str))
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.base_url: expected an http:// or https:// URL such as %s",
			                       where, GATE_DEFAULT_BASE);
		s->base_url = str;
	} else if (strcmp(key, "api") == 0) {
		if (gw_api_parse(str, &s->api) != 0)
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.api: expected \"openai-chat\" or \"anthropic-messages\"",
			                       where);
	} else if (strcmp(key, "api_key_env") == 0) {
		if (str == NULL || str[0] == '\0' || strchr(str, '=') != NULL)
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.api_key_env: expected the name of an environment variable, e.g. OPENAI_API_KEY",
			                       where);
		s->api_key_env = str;
		snprintf(s->key_where, sizeof(s->key_where), "%s", where);
	} else if (strcmp(key, "headers") == 0) {
		int rc = gate_check_headers(host, val, where, err);

		if (rc != 0)
			return rc;
		s->headers = val;
	} else if (strcmp(key, "provider_options") == 0) {
		if (!json_object_is_type(val, json_type_object))
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.provider_options: expected an object such as {\"gateway\": {\"order\": [\"anthropic\"]}}",
			                       where);
		s->provider_options = val;
	} else if (strcmp(key, "model_list") == 0) {
		if (!json_object_is_type(val, json_type_boolean))
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.model_list: expected true or false",
			                       where);
		s->model_list = json_object_get_boolean(val);
	} else {
		return 1;
	}
	return 0;
}

/* Edits (insert, delete, replace, swap two neighbours) from a to b,
 * counted up to 3: enough to tell a typo from another word. */
static int
gate_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[40][40];

	if (la >= 40 || lb >= 40)
		return 3;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* The option name closest to key, or NULL when none is close. */
static const char *
gate_suggest(const char *key)
{
	static const char *const names[] = {
		"base_url", "api", "api_key_env", "headers", "provider_options",
		"model_list", NULL
	};
	const char *best = NULL;
	int best_d = 3, i;

	for (i = 0; names[i] != NULL; i++)
		if (gate_distance(key, names[i]) < best_d) {
			best_d = gate_distance(key, names[i]);
			best = names[i];
		}
	for (i = 0; i < GATE_NUMS; i++)
		if (gate_distance(key, gate_nums[i].name) < best_d) {
			best_d = gate_distance(key, gate_nums[i].name);
			best = gate_nums[i].name;
		}
	return best;
}

/* Layer the options of obj over s.  With strict, a key that names no
 * option is an error; without, it is left to others. */
static int
gate_settings_apply(const struct flue_host *host, struct gate_settings *s,
                    json_object *obj, const char *where, int strict,
                    struct flue_error *err)
{
	json_object_object_foreach(obj, key, val) {
		int rc;

		if (val == NULL)
			continue;      /* null reads as absent */
		rc = gate_option(host, s, where, key, val, err);
		if (rc < 0)
			return rc;
		if (rc > 0 && strict && gate_suggest(key) != NULL)
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.%s: unknown option; did you mean %s?",
			                       where, key, gate_suggest(key));
		if (rc > 0 && strict)
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.%s: unknown option; the options are " GATE_OPTION_NAMES,
			                       where, key);
	}
	return 0;
}

/* The request's "provider" object: its options, then its own keys,
 * over the instance's defaults.  Its other keys (id, plugin, models)
 * belong to flue. */
static int
gate_provider_settings(struct gate_call *call, json_object *provider,
                       struct flue_error *err)
{
	const struct flue_host *host = call->host;
	json_object *id, *options;
	char where[GATE_WHERE_MAX + 16];

	if (!json_object_is_type(provider, json_type_object))
		return host->error_set(err, FLUE_EINVAL,
		                       "the request's \"provider\" must be an object");
	if (json_object_object_get_ex(provider, "id", &id) &&
	    gate_json_cstring(id) != NULL)
		snprintf(call->where, sizeof(call->where), "providers.%.64s",
		         json_object_get_string(id));
	else
		snprintf(call->where, sizeof(call->where), "providers.(unnamed)");
	if (json_object_object_get_ex(provider, "options", &options) &&
	    options != NULL) {
		if (!json_object_is_type(options, json_type_object))
			return host->error_set(err, FLUE_EINVAL,
			                       "%s.options: expected a mapping of options",
			                       call->where);
		snprintf(where, sizeof(where), "%s.options", call->where);
		if (gate_settings_apply(host, &call->set, options, where, 1,
		                        err) != 0)
			return err->code;
	}
	return gate_settings_apply(host, &call->set, provider, call->where, 0,
	                           err);
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

/* The "exp" claim of a JWT (Unix seconds); 0 when the token is not a
 * JWT or has none.  Only tells an expired token apart before it is
 * sent. */
static int64_t
gate_jwt_exp(const char *token)
{
	json_object *claims = plugin_jwt_claims(token), *exp;
	int64_t t = 0;

	if (claims == NULL)
		return 0;
	if (json_object_object_get_ex(claims, "exp", &exp) &&
	    (json_object_is_type(exp, json_type_int) ||
	     json_object_is_type(exp, json_type_double)))
		t = json_object_get_int64(exp);
	json_object_put(claims);
	return t;
}

static const char *
gate_utc(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, size, "%" PRId64, t);
	return buf;
}

/* "3 h ago" for a time that passed secs seconds ago. */
static const char *
gate_ago(int64_t secs, char *buf, size_t size)
{
	if (secs < 60)
		snprintf(buf, size, "%" PRId64 " s ago", secs);
	else if (secs < 3600)
		snprintf(buf, size, "%" PRId64 " min ago", secs / 60);
	else if (secs < 48 * 3600)
		snprintf(buf, size, "%" PRId64 " h ago", secs / 3600);
	else
		snprintf(buf, size, "%" PRId64 " days ago", secs / 86400);
	return buf;
}

/* A copy of $name, or NULL when it is unset or empty. */
static char *
gate_env(const char *name, int *nomem)
{
	const char *v = getenv(name);
	char *copy;

	if (v == NULL || v[0] == '\0')
		return NULL;
	copy = strdup(v);
	if (copy == NULL)
		*nomem = 1;
	return copy;
}

/* Read the key for this request from the environment, every time, so
 * that a long-running server picks up a refreshed token.  The AI
 * Gateway's own variables only ever go to the AI Gateway: a providers:
 * entry for another server names its variable with api_key_env. */
static int
gate_credentials(struct gate_call *call, struct flue_error *err)
{
	const struct flue_host *host = call->host;
	const char *var = call->set.api_key_env;
	char when[64], ago[32];
	int nomem = 0;
	int64_t now;

	if (var != NULL) {
		call->secret = gate_env(var, &nomem);
		if (nomem)
			return gate_nomem(host, err);
		if (call->secret == NULL)
			return host->error_set(err, FLUE_EAUTH,
			                       "%s.api_key_env names %s, which is not set; export it where flue runs, or remove api_key_env",
			                       call->set.key_where, var);
		call->cred = GATE_CRED_ENV;
		return 0;
	}
	if (!call->is_gateway)
		return 0;
	if ((call->secret = gate_env("AI_GATEWAY_API_KEY", &nomem)) != NULL) {
		call->cred = GATE_CRED_KEY;
		return 0;
	}
	if (!nomem && (call->secret = gate_env("VERCEL_OIDC_TOKEN", &nomem)) !=
	    NULL) {
		call->cred = GATE_CRED_OIDC;
		call->secret_exp = gate_jwt_exp(call->secret);
		now = (int64_t)time(NULL);
		if (call->secret_exp > 0 && call->secret_exp <= now)
			return host->error_set(err, FLUE_EAUTH,
			                       "VERCEL_OIDC_TOKEN expired at %s (%s); run `vercel env pull` to get a fresh one",
			                       gate_utc(call->secret_exp, when, sizeof(when)),
			                       gate_ago(now - call->secret_exp, ago, sizeof(ago)));
		return 0;
	}
	if (nomem)
		return gate_nomem(host, err);
	if (call->is_default)
		return host->error_set(err, FLUE_EAUTH,
		                       "no credentials for AI Gateway: set AI_GATEWAY_API_KEY, or VERCEL_OIDC_TOKEN (run `vercel env pull`)");
	return 0;    /* a server of one's own may need none */
}

/* Which credential went out, for a 401 or 403: "AI_GATEWAY_API_KEY". */
static const char *
gate_cred_name(const struct gate_call *call, char *buf, size_t size)
{
	char when[64];

	switch (call->cred) {
	case GATE_CRED_ENV:
		snprintf(buf, size, "the key in %s (%s.api_key_env)",
		         call->set.api_key_env, call->set.key_where);
		break;
	case GATE_CRED_KEY:
		snprintf(buf, size, "AI_GATEWAY_API_KEY");
		break;
	case GATE_CRED_OIDC:
		if (call->secret_exp > 0)
			snprintf(buf, size, "VERCEL_OIDC_TOKEN (it expires at %s)",
			         gate_utc(call->secret_exp, when, sizeof(when)));
		else
			snprintf(buf, size, "VERCEL_OIDC_TOKEN");
		break;
	default:
		return NULL;
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* Headers                                                             */
/* ------------------------------------------------------------------ */

static int
gate_configured(json_object *headers, const char *name)
{
	if (headers == NULL)
		return 0;
	json_object_object_foreach(headers, key, val) {
		(void)val;
		if (strcasecmp(key, name) == 0)
			return 1;
	}
	return 0;
}

/* Append "name: value" unless the configured headers set name (they
 * win, so that anthropic-version can be changed). */
static int
gate_header(struct curl_slist **list, json_object *configured,
            const char *name, const char *value)
{
	struct curl_slist *grown;
	char *line;

	if (gate_configured(configured, name))
		return 0;
	line = malloc(strlen(name) + strlen(value) + 3);
	if (line == NULL)
		return -1;
	sprintf(line, "%s:%s%s", name, value[0] != '\0' ? " " : "", value);
	grown = curl_slist_append(*list, line);
	free(line);
	if (grown == NULL)
		return -1;
	*list = grown;
	return 0;
}

/* The configured headers.  An empty value sends no such header at all
 * ("name:" is libcurl's way to drop one), so that a default like
 * authorization can be taken away for a server that objects to it. */
static int
gate_header_configured(struct curl_slist **list, json_object *headers)
{
	if (headers == NULL)
		return 0;
	json_object_object_foreach(headers, name, val) {
		const char *v = gate_header_value(val);
		struct curl_slist *grown;
		char *line = malloc(strlen(name) + strlen(v) + 3);

		if (line == NULL)
			return -1;
		if (v[0] == '\0')
			sprintf(line, "%s:", name);
		else
			sprintf(line, "%s: %s", name, v);
		grown = curl_slist_append(*list, line);
		free(line);
		if (grown == NULL)
			return -1;
		*list = grown;
	}
	return 0;
}

/* The headers of the model request (stream) or of the model list. */
static struct curl_slist *
gate_headers(const struct gate_call *call, int stream)
{
	json_object *conf = call->set.headers;
	struct curl_slist *list = NULL;
	char *bearer = NULL;
	int anthropic = stream && call->set.api == GW_API_ANTHROPIC_MESSAGES;
	int bad = 0;

	if (call->secret != NULL) {
		bearer = gate_concat("Bearer ", call->secret);
		bad |= bearer == NULL;
		if (bearer != NULL && !(anthropic && call->no_bearer))
			bad |= gate_header(&list, conf, "authorization", bearer);
		if (anthropic)
			bad |= gate_header(&list, conf, "x-api-key", call->secret);
	}
	if (anthropic)
		bad |= gate_header(&list, conf, "anthropic-version", "2023-06-01");
	if (stream) {
		bad |= gate_header(&list, conf, "content-type",
		                   "application/json");
		bad |= gate_header(&list, conf, "accept", "text/event-stream");
		/* No "Expect: 100-continue" round trip before a large body. */
		bad |= gate_header(&list, conf, "expect", "");
	} else {
		bad |= gate_header(&list, conf, "accept", "application/json");
	}
	bad |= gate_header_configured(&list, conf);
	free(bearer);
	if (bad) {
		curl_slist_free_all(list);
		return NULL;
	}
	return list;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void
gate_conn_free(struct gate_conn *c)
{
	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	free(c);
}

static struct gate_conn *
gate_conn_get(struct gate_instance *inst)
{
	struct gate_conn *c;

	pthread_mutex_lock(&inst->lock);
	c = inst->pool;
	if (c != NULL) {
		inst->pool = c->next;
		inst->pool_len--;
	}
	pthread_mutex_unlock(&inst->lock);
	if (c != NULL) {
		c->next = NULL;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->multi = curl_multi_init();
	c->easy = curl_easy_init();
	if (c->multi == NULL || c->easy == NULL) {
		gate_conn_free(c);
		return NULL;
	}
	return c;
}

/* Give c back.  Its options are reset (they point into the finished
 * call); its cached connections stay for the next turn. */
static void
gate_conn_put(struct gate_instance *inst, struct gate_conn *c)
{
	curl_easy_reset(c->easy);
	pthread_mutex_lock(&inst->lock);
	if (inst->pool_len < GATE_POOL_MAX) {
		c->next = inst->pool;
		inst->pool = c;
		inst->pool_len++;
		c = NULL;
	}
	pthread_mutex_unlock(&inst->lock);
	gate_conn_free(c);
}

/* Options every transfer of a call shares. */
static void
gate_easy_common(CURL *easy, const struct gate_call *call,
                 struct curl_slist *headers, char *errbuf)
{
	int64_t connect_ms = call->set.num[GATE_CONNECT_TIMEOUT_MS];

	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, call->user_agent);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	if (connect_ms > 0)
		curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
		                 (long)(connect_ms < LONG_MAX ? connect_ms :
		                        LONG_MAX));
	errbuf[0] = '\0';
}

enum gate_end {
	GATE_END_DONE,                 /* the transfer finished, *out says how */
	GATE_END_CANCELED,
	GATE_END_IDLE,                 /* nothing came for idle_ms */
	GATE_END_FAILED                /* libcurl itself failed */
};

/* Drive c's transfer until it ends, the cancel handle fires, or (idle_ms
 * > 0) nothing arrived for idle_ms after *last_ms.  The cancel handle's
 * fd is polled with the sockets, so a cancel stops the transfer at once;
 * removing the handle closes its connection. */
static enum gate_end
gate_run(const struct flue_host *host, const struct flue_cancel *cancel,
         struct gate_conn *c, const int64_t *last_ms, int64_t idle_ms,
         CURLcode *out)
{
	struct curl_waitfd wfd;
	enum gate_end end = GATE_END_FAILED;
	int fd = host->cancel_fd(cancel), running = 1, left;
	CURLMsg *msg;

	*out = CURLE_OK;
	wfd.fd = fd;
	wfd.events = CURL_WAIT_POLLIN;
	wfd.revents = 0;
	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
		return GATE_END_FAILED;
	for (;;) {
		int64_t wait = GATE_POLL_MAX_MS;

		if (curl_multi_perform(c->multi, &running) != CURLM_OK)
			break;
		if (host->cancel_is_set(cancel)) {
			end = GATE_END_CANCELED;
			break;
		}
		if (running == 0) {
			end = GATE_END_DONE;
			break;
		}
		if (idle_ms > 0) {
			int64_t rest = *last_ms + idle_ms - gate_now_ms();

			if (rest <= 0) {
				end = GATE_END_IDLE;
				break;
			}
			if (rest < wait)
				wait = rest;
		}
		if (fd < 0 && cancel != NULL && wait > GATE_CANCEL_SLICE_MS)
			wait = GATE_CANCEL_SLICE_MS;
		if (curl_multi_poll(c->multi, fd >= 0 ? &wfd : NULL,
		                    fd >= 0 ? 1 : 0, (int)wait, NULL) != CURLM_OK)
			break;
	}
	while (end == GATE_END_DONE &&
	       (msg = curl_multi_info_read(c->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
			*out = msg->data.result;
	curl_multi_remove_handle(c->multi, c->easy);
	return end;
}

/* ------------------------------------------------------------------ */
/* Prices                                                              */
/* ------------------------------------------------------------------ */

/* A price: a decimal string ("0.000003", "3e-06") or a number, read
 * without strtod so that the process's locale cannot change it. */
static int
gate_price(json_object *pricing, const char *key, double *out)
{
	json_object *val;
	const char *s;
	double v = 0, scale = 1;
	int digits = 0, exp = 0, esign = 1;

	*out = 0;
	if (!json_object_object_get_ex(pricing, key, &val) || val == NULL)
		return -1;
	if (json_object_is_type(val, json_type_int) ||
	    json_object_is_type(val, json_type_double)) {
		*out = json_object_get_double(val);
		return *out >= 0 ? 0 : -1;
	}
	if ((s = gate_json_cstring(val)) == NULL)
		return -1;
	for (; isdigit((unsigned char)*s); s++, digits++)
		v = v * 10 + (*s - '0');
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++, digits++) {
			v = v * 10 + (*s - '0');
			scale *= 10;
		}
	if (digits == 0)
		return -1;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			esign = *s++ == '-' ? -1 : 1;
		if (!isdigit((unsigned char)*s))
			return -1;
		for (; isdigit((unsigned char)*s); s++)
			if (exp < 400)
				exp = exp * 10 + (*s - '0');
	}
	if (*s != '\0')
		return -1;
	for (; exp > 0; exp--)
		scale = esign < 0 ? scale * 10 : scale / 10;
	*out = v / scale;
	return 0;
}

/* Fill u's cost from the model's pricing; -1 when the model or its
 * input and output prices are missing.  OpenRouter's list names them
 * prompt and completion. */
static int
gate_fill_cost(json_object *models, const char *model, struct flue_usage *u)
{
	json_object *pricing;
	double in, out, cache_read, cache_write;

	if (models == NULL ||
	    !json_object_object_get_ex(models, model, &pricing) ||
	    (gate_price(pricing, "input", &in) != 0 &&
	     gate_price(pricing, "prompt", &in) != 0) ||
	    (gate_price(pricing, "output", &out) != 0 &&
	     gate_price(pricing, "completion", &out) != 0))
		return -1;
	gate_price(pricing, "input_cache_read", &cache_read);
	gate_price(pricing, "input_cache_write", &cache_write);
	u->cost_usd = (double)u->input_tokens * in +
	              (double)u->output_tokens * out +
	              (double)u->cache_read_tokens * cache_read +
	              (double)u->cache_write_tokens * cache_write;
	return 0;
}

struct gate_list {
	char *data;                    /* owned */
	size_t len;
};

static size_t
gate_on_list(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gate_list *list = arg;
	size_t len = size * nmemb;
	char *grown;

	if (len > GATE_MODELS_BODY_MAX - list->len)
		return 0;
	grown = realloc(list->data, list->len + len + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + list->len, ptr, len);
	list->data = grown;
	list->len += len;
	grown[list->len] = '\0';
	return len;
}

/* {"data":[{"id","pricing"}...]} as id -> pricing; NULL when the answer
 * has no such list. */
static json_object *
gate_price_map(const char *text, size_t len)
{
	json_object *root, *data, *map = NULL;
	size_t i, n;

	if (gate_json_parse(text, len, &root) != 0)
		return NULL;
	if (json_object_object_get_ex(root, "data", &data) &&
	    json_object_is_type(data, json_type_array) &&
	    (map = json_object_new_object()) != NULL) {
		n = json_object_array_length(data);
		for (i = 0; i < n; i++) {
			json_object *m = json_object_array_get_idx(data, i);
			json_object *id, *pricing;

			if (json_object_object_get_ex(m, "id", &id) &&
			    gate_json_cstring(id) != NULL &&
			    json_object_object_get_ex(m, "pricing", &pricing) &&
			    json_object_is_type(pricing, json_type_object))
				json_object_object_add(map, json_object_get_string(id),
				                       json_object_get(pricing));
		}
	}
	json_object_put(root);
	return map;
}

/* GET <base>/models, briefly.  Failures only cost the cost figure, so
 * they are logged at debug level and nothing more. */
static json_object *
gate_fetch_models(struct gate_call *call)
{
	const struct flue_host *host = call->host;
	struct gate_list list = { NULL, 0 };
	struct curl_slist *headers = gate_headers(call, 0);
	char *url = gate_concat(call->base, "/models"), errbuf[CURL_ERROR_SIZE];
	struct gate_conn *c = gate_conn_get(call->inst);
	json_object *map = NULL;
	CURLcode cc = CURLE_OK;
	enum gate_end end = GATE_END_FAILED;
	long status = 0;

	if (headers != NULL && url != NULL && c != NULL) {
		gate_easy_common(c->easy, call, headers, errbuf);
		curl_easy_setopt(c->easy, CURLOPT_URL, url);
		curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS,
		                 (long)GATE_MODELS_TIMEOUT_MS);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, gate_on_list);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &list);
		end = gate_run(host, call->req->cancel, c, NULL, 0, &cc);
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	}
	if (end == GATE_END_DONE && cc == CURLE_OK && status == 200)
		map = gate_price_map(list.data, list.len);
	if (map == NULL)
		host->log(host, FLUE_LOG_DEBUG,
		          "no model prices from %s/models (%s); costs stay unknown",
		          call->base, end != GATE_END_DONE ? "not fetched" :
		          cc != CURLE_OK ? (errbuf[0] ? errbuf :
		                            curl_easy_strerror(cc)) :
		          status != 200 ? "status not 200" : "no model list");
	if (c != NULL)
		gate_conn_put(call->inst, c);
	curl_slist_free_all(headers);
	free(url);
	free(list.data);
	return map;
}

static struct gate_prices *
gate_prices_find(struct gate_instance *inst, const char *base)
{
	struct gate_prices *p;

	for (p = inst->prices; p != NULL; p = p->next)
		if (strcmp(p->base, base) == 0)
			return p;
	return NULL;
}

/* Price u from the model list of the call's base URL, fetched once per
 * instance (a failed fetch is tried again after a while). */
static void
gate_price_usage(struct gate_call *call, struct flue_usage *u)
{
	struct gate_instance *inst = call->inst;
	struct gate_prices *p;
	json_object *map;
	int64_t now = gate_now_ms();

	pthread_mutex_lock(&inst->lock);
	p = gate_prices_find(inst, call->base);
	if (p != NULL && (p->models != NULL ||
	                  now - p->fetched_ms < GATE_MODELS_RETRY_MS)) {
		gate_fill_cost(p->models, call->model, u);
		pthread_mutex_unlock(&inst->lock);
		return;
	}
	pthread_mutex_unlock(&inst->lock);

	map = gate_fetch_models(call);
	if (call->host->cancel_is_set(call->req->cancel)) {
		json_object_put(map);   /* cut short: not a verdict on the list */
		return;
	}
	pthread_mutex_lock(&inst->lock);
	p = gate_prices_find(inst, call->base);
	if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
		if ((p->base = strdup(call->base)) == NULL) {
			free(p);
			p = NULL;
		} else {
			p->next = inst->prices;
			inst->prices = p;
		}
	}
	if (p != NULL) {
		json_object_put(p->models);
		p->models = map;
		p->fetched_ms = gate_now_ms();
		map = NULL;
		gate_fill_cost(p->models, call->model, u);
	}
	pthread_mutex_unlock(&inst->lock);
	json_object_put(map);
}

/* ------------------------------------------------------------------ */
/* One attempt: events                                                 */
/* ------------------------------------------------------------------ */

/* The decoder's events, on their way to the caller. */
static int
gate_on_decoded(void *payload, const struct flue_provider_event *ev)
{
	struct gate_attempt *a = payload;
	const struct flue_provider_request *req = a->call->req;

	if (a->call->host->cancel_is_set(req->cancel))
		return 1;
	if (ev->type == FLUE_PROVIDER_USAGE && ev->usage != NULL) {
		a->have_usage = 0;
		if (a->call->want_cost && ev->usage->cost_usd < 0) {
			a->usage = *ev->usage;
			a->have_usage = 1;
			return 0;
		}
	}
	if (ev->type == FLUE_PROVIDER_STOP) {
		size_t n = ev->text_len < sizeof(a->stop_text) - 1 ?
		           ev->text_len : sizeof(a->stop_text) - 1;

		if (ev->text != NULL)
			memcpy(a->stop_text, ev->text, n);
		a->stop_text[ev->text != NULL ? n : 0] = '\0';
		a->have_stop = 1;
		return 0;
	}
	return req->on_event(req->event_payload, ev);
}

/* The answer is complete: hand over what was held back. */
static int
gate_flush(struct gate_attempt *a, struct flue_error *err)
{
	struct gate_call *call = a->call;
	const struct flue_provider_request *req = call->req;
	struct flue_provider_event ev;

	if (call->host->cancel_is_set(req->cancel))
		return call->host->error_set(err, FLUE_ECANCELED,
		                             "the request to %s was cancelled",
		                             call->url);
	memset(&ev, 0, sizeof(ev));
	if (a->have_usage) {
		gate_price_usage(call, &a->usage);
		ev.type = FLUE_PROVIDER_USAGE;
		ev.usage = &a->usage;
		if (req->on_event(req->event_payload, &ev) != 0)
			goto stopped;
	}
	if (a->have_stop) {
		if (call->host->cancel_is_set(req->cancel))
			return call->host->error_set(err, FLUE_ECANCELED,
			                             "the request to %s was cancelled",
			                             call->url);
		memset(&ev, 0, sizeof(ev));
		ev.type = FLUE_PROVIDER_STOP;
		ev.text = a->stop_text;
		ev.text_len = strlen(a->stop_text);
		if (req->on_event(req->event_payload, &ev) != 0)
			goto stopped;
	}
	return 0;
stopped:
	return call->host->error_set(err, FLUE_ECANCELED,
	                             "the event callback stopped the answer");
}

/* ------------------------------------------------------------------ */
/* One attempt: bytes                                                  */
/* ------------------------------------------------------------------ */

static int
gate_media_is(const char *type, const char *want)
{
	size_t n = strlen(want);

	return strncasecmp(type, want, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ' ||
	        type[n] == '\t');
}

/* At the first byte (or the end of an empty body): the status, and for a
 * success, that it is a stream.  -1 stops the transfer. */
static int
gate_check_response(struct gate_attempt *a)
{
	char *type = NULL;

	a->checked = 1;
	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->status < 200 || a->status > 299)
		return 0;
	curl_easy_getinfo(a->easy, CURLINFO_CONTENT_TYPE, &type);
	if (type != NULL && gate_media_is(type, "text/event-stream"))
		return 0;
	a->stop_rc = a->call->host->error_set(&a->stop_err, FLUE_ERROR,
	                                      "expected text/event-stream from %s, got %s; check that base_url points at an OpenAI- or Anthropic-compatible API",
	                                      a->call->url,
	                                      type != NULL ? type : "no content type");
	return -1;
}

static int
gate_on_sse(void *arg, const struct sse_event *ev)
{
	struct gate_attempt *a = arg;
	int rc = gw_decoder_event(a->decoder, ev->type, ev->data, ev->data_len,
	                          &a->stop_err);

	if (rc == 0)
		return 0;
	a->stop_rc = rc;
	return 1;
}

/* Keep the start of a failed answer for its message. */
static size_t
gate_keep_error(struct gate_attempt *a, const char *ptr, size_t len)
{
	size_t room;

	if (a->errbody == NULL &&
	    (a->errbody = malloc(GATE_ERROR_BODY_MAX + 1)) == NULL)
		return 0;
	room = GATE_ERROR_BODY_MAX - a->errbody_len;
	if (len > room)
		return 0;      /* enough to say what went wrong */
	memcpy(a->errbody + a->errbody_len, ptr, len);
	a->errbody_len += len;
	a->errbody[a->errbody_len] = '\0';
	return len;
}

static size_t
gate_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gate_attempt *a = arg;
	const struct flue_host *host = a->call->host;
	size_t len = size * nmemb;
	int rc;

	a->last_ms = gate_now_ms();
	if (!a->checked && gate_check_response(a) != 0)
		return 0;
	if (a->status < 200 || a->status > 299)
		return gate_keep_error(a, ptr, len);
	rc = sse_parser_feed(&a->sse, ptr, len);
	/* A slow event consumer is not a silent server. */
	a->last_ms = gate_now_ms();
	if (rc == SSE_ENOMEM)
		a->stop_rc = gate_nomem(host, &a->stop_err);
	else if (rc == SSE_ETOOLONG)
		a->stop_rc = host->error_set(&a->stop_err, FLUE_ERROR,
		                             "%s sent a line longer than %u MiB; it does not look like a stream of server-sent events",
		                             a->call->url,
		                             (unsigned)(SSE_MAX_LINE >> 20));
	return rc == 0 ? len : 0;
}

/* ------------------------------------------------------------------ */
/* One attempt: how it ended                                           */
/* ------------------------------------------------------------------ */

static int gate_retry(struct gate_outcome *out, const char *fmt, ...)
	FLUE_PRINTF(2, 3);

static int
gate_retry(struct gate_outcome *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	return FLUE_ERETRY;
}

/* Errors of the connection rather than of the request. */
static int
gate_curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
		return 1;
	default:
		return 0;
	}
}

static int
gate_curl_outcome(struct gate_attempt *a, CURLcode cc,
                  struct gate_outcome *out, struct flue_error *err)
{
	const struct flue_host *host = a->call->host;
	const char *detail = a->errbuf[0] != '\0' ? a->errbuf :
	                     curl_easy_strerror(cc);

	if (gate_curl_transient(cc))
		return gate_retry(out, "request to %s failed: %s", a->call->url,
		                  detail);
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return host->error_set(err, FLUE_EINVAL,
		                       "cannot use %s: %s; check base_url",
		                       a->call->url, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return host->error_set(err, FLUE_ERROR,
		                       "TLS with %s failed: %s; check the server's certificate and the system's CA certificates",
		                       a->call->url, detail);
	default:
		return host->error_set(err, FLUE_ERROR,
		                       "request to %s failed: %s; check base_url and the network",
		                       a->call->url, detail);
	}
}

/* Keep value (len bytes, blanks around it trimmed) in buf. */
static void
gate_keep_header(char *buf, size_t size, const char *value, size_t len)
{
	while (len > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)value[len - 1]))
		len--;
	if (len >= size)
		len = 0;       /* no sane value is this long */
	memcpy(buf, value, len);
	buf[len] = '\0';
}

/* The response headers, one line at a time.  Only the three the retry
 * rules need are kept; a status line starts a new response (after a 1xx
 * one), so what came before it is forgotten. */
static size_t
gate_on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gate_attempt *a = arg;
	size_t len = size * nmemb, n;
	const char *colon = memchr(ptr, ':', len);

	if (len >= 5 && strncasecmp(ptr, "HTTP/", 5) == 0) {
		a->retry_after[0] = a->retry_after_ms[0] = a->should_retry[0] = '\0';
		return len;
	}
	if (colon == NULL)
		return len;
	n = (size_t)(colon - ptr);
	colon++;
	if (n == 11 && strncasecmp(ptr, "retry-after", n) == 0)
		gate_keep_header(a->retry_after, sizeof(a->retry_after), colon,
		                 len - n - 1);
	else if (n == 14 && strncasecmp(ptr, "retry-after-ms", n) == 0)
		gate_keep_header(a->retry_after_ms, sizeof(a->retry_after_ms),
		                 colon, len - n - 1);
	else if (n == 14 && strncasecmp(ptr, "x-should-retry", n) == 0)
		gate_keep_header(a->should_retry, sizeof(a->should_retry), colon,
		                 len - n - 1);
	return len;
}

/* A non-negative decimal number of units (ms or s) in ms; -1 if s is
 * not one. */
static int64_t
gate_delay_value(const char *s, double unit_ms)
{
	double v = 0, scale = 1;
	int digits = 0;

	while (*s == ' ')
		s++;
	for (; isdigit((unsigned char)*s); s++, digits++)
		if (v < 1e12)
			v = v * 10 + (*s - '0');
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++, digits++)
			if (scale < 1e9) {
				v = v * 10 + (*s - '0');
				scale *= 10;
			}
	while (*s == ' ')
		s++;
	if (digits == 0 || *s != '\0')
		return -1;
	return (int64_t)(v / scale * unit_ms);
}

/* The wait the server asked for: retry-after-ms, else retry-after in
 * seconds or as an HTTP date.  -1 when it asked for none. */
static int64_t
gate_asked_delay(const struct gate_attempt *a)
{
	const char *v = a->retry_after;
	int64_t ms;
	time_t when;

	if (a->retry_after_ms[0] != '\0' &&
	    (ms = gate_delay_value(a->retry_after_ms, 1)) >= 0)
		return ms;
	if (v[0] == '\0')
		return -1;
	if ((ms = gate_delay_value(v, 1000)) >= 0)
		return ms;
	when = curl_getdate(v, NULL);
	if (when == (time_t)-1)
		return -1;
	ms = ((int64_t)when - (int64_t)time(NULL)) * 1000;
	return ms > 0 ? ms : 0;
}

/* Whether a refusal says the request does not fit the context window.
 * Providers word it differently; these are the phrasings OpenAI,
 * Anthropic, Gemini, Bedrock, OpenRouter, llama.cpp and Ollama use. */
static int
gate_is_overflow(const char *type, const char *msg)
{
	static const char *const phrases[] = {
		"context_length_exceeded", "context length", "context window",
		"prompt is too long", "maximum prompt length",
		"input is too long", "too many tokens", "token limit",
		"reduce the length of the messages", "exceeds the available context",
		"input token count", NULL
	};

	for (size_t i = 0; phrases[i] != NULL; i++)
		if ((type != NULL && strcasestr(type, phrases[i]) != NULL) ||
		    (msg != NULL && strcasestr(msg, phrases[i]) != NULL))
			return 1;
	return 0;
}

/* The final answer to a failed request: the provider's words, and what
 * to do about them. */
static int
gate_http_final(struct gate_attempt *a, long status, const char *type,
                const char *msg, struct flue_error *err)
{
	const struct gate_call *call = a->call;
	const struct flue_host *host = call->host;
	const char *sp = type != NULL ? " " : "", *t = type != NULL ? type : "";
	const char *m = msg[0] != '\0' ? msg : "no details given";
	char cred[200], *moved = NULL;

	if ((status == 400 || status == 413) && gate_is_overflow(type, msg))
		return host->error_set(err, FLUE_ECONTEXT,
		                       "%s: the conversation is longer than the model's context window (%ld%s%s): %s",
		                       call->url, status, sp, t, m);
	switch (status) {
	case 400:
		return host->error_set(err, FLUE_EINVAL,
		                       "%s rejected the request (400%s%s): %s",
		                       call->url, sp, t, m);
	case 401:
	case 403:
		if (gate_cred_name(call, cred, sizeof(cred)) == NULL)
			return host->error_set(err, FLUE_EAUTH,
			                       "%s refused the request (%ld%s%s: %s); it was sent without credentials: set %s.api_key_env to the variable holding the key%s",
			                       call->url, status, sp, t, m, call->where,
			                       call->is_gateway ? ", or set AI_GATEWAY_API_KEY" : "");
		return host->error_set(err, FLUE_EAUTH,
		                       "%s refused the request (%ld%s%s: %s); it was sent with %s: %s",
		                       call->url, status, sp, t, m, cred,
		                       status == 403 ?
		                       "check that it may use this model (team, project and access rules)" :
		                       call->cred == GATE_CRED_OIDC ?
		                       "run `vercel env pull` for a fresh token, or set AI_GATEWAY_API_KEY" :
		                       "check that it is valid and not revoked");
	case 402:
		if (call->is_gateway)
			return host->error_set(err, FLUE_EAUTH,
			                       "AI Gateway: insufficient funds (%s); add credits in the Vercel dashboard (AI Gateway → Credits) or use another key",
			                       m);
		return host->error_set(err, FLUE_EAUTH,
		                       "%s asks for payment (402%s%s: %s); check the account's credits or use another key",
		                       call->url, sp, t, m);
	case 404:
		if (call->is_gateway)
			return host->error_set(err, FLUE_ENOENT,
			                       "model '%s' not found at %s (%s); model ids look like anthropic/claude-sonnet-4.6 — list them with GET %s/models",
			                       call->model, call->base, m, call->base);
		return host->error_set(err, FLUE_ENOENT,
		                       "model '%s' not found at %s (%s); check the model id (GET %s/models lists them) and that base_url is the API's root",
		                       call->model, call->base, m, call->base);
	default:
		if (status >= 300 && status <= 399 &&
		    curl_easy_getinfo(a->easy, CURLINFO_REDIRECT_URL, &moved) ==
		    CURLE_OK && moved != NULL)
			return host->error_set(err, FLUE_ERROR,
			                       "%s answered %ld and points to %s; set base_url to the new address",
			                       call->url, status, moved);
		return host->error_set(err, FLUE_ERROR,
		                       "%s answered %ld%s%s: %s", call->url, status,
		                       sp, t, m);
	}
}

/* An answer that is not a 2xx: retried when it may pass (408, 409, 429,
 * 5xx, or whatever x-should-retry says), else final. */
static int
gate_http_outcome(struct gate_attempt *a, long status,
                  struct gate_outcome *out, struct flue_error *err)
{
	const char *body = a->errbody != NULL ? a->errbody : "";
	const char *should = a->should_retry;
	int retry = status == 408 || status == 409 || status == 429 ||
	            status >= 500;
	char *msg = NULL, *type = NULL, quoted[GATE_QUOTE_MAX + 4];
	int rc;

	if (gw_error_body(body, a->errbody_len, &msg, &type) != 0)
		return gate_nomem(a->call->host, err);
	quoted[0] = '\0';
	if (msg != NULL)
		gate_quote(msg, strlen(msg), quoted, sizeof(quoted));
	else if (a->errbody_len > 0 && body[0] != '<')   /* not a web page */
		gate_quote(body, a->errbody_len, quoted, sizeof(quoted));
	if (strcasecmp(should, "true") == 0)
		retry = 1;
	else if (strcasecmp(should, "false") == 0)
		retry = 0;
	if (!retry) {
		rc = gate_http_final(a, status, type, quoted, err);
	} else {
		out->asked_ms = gate_asked_delay(a);
		rc = gate_retry(out, "%ld%s%s%s%s", status, type ? " " : "",
		                type ? type : "", quoted[0] ? ": " : " from ",
		                quoted[0] ? quoted : a->call->url);
	}
	free(msg);
	free(type);
	return rc;
}

/* A 2xx stream that ended: complete when the decoder saw the whole
 * answer, however the connection ended afterwards. */
static int
gate_stream_outcome(struct gate_attempt *a, enum gate_end end, CURLcode cc,
                    struct gate_outcome *out, struct flue_error *err)
{
	struct flue_error ferr = { 0, "" };
	char secs[32];
	int rc;

	if (!a->checked && gate_check_response(a) != 0) {
		*err = a->stop_err;
		return a->stop_rc;
	}
	rc = gw_decoder_finish(a->decoder, &ferr);
	if (rc == 0) {
		if (sse_parser_truncated(&a->sse))
			a->call->host->log(a->call->host, FLUE_LOG_DEBUG,
			                   "ignored an unfinished event after the end of the answer from %s",
			                   a->call->url);
		return 0;
	}
	if (rc != FLUE_ERETRY) {
		*err = ferr;
		return rc;
	}
	if (end == GATE_END_IDLE)
		return gate_retry(out, "no data from %s for %s (idle_timeout_ms); the stream stalled",
		                  a->call->url,
		                  gate_secs(a->call->set.num[GATE_IDLE_TIMEOUT_MS],
		                            secs, sizeof(secs)));
	if (cc != CURLE_OK)
		return gate_curl_outcome(a, cc, out, err);
	if (sse_parser_truncated(&a->sse))
		return gate_retry(out, "the stream from %s ended in the middle of an event",
		                  a->call->url);
	return gate_retry(out, "%s (%s)", ferr.message, a->call->url);
}

static int
gate_attempt_outcome(struct gate_attempt *a, enum gate_end end, CURLcode cc,
                     struct gate_outcome *out, struct flue_error *err)
{
	const struct gate_call *call = a->call;
	const struct flue_host *host = call->host;
	char secs[32];
	long status = 0;

	if (end == GATE_END_CANCELED || a->stop_rc == FLUE_ECANCELED)
		return host->error_set(err, FLUE_ECANCELED,
		                       "the request to %s was cancelled", call->url);
	if (end == GATE_END_FAILED)
		return host->error_set(err, FLUE_ERROR,
		                       "libcurl could not run the request to %s; check that flue has memory and file descriptors to spare",
		                       call->url);
	if (a->stop_rc == FLUE_ERETRY)
		return gate_retry(out, "%s", a->stop_err.message);
	if (a->stop_rc != 0) {
		*err = a->stop_err;
		return a->stop_rc;
	}
	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status <= 299)
		return gate_stream_outcome(a, end, cc, out, err);
	if (status != 0)
		return gate_http_outcome(a, status, out, err);
	if (end == GATE_END_IDLE)
		return gate_retry(out, "no answer from %s within %s (idle_timeout_ms)",
		                  call->url,
		                  gate_secs(call->set.num[GATE_IDLE_TIMEOUT_MS],
		                            secs, sizeof(secs)));
	return gate_curl_outcome(a, cc, out, err);
}

/* For whoever wonders where the time went: status, duration, and
 * whether a kept-alive connection was reused. */
static void
gate_log_attempt(struct gate_attempt *a, int64_t started)
{
	long status = 0, connects = 0;

	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(a->easy, CURLINFO_NUM_CONNECTS, &connects);
	a->call->host->log(a->call->host, FLUE_LOG_DEBUG,
	                   "%s: status %ld after %" PRId64 " ms on a %s connection",
	                   a->call->url, status, gate_now_ms() - started,
	                   connects > 0 ? "new" : "reused");
}

/* Send the request once.  0 when the answer was streamed whole;
 * FLUE_ERETRY with out->reason when another attempt may do better. */
static int
gate_attempt(struct gate_call *call, struct gate_outcome *out,
             struct flue_error *err)
{
	const struct flue_host *host = call->host;
	struct gate_attempt a;
	struct gate_conn *c;
	enum gate_end end;
	CURLcode cc = CURLE_OK;
	int64_t started;
	int rc;

	memset(&a, 0, sizeof(a));
	a.call = call;
	if ((c = gate_conn_get(call->inst)) == NULL)
		return gate_nomem(host, err);
	rc = gw_decoder_new(call->set.api, gate_on_decoded, &a, &a.decoder);
	if (rc != 0) {
		gate_conn_put(call->inst, c);
		return rc == FLUE_ENOMEM ? gate_nomem(host, err) :
		       host->error_set(err, rc, "cannot decode %s streams",
		                       gw_api_name(call->set.api));
	}
	sse_parser_init(&a.sse, gate_on_sse, &a);
	a.easy = c->easy;
	gate_easy_common(c->easy, call, call->headers, a.errbuf);
	curl_easy_setopt(c->easy, CURLOPT_URL, call->url);
	curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, call->body);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)call->body_len);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, gate_on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, gate_on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &a);
	a.last_ms = started = gate_now_ms();
	end = gate_run(host, call->req->cancel, c, &a.last_ms,
	               call->set.num[GATE_IDLE_TIMEOUT_MS], &cc);
	gate_log_attempt(&a, started);
	rc = gate_attempt_outcome(&a, end, cc, out, err);
	gate_conn_put(call->inst, c);
	if (rc == 0)
		rc = gate_flush(&a, err);
	sse_parser_free(&a.sse);
	gw_decoder_free(a.decoder);
	free(a.errbody);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Retries                                                             */
/* ------------------------------------------------------------------ */

/* min(retry_base_ms * 2^n, retry_max_ms), less up to 25 % jitter so
 * that clients failed together do not come back together. */
static int64_t
gate_backoff(const struct gate_settings *s, int64_t n, unsigned *seed)
{
	int64_t d = s->num[GATE_RETRY_BASE_MS], max = s->num[GATE_RETRY_MAX_MS];
	double r = (double)rand_r(seed) / ((double)RAND_MAX + 1.0);

	for (; n > 0 && d < max; n--)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > max)
		d = max;
	return d - (int64_t)((double)d * 0.25 * r);
}

static int
gate_run_call(struct gate_call *call, struct flue_error *err)
{
	const struct flue_host *host = call->host;
	const struct flue_provider_request *req = call->req;
	int64_t retries = call->set.num[GATE_MAX_RETRIES], n, delay;
	int64_t attempts = retries < INT64_MAX ? retries + 1 : INT64_MAX;
	int64_t limit = call->set.num[GATE_MAX_RETRY_AFTER_MS];
	char text[GATE_REASON_MAX + 160], secs[32], secs2[32];
	struct flue_provider_event ev;
	int rc;

	for (n = 0;; n++) {
		struct gate_outcome out;

		out.reason[0] = '\0';
		out.asked_ms = -1;
		if (host->cancel_is_set(req->cancel))
			return host->error_set(err, FLUE_ECANCELED,
			                       "the request to %s was cancelled",
			                       call->url);
		host->log(host, FLUE_LOG_DEBUG,
		          "POST %s (model %s, attempt %" PRId64 " of %" PRId64 ")",
		          call->url, call->model, n + 1, attempts);
		rc = gate_attempt(call, &out, err);
		if (rc != FLUE_ERETRY)
			return rc;
		if (n + 1 >= attempts)
			return host->error_set(err, FLUE_ERETRY,
			                       "gave up after %" PRId64 " attempt%s: %s",
			                       attempts, attempts == 1 ? "" : "s",
			                       out.reason);
		if (out.asked_ms > limit)
			return host->error_set(err, FLUE_ERETRY,
			                       "%s; the server asked to wait %s, longer than max_retry_after_ms (%s); try again later",
			                       out.reason,
			                       gate_secs(out.asked_ms, secs, sizeof(secs)),
			                       gate_secs(limit, secs2, sizeof(secs2)));
		delay = out.asked_ms >= 0 ? out.asked_ms :
		        gate_backoff(&call->set, n, &call->seed);
		snprintf(text, sizeof(text),
		         "%s; retrying in %s (attempt %" PRId64 " of %" PRId64 ")",
		         out.reason, gate_secs(delay, secs, sizeof(secs)), n + 2,
		         attempts);
		host->log(host, FLUE_LOG_DEBUG, "%s", text);
		memset(&ev, 0, sizeof(ev));
		ev.type = FLUE_PROVIDER_RETRY;
		ev.text = text;
		ev.text_len = strlen(text);
		if (req->on_event(req->event_payload, &ev) != 0)
			return host->error_set(err, FLUE_ECANCELED,
			                       "the event callback stopped the answer");
		if (plugin_sleep(host, req->cancel, delay) != 0)
			return host->error_set(err, FLUE_ECANCELED,
			                       "the request to %s was cancelled",
			                       call->url);
	}
}

/* ------------------------------------------------------------------ */
/* stream()                                                            */
/* ------------------------------------------------------------------ */

/* The base URL: the request's or the plugin's base_url, else
 * AI_GATEWAY_BASE_URL, else the AI Gateway. */
static int
gate_resolve_base(struct gate_call *call, struct flue_error *err)
{
	const struct flue_host *host = call->host;
	const char *env = getenv("AI_GATEWAY_BASE_URL");
	const char *base = call->set.base_url;
	char *gateway = NULL;
	size_t len;

	if (env != NULL && env[0] != '\0') {
		if (!gate_is_http_url(env))
			return host->error_set(err, FLUE_EINVAL,
			                       "AI_GATEWAY_BASE_URL is not an http:// or https:// URL; fix or unset it");
		if ((gateway = strdup(env)) == NULL)
			return gate_nomem(host, err);
	}
	if (base == NULL)
		base = gateway != NULL ? gateway : GATE_DEFAULT_BASE;
	call->base = strdup(base);
	if (call->base == NULL) {
		free(gateway);
		return gate_nomem(host, err);
	}
	for (len = strlen(call->base); len > 0 && call->base[len - 1] == '/';)
		call->base[--len] = '\0';
	call->url = gate_concat(call->base, gw_api_path(call->set.api));
	call->is_default = gate_same_origin(call->base, GATE_DEFAULT_BASE);
	call->is_gateway = call->is_default ||
	                   (gateway != NULL &&
	                    gate_same_origin(call->base, gateway));
	call->want_cost = call->is_gateway || call->set.model_list;
	/* Anthropic's own API takes a bearer token for OAuth only, and
	 * refuses an API key sent that way ("Invalid bearer token"). */
	call->no_bearer = call->set.api == GW_API_ANTHROPIC_MESSAGES &&
	                  gate_same_origin(call->base, "https://api.anthropic.com");
	free(gateway);
	return call->url != NULL ? 0 : gate_nomem(host, err);
}

static uint64_t
gate_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void
gate_msgs_flush(struct gate_instance *inst)
{
	for (size_t i = 0; inst->msgs != NULL && i < GATE_MSG_SLOTS; i++) {
		free(inst->msgs[i].text);
		json_object_put(inst->msgs[i].value);
		memset(&inst->msgs[i], 0, sizeof(inst->msgs[i]));
	}
	inst->n_msgs = 0;
}

/* The parsed message for text, from the cache or parsed now ([borrowed]
 * from the cache; NULL when it is not JSON or memory ran out).  Under
 * inst->lock. */
static json_object *
gate_cached_message(struct gate_instance *inst, const char *text, size_t len)
{
	uint64_t h = gate_hash(text, len);
	size_t i = (size_t)h & (GATE_MSG_SLOTS - 1);
	struct gate_msg *slot;
	json_object *value;

	if (inst->msgs == NULL &&
	    (inst->msgs = calloc(GATE_MSG_SLOTS, sizeof(*inst->msgs))) == NULL)
		return NULL;
	for (;; i = (i + 1) & (GATE_MSG_SLOTS - 1)) {
		slot = &inst->msgs[i];
		if (slot->text == NULL)
			break;
		if (slot->hash == h && slot->len == len &&
		    memcmp(slot->text, text, len) == 0)
			return slot->value;
	}
	if (inst->n_msgs >= GATE_MSG_SLOTS / 4 * 3) {
		/* Full enough: start over rather than track ages. */
		gate_msgs_flush(inst);
		return gate_cached_message(inst, text, len);
	}
	if (gate_json_parse(text, len, &value) != 0)
		return NULL;
	slot->text = malloc(len + 1);
	if (slot->text == NULL) {
		json_object_put(value);
		return NULL;
	}
	memcpy(slot->text, text, len + 1);
	slot->hash = h;
	slot->len = len;
	slot->value = value;
	inst->n_msgs++;
	return value;
}

/* The request from its parts (head and messages), reusing what earlier
 * requests parsed.  Under inst->lock.  -1 when a part is not JSON. */
static int
gate_compose_request(struct gate_call *call)
{
	struct gate_instance *inst = call->inst;
	const struct flue_provider_request *req = call->req;
	json_object *request, *messages;

	if (inst->head_text == NULL || strcmp(inst->head_text,
	                                      req->head_json) != 0) {
		json_object *head;
		char *copy = strdup(req->head_json);

		if (copy == NULL ||
		    gate_json_parse(copy, strlen(copy), &head) != 0 ||
		    !json_object_is_type(head, json_type_object)) {
			free(copy);
			return -1;
		}
		free(inst->head_text);
		json_object_put(inst->head);
		inst->head_text = copy;
		inst->head = head;
	}
	request = json_object_new_object();
	messages = json_object_new_array_ext((int)req->message_count);
	if (request == NULL || messages == NULL) {
		json_object_put(request);
		json_object_put(messages);
		return -1;
	}
	json_object_object_foreach(inst->head, key, value)
		json_object_object_add(request, key, json_object_get(value));
	json_object_object_add(request, "messages", messages);
	for (size_t i = 0; i < req->message_count; i++) {
		json_object *m = gate_cached_message(inst, req->message_json[i],
		                                     req->message_len[i]);

		if (m == NULL) {
			json_object_put(request);
			return -1;
		}
		json_object_array_add(messages, json_object_get(m));
	}
	call->request = request;
	call->shared = 1;
	return 0;
}

static int
gate_parse_request(struct gate_call *call, struct flue_error *err)
{
	const struct flue_host *host = call->host;
	const char *text = call->req->request_json;
	json_object *provider, *model;
	int composed = -1;

	if (call->req->head_json != NULL && (call->req->message_count == 0 ||
	    (call->req->message_json != NULL && call->req->message_len != NULL))) {
		pthread_mutex_lock(&call->inst->lock);
		composed = gate_compose_request(call);
		pthread_mutex_unlock(&call->inst->lock);
	}
	if (composed != 0 && (text == NULL ||
	    gate_json_parse(text, strlen(text), &call->request) != 0 ||
	    !json_object_is_type(call->request, json_type_object)))
		return host->error_set(err, FLUE_EINVAL,
		                       "the provider request is not a JSON object; see docs/MESSAGES.md");
	if (json_object_object_get_ex(call->request, "provider", &provider) &&
	    provider != NULL &&
	    gate_provider_settings(call, provider, err) != 0)
		return err->code;
	call->model = call->req->model;
	if ((call->model == NULL || call->model[0] == '\0') &&
	    json_object_object_get_ex(call->request, "model", &model))
		call->model = gate_json_cstring(model);
	if (call->model == NULL || call->model[0] == '\0')
		return host->error_set(err, FLUE_EINVAL,
		                       "the provider request names no model");
	return 0;
}

static int
gate_call_init(struct gate_call *call, struct gate_instance *inst,
               const struct flue_provider_request *req,
               struct flue_error *err)
{
	const struct flue_host *host = inst->host;
	struct gw_body_settings body;
	int rc;

	memset(call, 0, sizeof(*call));
	call->inst = inst;
	call->host = host;
	call->req = req;
	call->set = inst->defaults;
	snprintf(call->where, sizeof(call->where), GATE_WHERE);
	snprintf(call->user_agent, sizeof(call->user_agent), "flue/%s",
	         host->flue_version != NULL ? host->flue_version : "unknown");
	call->seed = (unsigned)gate_now_ms() ^ (unsigned)(uintptr_t)call ^
	             (unsigned)getpid();
	if (req->on_event == NULL)
		return host->error_set(err, FLUE_EINVAL,
		                       "the provider request has no event callback");
	if ((rc = gate_parse_request(call, err)) != 0 ||
	    (rc = gate_resolve_base(call, err)) != 0 ||
	    (rc = gate_credentials(call, err)) != 0)
		return rc;
	memset(&body, 0, sizeof(body));
	body.api = call->set.api;
	body.model = call->model;
	body.provider_options = call->set.provider_options;
	if (call->shared)
		pthread_mutex_lock(&inst->lock);
	rc = gw_body_build(&body, call->request, &call->body, &call->body_len,
	                   err);
	if (call->shared)
		pthread_mutex_unlock(&inst->lock);
	if (rc != 0)
		return rc;
	call->headers = gate_headers(call, 1);
	return call->headers != NULL ? 0 : gate_nomem(host, err);
}

static void
gate_call_free(struct gate_call *call)
{
	if (call->shared)
		pthread_mutex_lock(&call->inst->lock);
	json_object_put(call->request);
	if (call->shared)
		pthread_mutex_unlock(&call->inst->lock);
	free(call->base);
	free(call->url);
	if (call->secret != NULL) {
		explicit_bzero(call->secret, strlen(call->secret));
		free(call->secret);
	}
	free(call->body);
	curl_slist_free_all(call->headers);
}

static int
gate_stream(void *instance, const struct flue_provider_request *req,
            struct flue_error *err)
{
	struct gate_call call;
	int rc;

	rc = gate_call_init(&call, instance, req, err);
	if (rc == 0)
		rc = gate_run_call(&call, err);
	gate_call_free(&call);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Instances and the descriptor                                        */
/* ------------------------------------------------------------------ */

static int
gate_create(const struct flue_host *host, const char *options_json,
            void **out_instance, struct flue_error *err)
{
	struct gate_instance *inst;
	json_object *opts;
	const char *text = options_json != NULL ? options_json : "{}";

	*out_instance = NULL;
	if (host->abi_major != FLUE_PLUGIN_ABI_MAJOR)
		return host->error_set(err, FLUE_EABI,
		                       "the gateway plugin needs plugin ABI %d.x, the host has %u.%u; rebuild it",
		                       FLUE_PLUGIN_ABI_MAJOR, (unsigned)host->abi_major,
		                       (unsigned)host->abi_minor);
	pthread_once(&gate_once, gate_global_init);
	if (gate_curl_rc != CURLE_OK)
		return host->error_set(err, FLUE_ERROR,
		                       "libcurl did not start: %s",
		                       curl_easy_strerror(gate_curl_rc));
	if (gate_json_parse(text, strlen(text), &opts) != 0 ||
	    !json_object_is_type(opts, json_type_object)) {
		json_object_put(opts);
		return host->error_set(err, FLUE_EINVAL,
		                       GATE_WHERE " must be a mapping of options (" GATE_OPTION_NAMES ")");
	}
	inst = calloc(1, sizeof(*inst));
	if (inst == NULL) {
		json_object_put(opts);
		return gate_nomem(host, err);
	}
	inst->host = host;
	inst->options = opts;
	gate_settings_defaults(&inst->defaults);
	snprintf(inst->defaults.key_where, sizeof(inst->defaults.key_where),
	         GATE_WHERE);
	if (gate_settings_apply(host, &inst->defaults, opts, GATE_WHERE, 1,
	                        err) != 0) {
		json_object_put(opts);
		free(inst);
		return err->code;
	}
	pthread_mutex_init(&inst->lock, NULL);
	*out_instance = inst;
	return 0;
}

static void
gate_destroy(void *instance)
{
	struct gate_instance *inst = instance;

	if (inst == NULL)
		return;
	while (inst->pool != NULL) {
		struct gate_conn *c = inst->pool;

		inst->pool = c->next;
		gate_conn_free(c);
	}
	while (inst->prices != NULL) {
		struct gate_prices *p = inst->prices;

		inst->prices = p->next;
		json_object_put(p->models);
		free(p->base);
		free(p);
	}
	gate_msgs_flush(inst);
	free(inst->msgs);
	free(inst->head_text);
	json_object_put(inst->head);
	pthread_mutex_destroy(&inst->lock);
	json_object_put(inst->options);
	free(inst);
}

static const struct flue_provider_ops gate_ops = {
	.size = sizeof(struct flue_provider_ops),
	.stream = gate_stream,
};

static const struct flue_plugin gate_plugin = {
	.abi_major = FLUE_PLUGIN_ABI_MAJOR,
	.abi_minor = FLUE_PLUGIN_ABI_MINOR,
	.size = sizeof(struct flue_plugin),
	.kind = FLUE_PLUGIN_PROVIDER,
	.name = "gateway",
	.version = GATE_VERSION,
	.description = "models through the Vercel AI Gateway or any OpenAI- or Anthropic-compatible server",
	.create = gate_create,
	.destroy = gate_destroy,
	.provider = &gate_ops,
};

FLUE_PLUGIN_EXPORT const struct flue_plugin *
flue_plugin_entry(void)
{
	return &gate_plugin;
}
