/* The core tools at work.  Each one is a few calls to the workspace API
 * (read_file, write_file, stat, list_dir, mkdir, exec), so every sandbox
 * plugin gets all six without knowing about them.  What comes back is
 * text for the model: always valid UTF-8, and capped so that one call
 * cannot fill the context window.  docs/TOOLS.md lists every cap. */
#include "config.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "paths.h"
#include "toolexec.h"
#include "utf8.h"

/* ---- caps (keep docs/TOOLS.md in step) -------------------------------- */

#define READ_MAX_LINES 2000
#define READ_MAX_BYTES 51200
#define READ_LINE_MAX 2000
#define READ_DIR_MAX 1000
#define READ_BINARY_PROBE 8192
#define READ_FILE_MAX ((uint64_t)64 << 20)

#define EDIT_LINES_LISTED 20

#define BASH_TIMEOUT_DEFAULT 120
#define BASH_TIMEOUT_MAX 600
#define BASH_STREAM_LIMIT ((size_t)1 << 20)
#define BASH_MAX_LINES 2000
#define BASH_MAX_BYTES 51200

#define GREP_MAX_MATCHES 100
#define GREP_LINE_MAX 500
#define GREP_TIMEOUT 60
/* The shell keeps this many bytes of each match line, enough that the
 * last character before GREP_LINE_MAX is never split. */
#define GREP_LINE_KEEP "600"

#define GLOB_MAX_FILES 1000
#define GLOB_TIMEOUT 60
#define GLOB_LIST_LIMIT ((size_t)8 << 20)

/* How much of a failing command's stderr an error quotes. */
#define STDERR_SHOWN 1000

#define REPLACEMENT "\xef\xbf\xbd"      /* U+FFFD */
#define REPLACEMENT_LEN 3

#define LINE_CUT_NOTE "... [line truncated]"

/* A tool function returns 0 to go on, REPLIED once out holds the answer,
 * or a negative FLUE_E* code with the call's err filled. */
#define REPLIED 1

/* A growing NUL-terminated byte string.  A failed allocation sticks in
 * failed, so that a run of appends is checked once at its end. */
struct buf {
	char *data;             /* [owned] NULL until the first append */
	size_t len, cap;
	int failed;
};

/* One tool call. */
struct call {
	const struct flue_tool_env *env;        /* [borrowed] */
	flue_workspace *ws;                     /* [borrowed] */
	json_object *args;                      /* [borrowed] may be NULL */
	struct flue_tool_output *out;           /* [borrowed] */
	char *cwd;              /* [owned] absolute, normalised */
	struct flue_error err;  /* what the workspace said last */
};

/* ---- byte strings ------------------------------------------------------ */

