/* System prompt assembly.  Every part goes through the Markdown module,
 * which nests the headings of each file under the section it is placed
 * in and renders one stable document.  The fixed text is kept short: it
 * is paid for on every turn. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontmatter.h"
#include "markdown.h"
#include "prompt.h"
#include "template.h"

/* Sections are level 2; a file's # H1 becomes ### under them. */
#define SECTION_SHIFT 2

static const char preamble[] =
	"You are an agent running headless: nobody is watching and nobody "
	"will answer questions. Work on your own with the tools you have, "
	"make reasonable assumptions, and finish the task.";

static const char skills_intro[] =
	"Each skill is a folder of instructions. Before doing a task that "
	"matches a skill's description, read its SKILL.md and follow it.";

/* A growing string. */
struct buf {
	char *data;
	size_t len, cap;
	int failed;
};

static void
buf_add(struct buf *b, const char *s, size_t len)
{
	if (b->failed)
		return;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		char *grown;

		while (cap < b->len + len + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (grown == NULL) {
			b->failed = 1;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append escaped literal text. */
static void
buf_literal(struct buf *b, const char *s)
{
	char *escaped = NULL;

	if (flue_md_escape(s, strlen(s), &escaped, NULL) != 0) {
		b->failed = 1;
		return;
	}
	buf_str(b, escaped);
	free(escaped);
}

/* Append flue's own Markdown; its bytes count as fixed. */
static int
append_own(struct flue_md_doc *doc, const char *text, size_t *fixed,
           struct flue_error *err)
{
	struct flue_md_fragment frag = {0};

	frag.text = text;
	frag.len = strlen(text);
	frag.first_line = 1;
	*fixed += frag.len + 1;
	return flue_md_doc_append(doc, &frag, err);
}

/* The {{payload...}} substitution in instructions (no ${NAME}: the
 * environment holds secrets, and shell snippets in instructions use
 * ${...} literally). */
static int
substitute_payload(void *arg, const char *text, size_t len, unsigned line,
                   unsigned column, char **out, struct flue_error *err)
{
	const struct flue_template_context *ctx = arg;
	size_t out_len;

	*out = NULL;
	if (!flue_template_has_refs(ctx, text, len))
		return 0;
	return flue_template_expand(ctx, text, len, line, column, out, &out_len,
	                            err);
}

static int
append_section(struct flue_md_doc *doc, const char *heading, size_t *fixed,
               struct flue_error *err)
{
	char text[128];

	snprintf(text, sizeof(text), "## %s", heading);
	return append_own(doc, text, fixed, err);
}

static int
append_file_body(struct flue_md_doc *doc, const char *text, size_t len,
                 const char *filename, unsigned first_line,
                 const struct flue_template_context *ctx,
                 struct flue_error *err)
{
	struct flue_md_fragment frag = {0};

	frag.text = text;
	frag.len = len;
	frag.filename = filename;
	frag.first_line = first_line;
	frag.heading_shift = SECTION_SHIFT;
	if (ctx != NULL) {
		frag.subst = substitute_payload;
		frag.subst_payload = (void *)ctx;
	}
	return flue_md_doc_append(doc, &frag, err);
}

/* Whether len bytes of text hold anything but white space. */
static int
has_content(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' &&
		    text[i] != '\r')
			return 1;
	return 0;
}

/* AGENTS.md then CLAUDE.md from the working directory (both when both
 * exist), frontmatter dropped, under one section. */
static int
append_context(struct flue_md_doc *doc, const struct flue_prompt_input *in,
               size_t *fixed, int *found, struct flue_error *err)
{
	static const char *const names[] = {"AGENTS.md", "CLAUDE.md"};
	struct flue_bytes files[2] = {{0}};
	char paths[2][4096];
	int rc = 0, any = 0;

	*found = 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct flue_stat st;

		snprintf(paths[i], sizeof(paths[i]), "%s%s%s", in->cwd,
		         in->cwd[strlen(in->cwd) - 1] == '/' ? "" : "/", names[i]);
		/* One stat tells both whether the file is there and its size:
		 * on a remote sandbox every call is a round trip. */
		rc = flue_workspace_stat(in->workspace, paths[i], &st, err);
		if (rc == FLUE_ENOENT) {
			flue_error_clear(err);
			rc = 0;
			continue;
		}
		if (rc == 0 && st.size > FLUE_CONTEXT_MAX_BYTES)
			rc = flue_error_set(err, FLUE_EINVAL, "%s is %llu bytes; the "
			                    "project context is limited to %d bytes",
			                    paths[i], (unsigned long long)st.size,
			                    FLUE_CONTEXT_MAX_BYTES);
		if (rc == 0)
			rc = flue_workspace_read_file(in->workspace, paths[i],
			                              &files[i], err);
		if (rc == 0 && has_content((const char *)files[i].data, files[i].len))
			any = 1;
	}
	if (rc == 0 && any)
		rc = append_section(doc, "Project context", fixed, err);
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct flue_frontmatter parts;
		struct flue_error ignored = {0};

		if (files[i].data == NULL || !has_content((const char *)files[i].data,
		                                          files[i].len))
			continue;
		(*found)++;
		/* An unclosed --- is just Markdown here: the file is context,
		 * not settings. */
		if (flue_frontmatter_split((const char *)files[i].data, files[i].len, paths[i],
		                           &parts, &ignored) != 0) {
			parts.body = (const char *)files[i].data;
			parts.body_len = files[i].len;
			parts.body_line = 1;
		}
		rc = append_file_body(doc, parts.body, parts.body_len, paths[i],
		                      parts.body_line, NULL, err);
	}
	for (int i = 0; i < 2; i++)
		flue_bytes_free(&files[i]);
	return rc;
}

