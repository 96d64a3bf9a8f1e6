/* test-fs.c: paths inside a root or beneath a tree, atomic replace, ids. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/util.h"
#include "tap.h"

static char base[64]; /* the temp dir; ROOT is base/root, TREE base/tree */
/* Owners to give files: ours, and another one when we may (as root). */
static uid_t me_u, other_u;
static gid_t me_g, other_g;

static void mkfile(const char *rel, const char *content)
{
	char *p = cg_xasprintf("%s/%s", base, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || cg_write_all(fd, content, strlen(content)) < 0)
		printf("# cannot write %s: %s\n", p, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(p);
}

static void mkd(const char *rel)
{
	char *p = cg_xasprintf("%s/%s", base, rel);

	if (mkdir(p, 0755) < 0)
		printf("# cannot mkdir %s: %s\n", p, strerror(errno));
	free(p);
}

static void mkl(const char *target, const char *rel)
{
	char *p = cg_xasprintf("%s/%s", base, rel);

	if (symlink(target, p) < 0)
		printf("# cannot symlink %s: %s\n", p, strerror(errno));
	free(p);
}

static bool same_inode(int fd, const char *rel)
{
	struct stat a, b;
	char *p = cg_xasprintf("%s/%s", base, rel);
	bool same = fstat(fd, &a) == 0 && stat(p, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino;

	free(p);
	return same;
}

static char *read_rel(const char *rel)
{
	struct cg_buf b = { 0 };
	char *p = cg_xasprintf("%s/%s", base, rel);
	int fd = open(p, O_RDONLY | O_NOFOLLOW);

	free(p);
	if (fd < 0)
		return NULL;
	cg_read_fd(fd, &b, 1u << 24, NULL);
	close(fd);
	return cg_buf_detach(&b, NULL);
}

static char *read_fd_all(int fd)
{
	struct cg_buf b = { 0 };

	cg_read_fd(fd, &b, 1u << 24, NULL);
	return cg_buf_detach(&b, NULL);
}

/* How many temporary files (".NAME.cg-XXXXXXXX") are in dir rel. */
static int temp_files(const char *rel)
{
	char *p = cg_xasprintf("%s/%s", base, rel);
	DIR *d = opendir(p);
	struct dirent *e;
	int n = 0;

	free(p);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strstr(e->d_name, ".cg-"))
			n++;
	closedir(d);
	return n;
}

static void test_clean(void)
{
	static const struct {
		const char *path;
		bool clean;
		const char *why;
	} cases[] = {
		{ "/etc/motd", true, NULL },
		{ "/a", true, NULL },
		{ "/...", true, NULL },
		{ "/.hidden/x..y/..z", true, NULL },
		{ "/etc/motd ", true, NULL },
		{ "", false, "absolute" },
		{ "etc/motd", false, "absolute" },
		{ "./etc", false, "absolute" },
		{ "/", false, "/ itself" },
		{ "/etc/", false, "ends in" },
		{ "//etc", false, "\"//\"" },
		{ "/etc//motd", false, "\"//\"" },
		{ "/etc/./motd", false, "\".\" or \"..\"" },
		{ "/etc/../motd", false, "\".\" or \"..\"" },
		{ "/..", false, "\".\" or \"..\"" },
		{ "/etc/.", false, "\".\" or \"..\"" },
	};
	char name[128], *long_path;
	const char *why;
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		bool got;

		why = NULL;
		got = cg_path_is_clean(cases[i].path, &why);
		snprintf(name, sizeof(name), "clean: '%s' is %s", cases[i].path,
			 cases[i].clean ? "clean" : "not clean");
		tap_is_int(got, cases[i].clean, name);
		if (!cases[i].clean) {
			snprintf(name, sizeof(name), "clean: '%s': why",
				 cases[i].path);
			tap_has_str(why, cases[i].why, name);
		}
	}
	long_path = cg_xmalloc(PATH_MAX + 1);
	for (i = 0; i < PATH_MAX; i += 2) {
		long_path[i] = '/';
		long_path[i + 1] = 'a';
	}
	long_path[PATH_MAX] = '\0';
	tap_ok(!cg_path_is_clean(long_path, &why) &&
		       strstr(why, "too long") != NULL,
	       "clean: PATH_MAX bytes is too long");
	long_path[PATH_MAX - 2] = '\0';
	tap_ok(cg_path_is_clean(long_path, &why),
	       "clean: just under PATH_MAX is fine");
	free(long_path);
}

