/* test-store.c: keeping old contents by SHA-256, and listing them back. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg/store.h"
#include "cg/util.h"
#include "tap.h"

static char base[64]; /* temp dir: files in root/, the store in state/ */
static int rootfd = -1;

static void put(const char *name, const char *content, mode_t mode)
{
	int fd = openat(rootfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || cg_write_all(fd, content, strlen(content)) < 0 ||
	    fchmod(fd, mode) < 0)
		printf("# cannot write %s\n", name);
	if (fd >= 0)
		close(fd);
}

/* SHA-256 in hex straight from OpenSSL, not through cg_sha256. */
static void openssl_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

/* The hash `sha256sum` prints for a file under base, or "" without it. */
static void sha256sum_hex(const char *rel, char out[65])
{
	char *cmd = cg_xasprintf("sha256sum '%s/%s' 2>/dev/null", base, rel);
	FILE *f = popen(cmd, "r");

	out[0] = '\0';
	if (f) {
		if (fscanf(f, "%64s", out) != 1)
			out[0] = '\0';
		pclose(f);
	}
	free(cmd);
}

static char *object_content(struct cg_store *s, const char *hash)
{
	struct cg_error err;
	struct cg_buf b = { 0 };
	int fd;

	if (cg_store_open_object(s, hash, &fd, &err) < 0)
		return NULL;
	cg_read_fd(fd, &b, 1u << 24, NULL);
	close(fd);
	return cg_buf_detach(&b, NULL);
}

/* Count regular files under dir (recursively), and those named tmp-*. */
static void count_files(const char *dir, int *files, int *tmps, int *loose)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *p;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		p = cg_xasprintf("%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			count_files(p, files, tmps, loose);
		} else {
			(*files)++;
			if (strncmp(e->d_name, "tmp-", 4) == 0)
				(*tmps)++;
			if ((st.st_mode & 077) != 0)
				(*loose)++;
		}
		free(p);
	}
	closedir(d);
}

static int objects(int *tmps, int *loose)
{
	char *dir = cg_xasprintf("%s/state/backups/objects", base);
	int files = 0, t = 0, l = 0;

	count_files(dir, &files, &t, &l);
	free(dir);
	if (tmps)
		*tmps = t;
	if (loose)
		*loose = l;
	return files;
}

static void test_empty(struct cg_store *s)
{
	struct cg_error err;
	struct cg_backup *v = (struct cg_backup *)&err;
	size_t n = 99;
	struct stat st;
	char *dir = cg_xasprintf("%s/state/backups", base);

	tap_is_int(cg_store_list(s, NULL, &v, &n, &err), 0,
		   "empty: list works before anything is kept");
	tap_ok(v == NULL && n == 0, "empty: nothing listed");
	tap_ok(stat(dir, &st) < 0, "empty: opening created nothing");
	free(dir);
}

