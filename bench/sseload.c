/* sseload: load generator for flue's HTTP server.  Starts N runs, each a
 * streaming POST /agents/<agent>/<session> in a new session, at most C at
 * once, reads the SSE answers and reports completed runs, errors by kind,
 * throughput and latency percentiles.  libcurl multi interface, one thread.
 *
 * Latency of a run: from just before its request is added to the multi
 * handle until its `run_end` frame has been parsed.  First frame: until the
 * first dispatched event (comment frames such as heartbeats do not count).
 * Both are reported over the completed runs.
 *
 * Usage: sseload --url URL --agent NAME --sessions N [--concurrency C]
 *                [--prompt TEXT] [--timeout SECONDS] [--json] */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define EVENT_MAX 32            /* longest event type kept */
#define DATA_MAX (1024 * 1024)  /* longest run_end data kept */
#define ERRBODY_MAX 4096        /* longest error body kept */
#define KINDS_MAX 32            /* distinct error kinds, then "other" */
#define MESSAGES_MAX 5          /* error messages shown */

enum { L_START, L_NAME, L_VALUE_FIRST, L_VALUE };
enum { F_OTHER, F_EVENT, F_DATA };

/* One transfer in flight.  Bodies are not stored: only the data of a frame
 * that may be run_end, or the start of a non-200 body. */
struct xfer {
	CURL *easy;
	long index;             /* run number, 1..N */
	double t_start, t_first, t_end;
	long http_code;         /* 0 until the first body byte */
	unsigned long events;
	/* SSE parse state */
	unsigned char lstate, field, after_cr;
	unsigned char event_set, buffering, dropped;
	unsigned char got_end, is_sse;
	char name[8];
	unsigned nlen;
	char event[EVENT_MAX];
	unsigned elen;
	unsigned long data_lines;
	char *buf;              /* frame data, or a non-200 body */
	size_t blen, bcap;
	/* results */
	char status[24];
	char run_id[48];
	char retry_after[16];
	char errbuf[CURL_ERROR_SIZE];
};

struct kind {
	char name[96];
	long count;
};

static struct {
	const char *url, *agent, *prompt;
	long sessions, concurrency;
	double timeout;
	int json;
} opt = { NULL, NULL, "Reply with one short sentence.", 0, 0, 120.0, 0 };

static struct kind kinds[KINDS_MAX];
static int nkinds;
static char *messages[MESSAGES_MAX];
static int nmessages;
static long nerrors, missing_run_id;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sseload --url URL --agent NAME --sessions N [options]\n"
	    "\n"
	    "Start N runs of agent NAME on flue's HTTP server, each a streaming\n"
	    "POST URL/agents/NAME/load-<pid>-<i> in its own session, and report\n"
	    "completed runs, errors, throughput and latency.\n"
	    "\n"
	    "  --url URL           server base URL, e.g. http://127.0.0.1:8080\n"
	    "  --agent NAME        agent to run\n"
	    "  --sessions N        number of runs (one new session each)\n"
	    "  --concurrency C     runs in flight at once (default: N)\n"
	    "  --prompt TEXT       prompt sent in {\"prompt\": TEXT}\n"
	    "  --timeout SECONDS   bound on the whole benchmark (default 120);\n"
	    "                      unfinished runs then count as errors\n"
	    "  --json              print one JSON object instead of text\n"
	    "  -h, --help          show this help\n"
	    "\n"
	    "Exit status: 0 if every run ended with run_end status \"ok\",\n"
	    "1 if any did not, 2 on bad usage.\n");
}

static void die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("sseload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'sseload --help' for more information.\n", stderr);
	exit(2);
}

static long
parse_count(const char *name, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 10000000)
		die_usage("%s wants a whole number from 1 to 10000000", name);
	return v;
}

/* ---- errors ---- */

