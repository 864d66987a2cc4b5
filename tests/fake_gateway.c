/* A fake Vercel AI Gateway for tests: a real HTTP/1.1 server on
 * 127.0.0.1 that answers OpenAI Chat Completions and Anthropic Messages
 * requests from a script of turns, including the failures a client has
 * to survive (error statuses, resets, early ends, stalls, odd framing).
 * It checks what the client sent and records every request.
 * tests/fake_gateway.md describes the command line, the script and the
 * request log.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a response
 * may sleep.  The script, the turn counts and the request log are shared
 * and guarded by fake.lock; a response copies everything it needs while
 * holding it, so a script replaced mid-stream does not disturb it. */
#define _GNU_SOURCE
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#define PROG "fake-gateway"
#define BODY_MAX ((size_t)16 << 20)
#define NAP_STEP_MS 20
#define JSON_DEPTH 128
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define DEFAULT_MODEL "anthropic/claude-sonnet-4.6"

enum api {
	API_OPENAI,       /* POST /v1/chat/completions */
	API_ANTHROPIC     /* POST /v1/messages */
};

static struct {
	pthread_mutex_t lock;
	json_object *script;     /* owned: the whole script document */
	json_object *turns;      /* borrowed from script; NULL: no turns */
	int require_auth;
	int64_t *served;         /* owned: requests each turn has answered */
	unsigned long model_requests;  /* since the script was loaded */
	char *reasoning;         /* owned: the last 200 answer's reasoning */
	char *signature;         /* owned: and its signature */
	json_object *log;        /* owned array of request records */
	unsigned long logged;
	int log_fd;              /* owned, or -1 */
	int started;             /* quiets libmicrohttpd once listening */
	volatile int stopping;   /* __atomic */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER, .log_fd = -1 };

/* ---- small helpers ------------------------------------------------- */

/* A test server has no sensible way to go on without memory. */
static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (p == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		abort();
	}
	return p;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		abort();
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t len = strlen(s) + 1;

	return memcpy(xrealloc(NULL, len), s, len);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
stopping(void)
{
	return __atomic_load_n(&fake.stopping, __ATOMIC_ACQUIRE);
}

/* Sleep ms milliseconds in short steps, so that a sleeping response ends
 * promptly.  Returns -1 early when the server is stopping or the client
 * on fd has gone (fd < 0: do not watch a client). */
static int
nap(int fd, int64_t ms)
{
	while (ms > 0) {
		int step = ms < NAP_STEP_MS ? (int)ms : NAP_STEP_MS;

		if (stopping())
			return -1;
		if (fd >= 0) {
			/* Only hang-ups are asked for, so bytes the client
			 * sent ahead do not make poll() return at once. */
			struct pollfd p = { .fd = fd, .events = POLLRDHUP };

			if (poll(&p, 1, step) > 0 && (p.revents & (POLLRDHUP |
			    POLLHUP | POLLERR | POLLNVAL)))
				return -1;
		} else {
			struct timespec ts = { 0, (long)step * 1000000 };

			nanosleep(&ts, NULL);
		}
		ms -= step;
	}
	return stopping() ? -1 : 0;
}

struct buf {
	char *p;        /* owned; NUL-terminated once anything was added */
	size_t len, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Ids that look like the real ones: the time-ordered ULID of "gen_"
 * ids, and the base62 tails of Anthropic's "msg_01" and "toolu_01". */
static void
random_bytes(unsigned char *p, size_t n)
{
	static unsigned long counter;
	uint64_t x;

	if (getrandom(p, n, GRND_NONBLOCK) == (ssize_t)n)
		return;
	/* Ids need to differ, not to be secret. */
	x = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^ (uint64_t)now_us();
	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (unsigned char)(x >> 56);
	}
}

static void
random_chars(char *out, size_t n, const char *alphabet)
{
	size_t size = strlen(alphabet);
	unsigned char r[64];

	random_bytes(r, n);
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[r[i] % size];
	out[n] = '\0';
}

#define BASE62 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* "gen_" and a 26-character ULID: 48 bits of milliseconds, 80 random. */
static void
new_generation_id(char out[31])
{
	static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t ms = (uint64_t)now_us() / 1000;

	memcpy(out, "gen_", 4);
	for (int i = 9; i >= 0; i--) {
		out[4 + i] = crockford[ms & 31];
		ms >>= 5;
	}
	random_chars(out + 14, 16, crockford);
}

static void
new_prefixed_id(char *out, const char *prefix, size_t tail)
{
	size_t len = strlen(prefix);

	memcpy(out, prefix, len);
	random_chars(out + len, tail, BASE62);
}

/* ---- JSON helpers -------------------------------------------------- */

static json_object *
jget(json_object *obj, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

static const char *
jstr(json_object *obj, const char *key)
{
	json_object *v = jget(obj, key);

	return json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int64_t
jint(json_object *obj, const char *key, int64_t dflt)
{
	json_object *v = jget(obj, key);

	return json_object_is_type(v, json_type_int) ?
	       json_object_get_int64(v) : dflt;
}

static int
jbool(json_object *obj, const char *key, int dflt)
{
	json_object *v = jget(obj, key);

	return json_object_is_type(v, json_type_boolean) ?
	       json_object_get_boolean(v) : dflt;
}

static void
put(json_object *obj, const char *key, json_object *value)
{
	json_object_object_add(obj, key, value);
}

static void
put_str(json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, json_object_new_string(value));
}

static void
put_int(json_object *obj, const char *key, int64_t value)
{
	json_object_object_add(obj, key, json_object_new_int64(value));
}

/* A dollar amount, printed short ("0.00072", not 17 digits). */
static json_object *
new_cost(double v)
{
	char text[32];

	snprintf(text, sizeof(text), "%.10g", v);
	return json_object_new_double_s(v, text);
}

static const char *
json_text(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_FLAGS);
}

/* Parse exactly one JSON document.  NULL on error, with why saying what
 * and on which line. */
static json_object *
parse_json(const char *text, size_t len, char *why, size_t whylen)
{
	struct json_tokener *tok;
	json_object *doc;
	enum json_tokener_error jerr;
	size_t end;
	unsigned line = 1;

	if (text == NULL)
		text = "";
	if (len > INT_MAX) {
		snprintf(why, whylen, "the document is too large");
		return NULL;
	}
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (tok == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	doc = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (doc != NULL && end < len && isspace((unsigned char)text[end]))
		end++;
	for (size_t i = 0; i < end && i < len; i++)
		line += text[i] == '\n';
	if (doc == NULL && (jerr == json_tokener_continue ||
	                    jerr == json_tokener_success)) {
		snprintf(why, whylen, "line %u: the JSON ends early", line);
		return NULL;
	}
	if (doc == NULL) {
		snprintf(why, whylen, "line %u: %s", line,
		         json_tokener_error_desc(jerr));
		return NULL;
	}
	if (end < len) {
		snprintf(why, whylen, "line %u: text after the JSON document",
		         line);
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

/* A "text" or "reasoning" value: one string, or an array of deltas. */
static size_t
piece_count(json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return 1;
	if (json_object_is_type(v, json_type_array))
		return json_object_array_length(v);
	return 0;
}

static const char *
piece(json_object *v, size_t i)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_get_string(json_object_array_get_idx(v, i));
}

/* All the pieces joined; [caller-owned]. */
static char *
pieces_joined(json_object *v)
{
	struct buf b = { 0 };

	buf_str(&b, "");
	for (size_t i = 0; i < piece_count(v); i++)
		buf_str(&b, piece(v, i));
	return b.p;
}

/* The text of a message "content": a string, or a list of strings and
 * {"type":"text","text":...} blocks. */
static void
content_text(json_object *content, struct buf *out)
{
	if (json_object_is_type(content, json_type_string)) {
		buf_str(out, json_object_get_string(content));
		return;
	}
	if (!json_object_is_type(content, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *part = json_object_array_get_idx(content, i);
		const char *text = jstr(part, "text");

		if (json_object_is_type(part, json_type_string))
			buf_str(out, json_object_get_string(part));
		else if (text != NULL)
			buf_str(out, text);
	}
}

/* ---- the script ---------------------------------------------------- */

/* Scripts are checked strictly (unknown keys included) when they are
 * loaded, so that a typo fails the test that made it, loudly, instead of
 * being served as a default. */
enum kind {
	K_BOOL,
	K_INT,
	K_NUM,
	K_STR,       /* a string, optionally one of choices */
	K_STRS,      /* a string or an array of strings */
	K_STRLIST,   /* an array of strings */
	K_STRMAP,    /* an object of strings */
	K_OBJ,       /* an object with members sub */
	K_OBJS,      /* an array of such objects */
	K_ANY
};

struct rule {
	const char *key;
	enum kind kind;
	int required;
	int64_t min, max;              /* K_INT */
	const char *const *choices;    /* K_STR: allowed values, or NULL */
	const struct rule *sub;        /* K_OBJ, K_OBJS */
};

static const char *const fault_names[] = {
	"reset", "eof", "error_event", "stall", NULL
};
static const char *const usage_styles[] = { "gateway", "openai", "none", NULL };

static const struct rule usage_rules[] = {
	{ .key = "input", .kind = K_INT, .max = INT32_MAX },
	{ .key = "output", .kind = K_INT, .max = INT32_MAX },
	{ .key = "cache_read", .kind = K_INT, .max = INT32_MAX },
	{ .key = "cache_write", .kind = K_INT, .max = INT32_MAX },
	{ .key = "reasoning", .kind = K_INT, .max = INT32_MAX },
	{ .key = "cost", .kind = K_NUM },
	{ .key = NULL }
};

static const struct rule call_rules[] = {
	{ .key = "id", .kind = K_STR },
	{ .key = "name", .kind = K_STR, .required = 1 },
	{ .key = "arguments", .kind = K_ANY },
	{ .key = "fragments", .kind = K_STRLIST },
	{ .key = NULL }
};

static const struct rule error_rules[] = {
	{ .key = "type", .kind = K_STR },
	{ .key = "message", .kind = K_STR },
	{ .key = "param", .kind = K_ANY },
	{ .key = "code", .kind = K_ANY },
	{ .key = NULL }
};

static const struct rule result_rules[] = {
	{ .key = "tool_call_id", .kind = K_STR, .required = 1 },
	{ .key = "contains", .kind = K_STR },
	{ .key = NULL }
};

static const struct rule expect_rules[] = {
	{ .key = "model", .kind = K_STR },
	{ .key = "tools", .kind = K_STRLIST },
	{ .key = "auth", .kind = K_STR },
	{ .key = "tool_results", .kind = K_OBJS, .sub = result_rules },
	{ .key = "reasoning_echo", .kind = K_BOOL },
	{ .key = "provider_options", .kind = K_ANY },
	{ .key = "include_usage", .kind = K_BOOL },
	{ .key = "body_contains", .kind = K_STRS },
	{ .key = "system_contains", .kind = K_STR },
	{ .key = NULL }
};

static const struct rule match_rules[] = {
	{ .key = "body_contains", .kind = K_STRS },
	{ .key = "system_contains", .kind = K_STR },
	{ .key = NULL }
};

static const struct rule turn_rules[] = {
	{ .key = "repeat", .kind = K_INT, .min = 1, .max = INT32_MAX },
	{ .key = "status", .kind = K_INT, .min = 100, .max = 599 },
	{ .key = "headers", .kind = K_STRMAP },
	{ .key = "body", .kind = K_STR },
	{ .key = "content_type", .kind = K_STR },
	{ .key = "error", .kind = K_OBJ, .sub = error_rules },
	{ .key = "text", .kind = K_STRS },
	{ .key = "reasoning", .kind = K_STRS },
	{ .key = "signature", .kind = K_STR },
	{ .key = "tool_calls", .kind = K_OBJS, .sub = call_rules },
	{ .key = "finish_reason", .kind = K_STR },
	{ .key = "usage", .kind = K_OBJ, .sub = usage_rules },
	{ .key = "usage_style", .kind = K_STR, .choices = usage_styles },
	{ .key = "crlf", .kind = K_BOOL },
	{ .key = "comments", .kind = K_BOOL },
	{ .key = "nospace", .kind = K_BOOL },
	{ .key = "split", .kind = K_INT, .min = 1, .max = INT32_MAX },
	{ .key = "delay_ms", .kind = K_INT, .max = INT32_MAX },
	{ .key = "fault", .kind = K_STR, .choices = fault_names },
	{ .key = "after_events", .kind = K_INT, .max = INT32_MAX },
	{ .key = "stall_ms", .kind = K_INT, .max = INT32_MAX },
	{ .key = "first_byte_ms", .kind = K_INT, .max = INT32_MAX },
	{ .key = "expect", .kind = K_OBJ, .sub = expect_rules },
	{ .key = "match", .kind = K_OBJ, .sub = match_rules },
	{ .key = NULL }
};

static const struct rule script_rules[] = {
	{ .key = "require_auth", .kind = K_BOOL },
	{ .key = "turns", .kind = K_OBJS, .sub = turn_rules },
	{ .key = NULL }
};

static int
check_object(json_object *obj, const struct rule *rules, const char *path,
             char *why, size_t whylen);

static int
string_list(json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i),
		                         json_type_string))
			return 0;
	return 1;
}

