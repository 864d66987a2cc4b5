/*
 * local -- the host filesystem and shell as a flue sandbox.
 *
 * Paths are plain host paths (relative ones resolve against the
 * workspace directory) and commands run as `bash -c` in their own
 * process group.  Nothing here goes through a shell except the command
 * itself, so file names may hold any byte but NUL.
 *
 * The harness is multi-threaded: every descriptor is opened close-on-exec
 * (another thread may be spawning at the same moment), commands start
 * with posix_spawn(), and no process-wide state (cwd, umask, signal
 * handlers) is ever changed.
 */
#define _GNU_SOURCE
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <flue/plugin.h>

extern char **environ;

#define LOCAL_VERSION "0.1.0"
#define LOCAL_DEFAULT_OUTPUT_LIMIT ((size_t)16 << 20)
#define LOCAL_KILL_GRACE_MS 2000   /* SIGTERM to SIGKILL */
#define LOCAL_DRAIN_MS 200         /* reading on after the command exited */
#define LOCAL_WAITPID_POLL_MS 20   /* child checks when there is no pidfd */
#define LOCAL_GROUP_POLL_MS 50     /* group checks while it dies */
#define LOCAL_CANCEL_POLL_MS 100   /* a cancel handle without an fd */
#define LOCAL_CHUNK 65536          /* one read() from a pipe */
#define LOCAL_RING_MIN 65536       /* first output buffer */
#define LOCAL_QUOTE_MAX 512        /* a path as shown in a message */

/* ------------------------------------------------------------------ */
/* Instance and workspace                                              */
/* ------------------------------------------------------------------ */

struct local_instance {
	const struct flue_host *host;
	char *bash;                  /* absolute path, found once */
};

/* An environment: owned "NAME=value" strings, NULL-terminated. */
struct local_env {
	char **vars;
	size_t len;
	size_t cap;
};

struct local_workspace {
	struct local_instance *inst;
	const struct flue_host *host;
	char *dir;                   /* realpath'd working directory */
	struct local_env env;
};

/* The only host variables a command ever sees (plus LC_*): anything else,
 * API keys and tokens in particular, stays in the harness. */
static const char *const local_env_allowlist[] = {
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG",
	"LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP", "HOSTNAME", NULL
};

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int
local_code(int e)
{
	switch (e) {
	case ENOENT: return FLUE_ENOENT;
	case EEXIST: return FLUE_EEXIST;
	case ENOTDIR: return FLUE_ENOTDIR;
	case EISDIR: return FLUE_EISDIR;
	case ENOTEMPTY: return FLUE_ENOTEMPTY;
	case EACCES: case EPERM: case EROFS: return FLUE_EACCES;
	case ENOMEM: return FLUE_ENOMEM;
	case EINVAL: case ENAMETOOLONG: case ELOOP: return FLUE_EINVAL;
	case EIO: case ENOSPC: case EDQUOT: return FLUE_EIO;
	default: return FLUE_ERROR;
	}
}

/* What a user can do about errno e. */
static const char *
local_hint(int e)
{
	switch (e) {
	case ENOENT: return "check the path";
	case EEXIST: return "choose another name or remove it first";
	case ENOTDIR: return "a component of the path is a file, not a folder";
	case EISDIR: return "it is a folder; pass a file path";
	case ENOTEMPTY: return "the folder is not empty";
	case EACCES: case EPERM: case EROFS: return "check its permissions";
	case ENOSPC: case EDQUOT: return "free some disk space";
	case ELOOP: return "the path has a symbolic link loop";
	case ENAMETOOLONG: return "use a shorter path";
	default: return "check the path and try again";
	}
}

/* strerror() is not thread-safe; the GNU strerror_r() is. */
static const char *
local_strerror(int e, char *buf, size_t size)
{
	return strerror_r(e, buf, size);
}

/* A path fit for a one-line message: control bytes, quotes and
 * backslashes escaped C-style, UTF-8 left readable, long ones cut. */
static const char *
local_quote(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; *s != '\0' && n + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' || c == '\t' || c == '\'' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	if (*s != '\0' && n + 4 <= size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* The usual failure: "cannot VERB 'PATH': reason; what to do". */
static int
local_fail(const struct flue_host *host, struct flue_error *err, int e,
           const char *verb, const char *path)
{
	char q[LOCAL_QUOTE_MAX], m[128];

	return host->error_set(err, local_code(e), "cannot %s '%s': %s; %s",
	                       verb, local_quote(path, q, sizeof(q)),
	                       local_strerror(e, m, sizeof(m)), local_hint(e));
}

static int
local_nomem(const struct flue_host *host, struct flue_error *err)
{
	return host->error_set(err, FLUE_ENOMEM,
	                       "local sandbox: out of memory");
}

/* ------------------------------------------------------------------ */
/* Options (JSON)                                                      */
/* ------------------------------------------------------------------ */

/* Parse text as one JSON object and nothing after it.  *out is the
 * caller's reference on success. */
static int
local_json_object(const struct flue_host *host, const char *text,
                  const char *what, struct json_object **out,
                  struct flue_error *err)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t len, end;

	*out = NULL;
	if (text == NULL)
		text = "{}";
	len = strlen(text);
	if (len > INT_MAX)
		return host->error_set(err, FLUE_EINVAL, "%s are too long", what);
	tok = json_tokener_new();
	if (tok == NULL)
		return local_nomem(host, err);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || obj == NULL) {
		json_object_put(obj);
		return host->error_set(err, FLUE_EINVAL,
		                       "%s are not valid JSON (%s); pass an object such as {}",
		                       what, jerr == json_tokener_continue ?
		                       "unexpected end" : json_tokener_error_desc(jerr));
	}
	while (end < len && isspace((unsigned char)text[end]))
		end++;
	if (end < len || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return host->error_set(err, FLUE_EINVAL,
		                       "%s must be exactly one JSON object such as {}",
		                       what);
	}
	*out = obj;
	return 0;
}

/* A JSON string without embedded NULs, or NULL. */
static const char *
local_json_cstring(struct json_object *val)
{
	const char *s;

	if (!json_object_is_type(val, json_type_string))
		return NULL;
	s = json_object_get_string(val);
	if (strlen(s) != (size_t)json_object_get_string_len(val))
		return NULL;
	return s;
}

/* ------------------------------------------------------------------ */
/* Environments                                                        */
/* ------------------------------------------------------------------ */

static void
local_env_free(struct local_env *env)
{
	size_t i;

	for (i = 0; i < env->len; i++)
		free(env->vars[i]);
	free(env->vars);
	env->vars = NULL;
	env->len = env->cap = 0;
}

/* Index of NAME (name_len bytes) in vars, or -1. */
static long
local_env_find(char *const *vars, size_t len, const char *name,
               size_t name_len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (strncmp(vars[i], name, name_len) == 0 &&
		    vars[i][name_len] == '=')
			return (long)i;
	return -1;
}