static void
add_error(struct xfer *x, const char *kind, const char *detail)
{
	int i;

	nerrors++;
	for (i = 0; i < nkinds; i++)
		if (!strcmp(kinds[i].name, kind))
			break;
	if (i == nkinds) {
		if (nkinds == KINDS_MAX) {
			i = KINDS_MAX - 1;
			snprintf(kinds[i].name, sizeof kinds[i].name, "other");
		} else {
			snprintf(kinds[i].name, sizeof kinds[i].name, "%s", kind);
			nkinds++;
		}
	}
	kinds[i].count++;
	if (nmessages < MESSAGES_MAX) {
		size_t n = strlen(kind) + strlen(detail) + 128;
		char *m = malloc(n);

		if (m) {
			snprintf(m, n, "load-%ld-%ld%s%s%s: %s%s%s",
			    (long)getpid(), x->index,
			    x->run_id[0] ? " (run " : "", x->run_id,
			    x->run_id[0] ? ")" : "",
			    kind, detail[0] ? ": " : "", detail);
			messages[nmessages++] = m;
		}
	}
}

/* ---- buffers ---- */

static void
buf_put(struct xfer *x, char c, size_t max)
{
	if (x->blen + 1 >= max) {
		x->dropped = 1;
		return;
	}
	if (x->blen + 2 > x->bcap) {
		size_t n = x->bcap ? x->bcap * 2 : 512;
		char *b;

		if (n > max)
			n = max;
		b = realloc(x->buf, n);
		if (!b) {
			x->dropped = 1;
			return;
		}
		x->buf = b;
		x->bcap = n;
	}
	x->buf[x->blen++] = c;
	x->buf[x->blen] = '\0';
}

/* ---- SSE ---- */

static void
frame_reset(struct xfer *x)
{
	x->event_set = 0;
	x->elen = 0;
	x->event[0] = '\0';
	x->data_lines = 0;
	x->blen = 0;
	x->dropped = 0;
	if (x->bcap > 4096) {  /* a large run_end: give the memory back */
		free(x->buf);
		x->buf = NULL;
		x->bcap = 0;
	}
}

static void
run_end(struct xfer *x)
{
	struct json_object *o, *s;

	x->got_end = 1;
	x->t_end = now_s();
	if (x->dropped || !x->buf) {
		snprintf(x->status, sizeof x->status, "(data not kept)");
		return;
	}
	o = json_tokener_parse(x->buf);
	if (!o || !json_object_is_type(o, json_type_object))
		snprintf(x->status, sizeof x->status, "(bad json)");
	else if (!json_object_object_get_ex(o, "status", &s) ||
	    !json_object_is_type(s, json_type_string))
		snprintf(x->status, sizeof x->status, "(no status)");
	else
		snprintf(x->status, sizeof x->status, "%s",
		    json_object_get_string(s));
	json_object_put(o);
}

static void
frame_dispatch(struct xfer *x)
{
	if (x->data_lines) {  /* a frame without data is not an event */
		x->events++;
		if (!x->t_first)
			x->t_first = now_s();
		if (!x->got_end && !strcmp(x->event, "run_end"))
			run_end(x);
	}
	frame_reset(x);
}

/* The field name is complete (at its colon, or at the end of a line
 * without one): set up for its value. */
static void
field_begin(struct xfer *x)
{
	x->name[x->nlen < sizeof x->name ? x->nlen : 0] = '\0';
	if (x->nlen < sizeof x->name && !strcmp(x->name, "event")) {
		x->field = F_EVENT;
		x->event_set = 1;
		x->elen = 0;
		x->event[0] = '\0';
	} else if (x->nlen < sizeof x->name && !strcmp(x->name, "data")) {
		x->field = F_DATA;
		/* Keep data only while the frame may be run_end. */
		x->buffering = !x->event_set || !strcmp(x->event, "run_end");
		if (!x->buffering)
			x->dropped = 1;
		else if (x->data_lines)
			buf_put(x, '\n', DATA_MAX);
		x->data_lines++;
	} else {
		x->field = F_OTHER;  /* id, retry, comments, unknown */
	}
}

