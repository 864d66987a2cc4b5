/* YAML documents to json-c values that carry their source position, built
 * from libyaml's event API so that every value knows its start mark. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Angle brackets: libyaml's header.  Ours is "yaml.h", found next to
 * this file; core/lib must never be on the -I path. */
#include <yaml.h>

#include "common.h"
#include "yaml.h"
#include "utf8.h"

#define TAG_PREFIX "tag:yaml.org,2002:"
#define TAG_PREFIX_LEN (sizeof(TAG_PREFIX) - 1)

/* How much of a key, value or anchor name a message quotes. */

/* json-c keeps other things in userdata too (the text of numbers it
 * parsed), so a position is boxed behind a magic that tells it apart.
 * No byte of the magic is NUL: see box_of(). */
#define POS_MAGIC "\xf1lue-pos"

struct pos_box {
	char magic[sizeof(POS_MAGIC) - 1];
	struct flue_yaml_pos pos;
};

/* An anchored value, kept for the aliases that follow it. */
struct anchor {
	json_object *value;     /* [owned] a reference; NULL for null */
	size_t nodes;           /* values in it, itself included */
	unsigned height;        /* levels of nesting in it; 0 for a scalar */
	int complete;           /* 0 while its own events are still coming */
};

/* The state of one flue_yaml_parse call. */
struct builder {
	yaml_parser_t parser;
	const char *text;       /* [borrowed] the whole input */
	size_t len;
	size_t skipped;         /* bytes of BOM not handed to libyaml */
	const char *filename;   /* [borrowed] */
	unsigned line_offset;
	struct flue_error *err; /* [borrowed] may be NULL */
	size_t nodes;           /* values produced so far */
	struct anchor *anchors; /* [owned] in order of definition */
	size_t n_anchors, cap_anchors;
	json_object *anchor_index;  /* [owned] name -> index in anchors */
};

static int build_node(struct builder *b, yaml_event_t *ev, unsigned depth,
                      const yaml_mark_t *key, json_object **out,
                      unsigned *height);

/* ---- positions -------------------------------------------------------- */

static void
pos_free(json_object *value, void *userdata)
{
	free(userdata);
}

static struct pos_box *
box_of(json_object *value)
{
	const unsigned char *p;

	if (value == NULL)
		return NULL;
	p = json_object_get_userdata(value);
	if (p == NULL)
		return NULL;
	/* Compared byte by byte, stopping at the first difference: foreign
	 * userdata is a NUL-terminated string, and its NUL differs from every
	 * byte of the magic, so nothing past it is read. */
	for (size_t i = 0; i < sizeof(POS_MAGIC) - 1; i++)
		if (p[i] != (unsigned char)POS_MAGIC[i])
			return NULL;
	return (struct pos_box *)(void *)p;
}

const struct flue_yaml_pos *
flue_yaml_pos(json_object *value)
{
	struct pos_box *box = box_of(value);

	return box == NULL ? NULL : &box->pos;
}

int
flue_yaml_pos_set(json_object *value, const struct flue_yaml_pos *pos)
{
	struct pos_box *box;

	if (value == NULL)
		return 0;
	box = malloc(sizeof(*box));
	if (box == NULL)
		return FLUE_ENOMEM;
	memcpy(box->magic, POS_MAGIC, sizeof(box->magic));
	box->pos = *pos;
	/* set_serializer rather than set_userdata: it also drops a custom
	 * serializer that would read the old userdata (json-c's parsed
	 * doubles print their original text from there). */
	json_object_set_serializer(value, NULL, box, pos_free);
	return 0;
}

/* The shallow step of flue_yaml_copy: json-c's copy plus the position.
 * Returning 2 stops json-c from copying the userdata itself, which it
 * refuses to do for userdata it does not know. */
static int
copy_with_pos(json_object *src, json_object *parent, const char *key,
              size_t index, json_object **dst)
{
	struct pos_box *box = box_of(src);
	int rc;

	rc = json_c_shallow_copy_default(src, parent, key, index, dst);
	if (rc < 0 || box == NULL)
		return rc;
	if (flue_yaml_pos_set(*dst, &box->pos) != 0)
		return -1;
	return 2;
}

static int
copy_value(json_object *src, json_object **out)
{
	*out = NULL;
	if (src == NULL)
		return 0;
	if (json_object_deep_copy(src, out, copy_with_pos) < 0) {
		*out = NULL;
		return FLUE_ENOMEM;
	}
	return 0;
}

