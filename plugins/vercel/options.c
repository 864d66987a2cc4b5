/* Settings of the vercel plugin (flue.yaml) and of each workspace (the
 * agent's `sandbox:` mapping), checked key by key so a mistake names its
 * field; and the credentials, read from the environment on every open. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "vercel.h"

int
vc_nomem(const struct flue_host *host, struct flue_error *err)
{
	return host->error_set(err, FLUE_ENOMEM, "vercel: out of memory");
}

int
vc_duration_ms(json_object *value, int64_t *out)
{
	const char *s;
	char *end;
	double n;

	if (json_object_is_type(value, json_type_int)) {
		*out = json_object_get_int64(value);
		return *out >= 0 ? 0 : -1;
	}
	if (!json_object_is_type(value, json_type_string))
		return -1;
	s = json_object_get_string(value);
	n = strtod(s, &end);
	if (end == s || n < 0)
		return -1;
	if (strcmp(end, "ms") == 0 || *end == '\0')
		*out = (int64_t)n;
	else if (strcmp(end, "s") == 0)
		*out = (int64_t)(n * 1000);
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		*out = (int64_t)(n * 60000);
	else if (strcmp(end, "h") == 0)
		*out = (int64_t)(n * 3600000);
	else if (strcmp(end, "d") == 0)
		*out = (int64_t)(n * 86400000);
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Unknown keys                                                        */
/* ------------------------------------------------------------------ */

static int
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int prev = row[0], cur;

		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = a[i - 1] == b[j - 1] ? prev :
			         1 + (prev < row[j] ? (prev < row[j - 1] ? prev :
			         row[j - 1]) : (row[j] < row[j - 1] ? row[j] :
			         row[j - 1]));
			prev = cur;
		}
	}
	return row[lb];
}

