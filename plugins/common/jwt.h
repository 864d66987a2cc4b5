/* JWT claims for plugins that accept Vercel OIDC tokens (gateway,
 * vercel); compiled into each, since plugins share no library. */
#ifndef FLUE_PLUGINS_JWT_H
#define FLUE_PLUGINS_JWT_H

#include <json-c/json.h>

/* The claims of token's payload as a JSON object (a new reference), or
 * NULL when token is not a JWT.  The signature is not checked: the
 * server does that; this only reads what a token says about itself
 * (expiry, team, project) before it is sent. */
json_object *plugin_jwt_claims(const char *token);

#endif