int
flue_yaml_copy(json_object *src, json_object **out, struct flue_error *err)
{
	if (out == NULL)
		return flue_error_set(err, FLUE_EINVAL,
		                      "flue_yaml_copy: no out");
	if (copy_value(src, out) != 0)
		return flue_error_set(err, FLUE_ENOMEM,
		                      "out of memory while copying a value");
	return 0;
}

/* Point value and everything in it at pos; the values inside get pos as
 * their key position too, since their own keys are elsewhere. */
static void
retarget(json_object *value, const struct flue_yaml_pos *pos)
{
	struct flue_yaml_pos inner = { pos->line, pos->column,
	                               pos->line, pos->column };
	struct pos_box *box = box_of(value);
	size_t n;

	if (box != NULL)
		box->pos = *pos;
	switch (json_object_get_type(value)) {
	case json_type_object: {
		struct json_object_iterator it = json_object_iter_begin(value);
		struct json_object_iterator end = json_object_iter_end(value);

		for (; !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it))
			retarget(json_object_iter_peek_value(&it), &inner);
		break;
	}
	case json_type_array:
		n = json_object_array_length(value);
		for (size_t i = 0; i < n; i++)
			retarget(json_object_array_get_idx(value, i), &inner);
		break;
	default:
		break;
	}
}

/* ---- messages --------------------------------------------------------- */

static unsigned
mark_line(const struct builder *b, const yaml_mark_t *mark)
{
	return (unsigned)mark->line + 1 + b->line_offset;
}

static unsigned
mark_column(const yaml_mark_t *mark)
{
	return (unsigned)mark->column + 1;
}

static int fail_at(struct builder *b, const yaml_mark_t *mark,
                   const char *fmt, ...) FLUE_PRINTF(3, 4);

/* Fill the error as "file:line:column: what" (FLUE_EINVAL). */
static int
fail_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	char what[FLUE_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return flue_error_set(b->err, FLUE_EINVAL, "%s:%u:%u: %s",
	                      b->filename, mark_line(b, mark),
	                      mark_column(mark), what);
}

static int
fail_memory(struct builder *b)
{
	return flue_error_set(b->err, FLUE_ENOMEM,
	                      "%s: out of memory while reading YAML",
	                      b->filename);
}

/* A tag as the user wrote it: !!int rather than tag:yaml.org,2002:int. */
static void
show_tag(const char *tag, char *buf, size_t size)
{
	if (strncmp(tag, TAG_PREFIX, TAG_PREFIX_LEN) == 0)
		snprintf(buf, size, "!!%.*s", FLUE_QUOTE_MAX, tag + TAG_PREFIX_LEN);
	else
		snprintf(buf, size, "%.*s", FLUE_QUOTE_MAX, tag);
}

static int
fail_unsupported_tag(struct builder *b, const yaml_mark_t *mark,
                     const char *tag)
{
	char shown[FLUE_QUOTE_MAX + 8];

	show_tag(tag, shown, sizeof(shown));
	return fail_at(b, mark, "unsupported tag '%s' (flue knows !!str, "
	               "!!int, !!float, !!bool, !!null, !!map and !!seq)",
	               shown);
}

/* libyaml's reader reports a byte offset, not a mark: count lines and
 * characters up to it the way libyaml's scanner does. */
static yaml_mark_t
offset_mark(const struct builder *b, size_t offset)
{
	yaml_mark_t mark;

	memset(&mark, 0, sizeof(mark));
	if (offset > b->len)
		offset = b->len;
	for (size_t i = b->skipped; i < offset; i++) {
		unsigned char c = (unsigned char)b->text[i];

		if (c == '\r' && i + 1 < b->len && b->text[i + 1] == '\n')
			continue;
		if (c == '\n' || c == '\r') {
			mark.line++;
			mark.column = 0;
		} else if ((c & 0xC0) != 0x80) {
			mark.column++;
		}
	}
	mark.index = offset;
	return mark;
}

