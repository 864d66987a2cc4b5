/* libFuzzer target for the Markdown assembler.  The input is split at
 * 0xFF bytes into up to three fragments, the first byte picking the
 * heading shift; text with "{{" in it is replaced by a hostile value.
 * What must hold whatever the input: the output is valid UTF-8 ending in
 * one newline and not starting with ---, its headings are the fragments'
 * headings shifted (no value adds or removes one), the same input gives
 * the same bytes, and the output assembled again is itself. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include <flue/flue.h>

#include "../../core/lib/markdown.h"

#define MAX_FRAGMENTS 3
#define MAX_HEADINGS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const hostile[] = {
	"x\n\n# Injected\n---\n", "---", "***", "```", "~~~", "~~~~ x",
	"<!--", "-->", "]]>", "</script>", "<script>", "<div>\n\nx",
	"    code", "\t\tcode", "- a\n- b", "1. x", "12) x", "> q", "",
	" ", "\n", "\n\n", "*", "**", "_", "[a]: http://e.example/",
	"[x](y)", "\xff\xfe", "\xe2\x82", "a  \nb", "a\\\nb", "&#35; x",
	"\\", "`", "``", "|a|b|", "=====", "\t# t", "x\r\n# crlf", "\r",
	"<http://a.example/>", "![i](u)", "+ x", "#", "# ", "  \n  ",
};

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_markdown: %s\n", what);
		abort();
	}
}

/* A value from the table, picked by the text so that every render of
 * the same input sees the same one. */
static int
hostile_subst(void *payload, const char *text, size_t len, unsigned line,
              unsigned column, char **out, struct flue_error *err)
{
	unsigned hash = 5381;

	if (strstr(text, "{{") == NULL)
		return 0;
	for (size_t i = 0; i < len; i++)
		hash = hash * 33 + (unsigned char)text[i];
	if (strstr(text, "{{fail}}") != NULL)
		return flue_error_set(err, FLUE_EINVAL, "unknown variable");
	*out = strdup(hostile[hash % (sizeof(hostile) / sizeof(hostile[0]))]);
	return *out == NULL ? FLUE_ENOMEM : 0;
}

struct input {
	const char *text[MAX_FRAGMENTS];
	size_t len[MAX_FRAGMENTS];
	size_t n;
	int shift;
};

/* The length of the well-formed UTF-8 sequence at s[0, n), 0 when it is
 * ill-formed (NUL included).  The document module replaces ill-formed
 * input one byte at a time before cmark sees it; cmark's own check may
 * swallow the bytes after a bad lead byte (even a closing '>'), so the
 * reference parse below must clean its input the same way. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;
		hi = s[0] == 0xed ? 0x9f : 0xbf;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/* The heading levels of text parsed alone by cmark, shifted, appended
 * to levels.  Every U+FEFF goes first, as flue_md_doc_append drops them
 * (cmark drops only a leading one).  *odd is set when text has a list
 * item that starts with a list and goes on after it ("- - x" and an
 * indented line): cmark's renderer writes the markers with more room
 * than the indent it gives the following lines, which then read as a
 * lazy continuation, so the fallback cannot keep such an item. */
static void
add_levels(const char *text, size_t len, int shift, int *levels, size_t *n,
           int *odd)
{
	char *copy = malloc(len * 3 + 1);
	size_t k = 0;
	cmark_node *root;
	cmark_iter *it;
	cmark_event_type ev;
	int level;

	check(copy != NULL, "out of memory");
	for (size_t i = 0; i < len; i++) {
		size_t seq;

		if (len - i >= 3 && memcmp(text + i, "\xef\xbb\xbf", 3) == 0) {
			i += 2;
			continue;
		}
		seq = utf8_len((const unsigned char *)text + i, len - i);
		if (seq == 0) {
			memcpy(copy + k, "\xef\xbf\xbd", 3);
			k += 3;
			continue;
		}
		memcpy(copy + k, text + i, seq);
		k += seq;
		i += seq - 1;
	}
	root = cmark_parse_document(copy, k, CMARK_OPT_VALIDATE_UTF8);
	free(copy);
	it = cmark_iter_new(root);

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		cmark_node *first = cmark_node_first_child(node);

		if (ev == CMARK_EVENT_ENTER &&
		    cmark_node_get_type(node) == CMARK_NODE_ITEM &&
		    first != NULL &&
		    cmark_node_get_type(first) == CMARK_NODE_LIST &&
		    cmark_node_next(first) != NULL)
			*odd = 1;
		if (ev != CMARK_EVENT_ENTER ||
		    cmark_node_get_type(node) != CMARK_NODE_HEADING)
			continue;
		level = cmark_node_get_heading_level(node) + shift;
		level = level < 1 ? 1 : level > 6 ? 6 : level;
		if (*n < MAX_HEADINGS)
			levels[*n] = level;
		(*n)++;
	}
	cmark_iter_free(it);
	cmark_node_free(root);
}

