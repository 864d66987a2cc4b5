/*
 * The Vercel REST client: one vc_call() sends one logical request and
 * retries what is safe to retry.  Connection failures before sending and
 * 429s are always retried (a 429 honours Retry-After up to a ceiling);
 * 5xx answers and drops after sending only for idempotent requests, so a
 * POST that may have taken effect is handed back for the caller to check.
 *
 * Calls run concurrently; they share only the pool of idle handles,
 * under the client's mutex.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "vercel.h"
#include "wait.h"

#define VC_POOL_MAX 4
#define VC_POLL_MAX_MS 1000
#define VC_CANCEL_SLICE_MS 50
#define VC_ERROR_BODY_MAX (64u * 1024)
#define VC_JSON_BODY_MAX (64u << 20)

struct vc_handle {
	CURL *easy;
	CURLM *multi;
	struct vc_handle *next;
};

struct vc_client {
	const struct flue_host *host;       /* borrowed */
	const struct vc_config *config;     /* borrowed */
	struct vc_auth auth;
	char user_agent[96];
	pthread_mutex_t lock;
	struct vc_handle *pool;
	int pool_len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
vc_client_new(const struct flue_host *host, const struct vc_config *config,
              struct vc_client **out, struct flue_error *err)
{
	struct vc_client *c;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return host->error_set(err, FLUE_ERROR,
		                       "vercel: libcurl failed to start: %s",
		                       curl_easy_strerror(curl_init_rc));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return vc_nomem(host, err);
	c->host = host;
	c->config = config;
	snprintf(c->user_agent, sizeof(c->user_agent),
	         "flue/%s vercel-plugin/%s", host->flue_version, VC_VERSION);
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

static void
handle_free(struct vc_handle *h)
{
	if (h == NULL)
		return;
	if (h->easy != NULL)
		curl_easy_cleanup(h->easy);
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h);
}

