/* flue add: list, check, print and apply blueprints (blueprints/README.md
 * is the format).  Applying writes the blueprint's files (never over a
 * file the user changed), merges its flue.yaml block keeping the user's
 * comments and order, appends its variables to .env.example, and records
 * what it wrote under .flue/state/blueprints/. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "blueprint.h"
#include "cli.h"
#include "suggest.h"
#include "yaml.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
                    JSON_C_TO_STRING_NOSLASHESCAPE)

void
cmd_add_help(void)
{
	printf("Usage: flue add                       list the blueprints\n"
	       "       flue add KIND NAME [--dry-run] apply one to this project\n"
	       "       flue add KIND NAME --print     print it for a coding "
	       "agent\n"
	       "       flue add KIND URL              print the guide to write "
	       "a new KIND\n"
	       "                                      connector for the service "
	       "at URL\n"
	       "       flue add --check FILE...       check blueprint files\n\n"
	       "A blueprint installs an integration: its files (a file you "
	       "changed is never\noverwritten), its flue.yaml settings (merged, "
	       "your comments kept) and its\nenvironment variables (added to "
	       ".env.example).  Kinds: sandbox, provider, tool.\n\n"
	       "Options:\n"
	       "  --dry-run            show what would change, change nothing\n"
	       "  --print              print the blueprint's Markdown\n"
	       "  --check FILE...      check blueprint files against the "
	       "format\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n");
}

/* ---- the blueprints there are ------------------------------------------- */

struct catalog {
	struct flue_blueprint *items;
	size_t n;
	char *dir;
};

static char *
blueprints_dir(void)
{
	const char *data = getenv("FLUE_DATA_DIR");
	char *dir;

	if (asprintf(&dir, "%s/blueprints", data && *data ? data :
	             FLUE_DATA_DIR) < 0)
		return NULL;
	return dir;
}

static int
compare_blueprints(const void *a, const void *b)
{
	const struct flue_blueprint *x = a, *y = b;
	int k = strcmp(x->kind, y->kind);

	return k != 0 ? k : x->root != y->root ? y->root - x->root :
	       strcmp(x->name, y->name);
}

