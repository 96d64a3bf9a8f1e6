/* template.h: a bounded Jinja subset over YAML vars, for templates. */
#ifndef CG_TEMPLATE_H
#define CG_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/error.h"
#include "cg/util.h"

struct cg_node;

/*
 * Where names come from. lookup_node (may be NULL) gives a var as a YAML
 * node (a string, number, boolean, list or map) and is asked first;
 * lookup gives a string (a fact), or NULL when the name is unknown. names
 * (NULL-terminated, may be NULL) lists the known names, used to suggest a
 * fix for a typo.
 *
 * placeholders is for `congruent check`, which renders for no particular
 * host: the strings lookup returns then stand for any value, so an
 * {% if %} that depends on one renders every branch, and a comparison
 * with one never fails.
 */
struct cg_template_vars {
	const char *(*lookup)(void *cookie, const char *name);
	const char *const *(*names)(void *cookie);
	void *cookie;
	const struct cg_node *(*lookup_node)(void *cookie, const char *name);
	bool placeholders;
	/*
	 * Optional: the plaintext of a var's scalar that is a secret
	 * (cg_node_is_secret), decrypted by the caller, who keeps it (and
	 * so knows that this rendering used a secret). A negative return
	 * fails the rendering with its err, once the template was rendered.
	 * NULL: a secret is its own text (check, which decrypts nothing).
	 */
	int (*reveal)(void *cookie, const struct cg_node *n, const char **plain,
		      size_t *len, struct cg_error *err);
	/*
	 * Optional: a name that only lookup answers (a fact, not a var)
	 * was used and is empty (a fact the host lacks, a custom fact it
	 * does not define): where is "templates/motd.j2:3". The rendering
	 * goes on with "". Not called with placeholders.
	 */
	void (*empty_fact)(void *cookie, const char *name, const char *where);
};

/* What `congruent secret encrypt` prints starts with this. */
#define CG_TEMPLATE_SECRET_PREFIX "cg-secret:v1:"

/* Is n a scalar whose text is a secret? */
bool cg_node_is_secret(const struct cg_node *n);

/* What a template may render to: a file's content is held in memory. */
#define CG_TEMPLATE_OUT_MAX (64u << 20)
/* Loop iterations in one rendering, all loops together. */
#define CG_TEMPLATE_MAX_ITER 1000000ul
/* Nesting of {% if %} and {% for %} blocks, and of parentheses. */
#define CG_TEMPLATE_MAX_DEPTH 32

/*
 * Render text into out: a Jinja subset (README.md, "Templates"):
 * {{ expr }} with dotted and indexed access, literals and filters,
 * {% if %}/{% elif %}/{% else %}/{% endif %}, {% for %}/{% endfor %},
 * {# comments #}, whitespace control with '-', and trim_blocks on (the
 * first newline after a block tag is dropped, as Ansible does). The whole
 * template is parsed before anything is rendered, so anything outside the
 * subset is an error whichever branch a host takes. Errors name
 * file:line:column in err->where; an undefined name is CG_ENOTFOUND with
 * the closest known name as a hint. Rendering more than
 * CG_TEMPLATE_OUT_MAX bytes, or more loop iterations than
 * CG_TEMPLATE_MAX_ITER, is an error at the place that went past it.
 */
int cg_template_render(const char *text, size_t len, const char *file,
		       const struct cg_template_vars *vars, struct cg_buf *out,
		       struct cg_error *err);

#endif
