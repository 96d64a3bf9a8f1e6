/* fsmeta.h: mode, owner and group, shared by file, directory and symlink. */
#ifndef CG_MODULES_FSMETA_H
#define CG_MODULES_FSMETA_H

#include <stdbool.h>
#include <sys/stat.h>

#include "cg/fs.h"
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

/* Read mode (when allow_mode), owner, group and state from item. */
int fsmeta_parse(struct fsmeta *m, const struct cg_node *item, bool allow_mode,
		 struct cg_error *err);
void fsmeta_release(struct fsmeta *m);

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

#endif