static void test_keep(struct cg_store *s)
{
	static const char old[] = "old motd\n";
	struct cg_error err;
	struct cg_backup *v = NULL;
	size_t n = 0;
	struct cg_kept k1, k2;
	char *hash = k1.hash, *hash2 = k2.hash, want[65], sum[65];
	char *content, *p;
	struct stat st;
	int64_t t0 = (int64_t)time(NULL), t1;
	int rc, tmps = -1, loose = -1;
	uid_t uid = geteuid();
	gid_t gid = getegid();

	put("motd", old, 0640);
	/* Another owner when we may give one (as root), else ours. */
	if (geteuid() == 0) {
		uid = 1234;
		gid = 5678;
	}
	tap_ok(fchownat(rootfd, "motd", uid, gid, AT_SYMLINK_NOFOLLOW) == 0,
	       "keep: owner set up");
	memset(&k1, 0, sizeof(k1));
	rc = cg_store_keep(s, rootfd, "motd", "/etc/motd", &k1, &err);
	t1 = (int64_t)time(NULL);
	if (!tap_is_int(rc, 0, "keep: a file"))
		printf("#   %s\n", err.msg);
	openssl_hex(old, strlen(old), want);
	tap_is_str(hash, want, "keep: hash is OpenSSL's SHA-256 of the content");
	sha256sum_hex("root/motd", sum);
	if (sum[0])
		tap_is_str(hash, sum, "keep: hash is what sha256sum says");
	else
		tap_ok(true, "keep: sha256sum # SKIP sha256sum not available");

	content = object_content(s, hash);
	tap_is_str(content, old, "keep: the object holds the old content");
	free(content);
	p = cg_xasprintf("%s/state/backups/objects/%.2s/%s", base, hash,
			 hash + 2);
	tap_ok(lstat(p, &st) == 0 && S_ISREG(st.st_mode),
	       "keep: object at objects/ab/cdef...");
	tap_ok((st.st_mode & 077) == 0,
	       "keep: object readable by its owner only");
	free(p);
	p = cg_xasprintf("%s/state/backups/objects", base);
	tap_ok(stat(p, &st) == 0 && (st.st_mode & 077) == 0,
	       "keep: objects directory private");
	free(p);

	rc = cg_store_list(s, "/etc/motd", &v, &n, &err);
	tap_ok(rc == 0 && n == 1, "list: one version");
	if (n == 1) {
		tap_is_str(v[0].path, "/etc/motd", "list: path");
		tap_is_int(v[0].type, 'f', "list: type file");
		tap_is_int(v[0].mode, 0640, "list: mode");
		tap_is_int(v[0].uid, uid, "list: uid");
		tap_is_int(v[0].gid, gid, "list: gid");
		tap_is_int((long long)v[0].size, (long long)strlen(old),
			   "list: size");
		tap_is_str(v[0].hash, hash, "list: hash");
		tap_ok(v[0].time >= t0 && v[0].time <= t1, "list: time");
	}
	cg_backups_free(v, n);

	/* A second version: newest first. */
	put("motd", "new motd, longer than before\n", 0644);
	rc = cg_store_keep(s, rootfd, "motd", "/etc/motd", &k2, &err);
	tap_is_int(rc, 0, "keep: a second version");
	rc = cg_store_list(s, "/etc/motd", &v, &n, &err);
	tap_ok(rc == 0 && n == 2, "list: two versions");
	if (n == 2) {
		tap_is_str(v[0].hash, hash2, "list: newest first");
		tap_is_str(v[1].hash, hash, "list: then the older one");
		tap_is_int(v[0].mode, 0644, "list: the newer mode");
		tap_is_int((long long)v[0].size, 29, "list: the newer size");
	}
	cg_backups_free(v, n);

	/* Same content as the first, under another path: one object. */
	put("copy", old, 0600);
	tap_is_int(objects(NULL, NULL), 2, "dedup: two objects so far");
	rc = cg_store_keep(s, rootfd, "copy", "/etc/motd.copy", &k2, &err);
	tap_is_int(rc, 0, "dedup: same content kept again");
	tap_is_str(hash2, hash, "dedup: same hash");
	tap_is_int(objects(&tmps, &loose), 2, "dedup: still two objects");
	tap_is_int(tmps, 0, "dedup: no temporary file left");
	tap_is_int(loose, 0, "objects: none readable by others");
	rc = cg_store_list(s, NULL, &v, &n, &err);
	tap_ok(rc == 0 && n == 3, "list: all paths");
	if (n == 3)
		tap_is_str(v[0].path, "/etc/motd.copy", "list: newest path first");
	cg_backups_free(v, n);

	/* Special mode bits are kept too. */
	put("suid", "#!/bin/sh\n", 04755);
	rc = cg_store_keep(s, rootfd, "suid", "/usr/bin/suid", NULL, &err);
	tap_is_int(rc, 0, "keep: a setuid file");
	rc = cg_store_list(s, "/usr/bin/suid", &v, &n, &err);
	tap_ok(rc == 0 && n == 1 && v[0].mode == 04755,
	       "list: setuid bit in the mode");
	cg_backups_free(v, n);

	/* The empty file. */
	put("empty", "", 0644);
	rc = cg_store_keep(s, rootfd, "empty", "/etc/empty", &k1, &err);
	tap_is_str(rc == 0 ? hash : err.msg,
		   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		   "keep: the empty file");
	content = object_content(s, hash);
	tap_is_str(content, "", "keep: empty object");
	free(content);
}

