/* fsmeta.h: mode, owner and group, shared by file, directory and symlink. */
#ifndef CG_MODULES_FSMETA_H
#define CG_MODULES_FSMETA_H

#include <stdbool.h>
#include <sys/stat.h>

#include "cg/fs.h"
#include "cg/module.h"
#include "cg/node.h"
#include "cg/resource.h"

struct fsmeta {
	bool has_mode;
	bool absent;       /* state: absent */
	mode_t mode;
	const char *owner; /* interned (cg_intern), or NULL: keep */
	const char *group; /* interned (cg_intern), or NULL: keep */
};

/* The ids owner/group stand for in a root, when they are known there. */
struct fsmeta_ids {
	bool has_uid, has_gid;
	uid_t uid;
	gid_t gid;
};

/* Why owner or group is unknown in the root: kept from observe for diff. */
struct fsmeta_why {
	bool owner_unknown, group_unknown;
	struct cg_error owner, group; /* the failed lookups */
};

/*
 * observe: look owner and group up in root into ids. When one is
 * unknown, *why_out is set (owned by the caller, fsmeta_why_free) and
 * false returned; ids then holds what is known.
 */
bool fsmeta_observe(const struct fsmeta *m, struct cg_root *root,
		    struct fsmeta_ids *ids, struct fsmeta_why **why_out);
void fsmeta_why_free(struct fsmeta_why *why);

/*
 * diff: an owner or group unknown at observe (why, may be NULL) fails in
 * run, so it is an error here too, the same one (msg prefixed with
 * prefix, may be NULL): unless a resource earlier in the order creates
 * it (user:NAME, group:NAME, or any package), which only a note on c
 * then says.
 */
int fsmeta_check(const struct fsmeta *m, const struct fsmeta_why *why,
		 const struct cg_ctx *ctx, const struct cg_resource *r,
		 const char *prefix, struct cg_change *c,
		 struct cg_error *err);

/*
 * diff: the directory that holds r is missing (err says so, as run would
 * fail): an error, unless a directory resource earlier in the order makes
 * it (or a package may), which a note on c then says. Directories make
 * their missing parents themselves and do not ask.
 */
int fsmeta_check_parent(const struct cg_error *parent_err,
			const struct cg_ctx *ctx, const struct cg_resource *r,
			struct cg_change *c, struct cg_error *err);

/*
 * A new, owned error for observe to keep: the directory that holds path
 * is missing. It names that directory, not the first missing one on the
 * way, which an earlier resource may have made by run's turn: the same
 * words in plan and run.
 */
struct cg_error *fsmeta_parent_missing(const char *path, const char *hint);

/* Add a line of context to c->note, after what it says already. */
void fsmeta_note(struct cg_change *c, const char *text);

/* Read mode (when allow_mode), owner, group and state from item. */
int fsmeta_parse(struct fsmeta *m, const struct cg_node *item, bool allow_mode,
		 struct cg_error *err);
void fsmeta_release(struct fsmeta *m);
/* A mode given as 3 or 4 octal digits under key (errors name it). */
int fsmeta_parse_mode(const struct cg_node *n, const char *key, mode_t *out,
		      struct cg_error *err);

/* Look owner and group up in root; an unknown name is an error. */
int fsmeta_resolve(const struct fsmeta *m, struct cg_root *root,
		   struct fsmeta_ids *ids, struct cg_error *err);

/*
 * Add "mode", "owner" and "group" items for what st (the existing object)
 * lacks. ids may be NULL when unresolved: the names are then shown as
 * wanted.
 */
void fsmeta_diff(const struct fsmeta *m, const struct fsmeta_ids *ids,
		 const struct stat *st, struct cg_root *root,
		 struct cg_change *c);

/* Items for a new object: its mode (or default) and owner/group. */
void fsmeta_diff_new(const struct fsmeta *m, mode_t default_mode,
		     struct cg_change *c);

/* Does st differ from what m asks for? */
bool fsmeta_differs(const struct fsmeta *m, const struct fsmeta_ids *ids,
		    const struct stat *st);

/* Set owner/group/mode on fd (opened on the object), only what differs. */
int fsmeta_apply_fd(const struct fsmeta *m, const struct fsmeta_ids *ids,
		    int fd, const struct stat *st, struct cg_error *err);

/* "0644" */
void fsmeta_mode_str(mode_t mode, char buf[8]);

/*
 * What is at a path before a change, for the ledger (cg_change before):
 * "absent" when kind is NULL, else "KIND mode=0644 uid=0 gid=0", then
 * " EXTRA" when extra is given ("sha256=HEX", "target=PATH", last since
 * a target may hold spaces). Owned by the caller.
 */
char *fsmeta_before(const char *kind, mode_t mode, uid_t uid, gid_t gid,
		    const char *extra);

/*
 * orphans: revert (struct cg_module revert) for files, directories and
 * symlinks, from their ledger.before in fsmeta_before's words
 * (fsrevert.c).
 */
int fsmeta_revert_file(struct cg_ctx *ctx, struct cg_revert *const *v,
		       size_t n, bool apply, struct cg_error *err);
int fsmeta_revert_directory(struct cg_ctx *ctx, struct cg_revert *const *v,
			    size_t n, bool apply, struct cg_error *err);
int fsmeta_revert_symlink(struct cg_ctx *ctx, struct cg_revert *const *v,
			  size_t n, bool apply, struct cg_error *err);
/*
 * The file revert for one file of another resource (apt_source's): path
 * and before (fsmeta_before's words) in place of rv's name and before;
 * rv gets the verdict, what, failed and err.
 */
int fsmeta_revert_path(struct cg_ctx *ctx, struct cg_revert *rv,
		       const char *path, const char *before, bool apply);

#endif
