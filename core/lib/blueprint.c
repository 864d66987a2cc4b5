/* Reading and checking blueprints (blueprints/README.md). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include "blueprint.h"
#include "common.h"
#include "fields.h"
#include "frontmatter.h"
#include "names.h"
#include "yaml.h"

#define BLUEPRINT_MAX_BYTES (4 * 1024 * 1024)
#define DESCRIPTION_MAX 120

const char *const flue_blueprint_kinds[] = {"sandbox", "provider", "tool",
                                            NULL};

static const char *const keys[] = {
	"kind", "name", "version", "description", "website", "aliases",
	"requires", "root", NULL
};

static int
fail(struct flue_error *err, const char *path, unsigned line,
     const char *fmt, ...) FLUE_PRINTF(4, 5);

static int
fail(struct flue_error *err, const char *path, unsigned line,
     const char *fmt, ...)
{
	char msg[FLUE_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return flue_error_set(err, FLUE_EINVAL, "%s:%u: %s", path, line, msg);
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
check_frontmatter(struct flue_blueprint *bp, json_object *meta,
                  const char *path, struct flue_error *err)
{
	struct flue_fields f = {path, err, 0};
	const char *kind = NULL, *name = NULL, *desc = NULL, *web = NULL;
	int present = 0, root = 0;
	const struct flue_yaml_pos *pos;

	if (flue_fields_keys(&f, meta, "", "blueprint settings", keys) != 0 ||
	    flue_fields_get_enum(&f, meta, "", "kind", flue_blueprint_kinds,
	                         &kind) != 0 ||
	    flue_fields_get_string(&f, meta, "", "name", &name) != 0 ||
	    flue_fields_get_int(&f, meta, "", "version", 1, 1000000,
	                        &bp->version, &present) != 0 ||
	    flue_fields_get_string(&f, meta, "", "description", &desc) != 0 ||
	    flue_fields_get_string(&f, meta, "", "website", &web) != 0 ||
	    flue_fields_get_string_list(&f, meta, "", "aliases",
	                                &bp->aliases) != 0 ||
	    flue_fields_get_string_list(&f, meta, "", "requires",
	                                &bp->requires) != 0 ||
	    flue_fields_get_bool(&f, meta, "", "root", &root, NULL) != 0)
		return FLUE_EINVAL;
	json_object_get(bp->aliases);
	json_object_get(bp->requires);
	if (kind == NULL || name == NULL || !present || desc == NULL)
		return fail(err, path, 1, "frontmatter: kind, name, version and "
		            "description are required%s%s%s%s",
		            kind ? "" : " (no kind)", name ? "" : " (no name)",
		            present ? "" : " (no version)",
		            desc ? "" : " (no description)");
	pos = flue_yaml_pos(json_object_object_get(meta, "name"));
	if (!flue_agent_name_valid(name))
		return fail(err, path, pos ? pos->line : 1, "name: '%s' is not "
		            "lower-kebab-case", name);
	if (root && strcmp(name, kind) != 0)
		return fail(err, path, pos ? pos->line : 1, "name: a generic "
		            "guide (root: true) is named after its kind, '%s'",
		            kind);
	pos = flue_yaml_pos(json_object_object_get(meta, "description"));
	if (desc[0] == '\0' || strlen(desc) > DESCRIPTION_MAX ||
	    strchr(desc, '\n') != NULL)
		return fail(err, path, pos ? pos->line : 1, "description: one "
		            "line of 1-%d characters", DESCRIPTION_MAX);
	pos = flue_yaml_pos(json_object_object_get(meta, "website"));
	if (web != NULL && strncmp(web, "https://", 8) != 0)
		return fail(err, path, pos ? pos->line : 1, "website: '%s' is not "
		            "an https:// URL", web);
	bp->kind = strdup(kind);
	bp->name = strdup(name);
	bp->description = strdup(desc);
	bp->website = dup_or_null(web);
	bp->root = root;
	if (bp->kind == NULL || bp->name == NULL || bp->description == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	return 0;
}

/* The file name must say what the frontmatter says. */
static int
check_file_name(const struct flue_blueprint *bp, const char *path,
                struct flue_error *err)
{
	const char *base = strrchr(path, '/');
	char want[160];

