/*
 * The vercel sandbox plugin's internal interfaces: settings (options.c),
 * the REST client (api.c), byte-level ndjson lines (lines.c), the upload
 * archive (tarball.c), the snapshot store (snapstore.c); vercel.c holds
 * the sandbox operations on top of them.
 *
 * Ownership: every char * and json_object * in these structs is owned by
 * the struct that holds it unless marked [borrowed].
 */
#ifndef FLUE_VERCEL_H
#define FLUE_VERCEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include <flue/plugin.h>

#define VC_VERSION "0.1.0"
#define VC_DEFAULT_API "https://vercel.com/api"
#define VC_WHERE "plugin_options.vercel"

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

/* The plugin's own settings (flue.yaml plugin_options.vercel). */
struct vc_config {
	char *api_url;            /* NULL: FLUE_VERCEL_API_URL or Vercel's */
	char *token;              /* NULL: from the environment */
	char *team_id;
	char *project_id;
	int retries;              /* attempts after the first */
	int64_t backoff_ms;       /* first retry's base wait */
	int64_t max_retry_after_ms; /* a longer Retry-After fails at once */
	int64_t connect_timeout_ms;
	json_object *defaults;    /* workspace options every open starts from */
};

enum vc_network { VC_NET_DEFAULT, VC_NET_ALLOW_ALL, VC_NET_DENY_ALL,
                  VC_NET_CUSTOM };

/* One workspace's options (agent frontmatter `sandbox:` over defaults). */
struct vc_options {
	char *name;               /* NULL: flue-<session>-<hash> */
	char *runtime;            /* node24 by default */
	int vcpus;                /* 0: the API's default */
	int64_t timeout_ms;       /* VM lifetime */
	json_object *ports;       /* array of ints, never NULL */
	json_object *network;     /* the request's networkPolicy, or NULL */
	json_object *source;      /* the request's source object, or NULL */
	char *source_url;         /* [in source] for snapshot keys */
	char *source_revision;
	json_object *env;         /* object, never NULL */
	json_object *tags;        /* object, never NULL */
	json_object *setup;       /* array of command strings, or NULL */
	int sudo;                 /* setup commands run as root */
	int keep;                 /* neither stop nor delete at close */
	int snapshot_reuse;       /* snapshot: reuse */
	int64_t snapshot_expiration_ms; /* -1: the API's default; 0: never */
	char *cwd;                /* NULL: the session's */
};

int vc_config_parse(const struct flue_host *host, const char *json,
                    struct vc_config *out, struct flue_error *err);
void vc_config_clear(struct vc_config *config);
int vc_options_parse(const struct flue_host *host,
                     const struct vc_config *config, const char *json,
                     struct vc_options *out, struct flue_error *err);
void vc_options_clear(struct vc_options *options);

/* "30m", "45s", "2h", "1d", "500ms" or an integer of milliseconds. */
int vc_duration_ms(json_object *value, int64_t *out);

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

struct vc_auth {
	char *token;
	char *team_id;
	char *project_id;
	char *api_url;            /* no trailing slash */
	const char *kind;         /* [static] "access token" or "OIDC token" */
};

/* From the config, else VERCEL_TOKEN/VERCEL_TEAM_ID/VERCEL_PROJECT_ID,
 * else VERCEL_OIDC_TOKEN (team and project from its claims).  Read again
 * on every open, so a refreshed token is picked up. */
int vc_auth_resolve(const struct flue_host *host,
                    const struct vc_config *config, struct vc_auth *out,
                    struct flue_error *err);
void vc_auth_clear(struct vc_auth *auth);

/* ------------------------------------------------------------------ */
/* The REST client                                                     */
/* ------------------------------------------------------------------ */

struct vc_client;

/* What a request does with the body of a 2xx answer. */
enum vc_body {
	VC_BODY_JSON,             /* parsed into response.json */
	VC_BODY_NDJSON,           /* lines to on_line, as they arrive */
	VC_BODY_BYTES             /* into response.bytes (host memory) */
};

typedef int (*vc_line_fn)(void *arg, const char *line, size_t len);

struct vc_request {
	const char *method;       /* GET POST PATCH DELETE */
	const char *what;         /* for messages: "run a command" */
	const char *path;         /* after the API URL, already escaped */
	const char *query;        /* extra "a=b&c=d", escaped, or NULL */
	const char *body;         /* JSON text, or NULL */
	FILE *upload;             /* or a file to send (rewound per try) */
	uint64_t upload_len;
	const char *content_type; /* default application/json */
	const char *x_cwd;        /* header for fs/write */
	int idempotent;           /* 5xx and drops after sending retried */
	enum vc_body body_kind;
	vc_line_fn on_line;       /* VC_BODY_NDJSON */
	void *line_arg;
	const struct flue_cancel *cancel;
	/* NDJSON: called once when cancel fires; the transfer then goes on
	 * (for the stream's last line) for at most VC_CANCEL_DRAIN_MS.
	 * NULL: a cancel ends the transfer at once. */
	void (*on_cancel)(void *arg);
	/* NDJSON: called once at deadline_ms (monotonic) if still running. */
	int64_t deadline_ms;
	void (*on_deadline)(void *arg);
};

