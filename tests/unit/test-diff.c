/* test-diff.c: unified diffs, checked against GNU diff and by applying them. */
#include <stdint.h>
#include <stdlib.h>

#include "cg/diff.h"
#include "tap.h"

struct diff_case {
	const char *name, *a, *b;
	unsigned context;
	const char *want; /* what `diff -U context --label a --label b` prints */
};

/* Generated with GNU diffutils 3.8: diff -U N --label a --label b A B */
static const struct diff_case cases[] = {
	{ "one-line change",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -2,7 +2,7 @@\n"
	  " b\n"
	  " c\n"
	  " d\n"
	  "-e\n"
	  "+E\n"
	  " f\n"
	  " g\n"
	  " h\n" },
	{ "insertion at the start",
	  "a\nb\nc\nd\ne\n",
	  "new\na\nb\nc\nd\ne\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,3 +1,4 @@\n"
	  "+new\n"
	  " a\n"
	  " b\n"
	  " c\n" },
	{ "insertion at the end",
	  "a\nb\nc\nd\ne\n",
	  "a\nb\nc\nd\ne\nnew\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -3,3 +3,4 @@\n"
	  " c\n"
	  " d\n"
	  " e\n"
	  "+new\n" },
	{ "insertion in the middle",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nc\nd\ne\nnew1\nnew2\nf\ng\nh\ni\nj\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -3,6 +3,8 @@\n"
	  " c\n"
	  " d\n"
	  " e\n"
	  "+new1\n"
	  "+new2\n"
	  " f\n"
	  " g\n"
	  " h\n" },
	{ "deletion of everything",
	  "a\nb\nc\n",
	  "", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,3 +0,0 @@\n"
	  "-a\n"
	  "-b\n"
	  "-c\n" },
	{ "creation from nothing",
	  "",
	  "a\nb\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -0,0 +1,2 @@\n"
	  "+a\n"
	  "+b\n" },
	{ "deletion of one line",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nc\nd\ne\ng\nh\ni\nj\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -3,7 +3,6 @@\n"
	  " c\n"
	  " d\n"
	  " e\n"
	  "-f\n"
	  " g\n"
	  " h\n"
	  " i\n" },
	{ "first and last line changed",
	  "a\nb\nc\n",
	  "A\nb\nC\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,3 +1,3 @@\n"
	  "-a\n"
	  "+A\n"
	  " b\n"
	  "-c\n"
	  "+C\n" },
	{ "newline added at the end",
	  "a\nb",
	  "a\nb\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,2 +1,2 @@\n"
	  " a\n"
	  "-b\n"
	  "\\ No newline at end of file\n"
	  "+b\n" },
	{ "newline removed at the end",
	  "a\nb\n",
	  "a\nb", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,2 +1,2 @@\n"
	  " a\n"
	  "-b\n"
	  "+b\n"
	  "\\ No newline at end of file\n" },
	{ "last line changed, no newline on both",
	  "a\nb",
	  "a\nc", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,2 +1,2 @@\n"
	  " a\n"
	  "-b\n"
	  "\\ No newline at end of file\n"
	  "+c\n"
	  "\\ No newline at end of file\n" },
	{ "context line without newline",
	  "x\na\nb",
	  "y\na\nb", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,3 +1,3 @@\n"
	  "-x\n"
	  "+y\n"
	  " a\n"
	  " b\n"
	  "\\ No newline at end of file\n" },
	{ "one line, no newline",
	  "x",
	  "y", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1 +1 @@\n"
	  "-x\n"
	  "\\ No newline at end of file\n"
	  "+y\n"
	  "\\ No newline at end of file\n" },
	{ "nothing to a line without newline",
	  "",
	  "x", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -0,0 +1 @@\n"
	  "+x\n"
	  "\\ No newline at end of file\n" },
	{ "changes 6 apart make one hunk",
	  "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30\n",
	  "1\n2\n3\n4\n5\n6\n7\n8\n9\nX\n11\n12\n13\n14\n15\n16\nY\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -7,14 +7,14 @@\n"
	  " 7\n"
	  " 8\n"
	  " 9\n"
	  "-10\n"
	  "+X\n"
	  " 11\n"
	  " 12\n"
	  " 13\n"
	  " 14\n"
	  " 15\n"
	  " 16\n"
	  "-17\n"
	  "+Y\n"
	  " 18\n"
	  " 19\n"
	  " 20\n" },
	{ "changes 7 apart make two hunks",
	  "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30\n",
	  "1\n2\n3\n4\n5\n6\n7\n8\n9\nX\n11\n12\n13\n14\n15\n16\n17\nY\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -7,7 +7,7 @@\n"
	  " 7\n"
	  " 8\n"
	  " 9\n"
	  "-10\n"
	  "+X\n"
	  " 11\n"
	  " 12\n"
	  " 13\n"
	  "@@ -15,7 +15,7 @@\n"
	  " 15\n"
	  " 16\n"
	  " 17\n"
	  "-18\n"
	  "+Y\n"
	  " 19\n"
	  " 20\n"
	  " 21\n" },
	{ "context 0",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nC\nd\ne\nf\nG\nh\ni\nj\n", 0,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -3 +3 @@\n"
	  "-c\n"
	  "+C\n"
	  "@@ -7 +7 @@\n"
	  "-g\n"
	  "+G\n" },
	{ "context 0, pure insertion",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nc\nnew\nd\ne\nf\ng\nh\ni\nj\n", 0,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -3,0 +4 @@\n"
	  "+new\n" },
	{ "context 0, pure deletion",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nd\ne\nf\ng\nh\ni\nj\n", 0,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -3 +2,0 @@\n"
	  "-c\n" },
	{ "context 1, gap 2 merges",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nC\nd\ne\nF\ng\nh\ni\nj\n", 1,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -2,6 +2,6 @@\n"
	  " b\n"
	  "-c\n"
	  "+C\n"
	  " d\n"
	  " e\n"
	  "-f\n"
	  "+F\n"
	  " g\n" },
	{ "context 1, gap 3 splits",
	  "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
	  "a\nb\nC\nd\ne\nf\nG\nh\ni\nj\n", 1,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -2,3 +2,3 @@\n"
	  " b\n"
	  "-c\n"
	  "+C\n"
	  " d\n"
	  "@@ -6,3 +6,3 @@\n"
	  " f\n"
	  "-g\n"
	  "+G\n"
	  " h\n" },
	{ "mixed edits",
	  "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30\n",
	  "1\n2\n4\n5\n6\n7\n8\n9\n10\nnew\n11\n12\n114\n15\n16\n17\neighteen\n19\n20\n21\n22\n224\n25\n26\n27\n28\n29\n", 3,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,6 +1,5 @@\n"
	  " 1\n"
	  " 2\n"
	  "-3\n"
	  " 4\n"
	  " 5\n"
	  " 6\n"
	  "@@ -8,23 +7,21 @@\n"
	  " 8\n"
	  " 9\n"
	  " 10\n"
	  "+new\n"
	  " 11\n"
	  " 12\n"
	  "-13\n"
	  "-14\n"
	  "+114\n"
	  " 15\n"
	  " 16\n"
	  " 17\n"
	  "-18\n"
	  "+eighteen\n"
	  " 19\n"
	  " 20\n"
	  " 21\n"
	  " 22\n"
	  "-23\n"
	  "-24\n"
	  "+224\n"
	  " 25\n"
	  " 26\n"
	  " 27\n"
	  " 28\n"
	  " 29\n"
	  "-30\n" },
	{ "context larger than the file",
	  "a\nb\nc\n",
	  "a\nB\nc\n", 10,
	  "--- a\n"
	  "+++ b\n"
	  "@@ -1,3 +1,3 @@\n"
	  " a\n"
	  "-b\n"
	  "+B\n"
	  " c\n" },
};

