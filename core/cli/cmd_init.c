/* flue init: scaffold a new project (flue.yaml, AGENTS.md, an example
 * agent, role and skill, .env.example and .gitignore).  It never touches
 * anything that is already there unless asked to with --force, never
 * writes through a symbolic link, and writes each file atomically. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct scaffold_file {
	const char *path;     /* relative to the project folder */
	const char *summary;  /* for --help */
	const char *text;
};

static const struct scaffold_file scaffold[] = {
	{"flue.yaml", "plugins, default model and sandbox",
	 "# flue.yaml: how this project's agents run. Every key is optional.\n"
	 "plugins: [local]            # sandbox and provider plugins to load\n"
	 "defaults:\n"
	 "  model: anthropic/claude-sonnet-4.6   # provider/model\n"
	 "  sandbox: local            # run tools on this machine, in the "
	 "project folder\n"
	 "  thinking: medium          # off, minimal, low, medium, high, xhigh\n"
	 "server:\n"
	 "  port: 3583                # flue dev / flue serve\n"},
	{"AGENTS.md", "context every agent reads",
	 "# Project context\n"
	 "\n"
	 "Every agent reads this file from its working directory. Say what "
	 "this\n"
	 "project is, how to build and test it, and the conventions to "
	 "follow.\n"},
	{".flue/agents/hello.md", "an example agent",
	 "---\n"
	 "description: Greets the user and describes the project it finds\n"
	 "model: anthropic/claude-sonnet-4.6\n"
	 "role: friendly\n"
	 "max_turns: 8\n"
	 "---\n"
	 "Greet {{ payload.name | \"the user\" }}. Then look around the "
	 "working\n"
	 "directory with your tools and describe, in three sentences, what "
	 "this\n"
	 "project is.\n"},
	{".flue/roles/friendly.md", "the role the example agent takes",
	 "---\n"
	 "description: Warm, brief and plain-spoken\n"
	 "thinking: low\n"
	 "---\n"
	 "Be warm and brief. Use short sentences and plain words.\n"},
	{".agents/skills/describe-project/SKILL.md",
	 "a skill agents can use",
	 "---\n"
	 "name: describe-project\n"
	 "description: Describe a software project from its files - what it "
	 "does, how it is built and how it is tested. Use when asked what a "
	 "repository or folder contains.\n"
	 "---\n"
	 "# Describe a project\n"
	 "\n"
	 "1. List the top-level files and read the README, if there is one.\n"
	 "2. Find the build and test commands (Makefile, package.json, "
	 "configure.ac, ...).\n"
	 "3. Summarise: purpose, layout, how to build, how to test.\n"},
	{".env.example", "the variables to set in .env",
	 "# Copy to .env (never commit it) and load it with: flue run --env "
	 ".env ...\n"
	 "# Vercel AI Gateway key: https://vercel.com/docs/ai-gateway\n"
	 "AI_GATEWAY_API_KEY=\n"},
	{".gitignore", "keeps .env and run state out of git",
	 ".env\n"
	 ".env.local\n"
	 ".flue/state/\n"},
};

#define N_SCAFFOLD (sizeof(scaffold) / sizeof(scaffold[0]))

void
cmd_init_help(void)
{
	printf("Usage: flue init [--force] [DIR]\n\n"
	       "Creates a new flue project in DIR (default: the current "
	       "folder), creating\nDIR and its parents if they are missing. "
	       "It writes:\n\n");
	for (size_t i = 0; i < N_SCAFFOLD; i++)
		printf("  %-40s  %s\n", scaffold[i].path, scaffold[i].summary);
	printf("\nIf any of these already exists, nothing is written: the "
	       "existing paths are\nlisted and the exit status is 1.  With "
	       "--force, existing regular files are\noverwritten; symbolic "
	       "links and folders never are, and flue init never\nwrites "
	       "through a symbolic link inside DIR.  Each file is written to "
	       "a\ntemporary file in its folder and renamed into place, so "
	       "none is ever left\nhalf-written.\n\n"
	       "Options:\n"
	       "  --force             overwrite existing regular files\n"
	       "  -h, --help          show this help\n");
}

/* dir/rel as the user would type it: just rel when dir is ".". */
static char *
join_path(const char *dir, const char *rel, size_t rel_len)
{
	size_t dlen = strlen(dir);
	char *out;

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (dlen == 1 && dir[0] == '.') {
		out = malloc(rel_len + 1);
		if (out != NULL)
			snprintf(out, rel_len + 1, "%.*s", (int)rel_len, rel);
		return out;
	}
	if (asprintf(&out, "%.*s%s%.*s", (int)dlen, dir,
	             dir[dlen - 1] == '/' ? "" : "/", (int)rel_len, rel) < 0)
		return NULL;
	return out;
}

