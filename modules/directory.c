/* directory.c: the directory resource: existence, mode and owner. */
#include <errno.h>
#include <fcntl.h>
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
#include "tree.h"

struct want {
	struct fsmeta meta;
	struct tree_want *tree; /* owned, or NULL: no source/recurse/purge */
};

struct seen {
	bool exists;       /* something is at the path */
	bool parent_missing;
	unsigned missing;  /* directories above it that are missing */
	struct stat st;
	struct fsmeta_ids ids;
	bool ids_ok;
	struct fsmeta_why *why; /* owned, or NULL: owner/group unknown */
	struct tree_seen *tree; /* owned, or NULL */
};

static const char *const directory_keys[] = {
	"mode",   "owner",   "group", "state",     "source",
	"recurse", "purge", "file_mode", NULL,
};

static int directory_parse(struct cg_resource *r, const struct cg_node *item,
			   const struct cg_node *value,
			   const struct cg_parse_ctx *pc, struct cg_error *err)
{
	struct want *w;
	const char *path, *why;

	if (cg_node_string(value, "directory", &path, err) < 0)
		return CG_ERR;
	if (!cg_path_is_clean(path, &why)) {
		cg_error_set(err, CG_ERR, "invalid directory path \"%s\": %s",
			     path, why);
		cg_error_where(err, "%s:%u", value->doc->name, value->line);
		return CG_ERR;
	}
	cg_resource_set_id(r, "directory", path);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	if (fsmeta_parse(&w->meta, item, true, err) < 0)
		return CG_ERR;
	return tree_parse(&w->tree, item, pc, err);
}

static void directory_fingerprint(const struct cg_resource *r,
				  unsigned char out[16])
{
	const struct want *w = r->desired;
	const struct fsmeta *m = &w->meta;
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };

	cg_buf_addf(&b, "directory\n%s\n%d\n", r->name,
		    s->exists ? (int)(s->st.st_mode & S_IFMT) : 0);
	if (s->exists && S_ISDIR(s->st.st_mode)) {
		if (m->has_mode)
			cg_buf_addf(&b, "mode %o\n",
				    (unsigned)(s->st.st_mode & 07777));
		if (m->owner)
			cg_buf_addf(&b, "uid %u\n", (unsigned)s->st.st_uid);
		if (m->group)
			cg_buf_addf(&b, "gid %u\n", (unsigned)s->st.st_gid);
		if (w->tree)
			tree_fingerprint(w->tree, m, s->tree, &b);
	}
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	fsmeta_why_free(s->why);
	tree_seen_free(s->tree);
	free(s);
}

static void directory_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void directory_release(struct cg_resource *r)
{
	struct want *w = r->desired;

	if (w) {
		fsmeta_release(&w->meta);
		tree_want_free(w->tree);
	}
	free(w);
	free_seen(r->observed);
	r->desired = r->observed = NULL;
}

/* Walk what is in the directory, when it is one (never through a symlink). */
static int observe_tree(struct cg_ctx *ctx, struct cg_resource *r,
			struct seen *s, int dirfd, const char *base,
			struct cg_error *err)
{
	const struct want *w = r->desired;
	int fd = -1, rc;

