/* The two wire protocols the gateway plugin speaks -- OpenAI Chat
 * Completions and Anthropic Messages: how flue's request (docs/MESSAGES.md)
 * becomes an HTTP body, how a streamed answer (server-sent events, already
 * split by sse.c) becomes flue provider events, and what an error body
 * says.  No I/O here: the transport (gateway.c) owns the connection. */
#ifndef FLUE_GATEWAY_CODEC_H
#define FLUE_GATEWAY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/plugin.h>

enum gw_api {
	GW_API_OPENAI_CHAT = 0,       /* "openai-chat": POST <base>/chat/completions */
	GW_API_ANTHROPIC_MESSAGES = 1 /* "anthropic-messages": POST <base>/messages */
};

/* "openai-chat" / "anthropic-messages" -> *out; -1 when unknown. */
int gw_api_parse(const char *name, enum gw_api *out);
const char *gw_api_name(enum gw_api api);
/* The path appended to the base URL: "/chat/completions", "/messages". */
const char *gw_api_path(enum gw_api api);

/* What the transport resolved for one request. */
struct gw_body_settings {
	enum gw_api api;
	const char *model;              /* [borrowed] id the endpoint knows */
	json_object *provider_options;  /* [borrowed] sent as the top-level
	                                   "providerOptions" (openai-chat), or
	                                   NULL */
	int64_t max_tokens;             /* 0: the request's, else a default
	                                   (anthropic needs one) */
};

/* Build the HTTP body from flue's request (the parsed request_json;
 * [borrowed]).  *out_body is [caller-owned] (malloc), NUL-terminated.
 * Fails with FLUE_EINVAL naming the field when the request is malformed. */
int gw_body_build(const struct gw_body_settings *settings,
                  json_object *request, char **out_body, size_t *out_len,
                  struct flue_error *err);

/* A decoder turns one streamed answer into provider events. */
struct gw_decoder;

/* emit is called for every event; a non-zero return from it makes the
 * decoder return FLUE_ECANCELED. */
int gw_decoder_new(enum gw_api api, flue_provider_event_fn emit,
                   void *payload, struct gw_decoder **out);
/* One server-sent event: type ("message" when the stream named none) and
 * data (NUL-terminated, [borrowed]).  Returns 0; FLUE_ECANCELED when emit
 * asked to stop; FLUE_ERETRY for an in-stream error that is transient
 * (overloaded, rate limit, server error); FLUE_ERROR for a final
 * in-stream error or data that is not the protocol.  err says what. */
int gw_decoder_event(struct gw_decoder *decoder, const char *type,
                     const char *data, size_t len, struct flue_error *err);
/* The body ended.  0 when the answer was complete (its STOP was
 * emitted); FLUE_ERETRY "the stream ended before the answer was
 * complete" otherwise. */
int gw_decoder_finish(struct gw_decoder *decoder, struct flue_error *err);
/* 1 once any event was emitted (a retry must then send RETRY first). */
int gw_decoder_started(const struct gw_decoder *decoder);
void gw_decoder_free(struct gw_decoder *decoder);

/* The message of an error body in the gateway's, OpenAI's or Anthropic's
 * shape ({"error":{"message","type"}} or {"type":"error","error":{...}}).
 * *out_message and *out_type are [caller-owned] (malloc) or NULL when the
 * body has none; returns 0, or FLUE_ENOMEM. */
int gw_error_body(const char *body, size_t len, char **out_message,
                  char **out_type);

#endif