static void
buf_add(struct buf *b, const void *s, size_t n)
{
	size_t cap;
	char *data;

	if (b->failed)
		return;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		data = realloc(b->data, cap);
		if (data == NULL) {
			b->failed = 1;
			return;
		}
		b->data = data;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_addf(struct buf *b, const char *fmt, ...) FLUE_PRINTF(2, 3);

static void
buf_addf(struct buf *b, const char *fmt, ...)
{
	char small[256], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->failed = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_add(b, big, (size_t)n);
	free(big);
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Append text[0, n) with every ill-formed byte (NUL included) replaced
 * by U+FFFD, but at most max bytes of the result, cut before a
 * character; when cut, note follows.  Returns 1 when cut. */
static int
add_clean_cut(struct buf *b, const char *text, size_t n, size_t max,
              const char *note)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, used = 0, run, k, w;

	while (i < n) {
		/* Plain ASCII goes over in runs: most text is that. */
		for (run = i; run < n && s[run] < 0x80 && s[run] != 0 &&
		     run - i < max - used; run++)
			;
		buf_add(b, text + i, run - i);
		used += run - i;
		i = run;
		if (i >= n)
			break;
		k = flue_utf8_seq_len(s + i, n - i);
		w = k != 0 ? k : REPLACEMENT_LEN;
		if (w > max - used) {
			buf_adds(b, note);
			return 1;
		}
		buf_add(b, k != 0 ? text + i : REPLACEMENT, w);
		used += w;
		i += k != 0 ? k : 1;
	}
	return 0;
}

static void
add_clean(struct buf *b, const char *text, size_t n)
{
	add_clean_cut(b, text, n, SIZE_MAX, "");
}

static int
is_clean(const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, k;

	while (i < n) {
		if (s[i] != 0 && s[i] < 0x80) {
			i++;
			continue;
		}
		k = flue_utf8_seq_len(s + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* ---- replies ----------------------------------------------------------- */

static int
nomem(struct call *c)
{
	return flue_error_set(&c->err, FLUE_ENOMEM,
	                      "out of memory while running a tool");
}

/* Hand b over as the answer, cleaned if it needs it.  b is emptied. */
static int
reply(struct call *c, struct buf *b, int is_error)
{
	struct buf clean = {0};

	buf_add(b, "", 0);
	if (b->failed) {
		buf_free(b);
		return nomem(c);
	}
	if (!is_clean(b->data, b->len)) {
		add_clean(&clean, b->data, b->len);
		buf_add(&clean, "", 0);
		buf_free(b);
		if (clean.failed) {
			buf_free(&clean);
			return nomem(c);
		}
		*b = clean;
	}
	c->out->text = b->data;
	c->out->len = b->len;
	c->out->is_error = is_error;
	memset(b, 0, sizeof(*b));
	return REPLIED;
}

static int replyf(struct call *c, int is_error, const char *fmt, ...)
	FLUE_PRINTF(3, 4);

static int
replyf(struct call *c, int is_error, const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return nomem(c);
	buf_add(&b, s, (size_t)n);
	free(s);
	return reply(c, &b, is_error);
}

/* A workspace operation failed: the model reads the sandbox's message,
 * unless the failure is the harness's own (memory, cancellation). */
static int
sandbox_failed(struct call *c, int rc)
{
	if (rc == FLUE_ENOMEM || rc == FLUE_ECANCELED)
		return rc;
	rc = replyf(c, 1, "%s", c->err.message);
	flue_error_clear(&c->err);
	return rc;
}

/* ---- arguments --------------------------------------------------------- */

struct arg {
	const char *name;
	enum json_type type;    /* string, int or boolean */
	int required;
};

static const char *
type_name(enum json_type type)
{
	switch (type) {
	case json_type_int: return "an integer";
	case json_type_double: return "a number";
	case json_type_boolean: return "a boolean";
	case json_type_string: return "a string";
	case json_type_array: return "an array";
	case json_type_object: return "an object";
	default: return "null";
	}
}

/* An argument: NULL when absent (JSON null counts as absent). */
static json_object *
arg_get(const struct call *c, const char *name)
{
	json_object *v = NULL;

	if (c->args == NULL || !json_object_object_get_ex(c->args, name, &v))
		return NULL;
	return json_object_get_type(v) == json_type_null ? NULL : v;
}

/* A number that JSON Schema calls an integer (5.0 is one). */
static int
is_integer(json_object *v)
{
	double d;

	if (json_object_get_type(v) == json_type_int)
		return 1;
	if (json_object_get_type(v) != json_type_double)
		return 0;
	d = json_object_get_double(v);
	return d >= -9e15 && d <= 9e15 && d == (double)(int64_t)d;
}

/* The schema was checked before the call; this is the defence for
 * callers that did not. */
static int
check_args(struct call *c, const struct arg *spec, size_t n)
{
	if (c->args != NULL && !json_object_is_type(c->args, json_type_object))
		return replyf(c, 1, "the arguments must be a JSON object");
	for (size_t i = 0; i < n; i++) {
		json_object *v = arg_get(c, spec[i].name);
		int ok;

		if (v == NULL) {
			if (spec[i].required)
				return replyf(c, 1, "missing required argument "
				              "'%s' (%s)", spec[i].name,
				              type_name(spec[i].type));
			continue;
		}
		ok = spec[i].type == json_type_int ? is_integer(v) :
		     json_object_is_type(v, spec[i].type);
		if (!ok)
			return replyf(c, 1, "argument '%s' must be %s, not %s",
			              spec[i].name, type_name(spec[i].type),
			              type_name(json_object_get_type(v)));
	}
	return 0;
}

static const char *
str_arg(const struct call *c, const char *name, size_t *len)
{
	json_object *v = arg_get(c, name);

	if (len != NULL)
		*len = v != NULL ? (size_t)json_object_get_string_len(v) : 0;
	return v != NULL ? json_object_get_string(v) : NULL;
}

static int64_t
int_arg(const struct call *c, const char *name, int64_t dflt)
{
	json_object *v = arg_get(c, name);

	return v != NULL ? json_object_get_int64(v) : dflt;
}

static int
bool_arg(const struct call *c, const char *name)
{
	json_object *v = arg_get(c, name);

	return v != NULL && json_object_get_boolean(v);
}

/* ---- paths ------------------------------------------------------------- */


static char *
resolve(const struct call *c, const char *path)
{
	return flue_path_resolve(c->cwd, path);
}

/* How many leading bytes of the absolute path s[0, len) to skip to show
 * it as the model should see it: relative when under the working
 * directory, else whole. */
static size_t
rel_skip(const struct call *c, const char *s, size_t len)
{
	size_t n = strlen(c->cwd);

	if (n == 1)
		return len > 1 && s[0] == '/' ? 1 : 0;
	if (len > n + 1 && memcmp(s, c->cwd, n) == 0 && s[n] == '/')
		return n + 1;
	return 0;
}

static const char *
shown_path(const struct call *c, const char *abs)
{
	return abs + rel_skip(c, abs, strlen(abs));
}

/* Append s to b in single quotes for bash. */
static void
add_quoted(struct buf *b, const char *s)
{
	buf_addc(b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '\'');
}

static int
cancelled(struct call *c)
{
	if (!flue_cancel_is_set(c->env->cancel))
		return 0;
	return flue_error_set(&c->err, FLUE_ECANCELED, "the tool call was "
	                      "cancelled");
}

/* ---- read: directories ------------------------------------------------- */

struct entry {
	char *name;             /* [owned] */
	uint32_t type;
};

struct listing {
	struct entry *v;        /* [owned] */
	size_t n, cap;
	int failed;
};

static int
collect_entry(void *payload, const char *name, uint32_t type)
{
	struct listing *l = payload;
	struct entry *v;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			goto fail;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].name = strdup(name);
	if (l->v[l->n].name == NULL)
		goto fail;
	l->v[l->n++].type = type;
	return 0;
fail:
	l->failed = 1;
	return 1;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
	              ((const struct entry *)b)->name);
}

static void
listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* A symbolic link shows as a directory when it leads to one. */
static int
leads_to_dir(struct call *c, const char *dir, const char *name)
{
	struct flue_stat st;
	char *path = flue_path_resolve(dir, name);
	int is_dir;

	if (path == NULL)
		return 0;
	is_dir = flue_workspace_stat(c->ws, path, &st, &c->err) == 0 &&
	         st.type == FLUE_FILE_DIRECTORY;
	flue_error_clear(&c->err);
	free(path);
	return is_dir;
}

static int
read_dir(struct call *c, const char *abs)
{
	struct listing l = {0};
	struct buf b = {0};
	size_t shown;
	int rc;

	rc = flue_workspace_list_dir(c->ws, abs, collect_entry, &l, &c->err);
	if (l.failed) {
		listing_free(&l);
		return nomem(c);
	}
	if (rc < 0) {
		listing_free(&l);
		return sandbox_failed(c, rc);
	}
	if (l.n == 0) {
		listing_free(&l);
		return replyf(c, 0, "(empty directory)");
	}
	qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	shown = l.n < READ_DIR_MAX ? l.n : READ_DIR_MAX;
	for (size_t i = 0; i < shown; i++) {
		int dir = l.v[i].type == FLUE_FILE_DIRECTORY ||
		          (l.v[i].type == FLUE_FILE_SYMLINK &&
		           leads_to_dir(c, abs, l.v[i].name));

		buf_addf(&b, "%s%s%s", i > 0 ? "\n" : "", l.v[i].name,
		         dir ? "/" : "");
	}
	if (shown < l.n)
		buf_addf(&b, "\n\n[Showing the first %zu of %zu entries. "
		         "Use glob to find the others.]", shown, l.n);
	listing_free(&l);
	return reply(c, &b, 0);
}

/* ---- read: files ------------------------------------------------------- */

/* The number of lines in text, counted like wc -l plus an unterminated
 * last line. */
static size_t
count_lines(const char *text, size_t len)
{
	size_t n = 0;
	const char *p = text, *end = text + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return len > 0 && text[len - 1] != '\n' ? n + 1 : n;
}

/* Lines offset.. of text, numbered like cat -n, within the caps. */
static int
number_lines(struct call *c, const char *text, size_t len, int64_t offset,
             int64_t limit)
{
	size_t total = count_lines(text, len), shown = 0, line;
	const char *p = text, *end = text + len, *eol;
	struct buf b = {0}, one = {0};
	int cut = 0;

	if ((uint64_t)offset > total)
		return replyf(c, 1, "Offset %lld is beyond end of file (%zu "
		              "lines total)", (long long)offset, total);
	for (line = 1; line < (size_t)offset; line++)
		p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	for (; line <= total; line++) {
		if (limit > 0 && shown == (uint64_t)limit)
			break;
		if (shown == READ_MAX_LINES) {
			cut = 1;
			break;
		}
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		one.len = 0;
		buf_addf(&one, "%s%6zu\t", shown > 0 ? "\n" : "", line);
		add_clean_cut(&one, p, (size_t)(eol - p), READ_LINE_MAX,
		              LINE_CUT_NOTE);
		if (b.len + one.len > READ_MAX_BYTES) {
			cut = 1;
			break;
		}
		buf_add(&b, one.data, one.len);
		shown++;
		p = eol + 1;
	}
	if (cut)
		buf_addf(&b, "\n\n[Showing lines %lld-%lld of %zu. Use "
		         "offset=%lld to continue.]", (long long)offset,
		         (long long)offset + (long long)shown - 1, total,
		         (long long)offset + (long long)shown);
	if (one.failed)
		b.failed = 1;
	buf_free(&one);
	return reply(c, &b, 0);
}

static int
read_file(struct call *c, const char *path, const char *abs, int64_t offset,
          int64_t limit)
{
	struct flue_bytes bytes;
	size_t probe;
	int rc;

	rc = flue_workspace_read_file(c->ws, abs, &bytes, &c->err);
	if (rc != 0)
		return sandbox_failed(c, rc);
	probe = bytes.len < READ_BINARY_PROBE ? bytes.len : READ_BINARY_PROBE;
	if (memchr(bytes.data, 0, probe) != NULL)
		rc = replyf(c, 1, "%s is a binary file (%zu bytes); use bash "
		            "(e.g. xxd or file) to inspect it", path,
		            bytes.len);
	else if (bytes.len == 0)
		rc = replyf(c, 0, "(empty file)");
	else
		rc = number_lines(c, (const char *)bytes.data, bytes.len,
		                  offset, limit);
	flue_bytes_free(&bytes);
	return rc;
}

static int
tool_read(struct call *c)
{
	static const struct arg spec[] = {
		{"path", json_type_string, 1},
		{"offset", json_type_int, 0},
		{"limit", json_type_int, 0},
	};
	const char *path;
	int64_t offset, limit;
	struct flue_stat st;
	char *abs;
	int rc;

	if ((rc = check_args(c, spec, FLUE_ARRAY_LEN(spec))) != 0)
		return rc;
	path = str_arg(c, "path", NULL);
	offset = int_arg(c, "offset", 1);
	limit = int_arg(c, "limit", 0);
	if (offset < 1)
		return replyf(c, 1, "offset must be 1 or more (the first line "
		              "is 1)");
	if (arg_get(c, "limit") != NULL && limit < 1)
		return replyf(c, 1, "limit must be 1 or more");
	if ((abs = resolve(c, path)) == NULL)
		return nomem(c);
	/* When stat fails, reading says why better than stat would. */
	rc = flue_workspace_stat(c->ws, abs, &st, &c->err);
	flue_error_clear(&c->err);
	if (rc == 0 && st.type == FLUE_FILE_DIRECTORY)
		rc = read_dir(c, abs);
	else if (rc == 0 && st.type == FLUE_FILE_REGULAR &&
	         st.size > READ_FILE_MAX)
		rc = replyf(c, 1, "%s is too large to read (%llu bytes; the "
		            "limit is %llu MiB); use bash to read a part of it "
		            "(e.g. sed -n '1000,1100p' or tail)", path,
		            (unsigned long long)st.size,
		            (unsigned long long)(READ_FILE_MAX >> 20));
	else
		rc = read_file(c, path, abs, offset, limit);
	free(abs);
	return rc;
}

/* ---- write ------------------------------------------------------------- */

/* mkdir -p for abs's parent, then an atomic write. */
static int
put_file(struct call *c, const char *abs, const char *data, size_t len)
{
	const char *slash = strrchr(abs, '/');
	char *parent;
	int rc = 0;

	if (slash != abs) {
		parent = strndup(abs, (size_t)(slash - abs));
		if (parent == NULL)
			return nomem(c);
		rc = flue_workspace_mkdir(c->ws, parent, FLUE_MKDIR_RECURSIVE,
		                          &c->err);
		free(parent);
	}
	if (rc == 0)
		rc = flue_workspace_write_file(c->ws, abs, data, len, &c->err);
	return rc;
}

static int
tool_write(struct call *c)
{
	static const struct arg spec[] = {
		{"path", json_type_string, 1},
		{"content", json_type_string, 1},
	};
	const char *path, *content;
	size_t len;
	char *abs;
	int rc;

	if ((rc = check_args(c, spec, FLUE_ARRAY_LEN(spec))) != 0)
		return rc;
	path = str_arg(c, "path", NULL);
	content = str_arg(c, "content", &len);
	if ((abs = resolve(c, path)) == NULL)
		return nomem(c);
	rc = put_file(c, abs, content, len);
	free(abs);
	if (rc != 0)
		return sandbox_failed(c, rc);
	return replyf(c, 0, "Wrote %zu bytes to %s", len, path);
}

/* ---- edit -------------------------------------------------------------- */

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	       ch == '\f' || ch == '\v';
}

/* Does needle match text at i when whitespace on both sides is ignored?
 * text[i] is not whitespace. */
static int
loose_match_at(const char *text, size_t len, size_t i, const char *needle,
               size_t nlen)
{
	size_t k = 0;

	for (;;) {
		while (k < nlen && is_space(needle[k]))
			k++;
		if (k == nlen)
			return 1;
		while (i < len && is_space(text[i]))
			i++;
		if (i == len || text[i] != needle[k])
			return 0;
		i++;
		k++;
	}
}

/* The line of the first place where needle matches when whitespace is
 * ignored, or 0: a hint for a model that got the indentation wrong. */
static size_t
loose_match_line(const char *text, size_t len, const char *needle,
                 size_t nlen)
{
	size_t line = 1, k = 0;

	while (k < nlen && is_space(needle[k]))
		k++;
	if (k == nlen)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			line++;
		else if (text[i] == needle[k] &&
		         loose_match_at(text, len, i, needle, nlen))
			return line;
	}
	return 0;
}

