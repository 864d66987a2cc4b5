/* The HTTP server's request parsing, apart from any I/O so that it can
 * be tested and fuzzed alone: which route a method and path are, whether
 * the names in them are valid, the bearer token, CORS origins, numbers
 * in queries and headers. */
#ifndef FLUE_LIB_ROUTER_H
#define FLUE_LIB_ROUTER_H

#include <stddef.h>

#include <json-c/json.h>

#include "names.h"

enum flue_route {
	FLUE_ROUTE_NONE,
	FLUE_ROUTE_HEALTH,          /* GET /health */
	FLUE_ROUTE_AGENTS,          /* GET /agents */
	FLUE_ROUTE_SESSION,         /* POST (run) or GET (history)
	                               /agents/<agent>/<id> */
	FLUE_ROUTE_RUN,             /* GET /runs/<run> */
	FLUE_ROUTE_RUN_EVENTS,      /* GET /runs/<run>/events */
	FLUE_ROUTE_RUN_STREAM,      /* GET /runs/<run>/stream */
	FLUE_ROUTE_RUN_ABORT        /* POST /runs/<run>/abort */
};

struct flue_route_match {
	enum flue_route route;
	char agent[65];
	char session[FLUE_SESSION_ID_MAX + 1];
	char run[FLUE_RUN_ID_MAX + 1];
	const char *allow;          /* the methods the path takes [static] */
	char message[320];          /* why, when not 0 */
};

/* Match method and path (no query).  0 when it is a route; otherwise
 * the status to answer: 404 (no such route), 405 (out->allow says what
 * is), 400 (a name or id that is not valid, out->message says why).
 * OPTIONS matches any route (for CORS preflights). */
int flue_router_match(const char *method, const char *path,
                      struct flue_route_match *out);

/* Whether body[0, len) is empty or only whitespace. */
int flue_router_blank(const char *body, size_t len);

/* Whether origin is allowed by list (a JSON array of origins, "*" for
 * any; NULL: none). */
int flue_router_origin_allowed(json_object *list, const char *origin);

/* Whether an Authorization header value is "Bearer <token>", compared in
 * time that does not depend on where they differ. */
int flue_router_token_ok(const char *authorization, const char *token);

/* A decimal number 0 <= n <= max; -1 when text is not one. */
long long flue_router_number(const char *text, long long max);

#endif