static int
fail_from_parser(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	const char *problem = p->problem ? p->problem : "invalid YAML";
	yaml_mark_t mark;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return fail_memory(b);
	case YAML_READER_ERROR:
		mark = offset_mark(b, p->problem_offset + b->skipped);
		if (p->problem_value == -1)
			return fail_at(b, &mark, "%s", problem);
		return fail_at(b, &mark, "%s (0x%X)", problem,
		               (unsigned)p->problem_value);
	default:
		break;
	}
	if (p->context == NULL)
		return fail_at(b, &p->problem_mark, "%s", problem);
	if (p->context_mark.line == p->problem_mark.line &&
	    p->context_mark.column == p->problem_mark.column)
		return fail_at(b, &p->problem_mark, "%s %s", problem,
		               p->context);
	return fail_at(b, &p->problem_mark, "%s %s (started at line %u, "
	               "column %u)", problem, p->context,
	               mark_line(b, &p->context_mark),
	               mark_column(&p->context_mark));
}

/* ---- events, counting, anchors ---------------------------------------- */

/* The next event; on failure the error is filled from libyaml and ev is
 * left empty (deleting it is harmless). */
static int
next_event(struct builder *b, yaml_event_t *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!yaml_parser_parse(&b->parser, ev))
		return fail_from_parser(b);
	return 0;
}

/* Account for n more values; the limit is what stops an alias bomb
 * (each alias copies its anchor, so nine aliases of nine aliases... grow
 * geometrically) before the copies are made. */
static int
count_nodes(struct builder *b, const yaml_mark_t *mark, size_t n)
{
	if (n > FLUE_YAML_MAX_NODES - b->nodes)
		return fail_at(b, mark, "more than %d values in one document "
		               "(each use of an alias counts all it copies)",
		               FLUE_YAML_MAX_NODES);
	b->nodes += n;
	return 0;
}

static int
attach(struct builder *b, json_object *value, const yaml_mark_t *mark,
       const yaml_mark_t *key)
{
	struct flue_yaml_pos pos;

	if (key == NULL)
		key = mark;
	pos.line = mark_line(b, mark);
	pos.column = mark_column(mark);
	pos.key_line = mark_line(b, key);
	pos.key_column = mark_column(key);
	if (flue_yaml_pos_set(value, &pos) != 0)
		return fail_memory(b);
	return 0;
}

/* Declare an anchor whose value is still to come; a later one of the
 * same name shadows it, as in YAML. */
static int
anchor_open(struct builder *b, const yaml_char_t *name, size_t *out_index)
{
	json_object *index;

	if (b->n_anchors == b->cap_anchors) {
		size_t cap = b->cap_anchors ? 2 * b->cap_anchors : 8;
		struct anchor *grown;

		grown = realloc(b->anchors, cap * sizeof(*grown));
		if (grown == NULL)
			return fail_memory(b);
		b->anchors = grown;
		b->cap_anchors = cap;
	}
	index = json_object_new_int64((int64_t)b->n_anchors);
	if (index == NULL)
		return fail_memory(b);
	if (json_object_object_add(b->anchor_index, (const char *)name,
	                           index) < 0) {
		json_object_put(index);
		return fail_memory(b);
	}
	b->anchors[b->n_anchors] = (struct anchor){ NULL, 0, 0, 0 };
	*out_index = b->n_anchors++;
	return 0;
}

static void
anchor_close(struct builder *b, size_t index, json_object *value,
             size_t nodes, unsigned height)
{
	struct anchor *a = &b->anchors[index];

	a->value = json_object_get(value);
	a->nodes = nodes;
	a->height = height;
	a->complete = 1;
}

static struct anchor *
anchor_find(struct builder *b, const char *name)
{
	json_object *index;

	if (!json_object_object_get_ex(b->anchor_index, name, &index))
		return NULL;
	return &b->anchors[json_object_get_int64(index)];
}

/* ---- scalars ---------------------------------------------------------- */

static int
text_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(s, word, len) == 0;
}

static int
is_null(const char *s, size_t len)
{
	return len == 0 || text_is(s, len, "~") || text_is(s, len, "null") ||
	       text_is(s, len, "Null") || text_is(s, len, "NULL");
}

/* 1 true, 0 false, -1 not a boolean of the core schema. */
static int
bool_value(const char *s, size_t len)
{
	if (text_is(s, len, "true") || text_is(s, len, "True") ||
	    text_is(s, len, "TRUE"))
		return 1;
	if (text_is(s, len, "false") || text_is(s, len, "False") ||
	    text_is(s, len, "FALSE"))
		return 0;
	return -1;
}

static unsigned
digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (unsigned)(c - 'A' + 10);
	return 99;
}

/* The core schema's integers: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+.
 * 1 and *out set, 0 not an integer, -1 an integer outside int64. */