static int
check_keys(const struct flue_host *host, json_object *obj, const char *where,
           const char *const *known, struct flue_error *err)
{
	json_object_object_foreach(obj, key, value) {
		const char *best = NULL;
		int best_d = 3;
		size_t i;

		(void)value;
		for (i = 0; known[i] != NULL; i++) {
			int d;

			if (strcmp(key, known[i]) == 0)
				break;
			d = distance(key, known[i]);
			if (d < best_d) {
				best_d = d;
				best = known[i];
			}
		}
		if (known[i] != NULL)
			continue;
		if (best != NULL)
			return host->error_set(err, FLUE_EINVAL,
			        "%s: unknown key '%s' (did you mean '%s'?)", where,
			        key, best);
		return host->error_set(err, FLUE_EINVAL,
		        "%s: unknown key '%s'", where, key);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The plugin's settings                                               */
/* ------------------------------------------------------------------ */

static const char *const workspace_keys[] = {
	"name", "runtime", "vcpus", "timeout", "ports", "network", "source",
	"env", "tags", "setup", "sudo", "keep", "snapshot",
	"snapshot_expiration", "cwd", NULL
};

static const char *const config_keys[] = {
	"api_url", "token", "team_id", "project_id", "retries", "backoff_ms",
	"max_retry_after", "connect_timeout", "defaults", NULL
};

/* An http(s) URL without trailing slashes (edited in place). */
static int
clean_api_url(const struct flue_host *host, char *url, const char *where,
              struct flue_error *err)
{
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return host->error_set(err, FLUE_EINVAL,
		                       "%s: '%s' is not an http(s) URL", where, url);
	return 0;
}

static int
config_string(const struct flue_host *host, json_object *obj, const char *key,
              char **out, struct flue_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		return host->error_set(err, FLUE_EINVAL,
		                       "%s.%s: expected a non-empty string",
		                       VC_WHERE, key);
	free(*out);
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : vc_nomem(host, err);
}

static int
config_duration(const struct flue_host *host, json_object *obj,
                const char *key, int64_t *out, struct flue_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (vc_duration_ms(v, out) != 0)
		return host->error_set(err, FLUE_EINVAL,
		        "%s.%s: expected a duration such as \"20s\" or a number "
		        "of milliseconds", VC_WHERE, key);
	return 0;
}

int
vc_config_parse(const struct flue_host *host, const char *json,
                struct vc_config *out, struct flue_error *err)
{
	json_object *obj = json_tokener_parse(json ? json : "{}"), *v;
	int rc;

	memset(out, 0, sizeof(*out));
	out->retries = 2;
	out->backoff_ms = 400;
	out->max_retry_after_ms = 20000;
	out->connect_timeout_ms = 10000;
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return host->error_set(err, FLUE_EINVAL,
		                       "%s: expected a mapping", VC_WHERE);
	}
	rc = check_keys(host, obj, VC_WHERE, config_keys, err);
	if (rc == 0)
		rc = config_string(host, obj, "api_url", &out->api_url, err);
	if (rc == 0)
		rc = config_string(host, obj, "token", &out->token, err);
	if (rc == 0)
		rc = config_string(host, obj, "team_id", &out->team_id, err);
	if (rc == 0)
		rc = config_string(host, obj, "project_id", &out->project_id,
		                   err);
	if (rc == 0)
		rc = config_duration(host, obj, "backoff_ms", &out->backoff_ms,
		                     err);
	if (rc == 0)
		rc = config_duration(host, obj, "max_retry_after",
		                     &out->max_retry_after_ms, err);
	if (rc == 0)
		rc = config_duration(host, obj, "connect_timeout",
		                     &out->connect_timeout_ms, err);
	if (rc == 0 && json_object_object_get_ex(obj, "retries", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int(v) < 0 || json_object_get_int(v) > 10)
			rc = host->error_set(err, FLUE_EINVAL,
			        "%s.retries: expected a number from 0 to 10",
			        VC_WHERE);
		else
			out->retries = json_object_get_int(v);
	}
	if (rc == 0 && json_object_object_get_ex(obj, "defaults", &v)) {
		if (!json_object_is_type(v, json_type_object))
			rc = host->error_set(err, FLUE_EINVAL,
			        "%s.defaults: expected a mapping of sandbox options",
			        VC_WHERE);
		else if ((rc = check_keys(host, v, VC_WHERE ".defaults",
		                          workspace_keys, err)) == 0)
			out->defaults = json_object_get(v);
	}
	if (rc == 0 && out->api_url != NULL)
		rc = clean_api_url(host, out->api_url, VC_WHERE ".api_url", err);
	json_object_put(obj);
	if (rc != 0)
		vc_config_clear(out);
	return rc;
}

void
vc_config_clear(struct vc_config *c)
{
	free(c->api_url);
	free(c->token);
	free(c->team_id);
	free(c->project_id);
	json_object_put(c->defaults);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------ */
/* A workspace's options                                               */
/* ------------------------------------------------------------------ */

static const char *const runtimes[] = {
	"node26", "node24", "node22", "python3.13", NULL
};

#define WS "sandbox"

static int
bad(const struct flue_host *host, struct flue_error *err, const char *key,
    const char *expected)
{
	return host->error_set(err, FLUE_EINVAL, WS ".%s: expected %s", key,
	                       expected);
}

static int
string_map(const struct flue_host *host, json_object *v, const char *key,
           size_t max, json_object **out, struct flue_error *err)
{
	size_t n = 0;

	if (!json_object_is_type(v, json_type_object))
		return bad(host, err, key, "a mapping of names to strings");
	json_object_object_foreach(v, name, value) {
		(void)name;
		if (!json_object_is_type(value, json_type_string) &&
		    !json_object_is_type(value, json_type_int) &&
		    !json_object_is_type(value, json_type_boolean))
			return host->error_set(err, FLUE_EINVAL,
			        WS ".%s.%s: expected a string", key, name);
		n++;
	}
	if (max && n > max)
		return host->error_set(err, FLUE_EINVAL,
		        WS ".%s: at most %zu entries (Vercel's limit), found %zu",
		        key, max, n);
	*out = json_object_new_object();
	if (*out == NULL)
		return vc_nomem(host, err);
	json_object_object_foreach(v, k2, v2) {
		json_object_object_add(*out, k2,
		        json_object_new_string(json_object_get_string(v2)));
	}
	return 0;
}

static int
string_list(const struct flue_host *host, json_object *v, const char *key,
            const char *what, json_object **out, struct flue_error *err)
{
	if (json_object_is_type(v, json_type_string)) {
		*out = json_object_new_array();
		json_object_array_add(*out, json_object_get(v));
		return 0;
	}
	if (!json_object_is_type(v, json_type_array))
		return bad(host, err, key, what);
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i),
		                         json_type_string))
			return host->error_set(err, FLUE_EINVAL,
			        WS ".%s[%zu]: expected a string", key, i);
	*out = json_object_get(v);
	return 0;
}