/* Assemble in; 0 and *out [caller-owned] on success, else the error
 * code (only a substitution may fail). */
static int
assemble(const struct input *in, int with_subst, char **out, size_t *len,
         int *fallback)
{
	struct flue_md_doc *doc = NULL;
	struct flue_error err = {0};
	int rc;

	*out = NULL;
	check(flue_md_doc_new(&doc, &err) == 0, "doc_new failed");
	for (size_t i = 0; i < in->n; i++) {
		struct flue_md_fragment f = {
			.text = in->text[i], .len = in->len[i],
			.filename = "fuzz.md", .first_line = 1,
			.heading_shift = i == 0 ? 0 : in->shift,
			.subst = with_subst ? hostile_subst : NULL,
		};

		rc = flue_md_doc_append(doc, &f, &err);
		if (rc != 0) {
			check(rc == FLUE_EINVAL && err.code == FLUE_EINVAL,
			      "append failed other than by the substitution");
			flue_md_doc_free(doc);
			return rc;
		}
	}
	check(flue_md_doc_render(doc, out, len, &err) == 0, "render failed");
	if (fallback != NULL)
		*fallback = flue_md_doc_used_fallback(doc);
	flue_md_doc_free(doc);
	return 0;
}

static int
valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, need;

	while (i < len) {
		need = p[i] == 0 ? 0 : p[i] < 0x80 ? 1 :
		       (p[i] & 0xe0) == 0xc0 ? 2 : (p[i] & 0xf0) == 0xe0 ? 3 :
		       (p[i] & 0xf8) == 0xf0 ? 4 : 0;
		if (need == 0 || len - i < need)
			return 0;
		for (size_t k = 1; k < need; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += need;
	}
	return 1;
}

/* Whether the first line is what frontmatter opens with: --- and blanks
 * (flue's frontmatter reader takes trailing spaces, tabs and CR). */
static int
frontmatter_marker(const char *s)
{
	size_t i = 3;

	if (strncmp(s, "---", 3) != 0)
		return 0;
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')
		i++;
	return s[i] == '\n' || s[i] == '\0';
}

static void
check_output(const char *out, size_t len, const struct input *in)
{
	int want[MAX_HEADINGS], got[MAX_HEADINGS];
	size_t n_want = 0, n_got = 0;
	int odd = 0;

	check(strlen(out) == len, "NUL inside the output");
	check(valid_utf8(out, len), "output is not valid UTF-8");
	check(len == 0 || (out[len - 1] == '\n' &&
	                   (len == 1 || out[len - 2] != '\n')),
	      "output does not end in exactly one newline");
	check(!frontmatter_marker(out), "output starts with a --- line");
	for (size_t i = 0; i < in->n; i++)
		add_levels(in->text[i], in->len[i], i == 0 ? 0 : in->shift,
		           want, &n_want, &odd);
	add_levels(out, len, 0, got, &n_got, &odd);
	if (odd)
		return;
	check(n_got == n_want, "the output has another number of headings");
	for (size_t i = 0; i < n_got && i < MAX_HEADINGS; i++)
		check(got[i] == want[i], "a heading has another level");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {0};
	const char *text = (const char *)data + 1;
	size_t len = size - 1, start = 0;
	char *out = NULL, *again = NULL, *self = NULL;
	size_t out_len = 0, again_len = 0, self_len = 0;
	int fallback = 0;

	if (size < 1 || size > 256 * 1024)
		return 0;
	in.shift = (int)(data[0] % 10) - 2;     /* -2 .. 7 */
	for (size_t i = 0; i <= len; i++) {
		if (i == len || (text[i] == '\xff' && in.n < MAX_FRAGMENTS - 1)) {
			in.text[in.n] = text + start;
			in.len[in.n] = i - start;
			in.n++;
			start = i + 1;
		}
	}

	if (assemble(&in, 1, &out, &out_len, &fallback) != 0)
		return 0;
	check_output(out, out_len, &in);

	/* The same input, the same bytes. */
	check(assemble(&in, 1, &again, &again_len, NULL) == 0,
	      "second assembly failed");
	check(again_len == out_len && memcmp(again, out, out_len) == 0,
	      "two renders of the same input differ");
	free(again);

	/* The output, assembled as one fragment, is itself. */
	{
		struct input one = { { out }, { out_len }, 1, 0 };

		check(assemble(&one, 0, &self, &self_len, NULL) == 0,
		      "assembling the output failed");
		check(self_len == out_len && memcmp(self, out, out_len) == 0,
		      "the output assembled again differs");
		free(self);
	}
	free(out);
	return 0;
}
