/* JSON Schema validation over json-c: draft 2020-12, and draft-07 for
 * schemas that ask for it.  A schema is compiled once into a graph of
 * nodes that all live in one arena owned by struct flue_schema; the
 * validator walks that graph and allocates only to explain a failure or
 * to track what unevaluatedItems/unevaluatedProperties need.
 *
 * Draft-04 and draft-06 schemas are read with the draft-07 rules (plus
 * draft-04's boolean exclusiveMaximum/exclusiveMinimum; its "id" is not
 * a keyword), 2019-09 ones with the 2020-12 rules except that an array
 * "items" is a tuple; $recursiveRef is not supported.  A meta-schema
 * that is not one of those is fetched through the resolver for its
 * $vocabulary.  With validate_formats, "format" asserts date-time, date,
 * time, duration, email, idn-email, hostname, ipv4, ipv6, uri,
 * uri-reference, iri, iri-reference, uri-template, uuid, regex,
 * json-pointer and relative-json-pointer; other formats pass.
 * contentMediaType and contentEncoding are annotations only.  In strict
 * mode a member of a schema object that is none of those keywords nor
 * an annotation of the spec is refused, with the nearest keyword.
 *
 * Patterns are ECMA-262 text translated to POSIX extended expressions
 * (regcomp, in a UTF-8 locale when one exists).  \d \w \s and their
 * negations, non-capturing and named groups, lazy quantifiers, \uXXXX
 * and \xHH escapes are translated; lookahead, lookbehind, \p{..}
 * property classes and named back references are not supported, and a
 * schema that uses them is refused.  \b and back references rely on the
 * GNU extensions of glibc's regcomp. */
#include "config.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "jsonschema.h"
#include "suggest.h"

/* The report keeps this many problems; the sub-lists built while looking
 * for the best anyOf/oneOf branch keep a few more so that sorting by
 * depth has something to choose from. */
#define REPORT_MAX 32
#define LIST_MAX 64

/* Evaluations nested this deep mean a schema that refers to itself
 * without consuming any of the instance ({"$ref": "#"}). */
#define DEPTH_MAX 512

/* How much of a value or list a message quotes. */
#define SHOW_MAX 120

enum draft {
	DRAFT4 = 4,
	DRAFT6 = 6,
	DRAFT7 = 7,
	DRAFT2019 = 2019,
	DRAFT2020 = 2020,
};

/* Vocabularies a meta-schema may leave out; core is always on. */
enum {
	VOC_APPLICATOR = 1 << 0,
	VOC_UNEVALUATED = 1 << 1,
	VOC_VALIDATION = 1 << 2,
	VOC_FORMAT_ASSERT = 1 << 3,
	VOC_DEFAULT = VOC_APPLICATOR | VOC_UNEVALUATED | VOC_VALIDATION,
};

/* Instance types; an integral number is both TY_NUMBER and TY_INTEGER. */
enum {
	TY_NULL = 1 << 0,
	TY_BOOLEAN = 1 << 1,
	TY_OBJECT = 1 << 2,
	TY_ARRAY = 1 << 3,
	TY_NUMBER = 1 << 4,
	TY_STRING = 1 << 5,
	TY_INTEGER = 1 << 6,
};

enum format {
	FMT_NONE,
	FMT_DATE_TIME,
	FMT_DATE,
	FMT_TIME,
	FMT_DURATION,
	FMT_EMAIL,
	FMT_IDN_EMAIL,
	FMT_HOSTNAME,
	FMT_IPV4,
	FMT_IPV6,
	FMT_URI,
	FMT_URI_REFERENCE,
	FMT_IRI,
	FMT_IRI_REFERENCE,
	FMT_URI_TEMPLATE,
	FMT_UUID,
	FMT_REGEX,
	FMT_JSON_POINTER,
	FMT_RELATIVE_JSON_POINTER,
};

/* Node flags: which of the scalar keywords are present. */
enum {
	N_FALSE = 1 << 0,          /* the schema false */
	N_REF_ONLY = 1 << 1,       /* draft-07: $ref hides its siblings */
	N_CONST = 1 << 2,
	N_MULTIPLE_OF = 1 << 3,
	N_MAXIMUM = 1 << 4,
	N_MINIMUM = 1 << 5,
	N_EXCL_MAXIMUM = 1 << 6,
	N_EXCL_MINIMUM = 1 << 7,
	N_MAX_LENGTH = 1 << 8,
	N_MIN_LENGTH = 1 << 9,
	N_MAX_ITEMS = 1 << 10,
	N_MIN_ITEMS = 1 << 11,
	N_UNIQUE = 1 << 12,
	N_MAX_CONTAINS = 1 << 13,
	N_MAX_PROPS = 1 << 14,
	N_MIN_PROPS = 1 << 15,
	N_FORMAT_ASSERT = 1 << 16,
	N_OBJECT_LOOP = 1 << 17,   /* some keyword walks the properties */
};

/* A JSON number as json-c holds it.  Comparisons go through num_cmp,
 * which is exact between any two of the three kinds. */
struct num {
	enum { NUM_INT, NUM_UINT, NUM_DOUBLE } kind;
	int64_t i;
	uint64_t u;
	double d;
};

/* A number as decimal digits times a power of ten, so that multipleOf
 * can be exact for the numbers people write (0.01, 1e-8). */
struct decimal {
	char digits[24];        /* no leading zeros; "" for zero */
	int exp;
};

struct node;
struct resource;

struct prop {
	const char *name;       /* [borrowed] a key of the schema document */
	struct node *node;
};

struct pattern {
	regex_t re;
	const char *source;     /* [borrowed] the ECMA-262 text */
	struct pattern *next;   /* every pattern of the schema, for regfree */
};

struct pattern_prop {
	struct pattern *pattern;
	struct node *node;
};

struct dep_required {
	const char *name;
	const char **names;
	size_t count;
};

struct dep_schema {
	const char *name;
	struct node *node;
};

struct node_list {
	struct node **items;
	size_t count;
};

/* A compiled schema object or boolean.  Everything it points to lives in
 * the schema's arena or in the schema documents it keeps. */
struct node {
	json_object *json;          /* [borrowed] the schema value */
	const char *path;           /* JSON pointer of json, for messages */
	struct resource *res;       /* the resource it belongs to */
	unsigned flags;             /* N_* */
	unsigned char types;        /* TY_*; 0 = no "type" */
	unsigned char format;       /* FMT_* */
	json_object *const_value;   /* [borrowed] with N_CONST; may be NULL */
	json_object *enum_values;   /* [borrowed] an array, or NULL */
	struct decimal multiple_dec;
	double multiple_of;
	struct num maximum, minimum, excl_maximum, excl_minimum;
	size_t max_length, min_length, max_items, min_items;
	size_t max_contains, min_contains, max_props, min_props;
	struct pattern *pattern;
	const char **required;
	size_t n_required;
	struct dep_required *dep_required;
	size_t n_dep_required;
	struct prop *props;         /* sorted by name */
	size_t n_props;
	struct pattern_prop *pattern_props;
	size_t n_pattern_props;
	struct node *additional_props, *property_names;
	struct node_list prefix_items;
	struct node *items;         /* the items after prefix_items */
	struct node *contains;
	struct node *unevaluated_items, *unevaluated_props;
	struct node_list all_of, any_of, one_of;
	struct node *not_, *if_, *then_, *else_;
	struct dep_schema *dep_schemas;
	size_t n_dep_schemas;
	struct node *ref;
	struct node *dynamic_ref;   /* where $dynamicRef points statically */
	const char *dynamic_name;   /* the anchor it looks for in scope */
};

struct anchor {
	struct anchor *next;
	const char *name;
	struct node *node;
	int dynamic;                /* made by $dynamicAnchor */
};

/* A schema resource: a document, or a subschema with its own $id. */
struct resource {
	struct resource *next;      /* every resource of the schema */
	const char *uri;            /* absolute, no fragment; "" = no base */
	struct resource *alias_of;  /* a second name of that resource */
	json_object *json;          /* [borrowed] its root */
	struct node *node;
	const char *path;           /* where json is, for messages */
	struct anchor *anchors;
	int draft;
	unsigned vocab;             /* VOC_* */
};

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct flue_schema {
	struct node *root;
	struct arena_block *arena;  /* [owned] nodes, strings, arrays */
	struct resource *resources;
	struct pattern *patterns;   /* [owned] compiled expressions */
	json_object **docs;         /* [owned] references to the documents */
	size_t n_docs, cap_docs;
	locale_t utf8;              /* [owned] (locale_t)0 when unavailable */
	int utf8_tried;
	int validate_formats;
};

/* ---- memory ------------------------------------------------------------ */

static void *
arena_alloc(struct flue_schema *s, size_t size)
{
	const size_t align = sizeof(max_align_t);
	struct arena_block *b = s->arena;
	size_t want;
	void *p;

	size = (size + align - 1) / align * align;
	if (b == NULL || b->size - b->used < size) {
		want = size > 8192 ? size : 8192;
		b = malloc(sizeof(*b) + want);
		if (b == NULL)
			return NULL;
		b->next = s->arena;
		b->used = 0;
		b->size = want;
		s->arena = b;
	}
	p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

static char *
arena_strndup(struct flue_schema *s, const char *text, size_t len)
{
	char *copy = arena_alloc(s, len + 1);

	if (copy != NULL) {
		memcpy(copy, text, len);
		copy[len] = '\0';
	}
	return copy;
}

static char *
arena_strdup(struct flue_schema *s, const char *text)
{
	return arena_strndup(s, text, strlen(text));
}

/* A growing string; a failed allocation is remembered and reported once
 * at the end, so that callers can append without checking each time. */
struct sbuf {
	char *buf;              /* [owned] */
	size_t len, cap;
	int failed;
};

static void
sb_putn(struct sbuf *b, const char *text, size_t len)
{
	size_t cap;
	char *grown;

	if (b->failed)
		return;
	if (len >= SIZE_MAX / 2 - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + len + 1)
			cap *= 2;
		grown = realloc(b->buf, cap);
		if (grown == NULL) {
			b->failed = 1;
			return;
		}
		b->buf = grown;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, text, len);
	b->len += len;
	b->buf[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *text)
{
	sb_putn(b, text, strlen(text));
}

static void
sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char *text;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	sb_putn(b, text, (size_t)n);
	free(text);
}

/* Hand the text over (NULL after a failed allocation). */
static char *
sb_take(struct sbuf *b)
{
	char *text;

	if (b->failed) {
		free(b->buf);
		b->buf = NULL;
		return NULL;
	}
	text = b->buf != NULL ? b->buf : strdup("");
	b->buf = NULL;
	return text;
}

/* ---- pointer map (compile time only) ----------------------------------- */

/* Schema value -> node, so that a subschema reached twice (through a
 * $ref and through its parent) is compiled once. */
struct ptrmap {
	const void **keys;
	void **values;
	size_t cap, count;
};

static size_t
ptr_hash(const void *p, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)p;

	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return (size_t)h & (cap - 1);
}