static int
parse_network(const struct flue_host *host, json_object *v,
              json_object **out, struct flue_error *err)
{
	static const char *const keys[] = { "allow", "subnets", NULL };
	static const char *const subnet_keys[] = { "allow", "deny", NULL };
	const char *expected = "\"allow-all\", \"deny-all\" or a mapping with "
	                       "allow (domains) and subnets (allow/deny CIDRs)";
	json_object *policy, *x, *list;
	int rc;

	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (strcmp(s, "allow-all") != 0 && strcmp(s, "deny-all") != 0)
			return bad(host, err, "network", expected);
		*out = json_object_new_object();
		json_object_object_add(*out, "mode", json_object_new_string(s));
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return bad(host, err, "network", expected);
	if ((rc = check_keys(host, v, WS ".network", keys, err)) != 0)
		return rc;
	policy = json_object_new_object();
	if (json_object_object_get_ex(v, "allow", &x)) {
		if ((rc = string_list(host, x, "network.allow",
		                      "a list of domains", &list, err)) != 0)
			goto fail;
		json_object_object_add(policy, "allow", list);
	}
	if (json_object_object_get_ex(v, "subnets", &x)) {
		json_object *subnets = json_object_new_object();

		json_object_object_add(policy, "subnets", subnets);
		if (!json_object_is_type(x, json_type_object)) {
			rc = bad(host, err, "network.subnets",
			         "a mapping with allow and deny lists of CIDRs");
			goto fail;
		}
		if ((rc = check_keys(host, x, WS ".network.subnets", subnet_keys,
		                     err)) != 0)
			goto fail;
		for (int i = 0; subnet_keys[i] != NULL; i++) {
			json_object *l;
			char key[40];

			if (!json_object_object_get_ex(x, subnet_keys[i], &l))
				continue;
			snprintf(key, sizeof(key), "network.subnets.%s",
			         subnet_keys[i]);
			if ((rc = string_list(host, l, key, "a list of CIDRs",
			                      &list, err)) != 0)
				goto fail;
			for (size_t j = 0; j < json_object_array_length(list); j++)
				if (strchr(json_object_get_string(
				        json_object_array_get_idx(list, j)), '/') ==
				    NULL) {
					rc = host->error_set(err, FLUE_EINVAL,
					        WS ".%s[%zu]: '%s' is not a CIDR such as "
					        "10.0.0.0/8", key, j,
					        json_object_get_string(
					        json_object_array_get_idx(list, j)));
					json_object_put(list);
					goto fail;
				}
			json_object_object_add(subnets, subnet_keys[i], list);
		}
	}
	*out = policy;
	return 0;
fail:
	json_object_put(policy);
	return rc;
}

static int
parse_source(const struct flue_host *host, json_object *v,
             struct vc_options *o, struct flue_error *err)
{
	static const char *const keys[] = {
		"url", "type", "revision", "depth", "username", "password", NULL
	};
	json_object *src, *x;
	const char *type = "git";
	int rc;

