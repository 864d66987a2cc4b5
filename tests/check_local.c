/*
 * check_local -- every sandbox operation of the `local` plugin, loaded
 * from $FLUE_TEST_PLUGIN_DIR/local.so through the fake host.
 *
 * Each test gets a fresh folder under /tmp as its workspace and removes
 * it afterwards; the teardown also checks that every byte the plugin
 * handed over was freed and that every error message was one line.
 */
#define _GNU_SOURCE
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fake_host.h"

#define TEST_TIMEOUT 60
#define MIB ((size_t)1 << 20)
#define NOTE_TIMEOUT(ms) \
	"[flue] command timed out after " #ms " ms; process group killed\n"

static const struct flue_plugin *plugin;
static const struct flue_sandbox_ops *ops;
static void *dl_handle;
static void *inst;
static void *ws;
static char tmpdir[PATH_MAX];
static struct flue_error err;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* tmpdir/rel in one of a few rotating buffers. */
static const char *
tp(const char *rel)
{
	static char bufs[8][PATH_MAX * 2];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, PATH_MAX * 2, "%s/%s", tmpdir, rel);
	return b;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT;
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Host-side helpers, independent of the plugin. */
static void
host_put(const char *rel, const void *data, size_t len)
{
	FILE *f = fopen(tp(rel), "wb");

	ck_assert_msg(f != NULL, "fopen %s: %s", rel, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
host_get(const char *rel, size_t *len)
{
	FILE *f = fopen(tp(rel), "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "fopen %s: %s", rel, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
host_exists(const char *rel)
{
	struct stat st;

	return lstat(tp(rel), &st) == 0;
}

static mode_t
host_mode(const char *rel)
{
	struct stat st;

	ck_assert_int_eq(lstat(tp(rel), &st), 0);
	return st.st_mode;
}

/* Entries of dir whose name starts with ".flue-tmp-". */
static int
count_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".flue-tmp-", 10) == 0)
			n++;
	closedir(d);
	return n;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* A process that is gone or a zombie nobody reaps (some containers'
 * init never reaps orphans) has stopped running. */
static int
pid_dead(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	FILE *f;
	char state = '?';

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 1, " %c", &state);
	fclose(f);
	return state == 'Z' || state == 'X';
}

static int
wait_dead(pid_t pid, long ms)
{
	uint64_t until = now_ms() + (uint64_t)ms;

	while (!pid_dead(pid)) {
		if (now_ms() > until)
			return 0;
		sleep_ms(20);
	}
	return 1;
}

static pid_t
read_pid(const char *rel)
{
	size_t len;
	char *s = host_get(rel, &len);
	pid_t pid = (pid_t)atoi(s);

	free(s);
	ck_assert_int_gt(pid, 1);
	return pid;
}

/* Workspace options as JSON text (malloc'd); env_json may be NULL. */
static char *
ws_options(const char *cwd, const char *env_json)
{
	struct json_object *o = json_object_new_object();
	char *s;

	if (cwd != NULL)
		json_object_object_add(o, "cwd", json_object_new_string(cwd));
	if (env_json != NULL)
		json_object_object_add(o, "env", json_tokener_parse(env_json));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Open a workspace and expect rc; returns it (NULL on error). */
static void *
open_ws(const char *cwd, const char *env_json, int expect)
{
	char *json = ws_options(cwd, env_json);
	void *w = NULL;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = ops->open(inst, "test-session", json, &w, &err);
	ck_assert_msg(rc == expect, "open %s: rc %d, expected %d (%s)", json,
	              rc, expect, err.message);
	free(json);
	if (rc != 0)
		ck_assert_ptr_null(w);
	return w;
}

static void
close_ws(void *w)
{
	ck_assert_int_eq(ops->close(w, &err), 0);
}

static void
request_init(struct flue_exec_request *req, const char *cmd)
{
	memset(req, 0, sizeof(*req));
	req->command = cmd;
}

static int
exec_on(void *w, const struct flue_exec_request *req,
        struct flue_exec_result *res)
{
	memset(res, 0, sizeof(*res));
	memset(&err, 0, sizeof(err));
	return ops->exec(w, req, res, &err);
}

/* Run cmd in the fixture workspace and expect success. */
static void
run(const char *cmd, const char *cwd, uint64_t timeout_ms,
    struct flue_exec_result *res)
{
	struct flue_exec_request req;
	int rc;

	request_init(&req, cmd);
	req.cwd = cwd;
	req.timeout_ms = timeout_ms;
	rc = exec_on(ws, &req, res);
	ck_assert_msg(rc == 0, "exec '%s': rc %d (%s)", cmd, rc, err.message);
	ck_assert_ptr_nonnull(res->stdout_data.data);
	ck_assert_ptr_nonnull(res->stderr_data.data);
	ck_assert_int_eq(res->stdout_data.data[res->stdout_data.len], 0);
	ck_assert_int_eq(res->stderr_data.data[res->stderr_data.len], 0);
}

static void
result_free(struct flue_exec_result *res)
{
	fake_host_free(res->stdout_data.data);
	fake_host_free(res->stderr_data.data);
	memset(res, 0, sizeof(*res));
}

/* Assert data/len equals the NUL-terminated s. */
#define ck_assert_bytes_str(bytes, s) do { \
	ck_assert_uint_eq((bytes).len, strlen(s)); \
	ck_assert_msg(memcmp((bytes).data, (s), strlen(s)) == 0, \
	              "got '%s', expected '%s'", (char *)(bytes).data, (s)); \
} while (0)

static void
expect_err(int rc, int code, const char *needle)
{
	ck_assert_msg(rc == code, "rc %d, expected %d (%s)", rc, code,
	              err.message);
	ck_assert_int_eq(err.code, code);
	if (needle != NULL)
		ck_assert_msg(strstr(err.message, needle) != NULL,
		              "'%s' not in message '%s'", needle, err.message);
}

/* Every child was reaped: no zombies (orphaned grandchildren belong to
 * init, not to us). */
static void
assert_no_children(void)
{
	int st;

	errno = 0;
	ck_assert_int_eq(waitpid(-1, &st, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

static void
setup(void)
{
	char tmpl[] = "/tmp/flue-local-XXXXXX";
	char buf[512];

	umask(022);
	fake_host_reset();
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	ck_assert_ptr_nonnull(realpath(tmpl, tmpdir));
	plugin = fake_plugin_load_test("local", &dl_handle, buf, sizeof(buf));
	ck_assert_msg(plugin != NULL, "%s", buf);
	ops = plugin->sandbox;
	ck_assert_int_eq(plugin->create(fake_host(), "{}", &inst, &err), 0);
	ws = open_ws(tmpdir, NULL, 0);
}

static void
teardown(void)
{
	if (ws != NULL)
		ops->close(ws, &err);
	if (inst != NULL)
		plugin->destroy(inst);
	ws = inst = NULL;
	fake_plugin_unload(dl_handle);
	dl_handle = NULL;
	rm_rf(tmpdir);
	assert_no_children();
	ck_assert_uint_eq(fake_host_live_blocks(), 0);
	ck_assert_uint_eq(fake_host_error_violations(), 0);
}

/* ------------------------------------------------------------------ */
/* Descriptor and options                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_descriptor)
{
	const struct flue_sandbox_ops *s = plugin->sandbox;

	ck_assert_uint_eq(plugin->abi_major, FLUE_PLUGIN_ABI_MAJOR);
	ck_assert_uint_eq(plugin->abi_minor, FLUE_PLUGIN_ABI_MINOR);
	ck_assert_uint_eq(plugin->size, sizeof(struct flue_plugin));
	ck_assert_uint_eq(plugin->kind, FLUE_PLUGIN_SANDBOX);
	ck_assert_str_eq(plugin->name, "local");
	ck_assert_str_eq(plugin->version, "0.1.0");
	ck_assert(plugin->description[0] != '\0');
	ck_assert_ptr_null(strchr(plugin->description, '\n'));
	ck_assert_ptr_nonnull(plugin->create);
	ck_assert_ptr_nonnull(plugin->destroy);
	ck_assert_ptr_null(plugin->provider);
	ck_assert_ptr_null(plugin->tool);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->size, sizeof(struct flue_sandbox_ops));
	ck_assert(s->open && s->close && s->workdir && s->read_file &&
	          s->write_file && s->stat && s->list_dir && s->exists &&
	          s->mkdir && s->remove && s->exec);
	/* Only the entry point is exported. */
	ck_assert_ptr_nonnull(dlsym(dl_handle, "flue_plugin_entry"));
	ck_assert_ptr_null(dlsym(dl_handle, "local_exec"));
	ck_assert_ptr_null(dlsym(dl_handle, "local_ops"));
	ck_assert_str_eq(ops->workdir(ws), tmpdir);
}
END_TEST

START_TEST(test_create_options)
{
	static const char *const bad[] = {
		"not json", "{} []", "{}x", "[]", "\"{}\"", "", "{", "null"
	};
	void *other = (void *)1;
	size_t i;

	expect_err(plugin->create(fake_host(), "{\"bogus\": 1}", &other, &err),
	           FLUE_EINVAL, "'bogus'");
	ck_assert_ptr_null(other);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		other = (void *)1;
		memset(&err, 0, sizeof(err));
		expect_err(plugin->create(fake_host(), bad[i], &other, &err),
		           FLUE_EINVAL, NULL);
		ck_assert_ptr_null(other);
	}
	ck_assert_int_eq(plugin->create(fake_host(), " {}\n", &other, &err), 0);
	ck_assert_ptr_nonnull(other);
	plugin->destroy(other);
}
END_TEST

START_TEST(test_open_options)
{
	char buf[PATH_MAX * 2], old[PATH_MAX];
	void *w = (void *)1;

	/* tmpdir is plain (mkdtemp), so it can go into JSON as it is. */
	snprintf(buf, sizeof(buf), "{\"cwd\": \"%s\", \"shell\": \"zsh\"}",
	         tmpdir);
	expect_err(ops->open(inst, "s", buf, &w, &err), FLUE_EINVAL, "'shell'");
	ck_assert_ptr_null(w);
	snprintf(buf, sizeof(buf), "{\"cwd\": \"%s\"} trailing", tmpdir);
	expect_err(ops->open(inst, "s", buf, &w, &err), FLUE_EINVAL, NULL);
	expect_err(ops->open(inst, "s", "[]", &w, &err), FLUE_EINVAL, NULL);

	open_ws(tp("nope"), NULL, FLUE_ENOENT);
	ck_assert_ptr_nonnull(strstr(err.message, "nope"));
	host_put("file", "x", 1);
	open_ws(tp("file"), NULL, FLUE_ENOTDIR);
	ck_assert_ptr_nonnull(strstr(err.message, "file"));
	open_ws(tmpdir, "\"PATH=/bin\"", FLUE_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "env"));
	open_ws(tmpdir, "[\"A=b\"]", FLUE_EINVAL);
	open_ws(tmpdir, "null", FLUE_EINVAL);
	open_ws(tmpdir, "{\"NUM\": 5}", FLUE_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "NUM"));
	open_ws(tmpdir, "{\"A=B\": \"x\"}", FLUE_EINVAL);
	expect_err(ops->open(inst, "s", "{\"cwd\": 5}", &w, &err), FLUE_EINVAL,
	           "cwd");

	/* A relative cwd resolves against the process cwd; the default is
	 * the process cwd; both are realpath'd. */
	ck_assert_int_eq(mkdir(tp("sub"), 0755), 0);
	ck_assert_int_eq(symlink("sub", tp("link")), 0);
	ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
	ck_assert_int_eq(chdir(tmpdir), 0);
	w = open_ws("sub", NULL, 0);
	ck_assert_str_eq(ops->workdir(w), tp("sub"));
	close_ws(w);
	w = open_ws("link", NULL, 0);
	ck_assert_str_eq(ops->workdir(w), tp("sub"));
	close_ws(w);
	w = open_ws(NULL, NULL, 0);
	ck_assert_str_eq(ops->workdir(w), tmpdir);
	close_ws(w);
	ck_assert_int_eq(chdir(old), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* read_file / write_file                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_rw_binary)
{
	unsigned char data[1024];
	struct flue_bytes b = { NULL, 0 };
	size_t i, len;
	char *host;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + i / 256);
	ck_assert_int_eq(ops->write_file(ws, "bin.dat", data, sizeof(data),
	                                 &err), 0);
	host = host_get("bin.dat", &len);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert(memcmp(host, data, len) == 0);
	free(host);
	ck_assert_int_eq(ops->read_file(ws, "bin.dat", &b, &err), 0);
	ck_assert_uint_eq(b.len, sizeof(data));
	ck_assert(memcmp(b.data, data, sizeof(data)) == 0);
	ck_assert_int_eq(b.data[b.len], 0);
	fake_host_free(b.data);

	/* All 256 byte values, NULs first. */
	for (i = 0; i < 256; i++)
		data[i] = (unsigned char)i;
	ck_assert_int_eq(ops->write_file(ws, "all.dat", data, 256, &err), 0);
	ck_assert_int_eq(ops->read_file(ws, tp("all.dat"), &b, &err), 0);
	ck_assert_uint_eq(b.len, 256);
	ck_assert(memcmp(b.data, data, 256) == 0);
	fake_host_free(b.data);

	/* Empty: a 1-byte buffer holding NUL. */
	ck_assert_int_eq(ops->write_file(ws, "empty", "", 0, &err), 0);
	ck_assert_int_eq(ops->read_file(ws, "empty", &b, &err), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_int_eq(b.data[0], 0);
	fake_host_free(b.data);
}
END_TEST

START_TEST(test_rw_large)
{
	size_t n = 5 * MIB, i, len;
	unsigned char *data = malloc(n);
	struct flue_bytes b = { NULL, 0 };
	uint32_t x = 12345;
	struct flue_stat st;
	char *host;

	ck_assert_ptr_nonnull(data);
	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	ck_assert_int_eq(ops->write_file(ws, "big.bin", data, n, &err), 0);
	ck_assert_int_eq(ops->stat(ws, "big.bin", &st, &err), 0);
	ck_assert_uint_eq(st.size, n);
	host = host_get("big.bin", &len);
	ck_assert_uint_eq(len, n);
	ck_assert(memcmp(host, data, n) == 0);
	free(host);
	fake_host_reset();
	ck_assert_int_eq(ops->read_file(ws, "big.bin", &b, &err), 0);
	ck_assert_uint_eq(b.len, n);
	ck_assert_uint_le(fake_host_peak_bytes(), n + 2);
	ck_assert(memcmp(b.data, data, n) == 0);
	ck_assert_int_eq(b.data[n], 0);
	fake_host_free(b.data);
	free(data);
}
END_TEST

START_TEST(test_write_modes)
{
	struct flue_bytes b = { NULL, 0 };
	size_t len;
	char *host;

	ck_assert_int_eq(ops->write_file(ws, "f.txt", "one", 3, &err), 0);
	ck_assert_uint_eq(host_mode("f.txt") & 07777, 0644);
	ck_assert_int_eq(chmod(tp("f.txt"), 0600), 0);
	ck_assert_int_eq(ops->write_file(ws, "f.txt", "second", 6, &err), 0);
	ck_assert_uint_eq(host_mode("f.txt") & 07777, 0600);
	ck_assert_int_eq(chmod(tp("f.txt"), 0751), 0);
	ck_assert_int_eq(ops->write_file(ws, "f.txt", "3", 1, &err), 0);
	ck_assert_uint_eq(host_mode("f.txt") & 07777, 0751);
	ck_assert_int_eq(ops->read_file(ws, "f.txt", &b, &err), 0);
	ck_assert_bytes_str(b, "3");
	fake_host_free(b.data);
	ck_assert_int_eq(count_temp_files(tmpdir), 0);

	/* Through a symlink: the target changes, the link stays a link. */
	ck_assert_int_eq(symlink("f.txt", tp("link")), 0);
	ck_assert_int_eq(ops->write_file(ws, "link", "via link", 8, &err), 0);
	ck_assert(S_ISLNK(host_mode("link")));
	host = host_get("f.txt", &len);
	ck_assert_str_eq(host, "via link");
	free(host);
}
END_TEST

START_TEST(test_write_failures)
{
	int rc;

	rc = ops->write_file(ws, "missing/sub/f.txt", "x", 1, &err);
	expect_err(rc, FLUE_ENOENT, "parent");
	ck_assert_ptr_nonnull(strstr(err.message, "missing/sub/f.txt"));
	ck_assert(!host_exists("missing"));
	ck_assert_int_eq(count_temp_files(tmpdir), 0);

	/* The rename fails after the temporary file was written: it must
	 * be gone and the folder untouched. */
	ck_assert_int_eq(mkdir(tp("adir"), 0755), 0);
	rc = ops->write_file(ws, "adir", "data", 4, &err);
	ck_assert_msg(rc == FLUE_EISDIR || rc == FLUE_EEXIST, "rc %d (%s)", rc,
	              err.message);
	ck_assert_ptr_nonnull(strstr(err.message, "adir"));
	ck_assert(S_ISDIR(host_mode("adir")));
	ck_assert_int_eq(count_temp_files(tmpdir), 0);

	host_put("plain", "p", 1);
	expect_err(ops->write_file(ws, "plain/child", "x", 1, &err),
	           FLUE_ENOTDIR, NULL);
	ck_assert_int_eq(count_temp_files(tmpdir), 0);
	expect_err(ops->write_file(ws, "", "x", 1, &err), FLUE_EINVAL, NULL);
}
END_TEST

START_TEST(test_read_failures)
{
	struct flue_bytes b = { NULL, 0 };

	expect_err(ops->read_file(ws, "missing.txt", &b, &err), FLUE_ENOENT,
	           "missing.txt");
	ck_assert_ptr_nonnull(strstr(err.message, tmpdir));
	ck_assert_ptr_null(b.data);
	ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
	expect_err(ops->read_file(ws, "d", &b, &err), FLUE_EISDIR, "'");
	host_put("f", "x", 1);
	expect_err(ops->read_file(ws, "f/child", &b, &err), FLUE_ENOTDIR,
	           NULL);
	expect_err(ops->read_file(ws, "", &b, &err), FLUE_EINVAL, NULL);
	/* Neither a FIFO without a writer (would block) nor an endless
	 * device (would eat all memory). */
	ck_assert_int_eq(mkfifo(tp("fifo"), 0600), 0);
	expect_err(ops->read_file(ws, "fifo", &b, &err), FLUE_EINVAL,
	           "regular");
	expect_err(ops->read_file(ws, "/dev/zero", &b, &err), FLUE_EINVAL,
	           "/dev/zero");
	ck_assert_ptr_null(b.data);

	/* A file the kernel sizes as 0 is still read whole (smaps is far
	 * longer than the first buffer). */
	ck_assert_int_eq(ops->read_file(ws, "/proc/self/smaps", &b, &err), 0);
	ck_assert_uint_gt(b.len, 8192);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "Size:"));
	ck_assert_uint_eq(strlen((char *)b.data), b.len);
	fake_host_free(b.data);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Names and paths                                                     */