struct matches {
	size_t count;
	size_t first_line;
	size_t lines[EDIT_LINES_LISTED];   /* distinct lines, in order */
	size_t n_lines;
	int more_lines;                    /* lines past the array */
};

/* Count the non-overlapping occurrences of needle and note their lines. */
static void
find_all(const char *text, size_t len, const char *needle, size_t nlen,
         struct matches *m)
{
	const char *p = text, *end = text + len, *hit, *counted = text;
	size_t line = 1;

	memset(m, 0, sizeof(*m));
	while ((hit = memmem(p, (size_t)(end - p), needle, nlen)) != NULL) {
		for (; counted < hit; counted++)
			line += *counted == '\n';
		if (m->count++ == 0)
			m->first_line = line;
		if (m->n_lines > 0 && m->lines[m->n_lines - 1] == line) {
			/* another on the same line: listed once */
		} else if (m->n_lines < EDIT_LINES_LISTED) {
			m->lines[m->n_lines++] = line;
		} else {
			m->more_lines = 1;
		}
		p = hit + nlen;
	}
}

static int
edit_not_found(struct call *c, const char *path, const char *text,
               size_t len, const char *old, size_t old_len)
{
	size_t near = loose_match_line(text, len, old, old_len);
	struct buf b = {0};

	buf_addf(&b, "Could not find old_string in %s. It must match exactly, "
	         "including whitespace and indentation.", path);
	if (near != 0)
		buf_addf(&b, " A match that differs only in whitespace is at "
		         "line %zu.", near);
	return reply(c, &b, 1);
}

