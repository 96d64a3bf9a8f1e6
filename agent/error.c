/* error.c: filling struct cg_error without allocating. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cg/error.h"

void cg_error_clear(struct cg_error *err)
{
	if (!err)
		return;
	err->where[0] = '\0';
	err->resource[0] = '\0';
	err->msg[0] = '\0';
	err->hint[0] = '\0';
}

int cg_error_set(struct cg_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	cg_error_clear(err);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int cg_error_sys(struct cg_error *err, int code, const char *fmt, ...)
{
	int saved = errno;
	size_t len;
	va_list ap;

	if (!err)
		return code;
	cg_error_clear(err);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
		 strerror(saved));
	errno = saved;
	return code;
}

void cg_error_hint(struct cg_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void cg_error_where(struct cg_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->where[0])
		return;
	va_start(ap, fmt);
	vsnprintf(err->where, sizeof(err->where), fmt, ap);
	va_end(ap);
}

void cg_error_resource(struct cg_error *err, const char *id)
{
	if (!err || err->resource[0] || !id)
		return;
	snprintf(err->resource, sizeof(err->resource), "%s", id);
}

void cg_error_prefix(struct cg_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	size_t len;
	va_list ap;

	if (!err)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", old);
}
