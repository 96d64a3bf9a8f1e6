/* symlink.c: the symlink resource: a link with a given target. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/module.h"
#include "cg/store.h"
#include "cg/util.h"
#include "fsmeta.h"

struct want {
	char *target; /* owned; NULL with state: absent */
	struct fsmeta meta;
};

struct seen {
	bool exists;
	bool parent_missing;
	struct stat st;
	char *target; /* owned: when it is a symlink */
	struct fsmeta_ids ids;
	bool ids_ok;
	struct fsmeta_why *why; /* owned, or NULL: owner/group unknown */
	/* owned, or NULL: why the directory cannot be opened (missing) */
	struct cg_error *parent_err;
};

static const char *const symlink_keys[] = {
	"target", "owner", "group", "state", NULL,
};

static int symlink_parse(struct cg_resource *r, const struct cg_node *item,
			 const struct cg_node *value,
			 const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *t = cg_map_get(item, "target");
	const char *path, *why, *target;
	struct want *w;

	(void)pc;
	if (cg_node_string(value, "symlink", &path, err) < 0)
		return CG_ERR;
	if (!cg_path_is_clean(path, &why)) {
		cg_error_set(err, CG_ERR, "invalid symlink path \"%s\": %s",
			     path, why);
		cg_error_where(err, "%s:%u", value->doc->name, value->line);
		return CG_ERR;
	}
	cg_resource_set_id(r, "symlink", path);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	if (fsmeta_parse(&w->meta, item, false, err) < 0)
		return CG_ERR;
	if (w->meta.absent) {
		if (t) {
			cg_error_set(err, CG_ERR,
				     "'state: absent' takes no target");
			cg_error_where(err, "%s:%u", t->doc->name, t->line);
			return CG_ERR;
		}
		return 0;
	}
	if (!t) {
		cg_error_set(err, CG_ERR, "a symlink needs a target");
		cg_error_where(err, "%s:%u", item->doc->name, item->line);
		cg_error_hint(err, "add target: /path/it/points/to");
		return CG_ERR;
	}
	if (cg_node_string(t, "target", &target, err) < 0)
		return CG_ERR;
	if (!target[0] || strlen(target) >= PATH_MAX) {
		cg_error_set(err, CG_ERR, "'target' must be a non-empty path");
		cg_error_where(err, "%s:%u", t->doc->name, t->line);
		return CG_ERR;
	}
	w->target = cg_xstrdup(target);
	return 0;
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	free(s->target);
	fsmeta_why_free(s->why);
	free(s->parent_err);
	free(s);
}

static void symlink_fingerprint(const struct cg_resource *r,
				unsigned char out[16])
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };

	cg_buf_addf(&b, "symlink\n%s\n%d\n", r->name,
		    s->exists ? (int)(s->st.st_mode & S_IFMT) : 0);
	if (s->target) {
		cg_buf_addf(&b, "target %s\n", s->target);
		if (w->meta.owner)
			cg_buf_addf(&b, "uid %u\n", (unsigned)s->st.st_uid);
		if (w->meta.group)
			cg_buf_addf(&b, "gid %u\n", (unsigned)s->st.st_gid);
	}
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

static void symlink_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void symlink_release(struct cg_resource *r)
{
	struct want *w = r->desired;

	if (w) {
		free(w->target);
		fsmeta_release(&w->meta);
		free(w);
	}
	free_seen(r->observed);
	r->desired = r->observed = NULL;
}

