/* One CommonMark document from many Markdown fragments.  Each fragment is
 * parsed by cmark; headings are shifted and values substituted on that
 * tree, so no value can change the structure.  The output is spliced
 * from the sources (cmark's own renderer escapes and re-indents far more
 * than needed) and parsed again to prove it is the same tree; when it is
 * not, cmark renders the tree instead. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include "common.h"
#include "markdown.h"
#include "utf8.h"

#define BOM "\xef\xbb\xbf"
#define BOM_LEN 3
#define REPLACEMENT "\xef\xbf\xbd"      /* U+FFFD */
#define REPLACEMENT_LEN 3

#define PARSE_OPTIONS (CMARK_OPT_SOURCEPOS | CMARK_OPT_VALIDATE_UTF8)

/* Clean-up passes over a parsed tree (see tidy_pass).  Each removes what
 * the last one left empty; real input settles in one or two. */
#define TIDY_PASSES 8

/* Characters that mean something in inline Markdown wherever they are. */
#define INLINE_SPECIALS "\\`*_[]<>#!|~&"

/* A growing NUL-terminated byte string.  A failed allocation sticks in
 * failed, so that a run of appends is checked once at its end. */
struct buf {
	char *data;             /* [owned] NULL until the first append */
	size_t len, cap;
	int failed;
};

struct flue_md_doc {
	cmark_node *root;       /* [owned] every fragment's blocks, shifted
	                         * and substituted: the expected tree */
	struct buf source;      /* the spliced text of those fragments */
	int used_fallback;
};

/* The nodes of one tree collected before they are changed: replacing a
 * node inserts and removes siblings, which cmark's iterator must not
 * see. */
struct node_list {
	cmark_node **v;         /* [owned] array; the nodes are borrowed */
	size_t n, cap;
	int failed;
};

/* One fragment while it is appended. */
struct fragment {
	const struct flue_md_fragment *in;      /* [borrowed] */
	const char *name;       /* [borrowed] for messages */
	unsigned first_line;
	struct buf src;         /* normalised text that cmark parsed */
	size_t *lines;          /* [owned] offset where each line starts */
	size_t n_lines;
	cmark_node *tree;       /* [owned] until moved into the doc */
	int changed;            /* a substitution changed the tree */
	struct flue_error *err; /* [borrowed] may be NULL */
};

/* ---- byte strings ------------------------------------------------------ */