/* ------------------------------------------------------------------ */

static const char *const weird_names[] = {
	"with space.txt", "quote'\"`$(x)$HOME.txt", "new\nline.txt",
	"\xc3\xbctf-8 \xe2\x98\x83 \xe5\x90\x8d.txt", "-dash", " lead ",
	"back\\slash", "tab\there", "*glob?[x]"
};
#define N_WEIRD (sizeof(weird_names) / sizeof(weird_names[0]))

struct listing {
	char names[32][256];
	uint32_t types[32];
	int n;
	int stop_after;             /* return 42 after this many, 0: never */
};

static int
collect(void *payload, const char *name, uint32_t type)
{
	struct listing *l = payload;

	ck_assert_int_lt(l->n, 32);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->types[l->n++] = type;
	return l->stop_after != 0 && l->n >= l->stop_after ? 42 : 0;
}

/* The type listed for name, or -1 if it was not listed (exactly once). */
static int
listed_type(const struct listing *l, const char *name)
{
	int i, found = -1, count = 0;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0) {
			found = (int)l->types[i];
			count++;
		}
	ck_assert_int_le(count, 1);
	return found;
}

START_TEST(test_weird_names)
{
	struct listing l;
	struct flue_stat st;
	struct flue_bytes b;
	size_t i;
	int there;

	for (i = 0; i < N_WEIRD; i++) {
		const char *n = weird_names[i];

		ck_assert_int_eq(ops->write_file(ws, n, n, strlen(n), &err), 0);
		ck_assert(host_exists(n));
		ck_assert_int_eq(ops->read_file(ws, n, &b, &err), 0);
		ck_assert_bytes_str(b, n);
		fake_host_free(b.data);
		ck_assert_int_eq(ops->stat(ws, tp(n), &st, &err), 0);
		ck_assert_uint_eq(st.type, FLUE_FILE_REGULAR);
		ck_assert_uint_eq(st.size, strlen(n));
		ck_assert_int_eq(ops->exists(ws, n, &there, &err), 0);
		ck_assert_int_eq(there, 1);
	}
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(ops->list_dir(ws, ".", collect, &l, &err), 0);
	ck_assert_int_eq(l.n, (int)N_WEIRD);
	for (i = 0; i < N_WEIRD; i++)
		ck_assert_int_eq(listed_type(&l, weird_names[i]),
		                 FLUE_FILE_REGULAR);
	for (i = 0; i < N_WEIRD; i++) {
		ck_assert_int_eq(ops->remove(ws, weird_names[i], 0, &err), 0);
		ck_assert(!host_exists(weird_names[i]));
		ck_assert_int_eq(ops->exists(ws, weird_names[i], &there, &err), 0);
		ck_assert_int_eq(there, 0);
	}
	/* A missing file named in an error stays one line (teardown checks). */
	expect_err(ops->read_file(ws, "new\nmissing", &b, &err), FLUE_ENOENT,
	           "new\\nmissing");
}
END_TEST

