/*
 * <flue/plugin.h> -- the contract between flue and its connector plugins.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * flue_plugin_entry(), returning a constant descriptor.  Everything the
 * plugin needs from flue arrives in a const host table; a plugin never
 * links against libflue and never sees core internals.
 *
 * ABI changelog (newest first).  Rules: the major number changes when a
 * built plugin would break; the minor number when something is appended.
 * Structs that cross the boundary only grow at the end.  flue loads a
 * plugin when plugin.major == host.major and plugin.minor <= host.minor,
 * so every struct flue hands a plugin (host table, requests, results to
 * fill) is at least as large as the plugin knows it; only the tables a
 * plugin hands flue (descriptor, operation tables) carry a size that flue
 * checks before reading members added later.
 *
 *   1.1  2026-11-23  Named interfaces: the host's "flue.paths" (project and
 *                    state folders) and a sandbox plugin's
 *                    "flue.sandbox.manage" (list, stop, snapshot, remove).
 *   1.0  2026-11-22  First ABI: descriptor, host table, sandbox operations,
 *                    provider streaming shape, tool declarations/calls.
 *
 * Ownership tags used on every pointer below:
 *   [borrowed]      valid only for the duration of the call (or, for a
 *                   returned pointer, while its owner lives); do not free.
 *   [transferred]   ownership moves to the receiver on success (and only
 *                   on success); free it with host->free().
 *   [caller-owned]  the caller allocated it and frees it; the callee only
 *                   fills it in.
 *
 * Threading classes used below:
 *   [main]      serialised: never two [main] calls at once on the same
 *               plugin (flue holds a lock around them); operations of
 *               other, already open workspaces may run meanwhile, so a
 *               [main] call must not change what they use.
 *   [instance]  may be called from any thread, never concurrently on the
 *               same instance/workspace handle.
 *   [any]       may be called from any thread at any time.
 *   [shared]    may be called from several threads at once on the same
 *               workspace (the agent loop runs a turn's tool calls
 *               concurrently); never concurrently with close().
 *
 * Errors: operations return 0 on success or a negative FLUE_E* code, and
 * fill the caller-owned struct flue_error with a one-line message a user
 * can act on (use host->error_set()).  Codes are passed on unchanged.
 *
 * This header is C99 and self-contained.
 */
#ifndef FLUE_PLUGIN_H
#define FLUE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLUE_PLUGIN_ABI_MAJOR 1
#define FLUE_PLUGIN_ABI_MINOR 1

/* The one symbol a plugin exports. */
#define FLUE_PLUGIN_ENTRY_SYMBOL "flue_plugin_entry"

#if defined(__GNUC__) && __GNUC__ >= 4
#define FLUE_PLUGIN_EXPORT __attribute__((visibility("default")))
#define FLUE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FLUE_PLUGIN_EXPORT
#define FLUE_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------ */
/* Status codes and errors                                             */
/* ------------------------------------------------------------------ */

enum flue_status {
	FLUE_OK = 0,
	FLUE_ERROR = -1,      /* anything not listed below */
	FLUE_ENOMEM = -2,     /* out of memory */
	FLUE_EINVAL = -3,     /* bad argument or option */
	FLUE_ENOENT = -4,     /* no such file, plugin, session... */
	FLUE_EEXIST = -5,     /* already exists */
	FLUE_ENOTDIR = -6,    /* a path component is not a directory */
	FLUE_EISDIR = -7,     /* is a directory */
	FLUE_ENOTEMPTY = -8,  /* directory not empty */
	FLUE_EACCES = -9,     /* permission denied */
	FLUE_EIO = -10,       /* I/O error */
	FLUE_ETIMEDOUT = -11, /* a deadline passed */
	FLUE_ECANCELED = -12, /* the cancellation handle was triggered */
	FLUE_ERETRY = -13,    /* transient: 429, 5xx, dropped connection */
	FLUE_ENOTSUP = -14,   /* the operation is not supported */
	FLUE_EBUSY = -15,     /* the resource is in use (a session's run) */
	FLUE_EABI = -16,      /* a plugin's ABI does not match */
	FLUE_EAUTH = -17,     /* credentials missing, invalid or expired */
	FLUE_ECONTEXT = -18   /* the request is longer than the model's
	                         context window (compact and retry) */
};

#define FLUE_ERROR_MESSAGE_MAX 1024

/* Filled by whoever fails.  Frozen: never grows (it is embedded). */
struct flue_error {
	int code;                              /* a FLUE_E* value, 0 if none */
	char message[FLUE_ERROR_MESSAGE_MAX];  /* one line, NUL-terminated */
};

