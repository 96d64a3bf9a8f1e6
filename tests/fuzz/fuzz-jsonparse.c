/* fuzz-jsonparse.c: a libFuzzer target for the JSON reader of reports. */
/*
 * The limits are fleet's for report.json; every value is then read back
 * through the accessors fleet uses, so that an index the parser got wrong
 * shows up as an out-of-bounds read. Then the document is written again
 * with the JSON writer reports are written with (json.c) and read back:
 * it must come out the same (a number that is not an integer as null,
 * since the writer has none), or a report the agent wrote could be one
 * fleet cannot read.
 */
#include <stdint.h>
#include <string.h>

#include "cg/json.h"
#include "cg/jsonparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void visit(const struct cg_jdoc *doc, const struct cg_jnode *v,
		  size_t *seen)
{
	const struct cg_jnode *c;
	const char *s;
	size_t k = 0;
	int64_t i;
	bool b;

	/* Iterative in the parser, recursive here: depth is at most 16. */
	for (c = cg_jnode_first(doc, v); c; c = cg_jnode_next(doc, c)) {
		(*seen)++;
		s = cg_jnode_key(doc, c);
		/* A lookup is linear: only the first members, or it is slow. */
		if (cg_jnode_is(v, CG_JOBJ) && k++ < 64 &&
		    cg_jnode_get(doc, v, s) == NULL)
			__builtin_trap(); /* a key that finds nothing */
		s = cg_jnode_str(doc, c);
		if (s && strlen(s) != c->n)
			__builtin_trap(); /* a string with a NUL in it */
		(void)cg_jnode_int(c, &i);
		(void)cg_jnode_bool(c, &b);
		visit(doc, c, seen);
	}
}

static void write_value(struct cg_json *j, const struct cg_jdoc *doc,
			const struct cg_jnode *v)
{
	const struct cg_jnode *c;

	switch (v->type) {
	case CG_JARR:
	case CG_JOBJ:
		if (v->type == CG_JARR)
			cg_json_arr_begin(j);
		else
			cg_json_obj_begin(j);
		for (c = cg_jnode_first(doc, v); c; c = cg_jnode_next(doc, c)) {
			if (v->type == CG_JOBJ)
				cg_json_key(j, cg_jnode_key(doc, c));
			write_value(j, doc, c);
		}
		if (v->type == CG_JARR)
			cg_json_arr_end(j);
		else
			cg_json_obj_end(j);
		break;
	case CG_JSTR:
		cg_json_strn(j, cg_jnode_str(doc, v), v->n);
		break;
	case CG_JNUM:
		if (v->is_int)
			cg_json_int(j, v->i);
		else
			cg_json_null(j);
		break;
	case CG_JBOOL:
		cg_json_bool(j, v->b);
		break;
	default:
		cg_json_null(j);
		break;
	}
}

/* Do a (read) and b (written and read again) hold the same data? */
static bool same(const struct cg_jdoc *da, const struct cg_jnode *a,
		 const struct cg_jdoc *db, const struct cg_jnode *b)
{
	const struct cg_jnode *x, *y;

	if (a->type == CG_JNUM && !a->is_int)
		return b->type == CG_JNULL;
	if (a->type != b->type || a->n != b->n)
		return false;
	switch (a->type) {
	case CG_JSTR:
		return memcmp(cg_jnode_str(da, a), cg_jnode_str(db, b), a->n) == 0;
	case CG_JNUM:
		return b->is_int && a->i == b->i;
	case CG_JBOOL:
		return a->b == b->b;
	case CG_JARR:
	case CG_JOBJ:
		for (x = cg_jnode_first(da, a), y = cg_jnode_first(db, b); x && y;
		     x = cg_jnode_next(da, x), y = cg_jnode_next(db, y))
			if (strcmp(cg_jnode_key(da, x), cg_jnode_key(db, y)) != 0 ||
			    !same(da, x, db, y))
				return false;
		return !x && !y;
	default:
		return true;
	}
}

static void round_trip(const struct cg_jdoc *doc, const struct cg_jlimits *lim)
{
	struct cg_buf text = { 0 };
	struct cg_jdoc again = { 0 };
	struct cg_jlimits big = *lim;
	struct cg_error err;
	struct cg_json j;

	cg_json_init(&j, &text, false);
	write_value(&j, doc, cg_jdoc_root(doc));
	/* Escapes may make the text longer than what was read. */
	big.max_bytes = text.len + 1;
	if (cg_jdoc_parse(&again, text.data, text.len, &big, &err) < 0 ||
	    !same(doc, cg_jdoc_root(doc), &again, cg_jdoc_root(&again)))
		__builtin_trap();
	cg_jdoc_release(&again);
	cg_buf_release(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cg_jlimits lim = { .max_bytes = 1u << 20,
				  .max_depth = 16,
				  .max_nodes = 200000,
				  .max_string = 8192 };
	struct cg_jdoc doc = { 0 };
	struct cg_error err;
	const struct cg_jnode *root;
	size_t seen = 0;
	int64_t i;

	if (cg_jdoc_parse(&doc, (const char *)data, size, &lim, &err) < 0) {
		if (doc.nodes || doc.strs)
			__builtin_trap(); /* a failed parse leaves nothing */
		return 0;
	}
	root = cg_jdoc_root(&doc);
	(void)cg_jnode_get_str(&doc, root, "fingerprint");
	(void)cg_jnode_get_int(&doc, root, "exit_status", &i);
	(void)cg_jnode_get(&doc, cg_jnode_get(&doc, root, "summary"), "ok");
	visit(&doc, root, &seen);
	if (seen + 1 > doc.n)
		__builtin_trap(); /* more children than nodes */
	round_trip(&doc, &lim);
	cg_jdoc_release(&doc);
	return 0;
}