static void
value_byte(struct xfer *x, char c)
{
	if (x->field == F_EVENT) {
		if (x->elen + 1 < sizeof x->event) {
			x->event[x->elen++] = c;
			x->event[x->elen] = '\0';
		} else {
			x->event[0] = '\x01';  /* too long: matches nothing */
		}
	} else if (x->field == F_DATA && x->buffering) {
		buf_put(x, c, DATA_MAX);
	}
}

static void
line_end(struct xfer *x)
{
	if (x->lstate == L_START)
		frame_dispatch(x);
	else if (x->lstate == L_NAME)
		field_begin(x);  /* "data" alone is an empty data line */
	x->lstate = L_START;
}

static void
sse_feed(struct xfer *x, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (x->after_cr) {
			x->after_cr = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			x->after_cr = c == '\r';
			line_end(x);
			continue;
		}
		switch (x->lstate) {
		case L_START:
			if (c == ':') {  /* comment */
				x->field = F_OTHER;
				x->lstate = L_VALUE;
			} else {
				x->name[0] = c;
				x->nlen = 1;
				x->lstate = L_NAME;
			}
			break;
		case L_NAME:
			if (c == ':') {
				field_begin(x);
				x->lstate = L_VALUE_FIRST;
			} else if (x->nlen < sizeof x->name) {
				x->name[x->nlen++] = c;
			} else {
				x->nlen = sizeof x->name;  /* too long: unknown */
			}
			break;
		case L_VALUE_FIRST:
			x->lstate = L_VALUE;
			if (c == ' ')
				break;
			/* fall through */
		default:
			value_byte(x, c);
			break;
		}
	}
}

/* ---- curl callbacks ---- */

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n, i;

	if (!x->http_code)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE,
		    &x->http_code);
	if (x->http_code != 200) {
		for (i = 0; i < len && x->blen + 1 < ERRBODY_MAX; i++)
			buf_put(x, p[i], ERRBODY_MAX);
		return len;
	}
	sse_feed(x, p, len);
	return len;
}

/* If header line p is "name: value", copy the trimmed value to out. */
static int
header_value(const char *p, size_t len, const char *name, char *out,
    size_t outlen)
{
	size_t nl = strlen(name), k = 0;

	if (len <= nl || strncasecmp(p, name, nl) || p[nl] != ':')
		return 0;
	p += nl + 1;
	len -= nl + 1;
	while (len && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
	    p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	for (; k < len && k + 1 < outlen; k++)
		out[k] = p[k];
	out[k] = '\0';
	return 1;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	char ct[32];

	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {  /* a new response */
		x->run_id[0] = x->retry_after[0] = '\0';
		x->is_sse = 0;
		return len;
	}
	header_value(p, len, "X-Flue-Run-Id", x->run_id, sizeof x->run_id);
	header_value(p, len, "Retry-After", x->retry_after,
	    sizeof x->retry_after);
	if (header_value(p, len, "Content-Type", ct, sizeof ct))
		x->is_sse = !strncasecmp(ct, "text/event-stream", 17);
	return len;
}

/* ---- runs ---- */

static void
add_pct(char *url, size_t n, const char *s)
{
	size_t k = strlen(url);

	for (; *s && k + 4 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c))
			url[k++] = c;
		else
			k += snprintf(url + k, n - k, "%%%02X", c);
	}
	url[k] = '\0';
}

static int
start_run(CURLM *multi, struct xfer *x, long index, const char *body,
    struct curl_slist *headers)
{
	char url[4096];
	CURL *e;

	memset(x, 0, sizeof *x);
	x->index = index;
	e = x->easy = curl_easy_init();
	if (!e)
		return -1;
	snprintf(url, sizeof url, "%s/agents/", opt.url);
	add_pct(url, sizeof url, opt.agent);
	snprintf(url + strlen(url), sizeof url - strlen(url), "/load-%ld-%ld",
	    (long)getpid(), index);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(e, CURLOPT_USERAGENT, "flue-sseload");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 8192L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	x->t_start = now_s();
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		x->easy = NULL;
		return -1;
	}
	return 0;
}