static int symlink_observe(struct cg_ctx *ctx, struct cg_resource **res,
			   size_t n, struct cg_error *err)
{
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct want *w = r->desired;
		struct seen *s;
		struct cg_error e;
		const char *base;
		int dirfd, rc;

		free_seen(r->observed);
		s = cg_xcalloc(1, sizeof(*s));
		r->observed = s;
		s->ids_ok = fsmeta_observe(&w->meta, ctx->root, &s->ids,
					   &s->why);
		cg_error_clear(&e);
		rc = cg_root_open_parent(ctx->root, r->name, 0, &dirfd, &base,
					 NULL, &e);
		if (rc == CG_ENOTFOUND) {
			/* What apply would say: diff says it first. */
			s->parent_missing = true;
			s->parent_err = fsmeta_parent_missing(
				r->name, "declare the directory before the "
					 "symlink, or list it in requires:");
			continue;
		}
		if (rc < 0) {
			cg_resource_fail(r, &e);
			continue;
		}
		if (fstatat(dirfd, base, &s->st, AT_SYMLINK_NOFOLLOW) == 0) {
			s->exists = true;
			if (S_ISLNK(s->st.st_mode)) {
				char buf[PATH_MAX];
				ssize_t len = readlinkat(dirfd, base, buf,
							 sizeof(buf) - 1);

				if (len < 0) {
					cg_error_sys(&e, CG_ERR,
						     "cannot read link %s",
						     r->name);
					cg_resource_fail(r, &e);
				} else {
					s->target = cg_xstrndup(buf,
								(size_t)len);
				}
			}
		} else if (errno != ENOENT) {
			cg_error_sys(&e, CG_ERR, "cannot stat %s", r->name);
			cg_resource_fail(r, &e);
		}
		close(dirfd);
	}
	return 0;
}

static int symlink_compare(struct cg_ctx *ctx, struct cg_resource *r,
			   struct cg_error *err);

static int symlink_diff(struct cg_ctx *ctx, struct cg_resource *r,
			struct cg_error *err)
{
	const struct seen *s = r->observed;
	int rc = symlink_compare(ctx, r, err);
	char *extra;

	if (rc < 0 || r->change.action == CG_ACTION_NONE)
		return rc;
	if (!s->exists) {
		r->change.before = fsmeta_before(NULL, 0, 0, 0, NULL);
	} else if (S_ISLNK(s->st.st_mode) && s->target) {
		extra = cg_xasprintf("target=%s", s->target);
		r->change.before = fsmeta_before("symlink", s->st.st_mode,
						 s->st.st_uid, s->st.st_gid,
						 extra);
		free(extra);
	} else if (S_ISREG(s->st.st_mode)) {
		r->change.before = fsmeta_before("file", s->st.st_mode,
						 s->st.st_uid, s->st.st_gid,
						 NULL);
	}
	return rc;
}

static int symlink_compare(struct cg_ctx *ctx, struct cg_resource *r,
			   struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	bool is_link = s->exists && S_ISLNK(s->st.st_mode);

	if (w->meta.absent) {
		if (!s->exists)
			return 0;
		if (!is_link) {
			cg_error_set(err, CG_ERR,
				     "%s is not a symlink; refusing to remove "
				     "it",
				     r->name);
			cg_error_hint(err, "manage it with file: or directory: "
					   "and state: absent");
			return CG_ERR;
		}
		c->action = CG_ACTION_DELETE;
		cg_change_add(c, "target", s->target, NULL);
		return 0;
	}
	if (s->exists && S_ISDIR(s->st.st_mode)) {
		cg_error_set(err, CG_ERR,
			     "%s is a directory where the policy wants a "
			     "symlink",
			     r->name);
		cg_error_hint(err, "move the directory away by hand");
		return CG_ERR;
	}
	if (s->exists && !is_link && !S_ISREG(s->st.st_mode)) {
		cg_error_set(err, CG_ERR,
			     "%s is a special file where the policy wants a "
			     "symlink",
			     r->name);
		return CG_ERR;
	}
	if (!s->exists) {
		c->action = CG_ACTION_CREATE;
		if (s->parent_missing &&
		    fsmeta_check_parent(s->parent_err, ctx, r, c, err) < 0)
			return CG_ERR;
		cg_change_add(c, "target", NULL, w->target);
	} else if (!is_link) {
		c->action = CG_ACTION_UPDATE;
		cg_change_add(c, "type", "file", "symlink");
		cg_change_add(c, "target", NULL, w->target);
	} else if (strcmp(s->target, w->target) != 0) {
		c->action = CG_ACTION_UPDATE;
		cg_change_add(c, "target", s->target, w->target);
	}
	if (is_link)
		fsmeta_diff(&w->meta, s->ids_ok ? &s->ids : NULL, &s->st,
			    ctx->root, c);
	else if (w->meta.owner || w->meta.group) {
		if (w->meta.owner)
			cg_change_add(c, "owner", NULL, w->meta.owner);
		if (w->meta.group)
			cg_change_add(c, "group", NULL, w->meta.group);
	}
	if (c->n && fsmeta_check(&w->meta, s->why, ctx, r, NULL, c, err) < 0)
		return CG_ERR;
	if (c->n && c->action == CG_ACTION_NONE)
		c->action = CG_ACTION_UPDATE;
	return 0;
}