#define VC_CANCEL_DRAIN_MS 10000

struct vc_response {
	long status;              /* 0: no answer */
	json_object *json;        /* VC_BODY_JSON, or a parsed error body */
	struct flue_bytes bytes;  /* VC_BODY_BYTES, [transferred] on success */
	char code[64];            /* error.code of a failed answer */
	int sent;                 /* the server may have acted on it: a
	                             5xx, or a drop after sending */
	int body_started;         /* NDJSON: a line was delivered */
	int canceled;             /* the cancel handle fired */
};

int vc_client_new(const struct flue_host *host, const struct vc_config *config,
                  struct vc_client **out, struct flue_error *err);
void vc_client_free(struct vc_client *client);
/* Credentials for the requests that follow (copied). */
int vc_client_set_auth(struct vc_client *client, const struct vc_auth *auth,
                       struct flue_error *err);
const struct vc_auth *vc_client_auth(const struct vc_client *client);

/*
 * Send req, retrying what is safe: connection failures before sending,
 * 429 (Retry-After honoured up to max_retry_after_ms), and for idempotent
 * requests 5xx and drops.  Returns 0 on a 2xx answer.  Otherwise a
 * FLUE_E* code with err saying which call failed and why; resp->status
 * and resp->code tell callers what to do next (410 sandbox_stopped...).
 * A non-idempotent request answered 5xx or dropped after sending returns
 * FLUE_ERETRY with resp->sent set: the caller checks the server's state
 * before trying again.  resp is cleared with vc_response_clear.
 */
int vc_call(struct vc_client *client, const struct vc_request *req,
            struct vc_response *resp, struct flue_error *err);
void vc_response_clear(const struct flue_host *host, struct vc_response *resp);

/* Percent-encode s for a path segment or query value (malloc'd). */
char *vc_escape(const char *s);

/* ------------------------------------------------------------------ */
/* ndjson lines, split on bytes before any decoding                    */
/* ------------------------------------------------------------------ */

struct vc_lines {
	char *buf;
	size_t len, cap;
	size_t max_line;          /* a longer line is an error */
};

/* Feed bytes; fn gets every complete line (without the \n, blank lines
 * skipped).  Returns 0, fn's non-zero value, or FLUE_EIO for a line over
 * max_line. */
int vc_lines_feed(struct vc_lines *lines, const char *data, size_t len,
                  vc_line_fn fn, void *arg);
/* Make *buf (malloc'd, *cap bytes) hold at least need bytes, doubling. */
int vc_grow(char **buf, size_t *cap, size_t need);
/* Bytes of an unfinished line left over. */
size_t vc_lines_pending(const struct vc_lines *lines);
void vc_lines_clear(struct vc_lines *lines);

/* ------------------------------------------------------------------ */
/* The upload archive                                                  */
/* ------------------------------------------------------------------ */

/* Write a gzip'd tar holding one file at path (absolute; stored without
 * its leading '/', with a PAX header when the name is long or not ASCII)
 * to a new temporary file, rewound.  *out_len is its size. */
int vc_tarball_one(const struct flue_host *host, const char *path,
                   const void *data, size_t len, unsigned mode,
                   FILE **out, uint64_t *out_len, struct flue_error *err);

/* ------------------------------------------------------------------ */
/* Snapshot store: <state>/vercel/snapshots.json                       */
/* ------------------------------------------------------------------ */

struct vc_snapshot_record {
	char *key;
	char *id;
	char *source;
	char *revision;
	int64_t created_ms;
};

/* The key of a source, revision, runtime and setup (a hex digest). */
char *vc_snapshot_key(const struct vc_options *options);
/* Look key up; *out_id NULL when absent. */
int vc_snapstore_get(const struct flue_host *host, const char *state_dir,
                     const char *key, char **out_id, struct flue_error *err);
/* Record (id != NULL) or forget (id == NULL) key's snapshot. */
int vc_snapstore_put(const struct flue_host *host, const char *state_dir,
                     const struct vc_options *options, const char *key,
                     const char *id, struct flue_error *err);
/* Forget whatever key holds id. */
int vc_snapstore_forget_id(const struct flue_host *host,
                           const char *state_dir, const char *id,
                           struct flue_error *err);
/* Every record (array of vc_snapshot_record, freed by the _free). */
int vc_snapstore_list(const struct flue_host *host, const char *state_dir,
                      struct vc_snapshot_record **out, size_t *out_n,
                      struct flue_error *err);
void vc_snapstore_list_free(struct vc_snapshot_record *records, size_t n);

/* Small helpers shared by the files. */
int64_t vc_now_ms(void);        /* monotonic */
int64_t vc_epoch_ms(void);
int vc_nomem(const struct flue_host *host, struct flue_error *err);

#endif /* FLUE_VERCEL_H */
