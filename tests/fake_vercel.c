/* A fake Vercel Sandbox API for tests: a real HTTP/1.1 server on
 * 127.0.0.1 that keeps named sandboxes, their sessions, commands and
 * snapshots, runs commands for real (fork/exec, one process group each)
 * in a directory tree per sandbox, and serves scripted faults: error
 * statuses, answers after the operation was done, dropped connections,
 * broken or oddly framed ndjson streams, slow and chunked downloads.
 * Every request is recorded.  tests/fake_vercel.md describes the command
 * line, the routes, the faults and the request log.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a response
 * may block; each command has a runner thread that reads its pipes and
 * reaps it.  All shared state (records, faults, the log) is guarded by
 * fake.lock; fake.changed is broadcast on command output and exits.
 * Records are never freed before exit, so a pointer to one stays valid
 * without the lock, but its mutable fields are read and written only
 * under it.  JSON handed out of the lock is always a fresh copy, since
 * json-c's reference counts are not atomic. */
#define _GNU_SOURCE
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
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
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>
#include <microhttpd.h>

#include "paths.h"

#define PROG "fake-vercel"
#define BODY_MAX ((size_t)16 << 20)     /* JSON bodies; uploads go to disk */
#define IO_BLOCK 65536
#define NAP_STEP_MS 20
#define JSON_DEPTH 128
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define REGION "iad1"
#define NDJSON "application/x-ndjson"
#define TAIL_MAX 2048                   /* bytes of git's stderr kept */

extern char **environ;

/* ---- behaviours the real API leaves open ----------------------------
 * Every choice made where the real API is undocumented is here, named
 * GUESS, and listed in tests/fake_vercel.md. */

/* GUESS: a request without the teamId query is 400 bad_request. */
#define MSG_NO_TEAM "Missing required query parameter: teamId"
/* GUESS: creating a sandbox under a name in use is 409 conflict. */
#define MSG_NAME_TAKEN "A sandbox with this name already exists"
/* GUESS: 2 vCPUs when resources.vcpus is not given. */
#define DEFAULT_VCPUS 2
/* The documented default: 5 minutes. */
#define DEFAULT_TIMEOUT_MS 300000
/* GUESS: sandboxes are persistent unless told otherwise. */
#define DEFAULT_PERSISTENT 1
/* GUESS: snapshots expire after 30 days unless "expiration" says
 * otherwise (0: never). */
#define DEFAULT_SNAPSHOT_EXPIRATION_MS ((int64_t)30 * 24 * 3600 * 1000)
/* GUESS: lists return 50 items unless limit says otherwise (1..200),
 * newest first unless sortOrder=asc. */
#define DEFAULT_LIMIT 50
#define MAX_LIMIT 200
/* GUESS: a v3 create without runtime or image reports this image. */
#define DEFAULT_IMAGE "vercel/sandbox/universal:latest"
/* GUESS: without networkPolicy a sandbox reports {"mode":"allow-all"}. */
/* GUESS: a failed git clone or checkout is 400 bad_request carrying the
 * tail of git's stderr (credentials blanked). */
/* GUESS: a command whose cwd does not exist is 400 bad_request; one
 * whose program is not found runs and exits 127 with a message on
 * stderr, as a shell would. */
/* GUESS: killing a finished command answers 200 with the command. */
/* GUESS: when a session stops (stop, snapshot, delete) while a command
 * runs, the command is killed and its wait and logs streams end with an
 * in-band {"stream":"error","data":{"code":"sandbox_stopped",…}} line
 * instead of the final command line. */
/* GUESS: only running a command (cmd), kill and the fs routes answer
 * 410/422 on a session that is not running; listing commands, getting
 * one and its logs keep working, so the history stays readable. */
/* GUESS: fs/read of a directory is 400 bad_request; other open errors
 * are 400 too. */
/* GUESS: fs/write is not atomic as a whole: entries before a bad one
 * (outside the sandbox, a directory in the way) stay written. */
/* GUESS: deleting a deleted snapshot answers 200 with it again; stopping
 * a stopped session answers 200 with it. */
/* GUESS: a tarball source is extracted as is into the working
 * directory, and only file:// URLs are fetched (others: 400). */
/* GUESS: a named sandbox asked for with another project's ?projectId=
 * is not found (404). */
/* GUESS: list routes do not require their project query; without it
 * they list everything. */
/* GUESS: command output that is not valid UTF-8 reaches "data" lossily:
 * each invalid byte becomes U+FFFD.  A character cut between two reads
 * is joined first. */
/* GUESS: a command "timeout" of 0 means none. */
/* GUESS: extend-timeout and snapshot on a session that is not running
 * answer like cmd (410 sandbox_stopped, 422 sandbox_stopping). */
/* GUESS: a snapshot's sizeBytes is the total size of its regular files. */
/* GUESS: an unknown snapshot as a source is 410 snapshot_not_found, like
 * an expired or deleted one. */
/* GUESS: the session timeout is recorded (and extended) but not
 * enforced: sessions run until stopped. */

/* ---- shared state -------------------------------------------------- */

struct logent {
	int stream;            /* 0 stdout, 1 stderr */
	char *data;            /* owned; valid UTF-8 */
	size_t len;
};

struct command {
	struct command *next;
	char id[40];
	char *session;         /* owned id */
	char **argv;           /* owned, NULL-terminated: name and args */
	char *cwd;             /* owned */
	int64_t started_at;
	pid_t pid;             /* also the process group */
	/* Mutable, under the lock: */
	int done, exit_code, stopped, timed_out;
	int64_t duration_ms;
	struct logent *ents;   /* owned */
	size_t nents, cap;
};

struct session {
	struct session *next;
	char id[40];
	struct sandbox *sb;    /* its sandbox; records live until exit */
	char *sandbox;         /* owned name */
	char *project;         /* owned */
	char *dir;             /* owned: <root>/sandboxes/<name> */
	char *cwd;             /* owned: dir/vercel/sandbox */
	char *runtime;         /* owned or NULL */
	char *source_snapshot; /* owned or NULL */
	json_object *policy;   /* owned, response form */
	int64_t vcpus, memory;
	int64_t requested_at, created_at;
	/* Mutable, under the lock: */
	const char *status;    /* one of session_states */
	int64_t updated_at, started_at, stopped_at, requested_stop_at;
	int64_t snapshotted_at, timeout;
};

struct sandbox {
	struct sandbox *next;
	char *name, *project;  /* owned */
	char *dir, *cwd;       /* owned */
	char *image;           /* owned or NULL */
	char sub[16];          /* route subdomain stem */
	int64_t created_at;
	/* Mutable, under the lock: */
	int deleted, persistent;
	char *runtime;         /* owned or NULL */
	char *session;         /* owned: the current session's id */
	char *snapshot;        /* owned or NULL: the last snapshot taken */
	int64_t updated_at, vcpus, timeout;
	json_object *ports, *tags, *env, *policy;   /* owned */
	json_object *extra;    /* owned: other PATCHed fields, echoed */
};

struct snapshot {
	struct snapshot *next;
	char id[40];
	char *session, *sandbox, *project;  /* owned */
	char *runtime;         /* owned or NULL: the source's */
	char *dir;             /* owned */
	int64_t size, created_at;
	/* Mutable, under the lock: */
	int deleted;
	int64_t updated_at, expires_at;     /* 0: never expires */
};

static const char *const session_states[] = {
	"pending", "running", "stopping", "stopped", "failed", "aborted",
	"snapshotting", NULL
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char *root;              /* owned, absolute */
	int root_owned;          /* made here: removed at exit */
	const char *token, *team;
	json_object *faults;     /* owned array, checked */
	int64_t *left;           /* owned: uses left, per fault */
	json_object *log;        /* owned array of request records */
	unsigned long logged;
	int log_fd;
	struct sandbox *sandboxes;
	struct session *sessions;
	struct command *commands;
	struct snapshot *snapshots;
	unsigned runners;        /* command runner threads alive */
	int started;
	volatile int stopping;   /* __atomic */
} fake = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
	.log_fd = -1
};

/* ---- small helpers ------------------------------------------------- */

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
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	return memcpy(xrealloc(NULL, len), s, len);
}

static char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		fputs(PROG ": out of memory\n", stderr);
		abort();
	}
	va_end(ap);
	return s;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
stopping(void)
{
	return __atomic_load_n(&fake.stopping, __ATOMIC_ACQUIRE);
}

/* The client on fd has hung up (fd < 0: nobody to watch). */
static int
client_gone(int fd)
{
	/* Only hang-ups are asked for, so bytes the client sent ahead do
	 * not count. */
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return fd >= 0 && poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Sleep ms milliseconds in short steps.  -1 early when the server is
 * stopping or the client on fd has gone. */
static int
nap(int fd, int64_t ms)
{
	while (ms > 0) {
		int step = ms < NAP_STEP_MS ? (int)ms : NAP_STEP_MS;
		struct timespec ts = { 0, (long)step * 1000000 };

		if (stopping() || client_gone(fd))
			return -1;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return stopping() ? -1 : 0;
}

/* Wait on fake.changed (lock held) for at most 50 ms. */
static void
wait_changed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&fake.changed, &fake.lock, &ts);
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

static void
random_hex(char *out, size_t n)
{
	static unsigned long counter;
	unsigned char r[32];
	uint64_t x;

	if (n > 2 * sizeof(r))
		n = 2 * sizeof(r);
	if (getrandom(r, (n + 1) / 2, GRND_NONBLOCK) != (ssize_t)((n + 1) / 2)) {
		/* Ids need to differ, not to be secret. */
		x = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^
		    (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
		for (size_t i = 0; i < sizeof(r); i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			r[i] = (unsigned char)(x >> 56);
		}
	}
	for (size_t i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[(r[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[n] = '\0';
}

static void
new_id(char out[40], const char *prefix)
{
	size_t len = strlen(prefix);

	memcpy(out, prefix, len);
	random_hex(out + len, 24);
}

/* ---- JSON helpers -------------------------------------------------- */

static json_object *
jget(json_object *obj, const char *key)
{
	json_object *v;

	return json_object_is_type(obj, json_type_object) &&
	       json_object_object_get_ex(obj, key, &v) ? v : NULL;
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
	json_object_object_add(obj, key, value ? json_object_new_string(value)
	                                       : NULL);
}

static void
put_int(json_object *obj, const char *key, int64_t value)
{
	json_object_object_add(obj, key, json_object_new_int64(value));
}

static void
put_bool(json_object *obj, const char *key, int value)
{
	json_object_object_add(obj, key, json_object_new_boolean(value));
}

/* A deep copy; NULL stays NULL. */
static json_object *
jcopy(json_object *src)
{
	json_object *dst = NULL;

	if (src == NULL)
		return NULL;
	if (json_object_deep_copy(src, &dst, NULL) != 0) {
		fputs(PROG ": out of memory\n", stderr);
		abort();
	}
	return dst;
}

static const char *
json_text(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_FLAGS);
}

static int
is_string_map(json_object *v)
{
	if (!json_object_is_type(v, json_type_object))
		return 0;
	json_object_object_foreach(v, key, value) {
		(void)key;
		if (!json_object_is_type(value, json_type_string))
			return 0;
	}
	return 1;
}

static int
is_string_list(json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i),
		                         json_type_string))
			return 0;
	return 1;
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

/* ---- UTF-8 --------------------------------------------------------- */

/* The sequence at p (n bytes there): its length when valid, 0 when
 * invalid, -1 when it is a valid start cut short by the end. */
static int
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0], lo = 0x80, hi = 0xBF;
	int len;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	for (int i = 1; i < len; i++) {
		unsigned d;

		if ((size_t)i >= n)
			return -1;
		d = p[i];
		if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xBF))
			return 0;
	}
	return len;
}

/* Bytes of a character cut by the end of one read, kept for the next. */
struct carry {
	unsigned char b[4];
	size_t n;
};

/* Append carry + data to out as valid UTF-8: invalid bytes become
 * U+FFFD, an incomplete character at the end is carried (at eof it
 * becomes U+FFFD too). */
static void
utf8_take(struct carry *c, const char *data, size_t n, int eof,
          struct buf *out)
{
	unsigned char *p = xrealloc(NULL, c->n + n + 1);
	size_t total = c->n + n, i = 0;

	memcpy(p, c->b, c->n);
	if (n > 0)
		memcpy(p + c->n, data, n);
	c->n = 0;
	while (i < total) {
		int len = utf8_seq(p + i, total - i);

		if (len > 0) {
			buf_add(out, (char *)p + i, (size_t)len);
			i += (size_t)len;
		} else if (len < 0 && !eof) {
			memcpy(c->b, p + i, total - i);
			c->n = total - i;
			break;
		} else {
			buf_add(out, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	free(p);
}

/* ---- paths and files ----------------------------------------------- */

/* path against base (when relative), normalised.  [caller-owned] */
static char *
path_resolve(const char *base, const char *path)
{
	char *out = flue_path_resolve(base, path);

	if (out == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		abort();
	}
	return out;
}

static int
path_inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* mkdir -p; 0 or -1 with errno. */
static int
mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	struct stat st;
	int ret = 0;

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST)
			ret = -1;
		*s = '/';
		if (ret != 0)
			break;
	}
	if (ret == 0 && mkdir(p, mode) != 0 && errno != EEXIST)
		ret = -1;
	if (ret == 0 && stat(p, &st) != 0)
		ret = -1;
	else if (ret == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		ret = -1;
	}
	free(p);
	return ret;
}

/* rm -rf, best effort. */
static void
remove_tree(const char *path)
{
	char *paths[] = { (char *)path, NULL };
	FTS *fts;
	FTSENT *e;

	fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	if (fts == NULL)
		return;
	while ((e = fts_read(fts)) != NULL) {
		switch (e->fts_info) {
		case FTS_D:
			/* A directory a command made read-only. */
			chmod(e->fts_accpath, 0700);
			break;
		case FTS_DP:
			rmdir(e->fts_accpath);
			break;
		default:
			unlink(e->fts_accpath);
			break;
		}
	}
	fts_close(fts);
}

/* The bytes of the regular files under path. */
static int64_t
tree_size(const char *path)
{
	char *paths[] = { (char *)path, NULL };
	int64_t total = 0;
	FTS *fts;
	FTSENT *e;

	fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	if (fts == NULL)
		return 0;
	while ((e = fts_read(fts)) != NULL)
		if (e->fts_info == FTS_F)
			total += (int64_t)e->fts_statp->st_size;
	fts_close(fts);
	return total;
}

/* ---- child processes ----------------------------------------------- */

/* A NULL-terminated list of "KEY=value" strings, later keys replacing
 * earlier ones. */
struct env {
	char **v;              /* owned, and each string */
	size_t n, cap;
};

static void
env_set(struct env *e, const char *key, const char *value)
{
	size_t klen = strlen(key);
	char *item = xasprintf("%s=%s", key, value);

	for (size_t i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=') {
			free(e->v[i]);
			e->v[i] = item;
			return;
		}
	}
	if (e->n + 2 > e->cap) {
		e->cap = e->cap ? 2 * e->cap : 16;
		e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
	}
	e->v[e->n++] = item;
	e->v[e->n] = NULL;
}

static void
env_set_json(struct env *e, json_object *map)
{
	if (!json_object_is_type(map, json_type_object))
		return;
	json_object_object_foreach(map, key, value)
		if (json_object_is_type(value, json_type_string))
			env_set(e, key, json_object_get_string(value));
}

static const char *
env_get(const struct env *e, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=')
			return e->v[i] + klen + 1;
	return NULL;
}

static void
env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

static void
strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Where execve finds name: itself when it has a slash, else the first
 * executable file of that name on path.  Looked up before fork, since
 * the child of a threaded process may only make async-signal-safe
 * calls.  [caller-owned] */
static char *
find_program(const char *name, const char *path)
{
	const char *p = path ? path : "/usr/bin:/bin";

	if (strchr(name, '/') != NULL || *name == '\0')
		return xstrdup(name);
	while (*p != '\0') {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *full = xasprintf("%.*s/%s", (int)n, n ? p : ".", name);
		struct stat st;

		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(full, X_OK) == 0)
			return full;
		free(full);
		p += n;
		if (*p == ':')
			p++;
	}
	return xstrdup(name);
}

static void
say(const char *s)
{
	ssize_t ignored = write(2, s, strlen(s));

	(void)ignored;
}

/* fork and exec program with argv and envp in cwd, stdin /dev/null,
 * stdout to out, stderr to err, in a process group of its own.  The
 * pid, or -1 with errno. */
