/* resource.c: resources, their changes and outcomes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg/module.h"
#include "cg/node.h"
#include "cg/resource.h"
#include "cg/util.h"

/*
 * Room for element n of an array whose capacity is implied by its length:
 * 4 up to 4 elements, then the next power of two.
 */
static void *grow(void *v, uint32_t n, size_t size)
{
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return v;
	return cg_xrealloc(v, (n ? 2 * (size_t)n : 4) * size);
}

struct cg_change_item *cg_change_add(struct cg_change *c, const char *field,
				     const char *from, const char *to)
{
	struct cg_change_item *it;

	c->items = grow(c->items, c->n, sizeof(*c->items));
	it = &c->items[c->n++];
	it->field = field;
	it->from = from ? cg_xstrdup(from) : NULL;
	it->to = to ? cg_xstrdup(to) : NULL;
	it->detail = NULL;
	it->secret = false;
	return it;
}

void cg_change_secret(struct cg_change_item *it)
{
	it->secret = true;
	if (it->from) {
		free(it->from);
		it->from = cg_xstrdup("(secret)");
	}
	if (it->to) {
		free(it->to);
		it->to = cg_xstrdup("(secret)");
	}
	free(it->detail);
	it->detail = NULL;
}

struct cg_unmanaged *cg_change_unmanaged(struct cg_change *c,
					 const char *kind, const char *item,
					 const char *owner)
{
	struct cg_unmanaged *u;

	c->unmanaged = grow(c->unmanaged, c->nunmanaged,
			    sizeof(*c->unmanaged));
	u = &c->unmanaged[c->nunmanaged++];
	u->kind = kind;
	u->item = cg_xstrdup(item);
	u->owner = owner ? cg_xstrdup(owner) : NULL;
	u->pos = 0;
	return u;
}

void cg_change_warn(struct cg_change *c, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		abort();
	c->warnings = grow(c->warnings, c->nwarnings, sizeof(*c->warnings));
	c->warnings[c->nwarnings++] = s;
}

void cg_change_note(struct cg_change *c, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(c->note);
	c->note = s;
}

void cg_change_release(struct cg_change *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->items[i].from);
		free(c->items[i].to);
		free(c->items[i].detail);
	}
	free(c->items);
	free(c->note);
	for (i = 0; i < c->nunmanaged; i++) {
		free(c->unmanaged[i].item);
		free(c->unmanaged[i].owner);
	}
	free(c->unmanaged);
	free(c->before);
	for (i = 0; i < c->nwarnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	memset(c, 0, sizeof(*c));
}

void cg_resource_order_after(struct cg_resource *r, const char *id)
{
	r->orders = cg_xrealloc(r->orders, (r->norders + 1) * sizeof(*r->orders));
	r->orders[r->norders++] = cg_xstrdup(id);
}

void cg_resource_order_after_if(struct cg_resource *r, const char *id)
{
	/* '?' cannot start an id: it marks the ordering as optional. */
	r->orders = cg_xrealloc(r->orders, (r->norders + 1) * sizeof(*r->orders));
	r->orders[r->norders++] = cg_xasprintf("?%s", id);
}

void cg_resource_set_id(struct cg_resource *r, const char *type,
			const char *name)
{
	free(r->id);
	r->id = cg_xasprintf("%s:%s", type, name);
	r->name = r->id + strlen(type) + 1;
}

/* Is r->where in r->id's allocation (cg_resource_pack)? */
static bool where_packed(const struct cg_resource *r)
{
	return r->id && r->where == r->id + strlen(r->id) + 1;
}

void cg_resource_pack(struct cg_resource *r)
{
	size_t ni, nw;
	char *s;

	if (!r->id || !r->where || where_packed(r))
		return;
	ni = strlen(r->id) + 1;
	nw = strlen(r->where) + 1;
	s = cg_xmalloc(ni + nw);
	memcpy(s, r->id, ni);
	memcpy(s + ni, r->where, nw);
	r->name = s + (r->name - r->id);
	free(r->id);
	free(r->where);
	r->id = s;
	r->where = s + ni;
}