static void setup(void)
{
	mkd("root");
	mkd("root/etc");
	mkd("root/real");
	mkd("root/real/dir");
	mkfile("root/etc/passwd",
	       "root:x:0:0:root:/root:/bin/bash\n"
	       "# a comment:x:7:7\n"
	       "alice:x:1234:1234::/home/alice:/bin/sh\n"
	       "+nisuser::::::\n"
	       "bob::2001:2001::/:/bin/sh\n"
	       "a line without enough colons\n"
	       "weird:x:notanumber:1:::\n"
	       "daemon:x:4242:4242:daemon:/usr/sbin:/usr/sbin/nologin\n"
	       "huge:x:99999999999:1:::\n"
	       "last:x:3003:3003::/:/bin/sh");
	mkfile("root/etc/group", "root:x:0:\n"
				 "staff:x:50:alice\n"
				 "web:x:3000:\n");
	mkfile("root/file", "not a directory\n");
	mkl("real/dir", "root/link-dir");
	mkl("/etc", "root/abs-link");
	mkl("../../../../../../etc", "root/up-link");
	mkl("../../etc", "root/real/dir/rel-up");
	mkl("/link-dir", "root/abs-to-link");
	mkl("real", "root/evil");
	mkl("evil", "root/to-evil");
	mkl("loop2", "root/loop1");
	mkl("loop1", "root/loop2");
	mkl("/nowhere", "root/dangling");

	mkd("state");
	mkd("tree");
	mkd("tree/files");
	mkfile("tree/files/a.txt", "inside\n");
	mkfile("outside.txt", "outside\n");
	mkl("files/a.txt", "tree/inner-link");
	mkl("../files/a.txt", "tree/files/up");
	mkl("/etc/passwd", "tree/out-abs");
	mkl("../outside.txt", "tree/out-rel");
	mkl("files", "tree/dir-link");
}

static int open_parent(struct cg_root *root, const char *path, unsigned flags,
		       const char **base_out, unsigned *created,
		       struct cg_error *err)
{
	int fd = -1, rc;

	cg_error_clear(err);
	rc = cg_root_open_parent(root, path, flags, &fd, base_out, created, err);
	return rc == 0 ? fd : rc;
}

static void expect_parent(struct cg_root *root, const char *path,
			  const char *dir_rel, const char *want_base,
			  const char *name)
{
	struct cg_error err;
	const char *b = NULL;
	char buf[160];
	int fd = open_parent(root, path, 0, &b, NULL, &err);

	snprintf(buf, sizeof(buf), "%s: opens", name);
	if (!tap_ok(fd >= 0, buf)) {
		printf("#   %s\n", err.msg);
		return;
	}
	snprintf(buf, sizeof(buf), "%s: the right directory", name);
	tap_ok(same_inode(fd, dir_rel), buf);
	snprintf(buf, sizeof(buf), "%s: base", name);
	tap_is_str(b, want_base, buf);
	close(fd);
}

