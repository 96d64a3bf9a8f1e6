/* revert.c: orphans: revert, handed to each module's revert operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "agent.h"

struct pass {
	struct cg_orphans *o;   /* borrowed */
	const struct cg_policy *p; /* borrowed */
	const struct cg_state *st; /* borrowed: the ledger */
	struct cg_revert *rv;   /* owned: one per orphan */
	bool *decided;          /* owned: per orphan */
	struct cg_index ids;    /* orphan id -> index */
};

/* The pass is the engine's while it runs: ctx->agent (free after a run). */
static const struct pass *pass_of(const struct cg_ctx *ctx)
{
	return ctx->agent;
}

static const struct cg_revert *reverted_cb(const struct cg_ctx *ctx,
					   const char *id)
{
	const struct pass *ps = pass_of(ctx);
	size_t i;

	if (!ps || !cg_index_get(&ps->ids, id, &i) || !ps->decided[i])
		return NULL;
	return &ps->rv[i];
}

static bool declares_cb(const struct cg_ctx *ctx, const char *id)
{
	const struct pass *ps = pass_of(ctx);
	size_t i;

	return ps && ps->p && cg_index_get(&ps->p->ids, id, &i);
}

static const char *ledger_cb(const struct cg_ctx *ctx, const char *id,
			     const char *key)
{
	const struct pass *ps = pass_of(ctx);

	return ps ? cg_state_get(ps->st, id, key) : NULL;
}

static const struct cg_module *module_of(const char *id, size_t *index)
{
	const char *colon = strchr(id, ':');
	size_t i;

	for (i = 0; colon && cg_modules[i]; i++) {
		if (strlen(cg_modules[i]->type) == (size_t)(colon - id) &&
		    strncmp(cg_modules[i]->type, id, (size_t)(colon - id)) ==
			    0) {
			*index = i;
			return cg_modules[i];
		}
	}
	return NULL;
}

uint32_t cg_revert_types(const struct cg_orphans *o)
{
	uint32_t bits = 0;
	size_t i, k;

	for (i = 0; o && i < o->n; i++) {
		const struct cg_module *m = module_of(o->v[i].id, &k);

		if (m && m->revert && k < 32)
			bits |= 1u << k;
	}
	return bits;
}

/*
 * Deepest names first, so that what is inside a directory is reverted
 * before the directory; for the same name, the later module in the
 * table first (a service before its package, keys before their user).
 */
static int cmp_order(const void *a, const void *b, void *orphans)
{
	const struct cg_orphans *o = orphans;
	const char *x = o->v[*(const size_t *)a].id;
	const char *y = o->v[*(const size_t *)b].id;
	const char *nx = strchr(x, ':'), *ny = strchr(y, ':');
	size_t kx = 0, ky = 0;
	int c;

	c = strcmp(nx ? nx + 1 : x, ny ? ny + 1 : y);
	if (c)
		return -c;
	module_of(x, &kx);
	module_of(y, &ky);
	return kx < ky ? 1 : kx > ky ? -1 : strcmp(x, y);
}

static void set_err(struct cg_orphan *x, const struct cg_error *err)
{
	if (!x->err)
		x->err = cg_xmalloc(sizeof(*x->err));
	*x->err = *err;
	snprintf(x->err->resource, sizeof(x->err->resource), "%s", x->id);
}

/* Hand v (n orphans of m, in order) to m's revert. */
static void revert_group(struct cg_ctx *ctx, const struct cg_module *m,
			 struct cg_revert *const *v, size_t n, bool dry_run)
{
	struct cg_error err;
	size_t i;

	if (!m || !m->revert) {
		for (i = 0; i < n; i++) {
			v[i]->verdict = CG_REVERT_KEEP;
			snprintf(v[i]->what, sizeof(v[i]->what),
				 "keep: %s resources cannot be reverted; "
				 "release it with congruent forget %s",
				 m ? m->type : "unknown", v[i]->id);
		}
		return;
	}
	cg_error_clear(&err);
	if (m->revert(ctx, v, n, !dry_run, &err) < 0) {
		for (i = 0; i < n; i++) {
			v[i]->verdict = CG_REVERT_CHANGE;
			v[i]->failed = true;
			v[i]->err = err;
		}
	}
}

/* Drop what left the host's ledger (forgotten set), in one write. */
static void drop(struct cg_state *st, struct cg_orphans *o,
		 const size_t *idx, size_t n, struct cg_counts *c)
{
	const char **ids = cg_xcalloc(n + 1, sizeof(*ids));
	struct cg_error err;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		struct cg_orphan *x = &o->v[idx[i]];

		if (x->status == CG_STATUS_FAILED || !x->forgotten)
			continue;
		ids[k++] = x->id;
	}
	cg_error_clear(&err);
	if (k && cg_ledger_forget(st, ids, k, &err) < 0) {
		cg_error_prefix(&err, "reverted, but the ledger cannot be "
				      "written");
		cg_error_hint(&err, "the next run finds it as it was before "
				    "and drops it then");
		for (i = 0; i < n; i++) {
			struct cg_orphan *x = &o->v[idx[i]];

			if (x->forgotten && x->status != CG_STATUS_FAILED) {
				x->forgotten = false;
				x->status = CG_STATUS_FAILED;
				set_err(x, &err);
				c->failed++;
			}
		}
	}
	free(ids);
}

