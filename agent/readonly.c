/* readonly.c: plan's second phase: diff in a sandbox that cannot write, outcomes back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

/*
 * plan runs in two phases (doc/design-notes.md, "A provably read-only
 * plan"). The first, in this process, observes every resource while it
 * may still read what needs privileges (the firewall, root-only files).
 * The second, in a child, diffs: the child enters a sandbox in which
 * nothing can be written, computes the plan and sends the outcomes back
 * through a pipe; this process puts them into the policy, so that the
 * caller prints (and may report) as after any engine run.
 */

#define NOBODY ((uid_t)65534)
#define MAGIC "congruent-plan-1\n"
#define OUT_MAX (1ull << 32) /* bytes of outcomes: diffs are bounded */

/* What the first phase must keep to build the sandbox. */
uint64_t cg_sandbox_caps(void)
{
	return (UINT64_C(1) << CAP_SYS_ADMIN) | (UINT64_C(1) << CAP_SETUID) |
	       (UINT64_C(1) << CAP_SETGID) | (UINT64_C(1) << CAP_SETPCAP);
}

/* --- the sandbox ---------------------------------------------------- */

static int write_proc(const char *path, const char *text, struct cg_error *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || cg_write_all(fd, text, strlen(text)) < 0) {
		cg_error_sys(err, CG_ERR, "cannot write %s", path);
		if (fd >= 0)
			close(fd);
		return CG_ERR;
	}
	close(fd);
	return 0;
}

/*
 * Without CAP_SYS_ADMIN (plan as a user): a user namespace of our own,
 * where we may make mounts read-only, with our ids mapped to themselves.
 */
static int enter_userns(struct cg_error *err)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) <
	    0) {
		cg_error_sys(err, CG_ERR, "cannot make a user namespace");
		cg_error_hint(err, "plan diffs in a private read-only mount "
				   "namespace: run it as root, or allow "
				   "unprivileged user namespaces "
				   "(sysctl kernel.unprivileged_userns_clone=1)");
		return CG_ERR;
	}
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_proc("/proc/self/uid_map", map, err) < 0 ||
	    write_proc("/proc/self/setgroups", "deny\n", err) < 0)
		return CG_ERR;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_proc("/proc/self/gid_map", map, err);
}

/* mountinfo escapes blanks and backslashes as \ooo octal. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* A bind remount replaces the per-mount flags: keep the others. */
static unsigned long kept_flags(const char *mp)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ ST_NOSUID, MS_NOSUID },	  { ST_NODEV, MS_NODEV },
		{ ST_NOEXEC, MS_NOEXEC },	  { ST_NOATIME, MS_NOATIME },
		{ ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
	};
	unsigned long ms = 0;
	struct statvfs v;
	size_t i;

	if (statvfs(mp, &v) < 0)
		return 0;
	for (i = 0; i < CG_ARRAY_SIZE(map); i++)
		if (v.f_flag & map[i].st)
			ms |= map[i].ms;
	return ms;
}

int cg_sandbox_remount(bool walk, struct cg_error *err)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOSUID,
	};
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!walk) {
		if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &attr,
				  sizeof(attr)) == 0)
			return 0;
		if (errno != ENOSYS)
			return cg_error_sys(err, CG_ERR,
					    "cannot make the mounts read-only");
	}
	/* Parents come before their children in mountinfo. */
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return cg_error_sys(err, CG_ERR,
				    "cannot read /proc/self/mountinfo");
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		char mp[4096];

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		/* A mount hidden under another cannot be reached by its
		 * path; the check that follows finds it still writable. */
		if (mount(NULL, mp, NULL,
			  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV |
				  MS_NOSUID | kept_flags(mp),
			  NULL) < 0 &&
		    errno != ENOENT)
			rc = cg_error_sys(err, CG_ERR,
					  "cannot make %s read-only", mp);
	}
	free(line);
	fclose(f);
	return rc;
}

struct mnt {
	unsigned id, parent;
	char *path; /* owned, unescaped */
	bool ro, nodev;
};

