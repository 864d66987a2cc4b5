/* flue serve and flue dev: the HTTP server in the foreground. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"

static void
serve_help(const char *name)
{
	int dev = strcmp(name, "dev") == 0;

	printf("Usage: flue %s [options]\n\n", name);
	if (dev)
		printf("Serves the project's agents over HTTP for development: "
		       "like `flue serve`,\nand agents, roles, skills and "
		       "flue.yaml are read again when they change.\n\n");
	else
		printf("Serves the project's agents over HTTP until SIGTERM or "
		       "Ctrl-C; then stops\naccepting, lets running runs finish "
		       "(--grace) and cancels the rest.\n\n");
	printf("  POST /agents/AGENT/ID   run AGENT in session ID with the JSON "
	       "body as payload\n"
	       "                          (Accept: text/event-stream streams "
	       "the events)\n"
	       "  GET  /runs/RUN[/events|/stream]   a run's record and events\n"
	       "  docs/SERVER.md lists every route.\n\n"
	       "Options:\n"
	       "  --port N             port (default: server.port in flue.yaml, "
	       "3583; 0: any)\n"
	       "  --host ADDR          address (default 127.0.0.1; anything else "
	       "needs a token)\n"
	       "  --env FILE           load NAME=value lines into the "
	       "environment (repeatable)\n"
	       "  --grace SECONDS      on shutdown, how long runs may finish "
	       "(default 30)\n"
	       "  --port-file FILE     write the port there once listening\n"
	       "  --heartbeat MS       a comment on idle event streams this often "
	       "(default 15000)\n"
	       "  -q, --quiet          no log lines\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n\n"
	       "Environment:\n"
	       "  FLUE_API_TOKEN       the bearer token clients must send "
	       "(server.api_token_env)\n");
}

void
cmd_serve_help(void)
{
	serve_help("serve");
}

void
cmd_dev_help(void)
{
	serve_help("dev");
}

static void
log_line(void *payload, const char *message)
{
	time_t t = time(NULL);
	struct tm tm;
	char when[32];

	(void)payload;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s %s\n", when, message);
}

/* Many concurrent streams need many descriptors. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
write_port_file(const char *path, int port)
{
	char *tmp;
	FILE *f;
	int ok;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -1;
	f = fopen(tmp, "w");
	ok = f != NULL && fprintf(f, "%d\n", port) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	ok = ok && rename(tmp, path) == 0;
	free(tmp);
	return ok ? 0 : -1;
}

/* ---- flue dev: serve a checked copy, replace it when files change ---- */

struct dev {
	char *live;            /* the project's source folder */
	char *root;            /* the project's root (flue.yaml) */
	char *snapshots;       /* <root>/.flue/state/dev/<pid> */
	unsigned generation;
	int inotify;
};

static int
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, ok = 1;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			ok = 0;
	if (n < 0)
		ok = 0;
	close(in);
	return close(out) == 0 && ok ? 0 : -1;
}

/* Copy folder from into to (created), files and folders only. */
static int
copy_tree(const char *from, const char *to, int depth)
{
	DIR *d = opendir(from);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	if (mkdir(to, 0700) != 0 && errno != EEXIST) {
		closedir(d);
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char *a, *b;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&a, "%s/%s", from, e->d_name) < 0)
			return -1;
		if (asprintf(&b, "%s/%s", to, e->d_name) < 0) {
			free(a);
			return -1;
		}
		if (stat(a, &st) == 0 && S_ISDIR(st.st_mode) && depth < 8)
			rc = copy_tree(a, b, depth + 1);
		else if (stat(a, &st) == 0 && S_ISREG(st.st_mode))
			rc = copy_file(a, b);
		free(a);
		free(b);
	}
	closedir(d);
	return rc;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
             struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* A new copy of agents/, roles/ and skills/: the folder a harness reads
 * them from.  [caller-owned] */
static char *
dev_snapshot(struct dev *dev)
{
	static const char *const parts[] = {"agents", "roles", "skills"};
	char *dir;

	if (asprintf(&dir, "%s/%u", dev->snapshots, ++dev->generation) < 0)
		return NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		free(dir);
		return NULL;
	}
	for (size_t i = 0; i < 3; i++) {
		char *a, *b;
		int rc;

		if (asprintf(&a, "%s/%s", dev->live, parts[i]) < 0)
			break;
		if (asprintf(&b, "%s/%s", dir, parts[i]) < 0) {
			free(a);
			break;
		}
		rc = copy_tree(a, b, 0);
		free(a);
		free(b);
		if (rc != 0) {
			free(dir);
			return NULL;
		}
	}
	return dir;
}

