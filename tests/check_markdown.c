/* Markdown fragments assembled into one document: heading shifts, the
 * splice and its fallback, substitution on the tree, escaping. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include <flue/flue.h>

#include "../core/lib/markdown.h"

/* ---- helpers ------------------------------------------------------------ */

/* Pairs of "{{name}}" and value, ended by a NULL name. */
struct vars {
	const char *name[8];
	const char *value[8];
};

/* Replaces every {{name}} of vars in the text it is handed. */
static int
subst_vars(void *payload, const char *text, size_t len, unsigned line,
           unsigned column, char **out, struct flue_error *err)
{
	const struct vars *vars = payload;
	size_t cap = len + 1, n = 0;
	char *s = NULL, *bigger;
	int hit = 0;

	for (size_t i = 0; i < len;) {
		const char *value = NULL;
		size_t skip = 1, vlen;

		for (size_t k = 0; k < 8 && vars->name[k] != NULL; k++) {
			size_t l = strlen(vars->name[k]);

			if (len - i >= l + 4 &&
			    memcmp(text + i, "{{", 2) == 0 &&
			    memcmp(text + i + 2, vars->name[k], l) == 0 &&
			    memcmp(text + i + 2 + l, "}}", 2) == 0) {
				value = vars->value[k];
				skip = l + 4;
				break;
			}
		}
		vlen = value ? strlen(value) : 1;
		if (s == NULL || n + vlen + 1 > cap) {
			cap = 2 * (cap + vlen + 1);
			bigger = realloc(s, cap);
			ck_assert_ptr_nonnull(bigger);
			s = bigger;
		}
		memcpy(s + n, value ? value : text + i, vlen);
		n += vlen;
		hit |= value != NULL;
		i += skip;
	}
	if (!hit) {
		free(s);
		return 0;
	}
	s[n] = '\0';
	*out = s;
	return 0;
}

static void
append_sub(struct flue_md_doc *doc, const char *text, int shift,
           const struct vars *vars)
{
	struct flue_md_fragment f = {
		.text = text, .len = strlen(text), .filename = "t.md",
		.first_line = 1, .heading_shift = shift,
		.subst = vars ? subst_vars : NULL,
		.subst_payload = (void *)vars,
	};
	struct flue_error err = {0};
	int rc;

	rc = flue_md_doc_append(doc, &f, &err);
	ck_assert_msg(rc == 0, "append <%s>: %s", text, err.message);
}

static void
append(struct flue_md_doc *doc, const char *text, int shift)
{
	append_sub(doc, text, shift, NULL);
}

static struct flue_md_doc *
new_doc(void)
{
	struct flue_md_doc *doc = NULL;
	struct flue_error err = {0};

	ck_assert_int_eq(flue_md_doc_new(&doc, &err), 0);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

/* The plain text of node: text and code literals, breaks as spaces. */
static void
plain_text(cmark_node *node, char *out, size_t cap)
{
	cmark_iter *it = cmark_iter_new(node);
	cmark_event_type ev;

	out[0] = '\0';
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		cmark_node_type t = cmark_node_get_type(n);

		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE ||
		    t == CMARK_NODE_HTML_INLINE)
			strncat(out, cmark_node_get_literal(n),
			        cap - strlen(out) - 1);
		else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK)
			strncat(out, " ", cap - strlen(out) - 1);
	}
	cmark_iter_free(it);
}

/* The headings of text as "level:text|level:text". */
static char *
outline(const char *text)
{
	cmark_node *root = cmark_parse_document(text, strlen(text),
	                                        CMARK_OPT_VALIDATE_UTF8);
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	static char out[4096];
	char line[1024];

	out[0] = '\0';
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);

		if (ev != CMARK_EVENT_ENTER ||
		    cmark_node_get_type(n) != CMARK_NODE_HEADING)
			continue;
		plain_text(n, line, sizeof(line));
		snprintf(out + strlen(out), sizeof(out) - strlen(out),
		         "%s%d:%s", out[0] ? "|" : "",
		         cmark_node_get_heading_level(n), line);
	}
	cmark_iter_free(it);
	cmark_node_free(root);
	return out;
}

/* The block nodes of text, in document order: "paragraph,list,item...". */
static char *
blocks(const char *text)
{
	cmark_node *root = cmark_parse_document(text, strlen(text),
	                                        CMARK_OPT_VALIDATE_UTF8);
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	static char out[4096];

	out[0] = '\0';
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		cmark_node_type t = cmark_node_get_type(n);

		if (ev != CMARK_EVENT_ENTER || t == CMARK_NODE_DOCUMENT ||
		    t < CMARK_NODE_FIRST_BLOCK || t > CMARK_NODE_LAST_BLOCK)
			continue;
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
		         out[0] ? "," : "", cmark_node_get_type_string(n));
	}
	cmark_iter_free(it);
	cmark_node_free(root);
	return out;
}

/* The first node of type in text's tree, as an XML-free summary: its
 * literal (text, code, code block, HTML) or destination (link). */
static char *
first_of(const char *text, cmark_node_type type)
{
	cmark_node *root = cmark_parse_document(text, strlen(text),
	                                        CMARK_OPT_VALIDATE_UTF8);
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	static char out[4096];

	strcpy(out, "<none>");
	cmark_consolidate_text_nodes(root);
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);

		if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(n) != type)
			continue;
		if (type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE)
			snprintf(out, sizeof(out), "%s", cmark_node_get_url(n));
		else if (type == CMARK_NODE_PARAGRAPH)
			plain_text(n, out, sizeof(out));
		else
			snprintf(out, sizeof(out), "%s",
			         cmark_node_get_literal(n));
		break;
	}
	cmark_iter_free(it);
	cmark_node_free(root);
	return out;
}

