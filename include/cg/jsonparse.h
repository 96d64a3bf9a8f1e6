/* jsonparse.h: a bounded JSON parser for text nobody vouches for (reports). */
#ifndef CG_JSONPARSE_H
#define CG_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cg/error.h"

/*
 * Reports are written by hosts, so fleet reads them as hostile: every
 * limit is checked before memory is taken, the parser uses an explicit
 * stack (no recursion), and a document either parses whole or not at
 * all. Strict RFC 8259: no comments, no trailing commas, no leading
 * zeros, no NaN; strings must be valid UTF-8 and may not contain NUL
 * (\u0000), so every string can be used as a C string.
 */
struct cg_jlimits {
	size_t max_bytes;  /* input length */
	size_t max_depth;  /* nesting of arrays and objects, at most 256 */
	size_t max_nodes;  /* values, keys not counted */
	size_t max_string; /* bytes of one decoded string or key */
};

/* Limits for a small document (1 MiB, depth 32, 100,000 values, 64 KiB). */
extern const struct cg_jlimits cg_jlimits_default;

enum cg_jtype {
	CG_JNULL,
	CG_JBOOL,
	CG_JNUM,
	CG_JSTR,
	CG_JARR,
	CG_JOBJ,
};

/* One value. Read it through the functions below. */
struct cg_jnode {
	uint8_t type;   /* enum cg_jtype */
	bool b;         /* CG_JBOOL */
	bool is_int;    /* CG_JNUM that is an integer within int64_t */
	uint32_t key;   /* object member: offset of its key in strs; else 0 */
	uint32_t next;  /* index of the next sibling, 0 for none */
	uint32_t first; /* CG_JARR, CG_JOBJ: first child, 0 for none */
	uint32_t n;     /* CG_JARR, CG_JOBJ: children; CG_JSTR: length */
	uint32_t str;   /* CG_JSTR: offset in strs */
	int64_t i;      /* CG_JNUM when is_int */
	double d;       /* CG_JNUM */
};

/* A parsed document: nodes[0] is the root. */
struct cg_jdoc {
	struct cg_jnode *nodes; /* owned */
	size_t n, cap;
	char *strs; /* owned: NUL-terminated strings; offset 0 is "" */
	size_t slen, scap;
};

/*
 * Parse text (len bytes, need not be NUL-terminated) into doc. On error
 * doc is left empty and err says what and where ("line 3, column 7").
 */
int cg_jdoc_parse(struct cg_jdoc *doc, const char *text, size_t len,
		  const struct cg_jlimits *lim, struct cg_error *err);
/* Accepts NULL and a zeroed doc. */
void cg_jdoc_release(struct cg_jdoc *doc);

const struct cg_jnode *cg_jdoc_root(const struct cg_jdoc *doc);

/* The member of object o named key (the first if repeated), or NULL. */
const struct cg_jnode *cg_jnode_get(const struct cg_jdoc *doc,
				    const struct cg_jnode *o, const char *key);
/* Children of an array or object, in order; NULL at the end. */
const struct cg_jnode *cg_jnode_first(const struct cg_jdoc *doc,
				      const struct cg_jnode *v);
const struct cg_jnode *cg_jnode_next(const struct cg_jdoc *doc,
				     const struct cg_jnode *v);
/* The key of an object member ("" for an array element). */
const char *cg_jnode_key(const struct cg_jdoc *doc, const struct cg_jnode *v);

/* Typed access: NULL/false when v is NULL or of another type. */
const char *cg_jnode_str(const struct cg_jdoc *doc, const struct cg_jnode *v);
bool cg_jnode_int(const struct cg_jnode *v, int64_t *out);
bool cg_jnode_bool(const struct cg_jnode *v, bool *out);
bool cg_jnode_is(const struct cg_jnode *v, enum cg_jtype type);

/* Shorthands for a member of o: its string, or its integer. */
const char *cg_jnode_get_str(const struct cg_jdoc *doc,
			     const struct cg_jnode *o, const char *key);
bool cg_jnode_get_int(const struct cg_jdoc *doc, const struct cg_jnode *o,
		      const char *key, int64_t *out);

#endif