static void
buf_add(struct buf *b, const char *s, size_t n)
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
		cap = b->cap ? b->cap : 64;
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

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Hand b's bytes over as a NUL-terminated string ("" when empty). */
static char *
buf_take(struct buf *b, size_t *len)
{
	char *s;

	buf_add(b, "", 0);
	if (b->failed || b->data == NULL) {
		buf_free(b);
		return NULL;
	}
	s = b->data;
	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return s;
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Append text[0, len) with every ill-formed byte replaced by U+FFFD,
 * CRLF and CR turned into LF, and U+FEFF dropped: a byte-order mark that
 * ended up first in the output would be eaten by whoever reads it.  The
 * noncharacters U+FFFE and U+FFFF become U+FFFD too: cmark's renderer
 * writes them as the single bytes 0xFE and 0xFF. */
static void
add_clean(struct buf *b, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, run, n;

	while (i < len) {
		/* Plain ASCII goes over in runs: sources are mostly that. */
		for (run = i; run < len && s[run] < 0x80 && s[run] != 0 &&
		     s[run] != '\r'; run++)
			;
		buf_add(b, text + i, run - i);
		i = run;
		if (i >= len)
			break;
		if (s[i] == '\r') {
			buf_addc(b, '\n');
			i += i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
			continue;
		}
		n = flue_utf8_seq_len(s + i, len - i);
		if (n == 0) {
			buf_add(b, REPLACEMENT, REPLACEMENT_LEN);
			i++;
		} else if (n == 3 && memcmp(text + i, BOM, BOM_LEN) == 0) {
			i += n;
		} else if (n == 3 && s[i] == 0xef && s[i + 1] == 0xbf &&
		           s[i + 2] >= 0xbe) {
			buf_add(b, REPLACEMENT, REPLACEMENT_LEN);
			i += n;
		} else {
			buf_add(b, text + i, n);
			i += n;
		}
	}
}

/* ---- node lists -------------------------------------------------------- */

static void
list_push(struct node_list *l, cmark_node *node)
{
	cmark_node **v;
	size_t cap;

	if (l->failed)
		return;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 32;
		v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL) {
			l->failed = 1;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = node;
}

static int
is_type(cmark_node *node, cmark_node_type type)
{
	return node != NULL && cmark_node_get_type(node) == type;
}

static int
is_break(cmark_node *node)
{
	return is_type(node, CMARK_NODE_SOFTBREAK) ||
	       is_type(node, CMARK_NODE_LINEBREAK);
}

static int
in_heading(cmark_node *node)
{
	for (; node != NULL; node = cmark_node_parent(node))
		if (is_type(node, CMARK_NODE_HEADING))
			return 1;
	return 0;
}

static void
remove_node(cmark_node *node)
{
	cmark_node_unlink(node);
	cmark_node_free(node);
}

static void
cmark_string_free(char *s)
{
	cmark_get_default_mem_allocator()->free(s);
}

/* ---- source lines ------------------------------------------------------ */

static int
index_lines(struct fragment *f)
{
	const char *s = f->src.data;
	size_t n = 1, k = 0;

	for (size_t i = 0; i < f->src.len; i++)
		if (s[i] == '\n')
			n++;
	f->lines = malloc(n * sizeof(*f->lines));
	if (f->lines == NULL)
		return FLUE_ENOMEM;
	f->lines[k++] = 0;
	for (size_t i = 0; i < f->src.len; i++)
		if (s[i] == '\n')
			f->lines[k++] = i + 1;
	f->n_lines = n;
	return 0;
}

/* Line i (0-based) without its '\n'. */
static const char *
line_at(const struct fragment *f, size_t i, size_t *len)
{
	size_t start = f->lines[i];
	size_t end = i + 1 < f->n_lines ? f->lines[i + 1] - 1 : f->src.len;

	*len = end - start;
	return f->src.data + start;
}

static int
is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

static size_t
first_line_of(const struct fragment *f, cmark_node *node)
{
	int line = cmark_node_get_start_line(node);

	if (line < 1)
		line = 1;
	return (size_t)line - 1 < f->n_lines ? (size_t)line - 1 :
	       f->n_lines - 1;
}

/* ---- substitution ------------------------------------------------------ */

/* Where node's text starts in the file: its own position, else that of
 * the nearest ancestor that has one. */
static void
position_of(const struct fragment *f, cmark_node *node, int line_delta,
            unsigned *line, unsigned *column)
{
	cmark_node *at = node;

	while (at != NULL && cmark_node_get_start_line(at) <= 0)
		at = cmark_node_parent(at);
	if (at == NULL) {
		*line = f->first_line;
		*column = 1;
		return;
	}
	*line = f->first_line + (unsigned)cmark_node_get_start_line(at) - 1 +
	        (unsigned)line_delta;
	*column = cmark_node_get_start_column(at) > 0 ?
	          (unsigned)cmark_node_get_start_column(at) : 1;
}

/* Ask the caller for the replacement of text.  *out stays NULL when there
 * is none or it equals text. */
static int
ask(struct fragment *f, cmark_node *node, int line_delta, const char *text,
    char **out)
{
	struct flue_error local = {0};
	unsigned line, column;
	int rc;

	*out = NULL;
	position_of(f, node, line_delta, &line, &column);
	rc = f->in->subst(f->in->subst_payload, text, strlen(text), line,
	                  column, out, &local);
	if (rc != 0) {
		free(*out);
		*out = NULL;
		if (rc > 0)
			rc = FLUE_ERROR;
		if (local.message[0] == '\0')
			return flue_error_set(f->err, rc, "%s:%u:%u: "
			                      "substitution failed (%s)",
			                      f->name, line, column,
			                      flue_status_name(rc));
		return flue_error_set(f->err, rc, "%s", local.message);
	}
	if (*out != NULL && strcmp(*out, text) == 0) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* A text value: each newline becomes a soft break between text nodes,
 * so that the value stays inside its paragraph; in a heading, where a
 * break cannot be, a space.  Blanks around the breaks go in tidy(). */
static int
put_text(cmark_node *node, const char *value)
{
	struct buf clean = {0};
	cmark_node *at = node, *n;
	char *s, *nl;
	int heading = in_heading(node);

	add_clean(&clean, value, strlen(value));
	buf_add(&clean, "", 0);
	if (clean.failed) {
		buf_free(&clean);
		return FLUE_ENOMEM;
	}
	s = clean.data;
	if (heading) {
		for (char *p = s; *p; p++)
			if (*p == '\n')
				*p = ' ';
	}
	nl = heading ? NULL : strchr(s, '\n');
	if (nl != NULL)
		*nl = '\0';
	cmark_node_set_literal(node, s);
	while (nl != NULL) {
		s = nl + 1;
		nl = strchr(s, '\n');
		if (nl != NULL)
			*nl = '\0';
		n = cmark_node_new(CMARK_NODE_SOFTBREAK);
		cmark_node_insert_after(at, n);
		at = n;
		n = cmark_node_new(CMARK_NODE_TEXT);
		cmark_node_set_literal(n, s);
		cmark_node_insert_after(at, n);
		at = n;
	}
	buf_free(&clean);
	return 0;
}

/* A code span's value: line endings read as spaces in a code span, and a
 * newline written out could start a block on the next line. */
static int
put_code(cmark_node *node, const char *value)
{
	struct buf clean = {0};

	add_clean(&clean, value, strlen(value));
	buf_add(&clean, "", 0);
	if (clean.failed) {
		buf_free(&clean);
		return FLUE_ENOMEM;
	}
	for (char *p = clean.data; *p; p++)
		if (*p == '\n')
			*p = ' ';
	cmark_node_set_literal(node, clean.data);
	buf_free(&clean);
	return 0;
}

/* A code block's value ends with a newline, as a parsed one does; the
 * renderer picks a fence longer than any inside. */
static int
put_code_block(cmark_node *node, const char *value)
{
	struct buf clean = {0};

	add_clean(&clean, value, strlen(value));
	if (clean.len > 0 && clean.data[clean.len - 1] != '\n')
		buf_addc(&clean, '\n');
	buf_add(&clean, "", 0);
	if (clean.failed) {
		buf_free(&clean);
		return FLUE_ENOMEM;
	}
	cmark_node_set_literal(node, clean.data);
	buf_free(&clean);
	return 0;
}

/* An HTML value is written out as it is, so it is made inert: < > & as
 * named entities, newlines as &#10;, and as numeric entities whatever
 * Markdown would read (the specials anywhere; - + = ~ and the . or )
 * after leading digits first, where they could start a list, an
 * underline or a fence).  Blanks at either end go: they could indent a
 * block or make a hard break. */
static int
put_html(cmark_node *node, const char *value)
{
	struct buf clean = {0}, out = {0};
	const char *s;
	size_t n, digits = 0;
	char entity[16];

	while (*value == ' ' || *value == '\t' || *value == '\n' ||
	       *value == '\r')
		value++;
	add_clean(&clean, value, strlen(value));
	while (clean.len > 0 && strchr(" \t\n", clean.data[clean.len - 1]))
		clean.len--;
	buf_add(&clean, "", 0);
	buf_add(&out, "", 0);
	if (clean.failed || out.failed) {
		buf_free(&clean);
		buf_free(&out);
		return FLUE_ENOMEM;
	}
	s = clean.data;
	n = clean.len;
	while (digits < n && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '&')
			buf_adds(&out, "&amp;");
		else if (c == '<')
			buf_adds(&out, "&lt;");
		else if (c == '>')
			buf_adds(&out, "&gt;");
		else if (c < 0x20 || c == 0x7f ||
		         (c != '~' && strchr(INLINE_SPECIALS, c) != NULL) ||
		         (i == 0 && strchr("-+=~", c) != NULL) ||
		         (i == digits && i > 0 && (c == '.' || c == ')'))) {
			snprintf(entity, sizeof(entity), "&#%u;", c);
			buf_adds(&out, entity);
		} else {
			buf_addc(&out, (char)c);
		}
	}
	buf_free(&clean);
	if (out.failed) {
		buf_free(&out);
		return FLUE_ENOMEM;
	}
	cmark_node_set_literal(node, out.data);
	buf_free(&out);
	return 0;
}

/* A destination: blanks, controls and angle brackets are
 * percent-encoded, since a destination cannot hold them unbracketed. */
static int
put_url(cmark_node *node, const char *value)
{
	struct buf clean = {0}, out = {0};
	char hex[4];

	add_clean(&clean, value, strlen(value));
	buf_add(&out, "", 0);
	for (size_t i = 0; !clean.failed && i < clean.len; i++) {
		unsigned char c = (unsigned char)clean.data[i];

		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>') {
			snprintf(hex, sizeof(hex), "%%%02X", c);
			buf_adds(&out, hex);
		} else {
			buf_addc(&out, (char)c);
		}
	}
	if (clean.failed || out.failed) {
		buf_free(&clean);
		buf_free(&out);
		return FLUE_ENOMEM;
	}
	cmark_node_set_url(node, out.data);
	buf_free(&clean);
	buf_free(&out);
	return 0;
}