static int
count_of(const char *text, cmark_node_type type)
{
	cmark_node *root = cmark_parse_document(text, strlen(text),
	                                        CMARK_OPT_VALIDATE_UTF8);
	cmark_iter *it = cmark_iter_new(root);
	cmark_event_type ev;
	int n = 0;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE)
		if (ev == CMARK_EVENT_ENTER &&
		    cmark_node_get_type(cmark_iter_get_node(it)) == type)
			n++;
	cmark_iter_free(it);
	cmark_node_free(root);
	return n;
}

static int
valid_utf8(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;

	while (*s) {
		size_t need = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 :
		              (*s & 0xf0) == 0xe0 ? 3 :
		              (*s & 0xf8) == 0xf0 ? 4 : 0;

		if (need == 0)
			return 0;
		for (size_t i = 1; i < need; i++)
			if ((s[i] & 0xc0) != 0x80)
				return 0;
		s += need;
	}
	return 1;
}

/* Render doc, check what every rendering must be (valid UTF-8 ending in
 * exactly one newline, not starting with ---, the same bytes twice) and
 * that its headings are want_outline.  The caller frees the text. */
static char *
render(struct flue_md_doc *doc, const char *want_outline)
{
	struct flue_error err = {0};
	char *out = NULL, *again = NULL;
	size_t len = 0, len2 = 0;

	ck_assert_int_eq(flue_md_doc_render(doc, &out, &len, &err), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(len, strlen(out));
	ck_assert_msg(valid_utf8(out), "not UTF-8: <%s>", out);
	if (len > 0) {
		ck_assert_msg(out[len - 1] == '\n' &&
		              (len == 1 || out[len - 2] != '\n'),
		              "does not end in one newline: <%s>", out);
		ck_assert_msg(strncmp(out, "---\n", 4) != 0 &&
		              strncmp(out, "--- ", 4) != 0 &&
		              strncmp(out, "---\t", 4) != 0,
		              "starts like frontmatter: <%s>", out);
	}
	ck_assert_int_eq(flue_md_doc_render(doc, &again, &len2, &err), 0);
	ck_assert_str_eq(again, out);
	free(again);
	ck_assert_msg(strcmp(outline(out), want_outline) == 0,
	              "outline <%s>, want <%s>, in:\n%s", outline(out),
	              want_outline, out);
	return out;
}

/* One fragment rendered alone. */
static char *
render_one(const char *text, int shift, const struct vars *vars,
           const char *want_outline, int *fallback)
{
	struct flue_md_doc *doc = new_doc();
	char *out;

	append_sub(doc, text, shift, vars);
	out = render(doc, want_outline);
	if (fallback != NULL)
		*fallback = flue_md_doc_used_fallback(doc);
	flue_md_doc_free(doc);
	return out;
}

static void
check_render(const char *text, int shift, const char *want,
             const char *want_outline)
{
	int fallback;
	char *out = render_one(text, shift, NULL, want_outline, &fallback);

	ck_assert_str_eq(out, want);
	ck_assert_int_eq(fallback, 0);
	free(out);
}

/* ---- headings ----------------------------------------------------------- */

static const char *levels_md =
	"# One\n\n## Two\n\n### Three\n\n#### Four\n\n##### Five\n\n"
	"###### Six\n";

START_TEST(atx_levels_shift_by_0_1_2)
{
	check_render(levels_md, 0, levels_md,
	             "1:One|2:Two|3:Three|4:Four|5:Five|6:Six");
	check_render(levels_md, 1,
	             "## One\n\n### Two\n\n#### Three\n\n##### Four\n\n"
	             "###### Five\n\n###### Six\n",
	             "2:One|3:Two|4:Three|5:Four|6:Five|6:Six");
	check_render(levels_md, 2,
	             "### One\n\n#### Two\n\n##### Three\n\n###### Four\n\n"
	             "###### Five\n\n###### Six\n",
	             "3:One|4:Two|5:Three|6:Four|6:Five|6:Six");
}
END_TEST

START_TEST(shifts_clamp_to_1_and_6)
{
	check_render("# A\n\n### B\n", 9, "###### A\n\n###### B\n",
	             "6:A|6:B");
	check_render("# A\n\n### B\n", 2147483647, "###### A\n\n###### B\n",
	             "6:A|6:B");
	check_render("# A\n\n### B\n", -2, "# A\n\n# B\n", "1:A|1:B");
	check_render("# A\n", -2147483647 - 1, "# A\n", "1:A");
}
END_TEST

START_TEST(setext_headings_become_atx)
{
	check_render("Title\n=====\n\nSub *title*\n---\n\ntext\n", 1,
	             "## Title\n\n### Sub *title*\n\ntext\n",
	             "2:Title|3:Sub title");
	/* Several lines join with spaces; a hard break becomes one too. */
	check_render("Long\ntitle  \nhere\\\nend\n===\n", 0,
	             "# Long title here end\n", "1:Long title here end");
	check_render("  Indented\n  ---\n", 2, "#### Indented\n",
	             "4:Indented");
}
END_TEST

/* What may span lines in a setext heading is kept on its one line. */
START_TEST(multi_line_setext_content_stays_on_one_line)
{
	int fallback;
	char *out;

	out = render_one("See [a](/u \"two\nlines\") <span\nclass=x>"
	                 "here</span>\n---\n\nafter\n", 0, NULL,
	                 "2:See a <span class=x>here</span>", &fallback);
	ck_assert_str_eq(blocks(out), "heading,paragraph");
	ck_assert_ptr_nonnull(strstr(out, "\"two lines\""));
	ck_assert_ptr_nonnull(strstr(out, "<span class=x>"));
	free(out);
}
END_TEST

START_TEST(closing_sequences_are_dropped)
{
	check_render("## Foo ##\n# Bar #####   \n### x \\# ###\n#### #\n"
	             "# a#\n", 1,
	             "### Foo\n## Bar\n#### x \\#\n##### \n## a#\n",
	             "3:Foo|2:Bar|4:x #|5:|2:a#");
}
END_TEST

START_TEST(headings_in_lists_and_quotes_shift_by_fallback)
{
	const char *md = "- # In list\n- item\n\n> ## In quote\n>\n> text\n";
	int fallback;
	char *out;

	out = render_one(md, 1, NULL, "2:In list|3:In quote", &fallback);
	ck_assert_int_eq(fallback, 1);
	ck_assert_str_eq(blocks(out), "list,item,heading,item,paragraph,"
	                 "block_quote,heading,paragraph");
	free(out);
	/* Unshifted, they are left as they are. */
	check_render(md, 0, md, "1:In list|2:In quote");
}
END_TEST

START_TEST(fragments_nest_under_sections)
{
	struct flue_md_doc *doc = new_doc();
	char *out;

	append(doc, "# Agent\n\nYou help.\n\n## Skills\n", 0);
	append(doc, "\n\n# Review\n\nRead `snake_case` code.\n\n", 2);
	append(doc, "Setext\n======\nbody\n", 2);
	out = render(doc, "1:Agent|2:Skills|3:Review|3:Setext");
	ck_assert_str_eq(out, "# Agent\n\nYou help.\n\n## Skills\n\n"
	                 "### Review\n\nRead `snake_case` code.\n\n"
	                 "### Setext\nbody\n");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 0);
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

/* ---- splice and fallback ------------------------------------------------ */

START_TEST(ordinary_markdown_is_copied_byte_for_byte)
{
	const char *md =
		"# Tools\n"
		"\n"
		"Use `read_file` for snake_case names, [x] marks, a*b and\n"
		"2*3*4; keep <kbd>Ctrl</kbd> and &amp; as they are.\n"
		"\n"
		"- [ ] todo item\n"
		"- [x] done item\n"
		"  * nested *emphasis*\n"
		"    1. deep\n"
		"\n"
		"1) first\n"
		"2) second\n"
		"\n"
		"| name | value |\n"
		"|------|-------|\n"
		"| a_b  | 1     |\n"
		"\n"
		"```python\n"
		"def f(x_y):\n"
		"    return x_y * 2\n"
		"```\n"
		"\n"
		"    indented code\n"
		"\n"
		"> quoted __strong__ text\n"
		"> over two lines\n"
		"\n"
		"<!-- a comment -->\n"
		"\n"
		"See [the docs][docs] or <https://example.org/a_b>.\n"
		"\n"
		"[docs]: https://example.org/docs \"Docs\"\n"
		"\n"
		"***\n"
		"\n"
		"Trailing line with two spaces  \n"
		"and a hard break.\n";
	struct flue_md_doc *doc = new_doc();
	char *out;

	check_render(md, 0, md, "1:Tools");
	/* The same as a second fragment, and with a shift. */
	append(doc, "Intro.\n", 0);
	append(doc, md, 1);
	out = render(doc, "2:Tools");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 0);
	ck_assert_str_eq(out + strlen("Intro.\n\n#"), md);
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

START_TEST(unclosed_fence_does_not_swallow_the_next_fragment)
{
	struct flue_md_doc *doc = new_doc();
	char *out;

	append(doc, "# First\n\ntext\n\n```sh\nmake check\n", 0);
	append(doc, "# Next\n\nparagraph\n", 1);
	out = render(doc, "1:First|2:Next");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 1);
	ck_assert_str_eq(first_of(out, CMARK_NODE_CODE_BLOCK), "make check\n");
	ck_assert_str_eq(blocks(out), "heading,paragraph,code_block,heading,"
	                 "paragraph");
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

START_TEST(unclosed_html_does_not_swallow_the_next_fragment)
{
	static const char *openers[] = {
		"<script>\nvar x = 1;\n", "<!-- note\n\nstill a note\n",
		"<?php\necho 1;\n", "<![CDATA[\nx\n", "<![cdata[\nx\n",
		"<!DOCTYPE html\n", "<pre>\n\n  kept\n", "<STYLE>\np {}\n",
		"<textarea>\n", "  <script src=x></script>\n<script>\n",
	};

	for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++) {
		struct flue_md_doc *doc = new_doc();
		const char *shape;
		char *out;

		append(doc, openers[i], 0);
		append(doc, "# Next\n\nparagraph\n", 0);
		out = render(doc, "1:Next");
		ck_assert_int_eq(flue_md_doc_used_fallback(doc), 1);
		shape = blocks(out);
		ck_assert_msg(strlen(shape) >= 28 &&
		              strcmp(shape + strlen(shape) - 28,
		                     "html_block,heading,paragraph") == 0,
		              "%s", out);
		free(out);
		flue_md_doc_free(doc);
	}
}
END_TEST