struct conflict {
	char *shown;      /* owned: the path as dir/rel */
	const char *why;  /* NULL for a regular file --force may replace */
};

struct conflicts {
	struct conflict items[N_SCAFFOLD];   /* at most one per file */
	size_t n;
	size_t n_hard;    /* ones --force cannot fix */
};

/* Record shown (taking it) unless it is already there. */
static void
add_conflict(struct conflicts *c, char *shown, const char *why)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].shown, shown) == 0) {
			free(shown);
			return;
		}
	c->items[c->n].shown = shown;
	c->items[c->n].why = why;
	c->n++;
	if (why != NULL)
		c->n_hard++;
}

static void
conflicts_free(struct conflicts *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->items[i].shown);
	c->n = c->n_hard = 0;
}

/* What stands in the way of writing rel under dir: the file itself, or a
 * folder on its way that is not a real folder.  -1 (reported) when a path
 * cannot be checked. */
static int
check_target(const char *dir, const char *rel, struct conflicts *c)
{
	const char *p = rel;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - rel) : strlen(rel);
		char *path = join_path(dir, rel, len);
		struct stat st;

		if (path == NULL) {
			cli_error("out of memory");
			return -1;
		}
		if (lstat(path, &st) != 0) {
			int e = errno;

			if (e == ENOENT) {
				free(path);
				return 0;
			}
			cli_error("cannot check %s: %s", path, strerror(e));
			free(path);
			return -1;
		}
		if (slash != NULL && S_ISDIR(st.st_mode)) {
			free(path);
			p = slash + 1;
			continue;
		}
		if (slash == NULL && S_ISREG(st.st_mode))
			add_conflict(c, path, NULL);
		else if (S_ISLNK(st.st_mode))
			add_conflict(c, path, "a symbolic link");
		else if (S_ISDIR(st.st_mode))
			add_conflict(c, path, "a folder");
		else if (slash != NULL)
			add_conflict(c, path, "not a folder");
		else
			add_conflict(c, path, "not a regular file");
		return 0;
	}
}

static void
report_conflicts(const struct conflicts *c, int force)
{
	if (force)
		fprintf(stderr, "flue: these already exist and cannot be "
		        "overwritten, even with --force:\n");
	else
		fprintf(stderr, "flue: these already exist:\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct conflict *k = &c->items[i];

		if (k->why == NULL && force)
			continue;
		if (k->why == NULL)
			fprintf(stderr, "  %s\n", k->shown);
		else if (force)
			fprintf(stderr, "  %s  (%s)\n", k->shown, k->why);
		else
			fprintf(stderr, "  %s  (%s: never replaced, even with "
			        "--force)\n", k->shown, k->why);
	}
	if (!force && c->n_hard < c->n)
		fprintf(stderr, "Nothing was written. Use --force to "
		        "overwrite.\n");
	else
		fprintf(stderr, "Nothing was written. Move them aside and run "
		        "flue init again.\n");
}

/* mkdir -p, for DIR itself: its parents are the user's to choose, so
 * symbolic links to folders are fine there. */
static int
make_dirs(const char *dir)
{
	char *copy = strdup(dir);
	int rc = 0;

	if (copy == NULL) {
		cli_error("out of memory");
		return -1;
	}
	for (char *p = copy + 1; rc == 0; p++) {
		char saved = *p;
		struct stat st;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0) {
			int e = errno;

			if (e != EEXIST) {
				cli_error("cannot create %s: %s", copy, strerror(e));
				rc = -1;
			} else if (stat(copy, &st) != 0 || !S_ISDIR(st.st_mode)) {
				cli_error("cannot create %s: %s", copy,
				          strerror(ENOTDIR));
				rc = -1;
			}
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return rc;
}

/* Create the folders on the way to rel inside dir.  Each must end up a
 * real folder: a symbolic link that appeared since the check is refused.
 * Returns 0, or an errno value with *failed naming the folder. */
static int
make_parents(const char *dir, const char *rel, char **failed)
{
	for (const char *slash = strchr(rel, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		char *path = join_path(dir, rel, (size_t)(slash - rel));
		struct stat st;
		int e = 0;

		if (path == NULL)
			return ENOMEM;
		if (mkdir(path, 0755) != 0) {
			e = errno;
			if (e == EEXIST)
				e = lstat(path, &st) != 0 ? errno :
				    S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
		}
		if (e != 0) {
			*failed = path;
			return e;
		}
		free(path);
	}
	return 0;
}

static int
write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Put path in place atomically: without replace, an existing path is
 * never clobbered (EEXIST), even one that appeared since the check. */
static int
place_file(const char *tmp, const char *path, int replace)
{
	if (!replace) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path,
		              RENAME_NOREPLACE) == 0)
			return 0;
		/* Filesystems without RENAME_NOREPLACE: checked already. */
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
	}
	return rename(tmp, path);
}