static int
parse_int(const char *s, size_t len, int64_t *out)
{
	uint64_t limit = INT64_MAX, v = 0;
	unsigned base = 10;
	int negative = 0;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		i = 2;
	} else if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		negative = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return 0;
	/* The syntax first: a number too big is still a number, and must
	 * not fall through to being a string. */
	for (size_t j = i; j < len; j++)
		if (digit_value(s[j]) >= base)
			return 0;
	if (negative)
		limit = (uint64_t)INT64_MAX + 1;
	for (; i < len; i++) {
		unsigned d = digit_value(s[i]);

		if (v > (limit - d) / base)
			return -1;
		v = v * base + d;
	}
	if (!negative)
		*out = (int64_t)v;
	else if (v == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)v;
	return 1;
}

static size_t
skip_digits(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int
is_float_syntax(const char *s, size_t len)
{
	size_t i = 0, start;
	int digits;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	start = i;
	i = skip_digits(s, len, i);
	digits = i > start;
	if (i < len && s[i] == '.') {
		start = ++i;
		i = skip_digits(s, len, i);
		digits = digits || i > start;
	}
	if (!digits)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		start = i;
		i = skip_digits(s, len, i);
		if (i == start)
			return 0;
	}
	return i == len;
}

/* Special floats: 1 with *out set, 0 if s is none of them. */
static int
special_float(const char *s, size_t len, double *out)
{
	const char *inf = s;
	size_t inf_len = len;
	double sign = 1.0;

	if (text_is(s, len, ".nan") || text_is(s, len, ".NaN") ||
	    text_is(s, len, ".NAN")) {
		*out = NAN;
		return 1;
	}
	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		sign = s[0] == '-' ? -1.0 : 1.0;
		inf++;
		inf_len--;
	}
	if (text_is(inf, inf_len, ".inf") || text_is(inf, inf_len, ".Inf") ||
	    text_is(inf, inf_len, ".INF")) {
		*out = sign * INFINITY;
		return 1;
	}
	return 0;
}

/* A float of the core schema: 1 with *out set, 0 not a float, -1 too
 * large for a double.  s is NUL-terminated (libyaml's values are). */
static int
parse_float(const char *s, size_t len, double *out)
{
	locale_t c_locale;
	char *end;
	double d;

	if (special_float(s, len, out))
		return 1;
	if (!is_float_syntax(s, len))
		return 0;
	/* strtod follows LC_NUMERIC, which an embedding program may have
	 * set to a locale with a decimal comma. */
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (c_locale == (locale_t)0)
		return -2;
	errno = 0;
	d = strtod_l(s, &end, c_locale);
	freelocale(c_locale);
	if (errno == ERANGE && isinf(d))
		return -1;
	*out = d;
	return 1;
}

static int
make_string(struct builder *b, const yaml_mark_t *mark, const char *s,
            size_t len, json_object **out)
{
	if (len > INT_MAX)
		return fail_at(b, mark, "a value longer than %d bytes",
		               INT_MAX);
	*out = json_object_new_string_len(s, (int)len);
	return *out == NULL ? fail_memory(b) : 0;
}

static int
make_int(struct builder *b, const yaml_mark_t *mark, const char *s,
         size_t len, json_object **out)
{
	int64_t v = 0;
	int rc = parse_int(s, len, &v);

	if (rc < 0)
		return fail_at(b, mark, "integer %.*s%s is out of range "
		               "(64 bits: %lld to %lld)", flue_quote_len(s, len), s,
		               flue_quote_more(len), (long long)INT64_MIN,
		               (long long)INT64_MAX);
	if (rc == 0)
		return 1;
	*out = json_object_new_int64(v);
	return *out == NULL ? fail_memory(b) : 0;
}

static int
make_float(struct builder *b, const yaml_mark_t *mark, const char *s,
           size_t len, json_object **out)
{
	double d = 0;
	int rc = parse_float(s, len, &d);

	if (rc == -2)
		return fail_memory(b);
	if (rc < 0)
		return fail_at(b, mark, "number %.*s%s is out of range for a "
		               "double", flue_quote_len(s, len), s, flue_quote_more(len));
	if (rc == 0)
		return 1;
	*out = json_object_new_double(d);
	return *out == NULL ? fail_memory(b) : 0;
}

/* Plain scalars resolve as in YAML 1.2's core schema.  make_int and
 * make_float return 1 for "not mine", which falls through to a string. */
