/* engine.c: observe in batches, diff, apply in order, verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "agent.h"
#include "cg/exec.h"
#include "cg/hash.h"

/* Per module: its resources in order, and when it was last observed. */
struct batch {
	const struct cg_module *mod;
	struct cg_resource **res;
	size_t n, cap;
	size_t next;               /* res[next..] not observed yet */
	unsigned long observed_at; /* the engine's change counter then */
};

volatile sig_atomic_t cg_stop_signal;

struct cg_engine {
	struct cg_policy *p;
	bool *observed;        /* per resource (index in p->res) */
	size_t *pos;           /* per resource: its place in p->order */
	bool *finished;        /* per resource: its digest is taken */
	struct cg_ctx *ctx;
	struct batch *batches;
	size_t nbatches;
	unsigned long changes; /* resources repaired so far */
};

static struct batch *batch_of(struct cg_engine *e, const struct cg_module *m)
{
	size_t i;

	for (i = 0; i < e->nbatches; i++)
		if (e->batches[i].mod == m)
			return &e->batches[i];
	return NULL;
}

static void fail_all(struct cg_resource **res, size_t n,
		     const struct cg_error *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (res[i]->status != CG_STATUS_FAILED)
			cg_resource_fail(res[i], err);
}

/* Tell the live output what is about to take time (or that it is done). */
static void working(struct cg_engine *e, struct cg_resource *const *res,
		    size_t n, const char *what)
{
	if (e->ctx->working)
		e->ctx->working(e->ctx, n ? res[0] : NULL, n, what);
}

static void observe(struct cg_engine *e, const struct cg_module *m,
		    struct cg_resource **res, size_t n)
{
	struct cg_error err;

	cg_error_clear(&err);
	working(e, res, n, "observing");
	if (m->observe(e->ctx, res, n, &err) < 0)
		fail_all(res, n, &err);
	working(e, NULL, 0, NULL);
}

/* Observe r's module's next window (r first in it) if r is not observed. */
static void observe_upto(struct cg_engine *e, struct cg_resource *r)
{
	struct batch *b;
	size_t n, i;

	if (e->observed[r - e->p->res])
		return;
	b = batch_of(e, r->mod);
	n = b->n - b->next;
	if (r->mod->observe_window && n > r->mod->observe_window)
		n = r->mod->observe_window;
	observe(e, r->mod, b->res + b->next, n);
	for (i = 0; i < n; i++)
		e->observed[b->res[b->next + i] - e->p->res] = true;
	b->next += n;
	b->observed_at = e->changes;
}

/*
 * r's outcome is final: tell the live output (a run), digest what was
 * observed, then let it go. Once only: a resource a batch found in order is finished
 * there, and the loop over the order that comes to it later must not
 * log it again or take its digest from an observation already let go.
 */
static void finish(struct cg_engine *e, struct cg_resource *r)
{
	if (e->finished[r - e->p->res])
		return;
	e->finished[r - e->p->res] = true;
	if (e->ctx->final)
		e->ctx->final(e->ctx, r);
	if (r->mod->fingerprint && r->observed &&
	    r->status != CG_STATUS_FAILED && r->status != CG_STATUS_SKIPPED) {
		r->mod->fingerprint(r, r->digest);
	} else {
		struct cg_buf b = { 0 };

		cg_buf_addf(&b, "%s\n%s", r->id, cg_status_name(r->status));
		cg_hash128(b.data, b.len, r->digest);
		cg_buf_release(&b);
	}
	if (r->mod->forget)
		r->mod->forget(r);
}

/* Mark r skipped, saying why (msg). */
static void skip(struct cg_resource *r, const char *msg)
{
	cg_change_release(&r->change);
	if (!r->err)
		r->err = cg_xmalloc(sizeof(*r->err));
	cg_error_clear(r->err);
	snprintf(r->err->msg, sizeof(r->err->msg), "%s", msg);
	snprintf(r->err->where, sizeof(r->err->where), "%s", r->where);
	snprintf(r->err->resource, sizeof(r->err->resource), "%s", r->id);
	r->status = CG_STATUS_SKIPPED;
}

