/* fsrevert.c: orphans: revert for files, directories and symlinks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/hash.h"
#include "cg/module.h"
#include "cg/store.h"
#include "cg/util.h"
#include "fsmeta.h"

/* ledger.before in fsmeta_before's words. */
struct before {
	bool known, absent;
	char kind[16];          /* "file", "directory", "symlink" */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char sha[CG_SHA256_HEX]; /* "" when the content was not kept */
	const char *target;     /* borrowed: a symlink's, or NULL */
	unsigned parents;       /* absent: parents made with it */
};

static void parse_before(const char *s, struct before *b)
{
	const char *p;
	unsigned mode, uid, gid;

	memset(b, 0, sizeof(*b));
	if (!s || strcmp(s, "unknown") == 0)
		return;
	if (strncmp(s, "absent", 6) == 0) {
		b->known = b->absent = true;
		p = strstr(s, " parents=");
		if (p)
			b->parents = (unsigned)strtoul(p + 9, NULL, 10);
		return;
	}
	if (sscanf(s, "%15s mode=%o uid=%u gid=%u", b->kind, &mode, &uid,
		   &gid) != 4)
		return;
	b->known = true;
	b->mode = (mode_t)mode;
	b->uid = (uid_t)uid;
	b->gid = (gid_t)gid;
	p = strstr(s, " sha256=");
	if (p && strlen(p + 8) >= CG_SHA256_HEX - 1) {
		memcpy(b->sha, p + 8, CG_SHA256_HEX - 1);
		b->sha[CG_SHA256_HEX - 1] = '\0';
	}
	p = strstr(s, " target=");
	if (p)
		b->target = p + 8;
}

/* What is at the path now. */
struct now {
	bool parent_missing, exists;
	struct stat st;
	char sha[CG_SHA256_HEX]; /* a regular file's content */
};

static int look(struct cg_ctx *ctx, const char *path, struct now *nw,
		struct cg_error *err)
{
	const char *base;
	int dirfd, fd, rc;
	unsigned char d[CG_SHA256_LEN];

	memset(nw, 0, sizeof(*nw));
	rc = cg_root_open_parent(ctx->root, path, 0, &dirfd, &base, NULL, err);
	if (rc == CG_ENOTFOUND) {
		nw->parent_missing = true;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (fstatat(dirfd, base, &nw->st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = errno == ENOENT ? 0
				     : cg_error_sys(err, CG_ERR,
						    "cannot stat %s", path);
		goto out;
	}
	nw->exists = true;
	if (S_ISREG(nw->st.st_mode)) {
		fd = openat(dirfd, base,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot read %s", path);
			goto out;
		}
		rc = cg_sha256_fd(fd, d, err);
		close(fd);
		if (rc == 0)
			cg_hex(d, sizeof(d), nw->sha);
	}
out:
	close(dirfd);
	return rc;
}

static const char *kind_of(const struct stat *st)
{
	return S_ISREG(st->st_mode)   ? "a file"
	       : S_ISDIR(st->st_mode) ? "a directory"
	       : S_ISLNK(st->st_mode) ? "a symlink"
				      : "a special file";
}

static bool meta_same(const struct before *b, const struct stat *st)
{
	return (st->st_mode & 07777) == (b->mode & 07777) &&
	       st->st_uid == b->uid && st->st_gid == b->gid;
}

enum op {
	OP_NONE,
	OP_REMOVE,   /* unlink a file or symlink, kept in the store first */
	OP_PUT_FILE, /* the content b.sha from the store, b's mode/owner */
	OP_META,     /* chmod/chown to b's */
	OP_RMDIR,    /* rmdir, then `parents` of its parents */
	OP_PUT_LINK, /* a symlink to b.target, owned by b's */
};

struct plan {
	enum op op;
	struct before b;
	bool gone;        /* OP_RMDIR: the directory itself is gone already */
	uint32_t up;      /* OP_RMDIR: bit k: the (k+1)-th parent goes too */
};

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

static void keep_unknown(struct cg_revert *rv)
{
	rv->verdict = CG_REVERT_KEEP;
	SAY(rv, "keep: what was there before congruent is unknown (it was "
		"as the policy said when first managed, or STATE predates "
		"the ledger); release it with congruent forget %s",
	    rv->id);
}

static void forget_as_before(struct cg_revert *rv, const char *how)
{
	rv->verdict = CG_REVERT_FORGET;
	SAY(rv, "nothing to revert: %s", how);
}

/* The version of path in the store whose content is sha: 'f', 'h' or 0. */
static char stored(struct cg_ctx *ctx, const char *path, const char *sha)
{
	struct cg_backup *v = NULL;
	struct cg_error e;
	size_t n = 0, i;
	char type = 0;

	if (!ctx->store || cg_store_list(ctx->store, path, &v, &n, &e) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].hash, sha) != 0)
			continue;
		if (v[i].type == 'f')
			type = 'f';
		else if (v[i].type == 'h' && !type)
			type = 'h';
	}
	cg_backups_free(v, n);
	return type;
}