static int
resolve_plain(struct builder *b, const yaml_mark_t *mark, const char *s,
              size_t len, json_object **out)
{
	int rc, truth;

	if (is_null(s, len))
		return 0;
	truth = bool_value(s, len);
	if (truth >= 0) {
		*out = json_object_new_boolean(truth);
		return *out == NULL ? fail_memory(b) : 0;
	}
	rc = make_int(b, mark, s, len, out);
	if (rc <= 0)
		return rc;
	rc = make_float(b, mark, s, len, out);
	if (rc <= 0)
		return rc;
	return make_string(b, mark, s, len, out);
}

static int
fail_mismatch(struct builder *b, const yaml_mark_t *mark, const char *s,
              size_t len, const char *tag)
{
	return fail_at(b, mark, "'%.*s%s' is not a valid !!%s",
	               flue_quote_len(s, len), s, flue_quote_more(len), tag);
}

/* An explicitly tagged scalar: its text must fit the tag, whatever its
 * style. */
static int
resolve_tagged(struct builder *b, const yaml_mark_t *mark, const char *s,
               size_t len, const char *tag, json_object **out)
{
	const char *name = tag + TAG_PREFIX_LEN;
	int rc, truth;

	if (strncmp(tag, TAG_PREFIX, TAG_PREFIX_LEN) != 0)
		return fail_unsupported_tag(b, mark, tag);
	if (strcmp(name, "str") == 0)
		return make_string(b, mark, s, len, out);
	if (strcmp(name, "null") == 0) {
		if (!is_null(s, len))
			return fail_mismatch(b, mark, s, len, name);
		return 0;
	}
	if (strcmp(name, "bool") == 0) {
		truth = bool_value(s, len);
		if (truth < 0)
			return fail_mismatch(b, mark, s, len, name);
		*out = json_object_new_boolean(truth);
		return *out == NULL ? fail_memory(b) : 0;
	}
	if (strcmp(name, "int") == 0 || strcmp(name, "float") == 0) {
		rc = name[0] == 'i' ? make_int(b, mark, s, len, out)
		                    : make_float(b, mark, s, len, out);
		if (rc == 1)
			return fail_mismatch(b, mark, s, len, name);
		return rc;
	}
	if (strcmp(name, "map") == 0 || strcmp(name, "seq") == 0)
		return fail_at(b, mark, "tag !!%s does not fit a scalar", name);
	return fail_unsupported_tag(b, mark, tag);
}

static int
resolve_scalar(struct builder *b, const yaml_event_t *ev, json_object **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;

	*out = NULL;
	if (tag != NULL)
		return resolve_tagged(b, &ev->start_mark, s, len, tag, out);
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return resolve_plain(b, &ev->start_mark, s, len, out);
	return make_string(b, &ev->start_mark, s, len, out);
}

static int
build_scalar(struct builder *b, const yaml_event_t *ev,
             const yaml_mark_t *key, json_object **out)
{
	json_object *value = NULL;
	size_t index;
	int rc;

	rc = count_nodes(b, &ev->start_mark, 1);
	if (rc == 0)
		rc = resolve_scalar(b, ev, &value);
	if (rc == 0)
		rc = attach(b, value, &ev->start_mark, key);
	if (rc == 0 && ev->data.scalar.anchor != NULL) {
		rc = anchor_open(b, ev->data.scalar.anchor, &index);
		if (rc == 0)
			anchor_close(b, index, value, 1, 0);
	}
	if (rc != 0) {
		json_object_put(value);
		return rc;
	}
	*out = value;
	return 0;
}

/* ---- aliases ---------------------------------------------------------- */

static int
build_alias(struct builder *b, const yaml_event_t *ev, unsigned depth,
            const yaml_mark_t *key, json_object **out, unsigned *height)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const yaml_mark_t *mark = &ev->start_mark;
	size_t name_len = strlen(name);
	struct flue_yaml_pos pos;
	struct anchor *a;
	json_object *copy;
	int rc;

	a = anchor_find(b, name);
	if (a == NULL)
		return fail_at(b, mark, "alias *%.*s%s has no anchor &%.*s%s "
		               "before it", flue_quote_len(name, name_len), name,
		               flue_quote_more(name_len), flue_quote_len(name, name_len),
		               name, flue_quote_more(name_len));
	if (!a->complete)
		return fail_at(b, mark, "alias *%.*s%s is inside the value it "
		               "refers to", flue_quote_len(name, name_len), name,
		               flue_quote_more(name_len));
	if (depth - 1 + a->height > FLUE_YAML_MAX_DEPTH)
		return fail_at(b, mark, "alias *%.*s%s nests values deeper "
		               "than %d levels", flue_quote_len(name, name_len),
		               name, flue_quote_more(name_len), FLUE_YAML_MAX_DEPTH);
	rc = count_nodes(b, mark, a->nodes);
	if (rc != 0)
		return rc;
	if (copy_value(a->value, &copy) != 0)
		return fail_memory(b);
	pos.line = mark_line(b, mark);
	pos.column = mark_column(mark);
	pos.key_line = key ? mark_line(b, key) : pos.line;
	pos.key_column = key ? mark_column(key) : pos.column;
	retarget(copy, &pos);
	*out = copy;
	*height = a->height;
	return 0;
}