	base = base ? base + 1 : path;
	if (bp->root)
		snprintf(want, sizeof(want), "%s.md", bp->kind);
	else
		snprintf(want, sizeof(want), "%s--%s.md", bp->kind, bp->name);
	if (strcmp(base, want) != 0)
		return fail(err, path, 1, "file name: a %s with kind '%s' and "
		            "name '%s' is called %s", bp->root ? "generic guide" :
		            "blueprint", bp->kind, bp->name, want);
	return 0;
}

/* "c file=plugins/ssh.c primary" -> path, primary. */
static int
parse_file_info(const char *info, const char *path, unsigned line,
                char **out_path, int *primary, struct flue_error *err)
{
	const char *p = strstr(info, "file=");
	size_t n;
	char *target;

	*out_path = NULL;
	*primary = 0;
	p += 5;
	n = strcspn(p, " \t");
	if (n == 0)
		return fail(err, path, line, "file block: 'file=' needs a path");
	target = strndup(p, n);
	if (target == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	*primary = strstr(p + n, "primary") != NULL;
	/* Inside the source folder, always. */
	if (target[0] == '/' || strstr(target, "..") != NULL ||
	    strstr(target, "//") != NULL || target[n - 1] == '/' ||
	    strchr(target, '\\') != NULL) {
		fail(err, path, line, "file block: '%s' must be a relative path "
		     "inside the project's source folder (no '..', not "
		     "absolute)", target);
		free(target);
		return FLUE_EINVAL;
	}
	*out_path = target;
	return 0;
}

static int
check_env_block(const char *text, const char *path, unsigned line,
                struct flue_error *err)
{
	unsigned n = 0;

	for (const char *p = text; *p != '\0'; n++) {
		size_t len = strcspn(p, "\n");
		char name[128];
		size_t k = 0;

		if (len > 0 && p[0] != '#') {
			while (k < len && k + 1 < sizeof(name) && p[k] != '=') {
				name[k] = p[k];
				k++;
			}
			name[k] = '\0';
			if (k == len || p[k] != '=' || !flue_fields_is_env_name(name))
				return fail(err, path, line + 1 + n, "env block: each "
				            "line is NAME=value (a comment after '#' is "
				            "fine), not '%.*s'", (int)(len > 60 ? 60 : len),
				            p);
		}
		p += len + (p[len] == '\n');
	}
	return 0;
}

/* The text of a heading node. */
static void
heading_text(cmark_node *h, char *buf, size_t size)
{
	size_t used = 0;
	cmark_iter *it = cmark_iter_new(h);
	cmark_event_type ev;

	buf[0] = '\0';
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		const char *lit;

		if (ev != CMARK_EVENT_ENTER)
			continue;
		lit = cmark_node_get_literal(n);
		if (lit != NULL && (cmark_node_get_type(n) == CMARK_NODE_TEXT ||
		                    cmark_node_get_type(n) == CMARK_NODE_CODE))
			used += (size_t)snprintf(buf + used, size > used ? size - used :
			                         0, "%s", lit);
		if (used >= size)
			break;
	}
	cmark_iter_free(it);
}

/* "Version 3 — 2026-11-23" -> 3; 0 when it is not that. */
static int64_t
version_heading(const char *t)
{
	int64_t v = 0;
	const char *p;

	if (strncmp(t, "Version ", 8) != 0)
		return 0;
	p = t + 8;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		v = v * 10 + (*p++ - '0');
	if (strncmp(p, " \xe2\x80\x94 ", 5) != 0)     /* " — " */
		return 0;
	p += 5;
	if (strlen(p) != 10 || !isdigit((unsigned char)p[0]) || p[4] != '-' ||
	    p[7] != '-')
		return 0;
	return v;
}

struct walk {
	struct flue_blueprint *bp;
	const char *path;
	unsigned offset;          /* line of the body in the file, minus 1 */
	int in_upgrade;           /* inside ## Upgrade Guide */
	int upgrade_seen;
	int64_t last_version;     /* the last ### Version N seen */
	unsigned version_line;
	int version_has_diff;
	int version_initial;      /* Version 1 says "Initial version." */
	int in_next_steps;
	cmark_node *next_steps_start;
	unsigned h2_after_upgrade;
};

