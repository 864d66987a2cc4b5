/* References to the payload and the environment in agent files: one pass
 * over the text copies it and puts in the value of each reference.  What
 * goes in is never scanned again, so a payload cannot inject references
 * of its own. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "template.h"
#include "utf8.h"
#include "yaml.h"

/* How much of a reference, key or name a message quotes. */
/* How many of an object's keys a message lists. */
#define SHOW_KEYS 10
#define ELLIPSIS "\xe2\x80\xa6"

#define NO_FIELD_NAME \
	"expected a field name after '.' (use [\"...\"] for other characters)"

#define PAYLOAD "payload"
#define PAYLOAD_LEN (sizeof(PAYLOAD) - 1)

/* out_add's answer when the output would pass FLUE_TEMPLATE_MAX_OUTPUT;
 * positive so that it never passes for a FLUE_E* code.  The caller
 * words the message, since only it knows what crossed the limit. */
#define TOO_BIG 1

/* What lookup() found: a value, or nothing (the default applies). */
#define FOUND 0
#define MISSING 1

enum token {
	TOKEN_NONE,
	TOKEN_PAYLOAD,          /* {{ ... }} */
	TOKEN_ENV,              /* ${NAME} or ${NAME:-text} */
	TOKEN_ESCAPE            /* $${ */
};

/* One text being expanded. */
struct scan {
	const struct flue_template_context *ctx;  /* [borrowed] */
	const char *text;       /* [borrowed] */
	size_t len;
	const char *name;       /* [borrowed] the file, for messages */
	unsigned line, column;  /* where text[0] is; line 0: unknown */
	int fixed;              /* 1: every message gets line:column as is */
	size_t *budget;         /* [borrowed] output bytes still allowed */
	struct flue_error *err; /* [borrowed] may be NULL */
};

/* One .name, [N] or ["key"] of a path. */
struct seg {
	size_t start, end;      /* where it is written in the text */
	const char *key;        /* [borrowed from ref.keys] NULL: an index */
	size_t index;           /* SIZE_MAX when too large to be in range */
};

/* A parsed {{ ... }}. */
struct ref {
	size_t start, end;      /* the text from {{ to }} inclusive */
	size_t path;            /* where `payload` starts */
	json_object *literal;   /* [owned] the value of a {{ "..." }} */
	int is_literal;
	json_object *fallback;  /* [owned] the default; NULL for null */
	int has_default;
	struct seg segs[FLUE_TEMPLATE_MAX_DEPTH];
	size_t n_segs;
	/* The field names, each NUL-terminated: no longer in all than the
	 * reference that spells them. */
	char keys[FLUE_TEMPLATE_MAX_REF + 1];
	size_t keys_len;
};

/* A growing output buffer. */
struct out {
	char *data;             /* [owned] */
	size_t len, cap;
};

/* ---- characters ------------------------------------------------------- */

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_name_start(char c)
{
	return is_alpha(c) || c == '_';
}

/* A character of a .name segment (and of the first word after {{). */
static int
is_field_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

static int
is_env_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* The offset of the '\n' ending the line that holds text[i], or len. */
static size_t
line_end(const char *text, size_t len, size_t i)
{
	const char *nl = memchr(text + i, '\n', len - i);

	return nl == NULL ? len : (size_t)(nl - text);
}

/* The offset of the first "}}" in text[from, to), or to. */
static size_t
find_close(const char *text, size_t from, size_t to)
{
	for (size_t i = from; i + 1 < to; i++)
		if (text[i] == '}' && text[i + 1] == '}')
			return i;
	return to;
}

/* ---- finding references ----------------------------------------------- */

/* For the {{ at text[i]: 0 when a reference (or a mistake in one)
 * follows, else how many bytes are plain text.  A run of three or more
 * braces is text as a whole, so that {{{ x }}} is not half a reference. */
static size_t
payload_text_len(const char *text, size_t len, size_t i)
{
	size_t j = i + 2;

	while (j < len && text[j] == '{')
		j++;
	if (j - i > 2)
		return j - i;
	while (j < len && is_blank(text[j]))
		j++;
	if (j < len && (text[j] == '"' || is_name_start(text[j])))
		return 0;
	return 2;
}

/* What the $ at text[i] starts.  ${NAME followed by anything but }, :-
 * or the end of the line is shell syntax (${NAME%.*}), left as text. */
static enum token
env_token(const char *text, size_t len, size_t i)
{
	size_t j;

	if (i + 2 < len && text[i + 1] == '$' && text[i + 2] == '{')
		return TOKEN_ESCAPE;
	if (i + 2 >= len || text[i + 1] != '{' || !is_name_start(text[i + 2]))
		return TOKEN_NONE;
	for (j = i + 2; j < len && is_env_char(text[j]); j++)
		;
	if (j == len || text[j] == '}' || text[j] == '\n')
		return TOKEN_ENV;
	if (text[j] == ':' && j + 1 < len && text[j + 1] == '-')
		return TOKEN_ENV;
	return TOKEN_NONE;
}

/* The offset of the first reference or escape at or after from (len if
 * none), and its kind in *kind. */