/* ---- collections ------------------------------------------------------ */

/* A mapping or sequence may be tagged only with its own kind. */
static int
check_collection(struct builder *b, const yaml_mark_t *mark, unsigned depth,
                 const yaml_char_t *tag, const char *own, const char *kind)
{
	const char *t = (const char *)tag;
	static const char *const known[] = {
		"str", "int", "float", "bool", "null", "map", "seq"
	};

	if (depth > FLUE_YAML_MAX_DEPTH)
		return fail_at(b, mark, "values nest deeper than %d levels",
		               FLUE_YAML_MAX_DEPTH);
	if (t == NULL || strcmp(t, own) == 0)
		return 0;
	if (strncmp(t, TAG_PREFIX, TAG_PREFIX_LEN) == 0)
		for (size_t i = 0; i < FLUE_ARRAY_LEN(known); i++)
			if (strcmp(t + TAG_PREFIX_LEN, known[i]) == 0)
				return fail_at(b, mark, "tag !!%s does not "
				               "fit %s", known[i], kind);
	return fail_unsupported_tag(b, mark, t);
}

static int
build_sequence(struct builder *b, const yaml_event_t *start, unsigned depth,
               const yaml_mark_t *key, json_object **out, unsigned *height)
{
	const yaml_mark_t *mark = &start->start_mark;
	size_t before = b->nodes, index = 0;
	json_object *seq = NULL, *item;
	unsigned inner = 0, h;
	yaml_event_t ev;
	int rc;

	rc = check_collection(b, mark, depth, start->data.sequence_start.tag,
	                      TAG_PREFIX "seq", "a sequence");
	if (rc == 0)
		rc = count_nodes(b, mark, 1);
	if (rc != 0)
		return rc;
	seq = json_object_new_array();
	if (seq == NULL)
		return fail_memory(b);
	rc = attach(b, seq, mark, key);
	if (rc == 0 && start->data.sequence_start.anchor != NULL)
		rc = anchor_open(b, start->data.sequence_start.anchor, &index);
	while (rc == 0) {
		rc = next_event(b, &ev);
		if (rc != 0)
			break;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		item = NULL;
		rc = build_node(b, &ev, depth + 1, NULL, &item, &h);
		if (rc != 0)
			break;
		if (json_object_array_add(seq, item) < 0) {
			json_object_put(item);
			rc = fail_memory(b);
		}
		if (h > inner)
			inner = h;
	}
	if (rc != 0) {
		json_object_put(seq);
		return rc;
	}
	if (start->data.sequence_start.anchor != NULL)
		anchor_close(b, index, seq, b->nodes - before, inner + 1);
	*out = seq;
	*height = inner + 1;
	return 0;
}

/* The lines of a mapping's keys, in order, for "first at line N": a null
 * value has no object to carry its key's position. */
struct key_lines {
	unsigned *line;         /* [owned] */
	size_t n, cap;
};

static int
key_lines_add(struct builder *b, struct key_lines *keys, unsigned line)
{
	if (keys->n == keys->cap) {
		size_t cap = keys->cap ? 2 * keys->cap : 8;
		unsigned *grown = realloc(keys->line, cap * sizeof(*grown));

		if (grown == NULL)
			return fail_memory(b);
		keys->line = grown;
		keys->cap = cap;
	}
	keys->line[keys->n++] = line;
	return 0;
}

/* The line of key in map, counting keys in insertion order (json-c
 * iterates them in that order). */
static unsigned
key_first_line(json_object *map, const char *key,
               const struct key_lines *keys)
{
	struct json_object_iterator it = json_object_iter_begin(map);
	struct json_object_iterator end = json_object_iter_end(map);
	size_t i = 0;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		if (strcmp(json_object_iter_peek_name(&it), key) == 0)
			return i < keys->n ? keys->line[i] : 0;
		i++;
	}
	return 0;
}