static void test_symlink(struct cg_store *s)
{
	static const char target[] = "/usr/share/zoneinfo/UTC";
	struct cg_error err;
	struct cg_backup *v = NULL;
	size_t n = 0;
	struct cg_kept k1;
	char *hash = k1.hash, want[65], *content;
	int rc;

	tap_ok(symlinkat(target, rootfd, "localtime") == 0, "link: made");
	rc = cg_store_keep(s, rootfd, "localtime", "/etc/localtime", &k1, &err);
	tap_is_int(rc, 0, "link: kept");
	openssl_hex(target, strlen(target), want);
	tap_is_str(hash, want, "link: hash of the target");
	content = object_content(s, hash);
	tap_is_str(content, target, "link: object holds the target");
	free(content);
	rc = cg_store_list(s, "/etc/localtime", &v, &n, &err);
	tap_ok(rc == 0 && n == 1 && v[0].type == 'l' &&
		       v[0].size == strlen(target),
	       "link: listed as a link with the target's length");
	cg_backups_free(v, n);

	/* The link's target is not followed: a link to a file. */
	tap_ok(symlinkat("motd", rootfd, "to-motd") == 0, "link: to a file");
	rc = cg_store_keep(s, rootfd, "to-motd", "/etc/to-motd", &k1, &err);
	openssl_hex("motd", 4, want);
	tap_is_str(rc == 0 ? hash : err.msg, want,
		   "link: the link is kept, not the file it points to");
}

static void test_paths(struct cg_store *s)
{
	static const char *const paths[] = {
		"/srv/my file.txt",
		"/srv/line\nbreak",
		"/srv/100% sure %41%",
		"/srv/%0A",
		"/srv/tab\there\r",
		"/srv/caf\xc3\xa9 \xff",
		"/srv/ends with space ",
		"/srv/a b c/d  e",
	};
	struct cg_error err;
	struct cg_backup *v = NULL;
	size_t n = 0, i;
	char name[96];
	int rc;

	put("any", "x\n", 0644);
	for (i = 0; i < CG_ARRAY_SIZE(paths); i++) {
		rc = cg_store_keep(s, rootfd, "any", paths[i], NULL, &err);
		snprintf(name, sizeof(name), "path %zu: kept", i + 1);
		tap_is_int(rc, 0, name);
	}
	for (i = 0; i < CG_ARRAY_SIZE(paths); i++) {
		rc = cg_store_list(s, paths[i], &v, &n, &err);
		snprintf(name, sizeof(name), "path %zu: found by its exact path",
			 i + 1);
		tap_ok(rc == 0 && n == 1 && strcmp(v[0].path, paths[i]) == 0,
		       name);
		cg_backups_free(v, n);
	}
	rc = cg_store_list(s, "/srv/my", &v, &n, &err);
	tap_ok(rc == 0 && n == 0, "path: a prefix matches nothing");
	cg_backups_free(v, n);
	rc = cg_store_list(s, "/srv/line", &v, &n, &err);
	tap_ok(rc == 0 && n == 0, "path: the part before a newline is no match");
	cg_backups_free(v, n);
}

static void test_refusals(struct cg_store *s)
{
	static const char *const bad[] = {
		"",
		"abc",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef",
		"../../../../etc/passwd/../../../../../../../../../../../../../..",
		"00/../../../../../../../../../../../../../../../../../etc/shadow",
		"0123456789abcdef0123456789abcdef 123456789abcdef0123456789abcdef",
	};
	struct cg_error err;
	struct cg_backup *v = NULL;
	size_t i, n = 0;
	char name[64], *idx;
	int fd = -1, rc;

	for (i = 0; i < CG_ARRAY_SIZE(bad); i++) {
		cg_error_clear(&err);
		rc = cg_store_open_object(s, bad[i], &fd, &err);
		snprintf(name, sizeof(name), "object name %zu refused", i + 1);
		tap_ok(rc == CG_ERR && strstr(err.msg, "bad object name"), name);
	}
	rc = cg_store_open_object(
		s, "0000000000000000000000000000000000000000000000000000000000000000",
		&fd, &err);
	tap_is_int(rc, CG_ENOTFOUND, "well-formed but missing: CG_ENOTFOUND");

	tap_ok(mkdirat(rootfd, "adir", 0755) == 0, "a directory made");
	rc = cg_store_keep(s, rootfd, "adir", "/etc/adir", NULL, &err);
	tap_is_int(rc, CG_ERR, "keep: a directory refused");
	tap_has_str(err.msg, "/etc/adir is neither a file nor a symlink",
		    "keep: says why, with the path");
	rc = cg_store_keep(s, rootfd, "missing", "/etc/missing", NULL, &err);
	tap_is_int(rc, CG_ERR, "keep: a missing file refused");
	tap_has_str(err.msg, "/etc/missing", "keep: missing file named");

	/* A damaged index line is skipped, the rest still read. */
	idx = cg_xasprintf("%s/state/backups/index", base);
	fd = open(idx, O_WRONLY | O_APPEND);
	free(idx);
	tap_ok(fd >= 0 && cg_write_all(fd, "garbage line\n1 f 0644\n", 22) == 0,
	       "index: damaged lines appended");
	if (fd >= 0)
		close(fd);
	rc = cg_store_list(s, "/etc/motd", &v, &n, &err);
	tap_ok(rc == 0 && n == 2, "index: damaged lines skipped");
	cg_backups_free(v, n);
}