static char *diff(const char *a, size_t alen, const char *b, size_t blen,
		  unsigned context)
{
	struct cg_buf out = { 0 };

	cg_diff_unified(a, alen, b, blen, "a", "b", context, &out);
	return cg_buf_detach(&out, NULL);
}

static void test_cases(void)
{
	size_t i;
	char *got;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		got = diff(cases[i].a, strlen(cases[i].a), cases[i].b,
			   strlen(cases[i].b), cases[i].context);
		tap_is_str(got, cases[i].want, cases[i].name);
		free(got);
	}
}

static void test_equal(void)
{
	struct cg_buf out = { 0 };

	cg_diff_unified("a\nb\n", 4, "a\nb\n", 4, "x", "y", 3, &out);
	tap_ok(out.len == 0, "equal texts give nothing");
	cg_diff_unified("", 0, "", 0, "x", "y", 3, &out);
	tap_ok(out.len == 0, "two empty texts give nothing");
	cg_diff_unified("a\nb", 3, "a\nbXYZ", 3, "x", "y", 3, &out);
	tap_ok(out.len == 0, "only alen/blen bytes are compared");
	cg_buf_addstr(&out, "kept");
	cg_diff_unified("a\n", 2, "b\n", 2, "old label", "new label", 3, &out);
	tap_is_str(out.data,
		   "kept--- old label\n+++ new label\n@@ -1 +1 @@\n-a\n+b\n",
		   "the diff is appended, with the labels given");
	cg_buf_release(&out);
}

