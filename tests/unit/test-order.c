/* test-order.c: the stable topological sort of resources, and cycles. */
#include <stdlib.h>

#include "../../agent/agent.h"
#include "tap.h"

struct set {
	struct cg_resource *res;
	size_t n;
};

/* n resources "file:/rI" declared at "roles/x.yaml:I+1", no requires. */
static void set_init(struct set *s, size_t n)
{
	size_t i;

	s->n = n;
	s->res = cg_xcalloc(n ? n : 1, sizeof(*s->res));
	for (i = 0; i < n; i++) {
		s->res[i].id = cg_xasprintf("file:/r%zu", i);
		s->res[i].where = cg_xasprintf("roles/x.yaml:%zu", i + 1);
		s->res[i].decl = i;
	}
}

/* Resource i requires resource j. */
static void req(struct set *s, size_t i, size_t j)
{
	struct cg_resource *r = &s->res[i];

	r->deps = cg_xrealloc(r->deps, (r->ndeps + 1) * sizeof(*r->deps));
	r->deps[r->ndeps++] = j;
}

static void set_release(struct set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->res[i].id);
		free(s->res[i].where);
		free(s->res[i].deps);
	}
	free(s->res);
}

/* The order as "0 2 1", or the first error message. */
static char *order_str(struct set *s, int *rc_out, struct cg_diag *diag)
{
	struct cg_buf b = { 0 };
	size_t *order = NULL, i;
	int rc = cg_order(s->res, s->n, &order, diag);

	if (rc_out)
		*rc_out = rc;
	if (rc == 0) {
		for (i = 0; i < s->n; i++)
			cg_buf_addf(&b, "%s%zu", i ? " " : "", order[i]);
	} else if (diag->n) {
		cg_buf_addstr(&b, diag->errs[0].msg);
	}
	free(order);
	return cg_buf_detach(&b, NULL);
}

static void expect_order(struct set *s, const char *want, const char *name)
{
	struct cg_diag diag = { 0 };
	int rc;
	char *got = order_str(s, &rc, &diag);

	tap_is_str(got, want, name);
	if (rc != 0 || diag.n != 0)
		tap_diag("unexpected error");
	free(got);
	cg_diag_release(&diag);
}

static void test_small(void)
{
	struct set s;

	set_init(&s, 0);
	expect_order(&s, "", "no resources");
	set_release(&s);

	set_init(&s, 5);
	expect_order(&s, "0 1 2 3 4", "no requires: declaration order");
	set_release(&s);

	/* 1 requires 3: only 1 moves, to just after 3. */
	set_init(&s, 5);
	req(&s, 1, 3);
	expect_order(&s, "0 2 3 1 4", "requires moves only the requirer");
	set_release(&s);

	/* 0 requires 4: the others keep their order. */
	set_init(&s, 5);
	req(&s, 0, 4);
	expect_order(&s, "1 2 3 4 0", "first requires last");
	set_release(&s);

	/* A requirement declared earlier changes nothing. */
	set_init(&s, 4);
	req(&s, 3, 0);
	req(&s, 2, 1);
	expect_order(&s, "0 1 2 3", "requires already satisfied: no move");
	set_release(&s);

	/* Chain 0 -> 2 -> 4, with 1 and 3 unrelated. */
	set_init(&s, 5);
	req(&s, 0, 2);
	req(&s, 2, 4);
	expect_order(&s, "1 3 4 2 0", "chain");
	set_release(&s);

	/* A long chain declared backwards comes out reversed. */
	set_init(&s, 4);
	req(&s, 0, 1);
	req(&s, 1, 2);
	req(&s, 2, 3);
	expect_order(&s, "3 2 1 0", "backwards chain");
	set_release(&s);

	/* Diamond: 0 requires 1 and 2, both require 3. */
	set_init(&s, 4);
	req(&s, 0, 1);
	req(&s, 0, 2);
	req(&s, 1, 3);
	req(&s, 2, 3);
	expect_order(&s, "3 1 2 0", "diamond");
	set_release(&s);

	/* The same requirement twice counts once. */
	set_init(&s, 3);
	req(&s, 0, 2);
	req(&s, 0, 2);
	expect_order(&s, "1 2 0", "duplicate requires");
	set_release(&s);

	/* Several requirers of one resource keep their own order. */
	set_init(&s, 5);
	req(&s, 0, 4);
	req(&s, 1, 4);
	req(&s, 2, 4);
	expect_order(&s, "3 4 0 1 2", "requirers keep their relative order");
	set_release(&s);
}

