/* Small things several commands share: payloads, dotenv files, the
 * reproducible date. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

char *
cli_read_stream(FILE *stream, size_t *out_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf != NULL) {
		size_t n = fread(buf + len, 1, cap - len - 1, stream);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *grown = realloc(buf, cap * 2);

			if (grown == NULL) {
				free(buf);
				return NULL;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[len] = '\0';
	if (out_len != NULL)
		*out_len = buf != NULL ? len : 0;
	return buf;
}

char *
cli_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *text;

	if (len != NULL)
		*len = 0;
	if (f == NULL)
		return NULL;
	text = cli_read_stream(f, len);
	fclose(f);
	return text;
}

int
cli_mkdir_p(const char *dir)
{
	char *copy = strdup(dir);
	int rc = 0;

	if (copy == NULL)
		return -1;
	for (char *p = strchr(copy + 1, '/'); rc == 0; p = strchr(p + 1, '/')) {
		if (p != NULL)
			*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST)
			rc = -1;
		if (p == NULL)
			break;
		*p = '/';
	}
	free(copy);
	return rc;
}

int
cli_add_env_file(char ***files, size_t *n, const char *path)
{
	char **grown = realloc(*files, (*n + 1) * sizeof(*grown));

	if (grown == NULL)
		return CLI_FAILED;
	*files = grown;
	(*files)[(*n)++] = (char *)path;
	return CLI_OK;
}

int
cli_load_payload(const char *arg, char **out)
{
	FILE *f;

	*out = NULL;
	if (arg[0] != '@') {
		*out = strdup(arg);
		return *out ? CLI_OK : CLI_FAILED;
	}
	if (strcmp(arg, "@-") == 0)
		f = stdin;
	else if ((f = fopen(arg + 1, "r")) == NULL) {
		cli_error("cannot read the payload file %s: %s", arg + 1,
		          strerror(errno));
		return CLI_FAILED;
	}
	*out = cli_read_stream(f, NULL);
	if (f != stdin)
		fclose(f);
	if (*out == NULL) {
		cli_error("cannot read the payload %s", arg + 1);
		return CLI_FAILED;
	}
	return CLI_OK;
}

/* Parse the value part of a dotenv line in place; NULL when malformed
 * (*why says how). */
static char *
env_value(char *p, const char **why)
{
	char *out, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\'') {
		char *end = strchr(p + 1, '\'');

		if (end == NULL) {
			*why = "unterminated ' quote";
			return NULL;
		}
		*end = '\0';
		return p + 1;
	}
	if (*p == '"') {
		out = w = p + 1;
		for (p++; *p != '"'; p++) {
			if (*p == '\0') {
				*why = "unterminated \" quote";
				return NULL;
			}
			if (*p == '\\' && p[1] != '\0') {
				p++;
				*w++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
			} else {
				*w++ = *p;
			}
		}
		*w = '\0';
		return out;
	}
	/* Unquoted: up to a " #" comment, trailing blanks dropped. */
	out = p;
	for (w = p; *w != '\0'; w++)
		if (*w == '#' && (w == out || w[-1] == ' ' || w[-1] == '\t')) {
			*w = '\0';
			break;
		}
	w = out + strlen(out);
	while (w > out && (w[-1] == ' ' || w[-1] == '\t' || w[-1] == '\r'))
		*--w = '\0';
	return out;
}

int
cli_load_env_file(const char *path, int override, int optional)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = CLI_OK;

	if (f == NULL) {
		if (optional && errno == ENOENT)
			return CLI_OK;
		cli_error("cannot read the environment file %s: %s", path,
		          strerror(errno));
		return CLI_FAILED;
	}
	while (getline(&line, &cap, f) != -1) {
		char *p = line, *name, *value;
		const char *why = NULL;
		size_t len = strlen(line);

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		name = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p == name || isdigit((unsigned char)*name) || *p != '=') {
			cli_error("%s:%u: expected NAME=value (NAME: letters, digits "
			          "and _)", path, lineno);
			rc = CLI_FAILED;
			break;
		}
		*p++ = '\0';
		value = env_value(p, &why);
		if (value == NULL) {
			cli_error("%s:%u: %s", path, lineno, why);
			rc = CLI_FAILED;
			break;
		}
		if (setenv(name, value, override) != 0) {
			cli_error("%s:%u: cannot set %s: %s", path, lineno, name,
			          strerror(errno));
			rc = CLI_FAILED;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int64_t
cli_source_date(const char *command)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (epoch == NULL || *epoch == '\0')
		return 0;
	v = strtoll(epoch, &end, 10);
	if (*end != '\0' || v <= 0) {
		cli_usage(command, "SOURCE_DATE_EPOCH must be a positive number "
		          "of seconds, not '%s'", epoch);
		return -1;
	}
	return v;
}

int
cli_load_envs(flue_harness *harness, char **files, size_t n)
{
	char *dotenv;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (cli_load_env_file(files[i], 1, 0) != CLI_OK)
			return CLI_USAGE;
	if (asprintf(&dotenv, "%s/.env", flue_harness_project_root(harness)) < 0)
		return CLI_FAILED;
	rc = cli_load_env_file(dotenv, 0, 1);
	free(dotenv);
	return rc == CLI_OK ? CLI_OK : CLI_USAGE;
}
