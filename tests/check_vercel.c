/* The vercel sandbox plugin, loaded as flue loads it (dlopen), against
 * tests/fake_vercel.c: every sandbox operation, the command stream and
 * its failures (early ends, resets, in-band errors, split UTF-8),
 * stopped sessions, rate limits, 5xx on POSTs without running a command
 * twice, large and binary files, odd paths, credentials, snapshots,
 * kept sandboxes and the management interface.
 *
 * FLUE_TEST_PLUGIN_DIR names the plugin folder and FLUE_FAKE_VERCEL the
 * fake's binary; without them the suite is skipped. */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include <flue/plugin.h>

#include "fake_client.h"
#include "fake_host.h"
#include "../plugins/vercel/vercel.h"

extern char **environ;

static char plugin_path[4096];
static pid_t fake_pid = -1;
static char fake_root[64];          /* http://127.0.0.1:PORT */
static char work_dir[64];           /* repo, state, fake root */
static char repo_url[160];

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Talking to the fake directly                                        */
/* ------------------------------------------------------------------ */

static char *
fake_http(const char *method, const char *path, const char *body,
          long *status)
{
	return fake_client_http(fake_root, method, path, body, status);
}

static void
control(const char *method, const char *path, const char *body)
{
	long status = 0;
	char *answer = fake_http(method, path, body, &status);

	ck_assert_msg(status == 200, "%s %s: %ld %s", method, path, status,
	              answer);
	free(answer);
}

static void
faults(const char *json)
{
	control("POST", "/__fake/faults", json);
}

static json_object *
requests(void)
{
	long status = 0;
	char *answer = fake_http("GET", "/__fake/requests", NULL, &status);
	json_object *log = json_tokener_parse(answer);

	ck_assert_int_eq(status, 200);
	ck_assert_ptr_nonnull(log);
	free(answer);
	return log;
}

static const char *
str(json_object *obj, const char *key)
{
	json_object *v;

	if (obj != NULL && json_object_object_get_ex(obj, key, &v))
		return json_object_get_string(v);
	return "";
}

/* Requests to route since the log was cleared (with status, or any
 * status when status is 0). */
static int
count_route(const char *route, long status)
{
	json_object *log = requests();
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		json_object *r = json_object_array_get_idx(log, i), *st;

		if (strcmp(str(r, "route"), route) != 0)
			continue;
		if (status != 0 && (!json_object_object_get_ex(r, "status", &st) ||
		                    json_object_get_int(st) != status))
			continue;
		n++;
	}
	json_object_put(log);
	return n;
}

/* The last request to route (a new reference), or NULL. */
static json_object *
last_route(const char *route)
{
	json_object *log = requests(), *found = NULL;
	size_t i = json_object_array_length(log);

	while (i-- > 0) {
		json_object *r = json_object_array_get_idx(log, i);

		if (strcmp(str(r, "route"), route) == 0) {
			found = json_object_get(r);
			break;
		}
	}
	json_object_put(log);
	return found;
}

/* ------------------------------------------------------------------ */
/* The plugin                                                          */
/* ------------------------------------------------------------------ */

struct vc {
	void *dl;
	const struct flue_plugin *plugin;
	const struct flue_sandbox_ops *ops;
	void *inst;
	void *ws;
};

static char state_dir[128];

static void
vc_load(struct vc *v, const char *config)
{
	char why[1024], cfg[1024];
	struct flue_error err = { 0, "" };
	int rc;

	memset(v, 0, sizeof(*v));
	v->plugin = fake_plugin_load(plugin_path, &v->dl, why, sizeof(why));
	ck_assert_msg(v->plugin != NULL, "%s", why);
	ck_assert_str_eq(v->plugin->name, "vercel");
	ck_assert_uint_eq(v->plugin->kind, FLUE_PLUGIN_SANDBOX);
	v->ops = v->plugin->sandbox;
	snprintf(cfg, sizeof(cfg), "{\"api_url\":\"%s/api\",\"backoff_ms\":10"
	         "%s%s}", fake_root, config[0] ? "," : "", config);
	rc = v->plugin->create(fake_host(), cfg, &v->inst, &err);
	ck_assert_msg(rc == 0, "create(%s): %s", cfg, err.message);
}

#define CREDS "\"token\":\"tok\",\"team_id\":\"team_t\",\"project_id\":\"prj_t\""

static void
vc_start(struct vc *v, const char *options)
{
	struct flue_error err = { 0, "" };
	int rc;

	char session[32];

	/* A session of its own per test process: a test that fails
	 * half-way leaves nothing in the next one's way. */
	snprintf(session, sizeof(session), "s%ld", (long)getpid());
	vc_load(v, CREDS);
	rc = v->ops->open(v->inst, session, options, &v->ws, &err);
	ck_assert_msg(rc == 0, "open(%s): %s", options, err.message);
	ck_assert_int_eq((int)fake_host_error_violations(), 0);
}

static void
vc_finish(struct vc *v)
{
	struct flue_error err = { 0, "" };

	if (v->ws != NULL)
		ck_assert_msg(v->ops->close(v->ws, &err) == 0, "close: %s",
		              err.message);
	v->plugin->destroy(v->inst);
	fake_plugin_unload(v->dl);
	ck_assert_int_eq((int)fake_host_live_blocks(), 0);
}

static int
run(struct vc *v, const char *command, struct flue_exec_result *res,
    struct flue_error *err)
{
	struct flue_exec_request req = {0};

	memset(res, 0, sizeof(*res));
	memset(err, 0, sizeof(*err));
	req.command = command;
	return v->ops->exec(v->ws, &req, res, err);
}

static void
result_free(struct flue_exec_result *res)
{
	fake_host_free(res->stdout_data.data);
	fake_host_free(res->stderr_data.data);
	memset(res, 0, sizeof(*res));
}

/* Run command; it must succeed; its stdout (malloc'd). */
static char *
run_ok(struct vc *v, const char *command, int *exit_code)
{
	struct flue_exec_result res;
	struct flue_error err;
	char *out;

	ck_assert_msg(run(v, command, &res, &err) == 0, "exec %s: %s", command,
	              err.message);
	out = strdup((const char *)res.stdout_data.data);
	if (exit_code != NULL)
		*exit_code = res.exit_code;
	result_free(&res);
	return out;
}

static void
setup(void)
{
	long status;
	char *a;

	fake_host_reset();
	fake_host_set_paths(work_dir, state_dir);
	a = fake_http("DELETE", "/__fake/requests", NULL, &status);
	free(a);
	faults("{\"faults\":[]}");
	unsetenv("VERCEL_OIDC_TOKEN");
	unsetenv("VERCEL_TOKEN");
	unsetenv("VERCEL_TEAM_ID");
	unsetenv("VERCEL_PROJECT_ID");
}