START_TEST(link_references_stay_in_their_fragment)
{
	struct flue_md_doc *doc = new_doc();
	char *out;

	/* The first fragment's [doc] is text in the first fragment. */
	append(doc, "# A\n\nsee [doc]\n", 0);
	append(doc, "[doc]: https://evil.example/\n\n# B\n", 0);
	out = render(doc, "1:A|1:B");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 1);
	ck_assert_int_eq(count_of(out, CMARK_NODE_LINK), 0);
	ck_assert_ptr_null(strstr(out, "evil"));
	ck_assert_str_eq(first_of(out, CMARK_NODE_PARAGRAPH), "see [doc]");
	free(out);
	flue_md_doc_free(doc);

	/* A fragment that defines and uses its own is spliced as it is. */
	doc = new_doc();
	append(doc, "# A\n", 0);
	append(doc, "see [doc]\n\n[doc]: https://example.org/\n", 0);
	out = render(doc, "1:A");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 0);
	ck_assert_str_eq(out, "# A\n\nsee [doc]\n\n[doc]: "
	                 "https://example.org/\n");
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

START_TEST(lazy_lines_and_open_lists_fall_back)
{
	struct flue_md_doc *doc = new_doc();
	char *out;

	/* An indented fragment after a list would join the list item. */
	append(doc, "- item\n", 0);
	append(doc, "    indented code\n", 0);
	out = render(doc, "");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 1);
	ck_assert_str_eq(blocks(out), "list,item,paragraph,code_block");
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