static int
end_version(struct walk *w, struct flue_error *err)
{
	if (w->last_version == 1 && !w->version_initial)
		return fail(err, w->path, w->version_line, "Upgrade Guide: "
		            "Version 1 says 'Initial version.'");
	if (w->last_version > 1 && !w->version_has_diff)
		return fail(err, w->path, w->version_line, "Upgrade Guide: "
		            "Version %lld needs a ```diff block with --- a/<path> "
		            "and +++ b/<path> headers", (long long)w->last_version);
	return 0;
}

static int
on_heading(struct walk *w, cmark_node *n, struct flue_error *err)
{
	int level = cmark_node_get_heading_level(n);
	unsigned line = w->offset + (unsigned)cmark_node_get_start_line(n);
	char text[256];

	heading_text(n, text, sizeof(text));
	if (level == 2) {
		w->in_next_steps = strcasecmp(text, "Next steps") == 0;
		if (w->upgrade_seen && w->h2_after_upgrade == 0)
			w->h2_after_upgrade = line;
		if (strcmp(text, "Upgrade Guide") == 0) {
			if (w->upgrade_seen)
				return fail(err, w->path, line, "there is one ## Upgrade "
				            "Guide");
			w->upgrade_seen = 1;
			w->in_upgrade = 1;
		} else {
			w->in_upgrade = 0;
		}
		return 0;
	}
	if (level == 3 && w->in_upgrade) {
		int64_t v = version_heading(text);

		if (v == 0)
			return fail(err, w->path, line, "Upgrade Guide: headings are "
			            "'### Version N \xe2\x80\x94 YYYY-MM-DD', not '%s'",
			            text);
		if (w->last_version > 0 && end_version(w, err) != 0)
			return FLUE_EINVAL;
		if (v != w->last_version + 1)
			return fail(err, w->path, line, "Upgrade Guide: Version %lld "
			            "comes after Version %lld (one per version, from "
			            "1, in order)", (long long)v,
			            (long long)w->last_version);
		w->last_version = v;
		w->version_line = line;
		w->version_has_diff = 0;
		w->version_initial = 0;
	}
	return 0;
}

static int
on_code_block(struct walk *w, cmark_node *n, struct flue_error *err)
{
	const char *info = cmark_node_get_fence_info(n);
	const char *lit = cmark_node_get_literal(n);
	unsigned line = w->offset + (unsigned)cmark_node_get_start_line(n);
	struct flue_blueprint *bp = w->bp;

	if (info == NULL)
		info = "";
	if (lit == NULL)
		lit = "";
	if (w->in_upgrade) {
		if (strncmp(info, "diff", 4) == 0) {
			if (strncmp(lit, "--- ", 4) != 0 || strstr(lit, "\n+++ ") ==
			    NULL)
				return fail(err, w->path, line, "Upgrade Guide: a diff "
				            "block starts with '--- a/<path>' and "
				            "'+++ b/<path>' lines");
			w->version_has_diff = 1;
		}
		return 0;
	}
	if (strstr(info, "file=") != NULL) {
		struct flue_blueprint_file *files;
		char *target;
		int primary, rc;

		if (bp->root)
			return fail(err, w->path, line, "a generic guide installs no "
			            "files (it is printed for a coding agent)");
		rc = parse_file_info(info, w->path, line, &target, &primary, err);
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < bp->n_files; i++) {
			if (strcmp(bp->files[i].path, target) == 0) {
				fail(err, w->path, line, "file block: '%s' is already "
				     "installed by the block at line %u", target,
				     bp->files[i].line);
				free(target);
				return FLUE_EINVAL;
			}
			if (primary && bp->files[i].primary) {
				fail(err, w->path, line, "file block: one primary file "
				     "(the block at line %u is one)", bp->files[i].line);
				free(target);
				return FLUE_EINVAL;
			}
		}
		files = realloc(bp->files, (bp->n_files + 1) * sizeof(*files));
		if (files == NULL) {
			free(target);
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
		}
		bp->files = files;
		files[bp->n_files].path = target;
		files[bp->n_files].content = strdup(lit);
		files[bp->n_files].len = strlen(lit);
		files[bp->n_files].line = line;
		files[bp->n_files].primary = primary;
		bp->n_files++;
		return files[bp->n_files - 1].content ? 0 :
		       flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	if (strcmp(info, "yaml flue.yaml") == 0) {
		json_object *doc = NULL;
		int rc;

		if (bp->config != NULL)
			return fail(err, w->path, line, "one `yaml flue.yaml` block "
			            "(merge everything in one)");
		rc = flue_yaml_parse(lit, strlen(lit), w->path, line, &doc, err);
		if (rc != 0)
			return rc;
		rc = json_object_is_type(doc, json_type_object);
		json_object_put(doc);
		if (!rc)
			return fail(err, w->path, line, "the `yaml flue.yaml` block "
			            "is a mapping of flue.yaml keys");
		bp->config = strdup(lit);
		bp->config_line = line;
		return bp->config ? 0 : flue_error_set(err, FLUE_ENOMEM,
		                                       "out of memory");
	}
	if (strcmp(info, "env .env.example") == 0) {
		if (bp->env != NULL)
			return fail(err, w->path, line, "one `env .env.example` "
			            "block");
		if (check_env_block(lit, w->path, line, err) != 0)
			return FLUE_EINVAL;
		bp->env = strdup(lit);
		return bp->env ? 0 : flue_error_set(err, FLUE_ENOMEM,
		                                    "out of memory");
	}
	return 0;
}