static void
teardown(void)
{
}

/* ------------------------------------------------------------------ */
/* ndjson lines                                                        */
/* ------------------------------------------------------------------ */

struct got {
	char lines[8][64];
	int n;
};

static int
got_line(void *arg, const char *line, size_t len)
{
	struct got *g = arg;

	ck_assert_int_lt(g->n, 8);
	ck_assert_uint_lt(len, 64);
	memcpy(g->lines[g->n], line, len);
	g->lines[g->n][len] = '\0';
	g->n++;
	return 0;
}

START_TEST(test_lines_split_bytes)
{
	/* "café" cut inside the é, a CRLF line, a blank line, a line cut
	 * in three. */
	const char *parts[] = { "{\"d\":\"caf\xc3", "\xa9\"}\n\r\n  \n{\"a\"",
	                        ":", "1}\r\n{\"b\":2", "}\n" };
	struct vc_lines l = {0};
	struct got g = {0};

	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
		ck_assert_int_eq(vc_lines_feed(&l, parts[i], strlen(parts[i]),
		                               got_line, &g), 0);
	ck_assert_int_eq(g.n, 3);
	ck_assert_str_eq(g.lines[0], "{\"d\":\"caf\xc3\xa9\"}");
	ck_assert_str_eq(g.lines[1], "{\"a\":1}");
	ck_assert_str_eq(g.lines[2], "{\"b\":2}");
	ck_assert_uint_eq(vc_lines_pending(&l), 0);
	vc_lines_clear(&l);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Open, commands, close                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_open_exec_close)
{
	char options[512], *out;
	struct flue_exec_result res;
	struct flue_exec_request req = {0};
	struct flue_error err;
	const char *env[] = { "FOO=bar baz", NULL };
	json_object *create, *body, *q, *x;
	int code;
	struct vc v;

	snprintf(options, sizeof(options), "{\"runtime\":\"node24\",\"vcpus\":2,"
	         "\"source\":\"%s\",\"ports\":[3000],\"env\":{\"BAZ\":\"qux\"},"
	         "\"network\":{\"allow\":[\"github.com\"]},\"timeout\":\"10m\"}",
	         repo_url);
	vc_start(&v, options);
	/* The clone is the working directory. */
	out = run_ok(&v, "cat README.md; pwd", &code);
	ck_assert_int_eq(code, 0);
	ck_assert_msg(strstr(out, "hello from the repo") != NULL, "%s", out);
	ck_assert_msg(strstr(out, v.ops->workdir(v.ws)) != NULL, "%s vs %s",
	              out, v.ops->workdir(v.ws));
	free(out);
	/* Exit codes, both streams, env layered, ports. */
	req.command = "echo out; echo err >&2; echo \"$FOO|$BAZ|$FLUE_PORT_3000_URL\"; exit 3";
	req.env = env;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(v.ops->exec(v.ws, &req, &res, &err), 0);
	ck_assert_int_eq(res.exit_code, 3);
	ck_assert_int_eq((int)res.timed_out, 0);
	ck_assert_msg(strncmp((char *)res.stdout_data.data, "out\nbar baz|qux|https://",
	                      24) == 0, "%s", res.stdout_data.data);
	ck_assert_str_eq((char *)res.stderr_data.data, "err\n");
	result_free(&res);
	/* cwd relative to the workspace. */
	out = run_ok(&v, "mkdir -p sub/dir", NULL);
	free(out);
	req.command = "pwd";
	req.env = NULL;
	req.cwd = "sub/dir";
	ck_assert_int_eq(v.ops->exec(v.ws, &req, &res, &err), 0);
	ck_assert_msg(strstr((char *)res.stdout_data.data, "/sub/dir\n") != NULL,
	              "%s", res.stdout_data.data);
	result_free(&res);

	/* What create sent, as the API wants it. */
	create = last_route("create");
	ck_assert_ptr_nonnull(create);
	ck_assert_str_eq(str(create, "path"), "/api/v2/sandboxes");
	ck_assert(json_object_object_get_ex(create, "query", &q));
	ck_assert_str_eq(str(q, "teamId"), "team_t");
	ck_assert(json_object_object_get_ex(create, "headers", &x));
	ck_assert_str_eq(str(x, "authorization"), "Bearer tok");
	ck_assert(json_object_object_get_ex(create, "body", &body));
	ck_assert_str_eq(str(body, "projectId"), "prj_t");
	ck_assert_str_eq(str(body, "runtime"), "node24");
	ck_assert_int_eq(strncmp(str(body, "name"), "flue-s", 6), 0);
	ck_assert(json_object_object_get_ex(body, "resources", &x));
	ck_assert_str_eq(str(x, "vcpus"), "2");
	ck_assert(json_object_object_get_ex(body, "source", &x));
	ck_assert_str_eq(str(x, "url"), repo_url);
	ck_assert_str_eq(str(x, "type"), "git");
	ck_assert_str_eq(str(body, "timeout"), "600000");
	ck_assert(json_object_object_get_ex(body, "networkPolicy", &x));
	ck_assert_str_eq(str(body, "ports"), "[ 3000 ]");
	json_object_put(create);
	/* Commands go as bash -c with wait and logs. */
	create = last_route("cmd");
	ck_assert(json_object_object_get_ex(create, "body", &body));
	ck_assert_str_eq(str(body, "command"), "bash");
	ck_assert_str_eq(str(body, "wait"), "true");
	ck_assert_str_eq(str(body, "logs"), "true");
	json_object_put(create);

	vc_finish(&v);
	/* A throw-away sandbox is stopped and deleted. */
	ck_assert_int_eq(count_route("stop", 200), 1);
	ck_assert_int_eq(count_route("delete_sandbox", 200), 1);
}
END_TEST

START_TEST(test_timeout_is_124)
{
	struct flue_exec_request req = {0};
	struct flue_exec_result res;
	struct flue_error err = { 0, "" };
	json_object *cmd, *body;
	int64_t t0;
	struct vc v;

	vc_start(&v, "{}");
	req.command = "echo started; sleep 5";
	req.timeout_ms = 400;
	t0 = now_ms();
	ck_assert_int_eq(v.ops->exec(v.ws, &req, &res, &err), 0);
	ck_assert_int_lt(now_ms() - t0, 4000);
	ck_assert_int_eq(res.exit_code, 124);
	ck_assert_int_eq((int)res.timed_out, 1);
	ck_assert_str_eq((char *)res.stdout_data.data, "started\n");
	ck_assert_msg(strstr((char *)res.stderr_data.data, "timed out after 400 ms")
	              != NULL, "%s", res.stderr_data.data);
	result_free(&res);
	cmd = last_route("cmd");
	ck_assert(json_object_object_get_ex(cmd, "body", &body));
	ck_assert_str_eq(str(body, "timeout"), "400");
	json_object_put(cmd);
	vc_finish(&v);
}
END_TEST

