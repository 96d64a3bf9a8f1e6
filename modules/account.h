/* account.h: the root's passwd, shadow and group, shared by user and group. */
#ifndef CG_MODULES_ACCOUNT_H
#define CG_MODULES_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/fs.h"
#include "cg/module.h"

struct account_user {
	char *name, *gecos, *home, *shell; /* owned */
	char *hash; /* owned: from shadow, else passwd's field; NULL: none */
	unsigned uid, gid;
};

struct account_group {
	char *name;     /* owned */
	char **members; /* owned, NULL-terminated */
	unsigned gid;
};

/* What one read of ROOT/etc/{passwd,shadow,group} found. */
struct account_db {
	struct account_user *users;   /* owned */
	struct account_group *groups; /* owned */
	size_t nusers, ngroups;
};

/*
 * The root's passwd, shadow and group (a missing file is empty), never
 * following a symlink the last component is: read once, and kept in the
 * root (root->accounts) while the three files stay the same (inode, size,
 * mtime, ctime), so a run reads them once for all user, group and
 * authorized_keys resources and again only after a change. *out is
 * borrowed from root until the next call or cg_root_ids_forget. Fails only
 * when a file exists and cannot be read.
 */
int account_db_get(struct cg_root *root, const struct account_db **out,
		   struct cg_error *err);
void account_db_release(struct account_db *db);

const struct account_user *account_user(const struct account_db *db,
					const char *name);
const struct account_user *account_user_by_uid(const struct account_db *db,
					       unsigned uid);
const struct account_group *account_group(const struct account_db *db,
					  const char *name);
const struct account_group *account_group_by_gid(const struct account_db *db,
						 unsigned gid);
/* Is user a member (supplementary) of g? */
bool account_group_has(const struct account_group *g, const char *user);

/* Is s a valid user or group name: [a-z_][a-z0-9_.-]*$?, 1..32 bytes? */
bool account_name_ok(const char *s);

/*
 * Run a shadow tool (useradd, usermod, ...: argv[0]) on ctx's root: with
 * --prefix ROOT for an image (--root ROOT, a chroot, when chroot is set:
 * chpasswd has no --prefix), as it is for the host. in (may be NULL) is
 * its stdin. A non-zero exit is an error with the tool's first line of
 * stderr. Afterwards the root's id cache is forgotten (cg_root_ids_forget)
 * so later owner: lookups see the change.
 */
int account_run(struct cg_ctx *ctx, const char *const *argv, const char *in,
		bool chroot, struct cg_error *err);

/* The resource id earlier than r, when it changed (made_before), or NULL. */
const struct cg_resource *account_earlier(const struct cg_ctx *ctx,
					  const struct cg_resource *r,
					  const char *id);

/*
 * validate: report the second of two resources that ask for the same
 * number (id_of gives a resource's wanted uid or gid into *out, false
 * when it asks for none): the tool would refuse it in run, and plan,
 * which sees neither yet, cannot tell.
 */
void account_validate_ids(struct cg_resource *const *res, size_t n,
			  const struct cg_parse_ctx *pc, const char *what,
			  bool (*id_of)(const struct cg_resource *r,
					unsigned *out));

/*
 * Will the resource TYPE:NAME (kind "user" or "group") earlier than r be
 * removed, or change field (its "uid", "gid", "group"), by r's turn?
 */
bool account_gives_up(const struct cg_ctx *ctx, const struct cg_resource *r,
		      const char *kind, const char *name, const char *field);

/*
 * The earlier resource whose id is id that changed (made_before), and the
 * to of its change item named field, or NULL.
 */
const char *account_earlier_item(const struct cg_ctx *ctx,
				 const struct cg_resource *r, const char *id,
				 const char *field);

#endif
