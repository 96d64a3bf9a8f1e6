/* template.h: {{ name }} substitution in templates. */
#ifndef CG_TEMPLATE_H
#define CG_TEMPLATE_H

#include <stddef.h>

#include "cg/error.h"
#include "cg/util.h"

/*
 * The value of a name, or NULL when unknown. names (NULL-terminated, may
 * be NULL) lists the known names, used to suggest a fix for a typo.
 */
struct cg_template_vars {
	const char *(*lookup)(void *cookie, const char *name);
	const char *const *(*names)(void *cookie);
	void *cookie;
};

/* What a template may render to: a file's content is held in memory. */
#define CG_TEMPLATE_OUT_MAX (64u << 20)

/*
 * Render text into out. The syntax is "{{ name }}" (spaces optional; a
 * name is letters, digits, '_', '-', '.'), and "{{ 'literal' }}" for text
 * that would otherwise look like a reference (such as "{{"). Anything else
 * after "{{" is an error, as is an unknown name (CG_ENOTFOUND), naming
 * file:line and the closest known name. Rendering more than
 * CG_TEMPLATE_OUT_MAX bytes is an error at the line that went past it.
 */
int cg_template_render(const char *text, size_t len, const char *file,
		       const struct cg_template_vars *vars, struct cg_buf *out,
		       struct cg_error *err);

#endif