static void test_open_parent(struct cg_root *root)
{
	struct cg_error err;
	const char *b;
	unsigned created = 99;
	struct stat st, host_etc;
	int fd, flags;

	tap_ok(!root->host, "root: a temp dir is not the host");
	expect_parent(root, "/etc/passwd", "root/etc", "passwd", "plain path");
	expect_parent(root, "/real/dir/x.conf", "root/real/dir", "x.conf",
		      "two levels");
	expect_parent(root, "/top", "root", "top", "file at the top");
	expect_parent(root, "/link-dir/x", "root/real/dir", "x",
		      "root's symlinked directory is followed");
	expect_parent(root, "/abs-link/passwd", "root/etc", "passwd",
		      "absolute link resolves inside the root");
	expect_parent(root, "/up-link/passwd", "root/etc", "passwd",
		      "../../.. in a link target stops at the root");
	expect_parent(root, "/real/dir/rel-up/passwd", "root/etc", "passwd",
		      "relative link with .. stays inside");
	expect_parent(root, "/abs-to-link/x", "root/real/dir", "x",
		      "absolute link to another link");
	expect_parent(root, "/../../../etc/passwd", "root/etc", "passwd",
		      ".. in the path stops at the root");
	expect_parent(root, "/link-dir", "root", "link-dir",
		      "the last component is not followed");

	fd = open_parent(root, "/abs-link/passwd", 0, &b, NULL, &err);
	if (fd >= 0) {
		tap_ok(fstat(fd, &st) == 0 && stat("/etc", &host_etc) == 0 &&
			       (st.st_ino != host_etc.st_ino ||
				st.st_dev != host_etc.st_dev),
		       "absolute link: never the host's /etc");
		close(fd);
	}

	/* A link someone else owns is never followed. */
	{
		char *p = cg_xasprintf("%s/root/evil", base);

		flags = geteuid() == 0 ? lchown(p, 65534, 65534) : -1;
		free(p);
	}
	if (flags != 0) {
		tap_ok(true, "foreign link # SKIP needs root for lchown");
		tap_ok(true, "foreign link # SKIP needs root for lchown");
		tap_ok(true, "foreign link # SKIP needs root for lchown");
	} else {
		fd = open_parent(root, "/evil/dir/x", 0, &b, NULL, &err);
		tap_is_int(fd, CG_ERR, "foreign link: refused");
		tap_has_str(err.msg, "refusing to follow symlink /evil",
			    "foreign link: message names it");
		tap_has_str(err.msg, "uid 65534", "foreign link: and its owner");
		tap_has_str(err.hint, "/evil", "foreign link: hint names it");
		fd = open_parent(root, "/to-evil/dir/x", 0, &b, NULL, &err);
		tap_ok(fd == CG_ERR &&
			       strstr(err.msg, "refusing to follow symlink /evil"),
		       "foreign link reached through a good link: refused");
	}

	fd = open_parent(root, "/missing/deeper/x", 0, &b, NULL, &err);
	tap_is_int(fd, CG_ENOTFOUND, "missing directory: CG_ENOTFOUND");
	tap_has_str(err.msg, "directory /missing does not exist",
		    "missing directory: named");
	fd = open_parent(root, "/real/nope/x", 0, &b, NULL, &err);
	tap_has_str(err.msg, "/real/nope does not exist",
		    "missing directory deeper: full path named");
	fd = open_parent(root, "/dangling/x", 0, &b, NULL, &err);
	tap_is_int(fd, CG_ENOTFOUND, "dangling link: CG_ENOTFOUND");
	fd = open_parent(root, "/file/x", 0, &b, NULL, &err);
	tap_is_int(fd, CG_ERR, "file on the way: refused");
	tap_has_str(err.msg, "/file is not a directory",
		    "file on the way: named");
	fd = open_parent(root, "/loop1/x", 0, &b, NULL, &err);
	tap_is_int(fd, CG_ERR, "link loop: refused");
	tap_has_str(err.msg, "too many symbolic links", "link loop: says so");
	fd = open_parent(root, "relative/x", 0, &b, NULL, &err);
	tap_is_int(fd, CG_ERR, "relative path: refused");

	umask(022);
	fd = open_parent(root, "/new/a/b/file", CG_WALK_MKDIR, &b, &created,
			 &err);
	tap_ok(fd >= 0, "mkdir: opens");
	tap_is_int(created, 3, "mkdir: three directories made");
	if (fd >= 0) {
		tap_ok(same_inode(fd, "root/new/a/b"), "mkdir: the new directory");
		close(fd);
	}
	{
		char *p = cg_xasprintf("%s/root/new/a", base);

		tap_ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
			       (st.st_mode & 07777) == 0755,
		       "mkdir: made with mode 0755");
		free(p);
	}
	created = 99;
	fd = open_parent(root, "/new/a/b/file", CG_WALK_MKDIR, &b, &created,
			 &err);
	tap_is_int(created, 0, "mkdir: nothing made the second time");
	if (fd >= 0)
		close(fd);
	fd = open_parent(root, "/link-dir/sub/file", CG_WALK_MKDIR, &b,
			 &created, &err);
	tap_ok(fd >= 0 && created == 1 && same_inode(fd, "root/real/dir/sub"),
	       "mkdir: through a followed link, inside the root");
	if (fd >= 0)
		close(fd);
	fd = open_parent(root, "/file/sub/x", CG_WALK_MKDIR, &b, &created,
			 &err);
	tap_is_int(fd, CG_ERR, "mkdir: a file on the way is still refused");
}

