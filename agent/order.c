/* order.c: one total order: declaration order, moved only by requires:. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* A binary min-heap of declaration indexes: the stable tie-break. */
struct heap {
	uint32_t *v;
	size_t n;
};

static void heap_push(struct heap *h, uint32_t x)
{
	size_t i = h->n++;

	while (i > 0 && h->v[(i - 1) / 2] > x) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = x;
}

static uint32_t heap_pop(struct heap *h)
{
	uint32_t top = h->v[0], x = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1] < h->v[c])
			c++;
		if (h->v[c] >= x)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = x;
	return top;
}

/*
 * Among the resources left over by the sort (all on or behind a cycle),
 * find one cycle by walking requires: until a resource repeats.
 */
static void report_cycle(struct cg_resource *res, size_t n, const bool *done,
			 struct cg_diag *diag)
{
	size_t *pos = cg_xmalloc(n * sizeof(*pos));
	size_t *path = cg_xmalloc((n + 1) * sizeof(*path));
	size_t len = 0, cur = 0, i, start;
	struct cg_buf msg = { 0 };
	struct cg_error e;

	for (i = 0; i < n; i++)
		pos[i] = (size_t)-1;
	for (i = 0; i < n; i++)
		if (!done[i]) {
			cur = i;
			break;
		}
	/* Every left-over resource has a left-over requirement. */
	while (pos[cur] == (size_t)-1) {
		pos[cur] = len;
		path[len++] = cur;
		for (i = 0; i < res[cur].ndeps; i++)
			if (!done[res[cur].deps[i]])
				break;
		cur = res[cur].deps[i];
	}
	start = pos[cur];
	for (i = start; i < len; i++)
		cg_buf_addf(&msg, "%s (%s) requires ", res[path[i]].id,
			    res[path[i]].where);
	cg_buf_addf(&msg, "%s", res[cur].id);

	cg_error_clear(&e);
	snprintf(e.where, sizeof(e.where), "%s", res[cur].where);
	snprintf(e.resource, sizeof(e.resource), "%s", res[cur].id);
	snprintf(e.msg, sizeof(e.msg), "requires: cycle: %s", msg.data);
	snprintf(e.hint, sizeof(e.hint),
		 "remove one of these requires: so that the order has a start");
	cg_diag_add(diag, &e);
	cg_buf_release(&msg);
	free(pos);
	free(path);
}

int cg_order(struct cg_resource *res, size_t n, size_t **order_out,
	     struct cg_diag *diag)
{
	/* uint32_t: this runs while the whole policy is in memory. */
	uint32_t *indeg = cg_xcalloc(n + 1, sizeof(*indeg));
	uint32_t *start = cg_xcalloc(n + 1, sizeof(*start));
	uint32_t *users, *fill;
	size_t *order;
	bool *done = cg_xcalloc(n + 1, sizeof(*done));
	struct heap h = { cg_xmalloc((n + 1) * sizeof(uint32_t)), 0 };
	size_t i, j, k = 0, edges = 0;
	int rc = 0;

	if (n >= UINT32_MAX) {
		struct cg_error e;

		cg_error_set(&e, CG_ERR, "too many resources (%zu)", n);
		cg_diag_add(diag, &e);
		*order_out = NULL;
		rc = CG_ERR;
		goto out;
	}
	/* Reverse edges (who requires me) in one flat array. */
	for (i = 0; i < n; i++) {
		indeg[i] = (uint32_t)res[i].ndeps;
		edges += res[i].ndeps;
		for (j = 0; j < res[i].ndeps; j++)
			start[res[i].deps[j] + 1]++;
	}
	for (i = 0; i < n; i++)
		start[i + 1] += start[i];
	users = cg_xmalloc((edges + 1) * sizeof(*users));
	fill = cg_xcalloc(n + 1, sizeof(*fill));
	for (i = 0; i < n; i++)
		for (j = 0; j < res[i].ndeps; j++) {
			size_t d = res[i].deps[j];

			users[start[d] + fill[d]++] = (uint32_t)i;
		}
	free(fill);
	order = cg_xmalloc((n + 1) * sizeof(*order));
	for (i = 0; i < n; i++)
		if (indeg[i] == 0)
			heap_push(&h, (uint32_t)i);
	while (h.n) {
		uint32_t x = heap_pop(&h);

		order[k++] = x;
		done[x] = true;
		for (j = start[x]; j < start[x + 1]; j++)
			if (--indeg[users[j]] == 0)
				heap_push(&h, users[j]);
	}
	free(users);
	if (k < n) {
		report_cycle(res, n, done, diag);
		free(order);
		order = NULL;
		rc = CG_ERR;
	}
	*order_out = order;
out:
	free(indeg);
	free(start);
	free(done);
	free(h.v);
	return rc;
}