/* Best effort: make the rename itself durable. */
static void
sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) :
	            strdup(".");
	int fd;

	if (dir == NULL)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Write text to path through a temporary file in the same folder:
 * mkstemp, write, fsync, chmod 0644, rename.  Returns 0 or an errno
 * value; the temporary file never outlives a failure. */
static int
write_atomically(const char *path, const char *text, int replace)
{
	const char *slash = strrchr(path, '/');
	int base = slash ? (int)(slash - path + 1) : 0;
	char *tmp;
	int fd, e = 0;

	/* dir/.name.XXXXXX: hidden, and no loader takes it for a .md. */
	if (asprintf(&tmp, "%.*s.%s.XXXXXX", base, path, path + base) < 0)
		return ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0) {
		e = errno;
		free(tmp);
		return e;
	}
	if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0 ||
	    fchmod(fd, 0644) != 0)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && place_file(tmp, path, replace) != 0)
		e = errno;
	if (e != 0)
		unlink(tmp);
	else
		sync_parent(path);
	free(tmp);
	return e;
}

/* Write every file; stops at the first failure. */
static int
write_scaffold(const char *dir, const struct conflicts *c)
{
	for (size_t i = 0; i < N_SCAFFOLD; i++) {
		const char *rel = scaffold[i].path;
		char *path = join_path(dir, rel, strlen(rel)), *failed = NULL;
		int existed = 0, e;

		if (path == NULL) {
			cli_error("out of memory");
			return CLI_FAILED;
		}
		for (size_t j = 0; j < c->n; j++)
			if (strcmp(c->items[j].shown, path) == 0)
				existed = 1;
		e = make_parents(dir, rel, &failed);
		if (e == 0)
			e = write_atomically(path, scaffold[i].text, existed);
		if (e != 0 && failed != NULL)
			cli_error("cannot write %s: cannot create %s: %s", path,
			          failed, strerror(e));
		else if (e != 0)
			cli_error("cannot write %s: %s", path, strerror(e));
		if (e != 0) {
			free(failed);
			free(path);
			return CLI_FAILED;
		}
		printf("  %s %s\n", existed ? "replaced" : "created", rel);
		fflush(stdout);
		free(path);
	}
	return CLI_OK;
}

/* DIR as a word for the shell, quoted when it needs to be. */
static void
print_shell_word(const char *word)
{
	const char *safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                   "0123456789_./-+:,@%=";

	if (word[0] == '-')
		fputs("./", stdout);
	if (word[strspn(word, safe)] == '\0') {
		fputs(word, stdout);
		return;
	}
	putchar('\'');
	for (const char *p = word; *p; p++)
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	putchar('\'');
}

static void
print_next_steps(const char *dir)
{
	printf("\nNext steps:\n");
	if (strcmp(dir, ".") != 0 && strcmp(dir, "./") != 0) {
		printf("  cd ");
		print_shell_word(dir);
		putchar('\n');
	}
	printf("  flue render hello     show the system prompt the hello "
	       "agent gets\n"
	       "  cp .env.example .env  and set AI_GATEWAY_API_KEY, then:\n"
	       "  flue run hello --payload '{\"name\": \"Ada\"}'\n");
}

int
cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct conflicts conflicts = {0};
	const char *dir = ".";
	struct stat st;
	int opt, force = 0, rc = CLI_OK;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h': cmd_init_help(); return CLI_OK;
		case 'f': force = 1; break;
		default:
			return cli_usage("init", "unknown or incomplete option "
			                 "'%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		dir = argv[optind++];
	if (optind < argc)
		return cli_usage("init", "unexpected argument '%s'; flue init "
		                 "takes one folder", argv[optind]);
	if (dir[0] == '\0')
		return cli_usage("init", "the folder name is empty");

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			cli_error("%s exists and is not a folder", dir);
			return CLI_FAILED;
		}
		/* Check every target before writing any. */
		for (size_t i = 0; i < N_SCAFFOLD; i++)
			if (check_target(dir, scaffold[i].path, &conflicts) != 0) {
				conflicts_free(&conflicts);
				return CLI_FAILED;
			}
		if ((!force && conflicts.n > 0) || conflicts.n_hard > 0) {
			report_conflicts(&conflicts, force);
			conflicts_free(&conflicts);
			return CLI_FAILED;
		}
	} else if (errno != ENOENT) {
		cli_error("cannot use %s: %s", dir, strerror(errno));
		return CLI_FAILED;
	} else if (make_dirs(dir) != 0) {
		return CLI_FAILED;
	}

	rc = write_scaffold(dir, &conflicts);
	conflicts_free(&conflicts);
	if (rc == CLI_OK)
		print_next_steps(dir);
	return rc;
}