static int
catalog_load(struct catalog *c)
{
	DIR *d;
	struct dirent *e;

	memset(c, 0, sizeof(*c));
	c->dir = blueprints_dir();
	if (c->dir == NULL || (d = opendir(c->dir)) == NULL) {
		cli_error("no blueprints in %s: %s", c->dir ? c->dir : "?",
		          strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct flue_error err = {0};
		struct flue_blueprint bp;
		char *path;

		if (len < 4 || strcmp(e->d_name + len - 3, ".md") != 0 ||
		    strcmp(e->d_name, "README.md") == 0 || e->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", c->dir, e->d_name) < 0)
			continue;
		if (flue_blueprint_load(path, &bp, &err) != 0) {
			cli_error("skipping a broken blueprint: %s", err.message);
		} else {
			struct flue_blueprint *grown = realloc(c->items,
			        (c->n + 1) * sizeof(*grown));

			if (grown != NULL) {
				c->items = grown;
				c->items[c->n++] = bp;
			} else {
				flue_blueprint_clear(&bp);
			}
		}
		free(path);
	}
	closedir(d);
	qsort(c->items, c->n, sizeof(*c->items), compare_blueprints);
	return 0;
}

static void
catalog_clear(struct catalog *c)
{
	for (size_t i = 0; i < c->n; i++)
		flue_blueprint_clear(&c->items[i]);
	free(c->items);
	free(c->dir);
}

/* By name or alias, case-insensitively; a kind's guide when root. */
static struct flue_blueprint *
catalog_find(struct catalog *c, const char *kind, const char *name,
             int root)
{
	for (size_t i = 0; i < c->n; i++) {
		struct flue_blueprint *bp = &c->items[i];

		if (strcmp(bp->kind, kind) != 0 || bp->root != root)
			continue;
		if (root || strcasecmp(bp->name, name) == 0)
			return bp;
		for (size_t j = 0; bp->aliases != NULL &&
		     j < json_object_array_length(bp->aliases); j++)
			if (strcasecmp(json_object_get_string(json_object_array_get_idx(
			               bp->aliases, j)), name) == 0)
				return bp;
	}
	return NULL;
}

/* ---- the project's record of what it installed ------------------------- */

/* FNV-1a, 64 bits: tells a changed file from the one we wrote. */
static char *
hash_text(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	char *out;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return asprintf(&out, "%016llx", (unsigned long long)h) < 0 ? NULL : out;
}

/* Whole or not at all: a temporary file renamed over path. */
static int
write_file(const char *path, const char *data, size_t len)
{
	char *tmp;
	FILE *f;
	int ok;

	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;

	if (slash != NULL)
		*slash = '\0';
	if (dir == NULL || (slash != NULL && cli_mkdir_p(dir) != 0)) {
		free(dir);
		return -1;
	}
	free(dir);
	if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
		return -1;
	f = fopen(tmp, "we");
	ok = f != NULL && fwrite(data, 1, len, f) == len;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	ok = ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

static char *
state_file(const char *root)
{
	char *p;

	return asprintf(&p, "%s/.flue/state/blueprints/installed.json",
	                root) < 0 ? NULL : p;
}

/* ---- merging flue.yaml ---------------------------------------------------- */

struct lines {
	char **line;              /* each without its newline */
	size_t n;
};

static int
lines_split(struct lines *l, const char *text)
{
	memset(l, 0, sizeof(*l));
	for (const char *p = text; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, "\n");
		char **grown = realloc(l->line, (l->n + 1) * sizeof(*grown));

		if (grown == NULL)
			return -1;
		l->line = grown;
		l->line[l->n] = strndup(p, len);
		if (l->line[l->n++] == NULL)
			return -1;
		p += len + (p[len] == '\n');
	}
	return 0;
}

static int
lines_insert(struct lines *l, size_t at, const char *text)
{
	char **grown = realloc(l->line, (l->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return -1;
	l->line = grown;
	memmove(l->line + at + 1, l->line + at, (l->n - at) * sizeof(*l->line));
	l->line[at] = strdup(text);
	l->n++;
	return l->line[at] ? 0 : -1;
}

static char *
lines_join(const struct lines *l)
{
	size_t len = 1;
	char *out, *at;

	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->line[i]) + 1;
	out = malloc(len);
	if (out == NULL)
		return NULL;
	at = out;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->line[i]);

		memcpy(at, l->line[i], n);
		at += n;
		*at++ = '\n';
	}
	*at = '\0';
	return out;
}

static void
lines_clear(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
}

/* The last line any value inside v comes from. */
static unsigned
last_line(json_object *v)
{
	const struct flue_yaml_pos *pos = flue_yaml_pos(v);
	unsigned line = pos ? pos->line : 0;

	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, child) {
			unsigned l = last_line(child);

			(void)k;
			line = l > line ? l : line;
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			unsigned l = last_line(json_object_array_get_idx(v, i));

			line = l > line ? l : line;
		}
	}
	return line;
}

static int
array_has(json_object *a, json_object *v)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (json_object_equal(json_object_array_get_idx(a, i), v))
			return 1;
	return 0;
}

/* The block's own text for top-level key: its line to the next key's. */
static char *
block_lines(const char *block, json_object *doc, const char *key)
{
	struct lines l;
	unsigned from = 0, to = UINT32_MAX;
	char *out = NULL;

	json_object_object_foreach(doc, k, v) {
		const struct flue_yaml_pos *pos = flue_yaml_pos(v);
		unsigned line = pos ? pos->key_line : 0;

		if (strcmp(k, key) == 0)
			from = line;
		else if (from != 0 && line > from && line < to)
			to = line;
	}
	if (from == 0 || lines_split(&l, block) != 0)
		return NULL;
	{
		struct lines part = {l.line + from - 1, 0};

		for (size_t i = from - 1; i < l.n && i + 1 < to; i++)
			part.n++;
		while (part.n > 0 && part.line[part.n - 1][0] == '\0')
			part.n--;
		out = lines_join(&part);
	}
	lines_clear(&l);
	return out;
}

/* Merge the blueprint's flue.yaml block into the project's text: keys it
 * lacks are added, lists get the new items, mappings the new keys; what
 * the user set stays, comments and order too.  *changes counts edits. */