/* Is m covered by a mount on top of it (same place, m its parent)? */
static const struct mnt *cover_of(const struct mnt *v, size_t n,
				  const struct mnt *m)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].parent == m->id && &v[i] != m &&
		    strcmp(v[i].path, m->path) == 0)
			return &v[i];
	return NULL;
}

static const struct mnt *parent_of(const struct mnt *v, size_t n,
				   const struct mnt *m)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id == m->parent && &v[i] != m)
			return &v[i];
	return NULL;
}

static bool reachable(const struct mnt *v, size_t n, const struct mnt *m,
		      int depth);

/*
 * Can a path reach the place where m is mounted? Its parent must be
 * reachable, unless m sits on top of its parent: then m is where the
 * parent was. depth bounds a malformed table.
 */
static bool place_reachable(const struct mnt *v, size_t n,
			    const struct mnt *m, int depth)
{
	const struct mnt *parent = parent_of(v, n, m);

	if (!parent)
		return true; /* our root */
	if (depth > 64)
		return false;
	if (cover_of(v, n, parent) == m)
		return place_reachable(v, n, parent, depth + 1);
	return reachable(v, n, parent, depth + 1);
}

/* Can a path reach m: nothing on top of it, and its place reachable? */
static bool reachable(const struct mnt *v, size_t n, const struct mnt *m,
		      int depth)
{
	return !cover_of(v, n, m) && place_reachable(v, n, m, depth);
}

int cg_sandbox_check_mounts(unsigned *count, struct cg_error *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct mnt *v = NULL;
	size_t n = 0, cap = 0, lcap = 0, i;
	char *line = NULL;
	int rc = 0;

	*count = 0;
	if (!f)
		return cg_error_sys(err, CG_ERR,
				    "cannot read /proc/self/mountinfo");
	while (getline(&line, &lcap, f) > 0) {
		char mp[4096], opts[1024], *o, *save = NULL;
		struct mnt m = { 0 };

		if (sscanf(line, "%u %u %*s %*s %4095s %1023s", &m.id, &m.parent,
			   mp, opts) != 4)
			continue;
		for (o = strtok_r(opts, ",", &save); o;
		     o = strtok_r(NULL, ",", &save)) {
			m.ro |= strcmp(o, "ro") == 0;
			m.nodev |= strcmp(o, "nodev") == 0;
		}
		unescape(mp);
		m.path = cg_xstrdup(mp);
		cg_grow(&v, &cap, n + 1, sizeof(*v));
		v[n++] = m;
	}
	free(line);
	fclose(f);
	for (i = 0; i < n && rc == 0; i++) {
		/* The walk cannot reach a covered mount; neither can a path. */
		if (!reachable(v, n, &v[i], 0))
			continue;
		if (!v[i].ro || !v[i].nodev)
			rc = cg_error_set(err, CG_ERR,
					  "%s is still mounted %s", v[i].path,
					  v[i].ro ? "with devices"
						  : "read-write");
		(*count)++;
	}
	if (rc == 0 && *count == 0)
		rc = cg_error_set(err, CG_ERR, "no mounts seen");
	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
	return rc;
}

/*
 * An fd opened before the namespace was made leads to the host's mounts,
 * not our read-only copies: openat() from it could still write. So every
 * directory fd (the root, the policy tree) is opened again by its path,
 * in here, checked to be the same directory and put in its place; every
 * other fd is closed, but keep (the outcome pipe) and 0, 1, 2, which the
 * caller made /dev/null, /dev/null and a pipe.
 */
