/* The services flue lends plugins.  Memory crossing the boundary uses
 * plain malloc/free, so flue_bytes_free() and friends free it. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cancel.h"
#include "common.h"
#include "host.h"

static void *
host_alloc(size_t size)
{
	return malloc(size == 0 ? 1 : size);
}

static void *
host_realloc(void *ptr, size_t size)
{
	return realloc(ptr, size == 0 ? 1 : size);
}

static void
host_free(void *ptr)
{
	free(ptr);
}

enum flue_log_level
flue_log_threshold(void)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	const char *value = getenv("FLUE_LOG");

	if (value != NULL)
		for (size_t i = 0; i < FLUE_ARRAY_LEN(names); i++)
			if (strcasecmp(value, names[i]) == 0)
				return (enum flue_log_level)i;
	return FLUE_LOG_WARN;
}

static void
host_log(const struct flue_host *host, enum flue_log_level level,
         const char *fmt, ...)
{
	static const char *labels[] = {"error", "warning", "info", "debug"};
	char line[2048];
	va_list ap;

	if (level > flue_log_threshold())
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "flue: %s: plugin %s: %s\n",
	        labels[(unsigned)level < 4 ? level : 3],
	        host->plugin_name ? host->plugin_name : "?", line);
}

static int
host_error_set(struct flue_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	flue_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

static int
host_cancel_is_set(const struct flue_cancel *cancel)
{
	return flue_cancel_is_set(cancel);
}

static int
host_cancel_fd(const struct flue_cancel *cancel)
{
	return flue_cancel_fd(cancel);
}

static const void *
host_interface(const struct flue_host *host, const char *name,
               uint32_t *out_version)
{
	const struct flue_host_paths *paths = host ? host->context : NULL;

	if (out_version != NULL)
		*out_version = 0;
	if (name == NULL)
		return NULL;
	/* context is the loader's paths when the harness has a project. */
	if (strcmp(name, FLUE_HOST_PATHS) == 0 && paths != NULL &&
	    paths->project_dir != NULL) {
		if (out_version != NULL)
			*out_version = FLUE_HOST_PATHS_VERSION;
		return paths;
	}
	return NULL;
}

void
flue_host_init(struct flue_host *host, const char *plugin_name)
{
	memset(host, 0, sizeof(*host));
	host->abi_major = FLUE_PLUGIN_ABI_MAJOR;
	host->abi_minor = FLUE_PLUGIN_ABI_MINOR;
	host->size = sizeof(*host);
	host->flue_version = PACKAGE_VERSION;
	host->plugin_name = plugin_name;
	host->alloc = host_alloc;
	host->realloc = host_realloc;
	host->free = host_free;
	host->log = host_log;
	host->error_set = host_error_set;
	host->cancel_is_set = host_cancel_is_set;
	host->cancel_fd = host_cancel_fd;
	host->interface = host_interface;
}

FLUE_API void
flue_bytes_free(struct flue_bytes *bytes)
{
	if (bytes == NULL)
		return;
	free(bytes->data);
	bytes->data = NULL;
	bytes->len = 0;
}

FLUE_API void
flue_exec_result_free(struct flue_exec_result *result)
{
	if (result == NULL)
		return;
	flue_bytes_free(&result->stdout_data);
	flue_bytes_free(&result->stderr_data);
}