static void
local_env_unset(struct local_env *env, const char *name)
{
	long i = local_env_find(env->vars, env->len, name, strlen(name));

	if (i < 0)
		return;
	free(env->vars[i]);
	env->vars[i] = env->vars[--env->len];
	env->vars[env->len] = NULL;
}

/* Set NAME (name_len bytes) to value, replacing any earlier value. */
static int
local_env_set(struct local_env *env, const char *name, size_t name_len,
              const char *value)
{
	size_t vlen = strlen(value);
	long i = local_env_find(env->vars, env->len, name, name_len);
	char *var = malloc(name_len + vlen + 2);

	if (var == NULL)
		return ENOMEM;
	memcpy(var, name, name_len);
	var[name_len] = '=';
	memcpy(var + name_len + 1, value, vlen + 1);
	if (i >= 0) {
		free(env->vars[i]);
		env->vars[i] = var;
		return 0;
	}
	if (env->len + 2 > env->cap) {
		size_t cap = env->cap ? env->cap * 2 : 32;
		char **vars = realloc(env->vars, cap * sizeof(*vars));

		if (vars == NULL) {
			free(var);
			return ENOMEM;
		}
		env->vars = vars;
		env->cap = cap;
	}
	env->vars[env->len++] = var;
	env->vars[env->len] = NULL;
	return 0;
}

static int
local_env_allowed(const char *name, size_t len)
{
	size_t i;

	if (len > 3 && strncmp(name, "LC_", 3) == 0)
		return 1;
	for (i = 0; local_env_allowlist[i] != NULL; i++)
		if (strlen(local_env_allowlist[i]) == len &&
		    strncmp(local_env_allowlist[i], name, len) == 0)
			return 1;
	return 0;
}

/* Copy the allowlisted part of the host environment, as it is now. */
static int
local_env_snapshot(struct local_env *env)
{
	char **e;

	for (e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');

		if (eq == NULL || !local_env_allowed(*e, (size_t)(eq - *e)))
			continue;
		if (local_env_set(env, *e, (size_t)(eq - *e), eq + 1) != 0)
			return ENOMEM;
	}
	return 0;
}