void
vc_client_free(struct vc_client *c)
{
	if (c == NULL)
		return;
	while (c->pool != NULL) {
		struct vc_handle *h = c->pool;

		c->pool = h->next;
		handle_free(h);
	}
	vc_auth_clear(&c->auth);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int
vc_client_set_auth(struct vc_client *c, const struct vc_auth *auth,
                   struct flue_error *err)
{
	struct vc_auth copy = {0};

	copy.token = strdup(auth->token);
	copy.team_id = strdup(auth->team_id);
	copy.project_id = strdup(auth->project_id);
	copy.api_url = strdup(auth->api_url);
	copy.kind = auth->kind;
	if (copy.token == NULL || copy.team_id == NULL ||
	    copy.project_id == NULL || copy.api_url == NULL) {
		vc_auth_clear(&copy);
		return vc_nomem(c->host, err);
	}
	pthread_mutex_lock(&c->lock);
	vc_auth_clear(&c->auth);
	c->auth = copy;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

const struct vc_auth *
vc_client_auth(const struct vc_client *c)
{
	return &c->auth;
}

static struct vc_handle *
handle_get(struct vc_client *c)
{
	struct vc_handle *h;

	pthread_mutex_lock(&c->lock);
	h = c->pool;
	if (h != NULL) {
		c->pool = h->next;
		c->pool_len--;
	}
	pthread_mutex_unlock(&c->lock);
	if (h != NULL)
		return h;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->easy = curl_easy_init();
	h->multi = curl_multi_init();
	if (h->easy == NULL || h->multi == NULL) {
		handle_free(h);
		return NULL;
	}
	return h;
}

static void
handle_put(struct vc_client *c, struct vc_handle *h, int reusable)
{
	if (!reusable) {
		handle_free(h);
		return;
	}
	curl_easy_reset(h->easy);
	pthread_mutex_lock(&c->lock);
	if (c->pool_len < VC_POOL_MAX) {
		h->next = c->pool;
		c->pool = h;
		c->pool_len++;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	handle_free(h);
}

void
vc_response_clear(const struct flue_host *host, struct vc_response *resp)
{
	json_object_put(resp->json);
	if (resp->bytes.data != NULL)
		host->free(resp->bytes.data);
	memset(resp, 0, sizeof(*resp));
}

/* ------------------------------------------------------------------ */
/* One attempt                                                         */
/* ------------------------------------------------------------------ */

struct attempt {
	struct vc_client *client;
	const struct vc_request *req;
	struct vc_response *resp;
	CURL *easy;
	int checked;              /* status and type looked at */
	int ok_status;            /* 2xx */
	char bad_type[128];       /* a 2xx with the wrong content type */
	int line_rc;              /* what on_line returned to stop */
	struct vc_lines lines;
	char *body;               /* JSON or error body */
	size_t body_len, body_cap;
	int too_big;
	char retry_after[32];
	size_t bytes_cap;
	int nomem;
};

static int
type_is(const char *type, const char *want, int exact)
{
	size_t n = strlen(want);

	if (type == NULL)
		return 0;
	while (*type == ' ')
		type++;
	if (exact) {
		/* The SDK wants this exact string; so do we: a charset
		 * suffix means the server is not the one we expect. */
		size_t len = strlen(type);

		while (len > 0 && type[len - 1] == ' ')
			len--;
		return len == n && strncasecmp(type, want, n) == 0;
	}
	return strcasestr(type, want) != NULL;
}

static int
check_answer(struct attempt *a)
{
	const struct vc_request *req = a->req;
	const char *type = NULL;
	long status = 0;

	a->checked = 1;
	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(a->easy, CURLINFO_CONTENT_TYPE, &type);
	a->resp->status = status;
	a->ok_status = status >= 200 && status < 300;
	if (!a->ok_status)
		return 0;
	if ((req->body_kind == VC_BODY_NDJSON &&
	     !type_is(type, "application/x-ndjson", 1)) ||
	    (req->body_kind == VC_BODY_BYTES &&
	     !type_is(type, "application/octet-stream", 0)) ||
	    (req->body_kind == VC_BODY_JSON &&
	     !type_is(type, "application/json", 0))) {
		snprintf(a->bad_type, sizeof(a->bad_type), "%s",
		         type ? type : "(none)");
		return -1;
	}
	if (req->body_kind == VC_BODY_BYTES) {
		curl_off_t len = -1;

		curl_easy_getinfo(a->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
		                  &len);
		/* A known length is allocated once; no doubling copies. */
		if (len >= 0 && (uint64_t)len < SIZE_MAX - 1) {
			a->resp->bytes.data = a->client->host->alloc((size_t)len + 1);
			if (a->resp->bytes.data == NULL) {
				a->nomem = 1;
				return -1;
			}
			a->bytes_cap = (size_t)len + 1;
		}
	}
	return 0;
}

static int
keep_body(struct attempt *a, const char *data, size_t len, size_t max)
{
	if (a->body_len + len > max) {
		a->too_big = 1;
		len = max > a->body_len ? max - a->body_len : 0;
	}
	if (vc_grow(&a->body, &a->body_cap, a->body_len + len + 1) != 0) {
		a->nomem = 1;
		return -1;
	}
	memcpy(a->body + a->body_len, data, len);
	a->body_len += len;
	a->body[a->body_len] = '\0';
	return 0;
}

static int
keep_bytes(struct attempt *a, const char *data, size_t len)
{
	struct flue_bytes *b = &a->resp->bytes;

	if (b->len + len + 1 > a->bytes_cap) {
		size_t cap = a->bytes_cap ? a->bytes_cap : 65536;
		unsigned char *grown;

		while (cap < b->len + len + 1)
			cap *= 2;
		grown = a->client->host->realloc(b->data, cap);
		if (grown == NULL) {
			a->nomem = 1;
			return -1;
		}
		b->data = grown;
		a->bytes_cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static int
deliver_line(void *arg, const char *line, size_t len)
{
	struct attempt *a = arg;
	int rc;

	a->resp->body_started = 1;
	rc = a->req->on_line(a->req->line_arg, line, len);
	if (rc != 0)
		a->line_rc = rc;
	return rc;
}

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t len = size * nmemb;

	if (!a->checked && check_answer(a) != 0)
		return 0;
	if (!a->ok_status)
		return keep_body(a, data, len, VC_ERROR_BODY_MAX) == 0 ? len : 0;
	switch (a->req->body_kind) {
	case VC_BODY_NDJSON:
		if (vc_lines_feed(&a->lines, data, len, deliver_line, a) != 0)
			return 0;
		return len;
	case VC_BODY_BYTES:
		return keep_bytes(a, data, len) == 0 ? len : 0;
	default:
		return keep_body(a, data, len, VC_JSON_BODY_MAX) == 0 && !a->too_big
		       ? len : 0;
	}
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t len = size * nmemb, n;

	if (len > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
		const char *v = data + 12;

		while (*v == ' ' || *v == '\t')
			v++;
		n = (size_t)(data + len - v);
		while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
		                 v[n - 1] == ' '))
			n--;
		if (n >= sizeof(a->retry_after))
			n = sizeof(a->retry_after) - 1;
		memcpy(a->retry_after, v, n);
		a->retry_after[n] = '\0';
	} else if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new status line (after a 100 Continue): start over. */
		a->retry_after[0] = '\0';
	}
	return len;
}

struct upload {
	FILE *file;
};

static size_t
on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	FILE *f = arg;

	return fread(buf, 1, size * nmemb, f);
}