/* What cmark's renderer would write as another block is kept apart
 * when the fallback renders it. */
START_TEST(fallback_keeps_escaped_block_starts)
{
	const char *md = "\\~~~ not a fence\n\n&#32;&#32;&#32;&#32;x\n";
	struct flue_md_doc *doc = new_doc();
	char *out;

	/* The open fence sends the document to the fallback. */
	append(doc, "```\nopen\n", 0);
	append(doc, "\\~~~ not a fence\n\n&#32;&#32;&#32;&#32;not code\n\n"
	       "\\\nafter a break\n", 0);
	out = render(doc, "");
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 1);
	ck_assert_str_eq(blocks(out), "code_block,paragraph,paragraph,"
	                 "paragraph");
	ck_assert_str_eq(first_of(out, CMARK_NODE_PARAGRAPH),
	                 "~~~ not a fence");
	free(out);
	flue_md_doc_free(doc);
	/* Spliced, the source is kept as it was written. */
	check_render(md, 0, md, "");
}
END_TEST

START_TEST(first_thematic_break_is_never_dashes)
{
	int fallback;
	char *out;
	struct vars v = { { "x" }, { "---" } };

	check_render("---\n\ntext\n", 0, "***\n\ntext\n", "");
	check_render("- - -\ntext\n", 0, "***\ntext\n", "");
	/* Through the renderer too. */
	out = render_one("---\n\n{{x}}\n", 0, &v, "", &fallback);
	ck_assert_str_eq(blocks(out), "thematic_break,paragraph");
	ck_assert_str_eq(first_of(out, CMARK_NODE_PARAGRAPH), "---");
	free(out);
	/* A later break keeps its dashes. */
	check_render("text\n\n---\n", 0, "text\n\n---\n", "");
}
END_TEST

START_TEST(render_is_byte_stable)
{
	const char *parts[] = { "# A\n\n```\nopen fence\n", "text_with *x*\n",
	                        "Hello {{name}}\n\n- a\n- b\n" };
	struct vars v = { { "name" }, { "World\n# not a heading" } };
	char *first = NULL, *out;

	for (int round = 0; round < 3; round++) {
		struct flue_md_doc *doc = new_doc();

		append(doc, parts[0], 1);
		append(doc, parts[1], 0);
		append_sub(doc, parts[2], 0, &v);
		out = render(doc, "2:A");
		if (first == NULL)
			first = out;
		else {
			ck_assert_str_eq(out, first);
			free(out);
		}
		flue_md_doc_free(doc);
	}
	free(first);
}
END_TEST