static int
edit_not_unique(struct call *c, const char *path, const struct matches *m)
{
	struct buf b = {0};

	buf_addf(&b, "Found %zu occurrences of old_string in %s (line%s ",
	         m->count, path, m->n_lines > 1 ? "s" : "");
	for (size_t i = 0; i < m->n_lines; i++)
		buf_addf(&b, "%s%zu", i > 0 ? ", " : "", m->lines[i]);
	buf_addf(&b, "%s). Add surrounding lines to make it unique, or set "
	         "replace_all.", m->more_lines ? ", ..." : "");
	return reply(c, &b, 1);
}

/* text with old replaced by new: the first occurrence, or all.  Nothing
 * in new is special: "$1" and "\1" stay as they are. */
static void
replace(struct buf *b, const char *text, size_t len, const char *old,
        size_t old_len, const char *new, size_t new_len, int all)
{
	const char *p = text, *end = text + len, *hit;

	while ((hit = memmem(p, (size_t)(end - p), old, old_len)) != NULL) {
		buf_add(b, p, (size_t)(hit - p));
		buf_add(b, new, new_len);
		p = hit + old_len;
		if (!all)
			break;
	}
	buf_add(b, p, (size_t)(end - p));
}

static int
edit_apply(struct call *c, const char *path, const char *abs,
           const char *text, size_t len)
{
	size_t old_len, new_len;
	const char *old = str_arg(c, "old_string", &old_len);
	const char *new = str_arg(c, "new_string", &new_len);
	int all = bool_arg(c, "replace_all"), rc;
	struct buf b = {0};
	struct matches m;

	find_all(text, len, old, old_len, &m);
	if (m.count == 0)
		return edit_not_found(c, path, text, len, old, old_len);
	if (m.count > 1 && !all)
		return edit_not_unique(c, path, &m);
	replace(&b, text, len, old, old_len, new, new_len, all);
	if (b.failed) {
		buf_free(&b);
		return nomem(c);
	}
	rc = cancelled(c);
	if (rc == 0)
		rc = flue_workspace_write_file(c->ws, abs, b.data ? b.data : "",
		                               b.len, &c->err);
	buf_free(&b);
	if (rc != 0)
		return sandbox_failed(c, rc);
	if (m.count == 1)
		return replyf(c, 0, "Edited %s: replaced 1 occurrence (line "
		              "%zu)", path, m.first_line);
	return replyf(c, 0, "Edited %s: replaced %zu occurrences", path,
	              m.count);
}

static int
tool_edit(struct call *c)
{
	static const struct arg spec[] = {
		{"path", json_type_string, 1},
		{"old_string", json_type_string, 1},
		{"new_string", json_type_string, 1},
		{"replace_all", json_type_boolean, 0},
	};
	size_t old_len, new_len;
	const char *path, *old, *new;
	struct flue_bytes bytes;
	char *abs;
	int rc;

	if ((rc = check_args(c, spec, FLUE_ARRAY_LEN(spec))) != 0)
		return rc;
	path = str_arg(c, "path", NULL);
	old = str_arg(c, "old_string", &old_len);
	new = str_arg(c, "new_string", &new_len);
	if (old_len == 0)
		return replyf(c, 1, "old_string is empty; pass the exact text "
		              "to replace (use write to create a file)");
	if (old_len == new_len && memcmp(old, new, old_len) == 0)
		return replyf(c, 1, "old_string and new_string are the same; "
		              "there is nothing to change");
	if ((abs = resolve(c, path)) == NULL)
		return nomem(c);
	rc = flue_workspace_read_file(c->ws, abs, &bytes, &c->err);
	if (rc != 0)
		rc = sandbox_failed(c, rc);
	else
		rc = edit_apply(c, path, abs, (const char *)bytes.data,
		                bytes.len);
	flue_bytes_free(&bytes);
	free(abs);
	return rc;
}

