/* account.c: reading the root's account files; running the shadow tools. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/exec.h"
#include "cg/util.h"
#include "account.h"

#define ACCOUNT_FILE_MAX (64u << 20)

/* The account files, in the order of struct account_cache's st. */
static const char *const etc_files[] = {
	"/etc/passwd", "/etc/shadow", "/etc/group",
};

/* What account_db_get keeps in the root, with the files it was read from. */
struct account_cache {
	struct account_db db;
	struct stat st[3]; /* each file as read; all zero: missing */
};

/* Is a the same file, unchanged, as b? */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* lstat ROOT/path into st (all zero when it is missing or unreachable). */
static void stat_etc(struct cg_root *root, const char *path, struct stat *st)
{
	const char *base;
	int dirfd;

	memset(st, 0, sizeof(*st));
	if (cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, NULL) < 0)
		return;
	if (fstatat(dirfd, base, st, AT_SYMLINK_NOFOLLOW) < 0)
		memset(st, 0, sizeof(*st));
	close(dirfd);
}

/*
 * Read ROOT/path whole into b, and what it is into st; a missing file
 * leaves b empty and st zero.
 */
static int read_etc(struct cg_root *root, const char *path, struct cg_buf *b,
		    struct stat *st, struct cg_error *err)
{
	const char *base;
	int dirfd, fd, rc;

	memset(st, 0, sizeof(*st));
	rc = cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, err);
	if (rc == CG_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dirfd);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return cg_error_sys(err, CG_ERR, "cannot open %s%s",
				    root->host ? "" : root->path, path);
	}
	if (fstat(fd, st) < 0)
		memset(st, 0, sizeof(*st));
	rc = cg_read_fd(fd, b, ACCOUNT_FILE_MAX, err);
	close(fd);
	if (rc < 0)
		cg_error_prefix(err, "cannot read %s%s",
				root->host ? "" : root->path, path);
	return rc;
}

/*
 * Split line into at most max ':'-separated fields (in place); the count.
 */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	while (n < max && (line = strchr(line, ':'))) {
		*line++ = '\0';
		f[n++] = line;
	}
	return n;
}

static bool number(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= UINT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Each line of b that is an entry ("name:..."), NIS "+"/"-" lines skipped. */
static char *next_line(char **p)
{
	char *line;

	while (*p && **p) {
		line = *p;
		*p = strchr(line, '\n');
		if (*p)
			*(*p)++ = '\0';
		if (line[0] && line[0] != '#' && line[0] != '+' &&
		    line[0] != '-')
			return line;
	}
	return NULL;
}

static char **split_members(const char *s)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	const char *p = s, *comma;

	cg_grow(&v, &cap, 1, sizeof(*v));
	while (*p) {
		comma = strchr(p, ',');
		if (!comma)
			comma = p + strlen(p);
		if (comma > p) {
			cg_grow(&v, &cap, n + 2, sizeof(*v));
			v[n++] = cg_xstrndup(p, (size_t)(comma - p));
		}
		p = *comma ? comma + 1 : comma;
	}
	v[n] = NULL;
	return v;
}

static int db_load(struct cg_root *root, struct account_db *db,
		   struct stat st[3], struct cg_error *err)
{
	struct cg_buf pw = { 0 }, sh = { 0 }, gr = { 0 };
	size_t cap = 0, i;
	char *p, *line, *f[8];
	int rc;

	memset(db, 0, sizeof(*db));
	rc = read_etc(root, etc_files[0], &pw, &st[0], err);
	if (rc == 0)
		rc = read_etc(root, etc_files[1], &sh, &st[1], err);
	if (rc == 0)
		rc = read_etc(root, etc_files[2], &gr, &st[2], err);
	if (rc < 0)
		goto out;
	for (p = pw.data; (line = next_line(&p));) {
		struct account_user *u;
		unsigned uid, gid;

		if (split(line, f, 7) != 7 || !number(f[2], &uid) ||
		    !number(f[3], &gid) || account_user(db, f[0]))
			continue;
		cg_grow(&db->users, &cap, db->nusers + 1, sizeof(*db->users));
		u = &db->users[db->nusers++];
		u->name = cg_xstrdup(f[0]);
		u->hash = strcmp(f[1], "x") == 0 ? NULL : cg_xstrdup(f[1]);
		u->uid = uid;
		u->gid = gid;
		u->gecos = cg_xstrdup(f[4]);
		u->home = cg_xstrdup(f[5]);
		u->shell = cg_xstrdup(f[6]);
	}
	for (p = sh.data; (line = next_line(&p));) {
		if (split(line, f, 3) < 2)
			continue;
		for (i = 0; i < db->nusers; i++) {
			if (strcmp(db->users[i].name, f[0]) != 0)
				continue;
			free(db->users[i].hash);
			db->users[i].hash = cg_xstrdup(f[1]);
		}
	}
	cap = 0;
	for (p = gr.data; (line = next_line(&p));) {
		struct account_group *g;
		unsigned gid;

		if (split(line, f, 4) != 4 || !number(f[2], &gid) ||
		    account_group(db, f[0]))
			continue;
		cg_grow(&db->groups, &cap, db->ngroups + 1, sizeof(*db->groups));
		g = &db->groups[db->ngroups++];
		g->name = cg_xstrdup(f[0]);
		g->gid = gid;
		g->members = split_members(f[3]);
	}
out:
	/* shadow's bytes are hashes: do not leave them in freed memory. */
	if (sh.data)
		memset(sh.data, 0, sh.len);
	cg_buf_release(&pw);
	cg_buf_release(&sh);
	cg_buf_release(&gr);
	if (rc < 0)
		account_db_release(db);
	return rc;
}

