/* Request parsing for the HTTP server. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "router.h"

/* The next path segment of *p into buf; 0 when it is empty or too long
 * (then the path is not a route). */
static int
segment(const char **p, char *buf, size_t size)
{
	const char *s = *p, *end;
	size_t n;

	if (*s != '/')
		return 0;
	s++;
	end = strchr(s, '/');
	n = end ? (size_t)(end - s) : strlen(s);
	if (n == 0 || n >= size)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*p = s + n;
	return 1;
}

static int
method_is(const char *method, const char *want)
{
	return strcmp(method, want) == 0 || strcmp(method, "OPTIONS") == 0 ||
	       (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static int
allow(struct flue_route_match *m, const char *method, const char *methods,
      enum flue_route route)
{
	m->allow = methods;
	if (strcmp(method, "OPTIONS") == 0 ||
	    (strstr(methods, "GET") && method_is(method, "GET")) ||
	    (strstr(methods, "POST") && strcmp(method, "POST") == 0)) {
		m->route = route;
		return 0;
	}
	snprintf(m->message, sizeof(m->message), "%s is not allowed here; "
	         "use %s", method, methods);
	return 405;
}

int
flue_router_match(const char *method, const char *path,
                  struct flue_route_match *m)
{
	char first[16], name[256], id[256], tail[16];
	const char *p = path;

	memset(m, 0, sizeof(*m));
	snprintf(m->message, sizeof(m->message), "no route for %.20s %.100s; "
	         "see GET /health, GET /agents, POST /agents/<agent>/<id>, "
	         "GET /runs/<run>", method, path);
	if (!segment(&p, first, sizeof(first)))
		return 404;
	if (strcmp(first, "health") == 0 && *p == '\0')
		return allow(m, method, "GET", FLUE_ROUTE_HEALTH);
	if (strcmp(first, "agents") == 0) {
		if (*p == '\0' || strcmp(p, "/") == 0)
			return allow(m, method, "GET", FLUE_ROUTE_AGENTS);
		if (!segment(&p, name, sizeof(name)) ||
		    !segment(&p, id, sizeof(id)) || (*p != '\0' &&
		                                     strcmp(p, "/") != 0))
			return 404;
		if (!flue_agent_name_valid(name)) {
			snprintf(m->message, sizeof(m->message), "'%.64s' is not an "
			         "agent name (lower-kebab-case, as the file in "
			         "agents/)", name);
			return 400;
		}
		if (!flue_session_id_valid(id)) {
			snprintf(m->message, sizeof(m->message), "session id "
			         "'%.64s': use 1-%d letters, digits, '.', '_' or '-', "
			         "not starting with '.'", id, FLUE_SESSION_ID_MAX);
			return 400;
		}
		memcpy(m->agent, name, strlen(name) + 1);     /* checked: fits */
		memcpy(m->session, id, strlen(id) + 1);
		return allow(m, method, "GET, POST", FLUE_ROUTE_SESSION);
	}
	if (strcmp(first, "runs") == 0) {
		if (!segment(&p, id, sizeof(id)))
			return 404;
		if (!flue_run_id_valid(id)) {
			snprintf(m->message, sizeof(m->message), "'%.64s' is not a "
			         "run id", id);
			return 400;
		}
		memcpy(m->run, id, strlen(id) + 1);           /* checked: fits */
		if (*p == '\0')
			return allow(m, method, "GET", FLUE_ROUTE_RUN);
		if (!segment(&p, tail, sizeof(tail)) || *p != '\0')
			return 404;
		if (strcmp(tail, "events") == 0)
			return allow(m, method, "GET", FLUE_ROUTE_RUN_EVENTS);
		if (strcmp(tail, "stream") == 0)
			return allow(m, method, "GET", FLUE_ROUTE_RUN_STREAM);
		if (strcmp(tail, "abort") == 0)
			return allow(m, method, "POST", FLUE_ROUTE_RUN_ABORT);
	}
	return 404;
}

int
flue_router_blank(const char *body, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)body[i]))
			return 0;
	return 1;
}

int
flue_router_origin_allowed(json_object *list, const char *origin)
{
	for (size_t i = 0; list != NULL && i < json_object_array_length(list);
	     i++) {
		const char *o = json_object_get_string(
		        json_object_array_get_idx(list, i));

		if (o != NULL && (strcmp(o, "*") == 0 || strcmp(o, origin) == 0))
			return 1;
	}
	return 0;
}

int
flue_router_token_ok(const char *authorization, const char *token)
{
	size_t n, m;
	unsigned char diff;

	if (authorization == NULL || token == NULL ||
	    strncmp(authorization, "Bearer ", 7) != 0)
		return 0;
	authorization += 7;
	n = strlen(authorization);
	m = strlen(token);
	/* Every byte of the token is compared whatever the input. */
	diff = (unsigned char)(n != m);
	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)(token[i] ^ (i < n ? authorization[i] : 0));
	return diff == 0;
}

long long
flue_router_number(const char *text, long long max)
{
	long long n = 0;

	if (text == NULL || *text == '\0')
		return -1;
	for (; *text != '\0'; text++) {
		if (*text < '0' || *text > '9')
			return -1;
		n = n * 10 + (*text - '0');
		if (n > max)
			return -1;
	}
	return n;
}