static size_t
next_token(const struct flue_template_context *ctx, const char *text,
           size_t len, size_t from, enum token *kind)
{
	size_t skip;

	for (size_t i = from; i < len; i++) {
		if (text[i] == '{' && (ctx->flags & FLUE_TEMPLATE_PAYLOAD) &&
		    i + 1 < len && text[i + 1] == '{') {
			skip = payload_text_len(text, len, i);
			if (skip == 0) {
				*kind = TOKEN_PAYLOAD;
				return i;
			}
			i += skip - 1;
		} else if (text[i] == '$' && (ctx->flags & FLUE_TEMPLATE_ENV)) {
			*kind = env_token(text, len, i);
			if (*kind != TOKEN_NONE)
				return i;
		}
	}
	*kind = TOKEN_NONE;
	return len;
}

int
flue_template_has_refs(const struct flue_template_context *ctx,
                       const char *text, size_t len)
{
	enum token kind;

	if (ctx == NULL || text == NULL)
		return 0;
	return next_token(ctx, text, len, 0, &kind) < len;
}

/* ---- messages --------------------------------------------------------- */

/* The line and column of text[offset]: columns count characters, so
 * UTF-8 continuation bytes do not advance them. */
static void
locate(const struct scan *s, size_t offset, unsigned *line,
       unsigned *column)
{
	*line = s->line;
	*column = s->column;
	if (s->fixed)
		return;
	for (size_t i = 0; i < offset; i++) {
		unsigned char c = (unsigned char)s->text[i];

		if (c == '\n') {
			(*line)++;
			*column = 1;
		} else if ((c & 0xC0) != 0x80) {
			(*column)++;
		}
	}
}

static int fail_at(const struct scan *s, size_t offset, const char *fmt,
                   ...) FLUE_PRINTF(3, 4);

/* Fill the error as "file:line:column: what" (FLUE_EINVAL). */
static int
fail_at(const struct scan *s, size_t offset, const char *fmt, ...)
{
	char what[FLUE_ERROR_MESSAGE_MAX];
	unsigned line, column;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s->line == 0)
		return flue_error_set(s->err, FLUE_EINVAL, "%s: %s", s->name,
		                      what);
	locate(s, offset, &line, &column);
	return flue_error_set(s->err, FLUE_EINVAL, "%s:%u:%u: %s", s->name,
	                      line, column, what);
}

static int
fail_memory(const struct scan *s)
{
	return flue_error_set(s->err, FLUE_ENOMEM,
	                      "%s: out of memory while expanding references",
	                      s->name);
}

static int fail_ref(const struct scan *s, const struct ref *r,
                    const char *fmt, ...) FLUE_PRINTF(3, 4);

/* "file:line:column: {{payload.x}}: what", at the reference's {{. */
static int
fail_ref(const struct scan *s, const struct ref *r, const char *fmt, ...)
{
	char what[FLUE_ERROR_MESSAGE_MAX];
	const char *ref = s->text + r->start;
	size_t len = r->end - r->start;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail_at(s, r->start, "%.*s%s: %s", flue_quote_len(ref, len), ref,
	               flue_quote_more(len), what);
}

/* A mistake in the syntax of the reference at start, found at p (the
 * parse stops at w, the end of its line or FLUE_TEMPLATE_MAX_REF bytes
 * on, whichever is first; eol is the end of its line).  Running out of
 * room or of line says so instead of what was expected there. */
static int
fail_syntax(const struct scan *s, size_t start, size_t p, size_t w,
            size_t eol, const char *what)
{
	const char *ref = s->text + start;
	size_t close, len;

	if (p >= w && w < eol)
		return fail_at(s, start, "reference '%.*s...' is longer than "
		               "%d bytes", flue_quote_len(ref, w - start), ref,
		               FLUE_TEMPLATE_MAX_REF);
	close = find_close(s->text, p < eol ? p : eol, eol);
	if (close == eol) {
		len = eol - start;
		while (len > 0 && is_space(ref[len - 1]))
			len--;
		return fail_at(s, start, "unterminated reference '%.*s%s': "
		               "no }} before the end of the line",
		               flue_quote_len(ref, len), ref, flue_quote_more(len));
	}
	len = close + 2 - start;
	return fail_at(s, start, "%.*s%s: %s", flue_quote_len(ref, len), ref,
	               flue_quote_more(len), what);
}

/* The distance between a and b counting insertions, deletions,
 * substitutions and swaps of neighbours (optimal string alignment);
 * anything over 2 is reported as 3. */
static unsigned
edit_distance(const char *a, size_t n, const char *b, size_t m)
{
	unsigned d[PAYLOAD_LEN + 3][PAYLOAD_LEN + 3];

	if (n > m + 2 || m > n + 2 || n > PAYLOAD_LEN + 2 ||
	    m > PAYLOAD_LEN + 2)
		return 3;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[n][m] > 3 ? 3 : d[n][m];
}

/* {{ followed by a word that is not `payload` (text[id, id_end)): name
 * what is inside the braces and, for a near miss, the fix. */