	if (s->exists && S_ISDIR(s->st.st_mode)) {
		fd = openat(dirfd, base,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return cg_error_sys(err, CG_ERR, "cannot open %s",
					    r->name);
	}
	rc = tree_observe(w->tree, ctx, r, fd, &s->tree, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * How many directories above path are missing (its parent is): those
 * apply makes with it, which the ledger says, so that revert removes
 * them too.
 */
static unsigned count_missing(struct cg_ctx *ctx, const char *path)
{
	char q[4096], *slash;
	const char *base;
	unsigned k = 1;
	int fd;

	snprintf(q, sizeof(q), "%s", path);
	for (;;) {
		slash = strrchr(q, '/');
		if (!slash || slash == q)
			break;
		*slash = '\0';
		fd = -1;
		if (cg_root_open_parent(ctx->root, q, 0, &fd, &base, NULL,
					NULL) != CG_ENOTFOUND) {
			if (fd >= 0)
				close(fd);
			break;
		}
		k++;
	}
	return k;
}

static int directory_observe(struct cg_ctx *ctx, struct cg_resource **res,
			     size_t n, struct cg_error *err)
{
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct want *w = r->desired;
		const struct fsmeta *m = &w->meta;
		struct seen *s;
		struct cg_error e;
		const char *base;
		int dirfd, rc;

		free_seen(r->observed);
		s = cg_xcalloc(1, sizeof(*s));
		r->observed = s;
		s->ids_ok = fsmeta_observe(m, ctx->root, &s->ids, &s->why);
		cg_error_clear(&e);
		rc = cg_root_open_parent(ctx->root, r->name, 0, &dirfd, &base,
					 NULL, &e);
		if (rc == CG_ENOTFOUND) {
			s->parent_missing = true;
			s->missing = count_missing(ctx, r->name);
			if (w->tree && tree_observe(w->tree, ctx, r, -1,
						    &s->tree, &e) < 0)
				cg_resource_fail(r, &e);
			continue;
		}
		if (rc < 0) {
			cg_resource_fail(r, &e);
			continue;
		}
		if (fstatat(dirfd, base, &s->st, AT_SYMLINK_NOFOLLOW) == 0)
			s->exists = true;
		else if (errno != ENOENT) {
			cg_error_sys(&e, CG_ERR, "cannot stat %s", r->name);
			cg_resource_fail(r, &e);
		}
		if (w->tree && observe_tree(ctx, r, s, dirfd, base, &e) < 0)
			cg_resource_fail(r, &e);
		close(dirfd);
	}
	return 0;
}

static int directory_compare(struct cg_ctx *ctx, struct cg_resource *r,
			     struct cg_error *err);

static int directory_diff(struct cg_ctx *ctx, struct cg_resource *r,
			  struct cg_error *err)
{
	const struct seen *s = r->observed;
	int rc = directory_compare(ctx, r, err);

	if (rc == 0 && r->change.action != CG_ACTION_NONE)
		r->change.before =
			!s->exists && s->missing
				? cg_xasprintf("absent parents=%u", s->missing)
			: !s->exists ? fsmeta_before(NULL, 0, 0, 0, NULL)
			: S_ISDIR(s->st.st_mode)
				? fsmeta_before("directory", s->st.st_mode,
						s->st.st_uid, s->st.st_gid, NULL)
				: NULL;
	return rc;
}

static int directory_compare(struct cg_ctx *ctx, struct cg_resource *r,
			     struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct fsmeta *m = &w->meta;
	struct seen *s = r->observed;
	struct cg_change *c = &r->change;

	if (m->absent) {
		if (!s->exists)
			return 0;
		if (!S_ISDIR(s->st.st_mode)) {
			cg_error_set(err, CG_ERR,
				     "%s is not a directory; refusing to "
				     "remove it",
				     r->name);
			cg_error_hint(err, "manage it as a file: or symlink: "
					   "with state: absent");
			return CG_ERR;
		}
		c->action = CG_ACTION_DELETE;
		cg_change_add(c, "type", "directory", NULL);
		return 0;
	}
	if (!s->exists || S_ISLNK(s->st.st_mode)) {
		c->action = s->exists ? CG_ACTION_UPDATE : CG_ACTION_CREATE;
		if (s->exists)
			cg_change_add(c, "type", "symlink", "directory");
		if (s->parent_missing)
			cg_change_note(c, "missing parent directories will "
					  "be created, mode 0755");
		if (fsmeta_check(m, s->why, ctx, r, NULL, c, err) < 0)
			return CG_ERR;
		fsmeta_diff_new(m, 0755, c);
		if (w->tree && tree_diff(w->tree, m, &s->ids, s->tree, c,
					 err) < 0)
			return CG_ERR;
		return 0;
	}
	if (!S_ISDIR(s->st.st_mode)) {
		cg_error_set(err, CG_ERR,
			     "%s is not a directory where the policy wants one",
			     r->name);
		cg_error_hint(err, "move it away by hand; congruent does not "
				   "delete files to make room");
		return CG_ERR;
	}
	fsmeta_diff(m, s->ids_ok ? &s->ids : NULL, &s->st, ctx->root, c);
	if (c->n && fsmeta_check(m, s->why, ctx, r, NULL, c, err) < 0)
		return CG_ERR;
	if (w->tree && tree_diff(w->tree, m, &s->ids, s->tree, c, err) < 0)
		return CG_ERR;
	if (c->n)
		c->action = CG_ACTION_UPDATE;
	return 0;
}

/*
 * The ledger's mark of a tree (source:, recurse: or purge:), durable
 * before the tree is written: what a tree writes, changes and purges
 * below it has no ledger entries of its own, so its revert must know
 * not to treat it as a plain directory.
 */
#define REC_TREE "ledger.tree"

static int mark_tree(struct cg_ctx *ctx, struct cg_resource *r, bool tree,
		     struct cg_error *err)
{
	const char *kv[2] = { REC_TREE, tree ? "true" : NULL };
	bool has;

	if (!ctx->record || !ctx->record_set)
		return 0;
	has = ctx->record(ctx, r, REC_TREE) != NULL;
	if (has == tree)
		return 0;
	return ctx->record_set(ctx, r, kv, 1, err);
}

/*
 * Everything of r's change but its syncs: *fd_out (the directory made or
 * changed, or -1) and *dirfd_out (its parent, whose entry changed, or
 * -1) are left open for the batch to sync (directory_apply).
 */
static int prepare(struct cg_ctx *ctx, struct cg_resource *r, int *fd_out,
		   int *dirfd_out, struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct fsmeta *m = &w->meta;
	struct seen *s = r->observed;
	struct fsmeta_ids ids;
	const char *base;
	struct stat st, st2;
	int dirfd, fd, rc;

	*fd_out = *dirfd_out = -1;
	if (m->absent) {
		rc = cg_root_open_parent(ctx->root, r->name, 0, &dirfd, &base,
					 NULL, err);
		if (rc < 0)
			return rc == CG_ENOTFOUND ? 0 : rc;
		if (unlinkat(dirfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s",
					  r->name);
			if (errno == ENOTEMPTY || errno == EEXIST)
				cg_error_hint(err, "it is not empty: remove "
						   "what is in it first (file: "
						   "... state: absent)");
			close(dirfd);
			return rc;
		}
		*dirfd_out = dirfd;
		return 0;
	}
	rc = fsmeta_resolve(m, ctx->root, &ids, err);
	if (rc < 0)
		return rc;
	rc = mark_tree(ctx, r, w->tree != NULL, err);
	if (rc < 0)
		return rc;
	rc = cg_root_open_parent(ctx->root, r->name, CG_WALK_MKDIR, &dirfd,
				 &base, NULL, err);
	if (rc < 0)
		return rc;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode)) {
		/* A symlink where a directory belongs: keep it, then replace. */
		rc = cg_store_keep(ctx->store, dirfd, base, r->name, NULL, err);
		if (rc == 0 && unlinkat(dirfd, base, 0) < 0)
			rc = cg_error_sys(err, CG_ERR, "cannot remove symlink %s",
					  r->name);
		if (rc < 0)
			goto out;
	}
	if (mkdirat(dirfd, base, m->has_mode ? m->mode & 0777 : 0755) < 0 &&
	    errno != EEXIST) {
		rc = cg_error_sys(err, CG_ERR, "cannot create %s", r->name);
		goto out;
	}
	fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open directory %s",
				  r->name);
		goto out;
	}
	if (fstat(fd, &st2) < 0)
		rc = cg_error_sys(err, CG_ERR, "cannot stat %s", r->name);
	else /* mkdir's mode went through the umask: this sets it exactly. */
		rc = fsmeta_apply_fd(m, &ids, fd, &st2, err);
	/* The tree's own writes are synced by tree_apply, in one batch. */
	if (rc == 0 && w->tree && s->tree)
		rc = tree_apply(w->tree, s->tree, ctx, r, fd, &ids, err);
	if (rc < 0) {
		close(fd);
		goto out;
	}
	*fd_out = fd;
	*dirfd_out = dirfd;
	return 0;