	if (json_object_is_type(v, json_type_string)) {
		if (json_object_get_string_len(v) == 0)
			return 1;   /* an empty template: no source */
		src = json_object_new_object();
		json_object_object_add(src, "type", json_object_new_string("git"));
		json_object_object_add(src, "url", json_object_get(v));
		o->source = src;
		o->source_url = strdup(json_object_get_string(v));
		return o->source_url ? 0 : vc_nomem(host, err);
	}
	if (!json_object_is_type(v, json_type_object))
		return bad(host, err, "source",
		           "a repository URL or a mapping with url, revision, "
		           "depth, username and password");
	if ((rc = check_keys(host, v, WS ".source", keys, err)) != 0)
		return rc;
	if (!json_object_object_get_ex(v, "url", &x) ||
	    !json_object_is_type(x, json_type_string) ||
	    json_object_get_string_len(x) == 0)
		return bad(host, err, "source.url", "the repository's URL");
	src = json_object_new_object();
	o->source = src;
	o->source_url = strdup(json_object_get_string(x));
	json_object_object_add(src, "url", json_object_get(x));
	if (json_object_object_get_ex(v, "type", &x)) {
		type = json_object_get_string(x);
		if (!json_object_is_type(x, json_type_string) ||
		    (strcmp(type, "git") != 0 && strcmp(type, "tarball") != 0))
			return bad(host, err, "source.type", "git or tarball");
	}
	json_object_object_add(src, "type", json_object_new_string(type));
	if (json_object_object_get_ex(v, "revision", &x)) {
		if (!json_object_is_type(x, json_type_string))
			return bad(host, err, "source.revision",
			           "a branch, tag or commit");
		json_object_object_add(src, "revision", json_object_get(x));
		o->source_revision = strdup(json_object_get_string(x));
	}
	if (json_object_object_get_ex(v, "depth", &x)) {
		if (!json_object_is_type(x, json_type_int) ||
		    json_object_get_int(x) < 1)
			return bad(host, err, "source.depth", "a number, 1 or more");
		json_object_object_add(src, "depth", json_object_get(x));
	}
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "password" : "username";

		if (!json_object_object_get_ex(v, k, &x))
			continue;
		if (!json_object_is_type(x, json_type_string))
			return host->error_set(err, FLUE_EINVAL,
			        WS ".source.%s: expected a string (write "
			        "\"${NAME}\" to take it from the environment)", k);
		json_object_object_add(src, k, json_object_get(x));
	}
	if (strcmp(type, "tarball") == 0 &&
	    (json_object_object_get_ex(src, "revision", NULL) ||
	     json_object_object_get_ex(src, "depth", NULL)))
		return host->error_set(err, FLUE_EINVAL,
		        WS ".source: revision and depth are for git sources");
	return o->source_url ? 0 : vc_nomem(host, err);
}

static int
parse_options(const struct flue_host *host, json_object *obj,
              struct vc_options *o, struct flue_error *err)
{
	int rc;

	if ((rc = check_keys(host, obj, WS, workspace_keys, err)) != 0)
		return rc;
	json_object_object_foreach(obj, key, value) {
		if (strcmp(key, "name") == 0 || strcmp(key, "runtime") == 0 ||
		    strcmp(key, "cwd") == 0) {
			char **dst = key[0] == 'n' ? &o->name :
			             key[0] == 'r' ? &o->runtime : &o->cwd;

			if (!json_object_is_type(value, json_type_string) ||
			    json_object_get_string_len(value) == 0)
				return bad(host, err, key, "a non-empty string");
			free(*dst);
			*dst = strdup(json_object_get_string(value));
			if (*dst == NULL)
				return vc_nomem(host, err);
		} else if (strcmp(key, "vcpus") == 0) {
			int n = json_object_get_int(value);

			if (!json_object_is_type(value, json_type_int) ||
			    !(n == 1 || (n >= 2 && n <= 8 && n % 2 == 0)))
				return host->error_set(err, FLUE_EINVAL,
				        WS ".vcpus: %s is not 1 or an even number up "
				        "to 8", json_object_get_string(value));
			o->vcpus = n;
		} else if (strcmp(key, "timeout") == 0 ||
		           strcmp(key, "snapshot_expiration") == 0) {
			int64_t ms;

			if (vc_duration_ms(value, &ms) != 0)
				return bad(host, err, key, "a duration such as \"30m\" "
				           "or a number of milliseconds");
			if (key[0] == 't')
				o->timeout_ms = ms;
			else
				o->snapshot_expiration_ms = ms;
		} else if (strcmp(key, "ports") == 0) {
			if (!json_object_is_type(value, json_type_array))
				return bad(host, err, key, "a list of port numbers");
			if (json_object_array_length(value) > 15)
				return host->error_set(err, FLUE_EINVAL,
				        WS ".ports: at most 15 ports, found %zu",
				        json_object_array_length(value));
			for (size_t i = 0; i < json_object_array_length(value);
			     i++) {
				json_object *p = json_object_array_get_idx(value, i);
				int n = json_object_get_int(p);

				if (!json_object_is_type(p, json_type_int) || n < 1 ||
				    n > 65535)
					return host->error_set(err, FLUE_EINVAL,
					        WS ".ports[%zu]: expected a port number "
					        "from 1 to 65535", i);
			}
			json_object_put(o->ports);
			o->ports = json_object_get(value);
		} else if (strcmp(key, "network") == 0) {
			json_object_put(o->network);
			o->network = NULL;
			if ((rc = parse_network(host, value, &o->network, err)))
				return rc;
		} else if (strcmp(key, "source") == 0) {
			json_object_put(o->source);
			o->source = NULL;
			free(o->source_url);
			free(o->source_revision);
			o->source_url = o->source_revision = NULL;
			if ((rc = parse_source(host, value, o, err)) < 0)
				return rc;
		} else if (strcmp(key, "env") == 0 || strcmp(key, "tags") == 0) {
			json_object **dst = key[0] == 'e' ? &o->env : &o->tags;
			json_object *map = NULL;

			if ((rc = string_map(host, value, key,
			                     key[0] == 't' ? 5 : 0, &map, err)))
				return rc;
			json_object_put(*dst);
			*dst = map;
		} else if (strcmp(key, "setup") == 0) {
			json_object_put(o->setup);
			o->setup = NULL;
			if ((rc = string_list(host, value, key,
			                      "a command or a list of commands",
			                      &o->setup, err)))
				return rc;
		} else if (strcmp(key, "sudo") == 0 || strcmp(key, "keep") == 0) {
			if (!json_object_is_type(value, json_type_boolean))
				return bad(host, err, key, "true or false");
			if (key[0] == 's')
				o->sudo = json_object_get_boolean(value);
			else
				o->keep = json_object_get_boolean(value);
		} else if (strcmp(key, "snapshot") == 0) {
			const char *s = json_object_get_string(value);

			if (json_object_is_type(value, json_type_boolean))
				o->snapshot_reuse = json_object_get_boolean(value);
			else if (json_object_is_type(value, json_type_string) &&
			         (strcmp(s, "reuse") == 0 || strcmp(s, "off") == 0))
				o->snapshot_reuse = s[0] == 'r';
			else
				return bad(host, err, key, "reuse or off");
		}
	}
	return 0;
}