static void
watch(struct dev *dev, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;

	if (inotify_add_watch(dev->inotify, dir, IN_CLOSE_WRITE | IN_CREATE |
	                      IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) < 0 ||
	    depth == 0 || (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *sub;
		struct stat st;

		if (e->d_name[0] == '.' || asprintf(&sub, "%s/%s", dir,
		                                    e->d_name) < 0)
			continue;
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			watch(dev, sub, depth - 1);
		free(sub);
	}
	closedir(d);
}

/* Watch flue.yaml's folder and agents/, roles/, skills/ (and the skills'
 * folders), from scratch: folders come and go. */
static void
dev_watch(struct dev *dev)
{
	static const char *const parts[] = {"agents", "roles", "skills"};

	if (dev->inotify >= 0)
		close(dev->inotify);
	dev->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (dev->inotify < 0)
		return;
	watch(dev, dev->root, 0);
	if (strcmp(dev->live, dev->root) != 0)
		watch(dev, dev->live, 0);
	for (size_t i = 0; i < 3; i++) {
		char *dir;

		if (asprintf(&dir, "%s/%s", dev->live, parts[i]) < 0)
			continue;
		watch(dev, dir, parts[i][1] == 'k' ? 2 : 0);
		free(dir);
	}
}

/* Whether a batch of events touches what a harness is made of: files in
 * agents/, roles/, skills/, and flue.yaml or those folders themselves. */
static int
relevant(const char *buf, ssize_t len)
{
	for (const char *p = buf; p < buf + len;) {
		const struct inotify_event *ev = (const void *)p;
		const char *n = ev->len ? ev->name : "";

		if (strcmp(n, "flue.yaml") == 0 || strcmp(n, "agents") == 0 ||
		    strcmp(n, "roles") == 0 || strcmp(n, "skills") == 0 ||
		    strstr(n, ".md") != NULL || (ev->mask & IN_ISDIR) ||
		    ev->len == 0)
			return 1;
		p += sizeof(*ev) + ev->len;
	}
	return 0;
}

/* Every agent loads: what "a good version" means. */
static int
dev_check(flue_harness *h)
{
	struct flue_agent_options ao = {.size = sizeof(ao)};
	struct flue_error err = {0};
	char *list, **names = NULL;
	size_t n = 0;
	int bad = 0;
	DIR *d;
	struct dirent *e;

	if (asprintf(&list, "%s/agents", flue_harness_source_dir(h)) < 0)
		return -1;
	d = opendir(list);
	free(list);
	(void)names;
	while (d != NULL && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char name[128];
		flue_agent *a = NULL;

		if (len < 4 || len - 3 >= sizeof(name) ||
		    strcmp(e->d_name + len - 3, ".md") != 0 ||
		    e->d_name[0] == '.')
			continue;
		memcpy(name, e->d_name, len - 3);
		name[len - 3] = '\0';
		ao.name = name;
		if (flue_agent_open(&a, h, &ao, &err) != 0) {
			cli_error("%s", err.message);
			bad = 1;
		}
		flue_agent_close(a);
		n++;
	}
	if (d != NULL)
		closedir(d);
	return bad ? -1 : (int)n;
}

/* Open a harness on a fresh copy of the source; NULL when the copy or a
 * file in it is bad (the errors are printed). */
static flue_harness *
dev_open(struct dev *dev, struct cli_harness_args *hargs, int *agents)
{
	flue_harness *h = NULL;
	char *snap = dev_snapshot(dev);

	if (snap == NULL) {
		cli_error("cannot copy %s into %s: %s", dev->live, dev->snapshots,
		          strerror(errno));
		return NULL;
	}
	hargs->source_dir = snap;
	if (cli_harness_open(hargs, 0, &h) != CLI_OK)
		h = NULL;
	hargs->source_dir = NULL;
	free(snap);
	if (h != NULL && (*agents = dev_check(h)) < 0) {
		flue_harness_close(h);
		h = NULL;
	}
	return h;
}

static int
serve(int argc, char **argv, const char *name)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'},
		{"env", required_argument, NULL, 'e'},
		{"grace", required_argument, NULL, 'g'},
		{"port-file", required_argument, NULL, 'P'},
		{"heartbeat", required_argument, NULL, 'b'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_server_options so = {.size = sizeof(so)};
	struct flue_error err = {0};
	flue_harness *harness = NULL;
	flue_server *server = NULL;
	const char *port_file = NULL;
	char **env_files = NULL, *end;
	size_t n_env = 0;
	sigset_t stop;
	struct dev dev = {.inotify = -1};
	int opt, rc = CLI_OK, quiet = 0, sig = SIGTERM;
	int is_dev = strcmp(name, "dev") == 0;
	long v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': serve_help(name); goto out;
		case 'p':
		case 'g':
		case 'b':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 0 ||
			    v > (opt == 'p' ? 65535 : 86400000)) {
				rc = cli_usage(name, "--%s: '%s' is not %s", opt == 'p' ?
				               "port" : opt == 'g' ? "grace" : "heartbeat",
				               optarg, opt == 'p' ? "a port (0-65535)" :
				               "a whole number");
				goto out;
			}
			if (opt == 'p')
				so.port = v == 0 ? -1 : (int)v;
			else if (opt == 'g')
				so.grace_ms = v > 0 ? v * 1000 : 1;
			else
				so.heartbeat_ms = v > 0 ? v : 1;
			break;
		case 'H': so.host = optarg; break;
		case 'P': port_file = optarg; break;
		case 'q': quiet = 1; break;
		case 'e':
			if ((rc = cli_add_env_file(&env_files, &n_env, optarg)) != CLI_OK)
				goto out;
			break;
		default:
			rc = cli_usage(name, "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc) {
		rc = cli_usage(name, "'%s' is extra: flue %s takes options only",
		               argv[optind], name);
		goto out;
	}
	raise_fd_limit();
	if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK ||
	    (rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
		goto out;
	if (is_dev) {
		flue_harness *copy;
		int agents = 0;

		dev.inotify = -1;
		dev.live = strdup(flue_harness_source_dir(harness));
		dev.root = strdup(flue_harness_project_root(harness));
		if (dev.live == NULL || dev.root == NULL ||
		    asprintf(&dev.snapshots, "%s/.flue/state/dev/%d", dev.root,
		             (int)getpid()) < 0) {
			dev.snapshots = NULL;
			rc = CLI_FAILED;
			goto out;
		}
		if (cli_mkdir_p(dev.snapshots) != 0) {
			cli_error("cannot create %s: %s", dev.snapshots,
			          strerror(errno));
			rc = CLI_FAILED;
			goto out;
		}
		dev_watch(&dev);
		copy = dev_open(&dev, &hargs, &agents);
		if (copy == NULL) {
			cli_error("the project has errors (above); fix them and run "
			          "flue dev again");
			rc = CLI_FAILED;
			goto out;
		}
		flue_harness_close(harness);
		harness = copy;
	}
	/* Every thread the server starts inherits this mask, so the signals
	 * reach only sigwait below. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	so.log = quiet ? NULL : log_line;
	if (flue_server_open(&server, harness, &so, &err) != 0) {
		cli_error("%s", err.message);
		rc = CLI_FAILED;
		goto out;
	}
	if (port_file != NULL &&
	    write_port_file(port_file, flue_server_port(server)) != 0) {
		cli_error("cannot write '%s': %s", port_file, strerror(errno));
		rc = CLI_FAILED;
		goto out;
	}
	if (!quiet)
		fprintf(stderr, "flue: serving %s on %s (Ctrl-C stops)\n",
		        flue_harness_project_root(harness), flue_server_url(server));
	if (!is_dev) {
		sigwait(&stop, &sig);
	} else {
		/* Signals and file changes in one loop. */
		int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
		struct signalfd_siginfo si;

		for (;;) {
			struct pollfd fds[2] = {{sfd, POLLIN, 0},
			                        {dev.inotify, POLLIN, 0}};
			char buf[8192]
				__attribute__((aligned(__alignof__(struct inotify_event))));
			ssize_t n;
			int changed = 0, agents = 0;
			flue_harness *next;

			if (poll(fds, 2, -1) < 0 && errno != EINTR)
				break;
			if (fds[0].revents & POLLIN) {
				sig = read(sfd, &si, sizeof(si)) == sizeof(si) ?
				      (int)si.ssi_signo : SIGTERM;
				break;
			}
			if (!(fds[1].revents & POLLIN))
				continue;
			/* Editors write in bursts: wait for 150 ms of quiet. */
			do {
				while ((n = read(dev.inotify, buf, sizeof(buf))) > 0)
					changed |= relevant(buf, n);
			} while (poll(&fds[1], 1, 150) > 0);
			if (!changed)
				continue;
			dev_watch(&dev);
			next = dev_open(&dev, &hargs, &agents);
			if (next == NULL) {
				log_line(NULL, "the project has errors (above); still "
				         "serving the last good version");
				continue;
			}
			flue_server_reload(server, next);
			if (!quiet) {
				char line[128];

				snprintf(line, sizeof(line), "reloaded: %d agents",
				         agents);
				log_line(NULL, line);
			}
		}
		close(sfd);
	}
	if (!quiet)
		fprintf(stderr, "flue: %s: stopping; %lld runs to finish\n",
		        sig == SIGINT ? "interrupted" : "terminated",
		        (long long)flue_server_active_runs(server));
	flue_server_shutdown(server);
	if (!quiet)
		fprintf(stderr, "flue: stopped\n");
out:
	flue_server_close(server);
	flue_harness_close(harness);
	if (dev.snapshots != NULL)
		nftw(dev.snapshots, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (dev.inotify >= 0)
		close(dev.inotify);
	free(dev.live);
	free(dev.root);
	free(dev.snapshots);
	free(env_files);
	cli_harness_args_free(&hargs);
	return rc;
}

int
cmd_serve(int argc, char **argv)
{
	return serve(argc, argv, "serve");
}

int
cmd_dev(int argc, char **argv)
{
	return serve(argc, argv, "dev");
}