static int
fail_unknown(const struct scan *s, size_t start, size_t id, size_t id_end,
             size_t eol)
{
	const char *t = s->text;
	size_t a = start + 2, b = find_close(t, id_end, eol), len;

	while (a < b && is_blank(t[a]))
		a++;
	while (b > a && is_space(t[b - 1]))
		b--;
	len = b - a;
	if (edit_distance(t + id, id_end - id, PAYLOAD, PAYLOAD_LEN) > 2)
		return fail_at(s, start, "unknown reference '%.*s%s': only "
		               "payload.* can be used here",
		               flue_quote_len(t + a, len), t + a, flue_quote_more(len));
	return fail_at(s, start, "unknown reference '%.*s%s': only payload.* "
	               "can be used here (did you mean payload%.*s%s?)",
	               flue_quote_len(t + a, len), t + a, flue_quote_more(len),
	               flue_quote_len(t + id_end, b - id_end), t + id_end,
	               flue_quote_more(b - id_end));
}

/* ---- output ----------------------------------------------------------- */

/* Append p[0..n): 0, TOO_BIG (nothing appended, no error set) or
 * FLUE_ENOMEM (error set). */
static int
out_add(const struct scan *s, struct out *o, const char *p, size_t n)
{
	if (n > *s->budget)
		return TOO_BIG;
	if (n + 1 > o->cap - o->len || o->data == NULL) {
		size_t cap = o->cap ? o->cap : 256;
		char *grown;

		while (cap - o->len < n + 1)
			cap *= 2;
		grown = realloc(o->data, cap);
		if (grown == NULL)
			return fail_memory(s);
		o->data = grown;
		o->cap = cap;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
	o->data[o->len] = '\0';
	*s->budget -= n;
	return 0;
}

/* Append text[from, to) of the input. */
static int
add_text(const struct scan *s, struct out *o, size_t from, size_t to)
{
	size_t left = *s->budget;
	int rc = out_add(s, o, s->text + from, to - from);

	if (rc == TOO_BIG)
		return fail_at(s, from + left, "the expanded text grows past "
		               "1 MiB here");
	return rc;
}

/* ---- JSON literals ---------------------------------------------------- */

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?: json-c alone would
 * also take NaN, Infinity and "1.". */
static int
is_json_number(const char *p, size_t n)
{
	size_t i = 0, start;

	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0') {
		i++;
	} else if (i < n && p[i] >= '1' && p[i] <= '9') {
		while (i < n && is_digit(p[i]))
			i++;
	} else {
		return 0;
	}
	if (i < n && p[i] == '.') {
		start = ++i;
		while (i < n && is_digit(p[i]))
			i++;
		if (i == start)
			return 0;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '-' || p[i] == '+'))
			i++;
		start = i;
		while (i < n && is_digit(p[i]))
			i++;
		if (i == start)
			return 0;
	}
	return i == n;
}

/* json-c's value of the JSON text p[0..n) (shorter than a reference):
 * 0 with *out set, or -1 when it is not valid JSON or memory ran out. */