/* The run was told to stop before r's turn. */
static void stopped(struct cg_engine *e, struct cg_resource *r)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "skipped: the run was stopped (%s) "
				   "before its turn", strsignal(cg_stop_signal));
	skip(r, msg);
	finish(e, r);
}

/* A requirement that failed or was skipped makes r skipped. */
static bool skip_if_blocked(struct cg_engine *e, struct cg_resource *r)
{
	size_t i;

	for (i = 0; i < r->nhard; i++) {
		const struct cg_resource *d = &e->p->res[r->deps[i]];
		char msg[sizeof(r->err->msg)];

		if (d->status != CG_STATUS_FAILED &&
		    d->status != CG_STATUS_SKIPPED)
			continue;
		snprintf(msg, sizeof(msg), "skipped: it requires %s, which %s",
			 d->id,
			 d->status == CG_STATUS_FAILED ? "failed"
						       : "was skipped");
		skip(r, msg);
		return true;
	}
	return false;
}

/* Fill r->change; false if r failed. */
static bool diff(struct cg_engine *e, struct cg_resource *r)
{
	struct cg_error err;

	cg_change_release(&r->change);
	cg_error_clear(&err);
	if (r->mod->diff(e->ctx, r, &err) < 0) {
		cg_error_where(&err, "%s", r->where);
		cg_resource_fail(r, &err);
		return false;
	}
	return true;
}

static bool deps_done(const struct cg_engine *e, const struct cg_resource *r,
		      struct cg_resource **batch, size_t n)
{
	size_t i, j;

	for (i = 0; i < r->ndeps; i++) {
		const struct cg_resource *d = &e->p->res[r->deps[i]];
		bool in_batch = false;

		for (j = 0; j < n; j++)
			if (batch[j] == d)
				in_batch = true;
		if (in_batch)
			continue;
		/* Requirements must have worked; orderings only be done. */
		if (i < r->nhard ? d->status != CG_STATUS_OK &&
					   d->status != CG_STATUS_REPAIRED
				 : d->status == CG_STATUS_PENDING)
			return false;
	}
	return true;
}

/* Does r require, or come after, one of the n resources of v? */
static bool needs_one_of(const struct cg_engine *e, const struct cg_resource *r,
			 struct cg_resource *const *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < r->ndeps; i++)
		for (j = 0; j < n; j++)
			if (&e->p->res[r->deps[i]] == v[j])
				return true;
	return false;
}

/*
 * CG_MODULE_BATCH_RUN: first (in v[0]) and the resources of its module
 * right after it in the order that need a change, up to the first that
 * is of another module, not observed yet, or needs one of the batch.
 */
static size_t gather_run(struct cg_engine *e, struct cg_resource *first,
			 struct cg_resource **v)
{
	size_t n = 1, at;

	for (at = e->pos[first - e->p->res] + 1; at < e->p->n; at++) {
		struct cg_resource *r = &e->p->res[e->p->order[at]];

		if (r->mod != first->mod || !e->observed[r - e->p->res] ||
		    cg_stop_signal)
			break;
		if (r->status != CG_STATUS_PENDING)
			continue;
		if (needs_one_of(e, r, v, n))
			break;
		if (skip_if_blocked(e, r) || !deps_done(e, r, v, 0))
			break;
		if (!diff(e, r))
			continue;
		if (r->change.action == CG_ACTION_NONE || r->audit) {
			r->status = r->change.action == CG_ACTION_NONE
					    ? CG_STATUS_OK
					    : CG_STATUS_DRIFTED;
			finish(e, r);
			continue;
		}
		v[n++] = r;
	}
	return n;
}

/*
 * The resources to apply together with first: just it, or for a batching
 * module every later pending resource of the module that needs a change
 * and whose requirements are met.
 */
static size_t gather(struct cg_engine *e, struct cg_resource *first,
		     struct cg_resource ***out)
{
	struct batch *b = batch_of(e, first->mod);
	struct cg_resource **v = cg_xmalloc((b->n + 1) * sizeof(*v));
	size_t n = 0, i;
	bool seen_first = false;