static const char *
event_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SEQUENCE_START_EVENT: return "a sequence";
	case YAML_MAPPING_START_EVENT: return "a mapping";
	case YAML_ALIAS_EVENT: return "an alias";
	default: return "a non-scalar";
	}
}

/* A key must be text: a scalar, untagged or !!str, without NUL, not the
 * merge key and not already in map. */
static int
check_key(struct builder *b, const yaml_event_t *kev, json_object *map,
          const struct key_lines *keys)
{
	const yaml_mark_t *mark = &kev->start_mark;
	const char *key, *tag;
	size_t len;

	if (kev->type != YAML_SCALAR_EVENT)
		return fail_at(b, mark, "a mapping key must be a scalar, not "
		               "%s", event_kind(kev));
	key = (const char *)kev->data.scalar.value;
	len = kev->data.scalar.length;
	tag = (const char *)kev->data.scalar.tag;
	if (tag != NULL && strcmp(tag, TAG_PREFIX "str") != 0) {
		char shown[FLUE_QUOTE_MAX + 8];

		show_tag(tag, shown, sizeof(shown));
		return fail_at(b, mark, "a mapping key cannot be tagged %s "
		               "(keys are strings)", shown);
	}
	if (strlen(key) != len)
		return fail_at(b, mark, "a mapping key must not contain a NUL "
		               "character");
	if (tag == NULL && kev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    strcmp(key, "<<") == 0)
		return fail_at(b, mark, "merge keys are not supported (<<); "
		               "write the keys out");
	if (json_object_object_get_ex(map, key, NULL))
		return fail_at(b, mark, "duplicate key '%.*s%s' (first at line "
		               "%u)", flue_quote_len(key, len), key, flue_quote_more(len),
		               key_first_line(map, key, keys));
	return 0;
}

/* One key: value pair of map; kev (the key's event) stays the caller's. */
static int
build_pair(struct builder *b, const yaml_event_t *kev, json_object *map,
           struct key_lines *keys, unsigned depth, unsigned *height)
{
	const char *key;
	json_object *value = NULL, *anchored = NULL;
	yaml_event_t vev;
	int rc;

	rc = check_key(b, kev, map, keys);
	if (rc != 0)
		return rc;
	key = (const char *)kev->data.scalar.value;
	/* An anchored key can be aliased later as a value. */
	if (kev->data.scalar.anchor != NULL) {
		rc = build_scalar(b, kev, NULL, &anchored);
		json_object_put(anchored);
		if (rc != 0)
			return rc;
	}
	rc = next_event(b, &vev);
	if (rc != 0)
		return rc;
	rc = build_node(b, &vev, depth + 1, &kev->start_mark, &value, height);
	if (rc != 0)
		return rc;
	if (json_object_object_add(map, key, value) < 0) {
		json_object_put(value);
		return fail_memory(b);
	}
	return key_lines_add(b, keys, mark_line(b, &kev->start_mark));
}

static int
build_mapping(struct builder *b, const yaml_event_t *start, unsigned depth,
              const yaml_mark_t *key, json_object **out, unsigned *height)
{
	const yaml_mark_t *mark = &start->start_mark;
	struct key_lines keys = { NULL, 0, 0 };
	size_t before = b->nodes, index = 0;
	unsigned inner = 0, h;
	json_object *map;
	yaml_event_t kev;
	int rc;

	rc = check_collection(b, mark, depth, start->data.mapping_start.tag,
	                      TAG_PREFIX "map", "a mapping");
	if (rc == 0)
		rc = count_nodes(b, mark, 1);
	if (rc != 0)
		return rc;
	map = json_object_new_object();
	if (map == NULL)
		return fail_memory(b);
	rc = attach(b, map, mark, key);
	if (rc == 0 && start->data.mapping_start.anchor != NULL)
		rc = anchor_open(b, start->data.mapping_start.anchor, &index);
	while (rc == 0) {
		rc = next_event(b, &kev);
		if (rc != 0)
			break;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		h = 0;
		rc = build_pair(b, &kev, map, &keys, depth, &h);
		yaml_event_delete(&kev);
		if (h > inner)
			inner = h;
	}
	free(keys.line);
	if (rc != 0) {
		json_object_put(map);
		return rc;
	}
	if (start->data.mapping_start.anchor != NULL)
		anchor_close(b, index, map, b->nodes - before, inner + 1);
	*out = map;
	*height = inner + 1;
	return 0;
}