static int
json_value(const char *p, size_t n, json_object **out)
{
	char buf[FLUE_TEMPLATE_MAX_REF + 1];
	struct json_tokener *tok;
	int ok;

	*out = NULL;
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	tok = json_tokener_new();
	if (tok == NULL)
		return -1;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* The NUL goes in too: without it json-c waits for more digits
	 * after a number. */
	*out = json_tokener_parse_ex(tok, buf, (int)n + 1);
	ok = json_tokener_get_error(tok) == json_tokener_success &&
	     json_tokener_get_parse_end(tok) == n;
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The JSON string that starts with the " at *p, into *out [caller-owned];
 * *p moves past it. */
static int
parse_string(const struct scan *s, size_t start, size_t *p, size_t w,
             size_t eol, json_object **out)
{
	const char *t = s->text;
	size_t q = *p + 1;

	while (q < w && t[q] != '"')
		q += t[q] == '\\' ? 2 : 1;
	if (q >= w) {
		if (w < eol)
			return fail_syntax(s, start, w, w, eol, "");
		return fail_syntax(s, start, *p, w, eol, "a string is not "
		                   "closed before the end of the line");
	}
	if (json_value(t + *p, q + 1 - *p, out) != 0 ||
	    !json_object_is_type(*out, json_type_string)) {
		json_object_put(*out);
		*out = NULL;
		return fail_syntax(s, start, *p, w, eol, "invalid JSON string "
		                   "(use JSON escapes such as \\\" and \\n)");
	}
	*p = q + 1;
	return 0;
}

/* The default after |: a JSON string, number, true, false or null. */
static int
parse_default(const struct scan *s, struct ref *r, size_t *p, size_t w,
              size_t eol)
{
	const char *t = s->text;
	size_t q = *p;

	r->has_default = 1;
	if (q < w && t[q] == '"')
		return parse_string(s, r->start, p, w, eol, &r->fallback);
	while (q < w && (is_alpha(t[q]) || is_digit(t[q]) || t[q] == '+' ||
	                 t[q] == '-' || t[q] == '.'))
		q++;
	if (q == *p)
		return fail_syntax(s, r->start, q, w, eol, "expected a default "
		                   "after '|': a string in double quotes, a "
		                   "number, true, false or null");
	if (q - *p == 4 && memcmp(t + *p, "null", 4) == 0) {
		r->fallback = NULL;
	} else if (q - *p == 4 && memcmp(t + *p, "true", 4) == 0) {
		r->fallback = json_object_new_boolean(1);
	} else if (q - *p == 5 && memcmp(t + *p, "false", 5) == 0) {
		r->fallback = json_object_new_boolean(0);
	} else if (is_json_number(t + *p, q - *p)) {
		if (json_value(t + *p, q - *p, &r->fallback) != 0)
			return fail_memory(s);
	} else {
		return fail_syntax(s, r->start, *p, w, eol, "the default is "
		                   "not a JSON value (put text in double "
		                   "quotes)");
	}
	if (r->fallback == NULL && t[*p] != 'n')
		return fail_memory(s);
	*p = q;
	return 0;
}

/* ---- paths ------------------------------------------------------------ */

static int
add_key(const struct scan *s, struct ref *r, struct seg *g, const char *key,
        size_t len)
{
	if (len + 1 > sizeof(r->keys) - r->keys_len)
		return fail_memory(s);
	memcpy(r->keys + r->keys_len, key, len);
	r->keys[r->keys_len + len] = '\0';
	g->key = r->keys + r->keys_len;
	r->keys_len += len + 1;
	return 0;
}

/* The [...] whose [ is at *p. */
static int
parse_bracket(const struct scan *s, struct ref *r, struct seg *g, size_t *p,
              size_t w, size_t eol)
{
	const char *t = s->text;
	json_object *key = NULL;
	size_t q = *p + 1;
	int rc;

	if (q < w && is_digit(t[q])) {
		g->index = 0;
		for (; q < w && is_digit(t[q]); q++) {
			size_t d = (size_t)(t[q] - '0');

			/* Too large to be in range; still read to the ]. */
			if (g->index > (SIZE_MAX - 1 - d) / 10)
				g->index = SIZE_MAX;
			else
				g->index = g->index * 10 + d;
		}
	} else if (q < w && t[q] == '"') {
		rc = parse_string(s, r->start, &q, w, eol, &key);
		if (rc != 0)
			return rc;
		if (strlen(json_object_get_string(key)) !=
		    (size_t)json_object_get_string_len(key)) {
			json_object_put(key);
			return fail_syntax(s, r->start, *p, w, eol, "a key "
			                   "cannot contain \\u0000");
		}
		rc = add_key(s, r, g, json_object_get_string(key),
		             (size_t)json_object_get_string_len(key));
		json_object_put(key);
		if (rc != 0)
			return rc;
	} else {
		return fail_syntax(s, r->start, q, w, eol, "expected an index "
		                   "or a quoted key after '['");
	}
	if (q >= w || t[q] != ']')
		return fail_syntax(s, r->start, q, w, eol, "expected ']'");
	*p = q + 1;
	return 0;
}

/* The segments after `payload`, from *p. */
static int
parse_path(const struct scan *s, struct ref *r, size_t *p, size_t w,
           size_t eol)
{
	const char *t = s->text;
	struct seg *g;
	size_t k;
	int rc;

	while (*p < w && (t[*p] == '.' || t[*p] == '[')) {
		if (r->n_segs == FLUE_TEMPLATE_MAX_DEPTH)
			return fail_syntax(s, r->start, *p, w, eol, "the path "
			                   "has more than 32 segments");
		g = &r->segs[r->n_segs];
		g->start = *p;
		g->key = NULL;
		g->index = 0;
		if (t[*p] == '.') {
			for (k = *p + 1; k < w && is_field_char(t[k]); k++)
				;
			if (k == *p + 1)
				return fail_syntax(s, r->start, k, w, eol,
				                   NO_FIELD_NAME);
			rc = add_key(s, r, g, t + *p + 1, k - *p - 1);
			*p = k;
		} else {
			rc = parse_bracket(s, r, g, p, w, eol);
		}
		if (rc != 0)
			return rc;
		g->end = *p;
		r->n_segs++;
	}
	return 0;
}

static void
ref_free(struct ref *r)
{
	json_object_put(r->literal);
	json_object_put(r->fallback);
	r->literal = NULL;
	r->fallback = NULL;
}

/* Parse the {{ ... }} at start into *r (released with ref_free, also
 * after an error). */
static int
parse_ref(const struct scan *s, size_t start, struct ref *r)
{
	const char *t = s->text;
	size_t eol = line_end(t, s->len, start), w = eol, p, id, len;
	char what[64];
	int rc;

	r->start = start;
	r->end = start;
	r->literal = NULL;
	r->fallback = NULL;
	r->is_literal = 0;
	r->has_default = 0;
	r->n_segs = 0;
	r->keys_len = 0;
	if (w - start > FLUE_TEMPLATE_MAX_REF)
		w = start + FLUE_TEMPLATE_MAX_REF;
	for (p = start + 2; p < w && is_blank(t[p]); p++)
		;
	if (p < w && t[p] == '"') {
		r->is_literal = 1;
		rc = parse_string(s, start, &p, w, eol, &r->literal);
	} else {
		for (id = p; p < w && is_field_char(t[p]); p++)
			;
		if (p - id != PAYLOAD_LEN || memcmp(t + id, PAYLOAD,
		                                    PAYLOAD_LEN) != 0)
			return fail_unknown(s, start, id, p, eol);
		r->path = id;
		rc = parse_path(s, r, &p, w, eol);
	}
	if (rc != 0)
		return rc;
	while (p < w && is_blank(t[p]))
		p++;
	if (p < w && t[p] == '|') {
		for (p++; p < w && is_blank(t[p]); p++)
			;
		rc = parse_default(s, r, &p, w, eol);
		if (rc != 0)
			return rc;
		while (p < w && is_blank(t[p]))
			p++;
	}
	if (p + 1 < w && t[p] == '}' && t[p + 1] == '}') {
		r->end = p + 2;
		return 0;
	}
	if (p + 1 >= w)
		return fail_syntax(s, start, w, w, eol, "");
	/* Quote the one character that is out of place, all its bytes. */
	len = 1;
	while (len < 4 && p + len < w &&
	       ((unsigned char)t[p + len] & 0xC0) == 0x80)
		len++;
	snprintf(what, sizeof(what), "unexpected '%.*s' where }} should be",
	         (int)len, t + p);
	return fail_syntax(s, start, p, w, eol, what);
}

/* ---- values ----------------------------------------------------------- */

static const char *
kind_of(json_object *value)
{
	switch (json_object_get_type(value)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_int: case json_type_double: return "a number";
	case json_type_string: return "a string";
	case json_type_array: return "an array";
	case json_type_object: return "an object";
	default: return "something else";
	}
}

/* "it has: a, b" with at most SHOW_KEYS names, for a missing field. */
static void
list_keys(json_object *obj, char *buf, size_t size)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	size_t used, n = 0;
	const char *key;

	if (json_object_iter_equal(&it, &end)) {
		snprintf(buf, size, "it has no fields");
		return;
	}
	used = (size_t)snprintf(buf, size, "it has: ");
	for (; !json_object_iter_equal(&it, &end) && used < size;
	     json_object_iter_next(&it), n++) {
		key = json_object_iter_peek_name(&it);
		if (n == SHOW_KEYS) {
			snprintf(buf + used, size - used, ", " ELLIPSIS);
			return;
		}
		used += (size_t)snprintf(buf + used, size - used, "%s%.*s%s",
		                         n ? ", " : "",
		                         flue_quote_len(key, strlen(key)), key,
		                         flue_quote_more(strlen(key)));
	}
}

