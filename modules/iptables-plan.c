/* iptables-plan.c: the smallest change that puts a chain's rules in order. */
#include <stdlib.h>
#include <string.h>

#include "iptables.h"

#define NONE ((size_t)-1)

/* Rule text -> index into want: open addressing, want is distinct. */
struct text_index {
	size_t *slots; /* want index + 1; 0 is empty */
	size_t mask;
	const char *const *want;
};

static size_t text_hash(const char *s)
{
	size_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static void index_build(struct text_index *ix, const char *const *want,
			size_t n)
{
	size_t cap = 16, i;

	while (cap < 2 * n + 1)
		cap *= 2;
	ix->slots = cg_xcalloc(cap, sizeof(*ix->slots));
	ix->mask = cap - 1;
	ix->want = want;
	for (i = 0; i < n; i++) {
		size_t h = text_hash(want[i]) & ix->mask;

		while (ix->slots[h] &&
		       strcmp(want[ix->slots[h] - 1], want[i]) != 0)
			h = (h + 1) & ix->mask;
		if (!ix->slots[h])
			ix->slots[h] = i + 1;
	}
}

static size_t index_get(const struct text_index *ix, const char *s)
{
	size_t h = text_hash(s) & ix->mask;

	while (ix->slots[h]) {
		if (strcmp(ix->want[ix->slots[h] - 1], s) == 0)
			return ix->slots[h] - 1;
		h = (h + 1) & ix->mask;
	}
	return NONE;
}

/*
 * Mark in keep[] the entries of seq (want indexes, at have positions pos)
 * that form a longest strictly increasing run: the rules already in order.
 */
static void longest_run(const size_t *seq, const size_t *pos, size_t n,
			bool *keep)
{
	size_t *tail = cg_xmalloc((n + 1) * sizeof(*tail)); /* seq index */
	size_t *prev = cg_xmalloc((n + 1) * sizeof(*prev));
	size_t len = 0, i, k;

	for (i = 0; i < n; i++) {
		size_t lo = 0, hi = len;

		/* The first run end whose value is not below seq[i]. */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (seq[tail[mid]] < seq[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tail[lo - 1] : NONE;
		tail[lo] = i;
		if (lo == len)
			len++;
	}
	for (k = len ? tail[len - 1] : NONE; k != NONE; k = prev[k])
		keep[pos[k]] = true;
	free(tail);
	free(prev);
}

static struct ipt_op *add_op(struct ipt_plan *p, enum ipt_op_kind kind,
			     const char *spec)
{
	struct ipt_op *op;

	cg_grow(&p->ops, &p->cap, p->n + 1, sizeof(*p->ops));
	op = &p->ops[p->n++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->spec = spec;
	op->want = NONE;
	op->replaces = NONE;
	return op;
}

static const char *owner_of(const struct ipt_plan_in *in, const char *spec)
{
	const char *owner = ipt_rule_owner_in(in->table, spec);
	size_t i;

	for (i = 0; !owner && i < in->nignore; i++)
		if (strstr(spec, in->ignore[i]))
			owner = "ignore";
	return owner;
}

/* The gap (0..nkept) of unmanaged rules where place puts a rule. */
static size_t place_gap(const struct ipt_place *pl, const size_t *kept_at,
			const char *const *have, size_t nkept)
{
	size_t u;

	switch (pl->kind) {
	case IPT_PLACE_FIRST:
		return 0;
	case IPT_PLACE_LAST:
		return nkept;
	case IPT_PLACE_BEFORE:
		for (u = 0; u < nkept; u++)
			if (strstr(have[kept_at[u]], pl->anchor))
				return u;
		return nkept;
	default:
		return NONE;
	}
}

void ipt_plan_chain(const struct ipt_plan_in *in, struct ipt_plan *out)
{
	size_t m = in->nhave, n = in->nwant, i, j, len = 0, nseq = 0, nk = 0;
	size_t *wi = cg_xcalloc(m + 1, sizeof(*wi));   /* want index, or NONE */
	size_t *last = cg_xcalloc(n + 1, sizeof(*last)); /* last copy in have */
	size_t *seq = cg_xcalloc(m + 1, sizeof(*seq));
	size_t *seqpos = cg_xcalloc(m + 1, sizeof(*seqpos));
	bool *keep = cg_xcalloc(m + 1, sizeof(*keep));
	bool *purged = cg_xcalloc(m + 1, sizeof(*purged));
	size_t *list = cg_xcalloc(m + n + 1, sizeof(*list)); /* the chain */
	size_t *gap_of = cg_xcalloc(m + n + 1, sizeof(*gap_of)); /* of list */
	const char **lspec = cg_xcalloc(m + n + 1, sizeof(*lspec)); /* of list */
	size_t *at = cg_xcalloc(n + 1, sizeof(*at)); /* want -> list index */
	size_t *op_of = cg_xcalloc(n + 1, sizeof(*op_of));
	size_t *kept_at = cg_xcalloc(m + 1, sizeof(*kept_at)); /* have index */
	size_t *hgap = cg_xcalloc(m + 1, sizeof(*hgap)); /* gap of have[i] */
	size_t *pin = cg_xcalloc(n + 1, sizeof(*pin));   /* placed gap */
	size_t *tgap = cg_xcalloc(n + 1, sizeof(*tgap)); /* final gap */
	size_t *hi = cg_xcalloc(n + 2, sizeof(*hi));
	size_t first_kept = NONE, lo;
	struct text_index ix;

	memset(out, 0, sizeof(*out));
	index_build(&ix, in->want, n);
	for (j = 0; j < n; j++) {
		last[j] = NONE;
		at[j] = NONE;
		op_of[j] = NONE;
	}
	for (i = 0; i < m; i++) {
		wi[i] = index_get(&ix, in->have[i]);
		if (wi[i] != NONE)
			last[wi[i]] = i;
	}
	/* The rules that stay unmanaged, and the gaps between them. */
	for (i = 0; i < m; i++) {
		hgap[i] = nk;
		if (wi[i] != NONE)
			continue;
		if (!owner_of(in, in->have[i]) &&
		    (in->purge || (in->stale && in->stale[i])))
			purged[i] = true;
		else
			kept_at[nk++] = i;
	}
	/*
	 * Where each placed rule must be; the others may be anywhere
	 * between the placed ones around them (hi: the lowest gap placed
	 * after; lo: the highest before).
	 */
	for (j = 0; j < n; j++)
		pin[j] = in->place ? place_gap(&in->place[j], kept_at, in->have,
					       nk)
				   : NONE;
	hi[n] = nk;
	for (j = n; j-- > 0;)
		hi[j] = pin[j] != NONE && pin[j] < hi[j + 1] ? pin[j]
							     : hi[j + 1];
	/*
	 * Only the last copy of a managed rule may stay: iptables deletes the
	 * first match of a spec, so deleting the copies before it removes
	 * exactly those. And only one in its gap.
	 */
	lo = 0;
	for (j = 0; j < n; j++) {
		size_t h = last[j];

		tgap[j] = NONE;
		if (pin[j] != NONE && pin[j] > lo)
			lo = pin[j];
		if (h == NONE)
			continue;
		if (pin[j] != NONE ? hgap[h] == pin[j]
				   : hgap[h] >= lo && hgap[h] <= hi[j + 1])
			tgap[j] = hgap[h]; /* may stay */
	}
	for (i = 0; i < m; i++)
		if (wi[i] != NONE && last[wi[i]] == i && tgap[wi[i]] != NONE) {
			seq[nseq] = wi[i];
			seqpos[nseq++] = i;
		}
	longest_run(seq, seqpos, nseq, keep);

	for (i = 0; i < m; i++) {
		const char *owner;

		if (wi[i] != NONE) {
			if (keep[i]) {
				at[wi[i]] = len;
				gap_of[len] = hgap[i];
				lspec[len] = in->have[i];
				list[len++] = wi[i];
			} else {
				add_op(out, IPT_OP_DELETE, in->have[i])->at = i + 1;
			}
			continue;
		}
		owner = owner_of(in, in->have[i]);
		if (purged[i]) {
			struct ipt_op *op = add_op(out, IPT_OP_DELETE,
						   in->have[i]);

			op->at = i + 1;
			op->stale = in->stale && in->stale[i];
			continue;
		}
		cg_grow(&out->kept, &out->capkept, out->nkept + 1,
			sizeof(*out->kept));
		out->kept[out->nkept].spec = in->have[i];
		out->kept[out->nkept++].owner = owner;
		/* An unmanaged rule ends its gap: the next one starts. */
		gap_of[len] = hgap[i];
		lspec[len] = in->have[i];
		list[len++] = NONE;
	}
	for (j = 0; j < n && first_kept == NONE; j++)
		if (at[j] != NONE)
			first_kept = j;

	/* The gap of each rule that goes in: its place, or its neighbours'. */
	lo = 0;
	for (j = 0; j < n; j++) {
		size_t g;

		if (at[j] != NONE) {
			g = gap_of[at[j]];
		} else if (pin[j] != NONE) {
			g = pin[j];
		} else if (in->replaces && in->replaces[j] != NONE &&
			   in->replaces[j] < m) {
			g = hgap[in->replaces[j]]; /* where the old one was */
		} else if (j > 0) {
			g = tgap[j - 1];
		} else {
			g = first_kept != NONE ? gap_of[at[first_kept]] : nk;
			if (g > hi[1])
				g = hi[1];
		}
		if (g < lo)
			g = lo; /* order wins */
		tgap[j] = lo = g;
	}

	for (j = 0; j < n; j++) {
		size_t k, q, g = tgap[j];
		struct ipt_op *op;

		if (at[j] != NONE)
			continue;
		/*
		 * In gap g: after the rules of the gaps before it, and after
		 * the managed rules of g declared before it.
		 */
		for (k = 0; k < len; k++) {
			if (list[k] == NONE) {
				if (gap_of[k] >= g)
					break;
				continue;
			}
			if (gap_of[k] > g || (gap_of[k] == g && list[k] > j))
				break;
		}
		op = add_op(out, k == len ? IPT_OP_APPEND : IPT_OP_INSERT,
			    in->want[j]);
		op->pos = k + 1;
		op->want = j;
		if (in->replaces && in->replaces[j] < m)
			op->replaces = in->replaces[j];
		op_of[j] = out->n - 1;
		memmove(&list[k + 1], &list[k], (len - k) * sizeof(*list));
		memmove(&gap_of[k + 1], &gap_of[k], (len - k) * sizeof(*gap_of));
		memmove(&lspec[k + 1], &lspec[k], (len - k) * sizeof(*lspec));
		lspec[k] = in->want[j];
		list[k] = j;
		gap_of[k] = g;
		len++;
		for (q = 0; q < n; q++)
			if (at[q] != NONE && at[q] >= k)
				at[q]++;
		at[j] = k;
	}
	for (j = 0; j < n; j++)
		if (op_of[j] != NONE)
			out->ops[op_of[j]].at = at[j] + 1;
	out->final = lspec;
	out->final_want = list;
	out->nfinal = len;
	lspec = NULL;
	list = NULL;

	free(ix.slots);
	free(wi);
	free(last);
	free(seq);
	free(seqpos);
	free(keep);
	free(purged);
	free(list);
	free(gap_of);
	free(at);
	free(op_of);
	free(kept_at);
	free(hgap);
	free(pin);
	free(tgap);
	free(hi);
	free(lspec);
}

void ipt_plan_release(struct ipt_plan *p)
{
	if (!p)
		return;
	free(p->ops);
	free(p->kept);
	free(p->final);
	free(p->final_want);
	memset(p, 0, sizeof(*p));
}