static void decide_file(struct cg_ctx *ctx, struct cg_revert *rv,
			const struct now *nw, struct plan *pl)
{
	const struct before *b = &pl->b;
	char m[8];

	if (!b->known) {
		keep_unknown(rv);
		return;
	}
	if (nw->exists && !S_ISREG(nw->st.st_mode)) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: it is now %s, not the file congruent managed",
		    kind_of(&nw->st));
		return;
	}
	if (b->absent) {
		if (!nw->exists) {
			forget_as_before(rv, "already absent, as before "
					     "congruent");
			return;
		}
		rv->verdict = CG_REVERT_CHANGE;
		rv->removes = true;
		pl->op = OP_REMOVE;
		SAY(rv, "remove (created by congruent at %s; its content goes "
			"to the backups)",
		    rv->since);
		return;
	}
	if (strcmp(b->kind, "file") != 0) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: it was %s before congruent; put that back with "
			"congruent restore %s",
		    strcmp(b->kind, "symlink") == 0 ? "a symlink" : b->kind,
		    rv->name);
		return;
	}
	fsmeta_mode_str(b->mode, m);
	if (!b->sha[0]) {
		/* Congruent changed its mode or owner, not its content. */
		if (!nw->exists) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: it is gone, and congruent kept no "
				"content of it (it changed only its mode or "
				"owner)");
			return;
		}
		if (meta_same(b, &nw->st)) {
			forget_as_before(rv, "mode and owner already as "
					     "before congruent");
			return;
		}
		rv->verdict = CG_REVERT_CHANGE;
		pl->op = OP_META;
		SAY(rv, "put back mode %s, owner %u, group %u (congruent "
			"changed no content of it)",
		    m, (unsigned)b->uid, (unsigned)b->gid);
		return;
	}
	if (nw->exists && strcmp(nw->sha, b->sha) == 0 &&
	    meta_same(b, &nw->st)) {
		forget_as_before(rv, "already as before congruent");
		return;
	}
	switch (stored(ctx, rv->name, b->sha)) {
	case 'f':
		rv->verdict = CG_REVERT_CHANGE;
		pl->op = OP_PUT_FILE;
		SAY(rv, "put back the content (sha256 %.12s), mode %s, owner "
			"%u and group %u from before congruent, from the "
			"backups",
		    b->sha, m, (unsigned)b->uid, (unsigned)b->gid);
		return;
	case 'h':
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: only the hash of its content before congruent "
			"was kept (it was over backup_max_mb); release it with "
			"congruent forget %s",
		    rv->id);
		return;
	default:
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: its content before congruent (sha256 %.12s) is "
			"not in the backups; release it with congruent forget "
			"%s",
		    b->sha, rv->id);
		return;
	}
}

static void decide_symlink(struct cg_revert *rv, const struct now *nw,
			   struct plan *pl)
{
	const struct before *b = &pl->b;