/* The path of r up to offset end, as a message quotes it: 'payload.a'. */
static void
path_name(const struct scan *s, const struct ref *r, size_t end, char *buf,
          size_t size)
{
	const char *p = s->text + r->path;
	size_t len = end - r->path;

	snprintf(buf, size, "'%.*s%s'", flue_quote_len(p, len), p, flue_quote_more(len));
}

/* One .name or ["key"] step from value, an object: *next [borrowed]. */
static int
step_field(const struct scan *s, const struct ref *r, const struct seg *g,
           json_object *value, json_object **next)
{
	char name[FLUE_QUOTE_MAX + 8], keys[FLUE_ERROR_MESSAGE_MAX / 2];
	size_t len = strlen(g->key);

	path_name(s, r, g->start, name, sizeof(name));
	if (!json_object_is_type(value, json_type_object))
		return fail_ref(s, r, "%s is %s, not an object", name,
		                kind_of(value));
	if (json_object_object_get_ex(value, g->key, next))
		return FOUND;
	if (r->has_default)
		return MISSING;
	list_keys(value, keys, sizeof(keys));
	if (g->start == r->path + PAYLOAD_LEN)
		return fail_ref(s, r, "the payload has no field '%.*s%s' (%s)",
		                flue_quote_len(g->key, len), g->key, flue_quote_more(len),
		                keys);
	return fail_ref(s, r, "%s has no field '%.*s%s' (%s)", name,
	                flue_quote_len(g->key, len), g->key, flue_quote_more(len), keys);
}

/* One [N] step from value, an array: *next [borrowed]. */
static int
step_index(const struct scan *s, const struct ref *r, const struct seg *g,
           json_object *value, json_object **next)
{
	/* The index as written, between the brackets. */
	const char *index = s->text + g->start + 1;
	size_t index_len = g->end - g->start - 2, n;
	char name[FLUE_QUOTE_MAX + 8], size[64];

	path_name(s, r, g->start, name, sizeof(name));
	if (!json_object_is_type(value, json_type_array))
		return fail_ref(s, r, "%s is %s, not an array", name,
		                kind_of(value));
	n = json_object_array_length(value);
	if (g->index < n) {
		*next = json_object_array_get_idx(value, g->index);
		return FOUND;
	}
	if (r->has_default)
		return MISSING;
	if (n == 0)
		snprintf(size, sizeof(size), "is empty");
	else
		snprintf(size, sizeof(size), "has %zu item%s", n,
		         n == 1 ? "" : "s");
	return fail_ref(s, r, "%s: index %.*s%s is out of range (the array "
	                "%s)", name, flue_quote_len(index, index_len), index,
	                flue_quote_more(index_len), size);
}