int
vc_options_parse(const struct flue_host *host, const struct vc_config *config,
                 const char *json, struct vc_options *out,
                 struct flue_error *err)
{
	json_object *obj = json_tokener_parse(json ? json : "{}");
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->ports = json_object_new_array();
	out->env = json_object_new_object();
	out->tags = json_object_new_object();
	out->runtime = strdup("node24");
	out->timeout_ms = 30 * 60 * 1000;
	out->snapshot_expiration_ms = -1;
	if (out->ports == NULL || out->env == NULL || out->tags == NULL ||
	    out->runtime == NULL)
		rc = vc_nomem(host, err);
	else if (obj == NULL || !json_object_is_type(obj, json_type_object))
		rc = host->error_set(err, FLUE_EINVAL,
		                     WS ": expected a mapping of options");
	if (rc == 0 && config->defaults != NULL)
		rc = parse_options(host, config->defaults, out, err);
	if (rc == 0)
		rc = parse_options(host, obj, out, err);
	if (rc == 0 && out->runtime != NULL) {
		int known = 0;

		for (int i = 0; runtimes[i] != NULL; i++)
			known |= strcmp(out->runtime, runtimes[i]) == 0;
		if (!known)
			rc = host->error_set(err, FLUE_EINVAL,
			        WS ".runtime: '%s' is not a Vercel Sandbox runtime "
			        "(node26, node24, node22 or python3.13)",
			        out->runtime);
	}
	if (rc == 0 && out->snapshot_reuse && out->source_url == NULL &&
	    out->setup == NULL)
		rc = host->error_set(err, FLUE_EINVAL,
		        WS ".snapshot: reuse needs a source or setup commands to "
		        "snapshot");
	json_object_put(obj);
	if (rc != 0)
		vc_options_clear(out);
	return rc;
}

