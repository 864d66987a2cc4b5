/* What codec.c, openai.c and anthropic.c share: the decoder's common
 * part, event emission, a growable byte buffer, and the small JSON and
 * error helpers both protocols use.  Private to the gateway plugin. */
#ifndef FLUE_GATEWAY_CODEC_INTERNAL_H
#define FLUE_GATEWAY_CODEC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/plugin.h>

#include "codec.h"

/* How JSON goes on the wire: compact, "/" left alone. */
#define GW_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* How much of a bad chunk an error message quotes. */
#define GW_SNIPPET_MAX 80

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Fill err (may be NULL) with a one-line message and return code. */
int gw_fail(struct flue_error *err, int code, const char *fmt, ...)
	FLUE_PRINTF(3, 4);
int gw_nomem(struct flue_error *err);

/* The first GW_SNIPPET_MAX bytes of data, fit for a one-line message:
 * control bytes shown as '?', never cut inside a UTF-8 character, "..."
 * when shortened.  buf needs GW_SNIPPET_MAX + 4 bytes. */
const char *gw_snippet(const char *data, size_t len, char *buf, size_t size);

/* 1 when an error the provider reported (its type or code and message,
 * either may be NULL) is worth retrying: overload, rate limit, server
 * error, timeout. */
int gw_error_transient(const char *type, const char *message);

/* An in-stream error object ({"message","type"} or a plain string):
 * FLUE_ERETRY or FLUE_ERROR with what the provider said. */
int gw_stream_error(json_object *error, struct flue_error *err);

/* ------------------------------------------------------------------ */
/* Buffers and JSON                                                    */
/* ------------------------------------------------------------------ */

/* Bytes that only grow (doubling, so appends are amortised O(1)).
 * data is owned, NUL-terminated once anything was added. */
struct gw_buf {
	char *data;
	size_t len;
	size_t cap;
};

int gw_buf_add(struct gw_buf *buf, const char *bytes, size_t len);
void gw_buf_free(struct gw_buf *buf);

/* data (len bytes, trailing whitespace allowed) as one JSON object into
 * *out (the caller's reference).  FLUE_ERROR quoting the data when it
 * is not JSON, or not an object. */
int gw_json_parse(const char *data, size_t len, json_object **out,
                  struct flue_error *err);

/* A member of obj when obj is an object and the member has that type;
 * else NULL.  gw_string sets *len when len is not NULL. */
json_object *gw_member(json_object *obj, const char *key, json_type type);
const char *gw_string(json_object *obj, const char *key, size_t *len);
/* A non-negative integer member; 0 when absent or of another type. */
uint64_t gw_count(json_object *obj, const char *key);
/* A cost in USD: a number or a numeric string; -1 when absent or bad. */
double gw_cost(json_object *obj, const char *key);

/* Add val to obj under key, or to an array; the container takes val.  A
 * NULL val (an allocation that failed) or a failed add puts val and
 * returns -1, so calls chain with ||. */