/* ---- bash -------------------------------------------------------------- */

/* The length of stderr without the sandbox's own last line about the
 * timeout: the answer says so itself. */
static size_t
without_timeout_note(const char *s, size_t len)
{
	static const char mark[] = "[flue] ";
	size_t end = len, start;

	while (end > 0 && s[end - 1] == '\n')
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	if (end - start >= sizeof(mark) - 1 &&
	    memcmp(s + start, mark, sizeof(mark) - 1) == 0)
		return start;
	return len;
}

/* Where the shown tail of s[0, len) starts: the last max_lines lines,
 * then at most max_bytes, from the start of a line when one begins in
 * that window, else from the start of a character. */
static size_t
tail_start(const char *s, size_t len, size_t max_lines, size_t max_bytes)
{
	size_t start = 0, lines = 0, cut;
	const char *nl;

	for (size_t i = len; i > 0; i--)
		if (s[i - 1] == '\n' && ++lines == max_lines) {
			start = i;
			break;
		}
	if (len - start <= max_bytes)
		return start;
	cut = len - max_bytes;
	if (s[cut - 1] == '\n')
		return cut;
	nl = memchr(s + cut, '\n', len - cut);
	if (nl != NULL && nl + 1 < s + len)
		return (size_t)(nl + 1 - s);
	while (cut < len && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut++;
	return cut;
}

static size_t
count_char(const char *s, size_t len, char ch)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == ch;
	return n;
}

/* stdout, then stderr on the next line, cleaned and without trailing
 * newlines. */
static void
combine(struct buf *all, const struct flue_exec_result *res)
{
	const char *err = (const char *)res->stderr_data.data;
	size_t err_len = res->stderr_data.len;

	if (res->timed_out)
		err_len = without_timeout_note(err, err_len);
	add_clean(all, (const char *)res->stdout_data.data,
	          res->stdout_data.len);
	if (err_len > 0 && all->len > 0)
		buf_addc(all, '\n');
	add_clean(all, err, err_len);
	while (all->len > 0 && (all->data[all->len - 1] == '\n' ||
	                        all->data[all->len - 1] == '\r'))
		all->data[--all->len] = '\0';
}

static int
bash_reply(struct call *c, const struct flue_exec_result *res,
           int64_t timeout, int64_t asked)
{
	struct buf all = {0}, b = {0};
	uint64_t dropped = res->stdout_dropped + res->stderr_dropped;
	const char *text;
	size_t start;

	combine(&all, res);
	text = all.data != NULL ? all.data : "";
	start = tail_start(text, all.len, BASH_MAX_LINES, BASH_MAX_BYTES);
	if (start > 0 || dropped > 0)
		buf_addf(&b, "[output truncated: showing the last %zu lines; "
		         "%llu earlier bytes dropped]\n",
		         count_char(text + start, all.len - start, '\n') + 1,
		         (unsigned long long)(start + dropped));
	if (all.len > start)
		buf_add(&b, text + start, all.len - start);
	else
		buf_adds(&b, "(no output)");
	if (res->timed_out)
		buf_addf(&b, "\n\n[timed out after %lld s; exit code 124]",
		         (long long)timeout);
	else if (res->exit_code == -1)
		buf_adds(&b, "\n\n[exit code unknown: the sandbox lost it]");
	else if (res->exit_code != 0)
		buf_addf(&b, "\n\n[exit code %d]", res->exit_code);
	if (asked > timeout)
		buf_addf(&b, "\n\n[timeout %lld s is above the maximum; used "
		         "%lld s]", (long long)asked, (long long)timeout);
	if (all.failed)
		b.failed = 1;
	buf_free(&all);
	return reply(c, &b, 0);
}

static int
tool_bash(struct call *c)
{
	static const struct arg spec[] = {
		{"command", json_type_string, 1},
		{"timeout", json_type_int, 0},
	};
	struct flue_exec_request req = {0};
	struct flue_exec_result res;
	int64_t asked, timeout;
	int rc;

	if ((rc = check_args(c, spec, FLUE_ARRAY_LEN(spec))) != 0)
		return rc;
	asked = int_arg(c, "timeout", BASH_TIMEOUT_DEFAULT);
	if (asked < 1)
		return replyf(c, 1, "timeout must be 1 second or more");
	timeout = asked > BASH_TIMEOUT_MAX ? BASH_TIMEOUT_MAX : asked;
	req.command = str_arg(c, "command", NULL);
	req.cwd = c->cwd;
	req.env = c->env->exec_env;
	req.timeout_ms = (uint64_t)timeout * 1000;
	req.output_limit = BASH_STREAM_LIMIT;
	req.cancel = c->env->cancel;
	rc = flue_workspace_exec(c->ws, &req, &res, &c->err);
	if (rc != 0)
		return sandbox_failed(c, rc);
	rc = bash_reply(c, &res, timeout, asked);
	flue_exec_result_free(&res);
	return rc;
}

/* ---- grep -------------------------------------------------------------- */

/* One shell command: ripgrep when the sandbox has it, else grep, piped
 * through awk, which passes the first matches on (cut short) and counts
 * them all, so that a search matching a million lines costs no memory
 * and still reports how many there were.  pipefail keeps the search's
 * exit status. */