static int apply_one(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	struct fsmeta_ids ids;
	char tmp[256], cur[PATH_MAX];
	const char *base;
	struct stat st;
	bool exists;
	int dirfd, rc;

	rc = cg_root_open_parent(ctx->root, r->name, 0, &dirfd, &base, NULL,
				 err);
	if (rc < 0) {
		if (rc == CG_ENOTFOUND && w->meta.absent)
			return 0;
		if (rc == CG_ENOTFOUND)
			cg_error_hint(err, "declare the directory before the "
					   "symlink, or list it in requires:");
		return rc;
	}
	exists = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT) {
		rc = cg_error_sys(err, CG_ERR, "cannot stat %s", r->name);
		goto out;
	}
	if (exists && !S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode)) {
		rc = cg_error_set(err, CG_ERR,
				  "%s is neither a symlink nor a file; not "
				  "touching it",
				  r->name);
		goto out;
	}
	if (w->meta.absent) {
		if (!exists)
			goto out;
		if (!S_ISLNK(st.st_mode)) {
			rc = cg_error_set(err, CG_ERR,
					  "%s is not a symlink; not removing it",
					  r->name);
			goto out;
		}
		rc = cg_store_keep(ctx->store, dirfd, base, r->name, NULL, err);
		if (rc == 0 && unlinkat(dirfd, base, 0) < 0)
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s",
					  r->name);
		if (rc == 0)
			rc = cg_fs_sync_dir(dirfd, r->name, err);
		goto out;
	}
	rc = fsmeta_resolve(&w->meta, ctx->root, &ids, err);
	if (rc < 0)
		goto out;
	if (exists && S_ISLNK(st.st_mode)) {
		ssize_t len = readlinkat(dirfd, base, cur, sizeof(cur) - 1);

		if (len >= 0 && (size_t)len == strlen(w->target) &&
		    memcmp(cur, w->target, (size_t)len) == 0) {
			/* Right target: only the owner can differ. */
			if (fchownat(dirfd, base,
				     ids.has_uid ? ids.uid : (uid_t)-1,
				     ids.has_gid ? ids.gid : (gid_t)-1,
				     AT_SYMLINK_NOFOLLOW) < 0)
				rc = cg_error_sys(err, CG_ERR,
						  "cannot change owner of %s",
						  r->name);
			goto out;
		}
	}
	if (exists) {
		rc = cg_store_keep(ctx->store, dirfd, base, r->name, NULL, err);
		if (rc < 0) {
			cg_error_prefix(err, "not changing %s: backup failed",
					r->name);
			goto out;
		}
	}
	/* A new link under a temporary name, renamed over: atomic. */
	cg_fs_tmpname(tmp, sizeof(tmp), base);
	if (symlinkat(w->target, dirfd, tmp) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot create symlink %s",
				  r->name);
		goto out;
	}
	cg_fs_temp_made(dirfd, tmp);
	if ((ids.has_uid || ids.has_gid) &&
	    fchownat(dirfd, tmp, ids.has_uid ? ids.uid : (uid_t)-1,
		     ids.has_gid ? ids.gid : (gid_t)-1,
		     AT_SYMLINK_NOFOLLOW) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot set owner of %s",
				  r->name);
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	if (renameat(dirfd, tmp, dirfd, base) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot rename into %s", r->name);
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	rc = cg_fs_sync_dir(dirfd, r->name, err);
out:
	close(dirfd);
	return rc;
}

const struct cg_module cg_module_symlink = {
	.type = "symlink",
	.keys = symlink_keys,
	.parse = symlink_parse,
	.observe = symlink_observe,
	.diff = symlink_diff,
	.apply_one = apply_one,
	.release = symlink_release,
	.forget = symlink_forget,
	.fingerprint = symlink_fingerprint,
	.observe_window = 256,
	.caps = { CAP_CHOWN, CAP_DAC_OVERRIDE },
	.ncaps = 2,
	.revert = fsmeta_revert_symlink,
};