/* ------------------------------------------------------------------ */
/* The host table: services flue offers to a plugin                    */
/* ------------------------------------------------------------------ */

/* A cancellation handle, owned by flue.  Opaque to plugins. */
struct flue_cancel;

enum flue_log_level {
	FLUE_LOG_ERROR = 0,
	FLUE_LOG_WARN = 1,
	FLUE_LOG_INFO = 2,
	FLUE_LOG_DEBUG = 3
};

struct flue_host {
	uint32_t abi_major;        /* FLUE_PLUGIN_ABI_MAJOR of the host */
	uint32_t abi_minor;        /* FLUE_PLUGIN_ABI_MINOR of the host */
	uint32_t size;             /* sizeof(struct flue_host) in the host */
	uint32_t reserved;         /* zero */
	const char *flue_version;  /* [borrowed] e.g. "0.1.0" */
	const char *plugin_name;   /* [borrowed] the plugin this table serves */
	void *context;             /* host-private; plugins pass it through */

	/* Memory that crosses the boundary in the [transferred] direction is
	 * allocated with these, so that one allocator frees it.  [any] */
	void *(*alloc)(size_t size);
	void *(*realloc)(void *ptr, size_t size);
	void (*free)(void *ptr);

	/* A log line, attributed to the plugin.  No trailing newline.  [any] */
	void (*log)(const struct flue_host *host, enum flue_log_level level,
	            const char *fmt, ...) FLUE_PRINTF(3, 4);

	/* Fill err (caller-owned) and return code, so plugins can write
	 * `return host->error_set(err, FLUE_ENOENT, "...")`.  [any] */
	int (*error_set)(struct flue_error *err, int code, const char *fmt, ...)
		FLUE_PRINTF(3, 4);

	/* Cancellation: is_set returns 1 once the handle was triggered.  fd
	 * returns a descriptor that becomes readable when it is (for poll());
	 * never read from or close it.  A NULL handle is never triggered and
	 * has fd -1.  [any] */
	int (*cancel_is_set)(const struct flue_cancel *cancel);
	int (*cancel_fd)(const struct flue_cancel *cancel);

	/* Optional host services, found by name; NULL when absent.  [any] */
	const void *(*interface)(const struct flue_host *host, const char *name,
	                         uint32_t *out_version);
};

/* ------------------------------------------------------------------ */
/* Data exchanged by sandbox operations                                */
/* ------------------------------------------------------------------ */

/* Bytes handed from plugin to host.  data is [transferred], allocated with
 * host->alloc, and always followed by a NUL byte not counted in len. */
struct flue_bytes {
	unsigned char *data;
	size_t len;
};

enum flue_file_type {
	FLUE_FILE_OTHER = 0,
	FLUE_FILE_REGULAR = 1,
	FLUE_FILE_DIRECTORY = 2,
	FLUE_FILE_SYMLINK = 3   /* only in directory listings that do not follow */
};

/* [caller-owned]; the plugin fills it.  Follows symlinks for type, size and
 * mtime; is_symlink tells whether the path itself is a link. */
struct flue_stat {
	uint32_t type;           /* enum flue_file_type */
	uint32_t is_symlink;     /* 1 if the path names a symbolic link */
	uint64_t size;           /* bytes */
	int64_t mtime_ms;        /* milliseconds since the epoch */
	uint32_t mode;           /* permission bits, 0 if unknown */
	uint32_t reserved;
};

/* Called once per directory entry ("." and ".." excluded), in no
 * particular order.  name is [borrowed].  Return 0 to go on, or a positive
 * value to stop: the list operation then returns that value (negative
 * values are reserved for FLUE_E* codes). */
typedef int (*flue_dirent_fn)(void *payload, const char *name, uint32_t type);

/* Called with output as it arrives (chunk is [borrowed]).  stream is 1 for
 * stdout, 2 for stderr.  Optional; may be called from the exec thread. */
typedef void (*flue_output_fn)(void *payload, int stream, const char *chunk,
                               size_t len);

#define FLUE_MKDIR_RECURSIVE 0x1u
#define FLUE_REMOVE_RECURSIVE 0x1u
#define FLUE_REMOVE_FORCE 0x2u