static void
grep_command(struct buf *b, const char *pattern, const char *abs,
             const char *include, int literal, int ignore_case)
{
	buf_adds(b, "set -o pipefail; if command -v rg >/dev/null 2>&1; then "
	         "rg --line-number --with-filename --no-heading --color never");
	if (literal)
		buf_adds(b, " -F");
	if (ignore_case)
		buf_adds(b, " -i");
	if (include != NULL) {
		buf_adds(b, " --glob ");
		add_quoted(b, include);
	}
	buf_adds(b, " -- ");
	add_quoted(b, pattern);
	buf_addc(b, ' ');
	add_quoted(b, abs);
	/* The C locale: a file with a stray Latin-1 byte is still text (as
	 * for ripgrep); only a NUL makes a file binary, and -I skips it. */
	buf_adds(b, "; else LC_ALL=C grep -rnHI");
	buf_adds(b, literal ? " -F" : " -E");
	if (ignore_case)
		buf_adds(b, " -i");
	if (include != NULL) {
		buf_adds(b, " --include=");
		add_quoted(b, include);
	}
	buf_adds(b, " --exclude-dir=.git -- ");
	add_quoted(b, pattern);
	buf_addc(b, ' ');
	add_quoted(b, abs);
	buf_addf(b, "; fi | LC_ALL=C awk 'NR <= %d { print substr($0, 1, "
	         GREP_LINE_KEEP ") } END { print NR }'", GREP_MAX_MATCHES);
}

/* stderr of a failed search for a message: cleaned, one paragraph, cut. */
static void
add_stderr(struct buf *b, const struct flue_bytes *e)
{
	size_t len = e->len;

	while (len > 0 && (e->data[len - 1] == '\n' ||
	                   e->data[len - 1] == '\r'))
		len--;
	add_clean_cut(b, (const char *)e->data, len, STDERR_SHOWN, "...");
}

/* The match lines from awk's output, whose last line is the count. */
static int
grep_matches(struct call *c, const struct flue_exec_result *res)
{
	const char *p = (const char *)res->stdout_data.data, *eol, *last;
	const char *end = p + res->stdout_data.len;
	unsigned long long total;
	struct buf b = {0};
	size_t shown = 0, skip;
	char *tail;

	while (end > p && end[-1] == '\n')
		end--;
	for (last = end; last > p && last[-1] != '\n'; last--)
		;
	total = strtoull(last, &tail, 10);
	if (tail != end || last == end)
		total = count_char(p, (size_t)(end - p), '\n') + 1;
	else
		end = last;
	for (; p < end && shown < GREP_MAX_MATCHES; p = eol + 1, shown++) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		skip = rel_skip(c, p, (size_t)(eol - p));
		if (shown > 0)
			buf_addc(&b, '\n');
		add_clean_cut(&b, p + skip, (size_t)(eol - p) - skip,
		              GREP_LINE_MAX, "...");
	}
	if (total > shown)
		buf_addf(&b, "\n\n[Showing %zu of %llu matches. Narrow your "
		         "search.]", shown, total);
	if (res->exit_code > 1 && res->stderr_data.len > 0) {
		buf_adds(&b, "\n\n[Some files could not be searched: ");
		add_stderr(&b, &res->stderr_data);
		buf_addc(&b, ']');
	}
	return reply(c, &b, 0);
}

static int
grep_reply(struct call *c, const struct flue_exec_result *res)
{
	const char *out = (const char *)res->stdout_data.data;
	int none = res->stdout_data.len == 0 || strcmp(out, "0\n") == 0;
	struct buf b = {0};

	if (res->timed_out) {
		return replyf(c, 1, "grep timed out after %d s; search a "
		              "smaller path, or pass include to skip files",
		              GREP_TIMEOUT);
	}
	if (none && res->exit_code <= 1) {
		/* grep's warnings ("stray \ before d") tell why nothing
		 * matched. */
		buf_adds(&b, "No matches found.");
		if (res->stderr_data.len > 0) {
			buf_adds(&b, "\n\n[");
			add_stderr(&b, &res->stderr_data);
			buf_addc(&b, ']');
		}
		return reply(c, &b, 0);
	}
	if (none) {
		buf_adds(&b, "grep failed: ");
		if (res->stderr_data.len > 0)
			add_stderr(&b, &res->stderr_data);
		else
			buf_addf(&b, "exit code %d", res->exit_code);
		return reply(c, &b, 1);
	}
	return grep_matches(c, res);
}

static int
tool_grep(struct call *c)
{
	static const struct arg spec[] = {
		{"pattern", json_type_string, 1},
		{"path", json_type_string, 0},
		{"include", json_type_string, 0},
		{"literal", json_type_boolean, 0},
		{"ignore_case", json_type_boolean, 0},
	};
	struct flue_exec_request req = {0};
	struct flue_exec_result res;
	const char *path, *include;
	struct buf cmd = {0};
	char *abs;
	int rc;

	if ((rc = check_args(c, spec, FLUE_ARRAY_LEN(spec))) != 0)
		return rc;
	path = str_arg(c, "path", NULL);
	include = str_arg(c, "include", NULL);
	if (include != NULL && include[0] == '\0')
		include = NULL;
	if ((abs = resolve(c, path != NULL ? path : ".")) == NULL)
		return nomem(c);
	grep_command(&cmd, str_arg(c, "pattern", NULL), abs, include,
	             bool_arg(c, "literal"), bool_arg(c, "ignore_case"));
	free(abs);
	if (cmd.failed) {
		buf_free(&cmd);
		return nomem(c);
	}
	req.command = cmd.data;
	req.cwd = c->cwd;
	req.env = c->env->exec_env;
	req.timeout_ms = GREP_TIMEOUT * 1000;
	req.output_limit = BASH_STREAM_LIMIT;
	req.cancel = c->env->cancel;
	rc = flue_workspace_exec(c->ws, &req, &res, &c->err);
	buf_free(&cmd);
	if (rc != 0)
		return sandbox_failed(c, rc);
	rc = grep_reply(c, &res);
	flue_exec_result_free(&res);
	return rc;
}

/* ---- glob -------------------------------------------------------------- */

/* The pattern split at "/" into segments, runs of "**" made one. */
struct segments {
	char *copy;             /* [owned] the pattern with NULs for "/" */
	char **v;               /* [owned] array; strings borrowed from copy */
	size_t n;
};

