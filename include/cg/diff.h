/* diff.h: unified diffs of text, for showing what a change would do. */
#ifndef CG_DIFF_H
#define CG_DIFF_H

#include <stddef.h>

#include "cg/util.h"

/*
 * Append to out a unified diff (as `diff -u`, `context` lines around each
 * change) turning a into b, with "--- label_a" / "+++ label_b" headers.
 * Nothing is appended when they are equal. The work is bounded: beyond a
 * few thousand differing lines the diff shows the whole text replaced,
 * which is still a correct diff.
 */
void cg_diff_unified(const char *a, size_t alen, const char *b, size_t blen,
		     const char *label_a, const char *label_b, unsigned context,
		     struct cg_buf *out);

#endif