/* What the path of r leads to in the payload: FOUND with *out
 * [borrowed], MISSING when the default applies (a missing field or
 * index, a null on the way or at the end, no payload), or an error. */
static int
lookup(const struct scan *s, const struct ref *r, json_object **out)
{
	json_object *value = s->ctx->payload;
	char name[FLUE_QUOTE_MAX + 8];
	const struct seg *g;
	int rc;

	if (value == NULL) {
		if (r->has_default)
			return MISSING;
		return fail_ref(s, r, "no payload was given (pass one with "
		                "--payload)");
	}
	for (size_t k = 0; k < r->n_segs; k++) {
		g = &r->segs[k];
		if (value == NULL) {
			if (r->has_default)
				return MISSING;
			path_name(s, r, g->start, name, sizeof(name));
			return fail_ref(s, r, "%s is null, not %s", name,
			                g->key ? "an object" : "an array");
		}
		if (g->key != NULL)
			rc = step_field(s, r, g, value, &value);
		else
			rc = step_index(s, r, g, value, &value);
		if (rc != FOUND)
			return rc;
	}
	if (value != NULL) {
		*out = value;
		return FOUND;
	}
	if (r->has_default)
		return MISSING;
	path_name(s, r, r->n_segs ? r->segs[r->n_segs - 1].end
	                          : r->path + PAYLOAD_LEN, name, sizeof(name));
	return fail_ref(s, r, "%s is null and the reference has no default",
	                name);
}

/* The value of a parsed reference: *out [borrowed, from the payload or
 * from r], NULL for a JSON null (only a `| null` default gives one). */
static int
evaluate(const struct scan *s, const struct ref *r, json_object **out)
{
	int rc;

	*out = NULL;
	if (r->is_literal) {
		*out = r->literal;
		return 0;
	}
	rc = lookup(s, r, out);
	if (rc == MISSING) {
		*out = r->fallback;
		return 0;
	}
	return rc;
}

/* A value as text: a string as it is, anything else as compact JSON,
 * null as nothing.  *p [borrowed, valid while value is unchanged]. */
static int
value_text(const struct scan *s, json_object *value, const char **p,
           size_t *n)
{
	*p = "";
	*n = 0;
	if (value == NULL)
		return 0;
	if (json_object_is_type(value, json_type_string)) {
		*p = json_object_get_string(value);
		*n = (size_t)json_object_get_string_len(value);
		return 0;
	}
	*p = json_object_to_json_string_length(value, JSON_C_TO_STRING_PLAIN |
	                                       JSON_C_TO_STRING_NOSLASHESCAPE,
	                                       n);
	if (*p == NULL)
		return fail_memory(s);
	return 0;
}

/* ---- expanding text --------------------------------------------------- */

static int
expand_payload(const struct scan *s, struct out *o, size_t start,
               size_t *end)
{
	json_object *value;
	struct ref r;
	const char *p;
	size_t n;
	int rc;

	rc = parse_ref(s, start, &r);
	if (rc == 0)
		rc = evaluate(s, &r, &value);
	if (rc == 0)
		rc = value_text(s, value, &p, &n);
	if (rc == 0) {
		rc = out_add(s, o, p, n);
		if (rc == TOO_BIG)
			rc = fail_ref(s, &r, "inserting it makes the expanded "
			              "text larger than 1 MiB");
	}
	*end = r.end;
	ref_free(&r);
	return rc;
}

static int
expand_env(const struct scan *s, struct out *o, size_t start, size_t *end)
{
	const char *t = s->text, *value, *fallback = NULL;
	size_t eol = line_end(t, s->len, start), w = eol, p, close;
	char name[FLUE_TEMPLATE_MAX_REF + 1];
	size_t name_len, fallback_len = 0;
	int rc;

	if (w - start > FLUE_TEMPLATE_MAX_REF)
		w = start + FLUE_TEMPLATE_MAX_REF;
	for (p = start + 2; p < w && is_env_char(t[p]); p++)
		;
	name_len = p - start - 2;
	if (p + 1 < w && t[p] == ':' && t[p + 1] == '-') {
		close = p + 2;
		while (close < w && t[close] != '}')
			close++;
		fallback = t + p + 2;
		fallback_len = close - p - 2;
		p = close;
	}
	if (p >= w || t[p] != '}') {
		if (p >= w && w < eol)
			return fail_at(s, start, "reference '%.*s...' is "
			               "longer than %d bytes",
			               flue_quote_len(t + start, w - start),
			               t + start, FLUE_TEMPLATE_MAX_REF);
		while (eol > start && is_space(t[eol - 1]))
			eol--;
		return fail_at(s, start, "unterminated reference '%.*s%s': no "
		               "} before the end of the line",
		               flue_quote_len(t + start, eol - start), t + start,
		               flue_quote_more(eol - start));
	}
	*end = p + 1;
	memcpy(name, t + start + 2, name_len);
	name[name_len] = '\0';
	if (s->ctx->getenv != NULL)
		value = s->ctx->getenv(s->ctx->getenv_arg, name);
	else
		value = getenv(name);
	if (value == NULL && fallback == NULL)
		return fail_at(s, start, "${%.*s%s} is not set",
		               flue_quote_len(name, name_len), name,
		               flue_quote_more(name_len));
	if (fallback != NULL && (value == NULL || value[0] == '\0'))
		rc = out_add(s, o, fallback, fallback_len);
	else
		rc = out_add(s, o, value, strlen(value));
	if (rc == TOO_BIG)
		return fail_at(s, start, "%.*s%s: inserting it makes the "
		               "expanded text larger than 1 MiB",
		               flue_quote_len(t + start, *end - start), t + start,
		               flue_quote_more(*end - start));
	return rc;
}