/* A title: a newline in it could start a block on the next line. */
static int
put_title(cmark_node *node, const char *value)
{
	struct buf clean = {0};

	add_clean(&clean, value, strlen(value));
	buf_add(&clean, "", 0);
	if (clean.failed) {
		buf_free(&clean);
		return FLUE_ENOMEM;
	}
	for (char *p = clean.data; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	cmark_node_set_title(node, clean.data);
	buf_free(&clean);
	return 0;
}

/* Whether the code block at node opens with a fence: its text then starts
 * on the line after. */
static int
is_fenced(const struct fragment *f, cmark_node *node)
{
	size_t len, i = 0;
	const char *s = line_at(f, first_line_of(f, node), &len);
	int column = cmark_node_get_start_column(node);

	/* The column skips list markers and > in front of the fence. */
	if (column > 1 && (size_t)column - 1 < len)
		i = (size_t)column - 1;
	while (i < len && s[i] == ' ')
		i++;
	return len - i >= 3 && (memcmp(s + i, "```", 3) == 0 ||
	                        memcmp(s + i, "~~~", 3) == 0);
}

/* Ask for the replacement of text, one of node's values, and put it in
 * with put.  Errors from the callback come with err filled; put fails
 * only for want of memory. */
static int
replace_value(struct fragment *f, cmark_node *node, int line_delta,
              const char *text, int (*put)(cmark_node *, const char *))
{
	char *value = NULL;
	int rc;

	rc = ask(f, node, line_delta, text, &value);
	if (rc != 0 || value == NULL)
		return rc;
	f->changed = 1;
	rc = put(node, value);
	free(value);
	if (rc != 0)
		return flue_error_set(f->err, rc, "%s: out of memory",
		                      f->name);
	return 0;
}

static int
substitute_one(struct fragment *f, cmark_node *node)
{
	int rc = 0;

	switch (cmark_node_get_type(node)) {
	case CMARK_NODE_TEXT:
		return replace_value(f, node, 0, cmark_node_get_literal(node),
		                     put_text);
	case CMARK_NODE_CODE:
		return replace_value(f, node, 0, cmark_node_get_literal(node),
		                     put_code);
	case CMARK_NODE_CODE_BLOCK:
		return replace_value(f, node, is_fenced(f, node),
		                     cmark_node_get_literal(node),
		                     put_code_block);
	case CMARK_NODE_HTML_BLOCK:
	case CMARK_NODE_HTML_INLINE:
		return replace_value(f, node, 0, cmark_node_get_literal(node),
		                     put_html);
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE:
		if (cmark_node_get_url(node)[0] != '\0')
			rc = replace_value(f, node, 0, cmark_node_get_url(node),
			                   put_url);
		if (rc == 0 && cmark_node_get_title(node)[0] != '\0')
			rc = replace_value(f, node, 0,
			                   cmark_node_get_title(node),
			                   put_title);
		return rc;
	default:
		return 0;
	}
}

/* ---- open HTML blocks ------------------------------------------------- */

/* How the HTML blocks that only their end condition closes (CommonMark
 * kinds 1 to 5) start, and what closes them.  cmark reads every start in
 * any case, <![CDATA[ included. */
static const struct {
	const char *start;      /* lower case */
	int tag;                /* start must be followed by a blank or > */
	const char *end[4];
	const char *closer;
} html_kinds[] = {
	{ "<script", 1, { "</script>", "</pre>", "</style>", "</textarea>" },
	  "</script>" },
	{ "<pre", 1, { "</script>", "</pre>", "</style>", "</textarea>" },
	  "</pre>" },
	{ "<style", 1, { "</script>", "</pre>", "</style>", "</textarea>" },
	  "</style>" },
	{ "<textarea", 1, { "</script>", "</pre>", "</style>", "</textarea>" },
	  "</textarea>" },
	{ "<!--", 0, { "-->" }, "-->" },
	{ "<?", 0, { "?>" }, "?>" },
	{ "<![cdata[", 0, { "]]>" }, "]]>" },
	{ "<!", 0, { ">" }, ">" },
};

/* Whether c ends the tag name of an HTML block start: cmark takes any
 * blank, > and the end of the line. */
static int
ends_tag_name(char c)
{
	return c == '\0' || c == '>' || c == ' ' || c == '\t' || c == '\n' ||
	       c == '\v' || c == '\f' || c == '\r';
}

/* Whether s starts with prefix, ASCII letters of s in any case. */
static int
starts_with_nocase(const char *s, const char *prefix)
{
	char c;

	for (; *prefix; s++, prefix++) {
		c = *s >= 'A' && *s <= 'Z' ? (char)(*s + 'a' - 'A') : *s;
		if (c != *prefix)
			return 0;       /* at the latest on s's NUL */
	}
	return 1;
}

static int
contains_nocase(const char *s, const char *needle)
{
	for (; *s; s++)
		if (starts_with_nocase(s, needle))
			return 1;
	return 0;
}

/* An HTML block left open at the end of its fragment, such as <script>
 * or <!-- without their end, would swallow every fragment after it when
 * written out again.  The expected tree gets the end it lacks, so that
 * the rendering from it keeps them apart; the source does not, and the
 * check after the splice sends such a document to the fallback. */
static int
close_open_html(struct fragment *f)
{
	cmark_node *last = cmark_node_last_child(f->tree);
	const char *lit;
	struct buf closed = {0};
	size_t i = 0, n;
	int found;

	if (!is_type(last, CMARK_NODE_HTML_BLOCK))
		return 0;
	lit = cmark_node_get_literal(last);
	while (i < 3 && lit[i] == ' ')
		i++;
	for (size_t k = 0; k < FLUE_ARRAY_LEN(html_kinds); k++) {
		n = strlen(html_kinds[k].start);
		if (!starts_with_nocase(lit + i, html_kinds[k].start))
			continue;
		if (html_kinds[k].tag && !ends_tag_name(lit[i + n]))
			continue;
		if (k == FLUE_ARRAY_LEN(html_kinds) - 1 &&
		    !((lit[i + n] | 0x20) >= 'a' && (lit[i + n] | 0x20) <= 'z'))
			return 0;
		found = 0;
		for (size_t e = 0; e < 4 && html_kinds[k].end[e]; e++)
			found |= contains_nocase(lit, html_kinds[k].end[e]);
		if (found)
			return 0;
		buf_adds(&closed, lit);
		if (closed.len > 0 && closed.data[closed.len - 1] != '\n')
			buf_addc(&closed, '\n');
		buf_adds(&closed, html_kinds[k].closer);
		buf_addc(&closed, '\n');
		if (closed.failed) {
			buf_free(&closed);
			return flue_error_set(f->err, FLUE_ENOMEM,
			                      "%s: out of memory", f->name);
		}
		cmark_node_set_literal(last, closed.data);
		buf_free(&closed);
		return 0;
	}
	return 0;
}

/* The tag names that start an HTML block of kind 6 (CommonMark 0.30,
 * and "search" from later versions). */
static const char *const block_tags[] = {
	"address", "article", "aside", "base", "basefont", "blockquote",
	"body", "caption", "center", "col", "colgroup", "dd", "details",
	"dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption",
	"figure", "footer", "form", "frame", "frameset", "h1", "h2", "h3",
	"h4", "h5", "h6", "head", "header", "hr", "html", "iframe", "legend",
	"li", "link", "main", "menu", "menuitem", "nav", "noframes", "ol",
	"optgroup", "option", "p", "param", "search", "section", "source",
	"summary", "table", "tbody", "td", "tfoot", "th", "thead", "title",
	"tr", "track", "ul",
};

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether inline HTML lit, written at the start of a line, would open an
 * HTML block there.  Kinds 1 to 6 can interrupt a paragraph; kind 7, a
 * lone complete tag, only starts one (first), and only when nothing
 * else is on its line (alone). */
static int
opens_html_block(const char *lit, int first, int alone)
{
	size_t n, i;

	if (lit[0] != '<')
		return 0;
	if (starts_with_nocase(lit, "<!") || starts_with_nocase(lit, "<?"))
		return 1;       /* comments, declarations, CDATA, PIs */
	for (size_t k = 0; k < 4; k++) {
		n = strlen(html_kinds[k].start);
		if (starts_with_nocase(lit, html_kinds[k].start) &&
		    ends_tag_name(lit[n]))
			return 1;
	}
	i = lit[1] == '/' ? 2 : 1;
	for (size_t k = 0; k < FLUE_ARRAY_LEN(block_tags); k++) {
		n = strlen(block_tags[k]);
		if (starts_with_nocase(lit + i, block_tags[k]) &&
		    (ends_tag_name(lit[i + n]) ||
		     (lit[i + n] == '/' && lit[i + n + 1] == '>')))
			return 1;
	}
	return first && alone && is_alpha(lit[i]);
}

/* A replaced value (and, rarely, a parse: entities, a lone backslash
 * line) can leave what cmark's renderer would write as something else:
 * blanks next to a line break or at the edge of a paragraph, heading or
 * emphasis (four of them indent a code block, "*" and a blank make a
 * list item), an empty emphasis ("****" is a thematic break), a line
 * break at either end, inline HTML that now starts a line and would open
 * an HTML block there (it becomes text), an empty list item (three of
 * them nested make a line of markers, a thematic break; after a
 * paragraph, "-" alone underlines it as a heading).
 * They go the way a parse would drop them, so that the tree renders as
 * itself.  "~~~" starting a line would open a fence, and the renderer
 * does not escape "~": its first "~" becomes an entity. */
static int
tidy_pass(cmark_node *root, int *changes)
{
	struct node_list l = {0};
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	cmark_node *node, *parent, *prev, *next, *n;
	const char *lit;
	size_t s, e, len;
	char *cut;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		node = cmark_iter_get_node(it);
		switch (cmark_node_get_type(node)) {
		case CMARK_NODE_TEXT: case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK: case CMARK_NODE_HTML_INLINE:
		case CMARK_NODE_HTML_BLOCK:
			list_push(&l, node);
			break;
		case CMARK_NODE_EMPH: case CMARK_NODE_STRONG:
		case CMARK_NODE_PARAGRAPH: case CMARK_NODE_ITEM:
		case CMARK_NODE_LIST:
			if (ev == CMARK_EVENT_EXIT)
				list_push(&l, node);
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
	if (l.failed) {
		free(l.v);
		return FLUE_ENOMEM;
	}
	/* Children come before their parents, so a parent sees what is
	 * left of them. */
	for (size_t i = 0; i < l.n; i++) {
		node = l.v[i];
		parent = cmark_node_parent(node);
		prev = cmark_node_previous(node);
		next = cmark_node_next(node);
		switch (cmark_node_get_type(node)) {
		case CMARK_NODE_TEXT: {
			int edges = is_type(parent, CMARK_NODE_PARAGRAPH) ||
			            is_type(parent, CMARK_NODE_HEADING) ||
			            is_type(parent, CMARK_NODE_EMPH) ||
			            is_type(parent, CMARK_NODE_STRONG);
			int line_start = is_break(prev) ||
			                 (prev == NULL && edges);

			lit = cmark_node_get_literal(node);
			len = strlen(lit);
			s = 0;
			e = len;
			while (line_start && s < e &&
			       (lit[s] == ' ' || lit[s] == '\t'))
				s++;
			if (is_break(next) || (next == NULL && edges))
				while (e > s && (lit[e - 1] == ' ' ||
				                 lit[e - 1] == '\t'))
					e--;
			if (s == e) {
				remove_node(node);
				(*changes)++;
				break;
			}
			/* A line starts after a break, inside emphasis too,
			 * or with the paragraph. */
			if ((is_break(prev) || (prev == NULL &&
			     is_type(parent, CMARK_NODE_PARAGRAPH))) &&
			    e - s >= 3 && memcmp(lit + s, "~~~", 3) == 0) {
				n = cmark_node_new(CMARK_NODE_HTML_INLINE);
				cmark_node_set_literal(n, "&#126;");
				cmark_node_insert_before(node, n);
				s++;
			}
			if (s == 0 && e == len)
				break;
			cut = malloc(e - s + 1);
			if (cut == NULL) {
				free(l.v);
				return FLUE_ENOMEM;
			}
			memcpy(cut, lit + s, e - s);
			cut[e - s] = '\0';
			cmark_node_set_literal(node, cut);
			free(cut);
			(*changes)++;
			break;
		}
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			if (prev == NULL || next == NULL || is_break(prev)) {
				remove_node(node);
				(*changes)++;
			}
			break;
		case CMARK_NODE_HTML_INLINE:
		case CMARK_NODE_HTML_BLOCK:
			lit = cmark_node_get_literal(node);
			if (lit[0] == '\0') {
				remove_node(node);
				(*changes)++;
			} else if (is_type(node, CMARK_NODE_HTML_INLINE) &&
			           (is_break(prev) || (prev == NULL &&
			            is_type(parent, CMARK_NODE_PARAGRAPH))) &&
			           opens_html_block(lit, prev == NULL,
			                            next == NULL ||
			                            is_break(next))) {
				n = cmark_node_new(CMARK_NODE_TEXT);
				cmark_node_set_literal(n, lit);
				cmark_node_replace(node, n);
				cmark_node_free(node);
				(*changes)++;
			}
			break;
		default:
			if (cmark_node_first_child(node) == NULL) {
				remove_node(node);
				(*changes)++;
			}
			break;
		}
	}
	free(l.v);
	return 0;
}

static int
tidy(struct fragment *f)
{
	int changes = 1, rc;

	for (int pass = 0; pass < TIDY_PASSES && changes > 0; pass++) {
		changes = 0;
		rc = tidy_pass(f->tree, &changes);
		if (rc != 0)
			return flue_error_set(f->err, rc, "%s: out of memory",
			                      f->name);
	}
	cmark_consolidate_text_nodes(f->tree);
	return 0;
}

static int
substitute(struct fragment *f)
{
	struct node_list l = {0};
	cmark_iter *it = cmark_iter_new(f->tree);
	cmark_event_type ev;
	cmark_node *node;
	int rc = 0;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		node = cmark_iter_get_node(it);
		switch (cmark_node_get_type(node)) {
		case CMARK_NODE_TEXT: case CMARK_NODE_CODE:
		case CMARK_NODE_CODE_BLOCK: case CMARK_NODE_HTML_BLOCK:
		case CMARK_NODE_HTML_INLINE:
			list_push(&l, node);
			break;
		case CMARK_NODE_LINK: case CMARK_NODE_IMAGE:
			/* After the link text, as in the source. */
			if (ev == CMARK_EVENT_EXIT)
				list_push(&l, node);
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
	if (l.failed)
		rc = flue_error_set(f->err, FLUE_ENOMEM, "%s: out of memory",
		                    f->name);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = substitute_one(f, l.v[i]);
	free(l.v);
	return rc;
}

/* ---- code fences ------------------------------------------------------- */

/* Whether some line of literal could close a fence of tildes. */
static int
has_tilde_fence(const char *lit)
{
	const char *s = lit;
	size_t i, tildes;

	while (s != NULL) {
		for (i = 0; i < 3 && s[i] == ' '; i++)
			;
		for (tildes = 0; s[i] == '~'; i++)
			tildes++;
		while (s[i] == ' ' || s[i] == '\t')
			i++;
		if (tildes >= 3 && (s[i] == '\n' || s[i] == '\0'))
			return 1;
		s = strchr(s, '\n');
		if (s != NULL)
			s++;
	}
	return 0;
}

/* cmark writes a code block whose info string has a backtick with a
 * fence of tildes, as long as the longest run of backticks inside: a
 * line of tildes in the code would end it early and let the rest be read
 * as Markdown.  Such an info string loses its backticks, so that the
 * fence is made of backticks, which cmark does count. */
static int
fix_tilde_fences(struct fragment *f)
{
	struct node_list l = {0};
	cmark_iter *it = cmark_iter_new(f->tree);
	cmark_event_type ev;
	cmark_node *node;
	const char *info;
	char *fixed;
	size_t n;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		node = cmark_iter_get_node(it);
		if (is_type(node, CMARK_NODE_CODE_BLOCK) &&
		    strchr(cmark_node_get_fence_info(node), '`') != NULL &&
		    has_tilde_fence(cmark_node_get_literal(node)))
			list_push(&l, node);
	}
	cmark_iter_free(it);
	for (size_t i = 0; !l.failed && i < l.n; i++) {
		info = cmark_node_get_fence_info(l.v[i]);
		fixed = malloc(strlen(info) + 1);
		if (fixed == NULL) {
			l.failed = 1;
			break;
		}
		n = 0;
		for (const char *p = info; *p; p++)
			if (*p != '`')
				fixed[n++] = *p;
		fixed[n] = '\0';
		cmark_node_set_fence_info(l.v[i], fixed);
		free(fixed);
	}
	free(l.v);
	if (l.failed)
		return flue_error_set(f->err, FLUE_ENOMEM, "%s: out of memory",
		                      f->name);
	return 0;
}

/* ---- headings ---------------------------------------------------------- */

static int
shifted(int level, int shift)
{
	/* Clamped first: level + INT_MAX must not overflow. */
	if (shift > 6)
		shift = 6;
	if (shift < -6)
		shift = -6;
	level += shift;
	return level < 1 ? 1 : level > 6 ? 6 : level;
}

/* Cut the blanks at the start (lead) and the end (trail) of a text
 * node; 1 when that left it empty and it was removed. */
static int
trim_text(cmark_node *node, int lead, int trail)
{
	const char *lit = cmark_node_get_literal(node);
	size_t s = 0, e = strlen(lit);
	char *cut;

	while (lead && s < e && (lit[s] == ' ' || lit[s] == '\t'))
		s++;
	while (trail && e > s && (lit[e - 1] == ' ' || lit[e - 1] == '\t'))
		e--;
	if (s == e) {
		remove_node(node);
		return 1;
	}
	if (s == 0 && e == strlen(lit))
		return 0;
	cut = strndup(lit + s, e - s);
	if (cut == NULL)
		return FLUE_ENOMEM;
	cmark_node_set_literal(node, cut);
	free(cut);
	return 0;
}

/* Inline HTML and link titles can span lines; in a heading, written on
 * one line, they cannot. */
static int
newlines_to_spaces(cmark_node *node, const char *(*get)(cmark_node *),
                   int (*set)(cmark_node *, const char *))
{
	char *copy;

	if (strchr(get(node), '\n') == NULL)
		return 0;
	copy = strdup(get(node));
	if (copy == NULL)
		return FLUE_ENOMEM;
	for (char *p = copy; *p; p++)
		if (*p == '\n')
			*p = ' ';
	set(node, copy);
	free(copy);
	return 0;
}

#define TRIM_LEAD ((uintptr_t)1)
#define TRIM_TRAIL ((uintptr_t)2)

/* Remove node, a child of a heading; when it was at an edge of the
 * heading, the text that is there now is to lose its blanks on that
 * side, as a parse of the heading's line would drop them. */
static void
remove_from_heading(cmark_node *node)
{
	cmark_node *parent = cmark_node_parent(node);
	uintptr_t trim = 0;

	if (is_type(parent, CMARK_NODE_HEADING)) {
		trim = (uintptr_t)cmark_node_get_user_data(parent);
		if (cmark_node_previous(node) == NULL)
			trim |= TRIM_LEAD;
		if (cmark_node_next(node) == NULL)
			trim |= TRIM_TRAIL;
		cmark_node_set_user_data(parent, (void *)trim);
	}
	remove_node(node);
}

/* Shift every heading.  Inside one, line breaks become spaces, since the
 * ATX heading it is written as holds a single line; a break at either
 * end (next to a line cmark left empty, or a lone backslash) goes. */
static int
shift_headings(struct fragment *f)
{
	struct node_list inner = {0}, headings = {0};
	cmark_iter *it = cmark_iter_new(f->tree);
	cmark_event_type ev;
	cmark_node *node, *space, *edge;
	uintptr_t trim;
	int rc = 0;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		node = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (is_type(node, CMARK_NODE_HEADING)) {
			cmark_node_set_heading_level(node, shifted(
				cmark_node_get_heading_level(node),
				f->in->heading_shift));
			list_push(&headings, node);
		} else if ((is_break(node) || is_type(node, CMARK_NODE_TEXT) ||
		            is_type(node, CMARK_NODE_HTML_INLINE) ||
		            is_type(node, CMARK_NODE_LINK) ||
		            is_type(node, CMARK_NODE_IMAGE)) &&
		           in_heading(node)) {
			list_push(&inner, node);
		}
	}
	cmark_iter_free(it);
	if (inner.failed || headings.failed)
		rc = FLUE_ENOMEM;
	for (size_t i = 0; rc == 0 && i < inner.n; i++) {
		node = inner.v[i];
		if (is_type(node, CMARK_NODE_TEXT) &&
		    cmark_node_get_literal(node)[0] == '\0') {
			remove_from_heading(node);
			inner.v[i] = NULL;
		} else if (is_type(node, CMARK_NODE_HTML_INLINE)) {
			rc = newlines_to_spaces(node, cmark_node_get_literal,
			                        cmark_node_set_literal);
		} else if (!is_break(node) && !is_type(node, CMARK_NODE_TEXT)) {
			rc = newlines_to_spaces(node, cmark_node_get_title,
			                        cmark_node_set_title);
		}
	}
	for (size_t i = 0; rc == 0 && i < inner.n; i++) {
		node = inner.v[i];
		if (!is_break(node))
			continue;
		if (cmark_node_previous(node) == NULL ||
		    cmark_node_next(node) == NULL) {
			remove_from_heading(node);
			continue;
		}
		space = cmark_node_new(CMARK_NODE_TEXT);
		cmark_node_set_literal(space, " ");
		cmark_node_replace(node, space);
		cmark_node_free(node);
	}
	if (rc == 0 && inner.n > 0)
		cmark_consolidate_text_nodes(f->tree);
	for (size_t i = 0; rc == 0 && i < headings.n; i++) {
		trim = (uintptr_t)cmark_node_get_user_data(headings.v[i]);
		cmark_node_set_user_data(headings.v[i], NULL);
		edge = cmark_node_first_child(headings.v[i]);
		if ((trim & TRIM_LEAD) && is_type(edge, CMARK_NODE_TEXT) &&
		    (rc = trim_text(edge, 1, 0)) < 0)
			break;
		edge = cmark_node_last_child(headings.v[i]);
		if ((trim & TRIM_TRAIL) && is_type(edge, CMARK_NODE_TEXT) &&
		    (rc = trim_text(edge, 0, 1)) < 0)
			break;
		rc = 0;
	}
	free(inner.v);
	free(headings.v);
	if (rc != 0)
		return flue_error_set(f->err, FLUE_ENOMEM, "%s: out of memory",
		                      f->name);
	return 0;
}

/* ---- splicing ---------------------------------------------------------- */

static int
is_atx_line(const char *s, size_t n)
{
	size_t i = 0, hashes = 0;

	while (i < n && i < 3 && s[i] == ' ')
		i++;
	while (i < n && s[i] == '#') {
		i++;
		hashes++;
	}
	return hashes >= 1 && hashes <= 6 &&
	       (i == n || s[i] == ' ' || s[i] == '\t');
}

static int
is_setext_underline(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n && i < 3 && s[i] == ' ')
		i++;
	if (i == n || (s[i] != '=' && s[i] != '-'))
		return 0;
	for (k = i; k < n && s[k] == s[i]; k++)
		;
	return is_blank(s + k, n - k);
}

