/* flue build: compile the project's plugin sources into .so files that
 * flue loads from the project's plugins folder. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef FLUE_INCLUDE_DIR
#define FLUE_INCLUDE_DIR "/usr/local/include"
#endif

void
cmd_build_help(void)
{
	printf("Usage: flue build [options]\n\n"
	       "Compiles the project's plugins: each plugins/NAME.c, and each "
	       "folder\nplugins/NAME/ (all its .c files), in the source folder "
	       "(.flue/ or the\nproject root), into plugins/NAME.so, which flue "
	       "loads from there.  Only\nplugins whose sources changed are "
	       "rebuilt; the compiler's messages are shown\nas they are.\n\n"
	       "Options:\n"
	       "  -B, --always         rebuild even when nothing changed\n"
	       "  -v, --verbose        print each compiler command\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Environment:\n"
	       "  CC                   the compiler (default cc)\n"
	       "  CFLAGS               added to the compiler's flags\n"
	       "  LDLIBS               libraries the plugins link with, after "
	       "the sources\n"
	       "                       (e.g. \"-lcurl -ljson-c\")\n"
	       "  FLUE_BUILD_CFLAGS    flue's flags, instead of `pkg-config "
	       "--cflags flue`\n");
}

/* flue's own flags: FLUE_BUILD_CFLAGS, pkg-config, or the include
 * folder flue was installed with.  [caller-owned] */
static char *
flue_cflags(void)
{
	const char *env = getenv("FLUE_BUILD_CFLAGS");
	char buf[1024] = "", *out;
	FILE *p;

	if (env != NULL)
		return strdup(env);
	p = popen("pkg-config --cflags flue 2>/dev/null", "r");
	if (p != NULL) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, p);

		buf[n] = '\0';
		if (pclose(p) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			return strdup(buf);
		}
	}
	return asprintf(&out, "-I%s", FLUE_INCLUDE_DIR) < 0 ? NULL : out;
}

struct plugin {
	char *name;
	char **sources;
	size_t n;
	struct timespec newest;       /* the newest source's mtime */
};

