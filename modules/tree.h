/* tree.h: a directory's contents: source:, recurse: and purge:. */
#ifndef CG_MODULES_TREE_H
#define CG_MODULES_TREE_H

#include <stdbool.h>
#include <sys/types.h>

#include "cg/module.h"
#include "cg/node.h"
#include "cg/resource.h"
#include "cg/util.h"
#include "fsmeta.h"

/* A tree has at most this many entries, this many levels deep. */
#define TREE_MAX_ENTRIES 10000
#define TREE_MAX_DEPTH 32

struct tree_want;
struct tree_seen;

/* The tree keys a directory takes besides its own (NULL-terminated). */
extern const char *const tree_keys[];

/*
 * Read source:, recurse:, purge: and file_mode: of item, and walk the
 * source directory of the policy tree (never following a symlink in it;
 * its symlinks are entries). *out is NULL when item has none of them.
 */
int tree_parse(struct tree_want **out, const struct cg_node *item,
	       const struct cg_parse_ctx *pc, struct cg_error *err);
void tree_want_free(struct tree_want *w);

/*
 * observe: walk what is under r's directory in the root (dirfd, or -1
 * when it is missing or not a directory), hashing the files the source
 * has too, and note which paths under it other resources declare.
 */
int tree_observe(const struct tree_want *w, struct cg_ctx *ctx,
		 const struct cg_resource *r, int dirfd,
		 struct tree_seen **out, struct cg_error *err);
void tree_seen_free(struct tree_seen *s);

/*
 * diff: what must change below the directory, one change item per entry
 * (each purged entry one), kept in s for apply. m and ids are the
 * directory's mode, owner and group (ids as observed; may lack what an
 * earlier resource creates). Returns the number of entries to change.
 */
int tree_diff(const struct tree_want *w, const struct fsmeta *m,
	      const struct fsmeta_ids *ids, struct tree_seen *s,
	      struct cg_change *c, struct cg_error *err);

/*
 * apply: make the changes diff found under dirfd (the directory, opened
 * without following symlinks): purged entries and replaced ones kept in
 * the backup store first, files written in one batch (cg_fs_stage, one
 * sync for all, cg_fs_commit), each directory touched synced once.
 */
int tree_apply(const struct tree_want *w, struct tree_seen *s,
	       struct cg_ctx *ctx, const struct cg_resource *r, int dirfd,
	       const struct fsmeta_ids *ids, struct cg_error *err);

/* fingerprint: what the policy manages of the tree, into b. */
void tree_fingerprint(const struct tree_want *w, const struct fsmeta *m,
		      const struct tree_seen *s, struct cg_buf *b);

#endif