static int
check_value(json_object *v, const struct rule *r, const char *path,
            char *why, size_t whylen)
{
	switch (r->kind) {
	case K_BOOL:
		if (json_object_is_type(v, json_type_boolean))
			return 0;
		snprintf(why, whylen, "%s: expected true or false", path);
		return -1;
	case K_INT:
		if (json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) >= r->min &&
		    json_object_get_int64(v) <= r->max)
			return 0;
		snprintf(why, whylen, "%s: expected an integer from %lld to %lld",
		         path, (long long)r->min, (long long)r->max);
		return -1;
	case K_NUM:
		if (json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double))
			return 0;
		snprintf(why, whylen, "%s: expected a number", path);
		return -1;
	case K_STR:
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(why, whylen, "%s: expected a string", path);
			return -1;
		}
		for (size_t i = 0; r->choices != NULL && r->choices[i]; i++)
			if (strcmp(json_object_get_string(v), r->choices[i]) == 0)
				return 0;
		if (r->choices == NULL)
			return 0;
		snprintf(why, whylen, "%s: \"%s\" is not one of", path,
		         json_object_get_string(v));
		for (size_t i = 0; r->choices[i]; i++) {
			size_t used = strlen(why);

			snprintf(why + used, whylen - used, "%s %s",
			         i ? "," : "", r->choices[i]);
		}
		return -1;
	case K_STRS:
	case K_STRLIST:
		if ((r->kind == K_STRS &&
		     json_object_is_type(v, json_type_string)) || string_list(v))
			return 0;
		/* An array: name the element that is not a string. */
		for (size_t i = 0; json_object_is_type(v, json_type_array) &&
		     i < json_object_array_length(v); i++) {
			if (json_object_is_type(json_object_array_get_idx(v, i),
			                        json_type_string))
				continue;
			snprintf(why, whylen, "%s[%zu]: expected a string", path, i);
			return -1;
		}
		snprintf(why, whylen, "%s: expected %s", path,
		         r->kind == K_STRS ? "a string or an array of strings"
		                           : "an array of strings");
		return -1;
	case K_STRMAP:
		if (json_object_is_type(v, json_type_object)) {
			json_object_object_foreach(v, key, value) {
				if (json_object_is_type(value, json_type_string))
					continue;
				snprintf(why, whylen, "%s.%s: expected a string",
				         path, key);
				return -1;
			}
			return 0;
		}
		snprintf(why, whylen, "%s: expected an object", path);
		return -1;
	case K_OBJ:
		return check_object(v, r->sub, path, why, whylen);
	case K_OBJS:
		if (!json_object_is_type(v, json_type_array)) {
			snprintf(why, whylen, "%s: expected an array", path);
			return -1;
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char sub[256];

			snprintf(sub, sizeof(sub), "%.200s[%zu]", path, i);
			if (check_object(json_object_array_get_idx(v, i), r->sub,
			                 sub, why, whylen) != 0)
				return -1;
		}
		return 0;
	case K_ANY:
		return 0;
	}
	return 0;
}

static int
check_object(json_object *obj, const struct rule *rules, const char *path,
             char *why, size_t whylen)
{
	const char *where = *path ? path : "the script";

	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(why, whylen, "%s: expected an object", where);
		return -1;
	}
	json_object_object_foreach(obj, key, value) {
		const struct rule *r = rules;
		char sub[256];

		while (r->key != NULL && strcmp(r->key, key) != 0)
			r++;
		if (r->key == NULL) {
			snprintf(why, whylen, "%s: unknown key \"%s\"", where, key);
			return -1;
		}
		snprintf(sub, sizeof(sub), "%.200s%s%.40s", path, *path ? "." : "",
		         key);
		if (check_value(value, r, sub, why, whylen) != 0)
			return -1;
	}
	for (const struct rule *r = rules; r->key != NULL; r++) {
		if (r->required && jget(obj, r->key) == NULL) {
			snprintf(why, whylen, "%s: \"%s\" is missing", where, r->key);
			return -1;
		}
	}
	return 0;
}

/* Give every tool call an id and its arguments as JSON text, so that the
 * streamed and the non-streamed answer agree. */
static int
normalize_call(json_object *call, const char *path, char *why, size_t whylen)
{
	json_object *args = jget(call, "arguments");
	json_object *frags = jget(call, "fragments");
	char *joined = frags ? pieces_joined(frags) : NULL;
	char id[40];

	if (jget(call, "id") == NULL) {
		new_prefixed_id(id, "toolu_01", 22);
		put_str(call, "id", id);
	}
	if (json_object_is_type(args, json_type_object) ||
	    json_object_is_type(args, json_type_array)) {
		put_str(call, "arguments", json_text(args));
	} else if (args != NULL && !json_object_is_type(args, json_type_string)) {
		snprintf(why, whylen, "%s.arguments: expected JSON text (a string) "
		         "or an object", path);
		free(joined);
		return -1;
	} else if (args == NULL) {
		put_str(call, "arguments", joined ? joined : "{}");
	}
	if (joined != NULL && strcmp(joined, jstr(call, "arguments")) != 0) {
		snprintf(why, whylen, "%s.fragments: they join to \"%s\", not to "
		         "the arguments \"%s\"", path, joined,
		         jstr(call, "arguments"));
		free(joined);
		return -1;
	}
	free(joined);
	return 0;
}

/* Parse and check a script.  [caller-owned], or NULL with why filled in. */
static json_object *
script_parse(const char *text, size_t len, char *why, size_t whylen)
{
	json_object *root = parse_json(text, len, why, whylen);
	json_object *turns;

	if (root == NULL)
		return NULL;
	if (check_object(root, script_rules, "", why, whylen) != 0) {
		json_object_put(root);
		return NULL;
	}
	turns = jget(root, "turns");
	for (size_t i = 0; i < piece_count(turns); i++) {
		json_object *calls = jget(json_object_array_get_idx(turns, i),
		                          "tool_calls");

		for (size_t j = 0; j < piece_count(calls); j++) {
			char path[64];

			snprintf(path, sizeof(path), "turns[%zu].tool_calls[%zu]",
			         i, j);
			if (normalize_call(json_object_array_get_idx(calls, j),
			                   path, why, whylen) != 0) {
				json_object_put(root);
				return NULL;
			}
		}
	}
	return root;
}

/* Take ownership of root, with every turn unused. */
static size_t
script_install(json_object *root)
{
	json_object *turns = jget(root, "turns");
	int64_t *served = xcalloc(piece_count(turns), sizeof(*served));
	size_t n;

	pthread_mutex_lock(&fake.lock);
	json_object_put(fake.script);
	fake.script = root;
	fake.turns = turns;
	fake.require_auth = jbool(root, "require_auth", 1);
	free(fake.served);
	fake.served = served;
	fake.model_requests = 0;
	free(fake.reasoning);
	free(fake.signature);
	fake.reasoning = fake.signature = NULL;
	n = piece_count(fake.turns);
	pthread_mutex_unlock(&fake.lock);
	return n;
}