/* Layer the workspace's "env" option: strings set, null removes. */
static int
local_env_apply_json(const struct flue_host *host, struct local_env *env,
                     struct json_object *obj, struct flue_error *err)
{
	if (!json_object_is_type(obj, json_type_object))
		return host->error_set(err, FLUE_EINVAL,
		                       "local sandbox option 'env' must be an object of strings, e.g. {\"NAME\": \"value\"}");
	json_object_object_foreach(obj, key, val) {
		const char *value = local_json_cstring(val);

		if (key[0] == '\0' || strchr(key, '=') != NULL)
			return host->error_set(err, FLUE_EINVAL,
			                       "local sandbox env name '%s' is not valid; use a name without '='",
			                       key);
		if (val == NULL) {
			local_env_unset(env, key);
			continue;
		}
		if (value == NULL)
			return host->error_set(err, FLUE_EINVAL,
			                       "local sandbox env '%s' must be a string (or null to remove it)",
			                       key);
		if (local_env_set(env, key, strlen(key), value) != 0)
			return local_nomem(host, err);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

/* Collapse "//", "." and ".." of an absolute path lexically (".." at the
 * root stays there).  It never touches the filesystem, so it works for
 * paths that do not exist yet. */
static char *
local_path_normalise(const char *abs)
{
	char *out = malloc(strlen(abs) + 2);
	const char *p = abs;
	size_t len = 0;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		const char *seg;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			continue;
		}
		out[len++] = '/';
		memcpy(out + len, seg, n);
		len += n;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

/* The absolute, normalised form of path (malloc'd), or NULL with *rc. */
static char *
local_resolve(const struct local_workspace *ws, const char *path,
              int *rc, struct flue_error *err)
{
	char *joined, *abs;

	if (path == NULL || path[0] == '\0') {
		*rc = ws->host->error_set(err, FLUE_EINVAL,
		                          "empty path; pass a file or folder path");
		return NULL;
	}
	if (path[0] == '/') {
		abs = local_path_normalise(path);
	} else {
		joined = malloc(strlen(ws->dir) + strlen(path) + 2);
		if (joined == NULL) {
			*rc = local_nomem(ws->host, err);
			return NULL;
		}
		sprintf(joined, "%s/%s", ws->dir, path);
		abs = local_path_normalise(joined);
		free(joined);
	}
	if (abs == NULL)
		*rc = local_nomem(ws->host, err);
	return abs;
}

/* The parent folder of a normalised absolute path (malloc'd). */
static char *
local_parent(const char *abs)
{
	const char *slash = strrchr(abs, '/');
	size_t n = slash == abs ? 1 : (size_t)(slash - abs);
	char *dir = malloc(n + 1);

	if (dir != NULL) {
		memcpy(dir, abs, n);
		dir[n] = '\0';
	}
	return dir;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* Read fd to its end into a host->alloc'd, NUL-terminated buffer.  size
 * is only a hint (files may change, /proc files claim 0).  0 or errno. */
static int
local_read_fd(const struct flue_host *host, int fd, size_t size,
              struct flue_bytes *out)
{
	/* Room for the NUL and one spare byte, so the read that sees EOF
	 * does not first double the buffer. */
	size_t cap = size + 2 < 4096 ? 4096 : size + 2, len = 0;
	unsigned char *buf = host->alloc(cap), *p;
	ssize_t n;

	if (buf == NULL)
		return ENOMEM;
	for (;;) {
		if (len + 1 == cap) {
			p = cap > SIZE_MAX / 2 ? NULL : host->realloc(buf, cap * 2);
			if (p == NULL) {
				host->free(buf);
				return ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			host->free(buf);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	out->data = buf;
	out->len = len;
	return 0;
}

static int
local_read_file(void *workspace, const char *path, struct flue_bytes *out,
                struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	const struct flue_host *host = ws->host;
	char *abs, q[LOCAL_QUOTE_MAX];
	struct stat st;
	int rc = 0, fd, e;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = local_fail(host, err, errno, "read", abs);
	} else if (S_ISDIR(st.st_mode)) {
		rc = host->error_set(err, FLUE_EISDIR,
		                     "cannot read '%s': it is a folder; list it instead or pass a file path",
		                     local_quote(abs, q, sizeof(q)));
	} else if (!S_ISREG(st.st_mode)) {
		/* Devices and FIFOs may never end (/dev/zero) or block. */
		rc = host->error_set(err, FLUE_EINVAL,
		                     "cannot read '%s': it is not a regular file; read it with a command instead",
		                     local_quote(abs, q, sizeof(q)));
	} else if ((e = local_read_fd(host, fd, (size_t)st.st_size, out)) != 0) {
		rc = local_fail(host, err, e, "read", abs);
	}
	if (fd >= 0)
		close(fd);
	free(abs);
	return rc;
}

static int
local_write_all(int fd, const unsigned char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Make the rename durable; a failure here loses nothing already
 * visible, so it is ignored. */
static void
local_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Fill the temporary file at fd and close it.  0 or errno. */
static int
local_write_temp(int fd, const void *data, size_t len, mode_t mode)
{
	int e = local_write_all(fd, data, len);

	if (e == 0 && fchmod(fd, mode) != 0)
		e = errno;
	if (e == 0 && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	return e;
}

/* Where a write lands: through a symlink to an existing file (the link
 * stays a link), else the path itself. */
static char *
local_write_target(char *abs, mode_t *mode)
{
	struct stat st;
	char *real;

	*mode = 0644;
	if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode))
		return abs;
	*mode = st.st_mode & 07777;
	if (lstat(abs, &st) != 0 || !S_ISLNK(st.st_mode))
		return abs;
	real = realpath(abs, NULL);
	if (real == NULL)
		return abs;
	free(abs);
	return real;
}

static int
local_write_file(void *workspace, const char *path, const void *data,
                 size_t len, struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	const struct flue_host *host = ws->host;
	char *abs, *dir = NULL, *tmp = NULL, q[LOCAL_QUOTE_MAX];
	mode_t mode;
	int rc = 0, fd, e;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	abs = local_write_target(abs, &mode);
	dir = local_parent(abs);
	tmp = dir == NULL ? NULL : malloc(strlen(dir) + sizeof("/.flue-tmp-XXXXXX"));
	if (tmp == NULL) {
		rc = local_nomem(host, err);
		goto out;
	}
	sprintf(tmp, "%s/.flue-tmp-XXXXXX", strcmp(dir, "/") == 0 ? "" : dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		rc = host->error_set(err, FLUE_ENOENT,
		                     "cannot write '%s': its parent folder is missing; create it first (mkdir)",
		                     local_quote(abs, q, sizeof(q)));
		goto out;
	}
	if (fd < 0) {
		rc = local_fail(host, err, errno, "write", abs);
		goto out;
	}
	/* Any failure from here on removes the temporary file, so no
	 * partial file is ever left behind. */
	e = local_write_temp(fd, data, len, mode);
	if (e == 0 && rename(tmp, abs) != 0)
		e = errno;
	if (e != 0) {
		unlink(tmp);
		rc = local_fail(host, err, e, "write", abs);
		goto out;
	}
	local_fsync_dir(dir);
out:
	free(tmp);
	free(dir);
	free(abs);
	return rc;
}

static int64_t
local_mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static uint32_t
local_mode_type(mode_t mode)
{
	if (S_ISREG(mode))
		return FLUE_FILE_REGULAR;
	if (S_ISDIR(mode))
		return FLUE_FILE_DIRECTORY;
	return FLUE_FILE_OTHER;
}

static int
local_stat(void *workspace, const char *path, struct flue_stat *out,
           struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	struct stat lst, st;
	char *abs;
	int rc = 0;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	if (lstat(abs, &lst) != 0) {
		rc = local_fail(ws->host, err, errno, "stat", abs);
		free(abs);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	out->is_symlink = S_ISLNK(lst.st_mode) ? 1 : 0;
	/* A broken (dangling or looping) symlink still names something that
	 * list_dir shows and remove can delete, so it is reported as what it
	 * is -- a symlink whose type is OTHER, with the link's own size,
	 * mtime and mode -- rather than as an error. */
	if (stat(abs, &st) != 0)
		st = lst;
	if (out->is_symlink && S_ISLNK(st.st_mode))
		out->type = FLUE_FILE_OTHER;
	else
		out->type = local_mode_type(st.st_mode);
	out->size = (uint64_t)st.st_size;
	out->mtime_ms = local_mtime_ms(&st);
	out->mode = st.st_mode & 07777;
	free(abs);
	return 0;
}

/* The type of a directory entry, without following symlinks. */
static uint32_t
local_dirent_type(int dirfd, const struct dirent *de)
{
	struct stat st;

	switch (de->d_type) {
	case DT_REG: return FLUE_FILE_REGULAR;
	case DT_DIR: return FLUE_FILE_DIRECTORY;
	case DT_LNK: return FLUE_FILE_SYMLINK;
	case DT_UNKNOWN: break;
	default: return FLUE_FILE_OTHER;
	}
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return FLUE_FILE_OTHER;
	return S_ISLNK(st.st_mode) ? FLUE_FILE_SYMLINK : local_mode_type(st.st_mode);
}

static int
local_list_dir(void *workspace, const char *path, flue_dirent_fn fn,
               void *payload, struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	struct dirent *de;
	DIR *d = NULL;
	char *abs;
	int rc = 0, fd;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd)) == NULL)
		close(fd);
	if (d == NULL) {
		rc = local_fail(ws->host, err, errno, "list", abs);
		free(abs);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = local_fail(ws->host, err, errno, "list", abs);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = fn(payload, de->d_name, local_dirent_type(dirfd(d), de));
		if (rc != 0)
			break;
	}
	closedir(d);
	free(abs);
	return rc;
}

static int
local_exists(void *workspace, const char *path, int *out_exists,
             struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	struct stat st;
	char *abs;
	int rc = 0;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	*out_exists = 0;
	if (stat(abs, &st) == 0)
		*out_exists = 1;
	else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
		rc = local_fail(ws->host, err, errno, "check", abs);
	free(abs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* mkdir and remove                                                    */
/* ------------------------------------------------------------------ */

/* mkdir -p: create each missing component of abs in turn. */
static int
local_mkdir_parents(const struct flue_host *host, char *abs,
                    struct flue_error *err)
{
	char *p = abs, q[LOCAL_QUOTE_MAX];
	struct stat st;
	int last;

	do {
		p = strchr(p + 1, '/');
		last = p == NULL;
		if (!last)
			*p = '\0';
		if (mkdir(abs, 0755) != 0 && errno != EEXIST)
			return local_fail(host, err, errno, "create folder", abs);
		if (stat(abs, &st) != 0)
			return local_fail(host, err, errno, "create folder", abs);
		if (!S_ISDIR(st.st_mode))
			return host->error_set(err, last ? FLUE_EEXIST : FLUE_ENOTDIR,
			                       "cannot create folder '%s': a file of that name exists; remove it or choose another path",
			                       local_quote(abs, q, sizeof(q)));
		if (!last)
			*p = '/';
	} while (!last);
	return 0;
}

static int
local_mkdir(void *workspace, const char *path, uint32_t flags,
            struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	char *abs, q[LOCAL_QUOTE_MAX];
	int rc = 0;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	if (flags & FLUE_MKDIR_RECURSIVE) {
		rc = local_mkdir_parents(ws->host, abs, err);
	} else if (mkdir(abs, 0755) != 0) {
		if (errno == ENOENT)
			rc = ws->host->error_set(err, FLUE_ENOENT,
			                         "cannot create folder '%s': its parent folder is missing; create it first or pass recursive",
			                         local_quote(abs, q, sizeof(q)));
		else
			rc = local_fail(ws->host, err, errno, "create folder", abs);
	}
	free(abs);
	return rc;
}

/* Unlink name in dirfd; a name already gone counts as removed (someone
 * else was quicker).  0 or errno, with the failing name in where. */
static int
local_unlink_at(int dirfd, const char *name, int flags, char *where,
                size_t where_size)
{
	int e;

	if (unlinkat(dirfd, name, flags) == 0 || errno == ENOENT)
		return 0;
	e = errno;
	snprintf(where, where_size, "%s", name);
	return e;
}

/* Remove name (relative to the folder parent) and everything below it.
 * Symlinks are never followed: O_NOFOLLOW makes a link fail to open as
 * a folder, and it is then unlinked like a file.  Works with descriptors
 * relative to each folder, so a link swapped in mid-way cannot redirect
 * the removal.  Uses one descriptor per level.  0 or errno. */
static int
local_remove_tree(int parent, const char *name, char *where,
                  size_t where_size)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd, e = 0;

	fd = openat(parent, name,
	            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP))
		return local_unlink_at(parent, name, 0, where, where_size);
	if (fd >= 0 && (d = fdopendir(fd)) == NULL)
		close(fd);
	if (d == NULL) {
		e = errno;
		snprintf(where, where_size, "%s", name);
		return e;
	}
	while (e == 0) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			e = errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
			e = local_remove_tree(dirfd(d), de->d_name, where, where_size);
		else
			e = local_unlink_at(dirfd(d), de->d_name, 0, where,
			                    where_size);
	}
	closedir(d);
	if (e == 0)
		e = local_unlink_at(parent, name, AT_REMOVEDIR, where, where_size);
	return e;
}

static int
local_remove_dir(const struct flue_host *host, const char *abs,
                 uint32_t flags, struct flue_error *err)
{
	char q[LOCAL_QUOTE_MAX], w[LOCAL_QUOTE_MAX], where[NAME_MAX + 1] = "";
	char m[128];
	int e;

	if (!(flags & FLUE_REMOVE_RECURSIVE))
		return host->error_set(err, FLUE_EISDIR,
		                       "cannot remove '%s': it is a folder; pass the recursive flag to remove it with everything in it",
		                       local_quote(abs, q, sizeof(q)));
	if (strcmp(abs, "/") == 0)
		return host->error_set(err, FLUE_EINVAL,
		                       "refusing to remove '/'; pass a narrower path");
	e = local_remove_tree(AT_FDCWD, abs, where, sizeof(where));
	if (e == 0)
		return 0;
	return host->error_set(err, local_code(e),
	                       "cannot remove '%s': %s at '%s'; %s",
	                       local_quote(abs, q, sizeof(q)),
	                       local_strerror(e, m, sizeof(m)),
	                       local_quote(where, w, sizeof(w)), local_hint(e));
}

static int
local_remove(void *workspace, const char *path, uint32_t flags,
             struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	struct stat st;
	char *abs;
	int rc = 0;

	abs = local_resolve(ws, path, &rc, err);
	if (abs == NULL)
		return rc;
	/* lstat: a symlink is removed itself, never what it points to. */
	if (lstat(abs, &st) != 0) {
		if (errno != ENOENT || !(flags & FLUE_REMOVE_FORCE))
			rc = local_fail(ws->host, err, errno, "remove", abs);
	} else if (S_ISDIR(st.st_mode)) {
		rc = local_remove_dir(ws->host, abs, flags, err);
	} else if (unlink(abs) != 0 &&
	           (errno != ENOENT || !(flags & FLUE_REMOVE_FORCE))) {
		rc = local_fail(ws->host, err, errno, "remove", abs);
	}
	free(abs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* exec: output buffers                                                */
/* ------------------------------------------------------------------ */

/* One output stream: the last `limit` bytes, in a buffer that grows on
 * demand up to limit and then turns into a ring, plus a count of the
 * bytes pushed out of it.  Memory never exceeds limit. */
struct local_stream {
	unsigned char *buf;        /* host->alloc'd, so it can be handed over */
	size_t cap;
	size_t start;              /* oldest byte; non-zero only when full */
	size_t len;
	size_t limit;
	uint64_t dropped;
	int fd;                    /* our end of the pipe, -1 after EOF */
};

static int
local_stream_grow(const struct flue_host *host, struct local_stream *s,
                  size_t need)
{
	size_t cap = s->cap != 0 ? s->cap : LOCAL_RING_MIN;
	unsigned char *buf;

	while (cap < need)
		cap = cap > s->limit / 2 ? s->limit : cap * 2;
	if (cap > s->limit)
		cap = s->limit;
	buf = s->buf == NULL ? host->alloc(cap) : host->realloc(s->buf, cap);
	if (buf == NULL)
		return ENOMEM;
	s->buf = buf;
	s->cap = cap;
	return 0;
}

/* Append n bytes, dropping the oldest beyond the limit.  0 or ENOMEM. */
static int
local_stream_append(const struct flue_host *host, struct local_stream *s,
                    const unsigned char *data, size_t n)
{
	size_t pos, first;

	if (n >= s->limit) {
		if (s->cap < s->limit && local_stream_grow(host, s, s->limit))
			return ENOMEM;
		s->dropped += s->len + (n - s->limit);
		memcpy(s->buf, data + (n - s->limit), s->limit);
		s->start = 0;
		s->len = s->limit;
		return 0;
	}
	/* While the buffer still grows it is linear (start is 0). */
	if (s->len + n > s->cap && s->cap < s->limit &&
	    local_stream_grow(host, s, s->len + n))
		return ENOMEM;
	if (s->len + n > s->cap) {
		size_t drop = s->len + n - s->cap;

		s->start = (s->start + drop) % s->cap;
		s->len -= drop;
		s->dropped += drop;
	}
	pos = (s->start + s->len) % s->cap;
	first = n < s->cap - pos ? n : s->cap - pos;
	memcpy(s->buf + pos, data, first);
	memcpy(s->buf, data + first, n - first);
	s->len += n;
	return 0;
}

static void
local_reverse(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n / 2; i++) {
		unsigned char c = p[i];

		p[i] = p[n - 1 - i];
		p[n - 1 - i] = c;
	}
}

/* Hand the stream over as flue_bytes: the ring turned straight in place
 * (no second copy of up to limit bytes), the truncation note before it,
 * suffix after it, and a NUL.  0 or ENOMEM. */
static int
local_stream_finish(const struct flue_host *host, struct local_stream *s,
                    const char *suffix, struct flue_bytes *out)
{
	char note[96];
	size_t nlen = 0, slen = strlen(suffix), total;
	unsigned char *p;

	if (s->dropped != 0)
		nlen = (size_t)snprintf(note, sizeof(note),
		                        "[flue] output truncated: first %llu bytes dropped\n",
		                        (unsigned long long)s->dropped);
	if (s->start != 0) {
		/* A full ring: rotate left by start with three reversals. */
		local_reverse(s->buf, s->start);
		local_reverse(s->buf + s->start, s->len - s->start);
		local_reverse(s->buf, s->len);
		s->start = 0;
	}
	total = nlen + s->len + slen;
	p = s->buf == NULL ? host->alloc(total + 1) :
	    host->realloc(s->buf, total + 1);
	if (p == NULL)
		return ENOMEM;
	memmove(p + nlen, p, s->len);
	memcpy(p, note, nlen);
	memcpy(p + nlen + s->len, suffix, slen);
	p[total] = '\0';
	s->buf = NULL;
	s->cap = s->len = 0;
	out->data = p;
	out->len = total;
	return 0;
}

/* ------------------------------------------------------------------ */
/* exec: the child process                                             */
/* ------------------------------------------------------------------ */

struct local_run {
	const struct flue_host *host;
	const struct flue_exec_request *req;
	struct local_stream out[2];   /* stdout, stderr */
	unsigned char *chunk;         /* one read's worth */
	pid_t pid;                    /* also the process group id */
	int pidfd;                    /* -1 when pidfd_open() is missing */
	int cancel_fd;                /* -1 when the handle has none */
	int reaped;
	int status;                   /* wait status once reaped, -1 if lost */
	int error;                    /* errno that stopped the collection */
	uint64_t start_ms;
};

enum local_outcome {
	LOCAL_EXITED,
	LOCAL_TIMED_OUT,
	LOCAL_CANCELED,
	LOCAL_FAILED
};

static uint64_t
local_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The shorter of two poll() timeouts, where -1 means none. */
static int
local_min_wait(int a, int b)
{
	if (a < 0)
		return b;
	return a < b ? a : b;
}

static void
local_close(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Keep a pipe end off 0-2, where the child's dup2() onto stdout or
 * stderr could clobber it; only happens when the harness closed its
 * stdio. */
static int
local_fd_above_stdio(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return errno;
	close(*fd);
	*fd = nfd;
	return 0;
}

static int
local_pipe(int fds[2])
{
	int e;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return errno;
	e = local_fd_above_stdio(&fds[0]);
	if (e == 0)
		e = local_fd_above_stdio(&fds[1]);
	if (e != 0) {
		local_close(&fds[0]);
		local_close(&fds[1]);
	}
	return e;
}

/* A pidfd for the child, or -1: then its exit is polled for.  pidfds
 * are always close-on-exec.  ENOSYS (old kernels, valgrind) is
 * remembered so that it is asked only once. */
static int
local_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	static int missing;
	long fd;

	if (__atomic_load_n(&missing, __ATOMIC_RELAXED))
		return -1;
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && errno == ENOSYS)
		__atomic_store_n(&missing, 1, __ATOMIC_RELAXED);
	return fd < 0 ? -1 : (int)fd;
#else
	(void)pid;
	return -1;
#endif
}

static int
local_spawn_actions(posix_spawn_file_actions_t *fa, const char *cwd,
                    int out_fd, int err_fd)
{
	int e = posix_spawn_file_actions_addopen(fa, 0, "/dev/null",
	                                         O_RDONLY, 0);

	if (e == 0)
		e = posix_spawn_file_actions_adddup2(fa, out_fd, 1);
	if (e == 0)
		e = posix_spawn_file_actions_adddup2(fa, err_fd, 2);
	if (e == 0)
		e = posix_spawn_file_actions_addchdir_np(fa, cwd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* Descriptors the harness opened without O_CLOEXEC (sockets holding
	 * API sessions, say) are none of the command's business. */
	if (e == 0)
		e = posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	return e;
}

/* Own process group (so the whole tree can be killed), no blocked
 * signals, and default dispositions for what the harness may have
 * ignored or caught. */
static int
local_spawn_attr(posix_spawnattr_t *at)
{
	static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGQUIT,
	                            SIGCHLD, SIGHUP };
	sigset_t none, deflt;
	size_t i;
	int e;

	sigemptyset(&none);
	sigemptyset(&deflt);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&deflt, sigs[i]);
	e = posix_spawnattr_setflags(at, (short)(POSIX_SPAWN_SETPGROUP |
	                             POSIX_SPAWN_SETSIGMASK |
	                             POSIX_SPAWN_SETSIGDEF));
	if (e == 0)
		e = posix_spawnattr_setpgroup(at, 0);
	if (e == 0)
		e = posix_spawnattr_setsigmask(at, &none);
	if (e == 0)
		e = posix_spawnattr_setsigdefault(at, &deflt);
	return e;
}

/* Start `bash -c command` in cwd with envp.  0 or errno. */
static int
local_exec_spawn(struct local_run *run, const char *bash,
                 const char *command, const char *cwd, char **envp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int e, fa_ok = 0, at_ok = 0;
	char *argv[4];

	argv[0] = (char *)"bash";
	argv[1] = (char *)"-c";
	argv[2] = (char *)command;
	argv[3] = NULL;
	e = local_pipe(outp);
	if (e == 0)
		e = local_pipe(errp);
	if (e == 0)
		fa_ok = (e = posix_spawn_file_actions_init(&fa)) == 0;
	if (e == 0)
		at_ok = (e = posix_spawnattr_init(&at)) == 0;
	if (e == 0)
		e = local_spawn_actions(&fa, cwd, outp[1], errp[1]);
	if (e == 0)
		e = local_spawn_attr(&at);
	if (e == 0)
		e = posix_spawn(&run->pid, bash, &fa, &at, argv, envp);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	local_close(&outp[1]);
	local_close(&errp[1]);
	if (e != 0) {
		local_close(&outp[0]);
		local_close(&errp[0]);
		return e;
	}
	run->out[0].fd = outp[0];
	run->out[1].fd = errp[0];
	run->pidfd = local_pidfd_open(run->pid);
	return 0;
}

/* Reap the child if it exited (block: wait until it does). */
static void
local_exec_reap(struct local_run *run, int block)
{
	pid_t r;

	do
		r = waitpid(run->pid, &run->status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	/* r < 0 is ECHILD: the harness ignores SIGCHLD or reaped the child
	 * itself, and the exit status is lost. */
	if (r < 0)
		run->status = -1;
	run->reaped = 1;
	local_close(&run->pidfd);
}

/* One read from stream i (0 stdout, 1 stderr).  0 or ENOMEM. */
static int
local_exec_read(struct local_run *run, int i)
{
	struct local_stream *s = &run->out[i];
	ssize_t n = read(s->fd, run->chunk, LOCAL_CHUNK);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		/* EOF, or an error we cannot do better with than EOF. */
		local_close(&s->fd);
		return 0;
	}
	if (run->req->on_output != NULL)
		run->req->on_output(run->req->output_payload, i + 1,
		                    (const char *)run->chunk, (size_t)n);
	return local_stream_append(run->host, s, run->chunk, (size_t)n);
}

/* Wait up to timeout_ms (-1: no limit) for output, the child's exit or,
 * with watch_cancel, cancellation; then handle what came.  0 or errno. */
static int
local_exec_poll(struct local_run *run, int timeout_ms, int watch_cancel)
{
	struct pollfd p[4];
	int slot[2] = { -1, -1 }, pid_slot = -1, n = 0, i, e = 0;

	for (i = 0; i < 2; i++) {
		if (run->out[i].fd < 0)
			continue;
		slot[i] = n;
		p[n].fd = run->out[i].fd;
		p[n++].events = POLLIN;
	}
	if (watch_cancel && run->cancel_fd >= 0) {
		p[n].fd = run->cancel_fd;
		p[n++].events = POLLIN;
	}
	if (!run->reaped && run->pidfd >= 0) {
		pid_slot = n;
		p[n].fd = run->pidfd;
		p[n++].events = POLLIN;
	}
	if (!run->reaped && run->pidfd < 0)
		timeout_ms = local_min_wait(timeout_ms, LOCAL_WAITPID_POLL_MS);
	if (watch_cancel && run->req->cancel != NULL && run->cancel_fd < 0)
		timeout_ms = local_min_wait(timeout_ms, LOCAL_CANCEL_POLL_MS);
	if (poll(p, (nfds_t)n, timeout_ms) < 0)
		return errno == EINTR ? 0 : errno;
	for (i = 0; i < 2 && e == 0; i++)
		if (slot[i] >= 0 && p[slot[i]].revents != 0)
			e = local_exec_read(run, i);
	if (!run->reaped && (pid_slot < 0 || p[pid_slot].revents != 0))
		local_exec_reap(run, 0);
	return e;
}

/* Read on until both pipes hit EOF, for at most ms. */
static void
local_exec_drain(struct local_run *run, uint64_t ms)
{
	uint64_t until = local_now_ms() + ms, now;

	while ((run->out[0].fd >= 0 || run->out[1].fd >= 0) &&
	       run->error == 0 && (now = local_now_ms()) < until)
		run->error = local_exec_poll(run, (int)(until - now), 0);
}

static int
local_cancelled(const struct local_run *run)
{
	return run->host->cancel_is_set(run->req->cancel) != 0;
}

/* Collect output until the child exits, the deadline passes, the
 * handle is cancelled or something fails. */
static enum local_outcome
local_exec_collect(struct local_run *run)
{
	uint64_t timeout = run->req->timeout_ms, deadline = 0, now;
	int wait;

	if (timeout != 0 && timeout < UINT64_MAX - run->start_ms)
		deadline = run->start_ms + timeout;
	while (!run->reaped) {
		if (run->error != 0)
			return LOCAL_FAILED;
		if (local_cancelled(run))
			return LOCAL_CANCELED;
		now = local_now_ms();
		if (deadline != 0 && now >= deadline)
			return LOCAL_TIMED_OUT;
		wait = -1;
		if (deadline != 0)
			wait = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
		run->error = local_exec_poll(run, wait, 1);
	}
	/* A background grandchild may hold the pipes open for ever: read
	 * what is already there, but do not wait for it. */
	local_exec_drain(run, LOCAL_DRAIN_MS);
	return run->error != 0 ? LOCAL_FAILED : LOCAL_EXITED;
}

/* Whether /proc/<pid>/stat (pid relative to procfd) is a live (not
 * zombie) process of group pgid. */
static int
local_proc_in_group(int procfd, const char *pid, pid_t pgid)
{
	char path[NAME_MAX + 8], buf[512], state;
	const char *p;
	long grp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/stat", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) state ppid pgrp ...": comm may hold anything. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %c %*d %ld", &state, &grp) != 2)
		return 0;
	return grp == (long)pgid && state != 'Z' && state != 'X';
}

/* Whether any process of group pgid still runs.  kill(-pgid, 0) counts
 * zombies too, and a container's init may never reap the orphans, so a
 * yes is checked against /proc. */
static int
local_group_alive(pid_t pgid)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd, alive = 0;