static pid_t
spawn(const char *program, char *const argv[], char *const envp[],
      const char *cwd, int out, int err)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t pid;

	if (devnull < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigset_t none;

		/* The mask and ignored signals survive exec. */
		sigemptyset(&none);
		sigaction(SIGPIPE, &dfl, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		if (cwd != NULL && chdir(cwd) != 0) {
			say(PROG ": cannot enter ");
			say(cwd);
			say("\n");
			_exit(126);
		}
		execve(program, argv, envp);
		say(PROG ": ");
		say(argv[0]);
		say(errno == ENOENT ? ": command not found\n"
		                    : ": cannot execute\n");
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (pid > 0)
		setpgid(pid, pid);   /* no race with a kill of the group */
	close(devnull);
	return pid;
}

/* Run argv to the end (git, cp).  Its output, last TAIL_MAX bytes, goes
 * to *tail [caller-owned].  The exit status as a shell reports it. */
static int
run_sync(char *const argv[], const char *cwd, char **tail)
{
	struct env e = { 0 };
	char *program, chunk[4096];
	struct buf out = { 0 };
	int fds[2], status = 0;
	pid_t pid;

	for (char **v = environ; *v != NULL; v++) {
		char *eq = strchr(*v, '=');

		if (eq != NULL) {
			char *key = xasprintf("%.*s", (int)(eq - *v), *v);

			env_set(&e, key, eq + 1);
			free(key);
		}
	}
	env_set(&e, "GIT_TERMINAL_PROMPT", "0");
	env_set(&e, "LANG", "C");
	program = find_program(argv[0], env_get(&e, "PATH"));
	buf_str(&out, "");
	if (pipe2(fds, O_CLOEXEC) != 0) {
		*tail = xasprintf("pipe: %s", strerror(errno));
		free(program);
		env_free(&e);
		free(out.p);
		return 126;
	}
	pid = spawn(program, argv, e.v, cwd, fds[1], fds[1]);
	close(fds[1]);
	free(program);
	env_free(&e);
	if (pid < 0) {
		close(fds[0]);
		*tail = xasprintf("fork: %s", strerror(errno));
		free(out.p);
		return 126;
	}
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		ssize_t n;

		if (stopping())
			kill(-pid, SIGKILL);
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fds[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_add(&out, chunk, (size_t)n);
		if (out.len > 4 * TAIL_MAX) {
			memmove(out.p, out.p + out.len - TAIL_MAX, TAIL_MAX);
			out.len = TAIL_MAX;
			out.p[out.len] = '\0';
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out.len > TAIL_MAX)
		*tail = xstrdup(out.p + out.len - TAIL_MAX);
	else
		*tail = out.p, out.p = NULL;
	free(out.p);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* cp -a from/. to/ (to is made).  0, or -1 with *why [caller-owned]. */
static int
copy_tree(const char *from, const char *to, char **why)
{
	char *src = xasprintf("%s/.", from);
	char *argv[] = { "cp", "-a", "--", src, (char *)to, NULL };
	char *tail = NULL;
	int rc;

	if (mkdir_p(to, 0755) != 0) {
		*why = xasprintf("cannot make %s: %s", to, strerror(errno));
		free(src);
		return -1;
	}
	rc = run_sync(argv, NULL, &tail);
	free(src);
	if (rc != 0) {
		*why = xasprintf("cp failed: %s", tail);
		free(tail);
		return -1;
	}
	free(tail);
	return 0;
}

/* ---- running commands ---------------------------------------------- */

struct runner {
	struct command *c;
	int fd[2];             /* stdout, stderr pipes; owned */
	int pidfd;             /* owned, or -1: poll waitpid instead */
	int64_t deadline;      /* monotonic ms; 0: none */
};

static void
add_output(struct command *c, int stream, struct carry *carry,
           const char *data, size_t n, int eof)
{
	struct buf b = { 0 };

	utf8_take(carry, data, n, eof, &b);
	if (b.len == 0) {
		free(b.p);
		return;
	}
	pthread_mutex_lock(&fake.lock);
	if (c->nents == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->ents = xrealloc(c->ents, c->cap * sizeof(*c->ents));
	}
	c->ents[c->nents].stream = stream;
	c->ents[c->nents].data = b.p;
	c->ents[c->nents].len = b.len;
	c->nents++;
	pthread_cond_broadcast(&fake.changed);
	pthread_mutex_unlock(&fake.lock);
}

/* Read one pipe once.  0 while it is open, -1 once it has ended. */
static int
read_pipe(struct runner *r, int i, struct carry *carry, char *chunk)
{
	ssize_t n = read(r->fd[i], chunk, IO_BLOCK);

	if (n > 0) {
		add_output(r->c, i, carry, chunk, (size_t)n, 0);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	add_output(r->c, i, carry, NULL, 0, 1);
	close(r->fd[i]);
	r->fd[i] = -1;
	return -1;
}

/* A command's life: collect its output as it comes, enforce its
 * timeout, reap it and record the exit. */
static void *
runner_main(void *arg)
{
	struct runner *r = arg;
	struct command *c = r->c;
	struct carry carry[2] = { { { 0 }, 0 }, { { 0 }, 0 } };
	char *chunk = xrealloc(NULL, IO_BLOCK);
	int status = 0, killed = 0;

	for (;;) {
		struct pollfd p[3];
		int n = 0, timeout = r->pidfd >= 0 ? -1 : NAP_STEP_MS, idx[3];
		pid_t w;

		if (r->deadline > 0 && !killed) {
			int64_t rest = r->deadline - mono_ms();

			if (rest <= 0) {
				pthread_mutex_lock(&fake.lock);
				c->timed_out = 1;
				pthread_mutex_unlock(&fake.lock);
				kill(-c->pid, SIGKILL);
				killed = 1;
			} else if (timeout < 0 || rest < timeout) {
				timeout = (int)rest;
			}
		}
		for (int i = 0; i < 2; i++) {
			if (r->fd[i] < 0)
				continue;
			p[n].fd = r->fd[i];
			p[n].events = POLLIN;
			idx[n++] = i;
		}
		if (r->pidfd >= 0) {
			p[n].fd = r->pidfd;
			p[n].events = POLLIN;
			idx[n++] = 2;
		}
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < n; k++)
			if (idx[k] < 2 && (p[k].revents & (POLLIN | POLLHUP |
			                                   POLLERR)))
				read_pipe(r, idx[k], carry + idx[k], chunk);
		w = waitpid(c->pid, &status, WNOHANG);
		if (w == c->pid || (w < 0 && errno == ECHILD))
			break;
	}
	/* What the command wrote before it ended is in the pipes; a
	 * process it left behind may hold them open, so read only what is
	 * there now. */
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 64 && r->fd[i] >= 0; k++) {
			ssize_t n = read(r->fd[i], chunk, IO_BLOCK);

			if (n > 0) {
				add_output(c, i, carry + i, chunk, (size_t)n, 0);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		add_output(c, i, carry + i, NULL, 0, 1);
		if (r->fd[i] >= 0)
			close(r->fd[i]);
	}
	if (r->pidfd >= 0)
		close(r->pidfd);
	free(chunk);
	pthread_mutex_lock(&fake.lock);
	if (WIFEXITED(status))
		c->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		c->exit_code = 128 + WTERMSIG(status);
	else
		c->exit_code = 1;
	c->duration_ms = now_ms() - c->started_at;
	c->done = 1;
	fake.runners--;
	pthread_cond_broadcast(&fake.changed);
	pthread_mutex_unlock(&fake.lock);
	free(r);
	return NULL;
}

/* Start argv as a command of session se.  The command, or NULL with
 * *why [caller-owned]. */
static struct command *
command_start(struct session *se, char **argv, const char *cwd,
              struct env *e, int64_t timeout_ms, char **why)
{
	struct command *c = xcalloc(1, sizeof(*c));
	struct runner *r = xcalloc(1, sizeof(*r));
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };
	char *program = find_program(argv[0], env_get(e, "PATH"));
	pthread_attr_t attr;
	pthread_t thread;

	/* Only the fake's read ends are non-blocking: a child writing
	 * faster than it is read must block, not fail with EAGAIN. */
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
	    fcntl(out[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(err[0], F_SETFL, O_NONBLOCK) != 0) {
		*why = xasprintf("pipe: %s", strerror(errno));
		goto fail;
	}
	new_id(c->id, "cmd_");
	c->session = xstrdup(se->id);
	c->argv = argv;
	c->cwd = xstrdup(cwd);
	c->exit_code = -1;
	c->started_at = now_ms();
	/* The lock is held across fork, so the record is in the list before
	 * anyone can ask about it. */
	pthread_mutex_lock(&fake.lock);
	c->pid = spawn(program, argv, e->v, cwd, out[1], err[1]);
	if (c->pid < 0) {
		pthread_mutex_unlock(&fake.lock);
		*why = xasprintf("fork: %s", strerror(errno));
		c->argv = NULL;
		goto fail;
	}
	c->next = fake.commands;
	fake.commands = c;
	fake.runners++;
	pthread_mutex_unlock(&fake.lock);
	close(out[1]);
	close(err[1]);
	free(program);
	r->c = c;
	r->fd[0] = out[0];
	r->fd[1] = err[0];
#ifdef SYS_pidfd_open
	r->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
#else
	r->pidfd = -1;
#endif
	r->deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, runner_main, r) != 0) {
		/* Without a runner nobody reaps it: do it here. */
		int status;

		kill(-c->pid, SIGKILL);
		waitpid(c->pid, &status, 0);
		pthread_mutex_lock(&fake.lock);
		c->done = 1;
		c->exit_code = 137;
		fake.runners--;
		pthread_mutex_unlock(&fake.lock);
		close(r->fd[0]);
		close(r->fd[1]);
		if (r->pidfd >= 0)
			close(r->pidfd);
		free(r);
	}
	pthread_attr_destroy(&attr);
	return c;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	free(program);
	free(c->session);
	free(c->cwd);
	free(c);
	free(r);
	return NULL;
}

/* Kill the running commands of a session (lock held).  stopped marks
 * them as ended by the session stopping. */
static void
kill_session_commands(const char *session)
{
	for (struct command *c = fake.commands; c != NULL; c = c->next) {
		if (c->done || strcmp(c->session, session) != 0)
			continue;
		c->stopped = 1;
		kill(-c->pid, SIGKILL);
	}
}

/* ---- records as JSON (lock held) ----------------------------------- */

static struct sandbox *
find_sandbox(const char *name)
{
	for (struct sandbox *sb = fake.sandboxes; sb != NULL; sb = sb->next)
		if (!sb->deleted && strcmp(sb->name, name) == 0)
			return sb;
	return NULL;
}

static struct session *
find_session(const char *id)
{
	for (struct session *se = fake.sessions; se != NULL; se = se->next)
		if (strcmp(se->id, id) == 0)
			return se;
	return NULL;
}

static struct command *
find_command(const char *session, const char *id)
{
	for (struct command *c = fake.commands; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0 && strcmp(c->session, session) == 0)
			return c;
	return NULL;
}

static struct snapshot *
find_snapshot(const char *id)
{
	for (struct snapshot *sn = fake.snapshots; sn != NULL; sn = sn->next)
		if (strcmp(sn->id, id) == 0)
			return sn;
	return NULL;
}

static const char *
sandbox_status(const struct sandbox *sb)
{
	struct session *se = find_session(sb->session);

	if (sb->deleted || se == NULL)
		return "stopped";
	return se->status;
}

static json_object *
sandbox_json(const struct sandbox *sb)
{
	json_object *o = json_object_new_object();
	struct session *se = find_session(sb->session);

	put_str(o, "name", sb->name);
	put_bool(o, "persistent", sb->persistent);
	put_int(o, "createdAt", sb->created_at);
	put_int(o, "updatedAt", sb->updated_at);
	put_str(o, "currentSessionId", sb->session);
	put_str(o, "status", sandbox_status(sb));
	put_int(o, "statusUpdatedAt", se ? se->updated_at : sb->updated_at);
	put_str(o, "region", REGION);
	put_int(o, "vcpus", sb->vcpus);
	put_int(o, "memory", 2048 * sb->vcpus);
	if (sb->runtime != NULL)
		put_str(o, "runtime", sb->runtime);
	if (sb->image != NULL)
		put_str(o, "image", sb->image);
	put_int(o, "timeout", sb->timeout);
	put(o, "networkPolicy", jcopy(sb->policy));
	put_str(o, "cwd", sb->cwd);
	put(o, "tags", jcopy(sb->tags));
	if (sb->snapshot != NULL)
		put_str(o, "currentSnapshotId", sb->snapshot);
	json_object_object_foreach(sb->extra, key, value)
		put(o, key, jcopy(value));
	return o;
}

static json_object *
session_json(const struct session *se)
{
	json_object *o = json_object_new_object();

	put_str(o, "id", se->id);
	put_int(o, "memory", se->memory);
	put_int(o, "vcpus", se->vcpus);
	put_str(o, "region", REGION);
	put_int(o, "timeout", se->timeout);
	put_str(o, "status", se->status);
	put_int(o, "requestedAt", se->requested_at);
	put_int(o, "createdAt", se->created_at);
	put_str(o, "cwd", se->cwd);
	put_int(o, "updatedAt", se->updated_at);
	if (se->runtime != NULL)
		put_str(o, "runtime", se->runtime);
	if (se->started_at > 0)
		put_int(o, "startedAt", se->started_at);
	if (se->requested_stop_at > 0)
		put_int(o, "requestedStopAt", se->requested_stop_at);
	if (se->stopped_at > 0) {
		put_int(o, "stoppedAt", se->stopped_at);
		if (se->started_at > 0)
			put_int(o, "duration", se->stopped_at - se->started_at);
	}
	if (se->source_snapshot != NULL)
		put_str(o, "sourceSnapshotId", se->source_snapshot);
	if (se->snapshotted_at > 0)
		put_int(o, "snapshottedAt", se->snapshotted_at);
	put(o, "networkPolicy", jcopy(se->policy));
	return o;
}

static json_object *
routes_json(const struct sandbox *sb)
{
	json_object *list = json_object_new_array();

	for (size_t i = 0; sb != NULL && i < json_object_array_length(sb->ports);
	     i++) {
		int64_t port = json_object_get_int64(
			json_object_array_get_idx(sb->ports, i));
		json_object *r = json_object_new_object();
		char *sub = xasprintf("%s-%lld", sb->sub, (long long)port);
		char *url = xasprintf("https://%s.vercel.run", sub);

		put_str(r, "url", url);
		put_str(r, "subdomain", sub);
		put_int(r, "port", port);
		json_object_array_add(list, r);
		free(sub);
		free(url);
	}
	return list;
}

/* running: as it was at the start, whatever it is now. */
static json_object *
command_json(const struct command *c, int running)
{
	json_object *o = json_object_new_object();
	json_object *args = json_object_new_array();

	for (size_t i = 1; c->argv[i] != NULL; i++)
		json_object_array_add(args, json_object_new_string(c->argv[i]));
	put_str(o, "id", c->id);
	put_str(o, "name", c->argv[0]);
	put(o, "args", args);
	put_str(o, "cwd", c->cwd);
	put_str(o, "sessionId", c->session);
	if (running || !c->done)
		put(o, "exitCode", NULL);
	else
		put_int(o, "exitCode", c->exit_code);
	put_int(o, "startedAt", c->started_at);
	/* Never null: the SDK rejects that. */
	if (!running && c->done)
		put_int(o, "durationMs", c->duration_ms);
	return o;
}

static json_object *
snapshot_json(const struct snapshot *sn)
{
	json_object *o = json_object_new_object();

	put_str(o, "id", sn->id);
	put_str(o, "sourceSessionId", sn->session);
	put_str(o, "region", REGION);
	put_str(o, "status", sn->deleted ? "deleted" : "created");
	put_int(o, "sizeBytes", sn->size);
	put_int(o, "createdAt", sn->created_at);
	put_int(o, "updatedAt", sn->updated_at);
	if (sn->expires_at > 0)
		put_int(o, "expiresAt", sn->expires_at);
	return o;
}

/* {"command": …} as one ndjson line.  [caller-owned] */
static char *
command_line(const struct command *c, int running)
{
	json_object *doc = json_object_new_object();
	char *line;

	put(doc, "command", command_json(c, running));
	line = xasprintf("%s\n", json_text(doc));
	json_object_put(doc);
	return line;
}

/* A network policy as responses give it: always the legacy form (A.6),
 * without header values.  [caller-owned] */
static json_object *
policy_response(json_object *p)
{
	json_object *out = json_object_new_object(), *v;
	json_object *inject = json_object_new_array();
	json_object *forward = json_object_new_array();
	const char *mode = jstr(p, "mode");

	if (!json_object_is_type(p, json_type_object) ||
	    (mode != NULL && strcmp(mode, "custom") != 0 &&
	     jget(p, "allow") == NULL && jget(p, "allowedDomains") == NULL)) {
		put_str(out, "mode", mode ? mode : "allow-all");
		json_object_put(inject);
		json_object_put(forward);
		return out;
	}
	put_str(out, "mode", "custom");
	v = jget(p, "allow");
	if (json_object_is_type(v, json_type_array))
		put(out, "allowedDomains", jcopy(v));
	if (json_object_is_type(v, json_type_object)) {
		json_object *domains = json_object_new_array();

		json_object_object_foreach(v, domain, rules) {
			json_object_array_add(domains,
			                      json_object_new_string(domain));
			for (size_t i = 0; json_object_is_type(rules,
			     json_type_array) && i < json_object_array_length(rules);
			     i++) {
				json_object *rule = json_object_array_get_idx(rules, i);
				json_object *tr = jget(rule, "transform");
				json_object *item;

				if (jstr(rule, "forwardURL") != NULL) {
					item = json_object_new_object();
					put_str(item, "domain", domain);
					put_str(item, "forwardURL",
					        jstr(rule, "forwardURL"));
					if (jget(rule, "match"))
						put(item, "match",
						    jcopy(jget(rule, "match")));
					json_object_array_add(forward, item);
				}
				for (size_t k = 0; json_object_is_type(tr,
				     json_type_array) &&
				     k < json_object_array_length(tr); k++) {
					json_object *h = jget(json_object_array_get_idx(
						tr, k), "headers");
					json_object *names = json_object_new_array();

					if (json_object_is_type(h, json_type_object)) {
						json_object_object_foreach(h, hname,
						                           hval) {
							(void)hval;
							json_object_array_add(names,
								json_object_new_string(hname));
						}
					}
					item = json_object_new_object();
					put_str(item, "domain", domain);
					put(item, "headerNames", names);
					if (jget(rule, "match"))
						put(item, "match",
						    jcopy(jget(rule, "match")));
					json_object_array_add(inject, item);
				}
			}
		}
		put(out, "allowedDomains", domains);
	}
	v = jget(p, "subnets");
	if (jget(v, "allow"))
		put(out, "allowedCIDRs", jcopy(jget(v, "allow")));
	if (jget(v, "deny"))
		put(out, "deniedCIDRs", jcopy(jget(v, "deny")));
	/* The legacy request form passes through, minus header values. */
	if (jget(p, "allowedDomains"))
		put(out, "allowedDomains", jcopy(jget(p, "allowedDomains")));
	if (jget(p, "allowedCIDRs"))
		put(out, "allowedCIDRs", jcopy(jget(p, "allowedCIDRs")));
	if (jget(p, "deniedCIDRs"))
		put(out, "deniedCIDRs", jcopy(jget(p, "deniedCIDRs")));
	v = jget(p, "injectionRules");
	for (size_t i = 0; json_object_is_type(v, json_type_array) &&
	     i < json_object_array_length(v); i++) {
		json_object *rule = json_object_array_get_idx(v, i);
		json_object *item = json_object_new_object();
		json_object *names = json_object_new_array();
		json_object *h = jget(rule, "headers");

		if (json_object_is_type(h, json_type_object)) {
			json_object_object_foreach(h, hname, hval) {
				(void)hval;
				json_object_array_add(names,
				                      json_object_new_string(hname));
			}
		}
		if (jget(rule, "headerNames")) {
			json_object_put(names);
			names = jcopy(jget(rule, "headerNames"));
		}
		put_str(item, "domain", jstr(rule, "domain"));
		put(item, "headerNames", names);
		json_object_array_add(inject, item);
	}
	if (json_object_array_length(inject) > 0)
		put(out, "injectionRules", inject);
	else
		json_object_put(inject);
	if (json_object_array_length(forward) > 0)
		put(out, "forwardRules", forward);
	else
		json_object_put(forward);
	return out;
}

/* ---- the fault script ---------------------------------------------- */

/* Route names, as faults and the request log use them. */
enum rid {
	R_CREATE, R_GET_SANDBOX, R_LIST_SANDBOXES, R_DELETE_SANDBOX,
	R_UPDATE_SANDBOX, R_GET_SESSION, R_LIST_SESSIONS, R_STOP, R_EXTEND,
	R_CMD, R_CMD_LIST, R_CMD_GET, R_CMD_LOGS, R_CMD_KILL, R_FS_WRITE,
	R_FS_READ, R_FS_MKDIR, R_SNAPSHOT, R_SNAPSHOT_GET, R_SNAPSHOT_DELETE,
	R_SNAPSHOT_LIST
};

static const char *const route_names[] = {
	"create", "get_sandbox", "list_sandboxes", "delete_sandbox",
	"update_sandbox", "get_session", "list_sessions", "stop", "extend",
	"cmd", "cmd_list", "cmd_get", "cmd_logs", "cmd_kill", "fs_write",
	"fs_read", "fs_mkdir", "snapshot", "snapshot_get", "snapshot_delete",
	"snapshot_list", NULL
};

/* How a command's ndjson stream is broken. */
enum sfault {
	SF_NONE, SF_END_AFTER_START, SF_END_AFTER_LOGS, SF_RESET_MID_LINE,
	SF_ERROR_LINE, SF_SPLIT_UTF8
};

static const char *const stream_faults[] = {
	"", "end_after_start", "end_after_logs", "reset_mid_line",
	"error_line", "split_utf8", NULL
};

enum kind {
	K_BOOL,
	K_INT,
	K_STR,       /* a string, optionally one of choices */
	K_STRS,      /* a string or an array of strings */
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

static const struct rule match_rules[] = {
	{ .key = "body_contains", .kind = K_STRS },
	{ .key = "path_contains", .kind = K_STR },
	{ .key = NULL }
};

static const struct rule action_rules[] = {
	{ .key = "status", .kind = K_INT, .min = 100, .max = 599 },
	{ .key = "code", .kind = K_STR },
	{ .key = "message", .kind = K_STR },
	{ .key = "headers", .kind = K_STRMAP },
	{ .key = "body", .kind = K_ANY },
	{ .key = "status_after", .kind = K_INT, .min = 100, .max = 599 },
	{ .key = "drop", .kind = K_BOOL },
	{ .key = "drop_after", .kind = K_BOOL },
	{ .key = "delay_ms", .kind = K_INT, .max = INT32_MAX },
	{ .key = "stream", .kind = K_STR, .choices = stream_faults + 1 },
	{ .key = "content_type", .kind = K_STR },
	{ .key = "chunk_size", .kind = K_INT, .min = 1, .max = INT32_MAX },
	{ .key = "chunk_delay_ms", .kind = K_INT, .max = INT32_MAX },
	{ .key = NULL }
};

static const struct rule fault_rules[] = {
	{ .key = "route", .kind = K_STR, .required = 1, .choices = route_names },
	{ .key = "times", .kind = K_INT, .min = 1, .max = INT32_MAX },
	{ .key = "match", .kind = K_OBJ, .sub = match_rules },
	{ .key = "action", .kind = K_ANY, .required = 1 },
	{ .key = NULL }
};

static const struct rule script_rules[] = {
	{ .key = "faults", .kind = K_OBJS, .required = 1, .sub = fault_rules },
	{ .key = NULL }
};

static int
check_object(json_object *obj, const struct rule *rules, const char *path,
             char *why, size_t whylen);

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
		snprintf(why, whylen, "%s: unknown value \"%s\" (one of", path,
		         json_object_get_string(v));
		for (size_t i = 0; r->choices[i]; i++) {
			size_t used = strlen(why);

			snprintf(why + used, whylen - used, "%s %s",
			         i ? "," : "", r->choices[i]);
		}
		if (strlen(why) + 2 < whylen)
			strcat(why, ")");
		return -1;
	case K_STRS:
		if (json_object_is_type(v, json_type_string) || is_string_list(v))
			return 0;
		snprintf(why, whylen, "%s: expected a string or an array of "
		         "strings", path);
		return -1;
	case K_STRMAP:
		if (is_string_map(v))
			return 0;
		snprintf(why, whylen, "%s: expected an object of strings", path);
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

static int
is_choice(const char *s, const char *const *choices)
{
	for (size_t i = 0; choices[i] != NULL; i++)
		if (strcmp(s, choices[i]) == 0)
			return 1;
	return 0;
}

/* An action given as a string is short for an object: "drop",
 * "drop_after" or a stream fault.  Then the combinations. */
static int
check_action(json_object *fault, const char *path, char *why,
             size_t whylen)
{
	json_object *a = jget(fault, "action");
	const char *route = jstr(fault, "route");
	char sub[256];

	snprintf(sub, sizeof(sub), "%.200s.action", path);
	if (json_object_is_type(a, json_type_string)) {
		const char *s = json_object_get_string(a);
		json_object *obj = json_object_new_object();

		if (strcmp(s, "drop") == 0 || strcmp(s, "drop_after") == 0) {
			put_bool(obj, s, 1);
		} else if (is_choice(s, stream_faults + 1)) {
			put_str(obj, "stream", s);
		} else {
			json_object_put(obj);
			snprintf(why, whylen, "%s: unknown value \"%s\"", sub, s);
			return -1;
		}
		put(fault, "action", obj);
		a = obj;
	}
	if (check_object(a, action_rules, sub, why, whylen) != 0)
		return -1;
	if (jget(a, "status") && jget(a, "status_after")) {
		snprintf(why, whylen, "%s: \"status\" and \"status_after\" "
		         "exclude each other", sub);
		return -1;
	}
	if ((jbool(a, "drop", 0) || jbool(a, "drop_after", 0)) &&
	    (jget(a, "status") || jget(a, "status_after") || jget(a, "stream"))) {
		snprintf(why, whylen, "%s: a drop excludes \"status\", "
		         "\"status_after\" and \"stream\"", sub);
		return -1;
	}
	if (jget(a, "stream") && strcmp(route, "cmd") != 0 &&
	    strcmp(route, "cmd_logs") != 0) {
		snprintf(why, whylen, "%s.stream: only for the routes \"cmd\" and "
		         "\"cmd_logs\"", sub);
		return -1;
	}
	if ((jget(a, "chunk_size") || jget(a, "chunk_delay_ms")) &&
	    strcmp(route, "fs_read") != 0) {
		snprintf(why, whylen, "%s.%s: only for the route \"fs_read\"", sub,
		         jget(a, "chunk_size") ? "chunk_size" : "chunk_delay_ms");
		return -1;
	}
	return 0;
}

/* Parse and check a fault script.  [caller-owned], or NULL with why. */
static json_object *
script_parse(const char *text, size_t len, char *why, size_t whylen)
{
	json_object *root = parse_json(text, len, why, whylen), *faults;

	if (root == NULL)
		return NULL;
	if (check_object(root, script_rules, "", why, whylen) != 0)
		goto bad;
	faults = jget(root, "faults");
	for (size_t i = 0; i < json_object_array_length(faults); i++) {
		char path[64];

		snprintf(path, sizeof(path), "faults[%zu]", i);
		if (check_action(json_object_array_get_idx(faults, i), path, why,
		                 whylen) != 0)
			goto bad;
	}
	return root;
bad:
	json_object_put(root);
	return NULL;
}

/* Take ownership of root; every fault unused.  The number of faults. */
static size_t
script_install(json_object *root)
{
	json_object *faults = jcopy(jget(root, "faults"));
	size_t n = json_object_array_length(faults);
	int64_t *left = xcalloc(n, sizeof(*left));

	for (size_t i = 0; i < n; i++)
		left[i] = jint(json_object_array_get_idx(faults, i), "times", 1);
	json_object_put(root);
	pthread_mutex_lock(&fake.lock);
	json_object_put(fake.faults);
	free(fake.left);
	fake.faults = faults;
	fake.left = left;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

/* A fault's action, copied out of the script for one request. */
struct action {
	int status, status_after, drop, drop_after;
	int64_t delay_ms, chunk_size, chunk_delay_ms;
	enum sfault stream;
	char *code, *message, *content_type;   /* owned or NULL */
	json_object *headers, *body;           /* owned copies or NULL */
};

static void
action_free(struct action *a)
{
	if (a == NULL)
		return;
	free(a->code);
	free(a->message);
	free(a->content_type);
	json_object_put(a->headers);
	json_object_put(a->body);
	free(a);
}

/* ---- requests ------------------------------------------------------ */

struct request {
	struct MHD_Connection *conn;
	int64_t ms;            /* when the headers arrived */
	const char *method;    /* borrowed from libmicrohttpd */
	const char *url;
	int rid;               /* enum rid, or -1 */
	const struct api_route *route;
	char *param[2];        /* owned: the wildcards of the path */
	struct buf body;       /* owned */
	int too_large;
	json_object *json;     /* owned: the body parsed, or NULL */
	int spool_fd;          /* fs/write: the body on disk, or -1 */
	int spool_err;         /* errno of a failed spool write */
	uint64_t spool_len;
	int fault;             /* index of the fault applied, or -1 */
	struct action *act;    /* owned, or NULL */
	json_object *entries;  /* owned: fs/write entries for the log */
	int logged;
};

static int
connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return info ? info->connect_fd : -1;
}

static int
request_fd(const struct request *rq)
{
	return connection_fd(rq->conn);
}

static const char *
query(const struct request *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *
header(const struct request *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, key);
}

static enum MHD_Result
add_query(void *cls, enum MHD_ValueKind kind, const char *key,
          const char *value)
{
	(void)kind;
	put_str(cls, key, value ? value : "");
	return MHD_YES;
}

/* Record the request in memory and in the log file, before the answer
 * is queued, so a client that has its answer finds the record.  status
 * 0: dropped.  The record takes rq->json and rq->entries. */
static void
log_request(struct request *rq, unsigned status)
{
	static const char *const logged_headers[] = {
		"authorization", "content-type", "content-length", "x-cwd",
		"user-agent", NULL
	};
	json_object *rec, *headers, *q;
	struct buf line = { 0 };

	if (rq->logged)
		return;
	rq->logged = 1;
	rec = json_object_new_object();
	headers = json_object_new_object();
	q = json_object_new_object();
	for (size_t i = 0; logged_headers[i] != NULL; i++) {
		const char *v = header(rq, logged_headers[i]);

		if (v != NULL)
			put_str(headers, logged_headers[i], v);
	}
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, add_query, q);
	pthread_mutex_lock(&fake.lock);
	put_int(rec, "n", (int64_t)++fake.logged);
	put_str(rec, "method", rq->method);
	put_str(rec, "path", rq->url);
	put(rec, "query", q);
	put(rec, "headers", headers);
	if (rq->json != NULL)
		put(rec, "body", rq->json);
	else if (rq->body.len > 0)
		put(rec, "body", json_object_new_string_len(rq->body.p,
		                                            (int)rq->body.len));
	else
		put(rec, "body", NULL);
	rq->json = NULL;
	if (rq->entries != NULL)
		put(rec, "entries", rq->entries);
	rq->entries = NULL;
	put_str(rec, "route", rq->rid >= 0 ? route_names[rq->rid] : NULL);
	put(rec, "status", status ? json_object_new_int((int)status) : NULL);
	if (status == 0)
		put_bool(rec, "dropped", 1);
	put(rec, "fault", rq->fault >= 0 ? json_object_new_int(rq->fault) : NULL);
	put_int(rec, "ms", rq->ms);
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

/* Queue resp (consumed) with content type ctype (NULL: none), after the
 * fault's headers and content type and the log record. */
static enum MHD_Result
finish(struct request *rq, unsigned status, struct MHD_Response *resp,
       const char *ctype)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	if (rq->act != NULL && rq->act->content_type != NULL)
		ctype = rq->act->content_type;
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (rq->act != NULL && rq->act->headers != NULL) {
		json_object_object_foreach(rq->act->headers, key, value)
			MHD_add_response_header(resp, key,
			                        json_object_get_string(value));
	}
	log_request(rq, status);
	ret = MHD_queue_response(rq->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Response *
text_response(const char *text, size_t len)
{
	return MHD_create_response_from_buffer(len, (void *)text,
	                                       MHD_RESPMEM_MUST_COPY);
}

/* Close the connection with a TCP RST.  libmicrohttpd shuts the socket
 * down for writing before it closes it, which would put a FIN ahead of
 * the RST; dissolving the association first (connect to AF_UNSPEC)
 * sends the RST at once. */
static void
reset_socket(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, &sa, sizeof(sa)) != 0 && errno != ENOTCONN)
		fprintf(stderr, PROG ": cannot reset the connection: %s\n",
		        strerror(errno));
}

/* The request was read; the connection ends without an answer. */
static enum MHD_Result
drop(struct request *rq)
{
	log_request(rq, 0);
	reset_socket(request_fd(rq));
	return MHD_NO;
}

static json_object *
error_doc(const char *code, const char *message)
{
	json_object *doc = json_object_new_object();
	json_object *err = json_object_new_object();

	put_str(err, "code", code);
	put_str(err, "message", message);
	put(doc, "error", err);
	return doc;
}

/* {"error":{"code","message"}} with status, never replaced by a fault. */
static enum MHD_Result
answer_error(struct request *rq, unsigned status, const char *code,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result
answer_error(struct request *rq, unsigned status, const char *code,
             const char *fmt, ...)
{
	json_object *doc;
	const char *text;
	struct MHD_Response *resp;
	char *message;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		abort();
	va_end(ap);
	doc = error_doc(code, message);
	free(message);
	text = json_text(doc);
	resp = text_response(text, strlen(text));
	json_object_put(doc);
	return finish(rq, status, resp, "application/json");
}

static const struct {
	unsigned status;
	const char *code, *message;
} status_defaults[] = {
	{ 400, "bad_request", "Invalid request" },
	{ 401, "unauthorized", "Missing or invalid token" },
	{ 402, "payment_required", "Payment required" },
	{ 403, "forbidden", "Not authorized" },
	{ 404, "not_found", "Not found" },
	{ 409, "conflict", "Conflict" },
	{ 410, "sandbox_stopped",
	  "Sandbox has stopped execution and is no longer available" },
	{ 422, "sandbox_stopping", "Sandbox is stopping" },
	{ 429, "rate_limited", "Too many requests" },
};

/* The answer of a scripted status: the fault's body, or an error with
 * its code and message (defaults by status). */
static enum MHD_Result
fault_answer(struct request *rq, unsigned status)
{
	const struct action *a = rq->act;
	const char *code = status >= 500 ? "internal_server_error" : "error";
	const char *message = status >= 500 ? "An unexpected error occurred"
	                                    : "The request failed";
	struct MHD_Response *resp;
	json_object *doc;

	if (a->body != NULL) {
		const char *text = json_object_is_type(a->body, json_type_string) ?
		                   json_object_get_string(a->body) :
		                   json_text(a->body);

		return finish(rq, status, text_response(text, strlen(text)),
		              "application/json");
	}
	for (size_t i = 0; i < sizeof(status_defaults) /
	     sizeof(status_defaults[0]); i++) {
		if (status_defaults[i].status == status) {
			code = status_defaults[i].code;
			message = status_defaults[i].message;
		}
	}
	doc = error_doc(a->code ? a->code : code,
	                a->message ? a->message : message);
	if (status == 429) {
		/* Vercel REST's rate-limit details; the SDK reads only
		 * Retry-After. */
		json_object *limit = json_object_new_object();
		int64_t reset = now_ms() + 60000;

		put_int(limit, "remaining", 0);
		put_int(limit, "reset", reset / 1000);
		put_int(limit, "resetMs", reset);
		put_int(limit, "total", 100);
		put(jget(doc, "error"), "limit", limit);
	}
	resp = text_response(json_text(doc), strlen(json_text(doc)));
	json_object_put(doc);
	return finish(rq, status, resp, "application/json");
}

/* A successful JSON answer (doc consumed), unless the fault says to
 * answer otherwise now that the operation is done. */
static enum MHD_Result
answer(struct request *rq, unsigned status, json_object *doc)
{
	struct MHD_Response *resp;

	if (status < 300 && rq->act != NULL && rq->act->drop_after) {
		json_object_put(doc);
		return drop(rq);
	}
	if (status < 300 && rq->act != NULL && rq->act->status_after) {
		json_object_put(doc);
		return fault_answer(rq, (unsigned)rq->act->status_after);
	}
	resp = text_response(json_text(doc), strlen(json_text(doc)));
	json_object_put(doc);
	return finish(rq, status, resp, "application/json");
}

/* {key: value} (value consumed). */
static json_object *
doc1(const char *key, json_object *value)
{
	json_object *doc = json_object_new_object();

	put(doc, key, value);
	return doc;
}

/* Take the first fault left for this request, if any (rq->act). */
static void
pick_fault(struct request *rq)
{
	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < json_object_array_length(fake.faults); i++) {
		json_object *f = json_object_array_get_idx(fake.faults, i);
		json_object *m = jget(f, "match"), *a = jget(f, "action"), *bc;
		struct action *act;
		int ok = 1;

		if (fake.left[i] <= 0 || strcmp(jstr(f, "route"),
		                                route_names[rq->rid]) != 0)
			continue;
		if (jstr(m, "path_contains") &&
		    strstr(rq->url, jstr(m, "path_contains")) == NULL)
			continue;
		bc = jget(m, "body_contains");
		for (size_t k = 0; bc != NULL && ok &&
		     k < (json_object_is_type(bc, json_type_array) ?
		          json_object_array_length(bc) : 1); k++) {
			const char *needle = json_object_is_type(bc,
				json_type_array) ? json_object_get_string(
				json_object_array_get_idx(bc, k)) :
				json_object_get_string(bc);

			ok = rq->body.p != NULL && strstr(rq->body.p, needle);
		}
		/* Stream and content-type faults of cmd are for waiting
		 * requests only. */
		if (rq->rid == R_CMD && (jget(a, "stream") ||
		    jget(a, "content_type")) && !jbool(rq->json, "wait", 0))
			ok = 0;
		if (!ok)
			continue;
		fake.left[i]--;
		rq->fault = (int)i;
		act = xcalloc(1, sizeof(*act));
		act->status = (int)jint(a, "status", 0);
		act->status_after = (int)jint(a, "status_after", 0);
		act->drop = jbool(a, "drop", 0);
		act->drop_after = jbool(a, "drop_after", 0);
		act->delay_ms = jint(a, "delay_ms", 0);
		act->chunk_size = jint(a, "chunk_size", 0);
		act->chunk_delay_ms = jint(a, "chunk_delay_ms", 0);
		for (int k = 1; stream_faults[k] != NULL; k++)
			if (jstr(a, "stream") &&
			    strcmp(jstr(a, "stream"), stream_faults[k]) == 0)
				act->stream = (enum sfault)k;
		act->code = xstrdup(jstr(a, "code"));
		act->message = xstrdup(jstr(a, "message"));
		act->content_type = xstrdup(jstr(a, "content_type"));
		act->headers = jcopy(jget(a, "headers"));
		act->body = jcopy(jget(a, "body"));
		rq->act = act;
		break;
	}
	pthread_mutex_unlock(&fake.lock);
}

/* ---- sandboxes ----------------------------------------------------- */

static const char *const runtimes[] = {
	"node26", "node24", "node22", "python3.13", NULL
};

/* The fields create and PATCH share.  0, or -1 with why. */
static int
check_config(json_object *b, char *why, size_t whylen)
{
	json_object *v, *vcpus;
	int64_t n;

	if ((v = jget(b, "ports")) != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			snprintf(why, whylen, "`ports` should be array.");
			return -1;
		}
		if (json_object_array_length(v) > 15) {
			snprintf(why, whylen, "`ports` should NOT have more than 15 "
			         "items.");
			return -1;
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *p = json_object_array_get_idx(v, i);

			if (!json_object_is_type(p, json_type_int) ||
			    json_object_get_int64(p) < 1 ||
			    json_object_get_int64(p) > 65535) {
				snprintf(why, whylen, "`ports[%zu]` should be an integer "
				         "from 1 to 65535.", i);
				return -1;
			}
		}
	}
	if ((v = jget(b, "resources")) != NULL) {
		if (!json_object_is_type(v, json_type_object)) {
			snprintf(why, whylen, "`resources` should be object.");
			return -1;
		}
		vcpus = jget(v, "vcpus");
		n = json_object_is_type(vcpus, json_type_int) ?
		    json_object_get_int64(vcpus) : -1;
		if (vcpus != NULL && n != 1 && (n < 2 || n > 8 || n % 2 != 0)) {
			snprintf(why, whylen, "`resources.vcpus` should be 1 or an "
			         "even number up to 8.");
			return -1;
		}
	}
	if ((v = jget(b, "tags")) != NULL) {
		if (!is_string_map(v)) {
			snprintf(why, whylen, "`tags` should be an object of "
			         "strings.");
			return -1;
		}
		if (json_object_object_length(v) > 5) {
			snprintf(why, whylen, "`tags` should NOT have more than 5 "
			         "properties.");
			return -1;
		}
	}
	if ((v = jget(b, "timeout")) != NULL &&
	    (!json_object_is_type(v, json_type_int) ||
	     json_object_get_int64(v) < 1)) {
		snprintf(why, whylen, "`timeout` should be a positive integer.");
		return -1;
	}
	if ((v = jget(b, "env")) != NULL && !is_string_map(v)) {
		snprintf(why, whylen, "`env` should be an object of strings.");
		return -1;
	}
	if ((v = jget(b, "networkPolicy")) != NULL &&
	    !json_object_is_type(v, json_type_object)) {
		snprintf(why, whylen, "`networkPolicy` should be object.");
		return -1;
	}
	if ((v = jget(b, "persistent")) != NULL &&
	    !json_object_is_type(v, json_type_boolean)) {
		snprintf(why, whylen, "`persistent` should be boolean.");
		return -1;
	}
	if ((v = jget(b, "runtime")) != NULL &&
	    (!json_object_is_type(v, json_type_string) ||
	     !is_choice(json_object_get_string(v), runtimes))) {
		snprintf(why, whylen, "`runtime` should be equal to one of the "
		         "allowed values: node26, node24, node22, python3.13.");
		return -1;
	}
	return 0;
}