START_TEST(crlf_bom_and_empty_input)
{
	struct flue_md_doc *doc = new_doc();
	struct flue_error err = {0};
	struct flue_md_fragment nul = { .text = "a\0b\n", .len = 4 };
	char *out;

	check_render("# A\r\n\r\ntext\r\nmore\rlast\r\n", 0,
	             "# A\n\ntext\nmore\nlast\n", "1:A");
	check_render("\xef\xbb\xbf# A\n", 1, "## A\n", "2:A");

	/* Nothing at all, blank fragments, a fragment of only definitions. */
	out = render(doc, "");
	ck_assert_str_eq(out, "");
	free(out);
	append(doc, "", 0);
	append(doc, "\n \n\t\n", 0);
	append(doc, "[a]: https://example.org/\n", 0);
	out = render(doc, "");
	ck_assert_str_eq(out, "");
	free(out);
	/* A BOM on a later fragment, and a fragment with a NUL byte. */
	append(doc, "text\n", 0);
	append(doc, "\xef\xbb\xbf# B\n", 0);
	ck_assert_int_eq(flue_md_doc_append(doc, &nul, &err), 0);
	out = render(doc, "1:B");
	ck_assert_str_eq(out, "text\n\n# B\n\na\xef\xbf\xbd" "b\n");
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

START_TEST(invalid_utf8_in_the_source_is_replaced)
{
	check_render("# caf\xe9\n\nbad \xc0\xaf and \xed\xa0\x80 and "
	             "\xf4\x90\x80\x80 end\n", 0,
	             "# caf\xef\xbf\xbd\n\nbad \xef\xbf\xbd\xef\xbf\xbd and "
	             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd and "
	             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end\n",
	             "1:caf\xef\xbf\xbd");
}
END_TEST

/* ---- substitution ------------------------------------------------------- */

START_TEST(subst_in_text)
{
	struct vars v = { { "name", "n" }, { "World", "snake_case" } };
	char *out;

	out = render_one("# Hi {{name}}\n\nHello {{name}}, *{{n}}*!\n", 1, &v,
	                 "2:Hi World", NULL);
	ck_assert_str_eq(first_of(out, CMARK_NODE_PARAGRAPH),
	                 "Hello World, snake_case!");
	free(out);
}
END_TEST

START_TEST(subst_in_code_span_and_block)
{
	struct vars v = { { "cmd", "body" },
	                  { "a`b\nc", "```\n# Evil\n```\n~~~\n" } };
	char *out;

	out = render_one("Run `{{cmd}}` now.\n\n```sh\n{{body}}\n```\n\n"
	                 "# After\n", 0, &v, "1:After", NULL);
	ck_assert_str_eq(first_of(out, CMARK_NODE_CODE), "a`b c");
	ck_assert_str_eq(first_of(out, CMARK_NODE_CODE_BLOCK),
	                 "```\n# Evil\n```\n~~~\n\n");
	ck_assert_str_eq(blocks(out), "paragraph,code_block,heading");
	free(out);
}
END_TEST

/* cmark fences a code block whose info string has a backtick with
 * tildes, and does not look for tildes inside. */
START_TEST(tildes_in_code_cannot_close_a_tilde_fence)
{
	struct vars v = { { "x" }, { "~~~\n# Injected\n~~~~~" } };
	char *out;

	out = render_one("~~~ a`b\n{{x}}\n~~~\n\n# After\n", 0, &v, "1:After",
	                 NULL);
	ck_assert_str_eq(blocks(out), "code_block,heading");
	ck_assert_str_eq(first_of(out, CMARK_NODE_CODE_BLOCK),
	                 "~~~\n# Injected\n~~~~~\n");
	free(out);
	/* From the source alone, through the fallback. */
	out = render_one("~~~~ a`b\n~~~\n# in code\n", 0, NULL, "", NULL);
	ck_assert_str_eq(blocks(out), "code_block");
	ck_assert_str_eq(first_of(out, CMARK_NODE_CODE_BLOCK),
	                 "~~~\n# in code\n");
	free(out);
}
END_TEST

START_TEST(subst_in_link_url_and_title)
{
	struct vars v = { { "u", "t" },
	                  { "https://x.example/a b)\n# H",
	                    "say \"hi\"\n\n# H" } };
	char *out;

	out = render_one("See [the docs]({{u}} \"{{t}}\") and "
	                 "![img]({{u}}).\n", 0, &v, "", NULL);
	ck_assert_str_eq(first_of(out, CMARK_NODE_LINK),
	                 "https://x.example/a%20b)%0A#%20H");
	ck_assert_str_eq(first_of(out, CMARK_NODE_IMAGE),
	                 "https://x.example/a%20b)%0A#%20H");
	ck_assert_str_eq(blocks(out), "paragraph");
	ck_assert_int_eq(count_of(out, CMARK_NODE_LINK), 1);
	free(out);
}
END_TEST

START_TEST(subst_in_html_is_escaped)
{
	struct vars v = { { "x", "y" },
	                  { "--> <script>alert(1)</script>\n# H",
	                    "\"><b>bold</b>" } };
	char *out;

	out = render_one("<!-- {{x}} -->\n\nText <span title=\"{{y}}\">"
	                 "here</span>.\n", 0, &v, "", NULL);
	ck_assert_ptr_null(strstr(out, "<script>"));
	ck_assert_ptr_null(strstr(out, "<b>"));
	ck_assert_ptr_nonnull(strstr(out, "&lt;&#33;-- --&gt; &lt;script&gt;"));
	ck_assert_ptr_nonnull(strstr(out, "&#10;&#35; H"));
	ck_assert_int_eq(count_of(out, CMARK_NODE_HTML_BLOCK), 0);
	ck_assert_int_eq(count_of(out, CMARK_NODE_HTML_INLINE), 1);
	ck_assert_str_eq(blocks(out), "paragraph,paragraph");
	free(out);
}
END_TEST

START_TEST(newlines_in_values_stay_in_the_paragraph)
{
	struct vars v = { { "x" }, { "one  \ntwo\r\n\n \n  three\n" } };
	cmark_node *root;
	char *out, *xml;

	out = render_one("A {{x}} B\n", 0, &v, "", NULL);
	ck_assert_str_eq(blocks(out), "paragraph");
	root = cmark_parse_document(out, strlen(out), 0);
	xml = cmark_render_xml(root, 0);
	ck_assert_ptr_nonnull(strstr(xml,
		"<text xml:space=\"preserve\">A one</text>\n    <softbreak />\n"
		"    <text xml:space=\"preserve\">two</text>\n    <softbreak />\n"
		"    <text xml:space=\"preserve\">three</text>\n"
		"    <softbreak />\n    <text xml:space=\"preserve\">B</text>"));
	ck_assert_ptr_null(strstr(xml, "linebreak"));
	free(xml);
	cmark_node_free(root);
	free(out);
}
END_TEST

/* value put into md, a fragment under "# Top": the blocks are still
 * want_shape (an empty or blank value may leave a paragraph out), and
 * nothing else appeared. */
static void
check_injection(const char *md, const char *want_shape, const char *value)
{
	struct vars v = { { "x" }, { value } };
	struct flue_md_doc *doc = new_doc();
	int in_heading = strstr(md, "# T") != NULL;
	char *out, want[256];
	const char *shape;
	size_t n;

	append(doc, "# Top\n", 0);
	append_sub(doc, md, 1, &v);
	/* In the heading, the value is its text, on one line. */
	snprintf(want, sizeof(want), in_heading ? "1:Top|2:T %s" : "1:Top",
	         value);
	for (char *c = want; *c; c++)
		if (*c == '\n')
			*c = ' ';
	for (n = strlen(want); want[n - 1] == ' ' || want[n - 1] == '\t'; n--)
		want[n - 1] = '\0';
	out = render(doc, want);
	shape = blocks(out);
	ck_assert_msg(strncmp(shape, "heading", 7) == 0, "%s / %s:\n%s", md,
	              value, out);
	shape += shape[7] == ',' ? 8 : 7;
	ck_assert_msg(strcmp(shape, want_shape) == 0 ||
	              strspn(value, " \n-") == strlen(value),
	              "<%s> in <%s> gave %s:\n%s", value, md, shape, out);
	ck_assert_int_eq(count_of(out, CMARK_NODE_HEADING), in_heading ? 2 : 1);
	ck_assert_int_eq(count_of(out, CMARK_NODE_HTML_BLOCK), 0);
	ck_assert_int_eq(count_of(out, CMARK_NODE_CODE_BLOCK), 0);
	ck_assert_int_eq(count_of(out, CMARK_NODE_THEMATIC_BREAK), 0);
	ck_assert_msg(count_of(out, CMARK_NODE_LINK) ==
	              (strstr(md, "](") ? 1 : 0), "<%s> in <%s>:\n%s", value,
	              md, out);
	free(out);
	flue_md_doc_free(doc);
}

/* Every injection attempt, in every place a value can be: the structure
 * stays what the fragment had. */
START_TEST(injection_attempts_stay_literal)
{
	static const char *values[] = {
		"x\n\n# Injected\n---\n", "---", "***", "___", "# H", "=====",
		"<!--", "]]>", "</script>", "<script>", "<div>", "    code",
		"- item", "* item", "+ item", "1. item", "12) item", "> quote",
		"```", "~~~", "~~~~ x", "[a]: https://evil.example/", "|a|b|",
		"\t\tcode", "\n\n    code", "x  \n# H", "x\\\n# H", "&#35; H",
		"", " ", "\n", "\n\n\n", "- \n- ", "<http://x>", "`", "***x***",
	};
	static const struct { const char *md, *shape; } places[] = {
		{ "{{x}}\n", "paragraph" },
		{ "Before\n\n{{x}}\n\nAfter\n",
		  "paragraph,paragraph,paragraph" },
		{ "a\n{{x}}\nb\n", "paragraph" },
		{ "# T {{x}}\n", "heading" },
		{ "- {{x}}\n- b\n", "list,item,paragraph,item,paragraph" },
		{ "> {{x}}\n", "block_quote,paragraph" },
		{ "*{{x}}* and **{{x}}**\n", "paragraph" },
		{ "[{{x}}](https://example.org/)\n", "paragraph" },
	};

	for (size_t p = 0; p < sizeof(places) / sizeof(places[0]); p++)
		for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
			check_injection(places[p].md, places[p].shape,
			                values[i]);
}
END_TEST

START_TEST(invalid_utf8_in_values_is_replaced)
{
	struct vars v = { { "x", "c", "u" },
	                  { "bad \xff\xfe end \xe2\x82", "\xc3\xef\xbf\xbf",
	                    "/p\xe9" } };
	char *out;

	out = render_one("Text {{x}} and `{{c}}` [l]({{u}})\n\n```\n{{x}}\n"
	                 "```\n", 0, &v, "", NULL);
	ck_assert_str_eq(first_of(out, CMARK_NODE_PARAGRAPH),
	                 "Text bad \xef\xbf\xbd\xef\xbf\xbd end "
	                 "\xef\xbf\xbd\xef\xbf\xbd and "
	                 "\xef\xbf\xbd\xef\xbf\xbd l");
	ck_assert_str_eq(first_of(out, CMARK_NODE_LINK), "/p\xef\xbf\xbd");
	ck_assert_str_eq(first_of(out, CMARK_NODE_CODE_BLOCK),
	                 "bad \xef\xbf\xbd\xef\xbf\xbd end "
	                 "\xef\xbf\xbd\xef\xbf\xbd\n");
	free(out);
}
END_TEST

/* Values are C strings: one with a NUL inside ends there. */
START_TEST(values_end_at_their_first_nul)
{
	struct vars v = { { "x" }, { "kept\0dropped" } };
	char *out;

	out = render_one("A {{x}} B\n", 0, &v, "", NULL);
	ck_assert_str_eq(out, "A kept B\n");
	free(out);
}
END_TEST

struct call {
	char text[64];
	unsigned line, column;
};

struct calls {
	struct call v[16];
	size_t n;
};

static int
record(void *payload, const char *text, size_t len, unsigned line,
       unsigned column, char **out, struct flue_error *err)
{
	struct calls *c = payload;

	ck_assert_uint_eq(len, strlen(text));
	ck_assert_uint_lt(c->n, 16);
	snprintf(c->v[c->n].text, sizeof(c->v[c->n].text), "%s", text);
	c->v[c->n].line = line;
	c->v[c->n].column = column;
	c->n++;
	return 0;
}

START_TEST(subst_sees_each_value_with_its_position)
{
	static const struct call want[] = {
		{ "Title", 10, 3 }, { "Some ", 12, 1 }, { "code", 12, 7 },
		{ " and ", 12, 12 }, { "a link", 12, 18 },
		{ "https://example.org/", 12, 17 }, { "t", 12, 17 },
		{ "x = 1\n", 15, 1 }, { "<!-- c -->\n", 18, 1 },
		{ "item", 20, 3 }, { "second line", 21, 3 },
	};
	struct calls c = {0};
	struct flue_md_doc *doc = new_doc();
	struct flue_md_fragment f = {
		.text = "# Title\n\nSome `code` and [a link]"
		        "(https://example.org/ \"t\")\n\n"
		        "```\nx = 1\n```\n\n<!-- c -->\n\n"
		        "- item\n  second line\n",
		.filename = "skills/x.md", .first_line = 10,
		.subst = record, .subst_payload = &c,
	};
	struct flue_error err = {0};
	char *out;

	f.len = strlen(f.text);
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), 0);
	ck_assert_uint_eq(c.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < c.n; i++) {
		ck_assert_str_eq(c.v[i].text, want[i].text);
		ck_assert_msg(c.v[i].line == want[i].line &&
		              c.v[i].column == want[i].column,
		              "<%s> at %u:%u, want %u:%u", c.v[i].text,
		              c.v[i].line, c.v[i].column, want[i].line,
		              want[i].column);
	}
	/* Nothing changed: the fragment is spliced as it is. */
	out = render(doc, "1:Title");
	ck_assert_str_eq(out, f.text);
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 0);
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