static int
later(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

static int
add_source(struct plugin *p, const char *path)
{
	struct stat st;
	char **grown = realloc(p->sources, (p->n + 2) * sizeof(*grown));

	if (grown == NULL)
		return -1;
	p->sources = grown;
	p->sources[p->n] = strdup(path);
	if (p->sources[p->n] == NULL)
		return -1;
	p->sources[++p->n] = NULL;
	if (stat(path, &st) == 0 && later(st.st_mtim, p->newest))
		p->newest = st.st_mtim;
	return 0;
}

/* Run argv, the compiler's output going straight to ours. */
static int
run(char *const *argv, int verbose)
{
	pid_t pid;
	int status;

	if (verbose) {
		for (size_t i = 0; argv[i] != NULL; i++)
			fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
		fputc('\n', stderr);
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "flue: cannot run %s: %s\n", argv[0],
		        strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Split a flags string on spaces into argv (no quoting: flags from
 * pkg-config and CFLAGS have none). */
static void
push_words(char **argv, size_t *n, char *flags)
{
	for (char *w = strtok(flags, " \t"); w != NULL; w = strtok(NULL, " \t"))
		argv[(*n)++] = w;
}

static int
build_one(const struct plugin *p, const char *dir, const char *cflags,
          int always, int verbose)
{
	char *out, *tmp, *flags = strdup(cflags), *user = NULL, *libs = NULL;
	const char *cc = getenv("CC");
	struct stat st;
	char **argv;
	size_t n = 0;
	int rc;

	if (asprintf(&out, "%s/%s.so", dir, p->name) < 0)
		return -1;
	if (!always && stat(out, &st) == 0 && !later(p->newest, st.st_mtim)) {
		printf("  up to date  %s.so\n", p->name);
		free(out);
		free(flags);
		return 0;
	}
	if (asprintf(&tmp, "%s/.%s.so.tmp", dir, p->name) < 0) {
		free(out);
		free(flags);
		return -1;
	}
	if (getenv("CFLAGS") != NULL)
		user = strdup(getenv("CFLAGS"));
	if (getenv("LDLIBS") != NULL)
		libs = strdup(getenv("LDLIBS"));
	argv = calloc(p->n + 64 + (user ? strlen(user) : 0) +
	              (libs ? strlen(libs) : 0) + strlen(cflags), sizeof(*argv));
	if (argv == NULL || flags == NULL) {
		free(argv);
		free(flags);
		free(user);
		free(out);
		free(tmp);
		return -1;
	}
	argv[n++] = (char *)(cc && *cc ? cc : "cc");
	argv[n++] = "-shared";
	argv[n++] = "-fPIC";
	argv[n++] = "-O2";
	argv[n++] = "-g";
	argv[n++] = "-Wall";
	argv[n++] = "-Wextra";
	push_words(argv, &n, flags);
	if (user != NULL)
		push_words(argv, &n, user);
	argv[n++] = "-o";
	argv[n++] = tmp;
	for (size_t i = 0; i < p->n; i++)
		argv[n++] = p->sources[i];
	/* Libraries after the sources, so that the linker keeps them. */
	if (libs != NULL)
		push_words(argv, &n, libs);
	argv[n] = NULL;
	printf("  building    %s.so\n", p->name);
	fflush(stdout);
	rc = run(argv, verbose);
	/* Whole or not at all: a failed build keeps the last good .so. */
	if (rc == 0 && rename(tmp, out) != 0)
		rc = -1;
	if (rc != 0) {
		unlink(tmp);
		fprintf(stderr, "flue: %s.so was not built%s\n", p->name,
		        rc > 0 ? " (the compiler's messages are above)" : "");
	}
	free(argv);
	free(flags);
	free(user);
	free(libs);
	free(out);
	free(tmp);
	return rc;
}

static void
plugin_clear(struct plugin *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->sources[i]);
	free(p->sources);
	free(p->name);
}

int
cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"always", no_argument, NULL, 'B'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	static const char *none[] = {NULL};
	struct cli_harness_args hargs = {0};
	struct flue_harness_options ho = {.size = sizeof(ho), .plugins = none};
	struct flue_error err = {0};
	flue_harness *harness = NULL;
	char *dir = NULL, *cflags = NULL;
	DIR *d = NULL;
	struct dirent *e;
	int opt, rc = CLI_OK, always = 0, verbose = 0, built = 0, failed = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "hBv", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_build_help(); goto out;
		case 'B': always = 1; break;
		case 'v': verbose = 1; break;
		default:
			rc = cli_usage("build", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc) {
		rc = cli_usage("build", "'%s' is extra: flue build takes options "
		               "only", argv[optind]);
		goto out;
	}
	ho.project_dir = hargs.project_dir;
	if (flue_harness_open(&harness, &ho, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	if (asprintf(&dir, "%s/plugins", flue_harness_source_dir(harness)) < 0 ||
	    (cflags = flue_cflags()) == NULL) {
		rc = CLI_FAILED;
		goto out;
	}
	d = opendir(dir);
	if (d == NULL) {
		printf("no plugin sources in %s (plugins/NAME.c or "
		       "plugins/NAME/*.c)\n", dir);
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		struct plugin p = {0};
		size_t len = strlen(e->d_name);
		char *path;
		struct stat st;

		if (e->d_name[0] == '.' ||
		    asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			continue;
		if (len > 2 && strcmp(e->d_name + len - 2, ".c") == 0 &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			p.name = strndup(e->d_name, len - 2);
			add_source(&p, path);
		} else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *sub = opendir(path);
			struct dirent *f;

			p.name = strdup(e->d_name);
			while (sub != NULL && (f = readdir(sub)) != NULL) {
				size_t fl = strlen(f->d_name);
				char *src;

				if (fl > 2 && strcmp(f->d_name + fl - 2, ".c") == 0 &&
				    asprintf(&src, "%s/%s", path, f->d_name) >= 0) {
					add_source(&p, src);
					free(src);
				} else if (fl > 2 && strcmp(f->d_name + fl - 2, ".h") == 0 &&
				           asprintf(&src, "%s/%s", path, f->d_name) >= 0) {
					struct stat hs;

					/* A changed header rebuilds its plugin too. */
					if (stat(src, &hs) == 0 && later(hs.st_mtim, p.newest))
						p.newest = hs.st_mtim;
					free(src);
				}
			}
			if (sub != NULL)
				closedir(sub);
		}
		free(path);
		if (p.name != NULL && p.n > 0) {
			built++;
			if (build_one(&p, dir, cflags, always, verbose) != 0)
				failed++;
		}
		plugin_clear(&p);
	}
	if (built == 0)
		printf("no plugin sources in %s (plugins/NAME.c or "
		       "plugins/NAME/*.c)\n", dir);
	if (failed > 0)
		rc = CLI_FAILED;
out:
	if (d != NULL)
		closedir(d);
	free(dir);
	free(cflags);
	flue_harness_close(harness);
	cli_harness_args_free(&hargs);
	return rc;
}