static void *
map_get(const struct ptrmap *m, const void *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	for (i = ptr_hash(key, m->cap); m->keys[i] != NULL;
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->values[i];
	return NULL;
}

static int
map_put(struct ptrmap *m, const void *key, void *value)
{
	struct ptrmap grown = {0};
	size_t i;

	if ((m->count + 1) * 2 > m->cap) {
		grown.cap = m->cap ? m->cap * 2 : 64;
		grown.keys = calloc(grown.cap, sizeof(*grown.keys));
		grown.values = calloc(grown.cap, sizeof(*grown.values));
		if (grown.keys == NULL || grown.values == NULL) {
			free(grown.keys);
			free(grown.values);
			return -1;
		}
		for (i = 0; i < m->cap; i++)
			if (m->keys[i] != NULL)
				map_put(&grown, m->keys[i], m->values[i]);
		free(m->keys);
		free(m->values);
		*m = grown;
	}
	for (i = ptr_hash(key, m->cap); m->keys[i] != NULL;
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key) {
			m->values[i] = value;
			return 0;
		}
	m->keys[i] = key;
	m->values[i] = value;
	m->count++;
	return 0;
}

static void
map_free(struct ptrmap *m)
{
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

/* ---- characters -------------------------------------------------------- */

/* Locale-free classification: schema keywords and formats are ASCII. */
static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

static size_t
utf8_encode(unsigned long cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode one UTF-8 character at *p; a stray byte stands for itself. */
static unsigned long
utf8_decode(const char **p)
{
	const unsigned char *s = (const unsigned char *)*p;
	unsigned long cp;
	int extra, i;

	if (s[0] < 0xc0) {
		*p += 1;
		return s[0];
	}
	extra = s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : 1;
	cp = s[0] & (0x3f >> extra);
	for (i = 1; i <= extra; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*p += 1;
			return s[0];
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*p += extra + 1;
	return cp;
}

/* Code points, which is what maxLength and minLength count. */
static size_t
utf8_length(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* ---- URIs (RFC 3986) ---------------------------------------------------- */

/* The five parts of a URI reference; a part that is absent has a NULL
 * start (an empty path is present but empty). */
struct uri {
	const char *scheme, *authority, *path, *query, *fragment;
	size_t scheme_len, authority_len, path_len, query_len, fragment_len;
};

static void
uri_split(const char *s, struct uri *u)
{
	const char *p = s, *q;

	memset(u, 0, sizeof(*u));
	if (is_alpha(*p)) {
		for (q = p + 1; is_alpha(*q) || is_digit(*q) || *q == '+' ||
		     *q == '-' || *q == '.'; q++)
			;
		if (*q == ':') {
			u->scheme = s;
			u->scheme_len = (size_t)(q - s);
			p = q + 1;
		}
	}
	if (p[0] == '/' && p[1] == '/') {
		u->authority = p + 2;
		u->authority_len = strcspn(u->authority, "/?#");
		p = u->authority + u->authority_len;
	}
	u->path = p;
	u->path_len = strcspn(p, "?#");
	p += u->path_len;
	if (*p == '?') {
		u->query = p + 1;
		u->query_len = strcspn(u->query, "#");
		p = u->query + u->query_len;
	}
	if (*p == '#') {
		u->fragment = p + 1;
		u->fragment_len = strlen(u->fragment);
	}
}

/* Drop the last segment written to out since start, and its slash
 * (RFC 3986 5.2.4 step C). */
static void
drop_last_segment(struct sbuf *out, size_t start)
{
	while (out->len > start && out->buf[out->len - 1] != '/')
		out->len--;
	if (out->len > start)
		out->len--;
	if (out->buf != NULL)
		out->buf[out->len] = '\0';
}

/* RFC 3986 5.2.4, appending the result to out. */
static void
remove_dot_segments(struct sbuf *out, const char *in, size_t len)
{
	size_t start = out->len, i = 0, seg;

	while (i < len) {
		const char *p = in + i;
		size_t left = len - i;

		if (left >= 3 && memcmp(p, "../", 3) == 0)
			i += 3;
		else if (left >= 2 && memcmp(p, "./", 2) == 0)
			i += 2;
		else if (left >= 3 && memcmp(p, "/./", 3) == 0)
			i += 2;
		else if (left == 2 && memcmp(p, "/.", 2) == 0) {
			sb_putc(out, '/');
			i += 2;
		} else if (left >= 4 && memcmp(p, "/../", 4) == 0) {
			drop_last_segment(out, start);
			i += 3;
		} else if (left == 3 && memcmp(p, "/..", 3) == 0) {
			drop_last_segment(out, start);
			sb_putc(out, '/');
			i += 3;
		} else if ((left == 1 && p[0] == '.') ||
		           (left == 2 && memcmp(p, "..", 2) == 0)) {
			i += left;
		} else {
			seg = p[0] == '/' ? 1 : 0;
			while (seg < left && p[seg] != '/')
				seg++;
			sb_putn(out, p, seg);
			i += seg;
		}
	}
}

static void
uri_put_head(struct sbuf *out, const struct uri *scheme_of,
             const struct uri *authority_of)
{
	if (scheme_of->scheme != NULL) {
		sb_putn(out, scheme_of->scheme, scheme_of->scheme_len);
		sb_putc(out, ':');
	}
	if (authority_of->authority != NULL) {
		sb_puts(out, "//");
		sb_putn(out, authority_of->authority,
		        authority_of->authority_len);
	}
}

/* The path of ref merged with the base's (RFC 3986 5.2.3), then
 * cleaned of dot segments. */
static void
uri_put_merged_path(struct sbuf *out, const struct uri *b,
                    const struct uri *r)
{
	struct sbuf merged = {0};
	size_t keep;

	if (b->authority != NULL && b->path_len == 0) {
		sb_putc(&merged, '/');
	} else {
		keep = b->path_len;
		while (keep > 0 && b->path[keep - 1] != '/')
			keep--;
		sb_putn(&merged, b->path, keep);
	}
	sb_putn(&merged, r->path, r->path_len);
	if (merged.failed)
		out->failed = 1;
	else if (merged.buf != NULL)
		remove_dot_segments(out, merged.buf, merged.len);
	free(merged.buf);
}

/* ref resolved against base (RFC 3986 5.2.2); [caller-owned], NULL when
 * out of memory.  An empty base stands for "no base": relative
 * references then stay relative. */
static char *
uri_resolve(const char *base, const char *ref)
{
	struct sbuf out = {0};
	struct uri b, r;
	const struct uri *query_of = &r;

	uri_split(base, &b);
	uri_split(ref, &r);
	if (r.scheme != NULL) {
		uri_put_head(&out, &r, &r);
		remove_dot_segments(&out, r.path, r.path_len);
	} else if (r.authority != NULL) {
		uri_put_head(&out, &b, &r);
		remove_dot_segments(&out, r.path, r.path_len);
	} else {
		uri_put_head(&out, &b, &b);
		if (r.path_len == 0) {
			sb_putn(&out, b.path, b.path_len);
			if (r.query == NULL)
				query_of = &b;
		} else if (r.path[0] == '/') {
			remove_dot_segments(&out, r.path, r.path_len);
		} else {
			uri_put_merged_path(&out, &b, &r);
		}
	}
	if (query_of->query != NULL) {
		sb_putc(&out, '?');
		sb_putn(&out, query_of->query, query_of->query_len);
	}
	if (r.fragment != NULL) {
		sb_putc(&out, '#');
		sb_putn(&out, r.fragment, r.fragment_len);
	}
	return sb_take(&out);
}

/* ---- JSON pointers ------------------------------------------------------ */

static void
pointer_put_token(struct sbuf *out, const char *token)
{
	sb_putc(out, '/');
	for (; *token; token++) {
		if (*token == '~')
			sb_puts(out, "~0");
		else if (*token == '/')
			sb_puts(out, "~1");
		else
			sb_putc(out, *token);
	}
}

/* base + "/" + the escaped token, in the arena. */
static const char *
pointer_join(struct flue_schema *s, const char *base, const char *token)
{
	struct sbuf b = {0};
	const char *joined = NULL;

	sb_puts(&b, base);
	pointer_put_token(&b, token);
	if (!b.failed)
		joined = arena_strdup(s, b.buf);
	free(b.buf);
	return joined;
}

static const char *
pointer_join_index(struct flue_schema *s, const char *base, size_t index)
{
	char token[32];

	snprintf(token, sizeof(token), "%zu", index);
	return pointer_join(s, base, token);
}

/* Percent-decode a URI fragment; [caller-owned].  A stray '%' stays. */
static char *
percent_decode(const char *text, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '%' && i + 2 < len && is_hex(text[i + 1]) &&
		    is_hex(text[i + 2])) {
			*o++ = (char)(hex_value(text[i + 1]) << 4 |
			              hex_value(text[i + 2]));
			i += 2;
		} else {
			*o++ = text[i];
		}
	}
	*o = '\0';
	return out;
}

/* The value the JSON pointer ptr (already percent-decoded) names inside
 * doc; *found is 0 when there is none. */
static json_object *
pointer_get(json_object *doc, const char *ptr, int *found)
{
	json_object *cur = doc, *next;
	char token[1024];
	size_t n;

	*found = 0;
	if (*ptr != '\0' && *ptr != '/')
		return NULL;
	while (*ptr == '/') {
		ptr++;
		for (n = 0; *ptr != '\0' && *ptr != '/'; ptr++) {
			char c = *ptr;

			if (c == '~' && (ptr[1] == '0' || ptr[1] == '1'))
				c = *++ptr == '0' ? '~' : '/';
			else if (c == '~')
				return NULL;
			if (n + 1 >= sizeof(token))
				return NULL;
			token[n++] = c;
		}
		token[n] = '\0';
		if (json_object_is_type(cur, json_type_object)) {
			if (!json_object_object_get_ex(cur, token, &next))
				return NULL;
		} else if (json_object_is_type(cur, json_type_array)) {
			char *end;
			unsigned long i;

			if (!is_digit(token[0]) ||
			    (token[0] == '0' && token[1] != '\0'))
				return NULL;
			i = strtoul(token, &end, 10);
			if (*end != '\0' || i >= json_object_array_length(cur))
				return NULL;
			next = json_object_array_get_idx(cur, i);
		} else {
			return NULL;
		}
		cur = next;
	}
	*found = 1;
	return cur;
}

/* ---- numbers and equality ----------------------------------------------- */

static unsigned
type_of(json_object *v)
{
	double d;

	switch (json_object_get_type(v)) {
	case json_type_boolean: return TY_BOOLEAN;
	case json_type_object: return TY_OBJECT;
	case json_type_array: return TY_ARRAY;
	case json_type_string: return TY_STRING;
	case json_type_int: return TY_NUMBER | TY_INTEGER;
	case json_type_double:
		/* 1.0 is an integer: JSON Schema looks at values, not at
		 * how they were written. */
		d = json_object_get_double(v);
		return isfinite(d) && d == floor(d) ? TY_NUMBER | TY_INTEGER
		                                    : TY_NUMBER;
	case json_type_null:
	default:
		return TY_NULL;
	}
}

static struct num
num_of(json_object *v)
{
	struct num n = {0};

	if (json_object_is_type(v, json_type_double)) {
		n.kind = NUM_DOUBLE;
		n.d = json_object_get_double(v);
		return n;
	}
	n.kind = NUM_INT;
	n.i = json_object_get_int64(v);
	/* json-c keeps values above INT64_MAX as uint64. */
	if (n.i == INT64_MAX && json_object_get_uint64(v) > INT64_MAX) {
		n.kind = NUM_UINT;
		n.u = json_object_get_uint64(v);
	}
	return n;
}

static double
num_double(const struct num *n)
{
	switch (n->kind) {
	case NUM_INT: return (double)n->i;
	case NUM_UINT: return (double)n->u;
	default: return n->d;
	}
}

/* A double against an integer, without rounding the integer: compare
 * the whole part exactly, then let the fraction decide. */
static int
cmp_double_int(double d, const struct num *n)
{
	double whole;

	if (n->kind == NUM_UINT) {
		if (d < 0)
			return -1;
		if (d >= 18446744073709551616.0)
			return 1;
		whole = floor(d);
		if ((uint64_t)whole != n->u)
			return (uint64_t)whole < n->u ? -1 : 1;
	} else {
		if (d < -9223372036854775808.0)
			return -1;
		if (d >= 9223372036854775808.0)
			return 1;
		whole = floor(d);
		if ((int64_t)whole != n->i)
			return (int64_t)whole < n->i ? -1 : 1;
	}
	return d > whole;
}

/* -1, 0 or 1 as a is below, equal to or above b. */
static int
num_cmp(const struct num *a, const struct num *b)
{
	if (a->kind == NUM_DOUBLE && b->kind == NUM_DOUBLE)
		return (a->d > b->d) - (a->d < b->d);
	if (a->kind == NUM_DOUBLE)
		return cmp_double_int(a->d, b);
	if (b->kind == NUM_DOUBLE)
		return -cmp_double_int(b->d, a);
	if (a->kind == NUM_INT && b->kind == NUM_INT)
		return (a->i > b->i) - (a->i < b->i);
	if (a->kind == NUM_UINT && b->kind == NUM_UINT)
		return (a->u > b->u) - (a->u < b->u);
	/* NUM_UINT only holds values above INT64_MAX. */
	return a->kind == NUM_INT ? -1 : 1;
}

static int
json_equal(json_object *a, json_object *b);

static int
object_equal(json_object *a, json_object *b)
{
	json_object *other;

	if (json_object_object_length(a) != json_object_object_length(b))
		return 0;
	json_object_object_foreach(a, key, value) {
		if (!json_object_object_get_ex(b, key, &other) ||
		    !json_equal(value, other))
			return 0;
	}
	return 1;
}

static int
array_equal(json_object *a, json_object *b)
{
	size_t n = json_object_array_length(a);

	if (n != json_object_array_length(b))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!json_equal(json_object_array_get_idx(a, i),
		                json_object_array_get_idx(b, i)))
			return 0;
	return 1;
}

/* Deep equality as JSON Schema means it: 1 equals 1.0, key order does
 * not matter, and true is not 1. */
static int
json_equal(json_object *a, json_object *b)
{
	unsigned ta = type_of(a), tb = type_of(b);

	if ((ta & TY_NUMBER) && (tb & TY_NUMBER)) {
		struct num x = num_of(a), y = num_of(b);

		return num_cmp(&x, &y) == 0;
	}
	if (ta != tb)
		return 0;
	switch (ta) {
	case TY_NULL:
		return 1;
	case TY_BOOLEAN:
		return !json_object_get_boolean(a) == !json_object_get_boolean(b);
	case TY_STRING:
		return json_object_get_string_len(a) ==
		       json_object_get_string_len(b) &&
		       memcmp(json_object_get_string(a),
		              json_object_get_string(b),
		              (size_t)json_object_get_string_len(a)) == 0;
	case TY_ARRAY:
		return array_equal(a, b);
	default:
		return object_equal(a, b);
	}
}

/* digits × 10^exp from a printed number ("-12.5e3", "7"), dropping
 * the sign (multiples do not care) and trailing zeros. */
static int
decimal_parse(const char *text, struct decimal *d)
{
	size_t n = 0;
	int exp = 0, seen_point = 0;

	memset(d, 0, sizeof(*d));
	if (*text == '-' || *text == '+')
		text++;
	for (; is_digit(*text) || *text == '.'; text++) {
		if (*text == '.') {
			seen_point = 1;
			continue;
		}
		if (n == 0 && *text == '0') {
			if (seen_point)
				exp--;
			continue;
		}
		if (n + 1 >= sizeof(d->digits))
			return -1;
		d->digits[n++] = *text;
		if (seen_point)
			exp--;
	}
	if (*text == 'e' || *text == 'E')
		exp += atoi(text + 1);
	while (n > 0 && d->digits[n - 1] == '0') {
		d->digits[--n] = '\0';
		exp++;
	}
	d->exp = n == 0 ? 0 : exp;
	return 0;
}

/* The shortest decimal that reads back as the same value: what someone
 * wrote, for any number with up to 15 significant digits.  Formatting
 * here rather than asking json-c keeps instances untouched (json-c
 * caches its text in the object). */
static int
decimal_of(json_object *v, struct decimal *d)
{
	char text[64];
	double x;

	if (!json_object_is_type(v, json_type_double)) {
		int64_t i = json_object_get_int64(v);

		if (i == INT64_MAX)
			snprintf(text, sizeof(text), "%llu", (unsigned long long)
			         json_object_get_uint64(v));
		else
			snprintf(text, sizeof(text), "%lld", (long long)i);
		return decimal_parse(text, d);
	}
	x = json_object_get_double(v);
	if (!isfinite(x))
		return -1;
	for (int prec = 0; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*e", prec, x);
		if (strtod(text, NULL) == x)
			break;
	}
	return decimal_parse(text, d);
}

/* Whether x is a multiple of m, exactly: with e the smaller exponent,
 * x·10^-e must be divisible by m·10^-e.  -1 when m·10^-e does not fit
 * in 59 bits (the caller then falls back on floating point). */
static int
decimal_multiple(const struct decimal *x, const struct decimal *m)
{
	const uint64_t limit = UINT64_C(1) << 59;
	int e = x->exp < m->exp ? x->exp : m->exp;
	uint64_t divisor = 0, r = 0;

	if (x->digits[0] == '\0')
		return 1;
	if (m->digits[0] == '\0' || x->exp - e > 100000)
		return -1;
	for (const char *p = m->digits; *p; p++) {
		divisor = divisor * 10 + (uint64_t)(*p - '0');
		if (divisor >= limit / 10)
			return -1;
	}
	for (int i = m->exp; i > e; i--) {
		divisor *= 10;
		if (divisor >= limit / 10)
			return -1;
	}
	for (const char *p = x->digits; *p; p++)
		r = (r * 10 + (uint64_t)(*p - '0')) % divisor;
	for (int i = x->exp; i > e; i--)
		r = r * 10 % divisor;
	return r == 0;
}

static int
is_multiple_of(json_object *v, const struct node *n)
{
	struct num num = num_of(v);
	struct decimal x;
	double q;
	int exact;

	if (decimal_of(v, &x) == 0) {
		exact = decimal_multiple(&x, &n->multiple_dec);
		if (exact >= 0)
			return exact;
	}
	q = num_double(&num) / n->multiple_of;
	if (!isfinite(q))
		return 0;
	/* Past 2^53 every double is a whole number; below, allow for the
	 * rounding of the division. */
	return fabs(q - nearbyint(q)) <= fmax(1e-9, fabs(q) * 8 * DBL_EPSILON);
}

/* ---- patterns: ECMA-262 to POSIX ERE ------------------------------------ */

enum { RX_OK = 0, RX_SYNTAX = -1, RX_UNSUPPORTED = -2 };

/* A character class being built: POSIX wants ']' first, '-' last and
 * '^' anywhere but first, so those wait until the end. */
struct rx_class {
	struct sbuf body;
	int rbracket, dash, caret, lbracket;
};

static int
rx_fail(const char **why, const char *text, int kind)
{
	*why = text;
	return kind;
}

/* \uXXXX (joining a surrogate pair), \u{X..}, \xHH: the code point, or
 * -1.  *p is past the 'u' or 'x'. */
static long
rx_hex_escape(const char **p, char kind)
{
	const char *s = *p;
	long cp = 0, low;
	int digits = kind == 'x' ? 2 : 4, i;

	if (kind == 'u' && *s == '{') {
		for (s++; is_hex(*s) && cp <= 0x10ffff; s++)
			cp = cp * 16 + hex_value(*s);
		if (*s != '}' || cp > 0x10ffff)
			return -1;
		*p = s + 1;
		return cp;
	}
	for (i = 0; i < digits; i++) {
		if (!is_hex(s[i]))
			return -1;
		cp = cp * 16 + hex_value(s[i]);
	}
	s += digits;
	if (cp >= 0xd800 && cp <= 0xdbff && s[0] == '\\' && s[1] == 'u') {
		const char *t = s + 2;

		low = rx_hex_escape(&t, 'u');
		if (low >= 0xdc00 && low <= 0xdfff) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			s = t;
		}
	}
	*p = s;
	return cp;
}

/* The character an escape like \n, \cJ, \x41, \- or \. stands for;
 * -1 for an escape that is not one character.  *p is past the '\'. */
static long
rx_char_escape(const char **p)
{
	const char *s = *p;
	char c = *s;

	switch (c) {
	case 't': *p = s + 1; return '\t';
	case 'n': *p = s + 1; return '\n';
	case 'r': *p = s + 1; return '\r';
	case 'f': *p = s + 1; return '\f';
	case 'v': *p = s + 1; return '\v';
	case 'c':
		if (!is_alpha(s[1]))
			return -1;
		*p = s + 2;
		return s[1] & 31;
	case 'x': case 'u':
		*p = s + 1;
		return rx_hex_escape(p, c);
	default:
		if (c == '\0' || is_alpha(c) || is_digit(c))
			return -1;
		return (long)utf8_decode(p);
	}
}

/* A literal character in ERE syntax, escaped when special there. */
static void
rx_put_literal(struct sbuf *out, unsigned long cp)
{
	char bytes[4];

	if (cp < 0x80 && strchr(".[]{}()\\*+?^$|", (int)cp) != NULL)
		sb_putc(out, '\\');
	sb_putn(out, bytes, utf8_encode(cp, bytes));
}

static void
rx_class_add(struct rx_class *cls, unsigned long cp)
{
	char bytes[4];

	switch (cp) {
	case ']': cls->rbracket = 1; return;
	case '-': cls->dash = 1; return;
	case '^': cls->caret = 1; return;
	case '[': cls->lbracket = 1; return;
	default:
		sb_putn(&cls->body, bytes, utf8_encode(cp, bytes));
	}
}

/* One member of [...]: a character, a range or a class escape. */
static int
rx_class_item(const char **p, struct rx_class *cls, const char *space,
              const char **why)
{
	unsigned long lo, hi;
	const char *s = *p;
	long cp;
	char bytes[8];

	if (s[0] == '\\') {
		s++;
		switch (*s) {
		case 'd': sb_puts(&cls->body, "0-9"); *p = s + 1; return RX_OK;
		case 'w': sb_puts(&cls->body, "A-Za-z0-9_"); *p = s + 1;
			return RX_OK;
		case 's': sb_puts(&cls->body, space); *p = s + 1;
			return RX_OK;
		case 'D': case 'W': case 'S':
			return rx_fail(why, "negated class escapes inside [...]",
			               RX_UNSUPPORTED);
		case 'b': s++; cp = '\b'; break;
		case 'p': case 'P':
			return rx_fail(why, "\\p{...} property classes",
			               RX_UNSUPPORTED);
		default:
			cp = rx_char_escape(&s);
			if (cp < 0)
				return rx_fail(why, "a bad escape in [...]",
				               RX_SYNTAX);
		}
	} else {
		cp = (long)utf8_decode(&s);
	}
	lo = (unsigned long)cp;
	if (s[0] != '-' || s[1] == ']' || s[1] == '\0') {
		rx_class_add(cls, lo);
		*p = s;
		return RX_OK;
	}
	s++;
	if (s[0] == '\\') {
		s++;
		cp = rx_char_escape(&s);
		if (cp < 0)
			return rx_fail(why, "a class escape as a range end",
			               RX_SYNTAX);
	} else {
		cp = (long)utf8_decode(&s);
	}
	hi = (unsigned long)cp;
	if (hi < lo)
		return rx_fail(why, "a range out of order in [...]", RX_SYNTAX);
	if (strchr("]-^[", (int)lo) != NULL || strchr("]-^[", (int)hi) != NULL)
		return rx_fail(why, "a range that starts or ends with ] - ^ [",
		               RX_UNSUPPORTED);
	sb_putn(&cls->body, bytes, utf8_encode(lo, bytes));
	sb_putc(&cls->body, '-');
	sb_putn(&cls->body, bytes, utf8_encode(hi, bytes));
	*p = s;
	return RX_OK;
}

/* [...] starting after the '['; *p ends past the ']'. */
static int
rx_class(const char **p, struct sbuf *out, const char *space,
         const char **why)
{
	struct rx_class cls = {0};
	const char *s = *p;
	int negate = 0, rc = RX_OK;

	if (*s == '^') {
		negate = 1;
		s++;
	}
	while (rc == RX_OK && *s != ']') {
		if (*s == '\0')
			rc = rx_fail(why, "an unterminated [", RX_SYNTAX);
		else
			rc = rx_class_item(&s, &cls, space, why);
	}
	if (rc == RX_OK) {
		*p = s + 1;
		if (cls.body.len == 0 && !cls.rbracket && !cls.dash &&
		    !cls.lbracket) {
			/* [^] is any character, [] none, [^^] and [^]
			 * have no POSIX spelling of their own. */
			if (negate && !cls.caret)
				sb_putc(out, '.');
			else if (!negate && cls.caret)
				sb_puts(out, "\\^");
			else
				rc = rx_fail(why, "an empty class []",
				             RX_UNSUPPORTED);
		} else {
			sb_putc(out, '[');
			if (negate)
				sb_putc(out, '^');
			if (cls.rbracket)
				sb_putc(out, ']');
			if (cls.body.buf != NULL)
				sb_putn(out, cls.body.buf, cls.body.len);
			if (cls.caret)
				sb_putc(out, '^');
			if (cls.lbracket)
				sb_putc(out, '[');
			if (cls.dash)
				sb_putc(out, '-');
			sb_putc(out, ']');
		}
	}
	if (cls.body.failed)
		out->failed = 1;
	free(cls.body.buf);
	return rc;
}

/* An escape outside [...]; *p is past the '\'. */
static int
rx_escape(const char **p, struct sbuf *out, const char *space,
          const char **why)
{
	static const struct { char c; const char *ere; } classes[] = {
		{'d', "[0-9]"}, {'D', "[^0-9]"},
		{'w', "[A-Za-z0-9_]"}, {'W', "[^A-Za-z0-9_]"},
		{'b', "\\b"}, {'B', "\\B"},
	};
	const char *s = *p;
	long cp;

	if (*s == 's' || *s == 'S') {
		sb_puts(out, *s == 's' ? "[" : "[^");
		sb_puts(out, space);
		sb_putc(out, ']');
		*p = s + 1;
		return RX_OK;
	}
	for (size_t i = 0; i < FLUE_ARRAY_LEN(classes); i++)
		if (*s == classes[i].c) {
			sb_puts(out, classes[i].ere);
			*p = s + 1;
			return RX_OK;
		}
	if (*s >= '1' && *s <= '9') {
		sb_putc(out, '\\');
		sb_putc(out, *s);
		*p = s + 1;
		return RX_OK;
	}
	if (*s == 'p' || *s == 'P')
		return rx_fail(why, "\\p{...} property classes",
		               RX_UNSUPPORTED);
	if (*s == 'k')
		return rx_fail(why, "named back references", RX_UNSUPPORTED);
	if (*s == '0')
		return rx_fail(why, "\\0", RX_UNSUPPORTED);
	cp = rx_char_escape(&s);
	if (cp <= 0)
		return rx_fail(why, "a bad escape", RX_SYNTAX);
	rx_put_literal(out, (unsigned long)cp);
	*p = s;
	return RX_OK;
}

/* Whether "{...}" at s is a quantifier ({2}, {2,}, {2,5}); *len gets
 * its length.  ECMA-262 reads any other brace as a literal. */
static int
rx_is_quantifier(const char *s, size_t *len)
{
	const char *p = s + 1;

	if (!is_digit(*p))
		return 0;
	while (is_digit(*p))
		p++;
	if (*p == ',')
		for (p++; is_digit(*p); p++)
			;
	if (*p != '}')
		return 0;
	*len = (size_t)(p + 1 - s);
	return 1;
}

/* A group opener; *p is at the '('. */
static int
rx_group(const char **p, struct sbuf *out, const char **why)
{
	const char *s = *p;

	if (s[1] != '?') {
		*p = s + 1;
	} else if (s[2] == ':') {
		*p = s + 3;
	} else if (s[2] == '=' || s[2] == '!') {
		return rx_fail(why, "lookahead (?= (?!", RX_UNSUPPORTED);
	} else if (s[2] == '<' && (s[3] == '=' || s[3] == '!')) {
		return rx_fail(why, "lookbehind (?<= (?<!", RX_UNSUPPORTED);
	} else if (s[2] == '<') {
		const char *end = strchr(s + 3, '>');

		if (end == NULL)
			return rx_fail(why, "an unterminated group name",
			               RX_SYNTAX);
		*p = end + 1;
	} else {
		return rx_fail(why, "an unknown (? group", RX_SYNTAX);
	}
	sb_putc(out, '(');
	return RX_OK;
}

/* Translate an ECMA-262 pattern; *why names the problem on failure.
 * Lazy quantifiers become greedy: whether a match exists does not
 * depend on laziness, and that is all JSON Schema asks.  utf8 says
 * whether the expression will run in a UTF-8 locale, where \s can
 * name the spaces that [:space:] leaves out. */
static int
rx_translate(const char *src, struct sbuf *out, int utf8, const char **why)
{
	/* U+00A0, U+2007, U+202F and U+FEFF: ECMA-262 white space that
	 * glibc does not count as space. */
	const char *space = utf8 ? "[:space:]\xc2\xa0\xe2\x80\x87"
	                           "\xe2\x80\xaf\xef\xbb\xbf" : "[:space:]";
	const char *p = src;
	int atom = 0, quantified = 0, rc = RX_OK, depth = 0;
	size_t len = 0;

	while (rc == RX_OK && *p != '\0') {
		char c = *p;
		int was_quantified = quantified;

		quantified = 0;
		if (c == '\\') {
			p++;
			rc = rx_escape(&p, out, space, why);
			atom = 1;
		} else if (c == '[') {
			p++;
			rc = rx_class(&p, out, space, why);
			atom = 1;
		} else if (c == '(') {
			rc = rx_group(&p, out, why);
			depth++;
			atom = 0;
		} else if (c == ')') {
			if (depth-- == 0)
				rc = rx_fail(why, "an unmatched )", RX_SYNTAX);
			sb_putc(out, ')');
			p++;
			atom = 1;
		} else if (c == '?' && was_quantified) {
			p++;
		} else if (c == '*' || c == '+' || c == '?' ||
		           (c == '{' && rx_is_quantifier(p, &len))) {
			if (!atom)
				rc = rx_fail(why, "a quantifier with nothing "
				             "to repeat", RX_SYNTAX);
			if (c == '{') {
				sb_putn(out, p, len);
				p += len;
			} else {
				sb_putc(out, c);
				p++;
			}
			atom = 0;
			quantified = 1;
		} else if (c == '.') {
			sb_puts(out, "[^\n\r]");
			p++;
			atom = 1;
		} else if (c == '^' || c == '$' || c == '|') {
			sb_putc(out, c);
			p++;
			atom = 0;
		} else {
			rx_put_literal(out, utf8_decode(&p));
			atom = 1;
		}
	}
	if (rc == RX_OK && depth != 0)
		rc = rx_fail(why, "an unclosed (", RX_SYNTAX);
	return rc;
}

/* The UTF-8 locale patterns run in, so that "." and [é] mean
 * characters rather than bytes; (locale_t)0 keeps bytes. */
static locale_t
schema_locale(struct flue_schema *s)
{
	if (!s->utf8_tried) {
		s->utf8_tried = 1;
		s->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (s->utf8 == (locale_t)0)
			s->utf8 = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
	}
	return s->utf8;
}

/* Compile src into re in locale loc ((locale_t)0: the thread's);
 * RX_* with *why (or regcomp's message in msg) on failure. */
static int
rx_compile(locale_t loc, const char *src, regex_t *re, const char **why,
           char *msg, size_t msg_len)
{
	struct sbuf ere = {0};
	locale_t old = (locale_t)0;
	int rc;

	rc = rx_translate(src, &ere, loc != (locale_t)0, why);
	if (rc == RX_OK && ere.failed)
		rc = rx_fail(why, "out of memory", RX_SYNTAX);
	if (rc != RX_OK) {
		free(ere.buf);
		return rc;
	}
	if (loc != (locale_t)0)
		old = uselocale(loc);
	rc = regcomp(re, ere.buf != NULL ? ere.buf : "", REG_EXTENDED |
	             REG_NOSUB);
	if (loc != (locale_t)0)
		uselocale(old);
	free(ere.buf);
	if (rc != 0) {
		regerror(rc, re, msg, msg_len);
		*why = msg;
		return RX_SYNTAX;
	}
	return RX_OK;
}

static int
rx_match(const struct flue_schema *s, const regex_t *re, const char *text)
{
	locale_t old = (locale_t)0;
	int rc;

	if (s->utf8 != (locale_t)0)
		old = uselocale(s->utf8);
	rc = regexec(re, text, 0, NULL, 0);
	if (s->utf8 != (locale_t)0)
		uselocale(old);
	return rc == 0;
}

/* ---- formats ------------------------------------------------------------ */

/* n ASCII digits at s, as a number; -1 when they are not all digits. */
static int
digits_value(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
is_leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* full-date of RFC 3339: YYYY-MM-DD with a day that exists. */
static int
fmt_date(const char *s, size_t len)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	                           30, 31};
	int y, m, d;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	y = digits_value(s, 4);
	m = digits_value(s + 5, 2);
	d = digits_value(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1)
		return 0;
	return d <= days[m - 1] + (m == 2 && is_leap_year(y));
}