/* ---- requests ------------------------------------------------------ */

enum claim {
	CLAIM_OK,
	CLAIM_EXHAUSTED,   /* every turn is used up */
	CLAIM_NO_MATCH     /* turns are left, but none matches the request */
};

struct request {
	int64_t t_us;          /* when the headers arrived */
	struct buf body;       /* owned */
	int too_large;
	json_object *json;     /* owned: the body parsed, or NULL */
	const char *method;    /* borrowed from libmicrohttpd, for one call */
	const char *url;
	int turn;              /* index into turns, or -1 */
	char *failed;          /* owned: the failed expectation, or NULL */
};

static int
connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return info ? info->connect_fd : -1;
}

static enum MHD_Result
add_header(void *cls, enum MHD_ValueKind kind, const char *key,
           const char *value)
{
	json_object *headers = cls, *old;
	char name[256];
	size_t i;

	(void)kind;
	for (i = 0; key[i] != '\0' && i + 1 < sizeof(name); i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[i] = '\0';
	if (value == NULL)
		value = "";
	old = jget(headers, name);
	if (old != NULL) {
		/* A repeated header reads as one, comma-joined (RFC 9110). */
		struct buf b = { 0 };

		buf_str(&b, json_object_get_string(old));
		buf_str(&b, ", ");
		buf_str(&b, value);
		put_str(headers, name, b.p);
		free(b.p);
	} else {
		put_str(headers, name, value);
	}
	return MHD_YES;
}

/* Record the request in memory and in the log file.  It happens before
 * the response is queued, so a client that has seen its answer finds the
 * record already there.  The record takes rq->json. */
static void
log_request(struct MHD_Connection *conn, struct request *rq,
            unsigned status)
{
	json_object *rec = json_object_new_object();
	json_object *headers = json_object_new_object();
	struct buf line = { 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, headers);
	pthread_mutex_lock(&fake.lock);
	put_int(rec, "n", (int64_t)++fake.logged);
	put_int(rec, "t_us", rq->t_us);
	put_str(rec, "method", rq->method);
	put_str(rec, "path", rq->url);
	put(rec, "headers", headers);
	if (rq->json != NULL)
		put(rec, "body", rq->json);
	else if (rq->body.len > 0)
		put(rec, "body", json_object_new_string_len(rq->body.p,
		                                            (int)rq->body.len));
	else
		put(rec, "body", NULL);
	rq->json = NULL;
	put(rec, "turn", rq->turn >= 0 ? json_object_new_int(rq->turn) : NULL);
	put_int(rec, "status", status);
	if (rq->failed != NULL)
		put_str(rec, "expectation_failed", rq->failed);
	if (fake.log_fd >= 0) {
		buf_str(&line, json_text(rec));
		buf_str(&line, "\n");
		/* One write() on an O_APPEND descriptor: a reader never sees
		 * half a record. */
		if (write(fake.log_fd, line.p, line.len) != (ssize_t)line.len)
			fprintf(stderr, PROG ": cannot write the log: %s\n",
			        strerror(errno));
		free(line.p);
	}
	json_object_array_add(fake.log, rec);
	pthread_mutex_unlock(&fake.lock);
}

/* Queue resp (consumed) after logging the request and sleeping
 * first_byte_ms.  A client that leaves during the sleep gets nothing. */
static enum MHD_Result
respond(struct MHD_Connection *conn, struct request *rq, unsigned status,
        struct MHD_Response *resp, int64_t first_byte_ms, int logged)
{
	enum MHD_Result ret = MHD_NO;

	if (resp == NULL)
		return MHD_NO;
	if (logged)
		log_request(conn, rq, status);
	if (nap(connection_fd(conn), first_byte_ms) == 0)
		ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Response *
text_response(const char *text, size_t len, const char *content_type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len,
		(void *)text, MHD_RESPMEM_MUST_COPY);

	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        content_type);
	return resp;
}

/* A JSON response; doc is consumed. */
static struct MHD_Response *
json_response(json_object *doc)
{
	const char *text = json_text(doc);
	struct MHD_Response *resp = text_response(text, strlen(text),
	                                          "application/json");

	json_object_put(doc);
	return resp;
}

/* {"error":{"message","type"}}: the fake's own errors. */
static json_object *
fake_error(const char *type, const char *fmt, ...)
{
	json_object *doc = json_object_new_object();
	json_object *err = json_object_new_object();
	char message[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	put_str(err, "message", message);
	put_str(err, "type", type);
	put(doc, "error", err);
	return doc;
}

/* The gateway's error body (B.8), or Anthropic's on /v1/messages.  param
 * and code are borrowed and may be NULL. */
static json_object *
api_error(enum api api, const char *type, const char *message,
          json_object *param, json_object *code)
{
	json_object *doc = json_object_new_object();
	json_object *err = json_object_new_object();
	char gen[31];

	if (api == API_ANTHROPIC) {
		put_str(doc, "type", "error");
		put_str(err, "type", type);
		put_str(err, "message", message);
		put(doc, "error", err);
		return doc;
	}
	new_generation_id(gen);
	put_str(err, "message", message);
	put_str(err, "type", type);
	put(err, "param", param ? json_object_get(param) : NULL);
	put(err, "code", code ? json_object_get(code) : NULL);
	put(doc, "error", err);
	put_str(doc, "generationId", gen);
	return doc;
}

/* ---- answers ------------------------------------------------------- */

struct usage {
	int64_t input, output, cache_read, cache_write, reasoning;
	double cost;
};

/* What one answer is made of; everything is borrowed or inline. */
struct answer {
	enum api api;
	json_object *turn;         /* borrowed from the script */
	const char *model;         /* borrowed from the request */
	char provider[64];
	char gen[31];
	char msg[40];
	char fp[16];
	int64_t created;
	const char *finish;        /* borrowed: the turn's or a default */
	struct usage usage;
};

static void
answer_init(struct answer *a, enum api api, json_object *turn,
            json_object *body)
{
	json_object *u = jget(turn, "usage");
	const char *slash;
	size_t n;

	memset(a, 0, sizeof(*a));
	a->api = api;
	a->turn = turn;
	a->model = jstr(body, "model") ? jstr(body, "model") : DEFAULT_MODEL;
	slash = strchr(a->model, '/');
	n = slash ? (size_t)(slash - a->model) : 0;
	if (n == 0 || n >= sizeof(a->provider))
		snprintf(a->provider, sizeof(a->provider), "anthropic");
	else
		snprintf(a->provider, sizeof(a->provider), "%.*s", (int)n, a->model);
	new_generation_id(a->gen);
	new_prefixed_id(a->msg, "msg_01", 22);
	memcpy(a->fp, "fp_", 3);
	random_chars(a->fp + 3, 10, "abcdefghijklmnopqrstuvwxyz0123456789");
	a->created = now_us() / 1000000;
	a->finish = jstr(turn, "finish_reason");
	if (a->finish == NULL)
		a->finish = piece_count(jget(turn, "tool_calls")) ? "tool_calls"
		                                                   : "stop";
	/* Without "usage", small numbers of the right shape. */
	a->usage.input = jint(u, "input", u ? 0 : 120);
	a->usage.output = jint(u, "output", u ? 0 : 24);
	a->usage.cache_read = jint(u, "cache_read", 0);
	a->usage.cache_write = jint(u, "cache_write", 0);
	a->usage.reasoning = jint(u, "reasoning",
	                          !u && jget(turn, "reasoning") ? 8 : 0);
	if (jget(u, "cost") != NULL)
		a->usage.cost = json_object_get_double(jget(u, "cost"));
	else    /* at Claude Sonnet prices */
		a->usage.cost = (a->usage.input * 3.0 + a->usage.output * 15.0 +
		                 a->usage.cache_read * 0.3 +
		                 a->usage.cache_write * 3.75) / 1e6;
}

static const char *
anthropic_stop_reason(const char *finish)
{
	static const char *const map[][2] = {
		{ "stop", "end_turn" }, { "tool_calls", "tool_use" },
		{ "length", "max_tokens" }, { "content_filter", "refusal" }
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(finish, map[i][0]) == 0)
			return map[i][1];
	return finish;
}

static json_object *
openai_usage(const struct usage *u)
{
	json_object *o = json_object_new_object();
	json_object *prompt_details = json_object_new_object();
	json_object *completion_details = json_object_new_object();
	int64_t prompt = u->input + u->cache_read + u->cache_write;

	put_int(o, "prompt_tokens", prompt);
	put_int(o, "completion_tokens", u->output);
	put_int(o, "total_tokens", prompt + u->output);
	put(o, "cost", new_cost(u->cost));
	put(o, "is_byok", json_object_new_boolean(0));
	put_int(prompt_details, "cached_tokens", u->cache_read);
	put_int(prompt_details, "audio_tokens", 0);
	put_int(prompt_details, "video_tokens", 0);
	put(o, "prompt_tokens_details", prompt_details);
	put_int(completion_details, "reasoning_tokens", u->reasoning);
	put_int(completion_details, "image_tokens", 0);
	put(o, "completion_tokens_details", completion_details);
	put_int(o, "cache_creation_input_tokens", u->cache_write);
	put(o, "market_cost", new_cost(u->cost));
	return o;
}

static json_object *
anthropic_usage(const struct usage *u, int64_t output)
{
	json_object *o = json_object_new_object();

	put_int(o, "input_tokens", u->input);
	put_int(o, "cache_creation_input_tokens", u->cache_write);
	put_int(o, "cache_read_input_tokens", u->cache_read);
	put_int(o, "output_tokens", output);
	put_str(o, "service_tier", "standard");
	return o;
}

/* provider_metadata: which provider served, and what it cost. */
static json_object *
provider_metadata(const struct answer *a)
{
	json_object *meta = json_object_new_object();
	json_object *gateway = json_object_new_object();
	json_object *routing = json_object_new_object();
	json_object *attempts = json_object_new_array();
	json_object *attempt = json_object_new_object();
	char reasoning[128], cost[32];

	put_str(attempt, "provider", a->provider);
	put_str(attempt, "credentialType", "system");
	put(attempt, "success", json_object_new_boolean(1));
	put_int(attempt, "statusCode", 200);
	put_str(attempt, "providerResponseId", a->msg);
	json_object_array_add(attempts, attempt);
	snprintf(reasoning, sizeof(reasoning),
	         "System credentials planned for: %s", a->provider);
	put_str(routing, "originalModelId", a->model);
	put_str(routing, "resolvedProvider", a->provider);
	put(routing, "fallbacksAvailable", json_object_new_array());
	put_str(routing, "planningReasoning", reasoning);
	put_str(routing, "finalProvider", a->provider);
	put(routing, "attempts", attempts);
	put(gateway, "routing", routing);
	snprintf(cost, sizeof(cost), "%.10g", a->usage.cost);
	put_str(gateway, "cost", cost);
	put_str(gateway, "generationId", a->gen);
	put(meta, "gateway", gateway);
	return meta;
}

static json_object *
reasoning_details(const char *text, const char *signature)
{
	json_object *list = json_object_new_array();
	json_object *d = json_object_new_object();

	put_str(d, "type", "reasoning.text");
	put_str(d, "text", text);
	put_str(d, "signature", signature);
	put_str(d, "format", "anthropic-claude-v1");
	put_int(d, "index", 0);
	json_object_array_add(list, d);
	return list;
}

static json_object *
tool_call_start(size_t index, json_object *call, int with_name)
{
	json_object *list = json_object_new_array();
	json_object *c = json_object_new_object();
	json_object *fn = json_object_new_object();

	put_int(c, "index", (int64_t)index);
	if (with_name) {
		put_str(c, "id", jstr(call, "id"));
		put_str(c, "type", "function");
		put_str(fn, "name", jstr(call, "name"));
	}
	put(c, "function", fn);
	json_object_array_add(list, c);
	return list;
}

/* ---- server-sent events -------------------------------------------- */

struct event {
	const char *name;      /* static: the "event:" field, or NULL */
	char *data;            /* owned */
};

struct events {
	struct event *v;       /* owned */
	size_t n, cap;
};

static void
events_raw(struct events *e, const char *name, const char *data)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 32;
		e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
	}
	e->v[e->n].name = name;
	e->v[e->n].data = xstrdup(data);
	e->n++;
}

