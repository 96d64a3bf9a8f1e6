/* diff.c: line diff (Myers' O(ND) greedy algorithm) printed as unified diff. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cg/diff.h"

#define MAX_EDITS 2000

struct line {
	const char *p;
	size_t len; /* including the newline, if any */
	uint64_t h;
};

static struct line *split(const char *s, size_t len, size_t *n_out)
{
	struct line *v = NULL;
	size_t n = 0, cap = 0, i = 0;

	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (s + i)) + 1 : len - i;
		uint64_t h = 1469598103934665603u;
		size_t k;

		for (k = 0; k < l; k++)
			h = (h ^ (unsigned char)s[i + k]) * 1099511628211u;
		cg_grow(&v, &cap, n + 1, sizeof(*v));
		v[n].p = s + i;
		v[n].len = l;
		v[n].h = h;
		n++;
		i += l;
	}
	*n_out = n;
	return v;
}

static int same(const struct line *x, const struct line *y)
{
	return x->h == y->h && x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

enum op { EQ, DEL, INS };

struct edit {
	enum op op;
	size_t ai, bi; /* line indexes in a and b */
};

struct script {
	struct edit *e;
	size_t n, cap;
};

static void push(struct script *s, enum op op, size_t ai, size_t bi)
{
	cg_grow(&s->e, &s->cap, s->n + 1, sizeof(*s->e));
	s->e[s->n].op = op;
	s->e[s->n].ai = ai;
	s->e[s->n].bi = bi;
	s->n++;
}

/*
 * Myers on a[0..n) and b[0..m), appending the script for that region with
 * indexes offset by off_a/off_b. Returns -1 when more than MAX_EDITS
 * edits would be needed.
 */
static int myers(const struct line *a, size_t n, const struct line *b,
		 size_t m, size_t off_a, size_t off_b, struct script *out)
{
	long max = (long)(n + m), d, k, limit;
	long **trace;
	long *v;
	long x, y;
	struct edit *rev = NULL;
	size_t nrev = 0, caprev = 0, i;
	int rc = -1;

	limit = max < MAX_EDITS ? max : MAX_EDITS;
	trace = cg_xcalloc((size_t)limit + 1, sizeof(*trace));
	v = cg_xcalloc(2 * (size_t)limit + 3, sizeof(*v));
	v += limit + 1; /* v[k] for k in [-limit-1, limit+1] */
	for (d = 0; d <= limit; d++) {
		for (k = -d; k <= d; k += 2) {
			if (k == -d || (k != d && v[k - 1] < v[k + 1]))
				x = v[k + 1];
			else
				x = v[k - 1] + 1;
			y = x - k;
			while (x < (long)n && y < (long)m &&
			       same(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[k] = x;
			if (x >= (long)n && y >= (long)m)
				goto found;
		}
		trace[d] = cg_xmalloc((2 * (size_t)d + 1) * sizeof(long));
		memcpy(trace[d], v - d, (2 * (size_t)d + 1) * sizeof(long));
	}
	goto out;

found:
	/* Walk back from (n, m) through the saved frontiers. */
	x = (long)n;
	y = (long)m;
	for (; d > 0; d--) {
		long *pv = trace[d - 1] + (d - 1); /* pv[k], k in [-(d-1), d-1] */
		long pk, px, py;

		k = x - y;
		if (k == -d || (k != d && pv[k - 1] < pv[k + 1]))
			pk = k + 1;
		else
			pk = k - 1;
		px = pv[pk];
		py = px - pk;
		while (x > px && y > py) {
			cg_grow(&rev, &caprev, nrev + 1, sizeof(*rev));
			rev[nrev++] = (struct edit){ EQ, (size_t)(x - 1),
						     (size_t)(y - 1) };
			x--;
			y--;
		}
		cg_grow(&rev, &caprev, nrev + 1, sizeof(*rev));
		if (pk == k + 1)
			rev[nrev++] = (struct edit){ INS, (size_t)x,
						     (size_t)(y - 1) };
		else
			rev[nrev++] = (struct edit){ DEL, (size_t)(x - 1),
						     (size_t)y };
		x = px;
		y = py;
	}
	while (x > 0 && y > 0) {
		cg_grow(&rev, &caprev, nrev + 1, sizeof(*rev));
		rev[nrev++] = (struct edit){ EQ, (size_t)(x - 1), (size_t)(y - 1) };
		x--;
		y--;
	}
	for (i = nrev; i > 0; i--)
		push(out, rev[i - 1].op, rev[i - 1].ai + off_a,
		     rev[i - 1].bi + off_b);
	rc = 0;
out:
	for (d = 0; d <= limit; d++)
		free(trace[d]);
	free(trace);
	free(v - (limit + 1));
	free(rev);
	return rc;
}

static void emit_line(struct cg_buf *out, char mark, const struct line *l)
{
	cg_buf_addch(out, mark);
	cg_buf_add(out, l->p, l->len);
	if (l->len == 0 || l->p[l->len - 1] != '\n')
		cg_buf_addstr(out, "\n\\ No newline at end of file\n");
}

static void range(struct cg_buf *out, char c, size_t start, size_t count)
{
	if (count == 1)
		cg_buf_addf(out, "%c%zu", c, start + 1);
	else
		cg_buf_addf(out, "%c%zu,%zu", c, count ? start + 1 : start,
			    count);
}

void cg_diff_unified(const char *a, size_t alen, const char *b, size_t blen,
		     const char *label_a, const char *label_b, unsigned context,
		     struct cg_buf *out)
{
	struct line *la, *lb;
	size_t na, nb, pre = 0, suf = 0, i, j;
	struct script s = { 0 };

	if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
		return;
	la = split(a, alen, &na);
	lb = split(b, blen, &nb);
	while (pre < na && pre < nb && same(&la[pre], &lb[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre &&
	       same(&la[na - 1 - suf], &lb[nb - 1 - suf]))
		suf++;
	for (i = 0; i < pre; i++)
		push(&s, EQ, i, i);
	if (myers(la + pre, na - pre - suf, lb + pre, nb - pre - suf, pre, pre,
		  &s) < 0) {
		/* Too different to be worth the search: replace it all. */
		for (i = pre; i < na - suf; i++)
			push(&s, DEL, i, pre);
		for (j = pre; j < nb - suf; j++)
			push(&s, INS, na - suf, j);
	}
	for (i = 0; i < suf; i++)
		push(&s, EQ, na - suf + i, nb - suf + i);

	cg_buf_addf(out, "--- %s\n+++ %s\n", label_a, label_b);
	i = 0;
	while (i < s.n) {
		size_t start, end, k, acount = 0, bcount = 0;

		while (i < s.n && s.e[i].op == EQ)
			i++;
		if (i == s.n)
			break;
		start = i > context ? i - context : 0;
		/* Extend while the next change is within 2*context lines. */
		end = i;
		for (;;) {
			size_t eq = 0;

			while (end < s.n && s.e[end].op != EQ)
				end++;
			k = end;
			while (k < s.n && s.e[k].op == EQ && eq <= 2 * context) {
				k++;
				eq++;
			}
			if (k < s.n && s.e[k].op != EQ && eq <= 2 * context) {
				end = k;
				continue;
			}
			end = end + context < s.n ? end + context : s.n;
			break;
		}
		for (k = start; k < end; k++) {
			if (s.e[k].op != INS)
				acount++;
			if (s.e[k].op != DEL)
				bcount++;
		}
		cg_buf_addstr(out, "@@ ");
		range(out, '-', s.e[start].ai, acount);
		cg_buf_addch(out, ' ');
		range(out, '+', s.e[start].bi, bcount);
		cg_buf_addstr(out, " @@\n");
		for (k = start; k < end; k++) {
			if (s.e[k].op == EQ)
				emit_line(out, ' ', &la[s.e[k].ai]);
			else if (s.e[k].op == DEL)
				emit_line(out, '-', &la[s.e[k].ai]);
			else
				emit_line(out, '+', &lb[s.e[k].bi]);
		}
		i = end;
	}
	free(s.e);
	free(la);
	free(lb);
}