/* full-time of RFC 3339: HH:MM:SS[.frac](Z|±HH:MM).  A leap second
 * is only allowed at 23:59:60 UTC. */
static int
fmt_time(const char *s, size_t len)
{
	int h, m, sec, oh = 0, om = 0, sign = 0, utc;
	size_t i = 8;

	if (len < 9 || s[2] != ':' || s[5] != ':')
		return 0;
	h = digits_value(s, 2);
	m = digits_value(s + 3, 2);
	sec = digits_value(s + 6, 2);
	if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
		return 0;
	if (s[i] == '.') {
		if (++i >= len || !is_digit(s[i]))
			return 0;
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		utc = h * 60 + m;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
	           s[i + 3] == ':') {
		sign = s[i] == '+' ? 1 : -1;
		oh = digits_value(s + i + 1, 2);
		om = digits_value(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return 0;
		utc = ((h * 60 + m - sign * (oh * 60 + om)) % 1440 + 1440) %
		      1440;
	} else {
		return 0;
	}
	return sec < 60 || utc == 23 * 60 + 59;
}

static int
fmt_date_time(const char *s, size_t len)
{
	return len > 11 && (s[10] == 'T' || s[10] == 't') &&
	       fmt_date(s, 10) && fmt_time(s + 11, len - 11);
}

/* ISO 8601 durations as RFC 3339 appendix A has them: the units in
 * order, none skipped over ("P1Y2D" is not one), weeks alone. */
static int
fmt_duration(const char *s, size_t len)
{
	static const char date_units[] = "YMD", time_units[] = "HMS";
	const char *units = date_units, *end = s + len, *u;
	int any = 0, in_time = 0, last = -1;

	if (len < 2 || *s++ != 'P')
		return 0;
	if (end - s >= 2 && is_digit(*s) && end[-1] == 'W') {
		while (s < end - 1 && is_digit(*s))
			s++;
		return s == end - 1;
	}
	while (s < end) {
		const char *num = s;

		if (*s == 'T') {
			if (in_time || s + 1 == end)
				return 0;
			in_time = 1;
			units = time_units;
			last = -1;
			s++;
			continue;
		}
		while (s < end && is_digit(*s))
			s++;
		if (s == num || s == end)
			return 0;
		u = strchr(units, *s);
		if (u == NULL || *s == '\0' ||
		    (last >= 0 && u - units != last + 1))
			return 0;
		last = (int)(u - units);
		any = 1;
		s++;
	}
	return any && !(in_time && last < 0);
}

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading
 * zeros. */
static int
fmt_ipv4(const char *s, size_t len)
{
	const char *end = s + len;

	for (int part = 0; part < 4; part++) {
		int v = 0, n = 0;

		if (part > 0 && (s == end || *s++ != '.'))
			return 0;
		while (s < end && is_digit(*s) && n < 4) {
			v = v * 10 + (*s++ - '0');
			n++;
		}
		if (n == 0 || n > 3 || v > 255 || (n > 1 && s[-n] == '0'))
			return 0;
	}
	return s == end;
}

static int
fmt_ipv6(const char *s, size_t len)
{
	const char *end = s + len;
	int groups = 0, gap = -1;

	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		s += 2;
	} else if (len >= 1 && s[0] == ':') {
		return 0;
	}
	while (s < end) {
		const char *dot;
		int n = 0;

		dot = memchr(s, '.', (size_t)(end - s));
		if (dot != NULL && memchr(s, ':', (size_t)(end - s)) == NULL) {
			if (!fmt_ipv4(s, (size_t)(end - s)))
				return 0;
			groups += 2;
			s = end;
			break;
		}
		while (s < end && is_hex(*s) && n < 5) {
			s++;
			n++;
		}
		if (n == 0 || n > 4)
			return 0;
		groups++;
		if (s == end)
			break;
		if (*s != ':')
			return 0;
		s++;
		if (s < end && *s == ':') {
			if (gap >= 0)
				return 0;
			gap = groups;
			s++;
		} else if (s == end) {
			return 0;
		}
	}
	return gap >= 0 ? groups <= 7 : groups == 8;
}

/* RFC 1123 host names: dot-separated labels of letters, digits and
 * inner hyphens, 63 bytes each, 253 in all. */
static int
fmt_hostname(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return s[len - 1] != '-';
}

/* local-part@domain: a dot-atom or a quoted string, then a host name
 * or an address literal. */
static int
fmt_email(const char *s, size_t len, int idn)
{
	const char *at = NULL, *domain;
	size_t local_len, dlen;

	if (len > 0 && s[0] == '"') {
		size_t i = 1;

		while (i < len && s[i] != '"')
			i += s[i] == '\\' ? 2 : 1;
		if (i + 1 >= len || s[i + 1] != '@')
			return 0;
		at = s + i + 1;
	} else {
		at = memchr(s, '@', len);
		if (at == NULL || at == s)
			return 0;
		local_len = (size_t)(at - s);
		if (s[0] == '.' || at[-1] == '.')
			return 0;
		for (size_t i = 0; i < local_len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '.' && s[i + 1] == '.')
				return 0;
			if (!is_alpha(c) && !is_digit(c) && c != '.' &&
			    strchr("!#$%&'*+-/=?^_`{|}~", c) == NULL &&
			    !(idn && c >= 0x80))
				return 0;
		}
	}
	domain = at + 1;
	dlen = len - (size_t)(domain - s);
	if (dlen > 2 && domain[0] == '[' && domain[dlen - 1] == ']') {
		if (dlen > 7 && strncmp(domain + 1, "IPv6:", 5) == 0)
			return fmt_ipv6(domain + 6, dlen - 7);
		return fmt_ipv4(domain + 1, dlen - 2);
	}
	if (idn) {
		for (size_t i = 0; i < dlen; i++)
			if ((unsigned char)domain[i] >= 0x80)
				return 1;
	}
	return fmt_hostname(domain, dlen);
}

/* Characters allowed in a URI part: unreserved, sub-delims, the extra
 * ones named, %HH, and (for IRIs) anything beyond ASCII. */
static int
uri_chars(const char *s, size_t len, const char *extra, int iri)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= len || !is_hex(s[i + 1]) ||
			    !is_hex(s[i + 2]))
				return 0;
			i += 2;
		} else if (!is_alpha(c) && !is_digit(c) &&
		           strchr("-._~!$&'()*+,;=", c) == NULL &&
		           (c == '\0' || strchr(extra, c) == NULL) &&
		           !(iri && c >= 0x80)) {
			return 0;
		}
	}
	return 1;
}

static int
uri_authority_ok(const char *a, size_t len, int iri)
{
	const char *at = NULL, *host, *end = a + len, *port = NULL;

	for (const char *p = a; p < end; p++)
		if (*p == '@')
			at = p;
	host = at != NULL ? at + 1 : a;
	if (at != NULL && !uri_chars(a, (size_t)(at - a), ":", iri))
		return 0;
	if (host < end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (close == NULL || !fmt_ipv6(host + 1,
		                               (size_t)(close - host - 1)))
			return 0;
		port = close + 1;
		if (port < end && *port != ':')
			return 0;
	} else {
		port = memchr(host, ':', (size_t)(end - host));
		if (port == NULL)
			port = end;
		if (!uri_chars(host, (size_t)(port - host), "", iri))
			return 0;
	}
	if (port < end)
		for (port++; port < end; port++)
			if (!is_digit(*port))
				return 0;
	return 1;
}

/* RFC 3986 URI (absolute: a scheme is required) or URI reference;
 * RFC 3987 IRIs when iri is set. */
static int
fmt_uri(const char *s, size_t len, int need_scheme, int iri)
{
	struct uri u;

	if (strlen(s) != len)
		return 0;
	uri_split(s, &u);
	if (need_scheme && u.scheme == NULL)
		return 0;
	if (u.scheme == NULL && u.authority == NULL) {
		/* A relative path's first segment may not hold a colon. */
		size_t first = strcspn(u.path, "/");

		if (memchr(u.path, ':', first < u.path_len ? first :
		           u.path_len) != NULL)
			return 0;
	}
	if (u.authority != NULL &&
	    !uri_authority_ok(u.authority, u.authority_len, iri))
		return 0;
	return uri_chars(u.path, u.path_len, ":@/", iri) &&
	       (u.query == NULL || uri_chars(u.query, u.query_len, ":@/?",
	                                     iri)) &&
	       (u.fragment == NULL || uri_chars(u.fragment, u.fragment_len,
	                                        ":@/?", iri));
}

/* RFC 6570: literals outside braces, and balanced {expressions}. */
static int
fmt_uri_template(const char *s, size_t len)
{
	int open = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '{') {
			if (open)
				return 0;
			open = 1;
		} else if (s[i] == '}') {
			if (!open)
				return 0;
			open = 0;
		} else if ((unsigned char)s[i] < 0x21 || s[i] == '"' ||
		           s[i] == '<' || s[i] == '>' || s[i] == '\\' ||
		           s[i] == '^' || s[i] == '`' || s[i] == '|') {
			return 0;
		}
	}
	return !open;
}

static int
fmt_uuid(const char *s, size_t len)
{
	if (len != 36)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return 1;
}

static int
fmt_json_pointer(const char *s, size_t len)
{
	if (len > 0 && s[0] != '/')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '~' && (i + 1 >= len ||
		                    (s[i + 1] != '0' && s[i + 1] != '1')))
			return 0;
	return 1;
}

static int
fmt_relative_json_pointer(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && is_digit(s[i]))
		i++;
	if (i == 0 || (s[0] == '0' && i > 1))
		return 0;
	if (i + 1 == len && s[i] == '#')
		return 1;
	return fmt_json_pointer(s + i, len - i);
}

/* Whether ECMA-262 would accept the pattern.  What we cannot translate
 * is still a regular expression, so only syntax errors count. */
static int
fmt_regex(const struct flue_schema *schema, const char *s)
{
	const char *why;
	char msg[128];
	regex_t re;
	int rc;

	rc = rx_compile(schema->utf8, s, &re, &why, msg, sizeof(msg));
	if (rc == RX_OK)
		regfree(&re);
	return rc != RX_SYNTAX;
}