static void test_beneath(void)
{
	struct cg_error err;
	char *p = cg_xasprintf("%s/tree", base), *s;
	int dirfd = open(p, O_PATH | O_DIRECTORY), fd, rc;

	free(p);
	fd = -1;
	rc = cg_open_beneath(dirfd, "files/a.txt", O_RDONLY, &fd, &err);
	tap_is_int(rc, 0, "beneath: a plain file");
	s = rc == 0 ? read_fd_all(fd) : NULL;
	tap_is_str(s, "inside\n", "beneath: its content");
	free(s);
	if (rc == 0)
		close(fd);

	rc = cg_open_beneath(dirfd, "inner-link", O_RDONLY, &fd, &err);
	tap_is_int(rc, 0, "beneath: a link staying inside is followed");
	s = rc == 0 ? read_fd_all(fd) : NULL;
	tap_is_str(s, "inside\n", "beneath: link content");
	free(s);
	if (rc == 0)
		close(fd);
	rc = cg_open_beneath(dirfd, "files/up", O_RDONLY, &fd, &err);
	tap_is_int(rc, 0, "beneath: a link using .. but staying inside");
	if (rc == 0)
		close(fd);
	rc = cg_open_beneath(dirfd, "dir-link/a.txt", O_RDONLY, &fd, &err);
	tap_is_int(rc, 0, "beneath: a linked directory inside");
	if (rc == 0)
		close(fd);
	rc = cg_open_beneath(dirfd, "files/../files/a.txt", O_RDONLY, &fd, &err);
	tap_is_int(rc, 0, "beneath: .. that stays inside");
	if (rc == 0)
		close(fd);

	rc = cg_open_beneath(dirfd, "../outside.txt", O_RDONLY, &fd, &err);
	tap_is_int(rc, CG_ERR, "beneath: ../ refused");
	tap_has_str(err.msg, "leads outside the policy tree",
		    "beneath: ../ message");
	tap_has_str(err.msg, "'../outside.txt'", "beneath: names the path");
	rc = cg_open_beneath(dirfd, "files/../../outside.txt", O_RDONLY, &fd,
			     &err);
	tap_is_int(rc, CG_ERR, "beneath: ../ further down refused");
	rc = cg_open_beneath(dirfd, "/etc/passwd", O_RDONLY, &fd, &err);
	tap_is_int(rc, CG_ERR, "beneath: absolute path refused");
	tap_has_str(err.msg, "must be a path relative", "beneath: says why");
	rc = cg_open_beneath(dirfd, "", O_RDONLY, &fd, &err);
	tap_is_int(rc, CG_ERR, "beneath: empty path refused");
	rc = cg_open_beneath(dirfd, "out-abs", O_RDONLY, &fd, &err);
	tap_is_int(rc, CG_ERR, "beneath: absolute link out refused");
	tap_has_str(err.msg, "leads outside", "beneath: absolute link message");
	rc = cg_open_beneath(dirfd, "out-rel", O_RDONLY, &fd, &err);
	tap_is_int(rc, CG_ERR, "beneath: relative link out refused");
	rc = cg_open_beneath(dirfd, "missing.txt", O_RDONLY, &fd, &err);
	tap_is_int(rc, CG_ENOTFOUND, "beneath: missing file CG_ENOTFOUND");
	close(dirfd);
}

/*
 * Kernels before 5.6 have no openat2: cg_open_beneath then walks the path
 * itself and follows no symlink at all. In a child where seccomp makes
 * openat2 fail with ENOSYS, check that walk. Exit status: 0 all good, 77
 * no seccomp here, else the check that failed.
 */
static int beneath_fallback_child(void)
{
	static const struct {
		const char *path;
		int rc;
	} cases[] = {
		{ "files/a.txt", 0 },
		{ "files//a.txt", 0 },
		{ "./files/a.txt", 0 },
		{ "../outside.txt", CG_ERR },
		{ "files/../../outside.txt", CG_ERR },
		{ "files/../files/a.txt", CG_ERR }, /* no .. at all */
		{ "out-abs", CG_ERR },
		{ "out-rel", CG_ERR },
		{ "inner-link", CG_ERR }, /* no symlink at all */
		{ "dir-link/a.txt", CG_ERR },
		{ "missing.txt", CG_ENOTFOUND },
		{ "nodir/a.txt", CG_ENOTFOUND },
		{ "/etc/passwd", CG_ERR },
	};
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { CG_ARRAY_SIZE(filter), filter };
	struct cg_error err;
	char *p = cg_xasprintf("%s/tree", base), *s;
	int dirfd = open(p, O_PATH | O_DIRECTORY), fd, rc;
	size_t i;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 77;
	if (syscall(SYS_openat2, dirfd, "x", NULL, 0) >= 0 || errno != ENOSYS)
		return 78;
	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		fd = -1;
		rc = cg_open_beneath(dirfd, cases[i].path, O_RDONLY, &fd, &err);
		if (rc != cases[i].rc)
			return 1 + (int)i;
		if (rc == 0) {
			s = read_fd_all(fd);
			if (strcmp(s, "inside\n") != 0)
				return 40 + (int)i;
			free(s);
			close(fd);
		}
	}
	rc = cg_open_beneath(dirfd, "../outside.txt", O_RDONLY, &fd, &err);
	if (!strstr(err.msg, "leads outside the policy tree"))
		return 60;
	close(dirfd);
	free(p);
	return 0;
}