/* Append an event; data is consumed. */
static void
events_add(struct events *e, const char *name, json_object *data)
{
	events_raw(e, name, json_text(data));
	json_object_put(data);
}

static void
events_truncate(struct events *e, size_t n)
{
	while (e->n > n)
		free(e->v[--e->n].data);
}

static void
events_free(struct events *e)
{
	events_truncate(e, 0);
	free(e->v);
}

/* One chat.completion.chunk; delta is consumed. */
static json_object *
openai_chunk(const struct answer *a, json_object *delta, const char *finish)
{
	json_object *chunk = json_object_new_object();
	json_object *choices = json_object_new_array();
	json_object *choice = json_object_new_object();

	put_int(choice, "index", 0);
	put(choice, "delta", delta);
	put(choice, "logprobs", NULL);
	put(choice, "finish_reason", finish ? json_object_new_string(finish)
	                                    : NULL);
	json_object_array_add(choices, choice);
	put_str(chunk, "id", a->gen);
	put_str(chunk, "object", "chat.completion.chunk");
	put_int(chunk, "created", a->created);
	put_str(chunk, "model", a->model);
	put(chunk, "choices", choices);
	put_str(chunk, "system_fingerprint", a->fp);
	return chunk;
}

/* The gateway's chunk sequence (B.5). */
static void
openai_stream(const struct answer *a, struct events *e)
{
	json_object *t = a->turn, *delta, *chunk;
	json_object *reasoning = jget(t, "reasoning");
	json_object *text = jget(t, "text");
	json_object *calls = jget(t, "tool_calls");
	const char *style = jstr(t, "usage_style");

	style = style ? style : "gateway";
	delta = json_object_new_object();
	put_str(delta, "role", "assistant");
	events_add(e, NULL, openai_chunk(a, delta, NULL));
	for (size_t i = 0; i < piece_count(reasoning); i++) {
		delta = json_object_new_object();
		put_str(delta, "reasoning", piece(reasoning, i));
		put(delta, "reasoning_details",
		    reasoning_details(piece(reasoning, i), ""));
		events_add(e, NULL, openai_chunk(a, delta, NULL));
	}
	if (reasoning != NULL && jstr(t, "signature") != NULL) {
		delta = json_object_new_object();
		put(delta, "reasoning_details",
		    reasoning_details("", jstr(t, "signature")));
		events_add(e, NULL, openai_chunk(a, delta, NULL));
	}
	for (size_t i = 0; i < piece_count(text); i++) {
		delta = json_object_new_object();
		put_str(delta, "content", piece(text, i));
		events_add(e, NULL, openai_chunk(a, delta, NULL));
	}
	for (size_t i = 0; i < piece_count(calls); i++) {
		json_object *call = json_object_array_get_idx(calls, i);
		json_object *frags = jget(call, "fragments");
		json_object *list;

		list = tool_call_start(i, call, 1);
		put_str(jget(json_object_array_get_idx(list, 0), "function"),
		        "arguments", "");
		delta = json_object_new_object();
		put(delta, "tool_calls", list);
		events_add(e, NULL, openai_chunk(a, delta, NULL));
		if (frags == NULL && *jstr(call, "arguments") == '\0')
			continue;
		for (size_t j = 0; j < (frags ? piece_count(frags) : 1); j++) {
			list = tool_call_start(i, call, 0);
			put_str(jget(json_object_array_get_idx(list, 0), "function"),
			        "arguments", frags ? piece(frags, j)
			                           : jstr(call, "arguments"));
			delta = json_object_new_object();
			put(delta, "tool_calls", list);
			events_add(e, NULL, openai_chunk(a, delta, NULL));
		}
	}
	delta = json_object_new_object();
	if (strcmp(style, "openai") != 0)
		put(delta, "provider_metadata", provider_metadata(a));
	chunk = openai_chunk(a, delta, a->finish);
	if (strcmp(style, "gateway") == 0)
		put(chunk, "usage", openai_usage(&a->usage));
	if (strcmp(style, "openai") != 0)
		put_str(chunk, "generationId", a->gen);
	events_add(e, NULL, chunk);
	if (strcmp(style, "openai") == 0) {
		/* OpenAI proper: usage alone, in a chunk without choices. */
		chunk = openai_chunk(a, json_object_new_object(), NULL);
		put(chunk, "choices", json_object_new_array());
		put(chunk, "usage", openai_usage(&a->usage));
		events_add(e, NULL, chunk);
	}
	events_raw(e, NULL, "[DONE]");
}

static void
anthropic_event(struct events *e, const char *type, int64_t index,
                const char *key, json_object *value)
{
	json_object *ev = json_object_new_object();

	put_str(ev, "type", type);
	if (index >= 0)
		put_int(ev, "index", index);
	if (key != NULL)
		put(ev, key, value);
	events_add(e, type, ev);
}

/* A content block opens; the first one is followed by a ping, as the
 * real stream does.  block is consumed. */
static void
block_start(struct events *e, int64_t index, json_object *block)
{
	anthropic_event(e, "content_block_start", index, "content_block", block);
	if (index == 0)
		anthropic_event(e, "ping", -1, NULL, NULL);
}

static void
block_delta(struct events *e, int64_t index, const char *type,
            const char *key, const char *value)
{
	json_object *delta = json_object_new_object();

	put_str(delta, "type", type);
	put_str(delta, key, value);
	anthropic_event(e, "content_block_delta", index, "delta", delta);
}

static json_object *
anthropic_message_head(const struct answer *a)
{
	json_object *m = json_object_new_object();

	put_str(m, "id", a->msg);
	put_str(m, "type", "message");
	put_str(m, "role", "assistant");
	put_str(m, "model", a->model);
	return m;
}

/* The Messages stream (B.6): a thinking block, a text block and one
 * tool_use block per call, in that order. */
static void
anthropic_stream(const struct answer *a, struct events *e)
{
	json_object *t = a->turn, *m, *block, *delta;
	json_object *reasoning = jget(t, "reasoning");
	json_object *text = jget(t, "text");
	json_object *calls = jget(t, "tool_calls");
	int64_t index = 0;

	m = anthropic_message_head(a);
	put(m, "content", json_object_new_array());
	put(m, "stop_reason", NULL);
	put(m, "stop_sequence", NULL);
	put(m, "usage", anthropic_usage(&a->usage,
	                                a->usage.output > 0 ? 1 : 0));
	anthropic_event(e, "message_start", -1, "message", m);
	if (reasoning != NULL) {
		block = json_object_new_object();
		put_str(block, "type", "thinking");
		put_str(block, "thinking", "");
		put_str(block, "signature", "");
		block_start(e, index, block);
		for (size_t i = 0; i < piece_count(reasoning); i++)
			block_delta(e, index, "thinking_delta", "thinking",
			            piece(reasoning, i));
		if (jstr(t, "signature") != NULL)
			block_delta(e, index, "signature_delta", "signature",
			            jstr(t, "signature"));
		anthropic_event(e, "content_block_stop", index++, NULL, NULL);
	}
	if (text != NULL) {
		block = json_object_new_object();
		put_str(block, "type", "text");
		put_str(block, "text", "");
		block_start(e, index, block);
		for (size_t i = 0; i < piece_count(text); i++)
			block_delta(e, index, "text_delta", "text", piece(text, i));
		anthropic_event(e, "content_block_stop", index++, NULL, NULL);
	}
	for (size_t i = 0; i < piece_count(calls); i++) {
		json_object *call = json_object_array_get_idx(calls, i);
		json_object *frags = jget(call, "fragments");

		block = json_object_new_object();
		put_str(block, "type", "tool_use");
		put_str(block, "id", jstr(call, "id"));
		put_str(block, "name", jstr(call, "name"));
		put(block, "input", json_object_new_object());
		block_start(e, index, block);
		block_delta(e, index, "input_json_delta", "partial_json", "");
		for (size_t j = 0; j < (frags ? piece_count(frags) : 1); j++)
			block_delta(e, index, "input_json_delta", "partial_json",
			            frags ? piece(frags, j) : jstr(call, "arguments"));
		anthropic_event(e, "content_block_stop", index++, NULL, NULL);
	}
	if (index == 0)
		anthropic_event(e, "ping", -1, NULL, NULL);
	m = json_object_new_object();
	delta = json_object_new_object();
	put_str(delta, "stop_reason", anthropic_stop_reason(a->finish));
	put(delta, "stop_sequence", NULL);
	put_str(m, "type", "message_delta");
	put(m, "delta", delta);
	put(m, "usage", anthropic_usage(&a->usage, a->usage.output));
	events_add(e, "message_delta", m);
	anthropic_event(e, "message_stop", -1, NULL, NULL);
}