static const struct {
	const char *name;
	enum format format;
} formats[] = {
	{"date-time", FMT_DATE_TIME}, {"date", FMT_DATE},
	{"time", FMT_TIME}, {"duration", FMT_DURATION},
	{"email", FMT_EMAIL}, {"idn-email", FMT_IDN_EMAIL},
	{"hostname", FMT_HOSTNAME}, {"ipv4", FMT_IPV4},
	{"ipv6", FMT_IPV6}, {"uri", FMT_URI},
	{"uri-reference", FMT_URI_REFERENCE}, {"iri", FMT_IRI},
	{"iri-reference", FMT_IRI_REFERENCE},
	{"uri-template", FMT_URI_TEMPLATE}, {"uuid", FMT_UUID},
	{"regex", FMT_REGEX}, {"json-pointer", FMT_JSON_POINTER},
	{"relative-json-pointer", FMT_RELATIVE_JSON_POINTER},
};

static enum format
format_of(const char *name)
{
	for (size_t i = 0; i < FLUE_ARRAY_LEN(formats); i++)
		if (strcmp(formats[i].name, name) == 0)
			return formats[i].format;
	return FMT_NONE;
}

static const char *
format_name(unsigned format)
{
	for (size_t i = 0; i < FLUE_ARRAY_LEN(formats); i++)
		if (formats[i].format == format)
			return formats[i].name;
	return "?";
}

static int
format_ok(const struct flue_schema *schema, unsigned format, const char *s,
          size_t len)
{
	switch (format) {
	case FMT_DATE_TIME: return fmt_date_time(s, len);
	case FMT_DATE: return fmt_date(s, len);
	case FMT_TIME: return fmt_time(s, len);
	case FMT_DURATION: return fmt_duration(s, len);
	case FMT_EMAIL: return fmt_email(s, len, 0);
	case FMT_IDN_EMAIL: return fmt_email(s, len, 1);
	case FMT_HOSTNAME: return fmt_hostname(s, len);
	case FMT_IPV4: return fmt_ipv4(s, len);
	case FMT_IPV6: return fmt_ipv6(s, len);
	case FMT_URI: return fmt_uri(s, len, 1, 0);
	case FMT_URI_REFERENCE: return fmt_uri(s, len, 0, 0);
	case FMT_IRI: return fmt_uri(s, len, 1, 1);
	case FMT_IRI_REFERENCE: return fmt_uri(s, len, 0, 1);
	case FMT_URI_TEMPLATE: return fmt_uri_template(s, len);
	case FMT_UUID: return fmt_uuid(s, len);
	case FMT_REGEX: return fmt_regex(schema, s);
	case FMT_JSON_POINTER: return fmt_json_pointer(s, len);
	case FMT_RELATIVE_JSON_POINTER:
		return fmt_relative_json_pointer(s, len);
	default: return 1;
	}
}

/* ---- compiling: state and errors ---------------------------------------- */

/* A $ref or $dynamicRef waiting for every document to be read. */
struct pending {
	struct node *node;
	char *uri;                  /* [owned] the absolute reference */
	const char *where;          /* path of the keyword */
	int dynamic;
};

struct compiler {
	struct flue_schema *s;
	const struct flue_schema_options *opt;   /* may be NULL */
	struct flue_error *err;
	struct ptrmap nodes;        /* [owned] schema value -> node */
	struct pending *pending;    /* [owned] */
	size_t n_pending, cap_pending;
	int failed;                 /* the FLUE_E* code once err is set */
};

typedef int (*keyword_fn)(struct compiler *c, struct node *n,
                          json_object *value, const char *path);

static struct node *compile_node(struct compiler *c, json_object *json,
                                 struct resource *res, const char *path);

static const char *
shown_path(const char *path)
{
	return *path != '\0' ? path : "(root)";
}

/* Refuse the schema: "schema at /properties/a/type: must be ...". */
static int __attribute__((format(printf, 3, 4)))
bad(struct compiler *c, const char *path, const char *fmt, ...)
{
	char message[FLUE_ERROR_MESSAGE_MAX];
	va_list ap;

	if (c->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	c->failed = FLUE_EINVAL;
	flue_error_set(c->err, FLUE_EINVAL, "schema at %s: %s",
	               path != NULL ? shown_path(path) : "?", message);
	return -1;
}

static int
no_memory(struct compiler *c)
{
	if (!c->failed) {
		c->failed = FLUE_ENOMEM;
		flue_error_set(c->err, FLUE_ENOMEM, "out of memory compiling "
		               "a schema");
	}
	return -1;
}

static void *
new_in_arena(struct compiler *c, size_t size)
{
	void *p = arena_alloc(c->s, size);

	if (p == NULL)
		no_memory(c);
	return p;
}

/* Keep a reference to a document the nodes point into. */
static int
keep_doc(struct compiler *c, json_object *doc)
{
	struct flue_schema *s = c->s;
	json_object **grown;
	size_t cap;

	if (s->n_docs == s->cap_docs) {
		cap = s->cap_docs ? s->cap_docs * 2 : 4;
		grown = realloc(s->docs, cap * sizeof(*grown));
		if (grown == NULL) {
			json_object_put(doc);
			return no_memory(c);
		}
		s->docs = grown;
		s->cap_docs = cap;
	}
	s->docs[s->n_docs++] = doc;
	return 0;
}

/* ---- compiling: resources, dialects and anchors ------------------------- */

static int
draft_of_uri(const char *uri)
{
	static const struct { const char *uri; int draft; } known[] = {
		{"json-schema.org/draft/2020-12/schema", DRAFT2020},
		{"json-schema.org/draft/2019-09/schema", DRAFT2019},
		{"json-schema.org/draft-07/schema", DRAFT7},
		{"json-schema.org/draft-06/schema", DRAFT6},
		{"json-schema.org/draft-04/schema", DRAFT4},
		{"json-schema.org/draft-03/schema", DRAFT4},
		{"json-schema.org/schema", DRAFT2020},
	};
	size_t len;

	if (strncmp(uri, "https://", 8) == 0)
		uri += 8;
	else if (strncmp(uri, "http://", 7) == 0)
		uri += 7;
	else
		return 0;
	len = strlen(uri);
	if (len > 0 && uri[len - 1] == '#')
		len--;
	for (size_t i = 0; i < FLUE_ARRAY_LEN(known); i++)
		if (strlen(known[i].uri) == len &&
		    strncmp(known[i].uri, uri, len) == 0)
			return known[i].draft;
	return 0;
}

static int
has_scheme(const char *uri)
{
	struct uri u;

	uri_split(uri, &u);
	return u.scheme != NULL;
}

/* A new reference to a document outside the schema, or NULL. */
static json_object *
fetch(struct compiler *c, const char *uri)
{
	if (c->opt == NULL || c->opt->resolve == NULL || !has_scheme(uri))
		return NULL;
	return c->opt->resolve(c->opt->resolve_payload, uri);
}

/* The vocabularies a meta-schema's $vocabulary turns on. */
static int
vocab_of(struct compiler *c, json_object *list, const char *meta,
         const char *path, unsigned *vocab)
{
	static const struct { const char *name; unsigned bits; } known[] = {
		{"core", 0}, {"applicator", VOC_APPLICATOR},
		{"unevaluated", VOC_UNEVALUATED},
		{"validation", VOC_VALIDATION}, {"meta-data", 0},
		{"format-annotation", 0}, {"format", 0},
		{"format-assertion", VOC_FORMAT_ASSERT}, {"content", 0},
	};

	*vocab = 0;
	json_object_object_foreach(list, uri, required) {
		const char *name = strstr(uri, "/vocab/");
		int found = 0;

		if (strncmp(uri, "https://json-schema.org/draft/20", 32) != 0)
			name = NULL;
		for (size_t i = 0; name != NULL && i < FLUE_ARRAY_LEN(known);
		     i++)
			if (strcmp(name + 7, known[i].name) == 0) {
				*vocab |= known[i].bits;
				/* 2019-09 kept unevaluated* in the applicator. */
				if (known[i].bits == VOC_APPLICATOR &&
				    strstr(uri, "2019-09") != NULL)
					*vocab |= VOC_UNEVALUATED;
				found = 1;
			}
		if (!found && json_object_get_boolean(required))
			return bad(c, path, "meta-schema '%s' requires the "
			           "unknown vocabulary '%s'", meta, uri);
	}
	return 0;
}

/* Draft and vocabularies of a resource whose root is json: from its
 * $schema when there is one, else as inherited in *draft and *vocab.
 * A meta-schema that cannot be fetched leaves them inherited: tool
 * schemas name meta-schemas they do not depend on. */
static int
resource_dialect(struct compiler *c, json_object *json, const char *path,
                 int *draft, unsigned *vocab)
{
	json_object *value, *meta, *list, *meta_schema;
	const char *where, *uri;
	char *base;
	int d, rc = 0;

	if (!json_object_object_get_ex(json, "$schema", &value))
		return 0;
	where = pointer_join(c->s, path, "$schema");
	if (where == NULL)
		return no_memory(c);
	if (!json_object_is_type(value, json_type_string))
		return bad(c, where, "must be a string");
	uri = json_object_get_string(value);
	d = draft_of_uri(uri);
	if (d != 0) {
		*draft = d;
		*vocab = VOC_DEFAULT;
		return 0;
	}
	base = strndup(uri, strcspn(uri, "#"));
	if (base == NULL)
		return no_memory(c);
	meta = fetch(c, base);
	if (meta != NULL) {
		d = 0;
		if (json_object_object_get_ex(meta, "$schema", &meta_schema) &&
		    json_object_is_type(meta_schema, json_type_string))
			d = draft_of_uri(json_object_get_string(meta_schema));
		*draft = d != 0 ? d : DRAFT2020;
		*vocab = VOC_DEFAULT;
		if (json_object_object_get_ex(meta, "$vocabulary", &list) &&
		    json_object_is_type(list, json_type_object))
			rc = vocab_of(c, list, base, where, vocab);
		json_object_put(meta);
	}
	free(base);
	return rc;
}

static struct resource *
new_resource(struct compiler *c, const char *uri, json_object *json,
             const char *path, int draft, unsigned vocab)
{
	struct resource *r = new_in_arena(c, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->uri = arena_strdup(c->s, uri);
	if (r->uri == NULL) {
		no_memory(c);
		return NULL;
	}
	r->json = json;
	r->path = path;
	r->draft = draft;
	r->vocab = vocab;
	r->next = c->s->resources;
	c->s->resources = r;
	return r;
}

static struct resource *
find_resource(const struct flue_schema *s, const char *uri)
{
	for (struct resource *r = s->resources; r != NULL; r = r->next)
		if (strcmp(r->uri, uri) == 0)
			return r->alias_of != NULL ? r->alias_of : r;
	return NULL;
}

/* The absolute URI an $id names, without its fragment; [caller-owned].
 * *fragment gets the fragment (draft-07 anchors like "x.json#foo") or
 * NULL.  NULL with c->failed set on error. */
static char *
id_uri(struct compiler *c, const char *base, const char *id, int draft,
       const char *where, const char **fragment)
{
	char *uri = uri_resolve(base, id), *hash;

	*fragment = NULL;
	if (uri == NULL) {
		no_memory(c);
		return NULL;
	}
	hash = strchr(uri, '#');
	if (hash != NULL) {
		if (hash[1] != '\0' && draft >= DRAFT2019) {
			free(uri);
			bad(c, where, "must not have a fragment (name "
			    "subschemas with $anchor)");
			return NULL;
		}
		*hash = '\0';
		if (hash[1] != '\0')
			*fragment = strchr(id, '#') + 1;
	}
	return uri;
}

/* The $id of json when it starts a resource; NULL when it has none, or
 * when the draft says to look away (draft-07 beside $ref, or a bare
 * "#anchor"). */
static const char *
resource_id(struct compiler *c, json_object *json, int draft,
            const char *path)
{
	json_object *id;
	const char *text;

	if (!json_object_is_type(json, json_type_object) ||
	    !json_object_object_get_ex(json, "$id", &id))
		return NULL;
	if (draft <= DRAFT7 && json_object_object_get_ex(json, "$ref", NULL))
		return NULL;
	if (!json_object_is_type(id, json_type_string)) {
		bad(c, pointer_join(c->s, path, "$id"), "must be a string");
		return NULL;
	}
	text = json_object_get_string(id);
	if (draft <= DRAFT7 && text[0] == '#')
		return NULL;
	return text;
}

/* The resource a subschema belongs to: a new one when it has an $id. */
static struct resource *
enter_resource(struct compiler *c, json_object *json, struct resource *res,
               const char *path)
{
	const char *id, *fragment;
	int draft = res->draft;
	unsigned vocab = res->vocab;
	struct resource *r;
	char *uri;

	if (json == res->json)
		return res;
	id = resource_id(c, json, res->draft, path);
	if (id == NULL)
		return c->failed ? NULL : res;
	uri = id_uri(c, res->uri, id, res->draft,
	             pointer_join(c->s, path, "$id"), &fragment);
	if (uri == NULL)
		return NULL;
	if (resource_dialect(c, json, path, &draft, &vocab) != 0) {
		free(uri);
		return NULL;
	}
	r = new_resource(c, uri, json, path, draft, vocab);
	free(uri);
	return r;
}

static int
add_anchor(struct compiler *c, struct resource *res, const char *name,
           struct node *n, int dynamic)
{
	struct anchor *a = new_in_arena(c, sizeof(*a));

	if (a == NULL)
		return -1;
	a->name = name;
	a->node = n;
	a->dynamic = dynamic;
	a->next = res->anchors;
	res->anchors = a;
	return 0;
}

static struct anchor *
find_anchor(const struct resource *res, const char *name, int dynamic_only)
{
	for (struct anchor *a = res->anchors; a != NULL; a = a->next)
		if ((!dynamic_only || a->dynamic) && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static int
is_anchor_name(const char *s)
{
	if (!is_alpha(*s) && *s != '_')
		return 0;
	for (s++; *s; s++)
		if (!is_alpha(*s) && !is_digit(*s) && strchr("-._", *s) == NULL)
			return 0;
	return 1;
}

static int
anchor_keyword(struct compiler *c, struct node *n, const char *keyword,
               int dynamic)
{
	json_object *value;
	const char *name;

	if (!json_object_object_get_ex(n->json, keyword, &value))
		return 0;
	name = json_object_get_string(value);
	if (!json_object_is_type(value, json_type_string) ||
	    !is_anchor_name(name))
		return bad(c, pointer_join(c->s, n->path, keyword), "must be a "
		           "name: a letter or '_', then letters, digits, "
		           "'-', '.' or '_'");
	return add_anchor(c, n->res, name, n, dynamic);
}

/* $anchor and $dynamicAnchor, or a draft-07 $id fragment. */
static int
add_anchors(struct compiler *c, struct node *n)
{
	json_object *id;
	const char *text, *hash;
	int draft = n->res->draft;

	if (draft >= DRAFT2019 && anchor_keyword(c, n, "$anchor", 0) != 0)
		return -1;
	if (draft >= DRAFT2020 &&
	    anchor_keyword(c, n, "$dynamicAnchor", 1) != 0)
		return -1;
	if (draft > DRAFT7 || !json_object_object_get_ex(n->json, "$id", &id) ||
	    json_object_object_get_ex(n->json, "$ref", NULL) ||
	    !json_object_is_type(id, json_type_string))
		return 0;
	text = json_object_get_string(id);
	hash = strchr(text, '#');
	if (hash == NULL || hash[1] == '\0')
		return 0;
	return add_anchor(c, n->res, hash + 1, n, 0);
}

/* ---- compiling: keywords ------------------------------------------------ */

static int
is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) ||
	       json_object_is_type(v, json_type_double);
}

static int
is_string_array(json_object *v)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return 0;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i),
		                         json_type_string))
			return 0;
	return 1;
}

static struct node *
compile_child(struct compiler *c, struct node *parent, json_object *value,
              const char *path)
{
	if (path == NULL) {
		no_memory(c);
		return NULL;
	}
	return compile_node(c, value, parent->res, path);
}

/* A keyword whose value is one schema. */
static int
compile_one(struct compiler *c, struct node *n, json_object *value,
            const char *path, struct node **slot)
{
	*slot = compile_child(c, n, value, path);
	return *slot != NULL ? 0 : -1;
}

/* A keyword whose value is a non-empty array of schemas. */
static int
compile_list(struct compiler *c, struct node *n, json_object *value,
             const char *path, struct node_list *list)
{
	size_t count;

	if (!json_object_is_type(value, json_type_array) ||
	    json_object_array_length(value) == 0)
		return bad(c, path, "must be a non-empty array of schemas");
	count = json_object_array_length(value);
	list->items = new_in_arena(c, count * sizeof(*list->items));
	if (list->items == NULL)
		return -1;
	for (size_t i = 0; i < count; i++) {
		list->items[i] = compile_child(c, n,
		                               json_object_array_get_idx(value, i),
		                               pointer_join_index(c->s, path, i));
		if (list->items[i] == NULL)
			return -1;
	}
	list->count = count;
	return 0;
}

static unsigned
type_bit(const char *name)
{
	static const struct { const char *name; unsigned bit; } types[] = {
		{"null", TY_NULL}, {"boolean", TY_BOOLEAN},
		{"object", TY_OBJECT}, {"array", TY_ARRAY},
		{"number", TY_NUMBER}, {"string", TY_STRING},
		{"integer", TY_INTEGER},
	};

	for (size_t i = 0; i < FLUE_ARRAY_LEN(types); i++)
		if (strcmp(types[i].name, name) == 0)
			return types[i].bit;
	return 0;
}

static int
kw_type(struct compiler *c, struct node *n, json_object *value,
        const char *path)
{
	int is_array = json_object_is_type(value, json_type_array);
	size_t count = 1;
	json_object *item;
	unsigned bit;

	if (is_array) {
		count = json_object_array_length(value);
		if (count == 0 || !is_string_array(value))
			return bad(c, path, "must be a string or an array of "
			           "strings");
	} else if (!json_object_is_type(value, json_type_string)) {
		return bad(c, path, "must be a string or an array of strings");
	}
	for (size_t i = 0; i < count; i++) {
		item = is_array ? json_object_array_get_idx(value, i) : value;
		bit = type_bit(json_object_get_string(item));
		if (bit == 0)
			return bad(c, path, "unknown type '%s' (known: null, "
			           "boolean, object, array, number, string, "
			           "integer)", json_object_get_string(item));
		if (n->types & bit)
			return bad(c, path, "type '%s' is listed twice",
			           json_object_get_string(item));
		n->types |= bit;
	}
	return 0;
}

