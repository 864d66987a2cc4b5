/* JWT claims; see jwt.h. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

/* base64url, tolerating the standard alphabet too. */
static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

json_object *
plugin_jwt_claims(const char *token)
{
	const char *p = strchr(token, '.'), *end;
	struct json_tokener *tok;
	json_object *claims = NULL;
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	char *buf;

	if (p == NULL || (end = strchr(++p, '.')) == NULL)
		return NULL;
	buf = malloc((size_t)(end - p) + 1);
	if (buf == NULL)
		return NULL;
	for (; p < end && *p != '='; p++) {
		int v = b64_value((unsigned char)*p);

		if (v < 0) {
			free(buf);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	tok = json_tokener_new();
	if (tok != NULL) {
		claims = json_tokener_parse_ex(tok, buf, (int)n);
		if (claims != NULL &&
		    (json_tokener_get_error(tok) != json_tokener_success ||
		     !json_object_is_type(claims, json_type_object))) {
			json_object_put(claims);
			claims = NULL;
		}
		json_tokener_free(tok);
	}
	free(buf);
	return claims;
}