static void test_beneath_fallback(void)
{
	pid_t pid;
	int st = -1;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(beneath_fallback_child());
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) {
		tap_ok(false, "beneath without openat2 (child failed)");
		return;
	}
	if (WEXITSTATUS(st) == 77) {
		tap_ok(true, "beneath without openat2 # SKIP no seccomp");
		return;
	}
	tap_is_int(WEXITSTATUS(st), 0,
		   "beneath without openat2: the walk follows no link, no ..");
}

static void test_replace(void)
{
	struct cg_error err;
	struct cg_content c = { .data = "hello\n", .len = 6, .fd = -1 };
	struct stat st, st2;
	char *p = cg_xasprintf("%s/root/real/dir", base), *s, *victim;
	int dirfd = open(p, O_RDONLY | O_DIRECTORY), rc, fd;
	struct cg_replace_info how = { .flags = 99 };
	char tmp[256], longname[256];

	free(p);
	rc = cg_fs_replace(dirfd, "new.conf", &c, 0640, other_u, other_g, -1,
			   &how, &err);
	tap_is_int(rc, 0, "replace: create a file");
	tap_is_int((int)how.flags, 0, "replace: by rename");
	s = read_rel("root/real/dir/new.conf");
	tap_is_str(s, "hello\n", "replace: content");
	free(s);
	tap_ok(fstatat(dirfd, "new.conf", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		       S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640 &&
		       st.st_uid == other_u && st.st_gid == other_g,
	       "replace: mode and owner");
	tap_is_int(temp_files("root/real/dir"), 0, "replace: no temp file left");

	c.data = "second version\n";
	c.len = strlen(c.data);
	rc = cg_fs_replace(dirfd, "new.conf", &c, 04755, (uid_t)-1, (gid_t)-1,
			   -1, NULL, &err);
	tap_is_int(rc, 0, "replace: an existing file");
	tap_ok(fstatat(dirfd, "new.conf", &st2, AT_SYMLINK_NOFOLLOW) == 0 &&
		       st2.st_ino != st.st_ino,
	       "replace: a new inode, renamed over the old");
	tap_ok((st2.st_mode & 07777) == 04755,
	       "replace: mode with setuid as given");
	tap_ok(st2.st_uid == geteuid() && st2.st_gid == getegid(),
	       "replace: -1 owner keeps the process's");
	s = read_rel("root/real/dir/new.conf");
	tap_is_str(s, "second version\n", "replace: new content");
	free(s);

	/* A symlink is replaced, its target is left alone. */
	mkfile("root/real/dir/victim", "do not touch\n");
	mkl("victim", "root/real/dir/lnk");
	c.data = "replaced link\n";
	c.len = strlen(c.data);
	rc = cg_fs_replace(dirfd, "lnk", &c, 0644, me_u, me_g, -1, NULL, &err);
	tap_is_int(rc, 0, "replace: over a symlink");
	tap_ok(fstatat(dirfd, "lnk", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		       S_ISREG(st.st_mode),
	       "replace: the link became a regular file");
	victim = read_rel("root/real/dir/victim");
	tap_is_str(victim, "do not touch\n", "replace: link target untouched");
	free(victim);
	s = read_rel("root/real/dir/lnk");
	tap_is_str(s, "replaced link\n", "replace: content of the new file");
	free(s);

	/* Content from a file descriptor, bigger than one buffer. */
	{
		char tmpl[] = "/tmp/cg-test-fs-src.XXXXXX";
		struct cg_buf big = { 0 };
		size_t i;

		for (i = 0; i < 30000; i++)
			cg_buf_addf(&big, "line %zu\n", i);
		fd = mkstemp(tmpl);
		unlink(tmpl);
		tap_ok(fd >= 0 && cg_write_all(fd, big.data, big.len) == 0,
		       "replace: source file written");
		/* The source's offset must not matter. */
		lseek(fd, 100, SEEK_SET);
		c.data = NULL;
		c.len = 0;
		c.fd = fd;
		rc = cg_fs_replace(dirfd, "from-fd", &c, 0600, me_u, me_g, -1, NULL,
				   &err);
		tap_is_int(rc, 0, "replace: from a file descriptor");
		s = read_rel("root/real/dir/from-fd");
		tap_ok(s && strlen(s) == big.len &&
			       memcmp(s, big.data, big.len) == 0,
		       "replace: whole source copied");
		free(s);
		close(fd);
		cg_buf_release(&big);
		c.fd = -1;
	}

	c.data = "";
	c.len = 0;
	rc = cg_fs_replace(dirfd, "empty", &c, 0644, me_u, me_g, -1, NULL, &err);
	tap_ok(rc == 0 && fstatat(dirfd, "empty", &st, 0) == 0 && st.st_size == 0,
	       "replace: empty content");

	/* A failing rename leaves nothing behind. */
	mkd("root/real/dir/isdir");
	mkfile("root/real/dir/isdir/keep", "x");
	c.data = "x";
	c.len = 1;
	rc = cg_fs_replace(dirfd, "isdir", &c, 0644, me_u, me_g, -1, NULL, &err);
	tap_is_int(rc, CG_ERR, "replace: over a non-empty directory fails");
	tap_has_str(err.msg, "isdir", "replace: failure names the file");
	tap_is_int(temp_files("root/real/dir"), 0,
		   "replace: no temp file left after a failure");

	/* The replaced file's extended attributes go to the new one. */
	mkfile("root/real/dir/labelled", "old\n");
	fd = openat(dirfd, "labelled", O_RDONLY);
	if (fd >= 0 && fsetxattr(fd, "user.cg_test", "label", 5, 0) == 0) {
		char val[16] = "";
		int nfd;

		c.data = "new\n";
		c.len = 4;
		rc = cg_fs_replace(dirfd, "labelled", &c, 0644, me_u, me_g, fd,
				   NULL, &err);
		tap_is_int(rc, 0, "replace: keeping xattrs");
		s = read_rel("root/real/dir/labelled");
		nfd = openat(dirfd, "labelled", O_RDONLY);
		tap_ok(s && strcmp(s, "new\n") == 0 && nfd >= 0 &&
			       fgetxattr(nfd, "user.cg_test", val, sizeof(val)) ==
				       5 &&
			       memcmp(val, "label", 5) == 0,
		       "replace: xattr copied from old_fd");
		free(s);
		if (nfd >= 0)
			close(nfd);
		rc = cg_fs_replace(dirfd, "labelled", &c, 0644, me_u, me_g, -1,
				   NULL, &err);
		nfd = openat(dirfd, "labelled", O_RDONLY);
		tap_ok(rc == 0 && nfd >= 0 &&
			       fgetxattr(nfd, "user.cg_test", val, sizeof(val)) <
				       0,
		       "replace: no xattrs copied when old_fd is -1");
		if (nfd >= 0)
			close(nfd);
	} else {
		tap_ok(true, "replace: xattrs # SKIP no user xattrs here");
		tap_ok(true, "replace: xattrs # SKIP no user xattrs here");
		tap_ok(true, "replace: xattrs # SKIP no user xattrs here");
	}
	if (fd >= 0)
		close(fd);

	cg_fs_tmpname(tmp, sizeof(tmp), "motd");
	tap_ok(strncmp(tmp, ".motd.cg-", 9) == 0 && strlen(tmp) == 17,
	       "tmpname: .NAME.cg-XXXXXXXX");
	memset(longname, 'n', 255);
	longname[255] = '\0';
	cg_fs_tmpname(tmp, sizeof(tmp), longname);
	tap_ok(strlen(tmp) <= NAME_MAX, "tmpname: a 255-byte name fits NAME_MAX");
	close(dirfd);
}

static void test_mkdir_write(void)
{
	struct cg_error err;
	struct stat st;
	char *p, *q, *s;
	int rc;

	umask(022);
	p = cg_xasprintf("%s/state/x/y", base);
	rc = cg_mkdir_p(p, 0700, &err);
	tap_is_int(rc, 0, "mkdir_p: parents and the directory");
	tap_ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		       (st.st_mode & 07777) == 0700,
	       "mkdir_p: the last one gets the mode");
	free(p);
	p = cg_xasprintf("%s/state/x", base);
	tap_ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755,
	       "mkdir_p: parents get 0755");
	free(p);
	p = cg_xasprintf("%s/state/x/y", base);
	tap_is_int(cg_mkdir_p(p, 0700, &err), 0, "mkdir_p: existing is fine");
	free(p);

	/* A trailing slash (--state-dir /var/lib/cg/) names the same dir. */
	p = cg_xasprintf("%s/state/trail/", base);
	rc = cg_mkdir_p(p, 0700, &err);
	tap_is_int(rc, 0, "mkdir_p: trailing slash");
	tap_ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700,
	       "mkdir_p: trailing slash still gets the mode");
	free(p);
	p = cg_xasprintf("%s/state//double//", base);
	rc = cg_mkdir_p(p, 0700, &err);
	tap_ok(rc == 0 && stat(p, &st) == 0 && (st.st_mode & 07777) == 0700,
	       "mkdir_p: doubled slashes");
	free(p);

	tap_is_int(cg_mkdir_p("", 0700, &err), CG_ERR,
		   "mkdir_p: an empty path is refused");

	mkfile("state/plain", "x");
	p = cg_xasprintf("%s/state/plain", base);
	tap_is_int(cg_mkdir_p(p, 0700, &err), CG_ERR,
		   "mkdir_p: a file where the directory should be");
	tap_has_str(err.msg, "not a directory", "mkdir_p: says so");
	free(p);
	p = cg_xasprintf("%s/state/plain/sub", base);
	tap_is_int(cg_mkdir_p(p, 0700, &err), CG_ERR,
		   "mkdir_p: a file on the way");
	free(p);

	p = cg_xasprintf("%s/state/x/y/report.json", base);
	rc = cg_write_file_atomic(p, "{}\n", 3, 0600, &err);
	tap_is_int(rc, 0, "write_file_atomic: written");
	s = read_rel("state/x/y/report.json");
	tap_is_str(s, "{}\n", "write_file_atomic: content");
	free(s);
	tap_ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600,
	       "write_file_atomic: mode");
	rc = cg_write_file_atomic(p, "[1]", 3, 0640, &err);
	s = read_rel("state/x/y/report.json");
	tap_ok(rc == 0 && s && strcmp(s, "[1]") == 0,
	       "write_file_atomic: replaced");
	free(s);
	tap_is_int(temp_files("state/x/y"), 0, "write_file_atomic: no temp left");
	free(p);
	q = cg_xasprintf("%s/state/nodir/f", base);
	tap_is_int(cg_write_file_atomic(q, "x", 1, 0600, &err), CG_ERR,
		   "write_file_atomic: missing directory");
	tap_has_str(err.msg, "/state/nodir", "write_file_atomic: names it");
	free(q);
}