/* The in-stream error of fault "error_event". */
static void
stream_error(const struct answer *a, struct events *e)
{
	json_object *given = jget(a->turn, "error");
	const char *type = jstr(given, "type") ? jstr(given, "type")
	                                       : "overloaded_error";
	const char *message = jstr(given, "message") ? jstr(given, "message")
	                                             : "Overloaded";
	json_object *doc = json_object_new_object();
	json_object *err = json_object_new_object();

	if (a->api == API_ANTHROPIC) {
		put_str(doc, "type", "error");
		put_str(err, "type", type);
		put_str(err, "message", message);
		put(doc, "error", err);
		events_add(e, "error", doc);
		return;
	}
	put_str(err, "message", message);
	put_str(err, "type", type);
	put(doc, "error", err);
	events_add(e, NULL, doc);
}

/* A streamed body and how to send it. */
struct reply {
	char *body;            /* owned: the whole body as framed */
	size_t len;
	size_t *ends;          /* owned: the offset just past each event */
	size_t nends;
	size_t cursor;         /* bytes handed to libmicrohttpd */
	size_t unit_end;       /* end of the event or piece being sent */
	size_t split;          /* piece size; 0: one event per write */
	int64_t delay_ms;
	size_t stall_at;       /* SIZE_MAX: no stall */
	int64_t stall_ms;
	int reset;             /* abort the connection at the end */
	int fd;                /* the client socket; borrowed */
};

static void
reply_free(void *cls)
{
	struct reply *r = cls;

	free(r->body);
	free(r->ends);
	free(r);
}

/* Frame the events as the turn asks; e is left empty. */
static struct reply *
reply_new(struct events *e, json_object *turn, int fd)
{
	struct reply *r = xcalloc(1, sizeof(*r));
	const char *eol = jbool(turn, "crlf", 0) ? "\r\n" : "\n";
	const char *sep = jbool(turn, "nospace", 0) ? ":" : ": ";
	int comments = jbool(turn, "comments", 0);
	struct buf b = { 0 };

	r->ends = xcalloc(e->n, sizeof(*r->ends));
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].name != NULL) {
			buf_str(&b, "event");
			buf_str(&b, sep);
			buf_str(&b, e->v[i].name);
			buf_str(&b, eol);
		}
		buf_str(&b, "data");
		buf_str(&b, sep);
		buf_str(&b, e->v[i].data);
		buf_str(&b, eol);
		buf_str(&b, eol);
		if (comments && i + 1 < e->n) {
			buf_str(&b, ": keep-alive");
			buf_str(&b, eol);
			buf_str(&b, eol);
		}
		r->ends[i] = b.len;
	}
	r->body = b.p;
	r->len = b.len;
	r->nends = e->n;
	r->split = (size_t)jint(turn, "split", 0);
	r->delay_ms = jint(turn, "delay_ms", 0);
	r->stall_at = SIZE_MAX;
	r->fd = fd;
	events_free(e);
	memset(e, 0, sizeof(*e));
	return r;
}

static size_t
next_unit_end(const struct reply *r)
{
	size_t end = r->len;

	if (r->split > 0) {
		if (r->len - r->cursor > r->split)
			end = r->cursor + r->split;
	} else {
		for (size_t i = 0; i < r->nends; i++) {
			if (r->ends[i] > r->cursor) {
				end = r->ends[i];
				break;
			}
		}
	}
	if (r->stall_at > r->cursor && r->stall_at < end)
		end = r->stall_at;
	return end;
}

/* Abort the connection with a TCP RST.  libmicrohttpd shuts the socket
 * down for writing before it closes it, which would put a FIN ahead of
 * the RST and let the client read a clean end of file; dissolving the
 * association first (connect to AF_UNSPEC) sends the RST at once and
 * leaves that shutdown nothing to do. */
static ssize_t
reply_abort(struct reply *r)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (r->fd >= 0) {
		setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(r->fd, &sa, sizeof(sa)) != 0 && errno != ENOTCONN)
			fprintf(stderr, PROG ": cannot reset the connection: %s\n",
			        strerror(errno));
	}
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* libmicrohttpd asks for the next bytes of the body; each return is one
 * chunk and one write, so the units (events or pieces) reach the client
 * separately. */