static int
kw_enum(struct compiler *c, struct node *n, json_object *value,
        const char *path)
{
	if (!json_object_is_type(value, json_type_array))
		return bad(c, path, "must be an array");
	n->enum_values = value;
	return 0;
}

static int
kw_const(struct compiler *c, struct node *n, json_object *value,
         const char *path)
{
	(void)c;
	(void)path;
	n->flags |= N_CONST;
	n->const_value = value;
	return 0;
}

static int
kw_multiple_of(struct compiler *c, struct node *n, json_object *value,
               const char *path)
{
	struct num num = num_of(value);

	if (!is_number(value) || num_double(&num) <= 0)
		return bad(c, path, "must be a number greater than 0");
	n->flags |= N_MULTIPLE_OF;
	n->multiple_of = num_double(&num);
	/* No exact form (a huge exponent): leave it zero, which makes
	 * is_multiple_of fall back on floating point. */
	if (decimal_of(value, &n->multiple_dec) != 0)
		memset(&n->multiple_dec, 0, sizeof(n->multiple_dec));
	return 0;
}

/* maximum, minimum and their exclusive forms.  Draft-04 spelled the
 * exclusive ones as booleans next to maximum and minimum. */
static int
number_limit(struct compiler *c, struct node *n, json_object *value,
             const char *path, unsigned flag, struct num *slot)
{
	if (json_object_is_type(value, json_type_boolean) &&
	    n->res->draft == DRAFT4 &&
	    (flag == N_EXCL_MAXIMUM || flag == N_EXCL_MINIMUM)) {
		unsigned plain = flag == N_EXCL_MAXIMUM ? N_MAXIMUM : N_MINIMUM;

		if (json_object_get_boolean(value) && (n->flags & plain)) {
			n->flags = (n->flags & ~plain) | flag;
			*slot = plain == N_MAXIMUM ? n->maximum : n->minimum;
		}
		return 0;
	}
	if (!is_number(value))
		return bad(c, path, "must be a number");
	n->flags |= flag;
	*slot = num_of(value);
	return 0;
}

static int
kw_maximum(struct compiler *c, struct node *n, json_object *value,
           const char *path)
{
	return number_limit(c, n, value, path, N_MAXIMUM, &n->maximum);
}

static int
kw_minimum(struct compiler *c, struct node *n, json_object *value,
           const char *path)
{
	return number_limit(c, n, value, path, N_MINIMUM, &n->minimum);
}

static int
kw_exclusive_maximum(struct compiler *c, struct node *n, json_object *value,
                     const char *path)
{
	return number_limit(c, n, value, path, N_EXCL_MAXIMUM,
	                    &n->excl_maximum);
}

static int
kw_exclusive_minimum(struct compiler *c, struct node *n, json_object *value,
                     const char *path)
{
	return number_limit(c, n, value, path, N_EXCL_MINIMUM,
	                    &n->excl_minimum);
}

/* maxLength and the other counts: non-negative integers (2.0 is one). */
static int
count_limit(struct compiler *c, struct node *n, json_object *value,
            const char *path, unsigned flag, size_t *slot)
{
	struct num num = num_of(value);
	double d = num_double(&num);

	if (!is_number(value) || !(type_of(value) & TY_INTEGER) ||
	    (num.kind == NUM_INT ? num.i < 0 : d < 0))
		return bad(c, path, "must be a non-negative integer");
	n->flags |= flag;
	if (num.kind == NUM_INT)
		*slot = (uint64_t)num.i > SIZE_MAX ? SIZE_MAX : (size_t)num.i;
	else
		*slot = d >= (double)SIZE_MAX ? SIZE_MAX : (size_t)d;
	return 0;
}

#define COUNT_KEYWORD(fn, flag, field) \
	static int \
	fn(struct compiler *c, struct node *n, json_object *value, \
	   const char *path) \
	{ \
		return count_limit(c, n, value, path, flag, &n->field); \
	}

COUNT_KEYWORD(kw_max_length, N_MAX_LENGTH, max_length)
COUNT_KEYWORD(kw_min_length, N_MIN_LENGTH, min_length)
COUNT_KEYWORD(kw_max_items, N_MAX_ITEMS, max_items)
COUNT_KEYWORD(kw_min_items, N_MIN_ITEMS, min_items)
COUNT_KEYWORD(kw_max_contains, N_MAX_CONTAINS, max_contains)
COUNT_KEYWORD(kw_min_contains, 0, min_contains)
COUNT_KEYWORD(kw_max_properties, N_MAX_PROPS, max_props)
COUNT_KEYWORD(kw_min_properties, N_MIN_PROPS, min_props)

static struct pattern *
compile_pattern(struct compiler *c, const char *source, const char *path)
{
	struct pattern *p = new_in_arena(c, sizeof(*p));
	const char *why = NULL;
	char msg[128];
	int rc;

	if (p == NULL)
		return NULL;
	rc = rx_compile(schema_locale(c->s), source, &p->re, &why, msg,
	                sizeof(msg));
	if (rc == RX_UNSUPPORTED) {
		bad(c, path, "pattern %s uses %s, which is not supported "
		    "(only what POSIX extended expressions can say)", source,
		    why);
		return NULL;
	}
	if (rc != RX_OK) {
		bad(c, path, "pattern %s is not a valid regular expression: %s",
		    source, why);
		return NULL;
	}
	p->source = source;
	p->next = c->s->patterns;
	c->s->patterns = p;
	return p;
}

static int
kw_pattern(struct compiler *c, struct node *n, json_object *value,
           const char *path)
{
	if (!json_object_is_type(value, json_type_string))
		return bad(c, path, "must be a string");
	n->pattern = compile_pattern(c, json_object_get_string(value), path);
	return n->pattern != NULL ? 0 : -1;
}

static int
kw_format(struct compiler *c, struct node *n, json_object *value,
          const char *path)
{
	if (!json_object_is_type(value, json_type_string))
		return bad(c, path, "must be a string");
	n->format = (unsigned char)format_of(json_object_get_string(value));
	if (n->format != FMT_NONE && (c->s->validate_formats ||
	                              (n->res->vocab & VOC_FORMAT_ASSERT)))
		n->flags |= N_FORMAT_ASSERT;
	return 0;
}

static int
kw_unique_items(struct compiler *c, struct node *n, json_object *value,
                const char *path)
{
	if (!json_object_is_type(value, json_type_boolean))
		return bad(c, path, "must be a boolean");
	if (json_object_get_boolean(value))
		n->flags |= N_UNIQUE;
	return 0;
}

/* An array of strings, as pointers into the document. */
static const char **
string_list(struct compiler *c, json_object *value, size_t *count)
{
	const char **names;

	*count = json_object_array_length(value);
	names = new_in_arena(c, (*count ? *count : 1) * sizeof(*names));
	if (names == NULL)
		return NULL;
	for (size_t i = 0; i < *count; i++)
		names[i] = json_object_get_string(
		        json_object_array_get_idx(value, i));
	return names;
}

static int
kw_required(struct compiler *c, struct node *n, json_object *value,
            const char *path)
{
	if (!is_string_array(value))
		return bad(c, path, "must be an array of strings");
	n->required = string_list(c, value, &n->n_required);
	return n->required != NULL ? 0 : -1;
}

/* Room for extra more entries in both dependency lists, keeping what
 * is there: "dependencies" feeds both, and may sit next to the 2019-09
 * keywords that replaced it. */
static int
grow_deps(struct compiler *c, struct node *n, json_object *value)
{
	size_t extra = (size_t)json_object_object_length(value);
	struct dep_required *req;
	struct dep_schema *sch;

	req = new_in_arena(c, (n->n_dep_required + extra + 1) * sizeof(*req));
	sch = new_in_arena(c, (n->n_dep_schemas + extra + 1) * sizeof(*sch));
	if (req == NULL || sch == NULL)
		return -1;
	if (n->n_dep_required > 0)
		memcpy(req, n->dep_required, n->n_dep_required * sizeof(*req));
	if (n->n_dep_schemas > 0)
		memcpy(sch, n->dep_schemas, n->n_dep_schemas * sizeof(*sch));
	n->dep_required = req;
	n->dep_schemas = sch;
	return 0;
}

static int
add_dep_required(struct compiler *c, struct node *n, const char *name,
                 json_object *value)
{
	struct dep_required *d = &n->dep_required[n->n_dep_required++];

	d->name = name;
	d->names = string_list(c, value, &d->count);
	return d->names != NULL ? 0 : -1;
}

static int
kw_dependent_required(struct compiler *c, struct node *n, json_object *value,
                      const char *path)
{
	if (!json_object_is_type(value, json_type_object))
		return bad(c, path, "must be an object");
	if (grow_deps(c, n, value) != 0)
		return -1;
	json_object_object_foreach(value, name, names) {
		if (!is_string_array(names))
			return bad(c, pointer_join(c->s, path, name), "must be "
			           "an array of strings");
		if (add_dep_required(c, n, name, names) != 0)
			return -1;
	}
	return 0;
}

static int
add_dep_schema(struct compiler *c, struct node *n, const char *name,
               json_object *value, const char *path)
{
	struct dep_schema *d = &n->dep_schemas[n->n_dep_schemas];

	d->name = name;
	d->node = compile_child(c, n, value, pointer_join(c->s, path, name));
	if (d->node == NULL)
		return -1;
	n->n_dep_schemas++;
	return 0;
}

static int
kw_dependent_schemas(struct compiler *c, struct node *n, json_object *value,
                     const char *path)
{
	if (!json_object_is_type(value, json_type_object))
		return bad(c, path, "must be an object of schemas");
	if (grow_deps(c, n, value) != 0)
		return -1;
	json_object_object_foreach(value, name, schema)
		if (add_dep_schema(c, n, name, schema, path) != 0)
			return -1;
	return 0;
}

/* Draft-07 "dependencies": arrays are dependentRequired, schemas are
 * dependentSchemas. */
static int
kw_dependencies(struct compiler *c, struct node *n, json_object *value,
                const char *path)
{
	if (!json_object_is_type(value, json_type_object))
		return bad(c, path, "must be an object");
	if (grow_deps(c, n, value) != 0)
		return -1;
	json_object_object_foreach(value, name, dep) {
		int rc;

		if (json_object_is_type(dep, json_type_array)) {
			if (!is_string_array(dep))
				return bad(c, pointer_join(c->s, path, name),
				           "must be an array of strings or a "
				           "schema");
			rc = add_dep_required(c, n, name, dep);
		} else {
			rc = add_dep_schema(c, n, name, dep, path);
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int
prop_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prop *)a)->name,
	              ((const struct prop *)b)->name);
}

static int
kw_properties(struct compiler *c, struct node *n, json_object *value,
              const char *path)
{
	size_t i = 0;

	if (!json_object_is_type(value, json_type_object))
		return bad(c, path, "must be an object of schemas");
	n->props = new_in_arena(c, (size_t)(json_object_object_length(value) +
	                                    1) * sizeof(*n->props));
	if (n->props == NULL)
		return -1;
	json_object_object_foreach(value, name, schema) {
		n->props[i].name = name;
		n->props[i].node = compile_child(c, n, schema,
		                                 pointer_join(c->s, path, name));
		if (n->props[i++].node == NULL)
			return -1;
	}
	n->n_props = i;
	qsort(n->props, i, sizeof(*n->props), prop_cmp);
	n->flags |= N_OBJECT_LOOP;
	return 0;
}

static int
kw_pattern_properties(struct compiler *c, struct node *n, json_object *value,
                      const char *path)
{
	size_t i = 0;

	if (!json_object_is_type(value, json_type_object))
		return bad(c, path, "must be an object of schemas");
	n->pattern_props = new_in_arena(c, (size_t)(json_object_object_length(
	        value) + 1) * sizeof(*n->pattern_props));
	if (n->pattern_props == NULL)
		return -1;
	json_object_object_foreach(value, source, schema) {
		const char *where = pointer_join(c->s, path, source);
		struct pattern_prop *pp = &n->pattern_props[i++];

		if (where == NULL)
			return no_memory(c);
		pp->pattern = compile_pattern(c, source, where);
		if (pp->pattern == NULL)
			return -1;
		pp->node = compile_child(c, n, schema, where);
		if (pp->node == NULL)
			return -1;
	}
	n->n_pattern_props = i;
	n->flags |= N_OBJECT_LOOP;
	return 0;
}

static int
kw_additional_properties(struct compiler *c, struct node *n,
                         json_object *value, const char *path)
{
	n->flags |= N_OBJECT_LOOP;
	return compile_one(c, n, value, path, &n->additional_props);
}

static int
kw_property_names(struct compiler *c, struct node *n, json_object *value,
                  const char *path)
{
	n->flags |= N_OBJECT_LOOP;
	return compile_one(c, n, value, path, &n->property_names);
}

static int
kw_prefix_items(struct compiler *c, struct node *n, json_object *value,
                const char *path)
{
	return compile_list(c, n, value, path, &n->prefix_items);
}

/* 2020-12: items is the schema after prefixItems.  Before, an array of
 * items was the tuple and additionalItems what came after. */
static int
kw_items(struct compiler *c, struct node *n, json_object *value,
         const char *path)
{
	json_object *more;

	if (!json_object_is_type(value, json_type_array) ||
	    n->res->draft >= DRAFT2020)
		return compile_one(c, n, value, path, &n->items);
	if (json_object_array_length(value) > 0 &&
	    compile_list(c, n, value, path, &n->prefix_items) != 0)
		return -1;
	if (!json_object_object_get_ex(n->json, "additionalItems", &more))
		return 0;
	return compile_one(c, n, more, pointer_join(c->s, n->path,
	                                            "additionalItems"),
	                   &n->items);
}

#define SCHEMA_KEYWORD(fn, field) \
	static int \
	fn(struct compiler *c, struct node *n, json_object *value, \
	   const char *path) \
	{ \
		return compile_one(c, n, value, path, &n->field); \
	}

SCHEMA_KEYWORD(kw_contains, contains)
SCHEMA_KEYWORD(kw_unevaluated_items, unevaluated_items)
SCHEMA_KEYWORD(kw_unevaluated_properties, unevaluated_props)
SCHEMA_KEYWORD(kw_not, not_)
SCHEMA_KEYWORD(kw_if, if_)
SCHEMA_KEYWORD(kw_then, then_)
SCHEMA_KEYWORD(kw_else, else_)

#define LIST_KEYWORD(fn, field) \
	static int \
	fn(struct compiler *c, struct node *n, json_object *value, \
	   const char *path) \
	{ \
		return compile_list(c, n, value, path, &n->field); \
	}

LIST_KEYWORD(kw_all_of, all_of)
LIST_KEYWORD(kw_any_of, any_of)
LIST_KEYWORD(kw_one_of, one_of)

/* $defs and definitions: compiled so that their $id and anchors are
 * known, used only through references. */
static int
kw_defs(struct compiler *c, struct node *n, json_object *value,
        const char *path)
{
	if (!json_object_is_type(value, json_type_object))
		return bad(c, path, "must be an object of schemas");
	json_object_object_foreach(value, name, schema)
		if (compile_child(c, n, schema,
		                  pointer_join(c->s, path, name)) == NULL)
			return -1;
	return 0;
}

static int
add_pending(struct compiler *c, struct node *n, json_object *value,
            const char *path, int dynamic)
{
	struct pending *grown;
	char *uri;
	size_t cap;

	if (!json_object_is_type(value, json_type_string))
		return bad(c, path, "must be a string");
	if (c->n_pending == c->cap_pending) {
		cap = c->cap_pending ? c->cap_pending * 2 : 16;
		grown = realloc(c->pending, cap * sizeof(*grown));
		if (grown == NULL)
			return no_memory(c);
		c->pending = grown;
		c->cap_pending = cap;
	}
	uri = uri_resolve(n->res->uri, json_object_get_string(value));
	if (uri == NULL)
		return no_memory(c);
	c->pending[c->n_pending++] = (struct pending){n, uri, path, dynamic};
	return 0;
}

static int
kw_ref(struct compiler *c, struct node *n, json_object *value,
       const char *path)
{
	if (n->res->draft <= DRAFT7)
		n->flags |= N_REF_ONLY;
	return add_pending(c, n, value, path, 0);
}

static int
kw_dynamic_ref(struct compiler *c, struct node *n, json_object *value,
               const char *path)
{
	return add_pending(c, n, value, path, 1);
}

/* Every keyword, with the drafts it belongs to and the vocabulary
 * that turns it on (0: always on).  Order matters twice: maximum
 * before a draft-04 boolean exclusiveMaximum, and $id handling (done
 * before this table) before $ref. */
