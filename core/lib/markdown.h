/* System prompts from Markdown fragments: each fragment is parsed with
 * cmark, its headings are nested under the caller's section and its
 * template values are put into the parsed tree (never into the source),
 * and the whole is rendered as one CommonMark document that reads like
 * the files it came from. */
#ifndef FLUE_LIB_MARKDOWN_H
#define FLUE_LIB_MARKDOWN_H

#include <stddef.h>

#include <flue/flue.h>

/* The largest fragment flue_md_doc_append takes, in bytes. */
#define FLUE_MD_MAX_FRAGMENT (4u * 1024 * 1024)

/* A document being assembled.  Opaque; used from one thread at a time. */
struct flue_md_doc;

/* A substitution, called once for each value in a fragment's parsed tree, in
 * document order: the text of every text node (adjacent text nodes merged),
 * code span, code block, link and image destination and title, inline and
 * block HTML.
 *
 * text [borrowed] is NUL-terminated, len its length.  line and column are
 * 1-based and count from the top of the fragment's file (the fragment's
 * first_line is added); the column is approximate for text that does not start
 * its line, and a code block's position is that of its first content line.
 *
 * Set *out [caller-owned, malloc'd: the module frees it] to the replacement,
 * or leave it NULL to keep text.  The replacement is read up to its first NUL,
 * so a value cannot carry NUL bytes; invalid UTF-8 in it becomes U+FFFD.  It
 * is always literal: newlines in text become line breaks inside the same
 * paragraph (spaces in headings, code spans and titles), HTML values are
 * entity-escaped (< > & and the characters Markdown would read) and lose the
 * blanks around them, and nothing in a value can start a heading, a list, a
 * code fence or any other block.
 *
 * Return 0, or a FLUE_E* code with err [borrowed] filled; code and message are
 * what flue_md_doc_append returns (an empty message becomes "skills/x.md:5:1:
 * substitution failed (not_found)"). */
typedef int (*flue_md_subst_fn)(void *payload, const char *text, size_t len,
                                unsigned line, unsigned column, char **out,
                                struct flue_error *err);

/* One piece of the document. */
struct flue_md_fragment {
	const char *text;       /* [borrowed] Markdown, no frontmatter (the
	                         * caller strips it); need not end in NUL */
	size_t len;
	const char *filename;   /* [borrowed] for messages; may be NULL */
	unsigned first_line;    /* line of text[0] in filename; 1 for a
	                         * whole file (0 is taken as 1) */
	int heading_shift;      /* added to every heading's level, the
	                         * result kept within 1..6 */
	flue_md_subst_fn subst; /* may be NULL: no substitution */
	void *subst_payload;    /* [borrowed] handed to subst */
};

/* A new, empty document in *out [caller-owned], freed with
 * flue_md_doc_free.  0 or FLUE_EINVAL, FLUE_ENOMEM. */
int flue_md_doc_new(struct flue_md_doc **out, struct flue_error *err);

/* Free doc [transferred] and everything in it.  NULL is accepted. */
void flue_md_doc_free(struct flue_md_doc *doc);

/* Parse fragment [borrowed] and add its blocks after those already in doc
 * [borrowed]; nothing of fragment is kept after the call.  Any text is
 * Markdown: there are no parse errors.  A fragment with no blocks (empty,
 * blank lines, only link reference definitions) adds nothing.  CRLF and CR
 * line endings become LF; invalid UTF-8, NUL bytes and the noncharacters
 * U+FFFE and U+FFFF become U+FFFD; U+FEFF (a byte-order mark, at the start or
 * anywhere else) is dropped.  The same holds for substituted values.  An HTML
 * block that only its end closes (<script>, <pre>, <!--, <?, <![CDATA[...) and
 * that is left open at the end of the fragment gets that end when cmark
 * renders it, so that it cannot swallow the fragments after it.
 *
 * Errors: FLUE_EINVAL for a fragment over FLUE_MD_MAX_FRAGMENT bytes
 * ("agents/coder.md: 5000000 bytes of Markdown, more than the 4194304 a
 * fragment may have"), FLUE_ENOMEM, and whatever subst returns.  On error doc
 * is unchanged.  (cmark itself aborts when it runs out of memory; that is not
 * in our hands.) */
int flue_md_doc_append(struct flue_md_doc *doc,
                       const struct flue_md_fragment *fragment,
                       struct flue_error *err);

/* Render the whole of doc [borrowed] into *out [caller-owned], NUL-terminated,
 * *out_len bytes long (out_len may be NULL).  The text ends with exactly one
 * "\n"; an empty document gives "".  The same fragments always give the same
 * bytes.
 *
 * Fragments that no substitution changed are copied from their source, with
 * only their top-level headings rewritten as ATX headings of the new level; a
 * fragment that one changed is written by cmark's renderer (which escapes more
 * and re-indents lists); fragments are separated by one blank line.  The
 * result is parsed again and compared with the tree the fragments make; when
 * they differ (an unclosed code fence or HTML block that would swallow the
 * next fragment, a link reference defined in one fragment and used in another,
 * a shifted heading inside a list...), the document is rendered from the tree
 * by cmark instead (see flue_md_doc_used_fallback).  The text never starts
 * with a --- line, so it cannot be taken for frontmatter.  0 or FLUE_EINVAL,
 * FLUE_ENOMEM. */
int flue_md_doc_render(struct flue_md_doc *doc, char **out, size_t *out_len,
                       struct flue_error *err);

/* 1 when the last flue_md_doc_render of doc had to render the whole
 * document with cmark's renderer, 0 otherwise (and before any render). */
int flue_md_doc_used_fallback(const struct flue_md_doc *doc);

/* Escape text (len bytes) so that it reads literally as inline Markdown,
 * for names and descriptions the caller puts into Markdown of its own.
 * A backslash goes before each of \ ` * _ [ ] < > # ! | ~ & and, at the
 * start of the text (after leading spaces), before - + = and before the
 * . or ) that follows a run of digits.  Newlines (CRLF counting as one)
 * and the other ASCII control characters, tab and DEL included, become
 * single spaces; invalid UTF-8 and NUL bytes become U+FFFD.
 * *out [caller-owned] is NUL-terminated.  0 or FLUE_EINVAL, FLUE_ENOMEM. */
int flue_md_escape(const char *text, size_t len, char **out,
                   struct flue_error *err);

#endif