static char *
merge_config(const char *existing, const char *block, int *changes,
             struct flue_error *err)
{
	json_object *have = NULL, *want = NULL;
	struct lines l = {0};
	char *out = NULL;

	*changes = 0;
	if (flue_yaml_parse(block, strlen(block), "blueprint", 0, &want,
	                    err) != 0 ||
	    flue_yaml_parse(existing, strlen(existing), "flue.yaml", 0, &have,
	                    err) != 0 ||
	    lines_split(&l, existing) != 0)
		goto done;
	if (have == NULL)
		have = json_object_new_object();
	json_object_object_foreach(want, key, value) {
		json_object *cur;

		if (!json_object_object_get_ex(have, key, &cur)) {
			char *text = block_lines(block, want, key);
			struct lines add;

			if (text == NULL || lines_split(&add, text) != 0) {
				free(text);
				goto done;
			}
			for (size_t i = 0; i < add.n; i++)
				lines_insert(&l, l.n, add.line[i]);
			lines_clear(&add);
			free(text);
			(*changes)++;
		} else if (json_object_is_type(cur, json_type_array) &&
		           json_object_is_type(value, json_type_array)) {
			const struct flue_yaml_pos *kp = flue_yaml_pos(cur);
			unsigned key_line = kp ? kp->key_line : 0;

			for (size_t i = 0; i < json_object_array_length(value); i++) {
				json_object *item = json_object_array_get_idx(value, i);
				const char *s = json_object_get_string(item);
				char *line = key_line ? l.line[key_line - 1] : NULL;
				char *close;

				if (array_has(cur, item) || s == NULL || line == NULL)
					continue;
				close = strrchr(line, ']');
				if (strchr(line, '[') != NULL && close != NULL) {
					/* Flow style on the key's line: [a, b] -> [a, b, s]. */
					char *fixed;
					int empty = close[-1] == '[';

					if (asprintf(&fixed, "%.*s%s%s%s", (int)(close - line),
					             line, empty ? "" : ", ", s, close) < 0)
						goto done;
					free(l.line[key_line - 1]);
					l.line[key_line - 1] = fixed;
				} else {
					/* Block style: another "- s" after the last item. */
					unsigned last = last_line(cur);
					const struct flue_yaml_pos *ip = flue_yaml_pos(
					        json_object_array_get_idx(cur, 0));
					int indent = ip && ip->column > 2 ?
					             (int)ip->column - 3 : 2;
					char *text;

					if (asprintf(&text, "%*s- %s", indent, "", s) < 0)
						goto done;
					lines_insert(&l, last ? last : key_line, text);
					free(text);
				}
				json_object_array_add(cur, json_object_get(item));
				(*changes)++;
			}
		} else if (json_object_is_type(cur, json_type_object) &&
		           json_object_is_type(value, json_type_object)) {
			json_object_object_foreach(value, sub, subval) {
				char *text;
				const struct flue_yaml_pos *first = NULL;
				int indent = 2;

				if (json_object_object_get_ex(cur, sub, NULL))
					continue;
				json_object_object_foreach(cur, k2, v2) {
					(void)k2;
					if (first == NULL)
						first = flue_yaml_pos(v2);
				}
				if (first != NULL && first->key_column > 1)
					indent = (int)first->key_column - 1;
				if (asprintf(&text, "%*s%s: %s", indent, "", sub,
				             json_object_to_json_string_ext(subval,
				             JSON_C_TO_STRING_PLAIN |
				             JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
					goto done;
				lines_insert(&l, last_line(cur), text);
				free(text);
				(*changes)++;
			}
		}
	}
	out = lines_join(&l);
	if (out == NULL)
		flue_error_set(err, FLUE_ENOMEM, "out of memory");
done:
	lines_clear(&l);
	json_object_put(have);
	json_object_put(want);
	return out;
}

/* ---- applying ---------------------------------------------------------------- */

/* The env block's lines whose names .env.example lacks. */
static char *
env_additions(const char *existing, const char *block)
{
	struct lines l;
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);

	if (m == NULL || lines_split(&l, block) != 0) {
		if (m != NULL)
			fclose(m);
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < l.n; i++) {
		const char *eq = strchr(l.line[i], '=');
		char *name;
		int found = 0;

		if (l.line[i][0] == '#' || eq == NULL) {
			continue;
		}
		name = strndup(l.line[i], (size_t)(eq - l.line[i]));
		for (const char *p = existing; name && p && *p; ) {
			size_t n = strlen(name);

			if (strncmp(p, name, n) == 0 && p[n] == '=')
				found = 1;
			p = strchr(p, '\n');
			p = p ? p + 1 : NULL;
		}
		if (!found)
			fprintf(m, "%s\n", l.line[i]);
		free(name);
	}
	lines_clear(&l);
	fclose(m);
	return out;
}

struct plan {
	int creates, updates, unchanged, kept, merged, conflicts;
};

/* Three-way merge with diff3: ours (the user's file), base (what flue
 * wrote last time), theirs (the new version).  0 and *out when clean, 1
 * on conflicts, -1 when it could not run. */
static int
merge3(const char *ours, const char *base, const char *theirs, char **out)
{
	char *cmd, *buf;
	FILE *p;
	int status;

	*out = NULL;
	if (asprintf(&cmd, "diff3 -m -- '%s' '%s' '%s'", ours, base, theirs) < 0)
		return -1;
	/* The paths are ours (state folder, source folder), quoted. */
	if (strchr(ours, '\'') || strchr(base, '\'') || strchr(theirs, '\'')) {
		free(cmd);
		return -1;
	}
	p = popen(cmd, "r");
	free(cmd);
	if (p == NULL)
		return -1;
	buf = cli_read_stream(p, NULL);
	if (buf == NULL) {
		pclose(p);
		return -1;
	}
	status = pclose(p);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		free(buf);
		return -1;
	}
	if (WEXITSTATUS(status) == 1) {
		free(buf);
		return 1;
	}
	*out = buf;
	return 0;
}

static int
apply(struct flue_blueprint *bp, flue_harness *h, int dry)
{
	const char *root = flue_harness_project_root(h);
	const char *source = flue_harness_source_dir(h);
	const struct flue_blueprint_file *primary = flue_blueprint_primary(bp);
	char *state_path = state_file(root), *state_text, key[200];
	json_object *state, *entry, *files;
	struct plan plan = {0};
	struct flue_error err = {0};
	char *originals = NULL;
	size_t len;
	int rc = CLI_OK;

	snprintf(key, sizeof(key), "%s/%s", bp->kind, bp->name);
	state_text = state_path ? cli_read_file(state_path, &len) : NULL;
	state = state_text ? json_tokener_parse(state_text) : NULL;
	free(state_text);
	if (state == NULL)
		state = json_object_new_object();
	files = json_object_object_get(json_object_object_get(state, key),
	                               "files");
	entry = json_object_new_object();
	json_object_object_add(entry, "version", json_object_new_int64(
	                       bp->version));
	json_object_object_add(entry, "files", json_object_new_object());
	if (asprintf(&originals, "%s/.flue/state/blueprints/%s--%s", root,
	             bp->kind, bp->name) < 0)
		originals = NULL;
	printf("%s %s/%s@%lld\n", dry ? "would apply" : "applying", bp->kind,
	       bp->name, (long long)bp->version);
	for (size_t i = 0; i < bp->n_files; i++) {
		const struct flue_blueprint_file *f = &bp->files[i];
		char *target, *content = NULL, *have, *hash, *recorded_hash;
		size_t have_len;
		const char *recorded;

		if (asprintf(&target, "%s/%s", source, f->path) < 0)
			continue;
		if (f == primary) {
			char *marker = flue_blueprint_marker(bp, f->path);

			/* A Markdown file with frontmatter must start with ---: the
			 * marker goes inside, as a YAML comment. */
			if (marker != NULL && strncmp(f->content, "---\n", 4) == 0) {
				free(marker);
				marker = NULL;
				if (asprintf(&marker, "# flue-blueprint: %s/%s@%lld",
				             bp->kind, bp->name, (long long)bp->version) < 0)
					marker = NULL;
				if (marker == NULL || asprintf(&content, "---\n%s\n%s",
				                                marker, f->content + 4) < 0)
					content = NULL;
			} else if (marker == NULL || asprintf(&content, "%s\n%s", marker,
			                                       f->content) < 0) {
				content = NULL;
			}
			free(marker);
		} else {
			content = strdup(f->content);
		}
		if (content == NULL) {
			free(target);
			rc = CLI_FAILED;
			break;
		}
		hash = hash_text(content, strlen(content));
		have = cli_read_file(target, &have_len);
		recorded = json_object_get_string(json_object_object_get(files,
		                                                         f->path));
		recorded_hash = have ? hash_text(have, have_len) : NULL;
		if (have != NULL && have_len == strlen(content) &&
		    memcmp(have, content, have_len) == 0) {
			printf("  unchanged  %s\n", f->path);
			plan.unchanged++;
		} else if (have != NULL && (recorded == NULL || recorded_hash == NULL ||
		                            strcmp(recorded, recorded_hash) != 0)) {
			/* The user changed it: merge the blueprint's changes in when
			 * the version flue wrote is known; otherwise, or on a
			 * conflict, theirs stays and ours goes beside it. */
			char *beside = NULL, *base = NULL, *theirs = NULL, *merged = NULL;
			size_t base_len = 0;
			char *base_text = NULL;
			int m = -1;

			if (originals != NULL &&
			    asprintf(&base, "%s/%s", originals, f->path) >= 0)
				base_text = cli_read_file(base, &base_len);
			if (base_text != NULL && (base_len != strlen(content) ||
			                          memcmp(base_text, content,
			                                 base_len) != 0) &&
			    asprintf(&theirs, "%s/.flue/state/blueprints/.theirs-%d",
			             root, (int)getpid()) >= 0 &&
			    write_file(theirs, content, strlen(content)) == 0) {
				m = merge3(target, base, theirs, &merged);
				unlink(theirs);
			}
			if (base_text != NULL && base_len == strlen(content) &&
			    memcmp(base_text, content, base_len) == 0) {
				/* The blueprint has nothing new for the user's file. */
				printf("  yours      %s (changed by you; nothing new "
				       "for it)\n", f->path);
				plan.unchanged++;
				free(hash);
				hash = recorded ? strdup(recorded) : NULL;
			} else if (m == 0) {
				printf("  merged     %s (your changes kept)\n", f->path);
				if (!dry && write_file(target, merged, strlen(merged)) != 0)
					rc = CLI_FAILED;
				plan.merged++;
			} else {
				if (m == 1)
					printf("  conflict   %s (yours kept; the new version is "
					       "%s.blueprint)\n", f->path, f->path);
				else
					printf("  kept yours %s (it differs; the blueprint's "
					       "version is %s.blueprint)\n", f->path, f->path);
				if (!dry && asprintf(&beside, "%s.blueprint", target) >= 0)
					write_file(beside, content, strlen(content));
				if (m == 1)
					plan.conflicts++;
				else
					plan.kept++;
				/* The base stays: a later update merges from it again. */
				free(hash);
				hash = recorded ? strdup(recorded) : NULL;
				free(content);
				content = NULL;
			}
			free(merged);
			free(beside);
			free(base);
			free(base_text);
			free(theirs);
		} else {
			printf("  %s %s\n", have ? "update    " : "create    ", f->path);
			if (!dry && write_file(target, content, strlen(content)) != 0) {
				cli_error("cannot write %s: %s", target, strerror(errno));
				rc = CLI_FAILED;
			}
			if (have)
				plan.updates++;
			else
				plan.creates++;
		}
		if (hash != NULL)
			json_object_object_add(json_object_object_get(entry, "files"),
			                       f->path, json_object_new_string(hash));
		/* What flue wrote, the base of the next update's merge. */
		if (!dry && content != NULL && originals != NULL) {
			char *orig;

			if (asprintf(&orig, "%s/%s", originals, f->path) >= 0) {
				write_file(orig, content, strlen(content));
				free(orig);
			}
		}
		free(recorded_hash);
		free(have);
		free(hash);
		free(content);
		free(target);
	}
	if (rc == CLI_OK && bp->config != NULL) {
		char *yaml_path, *text, *merged;
		int changes = 0;

		if (asprintf(&yaml_path, "%s/flue.yaml", root) < 0)
			yaml_path = NULL;
		text = yaml_path ? cli_read_file(yaml_path, &len) : NULL;
		merged = merge_config(text ? text : "", bp->config, &changes, &err);
		if (merged == NULL) {
			cli_error("cannot merge into flue.yaml: %s", err.message);
			rc = CLI_FAILED;
		} else if (changes > 0) {
			printf("  merge      flue.yaml (%d setting%s)\n", changes,
			       changes == 1 ? "" : "s");
			if (!dry && write_file(yaml_path, merged, strlen(merged)) != 0) {
				cli_error("cannot write %s: %s", yaml_path, strerror(errno));
				rc = CLI_FAILED;
			}
		} else {
			printf("  unchanged  flue.yaml\n");
		}
		free(merged);
		free(text);
		free(yaml_path);
	}
	if (rc == CLI_OK && bp->env != NULL) {
		char *env_path, *text, *add;

		if (asprintf(&env_path, "%s/.env.example", root) < 0)
			env_path = NULL;
		text = env_path ? cli_read_file(env_path, &len) : NULL;
		add = env_additions(text ? text : "", bp->env);
		if (add != NULL && add[0] != '\0') {
			char *joined;

			printf("  append     .env.example\n");
			if (asprintf(&joined, "%s%s%s", text ? text : "",
			             text && len > 0 && text[len - 1] != '\n' ? "\n" : "",
			             add) >= 0) {
				if (!dry && write_file(env_path, joined, strlen(joined)))
					rc = CLI_FAILED;
				free(joined);
			}
		} else {
			printf("  unchanged  .env.example\n");
		}
		free(add);
		free(text);
		free(env_path);
	}
	if (rc == CLI_OK && !dry) {
		const char *t;
		json_object *old = json_object_object_get(state, key);

		/* A conflict leaves the blueprint at its old version, so that
		 * the next update tries again from the same base. */
		if (plan.conflicts > 0 && old != NULL)
			json_object_object_add(entry, "version", json_object_get(
			        json_object_object_get(old, "version")));
		json_object_object_add(state, key, entry);
		entry = NULL;
		t = json_object_to_json_string_ext(state, JSON_FLAGS);
		if (state_path == NULL || write_file(state_path, t, strlen(t)) != 0) {
			cli_error("cannot record the blueprint in %s",
			          state_path ? state_path : "the state folder");
			rc = CLI_FAILED;
		}
	}
	json_object_put(entry);
	json_object_put(state);
	free(state_path);
	free(originals);
	if (rc == CLI_OK && !dry && bp->next_steps != NULL)
		printf("\nNext steps:\n%s", bp->next_steps);
	if (rc == CLI_OK && plan.kept + plan.conflicts > 0)
		printf("\n%d file%s you changed %s kept; compare with the "
		       ".blueprint copies.\n", plan.kept + plan.conflicts,
		       plan.kept + plan.conflicts == 1 ? "" : "s",
		       plan.kept + plan.conflicts == 1 ? "was" : "were");
	/* Something needs the user's attention: say so in the status. */
	if (rc == CLI_OK && plan.conflicts > 0)
		rc = CLI_FAILED;
	return rc;
}

/* ---- the command ----------------------------------------------------------- */

static int
list(struct catalog *c, flue_harness *h)
{
	char *state_path = h ? state_file(flue_harness_project_root(h)) : NULL;
	size_t len;
	char *text = state_path ? cli_read_file(state_path, &len) : NULL;
	json_object *state = text ? json_tokener_parse(text) : NULL;

	printf("Blueprints (flue add KIND NAME):\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct flue_blueprint *bp = &c->items[i];
		char key[200];
		json_object *e;

		if (bp->root)
			continue;
		snprintf(key, sizeof(key), "%s/%s", bp->kind, bp->name);
		printf("  %-9s %-10s %s", bp->kind, bp->name, bp->description);
		if (json_object_object_get_ex(state, key, &e))
			printf(" [installed: version %s%s]", json_object_get_string(
			       json_object_object_get(e, "version")),
			       json_object_get_int64(json_object_object_get(e,
			               "version")) < bp->version ? ", flue update" : "");
		putchar('\n');
	}
	printf("\nA service with no blueprint: flue add KIND URL prints the "
	       "guide to write its\nconnector (kinds:");
	for (size_t i = 0; flue_blueprint_kinds[i] != NULL; i++)
		printf(" %s", flue_blueprint_kinds[i]);
	printf(").\n");
	json_object_put(state);
	free(text);
	free(state_path);
	return CLI_OK;
}

static int
check_files(char **paths, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		struct flue_error err = {0};
		struct flue_blueprint bp;

		if (flue_blueprint_load(paths[i], &bp, &err) != 0) {
			cli_error("%s", err.message);
			bad = 1;
			continue;
		}
		printf("%s: ok (%s/%s@%lld, %zu file%s)\n", paths[i], bp.kind,
		       bp.name, (long long)bp.version, bp.n_files,
		       bp.n_files == 1 ? "" : "s");
		flue_blueprint_clear(&bp);
	}
	return bad ? CLI_FAILED : CLI_OK;
}