static int
fail_on_bad(void *payload, const char *text, size_t len, unsigned line,
            unsigned column, char **out, struct flue_error *err)
{
	*out = strdup("leaked if not freed");
	if (strstr(text, "{{bad}}") == NULL)
		return 0;
	if (payload != NULL)
		return FLUE_ENOENT;    /* no message */
	return flue_error_set(err, FLUE_EINVAL, "skills/x.md:%u:%u: unknown "
	                      "variable 'bad'", line, column);
}

START_TEST(subst_errors_propagate)
{
	struct flue_md_doc *doc = new_doc();
	struct flue_md_fragment f = {
		.text = "ok\n\nsee {{bad}}\n", .filename = "skills/x.md",
		.first_line = 3, .subst = fail_on_bad,
	};
	struct flue_error err = {0};
	char *out;

	f.len = strlen(f.text);
	append(doc, "# Kept\n", 0);
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), FLUE_EINVAL);
	ck_assert_int_eq(err.code, FLUE_EINVAL);
	ck_assert_str_eq(err.message,
	                 "skills/x.md:5:1: unknown variable 'bad'");
	/* Without a message, one naming the place is made up. */
	f.subst_payload = &f;
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), FLUE_ENOENT);
	ck_assert_str_eq(err.message,
	                 "skills/x.md:5:1: substitution failed (not_found)");
	/* The document is as it was. */
	out = render(doc, "1:Kept");
	ck_assert_str_eq(out, "# Kept\n");
	free(out);
	flue_md_doc_free(doc);
}
END_TEST