/* Fields PATCH accepts and the fake only echoes back. */
static const char *const echoed_fields[] = {
	"snapshotExpiration", "keepLastSnapshots", "networkId", "region",
	"failoverRegions", "mounts", NULL
};

/* Apply the shared fields of b to sb (lock held). */
static void
apply_config(struct sandbox *sb, json_object *b)
{
	json_object *v;

	if ((v = jget(b, "persistent")) != NULL)
		sb->persistent = json_object_get_boolean(v);
	if ((v = jget(jget(b, "resources"), "vcpus")) != NULL)
		sb->vcpus = json_object_get_int64(v);
	if ((v = jget(b, "timeout")) != NULL)
		sb->timeout = json_object_get_int64(v);
	if ((v = jget(b, "runtime")) != NULL) {
		free(sb->runtime);
		sb->runtime = xstrdup(json_object_get_string(v));
	}
	if ((v = jget(b, "ports")) != NULL) {
		json_object_put(sb->ports);
		sb->ports = jcopy(v);
	}
	if ((v = jget(b, "tags")) != NULL) {
		json_object_put(sb->tags);
		sb->tags = jcopy(v);
	}
	if ((v = jget(b, "env")) != NULL) {
		json_object_put(sb->env);
		sb->env = jcopy(v);
	}
	if ((v = jget(b, "networkPolicy")) != NULL) {
		json_object_put(sb->policy);
		sb->policy = policy_response(v);
	}
	for (size_t i = 0; echoed_fields[i] != NULL; i++) {
		if (!json_object_object_get_ex(b, echoed_fields[i], &v))
			continue;
		if (v == NULL)
			json_object_object_del(sb->extra, echoed_fields[i]);
		else
			put(sb->extra, echoed_fields[i], jcopy(v));
	}
}