static int
append_skills(struct flue_md_doc *doc, const struct flue_skill_set *skills,
              size_t *fixed, struct flue_error *err)
{
	struct buf list = {0};
	struct flue_md_fragment frag = {0};
	int rc;

	if (skills == NULL || skills->count == 0)
		return 0;
	rc = append_section(doc, "Skills", fixed, err);
	if (rc == 0)
		rc = append_own(doc, skills_intro, fixed, err);
	for (size_t i = 0; i < skills->count && rc == 0; i++) {
		const struct flue_skill *s = &skills->items[i];

		buf_str(&list, "- **");
		buf_literal(&list, s->name);
		buf_str(&list, "**: ");
		buf_literal(&list, s->description);
		buf_str(&list, " (");
		buf_literal(&list, s->path);
		buf_str(&list, ")\n");
		*fixed += strlen("- ****:  ()\n");
	}
	if (list.failed) {
		free(list.data);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	frag.text = list.data;
	frag.len = list.len;
	frag.first_line = 1;
	if (rc == 0)
		rc = flue_md_doc_append(doc, &frag, err);
	free(list.data);
	return rc;
}

struct listing {
	char **names;
	size_t n, cap;
	int failed;
};

static int
collect_entry(void *payload, const char *name, uint32_t type)
{
	struct listing *l = payload;
	char *entry;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **grown = realloc(l->names, cap * sizeof(char *));

		if (grown == NULL) {
			l->failed = 1;
			return 1;
		}
		l->names = grown;
		l->cap = cap;
	}
	if (asprintf(&entry, "%s%s", name,
	             type == FLUE_FILE_DIRECTORY ? "/" : "") < 0) {
		l->failed = 1;
		return 1;
	}
	l->names[l->n++] = entry;
	return 0;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
append_environment(struct flue_md_doc *doc,
                   const struct flue_prompt_input *in, size_t *fixed,
                   struct flue_error *err)
{
	struct listing listing = {0};
	struct buf text = {0};
	struct flue_md_fragment frag = {0};
	char date[64];
	struct tm tm;
	int rc;

	rc = append_section(doc, "Environment", fixed, err);
	if (rc != 0)
		return rc;
	localtime_r(&in->now, &tm);
	strftime(date, sizeof(date), "%a, %b %-d, %Y", &tm);
	buf_str(&text, "- Date: ");
	buf_str(&text, date);
	buf_str(&text, "\n- Working directory: ");
	buf_literal(&text, in->cwd);
	buf_str(&text, "\n");
	*fixed += strlen("- Date: \n- Working directory: \n");
	if (in->workspace != NULL) {
		struct flue_error ignored = {0};

		/* A listing that fails (permissions) is left out, not fatal. */
		if (flue_workspace_list_dir(in->workspace, in->cwd, collect_entry,
		                            &listing, &ignored) == 0 &&
		    !listing.failed && listing.n > 0) {
			qsort(listing.names, listing.n, sizeof(char *),
			      compare_strings);
			buf_str(&text, "- Top-level entries: ");
			*fixed += strlen("- Top-level entries: \n");
			for (size_t i = 0; i < listing.n && i < FLUE_LISTING_MAX; i++) {
				if (i > 0)
					buf_str(&text, ", ");
				buf_literal(&text, listing.names[i]);
			}
			if (listing.n > FLUE_LISTING_MAX) {
				char more[64];

				snprintf(more, sizeof(more), " and %zu more",
				         listing.n - FLUE_LISTING_MAX);
				buf_str(&text, more);
			}
			buf_str(&text, "\n");
		}
		for (size_t i = 0; i < listing.n; i++)
			free(listing.names[i]);
		free(listing.names);
		if (listing.failed)
			text.failed = 1;
	}
	if (text.failed) {
		free(text.data);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	frag.text = text.data;
	frag.len = text.len;
	frag.first_line = 1;
	rc = flue_md_doc_append(doc, &frag, err);
	free(text.data);
	return rc;
}

static int
render_overlay(const struct flue_prompt_input *in,
               const struct flue_template_context *ctx,
               struct flue_prompt *out, struct flue_error *err)
{
	const struct flue_role *role = in->role;
	struct flue_md_doc *doc = NULL;
	char heading[128];
	size_t fixed = 0;
	int rc;

	if (role == NULL || !has_content(role->file.body, role->file.body_len))
		return 0;
	rc = flue_md_doc_new(&doc, err);
	if (rc != 0)
		return rc;
	snprintf(heading, sizeof(heading), "Role: %s", role->file.name);
	rc = append_section(doc, heading, &fixed, err);
	if (rc == 0)
		rc = append_file_body(doc, role->file.body, role->file.body_len,
		                      role->file.path, role->file.body_line, ctx,
		                      err);
	if (rc == 0)
		rc = flue_md_doc_render(doc, &out->overlay, &out->overlay_len, err);
	out->fixed_bytes += fixed;
	flue_md_doc_free(doc);
	return rc;
}

int
flue_prompt_build(const struct flue_prompt_input *in, struct flue_prompt *out,
                  struct flue_error *err)
{
	struct flue_template_context ctx = {0};
	struct flue_md_doc *doc = NULL;
	size_t fixed = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	ctx.payload = in->payload;
	ctx.flags = FLUE_TEMPLATE_PAYLOAD;
	ctx.filename = in->agent ? in->agent->path : NULL;
	rc = flue_md_doc_new(&doc, err);
	if (rc == 0)
		rc = append_own(doc, preamble, &fixed, err);
	if (rc == 0 && in->agent != NULL &&
	    has_content(in->agent->body, in->agent->body_len)) {
		rc = append_section(doc, "Instructions", &fixed, err);
		if (rc == 0)
			rc = append_file_body(doc, in->agent->body,
			                      in->agent->body_len, in->agent->path,
			                      in->agent->body_line, &ctx, err);
	}
	if (rc == 0 && in->workspace != NULL)
		rc = append_context(doc, in, &fixed, &out->context_files, err);
	if (rc == 0)
		rc = append_skills(doc, in->skills, &fixed, err);
	if (rc == 0)
		rc = append_environment(doc, in, &fixed, err);
	if (rc == 0)
		rc = flue_md_doc_render(doc, &out->base, &out->base_len, err);
	flue_md_doc_free(doc);
	out->fixed_bytes = fixed;
	if (rc == 0) {
		if (in->role != NULL)
			ctx.filename = in->role->file.path;
		rc = render_overlay(in, &ctx, out, err);
	}
	if (rc == 0) {
		size_t len = out->base_len + (out->overlay ? 1 + out->overlay_len : 0);

		out->system = malloc(len + 1);
		if (out->system == NULL)
			rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		else {
			memcpy(out->system, out->base, out->base_len);
			if (out->overlay != NULL) {
				out->system[out->base_len] = '\n';
				memcpy(out->system + out->base_len + 1, out->overlay,
				       out->overlay_len);
			}
			out->system[len] = '\0';
			out->system_len = len;
		}
	}
	if (rc != 0)
		flue_prompt_clear(out);
	return rc;
}

void
flue_prompt_clear(struct flue_prompt *prompt)
{
	if (prompt == NULL)
		return;
	free(prompt->base);
	free(prompt->overlay);
	free(prompt->system);
	memset(prompt, 0, sizeof(*prompt));
}