/* Holes stay holes; over the bound, the hash only, and it is the hash. */
static void test_sparse(struct cg_store *s)
{
	struct cg_backup *v = NULL;
	struct cg_error err;
	struct cg_kept k;
	struct stat st;
	char sum[65], *p;
	size_t n = 0;
	int fd;

	fd = openat(rootfd, "sparse", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	tap_ok(fd >= 0 && pwrite(fd, "head", 4, 0) == 4 &&
		       pwrite(fd, "tail", 4, 256u << 20) == 4 &&
		       ftruncate(fd, (512u << 20)) == 0,
	       "sparse: 512 MiB with 8 bytes of data");
	close(fd);
	sha256sum_hex("root/sparse", sum);
	cg_store_set_max(s, 1u << 30);
	tap_is_int(cg_store_keep(s, rootfd, "sparse", "/srv/sparse", &k, &err),
		   0, "sparse: kept");
	tap_ok(!k.hash_only, "sparse: under the bound: content kept");
	if (sum[0])
		tap_is_str(k.hash, sum, "sparse: the hash covers the holes");
	p = cg_xasprintf("%s/state/backups/objects/%.2s/%s", base, k.hash,
			 k.hash + 2);
	tap_ok(stat(p, &st) == 0 && st.st_size == (512 << 20) &&
		       st.st_blocks < 1024,
	       "sparse: the object is as long, and sparse too");
	free(p);

	cg_store_set_max(s, 1u << 20);
	tap_is_int(cg_store_keep(s, rootfd, "sparse", "/srv/sparse", &k, &err),
		   0, "over the bound: kept");
	tap_ok(k.hash_only, "over the bound: hash only");
	if (sum[0])
		tap_is_str(k.hash, sum, "over the bound: the same hash");
	tap_is_int(cg_store_list(s, "/srv/sparse", &v, &n, &err), 0,
		   "over the bound: listed");
	tap_ok(n == 2 && v[0].type == 'h' && v[1].type == 'f' &&
		       v[0].size == (512u << 20),
	       "over the bound: type h, with its size");
	cg_backups_free(v, n);
	cg_store_set_max(s, (uint64_t)CG_STORE_MAX_MB << 20);
}

int main(void)
{
	struct cg_store *s = NULL;
	struct cg_error err;
	char *p;

	snprintf(base, sizeof(base), "/tmp/cg-test-store.XXXXXX");
	if (!mkdtemp(base)) {
		tap_ok(false, "temp dir");
		return tap_done();
	}
	p = cg_xasprintf("%s/root", base);
	mkdir(p, 0755);
	rootfd = open(p, O_RDONLY | O_DIRECTORY);
	free(p);
	umask(022);

	p = cg_xasprintf("%s/state/backups", base);
	tap_is_int(cg_store_open(&s, p, &err), 0, "store opens");
	free(p);
	test_empty(s);
	test_keep(s);
	test_symlink(s);
	test_paths(s);
	test_refusals(s);
	test_sparse(s);
	cg_store_free(s);
	cg_store_free(NULL);

	close(rootfd);
	p = cg_xasprintf("rm -rf '%s'", base);
	if (system(p) != 0)
		tap_diag("could not remove the temp dir");
	free(p);
	return tap_done();
}