/* A new running (or pending) session of sb, now current (lock held). */
static struct session *
session_new(struct sandbox *sb, const char *snapshot, const char *status)
{
	struct session *se = xcalloc(1, sizeof(*se));
	int64_t t = now_ms();

	new_id(se->id, "sbx_");
	se->sb = sb;
	se->sandbox = xstrdup(sb->name);
	se->project = xstrdup(sb->project);
	se->dir = xstrdup(sb->dir);
	se->cwd = xstrdup(sb->cwd);
	se->runtime = xstrdup(sb->runtime);
	se->source_snapshot = xstrdup(snapshot);
	se->policy = jcopy(sb->policy);
	se->vcpus = sb->vcpus;
	se->memory = 2048 * sb->vcpus;
	se->timeout = sb->timeout;
	se->requested_at = se->created_at = se->updated_at = t;
	se->status = status;
	if (strcmp(status, "running") == 0)
		se->started_at = t;
	se->next = fake.sessions;
	fake.sessions = se;
	free(sb->session);
	sb->session = xstrdup(se->id);
	return se;
}

/* The session as stopped (lock held): its commands are killed. */
static void
session_stop(struct session *se, const char *status)
{
	int64_t t = now_ms();

	kill_session_commands(se->id);
	if (strcmp(se->status, "stopped") == 0 ||
	    strcmp(se->status, "failed") == 0 ||
	    strcmp(se->status, "aborted") == 0)
		return;
	se->status = status;
	se->requested_stop_at = se->stopped_at = se->updated_at = t;
}

/* {sandbox, session, routes, resumed} (lock held). */
static json_object *
sandbox_answer(struct sandbox *sb, struct session *se, int resumed)
{
	json_object *doc = json_object_new_object();

	put(doc, "sandbox", sandbox_json(sb));
	put(doc, "session", session_json(se));
	put(doc, "routes", routes_json(sb));
	put_bool(doc, "resumed", resumed);
	return doc;
}

/* Move a tree out of the way under the lock (fast), so that a new
 * sandbox of the same name never meets it; it is removed later.  The
 * path to remove [caller-owned], or NULL. */
static char *
trash(const char *dir)
{
	char id[40], *to;

	new_id(id, "trash-");
	to = xasprintf("%s/tmp/%s", fake.root, id);
	if (rename(dir, to) != 0) {
		free(to);
		return NULL;
	}
	return to;
}

static void
trash_empty(char *path)
{
	if (path != NULL)
		remove_tree(path);
	free(path);
}