	v[n++] = first;
	if (first->mod->flags & CG_MODULE_BATCH_RUN) {
		*out = v;
		return gather_run(e, first, v);
	}
	if (!(first->mod->flags & CG_MODULE_BATCH)) {
		*out = v;
		return n;
	}
	for (i = 0; i < b->n; i++) {
		struct cg_resource *r = b->res[i];

		if (r == first) {
			seen_first = true;
			continue;
		}
		if (!seen_first || r->status != CG_STATUS_PENDING ||
		    !e->observed[r - e->p->res])
			continue;
		if (skip_if_blocked(e, r) || !deps_done(e, r, v, n))
			continue;
		if (!diff(e, r))
			continue;
		if (r->change.action == CG_ACTION_NONE || r->audit) {
			r->status = r->change.action == CG_ACTION_NONE
					    ? CG_STATUS_OK
					    : CG_STATUS_DRIFTED;
			finish(e, r);
			continue;
		}
		v[n++] = r;
	}
	*out = v;
	return n;
}

/* The ledger's "since" for what this run first manages. */
static const char *ledger_since(const struct cg_engine *e)
{
	return e->p->commit ? e->p->commit : "local";
}

/*
 * Before the first change congruent makes to a resource, the ledger says
 * it owns it and what was there (r->change.before): durably, before
 * apply, so that a run killed at any later point leaves a ledger that
 * knows every change it may have made. Failing that, nothing is changed.
 */
static bool ledger_claim(struct cg_engine *e, struct cg_resource **v,
			 size_t n)
{
	struct cg_state *st = e->ctx->records;
	struct cg_state_put *put;
	struct cg_error err;
	size_t i, k = 0;
	int rc;

	if (!st)
		return true;
	put = cg_xcalloc(2 * n + 1, sizeof(*put));
	for (i = 0; i < n; i++) {
		if (cg_state_get(st, v[i]->id, CG_LEDGER_SINCE))
			continue;
		put[k].id = v[i]->id;
		put[k].key = CG_LEDGER_SINCE;
		put[k++].val = ledger_since(e);
		put[k].id = v[i]->id;
		put[k].key = CG_LEDGER_BEFORE;
		put[k++].val = v[i]->change.before ? v[i]->change.before
						   : CG_LEDGER_UNKNOWN;
	}
	cg_error_clear(&err);
	rc = cg_state_set_all(st, put, k, &err);
	free(put);
	if (rc == 0)
		return true;
	cg_error_prefix(&err, "not changed: the ledger cannot be written");
	cg_error_hint(&err, "STATE/records must be writable and its "
			    "filesystem not full");
	fail_all(v, n, &err);
	for (i = 0; i < n; i++)
		finish(e, v[i]);
	return false;
}

/*
 * At the end of a run, what the policy manages and the ledger does not
 * know yet is adopted: congruent found it as the policy says (or STATE
 * predates the ledger), so nothing is known of an earlier state and
 * revert keeps it. One write for all.
 */
static void ledger_adopt(struct cg_engine *e)
{
	struct cg_state *st = e->ctx->records;
	struct cg_state_put *put;
	struct cg_error err;
	size_t i, k = 0;

	if (!st || !st->writable)
		return;
	/* Count first: a run that adopts nothing allocates nothing. */
	for (i = 0; i < e->p->n; i++) {
		const struct cg_resource *r = &e->p->res[i];

		if (r->status == CG_STATUS_OK &&
		    !cg_state_get(st, r->id, CG_LEDGER_SINCE))
			k += 2;
	}
	put = cg_xcalloc(k + 1, sizeof(*put));
	k = 0;
	for (i = 0; i < e->p->n; i++) {
		const struct cg_resource *r = &e->p->res[e->p->order[i]];

		if (r->status != CG_STATUS_OK ||
		    cg_state_get(st, r->id, CG_LEDGER_SINCE))
			continue;
		put[k].id = r->id;
		put[k].key = CG_LEDGER_SINCE;
		put[k++].val = ledger_since(e);
		put[k].id = r->id;
		put[k].key = CG_LEDGER_BEFORE;
		put[k++].val = CG_LEDGER_UNKNOWN;
	}
	cg_error_clear(&err);
	/* Nothing was changed for these: a failed write loses nothing. */
	if (cg_state_set_all(st, put, k, &err) < 0)
		cg_log(LOG_WARNING, "the ledger could not adopt what is "
				    "already congruent: %s",
		       err.msg);
	free(put);
	/*
	 * The run's claims were appended, batch by batch: leave the file
	 * sorted and whole for the next run (readable either way).
	 */
	cg_error_clear(&err);
	if (cg_state_compact(st, &err) < 0)
		cg_log(LOG_WARNING, "STATE/records was not rewritten whole "
				    "(it stays valid as appended): %s",
		       err.msg);
}