/* The inline source of an ATX heading: between the opening and the
 * optional closing run of #, without the blanks around it. */
static void
add_atx_content(struct buf *b, const char *s, size_t n)
{
	size_t i = 0, e = n, k;

	while (i < n && s[i] == ' ')
		i++;
	while (i < n && s[i] == '#')
		i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	for (k = e; k > i && s[k - 1] == '#'; k--)
		;
	if (k == i) {
		e = i;
	} else if (k < e && (s[k - 1] == ' ' || s[k - 1] == '\t')) {
		e = k;
		while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
	}
	/* An empty heading keeps its space too: that is how cmark writes
	 * it, and the fallback's output must splice as itself. */
	buf_addc(b, ' ');
	buf_add(b, s + i, e - i);
}

/* A setext heading's lines joined by spaces; a backslash that made a
 * hard break at the end of a line goes, as the break becomes a space. */
static void
add_setext_content(struct buf *b, const struct fragment *f, size_t first,
                   size_t underline)
{
	const char *s;
	size_t n, i, e, slashes;
	int empty = 1;

	for (size_t line = first; line < underline; line++) {
		s = line_at(f, line, &n);
		for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
			;
		for (e = n; e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
			;
		for (slashes = 0; slashes < e - i &&
		     s[e - 1 - slashes] == '\\'; slashes++)
			;
		if (line + 1 < underline && slashes % 2 == 1)
			e--;
		while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e == i)
			continue;
		buf_addc(b, ' ');
		buf_add(b, s + i, e - i);
		empty = 0;
	}
	if (empty)
		buf_addc(b, ' ');
}