/* Walk the body: file blocks, config, env, the upgrade guide. */
static int
check_body(struct flue_blueprint *bp, const char *body, size_t len,
           unsigned body_line, const char *path, struct flue_error *err)
{
	cmark_node *doc = cmark_parse_document(body, len, CMARK_OPT_DEFAULT);
	cmark_iter *it;
	cmark_event_type ev;
	struct walk w = {0};
	int rc = 0;

	if (doc == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	w.bp = bp;
	w.path = path;
	w.offset = body_line - 1;
	it = cmark_iter_new(doc);
	while (rc == 0 && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);

		if (ev != CMARK_EVENT_ENTER)
			continue;
		switch (cmark_node_get_type(n)) {
		case CMARK_NODE_HEADING:
			rc = on_heading(&w, n, err);
			break;
		case CMARK_NODE_CODE_BLOCK:
			rc = on_code_block(&w, n, err);
			break;
		case CMARK_NODE_PARAGRAPH:
			if (w.in_upgrade && w.last_version == 1) {
				char text[64];

				heading_text(n, text, sizeof(text));
				if (strcmp(text, "Initial version.") == 0)
					w.version_initial = 1;
			}
			if (w.in_next_steps && bp->next_steps == NULL) {
				/* The section's text, from the source. */
				unsigned from = (unsigned)cmark_node_get_start_line(n);
				const char *p = body;

				for (unsigned l = 1; l < from && p != NULL; l++) {
					p = memchr(p, '\n', len - (size_t)(p - body));
					p = p ? p + 1 : NULL;
				}
				if (p != NULL) {
					const char *end = strstr(p, "\n## ");

					bp->next_steps = end ? strndup(p, (size_t)(end - p + 1)) :
					                 strdup(p);
				}
			}
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
	cmark_node_free(doc);
	if (rc != 0)
		return rc;
	if (!w.upgrade_seen)
		return fail(err, path, body_line, "the last section is '## Upgrade "
		            "Guide', with '### Version 1 \xe2\x80\x94 YYYY-MM-DD' and "
		            "'Initial version.'");
	if (w.h2_after_upgrade != 0)
		return fail(err, path, w.h2_after_upgrade, "## Upgrade Guide is the "
		            "last ## section");
	if (w.last_version > 0 && end_version(&w, err) != 0)
		return FLUE_EINVAL;
	if (w.last_version != bp->version)
		return fail(err, path, w.version_line ? w.version_line : body_line,
		            "Upgrade Guide: it goes up to Version %lld but the "
		            "frontmatter says version %lld",
		            (long long)w.last_version, (long long)bp->version);
	return 0;
}

int
flue_blueprint_parse(const char *text, size_t len, const char *path,
                     struct flue_blueprint *out, struct flue_error *err)
{
	struct flue_frontmatter parts;
	json_object *meta = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path == NULL)
		path = "<blueprint>";
	rc = flue_frontmatter_parse(text, len, path, &meta, &parts, err);
	if (rc == 0 && !parts.present)
		rc = fail(err, path, 1, "a blueprint starts with a --- frontmatter "
		          "(kind, name, version, description)");
	if (rc == 0)
		rc = check_frontmatter(out, meta, path, err);
	if (rc == 0 && strcmp(path, "<blueprint>") != 0)
		rc = check_file_name(out, path, err);
	if (rc == 0)
		rc = check_body(out, parts.body, parts.body_len, parts.body_line,
		                path, err);
	json_object_put(meta);
	if (rc == 0) {
		out->source = strndup(text, len);
		out->source_len = len;
		if (out->source == NULL)
			rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	if (rc != 0)
		flue_blueprint_clear(out);
	return rc;
}

int
flue_blueprint_load(const char *path, struct flue_blueprint *out,
                    struct flue_error *err)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return flue_error_set(err, errno == ENOENT ? FLUE_ENOENT : FLUE_EIO,
		                      "cannot read %s: %s", path, strerror(errno));
	for (;;) {
		size_t n;

		if (len + 4096 + 1 > cap) {
			char *grown;

			cap = cap ? cap * 2 : 8192;
			grown = cap <= BLUEPRINT_MAX_BYTES + 8192 ?
			        realloc(text, cap) : NULL;
			if (grown == NULL) {
				fclose(f);
				free(text);
				return flue_error_set(err, FLUE_EINVAL, "%s: over %d bytes, "
				                      "or out of memory", path,
				                      BLUEPRINT_MAX_BYTES);
			}
			text = grown;
		}
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	rc = ferror(f) ? flue_error_set(err, FLUE_EIO, "cannot read %s", path) :
	     0;
	fclose(f);
	if (rc == 0) {
		text[len] = '\0';
		rc = flue_blueprint_parse(text, len, path, out, err);
	}
	free(text);
	return rc;
}

void
flue_blueprint_clear(struct flue_blueprint *bp)
{
	if (bp == NULL)
		return;
	for (size_t i = 0; i < bp->n_files; i++) {
		free(bp->files[i].path);
		free(bp->files[i].content);
	}
	free(bp->files);
	free(bp->source);
	free(bp->kind);
	free(bp->name);
	free(bp->description);
	free(bp->website);
	free(bp->config);
	free(bp->env);
	free(bp->next_steps);
	json_object_put(bp->aliases);
	json_object_put(bp->requires);
	memset(bp, 0, sizeof(*bp));
}

const struct flue_blueprint_file *
flue_blueprint_primary(const struct flue_blueprint *bp)
{
	for (size_t i = 0; i < bp->n_files; i++)
		if (bp->files[i].primary)
			return &bp->files[i];
	return bp->n_files > 0 ? &bp->files[0] : NULL;
}

char *
flue_blueprint_marker(const struct flue_blueprint *bp, const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *ext = dot ? dot + 1 : "";
	char *line;
	int n;

	if (strcmp(ext, "md") == 0 || strcmp(ext, "html") == 0)
		n = asprintf(&line, "<!-- flue-blueprint: %s/%s@%lld -->", bp->kind,
		             bp->name, (long long)bp->version);
	else if (strcmp(ext, "sh") == 0 || strcmp(ext, "yaml") == 0 ||
	         strcmp(ext, "yml") == 0 || strcmp(ext, "py") == 0 ||
	         strcmp(ext, "toml") == 0 || strcmp(ext, "txt") == 0 ||
	         strcmp(ext, "") == 0)
		n = asprintf(&line, "# flue-blueprint: %s/%s@%lld", bp->kind,
		             bp->name, (long long)bp->version);
	else
		n = asprintf(&line, "// flue-blueprint: %s/%s@%lld", bp->kind,
		             bp->name, (long long)bp->version);
	return n < 0 ? NULL : line;
}