/* [caller-owned], read by the plugin. */
struct flue_exec_request {
	const char *command;          /* [borrowed] run as `bash -c command` */
	const char *cwd;              /* [borrowed] NULL: the workspace dir;
	                                 relative: against the workspace dir */
	const char *const *env;       /* [borrowed] NULL-terminated "NAME=value"
	                                 list layered over the workspace env;
	                                 may be NULL */
	uint64_t timeout_ms;          /* 0: no deadline */
	size_t output_limit;          /* bytes kept per stream; 0: plugin's
	                                 default.  Beyond it the oldest bytes
	                                 are dropped and a note says so */
	const struct flue_cancel *cancel;  /* [borrowed] may be NULL */
	flue_output_fn on_output;     /* optional */
	void *output_payload;
};

/* [caller-owned], zeroed by the caller, filled by the plugin on success.
 * stdout_data/stderr_data are [transferred] (host->alloc, NUL-terminated). */
struct flue_exec_result {
	int exit_code;                /* 124 on timeout, 128+N if killed by
	                                 signal N, -1 if the status was lost */
	uint32_t timed_out;           /* 1 when the deadline killed it */
	struct flue_bytes stdout_data;
	struct flue_bytes stderr_data;
	uint64_t stdout_dropped;      /* bytes cut by output_limit */
	uint64_t stderr_dropped;
	uint64_t duration_ms;
};

/* ------------------------------------------------------------------ */
/* Sandbox plugins                                                     */
/* ------------------------------------------------------------------ */

/*
 * A sandbox instance (from create()) opens workspaces, one per session.
 * All paths are POSIX; relative ones resolve against the workspace
 * directory.  Every member is required unless marked optional.  open and
 * close are [main]; every other operation is [shared].
 */
struct flue_sandbox_ops {
	uint32_t size;   /* sizeof(struct flue_sandbox_ops) in the plugin */
	uint32_t reserved;

	/* Open a workspace for session_id [borrowed, never NULL] with
	 * options_json [borrowed] (a JSON object, never NULL).  *out_workspace is an opaque
	 * handle owned by the plugin until close().  [main] */
	int (*open)(void *instance, const char *session_id,
	            const char *options_json, void **out_workspace,
	            struct flue_error *err);
	/* Release the workspace; the handle is invalid afterwards even on
	 * error.  [main] */
	int (*close)(void *workspace, struct flue_error *err);
	/* The absolute working directory of the workspace.  [borrowed], valid
	 * until close().  [shared] */
	const char *(*workdir)(void *workspace);

	int (*read_file)(void *workspace, const char *path,
	                 struct flue_bytes *out, struct flue_error *err);
	/* Replaces the file atomically: readers see the old or the new
	 * content, never a part.  Parent directories must exist. */
	int (*write_file)(void *workspace, const char *path, const void *data,
	                  size_t len, struct flue_error *err);
	/* A broken symlink is not an error: is_symlink 1, type OTHER. */
	int (*stat)(void *workspace, const char *path, struct flue_stat *out,
	            struct flue_error *err);
	int (*list_dir)(void *workspace, const char *path, flue_dirent_fn fn,
	                void *payload, struct flue_error *err);
	/* *out_exists is 1 or 0; a missing path (or a broken symlink) is not
	 * an error, but one that cannot be checked (permission) is. */
	int (*exists)(void *workspace, const char *path, int *out_exists,
	              struct flue_error *err);
	/* FLUE_MKDIR_RECURSIVE: like `mkdir -p`, an existing directory is
	 * fine; a file in the way is FLUE_ENOTDIR or FLUE_EEXIST.  Without
	 * it, an existing path is FLUE_EEXIST. */
	int (*mkdir)(void *workspace, const char *path, uint32_t flags,
	             struct flue_error *err);
	/* Never follows symlinks.  A directory needs FLUE_REMOVE_RECURSIVE
	 * (else FLUE_EISDIR); FLUE_REMOVE_FORCE makes a missing path not an
	 * error. */
	int (*remove)(void *workspace, const char *path, uint32_t flags,
	              struct flue_error *err);
	/* Runs a command.  A timeout is not an error: it returns 0 with
	 * exit_code 124, timed_out 1, the output so far, and a line on stderr
	 * saying so.  Cancellation returns FLUE_ECANCELED and no result. */
	int (*exec)(void *workspace, const struct flue_exec_request *request,
	            struct flue_exec_result *out, struct flue_error *err);
};

/* ------------------------------------------------------------------ */
/* Named interfaces (ABI 1.1)                                          */
/* ------------------------------------------------------------------ */

/* host->interface(host, FLUE_HOST_PATHS, &version): where the project
 * lives, for plugins that keep state between runs (e.g. snapshot ids).
 * [borrowed], valid until destroy().  NULL when flue runs without a
 * project. */