static const struct keyword {
	const char *name;
	int first, last;
	unsigned vocab;
	keyword_fn compile;
} keywords[] = {
	{"type", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_type},
	{"enum", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_enum},
	{"const", DRAFT6, DRAFT2020, VOC_VALIDATION, kw_const},
	{"multipleOf", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_multiple_of},
	{"maximum", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_maximum},
	{"minimum", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_minimum},
	{"exclusiveMaximum", DRAFT4, DRAFT2020, VOC_VALIDATION,
	 kw_exclusive_maximum},
	{"exclusiveMinimum", DRAFT4, DRAFT2020, VOC_VALIDATION,
	 kw_exclusive_minimum},
	{"maxLength", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_max_length},
	{"minLength", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_min_length},
	{"pattern", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_pattern},
	{"format", DRAFT4, DRAFT2020, 0, kw_format},
	{"maxItems", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_max_items},
	{"minItems", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_min_items},
	{"uniqueItems", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_unique_items},
	{"maxContains", DRAFT2019, DRAFT2020, VOC_VALIDATION,
	 kw_max_contains},
	{"minContains", DRAFT2019, DRAFT2020, VOC_VALIDATION,
	 kw_min_contains},
	{"maxProperties", DRAFT4, DRAFT2020, VOC_VALIDATION,
	 kw_max_properties},
	{"minProperties", DRAFT4, DRAFT2020, VOC_VALIDATION,
	 kw_min_properties},
	{"required", DRAFT4, DRAFT2020, VOC_VALIDATION, kw_required},
	{"dependentRequired", DRAFT2019, DRAFT2020, VOC_VALIDATION,
	 kw_dependent_required},
	{"properties", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_properties},
	{"patternProperties", DRAFT4, DRAFT2020, VOC_APPLICATOR,
	 kw_pattern_properties},
	{"additionalProperties", DRAFT4, DRAFT2020, VOC_APPLICATOR,
	 kw_additional_properties},
	{"propertyNames", DRAFT6, DRAFT2020, VOC_APPLICATOR,
	 kw_property_names},
	{"prefixItems", DRAFT2020, DRAFT2020, VOC_APPLICATOR, kw_prefix_items},
	{"items", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_items},
	{"contains", DRAFT6, DRAFT2020, VOC_APPLICATOR, kw_contains},
	{"allOf", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_all_of},
	{"anyOf", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_any_of},
	{"oneOf", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_one_of},
	{"not", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_not},
	{"if", DRAFT7, DRAFT2020, VOC_APPLICATOR, kw_if},
	{"then", DRAFT7, DRAFT2020, VOC_APPLICATOR, kw_then},
	{"else", DRAFT7, DRAFT2020, VOC_APPLICATOR, kw_else},
	{"dependentSchemas", DRAFT2019, DRAFT2020, VOC_APPLICATOR,
	 kw_dependent_schemas},
	/* Gone since 2019-09, but still written; the meta-schema keeps
	 * it for compatibility, and so do we. */
	{"dependencies", DRAFT4, DRAFT2020, VOC_APPLICATOR, kw_dependencies},
	{"unevaluatedItems", DRAFT2019, DRAFT2020, VOC_UNEVALUATED,
	 kw_unevaluated_items},
	{"unevaluatedProperties", DRAFT2019, DRAFT2020, VOC_UNEVALUATED,
	 kw_unevaluated_properties},
	{"$defs", DRAFT2019, DRAFT2020, 0, kw_defs},
	{"definitions", DRAFT4, DRAFT7, 0, kw_defs},
	{"$ref", DRAFT4, DRAFT2020, 0, kw_ref},
	{"$dynamicRef", DRAFT2020, DRAFT2020, 0, kw_dynamic_ref},
};

/* ---- compiling: strict mode -------------------------------------------- */

/* What strict mode accepts besides the keywords table: the spec's
 * annotations and the containers a $ref may point into, whatever the
 * draft, and additionalItems, which kw_items reads. */
static const struct {
	const char *name;
	int first, last;
} strict_extra[] = {
	{"additionalItems", DRAFT4, DRAFT2019},
	{"$defs", DRAFT4, DRAFT2020},
	{"definitions", DRAFT4, DRAFT2020},
	{"$schema", DRAFT4, DRAFT2020},
	{"$id", DRAFT4, DRAFT2020},
	{"$anchor", DRAFT4, DRAFT2020},
	{"$dynamicAnchor", DRAFT4, DRAFT2020},
	{"$vocabulary", DRAFT4, DRAFT2020},
	{"$comment", DRAFT4, DRAFT2020},
	{"title", DRAFT4, DRAFT2020},
	{"description", DRAFT4, DRAFT2020},
	{"default", DRAFT4, DRAFT2020},
	{"examples", DRAFT4, DRAFT2020},
	{"deprecated", DRAFT4, DRAFT2020},
	{"readOnly", DRAFT4, DRAFT2020},
	{"writeOnly", DRAFT4, DRAFT2020},
	{"contentEncoding", DRAFT4, DRAFT2020},
	{"contentMediaType", DRAFT4, DRAFT2020},
	{"contentSchema", DRAFT4, DRAFT2020},
};

/* Keywords of the spec that the validator leaves out. */
static const char *const strict_unsupported[] = {
	"$recursiveRef", "$recursiveAnchor",
};

static const char *
draft_name(int draft)
{
	switch (draft) {
	case DRAFT4: return "draft-04";
	case DRAFT6: return "draft-06";
	case DRAFT7: return "draft-07";
	case DRAFT2019: return "draft 2019-09";
	default: return "draft 2020-12";
	}
}

/* 1: a keyword of draft, -1: a keyword of some other draft only, 0: not
 * a keyword. */
static int
strict_known(const char *name, int draft)
{
	int other = 0;

	for (size_t i = 0; i < FLUE_ARRAY_LEN(keywords); i++)
		if (strcmp(keywords[i].name, name) == 0) {
			if (draft >= keywords[i].first &&
			    draft <= keywords[i].last)
				return 1;
			other = -1;
		}
	for (size_t i = 0; i < FLUE_ARRAY_LEN(strict_extra); i++)
		if (strcmp(strict_extra[i].name, name) == 0) {
			if (draft >= strict_extra[i].first &&
			    draft <= strict_extra[i].last)
				return 1;
			other = -1;
		}
	return other;
}

static int
strict_refuse(struct compiler *c, const struct node *n, const char *name)
{
	const char *candidates[FLUE_ARRAY_LEN(keywords) +
	                       FLUE_ARRAY_LEN(strict_extra)];
	const char *path = pointer_join(c->s, n->path, name), *close;
	int draft = n->res->draft;
	size_t count = 0;

	if (path == NULL)
		return no_memory(c);
	for (size_t i = 0; i < FLUE_ARRAY_LEN(strict_unsupported); i++)
		if (strcmp(strict_unsupported[i], name) == 0)
			return bad(c, path, "JSON Schema keyword '%s' is not "
			           "supported", name);
	if (strict_known(name, draft) < 0)
		return bad(c, path, "'%s' is not a keyword in %s schemas",
		           name, draft_name(draft));
	for (size_t i = 0; i < FLUE_ARRAY_LEN(keywords); i++)
		if (draft >= keywords[i].first && draft <= keywords[i].last)
			candidates[count++] = keywords[i].name;
	for (size_t i = 0; i < FLUE_ARRAY_LEN(strict_extra); i++)
		if (draft >= strict_extra[i].first &&
		    draft <= strict_extra[i].last)
			candidates[count++] = strict_extra[i].name;
	close = count > 0 ? flue_suggest(name, candidates, count) : NULL;
	return bad(c, path, "unknown JSON Schema keyword '%s'%s%s%s", name,
	           close != NULL ? " (did you mean '" : "",
	           close != NULL ? close : "", close != NULL ? "'?)" : "");
}

/* Every member of a schema object must be a keyword of its draft. */
static int
strict_keywords(struct compiler *c, const struct node *n)
{
	struct json_object_iterator it = json_object_iter_begin(n->json);
	struct json_object_iterator end = json_object_iter_end(n->json);

	for (; !json_object_iter_equal(&it, &end);
	     json_object_iter_next(&it)) {
		const char *name = json_object_iter_peek_name(&it);

		if (strict_known(name, n->res->draft) <= 0)
			return strict_refuse(c, n, name);
	}
	return 0;
}

/* The container the keywords table skips in this draft ($defs before
 * 2019-09, definitions since) holds schemas all the same: check them
 * too, even when nothing refers to them. */
static int
strict_containers(struct compiler *c, struct node *n)
{
	const char *name = n->res->draft <= DRAFT7 ? "$defs" : "definitions";
	const char *path;
	json_object *value;

	if (!json_object_object_get_ex(n->json, name, &value))
		return 0;
	path = pointer_join(c->s, n->path, name);
	if (path == NULL)
		return no_memory(c);
	return kw_defs(c, n, value, path);
}

