/* compactsig.h: report commits rewritten by fleet compact that stay verifiable. */
#ifndef CG_COMPACTSIG_H
#define CG_COMPACTSIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/error.h"
#include "cg/util.h"

/*
 * A signature covers the parent ids, so a rewritten commit cannot keep it
 * as its own. Instead it carries, as two more headers after the others,
 * each original parent ("congruent-original-parent OID", one line per
 * parent, in order) and the original signature
 * ("congruent-original-gpgsig", continuation lines as gpgsig's). git
 * ignores headers it does not know; git fsck --strict accepts them.
 */
#define CG_COMPACT_PARENT "congruent-original-parent"
#define CG_COMPACT_GPGSIG "congruent-original-gpgsig"

/*
 * Rewrite the raw commit object commit (len bytes, without the "commit
 * N\0" prefix) with its parents replaced by parent (40 hex digits, or
 * NULL: none), appended to out. A signed commit (a gpgsig header) has its
 * signature and original parents moved into the headers above; a commit
 * already rewritten so keeps them as they are (they name the signed
 * original, not the commit in between); any other commit only changes
 * parents. Every other header and the message are copied byte for byte.
 * A commit that does not start with "tree " or has two gpgsig headers is
 * CG_ERR, out untouched.
 */
int cg_compact_rewrite(const char *commit, size_t len, const char *parent,
		       struct cg_buf *out, struct cg_error *err);

/*
 * Is this raw commit one rewritten by cg_compact_rewrite from a signed
 * one (it has a congruent-original-gpgsig header)? Then rebuild the
 * original signed commit into out (tree, the original parents, every
 * other header, the signature back as gpgsig, the message: the bytes the
 * host signed, and with them the original commit id) and return 1; not
 * one: 0, out untouched; malformed (the record twice, beside a gpgsig
 * of its own, or a parent record that is not an object id):
 * CG_SSHSIG_EMALFORMED with err saying why.
 */
int cg_compact_original(const char *commit, size_t len, struct cg_buf *out,
			struct cg_error *err);

#endif