static int rehome_fds(int keep, struct cg_error *err)
{
	int fds[1024], nfds = 0, i;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return cg_error_sys(err, CG_ERR, "cannot list /proc/self/fd");
	while ((de = readdir(d)) && nfds < (int)CG_ARRAY_SIZE(fds)) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd > 2 && fd != keep &&
		    fd != dirfd(d))
			fds[nfds++] = fd;
	}
	closedir(d);
	for (i = 0; i < nfds; i++) {
		char link[64], path[4096];
		struct stat a, b;
		ssize_t len;
		int fl, nfd;

		if (fstat(fds[i], &a) < 0)
			continue;
		if (!S_ISDIR(a.st_mode)) {
			close(fds[i]);
			continue;
		}
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fds[i]);
		len = readlink(link, path, sizeof(path) - 1);
		fl = fcntl(fds[i], F_GETFL);
		if (len <= 0 || fl < 0)
			return cg_error_sys(err, CG_ERR,
					    "cannot see what fd %d is", fds[i]);
		path[len] = '\0';
		nfd = path[0] == '/' ? open(path, ((fl & O_PATH) ? O_PATH
								  : O_RDONLY) |
							  O_DIRECTORY |
							  O_NOFOLLOW |
							  O_CLOEXEC)
				     : -1;
		if (nfd < 0 || fstat(nfd, &b) < 0 || a.st_dev != b.st_dev ||
		    a.st_ino != b.st_ino) {
			if (nfd >= 0)
				close(nfd);
			return cg_error_set(err, CG_ERR,
					    "cannot open %s again inside the "
					    "sandbox",
					    path);
		}
		if (dup3(nfd, fds[i], O_CLOEXEC) < 0) {
			close(nfd);
			return cg_error_sys(err, CG_ERR, "dup3 failed");
		}
		close(nfd);
	}
	return 0;
}

/* The root, the working directory and every directory fd: read-only. */
static int check_fds(struct cg_error *err)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	struct statvfs v;
	int rc = 0;

	if (statvfs("/", &v) < 0 || !(v.f_flag & ST_RDONLY) ||
	    statvfs(".", &v) < 0 || !(v.f_flag & ST_RDONLY))
		return cg_error_set(err, CG_ERR,
				    "the root or the working directory is "
				    "still writable");
	if (!d)
		return cg_error_sys(err, CG_ERR, "cannot list /proc/self/fd");
	while (rc == 0 && (de = readdir(d))) {
		int fd = atoi(de->d_name);
		struct stat st;

		if (de->d_name[0] == '.' || fd == dirfd(d) ||
		    fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (fstatvfs(fd, &v) < 0 || !(v.f_flag & ST_RDONLY))
			rc = cg_error_set(err, CG_ERR,
					  "fd %d still leads to a writable "
					  "mount",
					  fd);
	}
	closedir(d);
	return rc;
}

int cg_sandbox_enter(int keep_fd, char *summary, size_t size,
		     struct cg_error *err)
{
	return cg_sandbox_enter_in(keep_fd, NULL, summary, size, err);
}

int cg_sandbox_enter_in(int keep_fd, const char *root, char *summary,
			size_t size, struct cg_error *err)
{
	struct cg_caps_state st;
	bool privileged;
	unsigned mounts;
	int rc;

	if (cg_caps_read(0, &st, err) < 0)
		goto fail;
	privileged = (st.eff & cg_sandbox_caps()) == cg_sandbox_caps();
	if (privileged) {
		if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0) {
			cg_error_sys(err, CG_ERR,
				     "cannot make a mount namespace");
			goto fail;
		}
	} else if (geteuid() == 0) {
		/*
		 * uid 0 in a user namespace is still uid 0 to systemd and
		 * D-Bus, which authorise by uid: not a sandbox.
		 */
		cg_error_set(err, CG_ERR,
			     "plan as root needs CAP_SYS_ADMIN, CAP_SETUID, "
			     "CAP_SETGID and CAP_SETPCAP to build its "
			     "read-only sandbox");
		cg_error_hint(err, "allow them in the unit's "
				   "CapabilityBoundingSet (run keeps only "
				   "what the policy needs anyway)");
		goto fail;
	} else if (enter_userns(err) < 0) {
		goto fail;
	}
	/* Our remounts must not reach the host's mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		cg_error_sys(err, CG_ERR, "cannot make the mounts private");
		goto fail;
	}
	if (cg_sandbox_remount(false, err) < 0 ||
	    cg_sandbox_check_mounts(&mounts, err) < 0 ||
	    rehome_fds(keep_fd, err) < 0 || check_fds(err) < 0)
		goto fail;
	/* Into --root while we still may: the mounts are read-only now. */
	if (root) {
		int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (proc < 0 || chroot(root) < 0 || chdir("/") < 0) {
			cg_error_sys(err, CG_ERR, "cannot chroot into %s",
				     root);
			goto fail;
		}
		/* To verify the drop below, which reads /proc/self/status. */
		cg_caps_proc_at(proc);
	}
	/*
	 * As nobody: uid 0 without capabilities could still talk to systemd
	 * over D-Bus and write root's devices; nobody cannot.
	 */
	rc = cg_caps_limit(0, 0, privileged ? NOBODY : (uid_t)-1, err);
	if (rc < 0)
		return rc;
	snprintf(summary, size,
		 "uid %u, no capabilities (bounding set empty), "
		 "no_new_privs, %u mounts read-only and nodev, no network",
		 (unsigned)geteuid(), mounts);
	return 0;