	if (!b->known) {
		keep_unknown(rv);
		return;
	}
	if (nw->exists && !S_ISLNK(nw->st.st_mode)) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: it is now %s, not the symlink congruent managed",
		    kind_of(&nw->st));
		return;
	}
	if (b->absent) {
		if (!nw->exists) {
			forget_as_before(rv, "already absent, as before "
					     "congruent");
			return;
		}
		rv->verdict = CG_REVERT_CHANGE;
		rv->removes = true;
		pl->op = OP_REMOVE;
		SAY(rv, "remove (created by congruent at %s)", rv->since);
		return;
	}
	if (strcmp(b->kind, "symlink") != 0 || !b->target) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: it was %s before congruent; put that back with "
			"congruent restore %s",
		    strcmp(b->kind, "file") == 0 ? "a file" : b->kind,
		    rv->name);
		return;
	}
	rv->verdict = CG_REVERT_CHANGE;
	pl->op = OP_PUT_LINK;
	SAY(rv, "point it back to %s, owner %u, group %u, as before congruent",
	    b->target, (unsigned)b->uid, (unsigned)b->gid);
}

/*
 * Is directory path empty but for skip (a name in it, or NULL) and what
 * is reverted away before it in this pass? *first names the first entry
 * that keeps it.
 */
static int empty_but(struct cg_ctx *ctx, const char *path, const char *skip,
		     bool *out, char *first, size_t size, struct cg_error *err)
{
	static const char *const types[] = { "file", "symlink", "directory" };
	struct dirent *de;
	DIR *d;
	int fd, rc;

	const char *base;
	int dirfd;

	*out = true;
	rc = cg_root_open_parent(ctx->root, path, 0, &dirfd, &base, NULL, err);
	if (rc < 0)
		return rc;
	fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot open %s", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cg_error_sys(err, CG_ERR, "cannot read %s", path);
	}
	while ((de = readdir(d))) {
		char id[4200];
		bool gone = false;
		size_t t;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (skip && strcmp(de->d_name, skip) == 0))
			continue;
		for (t = 0; t < CG_ARRAY_SIZE(types) && ctx->reverted; t++) {
			const struct cg_revert *x;

			snprintf(id, sizeof(id), "%s:%s%s%s", types[t], path,
				 strcmp(path, "/") == 0 ? "" : "/", de->d_name);
			x = ctx->reverted(ctx, id);
			if (x && x->verdict == CG_REVERT_CHANGE &&
			    x->removes && !x->failed)
				gone = true;
		}
		if (gone)
			continue;
		*out = false;
		snprintf(first, size, "%s", de->d_name);
		break;
	}
	closedir(d);
	return 0;
}

static int decide_directory(struct cg_ctx *ctx, struct cg_revert *rv,
			    const struct now *nw, struct plan *pl,
			    struct cg_error *err)
{
	const struct before *b = &pl->b;
	char first[256], m[8], up[4096], child[256], stays[4200];
	struct cg_buf also = { 0 };
	bool empty;
	unsigned k;
	int rc;

	if (!b->known) {
		keep_unknown(rv);
		return 0;
	}
	if (nw->exists && !S_ISDIR(nw->st.st_mode)) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: it is now %s, not the directory congruent "
			"managed",
		    kind_of(&nw->st));
		return 0;
	}
	if (!b->absent) {
		fsmeta_mode_str(b->mode, m);
		if (!nw->exists) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: it is gone; congruent does not make it "
				"again to revert");
		} else if (meta_same(b, &nw->st)) {
			forget_as_before(rv, "mode and owner already as "
					     "before congruent");
		} else {
			rv->verdict = CG_REVERT_CHANGE;
			pl->op = OP_META;
			SAY(rv, "put back mode %s, owner %u, group %u, as "
				"before congruent",
			    m, (unsigned)b->uid, (unsigned)b->gid);
		}
		return 0;
	}
	if (nw->exists) {
		rc = empty_but(ctx, rv->name, NULL, &empty, first,
			       sizeof(first), err);
		if (rc < 0)
			return rc;
		if (!empty) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: not empty (it holds %s, which congruent "
				"does not remove)",
			    first);
			return 0;
		}
	}
	/*
	 * The parents it was made with go too, as long as they are empty;
	 * one that is gone already (a run killed midway) is passed over.
	 */
	stays[0] = '\0';
	snprintf(up, sizeof(up), "%s", rv->name);
	for (k = 0; k < b->parents && k < 32; k++) {
		char *slash = strrchr(up, '/');
		char id[4200];
		struct now pn;
		struct cg_error pe;

		if (!slash || slash == up)
			break;
		snprintf(child, sizeof(child), "%s", slash + 1);
		*slash = '\0';
		snprintf(id, sizeof(id), "directory:%s", up);
		if (ctx->declares && ctx->declares(ctx, id)) {
			snprintf(stays, sizeof(stays),
				 "; %s stays: the policy declares it", up);
			break;
		}
		if (look(ctx, up, &pn, &pe) == 0 && !pn.exists)
			continue;
		rc = empty_but(ctx, up, child, &empty, first, sizeof(first),
			       err);
		if (rc < 0 || !empty) {
			snprintf(stays, sizeof(stays), "; %s stays: %s", up,
				 rc < 0 ? "it cannot be read" : "not empty");
			break;
		}
		cg_buf_addf(&also, "%s%s", also.data ? ", " : "", up);
		pl->up |= (uint32_t)1 << k;
	}
	cg_error_clear(err);
	if (!nw->exists && !pl->up) {
		forget_as_before(rv, "already absent, as before congruent");
		cg_buf_release(&also);
		return 0;
	}
	rv->verdict = CG_REVERT_CHANGE;
	rv->removes = true;
	pl->op = OP_RMDIR;
	pl->gone = !nw->exists;
	if (pl->gone)
		SAY(rv, "remove the parents it was made with: %.200s (it is "
			"gone already)%.200s",
		    also.data, stays);
	else
		SAY(rv, "remove (created by congruent at %.60s%s%.200s%.200s)",
		    rv->since, also.data ? ", with its parents " : "",
		    also.data ? also.data : "", stays);
	cg_buf_release(&also);
	return 0;
}

