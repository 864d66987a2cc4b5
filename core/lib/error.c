/* Errors: a code plus a one-line message in a caller-owned struct. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


#include "common.h"
#include "error.h"



FLUE_API const char *
flue_version(void)
{
	return PACKAGE_VERSION;
}

FLUE_API const char *
flue_status_name(int code)
{
	switch (code) {
	case FLUE_OK: return "ok";
	case FLUE_ERROR: return "error";
	case FLUE_ENOMEM: return "out_of_memory";
	case FLUE_EINVAL: return "invalid";
	case FLUE_ENOENT: return "not_found";
	case FLUE_EEXIST: return "exists";
	case FLUE_ENOTDIR: return "not_a_directory";
	case FLUE_EISDIR: return "is_a_directory";
	case FLUE_ENOTEMPTY: return "not_empty";
	case FLUE_EACCES: return "permission_denied";
	case FLUE_EIO: return "io_error";
	case FLUE_ETIMEDOUT: return "timed_out";
	case FLUE_ECANCELED: return "cancelled";
	case FLUE_ERETRY: return "retryable";
	case FLUE_ENOTSUP: return "not_supported";
	case FLUE_EBUSY: return "busy";
	case FLUE_EABI: return "abi_mismatch";
	case FLUE_EAUTH: return "auth";
	case FLUE_ECONTEXT: return "context_overflow";
	default: return "unknown";
	}
}

FLUE_API int
flue_error_setv(struct flue_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	/* One line: a stray newline would break log and SSE framing. */
	for (char *p = err->message; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return code;
}

FLUE_API int
flue_error_set(struct flue_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	flue_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

FLUE_API int
flue_error_prefix(struct flue_error *err, const char *fmt, ...)
{
	char prefix[FLUE_ERROR_MESSAGE_MAX];
	char joined[2 * FLUE_ERROR_MESSAGE_MAX + 2];
	size_t len;
	va_list ap;

	if (err == NULL)
		return FLUE_ERROR;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s: %s", prefix, err->message);
	len = strlen(joined);
	if (len >= sizeof(err->message))
		len = sizeof(err->message) - 1;
	memcpy(err->message, joined, len);
	err->message[len] = '\0';
	return err->code;
}

FLUE_API void
flue_error_clear(struct flue_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->message[0] = '\0';
}

int
flue_status_from_errno(int errnum)
{
	switch (errnum) {
	case 0: return FLUE_OK;
	case ENOMEM: return FLUE_ENOMEM;
	case EINVAL: return FLUE_EINVAL;
	case ENOENT: return FLUE_ENOENT;
	case EEXIST: return FLUE_EEXIST;
	case ENOTDIR: return FLUE_ENOTDIR;
	case EISDIR: return FLUE_EISDIR;
	case ENOTEMPTY: return FLUE_ENOTEMPTY;
	case EACCES: case EPERM: return FLUE_EACCES;
	case ETIMEDOUT: return FLUE_ETIMEDOUT;
	case ECANCELED: return FLUE_ECANCELED;
	case ENOTSUP: return FLUE_ENOTSUP;
	case EBUSY: return FLUE_EBUSY;
	case EIO: return FLUE_EIO;
	default: return FLUE_ERROR;
	}
}
