/* kv.c: ordered key/value lists, a string index, and diagnostics. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

void cg_kvs_set(struct cg_kvs *kv, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		if (strcmp(kv->keys[i], key) == 0) {
			free(kv->vals[i]);
			kv->vals[i] = cg_xstrdup(value);
			return;
		}
	}
	if (kv->n == kv->cap) {
		size_t cap = kv->cap;

		cg_grow(&kv->keys, &cap, kv->n + 1, sizeof(*kv->keys));
		cg_grow(&kv->vals, &kv->cap, kv->n + 1, sizeof(*kv->vals));
	}
	kv->keys[kv->n] = cg_xstrdup(key);
	kv->vals[kv->n] = cg_xstrdup(value);
	kv->n++;
}

const char *cg_kvs_get(const struct cg_kvs *kv, const char *key)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->keys[i], key) == 0)
			return kv->vals[i];
	return NULL;
}

void cg_kvs_release(struct cg_kvs *kv)
{
	size_t i;

	if (!kv)
		return;
	for (i = 0; i < kv->n; i++) {
		free(kv->keys[i]);
		free(kv->vals[i]);
	}
	free(kv->keys);
	free(kv->vals);
	memset(kv, 0, sizeof(*kv));
}

void cg_vars_set(struct cg_vars *v, const char *key,
		 const struct cg_node *val)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (strcmp(v->keys[i], key) == 0) {
			v->vals[i] = val;
			return;
		}
	}
	if (v->n == v->cap) {
		size_t cap = v->cap;

		cg_grow(&v->keys, &cap, v->n + 1, sizeof(*v->keys));
		cg_grow(&v->vals, &v->cap, v->n + 1, sizeof(*v->vals));
	}
	v->keys[v->n] = key;
	v->vals[v->n] = val;
	v->n++;
}

const struct cg_node *cg_vars_get(const struct cg_vars *v, const char *key)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return v->vals[i];
	return NULL;
}

void cg_vars_copy(struct cg_vars *to, const struct cg_vars *from)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		cg_vars_set(to, from->keys[i], from->vals[i]);
}

void cg_vars_release(struct cg_vars *v)
{
	if (!v)
		return;
	free(v->keys);
	free(v->vals);
	memset(v, 0, sizeof(*v));
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static void index_insert(struct cg_index *ix, const char *key, size_t val)
{
	size_t i = (size_t)hash_str(key) & (ix->cap - 1);

	while (ix->keys[i])
		i = (i + 1) & (ix->cap - 1);
	ix->keys[i] = key;
	ix->vals[i] = val;
	ix->n++;
}

bool cg_index_put(struct cg_index *ix, const char *key, size_t val,
		  size_t *old)
{
	size_t i;

	if (cg_index_get(ix, key, old))
		return false;
	if ((ix->n + 1) * 4 > ix->cap * 3) {
		struct cg_index big = { 0 };

		big.cap = ix->cap ? ix->cap * 2 : 64;
		big.keys = cg_xcalloc(big.cap, sizeof(*big.keys));
		big.vals = cg_xcalloc(big.cap, sizeof(*big.vals));
		for (i = 0; i < ix->cap; i++)
			if (ix->keys[i])
				index_insert(&big, ix->keys[i], ix->vals[i]);
		free(ix->keys);
		free(ix->vals);
		*ix = big;
	}
	index_insert(ix, key, val);
	return true;
}

bool cg_index_get(const struct cg_index *ix, const char *key, size_t *out)
{
	size_t i;

	if (!ix->cap)
		return false;
	for (i = (size_t)hash_str(key) & (ix->cap - 1); ix->keys[i];
	     i = (i + 1) & (ix->cap - 1)) {
		if (strcmp(ix->keys[i], key) == 0) {
			if (out)
				*out = ix->vals[i];
			return true;
		}
	}
	return false;
}

void cg_index_release(struct cg_index *ix)
{
	free(ix->keys);
	free(ix->vals);
	memset(ix, 0, sizeof(*ix));
}

void cg_diag_add(struct cg_diag *d, const struct cg_error *err)
{
	if (d->n < CG_DIAG_MAX) {
		cg_grow(&d->errs, &d->cap, d->n + 1, sizeof(*d->errs));
		d->errs[d->n] = *err;
	}
	d->n++;
}

void cg_diag_warn(struct cg_diag *d, const struct cg_error *err)
{
	if (d->nwarn < CG_DIAG_MAX) {
		cg_grow(&d->warns, &d->capwarn, d->nwarn + 1, sizeof(*d->warns));
		d->warns[d->nwarn] = *err;
	}
	d->nwarn++;
}

void cg_diag_release(struct cg_diag *d)
{
	free(d->errs);
	free(d->warns);
	memset(d, 0, sizeof(*d));
}