/* The line of the underline of the setext heading that starts at line
 * start, or 0 when there is none before line bound.  (cmark's end
 * position of a setext heading can run into the next block.) */
static size_t
underline_of(const struct fragment *f, size_t start, size_t bound)
{
	const char *s;
	size_t len;

	for (size_t line = start + 1; line < bound; line++) {
		s = line_at(f, line, &len);
		if (is_setext_underline(s, len))
			return line;
	}
	return 0;
}

/* The fragment's source from its first to its last non-blank line, each
 * top-level heading rewritten as an ATX heading of its new level.  A
 * heading whose lines do not look as expected is copied as it is: the
 * check after the splice sees the difference. */
static void
splice(struct buf *b, const struct fragment *f)
{
	cmark_node *heading = cmark_node_first_child(f->tree), *next;
	size_t first = 0, last = f->n_lines, line, len, underline, bound;
	const char *s;
	int setext;

	while (first < f->n_lines && (s = line_at(f, first, &len)) != NULL &&
	       is_blank(s, len))
		first++;
	while (last > first && (s = line_at(f, last - 1, &len)) != NULL &&
	       is_blank(s, len))
		last--;
	while (heading != NULL && !is_type(heading, CMARK_NODE_HEADING))
		heading = cmark_node_next(heading);
	for (line = first; line < last; line++) {
		s = line_at(f, line, &len);
		if (heading == NULL || first_line_of(f, heading) != line) {
			buf_add(b, s, len);
			buf_addc(b, '\n');
			continue;
		}
		next = cmark_node_next(heading);
		bound = next ? first_line_of(f, next) : last;
		setext = !is_atx_line(s, len);
		underline = setext ? underline_of(f, line, bound) : 0;
		if (setext && underline == 0) {
			buf_add(b, s, len);
			buf_addc(b, '\n');
		} else {
			for (int i = cmark_node_get_heading_level(heading);
			     i > 0; i--)
				buf_addc(b, '#');
			if (setext) {
				add_setext_content(b, f, line, underline);
				line = underline;
			} else {
				add_atx_content(b, s, len);
			}
			buf_addc(b, '\n');
		}
		do {
			heading = cmark_node_next(heading);
		} while (heading != NULL &&
		         !is_type(heading, CMARK_NODE_HEADING));
	}
}