static ssize_t
reply_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct reply *r = cls;
	size_t n;

	(void)pos;
	if (r->cursor == r->unit_end) {
		if (r->cursor == r->stall_at) {
			r->stall_at = SIZE_MAX;
			if (nap(r->fd, r->stall_ms) != 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (r->cursor == r->len)
			return r->reset ? reply_abort(r)
			                : MHD_CONTENT_READER_END_OF_STREAM;
		if (r->cursor > 0 && nap(r->fd, r->delay_ms) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		r->unit_end = next_unit_end(r);
	}
	n = r->unit_end - r->cursor;
	if (n > max)
		n = max;
	memcpy(out, r->body + r->cursor, n);
	r->cursor += n;
	return (ssize_t)n;
}

static struct MHD_Response *
stream_response(const struct answer *a, int fd)
{
	json_object *t = a->turn;
	const char *fault = jstr(t, "fault");
	struct events e = { 0 };
	struct reply *r;
	struct MHD_Response *resp;
	size_t after;

	if (a->api == API_OPENAI)
		openai_stream(a, &e);
	else
		anthropic_stream(a, &e);
	after = (size_t)jint(t, "after_events", 2);
	if (after > e.n)
		after = e.n;
	if (fault != NULL && strcmp(fault, "stall") != 0)
		events_truncate(&e, after);
	if (fault != NULL && strcmp(fault, "error_event") == 0)
		stream_error(a, &e);
	r = reply_new(&e, t, fd);
	if (fault != NULL && strcmp(fault, "reset") == 0)
		r->reset = 1;
	if (fault != NULL && strcmp(fault, "stall") == 0) {
		r->stall_at = after == 0 ? 0 : r->ends[after - 1];
		r->stall_ms = jint(t, "stall_ms", 5000);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	                                         reply_read, r, reply_free);
	if (resp == NULL) {
		reply_free(r);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return resp;
}

/* B.4: the whole answer as one chat.completion. */
static json_object *
openai_completion(const struct answer *a)
{
	json_object *t = a->turn, *doc, *message, *choices, *choice, *list;
	json_object *calls = jget(t, "tool_calls");
	char *text = pieces_joined(jget(t, "text"));

	message = json_object_new_object();
	put_str(message, "role", "assistant");
	put(message, "content", jget(t, "text") ? json_object_new_string(text)
	                                        : NULL);
	free(text);
	if (calls != NULL) {
		list = json_object_new_array();
		for (size_t i = 0; i < piece_count(calls); i++) {
			json_object *call = json_object_array_get_idx(calls, i);
			json_object *c = json_object_new_object();
			json_object *fn = json_object_new_object();

			put_str(c, "id", jstr(call, "id"));
			put_str(c, "type", "function");
			put_str(fn, "name", jstr(call, "name"));
			put_str(fn, "arguments", jstr(call, "arguments"));
			put(c, "function", fn);
			json_object_array_add(list, c);
		}
		put(message, "tool_calls", list);
	}
	if (jget(t, "reasoning") != NULL) {
		text = pieces_joined(jget(t, "reasoning"));
		put_str(message, "reasoning", text);
		put(message, "reasoning_details", reasoning_details(text,
		    jstr(t, "signature") ? jstr(t, "signature") : ""));
		free(text);
	}
	put(message, "provider_metadata", provider_metadata(a));
	choice = json_object_new_object();
	put_int(choice, "index", 0);
	put(choice, "message", message);
	put(choice, "logprobs", NULL);
	put_str(choice, "finish_reason", a->finish);
	choices = json_object_new_array();
	json_object_array_add(choices, choice);
	doc = json_object_new_object();
	put_str(doc, "id", a->gen);
	put_str(doc, "object", "chat.completion");
	put_int(doc, "created", a->created);
	put_str(doc, "model", a->model);
	put(doc, "choices", choices);
	put(doc, "usage", openai_usage(&a->usage));
	put_str(doc, "system_fingerprint", a->fp);
	put_str(doc, "generationId", a->gen);
	return doc;
}

static json_object *
anthropic_message(const struct answer *a)
{
	json_object *t = a->turn, *doc, *content, *block;
	json_object *calls = jget(t, "tool_calls");
	char *text;

	content = json_object_new_array();
	if (jget(t, "reasoning") != NULL) {
		text = pieces_joined(jget(t, "reasoning"));
		block = json_object_new_object();
		put_str(block, "type", "thinking");
		put_str(block, "thinking", text);
		put_str(block, "signature", jstr(t, "signature") ?
		                            jstr(t, "signature") : "");
		json_object_array_add(content, block);
		free(text);
	}
	if (jget(t, "text") != NULL) {
		text = pieces_joined(jget(t, "text"));
		block = json_object_new_object();
		put_str(block, "type", "text");
		put_str(block, "text", text);
		json_object_array_add(content, block);
		free(text);
	}
	for (size_t i = 0; i < piece_count(calls); i++) {
		json_object *call = json_object_array_get_idx(calls, i);
		json_object *input = json_tokener_parse(jstr(call, "arguments"));

		if (!json_object_is_type(input, json_type_object)) {
			/* The message carries objects; text that is not one
			 * can only be sent streamed. */
			json_object_put(input);
			input = json_object_new_object();
		}
		block = json_object_new_object();
		put_str(block, "type", "tool_use");
		put_str(block, "id", jstr(call, "id"));
		put_str(block, "name", jstr(call, "name"));
		put(block, "input", input);
		json_object_array_add(content, block);
	}
	doc = anthropic_message_head(a);
	put(doc, "content", content);
	put_str(doc, "stop_reason", anthropic_stop_reason(a->finish));
	put(doc, "stop_sequence", NULL);
	put(doc, "usage", anthropic_usage(&a->usage, a->usage.output));
	return doc;
}

static const struct {
	unsigned status;
	const char *gateway, *anthropic, *message;
} status_errors[] = {
	{ 400, "invalid_request_error", "invalid_request_error",
	  "Invalid request" },
	{ 401, "authentication_error", "authentication_error",
	  "Invalid API key" },
	{ 402, "insufficient_funds", "billing_error",
	  "Insufficient funds. Please add credits to your account." },
	{ 403, "forbidden", "permission_error", "Forbidden" },
	{ 404, "model_not_found", "not_found_error", "Model not found" },
	{ 413, "invalid_request_error", "request_too_large",
	  "Request too large" },
	{ 424, "failed_dependency", "api_error", "Upstream provider failed" },
	{ 429, "rate_limit_exceeded", "rate_limit_error",
	  "Rate limit exceeded" },
	{ 500, "internal_server_error", "api_error", "Internal server error" },
	{ 502, "bad_gateway", "api_error", "Bad gateway" },
	{ 503, "service_unavailable", "overloaded_error",
	  "Service unavailable" },
	{ 504, "gateway_timeout", "api_error", "Gateway timeout" },
	{ 529, "overloaded_error", "overloaded_error", "Overloaded" },
};

/* The body of a non-200 turn: its "error", filled in from the status. */
static json_object *
turn_error(const struct answer *a, unsigned status)
{
	json_object *given = jget(a->turn, "error");
	const char *type = status >= 500 ? "internal_server_error"
	                                 : "invalid_request_error";
	const char *message = status >= 500 ? "Internal server error"
	                                    : "Invalid request";

	if (a->api == API_ANTHROPIC)
		type = status >= 500 ? "api_error" : "invalid_request_error";
	for (size_t i = 0; i < sizeof(status_errors) / sizeof(status_errors[0]);
	     i++) {
		if (status_errors[i].status != status)
			continue;
		type = a->api == API_ANTHROPIC ? status_errors[i].anthropic
		                               : status_errors[i].gateway;
		message = status_errors[i].message;
	}
	if (jstr(given, "type") != NULL)
		type = jstr(given, "type");
	if (jstr(given, "message") != NULL)
		message = jstr(given, "message");
	return api_error(a->api, type, message, jget(given, "param"),
	                 jget(given, "code"));
}

/* The turn's "headers", with a "content-type" among them replacing the
 * default one. */
static void
add_turn_headers(struct MHD_Response *resp, json_object *turn,
                 const char *content_type)
{
	json_object *headers = jget(turn, "headers");

	if (headers != NULL) {
		json_object_object_foreach(headers, key, value) {
			if (strcasecmp(key, "content-type") == 0)
				content_type = json_object_get_string(value);
			else
				MHD_add_response_header(resp, key,
				                        json_object_get_string(value));
		}
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        content_type);
}

static struct MHD_Response *
turn_response(const struct answer *a, int stream, int fd, unsigned *status)
{
	json_object *t = a->turn;
	const char *body = jstr(t, "body");
	const char *content_type = "application/json";
	struct MHD_Response *resp;
	const char *text;

	*status = (unsigned)jint(t, "status", 200);
	if (body != NULL) {
		if (jstr(t, "content_type") != NULL)
			content_type = jstr(t, "content_type");
		resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
		                                       MHD_RESPMEM_MUST_COPY);
	} else if (*status == 200 && stream) {
		content_type = "text/event-stream";
		resp = stream_response(a, fd);
	} else {
		json_object *doc = *status != 200 ? turn_error(a, *status) :
		                   a->api == API_OPENAI ? openai_completion(a) :
		                   anthropic_message(a);

		text = json_text(doc);
		resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
		                                       MHD_RESPMEM_MUST_COPY);
		json_object_put(doc);
	}
	if (resp != NULL)
		add_turn_headers(resp, t, content_type);
	return resp;
}

/* ---- expectations -------------------------------------------------- */

#define SHOW(s) (s) ? "\"" : "", (s) ? (s) : "nothing", (s) ? "\"" : ""

static int
fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The names of the request's tools, in order, for either API;
 * [caller-owned]. */
static json_object *
tool_names(json_object *body)
{
	json_object *tools = jget(body, "tools");
	json_object *names = json_object_new_array();

	for (size_t i = 0; json_object_is_type(tools, json_type_array) &&
	     i < json_object_array_length(tools); i++) {
		json_object *tool = json_object_array_get_idx(tools, i);
		const char *name = jstr(jget(tool, "function"), "name");

		if (name == NULL)
			name = jstr(tool, "name");
		json_object_array_add(names, name ? json_object_new_string(name)
		                                  : NULL);
	}
	return names;
}

static json_object *
messages(json_object *body)
{
	json_object *list = jget(body, "messages");

	return json_object_is_type(list, json_type_array) ? list : NULL;
}

/* Append the content of every tool result for id to out; returns how
 * many there are.  OpenAI sends {"role":"tool","tool_call_id"}; Anthropic
 * a "tool_result" block with "tool_use_id" in a user message. */
static int
tool_results(json_object *body, const char *id, struct buf *out)
{
	json_object *list = messages(body);
	int found = 0;

	for (size_t i = 0; i < piece_count(list); i++) {
		json_object *msg = json_object_array_get_idx(list, i);
		json_object *content = jget(msg, "content");
		const char *role = jstr(msg, "role");
		const char *call = jstr(msg, "tool_call_id");

		if (role && strcmp(role, "tool") == 0 && call &&
		    strcmp(call, id) == 0) {
			content_text(content, out);
			found++;
		}
		if (!json_object_is_type(content, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(content); j++) {
			json_object *block = json_object_array_get_idx(content, j);
			const char *type = jstr(block, "type");
			const char *use = jstr(block, "tool_use_id");

			if (type && strcmp(type, "tool_result") == 0 && use &&
			    strcmp(use, id) == 0) {
				content_text(jget(block, "content"), out);
				found++;
			}
		}
	}
	return found;
}

/* The reasoning the last assistant message carries back: OpenAI's
 * reasoning_details (text joined, the signature found), or Anthropic's
 * thinking blocks. */
static int
echoed_reasoning(json_object *body, struct buf *text, struct buf *sig)
{
	json_object *list = messages(body), *last = NULL, *parts[2];

	for (size_t i = 0; i < piece_count(list); i++) {
		json_object *msg = json_object_array_get_idx(list, i);
		const char *role = jstr(msg, "role");

		if (role && strcmp(role, "assistant") == 0)
			last = msg;
	}
	if (last == NULL)
		return -1;
	buf_str(text, "");
	buf_str(sig, "");
	parts[0] = jget(last, "reasoning_details");
	parts[1] = jget(last, "content");
	for (size_t p = 0; p < 2; p++) {
		if (!json_object_is_type(parts[p], json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(parts[p]); i++) {
			json_object *d = json_object_array_get_idx(parts[p], i);
			const char *type = jstr(d, "type");
			const char *s = jstr(d, "signature");
			const char *t = NULL;

			if (type && strcmp(type, "reasoning.text") == 0)
				t = jstr(d, "text");
			else if (type && strcmp(type, "thinking") == 0)
				t = jstr(d, "thinking");
			else
				continue;
			if (t != NULL)
				buf_str(text, t);
			if (s != NULL && *s != '\0') {
				sig->len = 0;
				buf_str(sig, s);
			}
		}
	}
	return 0;
}

static int
check_tool_results(json_object *expect, json_object *body, char *why,
                   size_t whylen)
{
	json_object *list = jget(expect, "tool_results");

	for (size_t i = 0; i < piece_count(list); i++) {
		json_object *want = json_object_array_get_idx(list, i);
		const char *id = jstr(want, "tool_call_id");
		const char *needle = jstr(want, "contains");
		struct buf got = { 0 };
		int r = 0;

		buf_str(&got, "");
		if (tool_results(body, id, &got) == 0)
			r = fail(why, whylen, "tool_results: no tool result for "
			         "\"%s\"", id);
		else if (needle != NULL && strstr(got.p, needle) == NULL)
			r = fail(why, whylen, "tool_results: the result for \"%s\" "
			         "does not contain \"%s\" (got \"%.300s\")", id,
			         needle, got.p);
		free(got.p);
		if (r != 0)
			return r;
	}
	return 0;
}

static int
check_reasoning_echo(json_object *body, char *why, size_t whylen)
{
	struct buf text = { 0 }, sig = { 0 };
	int r = 0;

	if (fake.reasoning == NULL)
		return fail(why, whylen, "reasoning_echo: no earlier answer sent "
		            "reasoning");
	if (echoed_reasoning(body, &text, &sig) != 0)
		r = fail(why, whylen, "reasoning_echo: the request has no "
		         "assistant message");
	else if (strcmp(text.p, fake.reasoning) != 0 ||
	         strcmp(sig.p, fake.signature) != 0)
		r = fail(why, whylen, "reasoning_echo: expected reasoning \"%.200s\" "
		         "with signature \"%.100s\", got \"%.200s\" with "
		         "signature \"%.100s\"", fake.reasoning, fake.signature,
		         text.p, sig.p);
	free(text.p);
	free(sig.p);
	return r;
}

static int
check_system(const char *needle, enum api api, json_object *body, char *why,
             size_t whylen)
{
	json_object *list = messages(body);
	struct buf got = { 0 };
	int r = 0;

	buf_str(&got, "");
	if (api == API_ANTHROPIC)
		content_text(jget(body, "system"), &got);
	for (size_t i = 0; i < piece_count(list); i++) {
		json_object *msg = json_object_array_get_idx(list, i);
		const char *role = jstr(msg, "role");

		if (role && (strcmp(role, "system") == 0 ||
		             strcmp(role, "developer") == 0))
			content_text(jget(msg, "content"), &got);
	}
	if (strstr(got.p, needle) == NULL)
		r = fail(why, whylen, "system_contains: the system prompt does not "
		         "contain \"%s\" (got \"%.300s\")", needle, got.p);
	free(got.p);
	return r;
}

/* Whether the raw body contains s. */
static int
body_has(const struct request *rq, const char *s)
{
	return rq->body.len > 0 &&
	       memmem(rq->body.p, rq->body.len, s, strlen(s)) != NULL;
}

/* The turn's "expect"; 0 when every assertion holds, else -1 with the
 * first failure in why.  Called with the lock held. */
static int
check_expect(json_object *expect, enum api api, struct MHD_Connection *conn,
             const struct request *rq, char *why, size_t whylen)
{
	json_object *body = rq->json, *want, *got;
	const char *s, *have;

	if ((s = jstr(expect, "model")) != NULL) {
		have = jstr(body, "model");
		if (have == NULL || strcmp(s, have) != 0)
			return fail(why, whylen, "model: expected \"%s\", got %s%s%s",
			            s, SHOW(have));
	}
	if ((s = jstr(expect, "auth")) != NULL) {
		have = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                   MHD_HTTP_HEADER_AUTHORIZATION);
		if (have == NULL || strcmp(s, have) != 0)
			return fail(why, whylen, "auth: expected \"%s\", got %s%s%s",
			            s, SHOW(have));
	}
	if ((want = jget(expect, "tools")) != NULL) {
		int r = 0;

		got = tool_names(body);
		if (!json_object_equal(want, got))
			r = fail(why, whylen, "tools: expected %s, got %s",
			         json_text(want), json_text(got));
		json_object_put(got);
		if (r != 0)
			return r;
	}
	if ((s = jstr(expect, "system_contains")) != NULL &&
	    check_system(s, api, body, why, whylen) != 0)
		return -1;
	if ((want = jget(expect, "include_usage")) != NULL) {
		got = jget(jget(body, "stream_options"), "include_usage");
		if (json_object_get_boolean(want) !=
		    (json_object_is_type(got, json_type_boolean) &&
		     json_object_get_boolean(got)))
			return fail(why, whylen, "include_usage: expected "
			            "stream_options.include_usage %s, got %s",
			            json_text(want), got ? json_text(got) : "nothing");
	}
	if (json_object_object_get_ex(expect, "provider_options", &want)) {
		got = jget(body, "providerOptions");
		if (!json_object_equal(want, got))
			return fail(why, whylen, "provider_options: expected %s, "
			            "got %s", want ? json_text(want) : "null",
			            got ? json_text(got) : "nothing");
	}
	if (check_tool_results(expect, body, why, whylen) != 0)
		return -1;
	if (jbool(expect, "reasoning_echo", 0) &&
	    check_reasoning_echo(body, why, whylen) != 0)
		return -1;
	want = jget(expect, "body_contains");
	for (size_t i = 0; i < piece_count(want); i++) {
		s = piece(want, i);
		if (!body_has(rq, s))
			return fail(why, whylen, "body_contains: the body does not "
			            "contain \"%s\"", s);
	}
	return 0;
}

/* ---- choosing a turn ---------------------------------------------- */

/* Whether the turn's "match" (if any) holds for the request. */
static int
turn_matches(json_object *turn, enum api api, const struct request *rq)
{
	json_object *match = jget(turn, "match"), *want;
	const char *s;
	char why[512];

	if (match == NULL)
		return 1;
	want = jget(match, "body_contains");
	for (size_t i = 0; i < piece_count(want); i++)
		if (!body_has(rq, piece(want, i)))
			return 0;
	if ((s = jstr(match, "system_contains")) != NULL &&
	    check_system(s, api, rq->json, why, sizeof(why)) != 0)
		return 0;
	return 1;
}

/* Take the first turn, in script order, that is not used up and whose
 * "match" holds, and count the request against it.  Called with the lock
 * held, so that concurrent requests never share a turn's last use. */
static enum claim
turn_claim(enum api api, struct request *rq, json_object **turn)
{
	size_t n = piece_count(fake.turns);
	int left = 0;

	fake.model_requests++;
	*turn = NULL;
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(fake.turns, i);

		if (fake.served[i] >= jint(t, "repeat", 1))
			continue;
		left = 1;
		if (!turn_matches(t, api, rq))
			continue;
		fake.served[i]++;
		rq->turn = (int)i;
		*turn = t;
		return CLAIM_OK;
	}
	return left ? CLAIM_NO_MATCH : CLAIM_EXHAUSTED;
}

/* The 500 for a request no turn left matches: its number and the start
 * of its body, cut on a UTF-8 character boundary. */
static json_object *
no_matching_turn(const struct request *rq)
{
	size_t len = rq->body.len < 200 ? rq->body.len : 200;

	while (len > 0 && len < rq->body.len &&
	       ((unsigned char)rq->body.p[len] & 0xc0) == 0x80)
		len--;
	return fake_error("fake_no_matching_turn",
		PROG ": no scripted turn left matches request %lu (body: "
		"\"%.*s%s\")", fake.model_requests, (int)len,
		len ? rq->body.p : "", len < rq->body.len ? "..." : "");
}

/* ---- routes -------------------------------------------------------- */

static int
has_credentials(struct MHD_Connection *conn, enum api api)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_AUTHORIZATION);
	const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		"x-api-key");

	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
	    auth[7 + strspn(auth + 7, " ")] != '\0')
		return 1;
	return api == API_ANTHROPIC && key != NULL && *key != '\0';
}