/* user:password@ for an http(s) URL, percent-encoded.  [caller-owned] */
static char *
url_with_credentials(const char *url, const char *user, const char *pass)
{
	const char *rest = strstr(url, "://");
	struct buf b = { 0 };
	const char *parts[2] = { user ? user : "", pass };

	if (rest == NULL || (user == NULL && pass == NULL) ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return xstrdup(url);
	rest += 3;
	buf_add(&b, url, (size_t)(rest - url));
	for (int k = 0; k < 2; k++) {
		if (k == 1 && pass == NULL)
			break;
		if (k == 1)
			buf_str(&b, ":");
		for (const unsigned char *s = (const unsigned char *)parts[k];
		     *s; s++) {
			char esc[4];

			if (isalnum(*s) || strchr("-._~", *s)) {
				buf_add(&b, (const char *)s, 1);
			} else {
				snprintf(esc, sizeof(esc), "%%%02X", *s);
				buf_str(&b, esc);
			}
		}
	}
	buf_str(&b, "@");
	buf_str(&b, rest);
	return b.p;
}

/* s with every secret blanked.  [caller-owned] */
static char *
redact(const char *s, const char *secret)
{
	struct buf b = { 0 };
	const char *hit;

	buf_str(&b, "");
	if (secret == NULL || *secret == '\0')
		return buf_str(&b, s), b.p;
	while ((hit = strstr(s, secret)) != NULL) {
		buf_add(&b, s, (size_t)(hit - s));
		buf_str(&b, "***");
		s = hit + strlen(secret);
	}
	buf_str(&b, s);
	return b.p;
}

static int
git_source(json_object *src, const char *cwd, char **why)
{
	const char *revision = jstr(src, "revision"), *pass = jstr(src, "password");
	char *url = url_with_credentials(jstr(src, "url"), jstr(src, "username"),
	                                 pass);
	char depth[32], *tail = NULL, *clean;
	char *argv[12];
	int n = 0, rc;

	snprintf(depth, sizeof(depth), "%lld", (long long)jint(src, "depth", 0));
	argv[n++] = "git";
	argv[n++] = "clone";
	argv[n++] = "-q";
	if (jint(src, "depth", 0) > 0) {
		argv[n++] = "--depth";
		argv[n++] = depth;
	}
	argv[n++] = "--";
	argv[n++] = url;
	argv[n++] = (char *)cwd;
	argv[n] = NULL;
	rc = run_sync(argv, NULL, &tail);
	if (rc == 0 && revision != NULL) {
		char *co[] = { "git", "-C", (char *)cwd, "checkout", "-q",
		               (char *)revision, NULL };

		free(tail);
		rc = run_sync(co, NULL, &tail);
		if (rc != 0) {
			/* A revision a shallow clone lacks: fetch it. */
			char *fetch[] = { "git", "-C", (char *)cwd, "fetch", "-q",
			                  "origin", (char *)revision, NULL };
			char *head[] = { "git", "-C", (char *)cwd, "checkout", "-q",
			                 "FETCH_HEAD", NULL };

			free(tail);
			rc = run_sync(fetch, NULL, &tail);
			if (rc == 0) {
				free(tail);
				rc = run_sync(head, NULL, &tail);
			}
		}
	}
	if (rc != 0) {
		clean = redact(tail, pass);
		*why = xasprintf("git failed (exit %d): %s", rc, clean);
		free(clean);
	}
	free(tail);
	free(url);
	return rc == 0 ? 0 : -1;
}

/* Extract a local .tar.gz into cwd. */
static int
tarball_source(const char *url, const char *cwd, char **why)
{
	const char *path = url + 7;
	struct archive *a, *w;
	struct archive_entry *e;
	int r, ret = 0;

	if (strncmp(url, "file://", 7) != 0) {
		*why = xasprintf(PROG " fetches only file:// tarballs, not %s", url);
		return -1;
	}
	if (strncmp(path, "localhost/", 10) == 0)
		path += 9;
	a = archive_read_new();
	w = archive_write_disk_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_TIME |
		ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	if (archive_read_open_filename(a, path, IO_BLOCK) != ARCHIVE_OK) {
		*why = xasprintf("cannot read the tarball %s: %s", path,
		                 archive_error_string(a));
		ret = -1;
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		char *full = xasprintf("%s/%s", cwd, archive_entry_pathname(e));
		const char *link = archive_entry_hardlink(e);
		const void *block;
		size_t size;
		la_int64_t off;

		archive_entry_set_pathname(e, full);
		free(full);
		if (link != NULL) {
			full = xasprintf("%s/%s", cwd, link);
			archive_entry_set_hardlink(e, full);
			free(full);
		}
		if (archive_write_header(w, e) != ARCHIVE_OK) {
			*why = xasprintf("cannot extract the tarball: %s",
			                 archive_error_string(w));
			ret = -1;
			goto out;
		}
		while ((r = archive_read_data_block(a, &block, &size, &off)) ==
		       ARCHIVE_OK)
			if (archive_write_data_block(w, block, size, off) !=
			    ARCHIVE_OK)
				break;
		archive_write_finish_entry(w);
	}
	if (r != ARCHIVE_EOF) {
		*why = xasprintf("cannot read the tarball: %s",
		                 archive_error_string(a));
		ret = -1;
	}
out:
	archive_read_free(a);
	archive_write_free(w);
	return ret;
}

static int
valid_name(const char *s)
{
	return *s != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0 && strlen(s) <= 255;
}

static enum MHD_Result
h_create(struct request *rq)
{
	json_object *b = rq->json, *src = jget(b, "source"), *doc;
	int v3 = strncmp(rq->url, "/api/v3/", 8) == 0;
	const char *runtime = jstr(b, "runtime"), *type = jstr(src, "type");
	const char *snap_id = NULL, *name;
	char why[512], gen[64], *snap_dir = NULL, *snap_runtime = NULL;
	char *err = NULL, *dir;
	struct sandbox *sb;
	struct session *se;
	int ok;

	if (!json_object_is_type(b, json_type_object))
		return answer_error(rq, 400, "bad_request",
		                    "Invalid request: the body should be object.");
	if (jstr(b, "projectId") == NULL)
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "should have required property 'projectId'.");
	if (!v3 && runtime == NULL)
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "should have required property 'runtime'.");
	if (check_config(b, why, sizeof(why)) != 0)
		return answer_error(rq, 400, "bad_request", "Invalid request: %s",
		                    why);
	if (jget(b, "name") != NULL && (jstr(b, "name") == NULL ||
	                                !valid_name(jstr(b, "name"))))
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`name` should be a non-empty string without "
		                    "slashes.");
	if (jget(b, "image") != NULL && jstr(b, "image") == NULL)
		return answer_error(rq, 400, "bad_request",
		                    "Invalid request: `image` should be string.");
	if (src != NULL) {
		if (type == NULL || (strcmp(type, "git") != 0 &&
		    strcmp(type, "tarball") != 0 && strcmp(type, "snapshot") != 0))
			return answer_error(rq, 400, "bad_request", "Invalid request: "
			                    "`source.type` should be equal to one of "
			                    "the allowed values: git, tarball, "
			                    "snapshot.");
		if (strcmp(type, "snapshot") != 0 && jstr(src, "url") == NULL)
			return answer_error(rq, 400, "bad_request", "Invalid request: "
			                    "`source.url` is required.");
		if (strcmp(type, "snapshot") == 0) {
			snap_id = jstr(src, "snapshotId");
			if (snap_id == NULL)
				return answer_error(rq, 400, "bad_request",
				                    "Invalid request: `source.snapshotId` "
				                    "is required.");
			if (!v3)
				return answer_error(rq, 400, "bad_request",
				                    "Invalid request: a snapshot source "
				                    "needs /v3/sandboxes.");
		}
	}
	if (snap_id != NULL) {
		struct snapshot *sn;

		pthread_mutex_lock(&fake.lock);
		sn = find_snapshot(snap_id);
		if (sn == NULL || sn->deleted ||
		    (sn->expires_at > 0 && sn->expires_at <= now_ms())) {
			pthread_mutex_unlock(&fake.lock);
			return answer_error(rq, 410, "snapshot_not_found",
			                    "Snapshot %s not found or expired", snap_id);
		}
		snap_dir = xstrdup(sn->dir);
		snap_runtime = xstrdup(sn->runtime);
		pthread_mutex_unlock(&fake.lock);
	}
	name = jstr(b, "name");
	if (name == NULL) {
		memcpy(gen, "sandbox-", 8);
		random_hex(gen + 8, 12);
		name = gen;
	}

	pthread_mutex_lock(&fake.lock);
	if (find_sandbox(name) != NULL) {
		pthread_mutex_unlock(&fake.lock);
		free(snap_dir);
		free(snap_runtime);
		return answer_error(rq, 409, "conflict", MSG_NAME_TAKEN);
	}
	sb = xcalloc(1, sizeof(*sb));
	sb->name = xstrdup(name);
	sb->project = xstrdup(jstr(b, "projectId"));
	sb->dir = xasprintf("%s/sandboxes/%s", fake.root, name);
	sb->cwd = xasprintf("%s/vercel/sandbox", sb->dir);
	sb->runtime = xstrdup(runtime ? runtime : snap_runtime);
	if (v3 && snap_id == NULL && runtime == NULL)
		sb->image = xstrdup(jstr(b, "image") ? jstr(b, "image")
		                                     : DEFAULT_IMAGE);
	else if (jstr(b, "image") != NULL)
		sb->image = xstrdup(jstr(b, "image"));
	memcpy(sb->sub, "sb-", 3);
	random_hex(sb->sub + 3, 10);
	sb->persistent = DEFAULT_PERSISTENT;
	sb->vcpus = DEFAULT_VCPUS;
	sb->timeout = DEFAULT_TIMEOUT_MS;
	sb->ports = json_object_new_array();
	sb->tags = json_object_new_object();
	sb->env = json_object_new_object();
	sb->policy = policy_response(NULL);
	sb->extra = json_object_new_object();
	sb->created_at = sb->updated_at = now_ms();
	apply_config(sb, b);
	sb->next = fake.sandboxes;
	fake.sandboxes = sb;
	se = session_new(sb, snap_id, "pending");
	dir = trash(sb->dir);    /* a leftover of an earlier run */
	pthread_mutex_unlock(&fake.lock);
	trash_empty(dir);

	ok = mkdir_p(sb->cwd, 0755) == 0;
	if (!ok)
		err = xasprintf("cannot make %s: %s", sb->cwd, strerror(errno));
	else if (snap_dir != NULL)
		ok = copy_tree(snap_dir, sb->dir, &err) == 0;
	else if (type != NULL && strcmp(type, "git") == 0)
		ok = git_source(src, sb->cwd, &err) == 0;
	else if (type != NULL && strcmp(type, "tarball") == 0)
		ok = tarball_source(jstr(src, "url"), sb->cwd, &err) == 0;
	free(snap_dir);
	free(snap_runtime);
	if (!ok) {
		enum MHD_Result ret;

		pthread_mutex_lock(&fake.lock);
		sb->deleted = 1;
		se->status = "failed";
		se->updated_at = now_ms();
		dir = trash(sb->dir);
		pthread_mutex_unlock(&fake.lock);
		trash_empty(dir);
		ret = answer_error(rq, 400, "bad_request", "Invalid request: %s",
		                   err);
		free(err);
		return ret;
	}
	pthread_mutex_lock(&fake.lock);
	se->status = "running";
	se->started_at = se->updated_at = now_ms();
	doc = sandbox_answer(sb, se, 0);
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

/* The sandbox of the path, checking ?projectId= (lock held). */
static struct sandbox *
path_sandbox(struct request *rq)
{
	struct sandbox *sb = find_sandbox(rq->param[0]);
	const char *project = query(rq, "projectId");

	if (sb != NULL && project != NULL && strcmp(project, sb->project) != 0)
		return NULL;
	return sb;
}