static void apply_batch(struct cg_engine *e, struct cg_resource **v, size_t n)
{
	const struct cg_module *m = v[0]->mod;
	struct batch *b = batch_of(e, m);
	struct cg_change *saved;
	struct cg_error err;
	uint64_t t0 = cg_now_ns(), dt;
	size_t i, k = 0;

	/*
	 * Something changed since this module looked: look again, so that
	 * the change applied (and backed up) is made against what is there
	 * now, not what was there at the start.
	 */
	if (b->observed_at != e->changes) {
		observe(e, m, v, n);
		b->observed_at = e->changes;
		for (i = 0; i < n; i++) {
			if (v[i]->status == CG_STATUS_FAILED || !diff(e, v[i]))
				continue;
			if (v[i]->change.action == CG_ACTION_NONE) {
				v[i]->status = CG_STATUS_OK;
				finish(e, v[i]);
			} else {
				v[k++] = v[i];
			}
		}
		n = k;
		if (!n)
			return;
	}
	if (!ledger_claim(e, v, n))
		return;
	cg_error_clear(&err);
	working(e, v, n, "applying");
	if (!m->apply) {
		for (i = 0; i < n; i++) {
			cg_error_clear(&err);
			if (m->apply_one(e->ctx, v[i], &err) < 0)
				cg_resource_fail(v[i], &err);
		}
	} else if (m->apply(e->ctx, v, n, &err) < 0) {
		fail_all(v, n, &err);
	}
	working(e, NULL, 0, NULL);

	/* Verify: look once more; what still differs did not work. */
	if (!(m->flags & CG_MODULE_VERIFIES))
		observe(e, m, v, n);
	saved = cg_xmalloc(n * sizeof(*saved));
	for (i = 0; i < n; i++) {
		struct cg_resource *r = v[i];

		saved[i] = r->change;
		memset(&r->change, 0, sizeof(r->change));
		if (r->status == CG_STATUS_FAILED) {
			cg_change_release(&r->change);
			r->change = saved[i];
			finish(e, r);
			continue;
		}
		cg_error_clear(&err);
		if (m->diff(e->ctx, r, &err) < 0) {
			cg_resource_fail(r, &err);
		} else if (r->change.action != CG_ACTION_NONE) {
			struct cg_buf what = { 0 };
			size_t j;

			for (j = 0; j < r->change.n; j++)
				cg_buf_addf(&what, "%s%s", j ? ", " : "",
					    r->change.items[j].field);
			cg_resource_failf(r, "something else may be managing "
					     "it too",
					  "still differs after the change (%s)",
					  what.data ? what.data : "?");
			cg_buf_release(&what);
		} else {
			r->status = CG_STATUS_REPAIRED;
			e->changes++;
		}
		cg_change_release(&r->change);
		r->change = saved[i];
		finish(e, r);
	}
	free(saved);
	b->observed_at = e->changes;
	dt = (cg_now_ns() - t0) / n;
	for (i = 0; i < n; i++)
		v[i]->ns += dt;
}

static bool changed_cb(const struct cg_ctx *ctx, const char *id)
{
	const struct cg_engine *e = ctx->agent;
	size_t idx;

	/*
	 * Drifted: in a dry-run, "would change"; audited (audit: true),
	 * never changes, in a dry-run or not.
	 */
	return cg_index_get(&e->p->ids, id, &idx) && !e->p->res[idx].audit &&
	       (e->p->res[idx].status == CG_STATUS_REPAIRED ||
		e->p->res[idx].status == CG_STATUS_DRIFTED);
}

static const struct cg_resource *earlier_cb(const struct cg_ctx *ctx,
					    const struct cg_resource *r,
					    size_t i)
{
	const struct cg_engine *e = ctx->agent;
	size_t at = e->pos[r - e->p->res];

	return i < at ? &e->p->res[e->p->order[i]] : NULL;
}