/* Make pl's change to path. */
static int act(struct cg_ctx *ctx, const char *path, const struct plan *pl,
	       struct cg_error *err)
{
	struct cg_content c = { .data = NULL, .len = 0, .fd = -1 };
	const struct before *b = &pl->b;
	char up[4096], *slash;
	const char *base;
	int dirfd, fd, objfd, rc;
	unsigned k;

	dirfd = -1;
	base = NULL;
	/* A directory gone already has only its parents left to remove. */
	if (pl->op != OP_RMDIR || !pl->gone) {
		rc = cg_root_open_parent(ctx->root, path, 0, &dirfd, &base,
					 NULL, err);
		if (rc < 0)
			return rc;
	}
	rc = 0;
	switch (pl->op) {
	case OP_NONE:
		break;
	case OP_REMOVE:
		/* Never lose data: what goes is kept first. */
		rc = cg_store_keep(ctx->store, dirfd, base, path, NULL, err);
		if (rc == 0 && unlinkat(dirfd, base, 0) < 0)
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
		if (rc == 0)
			rc = cg_fs_sync_dir(dirfd, path, err);
		break;
	case OP_PUT_FILE:
		rc = cg_store_open_object(ctx->store, b->sha, &objfd, err);
		if (rc < 0)
			break;
		fd = openat(dirfd, base,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		/* What congruent wrote is kept too: a revert can be undone. */
		if (fd >= 0)
			rc = cg_store_keep(ctx->store, dirfd, base, path, NULL,
					   err);
		if (rc == 0) {
			c.fd = objfd;
			rc = cg_fs_replace(dirfd, base, &c, b->mode & 07777,
					   b->uid, b->gid, fd, NULL, err);
		}
		if (fd >= 0)
			close(fd);
		close(objfd);
		break;
	case OP_META:
		fd = openat(dirfd, base,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fchown(fd, b->uid, b->gid) < 0 ||
		    fchmod(fd, b->mode & 07777) < 0 || fsync(fd) < 0)
			rc = cg_error_sys(err, CG_ERR,
					  "cannot put back the mode and "
					  "owner of %s",
					  path);
		if (fd >= 0)
			close(fd);
		break;
	case OP_PUT_LINK: {
		char tmp[256];

		rc = cg_store_keep(ctx->store, dirfd, base, path, NULL, err);
		if (rc < 0)
			break;
		cg_fs_tmpname(tmp, sizeof(tmp), base);
		if (symlinkat(b->target, dirfd, tmp) == 0)
			cg_fs_temp_made(dirfd, tmp);
		else
			tmp[0] = '\0';
		if (!tmp[0] ||
		    fchownat(dirfd, tmp, b->uid, b->gid,
			     AT_SYMLINK_NOFOLLOW) < 0 ||
		    renameat(dirfd, tmp, dirfd, base) < 0) {
			rc = cg_error_sys(err, CG_ERR,
					  "cannot point %s back to %s", path,
					  b->target);
			if (tmp[0])
				unlinkat(dirfd, tmp, 0);
		} else {
			rc = cg_fs_sync_dir(dirfd, path, err);
		}
		break;
	}
	case OP_RMDIR:
		if (!pl->gone && unlinkat(dirfd, base, AT_REMOVEDIR) < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
			break;
		}
		if (!pl->gone)
			rc = cg_fs_sync_dir(dirfd, path, err);
		snprintf(up, sizeof(up), "%s", path);
		for (k = 0; rc == 0 && k < 32 && pl->up >> k; k++) {
			int pfd;

			slash = strrchr(up, '/');
			if (!slash || slash == up)
				break;
			*slash = '\0';
			if (!(pl->up & ((uint32_t)1 << k)))
				continue;
			rc = cg_root_open_parent(ctx->root, up, 0, &pfd, &base,
						 NULL, err);
			if (rc < 0)
				break;
			if (unlinkat(pfd, base, AT_REMOVEDIR) < 0)
				rc = cg_error_sys(err, CG_ERR,
						  "cannot remove %s", up);
			else
				rc = cg_fs_sync_dir(pfd, up, err);
			close(pfd);
		}
		break;
	}
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

enum fskind { FS_FILE, FS_DIRECTORY, FS_SYMLINK };

static int fs_revert(struct cg_ctx *ctx, struct cg_revert *const *v, size_t n,
		     bool apply, enum fskind kind)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];
		struct cg_error e;
		struct plan pl;
		struct now nw;