/* The message of a {"error":{"type":..,"message":..}} body. */
static void
error_body_detail(struct xfer *x, char *out, size_t n)
{
	struct json_object *o = NULL, *err, *v;
	const char *type = NULL, *msg = NULL;
	size_t k;

	if (x->buf)
		o = json_tokener_parse(x->buf);
	if (o && json_object_object_get_ex(o, "error", &err)) {
		if (json_object_object_get_ex(err, "type", &v))
			type = json_object_get_string(v);
		if (json_object_object_get_ex(err, "message", &v))
			msg = json_object_get_string(v);
	}
	if (type || msg)
		snprintf(out, n, "%s%s%s", type ? type : "",
		    type && msg ? ": " : "", msg ? msg : "");
	else if (x->buf)
		snprintf(out, n, "body not an error object: %.200s", x->buf);
	else
		snprintf(out, n, "empty body");
	if (x->retry_after[0]) {
		k = strlen(out);
		snprintf(out + k, n - k, " (Retry-After: %s)", x->retry_after);
	}
	for (k = 0; out[k]; k++)
		if (out[k] == '\n' || out[k] == '\r')
			out[k] = ' ';
	json_object_put(o);
}

/* A finished (or, with result < 0, abandoned) run: record it.  Returns 1
 * if it completed. */
static int
finish_run(struct xfer *x, int result, const char *abandon_kind)
{
	char kind[96], detail[512];
	long code = 0;
	int ok_end = x->got_end && !strcmp(x->status, "ok");

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code && !x->run_id[0])
		missing_run_id++;
	detail[0] = '\0';
	if (abandon_kind) {
		if (ok_end)
			snprintf(kind, sizeof kind, "open after run_end");
		else
			snprintf(kind, sizeof kind, "%s", abandon_kind);
		snprintf(detail, sizeof detail, "%lu events, http %ld",
		    x->events, code);
	} else if (code && code != 200) {
		snprintf(kind, sizeof kind, "http %ld", code);
		error_body_detail(x, detail, sizeof detail);
	} else if (result != CURLE_OK) {
		snprintf(kind, sizeof kind, "curl: %s%s",
		    curl_easy_strerror((CURLcode)result),
		    ok_end ? " (after run_end)" : "");
		snprintf(detail, sizeof detail, "%s", x->errbuf);
	} else if (!x->got_end) {
		snprintf(kind, sizeof kind, "no run_end");
		snprintf(detail, sizeof detail,
		    "stream ended after %lu events%s", x->events,
		    x->is_sse ? "" : ", Content-Type not text/event-stream");
	} else if (!ok_end) {
		snprintf(kind, sizeof kind, "run status %s", x->status);
	} else {
		return 1;
	}
	add_error(x, kind, detail);
	return 0;
}