static int
expand_text(const struct scan *s, struct out *o)
{
	enum token kind;
	size_t i = 0, at, end = 0;
	int rc;

	while (i < s->len) {
		at = next_token(s->ctx, s->text, s->len, i, &kind);
		rc = add_text(s, o, i, at);
		if (rc != 0 || at == s->len)
			return rc;
		switch (kind) {
		case TOKEN_ESCAPE:
			/* $${ is ${ without the first $. */
			rc = add_text(s, o, at + 1, at + 3);
			end = at + 3;
			break;
		case TOKEN_PAYLOAD:
			rc = expand_payload(s, o, at, &end);
			break;
		case TOKEN_ENV:
			rc = expand_env(s, o, at, &end);
			break;
		default:
			/* next_token stops before len on nothing else. */
			rc = flue_error_set(s->err, FLUE_ERROR, "%s: lost "
			                    "track of a reference", s->name);
			break;
		}
		if (rc != 0)
			return rc;
		i = end;
	}
	return 0;
}

/* Make sure an empty result is an empty string, not NULL. */
static int
out_finish(const struct scan *s, struct out *o)
{
	if (o->data != NULL)
		return 0;
	o->data = malloc(1);
	if (o->data == NULL)
		return fail_memory(s);
	o->data[0] = '\0';
	return 0;
}

int
flue_template_expand(const struct flue_template_context *ctx,
                     const char *text, size_t len, unsigned line,
                     unsigned column, char **out, size_t *out_len,
                     struct flue_error *err)
{
	size_t budget = FLUE_TEMPLATE_MAX_OUTPUT;
	struct out o = { NULL, 0, 0 };
	struct scan s;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (ctx == NULL || out == NULL || (text == NULL && len > 0))
		return flue_error_set(err, FLUE_EINVAL, "flue_template_expand: "
		                      "no context, text or out");
	s.ctx = ctx;
	s.text = text ? text : "";
	s.len = len;
	s.name = ctx->filename ? ctx->filename : "<template>";
	s.line = line;
	s.column = line ? column : 0;
	s.fixed = 0;
	s.budget = &budget;
	s.err = err;
	rc = expand_text(&s, &o);
	if (rc == 0)
		rc = out_finish(&s, &o);
	if (rc != 0) {
		free(o.data);
		return rc;
	}
	*out = o.data;
	if (out_len != NULL)
		*out_len = o.len;
	return 0;
}

/* ---- expanding a tree ------------------------------------------------- */

/* Give a value put in place of a string the string's position, and the
 * values inside it the string's line and column: their own positions,
 * if any, are in the payload, not in this file. */
static int
retarget(json_object *value, const struct flue_yaml_pos *pos)
{
	struct flue_yaml_pos inner = { pos->line, pos->column,
	                               pos->line, pos->column };
	size_t n;

	if (flue_yaml_pos_set(value, pos) != 0)
		return FLUE_ENOMEM;
	switch (json_object_get_type(value)) {
	case json_type_object: {
		struct json_object_iterator it = json_object_iter_begin(value);
		struct json_object_iterator end = json_object_iter_end(value);

		for (; !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it))
			if (retarget(json_object_iter_peek_value(&it),
			             &inner) != 0)
				return FLUE_ENOMEM;
		break;
	}
	case json_type_array:
		n = json_object_array_length(value);
		for (size_t i = 0; i < n; i++)
			if (retarget(json_object_array_get_idx(value, i),
			             &inner) != 0)
				return FLUE_ENOMEM;
		break;
	default:
		break;
	}
	return 0;
}

/* The string that is exactly the reference r: its value itself. */
static int
whole_value(const struct scan *s, const struct ref *r,
            const struct flue_yaml_pos *pos, json_object **out)
{
	json_object *value, *copy = NULL;
	const char *p;
	size_t n;
	int rc;

	*out = NULL;
	rc = evaluate(s, r, &value);
	if (rc == 0)
		rc = value_text(s, value, &p, &n);
	if (rc != 0)
		return rc;
	/* Counted as the text it would be, so that a tree cannot multiply
	 * a big payload past the limit either. */
	if (n > *s->budget)
		return fail_ref(s, r, "inserting it makes the expanded text "
		                "larger than 1 MiB");
	*s->budget -= n;
	if (flue_yaml_copy(value, &copy, NULL) != 0)
		return fail_memory(s);
	if (copy != NULL && pos != NULL && retarget(copy, pos) != 0) {
		json_object_put(copy);
		return fail_memory(s);
	}
	*out = copy;
	return 0;
}