static int
split(struct segments *s, const char *text, int squeeze)
{
	size_t cap = 1;
	char *p;

	memset(s, 0, sizeof(*s));
	for (const char *q = text; *q != '\0'; q++)
		cap += *q == '/';
	s->copy = strdup(text);
	s->v = malloc(cap * sizeof(*s->v));
	if (s->copy == NULL || s->v == NULL)
		return -1;
	for (p = s->copy;; p++) {
		char *slash = strchr(p, '/');

		if (slash != NULL)
			*slash = '\0';
		if (!(squeeze && s->n > 0 && strcmp(p, "**") == 0 &&
		      strcmp(s->v[s->n - 1], "**") == 0))
			s->v[s->n++] = p;
		if (slash == NULL)
			return 0;
		p = slash;
	}
}

static void
segments_free(struct segments *s)
{
	free(s->copy);
	free(s->v);
}

/* Segments against segments; "**" stands for zero or more of them. */
static int
match_segments(char *const *pat, size_t np, char *const *path, size_t nq)
{
	for (; np > 0; pat++, np--) {
		if (strcmp(pat[0], "**") == 0) {
			for (size_t k = 0; k <= nq; k++)
				if (match_segments(pat + 1, np - 1, path + k,
				                   nq - k))
					return 1;
			return 0;
		}
		if (nq == 0 || fnmatch(pat[0], path[0], 0) != 0)
			return 0;
		path++;
		nq--;
	}
	return nq == 0;
}

struct glob_search {
	const char *pattern;    /* [borrowed] without a leading "./" */
	struct segments pat;    /* when pattern has a "/" */
	int by_name;            /* no "/": match the file name only */
	int absolute;           /* match the absolute path */
	char **found;           /* [owned] shown paths, each [owned] */
	size_t n, cap;
};

/* Does the absolute file path abs, found under root, match? */
static int
glob_match(struct glob_search *g, const char *root, const char *abs,
           int *nomem_flag)
{
	const char *subject, *base = strrchr(abs, '/');
	struct segments parts;
	size_t n = strlen(root);
	int hit;

	base = base != NULL ? base + 1 : abs;
	if (g->by_name)
		return fnmatch(g->pattern, base, 0) == 0;
	if (g->absolute)
		subject = abs + 1;
	else if (strncmp(abs, root, n) == 0 && abs[n] == '/')
		subject = abs + n + 1;
	else if (strcmp(root, "/") == 0)
		subject = abs + 1;
	else
		subject = base;         /* root is the file itself */
	if (split(&parts, subject, 0) != 0) {
		segments_free(&parts);
		*nomem_flag = 1;
		return 0;
	}
	hit = match_segments(g->pat.v, g->pat.n, parts.v, parts.n);
	segments_free(&parts);
	return hit;
}