	if (kill(-pgid, 0) != 0 && errno == ESRCH)
		return 0;
	fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd)) == NULL)
		close(fd);
	if (d == NULL)
		return 1;
	while (!alive && (de = readdir(d)) != NULL)
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			alive = local_proc_in_group(dirfd(d), de->d_name, pgid);
	closedir(d);
	return alive;
}

/* SIGTERM the whole group, SIGKILL it after the grace period if anything
 * is left, and reap the child.  Output keeps being read meanwhile, so a
 * writer blocked on a full pipe can still see its signal. */
static void
local_exec_kill_group(struct local_run *run)
{
	uint64_t until = local_now_ms() + LOCAL_KILL_GRACE_MS, now;
	int e;

	kill(-run->pid, SIGTERM);
	for (;;) {
		if (run->reaped && !local_group_alive(run->pid))
			return;
		now = local_now_ms();
		if (now >= until)
			break;
		e = local_exec_poll(run, local_min_wait((int)(until - now),
		                    LOCAL_GROUP_POLL_MS), 0);
		if (e != 0 && run->error == 0)
			run->error = e;
	}
	kill(-run->pid, SIGKILL);
	if (!run->reaped)
		local_exec_reap(run, 1);
}

/* ------------------------------------------------------------------ */
/* exec: the operation                                                 */
/* ------------------------------------------------------------------ */