int cg_resource_fail(struct cg_resource *r, const struct cg_error *err)
{
	if (!r->err)
		r->err = cg_xmalloc(sizeof(*r->err));
	*r->err = *err;
	cg_error_resource(r->err, r->id);
	r->status = CG_STATUS_FAILED;
	return CG_ERR;
}

int cg_resource_failf(struct cg_resource *r, const char *hint,
		      const char *fmt, ...)
{
	struct cg_error e;
	va_list ap;

	cg_error_clear(&e);
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	if (hint)
		snprintf(e.hint, sizeof(e.hint), "%s", hint);
	return cg_resource_fail(r, &e);
}

bool cg_resource_is_failed(const struct cg_resource *r)
{
	return r->status == CG_STATUS_FAILED;
}

void cg_resource_release(struct cg_resource *r)
{
	size_t i;

	if (!r)
		return;
	if (r->mod && r->mod->release)
		r->mod->release(r);
	for (i = 0; i < r->nrequires; i++)
		free(r->requires[i]);
	free(r->requires);
	for (i = 0; i < r->norders; i++)
		free(r->orders[i]);
	free(r->orders);
	free(r->deps);
	if (!where_packed(r))
		free(r->where);
	free(r->id);
	free(r->err);
	cg_change_release(&r->change);
	memset(r, 0, sizeof(*r));
}

const char *cg_status_name(enum cg_status s)
{
	static const char *const names[] = {
		[CG_STATUS_PENDING] = "pending",
		[CG_STATUS_OK] = "ok",
		[CG_STATUS_DRIFTED] = "drifted",
		[CG_STATUS_REPAIRED] = "repaired",
		[CG_STATUS_FAILED] = "failed",
		[CG_STATUS_SKIPPED] = "skipped",
	};

	return names[s];
}

const char *cg_action_name(enum cg_action a)
{
	static const char *const names[] = {
		[CG_ACTION_NONE] = "none",
		[CG_ACTION_CREATE] = "create",
		[CG_ACTION_UPDATE] = "update",
		[CG_ACTION_DELETE] = "delete",
	};

	return names[a];
}

int cg_parse_watch_list(struct cg_resource *r, const struct cg_node *item,
			const char *key, const char *example, char ***out,
			size_t *n_out, struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	const char **v = NULL;
	size_t i, j, count = 0, k = 0;
	char **ids;

	*out = NULL;
	*n_out = 0;
	if (!n)
		return 0;
	if (cg_node_strlist(n, key, &v, &count, err) < 0)
		return CG_ERR;
	ids = cg_xcalloc(count + 1, sizeof(*ids));
	for (i = 0; i < count; i++) {
		const char *colon = strchr(v[i], ':');
		char type[64];

		if (!colon || colon == v[i] || !colon[1] ||
		    (size_t)(colon - v[i]) >= sizeof(type)) {
			cg_error_set(err, CG_ERR, "%s: '%s' is not a resource id",
				     key, v[i]);
			cg_error_hint(err, "write it as TYPE:NAME, like %s",
				      example);
			goto fail;
		}
		memcpy(type, v[i], (size_t)(colon - v[i]));
		type[colon - v[i]] = '\0';
		if (!cg_module_find(type)) {
			cg_error_set(err, CG_ERR,
				     "%s: '%s': unknown resource type '%s'",
				     key, v[i], type);
			goto fail;
		}
		for (j = 0; j < k && strcmp(ids[j], v[i]) != 0; j++)
			;
		if (j < k)
			continue;
		ids[k++] = cg_xstrdup(v[i]);
		/*
		 * Soft: r comes after what it watches, so that it knows
		 * whether that changed; a failure there does not skip r (the
		 * policy loader reports ids that are not declared).
		 */
		cg_resource_order_after(r, v[i]);
	}
	free(v);
	*out = ids;
	*n_out = k;
	return 0;
fail:
	for (j = 0; j < k; j++)
		free(ids[j]);
	free(ids);
	free(v);
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}
