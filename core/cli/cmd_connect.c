/* flue connect: a conversation with an agent's session in the terminal,
 * line by line, the reply streaming as it comes -- in this process, or
 * against a running `flue serve` (--url). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

void
cmd_connect_help(void)
{
	printf("Usage: flue connect [options] AGENT ID\n\n"
	       "A conversation with AGENT in session ID: each line you type is "
	       "a prompt, the\nreply streams back as it is written, tool calls "
	       "show on stderr.  An empty\nline is skipped; end with Ctrl-D or "
	       "/quit.  Ctrl-C stops the current reply.\n\n"
	       "Options:\n"
	       "  --url URL            talk to a running `flue serve` at URL "
	       "(http://HOST:PORT)\n"
	       "                       instead of running the agent here\n"
	       "  --token TOKEN        the server's bearer token (default: "
	       "$FLUE_API_TOKEN)\n"
	       "  --env FILE           load NAME=value lines into the "
	       "environment (repeatable)\n"
	       CLI_HARNESS_HELP
	       "  -h, --help           show this help\n");
}

static struct flue_cancel *turn_cancel;

static void
on_interrupt(int sig)
{
	(void)sig;
	if (turn_cancel != NULL)
		flue_cancel_trigger(turn_cancel);
}

/* One event of the reply, local or from the server. */
static void
show_event(const char *type, json_object *ev, int *wrote)
{
	const char *task = json_object_get_string(json_object_object_get(ev,
	                                                                 "task_id"));

	if (strcmp(type, "text_delta") == 0 && task == NULL) {
		const char *t = json_object_get_string(json_object_object_get(ev,
		                                                              "text"));

		fputs(t ? t : "", stdout);
		fflush(stdout);
		*wrote = 1;
	} else if (strcmp(type, "tool_start") == 0) {
		fprintf(stderr, "%s  %s%s %s\n", *wrote ? "\n" : "",
		        task ? "[task] " : "",
		        json_object_get_string(json_object_object_get(ev, "name")),
		        json_object_to_json_string_ext(json_object_object_get(ev,
		                                       "arguments"), JSON_FLAGS));
		*wrote = 0;
	} else if (strcmp(type, "retry") == 0) {
		fprintf(stderr, "\n  retrying: %s\n", json_object_get_string(
		        json_object_object_get(ev, "reason")));
	} else if (strcmp(type, "run_end") == 0 && task == NULL) {
		json_object *e;

		if (*wrote)
			putchar('\n');
		*wrote = 0;
		if (json_object_object_get_ex(ev, "error", &e))
			fprintf(stderr, "flue: %s\n", json_object_get_string(
			        json_object_object_get(e, "message")));
	}
}

/* ---- in this process ---------------------------------------------------- */

struct local {
	int wrote;
	int ended;           /* run_end came: it said what went wrong */
};

static void
local_event(void *payload, const struct flue_event *event)
{
	struct local *l = payload;
	json_object *ev = json_tokener_parse(event->json);
	const char *type = json_object_get_string(json_object_object_get(ev,
	                                                                 "type"));

	if (type != NULL) {
		show_event(type, ev, &l->wrote);
		if (strcmp(type, "run_end") == 0 &&
		    json_object_object_get(ev, "task_id") == NULL)
			l->ended = 1;
	}
	json_object_put(ev);
}

static int
local_turn(flue_session *session, const char *line)
{
	struct flue_call_options co = {.size = sizeof(co)};
	struct flue_run_result res = {0};
	struct flue_error err = {0};
	struct local l = {0};
	int rc;

	co.cancel = turn_cancel;
	co.on_event = local_event;
	co.event_payload = &l;
	rc = flue_session_prompt(session, line, &co, &res, &err);
	if (rc != 0 && !l.ended)
		fprintf(stderr, "flue: %s\n", err.message);
	flue_run_result_free(&res);
	return rc;
}

/* ---- against a server ---------------------------------------------------- */

struct remote {
	char host[256];
	char port[8];
	char path[512];      /* /agents/<agent>/<id> */
	const char *token;
};

static int
parse_url(const char *url, const char *agent, const char *id,
          struct remote *r)
{
	const char *p = url, *host, *colon, *slash;
	size_t n;