		memset(&pl, 0, sizeof(pl));
		cg_error_clear(&e);
		parse_before(rv->before, &pl.b);
		if (look(ctx, rv->name, &nw, &e) < 0) {
			rv->verdict = CG_REVERT_CHANGE;
			rv->failed = true;
			rv->err = e;
			SAY(rv, "cannot look at it");
			continue;
		}
		if (kind == FS_FILE)
			decide_file(ctx, rv, &nw, &pl);
		else if (kind == FS_SYMLINK)
			decide_symlink(rv, &nw, &pl);
		else if (decide_directory(ctx, rv, &nw, &pl, &e) < 0) {
			rv->verdict = CG_REVERT_CHANGE;
			rv->failed = true;
			rv->err = e;
			SAY(rv, "cannot look into it");
			continue;
		}
		if (!apply || rv->verdict != CG_REVERT_CHANGE)
			continue;
		cg_error_clear(&e);
		if (act(ctx, rv->name, &pl, &e) < 0) {
			rv->failed = true;
			rv->err = e;
		}
	}
	return 0;
}

int fsmeta_revert_file(struct cg_ctx *ctx, struct cg_revert *const *v,
		       size_t n, bool apply, struct cg_error *err)
{
	(void)err;
	return fs_revert(ctx, v, n, apply, FS_FILE);
}

int fsmeta_revert_directory(struct cg_ctx *ctx, struct cg_revert *const *v,
			    size_t n, bool apply, struct cg_error *err)
{
	(void)err;
	return fs_revert(ctx, v, n, apply, FS_DIRECTORY);
}

int fsmeta_revert_symlink(struct cg_ctx *ctx, struct cg_revert *const *v,
			  size_t n, bool apply, struct cg_error *err)
{
	(void)err;
	return fs_revert(ctx, v, n, apply, FS_SYMLINK);
}

int fsmeta_revert_path(struct cg_ctx *ctx, struct cg_revert *rv,
		       const char *path, const char *before, bool apply)
{
	struct cg_revert one = *rv;
	struct cg_revert *v = &one;

	one.name = path;
	one.before = before;
	one.verdict = CG_REVERT_KEEP;
	one.removes = one.failed = false;
	one.what[0] = '\0';
	cg_error_clear(&one.err);
	fs_revert(ctx, &v, 1, apply, FS_FILE);
	rv->verdict = one.verdict;
	rv->removes = one.removes;
	rv->failed = one.failed;
	rv->err = one.err;
	memcpy(rv->what, one.what, sizeof(rv->what));
	return 0;
}