START_TEST(empty_values_leave_no_markup)
{
	struct vars v = { { "x" }, { "" } };
	char *out;

	out = render_one("**{{x}}**\n\n*{{x}}*\n\ntext *{{x}}*\n", 0, &v, "",
	                 NULL);
	ck_assert_str_eq(out, "text\n");
	free(out);
	/* Nested items left empty would be a line of markers, which is a
	 * thematic break; after a paragraph, a "-" underlining it. */
	out = render_one("- - - - {{x}}\n\ntext\n", 0, &v, "", NULL);
	ck_assert_str_eq(out, "text\n");
	free(out);
	out = render_one("- a\n  - {{x}}\n", 0, &v, "", NULL);
	ck_assert_str_eq(blocks(out), "list,item,paragraph");
	free(out);
}
END_TEST

/* Inline HTML that an emptied value leaves at the start of a line must
 * not open an HTML block there, which would swallow what follows. */
START_TEST(inline_html_left_first_stays_inline)
{
	struct vars v = { { "x" }, { "" } };
	char *out;

	out = render_one("{{x}}<script> tail\n\n# After\n\n{{x}}<div>\n\n"
	                 "{{x}}<foo>\nlone tag\n\ntext\n{{x}}<foo>\nmore\n\n"
	                 "{{x}}<kbd>K</kbd> key\n", 0, &v, "1:After", NULL);
	ck_assert_str_eq(blocks(out), "paragraph,heading,paragraph,paragraph,"
	                 "paragraph,paragraph");
	ck_assert_int_eq(count_of(out, CMARK_NODE_HTML_BLOCK), 0);
	ck_assert_str_eq(first_of(out, CMARK_NODE_PARAGRAPH), "<script> tail");
	/* A lone tag cannot interrupt a paragraph, and <kbd> with text
	 * after it opens no block: those stay HTML. */
	ck_assert_int_eq(count_of(out, CMARK_NODE_HTML_INLINE), 3);
	free(out);
	/* A line inside emphasis starts a line too. */
	out = render_one("*a\n{{x}}<div> b*\n\n# After\n", 0, &v, "1:After",
	                 NULL);
	ck_assert_str_eq(blocks(out), "paragraph,heading");
	free(out);
	v.value[0] = "~~~ b";
	out = render_one("*a\n{{x}}*\n\n# After\n", 0, &v, "1:After", NULL);
	ck_assert_str_eq(blocks(out), "paragraph,heading");
	ck_assert_int_eq(count_of(out, CMARK_NODE_EMPH), 1);
	free(out);
}
END_TEST

START_TEST(byte_order_marks_are_dropped_anywhere)
{
	struct vars v = { { "x" }, { "\xef\xbb\xbfvalue" } };
	char *out;

	out = render_one("\n\xef\xbb\xbfText \xef\xbb\xbfhere\n", 0, NULL, "",
	                 NULL);
	ck_assert_str_eq(out, "Text here\n");
	free(out);
	out = render_one("{{x}}\n", 0, &v, "", NULL);
	ck_assert_str_eq(out, "value\n");
	free(out);
}
END_TEST

/* ---- limits and arguments ----------------------------------------------- */