/* cmark's renderer writes a tight list item's paragraph and a following
 * thematic break on adjacent lines, where "-----" then reads as a setext
 * underline and the paragraph becomes a heading.  A loose list puts a
 * blank line between them; tightness does not matter in a prompt. */
static void
loosen_lists_with_rules(cmark_node *tree)
{
	cmark_iter *it = cmark_iter_new(tree);
	cmark_event_type ev;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		cmark_node *list;

		if (ev != CMARK_EVENT_ENTER ||
		    !is_type(node, CMARK_NODE_THEMATIC_BREAK) ||
		    cmark_node_previous(node) == NULL)
			continue;
		list = cmark_node_parent(cmark_node_parent(node));
		if (list != NULL && is_type(list, CMARK_NODE_LIST) &&
		    cmark_node_get_list_tight(list))
			cmark_node_set_list_tight(list, 0);
	}
	cmark_iter_free(it);
}

/* cmark's rendering of a tree, without the blank lines around it. */
static void
add_rendered(struct buf *b, cmark_node *tree)
{
	char *text;

	loosen_lists_with_rules(tree);
	text = cmark_render_commonmark(tree, CMARK_OPT_DEFAULT, 0);
	size_t s = 0, e = strlen(text);

	while (s < e && text[s] == '\n')
		s++;
	while (e > s && text[e - 1] == '\n')
		e--;
	if (e > s) {
		buf_add(b, text + s, e - s);
		buf_addc(b, '\n');
	}
	cmark_string_free(text);
}

