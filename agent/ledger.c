/* ledger.c: what congruent owns (STATE/records ledger.*), and orphans. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static void add(struct cg_orphans *o, const struct cg_state *st, size_t at)
{
	struct cg_orphan *x;

	cg_grow(&o->v, &o->cap, o->n + 1, sizeof(*o->v));
	x = &o->v[o->n++];
	memset(x, 0, sizeof(*x));
	x->id = cg_xstrdup(st->v[at].id);
	x->since = cg_xstrdup(st->v[at].val);
	x->before = cg_xstrdup(cg_state_get(st, x->id, CG_LEDGER_BEFORE)
				       ? cg_state_get(st, x->id,
						      CG_LEDGER_BEFORE)
				       : CG_LEDGER_UNKNOWN);
}

void cg_ledger_orphans(const struct cg_state *st, const struct cg_policy *p,
		       struct cg_orphans *out)
{
	size_t i, idx;

	memset(out, 0, sizeof(*out));
	/* Records are sorted by id: the orphans come out sorted too. */
	for (i = 0; st && i < st->n; i++) {
		if (strcmp(st->v[i].key, CG_LEDGER_SINCE) != 0)
			continue;
		if (p && cg_index_get(&p->ids, st->v[i].id, &idx))
			continue;
		add(out, st, i);
	}
}

/* Is key of id's records part of the ledger: ledger.*, or its module's? */
static bool is_ledger_key(const char *id, const char *key)
{
	const struct cg_module *m;
	const char *colon = strchr(id, ':');
	char type[64];
	size_t i;

	if (strncmp(key, "ledger.", 7) == 0)
		return true;
	if (!colon || (size_t)(colon - id) >= sizeof(type))
		return false;
	memcpy(type, id, (size_t)(colon - id));
	type[colon - id] = '\0';
	m = cg_module_find(type);
	for (i = 0; m && m->ledger_keys && m->ledger_keys[i]; i++)
		if (strcmp(key, m->ledger_keys[i]) == 0)
			return true;
	return false;
}

int cg_ledger_forget(struct cg_state *st, const char *const *ids, size_t n,
		     struct cg_error *err)
{
	struct cg_state_put *put;
	struct cg_index want = { 0 };
	char **keys;
	size_t i, k = 0, idx;
	int rc;

	for (i = 0; i < n; i++)
		cg_index_put(&want, ids[i], i, NULL);
	/* Every ledger.* key of each: a module's own too (ledger.keys). */
	put = cg_xcalloc(st->n + 1, sizeof(*put));
	keys = cg_xcalloc(st->n + 1, sizeof(*keys));
	for (i = 0; i < st->n; i++) {
		if (!is_ledger_key(st->v[i].id, st->v[i].key) ||
		    !cg_index_get(&want, st->v[i].id, &idx))
			continue;
		/* A copy: st's own strings go as it changes. */
		keys[k] = cg_xstrdup(st->v[i].key);
		put[k].id = ids[idx];
		put[k].key = keys[k];
		k++;
	}
	rc = cg_state_set_all(st, put, k, err);
	for (i = 0; i < k; i++)
		free(keys[i]);
	free(keys);
	free(put);
	cg_index_release(&want);
	return rc;
}

int cg_ledger_mark_orphans(struct cg_state *st, const struct cg_policy *p,
			   const struct cg_orphans *o, const char *since,
			   struct cg_error *err)
{
	struct cg_state_put *put = cg_xcalloc(o->n + p->n + 1, sizeof(*put));
	size_t i, k = 0;
	int rc;

	for (i = 0; i < o->n; i++) {
		if (o->v[i].forgotten ||
		    cg_state_get(st, o->v[i].id, CG_LEDGER_ORPHAN))
			continue;
		put[k].id = o->v[i].id;
		put[k].key = CG_LEDGER_ORPHAN;
		put[k++].val = since;
	}
	/* Back in the policy: no longer an orphan. */
	for (i = 0; i < p->n; i++) {
		if (!cg_state_get(st, p->res[i].id, CG_LEDGER_ORPHAN))
			continue;
		put[k].id = p->res[i].id;
		put[k++].key = CG_LEDGER_ORPHAN;
	}
	rc = k ? cg_state_set_all(st, put, k, err) : 0;
	free(put);
	return rc;
}

void cg_orphans_release(struct cg_orphans *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->n; i++) {
		free(o->v[i].id);
		free(o->v[i].since);
		free(o->v[i].before);
		free(o->v[i].revert);
		free(o->v[i].err);
	}
	free(o->v);
	memset(o, 0, sizeof(*o));
}