/* The kind's guide with {{URL}} replaced. */
static int
print_guide(struct catalog *c, const char *kind, const char *url)
{
	struct flue_blueprint *guide = catalog_find(c, kind, kind, 1);
	const char *p;

	if (guide == NULL) {
		cli_error("no guide for kind '%s'", kind);
		return CLI_FAILED;
	}
	for (p = guide->source; *p != '\0';) {
		const char *at = strstr(p, "{{URL}}");

		if (at == NULL) {
			fputs(p, stdout);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), stdout);
		fputs(url, stdout);
		p = at + 7;
	}
	return CLI_OK;
}

void
cmd_update_help(void)
{
	printf("Usage: flue update [KIND NAME] [--dry-run]\n\n"
	       "Brings the installed blueprints (or one) to their newest "
	       "version.  A file you\nhave not touched is replaced; a file you "
	       "changed gets the new version's\nchanges merged in (three-way, "
	       "against what flue wrote); on a conflict your\nfile stays as it "
	       "is and the new version is written beside it as\n"
	       "FILE.blueprint.\n\n"
	       "Exit status: 0 all done, 1 something needs your attention (a "
	       "conflict, an\nerror), 2 bad usage.\n\n"
	       "Options:\n"
	       "  --dry-run            show what would change, change nothing\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n");
}