fail:
	cg_error_prefix(err, "cannot enter the read-only sandbox");
	return CG_ERR;
}

/* --- outcomes through the pipe -------------------------------------- */

static void put(struct cg_buf *b, const void *p, size_t n)
{
	cg_buf_add(b, p, n);
}

static void put_u64(struct cg_buf *b, uint64_t v)
{
	put(b, &v, sizeof(v));
}

static void put_str(struct cg_buf *b, const char *s)
{
	uint64_t len = s ? strlen(s) : UINT64_MAX;

	put_u64(b, len);
	if (s)
		put(b, s, (size_t)len);
}

static void put_outcomes(struct cg_buf *b, const struct cg_policy *p)
{
	size_t i, k;

	put_u64(b, p->n);
	for (i = 0; i < p->n; i++) {
		const struct cg_resource *r = &p->res[i];

		put_u64(b, (uint64_t)r->status);
		put_u64(b, (uint64_t)r->change.action);
		put_u64(b, r->ns);
		put(b, r->digest, sizeof(r->digest));
		put_u64(b, r->err != NULL);
		if (r->err)
			put(b, r->err, sizeof(*r->err));
		put_str(b, r->change.note);
		put_u64(b, r->change.n);
		for (k = 0; k < r->change.n; k++) {
			const struct cg_change_item *it = &r->change.items[k];

			put_str(b, it->field);
			put_str(b, it->from);
			put_str(b, it->to);
			put_str(b, it->detail);
			put_u64(b, it->secret);
		}
		put_u64(b, r->change.nunmanaged);
		for (k = 0; k < r->change.nunmanaged; k++) {
			const struct cg_unmanaged *u = &r->change.unmanaged[k];

			put_str(b, u->kind);
			put_str(b, u->item);
			put_str(b, u->owner);
			put_u64(b, u->pos);
		}
		put_u64(b, r->change.nwarnings);
		for (k = 0; k < r->change.nwarnings; k++)
			put_str(b, r->change.warnings[k]);
	}
}

struct reader {
	const char *p, *end;
	bool bad;
};

static void get(struct reader *rd, void *out, size_t n)
{
	if (rd->bad || (size_t)(rd->end - rd->p) < n) {
		rd->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, rd->p, n);
	rd->p += n;
}

static uint64_t get_u64(struct reader *rd)
{
	uint64_t v;

	get(rd, &v, sizeof(v));
	return v;
}

static char *get_str(struct reader *rd)
{
	uint64_t len = get_u64(rd);
	char *s;

	if (rd->bad || len == UINT64_MAX)
		return NULL;
	if (len > (uint64_t)(rd->end - rd->p)) {
		rd->bad = true;
		return NULL;
	}
	s = cg_xstrndup(rd->p, (size_t)len);
	rd->p += len;
	return s;
}

/*
 * Change items name their field with a static string of the module. The
 * child's pointer is not ours to trust: keep one copy of each name for
 * the life of the process (there are a handful).
 */
