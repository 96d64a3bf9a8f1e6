/* fs.c: resolving paths inside a root without escapes, and durable writes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/util.h"

#define MAX_LINKS 40

int cg_root_open(struct cg_root *root, const char *path, struct cg_error *err)
{
	struct stat st, slash;

	memset(root, 0, sizeof(*root));
	root->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot open root %s", path);
	if (fstat(root->fd, &st) < 0) {
		cg_error_sys(err, CG_ERR, "cannot stat root %s", path);
		close(root->fd);
		root->fd = -1;
		return CG_ERR;
	}
	root->host = stat("/", &slash) == 0 && slash.st_dev == st.st_dev &&
		     slash.st_ino == st.st_ino;
	root->path = cg_xstrdup(path);
	return 0;
}

struct idmap {
	char kind; /* 'u' or 'g' */
	char *name;
	unsigned id;
};

struct cg_idcache {
	struct idmap *map;
	size_t n, cap;
	bool loaded_passwd, loaded_group; /* files of a --root read */
};

void cg_root_ids_forget(struct cg_root *root)
{
	size_t i;

	if (!root)
		return;
	if (root->accounts && root->accounts_free)
		root->accounts_free(root->accounts);
	root->accounts = NULL;
	if (!root->ids)
		return;
	for (i = 0; i < root->ids->n; i++)
		free(root->ids->map[i].name);
	free(root->ids->map);
	free(root->ids);
	root->ids = NULL;
}

void cg_root_release(struct cg_root *root)
{
	if (!root)
		return;
	if (root->fd >= 0)
		close(root->fd);
	free(root->path);
	cg_root_ids_forget(root);
	memset(root, 0, sizeof(*root));
	root->fd = -1;
}

bool cg_path_is_clean(const char *path, const char **why)
{
	const char *p, *q;

	if (path[0] != '/') {
		*why = "it must be an absolute path";
		return false;
	}
	if (strlen(path) >= PATH_MAX) {
		*why = "it is too long";
		return false;
	}
	if (strcmp(path, "/") == 0) {
		*why = "it must not be / itself";
		return false;
	}
	for (p = path + 1;; p = q + 1) {
		size_t len;

		q = strchr(p, '/');
		len = q ? (size_t)(q - p) : strlen(p);
		if (len == 0) {
			*why = q ? "it contains \"//\"" : "it ends in \"/\"";
			return false;
		}
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			*why = "it contains a \".\" or \"..\" component";
			return false;
		}
		if (!q)
			break;
	}
	return true;
}

static void shown_push(char *shown, size_t size, const char *comp)
{
	size_t len = strlen(shown);

	snprintf(shown + len, size - len, "/%s", comp);
}

static void shown_pop(char *shown)
{
	char *slash = strrchr(shown, '/');

	if (slash)
		*slash = '\0';
}

static int open_beneath_walk(int dirfd, const char *relpath, int flags,
			     struct cg_error *err)
{
	/*
	 * Without openat2 (kernels before 5.6): walk component by component
	 * and follow no symlink at all, which is stricter but never unsafe.
	 */
	char *copy = cg_xstrdup(relpath), *comp, *save = NULL;
	int cur = dup(dirfd), next, fd = -1;

	for (comp = strtok_r(copy, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		bool last = !save || strspn(save, "/") == strlen(save);

		if (strcmp(comp, "..") == 0) {
			errno = EXDEV;
			goto out;
		}
		if (last) {
			fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
			goto out;
		}
		next = openat(cur, comp,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			goto out;
		close(cur);
		cur = next;
	}
out:
	if (cur >= 0) {
		int saved = errno;

		close(cur);
		errno = saved;
	}
	free(copy);
	(void)err;
	return fd;
}

/*
 * Open the directory rel under dirfd through real directories only: no
 * "..", no symlink, nothing that can lead out of dirfd, whatever is
 * renamed meanwhile (openat2 RESOLVE_BENEATH; before Linux 5.6 a walk
 * with O_NOFOLLOW at each step, just as strict). rel "" is dirfd itself.
 */
static int open_dir_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_DIRECTORY | O_CLOEXEC);
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		      RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = open_beneath_walk(dirfd, rel[0] ? rel : ".",
				       flags | O_DIRECTORY, NULL);
	return (int)fd;
}