/* --- applying a diff, strictly (no offset, no fuzz) ------------------ */

struct line {
	const char *p;
	size_t len; /* with the newline, if any */
};

static struct line *split_lines(const char *s, size_t len, size_t *n_out)
{
	struct line *v = cg_xcalloc(len + 1, sizeof(*v));
	size_t n = 0, i = 0;

	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (s + i)) + 1 : len - i;

		v[n].p = s + i;
		v[n].len = l;
		n++;
		i += l;
	}
	*n_out = n;
	return v;
}

struct hunk_line {
	char op;
	const char *p;
	size_t len;
};

/*
 * Apply the unified diff d to a, appending the result to out. Returns NULL
 * on success, else what is wrong with the diff. Besides applying it, this
 * checks what makes a good unified diff: header counts and starts, hunks
 * in order, `context` lines of context around the changes (fewer only at
 * the ends of the file), hunks merged when their changes are at most
 * 2*context lines apart and split when farther. *changed counts the - and
 * + lines.
 */
static const char *apply(const char *a, size_t alen, const char *d,
			 unsigned context, struct cg_buf *out, size_t *changed)
{
	struct line *la, *ld;
	struct hunk_line *h = NULL;
	size_t na, nd, i, apos = 0, outlines = 0, hcap = 0;
	size_t prev_end = 0; /* in a: just after the last change so far */
	bool first = true;
	const char *why = NULL;
	static const char nonl[] = "\\ No newline at end of file\n";

	*changed = 0;
	la = split_lines(a, alen, &na);
	ld = split_lines(d, strlen(d), &nd);
	cg_buf_add(out, "", 0);
	if (nd == 0)
		goto out_rest; /* no diff: b is a */
	if (nd < 3 || ld[0].len != 6 || memcmp(ld[0].p, "--- a\n", 6) != 0 ||
	    ld[1].len != 6 || memcmp(ld[1].p, "+++ b\n", 6) != 0) {
		why = "bad header";
		goto out;
	}
	i = 2;
	while (i < nd) {
		unsigned long as, ac = 1, bs, bc = 1;
		size_t nh = 0, k, lead, trail, run, start, olds = 0, news = 0;
		char *e;

		if (ld[i].len < 4 || memcmp(ld[i].p, "@@ -", 4) != 0) {
			why = "expected a hunk header";
			goto out;
		}
		as = strtoul(ld[i].p + 4, &e, 10);
		if (*e == ',')
			ac = strtoul(e + 1, &e, 10);
		if (strncmp(e, " +", 2) != 0) {
			why = "bad hunk header";
			goto out;
		}
		bs = strtoul(e + 2, &e, 10);
		if (*e == ',')
			bc = strtoul(e + 1, &e, 10);
		if (strncmp(e, " @@\n", 4) != 0) {
			why = "bad end of hunk header";
			goto out;
		}
		for (i++; i < nd && ld[i].p[0] != '@'; i++) {
			if (ld[i].p[0] == '\\') {
				/* Takes the newline off the line before. */
				if (nh == 0 || ld[i].len != strlen(nonl) ||
				    memcmp(ld[i].p, nonl, ld[i].len) != 0 ||
				    h[nh - 1].len == 0 ||
				    h[nh - 1].p[h[nh - 1].len - 1] != '\n') {
					why = "bad no-newline marker";
					goto out;
				}
				h[nh - 1].len--;
				continue;
			}
			if (!strchr(" -+", ld[i].p[0]) ||
			    ld[i].p[ld[i].len - 1] != '\n') {
				why = "bad line in a hunk";
				goto out;
			}
			cg_grow(&h, &hcap, nh + 1, sizeof(*h));
			h[nh].op = ld[i].p[0];
			h[nh].p = ld[i].p + 1;
			h[nh].len = ld[i].len - 1;
			nh++;
		}
		for (k = 0; k < nh; k++) {
			if (h[k].op != '+')
				olds++;
			if (h[k].op != '-')
				news++;
			if (h[k].op != ' ')
				(*changed)++;
		}
		if (olds != ac || news != bc) {
			why = "hunk counts do not match its header";
			goto out;
		}
		for (lead = 0; lead < nh && h[lead].op == ' '; lead++)
			;
		for (trail = 0; trail < nh && h[nh - 1 - trail].op == ' ';
		     trail++)
			;
		if (lead == nh) {
			why = "a hunk without changes";
			goto out;
		}
		/* An empty side names the line before the hunk. */
		start = ac ? as - 1 : as;
		if (start < apos || start > na) {
			why = "hunks out of order or past the end";
			goto out;
		}
		if (!first && start + lead - prev_end <= 2 * context) {
			why = "hunks this close should have been merged";
			goto out;
		}
		for (; apos < start; apos++, outlines++)
			cg_buf_add(out, la[apos].p, la[apos].len);
		if ((bc ? bs - 1 : bs) != outlines) {
			why = "new start does not match";
			goto out;
		}
		for (k = 0; k < nh; k++) {
			if (h[k].op == '+') {
				cg_buf_add(out, h[k].p, h[k].len);
				outlines++;
				continue;
			}
			if (apos >= na || la[apos].len != h[k].len ||
			    memcmp(la[apos].p, h[k].p, h[k].len) != 0) {
				why = "context or deleted line does not match";
				goto out;
			}
			if (h[k].op == ' ') {
				cg_buf_add(out, h[k].p, h[k].len);
				outlines++;
			}
			apos++;
		}
		if (lead > context || (lead < context && start != 0)) {
			why = "wrong leading context";
			goto out;
		}
		if (trail > context || (trail < context && apos != na)) {
			why = "wrong trailing context";
			goto out;
		}
		for (k = lead, run = 0; k < nh - trail; k++) {
			run = h[k].op == ' ' ? run + 1 : 0;
			if (run > 2 * context) {
				why = "hunk should have been split";
				goto out;
			}
		}
		prev_end = apos - trail;
		first = false;
	}
out_rest:
	for (; apos < na; apos++)
		cg_buf_add(out, la[apos].p, la[apos].len);
out:
	free(h);
	free(la);
	free(ld);
	return why;
}