static const char *intern(char *s)
{
	static struct interned {
		struct interned *next;
		char name[];
	} *list;
	struct interned *it;
	size_t len = strlen(s);

	for (it = list; it; it = it->next)
		if (strcmp(it->name, s) == 0)
			break;
	if (!it) {
		it = cg_xmalloc(sizeof(*it) + len + 1);
		memcpy(it->name, s, len + 1);
		it->next = list;
		list = it;
	}
	free(s);
	return it->name;
}

static int get_outcomes(struct reader *rd, struct cg_policy *p,
			struct cg_error *err)
{
	size_t i, k, n = (size_t)get_u64(rd);

	if (n != p->n)
		rd->bad = true;
	for (i = 0; i < p->n && !rd->bad; i++) {
		struct cg_resource *r = &p->res[i];
		uint64_t nitems;

		cg_change_release(&r->change);
		free(r->err);
		r->err = NULL;
		r->status = (enum cg_status)get_u64(rd);
		r->change.action = (enum cg_action)get_u64(rd);
		r->ns = get_u64(rd);
		get(rd, r->digest, sizeof(r->digest));
		if (r->status > CG_STATUS_SKIPPED ||
		    r->change.action > CG_ACTION_DELETE)
			rd->bad = true;
		if (get_u64(rd)) {
			r->err = cg_xmalloc(sizeof(*r->err));
			get(rd, r->err, sizeof(*r->err));
			r->err->where[sizeof(r->err->where) - 1] = '\0';
			r->err->resource[sizeof(r->err->resource) - 1] = '\0';
			r->err->msg[sizeof(r->err->msg) - 1] = '\0';
			r->err->hint[sizeof(r->err->hint) - 1] = '\0';
		}
		r->change.note = get_str(rd);
		nitems = get_u64(rd);
		for (k = 0; k < nitems && !rd->bad; k++) {
			char *field = get_str(rd);
			struct cg_change_item *it;

			if (!field) {
				rd->bad = true;
				break;
			}
			it = cg_change_add(&r->change, intern(field), NULL,
					   NULL);
			it->from = get_str(rd);
			it->to = get_str(rd);
			it->detail = get_str(rd);
			it->secret = get_u64(rd) != 0;
		}
		nitems = get_u64(rd);
		for (k = 0; k < nitems && !rd->bad; k++) {
			char *kind = get_str(rd), *item = get_str(rd);
			char *owner = get_str(rd);
			uint64_t pos = get_u64(rd);

			if (kind && item) {
				cg_change_unmanaged(&r->change, intern(kind),
						    item, owner)
					->pos = (uint32_t)pos;
			} else {
				free(kind);
				rd->bad = true;
			}
			free(item);
			free(owner);
		}
		nitems = get_u64(rd);
		for (k = 0; k < nitems && !rd->bad; k++) {
			char *w = get_str(rd);

			if (w)
				cg_change_warn(&r->change, "%s", w);
			else
				rd->bad = true;
			free(w);
		}
	}
	if (rd->bad)
		return cg_error_set(err, CG_ERR,
				    "the read-only plan process sent "
				    "garbled outcomes");
	return 0;
}

/* --- the two phases ------------------------------------------------- */

static void __attribute__((noreturn))
child(struct cg_engine *e, struct cg_policy *p, int out, int errout)
{
	struct cg_counts counts;
	struct cg_error err;
	struct cg_buf b = { 0 };
	char summary[256] = "";
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/*
	 * Nothing of the caller's: stdin and stdout are /dev/null (the
	 * parent prints), stderr a pipe the parent copies to its own (for
	 * sanitizers and crashes), whatever file either was.
	 */
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(errout, 2) < 0)
		_exit(1);
	close(null);
	close(errout);
	cg_error_clear(&err);
	put(&b, MAGIC, strlen(MAGIC));
	if (cg_sandbox_enter(out, summary, sizeof(summary), &err) < 0) {
		put_u64(&b, 1);
		put(&b, &err, sizeof(err));
		(void)!cg_write_all(out, b.data, b.len);
		_exit(1);
	}
	put_u64(&b, 0);
	put_str(&b, summary);
	cg_engine_finish(e, true, &counts);
	put_outcomes(&b, p);
	(void)!cg_write_all(out, b.data, b.len);
	/* No atexit handlers, no stdio flush: the parent does the rest. */
	_exit(0);
}