START_TEST(test_weird_folder_as_cwd)
{
	const char *dir = "d 'q' \"dq\" `bt` $HOME\nnl \xc3\xbc";
	struct flue_exec_result res;
	char expect[PATH_MAX * 2];
	void *w;

	ck_assert_int_eq(ops->mkdir(ws, dir, FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert_int_eq(ops->write_file(ws, "d 'q' \"dq\" `bt` $HOME\nnl \xc3\xbc/f.txt",
	                                 "inside", 6, &err), 0);
	snprintf(expect, sizeof(expect), "%s|inside", tp(dir));
	run("printf '%s|' \"$PWD\"; cat f.txt", dir, 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	ck_assert_int_eq(res.exit_code, 0);
	result_free(&res);
	run("printf '%s|' \"$PWD\"; cat f.txt", tp(dir), 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	result_free(&res);

	/* And as a workspace folder. */
	w = open_ws(tp(dir), NULL, 0);
	ck_assert_str_eq(ops->workdir(w), tp(dir));
	close_ws(w);
}
END_TEST

START_TEST(test_path_resolution)
{
	static const char *const same[] = {
		"a/b.txt", "./a/b.txt", "a//b.txt", "a/./b.txt", "a/../a/b.txt",
		"nowhere/../a/b.txt", "a/b.txt/../b.txt"
	};
	struct flue_bytes b;
	struct flue_stat st;
	struct listing l;
	char abs[PATH_MAX * 2];
	size_t i;

	ck_assert_int_eq(mkdir(tp("a"), 0755), 0);
	host_put("a/b.txt", "x", 1);
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		ck_assert_msg(ops->read_file(ws, same[i], &b, &err) == 0,
		              "%s: %s", same[i], err.message);
		ck_assert_bytes_str(b, "x");
		fake_host_free(b.data);
	}
	/* Absolute forms, with "..", "." and "//", even above the root. */
	snprintf(abs, sizeof(abs), "%s/a/../a/./b.txt", tmpdir);
	ck_assert_int_eq(ops->read_file(ws, abs, &b, &err), 0);
	fake_host_free(b.data);
	snprintf(abs, sizeof(abs), "/../..%s//a///b.txt", tmpdir);
	ck_assert_int_eq(ops->read_file(ws, abs, &b, &err), 0);
	ck_assert_bytes_str(b, "x");
	fake_host_free(b.data);

	/* Writes resolve the same way (lexically: "c" need not exist). */
	ck_assert_int_eq(ops->write_file(ws, "c/../d.txt", "d", 1, &err), 0);
	ck_assert(host_exists("d.txt"));
	ck_assert(!host_exists("c"));
	ck_assert_int_eq(ops->stat(ws, ".", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_DIRECTORY);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(ops->list_dir(ws, "a/..", collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(listed_type(&l, "a"), FLUE_FILE_DIRECTORY);
	ck_assert_int_eq(listed_type(&l, "d.txt"), FLUE_FILE_REGULAR);
	expect_err(ops->stat(ws, "", &st, &err), FLUE_EINVAL, NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* stat / list_dir / exists                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_stat)
{
	struct timespec times[2] = { { 1500000000, 123456789 },
	                             { 1500000000, 123456789 } };
	struct flue_stat st;

	host_put("f.txt", "hello", 5);
	ck_assert_int_eq(ops->stat(ws, "f.txt", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_REGULAR);
	ck_assert_uint_eq(st.is_symlink, 0);
	ck_assert_uint_eq(st.size, 5);
	ck_assert_uint_eq(st.mode, 0644);
	ck_assert(llabs(st.mtime_ms - (int64_t)time(NULL) * 1000) < 60000);
	ck_assert_int_eq(utimensat(AT_FDCWD, tp("f.txt"), times, 0), 0);
	ck_assert_int_eq(ops->stat(ws, "f.txt", &st, &err), 0);
	ck_assert_int_eq(st.mtime_ms, 1500000000123LL);

	ck_assert_int_eq(mkdir(tp("d"), 0700), 0);
	ck_assert_int_eq(ops->stat(ws, "d", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_DIRECTORY);
	ck_assert_uint_eq(st.is_symlink, 0);
	ck_assert_uint_eq(st.mode, 0700);

	ck_assert_int_eq(symlink("f.txt", tp("lf")), 0);
	ck_assert_int_eq(ops->stat(ws, "lf", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_REGULAR);
	ck_assert_uint_eq(st.is_symlink, 1);
	ck_assert_uint_eq(st.size, 5);
	ck_assert_int_eq(st.mtime_ms, 1500000000123LL);

	ck_assert_int_eq(symlink("d", tp("ld")), 0);
	ck_assert_int_eq(ops->stat(ws, "ld", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_DIRECTORY);
	ck_assert_uint_eq(st.is_symlink, 1);

	ck_assert_int_eq(symlink("nowhere", tp("broken")), 0);
	ck_assert_int_eq(ops->stat(ws, "broken", &st, &err), 0);
	ck_assert_uint_eq(st.is_symlink, 1);
	ck_assert_uint_eq(st.type, FLUE_FILE_OTHER);

	ck_assert_int_eq(mkfifo(tp("fifo"), 0600), 0);
	ck_assert_int_eq(ops->stat(ws, "fifo", &st, &err), 0);
	ck_assert_uint_eq(st.type, FLUE_FILE_OTHER);
	ck_assert_uint_eq(st.is_symlink, 0);

	expect_err(ops->stat(ws, "missing", &st, &err), FLUE_ENOENT, "missing");
	expect_err(ops->stat(ws, "f.txt/x", &st, &err), FLUE_ENOTDIR, NULL);
}
END_TEST

START_TEST(test_list_dir)
{
	struct listing l;

	host_put("f", "1", 1);
	ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
	ck_assert_int_eq(symlink("f", tp("l")), 0);
	ck_assert_int_eq(symlink("d", tp("dl")), 0);
	ck_assert_int_eq(symlink("nowhere", tp("broken")), 0);
	ck_assert_int_eq(mkfifo(tp("p"), 0600), 0);
	host_put("d/inner", "2", 1);

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(ops->list_dir(ws, ".", collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 6);
	ck_assert_int_eq(listed_type(&l, "f"), FLUE_FILE_REGULAR);
	ck_assert_int_eq(listed_type(&l, "d"), FLUE_FILE_DIRECTORY);
	ck_assert_int_eq(listed_type(&l, "l"), FLUE_FILE_SYMLINK);
	ck_assert_int_eq(listed_type(&l, "dl"), FLUE_FILE_SYMLINK);
	ck_assert_int_eq(listed_type(&l, "broken"), FLUE_FILE_SYMLINK);
	ck_assert_int_eq(listed_type(&l, "p"), FLUE_FILE_OTHER);

	/* Through a symlink to a folder, absolute. */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(ops->list_dir(ws, tp("dl"), collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.names[0], "inner");

	/* Stops at the first non-zero return and passes it on. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	ck_assert_int_eq(ops->list_dir(ws, ".", collect, &l, &err), 42);
	ck_assert_int_eq(l.n, 2);

	ck_assert_int_eq(mkdir(tp("empty"), 0755), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(ops->list_dir(ws, "empty", collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 0);

	expect_err(ops->list_dir(ws, "f", collect, &l, &err), FLUE_ENOTDIR,
	           "'");
	expect_err(ops->list_dir(ws, "missing", collect, &l, &err),
	           FLUE_ENOENT, "missing");
}
END_TEST

START_TEST(test_exists)
{
	int there;

	host_put("f", "1", 1);
	ck_assert_int_eq(mkdir(tp("d"), 0755), 0);
	ck_assert_int_eq(symlink("f", tp("l")), 0);
	ck_assert_int_eq(symlink("nowhere", tp("broken")), 0);

	there = -1;
	ck_assert_int_eq(ops->exists(ws, "f", &there, &err), 0);
	ck_assert_int_eq(there, 1);
	there = -1;
	ck_assert_int_eq(ops->exists(ws, tp("d"), &there, &err), 0);
	ck_assert_int_eq(there, 1);
	there = -1;
	ck_assert_int_eq(ops->exists(ws, "l", &there, &err), 0);
	ck_assert_int_eq(there, 1);
	there = -1;
	ck_assert_int_eq(ops->exists(ws, "missing", &there, &err), 0);
	ck_assert_int_eq(there, 0);
	there = -1;
	ck_assert_int_eq(ops->exists(ws, "broken", &there, &err), 0);
	ck_assert_int_eq(there, 0);
	there = -1;
	ck_assert_int_eq(ops->exists(ws, "f/child", &there, &err), 0);
	ck_assert_int_eq(there, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* mkdir / remove                                                      */
/* ------------------------------------------------------------------ */

START_TEST(test_mkdir)
{
	ck_assert_int_eq(ops->mkdir(ws, "a", 0, &err), 0);
	ck_assert(S_ISDIR(host_mode("a")));
	ck_assert_uint_eq(host_mode("a") & 07777, 0755);
	expect_err(ops->mkdir(ws, "a", 0, &err), FLUE_EEXIST, "'");
	expect_err(ops->mkdir(ws, "x/y", 0, &err), FLUE_ENOENT, "parent");
	ck_assert(!host_exists("x"));

	ck_assert_int_eq(ops->mkdir(ws, "p/q/r", FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert(S_ISDIR(host_mode("p")));
	ck_assert(S_ISDIR(host_mode("p/q")));
	ck_assert_uint_eq(host_mode("p/q/r") & 07777, 0755);
	ck_assert_int_eq(ops->mkdir(ws, "p/q/r", FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert_int_eq(ops->mkdir(ws, "a", FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert_int_eq(ops->mkdir(ws, tp("p/q2//r2/"), FLUE_MKDIR_RECURSIVE,
	                            &err), 0);
	ck_assert(S_ISDIR(host_mode("p/q2/r2")));

	/* mkdir -p goes through a symlink to a folder. */
	ck_assert_int_eq(symlink("p", tp("lp")), 0);
	ck_assert_int_eq(ops->mkdir(ws, "lp/new", FLUE_MKDIR_RECURSIVE, &err), 0);
	ck_assert(S_ISDIR(host_mode("p/new")));

	host_put("file", "f", 1);
	expect_err(ops->mkdir(ws, "file/sub", FLUE_MKDIR_RECURSIVE, &err),
	           FLUE_ENOTDIR, "file");
	expect_err(ops->mkdir(ws, "file", FLUE_MKDIR_RECURSIVE, &err),
	           FLUE_EEXIST, "file");
	expect_err(ops->mkdir(ws, "file", 0, &err), FLUE_EEXIST, "file");
	ck_assert(S_ISREG(host_mode("file")));
}
END_TEST

START_TEST(test_remove)
{
	char outside[] = "/tmp/flue-outside-XXXXXX";
	char keep[PATH_MAX];
	struct stat st;

	host_put("f", "1", 1);
	ck_assert_int_eq(ops->remove(ws, "f", 0, &err), 0);
	ck_assert(!host_exists("f"));
	expect_err(ops->remove(ws, "f", 0, &err), FLUE_ENOENT, "f");
	ck_assert_int_eq(ops->remove(ws, "f", FLUE_REMOVE_FORCE, &err), 0);
	ck_assert_int_eq(ops->remove(ws, "gone/deeper",
	                             FLUE_REMOVE_FORCE | FLUE_REMOVE_RECURSIVE,
	                             &err), 0);

	/* A folder, even an empty one, needs the recursive flag. */
	ck_assert_int_eq(mkdir(tp("empty"), 0755), 0);
	expect_err(ops->remove(ws, "empty", 0, &err), FLUE_EISDIR, "recursive");
	ck_assert(host_exists("empty"));
	ck_assert_int_eq(ops->remove(ws, "empty", FLUE_REMOVE_RECURSIVE, &err), 0);
	ck_assert(!host_exists("empty"));

	/* A tree with links out of it: only the links go. */
	ck_assert_ptr_nonnull(mkdtemp(outside));
	snprintf(keep, sizeof(keep), "%s/keep.txt", outside);
	ck_assert_int_eq(close(open(keep, O_CREAT | O_WRONLY, 0644)), 0);
	ck_assert_int_eq(mkdir(tp("t"), 0755), 0);
	ck_assert_int_eq(mkdir(tp("t/a"), 0755), 0);
	ck_assert_int_eq(mkdir(tp("t/a/b"), 0755), 0);
	host_put("t/a/b/c.txt", "c", 1);
	host_put("t/x.txt", "x", 1);
	ck_assert_int_eq(symlink(outside, tp("t/dirlink")), 0);
	ck_assert_int_eq(symlink(outside, tp("t/a/dirlink2")), 0);
	ck_assert_int_eq(symlink(keep, tp("t/filelink")), 0);
	ck_assert_int_eq(symlink("nowhere", tp("t/broken")), 0);
	ck_assert_int_eq(mkfifo(tp("t/a/fifo"), 0600), 0);
	expect_err(ops->remove(ws, "t", 0, &err), FLUE_EISDIR, "recursive");
	ck_assert(host_exists("t/a/b/c.txt"));
	ck_assert_int_eq(ops->remove(ws, "t", FLUE_REMOVE_RECURSIVE, &err), 0);
	ck_assert(!host_exists("t"));
	ck_assert_int_eq(stat(keep, &st), 0);
	ck_assert(S_ISREG(st.st_mode));

	/* A symlink to a folder is removed itself, with or without the
	 * recursive flag, and its target stays whole. */
	ck_assert_int_eq(symlink(outside, tp("ld")), 0);
	ck_assert_int_eq(ops->remove(ws, "ld", 0, &err), 0);
	ck_assert(!host_exists("ld"));
	ck_assert_int_eq(symlink(outside, tp("ld")), 0);
	ck_assert_int_eq(ops->remove(ws, "ld", FLUE_REMOVE_RECURSIVE, &err), 0);
	ck_assert(!host_exists("ld"));
	ck_assert_int_eq(stat(keep, &st), 0);
	rm_rf(outside);
}
END_TEST

/* ------------------------------------------------------------------ */
/* exec                                                                */
/* ------------------------------------------------------------------ */

START_TEST(test_exec_basic)
{
	struct flue_exec_result res;

	run("echo out; echo err >&2; exit 3", NULL, 0, &res);
	ck_assert_int_eq(res.exit_code, 3);
	ck_assert_uint_eq(res.timed_out, 0);
	ck_assert_bytes_str(res.stdout_data, "out\n");
	ck_assert_bytes_str(res.stderr_data, "err\n");
	ck_assert_uint_eq(res.stdout_dropped, 0);
	ck_assert_uint_eq(res.stderr_dropped, 0);
	ck_assert_uint_lt(res.duration_ms, 10000);
	result_free(&res);

	run("true", NULL, 0, &res);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(res.stdout_data.len, 0);
	ck_assert_uint_eq(res.stderr_data.len, 0);
	result_free(&res);

	run("kill -9 $$", NULL, 0, &res);
	ck_assert_int_eq(res.exit_code, 128 + 9);
	result_free(&res);

	run("exit 255", NULL, 0, &res);
	ck_assert_int_eq(res.exit_code, 255);
	result_free(&res);

	run("sleep 0.3; echo slept", NULL, 0, &res);
	ck_assert_bytes_str(res.stdout_data, "slept\n");
	ck_assert_uint_ge(res.duration_ms, 250);
	result_free(&res);

	/* stdin is /dev/null, not ours: with our stdin an open, silent pipe,
	 * `cat` still ends at once. */
	{
		int saved = dup(0), p[2];

		ck_assert_int_ge(saved, 0);
		ck_assert_int_eq(pipe(p), 0);
		ck_assert_int_eq(dup2(p[0], 0), 0);
		run("cat; readlink /proc/self/fd/0", NULL, 5000, &res);
		ck_assert_int_eq(dup2(saved, 0), 0);
		close(saved);
		close(p[0]);
		close(p[1]);
	}
	ck_assert_bytes_str(res.stdout_data, "/dev/null\n");
	ck_assert_uint_eq(res.timed_out, 0);
	result_free(&res);

	/* Its own process group: pgid (field 5 of stat) is its own pid. */
	run("read -r _ _ _ _ pgid _ < /proc/$$/stat; echo \"$pgid $$\"", NULL,
	    0, &res);
	{
		int pgid = 0, pid = -1;

		ck_assert_int_eq(sscanf((char *)res.stdout_data.data, "%d %d",
		                        &pgid, &pid), 2);
		ck_assert_int_eq(pgid, pid);
		ck_assert_int_ne(pgid, (int)getpgrp());
	}
	result_free(&res);
}
END_TEST

/* The harness may ignore, catch or block signals; commands must start
 * with default dispositions and an empty mask all the same. */
START_TEST(test_exec_signals)
{
	struct flue_exec_result res;
	struct sigaction ign, old_pipe, old_term, old_int;
	sigset_t block, old_mask;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	ck_assert_int_eq(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	ck_assert_int_eq(sigaction(SIGTERM, &ign, &old_term), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
	ck_assert_int_eq(sigaction(SIGINT, &ign, &old_int), 0);

	/* `yes` dies of SIGPIPE (141) rather than seeing EPIPE. */
	run("yes | head -n 1; echo ${PIPESTATUS[0]}", NULL, 10000, &res);
	ck_assert_bytes_str(res.stdout_data, "y\n141\n");
	ck_assert_uint_eq(res.stderr_data.len, 0);
	result_free(&res);
	run("kill -TERM $$; echo survived", NULL, 10000, &res);
	ck_assert_int_eq(res.exit_code, 128 + SIGTERM);
	ck_assert_uint_eq(res.stdout_data.len, 0);
	result_free(&res);
	run("kill -INT $$; echo survived", NULL, 10000, &res);
	ck_assert_int_eq(res.exit_code, 128 + SIGINT);
	result_free(&res);
	run("grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL, 10000, &res);
	{
		unsigned long long blk = 1, ignored = 1;

		ck_assert_int_eq(sscanf((char *)res.stdout_data.data,
		                        "SigBlk: %llx SigIgn: %llx", &blk, &ignored), 2);
		ck_assert_uint_eq(blk, 0);
		/* glibc's posix_spawn ignores its internal signals 32 and 33
		 * in the child; nothing can reset them. */
		ck_assert_uint_eq(ignored & ~0x180000000ULL, 0);
	}
	result_free(&res);

	sigaction(SIGPIPE, &old_pipe, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
}
END_TEST

START_TEST(test_exec_errors)
{
	struct flue_exec_request req;
	struct flue_exec_result res;
	const char *bad_env[] = { "NOEQUALS", NULL };
	const char *bad_env2[] = { "=value", NULL };

	request_init(&req, NULL);
	expect_err(exec_on(ws, &req, &res), FLUE_EINVAL, "command");
	request_init(&req, "true");
	req.cwd = "nope";
	expect_err(exec_on(ws, &req, &res), FLUE_ENOENT, "nope");
	ck_assert_ptr_null(res.stdout_data.data);
	host_put("file", "x", 1);
	req.cwd = "file";
	expect_err(exec_on(ws, &req, &res), FLUE_ENOTDIR, "file");
	req.cwd = NULL;
	req.env = bad_env;
	expect_err(exec_on(ws, &req, &res), FLUE_EINVAL, "NOEQUALS");
	req.env = bad_env2;
	expect_err(exec_on(ws, &req, &res), FLUE_EINVAL, NULL);
	ck_assert_ptr_null(res.stdout_data.data);
}
END_TEST

START_TEST(test_exec_cwd)
{
	struct flue_exec_result res;
	char expect[PATH_MAX * 2];

	ck_assert_int_eq(mkdir(tp("sub"), 0755), 0);
	snprintf(expect, sizeof(expect), "%s\n", tmpdir);
	run("pwd -P", NULL, 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	result_free(&res);
	snprintf(expect, sizeof(expect), "%s\n", tp("sub"));
	run("pwd -P", "sub", 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	result_free(&res);
	run("pwd -P", tp("sub"), 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	result_free(&res);
	run("pwd -P", "sub/../sub/.", 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	result_free(&res);
	/* A command changing folder does not move the workspace. */
	run("cd sub; pwd -P", NULL, 0, &res);
	result_free(&res);
	snprintf(expect, sizeof(expect), "%s\n", tmpdir);
	run("pwd -P", NULL, 0, &res);
	ck_assert_bytes_str(res.stdout_data, expect);
	result_free(&res);
}
END_TEST

static const char *const allowed_names[] = {
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE",
	"TZ", "TMPDIR", "TMP", "TEMP", "HOSTNAME",
	"PWD", "SHLVL", "_", "OLDPWD", NULL       /* bash's own */
};

static int
name_allowed(const char *line)
{
	size_t n = strcspn(line, "=");
	int i;

	if (n > 3 && strncmp(line, "LC_", 3) == 0)
		return 1;
	for (i = 0; allowed_names[i] != NULL; i++)
		if (strlen(allowed_names[i]) == n &&
		    strncmp(allowed_names[i], line, n) == 0)
			return 1;
	return 0;
}

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p++;
	}
	return 0;
}

START_TEST(test_exec_env_allowlist)
{
	struct flue_exec_request req;
	struct flue_exec_result res;
	char line[PATH_MAX + 16], *text, *tok, *save = NULL;
	void *w;

	if (getenv("HOME") == NULL)
		setenv("HOME", "/root", 1);
	setenv("SECRET_API_KEY", "xyz-secret", 1);
	setenv("AI_GATEWAY_API_KEY", "gw-secret", 1);
	setenv("VERCEL_TOKEN", "vt-secret", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "aws-secret", 1);
	setenv("LC_FLUETEST", "lc-ok", 1);
	setenv("TZ", "UTC0", 1);
	w = open_ws(tmpdir, NULL, 0);
	/* The snapshot is taken at open: later changes do not show. */
	setenv("TZ", "EST5", 1);
	setenv("LATE_VAR", "late", 1);

	request_init(&req, "env");
	ck_assert_int_eq(exec_on(w, &req, &res), 0);
	text = (char *)res.stdout_data.data;
	ck_assert_ptr_null(strstr(text, "secret"));
	ck_assert_ptr_null(strstr(text, "SECRET"));
	ck_assert_ptr_null(strstr(text, "AI_GATEWAY"));
	ck_assert_ptr_null(strstr(text, "VERCEL"));
	ck_assert_ptr_null(strstr(text, "AWS_"));
	ck_assert_ptr_null(strstr(text, "LATE_VAR"));
	snprintf(line, sizeof(line), "PATH=%s", getenv("PATH"));
	ck_assert_msg(has_line(text, line), "no PATH in:\n%s", text);
	snprintf(line, sizeof(line), "HOME=%s", getenv("HOME"));
	ck_assert_msg(has_line(text, line), "no HOME in:\n%s", text);
	ck_assert(has_line(text, "LC_FLUETEST=lc-ok"));
	ck_assert(has_line(text, "TZ=UTC0"));
	for (tok = strtok_r(text, "\n", &save); tok != NULL;
	     tok = strtok_r(NULL, "\n", &save))
		ck_assert_msg(name_allowed(tok), "leaked: %s", tok);
	result_free(&res);
	close_ws(w);
	unsetenv("SECRET_API_KEY");
	unsetenv("AI_GATEWAY_API_KEY");
	unsetenv("VERCEL_TOKEN");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("LC_FLUETEST");
	unsetenv("TZ");
	unsetenv("LATE_VAR");
}
END_TEST

START_TEST(test_exec_env_layering)
{
	const char *call_env[] = { "BAR=call", "BAZ=c=d", "LANG=call-lang",
	                           NULL };
	const char *cmd = "printf '%s|%s|%s|%s|%s' \"$FOO\" \"$BAR\" \"$BAZ\" "
	                  "\"${HOME-unset}\" \"$LANG\"";
	struct flue_exec_request req;
	struct flue_exec_result res;
	char old_home[PATH_MAX] = "";
	void *w;

	if (getenv("HOME") != NULL)
		snprintf(old_home, sizeof(old_home), "%s", getenv("HOME"));
	setenv("HOME", "/home/flue-test", 1);
	setenv("LANG", "C", 1);
	w = open_ws(tmpdir, "{\"FOO\": \"ws foo\", \"BAR\": \"ws\", \"HOME\": null,"
	            " \"UNKNOWN_NULL\": null}", 0);
	request_init(&req, cmd);
	req.env = call_env;
	ck_assert_int_eq(exec_on(w, &req, &res), 0);
	ck_assert_bytes_str(res.stdout_data, "ws foo|call|c=d|unset|call-lang");
	result_free(&res);
	/* The per-call layer does not stick. */
	req.env = NULL;
	ck_assert_int_eq(exec_on(w, &req, &res), 0);
	ck_assert_bytes_str(res.stdout_data, "ws foo|ws||unset|C");
	result_free(&res);
	close_ws(w);

	/* Without workspace env, HOME comes from the host. */
	w = open_ws(tmpdir, NULL, 0);
	request_init(&req, cmd);
	ck_assert_int_eq(exec_on(w, &req, &res), 0);
	ck_assert_bytes_str(res.stdout_data, "|||/home/flue-test|C");
	result_free(&res);
	close_ws(w);
	if (old_home[0] != '\0')
		setenv("HOME", old_home, 1);
	unsetenv("LANG");
}
END_TEST

START_TEST(test_exec_timeout)
{
	struct flue_exec_result res;
	uint64_t t0 = now_ms(), elapsed;

	run("echo start; echo e1 >&2; sleep 30; echo never", NULL, 300, &res);
	elapsed = now_ms() - t0;
	ck_assert_int_eq(res.exit_code, 124);
	ck_assert_uint_eq(res.timed_out, 1);
	ck_assert_bytes_str(res.stdout_data, "start\n");
	ck_assert_bytes_str(res.stderr_data, "e1\n" NOTE_TIMEOUT(300));
	ck_assert_uint_ge(res.duration_ms, 300);
	/* Everything obeys SIGTERM, so no waiting out the SIGKILL grace. */
	ck_assert_msg(elapsed < 1900, "took %llu ms", (unsigned long long)elapsed);
	result_free(&res);

	/* A command that ends in time is not touched. */
	run("sleep 0.1; echo done", NULL, 5000, &res);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(res.timed_out, 0);
	ck_assert_bytes_str(res.stdout_data, "done\n");
	ck_assert_uint_eq(res.stderr_data.len, 0);
	result_free(&res);
}
END_TEST

START_TEST(test_exec_timeout_kills_group)
{
	struct flue_exec_result res;
	pid_t waiter, quiet;
	uint64_t t0 = now_ms();

	/* One grandchild holding the pipes, one with them redirected. */
	run("sleep 300 & echo $! > pid1; "
	    "sleep 301 >/dev/null 2>&1 & echo $! > pid2; wait", NULL, 300, &res);
	ck_assert_uint_lt(now_ms() - t0, 3000);
	ck_assert_int_eq(res.exit_code, 124);
	ck_assert_uint_eq(res.timed_out, 1);
	result_free(&res);
	waiter = read_pid("pid1");
	quiet = read_pid("pid2");
	ck_assert_msg(wait_dead(waiter, 5000), "grandchild %d survived",
	              (int)waiter);
	ck_assert_msg(wait_dead(quiet, 5000), "grandchild %d survived",
	              (int)quiet);
}
END_TEST

START_TEST(test_exec_timeout_sigkill)
{
	struct flue_exec_result res;
	uint64_t t0 = now_ms(), elapsed;
	pid_t pid;

	/* Ignored signals are inherited, so sleep ignores TERM as well. */
	run("trap '' TERM; echo ready; sleep 30 & echo $! > pid; wait", NULL,
	    300, &res);
	elapsed = now_ms() - t0;
	ck_assert_msg(elapsed >= 2000 && elapsed < 6000, "took %llu ms",
	              (unsigned long long)elapsed);
	ck_assert_int_eq(res.exit_code, 124);
	ck_assert_uint_eq(res.timed_out, 1);
	ck_assert_bytes_str(res.stdout_data, "ready\n");
	ck_assert_bytes_str(res.stderr_data, NOTE_TIMEOUT(300));
	result_free(&res);
	pid = read_pid("pid");
	ck_assert(wait_dead(pid, 5000));
}
END_TEST

static void *
cancel_later(void *arg)
{
	sleep_ms(200);
	fake_cancel_trigger(arg);
	return NULL;
}

START_TEST(test_exec_cancel)
{
	struct flue_cancel *cancel = fake_cancel_new();
	struct flue_exec_request req;
	struct flue_exec_result res;
	uint64_t t0, elapsed;
	pthread_t th;
	pid_t pid;

	ck_assert_ptr_nonnull(cancel);
	request_init(&req, "sleep 300 & echo $! > pid; echo before; wait");
	req.cancel = cancel;
	t0 = now_ms();
	ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, cancel), 0);
	expect_err(exec_on(ws, &req, &res), FLUE_ECANCELED, "cancel");
	elapsed = now_ms() - t0;
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(elapsed >= 150 && elapsed < 2000, "took %llu ms",
	              (unsigned long long)elapsed);
	ck_assert_ptr_null(res.stdout_data.data);
	ck_assert_ptr_null(res.stderr_data.data);
	pid = read_pid("pid");
	ck_assert(wait_dead(pid, 5000));

	/* Already cancelled: the command never runs. */
	request_init(&req, "echo ran > flag");
	req.cancel = cancel;
	expect_err(exec_on(ws, &req, &res), FLUE_ECANCELED, "cancel");
	ck_assert(!host_exists("flag"));
	fake_cancel_free(cancel);

	/* A handle that is never triggered changes nothing. */
	cancel = fake_cancel_new();
	request_init(&req, "echo fine");
	req.cancel = cancel;
	ck_assert_int_eq(exec_on(ws, &req, &res), 0);
	ck_assert_bytes_str(res.stdout_data, "fine\n");
	result_free(&res);
	fake_cancel_free(cancel);
}
END_TEST

static void
on_output_count(void *payload, int stream, const char *chunk, size_t len)
{
	uint64_t *counts = payload;

	(void)chunk;
	ck_assert(stream == 1 || stream == 2);
	counts[stream] += len;
}

START_TEST(test_exec_large_output)
{
	struct flue_exec_request req;
	struct flue_exec_result res;
	uint64_t counts[3] = { 0, 0, 0 }, total = 52428800 + 3;
	char note[128];
	size_t nlen, i;
	const unsigned char *p;

	request_init(&req, "head -c 52428800 /dev/zero; printf END; "
	                   "echo small >&2");
	req.output_limit = MIB;
	req.on_output = on_output_count;
	req.output_payload = counts;
	fake_host_reset();
	ck_assert_int_eq(exec_on(ws, &req, &res), 0);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(counts[1], total);
	ck_assert_uint_eq(counts[2], 6);
	ck_assert_uint_eq(res.stdout_dropped, total - MIB);
	ck_assert_uint_eq(res.stderr_dropped, 0);
	nlen = (size_t)snprintf(note, sizeof(note),
	                        "[flue] output truncated: first %llu bytes dropped\n",
	                        (unsigned long long)(total - MIB));
	ck_assert_uint_eq(res.stdout_data.len, nlen + MIB);
	p = res.stdout_data.data;
	ck_assert(memcmp(p, note, nlen) == 0);
	for (i = 0; i < MIB - 3; i++)
		if (p[nlen + i] != 0)
			break;
	ck_assert_uint_eq(i, MIB - 3);
	ck_assert(memcmp(p + nlen + MIB - 3, "END", 3) == 0);
	ck_assert_int_eq(p[nlen + MIB], 0);
	ck_assert_bytes_str(res.stderr_data, "small\n");
	/* Memory stayed near the limit, not near 50 MiB. */
	ck_assert_msg(fake_host_peak_bytes() <= MIB + 256 * 1024,
	              "peak %zu bytes", fake_host_peak_bytes());
	result_free(&res);
}
END_TEST

START_TEST(test_exec_output_ring)
{
	static const size_t limits[] = { 1, 7, 1000, 1199, 1200, 1201, 5000 };
	const char *cmd = "for i in $(seq 1 300); do printf '%04d' $i; "
	                  "printf '%04d' $i >&2; "
	                  "case $i in *0) sleep 0.01;; esac; done";
	char all[1201], expect[1400];
	struct flue_exec_request req;
	struct flue_exec_result res;
	size_t i, keep;

	for (i = 0; i < 300; i++)
		snprintf(all + 4 * i, 5, "%04zu", i + 1);
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		request_init(&req, cmd);
		req.output_limit = limits[i];
		ck_assert_int_eq(exec_on(ws, &req, &res), 0);
		keep = limits[i] < 1200 ? limits[i] : 1200;
		if (keep < 1200)
			snprintf(expect, sizeof(expect),
			         "[flue] output truncated: first %zu bytes dropped\n%s",
			         1200 - keep, all + 1200 - keep);
		else
			snprintf(expect, sizeof(expect), "%s", all);
		ck_assert_bytes_str(res.stdout_data, expect);
		ck_assert_bytes_str(res.stderr_data, expect);
		ck_assert_uint_eq(res.stdout_dropped, 1200 - keep);
		ck_assert_uint_eq(res.stderr_dropped, 1200 - keep);
		result_free(&res);
	}

	/* Both notes on a timed-out stream. */
	request_init(&req, "printf 0123456789 >&2; sleep 30");
	req.output_limit = 4;
	req.timeout_ms = 200;
	ck_assert_int_eq(exec_on(ws, &req, &res), 0);
	ck_assert_bytes_str(res.stderr_data,
	                    "[flue] output truncated: first 6 bytes dropped\n"
	                    "6789" NOTE_TIMEOUT(200));
	result_free(&res);
}
END_TEST

START_TEST(test_exec_binary_output)
{
	struct flue_exec_result res;
	unsigned char all[256];
	size_t i;

	run("printf 'a\\000b\\377c'; printf '\\000\\001' >&2", NULL, 0, &res);
	ck_assert_uint_eq(res.stdout_data.len, 5);
	ck_assert(memcmp(res.stdout_data.data, "a\0b\377c", 5) == 0);
	ck_assert_uint_eq(res.stderr_data.len, 2);
	ck_assert(memcmp(res.stderr_data.data, "\0\001", 2) == 0);
	result_free(&res);

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	ck_assert_int_eq(ops->write_file(ws, "bytes.bin", all, 256, &err), 0);
	run("cat bytes.bin; cat bytes.bin >&2", NULL, 0, &res);
	ck_assert_uint_eq(res.stdout_data.len, 256);
	ck_assert(memcmp(res.stdout_data.data, all, 256) == 0);
	ck_assert_uint_eq(res.stderr_data.len, 256);
	ck_assert(memcmp(res.stderr_data.data, all, 256) == 0);
	result_free(&res);
}
END_TEST

struct capture {
	char buf[3][256];
	size_t len[3];
	int calls;
};

static void
on_output_capture(void *payload, int stream, const char *chunk, size_t len)
{
	struct capture *c = payload;

	ck_assert(stream == 1 || stream == 2);
	ck_assert_uint_le(c->len[stream] + len, sizeof(c->buf[0]));
	memcpy(c->buf[stream] + c->len[stream], chunk, len);
	c->len[stream] += len;
	c->calls++;
}

START_TEST(test_exec_on_output)
{
	struct flue_exec_request req;
	struct flue_exec_result res;
	struct capture c;

	memset(&c, 0, sizeof(c));
	request_init(&req, "printf abc; printf 'd\\000f' >&2; sleep 0.1; "
	                   "printf ghi; printf jkl >&2");
	req.on_output = on_output_capture;
	req.output_payload = &c;
	ck_assert_int_eq(exec_on(ws, &req, &res), 0);
	ck_assert_uint_eq(c.len[1], 6);
	ck_assert(memcmp(c.buf[1], "abcghi", 6) == 0);
	ck_assert_uint_eq(c.len[2], 6);
	ck_assert(memcmp(c.buf[2], "d\0fjkl", 6) == 0);
	ck_assert_int_ge(c.calls, 2);
	ck_assert_uint_eq(res.stdout_data.len, 6);
	ck_assert(memcmp(res.stdout_data.data, c.buf[1], 6) == 0);
	ck_assert_uint_eq(res.stderr_data.len, 6);
	ck_assert(memcmp(res.stderr_data.data, c.buf[2], 6) == 0);
	result_free(&res);
}
END_TEST

START_TEST(test_exec_background_grandchild)
{
	struct flue_exec_result res;
	uint64_t t0 = now_ms();
	pid_t pid;

	run("sleep 5 & echo $! > bg; echo hi; echo warn >&2", NULL, 0, &res);
	ck_assert_msg(now_ms() - t0 < 2000, "waited %llu ms for the grandchild",
	              (unsigned long long)(now_ms() - t0));
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_bytes_str(res.stdout_data, "hi\n");
	ck_assert_bytes_str(res.stderr_data, "warn\n");
	result_free(&res);
	/* A normal exit leaves the group alone. */
	pid = read_pid("bg");
	ck_assert_int_eq(kill(pid, 0), 0);
	ck_assert(!pid_dead(pid));
	kill(pid, SIGKILL);
}
END_TEST

START_TEST(test_exec_fd_hygiene)
{
	struct flue_cancel *cancel = fake_cancel_new();
	struct flue_exec_request req;
	struct flue_exec_result res;
	int before, after, i, stray, st;

	/* A descriptor the harness left inheritable does not reach the
	 * command: it sees 0-2 and whatever it opens itself. */
	stray = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(stray, 3);
	run("ls /proc/self/fd | sort -n | tr '\\n' ' '", NULL, 0, &res);
	ck_assert_bytes_str(res.stdout_data, "0 1 2 3 ");
	result_free(&res);
	close(stray);

	before = count_fds();
	fake_cancel_trigger(cancel);
	for (i = 0; i < 4; i++) {
		run("echo hi", NULL, 0, &res);
		result_free(&res);
		run("echo x >&2; exit 3", NULL, 0, &res);
		result_free(&res);
		run("echo x; sleep 30", NULL, 100, &res);
		ck_assert_int_eq(res.exit_code, 124);
		result_free(&res);
		run("sleep 5 & echo bg", NULL, 0, &res);
		result_free(&res);
		request_init(&req, "true");
		req.cwd = "missing";
		ck_assert_int_eq(exec_on(ws, &req, &res), FLUE_ENOENT);
		request_init(&req, "true");
		req.cancel = cancel;
		ck_assert_int_eq(exec_on(ws, &req, &res), FLUE_ECANCELED);
	}
	after = count_fds();
	ck_assert_int_eq(before, after);
	/* No zombies: every child was reaped (grandchildren belong to init). */
	errno = 0;
	ck_assert_int_eq(waitpid(-1, &st, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	fake_cancel_free(cancel);
}
END_TEST

struct worker {
	void *ws;
	int id;
	int failures;
};

static void *
exec_worker(void *arg)
{
	struct worker *w = arg;
	struct flue_exec_request req;
	struct flue_exec_result res;
	struct flue_error e;
	char cmd[64], expect[64];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(cmd, sizeof(cmd), "echo %d-%d; echo e%d >&2", w->id, i, i);
		snprintf(expect, sizeof(expect), "%d-%d\n", w->id, i);
		memset(&req, 0, sizeof(req));
		memset(&res, 0, sizeof(res));
		req.command = cmd;
		if (ops->exec(w->ws, &req, &res, &e) != 0 ||
		    strcmp((char *)res.stdout_data.data, expect) != 0 ||
		    res.exit_code != 0)
			w->failures++;
		fake_host_free(res.stdout_data.data);
		fake_host_free(res.stderr_data.data);
	}
	return NULL;
}

START_TEST(test_exec_threads)
{
	struct worker w[4];
	pthread_t th[4];
	int i;

	for (i = 0; i < 4; i++) {
		w[i].ws = open_ws(tmpdir, NULL, 0);
		w[i].id = i;
		w[i].failures = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, exec_worker, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(w[i].failures, 0);
		close_ws(w[i].ws);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Runner                                                              */
/* ------------------------------------------------------------------ */

static TCase *
tcase(const char *name)
{
	const char *env = getenv("CK_DEFAULT_TIMEOUT");
	double timeout = TEST_TIMEOUT;
	TCase *tc = tcase_create(name);

	if (env != NULL && atof(env) > timeout)
		timeout = atof(env);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	return tc;
}

static Suite *
local_suite(void)
{
	Suite *s = suite_create("local");
	TCase *tc;

	tc = tcase("plugin");
	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_create_options);
	tcase_add_test(tc, test_open_options);
	suite_add_tcase(s, tc);

	tc = tcase("files");
	tcase_add_test(tc, test_rw_binary);
	tcase_add_test(tc, test_rw_large);
	tcase_add_test(tc, test_write_modes);
	tcase_add_test(tc, test_write_failures);
	tcase_add_test(tc, test_read_failures);
	tcase_add_test(tc, test_weird_names);
	tcase_add_test(tc, test_weird_folder_as_cwd);
	tcase_add_test(tc, test_path_resolution);
	tcase_add_test(tc, test_stat);
	tcase_add_test(tc, test_list_dir);
	tcase_add_test(tc, test_exists);
	tcase_add_test(tc, test_mkdir);
	tcase_add_test(tc, test_remove);
	suite_add_tcase(s, tc);

	tc = tcase("exec");
	tcase_add_test(tc, test_exec_basic);
	tcase_add_test(tc, test_exec_signals);
	tcase_add_test(tc, test_exec_errors);
	tcase_add_test(tc, test_exec_cwd);
	tcase_add_test(tc, test_exec_env_allowlist);
	tcase_add_test(tc, test_exec_env_layering);
	tcase_add_test(tc, test_exec_timeout);
	tcase_add_test(tc, test_exec_timeout_kills_group);
	tcase_add_test(tc, test_exec_timeout_sigkill);
	tcase_add_test(tc, test_exec_cancel);
	tcase_add_test(tc, test_exec_large_output);
	tcase_add_test(tc, test_exec_output_ring);
	tcase_add_test(tc, test_exec_binary_output);
	tcase_add_test(tc, test_exec_on_output);
	tcase_add_test(tc, test_exec_background_grandchild);
	tcase_add_test(tc, test_exec_fd_hygiene);
	tcase_add_test(tc, test_exec_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(local_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