static void cache_free(void *p)
{
	struct account_cache *c = p;

	account_db_release(&c->db);
	free(c);
}

int account_db_get(struct cg_root *root, const struct account_db **out,
		   struct cg_error *err)
{
	struct account_cache *c = root->accounts;
	struct stat st;
	size_t i;

	if (c && root->accounts_free == cache_free) {
		for (i = 0; i < 3; i++) {
			stat_etc(root, etc_files[i], &st);
			if (!same_file(&st, &c->st[i]))
				break;
		}
		if (i == 3) {
			*out = &c->db;
			return 0;
		}
	}
	/* Changed since (by a package's maintainer script, say): read again. */
	if (root->accounts && root->accounts_free)
		root->accounts_free(root->accounts);
	root->accounts = NULL;
	c = cg_xcalloc(1, sizeof(*c));
	if (db_load(root, &c->db, c->st, err) < 0) {
		free(c);
		return CG_ERR;
	}
	root->accounts = c;
	root->accounts_free = cache_free;
	*out = &c->db;
	return 0;
}

void account_db_release(struct account_db *db)
{
	size_t i, j;

	if (!db)
		return;
	for (i = 0; i < db->nusers; i++) {
		struct account_user *u = &db->users[i];

		free(u->name);
		free(u->gecos);
		free(u->home);
		free(u->shell);
		if (u->hash)
			memset(u->hash, 0, strlen(u->hash));
		free(u->hash);
	}
	for (i = 0; i < db->ngroups; i++) {
		free(db->groups[i].name);
		for (j = 0; db->groups[i].members[j]; j++)
			free(db->groups[i].members[j]);
		free(db->groups[i].members);
	}
	free(db->users);
	free(db->groups);
	memset(db, 0, sizeof(*db));
}

const struct account_user *account_user(const struct account_db *db,
					const char *name)
{
	size_t i;

	for (i = 0; i < db->nusers; i++)
		if (strcmp(db->users[i].name, name) == 0)
			return &db->users[i];
	return NULL;
}

const struct account_user *account_user_by_uid(const struct account_db *db,
					       unsigned uid)
{
	size_t i;

	for (i = 0; i < db->nusers; i++)
		if (db->users[i].uid == uid)
			return &db->users[i];
	return NULL;
}

const struct account_group *account_group(const struct account_db *db,
					  const char *name)
{
	size_t i;

	for (i = 0; i < db->ngroups; i++)
		if (strcmp(db->groups[i].name, name) == 0)
			return &db->groups[i];
	return NULL;
}

const struct account_group *account_group_by_gid(const struct account_db *db,
						 unsigned gid)
{
	size_t i;

	for (i = 0; i < db->ngroups; i++)
		if (db->groups[i].gid == gid)
			return &db->groups[i];
	return NULL;
}

bool account_group_has(const struct account_group *g, const char *user)
{
	size_t i;

	for (i = 0; g->members[i]; i++)
		if (strcmp(g->members[i], user) == 0)
			return true;
	return false;
}

bool account_name_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 32)
		return false;
	if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (i = 1; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-')
			continue;
		if (c == '$' && i == len - 1)
			continue;
		return false;
	}
	return true;
}

static bool has_arg(const char *const *argv, const char *arg)
{
	size_t i;

	for (i = 0; argv[i]; i++)
		if (strcmp(argv[i], arg) == 0)
			return true;
	return false;
}