out:
	close(dirfd);
	return rc;
}

/* At most this many directories share their syncs (two fds each). */
#define BATCH_MAX 64

/*
 * n directories at once: each made, changed or removed, then the syncs
 * shared: every directory made or changed (cg_fs_sync_many: one syncfs
 * when there are many), then each parent once. A directory is reported
 * (by the engine, once this returns) only after both; a failing sync
 * fails every one of the batch.
 */
static void apply_some(struct cg_ctx *ctx, struct cg_resource **res, size_t n)
{
	int *fd = cg_xcalloc(n + 1, sizeof(*fd));
	int *dirfd = cg_xcalloc(n + 1, sizeof(*dirfd));
	int *sync = cg_xcalloc(2 * n + 1, sizeof(*sync));
	struct stat *seen = cg_xcalloc(n + 1, sizeof(*seen));
	size_t i, j, nsync = 0, nseen = 0;
	struct cg_error e;
	int rc = 0;

	for (i = 0; i < n; i++) {
		cg_error_clear(&e);
		if (prepare(ctx, res[i], &fd[i], &dirfd[i], &e) < 0)
			cg_resource_fail(res[i], &e);
		if (fd[i] >= 0)
			sync[nsync++] = fd[i];
	}
	cg_error_clear(&e);
	if (nsync)
		rc = cg_fs_sync_many(sync, nsync, &e);
	nsync = 0;
	for (i = 0; i < n && rc == 0; i++) {
		struct stat st;

		if (dirfd[i] < 0)
			continue;
		if (fstat(dirfd[i], &st) < 0) {
			rc = cg_error_sys(&e, CG_ERR, "cannot stat the parent "
						      "of %s",
					  res[i]->name);
			break;
		}
		for (j = 0; j < nseen; j++)
			if (seen[j].st_dev == st.st_dev &&
			    seen[j].st_ino == st.st_ino)
				break;
		if (j < nseen)
			continue;
		seen[nseen++] = st;
		sync[nsync++] = dirfd[i];
	}
	if (rc == 0 && nsync)
		rc = cg_fs_sync_many(sync, nsync, &e);
	if (rc < 0) {
		cg_error_prefix(&e, "changed, but not durably");
		for (i = 0; i < n; i++)
			if (res[i]->status != CG_STATUS_FAILED)
				cg_resource_fail(res[i], &e);
	}
	for (i = 0; i < n; i++) {
		if (fd[i] >= 0)
			close(fd[i]);
		if (dirfd[i] >= 0)
			close(dirfd[i]);
	}
	free(seen);
	free(sync);
	free(dirfd);
	free(fd);
}

