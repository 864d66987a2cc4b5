/* Workspaces: the public face of a sandbox plugin's operations.  Each
 * call checks its arguments, hands a clean result struct to the plugin,
 * and makes sure a failure always carries a message. */
#include "config.h"

#include <pthread.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "error.h"
#include "harness.h"

static pthread_mutex_t main_lock = PTHREAD_MUTEX_INITIALIZER;

struct flue_workspace {
	flue_harness *harness;                 /* borrowed */
	struct flue_loaded_plugin *plugin;     /* borrowed from the loader */
	const struct flue_sandbox_ops *ops;    /* borrowed, static */
	void *handle;                          /* the plugin's workspace */
};

/* A plugin that fails without saying why still gets a useful message. */
static int
finish(const flue_workspace *ws, const char *op, const char *path, int rc,
       struct flue_error *err)
{
	if (rc == 0)
		return 0;
	if (rc > 0)
		rc = FLUE_ERROR;
	if (err != NULL && (err->message[0] == '\0' || err->code == 0)) {
		if (err->message[0] == '\0')
			flue_error_set(err, rc, "sandbox %s: %s%s%s failed (%s)",
			               ws->plugin->name, op, path ? " " : "",
			               path ? path : "", flue_status_name(rc));
		err->code = rc;
	}
	return rc;
}

#define CHECK_PATH(path, err) \
	do { \
		if ((path) == NULL || *(path) == '\0') \
			return flue_error_set((err), FLUE_EINVAL, \
			                      "a path is required"); \
	} while (0)

FLUE_API int
flue_workspace_open(flue_workspace **out, flue_harness *harness,
                    const char *sandbox, const char *session_id,
                    const char *options_json, struct flue_error *err)
{
	struct flue_loaded_plugin *plugin;
	flue_workspace *ws;
	int rc;

	*out = NULL;
	if (sandbox == NULL)
		sandbox = "local";
	/* Not in the plugin list: it is loaded on demand. */
	rc = flue_harness_plugin(harness, sandbox, &plugin, err);
	if (rc != 0)
		return rc;
	if (plugin->desc->kind != FLUE_PLUGIN_SANDBOX)
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin '%s' is a %s plugin, not a sandbox; name a sandbox "
		        "plugin such as 'local'", plugin->name,
		        flue_plugin_kind_name(plugin->desc->kind));
	ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	ws->harness = harness;
	ws->plugin = plugin;
	ws->ops = plugin->desc->sandbox;
	flue_error_clear(err);
	/* open and close are [main]: serialised, also when a server or
	 * tasks open workspaces on several threads. */
	pthread_mutex_lock(&main_lock);
	rc = ws->ops->open(plugin->instance, session_id ? session_id : "default",
	                   options_json ? options_json : "{}", &ws->handle, err);
	pthread_mutex_unlock(&main_lock);
	if (rc != 0) {
		finish(ws, "open", NULL, rc, err);
		free(ws);
		return rc < 0 ? rc : FLUE_ERROR;
	}
	*out = ws;
	return 0;
}

FLUE_API int
flue_workspace_close(flue_workspace *ws, struct flue_error *err)
{
	int rc;

	if (ws == NULL)
		return 0;
	flue_error_clear(err);
	pthread_mutex_lock(&main_lock);
	rc = ws->ops->close(ws->handle, err);
	pthread_mutex_unlock(&main_lock);
	rc = finish(ws, "close", NULL, rc, err);
	free(ws);
	return rc;
}

FLUE_API const char *
flue_workspace_dir(const flue_workspace *ws)
{
	return ws->ops->workdir(ws->handle);
}

FLUE_API int
flue_workspace_exec(flue_workspace *ws, const struct flue_exec_request *req,
                    struct flue_exec_result *out, struct flue_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (req == NULL || req->command == NULL)
		return flue_error_set(err, FLUE_EINVAL, "a command is required");
	flue_error_clear(err);
	rc = ws->ops->exec(ws->handle, req, out, err);
	if (rc != 0) {
		flue_exec_result_free(out);
		memset(out, 0, sizeof(*out));
	}
	return finish(ws, "exec", NULL, rc, err);
}

FLUE_API int
flue_workspace_read_file(flue_workspace *ws, const char *path,
                         struct flue_bytes *out, struct flue_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	CHECK_PATH(path, err);
	flue_error_clear(err);
	rc = ws->ops->read_file(ws->handle, path, out, err);
	if (rc != 0)
		flue_bytes_free(out);
	return finish(ws, "read", path, rc, err);
}

FLUE_API int
flue_workspace_write_file(flue_workspace *ws, const char *path,
                          const void *data, size_t len,
                          struct flue_error *err)
{
	CHECK_PATH(path, err);
	if (data == NULL && len > 0)
		return flue_error_set(err, FLUE_EINVAL, "no data to write");
	flue_error_clear(err);
	return finish(ws, "write", path,
	              ws->ops->write_file(ws->handle, path, data ? data : "",
	                                  len, err), err);
}