/* Read the outcomes into b, copying the child's stderr to ours. */
static int collect(int out, int errout, struct cg_buf *b, struct cg_error *err)
{
	struct pollfd p[2] = { { out, POLLIN, 0 }, { errout, POLLIN, 0 } };

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		char chunk[65536];
		ssize_t n;
		int i;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return cg_error_sys(err, CG_ERR, "poll failed");
		}
		for (i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				continue;
			}
			if (i == 1) {
				(void)!cg_write_all(2, chunk, (size_t)n);
			} else if (b->len + (size_t)n > OUT_MAX) {
				return cg_error_set(err, CG_ERR,
						    "the plan is larger than "
						    "%llu bytes",
						    (unsigned long long)OUT_MAX);
			} else {
				cg_buf_add(b, chunk, (size_t)n);
			}
		}
	}
	return 0;
}

int cg_plan_readonly(struct cg_policy *p, struct cg_ctx *ctx,
		     struct cg_counts *counts, char *summary, size_t size,
		     struct cg_error *err)
{
	struct cg_engine *e;
	struct cg_buf b = { 0 };
	struct reader rd;
	int fds[2], efds[2], status = 0, rc = CG_ERR;
	pid_t pid, parent;

	summary[0] = '\0';
	memset(counts, 0, sizeof(*counts));
	e = cg_engine_new(p, ctx);
	/* Phase one: read everything that needs privileges, here. */
	cg_engine_observe_all(e);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		cg_error_sys(err, CG_ERR, "pipe failed");
		goto out;
	}
	if (pipe2(efds, O_CLOEXEC) < 0) {
		cg_error_sys(err, CG_ERR, "pipe failed");
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	fflush(NULL);
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		cg_error_sys(err, CG_ERR, "fork failed");
		close(fds[0]);
		close(fds[1]);
		close(efds[0]);
		close(efds[1]);
		goto out;
	}
	if (pid == 0) {
		close(fds[0]);
		close(efds[0]);
		cg_child_of_run(parent, 0);
		child(e, p, fds[1], efds[1]);
	}
	close(fds[1]);
	close(efds[1]);
	/* Read to EOF before waiting: the child blocks on a full pipe. */
	rc = collect(fds[0], efds[0], &b, err);
	close(fds[0]);
	close(efds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		cg_error_prefix(err, "cannot read the plan");
		goto out;
	}
	rd.p = b.data ? b.data : "";
	rd.end = rd.p + b.len;
	rd.bad = false;
	rc = CG_ERR;
	if (b.len < strlen(MAGIC) || memcmp(rd.p, MAGIC, strlen(MAGIC)) != 0) {
		if (WIFSIGNALED(status))
			cg_error_set(err, CG_ERR,
				     "the read-only plan process was killed "
				     "by signal %d",
				     WTERMSIG(status));
		else
			cg_error_set(err, CG_ERR,
				     "the read-only plan process ended "
				     "without a plan (exit %d)",
				     WIFEXITED(status) ? WEXITSTATUS(status)
						       : -1);
		goto out;
	}
	rd.p += strlen(MAGIC);
	if (get_u64(&rd)) {
		get(&rd, err, sizeof(*err));
		if (rd.bad)
			cg_error_set(err, CG_ERR,
				     "the read-only plan process failed");
		goto out;
	}
	{
		char *s = get_str(&rd);

		snprintf(summary, size, "%s", s ? s : "");
		free(s);
	}
	if (get_outcomes(&rd, p, err) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cg_error_set(err, CG_ERR,
			     "the read-only plan process failed (status %d)",
			     status);
		goto out;
	}
	cg_engine_count(p, counts);
	rc = 0;
out:
	cg_buf_release(&b);
	cg_engine_free(e);
	return rc;
}