int cg_root_open_parent(struct cg_root *root, const char *path, unsigned flags,
			int *dirfd_out, const char **base_out,
			unsigned *created_out, struct cg_error *err)
{
	const char *base = strrchr(path, '/');
	char *rest, shown[PATH_MAX];
	unsigned links = 0, created = 0;
	size_t pos = 0;
	int cur, rc = CG_ERR, fd;

	if (!base || path[0] != '/')
		return cg_error_set(err, CG_ERR,
				    "%s is not an absolute path", path);
	base++;
	rest = cg_xstrndup(path + 1, (size_t)(base - path - 1));
	/*
	 * The usual case, one system call: every directory on the way is a
	 * real one. Otherwise (a symlink to follow or refuse, a directory
	 * to make, an error to explain) walk it step by step.
	 */
	if (base - path > 1)
		rest[base - path - 2] = '\0'; /* no trailing '/' */
	fd = open_dir_beneath(root->fd, rest, O_RDONLY);
	if (fd >= 0) {
		*dirfd_out = fd;
		*base_out = base;
		if (created_out)
			*created_out = 0;
		rc = 0;
		goto out_free_rest;
	}
	shown[0] = '\0';
	cur = openat(root->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0) {
		cg_error_sys(err, CG_ERR, "cannot open root %s", root->path);
		goto out_free_rest;
	}
	while (rest[pos]) {
		char *comp = rest + pos, *slash = strchr(comp, '/');
		struct stat st;
		int next;

		if (slash) {
			*slash = '\0';
			pos = (size_t)(slash - rest) + 1;
		} else {
			pos += strlen(comp);
		}
		if (!comp[0] || strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			/*
			 * Never openat(cur, ".."): if cur was renamed out of
			 * the root meanwhile, that climbs out with it. shown
			 * is where cur is inside the root, through real
			 * directories only: go up in that, from the root.
			 */
			shown_pop(shown);
			next = open_dir_beneath(root->fd,
						shown[0] ? shown + 1 : "",
						O_PATH);
			if (next < 0) {
				cg_error_sys(err, CG_ERR, "cannot open %s",
					     shown[0] ? shown : "/");
				goto out_close;
			}
			close(cur);
			cur = next;
			continue;
		}
		if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT || !(flags & CG_WALK_MKDIR)) {
				int saved = errno;

				shown_push(shown, sizeof(shown), comp);
				errno = saved;
				if (saved == ENOENT) {
					rc = cg_error_set(err, CG_ENOTFOUND,
							  "directory %s does "
							  "not exist",
							  shown);
					goto out_close;
				}
				cg_error_sys(err, CG_ERR, "cannot stat %s",
					     shown);
				goto out_close;
			}
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
				shown_push(shown, sizeof(shown), comp);
				cg_error_sys(err, CG_ERR, "cannot create %s",
					     shown);
				goto out_close;
			}
			created++;
			if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				shown_push(shown, sizeof(shown), comp);
				cg_error_sys(err, CG_ERR, "cannot stat %s",
					     shown);
				goto out_close;
			}
		}
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n;
			char *nrest;

			shown_push(shown, sizeof(shown), comp);
			if (++links > MAX_LINKS) {
				cg_error_set(err, CG_ERR,
					     "too many symbolic links at %s",
					     shown);
				goto out_close;
			}
			if (st.st_uid != 0 && st.st_uid != geteuid()) {
				cg_error_set(err, CG_ERR,
					     "refusing to follow symlink %s: it "
					     "belongs to uid %u, who could have "
					     "planted it",
					     shown, (unsigned)st.st_uid);
				cg_error_hint(err,
					      "replace %s by a real directory "
					      "or a link owned by root",
					      shown);
				goto out_close;
			}
			n = readlinkat(cur, comp, target, sizeof(target) - 1);
			if (n < 0) {
				cg_error_sys(err, CG_ERR, "cannot read link %s",
					     shown);
				goto out_close;
			}
			target[n] = '\0';
			shown_pop(shown);
			nrest = cg_xasprintf("%s/%s", target, rest + pos);
			free(rest);
			rest = nrest;
			pos = 0;
			if (target[0] == '/') {
				/* Absolute targets mean the root's "/". */
				close(cur);
				cur = openat(root->fd, ".",
					     O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (cur < 0) {
					cg_error_sys(err, CG_ERR,
						     "cannot open root %s",
						     root->path);
					goto out_free_rest;
				}
				shown[0] = '\0';
			}
			continue;
		}
		shown_push(shown, sizeof(shown), comp);
		if (!S_ISDIR(st.st_mode)) {
			cg_error_set(err, CG_ERR, "%s is not a directory", shown);
			goto out_close;
		}
		/*
		 * O_NOFOLLOW: if comp was swapped for a link since the
		 * fstatat, this fails instead of following it.
		 */
		next = openat(cur, comp,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			cg_error_sys(err, CG_ERR, "cannot open %s", shown);
			goto out_close;
		}
		close(cur);
		cur = next;
	}
	fd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		cg_error_sys(err, CG_ERR, "cannot open directory %s",
			     shown[0] ? shown : "/");
		goto out_close;
	}
	*dirfd_out = fd;
	*base_out = base;
	if (created_out)
		*created_out = created;
	rc = 0;