/* Remember what a 200 answer reasoned, for a later "reasoning_echo".
 * Called with the lock held. */
static void
remember_reasoning(json_object *turn)
{
	const char *sig = jstr(turn, "signature");

	free(fake.reasoning);
	free(fake.signature);
	fake.reasoning = fake.signature = NULL;
	if (jget(turn, "reasoning") == NULL)
		return;
	fake.reasoning = pieces_joined(jget(turn, "reasoning"));
	fake.signature = xstrdup(sig ? sig : "");
}

/* POST /v1/chat/completions and /v1/messages: authenticate, take the
 * first turn left that matches, check its expectations, answer it. */
static enum MHD_Result
model_request(struct MHD_Connection *conn, struct request *rq,
              enum api api)
{
	struct MHD_Response *resp = NULL;
	json_object *turn;
	enum claim claim;
	unsigned status;
	int64_t first_byte_ms = 0;
	int require_auth;
	char why[2048];

	pthread_mutex_lock(&fake.lock);
	require_auth = fake.require_auth;
	pthread_mutex_unlock(&fake.lock);
	if (require_auth && !has_credentials(conn, api)) {
		status = MHD_HTTP_UNAUTHORIZED;
		resp = json_response(api_error(api, "authentication_error",
			api == API_ANTHROPIC ?
			"Missing authentication. Send an AI Gateway API key or a "
			"Vercel OIDC token in the Authorization header (Bearer) "
			"or in x-api-key." :
			"Missing authentication. Send an AI Gateway API key or a "
			"Vercel OIDC token in the Authorization header (Bearer).",
			NULL, NULL));
		return respond(conn, rq, status, resp, 0, 1);
	}
	if (rq->too_large || !json_object_is_type(rq->json, json_type_object)) {
		status = rq->too_large ? MHD_HTTP_CONTENT_TOO_LARGE
		                       : MHD_HTTP_BAD_REQUEST;
		resp = json_response(api_error(api, "invalid_request_error",
			rq->too_large ? "The request body is larger than 16 MiB" :
			"The request body is not a JSON object", NULL, NULL));
		return respond(conn, rq, status, resp, 0, 1);
	}
	pthread_mutex_lock(&fake.lock);
	claim = turn_claim(api, rq, &turn);
	if (claim == CLAIM_EXHAUSTED) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		resp = json_response(fake_error("fake_script_exhausted",
			PROG ": no scripted turn left (request %lu)",
			fake.model_requests));
	} else if (claim == CLAIM_NO_MATCH) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		resp = json_response(no_matching_turn(rq));
	} else if (check_expect(jget(turn, "expect"), api, conn, rq, why,
	                        sizeof(why)) != 0) {
		status = MHD_HTTP_BAD_REQUEST;
		rq->failed = xstrdup(why);
		resp = json_response(fake_error("fake_expectation_failed",
			PROG ": expectation failed: %s", why));
	} else {
		struct answer a;
		json_object *stream = jget(rq->json, "stream");

		answer_init(&a, api, turn, rq->json);
		resp = turn_response(&a, json_object_is_type(stream,
			json_type_boolean) && json_object_get_boolean(stream),
			connection_fd(conn), &status);
		first_byte_ms = jint(turn, "first_byte_ms", 0);
		if (status == 200)
			remember_reasoning(turn);
	}
	pthread_mutex_unlock(&fake.lock);
	return respond(conn, rq, status, resp, first_byte_ms, 1);
}

static enum MHD_Result
chat_completions(struct MHD_Connection *conn, struct request *rq)
{
	return model_request(conn, rq, API_OPENAI);
}

static enum MHD_Result
anthropic_messages(struct MHD_Connection *conn, struct request *rq)
{
	return model_request(conn, rq, API_ANTHROPIC);
}

static const struct model {
	const char *id, *name, *owned_by;
	int64_t created, context_window, max_tokens;
	const char *tags[6];
	const char *input, *output, *cache_read, *cache_write;
} models[] = {
	{ "anthropic/claude-sonnet-4.6", "Claude Sonnet 4.6", "anthropic",
	  1771286400, 200000, 64000,
	  { "reasoning", "tool-use", "vision", "file-input", "implicit-caching" },
	  "0.000003", "0.000015", "0.0000003", "0.00000375" },
	{ "openai/gpt-5", "GPT-5", "openai", 1754524800, 400000, 128000,
	  { "reasoning", "tool-use", "vision", "file-input", "implicit-caching" },
	  "0.00000125", "0.00001", "0.000000125", "0.00000125" },
	{ "google/gemini-2.5-flash", "Gemini 2.5 Flash", "google", 1750118400,
	  1048576, 65536,
	  { "reasoning", "tool-use", "vision", "file-input", "implicit-caching",
	    "fast" },
	  "0.0000003", "0.0000025", "0.00000003", "0.0000003" },
};