/*
 * In a child with its own mount namespace, bind-mount a file over the
 * target so that rename fails with EBUSY, and replace it. Exit status: 0
 * all good, 77 no mount namespace here, else the step that failed.
 */
static int bind_mount_child(void)
{
	struct cg_error err;
	struct cg_content c = { .data = "in place\n", .len = 9, .fd = -1 };
	char *dir = cg_xasprintf("%s/root/real/dir", base), *s;
	char *src = cg_xasprintf("%s/bind-src", dir);
	char *dst = cg_xasprintf("%s/bind-dst", dir);
	struct cg_replace_info how;
	struct stat st;
	int dirfd;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return 77;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (cg_fs_replace(dirfd, "bind-dst", &c, 0600, me_u, me_g, -1, &how,
			  &err) < 0)
		return 1;
	if (!(how.flags & CG_REPLACE_IN_PLACE))
		return 2;
	s = read_rel("root/real/dir/bind-dst");
	if (!s || strcmp(s, "in place\n") != 0)
		return 3;
	free(s);
	if (stat(dst, &st) < 0 || (st.st_mode & 07777) != 0600)
		return 4;
	if (temp_files("root/real/dir") != 0)
		return 5;
	umount(dst);
	/* The bind mount's source is what was written. */
	s = read_rel("root/real/dir/bind-src");
	if (!s || strcmp(s, "in place\n") != 0)
		return 6;
	free(s);
	close(dirfd);
	free(dir);
	free(src);
	free(dst);
	return 0;
}