	if (strncmp(p, "http://", 7) != 0)
		return -1;
	host = p + 7;
	slash = strchr(host, '/');
	n = slash ? (size_t)(slash - host) : strlen(host);
	colon = memchr(host, ':', n);
	if (colon != NULL) {
		if ((size_t)(colon - host) >= sizeof(r->host) ||
		    n - (size_t)(colon - host) - 1 >= sizeof(r->port))
			return -1;
		memcpy(r->host, host, (size_t)(colon - host));
		r->host[colon - host] = '\0';
		memcpy(r->port, colon + 1, n - (size_t)(colon - host) - 1);
		r->port[n - (size_t)(colon - host) - 1] = '\0';
	} else {
		if (n >= sizeof(r->host))
			return -1;
		memcpy(r->host, host, n);
		r->host[n] = '\0';
		strcpy(r->port, "80");
	}
	snprintf(r->path, sizeof(r->path), "/agents/%s/%s", agent, id);
	return r->host[0] != '\0' ? 0 : -1;
}

static int
dial(const struct remote *r)
{
	struct addrinfo hints = {0}, *res, *ai;
	int fd = -1;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(r->host, r->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

static int
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* SSE, byte by byte: lines end at \n (a \r before it is dropped); a
 * blank line dispatches the event's data. */
struct sse {
	char *line;
	size_t len, cap;
	char *data;
	int wrote;
	int ended;
};

static void
sse_line(struct sse *s)
{
	if (s->len > 0 && s->line[s->len - 1] == '\r')
		s->len--;
	s->line[s->len] = '\0';
	if (s->len == 0) {
		if (s->data != NULL) {
			json_object *ev = json_tokener_parse(s->data);
			const char *type = json_object_get_string(
			        json_object_object_get(ev, "type"));

			if (type != NULL) {
				show_event(type, ev, &s->wrote);
				if (strcmp(type, "run_end") == 0 &&
				    json_object_object_get(ev, "task_id") == NULL)
					s->ended = 1;
			}
			json_object_put(ev);
			free(s->data);
			s->data = NULL;
		}
	} else if (strncmp(s->line, "data:", 5) == 0) {
		const char *v = s->line + 5 + (s->line[5] == ' ');

		free(s->data);
		s->data = strdup(v);
	}
	s->len = 0;
}

static void
sse_feed(struct sse *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->len + 2 > s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 4096;
			char *grown = realloc(s->line, cap);

			if (grown == NULL)
				return;
			s->line = grown;
			s->cap = cap;
		}
		if (buf[i] == '\n')
			sse_line(s);
		else
			s->line[s->len++] = buf[i];
	}
}

static int
remote_turn(const struct remote *r, const char *line)
{
	json_object *body = json_object_new_object();
	const char *text;
	char *req = NULL, buf[8192], *head_end;
	struct sse sse = {0};
	size_t have = 0;
	int fd, rc = 0, status = 0, in_body = 0;
	ssize_t n;

	json_object_object_add(body, "prompt", json_object_new_string(line));
	text = json_object_to_json_string_ext(body, JSON_FLAGS);
	/* HTTP/1.0: the server ends the stream by closing, no chunking. */
	if (asprintf(&req, "POST %s HTTP/1.0\r\nHost: %s:%s\r\n"
	             "Accept: text/event-stream\r\nContent-Type: application/json"
	             "\r\nContent-Length: %zu\r\n%s%s%s\r\n%s", r->path, r->host,
	             r->port, strlen(text), r->token ? "Authorization: Bearer " :
	             "", r->token ? r->token : "", r->token ? "\r\n" : "",
	             text) < 0)
		req = NULL;
	json_object_put(body);
	fd = req ? dial(r) : -1;
	if (fd < 0) {
		fprintf(stderr, "flue: cannot connect to http://%s:%s: %s\n",
		        r->host, r->port, strerror(errno));
		free(req);
		return FLUE_EIO;
	}
	if (write_all(fd, req, strlen(req)) != 0)
		rc = FLUE_EIO;
	free(req);
	while (rc == 0 && !sse.ended &&
	       (n = read(fd, buf + have, sizeof(buf) - 1 - have)) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				if (flue_cancel_is_set(turn_cancel))
					break;
				continue;
			}
			rc = FLUE_EIO;
			break;
		}
		if (in_body) {
			sse_feed(&sse, buf, (size_t)n);
			continue;
		}
		have += (size_t)n;
		buf[have] = '\0';
		head_end = strstr(buf, "\r\n\r\n");
		if (head_end == NULL) {
			if (have >= sizeof(buf) - 1)
				rc = FLUE_EIO;
			continue;
		}
		sscanf(buf, "HTTP/%*s %d", &status);
		if (status != 200) {
			json_object *e = json_tokener_parse(head_end + 4);

			fprintf(stderr, "flue: the server answered %d: %s\n", status,
			        e ? json_object_get_string(json_object_object_get(
			        json_object_object_get(e, "error"), "message")) :
			        head_end + 4);
			json_object_put(e);
			rc = FLUE_ERROR;
			break;
		}
		in_body = 1;
		sse_feed(&sse, head_end + 4, have - (size_t)(head_end + 4 - buf));
		have = 0;           /* the body is read from the buffer's start */
	}
	if (rc == 0 && !sse.ended && !flue_cancel_is_set(turn_cancel)) {
		fprintf(stderr, "\nflue: the stream ended before the run did\n");
		rc = FLUE_EIO;
	}
	close(fd);
	free(sse.line);
	free(sse.data);
	return rc;
}