static void test_cycles(void)
{
	struct set s;
	struct cg_diag diag = { 0 };
	size_t *order = (size_t *)&diag, i;
	char *msg;
	int rc;

	/* 1 -> 2 -> 3 -> 1, with 0 and 4 fine. */
	set_init(&s, 5);
	req(&s, 1, 2);
	req(&s, 2, 3);
	req(&s, 3, 1);
	rc = cg_order(s.res, s.n, &order, &diag);
	tap_is_int(rc, CG_ERR, "cycle: refused");
	tap_ok(order == NULL, "cycle: no order");
	tap_is_int((long long)diag.n, 1, "cycle: one error");
	if (diag.n) {
		tap_is_str(diag.errs[0].msg,
			   "requires: cycle: file:/r1 (roles/x.yaml:2) requires "
			   "file:/r2 (roles/x.yaml:3) requires file:/r3 "
			   "(roles/x.yaml:4) requires file:/r1",
			   "cycle: every member, in order, with where");
		tap_ok(diag.errs[0].where[0] && diag.errs[0].resource[0],
		       "cycle: where and resource set");
		tap_ok(diag.errs[0].hint[0] != '\0', "cycle: hint given");
	}
	cg_diag_release(&diag);
	set_release(&s);

	/* A resource requiring itself. */
	set_init(&s, 3);
	req(&s, 1, 1);
	msg = order_str(&s, &rc, &diag);
	tap_is_int(rc, CG_ERR, "self-requires: refused");
	tap_is_str(msg,
		   "requires: cycle: file:/r1 (roles/x.yaml:2) requires "
		   "file:/r1",
		   "self-requires: named");
	free(msg);
	cg_diag_release(&diag);
	set_release(&s);

	/*
	 * 1000 resources; 500 -> 501 -> 502 -> 500 is the cycle, and 0, 10
	 * and 999 require members of it (they are stuck behind it, but are
	 * not part of it).
	 */
	set_init(&s, 1000);
	req(&s, 500, 501);
	req(&s, 501, 502);
	req(&s, 502, 500);
	req(&s, 0, 501);
	req(&s, 10, 0);
	req(&s, 999, 502);
	for (i = 100; i < 200; i++)
		req(&s, i, i + 1);
	msg = order_str(&s, &rc, &diag);
	tap_is_int(rc, CG_ERR, "cycle among many: refused");
	tap_is_int((long long)diag.n, 1, "cycle among many: one error");
	tap_is_str(msg,
		   "requires: cycle: file:/r501 (roles/x.yaml:502) requires "
		   "file:/r502 (roles/x.yaml:503) requires file:/r500 "
		   "(roles/x.yaml:501) requires file:/r501",
		   "cycle among many: only the members, each once");
	free(msg);
	cg_diag_release(&diag);
	set_release(&s);

	/* Two separate cycles: at least one is reported in full. */
	set_init(&s, 6);
	req(&s, 4, 5);
	req(&s, 5, 4);
	req(&s, 1, 2);
	req(&s, 2, 1);
	msg = order_str(&s, &rc, &diag);
	tap_is_int(rc, CG_ERR, "two cycles: refused");
	tap_ok(strstr(msg, "file:/r1 (roles/x.yaml:2) requires file:/r2 "
			   "(roles/x.yaml:3) requires file:/r1") != NULL ||
		       strstr(msg, "file:/r4 (roles/x.yaml:5) requires "
				   "file:/r5 (roles/x.yaml:6) requires "
				   "file:/r4") != NULL,
	       "two cycles: one reported in full");
	free(msg);
	cg_diag_release(&diag);
	set_release(&s);
}

