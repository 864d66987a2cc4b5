/* libFuzzer target for the HTTP server's request parsing (core/lib/
 * router.c): the first byte picks a method, the rest is a path.  A path
 * that matches must give names that are valid and that rebuild the path;
 * statuses are only 0, 400, 404 or 405 (with Allow).  The same bytes go
 * through the number parser (checked against strtoll), the blank check
 * and the constant-time token compare (checked against strcmp). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/lib/names.h"
#include "../../core/lib/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = {
	"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "get"
};

static void
check_match(const char *method, const char *path)
{
	struct flue_route_match m;
	int status = flue_router_match(method, path, &m);
	char rebuilt[1024];

	if (status != 0 && status != 400 && status != 404 && status != 405)
		abort();
	if (status == 405 && (m.allow == NULL || m.message[0] == '\0'))
		abort();
	if (status != 0)
		return;
	switch (m.route) {
	case FLUE_ROUTE_SESSION:
		if (!flue_agent_name_valid(m.agent) ||
		    !flue_session_id_valid(m.session))
			abort();
		snprintf(rebuilt, sizeof(rebuilt), "/agents/%s/%s", m.agent,
		         m.session);
		if (strcmp(rebuilt, path) != 0 &&
		    (strncmp(rebuilt, path, strlen(rebuilt)) != 0 ||
		     strcmp(path + strlen(rebuilt), "/") != 0))
			abort();
		break;
	case FLUE_ROUTE_RUN:
	case FLUE_ROUTE_RUN_EVENTS:
	case FLUE_ROUTE_RUN_STREAM:
	case FLUE_ROUTE_RUN_ABORT:
		if (!flue_run_id_valid(m.run) || strstr(path, m.run) == NULL ||
		    strchr(m.run, '/') != NULL)
			abort();
		break;
	case FLUE_ROUTE_HEALTH:
		if (strcmp(path, "/health") != 0)
			abort();
		break;
	case FLUE_ROUTE_AGENTS:
		if (strcmp(path, "/agents") != 0 && strcmp(path, "/agents/") != 0)
			abort();
		break;
	default:
		abort();
	}
}

static void
check_number(const char *text)
{
	long long n = flue_router_number(text, 1000000);
	int digits = text[0] != '\0' && strspn(text, "0123456789") ==
	             strlen(text);

	if (!digits && n != -1)
		abort();
	if (digits && strlen(text) < 18) {
		long long want = strtoll(text, NULL, 10);

		if (n != (want <= 1000000 ? want : -1))
			abort();
	}
}

static void
check_token(const char *text)
{
	size_t len = strlen(text), half = len / 2;
	char *token = malloc(half + 1), *header = malloc(len - half + 8);

	if (token == NULL || header == NULL) {
		free(token);
		free(header);
		return;
	}
	memcpy(token, text, half);
	token[half] = '\0';
	memcpy(header, "Bearer ", 7);
	memcpy(header + 7, text + half, len - half + 1);
	if (flue_router_token_ok(header, token) !=
	    (strcmp(token, text + half) == 0))
		abort();
	if (!flue_router_token_ok(header, text + half))
		abort();
	free(token);
	free(header);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0 || size > 4096)
		return 0;
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (strlen(text) < 1000)
		check_match(methods[data[0] % 8], text);
	check_number(text);
	check_token(text);
	if (flue_router_blank(text, strlen(text)) !=
	    (strspn(text, " \t\r\n\v\f") == strlen(text)))
		abort();
	free(text);
	return 0;
}