/* ---- the document ------------------------------------------------------ */

/* What every tree goes through, the expected one and that of the spliced
 * text alike, so that they compare equal when they mean the same.  Not
 * only substituted trees need it: a parse can give what cmark's renderer
 * would write as other blocks ("&#32;" four times before text, "\~~~"
 * starting a line), and the fallback writes with that renderer. */
static int
normalise(struct fragment *f)
{
	int rc = tidy(f);

	if (rc == 0)
		rc = shift_headings(f);
	if (rc == 0)
		rc = fix_tilde_fences(f);
	return rc;
}

int
flue_md_doc_new(struct flue_md_doc **out, struct flue_error *err)
{
	struct flue_md_doc *doc;

	if (out == NULL)
		return flue_error_set(err, FLUE_EINVAL,
		                      "flue_md_doc_new: no out");
	*out = NULL;
	doc = calloc(1, sizeof(*doc));
	if (doc == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	doc->root = cmark_node_new(CMARK_NODE_DOCUMENT);
	*out = doc;
	return 0;
}

void
flue_md_doc_free(struct flue_md_doc *doc)
{
	if (doc == NULL)
		return;
	cmark_node_free(doc->root);
	buf_free(&doc->source);
	free(doc);
}

int
flue_md_doc_used_fallback(const struct flue_md_doc *doc)
{
	return doc != NULL && doc->used_fallback;
}

static void
fragment_free(struct fragment *f)
{
	buf_free(&f->src);
	free(f->lines);
	if (f->tree != NULL)
		cmark_node_free(f->tree);
}

int
flue_md_doc_append(struct flue_md_doc *doc,
                   const struct flue_md_fragment *fragment,
                   struct flue_error *err)
{
	struct fragment f = {0};
	struct buf piece = {0};
	cmark_node *block;
	size_t old_len;
	int rc;

	if (doc == NULL || fragment == NULL ||
	    (fragment->text == NULL && fragment->len > 0))
		return flue_error_set(err, FLUE_EINVAL, "flue_md_doc_append: "
		                      "no document, fragment or text");
	f.in = fragment;
	f.name = fragment->filename ? fragment->filename : "<markdown>";
	f.first_line = fragment->first_line ? fragment->first_line : 1;
	f.err = err;
	if (fragment->len > FLUE_MD_MAX_FRAGMENT)
		return flue_error_set(err, FLUE_EINVAL, "%s: %zu bytes of "
		                      "Markdown, more than the %u a fragment "
		                      "may have", f.name, fragment->len,
		                      FLUE_MD_MAX_FRAGMENT);
	if (fragment->len > 0)
		add_clean(&f.src, fragment->text, fragment->len);
	buf_add(&f.src, "", 0);
	if (f.src.failed || index_lines(&f) != 0) {
		fragment_free(&f);
		return flue_error_set(err, FLUE_ENOMEM, "%s: out of memory",
		                      f.name);
	}
	f.tree = cmark_parse_document(f.src.data, f.src.len, PARSE_OPTIONS);
	cmark_consolidate_text_nodes(f.tree);
	rc = fragment->subst != NULL ? substitute(&f) : 0;
	if (rc == 0)
		rc = normalise(&f);
	if (rc == 0)
		rc = close_open_html(&f);
	if (rc != 0 || cmark_node_first_child(f.tree) == NULL) {
		fragment_free(&f);
		return rc;
	}
	/* A changed tree no longer matches its source. */
	if (f.changed)
		add_rendered(&piece, f.tree);
	else
		splice(&piece, &f);
	old_len = doc->source.len;
	if (!piece.failed && doc->source.len > 0)
		buf_addc(&doc->source, '\n');
	if (!piece.failed)
		buf_add(&doc->source, piece.data ? piece.data : "", piece.len);
	if (piece.failed || doc->source.failed) {
		doc->source.failed = 0;
		doc->source.len = old_len;
		if (doc->source.data != NULL)
			doc->source.data[old_len] = '\0';
		buf_free(&piece);
		fragment_free(&f);
		return flue_error_set(err, FLUE_ENOMEM, "%s: out of memory",
		                      f.name);
	}
	buf_free(&piece);
	while ((block = cmark_node_first_child(f.tree)) != NULL) {
		cmark_node_unlink(block);
		cmark_node_append_child(doc->root, block);
	}
	fragment_free(&f);
	return 0;
}

/* Whether the line s[0, n) is a thematic break of dashes, which a reader
 * of the file would take for the start of frontmatter. */
static int
is_dash_break(const char *s, size_t n)
{
	size_t i = 0, dashes = 0;

	while (i < n && i < 3 && s[i] == ' ')
		i++;
	for (; i < n; i++) {
		if (s[i] == '-')
			dashes++;
		else if (s[i] != ' ' && s[i] != '\t')
			return 0;
	}
	return dashes >= 3;
}

/* text as the output: its first line, when a dashed thematic break (the
 * first line of a document can only be a block's start), as ***. */
static void
add_guarded(struct buf *b, const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	size_t first = nl ? (size_t)(nl - text) : len;

	if (is_dash_break(text, first)) {
		buf_adds(b, "***");
		buf_add(b, text + first, len - first);
	} else {
		buf_add(b, text, len);
	}
}

static char *
xml_of(cmark_node *tree)
{
	cmark_consolidate_text_nodes(tree);
	return cmark_render_xml(tree, CMARK_OPT_DEFAULT);
}

/* Whether text, parsed and normalised like the fragments were, is the
 * tree of doc. */
static int
splice_holds(struct flue_md_doc *doc, const struct buf *text, int *same,
             struct flue_error *err)
{
	struct flue_md_fragment in = {0};
	struct fragment f = {0};
	char *want, *got;
	int rc;

	f.in = &in;
	f.name = "<document>";
	f.err = err;
	f.tree = cmark_parse_document(text->data, text->len,
	                              CMARK_OPT_VALIDATE_UTF8);
	cmark_consolidate_text_nodes(f.tree);
	rc = normalise(&f);
	if (rc == 0) {
		want = xml_of(doc->root);
		got = xml_of(f.tree);
		*same = strcmp(want, got) == 0;
		cmark_string_free(want);
		cmark_string_free(got);
	}
	cmark_node_free(f.tree);
	return rc;
}

int
flue_md_doc_render(struct flue_md_doc *doc, char **out, size_t *out_len,
                   struct flue_error *err)
{
	struct buf text = {0};
	char *rendered;
	size_t len;
	int same, rc;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (doc == NULL || out == NULL)
		return flue_error_set(err, FLUE_EINVAL, "flue_md_doc_render: "
		                      "no document or no out");
	doc->used_fallback = 0;
	if (cmark_node_first_child(doc->root) != NULL) {
		add_guarded(&text, doc->source.data, doc->source.len);
		if (text.failed) {
			buf_free(&text);
			return flue_error_set(err, FLUE_ENOMEM,
			                      "out of memory");
		}
		rc = splice_holds(doc, &text, &same, err);
		if (rc != 0) {
			buf_free(&text);
			return rc;
		}
		if (!same) {
			doc->used_fallback = 1;
			buf_free(&text);
			loosen_lists_with_rules(doc->root);
			rendered = cmark_render_commonmark(
				doc->root, CMARK_OPT_DEFAULT, 0);
			len = strlen(rendered);
			while (len > 0 && rendered[len - 1] == '\n')
				len--;
			add_guarded(&text, rendered, len);
			buf_addc(&text, '\n');
			cmark_string_free(rendered);
		}
	}
	*out = buf_take(&text, out_len);
	if (*out == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return 0;
}

/* ---- escaping ---------------------------------------------------------- */

int
flue_md_escape(const char *text, size_t len, char **out,
               struct flue_error *err)
{
	const unsigned char *s = (const unsigned char *)text;
	struct buf b = {0};
	int at_start = 1;
	size_t i = 0, n, k;

	if (out == NULL || (text == NULL && len > 0))
		return flue_error_set(err, FLUE_EINVAL,
		                      "flue_md_escape: no text or no out");
	*out = NULL;
	buf_add(&b, "", 0);
	while (i < len) {
		/* NUL is left to the UTF-8 check below: U+FFFD. */
		if ((s[i] < 0x20 && s[i] != 0) || s[i] == 0x7f) {
			buf_addc(&b, ' ');
			i += s[i] == '\r' && i + 1 < len && s[i + 1] == '\n' ?
			     2 : 1;
			continue;
		}
		if (s[i] == ' ') {
			buf_addc(&b, ' ');
			i++;
			continue;
		}
		if (s[i] != 0 && strchr(INLINE_SPECIALS, s[i]) != NULL) {
			buf_addc(&b, '\\');
			buf_addc(&b, (char)s[i++]);
		} else if (at_start && (s[i] == '-' || s[i] == '+' ||
		                        s[i] == '=')) {
			buf_addc(&b, '\\');
			buf_addc(&b, (char)s[i++]);
		} else if (at_start && s[i] >= '0' && s[i] <= '9') {
			for (k = i; k < len && s[k] >= '0' && s[k] <= '9'; k++)
				;
			buf_add(&b, text + i, k - i);
			i = k;
			if (i < len && (s[i] == '.' || s[i] == ')')) {
				buf_addc(&b, '\\');
				buf_addc(&b, (char)s[i++]);
			}
		} else {
			n = flue_utf8_seq_len(s + i, len - i);
			if (n == 0) {
				buf_add(&b, REPLACEMENT, REPLACEMENT_LEN);
				i++;
			} else {
				buf_add(&b, text + i, n);
				i += n;
			}
		}
		at_start = 0;
	}
	*out = buf_take(&b, NULL);
	if (*out == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return 0;
}