static enum MHD_Result
list_models(struct MHD_Connection *conn, struct request *rq)
{
	json_object *doc = json_object_new_object();
	json_object *data = json_object_new_array();

	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		const struct model *m = &models[i];
		json_object *o = json_object_new_object();
		json_object *tags = json_object_new_array();
		json_object *pricing = json_object_new_object();

		put_str(o, "id", m->id);
		put_str(o, "object", "model");
		put_int(o, "created", m->created);
		put_str(o, "owned_by", m->owned_by);
		put_str(o, "name", m->name);
		put_str(o, "type", "language");
		put_int(o, "context_window", m->context_window);
		put_int(o, "max_tokens", m->max_tokens);
		for (size_t j = 0; j < 6 && m->tags[j] != NULL; j++)
			json_object_array_add(tags, json_object_new_string(m->tags[j]));
		put(o, "tags", tags);
		put_str(pricing, "input", m->input);
		put_str(pricing, "output", m->output);
		put_str(pricing, "input_cache_read", m->cache_read);
		put_str(pricing, "input_cache_write", m->cache_write);
		put(o, "pricing", pricing);
		json_object_array_add(data, o);
	}
	put_str(doc, "object", "list");
	put(doc, "data", data);
	return respond(conn, rq, MHD_HTTP_OK, json_response(doc), 0, 1);
}

static enum MHD_Result
replace_script(struct MHD_Connection *conn, struct request *rq)
{
	json_object *root, *doc;
	char why[1024];
	size_t n;

	root = script_parse(rq->body.p, rq->body.len, why, sizeof(why));
	if (root == NULL)
		return respond(conn, rq, MHD_HTTP_BAD_REQUEST,
		               json_response(fake_error("invalid_script",
		               PROG ": bad script: %s", why)), 0, 0);
	n = script_install(root);
	doc = json_object_new_object();
	put(doc, "ok", json_object_new_boolean(1));
	put_int(doc, "turns", (int64_t)n);
	return respond(conn, rq, MHD_HTTP_OK, json_response(doc), 0, 0);
}

static enum MHD_Result
list_requests(struct MHD_Connection *conn, struct request *rq)
{
	struct MHD_Response *resp;
	const char *text;

	pthread_mutex_lock(&fake.lock);
	text = json_text(fake.log);
	resp = text_response(text, strlen(text), "application/json");
	pthread_mutex_unlock(&fake.lock);
	return respond(conn, rq, MHD_HTTP_OK, resp, 0, 0);
}

static const struct route {
	const char *path;
	const char *method;
	enum MHD_Result (*handle)(struct MHD_Connection *, struct request *);
	int logged;         /* the fake's own routes stay out of the log */
} routes[] = {
	{ "/v1/chat/completions", "POST", chat_completions, 1 },
	{ "/v1/messages", "POST", anthropic_messages, 1 },
	{ "/v1/models", "GET", list_models, 1 },
	{ "/__fake/script", "POST", replace_script, 0 },
	{ "/__fake/requests", "GET", list_requests, 0 },
};

static enum MHD_Result
route(struct MHD_Connection *conn, struct request *rq)
{
	struct MHD_Response *resp;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];

		if (strcmp(rq->url, r->path) != 0)
			continue;
		if (strcmp(rq->method, r->method) == 0)
			return r->handle(conn, rq);
		resp = json_response(fake_error("method_not_allowed",
			"%s is not allowed on %s (use %s)", rq->method, r->path,
			r->method));
		if (resp != NULL)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
			                        r->method);
		return respond(conn, rq, MHD_HTTP_METHOD_NOT_ALLOWED, resp, 0,
		               r->logged);
	}
	resp = json_response(fake_error("not_found", "no route for %s %s",
	                                rq->method, rq->url));
	return respond(conn, rq, MHD_HTTP_NOT_FOUND, resp, 0, 1);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
	struct request *rq = *con_cls;
	char why[256];

	(void)cls;
	(void)version;
	if (rq == NULL) {
		rq = xcalloc(1, sizeof(*rq));
		rq->t_us = now_us();
		rq->turn = -1;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		/* Keep reading past the limit, so the client gets a 413
		 * instead of a broken connection. */
		if (rq->too_large || rq->body.len + *upload_size > BODY_MAX) {
			rq->too_large = 1;
			free(rq->body.p);
			memset(&rq->body, 0, sizeof(rq->body));
		} else {
			buf_add(&rq->body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	rq->method = method;
	rq->url = url;
	if (!rq->too_large && rq->body.len > 0)
		rq->json = parse_json(rq->body.p, rq->body.len, why, sizeof(why));
	return route(conn, rq);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rq == NULL)
		return;
	free(rq->body.p);
	json_object_put(rq->json);
	free(rq->failed);
	free(rq);
	*con_cls = NULL;
}

/* libmicrohttpd's own messages matter while it starts (a port in use);
 * afterwards they are only noise about the connections faults break. */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (__atomic_load_n(&fake.started, __ATOMIC_ACQUIRE))
		return;
	fputs(PROG ": microhttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ---- main ---------------------------------------------------------- */

static json_object *
script_load(const char *path)
{
	struct buf text = { 0 };
	char chunk[65536], why[1024];
	json_object *root;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, PROG ": cannot open the script %s: %s\n", path,
		        strerror(errno));
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, PROG ": cannot read the script %s: %s\n",
			        path, strerror(errno));
			close(fd);
			free(text.p);
			return NULL;
		}
		buf_add(&text, chunk, (size_t)n);
	}
	close(fd);
	root = script_parse(text.p, text.len, why, sizeof(why));
	if (root == NULL)
		fprintf(stderr, PROG ": bad script %s: %s\n", path, why);
	free(text.p);
	return root;
}

/* Write the port through a temporary file, so that a reader polling for
 * the file never sees it half written. */
static int
write_port_file(const char *path, unsigned port)
{
	size_t len = strlen(path) + 32;
	char *tmp = xrealloc(NULL, len);
	FILE *f;
	int ok;

	snprintf(tmp, len, "%s.%ld.tmp", path, (long)getpid());
	f = fopen(tmp, "w");
	ok = f != NULL && fprintf(f, "%u\n", port) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, PROG ": cannot write the port file %s: %s\n", path,
		        strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

#define USAGE "usage: " PROG " --script FILE [--port N] [--port-file FILE] " \
	"[--log FILE]\n"

static void
usage(void)
{
	fputs(USAGE
	      "\n"
	      "A fake Vercel AI Gateway on 127.0.0.1 that answers\n"
	      "POST /v1/chat/completions and POST /v1/messages from the\n"
	      "scripted turns in FILE (see tests/fake_gateway.md).\n"
	      "\n"
	      "  --script FILE     the script (JSON); required\n"
	      "  --port N          the port to listen on; 0 (the default)\n"
	      "                    takes a free one\n"
	      "  --port-file FILE  write the port there once listening\n"
	      "  --log FILE        one JSON line per request\n"
	      "  --help            this text\n"
	      "\n"
	      "Runs until SIGTERM or SIGINT.  Exits 2 on a bad command line or\n"
	      "script, 1 when it cannot listen.\n", stdout);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "script", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *script_path = NULL, *port_file = NULL, *log_path = NULL;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *daemon;
	json_object *root;
	sigset_t sigs;
	long port = 0;
	char *end;
	int c, sig;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 's':
			script_path = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *optarg == '\0' || *end != '\0' || port < 0 ||
			    port > 65535) {
				fprintf(stderr, PROG ": --port: \"%s\" is not a port "
				        "number\n", optarg);
				return 2;
			}
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			fputs(USAGE, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (script_path == NULL) {
		fputs(PROG ": --script FILE is required\n" USAGE, stderr);
		return 2;
	}
	root = script_load(script_path);
	if (root == NULL)
		return 2;
	script_install(root);
	fake.log = json_object_new_array();
	if (log_path != NULL) {
		fake.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC |
		                   O_APPEND | O_CLOEXEC, 0644);
		if (fake.log_fd < 0) {
			fprintf(stderr, PROG ": cannot open the log %s: %s\n",
			        log_path, strerror(errno));
			goto fail;
		}
	}

	/* Every thread inherits this mask, so the signals reach only
	 * sigwait() below; a closed client must not kill us either. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	                          MHD_USE_THREAD_PER_CONNECTION |
	                          MHD_USE_ERROR_LOG,
	                          (uint16_t)port, NULL, NULL, on_request, NULL,
	                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	                          MHD_OPTION_SOCK_ADDR, &addr,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	                          MHD_OPTION_END);
	if (daemon == NULL) {
		fprintf(stderr, PROG ": cannot listen on 127.0.0.1:%ld\n", port);
		goto fail;
	}
	__atomic_store_n(&fake.started, 1, __ATOMIC_RELEASE);
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0) {
		fputs(PROG ": cannot tell which port it listens on\n", stderr);
		MHD_stop_daemon(daemon);
		goto fail;
	}
	if (port_file != NULL && write_port_file(port_file, info->port) != 0) {
		MHD_stop_daemon(daemon);
		goto fail;
	}
	fprintf(stderr, PROG ": listening on http://127.0.0.1:%u\n",
	        (unsigned)info->port);

	do
		c = sigwait(&sigs, &sig);
	while (c != 0);
	/* Sleeping responses see the flag within a step and end, so the
	 * connection threads can be joined. */
	__atomic_store_n(&fake.stopping, 1, __ATOMIC_RELEASE);
	MHD_stop_daemon(daemon);
	c = 0;
	goto out;
fail:
	c = 1;
out:
	if (fake.log_fd >= 0)
		close(fake.log_fd);
	json_object_put(fake.log);
	json_object_put(fake.script);
	free(fake.served);
	free(fake.reasoning);
	free(fake.signature);
	return c;
}