out_close:
	if (cur >= 0)
		close(cur);
out_free_rest:
	free(rest);
	return rc;
}

int cg_root_parent_cached(struct cg_root *root, struct cg_dircache *dc,
			  const char *path, int *dirfd_out,
			  const char **base_out, struct cg_error *err)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;
	int fd, rc;

	if (dc->dir && strlen(dc->dir) == len && memcmp(dc->dir, path, len) == 0) {
		*dirfd_out = dc->fd;
		*base_out = slash + 1;
		return 0;
	}
	cg_dircache_release(dc);
	rc = cg_root_open_parent(root, path, 0, &fd, base_out, NULL, err);
	if (rc < 0)
		return rc;
	dc->dir = cg_xstrndup(path, len);
	dc->fd = fd;
	*dirfd_out = fd;
	return 0;
}

void cg_dircache_release(struct cg_dircache *dc)
{
	if (dc->fd >= 0)
		close(dc->fd);
	free(dc->dir);
	dc->dir = NULL;
	dc->fd = -1;
}

int cg_open_beneath(int dirfd, const char *relpath, int flags, int *fd_out,
		    struct cg_error *err)
{
	struct open_how how;
	long fd;

	if (relpath[0] == '/' || relpath[0] == '\0')
		return cg_error_set(err, CG_ERR,
				    "'%s' must be a path relative to the "
				    "policy tree",
				    relpath);
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY);
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dirfd, relpath, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = open_beneath_walk(dirfd, relpath, flags, err);
	if (fd < 0) {
		if (errno == EXDEV)
			return cg_error_set(err, CG_ERR,
					    "'%s' leads outside the policy tree "
					    "(through '..' or a symlink)",
					    relpath);
		if (errno == ENOENT)
			return cg_error_set(err, CG_ENOTFOUND,
					    "'%s' does not exist in the policy "
					    "tree",
					    relpath);
		return cg_error_sys(err, CG_ERR, "cannot open '%s'", relpath);
	}
	*fd_out = (int)fd;
	return 0;
}

void cg_fs_tmpname(char *tmp, size_t size, const char *name)
{
	unsigned char rnd[4];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = cg_now_ns() ^ (uint64_t)getpid();

		for (i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(t >> (8 * i));
	}
	/* Keep it under NAME_MAX whatever the length of name. */
	snprintf(tmp, size, ".%.200s.cg-%02x%02x%02x%02x", name, rnd[0], rnd[1],
		 rnd[2], rnd[3]);
}

/*
 * What a new inode keeps of the old one's extended attributes, by
 * namespace: security.capability never (a write drops it too, and new
 * content must not inherit the old program's privileges); every other
 * one (security.selinux and other labels, trusted.* when we hold
 * CAP_SYS_ADMIN to see them, user.*, system.posix_acl_*) is copied. One
 * the kernel refuses to set is named in info->lost and the change goes
 * on: a label we may not set must not fail the file on every run.
 */
static bool xattr_refused(int e)
{
	return e == EPERM || e == EACCES || e == ENOTSUP ||
	       e == EOPNOTSUPP || e == EINVAL || e == ERANGE || e == E2BIG;
}

static void lost_add(struct cg_replace_info *info, const char *name, int e)
{
	size_t len;

	if (!info)
		return;
	info->flags |= CG_REPLACE_XATTR_LOST;
	len = strlen(info->lost);
	if (len + strlen(name) + 3 >= sizeof(info->lost))
		return; /* the first few name the problem well enough */
	snprintf(info->lost + len, sizeof(info->lost) - len, "%s%s",
		 len ? ", " : "", name);
	info->lost_errno = e;
}

static int copy_xattrs(int from, int to, struct cg_replace_info *info,
		       struct cg_error *err)
{
	char *names = NULL, *value = NULL, *p;
	ssize_t len, vlen;
	int rc = 0;