static void test_bind_mount(void)
{
	pid_t pid;
	int st = -1;

	mkfile("root/real/dir/bind-src", "a much longer old content\n");
	mkfile("root/real/dir/bind-dst", "covered\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(bind_mount_child());
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) {
		tap_ok(false, "replace: bind-mounted target (child failed)");
		return;
	}
	if (WEXITSTATUS(st) == 77) {
		tap_ok(true, "replace: bind-mounted target # SKIP no mount "
			     "namespace");
		return;
	}
	tap_is_int(WEXITSTATUS(st), 0,
		   "replace: bind-mounted target written in place (EBUSY)");
}

static void test_ids(struct cg_root *root)
{
	struct cg_error err;
	uid_t uid = 0;
	gid_t gid = 0;
	char name[64], *p;
	int rc;

	tap_ok(cg_root_uid(root, "alice", &uid, &err) == 0 && uid == 1234,
	       "uid: alice from ROOT/etc/passwd");
	tap_ok(cg_root_uid(root, "bob", &uid, &err) == 0 && uid == 2001,
	       "uid: empty password field");
	tap_ok(cg_root_uid(root, "root", &uid, &err) == 0 && uid == 0,
	       "uid: root");
	tap_ok(cg_root_uid(root, "last", &uid, &err) == 0 && uid == 3003,
	       "uid: last line without newline");
	tap_ok(cg_root_uid(root, "daemon", &uid, &err) == 0 && uid == 4242,
	       "uid: the root's daemon, not the host's");
	tap_ok(cg_root_uid(root, "1000", &uid, &err) == 0 && uid == 1000,
	       "uid: a number passes through");
	tap_ok(cg_root_uid(root, "0", &uid, &err) == 0 && uid == 0,
	       "uid: 0 passes through");
	cg_error_clear(&err);
	rc = cg_root_uid(root, "nobody-here", &uid, &err);
	tap_is_int(rc, CG_ENOTFOUND, "uid: unknown name CG_ENOTFOUND");
	p = cg_xasprintf("no user named 'nobody-here' in %s/root/etc/passwd",
			 base);
	tap_is_str(err.msg, p, "uid: message names user and file");
	free(p);
	tap_ok(err.hint[0] != '\0', "uid: hint given");
	tap_is_int(cg_root_uid(root, "weird", &uid, &err), CG_ENOTFOUND,
		   "uid: line with a bad number ignored");
	tap_is_int(cg_root_uid(root, "huge", &uid, &err), CG_ENOTFOUND,
		   "uid: line with an id too large ignored");
	tap_is_int(cg_root_uid(root, "+nisuser", &uid, &err), CG_ENOTFOUND,
		   "uid: NIS line ignored");
	tap_is_int(cg_root_uid(root, "4294967295", &uid, &err), CG_ENOTFOUND,
		   "uid: (uid_t)-1 is not a number to pass");
	tap_is_int(cg_root_uid(root, "-1", &uid, &err), CG_ENOTFOUND,
		   "uid: -1 is not a number to pass");
	if (getpwnam("bin"))
		tap_is_int(cg_root_uid(root, "bin", &uid, &err), CG_ENOTFOUND,
			   "uid: a host-only user is unknown in the root");
	else
		tap_ok(true, "uid: host-only user # SKIP no 'bin' on the host");

	tap_ok(cg_root_gid(root, "staff", &gid, &err) == 0 && gid == 50,
	       "gid: staff from ROOT/etc/group");
	tap_ok(cg_root_gid(root, "web", &gid, &err) == 0 && gid == 3000,
	       "gid: web");
	tap_ok(cg_root_gid(root, "77", &gid, &err) == 0 && gid == 77,
	       "gid: a number passes through");
	rc = cg_root_gid(root, "alice", &gid, &err);
	tap_is_int(rc, CG_ENOTFOUND, "gid: a user is not a group");
	tap_has_str(err.msg, "no group named 'alice'", "gid: message");
	tap_has_str(err.msg, "/root/etc/group", "gid: names the group file");

	cg_root_user_name(root, 1234, name, sizeof(name));
	tap_is_str(name, "alice", "user name of 1234");
	cg_root_user_name(root, 777, name, sizeof(name));
	tap_is_str(name, "777", "unknown uid as a number");
	cg_root_group_name(root, 50, name, sizeof(name));
	tap_is_str(name, "staff", "group name of 50");
	cg_root_group_name(root, 1234, name, sizeof(name));
	tap_is_str(name, "1234", "a uid is not a gid");
}