int
cmd_connect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},
		{"token", required_argument, NULL, 't'},
		{"env", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		CLI_HARNESS_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	struct cli_harness_args hargs = {0};
	struct flue_agent_options ao = {.size = sizeof(ao)};
	struct flue_error err = {0};
	struct sigaction sa = {0};
	struct remote remote = {0};
	flue_harness *harness = NULL;
	flue_agent *agent = NULL;
	flue_session *session = NULL;
	const char *url = NULL;
	char **env_files = NULL, *line = NULL;
	size_t n_env = 0, cap = 0;
	int opt, rc = CLI_OK, tty = isatty(STDIN_FILENO);
	ssize_t len;

	optind = 1;
	remote.token = getenv("FLUE_API_TOKEN");
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int handled = cli_harness_option(&hargs, opt, optarg);

		if (handled < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		if (handled)
			continue;
		switch (opt) {
		case 'h': cmd_connect_help(); goto out;
		case 'u': url = optarg; break;
		case 't': remote.token = optarg; break;
		case 'e':
			if ((rc = cli_add_env_file(&env_files, &n_env, optarg)) != CLI_OK)
				goto out;
			break;
		default:
			rc = cli_usage("connect", "unknown option '%s'",
			               argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = cli_usage("connect", "name the agent and the session: flue "
		               "connect AGENT ID");
		goto out;
	}
	if (url != NULL && parse_url(url, argv[optind], argv[optind + 1],
	                             &remote) != 0) {
		rc = cli_usage("connect", "--url: '%s' is not http://HOST[:PORT] "
		               "(put a TLS proxy in front for https)", url);
		goto out;
	}
	if (flue_cancel_new(&turn_cancel, &err) != 0) {
		rc = CLI_FAILED;
		goto out;
	}
	if (url == NULL) {
		ao.name = argv[optind];
		if ((rc = cli_harness_open(&hargs, 0, &harness)) != CLI_OK ||
		    (rc = cli_load_envs(harness, env_files, n_env)) != CLI_OK)
			goto out;
		if (flue_agent_open(&agent, harness, &ao, &err) != 0 ||
		    flue_session_open(&session, agent, argv[optind + 1],
		                      &err) != 0) {
			cli_error("%s", err.message);
			rc = CLI_FAILED;
			goto out;
		}
	}
	/* No SA_RESTART: Ctrl-C interrupts a read from the server too. */
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (tty)
		fprintf(stderr, "flue: %s, session %s%s%s; Ctrl-D ends\n",
		        argv[optind], argv[optind + 1], url ? " at " : "",
		        url ? url : "");
	for (;;) {
		if (tty)
			fputs("you> ", stderr);
		len = getline(&line, &cap, stdin);
		if (len < 0)
			break;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0)
			break;
		flue_cancel_free(turn_cancel);
		turn_cancel = NULL;
		if (flue_cancel_new(&turn_cancel, &err) != 0) {
			rc = CLI_FAILED;
			break;
		}
		if (url != NULL)
			remote_turn(&remote, line);
		else
			local_turn(session, line);
		fflush(stdout);
	}
	if (tty)
		fputc('\n', stderr);
out:
	free(line);
	flue_session_close(session);
	flue_agent_close(agent);
	flue_harness_close(harness);
	flue_cancel_free(turn_cancel);
	turn_cancel = NULL;
	free(env_files);
	cli_harness_args_free(&hargs);
	return rc;
}