static uint64_t rng = 88172645463325252u;

static size_t rnd(size_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (size_t)(rng >> 11) % n;
}

/*
 * The order the sort promises, the slow way: again and again, take the
 * first declared resource whose requirements are all placed.
 */
static size_t *reference_order(const struct set *s)
{
	size_t *order = cg_xcalloc(s->n + 1, sizeof(*order)), k, i, j;
	bool *placed = cg_xcalloc(s->n + 1, sizeof(*placed));

	for (k = 0; k < s->n; k++) {
		for (i = 0; i < s->n; i++) {
			bool ready = !placed[i];

			for (j = 0; ready && j < s->res[i].ndeps; j++)
				ready = placed[s->res[i].deps[j]];
			if (ready)
				break;
		}
		placed[i] = true;
		order[k] = i;
	}
	free(placed);
	return order;
}

static void test_random(void)
{
	int t, bad = 0;

	for (t = 0; t < 200; t++) {
		struct set s;
		struct cg_diag diag = { 0 };
		size_t n = 1 + rnd(60), *rank, *order = NULL, *want, i, e;
		size_t nedges = rnd(2 * n);

		set_init(&s, n);
		/* Edges only from higher rank to lower: never a cycle. */
		rank = cg_xcalloc(n, sizeof(*rank));
		for (i = 0; i < n; i++)
			rank[i] = rnd(1000);
		for (e = 0; e < nedges; e++) {
			size_t a = rnd(n), b = rnd(n);

			if (rank[a] > rank[b])
				req(&s, a, b);
			else if (rank[b] > rank[a])
				req(&s, b, a);
		}
		want = reference_order(&s);
		if (cg_order(s.res, n, &order, &diag) != 0 || !order ||
		    memcmp(order, want, n * sizeof(*order)) != 0)
			bad++;
		free(order);
		free(want);
		free(rank);
		cg_diag_release(&diag);
		set_release(&s);
	}
	tap_is_int(bad, 0, "200 random graphs: the order the slow way gives");
}

static void test_large(void)
{
	struct set s;
	struct cg_diag diag = { 0 };
	size_t *order = NULL, i, n = 10000;
	bool ok;
	uint64_t t0;
	int rc;

	/* Each requires the next: the order is reversed. */
	set_init(&s, n);
	for (i = 0; i + 1 < n; i++)
		req(&s, i, i + 1);
	t0 = cg_now_ns();
	rc = cg_order(s.res, n, &order, &diag);
	tap_ok(cg_now_ns() - t0 < 1000000000u, "10000 chain: under a second");
	tap_is_int(rc, 0, "10000 chain: sorted");
	ok = order != NULL;
	for (i = 0; ok && i < n; i++)
		ok = order[i] == n - 1 - i;
	tap_ok(ok, "10000 chain: reversed");
	free(order);
	order = NULL;
	set_release(&s);

	/* Each requires the one before: nothing moves. */
	set_init(&s, n);
	for (i = 1; i < n; i++)
		req(&s, i, i - 1);
	rc = cg_order(s.res, n, &order, &diag);
	ok = rc == 0 && order != NULL;
	for (i = 0; ok && i < n; i++)
		ok = order[i] == i;
	tap_ok(ok, "10000 forward chain: declaration order");
	free(order);
	order = NULL;

	/* Close it into one cycle of 10000: refused, without a hang. */
	req(&s, 0, n - 1);
	t0 = cg_now_ns();
	rc = cg_order(s.res, n, &order, &diag);
	tap_is_int(rc, CG_ERR, "10000 cycle: refused");
	tap_ok(cg_now_ns() - t0 < 1000000000u, "10000 cycle: under a second");
	tap_ok(diag.n == 1 && strncmp(diag.errs[0].msg, "requires: cycle: ",
				      17) == 0,
	       "10000 cycle: reported");
	free(order);
	cg_diag_release(&diag);
	set_release(&s);
}

int main(void)
{
	test_small();
	test_cycles();
	test_random();
	test_large();
	return tap_done();
}