struct cancel_run {
	struct vc *v;
	struct flue_cancel *cancel;
	int rc;
	struct flue_error err;
	int64_t ms;
};

static void *
cancel_thread(void *arg)
{
	struct cancel_run *c = arg;
	struct flue_exec_request req = {0};
	struct flue_exec_result res = {0};
	int64_t t0 = now_ms();

	req.command = "echo begun; sleep 20";
	req.cancel = c->cancel;
	c->rc = c->v->ops->exec(c->v->ws, &req, &res, &c->err);
	c->ms = now_ms() - t0;
	result_free(&res);
	return NULL;
}

START_TEST(test_cancel_kills)
{
	struct cancel_run c = {0};
	json_object *kill, *body;
	pthread_t t;
	struct vc v;

	vc_start(&v, "{}");
	c.v = &v;
	c.cancel = fake_cancel_new();
	pthread_create(&t, NULL, cancel_thread, &c);
	usleep(500000);
	fake_cancel_trigger(c.cancel);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.rc, FLUE_ECANCELED);
	ck_assert_int_lt(c.ms, 5000);
	ck_assert_msg(strstr(c.err.message, "killed in the sandbox") != NULL,
	              "%s", c.err.message);
	kill = last_route("cmd_kill");
	ck_assert_ptr_nonnull(kill);
	ck_assert(json_object_object_get_ex(kill, "body", &body));
	ck_assert_str_eq(str(body, "signal"), "9");
	json_object_put(kill);
	fake_cancel_free(c.cancel);
	vc_finish(&v);
}
END_TEST

struct chunks {
	char buf[256];
	size_t len;
	int calls;
};

static void
on_chunk(void *payload, int stream, const char *chunk, size_t len)
{
	struct chunks *c = payload;

	ck_assert_int_eq(stream, 1);
	if (c->len + len < sizeof(c->buf)) {
		memcpy(c->buf + c->len, chunk, len);
		c->len += len;
	}
	c->calls++;
}