void
vc_options_clear(struct vc_options *o)
{
	free(o->name);
	free(o->runtime);
	free(o->cwd);
	free(o->source_url);
	free(o->source_revision);
	json_object_put(o->ports);
	json_object_put(o->network);
	json_object_put(o->source);
	json_object_put(o->env);
	json_object_put(o->tags);
	json_object_put(o->setup);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

static const char *
env_value(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
vc_auth_resolve(const struct flue_host *host, const struct vc_config *config,
                struct vc_auth *out, struct flue_error *err)
{
	const char *token = config->token ? config->token :
	                    env_value("VERCEL_TOKEN");
	const char *team = config->team_id ? config->team_id :
	                   env_value("VERCEL_TEAM_ID");
	const char *project = config->project_id ? config->project_id :
	                      env_value("VERCEL_PROJECT_ID");
	const char *oidc = env_value("VERCEL_OIDC_TOKEN");
	const char *url = config->api_url ? config->api_url :
	                  env_value("FLUE_VERCEL_API_URL");
	json_object *claims, *v;
	int rc;

	memset(out, 0, sizeof(*out));
	/* The address too is read at each open, so an --env file can set
	 * FLUE_VERCEL_API_URL (tests, proxies). */
	out->api_url = strdup(url ? url : VC_DEFAULT_API);
	if (out->api_url == NULL)
		return vc_nomem(host, err);
	if ((rc = clean_api_url(host, out->api_url, config->api_url ?
	                        VC_WHERE ".api_url" : "FLUE_VERCEL_API_URL",
	                        err)) != 0) {
		vc_auth_clear(out);
		return rc;
	}
	if (token != NULL) {
		if (team == NULL || project == NULL) {
			vc_auth_clear(out);
			return host->error_set(err, FLUE_EAUTH,
			        "vercel: an access token needs a team id and a project "
			        "id too: set VERCEL_TEAM_ID and VERCEL_PROJECT_ID (or "
			        "%s.team_id and project_id)", VC_WHERE);
		}
		out->token = strdup(token);
		out->team_id = strdup(team);
		out->project_id = strdup(project);
		out->kind = "access token";
	} else if (oidc != NULL) {
		const char *owner = NULL, *proj = NULL;
		int64_t exp = 0;

		claims = plugin_jwt_claims(oidc);
		if (claims == NULL) {
			vc_auth_clear(out);
			return host->error_set(err, FLUE_EAUTH,
			        "vercel: VERCEL_OIDC_TOKEN is not a JWT; run `vercel "
			        "env pull` to get a fresh one");
		}
		if (json_object_object_get_ex(claims, "owner_id", &v))
			owner = json_object_get_string(v);
		if (json_object_object_get_ex(claims, "project_id", &v))
			proj = json_object_get_string(v);
		if (json_object_object_get_ex(claims, "exp", &v))
			exp = json_object_get_int64(v);
		if (owner == NULL || proj == NULL) {
			json_object_put(claims);
			vc_auth_clear(out);
			return host->error_set(err, FLUE_EAUTH,
			        "vercel: VERCEL_OIDC_TOKEN has no owner_id or "
			        "project_id claim; run `vercel link` and `vercel env "
			        "pull` in the project");
		}
		if (exp != 0 && exp <= (int64_t)time(NULL)) {
			char when[64];
			time_t t = (time_t)exp;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
			json_object_put(claims);
			vc_auth_clear(out);
			return host->error_set(err, FLUE_EAUTH,
			        "vercel: VERCEL_OIDC_TOKEN expired at %s; run `vercel "
			        "env pull` for a new one (local tokens last 12 hours)",
			        when);
		}
		out->token = strdup(oidc);
		out->team_id = strdup(team ? team : owner);
		out->project_id = strdup(project ? project : proj);
		out->kind = "OIDC token";
		json_object_put(claims);
	} else {
		vc_auth_clear(out);
		return host->error_set(err, FLUE_EAUTH,
		        "vercel: no credentials: set VERCEL_OIDC_TOKEN (`vercel "
		        "env pull` writes it to .env.local; pass --env .env.local) "
		        "or VERCEL_TOKEN with VERCEL_TEAM_ID and VERCEL_PROJECT_ID");
	}
	if (out->token == NULL || out->team_id == NULL ||
	    out->project_id == NULL) {
		vc_auth_clear(out);
		return vc_nomem(host, err);
	}
	return 0;
}

void
vc_auth_clear(struct vc_auth *a)
{
	free(a->token);
	free(a->team_id);
	free(a->project_id);
	free(a->api_url);
	memset(a, 0, sizeof(*a));
}

int64_t
vc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
vc_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
vc_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}