FLUE_API int
flue_workspace_stat(flue_workspace *ws, const char *path,
                    struct flue_stat *out, struct flue_error *err)
{
	memset(out, 0, sizeof(*out));
	CHECK_PATH(path, err);
	flue_error_clear(err);
	return finish(ws, "stat", path,
	              ws->ops->stat(ws->handle, path, out, err), err);
}

FLUE_API int
flue_workspace_list_dir(flue_workspace *ws, const char *path,
                        flue_dirent_fn fn, void *payload,
                        struct flue_error *err)
{
	int rc;

	CHECK_PATH(path, err);
	if (fn == NULL)
		return flue_error_set(err, FLUE_EINVAL, "a callback is required");
	flue_error_clear(err);
	rc = ws->ops->list_dir(ws->handle, path, fn, payload, err);
	/* A positive value is the callback's own stop value, not an error. */
	return rc > 0 ? rc : finish(ws, "list", path, rc, err);
}

FLUE_API int
flue_workspace_exists(flue_workspace *ws, const char *path, int *out_exists,
                      struct flue_error *err)
{
	*out_exists = 0;
	CHECK_PATH(path, err);
	flue_error_clear(err);
	return finish(ws, "exists", path,
	              ws->ops->exists(ws->handle, path, out_exists, err), err);
}

FLUE_API int
flue_workspace_mkdir(flue_workspace *ws, const char *path, uint32_t flags,
                     struct flue_error *err)
{
	CHECK_PATH(path, err);
	flue_error_clear(err);
	return finish(ws, "mkdir", path,
	              ws->ops->mkdir(ws->handle, path, flags, err), err);
}

FLUE_API int
flue_workspace_remove(flue_workspace *ws, const char *path, uint32_t flags,
                      struct flue_error *err)
{
	CHECK_PATH(path, err);
	flue_error_clear(err);
	return finish(ws, "remove", path,
	              ws->ops->remove(ws->handle, path, flags, err), err);
}

void
flue_workspace_raw(const flue_workspace *ws,
                   const struct flue_sandbox_ops **out_ops, void **out_handle)
{
	*out_ops = ws->ops;
	*out_handle = ws->handle;
}

/* ---- remote sandboxes -------------------------------------------------- */

static int
manage_ops(flue_harness *harness, const char *sandbox,
           const struct flue_sandbox_manage_ops **out, void **instance,
           struct flue_error *err)
{
	struct flue_loaded_plugin *plugin;
	const struct flue_sandbox_manage_ops *ops = NULL;
	uint32_t version = 0;
	int rc;

	rc = flue_harness_plugin(harness, sandbox, &plugin, err);
	if (rc != 0)
		return rc;
	if (plugin->desc->kind != FLUE_PLUGIN_SANDBOX)
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin '%s' is a %s plugin, not a sandbox", plugin->name,
		        flue_plugin_kind_name(plugin->desc->kind));
	if (plugin->desc->interface != NULL)
		ops = plugin->desc->interface(FLUE_SANDBOX_MANAGE, &version);
	if (ops == NULL || version < 1 || ops->size <
	    offsetof(struct flue_sandbox_manage_ops, remove) +
	    sizeof(ops->remove) || ops->list == NULL || ops->stop == NULL ||
	    ops->snapshot == NULL || ops->remove == NULL)
		return flue_error_set(err, FLUE_ENOTSUP,
		        "sandbox plugin '%s' has no remote sandboxes to manage "
		        "(it lacks the %s interface); try --sandbox vercel",
		        plugin->name, FLUE_SANDBOX_MANAGE);
	*out = ops;
	*instance = plugin->instance;
	return 0;
}

#define MANAGE_CALL(call) \
	do { \
		const struct flue_sandbox_manage_ops *ops; \
		void *instance; \
		int rc = manage_ops(harness, sandbox, &ops, &instance, err); \
		if (rc != 0) \
			return rc; \
		flue_error_clear(err); \
		pthread_mutex_lock(&main_lock); \
		rc = (call); \
		pthread_mutex_unlock(&main_lock); \
		if (rc != 0 && err->message[0] == '\0') \
			flue_error_set(err, rc < 0 ? rc : FLUE_ERROR, \
			               "sandbox %s: the operation failed", sandbox); \
		return rc; \
	} while (0)

FLUE_API int
flue_sandbox_list(flue_harness *harness, const char *sandbox,
                  flue_sandbox_entry_fn fn, void *payload,
                  struct flue_error *err)
{
	MANAGE_CALL(ops->list(instance, fn, payload, err));
}

FLUE_API int
flue_sandbox_stop(flue_harness *harness, const char *sandbox, const char *id,
                  struct flue_error *err)
{
	MANAGE_CALL(ops->stop(instance, id, err));
}

FLUE_API int
flue_sandbox_snapshot(flue_harness *harness, const char *sandbox,
                      const char *id, char **out_snapshot_id,
                      struct flue_error *err)
{
	*out_snapshot_id = NULL;
	MANAGE_CALL(ops->snapshot(instance, id, out_snapshot_id, err));
}

FLUE_API int
flue_sandbox_remove(flue_harness *harness, const char *sandbox,
                    const char *id, struct flue_error *err)
{
	MANAGE_CALL(ops->remove(instance, id, err));
}