static enum MHD_Result
h_get_sandbox(struct request *rq)
{
	const char *resume = query(rq, "resume");
	struct sandbox *sb;
	struct session *se;
	json_object *doc;
	int resumed = 0;

	pthread_mutex_lock(&fake.lock);
	sb = path_sandbox(rq);
	if (sb == NULL) {
		pthread_mutex_unlock(&fake.lock);
		return answer_error(rq, 404, "not_found", "Sandbox %s not found",
		                    rq->param[0]);
	}
	se = find_session(sb->session);
	if (resume != NULL && strcmp(resume, "true") == 0 &&
	    strcmp(se->status, "running") != 0 &&
	    strcmp(se->status, "pending") != 0) {
		se = session_new(sb, NULL, "running");
		sb->updated_at = now_ms();
		resumed = 1;
	}
	doc = sandbox_answer(sb, se, resumed);
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

/* ?limit= and ?cursor=.  NULL, or what is wrong. */
static const char *
page_params(struct request *rq, size_t *offset, size_t *limit)
{
	const char *l = query(rq, "limit"), *c = query(rq, "cursor");
	char *end;
	long long v;

	*offset = 0;
	*limit = DEFAULT_LIMIT;
	if (l != NULL) {
		v = strtoll(l, &end, 10);
		if (*l == '\0' || *end != '\0' || v < 1 || v > MAX_LIMIT)
			return "Invalid request: `limit` should be an integer from 1 "
			       "to 200.";
		*limit = (size_t)v;
	}
	if (c != NULL && *c != '\0') {
		v = strtoll(c, &end, 10);
		if (*end != '\0' || v < 0)
			return "Invalid request: `cursor` is not a cursor this "
			       "server gave.";
		*offset = (size_t)v;
	}
	return NULL;
}

/* Sort keys of list items. */
struct item {
	void *rec;
	const char *name;
	int64_t key;
};

static int
item_cmp(const void *a, const void *b, void *arg)
{
	const struct item *x = a, *y = b;
	const char *by = arg;
	int c;

	if (strcmp(by, "name") == 0)
		c = strcmp(x->name, y->name);
	else
		c = x->key < y->key ? -1 : x->key > y->key;
	return c;
}

/* Sort items as the query says, and take the page: the list and the
 * pagination are put into doc under key (lock held). */
static void
page_out(struct request *rq, struct item *items, size_t n, size_t offset,
         size_t limit, json_object *(*to_json)(void *), const char *key,
         json_object *doc)
{
	const char *by = query(rq, "sortBy"), *order = query(rq, "sortOrder");
	json_object *list = json_object_new_array(), *page;
	size_t count = 0;

	if (by == NULL || strcmp(by, "name") != 0)
		by = "key";
	if (n > 1)   /* items may be NULL when there are none */
		qsort_r(items, n, sizeof(*items), item_cmp, (void *)by);
	if (order == NULL || strcmp(order, "asc") != 0) {
		for (size_t i = 0; i < n / 2; i++) {
			struct item t = items[i];

			items[i] = items[n - 1 - i];
			items[n - 1 - i] = t;
		}
	}
	for (size_t i = offset; i < n && count < limit; i++, count++)
		json_object_array_add(list, to_json(items[i].rec));
	page = json_object_new_object();
	put_int(page, "count", (int64_t)count);
	if (offset + count < n) {
		char next[32];

		snprintf(next, sizeof(next), "%zu", offset + count);
		put_str(page, "next", next);
	} else {
		put(page, "next", NULL);
	}
	put(doc, key, list);
	put(doc, "pagination", page);
}

static json_object *
sandbox_json_v(void *rec)
{
	return sandbox_json(rec);
}

static json_object *
session_json_v(void *rec)
{
	return session_json(rec);
}

static json_object *
snapshot_json_v(void *rec)
{
	return snapshot_json(rec);
}

static enum MHD_Result
h_list_sandboxes(struct request *rq)
{
	const char *project = query(rq, "project");
	const char *prefix = query(rq, "namePrefix"), *tags = query(rq, "tags");
	const char *by = query(rq, "sortBy"), *bad;
	struct item *items = NULL;
	size_t n = 0, offset, limit;
	json_object *doc;

	if ((bad = page_params(rq, &offset, &limit)) != NULL)
		return answer_error(rq, 400, "bad_request", "%s", bad);
	pthread_mutex_lock(&fake.lock);
	for (struct sandbox *sb = fake.sandboxes; sb != NULL; sb = sb->next) {
		struct session *se = find_session(sb->session);

		if (sb->deleted || (project && strcmp(project, sb->project)) ||
		    (prefix && strncmp(sb->name, prefix, strlen(prefix))))
			continue;
		if (tags != NULL && *tags != '\0') {
			const char *colon = strchr(tags, ':');
			char *key = xasprintf("%.*s", colon ? (int)(colon - tags)
			                                    : (int)strlen(tags), tags);
			const char *value = jstr(sb->tags, key);

			free(key);
			if (value == NULL || (colon && strcmp(value, colon + 1)))
				continue;
		}
		items = xrealloc(items, (n + 1) * sizeof(*items));
		items[n].rec = sb;
		items[n].name = sb->name;
		items[n].key = by && strcmp(by, "statusUpdatedAt") == 0 && se ?
		               se->updated_at : sb->created_at;
		n++;
	}
	doc = json_object_new_object();
	page_out(rq, items, n, offset, limit, sandbox_json_v, "sandboxes", doc);
	pthread_mutex_unlock(&fake.lock);
	free(items);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_delete_sandbox(struct request *rq)
{
	const char *orphans = query(rq, "deleteOrphanSnapshots");
	char **dirs = NULL;
	size_t ndirs = 0;
	struct sandbox *sb;
	struct session *se;
	json_object *doc;

	pthread_mutex_lock(&fake.lock);
	sb = path_sandbox(rq);
	if (sb == NULL) {
		pthread_mutex_unlock(&fake.lock);
		return answer_error(rq, 404, "not_found", "Sandbox %s not found",
		                    rq->param[0]);
	}
	se = find_session(sb->session);
	if (se != NULL)
		session_stop(se, "stopped");
	sb->deleted = 1;
	sb->updated_at = now_ms();
	if (orphans != NULL && strcmp(orphans, "true") == 0) {
		for (struct snapshot *sn = fake.snapshots; sn; sn = sn->next) {
			if (sn->deleted || strcmp(sn->sandbox, sb->name) != 0)
				continue;
			sn->deleted = 1;
			sn->updated_at = now_ms();
			dirs = xrealloc(dirs, (ndirs + 1) * sizeof(*dirs));
			dirs[ndirs++] = trash(sn->dir);
		}
	}
	dirs = xrealloc(dirs, (ndirs + 1) * sizeof(*dirs));
	dirs[ndirs++] = trash(sb->dir);
	doc = json_object_new_object();
	put(doc, "sandbox", sandbox_json(sb));
	put(doc, "routes", routes_json(sb));
	pthread_mutex_unlock(&fake.lock);
	for (size_t i = 0; i < ndirs; i++)
		trash_empty(dirs[i]);
	free(dirs);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_update_sandbox(struct request *rq)
{
	json_object *b = rq->json, *doc;
	struct sandbox *sb;
	char why[512];

	if (!json_object_is_type(b, json_type_object))
		return answer_error(rq, 400, "bad_request",
		                    "Invalid request: the body should be object.");
	if (check_config(b, why, sizeof(why)) != 0)
		return answer_error(rq, 400, "bad_request", "Invalid request: %s",
		                    why);
	pthread_mutex_lock(&fake.lock);
	sb = path_sandbox(rq);
	if (sb == NULL) {
		pthread_mutex_unlock(&fake.lock);
		return answer_error(rq, 404, "not_found", "Sandbox %s not found",
		                    rq->param[0]);
	}
	apply_config(sb, b);
	if (jstr(b, "currentSnapshotId") != NULL) {
		free(sb->snapshot);
		sb->snapshot = xstrdup(jstr(b, "currentSnapshotId"));
	}
	sb->updated_at = now_ms();
	doc = json_object_new_object();
	put(doc, "sandbox", sandbox_json(sb));
	put(doc, "routes", routes_json(sb));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

/* ---- sessions ------------------------------------------------------ */

/* Whether a session takes commands and file operations (lock held).
 * 0, or the status, code and message to refuse with. */
static unsigned
session_refusal(const struct session *se, const char **code,
                const char **message)
{
	const char *s = se->status;

	if (strcmp(s, "running") == 0 || strcmp(s, "pending") == 0)
		return 0;
	if (strcmp(s, "stopping") == 0) {
		*code = "sandbox_stopping";
		*message = "Sandbox is stopping";
		return 422;
	}
	if (strcmp(s, "snapshotting") == 0) {
		*code = "sandbox_snapshotting";
		*message = "Sandbox is being snapshotted";
		return 422;
	}
	*code = "sandbox_stopped";
	*message = "Sandbox has stopped execution and is no longer available";
	return 410;
}

/* The session of the path, or NULL with the refusal answered in *ret.
 * usable: it must also take commands and file operations. */
static struct session *
path_session(struct request *rq, int usable, enum MHD_Result *ret)
{
	const char *code = NULL, *message = NULL;
	struct session *se;
	unsigned status = 0;

	pthread_mutex_lock(&fake.lock);
	se = find_session(rq->param[0]);
	if (se != NULL && usable)
		status = session_refusal(se, &code, &message);
	pthread_mutex_unlock(&fake.lock);
	if (se == NULL) {
		*ret = answer_error(rq, 404, "not_found", "Session %s not found",
		                    rq->param[0]);
		return NULL;
	}
	if (status != 0) {
		*ret = answer_error(rq, status, code, "%s", message);
		return NULL;
	}
	return se;
}

static enum MHD_Result
h_get_session(struct request *rq)
{
	enum MHD_Result ret;
	struct session *se = path_session(rq, 0, &ret);
	json_object *doc;

	if (se == NULL)
		return ret;
	pthread_mutex_lock(&fake.lock);
	doc = json_object_new_object();
	put(doc, "session", session_json(se));
	put(doc, "routes", routes_json(se->sb));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_list_sessions(struct request *rq)
{
	const char *project = query(rq, "project"), *name = query(rq, "name");
	const char *bad;
	struct item *items = NULL;
	size_t n = 0, offset, limit;
	json_object *doc;

	if ((bad = page_params(rq, &offset, &limit)) != NULL)
		return answer_error(rq, 400, "bad_request", "%s", bad);
	pthread_mutex_lock(&fake.lock);
	for (struct session *se = fake.sessions; se != NULL; se = se->next) {
		if ((project && strcmp(project, se->project)) ||
		    (name && strcmp(name, se->sandbox)))
			continue;
		items = xrealloc(items, (n + 1) * sizeof(*items));
		items[n].rec = se;
		items[n].name = se->id;
		items[n].key = se->created_at;
		n++;
	}
	doc = json_object_new_object();
	page_out(rq, items, n, offset, limit, session_json_v, "sessions", doc);
	pthread_mutex_unlock(&fake.lock);
	free(items);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_stop(struct request *rq)
{
	enum MHD_Result ret;
	struct session *se = path_session(rq, 0, &ret);
	json_object *doc;

	if (se == NULL)
		return ret;
	pthread_mutex_lock(&fake.lock);
	session_stop(se, "stopped");
	doc = json_object_new_object();
	put(doc, "session", session_json(se));
	put(doc, "sandbox", sandbox_json(se->sb));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_extend(struct request *rq)
{
	json_object *d = jget(rq->json, "duration"), *doc;
	enum MHD_Result ret;
	struct session *se;

	if (!json_object_is_type(d, json_type_int) ||
	    json_object_get_int64(d) < 1000)
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`duration` should be an integer >= 1000.");
	se = path_session(rq, 1, &ret);
	if (se == NULL)
		return ret;
	pthread_mutex_lock(&fake.lock);
	se->timeout += json_object_get_int64(d);
	se->updated_at = now_ms();
	doc = doc1("session", session_json(se));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

/* ---- commands ------------------------------------------------------ */

/* A command's ndjson stream: for POST cmd with wait, the command line
 * first and last and the log lines between (with logs); for GET logs,
 * the log lines only.  Output stored so far is replayed, then followed
 * live until the command ends. */
enum phase { P_FIRST, P_LOGS, P_ERROR, P_END };

struct cstream {
	struct command *c;     /* records live until exit */
	int with_command, logs;
	enum sfault fault;
	char *code, *message;  /* owned: the error line's */
	int fd;                /* the client's socket; borrowed */
	enum phase phase;
	size_t next;           /* the next log entry to send */
	int sent_log;          /* a log line went out */
	struct buf line;       /* owned: the line being sent */
	size_t off;            /* bytes of it sent */
	size_t split;          /* pause once off reaches it; 0: no pause */
	int reset_after;       /* reset the connection after the line */
};

static void
cstream_free(void *cls)
{
	struct cstream *s = cls;

	free(s->code);
	free(s->message);
	free(s->line.p);
	free(s);
}

static void
set_line(struct cstream *s, char *text)
{
	s->line.len = 0;
	s->off = 0;
	s->split = 0;
	buf_str(&s->line, text);
	free(text);
}

static char *
error_line(const struct cstream *s)
{
	json_object *doc = json_object_new_object();
	json_object *data = json_object_new_object();
	char *line;

	put_str(doc, "stream", "error");
	put_str(data, "code", s->code ? s->code : "sandbox_stopped");
	put_str(data, "message", s->message ? s->message :
	        "Sandbox has stopped execution and is no longer available");
	put(doc, "data", data);
	line = xasprintf("%s\n", json_text(doc));
	json_object_put(doc);
	return line;
}

/* The line after a log or final line was chosen: faults that cut it. */
static void
shape_line(struct cstream *s, int is_log)
{
	if (s->fault == SF_RESET_MID_LINE && !s->sent_log) {
		s->line.len /= 2;
		s->reset_after = 1;
	} else if (s->fault == SF_SPLIT_UTF8 && is_log) {
		size_t i = 0;

		while (i < s->line.len && (unsigned char)s->line.p[i] < 0x80)
			i++;
		s->split = i < s->line.len ? i + 1 : s->line.len / 2;
	}
	s->sent_log = 1;
}

/* Put the next line in s->line.  0: a line; 1: the stream ends here;
 * -1: it breaks off (client gone, server stopping). */
static int
next_line(struct cstream *s)
{
	struct command *c = s->c;
	int stopped;

	switch (s->phase) {
	case P_FIRST:
		s->phase = P_LOGS;
		if (s->fault == SF_END_AFTER_START)
			s->phase = P_END;
		if (s->fault == SF_ERROR_LINE)
			s->phase = P_ERROR;
		if (s->with_command) {
			pthread_mutex_lock(&fake.lock);
			set_line(s, command_line(c, 1));
			pthread_mutex_unlock(&fake.lock);
			return 0;
		}
		return next_line(s);
	case P_LOGS:
		pthread_mutex_lock(&fake.lock);
		for (;;) {
			if (s->next < c->nents && !s->logs)
				s->next = c->nents;
			if (s->next < c->nents) {
				struct logent *e = &c->ents[s->next++];
				json_object *doc = json_object_new_object();

				put_str(doc, "stream", e->stream ? "stderr" : "stdout");
				put(doc, "data", json_object_new_string_len(e->data,
				                                            (int)e->len));
				set_line(s, xasprintf("%s\n", json_text(doc)));
				json_object_put(doc);
				pthread_mutex_unlock(&fake.lock);
				shape_line(s, 1);
				return 0;
			}
			if (c->done)
				break;
			if (stopping() || client_gone(s->fd)) {
				pthread_mutex_unlock(&fake.lock);
				return -1;
			}
			wait_changed();
		}
		stopped = c->stopped;
		if (!stopped && s->with_command && s->fault != SF_END_AFTER_LOGS)
			set_line(s, command_line(c, 0));
		pthread_mutex_unlock(&fake.lock);
		s->phase = P_END;
		if (stopped) {
			set_line(s, error_line(s));
			return 0;
		}
		if (!s->with_command || s->fault == SF_END_AFTER_LOGS) {
			if (s->fault == SF_RESET_MID_LINE && !s->sent_log) {
				/* Nothing to cut: reset right here. */
				s->line.len = s->off = 0;
				s->reset_after = 1;
				return 0;
			}
			return 1;
		}
		shape_line(s, 0);
		return 0;
	case P_ERROR:
		s->phase = P_END;
		set_line(s, error_line(s));
		return 0;
	case P_END:
		break;
	}
	return 1;
}

static ssize_t
cstream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct cstream *s = cls;
	size_t end, n;

	(void)pos;
	while (s->off == s->line.len) {
		int r;

		if (s->reset_after) {
			/* Let the client read the half line before the RST. */
			nap(-1, 100);
			reset_socket(s->fd);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		r = next_line(s);
		if (r > 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (s->split > 0 && s->off == s->split) {
		if (nap(s->fd, 100) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		s->split = 0;
	}
	end = s->split > 0 ? s->split : s->line.len;
	n = end - s->off;
	if (n > max)
		n = max;
	memcpy(out, s->line.p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static enum MHD_Result
stream_answer(struct request *rq, struct command *c, int with_command,
              int logs)
{
	struct cstream *s = xcalloc(1, sizeof(*s));
	struct MHD_Response *resp;

	s->c = c;
	s->with_command = with_command;
	s->logs = logs;
	s->fd = request_fd(rq);
	if (rq->act != NULL) {
		s->fault = rq->act->stream;
		if (s->fault == SF_ERROR_LINE) {
			s->code = xstrdup(rq->act->code);
			s->message = xstrdup(rq->act->message);
		}
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, IO_BLOCK,
	                                         cstream_read, s, cstream_free);
	if (resp == NULL) {
		cstream_free(s);
		return MHD_NO;
	}
	return finish(rq, 200, resp, NDJSON);
}

/* Wait until c has ended (lock held).  -1 when the client left or the
 * server is stopping first. */
static int
wait_command(struct request *rq, struct command *c)
{
	int fd = request_fd(rq);

	while (!c->done) {
		if (stopping() || client_gone(fd))
			return -1;
		wait_changed();
	}
	return 0;
}

/* The fault wants the operation done before it answers otherwise. */
static int
fault_after(const struct request *rq)
{
	return rq->act != NULL && (rq->act->status_after || rq->act->drop_after);
}

static enum MHD_Result
h_cmd(struct request *rq)
{
	json_object *b = rq->json, *args = jget(b, "args"), *doc;
	json_object *env = jget(b, "env"), *timeout = jget(b, "timeout");
	const char *command = jstr(b, "command"), *cwd = jstr(b, "cwd");
	const char *path = getenv("PATH");
	enum MHD_Result ret;
	struct session *se;
	struct command *c;
	struct env e = { 0 };
	struct stat st;
	char **argv, *dir, *why = NULL;
	size_t nargs;

	se = path_session(rq, 1, &ret);
	if (se == NULL)
		return ret;
	if (!json_object_is_type(b, json_type_object))
		return answer_error(rq, 400, "bad_request",
		                    "Invalid request: the body should be object.");
	if (command == NULL || *command == '\0')
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "should have required property 'command'.");
	if (args != NULL && !is_string_list(args))
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`args` should be an array of strings.");
	if (env != NULL && !is_string_map(env))
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`env` should be an object of strings.");
	if (jget(b, "cwd") != NULL && cwd == NULL)
		return answer_error(rq, 400, "bad_request",
		                    "Invalid request: `cwd` should be string.");
	if (timeout != NULL && (!json_object_is_type(timeout, json_type_int) ||
	                        json_object_get_int64(timeout) < 0))
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`timeout` should be a non-negative integer.");
	dir = cwd ? path_resolve(se->cwd, cwd) : xstrdup(se->cwd);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ret = answer_error(rq, 400, "bad_request", "Invalid request: the "
		                   "working directory %s does not exist.", dir);
		free(dir);
		return ret;
	}
	nargs = args ? json_object_array_length(args) : 0;
	argv = xcalloc(nargs + 2, sizeof(*argv));
	argv[0] = xstrdup(command);
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = xstrdup(json_object_get_string(
			json_object_array_get_idx(args, i)));
	env_set(&e, "PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
	env_set(&e, "HOME", se->cwd);
	env_set(&e, "LANG", "C.UTF-8");
	pthread_mutex_lock(&fake.lock);
	env_set_json(&e, se->sb->env);
	pthread_mutex_unlock(&fake.lock);
	env_set_json(&e, env);
	c = command_start(se, argv, dir, &e, timeout ?
	                  json_object_get_int64(timeout) : 0, &why);
	env_free(&e);
	free(dir);
	if (c == NULL) {
		strv_free(argv);
		ret = answer_error(rq, 500, "internal_server_error", "%s", why);
		free(why);
		return ret;
	}
	if (!jbool(b, "wait", 0)) {
		pthread_mutex_lock(&fake.lock);
		doc = doc1("command", command_json(c, 1));
		pthread_mutex_unlock(&fake.lock);
		return answer(rq, 200, doc);
	}
	if (fault_after(rq)) {
		pthread_mutex_lock(&fake.lock);
		if (wait_command(rq, c) != 0) {
			pthread_mutex_unlock(&fake.lock);
			return MHD_NO;
		}
		doc = doc1("command", command_json(c, 0));
		pthread_mutex_unlock(&fake.lock);
		return answer(rq, 200, doc);
	}
	return stream_answer(rq, c, 1, jbool(b, "logs", 0));
}

static enum MHD_Result
h_cmd_list(struct request *rq)
{
	enum MHD_Result ret;
	struct session *se = path_session(rq, 0, &ret);
	json_object *list, *doc;

	if (se == NULL)
		return ret;
	list = json_object_new_array();
	pthread_mutex_lock(&fake.lock);
	for (struct command *c = fake.commands; c != NULL; c = c->next)
		if (strcmp(c->session, se->id) == 0)
			json_object_array_add(list, command_json(c, 0));
	pthread_mutex_unlock(&fake.lock);
	/* Oldest first. */
	for (size_t i = 0, n = json_object_array_length(list); i < n / 2; i++) {
		json_object *a = json_object_get(json_object_array_get_idx(list, i));
		json_object *z = json_object_get(
			json_object_array_get_idx(list, n - 1 - i));

		json_object_array_put_idx(list, i, z);
		json_object_array_put_idx(list, n - 1 - i, a);
	}
	doc = doc1("commands", list);
	return answer(rq, 200, doc);
}

/* The command of the path, or NULL with 404 answered (lock not held). */
static struct command *
path_command(struct request *rq, enum MHD_Result *ret)
{
	struct command *c;

	pthread_mutex_lock(&fake.lock);
	c = find_session(rq->param[0]) ? find_command(rq->param[0],
	                                              rq->param[1]) : NULL;
	pthread_mutex_unlock(&fake.lock);
	if (c == NULL)
		*ret = answer_error(rq, 404, "not_found", "Command %s not found",
		                    rq->param[1]);
	return c;
}

static enum MHD_Result
h_cmd_get(struct request *rq)
{
	const char *w = query(rq, "wait");
	enum MHD_Result ret;
	struct command *c = path_command(rq, &ret);
	json_object *doc;

	if (c == NULL)
		return ret;
	pthread_mutex_lock(&fake.lock);
	if (w != NULL && strcmp(w, "true") == 0 && wait_command(rq, c) != 0) {
		pthread_mutex_unlock(&fake.lock);
		return MHD_NO;
	}
	doc = doc1("command", command_json(c, 0));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_cmd_logs(struct request *rq)
{
	enum MHD_Result ret;
	struct command *c = path_command(rq, &ret);

	if (c == NULL)
		return ret;
	if (fault_after(rq)) {
		pthread_mutex_lock(&fake.lock);
		if (wait_command(rq, c) != 0) {
			pthread_mutex_unlock(&fake.lock);
			return MHD_NO;
		}
		pthread_mutex_unlock(&fake.lock);
		return answer(rq, 200, json_object_new_object());
	}
	return stream_answer(rq, c, 0, 1);
}

static enum MHD_Result
h_cmd_kill(struct request *rq)
{
	json_object *sig = jget(rq->json, "signal"), *doc;
	enum MHD_Result ret;
	struct command *c;
	int signo = 15;

	if (path_session(rq, 1, &ret) == NULL)
		return ret;
	if (sig != NULL && (!json_object_is_type(sig, json_type_int) ||
	                    json_object_get_int64(sig) < 1 ||
	                    json_object_get_int64(sig) > 64))
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`signal` should be an integer from 1 to 64.");
	if (sig != NULL)
		signo = (int)json_object_get_int64(sig);
	c = path_command(rq, &ret);
	if (c == NULL)
		return ret;
	pthread_mutex_lock(&fake.lock);
	if (!c->done)
		kill(-c->pid, signo);
	doc = doc1("command", command_json(c, 0));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

/* ---- files --------------------------------------------------------- */

/* The absolute path a request names: path against cwd (itself against
 * the session's cwd), normalised.  NULL with a 400 answered when it
 * leaves the sandbox.  [caller-owned] */
static char *
sandbox_path(struct request *rq, struct session *se, const char *path,
             const char *cwd, enum MHD_Result *ret)
{
	char *base = cwd ? path_resolve(se->cwd, cwd) : xstrdup(se->cwd);
	char *full = path_resolve(base, path);

	free(base);
	if (!path_inside(se->dir, full)) {
		/* A fake-only refusal: the fake cannot confine commands, so
		 * it at least keeps file routes inside the sandbox. */
		*ret = answer_error(rq, 400, "bad_request",
		                    "path is outside the sandbox: %s", full);
		free(full);
		return NULL;
	}
	return full;
}

static int
media_type_is(const char *value, const char *type)
{
	size_t n = strlen(type);

	if (value == NULL)
		return 0;
	while (*value == ' ')
		value++;
	return strncasecmp(value, type, n) == 0 &&
	       (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

/* Write one regular-file entry's data to full, through a temporary file
 * in the same directory.  NULL, or what went wrong [caller-owned]. */
static char *
write_entry(struct archive *a, const char *full, mode_t mode)
{
	char *slash = strrchr(full, '/'), *parent, *tmp, *why = NULL;
	char *chunk;
	int fd;

	parent = xasprintf("%.*s", (int)(slash - full), full);
	if (*parent != '\0' && mkdir_p(parent, 0755) != 0) {
		why = xasprintf("cannot make %s: %s", parent, strerror(errno));
		free(parent);
		return why;
	}
	tmp = xasprintf("%s/.fake-vercel-XXXXXX", parent);
	free(parent);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		why = xasprintf("cannot write %s: %s", full, strerror(errno));
		free(tmp);
		return why;
	}
	chunk = xrealloc(NULL, IO_BLOCK);
	for (;;) {
		la_ssize_t n = archive_read_data(a, chunk, IO_BLOCK);
		size_t done = 0;

		if (n == 0)
			break;
		if (n < 0) {
			why = xasprintf("the archive is broken: %s",
			                archive_error_string(a));
			break;
		}
		while (done < (size_t)n) {
			ssize_t w = write(fd, chunk + done, (size_t)n - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				why = xasprintf("cannot write %s: %s", full,
				                strerror(errno));
				break;
			}
			done += (size_t)w;
		}
		if (why != NULL)
			break;
	}
	free(chunk);
	if (why == NULL && fchmod(fd, mode & 07777) != 0)
		why = xasprintf("cannot chmod %s: %s", full, strerror(errno));
	if (close(fd) != 0 && why == NULL)
		why = xasprintf("cannot write %s: %s", full, strerror(errno));
	if (why == NULL && rename(tmp, full) != 0)
		why = xasprintf("cannot write %s: %s", full, strerror(errno));
	if (why != NULL)
		unlink(tmp);
	free(tmp);
	return why;
}

static enum MHD_Result
h_fs_write(struct request *rq)
{
	const char *xcwd = header(rq, "x-cwd");
	struct archive_entry *e;
	struct archive *a;
	enum MHD_Result ret;
	struct session *se;
	char *base, *why = NULL;
	int r;

	se = path_session(rq, 1, &ret);
	if (se == NULL)
		return ret;
	if (!media_type_is(header(rq, "content-type"), "application/gzip"))
		return answer_error(rq, 400, "bad_request", "Invalid request: the "
		                    "content type should be application/gzip.");
	if (rq->spool_fd < 0 || rq->spool_err != 0)
		return answer_error(rq, 500, "internal_server_error",
		                    "cannot store the upload: %s",
		                    strerror(rq->spool_err ? rq->spool_err : EIO));
	/* Without x-cwd the real server extracts into the home directory,
	 * which is the working directory here. */
	base = xcwd ? path_resolve(se->cwd, xcwd) : xstrdup(se->cwd);
	lseek(rq->spool_fd, 0, SEEK_SET);
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, rq->spool_fd, IO_BLOCK) != ARCHIVE_OK) {
		why = xasprintf("Invalid request: the body is not a gzip'd tar "
		                "archive: %s", archive_error_string(a));
		goto out;
	}
	rq->entries = json_object_new_array();
	/* A warning (a name the locale cannot show) still gives an entry. */
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname_utf8(e);
		mode_t mode = archive_entry_mode(e);
		json_object *rec = json_object_new_object();
		char *full;

		if (name == NULL)
			name = archive_entry_pathname(e);
		if (name == NULL)
			name = "";
		put_str(rec, "name", name);
		put_int(rec, "size", (int64_t)archive_entry_size(e));
		put_int(rec, "mode", (int64_t)(mode & 07777));
		put_bool(rec, "pax", archive_format(a) ==
		         ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
		json_object_array_add(rq->entries, rec);
		full = path_resolve(base, name);
		if (archive_entry_filetype(e) == AE_IFDIR &&
		    !path_inside(se->dir, full)) {
			/* The parents of the sandbox, in an archive made from
			 * "/": nothing to make. */
			put_bool(rec, "skipped", 1);
			free(full);
			continue;
		}
		if (!path_inside(se->dir, full)) {
			why = xasprintf("path is outside the sandbox: %s", full);
			free(full);
			break;
		}
		if (archive_entry_filetype(e) == AE_IFDIR) {
			if (mkdir_p(full, 0755) != 0)
				why = xasprintf("cannot make %s: %s", full,
				                strerror(errno));
		} else if (archive_entry_filetype(e) == AE_IFREG) {
			why = write_entry(a, full, mode);
		} else {
			put_bool(rec, "skipped", 1);
		}
		free(full);
		if (why != NULL)
			break;
	}
	if (why == NULL && r != ARCHIVE_EOF)
		why = xasprintf("Invalid request: the archive is broken: %s",
		                archive_error_string(a));
out:
	archive_read_free(a);
	free(base);
	if (why != NULL) {
		ret = answer_error(rq, 400, "bad_request", "%s", why);
		free(why);
		return ret;
	}
	return answer(rq, 200, json_object_new_object());
}

struct download {
	int fd;                /* owned: the file */
	int sock;              /* the client's socket; borrowed */
	size_t chunk;
	int64_t delay_ms;
};

static void
download_free(void *cls)
{
	struct download *d = cls;

	close(d->fd);
	free(d);
}

static ssize_t
download_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct download *d = cls;
	ssize_t n;

	if (pos > 0 && d->delay_ms > 0 && nap(d->sock, d->delay_ms) != 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (max > d->chunk)
		max = d->chunk;
	do
		n = pread(d->fd, out, max, (off_t)pos);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static enum MHD_Result
h_fs_read(struct request *rq)
{
	const char *path = jstr(rq->json, "path"), *cwd = jstr(rq->json, "cwd");
	struct MHD_Response *resp;
	struct download *d;
	enum MHD_Result ret;
	struct session *se;
	struct stat st;
	char *full;
	int fd;

	se = path_session(rq, 1, &ret);
	if (se == NULL)
		return ret;
	if (path == NULL)
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "should have required property 'path'.");
	full = sandbox_path(rq, se, path, cwd, &ret);
	if (full == NULL)
		return ret;
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		free(full);
		/* No such file: 404 with an empty body. */
		return finish(rq, 404, text_response("", 0), NULL);
	}
	if (fd < 0 || fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		ret = answer_error(rq, 400, "bad_request", "Invalid request: "
		                   "cannot read %s: %s", full, fd >= 0 &&
		                   S_ISDIR(st.st_mode) ? "it is a directory"
		                                       : strerror(errno));
		if (fd >= 0)
			close(fd);
		free(full);
		return ret;
	}
	free(full);
	if (fault_after(rq)) {
		close(fd);
		return answer(rq, 200, json_object_new_object());
	}
	d = xcalloc(1, sizeof(*d));
	d->fd = fd;
	d->sock = request_fd(rq);
	d->chunk = rq->act && rq->act->chunk_size ? (size_t)rq->act->chunk_size
	                                          : IO_BLOCK;
	d->delay_ms = rq->act ? rq->act->chunk_delay_ms : 0;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, IO_BLOCK,
	                                         download_read, d, download_free);
	if (resp == NULL) {
		download_free(d);
		return MHD_NO;
	}
	return finish(rq, 200, resp, "application/octet-stream");
}

static enum MHD_Result
h_fs_mkdir(struct request *rq)
{
	const char *path = jstr(rq->json, "path"), *cwd = jstr(rq->json, "cwd");
	enum MHD_Result ret;
	struct session *se;
	char *full;

	se = path_session(rq, 1, &ret);
	if (se == NULL)
		return ret;
	if (path == NULL)
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "should have required property 'path'.");
	full = sandbox_path(rq, se, path, cwd, &ret);
	if (full == NULL)
		return ret;
	if (jbool(rq->json, "recursive", 0) ? mkdir_p(full, 0755) != 0
	                                    : mkdir(full, 0755) != 0) {
		ret = answer_error(rq, 400, "bad_request", "Invalid request: "
		                   "cannot make %s: %s", full,
		                   errno == EEXIST ? "it already exists" :
		                   errno == ENOENT ? "its parent does not exist" :
		                   strerror(errno));
		free(full);
		return ret;
	}
	free(full);
	return answer(rq, 200, json_object_new_object());
}

/* ---- snapshots ----------------------------------------------------- */

static enum MHD_Result
h_snapshot(struct request *rq)
{
	json_object *exp = jget(rq->json, "expiration"), *doc;
	struct snapshot *sn;
	enum MHD_Result ret;
	struct session *se;
	int64_t expiration = DEFAULT_SNAPSHOT_EXPIRATION_MS, t;
	char id[40], *dir, *why = NULL;
	int ok;

	if (exp != NULL && (!json_object_is_type(exp, json_type_int) ||
	                    json_object_get_int64(exp) < 0))
		return answer_error(rq, 400, "bad_request", "Invalid request: "
		                    "`expiration` should be a non-negative "
		                    "integer.");
	if (exp != NULL)
		expiration = json_object_get_int64(exp);
	se = path_session(rq, 1, &ret);
	if (se == NULL)
		return ret;
	pthread_mutex_lock(&fake.lock);
	kill_session_commands(se->id);
	se->status = "snapshotting";
	se->updated_at = now_ms();
	pthread_mutex_unlock(&fake.lock);

	new_id(id, "snap_");
	dir = xasprintf("%s/snapshots/%s", fake.root, id);
	ok = copy_tree(se->dir, dir, &why) == 0;
	t = now_ms();
	pthread_mutex_lock(&fake.lock);
	session_stop(se, "stopped");
	if (!ok) {
		pthread_mutex_unlock(&fake.lock);
		remove_tree(dir);
		free(dir);
		ret = answer_error(rq, 500, "internal_server_error",
		                   "cannot snapshot: %s", why);
		free(why);
		return ret;
	}
	se->snapshotted_at = t;
	sn = xcalloc(1, sizeof(*sn));
	memcpy(sn->id, id, sizeof(id));
	sn->session = xstrdup(se->id);
	sn->sandbox = xstrdup(se->sandbox);
	sn->project = xstrdup(se->project);
	sn->runtime = xstrdup(se->runtime);
	sn->dir = dir;
	pthread_mutex_unlock(&fake.lock);
	sn->size = tree_size(dir);
	pthread_mutex_lock(&fake.lock);
	sn->created_at = sn->updated_at = t;
	sn->expires_at = expiration > 0 ? t + expiration : 0;
	sn->next = fake.snapshots;
	fake.snapshots = sn;
	free(se->sb->snapshot);
	se->sb->snapshot = xstrdup(id);
	doc = json_object_new_object();
	put(doc, "snapshot", snapshot_json(sn));
	put(doc, "session", session_json(se));
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_snapshot_get(struct request *rq)
{
	struct snapshot *sn;
	json_object *doc;

	pthread_mutex_lock(&fake.lock);
	sn = find_snapshot(rq->param[0]);
	doc = sn ? doc1("snapshot", snapshot_json(sn)) : NULL;
	pthread_mutex_unlock(&fake.lock);
	if (doc == NULL)
		return answer_error(rq, 404, "not_found", "Snapshot %s not found",
		                    rq->param[0]);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_snapshot_delete(struct request *rq)
{
	struct snapshot *sn;
	json_object *doc = NULL;
	char *dir = NULL;

	pthread_mutex_lock(&fake.lock);
	sn = find_snapshot(rq->param[0]);
	if (sn != NULL && !sn->deleted) {
		sn->deleted = 1;
		sn->updated_at = now_ms();
		dir = trash(sn->dir);
	}
	if (sn != NULL)
		doc = doc1("snapshot", snapshot_json(sn));
	pthread_mutex_unlock(&fake.lock);
	trash_empty(dir);
	if (doc == NULL)
		return answer_error(rq, 404, "not_found", "Snapshot %s not found",
		                    rq->param[0]);
	return answer(rq, 200, doc);
}

static enum MHD_Result
h_snapshot_list(struct request *rq)
{
	const char *project = query(rq, "project"), *name = query(rq, "name");
	const char *bad;
	struct item *items = NULL;
	size_t n = 0, offset, limit;
	json_object *doc;

	if ((bad = page_params(rq, &offset, &limit)) != NULL)
		return answer_error(rq, 400, "bad_request", "%s", bad);
	pthread_mutex_lock(&fake.lock);
	for (struct snapshot *sn = fake.snapshots; sn != NULL; sn = sn->next) {
		if ((project && strcmp(project, sn->project)) ||
		    (name && strcmp(name, sn->sandbox)))
			continue;
		items = xrealloc(items, (n + 1) * sizeof(*items));
		items[n].rec = sn;
		items[n].name = sn->id;
		items[n].key = sn->created_at;
		n++;
	}
	doc = json_object_new_object();
	page_out(rq, items, n, offset, limit, snapshot_json_v, "snapshots", doc);
	pthread_mutex_unlock(&fake.lock);
	free(items);
	return answer(rq, 200, doc);
}

/* ---- the fake's own routes ----------------------------------------- */

static enum MHD_Result
c_faults(struct request *rq)
{
	json_object *root, *doc;
	char why[1024];
	size_t n;

	root = script_parse(rq->body.p, rq->body.len, why, sizeof(why));
	if (root == NULL)
		return answer_error(rq, 400, "bad_request", "%s", why);
	n = script_install(root);
	doc = json_object_new_object();
	put_bool(doc, "ok", 1);
	put_int(doc, "faults", (int64_t)n);
	return answer(rq, 200, doc);
}

static enum MHD_Result
c_requests(struct request *rq)
{
	struct MHD_Response *resp;

	pthread_mutex_lock(&fake.lock);
	resp = text_response(json_text(fake.log), strlen(json_text(fake.log)));
	pthread_mutex_unlock(&fake.lock);
	return finish(rq, 200, resp, "application/json");
}

static enum MHD_Result
c_clear_requests(struct request *rq)
{
	json_object *doc = json_object_new_object();

	pthread_mutex_lock(&fake.lock);
	json_object_put(fake.log);
	fake.log = json_object_new_array();
	pthread_mutex_unlock(&fake.lock);
	put_bool(doc, "ok", 1);
	return answer(rq, 200, doc);
}

static enum MHD_Result
c_state(struct request *rq)
{
	json_object *doc = json_object_new_object(), *list, *o;

	pthread_mutex_lock(&fake.lock);
	list = json_object_new_array();
	for (struct sandbox *sb = fake.sandboxes; sb != NULL; sb = sb->next) {
		o = sandbox_json(sb);
		put_str(o, "projectId", sb->project);
		put_bool(o, "deleted", sb->deleted);
		put_str(o, "dir", sb->dir);
		put(o, "ports", jcopy(sb->ports));
		put(o, "env", jcopy(sb->env));
		json_object_array_add(list, o);
	}
	put(doc, "sandboxes", list);
	list = json_object_new_array();
	for (struct session *se = fake.sessions; se != NULL; se = se->next) {
		o = session_json(se);
		put_str(o, "sandbox", se->sandbox);
		put_str(o, "projectId", se->project);
		json_object_array_add(list, o);
	}
	put(doc, "sessions", list);
	list = json_object_new_array();
	for (struct command *c = fake.commands; c != NULL; c = c->next) {
		size_t bytes = 0;

		for (size_t i = 0; i < c->nents; i++)
			bytes += c->ents[i].len;
		o = command_json(c, 0);
		put_int(o, "pid", c->pid);
		put_bool(o, "timedOut", c->timed_out);
		put_bool(o, "stoppedWithSession", c->stopped);
		put_int(o, "outputBytes", (int64_t)bytes);
		json_object_array_add(list, o);
	}
	put(doc, "commands", list);
	list = json_object_new_array();
	for (struct snapshot *sn = fake.snapshots; sn != NULL; sn = sn->next) {
		o = snapshot_json(sn);
		put_str(o, "sandbox", sn->sandbox);
		put_str(o, "projectId", sn->project);
		put_str(o, "dir", sn->dir);
		json_object_array_add(list, o);
	}
	put(doc, "snapshots", list);
	list = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(fake.faults); i++) {
		o = json_object_new_object();
		put_str(o, "route", jstr(json_object_array_get_idx(fake.faults, i),
		                         "route"));
		put_int(o, "left", fake.left[i]);
		json_object_array_add(list, o);
	}
	put(doc, "faults", list);
	put_str(doc, "root", fake.root);
	put_int(doc, "runningCommands", fake.runners);
	pthread_mutex_unlock(&fake.lock);
	return answer(rq, 200, doc);
}

static enum MHD_Result
c_session_status(struct request *rq)
{
	const char *want = jstr(rq->json, "status");
	struct session *se;
	json_object *doc = NULL;

	if (want == NULL || !is_choice(want, session_states))
		return answer_error(rq, 400, "bad_request", "\"status\" should be "
		                    "one of pending, running, stopping, stopped, "
		                    "failed, aborted, snapshotting");
	pthread_mutex_lock(&fake.lock);
	se = find_session(rq->param[0]);
	if (se != NULL) {
		for (size_t i = 0; session_states[i] != NULL; i++)
			if (strcmp(want, session_states[i]) == 0)
				se->status = session_states[i];
		se->updated_at = now_ms();
		doc = doc1("session", session_json(se));
	}
	pthread_mutex_unlock(&fake.lock);
	if (doc == NULL)
		return answer_error(rq, 404, "not_found", "Session %s not found",
		                    rq->param[0]);
	return answer(rq, 200, doc);
}

static enum MHD_Result
c_expire(struct request *rq)
{
	struct snapshot *sn;
	json_object *doc = NULL;

	pthread_mutex_lock(&fake.lock);
	sn = find_snapshot(rq->param[0]);
	if (sn != NULL) {
		sn->expires_at = now_ms();
		doc = doc1("snapshot", snapshot_json(sn));
	}
	pthread_mutex_unlock(&fake.lock);
	if (doc == NULL)
		return answer_error(rq, 404, "not_found", "Snapshot %s not found",
		                    rq->param[0]);
	return answer(rq, 200, doc);
}

/* ---- routing ------------------------------------------------------- */

struct api_route {
	const char *pattern;   /* after the prefix; '*' is one segment */
	const char *method;
	int rid;               /* enum rid; -1 for the fake's own */
	enum MHD_Result (*handle)(struct request *);
};

static const struct api_route api_routes[] = {
	{ "v2/sandboxes", "POST", R_CREATE, h_create },
	{ "v3/sandboxes", "POST", R_CREATE, h_create },
	{ "v2/sandboxes", "GET", R_LIST_SANDBOXES, h_list_sandboxes },
	{ "v2/sandboxes/sessions", "GET", R_LIST_SESSIONS, h_list_sessions },
	{ "v2/sandboxes/sessions/*", "GET", R_GET_SESSION, h_get_session },
	{ "v2/sandboxes/sessions/*/stop", "POST", R_STOP, h_stop },
	{ "v2/sandboxes/sessions/*/extend-timeout", "POST", R_EXTEND, h_extend },
	{ "v2/sandboxes/sessions/*/cmd", "POST", R_CMD, h_cmd },
	{ "v2/sandboxes/sessions/*/cmd", "GET", R_CMD_LIST, h_cmd_list },
	{ "v2/sandboxes/sessions/*/cmd/*", "GET", R_CMD_GET, h_cmd_get },
	{ "v2/sandboxes/sessions/*/cmd/*/logs", "GET", R_CMD_LOGS, h_cmd_logs },
	{ "v2/sandboxes/sessions/*/cmd/*/kill", "POST", R_CMD_KILL, h_cmd_kill },
	{ "v2/sandboxes/sessions/*/fs/write", "POST", R_FS_WRITE, h_fs_write },
	{ "v2/sandboxes/sessions/*/fs/read", "POST", R_FS_READ, h_fs_read },
	{ "v2/sandboxes/sessions/*/fs/mkdir", "POST", R_FS_MKDIR, h_fs_mkdir },
	{ "v2/sandboxes/sessions/*/snapshot", "POST", R_SNAPSHOT, h_snapshot },
	{ "v2/sandboxes/snapshots", "GET", R_SNAPSHOT_LIST, h_snapshot_list },
	{ "v2/sandboxes/snapshots/*", "GET", R_SNAPSHOT_GET, h_snapshot_get },
	{ "v2/sandboxes/snapshots/*", "DELETE", R_SNAPSHOT_DELETE,
	  h_snapshot_delete },
	{ "v2/sandboxes/*", "GET", R_GET_SANDBOX, h_get_sandbox },
	{ "v2/sandboxes/*", "DELETE", R_DELETE_SANDBOX, h_delete_sandbox },
	{ "v2/sandboxes/*", "PATCH", R_UPDATE_SANDBOX, h_update_sandbox },
	{ NULL, NULL, 0, NULL }
};

static const struct api_route control_routes[] = {
	{ "faults", "POST", -1, c_faults },
	{ "requests", "GET", -1, c_requests },
	{ "requests", "DELETE", -1, c_clear_requests },
	{ "state", "GET", -1, c_state },
	{ "sessions/*/status", "POST", -1, c_session_status },
	{ "snapshots/*/expire", "POST", -1, c_expire },
	{ NULL, NULL, 0, NULL }
};

/* How many wildcards pattern used to match path, or -1.  With param,
 * the wildcards' segments are stored there [caller-owned]. */
static int
match_pattern(const char *pat, const char *path, char **param)
{
	int wild = 0;

	for (;;) {
		const char *pe = strchrnul(pat, '/'), *se = strchrnul(path, '/');
		size_t pl = (size_t)(pe - pat), sl = (size_t)(se - path);

		if (sl == 0)
			return -1;
		if (pl == 1 && *pat == '*') {
			if (param != NULL && wild < 2)
				param[wild] = xasprintf("%.*s", (int)sl, path);
			wild++;
		} else if (pl != sl || strncmp(pat, path, pl) != 0) {
			return -1;
		}
		if (*pe == '\0' && *se == '\0')
			return wild;
		if (*pe == '\0' || *se == '\0')
			return -1;
		pat = pe + 1;
		path = se + 1;
	}
}

/* The route of url and method in table (path after prefix), with its
 * parameters; NULL when none.  allow, when given, gets the methods the
 * path takes [caller-owned], or NULL when the path is unknown. */
static const struct api_route *
find_route(const struct api_route *table, const char *prefix,
           const char *url, const char *method, char **param, char **allow)
{
	size_t plen = strlen(prefix);
	const struct api_route *found = NULL;
	struct buf methods = { 0 };
	int best = INT_MAX;

	if (allow != NULL)
		*allow = NULL;
	if (strncmp(url, prefix, plen) != 0)
		return NULL;
	url += plen;
	/* The pattern with the fewest wildcards wins: "sessions" before a
	 * sandbox named so. */
	for (const struct api_route *r = table; r->pattern != NULL; r++) {
		int w = match_pattern(r->pattern, url, NULL);

		if (w >= 0 && w < best)
			best = w;
	}
	for (const struct api_route *r = table; r->pattern != NULL; r++) {
		if (match_pattern(r->pattern, url, NULL) != best)
			continue;
		if (methods.len > 0)
			buf_str(&methods, ", ");
		buf_str(&methods, r->method);
		if (found == NULL && strcmp(r->method, method) == 0)
			found = r;
	}
	if (found != NULL && param != NULL)
		match_pattern(found->pattern, url, param);
	if (allow != NULL && found == NULL)
		*allow = methods.p, methods.p = NULL;
	free(methods.p);
	return found;
}

static enum MHD_Result
no_route(struct request *rq, const struct api_route *table,
         const char *prefix)
{
	struct MHD_Response *resp;
	json_object *doc;
	char *allow;

	find_route(table, prefix, rq->url, rq->method, NULL, &allow);
	if (allow == NULL)
		return answer_error(rq, 404, "not_found", "No route for %s %s",
		                    rq->method, rq->url);
	doc = error_doc("method_not_allowed", "Method not allowed");
	resp = text_response(json_text(doc), strlen(json_text(doc)));
	json_object_put(doc);
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	free(allow);
	return finish(rq, 405, resp, "application/json");
}

/* Authorization: Bearer and ?teamId=, as --token and --team want.  0, or
 * -1 with the refusal answered in *ret. */
static int
check_auth(struct request *rq, enum MHD_Result *ret)
{
	const char *auth = header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *team = query(rq, "teamId");

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    auth[7] == '\0') {
		*ret = answer_error(rq, 401, "unauthorized", "Missing or invalid "
		                    "authorization token");
		return -1;
	}
	if (fake.token != NULL && strcmp(auth + 7, fake.token) != 0) {
		*ret = answer_error(rq, 403, "forbidden", "Not authorized");
		return -1;
	}
	if (team == NULL || *team == '\0') {
		*ret = answer_error(rq, 400, "bad_request", MSG_NO_TEAM);
		return -1;
	}
	if (fake.team != NULL && strcmp(team, fake.team) != 0) {
		*ret = answer_error(rq, 403, "forbidden", "Not authorized");
		return -1;
	}
	return 0;
}

/* An API request, its body read.  In this order: the route (404, 405),
 * auth (401, 403, 400), the body (413, 400), then a fault, then the
 * operation. */
static enum MHD_Result
api_request(struct request *rq)
{
	enum MHD_Result ret;

	if (rq->route == NULL)
		return no_route(rq, api_routes, "/api/");
	if (check_auth(rq, &ret) != 0)
		return ret;
	if (rq->too_large)
		return answer_error(rq, 413, "payload_too_large",
		                    "The request body is too large");
	if (rq->rid != R_FS_WRITE && rq->body.len > 0 && rq->json == NULL)
		return answer_error(rq, 400, "bad_request",
		                    "Invalid request: the body is not JSON.");
	pick_fault(rq);
	if (rq->act != NULL) {
		if (nap(request_fd(rq), rq->act->delay_ms) != 0)
			return MHD_NO;
		if (rq->act->drop)
			return drop(rq);
		if (rq->act->status)
			return fault_answer(rq, (unsigned)rq->act->status);
	}
	return rq->route->handle(rq);
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
		rq->conn = conn;
		rq->ms = now_ms();
		rq->rid = -1;
		rq->fault = -1;
		rq->spool_fd = -1;
		rq->route = find_route(api_routes, "/api/", url, method, rq->param,
		                       NULL);
		if (rq->route != NULL)
			rq->rid = rq->route->rid;
		if (rq->rid == R_FS_WRITE) {
			/* Uploads go to disk, never into memory whole. */
			char *tmp = xasprintf("%s/tmp/upload-XXXXXX", fake.root);

			rq->spool_fd = mkostemp(tmp, O_CLOEXEC);
			if (rq->spool_fd < 0)
				rq->spool_err = errno;
			else
				unlink(tmp);
			free(tmp);
		}
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->rid == R_FS_WRITE) {
			size_t done = 0;

			while (rq->spool_err == 0 && done < *upload_size) {
				ssize_t n = write(rq->spool_fd, upload + done,
				                  *upload_size - done);

				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					rq->spool_err = errno;
				else
					done += (size_t)n;
			}
			rq->spool_len += *upload_size;
		} else if (rq->too_large || rq->body.len + *upload_size > BODY_MAX) {
			/* Keep reading, so the client gets a 413 instead of a
			 * broken connection. */
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
	if (strncmp(url, "/__fake/", 8) == 0) {
		const struct api_route *r;

		rq->logged = 1;      /* the fake's own routes are not logged */
		r = find_route(control_routes, "/__fake/", url, method, rq->param,
		               NULL);
		return r ? r->handle(rq) : no_route(rq, control_routes,
		                                    "/__fake/");
	}
	return api_request(rq);
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
	free(rq->param[0]);
	free(rq->param[1]);
	free(rq->body.p);
	json_object_put(rq->json);
	json_object_put(rq->entries);
	if (rq->spool_fd >= 0)
		close(rq->spool_fd);
	action_free(rq->act);
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
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	FILE *f;
	int ok;

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

/* The root directory and its three subdirectories.  0 or -1. */
static int
make_root(const char *given)
{
	const char *tmpdir = getenv("TMPDIR");
	char *path, *real;
	static const char *const subs[] = { "sandboxes", "snapshots", "tmp" };

	if (given != NULL) {
		if (mkdir_p(given, 0755) != 0) {
			fprintf(stderr, PROG ": cannot make --root %s: %s\n", given,
			        strerror(errno));
			return -1;
		}
		path = xstrdup(given);
	} else {
		path = xasprintf("%s/" PROG "-XXXXXX", tmpdir && *tmpdir ? tmpdir
		                                                         : "/tmp");
		if (mkdtemp(path) == NULL) {
			fprintf(stderr, PROG ": cannot make a directory in %s: %s\n",
			        tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
			free(path);
			return -1;
		}
		fake.root_owned = 1;
	}
	real = realpath(path, NULL);
	free(path);
	if (real == NULL) {
		fprintf(stderr, PROG ": cannot resolve the root: %s\n",
		        strerror(errno));
		return -1;
	}
	fake.root = real;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *sub = xasprintf("%s/%s", real, subs[i]);
		int rc = mkdir_p(sub, 0755);

		if (rc != 0)
			fprintf(stderr, PROG ": cannot make %s: %s\n", sub,
			        strerror(errno));
		free(sub);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static void
free_state(void)
{
	while (fake.sandboxes != NULL) {
		struct sandbox *sb = fake.sandboxes;

		fake.sandboxes = sb->next;
		free(sb->name);
		free(sb->project);
		free(sb->dir);
		free(sb->cwd);
		free(sb->image);
		free(sb->runtime);
		free(sb->session);
		free(sb->snapshot);
		json_object_put(sb->ports);
		json_object_put(sb->tags);
		json_object_put(sb->env);
		json_object_put(sb->policy);
		json_object_put(sb->extra);
		free(sb);
	}
	while (fake.sessions != NULL) {
		struct session *se = fake.sessions;

		fake.sessions = se->next;
		free(se->sandbox);
		free(se->project);
		free(se->dir);
		free(se->cwd);
		free(se->runtime);
		free(se->source_snapshot);
		json_object_put(se->policy);
		free(se);
	}
	while (fake.commands != NULL) {
		struct command *c = fake.commands;

		fake.commands = c->next;
		free(c->session);
		strv_free(c->argv);
		free(c->cwd);
		for (size_t i = 0; i < c->nents; i++)
			free(c->ents[i].data);
		free(c->ents);
		free(c);
	}
	while (fake.snapshots != NULL) {
		struct snapshot *sn = fake.snapshots;

		fake.snapshots = sn->next;
		free(sn->session);
		free(sn->sandbox);
		free(sn->project);
		free(sn->runtime);
		free(sn->dir);
		free(sn);
	}
	json_object_put(fake.faults);
	free(fake.left);
	json_object_put(fake.log);
}

#define USAGE "usage: " PROG " [--port N] [--port-file FILE] [--log FILE] " \
	"[--root DIR]\n" \
	"                   [--script FILE] [--token T] [--team ID]\n"

static void
usage(void)
{
	fputs(USAGE
	      "\n"
	      "A fake Vercel Sandbox API on 127.0.0.1 (routes under /api):\n"
	      "named sandboxes, sessions, commands run for real, files and\n"
	      "snapshots in directory trees, and scripted faults (see\n"
	      "tests/fake_vercel.md).\n"
	      "\n"
	      "  --port N          the port to listen on; 0 (the default)\n"
	      "                    takes a free one\n"
	      "  --port-file FILE  write the port there once listening\n"
	      "  --log FILE        one JSON line per request\n"
	      "  --root DIR        where sandbox and snapshot trees live\n"
	      "                    (default: a new directory in $TMPDIR,\n"
	      "                    removed at exit)\n"
	      "  --script FILE     faults to serve: {\"faults\":[...]}\n"
	      "  --token T         accept only Authorization: Bearer T\n"
	      "  --team ID         accept only ?teamId=ID\n"
	      "  --help            this text\n"
	      "\n"
	      "Runs until SIGTERM or SIGINT, then kills the commands still\n"
	      "running and exits 0.  Exits 2 on a bad command line or script,\n"
	      "1 when it cannot listen or set up its directories.\n", stdout);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "script", required_argument, NULL, 's' },
		{ "token", required_argument, NULL, 't' },
		{ "team", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *script_path = NULL, *port_file = NULL, *log_path = NULL;
	const char *root = NULL;
	struct sockaddr_in addr = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *daemon;
	json_object *script;
	sigset_t sigs;
	long port = 0;
	char *end;
	int c, sig;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
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
		case 'r':
			root = optarg;
			break;
		case 's':
			script_path = optarg;
			break;
		case 't':
			if (*optarg == '\0') {
				fputs(PROG ": --token: the token is empty\n", stderr);
				return 2;
			}
			fake.token = optarg;
			break;
		case 'T':
			if (*optarg == '\0') {
				fputs(PROG ": --team: the team id is empty\n", stderr);
				return 2;
			}
			fake.team = optarg;
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
	if (script_path != NULL) {
		script = script_load(script_path);
		if (script == NULL)
			return 2;
	} else {
		script = json_tokener_parse("{\"faults\":[]}");
	}
	script_install(script);
	fake.log = json_object_new_array();
	/* PAX names are UTF-8; libarchive converts them to the locale's
	 * charset, which must be able to hold them. */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		setlocale(LC_CTYPE, "");
	if (make_root(root) != 0)
		goto fail;
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
	 * sigwait() below (children get a clean mask); a closed client must
	 * not kill us either. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	                          MHD_USE_THREAD_PER_CONNECTION |
	                          MHD_USE_POLL | MHD_USE_ERROR_LOG,
	                          (uint16_t)port, NULL, NULL, on_request, NULL,
	                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	                          MHD_OPTION_SOCK_ADDR, &addr,
	                          MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                          (size_t)256 * 1024,
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
	fprintf(stderr, PROG ": listening on http://127.0.0.1:%u/api (root %s)\n",
	        (unsigned)info->port, fake.root);

	do
		c = sigwait(&sigs, &sig);
	while (c != 0);
	/* Blocked responses see the flag within a step and end, so the
	 * connection threads can be joined; the runners end once their
	 * commands are dead. */
	__atomic_store_n(&fake.stopping, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&fake.lock);
	for (struct command *cm = fake.commands; cm != NULL; cm = cm->next)
		if (!cm->done)
			kill(-cm->pid, SIGKILL);
	pthread_mutex_unlock(&fake.lock);
	MHD_stop_daemon(daemon);
	pthread_mutex_lock(&fake.lock);
	while (fake.runners > 0)
		wait_changed();
	pthread_mutex_unlock(&fake.lock);
	c = 0;
	goto out;
fail:
	c = 1;
out:
	if (fake.log_fd >= 0)
		close(fake.log_fd);
	if (fake.root != NULL && fake.root_owned)
		remove_tree(fake.root);
	free(fake.root);
	free_state();
	return c;
}