static struct node *
new_node(struct compiler *c, json_object *json, struct resource *res,
         const char *path)
{
	struct node *n = new_in_arena(c, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->json = json;
	n->path = path;
	n->res = res;
	n->min_contains = 1;
	if (map_put(&c->nodes, json, n) != 0) {
		no_memory(c);
		return NULL;
	}
	return n;
}

static int
compile_keywords(struct compiler *c, struct node *n)
{
	const struct resource *res = n->res;
	json_object *value;

	for (size_t i = 0; i < FLUE_ARRAY_LEN(keywords); i++) {
		const struct keyword *k = &keywords[i];
		const char *path;

		if (res->draft < k->first || res->draft > k->last ||
		    (k->vocab != 0 && !(res->vocab & k->vocab)) ||
		    !json_object_object_get_ex(n->json, k->name, &value))
			continue;
		path = pointer_join(c->s, n->path, k->name);
		if (path == NULL)
			return no_memory(c);
		if (k->compile(c, n, value, path) != 0)
			return -1;
	}
	return 0;
}

static struct node *
compile_node(struct compiler *c, json_object *json, struct resource *res,
             const char *path)
{
	struct node *n = map_get(&c->nodes, json);

	if (n != NULL)
		return n;
	if (path == NULL) {
		no_memory(c);
		return NULL;
	}
	if (json_object_is_type(json, json_type_boolean)) {
		n = new_node(c, json, res, path);
		if (n != NULL && !json_object_get_boolean(json))
			n->flags |= N_FALSE;
		return n;
	}
	if (!json_object_is_type(json, json_type_object)) {
		bad(c, path, "must be an object or a boolean");
		return NULL;
	}
	n = new_node(c, json, res, path);
	if (n == NULL)
		return NULL;
	n->res = enter_resource(c, json, res, path);
	if (n->res == NULL)
		return NULL;
	if (n->res->json == json)
		n->res->node = n;
	if (c->opt != NULL && c->opt->strict && strict_keywords(c, n) != 0)
		return NULL;
	if (add_anchors(c, n) != 0 || compile_keywords(c, n) != 0)
		return NULL;
	if (c->opt != NULL && c->opt->strict && strict_containers(c, n) != 0)
		return NULL;
	return n;
}

/* ---- compiling: documents and references -------------------------------- */

/* Compile a whole document retrieved as uri ("" for the schema itself);
 * path is where messages say it is. */
static struct resource *
compile_document(struct compiler *c, json_object *json, const char *uri,
                 int draft, const char *path)
{
	unsigned vocab = VOC_DEFAULT;
	const char *id, *fragment = NULL;
	struct resource *r, *alias;
	char *canonical = NULL;

	if (json_object_is_type(json, json_type_object) &&
	    resource_dialect(c, json, path, &draft, &vocab) != 0)
		return NULL;
	id = resource_id(c, json, draft, path);
	if (c->failed)
		return NULL;
	if (id != NULL) {
		canonical = id_uri(c, uri, id, draft,
		                   pointer_join(c->s, path, "$id"), &fragment);
		if (canonical == NULL)
			return NULL;
	}
	r = new_resource(c, canonical != NULL ? canonical : uri, json, path,
	                 draft, vocab);
	if (r != NULL && canonical != NULL && *uri != '\0' &&
	    strcmp(canonical, uri) != 0) {
		alias = new_resource(c, uri, json, path, draft, vocab);
		if (alias != NULL)
			alias->alias_of = r;
		else
			r = NULL;
	}
	free(canonical);
	if (r == NULL)
		return NULL;
	r->node = compile_node(c, json, r, path);
	return r->node != NULL ? r : NULL;
}

/* The resource named uri, fetching and compiling it if need be. */
static struct resource *
load_resource(struct compiler *c, const char *uri, int draft,
              const char *where, const char *ref)
{
	struct resource *r = find_resource(c->s, uri);
	const char *kept;
	json_object *doc;
	char *path;

	if (r != NULL)
		return r;
	if (!has_scheme(uri)) {
		bad(c, where, "cannot resolve '%s': a relative reference "
		    "needs a base URI ($id)", ref);
		return NULL;
	}
	doc = fetch(c, uri);
	if (doc == NULL) {
		bad(c, where, "cannot resolve '%s'%s", ref,
		    c->opt != NULL && c->opt->resolve != NULL ? "" :
		    " (remote references need a resolver)");
		return NULL;
	}
	if (keep_doc(c, doc) != 0)
		return NULL;
	if (asprintf(&path, "%s#", uri) < 0) {
		no_memory(c);
		return NULL;
	}
	kept = arena_strdup(c->s, path);
	free(path);
	r = NULL;
	if (kept == NULL)
		no_memory(c);
	else
		r = compile_document(c, doc, uri, draft, kept);
	if (r == NULL)
		return NULL;
	return find_resource(c->s, uri);
}

/* The node a JSON pointer fragment names inside a resource.  A value
 * that no keyword made a subschema ("#/$defs/x" in a draft-07
 * document) is compiled now, as part of that resource. */
static struct node *
pointer_target(struct compiler *c, struct resource *r, const char *pointer,
               const char *where, const char *ref)
{
	json_object *target;
	struct node *n;
	const char *path;
	int found;

	target = pointer_get(r->json, pointer, &found);
	if (!found) {
		bad(c, where, "cannot resolve '%s': no such location", ref);
		return NULL;
	}
	n = map_get(&c->nodes, target);
	if (n != NULL)
		return n;
	path = arena_strdup(c->s, r->path);
	if (path != NULL && *pointer != '\0') {
		struct sbuf b = {0};

		sb_puts(&b, r->path);
		sb_puts(&b, pointer);
		path = b.failed ? NULL : arena_strdup(c->s, b.buf);
		free(b.buf);
	}
	return compile_node(c, target, r, path);
}

/* Resolve pending reference i. */
static int
resolve_pending(struct compiler *c, size_t i)
{
	struct pending p = c->pending[i];
	char *base = NULL, *fragment = NULL, *hash;
	struct resource *r;
	struct node *target = NULL;
	const char *ref = json_object_get_string(json_object_object_get(
	        p.node->json, p.dynamic ? "$dynamicRef" : "$ref"));

	hash = strchr(p.uri, '#');
	base = strndup(p.uri, hash != NULL ? (size_t)(hash - p.uri)
	                                   : strlen(p.uri));
	if (hash != NULL)
		fragment = percent_decode(hash + 1, strlen(hash + 1));
	if (base == NULL || (hash != NULL && fragment == NULL)) {
		no_memory(c);
		goto out;
	}
	r = load_resource(c, base, p.node->res->draft, p.where, ref);
	if (r == NULL)
		goto out;
	if (fragment == NULL || *fragment == '\0') {
		target = r->node;
	} else if (*fragment == '/') {
		target = pointer_target(c, r, fragment, p.where, ref);
	} else {
		struct anchor *a = find_anchor(r, fragment, 0);

		if (a == NULL)
			bad(c, p.where, "cannot resolve '%s': no anchor '%s'",
			    ref, fragment);
		else
			target = a->node;
		/* Only an anchor made by $dynamicAnchor makes the
		 * reference dynamic; any other behaves like $ref. */
		if (p.dynamic && find_anchor(r, fragment, 1) != NULL) {
			p.node->dynamic_name = arena_strdup(c->s, fragment);
			if (p.node->dynamic_name == NULL)
				no_memory(c);
		}
	}
	if (target != NULL) {
		if (p.dynamic)
			p.node->dynamic_ref = target;
		else
			p.node->ref = target;
	}
out:
	free(base);
	free(fragment);
	return c->failed ? -1 : 0;
}

static void
compiler_free(struct compiler *c)
{
	for (size_t i = 0; i < c->n_pending; i++)
		free(c->pending[i].uri);
	free(c->pending);
	map_free(&c->nodes);
}

void
flue_schema_free(struct flue_schema *schema)
{
	struct arena_block *b, *next;

	if (schema == NULL)
		return;
	for (struct pattern *p = schema->patterns; p != NULL; p = p->next)
		regfree(&p->re);
	for (size_t i = 0; i < schema->n_docs; i++)
		json_object_put(schema->docs[i]);
	free(schema->docs);
	if (schema->utf8 != (locale_t)0)
		freelocale(schema->utf8);
	for (b = schema->arena; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(schema);
}

int
flue_schema_compile(json_object *schema,
                    const struct flue_schema_options *options,
                    struct flue_schema **out, struct flue_error *err)
{
	struct compiler c = {0};
	struct resource *root;
	int rc;

	if (out == NULL)
		return flue_error_set(err, FLUE_EINVAL, "flue_schema_compile: "
		                      "no out");
	*out = NULL;
	c.s = calloc(1, sizeof(*c.s));
	if (c.s == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory "
		                      "compiling a schema");
	c.opt = options;
	c.err = err;
	c.s->validate_formats = options != NULL && options->validate_formats;
	root = NULL;
	if (schema == NULL || keep_doc(&c, json_object_get(schema)) == 0)
		root = compile_document(&c, schema, "", DRAFT2020, "");
	/* References found while resolving others are appended, so the
	 * count is read again every time round. */
	for (size_t i = 0; root != NULL && i < c.n_pending; i++)
		if (resolve_pending(&c, i) != 0)
			break;
	rc = c.failed;
	compiler_free(&c);
	if (rc != 0 || root == NULL) {
		flue_schema_free(c.s);
		return rc != 0 ? rc : flue_error_set(err, FLUE_ERROR,
		                                     "schema did not compile");
	}
	c.s->root = root->node;
	*out = c.s;
	return 0;
}

/* ---- validating: state, problems and annotations ------------------------ */

/* The values a failed const (one) or enum (an array of them) wanted. */
struct want {
	enum { WANT_NONE, WANT_CONST, WANT_ENUM } kind;
	json_object *values;            /* [borrowed] from the schema */
};

struct problem {
	struct flue_schema_problem p;   /* [owned] strings */
	unsigned depth;                 /* of the instance path */
	unsigned char type_mask;        /* a type mismatch: the types wanted */
	struct want want;               /* a const or enum mismatch */
	size_t seq;                     /* order of discovery */
};

struct plist {
	struct problem *items;          /* [owned] */
	size_t count, cap;
};

/* One step of the instance path, on the C stack. */
struct seg {
	const struct seg *up;
	const char *key;                /* NULL: an array index */
	size_t index;
};

/* The dynamic scope: resources entered on the way here, for
 * $dynamicRef. */
struct scope {
	const struct scope *up;
	const struct resource *res;
};

/* Which properties or items of one instance some keyword evaluated,
 * as unevaluatedProperties/unevaluatedItems need to know.  Properties
 * are numbered in json-c's iteration order. */
struct eval {
	uint64_t *bits;                 /* small, or [owned] */
	size_t n;
	int all;
	uint64_t small[4];
};

struct vctx {
	const struct flue_schema *s;
	int collect;                    /* 0: first pass, stop at a failure */
	struct plist *out;              /* where problems go when collecting */
	const struct seg *path;
	const struct scope *scope;
	unsigned depth;
	size_t seq;
	int oom;
};

/* In the first pass the first failure ends a node; when collecting
 * problems, every keyword gets its say. */
#define STOP(v, ok) (!(ok) && !(v)->collect)

static int check(struct vctx *v, const struct node *n, json_object *inst,
                 struct eval *ev);

static void
plist_free(struct plist *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].p.instance_path);
		free(list->items[i].p.keyword_path);
		free(list->items[i].p.message);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static int
plist_push(struct plist *list, const struct problem *p)
{
	struct problem *grown;
	size_t cap;

	if (list->count == list->cap) {
		cap = list->cap ? list->cap * 2 : 8;
		grown = realloc(list->items, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		list->items = grown;
		list->cap = cap;
	}
	list->items[list->count++] = *p;
	return 0;
}

static void
put_instance_path(struct sbuf *b, const struct seg *seg, unsigned *depth)
{
	if (seg == NULL)
		return;
	put_instance_path(b, seg->up, depth);
	(*depth)++;
	if (seg->key != NULL)
		pointer_put_token(b, seg->key);
	else
		sb_printf(b, "/%zu", seg->index);
}

/* Record a problem with keyword of n (NULL: n itself).  Always 0, the
 * result of the failing check. */
static int
add_problem(struct vctx *v, const struct node *n, const char *keyword,
            unsigned type_mask, struct want want, char *message)
{
	struct sbuf path = {0}, kw = {0};
	struct problem p = {0};

	if (message == NULL || v->out->count >= LIST_MAX) {
		if (message == NULL)
			v->oom = 1;
		free(message);
		return 0;
	}
	put_instance_path(&path, v->path, &p.depth);
	sb_puts(&kw, n->path);
	if (keyword != NULL)
		pointer_put_token(&kw, keyword);
	p.p.instance_path = sb_take(&path);
	p.p.keyword_path = sb_take(&kw);
	p.p.message = message;
	p.type_mask = (unsigned char)type_mask;
	p.want = want;
	p.seq = v->seq++;
	if (p.p.instance_path == NULL || p.p.keyword_path == NULL ||
	    plist_push(v->out, &p) != 0) {
		free(p.p.instance_path);
		free(p.p.keyword_path);
		free(message);
		v->oom = 1;
	}
	return 0;
}

static int __attribute__((format(printf, 5, 6)))
fail(struct vctx *v, const struct node *n, const char *keyword,
     unsigned type_mask, const char *fmt, ...)
{
	char *message;
	va_list ap;
	int rc;

	if (!v->collect)
		return 0;
	va_start(ap, fmt);
	rc = vasprintf(&message, fmt, ap);
	va_end(ap);
	return add_problem(v, n, keyword, type_mask, (struct want){0},
	                   rc < 0 ? NULL : message);
}

static int
eval_init(struct vctx *v, struct eval *e, size_t n)
{
	e->n = n;
	e->all = 0;
	memset(e->small, 0, sizeof(e->small));
	e->bits = e->small;
	if (n > 64 * FLUE_ARRAY_LEN(e->small)) {
		e->bits = calloc((n + 63) / 64, sizeof(*e->bits));
		if (e->bits == NULL) {
			v->oom = 1;
			return -1;
		}
	}
	return 0;
}

static void
eval_free(struct eval *e)
{
	if (e->bits != e->small)
		free(e->bits);
}

static void
eval_mark(struct eval *e, size_t i)
{
	if (e != NULL && i < e->n)
		e->bits[i / 64] |= UINT64_C(1) << (i % 64);
}

static int
eval_has(const struct eval *e, size_t i)
{
	return e->all || (e->bits[i / 64] >> (i % 64) & 1);
}

static void
eval_merge(struct eval *into, const struct eval *from)
{
	if (into == NULL)
		return;
	into->all |= from->all;
	for (size_t i = 0; i < (into->n + 63) / 64; i++)
		into->bits[i] |= from->bits[i];
}

/* ---- validating: messages ----------------------------------------------- */

static const char *
plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* A number as people write it: 10, 0.5, 1e-08. */
static void
format_number(const struct num *n, char *buf, size_t size)
{
	double d = n->d;

	if (n->kind == NUM_INT) {
		snprintf(buf, size, "%lld", (long long)n->i);
		return;
	}
	if (n->kind == NUM_UINT) {
		snprintf(buf, size, "%llu", (unsigned long long)n->u);
		return;
	}
	if (d == floor(d) && fabs(d) < 1e17) {
		snprintf(buf, size, "%.0f", d);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* One of a list of alternatives: "a, b or c". */
static void
put_alternative(struct sbuf *b, size_t *done, size_t total)
{
	if (*done > 0)
		sb_puts(b, *done + 1 == total ? " or " : ", ");
	(*done)++;
}

static unsigned
visible_types(unsigned mask)
{
	return mask & TY_NUMBER ? mask & ~TY_INTEGER : mask;
}

static size_t
count_types(unsigned mask)
{
	size_t n = 0;

	for (mask = visible_types(mask); mask != 0; mask &= mask - 1)
		n++;
	return n;
}

/* The types in mask, as alternatives among total. */
static void
put_types(struct sbuf *b, unsigned mask, size_t *done, size_t total)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{TY_STRING, "a string"}, {TY_INTEGER, "an integer"},
		{TY_NUMBER, "a number"}, {TY_OBJECT, "an object"},
		{TY_ARRAY, "an array"}, {TY_BOOLEAN, "a boolean"},
		{TY_NULL, "null"},
	};

	mask = visible_types(mask);
	for (size_t i = 0; i < FLUE_ARRAY_LEN(names); i++) {
		if (!(mask & names[i].bit))
			continue;
		put_alternative(b, done, total);
		sb_puts(b, names[i].name);
	}
}

static int
fail_type(struct vctx *v, const struct node *n, const char *keyword,
          unsigned mask)
{
	struct sbuf b = {0};
	size_t done = 0;

	if (!v->collect)
		return 0;
	sb_puts(&b, "must be ");
	put_types(&b, mask, &done, count_types(mask));
	return add_problem(v, n, keyword, mask, (struct want){0},
	                   sb_take(&b));
}

/* A JSON value for a message, cut at SHOW_MAX.  Printed by hand:
 * json-c would cache its text inside the (shared) schema. */
static void
put_value(struct sbuf *b, json_object *value)
{
	size_t start = b->len;
	struct num number;
	char text[64];

	switch (json_object_get_type(value)) {
	case json_type_null: sb_puts(b, "null"); break;
	case json_type_boolean:
		sb_puts(b, json_object_get_boolean(value) ? "true" : "false");
		break;
	case json_type_int: case json_type_double:
		number = num_of(value);
		format_number(&number, text, sizeof(text));
		sb_puts(b, text);
		break;
	case json_type_string:
		sb_putc(b, '"');
		for (const char *s = json_object_get_string(value); *s; s++) {
			if (*s == '"' || *s == '\\')
				sb_putc(b, '\\');
			sb_putc(b, *s);
		}
		sb_putc(b, '"');
		break;
	case json_type_array: sb_puts(b, "[...]"); break;
	default: sb_puts(b, "{...}"); break;
	}
	if (b->len - start > SHOW_MAX && !b->failed) {
		b->len = start + SHOW_MAX;
		sb_puts(b, "...");
	}
}

static int
fail_enum(struct vctx *v, const struct node *n)
{
	size_t count = json_object_array_length(n->enum_values);
	struct sbuf b = {0};

	if (!v->collect)
		return 0;
	sb_puts(&b, count == 1 ? "must be " : "must be one of ");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			sb_puts(&b, ", ");
		if (b.len > 2 * SHOW_MAX) {
			sb_puts(&b, "...");
			break;
		}
		put_value(&b, json_object_array_get_idx(n->enum_values, i));
	}
	if (count == 0)
		sb_puts(&b, "nothing (the enum is empty)");
	return add_problem(v, n, "enum", 0,
	                   (struct want){WANT_ENUM, n->enum_values},
	                   sb_take(&b));
}

static int
fail_const(struct vctx *v, const struct node *n)
{
	struct sbuf b = {0};

	if (!v->collect)
		return 0;
	sb_puts(&b, "must be ");
	put_value(&b, n->const_value);
	return add_problem(v, n, "const", 0,
	                   (struct want){WANT_CONST, n->const_value},
	                   sb_take(&b));
}

/* "must not have property 'x' (allowed: a, b)": the names the schema
 * lists, in its order, so a model can correct a misspelling. */
static int
fail_additional(struct vctx *v, const struct node *n, const char *key)
{
	json_object *props = NULL;
	struct sbuf b = {0};
	const char *sep = "";

	if (!v->collect)
		return 0;
	sb_printf(&b, "must not have property '%.*s'", SHOW_MAX, key);
	if (n->n_props + n->n_pattern_props > 0) {
		json_object_object_get_ex(n->json, "properties", &props);
		sb_puts(&b, " (allowed: ");
		if (n->n_props > 0) {
			json_object_object_foreach(props, name, unused) {
				(void)unused;
				if (b.len > 3 * SHOW_MAX) {
					sb_puts(&b, ", ...");
					break;
				}
				sb_printf(&b, "%s%s", sep, name);
				sep = ", ";
			}
		}
		for (size_t i = 0; i < n->n_pattern_props; i++) {
			sb_printf(&b, "%snames matching %.*s", sep, SHOW_MAX,
			          n->pattern_props[i].pattern->source);
			sep = ", ";
		}
		sb_putc(&b, ')');
	}
	return add_problem(v, n, "additionalProperties", 0, (struct want){0},
	                   sb_take(&b));
}

/* ---- validating: keywords ----------------------------------------------- */

static int
check_child(struct vctx *v, const struct node *n, json_object *inst,
            const char *key, size_t index)
{
	struct seg seg = {v->path, key, index};
	const struct seg *saved = v->path;
	int ok;

	v->path = &seg;
	ok = check(v, n, inst, NULL);
	v->path = saved;
	return ok;
}

static int
check_number(struct vctx *v, const struct node *n, json_object *inst)
{
	struct num x = num_of(inst);
	char limit[64];
	int ok = 1;

	if ((n->flags & N_MULTIPLE_OF) && !is_multiple_of(inst, n)) {
		format_number(&(struct num){.kind = NUM_DOUBLE,
		                            .d = n->multiple_of},
		              limit, sizeof(limit));
		ok = fail(v, n, "multipleOf", 0, "must be a multiple of %s",
		          limit);
	}
	if ((n->flags & N_MAXIMUM) && num_cmp(&x, &n->maximum) > 0) {
		format_number(&n->maximum, limit, sizeof(limit));
		ok = fail(v, n, "maximum", 0, "must be at most %s", limit);
	}
	if ((n->flags & N_EXCL_MAXIMUM) && num_cmp(&x, &n->excl_maximum) >= 0) {
		format_number(&n->excl_maximum, limit, sizeof(limit));
		ok = fail(v, n, "exclusiveMaximum", 0, "must be less than %s",
		          limit);
	}
	if ((n->flags & N_MINIMUM) && num_cmp(&x, &n->minimum) < 0) {
		format_number(&n->minimum, limit, sizeof(limit));
		ok = fail(v, n, "minimum", 0, "must be at least %s", limit);
	}
	if ((n->flags & N_EXCL_MINIMUM) && num_cmp(&x, &n->excl_minimum) <= 0) {
		format_number(&n->excl_minimum, limit, sizeof(limit));
		ok = fail(v, n, "exclusiveMinimum", 0, "must be greater than %s",
		          limit);
	}
	return ok;
}

static int
check_string(struct vctx *v, const struct node *n, json_object *inst)
{
	const char *s = json_object_get_string(inst);
	size_t len = (size_t)json_object_get_string_len(inst), chars;
	int ok = 1;

	if (n->flags & (N_MAX_LENGTH | N_MIN_LENGTH)) {
		chars = utf8_length(s, len);
		if ((n->flags & N_MAX_LENGTH) && chars > n->max_length)
			ok = fail(v, n, "maxLength", 0, "must be at most %zu "
			          "character%s", n->max_length,
			          plural(n->max_length, "", "s"));
		if ((n->flags & N_MIN_LENGTH) && chars < n->min_length)
			ok = fail(v, n, "minLength", 0, "must be at least %zu "
			          "character%s", n->min_length,
			          plural(n->min_length, "", "s"));
	}
	if (n->pattern != NULL && !STOP(v, ok) &&
	    !rx_match(v->s, &n->pattern->re, s))
		ok = fail(v, n, "pattern", 0, "must match pattern %.*s",
		          SHOW_MAX, n->pattern->source);
	if ((n->flags & N_FORMAT_ASSERT) && !STOP(v, ok) &&
	    !format_ok(v->s, n->format, s, len))
		ok = fail(v, n, "format", 0, "must be a valid %s",
		          format_name(n->format));
	return ok;
}

/* const, enum and the keywords for numbers and strings. */
static int
check_value(struct vctx *v, const struct node *n, json_object *inst,
            unsigned type)
{
	int ok = 1, found = 0;

	if ((n->flags & N_CONST) && !json_equal(inst, n->const_value))
		ok = fail_const(v, n);
	if (STOP(v, ok))
		return 0;
	if (n->enum_values != NULL) {
		size_t count = json_object_array_length(n->enum_values);

		for (size_t i = 0; i < count && !found; i++)
			found = json_equal(inst, json_object_array_get_idx(
			        n->enum_values, i));
		if (!found)
			ok = fail_enum(v, n);
		if (STOP(v, ok))
			return 0;
	}
	if (type & TY_NUMBER)
		ok = check_number(v, n, inst) && ok;
	else if (type & TY_STRING)
		ok = check_string(v, n, inst) && ok;
	return ok;
}

static int
check_unique(struct vctx *v, const struct node *n, json_object *inst)
{
	size_t len = json_object_array_length(inst);

	for (size_t i = 0; i < len; i++)
		for (size_t j = i + 1; j < len; j++)
			if (json_equal(json_object_array_get_idx(inst, i),
			               json_object_array_get_idx(inst, j)))
				return fail(v, n, "uniqueItems", 0, "must not have "
				            "duplicate items (items %zu and %zu "
				            "are equal)", i, j);
	return 1;
}

static int
check_contains(struct vctx *v, const struct node *n, json_object *inst,
               struct eval *e)
{
	size_t len = json_object_array_length(inst), matches = 0;
	int saved = v->collect, ok = 1;

	/* Items that do not match are not problems: only the count is. */
	v->collect = 0;
	for (size_t i = 0; i < len && !v->oom; i++) {
		if (!check_child(v, n->contains, json_object_array_get_idx(inst,
		                                                         i),
		                 NULL, i))
			continue;
		matches++;
		eval_mark(e, i);
		if (e == NULL && !(n->flags & N_MAX_CONTAINS) &&
		    matches >= n->min_contains)
			break;
	}
	v->collect = saved;
	if (matches < n->min_contains)
		ok = fail(v, n, "contains", 0, "must contain at least %zu "
		          "matching item%s", n->min_contains,
		          plural(n->min_contains, "", "s"));
	if ((n->flags & N_MAX_CONTAINS) && matches > n->max_contains)
		ok = fail(v, n, "maxContains", 0, "must contain at most %zu "
		          "matching item%s", n->max_contains,
		          plural(n->max_contains, "", "s"));
	return ok;
}

static int
check_items(struct vctx *v, const struct node *n, json_object *inst,
            struct eval *e)
{
	size_t len = json_object_array_length(inst);
	size_t start = n->prefix_items.count;
	int ok = 1;

	for (size_t i = 0; i < len && i < start && !STOP(v, ok); i++) {
		ok = check_child(v, n->prefix_items.items[i],
		                 json_object_array_get_idx(inst, i), NULL, i) &&
		     ok;
		eval_mark(e, i);
	}
	if (n->items == NULL || len <= start || STOP(v, ok))
		return ok;
	if (n->items->flags & N_FALSE)
		return fail(v, n, start > 0 && n->res->draft < DRAFT2020 ?
		            "additionalItems" : "items", 0, "must have at "
		            "most %zu item%s", start, plural(start, "", "s"));
	for (size_t i = start; i < len && !STOP(v, ok); i++) {
		ok = check_child(v, n->items, json_object_array_get_idx(inst, i),
		                 NULL, i) && ok;
		eval_mark(e, i);
	}
	return ok;
}

static int
check_array(struct vctx *v, const struct node *n, json_object *inst,
            struct eval *e)
{
	size_t len = json_object_array_length(inst);
	int ok = 1;

	if ((n->flags & N_MAX_ITEMS) && len > n->max_items)
		ok = fail(v, n, "maxItems", 0, "must have at most %zu item%s",
		          n->max_items, plural(n->max_items, "", "s"));
	if ((n->flags & N_MIN_ITEMS) && len < n->min_items)
		ok = fail(v, n, "minItems", 0, "must have at least %zu item%s",
		          n->min_items, plural(n->min_items, "", "s"));
	if ((n->flags & N_UNIQUE) && !STOP(v, ok))
		ok = check_unique(v, n, inst) && ok;
	if (!STOP(v, ok))
		ok = check_items(v, n, inst, e) && ok;
	if (n->contains != NULL && !STOP(v, ok))
		ok = check_contains(v, n, inst, e) && ok;
	return ok;
}

static const struct prop *
find_prop(const struct node *n, const char *key)
{
	size_t lo = 0, hi = n->n_props;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(key, n->props[mid].name);

		if (cmp == 0)
			return &n->props[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* propertyNames: the name checked as a string; problems are reported
 * on the object, prefixed with the name. */
static int
check_name(struct vctx *v, const struct node *n, const char *key)
{
	json_object *name = json_object_new_string(key);
	struct plist sub = {0}, *saved = v->out;
	int ok;

	if (name == NULL) {
		v->oom = 1;
		return 0;
	}
	if (v->collect)
		v->out = &sub;
	ok = check(v, n->property_names, name, NULL);
	v->out = saved;
	json_object_put(name);
	for (size_t i = 0; i < sub.count; i++) {
		fail(v, n, "propertyNames", 0, "property name '%.*s' %s",
		     SHOW_MAX, key, sub.items[i].p.message);
	}
	plist_free(&sub);
	return ok;
}

/* One property against properties, patternProperties,
 * additionalProperties and propertyNames. */
static int
check_property(struct vctx *v, const struct node *n, const char *key,
               json_object *value, struct eval *e, size_t index)
{
	const struct prop *p = find_prop(n, key);
	int ok = 1, matched = p != NULL;

	if (p != NULL)
		ok = check_child(v, p->node, value, key, 0);
	for (size_t i = 0; i < n->n_pattern_props && !STOP(v, ok); i++) {
		if (!rx_match(v->s, &n->pattern_props[i].pattern->re, key))
			continue;
		matched = 1;
		ok = check_child(v, n->pattern_props[i].node, value, key, 0) &&
		     ok;
	}
	if (!matched && n->additional_props != NULL && !STOP(v, ok)) {
		matched = 1;
		if (n->additional_props->flags & N_FALSE)
			ok = fail_additional(v, n, key);
		else
			ok = check_child(v, n->additional_props, value, key, 0);
	}
	if (matched)
		eval_mark(e, index);
	if (n->property_names != NULL && !STOP(v, ok))
		ok = check_name(v, n, key) && ok;
	return ok;
}

static int
check_required(struct vctx *v, const struct node *n, json_object *inst)
{
	int ok = 1;

	for (size_t i = 0; i < n->n_required && !STOP(v, ok); i++)
		if (!json_object_object_get_ex(inst, n->required[i], NULL))
			ok = fail(v, n, "required", 0, "must have property "
			          "'%.*s'", SHOW_MAX, n->required[i]);
	for (size_t i = 0; i < n->n_dep_required && !STOP(v, ok); i++) {
		const struct dep_required *d = &n->dep_required[i];

		if (!json_object_object_get_ex(inst, d->name, NULL))
			continue;
		for (size_t j = 0; j < d->count && !STOP(v, ok); j++)
			if (!json_object_object_get_ex(inst, d->names[j], NULL))
				ok = fail(v, n, n->res->draft <= DRAFT7 ?
				          "dependencies" : "dependentRequired", 0,
				          "must have property '%.*s' when '%.*s' "
				          "is present", SHOW_MAX, d->names[j],
				          SHOW_MAX, d->name);
	}
	return ok;
}

static int
check_object(struct vctx *v, const struct node *n, json_object *inst,
             struct eval *e)
{
	size_t count = (size_t)json_object_object_length(inst), i = 0;
	int ok = 1;

	if ((n->flags & N_MAX_PROPS) && count > n->max_props)
		ok = fail(v, n, "maxProperties", 0, "must have at most %zu "
		          "propert%s", n->max_props,
		          plural(n->max_props, "y", "ies"));
	if ((n->flags & N_MIN_PROPS) && count < n->min_props)
		ok = fail(v, n, "minProperties", 0, "must have at least %zu "
		          "propert%s", n->min_props,
		          plural(n->min_props, "y", "ies"));
	if (!STOP(v, ok))
		ok = check_required(v, n, inst) && ok;
	if (!(n->flags & N_OBJECT_LOOP) || STOP(v, ok))
		return ok;
	json_object_object_foreach(inst, key, value) {
		ok = check_property(v, n, key, value, e, i++) && ok;
		if (STOP(v, ok))
			return 0;
	}
	return ok;
}

/* ---- validating: applicators -------------------------------------------- */

/* How many const/enum branches an anyOf message gathers, and how many
 * values in all. */
#define WANTED_MAX 8
#define WANTED_VALUES_MAX 16

/* The failed anyOf/oneOf branch worth reporting: the one that got
 * furthest into the instance, or failed for a reason other than its
 * type, or with fewer problems.  When every branch just wanted another
 * type or value, the wants are gathered instead. */
struct pick {
	struct plist best;          /* [owned] */
	int have, score;
	int simple;                 /* every branch: one type/value miss */
	unsigned type_mask;         /* the types those branches wanted */
	struct want wanted[WANTED_MAX];         /* their const and enum */
	size_t n_wanted;
};

static int
plist_score(const struct plist *list)
{
	int score = -1;

	for (size_t i = 0; i < list->count; i++) {
		int s = (int)list->items[i].depth * 2 +
		        (list->items[i].type_mask == 0 &&
		         list->items[i].want.kind == WANT_NONE);

		if (s > score)
			score = s;
	}
	return score;
}

/* Take list (its problems) as a candidate. */
static void
pick_offer(struct pick *pick, struct plist *list, unsigned depth)
{
	const struct problem *only = list->count == 1 ? list->items : NULL;
	int score = plist_score(list);

	if (only == NULL || only->depth != depth)
		pick->simple = 0;
	else if (only->type_mask != 0)
		pick->type_mask |= only->type_mask;
	else if (only->want.kind != WANT_NONE && pick->n_wanted < WANTED_MAX)
		pick->wanted[pick->n_wanted++] = only->want;
	else
		pick->simple = 0;
	if (!pick->have || score > pick->score ||
	    (score == pick->score && list->count < pick->best.count)) {
		plist_free(&pick->best);
		pick->best = *list;
		pick->score = score;
		pick->have = 1;
		memset(list, 0, sizeof(*list));
	} else {
		plist_free(list);
	}
}

static unsigned
path_depth(const struct seg *seg)
{
	unsigned depth = 0;

	for (; seg != NULL; seg = seg->up)
		depth++;
	return depth;
}

/* Run one anyOf/oneOf branch.  Its annotations count only if it
 * passes, its problems only if it becomes the pick. */
static int
check_branch(struct vctx *v, const struct node *sub, json_object *inst,
             struct eval *e, struct pick *pick)
{
	struct plist list = {0}, *saved = v->out;
	struct eval tmp;
	int ok;

	if (e != NULL && eval_init(v, &tmp, e->n) != 0)
		return 0;
	if (v->collect)
		v->out = &list;
	ok = check(v, sub, inst, e != NULL ? &tmp : NULL);
	v->out = saved;
	if (e != NULL) {
		if (ok)
			eval_merge(e, &tmp);
		eval_free(&tmp);
	}
	if (!ok && v->collect)
		pick_offer(pick, &list, path_depth(v->path));
	plist_free(&list);
	return ok;
}

static size_t
count_values(const struct want *w)
{
	return w->kind == WANT_ENUM ? json_object_array_length(w->values) : 1;
}

/* "must be an integer, \"all\" or \"none\"": what the branches wanted.
 * 0 when there are too many values to list. */
static int
fail_wanted(struct vctx *v, const struct node *n, const char *keyword,
            const struct pick *pick)
{
	size_t values = 0, total, done = 0;
	struct sbuf b = {0};

	for (size_t i = 0; i < pick->n_wanted; i++)
		values += count_values(&pick->wanted[i]);
	if (values > WANTED_VALUES_MAX)
		return -1;
	total = count_types(pick->type_mask) + values;
	sb_puts(&b, "must be ");
	put_types(&b, pick->type_mask, &done, total);
	for (size_t i = 0; i < pick->n_wanted; i++) {
		const struct want *w = &pick->wanted[i];

		for (size_t j = 0; j < count_values(w); j++) {
			put_alternative(&b, &done, total);
			put_value(&b, w->kind == WANT_ENUM ?
			          json_object_array_get_idx(w->values, j) :
			          w->values);
		}
	}
	add_problem(v, n, keyword, pick->n_wanted ? 0 : pick->type_mask,
	            (struct want){0}, sb_take(&b));
	return 0;
}

/* Report the pick: one "must be a string or an object" when every
 * branch wanted another type or value, else the best branch's
 * problems. */
static int
report_pick(struct vctx *v, const struct node *n, const char *keyword,
            struct pick *pick)
{
	if (!v->collect) {
		plist_free(&pick->best);
		return 0;
	}
	if (pick->simple && (pick->type_mask != 0 || pick->n_wanted > 0) &&
	    fail_wanted(v, n, keyword, pick) == 0) {
		/* reported */
	} else if (pick->best.count == 0) {
		fail(v, n, keyword, 0, "must match a schema in %s", keyword);
	} else {
		for (size_t i = 0; i < pick->best.count; i++) {
			struct problem *p = &pick->best.items[i];

			if (v->out->count >= LIST_MAX)
				break;
			if (plist_push(v->out, p) != 0)
				v->oom = 1;
			else
				memset(&p->p, 0, sizeof(p->p));
		}
	}
	/* Frees whatever did not move over. */
	plist_free(&pick->best);
	return 0;
}

static int
check_any_of(struct vctx *v, const struct node *n, json_object *inst,
             struct eval *e)
{
	struct pick pick = {.simple = 1};
	int any = 0;

	for (size_t i = 0; i < n->any_of.count && !v->oom; i++) {
		if (!check_branch(v, n->any_of.items[i], inst, e, &pick))
			continue;
		any = 1;
		/* Every passing branch adds annotations; without them
		 * one is enough. */
		if (e == NULL)
			break;
	}
	if (any) {
		plist_free(&pick.best);
		return 1;
	}
	return report_pick(v, n, "anyOf", &pick);
}

static int
check_one_of(struct vctx *v, const struct node *n, json_object *inst,
             struct eval *e)
{
	struct pick pick = {.simple = 1};
	size_t matches = 0, first = 0, second = 0;
	int saved = v->collect;

	for (size_t i = 0; i < n->one_of.count && matches < 2 && !v->oom;
	     i++) {
		if (!check_branch(v, n->one_of.items[i], inst, NULL, &pick))
			continue;
		if (matches++ == 0)
			first = i;
		else
			second = i;
	}
	if (matches == 0)
		return report_pick(v, n, "oneOf", &pick);
	plist_free(&pick.best);
	if (matches > 1)
		return fail(v, n, "oneOf", 0, "must match exactly one schema "
		            "in oneOf (schemas %zu and %zu both match)", first,
		            second);
	/* The one branch that matched gives the annotations. */
	if (e != NULL) {
		v->collect = 0;
		check(v, n->one_of.items[first], inst, e);
		v->collect = saved;
	}
	return 1;
}

static int
check_not(struct vctx *v, const struct node *n, json_object *inst)
{
	int saved = v->collect, matched;

	v->collect = 0;
	matched = check(v, n->not_, inst, NULL);
	v->collect = saved;
	if (matched)
		return fail(v, n, "not", 0, "must not match the schema in "
		            "'not'");
	return 1;
}

static int
check_if(struct vctx *v, const struct node *n, json_object *inst,
         struct eval *e)
{
	int saved = v->collect, matched;
	struct eval tmp;

	if (e != NULL && eval_init(v, &tmp, e->n) != 0)
		return 0;
	v->collect = 0;
	matched = check(v, n->if_, inst, e != NULL ? &tmp : NULL);
	v->collect = saved;
	if (e != NULL) {
		if (matched)
			eval_merge(e, &tmp);
		eval_free(&tmp);
	}
	if (matched && n->then_ != NULL)
		return check(v, n->then_, inst, e);
	if (!matched && n->else_ != NULL)
		return check(v, n->else_, inst, e);
	return 1;
}

/* Where a $dynamicRef leads: the outermost resource in the dynamic
 * scope with a matching $dynamicAnchor, else its static target. */
static const struct node *
dynamic_target(const struct vctx *v, const struct node *n)
{
	const struct node *found = NULL;
	const struct anchor *a;

	if (n->dynamic_name == NULL)
		return n->dynamic_ref;
	for (const struct scope *sc = v->scope; sc != NULL; sc = sc->up) {
		a = find_anchor(sc->res, n->dynamic_name, 1);
		if (a != NULL)
			found = a->node;
	}
	return found != NULL ? found : n->dynamic_ref;
}

/* Keywords that apply subschemas to this same instance. */
static int
check_in_place(struct vctx *v, const struct node *n, json_object *inst,
               struct eval *e)
{
	int ok = 1;

	if (n->ref != NULL)
		ok = check(v, n->ref, inst, e);
	if (n->dynamic_ref != NULL && !STOP(v, ok))
		ok = check(v, dynamic_target(v, n), inst, e) && ok;
	for (size_t i = 0; i < n->all_of.count && !STOP(v, ok); i++)
		ok = check(v, n->all_of.items[i], inst, e) && ok;
	if (n->any_of.count > 0 && !STOP(v, ok))
		ok = check_any_of(v, n, inst, e) && ok;
	if (n->one_of.count > 0 && !STOP(v, ok))
		ok = check_one_of(v, n, inst, e) && ok;
	if (n->not_ != NULL && !STOP(v, ok))
		ok = check_not(v, n, inst) && ok;
	if (n->if_ != NULL && !STOP(v, ok))
		ok = check_if(v, n, inst, e) && ok;
	if (n->n_dep_schemas > 0 && json_object_is_type(inst, json_type_object))
		for (size_t i = 0; i < n->n_dep_schemas && !STOP(v, ok); i++)
			if (json_object_object_get_ex(inst,
			                              n->dep_schemas[i].name,
			                              NULL))
				ok = check(v, n->dep_schemas[i].node, inst, e) &&
				     ok;
	return ok;
}

static int
check_unevaluated(struct vctx *v, const struct node *n, json_object *inst,
                  unsigned type, struct eval *e)
{
	int ok = 1;
	size_t i = 0;

	if (type & TY_ARRAY) {
		size_t len = json_object_array_length(inst);

		for (i = 0; i < len && !STOP(v, ok); i++)
			if (!eval_has(e, i))
				ok = check_child(v, n->unevaluated_items,
				                 json_object_array_get_idx(inst, i),
				                 NULL, i) && ok;
		return ok;
	}
	json_object_object_foreach(inst, key, value) {
		if (!eval_has(e, i++)) {
			if (n->unevaluated_props->flags & N_FALSE)
				ok = fail(v, n, "unevaluatedProperties", 0,
				          "must not have property '%.*s'",
				          SHOW_MAX, key);
			else
				ok = check_child(v, n->unevaluated_props, value,
				                 key, 0) && ok;
		}
		if (STOP(v, ok))
			return 0;
	}
	return ok;
}

/* Every keyword of an object schema.  With unevaluated* to apply here,
 * the keywords record what they evaluate in a local eval, which then
 * flows up into ev (the caller's) if this schema passes. */
static int
check_schema(struct vctx *v, const struct node *n, json_object *inst,
             struct eval *ev)
{
	unsigned type = type_of(inst);
	struct eval local, *e = ev;
	int ok, tracking;

	if (n->flags & N_REF_ONLY)
		return check(v, n->ref, inst, ev);
	if (n->types != 0 && !(n->types & type))
		return fail_type(v, n, "type", n->types);
	tracking = ((type & TY_ARRAY) && n->unevaluated_items != NULL) ||
	           ((type & TY_OBJECT) && n->unevaluated_props != NULL);
	if (tracking) {
		if (eval_init(v, &local, (type & TY_ARRAY) ?
		              json_object_array_length(inst) :
		              (size_t)json_object_object_length(inst)) != 0)
			return 0;
		e = &local;
	}
	ok = check_value(v, n, inst, type);
	if ((type & TY_ARRAY) && !STOP(v, ok))
		ok = check_array(v, n, inst, e) && ok;
	else if ((type & TY_OBJECT) && !STOP(v, ok))
		ok = check_object(v, n, inst, e) && ok;
	if (!STOP(v, ok))
		ok = check_in_place(v, n, inst, e) && ok;
	if (tracking) {
		if (!STOP(v, ok))
			ok = check_unevaluated(v, n, inst, type, e) && ok;
		if (ok && ev != NULL)
			ev->all = 1;
		eval_free(&local);
	}
	return ok;
}

static int
check(struct vctx *v, const struct node *n, json_object *inst,
      struct eval *ev)
{
	const struct scope *saved = v->scope;
	struct scope frame;
	int ok;

	if (n->flags & N_FALSE)
		return fail(v, n, NULL, 0, "is not allowed");
	if (v->depth >= DEPTH_MAX)
		return fail(v, n, NULL, 0, "cannot be checked: the schema "
		            "nests more than %d levels deep (does it refer to "
		            "itself?)", DEPTH_MAX);
	if (v->scope == NULL || v->scope->res != n->res) {
		frame.up = v->scope;
		frame.res = n->res;
		v->scope = &frame;
	}
	v->depth++;
	ok = check_schema(v, n, inst, ev);
	v->depth--;
	v->scope = saved;
	return ok;
}

/* ---- validating: the report --------------------------------------------- */

/* Deeper instance paths first (the most specific), then in the order
 * found. */
static int
problem_cmp(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
fill_report(struct plist *list, struct flue_schema_report *report)
{
	size_t count = list->count < REPORT_MAX ? list->count : REPORT_MAX;

	qsort(list->items, list->count, sizeof(*list->items), problem_cmp);
	report->problems = calloc(count, sizeof(*report->problems));
	if (report->problems == NULL)
		return FLUE_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		report->problems[i] = list->items[i].p;
		memset(&list->items[i].p, 0, sizeof(list->items[i].p));
	}
	report->count = count;
	return 0;
}

int
flue_schema_validate(const struct flue_schema *schema, json_object *instance,
                     struct flue_schema_report *report)
{
	struct vctx v = {0};
	struct plist list = {0};
	int ok, rc;

	if (report != NULL)
		memset(report, 0, sizeof(*report));
	if (schema == NULL)
		return FLUE_EINVAL;
	/* A first pass that stops at the first failure and allocates
	 * nothing; only a failure with a report wanted pays for a second
	 * pass that explains it. */
	v.s = schema;
	ok = check(&v, schema->root, instance, NULL);
	if (v.oom)
		return FLUE_ENOMEM;
	if (ok || report == NULL)
		return ok;
	v.collect = 1;
	v.out = &list;
	check(&v, schema->root, instance, NULL);
	if (!v.oom && list.count == 0)
		fail(&v, schema->root, NULL, 0, "does not match the schema");
	rc = v.oom ? FLUE_ENOMEM : fill_report(&list, report);
	plist_free(&list);
	return rc != 0 ? rc : 0;
}

char *
flue_schema_report_text(const struct flue_schema_report *report)
{
	struct sbuf b = {0};

	for (size_t i = 0; report != NULL && i < report->count; i++) {
		const struct flue_schema_problem *p = &report->problems[i];

		sb_printf(&b, "  - %s: %s\n", *p->instance_path != '\0' ?
		          p->instance_path : "(root)", p->message);
	}
	return sb_take(&b);
}

void
flue_schema_report_clear(struct flue_schema_report *report)
{
	if (report == NULL)
		return;
	for (size_t i = 0; i < report->count; i++) {
		free(report->problems[i].instance_path);
		free(report->problems[i].keyword_path);
		free(report->problems[i].message);
	}
	free(report->problems);
	memset(report, 0, sizeof(*report));
}