#define FLUE_HOST_PATHS "flue.paths"
#define FLUE_HOST_PATHS_VERSION 1u
struct flue_host_paths {
	uint32_t size;            /* sizeof(struct flue_host_paths) */
	uint32_t reserved;
	const char *project_dir;  /* absolute */
	const char *state_dir;    /* absolute, <project>/.flue/state; may not
	                             exist yet */
};

/* One sandbox or snapshot a plugin manages remotely.  Every string is
 * [borrowed] for the duration of the callback; any may be NULL but
 * kind and id. */
struct flue_sandbox_entry {
	uint32_t size;            /* sizeof(struct flue_sandbox_entry) */
	uint32_t reserved;
	const char *kind;         /* "sandbox" or "snapshot" */
	const char *id;           /* what stop/snapshot/remove take */
	const char *status;       /* e.g. "running", "stopped", "created" */
	const char *detail;       /* one line for people: runtime, source... */
	int64_t created_ms;       /* ms since the epoch, 0 if unknown */
};

/* Return 0 to go on, non-zero to stop listing (list returns that value). */
typedef int (*flue_sandbox_entry_fn)(void *payload,
                                     const struct flue_sandbox_entry *entry);

/* plugin->interface(FLUE_SANDBOX_MANAGE, &version), for `flue sandbox
 * list|stop|snapshot|rm`.  Every member takes the plugin's instance and
 * is [main]. */
#define FLUE_SANDBOX_MANAGE "flue.sandbox.manage"
#define FLUE_SANDBOX_MANAGE_VERSION 1u
struct flue_sandbox_manage_ops {
	uint32_t size;   /* sizeof(struct flue_sandbox_manage_ops) */
	uint32_t reserved;
	/* The sandboxes flue made and the snapshots it keeps. */
	int (*list)(void *instance, flue_sandbox_entry_fn fn, void *payload,
	            struct flue_error *err);
	/* Stop a sandbox's running VM; its files and record stay. */
	int (*stop)(void *instance, const char *id, struct flue_error *err);
	/* Snapshot a sandbox; *out_id [transferred] is the snapshot's id. */
	int (*snapshot)(void *instance, const char *id, char **out_id,
	                struct flue_error *err);
	/* Delete a sandbox or a snapshot (and forget it). */
	int (*remove)(void *instance, const char *id, struct flue_error *err);
};

/* ------------------------------------------------------------------ */
/* Provider plugins (streaming model APIs)                             */
/* ------------------------------------------------------------------ */

enum flue_provider_event_type {
	FLUE_PROVIDER_TEXT_DELTA = 1,      /* text */
	FLUE_PROVIDER_THINKING_DELTA = 2,  /* text */
	FLUE_PROVIDER_TOOL_CALL_START = 3, /* index, id, name */
	FLUE_PROVIDER_TOOL_CALL_DELTA = 4, /* index, text: argument JSON piece */
	FLUE_PROVIDER_TOOL_CALL_END = 5,   /* index */
	FLUE_PROVIDER_USAGE = 6,           /* usage */
	FLUE_PROVIDER_STOP = 7,            /* text: stop reason */
	FLUE_PROVIDER_OPAQUE = 8,          /* text: protocol JSON the core stores
	                                      with the message and hands back in
	                                      later requests (e.g. signatures) */
	FLUE_PROVIDER_RETRY = 9            /* text: why; usage unused */
};

struct flue_usage {
	uint64_t input_tokens;
	uint64_t output_tokens;
	uint64_t cache_read_tokens;
	uint64_t cache_write_tokens;
	uint64_t reasoning_tokens;
	double cost_usd;                   /* < 0 when unknown */
};

/* [borrowed] for the duration of the callback. */
struct flue_provider_event {
	uint32_t type;                     /* enum flue_provider_event_type */
	uint32_t index;                    /* tool call index */
	const char *text;                  /* may be NULL */
	size_t text_len;
	const char *id;                    /* tool call id, may be NULL */
	const char *name;                  /* tool name, may be NULL */
	const struct flue_usage *usage;    /* for USAGE, else NULL */
};

/* Return 0 to go on; non-zero stops the stream with FLUE_ECANCELED. */
typedef int (*flue_provider_event_fn)(void *payload,
                                      const struct flue_provider_event *event);