	len = flistxattr(from, NULL, 0);
	if (len <= 0)
		return 0; /* none, or not supported here */
	names = cg_xmalloc((size_t)len);
	len = flistxattr(from, names, (size_t)len);
	if (len < 0)
		goto out;
	for (p = names; p < names + len; p += strlen(p) + 1) {
		if (strcmp(p, "security.capability") == 0) {
			if (info)
				info->flags |= CG_REPLACE_FCAPS_DROPPED;
			continue;
		}
		vlen = fgetxattr(from, p, NULL, 0);
		if (vlen < 0)
			continue;
		value = cg_xrealloc(value, (size_t)vlen + 1);
		vlen = fgetxattr(from, p, value, (size_t)vlen);
		if (vlen < 0)
			continue;
		if (fsetxattr(to, p, value, (size_t)vlen, 0) == 0)
			continue;
		if (xattr_refused(errno)) {
			lost_add(info, p, errno);
			continue;
		}
		rc = cg_error_sys(err, CG_ERR,
				  "cannot copy extended attribute %s", p);
		break;
	}
out:
	free(value);
	free(names);
	return rc;
}

static int write_content(int fd, const struct cg_content *c,
			 struct cg_error *err)
{
	char buf[65536];
	off_t off = 0;

	if (c->fd < 0) {
		if (cg_write_all(fd, c->data, c->len) < 0)
			return cg_error_sys(err, CG_ERR, "write failed");
		return 0;
	}
	for (;;) {
		ssize_t n = pread(c->fd, buf, sizeof(buf), off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cg_error_sys(err, CG_ERR, "cannot read source");
		}
		if (n == 0)
			return 0;
		if (cg_write_all(fd, buf, (size_t)n) < 0)
			return cg_error_sys(err, CG_ERR, "write failed");
		off += n;
	}
}

static int set_meta(int fd, mode_t mode, uid_t uid, gid_t gid, int old_fd,
		    struct cg_replace_info *info, struct cg_error *err)
{
	/* chown first: it clears setuid/setgid bits that chmod then sets. */
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		return cg_error_sys(err, CG_ERR, "cannot set owner %d:%d",
				    (int)uid, (int)gid);
	if (old_fd >= 0 && copy_xattrs(old_fd, fd, info, err) < 0)
		return CG_ERR;
	if (fchmod(fd, mode) < 0)
		return cg_error_sys(err, CG_ERR, "cannot set mode %04o",
				    (unsigned)mode);
	return 0;
}

/*
 * The target is a mount point: copy the finished temporary file (tmpfd,
 * whole and on disk) over it. Only this copy can be cut short; the old
 * content is in the backup store by then (file.c keeps it first).
 */