int
cmd_update(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	static const char *none[] = {NULL};
	struct cli_harness_args hargs = {0};
	struct flue_harness_options ho = {.size = sizeof(ho), .plugins = none};
	struct flue_error err = {0};
	struct catalog cat = {0};
	flue_harness *harness = NULL;
	json_object *state = NULL;
	char *state_path = NULL, *text = NULL;
	size_t len;
	int opt, rc = CLI_OK, dry = 0, any = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_update_help(); goto out;
		case 'n': dry = 1; break;
		default:
			rc = cli_usage("update", "unknown option '%s'",
			               argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind != 0 && argc - optind != 2) {
		rc = cli_usage("update", "give a kind and a name, or nothing for "
		               "every installed blueprint");
		goto out;
	}
	ho.project_dir = hargs.project_dir;
	if (catalog_load(&cat) != 0 ||
	    flue_harness_open(&harness, &ho, &err) != 0) {
		if (err.message[0])
			cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	state_path = state_file(flue_harness_project_root(harness));
	text = state_path ? cli_read_file(state_path, &len) : NULL;
	state = text ? json_tokener_parse(text) : NULL;
	json_object_object_foreach(state, key, entry) {
		char *kind = strdup(key), *name = kind ? strchr(kind, '/') : NULL;
		struct flue_blueprint *bp;
		int64_t have = json_object_get_int64(json_object_object_get(entry,
		                                                            "version"));

		if (name == NULL) {
			free(kind);
			continue;
		}
		*name++ = '\0';
		if (argc - optind == 2 && (strcmp(kind, argv[optind]) != 0 ||
		                           strcasecmp(name, argv[optind + 1]) != 0)) {
			free(kind);
			continue;
		}
		any = 1;
		bp = catalog_find(&cat, kind, name, 0);
		if (bp == NULL) {
			cli_error("%s: no such blueprint any more; left as it is", key);
			rc = CLI_FAILED;
		} else if (have >= bp->version) {
			printf("%s is up to date (version %lld)\n", key,
			       (long long)have);
		} else if (apply(bp, harness, dry) != CLI_OK) {
			rc = CLI_FAILED;
		}
		free(kind);
	}
	if (!any) {
		if (argc - optind == 2)
			cli_error("%s/%s is not installed here: flue add %s %s",
			          argv[optind], argv[optind + 1], argv[optind],
			          argv[optind + 1]);
		else
			printf("no blueprints installed here (flue add lists them)\n");
		if (argc - optind == 2)
			rc = CLI_FAILED;
	}
out:
	json_object_put(state);
	free(text);
	free(state_path);
	flue_harness_close(harness);
	catalog_clear(&cat);
	cli_harness_args_free(&hargs);
	return rc;
}

int
cmd_add(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"print", no_argument, NULL, 'p'},
		{"check", no_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	static const char *none[] = {NULL};
	struct cli_harness_args hargs = {0};
	struct catalog cat = {0};
	flue_harness *harness = NULL;
	struct flue_blueprint *bp;
	int opt, rc = CLI_OK, dry = 0, print = 0, check = 0;
	const char *kind, *name;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_add_help(); goto out;
		case 'n': dry = 1; break;
		case 'p': print = 1; break;
		case 'c': check = 1; break;
		default:
			rc = cli_usage("add", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (check) {
		rc = optind < argc ? check_files(argv + optind, argc - optind) :
		     cli_usage("add", "--check needs blueprint files");
		goto out;
	}
	if (catalog_load(&cat) != 0) {
		rc = CLI_FAILED;
		goto out;
	}
	/* Only the project's folders are needed: no plugins are loaded. */
	if (optind == argc) {
		struct flue_harness_options ho = {.size = sizeof(ho),
		        .project_dir = hargs.project_dir, .plugins = none};
		struct flue_error err = {0};

		if (flue_harness_open(&harness, &ho, &err) != 0)
			harness = NULL;
		rc = list(&cat, harness);
		goto out;
	}
	if (argc - optind != 2) {
		rc = cli_usage("add", "give a kind and a name (flue add sandbox "
		               "ssh), or nothing to list them");
		goto out;
	}
	kind = argv[optind];
	name = argv[optind + 1];
	if (catalog_find(&cat, kind, kind, 1) == NULL &&
	    flue_suggest(kind, flue_blueprint_kinds, 0) != NULL &&
	    strcmp(flue_suggest(kind, flue_blueprint_kinds, 0), kind) != 0) {
		const char *close = flue_suggest(kind, flue_blueprint_kinds, 0);

		rc = cli_usage("add", "no kind '%s' (did you mean '%s'?); the kinds "
		               "are sandbox, provider and tool", kind, close);
		goto out;
	}
	/* A URL (any scheme: https://, file://...) asks for the guide. */
	if (strstr(name, "://") != NULL) {
		rc = print_guide(&cat, kind, name);
		goto out;
	}
	bp = catalog_find(&cat, kind, name, 0);
	if (bp == NULL) {
		const char **names = calloc(cat.n + 1, sizeof(*names));
		const char *close = NULL;
		size_t k = 0;

		for (size_t i = 0; names != NULL && i < cat.n; i++)
			if (!cat.items[i].root && strcmp(cat.items[i].kind, kind) == 0)
				names[k++] = cat.items[i].name;
		if (names != NULL)
			close = flue_suggest(name, names, 0);
		cli_error("no %s blueprint '%s'%s%s%s; `flue add` lists them, and "
		          "`flue add %s URL` prints the guide to write one", kind,
		          name, close ? " (did you mean '" : "", close ? close : "",
		          close ? "'?)" : "", kind);
		free(names);
		rc = CLI_FAILED;
		goto out;
	}
	if (print) {
		fputs(bp->source, stdout);
		if (bp->source_len == 0 || bp->source[bp->source_len - 1] != '\n')
			putchar('\n');
		goto out;
	}
	{
		struct flue_harness_options ho = {.size = sizeof(ho),
		        .project_dir = hargs.project_dir, .plugins = none};
		struct flue_error err = {0};

		if (flue_harness_open(&harness, &ho, &err) != 0) {
			cli_error("%s", err.message);
			rc = CLI_FAILED;
			goto out;
		}
	}
	rc = apply(bp, harness, dry);
out:
	if (fflush(stdout) != 0 && rc == CLI_OK)
		rc = CLI_FAILED;
	flue_harness_close(harness);
	catalog_clear(&cat);
	cli_harness_args_free(&hargs);
	return rc;
}