/* What the string str becomes: *replaced 0 when it stays as it is, else
 * 1 with *out [caller-owned] (NULL for a JSON null). */
static int
expand_string(const struct flue_template_context *ctx, size_t *budget,
              json_object *str, json_object **out, int *replaced,
              struct flue_error *err)
{
	const struct flue_yaml_pos *pos = flue_yaml_pos(str);
	struct out o = { NULL, 0, 0 };
	struct scan s;
	struct ref r;
	size_t a, b;
	int rc;

	*out = NULL;
	*replaced = 0;
	s.ctx = ctx;
	s.text = json_object_get_string(str);
	s.len = (size_t)json_object_get_string_len(str);
	if (!flue_template_has_refs(ctx, s.text, s.len))
		return 0;
	s.name = ctx->filename ? ctx->filename : "<template>";
	s.line = pos ? pos->line : 0;
	s.column = pos ? pos->column : 0;
	s.fixed = 1;
	s.budget = budget;
	s.err = err;
	for (a = 0; a < s.len && is_space(s.text[a]); a++)
		;
	for (b = s.len; b > a && is_space(s.text[b - 1]); b--)
		;
	if ((ctx->flags & FLUE_TEMPLATE_PAYLOAD) && b - a >= 2 &&
	    s.text[a] == '{' && s.text[a + 1] == '{' &&
	    payload_text_len(s.text, s.len, a) == 0) {
		rc = parse_ref(&s, a, &r);
		if (rc == 0 && r.end == b)
			rc = whole_value(&s, &r, pos, out);
		ref_free(&r);
		if (rc != 0 || r.end == b) {
			*replaced = rc == 0;
			return rc;
		}
	}
	rc = expand_text(&s, &o);
	if (rc == 0) {
		*out = json_object_new_string_len(o.data ? o.data : "",
		                                  (int)o.len);
		if (*out == NULL || (pos != NULL &&
		                     flue_yaml_pos_set(*out, pos) != 0))
			rc = fail_memory(&s);
	}
	free(o.data);
	if (rc != 0) {
		json_object_put(*out);
		*out = NULL;
		return rc;
	}
	*replaced = 1;
	return 0;
}

static int expand_node(const struct flue_template_context *ctx,
                       size_t *budget, json_object *value,
                       struct flue_error *err);

/* child is the value of key (an object's) or of index (an array's, key
 * NULL) in parent: a string is expanded and replaced in parent, an
 * object or array walked. */
static int
expand_child(const struct flue_template_context *ctx, size_t *budget,
             json_object *parent, const char *key, size_t index,
             json_object *child, struct flue_error *err)
{
	json_object *repl;
	int rc, replaced;

	if (!json_object_is_type(child, json_type_string))
		return expand_node(ctx, budget, child, err);
	rc = expand_string(ctx, budget, child, &repl, &replaced, err);
	if (rc != 0 || !replaced)
		return rc;
	if (key != NULL)
		rc = json_object_object_add(parent, key, repl);
	else
		rc = json_object_array_put_idx(parent, index, repl);
	if (rc < 0) {
		json_object_put(repl);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory while "
		                      "expanding references");
	}
	return 0;
}

/* Expand the strings inside the object or array value.  A value put in
 * place of a string is not visited: payload text is never expanded. */
static int
expand_node(const struct flue_template_context *ctx, size_t *budget,
            json_object *value, struct flue_error *err)
{
	int rc = 0;
	size_t n;

	if (json_object_is_type(value, json_type_object)) {
		/* Replacing the value of a key that is there changes no
		 * entry, so the iteration is safe. */
		json_object_object_foreach(value, key, child) {
			rc = expand_child(ctx, budget, value, key, 0, child,
			                  err);
			if (rc != 0)
				return rc;
		}
	} else if (json_object_is_type(value, json_type_array)) {
		n = json_object_array_length(value);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = expand_child(ctx, budget, value, NULL, i,
			                  json_object_array_get_idx(value, i),
			                  err);
	}
	return rc;
}

int
flue_template_expand_tree(const struct flue_template_context *ctx,
                          json_object **tree, struct flue_error *err)
{
	size_t budget = FLUE_TEMPLATE_MAX_OUTPUT;
	json_object *repl;
	int rc, replaced;

	if (ctx == NULL || tree == NULL)
		return flue_error_set(err, FLUE_EINVAL, "flue_template_expand_"
		                      "tree: no context or tree");
	if (!json_object_is_type(*tree, json_type_string))
		return expand_node(ctx, &budget, *tree, err);
	rc = expand_string(ctx, &budget, *tree, &repl, &replaced, err);
	if (rc == 0 && replaced) {
		json_object_put(*tree);
		*tree = repl;
	}
	return rc;
}