static int
glob_keep(struct call *c, struct glob_search *g, const char *abs)
{
	char **v;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;

		v = realloc(g->found, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		g->found = v;
		g->cap = cap;
	}
	g->found[g->n] = strdup(shown_path(c, abs));
	return g->found[g->n++] == NULL ? -1 : 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* find's NUL-separated list, matched, sorted and capped. */
static int
glob_reply(struct call *c, struct glob_search *g, const char *root,
           const struct flue_exec_result *res)
{
	const char *p = (const char *)res->stdout_data.data;
	const char *end = p + res->stdout_data.len, *nul;
	struct buf b = {0};
	int oom = 0;

	/* A full ring dropped the oldest bytes: the first name is partial. */
	if (res->stdout_dropped > 0 && (nul = memchr(p, 0, (size_t)(end - p))))
		p = nul + 1;
	for (; p < end && !oom; p = nul + 1) {
		nul = memchr(p, 0, (size_t)(end - p));
		if (nul == NULL)
			nul = end;
		if (*p == '/' && glob_match(g, root, p, &oom) &&
		    glob_keep(c, g, p) != 0)
			oom = 1;
	}
	if (oom)
		return nomem(c);
	if (g->n == 0 && res->exit_code != 0 && res->stderr_data.len > 0) {
		buf_adds(&b, "glob failed: ");
		add_stderr(&b, &res->stderr_data);
		return reply(c, &b, 1);
	}
	if (g->n == 0 && !res->timed_out && res->stdout_dropped == 0)
		return replyf(c, 0, "No files found matching %s.", g->pattern);
	if (g->n > 1)
		qsort(g->found, g->n, sizeof(*g->found), str_cmp);
	for (size_t i = 0; i < g->n && i < GLOB_MAX_FILES; i++)
		buf_addf(&b, "%s%s", i > 0 ? "\n" : "", g->found[i]);
	if (g->n == 0)
		buf_addf(&b, "No files found matching %s so far.", g->pattern);
	if (g->n > GLOB_MAX_FILES)
		buf_addf(&b, "\n\n[Showing the first %d of %zu files. Narrow "
		         "the pattern.]", GLOB_MAX_FILES, g->n);
	if (res->timed_out) {
		buf_addf(&b, "\n\n[The search timed out after %d s; some files "
		         "may be missing. Search a smaller path.]",
		         GLOB_TIMEOUT);
	} else if (res->stdout_dropped > 0) {
		buf_addf(&b, "\n\n[The file list passed %zu MiB; some files "
		         "may be missing. Search a smaller path.]",
		         GLOB_LIST_LIMIT >> 20);
	} else if (res->exit_code != 0 && res->stderr_data.len > 0) {
		buf_adds(&b, "\n\n[Some folders could not be searched: ");
		add_stderr(&b, &res->stderr_data);
		buf_addc(&b, ']');
	}
	return reply(c, &b, 0);
}

/* find lists every regular file outside .git; when the last segment of
 * the pattern names files, find -name does the first cut, so that a big
 * tree does not overflow the output limit. */
static void
glob_command(struct buf *b, const struct glob_search *g, const char *root)
{
	const char *last = strrchr(g->pattern, '/');

	last = last != NULL ? last + 1 : g->pattern;
	buf_adds(b, "find ");
	add_quoted(b, root);
	buf_adds(b, " -type f -not -path '*/.git/*'");
	if (*last != '\0' && strcmp(last, "**") != 0) {
		buf_adds(b, " -name ");
		add_quoted(b, last);
	}
	buf_adds(b, " -print0");
}

static int
glob_run(struct call *c, struct glob_search *g, const char *root)
{
	struct flue_exec_request req = {0};
	struct flue_exec_result res;
	struct buf cmd = {0};
	int rc;

	glob_command(&cmd, g, root);
	if (cmd.failed) {
		buf_free(&cmd);
		return nomem(c);
	}
	req.command = cmd.data;
	req.cwd = c->cwd;
	req.env = c->env->exec_env;
	req.timeout_ms = GLOB_TIMEOUT * 1000;
	req.output_limit = GLOB_LIST_LIMIT;
	req.cancel = c->env->cancel;
	rc = flue_workspace_exec(c->ws, &req, &res, &c->err);
	buf_free(&cmd);
	if (rc != 0)
		return sandbox_failed(c, rc);
	rc = glob_reply(c, g, root, &res);
	flue_exec_result_free(&res);
	return rc;
}

/* The folder an absolute pattern starts in: its segments before the
 * first one with a wildcard ("/src/?.c" gives "/src").  malloc'd. */
static char *
literal_dir(const char *pattern)
{
	const char *meta = strpbrk(pattern, "*?[\\"), *slash;
	char *dir, *abs;

	if (meta == NULL)
		meta = pattern + strlen(pattern);
	for (slash = meta; slash > pattern && *slash != '/'; slash--)
		;
	dir = strndup(pattern, (size_t)(slash - pattern));
	if (dir == NULL)
		return NULL;
	abs = flue_path_normalize(dir);
	free(dir);
	return abs;
}

static int
tool_glob(struct call *c)
{
	static const struct arg spec[] = {
		{"pattern", json_type_string, 1},
		{"path", json_type_string, 0},
	};
	struct glob_search g = {0};
	const char *path;
	char *root;
	int rc;

	if ((rc = check_args(c, spec, FLUE_ARRAY_LEN(spec))) != 0)
		return rc;
	g.pattern = str_arg(c, "pattern", NULL);
	while (strncmp(g.pattern, "./", 2) == 0)
		g.pattern += 2;
	if (g.pattern[0] == '\0')
		return replyf(c, 1, "pattern is empty; pass a glob such as "
		              "**/*.c");
	path = str_arg(c, "path", NULL);
	g.by_name = strchr(g.pattern, '/') == NULL;
	g.absolute = g.pattern[0] == '/';
	if (!g.by_name && split(&g.pat, g.pattern + g.absolute, 1) != 0) {
		segments_free(&g.pat);
		return nomem(c);
	}
	if (g.absolute && path == NULL)
		root = literal_dir(g.pattern);
	else
		root = resolve(c, path != NULL ? path : ".");
	rc = root != NULL ? glob_run(c, &g, root) : nomem(c);
	free(root);
	for (size_t i = 0; i < g.n; i++)
		free(g.found[i]);
	free(g.found);
	segments_free(&g.pat);
	return rc;
}

/* ---- the entry --------------------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(struct call *c);
} core_tools[] = {
	{"read", tool_read},
	{"write", tool_write},
	{"edit", tool_edit},
	{"bash", tool_bash},
	{"grep", tool_grep},
	{"glob", tool_glob},
};

/* The working directory the tools resolve against, absolute. */
static char *
working_dir(const struct flue_tool_env *env)
{
	const char *base = flue_workspace_dir(env->workspace);

	if (env->cwd == NULL || env->cwd[0] == '\0')
		return flue_path_normalize(base);
	return flue_path_resolve(base, env->cwd);
}

int
flue_tool_run(const struct flue_tool_env *env, const char *name,
              json_object *args, struct flue_tool_output *out,
              struct flue_error *err)
{
	struct call c = {0};
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < FLUE_ARRAY_LEN(core_tools); i++)
		if (name != NULL && strcmp(core_tools[i].name, name) == 0)
			break;
	if (i == FLUE_ARRAY_LEN(core_tools))
		return flue_error_set(err, FLUE_ENOENT, "there is no core "
		                      "tool named '%s'; the core tools are "
		                      "read, write, edit, bash, grep and glob",
		                      name != NULL ? name : "");
	if (env == NULL || env->workspace == NULL)
		return flue_error_set(err, FLUE_EINVAL, "the %s tool needs a "
		                      "workspace to run in", name);
	c.env = env;
	c.ws = env->workspace;
	c.args = args;
	c.out = out;
	rc = cancelled(&c);
	if (rc == 0 && (c.cwd = working_dir(env)) == NULL)
		rc = nomem(&c);
	if (rc == 0)
		rc = core_tools[i].run(&c);
	free(c.cwd);
	if (rc == REPLIED) {
		flue_error_clear(err);
		return 0;
	}
	flue_tool_output_clear(out);
	if (rc == 0)    /* a tool that neither answered nor failed */
		rc = flue_error_set(&c.err, FLUE_ERROR, "the %s tool gave no "
		                    "answer", name);
	if (err != NULL)
		*err = c.err;
	return rc;
}

void
flue_tool_output_clear(struct flue_tool_output *out)
{
	if (out == NULL)
		return;
	free(out->text);
	memset(out, 0, sizeof(*out));
}

char *
flue_utf8_clean(const char *text, size_t n, size_t *out_len)
{
	struct buf b = {0};

	if (is_clean(text, n))
		buf_add(&b, text, n);
	else
		add_clean(&b, text, n);
	buf_add(&b, "", 0);
	if (b.failed || b.data == NULL) {
		free(b.data);
		return NULL;
	}
	*out_len = b.len;
	return b.data;
}

/* ---- the bash tool's answer for a command run elsewhere ---------------- */

int
flue_tool_bash_text(const struct flue_exec_result *result, int64_t timeout_s,
                    struct flue_tool_output *out, struct flue_error *err)
{
	struct call c = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	c.out = out;
	rc = bash_reply(&c, result, timeout_s, timeout_s);
	if (rc == REPLIED)
		return 0;
	if (err != NULL)
		*err = c.err;
	return rc != 0 ? rc : FLUE_ENOMEM;
}
