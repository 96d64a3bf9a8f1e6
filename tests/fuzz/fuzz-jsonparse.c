/* fuzz-jsonparse.c: a libFuzzer target for the JSON reader of reports. */
/*
 * The limits are fleet's for report.json; every value is then read back
 * through the accessors fleet uses, so that an index the parser got wrong
 * shows up as an out-of-bounds read.
 */
#include <stdint.h>
#include <string.h>

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
	cg_jdoc_release(&doc);
	return 0;
}