static const char *record_cb(const struct cg_ctx *ctx,
			     const struct cg_resource *r, const char *key)
{
	return cg_state_get(ctx->records, r->id, key);
}

static int record_set_cb(const struct cg_ctx *ctx, const struct cg_resource *r,
			 const char *const *kv, size_t n, struct cg_error *err)
{
	if (!ctx->records)
		return cg_error_set(err, CG_ERR, "no STATE records here");
	return cg_state_set(ctx->records, r->id, kv, n, err);
}

/* Is id want, under it (want + "/..."), or of its type (want "TYPE:")? */
static bool id_covers(const char *want, const char *id)
{
	size_t n = strlen(want);

	if (!n || strncmp(id, want, n) != 0)
		return false;
	return id[n] == '\0' || id[n] == '/' || want[n - 1] == ':';
}

static const char *made_before_cb(const struct cg_ctx *ctx,
				  const struct cg_resource *r, const char *id)
{
	const struct cg_resource *d;
	size_t i;

	for (i = 0; (d = earlier_cb(ctx, r, i)); i++) {
		if (!d->audit &&
		    (d->status == CG_STATUS_REPAIRED ||
		     d->status == CG_STATUS_DRIFTED) &&
		    id_covers(id, d->id))
			return d->id;
	}
	return NULL;
}

static const struct cg_resource *declared_cb(const struct cg_ctx *ctx,
					     size_t i)
{
	const struct cg_engine *e = ctx->agent;

	return i < e->p->n ? &e->p->res[i] : NULL;
}

static void declared_paths_cb(struct cg_ctx *ctx, const struct cg_resource *d,
			      void (*add)(void *arg, const char *path),
			      void *arg)
{
	if (d->mod && d->mod->paths)
		d->mod->paths(ctx, d, add, arg);
}

struct cg_engine *cg_engine_new(struct cg_policy *p, struct cg_ctx *ctx)
{
	struct cg_engine *e = cg_xcalloc(1, sizeof(*e));
	size_t i, k;

	e->p = p;
	e->ctx = ctx;
	ctx->changed = changed_cb;
	ctx->earlier = earlier_cb;
	ctx->record = record_cb;
	ctx->record_set = record_set_cb;
	ctx->made_before = made_before_cb;
	ctx->declared = declared_cb;
	ctx->declared_paths = declared_paths_cb;
	ctx->agent = e;
	for (k = 0; cg_modules[k]; k++)
		;
	/* One batch per module with resources: never more than the table. */
	e->batches = cg_xcalloc(k + 1, sizeof(*e->batches));
	for (i = 0; i < p->n; i++) {
		struct cg_resource *r = &p->res[p->order[i]];
		struct batch *b = batch_of(e, r->mod);

		if (!b) {
			b = &e->batches[e->nbatches++];
			b->mod = r->mod;
		}
		cg_grow(&b->res, &b->cap, b->n + 1, sizeof(*b->res));
		b->res[b->n++] = r;
	}
	e->observed = cg_xcalloc(p->n + 1, sizeof(*e->observed));
	e->pos = cg_xcalloc(p->n + 1, sizeof(*e->pos));
	for (i = 0; i < p->n; i++)
		e->pos[p->order[i]] = i;
	e->finished = cg_xcalloc(p->n + 1, sizeof(*e->finished));
	return e;
}

void cg_engine_observe_all(struct cg_engine *e)
{
	size_t i;

	/* In order, window by window, as cg_engine_finish would. */
	for (i = 0; i < e->p->n; i++)
		observe_upto(e, &e->p->res[e->p->order[i]]);
}

void cg_engine_finish(struct cg_engine *e, bool dry_run,
		      struct cg_counts *counts)
{
	struct cg_policy *p = e->p;
	size_t i;

