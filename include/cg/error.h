/* error.h: how every layer says what went wrong, where, and what to do. */
#ifndef CG_ERROR_H
#define CG_ERROR_H

#include <stdarg.h>

/*
 * Return codes. Functions return 0 or one of these; callers branch on the
 * few *expected* ones (not found, locked) and report everything else.
 */
enum {
	CG_OK = 0,
	CG_ERR = -1,       /* failed; struct cg_error says why */
	CG_ENOTFOUND = -2, /* what was looked up does not exist */
	CG_ELOCKED = -3,   /* somebody else holds the lock */
	CG_ETIMEOUT = -4,  /* a deadline passed */
};

/*
 * Fixed-size so that the error path allocates nothing. Every field is a
 * NUL-terminated string, "" when unknown.
 */
struct cg_error {
	char where[256];    /* "roles/web.yaml:12", a file:line */
	char resource[256]; /* "file:/etc/motd" */
	char msg[1024];     /* what went wrong */
	char hint[512];     /* what the operator should do */
};

/* Empty all fields. Accepts NULL. */
void cg_error_clear(struct cg_error *err);

/*
 * Clear err, set msg from fmt, and return code, so that a failing function
 * can end with `return cg_error_set(err, CG_ERR, "...")`. Accepts NULL err.
 */
int cg_error_set(struct cg_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As cg_error_set, with ": strerror(errno)" appended (errno is read first). */
int cg_error_sys(struct cg_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set the hint (replacing any). Accepts NULL err. */
void cg_error_hint(struct cg_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Set where and resource only if not yet set: the innermost layer knows
 * best, outer layers fill in what it could not know.
 */
void cg_error_where(struct cg_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cg_error_resource(struct cg_error *err, const char *id);

/* Prefix msg with "fmt: " (for context added by a caller). */
void cg_error_prefix(struct cg_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