static int write_in_place(int dirfd, const char *name, int tmpfd,
			  mode_t mode, uid_t uid, gid_t gid,
			  struct cg_error *err)
{
	struct cg_content c = { .data = NULL, .len = 0, .fd = tmpfd };
	int fd, rc = CG_ERR;

	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR,
				    "cannot open %s to write it in place", name);
	if (ftruncate(fd, 0) < 0) {
		cg_error_sys(err, CG_ERR, "cannot truncate %s", name);
		goto out;
	}
	if (write_content(fd, &c, err) < 0 ||
	    set_meta(fd, mode, uid, gid, -1, NULL, err) < 0)
		goto out;
	if (fsync(fd) < 0) {
		cg_error_sys(err, CG_ERR, "fsync of %s failed", name);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int cg_fs_stage(int dirfd, const char *name, const struct cg_content *c,
		mode_t mode, uid_t uid, gid_t gid, int old_fd,
		struct cg_staged *s, struct cg_replace_info *info,
		struct cg_error *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (info)
		memset(info, 0, sizeof(*info));
	cg_fs_tmpname(s->tmp, sizeof(s->tmp), name);
	/* Read back too: a mount point gets its content from here. */
	s->fd = openat(dirfd, s->tmp,
		       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		s->tmp[0] = '\0';
		return cg_error_sys(err, CG_ERR,
				    "cannot create a temporary file next to %s",
				    name);
	}
	s->dirfd = dirfd;
	s->name = cg_xstrdup(name);
	s->mode = mode;
	s->uid = uid;
	s->gid = gid;
	cg_fs_temp_made(dirfd, s->tmp);
	if (write_content(s->fd, c, err) < 0 ||
	    set_meta(s->fd, mode, uid, gid, old_fd, info, err) < 0) {
		cg_fs_unstage(s);
		return CG_ERR;
	}
	return 0;
}

int cg_fs_commit(struct cg_staged *s, struct cg_replace_info *info,
		 struct cg_error *err)
{
	int rc;

	if (renameat(s->dirfd, s->tmp, s->dirfd, s->name) == 0) {
		s->tmp[0] = '\0';
		cg_fs_unstage(s);
		return 0;
	}
	if (errno != EBUSY) {
		rc = cg_error_sys(err, CG_ERR, "cannot rename into %s",
				  s->name);
		cg_fs_unstage(s);
		return rc;
	}
	/* A bind-mounted file cannot be renamed over. */
	rc = write_in_place(s->dirfd, s->name, s->fd, s->mode, s->uid, s->gid,
			    err);
	if (rc == 0 && info)
		info->flags |= CG_REPLACE_IN_PLACE;
	cg_fs_unstage(s);
	return rc;
}

void cg_fs_unstage(struct cg_staged *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->tmp[0])
		unlinkat(s->dirfd, s->tmp, 0);
	free(s->name);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/*
 * syncfs(2) reports write-back errors since Linux 5.8 only; before, it
 * always succeeds, so each file gets its own fsync instead.
 */
static bool syncfs_reports_errors(void)
{
	static int known; /* 0 unknown, 1 yes, 2 no */
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (!known) {
		known = 2;
		if (uname(&u) == 0 &&
		    sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
		    (major > 5 || (major == 5 && minor >= 8)))
			known = 1;
	}
	return known == 1;
}

/*
 * Below this many files an fsync each is cheaper than a syncfs, which
 * writes back everything dirty on the file system, other programs' data
 * included (90 ms against 3 ms per fsync on a busy shared disk).
 */
#define SYNCFS_MIN 16

struct sync_job {
	int fd;
	int err; /* errno of its fsync, 0 */
};

static void *sync_job_run(void *arg)
{
	struct sync_job *j = arg;

	j->err = fsync(j->fd) < 0 ? errno : 0;
	return NULL;
}

/*
 * fsync n fds, up to SYNCFS_MIN at once, each in a thread of its own:
 * the disk gets them together and the wait is about one fsync's, not n
 * (a batch of a few files, a backup and its file). Every fsync is waited
 * for; the first failure is the error.
 */
static int fsync_each(const int *fds, size_t n, struct cg_error *err)
{
	struct sync_job job[SYNCFS_MIN];
	pthread_t tid[SYNCFS_MIN];
	bool started[SYNCFS_MIN];
	size_t at, i, k;
	int failed = 0;

	for (at = 0; at < n; at += k) {
		k = n - at < SYNCFS_MIN ? n - at : SYNCFS_MIN;
		for (i = 0; i < k; i++) {
			job[i].fd = fds[at + i];
			job[i].err = 0;
			started[i] = i > 0 && pthread_create(&tid[i], NULL,
							     sync_job_run,
							     &job[i]) == 0;
		}
		for (i = 0; i < k; i++)
			if (!started[i])
				sync_job_run(&job[i]);
		for (i = 0; i < k; i++) {
			if (started[i])
				pthread_join(tid[i], NULL);
			if (job[i].err && !failed)
				failed = job[i].err;
		}
	}
	if (!failed)
		return 0;
	errno = failed;
	return cg_error_sys(err, CG_ERR, "fsync failed");
}

int cg_fs_sync_many(const int *fds, size_t n, struct cg_error *err)
{
	dev_t *devs = cg_xcalloc(n + 1, sizeof(*devs));
	size_t ndevs = 0, i, j;
	bool each = n < SYNCFS_MIN || !syncfs_reports_errors();
	int rc = 0;

	if (each)
		rc = fsync_each(fds, n, err);
	for (i = 0; i < n && rc == 0 && !each; i++) {
		struct stat st;

		if (fstat(fds[i], &st) < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot stat a file "
							"being written");
			break;
		}
		for (j = 0; j < ndevs && devs[j] != st.st_dev; j++)
			;
		if (j < ndevs)
			continue;
		devs[ndevs++] = st.st_dev;
		/*
		 * The first fd of each file system in the order given: it was
		 * opened before the others were written, so its syncfs sees
		 * every write-back error since.
		 */
		if (syncfs(fds[i]) < 0)
			rc = cg_error_sys(err, CG_ERR, "syncfs failed");
	}
	free(devs);
	if (rc < 0)
		cg_error_hint(err, "check the disk and the kernel log");
	return rc;
}