int gw_add(json_object *obj, const char *key, json_object *val);
int gw_append(json_object *array, json_object *val);
/* A new string from bytes (NULL when out of memory). */
json_object *gw_new_string(const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* Decoders                                                            */
/* ------------------------------------------------------------------ */

struct gw_openai;
struct gw_anthropic;

struct gw_decoder {
	enum gw_api api;
	flue_provider_event_fn emit;
	void *payload;
	int started;                  /* an event was emitted */
	int stopped;                  /* STOP was emitted: the rest is ignored */
	struct flue_error failure;    /* code != 0 once the stream failed */
	struct gw_openai *openai;     /* owned, for GW_API_OPENAI_CHAT */
	struct gw_anthropic *anthropic;  /* owned, for ANTHROPIC_MESSAGES */
};

/* Pass one event on.  FLUE_ECANCELED when emit asks to stop.  A STOP
 * marks the decoder stopped. */
int gw_emit(struct gw_decoder *d, const struct flue_provider_event *event,
            struct flue_error *err);
/* The same for an event carrying only type, index and text. */
int gw_emit_text(struct gw_decoder *d, uint32_t type, uint32_t index,
                 const char *text, size_t len, struct flue_error *err);
int gw_emit_usage(struct gw_decoder *d, const struct flue_usage *usage,
                  struct flue_error *err);
/* OPAQUE with obj serialised; obj stays the caller's. */
int gw_emit_json(struct gw_decoder *d, json_object *obj,
                 struct flue_error *err);

/* Per protocol: state, one event, free.  The *_event functions are only
 * called while the decoder has neither stopped nor failed. */
struct gw_openai *gw_openai_new(void);
int gw_openai_event(struct gw_decoder *d, const char *type,
                    const char *data, size_t len, struct flue_error *err);
void gw_openai_free(struct gw_openai *state);

struct gw_anthropic *gw_anthropic_new(void);
int gw_anthropic_event(struct gw_decoder *d, const char *type,
                       const char *data, size_t len, struct flue_error *err);
void gw_anthropic_free(struct gw_anthropic *state);

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */
/* ------------------------------------------------------------------ */

/* flue's request, checked once for both protocols.  Pointers borrow
 * from the request object. */
struct gw_request {
	const char *model;
	const char *system;           /* NULL or "" when there is none */
	json_object *messages;        /* array */
	json_object *tools;           /* array or NULL */
	const char *thinking;         /* NULL when off */
	int64_t max_tokens;           /* 0 when not set */
};

int gw_request_read(const struct gw_body_settings *settings,
                    json_object *request, struct gw_request *out,
                    struct flue_error *err);

/* Checks of one message, shared by both builders.  index is the
 * message's position in "messages", for error messages. */
enum gw_role {
	GW_ROLE_SKIP = 0,             /* a record of another shape */
	GW_ROLE_USER,
	GW_ROLE_ASSISTANT,
	GW_ROLE_TOOL
};

/* messages[index] and its role; FLUE_EINVAL for a role flue lacks. */
int gw_check_message(json_object *messages, size_t index, json_object **msg,
                     enum gw_role *role, struct flue_error *err);
int gw_check_user(json_object *msg, size_t index, const char **text,
                  size_t *len, struct flue_error *err);
int gw_check_blocks(json_object *msg, size_t index, json_object **blocks,
                    struct flue_error *err);
/* One block of an assistant message, checked. */
enum gw_block_kind {
	GW_BLOCK_OTHER = 0,           /* a type this version does not know */
	GW_BLOCK_TEXT,
	GW_BLOCK_THINKING,
	GW_BLOCK_TOOL_CALL
};

struct gw_block {
	enum gw_block_kind kind;
	const char *text;             /* TEXT, THINKING */
	size_t text_len;
	const char *id, *name;        /* TOOL_CALL */
	json_object *arguments;       /* TOOL_CALL: an object */
};

/* blocks[b] of messages[index]; unknown types come back as OTHER. */
int gw_check_block(json_object *blocks, size_t index, size_t b,
                   struct gw_block *out, struct flue_error *err);
int gw_check_tool_result(json_object *msg, size_t index, const char **id,
                         const char **content, size_t *len, int *is_error,
                         struct flue_error *err);
/* The message's provider_data when its "api" is api, else NULL. */
json_object *gw_provider_data(json_object *msg, const char *api);
/* tools[index]'s name, description (may be NULL) and parameters (NULL
 * when absent). */
int gw_check_tool(json_object *tools, size_t index, const char **name,
                  const char **description, json_object **parameters,
                  struct flue_error *err);

/* The JSON object of the body, the caller's reference. */
int gw_openai_body(const struct gw_body_settings *settings,
                   const struct gw_request *req, json_object **out,
                   struct flue_error *err);
int gw_anthropic_body(const struct gw_body_settings *settings,
                      const struct gw_request *req, json_object **out,
                      struct flue_error *err);

#endif