/* Lines in a longest common subsequence: a minimal diff changes the rest. */
static size_t lcs(const char *a, size_t alen, const char *b, size_t blen)
{
	struct line *la, *lb;
	size_t na, nb, i, j, *prev, *cur, *tmp, r;

	la = split_lines(a, alen, &na);
	lb = split_lines(b, blen, &nb);
	prev = cg_xcalloc(nb + 1, sizeof(*prev));
	cur = cg_xcalloc(nb + 1, sizeof(*cur));
	for (i = 1; i <= na; i++) {
		for (j = 1; j <= nb; j++) {
			if (la[i - 1].len == lb[j - 1].len &&
			    memcmp(la[i - 1].p, lb[j - 1].p, la[i - 1].len) == 0)
				cur[j] = prev[j - 1] + 1;
			else
				cur[j] = prev[j] > cur[j - 1] ? prev[j]
							      : cur[j - 1];
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	r = prev[nb];
	free(prev);
	free(cur);
	free(la);
	free(lb);
	return r;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16) % n;
}

/* nlines lines drawn from vocab words; the last may lack its newline. */
static void gen_text(struct cg_buf *t, size_t nlines, uint32_t vocab)
{
	size_t i;

	for (i = 0; i < nlines; i++)
		cg_buf_addf(t, "line %u\n", rnd(vocab));
	if (nlines && rnd(3) == 0)
		t->data[--t->len] = '\0';
}

/* b from a: each line kept, dropped, replaced or preceded by a new one. */
static void mutate(struct cg_buf *b, const char *a, size_t alen,
		   uint32_t percent, uint32_t vocab)
{
	struct line *la;
	size_t na, i;

	la = split_lines(a, alen, &na);
	cg_buf_add(b, "", 0);
	for (i = 0; i < na; i++) {
		if (rnd(100) >= percent) {
			cg_buf_add(b, la[i].p, la[i].len);
			continue;
		}
		switch (rnd(3)) {
		case 0: /* dropped */
			break;
		case 1: /* replaced */
			cg_buf_addf(b, "new %u\n", rnd(vocab));
			break;
		default: /* a line inserted before */
			cg_buf_addf(b, "new %u\n", rnd(vocab));
			cg_buf_add(b, la[i].p, la[i].len);
			break;
		}
	}
	if (rnd(100) < percent)
		cg_buf_addf(b, "tail %u\n", rnd(vocab));
	/* Sometimes toggle the newline at the very end. */
	if (b->len && rnd(4) == 0) {
		if (b->data[b->len - 1] == '\n')
			b->data[--b->len] = '\0';
		else
			cg_buf_addch(b, '\n');
	}
	free(la);
}

/*
 * Diff a and b, apply the diff to a, and check the result is b. With
 * minimal, also check that no shorter diff exists. Returns the number of
 * changed lines, or (size_t)-1 on failure.
 */
static size_t check_pair(const char *a, size_t alen, const char *b,
			 size_t blen, unsigned context, bool minimal,
			 const char *name)
{
	struct cg_buf out = { 0 };
	const char *why;
	char *d = diff(a, alen, b, blen, context);
	size_t changed = 0, na, nb, common;
	bool ok;

	why = apply(a, alen, d, context, &out, &changed);
	ok = why == NULL && out.len == blen && memcmp(out.data, b, blen) == 0;
	if (ok && minimal) {
		free(split_lines(a, alen, &na));
		free(split_lines(b, blen, &nb));
		common = lcs(a, alen, b, blen);
		if (changed != na + nb - 2 * common) {
			printf("# %s: %zu changed lines, minimal is %zu\n", name,
			       changed, na + nb - 2 * common);
			ok = false;
		}
	}
	if (!ok) {
		printf("# %s: %s (context %u)\n", name,
		       why ? why : "applied, but the result differs from b",
		       context);
		if (strlen(d) < 600)
			printf("# diff was:\n%s", d);
	}
	cg_buf_release(&out);
	free(d);
	return ok ? changed : (size_t)-1;
}

static void test_random(void)
{
	struct cg_buf a = { 0 }, b = { 0 };
	int i, bad = 0;
	char name[64];

	for (i = 0; i < 500; i++) {
		size_t n = rnd(4) == 0 ? rnd(4) : rnd(80);
		uint32_t vocab = 1 + rnd(i % 2 ? 6 : 200);

		cg_buf_reset(&a);
		cg_buf_reset(&b);
		gen_text(&a, n, vocab);
		cg_buf_add(&a, "", 0);
		mutate(&b, a.data, a.len, rnd(60), vocab);
		snprintf(name, sizeof(name), "small case %d", i);
		if (check_pair(a.data, a.len, b.data, b.len, rnd(6), true,
			       name) == (size_t)-1)
			bad++;
	}
	tap_is_int(bad, 0,
		   "500 small random pairs: each diff applies, and is minimal");

	bad = 0;
	for (i = 0; i < 20; i++) {
		cg_buf_reset(&a);
		cg_buf_reset(&b);
		gen_text(&a, 400 + rnd(400), 1 + rnd(i % 2 ? 20 : 100000));
		mutate(&b, a.data, a.len, 1 + rnd(30), 1000);
		snprintf(name, sizeof(name), "medium case %d", i);
		if (check_pair(a.data, a.len, b.data, b.len, 3, true, name) ==
		    (size_t)-1)
			bad++;
	}
	tap_is_int(bad, 0,
		   "20 medium random pairs: each diff applies, and is minimal");
	cg_buf_release(&a);
	cg_buf_release(&b);
}

static void test_large(void)
{
	struct cg_buf a = { 0 }, b = { 0 };
	uint64_t t0;
	size_t i, changed;

	/* 20000 lines, a few hundred edits: the search finishes. */
	gen_text(&a, 20000, 1000000);
	cg_buf_add(&a, "", 0);
	mutate(&b, a.data, a.len, 1, 1000000);
	t0 = cg_now_ns();
	changed = check_pair(a.data, a.len, b.data, b.len, 3, false,
			     "large, few edits");
	tap_ok(changed != (size_t)-1 && changed > 100 && changed < 2000,
	       "large text, few edits: the diff applies");
	tap_ok(cg_now_ns() - t0 < 5000000000u,
	       "large text, few edits: under 5 seconds");

	/* 20000 lines, a third of them edited: beyond the edit limit. */
	cg_buf_reset(&b);
	mutate(&b, a.data, a.len, 33, 1000000);
	t0 = cg_now_ns();
	changed = check_pair(a.data, a.len, b.data, b.len, 3, false,
			     "large, many edits");
	tap_ok(changed != (size_t)-1 && changed > 4000,
	       "large text, many edits: the fallback diff applies");
	tap_ok(cg_now_ns() - t0 < 5000000000u,
	       "large text, many edits: under 5 seconds");

	/*
	 * Every other line of 6000 changed, the last one kept: a minimal
	 * diff needs 6000 edits, so the whole middle is replaced (5999 lines
	 * out, 5999 in), and that must still be a correct diff.
	 */
	cg_buf_reset(&a);
	cg_buf_reset(&b);
	for (i = 0; i < 6000; i++) {
		cg_buf_addf(&a, "x%zu\n", i);
		cg_buf_addf(&b, i % 2 ? "x%zu\n" : "y%zu\n", i);
	}
	changed = check_pair(a.data, a.len, b.data, b.len, 3, false,
			     "interleaved");
	tap_is_int((long long)changed, 2 * 5999,
		   "over the edit limit: whole replacement, correct diff");
	for (i = 0; i < 5; i++) {
		unsigned ctx = (unsigned)i;

		changed = check_pair(a.data, a.len, b.data, b.len, ctx, false,
				     "interleaved, other context");
		tap_ok(changed == 2 * 5999, "over the edit limit: any context");
	}

	/* Around the limit: 2000 edits are searched, more are replaced. */
	for (i = 999; i <= 1001; i++) {
		size_t k;
		char name[64];

		cg_buf_reset(&a);
		cg_buf_reset(&b);
		cg_buf_addstr(&a, "head\n");
		cg_buf_addstr(&b, "head\n");
		for (k = 0; k < i; k++) {
			cg_buf_addf(&a, "a%zu\nsame\n", k);
			cg_buf_addf(&b, "b%zu\nsame\n", k);
		}
		snprintf(name, sizeof(name), "%zu edits", 2 * i);
		changed = check_pair(a.data, a.len, b.data, b.len, 1, false,
				     name);
		tap_ok(changed != (size_t)-1, name);
		if (i < 1001)
			tap_is_int((long long)changed, (long long)(2 * i),
				   "at the edit limit: still minimal");
	}

	/* Completely different texts, without trailing newlines. */
	cg_buf_reset(&a);
	cg_buf_reset(&b);
	for (i = 0; i < 3000; i++) {
		cg_buf_addf(&a, "%sa%zu", i ? "\n" : "", i);
		cg_buf_addf(&b, "%sb%zu", i ? "\n" : "", i);
	}
	changed = check_pair(a.data, a.len, b.data, b.len, 3, false,
			     "all different");
	tap_is_int((long long)changed, 6000,
		   "all 3000 lines different: one correct hunk");
	cg_buf_release(&a);
	cg_buf_release(&b);
}

int main(void)
{
	test_cases();
	test_equal();
	test_random();
	test_large();
	return tap_done();
}