int account_run(struct cg_ctx *ctx, const char *const *argv, const char *in,
		bool chroot, struct cg_error *err)
{
	const char *v[48];
	struct cg_exec x;
	struct cg_exec_result res;
	char line[512];
	char prefix[PATH_MAX], link[64], skel[PATH_MAX + 16];
	ssize_t len;
	size_t n = 0, i;
	int rc;

	v[n++] = argv[0];
	if (!ctx->root->host) {
		/*
		 * --prefix, not --root: the tools then read the image's
		 * login.defs and write its files without a chroot, so the
		 * image needs no shadow tools of its own. The prefix must be
		 * absolute: the path of the directory we hold open.
		 */
		snprintf(link, sizeof(link), "/proc/self/fd/%d", ctx->root->fd);
		len = readlink(link, prefix, sizeof(prefix) - 1);
		if (len <= 0 || prefix[0] != '/')
			return cg_error_sys(err, CG_ERR,
					    "cannot tell the path of root %s",
					    ctx->root->path);
		prefix[len] = '\0';
		v[n++] = chroot ? "--root" : "--prefix";
		v[n++] = prefix;
		if (strcmp(argv[0], "useradd") == 0 && has_arg(argv, "-m")) {
			/* Else the host's /etc/skel is copied into the image. */
			snprintf(skel, sizeof(skel), "%s/etc/skel", prefix);
			v[n++] = "-k";
			v[n++] = skel;
		}
	}
	for (i = 1; argv[i] && n < sizeof(v) / sizeof(v[0]) - 1; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	cg_exec_init(&x, v);
	if (in) {
		x.in = in;
		x.in_len = strlen(in);
	}
	memset(&res, 0, sizeof(res));
	rc = cg_ctx_exec(ctx, &x, &res, err);
	cg_root_ids_forget(ctx->root);
	if (rc == 0 && res.status != 0) {
		cg_exec_first_line(&res, line, sizeof(line));
		rc = cg_error_set(err, CG_ERR, "%s failed (exit %d)%s%s",
				  argv[0], res.status, line[0] ? ": " : "",
				  line);
	}
	cg_exec_result_release(&res);
	return rc;
}

const struct cg_resource *account_earlier(const struct cg_ctx *ctx,
					  const struct cg_resource *r,
					  const char *id)
{
	const struct cg_resource *d;
	size_t i;

	if (!ctx->earlier)
		return NULL;
	for (i = 0; (d = ctx->earlier(ctx, r, i)); i++)
		if (strcmp(d->id, id) == 0)
			return d->status == CG_STATUS_REPAIRED ||
					       d->status == CG_STATUS_DRIFTED
				       ? d
				       : NULL;
	return NULL;
}

void account_validate_ids(struct cg_resource *const *res, size_t n,
			  const struct cg_parse_ctx *pc, const char *what,
			  bool (*id_of)(const struct cg_resource *r,
					unsigned *out))
{
	size_t i, j;
	unsigned a, b;
	struct cg_error e;

	/* Quadratic, over the few resources that name a number. */
	for (i = 0; i < n; i++) {
		if (!id_of(res[i], &a))
			continue;
		for (j = 0; j < i; j++) {
			if (!id_of(res[j], &b) || a != b)
				continue;
			cg_error_clear(&e);
			snprintf(e.msg, sizeof(e.msg),
				 "%s %u is asked for by %s too (%s)", what, a,
				 res[j]->id, res[j]->where);
			snprintf(e.where, sizeof(e.where), "%s", res[i]->where);
			snprintf(e.resource, sizeof(e.resource), "%s",
				 res[i]->id);
			snprintf(e.hint, sizeof(e.hint),
				 "give each its own %s", what);
			pc->report(pc, &e);
			break;
		}
	}
}

bool account_gives_up(const struct cg_ctx *ctx, const struct cg_resource *r,
		      const char *kind, const char *name, const char *field)
{
	const struct cg_resource *d;
	char id[64];
	uint32_t i;

	snprintf(id, sizeof(id), "%s:%s", kind, name);
	d = account_earlier(ctx, r, id);
	if (!d)
		return false;
	if (d->change.action == CG_ACTION_DELETE)
		return true;
	for (i = 0; i < d->change.n; i++)
		if (strcmp(d->change.items[i].field, field) == 0)
			return true;
	return false;
}

const char *account_earlier_item(const struct cg_ctx *ctx,
				 const struct cg_resource *r, const char *id,
				 const char *field)
{
	const struct cg_resource *d;
	const char *by;
	size_t i, j;

	if (!ctx->made_before || !ctx->earlier)
		return NULL;
	by = ctx->made_before(ctx, r, id);
	if (!by || strcmp(by, id) != 0)
		return NULL;
	for (i = 0; (d = ctx->earlier(ctx, r, i)); i++) {
		if (strcmp(d->id, id) != 0)
			continue;
		for (j = 0; j < d->change.n; j++)
			if (strcmp(d->change.items[j].field, field) == 0)
				return d->change.items[j].to;
	}
	return NULL;
}