START_TEST(test_split_utf8_and_big_output)
{
	struct flue_exec_request req = {0};
	struct flue_exec_result res;
	struct flue_error err = { 0, "" };
	struct chunks c = {0};
	char *out;
	struct vc v;

	vc_start(&v, "{}");
	/* Every log line goes out in two writes, split inside the é. */
	faults("{\"faults\":[{\"route\":\"cmd\",\"action\":{\"stream\":\"split_utf8\"}}]}");
	req.command = "printf 'caf\\303\\251 \\342\\202\\254\\n'";
	req.on_output = on_chunk;
	req.output_payload = &c;
	ck_assert_int_eq(v.ops->exec(v.ws, &req, &res, &err), 0);
	ck_assert_str_eq((char *)res.stdout_data.data, "caf\xc3\xa9 \xe2\x82\xac\n");
	ck_assert_int_ge(c.calls, 1);
	c.buf[c.len] = '\0';
	ck_assert_str_eq(c.buf, "caf\xc3\xa9 \xe2\x82\xac\n");
	result_free(&res);
	/* More than 1 MiB in many small lines arrives whole and in order. */
	out = run_ok(&v, "seq 1 200000", NULL);
	ck_assert_uint_eq(strlen(out), 1288895);
	ck_assert_int_eq(strncmp(out, "1\n2\n3\n", 6), 0);
	ck_assert_str_eq(out + strlen(out) - 14, "199999\n200000\n");
	free(out);
	/* A command silent for longer than any idle limit is fine. */
	out = run_ok(&v, "sleep 2; echo late", NULL);
	ck_assert_str_eq(out, "late\n");
	free(out);
	vc_finish(&v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

static void
write_ok(struct vc *v, const char *path, const void *data, size_t len)
{
	struct flue_error err = { 0, "" };

	ck_assert_msg(v->ops->write_file(v->ws, path, data, len, &err) == 0,
	              "write %s: %s", path, err.message);
}

static void
read_expect(struct vc *v, const char *path, const void *data, size_t len)
{
	struct flue_error err = { 0, "" };
	struct flue_bytes b = {0};

	ck_assert_msg(v->ops->read_file(v->ws, path, &b, &err) == 0,
	              "read %s: %s", path, err.message);
	ck_assert_uint_eq(b.len, len);
	ck_assert(memcmp(b.data, data, len) == 0);
	ck_assert_int_eq(b.data[len], 0);
	fake_host_free(b.data);
}

static int
dirent_count(void *payload, const char *name, uint32_t type)
{
	int *n = payload;

	if (strcmp(name, "d") == 0)
		ck_assert_uint_eq(type, FLUE_FILE_DIRECTORY);
	if (strcmp(name, "bin") == 0)
		ck_assert_uint_eq(type, FLUE_FILE_REGULAR);
	if (strcmp(name, "link") == 0)
		ck_assert_uint_eq(type, FLUE_FILE_SYMLINK);
	(*n)++;
	return 0;
}

START_TEST(test_files)
{
	unsigned char all[512];
	char long_name[400], *out;
	struct flue_error err = { 0, "" };
	struct flue_bytes b = {0};
	struct flue_stat st;
	json_object *w, *entries, *e;
	int exists = 0, n = 0;
	struct vc v;

	for (int i = 0; i < 512; i++)
		all[i] = (unsigned char)(255 - i % 256);  /* NULs, not UTF-8 */
	vc_start(&v, "{}");
	write_ok(&v, "bin", all, sizeof(all));
	read_expect(&v, "bin", all, sizeof(all));
	/* An empty file. */
	write_ok(&v, "empty", "", 0);
	read_expect(&v, "empty", "", 0);
	/* Spaces, quotes, "..", "//" and a name past ustar's 100 bytes with
	 * non-ASCII: it needs a PAX header. */
	write_ok(&v, "d/it's a \"file\".txt", "q", 1);
	read_expect(&v, "d//x/../it's a \"file\".txt", "q", 1);
	snprintf(long_name, sizeof(long_name), "d/%s-\xc3\xa9t\xc3\xa9-%s/f.txt",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	write_ok(&v, long_name, "long", 4);
	read_expect(&v, long_name, "long", 4);
	w = last_route("fs_write");
	ck_assert(json_object_object_get_ex(w, "entries", &entries));
	ck_assert_int_eq((int)json_object_array_length(entries), 1);
	e = json_object_array_get_idx(entries, 0);
	ck_assert_str_eq(str(e, "pax"), "true");
	ck_assert_msg(strstr(str(e, "name"), "\xc3\xa9t\xc3\xa9") != NULL, "%s",
	              str(e, "name"));
	json_object_put(w);
	w = last_route("fs_write");
	json_object_put(w);
	/* The name really is on disk, seen by a command. */
	out = run_ok(&v, "ls d | grep -c bbbb; ls -A d/*bbbb", NULL);
	ck_assert_str_eq(out, "1\nf.txt\n");   /* no temporary file left */
	free(out);
	/* Writing over an executable keeps it executable. */
	free(run_ok(&v, "printf 'echo old' > run.sh; chmod 755 run.sh", NULL));
	write_ok(&v, "run.sh", "echo new", 8);
	out = run_ok(&v, "./run.sh; stat -c %a run.sh", NULL);
	ck_assert_str_eq(out, "new\n755\n");
	free(out);
	/* A directory is not replaced by a file. */
	ck_assert_int_eq(v.ops->write_file(v.ws, "d", "x", 1, &err), FLUE_EISDIR);
	/* Missing files. */
	ck_assert_int_eq(v.ops->read_file(v.ws, "nope", &b, &err), FLUE_ENOENT);
	ck_assert_msg(strstr(err.message, "nope") != NULL, "%s", err.message);
	/* stat: file, directory, symlink, broken symlink, missing. */
	ck_assert_int_eq(v.ops->stat(v.ws, "bin", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_REGULAR);
	ck_assert_uint_eq(st.size, 512);
	ck_assert_uint_eq(st.mode, 0644);
	ck_assert_int_gt(st.mtime_ms, 1000000000000LL);
	ck_assert_int_eq(v.ops->stat(v.ws, "d", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_DIRECTORY);
	free(run_ok(&v, "ln -s bin link; ln -s nowhere broken", NULL));
	ck_assert_int_eq(v.ops->stat(v.ws, "link", &st, &err), 0);
	ck_assert_uint_eq(st.is_symlink, 1);
	ck_assert_uint_eq(st.type, FLUE_FILE_REGULAR);
	ck_assert_int_eq(v.ops->stat(v.ws, "broken", &st, &err), 0);
	ck_assert_uint_eq(st.is_symlink, 1);
	ck_assert_uint_eq(st.type, FLUE_FILE_OTHER);
	ck_assert_int_eq(v.ops->stat(v.ws, "missing", &st, &err), FLUE_ENOENT);
	/* exists, list, mkdir, remove. */
	ck_assert_int_eq(v.ops->exists(v.ws, "bin", &exists, &err), 0);
	ck_assert_int_eq(exists, 1);
	ck_assert_int_eq(v.ops->exists(v.ws, "broken", &exists, &err), 0);
	ck_assert_int_eq(exists, 0);
	ck_assert_int_eq(v.ops->list_dir(v.ws, ".", dirent_count, &n, &err), 0);
	ck_assert_int_eq(n, 6);   /* bin, empty, d, link, broken, run.sh */
	ck_assert_int_eq(v.ops->list_dir(v.ws, "bin", dirent_count, &n, &err),
	                 FLUE_ENOTDIR);
	ck_assert_int_eq(v.ops->list_dir(v.ws, "nodir", dirent_count, &n, &err),
	                 FLUE_ENOENT);
	ck_assert_int_eq(v.ops->mkdir(v.ws, "m/n/o", FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert_int_eq(v.ops->mkdir(v.ws, "m/n/o", FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert_int_eq(v.ops->mkdir(v.ws, "m", 0, &err), FLUE_EEXIST);
	ck_assert_int_eq(v.ops->mkdir(v.ws, "x/y", 0, &err), FLUE_ENOENT);
	ck_assert_int_eq(v.ops->remove(v.ws, "m", 0, &err), FLUE_EISDIR);
	ck_assert_int_eq(v.ops->remove(v.ws, "m", FLUE_REMOVE_RECURSIVE, &err), 0);
	ck_assert_int_eq(v.ops->remove(v.ws, "m", 0, &err), FLUE_ENOENT);
	ck_assert_int_eq(v.ops->remove(v.ws, "m", FLUE_REMOVE_FORCE, &err), 0);
	ck_assert_int_eq(v.ops->remove(v.ws, "link", 0, &err), 0);
	ck_assert_int_eq(v.ops->exists(v.ws, "bin", &exists, &err), 0);
	ck_assert_int_eq(exists, 1);   /* the link went, not its target */
	vc_finish(&v);
}
END_TEST

static long
peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Under valgrind the file is smaller (and RSS means nothing there); under
 * ASan the shadow memory and quarantine make RSS no measure either. */
static int
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

START_TEST(test_64mib_round_trip)
{
	size_t len = (size_t)(under_valgrind() ? 4 : 64) << 20;
	unsigned char *data = malloc(len);
	struct flue_error err = { 0, "" };
	struct flue_bytes b = {0};
	FILE *r = fopen("/dev/urandom", "rb");
	long before, after;
	int64_t t0;
	struct vc v;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(fread(data, 1, len, r), len);
	fclose(r);
	vc_start(&v, "{}");
	before = peak_rss_kib();
	/* The read comes back chunked, in 256 KiB pieces. */
	faults("{\"faults\":[{\"route\":\"fs_read\",\"action\":{\"chunk_size\":262144,\"chunk_delay_ms\":1}}]}");
	t0 = now_ms();
	write_ok(&v, "big.bin", data, len);
	ck_assert_int_eq(v.ops->read_file(v.ws, "big.bin", &b, &err), 0);
	ck_assert_uint_eq(b.len, len);
	ck_assert(memcmp(b.data, data, len) == 0);
	after = peak_rss_kib();
	fprintf(stderr, "check_vercel: %zu MiB round trip in %lld ms; peak RSS "
	        "%ld MiB (%.2fx the file; %ld MiB before)\n", len >> 20,
	        (long long)(now_ms() - t0), after / 1024,
	        (double)after / (double)(len >> 10), before / 1024);
#ifndef __SANITIZE_ADDRESS__
	if (!under_valgrind())
		ck_assert_int_lt(after, 3 * 64 * 1024);
#endif
	fake_host_free(b.data);
	free(data);
	vc_finish(&v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Streams that go wrong                                               */
/* ------------------------------------------------------------------ */

static void
expect_exec_error(const char *fault, const char *needle)
{
	struct flue_exec_result res;
	struct flue_error err;
	char json[512];
	struct vc v;

	vc_start(&v, "{}");
	snprintf(json, sizeof(json), "{\"faults\":[{\"route\":\"cmd\",\"action\":%s}]}",
	         fault);
	control("DELETE", "/__fake/requests", NULL);
	faults(json);
	ck_assert_int_eq(run(&v, "echo one; echo two", &res, &err), FLUE_EIO);
	ck_assert_msg(strstr(err.message, needle) != NULL, "%s: %s", fault,
	              err.message);
	ck_assert_int_eq(count_route("cmd", 0), 1);   /* not sent again */
	vc_finish(&v);
}

START_TEST(test_stream_faults)
{
	expect_exec_error("{\"stream\":\"end_after_start\"}", "stream ended early");
	expect_exec_error("{\"stream\":\"end_after_logs\"}", "stream ended early");
	expect_exec_error("{\"stream\":\"reset_mid_line\"}", "stream ended early");
	expect_exec_error("{\"stream\":\"error_line\"}", "sandbox_stopped");
	expect_exec_error("{\"content_type\":\"application/x-ndjson; charset=utf-8\"}",
	                  "content type");
}
END_TEST

START_TEST(test_wrong_type_on_read)
{
	struct flue_error err = { 0, "" };
	struct flue_bytes b = {0};
	struct vc v;

	vc_start(&v, "{}");
	write_ok(&v, "f", "x", 1);
	faults("{\"faults\":[{\"route\":\"fs_read\",\"action\":{\"content_type\":\"application/json\"}}]}");
	ck_assert_int_eq(v.ops->read_file(v.ws, "f", &b, &err), FLUE_EIO);
	ck_assert_msg(strstr(err.message, "content type 'application/json'") !=
	              NULL, "%s", err.message);
	vc_finish(&v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Stopped sessions, rate limits, 5xx                                  */
/* ------------------------------------------------------------------ */

static void
session_status(const char *status)
{
	long st;
	char *state = fake_http("GET", "/__fake/state", NULL, &st), path[256];
	json_object *s = json_tokener_parse(state), *sessions;
	const char *id = NULL;

	ck_assert_ptr_nonnull(s);
	ck_assert(json_object_object_get_ex(s, "sessions", &sessions));
	/* The newest running session. */
	for (size_t i = 0; i < json_object_array_length(sessions); i++) {
		json_object *one = json_object_array_get_idx(sessions, i);

		if (strcmp(str(one, "status"), "running") == 0)
			id = str(one, "id");
	}
	ck_assert_ptr_nonnull(id);
	snprintf(path, sizeof(path), "/__fake/sessions/%s/status", id);
	{
		char body[64];

		snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
		control("POST", path, body);
	}
	json_object_put(s);
	free(state);
}

START_TEST(test_stopped_session_resumes)
{
	struct flue_error err = { 0, "" };
	struct flue_bytes b = {0};
	json_object *get, *q;
	char *out;
	struct vc v;

	vc_start(&v, "{}");
	write_ok(&v, "kept.txt", "still here", 10);
	session_status("stopped");
	out = run_ok(&v, "cat kept.txt", NULL);
	ck_assert_str_eq(out, "still here");
	free(out);
	ck_assert_int_eq(count_route("cmd", 410), 1);
	get = last_route("get_sandbox");
	ck_assert_ptr_nonnull(get);
	ck_assert(json_object_object_get_ex(get, "query", &q));
	ck_assert_str_eq(str(q, "resume"), "true");
	ck_assert_str_eq(str(q, "projectId"), "prj_t");
	json_object_put(get);
	/* fs/read too. */
	session_status("stopped");
	ck_assert_int_eq(v.ops->read_file(v.ws, "kept.txt", &b, &err), 0);
	fake_host_free(b.data);
	ck_assert_int_eq(count_route("fs_read", 410), 1);
	/* 422 sandbox_stopping. */
	faults("{\"faults\":[{\"route\":\"cmd\",\"action\":{\"status\":422,\"code\":\"sandbox_stopping\",\"message\":\"Sandbox is stopping\"}}]}");
	out = run_ok(&v, "echo ok", NULL);
	ck_assert_str_eq(out, "ok\n");
	free(out);
	ck_assert_int_eq(count_route("get_sandbox", 0), 3);
	vc_finish(&v);
}
END_TEST

START_TEST(test_rate_limits)
{
	struct flue_exec_result res;
	struct flue_error err;
	int64_t t0;
	char *out;
	struct vc v;

	vc_start(&v, "{}");
	faults("{\"faults\":[{\"route\":\"cmd\",\"action\":{\"status\":429,\"code\":\"rate_limited\",\"message\":\"slow down\",\"headers\":{\"Retry-After\":\"1\"}}}]}");
	t0 = now_ms();
	out = run_ok(&v, "echo ok", NULL);
	ck_assert_str_eq(out, "ok\n");
	free(out);
	ck_assert_int_ge(now_ms() - t0, 1000);
	/* Longer than flue waits: fails at once, saying so. */
	faults("{\"faults\":[{\"route\":\"cmd\",\"action\":{\"status\":429,\"code\":\"rate_limited\",\"message\":\"slow down\",\"headers\":{\"Retry-After\":\"30\"}}}]}");
	t0 = now_ms();
	ck_assert_int_eq(run(&v, "echo no", &res, &err), FLUE_ERETRY);
	ck_assert_int_lt(now_ms() - t0, 1000);
	ck_assert_msg(strstr(err.message, "wait 30 s") != NULL &&
	              strstr(err.message, "run a command") != NULL, "%s",
	              err.message);
	/* No Retry-After, never ending: three attempts, then a clear error. */
	control("DELETE", "/__fake/requests", NULL);
	faults("{\"faults\":[{\"route\":\"cmd\",\"times\":5,\"action\":{\"status\":429,\"code\":\"rate_limited\",\"message\":\"slow down\"}}]}");
	ck_assert_int_eq(run(&v, "echo no", &res, &err), FLUE_ERETRY);
	ck_assert_int_eq(count_route("cmd", 429), 3);
	ck_assert_msg(strstr(err.message, "429") != NULL &&
	              strstr(err.message, "after 3 attempts") != NULL, "%s",
	              err.message);
	vc_finish(&v);
}
END_TEST

START_TEST(test_5xx_and_idempotence)
{
	struct flue_error err = { 0, "" };
	struct flue_bytes b = {0};
	char *out;
	struct vc v;

	vc_start(&v, "{}");
	write_ok(&v, "f", "data", 4);
	/* Reads are safe to repeat. */
	faults("{\"faults\":[{\"route\":\"fs_read\",\"times\":2,\"action\":{\"status\":503,\"code\":\"internal_server_error\",\"message\":\"busy\"}}]}");
	ck_assert_int_eq(v.ops->read_file(v.ws, "f", &b, &err), 0);
	fake_host_free(b.data);
	ck_assert_int_eq(count_route("fs_read", 503), 2);
	/* A 500 that did not run the command: the list says so, and the
	 * command is sent again, running once. */
	faults("{\"faults\":[{\"route\":\"cmd\",\"action\":{\"status\":500,\"code\":\"internal_server_error\",\"message\":\"oops\"}}]}");
	out = run_ok(&v, "echo x >> runs1; wc -l < runs1", NULL);
	ck_assert_str_eq(out, "1\n");
	free(out);
	ck_assert_int_eq(count_route("cmd_list", 200), 1);
	/* A 500 after the command ran: found in the list and followed, not
	 * run twice. */
	faults("{\"faults\":[{\"route\":\"cmd\",\"action\":{\"status_after\":500}}]}");
	{
		struct flue_exec_result res;
		struct flue_error e2;

		ck_assert_msg(run(&v, "echo y >> runs2; echo done; exit 7", &res,
		                  &e2) == 0, "%s", e2.message);
		ck_assert_int_eq(res.exit_code, 7);
		ck_assert_str_eq((char *)res.stdout_data.data, "done\n");
		result_free(&res);
	}
	out = run_ok(&v, "wc -l < runs2", NULL);
	ck_assert_str_eq(out, "1\n");
	free(out);
	ck_assert_int_eq(count_route("cmd_logs", 200), 1);
	vc_finish(&v);
}
END_TEST

START_TEST(test_create_after_5xx_and_drop)
{
	long st;
	char *state;
	json_object *s, *sandboxes;
	struct vc v;

	/* The create went through but its answer was a 500: the named
	 * sandbox is found, not made twice. */
	faults("{\"faults\":[{\"route\":\"create\",\"action\":{\"status_after\":500}}]}");
	vc_start(&v, "{}");
	ck_assert_int_eq(count_route("create", 0), 1);
	ck_assert_int_eq(count_route("get_sandbox", 200), 1);
	state = fake_http("GET", "/__fake/state", NULL, &st);
	s = json_tokener_parse(state);
	ck_assert(json_object_object_get_ex(s, "sandboxes", &sandboxes));
	{
		int running = 0;

		for (size_t i = 0; i < json_object_array_length(sandboxes); i++)
			running += strcmp(str(json_object_array_get_idx(sandboxes, i),
			                      "status"), "running") == 0;
		ck_assert_int_eq(running, 1);
	}
	json_object_put(s);
	free(state);
	vc_finish(&v);
	/* A dropped connection before any answer: looked up (404), sent
	 * again. */
	control("DELETE", "/__fake/requests", NULL);
	faults("{\"faults\":[{\"route\":\"create\",\"action\":{\"drop\":true}}]}");
	vc_start(&v, "{}");
	ck_assert_int_eq(count_route("create", 200), 1);
	ck_assert_int_eq(count_route("get_sandbox", 404), 1);
	vc_finish(&v);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct flue_error err = { 0, "" };
	void *ws = NULL;
	char why[256];
	const struct flue_plugin *p;
	void *dl, *inst = NULL;
	int64_t t0 = now_ms();

	p = fake_plugin_load(plugin_path, &dl, why, sizeof(why));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->create(fake_host(), "{\"api_url\":\"http://127.0.0.1:9/api\","
	                 "\"backoff_ms\":10," CREDS "}", &inst, &err), 0);
	ck_assert_int_eq(p->sandbox->open(inst, "s1", "{}", &ws, &err),
	                 FLUE_ERETRY);
	ck_assert_ptr_null(ws);
	ck_assert_msg(strstr(err.message, "cannot reach http://127.0.0.1:9/api")
	              != NULL && strstr(err.message, "create the sandbox"),
	              "%s", err.message);
	ck_assert_int_lt(now_ms() - t0, 3000);
	p->destroy(inst);
	fake_plugin_unload(dl);
	ck_assert_int_eq((int)fake_host_live_blocks(), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Credentials and options                                             */
/* ------------------------------------------------------------------ */

static char *
jwt(const char *claims)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(claims);
	char *out = malloc(n * 2 + 64), *p;

	strcpy(out, "eyJhbGciOiJub25lIn0.");
	p = out + strlen(out);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)claims[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)claims[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)claims[i + 2];
		*p++ = b64[(v >> 18) & 63];
		*p++ = b64[(v >> 12) & 63];
		if (i + 1 < n)
			*p++ = b64[(v >> 6) & 63];
		if (i + 2 < n)
			*p++ = b64[v & 63];
	}
	strcpy(p, ".sig");
	return out;
}

START_TEST(test_credentials)
{
	struct flue_error err = { 0, "" };
	json_object *create, *q, *body, *h;
	char claims[256], *token;
	struct vc v;

	/* An expired OIDC token is refused before any request. */
	snprintf(claims, sizeof(claims), "{\"owner_id\":\"team_oidc\","
	         "\"project_id\":\"prj_oidc\",\"exp\":%lld}",
	         (long long)time(NULL) - 60);
	token = jwt(claims);
	setenv("VERCEL_OIDC_TOKEN", token, 1);
	free(token);
	vc_load(&v, "");
	ck_assert_int_eq(v.ops->open(v.inst, "s1", "{}", &v.ws, &err), FLUE_EAUTH);
	ck_assert_msg(strstr(err.message, "expired") != NULL &&
	              strstr(err.message, "vercel env pull") != NULL, "%s",
	              err.message);
	ck_assert_int_eq(count_route("create", 0), 0);
	/* A valid one: team and project come from its claims. */
	snprintf(claims, sizeof(claims), "{\"owner_id\":\"team_oidc\","
	         "\"project_id\":\"prj_oidc\",\"exp\":%lld}",
	         (long long)time(NULL) + 3600);
	token = jwt(claims);
	setenv("VERCEL_OIDC_TOKEN", token, 1);
	ck_assert_msg(v.ops->open(v.inst, "s1", "{}", &v.ws, &err) == 0, "%s",
	              err.message);
	create = last_route("create");
	ck_assert(json_object_object_get_ex(create, "query", &q));
	ck_assert_str_eq(str(q, "teamId"), "team_oidc");
	ck_assert(json_object_object_get_ex(create, "body", &body));
	ck_assert_str_eq(str(body, "projectId"), "prj_oidc");
	ck_assert(json_object_object_get_ex(create, "headers", &h));
	ck_assert_int_eq(strncmp(str(h, "authorization"), "Bearer eyJ", 10), 0);
	json_object_put(create);
	free(token);
	unsetenv("VERCEL_OIDC_TOKEN");
	vc_finish(&v);
	/* An access token alone is not enough; nothing at all is clear. */
	setenv("VERCEL_TOKEN", "tok", 1);
	vc_load(&v, "");
	ck_assert_int_eq(v.ops->open(v.inst, "s1", "{}", &v.ws, &err), FLUE_EAUTH);
	ck_assert_msg(strstr(err.message, "VERCEL_TEAM_ID") != NULL, "%s",
	              err.message);
	unsetenv("VERCEL_TOKEN");
	ck_assert_int_eq(v.ops->open(v.inst, "s1", "{}", &v.ws, &err), FLUE_EAUTH);
	ck_assert_msg(strstr(err.message, "VERCEL_OIDC_TOKEN") != NULL, "%s",
	              err.message);
	v.ws = NULL;
	vc_finish(&v);
}
END_TEST

static void
expect_bad_options(struct vc *v, const char *options, const char *needle)
{
	struct flue_error err = { 0, "" };
	void *ws = NULL;

	ck_assert_int_eq(v->ops->open(v->inst, "s1", options, &ws, &err),
	                 FLUE_EINVAL);
	ck_assert_ptr_null(ws);
	ck_assert_msg(strstr(err.message, needle) != NULL, "%s: %s", options,
	              err.message);
}

START_TEST(test_bad_options)
{
	struct vc v;

	vc_load(&v, CREDS);
	expect_bad_options(&v, "{\"vcpus\":3}", "sandbox.vcpus: 3 is not 1 or an even number");
	expect_bad_options(&v, "{\"runtme\":\"node24\"}", "did you mean 'runtime'");
	expect_bad_options(&v, "{\"runtime\":\"node18\"}", "'node18' is not a Vercel Sandbox runtime");
	expect_bad_options(&v, "{\"network\":\"open\"}", "sandbox.network: expected \"allow-all\"");
	expect_bad_options(&v, "{\"network\":{\"subnets\":{\"deny\":[\"10.0.0.1\"]}}}", "not a CIDR");
	expect_bad_options(&v, "{\"timeout\":\"soon\"}", "sandbox.timeout");
	expect_bad_options(&v, "{\"snapshot\":\"reuse\"}", "needs a source");
	expect_bad_options(&v, "{\"tags\":{\"a\":\"1\",\"b\":\"1\",\"c\":\"1\",\"d\":\"1\",\"e\":\"1\",\"f\":\"1\"}}", "at most 5");
	ck_assert_int_eq(count_route("create", 0), 0);
	vc_finish(&v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Snapshots, kept sandboxes, management                               */
/* ------------------------------------------------------------------ */

static char *
stored_snapshot(void)
{
	char path[256];
	json_object *root, *snaps;
	char *id = NULL;

	snprintf(path, sizeof(path), "%s/vercel/snapshots.json", state_dir);
	root = json_object_from_file(path);
	if (root == NULL)
		return NULL;
	if (json_object_object_get_ex(root, "snapshots", &snaps)) {
		json_object_object_foreach(snaps, key, entry) {
			(void)key;
			id = strdup(str(entry, "id"));
		}
	}
	json_object_put(root);
	return id;
}

START_TEST(test_snapshot_reuse)
{
	char options[512], *first, *second, *out, path[256];
	json_object *create, *body, *src;
	struct vc v;

	snprintf(path, sizeof(path), "rm -rf %s/vercel", state_dir);
	ck_assert_int_eq(system(path), 0);
	snprintf(options, sizeof(options), "{\"source\":{\"url\":\"%s\","
	         "\"depth\":1},\"setup\":[\"echo set up > setup.txt\"],"
	         "\"snapshot\":\"reuse\"}", repo_url);
	/* Fresh: create, setup, snapshot, boot from it. */
	vc_start(&v, options);
	ck_assert_int_eq(count_route("create", 200), 2);
	ck_assert_int_eq(count_route("cmd", 200), 1);
	ck_assert_int_eq(count_route("snapshot", 200), 1);
	first = stored_snapshot();
	ck_assert_ptr_nonnull(first);
	ck_assert_int_eq(strncmp(first, "snap_", 5), 0);
	out = run_ok(&v, "cat setup.txt README.md", NULL);
	ck_assert_msg(strstr(out, "set up") && strstr(out, "hello from the repo"),
	              "%s", out);
	free(out);
	vc_finish(&v);
	/* Reused: one create on v3 from the snapshot, no setup. */
	control("DELETE", "/__fake/requests", NULL);
	vc_start(&v, options);
	ck_assert_int_eq(count_route("create", 200), 1);
	ck_assert_int_eq(count_route("cmd", 0), 0);
	create = last_route("create");
	ck_assert_str_eq(str(create, "path"), "/api/v3/sandboxes");
	ck_assert(json_object_object_get_ex(create, "body", &body));
	ck_assert(json_object_object_get_ex(body, "source", &src));
	ck_assert_str_eq(str(src, "type"), "snapshot");
	ck_assert_str_eq(str(src, "snapshotId"), first);
	ck_assert(!json_object_object_get_ex(body, "runtime", NULL));
	json_object_put(create);
	out = run_ok(&v, "cat setup.txt", NULL);
	ck_assert_str_eq(out, "set up\n");
	free(out);
	vc_finish(&v);
	/* Expired: 410 snapshot_not_found, then set up afresh and a new
	 * snapshot recorded. */
	snprintf(path, sizeof(path), "/__fake/snapshots/%s/expire", first);
	control("POST", path, "{}");
	control("DELETE", "/__fake/requests", NULL);
	vc_start(&v, options);
	ck_assert_int_eq(count_route("create", 410), 1);
	ck_assert_int_eq(count_route("snapshot", 200), 1);
	second = stored_snapshot();
	ck_assert_ptr_nonnull(second);
	ck_assert_str_ne(first, second);
	out = run_ok(&v, "cat setup.txt", NULL);
	ck_assert_str_eq(out, "set up\n");
	free(out);
	vc_finish(&v);
	free(first);
	free(second);
}
END_TEST

struct listing {
	int sandboxes, snapshots;
	char name[128];
};

static int
on_entry(void *payload, const struct flue_sandbox_entry *e)
{
	struct listing *l = payload;

	if (strcmp(e->kind, "sandbox") == 0) {
		l->sandboxes++;
		snprintf(l->name, sizeof(l->name), "%s", e->id);
	} else {
		ck_assert_str_eq(e->kind, "snapshot");
		l->snapshots++;
	}
	return 0;
}

START_TEST(test_keep_and_manage)
{
	const struct flue_sandbox_manage_ops *m;
	struct flue_error err = { 0, "" };
	struct listing l = {0};
	char *snap = NULL, *out;
	uint32_t version = 0;
	struct vc v;

	vc_start(&v, "{\"keep\":true}");
	write_ok(&v, "notes.txt", "kept", 4);
	vc_finish(&v);
	ck_assert_int_eq(count_route("delete_sandbox", 0), 0);
	ck_assert_int_eq(count_route("stop", 0), 0);
	/* The next open finds it, files and all. */
	control("DELETE", "/__fake/requests", NULL);
	vc_start(&v, "{\"keep\":true}");
	ck_assert_int_eq(count_route("create", 0), 0);
	out = run_ok(&v, "cat notes.txt", NULL);
	ck_assert_str_eq(out, "kept");
	free(out);
	m = v.plugin->interface(FLUE_SANDBOX_MANAGE, &version);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(version, 1);
	ck_assert_int_eq(m->list(v.inst, on_entry, &l, &err), 0);
	ck_assert_int_ge(l.sandboxes, 1);
	ck_assert_int_eq(strncmp(l.name, "flue-", 5), 0);
	ck_assert_int_eq(m->snapshot(v.inst, l.name, &snap, &err), 0);
	ck_assert_int_eq(strncmp(snap, "snap_", 5), 0);
	ck_assert_int_eq(m->stop(v.inst, l.name, &err), 0);
	ck_assert_int_eq(m->remove(v.inst, snap, &err), 0);
	ck_assert_int_eq(m->remove(v.inst, l.name, &err), 0);
	ck_assert_int_eq(m->remove(v.inst, l.name, &err), FLUE_ENOENT);
	ck_assert_msg(strstr(err.message, "404") != NULL, "%s", err.message);
	fake_host_free(snap);
	/* The kept workspace is gone; close must not fail on it. */
	v.plugin->sandbox->close(v.ws, &err);
	v.ws = NULL;
	vc_finish(&v);
}
END_TEST

/* ------------------------------------------------------------------ */

static int
fake_start(const char *binary)
{
	char port_path[160], root[160], log_path[160], cmd[512], *argv[9];
	unsigned port = 0;
	FILE *f;

	snprintf(work_dir, sizeof(work_dir), "/tmp/check_vercel.XXXXXX");
	if (mkdtemp(work_dir) == NULL)
		return -1;
	snprintf(state_dir, sizeof(state_dir), "%s/state", work_dir);
	snprintf(root, sizeof(root), "%s/root", work_dir);
	snprintf(port_path, sizeof(port_path), "%s/port", work_dir);
	snprintf(log_path, sizeof(log_path), "%s/fake.log", work_dir);
	/* A repository to clone, served as a file:// URL. */
	snprintf(cmd, sizeof(cmd), "set -e; mkdir -p %s/repo %s; cd %s/repo; "
	         "git init -q; echo 'hello from the repo' > README.md; "
	         "git add README.md; git -c user.name=t -c user.email=t@t "
	         "commit -qm init", work_dir, root, work_dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(repo_url, sizeof(repo_url), "file://%s/repo", work_dir);
	argv[0] = (char *)binary;
	argv[1] = "--port-file";
	argv[2] = port_path;
	argv[3] = "--root";
	argv[4] = root;
	argv[5] = "--log";
	argv[6] = log_path;
	argv[7] = NULL;
	if (posix_spawn(&fake_pid, binary, NULL, NULL, argv, environ) != 0)
		return -1;
	for (int i = 0; i < 500 && port == 0; i++) {
		usleep(10000);
		f = fopen(port_path, "r");
		if (f != NULL) {
			if (fscanf(f, "%u", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	if (port == 0)
		return -1;
	snprintf(fake_root, sizeof(fake_root), "http://127.0.0.1:%u", port);
	return 0;
}

static void
fake_stop(void)
{
	char cmd[128];

	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
	}
	if (work_dir[0] != '\0' && getenv("KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", work_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "check_vercel: could not remove %s\n",
			        work_dir);
	}
}

static Suite *
vercel_suite(void)
{
	Suite *s = suite_create("vercel");
	TCase *unit = tcase_create("unit");
	TCase *ops = tcase_create("operations");
	TCase *faults_tc = tcase_create("faults");
	TCase *config = tcase_create("config");
	TCase *state = tcase_create("state");
	TCase *all[] = { ops, faults_tc, config, state };

	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		tcase_add_checked_fixture(all[i], setup, teardown);
		tcase_set_timeout(all[i], 60);
	}
	tcase_add_test(unit, test_lines_split_bytes);
	tcase_add_test(ops, test_open_exec_close);
	tcase_add_test(ops, test_timeout_is_124);
	tcase_add_test(ops, test_cancel_kills);
	tcase_add_test(ops, test_split_utf8_and_big_output);
	tcase_add_test(ops, test_files);
	tcase_add_test(ops, test_64mib_round_trip);
	tcase_add_test(faults_tc, test_stream_faults);
	tcase_add_test(faults_tc, test_wrong_type_on_read);
	tcase_add_test(faults_tc, test_stopped_session_resumes);
	tcase_add_test(faults_tc, test_rate_limits);
	tcase_add_test(faults_tc, test_5xx_and_idempotence);
	tcase_add_test(faults_tc, test_create_after_5xx_and_drop);
	tcase_add_test(faults_tc, test_connection_refused);
	tcase_add_test(config, test_credentials);
	tcase_add_test(config, test_bad_options);
	tcase_add_test(state, test_snapshot_reuse);
	tcase_add_test(state, test_keep_and_manage);
	suite_add_tcase(s, unit);
	suite_add_tcase(s, ops);
	suite_add_tcase(s, faults_tc);
	suite_add_tcase(s, config);
	suite_add_tcase(s, state);
	return s;
}

int
main(void)
{
	const char *dir = getenv("FLUE_TEST_PLUGIN_DIR");
	const char *fake = getenv("FLUE_FAKE_VERCEL");
	SRunner *runner;
	int failed;

	if (dir == NULL || fake == NULL || access(fake, X_OK) != 0) {
		fprintf(stderr, "check_vercel: set FLUE_TEST_PLUGIN_DIR and "
		        "FLUE_FAKE_VERCEL; skipped\n");
		return 77;
	}
	snprintf(plugin_path, sizeof(plugin_path), "%s/vercel.so", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (fake_start(fake) != 0) {
		fprintf(stderr, "check_vercel: %s did not start\n", fake);
		fake_stop();
		return 1;
	}
	runner = srunner_create(vercel_suite());
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	fake_stop();
	curl_global_cleanup();
	return failed == 0 ? 0 : 1;
}