static void
end_xfer(CURLM *multi, struct xfer *x)
{
	curl_multi_remove_handle(multi, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	free(x->buf);
	x->buf = NULL;
	x->bcap = x->blen = 0;
}

/* ---- report ---- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n], or NAN if empty. */
static double
pct(const double *v, long n, long p)
{
	long k;

	if (n == 0)
		return NAN;
	k = (p * n + 99) / 100 - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

static void
print_ms(const char *label, double v)
{
	if (isnan(v))
		printf("  %s -", label);
	else
		printf("  %s %.1f", label, v);
}

static void
json_num(struct json_object *o, const char *key, double v)
{
	json_object_object_add(o, key,
	    isnan(v) ? NULL : json_object_new_double(v));
}

static void
report(long completed, double wall, double *lat, double *first)
{
	double rate = wall > 0 ? completed / wall : 0;
	double l50, l90, l99, lmax, f50, f99;
	int i;

	qsort(lat, completed, sizeof *lat, cmp_double);
	qsort(first, completed, sizeof *first, cmp_double);
	l50 = pct(lat, completed, 50);
	l90 = pct(lat, completed, 90);
	l99 = pct(lat, completed, 99);
	lmax = pct(lat, completed, 100);
	f50 = pct(first, completed, 50);
	f99 = pct(first, completed, 99);

	if (opt.json) {
		struct json_object *o = json_object_new_object();
		struct json_object *k = json_object_new_object();
		struct json_object *m = json_object_new_array();

		json_c_set_serialization_double_format("%.3f",
		    JSON_C_OPTION_GLOBAL);
		json_object_object_add(o, "sessions",
		    json_object_new_int64(opt.sessions));
		json_object_object_add(o, "concurrency",
		    json_object_new_int64(opt.concurrency));
		json_object_object_add(o, "completed",
		    json_object_new_int64(completed));
		json_object_object_add(o, "errors",
		    json_object_new_int64(nerrors));
		for (i = 0; i < nkinds; i++)
			json_object_object_add(k, kinds[i].name,
			    json_object_new_int64(kinds[i].count));
		json_object_object_add(o, "errors_by_kind", k);
		for (i = 0; i < nmessages; i++)
			json_object_array_add(m,
			    json_object_new_string(messages[i]));
		json_object_object_add(o, "error_messages", m);
		json_object_object_add(o, "missing_run_id",
		    json_object_new_int64(missing_run_id));
		json_num(o, "wall_time_s", wall);
		json_num(o, "runs_per_sec", rate);
		json_num(o, "latency_p50_ms", l50);
		json_num(o, "latency_p90_ms", l90);
		json_num(o, "latency_p99_ms", l99);
		json_num(o, "latency_max_ms", lmax);
		json_num(o, "first_frame_p50_ms", f50);
		json_num(o, "first_frame_p99_ms", f99);
		printf("%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("sessions        %ld\n", opt.sessions);
	printf("concurrency     %ld\n", opt.concurrency);
	printf("completed       %ld\n", completed);
	printf("errors          %ld\n", nerrors);
	for (i = 0; i < nkinds; i++)
		printf("  %8ld  %s\n", kinds[i].count, kinds[i].name);
	printf("wall time       %.3f s\n", wall);
	printf("runs/s          %.1f\n", rate);
	printf("latency ms    ");
	print_ms("p50", l50);
	print_ms("p90", l90);
	print_ms("p99", l99);
	print_ms("max", lmax);
	printf("\nfirst frame ms");
	print_ms("p50", f50);
	print_ms("p99", f99);
	printf("\n");
	if (missing_run_id)
		printf("missing X-Flue-Run-Id: %ld responses\n", missing_run_id);
	if (nmessages) {
		printf("first errors:\n");
		for (i = 0; i < nmessages; i++)
			printf("  %s\n", messages[i]);
	}
}

/* ---- main ---- */

static void
raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)want + 32 > rl.rlim_cur)
		fprintf(stderr, "sseload: warning: open file limit %ld is low "
		    "for %ld concurrent transfers\n", (long)rl.rlim_cur, want);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "agent", required_argument, NULL, 'a' },
		{ "sessions", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct json_object *bo;
	struct curl_slist *headers = NULL;
	struct xfer *pool, **freelist;
	double *lat, *first, start, deadline, wall;
	char *body, *url, *end;
	long next = 0, done = 0, active = 0, completed = 0, nfree, i;
	size_t ul;
	CURLM *multi;
	int c, running;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': opt.url = optarg; break;
		case 'a': opt.agent = optarg; break;
		case 'n': opt.sessions = parse_count("--sessions", optarg); break;
		case 'c':
			opt.concurrency = parse_count("--concurrency", optarg);
			break;
		case 'p': opt.prompt = optarg; break;
		case 't':
			errno = 0;
			opt.timeout = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(opt.timeout > 0 && opt.timeout < 1e7))
				die_usage("--timeout wants a positive number "
				    "of seconds, not '%s'", optarg);
			break;
		case 'j': opt.json = 1; break;
		case 'h': usage(stdout); return 0;
		case ':':
			die_usage("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt)
				die_usage("unknown option '-%c'", optopt);
			die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!opt.url)
		die_usage("%s is required", "--url");
	if (!opt.agent || !opt.agent[0])
		die_usage("%s is required", "--agent");
	if (!opt.sessions)
		die_usage("%s is required", "--sessions");
	if (strncasecmp(opt.url, "http://", 7) &&
	    strncasecmp(opt.url, "https://", 8))
		die_usage("--url must start with http:// or https://, not '%s'",
		    opt.url);
	if (!opt.concurrency || opt.concurrency > opt.sessions)
		opt.concurrency = opt.sessions;

	/* The base URL without trailing slashes. */
	url = strdup(opt.url);
	if (!url)
		return 1;
	for (ul = strlen(url); ul > 0 && url[ul - 1] == '/'; ul--)
		url[ul - 1] = '\0';
	opt.url = url;

	raise_nofile(opt.concurrency);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sseload: curl_global_init failed\n");
		return 1;
	}

	bo = json_object_new_object();
	json_object_object_add(bo, "prompt", json_object_new_string(opt.prompt));
	body = strdup(json_object_to_json_string_ext(bo,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(bo);
	headers = curl_slist_append(headers, "Accept: text/event-stream");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");

	pool = calloc(opt.concurrency, sizeof *pool);
	freelist = calloc(opt.concurrency, sizeof *freelist);
	lat = calloc(opt.sessions, sizeof *lat);
	first = calloc(opt.sessions, sizeof *first);
	multi = curl_multi_init();
	if (!body || !headers || !pool || !freelist || !lat || !first ||
	    !multi) {
		fprintf(stderr, "sseload: out of memory\n");
		return 1;
	}
	for (i = 0; i < opt.concurrency; i++)
		freelist[i] = &pool[opt.concurrency - 1 - i];
	nfree = opt.concurrency;
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    opt.concurrency);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, opt.concurrency);

	start = now_s();
	deadline = start + opt.timeout;
	while (done < opt.sessions) {
		CURLMsg *msg;
		int left;
		double now, wait;

		while (active < opt.concurrency && next < opt.sessions) {
			struct xfer *x = freelist[--nfree];

			next++;
			if (start_run(multi, x, next, body, headers) < 0) {
				add_error(x, "cannot start transfer", "");
				freelist[nfree++] = x;
				done++;
				continue;
			}
			active++;
		}
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct xfer *x;
			char *priv;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    &priv);
			x = (struct xfer *)priv;
			if (finish_run(x, msg->data.result, NULL)) {
				lat[completed] = (x->t_end - x->t_start) * 1e3;
				first[completed] = (x->t_first - x->t_start) * 1e3;
				completed++;
			}
			end_xfer(multi, x);
			freelist[nfree++] = x;
			active--;
			done++;
		}
		now = now_s();
		if (done >= opt.sessions || now >= deadline)
			break;
		if (active < opt.concurrency && next < opt.sessions)
			continue;  /* a start failed: try the next */
		wait = (deadline - now) * 1e3;
		curl_multi_poll(multi, NULL, 0, wait < 1000 ? (int)wait + 1 :
		    1000, NULL);
		if (now_s() >= deadline)
			break;
	}
	wall = now_s() - start;

	/* Past the deadline: abandon what is left. */
	for (i = 0; i < opt.concurrency; i++) {
		if (!pool[i].easy)
			continue;
		finish_run(&pool[i], -1, "timeout");
		end_xfer(multi, &pool[i]);
	}
	for (; next < opt.sessions; next++) {
		struct xfer x;

		memset(&x, 0, sizeof x);
		x.index = next + 1;
		add_error(&x, "not started (timeout)", "");
	}

	report(completed, wall, lat, first);

	curl_multi_cleanup(multi);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	for (i = 0; i < nmessages; i++)
		free(messages[i]);
	free(pool);
	free(freelist);
	free(lat);
	free(first);
	free(body);
	free(url);
	return nerrors ? 1 : 0;
}