int main(void)
{
	struct cg_root root, host;
	struct cg_error err;
	char *p, *cmd;

	me_u = geteuid();
	me_g = getegid();
	other_u = me_u == 0 ? 1234 : me_u;
	other_g = me_u == 0 ? 5678 : me_g;
	test_clean();

	snprintf(base, sizeof(base), "/tmp/cg-test-fs.XXXXXX");
	if (!mkdtemp(base)) {
		tap_ok(false, "temp dir");
		return tap_done();
	}
	setup();
	p = cg_xasprintf("%s/root", base);
	tap_is_int(cg_root_open(&root, p, &err), 0, "root: opens");
	free(p);
	test_open_parent(&root);
	test_beneath();
	test_beneath_fallback();
	test_replace();
	test_bind_mount();
	test_mkdir_write();
	test_ids(&root);
	cg_root_release(&root);
	tap_ok(root.fd == -1 && root.path == NULL && root.ids == NULL,
	       "root: release zeroes");
	cg_root_release(&root);
	cg_root_release(NULL);

	tap_is_int(cg_root_open(&host, "/", &err), 0, "host root: opens");
	tap_ok(host.host, "host root: is the host");
	cg_root_release(&host);
	tap_is_int(cg_root_open(&host, "/nonexistent-cg-root", &err), CG_ERR,
		   "missing root: refused");
	tap_has_str(err.msg, "/nonexistent-cg-root", "missing root: named");
	cg_root_release(&host);

	cmd = cg_xasprintf("rm -rf '%s'", base);
	if (system(cmd) != 0)
		tap_diag("could not remove the temp dir");
	free(cmd);
	return tap_done();
}