enum run_end { RUN_DONE, RUN_CANCELED, RUN_FAILED };

/* Drive the transfer; the cancel handle's fd is polled with the sockets
 * so a cancel is seen at once. */
static enum run_end
run_transfer(struct attempt *a, CURLM *multi, CURLcode *out)
{
	const struct flue_host *host = a->client->host;
	const struct vc_request *req = a->req;
	int fd = host->cancel_fd(req->cancel), running = 1, left;
	int64_t drain_until = 0;
	int deadline_done = req->deadline_ms == 0;
	enum run_end end = RUN_FAILED;
	struct curl_waitfd wfd = { fd, CURL_WAIT_POLLIN, 0 };
	CURLMsg *msg;

	*out = CURLE_OK;
	if (curl_multi_add_handle(multi, a->easy) != CURLM_OK)
		return RUN_FAILED;
	for (;;) {
		int64_t wait = VC_POLL_MAX_MS, now;
		int use_fd = fd >= 0 && drain_until == 0;

		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		if (running == 0) {
			end = RUN_DONE;
			break;
		}
		now = vc_now_ms();
		if (drain_until == 0 && host->cancel_is_set(req->cancel)) {
			a->resp->canceled = 1;
			if (req->on_cancel == NULL) {
				end = RUN_CANCELED;
				break;
			}
			req->on_cancel(req->line_arg);
			drain_until = now + VC_CANCEL_DRAIN_MS;
			use_fd = 0;
		}
		if (drain_until != 0 && now >= drain_until) {
			end = RUN_CANCELED;
			break;
		}
		if (!deadline_done && now >= req->deadline_ms) {
			deadline_done = 1;
			if (req->on_deadline != NULL)
				req->on_deadline(req->line_arg);
		}
		if (!deadline_done && req->deadline_ms - now < wait)
			wait = req->deadline_ms - now;
		if (fd < 0 && req->cancel != NULL && wait > VC_CANCEL_SLICE_MS)
			wait = VC_CANCEL_SLICE_MS;
		if (wait < 1)
			wait = 1;
		if (curl_multi_poll(multi, use_fd ? &wfd : NULL, use_fd ? 1 : 0,
		                    (int)wait, NULL) != CURLM_OK)
			break;
	}
	while (end == RUN_DONE && (msg = curl_multi_info_read(multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == a->easy)
			*out = msg->data.result;
	curl_multi_remove_handle(multi, a->easy);
	return end;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* The server's words from an error body: error.code and error.message
 * (Vercel's shape), else the body's start. */
static void
error_words(struct attempt *a, char *message, size_t size)
{
	json_object *body = NULL, *e, *v;

	message[0] = '\0';
	if (a->body != NULL)
		body = json_tokener_parse(a->body);
	if (body != NULL && json_object_object_get_ex(body, "error", &e) &&
	    json_object_is_type(e, json_type_object)) {
		if (json_object_object_get_ex(e, "code", &v))
			snprintf(a->resp->code, sizeof(a->resp->code), "%s",
			         json_object_get_string(v));
		if (json_object_object_get_ex(e, "message", &v))
			snprintf(message, size, "%s", json_object_get_string(v));
	} else if (a->body != NULL) {
		size_t i;

		snprintf(message, size, "%.200s", a->body);
		for (i = 0; message[i]; i++)
			if (message[i] == '\n' || message[i] == '\r')
				message[i] = ' ';
	}
	if (body != NULL) {
		json_object_put(a->resp->json);
		a->resp->json = body;
	}
}

static int
status_code(long status)
{
	switch (status) {
	case 400: case 413: case 422: return FLUE_EINVAL;
	case 401: case 402: case 403: return FLUE_EAUTH;
	case 404: case 410: return FLUE_ENOENT;
	case 409: return FLUE_EEXIST;
	case 408: case 429: return FLUE_ERETRY;
	default: return status >= 500 ? FLUE_ERETRY : FLUE_ERROR;
	}
}

/* Retry-After in ms: seconds, or -1 when absent or not a number (an
 * HTTP date is treated as absent, as the SDK does). */
static int64_t
retry_after_ms(const char *v)
{
	char *end;
	long long n;

	if (v[0] == '\0')
		return -1;
	n = strtoll(v, &end, 10);
	if (end == v || *end != '\0' || n < 0)
		return -1;
	return n > INT64_MAX / 1000 ? INT64_MAX : (int64_t)n * 1000;
}

static int64_t
backoff(const struct vc_config *cfg, int attempt)
{
	int64_t base = cfg->backoff_ms << (attempt < 10 ? attempt : 10);
	unsigned seed = (unsigned)vc_now_ms() ^ (unsigned)attempt;

	/* [1, 2) times the base, as the SDK waits. */
	return base + (int64_t)((double)base * (rand_r(&seed) / (RAND_MAX +
	                         1.0)));
}

static int
connect_failure(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* ------------------------------------------------------------------ */
/* vc_call                                                             */
/* ------------------------------------------------------------------ */

static struct curl_slist *
build_headers(struct vc_client *c, const struct vc_request *req)
{
	struct curl_slist *h = NULL, *n;
	char line[4096];

	pthread_mutex_lock(&c->lock);
	snprintf(line, sizeof(line), "Authorization: Bearer %s",
	         c->auth.token ? c->auth.token : "");
	pthread_mutex_unlock(&c->lock);
	if ((n = curl_slist_append(h, line)) == NULL)
		goto fail;
	h = n;
	snprintf(line, sizeof(line), "Content-Type: %s",
	         req->content_type ? req->content_type : "application/json");
	if ((n = curl_slist_append(h, line)) == NULL)
		goto fail;
	h = n;
	if (req->x_cwd != NULL) {
		snprintf(line, sizeof(line), "x-cwd: %s", req->x_cwd);
		if ((n = curl_slist_append(h, line)) == NULL)
			goto fail;
		h = n;
	}
	/* No 100-continue round trip before an upload. */
	if ((n = curl_slist_append(h, "Expect:")) == NULL)
		goto fail;
	return n;
fail:
	curl_slist_free_all(h);
	return NULL;
}

static char *
build_url(struct vc_client *c, const struct vc_request *req)
{
	char *team, *url = NULL;

	pthread_mutex_lock(&c->lock);
	team = vc_escape(c->auth.team_id ? c->auth.team_id : "");
	if (team != NULL &&
	    asprintf(&url, "%s%s?teamId=%s%s%s", c->auth.api_url ?
	             c->auth.api_url : VC_DEFAULT_API, req->path, team,
	             req->query ? "&" : "", req->query ? req->query : "") < 0)
		url = NULL;
	pthread_mutex_unlock(&c->lock);
	if (team == NULL)
		return NULL;
	free(team);
	return url;
}

static void
setup_easy(struct vc_client *c, const struct vc_request *req,
           struct attempt *a, const char *url, struct curl_slist *headers,
           char *errbuf)
{
	CURL *e = a->easy;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)c->config->connect_timeout_ms);
	/* No overall timeout: command streams may be silent for long. */
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
	if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		if (req->upload != NULL) {
			curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(e, CURLOPT_READDATA, req->upload);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)req->upload_len);
		} else {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS,
			                 req->body ? req->body : "");
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
			                 (long)(req->body ? strlen(req->body) : 0));
		}
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
			                 (long)strlen(req->body));
		}
	}
}

