/* compactsig.c: fleet compact's rewritten report commits, and the signed originals rebuilt from them. */
#include <string.h>

#include "cg/compactsig.h"
#include "cg/sshsig.h"

/* One header of a raw commit: its first line and continuation lines. */
struct field {
	const char *p; /* borrowed: the name's first byte */
	size_t len;    /* through the last line's newline */
};

/* The header named name, followed by a space? */
static bool field_is(const struct field *f, const char *name)
{
	size_t n = strlen(name);

	return f->len > n && memcmp(f->p, name, n) == 0 && f->p[n] == ' ';
}

/*
 * The next header at *pos, or false at the blank line ending the header
 * (*pos then at it) or at the end of the object.
 */
static bool next_field(const char *c, size_t len, size_t *pos,
		       struct field *out)
{
	size_t at = *pos;

	if (at >= len || c[at] == '\n')
		return false;
	out->p = c + at;
	do {
		const char *nl = memchr(c + at, '\n', len - at);

		at = nl ? (size_t)(nl - c) + 1 : len;
	} while (at < len && c[at] == ' ');
	out->len = (size_t)(c + at - out->p);
	*pos = at;
	return true;
}

static bool is_oid_hex(const char *s, size_t n)
{
	size_t i;

	if (n != 40)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A field ending without a newline (the object's end) gets one. */
static void add_field(struct cg_buf *b, const char *p, size_t n)
{
	cg_buf_add(b, p, n);
	if (!n || p[n - 1] != '\n')
		cg_buf_addch(b, '\n');
}

int cg_compact_rewrite(const char *commit, size_t len, const char *parent,
		       struct cg_buf *out, struct cg_error *err)
{
	struct cg_buf b = { 0 }, parents = { 0 };
	struct field f, sig = { 0 };
	size_t pos = 0, nsig = 0;
	bool compacted = false;

	/* First pass: is it signed, or rewritten already? */
	while (next_field(commit, len, &pos, &f)) {
		if (field_is(&f, "gpgsig")) {
			sig = f;
			nsig++;
		} else if (field_is(&f, CG_COMPACT_GPGSIG)) {
			compacted = true;
		} else if (field_is(&f, "parent")) {
			cg_buf_addstr(&parents, CG_COMPACT_PARENT);
			cg_buf_add(&parents, f.p + 6, f.len - 6);
		}
	}
	pos = 0;
	if (!next_field(commit, len, &pos, &f) || !field_is(&f, "tree") ||
	    nsig > 1) {
		cg_buf_release(&parents);
		return cg_error_set(err, CG_ERR, "not a commit git or "
				    "congruent writes (%s)",
				    nsig > 1 ? "two gpgsig headers"
					     : "no tree first");
	}
	/* A signed one that is rewritten already is no host's. */
	if (compacted)
		nsig = 0;
	add_field(&b, f.p, f.len);
	if (parent)
		cg_buf_addf(&b, "parent %s\n", parent);
	while (next_field(commit, len, &pos, &f)) {
		if (field_is(&f, "parent") || (nsig && f.p == sig.p))
			continue;
		add_field(&b, f.p, f.len);
	}
	if (nsig) {
		/* each ends with a newline: author follows parents */
		cg_buf_add(&b, parents.data, parents.len);
		cg_buf_addstr(&b, CG_COMPACT_GPGSIG);
		add_field(&b, sig.p + 6, sig.len - 6);
	}
	/* The blank line and the message, as they were. */
	cg_buf_add(&b, commit + pos, len - pos);
	cg_buf_release(&parents);
	cg_buf_add(out, b.data, b.len);
	cg_buf_release(&b);
	return 0;
}

int cg_compact_original(const char *commit, size_t len, struct cg_buf *out,
			struct cg_error *err)
{
	struct cg_buf b = { 0 };
	struct field f, tree = { 0 }, sig = { 0 };
	size_t pos = 0, nsig = 0, own = 0;
	int rc = 1;

	while (next_field(commit, len, &pos, &f)) {
		if (field_is(&f, CG_COMPACT_GPGSIG)) {
			sig = f;
			nsig++;
		} else if (field_is(&f, "gpgsig")) {
			own++;
		}
	}
	if (!nsig)
		return 0;
	if (nsig > 1 || own)
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "a compacted commit with %s",
				    own ? "a signature of its own"
					: "two original signatures");
	pos = 0;
	if (!next_field(commit, len, &pos, &tree) || !field_is(&tree, "tree"))
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "a compacted commit not starting with "
				    "its tree");
	add_field(&b, tree.p, tree.len);
	/* The original parents, in order, where git puts parents. */
	while (next_field(commit, len, &pos, &f)) {
		size_t n = strlen(CG_COMPACT_PARENT) + 1, v;

		if (!field_is(&f, CG_COMPACT_PARENT))
			continue;
		v = f.len - n - (f.p[f.len - 1] == '\n');
		if (!is_oid_hex(f.p + n, v)) {
			rc = cg_error_set(err, CG_SSHSIG_EMALFORMED,
					  "a compacted commit whose original "
					  "parent is not an object id");
			goto out;
		}
		cg_buf_addstr(&b, "parent ");
		add_field(&b, f.p + n, f.len - n);
	}
	pos = 0;
	next_field(commit, len, &pos, &f);
	while (next_field(commit, len, &pos, &f)) {
		if (field_is(&f, "parent") || field_is(&f, CG_COMPACT_PARENT) ||
		    f.p == sig.p)
			continue;
		add_field(&b, f.p, f.len);
	}
	cg_buf_addstr(&b, "gpgsig");
	add_field(&b, sig.p + strlen(CG_COMPACT_GPGSIG),
		  sig.len - strlen(CG_COMPACT_GPGSIG));
	cg_buf_add(&b, commit + pos, len - pos);
	cg_buf_add(out, b.data, b.len);
out:
	cg_buf_release(&b);
	return rc;
}