/* Build the value that starts with ev, at nesting level depth (the top
 * collection is level 1); key is its key's mark inside a mapping, else
 * NULL.  ev is taken: deleted here on every path.  *height is the number
 * of collection levels in the value. */
static int
build_node(struct builder *b, yaml_event_t *ev, unsigned depth,
           const yaml_mark_t *key, json_object **out, unsigned *height)
{
	int rc;

	*out = NULL;
	*height = 0;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		rc = build_scalar(b, ev, key, out);
		break;
	case YAML_ALIAS_EVENT:
		rc = build_alias(b, ev, depth, key, out, height);
		break;
	case YAML_SEQUENCE_START_EVENT:
		rc = build_sequence(b, ev, depth, key, out, height);
		break;
	case YAML_MAPPING_START_EVENT:
		rc = build_mapping(b, ev, depth, key, out, height);
		break;
	default:
		rc = fail_at(b, &ev->start_mark, "unexpected YAML event %d",
		             (int)ev->type);
		break;
	}
	yaml_event_delete(ev);
	return rc;
}

/* ---- the document ----------------------------------------------------- */

/* Read the next event and require it to be of type want. */
static int
expect_event(struct builder *b, yaml_event_type_t want, yaml_event_t *ev)
{
	int rc = next_event(b, ev);

	if (rc == 0 && ev->type != want) {
		rc = fail_at(b, &ev->start_mark, "unexpected YAML event %d "
		             "(expected %d)", (int)ev->type, (int)want);
		yaml_event_delete(ev);
	}
	return rc;
}

static int
build_stream(struct builder *b, json_object **out)
{
	json_object *root = NULL;
	yaml_event_t ev;
	unsigned height;
	int rc;

	rc = expect_event(b, YAML_STREAM_START_EVENT, &ev);
	if (rc != 0)
		return rc;
	yaml_event_delete(&ev);
	rc = next_event(b, &ev);
	if (rc != 0)
		return rc;
	if (ev.type == YAML_STREAM_END_EVENT) {
		/* Nothing but comments and blank lines. */
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev);
	rc = next_event(b, &ev);
	if (rc != 0)
		return rc;
	rc = build_node(b, &ev, 1, NULL, &root, &height);
	if (rc != 0)
		return rc;
	rc = expect_event(b, YAML_DOCUMENT_END_EVENT, &ev);
	if (rc != 0)
		goto fail;
	yaml_event_delete(&ev);
	rc = next_event(b, &ev);
	if (rc != 0)
		goto fail;
	if (ev.type == YAML_DOCUMENT_START_EVENT) {
		rc = fail_at(b, &ev.start_mark, "a second YAML document starts "
		             "here; a file holds one document");
		yaml_event_delete(&ev);
		goto fail;
	}
	yaml_event_delete(&ev);
	*out = root;
	return 0;
fail:
	json_object_put(root);
	return rc;
}

int
flue_yaml_parse(const char *text, size_t len, const char *filename,
                unsigned line_offset, json_object **out,
                struct flue_error *err)
{
	struct builder b;
	int rc;

	if (out == NULL || (text == NULL && len > 0))
		return flue_error_set(err, FLUE_EINVAL,
		                      "flue_yaml_parse: no text or no out");
	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.text = text ? text : "";
	b.len = len;
	b.filename = filename ? filename : "<yaml>";
	b.line_offset = line_offset;
	b.err = err;
	/* libyaml would count a BOM as a column when told the encoding; we
	 * tell it (UTF-8 only, no guessing UTF-16) and drop the BOM. */
	if (len >= 3 && memcmp(b.text, "\xef\xbb\xbf", 3) == 0)
		b.skipped = 3;
	b.anchor_index = json_object_new_object();
	if (b.anchor_index == NULL)
		return fail_memory(&b);
	if (!yaml_parser_initialize(&b.parser)) {
		json_object_put(b.anchor_index);
		return fail_memory(&b);
	}
	yaml_parser_set_input_string(&b.parser,
	                             (const unsigned char *)b.text + b.skipped,
	                             len - b.skipped);
	yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);

	rc = build_stream(&b, out);

	yaml_parser_delete(&b.parser);
	for (size_t i = 0; i < b.n_anchors; i++)
		json_object_put(b.anchors[i].value);
	free(b.anchors);
	json_object_put(b.anchor_index);
	return rc;
}