static int
local_exit_code(int status)
{
	if (status != -1 && WIFEXITED(status))
		return WEXITSTATUS(status);
	if (status != -1 && WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Turn a finished run into the caller's result (or error). */
static int
local_exec_result(struct local_run *run, enum local_outcome outcome,
                  struct flue_exec_result *res, struct flue_error *err)
{
	const struct flue_host *host = run->host;
	struct flue_bytes o = { NULL, 0 }, e = { NULL, 0 };
	char note[128] = "", m[128];

	if (outcome == LOCAL_CANCELED)
		return host->error_set(err, FLUE_ECANCELED, "command canceled");
	if (outcome == LOCAL_FAILED && run->error != ENOMEM)
		return host->error_set(err, local_code(run->error),
		                       "cannot collect the command's output: %s; try again",
		                       local_strerror(run->error, m, sizeof(m)));
	if (outcome == LOCAL_TIMED_OUT)
		snprintf(note, sizeof(note),
		         "[flue] command timed out after %llu ms; process group killed\n",
		         (unsigned long long)run->req->timeout_ms);
	if (outcome == LOCAL_FAILED ||
	    local_stream_finish(host, &run->out[0], "", &o) != 0 ||
	    local_stream_finish(host, &run->out[1], note, &e) != 0) {
		if (o.data != NULL)
			host->free(o.data);
		return host->error_set(err, FLUE_ENOMEM,
		                       "out of memory for the command's output; lower output_limit");
	}
	res->exit_code = outcome == LOCAL_TIMED_OUT ? 124 :
	                 local_exit_code(run->status);
	res->timed_out = outcome == LOCAL_TIMED_OUT;
	res->stdout_data = o;
	res->stderr_data = e;
	res->stdout_dropped = run->out[0].dropped;
	res->stderr_dropped = run->out[1].dropped;
	res->duration_ms = local_now_ms() - run->start_ms;
	return 0;
}

static void
local_run_init(struct local_run *run, const struct flue_host *host,
               const struct flue_exec_request *req)
{
	size_t limit = req->output_limit != 0 ? req->output_limit :
	               LOCAL_DEFAULT_OUTPUT_LIMIT;
	int i;

	memset(run, 0, sizeof(*run));
	run->host = host;
	run->req = req;
	for (i = 0; i < 2; i++) {
		run->out[i].fd = -1;
		run->out[i].limit = limit;
	}
	run->pid = -1;
	run->pidfd = -1;
	run->cancel_fd = host->cancel_fd(req->cancel);
	run->start_ms = local_now_ms();
	run->chunk = malloc(LOCAL_CHUNK);
}

static void
local_run_free(struct local_run *run)
{
	int i;

	for (i = 0; i < 2; i++) {
		local_close(&run->out[i].fd);
		if (run->out[i].buf != NULL)
			run->host->free(run->out[i].buf);
	}
	local_close(&run->pidfd);
	free(run->chunk);
}

/* The command's folder (malloc'd), checked to exist, or NULL with *rc. */
static char *
local_exec_cwd(const struct local_workspace *ws, const char *cwd, int *rc,
               struct flue_error *err)
{
	const struct flue_host *host = ws->host;
	char *abs, q[LOCAL_QUOTE_MAX];
	struct stat st;

	abs = cwd == NULL ? strdup(ws->dir) : local_resolve(ws, cwd, rc, err);
	if (abs == NULL) {
		if (cwd == NULL)
			*rc = local_nomem(host, err);
		return NULL;
	}
	if (stat(abs, &st) != 0) {
		if (errno == ENOENT)
			*rc = host->error_set(err, FLUE_ENOENT,
			                      "cannot run the command in '%s': the folder does not exist; create it or pass another cwd",
			                      local_quote(abs, q, sizeof(q)));
		else
			*rc = local_fail(host, err, errno, "run the command in", abs);
	} else if (!S_ISDIR(st.st_mode))
		*rc = host->error_set(err, FLUE_ENOTDIR,
		                      "cannot run the command in '%s': it is not a folder; pass a folder as cwd",
		                      local_quote(abs, q, sizeof(q)));
	else
		return abs;
	free(abs);
	return NULL;
}

/* The command's environment: the workspace's, with request entries
 * ("NAME=value") layered on top.  *out is a malloc'd array of borrowed
 * strings. */
static int
local_exec_env(const struct local_workspace *ws, const char *const *extra,
               char ***out, struct flue_error *err)
{
	size_t n = ws->env.len, count = 0, i;
	char **envp, q[LOCAL_QUOTE_MAX];

	while (extra != NULL && extra[count] != NULL)
		count++;
	envp = malloc((n + count + 1) * sizeof(*envp));
	if (envp == NULL)
		return local_nomem(ws->host, err);
	if (n != 0)
		memcpy(envp, ws->env.vars, n * sizeof(*envp));
	for (i = 0; i < count; i++) {
		const char *eq = strchr(extra[i], '=');
		long at;

		if (eq == NULL || eq == extra[i]) {
			free(envp);
			return ws->host->error_set(err, FLUE_EINVAL,
			                           "exec env entry '%s' is not NAME=value; fix the request",
			                           local_quote(extra[i], q, sizeof(q)));
		}
		at = local_env_find(envp, n, extra[i], (size_t)(eq - extra[i]));
		if (at >= 0)
			envp[at] = (char *)extra[i];
		else
			envp[n++] = (char *)extra[i];
	}
	envp[n] = NULL;
	*out = envp;
	return 0;
}

/* Spawn, collect, and on a timeout or cancellation kill the group. */
static int
local_exec_run(struct local_workspace *ws,
               const struct flue_exec_request *req, const char *cwd,
               char **envp, struct flue_exec_result *res,
               struct flue_error *err)
{
	const struct flue_host *host = ws->host;
	char q[LOCAL_QUOTE_MAX], m[128];
	enum local_outcome outcome;
	struct local_run run;
	int rc, e;

	local_run_init(&run, host, req);
	e = run.chunk == NULL ? ENOMEM :
	    local_exec_spawn(&run, ws->inst->bash, req->command, cwd, envp);
	if (e != 0) {
		local_run_free(&run);
		return host->error_set(err, local_code(e),
		                       "cannot start %s in '%s': %s; check that bash is installed and the folder is accessible",
		                       ws->inst->bash, local_quote(cwd, q, sizeof(q)),
		                       local_strerror(e, m, sizeof(m)));
	}
	outcome = local_exec_collect(&run);
	if (outcome != LOCAL_EXITED) {
		local_exec_kill_group(&run);
		if (outcome == LOCAL_TIMED_OUT)
			local_exec_drain(&run, LOCAL_DRAIN_MS);
		if (run.error != 0)
			outcome = LOCAL_FAILED;
	}
	rc = local_exec_result(&run, outcome, res, err);
	local_run_free(&run);
	return rc;
}

static int
local_exec(void *workspace, const struct flue_exec_request *req,
           struct flue_exec_result *res, struct flue_error *err)
{
	struct local_workspace *ws = workspace;
	const struct flue_host *host = ws->host;
	char *cwd, **envp = NULL;
	int rc = 0;

	if (req == NULL || req->command == NULL)
		return host->error_set(err, FLUE_EINVAL,
		                       "exec needs a command; pass request->command");
	if (host->cancel_is_set(req->cancel))
		return host->error_set(err, FLUE_ECANCELED, "command canceled");
	cwd = local_exec_cwd(ws, req->cwd, &rc, err);
	if (cwd == NULL)
		return rc;
	rc = local_exec_env(ws, req->env, &envp, err);
	if (rc == 0)
		rc = local_exec_run(ws, req, cwd, envp, res, err);
	free(envp);
	free(cwd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Workspaces                                                          */
/* ------------------------------------------------------------------ */

static void
local_workspace_free(struct local_workspace *ws)
{
	if (ws == NULL)
		return;
	local_env_free(&ws->env);
	free(ws->dir);
	free(ws);
}

static int
local_open_check_keys(const struct flue_host *host, struct json_object *opts,
                      struct flue_error *err)
{
	json_object_object_foreach(opts, key, val) {
		(void)val;
		if (strcmp(key, "cwd") != 0 && strcmp(key, "env") != 0)
			return host->error_set(err, FLUE_EINVAL,
			                       "unknown local sandbox workspace option '%s'; the options are cwd and env",
			                       key);
	}
	return 0;
}

/* The "cwd" option (default: the process cwd), checked and realpath'd. */
static int
local_open_dir(struct local_workspace *ws, struct json_object *opts,
               struct flue_error *err)
{
	const struct flue_host *host = ws->host;
	struct json_object *val;
	const char *cwd = ".";
	char q[LOCAL_QUOTE_MAX];
	struct stat st;

	if (json_object_object_get_ex(opts, "cwd", &val)) {
		cwd = local_json_cstring(val);
		if (cwd == NULL || cwd[0] == '\0')
			return host->error_set(err, FLUE_EINVAL,
			                       "local sandbox option 'cwd' must be a folder path (a string)");
	}
	if (stat(cwd, &st) != 0 && errno == ENOENT)
		return host->error_set(err, FLUE_ENOENT,
		                       "workspace folder '%s' does not exist; create it or fix the cwd option",
		                       local_quote(cwd, q, sizeof(q)));
	if (stat(cwd, &st) != 0)
		return local_fail(host, err, errno, "open workspace folder", cwd);
	if (!S_ISDIR(st.st_mode))
		return host->error_set(err, FLUE_ENOTDIR,
		                       "workspace folder '%s' is not a folder; set cwd to a folder",
		                       local_quote(cwd, q, sizeof(q)));
	ws->dir = realpath(cwd, NULL);
	if (ws->dir == NULL)
		return local_fail(host, err, errno, "open workspace folder", cwd);
	return 0;
}

static int
local_open(void *instance, const char *session_id, const char *options_json,
           void **out_workspace, struct flue_error *err)
{
	struct local_instance *inst = instance;
	const struct flue_host *host = inst->host;
	struct json_object *opts, *env;
	struct local_workspace *ws = NULL;
	int rc;

	*out_workspace = NULL;
	rc = local_json_object(host, options_json,
	                       "local sandbox workspace options", &opts, err);
	if (rc != 0)
		return rc;
	rc = local_open_check_keys(host, opts, err);
	if (rc == 0 && (ws = calloc(1, sizeof(*ws))) == NULL)
		rc = local_nomem(host, err);
	if (rc == 0) {
		ws->inst = inst;
		ws->host = host;
		rc = local_open_dir(ws, opts, err);
	}
	if (rc == 0 && local_env_snapshot(&ws->env) != 0)
		rc = local_nomem(host, err);
	if (rc == 0 && json_object_object_get_ex(opts, "env", &env))
		rc = local_env_apply_json(host, &ws->env, env, err);
	json_object_put(opts);
	if (rc != 0) {
		local_workspace_free(ws);
		return rc;
	}
	host->log(host, FLUE_LOG_DEBUG, "workspace for session %s in %s",
	          session_id != NULL ? session_id : "(none)", ws->dir);
	*out_workspace = ws;
	return 0;
}

static int
local_close_workspace(void *workspace, struct flue_error *err)
{
	(void)err;
	local_workspace_free(workspace);
	return 0;
}

static const char *
local_workdir(void *workspace)
{
	return ((struct local_workspace *)workspace)->dir;
}

/* ------------------------------------------------------------------ */
/* Instances and the descriptor                                        */
/* ------------------------------------------------------------------ */

/* The first executable `bash` on PATH, else /bin/bash.  Relative PATH
 * entries are skipped: they would depend on the cwd of the moment. */
static char *
local_find_bash(void)
{
	const char *path = getenv("PATH"), *p, *colon = NULL;
	char buf[PATH_MAX];
	struct stat st;

	for (p = path; p != NULL && *p != '\0'; p = colon ? colon + 1 : NULL) {
		size_t n;

		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (n == 0 || p[0] != '/' || n + sizeof("/bash") > sizeof(buf))
			continue;
		memcpy(buf, p, n);
		memcpy(buf + n, "/bash", sizeof("/bash"));
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(buf, X_OK) == 0)
			return strdup(buf);
	}
	return strdup("/bin/bash");
}

static int
local_create(const struct flue_host *host, const char *options_json,
             void **out_instance, struct flue_error *err)
{
	struct local_instance *inst;
	struct json_object *opts;
	int rc;

	*out_instance = NULL;
	if (host->abi_major != FLUE_PLUGIN_ABI_MAJOR)
		return host->error_set(err, FLUE_EABI,
		                       "the local sandbox needs plugin ABI %d.x, the host has %u.%u; rebuild it",
		                       FLUE_PLUGIN_ABI_MAJOR, (unsigned)host->abi_major,
		                       (unsigned)host->abi_minor);
	rc = local_json_object(host, options_json, "local sandbox options",
	                       &opts, err);
	if (rc != 0)
		return rc;
	json_object_object_foreach(opts, key, val) {
		(void)val;
		rc = host->error_set(err, FLUE_EINVAL,
		                     "unknown local sandbox option '%s'; the local sandbox takes no options",
		                     key);
		break;
	}
	json_object_put(opts);
	if (rc != 0)
		return rc;
	inst = calloc(1, sizeof(*inst));
	if (inst == NULL || (inst->bash = local_find_bash()) == NULL) {
		free(inst);
		return local_nomem(host, err);
	}
	inst->host = host;
	host->log(host, FLUE_LOG_DEBUG, "running commands with %s", inst->bash);
	*out_instance = inst;
	return 0;
}

static void
local_destroy(void *instance)
{
	struct local_instance *inst = instance;

	if (inst == NULL)
		return;
	free(inst->bash);
	free(inst);
}

static const struct flue_sandbox_ops local_ops = {
	.size = sizeof(struct flue_sandbox_ops),
	.open = local_open,
	.close = local_close_workspace,
	.workdir = local_workdir,
	.read_file = local_read_file,
	.write_file = local_write_file,
	.stat = local_stat,
	.list_dir = local_list_dir,
	.exists = local_exists,
	.mkdir = local_mkdir,
	.remove = local_remove,
	.exec = local_exec,
};

static const struct flue_plugin local_plugin = {
	.abi_major = FLUE_PLUGIN_ABI_MAJOR,
	.abi_minor = FLUE_PLUGIN_ABI_MINOR,
	.size = sizeof(struct flue_plugin),
	.kind = FLUE_PLUGIN_SANDBOX,
	.name = "local",
	.version = LOCAL_VERSION,
	.description = "the host filesystem and bash, in a folder of your choice",
	.create = local_create,
	.destroy = local_destroy,
	.sandbox = &local_ops,
};

FLUE_PLUGIN_EXPORT const struct flue_plugin *
flue_plugin_entry(void)
{
	return &local_plugin;
}