int cg_fs_replace(int dirfd, const char *name, const struct cg_content *c,
		  mode_t mode, uid_t uid, gid_t gid, int old_fd,
		  struct cg_replace_info *info, struct cg_error *err)
{
	struct cg_staged s;

	if (cg_fs_stage(dirfd, name, c, mode, uid, gid, old_fd, &s, info,
			err) < 0)
		return CG_ERR;
	if (fsync(s.fd) < 0) {
		/*
		 * Never retry: after a failed fsync the page cache may claim
		 * the data is clean while the disk never got it.
		 */
		cg_error_sys(err, CG_ERR,
			     "fsync failed; %s was left unchanged", name);
		cg_error_hint(err, "check the disk and the kernel log");
		cg_fs_unstage(&s);
		return CG_ERR;
	}
	/* fsync has reported any write error already (NFS included). */
	if (cg_fs_commit(&s, info, err) < 0)
		return CG_ERR;
	return cg_fs_sync_dir(dirfd, name, err);
}

int cg_fs_sync_dir(int dirfd, const char *what, struct cg_error *err)
{
	if (fsync(dirfd) < 0 && errno != EINVAL)
		return cg_error_sys(err, CG_ERR,
				    "fsync of the directory of %s failed", what);
	return 0;
}

static struct cg_idcache *ids_of(struct cg_root *root)
{
	if (!root->ids)
		root->ids = cg_xcalloc(1, sizeof(*root->ids));
	return root->ids;
}

static void id_add(struct cg_idcache *c, char kind, const char *name,
		   unsigned id)
{
	cg_grow(&c->map, &c->cap, c->n + 1, sizeof(*c->map));
	c->map[c->n].kind = kind;
	c->map[c->n].name = cg_xstrdup(name);
	c->map[c->n].id = id;
	c->n++;
}

static const struct idmap *id_by_name(const struct cg_idcache *c, char kind,
				      const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->map[i].kind == kind && strcmp(c->map[i].name, name) == 0)
			return &c->map[i];
	return NULL;
}

static const struct idmap *id_by_number(const struct cg_idcache *c, char kind,
					unsigned id)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->map[i].kind == kind && c->map[i].id == id)
			return &c->map[i];
	return NULL;
}

/* Read ROOT/etc/passwd or ROOT/etc/group: "name:x:id:..." lines. */
static void load_id_file(struct cg_root *root, char kind)
{
	const char *path = kind == 'u' ? "/etc/passwd" : "/etc/group";
	struct cg_buf b = { 0 };
	const char *base;
	char *line, *save = NULL;
	int dirfd, fd;

	if (cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, NULL) < 0)
		return;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dirfd);
	if (fd < 0)
		return;
	if (cg_read_fd(fd, &b, 64u << 20, NULL) < 0 || !b.data) {
		close(fd);
		cg_buf_release(&b);
		return;
	}
	close(fd);
	for (line = strtok_r(b.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f1 = strchr(line, ':'), *f2, *end;
		unsigned long id;

		if (!f1 || line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		f2 = strchr(f1 + 1, ':');
		if (!f2)
			continue;
		*f1 = '\0';
		id = strtoul(f2 + 1, &end, 10);
		if (end == f2 + 1 || *end != ':' || id > UINT_MAX)
			continue;
		if (!id_by_name(root->ids, kind, line))
			id_add(root->ids, kind, line, (unsigned)id);
	}
	cg_buf_release(&b);
}

static bool parse_number(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= UINT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

static int lookup_id(struct cg_root *root, char kind, const char *name,
		     unsigned *out, struct cg_error *err)
{
	struct cg_idcache *c = ids_of(root);
	const struct idmap *m;

	if (parse_number(name, out))
		return 0;
	m = id_by_name(c, kind, name);
	if (m) {
		*out = m->id;
		return 0;
	}
	if (root->host) {
		char buf[16384];

		if (kind == 'u') {
			struct passwd pw, *res = NULL;

			if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 &&
			    res) {
				id_add(c, 'u', name, (unsigned)pw.pw_uid);
				*out = (unsigned)pw.pw_uid;
				return 0;
			}
		} else {
			struct group gr, *res = NULL;

			if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 &&
			    res) {
				id_add(c, 'g', name, (unsigned)gr.gr_gid);
				*out = (unsigned)gr.gr_gid;
				return 0;
			}
		}
	} else {
		bool *loaded = kind == 'u' ? &c->loaded_passwd : &c->loaded_group;

		if (!*loaded) {
			*loaded = true;
			load_id_file(root, kind);
			m = id_by_name(c, kind, name);
			if (m) {
				*out = m->id;
				return 0;
			}
		}
	}
	cg_error_set(err, CG_ENOTFOUND, "no %s named '%s' in %s%s",
		     kind == 'u' ? "user" : "group", name,
		     root->host ? "" : root->path,
		     kind == 'u' ? "/etc/passwd" : "/etc/group");
	cg_error_hint(err, "create the %s first (declare it earlier), or give "
			   "a number",
		      kind == 'u' ? "user" : "group");
	return CG_ENOTFOUND;
}