START_TEST(oversized_fragment_is_refused)
{
	struct flue_md_doc *doc = new_doc();
	struct flue_md_fragment f = { .filename = "agents/big.md" };
	struct flue_error err = {0};
	char *big = malloc(FLUE_MD_MAX_FRAGMENT + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', FLUE_MD_MAX_FRAGMENT + 1);
	f.text = big;
	f.len = FLUE_MD_MAX_FRAGMENT + 1;
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), FLUE_EINVAL);
	ck_assert_str_eq(err.message, "agents/big.md: 4194305 bytes of "
	                 "Markdown, more than the 4194304 a fragment may have");
	/* The limit itself is fine. */
	f.len = FLUE_MD_MAX_FRAGMENT;
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), 0);
	free(big);
	flue_md_doc_free(doc);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	struct flue_md_doc *doc = new_doc();
	struct flue_md_fragment f = { .text = NULL, .len = 3 };
	struct flue_error err = {0};
	char *out = (char *)&err;

	ck_assert_int_eq(flue_md_doc_new(NULL, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_md_doc_append(NULL, &f, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_md_doc_append(doc, NULL, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_md_doc_render(NULL, &out, NULL, &err),
	                 FLUE_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(flue_md_doc_render(doc, NULL, NULL, NULL),
	                 FLUE_EINVAL);
	ck_assert_int_eq(flue_md_escape(NULL, 1, &out, &err), FLUE_EINVAL);
	ck_assert_int_eq(flue_md_doc_used_fallback(NULL), 0);
	ck_assert_int_eq(flue_md_doc_used_fallback(doc), 0);
	/* A NULL text of length 0 is an empty fragment. */
	f.len = 0;
	ck_assert_int_eq(flue_md_doc_append(doc, &f, &err), 0);
	flue_md_doc_free(doc);
	flue_md_doc_free(NULL);
}
END_TEST

/* ---- escaping ----------------------------------------------------------- */

static void
check_escape(const char *text, size_t len, const char *want)
{
	struct flue_error err = {0};
	char *out = NULL;
	cmark_node *root;
	char line[1024];

	ck_assert_int_eq(flue_md_escape(text, len, &out, &err), 0);
	ck_assert_str_eq(out, want);
	/* Read as Markdown, it is one paragraph of the text itself. */
	if (out[strspn(out, " ")] != '\0') {
		root = cmark_parse_document(out, strlen(out), 0);
		ck_assert_str_eq(blocks(out), "paragraph");
		plain_text(cmark_node_first_child(root), line, sizeof(line));
		ck_assert_int_eq(count_of(out, CMARK_NODE_TEXT), 1);
		cmark_node_free(root);
	}
	free(out);
}

START_TEST(escape_makes_text_literal)
{
	check_escape("", 0, "");
	check_escape("plain words", 11, "plain words");
	check_escape("snake_case *b* [x](y) `c` <d> #e !f |g| ~h~ &amp; \\",
	             51, "snake\\_case \\*b\\* \\[x\\](y) \\`c\\` \\<d\\> \\#e "
	             "\\!f \\|g\\| \\~h\\~ \\&amp; \\\\");
	check_escape("- item", 6, "\\- item");
	check_escape("+ item", 6, "\\+ item");
	check_escape("===", 3, "\\===");
	check_escape("12. item", 8, "12\\. item");
	check_escape("3) item", 7, "3\\) item");
	check_escape("  - x", 5, "  \\- x");
	check_escape("a - b + c = 1. d", 16, "a - b + c = 1. d");
	check_escape("line\r\nbreak\nand\ttab\x7f", 20,
	             "line break and tab ");
	check_escape("\n- x", 4, " \\- x");
	check_escape("caf\xc3\xa9 \xe9 \x00!", 10,
	             "caf\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\\!");
}
END_TEST

static Suite *
markdown_suite(void)
{
	Suite *s = suite_create("markdown");
	TCase *headings = tcase_create("headings");
	TCase *splice = tcase_create("splice");
	TCase *subst = tcase_create("subst");
	TCase *misc = tcase_create("misc");

	tcase_set_timeout(headings, 30);
	tcase_set_timeout(splice, 30);
	tcase_set_timeout(subst, 60);
	tcase_set_timeout(misc, 60);

	tcase_add_test(headings, atx_levels_shift_by_0_1_2);
	tcase_add_test(headings, shifts_clamp_to_1_and_6);
	tcase_add_test(headings, setext_headings_become_atx);
	tcase_add_test(headings, closing_sequences_are_dropped);
	tcase_add_test(headings, multi_line_setext_content_stays_on_one_line);
	tcase_add_test(headings,
	               headings_in_lists_and_quotes_shift_by_fallback);
	tcase_add_test(headings, fragments_nest_under_sections);
	suite_add_tcase(s, headings);

	tcase_add_test(splice, ordinary_markdown_is_copied_byte_for_byte);
	tcase_add_test(splice,
	               unclosed_fence_does_not_swallow_the_next_fragment);
	tcase_add_test(splice,
	               unclosed_html_does_not_swallow_the_next_fragment);
	tcase_add_test(splice, link_references_stay_in_their_fragment);
	tcase_add_test(splice, lazy_lines_and_open_lists_fall_back);
	tcase_add_test(splice, fallback_keeps_escaped_block_starts);
	tcase_add_test(splice, first_thematic_break_is_never_dashes);
	tcase_add_test(splice, render_is_byte_stable);
	tcase_add_test(splice, crlf_bom_and_empty_input);
	tcase_add_test(splice, invalid_utf8_in_the_source_is_replaced);
	suite_add_tcase(s, splice);

	tcase_add_test(subst, subst_in_text);
	tcase_add_test(subst, subst_in_code_span_and_block);
	tcase_add_test(subst, tildes_in_code_cannot_close_a_tilde_fence);
	tcase_add_test(subst, subst_in_link_url_and_title);
	tcase_add_test(subst, subst_in_html_is_escaped);
	tcase_add_test(subst, newlines_in_values_stay_in_the_paragraph);
	tcase_add_test(subst, injection_attempts_stay_literal);
	tcase_add_test(subst, invalid_utf8_in_values_is_replaced);
	tcase_add_test(subst, values_end_at_their_first_nul);
	tcase_add_test(subst, subst_sees_each_value_with_its_position);
	tcase_add_test(subst, subst_errors_propagate);
	tcase_add_test(subst, empty_values_leave_no_markup);
	tcase_add_test(subst, inline_html_left_first_stays_inline);
	tcase_add_test(subst, byte_order_marks_are_dropped_anywhere);
	suite_add_tcase(s, subst);

	tcase_add_test(misc, oversized_fragment_is_refused);
	tcase_add_test(misc, bad_arguments_are_refused);
	tcase_add_test(misc, escape_makes_text_literal);
	suite_add_tcase(s, misc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(markdown_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