static int directory_apply(struct cg_ctx *ctx, struct cg_resource **res,
			   size_t n, struct cg_error *err)
{
	size_t i, k;

	(void)err;
	for (i = 0; i < n; i += k) {
		k = n - i < BATCH_MAX ? n - i : BATCH_MAX;
		apply_some(ctx, res + i, k);
	}
	return 0;
}

/*
 * orphans: revert of a directory that was a tree: kept whole, saying
 * why, since putting back only its own mode and owner (or forgetting it)
 * would leave what the tree wrote below as if it were the host's own. The
 * others are reverted as plain directories.
 */
static int directory_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			    size_t n, bool apply, struct cg_error *err)
{
	struct cg_revert **plain = cg_xcalloc(n ? n : 1, sizeof(*plain));
	size_t i, k = 0;
	int rc;

	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];

		if (!ctx->ledger || !ctx->ledger(ctx, rv->id, REC_TREE)) {
			plain[k++] = rv;
			continue;
		}
		rv->verdict = CG_REVERT_KEEP;
		snprintf(rv->what, sizeof(rv->what),
			 "keep: a directory tree (source:, recurse: or "
			 "purge:); the ledger does not hold what it wrote, "
			 "changed and purged below entry by entry, so "
			 "nothing of it is reverted (`congruent forget %s` "
			 "releases it as it is)",
			 rv->id);
	}
	rc = k ? fsmeta_revert_directory(ctx, plain, k, apply, err) : 0;
	free(plain);
	return rc;
}

const struct cg_module cg_module_directory = {
	.type = "directory",
	.keys = directory_keys,
	.parse = directory_parse,
	.observe = directory_observe,
	.diff = directory_diff,
	.apply = directory_apply,
	.release = directory_release,
	.forget = directory_forget,
	.fingerprint = directory_fingerprint,
	.observe_window = 256,
	.flags = CG_MODULE_BATCH_RUN,
	.caps = { CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_FSETID },
	.ncaps = 4,
	.revert = directory_revert,
};