	/*
	 * Each module observes its resources in one call (or in windows, see
	 * observe_window) when the first of them comes up in the order,
	 * unless cg_engine_observe_all did it all before.
	 */
	for (i = 0; i < p->n; i++) {
		struct cg_resource *r = &p->res[p->order[i]];
		struct cg_resource **v;
		uint64_t t0;
		size_t n;

		if (cg_stop_signal && r->status == CG_STATUS_PENDING) {
			stopped(e, r);
			continue;
		}
		observe_upto(e, r);
		t0 = cg_now_ns();
		if (r->status != CG_STATUS_PENDING) {
			finish(e, r);
			continue;
		}
		if (skip_if_blocked(e, r) || !diff(e, r)) {
			finish(e, r);
			continue;
		}
		/* audit: true is a dry run of this resource alone. */
		if (r->change.action == CG_ACTION_NONE || dry_run || r->audit) {
			r->status = r->change.action == CG_ACTION_NONE
					    ? CG_STATUS_OK
					    : CG_STATUS_DRIFTED;
			r->ns += cg_now_ns() - t0;
			finish(e, r);
			continue;
		}
		n = gather(e, r, &v);
		apply_batch(e, v, n);
		free(v);
		/* apply_batch may have left r failed, unfinished; else a no-op. */
		finish(e, r);
	}
	if (!dry_run)
		ledger_adopt(e);
	cg_engine_count(p, counts);
}

void cg_engine_free(struct cg_engine *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->nbatches; i++)
		free(e->batches[i].res);
	free(e->batches);
	free(e->observed);
	free(e->pos);
	free(e->finished);
	if (e->ctx->agent == e) {
		e->ctx->agent = NULL;
		e->ctx->changed = NULL;
		e->ctx->earlier = NULL;
		e->ctx->made_before = NULL;
		e->ctx->declared = NULL;
		e->ctx->declared_paths = NULL;
	}
	free(e);
}

void cg_engine_run(struct cg_policy *p, struct cg_ctx *ctx, bool dry_run,
		   struct cg_counts *counts)
{
	struct cg_engine *e = cg_engine_new(p, ctx);

	cg_engine_finish(e, dry_run, counts);
	cg_engine_free(e);
}

void cg_engine_count(const struct cg_policy *p, struct cg_counts *counts)
{
	size_t i;

	memset(counts, 0, sizeof(*counts));
	for (i = 0; i < p->n; i++) {
		const struct cg_change *c = &p->res[i].change;
		size_t k;

		for (k = 0; k < c->nunmanaged; k++)
			counts->extra += !c->unmanaged[k].owner;
		counts->warnings += c->nwarnings;
		switch (p->res[i].status) {
		case CG_STATUS_OK:
			counts->ok++;
			break;
		case CG_STATUS_DRIFTED:
			counts->drifted++;
			break;
		case CG_STATUS_REPAIRED:
			counts->repaired++;
			break;
		case CG_STATUS_FAILED:
			counts->failed++;
			break;
		case CG_STATUS_SKIPPED:
			counts->skipped++;
			break;
		default:
			break;
		}
	}
}

int cg_exit_status(const struct cg_counts *c, bool refused)
{
	int st = 0;

	if (c->drifted || c->repaired)
		st |= 2;
	if (c->failed || c->skipped || refused)
		st |= 4;
	return st;
}

void cg_engine_fingerprint(const struct cg_policy *p,
			   char out[CG_SHA256_HEX])
{
	unsigned char d[CG_SHA256_LEN];
	struct cg_sha256 h;
	size_t i;

	/* In apply order, which is the same on every host. */
	cg_sha256_init(&h);
	for (i = 0; i < p->n; i++) {
		const struct cg_resource *r = &p->res[p->order[i]];

		cg_sha256_update(&h, r->id, strlen(r->id) + 1);
		cg_sha256_update(&h, r->digest, sizeof(r->digest));
	}
	cg_sha256_final(&h, d);
	cg_hex(d, sizeof(d), out);
}

int cg_ctx_exec(const struct cg_ctx *ctx, const struct cg_exec *x,
		struct cg_exec_result *res, struct cg_error *err)
{
	struct cg_exec y = *x;
	int rc;

	if (!x->own_timeout)
		y.timeout_ms = ctx && ctx->helper_timeout_ms
				       ? ctx->helper_timeout_ms
				       : CG_DEFAULT_HELPER_TIMEOUT * 1000u;
	rc = cg_exec_run(&y, res, err);
	if (rc == CG_ETIMEOUT)
		cg_error_hint(err, "it hung (waiting for a lock, a prompt or "
				   "the network?); if it needs longer, raise "
				   "helper_timeout in the agent config");
	return rc;
}