int cg_root_uid(struct cg_root *root, const char *name, uid_t *out,
		struct cg_error *err)
{
	unsigned id;
	int rc = lookup_id(root, 'u', name, &id, err);

	if (rc == 0)
		*out = (uid_t)id;
	return rc;
}

int cg_root_gid(struct cg_root *root, const char *name, gid_t *out,
		struct cg_error *err)
{
	unsigned id;
	int rc = lookup_id(root, 'g', name, &id, err);

	if (rc == 0)
		*out = (gid_t)id;
	return rc;
}

static void id_name(struct cg_root *root, char kind, unsigned id, char *buf,
		    size_t size)
{
	struct cg_idcache *c = ids_of(root);
	const struct idmap *m = id_by_number(c, kind, id);

	if (!m && root->host) {
		char tmp[16384];

		if (kind == 'u') {
			struct passwd pw, *res = NULL;

			if (getpwuid_r((uid_t)id, &pw, tmp, sizeof(tmp), &res) ==
				    0 &&
			    res) {
				id_add(c, 'u', pw.pw_name, id);
				m = &c->map[c->n - 1];
			}
		} else {
			struct group gr, *res = NULL;

			if (getgrgid_r((gid_t)id, &gr, tmp, sizeof(tmp), &res) ==
				    0 &&
			    res) {
				id_add(c, 'g', gr.gr_name, id);
				m = &c->map[c->n - 1];
			}
		}
	} else if (!m) {
		bool *loaded = kind == 'u' ? &c->loaded_passwd : &c->loaded_group;

		if (!*loaded) {
			*loaded = true;
			load_id_file(root, kind);
			m = id_by_number(c, kind, id);
		}
	}
	if (m)
		snprintf(buf, size, "%s", m->name);
	else
		snprintf(buf, size, "%u", id);
}

void cg_root_user_name(struct cg_root *root, uid_t uid, char *buf, size_t size)
{
	id_name(root, 'u', (unsigned)uid, buf, size);
}

void cg_root_group_name(struct cg_root *root, gid_t gid, char *buf,
			size_t size)
{
	id_name(root, 'g', (unsigned)gid, buf, size);
}

int cg_mkdir_p(const char *dir, mode_t mode, struct cg_error *err)
{
	char *copy, *p;
	size_t len = strlen(dir);
	struct stat st;
	int rc = 0;

	if (len == 0)
		return cg_error_set(err, CG_ERR, "empty directory name");
	copy = cg_xstrdup(dir);

	/*
	 * Trailing slashes ("/var/lib/cg/") would make the last real
	 * directory look like a parent and get 0755 instead of mode.
	 */
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	for (p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char saved = *p;

			*p = '\0';
			/* Only the last directory is private; those on the
			 * way get the usual 0755. */
			if (mkdir(copy, saved ? 0755 : mode) < 0 &&
			    errno != EEXIST) {
				rc = cg_error_sys(err, CG_ERR,
						  "cannot create directory %s",
						  copy);
				break;
			}
			*p = saved;
		}
		if (!*p)
			break;
	}
	if (rc == 0 && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		rc = cg_error_set(err, CG_ERR, "%s is not a directory", dir);
	free(copy);
	return rc;
}