/* [caller-owned], read by the plugin. */
struct flue_provider_request {
	const char *model;           /* [borrowed] model id as the endpoint
	                                knows it */
	const char *request_json;    /* [borrowed] {"system", "messages",
	                                "tools", "thinking", "max_tokens", ...}
	                                in flue's message format (docs) */
	const struct flue_cancel *cancel;  /* [borrowed] may be NULL */
	flue_provider_event_fn on_event;
	void *event_payload;
	/* The same request in parts, for plugins that keep what they derived
	 * from each message across a session's requests instead of parsing
	 * the whole history every turn: head_json is request_json without
	 * its "messages" member, and message_json[i] (message_len[i] bytes,
	 * NUL-terminated) is the i-th message's JSON text.  [borrowed] */
	const char *head_json;
	const char *const *message_json;
	const size_t *message_len;
	size_t message_count;
};

struct flue_provider_ops {
	uint32_t size;   /* sizeof(struct flue_provider_ops) in the plugin */
	uint32_t reserved;
	/* Stream one model answer, calling on_event in order.  Transient
	 * failures that outlast the plugin's retries return FLUE_ERETRY; final
	 * ones (401, 402, 404, bad request) FLUE_EAUTH, FLUE_ENOENT,
	 * FLUE_EINVAL or FLUE_ERROR.  A stream that ends early is an error.
	 * [instance], but independent requests may run concurrently on one
	 * instance. */
	int (*stream)(void *instance, const struct flue_provider_request *req,
	              struct flue_error *err);
};

/* ------------------------------------------------------------------ */
/* Tool plugins                                                        */
/* ------------------------------------------------------------------ */

/* What a tool call may use.  [borrowed] for the duration of the call. */
struct flue_tool_context {
	uint32_t size;                         /* sizeof in the host */
	uint32_t reserved;
	const char *session_id;
	const struct flue_sandbox_ops *sandbox;  /* the session's sandbox */
	void *workspace;                       /* its workspace handle */
	const struct flue_cancel *cancel;
};

struct flue_tool_ops {
	uint32_t size;   /* sizeof(struct flue_tool_ops) in the plugin */
	uint32_t reserved;
	/* A JSON array of {"name", "description", "parameters"} where
	 * parameters is a JSON Schema.  [borrowed], valid until destroy(). */
	const char *(*declarations)(void *instance);
	/* Run one call.  *out_result is [transferred] text for the model.  A
	 * tool failure the model should see is a result, not an error. */
	int (*call)(void *instance, const char *name, const char *args_json,
	            const struct flue_tool_context *context,
	            struct flue_bytes *out_result, struct flue_error *err);
};

/* ------------------------------------------------------------------ */
/* The descriptor                                                      */
/* ------------------------------------------------------------------ */

enum flue_plugin_kind {
	FLUE_PLUGIN_SANDBOX = 1,
	FLUE_PLUGIN_PROVIDER = 2,
	FLUE_PLUGIN_TOOL = 3
};

struct flue_plugin {
	/* These three come first and are checked before anything else. */
	uint32_t abi_major;          /* FLUE_PLUGIN_ABI_MAJOR at build time */
	uint32_t abi_minor;          /* FLUE_PLUGIN_ABI_MINOR at build time */
	uint32_t size;               /* sizeof(struct flue_plugin) at build */
	uint32_t kind;               /* enum flue_plugin_kind */

	const char *name;            /* [borrowed] [a-z0-9_-], at most 64 */
	const char *version;         /* [borrowed] the plugin's own version */
	const char *description;     /* [borrowed] one line */

	/* Make an instance from options_json [borrowed] (the plugin's settings
	 * from flue.yaml, "{}" when none).  host is [borrowed] and stays valid
	 * until destroy().  [main] */
	int (*create)(const struct flue_host *host, const char *options_json,
	              void **out_instance, struct flue_error *err);
	/* Destroy an instance; every workspace was closed before.  [main] */
	void (*destroy)(void *instance);

	/* The operation table of this kind: exactly the one matching kind is
	 * non-NULL.  [borrowed], static. */
	const struct flue_sandbox_ops *sandbox;
	const struct flue_provider_ops *provider;
	const struct flue_tool_ops *tool;

	/* Optional extensions, asked for by name (FLUE_SANDBOX_MANAGE);
	 * NULL when absent.  May be NULL itself.  [any] */
	const void *(*interface)(const char *name, uint32_t *out_version);
};

/* The smallest descriptor flue accepts: ABI 1.0's. */
#define FLUE_PLUGIN_SIZE_1_0 \
	(offsetof(struct flue_plugin, interface) + \
	 sizeof(((struct flue_plugin *)0)->interface))

/* Declare the entry point; the returned descriptor is static. */
typedef const struct flue_plugin *(*flue_plugin_entry_fn)(void);
FLUE_PLUGIN_EXPORT const struct flue_plugin *flue_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* FLUE_PLUGIN_H */