static void outcome(struct cg_orphan *x, const struct cg_revert *rv,
		    bool dry_run, struct cg_counts *c)
{
	free(x->revert);
	x->revert = cg_xstrdup(rv->what[0] ? rv->what : "?");
	switch (rv->verdict) {
	case CG_REVERT_KEEP:
		x->status = CG_STATUS_OK;
		break;
	case CG_REVERT_FORGET:
		x->status = CG_STATUS_OK;
		x->forgotten = true;
		break;
	case CG_REVERT_CHANGE:
		if (rv->failed) {
			x->status = CG_STATUS_FAILED;
			set_err(x, &rv->err);
			c->failed++;
		} else if (dry_run) {
			x->status = CG_STATUS_DRIFTED;
			c->drifted++;
		} else {
			x->status = CG_STATUS_REPAIRED;
			x->forgotten = true;
			c->repaired++;
		}
		break;
	}
	/* In the log as each is done, like a resource's outcome. */
	if (dry_run)
		return;
	if (x->status == CG_STATUS_REPAIRED)
		cg_log(LOG_NOTICE, "reverted orphan %s: %s", x->id, x->revert);
	else if (x->status == CG_STATUS_FAILED)
		cg_log(LOG_ERR, "failed to revert orphan %s (%s): %s%s%s", x->id,
		       x->revert, x->err->msg, x->err->hint[0] ? "; hint: " : "",
		       x->err->hint);
}

/*
 * Hand the orphans list[0..n) (indexes into o, in revert order) to their
 * modules: each run of one module's orphans in one call, a batching
 * module's all in the first. Returns how many were not kept.
 */
static size_t pass_over(struct cg_ctx *ctx, struct cg_state *st,
			struct pass *ps, const size_t *list, size_t n,
			bool dry_run, struct cg_counts *c)
{
	struct cg_orphans *o = ps->o;
	struct cg_revert **v = cg_xcalloc(n + 1, sizeof(*v));
	size_t *idx = cg_xcalloc(n + 1, sizeof(*idx));
	bool *done = cg_xcalloc(n + 1, sizeof(*done));
	size_t at, j, k, km, kx, moved = 0;

	for (at = 0; at < n; at++) {
		const struct cg_module *m;

		if (done[at])
			continue;
		m = module_of(o->v[list[at]].id, &km);
		for (k = 0, j = at; j < n; j++) {
			struct cg_revert *rv;

			if (done[j])
				continue;
			if (module_of(o->v[list[j]].id, &kx) != m) {
				if (m && (m->flags & CG_MODULE_BATCH))
					continue;
				break;
			}
			done[j] = true;
			rv = &ps->rv[list[j]];
			rv->verdict = CG_REVERT_KEEP;
			rv->removes = rv->failed = false;
			rv->what[0] = '\0';
			cg_error_clear(&rv->err);
			idx[k] = list[j];
			v[k++] = rv;
		}
		revert_group(ctx, m, v, k, dry_run);
		for (j = 0; j < k; j++) {
			ps->decided[idx[j]] = true;
			moved += ps->rv[idx[j]].verdict != CG_REVERT_KEEP;
			outcome(&o->v[idx[j]], &ps->rv[idx[j]], dry_run, c);
		}
		/* Each module's reverts leave the ledger once they are done. */
		if (!dry_run && st)
			drop(st, o, idx, k, c);
	}
	free(v);
	free(idx);
	free(done);
	return moved;
}

void cg_revert_orphans(struct cg_ctx *ctx, struct cg_state *st,
		       const struct cg_policy *p, struct cg_orphans *o,
		       bool dry_run, struct cg_counts *c)
{
	struct pass ps = { 0 };
	size_t *order, *again, i, n, k, round;
	void *saved;

	if (!o->n)
		return;
	ps.o = o;
	ps.p = p;
	ps.st = st;
	ps.rv = cg_xcalloc(o->n, sizeof(*ps.rv));
	ps.decided = cg_xcalloc(o->n, sizeof(*ps.decided));
	order = cg_xcalloc(o->n, sizeof(*order));
	again = cg_xcalloc(o->n, sizeof(*again));
	for (i = 0; i < o->n; i++) {
		const char *colon = strchr(o->v[i].id, ':');

		order[i] = i;
		ps.rv[i].id = o->v[i].id;
		ps.rv[i].name = colon ? colon + 1 : o->v[i].id;
		ps.rv[i].before = o->v[i].before;
		ps.rv[i].since = o->v[i].since;
		cg_index_put(&ps.ids, o->v[i].id, i, NULL);
	}
	qsort_r(order, o->n, sizeof(*order), cmp_order, o);
	saved = ctx->agent;
	ctx->agent = &ps;
	ctx->reverted = reverted_cb;
	ctx->declares = declares_cb;
	ctx->ledger = ledger_cb;
	pass_over(ctx, st, &ps, order, o->n, dry_run, c);
	/*
	 * What was kept because of another orphan (a group that is still
	 * the primary group of a user reverted after it) is offered again,
	 * now that every revert is decided, until nothing more moves.
	 */
	for (round = 0; round < o->n; round++) {
		for (n = k = 0; k < o->n; k++) {
			size_t km;
			const struct cg_module *m =
				module_of(o->v[order[k]].id, &km);

			if (m && m->revert &&
			    ps.rv[order[k]].verdict == CG_REVERT_KEEP)
				again[n++] = order[k];
		}
		if (!n || !pass_over(ctx, st, &ps, again, n, dry_run, c))
			break;
	}
	ctx->reverted = NULL;
	ctx->declares = NULL;
	ctx->ledger = NULL;
	ctx->agent = saved;
	cg_index_release(&ps.ids);
	free(ps.rv);
	free(ps.decided);
	free(order);
	free(again);
}