int cg_state_dir_in_root(const char *root, const char *rel, bool create,
			 char **out, struct cg_error *err)
{
	char *copy = cg_xstrdup(rel), *comp, *save = NULL, *next;
	int cur, fd, rc = 0;
	struct stat st;

	cur = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0) {
		free(copy);
		return cg_error_sys(err, CG_ERR, "cannot open root %s", root);
	}
	for (comp = strtok_r(copy, "/", &save); comp; comp = next) {
		next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			rc = cg_error_set(err, CG_ERR,
					  "state_dir %s has a '%s' in it", rel,
					  comp);
			break;
		}
		fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && !create) {
			/* Nothing there: nothing to read, nothing redirected. */
			break;
		}
		if (fd < 0 && errno == ENOENT) {
			/* Only the last directory is private, as cg_mkdir_p. */
			if (mkdirat(cur, comp, next ? 0755 : 0700) < 0 &&
			    errno != EEXIST) {
				rc = cg_error_sys(err, CG_ERR,
						  "cannot create %s%s", root,
						  rel);
				break;
			}
			fd = openat(cur, comp, O_PATH | O_DIRECTORY |
						       O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			bool link = errno == ELOOP || errno == ENOTDIR;

			rc = cg_error_sys(err, CG_ERR, "state directory %s%s: "
					  "cannot open '%s'%s", root, rel,
					  comp, link ? " (a symlink or not a "
						       "directory)" : "");
			if (link)
				cg_error_hint(err, "a symlink in the image "
						   "could send the lock, backups "
						   "and reports out of the "
						   "root: remove it, or pass "
						   "--state-dir DIR");
			break;
		}
		close(cur);
		cur = fd;
		if (next)
			continue;
		/* The last one holds backups: it must be ours alone. */
		if (fstat(cur, &st) < 0 || st.st_uid != geteuid() ||
		    (st.st_mode & 022)) {
			rc = cg_error_set(err, CG_ERR,
					  "state directory %s%s is not owned "
					  "by us or is writable by others",
					  root, rel);
			cg_error_hint(err, "chown it to root and chmod 0700, "
					   "or pass --state-dir DIR");
		}
	}
	close(cur);
	free(copy);
	if (rc == 0)
		*out = cg_xasprintf("%s%s", strcmp(root, "/") ? root : "",
				    rel);
	return rc;
}

int cg_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct cg_error *err)
{
	struct cg_atomic a;

	if (cg_atomic_begin(&a, path, mode, err) < 0)
		return CG_ERR;
	if (cg_write_all(a.fd, data, len) < 0) {
		int rc = cg_error_sys(err, CG_ERR, "cannot write %s", path);

		cg_atomic_abort(&a);
		return rc;
	}
	return cg_atomic_commit(&a, err);
}

int cg_atomic_begin(struct cg_atomic *a, const char *path, mode_t mode,
		    struct cg_error *err)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	memset(a, 0, sizeof(*a));
	a->fd = a->dirfd = -1;
	dir = !slash ? cg_xstrdup(".")
	      : slash == path ? cg_xstrdup("/")
			      : cg_xstrndup(path, (size_t)(slash - path));
	a->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->dirfd < 0) {
		cg_error_sys(err, CG_ERR, "cannot open directory %s", dir);
		free(dir);
		return CG_ERR;
	}
	free(dir);
	a->name = cg_xstrdup(slash ? slash + 1 : path);
	cg_fs_tmpname(a->tmp, sizeof(a->tmp), a->name);
	a->fd = openat(a->dirfd, a->tmp,
		       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (a->fd < 0) {
		cg_error_sys(err, CG_ERR, "cannot create a file next to %s",
			     path);
		cg_atomic_abort(a);
		return CG_ERR;
	}
	cg_fs_temp_made(a->dirfd, a->tmp);
	return 0;
}

int cg_atomic_commit(struct cg_atomic *a, struct cg_error *err)
{
	int rc;

	if (!a->no_sync && fsync(a->fd) < 0) {
		rc = cg_error_sys(err, CG_ERR, "fsync of %s failed", a->name);
		cg_atomic_abort(a);
		return rc;
	}
	close(a->fd);
	a->fd = -1;
	if (renameat(a->dirfd, a->tmp, a->dirfd, a->name) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot rename into %s", a->name);
		cg_atomic_abort(a);
		return rc;
	}
	a->tmp[0] = '\0';
	rc = a->no_sync ? 0 : cg_fs_sync_dir(a->dirfd, a->name, err);
	cg_atomic_abort(a);
	return rc;
}

void cg_atomic_abort(struct cg_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->dirfd >= 0) {
		if (a->tmp[0])
			unlinkat(a->dirfd, a->tmp, 0);
		close(a->dirfd);
	}
	free(a->name);
	memset(a, 0, sizeof(*a));
	a->fd = a->dirfd = -1;
}