int
vc_call(struct vc_client *c, const struct vc_request *req,
        struct vc_response *resp, struct flue_error *err)
{
	const struct flue_host *host = c->host;
	const struct vc_config *cfg = c->config;
	int attempts = cfg->retries + 1;
	char errbuf[CURL_ERROR_SIZE];
	char message[512];
	int rc = FLUE_ERROR, too_long = 0;

	memset(resp, 0, sizeof(*resp));
	for (int attempt = 0; attempt < attempts; attempt++) {
		struct attempt a = {0};
		struct curl_slist *headers;
		struct vc_handle *h;
		enum run_end end;
		CURLcode cc;
		char *url;
		int64_t wait = -1;

		if (host->cancel_is_set(req->cancel))
			return host->error_set(err, FLUE_ECANCELED,
			                       "vercel: %s: canceled", req->what);
		vc_response_clear(host, resp);
		if (req->upload != NULL && fseek(req->upload, 0, SEEK_SET) != 0)
			return host->error_set(err, FLUE_EIO,
			                       "vercel: %s: cannot rewind the upload",
			                       req->what);
		h = handle_get(c);
		headers = build_headers(c, req);
		url = build_url(c, req);
		if (h == NULL || headers == NULL || url == NULL) {
			handle_put(c, h, 0);
			curl_slist_free_all(headers);
			free(url);
			return vc_nomem(host, err);
		}
		a.client = c;
		a.req = req;
		a.resp = resp;
		a.easy = h->easy;
		errbuf[0] = '\0';
		setup_easy(c, req, &a, url, headers, errbuf);
		end = run_transfer(&a, h->multi, &cc);
		if (!a.checked && end == RUN_DONE && cc == CURLE_OK)
			check_answer(&a);  /* an answer with no body */
		if (end == RUN_DONE && cc == CURLE_OK && a.ok_status &&
		    req->body_kind == VC_BODY_NDJSON && a.line_rc == 0 &&
		    vc_lines_pending(&a.lines) > 0) {
			/* A last line without its newline still counts. */
			char *rest = a.lines.buf;

			a.lines.buf = NULL;
			deliver_line(&a, rest, a.lines.len);
			a.lines.len = 0;
			free(rest);
		}
		handle_put(c, h, end == RUN_DONE);
		curl_slist_free_all(headers);

		if (a.nomem) {
			rc = vc_nomem(host, err);
		} else if (end == RUN_CANCELED) {
			rc = host->error_set(err, FLUE_ECANCELED,
			                     "vercel: %s: canceled", req->what);
		} else if (a.bad_type[0] != '\0') {
			rc = host->error_set(err, FLUE_EIO,
			        "vercel: %s: %s %s answered %ld with content type "
			        "'%s', not %s", req->what, req->method, req->path,
			        resp->status, a.bad_type,
			        req->body_kind == VC_BODY_NDJSON ?
			        "application/x-ndjson" :
			        req->body_kind == VC_BODY_BYTES ?
			        "application/octet-stream" : "application/json");
		} else if (a.line_rc != 0) {
			rc = a.line_rc;   /* the line handler filled err */
		} else if (end != RUN_DONE || cc != CURLE_OK) {
			const char *why = errbuf[0] ? errbuf :
			                  curl_easy_strerror(cc);

			resp->sent = !connect_failure(cc);
			if (!resp->sent) {
				char origin[256];

				snprintf(origin, sizeof(origin), "%s", url);
				if (strchr(origin, '?') != NULL)
					*strchr(origin, '?') = '\0';
				rc = host->error_set(err, FLUE_ERETRY,
				        "vercel: %s: cannot reach %s (%s)", req->what,
				        origin, why);
				wait = 0;
			} else if (resp->body_started) {
				rc = host->error_set(err, FLUE_EIO,
				        "vercel: %s: the connection broke in the middle "
				        "of the answer to %s %s (%s)", req->what,
				        req->method, req->path, why);
			} else {
				rc = host->error_set(err, FLUE_ERETRY,
				        "vercel: %s: the connection dropped before %s %s "
				        "was answered (%s)", req->what, req->method,
				        req->path, why);
				if (req->idempotent)
					wait = 0;
			}
		} else if (a.ok_status) {
			rc = 0;
			if (req->body_kind == VC_BODY_JSON) {
				resp->json = a.body ? json_tokener_parse(a.body) : NULL;
				if (resp->json == NULL)
					resp->json = json_object_new_object();
				if (a.body != NULL &&
				    !json_object_is_type(resp->json, json_type_object)) {
					json_object_put(resp->json);
					resp->json = NULL;
					rc = host->error_set(err, FLUE_EIO,
					        "vercel: %s: %s %s answered %ld with a body "
					        "that is not a JSON object", req->what,
					        req->method, req->path, resp->status);
				} else if (resp->json == NULL) {
					rc = vc_nomem(host, err);
				}
			} else if (req->body_kind == VC_BODY_BYTES &&
			           resp->bytes.data == NULL) {
				resp->bytes.data = host->alloc(1);
				if (resp->bytes.data == NULL)
					rc = vc_nomem(host, err);
				else
					resp->bytes.data[0] = '\0';
			}
		} else {
			long st = resp->status;

			error_words(&a, message, sizeof(message));
			rc = host->error_set(err, status_code(st),
			        "vercel: %s: %s %s answered %ld%s%s%s%s", req->what,
			        req->method, req->path, st, resp->code[0] ? " " : "",
			        resp->code, message[0] ? ": " : "", message);
			/* Only a 5xx may have done the work; a 4xx (429 too)
			 * says the server refused it. */
			resp->sent = st >= 500;
			if (st == 429) {
				int64_t ra = retry_after_ms(a.retry_after);

				if (ra > cfg->max_retry_after_ms) {
					too_long = 1;
					rc = host->error_set(err, FLUE_ERETRY,
					        "vercel: %s: rate limited (429): Vercel asks "
					        "to wait %s s, longer than the %" PRId64 " s "
					        "flue waits (max_retry_after); try again "
					        "later", req->what, a.retry_after,
					        cfg->max_retry_after_ms / 1000);
				} else {
					wait = ra > 0 ? ra : 0;
				}
			} else if ((st >= 500 && req->idempotent) || st == 408) {
				wait = 0;
			}
		}
		free(a.body);
		free(url);
		vc_lines_clear(&a.lines);
		if (rc == 0 || wait < 0 || attempt + 1 >= attempts)
			break;
		host->log(host, FLUE_LOG_INFO, "%s; trying again (%d of %d)",
		          err->message, attempt + 2, attempts);
		if (plugin_sleep(host, req->cancel, wait + backoff(cfg, attempt)))
			return host->error_set(err, FLUE_ECANCELED,
			                       "vercel: %s: canceled", req->what);
	}
	if (rc != 0 && rc != FLUE_ECANCELED && resp->status == 429 &&
	    attempts > 1 && !too_long) {
		char copy[FLUE_ERROR_MESSAGE_MAX];

		snprintf(copy, sizeof(copy), "%s", err->message);
		host->error_set(err, FLUE_ERETRY, "%s (still rate limited after "
		                "%d attempts)", copy, attempts);
	}
	return rc;
}
